// microstudio-cli dataset from-volume: a dataset of windows cut from a
// segmented volume of the user's own, split by position.
#ifdef MICROSTUDIO_HAVE_JOBS
#include <cstdio>
#include <iostream>

#include "args.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/jobs/volume_dataset.hpp"
#include "options.hpp"
#include "subcommands.hpp"

namespace ms::cli {

namespace {

// "a, b, c" of the extensions io reads, for --help.
std::string readableExtensions() {
    std::string list;
    for (const auto& ext : io::volumeExtensions()) list += (list.empty() ? "." : ", .") + ext;
    return list;
}

}  // namespace

int datasetFromVolume(const CommandArgs& argv) {
    jobs::VolumeDatasetConfig c;
    Options declared(
        "dataset from-volume VOLUME --size NXxNY [--stride S] [--depth NZ] -o FOLDER",
        "Cuts a segmented volume of your own (tomography, FIB-SEM; " + readableExtensions() +
            ") into windows of NXxNY voxels at a stride of S, each spanning the full depth (resized to NZ slices by "
            "nearest neighbour with --depth: the paper's experimental recipe is a 466x465x50 volume, --size 64x64 "
            "--stride 4 --depth 64), describes each window like `dataset build` and writes FOLDER/train.h5, val.h5 "
            "and test.h5 (MicroGen3D layout; the `split` attribute names each sample's split) plus "
            "FOLDER/manifest.json, ready for train3d, evaluate and the studio's Training tab.\n\n"
            "Split by position, so overlapping windows never straddle two splits: the longer of x and y is cut into "
            "equal strips of at least window + stride voxels; the first strips are training, then validation, then "
            "test (about 70/15/15, at least one strip each); a window goes to the split whose strips hold all of it, "
            "and windows crossing a split border are dropped.");
    declared.text("size", "NXxNY", "window size in x and y")
        .def(std::to_string(c.windowX) + "x" + std::to_string(c.windowY));
    declared.integer("stride", "S", "step between windows in x and y").to(c.stride);
    declared.integer("depth", "NZ", "resize each window to NZ slices (0: keep)").to(c.depth);
    declared.text("descriptors", "", "per-window descriptors").choices({"graspi", "basic", "none"}).to(c.descriptors);
    declared.flag("periodic-descriptors", "GraSPI periodic side walls").to(c.periodicDescriptors);
    declared.number("validation", "F", "fraction of strips for val.h5").atLeast(0).below(1).to(c.validationFraction);
    declared.number("test", "F", "fraction of strips for test.h5 (0: none)").atLeast(0).below(1).to(c.testFraction);
    declared.threads("windows described in parallel, 0 = every core").to(c.threads);
    declared.flag("json", "print a JSON report");
    declared.text("output", "FOLDER", "dataset folder (required; not one of `dataset build`)").shortName('o');
    declared.labels();
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(1, 1, "VOLUME");
    if (!args.has("output")) throw Error("missing -o FOLDER (see --help)");
    const Dims size = parseDims(args.text("size"));
    if (!size.is2D()) throw Error("--size takes NXxNY: windows span the volume's full depth (resize it with --depth)");
    c.windowX = size.nx;
    c.windowY = size.ny;
    const std::string volume = args.positionals()[0], folder = *args.value("output");
    const auto r = withProgressBar("from-volume", true, [&](ProgressToken* t) {
        return jobs::buildDatasetFromVolume(volume, folder, c, readOptions(args), t);
    });
    if (args.flag("json")) {
        std::cout << jsonText(Json{{"folder", folder},
                                   {"train", r.train},
                                   {"val", r.val},
                                   {"test", r.test},
                                   {"dropped", r.dropped},
                                   {"window", r.windowDims.str()},
                                   {"seconds", r.seconds}})
                  << "\n";
    } else {
        std::printf("%s: %d train, %d validation, %d test windows of %s (%d crossing a split border dropped), %.1f s\n",
                    folder.c_str(), r.train, r.val, r.test, r.windowDims.str().c_str(), r.dropped, r.seconds);
    }
    return 0;
}

}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_JOBS
