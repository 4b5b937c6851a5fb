#include "microstudio/noise/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "internal.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/noise/noise.hpp"

namespace ms::noise {

Volume syntheticMorphology(const Dims& dims, std::uint64_t seed, const SyntheticOptions& options) {
    if (!(options.wavelength > 1.0)) throw Error("synthetic morphology: wavelength must be > 1 voxel");
    if (options.waves < 1) throw Error("synthetic morphology: needs at least one wave");
    if (!(options.acceptorFraction >= 0.0 && options.acceptorFraction <= 1.0))
        throw Error("synthetic morphology: acceptor fraction must be in [0, 1]");
    constexpr double kPi = 3.14159265358979323846;
    std::mt19937_64 rng(seed);
    struct Wave {
        double kx, ky, kz, phase;
    };
    std::vector<Wave> waves;
    const double k = 2.0 * kPi / options.wavelength;
    for (int w = 0; w < options.waves; ++w) {
        // Uniform direction on the circle (2D) or the sphere (3D).
        const double angle = 2.0 * kPi * detail::uniform01(rng);
        const double cosPolar = dims.is2D() ? 0.0 : 2.0 * detail::uniform01(rng) - 1.0;
        const double sinPolar = std::sqrt(1.0 - cosPolar * cosPolar);
        waves.push_back({k * sinPolar * std::cos(angle), k * sinPolar * std::sin(angle), k * cosPolar,
                         2.0 * kPi * detail::uniform01(rng)});
    }
    std::vector<double> value(dims.count());
    std::size_t i = 0;
    for (int z = 0; z < dims.nz; ++z)
        for (int y = 0; y < dims.ny; ++y)
            for (int x = 0; x < dims.nx; ++x, ++i) {
                double sum = 0.0;
                for (const auto& w : waves) sum += std::cos(w.kx * x + w.ky * y + w.kz * z + w.phase);
                value[i] = sum;
            }
    // Threshold at the quantile giving the requested acceptor fraction.
    std::vector<double> sorted = value;
    const std::size_t donors =
        std::min(sorted.size(), std::size_t(std::llround((1.0 - options.acceptorFraction) * double(sorted.size()))));
    Volume out(dims, Donor);
    if (donors == sorted.size()) return out;
    std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(donors), sorted.end());
    const double threshold = sorted[donors];
    for (std::size_t j = 0; j < value.size(); ++j) out.labels()[j] = value[j] >= threshold ? Acceptor : Donor;
    out.text["source"] = "synthetic";
    return out;
}

std::vector<Volume> syntheticSet(int count, int size, std::uint64_t seed) {
    if (count < 1 || size < 2) throw Error("synthetic set: needs count >= 1 and size >= 2");
    std::vector<Volume> set;
    for (int i = 0; i < count; ++i) {
        SyntheticOptions options;
        options.acceptorFraction = count > 1 ? 0.35 + 0.3 * double(i) / double(count - 1) : 0.5;
        Volume v = syntheticMorphology(Dims{size, size, 1}, deriveSeed(seed, std::uint64_t(i)), options);
        v.text["sample"] = "synthetic_" + std::to_string(i);
        set.push_back(std::move(v));
    }
    return set;
}

}  // namespace ms::noise
