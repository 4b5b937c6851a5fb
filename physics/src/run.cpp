#include "microstudio/physics/run.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"

namespace fs = std::filesystem;

namespace ms::physics {

namespace {

constexpr char kCheckpointMagic[8] = {'M', 'S', 'C', 'H', 'C', 'K', '0', '1'};

void checkPlan(const RunPlan& plan) {
    if (plan.snapshots < 1) throw Error("a run needs at least 1 snapshot");
    if (plan.endTime > 0.0) {
        if (!(plan.firstTime > 0.0 && plan.firstTime <= plan.endTime))
            throw Error("first snapshot time must lie in (0, end time]");
    } else if (plan.steps < plan.snapshots) {
        throw Error("a run by steps needs steps >= snapshots (got " + std::to_string(plan.steps) + " steps, " +
                    std::to_string(plan.snapshots) + " snapshots)");
    }
}

// The run's progress besides the solver: what a checkpoint must restore.
struct RunState {
    int nextSnapshot = 0;
    double mean0 = 0.0, massDrift = 0.0, energyStart = 0.0, lengthStart = 0.0, seconds = 0.0;
    long energyIncreases = 0;
};

void saveCheckpoint(const fs::path& path, const RunState& run, const CahnHilliardSolver& solver) {
    std::string bytes(kCheckpointMagic, sizeof(kCheckpointMagic));
    bytes.append(reinterpret_cast<const char*>(&run), sizeof(RunState));
    bytes += solver.saveState();
    writeAtomically(path, [&](const fs::path& temp) {
        std::FILE* f = std::fopen(temp.c_str(), "wb");
        if (!f) throw Error("cannot write checkpoint " + path.string() + ": " + std::strerror(errno));
        int err = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() ? 0 : (errno ? errno : EIO);
        if (std::fflush(f) != 0 && !err) err = errno ? errno : EIO;
        if (std::fclose(f) != 0 && !err) err = errno ? errno : EIO;
        if (err) throw Error("cannot write checkpoint " + path.string() + ": " + std::strerror(err));
    });
}

bool loadCheckpoint(const fs::path& path, RunState& run, CahnHilliardSolver& solver) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string bytes = buffer.str();
    if (bytes.size() < sizeof(kCheckpointMagic) + sizeof(RunState) ||
        std::memcmp(bytes.data(), kCheckpointMagic, sizeof(kCheckpointMagic)) != 0)
        throw Error("checkpoint " + path.string() + " is not a MicroStudio Cahn-Hilliard checkpoint");
    std::memcpy(&run, bytes.data() + sizeof(kCheckpointMagic), sizeof(RunState));
    try {
        solver.restoreState(bytes.substr(sizeof(kCheckpointMagic) + sizeof(RunState)));
    } catch (const Error& e) {
        throw Error("checkpoint " + path.string() + ": " + e.what() + " (delete it to start over)");
    }
    return true;
}

}  // namespace

std::vector<double> snapshotTimes(const RunPlan& plan) {
    checkPlan(plan);
    std::vector<double> times(static_cast<std::size_t>(plan.snapshots));
    const int k = plan.snapshots;
    for (int i = 0; i < k; ++i)
        times[std::size_t(i)] =
            k == 1 ? plan.endTime : plan.firstTime * std::pow(plan.endTime / plan.firstTime, double(i) / double(k - 1));
    times.back() = plan.endTime;
    return times;
}

std::vector<long> snapshotSteps(const RunPlan& plan) {
    checkPlan(plan);
    const int k = plan.snapshots;
    std::vector<long> steps(static_cast<std::size_t>(k));
    for (int i = 0; i < k; ++i) {
        const double ideal = k == 1 ? double(plan.steps) : std::pow(double(plan.steps), double(i) / double(k - 1));
        steps[std::size_t(i)] = std::lround(ideal);
    }
    // Distinct and increasing, ending at `steps`: push up from the front, then cap from the back.
    for (int i = 0; i < k; ++i)
        steps[std::size_t(i)] = std::max(steps[std::size_t(i)], i == 0 ? 1L : steps[std::size_t(i - 1)] + 1);
    steps.back() = plan.steps;
    for (int i = k - 2; i >= 0; --i)
        steps[std::size_t(i)] = std::min(steps[std::size_t(i)], steps[std::size_t(i + 1)] - 1);
    return steps;
}

RunSummary runCahnHilliard(const CahnHilliardParams& params, const StepControl& control, const RunPlan& plan,
                           const SnapshotHandler& onSnapshot, const Checkpointing& checkpointing,
                           ProgressToken* progress, int threads) {
    checkPlan(plan);
    const bool byTime = plan.endTime > 0.0;
    const std::vector<double> times = byTime ? snapshotTimes(plan) : std::vector<double>{};
    const std::vector<long> stepMarks = byTime ? std::vector<long>{} : snapshotSteps(plan);

    CahnHilliardSolver solver(params, control, threads);
    RunState run;
    RunSummary summary;
    if (!checkpointing.path.empty() && fs::exists(checkpointing.path)) {
        loadCheckpoint(checkpointing.path, run, solver);
        summary.resumed = true;
    } else {
        run.mean0 = solver.stats().mean;
        run.energyStart = solver.stats().energy;
        run.lengthStart = solver.characteristicLength();
    }

    using Clock = std::chrono::steady_clock;
    const auto sessionStart = Clock::now();
    auto lastCheckpoint = sessionStart, lastReport = sessionStart - std::chrono::seconds(1);
    const double secondsBefore = run.seconds;
    auto elapsed = [&] { return secondsBefore + std::chrono::duration<double>(Clock::now() - sessionStart).count(); };
    auto checkpoint = [&] {
        if (checkpointing.path.empty()) return;
        run.seconds = elapsed();
        saveCheckpoint(checkpointing.path, run, solver);
        lastCheckpoint = Clock::now();
    };
    const double logSpan = byTime ? std::log1p(plan.endTime) : std::log1p(double(plan.steps));
    const int k = plan.snapshots;
    long stepsThisSession = 0;
    bool capped = false;
    try {
        while (run.nextSnapshot < k) {
            if (progress) progress->throwIfCancelled();
            if (byTime && plan.maxSteps > 0 && solver.stepCount() >= plan.maxSteps) {
                capped = true;
                break;
            }
            const double energyBefore = solver.stats().energy;
            bool snapshotDue = false;
            if (byTime) {
                const double target = times[std::size_t(run.nextSnapshot)];
                solver.step(std::max(target - solver.time(), 1e-300));
                snapshotDue = solver.time() >= target * (1.0 - 1e-12);
            } else {
                solver.step();
                snapshotDue = solver.stepCount() >= stepMarks[std::size_t(run.nextSnapshot)];
            }
            ++stepsThisSession;
            const auto& s = solver.stats();
            if (s.energy > energyBefore + 1e-12 * (1.0 + std::abs(energyBefore))) ++run.energyIncreases;
            run.massDrift = std::max(run.massDrift, std::abs(s.mean - run.mean0) / std::abs(run.mean0));
            if (snapshotDue) {
                SnapshotInfo info;
                info.index = run.nextSnapshot;
                info.time = solver.time();
                info.step = solver.stepCount();
                info.energy = s.energy;
                info.length = solver.characteristicLength();
                if (onSnapshot) onSnapshot(info, solver);
                ++run.nextSnapshot;
            }
            const auto now = Clock::now();
            if ((checkpointing.everySteps > 0 && stepsThisSession % checkpointing.everySteps == 0) ||
                std::chrono::duration<double>(now - lastCheckpoint).count() >= checkpointing.everySeconds)
                checkpoint();
            if (progress && (now - lastReport > std::chrono::milliseconds(50) || run.nextSnapshot == k)) {
                lastReport = now;
                const double fraction =
                    byTime ? std::log1p(solver.time()) / logSpan : std::log1p(double(solver.stepCount())) / logSpan;
                progress->report(std::clamp(fraction, 0.0, 1.0),
                                 "t=" + std::to_string(solver.time()) + " step " + std::to_string(solver.stepCount()) +
                                     ", snapshot " + std::to_string(run.nextSnapshot) + "/" + std::to_string(k));
            }
        }
    } catch (const Cancelled&) {
        checkpoint();  // the state after the last whole step: a rerun resumes here
        throw;
    }
    checkpoint();
    summary.massDrift = run.massDrift;
    summary.energyStart = run.energyStart;
    summary.energyEnd = solver.stats().energy;
    summary.energyIncreases = run.energyIncreases;
    summary.lengthStart = run.lengthStart;
    summary.lengthEnd = solver.characteristicLength();
    summary.steps = solver.stepCount();
    summary.rejectedSteps = solver.rejectedCount();
    summary.snapshots = run.nextSnapshot;
    summary.finalTime = solver.time();
    summary.seconds = elapsed();
    summary.complete = !capped;
    return summary;
}

}  // namespace ms::physics
