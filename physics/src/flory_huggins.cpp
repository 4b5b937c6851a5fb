#include "microstudio/physics/flory_huggins.hpp"

#include <cmath>

#include "microstudio/core/error.hpp"

namespace ms::physics {

namespace {

// g(c) = c ln c with its C2 quadratic continuation below eps.
double g(double c, double eps) {
    if (c >= eps) return c * std::log(c);
    const double d = c - eps;
    return eps * std::log(eps) + (std::log(eps) + 1.0) * d + d * d / (2.0 * eps);
}
double dg(double c, double eps) {
    if (c >= eps) return std::log(c) + 1.0;
    return std::log(eps) + 1.0 + (c - eps) / eps;
}
double d2g(double c, double eps) { return c >= eps ? 1.0 / c : 1.0 / eps; }

}  // namespace

double FloryHuggins::f(double c) const { return g(c, eps) + g(1.0 - c, eps) + chi * c * (1.0 - c); }
double FloryHuggins::df(double c) const { return dg(c, eps) - dg(1.0 - c, eps) + chi * (1.0 - 2.0 * c); }
double FloryHuggins::d2f(double c) const { return d2g(c, eps) + d2g(1.0 - c, eps) - 2.0 * chi; }

double spinodalChi(double c0) {
    if (!(c0 > 0.0 && c0 < 1.0)) throw Error("composition must lie in (0, 1), got " + std::to_string(c0));
    return 1.0 / (2.0 * c0 * (1.0 - c0));
}

double linearGrowthRate(double k, double c0, double chi, double kappa, double mobility) {
    const FloryHuggins fh{chi};
    return -mobility * k * k * (fh.d2f(c0) + kappa * k * k);
}

}  // namespace ms::physics
