#pragma once
// The 2D trainings' pipeline, used by `train vae2d`, `train ldm2d`, `train
// recipe` and the studio's TrainingJob alike: the architecture rules, the
// training, and what the model records. Callers pick the samples
// (training_data.hpp), set progress callbacks in the options, and save.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/training_data.hpp"
#include "microstudio/ml/vae2d.hpp"

namespace ms::ml {

// The paper's kernel sizes for `layers` convolutions: 4 for the first two
// (stride 2, padding 1 halves the map), 3 beyond.
std::vector<int> paperKernels(std::size_t layers);

struct TrainedVae2d {
    Vae2d model;
    TrainReport report;
};

// A new VAE of `config` (its size taken from the square images) trained on
// `data`; its description names the kind, latent and beta unless
// `description` is given. Not saved: the caller saves (rank 0, and not when
// report.stoppedAtLimit).
TrainedVae2d trainNewVae2d(const TrainingSamples& data, Vae2dConfig config, const Vae2dTrainOptions& options,
                           const std::string& description = "");

struct Ldm2dPlan {
    std::filesystem::path vae;  // the VAE whose latents it learns (findModel: path or installed name)
    Ldm2dConfig config;         // `latent` is taken from the VAE
    Ldm2dTrainOptions options;
    double minPhaseFraction = 0.0;                   // the images' filter, recorded
    std::function<void(const std::string&)> status;  // "encoding N images with VAE"
};

struct TrainedLdm2d {
    Ldm2d model;
    TrainReport report;
    // With conditions and validation images: the validation noise MSE with
    // and without the condition (also in the metadata).
    std::optional<Ldm2d::ConditionUse> conditionUse;
};

// Encodes the images with the VAE (sizes checked), trains a new LDM on the
// latents and the images' condition attributes, and records the VAE, its
// data hash, the filter and the condition use. Not saved (as above).
TrainedLdm2d trainNewLdm2d(const TrainingSamples& data, const Ldm2dPlan& plan);

}  // namespace ms::ml
