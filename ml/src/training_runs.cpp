#include "microstudio/ml/training_runs.hpp"

#include <algorithm>
#include <chrono>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/ml/metadata.hpp"

namespace fs = std::filesystem;

namespace ms::ml {

namespace {

void writeHistory(const fs::path& path, const TrainReport& report) {
    if (path.empty()) return;
    if (path.has_parent_path()) fs::create_directories(path.parent_path());
    writeTextAtomically(path, report.historyCsv());
}

// Rank 0 writes the history; the model too unless the run stopped at its limit.
template <typename Trained, typename Run>
RunSaved save(Trained& trained, const Run& run) {
    if (trained.report.rank > 0) return RunSaved::NotWriter;
    writeHistory(run.history, trained.report);
    if (trained.report.stoppedAtLimit) return RunSaved::StoppedAtLimit;
    trained.model.save(run.out, run.half);
    return RunSaved::Saved;
}

// A recipe step's options: its checkpoint in outDir/checkpoints, the last
// epoch's weights kept (docs/ml.md), the rest from the settings' base.
TrainOptions recipe2dOptions(const Recipe2dSettings& s, const std::string& name, int epochs, int batch, double rate,
                             long every) {
    TrainOptions t = s.base;
    t.checkpoint = s.outDir / "checkpoints" / (name + ".ckpt");
    t.epochs = epochs;
    t.batchSize = batch;
    t.learningRate = rate;
    t.checkpointEvery = every;
    t.restoreBest = false;
    return t;
}

Recipe2dStep recipe2dVae(const Recipe2dSettings& s, const std::string& name, std::vector<int> channels, int midBlocks,
                         int latentChannels, double beta, bool denoising, int epochs) {
    Vae2dRun run;
    run.data = {s.train, s.validation, s.limit, s.validationLimit};
    run.config.channels = std::move(channels);
    run.config.kernels = paperKernels(run.config.channels.size());
    run.config.midBlocks = midBlocks;
    run.config.latentChannels = latentChannels;
    run.options.train = recipe2dOptions(s, name, epochs, 32, 2e-3, 50);
    run.options.beta = beta;
    run.options.denoising = denoising;
    run.out = s.outDir / (name + ".pt");
    run.history = s.outDir / "checkpoints" / (name + "-history.csv");
    run.half = true;
    return {name, run.out, run, std::nullopt};
}

// The LDMs learn from every image whose rarer phase covers at least 1 %
// (generation targets are two-phase), v prediction, 512 x 4 blocks.
Recipe2dStep recipe2dLdm(const Recipe2dSettings& s, const std::string& name, const fs::path& vae,
                         const std::string& conditions) {
    Ldm2dRun run;
    run.data = {s.train, s.validation, 0, s.validationLimit, 0.01};
    run.plan.vae = vae;
    run.plan.config.prediction = "v";
    run.plan.config.hidden = 512;
    run.plan.config.blocks = 4;
    run.plan.config.conditions = conditionNamesFrom(conditions);
    run.plan.options.train = recipe2dOptions(s, name, s.ldmEpochs, 128, 1e-3, 500);
    run.plan.minPhaseFraction = 0.01;
    run.out = s.outDir / (name + ".pt");
    run.history = s.outDir / "checkpoints" / (name + "-history.csv");
    run.half = true;
    return {name, run.out, std::nullopt, run};
}

std::vector<std::string> splitNames(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        if (comma > start) out.push_back(text.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

}  // namespace

RunSaved saveTrainedRun(TrainedVae2d& trained, const Vae2dRun& run) { return save(trained, run); }

RunSaved saveTrainedRun(TrainedLdm2d& trained, const Ldm2dRun& run) { return save(trained, run); }

Vae2dConfig vae2dConfigFor(Vae2dConfig config, const std::vector<int>& channels, const std::vector<int>& kernels) {
    if (!channels.empty()) config.channels = channels;
    if (!kernels.empty()) config.kernels = kernels;
    else if (config.channels.size() != config.kernels.size()) config.kernels = paperKernels(config.channels.size());
    return config;
}

std::vector<std::string> conditionNamesFrom(const std::string& text) {
    if (text == "none") return {};
    return splitNames(text);
}

// ---- the 2D recipe -----------------------------------------------------------------------

std::vector<Recipe2dStep> recipe2dSteps(const Recipe2dSettings& s) {
    fs::create_directories(s.outDir / "checkpoints");
    // The VAEs train on an evenly spaced subset (limit); the LDMs, whose
    // steps are cheap, on every two-phase image (fewer left their samples
    // farther from the held-out images: S2 error 0.038 with 16,000 vs 0.016).
    // The LDM's validation loss is on unseen (phi, chi) runs and rises from
    // epoch 1 as it learns the training runs; the samples still improve
    // (docs/ml.md), so every step keeps its last epoch.
    const std::string ldmVae = "ldm-vae2d";
    const fs::path ldmVaePath = s.outDir / (ldmVae + ".pt");
    return {recipe2dVae(s, kDefaultDenoiser, {32, 64}, 2, 4, 0.1, true, s.vaeEpochs),
            recipe2dVae(s, ldmVae, {16, 32, 64}, 1, 2, 1.0, false, s.ldmVaeEpochs),
            recipe2dLdm(s, kDefaultLdm2d, ldmVaePath, "vf,phi,chi"),
            recipe2dLdm(s, kDefaultLdm2dUnconditional, ldmVaePath, "none")};
}

bool recipe2dStepDone(const Recipe2dStep& step) { return fs::exists(step.model); }

// ---- one 3D generator --------------------------------------------------------------------

std::string applyRunChoices(Generator3D& model, const Generator3dRun& run) {
    std::string previous;
    if (!run.featureHead.empty() && run.featureHead != model.config().featureHead) {
        previous = model.config().featureHead;
        model.resetFeaturePredictor(run.featureHead);  // forgets the trained stage
    }
    if (run.diffusionAugment > 0) model.setDiffusionAugment(run.diffusionAugment);
    if (!run.unetConditioning.empty()) model.setUnetConditioning(run.unetConditioning);
    const auto& training = model.metadata().training;
    const bool featuresStarted =
        (training.is_object() && training.contains("features")) || fs::exists(run.plan.checkpointPath("features"));
    if (run.featureAugment > 0) model.setFeatureAugment(run.featureAugment);
    else if (run.defaultFeatureAugment > 0 && !featuresStarted) model.setFeatureAugment(run.defaultFeatureAugment);
    return previous;
}

OpenedGenerator3d openGenerator3dRun(const Generator3dRun& run, const TrainingSamples& data) {
    const bool continued = fs::exists(run.plan.modelDir / "generator3d.pt");
    const auto config = run.fitToData ? fitGeneratorToData(run.config, data) : run.config;
    auto model = openGenerator3d(run.plan.modelDir, config, run.seed);
    auto replaced = applyRunChoices(model, run);
    return {std::move(model), continued, std::move(replaced)};
}

Generator3dConfig generator3dPreset(const std::string& preset, int phases) {
    if (phases != 2 && phases != 3) throw Error("--phases must be 2 or 3");
    if (preset == "paper")
        return phases == 3 ? Generator3dConfig::paperThreePhase() : Generator3dConfig::paperTwoPhase();
    if (preset == "tiny") return Generator3dConfig::tiny(phases);
    throw Error("--config must be paper or tiny");
}

std::vector<std::string> outputsForConditions(const std::vector<std::string>& conditions) {
    auto outputs = conditions;
    for (const auto& p : processingOutputs()) outputs.push_back(p);
    return outputs;
}

// ---- the 3D recipe -----------------------------------------------------------------------

const std::vector<Recipe3dStage>& recipe3dStages() {
    static const std::vector<Recipe3dStage> stages = {{"vae", 8, 16, 2e-3, 100, false},
                                                      {"features", 80, 64, 1e-3, 1000, false},
                                                      {"diffusion", 24, 64, 1e-3, 100, true}};
    return stages;
}

std::string recipe3dName(int phases) { return phases == 3 ? "gen3d-ch3" : "gen3d-ch2"; }

Generator3dRun recipe3dRun(const Recipe3dSettings& s) {
    if (s.phases != 2 && s.phases != 3) throw Error("--phases must be 2 or 3");
    Generator3dRun run;
    // The paper's architecture scaled to 64x64x32 volumes and CPU training:
    // the latent keeps the paper's 4 x 8 x 8 x 4 = 1024 values (first stride
    // 2, three levels), the widths are 1/4 (VAE) and 1/8 (U-Net) of the paper's.
    auto& c = run.config;
    c = generator3dPreset("paper", s.phases);
    c.vae.dims = Dims{64, 64, 32};
    c.vae.channels = {16, 32, 64};
    c.vae.firstStride = 2;
    c.vae.latentChannels = s.latentChannels;
    c.vae.minorityWeight = s.minorityWeight;
    c.vae.periodicXY = s.periodicXY;
    c.vae.output = s.vaeOutput;
    c.unetFeatures = 64;
    c.unetConditioning = kRecipe3dUnetConditioning;
    c.diffusionContext = "data";
    c.vaeAugment = true;
    c.featureHead = s.featureHead.empty() ? kRecipe3dFeatureHead : s.featureHead;
    c.featureAugment = s.featureAugment > 0 ? s.featureAugment : kRecipe3dFeatureAugment;
    c.validate();
    run.diffusionAugment = s.diffusionAugment;
    run.featureAugment = s.featureAugment;
    run.defaultFeatureAugment = kRecipe3dFeatureAugment;
    run.featureHead = s.featureHead;
    run.selection = {s.train, s.validation, s.limit, s.validationLimit, kRecipe3dMinPhaseFraction};

    auto& plan = run.plan;
    plan.modelDir = s.outDir.empty() ? fs::path("resources/models") / recipe3dName(s.phases) : s.outDir;
    plan.checkpointDir = plan.modelDir / "checkpoints";
    fs::create_directories(plan.checkpointDir);
    plan.half = true;
    plan.measureDescriptors = false;
    plan.validationData = s.validation;
    plan.minPhaseFraction = kRecipe3dMinPhaseFraction;
    plan.choice = s.choice;
    plan.description = "shipped " + std::to_string(s.phases) +
                       "-phase 3D Cahn-Hilliard generator (MicroGen3D), 64x64x32, `train3d recipe`";
    for (const auto& stage : recipe3dStages()) {
        TrainOptions t = s.base;
        const auto epochs = s.epochs.find(stage.name);
        t.epochs = epochs != s.epochs.end() ? epochs->second : stage.epochs;
        t.batchSize = stage.batch;
        t.learningRate = stage.learningRate;
        t.checkpointEvery = stage.checkpointEvery;
        t.restoreBest = !stage.keepLast;
        plan.options[stage.name] = t;
    }
    return run;
}

// ---- the studio's training wizard ---------------------------------------------------------

namespace {

// Validation: the file, or the last fifth of the training samples; a quarter
// of the training limit.
TrainingSampleSelection studioSelection(const StudioTrainingSettings& s) {
    return {s.train, s.validation, s.limit, s.limit > 0 ? std::max(1L, s.limit / 4) : 0, 0.0, true};
}

TrainOptions studioTrainOptions(const StudioTrainingSettings& s, const std::string& stage) {
    TrainOptions o;
    o.epochs = s.epochs;
    o.batchSize = s.batch;
    o.learningRate = s.learningRate;
    o.seed = s.seed;
    o.threads = s.threads;
    o.checkpoint = studioCheckpointPath(s.checkpointDir, s.name, stage);
    o.checkpointEvery = 50;  // and at every epoch end, and on cancel
    o.resume = true;         // a fresh run has no checkpoint left
    return o;
}

}  // namespace

Vae2dRun studioVae2dRun(const StudioTrainingSettings& s) {
    Vae2dRun run;
    run.data = studioSelection(s);
    Vae2dConfig config;
    config.latent = s.latent;
    config.hidden = s.hidden;
    run.config = vae2dConfigFor(config, s.channels, {});
    run.options.train = studioTrainOptions(s, "vae");
    run.options.beta = s.beta;
    run.options.denoising = true;
    run.out = studioModelPath(StudioTrainingKind::Vae2d, s);
    return run;
}

Ldm2dRun studioLdm2dRun(const StudioTrainingSettings& s) {
    Ldm2dRun run;
    run.data = studioSelection(s);
    run.plan.vae = s.vae;
    run.plan.config.hidden = s.ldmHidden;
    run.plan.config.blocks = s.ldmBlocks;
    run.plan.config.steps = s.diffusionSteps;
    run.plan.config.conditions = conditionNamesFrom(s.conditions);
    run.plan.options.train = studioTrainOptions(s, "ldm");
    run.out = studioModelPath(StudioTrainingKind::Ldm2d, s);
    return run;
}

// The paper's rates are for long runs; these small runs use the chosen one for all stages.
Generator3dRun studioGenerator3dRun(const StudioTrainingSettings& s) {
    Generator3dRun run;
    run.config.vae.channels = s.channels3d;
    run.config.vae.latentChannels = s.latentChannels;
    run.config.unetFeatures = s.unetFeatures;
    run.fitToData = true;
    run.seed = s.seed;
    run.selection = studioSelection(s);
    auto& plan = run.plan;
    plan.modelDir = studioModelPath(StudioTrainingKind::Generator3d, s);
    plan.checkpointDir = s.checkpointDir;
    plan.checkpointPrefix = s.name + "-";
    plan.validationData = s.validation;
    if (s.validation.empty()) plan.validatedOn = "the last fifth of the training samples (" + s.train.string() + ")";
    for (const auto& stage : generator3dStages()) plan.options[stage] = studioTrainOptions(s, stage);
    return run;
}

// ---- the studio's training, run by the ML worker -------------------------------------

namespace {

// Hands a stage's steps and epochs to the studio's events, with the ETA
// from the step times (the pauses between steps left out).
class StudioStageRelay {
public:
    StudioStageRelay(const StudioTrainingEvents& events, ProgressToken& token, int stages)
        : events_(events), token_(token), stages_(stages) {}

    void prepare(int index, const std::string& name, TrainOptions& o) {
        token_.throwIfCancelled();
        o.progress = &token_;
        if (events_.stage) events_.stage(index, stages_, name);
        lastReturn_ = Clock::now();
        stepSeconds_ = 0.0;
        timedSteps_ = 0;
        const int epochs = o.epochs;
        o.onProgress = [this, epochs](const TrainProgress& p) { step(p, epochs); };
        o.onEpoch = [this](const EpochRecord& r) {
            if (events_.epoch) events_.epoch(r);
        };
    }

private:
    using Clock = std::chrono::steady_clock;

    void step(const TrainProgress& p, int epochs) {
        stepSeconds_ += std::chrono::duration<double>(Clock::now() - lastReturn_).count();
        ++timedSteps_;
        const long perEpoch = std::max(1L, p.totalSteps / std::max(1, p.epochs));
        StudioStep s;
        s.epoch = p.epoch;
        s.epochs = epochs;
        s.step = p.step;
        s.totalSteps = perEpoch * epochs;
        s.trainLoss = p.trainLoss;
        s.etaSeconds = stepSeconds_ / double(timedSteps_) * double(std::max(0L, s.totalSteps - p.step));
        const long every = std::max(1L, s.totalSteps / 400);  // a few hundred points per curve at most
        s.curvePoint = p.step % every == 0 || p.step % perEpoch == 0;
        if (events_.step) events_.step(s);
        if (events_.waitWhilePaused) events_.waitWhilePaused();
        lastReturn_ = Clock::now();
    }

    const StudioTrainingEvents& events_;
    ProgressToken& token_;
    int stages_;
    Clock::time_point lastReturn_;
    double stepSeconds_ = 0.0;
    long timedSteps_ = 0;
};

void status(const StudioTrainingEvents& events, const std::string& message) {
    if (events.status) events.status(message);
}

// The training data read with its progress on the status line ("reading
// train.h5: 3840 of 8400 samples"); Cancel reaches the read.
template <typename Load>
TrainingSamples loadWithStatus(const StudioTrainingEvents& events, ProgressToken& token, Load&& load) {
    struct Quiet {  // the token's listener is the read's only
        ProgressToken& token;
        ~Quiet() { token.setListener({}); }
    } quiet{token};
    token.setListener([&events](double, const std::string& message) { status(events, message); });
    return load(&token);
}

}  // namespace

fs::path runStudioTraining(StudioTrainingKind kind, const StudioTrainingSettings& s, bool resume,
                           const StudioTrainingEvents& events, ProgressToken& token) {
    if (s.name.empty() || s.outDir.empty() || s.checkpointDir.empty())
        throw Error("a model name, an output and a checkpoint folder are needed");
    fs::create_directories(s.outDir);
    fs::create_directories(s.checkpointDir);
    const auto stages = studioStages(kind);
    if (!resume) {
        for (const auto& stage : stages) fs::remove(studioCheckpointPath(s.checkpointDir, s.name, stage));
        if (kind == StudioTrainingKind::Generator3d) fs::remove_all(studioModelPath(kind, s));
    }
    StudioStageRelay relay(events, token, int(stages.size()));
    status(events, "loading data");
    if (kind == StudioTrainingKind::Vae2d) {
        auto run = studioVae2dRun(s);
        const auto data =
            loadWithStatus(events, token, [&](ProgressToken* t) { return loadTrainingImages(run.data, t); });
        relay.prepare(0, "vae", run.options.train);
        auto trained = trainNewVae2d(data, run.config, run.options);
        saveTrainedRun(trained, run);
    } else if (kind == StudioTrainingKind::Ldm2d) {
        auto run = studioLdm2dRun(s);
        const auto data =
            loadWithStatus(events, token, [&](ProgressToken* t) { return loadTrainingImages(run.data, t); });
        run.plan.status = events.status;
        relay.prepare(0, "ldm", run.plan.options.train);
        auto trained = trainNewLdm2d(data, run.plan);
        saveTrainedRun(trained, run);
    } else {
        auto run = studioGenerator3dRun(s);
        // Cancel reaches the descriptors measured before a stage starts, too.
        for (auto& stage : run.plan.options) stage.second.progress = &token;
        auto data =
            loadWithStatus(events, token, [&](ProgressToken* t) { return loadTrainingSamples(run.selection, t); });
        auto opened = openGenerator3dRun(run, data);
        Generator3dStageEvents stageEvents;
        stageEvents.starting = [&relay](const std::string& stage, int index, TrainOptions& o) {
            relay.prepare(index, stage, o);
        };
        trainGenerator3d(opened.model, data, run.plan, stageEvents);
    }
    // Finished: the checkpoints have served.
    for (const auto& stage : stages) fs::remove(studioCheckpointPath(s.checkpointDir, s.name, stage));
    return studioModelPath(kind, s);
}

}  // namespace ms::ml
