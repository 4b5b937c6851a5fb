// microstudio-cli evaluate: how well a 3D generator (MicroGen3D) hits its
// targets on held-out data (ms::ml::evaluateGenerator3d does the work; this
// reads the flags and the data and prints the report as text, JSON or CSV).
#ifdef MICROSTUDIO_HAVE_ML
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "ml3d_common.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/model_evaluation.hpp"

namespace ms::cli {

namespace {

namespace fs = std::filesystem;

// The shipped 2-phase 3D model (resources/models/gen3d-ch2/generator3d.{pt,json}).
constexpr const char* defaultGenerator = "gen3d-ch2";
// The shipped test subset in a model's folder, the default held-out data.

const char* const kHelp =
    "Usage: microstudio-cli evaluate [--model M] [--data HELDOUT.h5] [-n N] [--steps K] [--json] [--save]\n\n"
    "Evaluates a 3D generator (MicroGen3D) on held-out data (ms::ml::evaluateGenerator3d):\n"
    "  - targets: the condition values of N held-out samples (evenly spaced); plain sampling,\n"
    "    one volume per target, described (GraSPI): R^2 (squared Pearson, the paper's Fig. 5),\n"
    "    R^2 det. (1 - SS_res/SS_tot) and MAE of target vs measured per descriptor;\n"
    "  - with --candidates K: a second, screened pass on the same targets, printed apart;\n"
    "  - diversity at one fixed target (the held-out mean): std of each descriptor over the\n"
    "    samples and the mean fraction of voxels that differ between pairs;\n"
    "  - the VAE round trip of the held-out samples (voxel accuracy, descriptor R^2: the\n"
    "    ceiling for generation);\n"
    "  - the feature predictor on the held-out samples' latents: R^2 per output (phi, chi,\n"
    "    log_time and the descriptors the data carry);\n"
    "  - seconds per sample, denoise and decode apart, for each batch size.\n"
    "Samples of the train split (their `split` attribute) are refused.\n"
    "  --model M          model folder / name [gen3d-ch2, the shipped 2-phase model]\n"
    "  --data H.h5        held-out samples [the model folder's heldout-test.h5, else the model's\n"
    "                     recorded validation data]\n"
    "  -n, --count N      held-out targets [16]\n"
    "  --sampler S        ddim, dpmpp (DPM-Solver++(2M), deterministic) or ddpm (ancestral over\n"
    "                     all T) [ddim]\n"
    "  --steps K          solver steps; with ddim 0 = DDPM over all T [ddim: 50, dpmpp: 16]\n"
    "  --eta X, --guidance G, --seed S   sampler settings (eta: ddim only) [0, 1, 0]\n"
    "  --ddpm-variance V  the DDPM's step variance: beta (the paper's) or posterior [beta]\n"
    "  --batch B          samples denoised together for the R^2 passes [8]\n"
    "  --candidates K     also screened generation on the same targets: K draws per target, the\n"
    "                     one measured nearest the target kept (reported apart, under `screened`:\n"
    "                     a search over draws, not the model's figure) [1: plain only]\n"
    "  --tolerance D      with --candidates K: a target stops drawing once a draw lies within\n"
    "                     D (training std units), so K is the most drawn [0: always K]\n"
    "  --diversity M      samples at the fixed target [min(N, 8), at least 2]\n"
    "  --batch-sizes L    timing batch sizes [1,2,4,8,16,32]\n"
    "  --describe         compute descriptors missing from the held-out attributes\n"
    "  --min-phase-fraction F  held-out samples whose rarer phase fills less than F are\n"
    "                     skipped [the model's training filter, e.g. 0.01 for gen3d-ch2]\n"
    "  --compare-steps K2 also sample --compare-count of the plain targets (evenly spaced) with\n"
    "                     K2 steps (0 = DDPM over all T) in this run: R^2 of both samplers on\n"
    "                     those targets, their difference with a 95% interval (paired bootstrap\n"
    "                     over the targets: is it more than the targets' own noise?), seconds\n"
    "                     per sample (denoise + decode) and the speed-up\n"
    "  --compare-sampler S  the --compare-steps sampler: ddim, dpmpp or ddpm [the main one];\n"
    "                     e.g. --compare-sampler dpmpp --compare-steps 16 against the main DDIM-50\n"
    "                     (alone: --compare-steps defaults to the main --steps)\n"
    "  --compare-count M  targets for --compare-steps [N]\n"
    "  --size NXxNYxNZ    also generate at this size (larger than the training size in x/y;\n"
    "                     overlapping latent windows, see generate --size) for --size-count of\n"
    "                     the plain targets: each descriptor's R^2 and MAE beside the training\n"
    "                     size on the same targets, seams (S2 of the donor across window borders\n"
    "                     vs inside windows, against the spread between samples), seconds per voxel\n"
    "  --size-count M     targets for --size [min(N, 8)]\n"
    "  --threads T        torch threads on the CPU [MICROSTUDIO_THREADS or all cores]\n"
    "  --training T.h5    memorisation: for the plain samples and the held-out targets, the\n"
    "                     voxel disagreement to the nearest training sample (best periodic x/y\n"
    "                     shift and x/y symmetry; quartiles per set), interface density and S2\n"
    "                     (donor); generated nearer than held-out = copying\n"
    "  --training-count N training samples compared, evenly spaced (after the phase-fraction\n"
    "                     filter) [2000]\n"
    "  --csv FILE         one row per held-out target: target, VAE round trip and generated\n"
    "                     value of each descriptor (_screened, _compared and draws with those parts)\n"
    "  --json             print the report as one JSON object (docs/ml3d.md)\n"
    "  --round-trip-only  only the feature predictor and the VAE round trip, no sampling (a VAE\n"
    "                     study: trained after --stage vae)\n"
    "  --save             also write the JSON report to evaluation.json in the model's folder\n"
    "                     (read by the studio)\n"
    "  --cpu              never use CUDA\n";

std::vector<int> parseBatchSizes(const std::string& text) {
    std::vector<int> sizes;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        const double v = ml3d::parseNumber(item, "--batch-sizes");
        if (v < 1 || v > 1024 || v != std::floor(v)) throw Error("--batch-sizes: '" + item + "' is not a batch size in 1..1024");
        sizes.push_back(int(v));
    }
    if (sizes.empty()) throw Error("--batch-sizes needs at least one size");
    return sizes;
}

ml::Generator3D loadModel(const Args& args) {
    if (auto m = args.value("model")) return ml::Generator3D::load(*m);
    try {
        return ml::Generator3D::load(defaultGenerator);
    } catch (const Error& e) {
        throw Error(std::string("the shipped 2-phase 3D model '") + defaultGenerator +
                    "' is not installed (expected resources/models/" + defaultGenerator +
                    "/generator3d.pt in the model search path; train one with train3d or pass --model M): " + e.what());
    }
}

// --data, else the shipped test subset beside the model, else its recorded validation data.
std::string heldOutPath(const Args& args, const ml::Generator3D& model) {
    if (auto data = args.value("data")) return *data;
    const std::string path = ml::defaultHeldOutData(model);
    if (path.empty())
        throw Error(std::string("--data HELDOUT.h5 is required: the model's folder has no ") + ml::kShippedHeldOut +
                    " and the model records no validation data");
    return path;
}

double minPhaseFraction(const Args& args, const ml::Generator3D& model) {
    // The model's training filter (single-phase snapshots skipped) unless given.
    const double minPhase = args.number("min-phase-fraction", ml::trainingMinPhaseFraction(model));
    if (minPhase < 0.0 || minPhase >= 0.5) throw Error("--min-phase-fraction must be in [0, 0.5)");
    return minPhase;
}

ml::GenerateOptions samplerOptions(const Args& args) {
    ml::GenerateOptions o;
    o.sampler = ml3d::parseSampler(args.value("sampler", "ddim"));
    const long steps = args.integer("steps", ml3d::defaultSteps(o.sampler, 50)), seed = args.integer("seed", 0), batch = args.integer("batch", 8);
    if (steps < 0) throw Error("--steps must be >= 0");
    if (seed < 0) throw Error("--seed must be >= 0");
    if (batch < 1) throw Error("--batch must be >= 1");
    o.steps = int(steps);
    o.eta = args.number("eta", 0.0);
    o.guidance = args.number("guidance", 1.0);
    o.seed = std::uint64_t(seed);
    o.batch = int(batch);
    o.posteriorVariance = ml3d::parseDdpmVariance(args.value("ddpm-variance", "beta"));
    return o;
}

ml::Evaluation3dOptions evaluationOptions(const Args& args, long count) {
    ml::Evaluation3dOptions o;
    o.sampler = samplerOptions(args);
    o.candidates = ml3d::parseCandidates(args.integer("candidates", 1));
    o.tolerance = ml3d::parseTolerance(args.number("tolerance", 0.0));
    o.describeMissing = args.flag("describe");
    o.generation = !args.flag("round-trip-only");
    const long diversity = args.integer("diversity", std::max(2L, std::min(count, 8L)));
    if (diversity < 2) throw Error("--diversity needs at least 2 samples");
    o.diversitySamples = int(diversity);
    o.timingBatchSizes = parseBatchSizes(args.value("batch-sizes", "1,2,4,8,16,32"));
    if (args.has("compare-sampler")) o.compareSampler = ml3d::parseSampler(*args.value("compare-sampler"), "--compare-sampler");
    o.compareSteps = int(args.integer("compare-steps", args.has("compare-sampler") ? o.sampler.steps : -1));
    if (args.has("compare-steps") && o.compareSteps < 0) throw Error("--compare-steps must be >= 0");
    const long compareCount = args.integer("compare-count", count);
    if (compareCount < 2) throw Error("--compare-count must be >= 2");
    o.compareCount = std::size_t(compareCount);
    if (auto size = args.value("size")) o.largeSize = parseDims(*size);
    const long largeCount = args.integer("size-count", std::min(count, 8L));
    if (args.has("size") && largeCount < 2) throw Error("--size-count must be >= 2 (seams compare independent samples)");
    o.largeCount = std::size_t(largeCount);
    return o;
}

std::vector<Volume> readTraining(const Args& args, double minPhase) {
    const std::string path = args.value("training", "");
    const long count = args.integer("training-count", 2000);
    if (args.has("training-count") && path.empty()) throw Error("--training-count needs --training");
    if (count < 1) throw Error("--training-count must be >= 1");
    if (path.empty()) return {};
    auto training = ml::selectSamples(io::readSamples(path), std::size_t(count), minPhase);
    if (training.empty()) throw Error("--training: no samples in " + path + (minPhase > 0.0 ? " above the phase-fraction filter" : ""));
    return training;
}

// ---- text report ------------------------------------------------------------

void printHeader(const ml::Evaluation3dReport& r, long batch) {
    std::printf("evaluate %s on %zu held-out samples of %s (split %s; %s, batch %ld, guidance %g, %s)\n",
                r.model.c_str(), r.n, r.data.c_str(), r.split.c_str(), r.samplerLabel.c_str(), batch, r.guidance,
                r.device.c_str());
    std::printf("plain sampling (one draw per target): target vs measured\n");
    ml3d::printFit(r.plain, r.conditions, r.diversity ? &r.diversity->std : nullptr);
}

void printParts(const ml::Evaluation3dReport& r) {
    if (const auto& rt = r.reconstruction) {
        std::printf("VAE round trip of the held-out samples: voxel accuracy %.4f; R^2", rt->voxelAccuracy);
        for (const auto& name : r.conditions) std::printf(" %s %s", name.c_str(), ml3d::cell(rt->r2, name).c_str());
        std::printf("\n");
    }
    if (const auto& d = r.diversity)
        std::printf("mean voxel disagreement between %d samples at one target: %s\n", d->samples,
                    ml3d::cell(d->meanVoxelDisagreement).c_str());
    ml3d::printFeaturePredictor(r);
    if (r.timing.empty()) return;
    std::printf("%-8s %14s %14s   (seconds per sample)\n", "batch", "denoise", "decode");
    for (const auto& row : r.timing)
        std::printf("%-8d %14.4g %14.4g\n", row.batch, row.denoiseSecondsPerSample, row.decodeSecondsPerSample);
}

void printComparison(const ml::Evaluation3dReport& r, long batch) {
    const auto& c = *r.comparison;
    std::printf("comparison on %zu of the plain targets: %s (other) vs %s (main) (batch %ld)\n", c.subset.size(),
                c.label.c_str(), r.samplerLabel.c_str(), batch);
    std::printf("%-16s %10s %10s %10s  %s\n", "descriptor", "R^2 main", "R^2 other", "main-other",
                "95% interval (paired bootstrap over targets)");
    for (const auto& name : r.conditions) {
        const auto& range = c.r2DifferenceCi95.at(name);
        char text[64] = "-";
        if (range.size() == 2) std::snprintf(text, sizeof text, "[%.3f, %.3f]", range[0], range[1]);
        std::printf("%-16s %10s %10s %10s  %s\n", name.c_str(), ml3d::cell(c.r2Main, name).c_str(),
                    ml3d::cell(c.r2, name).c_str(), ml3d::cell(c.r2Difference, name).c_str(), text);
    }
    std::printf("seconds per sample: main %.4g, other %.4g (other / main = %s)\n", c.mainSecondsPerSample,
                c.secondsPerSample, ml3d::cell(c.speedup).c_str());
}

void printLarge(const ml::LargeVolumeReport& l) {
    std::printf("larger volumes %s (%zu latent windows each) on %zu of the plain targets, beside the training size\n",
                l.size.str().c_str(), l.windows, l.subset.size());
    std::printf("%-16s %10s %10s %10s %10s %10s\n", "descriptor", "R^2 large", "R^2 train", "MAE large", "MAE train",
                "MAE ratio");
    for (const auto& [name, r2] : l.fit.r2)
        std::printf("%-16s %10s %10s %10s %10s %10s\n", name.c_str(), ml3d::cell(r2).c_str(),
                    ml3d::cell(l.r2Training, name).c_str(), ml3d::cell(l.fit.mae, name).c_str(),
                    ml3d::cell(l.maeTraining, name).c_str(), ml3d::cell(l.maeRatio, name).c_str());
    std::printf("seams (donor S2, lags 1..%d along x/y): across borders vs inside windows RMS %s; between samples %s: %s\n",
                l.maxLag, ml3d::cell(l.seamDifference).c_str(), ml3d::cell(l.sampleSpread).c_str(),
                l.seamless ? "no seams" : "SEAMS");
    std::printf("seconds per voxel: large %.4g, training size %.4g (ratio %s)\n", l.secondsPerVoxel,
                l.trainingSecondsPerVoxel, ml3d::cell(l.costRatio).c_str());
}

void printMemorisation(const ml::MemorisationReport& m) {
    std::printf("memorisation: nearest of %zu training samples (voxel disagreement, best x/y shift and symmetry)\n",
                m.trainingCount);
    std::printf("%-10s %4s %8s %8s %8s %8s %8s  %s\n", "set", "n", "min", "q1", "median", "q3", "mean", "interface density");
    for (const auto& [set, label] : {std::pair<const ml::NearestSummary*, const char*>{&m.generated, "generated"},
                                     {&m.heldOut, "held-out"}})
        std::printf("%-10s %4zu %8.4f %8.4f %8.4f %8.4f %8.4f  %.4f\n", label, set->n, set->min, set->q1, set->median,
                    set->q3, set->mean, set->interfaceDensity);
    std::printf("training interface density %.4f; S2 (donor) RMS difference generated vs held-out %.4g\n",
                m.trainingInterfaceDensity, m.s2RmsDifference);
    std::printf("generated median >= held-out median: %s\n", m.generatedNotCloser ? "true" : "false");
}

void printReport(const ml::Evaluation3dReport& r, long batch) {
    printHeader(r, batch);
    if (r.screened) ml3d::printScreened(r);
    printParts(r);
    if (r.comparison) printComparison(r, batch);
    if (r.large) printLarge(*r.large);
    if (r.memorisation) printMemorisation(*r.memorisation);
}

void writeCsv(const ml::Evaluation3dReport& r, const std::string& path) {
    std::string text;
    for (const auto& row : r.csvRows()) text += row + "\n";
    ml3d::writeTextAtomically(path, text);
}

}  // namespace

int cmdEvaluate(const CommandArgs& argv) {
    Args args(argv, {"model", "data", "count", "steps", "eta", "guidance", "seed", "batch-sizes", "diversity", "batch",
                     "compare-steps", "compare-count", "min-phase-fraction", "threads", "csv", "candidates",
                     "ddpm-variance", "tolerance", "training", "training-count", "sampler", "compare-sampler",
                     "size", "size-count"},
              {"json", "cpu", "describe", "save", "round-trip-only"});
    if (args.helpRequested()) {
        std::cout << kHelp;
        return 0;
    }
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    if (auto t = args.value("threads")) {
        if (args.integer("threads", 0) < 1) throw Error("--threads must be >= 1");
        setenv("MICROSTUDIO_THREADS", t->c_str(), 1);  // read when the model picks its device
    }
    // Sampler names are refused before the model loads.
    (void)ml3d::parseSampler(args.value("sampler", "ddim"));
    if (auto s = args.value("compare-sampler")) (void)ml3d::parseSampler(*s, "--compare-sampler");
    const auto model = loadModel(args);
    const long count = args.integer("count", 16);
    if (count < 1 || count > 100000) throw Error("-n must be in 1..100000");
    auto options = evaluationOptions(args, count);
    options.data = heldOutPath(args, model);
    options.minPhaseFraction = minPhaseFraction(args, model);
    const auto heldOut = ml::selectSamples(io::readSamples(options.data), std::size_t(count), options.minPhaseFraction);
    if (heldOut.empty())
        throw Error("no samples in " + options.data + (options.minPhaseFraction > 0.0 ? " above --min-phase-fraction" : ""));
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
    const auto report = ml::evaluateGenerator3d(model, heldOut, options, &progress);
    bar.finish();
    if (auto csv = args.value("csv")) writeCsv(report, *csv);
    if (args.flag("save")) {
        const auto path = ml::evaluationPath(model.weightsPath());
        writeJsonFile(report.toJson(), path);
        std::fprintf(stderr, "wrote %s\n", path.string().c_str());
    }
    if (args.flag("json"))
        std::cout << jsonText(report.toJson()) << "\n";
    else
        printReport(report, options.sampler.batch);
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
