#pragma once
// `bench ml`: seconds per training step (batch 32, 101x101, multi-noise
// augmentation included) of the paper's VAE and the compact shipped
// architecture, then the inference throughput of the VAE and the LDM, on
// synthetic images. The caller prints.
#include <string>
#include <vector>

namespace ms::ml {

struct Vae2dStepTiming {
    std::string name;  // "paper VAE (L 128, 32..256, 1024)"
    long parameters = 0;
    double secondsPerStep = 0.0;     // wall
    double cpuSecondsPerStep = 0.0;  // all threads: robust on a machine shared with other jobs
    std::string device;
};

struct Ml2dBenchmark {
    std::vector<Vae2dStepTiming> training;  // the paper's VAE, then the compact one
    double denoiseMsPerImage = 0.0;         // the compact VAE, batches of 64
    double ldmMsPerLatent = 0.0;            // 512 wide, 4 blocks, DDIM 50 steps, 64 latents at once
};

// `steps` measured steps after one warm-up step; `threads` 0 = every core.
Ml2dBenchmark benchmarkMl2d(int steps, int threads);

}  // namespace ms::ml
