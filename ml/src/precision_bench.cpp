// `bench ml3d --precision`: the recipe's VAE and DDPM training steps in
// float32 and in bf16 mixed precision, on the same synthetic data.
#include <algorithm>
#include <limits>

#include "microstudio/core/synthetic.hpp"
#include "microstudio/ml/train3d.hpp"
#include "microstudio/ml/training_runs.hpp"

namespace ms::ml {

namespace {

// Synthetic 64x64x32 volumes carrying every output as an attribute (values
// only steer the feature ranges; the timing does not depend on them).
std::vector<Volume> syntheticTrainingVolumes(const Generator3dConfig& c, int count) {
    std::vector<Volume> out;
    for (int i = 0; i < count; ++i) {
        SyntheticOptions o;
        o.seed = std::uint64_t(i + 1);
        o.donorFraction = 0.35 + 0.3 * double(i % 7) / 6.0;
        o.mixedFraction = c.vae.phases == 3 ? 0.15 : 0.0;
        Volume v = syntheticMicrostructure(c.vae.dims, o);
        for (std::size_t k = 0; k < c.outputs.size(); ++k) v.attributes[c.outputs[k]] = 0.1 * double(k) + 0.01 * i;
        v.text["split"] = "train";
        out.push_back(std::move(v));
    }
    return out;
}

double secondsPerStep(const Generator3dConfig& config, const std::vector<Volume>& data,
                      const std::vector<Volume>& validation, const std::string& stage, TrainOptions options) {
    Generator3D model = Generator3D::create(config, 0);
    options.epochs = 1000;
    options.checkpoint.clear();
    if (stage == "vae") return trainGenerator3dVae(model, data, validation, options).secondsPerStep;
    TrainOptions ranges;  // one feature-predictor step sets the output ranges the DDPM's context needs
    ranges.stopAfterSteps = 1;
    ranges.threads = options.threads;
    trainGenerator3dFeatures(model, data, validation, ranges);
    return trainGenerator3dDiffusion(model, data, validation, options).secondsPerStep;
}

}  // namespace

std::vector<PrecisionTiming> benchmarkTrainingPrecision(int phases, int steps, int repeats, int threads) {
    Recipe3dSettings settings;
    settings.phases = phases;
    settings.latentChannels = 8;  // the variant the recipe runs with (docs/ml3d.md)
    settings.periodicXY = true;
    settings.minorityWeight = 2;
    settings.outDir = std::filesystem::temp_directory_path() / "microstudio-precision-bench";
    const auto run = recipe3dRun(settings);
    std::filesystem::remove_all(settings.outDir);
    std::vector<PrecisionTiming> out;
    for (const std::string stage : {"vae", "diffusion"}) {
        TrainOptions options = run.plan.options.at(stage);
        options.threads = threads;
        const auto data = syntheticTrainingVolumes(run.config, options.batchSize * (steps + 1));
        auto validation = syntheticTrainingVolumes(run.config, 2);
        for (auto& v : validation) v.text["split"] = "validation";
        PrecisionTiming t{stage, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
        for (int r = -1; r < repeats; ++r) {  // r = -1: the warm-up (oneDNN builds its kernels)
            for (const bool bf16 : {false, true}) {
                options.bf16 = bf16;
                options.stopAfterSteps = r < 0 ? 1 : steps;
                const double s = secondsPerStep(run.config, data, validation, stage, options);
                if (r < 0) continue;
                double& best = bf16 ? t.bf16SecondsPerStep : t.float32SecondsPerStep;
                best = std::min(best, s);
            }
        }
        out.push_back(t);
    }
    return out;
}

}  // namespace ms::ml
