#pragma once
// What is known of a 3D generator from its JSON alone, without LibTorch:
// the configuration, the metadata, the training data's feature ranges and
// condition cloud, and what follows from them (condition ranges for the
// sliders, the feasibility check, the held-out data evaluate reads). The
// studio reads a model's card live while the ML worker holds its networks;
// Generator3D (generator3d.hpp) carries a card beside its weights.
//
//   GeneratorCard card = GeneratorCard::read("resources/models/gen3d-ch2");
//   auto report = card.feasibility({{"ABS_f_D", 0.5}});
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/ml/feasibility.hpp"
#include "microstudio/ml/metadata.hpp"

namespace ms::ml {

// The VAE (paper section 4.2.1): per level a 3x3x3 convolution (stride
// `firstStride` for the first, 2 after), instance norm, a residual block;
// then 1x1x1 to `latentChannels`, instance norm, residual block, and 1x1x1
// heads for mu and log-variance. The decoder mirrors it with transposed
// convolutions and ends in a sigmoid. Input: one channel, D = 0, A = 1 and
// (3 phases) M = 0.5, the mixed phase between its parents.
struct Vae3dConfig {
    Dims dims{128, 128, 64};  // input volume (x, y, z)
    int phases = 2;           // 2 or 3
    std::vector<int> channels{64, 128, 256, 512};
    int latentChannels = 4;
    int firstStride = 2;  // 1 or 2 (the paper's CH models: 2)
    double klWeight = 1e-6;
    // Periodic in x and y (the Cahn-Hilliard volumes are): every 3x3x3
    // convolution wraps around in x/y and zero-pads only in z (the electrode
    // axis), so a structure that crosses a side wall is encoded like any other
    // and a circular x/y shift by the downsampling factor shifts the latent by
    // one cell. Same weights and parameter count as the zero-padded network.
    bool periodicXY = false;
    // > 0: reconstruction loss weights the voxels of each sample's minority
    // phase (the rarer of Donor and Acceptor) by 1 + minorityWeight, so small
    // features (specks, thin strands) cost as much as the bulk. 0: plain MSE.
    double minorityWeight = 0.0;
    // 3 phases: the decoder's one channel holds D 0, M 0.5, A 1; a voxel is
    // D below mixedLow, A from mixedHigh, M between. The nearest level (0.25,
    // 0.75) unless chosen on validation (chooseMixedBand3d, evaluate3d.hpp):
    // a decoder that blurs the thin mixed band under-produces M at 0.25/0.75.
    double mixedLow = 0.25, mixedHigh = 0.75;
    // The decoder's output: "level" (the paper's: one channel, sigmoid, MSE
    // to D 0 / M 0.5 / A 1) or "classes" (one channel per phase, softmax,
    // cross-entropy, labels by argmax): with levels, a blur between D and A
    // reads as M and the thin mixed band as D or A; classes keep M its own.
    std::string output = "level";
    bool classOutput() const { return output == "classes"; }
    // Class output with 3 phases: the cross-entropy weighs the mixed class by
    // 1 + mixedWeight (its thin band is the rarest, most often lost class).
    double mixedWeight = 0.0;
    // Class output with 3 phases: a voxel is Mixed when log P(M) + mixedOffset
    // exceeds log max(P(D), P(A)), else the likelier of D and A. 0 is the plain
    // argmax; chosen on validation (chooseMixedOffset3d, evaluate3d.hpp) so a
    // class weight that over- or under-produces M is corrected without retraining.
    double mixedOffset = 0.0;
    static constexpr double kMaxMixedOffset = 20.0;  // |mixedOffset| (P(M) scaled by e^20 at most)

    Phase threePhaseLabel(float decoded) const {
        return decoded < mixedLow ? Donor : (decoded >= mixedHigh ? Acceptor : Mixed);
    }
    // Class output, 3 phases: Mixed when the margin log P(M) - log max(P(D),
    // P(A)) plus mixedOffset is positive, else `parent` (the likelier of D and A).
    Phase mixedLabel(float margin, Phase parent) const { return margin + float(mixedOffset) > 0.0f ? Mixed : parent; }
    int downsampling() const;  // firstStride * 2^(levels-1)
    Dims latentDims() const;   // dims / downsampling()
    long latentSize() const;   // latentChannels * latent voxels
    void validate() const;     // throws ms::Error
    Json toJson() const;
    static Vae3dConfig fromJson(const Json& json);
};

// The whole generator: VAE, feature predictor (the paper's MLP on the
// flattened latent, or a convolutional head: featureHead), a 2-level
// context U-Net on the latent grid and the diffusion schedule.
struct Generator3dConfig {
    Vae3dConfig vae;
    // Feature-predictor outputs, in order; `conditions` is the subset (in
    // its own order) that conditions the diffusion model.
    std::vector<std::string> outputs;
    std::vector<std::string> conditions;
    double dropout = 0.1;
    // Feature predictor: "mlp", the paper's (two hidden layers halving the
    // flattened latent's width, instance norm, dropout), or "conv", two
    // convolutions averaged over the latent grid and a small MLP: the same
    // answer wherever a structure sits, so it cannot memorise training runs
    // by their layout (docs/ml3d.md, measured on validation); or
    // "conv-fractions", the conv head reading the volume's phase fractions
    // (Donor; Mixed with 3 phases) beside the latent: measured exactly on
    // any volume, they carry most of the blend ratio phi.
    std::string featureHead = "mlp";
    // Feature-predictor training on this many of the 8 x/y symmetries of
    // each training volume, each encoded (as diffusionAugment). 1 = as is.
    int featureAugment = 1;
    int unetFeatures = 512;  // n_feat of the U-Net
    // How time and condition reach the U-Net: "add", the paper's (embeddings
    // added at the two decoder levels, before convolutions whose instance
    // norms remove most of them), or "scale-shift": also a scale and shift
    // of every residual block's normalised features from one embedding of
    // time and condition (ml/src/ddpm3d.hpp; docs/ml3d.md).
    std::string unetConditioning = "add";
    int timesteps = 1000;
    double betaStart = 1e-4, betaEnd = 0.02;  // linear schedule
    double conditionDropout = 0.1;            // classifier-free guidance training
    // The guidance scale plain sampling uses unless told otherwise (generate,
    // evaluate, the Design tab): chosen on validation by chooseGuidance3d
    // (evaluate3d.hpp) and recorded in training.choices. 1 = conditional.
    double guidance = 1.0;
    // What conditions the DDPM while it trains: "features", the feature
    // predictor's outputs on each latent (the paper), or "data", the training
    // volumes' own descriptor attributes (exact labels: one error source less
    // between target and measured descriptors). Sampling is the same for both.
    std::string diffusionContext = "features";
    // What the U-Net predicts: "eps" (the noise, as in the paper) or "v" =
    // sqrt(abar) eps - sqrt(1 - abar) x0. With eps the loss barely weighs
    // the high-noise steps where global descriptors such as the volume
    // fraction are decided, so the condition is learnt weakly (docs/ml.md).
    std::string prediction = "v";
    // VAE training on random symmetries of each periodic volume (circular
    // shifts in x, y, z; mirrors in x and y; x <-> y swap when square):
    // with few independent simulation runs the VAE otherwise memorises them.
    bool vaeAugment = false;
    // DDPM training on this many of the 8 x/y symmetries of each training
    // volume (identity, x mirror, y mirror, both, then the x <-> y swap of
    // each; more than 4 needs a square cross-section), each encoded by the
    // VAE: the descriptors are invariant (transport runs along z) while the
    // latents differ, so the DDPM sees k times as many distinct latents and
    // memorises the few simulation runs less. 1 = the volumes as they are.
    int diffusionAugment = 1;

    void validate() const;
    Json toJson() const;
    static Generator3dConfig fromJson(const Json& json);

    // The paper's CH models (Table 1): 128x128x64 -> latent 4x8x8x4.
    static Generator3dConfig paperTwoPhase();
    static Generator3dConfig paperThreePhase();
    // A tiny configuration for tests and smoke runs (16x16x8, n_feat 8).
    static Generator3dConfig tiny(int phases = 2);
};

// Condition names of the paper's datasets.
std::vector<std::string> twoPhaseConditions();    // ABS_f_D, CT_f_D_tort1, CT_f_A_tort1
std::vector<std::string> threePhaseConditions();  // vol_frac_D, vol_frac_M, tortuosity_D, tortuosity_A
std::vector<std::string> processingOutputs();     // phi, chi, log_time

// What the training data spans for one feature-predictor output.
struct FeatureRange {
    std::string name;
    double min = 0.0, max = 0.0, mean = 0.0, std = 1.0;
};

// How generate() denoises a latent larger than the training box in x/y.
enum class LargeVolumeMethod {
    // Overlapping training-size windows, their noise predictions blended
    // every step: the U-Net only ever sees its training size.
    Windows,
    // The fully convolutional U-Net on the whole large latent at once,
    // wrapped periodically by GenerateOptions::wholeMargin cells in x/y
    // and cropped: no window borders, cost proportional to the volume.
    Whole,
};
// "windows" / "whole"; parseLargeVolumeMethod throws ms::Error (one line) on another name.
std::string largeVolumeMethodName(LargeVolumeMethod method);
LargeVolumeMethod parseLargeVolumeMethod(const std::string& name);

class GeneratorCard {
public:
    GeneratorCard() = default;
    // An untrained generator's card: ranges mean 0, std 1, min -1, max 1.
    explicit GeneratorCard(const Generator3dConfig& config);
    // The JSON of a model folder (generator3d.json beside generator3d.pt),
    // either file of it, or a model name in modelSearchPath(): NAME/ (the
    // shipped layout) or NAME.pt. ms::Error (one line) when it is missing,
    // unreadable, not a 3D generator, or its ranges do not fit its outputs.
    static GeneratorCard read(const std::filesystem::path& folderOrFile);
    // The weights file read() resolves folderOrFile to (it may not exist).
    static std::filesystem::path locateWeights(const std::filesystem::path& folderOrFile);

    // The weights file the card belongs to (empty for an unsaved model);
    // its folder holds the model's evaluation.json and held-out subset.
    const std::filesystem::path& weightsPath() const { return weights_; }
    void setWeightsPath(std::filesystem::path weights) { weights_ = std::move(weights); }

    const Generator3dConfig& config() const { return config_; }
    // Validated; the ranges are kept when the outputs stay the same, else
    // reset; the condition cloud is dropped when the conditions change.
    void setConfig(const Generator3dConfig& config);
    ModelMetadata& metadata() { return metadata_; }
    const ModelMetadata& metadata() const { return metadata_; }

    const std::vector<std::string>& conditionNames() const { return config_.conditions; }
    const std::vector<std::string>& outputNames() const { return config_.outputs; }
    // Each condition's position among the outputs.
    const std::vector<long>& conditionIndex() const { return conditionIndex_; }
    // Per output: training-data range and normalisation (GUI sliders).
    const std::vector<FeatureRange>& featureRanges() const { return ranges_; }
    std::vector<FeatureRange> conditionRanges() const;
    void setFeatureRanges(const std::vector<FeatureRange>& ranges);  // one per output, same order
    // Ranges of the outputs the volumes carry as attributes (others keep
    // theirs) and, when every volume carries every condition, the condition
    // cloud for feasibility.
    void setTrainingData(const std::vector<Volume>& volumes);
    // The same, only where nothing is set yet (an output still at its default
    // range, an empty cloud). The first stage that trains on the descriptors
    // (the feature predictor, or a DDPM whose context is the data) fixes the
    // normalisation; later stages and sampling keep the one the trained parts
    // learned under (a DDPM trained first, then a feature stage that
    // renormalised, sampled from targets it never saw: R^2 0.03-0.44).
    void setTrainingDataOnce(const std::vector<Volume>& volumes);

    // The training set's condition vectors (empty for untrained models);
    // JSON architecture.training_conditions.
    const ConditionCloud& trainingConditions() const { return cloud_; }
    void setTrainingConditions(ConditionCloud cloud);
    // Is the target (missing conditions: training mean) within the training
    // data? Nearest-neighbour distance against the 99th percentile of the
    // training set's own; `nearest` proposes the nearest training vector.
    // Unknown condition names throw ms::Error. Cheap: for live GUI warnings.
    FeasibilityReport feasibility(const std::map<std::string, double>& target) const;

    // The metadata written beside weights saved as `weights` (architecture
    // with the ranges and the condition cloud; precision float16 if half).
    ModelMetadata savedMetadata(const std::filesystem::path& weights, bool half) const;

private:
    Generator3dConfig config_;
    ModelMetadata metadata_;
    std::vector<FeatureRange> ranges_;
    std::vector<long> conditionIndex_;
    ConditionCloud cloud_;
    std::filesystem::path weights_;
};

// The test subset shipped in a model's folder.
constexpr const char* kShippedHeldOut = "heldout-test.h5";
// The held-out data evaluate reads by default (CLI and studio): the model
// folder's kShippedHeldOut, else the validation data its training recorded,
// else empty.
std::string defaultHeldOutData(const GeneratorCard& card);
// The model's recorded training filter (training.min_phase_fraction; 0 when absent).
double trainingMinPhaseFraction(const GeneratorCard& card);

}  // namespace ms::ml
