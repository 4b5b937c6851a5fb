#pragma once
// One Cahn-Hilliard run: time stepping with snapshots at log-spaced times (or
// log-spaced step numbers), progress and cancel through ms::ProgressToken,
// and an atomic checkpoint file so a killed or cancelled run resumes where
// its last checkpoint left it, bit-identically.
#include <filesystem>
#include <functional>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/physics/cahn_hilliard.hpp"

namespace ms::physics {

struct RunPlan {
    // Time mode (endTime > 0): snapshots at firstTime * (endTime/firstTime)^(i/(K-1)).
    double endTime = 0.0;
    double firstTime = 1.0;
    // Step mode (endTime == 0, steps > 0): exactly `steps` steps, snapshots at
    // distinct log-spaced step numbers in [1, steps].
    long steps = 0;
    int snapshots = 400;
    long maxSteps = 0;  // time mode: stop after this many steps (0 = no cap)
};

// Snapshot times (time mode) or step numbers (step mode) of a plan.
std::vector<double> snapshotTimes(const RunPlan& plan);
std::vector<long> snapshotSteps(const RunPlan& plan);

struct SnapshotInfo {
    int index = 0;  // 0 .. K-1
    double time = 0.0;
    long step = 0;
    double energy = 0.0;
    double length = 0.0;  // characteristic length (cells)
};

// Called for every snapshot, in order. It must finish persisting what it
// needs before returning: a checkpoint written afterwards counts the
// snapshot as done. After a resume a snapshot may be handed again; the
// handler must overwrite, not append.
using SnapshotHandler = std::function<void(const SnapshotInfo&, const CahnHilliardSolver&)>;

struct Checkpointing {
    std::filesystem::path path;  // empty: no checkpoints
    double everySeconds = 20.0;  // wall time between checkpoints
    long everySteps = 0;         // > 0: also every this many steps (tests)
};

struct RunSummary {
    double massDrift = 0.0;  // max |mean(c) - mean0| / mean0 over all steps
    double energyStart = 0.0, energyEnd = 0.0;
    long energyIncreases = 0;  // accepted steps where the free energy rose beyond round-off
    double lengthStart = 0.0, lengthEnd = 0.0;
    long steps = 0, rejectedSteps = 0;
    int snapshots = 0;
    double finalTime = 0.0;
    double seconds = 0.0;  // wall time, all sessions of a resumed run together
    bool resumed = false;
    bool complete = false;  // false when maxSteps stopped it early
};

RunSummary runCahnHilliard(const CahnHilliardParams& params, const StepControl& control, const RunPlan& plan,
                           const SnapshotHandler& onSnapshot, const Checkpointing& checkpointing = {},
                           ProgressToken* progress = nullptr, int threads = 1);

}  // namespace ms::physics
