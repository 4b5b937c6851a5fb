#include "microstudio/ui/chart_axes.hpp"

#include <QValueAxis>
#include <algorithm>
#include <cmath>

namespace ms::ui {

void setNiceRange(QValueAxis* axis, double lo, double hi) {
    const double pad = hi > lo ? (hi - lo) * 0.05 : std::max(std::abs(hi) * 0.05, 1e-6);
    axis->setTickCount(5);
    axis->setRange(lo - pad, hi + pad);
    axis->applyNiceNumbers();
    if (axis->tickCount() < 3) axis->setTickCount(3);  // a span of one step: halve it
    const double step = (axis->max() - axis->min()) / (axis->tickCount() - 1);
    const double power = std::floor(std::log10(step) + 1e-9);
    const bool quarter = std::abs(step / std::pow(10.0, power) - 2.5) < 1e-6;  // 2.5: one decimal more
    const int decimals = std::max(0, -int(power) + (quarter ? 1 : 0));
    axis->setLabelFormat(QString("%.%1f").arg(decimals));
}

}  // namespace ms::ui
