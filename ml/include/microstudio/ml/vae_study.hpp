#pragma once
// The 2D paper's three-stage hyper-parameter study of the denoising VAE
// (`train study`): batch size {16, 32, 64} at L = 128, beta = 1; then L
// {32, 128} at the best batch; then beta {0.25, 1, 1.5} at the best L (best
// = lowest validation loss). Each run's pixel error on fixed noisy
// validation images (the three noise types at their defaults) is comparable
// across beta, unlike the loss. With an output folder the study writes its
// curves, table and plots there as it goes.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "microstudio/ml/train2d.hpp"

namespace ms::ml {

struct VaeStudyRun {
    std::string name;  // "b32_L128_beta1"
    int stage = 0, batch = 32, latent = 128;
    double beta = 1.0;
    TrainReport report;
    double pixelError = 0.0;  // denoised validation images vs clean, mean over images and noise types
};

struct VaeStudyOptions {
    Vae2dConfig architecture;           // widths and kernels; latent set per run
    TrainOptions train;                 // epochs, rate, seed...; batch set per run
    std::filesystem::path checkpoints;  // RUN.ckpt files go here
    // When set: DIR/RUN.csv per run (the loss per epoch), DIR/summary.md (a
    // table of the runs, rewritten as each finishes, then the conclusion) and
    // per stage DIR/stageK_train.png and DIR/stageK_validation.png.
    std::filesystem::path outputDir;
    // Before a run trains (give `options` progress), after it, after a stage.
    std::function<void(const VaeStudyRun& run, TrainOptions& options)> starting;
    std::function<void(const VaeStudyRun& run)> finished;
    std::function<void(int stage, const std::vector<VaeStudyRun>& runs)> stageDone;
};

struct VaeStudyResult {
    std::vector<VaeStudyRun> runs;  // every run trained, in order
    int bestBatch = 0, bestLatent = 0;
    double bestBeta = 0.0;
    std::string summary;  // the table and the conclusion (summary.md's text)
};

// The name of a run: "b<batch>_L<latent>_beta<beta>".
std::string vaeStudyRunName(int batch, int latent, double beta);

// Runs the study on data.train, validating on data.validation. A run that an
// earlier stage trained with the same settings is reused, not retrained.
VaeStudyResult runVaeStudy(const TrainingSamples& data, const VaeStudyOptions& options);

// Redraws the stage plots of a study's output folder from its summary.md
// (which run belongs to which stage) and RUN.csv files, training nothing;
// returns the plots written. Throws naming a missing or empty file.
std::vector<std::filesystem::path> replotVaeStudy(const std::filesystem::path& dir);

}  // namespace ms::ml
