#pragma once
// Structure-factor analysis of a composition field on a periodic grid.
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::physics {

// Characteristic length L = 2 pi / <k>, <k> the first moment of the
// structure factor S(k) = |c^(k)|^2 over k != 0 (cells). Infinite for a
// uniform field.
double characteristicLength(const std::vector<double>& field, const Dims& dims);
double characteristicLength(const std::vector<float>& field, const Dims& dims);

}  // namespace ms::physics
