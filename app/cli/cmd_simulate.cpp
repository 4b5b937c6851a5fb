// microstudio-cli simulate: one Cahn-Hilliard run to an HDF5 file (field and
// thresholded labels per snapshot), resumable.
#ifdef MICROSTUDIO_HAVE_JOBS
#include <chrono>
#include <cmath>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "args.hpp"
#include "microstudio/core/json.hpp"
#include "commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/jobs/simulate_job.hpp"
#include "microstudio/physics/cahn_hilliard.hpp"
#include "microstudio/physics/flory_huggins.hpp"

namespace ms::cli {

namespace {


std::string shown(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

}  // namespace

int cmdSimulate(const CommandArgs& argv) {
    Args args(argv,
              {"size", "phi", "chi", "kappa", "mobility", "noise", "seed", "snapshots", "steps", "time", "first-time",
               "max-change", "phases", "threads", "output"},
              {"json", "no-field"});
    if (args.helpRequested()) {
        std::cout <<
            "Usage: microstudio-cli simulate --size NXxNY[xNZ] --phi C0 --chi CHI [OPTIONS] -o OUT.h5\n\n"
            "Runs the Cahn-Hilliard equation for a binary blend with the Flory-Huggins free energy\n"
            "f(c) = c ln c + (1-c) ln(1-c) + chi c (1-c) (spinodal at chi = 1/(2 c0 (1-c0))) on a periodic\n"
            "grid, from c0 plus small seeded noise. Writes one sample per snapshot (snap_000000 ...) with the\n"
            "field, the thresholded labels and attributes phi, chi, time, log_time, step, energy, length.\n"
            "Units: grid spacing 1, time in cells^2/M. A killed run resumes from OUT.h5.work/ when rerun.\n\n"
            "Options:\n"
            "  --size NXxNY[xNZ]  grid (101x101, 128x128x64 ...)                        [101x101]\n"
            "  --phi C0           initial mean composition                              [0.5]\n"
            "  --chi CHI          Flory-Huggins interaction parameter                    [3.0]\n"
            "  --kappa K          gradient energy coefficient (cells^2)                  [2.0]\n"
            "  --mobility M       mobility                                               [1.0]\n"
            "  --noise A          initial noise amplitude (uniform, zero mean)           [0.01]\n"
            "  --seed S           noise seed                                             [1]\n"
            "  --snapshots K      snapshots, log-spaced                                  [400]\n"
            "  --time T           end time; snapshots log-spaced in time from --first-time [2000]\n"
            "  --first-time T0    time of the first snapshot                             [1]\n"
            "  --steps N          without --time: run exactly N steps, snapshots log-spaced in step\n"
            "                     number; with --time: stop after N steps at most\n"
            "  --max-change D     largest change of c per step (accuracy of the time axis) [0.005]\n"
            "  --phases 2|3       labels: 2 phases (0.5 threshold) or 3 (donor/mixed/acceptor) [2]\n"
            "  --threads N        threads (0 = every core)                               [0]\n"
            "  --no-field         store only the labels\n"
            "  --json             print a JSON summary (mass_drift, energy_start, energy_end,\n"
            "                     energy_increases, length_start, length_end, steps, seconds ...)\n"
            "  -o, --output FILE  output .h5 file (required)\n";
        return 0;
    }
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("output")) throw Error("missing -o OUT.h5 (see --help)");
    // Every option is checked here, naming it, before the run touches the
    // output's work folder (a refused run leaves nothing behind).
    jobs::SimulateJob job;
    job.params.dims = parseDims(args.value("size", "101x101"));
    if (job.params.dims.nx < 2 || job.params.dims.ny < 2)
        throw Error("--size must be at least 2x2, got " + job.params.dims.str());
    job.params.phi = args.number("phi", 0.5);
    if (!(job.params.phi > 0 && job.params.phi < 1)) throw Error("--phi must lie between 0 and 1 (exclusive), got " + shown(job.params.phi));
    job.params.chi = args.number("chi", 3.0);
    if (!(job.params.chi >= 0)) throw Error("--chi must be >= 0, got " + shown(job.params.chi));
    job.params.kappa = args.number("kappa", 2.0);
    if (!(job.params.kappa > 0)) throw Error("--kappa must be > 0, got " + shown(job.params.kappa));
    job.params.mobility = args.number("mobility", 1.0);
    if (!(job.params.mobility > 0)) throw Error("--mobility must be > 0, got " + shown(job.params.mobility));
    job.params.noise = args.number("noise", 0.01);
    if (!(job.params.noise >= 0)) throw Error("--noise must be >= 0, got " + shown(job.params.noise));
    const long seed = args.integer("seed", 1);
    if (seed < 0) throw Error("--seed must be >= 0");
    job.params.seed = std::uint64_t(seed);
    const long snapshots = args.integer("snapshots", 400);
    if (snapshots < 1 || snapshots > 1000000)
        throw Error("--snapshots must be from 1 to 1000000, got " + std::to_string(snapshots));
    job.plan.snapshots = int(snapshots);
    const long steps = args.integer("steps", 0);
    if (steps < 0) throw Error("--steps must be >= 0");
    if (args.has("time") || steps == 0) {
        job.plan.endTime = args.number("time", 2000.0);
        if (!(job.plan.endTime > 0))
            throw Error("--time must be > 0 (the simulated time the run ends at), got " + shown(job.plan.endTime));
        job.plan.firstTime = args.number("first-time", 1.0);
        if (!(job.plan.firstTime > 0 && job.plan.firstTime <= job.plan.endTime))
            throw Error("--first-time must be > 0 and at most --time (" + shown(job.plan.endTime) + "), got " +
                        shown(job.plan.firstTime));
        job.plan.maxSteps = steps;
    } else {
        if (args.has("first-time")) throw Error("--first-time needs --time (a run by --steps alone places snapshots by step)");
        if (steps < snapshots)
            throw Error("--steps (" + std::to_string(steps) + ") must be at least --snapshots (" +
                        std::to_string(snapshots) + "): one snapshot per step at most");
        job.plan.steps = steps;
    }
    job.control.maxChange = args.number("max-change", 0.005);
    if (!(job.control.maxChange > 0)) throw Error("--max-change must be > 0");
    const long phases = args.integer("phases", 2);
    if (phases != 2 && phases != 3) throw Error("--phases must be 2 or 3, got " + std::to_string(phases));
    job.phases = int(phases);
    job.threads = int(args.integer("threads", 0));  // Args refuses a negative count
    job.keepField = !args.flag("no-field");
    job.output = *args.value("output");

    ProgressToken token;
    ProgressBar bar("simulate");
    token.setListener([&](double f, const std::string& m) { bar.update(f, m); });
    const CancelOnInterrupt interrupt(token);
    const auto s = jobs::runSimulateJob(job, &token);
    bar.finish();
    if (args.flag("json")) {
        const Json summary{{"output", job.output.string()}, {"size", job.params.dims.str()}, {"phi", job.params.phi},
                           {"chi", job.params.chi}, {"spinodal_chi", physics::spinodalChi(job.params.phi)},
                           {"mass_drift", s.massDrift}, {"energy_start", s.energyStart}, {"energy_end", s.energyEnd},
                           {"energy_increases", s.energyIncreases}, {"length_start", s.lengthStart},
                           {"length_end", s.lengthEnd}, {"steps", s.steps}, {"rejected_steps", s.rejectedSteps},
                           {"snapshots", s.snapshots}, {"final_time", s.finalTime}, {"seconds", s.seconds},
                           {"resumed", s.resumed}, {"complete", s.complete}};
        std::cout << jsonText(summary) << "\n";
    } else {
        std::printf("wrote %s: %d snapshots, %ld steps (%ld rejected), t = %.6g, %.2f s\n"
                    "mass drift %.3g, free energy %.6g -> %.6g (%ld increases), length %.3g -> %.3g cells\n",
                    job.output.string().c_str(), s.snapshots, s.steps, s.rejectedSteps, s.finalTime, s.seconds,
                    s.massDrift, s.energyStart, s.energyEnd, s.energyIncreases, s.lengthStart, s.lengthEnd);
    }
    return 0;
}


// bench simulate: steps per second at 128x128 and 128x128x64 (1 and 2
// threads), and the steps a 128x128 run needs until L reaches 16 cells.
int benchSimulate(const CommandArgs& argv) {
    Args args(argv, {"seconds"}, {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli bench simulate [--seconds S]\n\n"
                     "Cahn-Hilliard (phi 0.5, chi 3, kappa 2, default step control) steps per second at 128x128\n"
                     "(1 thread) and 128x128x64 (1 and 2 threads) (targets: 500 and 10 on 2 cores), and the steps and\n"
                     "time a 128x128 run needs until the characteristic length reaches 16 cells.\n";
        return 0;
    }
    const double budget = args.number("seconds", 3.0);
    using Clock = std::chrono::steady_clock;
    auto rate = [&](const Dims& dims, int threads) {
        physics::CahnHilliardParams p;
        p.dims = dims;
        physics::StepControl control;
        control.maxChange = 0.005;
        physics::CahnHilliardSolver solver(p, control, threads);
        for (int i = 0; i < 3; ++i) solver.step();  // warm up caches and FFTW
        const long first = solver.stepCount();
        const auto t0 = Clock::now();
        double seconds = 0;
        while (seconds < budget) {
            solver.step();
            seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        }
        return double(solver.stepCount() - first) / seconds;
    };
    // 2D grids below 128k cells always run FFTW on one thread (faster there), so 2D is timed once.
    const double r2 = rate(Dims{128, 128, 1}, 1);
    std::printf("128x128     1 thread : %8.1f steps/s (target 500: %.2fx)\n", r2, r2 / 500);
    std::fflush(stdout);
    double best3D = 0;
    for (int threads : {1, 2}) {
        const double r3 = rate(Dims{128, 128, 64}, threads);
        std::printf("128x128x64  %d thread%s: %8.2f steps/s (target 10: %.2fx)\n", threads, threads > 1 ? "s" : " ", r3, r3 / 10);
        std::fflush(stdout);
        best3D = std::max(best3D, r3);
    }
    physics::CahnHilliardParams p;
    p.dims = Dims{128, 128, 1};
    physics::StepControl control;
    control.maxChange = 0.005;
    physics::CahnHilliardSolver solver(p, control, 1);
    const auto t0 = Clock::now();
    while (solver.characteristicLength() < 16.0 && solver.stepCount() < 1000000) solver.step();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("128x128 phi 0.5 chi 3: L = 16 cells after %ld steps (%ld rejected), t = %.1f, %.2f s on 1 thread\n",
                solver.stepCount(), solver.rejectedCount(), solver.time(), seconds);
    std::printf("best: 2D %.0f steps/s, 3D %.1f steps/s\n", r2, best3D);
    return 0;
}

}  // namespace ms::cli
#endif
