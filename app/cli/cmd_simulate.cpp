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
#include "options.hpp"
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

// The options of `simulate`, bound to the job (the library's defaults where
// it has them; the CLI's own: --time 2000 and the finer --max-change 0.005).
Options simulateOptions(jobs::SimulateJob& job) {
    physics::CahnHilliardParams& p = job.params;
    Options o("simulate --size NXxNY[xNZ] --phi C0 --chi CHI [OPTIONS] -o OUT.h5",
              "Runs the Cahn-Hilliard equation for a binary blend with the Flory-Huggins free energy f(c) = c ln c + "
              "(1-c) ln(1-c) + chi c (1-c) (spinodal at chi = 1/(2 c0 (1-c0))) on a periodic grid, from c0 plus "
              "small seeded noise. Writes one sample per snapshot (snap_000000 ...) with the field, the thresholded "
              "labels and attributes phi, chi, time, log_time, step, energy, length. Units: grid spacing 1, time in "
              "cells^2/M. A killed run resumes from OUT.h5.work/ when rerun.");
    o.dims("size", "NXxNY[xNZ]", "grid (101x101, 128x128x64 ...)", 2).def(p.dims.str());
    // The model's own ranges (phi in (0, 1), chi >= 0, ...) are physics::validate's, checked by the job before
    // it writes anything: a value the model refuses is a failed run (status 1), as for the noise models'.
    o.number("phi", "C0", "initial mean composition, in (0, 1)").to(p.phi);
    o.number("chi", "CHI", "Flory-Huggins interaction parameter, >= 0").to(p.chi);
    o.number("kappa", "K", "gradient energy coefficient (cells^2), > 0").to(p.kappa);
    o.number("mobility", "M", "mobility, > 0").to(p.mobility);
    o.number("noise", "A", "initial noise amplitude (uniform, zero mean), >= 0").to(p.noise);
    o.integer("seed", "S", "noise seed").atLeast(0).to(p.seed);
    o.integer("snapshots", "K", "snapshots, log-spaced").range(1, 1000000).def(job.plan.snapshots);
    o.number("time", "T", "end time; snapshots log-spaced in time from --first-time").above(0).def(2000);
    o.number("first-time", "T0", "time of the first snapshot, at most --time").above(0).def(job.plan.firstTime);
    o.integer("steps", "N",
              "without --time: run exactly N steps, snapshots log-spaced in step number; with --time: stop after N "
              "steps at most")
        .atLeast(0);
    o.number("max-change", "D", "largest change of c per step (accuracy of the time axis)").above(0).def(0.005);
    o.integer("phases", "2|3", "labels: 2 phases (0.5 threshold) or 3 (donor/mixed/acceptor)")
        .choices({"2", "3"})
        .to(job.phases);
    o.threads("threads (0 = every core)").to(job.threads);
    o.flag("no-field", "store only the labels");
    o.flag("json",
           "print a JSON summary (mass_drift, energy_start, energy_end, energy_increases, length_start, length_end, "
           "steps, seconds ...)");
    o.text("output", "FILE", "output .h5 file (required)").shortName('o').to(job.output);
    return o;
}

// The run plan: by time (--time, or neither --time nor --steps) or by steps.
physics::RunPlan runPlan(const Args& args) {
    physics::RunPlan plan;
    plan.snapshots = int(args.integer("snapshots"));
    const long steps = args.integer("steps", 0);
    if (args.has("time") || steps == 0) {
        plan.endTime = args.number("time");
        plan.firstTime = args.number("first-time");
        if (plan.firstTime > plan.endTime)
            throw UsageError("--first-time must be > 0 and at most --time (" + shown(plan.endTime) + "), got " +
                             shown(plan.firstTime));
        plan.maxSteps = steps;
    } else {
        if (args.has("first-time"))
            throw UsageError("--first-time needs --time (a run by --steps alone places snapshots by step)");
        if (steps < plan.snapshots)
            throw UsageError("--steps (" + std::to_string(steps) + ") must be at least --snapshots (" +
                             std::to_string(plan.snapshots) + "): one snapshot per step at most");
        plan.steps = steps;
    }
    return plan;
}

}  // namespace

int cmdSimulate(const CommandArgs& argv) {
    jobs::SimulateJob job;
    const auto parsed = simulateOptions(job).parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("output")) throw UsageError("missing -o OUT.h5 (see --help)");
    job.params.dims = parseDims(args.text("size"));
    job.plan = runPlan(args);
    job.control.maxChange = args.number("max-change");
    job.keepField = !args.flag("no-field");

    const auto s = withProgressBar("simulate", true, [&](ProgressToken* t) { return jobs::runSimulateJob(job, t); });
    if (args.flag("json")) {
        const Json summary{{"output", job.output.string()},
                           {"size", job.params.dims.str()},
                           {"phi", job.params.phi},
                           {"chi", job.params.chi},
                           {"spinodal_chi", physics::spinodalChi(job.params.phi)},
                           {"mass_drift", s.massDrift},
                           {"energy_start", s.energyStart},
                           {"energy_end", s.energyEnd},
                           {"energy_increases", s.energyIncreases},
                           {"length_start", s.lengthStart},
                           {"length_end", s.lengthEnd},
                           {"steps", s.steps},
                           {"rejected_steps", s.rejectedSteps},
                           {"snapshots", s.snapshots},
                           {"final_time", s.finalTime},
                           {"seconds", s.seconds},
                           {"resumed", s.resumed},
                           {"complete", s.complete}};
        std::cout << jsonText(summary) << "\n";
    } else {
        std::printf(
            "wrote %s: %d snapshots, %ld steps (%ld rejected), t = %.6g, %.2f s\n"
            "mass drift %.3g, free energy %.6g -> %.6g (%ld increases), length %.3g -> %.3g cells\n",
            job.output.string().c_str(), s.snapshots, s.steps, s.rejectedSteps, s.finalTime, s.seconds, s.massDrift,
            s.energyStart, s.energyEnd, s.energyIncreases, s.lengthStart, s.lengthEnd);
    }
    return 0;
}

// bench simulate: steps per second at 128x128 and 128x128x64 (1 and 2
// threads), and the steps a 128x128 run needs until L reaches 16 cells.
int benchSimulate(const CommandArgs& argv) {
    Options declared("bench simulate [--seconds S]",
                     "Cahn-Hilliard (phi 0.5, chi 3, kappa 2, default step control) steps per second at 128x128 (1 "
                     "thread) and 128x128x64 (1 and 2 threads) (targets: 500 and 10 on 2 cores), and the steps and "
                     "time a 128x128 run needs until the characteristic length reaches 16 cells.");
    declared.number("seconds", "S", "seconds each rate is measured for").above(0).def(3);
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const double budget = parsed->number("seconds");
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
        std::printf("128x128x64  %d thread%s: %8.2f steps/s (target 10: %.2fx)\n", threads, threads > 1 ? "s" : " ", r3,
                    r3 / 10);
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
