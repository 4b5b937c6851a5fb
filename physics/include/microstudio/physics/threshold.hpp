#pragma once
// Thresholding a composition field into phase labels (0 = D, 1 = A, 2 = M).
// Two phases: c < 0.5 -> D (0), c >= 0.5 -> A (1), as in MicroGen3D.
// Three phases, two thresholds chosen per snapshot (the rule):
//   cD = median of c over cells with c < 0.5, cA = median over c >= 0.5
//   (the two plateau levels; a side with no cells uses 0.5);
//   low = 0.5 - beta (0.5 - cD), high = 0.5 + beta (cA - 0.5), beta = 0.5:
//   c <= low -> D, c >= high -> A, otherwise M (the interface band).
//   When that band holds more than maxMixedFraction of the cells (early,
//   diffuse snapshots) beta shrinks (bisection) until it holds exactly that
//   much, so the mixed interface stays thin compared with D and A.
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::physics {

struct ThreePhaseOptions {
    double beta = 0.5;
    double maxMixedFraction = 0.25;
};

struct Thresholds {
    double low = 0.5, high = 0.5;
};

// Labels of a field (size must match dims); field goes into the volume too
// when keepField.
Volume thresholdTwoPhase(const std::vector<float>& field, const Dims& dims, bool keepField = false);
Thresholds chooseThreePhaseThresholds(const std::vector<float>& field, const ThreePhaseOptions& options = {});
Volume thresholdThreePhase(const std::vector<float>& field, const Dims& dims, const ThreePhaseOptions& options = {},
                           bool keepField = false, Thresholds* used = nullptr);

}  // namespace ms::physics
