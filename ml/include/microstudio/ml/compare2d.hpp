#pragma once
// `sample2d --compare`: the 2D latent diffusion model's samples, the VAE's
// prior samples and its reconstructions measured against held-out images
// (two-point correlation error, Wasserstein-1 distance of the volume
// fractions), and a conditional model's R^2 on the volume fraction with each
// held-out image's own conditions as the target (docs/benchmarks.md).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/vae2d.hpp"

namespace ms::ml {

struct Ldm2dComparisonRow {
    std::string source;          // "LDM (ldm2d-uncond)", "VAE prior z ~ N(0, I)", "VAE reconstruction"
    double twoPointError = 0.0;  // RMS difference of the mean Donor S2 curves to the held-out images'
    double wasserstein = 0.0;    // W1 of the Donor volume fractions to the held-out images'
    double meanVolumeFraction = 0.0;
};

// A conditional model asked for each held-out image's own conditions.
struct Ldm2dConditionalFit {
    double guidance = 1.0;
    std::size_t targets = 0;
    double r2 = 0.0;                 // coefficient of determination of the achieved Donor fractions
    double meanAbsoluteError = 0.0;  // of the achieved Donor fractions
    double twoPointError = 0.0;
};

struct Ldm2dComparison {
    std::size_t referenceImages = 0;
    int generatedPerModel = 0;
    std::string sampler;  // Ldm2d::samplerLabel
    double eta = 0.0;
    int maxDistance = 0;  // of the S2 curves
    std::vector<Ldm2dComparisonRow> rows;
    std::optional<Ldm2dConditionalFit> conditional;  // for a conditional LDM only

    // The table `sample2d --compare` prints.
    std::string text() const;
};

// The LDM (loaded from `path`) and, for a conditional one, the unconditional model of
// its unconditional row: `unconditionalName` looked up (ml::findModel) when
// `explicitName`, else a file of that name beside `path`, else none (the
// LDM's null condition). Throws ms::Error when that model is conditional or
// over another latent.
struct Ldm2dPair {
    std::filesystem::path path;
    Ldm2d ldm;
    std::optional<std::filesystem::path> unconditionalPath;
    std::optional<Ldm2d> unconditional;
};
Ldm2dPair pairWithUnconditional(Ldm2d ldm, const std::filesystem::path& path, const std::string& unconditionalName,
                                bool explicitName);

// `options.count` samples of the unconditional model (the pair's, else the
// LDM under its null condition) and of the VAE's prior, the VAE's
// reconstructions of `reference`, and for a conditional LDM one sample per
// held-out image (at most options.count, evenly spaced) at its conditions.
Ldm2dComparison compareLdm2d(const Vae2d& vae, const Ldm2dPair& models, const std::vector<Volume>& reference,
                             Ldm2dSampleOptions options);

}  // namespace ms::ml
