// A 3D generator's card (generator_card.hpp): its configuration and what
// its JSON says about the training data, torch-free.
#include "microstudio/ml/generator_card.hpp"

#include <algorithm>
#include <cmath>

#include "microstudio/core/error.hpp"
#include "stats.hpp"

namespace ms::ml {

// --- Configuration -------------------------------------------------------------------

int Vae3dConfig::downsampling() const { return firstStride << (int(channels.size()) - 1); }

Dims Vae3dConfig::latentDims() const {
    const int f = downsampling();
    return Dims{dims.nx / f, dims.ny / f, dims.nz / f};
}

long Vae3dConfig::latentSize() const { return long(latentChannels) * long(latentDims().count()); }

void Vae3dConfig::validate() const {
    if (phases != 2 && phases != 3)
        throw Error("the 3D VAE handles 2 or 3 phases (got " + std::to_string(phases) + ")");
    if (channels.empty() || channels.size() > 6) throw Error("the 3D VAE needs 1..6 channel widths");
    for (int c : channels)
        if (c < 1 || c > 4096) throw Error("3D VAE channel widths must be in 1..4096");
    if (latentChannels < 1 || latentChannels > 256) throw Error("3D VAE latent channels must be in 1..256");
    if (firstStride != 1 && firstStride != 2) throw Error("3D VAE first-layer stride must be 1 or 2");
    if (!(klWeight >= 0)) throw Error("3D VAE KL weight must be >= 0");
    if (!(minorityWeight >= 0 && minorityWeight <= 1000)) throw Error("3D VAE minority weight must be in [0, 1000]");
    if (output != "level" && output != "classes")
        throw Error("the 3D VAE output must be level or classes, not '" + output + "'");
    if (!(mixedWeight >= 0 && mixedWeight <= 1000)) throw Error("3D VAE mixed weight must be in [0, 1000]");
    if (mixedWeight > 0 && !(classOutput() && phases == 3))
        throw Error("the 3D VAE's mixed weight applies to the 3-phase class output only");
    if (classOutput() && minorityWeight != 0.0)
        throw Error("the 3D VAE's minority weight applies to the level output only");
    if (!(mixedLow > 0 && mixedLow < mixedHigh && mixedHigh < 1))
        throw Error("the 3-phase mixed band must satisfy 0 < low < high < 1");
    if (!(std::abs(mixedOffset) <= kMaxMixedOffset)) throw Error("the 3D VAE's mixed offset must be in [-20, 20]");
    if (mixedOffset != 0.0 && !(classOutput() && phases == 3))
        throw Error("the 3D VAE's mixed offset applies to the 3-phase class output only");
    const int f = downsampling();
    for (int n : {dims.nx, dims.ny, dims.nz})
        if (n < f || n % f != 0)
            throw Error("3D VAE input " + dims.str() + " must be a multiple of " + std::to_string(f) +
                        " in every direction (the encoder's downsampling)");
}

Json Vae3dConfig::toJson() const {
    Json j = Json::object();
    j["dims"] = Json(std::vector<double>{double(dims.nx), double(dims.ny), double(dims.nz)});
    j["phases"] = phases;
    j["channels"] = Json(std::vector<double>(channels.begin(), channels.end()));
    j["latent_channels"] = latentChannels;
    j["first_stride"] = firstStride;
    j["kl_weight"] = klWeight;
    j["periodic_xy"] = periodicXY;
    j["minority_weight"] = minorityWeight;
    if (phases == 3) j["mixed_band"] = Json(std::vector<double>{mixedLow, mixedHigh});
    if (classOutput()) j["output"] = output;  // absent: level (models before the option)
    if (mixedWeight > 0) j["mixed_weight"] = mixedWeight;
    if (classOutput() && phases == 3) j["mixed_offset"] = mixedOffset;
    return j;
}

Vae3dConfig Vae3dConfig::fromJson(const Json& j) {
    Vae3dConfig c;
    if (j.contains("dims")) {
        auto d = numbersAt(j, "dims");
        if (d.size() != 3) throw Error("3D VAE dims must have 3 numbers");
        c.dims = Dims{int(d[0]), int(d[1]), int(d[2])};
    }
    c.phases = int(numberOr(j, "phases", c.phases));
    if (j.contains("channels")) {
        c.channels.clear();
        for (double v : numbersAt(j, "channels")) c.channels.push_back(int(v));
    }
    c.latentChannels = int(numberOr(j, "latent_channels", c.latentChannels));
    c.firstStride = int(numberOr(j, "first_stride", c.firstStride));
    c.klWeight = numberOr(j, "kl_weight", c.klWeight);
    if (j.contains("periodic_xy")) c.periodicXY = boolAt(j, "periodic_xy");  // absent: models before the option
    c.minorityWeight = numberOr(j, "minority_weight", 0.0);
    c.output = stringOr(j, "output", "level");
    c.mixedWeight = numberOr(j, "mixed_weight", 0.0);
    c.mixedOffset = numberOr(j, "mixed_offset", 0.0);  // absent: the plain argmax
    if (j.contains("mixed_band")) {                    // absent: 3-phase models before the choice (0.25, 0.75)
        const auto band = numbersAt(j, "mixed_band");
        if (band.size() != 2) throw Error("3D VAE mixed_band must have 2 numbers");
        c.mixedLow = band[0];
        c.mixedHigh = band[1];
    }
    c.validate();
    return c;
}

namespace {
void checkSymmetryVariants(const char* stage, int variants, const Dims& dims) {
    if (variants < 1 || variants > 8)
        throw Error(std::string("the ") + stage + " augmentation must be 1 to 8 symmetry variants, not " +
                    std::to_string(variants));
    if (variants > 4 && dims.nx != dims.ny)
        throw Error(std::string("more than 4 ") + stage +
                    " augmentation variants need a square cross-section (x <-> y swap); the volume is " + dims.str());
}
}  // namespace

void Generator3dConfig::validate() const {
    vae.validate();
    if (outputs.empty()) throw Error("the generator needs feature-predictor outputs");
    if (conditions.empty()) throw Error("the generator needs at least one condition");
    for (const auto& c : conditions)
        if (std::find(outputs.begin(), outputs.end(), c) == outputs.end())
            throw Error("condition '" + c + "' is not a feature-predictor output");
    for (std::size_t i = 0; i < outputs.size(); ++i)
        for (std::size_t k = i + 1; k < outputs.size(); ++k)
            if (outputs[i] == outputs[k]) throw Error("output '" + outputs[i] + "' is listed twice");
    const Dims l = vae.latentDims();
    for (int n : {l.nx, l.ny, l.nz})
        if (n < 4 || n % 4 != 0)
            throw Error("the latent grid " + l.str() +
                        " must be a multiple of 4 in every direction (two U-Net levels)");
    if (vae.latentSize() < 4) throw Error("latent too small for the feature predictor");
    if (!(dropout >= 0 && dropout < 1)) throw Error("dropout must be in [0, 1)");
    if (unetFeatures < 8 || unetFeatures % 8 != 0) throw Error("U-Net features must be a positive multiple of 8");
    if (unetConditioning != "add" && unetConditioning != "scale-shift")
        throw Error("the U-Net conditioning must be add or scale-shift, not '" + unetConditioning + "'");
    if (timesteps < 2 || timesteps > 100000) throw Error("timesteps must be in 2..100000");
    if (!(betaStart > 0 && betaStart <= betaEnd && betaEnd < 1)) throw Error("betas must satisfy 0 < start <= end < 1");
    if (!(conditionDropout >= 0 && conditionDropout < 1)) throw Error("condition dropout must be in [0, 1)");
    if (!(guidance >= 0 && guidance <= 100)) throw Error("the sampling guidance must be in [0, 100]");
    if (diffusionContext != "features" && diffusionContext != "data")
        throw Error("the diffusion context must be 'features' or 'data', not '" + diffusionContext + "'");
    if (prediction != "eps" && prediction != "v")
        throw Error("the diffusion prediction must be eps or v, not '" + prediction + "'");
    if (featureHead != "mlp" && featureHead != "conv" && featureHead != "conv-fractions")
        throw Error("the feature predictor head must be mlp, conv or conv-fractions, not '" + featureHead + "'");
    checkSymmetryVariants("diffusion", diffusionAugment, vae.dims);
    checkSymmetryVariants("feature", featureAugment, vae.dims);
}

Json Generator3dConfig::toJson() const {
    Json j = Json::object();
    j["vae"] = vae.toJson();
    j["outputs"] = Json(outputs);
    j["conditions"] = Json(conditions);
    j["dropout"] = dropout;
    j["feature_head"] = featureHead;
    j["feature_augment"] = featureAugment;
    j["unet_features"] = unetFeatures;
    j["unet_conditioning"] = unetConditioning;
    j["timesteps"] = timesteps;
    j["beta_start"] = betaStart;
    j["beta_end"] = betaEnd;
    j["condition_dropout"] = conditionDropout;
    j["guidance"] = guidance;
    j["diffusion_context"] = diffusionContext;
    j["prediction"] = prediction;
    j["vae_augment"] = vaeAugment;
    j["diffusion_augment"] = diffusionAugment;
    return j;
}

Generator3dConfig Generator3dConfig::fromJson(const Json& j) {
    Generator3dConfig c;
    if (j.contains("vae")) c.vae = Vae3dConfig::fromJson(memberAt(j, "vae"));
    if (j.contains("outputs")) c.outputs = stringsAt(j, "outputs");
    if (j.contains("conditions")) c.conditions = stringsAt(j, "conditions");
    c.dropout = numberOr(j, "dropout", c.dropout);
    c.featureHead = stringOr(j, "feature_head", "mlp");  // models from before the conv head
    c.featureAugment = int(numberOr(j, "feature_augment", 1));
    c.unetFeatures = int(numberOr(j, "unet_features", c.unetFeatures));
    c.unetConditioning = stringOr(j, "unet_conditioning", "add");  // models from before scale-shift
    c.timesteps = int(numberOr(j, "timesteps", c.timesteps));
    c.betaStart = numberOr(j, "beta_start", c.betaStart);
    c.betaEnd = numberOr(j, "beta_end", c.betaEnd);
    c.conditionDropout = numberOr(j, "condition_dropout", c.conditionDropout);
    c.guidance = numberOr(j, "guidance", 1.0);  // models from before the recorded choice
    c.diffusionContext = stringOr(j, "diffusion_context", c.diffusionContext);
    c.prediction = stringOr(j, "prediction", "eps");  // models from before v prediction
    if (j.contains("vae_augment")) c.vaeAugment = boolAt(j, "vae_augment");
    c.diffusionAugment = int(numberOr(j, "diffusion_augment", 1));
    c.validate();
    return c;
}

std::vector<std::string> twoPhaseConditions() { return {"ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1"}; }
std::vector<std::string> threePhaseConditions() { return {"vol_frac_D", "vol_frac_M", "tortuosity_D", "tortuosity_A"}; }
std::vector<std::string> processingOutputs() { return {"phi", "chi", "log_time"}; }

namespace {
std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
}  // namespace

Generator3dConfig Generator3dConfig::paperTwoPhase() {
    Generator3dConfig c;
    c.vae.phases = 2;
    c.conditions = twoPhaseConditions();
    c.outputs = concat(c.conditions, processingOutputs());
    return c;
}

Generator3dConfig Generator3dConfig::paperThreePhase() {
    Generator3dConfig c;
    c.vae.phases = 3;
    c.conditions = threePhaseConditions();
    c.outputs = concat(c.conditions, processingOutputs());  // 7 outputs: Table 1's FP size
    return c;
}

Generator3dConfig Generator3dConfig::tiny(int phases) {
    Generator3dConfig c = phases == 3 ? paperThreePhase() : paperTwoPhase();
    c.vae.dims = Dims{16, 16, 8};
    c.vae.channels = {4, 8};
    c.vae.latentChannels = 2;
    c.vae.firstStride = 1;  // 16x16x8 -> latent 2x8x8x4
    c.unetFeatures = 8;
    return c;
}

std::string largeVolumeMethodName(LargeVolumeMethod method) {
    return method == LargeVolumeMethod::Whole ? "whole" : "windows";
}

LargeVolumeMethod parseLargeVolumeMethod(const std::string& name) {
    if (name == "windows") return LargeVolumeMethod::Windows;
    if (name == "whole") return LargeVolumeMethod::Whole;
    throw Error("large-volume method must be windows or whole, not '" + name + "'");
}

// --- Card -----------------------------------------------------------------------------

namespace {
std::vector<FeatureRange> defaultRanges(const std::vector<std::string>& outputs) {
    std::vector<FeatureRange> ranges;
    for (const auto& name : outputs) ranges.push_back(FeatureRange{name, -1.0, 1.0, 0.0, 1.0});
    return ranges;
}

std::filesystem::path weightsFileOf(const std::filesystem::path& p) {
    if (std::filesystem::is_directory(p)) return p / "generator3d.pt";
    if (p.extension() == ".json") return std::filesystem::path(p).replace_extension(".pt");
    return p;
}
}  // namespace

GeneratorCard::GeneratorCard(const Generator3dConfig& config) { setConfig(config); }

void GeneratorCard::setConfig(const Generator3dConfig& config) {
    config.validate();
    if (config.outputs != config_.outputs || ranges_.size() != config.outputs.size())
        ranges_ = defaultRanges(config.outputs);
    if (config.conditions != config_.conditions) cloud_ = {};
    config_ = config;
    conditionIndex_.clear();
    for (const auto& name : config_.conditions)
        conditionIndex_.push_back(
            long(std::find(config_.outputs.begin(), config_.outputs.end(), name) - config_.outputs.begin()));
}

std::filesystem::path GeneratorCard::locateWeights(const std::filesystem::path& folderOrFile) {
    std::filesystem::path weights = weightsFileOf(folderOrFile);
    if (!std::filesystem::exists(weights) && !folderOrFile.has_parent_path())
        for (const auto& folder : modelSearchPath())  // the shipped layout: NAME/generator3d.pt
            if (std::filesystem::exists(folder / folderOrFile / "generator3d.pt"))
                return folder / folderOrFile / "generator3d.pt";
    if (!std::filesystem::exists(weights)) weights = findModel(folderOrFile.string());
    return weights;
}

GeneratorCard GeneratorCard::read(const std::filesystem::path& folderOrFile) {
    const std::filesystem::path weights = locateWeights(folderOrFile);
    ModelMetadata metadata = readMetadata(weights, "generator3d", "3D generator");
    GeneratorCard card(Generator3dConfig::fromJson(metadata.architecture));
    const auto& outputs = card.config_.outputs;
    const Json& arch = metadata.architecture;
    if (arch.contains("feature_min") && arch.contains("feature_max")) {
        const auto lo = numbersAt(arch, "feature_min"), hi = numbersAt(arch, "feature_max");
        if (lo.size() != outputs.size() || hi.size() != outputs.size() ||
            metadata.attributeMean.size() != outputs.size() || metadata.attributeStd.size() != outputs.size())
            throw Error(weights.string() + ": feature ranges do not match the outputs");
        for (std::size_t k = 0; k < outputs.size(); ++k)
            card.ranges_[k] =
                FeatureRange{outputs[k], lo[k], hi[k], metadata.attributeMean[k], metadata.attributeStd[k]};
    }
    if (arch.contains("training_conditions"))
        card.cloud_ = ConditionCloud::fromJson(memberAt(arch, "training_conditions"));
    card.metadata_ = std::move(metadata);
    card.weights_ = weights;
    return card;
}

std::vector<FeatureRange> GeneratorCard::conditionRanges() const {
    std::vector<FeatureRange> out;
    for (long k : conditionIndex_) out.push_back(ranges_[std::size_t(k)]);
    return out;
}

void GeneratorCard::setFeatureRanges(const std::vector<FeatureRange>& ranges) {
    if (ranges.size() != config_.outputs.size())
        throw Error("need one feature range per output (" + std::to_string(config_.outputs.size()) + ")");
    for (std::size_t k = 0; k < ranges.size(); ++k) {
        if (ranges[k].name != config_.outputs[k])
            throw Error("feature range " + std::to_string(k) + " is '" + ranges[k].name + "', expected '" +
                        config_.outputs[k] + "'");
        if (!(ranges[k].std > 0)) throw Error("feature range '" + ranges[k].name + "' needs std > 0");
    }
    ranges_ = ranges;
}

void GeneratorCard::setTrainingData(const std::vector<Volume>& volumes) {
    const auto& outputs = config_.outputs;
    auto ranges = ranges_;
    for (std::size_t k = 0; k < outputs.size(); ++k) {
        std::vector<double> values;
        for (const auto& v : volumes)
            if (auto it = v.attributes.find(outputs[k]); it != v.attributes.end() && std::isfinite(it->second))
                values.push_back(it->second);
        if (values.empty()) continue;
        std::vector<std::vector<double>> column;
        for (double x : values) column.push_back({x});
        std::vector<double> mean, stdev;
        detail::columnStats(column, 1, mean, stdev);
        const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
        ranges[k] = FeatureRange{outputs[k], *lo, *hi, mean[0], stdev[0]};
    }
    setFeatureRanges(ranges);
    std::vector<std::vector<double>> rows;
    for (const auto& v : volumes) {
        std::vector<double> row;
        for (const auto& name : config_.conditions)
            if (auto it = v.attributes.find(name); it != v.attributes.end()) row.push_back(it->second);
        if (row.size() != config_.conditions.size()) return;  // not every condition: no cloud
        rows.push_back(std::move(row));
    }
    if (!rows.empty()) cloud_ = ConditionCloud::fromSamples(config_.conditions, rows);
}

void GeneratorCard::setTrainingDataOnce(const std::vector<Volume>& volumes) {
    const auto keptRanges = ranges_;
    auto keptCloud = cloud_;
    const auto defaults = defaultRanges(config_.outputs);
    setTrainingData(volumes);
    for (std::size_t k = 0; k < ranges_.size(); ++k) {
        const FeatureRange &kept = keptRanges[k], &unset = defaults[k];
        if (kept.min != unset.min || kept.max != unset.max || kept.mean != unset.mean || kept.std != unset.std)
            ranges_[k] = kept;
    }
    if (!keptCloud.empty()) cloud_ = std::move(keptCloud);
}

void GeneratorCard::setTrainingConditions(ConditionCloud cloud) {
    if (!cloud.empty() && cloud.names() != config_.conditions)
        throw Error("training conditions must name the model's conditions in order");
    cloud_ = std::move(cloud);
}

FeasibilityReport GeneratorCard::feasibility(const std::map<std::string, double>& target) const {
    const auto& c = config_.conditions;
    for (const auto& [name, value] : target)
        if (std::find(c.begin(), c.end(), name) == c.end()) throw Error("unknown condition '" + name + "'");
    if (!cloud_.empty()) return cloud_.check(target);
    FeasibilityReport r;
    for (std::size_t j = 0; j < c.size(); ++j) {
        auto it = target.find(c[j]);
        r.target[c[j]] = it != target.end() ? it->second : ranges_[std::size_t(conditionIndex_[j])].mean;
    }
    return r;
}

ModelMetadata GeneratorCard::savedMetadata(const std::filesystem::path& weights, bool half) const {
    ModelMetadata m = metadata_;
    m.kind = "generator3d";
    m.architecture = config_.toJson();
    std::vector<double> lo, hi;
    m.attributes = config_.outputs;
    m.attributeMean.clear();
    m.attributeStd.clear();
    for (const auto& r : ranges_) {
        lo.push_back(r.min);
        hi.push_back(r.max);
        m.attributeMean.push_back(r.mean);
        m.attributeStd.push_back(r.std);
    }
    m.architecture["feature_min"] = Json(lo);
    m.architecture["feature_max"] = Json(hi);
    if (!cloud_.empty()) m.architecture["training_conditions"] = cloud_.toJson();
    m.weightsFile = weights.filename().string();
    m.weightsPrecision = half ? "float16" : "float32";
    if (m.created.empty()) m.created = utcNow();
    return m;
}

std::string defaultHeldOutData(const GeneratorCard& card) {
    const std::filesystem::path shipped = card.weightsPath().parent_path() / kShippedHeldOut;
    std::error_code ec;
    if (!card.weightsPath().empty() && std::filesystem::is_regular_file(shipped, ec)) return shipped.string();
    const auto& training = card.metadata().training;
    return training.is_object() ? stringOr(training, "validation_data", "") : "";
}

double trainingMinPhaseFraction(const GeneratorCard& card) {
    const auto& training = card.metadata().training;
    return training.is_object() ? numberOr(training, "min_phase_fraction", 0.0) : 0.0;
}

}  // namespace ms::ml
