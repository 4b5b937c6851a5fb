// microstudio-cli bench: the list of benchmarks; each lives beside the code it
// measures (bench dist in cmd_bench_dist.cpp).
#include <cstdio>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "subcommands.hpp"
#include "microstudio/core/error.hpp"

namespace ms::cli {

namespace {

// One row per benchmark; each prints its figures (and ratios) in one run.
std::vector<Subcommand> benchmarks() {
    return {
#if defined(MICROSTUDIO_HAVE_DESCRIPTORS) && defined(MICROSTUDIO_HAVE_JOBS)
        {"descriptors", "GraSPI descriptors, one core: 512x128 2D and 128x128x64 3D", benchDescriptors},
#endif
#ifdef MICROSTUDIO_HAVE_NOISE
            {"noise", "noise models and classical denoisers, 2D and 3D; paired-dataset throughput", benchNoise},
#endif
#ifdef MICROSTUDIO_HAVE_ML
            {"ml", "2D VAE training step (paper and compact, batch 32), encode/denoise and DDIM throughput", benchMl},
            {"ml3d", "paper-sized 3D VAE / U-Net forward+backward at batch 1, denoising step, parameter counts",
             benchMl3d},
            {"dist", "data-parallel training: 1 process x 2 threads vs 2 processes x 1 thread, all-reduce time",
             benchDist},
#endif
            {"startup", "whole short commands: the torch-free CLI against the ML worker (process start)", benchStartup},
#ifdef MICROSTUDIO_HAVE_JOBS
            {"simulate", "Cahn-Hilliard steps/s at 128x128 and 128x128x64; steps until L = 16", benchSimulate},
#endif
    };
}

}  // namespace

int cmdBench(const CommandArgs& argv) {
    static const SubcommandSet set{
        "bench", "benchmark", {"bench NAME [OPTIONS]"}, "Benchmarks (figures go to docs/benchmarks.md):", benchmarks(),
        "",      0,
    };
    return set.run(argv);
}

}  // namespace ms::cli
