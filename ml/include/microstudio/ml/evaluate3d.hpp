#pragma once
// How well a 3D generator (MicroGen3D) hits its targets on held-out data:
// the one evaluation behind `microstudio-cli evaluate`, `generate --evaluate`
// and (to come) the studio's Evaluate action. Torch-free; plain values.
//
//   auto heldOut = ms::ml::selectSamples(ms::io::readSamples("heldout-test.h5"), 64, 0.01);
//   ms::ml::Evaluation3dOptions o;          // plain DDIM-50, every part
//   auto report = ms::ml::evaluateGenerator3d(model, heldOut, o);
//   report.plain.r2.at("ABS_f_D");          // squared Pearson, plain sampling
//   std::cout << report.toJson().dump(2);   // the JSON of `evaluate --json`
//
// Plain sampling comes first, always (one draw per target: the model's own
// figure). With candidates > 1 a second, screened pass (K draws per target,
// the one measured nearest the target kept) is reported apart in `screened`:
// it measures a search over draws, not the model. Layout: docs/ml3d.md.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/core/json.hpp"

namespace ms::ml {

// Per name (condition or output); NaN where not computed.
using NamedValues = std::map<std::string, double>;

// Achieved values against their targets.
struct Agreement {
    double r2 = std::nan("");             // squared Pearson (the paper's R^2, Fig. 5)
    double determination = std::nan("");  // 1 - SS_res / SS_tot (penalises bias, may be < 0)
    double mae = std::nan("");            // mean absolute error
    std::size_t count = 0;                // pairs used (the shorter set's size)
};
Agreement agreement(const std::vector<double>& target, const std::vector<double>& achieved);

// Up to `count` of the volumes whose rarer phase fills at least
// `minPhaseFraction` (core/subsample.hpp), evenly spaced; may be empty.
std::vector<Volume> selectSamples(std::vector<Volume> volumes, std::size_t count, double minPhaseFraction);
// selectSamples on the samples of an .h5 file (held-out or training data for
// evaluate, the CLI's and the worker's); ms::Error naming the file when
// none is left ("no samples in PATH above --min-phase-fraction 0.01", the
// filter as the caller names it).
std::vector<Volume> readSelectedSamples(const std::string& path, std::size_t count, double minPhaseFraction,
                                        const std::string& filterName = "the phase-fraction filter");

// defaultHeldOutData, trainingMinPhaseFraction, kShippedHeldOut: generator_card.hpp.

// The split of held-out samples (sampleSplit, splits.hpp): their common
// value ("val", "test"), "mixed", or "unknown" when none carries one.
// Throws ms::Error (one line) when any sample belongs to the train split.
std::string heldOutSplit(const std::vector<Volume>& heldOut);

// A CSV cell: %.6g, empty for NaN.
std::string csvNumber(double value);

struct Evaluation3dOptions {
    // Sampler of every pass: steps, eta, guidance, seed, batch (the R^2
    // passes), posteriorVariance. Its candidates, tolerance, progress and
    // timing are not read.
    GenerateOptions sampler = [] {
        GenerateOptions o;
        o.steps = 50;
        return o;
    }();
    int candidates = 1;            // > 1: the screened second pass, K draws per target
    double tolerance = 0.0;        // its stopping distance (GenerateOptions::tolerance)
    bool describeMissing = false;  // compute conditions missing from the held-out attributes
    // Parts beyond plain target vs measured (always run).
    bool featurePredictor = true;  // the predictor's R^2 on the held-out attributes
    bool reconstruction = true;    // VAE round trip
    // false: only the feature predictor and the round trip (a VAE study:
    // no sampling, so no R^2 passes, memorisation, diversity or timing).
    bool generation = true;
    int diversitySamples = 8;                               // samples at one fixed target; 0: no diversity
    std::vector<int> timingBatchSizes{1, 2, 4, 8, 16, 32};  // empty: no timing
    // Not 0x0x0: a pass at this size (GenerateOptions::size; the plain passes
    // stay at the training size) on the plain targets: LargeVolumeReport.
    Dims largeSize{0, 0, 0};
    std::size_t largeCount = 0;  // its targets, evenly spaced (0: all)
    int compareSteps = -1;       // >= 0: a second sampler on the plain targets (0 = DDPM-T)
    // The second sampler's name ("ddim", "dpmpp", "ddpm"); empty: the main
    // one's (sampler.sampler). Its eta is the main one's for "ddim", else 0.
    std::string compareSampler;
    std::size_t compareCount = 0;  // its targets, evenly spaced (0: all)
    // Memorisation against these training volumes (already subsampled,
    // selectSamples); null: not measured. Needs the descriptors library.
    const std::vector<Volume>* training = nullptr;
    // Recorded in the report only.
    std::string data;               // the held-out file
    std::string trainingData;       // the training file
    double minPhaseFraction = 0.0;  // the filter selectSamples applied
};

// One generation pass against the held-out targets.
struct TargetFit {
    NamedValues r2, determination, mae, described;  // per condition; described: targets measured
    std::vector<NamedValues> measured;              // per target (NaN: not described)
    std::vector<double> draws;                      // per target: candidates drawn (1 plain)
    double secondsPerSample = 0.0;                  // denoise + decode (+ describing draws)
    double drawsPerSample() const;
};

struct ScreenedFit {
    int candidates = 1;
    double tolerance = 0.0;
    TargetFit fit;
};

struct ReconstructionReport {
    NamedValues r2;  // measured round trip vs the originals' descriptors
    // The same pairs' 1 - SS_res / SS_tot (sees bias, which r2 does not) and MAE.
    NamedValues determination, mae;
    double voxelAccuracy = 0.0;
    std::vector<double> voxelAccuracyByZ;  // per z-slice; their mean is voxelAccuracy
    std::vector<NamedValues> measured;     // per target
};

struct DiversityReport {
    NamedValues target;  // the held-out targets' mean
    int samples = 0;
    NamedValues std;                     // of each measured condition over the samples
    double meanVoxelDisagreement = 0.0;  // fraction of differing voxels, mean over pairs
};

struct TimingRow {
    int batch = 0;
    double denoiseSecondsPerSample = 0.0, decodeSecondsPerSample = 0.0;
};

// A second sampler on a subset of the plain targets, same seed and batch.
struct SamplerComparison {
    int steps = 0;
    std::string sampler;                   // "ddim", "dpmpp" or "ddpm"
    std::string label;                     // as the volumes record it: "dpmpp2m-16", "ddim-50", "ddpm-1000"
    std::vector<std::size_t> subset;       // indices into the targets
    std::vector<NamedValues> measured;     // per subset entry
    NamedValues r2, r2Main, r2Difference;  // other sampler, main sampler (same targets), main - other
    std::map<std::string, std::vector<double>> r2DifferenceCi95;  // [low, high]; empty below 3 targets
    double secondsPerSample = 0.0, mainSecondsPerSample = 0.0;
    double speedup = 0.0;  // main / other seconds per sample: > 1 when the compared sampler is faster
};

// Donor two-point correlation S2(r), r = 1..maxLag voxels, along x and y
// (periodic pairs), split into pairs that cross a window border (a plane
// just before one of the starts, windowStarts) and pairs that do not.
struct SeamCorrelation {
    std::vector<double> across, inside;  // index r - 1
};
SeamCorrelation seamCorrelation(const Volume& volume, const std::vector<int>& startsX, const std::vector<int>& startsY,
                                int maxLag);

// Volumes larger than the training box (issue 24) against the same model
// at the training size in the same run.
struct LargeVolumeReport {
    Dims size;
    LargeVolumeMethod method = LargeVolumeMethod::Windows;
    std::size_t windows = 0;              // latent windows per volume (Whole: 1)
    std::vector<std::size_t> subset;      // indices into the targets
    TargetFit fit;                        // one large volume per subset target
    NamedValues r2Training, maeTraining;  // the plain (training-size) pass on the same targets
    NamedValues maeRatio;                 // large MAE / training-size MAE
    // Seams: per volume RMS over r of S2 across borders - S2 inside, its mean;
    // against the RMS difference of S2 inside between independent volumes
    // (mean over pairs). seamless: seamDifference <= sampleSpread.
    int maxLag = 0;
    std::vector<double> s2Across, s2Inside;  // mean over the volumes
    double seamDifference = std::nan(""), sampleSpread = std::nan("");
    bool seamless = false;
    // Denoise + decode seconds per voxel, large and training size, and their ratio.
    double secondsPerVoxel = 0.0, trainingSecondsPerVoxel = 0.0, costRatio = 0.0;
};

struct NearestSummary {
    std::size_t n = 0;
    double min = 0.0, q1 = 0.0, median = 0.0, q3 = 0.0, max = 0.0, mean = 0.0;  // nearest-training disagreement
    double interfaceDensity = 0.0;
    std::vector<double> s2Donor;
};

struct MemorisationReport {
    std::string training;
    std::size_t trainingCount = 0;
    NearestSummary generated, heldOut;
    // The held-out volumes' VAE round trips (when the round trip ran): how
    // near decoding alone, without the diffusion model, puts a volume to the
    // training set, so a generated median below the held-out one can be told
    // apart as the decoder's or the diffusion model's.
    std::optional<NearestSummary> roundTrip;
    double trainingInterfaceDensity = 0.0;
    std::vector<double> trainingS2Donor;
    double s2RmsDifference = 0.0;
    bool generatedNotCloser = false;  // generated median >= held-out median
};

struct Evaluation3dReport {
    std::string model, data, split, device, sampler, ddpmVariance;  // sampler: "ddim", "dpmpp" or "ddpm"
    std::string samplerLabel;  // as the volumes record it: "ddim-50", "dpmpp2m-16", "ddpm-1000"
    std::size_t n = 0;
    int steps = 0;  // the sampler's (T for DDPM)
    int batch = 0;  // samples denoised together in the R^2 passes
    double guidance = 1.0, minPhaseFraction = 0.0;
    std::vector<std::string> conditions, outputs;
    std::vector<NamedValues> targets;
    NamedValues targetStd;                // per condition over the described targets
    TargetFit plain;                      // one draw per target: the model's figure
    std::optional<ScreenedFit> screened;  // candidates > 1
    NamedValues fpR2, fpMae;              // feature predictor, outputs present in the data
    std::optional<ReconstructionReport> reconstruction;
    std::optional<DiversityReport> diversity;
    std::vector<TimingRow> timing;  // the last row is the headline
    std::optional<SamplerComparison> comparison;
    std::optional<LargeVolumeReport> large;  // options.largeSize set (not in toJson yet)
    std::optional<MemorisationReport> memorisation;

    // `evaluate --json`: the keys listed in docs/ml3d.md; NaN as null.
    Json toJson() const;
    // A report read back from toJson() (the ML worker's reply): everything
    // but timing, comparison and large, which it leaves empty. Throws
    // ms::Error naming a missing or mistyped key.
    static Evaluation3dReport fromJson(const Json& json);
    // `evaluate --csv`: header, then one row per target.
    std::vector<std::string> csvRows() const;
    // `evaluate`'s text (and the Design tab's Copy report): every part
    // present as aligned tables, plain sampling first, screened apart.
    std::string text() const;
    // `generate --evaluate`: the feature predictor and target vs measured.
    std::string heldOutCheckText() const;
};

// Evaluates every held-out volume as one target (its condition values).
// ms::Error on train-split samples, missing conditions, an empty set;
// ms::Cancelled through `progress`.
Evaluation3dReport evaluateGenerator3d(const Generator3D& model, const std::vector<Volume>& heldOut,
                                       const Evaluation3dOptions& options, ProgressToken* progress = nullptr);

// ---- The 3-phase decoder's mixed band or offset, chosen on validation -------
// (`evaluate --choose-mixed-band`; Vae3dConfig::mixedLow / mixedHigh for the
// level output, Vae3dConfig::mixedOffset for the class output.)

struct MixedBandCandidate {
    double low = 0.25, high = 0.75;
    double offset = 0.0;            // class output: the mixed class's log offset
    NamedValues r2, determination;  // round trip vs the originals, per condition
    double leastR2 = 0.0, leastDetermination = 0.0, meanDetermination = 0.0;
    double mixedFraction = 0.0;  // mean M fraction of the round trips
};

struct MixedBandChoice {
    std::vector<MixedBandCandidate> candidates;  // every (low, high) pair, lows outer
    double low = 0.25, high = 0.75;              // the chosen one (level output)
    bool classes = false;                        // a class-output model's offsets
    double offset = 0.0;                         // the chosen one (class output)
    double targetMixedFraction = 0.0;            // mean M fraction of the originals
    std::size_t volumes = 0;
    std::string data;  // the validation file (recorded only)
    const MixedBandCandidate& chosen() const;
    std::string criterion() const;  // one line: the band, the rule, the default's and the chosen one's figures
    // Every candidate a row: band or offset, least and mean determination,
    // least R^2, M fraction, then R^2 / R^2 det. per condition (`evaluate
    // --choose-mixed-band` prints it).
    std::string table() const;
};

// Decodes the VAE round trip of every validation volume once, then labels
// the decoded fields with each band (low from `lows`, high from `highs`) and
// measures the conditions: the band with the highest least coefficient of
// determination (1 - SS_res / SS_tot) over the conditions is chosen; bands
// within kMixedBandTie of that least count as tied and the highest mean
// determination over the conditions decides among them (then the nearest
// 0.25 / 0.75). Not the squared Pearson R^2: a band moves
// every sample's fractions one way, a bias that R^2 does not see (measured:
// the widest band raised the least R^2 0.633 -> 0.657 while making 0.24 M
// of volumes holding 0.16).
// ms::Error (one line): a 2-phase model, samples of another split than
// validation, an empty grid or a band outside 0 < low < high < 1.
constexpr double kMixedBandTie = 0.01;
MixedBandChoice chooseMixedBand3d(const Generator3D& model, const std::vector<Volume>& validation,
                                  const std::vector<double>& lows, const std::vector<double>& highs,
                                  ProgressToken* progress = nullptr);
// The class output's analogue: the round trips decoded once
// (Generator3D::reconstructMixedMargins), labelled Mixed where margin +
// offset > 0 for each of `offsets`, chosen by the same rule (ties: the
// offset nearest 0). A class weight that over- or under-produces M (session
// 21: M fraction 0.20 for 0.16) is corrected without retraining.
// ms::Error (one line): a model without the 3-phase class output, another
// split than validation, an empty grid or an offset outside [-20, 20].
MixedBandChoice chooseMixedOffset3d(const Generator3D& model, const std::vector<Volume>& validation,
                                    const std::vector<double>& offsets, ProgressToken* progress = nullptr);
// Sets the model's band (or offset, choice.classes) and writes
// choice.criterion() to metadata().training["choices"]["mixed_band"] (or
// ["mixed_offset"]).
void recordMixedBandChoice(Generator3D& model, const MixedBandChoice& choice);

// ---- Generation for given targets (`microstudio-cli generate`) -------------
// The steps around Generator3D::generate that the CLI and the studio share.

// `count` targets, each condition uniform within its training range
// (conditionRanges) or within ranges[name] where given, drawn from `seed`.
// ms::Error on a range naming a condition the model does not have.
std::vector<NamedValues> randomTargets(const Generator3D& model, std::size_t count,
                                       const std::map<std::string, std::pair<double, double>>& ranges,
                                       std::uint64_t seed);

// The condition values (attributes) of `count` of `samples`, evenly spaced
// (0: all of them), as MicroGen3D does; missing ones described when
// `describeMissing`. ms::Error naming `source` and the sample lacking one.
std::vector<NamedValues> targetsFromSamples(const Generator3D& model, std::vector<Volume> samples, std::size_t count,
                                            bool describeMissing, const std::string& source);

// Targets against the training data's conditions (Generator3D::feasibility),
// each distinct target checked once.
struct TargetFeasibility {
    std::vector<bool> feasible;  // per target
    std::size_t outside = 0;     // targets outside the training data
    // The first index of each distinct target outside, with its report
    // (message(): the distance and the nearest feasible target).
    std::vector<std::pair<std::size_t, FeasibilityReport>> firstOutside;
};
TargetFeasibility checkFeasibility(const Generator3D& model, const std::vector<NamedValues>& targets);

// The generated volumes' descriptors (GraSPI, with the model's phase count:
// a 3-phase sample without mixed voxels keeps 3-phase descriptors) stored as
// attributes, measured in parallel; a no-op without the descriptors library.
void describeGenerated(std::vector<Volume>& volumes, int phases);

// Generated volumes made ready to write: their descriptors measured and
// stored as attributes when `describe` (GraSPI; a no-op without the
// descriptors library), named sample_000000 ..., and target_feasible (1/0)
// where the model carries training conditions.
void finishGenerated(std::vector<Volume>& volumes, const Generator3D& model, const TargetFeasibility& feasibility,
                     bool describe);

// `generate`'s OUT.csv and the Design tab's exported table: the header, then
// one row per volume: sample, seed, target_, measured_ and predicted_ values
// (of the model's `conditions` and `outputs`), feasible, candidates,
// selection_distance; empty cells where a volume lacks a value.
std::vector<std::string> generatedCsvRows(const std::vector<Volume>& volumes,
                                          const std::vector<std::string>& conditions,
                                          const std::vector<std::string>& outputs);

// Seconds per sample of generate(), denoise and decode apart, at each batch
// size (`bench ml3d --batch-sizes`): DDIM-`steps`, guidance 2 (conditional
// and unconditional passes), after one warm-up call.
std::vector<TimingRow> timeBatchSizes(const Generator3D& model, const std::vector<int>& batchSizes, int steps);

// bench ml3d --large: one sample per generate() call at the training size,
// then at `size` by each large-volume method (whole, windows), with
// `sampler`'s settings (its size and method replaced; the target: the
// training mean); each the median wall seconds of `repeats` calls, after
// one training-size warm-up. The machine's load is the caller's to state.
struct LargeTimingRow {
    std::string label;  // "training size", "whole", "windows"
    Dims size;
    std::size_t windows = 1;
    double secondsPerSample = 0.0, secondsPerVoxel = 0.0;
    double voxelCostRatio = 0.0;  // seconds per voxel / the training size's
};
std::vector<LargeTimingRow> timeLargeVolumes(const Generator3D& model, const Dims& size, GenerateOptions sampler,
                                             int repeats);

}  // namespace ms::ml
