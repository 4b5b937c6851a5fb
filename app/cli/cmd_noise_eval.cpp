// microstudio-cli noise eval: metrics of every denoiser (the learned one
// included when ml/ is built) per noise type.
#ifdef MICROSTUDIO_HAVE_NOISE
#include <algorithm>
#include <iostream>
#include <memory>

#include "args.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/noise/dataset.hpp"
#include "microstudio/noise/denoise.hpp"
#include "microstudio/noise/eval.hpp"
#include "microstudio/noise/noise.hpp"
#include "microstudio/noise/synthetic.hpp"
#include "options.hpp"
#include "subcommands.hpp"
#ifdef MICROSTUDIO_HAVE_ML
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/vae2d.hpp"
#endif

namespace ms::cli {

namespace {

// The one place a learned denoiser joins `noise eval` (ml/ adds a
// FunctionDenoiser of kind Learned here, e.g. from a --model FILE option);
// noise/ itself never depends on torch.
// With ml/ built, the shipped denoising VAE (kind learned) joins by default
// when installed (an explicit --denoisers list takes it only when it names
// "learned"); --model A,B picks others (each its own row), --no-learned
// leaves it out.
std::vector<std::shared_ptr<const noise::Denoiser>> learnedDenoisers(const Args& args) {
#ifdef MICROSTUDIO_HAVE_ML
    if (args.flag("no-learned")) return {};
    if (auto list = args.value("denoisers"); list && !args.has("model")) {
        const auto names = splitList(*list);
        if (std::find(names.begin(), names.end(), "learned") == names.end()) return {};
    }
    if (auto models = args.value("model")) {  // side by side on the same noisy images
        std::vector<std::shared_ptr<const noise::Denoiser>> learned;
        for (const auto& model : splitList(*models)) {
            const auto path = ml::findModel(model);
            learned.push_back(
                ml::makeDenoiser(std::make_shared<ml::Vae2d>(ml::Vae2d::load(path)), path.stem().string()));
        }
        return learned;
    }
    try {
        return {ml::defaultDenoiser()};
    } catch (const Error&) {
        return {};  // none installed: the classical rows only
    }
#else
    (void)args;
    return {};
#endif
}

}  // namespace

int noiseEval(const CommandArgs& argv) {
    Options declared(
        "noise eval [--types LIST] [PARAMETERS] [--denoisers LIST] [--seed S] [--json|--markdown] "
        "[--no-descriptors] [--synthetic N --size PX] [--limit N] [INPUT...]",
        "For every clean two-phase sample of the INPUT files (or, with none given, N built-in synthetic "
        "bicontinuous PXxPX images) and every noise type, makes one noisy image, applies every denoiser "
        "and prints the mean pixel error rate, IoU per phase, |delta volume fraction| and |delta "
        "tortuosity| (GraSPI CT_f_D_tort1 / CT_f_A_tort1, when the descriptors library is built).");
    declared.alsoUsage("noise eval --pairs DATASET.h5 [--denoisers LIST] [--json|--markdown]");
    declared.text("types", "LIST", "noise types").def("salt-pepper,grid,frequency");
    declared.text("denoisers", "LIST", "from none, median3, median5, majority, open-close, learned").note("all");
    declared.integer("seed", "S", "seed of the noisy images").atLeast(0).def(1);
    declared.integer("synthetic", "N", "number of synthetic samples when no INPUT").range(1, 10000).def(8);
    declared.integer("size", "PX", "size of the synthetic samples").range(8, 4096).def(101);
    declared.integer("limit", "N", "use only the first N input samples (0: all)").atLeast(0).def(0);
    declared.text("pairs", "FILE",
                  "evaluate the stored noisy samples of a `noise dataset` file against their clean partners instead "
                  "of making new ones");
    declared.flag("json",
                  "a JSON list of objects (noise, denoiser, kind, pixel_error, iou_D, iou_A, delta_vf, "
                  "delta_tort_D, delta_tort_A, ...)");
    declared.flag("markdown", "a Markdown table");
    declared.flag("no-descriptors", "skip the tortuosity drift");
    declared
        .text("model", "LIST",
              "learned denoisers (names or .pt files, comma-separated: each a row, on the same noisy images); with "
              "--denoisers, only when the list names \"learned\"")
        .note("the shipped denoise-vae2d");
    declared.flag("no-learned", "leave the learned denoiser out");
    declared.threads("worker threads, 0 = every core", 1024);
    noise::NoiseModel values;
    declareNoiseOptions(declared, &values);
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    if (args.flag("json") && args.flag("markdown")) throw Error("--json and --markdown exclude each other");
    noise::EvalOptions options;
    for (auto type : parseNoiseTypes(args.text("types"))) options.noises.push_back(ofType(values, type));
    if (auto list = args.value("denoisers")) {
        for (const auto& name : splitList(*list))
            if (name != "learned") options.denoisers.push_back(noise::denoiserByName(name));
    } else {
        options.denoisers = noise::standardDenoisers();
    }
    for (auto& learned : learnedDenoisers(args)) options.denoisers.push_back(std::move(learned));
    options.seed = std::uint64_t(args.integer("seed"));
    options.threads = int(args.integer("threads"));
    if (!args.flag("no-descriptors")) options.descriptors = noise::defaultDescriptorFunction();

    std::vector<Volume> clean;
    std::vector<noise::NoisyPair> pairs;
    std::string source;
    if (auto pairsFile = args.value("pairs")) {
        if (!args.positionals().empty()) throw Error("--pairs takes no INPUT files");
        pairs = noise::readPairedDataset(*pairsFile);
        std::size_t noisyCount = 0;
        for (const auto& p : pairs) noisyCount += p.noisy.size();
        source = std::to_string(pairs.size()) + " stored pairs (" + std::to_string(noisyCount) + " noisy samples) of " +
                 *pairsFile;
    } else if (args.positionals().empty()) {
        const long count = args.integer("synthetic"), size = args.integer("size");
        clean = noise::syntheticSet(int(count), int(size), 2026);
        source = std::to_string(count) + " synthetic " + std::to_string(size) + "x" + std::to_string(size) + " images";
    } else {
        clean = readCleanInputs(args.positionals());
        source = std::to_string(clean.size()) + " samples";
    }
    const long limit = args.integer("limit");
    if (limit > 0 && std::size_t(limit) < clean.size()) {
        clean.resize(std::size_t(limit));
        source = std::to_string(clean.size()) + " samples";
    }
    if (limit > 0 && std::size_t(limit) < pairs.size()) pairs.resize(std::size_t(limit));

    const auto rows = withProgressBar("noise eval", false, [&](ProgressToken* t) {
        return pairs.empty() ? noise::evaluate(clean, options, t) : noise::evaluatePairs(pairs, options, t);
    });
    if (args.flag("json")) {
        std::cout << noise::formatJson(rows);
        return 0;
    }
    std::cout << "noise eval: " << source;
    if (pairs.empty()) {
        std::cout << ", seed " << options.seed << "\n";
        for (const auto& m : options.noises) std::cout << "  " << m.describe() << "\n";
    } else {
        std::cout << "\n";
    }
    std::cout << (args.flag("markdown") ? noise::formatMarkdown(rows) : noise::formatTable(rows));
    return 0;
}

}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_NOISE
