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
#include "microstudio/ml/compare2d.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/vae2d.hpp"

namespace ms::cli {

namespace {

int compare(const Args& args, const ml::Vae2d& vae, ml::Ldm2d ldm, const std::filesystem::path& ldmPath,
            const ml::Ldm2dSampleOptions& o) {
    // The held-out images the LDM was trained to make: by default without the
    // single-phase snapshots its training left out.
    const double minPhase =
        args.number("min-phase-fraction", numberOr(ldm.metadata().training, "min_phase_fraction", 0.0));
    const auto reference = ml::readImages2D(*args.value("compare"), args.integer("limit"), minPhase);
    const auto models =
        ml::pairWithUnconditional(std::move(ldm), ldmPath, args.value("unconditional", ml::kDefaultLdm2dUnconditional),
                                  args.has("unconditional"));
    std::cout << ml::compareLdm2d(vae, models, reference, o).text();
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
        return compare(args, vae, std::move(*ldm), ldmPath, o);
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
