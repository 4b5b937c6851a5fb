#include "microstudio/core/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "microstudio/core/error.hpp"

namespace ms {

Volume syntheticMicrostructure(Dims dims, const SyntheticOptions& o) {
    if (o.donorFraction < 0 || o.mixedFraction < 0 || o.donorFraction + o.mixedFraction > 1)
        throw Error("synthetic microstructure: phase fractions must be >= 0 and sum to at most 1");
    if (o.wavelength <= 0 || o.waves <= 0) throw Error("synthetic microstructure: wavelength and waves must be > 0");
    Volume v(dims);
    std::mt19937_64 rng(o.seed);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    constexpr double kTwoPi = 6.283185307179586;
    // Integer wave numbers per axis keep the field periodic in the box.
    struct Wave {
        double kx, ky, kz, phase;
    };
    std::vector<Wave> waves;
    const double k0 = kTwoPi / o.wavelength;
    // Boxes smaller than the wavelength have few waves in the band: widen it after many tries.
    for (long attempt = 0; int(waves.size()) < o.waves; ++attempt) {
        const double mx = std::round((unit(rng) * 2 - 1) * dims.nx / o.wavelength * 1.5);
        const double my = std::round((unit(rng) * 2 - 1) * dims.ny / o.wavelength * 1.5);
        const double mz = dims.nz > 1 ? std::round((unit(rng) * 2 - 1) * dims.nz / o.wavelength * 1.5) : 0.0;
        Wave w{kTwoPi * mx / dims.nx, kTwoPi * my / dims.ny, kTwoPi * mz / dims.nz, kTwoPi * unit(rng)};
        const double k = std::sqrt(w.kx * w.kx + w.ky * w.ky + w.kz * w.kz);
        if ((k > 0.6 * k0 && k < 1.5 * k0) || (attempt > 10000 && k > 0)) waves.push_back(w);
        if (attempt > 20000) waves.push_back(Wave{kTwoPi / dims.nx, 0, 0, 0});
    }
    std::vector<float> field(v.size());
    for (int z = 0; z < dims.nz; ++z)
        for (int y = 0; y < dims.ny; ++y)
            for (int x = 0; x < dims.nx; ++x) {
                double s = 0;
                for (const Wave& w : waves) s += std::cos(w.kx * x + w.ky * y + w.kz * z + w.phase);
                field[v.index(x, y, z)] = float(s);
            }
    const auto [lo, hi] = std::minmax_element(field.begin(), field.end());
    const float minV = *lo, range = std::max(*hi - *lo, 1e-12f);
    for (float& f : field) f = (f - minV) / range;
    std::vector<float> sorted = field;
    std::sort(sorted.begin(), sorted.end());
    auto quantile = [&](double q) {
        const std::size_t i = std::min(sorted.size() - 1, std::size_t(q * double(sorted.size())));
        return sorted[i];
    };
    const float donorCut = quantile(o.donorFraction);
    const float mixedCut = quantile(o.donorFraction + o.mixedFraction);
    for (std::size_t i = 0; i < field.size(); ++i)
        v.labels()[i] = field[i] < donorCut ? Donor : (field[i] < mixedCut ? Mixed : Acceptor);
    v.setField(std::move(field));
    v.text["source"] = "synthetic";
    return v;
}

}  // namespace ms
