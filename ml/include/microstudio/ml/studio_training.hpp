#pragma once
// The studio's training wizard in ml's words, as plain data: the settings
// its pages choose, the stages of each kind, where their checkpoints go, the
// settings as JSON (the ML worker's "train" request, docs/worker-protocol.md)
// and what a running training reports. Torch-free; the training itself is
// runStudioTraining (training_runs.hpp), run by the ML worker.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/core/json.hpp"

namespace ms::ml {

enum class StudioTrainingKind { Vae2d, Ldm2d, Generator3d };
// "vae2d", "ldm2d", "generator3d"; parse throws ms::Error (one line) on another name.
std::string studioTrainingKindName(StudioTrainingKind kind);
StudioTrainingKind parseStudioTrainingKind(const std::string& name);
// The stages a kind trains, in order: {"vae"}, {"ldm"}, {"vae", "features", "diffusion"}.
std::vector<std::string> studioStages(StudioTrainingKind kind);

// What the wizard's pages choose, in ml's words (the defaults are the wizard's).
struct StudioTrainingSettings {
    std::filesystem::path train;
    std::filesystem::path validation;  // empty: the last fifth of the training samples
    long limit = 0;                    // training samples (0 = all); validation gets a quarter of it
    std::string name;                  // the model's: outDir/NAME.pt, or the folder outDir/NAME of a 3D generator
    std::filesystem::path outDir, checkpointDir;
    int epochs = 0, batch = 0;
    double learningRate = 0.0;
    std::uint64_t seed = 0;
    int threads = 0;  // 0: every core
    // 2D VAE
    int latent = 0, hidden = 0;
    std::vector<int> channels;
    double beta = 1.0;
    // 2D LDM
    std::filesystem::path vae;
    int ldmHidden = 0, ldmBlocks = 0, diffusionSteps = 0;
    std::string conditions;  // "vf,phi"; empty or "none": unconditional
    // 3D generator (dims, phases, conditions and outputs from the data)
    std::vector<int> channels3d;
    int latentChannels = 0, unetFeatures = 0;
};

// The settings as a JSON object, and back: every field by its snake_case
// name; fromJson refuses an unknown field or a value of the wrong type,
// naming it (ms::Error, one line); absent fields keep the defaults above.
Json toJson(const StudioTrainingSettings& settings);
StudioTrainingSettings studioTrainingSettingsFromJson(const Json& json);

// Where the studio keeps a stage's checkpoint: DIR/NAME-<stage>.ckpt.
std::filesystem::path studioCheckpointPath(const std::filesystem::path& checkpointDir, const std::string& name,
                                           const std::string& stage);
// The model a finished training leaves: OUT/NAME.pt, or the folder OUT/NAME of a 3D generator.
std::filesystem::path studioModelPath(StudioTrainingKind kind, const StudioTrainingSettings& settings);

// One optimiser step of a running stage, as the wizard's page shows it.
struct StudioStep {
    int epoch = 0, epochs = 0;      // epoch: 0-based, the one running
    long step = 0, totalSteps = 0;  // of the stage, over all its epochs
    double trainLoss = 0.0;         // running mean of the epoch
    double etaSeconds = 0.0;        // of the stage; pauses do not count
    // A point of the loss curve (a few hundred per stage at most, and every
    // epoch's end); the steps between only move the progress bar.
    bool curvePoint = false;
};

}  // namespace ms::ml
