// Column statistics shared by the torch-free card and the trainers.
#include "stats.hpp"

#include <algorithm>
#include <cmath>

namespace ms::ml::detail {

void columnStats(const std::vector<std::vector<double>>& rows, std::size_t columns, std::vector<double>& mean,
                 std::vector<double>& stdev) {
    mean.assign(columns, 0.0);
    stdev.assign(columns, 1.0);
    if (rows.empty()) return;
    for (const auto& r : rows)
        for (std::size_t c = 0; c < columns; ++c) mean[c] += r[c];
    for (auto& m : mean) m /= double(rows.size());
    for (std::size_t c = 0; c < columns; ++c) {
        double s = 0;
        for (const auto& r : rows) s += (r[c] - mean[c]) * (r[c] - mean[c]);
        stdev[c] = std::max(std::sqrt(s / double(rows.size())), 1e-6);
    }
}

}  // namespace ms::ml::detail
