#include "microstudio/physics/cahn_hilliard.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "fft.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/physics/flory_huggins.hpp"

namespace ms::physics {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr std::size_t kChunk = 8192;  // fixed chunks: sums do not depend on the thread count

// splitmix64: a tiny, fully specified generator (std distributions are not
// portable across standard libraries).
std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
double uniformSigned(std::uint64_t& state) { return double(splitmix64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0; }

double waveNumber(int index, int n) {
    const int m = index <= n / 2 ? index : index - n;
    return 2.0 * kPi * double(m) / double(n);
}

struct Partial {
    double sumF = 0.0, sumC = 0.0, maxChange = 0.0, maxD2f = -std::numeric_limits<double>::infinity();
    double minC = std::numeric_limits<double>::infinity(), maxC = -std::numeric_limits<double>::infinity();
};

}  // namespace

void validate(const CahnHilliardParams& p) {
    auto shown = [](double v) { return fmt::format("{:g}", v); };
    if (p.dims.nx < 2 || p.dims.ny < 2 || p.dims.nz < 1)
        throw Error("simulation grid must be at least 2x2, got " + p.dims.str());
    if (!(p.phi > 0.0 && p.phi < 1.0)) throw Error("phi must lie between 0 and 1 (exclusive), got " + shown(p.phi));
    if (!(p.chi >= 0.0 && std::isfinite(p.chi))) throw Error("chi must be a finite number >= 0, got " + shown(p.chi));
    if (!(p.kappa > 0.0 && std::isfinite(p.kappa))) throw Error("kappa must be > 0, got " + shown(p.kappa));
    if (!(p.mobility > 0.0 && std::isfinite(p.mobility))) throw Error("mobility must be > 0, got " + shown(p.mobility));
    if (!(p.noise >= 0.0 && p.noise < std::min(p.phi, 1.0 - p.phi)))
        throw Error("noise must be >= 0 and keep phi +- noise inside (0, 1) (below " +
                    shown(std::min(p.phi, 1.0 - p.phi)) + "), got " + shown(p.noise));
    if (!(p.logEpsilon > 0.0 && p.logEpsilon < 0.1)) throw Error("logEpsilon must lie in (0, 0.1)");
}

struct CahnHilliardSolver::Impl {
    Impl(const Dims& dims, int threads)
        : fft(dims, dims.count() >= 131072 ? threads : 1),  // threaded FFTs only pay off on large grids
          cells(dims.count()),
          modes(detail::spectrumSize(dims)),
          k2(modes),
          weight(modes),
          spectrum(modes),
          nonlinear(modes),
          trialSpectrum(modes),
          trialNonlinear(modes),
          scratch(modes),
          trialField(cells),
          work(cells),
          threads(threads) {}
    detail::RealFft fft;
    std::size_t cells, modes;
    std::vector<double> k2, weight;  // weight: 2 for modes standing for a conjugate pair, else 1
    detail::ComplexArray spectrum, nonlinear, trialSpectrum, trialNonlinear, scratch;
    detail::RealArray trialField, work;
    int threads;

    // Real field from a spectrum (scratch is clobbered); then f'(c) and its
    // transform, and the reductions of the new field against `previous`.
    Partial evaluate(const detail::ComplexArray& spec, detail::ComplexArray& nonlinearOut, const FloryHuggins& fh,
                     const std::vector<double>* previous) {
        std::memcpy(scratch.data(), spec.data(), sizeof(std::complex<double>) * modes);
        fft.inverse(scratch, trialField);
        const double norm = 1.0 / double(cells);
        const std::size_t chunks = (cells + kChunk - 1) / kChunk;
        std::vector<Partial> partials(chunks);
        auto body = [&](std::size_t chunk) {
            Partial p;
            const std::size_t end = std::min(cells, (chunk + 1) * kChunk);
            for (std::size_t i = chunk * kChunk; i < end; ++i) {
                const double c = trialField[i] * norm;
                trialField[i] = c;
                work[i] = fh.df(c);
                p.sumF += fh.f(c);
                p.sumC += c;
                p.maxD2f = std::max(p.maxD2f, fh.d2f(c));
                p.minC = std::min(p.minC, c);
                p.maxC = std::max(p.maxC, c);
                if (previous) p.maxChange = std::max(p.maxChange, std::abs(c - (*previous)[i]));
            }
            partials[chunk] = p;
        };
        parallelFor(chunks, body, cells >= 65536 ? threads : 1);
        Partial total;
        for (const auto& p : partials) {
            total.sumF += p.sumF;
            total.sumC += p.sumC;
            total.maxChange = std::max(total.maxChange, p.maxChange);
            total.maxD2f = std::max(total.maxD2f, p.maxD2f);
            total.minC = std::min(total.minC, p.minC);
            total.maxC = std::max(total.maxC, p.maxC);
        }
        fft.forward(work, nonlinearOut);
        return total;
    }

    // (1/N) sum |grad c|^2 by Parseval on the unnormalised spectrum.
    double gradientSquaredMean(const detail::ComplexArray& spec) const {
        double sum = 0.0;
        for (std::size_t m = 0; m < modes; ++m) sum += weight[m] * k2[m] * std::norm(spec[m]);
        return sum / (double(cells) * double(cells));
    }
};

CahnHilliardSolver::CahnHilliardSolver(const CahnHilliardParams& params, const StepControl& control, int threads)
    : params_(params), control_(control) {
    validate(params_);
    impl_ = std::make_unique<Impl>(params_.dims, std::max(1, threads));
    const Dims& d = params_.dims;
    std::size_t m = 0;
    const int hx = d.nx / 2 + 1;
    for (int z = 0; z < d.nz; ++z)
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < hx; ++x, ++m) {
                const double kx = waveNumber(x, d.nx), ky = waveNumber(y, d.ny), kz = waveNumber(z, d.nz);
                impl_->k2[m] = kx * kx + ky * ky + kz * kz;
                const bool selfConjugate = x == 0 || (d.nx % 2 == 0 && x == d.nx / 2);
                impl_->weight[m] = selfConjugate ? 1.0 : 2.0;
            }
    std::vector<double> c(d.count());
    std::uint64_t state = params_.seed * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull;
    double noiseMean = 0.0;
    for (auto& v : c) {
        v = params_.noise * uniformSigned(state);
        noiseMean += v;
    }
    noiseMean /= double(c.size());
    for (auto& v : c) v = params_.phi + (v - noiseMean);
    setField(c);
}

CahnHilliardSolver::~CahnHilliardSolver() = default;

void CahnHilliardSolver::setField(const std::vector<double>& c) {
    if (c.size() != impl_->cells) throw Error("field size does not match the grid " + params_.dims.str());
    for (std::size_t i = 0; i < c.size(); ++i) impl_->work[i] = c[i];
    impl_->fft.forward(impl_->work, impl_->spectrum);
    time_ = 0.0;
    steps_ = rejected_ = 0;
    dt_ = control_.dtInitial;
    refreshFromSpectrum();
}

void CahnHilliardSolver::refreshFromSpectrum() {
    const FloryHuggins fh{params_.chi, params_.logEpsilon};
    const Partial p = impl_->evaluate(impl_->spectrum, impl_->nonlinear, fh, nullptr);
    field_.assign(impl_->trialField.data(), impl_->trialField.data() + impl_->cells);
    const double n = double(impl_->cells);
    stats_.mean = p.sumC / n;
    stats_.energy = p.sumF / n + 0.5 * params_.kappa * impl_->gradientSquaredMean(impl_->spectrum);
    stats_.minimum = p.minC;
    stats_.maximum = p.maxC;
    stabilizer_ = control_.stabilizer >= 0.0 ? control_.stabilizer : std::max(0.0, 0.5 * p.maxD2f);
}

std::vector<float> CahnHilliardSolver::fieldAsFloat() const { return std::vector<float>(field_.begin(), field_.end()); }

double CahnHilliardSolver::step(double maxDt) {
    if (!(maxDt > 0.0)) throw Error("time step limit must be > 0");
    Impl& im = *impl_;
    const FloryHuggins fh{params_.chi, params_.logEpsilon};
    const double M = params_.mobility, kappa = params_.kappa, S = stabilizer_;
    const double n = double(im.cells);
    const bool clipped = maxDt < dt_;
    double dt = std::min(dt_, maxDt);
    for (;;) {
        for (std::size_t m = 0; m < im.modes; ++m) {
            const double a = dt * M * im.k2[m];
            im.trialSpectrum[m] =
                (im.spectrum[m] - a * (im.nonlinear[m] - S * im.spectrum[m])) / (1.0 + a * (S + kappa * im.k2[m]));
        }
        const Partial p = im.evaluate(im.trialSpectrum, im.trialNonlinear, fh, &field_);
        const double energy = p.sumF / n + 0.5 * kappa * im.gradientSquaredMean(im.trialSpectrum);
        const double ratio = p.maxChange / control_.maxChange;
        const bool energyRose = energy > stats_.energy + 1e-13 * (1.0 + std::abs(stats_.energy));
        const bool finite = std::isfinite(energy) && std::isfinite(p.maxChange);
        if ((!finite || ratio > 1.0 || (energyRose && control_.rejectEnergyIncrease)) && dt > control_.dtMin) {
            ++rejected_;
            const double factor = !finite ? 0.1 : ratio > 1.0 ? std::clamp(0.8 / ratio, 0.1, 0.5) : 0.5;
            dt = std::max(control_.dtMin, dt * factor);
            continue;
        }
        if (!finite) throw Error("Cahn-Hilliard step diverged at the smallest time step");
        std::swap(im.spectrum, im.trialSpectrum);
        std::swap(im.nonlinear, im.trialNonlinear);
        field_.assign(im.trialField.data(), im.trialField.data() + im.cells);
        stats_.mean = p.sumC / n;
        stats_.energy = energy;
        stats_.minimum = p.minC;
        stats_.maximum = p.maxC;
        stabilizer_ = control_.stabilizer >= 0.0 ? control_.stabilizer : std::max(0.0, 0.5 * p.maxD2f);
        time_ += dt;
        ++steps_;
        const double grow = ratio > 0.0 ? std::clamp(0.9 / ratio, 0.5, control_.growth) : control_.growth;
        // A step shortened to land on a snapshot time says nothing about the step size the dynamics allow.
        if (!(clipped && dt == maxDt)) dt_ = std::clamp(dt * grow, control_.dtMin, control_.dtMax);
        return dt;
    }
}

std::complex<double> CahnHilliardSolver::mode(int mx, int my, int mz) const {
    const Dims& d = params_.dims;
    if (mx < 0 || mx > d.nx / 2) throw Error("mode mx must lie in [0, nx/2]");
    const int y = ((my % d.ny) + d.ny) % d.ny, z = ((mz % d.nz) + d.nz) % d.nz;
    return impl_
        ->spectrum[std::size_t(mx) + std::size_t(d.nx / 2 + 1) * (std::size_t(y) + std::size_t(d.ny) * std::size_t(z))];
}

double CahnHilliardSolver::characteristicLength() const {
    double moment0 = 0.0, moment1 = 0.0;
    for (std::size_t m = 1; m < impl_->modes; ++m) {
        if (impl_->k2[m] == 0.0) continue;
        const double s = impl_->weight[m] * std::norm(impl_->spectrum[m]);
        moment0 += s;
        moment1 += s * std::sqrt(impl_->k2[m]);
    }
    if (moment1 <= 0.0) return std::numeric_limits<double>::infinity();  // a uniform field
    return 2.0 * kPi * moment0 / moment1;
}

namespace {
constexpr char kStateMagic[8] = {'M', 'S', 'C', 'H', 'S', 'T', '0', '1'};

template <typename T>
void put(std::string& out, const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
template <typename T>
T take(const std::string& in, std::size_t& pos) {
    if (pos + sizeof(T) > in.size()) throw Error("solver state is truncated");
    T v;
    std::memcpy(&v, in.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
}
}  // namespace

std::string CahnHilliardSolver::saveState() const {
    std::string out(kStateMagic, sizeof(kStateMagic));
    const auto& p = params_;
    put(out, p.dims.nx), put(out, p.dims.ny), put(out, p.dims.nz);
    put(out, p.phi), put(out, p.chi), put(out, p.kappa), put(out, p.mobility), put(out, p.noise), put(out, p.seed),
        put(out, p.logEpsilon);
    put(out, time_), put(out, dt_), put(out, steps_), put(out, rejected_);
    out.append(reinterpret_cast<const char*>(impl_->spectrum.data()), sizeof(std::complex<double>) * impl_->modes);
    return out;
}

void CahnHilliardSolver::restoreState(const std::string& bytes) {
    if (bytes.size() < sizeof(kStateMagic) || std::memcmp(bytes.data(), kStateMagic, sizeof(kStateMagic)) != 0)
        throw Error("not a Cahn-Hilliard solver state");
    std::size_t pos = sizeof(kStateMagic);
    const auto& p = params_;
    const int nx = take<int>(bytes, pos), ny = take<int>(bytes, pos), nz = take<int>(bytes, pos);
    const double phi = take<double>(bytes, pos), chi = take<double>(bytes, pos), kappa = take<double>(bytes, pos),
                 mobility = take<double>(bytes, pos), noise = take<double>(bytes, pos);
    const auto seed = take<std::uint64_t>(bytes, pos);
    const double eps = take<double>(bytes, pos);
    if (Dims{nx, ny, nz} != p.dims || phi != p.phi || chi != p.chi || kappa != p.kappa || mobility != p.mobility ||
        noise != p.noise || seed != p.seed || eps != p.logEpsilon)
        throw Error("solver state was saved with different parameters");
    const double time = take<double>(bytes, pos), dt = take<double>(bytes, pos);
    const long steps = take<long>(bytes, pos), rejected = take<long>(bytes, pos);
    if (bytes.size() - pos != sizeof(std::complex<double>) * impl_->modes)
        throw Error("solver state has the wrong size");
    std::memcpy(impl_->spectrum.data(), bytes.data() + pos, bytes.size() - pos);
    time_ = time, dt_ = dt, steps_ = steps, rejected_ = rejected;
    refreshFromSpectrum();
}

}  // namespace ms::physics
