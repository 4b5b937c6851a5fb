// The 3D generator's evaluation on held-out data (torch-free: it drives
// Generator3D and the descriptors library).
#include "microstudio/ml/evaluate3d.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>
#include <limits>

#include <fmt/format.h>

#include "microstudio/core/error.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/core/subsample.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/splits.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/descriptors/similarity.hpp"
#endif

namespace ms::ml {

namespace {

const double kNaN = std::nan("");

// ---- small measures ---------------------------------------------------------

double coefficientOfDetermination(const std::vector<double>& t, const std::vector<double>& a) {
    if (t.size() < 2) return kNaN;
    const double mean = std::accumulate(t.begin(), t.end(), 0.0) / double(t.size());
    double residual = 0.0, total = 0.0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        residual += (t[i] - a[i]) * (t[i] - a[i]);
        total += (t[i] - mean) * (t[i] - mean);
    }
    return total > 0.0 ? 1.0 - residual / total : kNaN;
}

double standardDeviation(const std::vector<double>& values) {
    std::vector<double> finite;
    for (double v : values)
        if (std::isfinite(v)) finite.push_back(v);
    if (finite.size() < 2) return kNaN;
    const double mean = std::accumulate(finite.begin(), finite.end(), 0.0) / double(finite.size());
    double squares = 0.0;
    for (double v : finite) squares += (v - mean) * (v - mean);
    return std::sqrt(squares / double(finite.size() - 1));
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
    return pairs ? sum / double(pairs) : kNaN;
}

// Targets and achieved values of one condition where the achieved one is known.
void finitePairs(const std::vector<NamedValues>& targets, const std::vector<NamedValues>& achieved,
                 const std::string& name, std::vector<double>& t, std::vector<double>& a) {
    for (std::size_t i = 0; i < targets.size() && i < achieved.size(); ++i)
        if (const double v = achieved[i].at(name); std::isfinite(v)) {
            t.push_back(targets[i].at(name));
            a.push_back(v);
        }
}

// A token whose fractions land in [from, to] of `parent` (null: none).
ProgressToken* relay(ProgressToken* parent, ProgressToken& child, double from, double to) {
    if (!parent) return nullptr;
    child.setListener([=](double f, const std::string& message) { parent->report(from + (to - from) * f, message); });
    return &child;
}

void report(ProgressToken* progress, double fraction, const std::string& message) {
    if (progress) progress->report(fraction, message);
}

// ---- descriptors ------------------------------------------------------------

// The model's conditions measured on volumes (GraSPI); NaN where undefined.
std::vector<NamedValues> measure(const std::vector<Volume>& volumes, const Generator3D& model) {
    std::vector<NamedValues> out(volumes.size());
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    descriptors::Options d;
    d.phases = model.config().vae.phases;
    const auto results = descriptors::describeBatch(volumes, d);
    for (std::size_t i = 0; i < volumes.size(); ++i)
        for (const auto& name : model.config().conditions) out[i][name] = results[i].find(name).value_or(kNaN);
#else
    (void)model;
    throw Error("evaluating a 3D generator needs the descriptors library (built without it)");
#endif
    return out;
}

// The attribute `name` of `volume`, its descriptors described onto it first
// when missing and asked; nullopt when it stays missing.
std::optional<double> conditionOf(Volume& volume, const std::string& name, bool describeMissing) {
    auto it = volume.attributes.find(name);
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    if (it == volume.attributes.end() && describeMissing) {
        descriptors::storeAsAttributes(descriptors::describe(volume), volume);
        it = volume.attributes.find(name);
    }
#else
    (void)describeMissing;
#endif
    if (it == volume.attributes.end()) return std::nullopt;
    return it->second;
}

// The held-out volumes with the conditions as attributes (described when
// asked and missing) and their condition values, one target each.
std::vector<NamedValues> targetsOf(std::vector<Volume>& volumes, const std::vector<std::string>& conditions,
                                   bool describeMissing) {
    std::vector<NamedValues> targets(volumes.size());
    for (std::size_t i = 0; i < volumes.size(); ++i)
        for (const auto& name : conditions) {
            const auto value = conditionOf(volumes[i], name, describeMissing);
            if (!value)
                throw Error("held-out sample " + std::to_string(i) + " lacks condition '" + name +
                            "' (evaluate --describe computes missing descriptors)");
            targets[i][name] = *value;
        }
    return targets;
}

// ---- the parts ----------------------------------------------------------------

struct Context {
    const Generator3D& model;
    const Evaluation3dOptions& options;
    const std::vector<NamedValues>& targets;
    ProgressToken* progress;
    const std::vector<std::string>& conditions() const { return model.config().conditions; }
};

TargetFit fitOf(const Context& c, std::vector<NamedValues> measured, std::vector<double> draws, double seconds) {
    TargetFit fit;
    for (const auto& name : c.conditions()) {
        std::vector<double> t, a;
        finitePairs(c.targets, measured, name, t, a);
        const auto g = agreement(t, a);
        fit.r2[name] = g.r2;
        fit.determination[name] = g.determination;
        fit.mae[name] = g.mae;
        fit.described[name] = double(g.count);
    }
    fit.measured = std::move(measured);
    fit.draws = std::move(draws);
    fit.secondsPerSample = seconds / double(c.targets.size());
    return fit;
}

// One volume per target, `candidates` draws each; the volumes go to `keep`.
TargetFit generationPass(const Context& c, int candidates, double from, double to, std::vector<Volume>* keep) {
    GenerateTiming timing;
    ProgressToken token;
    auto o = c.options.sampler;
    o.candidates = candidates;
    o.tolerance = candidates > 1 ? c.options.tolerance : 0.0;
    o.timing = &timing;
    o.progress = relay(c.progress, token, from, to);
    auto volumes = c.model.generate(c.targets, o);
    std::vector<double> draws;
    for (const auto& v : volumes) {
        const auto it = v.attributes.find("candidates");
        draws.push_back(it != v.attributes.end() ? it->second : 1.0);
    }
    auto fit = fitOf(c, measure(volumes, c.model), std::move(draws),
                     timing.denoiseSeconds + timing.decodeSeconds + timing.screenSeconds);
    if (keep) *keep = std::move(volumes);
    return fit;
}

NamedValues targetSpread(const Context& c, const TargetFit& fit) {
    NamedValues spread;
    for (const auto& name : c.conditions()) {
        std::vector<double> t, a;
        finitePairs(c.targets, fit.measured, name, t, a);
        spread[name] = standardDeviation(t);  // unbiased fit: R^2 = 1 - MSE / std^2
    }
    return spread;
}

void featurePredictor(const Generator3D& model, const std::vector<Volume>& volumes, Evaluation3dReport& r) {
    const auto predicted = model.predictFeatures(volumes);
    for (const auto& name : model.config().outputs) {
        std::vector<double> t, a;
        for (std::size_t i = 0; i < volumes.size(); ++i)
            if (auto it = volumes[i].attributes.find(name); it != volumes[i].attributes.end()) {
                t.push_back(it->second);
                a.push_back(predicted[i].at(name));
            }
        if (t.empty()) continue;  // not in the data
        const auto g = agreement(t, a);
        r.fpR2[name] = g.r2;
        r.fpMae[name] = g.mae;
    }
}

// Accuracy per z-slice: the tortuosities start at the z = 0 and z = nz-1
// electrodes, so errors there weigh most. Slices are equal in size, so the
// overall accuracy is their mean.
std::vector<double> accuracyByZ(const std::vector<Volume>& original, const std::vector<Volume>& rebuilt) {
    const int nz = original.front().dims().nz;
    const std::size_t slice = original.front().dims().count() / std::size_t(nz);
    const double n = double(original.size());
    std::vector<double> byZ(std::size_t(nz), 0.0);
    for (std::size_t i = 0; i < original.size(); ++i) {
        const auto& x = original[i].labels();
        const auto& y = rebuilt[i].labels();
        for (std::size_t k = 0; k < x.size(); ++k) byZ[k / slice] += double(x[k] == y[k]) / double(slice) / n;
    }
    return byZ;
}

// `keep`: where the decoded volumes go (for the memorisation measure), if not null.
ReconstructionReport measureReconstruction(const Context& c, const std::vector<Volume>& volumes,
                                           std::vector<Volume>* keep) {
    ReconstructionReport r;
    auto rebuilt = c.model.reconstruct(volumes);
    r.measured = measure(rebuilt, c.model);
    for (const auto& name : c.conditions()) {
        std::vector<double> t, a;
        finitePairs(c.targets, r.measured, name, t, a);
        const auto g = agreement(t, a);
        r.r2[name] = g.r2;
        r.determination[name] = g.determination;
        r.mae[name] = g.mae;
    }
    r.voxelAccuracyByZ = accuracyByZ(volumes, rebuilt);
    r.voxelAccuracy =
        std::accumulate(r.voxelAccuracyByZ.begin(), r.voxelAccuracyByZ.end(), 0.0) / double(r.voxelAccuracyByZ.size());
    if (keep) *keep = std::move(rebuilt);
    return r;
}

// "ddim", "dpmpp" or "ddpm" (DDIM with steps 0 and eta 0 is ancestral DDPM).
std::string familyOf(const GenerateOptions& o) {
    return o.sampler == "ddim" && o.steps == 0 && o.eta == 0.0 ? "ddpm" : o.sampler;
}

// R^2 of both samplers on the compared targets and the bootstrap interval
// of their difference, over the targets both described.
void compareCondition(SamplerComparison& s, const std::string& name, const std::vector<NamedValues>& mainMeasured,
                      const std::vector<NamedValues>& targets) {
    std::vector<double> ta, a, tb, b, tp, ap, bp;
    for (std::size_t k = 0; k < s.subset.size(); ++k) {
        const double target = targets[s.subset[k]].at(name), main = mainMeasured[s.subset[k]].at(name),
                     other = s.measured[k].at(name);
        if (std::isfinite(main)) ta.push_back(target), a.push_back(main);
        if (std::isfinite(other)) tb.push_back(target), b.push_back(other);
        if (std::isfinite(main) && std::isfinite(other)) tp.push_back(target), ap.push_back(main), bp.push_back(other);
    }
    s.r2Main[name] = agreement(ta, a).r2;
    s.r2[name] = agreement(tb, b).r2;
    s.r2Difference[name] = s.r2Main[name] - s.r2[name];
    auto& range = s.r2DifferenceCi95[name];
    if (tp.size() < 3) return;
    const auto d = bootstrapR2Difference(tp, ap, bp);
    if (std::isfinite(d.low) && std::isfinite(d.high)) range = {d.low, d.high};
}

// The plain targets (a subset) with another sampler, in this run: the DDIM
// vs DDPM comparison of the benchmarks.
SamplerComparison compareSamplers(const Context& c, const TargetFit& main, double from, double to) {
    SamplerComparison s;
    const auto& o = c.options;
    auto other = o.sampler;
    other.sampler = o.compareSampler.empty() ? o.sampler.sampler : o.compareSampler;
    if (other.sampler != "ddim") other.eta = 0.0;
    other.candidates = 1;
    other.steps = o.compareSteps;
    s.label = samplerLabel(other, c.model.config().timesteps);
    s.steps = o.compareSteps == 0 ? c.model.config().timesteps : o.compareSteps;
    s.sampler = familyOf(other);
    s.subset = evenlySpaced(c.targets.size(), o.compareCount > 0 ? o.compareCount : c.targets.size());
    std::vector<NamedValues> subsetTargets;
    for (std::size_t i : s.subset) subsetTargets.push_back(c.targets[i]);
    GenerateTiming timing;
    ProgressToken token;
    other.timing = &timing;
    other.progress = relay(c.progress, token, from, to);
    s.measured = measure(c.model.generate(subsetTargets, other), c.model);
    for (const auto& name : c.conditions()) compareCondition(s, name, main.measured, c.targets);
    s.secondsPerSample = (timing.denoiseSeconds + timing.decodeSeconds) / double(s.subset.size());
    s.mainSecondsPerSample = main.secondsPerSample;
    s.speedup = s.mainSecondsPerSample / s.secondsPerSample;  // > 1: the compared sampler is faster
    return s;
}

// ---- volumes larger than the training box --------------------------------------

// Per position along a periodic axis of n voxels: how far ahead the next
// window border lies (k: the plane between p + k - 1 and p + k; n + 1: none).
std::vector<int> distanceToBorder(int n, const std::vector<int>& starts) {
    std::vector<int> d(std::size_t(n), n + 1);
    for (int p = 0; p < n; ++p)
        for (int k = 1; k <= n; ++k)
            if (std::find(starts.begin(), starts.end(), (p + k) % n) != starts.end()) {
                d[std::size_t(p)] = k;
                break;
            }
    return d;
}

// RMS over the lags of a - b (finite entries only).
double rmsDifference(const std::vector<double>& a, const std::vector<double>& b) {
    double sum = 0.0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
        if (std::isfinite(a[i]) && std::isfinite(b[i])) sum += (a[i] - b[i]) * (a[i] - b[i]), ++n;
    return n ? std::sqrt(sum / double(n)) : kNaN;
}

// Mean of per-volume curves, entry by entry.
std::vector<double> meanCurve(const std::vector<std::vector<double>>& curves) {
    std::vector<double> mean(curves.empty() ? 0 : curves.front().size(), 0.0);
    for (const auto& c : curves)
        for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += c[i] / double(curves.size());
    return mean;
}

// Seams by S2: across borders vs inside windows per volume, against the
// difference of S2 inside windows between independent volumes.
void measureSeams(LargeVolumeReport& r, const std::vector<Volume>& volumes, const Vae3dConfig& vae,
                  LargeVolumeMethod method) {
    const auto startsX = windowStarts(vae, r.size, true, method), startsY = windowStarts(vae, r.size, false, method);
    // Lags up to half the border spacing, so every lag has pairs inside windows.
    const int spacing = std::min(r.size.nx / int(startsX.size()), r.size.ny / int(startsY.size()));
    r.maxLag = std::max(1, std::min(spacing / 2, 16));
    std::vector<std::vector<double>> across, inside;
    double seam = 0.0;
    for (const auto& v : volumes) {
        const auto s = seamCorrelation(v, startsX, startsY, r.maxLag);
        seam += rmsDifference(s.across, s.inside) / double(volumes.size());
        across.push_back(s.across);
        inside.push_back(s.inside);
    }
    double spread = 0.0;
    long pairs = 0;
    for (std::size_t a = 0; a < inside.size(); ++a)
        for (std::size_t b = a + 1; b < inside.size(); ++b) spread += rmsDifference(inside[a], inside[b]), ++pairs;
    r.s2Across = meanCurve(across);
    r.s2Inside = meanCurve(inside);
    r.seamDifference = seam;
    r.sampleSpread = pairs ? spread / double(pairs) : kNaN;
    r.seamless = std::isfinite(r.sampleSpread) && r.seamDifference <= r.sampleSpread;
}

// The plain targets (a subset) at options.largeSize: descriptors against
// their targets beside the training-size pass, seams, cost per voxel.
LargeVolumeReport measureLarge(const Context& c, const TargetFit& plain, double from, double to) {
    LargeVolumeReport r;
    const auto& vae = c.model.config().vae;
    r.size = generationSize(vae, c.options.largeSize);
    r.subset = evenlySpaced(c.targets.size(), c.options.largeCount > 0 ? c.options.largeCount : c.targets.size());
    std::vector<NamedValues> subsetTargets, subsetPlain;
    for (std::size_t i : r.subset) subsetTargets.push_back(c.targets[i]), subsetPlain.push_back(plain.measured[i]);
    GenerateTiming timing;
    ProgressToken token;
    auto o = c.options.sampler;
    o.candidates = 1;
    o.size = r.size;
    o.timing = &timing;
    o.progress = relay(c.progress, token, from, to);
    const auto volumes = c.model.generate(subsetTargets, o);
    r.windows = std::size_t(volumes.front().attributes.at("windows"));
    const Context sub{c.model, c.options, subsetTargets, c.progress};
    r.fit = fitOf(sub, measure(volumes, c.model), std::vector<double>(volumes.size(), 1.0),
                  timing.denoiseSeconds + timing.decodeSeconds);
    for (const auto& name : c.conditions()) {
        std::vector<double> t, a;
        finitePairs(subsetTargets, subsetPlain, name, t, a);
        const auto g = agreement(t, a);
        r.r2Training[name] = g.r2;
        r.maeTraining[name] = g.mae;
        r.maeRatio[name] = r.fit.mae[name] / g.mae;
    }
    r.method = o.largeMethod;
    measureSeams(r, volumes, vae, o.largeMethod);
    r.secondsPerVoxel = r.fit.secondsPerSample / double(r.size.count());
    r.trainingSecondsPerVoxel = plain.secondsPerSample / double(vae.dims.count());
    r.costRatio = r.secondsPerVoxel / r.trainingSecondsPerVoxel;
    return r;
}

NamedValues meanTarget(const Context& c) {
    NamedValues mean;
    for (const auto& name : c.conditions()) {
        double sum = 0.0;
        for (const auto& t : c.targets) sum += t.at(name);
        mean[name] = sum / double(c.targets.size());
    }
    return mean;
}

// Samples at one fixed target (the held-out mean): spread of each measured
// condition and voxel disagreement between pairs.
DiversityReport measureDiversity(const Context& c, const NamedValues& fixed, double from, double to) {
    DiversityReport d;
    d.target = fixed;
    d.samples = c.options.diversitySamples;
    ProgressToken token;
    auto o = c.options.sampler;
    o.candidates = 1;
    o.seed += 1;
    o.progress = relay(c.progress, token, from, to);
    o.timing = nullptr;
    const auto same = c.model.generate(fixed, d.samples, o);
    const auto measured = measure(same, c.model);
    for (const auto& name : c.conditions()) {
        std::vector<double> values;
        for (const auto& m : measured) values.push_back(m.at(name));
        d.std[name] = standardDeviation(values);
    }
    d.meanVoxelDisagreement = meanPairwiseDisagreement(same);
    return d;
}

// Seconds per sample, denoise and decode apart, per batch size (after the
// passes above have warmed the networks up).
std::vector<TimingRow> timingRows(const Context& c, const NamedValues& fixed, double from, double to) {
    std::vector<TimingRow> rows;
    const auto& sizes = c.options.timingBatchSizes;
    for (std::size_t k = 0; k < sizes.size(); ++k) {
        report(c.progress, from + (to - from) * double(k) / double(sizes.size()),
               "timing batch " + std::to_string(sizes[k]));
        GenerateTiming t;
        auto o = c.options.sampler;
        o.candidates = 1;
        o.batch = sizes[k];
        o.timing = &t;
        o.progress = nullptr;
        c.model.generate(fixed, sizes[k], o);
        rows.push_back({sizes[k], t.denoiseSeconds / double(sizes[k]), t.decodeSeconds / double(sizes[k])});
    }
    return rows;
}

#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
NearestSummary summary(const descriptors::SetSimilarity& s) {
    const auto& d = s.disagreement;
    return {s.nearest.size(), d.min, d.q1, d.median, d.q3, d.max, d.mean, s.meanInterfaceDensity, s.meanS2Donor};
}
#endif

// Nearest-training disagreement of the generated and the held-out volumes:
// generated samples nearer the training data than unseen held-out data
// point to copying rather than generalising.
MemorisationReport measureMemorisation(const Context& c, const std::vector<Volume>& generated,
                                       const std::vector<Volume>& heldOut, const std::vector<Volume>& roundTrips,
                                       double from, double to) {
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    ProgressToken token;
    const auto& training = *c.options.training;
    const auto m = descriptors::memorisation(generated, heldOut, training, relay(c.progress, token, from, to),
                                             roundTrips.empty() ? nullptr : &roundTrips);
    MemorisationReport r;
    r.training = c.options.trainingData;
    r.trainingCount = training.size();
    r.generated = summary(m.generated);
    r.heldOut = summary(m.heldOut);
    if (!roundTrips.empty()) r.roundTrip = summary(m.roundTrip);
    r.trainingInterfaceDensity = m.trainingInterfaceDensity;
    r.trainingS2Donor = m.trainingS2Donor;
    r.s2RmsDifference = m.s2RmsDifference;
    r.generatedNotCloser = m.generatedNotCloser();
    return r;
#else
    (void)c, (void)generated, (void)heldOut, (void)roundTrips, (void)from, (void)to;
    throw Error("the memorisation measure needs the descriptors library (built without it)");
#endif
}

void checkOptions(const Evaluation3dOptions& o, const std::vector<Volume>& heldOut) {
    if (heldOut.empty()) throw Error("no held-out samples to evaluate");
    if (o.candidates < 1 || o.candidates > 64) throw Error("candidates must be in 1..64");
    if (o.diversitySamples == 1 || o.diversitySamples < 0) throw Error("diversity needs at least 2 samples (0: off)");
    if (o.compareSteps < -1) throw Error("the comparison sampler's steps must be >= 0");
    if (!o.compareSampler.empty() && o.compareSteps < 0) throw Error("a comparison sampler needs compareSteps >= 0");
    for (int b : o.timingBatchSizes)
        if (b < 1) throw Error("timing batch sizes must be >= 1");
    if (o.training && o.training->empty()) throw Error("memorisation needs training volumes");
    if (o.sampler.size != Dims{0, 0, 0})
        throw Error("the evaluation's plain passes run at the training size (largeSize for larger)");
}

Evaluation3dReport header(const Generator3D& model, const std::vector<Volume>& heldOut, const Evaluation3dOptions& o) {
    Evaluation3dReport r;
    const auto& c = model.config();
    r.model = model.metadata().name;
    r.data = o.data;
    r.split = heldOutSplit(heldOut);
    r.device = model.device();
    r.n = heldOut.size();
    r.batch = o.sampler.batch;
    r.samplerLabel = samplerLabel(o.sampler, c.timesteps);  // refuses a bad sampler before the slow parts
    if (o.compareSteps >= 0) {
        auto other = o.sampler;
        other.sampler = o.compareSampler.empty() ? o.sampler.sampler : o.compareSampler;
        if (other.sampler != "ddim") other.eta = 0.0;
        other.steps = o.compareSteps;
        (void)samplerLabel(other, c.timesteps);
    }
    if (o.largeSize != Dims{0, 0, 0}) (void)generationSize(c.vae, o.largeSize);  // refused before the slow parts
    r.steps = o.sampler.steps == 0 ? c.timesteps : o.sampler.steps;
    r.sampler = familyOf(o.sampler);
    r.guidance = o.sampler.guidance;
    r.ddpmVariance = o.sampler.posteriorVariance ? "posterior" : "beta";
    r.minPhaseFraction = o.minPhaseFraction;
    r.conditions = c.conditions;
    r.outputs = c.outputs;
    return r;
}

}  // namespace

// ---- public -----------------------------------------------------------------------

SeamCorrelation seamCorrelation(const Volume& volume, const std::vector<int>& startsX, const std::vector<int>& startsY,
                                int maxLag) {
    const Dims d = volume.dims();
    if (maxLag < 1 || maxLag >= std::min(d.nx, d.ny)) throw Error("the seam correlation's lag must be in 1..side - 1");
    const auto toBorderX = distanceToBorder(d.nx, startsX), toBorderY = distanceToBorder(d.ny, startsY);
    const auto lags = std::size_t(maxLag);
    std::vector<double> hitsAcross(lags, 0.0), pairsAcross(lags, 0.0), hitsInside(lags, 0.0), pairsInside(lags, 0.0);
    const auto& labels = volume.labels();
    for (int r = 1; r <= maxLag; ++r)
        for (int z = 0; z < d.nz; ++z)
            for (int y = 0; y < d.ny; ++y)
                for (int x = 0; x < d.nx; ++x) {
                    const bool donor = labels[volume.index(x, y, z)] == Donor;
                    // Along x, then along y: the pair (p, p + r), wrapped.
                    for (const bool alongX : {true, false}) {
                        const bool across = (alongX ? toBorderX[std::size_t(x)] : toBorderY[std::size_t(y)]) <= r;
                        const std::size_t q =
                            alongX ? volume.index((x + r) % d.nx, y, z) : volume.index(x, (y + r) % d.ny, z);
                        const double both = donor && labels[q] == Donor ? 1.0 : 0.0;
                        (across ? hitsAcross : hitsInside)[std::size_t(r - 1)] += both;
                        (across ? pairsAcross : pairsInside)[std::size_t(r - 1)] += 1.0;
                    }
                }
    SeamCorrelation s;
    for (std::size_t i = 0; i < lags; ++i) {
        s.across.push_back(pairsAcross[i] > 0 ? hitsAcross[i] / pairsAcross[i] : kNaN);
        s.inside.push_back(pairsInside[i] > 0 ? hitsInside[i] / pairsInside[i] : kNaN);
    }
    return s;
}

Agreement agreement(const std::vector<double>& target, const std::vector<double>& achieved) {
    Agreement a;
    a.count = std::min(target.size(), achieved.size());
    if (a.count == 0) return a;
    const std::vector<double> t(target.begin(), target.begin() + long(a.count)),
        v(achieved.begin(), achieved.begin() + long(a.count));
    double mae = 0.0;
    for (std::size_t i = 0; i < a.count; ++i) mae += std::fabs(t[i] - v[i]) / double(a.count);
    a.mae = mae;
    a.r2 = squaredPearson(t, v);
    a.determination = coefficientOfDetermination(t, v);
    return a;
}

std::vector<Volume> selectSamples(std::vector<Volume> volumes, std::size_t count, double minPhaseFraction) {
    auto kept = withMinority(std::move(volumes), minPhaseFraction);
    std::vector<Volume> out;
    for (std::size_t i : evenlySpaced(kept.size(), count)) out.push_back(std::move(kept[i]));
    return out;
}

std::vector<Volume> readSelectedSamples(const std::string& path, std::size_t count, double minPhaseFraction,
                                        const std::string& filterName) {
    auto selected = selectSamples(io::readSamples(path), count, minPhaseFraction);
    if (selected.empty())
        throw Error("no samples in " + path +
                    (minPhaseFraction > 0.0 ? " above " + filterName + " " + csvNumber(minPhaseFraction) : ""));
    return selected;
}

std::string heldOutSplit(const std::vector<Volume>& heldOut) {
    std::set<std::string> splits;
    std::size_t training = 0;
    for (const auto& v : heldOut) {
        splits.insert(sampleSplit(v));
        training += sampleSplit(v) == "train";
    }
    if (training > 0)
        throw Error("the held-out data hold " + std::to_string(training) + " of " + std::to_string(heldOut.size()) +
                    " samples of the train split; evaluate reads validation or test samples only");
    if (splits.size() > 1) return "mixed";
    return splits.empty() || splits.begin()->empty() ? "unknown" : *splits.begin();
}

Evaluation3dReport evaluateGenerator3d(const Generator3D& model, const std::vector<Volume>& heldOut,
                                       const Evaluation3dOptions& options, ProgressToken* progress) {
    checkOptions(options, heldOut);
    auto r = header(model, heldOut, options);
    auto volumes = heldOut;  // the conditions may be described onto them
    r.targets = targetsOf(volumes, r.conditions, options.describeMissing);
    const Context c{model, options, r.targets, progress};
    if (options.featurePredictor) {
        report(progress, 0.0, "feature predictor");
        featurePredictor(model, volumes, r);
    }
    std::vector<Volume> roundTrips;  // kept for the memorisation measure only
    if (options.reconstruction) {
        report(progress, 0.03, "VAE round trip");
        r.reconstruction =
            measureReconstruction(c, volumes, options.training && options.generation ? &roundTrips : nullptr);
    }
    if (!options.generation) {
        report(progress, 1.0, "evaluated (round trip only)");
        return r;
    }
    std::vector<Volume> generated;
    r.plain = generationPass(c, 1, 0.05, 0.35, options.training ? &generated : nullptr);
    r.targetStd = targetSpread(c, r.plain);
    if (options.training) r.memorisation = measureMemorisation(c, generated, volumes, roundTrips, 0.35, 0.45);
    generated.clear();
    volumes.clear();
    roundTrips.clear();
    if (options.candidates > 1)
        r.screened = ScreenedFit{options.candidates, options.tolerance,
                                 generationPass(c, options.candidates, 0.45, 0.7, nullptr)};
    if (options.compareSteps >= 0) r.comparison = compareSamplers(c, r.plain, 0.7, 0.75);
    if (options.largeSize != Dims{0, 0, 0}) r.large = measureLarge(c, r.plain, 0.75, 0.8);
    const auto fixed = meanTarget(c);
    if (options.diversitySamples > 0) r.diversity = measureDiversity(c, fixed, 0.8, 0.85);
    r.timing = timingRows(c, fixed, 0.85, 1.0);
    report(progress, 1.0, "evaluated");
    return r;
}

// ---- generation for given targets ------------------------------------------

std::vector<NamedValues> randomTargets(const Generator3D& model, std::size_t count,
                                       const std::map<std::string, std::pair<double, double>>& ranges,
                                       std::uint64_t seed) {
    std::map<std::string, std::pair<double, double>> bounds;
    for (const auto& r : model.conditionRanges()) bounds[r.name] = {r.min, r.max};
    for (const auto& [name, range] : ranges) {
        if (!bounds.count(name)) throw Error("--range: unknown condition '" + name + "' (see generate --info)");
        bounds[name] = range;
    }
    std::mt19937_64 random(seed);
    std::vector<NamedValues> targets;
    for (std::size_t i = 0; i < count; ++i) {
        NamedValues target;
        for (const auto& name : model.config().conditions) {
            const auto [lo, hi] = bounds.at(name);
            target[name] = lo + (hi - lo) * std::uniform_real_distribution<double>(0.0, 1.0)(random);
        }
        targets.push_back(std::move(target));
    }
    return targets;
}

std::vector<NamedValues> targetsFromSamples(const Generator3D& model, std::vector<Volume> samples, std::size_t count,
                                            bool describeMissing, const std::string& source) {
    if (samples.empty()) throw Error("no samples in " + source);
    std::vector<NamedValues> targets;
    for (std::size_t index : evenlySpaced(samples.size(), count == 0 ? samples.size() : count)) {
        NamedValues target;
        for (const auto& name : model.config().conditions) {
            const auto value = conditionOf(samples[index], name, describeMissing);
            if (!value)
                throw Error(source + ": sample " + std::to_string(index) + " lacks condition '" + name +
                            "' (--describe computes missing descriptors)");
            target[name] = *value;
        }
        targets.push_back(std::move(target));
    }
    return targets;
}

TargetFeasibility checkFeasibility(const Generator3D& model, const std::vector<NamedValues>& targets) {
    TargetFeasibility f;
    f.feasible.assign(targets.size(), true);
    std::map<NamedValues, bool> checked;  // distinct targets: feasible?
    for (std::size_t i = 0; i < targets.size(); ++i) {
        auto it = checked.find(targets[i]);
        if (it == checked.end()) {
            auto report = model.feasibility(targets[i]);
            it = checked.emplace(targets[i], report.feasible).first;
            if (!report.feasible) f.firstOutside.emplace_back(i, std::move(report));
        }
        f.feasible[i] = it->second;
        f.outside += it->second ? 0 : 1;
    }
    return f;
}

void describeGenerated(std::vector<Volume>& volumes, int phases) {
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    descriptors::Options d;
    d.phases = phases;
    const auto measured = descriptors::describeBatch(volumes, d);
    for (std::size_t i = 0; i < volumes.size(); ++i) descriptors::storeAsAttributes(measured[i], volumes[i]);
#else
    (void)volumes;
    (void)phases;
#endif
}

void finishGenerated(std::vector<Volume>& volumes, const Generator3D& model, const TargetFeasibility& feasibility,
                     bool describe) {
    if (describe) describeGenerated(volumes, model.config().vae.phases);
    const bool known = model.trainingConditions().size() > 0;
    for (std::size_t i = 0; i < volumes.size(); ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "sample_%06zu", i);
        volumes[i].text["sample"] = name;
        if (known && i < feasibility.feasible.size())
            volumes[i].attributes["target_feasible"] = feasibility.feasible[i] ? 1.0 : 0.0;
    }
}

std::vector<TimingRow> timeBatchSizes(const Generator3D& model, const std::vector<int>& batchSizes, int steps) {
    GenerateOptions o;
    o.steps = steps;
    o.guidance = 2.0;
    o.batch = 1;
    if (!batchSizes.empty()) model.generate(NamedValues{}, 1, o);  // warm-up (allocator, kernels)
    std::vector<TimingRow> rows;
    for (int batch : batchSizes) {
        GenerateTiming t;
        o.batch = batch;
        o.timing = &t;
        model.generate(NamedValues{}, batch, o);
        rows.push_back({batch, t.denoiseSeconds / double(batch), t.decodeSeconds / double(batch)});
    }
    return rows;
}

std::vector<LargeTimingRow> timeLargeVolumes(const Generator3D& model, const Dims& size, GenerateOptions sampler,
                                             int repeats) {
    if (repeats < 1) throw Error("timing needs at least one repeat");
    const Dims training = model.config().vae.dims, large = generationSize(model.config().vae, size);
    sampler.batch = 1;
    sampler.candidates = 1;
    sampler.size = Dims{0, 0, 0};
    model.generate(NamedValues{}, 1, sampler);  // warm-up (allocator, kernels)
    const auto timed = [&](const char* label, Dims at, LargeVolumeMethod method) {
        sampler.size = at;
        sampler.largeMethod = method;
        std::vector<double> seconds;
        std::size_t windows = 1;
        for (int i = 0; i < repeats; ++i) {
            const auto start = std::chrono::steady_clock::now();
            const auto volumes = model.generate(NamedValues{}, 1, sampler);
            seconds.push_back(secondsSince(start));
            windows =
                std::size_t(volumes.at(0).attributes.count("windows") ? volumes[0].attributes.at("windows") : 1.0);
        }
        std::sort(seconds.begin(), seconds.end());
        LargeTimingRow row{label, at, windows, seconds[seconds.size() / 2]};
        row.secondsPerVoxel = row.secondsPerSample / double(at.count());
        return row;
    };
    std::vector<LargeTimingRow> rows{timed("training size", training, LargeVolumeMethod::Whole),
                                     timed("whole", large, LargeVolumeMethod::Whole),
                                     timed("windows", large, LargeVolumeMethod::Windows)};
    for (auto& row : rows) row.voxelCostRatio = row.secondsPerVoxel / rows.front().secondsPerVoxel;
    return rows;
}

// --- The mixed band (level output) and the mixed offset (class output) ----------------

const MixedBandCandidate& MixedBandChoice::chosen() const {
    for (const auto& c : candidates)
        if (c.low == low && c.high == high && c.offset == offset) return c;
    throw Error("the chosen mixed band is not among the candidates");
}

std::string MixedBandChoice::criterion() const {
    const std::string what =
        classes ? fmt::format("mixed offset {:+g}", offset) : fmt::format("[{:g}, {:g})", low, high);
    std::string line = fmt::format(
        "{}: the highest least round-trip coefficient of determination over the conditions (ties within {:g}: the "
        "highest mean) on {} validation volumes of {} (least R^2 det. {:.3f}, mean {:.3f}, least R^2 {:.3f}, M "
        "fraction {:.4f} vs {:.4f} in the originals",
        what, kMixedBandTie, volumes, data.empty() ? std::string("the held-out data") : data,
        chosen().leastDetermination, chosen().meanDetermination, chosen().leastR2, chosen().mixedFraction,
        targetMixedFraction);
    for (const auto& c : candidates)
        if (classes ? c.offset == 0.0 : (c.low == 0.25 && c.high == 0.75))
            line += fmt::format("; {} {:.3f}, {:.3f}, M fraction {:.4f}",
                                classes ? "the plain argmax (offset 0):" : "the nearest level [0.25, 0.75):",
                                c.leastDetermination, c.leastR2, c.mixedFraction);
    return line + ")";
}

std::string MixedBandChoice::table() const {
    if (candidates.empty()) return {};
    std::string text = fmt::format("{:<12} {:<9} {:<9} {:<9} {:<7}", classes ? "offset" : "band", "least det",
                                   "mean det", "least R^2", "M frac");
    for (const auto& [name, r2] : candidates.front().r2) text += fmt::format(" {:>15}", name);
    text += "\n";
    for (const auto& c : candidates) {
        const std::string label =
            classes ? fmt::format("{:+.2f}", c.offset) : fmt::format("[{:.2f},{:.2f})", c.low, c.high);
        text += fmt::format("{:<12} {:<9.3f} {:<9.3f} {:<9.3f} {:<7.4f}", label, c.leastDetermination,
                            c.meanDetermination, c.leastR2, c.mixedFraction);
        for (const auto& [name, r2] : c.r2) text += fmt::format(" {:6.3f} / {:6.3f}", r2, c.determination.at(name));
        text += "\n";
    }
    return text;
}

namespace {

// The validation volumes' conditions (described where missing) and mean M fraction.
struct MixedPhaseTargets {
    std::vector<NamedValues> values;
    double mixedFraction = 0.0;
};

MixedPhaseTargets mixedPhaseTargets(const Generator3D& model, const std::vector<Volume>& validation) {
    if (model.config().vae.phases != 3) throw Error("the mixed band is chosen for 3-phase models only");
    const std::string split = heldOutSplit(validation);
    if (split != "val")
        throw Error("the mixed band is chosen on the validation split only; these samples are split '" + split + "'");
    MixedPhaseTargets t;
    std::vector<Volume> originals = validation;
    t.values.resize(originals.size());
    for (std::size_t i = 0; i < originals.size(); ++i) {
        for (const auto& name : model.config().conditions) {
            const auto value = conditionOf(originals[i], name, true);
            t.values[i][name] = value ? *value : kNaN;
        }
        t.mixedFraction += originals[i].volumeFraction(Mixed) / double(originals.size());
    }
    return t;
}

// The figures of round trips labelled one way: per condition R^2 and
// determination against the targets, their least and mean, the M fraction.
void scoreLabelling(MixedBandCandidate& c, const std::vector<Volume>& labelled, const MixedPhaseTargets& targets,
                    const Generator3D& model) {
    for (const auto& v : labelled) c.mixedFraction += v.volumeFraction(Mixed) / double(labelled.size());
    const auto measured = measure(labelled, model);
    c.leastR2 = c.leastDetermination = std::numeric_limits<double>::infinity();
    const auto worst = [](double value) { return std::isnan(value) ? -1e300 : value; };
    for (const auto& name : model.config().conditions) {
        std::vector<double> t, a;
        finitePairs(targets.values, measured, name, t, a);
        const auto g = agreement(t, a);
        c.r2[name] = g.r2;
        c.determination[name] = g.determination;
        c.leastR2 = std::min(c.leastR2, worst(g.r2));
        c.leastDetermination = std::min(c.leastDetermination, worst(g.determination));
    }
    c.meanDetermination = 0.0;
    for (const auto& [name, value] : c.determination)
        c.meanDetermination += worst(value) / double(c.determination.size());
}

// The highest least determination; within kMixedBandTie of it, the highest
// mean (a choice that costs the other conditions little), then the nearest
// default by `distance`.
template <class Distance>
const MixedBandCandidate& pickMixedCandidate(const std::vector<MixedBandCandidate>& candidates, Distance distance) {
    double best = -std::numeric_limits<double>::infinity();
    for (const auto& c : candidates) best = std::max(best, c.leastDetermination);
    const MixedBandCandidate* chosen = nullptr;
    for (const auto& c : candidates)
        if (c.leastDetermination >= best - kMixedBandTie &&
            (!chosen || c.meanDetermination > chosen->meanDetermination ||
             (c.meanDetermination == chosen->meanDetermination && distance(c) < distance(*chosen))))
            chosen = &c;
    return *chosen;
}

void reportMixedProgress(ProgressToken* progress, std::size_t done, std::size_t total) {
    if (!progress) return;
    progress->throwIfCancelled();
    progress->report(double(done) / double(total), "mixed band");
}

}  // namespace

MixedBandChoice chooseMixedBand3d(const Generator3D& model, const std::vector<Volume>& validation,
                                  const std::vector<double>& lows, const std::vector<double>& highs,
                                  ProgressToken* progress) {
    if (model.config().vae.classOutput() && model.config().vae.phases == 3)
        throw Error("this model's VAE outputs one channel per phase: choose its mixed offset, not a band");
    if (lows.empty() || highs.empty()) throw Error("choosing the mixed band needs at least one low and one high");
    for (double l : lows)
        for (double h : highs)
            if (!(l > 0 && l < h && h < 1))
                throw Error(fmt::format("mixed band [{:g}, {:g}) does not satisfy 0 < low < high < 1", l, h));
    const auto targets = mixedPhaseTargets(model, validation);
    MixedBandChoice choice;
    choice.volumes = validation.size();
    choice.targetMixedFraction = targets.mixedFraction;
    auto rebuilt = model.reconstruct(validation);  // decoded fields, once
    Vae3dConfig band = model.config().vae;
    for (double low : lows)
        for (double high : highs) {
            band.mixedLow = low;
            band.mixedHigh = high;
            for (auto& v : rebuilt) {
                const auto& field = v.field();
                for (std::size_t k = 0; k < field.size(); ++k) v.labels()[k] = band.threePhaseLabel(field[k]);
            }
            MixedBandCandidate c;
            c.low = low;
            c.high = high;
            scoreLabelling(c, rebuilt, targets, model);
            choice.candidates.push_back(std::move(c));
            reportMixedProgress(progress, choice.candidates.size(), lows.size() * highs.size());
        }
    const auto& chosen = pickMixedCandidate(choice.candidates, [](const MixedBandCandidate& c) {
        return std::abs(c.low - 0.25) + std::abs(c.high - 0.75);
    });
    choice.low = chosen.low;
    choice.high = chosen.high;
    return choice;
}

MixedBandChoice chooseMixedOffset3d(const Generator3D& model, const std::vector<Volume>& validation,
                                    const std::vector<double>& offsets, ProgressToken* progress) {
    if (!model.config().vae.classOutput())
        throw Error("this model's VAE has one level channel: choose its mixed band, not an offset");
    if (offsets.empty()) throw Error("choosing the mixed offset needs at least one offset");
    for (double o : offsets)
        if (!(std::abs(o) <= Vae3dConfig::kMaxMixedOffset))
            throw Error(fmt::format("mixed offset {:g} is outside [-20, 20]", o));
    const auto targets = mixedPhaseTargets(model, validation);
    MixedBandChoice choice;
    choice.classes = true;
    choice.volumes = validation.size();
    choice.targetMixedFraction = targets.mixedFraction;
    const auto margins = model.reconstructMixedMargins(validation);  // decoded once
    auto labelled = margins;
    Vae3dConfig labelling = model.config().vae;
    for (double offset : offsets) {
        labelling.mixedOffset = offset;  // the decoder's rule (Vae3dConfig::mixedLabel)
        for (std::size_t i = 0; i < margins.size(); ++i) {
            const auto& margin = margins[i].field();
            for (std::size_t k = 0; k < margin.size(); ++k)
                labelled[i].labels()[k] = labelling.mixedLabel(margin[k], Phase(margins[i].labels()[k]));
        }
        MixedBandCandidate c;
        c.offset = offset;
        scoreLabelling(c, labelled, targets, model);
        choice.candidates.push_back(std::move(c));
        reportMixedProgress(progress, choice.candidates.size(), offsets.size());
    }
    choice.offset =
        pickMixedCandidate(choice.candidates, [](const MixedBandCandidate& c) { return std::abs(c.offset); }).offset;
    return choice;
}

void recordMixedBandChoice(Generator3D& model, const MixedBandChoice& choice) {
    if (choice.classes) model.setMixedOffset(choice.offset);
    else model.setMixedBand(choice.low, choice.high);
    auto& training = model.metadata().training;
    if (!training.is_object()) training = Json::object();
    if (!training.contains("choices") || !training["choices"].is_object()) training["choices"] = Json::object();
    training["choices"][choice.classes ? "mixed_offset" : "mixed_band"] = choice.criterion();
}

}  // namespace ms::ml
