#pragma once
// Flory-Huggins free energy of a binary blend (N = 1) and its derivatives:
//   f(c) = c ln c + (1-c) ln(1-c) + chi c (1-c).
// The entropic terms g(c) = c ln c are continued below c = eps (and above
// 1 - eps) by their second-order Taylor expansion, so f, f' and f'' stay
// finite and smooth for any c (spectral overshoots may leave (0, 1) slightly).
namespace ms::physics {

struct FloryHuggins {
    double chi = 3.0;
    double eps = 1e-4;  // where the log terms switch to their quadratic continuation

    double f(double c) const;
    double df(double c) const;   // f'(c) = ln c - ln(1-c) + chi (1 - 2c)
    double d2f(double c) const;  // f''(c) = 1/c + 1/(1-c) - 2 chi
};

// chi at the spinodal of composition c0: f''(c0) = 0, i.e. 1 / (2 c0 (1 - c0)).
double spinodalChi(double c0);

// Growth rate of a small Fourier mode of wave number k around c0 for
// dc/dt = M lap(f'(c) - kappa lap c):  omega(k) = -M k^2 (f''(c0) + kappa k^2).
double linearGrowthRate(double k, double c0, double chi, double kappa, double mobility);

}  // namespace ms::physics
