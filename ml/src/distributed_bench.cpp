// bench dist's workloads and its rendezvous port (distributed.hpp).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "microstudio/core/error.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/ml/distributed.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/vae2d.hpp"

namespace ms::ml {

int freeLoopbackPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw Error("no socket to find a free loopback port with");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    const bool found = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                       ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!found) throw Error("cannot find a free port on the loopback");
    return ntohs(addr.sin_port);
}

namespace {

TrainReport trainCompactVae(std::size_t samples, const TrainOptions& t, long& parameters) {
    std::vector<Volume> images;
    for (std::size_t i = 0; i < samples; ++i) {
        SyntheticOptions o;
        o.seed = std::uint64_t(i % 16 + 1);
        o.donorFraction = 0.35 + 0.3 * double(i % 7) / 6.0;
        images.push_back(syntheticMicrostructure(Dims{101, 101, 1}, o));
    }
    Vae2dConfig compact;
    compact.latent = 64;
    compact.hidden = 256;
    compact.channels = {16, 32, 64, 64};
    Vae2d vae(compact, 1);
    parameters = vae.parameterCount();
    Vae2dTrainOptions o;
    o.train = t;
    return trainVae2d(vae, images, {}, o);
}

TrainReport trainLatentMlp(std::size_t samples, const TrainOptions& t, long& parameters) {
    std::mt19937_64 rng(7);
    std::normal_distribution<float> normal;
    std::vector<std::vector<float>> latents(samples, std::vector<float>(128));
    for (auto& row : latents)
        for (auto& v : row) v = normal(rng);
    Ldm2dConfig config;
    config.latent = 128;
    Ldm2d ldm(config, 1);
    parameters = ldm.parameterCount();
    Ldm2dTrainOptions o;
    o.train = t;
    return trainLdm2d(ldm, latents, {}, {}, {}, o);
}

}  // namespace

DataParallelFigures runDataParallelWorkload(const std::string& workload, int batchPerRank, int steps, int threads,
                                            const std::shared_ptr<Communicator>& communicator) {
    if (workload != "vae2d" && workload != "ldm2d")
        throw Error("unknown data-parallel workload '" + workload + "' (vae2d or ldm2d)");
    if (batchPerRank < 1 || steps < 1 || threads < 1)
        throw Error("a data-parallel workload needs batch, steps and threads >= 1");
    const int world = communicator ? communicator->worldSize() : 1;
    TrainOptions t;
    t.epochs = 1;
    t.batchSize = batchPerRank;
    t.threads = threads;
    t.forceCpu = true;
    t.seed = 1;
    t.communicator = communicator;
    // Measured from the end of step 1 on: step 0 pays the lazy initialisation.
    double firstStepDone = 0.0, lastStepDone = 0.0;
    t.onProgress = [&](const TrainProgress& p) {
        if (p.step == 1) firstStepDone = p.seconds;
        lastStepDone = p.seconds;
    };
    const std::size_t samples = std::size_t(batchPerRank) * std::size_t(world) * std::size_t(steps + 1);
    DataParallelFigures f;
    const TrainReport report =
        workload == "vae2d" ? trainCompactVae(samples, t, f.parameters) : trainLatentMlp(samples, t, f.parameters);
    const double measured = std::max(1e-9, lastStepDone - firstStepDone);
    f.samplesPerSecond = double(steps) * double(batchPerRank) * double(world) / measured;
    f.commPerStep = report.communicationSeconds / double(std::max<long>(1, report.steps));
    return f;
}

}  // namespace ms::ml
