#include "microstudio/ml/train3d.hpp"

#include <algorithm>

#include "microstudio/core/error.hpp"
#include "microstudio/ml/splits.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif

namespace fs = std::filesystem;

namespace ms::ml {

namespace {

// Which split chose what (docs/ml3d.md): the trainings read the train split
// only, every choice is made on validation, test is read only by `evaluate`.
void recordPlan(Generator3D& model, const Generator3dTrainingPlan& plan) {
    auto& m = model.metadata();
    Json& training = m.training;
    if (!training.is_object()) training = Json::object();
    if (!plan.validationData.empty()) training["validation_data"] = fs::absolute(plan.validationData).string();
    training["min_phase_fraction"] = plan.minPhaseFraction;
    Json& choices = training["choices"];
    choices["trained_on"] = "the train split (test-split samples are refused)";
    choices["weights_kept"] = "per stage, in its weights_kept";
    choices["validated_on"] = !plan.validatedOn.empty() ? plan.validatedOn
                              : plan.validationData.empty()
                                  ? std::string("none")
                                  : "the validation split (" + plan.validationData.string() + ")";
    choices["test_split"] = "read only by `evaluate`, to report";
    if (!plan.choice.empty()) choices["recipe"] = plan.choice;
    if (!plan.description.empty()) m.description = plan.description;
    else if (m.description.empty())
        m.description = "3D generator trained on " + model.config().vae.dims.str() + " volumes";
}

TrainOptions stageOptions(const Generator3dTrainingPlan& plan, const std::string& stage) {
    const auto it = plan.options.find(stage);
    TrainOptions o;
    if (it != plan.options.end()) o = it->second;
    else o.learningRate = paperLearningRate(stage);
    o.checkpoint = plan.checkpointPath(stage);
    return o;
}

TrainReport trainStage(Generator3D& model, const std::string& stage, const TrainingSamples& data,
                       const TrainOptions& o) {
    if (stage == "vae") return trainGenerator3dVae(model, data.train, data.validation, o);
    if (stage == "features") return trainGenerator3dFeatures(model, data.train, data.validation, o);
    return trainGenerator3dDiffusion(model, data.train, data.validation, o);
}

}  // namespace

const std::vector<std::string>& generator3dStages() {
    static const std::vector<std::string> stages = {"vae", "features", "diffusion"};
    return stages;
}

double paperLearningRate(const std::string& stage) { return stage == "diffusion" ? 1e-6 : 5e-5; }

Generator3dConfig fitGeneratorToData(Generator3dConfig c, const TrainingSamples& data) {
    if (data.train.empty()) throw Error("no training samples to fit the generator to");
    // Not "carries vol_frac_M": the descriptors give it for 2-phase samples too (0).
    const auto threeWay = [](const Volume& v) {
        const auto low = v.attributes.find("threshold_low"), high = v.attributes.find("threshold_high");
        return v.phaseCount() == 3 ||
               (low != v.attributes.end() && high != v.attributes.end() && low->second < high->second);
    };
    const int phases = std::any_of(data.train.begin(), data.train.end(), threeWay) ? 3 : 2;
    const auto channels = c.vae.channels;
    const int latentChannels = c.vae.latentChannels, features = c.unetFeatures;
    c = Generator3dConfig::tiny(phases);
    c.vae.channels = channels;
    c.vae.latentChannels = latentChannels;
    c.unetFeatures = features;
    const Dims dims = data.train.front().dims();
    c.vae.dims = dims;
    c.vae.firstStride = 2;
    const int d = c.vae.downsampling() * 4;
    if (dims.nx % d || dims.ny % d || dims.nz % d) c.vae.firstStride = 1;
    c.conditions = phases == 3 ? threePhaseConditions() : twoPhaseConditions();
    c.outputs = c.conditions;
    const auto allCarry = [](const std::vector<Volume>& set, const std::string& name) {
        return std::all_of(set.begin(), set.end(), [&](const Volume& v) { return v.attributes.count(name) > 0; });
    };
    for (const auto& p : processingOutputs())
        if (allCarry(data.train, p) && allCarry(data.validation, p)) c.outputs.push_back(p);
    c.validate();
    return c;
}

void completeDescriptors(std::vector<Volume>& samples, const std::vector<std::string>& outputs, bool measure,
                         const std::string& hint, ProgressToken* progress) {
    for (std::size_t i = 0; i < samples.size(); ++i) {
        if (progress) progress->throwIfCancelled();
        auto lacks = [&] {
            return std::find_if(outputs.begin(), outputs.end(),
                                [&](const std::string& n) { return !samples[i].attributes.count(n); });
        };
        auto missing = lacks();
        if (missing == outputs.end()) continue;
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
        if (measure) {
            descriptors::storeAsAttributes(descriptors::describe(samples[i]), samples[i]);
            missing = lacks();
            if (missing == outputs.end()) continue;
        }
#else
        (void)measure;
#endif
        throw Error("sample " + std::to_string(i) + " lacks attribute '" + *missing + "'" + hint);
    }
}

fs::path Generator3dTrainingPlan::checkpointPath(const std::string& stage) const {
    return (checkpointDir.empty() ? modelDir : checkpointDir) / (checkpointPrefix + stage + ".ckpt");
}

Generator3D openGenerator3d(const fs::path& modelDir, const Generator3dConfig& config, std::uint64_t seed) {
    if (fs::exists(modelDir / "generator3d.pt")) return Generator3D::load(modelDir);
    auto model = Generator3D::create(config, seed);
    model.metadata().name = modelDir.filename().string();
    return model;
}

bool generator3dStageFinished(const Generator3D& model, const Generator3dTrainingPlan& plan, const std::string& stage) {
    const auto& training = model.metadata().training;
    return training.is_object() && training.contains(stage) && !fs::exists(plan.checkpointPath(stage));
}

Generator3dTrainingResult trainGenerator3d(Generator3D& model, TrainingSamples& data,
                                           const Generator3dTrainingPlan& plan, const Generator3dStageEvents& events) {
    const auto& stages = generator3dStages();
    if (plan.only != "all" && std::find(stages.begin(), stages.end(), plan.only) == stages.end())
        throw Error("the stage must be vae, features, diffusion or all, not '" + plan.only + "'");
    if (plan.restartDiffusion && plan.only != "diffusion")
        throw Error("restarting the DDPM goes with the diffusion stage only");
    if (plan.modelDir.empty()) throw Error("no model folder given");
    fs::create_directories(plan.modelDir);
    fs::create_directories(plan.checkpointPath("vae").parent_path());
    recordPlan(model, plan);

    Generator3dTrainingResult result;
    bool described = false;
    for (std::size_t index = 0; index < stages.size() && !result.stoppedAtLimit; ++index) {
        const std::string& stage = stages[index];
        if (!plan.wants(stage)) continue;
        if (plan.only == "all" && generator3dStageFinished(model, plan, stage)) {
            if (events.skipped) events.skipped(stage);
            continue;
        }
        TrainOptions options = stageOptions(plan, stage);
        if (stage != "vae" && !described) {
            // The VAE needs no attributes; the later stages need every output.
            const std::string hint = plan.measureDescriptors ? "" : " (measuring missing descriptors is off)";
            completeDescriptors(data.train, model.config().outputs, plan.measureDescriptors, hint, options.progress);
            completeDescriptors(data.validation, model.config().outputs, plan.measureDescriptors, hint,
                                options.progress);
            described = true;
        }
        // A checkpoint, when there is one, holds the restarted run's own weights.
        if (stage == "diffusion" && plan.restartDiffusion && !fs::exists(options.checkpoint)) model.resetDiffusion(0);
        if (events.starting) events.starting(stage, int(index), options);
        const TrainReport report = trainStage(model, stage, data, options);
        model.metadata().training[stage]["weights_kept"] =
            options.restoreBest ? "the epoch with the lowest validation loss" : "the last epoch";
        if (plan.writer) {
            model.save(plan.modelDir, plan.half);
            if (!report.stoppedAtLimit) fs::remove(options.checkpoint);
        }
        result.stoppedAtLimit = report.stoppedAtLimit;
        result.reports[stage] = report;
        if (events.trained) events.trained(stage, report);
    }
    return result;
}

}  // namespace ms::ml
