#pragma once
// Cahn-Hilliard solver for a binary blend on a periodic grid (2D or 3D):
//   dc/dt = M lap(mu),  mu = f'(c) - kappa lap(c),  f = Flory-Huggins (N = 1).
// Semi-implicit Fourier-spectral stepping with a stabilising linear term
// (Chen & Shen; He, Liu & Tang):
//   (1 + dt M k^2 (S + kappa k^2)) c^_{n+1} = c^_n - dt M k^2 (F[f'(c_n)] - S c^_n)
// with S = max(f''(c_n), 0) / 2 taken from the current field, which makes the
// explicit part of the linearised update contractive. The time step adapts:
// a step is retried with a smaller dt when the field changes by more than
// maxChange anywhere or when the free energy rises; after an accepted step
// dt grows by at most `growth`. The k = 0 coefficient is never touched, so
// the mean composition is conserved to round-off.
// Units: grid spacing 1, so lengths are in cells and times in cells^2 / M.
#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::physics {

struct CahnHilliardParams {
    Dims dims{101, 101, 1};
    double phi = 0.5;       // initial mean composition c0 (the papers' phi)
    double chi = 3.0;       // Flory-Huggins interaction parameter
    double kappa = 2.0;     // gradient energy coefficient (cells^2)
    double mobility = 1.0;  // M
    double noise = 0.01;    // amplitude of the uniform initial noise around phi
    std::uint64_t seed = 1;
    double logEpsilon = 1e-4;  // where the log terms switch to their quadratic continuation
};

// Throws ms::Error with a one-line reason ("kappa must be > 0, got 0") unless
// the solver accepts `params`; the solver, `simulate` and the studio's
// Simulate panel check with this one rule set.
void validate(const CahnHilliardParams& params);

struct StepControl {
    double dtInitial = 0.05;
    double dtMin = 1e-8;
    double dtMax = 50.0;
    double maxChange = 0.02;  // largest allowed |c_{n+1} - c_n| in one step
    double growth = 1.15;     // largest factor dt may grow by after a step
    bool rejectEnergyIncrease = true;
    double stabilizer = -1.0;  // S; negative = automatic (max f'' / 2 of the current field)
};

// Free energy per cell and related numbers of the current field.
struct FieldStats {
    double mean = 0.0;
    double energy = 0.0;  // (1/N) sum [f(c) + kappa/2 |grad c|^2]
    double minimum = 0.0, maximum = 0.0;
};

class CahnHilliardSolver {
public:
    // Starts from phi plus zero-mean uniform noise drawn from `seed`.
    // threads: FFTW and pointwise threads for this solver (results do not depend on it).
    CahnHilliardSolver(const CahnHilliardParams& params, const StepControl& control = {}, int threads = 1);
    ~CahnHilliardSolver();
    CahnHilliardSolver(const CahnHilliardSolver&) = delete;
    CahnHilliardSolver& operator=(const CahnHilliardSolver&) = delete;

    const CahnHilliardParams& params() const { return params_; }
    const StepControl& control() const { return control_; }
    StepControl& control() { return control_; }

    // Replaces the field (e.g. a chosen perturbation); time and step restart at 0.
    void setField(const std::vector<double>& c);
    const std::vector<double>& field() const { return field_; }
    std::vector<float> fieldAsFloat() const;

    // Takes one accepted step with dt <= maxDt (retrying with smaller dt as
    // needed). Returns the dt used.
    double step(double maxDt = 1e300);

    double time() const { return time_; }
    long stepCount() const { return steps_; }
    long rejectedCount() const { return rejected_; }
    double nextDt() const { return dt_; }
    void setNextDt(double dt) { dt_ = dt; }
    const FieldStats& stats() const { return stats_; }
    double stabilizer() const { return stabilizer_; }

    // Complex Fourier coefficient (unnormalised) of mode (mx, my, mz), mx >= 0.
    std::complex<double> mode(int mx, int my, int mz = 0) const;
    // Characteristic length 2 pi / <k> from the structure factor's first moment.
    double characteristicLength() const;

    // Complete state for resuming bit-identically (the spectrum, not the
    // real field, is the master copy), as bytes.
    std::string saveState() const;
    void restoreState(const std::string& bytes);

private:
    struct Impl;
    void refreshFromSpectrum();
    CahnHilliardParams params_;
    StepControl control_;
    std::unique_ptr<Impl> impl_;
    std::vector<double> field_;
    FieldStats stats_;
    double time_ = 0.0, dt_ = 0.0, stabilizer_ = 0.0;
    long steps_ = 0, rejected_ = 0;
};

}  // namespace ms::physics
