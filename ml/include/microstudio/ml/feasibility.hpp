#pragma once
// Target feasibility for conditional generators: is a target descriptor
// vector inside the cloud of the training data's condition vectors?
//
// The cloud keeps (up to maxPoints, evenly spaced) training condition
// vectors z-scored per condition, and the `percentile` (0.99) quantile of
// their leave-one-out nearest-neighbour distances. A target is feasible when
// its distance to the nearest training vector does not exceed that
// threshold; otherwise the nearest training vector is proposed. Pure C++
// (no torch), so the GUI can warn live while sliders move.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "microstudio/core/json.hpp"

namespace ms::ml {

struct FeasibilityReport {
    bool known = false;  // false: the model carries no training conditions (always "feasible")
    bool feasible = true;
    double distance = 0.0;                  // z-scored Euclidean distance to the nearest training vector
    double threshold = 0.0;                 // percentile of the training set's nearest-neighbour distances
    std::map<std::string, double> target;   // the checked target (missing conditions filled with the mean)
    std::map<std::string, double> nearest;  // the nearest training vector: the proposed feasible target
    // One line: "target ... lies outside the training data (...); nearest feasible target: A=.., B=.."
    std::string message() const;
};

class ConditionCloud {
public:
    ConditionCloud() = default;
    // rows[i][k] is sample i's value of names[k]. Non-finite rows are dropped.
    static ConditionCloud fromSamples(std::vector<std::string> names, const std::vector<std::vector<double>>& rows,
                                      std::size_t maxPoints = 5000, double percentile = 0.99);

    bool empty() const { return points_.empty(); }
    std::size_t size() const { return points_.size() / (names_.empty() ? 1 : names_.size()); }
    const std::vector<std::string>& names() const { return names_; }
    double threshold() const { return threshold_; }
    double percentile() const { return percentile_; }
    // Training vector i in the conditions' own units.
    std::map<std::string, double> point(std::size_t i) const;

    // Conditions missing from `target` take the training mean (as generation
    // does); unknown names throw ms::Error.
    FeasibilityReport check(const std::map<std::string, double>& target) const;

    Json toJson() const;
    static ConditionCloud fromJson(const Json& json);

private:
    std::vector<std::string> names_;
    std::vector<double> mean_, std_;
    std::vector<double> points_;  // z-scored, row-major [size x names]
    double threshold_ = 0.0, percentile_ = 0.99;
    std::size_t samples_ = 0;  // training rows before subsampling
};

}  // namespace ms::ml
