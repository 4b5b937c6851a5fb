// microstudio-cli evaluate: how well a 3D generator (MicroGen3D) hits its
// targets on held-out data, how diverse its samples are, how well its
// feature predictor reads processing parameters, and what a sample costs.
#ifdef MICROSTUDIO_HAVE_ML
#include <cmath>
#include <numeric>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "ml3d_common.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/json.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/descriptors/similarity.hpp"
#endif

namespace ms::cli {

namespace {

// The shipped 2-phase 3D model (resources/models/gen3d-ch2/generator3d.{pt,json}).
constexpr const char* defaultGenerator = "gen3d-ch2";

ml::Json numberOrNull(double v) { return std::isfinite(v) ? ml::Json(v) : ml::Json(nullptr); }

std::vector<long> parseBatchSizes(const std::string& text) {
    std::vector<long> sizes;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        const double v = ml3d::parseNumber(item, "--batch-sizes");
        if (v < 1 || v > 1024 || v != std::floor(v)) throw Error("--batch-sizes: '" + item + "' is not a batch size in 1..1024");
        sizes.push_back(long(v));
    }
    if (sizes.empty()) throw Error("--batch-sizes needs at least one size");
    return sizes;
}

// Descriptor values (conditions) of generated volumes; NaN where not computed.
std::vector<std::map<std::string, double>> measure(const std::vector<Volume>& volumes, const ml::Generator3D& model) {
    std::vector<std::map<std::string, double>> out(volumes.size());
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    descriptors::Options d;
    d.phases = model.config().vae.phases;
    const auto results = descriptors::describeBatch(volumes, d);
    for (std::size_t i = 0; i < volumes.size(); ++i)
        for (const auto& name : model.config().conditions) out[i][name] = results[i].find(name).value_or(std::nan(""));
#else
    throw Error("evaluate needs the descriptors library (built without it)");
#endif
    return out;
}

// Fraction of voxels whose labels differ, averaged over all pairs.
double meanPairwiseDisagreement(const std::vector<Volume>& volumes) {
    double sum = 0.0;
    long pairs = 0;
    for (std::size_t a = 0; a < volumes.size(); ++a)
        for (std::size_t b = a + 1; b < volumes.size(); ++b) {
            const auto& la = volumes[a].labels();
            const auto& lb = volumes[b].labels();
            std::size_t differ = 0;
            for (std::size_t i = 0; i < la.size(); ++i) differ += la[i] != lb[i];
            sum += double(differ) / double(la.size());
            ++pairs;
        }
    return pairs ? sum / double(pairs) : std::nan("");
}

// Candidates drawn for each kept volume (1 when not screened).
std::vector<double> drawsPerSample(const std::vector<Volume>& volumes) {
    std::vector<double> draws;
    for (const auto& v : volumes) {
        const auto it = v.attributes.find("candidates");
        draws.push_back(it != v.attributes.end() ? it->second : 1.0);
    }
    return draws;
}

double standardDeviation(const std::vector<double>& values) {
    std::vector<double> finite;
    for (double v : values)
        if (std::isfinite(v)) finite.push_back(v);
    if (finite.size() < 2) return std::nan("");
    double mean = 0.0, squares = 0.0;
    for (double v : finite) mean += v / double(finite.size());
    for (double v : finite) squares += (v - mean) * (v - mean);
    return std::sqrt(squares / double(finite.size() - 1));
}

#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
// Up to `count` training samples, evenly spaced over those the model's
// phase-fraction filter keeps (as for the held-out data).
std::vector<Volume> readTraining(const std::string& path, long count, double minPhase) {
    auto all = ml3d::withMinority(io::readSamples(path), minPhase);
    if (all.empty()) throw Error("--training: no samples in " + path + (minPhase > 0.0 ? " above the phase-fraction filter" : ""));
    std::vector<Volume> kept;
    for (std::size_t i : ml3d::evenlySpaced(all.size(), std::size_t(count))) kept.push_back(std::move(all[i]));
    return kept;
}

ml::Json setJson(const descriptors::SetSimilarity& s) {
    const auto& d = s.disagreement;
    ml::Json spread = ml::Json::object();
    spread["min"] = numberOrNull(d.min);
    spread["q1"] = numberOrNull(d.q1);
    spread["median"] = numberOrNull(d.median);
    spread["q3"] = numberOrNull(d.q3);
    spread["max"] = numberOrNull(d.max);
    spread["mean"] = numberOrNull(d.mean);
    ml::Json j = ml::Json::object();
    j["n"] = double(s.nearest.size());
    j["nearest_disagreement"] = spread;
    j["interface_density"] = numberOrNull(s.meanInterfaceDensity);
    j["s2_donor"] = ml::Json(s.meanS2Donor);
    return j;
}

// Memorisation: nearest-training disagreement of the generated and the
// held-out volumes (x/y shifts and symmetries searched), interface density
// and S2. Generated samples nearer the training data than unseen held-out
// data point to copying rather than generalising.
ml::Json memorisationJson(const std::vector<Volume>& generated, const std::vector<Volume>& heldOut,
                          const std::vector<Volume>& training, const std::string& path, ProgressToken* progress) {
    const auto m = descriptors::memorisation(generated, heldOut, training, progress);
    ml::Json j = ml::Json::object();
    j["training"] = path;
    j["training_count"] = double(training.size());
    j["generated"] = setJson(m.generated);
    j["held_out"] = setJson(m.heldOut);
    j["training_interface_density"] = numberOrNull(m.trainingInterfaceDensity);
    j["training_s2_donor"] = ml::Json(m.trainingS2Donor);
    j["s2_rms_difference"] = numberOrNull(m.s2RmsDifference);  // generated vs held-out mean S2 (Donor)
    j["generated_median_ge_held_out_median"] = m.generatedNotCloser();
    return j;
}

void printMemorisation(const ml::Json& m) {
    auto f = [](const ml::Json& v) { return v.isNumber() ? v.number() : std::nan(""); };  // null: NaN
    std::printf("memorisation: nearest of %.0f training samples (voxel disagreement, best x/y shift and symmetry)\n",
                m.at("training_count").number());
    std::printf("%-10s %4s %8s %8s %8s %8s %8s  %s\n", "set", "n", "min", "q1", "median", "q3", "mean", "interface density");
    for (const auto& [key, label] : {std::pair<const char*, const char*>{"generated", "generated"}, {"held_out", "held-out"}}) {
        const auto& set = m.at(key);
        const auto& d = set.at("nearest_disagreement");
        std::printf("%-10s %4.0f %8.4f %8.4f %8.4f %8.4f %8.4f  %.4f\n", label, set.at("n").number(), f(d.at("min")),
                    f(d.at("q1")), f(d.at("median")), f(d.at("q3")), f(d.at("mean")), f(set.at("interface_density")));
    }
    std::printf("training interface density %.4f; S2 (donor) RMS difference generated vs held-out %.4g\n",
                f(m.at("training_interface_density")), f(m.at("s2_rms_difference")));
    std::printf("generated median >= held-out median: %s\n",
                m.at("generated_median_ge_held_out_median").boolean() ? "true" : "false");
}
#endif

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

}  // namespace

int cmdEvaluate(const CommandArgs& argv) {
    Args args(argv, {"model", "data", "count", "steps", "eta", "guidance", "seed", "batch-sizes", "diversity", "batch",
                     "compare-steps", "compare-count", "min-phase-fraction", "threads", "csv", "candidates",
                     "ddpm-variance", "tolerance", "training", "training-count"},
              {"json", "cpu", "describe"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli evaluate [--model M] [--data HELDOUT.h5] [-n N] [--steps K] [--json]\n\n"
                     "Evaluates a 3D generator (MicroGen3D) on held-out data:\n"
                     "  - targets: the condition values of N held-out samples (evenly spaced); one volume\n"
                     "    generated per target, described (GraSPI), R^2 (squared Pearson) and MAE of target\n"
                     "    vs measured per descriptor (the paper's Fig. 5);\n"
                     "  - diversity at one fixed target (the held-out mean): std of each descriptor over the\n"
                     "    samples and the mean fraction of voxels that differ between pairs;\n"
                     "  - the VAE round trip of the held-out samples (voxel accuracy, descriptor R^2: the\n"
                     "    ceiling for generation);\n"
                     "  - the feature predictor on the held-out samples' latents: R^2 per output (phi, chi,\n"
                     "    log_time and the descriptors the data carry);\n"
                     "  - seconds per sample, denoise and decode apart, for each batch size.\n"
                     "  --model M          model folder / name [gen3d-ch2, the shipped 2-phase model]\n"
                     "  --data H.h5        held-out samples [the model's recorded validation data]\n"
                     "  -n, --count N      held-out targets [16]\n"
                     "  --steps K          DDIM steps (0 = DDPM over all T) [50]\n"
                     "  --eta X, --guidance G, --seed S   sampler settings [0, 1, 0]\n"
                     "  --ddpm-variance V  the DDPM's step variance: beta (the paper's) or posterior [beta]\n"
                     "  --batch B          samples denoised together for the R^2 part [8]\n"
                     "  --candidates K     screened generation for the R^2 and comparison parts: K draws per\n"
                     "                     target, the one measured nearest the target kept [1: plain sampling;\n"
                     "                     diversity and timing always sample plainly]\n"
                     "  --tolerance D      with --candidates K: a target stops drawing once a draw lies within\n"
                     "                     D (training std units), so K is the most drawn [0: always K]\n"
                     "  --diversity M      samples at the fixed target [min(N, 8), at least 2]\n"
                     "  --batch-sizes L    timing batch sizes [1,2,4,8,16,32]\n"
                     "  --describe         compute descriptors missing from the held-out attributes\n"
                     "  --min-phase-fraction F  held-out samples whose rarer phase fills less than F are\n"
                     "                     skipped [the model's training filter, e.g. 0.01 for gen3d-ch2]\n"
                     "  --compare-steps K2 also sample --compare-count of the targets (evenly spaced) with\n"
                     "                     K2 steps (0 = DDPM over all T) in this run: R^2 of both samplers on\n"
                     "                     those targets, their difference with a 95% interval (paired bootstrap\n"
                     "                     over the targets: is it more than the targets' own noise?), seconds\n"
                     "                     per sample (denoise + decode) and the speed-up\n"
                     "  --compare-count M  targets for --compare-steps [N]\n"
                     "  --threads T        torch threads on the CPU [MICROSTUDIO_THREADS or all cores]\n"
                     "  --training T.h5    memorisation: for the R^2 pass's generated samples and the held-out\n"
                     "                     targets, the voxel disagreement to the nearest training sample (best\n"
                     "                     periodic x/y shift and x/y symmetry; quartiles per set), interface\n"
                     "                     density and S2 (donor); generated nearer than held-out = copying\n"
                     "  --training-count N training samples compared, evenly spaced (after the phase-fraction\n"
                     "                     filter) [2000]\n"
                     "  --csv FILE         one row per held-out target: target, VAE round trip and\n"
                     "                     generated value of each descriptor (find the outliers behind an R^2);\n"
                     "                     with --compare-steps also <name>_compared (the other sampler)\n"
                     "  --json             print one JSON object (r2, mae, diversity, fp_r2,\n"
                     "                     denoise_s_per_sample, decode_s_per_sample, timing, steps, n;\n"
                     "                     memorisation with --training)\n"
                     "  --cpu              never use CUDA\n";
        return 0;
    }
    if (args.flag("cpu")) setenv("CUDA_VISIBLE_DEVICES", "", 1);
    if (auto t = args.value("threads")) {
        if (args.integer("threads", 0) < 1) throw Error("--threads must be >= 1");
        setenv("MICROSTUDIO_THREADS", t->c_str(), 1);  // read when the model picks its device
    }
    const auto model = loadModel(args);
    const auto& c = model.config();
    std::string dataPath = args.value("data", "");
    if (dataPath.empty()) {
        const auto& training = model.metadata().training;
        if (training.isObject()) dataPath = training.string("validation_data", "");
        if (dataPath.empty()) throw Error("--data HELDOUT.h5 is required: the model records no validation data");
    }
    const long count = args.integer("count", 16), steps = args.integer("steps", 50), seed = args.integer("seed", 0);
    const long batch = args.integer("batch", 8);
    if (count < 1 || count > 100000) throw Error("-n must be in 1..100000");
    if (steps < 0) throw Error("--steps must be >= 0");
    if (seed < 0) throw Error("--seed must be >= 0");
    if (batch < 1) throw Error("--batch must be >= 1");
    const long diversityCount = args.integer("diversity", std::max(2L, std::min(count, 8L)));
    if (diversityCount < 2) throw Error("--diversity needs at least 2 samples");
    const auto batchSizes = parseBatchSizes(args.value("batch-sizes", "1,2,4,8,16,32"));
    const long compareSteps = args.integer("compare-steps", -1);
    if (args.has("compare-steps") && compareSteps < 0) throw Error("--compare-steps must be >= 0");
    const long compareCount = args.integer("compare-count", count);
    if (compareCount < 2) throw Error("--compare-count must be >= 2");
    // The model's training filter (single-phase snapshots skipped) unless given.
    double minPhase = 0.0;
    if (model.metadata().training.isObject()) minPhase = model.metadata().training.number("min_phase_fraction", 0.0);
    minPhase = args.number("min-phase-fraction", minPhase);
    if (minPhase < 0.0 || minPhase >= 0.5) throw Error("--min-phase-fraction must be in [0, 0.5)");
    const bool json = args.flag("json");
    const std::string trainingPath = args.value("training", "");
    const long trainingCount = args.integer("training-count", 2000);
    if (args.has("training-count") && trainingPath.empty()) throw Error("--training-count needs --training");
    if (trainingCount < 1) throw Error("--training-count must be >= 1");

    ml::GenerateOptions o;
    o.steps = int(steps);
    o.eta = args.number("eta", 0.0);
    o.guidance = args.number("guidance", 1.0);
    o.seed = std::uint64_t(seed);
    o.batch = int(batch);
    o.posteriorVariance = ml3d::parseDdpmVariance(args.value("ddpm-variance", "beta"));
    const int candidates = ml3d::parseCandidates(args.integer("candidates", 1));
    o.tolerance = ml3d::parseTolerance(args.number("tolerance", 0.0));

    // Held-out samples and their targets.
    auto all = ml3d::withMinority(io::readSamples(dataPath), minPhase);
    if (all.empty()) throw Error("no samples in " + dataPath + (minPhase > 0.0 ? " above --min-phase-fraction" : ""));
    std::vector<Volume> reference;
    for (std::size_t i : ml3d::evenlySpaced(all.size(), std::size_t(count))) reference.push_back(std::move(all[i]));
    all.clear();
    // Read before the slow parts, so a bad file fails at once.
    std::vector<Volume> training;
    if (!trainingPath.empty()) {
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
        training = readTraining(trainingPath, trainingCount, minPhase);
#else
        throw Error("--training needs the descriptors library (built without it)");
#endif
    }
    const std::size_t n = reference.size();
    std::vector<std::map<std::string, double>> targets(n);
    for (std::size_t i = 0; i < n; ++i)
        for (const auto& name : c.conditions) {
            auto it = reference[i].attributes.find(name);
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
            if (it == reference[i].attributes.end() && args.flag("describe")) {
                descriptors::storeAsAttributes(descriptors::describe(reference[i]), reference[i]);
                it = reference[i].attributes.find(name);
            }
#endif
            if (it == reference[i].attributes.end())
                throw Error(dataPath + ": held-out sample " + std::to_string(i) + " lacks condition '" + name +
                            "' (--describe computes missing descriptors)");
            targets[i][name] = it->second;
        }
    ProgressToken progress;
    ProgressBar bar("evaluate");
    progress.setListener([&](double f, const std::string& msg) { bar.update(f, msg); });

    // 1. Feature predictor on the held-out latents.
    ml::Json fpR2 = ml::Json::object(), fpMae = ml::Json::object();
    const auto predicted = model.predictFeatures(reference);
    for (const auto& name : c.outputs) {
        std::vector<double> t, a;
        for (std::size_t i = 0; i < n; ++i)
            if (auto it = reference[i].attributes.find(name); it != reference[i].attributes.end()) {
                t.push_back(it->second);
                a.push_back(predicted[i].at(name));
            }
        if (t.empty()) continue;  // not in the data
        const auto g = ml3d::agreement(t, a);
        fpR2[name] = numberOrNull(g.r2);
        fpMae[name] = numberOrNull(g.mae);
    }
    // 1b. The VAE round trip: the ceiling of what generation can reach.
    ml::Json reconstruction = ml::Json::object(), reconstructionR2 = ml::Json::object();
    std::vector<std::map<std::string, double>> rebuiltMeasured;
    {
        const auto rebuilt = model.reconstruct(reference);
        rebuiltMeasured = measure(rebuilt, model);
        for (const auto& name : c.conditions) {
            std::vector<double> t, a;
            for (std::size_t i = 0; i < n; ++i)
                if (std::isfinite(rebuiltMeasured[i].at(name))) {
                    t.push_back(targets[i].at(name));
                    a.push_back(rebuiltMeasured[i].at(name));
                }
            reconstructionR2[name] = numberOrNull(ml3d::agreement(t, a).r2);
        }
        // Accuracy overall and per z-slice: the tortuosity descriptors start at
        // the z = 0 and z = nz-1 electrodes, so errors there weigh most.
        // (Slices are equal in size, so the overall accuracy is their mean.)
        const int nz = reference.front().dims().nz;
        const std::size_t slice = reference.front().dims().count() / std::size_t(nz);
        std::vector<double> agreeByZ(std::size_t(nz), 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            const auto& x = reference[i].labels();
            const auto& y = rebuilt[i].labels();
            for (std::size_t k = 0; k < x.size(); ++k)
                agreeByZ[k / slice] += double(x[k] == y[k]) / double(slice) / double(n);
        }
        double agree = 0.0;
        ml::Json byZ = ml::Json::array();
        for (double a : agreeByZ) {
            byZ.push(a);
            agree += a / double(nz);
        }
        reconstruction["r2"] = reconstructionR2;
        reconstruction["voxel_accuracy"] = agree;
        reconstruction["voxel_accuracy_by_z"] = byZ;
    }
    // The held-out volumes stay for the memorisation measure only.
    std::vector<Volume> heldOut;
    if (!training.empty()) heldOut = std::move(reference);
    reference.clear();

    // 2. Target vs measured.
    progress.report(0.0, "generating for held-out targets");
    ml::GenerateTiming primaryTiming;
    auto timedPrimary = o;
    timedPrimary.timing = &primaryTiming;
    timedPrimary.candidates = candidates;
    auto generated = model.generate(targets, timedPrimary);
    const auto measured = measure(generated, model);
    const auto primaryDraws = drawsPerSample(generated);
    ml::Json r2 = ml::Json::object(), mae = ml::Json::object(), described = ml::Json::object(),
             targetStd = ml::Json::object();
    for (const auto& name : c.conditions) {
        std::vector<double> t, a;
        for (std::size_t i = 0; i < n; ++i)
            if (std::isfinite(measured[i].at(name))) {
                t.push_back(targets[i].at(name));
                a.push_back(measured[i].at(name));
            }
        const auto g = ml3d::agreement(t, a);
        r2[name] = numberOrNull(g.r2);
        mae[name] = numberOrNull(g.mae);
        described[name] = double(g.count);
        targetStd[name] = numberOrNull(standardDeviation(t));  // unbiased fit: R^2 = 1 - MSE / std^2
    }
    // 2a. Memorisation: generated vs held-out distance to the training data.
    ml::Json memorisation;
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    if (!training.empty()) {
        ProgressToken search;
        search.setListener([&](double f, const std::string&) { bar.update(0.1 + 0.1 * f, "nearest training sample"); });
        memorisation = memorisationJson(generated, heldOut, training, trainingPath, &search);
        training.clear();
        heldOut.clear();
    }
#endif
    generated.clear();

    // 2b. The same targets (a subset) with another sampler, in this run: the
    // DDIM vs DDPM comparison of the benchmarks.
    ml::Json comparison = ml::Json::object();
    std::vector<std::map<std::string, double>> comparedMeasured(n);  // per target, the other sampler's
    std::vector<double> comparedDraws(n, std::nan(""));
    if (compareSteps >= 0) {
        progress.report(0.2, "comparison sampler");
        const auto subset = ml3d::evenlySpaced(n, std::size_t(compareCount));
        std::vector<std::map<std::string, double>> subsetTargets;
        for (std::size_t i : subset) subsetTargets.push_back(targets[i]);
        ml::GenerateTiming t;
        auto other = o;
        other.candidates = candidates;
        other.steps = int(compareSteps);
        other.timing = &t;
        const auto otherVolumes = model.generate(subsetTargets, other);
        const auto otherMeasured = measure(otherVolumes, model);
        const auto otherDraws = drawsPerSample(otherVolumes);
        for (std::size_t k = 0; k < subset.size(); ++k) {
            comparedMeasured[subset[k]] = otherMeasured[k];
            comparedDraws[subset[k]] = otherDraws[k];
        }
        ml::Json otherR2 = ml::Json::object(), primaryR2 = ml::Json::object(), difference = ml::Json::object(),
                 interval = ml::Json::object();
        for (const auto& name : c.conditions) {
            std::vector<double> ta, a, tb, b, tp, ap, bp;
            for (std::size_t k = 0; k < subset.size(); ++k) {
                const double target = subsetTargets[k].at(name), main = measured[subset[k]].at(name),
                             compared = otherMeasured[k].at(name);
                if (std::isfinite(main)) {
                    ta.push_back(target);
                    a.push_back(main);
                }
                if (std::isfinite(compared)) {
                    tb.push_back(target);
                    b.push_back(compared);
                }
                if (std::isfinite(main) && std::isfinite(compared)) {
                    tp.push_back(target);
                    ap.push_back(main);
                    bp.push_back(compared);
                }
            }
            const double ra = ml3d::agreement(ta, a).r2, rb = ml3d::agreement(tb, b).r2;
            primaryR2[name] = numberOrNull(ra);
            otherR2[name] = numberOrNull(rb);
            difference[name] = numberOrNull(ra - rb);
            // Paired bootstrap over the targets both samplers described.
            ml::Json range = ml::Json::array();
            if (tp.size() >= 3) {
                const auto d = ml::bootstrapR2Difference(tp, ap, bp);
                if (std::isfinite(d.low) && std::isfinite(d.high)) range = ml::Json(std::vector<double>{d.low, d.high});
            }
            interval[name] = range;
        }
        const double primarySeconds =
            (primaryTiming.denoiseSeconds + primaryTiming.decodeSeconds + primaryTiming.screenSeconds) / double(n);
        const double otherSeconds = (t.denoiseSeconds + t.decodeSeconds + t.screenSeconds) / double(subset.size());
        comparison["steps"] = double(compareSteps == 0 ? c.timesteps : compareSteps);
        comparison["sampler"] = compareSteps == 0 ? "ddpm" : "ddim";
        comparison["n"] = double(subset.size());
        comparison["r2"] = otherR2;
        comparison["r2_main_sampler"] = primaryR2;  // the main sampler on the same targets
        comparison["r2_difference"] = difference;   // main - comparison
        comparison["r2_difference_ci95"] = interval;  // [low, high], paired bootstrap, 2000 draws
        comparison["s_per_sample"] = otherSeconds;  // denoise + decode, batch --batch
        comparison["main_s_per_sample"] = primarySeconds;
        comparison["speedup"] = numberOrNull(otherSeconds / primarySeconds);
        // With --tolerance the samplers may draw different numbers of candidates:
        // the speed-up per draw is the samplers' own ratio.
        const double primaryDrawCount = std::accumulate(primaryDraws.begin(), primaryDraws.end(), 0.0),
                     otherDrawCount = std::accumulate(otherDraws.begin(), otherDraws.end(), 0.0);
        comparison["draws_per_sample"] = otherDrawCount / double(subset.size());
        comparison["main_draws_per_sample"] = primaryDrawCount / double(n);
        const double otherPerDraw = otherSeconds * double(subset.size()) / otherDrawCount,
                     primaryPerDraw = primarySeconds * double(n) / primaryDrawCount;
        comparison["s_per_draw"] = otherPerDraw;
        comparison["main_s_per_draw"] = primaryPerDraw;
        comparison["speedup_per_draw"] = numberOrNull(otherPerDraw / primaryPerDraw);
    }

    if (auto csvPath = args.value("csv")) {
        // With --compare-steps: the other sampler's value too (empty off its subset).
        const bool compared = compareSteps >= 0;
        std::string csv = "sample";
        for (const auto& name : c.conditions) {
            csv += "," + name + "," + name + "_round_trip," + name + "_generated";
            if (compared) csv += "," + name + "_compared";
        }
        csv += ",draws";
        if (compared) csv += ",draws_compared";
        csv += "\n";
        for (std::size_t i = 0; i < n; ++i) {
            csv += std::to_string(i);
            for (const auto& name : c.conditions) {
                csv += "," + ml3d::csvNumber(targets[i].at(name)) + "," + ml3d::csvNumber(rebuiltMeasured[i].at(name)) +
                       "," + ml3d::csvNumber(measured[i].at(name));
                if (compared) {
                    const auto it = comparedMeasured[i].find(name);
                    csv += "," + ml3d::csvNumber(it != comparedMeasured[i].end() ? it->second : std::nan(""));
                }
            }
            csv += "," + ml3d::csvNumber(primaryDraws[i]);
            if (compared) csv += "," + ml3d::csvNumber(comparedDraws[i]);
            csv += "\n";
        }
        ml3d::writeTextAtomically(*csvPath, csv);
    }

    // 3. Diversity at one fixed target: the held-out mean.
    progress.report(0.4, "diversity");
    std::map<std::string, double> fixed;
    for (const auto& name : c.conditions) {
        double sum = 0.0;
        for (const auto& t : targets) sum += t.at(name);
        fixed[name] = sum / double(n);
    }
    auto diverse = o;
    diverse.seed = o.seed + 1;
    const auto same = model.generate(fixed, int(diversityCount), diverse);
    const auto sameMeasured = measure(same, model);
    ml::Json diversity = ml::Json::object(), diversityStd = ml::Json::object(), fixedJson = ml::Json::object();
    for (const auto& name : c.conditions) {
        std::vector<double> values;
        for (const auto& m : sameMeasured) values.push_back(m.at(name));
        diversityStd[name] = numberOrNull(standardDeviation(values));
        fixedJson[name] = fixed.at(name);
    }
    diversity["target"] = fixedJson;
    diversity["samples"] = double(diversityCount);
    diversity["std"] = diversityStd;
    diversity["mean_voxel_disagreement"] = numberOrNull(meanPairwiseDisagreement(same));

    // 4. Seconds per sample, denoise and decode apart, per batch size (after
    // the runs above have warmed the networks up).
    ml::Json timing = ml::Json::array();
    double denoiseLast = 0.0, decodeLast = 0.0;
    for (std::size_t k = 0; k < batchSizes.size(); ++k) {
        progress.report(0.6 + 0.4 * double(k) / double(batchSizes.size()), "timing batch " + std::to_string(batchSizes[k]));
        ml::GenerateTiming t;
        auto timed = o;
        timed.batch = int(batchSizes[k]);
        timed.timing = &t;
        model.generate(fixed, int(batchSizes[k]), timed);
        ml::Json row = ml::Json::object();
        row["batch"] = double(batchSizes[k]);
        denoiseLast = t.denoiseSeconds / double(batchSizes[k]);
        decodeLast = t.decodeSeconds / double(batchSizes[k]);
        row["denoise_s_per_sample"] = denoiseLast;
        row["decode_s_per_sample"] = decodeLast;
        timing.push(row);
    }
    bar.finish();

    ml::Json report = ml::Json::object();
    report["model"] = model.metadata().name;
    report["data"] = dataPath;
    report["device"] = model.device();
    report["n"] = double(n);
    report["steps"] = double(steps == 0 ? c.timesteps : steps);
    report["sampler"] = steps == 0 ? "ddpm" : "ddim";
    report["guidance"] = o.guidance;
    report["candidates"] = double(candidates);
    report["tolerance"] = o.tolerance;
    report["draws_per_sample"] = std::accumulate(primaryDraws.begin(), primaryDraws.end(), 0.0) / double(n);  // candidates drawn per kept sample
    report["ddpm_variance"] = o.posteriorVariance ? "posterior" : "beta";
    report["r2"] = r2;
    report["mae"] = mae;
    report["described"] = described;
    report["target_std"] = targetStd;
    report["diversity"] = diversity;
    report["fp_r2"] = fpR2;
    report["fp_mae"] = fpMae;
    report["reconstruction"] = reconstruction;
    // Headline figures: the last (largest) batch size; per size in `timing`.
    report["timing_batch"] = double(batchSizes.back());
    report["denoise_s_per_sample"] = denoiseLast;
    report["decode_s_per_sample"] = decodeLast;
    report["timing"] = timing;
    report["min_phase_fraction"] = minPhase;
    // Seconds per sample of the R^2 pass (batch --batch, denoise + decode).
    // With --candidates K: all K draws and their descriptors per kept sample.
    report["s_per_sample"] =
        (primaryTiming.denoiseSeconds + primaryTiming.decodeSeconds + primaryTiming.screenSeconds) / double(n);
    if (compareSteps >= 0) report["comparison"] = comparison;
    if (memorisation.isObject()) report["memorisation"] = memorisation;
    if (json) {
        std::cout << report.dump(2) << "\n";
        return 0;
    }
    auto show = [](const ml::Json& j, const std::string& key) {
        if (!j.has(key) || !j.at(key).isNumber()) return std::string("-");
        char text[32];
        std::snprintf(text, sizeof text, "%.4f", j.at(key).number());
        return std::string(text);
    };
    std::printf("evaluate %s on %zu held-out samples of %s (%s, %ld steps, guidance %g, %d candidate(s), %s)\n",
                model.metadata().name.c_str(), n, dataPath.c_str(), steps == 0 ? "DDPM" : "DDIM",
                steps == 0 ? long(c.timesteps) : steps, o.guidance, candidates, model.device().c_str());
    if (o.tolerance > 0.0 && candidates > 1)
        std::printf("screening stops at distance %g: %.3g draws per sample on average\n", o.tolerance,
                    report.at("draws_per_sample").number());
    std::printf("%-16s %10s %10s %10s   (target vs measured; diversity: std at the fixed target)\n", "descriptor", "R^2",
                "MAE", "std");
    for (const auto& name : c.conditions)
        std::printf("%-16s %10s %10s %10s\n", name.c_str(), show(r2, name).c_str(), show(mae, name).c_str(),
                    show(diversityStd, name).c_str());
    std::printf("VAE round trip of the held-out samples: voxel accuracy %.4f; R^2", reconstruction.at("voxel_accuracy").number());
    for (const auto& name : c.conditions) std::printf(" %s %s", name.c_str(), show(reconstructionR2, name).c_str());
    std::printf("\n");
    std::printf("mean voxel disagreement between %ld samples at one target: %s\n", diversityCount,
                show(diversity, "mean_voxel_disagreement").c_str());
    std::printf("%-16s %10s %10s   (feature predictor on held-out latents)\n", "output", "R^2", "MAE");
    for (const auto& name : c.outputs)
        if (fpR2.has(name)) std::printf("%-16s %10s %10s\n", name.c_str(), show(fpR2, name).c_str(), show(fpMae, name).c_str());
    std::printf("%-8s %14s %14s   (seconds per sample)\n", "batch", "denoise", "decode");
    for (const auto& row : timing.items())
        std::printf("%-8.0f %14.4g %14.4g\n", row.at("batch").number(), row.at("denoise_s_per_sample").number(),
                    row.at("decode_s_per_sample").number());
    if (compareSteps >= 0) {
        std::printf("comparison on %.0f of the targets: %s-%.0f vs %s-%ld (batch %ld)\n", comparison.at("n").number(),
                    comparison.string("sampler", "").c_str(), comparison.at("steps").number(), steps == 0 ? "ddpm" : "ddim",
                    steps == 0 ? long(c.timesteps) : steps, batch);
        std::printf("%-16s %10s %10s %10s  %s\n", "descriptor", "R^2 main", "R^2 other", "main-other",
                    "95% interval (paired bootstrap over targets)");
        for (const auto& name : c.conditions) {
            const auto range = comparison.at("r2_difference_ci95").at(name).numbers();
            char text[64] = "-";
            if (range.size() == 2) std::snprintf(text, sizeof text, "[%.3f, %.3f]", range[0], range[1]);
            std::printf("%-16s %10s %10s %10s  %s\n", name.c_str(), show(comparison.at("r2_main_sampler"), name).c_str(),
                        show(comparison.at("r2"), name).c_str(), show(comparison.at("r2_difference"), name).c_str(), text);
        }
        std::printf("seconds per sample: main %.4g, other %.4g (other / main = %s)\n",
                    comparison.at("main_s_per_sample").number(), comparison.at("s_per_sample").number(),
                    show(comparison, "speedup").c_str());
        std::printf("draws per sample: main %.3g, other %.3g; seconds per draw: main %.4g, other %.4g (other / main = %s)\n",
                    comparison.at("main_draws_per_sample").number(), comparison.at("draws_per_sample").number(),
                    comparison.at("main_s_per_draw").number(), comparison.at("s_per_draw").number(),
                    show(comparison, "speedup_per_draw").c_str());
    }
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    if (memorisation.isObject()) printMemorisation(memorisation);
#endif
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
