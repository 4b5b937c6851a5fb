// bench dist: data-parallel training, 1 process x 2 threads against 2
// processes x 1 thread (ml only). The workloads and their figures are
// ms::ml's (distributed.hpp); this file starts the ranks and prints.
#ifdef MICROSTUDIO_HAVE_ML
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "args.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/ml/distributed.hpp"
#include "options.hpp"
#include "subcommands.hpp"

namespace ms::cli {

namespace {

// Two ranks of this executable (`bench dist --worker`), one thread each, the
// rendezvous on a free port: the run's figures, as fast as its slower rank.
ml::DataParallelFigures twoRanks(const char* workload, int steps, const std::filesystem::path& temp) {
    const int port = ml::freeLoopbackPort();
    std::vector<std::vector<std::string>> ranks;
    std::vector<std::filesystem::path> reports;
    for (int rank = 0; rank < 2; ++rank) {
        reports.push_back(temp / (std::string(workload) + "-" + std::to_string(rank) + ".txt"));
        ranks.push_back({"bench", "dist", "--worker", workload, "--rank", std::to_string(rank), "--world-size", "2",
                         "--master", "127.0.0.1:" + std::to_string(port), "--steps", std::to_string(steps), "--report",
                         reports.back().string()});
    }
    runTogether(std::filesystem::read_symlink("/proc/self/exe"), ranks);  // this executable, by its name
    ml::DataParallelFigures two;
    double slowest = 1e300;
    for (const auto& path : reports) {
        std::ifstream in(path);
        ml::DataParallelFigures r;
        if (!(in >> r.samplesPerSecond >> r.commPerStep >> r.allReduce))
            throw Error("bench dist: no report in " + path.string());
        slowest = std::min(slowest, r.samplesPerSecond);
        two.commPerStep += r.commPerStep / 2.0;
        two.allReduce += r.allReduce / 2.0;
    }
    two.samplesPerSecond = slowest;
    return two;
}

}  // namespace

int benchDist(const CommandArgs& argv) {
    Options declared("bench dist [--steps N]",
                     "Data-parallel training on this machine, in one run: samples/s of 1 process x 2 threads against "
                     "2 processes x 1 thread (spawned; Gloo over the loopback) at the same global batch, and the "
                     "communication per step (the gradient all-reduce, and the same all-reduce alone). Workloads: the "
                     "compact 2D VAE (101x101, global batch 16) and the 2D LDM MLP (global batch 64). On a machine "
                     "shared with other jobs, compare with OMP_WAIT_POLICY=PASSIVE (docs/scaling.md).");
    declared.integer("steps", "N", "measured training steps per run").atLeast(1).def(10);
    declared.section("Internal, for the spawned ranks:");
    declared.text("worker", "WORKLOAD", "run one rank of this workload");
    declared.integer("rank", "R", "this rank").atLeast(0).def(0);
    declared.integer("world-size", "N", "number of ranks").atLeast(1).def(2);
    declared.text("master", "HOST:PORT", "the rendezvous");
    declared.text("report", "FILE", "where the rank writes its figures").def("dist-report.txt");
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    const int steps = int(args.integer("steps"));
    struct Workload {
        const char* name;
        const char* label;
        int globalBatch;
    };
    const Workload workloads[] = {{"vae2d", "compact 2D VAE, 101x101", 16}, {"ldm2d", "2D LDM MLP, latent 128", 64}};

    if (auto worker = args.value("worker")) {
        // One rank of the 2-process run: figures to --report.
        ml::DistributedOptions d;
        d.worldSize = int(args.integer("world-size"));
        d.rank = int(args.integer("rank"));
        d.setMaster(args.value("master", ""));
        d.timeoutSeconds = 120;
        auto communicator = std::make_shared<ml::Communicator>(d);
        int globalBatch = 0;
        for (const auto& w : workloads)
            if (*worker == w.name) globalBatch = w.globalBatch;
        if (globalBatch == 0) throw Error("bench dist: unknown workload " + *worker);
        auto f = ml::runDataParallelWorkload(*worker, globalBatch / d.worldSize, steps, 1, communicator);
        f.allReduce = communicator->timeAllReduce(f.parameters, 20);
        std::ofstream out(args.text("report"));
        out << f.samplesPerSecond << " " << f.commPerStep << " " << f.allReduce << "\n";
        if (!out.flush()) throw Error("bench dist: cannot write the report");
        return 0;
    }

    const TemporaryDirectory temp("ms-bench-dist");  // the ranks' reports; removed however the run ends
    // OpenMP's spin-waiting decides the 1 x 2 figure on a loaded machine: say which policy ran.
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    std::printf(
        "bench dist: %d measured steps per run (after one warm-up step), CPU, Gloo over 127.0.0.1, "
        "OMP_WAIT_POLICY=%s\n",
        steps, policy ? policy : "(unset)");
    std::printf("%-26s %10s %14s %14s %14s %8s %12s %12s\n", "workload", "params", "1x1 samples/s", "1x2 samples/s",
                "2x1 samples/s", "2x1/1x2", "comm/step", "all-reduce");
    for (const auto& w : workloads) {
        const auto oneByOne = ml::runDataParallelWorkload(w.name, w.globalBatch, steps, 1, nullptr);
        const auto oneByTwo = ml::runDataParallelWorkload(w.name, w.globalBatch, steps, 2, nullptr);
        const auto two = twoRanks(w.name, steps, temp.path());
        std::printf("%-26s %10ld %14.1f %14.1f %14.1f %8.2f %9.2f ms %9.2f ms\n", w.label, oneByTwo.parameters,
                    oneByOne.samplesPerSecond, oneByTwo.samplesPerSecond, two.samplesPerSecond,
                    two.samplesPerSecond / oneByTwo.samplesPerSecond, two.commPerStep * 1e3, two.allReduce * 1e3);
        std::fflush(stdout);
    }
    std::printf(
        "comm/step: the all-reduce call of a training step (waiting for the slower rank included);\n"
        "all-reduce: the same buffer (gradients) alone, mean of 20.\n");
    return 0;
}
}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_ML
