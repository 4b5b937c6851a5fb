#include "microstudio/ml/train2d.hpp"

#include "microstudio/core/error.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/metadata.hpp"

namespace ms::ml {

namespace {

std::vector<std::vector<double>> conditionRows(const std::vector<Volume>& images,
                                               const std::vector<std::string>& names) {
    std::vector<std::vector<double>> rows;
    if (names.empty()) return rows;
    for (const auto& v : images) rows.push_back(conditionValues(v, names));
    return rows;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
    return out;
}

}  // namespace

std::vector<int> paperKernels(std::size_t layers) {
    std::vector<int> kernels;
    for (std::size_t i = 0; i < layers; ++i) kernels.push_back(i < 2 ? 4 : 3);
    return kernels;
}

TrainedVae2d trainNewVae2d(const TrainingSamples& data, Vae2dConfig config, const Vae2dTrainOptions& options,
                           const std::string& description) {
    if (data.train.empty()) throw Error("no training images");
    const Dims dims = data.train.front().dims();
    if (dims.nx != dims.ny) throw Error("the VAE needs square images; the data are " + dims.str());
    config.size = dims.nx;
    config.validate();
    TrainedVae2d out{Vae2d(config, options.train.seed), {}};
    out.report = trainVae2d(out.model, data.train, data.validation, options);
    out.model.metadata().description = !description.empty()
                                           ? description
                                           : std::string(options.denoising ? "denoising" : "plain") +
                                                 " 2D VAE (Moola et al. III.B), " + config.latentText() +
                                                 ", beta=" + std::to_string(options.beta);
    return out;
}

TrainedLdm2d trainNewLdm2d(const TrainingSamples& data, const Ldm2dPlan& plan) {
    if (data.train.empty()) throw Error("no training images");
    const auto vaePath = findModel(plan.vae.string());
    const auto vae = Vae2d::load(vaePath);
    const int size = vae.config().size;
    if (data.train.front().dims().nx != size || data.train.front().dims().ny != size)
        throw Error("the VAE " + vaePath.string() + " takes " + std::to_string(size) + "x" + std::to_string(size) +
                    " images; the data are " + data.train.front().dims().str());
    const auto& names = plan.config.conditions;
    const auto trainConditions = conditionRows(data.train, names),
               validationConditions = conditionRows(data.validation, names);
    if (plan.status)
        plan.status("encoding " + std::to_string(data.train.size() + data.validation.size()) + " images with " +
                    vaePath.stem().string());
    const auto latents = vae.encode(data.train), validationLatents = vae.encode(data.validation);
    if (plan.options.train.progress) plan.options.train.progress->throwIfCancelled();
    Ldm2dConfig config = plan.config;
    config.latent = vae.config().latent;
    TrainedLdm2d out{Ldm2d(config, plan.options.train.seed), {}, std::nullopt};
    out.report = trainLdm2d(out.model, latents, trainConditions, validationLatents, validationConditions, plan.options);
    auto& m = out.model.metadata();
    if (!names.empty() && !validationLatents.empty()) {
        out.conditionUse = out.model.conditionUse(validationLatents, validationConditions, plan.options.train.seed);
        m.training["validation_mse_conditioned"] = out.conditionUse->conditioned;
        m.training["validation_mse_unconditioned"] = out.conditionUse->unconditioned;
    }
    m.dataHash = hashVolumes(data.train);
    m.description = "2D latent diffusion over " + vaePath.stem().string() + " latents" +
                    (names.empty() ? std::string(", unconditional") : ", conditioned on " + joined(names));
    m.training["vae"] = vaePath.stem().string();
    m.training["vae_data_hash"] = vae.metadata().dataHash;
    m.training["min_phase_fraction"] = plan.minPhaseFraction;
    return out;
}

}  // namespace ms::ml
