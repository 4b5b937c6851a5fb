// microstudio-cli noise: the 2D paper's noise models (apply), paired
// clean/noisy datasets (dataset) and a montage image of the corruptions
// (montage); denoiser benchmarks (eval) are in cmd_noise_eval.cpp.
#ifdef MICROSTUDIO_HAVE_NOISE
#include <algorithm>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "subcommands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/noise/dataset.hpp"
#include "microstudio/noise/eval.hpp"
#include "microstudio/noise/denoise.hpp"
#include "microstudio/noise/montage.hpp"
#include "microstudio/noise/noise.hpp"
#include "microstudio/noise/synthetic.hpp"

namespace ms::cli {

namespace {

// The paper's noise parameters (section III.A) as options; `field` is the
// NoiseModel value it sets (null: rings, the one integer).
struct NoiseParameter {
    const char* name;
    const char* placeholder;
    const char* help;
    double noise::NoiseModel::*field;
};
const NoiseParameter kNoiseParameters[] = {
    {"flip-probability", "P", "salt-pepper: Bernoulli flip probability", &noise::NoiseModel::flip_probability},
    {"grid-amplitude", "A", "grid: amplitude A_g (binary images change only for A > 0.5)",
     &noise::NoiseModel::grid_amplitude},
    {"grid-frequency", "F", "grid: periods across the image f_g", &noise::NoiseModel::grid_frequency},
    {"grid-rotation", "DEG", "grid: rotation about the image centre, degrees", &noise::NoiseModel::grid_rotation},
    {"rings", "N", "frequency: number of rings N_rings", nullptr},
    {"mask-intensity", "I", "frequency: ring value 1 - I, I in [0, 1]", &noise::NoiseModel::mask_intensity},
    {"mask-width", "W", "frequency: normalised ring width w_fm", &noise::NoiseModel::mask_width},
};

}  // namespace

// The library's defaults shown; bound to `values`, or without them (for
// `dataset`) a value or a range LO:HI each (noise/ checks them, naming the
// parameter).
void declareNoiseOptions(Options& declared, noise::NoiseModel* values) {
    const noise::NoiseModel defaults;
    declared.section("Noise parameters (the paper's names, section III.A; defaults in brackets):");
    for (const auto& p : kNoiseParameters) {
        const double value = p.field ? defaults.*p.field : double(defaults.rings);
        if (!values) declared.text(p.name, p.placeholder, p.help).def(value);
        else if (p.field) declared.number(p.name, p.placeholder, p.help).to(values->*p.field);
        else declared.integer(p.name, p.placeholder, p.help).to(values->rings);
    }
}

std::vector<noise::NoiseType> parseNoiseTypes(const std::string& text) {
    std::vector<noise::NoiseType> types;
    for (const auto& name : splitList(text)) types.push_back(noise::parseNoiseType(name));
    if (types.empty()) throw Error("--type/--types needs at least one of salt-pepper, grid, frequency");
    return types;
}

noise::NoiseModel ofType(noise::NoiseModel values, noise::NoiseType type) {
    values.type = type;
    values.validate();
    return values;
}

namespace {

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
    r.validate();  // both ends now rather than on some sample later
    return r;
}

}  // namespace

// Clean samples of the inputs; the noisy half of a paired dataset (text
// role = noisy) is left out, so a dataset file can be fed back in.
std::vector<Volume> readCleanInputs(const std::vector<std::string>& inputs) {
    std::vector<Volume> samples;
    for (const auto& input : inputs)
        for (auto& v : io::readSamples(input)) {
            auto role = v.text.find("role");
            if (role == v.text.end() || role->second != "noisy") samples.push_back(std::move(v));
        }
    if (samples.empty()) throw Error("no clean samples in the inputs");
    return samples;
}

namespace {

int noiseApply(const CommandArgs& argv) {
    Options declared("noise apply --type salt-pepper|grid|frequency [PARAMETERS] [--seed S] [--sample N] IN OUT",
                     "Corrupts the two-phase image or volume IN with the paper's noise model and writes OUT (any "
                     "format). --type may list several models, applied in order (\"salt-pepper,grid\"). The "
                     "parameters are stored as attributes of OUT.");
    declared.text("type", "LIST", "salt-pepper, grid or frequency, or a list of them applied in order (required)");
    declared.integer("seed", "S", "random seed (salt-pepper)").atLeast(0).def(0);
    declared.integer("sample", "N", "which sample of a multi-sample .h5 IN").atLeast(0).def(0);
    noise::NoiseModel values;
    declareNoiseOptions(declared, &values);
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(2, 2, "IN and OUT");
    if (!args.has("type")) throw Error("--type is required (salt-pepper, grid or frequency)");
    const std::string in = args.positionals()[0], out = args.positionals()[1];
    io::formatOf(out);
    noise::NoiseChain chain;
    for (auto type : parseNoiseTypes(*args.value("type"))) chain.push_back(ofType(values, type));
    const std::uint64_t seed = std::uint64_t(args.integer("seed"));
    const long index = args.integer("sample");
    auto samples = io::readSamples(in);  // throws naming IN when it holds no sample
    if (index >= long(samples.size()))
        throw Error(in + ": --sample " + std::to_string(index) + " outside 0.." +
                    std::to_string(long(samples.size()) - 1) + " (the file holds " + std::to_string(samples.size()) +
                    " samples)");
    const Volume& clean = samples[std::size_t(index)];
    const Volume noisy = noise::applyNoise(clean, chain, seed);
    io::writeVolume(noisy, out);
    std::string names;
    for (const auto& m : chain) names += (names.empty() ? "" : " then ") + m.describe();
    std::cout << "wrote " << out << " (" << noisy.dims().str() << ", " << names << ", seed " << seed << ", pixel error "
              << noise::pixelErrorRate(clean, noisy) << ")\n";
    return 0;
}

int noiseDataset(const CommandArgs& argv) {
    Options declared(
        "noise dataset [--types LIST] [--variants N] [PARAMETER RANGES] [--seed S] [--limit N] "
        "[--threads N] -o OUT.h5 INPUT...",
        "Builds a paired clean/noisy dataset: every two-phase sample of the INPUT files (or globs, e.g. "
        "'data/part_*.h5') with N noisy variants per noise type. Each parameter takes a value or a range "
        "LO:HI drawn uniformly per variant (--rings draws integers). Samples are named p000000_clean and "
        "p000000_<type>_<k>; noisy ones carry role, clean, noise, the parameters and noise_seed (see "
        "docs/noise.md).");
    declared.text("types", "LIST", "comma-separated noise types").def("salt-pepper,grid,frequency");
    declared.integer("variants", "N", "noisy variants per sample and type").range(1, 1000).def(1);
    declared.integer("seed", "S", "base seed").atLeast(0).def(0);
    declared.integer("limit", "N", "use only the first N input samples (0: all)").atLeast(0).def(0);
    declared.threads("worker threads, 0 = every core", 1024);
    declared.text("output", "OUT.h5", "the dataset (required)").shortName('o');
    declareNoiseOptions(declared, nullptr);
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    if (!args.has("output")) throw Error("-o OUT.h5 is required");
    if (args.positionals().empty()) throw Error("give at least one INPUT file (see --help)");
    const std::string output = *args.value("output");
    if (io::formatOf(output) != io::Format::Hdf5) throw Error(output + ": the dataset is written as .h5");
    noise::PairedDatasetOptions options;
    for (auto type : parseNoiseTypes(args.text("types"))) options.noises.push_back(rangesFromArgs(args, type));
    options.variants = int(args.integer("variants"));
    options.seed = std::uint64_t(args.integer("seed"));
    options.threads = int(args.integer("threads"));
    auto clean = readCleanInputs(args.positionals());
    const long limit = args.integer("limit");
    if (limit > 0 && std::size_t(limit) < clean.size()) clean.resize(std::size_t(limit));
    const std::size_t noisy = withProgressBar(
        "noise dataset", false, [&](ProgressToken* t) { return noise::writePairedDataset(clean, options, output, t); });
    std::cout << "wrote " << output << " (" << clean.size() << " clean samples, " << noisy << " noisy)\n";
    return 0;
}

int noiseMontage(const CommandArgs& argv) {
    Options declared("noise montage [PARAMETERS] [--size PX] [--scale K] [--seed S] [--denoiser NAME] [IN] OUT.png",
                     "A PNG of the clean image (IN, or a synthetic PXxPX bicontinuous image) and the three noise "
                     "models side by side, scaled up K times; with --denoiser a second row shows that denoiser's "
                     "output under each noisy image.");
    declared.integer("size", "PX", "synthetic image size").range(8, 4096).def(101);
    declared.integer("scale", "K", "integer zoom").range(1, 16).def(3);
    declared.integer("seed", "S", "salt-pepper seed").atLeast(0).def(0);
    declared.text("denoiser", "NAME", "a second row: this denoiser's output under each noisy image");
    noise::NoiseModel values;
    declareNoiseOptions(declared, &values);
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(1, 2, "[IN] OUT.png");
    const std::string out = args.positionals().back();
    if (io::formatOf(out) != io::Format::Png) throw Error(out + ": the montage is written as .png");
    const long size = args.integer("size"), scale = args.integer("scale");
    const Volume clean = args.positionals().size() == 2
                             ? io::readVolume(args.positionals()[0])
                             : noise::syntheticMorphology(Dims{int(size), int(size), 1}, 2026);
    if (!clean.dims().is2D()) throw Error("montage needs a 2D image");
    const std::uint64_t seed = std::uint64_t(args.integer("seed"));
    std::vector<Volume> noisy;
    for (auto type : noise::allNoiseTypes()) noisy.push_back(noise::applyNoise(clean, ofType(values, type), seed));
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

}  // namespace

int cmdNoise(const CommandArgs& argv) {
    static const SubcommandSet subcommands{
        "noise",
        "noise subcommand",
        {"noise apply|dataset|eval|montage [OPTIONS] ..."},
        "",
        {{"apply", "corrupt an image with salt-pepper, grid or frequency noise", noiseApply},
         {"dataset", "paired clean/noisy .h5 dataset, parameters drawn from ranges", noiseDataset},
         {"eval", "metrics table of denoisers per noise type", noiseEval},
         {"montage", "PNG of a clean image and the three noise models", noiseMontage}},
        "The models follow section III.A of the 2D denoising paper; see docs/noise.md. 'microstudio-cli noise "
        "SUBCOMMAND --help' shows each one's options.",
    };
    return subcommands.run(argv);
}

}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_NOISE
