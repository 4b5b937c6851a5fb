#include "microstudio/ml/compare2d.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "microstudio/core/error.hpp"
#include "microstudio/core/subsample.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/metadata.hpp"

namespace ms::ml {

namespace {

std::vector<double> donorFractions(const std::vector<Volume>& images) {
    std::vector<double> vf;
    for (const auto& v : images) vf.push_back(v.volumeFraction(Donor));
    return vf;
}

Ldm2dComparisonRow measure(const std::string& source, const std::vector<Volume>& images,
                           const std::vector<Volume>& reference, const std::vector<double>& referenceFractions,
                           int maxDistance) {
    const auto vf = donorFractions(images);
    double mean = 0;
    for (double v : vf) mean += v / double(vf.size());
    return {source, twoPointError(images, reference, maxDistance), wasserstein1(vf, referenceFractions), mean};
}

Ldm2dConditionalFit conditionalFit(const Vae2d& vae, const Ldm2d& ldm, const std::vector<Volume>& reference,
                                   Ldm2dSampleOptions o, int maxDistance) {
    std::vector<double> target;
    o.conditions.clear();
    for (std::size_t k : evenlySpaced(reference.size(), std::size_t(o.count))) {
        o.conditions.push_back(conditionValues(reference[k], ldm.config().conditions));
        target.push_back(reference[k].volumeFraction(Donor));
    }
    const std::size_t n = target.size();
    o.count = int(n);
    const auto conditioned = vae.decode(ldm.sample(o));
    const auto achieved = donorFractions(conditioned);
    double mae = 0;
    for (std::size_t i = 0; i < n; ++i) mae += std::fabs(achieved[i] - target[i]) / double(n);
    return {o.guidance, n, rSquared(target, achieved), mae, twoPointError(conditioned, reference, maxDistance)};
}

}  // namespace

Ldm2dPair pairWithUnconditional(Ldm2d ldm, const std::filesystem::path& path, const std::string& unconditionalName,
                                bool explicitName) {
    Ldm2dPair pair{path, std::move(ldm), std::nullopt, std::nullopt};
    if (pair.ldm.config().conditions.empty()) return pair;
    if (explicitName) pair.unconditionalPath = findModel(unconditionalName);
    else if (std::filesystem::exists(path.parent_path() / (unconditionalName + ".pt")))
        pair.unconditionalPath = path.parent_path() / (unconditionalName + ".pt");
    if (!pair.unconditionalPath) return pair;
    const auto& other = *pair.unconditionalPath;
    pair.unconditional = Ldm2d::load(other);
    if (!pair.unconditional->config().conditions.empty()) throw Error(other.string() + " is conditional");
    if (pair.unconditional->config().latent != pair.ldm.config().latent)
        throw Error(other.string() + " is over a different latent than " + path.string());
    return pair;
}

Ldm2dComparison compareLdm2d(const Vae2d& vae, const Ldm2dPair& models, const std::vector<Volume>& reference,
                             Ldm2dSampleOptions options) {
    if (reference.empty()) throw Error("no held-out images to compare against");
    const Ldm2d& ldm = models.ldm;
    Ldm2dComparison c;
    c.referenceImages = reference.size();
    c.generatedPerModel = options.count;
    c.sampler = ldm.samplerLabel(options);
    c.eta = options.eta;
    c.maxDistance = std::min(25, reference.front().dims().nx / 2);
    options.conditions.clear();  // the null condition where there is no unconditional model
    const std::string label = models.unconditionalPath ? "LDM (" + models.unconditionalPath->stem().string() + ")"
                              : ldm.config().conditions.empty() ? "LDM (" + models.path.stem().string() + ")"
                                                                : "LDM (null condition)";
    const auto ldmImages = vae.decode((models.unconditional ? *models.unconditional : ldm).sample(options));
    const auto fractions = donorFractions(reference);  // once, for every row's W1
    c.rows.push_back(measure(label, ldmImages, reference, fractions, c.maxDistance));
    c.rows.push_back(measure("VAE prior z ~ N(0, I)", vae.samplePrior(options.count, options.seed), reference,
                             fractions, c.maxDistance));
    c.rows.push_back(
        measure("VAE reconstruction", vae.decode(vae.encode(reference)), reference, fractions, c.maxDistance));
    if (!ldm.config().conditions.empty()) c.conditional = conditionalFit(vae, ldm, reference, options, c.maxDistance);
    return c;
}

std::string Ldm2dComparison::text() const {
    std::string out = fmt::format("reference: {} held-out images; {} generated per model, sampler {}, eta {:g}\n",
                                  referenceImages, generatedPerModel, sampler, eta);
    out += fmt::format("{:<26} {:>12} {:>14} {:>10}\n", "source", "S2 RMS error", "W1(vf) to ref", "mean vf");
    for (const auto& r : rows)
        out += fmt::format("{:<26} {:>12.5f} {:>14.5f} {:>10.4f}\n", r.source, r.twoPointError, r.wasserstein,
                           r.meanVolumeFraction);
    if (conditional)
        out += fmt::format(
            "conditional on the held-out (vf, phi, chi), guidance {:g}: R^2(vf) = {:.4f}, mean |vf error| = {:.4f}, "
            "S2 RMS error {:.5f}\n",
            conditional->guidance, conditional->r2, conditional->meanAbsoluteError, conditional->twoPointError);
    return out;
}

}  // namespace ms::ml
