// microstudio-cli bench ml: the 2D models' training step and inference
// timings (ml/bench2d.hpp), printed.
#ifdef MICROSTUDIO_HAVE_ML
#include <cstdio>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/ml/bench2d.hpp"

namespace ms::cli {

int benchMl(const CommandArgs& argv) {
    Options o("bench ml [--steps N] [--threads N]",
              "Seconds per training step (batch 32, 101x101, multi-noise augmentation included) of the paper's VAE "
              "and the compact shipped architecture, then inference throughput.");
    o.integer("steps", "N", "measured training steps").atLeast(1).def(5);
    o.threads("torch CPU threads (0 = every core)");
    const auto parsed = o.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    const auto bench = ml::benchmarkMl2d(int(args.integer("steps")), int(args.integer("threads")));
    for (const auto& t : bench.training)
        std::printf("%-34s %10ld params %8.3f s/step wall, %6.3f CPU s/step (batch 32) on %s\n", t.name.c_str(),
                    t.parameters, t.secondsPerStep, t.cpuSecondsPerStep, t.device.c_str());
    const double ratio = bench.training[1].secondsPerStep / bench.training[0].secondsPerStep;
    std::printf("compact / paper step time: %.2f\n", ratio);
    std::printf("compact VAE denoise: %.2f ms per 101x101 image (batches of 64)\n", bench.denoiseMsPerImage);
    std::printf("LDM (512 wide, 4 blocks) DDIM 50 steps: %.2f ms per latent (64 at once)\n", bench.ldmMsPerLatent);
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
