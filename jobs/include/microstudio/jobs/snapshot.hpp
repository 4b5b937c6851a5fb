#pragma once
// A Cahn-Hilliard snapshot as a Volume: thresholded labels (2 or 3 phases),
// optionally the continuous field, and the attributes every dataset carries:
// phi, chi, kappa, mobility, time, log_time (natural log), step, energy,
// length (characteristic length, cells), threshold_low, threshold_high, seed.
#include "microstudio/core/volume.hpp"
#include "microstudio/physics/run.hpp"
#include "microstudio/physics/threshold.hpp"

namespace ms::jobs {

Volume snapshotVolume(const physics::SnapshotInfo& info, const physics::CahnHilliardSolver& solver, int phases,
                      bool keepField, const physics::ThreePhaseOptions& threePhase = {});

// Sample names: "snap_000012" (one run), "run_000003_snap_000012" (datasets).
std::string snapshotName(int snapshot);
std::string runSnapshotName(int run, int snapshot);

}  // namespace ms::jobs
