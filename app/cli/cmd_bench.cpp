#include <cstdio>
#include <cstring>
#include <iostream>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/error.hpp"

namespace ms::cli {

namespace {

struct Benchmark {
    const char* name;
    const char* summary;
    int (*run)(const CommandArgs& args);
};

// One row per benchmark; each prints its figures (and ratios) in one run.
const std::vector<Benchmark>& benchmarkTable() {
    static const std::vector<Benchmark> table = {
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
        {"descriptors", "GraSPI descriptors, one core: 512x128 2D and 128x128x64 3D", benchDescriptors},
#endif
#ifdef MICROSTUDIO_HAVE_NOISE
        {"noise", "noise models and classical denoisers, 2D and 3D; paired-dataset throughput", benchNoise},
#endif
#ifdef MICROSTUDIO_HAVE_ML
        {"ml", "2D VAE training step (paper and compact, batch 32), encode/denoise and DDIM throughput", benchMl},
        {"ml3d", "paper-sized 3D VAE / U-Net forward+backward at batch 1, denoising step, parameter counts", benchMl3d},
#endif
#ifdef MICROSTUDIO_HAVE_JOBS
        {"simulate", "Cahn-Hilliard steps/s at 128x128 and 128x128x64; steps until L = 16", benchSimulate},
#endif
    };
    return table;
}

}  // namespace

int cmdBench(const CommandArgs& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
        std::cout << "Usage: microstudio-cli bench NAME [OPTIONS]\n\nBenchmarks (figures go to docs/benchmarks.md):\n";
        for (const auto& b : benchmarkTable()) std::printf("  %-12s %s\n", b.name, b.summary);
        return 0;
    }
    for (const auto& b : benchmarkTable())
        if (argv[0] == b.name) return b.run(CommandArgs(argv.begin() + 1, argv.end()));
    throw Error("unknown benchmark '" + argv[0] + "' (see bench --help)");
}

}  // namespace ms::cli
