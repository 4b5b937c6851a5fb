#include "microstudio/noise/denoise.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include "microstudio/core/error.hpp"
#include "microstudio/noise/noise.hpp"

namespace ms::noise {

namespace {

using Counts = std::vector<std::uint16_t>;

// Sum of `values` over a (2r+1)^d window with replicate padding, done one
// axis at a time (replicate padding is separable). Axes of extent 1 are
// not windowed, so a 2D image gets a square window.
Counts boxSum(Counts values, const Dims& dims, int radius) {
    Counts next(values.size());
    const std::array<int, 3> extent{dims.nx, dims.ny, dims.nz};
    const std::array<std::size_t, 3> stride{1, std::size_t(dims.nx), std::size_t(dims.nx) * std::size_t(dims.ny)};
    for (int axis = 0; axis < 3; ++axis) {
        const int n = extent[axis];
        if (n == 1) continue;
        const std::size_t step = stride[axis];
        // Every line along `axis` starts at an index whose coordinate on that
        // axis is 0: below `step` within each block of n * step.
        for (std::size_t block = 0; block < values.size(); block += step * std::size_t(n))
            for (std::size_t offset = 0; offset < step; ++offset) {
                const std::size_t lineStart = block + offset;
                for (int position = 0; position < n; ++position) {
                    int sum = 0;
                    for (int d = -radius; d <= radius; ++d)
                        sum += values[lineStart + std::size_t(std::clamp(position + d, 0, n - 1)) * step];
                    next[lineStart + std::size_t(position) * step] = std::uint16_t(sum);
                }
            }
        values.swap(next);
    }
    return values;
}

Counts indicator(const Volume& volume, int label) {
    Counts out(volume.size());
    const auto& labels = volume.labels();
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = labels[i] == label ? 1 : 0;
    return out;
}

std::array<Counts, kMaxPhases> labelCounts(const Volume& volume, int radius) {
    std::array<Counts, kMaxPhases> counts;
    const auto present = volume.phaseCounts();
    for (int label = 0; label < kMaxPhases; ++label)
        counts[label] = present[label] ? boxSum(indicator(volume, label), volume.dims(), radius)
                                       : Counts(volume.size(), 0);  // absent label: no window work
    return counts;
}

int windowVoxels(const Dims& dims, int size) {
    int n = 1;
    for (int extent : {dims.nx, dims.ny, dims.nz})
        if (extent > 1) n *= size;
    return n;
}

void requireValidLabels(const Volume& volume, const std::string& what) {
    if (volume.size() == 0) throw Error(what + ": empty volume");
    volume.validateLabels();
}

// Erosion (the voxel and all its face neighbours are A) or dilation (any of
// them is A) of phase A with the cross-shaped element (scipy's and
// scikit-image's default footprint); outside the volume the edge repeats.
Volume morph(const Volume& volume, bool erode) {
    const Dims& d = volume.dims();
    Volume out = volume;
    for (int z = 0; z < d.nz; ++z)
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) {
                const auto isA = [&](int xi, int yi, int zi) {
                    return volume.at(std::clamp(xi, 0, d.nx - 1), std::clamp(yi, 0, d.ny - 1),
                                     std::clamp(zi, 0, d.nz - 1)) == Acceptor;
                };
                int count = 0, total = 0;
                for (const auto& [dx, dy, dz] : {std::array<int, 3>{0, 0, 0},
                                                 {-1, 0, 0},
                                                 {1, 0, 0},
                                                 {0, -1, 0},
                                                 {0, 1, 0},
                                                 {0, 0, -1},
                                                 {0, 0, 1}}) {
                    if (dz != 0 && d.nz == 1) continue;  // 2D: the 5-voxel cross
                    count += isA(x + dx, y + dy, z + dz);
                    ++total;
                }
                out.at(x, y, z) = (erode ? count == total : count > 0) ? Acceptor : Donor;
            }
    return out;
}

}  // namespace

const char* denoiserKindName(DenoiserKind kind) {
    switch (kind) {
        case DenoiserKind::None:
            return "none";
        case DenoiserKind::Classical:
            return "classical";
        case DenoiserKind::Learned:
            return "learned";
    }
    return "?";
}

FunctionDenoiser::FunctionDenoiser(std::string name, DenoiserKind kind, Function function)
    : name_(std::move(name)), kind_(kind), function_(std::move(function)) {
    if (!function_) throw Error("denoiser '" + name_ + "' has no function");
}

Volume FunctionDenoiser::denoise(const Volume& noisy) const {
    Volume out = function_(noisy);
    if (out.dims() != noisy.dims())
        throw Error("denoiser '" + name_ + "' returned " + out.dims().str() + " for a " + noisy.dims().str() +
                    " input");
    return out;
}

Volume medianFilter(const Volume& volume, int size) {
    if (size < 1 || size % 2 == 0 || size > 15) throw Error("median filter: size must be odd, 1..15");
    requireValidLabels(volume, "median filter");
    const auto counts = labelCounts(volume, size / 2);
    const int median = windowVoxels(volume.dims(), size) / 2;  // 0-based rank of the median
    Volume out = volume;
    out.clearField();
    auto& labels = out.labels();
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const int c0 = counts[0][i], c01 = c0 + counts[1][i];
        labels[i] = std::uint8_t(median < c0 ? 0 : median < c01 ? 1 : 2);
    }
    return out;
}

Volume majorityFilter(const Volume& volume, int maxIterations) {
    if (maxIterations < 1) throw Error("majority filter: needs at least one iteration");
    requireValidLabels(volume, "majority filter");
    Volume out = volume;
    out.clearField();
    for (int pass = 0; pass < maxIterations; ++pass) {
        const auto counts = labelCounts(out, 1);
        bool changed = false;
        auto labels = out.labels();
        for (std::size_t i = 0; i < labels.size(); ++i) {
            const int centre = labels[i];
            int best = centre;
            for (int label = 0; label < kMaxPhases; ++label)
                if (counts[label][i] > counts[best][i]) best = label;
            // Ties: keep the centre when it is among the most frequent,
            // otherwise the first (lowest) label found above.
            if (best != centre) {
                labels[i] = std::uint8_t(best);
                changed = true;
            }
        }
        out.labels() = std::move(labels);
        if (!changed) break;
    }
    return out;
}

Volume openClose(const Volume& volume) {
    requireTwoPhase(volume, "open-close filter");
    Volume opened = morph(morph(volume, true), false);
    Volume closed = morph(morph(opened, false), true);
    closed.clearField();
    return closed;
}

std::vector<std::shared_ptr<const Denoiser>> standardDenoisers() {
    using F = FunctionDenoiser;
    return {
        std::make_shared<F>("none", DenoiserKind::None, [](const Volume& v) { return v; }),
        std::make_shared<F>("median3", DenoiserKind::Classical, [](const Volume& v) { return medianFilter(v, 3); }),
        std::make_shared<F>("median5", DenoiserKind::Classical, [](const Volume& v) { return medianFilter(v, 5); }),
        std::make_shared<F>("majority", DenoiserKind::Classical, [](const Volume& v) { return majorityFilter(v); }),
        std::make_shared<F>("open-close", DenoiserKind::Classical, [](const Volume& v) { return openClose(v); }),
    };
}

std::shared_ptr<const Denoiser> denoiserByName(const std::string& name) {
    std::string known;
    for (auto& d : standardDenoisers()) {
        if (d->name() == name) return d;
        known += (known.empty() ? "" : ", ") + d->name();
    }
    throw Error("unknown denoiser '" + name + "' (use " + known + ")");
}

}  // namespace ms::noise
