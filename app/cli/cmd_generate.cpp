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

#include <fstream>
#include <random>

#include "args.hpp"
#include "commands.hpp"
#include "ml3d_common.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/generator3d.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif

namespace ms::cli {

namespace {

using ml3d::parseTarget;

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
    const auto& cloud = model.trainingConditions();
    if (cloud.empty())
        std::printf("feasibility: no training conditions stored (targets are not checked)\n");
    else
        std::printf("feasibility: %zu training condition vectors, %.0fth-percentile nearest-neighbour distance %.4g"
                    " (z-scored)\n", cloud.size(), cloud.percentile() * 100.0, cloud.threshold());
}

// Held-out volumes (N evenly spaced): the feature predictor on their
// latents, and one plain volume per sample for its condition values,
// described, against those targets (ml::evaluateGenerator3d, its first parts).
int evaluate(const ml::Generator3D& model, const std::string& path, long count, const ml::GenerateOptions& sampler,
             bool describe) {
    ml::Evaluation3dOptions o;
    o.sampler = sampler;
    o.candidates = sampler.candidates;
    o.tolerance = sampler.tolerance;
    o.describeMissing = describe;
    o.reconstruction = false;
    o.diversitySamples = 0;
    o.timingBatchSizes.clear();
    o.data = path;
    const auto heldOut = ml::selectSamples(io::readSamples(path), std::size_t(count), 0.0);
    if (heldOut.empty()) throw Error("no samples in " + path);
    ProgressToken progress;
    ProgressBar bar("evaluate");
    progress.setListener([&](double f, const std::string& msg) { bar.update(f, msg); });
    const auto r = ml::evaluateGenerator3d(model, heldOut, o, &progress);
    bar.finish();
    std::printf("evaluate: %zu held-out samples from %s (split %s); sampler %s, guidance %g\n", r.n, path.c_str(),
                r.split.c_str(), r.samplerLabel.c_str(), r.guidance);
    ml3d::printFeaturePredictor(r);
    std::printf("descriptors of generated volumes vs their targets (plain sampling, one draw per target)\n");
    ml3d::printFit(r.plain, r.conditions);
    if (r.screened) ml3d::printScreened(r);
    return 0;
}

}  // namespace

namespace {

// The per-sample targets of the three modes.
std::vector<std::map<std::string, double>> targetsFor(const ml::Generator3D& model, const Args& args, long count,
                                                      bool countGiven, std::uint64_t seed) {
    const int modes = int(args.has("target")) + int(args.flag("random-targets")) + int(args.has("targets-from"));
    if (modes > 1) throw Error("give one of --target, --random-targets, --targets-from");
    if (args.has("range") && !args.flag("random-targets")) throw Error("--range goes with --random-targets");
    const auto& conditions = model.config().conditions;
    std::vector<std::map<std::string, double>> targets;
    if (args.flag("random-targets")) {
        // Uniform within the training range of each condition, or --range.
        std::map<std::string, std::pair<double, double>> ranges;
        for (const auto& r : model.conditionRanges()) ranges[r.name] = {r.min, r.max};
        for (const auto& [name, range] : ml3d::parseRanges(args.value("range", ""))) {
            if (!ranges.count(name)) throw Error("--range: unknown condition '" + name + "'");
            ranges[name] = range;
        }
        std::mt19937_64 random(seed);
        for (long i = 0; i < count; ++i) {
            std::map<std::string, double> t;
            for (const auto& name : conditions) {
                const auto [lo, hi] = ranges.at(name);
                t[name] = lo + (hi - lo) * std::uniform_real_distribution<double>(0.0, 1.0)(random);
            }
            targets.push_back(t);
        }
        return targets;
    }
    if (auto data = args.value("targets-from")) {
        // Condition values from the samples' attributes, as MicroGen3D does.
        auto samples = io::readSamples(*data);
        if (samples.empty()) throw Error("no samples in " + *data);
        const auto picked = ml3d::evenlySpaced(samples.size(), countGiven ? std::size_t(count) : samples.size());
        for (std::size_t index : picked) {
            Volume& v = samples[index];
            std::map<std::string, double> t;
            for (const auto& name : conditions) {
                auto it = v.attributes.find(name);
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
                if (it == v.attributes.end() && args.flag("describe")) {
                    descriptors::storeAsAttributes(descriptors::describe(v), v);
                    it = v.attributes.find(name);
                }
#endif
                if (it == v.attributes.end())
                    throw Error(*data + ": sample " + std::to_string(index) + " lacks condition '" + name +
                                "' (--describe computes missing descriptors)");
                t[name] = it->second;
            }
            targets.push_back(t);
        }
        return targets;
    }
    return std::vector<std::map<std::string, double>>(std::size_t(count), parseTarget(args.value("target", "")));
}

// One row per sample: targets, measured descriptors, predicted outputs.
void writeCsv(const std::vector<Volume>& volumes, const ml::Generator3D& model, const std::filesystem::path& path) {
    const auto& c = model.config();
    std::string csv = "sample,seed";
    for (const auto& name : c.conditions) csv += ",target_" + name;
    for (const auto& name : c.conditions) csv += ",measured_" + name;
    for (const auto& name : c.outputs) csv += ",predicted_" + name;
    csv += ",feasible,candidates,selection_distance\n";
    auto value = [](const Volume& v, const std::string& key) {
        auto it = v.attributes.find(key);
        return it == v.attributes.end() ? std::nan("") : it->second;
    };
    for (const auto& v : volumes) {
        csv += v.text.count("sample") ? v.text.at("sample") : "";
        csv += "," + ml3d::csvNumber(value(v, "seed"));
        for (const auto& name : c.conditions) csv += "," + ml3d::csvNumber(value(v, "target_" + name));
        for (const auto& name : c.conditions) csv += "," + ml3d::csvNumber(value(v, name));
        for (const auto& name : c.outputs) csv += "," + ml3d::csvNumber(value(v, "predicted_" + name));
        csv += "," + ml3d::csvNumber(value(v, "target_feasible")) + "," + ml3d::csvNumber(value(v, "candidates")) + "," +
               ml3d::csvNumber(value(v, "selection_distance")) + "\n";
    }
    ml3d::writeTextAtomically(path, csv);
}

}  // namespace

int cmdGenerate(const CommandArgs& argv) {
    Args args(argv, {"model", "target", "count", "steps", "eta", "guidance", "seed", "batch", "output", "create-tiny",
                     "phases", "evaluate", "range", "targets-from", "ranges-from", "candidates", "ddpm-variance", "tolerance",
                     "sampler", "size"},
              {"info", "cpu", "describe", "random-targets", "strict", "no-measure"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli generate --model M --target NAME=VALUE,... -n N -o OUT [OPTIONS]\n"
                     "       microstudio-cli generate --model M --random-targets [--range NAME=LO:HI,...] -n N -o OUT\n"
                     "       microstudio-cli generate --model M --targets-from DATA.h5 [-n N] -o OUT\n"
                     "       microstudio-cli generate --model M --info\n"
                     "       microstudio-cli generate --model M --evaluate HELDOUT.h5 [-n N] [OPTIONS]\n"
                     "       microstudio-cli generate --create-tiny DIR [--phases 2|3] [--ranges-from DATA.h5]\n\n"
                     "Generates 3D microstructures with a MicroGen3D model (3D VAE + feature predictor +\n"
                     "conditional DDPM on the latent grid). Conditions missing from --target take their\n"
                     "training mean. Labels are thresholded; the decoder output is kept as the field. Each\n"
                     "volume carries its measured descriptors (GraSPI names), the predicted descriptors and\n"
                     "processing parameters (predicted_<name>: phi, chi, log_time) and the targets\n"
                     "(target_<name>) as attributes. OUT: .h5 (all samples) or .vti/.txt (one file per\n"
                     "sample, OUT_000001.vti ... when n > 1); OUT.csv beside it: one row per sample with\n"
                     "targets, measured and predicted values.\n"
                     "Before sampling, targets are checked against the training data's conditions (nearest-\n"
                     "neighbour distance beyond the 99th percentile of the training set's own): a warning and\n"
                     "the nearest feasible target are printed; --strict refuses.\n"
                     "  --model M          model folder, its generator3d.pt/.json, or a model name\n"
                     "  --target T         one target for all samples: NAME=VALUE,... (see --info)\n"
                     "  --random-targets   per sample, uniform within each condition's training range\n"
                     "  --range R          with --random-targets: NAME=LO:HI,... instead of the training range\n"
                     "  --targets-from D   per sample, the condition values of D's samples (attributes)\n"
                     "  -n, --count N      samples [1; with --targets-from: all of D, else N evenly spaced]\n"
                     "  --sampler S        ddim, dpmpp (DPM-Solver++(2M): deterministic, ~16 steps match\n"
                     "                     DDIM-50) or ddpm (ancestral over all T steps) [ddim]\n"
                     "  --steps K          solver steps (network calls); with ddim 0 = ancestral DDPM over all\n"
                     "                     T steps (the paper) [ddim: 0, dpmpp: 16]\n"
                     "  --eta X            DDIM noise (0 deterministic; ddim only) [0]\n"
                     "  --ddpm-variance V  for ancestral DDPM: step variance beta (the paper's) or posterior [beta]\n"
                     "  --guidance G       classifier-free guidance scale (0 unconditional, 1 conditional) [1]\n"
                     "  --seed S           [0]\n"
                     "  --batch B          samples denoised together [8]\n"
                     "  --size NXxNYxNZ    volume size, larger than the training size in x/y (NZ: the training\n"
                     "                     depth; multiples of the VAE's downsampling): overlapping training-size\n"
                     "                     latent windows blended every step, periodic in x/y [training size]\n"
                     "  --candidates K     screened generation: K draws per sample, each described, the one\n"
                     "                     whose measured descriptors lie nearest the target kept (distance in\n"
                     "                     training std units; CSV columns candidates, selection_distance) [1]\n"
                     "  --tolerance D      with --candidates K: a sample stops drawing once a draw lies within\n"
                     "                     D, so K is the most drawn (column candidates: the draws made) [0]\n"
                     "  -o, --output OUT   output file\n"
                     "  --strict           refuse targets outside the training data\n"
                     "  --no-measure       skip describing the generated volumes\n"
                     "  --info             print the model's conditions, ranges and sizes\n"
                     "  --evaluate H.h5    N held-out samples [16]: feature-predictor R^2 on their latents, and\n"
                     "                     one plain volume per sample for its condition values, described,\n"
                     "                     R^2, R^2 det. and MAE against those targets (with --candidates K\n"
                     "                     also screened, apart; see also `microstudio-cli evaluate`)\n"
                     "  --describe         compute descriptors missing from held-out / --targets-from attributes\n"
                     "  --cpu              never use CUDA\n"
                     "  --create-tiny D    write an untrained tiny model to folder D (tests, smoke runs);\n"
                     "  --ranges-from D    with --create-tiny: condition ranges and training cloud from D\n";
        return 0;
    }
    if (args.has("create-tiny")) {
        const long phases = args.integer("phases", 2);
        if (phases != 2 && phases != 3) throw Error("--phases must be 2 or 3");
        auto model = ml::Generator3D::create(ml::Generator3dConfig::tiny(int(phases)), std::uint64_t(args.integer("seed", 0)));
        model.metadata().name = "tiny-generator3d";
        model.metadata().description = "untrained tiny 3D generator (tests only)";
        if (auto data = args.value("ranges-from")) model.setTrainingData(io::readSamples(*data));
        model.save(*args.value("create-tiny"));
        std::cout << "wrote an untrained tiny " << phases << "-phase generator to " << *args.value("create-tiny") << "\n";
        return 0;
    }
    if (!args.has("model")) throw Error("--model is required (see --help)");
    const std::string sampler = ml3d::parseSampler(args.value("sampler", "ddim"));
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    const auto model = ml::Generator3D::load(*args.value("model"));
    if (args.flag("info")) {
        printModel(model);
        return 0;
    }
    ml::GenerateOptions o;
    const long count = args.integer("count", 1), seed = args.integer("seed", 0);
    const long steps = args.integer("steps", ml3d::defaultSteps(sampler, 0));
    const long batch = args.integer("batch", 8);
    if (count < 1 || count > 100000) throw Error("-n must be in 1..100000");
    if (steps < 0) throw Error("--steps must be >= 0");
    if (seed < 0) throw Error("--seed must be >= 0");
    if (batch < 1) throw Error("--batch must be >= 1");
    o.sampler = sampler;
    o.steps = int(steps);
    o.eta = args.number("eta", 0.0);
    o.guidance = args.number("guidance", 1.0);
    o.seed = std::uint64_t(seed);
    o.batch = int(batch);
    (void)ml::samplerLabel(o, model.config().timesteps);  // steps / eta that do not fit the sampler: refused now
    o.candidates = ml3d::parseCandidates(args.integer("candidates", 1));
    o.tolerance = ml3d::parseTolerance(args.number("tolerance", 0.0));
    o.posteriorVariance = ml3d::parseDdpmVariance(args.value("ddpm-variance", "beta"));
    if (auto size = args.value("size")) o.size = ml::generationSize(model.config().vae, parseDims(*size));
    if (args.has("evaluate")) return evaluate(model, *args.value("evaluate"), args.integer("count", 16), o, args.flag("describe"));
    if (!args.has("output")) throw Error("-o OUT is required (see --help)");
    const std::filesystem::path out = *args.value("output");
    const auto format = io::formatOf(out);
    const auto targets = targetsFor(model, args, count, args.has("count"), std::uint64_t(seed));

    // Feasibility before sampling: a warning and a proposal per distinct target.
    std::vector<bool> feasible(targets.size(), true);
    std::size_t outside = 0;
    std::map<std::map<std::string, double>, ml::FeasibilityReport> checked;
    std::size_t warned = 0;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        auto it = checked.find(targets[i]);
        const bool first = it == checked.end();
        if (first) it = checked.emplace(targets[i], model.feasibility(targets[i])).first;
        feasible[i] = it->second.feasible;
        if (feasible[i]) continue;
        ++outside;
        if (first && warned++ < 3) std::cerr << "warning: sample " << i << ": " << it->second.message() << "\n";
    }
    if (outside > 1)
        std::cerr << "warning: " << outside << " of " << targets.size() << " targets lie outside the training data\n";
    if (outside > 0 && args.flag("strict"))
        throw Error(std::to_string(outside) + " target(s) outside the training data (--strict); see the proposals above");

    ProgressToken progress;
    ProgressBar bar("generate");
    progress.setListener([&](double f, const std::string& msg) { bar.update(f, msg); });
    o.progress = &progress;
    auto volumes = model.generate(targets, o);
    bar.finish();
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    if (!args.flag("no-measure") && o.candidates == 1) {  // screening has measured them
        descriptors::Options d;
        d.phases = model.config().vae.phases;
        const auto measured = descriptors::describeBatch(volumes, d);
        for (std::size_t i = 0; i < volumes.size(); ++i) descriptors::storeAsAttributes(measured[i], volumes[i]);
    }
#endif
    for (std::size_t i = 0; i < volumes.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "sample_%06zu", i);
        volumes[i].text["sample"] = name;
        if (model.trainingConditions().size() > 0) volumes[i].attributes["target_feasible"] = feasible[i] ? 1.0 : 0.0;
    }
    std::vector<std::filesystem::path> written;
    if (format == io::Format::Hdf5) {
        io::writeHdf5(volumes, out);
        written.push_back(out);
    } else if (volumes.size() == 1) {
        io::writeVolume(volumes.front(), out);
        written.push_back(out);
    } else {
        for (std::size_t i = 0; i < volumes.size(); ++i) {
            char suffix[32];
            std::snprintf(suffix, sizeof suffix, "_%06zu", i);
            auto path = out.parent_path() / (out.stem().string() + suffix + out.extension().string());
            io::writeVolume(volumes[i], path);
            written.push_back(path);
        }
    }
    auto csv = out;
    csv.replace_extension(".csv");
    writeCsv(volumes, model, csv);
    std::cout << "wrote " << volumes.size() << " sample(s) to "
              << (written.size() == 1 ? out.string() : written.front().string() + " ... " + written.back().string())
              << " and " << csv.string() << "\n";
    const auto& first = volumes.front();
    for (const auto& name : model.config().conditions) {
        auto m = first.attributes.find(name);
        std::printf("  %-16s target %.4g, measured %s, predicted %.4g (sample 0)\n", name.c_str(),
                    first.attributes.at("target_" + name), m == first.attributes.end() ? "-" : ml3d::csvNumber(m->second).c_str(),
                    first.attributes.at("predicted_" + name));
    }
    for (const auto& name : ml::processingOutputs())
        if (auto p = first.attributes.find("predicted_" + name); p != first.attributes.end())
            std::printf("  %-16s predicted %.4g (sample 0)\n", name.c_str(), p->second);
    return 0;
}

int benchMl3d(const CommandArgs& argv) {
    Args args(argv, {"repeats", "threads", "batch-sizes", "steps"}, {"cpu", "tiny"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli bench ml3d [--repeats N] [--threads T] [--cpu] [--tiny]\n"
                     "Paper-sized MicroGen3D networks (2-phase CH: 128x128x64 -> latent 4x8x8x4, U-Net n_feat\n"
                     "512) at batch 1: VAE and U-Net forward+backward, one guided denoising step, one decode,\n"
                     "and the parameter counts against the paper's Table 1. --tiny: the test configuration.\n"
                     "  --batch-sizes L  instead: generate() with an untrained model of that size at each batch\n"
                     "                   size (e.g. 1,2,4,8,16,32), seconds per sample denoise vs decode\n"
                     "  --steps K        DDIM steps for --batch-sizes [2]\n";
        return 0;
    }
    if (auto sizes = args.value("batch-sizes")) {
        // Untrained weights cost the same as trained ones: sample cost by batch size.
        const auto config = args.flag("tiny") ? ml::Generator3dConfig::tiny() : ml::Generator3dConfig::paperTwoPhase();
        if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
        const long steps = args.integer("steps", 2);
        if (steps < 1 || steps > config.timesteps) throw Error("--steps must be in 1..T");
        const auto model = ml::Generator3D::create(config, 0);
        std::printf("config: %s, U-Net n_feat %d, device %s, DDIM-%ld, guidance 2 (cond + uncond)\n",
                    config.vae.dims.str().c_str(), config.unetFeatures, model.device().c_str(), steps);
        std::printf("%-6s %16s %16s %16s\n", "batch", "denoise s/sample", "per step", "decode s/sample");
        std::stringstream in(*sizes);
        std::string item;
        bool warm = false;
        while (std::getline(in, item, ',')) {
            const double b = ml3d::parseNumber(item, "--batch-sizes");
            if (b < 1 || b > 1024 || b != std::floor(b)) throw Error("--batch-sizes: '" + item + "' is not a batch size");
            ml::GenerateOptions o;
            o.steps = int(steps);
            o.guidance = 2.0;
            o.batch = int(b);
            if (!warm) model.generate({}, 1, o);  // warm-up (allocator, kernels)
            warm = true;
            ml::GenerateTiming t;
            o.timing = &t;
            model.generate({}, int(b), o);
            std::printf("%-6.0f %16.4g %16.4g %16.4g\n", b, t.denoiseSeconds / b, t.denoiseSeconds / b / double(steps),
                        t.decodeSeconds / b);
        }
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
