// bench dist: data-parallel training, 1 process x 2 threads against 2
// processes x 1 thread (ml only).
#ifdef MICROSTUDIO_HAVE_ML
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <vector>

#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "microstudio/core/synthetic.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/vae2d.hpp"

extern char** environ;

#include "args.hpp"
#include "microstudio/core/error.hpp"
#include "options.hpp"
#include "subcommands.hpp"

namespace ms::cli {

namespace {

// A port the kernel just had free on the loopback (for the rendezvous).
int freePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw Error("bench dist: no socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        throw Error("bench dist: cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

struct DistFigures {
    double samplesPerSecond = 0.0;
    double commPerStep = 0.0;  // the step's all-reduce call, waiting for the slower rank included
    double allReduce = 0.0;    // one all-reduce of the gradients alone
    long parameters = 0;
};

// The workloads: the shipped compact 2D VAE on 101x101 images (compute
// heavy) and the default LDM MLP on 128-value latents (few FLOPs per
// parameter: communication heavy). Training from step 1 on (step 0 pays the
// lazy initialisation); synthetic data, no files.
DistFigures runWorkload(const std::string& model, int batchPerRank, int steps, int threads,
                        const std::shared_ptr<ml::Communicator>& communicator) {
    const int world = communicator ? communicator->worldSize() : 1;
    ml::TrainOptions t;
    t.epochs = 1;
    t.batchSize = batchPerRank;
    t.threads = threads;
    t.forceCpu = true;
    t.seed = 1;
    t.communicator = communicator;
    const std::size_t samples = std::size_t(batchPerRank) * std::size_t(world) * std::size_t(steps + 1);
    double firstStepDone = 0.0, lastStepDone = 0.0;
    t.onProgress = [&](const ml::TrainProgress& p) {
        if (p.step == 1) firstStepDone = p.seconds;
        lastStepDone = p.seconds;
    };
    DistFigures f;
    ml::TrainReport report;
    if (model == "vae2d") {
        std::vector<Volume> images;
        for (std::size_t i = 0; i < samples; ++i) {
            SyntheticOptions o;
            o.seed = std::uint64_t(i % 16 + 1);
            o.donorFraction = 0.35 + 0.3 * double(i % 7) / 6.0;
            images.push_back(syntheticMicrostructure(Dims{101, 101, 1}, o));
        }
        ml::Vae2dConfig compact;
        compact.latent = 64;
        compact.hidden = 256;
        compact.channels = {16, 32, 64, 64};
        ml::Vae2d vae(compact, 1);
        f.parameters = vae.parameterCount();
        ml::Vae2dTrainOptions o;
        o.train = t;
        report = ml::trainVae2d(vae, images, {}, o);
    } else {
        std::mt19937_64 rng(7);
        std::normal_distribution<float> normal;
        std::vector<std::vector<float>> latents(samples, std::vector<float>(128));
        for (auto& row : latents)
            for (auto& v : row) v = normal(rng);
        ml::Ldm2dConfig config;
        config.latent = 128;
        ml::Ldm2d ldm(config, 1);
        f.parameters = ldm.parameterCount();
        ml::Ldm2dTrainOptions o;
        o.train = t;
        report = ml::trainLdm2d(ldm, latents, {}, {}, {}, o);
    }
    const double measured = std::max(1e-9, lastStepDone - firstStepDone);
    f.samplesPerSecond = double(steps) * double(batchPerRank) * double(world) / measured;
    f.commPerStep = report.communicationSeconds / double(std::max<long>(1, report.steps));
    return f;
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
        auto f = runWorkload(*worker, globalBatch / d.worldSize, steps, 1, communicator);
        f.allReduce = communicator->timeAllReduce(f.parameters, 20);
        std::ofstream out(args.text("report"));
        out << f.samplesPerSecond << " " << f.commPerStep << " " << f.allReduce << "\n";
        if (!out.flush()) throw Error("bench dist: cannot write the report");
        return 0;
    }

    const auto temp = std::filesystem::temp_directory_path() / ("ms-bench-dist-" + std::to_string(::getpid()));
    std::filesystem::create_directories(temp);
    // OpenMP's spin-waiting decides the 1 x 2 figure on a loaded machine: say which policy ran.
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    std::printf(
        "bench dist: %d measured steps per run (after one warm-up step), CPU, Gloo over 127.0.0.1, "
        "OMP_WAIT_POLICY=%s\n",
        steps, policy ? policy : "(unset)");
    std::printf("%-26s %10s %14s %14s %14s %8s %12s %12s\n", "workload", "params", "1x1 samples/s", "1x2 samples/s",
                "2x1 samples/s", "2x1/1x2", "comm/step", "all-reduce");
    for (const auto& w : workloads) {
        const auto oneByOne = runWorkload(w.name, w.globalBatch, steps, 1, nullptr);
        const auto oneByTwo = runWorkload(w.name, w.globalBatch, steps, 2, nullptr);
        // Two ranks of this executable, one thread each; the rendezvous on a free port.
        const int port = freePort();
        std::vector<pid_t> pids;
        std::vector<std::filesystem::path> reports;
        for (int rank = 0; rank < 2; ++rank) {
            reports.push_back(temp / (std::string(w.name) + "-" + std::to_string(rank) + ".txt"));
            std::vector<std::string> words = {"microstudio-cli",
                                              "bench",
                                              "dist",
                                              "--worker",
                                              w.name,
                                              "--rank",
                                              std::to_string(rank),
                                              "--world-size",
                                              "2",
                                              "--master",
                                              "127.0.0.1:" + std::to_string(port),
                                              "--steps",
                                              std::to_string(steps),
                                              "--report",
                                              reports.back().string()};
            std::vector<char*> cargs;
            for (auto& word : words) cargs.push_back(word.data());
            cargs.push_back(nullptr);
            pid_t pid = 0;
            if (::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, cargs.data(), environ) != 0)
                throw Error("bench dist: cannot start a worker process");
            pids.push_back(pid);
        }
        bool ok = true;
        for (pid_t pid : pids) {
            int status = 0;
            ::waitpid(pid, &status, 0);
            ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        if (!ok) throw Error("bench dist: a worker process failed (see its message above)");
        DistFigures two;
        double slowest = 1e300;
        for (const auto& path : reports) {
            std::ifstream in(path);
            DistFigures r;
            if (!(in >> r.samplesPerSecond >> r.commPerStep >> r.allReduce))
                throw Error("bench dist: no report in " + path.string());
            slowest = std::min(slowest, r.samplesPerSecond);  // the run is as fast as its slowest rank
            two.commPerStep += r.commPerStep / 2.0;
            two.allReduce += r.allReduce / 2.0;
        }
        two.samplesPerSecond = slowest;
        std::printf("%-26s %10ld %14.1f %14.1f %14.1f %8.2f %9.2f ms %9.2f ms\n", w.label, oneByTwo.parameters,
                    oneByOne.samplesPerSecond, oneByTwo.samplesPerSecond, two.samplesPerSecond,
                    two.samplesPerSecond / oneByTwo.samplesPerSecond, two.commPerStep * 1e3, two.allReduce * 1e3);
        std::fflush(stdout);
    }
    std::filesystem::remove_all(temp);
    std::printf(
        "comm/step: the all-reduce call of a training step (waiting for the slower rank included);\n"
        "all-reduce: the same buffer (gradients) alone, mean of 20.\n");
    return 0;
}
}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_ML
