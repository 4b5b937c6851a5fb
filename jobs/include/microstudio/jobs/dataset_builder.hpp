#pragma once
// The Cahn-Hilliard dataset builder: a sweep over (phi, chi) -> runs ->
// snapshots -> thresholds -> descriptors -> HDF5 in the MicroGen3D layout.
//
// Folder layout (OUT):
//   manifest.json         every parameter, the run list (phi, chi, seed,
//                         split) and the code version; deterministic text
//   parts/run_000012.h5   one finished run's samples, written atomically
//   work/run_000012/      a run in progress: snapshots + checkpoint
//   train.h5, val.h5, test.h5   the merged dataset (train / validation /
//                         test split by run, never by snapshot; test.h5 only
//                         with a test fraction)
//   2phase/, 3phase/      the same three files per thresholding when one
//                         build thresholds both ways (parts/run_X_2phase.h5 ...)
// Samples are named "run_000012_snap_000123" and carry phi, chi, time,
// log_time, step, run, ... and the descriptors as attributes.
//
// Killed at any moment, a rerun skips finished parts, resumes runs from their
// checkpoints and rewrites nothing twice. Sharding: shard I of N builds the
// runs with index % N == I (deterministic run list and per-run seeds), into
// the same or separate folders; `mergeDataset` then writes train.h5/val.h5,
// identical in content to a single-process build.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "microstudio/core/json.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/physics/run.hpp"
#include "microstudio/physics/threshold.hpp"

namespace ms::jobs {

struct DatasetConfig {
    Dims dims{101, 101, 1};
    std::string sampling = "grid";  // "grid" or "lhs" (Latin hypercube)
    double phiMin = 0.35, phiMax = 0.65;
    double chiMin = 2.5, chiMax = 4.0;
    int phiCount = 5, chiCount = 5;  // grid
    int runs = 25;                   // lhs
    int repeats = 1;                 // grid: runs (seeds) per (phi, chi) point
    std::uint64_t seed = 1;
    double kappa = 2.0, mobility = 1.0, noise = 0.01;
    double endTime = 2000.0, firstTime = 1.0;
    int snapshots = 400;  // candidate times, log-spaced from firstTime
    // > 0: keep at most this many snapshots, log-spaced from the onset of phase
    // separation (the first candidate whose field standard deviation reaches
    // onsetAmplitude) to endTime; earlier, near-uniform snapshots are skipped.
    int keepSnapshots = 0;
    double onsetAmplitude = 0.1;
    double maxChange = 0.005;
    std::vector<int> phases{2};  // thresholdings of every snapshot: {2}, {3} or {2, 3}
    physics::ThreePhaseOptions threePhase;
    std::string descriptors = "graspi";  // "graspi", "basic" (volume fractions) or "none"
    bool periodicDescriptors = false;
    bool keepField = false;
    double validationFraction = 0.2;
    double testFraction = 0.0;  // runs in test.h5, read only by evaluate
};

// A run's split ("train", "val", "test") is the `split` text of its samples.

struct RunSpec {
    int index = 0;
    double phi = 0.0, chi = 0.0;
    std::uint64_t seed = 0;
    std::string split = "train";
};

// The deterministic run list of a configuration (same config -> same list).
std::vector<RunSpec> planRuns(const DatasetConfig& config);

// Extra per-snapshot attributes (descriptors) for a thresholded volume.
using DescriptorFunction = std::function<std::map<std::string, double>(const Volume&)>;
// The descriptor function a config names ("graspi", "basic", "none") for
// volumes thresholded into `phases` phases.
DescriptorFunction descriptorFunction(const DatasetConfig& config, int phases);

// The candidate snapshots kept when the onset is candidate `onset` of
// `candidates` (log-spaced times): all from the onset when they are at most
// `keep`, else `keep` indices evenly spaced (so log-spaced in time) from the
// onset to the last candidate. keep <= 0: every candidate from 0.
std::vector<int> keptSnapshots(int candidates, int onset, int keep);

// Where the merged files of a thresholding go: folder itself when the build
// has one thresholding, else folder/"2phase" or folder/"3phase".
std::filesystem::path mergedFolder(const DatasetConfig& config, const std::filesystem::path& folder, int phases);

struct BuildOptions {
    int shardIndex = 0, shardCount = 1;
    int threads = 0;    // runs in parallel; 0 = every core
    bool merge = true;  // merge when every run is finished
    double checkpointEverySeconds = 30;
    DescriptorFunction descriptors;   // overrides config.descriptors when set
    std::vector<std::string> splits;  // non-empty: build only runs of these splits (no merge)
};

struct BuildReport {
    int runsTotal = 0, runsInShard = 0, runsBuilt = 0, runsSkipped = 0;
    long samples = 0;          // snapshots written by this call (all thresholdings)
    int runsWithoutOnset = 0;  // keepSnapshots > 0: runs that never phase-separated (no samples)
    bool merged = false;
    double seconds = 0.0;
};

BuildReport buildDataset(const DatasetConfig& config, const std::filesystem::path& folder,
                         const BuildOptions& options = {}, ProgressToken* progress = nullptr);

// Writes train.h5, val.h5 (and test.h5) per thresholding from the parts found in `folder`
// and `extraFolders` (other shards' folders, whose manifests must match).
// Throws naming the missing runs when a part is absent. Returns samples written.
// `splits` non-empty: merge only those splits ("test", "val", "train"), which
// needs only their runs finished (the held-out files while training runs build).
// finishedOnly: merge the finished runs and skip the others (a partial file,
// e.g. for a pilot while the build goes on) instead of refusing.
long mergeDataset(const std::filesystem::path& folder, const std::vector<std::filesystem::path>& extraFolders = {},
                  ProgressToken* progress = nullptr, const std::vector<std::string>& splits = {},
                  bool finishedOnly = false);

// Writes `count` samples of `input` (an HDF5 dataset) to `output`, evenly
// spaced over the samples whose rarer of Donor/Acceptor covers at least
// minPhaseFraction (the generator's training filter), keeping names and
// attributes; compressed HDF5, written atomically. E.g. the small test
// subset shipped beside a model. Returns the samples written.
long writeSubset(const std::filesystem::path& input, const std::filesystem::path& output, std::size_t count,
                 double minPhaseFraction = 0.0, ProgressToken* progress = nullptr);

// The manifest of a configuration (what manifest.json holds).
Json manifestJson(const DatasetConfig& config);

// Parses "I/N" (0 <= I < N).
std::pair<int, int> parseShard(const std::string& text);

}  // namespace ms::jobs
