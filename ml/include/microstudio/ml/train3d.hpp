#pragma once
// The one training pipeline of the 3D generator, used by `train3d`,
// `train3d recipe` and the studio's TrainingJob alike: how the samples are
// chosen, which descriptors are measured, which stages run and when one
// counts as finished, where checkpoints go and what the model records.
// The callers only fill the plan and show progress (Slicer's Logic shape).
//
//   auto data = ml::loadTrainingSamples({"train.h5", "val.h5", 0, 256, 0.01});
//   ml::Generator3dTrainingPlan plan;
//   plan.modelDir = "models/my-gen";
//   auto model = ml::openGenerator3d(plan.modelDir, config);
//   ml::trainGenerator3d(model, data, plan);
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/training.hpp"
#include "microstudio/ml/training_data.hpp"

namespace ms::ml {

// The stages, in the order they train.
const std::vector<std::string>& generator3dStages();
// The paper's learning rate of a stage (5e-5 VAE and features, 1e-6 DDPM).
double paperLearningRate(const std::string& stage);

// A small generator fitted to the data (the studio's wizard): 3 phases when
// any sample has the mixed phase or was thresholded into three, the data's
// dims, the paper's first stride of 2 when the latent grid still suits the
// U-Net's two levels (else 1), the conditions of the phase count, and the
// processing parameters as outputs only when every sample carries them.
Generator3dConfig fitGeneratorToData(Generator3dConfig base, const TrainingSamples& data);

// Measures the descriptors of samples that lack one of `outputs`; throws
// (naming the sample and `hint`) when the descriptors do not give one.
// Cancellable through `progress`.
void completeDescriptors(std::vector<Volume>& samples, const std::vector<std::string>& outputs, bool measure,
                         const std::string& hint = "", ProgressToken* progress = nullptr);

struct Generator3dTrainingPlan {
    std::filesystem::path modelDir;       // generator3d.pt + .json, saved after every stage
    std::filesystem::path checkpointDir;  // <prefix><stage>.ckpt; empty = modelDir
    std::string checkpointPrefix;         // the studio keeps NAME-<stage>.ckpt in one folder
    // "all": every stage not finished yet (its report is in the model and
    // no checkpoint is left); or one stage, trained (again) whatever it holds.
    std::string only = "all";
    bool restartDiffusion = false;   // only = diffusion: from the U-Net's initial weights
    bool half = false;               // float16 weights on disk
    bool writer = true;              // false on ranks > 0 of a data-parallel run
    bool measureDescriptors = true;  // compute descriptors missing from the samples
    // Per stage (generator3dStages()); a stage not listed gets TrainOptions{}
    // with its paperLearningRate. `checkpoint` is set by the pipeline.
    std::map<std::string, TrainOptions> options;
    // Recorded in the model (docs/ml3d.md, "Which split chooses what").
    std::string description;               // empty: keep the model's, or "3D generator trained on DIMS volumes"
    std::filesystem::path validationData;  // `evaluate`'s default held-out data; empty: not recorded
    std::string validatedOn;               // empty: from validationData
    std::string choice;                    // how the settings were chosen on validation
    double minPhaseFraction = 0.0;         // the selection's; `evaluate` filters the same way

    std::filesystem::path checkpointPath(const std::string& stage) const;
    bool wants(const std::string& stage) const { return only == "all" || only == stage; }
};

// What the caller shows: before a stage trains (`options` may be given
// progress callbacks), after it, and when it is skipped as finished.
struct Generator3dStageEvents {
    std::function<void(const std::string& stage, int index, TrainOptions& options)> starting;
    std::function<void(const std::string& stage, const TrainReport& report)> trained;
    std::function<void(const std::string& stage)> skipped;
};

struct Generator3dTrainingResult {
    std::map<std::string, TrainReport> reports;  // the stages trained this run
    bool stoppedAtLimit = false;                 // a stage stopped at stopAfterSteps (checkpoint kept)
};

// The model of plan.modelDir when it exists (its architecture wins), else a
// new one from `config` named after the folder.
Generator3D openGenerator3d(const std::filesystem::path& modelDir, const Generator3dConfig& config,
                            std::uint64_t seed = 0);

// True when the model records the stage and its checkpoint is gone.
bool generator3dStageFinished(const Generator3D& model, const Generator3dTrainingPlan& plan, const std::string& stage);

// Records the plan in the model's metadata (name, description, validation
// data, min_phase_fraction, training.choices), then trains the wanted
// stages in order: each records which weights it kept, saves the model and
// removes its checkpoint. Descriptors missing from the samples are measured
// before the first stage that needs them. ms::Cancelled propagates with the
// running stage's checkpoint written: the same call resumes.
Generator3dTrainingResult trainGenerator3d(Generator3D& model, TrainingSamples& data,
                                           const Generator3dTrainingPlan& plan,
                                           const Generator3dStageEvents& events = {});

// `bench ml3d --precision`: seconds per training step of the recipe's VAE
// (batch 16) and DDPM (batch 64) stages on synthetic 64x64x32 volumes, in
// float32 and with TrainOptions::bf16, alternating `repeats` times (each run
// a fresh model, after a one-step warm-up in both modes); the fastest of each.
struct PrecisionTiming {
    std::string stage;
    double float32SecondsPerStep = 0.0, bf16SecondsPerStep = 0.0;
};
std::vector<PrecisionTiming> benchmarkTrainingPrecision(int phases, int steps, int repeats, int threads);

}  // namespace ms::ml
