#include "microstudio/noise/noise.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <sstream>

#include "internal.hpp"
#include "microstudio/core/error.hpp"

namespace ms::noise {

namespace {

constexpr double kPi = 3.14159265358979323846;

std::string formatNumber(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

// Normalised coordinate of index i on an axis of n voxels: i / (n - 1), so
// both edges are at 0 and 1 (numpy's linspace(0, 1, n)).
double normalisedCoordinate(int i, int n) { return n > 1 ? double(i) / double(n - 1) : 0.0; }

// A two-phase copy of `clean` without its field (the noisy labels no longer
// match a continuous field), keeping spacing, attributes and text.
Volume noisyCopy(const Volume& clean) {
    Volume out = clean;
    out.clearField();
    return out;
}

}  // namespace

const char* noiseTypeName(NoiseType type) {
    switch (type) {
        case NoiseType::SaltPepper:
            return "salt-pepper";
        case NoiseType::Grid:
            return "grid";
        case NoiseType::Frequency:
            return "frequency";
    }
    return "?";
}

NoiseType parseNoiseType(const std::string& text) {
    if (text == "salt-pepper" || text == "salt-and-pepper" || text == "sp" || text == "salt_pepper")
        return NoiseType::SaltPepper;
    if (text == "grid") return NoiseType::Grid;
    if (text == "frequency" || text == "freq") return NoiseType::Frequency;
    throw Error("unknown noise type '" + text + "' (use salt-pepper, grid or frequency)");
}

std::vector<NoiseType> allNoiseTypes() { return {NoiseType::SaltPepper, NoiseType::Grid, NoiseType::Frequency}; }

void NoiseModel::validate() const {
    auto check = [](bool ok, const std::string& what) {
        if (!ok) throw Error(what);
    };
    switch (type) {
        case NoiseType::SaltPepper:
            check(flip_probability >= 0.0 && flip_probability <= 1.0,
                  "flip_probability must be in [0, 1], got " + formatNumber(flip_probability));
            break;
        case NoiseType::Grid:
            check(std::isfinite(grid_amplitude), "grid_amplitude must be a finite number");
            check(std::isfinite(grid_frequency) && grid_frequency >= 0.0,
                  "grid_frequency must be >= 0, got " + formatNumber(grid_frequency));
            check(std::isfinite(grid_rotation), "grid_rotation must be a finite number of degrees");
            break;
        case NoiseType::Frequency:
            check(rings >= 0 && rings <= 10000, "rings must be in 0..10000, got " + std::to_string(rings));
            check(mask_intensity >= 0.0 && mask_intensity <= 1.0,
                  "mask_intensity must be in [0, 1], got " + formatNumber(mask_intensity));
            check(mask_width >= 0.0 && mask_width <= 2.0,
                  "mask_width must be in [0, 2], got " + formatNumber(mask_width));
            break;
    }
}

std::map<std::string, double> NoiseModel::parameters() const {
    switch (type) {
        case NoiseType::SaltPepper:
            return {{"flip_probability", flip_probability}};
        case NoiseType::Grid:
            return {{"grid_amplitude", grid_amplitude},
                    {"grid_frequency", grid_frequency},
                    {"grid_rotation", grid_rotation}};
        case NoiseType::Frequency:
            return {{"rings", double(rings)}, {"mask_intensity", mask_intensity}, {"mask_width", mask_width}};
    }
    return {};
}

std::string NoiseModel::describe() const {
    std::ostringstream out;
    out << noiseTypeName(type) << '(';
    bool first = true;
    for (const auto& [name, value] : parameters()) {
        out << (first ? "" : ", ") << name << '=' << value;
        first = false;
    }
    out << ')';
    return out.str();
}

void requireTwoPhase(const Volume& volume, const std::string& what) {
    if (volume.size() == 0) throw Error(what + ": empty volume");
    for (auto label : volume.labels())
        if (label > Acceptor)
            throw Error(what + ": needs a two-phase image (labels 0 = D and 1 = A only), found label " +
                        std::to_string(int(label)));
}

// --- III.A.1 salt and pepper ------------------------------------------------

Volume addSaltPepper(const Volume& clean, double flip_probability, std::uint64_t seed) {
    requireTwoPhase(clean, "salt-pepper noise");
    NoiseModel{NoiseType::SaltPepper, flip_probability}.validate();
    Volume out = noisyCopy(clean);
    std::mt19937_64 rng(seed);
    for (auto& label : out.labels()) {
        const int n = detail::uniform01(rng) < flip_probability ? 1 : 0;  // N_sp ~ Bernoulli(p)
        const int i = label;
        label = std::uint8_t(i * (1 - n) + (1 - i) * n);
    }
    return out;
}

// --- III.A.2 grid -----------------------------------------------------------

std::vector<double> gridPattern(const Dims& dims, double grid_amplitude, double grid_frequency,
                                double grid_rotation_degrees) {
    const double theta = grid_rotation_degrees * kPi / 180.0;
    const double c = std::cos(theta), s = std::sin(theta);
    const double w = 2.0 * kPi * grid_frequency;
    std::vector<double> pattern(dims.count());
    std::size_t i = 0;
    for (int iz = 0; iz < dims.nz; ++iz) {
        const double zFactor = dims.nz > 1 ? std::sin(w * normalisedCoordinate(iz, dims.nz)) : 1.0;
        for (int iy = 0; iy < dims.ny; ++iy) {
            const double yc = normalisedCoordinate(iy, dims.ny) - 0.5;
            for (int ix = 0; ix < dims.nx; ++ix, ++i) {
                const double xc = normalisedCoordinate(ix, dims.nx) - 0.5;
                // Standard rotation about the centre (0.5, 0.5).
                const double xr = c * xc - s * yc + 0.5;
                const double yr = s * xc + c * yc + 0.5;
                const double xFactor = dims.nx > 1 ? std::sin(w * xr) : 1.0;
                const double yFactor = dims.ny > 1 ? std::sin(w * yr) : 1.0;
                pattern[i] = grid_amplitude * xFactor * yFactor * zFactor;
            }
        }
    }
    return pattern;
}

Volume addGrid(const Volume& clean, double grid_amplitude, double grid_frequency, double grid_rotation_degrees) {
    requireTwoPhase(clean, "grid noise");
    NoiseModel model;
    model.type = NoiseType::Grid;
    model.grid_amplitude = grid_amplitude;
    model.grid_frequency = grid_frequency;
    model.grid_rotation = grid_rotation_degrees;
    model.validate();
    const auto pattern = gridPattern(clean.dims(), grid_amplitude, grid_frequency, grid_rotation_degrees);
    Volume out = noisyCopy(clean);
    auto& labels = out.labels();
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const double temp = double(labels[i]) + pattern[i];  // I_temp = I + P_g
        labels[i] = temp > 0.5 ? Acceptor : Donor;
    }
    return out;
}

// --- III.A.3 frequency ------------------------------------------------------

std::vector<double> normalisedFrequencyDistance(const Dims& dims) {
    const int cx = dims.nx / 2, cy = dims.ny / 2, cz = dims.nz / 2;
    const double dMax = std::sqrt(double(cx) * cx + double(cy) * cy + double(cz) * cz);
    std::vector<double> distance(dims.count(), 0.0);
    std::size_t i = 0;
    for (int z = 0; z < dims.nz; ++z)
        for (int y = 0; y < dims.ny; ++y)
            for (int x = 0; x < dims.nx; ++x, ++i) {
                const double dx = x - cx, dy = y - cy, dz = z - cz;
                // A 1x1(x1) spectrum has d_max = 0: its only voxel is the centre.
                distance[i] = dMax > 0.0 ? std::sqrt(dx * dx + dy * dy + dz * dz) / dMax : 0.0;
            }
    return distance;
}

std::vector<double> ringMask(const Dims& dims, int rings, double mask_intensity, double mask_width) {
    NoiseModel model;
    model.type = NoiseType::Frequency;
    model.rings = rings;
    model.mask_intensity = mask_intensity;
    model.mask_width = mask_width;
    model.validate();
    auto mask = normalisedFrequencyDistance(dims);
    for (double& m : mask) {
        const double d = m;
        m = 1.0;
        for (int k = 0; k < rings; ++k) {
            const double rk = double(k + 1) / double(rings + 1);
            if (std::abs(d - rk) < mask_width / 2.0) {
                m = 1.0 - mask_intensity;
                break;
            }
        }
    }
    return mask;
}

namespace {

// The DFT of a volume's labels, unshifted (FFTW order).
std::vector<std::complex<double>> labelSpectrum(const Volume& volume) {
    std::vector<std::complex<double>> spectrum(volume.size());
    for (std::size_t i = 0; i < spectrum.size(); ++i) spectrum[i] = double(volume.labels()[i]);
    detail::dft(spectrum, volume.dims(), false);
    return spectrum;
}

// Calls f(i, shifted) for every unshifted spectrum index i with the index of
// the same frequency in the shifted (centred) layout: (k + n/2) mod n on
// every axis (numpy's fftshift convention).
template <class F>
void forEachShifted(const Volume& volume, F&& f) {
    const Dims& dims = volume.dims();
    std::size_t i = 0;
    for (int z = 0; z < dims.nz; ++z) {
        const int sz = (z + dims.nz / 2) % dims.nz;
        for (int y = 0; y < dims.ny; ++y) {
            const int sy = (y + dims.ny / 2) % dims.ny;
            for (int x = 0; x < dims.nx; ++x, ++i) f(i, volume.index((x + dims.nx / 2) % dims.nx, sy, sz));
        }
    }
}

}  // namespace

double dominantFrequencyDistance(const Volume& image) {
    requireTwoPhase(image, "dominant frequency");
    const Dims& dims = image.dims();
    const double dMax = std::sqrt(double(dims.nx / 2) * (dims.nx / 2) + double(dims.ny / 2) * (dims.ny / 2) +
                                  double(dims.nz / 2) * (dims.nz / 2));
    if (dMax <= 0.0) return 0.0;
    const auto spectrum = labelSpectrum(image);
    const auto distance = normalisedFrequencyDistance(dims);
    // Power per band of one index unit (a ring of the radial power spectrum).
    std::vector<double> bandPower(std::size_t(std::ceil(dMax)) + 2, 0.0);
    forEachShifted(image, [&](std::size_t i, std::size_t shifted) {
        bandPower[std::size_t(std::lround(distance[shifted] * dMax))] += std::norm(spectrum[i]);
    });
    const auto peak = std::max_element(bandPower.begin() + 1, bandPower.end());
    if (*peak <= 1e-9 * bandPower[0]) return 0.0;  // constant: all power at the zero frequency
    return double(peak - bandPower.begin()) / dMax;
}

int ringsReaching(double distance) {
    if (!(distance > 0.0)) return 1;
    return int(std::max(1L, std::lround(1.0 / distance - 1.0)));
}

FrequencyResult addFrequencyNoiseDetailed(const Volume& clean, int rings, double mask_intensity, double mask_width) {
    requireTwoPhase(clean, "frequency noise");
    const Dims& dims = clean.dims();
    const auto mask = ringMask(dims, rings, mask_intensity, mask_width);

    auto spectrum = labelSpectrum(clean);
    // Multiplying the shifted spectrum by M and shifting back is multiplying
    // the unshifted spectrum at each index by M at its shifted index.
    forEachShifted(clean, [&](std::size_t i, std::size_t shifted) { spectrum[i] *= mask[shifted]; });
    detail::dft(spectrum, dims, true);

    FrequencyResult result;
    auto& image = result.filtered;
    image.resize(spectrum.size());
    const double scale = 1.0 / double(spectrum.size());  // FFTW's backward transform is unnormalised
    for (std::size_t j = 0; j < image.size(); ++j) image[j] = spectrum[j].real() * scale;

    // Normalise: min-max to [0, 1], then clip (a no-op after min-max except
    // for rounding, kept because the paper names both steps). A constant
    // image has no range to stretch and is only clipped.
    const auto [lo, hi] = std::minmax_element(image.begin(), image.end());
    const double minValue = *lo, range = *hi - *lo;
    for (double& v : image) {
        if (range > 1e-12) v = (v - minValue) / range;
        v = std::clamp(v, 0.0, 1.0);
    }

    result.noisy = noisyCopy(clean);
    auto& labels = result.noisy.labels();
    for (std::size_t j = 0; j < labels.size(); ++j) labels[j] = image[j] > 0.5 ? Acceptor : Donor;
    return result;
}

Volume addFrequencyNoise(const Volume& clean, int rings, double mask_intensity, double mask_width) {
    return addFrequencyNoiseDetailed(clean, rings, mask_intensity, mask_width).noisy;
}

// --- Applying ---------------------------------------------------------------

namespace {

Volume applyModel(const Volume& clean, const NoiseModel& model, std::uint64_t seed) {
    model.validate();
    switch (model.type) {
        case NoiseType::SaltPepper:
            return addSaltPepper(clean, model.flip_probability, seed);
        case NoiseType::Grid:
            return addGrid(clean, model.grid_amplitude, model.grid_frequency, model.grid_rotation);
        case NoiseType::Frequency:
            return addFrequencyNoise(clean, model.rings, model.mask_intensity, model.mask_width);
    }
    throw Error("unknown noise type");
}

}  // namespace

Volume applyNoise(const Volume& clean, const NoiseModel& model, std::uint64_t seed) {
    return applyNoise(clean, NoiseChain{model}, seed);
}

Volume applyNoise(const Volume& clean, const NoiseChain& chain, std::uint64_t seed) {
    if (chain.empty()) throw Error("noise: no noise model given");
    // A single model uses `seed` itself, so `noise apply --seed S` reproduces
    // addSaltPepper(image, p, S).
    Volume out = chain.size() == 1 ? applyModel(clean, chain[0], seed) : clean;
    if (chain.size() > 1)
        for (std::size_t step = 0; step < chain.size(); ++step)
            out = applyModel(out, chain[step], deriveSeed(seed, step));

    std::string names;
    std::map<std::string, int> seen;
    for (const auto& model : chain) {
        names += (names.empty() ? "" : "+") + std::string(noiseTypeName(model.type));
        for (const auto& [name, value] : model.parameters()) {
            const int count = ++seen[name];
            out.attributes[count == 1 ? name : name + "_" + std::to_string(count)] = value;
        }
    }
    out.text["noise"] = names;
    out.attributes["noise_seed"] = double(seed);  // exact up to 2^53; the text copy is always exact
    out.text["noise_seed"] = std::to_string(seed);
    return out;
}

}  // namespace ms::noise
