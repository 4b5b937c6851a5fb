#include "microstudio/jobs/dataset_builder.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <numeric>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/subsample.hpp"
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/jobs/snapshot.hpp"

namespace fs = std::filesystem;

namespace ms::jobs {

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
double unit(std::uint64_t& state) { return double(splitmix64(state) >> 11) * 0x1.0p-53; }
// Fisher-Yates with our own generator: the same permutation everywhere.
void shuffle(std::vector<int>& v, std::uint64_t& state) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[std::size_t(splitmix64(state) % i)]);
}

std::string partName(int run) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "run_%06d", run);
    return buf;
}

std::string phaseSuffix(const std::vector<int>& phaseSets, int phases) {
    return phaseSets.size() == 1 ? "" : "_" + std::to_string(phases) + "phase";
}

// A run's finished samples for one thresholding.
fs::path partPath(const fs::path& folder, const std::vector<int>& phaseSets, int run, int phases) {
    return folder / "parts" / (partName(run) + phaseSuffix(phaseSets, phases) + ".h5");
}

bool runFinished(const fs::path& folder, const std::vector<int>& phaseSets, int run) {
    return std::all_of(phaseSets.begin(), phaseSets.end(),
                       [&](int phases) { return fs::exists(partPath(folder, phaseSets, run, phases)); });
}

fs::path mergedFolderOf(const fs::path& folder, const std::vector<int>& phaseSets, int phases) {
    return phaseSets.size() == 1 ? folder : folder / (std::to_string(phases) + "phase");
}

const std::vector<std::string>& splitNames() {
    static const std::vector<std::string> names{"train", "val", "test"};
    return names;
}

double fieldStandardDeviation(const std::vector<float>& field) {
    double sum = 0.0, sumSquares = 0.0;
    for (float c : field) {
        sum += c;
        sumSquares += double(c) * c;
    }
    const double n = double(field.size()), mean = sum / n;
    return std::sqrt(std::max(0.0, sumSquares / n - mean * mean));
}

// The onset index survives a kill in the run's work folder (-1: not reached yet).
int readOnset(const fs::path& work) {
    std::ifstream in(work / "onset.txt");
    int onset = -1;
    if (in && !(in >> onset)) throw Error((work / "onset.txt").string() + ": not a snapshot index");
    return onset;
}

void writeOnset(const fs::path& work, int onset) {
    writeAtomically(work / "onset.txt", [&](const fs::path& temp) {
        std::ofstream out(temp);
        out << onset << "\n";
        out.close();
        if (!out) throw Error("cannot write " + (work / "onset.txt").string());
    });
}

void checkConfig(const DatasetConfig& c) {
    if (c.dims.nx < 8 || c.dims.ny < 8) throw Error("dataset grid must be at least 8x8, got " + c.dims.str());
    if (!(c.phiMin > 0 && c.phiMax < 1 && c.phiMin <= c.phiMax))
        throw Error("phi range must lie in (0, 1) with min <= max");
    if (!(c.chiMin >= 0 && c.chiMin <= c.chiMax)) throw Error("chi range must have 0 <= min <= max");
    if (c.sampling == "grid") {
        if (c.phiCount < 1 || c.chiCount < 1 || c.repeats < 1) throw Error("grid counts and repeats must be >= 1");
    } else if (c.sampling == "lhs") {
        if (c.runs < 1) throw Error("a Latin hypercube needs runs >= 1");
    } else {
        throw Error("sampling must be 'grid' or 'lhs', got '" + c.sampling + "'");
    }
    if (c.phases.empty() || c.phases.size() > 2 || (c.phases.size() == 2 && c.phases[0] == c.phases[1]) ||
        std::any_of(c.phases.begin(), c.phases.end(), [](int p) { return p != 2 && p != 3; }))
        throw Error("phases must be 2, 3 or 2,3");
    if (!(c.validationFraction >= 0 && c.validationFraction < 1)) throw Error("validation fraction must lie in [0, 1)");
    if (!(c.testFraction >= 0 && c.validationFraction + c.testFraction < 1))
        throw Error("test fraction must lie in [0, 1 - validation fraction)");
    if (c.keepSnapshots < 0) throw Error("kept snapshots must be >= 0 (0 = all)");
    if (c.keepSnapshots > 0 && !(c.onsetAmplitude > 0)) throw Error("onset amplitude must be > 0");
    if (c.descriptors != "graspi" && c.descriptors != "basic" && c.descriptors != "none")
        throw Error("descriptors must be graspi, basic or none");
    if (!(c.endTime > 0 && c.firstTime > 0 && c.firstTime <= c.endTime)) throw Error("need 0 < first time <= end time");
    if (c.snapshots < 1) throw Error("snapshots must be >= 1");
}

// Manifest without its code_version: what must match between shards and
// reruns. Compared as values, so 1 and 1.0 (older manifests) are equal.
Json comparable(Json manifest) {
    if (manifest.is_object()) manifest.erase("code_version");
    return manifest;
}

// Writes (or checks) folder/manifest.json.
void ensureManifest(const fs::path& folder, const Json& manifest) {
    fs::create_directories(folder / "parts");
    const fs::path path = folder / "manifest.json";
    if (fs::exists(path)) {
        if (comparable(readJsonFile(path)) != comparable(manifest))
            throw Error(folder.string() +
                        " holds a dataset with other settings (manifest.json differs); use another folder");
        return;
    }
    writeJsonFile(manifest, path);
}

struct ManifestRun {
    int run = 0;
    std::string split;
};

std::vector<ManifestRun> manifestRuns(const Json& manifest) {
    const Json& list = memberAt(manifest, "runs");
    if (!list.is_array()) throw Error("manifest.json: 'runs' is not a list");
    std::vector<ManifestRun> runs;
    for (const Json& item : list) {
        const double run = numberAt(item, "run");
        if (run != std::floor(run) || run < 0 || run > 2147483647.0)
            throw Error("manifest.json has a malformed run number " + jsonText(item, -1));
        const std::string split = stringAt(item, "split");
        if (std::find(splitNames().begin(), splitNames().end(), split) == splitNames().end())
            throw Error("manifest.json names an unknown split '" + split + "' for run " + std::to_string(int(run)));
        runs.push_back({int(run), split});
    }
    return runs;
}

// The thresholdings a manifest records ("phases": [2, 3]).
std::vector<int> manifestPhases(const Json& manifest) {
    const Json& config = memberAt(manifest, "config");
    if (!config.contains("phases")) throw Error("manifest.json records no phases");
    std::vector<int> phases;
    for (double p : numbersAt(config, "phases")) phases.push_back(int(p));
    return phases;
}

}  // namespace

std::pair<int, int> parseShard(const std::string& text) {
    // Digits only, checked for size before they become ints (sscanf's %d
    // wrapped 4294967297 to 1 and accepted 0/99999999999).
    const std::size_t slash = text.find('/');
    auto number = [&](const std::string& digits, const char* what) -> long long {
        if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos)
            throw Error("--shard must be I/N with 0 <= I < N (whole numbers), got '" + text + "'");
        const long long v = std::stoll(digits);
        if (v > 2147483647LL)
            throw Error("--shard " + text + ": " + what + " " + digits + " is too large (at most 2147483647)");
        return v;
    };
    if (slash == std::string::npos)
        throw Error("--shard must be I/N with 0 <= I < N (whole numbers), got '" + text + "'");
    const long long i = number(text.substr(0, slash), "I");
    const long long n = number(text.substr(slash + 1), "N");
    if (n < 1) throw Error("--shard " + text + ": N must be at least 1");
    if (i >= n) throw Error("--shard " + text + ": I must be below N (shards are numbered 0 to N-1)");
    return {int(i), int(n)};
}

std::vector<RunSpec> planRuns(const DatasetConfig& c) {
    checkConfig(c);
    std::vector<RunSpec> runs;
    std::uint64_t state = c.seed * 0x2545F4914F6CDD1Dull + 17;
    auto lerp = [](double a, double b, double t) { return a + (b - a) * t; };
    if (c.sampling == "grid") {
        for (int i = 0; i < c.phiCount; ++i)
            for (int j = 0; j < c.chiCount; ++j)
                for (int r = 0; r < c.repeats; ++r) {
                    RunSpec s;
                    s.phi = c.phiCount == 1 ? 0.5 * (c.phiMin + c.phiMax)
                                            : lerp(c.phiMin, c.phiMax, double(i) / (c.phiCount - 1));
                    s.chi = c.chiCount == 1 ? 0.5 * (c.chiMin + c.chiMax)
                                            : lerp(c.chiMin, c.chiMax, double(j) / (c.chiCount - 1));
                    runs.push_back(s);
                }
    } else {
        // Latin hypercube: one sample in each of `runs` strata per axis, strata paired by a random permutation.
        std::vector<int> phiOrder(std::size_t(c.runs)), chiOrder(std::size_t(c.runs));
        std::iota(phiOrder.begin(), phiOrder.end(), 0);
        std::iota(chiOrder.begin(), chiOrder.end(), 0);
        shuffle(phiOrder, state);
        shuffle(chiOrder, state);
        for (int k = 0; k < c.runs; ++k) {
            RunSpec s;
            s.phi = lerp(c.phiMin, c.phiMax, (phiOrder[std::size_t(k)] + unit(state)) / c.runs);
            s.chi = lerp(c.chiMin, c.chiMax, (chiOrder[std::size_t(k)] + unit(state)) / c.runs);
            runs.push_back(s);
        }
    }
    for (std::size_t k = 0; k < runs.size(); ++k) {
        runs[k].index = int(k);
        runs[k].seed = splitmix64(state) % 1000000007ull + 1;  // exact in a double attribute
    }
    // Split by run: a seeded shuffle; the first round(fraction * n) runs (at
    // least one) are validation, the next ones test, the rest train.
    std::vector<int> order(runs.size());
    std::iota(order.begin(), order.end(), 0);
    shuffle(order, state);
    auto count = [&](double fraction) {
        const std::size_t n = std::size_t(std::lround(fraction * double(runs.size())));
        return fraction > 0 && n == 0 ? std::size_t(1) : n;
    };
    const std::size_t nVal = runs.size() < 2 ? 0 : count(c.validationFraction), nTest = count(c.testFraction);
    if (nTest > 0 && nVal + nTest >= runs.size())
        throw Error("a test split needs more runs: " + std::to_string(runs.size()) +
                    " cannot hold validation, test and training runs");
    for (std::size_t k = 0; k < nVal + nTest && k < order.size(); ++k)
        runs[std::size_t(order[k])].split = k < nVal ? "val" : "test";
    return runs;
}

namespace {

Json manifestConfig(const DatasetConfig& c) {
    const physics::StepControl solver;  // the builder uses the default step control besides max_change
    const physics::CahnHilliardParams physicsDefaults;
    return Json{{"dims", c.dims.str()},
                {"sampling", c.sampling},
                {"phi_min", c.phiMin},
                {"phi_max", c.phiMax},
                {"phi_count", c.phiCount},
                {"chi_min", c.chiMin},
                {"chi_max", c.chiMax},
                {"chi_count", c.chiCount},
                {"runs", c.runs},
                {"repeats", c.repeats},
                {"seed", c.seed},
                {"kappa", c.kappa},
                {"mobility", c.mobility},
                {"noise", c.noise},
                {"end_time", c.endTime},
                {"first_time", c.firstTime},
                {"snapshots", c.snapshots},
                {"keep_snapshots", c.keepSnapshots},
                {"onset_amplitude", c.onsetAmplitude},
                {"max_change", c.maxChange},
                {"dt_initial", solver.dtInitial},
                {"dt_max", solver.dtMax},
                {"dt_growth", solver.growth},
                {"log_epsilon", physicsDefaults.logEpsilon},
                {"threshold_2_phase", 0.5},
                {"phases", c.phases},
                {"beta", c.threePhase.beta},
                {"max_mixed", c.threePhase.maxMixedFraction},
                {"descriptors", c.descriptors},
                {"periodic_descriptors", c.periodicDescriptors},
                {"field", c.keepField},
                {"validation_fraction", c.validationFraction},
                {"test_fraction", c.testFraction}};
}

}  // namespace

Json manifestJson(const DatasetConfig& c) {
    Json runs = Json::array();
    for (const auto& r : planRuns(c))
        runs.push_back(Json{{"run", r.index}, {"phi", r.phi}, {"chi", r.chi}, {"seed", r.seed}, {"split", r.split}});
    return Json{{"format", "microstudio-dataset 1"},
                {"generator", "microstudio cahn-hilliard (FFTW spectral)"},
                {"code_version", std::string(MICROSTUDIO_VERSION) + " (git " + MICROSTUDIO_GIT_COMMIT + ")"},
                {"config", manifestConfig(c)},
                {"runs", runs}};
}

std::vector<int> keptSnapshots(int candidates, int onset, int keep) {
    std::vector<int> kept;
    if (keep <= 0) onset = 0;
    if (onset < 0 || onset >= candidates) return kept;
    const int available = candidates - onset;
    if (keep == 1) return {candidates - 1};
    if (keep <= 0 || available <= keep) {
        for (int i = onset; i < candidates; ++i) kept.push_back(i);
        return kept;
    }
    for (int j = 0; j < keep; ++j)
        kept.push_back(onset + int(std::lround(double(j) * double(available - 1) / double(keep - 1))));
    return kept;
}

fs::path mergedFolder(const DatasetConfig& config, const fs::path& folder, int phases) {
    return mergedFolderOf(folder, config.phases, phases);
}

DescriptorFunction descriptorFunction(const DatasetConfig& config, int phases) {
    if (config.descriptors == "none") return [](const Volume&) { return std::map<std::string, double>{}; };
    if (config.descriptors == "basic")
        return [](const Volume& v) {
            std::map<std::string, double> out{{"vol_frac_D", v.volumeFraction(Donor)},
                                              {"vol_frac_A", v.volumeFraction(Acceptor)}};
            if (v.phaseCount() == 3 || v.volumeFraction(Mixed) > 0) out["vol_frac_M"] = v.volumeFraction(Mixed);
            return out;
        };
    descriptors::Options options;
    options.periodic = config.periodicDescriptors;
    options.phases = phases;
    return [options](const Volume& v) {
        std::map<std::string, double> out;
        for (const auto& e : descriptors::describe(v, options).all())
            if (std::isfinite(e.value)) out[e.name] = e.value;
        return out;
    };
}

namespace {

// One run: simulate, keep the snapshots from the onset, threshold each kept
// snapshot every configured way, describe, and write one part per thresholding.
struct RunBuilder {
    const DatasetConfig& config;
    const fs::path& folder;
    const BuildOptions& options;
    std::map<int, DescriptorFunction> describe;  // per phase count
    std::mutex& hdf5Mutex;

    physics::RunPlan plan() const {
        physics::RunPlan p;
        p.endTime = config.endTime;
        p.firstTime = config.firstTime;
        p.snapshots = config.snapshots;
        return p;
    }

    std::string snapshotFile(int index, int phases) const {
        return snapshotName(index) + phaseSuffix(config.phases, phases) + ".h5";
    }

    void writeSnapshot(const RunSpec& spec, const fs::path& work, const physics::SnapshotInfo& info,
                       const physics::CahnHilliardSolver& solver) const {
        for (int phases : config.phases) {
            Volume v = snapshotVolume(info, solver, phases, config.keepField, config.threePhase);
            for (const auto& [name, value] : describe.at(phases)(v)) v.attributes[name] = value;
            v.attributes["run"] = spec.index;
            v.attributes["snapshot"] = info.index;
            v.text["split"] = spec.split;
            v.text["sample"] = runSnapshotName(spec.index, info.index);
            std::lock_guard<std::mutex> lock(hdf5Mutex);
            io::writeHdf5({v}, work / snapshotFile(info.index, phases));
        }
    }

    // Returns the samples written (kept snapshots x thresholdings); -1 when the run never reached the onset.
    long build(const RunSpec& spec, ProgressToken* token) const {
        const fs::path work = folder / "work" / partName(spec.index);
        fs::create_directories(work);
        physics::CahnHilliardParams params;
        params.dims = config.dims;
        params.phi = spec.phi;
        params.chi = spec.chi;
        params.kappa = config.kappa;
        params.mobility = config.mobility;
        params.noise = config.noise;
        params.seed = spec.seed;
        physics::StepControl control;
        control.maxChange = config.maxChange;
        physics::Checkpointing checkpointing;
        checkpointing.path = work / "run.ckpt";
        checkpointing.everySeconds = options.checkpointEverySeconds;
        int onset = config.keepSnapshots > 0 ? readOnset(work) : 0;
        std::vector<int> kept = keptSnapshots(config.snapshots, onset, config.keepSnapshots);
        auto onSnapshot = [&](const physics::SnapshotInfo& info, const physics::CahnHilliardSolver& solver) {
            if (onset < 0) {
                if (fieldStandardDeviation(solver.fieldAsFloat()) < config.onsetAmplitude) return;
                onset = info.index;
                writeOnset(work, onset);  // before returning: the next checkpoint counts this snapshot as done
                kept = keptSnapshots(config.snapshots, onset, config.keepSnapshots);
            }
            if (std::binary_search(kept.begin(), kept.end(), info.index)) writeSnapshot(spec, work, info, solver);
        };
        physics::runCahnHilliard(params, control, plan(), onSnapshot, checkpointing, token, 1);
        std::unique_lock<std::mutex> ioLock(hdf5Mutex);
        for (int phases : config.phases)
            writeAtomically(partPath(folder, config.phases, spec.index, phases), [&](const fs::path& temp) {
                io::Hdf5Appender out(temp, true);
                for (int i : kept)
                    out.append(runSnapshotName(spec.index, i),
                               io::readHdf5Sample(work / snapshotFile(i, phases), runSnapshotName(spec.index, i)));
            });
        ioLock.unlock();
        fs::remove_all(work);
        return onset < 0 ? -1 : long(kept.size() * config.phases.size());
    }
};

}  // namespace

BuildReport buildDataset(const DatasetConfig& config, const fs::path& folder, const BuildOptions& options,
                         ProgressToken* progress) {
    const auto start = std::chrono::steady_clock::now();
    if (options.shardCount < 1 || options.shardIndex < 0 || options.shardIndex >= options.shardCount)
        throw Error("shard index must lie in [0, shard count)");
    const auto runs = planRuns(config);
    ensureManifest(folder, manifestJson(config));
    std::mutex mutex;
    // HDF5's C library serialises itself, but its C++ wrappers are not
    // documented thread-safe: runs on different threads take turns for I/O.
    std::mutex hdf5Mutex;
    RunBuilder builder{config, folder, options, {}, hdf5Mutex};
    for (int phases : config.phases)
        builder.describe[phases] = options.descriptors ? options.descriptors : descriptorFunction(config, phases);

    BuildReport report;
    report.runsTotal = int(runs.size());
    std::vector<RunSpec> todo;
    for (const auto& split : options.splits)
        if (std::find(splitNames().begin(), splitNames().end(), split) == splitNames().end())
            throw Error("unknown split '" + split + "' (train, val or test)");
    const auto wanted = [&](const RunSpec& r) {
        return options.splits.empty() ||
               std::find(options.splits.begin(), options.splits.end(), r.split) != options.splits.end();
    };
    for (const auto& r : runs) {
        if (r.index % options.shardCount != options.shardIndex || !wanted(r)) continue;
        ++report.runsInShard;
        if (runFinished(folder, config.phases, r.index)) ++report.runsSkipped;
        else todo.push_back(r);
    }
    // Held-out runs first (test, then validation): a build stopped part-way already has its held-out data.
    auto rank = [](const RunSpec& r) { return r.split == "test" ? 0 : r.split == "val" ? 1 : 2; };
    std::stable_sort(todo.begin(), todo.end(), [&](const RunSpec& a, const RunSpec& b) { return rank(a) < rank(b); });
    std::vector<double> fractions(todo.size(), 0.0);
    auto overall = [&] {
        double sum = double(report.runsSkipped);
        for (double f : fractions) sum += f;
        return report.runsInShard ? sum / report.runsInShard : 1.0;
    };
    auto buildRun = [&](std::size_t k) {
        const RunSpec& spec = todo[k];
        // Each run gets its own token; it forwards overall progress and the shared cancel.
        ProgressToken runToken;
        runToken.setListener([&](double fraction, const std::string&) {
            std::lock_guard<std::mutex> lock(mutex);
            fractions[k] = fraction;
            if (progress) {
                if (progress->cancelled()) runToken.cancel();
                progress->report(overall(), "run " + std::to_string(spec.index) + " (phi " +
                                                std::to_string(spec.phi).substr(0, 5) + ", chi " +
                                                std::to_string(spec.chi).substr(0, 5) + ")");
            }
        });
        const long written = builder.build(spec, &runToken);
        std::lock_guard<std::mutex> lock(mutex);
        fractions[k] = 1.0;
        if (written < 0) ++report.runsWithoutOnset;
        else report.samples += written;
        ++report.runsBuilt;
    };
    parallelFor(todo.size(), buildRun, options.threads);
    std::error_code ignored;
    fs::remove(folder / "work", ignored);  // only when empty
    if (options.merge && options.shardCount == 1 && options.splits.empty()) {
        mergeDataset(folder, {}, progress);
        report.merged = true;
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

long mergeDataset(const fs::path& folder, const std::vector<fs::path>& extraFolders, ProgressToken* progress,
                  const std::vector<std::string>& onlySplits, bool finishedOnly) {
    for (const auto& split : onlySplits)
        if (std::find(splitNames().begin(), splitNames().end(), split) == splitNames().end())
            throw Error("unknown split '" + split + "' (train, val or test)");
    auto wanted = [&](const std::string& split) {
        return onlySplits.empty() || std::find(onlySplits.begin(), onlySplits.end(), split) != onlySplits.end();
    };
    const Json manifest = readJsonFile(folder / "manifest.json");
    for (const auto& other : extraFolders)
        if (comparable(readJsonFile(other / "manifest.json")) != comparable(manifest))
            throw Error(other.string() + " was built with other settings than " + folder.string() +
                        " (manifest.json differs)");
    // A manifest that parses but lacks a key: say which file.
    std::vector<ManifestRun> runs;
    std::vector<int> phaseSets;
    try {
        runs = manifestRuns(manifest);
        phaseSets = manifestPhases(manifest);
    } catch (const Error& e) {
        throw Error((folder / "manifest.json").string() + ": " + e.what());
    }
    if (runs.empty()) throw Error(folder.string() + "/manifest.json lists no runs");
    // The folder holding each run's parts (all its thresholdings sit together).
    std::vector<fs::path> partFolders;
    std::string missing;
    int missingCount = 0;
    std::vector<fs::path> candidates{folder};
    candidates.insert(candidates.end(), extraFolders.begin(), extraFolders.end());
    for (const auto& r : runs) {
        if (!wanted(r.split)) {
            partFolders.emplace_back();
            continue;
        }
        const auto found = std::find_if(candidates.begin(), candidates.end(),
                                        [&](const fs::path& dir) { return runFinished(dir, phaseSets, r.run); });
        if (found == candidates.end() && ++missingCount <= 5)
            missing += (missing.empty() ? "" : ", ") + std::to_string(r.run);
        partFolders.push_back(found == candidates.end() ? fs::path() : *found);
    }
    if (missingCount && !finishedOnly)
        throw Error("cannot merge: " + std::to_string(missingCount) + " of " + std::to_string(runs.size()) +
                    " runs are not finished (runs " + missing + (missingCount > 5 ? ", ..." : "") + ")");
    long written = 0;
    const double files = double(phaseSets.size() * splitNames().size());
    int fileIndex = 0;
    for (int phases : phaseSets) {
        const fs::path outFolder = mergedFolderOf(folder, phaseSets, phases);
        fs::create_directories(outFolder);
        for (const auto& split : splitNames()) {
            const fs::path out = outFolder / (split + ".h5");
            ++fileIndex;
            if (!wanted(split)) continue;
            if (std::none_of(runs.begin(), runs.end(), [&](const ManifestRun& r) { return r.split == split; })) {
                std::error_code ignored;
                fs::remove(out, ignored);
                continue;
            }
            writeAtomically(out, [&](const fs::path& temp) {
                io::Hdf5Appender appender(temp, true);
                for (std::size_t k = 0; k < runs.size(); ++k) {
                    if (runs[k].split != split || partFolders[k].empty()) continue;
                    const fs::path part = partPath(partFolders[k], phaseSets, runs[k].run, phases);
                    for (const auto& name : io::hdf5SampleNames(part)) {
                        appender.append(name, io::readHdf5Sample(part, name));
                        ++written;
                    }
                    if (progress)
                        progress->report((fileIndex - 1 + double(k + 1) / double(runs.size())) / files,
                                         "merging " + out.string());
                }
            });
        }
    }
    return written;
}

long writeSubset(const fs::path& input, const fs::path& output, std::size_t count, double minPhaseFraction,
                 ProgressToken* progress) {
    if (count < 1) throw Error("a subset needs at least 1 sample");
    const auto names = io::hdf5SampleNames(input);
    std::vector<std::string> eligible;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (minPhaseFraction <= 0.0 || minorityFraction(io::readHdf5Sample(input, names[i])) >= minPhaseFraction)
            eligible.push_back(names[i]);
        if (progress) progress->report(0.8 * double(i + 1) / double(names.size()), "filtering " + input.string());
    }
    if (eligible.empty())
        throw Error(input.string() + ": no sample has both phases above " + std::to_string(minPhaseFraction));
    const auto picked = evenlySpaced(eligible.size(), count);
    writeAtomically(output, [&](const fs::path& temp) {
        io::Hdf5Appender out(temp, true);
        for (std::size_t k = 0; k < picked.size(); ++k) {
            const std::string& name = eligible[picked[k]];
            out.append(name, io::readHdf5Sample(input, name));
            if (progress)
                progress->report(0.8 + 0.2 * double(k + 1) / double(picked.size()), "writing " + output.string());
        }
    });
    return long(picked.size());
}

}  // namespace ms::jobs
