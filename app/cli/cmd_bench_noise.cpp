// bench noise: the noise models, the classical denoisers and the paired
// dataset's throughput.
#ifdef MICROSTUDIO_HAVE_NOISE
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/noise/dataset.hpp"
#include "microstudio/noise/denoise.hpp"
#include "microstudio/noise/noise.hpp"
#include "microstudio/noise/synthetic.hpp"
#include "options.hpp"

namespace ms::cli {

namespace {

template <class F>
double bestMilliseconds(int repeats, F&& work) {
    double best = 1e300;
    for (int r = 0; r < repeats; ++r) {
        const auto start = std::chrono::steady_clock::now();
        work();
        best =
            std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
}

}  // namespace

int benchNoise(const CommandArgs& argv) {
    Options declared("bench noise [--repeats N]",
                     "Best-of-N time of each noise model and classical denoiser on a 101x101 image and a 128x128x64 "
                     "volume (one thread), and paired-dataset throughput for 64 101x101 images x 3 noise types on one "
                     "thread and on every core.");
    declared.integer("repeats", "N", "runs of each; the best is shown").range(1, 1000).def(5);
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const long repeats = parsed->integer("repeats");
    const std::vector<Volume> volumes = {noise::syntheticMorphology(Dims{101, 101, 1}, 1),
                                         noise::syntheticMorphology(Dims{128, 128, 64}, 1)};
    std::printf("%-22s %12s %14s %10s\n", "step", "101x101 ms", "128x128x64 ms", "ns/voxel 3D");
    for (auto type : noise::allNoiseTypes()) {
        noise::NoiseModel model;
        model.type = type;
        double ms[2];
        for (int v = 0; v < 2; ++v)
            ms[v] = bestMilliseconds(int(repeats), [&] { noise::applyNoise(volumes[std::size_t(v)], model, 3); });
        std::printf("%-22s %12.3f %14.1f %10.1f\n", (std::string("noise ") + noise::noiseTypeName(type)).c_str(), ms[0],
                    ms[1], ms[1] * 1e6 / double(volumes[1].size()));
    }
    for (const auto& denoiser : noise::standardDenoisers()) {
        if (denoiser->kind() == noise::DenoiserKind::None) continue;
        double ms[2];
        for (int v = 0; v < 2; ++v) {
            const Volume noisy = noise::addSaltPepper(volumes[std::size_t(v)], 0.15, 3);
            ms[v] = bestMilliseconds(int(repeats), [&] { denoiser->denoise(noisy); });
        }
        std::printf("%-22s %12.3f %14.1f %10.1f\n", ("denoise " + denoiser->name()).c_str(), ms[0], ms[1],
                    ms[1] * 1e6 / double(volumes[1].size()));
    }
    const auto clean = noise::syntheticSet(64, 101, 5);
    noise::PairedDatasetOptions options;
    for (auto type : noise::allNoiseTypes()) options.noises.push_back(noise::NoiseRanges::defaults(type));
    double ms[2];
    for (int t = 0; t < 2; ++t) {
        options.threads = t == 0 ? 1 : 0;
        ms[t] = bestMilliseconds(int(repeats), [&] { noise::makePairs(clean, options); });
    }
    std::printf(
        "paired dataset, 64 x 3 noisy 101x101: %.1f ms on 1 thread (%.0f pairs/s), %.1f ms on %d threads "
        "(%.0f pairs/s), speed-up %.2fx\n",
        ms[0], 192e3 / ms[0], ms[1], defaultThreadCount(), 192e3 / ms[1], ms[0] / ms[1]);
    return 0;
}

}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_NOISE
