// Generation measures and line plots (torch-free).
#include "microstudio/ml/evaluate.hpp"

#include <algorithm>
#include <cmath>

#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/io/io.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif

namespace ms::ml {

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

std::vector<Volume> readImages2D(const std::string& pathOrGlob, long limit, double minPhase) {
    if (!(minPhase >= 0.0 && minPhase < 0.5)) throw Error("the minimum phase fraction must be in [0, 0.5)");
    auto all = io::readSamples(pathOrGlob);
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
    parallelFor(samples.size(), [&](std::size_t i) {
        curves[i] = descriptors::twoPointCorrelation(samples[i], maxDistance)[Donor];
    });
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
    for (int r = 1; r <= maxDistance; ++r) sum += (a[std::size_t(r)] - b[std::size_t(r)]) * (a[std::size_t(r)] - b[std::size_t(r)]);
    return std::sqrt(sum / double(maxDistance));
}

double wasserstein1(std::vector<double> a, std::vector<double> b) {
    if (a.empty() || b.empty()) throw Error("Wasserstein distance of an empty set");
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    auto quantile = [](const std::vector<double>& v, double q) {
        const double pos = q * double(v.size() - 1);
        const std::size_t lo = std::size_t(pos);
        const std::size_t hi = std::min(lo + 1, v.size() - 1);
        return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
    };
    const int n = 200;
    double sum = 0;
    for (int i = 0; i < n; ++i) {
        const double q = (i + 0.5) / n;
        sum += std::fabs(quantile(a, q) - quantile(b, q));
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

}  // namespace ms::ml
