#pragma once
// Axis ranges every chart of the studio shares.
class QValueAxis;

namespace ms::ui {

// Shows [lo, hi] (padded by 5 %) with ticks on round numbers (1, 2 or 5
// times a power of ten), at least three labels, each with the decimals its
// step needs: never ticks such as 0.00936 or -0.0168.
void setNiceRange(QValueAxis* axis, double lo, double hi);

}  // namespace ms::ui
