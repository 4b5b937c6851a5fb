#include "report3d.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "ml3d_common.hpp"  // parseSampler, defaultSteps
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"

namespace ms::cli::report3d {

namespace {

// A table cell: %.4f (or `format`), "-" for NaN or a missing name.
std::string cell(double value, const char* format = "%.4f") {
    if (!std::isfinite(value)) return "-";
    char text[32];
    std::snprintf(text, sizeof text, format, value);
    return text;
}

std::string cell(const ml::NamedValues& values, const std::string& name, const char* format = "%.4f") {
    const auto it = values.find(name);
    return cell(it != values.end() ? it->second : std::nan(""), format);
}

// Target vs measured of one generation pass, per condition; `spread` adds
// a column (diversity: std at the fixed target).
void printFit(const ml::TargetFit& fit, const std::vector<std::string>& conditions,
              const ml::NamedValues* spread = nullptr) {
    std::printf("%-16s %10s %10s %10s %9s%s\n", "descriptor", "R^2", "R^2 det.", "MAE", "described",
                spread ? "   std at one target" : "");
    for (const auto& name : conditions)
        std::printf("%-16s %10s %10s %10s %9s%s\n", name.c_str(), cell(fit.r2, name).c_str(),
                    cell(fit.determination, name).c_str(), cell(fit.mae, name).c_str(),
                    cell(fit.described, name, "%.0f").c_str(), spread ? ("   " + cell(*spread, name)).c_str() : "");
}

// The screened pass, apart from the plain figures and labelled as a search.
void printScreened(const ml::Evaluation3dReport& r) {
    const auto& s = *r.screened;
    std::printf(
        "Screened generation (%d draws per target, best measured kept): a search over draws, not the "
        "model's figure\n",
        s.candidates);
    if (s.tolerance > 0.0) std::printf("draws stop within distance %g\n", s.tolerance);
    std::printf("%.3g draws per sample on average, %.4g s per sample\n", s.fit.drawsPerSample(),
                s.fit.secondsPerSample);
    printFit(s.fit, r.conditions);
}

// The feature predictor on the held-out latents, per output in the data.
void printFeaturePredictor(const ml::Evaluation3dReport& r) {
    std::printf("%-16s %10s %10s   (feature predictor on held-out latents)\n", "output", "R^2", "MAE");
    for (const auto& name : r.outputs)
        if (r.fpR2.count(name))
            std::printf("%-16s %10s %10s\n", name.c_str(), cell(r.fpR2, name).c_str(),
                        cell(r.fpMae, name, "%.4g").c_str());
}

void printParts(const ml::Evaluation3dReport& r) {
    if (const auto& rt = r.reconstruction) {
        std::printf("VAE round trip of the held-out samples: voxel accuracy %.4f; R^2", rt->voxelAccuracy);
        for (const auto& name : r.conditions) std::printf(" %s %s", name.c_str(), cell(rt->r2, name).c_str());
        std::printf("\n");
    }
    if (const auto& d = r.diversity)
        std::printf("mean voxel disagreement between %d samples at one target: %s\n", d->samples,
                    cell(d->meanVoxelDisagreement).c_str());
    printFeaturePredictor(r);
    if (r.timing.empty()) return;
    std::printf("%-8s %14s %14s   (seconds per sample)\n", "batch", "denoise", "decode");
    for (const auto& row : r.timing)
        std::printf("%-8d %14.4g %14.4g\n", row.batch, row.denoiseSecondsPerSample, row.decodeSecondsPerSample);
}

void printComparison(const ml::Evaluation3dReport& r, int batch) {
    const auto& c = *r.comparison;
    std::printf("comparison on %zu of the plain targets: %s (other) vs %s (main) (batch %d)\n", c.subset.size(),
                c.label.c_str(), r.samplerLabel.c_str(), batch);
    std::printf("%-16s %10s %10s %10s  %s\n", "descriptor", "R^2 main", "R^2 other", "main-other",
                "95% interval (paired bootstrap over targets)");
    for (const auto& name : r.conditions) {
        const auto& range = c.r2DifferenceCi95.at(name);
        char text[64] = "-";
        if (range.size() == 2) std::snprintf(text, sizeof text, "[%.3f, %.3f]", range[0], range[1]);
        std::printf("%-16s %10s %10s %10s  %s\n", name.c_str(), cell(c.r2Main, name).c_str(), cell(c.r2, name).c_str(),
                    cell(c.r2Difference, name).c_str(), text);
    }
    std::printf("seconds per sample: main %.4g, other %.4g (speed-up main / other = %s)\n", c.mainSecondsPerSample,
                c.secondsPerSample, cell(c.speedup).c_str());
}

void printLarge(const ml::LargeVolumeReport& l) {
    const std::string how = l.method == ml::LargeVolumeMethod::Whole
                                ? "the whole latent at once"
                                : std::to_string(l.windows) + " latent windows each";
    std::printf("larger volumes %s (%s) on %zu of the plain targets, beside the training size\n", l.size.str().c_str(),
                how.c_str(), l.subset.size());
    std::printf("%-16s %10s %10s %10s %10s %10s\n", "descriptor", "R^2 large", "R^2 train", "MAE large", "MAE train",
                "MAE ratio");
    for (const auto& [name, r2] : l.fit.r2)
        std::printf("%-16s %10s %10s %10s %10s %10s\n", name.c_str(), cell(r2).c_str(),
                    cell(l.r2Training, name).c_str(), cell(l.fit.mae, name).c_str(), cell(l.maeTraining, name).c_str(),
                    cell(l.maeRatio, name).c_str());
    std::printf(
        "seams (donor S2, lags 1..%d along x/y): across borders vs inside windows RMS %s; between samples %s: %s\n",
        l.maxLag, cell(l.seamDifference).c_str(), cell(l.sampleSpread).c_str(), l.seamless ? "no seams" : "SEAMS");
    std::printf("seconds per voxel: large %.4g, training size %.4g (ratio %s)\n", l.secondsPerVoxel,
                l.trainingSecondsPerVoxel, cell(l.costRatio).c_str());
}

void printMemorisation(const ml::MemorisationReport& m) {
    std::printf("memorisation: nearest of %zu training samples (voxel disagreement, best x/y shift and symmetry)\n",
                m.trainingCount);
    std::printf("%-10s %4s %8s %8s %8s %8s %8s  %s\n", "set", "n", "min", "q1", "median", "q3", "mean",
                "interface density");
    for (const auto& [set, label] :
         {std::pair<const ml::NearestSummary*, const char*>{&m.generated, "generated"}, {&m.heldOut, "held-out"}})
        std::printf("%-10s %4zu %8.4f %8.4f %8.4f %8.4f %8.4f  %.4f\n", label, set->n, set->min, set->q1, set->median,
                    set->q3, set->mean, set->interfaceDensity);
    std::printf("training interface density %.4f; S2 (donor) RMS difference generated vs held-out %.4g\n",
                m.trainingInterfaceDensity, m.s2RmsDifference);
    std::printf("generated median >= held-out median: %s\n", m.generatedNotCloser ? "true" : "false");
}

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

void printEvaluation(const ml::Evaluation3dReport& r, int batch) {
    std::printf("evaluate %s on %zu held-out samples of %s (split %s; %s, batch %d, guidance %g, %s)\n",
                r.model.c_str(), r.n, r.data.c_str(), r.split.c_str(), r.samplerLabel.c_str(), batch, r.guidance,
                r.device.c_str());
    std::printf("plain sampling (one draw per target): target vs measured\n");
    printFit(r.plain, r.conditions, r.diversity ? &r.diversity->std : nullptr);
    if (r.screened) printScreened(r);
    printParts(r);
    if (r.comparison) printComparison(r, batch);
    if (r.large) printLarge(*r.large);
    if (r.memorisation) printMemorisation(*r.memorisation);
}

void printHeldOutCheck(const ml::Evaluation3dReport& r, const std::string& path) {
    std::printf("evaluate: %zu held-out samples from %s (split %s); sampler %s, guidance %g\n", r.n, path.c_str(),
                r.split.c_str(), r.samplerLabel.c_str(), r.guidance);
    printFeaturePredictor(r);
    std::printf("descriptors of generated volumes vs their targets (plain sampling, one draw per target)\n");
    printFit(r.plain, r.conditions);
    if (r.screened) printScreened(r);
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
    writeLines(csv, ml::generatedCsvRows(volumes, model.config()));
    printWritten(volumes, model, written, csv);
}

void writeLines(const std::filesystem::path& path, const std::vector<std::string>& lines) {
    writeAtomically(path, [&](const std::filesystem::path& temp) {
        std::ofstream file(temp, std::ios::binary);
        for (const auto& line : lines) file << line << "\n";
        if (!file.flush()) throw Error("cannot write " + temp.string());
    });
}

}  // namespace ms::cli::report3d
