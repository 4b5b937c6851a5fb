// Generation measures and line plots (torch-free).
#include "microstudio/ml/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/io/io.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif

namespace ms::ml {

namespace {
// The q-quantile of sorted, non-empty values, linearly interpolated.
double sortedQuantile(const std::vector<double>& v, double q) {
    const double pos = q * double(v.size() - 1);
    const std::size_t lo = std::size_t(pos);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}
}  // namespace

std::vector<double> conditionValues(const Volume& volume, const std::vector<std::string>& names) {
    std::vector<double> values;
    for (const auto& name : names) {
        if (name == "vf") {
            values.push_back(volume.volumeFraction(Donor));
            continue;
        }
        auto it = volume.attributes.find(name);
        if (it == volume.attributes.end())
            throw Error("a sample lacks attribute '" + name + "' (conditions: vf or attributes of the dataset)");
        values.push_back(it->second);
    }
    return values;
}

std::vector<Volume> readImages2D(const std::string& pathOrGlob, long limit, double minPhase, ProgressToken* progress) {
    if (!(minPhase >= 0.0 && minPhase < 0.5)) throw Error("the minimum phase fraction must be in [0, 0.5)");
    auto all = io::readSamples(pathOrGlob, progress);
    if (all.empty()) throw Error(pathOrGlob + ": no samples");
    std::vector<Volume> usable;
    for (auto& v : all) {
        if (!v.dims().is2D()) throw Error(pathOrGlob + ": 2D images expected, found " + v.dims().str());
        if (v.phaseCount() > 2) throw Error(pathOrGlob + ": two-phase images expected (found the mixed phase)");
        const double vf = v.volumeFraction(Donor);
        if (std::min(vf, 1.0 - vf) >= minPhase) usable.push_back(std::move(v));
    }
    if (usable.empty()) throw Error(pathOrGlob + ": no image has both phases above the minimum fraction");
    const std::size_t n = usable.size();
    const std::size_t keep = limit > 0 ? std::min<std::size_t>(n, std::size_t(limit)) : n;
    std::vector<Volume> out;
    for (std::size_t k = 0; k < keep; ++k) out.push_back(std::move(usable[k * n / keep]));
    return out;
}

std::vector<double> meanTwoPointCorrelation(const std::vector<Volume>& samples, int maxDistance) {
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    if (samples.empty()) throw Error("no samples for the two-point correlation");
    std::vector<std::vector<double>> curves(samples.size());
    parallelFor(samples.size(),
                [&](std::size_t i) { curves[i] = descriptors::twoPointCorrelation(samples[i], maxDistance)[Donor]; });
    std::vector<double> mean(std::size_t(maxDistance) + 1, 0.0);
    for (const auto& c : curves)
        for (std::size_t r = 0; r < mean.size() && r < c.size(); ++r) mean[r] += c[r] / double(curves.size());
    return mean;
#else
    (void)samples;
    (void)maxDistance;
    throw Error("two-point correlation needs the descriptors library (ms_descriptors)");
#endif
}

double twoPointError(const std::vector<Volume>& generated, const std::vector<Volume>& reference, int maxDistance) {
    const auto a = meanTwoPointCorrelation(generated, maxDistance), b = meanTwoPointCorrelation(reference, maxDistance);
    double sum = 0;
    for (int r = 1; r <= maxDistance; ++r)
        sum += (a[std::size_t(r)] - b[std::size_t(r)]) * (a[std::size_t(r)] - b[std::size_t(r)]);
    return std::sqrt(sum / double(maxDistance));
}

double wasserstein1(std::vector<double> a, std::vector<double> b) {
    if (a.empty() || b.empty()) throw Error("Wasserstein distance of an empty set");
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    const int n = 200;
    double sum = 0;
    for (int i = 0; i < n; ++i) {
        const double q = (i + 0.5) / n;
        sum += std::fabs(sortedQuantile(a, q) - sortedQuantile(b, q));
    }
    return sum / n;
}

double rSquared(const std::vector<double>& target, const std::vector<double>& achieved) {
    if (target.size() != achieved.size() || target.size() < 2) throw Error("R^2 needs two equal sets of >= 2 values");
    double mean = 0;
    for (double t : target) mean += t / double(target.size());
    double residual = 0, total = 0;
    for (std::size_t i = 0; i < target.size(); ++i) {
        residual += (target[i] - achieved[i]) * (target[i] - achieved[i]);
        total += (target[i] - mean) * (target[i] - mean);
    }
    if (total <= 0) throw Error("R^2 needs targets that vary");
    return 1.0 - residual / total;
}

double squaredPearson(const std::vector<double>& target, const std::vector<double>& achieved) {
    if (target.size() != achieved.size()) throw Error("R^2 needs two sets of the same size");
    const std::size_t n = target.size();
    if (n < 2) return std::nan("");
    double mt = 0, ma = 0;
    for (std::size_t i = 0; i < n; ++i) {
        mt += target[i] / double(n);
        ma += achieved[i] / double(n);
    }
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < n; ++i) {
        sxy += (target[i] - mt) * (achieved[i] - ma);
        sxx += (target[i] - mt) * (target[i] - mt);
        syy += (achieved[i] - ma) * (achieved[i] - ma);
    }
    return sxx > 0 && syy > 0 ? sxy * sxy / (sxx * syy) : std::nan("");
}

R2Difference bootstrapR2Difference(const std::vector<double>& target, const std::vector<double>& a,
                                   const std::vector<double>& b, int resamples, double level, std::uint64_t seed) {
    if (target.size() != a.size() || target.size() != b.size())
        throw Error("the R^2 difference needs targets and two sets of achieved values of the same size");
    if (target.size() < 3) throw Error("the R^2 difference needs at least 3 targets");
    if (resamples < 10) throw Error("the bootstrap needs at least 10 resamples");
    if (!(level > 0.0 && level < 1.0)) throw Error("the interval level must be in (0, 1)");
    R2Difference out;
    out.estimate = squaredPearson(target, a) - squaredPearson(target, b);
    const std::size_t n = target.size();
    std::mt19937_64 rng(seed);
    std::vector<double> t(n), x(n), y(n), differences;
    differences.reserve(std::size_t(resamples));
    for (int r = 0; r < resamples; ++r) {
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t k = std::size_t(rng() % n);
            t[i] = target[k];
            x[i] = a[k];
            y[i] = b[k];
        }
        const double d = squaredPearson(t, x) - squaredPearson(t, y);
        if (std::isfinite(d)) differences.push_back(d);
    }
    if (differences.empty()) {
        out.low = out.high = std::nan("");
        return out;
    }
    std::sort(differences.begin(), differences.end());
    out.low = sortedQuantile(differences, (1.0 - level) / 2.0);
    out.high = sortedQuantile(differences, 1.0 - (1.0 - level) / 2.0);
    return out;
}

}  // namespace ms::ml
