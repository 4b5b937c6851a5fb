#pragma once
// Measures denoisers against each other: for every clean sample and noise
// model, one noisy image (seeded), every denoiser applied to it, and the
// metrics between the clean sample and each output, averaged over samples.
// A learned denoiser is one more entry of EvalOptions::denoisers.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/noise/dataset.hpp"
#include "microstudio/noise/denoise.hpp"
#include "microstudio/noise/metrics.hpp"
#include "microstudio/noise/noise.hpp"

namespace ms::noise {

struct EvalOptions {
    std::vector<NoiseModel> noises;                          // empty = the three at their defaults
    std::vector<std::shared_ptr<const Denoiser>> denoisers;  // empty = standardDenoisers()
    std::uint64_t seed = 1;
    DescriptorFunction descriptors;  // empty = no tortuosity drift
    int threads = 0;                 // 0 = every core
};

struct EvalRow {
    std::string noise;     // noise type name
    std::string settings;  // NoiseModel::describe()
    std::string denoiser;
    DenoiserKind kind = DenoiserKind::None;
    int samples = 0;
    // Means over samples (tortuosity drift over the samples where defined).
    Metrics mean;
    int tortuositySamples = 0;
    double millisecondsPerSample = 0.0;  // denoising time only
};

// Rows ordered by noise, then denoiser (option order). Sample i, noise j
// uses the seed deriveSeed(seed, i * noises + j).
std::vector<EvalRow> evaluate(const std::vector<Volume>& clean, const EvalOptions& options,
                              ProgressToken* progress = nullptr);

// The same on stored pairs (readPairedDataset): every stored noisy sample
// against its clean partner, rows grouped by the noisy sample's text
// "noise" in order of first appearance; EvalOptions::noises and seed are
// not used.
std::vector<EvalRow> evaluatePairs(const std::vector<NoisyPair>& pairs, const EvalOptions& options,
                                   ProgressToken* progress = nullptr);

// A fixed-width text table (one line per row) and a JSON list of objects
// with noise, settings, denoiser, kind, samples, pixel_error, iou_D, iou_A,
// [iou_M], delta_vf, delta_tort_D, delta_tort_A (null when not computed),
// ms_per_sample.
std::string formatTable(const std::vector<EvalRow>& rows);
std::string formatMarkdown(const std::vector<EvalRow>& rows);
std::string formatJson(const std::vector<EvalRow>& rows);

}  // namespace ms::noise
