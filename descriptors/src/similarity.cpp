// Nearest-reference disagreement by FFT cross-correlation, interface density
// and the memorisation summary built on them.
#include "microstudio/descriptors/similarity.hpp"

#include <fftw3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <memory>

#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/descriptors/descriptors.hpp"

namespace ms::descriptors {

namespace {

// ---- FFTW resources ------------------------------------------------------

struct FftwFree {
    void operator()(void* p) const { fftw_free(p); }
};
struct PlanDestroy {
    void operator()(fftw_plan_s* p) const { fftw_destroy_plan(p); }
};
using Plan = std::unique_ptr<fftw_plan_s, PlanDestroy>;
template <class T>
using Buffer = std::unique_ptr<T[], FftwFree>;

// fftw_malloc'd arrays: every array a plan runs on has the planner's alignment.
Buffer<double> realBuffer(std::size_t n) { return Buffer<double>(fftw_alloc_real(n)); }
Buffer<fftw_complex> complexBuffer(std::size_t n) { return Buffer<fftw_complex>(fftw_alloc_complex(n)); }

// The two transforms, planned once on the calling thread (FFTW's planner is
// not thread-safe; executing plans on new arrays is).
class Transforms {
public:
    explicit Transforms(const Dims& d) : dims_(d), sliceSpectrum_(std::size_t(d.ny) * std::size_t(d.nx / 2 + 1)) {
        auto real = realBuffer(d.count());
        auto spectrum = complexBuffer(spectrumSize());
        const int n[2] = {d.ny, d.nx};  // row-major, x fastest
        // Every z-slice transformed in 2D (x/y only: no correlation along z).
        forward_.reset(fftw_plan_many_dft_r2c(2, n, d.nz, real.get(), nullptr, 1, d.nx * d.ny, spectrum.get(), nullptr,
                                              1, int(sliceSpectrum_), FFTW_ESTIMATE));
        inverse_.reset(fftw_plan_dft_c2r_2d(d.ny, d.nx, spectrum.get(), real.get(), FFTW_ESTIMATE));
        if (!forward_ || !inverse_) throw Error("nearestDisagreement: FFTW could not plan " + d.str());
    }
    std::size_t sliceSpectrum() const { return sliceSpectrum_; }
    std::size_t spectrumSize() const { return sliceSpectrum_ * std::size_t(dims_.nz); }
    void forward(double* in, fftw_complex* out) const { fftw_execute_dft_r2c(forward_.get(), in, out); }
    // Destroys `in` (c2r does).
    void inverse(fftw_complex* in, double* out) const { fftw_execute_dft_c2r(inverse_.get(), in, out); }

private:
    Dims dims_;
    std::size_t sliceSpectrum_;
    Plan forward_, inverse_;
};

// ---- phases ----------------------------------------------------------------

// Which phase indicators to correlate. With at most two phases in play one
// indicator suffices: [q==r] = 1 - a_q - a_r + 2 a_q a_r for the indicator a.
struct PhasePlan {
    std::vector<std::uint8_t> phases;
    bool twoPhase = false;
};

void checkVolumes(const std::vector<Volume>& volumes, const Dims& dims, const char* what, std::array<bool, 3>& seen) {
    for (const auto& v : volumes) {
        if (v.dims() != dims)
            throw Error(std::string("nearestDisagreement: ") + what + " volume is " + v.dims().str() +
                        ", the first query is " + dims.str() + " (all volumes need the same dims)");
        for (std::uint8_t l : v.labels()) {
            if (l >= kMaxPhases) throw Error("nearestDisagreement: unknown label " + std::to_string(l));
            seen[l] = true;
        }
    }
}

PhasePlan planPhases(const std::array<bool, 3>& seen) {
    PhasePlan plan;
    for (std::uint8_t p = 0; p < kMaxPhases; ++p)
        if (seen[p]) plan.phases.push_back(p);
    if (plan.phases.empty()) plan.phases.push_back(Donor);
    plan.twoPhase = plan.phases.size() <= 2;
    if (plan.twoPhase) plan.phases.resize(1);
    return plan;
}

// Indicator spectra of one volume: one spectrum per correlated phase.
struct Spectra {
    std::vector<Buffer<fftw_complex>> phase;
    long count = 0;  // voxels of the first correlated phase (two-phase offset)
};

Spectra transform(const Volume& v, const PhasePlan& plan, const Transforms& t, double* real) {
    Spectra s;
    const auto& labels = v.labels();
    for (std::uint8_t p : plan.phases) {
        long count = 0;
        for (std::size_t i = 0; i < labels.size(); ++i) {
            real[i] = labels[i] == p ? 1.0 : 0.0;
            count += labels[i] == p;
        }
        if (s.phase.empty()) s.count = count;
        s.phase.push_back(complexBuffer(t.spectrumSize()));
        t.forward(real, s.phase.back().get());
    }
    return s;
}

// ---- correlation -----------------------------------------------------------

// References handled together: each query spectrum is read from memory once
// per block rather than once per reference (less memory traffic on many cores).
constexpr std::size_t kBlock = 4;

// acc[b][k] += sum over z of conj(q[z][k]) r[b][z][k]: the per-slice
// cross-correlations summed over z, still in Fourier space. z outermost so a
// slice of every operand stays in cache.
void accumulate(const fftw_complex* q, const std::vector<const fftw_complex*>& r, std::vector<double*>& acc,
                std::size_t slice, int nz) {
    for (int z = 0; z < nz; ++z) {
        const double* qz = &q[std::size_t(z) * slice][0];
        for (std::size_t b = 0; b < r.size(); ++b) {
            const double* rz = &r[b][std::size_t(z) * slice][0];
            double* a = acc[b];
            for (std::size_t k = 0; k < 2 * slice; k += 2) {
                a[k] += qz[k] * rz[k] + qz[k + 1] * rz[k + 1];
                a[k + 1] += qz[k] * rz[k + 1] - qz[k + 1] * rz[k];
            }
        }
    }
}

struct Best {
    long agreement = -1;  // voxels that agree
    int symmetry = 0, dx = 0, dy = 0;
};

// Work space of one block of references.
struct BlockBuffers {
    std::vector<Buffer<fftw_complex>> acc;
    Buffer<double> correlation;
};

// Best shift of one transformed query against each reference of a block.
void bestShifts(const Spectra& query, const std::vector<Spectra>& refs, const PhasePlan& plan, const Transforms& t,
                const Dims& d, int symmetry, BlockBuffers& buffers, std::vector<Best*>& best) {
    const std::size_t slice = t.sliceSpectrum();
    std::vector<double*> acc;
    for (std::size_t b = 0; b < refs.size(); ++b) {
        acc.push_back(&buffers.acc[b][0][0]);
        std::fill(acc.back(), acc.back() + 2 * slice, 0.0);
    }
    for (std::size_t p = 0; p < plan.phases.size(); ++p) {
        std::vector<const fftw_complex*> r;
        for (const auto& ref : refs) r.push_back(ref.phase[p].get());
        accumulate(query.phase[p].get(), r, acc, slice, d.nz);
    }
    const double scale = (plan.twoPhase ? 2.0 : 1.0) / (double(d.nx) * double(d.ny));  // FFTW does not normalise
    for (std::size_t b = 0; b < refs.size(); ++b) {
        t.inverse(buffers.acc[b].get(), buffers.correlation.get());
        const double offset = plan.twoPhase ? double(long(d.count()) - query.count - refs[b].count) : 0.0;
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) {
                // Counts are integers: rounding removes the FFT's round-off.
                const double c = buffers.correlation[std::size_t(y) * std::size_t(d.nx) + std::size_t(x)];
                const long agree = std::lround(offset + scale * c);
                if (agree > best[b]->agreement) *best[b] = {agree, symmetry, x, y};
            }
    }
}

// Spectra of every symmetry of every query in [first, last).
std::vector<std::vector<Spectra>> querySpectra(const std::vector<Volume>& queries, std::size_t first, std::size_t last,
                                               const PhasePlan& plan, const Transforms& t, int symmetries) {
    std::vector<std::vector<Spectra>> out(last - first);
    parallelFor(out.size(), [&](std::size_t i) {
        auto real = realBuffer(queries[first + i].size());
        for (int s = 0; s < symmetries; ++s)
            out[i].push_back(transform(applySymmetry(queries[first + i], s), plan, t, real.get()));
    });
    return out;
}

// Keeps the query spectra of one chunk under about 512 MB.
std::size_t chunkSize(const Transforms& t, const PhasePlan& plan, int symmetries) {
    const double bytes = double(t.spectrumSize()) * sizeof(fftw_complex) * double(plan.phases.size() * symmetries);
    return std::size_t(std::max(1.0, std::floor(512e6 / bytes)));
}

}  // namespace

int symmetryCount(const Dims& dims) { return dims.nx == dims.ny ? 8 : 4; }

Volume applySymmetry(const Volume& volume, int symmetry) {
    const Dims d = volume.dims();
    if (symmetry < 0 || symmetry >= symmetryCount(d))
        throw Error("applySymmetry: symmetry " + std::to_string(symmetry) + " is not one of " + d.str());
    Volume out(d);
    out.spacing = volume.spacing;
    const bool swap = symmetry & 4, mirrorX = symmetry & 1, mirrorY = symmetry & 2;
    for (int z = 0; z < d.nz; ++z)
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) {
                int u = swap ? y : x, v = swap ? x : y;
                if (mirrorX) u = d.nx - 1 - u;
                if (mirrorY) v = d.ny - 1 - v;
                out.at(x, y, z) = volume.at(u, v, z);
            }
    return out;
}

std::vector<NearestMatch> nearestDisagreement(const std::vector<Volume>& queries, const std::vector<Volume>& references,
                                              ProgressToken* progress) {
    std::vector<NearestMatch> result(queries.size());
    if (queries.empty()) return result;
    const Dims d = queries.front().dims();
    if (d.count() == 0) throw Error("nearestDisagreement: the volumes are empty");
    std::array<bool, 3> seen{};
    checkVolumes(queries, d, "a query", seen);
    checkVolumes(references, d, "a reference", seen);
    if (references.empty()) return result;
    const PhasePlan plan = planPhases(seen);
    const Transforms t(d);
    const int symmetries = symmetryCount(d);
    const std::size_t chunk = chunkSize(t, plan, symmetries);
    const std::size_t chunks = (queries.size() + chunk - 1) / chunk;
    std::atomic<std::size_t> done{0};
    for (std::size_t first = 0; first < queries.size(); first += chunk) {
        const std::size_t last = std::min(queries.size(), first + chunk);
        const auto spectra = querySpectra(queries, first, last, plan, t, symmetries);
        // best[r][q]: per reference, then reduced in reference order (ties keep the lowest index).
        std::vector<std::vector<Best>> best(references.size(), std::vector<Best>(last - first));
        const std::size_t blocks = (references.size() + kBlock - 1) / kBlock;
        parallelFor(blocks, [&](std::size_t block) {
            const std::size_t r0 = block * kBlock, r1 = std::min(references.size(), r0 + kBlock);
            auto real = realBuffer(d.count());
            BlockBuffers buffers{{}, realBuffer(std::size_t(d.nx) * std::size_t(d.ny))};
            std::vector<Spectra> refs;
            for (std::size_t r = r0; r < r1; ++r) {
                refs.push_back(transform(references[r], plan, t, real.get()));
                buffers.acc.push_back(complexBuffer(t.sliceSpectrum()));
            }
            for (std::size_t q = 0; q < spectra.size(); ++q) {
                std::vector<Best*> blockBest;
                for (std::size_t r = r0; r < r1; ++r) blockBest.push_back(&best[r][q]);
                for (int s = 0; s < symmetries; ++s)
                    bestShifts(spectra[q][std::size_t(s)], refs, plan, t, d, s, buffers, blockBest);
            }
            const std::size_t finished = done += r1 - r0;
            if (progress) progress->report(double(finished) / double(references.size() * chunks), "nearest reference");
        });
        const double n = double(d.count());
        for (std::size_t q = first; q < last; ++q)
            for (std::size_t r = 0; r < references.size(); ++r) {
                const Best& b = best[r][q - first];
                const double disagreement = (n - double(b.agreement)) / n;
                if (result[q].index < 0 || disagreement < result[q].disagreement)
                    result[q] = {long(r), disagreement, b.symmetry, b.dx, b.dy};
            }
    }
    return result;
}

double interfaceDensity(const Volume& volume) {
    const Dims d = volume.dims();
    std::size_t pairs = 0, differ = 0;
    auto pair = [&](std::uint8_t a, std::uint8_t b) {
        ++pairs;
        differ += a != b;
    };
    // x and y wrap (the sides are periodic); a side of 1 has no pairs.
    for (int z = 0; z < d.nz; ++z)
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) {
                const std::uint8_t l = volume.at(x, y, z);
                if (d.nx > 1) pair(l, volume.at((x + 1) % d.nx, y, z));
                if (d.ny > 1) pair(l, volume.at(x, (y + 1) % d.ny, z));
                if (z + 1 < d.nz) pair(l, volume.at(x, y, z + 1));
            }
    return pairs ? double(differ) / double(pairs) : 0.0;
}

Spread spread(std::vector<double> values) {
    const double nan = std::nan("");
    if (values.empty()) return {nan, nan, nan, nan, nan, nan};
    std::sort(values.begin(), values.end());
    auto quantile = [&](double p) {
        const double h = p * double(values.size() - 1);
        const std::size_t lo = std::size_t(std::floor(h)), hi = std::min(lo + 1, values.size() - 1);
        return values[lo] + (h - double(lo)) * (values[hi] - values[lo]);
    };
    double mean = 0.0;
    for (double v : values) mean += v / double(values.size());
    return {values.front(), quantile(0.25), quantile(0.5), quantile(0.75), values.back(), mean};
}

namespace {

// Mean interface density and mean Donor S2 curve of a set (NaN / empty when empty).
void describeSet(const std::vector<Volume>& volumes, double& interface, std::vector<double>& s2) {
    std::vector<double> density(volumes.size());
    std::vector<std::vector<double>> curves(volumes.size());
    parallelFor(volumes.size(), [&](std::size_t i) {
        density[i] = interfaceDensity(volumes[i]);
        curves[i] = twoPointCorrelation(volumes[i])[Donor];
    });
    interface = spread(density).mean;
    s2.assign(curves.empty() ? 0 : curves.front().size(), 0.0);
    for (const auto& c : curves)
        for (std::size_t r = 0; r < s2.size(); ++r) s2[r] += c[r] / double(curves.size());
}

SetSimilarity similarity(const std::vector<Volume>& volumes, std::vector<NearestMatch> nearest) {
    SetSimilarity s;
    std::vector<double> values;
    for (const auto& m : nearest) values.push_back(m.disagreement);
    s.nearest = std::move(nearest);
    s.disagreement = spread(values);
    describeSet(volumes, s.meanInterfaceDensity, s.meanS2Donor);
    return s;
}

}  // namespace

Memorisation memorisation(const std::vector<Volume>& generated, const std::vector<Volume>& heldOut,
                          const std::vector<Volume>& training, ProgressToken* progress,
                          const std::vector<Volume>* roundTrips) {
    // One search for all sets: the training spectra are computed once.
    std::vector<Volume> queries(generated);
    queries.insert(queries.end(), heldOut.begin(), heldOut.end());
    if (roundTrips) queries.insert(queries.end(), roundTrips->begin(), roundTrips->end());
    auto nearest = nearestDisagreement(queries, training, progress);
    const auto heldOutBegin = nearest.begin() + long(generated.size());
    const auto roundTripBegin = heldOutBegin + long(heldOut.size());
    Memorisation m;
    m.generated = similarity(generated, {nearest.begin(), heldOutBegin});
    m.heldOut = similarity(heldOut, {heldOutBegin, roundTripBegin});
    if (roundTrips) m.roundTrip = similarity(*roundTrips, {roundTripBegin, nearest.end()});
    describeSet(training, m.trainingInterfaceDensity, m.trainingS2Donor);
    const auto& g = m.generated.meanS2Donor;
    const auto& h = m.heldOut.meanS2Donor;
    double squares = 0.0;
    for (std::size_t r = 0; r < std::min(g.size(), h.size()); ++r) squares += (g[r] - h[r]) * (g[r] - h[r]);
    m.s2RmsDifference = g.empty() || g.size() != h.size() ? std::nan("") : std::sqrt(squares / double(g.size()));
    return m;
}

}  // namespace ms::descriptors
