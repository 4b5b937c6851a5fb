// microstudio-cli bench ml3d: paper-sized MicroGen3D networks (forward,
// backward, a denoising step, parameter counts), generate() by batch size,
// and a trained model's volumes larger than the training box by each
// method. The timing is ms::ml's (evaluate3d.hpp); this file parses and prints.
#ifdef MICROSTUDIO_HAVE_ML
#include <cstdio>
#include <cstdlib>
#include <string>

#include "args.hpp"
#include "ml_worker.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "report3d.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/train3d.hpp"
#include "microstudio/ml/worker_server.hpp"

namespace ms::cli {

namespace {

Options benchOptions() {
    Options o("bench ml3d [--repeats N] [--threads T] [--cpu] [--tiny]",
              "Paper-sized MicroGen3D networks (2-phase CH: 128x128x64 -> latent 4x8x8x4, U-Net n_feat 512) at batch "
              "1: VAE and U-Net forward+backward, one guided denoising step, one decode, and the parameter counts "
              "against the paper's Table 1. --tiny: the test configuration.");
    o.alsoUsage("bench ml3d --batch-sizes L [--steps K] [--tiny]");
    o.alsoUsage("bench ml3d --large NXxNYxNZ [--model M] [--repeats N] [--threads T]");
    o.alsoUsage("bench ml3d --worker [--model M] [--samples N] [--repeats N] [--threads T]");
    o.alsoUsage("bench ml3d --worker-training [--repeats N] [--threads T]");
    o.alsoUsage("bench ml3d --precision [--steps K] [--repeats N] [--threads T]");
    o.integer("repeats", "N", "timed calls per network, after one warm-up").atLeast(1).def(1);
    o.threads("torch threads");
    o.flag("cpu", "never use CUDA");
    o.flag("tiny", "the test configuration instead of the paper's");
    report3d::declareBatchSizes(o,
                                "instead: generate() with an untrained model of that size at each batch size (e.g. "
                                "1,2,4,8,16,32), seconds per sample denoise vs decode",
                                "");
    o.integer("steps", "K", "DDIM steps for --batch-sizes (at most the model's T); timed steps per run for --precision")
        .atLeast(1)
        .def(2);
    o.dims("large", "NXxNYxNZ",
           "instead: one sample of a trained model (--model) at its training size and at this size by each "
           "--large-method (whole, windows), DPM-Solver++ 16 steps, the model's guidance: seconds per sample and "
           "per voxel, ratios, the machine's load");
    o.flag("worker",
           "instead: the Design tab's generation (DDIM-50, the model's guidance, batch 4, each sample described) in "
           "this process and through the ML worker (microstudio-ml serve, docs/worker-protocol.md) side by side: "
           "seconds per request, the worker's first (start-up and model load) and warm requests, the machine's load");
    o.integer("samples", "N", "with --worker: samples per request").range(1, 1000).def(4);
    o.flag("worker-training",
           "a small 3D generator trained as the studio's wizard does (the wizard's defaults, 64 synthetic 32x32x16 "
           "volumes, 3 epochs of each stage, batch 4) in this process and through the ML worker, alternating");
    o.flag("precision",
           "instead: training steps of the recipe's VAE (batch 16) and DDPM (batch 64) on synthetic 64x64x32 "
           "volumes in float32 and with --bf16 mixed precision, alternating; the fastest of --repeats each");
    o.text("model", "M", "with --large or --worker: model folder / name").note(report3d::kShippedGenerator);
    return o;
}

// --batch-sizes: untrained weights cost the same as trained ones.
int benchBatchSizes(const Args& args, const ml::Generator3dConfig& config) {
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    const long steps = args.integer("steps");
    if (steps > config.timesteps)
        throw UsageError("--steps must be in 1..T (T = " + std::to_string(config.timesteps) + ")");
    const auto model = ml::Generator3D::create(config, 0);
    std::printf("config: %s, U-Net n_feat %d, device %s, DDIM-%ld, guidance 2 (cond + uncond)\n",
                config.vae.dims.str().c_str(), config.unetFeatures, model.device().c_str(), steps);
    std::printf("%-6s %16s %16s %16s\n", "batch", "denoise s/sample", "per step", "decode s/sample");
    for (const auto& row : ml::timeBatchSizes(model, report3d::batchSizes(args.text("batch-sizes")), int(steps)))
        std::printf("%-6d %16.4g %16.4g %16.4g\n", row.batch, row.denoiseSecondsPerSample,
                    row.denoiseSecondsPerSample / double(steps), row.decodeSecondsPerSample);
    return 0;
}

// --large: the large-volume methods side by side in one run.
int benchLarge(const Args& args) {
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    if (args.integer("threads") > 0) setenv("MICROSTUDIO_THREADS", std::to_string(args.integer("threads")).c_str(), 1);
    const auto model = report3d::loadGenerator(args);
    ml::GenerateOptions o;
    o.sampler = "dpmpp";
    o.steps = 16;
    o.guidance = model.config().guidance;
    const std::string before = machineLoad();
    const auto rows = ml::timeLargeVolumes(model, parseDims(args.text("large")), o, int(args.integer("repeats")));
    std::printf("bench ml3d --large: %s, dpmpp2m-16, guidance %g, device %s, one sample per call, median of %ld\n",
                model.metadata().name.c_str(), o.guidance, model.device().c_str(), args.integer("repeats"));
    std::printf("%-14s %12s %8s %14s %16s %14s\n", "method", "size", "windows", "s/sample", "s/voxel", "voxel cost");
    for (const auto& r : rows)
        std::printf("%-14s %12s %8zu %14.3f %16.4g %13.2fx\n", r.label.c_str(), r.size.str().c_str(), r.windows,
                    r.secondsPerSample, r.secondsPerVoxel, r.voxelCostRatio);
    std::printf("windows / whole: %.2fx the seconds; load before %s, after %s (1, 5, 15-minute averages)\n",
                rows[2].secondsPerSample / rows[1].secondsPerSample, before.c_str(), machineLoad().c_str());
    return 0;
}

// --worker: in-process vs through the worker process, one run.
int benchWorker(const Args& args) {
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    if (args.integer("threads") > 0) setenv("MICROSTUDIO_THREADS", std::to_string(args.integer("threads")).c_str(), 1);
    const auto model = report3d::loadGenerator(args);
    const TemporaryDirectory files("ms-bench-worker");
    jobs::Generate3dRequest r;
    r.model = model.weightsPath().parent_path().string();
    r.targets.assign(std::size_t(args.integer("samples")), {});  // the training mean
    r.guidance = model.config().guidance;
    r.outDir = files.path().string();
    const std::string before = machineLoad();
    const int repeats = int(args.integer("repeats"));
    const auto t = ml::timeWorkerGeneration(mlWorkerExecutable().string(), r, repeats);
    std::printf("bench ml3d --worker: %s, %zu samples per request, ddim-50, guidance %g, described; median of %d\n",
                model.metadata().name.c_str(), t.samples, r.guidance, repeats);
    std::printf("in this process:       %8.3f s per request (model loaded before: %.3f s)\n", t.inProcessSeconds,
                t.modelLoadSeconds);
    std::printf("worker, first request: %8.3f s (process start and model load included)\n", t.workerColdSeconds);
    std::printf("worker, warm:          %8.3f s per request (reading the samples back: %.3f s)\n", t.workerWarmSeconds,
                t.readBackSeconds);
    std::printf("warm worker / in-process: %.3fx; load before %s, after %s (1, 5, 15-minute averages)\n",
                t.workerWarmSeconds / t.inProcessSeconds, before.c_str(), machineLoad().c_str());
    return 0;
}

// --worker-training: the wizard's training in-process vs through the worker, one run.
int benchWorkerTraining(const Args& args) {
    if (args.integer("threads") > 0) setenv("MICROSTUDIO_THREADS", std::to_string(args.integer("threads")).c_str(), 1);
    const TemporaryDirectory files("ms-bench-worker-training");
    std::vector<Volume> volumes;
    for (int i = 0; i < 64; ++i) {
        SyntheticOptions o;
        o.seed = std::uint64_t(100 + i);
        o.wavelength = 6.0;
        o.donorFraction = 0.35 + 0.004 * i;
        volumes.push_back(syntheticMicrostructure(Dims{32, 32, 16}, o));
    }
    ml::StudioTrainingSettings s;
    s.train = files.path() / "train.h5";
    io::writeHdf5(volumes, s.train);
    s.name = "bench";
    s.outDir = files.path() / "models";
    s.checkpointDir = files.path() / "checkpoints";
    s.epochs = 3;
    s.batch = 4;
    s.learningRate = 1e-3;
    s.threads = int(args.integer("threads"));
    s.channels3d = {8, 16};
    s.latentChannels = 2;
    s.unetFeatures = 16;
    const std::string before = machineLoad();
    const int repeats = int(args.integer("repeats"));
    const auto t =
        ml::timeWorkerTraining(mlWorkerExecutable().string(), ml::StudioTrainingKind::Generator3d, s, repeats);
    std::printf(
        "bench ml3d --worker-training: the wizard's 3D generator, 64 volumes 32x32x16, 3 epochs per stage, "
        "batch 4; median of %d, alternating\n",
        repeats);
    std::printf("in this process:       %8.3f s per training\n", t.inProcessSeconds);
    std::printf("worker, first request: %8.3f s (process start included)\n", t.workerColdSeconds);
    std::printf("worker, warm:          %8.3f s per training\n", t.workerWarmSeconds);
    std::printf("warm worker / in-process: %.3fx; load before %s, after %s (1, 5, 15-minute averages)\n",
                t.workerWarmSeconds / t.inProcessSeconds, before.c_str(), machineLoad().c_str());
    return 0;
}

// --precision: float32 against bf16 mixed precision, in one run.
int benchPrecision(const Args& args) {
    const std::string before = machineLoad();
    const int steps = int(args.integer("steps")), repeats = int(args.integer("repeats"));
    std::printf("bench ml3d --precision: the recipe's training steps, %d timed per run, fastest of %d, alternating\n",
                steps, repeats);
    std::printf("%-10s %14s %14s %8s\n", "stage", "float32 s/step", "bf16 s/step", "speed-up");
    for (const auto& t : ml::benchmarkTrainingPrecision(2, steps, repeats, int(args.integer("threads"))))
        std::printf("%-10s %14.3f %14.3f %7.2fx\n", t.stage.c_str(), t.float32SecondsPerStep, t.bf16SecondsPerStep,
                    t.float32SecondsPerStep / t.bf16SecondsPerStep);
    std::printf("native bfloat16: %s; load before %s, after %s (1, 5, 15-minute averages)\n",
                ml::cpuHasNativeBf16() ? "yes" : "no", before.c_str(), machineLoad().c_str());
    return 0;
}

}  // namespace

int benchMl3d(const CommandArgs& argv) {
    const auto parsed = benchOptions().parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    const auto config = args.flag("tiny") ? ml::Generator3dConfig::tiny() : ml::Generator3dConfig::paperTwoPhase();
    if (args.has("batch-sizes")) return benchBatchSizes(args, config);
    if (args.has("large")) return benchLarge(args);
    if (args.flag("worker")) return benchWorker(args);
    if (args.flag("worker-training")) return benchWorkerTraining(args);
    if (args.flag("precision")) return benchPrecision(args);
    const int repeats = int(args.integer("repeats"));
    std::printf("config: %s, latent %dx%s = %ld values, U-Net n_feat %d\n", config.vae.dims.str().c_str(),
                config.vae.latentChannels, config.vae.latentDims().str().c_str(), config.vae.latentSize(),
                config.unetFeatures);
    const auto t = ml::timeGenerator3d(config, repeats, args.flag("cpu"), int(args.integer("threads")));
    std::printf("device: %s, repeats %d\n", t.device.c_str(), repeats);
    std::printf(
        "parameters: VAE %ld (encoder %ld, decoder %ld; paper 46,916,781), feature predictor %ld,"
        " U-Net %ld (paper 150,871,044 with 4 conditions)\n",
        t.parameters.vae, t.parameters.encoder, t.parameters.decoder, t.parameters.featurePredictor, t.parameters.unet);
    std::printf("VAE forward+backward (batch 1):   %9.3f s\n", t.vaeTrainStep);
    std::printf("U-Net forward+backward (batch 1): %9.3f s\n", t.unetTrainStep);
    std::printf("guided denoising step (batch 1):  %9.3f s  -> DDPM-%d %.1f s, DDIM-50 %.1f s per sample\n",
                t.denoiseStep, config.timesteps, t.denoiseStep * config.timesteps, t.denoiseStep * 50);
    std::printf("decode (batch 1):                 %9.3f s\n", t.decode);
    std::printf("ratio VAE step / U-Net step: %.2f\n", t.vaeTrainStep / std::max(1e-12, t.unetTrainStep));
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
