#pragma once
// One Cahn-Hilliard run written to an HDF5 file (MicroGen3D layout): one
// sample per snapshot ("snap_000000" ...) holding the thresholded labels,
// the continuous field and the snapshot attributes. Resumable: snapshots and
// a checkpoint live in "<output>.work/" until the file is complete; a rerun
// with the same settings continues from there. A run holds an advisory lock
// on "<output>.work/lock" while it runs: a second run on the same output is
// refused at once with one line ("OUT: another simulate run is writing this
// output (process N); ...").
#include <filesystem>

#include "microstudio/core/progress.hpp"
#include "microstudio/physics/run.hpp"
#include "microstudio/physics/threshold.hpp"

namespace ms::jobs {

struct SimulateJob {
    physics::CahnHilliardParams params;
    physics::StepControl control;
    physics::RunPlan plan;
    int phases = 2;
    physics::ThreePhaseOptions threePhase;
    bool keepField = true;
    std::filesystem::path output;
    int threads = 0;                     // 0 = every core
    double checkpointEverySeconds = 20;  // wall time between checkpoints
};

physics::RunSummary runSimulateJob(const SimulateJob& job, ProgressToken* progress = nullptr);

// The work folder of an output ("<output>.work").
std::filesystem::path workFolder(const std::filesystem::path& output);

}  // namespace ms::jobs
