// microstudio-cli dataset: build (sweep -> runs -> snapshots -> thresholds ->
// descriptors -> HDF5), sharded and resumable, and merge.
#ifdef MICROSTUDIO_HAVE_JOBS
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/jobs/dataset_builder.hpp"
#include "microstudio/jobs/volume_dataset.hpp"

namespace ms::cli {

namespace {


std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> splits;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) splits.push_back(item);
    return splits;
}

std::vector<int> parsePhaseList(const std::string& text) {
    if (text == "2" || text == "3") return {std::stoi(text)};
    if (text == "2,3") return {2, 3};
    throw Error("--phases expects 2, 3 or 2,3, got '" + text + "'");
}

int datasetBuild(const CommandArgs& argv) {
    Args args(argv,
              {"size", "sampling", "phi", "chi", "phi-count", "chi-count", "runs", "repeats", "seed", "kappa", "mobility",
               "noise", "time", "first-time", "snapshots", "keep-snapshots", "onset-amplitude", "max-change", "phases",
               "descriptors", "validation", "test", "shard", "splits",
               "threads", "output"},
              {"json", "field", "periodic-descriptors", "no-merge"});
    if (args.helpRequested()) {
        std::cout <<
            "Usage: microstudio-cli dataset build [OPTIONS] -o FOLDER\n\n"
            "Sweeps (phi, chi), runs Cahn-Hilliard for each point, thresholds every snapshot, computes the\n"
            "descriptors and writes FOLDER/train.h5, val.h5 and (with --test) test.h5 (MicroGen3D layout; split\n"
            "by run; the `split` attribute of every sample names its split) plus FOLDER/manifest.json (every\n"
            "parameter, run list, code version). With --phases 2,3 every snapshot is thresholded both ways\n"
            "into FOLDER/2phase/ and FOLDER/3phase/. Held-out runs are built first. Rerun the same command\n"
            "after a kill: finished runs are kept, unfinished ones resume from their checkpoints.\n\n"
            "Options:\n"
            "  --size NXxNY[xNZ]     grid                                              [101x101]\n"
            "  --sampling grid|lhs   (phi, chi) grid or Latin hypercube                [grid]\n"
            "  --phi MIN:MAX         phi range                                         [0.35:0.65]\n"
            "  --chi MIN:MAX         chi range                                         [2.5:4.0]\n"
            "  --phi-count N         grid points along phi                             [5]\n"
            "  --chi-count N         grid points along chi                             [5]\n"
            "  --repeats N           grid: runs (seeds) per point                      [1]\n"
            "  --runs N              lhs: number of runs                               [25]\n"
            "  --seed S              sweep seed (per-run seeds derive from it)         [1]\n"
            "  --kappa K --mobility M --noise A    solver parameters                  [2, 1, 0.01]\n"
            "  --time T              end time of each run                              [2000]\n"
            "  --first-time T0       first snapshot time                               [1]\n"
            "  --snapshots K         (candidate) snapshots per run, log-spaced in time [400]\n"
            "  --keep-snapshots M    keep at most M, log-spaced from the onset of phase separation\n"
            "                        (skips the near-uniform early snapshots; 0 = all) [0]\n"
            "  --onset-amplitude A   onset: the field's standard deviation reaches A  [0.1]\n"
            "  --max-change D        accuracy of the time axis                         [0.005]\n"
            "  --phases 2|3|2,3      thresholding(s)                                   [2]\n"
            "  --descriptors graspi|basic|none  per-snapshot descriptors               [graspi]\n"
            "  --periodic-descriptors           GraSPI periodic side walls\n"
            "  --validation F        fraction of runs in val.h5                        [0.2]\n"
            "  --test F              fraction of runs in test.h5 (read only by evaluate) [0]\n"
            "  --field               also store the continuous field\n"
            "  --shard I/N           build only runs with index % N == I (no merge; run `dataset merge`)\n"
            "  --no-merge            do not write train.h5/val.h5 at the end\n"
            "  --splits train,val    build only the runs of these splits (no merge; e.g. training runs\n"
            "                        for a pilot first); the same command without it completes the set\n"
            "  --threads N           runs in parallel (0 = every core)                 [0]\n"
            "  --json                print a JSON report\n"
            "  -o, --output FOLDER   dataset folder (required)\n";
        return 0;
    }
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("output")) throw Error("missing -o FOLDER (see --help)");
    auto range = [&](const std::string& name, double& lo, double& hi) {
        if (!args.has(name)) return;
        const std::string text = *args.value(name);
        char rest = 0;
        if (std::sscanf(text.c_str(), "%lf:%lf%c", &lo, &hi, &rest) != 2) {
            if (std::sscanf(text.c_str(), "%lf%c", &lo, &rest) != 1) throw Error("--" + name + " expects MIN:MAX or one value, got '" + text + "'");
            hi = lo;
        }
    };
    jobs::DatasetConfig c;
    c.dims = parseDims(args.value("size", "101x101"));
    c.sampling = args.value("sampling", "grid");
    range("phi", c.phiMin, c.phiMax);
    range("chi", c.chiMin, c.chiMax);
    c.phiCount = int(args.integer("phi-count", 5));
    c.chiCount = int(args.integer("chi-count", 5));
    c.repeats = int(args.integer("repeats", 1));
    c.runs = int(args.integer("runs", 25));
    const long seed = args.integer("seed", 1);
    if (seed < 0) throw Error("--seed must be >= 0");
    c.seed = std::uint64_t(seed);
    c.kappa = args.number("kappa", 2.0);
    c.mobility = args.number("mobility", 1.0);
    c.noise = args.number("noise", 0.01);
    c.endTime = args.number("time", 2000.0);
    c.firstTime = args.number("first-time", 1.0);
    c.snapshots = int(args.integer("snapshots", 400));
    c.maxChange = args.number("max-change", 0.005);
    c.keepSnapshots = int(args.integer("keep-snapshots", 0));
    c.onsetAmplitude = args.number("onset-amplitude", 0.1);
    c.phases = parsePhaseList(args.value("phases", "2"));
    c.descriptors = args.value("descriptors", "graspi");
    c.periodicDescriptors = args.flag("periodic-descriptors");
    c.validationFraction = args.number("validation", 0.2);
    c.testFraction = args.number("test", 0.0);
    c.keepField = args.flag("field");
    jobs::BuildOptions options;
    if (args.has("shard")) std::tie(options.shardIndex, options.shardCount) = jobs::parseShard(*args.value("shard"));
    options.threads = int(args.integer("threads", 0));
    options.merge = !args.flag("no-merge");
    options.splits = splitList(args.value("splits", ""));
    const std::string folder = *args.value("output");

    ProgressToken token;
    ProgressBar bar("dataset");
    token.setListener([&](double f, const std::string& m) { bar.update(f, m); });
    const CancelOnInterrupt interrupt(token);
    const auto r = jobs::buildDataset(c, folder, options, &token);
    bar.finish();
    if (args.flag("json")) {
        const Json summary{{"folder", folder}, {"runs_total", r.runsTotal}, {"runs_in_shard", r.runsInShard},
                           {"runs_built", r.runsBuilt}, {"runs_skipped", r.runsSkipped},
                           {"runs_without_onset", r.runsWithoutOnset}, {"samples_written", r.samples},
                           {"merged", r.merged}, {"seconds", r.seconds}};
        std::cout << jsonText(summary) << "\n";
    } else {
        std::printf("%s: %d of %d runs in this shard built, %d already done, %ld snapshots, %.1f s%s\n", folder.c_str(),
                    r.runsBuilt, r.runsInShard, r.runsSkipped, r.samples, r.seconds,
                    r.merged ? "; merged the splits" : "");
        if (r.runsWithoutOnset)
            std::printf("%d runs never reached the onset amplitude and gave no samples\n", r.runsWithoutOnset);
    }
    return 0;
}

int datasetMerge(const CommandArgs& argv) {
    Args args(argv, {"splits"}, {"json", "finished-only"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli dataset merge FOLDER [SHARD_FOLDER ...]\n\n"
                     "Writes FOLDER/train.h5, val.h5 (and test.h5) from the finished runs in FOLDER/parts and in\n"
                     "the parts of each SHARD_FOLDER (built with the same settings: manifests must match).\n"
                     "The result equals a single-process build, sample by sample.\n"
                     "  --splits test,val   merge only these splits: needs only their runs finished (the\n"
                     "                      held-out files while the training runs are still building)\n"
                     "  --finished-only      merge the finished runs, skip unfinished ones (a partial file for a\n"
                     "                      pilot; rerun without it once the build is done)\n";
        return 0;
    }
    args.requirePositionals(1, 1000, "FOLDER [SHARD_FOLDER ...]");
    std::vector<std::filesystem::path> extra(args.positionals().begin() + 1, args.positionals().end());
    ProgressToken token;
    ProgressBar bar("merge");
    token.setListener([&](double f, const std::string& m) { bar.update(f, m); });
    const auto splits = splitList(args.value("splits", ""));
    const long n = jobs::mergeDataset(args.positionals()[0], extra, &token, splits, args.flag("finished-only"));
    bar.finish();
    if (args.flag("json"))
        std::cout << jsonText(Json{{"folder", args.positionals()[0]}, {"samples", n}}) << "\n";
    else
        std::printf("merged %ld samples into the splits of %s\n", n, args.positionals()[0].c_str());
    return 0;
}

int datasetSubset(const CommandArgs& argv) {
    Args args(argv, {"count", "min-phase-fraction", "output"}, {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli dataset subset IN.h5 -n N [--min-phase-fraction F] -o OUT.h5\n\n"
                     "Writes N samples of IN.h5, evenly spaced over those whose rarer of donor and acceptor\n"
                     "covers at least F (default 0.01: the generators' training filter), with their names and\n"
                     "attributes (split included), compressed. E.g. the test subset shipped beside a model:\n"
                     "  microstudio-cli dataset subset DATA/2phase/test.h5 -n 64 -o resources/models/gen3d-ch2/heldout-test.h5\n";
        return 0;
    }
    args.requirePositionals(1, 1, "IN.h5");
    if (!args.has("output")) throw Error("missing -o OUT.h5 (see --help)");
    const long count = args.integer("count", 64);
    if (count < 1) throw Error("-n must be >= 1");
    const double minPhase = args.number("min-phase-fraction", 0.01);
    if (!(minPhase >= 0.0 && minPhase < 0.5)) throw Error("--min-phase-fraction must be in [0, 0.5)");
    ProgressToken token;
    ProgressBar bar("subset");
    token.setListener([&](double f, const std::string& m) { bar.update(f, m); });
    const long n = jobs::writeSubset(args.positionals()[0], *args.value("output"), std::size_t(count), minPhase, &token);
    bar.finish();
    std::printf("wrote %ld samples of %s to %s\n", n, args.positionals()[0].c_str(), args.value("output")->c_str());
    return 0;
}

// "a, b, c" of the extensions io reads, for --help.
std::string readableExtensions() {
    std::string list;
    for (const auto& ext : io::volumeExtensions()) list += (list.empty() ? "." : ", .") + ext;
    return list;
}

int datasetFromVolume(const CommandArgs& argv) {
    Args args(argv, {"size", "stride", "depth", "descriptors", "validation", "test", "labels", "threads", "output"},
              {"json", "periodic-descriptors"});
    if (args.helpRequested()) {
        std::cout <<
            "Usage: microstudio-cli dataset from-volume VOLUME --size NXxNY [--stride S] [--depth NZ] -o FOLDER\n\n"
            "Cuts a segmented volume of your own (tomography, FIB-SEM; " + readableExtensions() + ")\n"
            "into windows of NXxNY voxels at a stride of S, each spanning the full depth (resized to NZ\n"
            "slices by nearest neighbour with --depth: the paper's experimental recipe is a 466x465x50\n"
            "volume, --size 64x64 --stride 4 --depth 64), describes each window like `dataset build` and\n"
            "writes FOLDER/train.h5, val.h5 and test.h5 (MicroGen3D layout; the `split` attribute names\n"
            "each sample's split) plus FOLDER/manifest.json, ready for train3d, evaluate and the studio's\n"
            "Training tab.\n\n"
            "Split by position, so overlapping windows never straddle two splits: the longer of x and y is\n"
            "cut into equal strips of at least window + stride voxels; the first strips are training, then\n"
            "validation, then test (about 70/15/15, at least one strip each); a window goes to the split\n"
            "whose strips hold all of it, and windows crossing a split border are dropped.\n\n"
            "Options:\n"
            "  --size NXxNY          window size in x and y                            [64x64]\n"
            "  --stride S            step between windows in x and y                   [4]\n"
            "  --depth NZ            resize each window to NZ slices (0: keep)         [0]\n"
            "  --descriptors graspi|basic|none  per-window descriptors                 [graspi]\n"
            "  --periodic-descriptors           GraSPI periodic side walls\n"
            "  --validation F        fraction of strips for val.h5                     [0.15]\n"
            "  --test F              fraction of strips for test.h5 (0: none)          [0.15]\n"
            "  --threads N           windows described in parallel (0 = every core)    [0]\n"
            "  --json                print a JSON report\n"
            "  -o, --output FOLDER   dataset folder (required; not one of `dataset build`)\n"
         << kLabelsHelp;
        return 0;
    }
    args.requirePositionals(1, 1, "VOLUME");
    if (!args.has("output")) throw Error("missing -o FOLDER (see --help)");
    const Dims size = parseDims(args.value("size", "64x64"));
    if (!size.is2D()) throw Error("--size takes NXxNY: windows span the volume's full depth (resize it with --depth)");
    jobs::VolumeDatasetConfig c;
    c.windowX = size.nx;
    c.windowY = size.ny;
    c.stride = int(args.integer("stride", 4));
    c.depth = int(args.integer("depth", 0));
    c.descriptors = args.value("descriptors", "graspi");
    c.periodicDescriptors = args.flag("periodic-descriptors");
    c.validationFraction = args.number("validation", 0.15);
    c.testFraction = args.number("test", 0.15);
    c.threads = int(args.integer("threads", 0));
    const std::string volume = args.positionals()[0], folder = *args.value("output");
    ProgressToken token;
    ProgressBar bar("from-volume");
    token.setListener([&](double f, const std::string& m) { bar.update(f, m); });
    const CancelOnInterrupt interrupt(token);
    const auto r = jobs::buildDatasetFromVolume(volume, folder, c, readOptions(args), &token);
    bar.finish();
    if (args.flag("json")) {
        std::cout << jsonText(Json{{"folder", folder}, {"train", r.train}, {"val", r.val}, {"test", r.test},
                                   {"dropped", r.dropped}, {"window", r.windowDims.str()}, {"seconds", r.seconds}})
                  << "\n";
    } else {
        std::printf("%s: %d train, %d validation, %d test windows of %s (%d crossing a split border dropped), %.1f s\n",
                    folder.c_str(), r.train, r.val, r.test, r.windowDims.str().c_str(), r.dropped, r.seconds);
    }
    return 0;
}

}  // namespace

int cmdDataset(const CommandArgs& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
        std::cout << "Usage: microstudio-cli dataset build [OPTIONS] -o FOLDER\n"
                     "       microstudio-cli dataset merge FOLDER [SHARD_FOLDER ...]\n"
                     "       microstudio-cli dataset subset IN.h5 -n N -o OUT.h5\n"
                     "       microstudio-cli dataset from-volume VOLUME --size NXxNY --stride S [--depth NZ] -o FOLDER\n\n"
                     "build  Cahn-Hilliard sweep over (phi, chi) -> snapshots -> thresholds -> descriptors -> HDF5\n"
                     "merge  join the parts of a sharded build into train.h5 / val.h5 / test.h5\n"
                     "subset N evenly spaced two-phase samples of a file (e.g. a shipped test subset)\n"
                     "from-volume  windows of your own volume (.tif, .npy, .vti, ...) -> a dataset, split by position\n"
                     "Each has --help.\n";
        return argv.empty() ? 2 : 0;
    }
    const CommandArgs rest(argv.begin() + 1, argv.end());
    if (argv[0] == "build") return datasetBuild(rest);
    if (argv[0] == "merge") return datasetMerge(rest);
    if (argv[0] == "subset") return datasetSubset(rest);
    if (argv[0] == "from-volume") return datasetFromVolume(rest);
    throw Error("unknown dataset action '" + argv[0] + "' (build, merge, subset or from-volume)");
}

}  // namespace ms::cli
#endif
