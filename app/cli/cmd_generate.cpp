// microstudio-cli generate: 3D microstructures from a MicroGen3D model
// (conditional latent diffusion) for target descriptors, with the predicted
// processing parameters as attributes. The targets,
// feasibility checks and measurements are ms::ml's (evaluate3d.hpp); the
// reports and files are report3d.hpp's.
#ifdef MICROSTUDIO_HAVE_ML
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "ml3d_common.hpp"  // parseTarget, parseRanges
#include "options.hpp"
#include "report3d.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator3d.hpp"

namespace ms::cli {

namespace {

void targetOptions(Options& o) {
    o.text("model", "M", "model folder, its generator3d.pt/.json, or a model name");
    o.text("target", "T", "one target for all samples: NAME=VALUE,... (see --info)")
        .rule("NAME=VALUE[,NAME=VALUE...]", [](const std::string& text) { ml3d::parseTarget(text); });
    o.flag("random-targets", "per sample, uniform within each condition's training range");
    o.text("range", "R", "with --random-targets: NAME=LO:HI,... instead of the training range")
        .rule("NAME=LO:HI[,NAME=LO:HI...]", [](const std::string& text) { ml3d::parseRanges(text); });
    o.text("targets-from", "D", "per sample, the condition values of D's samples (attributes)");
    o.integer("count", "N", "samples")
        .range(1, 100000)
        .shortName('n')
        .note("1; with --targets-from: all of D, else N evenly spaced; with --evaluate: 16");
    o.flag("describe", "compute descriptors missing from held-out / --targets-from attributes");
}

Options generateOptions() {
    Options o("generate --model M --target NAME=VALUE,... -n N -o OUT [OPTIONS]",
              "Generates 3D microstructures with a MicroGen3D model (3D VAE + feature predictor + conditional DDPM on "
              "the latent grid). Conditions missing from --target take their training mean. Labels are thresholded; "
              "the decoder output is kept as the field. Each volume carries its measured descriptors (GraSPI names), "
              "the predicted descriptors and processing parameters (predicted_<name>: phi, chi, log_time) and the "
              "targets (target_<name>) as attributes. OUT: .h5 (all samples) or .vti/.txt (one file per sample, "
              "OUT_000001.vti ... when n > 1); OUT.csv beside it: one row per sample with targets, measured and "
              "predicted values.\n\n"
              "Before sampling, targets are checked against the training data's conditions (nearest-neighbour "
              "distance beyond the 99th percentile of the training set's own): a warning and the nearest feasible "
              "target are printed; --strict refuses.");
    o.alsoUsage("generate --model M --random-targets [--range NAME=LO:HI,...] -n N -o OUT");
    o.alsoUsage("generate --model M --targets-from DATA.h5 [-n N] -o OUT");
    o.alsoUsage("generate --model M --info");
    o.alsoUsage("generate --model M --evaluate HELDOUT.h5 [-n N] [OPTIONS]");
    o.alsoUsage("generate --create-tiny DIR [--phases 2|3] [--ranges-from DATA.h5]");
    targetOptions(o);
    o.flag("cpu", "never use CUDA");
    report3d::declareSampler(o, 0,
                             "screened generation: K draws per sample, each described, the one whose measured "
                             "descriptors lie nearest the target kept (distance in training std units; CSV columns "
                             "candidates, selection_distance)",
                             "with --candidates K: a sample stops drawing once a draw lies within D, so K is the most "
                             "drawn (column candidates: the draws made)");
    o.dims("size", "NXxNYxNZ",
           "volume size, larger than the training size in x/y (NZ: the training depth; multiples of the VAE's "
           "downsampling), denoised as --large-method says")
        .note("training size");
    o.section("Output:");
    o.text("output", "OUT", "output file").shortName('o');
    o.flag("strict", "refuse targets outside the training data");
    o.flag("no-measure", "skip describing the generated volumes");
    o.section("Other modes:");
    o.flag("info", "print the model's conditions, ranges and sizes");
    o.text("evaluate", "H.h5",
           "N held-out samples: feature-predictor R^2 on their latents, and one plain volume per sample for its "
           "condition values, described, R^2, R^2 det. and MAE against those targets (with --candidates K also "
           "screened, apart; see also `microstudio-cli evaluate`)");
    o.text("create-tiny", "D", "write an untrained tiny model to folder D (tests, smoke runs)");
    o.integer("phases", "P", "with --create-tiny: the tiny model's phases, 2 or 3").choices({"2", "3"}).def(2);
    o.text("ranges-from", "D", "with --create-tiny: condition ranges and training cloud from D");
    return o;
}

// Usage errors the model is not needed for, before it loads.
void checkModes(const Args& args) {
    const int modes = int(args.has("target")) + int(args.flag("random-targets")) + int(args.has("targets-from"));
    if (modes > 1) throw UsageError("give one of --target, --random-targets, --targets-from");
    if (args.has("range") && !args.flag("random-targets")) throw UsageError("--range goes with --random-targets");
    if (!args.has("create-tiny") && !args.has("model")) throw UsageError("--model is required (see --help)");
}

int createTiny(const Args& args) {
    const long phases = args.integer("phases");
    auto model = ml::Generator3D::create(ml::Generator3dConfig::tiny(int(phases)), std::uint64_t(args.integer("seed")));
    model.metadata().name = "tiny-generator3d";
    model.metadata().description = "untrained tiny 3D generator (tests only)";
    if (auto data = args.value("ranges-from")) model.setTrainingData(io::readSamples(*data));
    model.save(*args.value("create-tiny"));
    std::cout << "wrote an untrained tiny " << phases << "-phase generator to " << *args.value("create-tiny") << "\n";
    return 0;
}

// --evaluate H.h5: the feature predictor and one plain volume per held-out
// sample against its condition values (ml::evaluateGenerator3d, its first parts).
int evaluateHeldOut(const ml::Generator3D& model, const Args& args, const ml::GenerateOptions& sampler) {
    ml::Evaluation3dOptions o;
    o.sampler = sampler;
    o.candidates = sampler.candidates;
    o.tolerance = sampler.tolerance;
    o.describeMissing = args.flag("describe");
    o.reconstruction = false;
    o.diversitySamples = 0;
    o.timingBatchSizes.clear();
    o.data = *args.value("evaluate");
    const auto heldOut = ml::readSelectedSamples(o.data, std::size_t(args.integer("count", 16)), 0.0);
    const auto r = withProgressBar("evaluate", false,
                                   [&](ProgressToken* t) { return ml::evaluateGenerator3d(model, heldOut, o, t); });
    std::fputs(r.heldOutCheckText().c_str(), stdout);
    return 0;
}

// The per-sample targets of the three modes.
std::vector<ml::NamedValues> targetsFor(const ml::Generator3D& model, const Args& args, std::uint64_t seed) {
    const long count = args.integer("count", 1);
    if (args.flag("random-targets"))
        return ml::randomTargets(model, std::size_t(count), ml3d::parseRanges(args.value("range", "")), seed);
    if (auto data = args.value("targets-from"))
        return ml::targetsFromSamples(model, io::readSamples(*data), args.has("count") ? std::size_t(count) : 0,
                                      args.flag("describe"), *data);
    return std::vector<ml::NamedValues>(std::size_t(count), ml3d::parseTarget(args.value("target", "")));
}

}  // namespace

int cmdGenerate(const CommandArgs& argv) {
    const auto parsed = generateOptions().parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    checkModes(args);
    if (args.has("create-tiny")) return createTiny(args);
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    const auto model = ml::Generator3D::load(*args.value("model"));
    if (args.flag("info")) {
        report3d::printModel(model);
        return 0;
    }
    auto o = report3d::samplerSettings(args, 0, model.config().guidance);
    (void)ml::samplerLabel(o, model.config().timesteps);  // steps / eta that do not fit the sampler: refused now
    if (auto size = args.value("size")) o.size = ml::generationSize(model.config().vae, parseDims(*size));
    if (args.has("evaluate")) return evaluateHeldOut(model, args, o);
    if (!args.has("output")) throw UsageError("-o OUT is required (see --help)");
    const std::filesystem::path out = *args.value("output");
    (void)io::formatOf(out);  // an unknown file type: refused before sampling
    const auto targets = targetsFor(model, args, o.seed);
    // Feasibility before sampling: a warning and a proposal per distinct target.
    const auto feasibility = ml::checkFeasibility(model, targets);
    report3d::printFeasibility(feasibility, targets.size());
    if (feasibility.outside > 0 && args.flag("strict"))
        throw Error(std::to_string(feasibility.outside) +
                    " target(s) outside the training data (--strict); see the proposals above");

    auto volumes = withProgressBar("generate", false, [&](ProgressToken* t) {
        o.progress = t;
        auto generated = model.generate(targets, o);
        o.progress = nullptr;
        return generated;
    });
    // Screening has measured the volumes already.
    ml::finishGenerated(volumes, model, feasibility, !args.flag("no-measure") && o.candidates == 1);
    report3d::writeGenerated(volumes, model, out);
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
