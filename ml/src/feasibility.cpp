// Training-condition cloud and the nearest-neighbour feasibility check
// (see feasibility.hpp). Brute force: 5000 points x 4 conditions is ~25 M
// distance terms once at training time and 20 k per check.
#include "microstudio/ml/feasibility.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "microstudio/core/error.hpp"

namespace ms::ml {

namespace {

std::string formatTarget(const std::map<std::string, double>& values) {
    std::string text;
    char number[32];
    for (const auto& [name, value] : values) {
        std::snprintf(number, sizeof number, "%.4g", value);
        text += (text.empty() ? "" : ",") + name + "=" + number;
    }
    return text;
}

}  // namespace

std::string FeasibilityReport::message() const {
    if (!known) return "the model carries no training conditions: feasibility unknown";
    char figures[96];
    std::snprintf(figures, sizeof figures, "distance %.3g, threshold %.3g", distance, threshold);
    if (feasible) return "target " + formatTarget(target) + " lies inside the training data (" + figures + ")";
    return "target " + formatTarget(target) + " lies outside the training data (" + figures +
           ", z-scored nearest-neighbour distance); nearest feasible target: " + formatTarget(nearest);
}

ConditionCloud ConditionCloud::fromSamples(std::vector<std::string> names, const std::vector<std::vector<double>>& rows,
                                           std::size_t maxPoints, double percentile) {
    if (names.empty()) throw Error("a condition cloud needs at least one condition");
    if (!(percentile > 0.0 && percentile <= 1.0)) throw Error("percentile must be in (0, 1]");
    const std::size_t d = names.size();
    std::vector<const std::vector<double>*> valid;
    for (const auto& row : rows) {
        if (row.size() != d)
            throw Error("condition row has " + std::to_string(row.size()) + " values, expected " + std::to_string(d));
        if (std::all_of(row.begin(), row.end(), [](double v) { return std::isfinite(v); })) valid.push_back(&row);
    }
    ConditionCloud cloud;
    cloud.names_ = std::move(names);
    cloud.percentile_ = percentile;
    cloud.samples_ = valid.size();
    cloud.mean_.assign(d, 0.0);
    cloud.std_.assign(d, 1.0);
    if (valid.empty()) return cloud;
    for (std::size_t k = 0; k < d; ++k) {
        double sum = 0.0, squares = 0.0;
        for (const auto* row : valid) sum += (*row)[k];
        const double mean = sum / double(valid.size());
        for (const auto* row : valid) squares += ((*row)[k] - mean) * ((*row)[k] - mean);
        const double sd = std::sqrt(squares / double(valid.size()));
        cloud.mean_[k] = mean;
        cloud.std_[k] = sd > 1e-12 ? sd : 1.0;  // a constant condition: unit scale
    }
    // Evenly spaced subset so the stored cloud spans the whole data set.
    const std::size_t keep = std::max<std::size_t>(1, std::min(valid.size(), maxPoints));
    for (std::size_t i = 0; i < keep; ++i) {
        const auto& row = *valid[i * valid.size() / keep];
        for (std::size_t k = 0; k < d; ++k) cloud.points_.push_back((row[k] - cloud.mean_[k]) / cloud.std_[k]);
    }
    // Leave-one-out nearest-neighbour distances, then their percentile.
    const std::size_t n = cloud.size();
    if (n < 2) return cloud;
    std::vector<double> nearest(n, std::numeric_limits<double>::infinity());
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) {
            double s = 0.0;
            for (std::size_t k = 0; k < d; ++k) {
                const double diff = cloud.points_[i * d + k] - cloud.points_[j * d + k];
                s += diff * diff;
            }
            nearest[i] = std::min(nearest[i], s);
            nearest[j] = std::min(nearest[j], s);
        }
    for (auto& v : nearest) v = std::sqrt(v);
    std::sort(nearest.begin(), nearest.end());
    // Nearest-rank percentile.
    const std::size_t rank = std::size_t(std::ceil(percentile * double(n)));
    cloud.threshold_ = nearest[std::min(n, std::max<std::size_t>(rank, 1)) - 1];
    return cloud;
}

std::map<std::string, double> ConditionCloud::point(std::size_t i) const {
    if (i >= size() || empty()) throw Error("condition cloud point " + std::to_string(i) + " out of range");
    std::map<std::string, double> out;
    const std::size_t d = names_.size();
    for (std::size_t k = 0; k < d; ++k) out[names_[k]] = points_[i * d + k] * std_[k] + mean_[k];
    return out;
}

FeasibilityReport ConditionCloud::check(const std::map<std::string, double>& target) const {
    FeasibilityReport report;
    for (const auto& [name, value] : target) {
        if (std::find(names_.begin(), names_.end(), name) == names_.end())
            throw Error("unknown condition '" + name + "' for the feasibility check");
        if (!std::isfinite(value)) throw Error("condition '" + name + "' is not a finite number");
    }
    const std::size_t d = names_.size();
    std::vector<double> z(d);
    for (std::size_t k = 0; k < d; ++k) {
        auto it = target.find(names_[k]);
        const double value = it != target.end() ? it->second : mean_[k];
        report.target[names_[k]] = value;
        z[k] = (value - mean_[k]) / std_[k];
    }
    if (empty()) return report;
    report.known = true;
    report.threshold = threshold_;
    double best = std::numeric_limits<double>::infinity();
    std::size_t bestIndex = 0;
    for (std::size_t i = 0; i < size(); ++i) {
        double s = 0.0;
        for (std::size_t k = 0; k < d; ++k) {
            const double diff = points_[i * d + k] - z[k];
            s += diff * diff;
        }
        if (s < best) {
            best = s;
            bestIndex = i;
        }
    }
    report.distance = std::sqrt(best);
    report.feasible = report.distance <= threshold_;
    report.nearest = point(bestIndex);
    return report;
}

Json ConditionCloud::toJson() const {
    Json j = Json::object();
    j["names"] = Json(names_);
    j["mean"] = Json(mean_);
    j["std"] = Json(std_);
    j["percentile"] = percentile_;
    j["threshold"] = threshold_;
    j["samples"] = double(samples_);
    // Z-scored values to 5 decimals: 1e-5 of a standard deviation is far
    // below any threshold, and it keeps 5000 vectors at a few hundred kB.
    std::vector<double> rounded(points_.size());
    for (std::size_t i = 0; i < points_.size(); ++i) rounded[i] = std::round(points_[i] * 1e5) / 1e5;
    j["points"] = Json(rounded);
    return j;
}

ConditionCloud ConditionCloud::fromJson(const Json& j) {
    ConditionCloud cloud;
    cloud.names_ = stringsAt(j, "names");
    cloud.mean_ = numbersAt(j, "mean");
    cloud.std_ = numbersAt(j, "std");
    cloud.points_ = numbersAt(j, "points");
    cloud.percentile_ = numberOr(j, "percentile", 0.99);
    cloud.threshold_ = numberOr(j, "threshold", 0.0);
    cloud.samples_ = std::size_t(numberOr(j, "samples", 0.0));
    const std::size_t d = cloud.names_.size();
    if (d == 0 || cloud.mean_.size() != d || cloud.std_.size() != d || cloud.points_.size() % d != 0)
        throw Error("training_conditions: sizes do not match the condition names");
    return cloud;
}

}  // namespace ms::ml
