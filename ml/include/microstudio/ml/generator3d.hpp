#pragma once
// MicroGen3D (3D conditional latent diffusion, paper 3d-conditional-ldm):
// a 3D VAE, a feature predictor on its latent and a conditional DDPM on
// the latent grid, behind a torch-free API for jobs/, the CLI and the GUI.
//
//   Generator3D g = Generator3D::load("resources/models/gen3d-ch2");
//   auto volumes = g.generate({{"ABS_f_D", 0.5}}, 4, GenerateOptions{});
//
// Volumes come back with thresholded labels (D = 0, A = 1, M = 2), the raw
// decoder output in Volume::field, and as attributes "predicted_<name>"
// for every feature-predictor output (descriptors and the processing
// parameters phi, chi, log_time) and "target_<name>" for the conditions.
// Layout details and choices: docs/ml3d.md.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/ml/feasibility.hpp"
#include "microstudio/ml/generator_card.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/training.hpp"

namespace ms::ml {

// Wall seconds spent by generate(), summed over its batches (the device is
// synchronised before each clock read).
struct GenerateTiming {
    double denoiseSeconds = 0.0;  // start noise + all sampler steps
    double decodeSeconds = 0.0;   // VAE decode, feature predictor, tensor -> volumes
    double screenSeconds = 0.0;   // describing the candidates (GenerateOptions::candidates > 1)
};

struct GenerateOptions {
    // The sampler: "ddim" (steps 0: ancestral DDPM over all T, as before;
    // k: DDIM with k steps), "dpmpp" (DPM-Solver++(2M), Lu et al. 2022:
    // deterministic, second-order multistep; k steps = k network calls, 0 =
    // T; ~16 steps match DDIM-50, docs/ml3d.md) or "ddpm" (ancestral over all
    // T; steps must be 0 or T). Any other name: ms::Error, one line.
    std::string sampler = "ddim";
    int steps = 0;     // 0: ancestral DDPM over all T steps (the paper); k: k solver steps
    double eta = 0.0;  // DDIM noise (0 = deterministic, 1 = DDPM-like); ddim only
    // Ancestral DDPM's per-step variance: beta_t (false; the paper's) or the
    // posterior's beta~_t (true; equals DDIM over all T steps with eta 1).
    bool posteriorVariance = false;
    double guidance = 1.0;   // classifier-free guidance scale (0 = unconditional, 1 = conditional)
    std::uint64_t seed = 0;  // the samples depend on (seed, batch): batch b draws from deriveSeed(seed, b)
    int batch = 8;           // samples denoised together
    // Screened generation: draw this many candidates per requested sample,
    // describe each (GraSPI) and keep the one whose measured conditions lie
    // nearest the target (Euclidean, in units of the training data's std).
    // 1 = every draw is kept (the paper). Costs `candidates` times the time.
    int candidates = 1;
    // With candidates = K > 1 and tolerance > 0: a sample stops drawing once
    // one of its draws lies within this distance (same units), so K is the
    // most drawn; easy targets cost one draw, hard ones up to K. Draws go in
    // rounds over the samples still open, each round filling `batch`.
    double tolerance = 0.0;
    // Volume size; 0 x 0 x 0 = the training size. Larger in x and/or y (z must be
    // the training depth, x and y multiples of the VAE's downsampling): the
    // larger latent is denoised by `largeMethod` (docs/ml3d.md, "Volumes
    // larger than the training box").
    Dims size{0, 0, 0};
    // How a size larger than the training size is denoised (the training
    // size itself is always plain sampling), and for Whole the latent cells
    // wrapped around each x/y side (more on the far side where the U-Net's
    // two poolings need it). The defaults were chosen on validation (least
    // worst descriptor-MAE ratio to the training size at 128x128x32; also the
    // cheapest: docs/ml3d.md, "Volumes larger than the training box").
    LargeVolumeMethod largeMethod = LargeVolumeMethod::Whole;
    int wholeMargin = 0;
    ProgressToken* progress = nullptr;
    GenerateTiming* timing = nullptr;  // when set, generate() adds its seconds
    // When set, called on generate()'s thread with each sample as soon as it
    // is final (its index among the targets, the volume as generate() returns
    // it): per batch in plain sampling, once its last candidate is measured
    // in screened generation. A GUI shows samples while the rest are drawn.
    std::function<void(std::size_t index, const Volume& sample)> onSample;
    // Plain sampling only (candidates = 1), when set: while a batch denoises,
    // every previewEvery steps the sampler's clean-latent estimate x0-hat of
    // that step (from the same network call, no extra one) is decoded and
    // thresholded to labels like a sample, and handed over per sample with
    // its index and the steps done of all (never at the last step: the
    // sample itself follows). The interval grows to ceil(steps / 5) on long
    // runs (at most 4 previews per batch; DDPM-1000: every 200). 0 = none.
    // Previews touch neither the latents nor the RNG: the samples are the
    // same with and without them.
    std::function<void(std::size_t index, const Volume& preview, int step, int steps)> onPreview;
    int previewEvery = 10;
};

// The volume size generate() makes for `requested` (GenerateOptions::size):
// the training size for 0 x 0 x 0, else `requested` after checking it (one-line
// ms::Error: z other than the training depth, x or y below the training size
// or not a multiple of the VAE's downsampling).
Dims generationSize(const Vae3dConfig& vae, const Dims& requested);
// Where the latent windows start along x (alongX) or y of a volume of
// generationSize `size`, in voxels; every start is a window border. Whole:
// {0}, the x/y wrap being the only border.
std::vector<int> windowStarts(const Vae3dConfig& vae, const Dims& size, bool alongX,
                              LargeVolumeMethod method = LargeVolumeMethod::Windows);

// What generate() runs and records as the volumes' `sampler` text for these
// options on a model of T timesteps: "ddim-50", "dpmpp2m-16", "ddpm-1000",
// "ddpm-1000-posterior" (a "ddim" with steps 0 and eta 0 is ancestral DDPM,
// as before). ms::Error (one line) on an unknown sampler name, steps outside
// 0..T, steps other than 0 or T for "ddpm", or eta != 0 off "ddim".
std::string samplerLabel(const GenerateOptions& options, int timesteps);

struct ParameterCounts {
    long vae = 0, encoder = 0, decoder = 0, featurePredictor = 0, unet = 0;
};

class Generator3D {
public:
    ~Generator3D();
    Generator3D(Generator3D&&) noexcept;
    Generator3D& operator=(Generator3D&&) noexcept;

    // An untrained generator (weights seeded); feature ranges default to
    // mean 0, std 1, min -1, max 1 until training or setFeatureRanges.
    static Generator3D create(const Generator3dConfig& config, std::uint64_t seed = 0);
    // Puts the diffusion U-Net back to its initial weights, those of
    // create(config(), seed): retraining the diffusion stage from here is a
    // from-scratch run of that stage on the trained VAE.
    void resetDiffusion(std::uint64_t seed = 0);
    // Generator3dConfig::diffusionAugment for the next diffusion training
    // (a training choice, not architecture; recorded in the model's JSON).
    void setDiffusionAugment(int variants);
    // Generator3dConfig::featureAugment for the next feature training.
    void setFeatureAugment(int variants);
    // Generator3dConfig::unetConditioning "add" -> "scale-shift": the U-Net
    // gains zero-initialised scale-shift layers (it computes what it did
    // until they train), to continue training a trained U-Net with them.
    // ms::Error for any other change.
    void setUnetConditioning(const std::string& conditioning);
    // Generator3dConfig::guidance (validated >= 0); the choice's reason goes
    // in metadata().training["choices"]["guidance"] (chooseGuidance3d).
    void setGuidance(double guidance);
    // Vae3dConfig::mixedLow / mixedHigh (3 phases; validated); the choice's
    // reason goes in metadata().training["choices"]["mixed_band"] (chooseMixedBand3d).
    void setMixedBand(double low, double high);
    // Vae3dConfig::mixedOffset (3-phase class output; validated); the choice's
    // reason goes in metadata().training["choices"]["mixed_offset"] (chooseMixedOffset3d).
    void setMixedOffset(double offset);
    // A fresh (seeded) feature predictor with this head in place of the
    // model's, to be trained next; the other networks are kept.
    void resetFeaturePredictor(const std::string& head, std::uint64_t seed = 0);
    // A model folder (holding generator3d.pt + generator3d.json), either
    // file of it, or a model name in modelSearchPath(): NAME/generator3d.pt
    // (the shipped layout, resources/models/NAME/) or NAME.pt.
    static Generator3D load(const std::filesystem::path& folderOrFile);
    // The weights file load() read (empty for create()); its folder holds
    // the model's evaluation.json and shipped held-out data.
    const std::filesystem::path& weightsPath() const;
    // Writes FOLDER/generator3d.pt and FOLDER/generator3d.json atomically.
    void save(const std::filesystem::path& folder, bool half = false) const;
    // Saved over the files load() read, in the precision they were stored in
    // (a choice recorded on a loaded model); returns the folder. ms::Error for
    // a model that was not loaded.
    std::filesystem::path saveInPlace() const;

    const Generator3dConfig& config() const;
    // What the JSON holds (config, metadata, ranges, condition cloud, weights file).
    const GeneratorCard& card() const;
    ModelMetadata& metadata();
    const ModelMetadata& metadata() const;
    std::vector<std::string> conditionNames() const;
    std::vector<std::string> outputNames() const;
    // Per output: training-data range and normalisation (GUI sliders).
    std::vector<FeatureRange> featureRanges() const;
    std::vector<FeatureRange> conditionRanges() const;
    void setFeatureRanges(const std::vector<FeatureRange>& ranges);  // one per output, same order
    // Ranges of the outputs the volumes carry as attributes (others keep
    // theirs) and, when every volume carries every condition, the condition
    // cloud for feasibility. The feature stage and a data-context DDPM stage
    // set them once, from their training data, where nothing set them yet.
    void setTrainingData(const std::vector<Volume>& volumes);

    // The training set's condition vectors (empty for untrained models);
    // persisted in the model JSON as architecture.training_conditions.
    const ConditionCloud& trainingConditions() const;
    void setTrainingConditions(ConditionCloud cloud);
    // Is the target (missing conditions: training mean) within the training
    // data? Nearest-neighbour distance against the 99th percentile of the
    // training set's own; `nearest` proposes the nearest training vector.
    // Unknown condition names throw ms::Error. Cheap: for live GUI warnings.
    FeasibilityReport feasibility(const std::map<std::string, double>& target) const;
    ParameterCounts parameterCounts() const;
    std::string device() const;

    // `n` volumes for the target. Conditions missing from `target` take
    // their training mean; unknown names throw ms::Error.
    std::vector<Volume> generate(const std::map<std::string, double>& target, int n,
                                 const GenerateOptions& options = {}) const;
    // One volume per target (targets may differ), batched as `options.batch`;
    // with equal targets this gives the same volumes as the form above.
    // With options.candidates = K > 1 the draws are those of the targets each
    // repeated K times in a row (candidates = 1); the kept one carries the
    // attributes `candidates` (draws made for it: K, or fewer with
    // options.tolerance), `candidate` (its index among them) and
    // `selection_distance`, and every measured descriptor.
    std::vector<Volume> generate(const std::vector<std::map<std::string, double>>& targets,
                                 const GenerateOptions& options = {}) const;
    // Convenience form of the brief's signature.
    std::vector<Volume> generate(const std::map<std::string, double>& target, int n, int steps, double guidance,
                                 std::uint64_t seed, ProgressToken* progress = nullptr) const;

    // Encoder means (flattened latents) and the feature predictor's
    // denormalised outputs for volumes of the configured size.
    std::vector<std::vector<float>> encode(const std::vector<Volume>& volumes) const;
    std::vector<std::map<std::string, double>> predictFeatures(const std::vector<Volume>& volumes) const;
    // VAE round trip (z = mu): thresholded labels, decoder output as field.
    std::vector<Volume> reconstruct(const std::vector<Volume>& volumes) const;
    // The same round trip of a 3-phase class-output model, before the mixed
    // decision: labels the likelier of Donor and Acceptor, field the mixed
    // margin log P(M) - log max(P(D), P(A)) (Mixed under an offset o exactly
    // where margin + o > 0, float). ms::Error for any other model.
    std::vector<Volume> reconstructMixedMargins(const std::vector<Volume>& volumes) const;

    struct Impl;
    Impl& impl() const { return *impl_; }  // ml-internal (torch side)

private:
    Generator3D();
    std::vector<Volume> generateScreened(const std::vector<std::map<std::string, double>>& targets,
                                         const GenerateOptions& options) const;
    std::unique_ptr<Impl> impl_;
};

// Seconds per call of the networks at batch 1 (mean of `repeats` after one
// warm-up): VAE forward+backward of its loss, U-Net forward+backward of the
// noise loss, one guided denoising step (U-Net at batch 2, no grad), one
// decode. Device as everywhere (CUDA when present unless forceCpu).
struct Generator3dTiming {
    double vaeTrainStep = 0.0, unetTrainStep = 0.0, denoiseStep = 0.0, decode = 0.0;
    ParameterCounts parameters;
    std::string device;
};
Generator3dTiming timeGenerator3d(const Generator3dConfig& config, int repeats = 1, bool forceCpu = false,
                                  int threads = 0);

// Sequential training, as in the paper: VAE (MSE + klWeight * KL), then
// the feature predictor on frozen encoder means (MSE on normalised
// outputs; volumes must carry every output as an attribute), then the
// DDPM on frozen latents with the feature predictor's outputs as context
// (condition dropout for guidance). Each fills metadata().training.
// trainGenerator3dFeatures also sets the feature ranges from the data.
// Samples of the test split (text["split"] == "test", in `train` or in
// `validation`) are refused with ms::Error before anything trains (splits.hpp).
TrainReport trainGenerator3dVae(Generator3D& model, const std::vector<Volume>& train,
                                const std::vector<Volume>& validation, const TrainOptions& options);
TrainReport trainGenerator3dFeatures(Generator3D& model, const std::vector<Volume>& train,
                                     const std::vector<Volume>& validation, const TrainOptions& options);
TrainReport trainGenerator3dDiffusion(Generator3D& model, const std::vector<Volume>& train,
                                      const std::vector<Volume>& validation, const TrainOptions& options);

}  // namespace ms::ml
