// microstudio-cli dataset: build (sweep -> runs -> snapshots -> thresholds ->
// descriptors -> HDF5), sharded and resumable, merge and subset; from-volume
// is in cmd_dataset_volume.cpp.
#ifdef MICROSTUDIO_HAVE_JOBS
#include <cstdio>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "subcommands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/jobs/dataset_builder.hpp"

namespace ms::cli {

namespace {

// The options of `dataset build`, bound to the library's settings (their
// defaults shown in --help).
Options buildOptions(jobs::DatasetConfig& c, jobs::BuildOptions& b) {
    Options o("dataset build [OPTIONS] -o FOLDER",
              "Sweeps (phi, chi), runs Cahn-Hilliard for each point, thresholds every snapshot, computes the "
              "descriptors and writes FOLDER/train.h5, val.h5 and (with --test) test.h5 (MicroGen3D layout; split by "
              "run; the `split` attribute of every sample names its split) plus FOLDER/manifest.json (every "
              "parameter, run list, code version). With --phases 2,3 every snapshot is thresholded both ways into "
              "FOLDER/2phase/ and FOLDER/3phase/. Held-out runs are built first. Rerun the same command after a "
              "kill: finished runs are kept, unfinished ones resume from their checkpoints.");
    o.text("size", "NXxNY[xNZ]", "grid").def(c.dims.str());
    o.text("sampling", "grid|lhs", "(phi, chi) grid or Latin hypercube").choices({"grid", "lhs"}).to(c.sampling);
    o.text("phi", "MIN:MAX", "phi range (or one value)").note(formatNumber(c.phiMin) + ":" + formatNumber(c.phiMax));
    o.text("chi", "MIN:MAX", "chi range (or one value)").note(formatNumber(c.chiMin) + ":" + formatNumber(c.chiMax));
    o.integer("phi-count", "N", "grid points along phi").atLeast(1).to(c.phiCount);
    o.integer("chi-count", "N", "grid points along chi").atLeast(1).to(c.chiCount);
    o.integer("repeats", "N", "grid: runs (seeds) per point").atLeast(1).to(c.repeats);
    o.integer("runs", "N", "lhs: number of runs").atLeast(1).to(c.runs);
    o.integer("seed", "S", "sweep seed (per-run seeds derive from it)").atLeast(0).to(c.seed);
    o.number("kappa", "K", "solver: gradient energy coefficient").to(c.kappa);
    o.number("mobility", "M", "solver: mobility").to(c.mobility);
    o.number("noise", "A", "solver: noise amplitude").to(c.noise);
    o.number("time", "T", "end time of each run").above(0).to(c.endTime);
    o.number("first-time", "T0", "first snapshot time").above(0).to(c.firstTime);
    o.integer("snapshots", "K", "(candidate) snapshots per run, log-spaced in time").atLeast(1).to(c.snapshots);
    o.integer("keep-snapshots", "M",
              "keep at most M, log-spaced from the onset of phase separation (skips the near-uniform early "
              "snapshots; 0 = all)")
        .atLeast(0)
        .to(c.keepSnapshots);
    o.number("onset-amplitude", "A", "onset: the field's standard deviation reaches A").to(c.onsetAmplitude);
    o.number("max-change", "D", "accuracy of the time axis").to(c.maxChange);
    o.text("phases", "2|3|2,3", "thresholding(s)").choices({"2", "3", "2,3"}).def("2");
    o.text("descriptors", "", "per-snapshot descriptors").choices({"graspi", "basic", "none"}).to(c.descriptors);
    o.flag("periodic-descriptors", "GraSPI periodic side walls").to(c.periodicDescriptors);
    o.number("validation", "F", "fraction of runs in val.h5").atLeast(0).below(1).to(c.validationFraction);
    o.number("test", "F", "fraction of runs in test.h5 (read only by evaluate)").atLeast(0).below(1).to(c.testFraction);
    o.flag("field", "also store the continuous field").to(c.keepField);
    o.text("shard", "I/N", "build only runs with index % N == I (no merge; run `dataset merge`)");
    o.flag("no-merge", "do not write train.h5/val.h5 at the end");
    o.text("splits", "train,val",
           "build only the runs of these splits (no merge; e.g. training runs for a pilot first); the same command "
           "without it completes the set");
    o.threads("runs in parallel, 0 = every core").to(b.threads);
    o.flag("json", "print a JSON report");
    o.text("output", "FOLDER", "dataset folder (required)").shortName('o');
    return o;
}

std::vector<int> parsePhaseList(const std::string& text) {
    if (text == "2" || text == "3") return {std::stoi(text)};
    if (text == "2,3") return {2, 3};
    throw Error("--phases expects 2, 3 or 2,3, got '" + text + "'");
}

// --phi / --chi: "MIN:MAX" or one value.
void readRange(const Args& args, const std::string& name, double& lo, double& hi) {
    if (!args.has(name)) return;
    const std::string text = *args.value(name);
    char rest = 0;
    if (std::sscanf(text.c_str(), "%lf:%lf%c", &lo, &hi, &rest) != 2) {
        if (std::sscanf(text.c_str(), "%lf%c", &lo, &rest) != 1)
            throw Error("--" + name + " expects MIN:MAX or one value, got '" + text + "'");
        hi = lo;
    }
}

int datasetBuild(const CommandArgs& argv) {
    jobs::DatasetConfig c;
    jobs::BuildOptions options;
    const auto parsed = buildOptions(c, options).parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("output")) throw Error("missing -o FOLDER (see --help)");
    c.dims = parseDims(args.text("size"));
    readRange(args, "phi", c.phiMin, c.phiMax);
    readRange(args, "chi", c.chiMin, c.chiMax);
    c.phases = parsePhaseList(args.text("phases"));
    if (args.has("shard")) std::tie(options.shardIndex, options.shardCount) = jobs::parseShard(*args.value("shard"));
    options.merge = !args.flag("no-merge");
    options.splits = splitList(args.value("splits", ""));
    const std::string folder = *args.value("output");

    const auto r =
        withProgressBar("dataset", true, [&](ProgressToken* t) { return jobs::buildDataset(c, folder, options, t); });
    if (args.flag("json")) {
        const Json summary{{"folder", folder},
                           {"runs_total", r.runsTotal},
                           {"runs_in_shard", r.runsInShard},
                           {"runs_built", r.runsBuilt},
                           {"runs_skipped", r.runsSkipped},
                           {"runs_without_onset", r.runsWithoutOnset},
                           {"samples_written", r.samples},
                           {"merged", r.merged},
                           {"seconds", r.seconds}};
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
    Options declared("dataset merge FOLDER [SHARD_FOLDER ...]",
                     "Writes FOLDER/train.h5, val.h5 (and test.h5) from the finished runs in FOLDER/parts and in the "
                     "parts of each SHARD_FOLDER (built with the same settings: manifests must match). The result "
                     "equals a single-process build, sample by sample.");
    declared.text("splits", "test,val",
                  "merge only these splits: needs only their runs finished (the held-out files while the training "
                  "runs are still building)");
    declared.flag("finished-only",
                  "merge the finished runs, skip unfinished ones (a partial file for a pilot; rerun without it once "
                  "the build is done)");
    declared.flag("json", "print a JSON report");
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(1, 1000, "FOLDER [SHARD_FOLDER ...]");
    std::vector<std::filesystem::path> extra(args.positionals().begin() + 1, args.positionals().end());
    const auto splits = splitList(args.value("splits", ""));
    const long n = withProgressBar("merge", false, [&](ProgressToken* t) {
        return jobs::mergeDataset(args.positionals()[0], extra, t, splits, args.flag("finished-only"));
    });
    if (args.flag("json")) std::cout << jsonText(Json{{"folder", args.positionals()[0]}, {"samples", n}}) << "\n";
    else std::printf("merged %ld samples into the splits of %s\n", n, args.positionals()[0].c_str());
    return 0;
}

int datasetSubset(const CommandArgs& argv) {
    Options declared("dataset subset IN.h5 -n N [--min-phase-fraction F] -o OUT.h5",
                     "Writes N samples of IN.h5, evenly spaced over those whose rarer of donor and acceptor covers at "
                     "least F, with their names and attributes (split included), compressed. E.g. the test subset "
                     "shipped beside a model:\n\n"
                     "  microstudio-cli dataset subset DATA/2phase/test.h5 -n 64 -o "
                     "resources/models/gen3d-ch2/heldout-test.h5");
    declared.integer("count", "N", "samples written").atLeast(1).def(64).shortName('n');
    declared.number("min-phase-fraction", "F", "the rarer phase covers at least F (the generators' training filter)")
        .atLeast(0)
        .below(0.5)
        .def(0.01);
    declared.text("output", "OUT.h5", "the subset (required)").shortName('o');
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(1, 1, "IN.h5");
    if (!args.has("output")) throw Error("missing -o OUT.h5 (see --help)");
    const long count = args.integer("count");
    const double minPhase = args.number("min-phase-fraction");
    const long n = withProgressBar("subset", false, [&](ProgressToken* t) {
        return jobs::writeSubset(args.positionals()[0], *args.value("output"), std::size_t(count), minPhase, t);
    });
    std::printf("wrote %ld samples of %s to %s\n", n, args.positionals()[0].c_str(), args.value("output")->c_str());
    return 0;
}

}  // namespace

int cmdDataset(const CommandArgs& argv) {
    static const SubcommandSet actions{
        "dataset",
        "dataset action",
        {"dataset build [OPTIONS] -o FOLDER", "dataset merge FOLDER [SHARD_FOLDER ...]",
         "dataset subset IN.h5 -n N -o OUT.h5",
         "dataset from-volume VOLUME --size NXxNY --stride S [--depth NZ] -o FOLDER"},
        "",
        {{"build", "Cahn-Hilliard sweep over (phi, chi) -> snapshots -> thresholds -> descriptors -> HDF5",
          datasetBuild},
         {"merge", "join the parts of a sharded build into train.h5 / val.h5 / test.h5", datasetMerge},
         {"subset", "N evenly spaced two-phase samples of a file (e.g. a shipped test subset)", datasetSubset},
         {"from-volume", "windows of your own volume (.tif, .npy, .vti, ...) -> a dataset, split by position",
          datasetFromVolume}},
        "Each has --help.",
    };
    return actions.run(argv);
}

}  // namespace ms::cli
#endif
