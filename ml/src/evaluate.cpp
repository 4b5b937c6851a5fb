// Generation measures and line plots (torch-free).
#include "microstudio/ml/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

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

std::vector<Volume> readImages2D(const std::string& pathOrGlob, long limit) {
    auto all = io::readSamples(pathOrGlob);
    if (all.empty()) throw Error(pathOrGlob + ": no samples");
    std::vector<Volume> out;
    const std::size_t n = all.size();
    const std::size_t keep = limit > 0 ? std::min<std::size_t>(n, std::size_t(limit)) : n;
    for (std::size_t k = 0; k < keep; ++k) {
        Volume& v = all[k * n / keep];
        if (!v.dims().is2D()) throw Error(pathOrGlob + ": 2D images expected, found " + v.dims().str());
        if (v.phaseCount() > 2) throw Error(pathOrGlob + ": two-phase images expected (found the mixed phase)");
        out.push_back(std::move(v));
    }
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

Volume plotCurves(const std::vector<std::vector<double>>& curves, int width, int height, bool logY) {
    if (width < 32 || height < 32) throw Error("plot too small");
    Volume canvas(Dims{width, height, 1}, Acceptor);  // white
    const int margin = 12;
    double ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
    std::size_t xmax = 1;
    auto transform = [logY](double y) { return logY ? (y > 0 ? std::log10(y) : std::nan("")) : y; };
    for (const auto& c : curves) {
        xmax = std::max(xmax, c.size() > 1 ? c.size() - 1 : std::size_t(1));
        for (double y : c) {
            const double v = transform(y);
            if (std::isfinite(v)) {
                ymin = std::min(ymin, v);
                ymax = std::max(ymax, v);
            }
        }
    }
    if (!std::isfinite(ymin)) ymin = 0, ymax = 1;
    if (ymax - ymin < 1e-12) ymax = ymin + 1;
    const double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
    // Frame (grey); y grows upwards in a Volume, as PNG shows it.
    for (int x = margin; x < width - margin; ++x) canvas.at(x, margin) = canvas.at(x, height - margin - 1) = Mixed;
    for (int y = margin; y < height - margin; ++y) canvas.at(margin, y) = canvas.at(width - margin - 1, y) = Mixed;
    auto px = [&](double x) { return margin + (width - 2 * margin - 1) * x / double(xmax); };
    auto py = [&](double y) { return margin + (height - 2 * margin - 1) * (y - ymin) / (ymax - ymin); };
    for (std::size_t k = 0; k < curves.size(); ++k) {
        const auto& c = curves[k];
        long drawn = 0;
        auto visible = [&](long i) {
            switch (k % 4) {
                case 0: return true;
                case 1: return (i / 6) % 2 == 0;
                case 2: return i % 4 < 1;
                default: return (i % 14) < 7 || (i % 14) == 10;
            }
        };
        for (std::size_t i = 0; i + 1 < c.size(); ++i) {
            const double y0 = transform(c[i]), y1 = transform(c[i + 1]);
            if (!std::isfinite(y0) || !std::isfinite(y1)) continue;
            const double x0 = px(double(i)), x1 = px(double(i + 1)), v0 = py(y0), v1 = py(y1);
            const int steps = int(std::max(std::fabs(x1 - x0), std::fabs(v1 - v0))) + 1;
            for (int s = 0; s <= steps; ++s, ++drawn) {
                if (!visible(drawn)) continue;
                const double t = double(s) / steps;
                const int x = int(std::lround(x0 + (x1 - x0) * t)), y = int(std::lround(v0 + (v1 - v0) * t));
                for (int dy = 0; dy <= 1; ++dy)
                    if (x >= 0 && x < width && y + dy >= 0 && y + dy < height) canvas.at(x, y + dy) = Donor;
            }
        }
        if (c.size() == 1 && std::isfinite(transform(c[0]))) canvas.at(int(px(0)), int(py(transform(c[0])))) = Donor;
    }
    return canvas;
}

}  // namespace ms::ml
