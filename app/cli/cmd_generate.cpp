// microstudio-cli generate: 3D microstructures from a MicroGen3D model
// (conditional latent diffusion) for target descriptors, with the predicted
// processing parameters as attributes; and `bench ml3d`.
#ifdef MICROSTUDIO_HAVE_ML
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/generator3d.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif

namespace ms::cli {

namespace {

// "ABS_f_D=0.5,CT_f_D_tort1=1.2" -> map; numbers validated.
std::map<std::string, double> parseTarget(const std::string& text) {
    std::map<std::string, double> target;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        const auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            throw Error("--target expects NAME=VALUE[,NAME=VALUE...], got '" + item + "'");
        const std::string name = item.substr(0, eq), value = item.substr(eq + 1);
        std::size_t used = 0;
        double number = 0.0;
        try {
            number = std::stod(value, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != value.size()) throw Error("--target " + name + ": '" + value + "' is not a number");
        if (target.count(name)) throw Error("--target names " + name + " twice");
        target[name] = number;
    }
    return target;
}

void printModel(const ml::Generator3D& model) {
    const auto& c = model.config();
    const auto counts = model.parameterCounts();
    std::printf("%s: %d-phase, input %s, latent %dx%s (%ld values), %d timesteps, device %s\n",
                model.metadata().name.c_str(), c.vae.phases, c.vae.dims.str().c_str(), c.vae.latentChannels,
                c.vae.latentDims().str().c_str(), c.vae.latentSize(), c.timesteps, model.device().c_str());
    std::printf("parameters: VAE %ld, feature predictor %ld, U-Net %ld\n", counts.vae, counts.featurePredictor,
                counts.unet);
    std::printf("%-16s %10s %10s %10s %10s %s\n", "output", "min", "max", "mean", "std", "");
    for (const auto& r : model.featureRanges()) {
        const bool condition =
            std::find(c.conditions.begin(), c.conditions.end(), r.name) != c.conditions.end();
        std::printf("%-16s %10.4g %10.4g %10.4g %10.4g %s\n", r.name.c_str(), r.min, r.max, r.mean, r.std,
                    condition ? "condition" : "predicted");
    }
}

// Pearson R^2 (the paper's Fig. 5 measure) and mean absolute error.
struct Agreement {
    double r2 = std::nan(""), mae = std::nan("");
};
Agreement agreement(const std::vector<double>& target, const std::vector<double>& achieved) {
    Agreement a;
    const std::size_t n = std::min(target.size(), achieved.size());
    if (n == 0) return a;
    double mt = 0, ma = 0, mae = 0;
    for (std::size_t i = 0; i < n; ++i) {
        mt += target[i] / double(n);
        ma += achieved[i] / double(n);
        mae += std::fabs(target[i] - achieved[i]) / double(n);
    }
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < n; ++i) {
        sxy += (target[i] - mt) * (achieved[i] - ma);
        sxx += (target[i] - mt) * (target[i] - mt);
        syy += (achieved[i] - ma) * (achieved[i] - ma);
    }
    a.mae = mae;
    if (sxx > 0 && syy > 0) a.r2 = sxy * sxy / (sxx * syy);
    return a;
}

// Held-out volumes: the feature predictor on their latents against their
// attributes, and (with descriptors) volumes generated for their condition
// values, described, against those targets.
int evaluate(const ml::Generator3D& model, const std::string& path, long count, ml::GenerateOptions o, bool describe) {
    auto all = io::readSamples(path);
    if (all.empty()) throw Error("no samples in " + path);
    std::vector<Volume> reference;
    const std::size_t n = std::min(all.size(), std::size_t(count));
    for (std::size_t i = 0; i < n; ++i) reference.push_back(all[i * all.size() / n]);
    const auto& c = model.config();
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    if (describe)  // descriptors missing from the held-out attributes
        for (auto& v : reference)
            for (const auto& name : c.conditions)
                if (!v.attributes.count(name)) {
                    descriptors::storeAsAttributes(descriptors::describe(v), v);
                    break;
                }
#endif
    std::printf("evaluate: %zu held-out samples from %s; sampler %s, guidance %g\n", n, path.c_str(),
                o.steps == 0 ? "DDPM (all steps)" : ("DDIM-" + std::to_string(o.steps)).c_str(), o.guidance);
    const auto predicted = model.predictFeatures(reference);
    std::printf("%-16s %10s %10s   (feature predictor on held-out latents)\n", "output", "R^2", "MAE");
    for (const auto& name : c.outputs) {
        std::vector<double> t, a;
        for (std::size_t i = 0; i < n; ++i) {
            auto it = reference[i].attributes.find(name);
            if (it == reference[i].attributes.end()) continue;
            t.push_back(it->second);
            a.push_back(predicted[i].at(name));
        }
        const auto g = agreement(t, a);
        std::printf("%-16s %10.4f %10.4g%s\n", name.c_str(), g.r2, g.mae, t.empty() ? "  (not in the data)" : "");
    }
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    std::vector<Volume> generated;
    std::vector<std::map<std::string, double>> targets;
    ProgressToken progress;
    ProgressBar bar("evaluate");
    progress.setListener([&](double f, const std::string& msg) { bar.update(f, msg); });
    for (std::size_t i = 0; i < n; ++i) {
        std::map<std::string, double> target;
        for (const auto& name : c.conditions) {
            auto it = reference[i].attributes.find(name);
            if (it == reference[i].attributes.end())
                throw Error("held-out sample " + std::to_string(i) + " lacks condition '" + name +
                            "' (--describe computes missing descriptors)");
            target[name] = it->second;
        }
        auto one = o;
        one.seed = o.seed + i;
        one.progress = nullptr;
        generated.push_back(model.generate(target, 1, one).front());
        targets.push_back(target);
        progress.report(double(i + 1) / double(n), "generated " + std::to_string(i + 1) + "/" + std::to_string(n));
    }
    bar.finish();
    const auto described = descriptors::describeBatch(generated);
    std::printf("%-16s %10s %10s   (descriptors of generated volumes vs their targets)\n", "condition", "R^2", "MAE");
    for (const auto& name : c.conditions) {
        std::vector<double> t, a;
        for (std::size_t i = 0; i < n; ++i)
            if (auto v = described[i].find(name); v && std::isfinite(*v)) {
                t.push_back(targets[i].at(name));
                a.push_back(*v);
            }
        const auto g = agreement(t, a);
        std::printf("%-16s %10.4f %10.4g  (%zu described)\n", name.c_str(), g.r2, g.mae, t.size());
    }
#else
    std::printf("(built without descriptors: generated volumes not measured)\n");
#endif
    return 0;
}

}  // namespace

int cmdGenerate(const CommandArgs& argv) {
    Args args(argv, {"model", "target", "count", "steps", "eta", "guidance", "seed", "batch", "output", "create-tiny",
                     "phases", "evaluate"},
              {"info", "cpu", "describe"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli generate --model M --target NAME=VALUE,... -n N -o OUT [OPTIONS]\n"
                     "       microstudio-cli generate --model M --info\n"
                     "       microstudio-cli generate --model M --evaluate HELDOUT.h5 [-n N] [OPTIONS]\n"
                     "       microstudio-cli generate --create-tiny DIR [--phases 2|3]\n\n"
                     "Generates 3D microstructures with a MicroGen3D model (3D VAE + feature predictor +\n"
                     "conditional DDPM on the latent grid). Conditions missing from --target take their\n"
                     "training mean. Labels are thresholded; the decoder output is kept as the field; the\n"
                     "predicted descriptors and processing parameters (phi, chi, log_time) are stored as\n"
                     "attributes predicted_<name>, the targets as target_<name>. OUT: .h5 for several\n"
                     "samples, else one volume (.vti, .txt).\n"
                     "  --model M        model folder, its generator3d.pt/.json, or a model name\n"
                     "  --target T       NAME=VALUE,... (see --info for the names and training ranges)\n"
                     "  -n, --count N    samples [1]\n"
                     "  --steps K        DDIM steps; 0 = ancestral DDPM over all T steps (the paper) [0]\n"
                     "  --eta X          DDIM noise (0 deterministic) [0]\n"
                     "  --guidance G     classifier-free guidance scale (0 unconditional, 1 conditional) [1]\n"
                     "  --seed S         [0]\n"
                     "  --batch B        samples denoised together [8]\n"
                     "  -o, --output OUT output file\n"
                     "  --info           print the model's conditions, ranges and sizes\n"
                     "  --evaluate H.h5  N held-out samples [16]: feature-predictor R^2 on their latents, and\n"
                     "                   one volume generated per sample for its condition values, described,\n"
                     "                   R^2 / MAE against those targets (the paper's Fig. 5)\n"
                     "  --describe       compute descriptors missing from the held-out attributes\n"
                     "  --cpu            never use CUDA\n"
                     "  --create-tiny D  write an untrained tiny model to folder D (tests, smoke runs)\n";
        return 0;
    }
    if (args.has("create-tiny")) {
        const long phases = args.integer("phases", 2);
        if (phases != 2 && phases != 3) throw Error("--phases must be 2 or 3");
        auto model = ml::Generator3D::create(ml::Generator3dConfig::tiny(int(phases)), std::uint64_t(args.integer("seed", 0)));
        model.metadata().name = "tiny-generator3d";
        model.metadata().description = "untrained tiny 3D generator (tests only)";
        model.save(*args.value("create-tiny"));
        std::cout << "wrote an untrained tiny " << phases << "-phase generator to " << *args.value("create-tiny") << "\n";
        return 0;
    }
    if (!args.has("model")) throw Error("--model is required (see --help)");
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    const auto model = ml::Generator3D::load(*args.value("model"));
    if (args.flag("info")) {
        printModel(model);
        return 0;
    }
    ml::GenerateOptions o;
    const long count = args.integer("count", 1), steps = args.integer("steps", 0), seed = args.integer("seed", 0);
    const long batch = args.integer("batch", 8);
    if (count < 1 || count > 100000) throw Error("-n must be in 1..100000");
    if (steps < 0) throw Error("--steps must be >= 0");
    if (seed < 0) throw Error("--seed must be >= 0");
    if (batch < 1) throw Error("--batch must be >= 1");
    o.steps = int(steps);
    o.eta = args.number("eta", 0.0);
    o.guidance = args.number("guidance", 1.0);
    o.seed = std::uint64_t(seed);
    o.batch = int(batch);
    if (args.has("evaluate")) return evaluate(model, *args.value("evaluate"), args.integer("count", 16), o, args.flag("describe"));
    if (!args.has("output")) throw Error("-o OUT is required (see --help)");
    const std::string out = *args.value("output");
    const auto format = io::formatOf(out);
    if (count > 1 && format != io::Format::Hdf5) throw Error("several samples need an .h5 OUT (or -n 1)");
    const auto target = parseTarget(args.value("target", ""));
    ProgressToken progress;
    ProgressBar bar("generate");
    progress.setListener([&](double f, const std::string& msg) { bar.update(f, msg); });
    o.progress = &progress;
    auto volumes = model.generate(target, int(count), o);
    bar.finish();
    for (std::size_t i = 0; i < volumes.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "sample_%06zu", i);
        volumes[i].text["sample"] = name;
    }
    if (format == io::Format::Hdf5) io::writeHdf5(volumes, out);
    else io::writeVolume(volumes.front(), out);
    std::cout << "wrote " << volumes.size() << " sample(s) to " << out << "\n";
    for (const auto& [key, value] : volumes.front().attributes)
        if (key.rfind("predicted_", 0) == 0) std::printf("  %s = %.4g (sample 0)\n", key.c_str(), value);
    return 0;
}

int benchMl3d(const CommandArgs& argv) {
    Args args(argv, {"repeats", "threads"}, {"cpu", "tiny"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli bench ml3d [--repeats N] [--threads T] [--cpu] [--tiny]\n"
                     "Paper-sized MicroGen3D networks (2-phase CH: 128x128x64 -> latent 4x8x8x4, U-Net n_feat\n"
                     "512) at batch 1: VAE and U-Net forward+backward, one guided denoising step, one decode,\n"
                     "and the parameter counts against the paper's Table 1. --tiny: the test configuration.\n";
        return 0;
    }
    const int repeats = int(args.integer("repeats", 1));
    const int threads = int(args.integer("threads", 0));
    const auto config = args.flag("tiny") ? ml::Generator3dConfig::tiny() : ml::Generator3dConfig::paperTwoPhase();
    std::printf("config: %s, latent %dx%s = %ld values, U-Net n_feat %d\n", config.vae.dims.str().c_str(),
                config.vae.latentChannels, config.vae.latentDims().str().c_str(), config.vae.latentSize(),
                config.unetFeatures);
    const auto t = ml::timeGenerator3d(config, repeats, args.flag("cpu"), threads);
    std::printf("device: %s, repeats %d\n", t.device.c_str(), repeats);
    std::printf("parameters: VAE %ld (encoder %ld, decoder %ld; paper 46,916,781), feature predictor %ld,"
                " U-Net %ld (paper 150,871,044 with 4 conditions)\n",
                t.parameters.vae, t.parameters.encoder, t.parameters.decoder, t.parameters.featurePredictor,
                t.parameters.unet);
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
