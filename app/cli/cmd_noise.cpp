// microstudio-cli noise: the 2D paper's noise models (apply), paired
// clean/noisy datasets (dataset), denoiser benchmarks (eval) and a montage
// image of the corruptions (montage).
#ifdef MICROSTUDIO_HAVE_NOISE
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/noise/dataset.hpp"
#include "microstudio/noise/denoise.hpp"
#include "microstudio/noise/eval.hpp"
#include "microstudio/noise/montage.hpp"
#include "microstudio/noise/noise.hpp"
#include "microstudio/noise/synthetic.hpp"
#ifdef MICROSTUDIO_HAVE_ML
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/vae2d.hpp"
#endif

namespace ms::cli {

namespace {

const char* kParameterHelp =
    "Noise parameters (the paper's names, section III.A; defaults in brackets):\n"
    "  --flip-probability P   salt-pepper: Bernoulli flip probability [0.15]\n"
    "  --grid-amplitude A     grid: amplitude A_g (binary images change only for A > 0.5) [0.8]\n"
    "  --grid-frequency F     grid: periods across the image f_g [8]\n"
    "  --grid-rotation DEG    grid: rotation about the image centre, degrees [15]\n"
    "  --rings N              frequency: number of rings N_rings [8]\n"
    "  --mask-intensity I     frequency: ring value 1 - I, I in [0, 1] [0.8]\n"
    "  --mask-width W         frequency: normalised ring width w_fm [0.05]\n";

const std::set<std::string> kParameterOptions = {"flip-probability", "grid-amplitude", "grid-frequency",
                                                 "grid-rotation",    "rings",          "mask-intensity",
                                                 "mask-width"};

std::set<std::string> withParameters(std::set<std::string> options) {
    options.insert(kParameterOptions.begin(), kParameterOptions.end());
    return options;
}

std::vector<noise::NoiseType> parseTypes(const std::string& text) {
    std::vector<noise::NoiseType> types;
    for (const auto& name : splitList(text)) types.push_back(noise::parseNoiseType(name));
    if (types.empty()) throw Error("--type/--types needs at least one of salt-pepper, grid, frequency");
    return types;
}

std::uint64_t parseSeed(const Args& args, long fallback) {
    const long seed = args.integer("seed", fallback);
    if (seed < 0) throw Error("--seed must be >= 0");
    return std::uint64_t(seed);
}

// A model of `type` with the fixed parameter values given on the command line.
noise::NoiseModel modelFromArgs(const Args& args, noise::NoiseType type) {
    noise::NoiseModel m;
    m.type = type;
    m.flip_probability = args.number("flip-probability", m.flip_probability);
    m.grid_amplitude = args.number("grid-amplitude", m.grid_amplitude);
    m.grid_frequency = args.number("grid-frequency", m.grid_frequency);
    m.grid_rotation = args.number("grid-rotation", m.grid_rotation);
    m.rings = int(args.integer("rings", m.rings));
    m.mask_intensity = args.number("mask-intensity", m.mask_intensity);
    m.mask_width = args.number("mask-width", m.mask_width);
    m.validate();
    return m;
}

// Ranges "LO:HI" (or fixed values) of `type` from the command line.
noise::NoiseRanges rangesFromArgs(const Args& args, noise::NoiseType type) {
    auto r = noise::NoiseRanges::defaults(type);
    auto take = [&](const char* name, noise::ParamRange& range) {
        if (auto v = args.value(name)) range = noise::ParamRange::parse(*v, name);
    };
    take("flip-probability", r.flip_probability);
    take("grid-amplitude", r.grid_amplitude);
    take("grid-frequency", r.grid_frequency);
    take("grid-rotation", r.grid_rotation);
    take("rings", r.rings);
    take("mask-intensity", r.mask_intensity);
    take("mask-width", r.mask_width);
    // Validate both ends now rather than on some sample later.
    for (bool high : {false, true}) {
        noise::NoiseModel m;
        m.type = type;
        auto end = [high](const noise::ParamRange& p) { return high ? p.hi : p.lo; };
        m.flip_probability = end(r.flip_probability);
        m.grid_amplitude = end(r.grid_amplitude);
        m.grid_frequency = end(r.grid_frequency);
        m.grid_rotation = end(r.grid_rotation);
        m.rings = int(end(r.rings));
        m.mask_intensity = end(r.mask_intensity);
        m.mask_width = end(r.mask_width);
        m.validate();
    }
    return r;
}

int threadsFromArgs(const Args& args) {
    const long threads = args.integer("threads", 0);
    if (threads < 0 || threads > 1024) throw Error("--threads must be in 0..1024 (0 = every core)");
    return int(threads);
}

// The one place a learned denoiser joins `noise eval` (ml/ adds a
// FunctionDenoiser of kind Learned here, e.g. from a --model FILE option);
// noise/ itself never depends on torch.
// With ml/ built, the shipped denoising VAE (kind learned) joins by default
// when installed (an explicit --denoisers list takes it only when it names
// "learned"); --model M picks another, --no-learned leaves it out.
std::vector<std::shared_ptr<const noise::Denoiser>> learnedDenoisers(const Args& args) {
#ifdef MICROSTUDIO_HAVE_ML
    if (args.flag("no-learned")) return {};
    if (auto list = args.value("denoisers"); list && !args.has("model")) {
        const auto names = splitList(*list);
        if (std::find(names.begin(), names.end(), "learned") == names.end()) return {};
    }
    if (auto model = args.value("model")) {
        const auto path = ml::findModel(*model);
        return {ml::makeDenoiser(std::make_shared<ml::Vae2d>(ml::Vae2d::load(path)), path.stem().string())};
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

// Clean samples of the inputs; the noisy half of a paired dataset (text
// role = noisy) is left out, so a dataset file can be fed back in.
std::vector<Volume> readInputs(const std::vector<std::string>& inputs) {
    std::vector<Volume> samples;
    for (const auto& input : inputs)
        for (auto& v : io::readSamples(input)) {
            auto role = v.text.find("role");
            if (role == v.text.end() || role->second != "noisy") samples.push_back(std::move(v));
        }
    if (samples.empty()) throw Error("no clean samples in the inputs");
    return samples;
}

int noiseApply(const CommandArgs& argv) {
    Args args(argv, withParameters({"type", "seed", "sample"}), {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli noise apply --type salt-pepper|grid|frequency [PARAMETERS]\n"
                     "                                  [--seed S] [--sample N] IN OUT\n\n"
                     "Corrupts the two-phase image or volume IN with the paper's noise model and\n"
                     "writes OUT (any format). --type may list several models, applied in order\n"
                     "(\"salt-pepper,grid\"). The parameters are stored as attributes of OUT.\n"
                     "  --seed S     random seed (salt-pepper) [0]\n"
                     "  --sample N   which sample of a multi-sample .h5 IN [0]\n"
                  << kMaxVoxelsHelp << "\n"
                  << kParameterHelp;
        return 0;
    }
    args.requirePositionals(2, 2, "IN and OUT");
    if (!args.has("type")) throw Error("--type is required (salt-pepper, grid or frequency)");
    const std::string in = args.positionals()[0], out = args.positionals()[1];
    io::formatOf(out);
    noise::NoiseChain chain;
    for (auto type : parseTypes(*args.value("type"))) chain.push_back(modelFromArgs(args, type));
    const std::uint64_t seed = parseSeed(args, 0);
    const long index = args.integer("sample", 0);
    auto samples = io::readSamples(in);  // throws naming IN when it holds no sample
    if (index < 0 || index >= long(samples.size()))
        throw Error(in + ": --sample " + std::to_string(index) + " outside 0.." +
                    std::to_string(long(samples.size()) - 1) + " (the file holds " + std::to_string(samples.size()) +
                    " samples)");
    const Volume& clean = samples[std::size_t(index)];
    const Volume noisy = noise::applyNoise(clean, chain, seed);
    io::writeVolume(noisy, out);
    std::string names;
    for (const auto& m : chain) names += (names.empty() ? "" : " then ") + m.describe();
    std::cout << "wrote " << out << " (" << noisy.dims().str() << ", " << names << ", seed " << seed
              << ", pixel error " << noise::pixelErrorRate(clean, noisy) << ")\n";
    return 0;
}

int noiseDataset(const CommandArgs& argv) {
    Args args(argv, withParameters({"types", "variants", "seed", "output", "threads", "limit"}), {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli noise dataset [--types LIST] [--variants N] [PARAMETER RANGES]\n"
                     "                                    [--seed S] [--limit N] [--threads N] -o OUT.h5 INPUT...\n\n"
                     "Builds a paired clean/noisy dataset: every two-phase sample of the INPUT files\n"
                     "(or globs, e.g. 'data/part_*.h5') with N noisy variants per noise type. Each\n"
                     "parameter takes a value or a range LO:HI drawn uniformly per variant\n"
                     "(--rings draws integers). Samples are named p000000_clean and\n"
                     "p000000_<type>_<k>; noisy ones carry role, clean, noise, the parameters and\n"
                     "noise_seed (see docs/noise.md).\n"
                     "  --types LIST   comma-separated noise types [salt-pepper,grid,frequency]\n"
                     "  --variants N   noisy variants per sample and type [1]\n"
                     "  --seed S       base seed [0]\n"
                     "  --limit N      use only the first N input samples\n"
                     "  --threads N    worker threads, 0 = every core [0]\n\n"
                  << kParameterHelp;
        return 0;
    }
    if (!args.has("output")) throw Error("-o OUT.h5 is required");
    if (args.positionals().empty()) throw Error("give at least one INPUT file (see --help)");
    const std::string output = *args.value("output");
    if (io::formatOf(output) != io::Format::Hdf5) throw Error(output + ": the dataset is written as .h5");
    noise::PairedDatasetOptions options;
    for (auto type : parseTypes(args.value("types", "salt-pepper,grid,frequency")))
        options.noises.push_back(rangesFromArgs(args, type));
    const long variants = args.integer("variants", 1);
    if (variants < 1 || variants > 1000) throw Error("--variants must be in 1..1000");
    options.variants = int(variants);
    options.seed = parseSeed(args, 0);
    options.threads = threadsFromArgs(args);
    auto clean = readInputs(args.positionals());
    const long limit = args.integer("limit", 0);
    if (limit < 0) throw Error("--limit must be >= 0");
    if (limit > 0 && std::size_t(limit) < clean.size()) clean.resize(std::size_t(limit));
    ProgressBar bar("noise dataset");
    ProgressToken token;
    token.setListener([&bar](double f, const std::string& msg) { bar.update(f, msg); });
    const std::size_t noisy = noise::writePairedDataset(clean, options, output, &token);
    bar.finish();
    std::cout << "wrote " << output << " (" << clean.size() << " clean samples, " << noisy << " noisy)\n";
    return 0;
}

int noiseEval(const CommandArgs& argv) {
    Args args(argv, withParameters({"types", "denoisers", "seed", "synthetic", "size", "threads", "limit", "pairs", "model"}),
              {"json", "markdown", "no-descriptors", "no-learned"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli noise eval [--types LIST] [PARAMETERS] [--denoisers LIST]\n"
                     "                                 [--seed S] [--json|--markdown] [--no-descriptors]\n"
                     "                                 [--synthetic N --size PX] [--limit N] [INPUT...]\n"
                     "       microstudio-cli noise eval --pairs DATASET.h5 [--denoisers LIST] [--json|--markdown]\n\n"
                     "For every clean two-phase sample of the INPUT files (or, with none given, N\n"
                     "built-in synthetic bicontinuous PXxPX images) and every noise type, makes one\n"
                     "noisy image, applies every denoiser and prints the mean pixel error rate, IoU\n"
                     "per phase, |delta volume fraction| and |delta tortuosity| (GraSPI\n"
                     "CT_f_D_tort1 / CT_f_A_tort1, when the descriptors library is built).\n"
                     "  --types LIST       noise types [salt-pepper,grid,frequency]\n"
                     "  --denoisers LIST   from none, median3, median5, majority, open-close, learned [all]\n"
                     "  --seed S           seed of the noisy images [1]\n"
                     "  --synthetic N      number of synthetic samples when no INPUT [8]\n"
                     "  --size PX          size of the synthetic samples [101]\n"
                     "  --limit N          use only the first N input samples\n"
                     "  --pairs FILE       evaluate the stored noisy samples of a `noise dataset` file\n"
                     "                     against their clean partners instead of making new ones\n"
                     "  --json             a JSON list of objects (noise, denoiser, kind, pixel_error,\n"
                     "                     iou_D, iou_A, delta_vf, delta_tort_D, delta_tort_A, ...)\n"
                     "  --markdown         a Markdown table\n"
                     "  --no-descriptors   skip the tortuosity drift\n"
                     "  --model M          learned denoiser (name or .pt) [the shipped denoise-vae2d;\n"
                     "                     with --denoisers, only when the list names \"learned\"]\n"
                     "  --no-learned       leave the learned denoiser out\n\n"
                  << kParameterHelp;
        return 0;
    }
    if (args.flag("json") && args.flag("markdown")) throw Error("--json and --markdown exclude each other");
    noise::EvalOptions options;
    for (auto type : parseTypes(args.value("types", "salt-pepper,grid,frequency")))
        options.noises.push_back(modelFromArgs(args, type));
    if (auto list = args.value("denoisers")) {
        for (const auto& name : splitList(*list))
            if (name != "learned") options.denoisers.push_back(noise::denoiserByName(name));
    } else {
        options.denoisers = noise::standardDenoisers();
    }
    for (auto& learned : learnedDenoisers(args)) options.denoisers.push_back(std::move(learned));
    options.seed = parseSeed(args, 1);
    options.threads = threadsFromArgs(args);
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
        const long count = args.integer("synthetic", 8), size = args.integer("size", 101);
        if (count < 1 || count > 10000) throw Error("--synthetic must be in 1..10000");
        if (size < 8 || size > 4096) throw Error("--size must be in 8..4096");
        clean = noise::syntheticSet(int(count), int(size), 2026);
        source = std::to_string(count) + " synthetic " + std::to_string(size) + "x" + std::to_string(size) + " images";
    } else {
        clean = readInputs(args.positionals());
        source = std::to_string(clean.size()) + " samples";
    }
    const long limit = args.integer("limit", 0);
    if (limit < 0) throw Error("--limit must be >= 0");
    if (limit > 0 && std::size_t(limit) < clean.size()) {
        clean.resize(std::size_t(limit));
        source = std::to_string(clean.size()) + " samples";
    }
    if (limit > 0 && std::size_t(limit) < pairs.size()) pairs.resize(std::size_t(limit));

    ProgressBar bar("noise eval");
    ProgressToken token;
    token.setListener([&bar](double f, const std::string& msg) { bar.update(f, msg); });
    const auto rows = pairs.empty() ? noise::evaluate(clean, options, &token) : noise::evaluatePairs(pairs, options, &token);
    bar.finish();
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

int noiseMontage(const CommandArgs& argv) {
    Args args(argv, withParameters({"size", "scale", "seed", "denoiser"}), {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli noise montage [PARAMETERS] [--size PX] [--scale K] [--seed S]\n"
                     "                                    [--denoiser NAME] [IN] OUT.png\n\n"
                     "A PNG of the clean image (IN, or a synthetic PXxPX bicontinuous image) and the\n"
                     "three noise models side by side, scaled up K times; with --denoiser a second\n"
                     "row shows that denoiser's output under each noisy image.\n"
                     "  --size PX    synthetic image size [101]\n"
                     "  --scale K    integer zoom [3]\n"
                     "  --seed S     salt-pepper seed [0]\n\n"
                  << kParameterHelp;
        return 0;
    }
    args.requirePositionals(1, 2, "[IN] OUT.png");
    const std::string out = args.positionals().back();
    if (io::formatOf(out) != io::Format::Png) throw Error(out + ": the montage is written as .png");
    const long size = args.integer("size", 101), scale = args.integer("scale", 3);
    if (size < 8 || size > 4096) throw Error("--size must be in 8..4096");
    if (scale < 1 || scale > 16) throw Error("--scale must be in 1..16");
    const Volume clean = args.positionals().size() == 2 ? io::readVolume(args.positionals()[0])
                                                        : noise::syntheticMorphology(Dims{int(size), int(size), 1}, 2026);
    if (!clean.dims().is2D()) throw Error("montage needs a 2D image");
    const std::uint64_t seed = parseSeed(args, 0);
    std::vector<Volume> noisy;
    for (auto type : noise::allNoiseTypes()) noisy.push_back(noise::applyNoise(clean, modelFromArgs(args, type), seed));
    std::vector<Volume> tiles{clean};
    tiles.insert(tiles.end(), noisy.begin(), noisy.end());
    if (auto name = args.value("denoiser")) {
        const auto denoiser = noise::denoiserByName(*name);
        tiles.push_back(clean);
        for (const auto& n : noisy) tiles.push_back(denoiser->denoise(n));
    }
    io::writeVolume(noise::montage(tiles, 4, int(scale), 4), out);
    std::cout << "wrote " << out << " (clean";
    for (const auto& n : noisy) std::cout << ", " << n.text.at("noise");
    std::cout << (args.has("denoiser") ? "; second row " + *args.value("denoiser") : std::string()) << ")\n";
    return 0;
}

template <class F>
double bestMilliseconds(int repeats, F&& work) {
    double best = 1e300;
    for (int r = 0; r < repeats; ++r) {
        const auto start = std::chrono::steady_clock::now();
        work();
        best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
}

}  // namespace

int benchNoise(const CommandArgs& argv) {
    Args args(argv, {"repeats"}, {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli bench noise [--repeats N]\n\n"
                     "Best-of-N time of each noise model and classical denoiser on a 101x101 image\n"
                     "and a 128x128x64 volume (one thread), and paired-dataset throughput for 64\n"
                     "101x101 images x 3 noise types on one thread and on every core.\n";
        return 0;
    }
    const long repeats = args.integer("repeats", 5);
    if (repeats < 1 || repeats > 1000) throw Error("--repeats must be in 1..1000");
    const std::vector<Volume> volumes = {noise::syntheticMorphology(Dims{101, 101, 1}, 1),
                                         noise::syntheticMorphology(Dims{128, 128, 64}, 1)};
    std::printf("%-22s %12s %14s %10s\n", "step", "101x101 ms", "128x128x64 ms", "ns/voxel 3D");
    for (auto type : noise::allNoiseTypes()) {
        noise::NoiseModel model;
        model.type = type;
        double ms[2];
        for (int v = 0; v < 2; ++v)
            ms[v] = bestMilliseconds(int(repeats), [&] { noise::applyNoise(volumes[std::size_t(v)], model, 3); });
        std::printf("%-22s %12.3f %14.1f %10.1f\n", (std::string("noise ") + noise::noiseTypeName(type)).c_str(), ms[0],
                    ms[1], ms[1] * 1e6 / double(volumes[1].size()));
    }
    for (const auto& denoiser : noise::standardDenoisers()) {
        if (denoiser->kind() == noise::DenoiserKind::None) continue;
        double ms[2];
        for (int v = 0; v < 2; ++v) {
            const Volume noisy = noise::addSaltPepper(volumes[std::size_t(v)], 0.15, 3);
            ms[v] = bestMilliseconds(int(repeats), [&] { denoiser->denoise(noisy); });
        }
        std::printf("%-22s %12.3f %14.1f %10.1f\n", ("denoise " + denoiser->name()).c_str(), ms[0], ms[1],
                    ms[1] * 1e6 / double(volumes[1].size()));
    }
    const auto clean = noise::syntheticSet(64, 101, 5);
    noise::PairedDatasetOptions options;
    for (auto type : noise::allNoiseTypes()) options.noises.push_back(noise::NoiseRanges::defaults(type));
    double ms[2];
    for (int t = 0; t < 2; ++t) {
        options.threads = t == 0 ? 1 : 0;
        ms[t] = bestMilliseconds(int(repeats), [&] { noise::makePairs(clean, options); });
    }
    std::printf("paired dataset, 64 x 3 noisy 101x101: %.1f ms on 1 thread (%.0f pairs/s), %.1f ms on %d threads "
                "(%.0f pairs/s), speed-up %.2fx\n",
                ms[0], 192e3 / ms[0], ms[1], defaultThreadCount(), 192e3 / ms[1], ms[0] / ms[1]);
    return 0;
}

int cmdNoise(const CommandArgs& argv) {
    static const char* usage =
        "Usage: microstudio-cli noise apply|dataset|eval|montage [OPTIONS] ...\n\n"
        "  apply     corrupt an image with salt-pepper, grid or frequency noise\n"
        "  dataset   paired clean/noisy .h5 dataset, parameters drawn from ranges\n"
        "  eval      metrics table of denoisers per noise type\n"
        "  montage   PNG of a clean image and the three noise models\n\n"
        "The models follow section III.A of the 2D denoising paper; see docs/noise.md.\n"
        "'microstudio-cli noise SUBCOMMAND --help' shows each one's options.\n";
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
        std::cout << usage;
        return argv.empty() ? 2 : 0;
    }
    const CommandArgs rest(argv.begin() + 1, argv.end());
    if (argv[0] == "apply") return noiseApply(rest);
    if (argv[0] == "dataset") return noiseDataset(rest);
    if (argv[0] == "eval") return noiseEval(rest);
    if (argv[0] == "montage") return noiseMontage(rest);
    throw Error("unknown noise subcommand '" + argv[0] + "' (use apply, dataset, eval or montage)");
}

}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_NOISE
