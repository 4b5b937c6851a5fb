#include "report3d.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "ml3d_common.hpp"  // parseSampler, defaultSteps
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"

namespace ms::cli::report3d {

namespace {

// The written files and sample 0's values.
void printWritten(const std::vector<Volume>& volumes, const ml::Generator3D& model,
                  const std::vector<std::filesystem::path>& written, const std::filesystem::path& csv) {
    std::cout << "wrote " << volumes.size() << " sample(s) to "
              << (written.size() == 1 ? written.front().string()
                                      : written.front().string() + " ... " + written.back().string())
              << " and " << csv.string() << "\n";
    const auto& first = volumes.front();
    for (const auto& name : model.config().conditions) {
        auto m = first.attributes.find(name);
        std::printf("  %-16s target %.4g, measured %s, predicted %.4g (sample 0)\n", name.c_str(),
                    first.attributes.at("target_" + name),
                    m == first.attributes.end() ? "-" : ml::csvNumber(m->second).c_str(),
                    first.attributes.at("predicted_" + name));
    }
    for (const auto& name : ml::processingOutputs())
        if (auto p = first.attributes.find("predicted_" + name); p != first.attributes.end())
            std::printf("  %-16s predicted %.4g (sample 0)\n", name.c_str(), p->second);
}

}  // namespace

// ---- options ------------------------------------------------------------------

ml::Generator3D loadGenerator(const Args& args) {
    if (auto m = args.value("model")) return ml::Generator3D::load(*m);
    try {
        return ml::Generator3D::load(kShippedGenerator);
    } catch (const Error& e) {
        throw Error(std::string("the shipped 2-phase 3D model '") + kShippedGenerator +
                    "' is not installed (expected resources/models/" + kShippedGenerator +
                    "/generator3d.pt in the model search path; train one with train3d or pass --model M): " + e.what());
    }
}

void declareSampler(Options& o, int ddimSteps, const std::string& candidatesHelp, const std::string& toleranceHelp) {
    o.section("Sampler:");
    o.text("sampler", "S",
           "ddim, dpmpp (DPM-Solver++(2M): deterministic, ~16 steps match DDIM-50) or ddpm (ancestral over all T "
           "steps)")
        .rule("ddim, dpmpp or ddpm", [](const std::string& text) { ml3d::parseSampler(text); })
        .def("ddim");
    o.integer("steps", "K", "solver steps (network calls); with ddim 0 = ancestral DDPM over all T steps (the paper)")
        .atLeast(0)
        .note("ddim: " + std::to_string(ddimSteps) + ", dpmpp: 16");
    o.number("eta", "X", "DDIM noise (0 deterministic; ddim only)").atLeast(0).def(0);
    o.text("ddpm-variance", "V", "for ancestral DDPM: step variance beta (the paper's) or posterior")
        .choices({"beta", "posterior"})
        .def("beta");
    o.number("guidance", "G", "classifier-free guidance scale (0 unconditional, 1 conditional, > 1 stronger)")
        .range(0, 100)
        .note("the model's, chosen on validation; 1 for models without that choice");
    o.integer("seed", "S", "random seed").atLeast(0).def(0);
    o.integer("batch", "B", "samples denoised together").atLeast(1).def(8);
    o.text("large-method", "M",
           "for --size larger than the training size: whole (the U-Net on the whole latent at once; chosen on "
           "validation) or windows (overlapping training-size windows blended every step, ~4.7x slower)")
        .choices({"whole", "windows"})
        .def("whole");
    o.integer("large-margin", "C", "with --large-method whole: latent cells wrapped around each x/y side")
        .range(0, 64)
        .def(0);
    o.integer("candidates", "K", candidatesHelp).range(1, 64).def(1);
    o.number("tolerance", "D", toleranceHelp).atLeast(0).def(0);
}

ml::GenerateOptions samplerSettings(const Args& args, int ddimSteps, double modelGuidance) {
    ml::GenerateOptions o;
    o.sampler = args.text("sampler");
    o.steps = int(args.integer("steps", ml3d::defaultSteps(o.sampler, ddimSteps)));
    o.eta = args.number("eta");
    o.posteriorVariance = args.text("ddpm-variance") == "posterior";
    o.guidance = args.number("guidance", modelGuidance);
    o.seed = std::uint64_t(args.integer("seed"));
    o.batch = int(args.integer("batch"));
    o.largeMethod = ml::parseLargeVolumeMethod(args.text("large-method"));
    o.wholeMargin = int(args.integer("large-margin"));
    o.candidates = int(args.integer("candidates"));
    o.tolerance = args.number("tolerance");
    return o;
}

std::vector<int> batchSizes(const std::string& text) {
    const auto sizes = positiveIntList(text, "batch-sizes");
    if (sizes.empty()) throw UsageError("--batch-sizes needs at least one size");
    for (int size : sizes)
        if (size > 1024)
            throw UsageError("--batch-sizes: '" + std::to_string(size) + "' is not a batch size in 1..1024");
    return sizes;
}

void declareBatchSizes(Options& o, const std::string& help, const std::string& defaultValue) {
    auto option =
        o.text("batch-sizes", "L", help).rule("comma-separated batch sizes in 1..1024", [](const std::string& text) {
            batchSizes(text);
        });
    if (!defaultValue.empty()) option.def(defaultValue);
}

// ---- reports ------------------------------------------------------------------

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
        const bool condition = std::find(c.conditions.begin(), c.conditions.end(), r.name) != c.conditions.end();
        std::printf("%-16s %10.4g %10.4g %10.4g %10.4g %s\n", r.name.c_str(), r.min, r.max, r.mean, r.std,
                    condition ? "condition" : "predicted");
    }
    const auto& cloud = model.trainingConditions();
    if (cloud.empty()) std::printf("feasibility: no training conditions stored (targets are not checked)\n");
    else
        std::printf(
            "feasibility: %zu training condition vectors, %.0fth-percentile nearest-neighbour distance %.4g"
            " (z-scored)\n",
            cloud.size(), cloud.percentile() * 100.0, cloud.threshold());
}

void printFeasibility(const ml::TargetFeasibility& feasibility, std::size_t targets) {
    for (std::size_t k = 0; k < feasibility.firstOutside.size() && k < 3; ++k) {
        const auto& [index, report] = feasibility.firstOutside[k];
        std::cerr << "warning: sample " << index << ": " << report.message() << "\n";
    }
    if (feasibility.outside > 1)
        std::cerr << "warning: " << feasibility.outside << " of " << targets
                  << " targets lie outside the training data\n";
}

void writeGenerated(const std::vector<Volume>& volumes, const ml::Generator3D& model,
                    const std::filesystem::path& out) {
    std::vector<std::filesystem::path> written;
    if (io::formatOf(out) == io::Format::Hdf5) {
        io::writeHdf5(volumes, out);
        written.push_back(out);
    } else if (volumes.size() == 1) {
        io::writeVolume(volumes.front(), out);
        written.push_back(out);
    } else {
        for (std::size_t i = 0; i < volumes.size(); ++i) {
            char suffix[32];
            std::snprintf(suffix, sizeof suffix, "_%06zu", i);
            written.push_back(out.parent_path() / (out.stem().string() + suffix + out.extension().string()));
            io::writeVolume(volumes[i], written.back());
        }
    }
    auto csv = out;
    csv.replace_extension(".csv");
    writeLinesAtomically(csv, ml::generatedCsvRows(volumes, model.config().conditions, model.config().outputs));
    printWritten(volumes, model, written, csv);
}

}  // namespace ms::cli::report3d
