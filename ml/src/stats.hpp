#pragma once
// Torch-free statistics of ml's private sources.
#include <cstddef>
#include <vector>

namespace ms::ml::detail {

// Mean and standard deviation (population, floored at 1e-6) of each column.
void columnStats(const std::vector<std::vector<double>>& rows, std::size_t columns, std::vector<double>& mean,
                 std::vector<double>& stdev);

}  // namespace ms::ml::detail
