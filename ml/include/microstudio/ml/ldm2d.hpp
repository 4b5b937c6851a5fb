#pragma once
// Latent diffusion over the VAE's L-dim latents (2D paper, section IV):
// DDPM with T = 1000 steps and linear betas 1e-4 -> 0.02, an epsilon-
// predicting residual MLP with a sinusoidal time embedding, optionally
// conditioned on attributes (volume fraction, phi, chi) with condition
// dropout for classifier-free guidance; DDIM or DPM-Solver++(2M) sampling
// with k steps, or ancestral DDPM.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/training.hpp"

namespace ms::ml {

// The DDPM noise schedule, in double precision (index t = 0 .. T-1).
struct DiffusionSchedule {
    std::vector<double> betas, alphas, alphaBar;
    static DiffusionSchedule linear(int steps = 1000, double betaStart = 1e-4, double betaEnd = 0.02);
    int steps() const { return int(betas.size()); }
    // Forward noising q(x_t | x_0): sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.
    std::vector<float> noise(const std::vector<float>& x0, int t, const std::vector<float>& eps) const;
    // The DDIM timesteps for k steps: evenly spaced, descending, from T-1.
    std::vector<int> ddimTimesteps(int k) const;
};

struct Ldm2dConfig {
    int latent = 128;  // L of the VAE
    int hidden = 512;  // MLP width
    int blocks = 4;    // residual blocks
    int timeEmbedding = 128;
    std::vector<std::string> conditions;  // e.g. {"vf", "phi", "chi"}; empty = unconditional
    int steps = 1000;                     // T
    double betaStart = 1e-4, betaEnd = 0.02;
    double conditionDropout = 0.1;  // training: condition replaced by the null token
    // What the network predicts: "eps" (the noise, the paper's DDPM) or "v"
    // (sqrt(abar) eps - sqrt(1 - abar) x0). With eps, the loss barely weighs
    // the high-noise steps where a global property such as the volume
    // fraction is decided, and the model learns to ignore its condition;
    // v weighs them like x0 prediction does (docs/ml.md).
    std::string prediction = "v";

    void validate() const;
    Json toJson() const;
    static Ldm2dConfig fromJson(const Json& json);
};

struct Ldm2dSampleOptions {
    int count = 16;
    // "ddim", "dpmpp" (DPM-Solver++(2M), Lu et al. 2022: deterministic,
    // second-order multistep, the same solver as the 3D generator's) or
    // "ddpm" (ancestral over all T, as `ancestral`). Other names: ms::Error.
    std::string sampler = "ddim";
    int steps = 50;    // solver steps k (network calls); DDIM k == T with eta == 1 is ancestral DDPM
    double eta = 0.0;  // 0 = deterministic DDIM; ddim only
    std::uint64_t seed = 0;
    // Raw attribute values per sample (count rows) or one row for all;
    // empty = unconditional (the null condition).
    std::vector<std::vector<double>> conditions;
    double guidance = 1.0;   // classifier-free guidance scale (1 = conditional only)
    bool ancestral = false;  // DDPM ancestral sampling over all T steps (tests); = sampler "ddpm"
};

class Ldm2d {
public:
    explicit Ldm2d(const Ldm2dConfig& config = {}, std::uint64_t seed = 0);
    ~Ldm2d();
    Ldm2d(Ldm2d&&) noexcept;
    Ldm2d& operator=(Ldm2d&&) noexcept;

    static Ldm2d load(const std::filesystem::path& weights);
    void save(const std::filesystem::path& weights, bool half = false);

    const Ldm2dConfig& config() const;
    const DiffusionSchedule& schedule() const;
    ModelMetadata& metadata();
    const ModelMetadata& metadata() const;
    long parameterCount() const;
    std::vector<float> flatParameters() const;

    // Latents (in the VAE's units) sampled by DDIM / DPM-Solver++ / ancestral DDPM.
    std::vector<std::vector<float>> sample(const Ldm2dSampleOptions& options) const;
    // What sample() runs for these options: "ddim-50", "dpmpp2m-16",
    // "ddpm-1000" (the images' `sampler` text in sample2d). ms::Error (one
    // line) on an unknown sampler, steps outside 1..T, or eta != 0 off ddim.
    std::string samplerLabel(const Ldm2dSampleOptions& options) const;

    // How much the model uses its condition: the mean noise-prediction MSE
    // over (latents, raw conditions) at seeded random timesteps and noise,
    // with the condition and with the null condition. Equal values mean the
    // condition is ignored.
    struct ConditionUse {
        double conditioned = 0, unconditioned = 0;
    };
    ConditionUse conditionUse(const std::vector<std::vector<float>>& latents,
                              const std::vector<std::vector<double>>& conditions, std::uint64_t seed = 0) const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
    friend struct Ldm2dTraining;
};

struct Ldm2dTrainOptions {
    TrainOptions train;
};

// Trains the epsilon predictor on latents (rows of L floats) with their raw
// condition values (rows matching config.conditions; empty when
// unconditional). Latent and condition normalisation (mean, std) are taken
// from the training set and stored with the model. Latents carry no split:
// callers refuse test-split images before encoding them (splits.hpp).
TrainReport trainLdm2d(Ldm2d& model, const std::vector<std::vector<float>>& latents,
                       const std::vector<std::vector<double>>& conditions,
                       const std::vector<std::vector<float>>& validationLatents,
                       const std::vector<std::vector<double>>& validationConditions, const Ldm2dTrainOptions& options);

}  // namespace ms::ml
