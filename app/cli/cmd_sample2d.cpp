// microstudio-cli sample2d: 2D microstructures from the latent diffusion
// model (DDIM, optionally conditioned on vf, phi, chi) or from the VAE's
// prior, and the measurements of docs/benchmarks.md (--compare).
#ifdef MICROSTUDIO_HAVE_ML
#include <cstdio>
#include <cmath>
#include <iostream>
#include <optional>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "ml3d_common.hpp"  // parseSampler, defaultSteps
#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/vae2d.hpp"

namespace ms::cli {

namespace {

std::vector<Volume> decodeLatents(const ml::Vae2d& vae, const std::vector<std::vector<float>>& latents) {
    return vae.decode(latents);
}

int compare(const Args& args, const ml::Vae2d& vae, const ml::Ldm2d& ldm, const std::filesystem::path& ldmPath,
            ml::Ldm2dSampleOptions o) {
    // The held-out images the LDM was trained to make: by default without the
    // single-phase snapshots its training left out.
    double minPhase = numberOr(ldm.metadata().training, "min_phase_fraction", 0.0);
    minPhase = args.number("min-phase-fraction", minPhase);
    const auto reference = ml::readImages2D(*args.value("compare"), args.integer("limit"), minPhase);
    std::printf("reference: %zu held-out images; %d generated per model, sampler %s, eta %g\n", reference.size(),
                o.count, ldm.samplerLabel(o).c_str(), o.eta);
    std::vector<double> refVf;
    for (const auto& v : reference) refVf.push_back(v.volumeFraction(Donor));
    auto vfOf = [](const std::vector<Volume>& images) {
        std::vector<double> vf;
        for (const auto& v : images) vf.push_back(v.volumeFraction(Donor));
        return vf;
    };
    const int maxDistance = std::min(25, reference.front().dims().nx / 2);
    o.conditions.clear();
    // The unconditional row: the unconditional model when there is one (it
    // is trained on the same VAE's latents), else the null condition.
    std::optional<ml::Ldm2d> unconditionalModel;
    std::string unconditionalName = "LDM (null condition)";
    if (!ldm.config().conditions.empty()) {
        const std::string name = args.value("unconditional", ml::kDefaultLdm2dUnconditional);
        std::optional<std::filesystem::path> path;
        if (args.has("unconditional")) path = ml::findModel(name);
        else if (std::filesystem::exists(ldmPath.parent_path() / (name + ".pt")))
            path = ldmPath.parent_path() / (name + ".pt");
        if (path) {
            unconditionalModel = ml::Ldm2d::load(*path);
            if (!unconditionalModel->config().conditions.empty()) throw Error(path->string() + " is conditional");
            if (unconditionalModel->config().latent != ldm.config().latent)
                throw Error(path->string() + " is over a different latent than " + ldmPath.string());
            unconditionalName = "LDM (" + path->stem().string() + ")";
        }
    } else {
        unconditionalName = "LDM (" + ldmPath.stem().string() + ")";
    }
    const auto ldmImages = decodeLatents(vae, (unconditionalModel ? *unconditionalModel : ldm).sample(o));
    const auto priorImages = vae.samplePrior(o.count, o.seed);
    const auto recon = vae.decode(vae.encode(reference));
    std::printf("%-26s %12s %14s %10s\n", "source", "S2 RMS error", "W1(vf) to ref", "mean vf");
    auto row = [&](const char* name, const std::vector<Volume>& images) {
        const auto vf = vfOf(images);
        double mean = 0;
        for (double v : vf) mean += v / double(vf.size());
        std::printf("%-26s %12.5f %14.5f %10.4f\n", name, ml::twoPointError(images, reference, maxDistance),
                    ml::wasserstein1(vf, refVf), mean);
    };
    row(unconditionalName.c_str(), ldmImages);
    row("VAE prior z ~ N(0, I)", priorImages);
    row("VAE reconstruction", recon);
    if (!ldm.config().conditions.empty()) {
        // Conditional: each held-out image's own (vf, phi, chi) as target.
        const std::size_t n = std::min<std::size_t>(reference.size(), std::size_t(o.count));
        std::vector<double> target;
        o.conditions.clear();
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t k = i * reference.size() / n;
            o.conditions.push_back(ml::conditionValues(reference[k], ldm.config().conditions));
            target.push_back(reference[k].volumeFraction(Donor));
        }
        o.count = int(n);
        auto conditioned = decodeLatents(vae, ldm.sample(o));
        const auto achieved = vfOf(conditioned);
        double mae = 0;
        for (std::size_t i = 0; i < n; ++i) mae += std::fabs(achieved[i] - target[i]) / double(n);
        std::printf(
            "conditional on the held-out (vf, phi, chi), guidance %g: R^2(vf) = %.4f, mean |vf error| = %.4f, "
            "S2 RMS error %.5f\n",
            o.guidance, ml::rSquared(target, achieved), mae, ml::twoPointError(conditioned, reference, maxDistance));
    }
    return 0;
}

// The options of `sample2d`, with the sampler's defaults (ml::Ldm2dSampleOptions).
Options sample2dOptions() {
    const ml::Ldm2dSampleOptions d;
    Options o("sample2d OUT [--count N] [--vf X --phi Y --chi Z] [OPTIONS]",
              "Generates 2D microstructures: latents from the latent diffusion model (DDIM), decoded by its VAE, "
              "thresholded at 0.5. OUT: .h5 for several samples, else one image. With --compare, measures LDM "
              "samples and VAE prior samples against held-out images (two-point correlation error, Wasserstein "
              "distance of the volume fractions) and the conditional model's R^2 on the volume fraction.");
    o.alsoUsage("sample2d --compare HELDOUT.h5 [--count N] [OPTIONS]");
    o.text("model", "M", "LDM name or path").def(ml::kDefaultLdm2d);
    o.text("vae", "M", "VAE name or path").note(std::string("the LDM's own, else ") + ml::kDefaultDenoiser);
    o.integer("count", "N", "samples").atLeast(1).def(d.count);
    o.text("sampler", "S",
           "ddim, dpmpp (DPM-Solver++(2M), deterministic, few steps) or ddpm (ancestral over all T steps)")
        .rule("ddim, dpmpp or ddpm", [](const std::string& text) { ml3d::parseSampler(text); })
        .def(d.sampler);
    o.integer("steps", "K", "solver steps").note("ddim: " + std::to_string(d.steps) + ", dpmpp: 16");
    o.number("eta", "X", "DDIM eta (0 deterministic, 1 DDPM-like; ddim only)").def(d.eta);
    o.number("guidance", "G",
             "classifier-free guidance scale; 2 hits the requested vf best (R^2 0.95 vs 0.90 at 1, docs/benchmarks.md)")
        .def(2);
    o.number("vf", "X", "condition: the Donor volume fraction (give every condition the model has)");
    o.number("phi", "Y", "condition: the blend composition phi");
    o.number("chi", "Z", "condition: the Flory-Huggins chi");
    o.flag("prior", "decode z ~ N(0, I) with the VAE instead (no LDM)");
    o.flag("ancestral", "ancestral DDPM over all T steps (= --sampler ddpm)");
    o.integer("seed", "S", "random seed").atLeast(0).def(double(d.seed));
    o.section("--compare (measures against held-out images):");
    o.text("compare", "HELDOUT.h5", "the held-out images (a file or a glob)");
    o.integer("limit", "N", "held-out images used (0: all)").atLeast(0).def(400);
    o.number("min-phase-fraction", "F", "leave out held-out images whose rarer phase covers less than F")
        .note("the LDM's training value");
    o.text("unconditional", "M", "the unconditional LDM row")
        .note(std::string(ml::kDefaultLdm2dUnconditional) + " beside the LDM, else the LDM's null condition");
    return o;
}

}  // namespace

int cmdSample2d(const CommandArgs& argv) {
    const auto parsed = sample2dOptions().parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    const std::string sampler = args.text("sampler");
    const auto ldmPath = ml::findModel(args.value("model", ml::kDefaultLdm2d));
    auto ldm = args.flag("prior") && !args.has("model") ? std::optional<ml::Ldm2d>() : ml::Ldm2d::load(ldmPath);
    std::string vaeName = args.value("vae", ml::kDefaultDenoiser);
    if (!args.has("vae") && ldm) vaeName = stringOr(ldm->metadata().training, "vae", vaeName);
    // The LDM's own VAE is looked for beside it first (models travel in pairs).
    std::filesystem::path vaePath = ldmPath.parent_path() / (vaeName + ".pt");
    if (args.has("vae") || !ldm || !std::filesystem::exists(vaePath)) vaePath = ml::findModel(vaeName);
    const auto vae = ml::Vae2d::load(vaePath);
    ml::Ldm2dSampleOptions o;
    o.count = int(args.integer("count"));
    o.sampler = sampler;
    o.steps = int(args.integer("steps", ml3d::defaultSteps(sampler, 50)));
    o.eta = args.number("eta");
    o.guidance = args.number("guidance");
    o.ancestral = args.flag("ancestral");
    o.seed = std::uint64_t(args.integer("seed"));
    if (ldm && !args.flag("prior")) (void)ldm->samplerLabel(o);  // steps / eta that do not fit the sampler: refused now
    if (args.has("compare")) {
        if (!ldm) throw Error("--compare needs the LDM");
        return compare(args, vae, *ldm, ldmPath, o);
    }
    args.requirePositionals(1, 1, "OUT");
    const std::string out = args.positionals()[0];
    const auto format = io::formatOf(out);
    if (o.count > 1 && format != io::Format::Hdf5) throw Error("several samples need an .h5 OUT (or --count 1)");
    std::vector<Volume> images;
    if (args.flag("prior")) {
        images = vae.samplePrior(o.count, o.seed);
    } else {
        std::vector<double> condition;
        for (const auto& name : ldm->config().conditions) {
            if (!args.has(name)) {
                if (!condition.empty()) throw Error("give every condition of the model: --" + name + " is missing");
                continue;
            }
            condition.push_back(args.number(name, 0.0));
        }
        if (!condition.empty()) o.conditions = {condition};
        images = vae.decode(ldm->sample(o));
    }
    for (std::size_t i = 0; i < images.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "sample_%06zu", i);
        images[i].text["sample"] = name;
        images[i].text["model"] = args.flag("prior") ? "vae-prior" : ldmPath.stem().string();
        if (!args.flag("prior")) images[i].text["sampler"] = ldm->samplerLabel(o);
        images[i].attributes["vf"] = images[i].volumeFraction(Donor);
        for (std::size_t k = 0; k < o.conditions.size() && ldm && k < ldm->config().conditions.size(); ++k)
            images[i].attributes["target_" + ldm->config().conditions[k]] = o.conditions[0][k];
    }
    if (format == io::Format::Hdf5) io::writeHdf5(images, out);
    else io::writeVolume(images.front(), out);
    std::cout << "wrote " << images.size() << " sample(s) to " << out << "\n";
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
