// microstudio-cli evaluate: how well a 3D generator (MicroGen3D) hits its
// targets on held-out data (ms::ml::evaluateGenerator3d does the work; this
// reads the flags and the data and prints the report as text, JSON or CSV,
// report3d.hpp).
#ifdef MICROSTUDIO_HAVE_ML
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "ml3d_common.hpp"  // parseSampler, defaultSteps
#include "options.hpp"
#include "report3d.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/guidance3d.hpp"
#include "microstudio/ml/model_evaluation.hpp"

namespace ms::cli {

namespace {

// "1,2,3" -> {1, 2, 3}; ms::Error unless every item is a number in [0, 100].
std::vector<double> guidanceScales(const std::string& text) { return numberList(text, "choose-guidance", 0, 100); }

void passOptions(Options& o) {
    o.section("Further passes:");
    o.integer("diversity", "M", "samples at the fixed target").atLeast(2).note("min(N, 8), at least 2");
    report3d::declareBatchSizes(o, "timing batch sizes", "1,2,4,8,16,32");
    o.integer("compare-steps", "K2",
              "also sample --compare-count of the plain targets (evenly spaced) with K2 steps (0 = DDPM over all T) in "
              "this run: R^2 of both samplers on those targets, their difference with a 95% interval (paired "
              "bootstrap over the targets: is it more than the targets' own noise?), seconds per sample (denoise + "
              "decode) and the speed-up")
        .atLeast(0);
    o.text("compare-sampler", "S",
           "the --compare-steps sampler: ddim, dpmpp or ddpm; e.g. --compare-sampler dpmpp --compare-steps 16 against "
           "the main DDIM-50 (alone: --compare-steps defaults to the main --steps)")
        .rule("ddim, dpmpp or ddpm", [](const std::string& text) { ml3d::parseSampler(text, "--compare-sampler"); })
        .note("the main one");
    o.integer("compare-count", "M", "targets for --compare-steps").atLeast(2).note("N");
    o.dims("size", "NXxNYxNZ",
           "also generate at this size (larger than the training size in x/y; see --large-method) for --size-count "
           "of the plain targets: each descriptor's R^2 and MAE beside the training size on the same targets, seams "
           "(S2 of the donor across window borders, or the x/y wrap for whole, vs inside, against the spread between "
           "samples), seconds per voxel");
    o.integer("size-count", "M", "targets for --size (seams compare independent samples)").atLeast(2).note("min(N, 8)");
    o.text("training", "T.h5",
           "memorisation: for the plain samples and the held-out targets, the voxel disagreement to the nearest "
           "training sample (best periodic x/y shift and x/y symmetry; quartiles per set), interface density and S2 "
           "(donor); generated nearer than held-out = copying");
    o.integer("training-count", "N", "training samples compared, evenly spaced (after the phase-fraction filter)")
        .atLeast(1)
        .def(2000);
}

Options evaluateOptions() {
    Options o("evaluate [--model M] [--data HELDOUT.h5] [-n N] [--steps K] [--json] [--save]",
              "Evaluates a 3D generator (MicroGen3D) on held-out data (ms::ml::evaluateGenerator3d). Targets: the "
              "condition values of N held-out samples (evenly spaced); plain sampling, one volume per target, "
              "described (GraSPI): R^2 (squared Pearson, the paper's Fig. 5), R^2 det. (1 - SS_res/SS_tot) and MAE of "
              "target vs measured per descriptor. With --candidates K: a second, screened pass on the same targets, "
              "printed apart.\n\n"
              "Also: diversity at one fixed target (the held-out mean): std of each descriptor over the samples and "
              "the mean fraction of voxels that differ between pairs; the VAE round trip of the held-out samples "
              "(voxel accuracy, descriptor R^2: the ceiling for generation); the feature predictor on the held-out "
              "samples' latents: R^2 per output (phi, chi, log_time and the descriptors the data carry); seconds per "
              "sample, denoise and decode apart, for each batch size.\n\n"
              "Samples of the train split (their `split` attribute) are refused.");
    o.text("model", "M", "model folder / name")
        .note(std::string(report3d::kShippedGenerator) + ", the shipped 2-phase model");
    o.text("data", "H.h5", "held-out samples")
        .note(
            "the model folder's heldout-test.h5, else the model's recorded "
            "validation data");
    o.integer("count", "N", "held-out targets").range(1, 100000).def(16).shortName('n');
    o.number("min-phase-fraction", "F", "held-out samples whose rarer phase fills less than F are skipped")
        .atLeast(0)
        .below(0.5)
        .note("the model's training filter, e.g. 0.01 for gen3d-ch2");
    o.flag("describe", "compute descriptors missing from the held-out attributes");
    o.flag("round-trip-only",
           "only the feature predictor and the VAE round trip, no sampling (a VAE study: trained after --stage vae)");
    o.flag("cpu", "never use CUDA");
    o.integer("threads", "T", "torch threads on the CPU").range(1, 4096).note("MICROSTUDIO_THREADS or all cores");
    report3d::declareSampler(o, 50,
                             "also screened generation on the same targets: K draws per target, the one measured "
                             "nearest the target kept (reported apart, under `screened`: a search over draws, not the "
                             "model's figure; 1: plain only)",
                             "with --candidates K: a target stops drawing once a draw lies within D (training std "
                             "units), so K is the most drawn (0: always K)");
    passOptions(o);
    o.section("Choosing on validation:");
    o.text("choose-guidance", "G1,G2,...",
           "instead of the report: plain sampling on the validation targets at each guidance scale; the scale with "
           "the highest least R^2 over the conditions becomes the model's default (recorded with its figures in "
           "training.choices.guidance; the model is saved in place). Samples of any other split are refused")
        .rule("scales in [0, 100] separated by commas", [](const std::string& text) { guidanceScales(text); });
    o.flag("choose-mixed-band",
           "instead of the report (3-phase models): the VAE round trip of the validation volumes labelled with each "
           "mixed band [low, high), low 0.10..0.35 and high 0.65..0.90 in steps of 0.05; the band with the highest "
           "least round-trip coefficient of determination (within 0.01 of it: the highest mean) becomes the model's "
           "(training.choices.mixed_band; saved in place). A class-output VAE: the same for the mixed class's log "
           "offset, -1.5..1.5 in steps of 0.1 (training.choices.mixed_offset)");
    o.section("Output:");
    o.text("csv", "FILE",
           "one row per held-out target: target, VAE round trip and generated value of each descriptor (_screened, "
           "_compared and draws with those parts)");
    o.flag("json", "print the report as one JSON object (docs/ml3d.md)");
    o.flag("save", "also write the JSON report to evaluation.json in the model's folder (read by the studio)");
    return o;
}

// --data, else the shipped test subset beside the model, else its recorded validation data.
std::string heldOutPath(const Args& args, const ml::Generator3D& model) {
    if (auto data = args.value("data")) return *data;
    const std::string path = ml::defaultHeldOutData(model.card());
    if (path.empty())
        throw Error(std::string("--data HELDOUT.h5 is required: the model's folder has no ") + ml::kShippedHeldOut +
                    " and the model records no validation data");
    return path;
}

ml::Evaluation3dOptions evaluationOptions(const Args& args, long count, const ml::Generator3D& model) {
    ml::Evaluation3dOptions o;
    o.sampler = report3d::samplerSettings(args, 50, model.config().guidance);
    o.candidates = o.sampler.candidates;
    o.tolerance = o.sampler.tolerance;
    o.describeMissing = args.flag("describe");
    o.generation = !args.flag("round-trip-only");
    o.diversitySamples = int(args.integer("diversity", std::max(2L, std::min(count, 8L))));
    o.timingBatchSizes = report3d::batchSizes(args.text("batch-sizes"));
    o.compareSampler = args.value("compare-sampler", "");
    o.compareSteps = int(args.integer("compare-steps", args.has("compare-sampler") ? o.sampler.steps : -1));
    o.compareCount = std::size_t(args.integer("compare-count", count));
    if (auto size = args.value("size")) o.largeSize = parseDims(*size);
    o.largeCount = std::size_t(args.integer("size-count", std::min(count, 8L)));
    if (args.has("size") && o.largeCount < 2)
        throw UsageError("--size-count must be >= 2 (seams compare independent samples)");
    return o;
}

std::vector<Volume> readTraining(const Args& args, double minPhase) {
    const std::string path = args.value("training", "");
    if (path.empty()) return {};
    return ml::readSelectedSamples(path, std::size_t(args.integer("training-count")), minPhase, "--min-phase-fraction");
}

// --choose-guidance: every scale on the validation targets, the best kept in the model.
int chooseGuidance(ml::Generator3D& model, const std::vector<Volume>& validation, const std::string& scales,
                   const ml::Evaluation3dOptions& options, ProgressToken& progress, ProgressBar& bar) {
    const auto choice = ml::chooseGuidance3d(model, validation, guidanceScales(scales), options, &progress);
    bar.finish();
    std::fputs(choice.table().c_str(), stdout);
    ml::recordGuidanceChoice(model, choice);
    const auto folder = model.saveInPlace();
    std::printf("(R^2 / R^2 det. per condition, plain %s on %zu validation targets)\nguidance %g chosen; saved in %s\n",
                ml::samplerLabel(options.sampler, model.config().timesteps).c_str(), choice.targets, choice.chosen,
                folder.string().c_str());
    return 0;
}

// --choose-mixed-band: every band (level output) or mixed offset (class
// output) on the validation round trips, the best kept in the model.
int chooseMixedBand(ml::Generator3D& model, const std::vector<Volume>& validation, const std::string& data,
                    ProgressToken& progress, ProgressBar& bar) {
    const std::vector<double> lows{0.10, 0.15, 0.20, 0.25, 0.30, 0.35}, highs{0.65, 0.70, 0.75, 0.80, 0.85, 0.90};
    std::vector<double> offsets;
    for (int k = -15; k <= 15; ++k) offsets.push_back(0.1 * k);  // session 22: the best lay in (-0.5, 0.25)
    auto choice = model.config().vae.classOutput() ? ml::chooseMixedOffset3d(model, validation, offsets, &progress)
                                                   : ml::chooseMixedBand3d(model, validation, lows, highs, &progress);
    choice.data = data;
    bar.finish();
    std::fputs(choice.table().c_str(), stdout);
    ml::recordMixedBandChoice(model, choice);
    const auto folder = model.saveInPlace();
    std::printf(
        "(round-trip R^2 per condition on %zu validation volumes; originals' M fraction %.4f)\n%s\nsaved in %s\n",
        choice.volumes, choice.targetMixedFraction, choice.criterion().c_str(), folder.string().c_str());
    return 0;
}

}  // namespace

int cmdEvaluate(const CommandArgs& argv) {
    const auto parsed = evaluateOptions().parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    if (args.has("training-count") && !args.has("training")) throw UsageError("--training-count needs --training");
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    if (auto t = args.value("threads"))
        setenv("MICROSTUDIO_THREADS", t->c_str(), 1);  // read when the model picks its device
    auto model = report3d::loadGenerator(args);
    const long count = args.integer("count");
    auto options = evaluationOptions(args, count, model);
    options.data = heldOutPath(args, model);
    // The model's training filter (single-phase snapshots skipped) unless given.
    options.minPhaseFraction = args.number("min-phase-fraction", ml::trainingMinPhaseFraction(model.card()));
    const auto heldOut =
        ml::readSelectedSamples(options.data, std::size_t(count), options.minPhaseFraction, "--min-phase-fraction");
    const std::string split = ml::heldOutSplit(heldOut);  // refuses train samples before the slow parts
    std::fprintf(stderr, "evaluate: %zu held-out samples of %s (split %s)\n", heldOut.size(), options.data.c_str(),
                 split.c_str());
    const auto training = readTraining(args, options.minPhaseFraction);  // read now, so a bad file fails at once
    if (!training.empty()) {
        options.training = &training;
        options.trainingData = args.value("training", "");
    }

    ProgressToken progress;
    ProgressBar bar("evaluate");
    progress.setListener([&](double f, const std::string& msg) { bar.update(f, msg); });
    if (auto scales = args.value("choose-guidance"))
        return chooseGuidance(model, heldOut, *scales, options, progress, bar);
    if (args.flag("choose-mixed-band")) return chooseMixedBand(model, heldOut, options.data, progress, bar);
    const auto report = ml::evaluateGenerator3d(model, heldOut, options, &progress);
    bar.finish();
    if (auto csv = args.value("csv")) writeLinesAtomically(*csv, report.csvRows());
    if (args.flag("save")) {
        const auto path = ml::evaluationPath(model.weightsPath());
        writeJsonFile(report.toJson(), path);
        std::fprintf(stderr, "wrote %s\n", path.string().c_str());
    }
    if (args.flag("json")) std::cout << jsonText(report.toJson()) << "\n";
    else std::fputs(report.text().c_str(), stdout);
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
