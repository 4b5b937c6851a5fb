#pragma once
// Paired clean/noisy datasets for training denoisers: every clean sample
// with one or several noisy variants per noise type, the noise parameters
// drawn from ranges (augmentation) and stored as attributes (the paper's
// names) on each noisy sample.
//
// File layout (.h5, MicroGen3D layout, one dataset per sample):
//   p000000_clean                 the clean sample, text role = "clean"
//   p000000_<type>_<k>            k-th variant of <type> (salt-pepper, grid,
//                                 frequency): text role = "noisy",
//                                 clean = "p000000_clean", noise = <type>;
//                                 attributes pair, variant, noise_seed and
//                                 the noise parameters
// The clean sample keeps the attributes of its source (phi, chi, ...) and
// text clean_source = "<file>:<dataset>" of where it came from.
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/noise/noise.hpp"

namespace ms::noise {

// A closed interval [lo, hi]; lo == hi is a fixed value.
struct ParamRange {
    double lo = 0.0, hi = 0.0;
    ParamRange() = default;
    ParamRange(double value) : lo(value), hi(value) {}  // NOLINT: a fixed value reads naturally
    ParamRange(double low, double high) : lo(low), hi(high) {}
    double draw(std::mt19937_64& rng) const;  // uniform in [lo, hi]
    // "0.1" or "0.05:0.2"; throws ms::Error on bad text or lo > hi.
    static ParamRange parse(const std::string& text, const std::string& name);
};

// Ranges for one noise type; parameters of other types are ignored.
struct NoiseRanges {
    NoiseType type = NoiseType::SaltPepper;
    ParamRange flip_probability{0.15};
    ParamRange grid_amplitude{0.8};
    ParamRange grid_frequency{8.0};
    ParamRange grid_rotation{15.0};
    ParamRange rings{8.0};  // drawn as an integer uniformly in [lo, hi]
    ParamRange mask_intensity{0.8};
    ParamRange mask_width{0.05};

    // Defaults of NoiseModel for `type` (fixed values).
    static NoiseRanges defaults(NoiseType type);
    // Draws one model; throws ms::Error if a drawn value is invalid.
    NoiseModel draw(std::mt19937_64& rng) const;
    // Both ends of every range as a model of `type` (NoiseModel::validate):
    // a bad range is refused before any sample is drawn, naming the parameter.
    void validate() const;
};

struct PairedDatasetOptions {
    std::vector<NoiseRanges> noises;  // each type gives `variants` noisy copies per sample
    int variants = 1;
    std::uint64_t seed = 0;
    int threads = 0;  // 0 = every core
};

struct NoisyPair {
    Volume clean;
    std::vector<Volume> noisy;  // types in option order, `variants` of each
};

// Builds the pairs in memory. Sample i, type t, variant k uses the seed
// deriveSeed(deriveSeed(seed, i), t * variants + k) for both the drawn
// parameters and the noise, so a build is reproducible and independent of
// the thread count.
std::vector<NoisyPair> makePairs(const std::vector<Volume>& clean, const PairedDatasetOptions& options,
                                 ProgressToken* progress = nullptr);

// The pairs as samples in the layout above (clean first, then its variants).
std::vector<Volume> pairSamples(const std::vector<NoisyPair>& pairs);

// makePairs + write one .h5 file atomically. Returns the number of noisy samples.
std::size_t writePairedDataset(const std::vector<Volume>& clean, const PairedDatasetOptions& options,
                               const std::filesystem::path& output, ProgressToken* progress = nullptr);

// Reads a file written above back into pairs (by the role/clean text).
std::vector<NoisyPair> readPairedDataset(const std::string& pathOrGlob);

}  // namespace ms::noise
