#include "microstudio/physics/threshold.hpp"

#include <algorithm>
#include <cmath>

#include "microstudio/core/error.hpp"

namespace ms::physics {

namespace {

void checkSize(const std::vector<float>& field, const Dims& dims) {
    if (field.size() != dims.count())
        throw Error("field has " + std::to_string(field.size()) + " values, grid " + dims.str() + " needs " +
                    std::to_string(dims.count()));
}

double median(std::vector<float>& v) {
    const auto mid = v.begin() + std::ptrdiff_t(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

double mixedFraction(const std::vector<float>& sorted, double low, double high) {
    // Cells strictly between low and high.
    const auto a = std::upper_bound(sorted.begin(), sorted.end(), float(low));
    const auto b = std::lower_bound(sorted.begin(), sorted.end(), float(high));
    return b > a ? double(b - a) / double(sorted.size()) : 0.0;
}

}  // namespace

Volume thresholdTwoPhase(const std::vector<float>& field, const Dims& dims, bool keepField) {
    checkSize(field, dims);
    Volume v(dims);
    auto& labels = v.labels();
    for (std::size_t i = 0; i < field.size(); ++i) labels[i] = field[i] < 0.5f ? Donor : Acceptor;
    if (keepField) v.setField(field);
    v.attributes["threshold_low"] = 0.5;
    v.attributes["threshold_high"] = 0.5;
    return v;
}

Thresholds chooseThreePhaseThresholds(const std::vector<float>& field, const ThreePhaseOptions& options) {
    if (field.empty()) throw Error("cannot threshold an empty field");
    if (!(options.beta > 0.0 && options.beta < 1.0)) throw Error("beta must lie in (0, 1)");
    std::vector<float> below, above;
    for (float c : field) (c < 0.5f ? below : above).push_back(c);
    const double cD = below.empty() ? 0.5 : median(below);
    const double cA = above.empty() ? 0.5 : median(above);
    std::vector<float> sorted(field);
    std::sort(sorted.begin(), sorted.end());
    auto at = [&](double beta) { return Thresholds{0.5 - beta * (0.5 - cD), 0.5 + beta * (cA - 0.5)}; };
    Thresholds t = at(options.beta);
    if (mixedFraction(sorted, t.low, t.high) <= options.maxMixedFraction) return t;
    double lo = 0.0, hi = options.beta;  // mixed(lo) <= cap < mixed(hi)
    for (int i = 0; i < 60; ++i) {
        const double mid = 0.5 * (lo + hi);
        const Thresholds m = at(mid);
        (mixedFraction(sorted, m.low, m.high) <= options.maxMixedFraction ? lo : hi) = mid;
    }
    return at(lo);
}

Volume thresholdThreePhase(const std::vector<float>& field, const Dims& dims, const ThreePhaseOptions& options,
                           bool keepField, Thresholds* used) {
    checkSize(field, dims);
    const Thresholds t = chooseThreePhaseThresholds(field, options);
    Volume v(dims);
    auto& labels = v.labels();
    for (std::size_t i = 0; i < field.size(); ++i)
        labels[i] = field[i] <= float(t.low) ? Donor : field[i] >= float(t.high) ? Acceptor : Mixed;
    if (keepField) v.setField(field);
    v.attributes["threshold_low"] = t.low;
    v.attributes["threshold_high"] = t.high;
    if (used) *used = t;
    return v;
}

}  // namespace ms::physics
