#include "microstudio/ml/bench2d.hpp"

#include <chrono>
#include <ctime>

#include "microstudio/core/synthetic.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/vae2d.hpp"

namespace ms::ml {

namespace {

// One warm-up step, then warm-up + `steps` on a fresh model (a checkpoint in
// memory cannot be resumed): the difference is the measured steps.
Vae2dStepTiming timeVae2dSteps(const char* name, const Vae2dConfig& config, const std::vector<Volume>& images,
                               int steps, int threads) {
    Vae2d model(config, 1);
    Vae2dTrainOptions o;
    o.train.epochs = 1;
    o.train.batchSize = 32;
    o.train.threads = threads;
    o.train.stopAfterSteps = 1;
    std::vector<Volume> data;
    for (int k = 0; k < (steps + 1) / 2 + 1; ++k) data.insert(data.end(), images.begin(), images.end());
    Vae2d fresh(config, 1);
    const std::clock_t c0 = std::clock();
    const auto warm = trainVae2d(model, data, {}, o);
    const std::clock_t c1 = std::clock();
    o.train.stopAfterSteps = steps + 1;
    const auto report = trainVae2d(fresh, data, {}, o);
    const std::clock_t c2 = std::clock();
    Vae2dStepTiming t;
    t.name = name;
    t.parameters = model.parameterCount();
    t.secondsPerStep = (report.seconds - warm.seconds) / steps;
    t.cpuSecondsPerStep = (double(c2 - c1) - double(c1 - c0)) / CLOCKS_PER_SEC / steps;
    t.device = report.device;
    return t;
}

}  // namespace

Ml2dBenchmark benchmarkMl2d(int steps, int threads) {
    std::vector<Volume> images;
    for (int i = 0; i < 64; ++i) {
        SyntheticOptions o;
        o.seed = std::uint64_t(i + 1);
        o.donorFraction = 0.35 + 0.3 * (i % 7) / 6.0;
        images.push_back(syntheticMicrostructure(Dims{101, 101, 1}, o));
    }
    Ml2dBenchmark bench;
    const Vae2dConfig paper;
    Vae2dConfig compact;
    compact.latent = 64;
    compact.hidden = 256;
    compact.channels = {16, 32, 64, 64};
    bench.training.push_back(timeVae2dSteps("paper VAE (L 128, 32..256, 1024)", paper, images, steps, threads));
    bench.training.push_back(timeVae2dSteps("compact VAE (L 64, 16..64, 256)", compact, images, steps, threads));

    Vae2d model(compact, 1);
    auto t0 = std::chrono::steady_clock::now();
    const auto out = model.denoise(images);
    bench.denoiseMsPerImage = 1e3 * secondsSince(t0) / double(out.size());

    Ldm2dConfig lc;
    lc.latent = 64;
    lc.conditions = {"vf", "phi", "chi"};
    Ldm2d ldm(lc, 1);
    Ldm2dSampleOptions so;
    so.count = 64;
    so.steps = 50;
    so.conditions = {{0.5, 0.5, 3.0}};
    t0 = std::chrono::steady_clock::now();
    ldm.sample(so);
    bench.ldmMsPerLatent = 1e3 * secondsSince(t0) / 64.0;
    return bench;
}

}  // namespace ms::ml
