#pragma once
// The trainings the commands and the studio run, as data: one 2D model
// (`train vae2d`, `train ldm2d`), one 3D generator (`train3d`), the recipes
// of the shipped models (`train recipe`, `train3d recipe`) with their steps,
// defaults, skip rules and outputs, and the studio's training wizard. A
// caller fills these from its options, shows progress and prints; what is
// trained, skipped, recorded and written is decided here.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/studio_training.hpp"
#include "microstudio/ml/train2d.hpp"
#include "microstudio/ml/train3d.hpp"
#include "microstudio/ml/training_data.hpp"

namespace ms::ml {

// ---- one 2D model ----------------------------------------------------------------------

// A 2D VAE training: what `train vae2d` and each VAE step of the recipe run.
struct Vae2dRun {
    TrainingSampleSelection data;
    Vae2dConfig config;
    Vae2dTrainOptions options;
    std::filesystem::path out;      // MODEL.pt (+ MODEL.json)
    std::filesystem::path history;  // the loss per epoch as CSV; empty: not written
    bool half = false;              // float16 weights on disk
};

// A 2D latent diffusion training (`train ldm2d`, the recipe's LDM steps).
struct Ldm2dRun {
    TrainingSampleSelection data;
    Ldm2dPlan plan;
    std::filesystem::path out, history;
    bool half = false;
};

// What became of a finished training's outputs.
enum class RunSaved {
    Saved,          // history and model written
    NotWriter,      // a rank > 0 of a data-parallel run: rank 0 writes
    StoppedAtLimit  // stopped at stopAfterSteps: history written, model not (rerun to finish)
};

// Writes the history (atomically) and the model as the report allows.
RunSaved saveTrainedRun(TrainedVae2d& trained, const Vae2dRun& run);
RunSaved saveTrainedRun(TrainedLdm2d& trained, const Ldm2dRun& run);

// A new VAE architecture from the options of `train vae2d`: `kernels` empty
// takes the paper's kernels for the channel count (unless the count matches
// the default's, whose kernels are kept).
Vae2dConfig vae2dConfigFor(Vae2dConfig config, const std::vector<int>& channels, const std::vector<int>& kernels);

// "none" -> no conditions; "vf,phi" -> {"vf", "phi"}.
std::vector<std::string> conditionNamesFrom(const std::string& text);

// ---- the 2D recipe (`train recipe`, docs/ml.md) -------------------------------------------

struct Recipe2dSettings {
    std::filesystem::path train, validation;
    std::filesystem::path outDir = "resources/models";  // models; checkpoints in outDir/checkpoints
    long limit = 16000;                                 // VAE training images; the LDMs use every two-phase image
    long validationLimit = 400;
    int vaeEpochs = 8, ldmVaeEpochs = 4, ldmEpochs = 30;
    TrainOptions base;  // seed, threads, forceCpu, distributed; the rest is the recipe's
};

// One model of the recipe: exactly one of vae / ldm is set.
struct Recipe2dStep {
    std::string name;             // "denoise-vae2d"
    std::filesystem::path model;  // outDir/NAME.pt
    std::optional<Vae2dRun> vae;
    std::optional<Ldm2dRun> ldm;
};

// The four models in training order: the denoising VAE, the generative VAE,
// the conditional LDM on its latents and the unconditional one. Creates
// outDir/checkpoints.
std::vector<Recipe2dStep> recipe2dSteps(const Recipe2dSettings& settings);
// A step whose model exists is kept; else it trains (resuming its checkpoint).
bool recipe2dStepDone(const Recipe2dStep& step);

// ---- one 3D generator ------------------------------------------------------------------

// What `train3d` and `train3d recipe` run: the pipeline of train3d.hpp plus
// the choices applied to a new or continued model.
struct Generator3dRun {
    Generator3dConfig config;  // for a new model (an existing one keeps its architecture)
    TrainingSampleSelection selection;
    Generator3dTrainingPlan plan;
    int diffusionAugment = 0;  // symmetry variants; 0: the model's
    int featureAugment = 0;    // 0: the model's
    // Applied instead of the model's when featureAugment is 0 and the feature
    // predictor has not started training (not trained, no checkpoint): a
    // resumed checkpoint must see the samples it started with. 0: none.
    int defaultFeatureAugment = 0;
    std::string featureHead;       // empty: the model's; another: a fresh predictor of that head
    std::string unetConditioning;  // empty: the model's; "scale-shift" on an "add" model: setUnetConditioning
    // The studio's wizard: `config` gives the VAE widths, latent channels and
    // U-Net width of a small generator fitted to the data (fitGeneratorToData).
    bool fitToData = false;
    std::uint64_t seed = 0;  // a new model's initial weights
};

// Applies the run's head and augmentations to the model. Returns the head
// the model had when its predictor was replaced (to be trained again), else "".
std::string applyRunChoices(Generator3D& model, const Generator3dRun& run);

// The model a 3D run trains, with the run's choices applied.
struct OpenedGenerator3d {
    Generator3D model;
    bool continued = false;    // plan.modelDir held a model (its architecture wins)
    std::string replacedHead;  // applyRunChoices' answer
};
// plan.modelDir's model, else a new one from run.config (fitted to `data`
// first when run.fitToData), then applyRunChoices. Train it with
// trainGenerator3d(opened.model, data, run.plan, events).
OpenedGenerator3d openGenerator3dRun(const Generator3dRun& run, const TrainingSamples& data);

// A 3D architecture from a preset ("paper" or "tiny") and a phase count (2
// or 3); throws naming the preset otherwise.
Generator3dConfig generator3dPreset(const std::string& preset, int phases);
// Outputs for the given conditions: the conditions and the processing
// parameters (phi, chi, log_time).
std::vector<std::string> outputsForConditions(const std::vector<std::string>& conditions);

// ---- the 3D recipe (`train3d recipe`, docs/ml3d.md "Shipped model") ----------------------

struct Recipe3dStage {
    std::string name;  // a generator3dStages() name
    int epochs = 1, batch = 1;
    double learningRate = 1e-3;
    long checkpointEvery = 100;
    // The DDPM's validation loss (on unseen runs) rises after epoch 2 while
    // the samples keep improving (docs/ml3d.md): keep its last weights.
    bool keepLast = false;
};

// ~3,700 VAE steps, ~9,300 feature-predictor steps, ~2,800 DDPM steps on ~7,400 samples.
const std::vector<Recipe3dStage>& recipe3dStages();

struct Recipe3dSettings {
    int phases = 2;
    std::filesystem::path train, validation;
    std::filesystem::path outDir;  // empty: resources/models/<recipe3dName>
    long limit = 0;                // every two-phase training snapshot (~7,400)
    long validationLimit = 256;
    int latentChannels = 4;
    double minorityWeight = 0.0;
    bool periodicXY = false;
    std::string vaeOutput = "level";    // Vae3dConfig::output
    std::string featureHead;            // empty: kRecipe3dFeatureHead for a new model, else the model's
    int featureAugment = 0;             // 0: kRecipe3dFeatureAugment for a predictor not yet started, else the model's
    int diffusionAugment = 0;           // 0: the model's (1 for a new one)
    std::string choice;                 // how the options were chosen on validation
    std::map<std::string, int> epochs;  // per stage; absent: recipe3dStages()'s
    TrainOptions base;                  // seed, threads, forceCpu
};

// "gen3d-ch2" or "gen3d-ch3".
std::string recipe3dName(int phases);
// The skipped single-phase snapshots: the rarer phase below 1 %.
constexpr double kRecipe3dMinPhaseFraction = 0.01;
// The paper's MLP memorises the training runs; the conv head reading the
// phase fractions predicts phi best on validation (docs/ml3d.md).
constexpr const char* kRecipe3dFeatureHead = "conv-fractions";
// Symmetry variants of the feature predictor's training volumes: with 4 the
// conv-fractions head reaches phi R^2 0.944, log_time 0.971 on validation.
constexpr int kRecipe3dFeatureAugment = 4;
// The U-Net's conditioning for new models: scale-shift after every norm lifts
// plain DDIM-50 on validation from 0.647 / 0.836 / 0.783 to 0.783 / 0.861 /
// 0.837 (guidance 1; docs/ml3d.md); the paper's additive embeddings are
// mostly removed by the instance norms that follow them.
constexpr const char* kRecipe3dUnetConditioning = "scale-shift";
// The shipped generator's run: 64x64x32 volumes -> latent 4x8x8x4 (VAE
// widths 16,32,64, first stride 2), U-Net n_feat 64, DDPM conditioned on the
// samples' own descriptors, float16 weights, checkpoints in outDir/checkpoints
// (created).
Generator3dRun recipe3dRun(const Recipe3dSettings& settings);

// ---- the studio's training wizard (ui/training_job.hpp) ---------------------------------

// The wizard's runs: every stage at the chosen rate, a checkpoint every 50
// steps (and at epoch ends), resumed when present; no history, float32.
Vae2dRun studioVae2dRun(const StudioTrainingSettings& settings);
Ldm2dRun studioLdm2dRun(const StudioTrainingSettings& settings);
Generator3dRun studioGenerator3dRun(const StudioTrainingSettings& settings);

// What a studio training tells while it runs (each called on its thread).
struct StudioTrainingEvents {
    std::function<void(const std::string& message)> status;                    // "loading data"
    std::function<void(int index, int count, const std::string& name)> stage;  // a stage starts
    std::function<void(const StudioStep& step)> step;                          // after every step
    std::function<void(const EpochRecord& epoch)> epoch;                       // an epoch's losses
    // Called after every step (after `step`): returns when the training may
    // go on; a pause waits here. Its time does not count in the ETA.
    std::function<void()> waitWhilePaused;
};
// One wizard training to its saved model (the path returned): the calls of
// `train vae2d` / `train ldm2d` / `train3d` on the wizard's run. resume =
// false deletes the stages' checkpoints (and a 3D model folder) first; a
// cancel through `token` throws ms::Cancelled after a checkpoint, and
// runStudioTraining(..., resume = true) continues from it. The checkpoints
// go once the model is saved.
std::filesystem::path runStudioTraining(StudioTrainingKind kind, const StudioTrainingSettings& settings, bool resume,
                                        const StudioTrainingEvents& events, ProgressToken& token);

}  // namespace ms::ml
