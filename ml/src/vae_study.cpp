#include "microstudio/ml/vae_study.hpp"

#include <cstdio>

#include "microstudio/core/error.hpp"
#include "microstudio/noise/metrics.hpp"
#include "microstudio/noise/noise.hpp"

namespace fs = std::filesystem;

namespace ms::ml {

namespace {

// Fixed noisy validation images: the paper's three noise types at their defaults.
std::vector<std::pair<Volume, Volume>> noisyValidation(const std::vector<Volume>& validation) {
    std::vector<std::pair<Volume, Volume>> pairs;
    for (std::size_t i = 0; i < validation.size(); ++i)
        for (auto type : noise::allNoiseTypes()) {
            noise::NoiseModel m;
            m.type = type;
            pairs.emplace_back(validation[i], noise::applyNoise(validation[i], m, noise::deriveSeed(7, i)));
        }
    return pairs;
}

const VaeStudyRun& lowestValidationLoss(const std::vector<VaeStudyRun>& runs) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < runs.size(); ++i)
        if (runs[i].report.bestValidationLoss < runs[best].report.bestValidationLoss) best = i;
    return runs[best];
}

}  // namespace

std::string vaeStudyRunName(int batch, int latent, double beta) {
    char name[64];
    std::snprintf(name, sizeof name, "b%d_L%d_beta%g", batch, latent, beta);
    return name;
}

VaeStudyResult runVaeStudy(const TrainingSamples& data, const VaeStudyOptions& o) {
    if (data.validation.empty()) throw Error("the VAE study needs validation images");
    const auto pairs = noisyValidation(data.validation);
    VaeStudyResult result;
    auto trainOne = [&](int stage, int batch, int latent, double beta) {
        for (const auto& r : result.runs)
            if (r.batch == batch && r.latent == latent && r.beta == beta) return r;
        VaeStudyRun r{vaeStudyRunName(batch, latent, beta), stage, batch, latent, beta, {}, 0.0};
        Vae2dTrainOptions options;
        options.train = o.train;
        options.train.batchSize = batch;
        options.train.checkpoint = o.checkpoints / (r.name + ".ckpt");
        options.beta = beta;
        if (o.starting) o.starting(r, options.train);
        auto config = o.architecture;
        config.latent = latent;
        auto trained = trainNewVae2d(data, config, options);
        r.report = trained.report;
        std::vector<Volume> noisy;
        for (const auto& p : pairs) noisy.push_back(p.second);
        const auto denoised = trained.model.denoise(noisy);
        for (std::size_t i = 0; i < denoised.size(); ++i)
            r.pixelError += noise::pixelErrorRate(pairs[i].first, denoised[i]) / double(denoised.size());
        fs::remove(options.train.checkpoint);
        result.runs.push_back(r);
        if (o.finished) o.finished(r);
        return r;
    };
    auto stage = [&](int index, auto&& settings) {
        std::vector<VaeStudyRun> runs;
        for (const auto& [batch, latent, beta] : settings) runs.push_back(trainOne(index, batch, latent, beta));
        if (o.stageDone) o.stageDone(index, runs);
        return lowestValidationLoss(runs);
    };
    using Setting = std::tuple<int, int, double>;
    result.bestBatch = stage(1, std::vector<Setting>{{16, 128, 1.0}, {32, 128, 1.0}, {64, 128, 1.0}}).batch;
    result.bestLatent = stage(2, std::vector<Setting>{{result.bestBatch, 32, 1.0}, {result.bestBatch, 128, 1.0}}).latent;
    result.bestBeta = stage(3, std::vector<Setting>{{result.bestBatch, result.bestLatent, 0.25},
                                                    {result.bestBatch, result.bestLatent, 1.0},
                                                    {result.bestBatch, result.bestLatent, 1.5}})
                          .beta;
    return result;
}

}  // namespace ms::ml
