// describe: GraSPI descriptors of morphology files.
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/io/io.hpp"

namespace ms::cli {

namespace {

struct Described {
    std::string name;  // file, or file#sample for multi-sample .h5
    descriptors::Result result;
};

// One object per file (NaN descriptors are null); a list for several files.
Json describedJson(const Described& item) {
    const auto& r = item.result;
    Json j{{"file", item.name}, {"phases", r.phases}, {"periodic", r.periodic}, {"descriptors", Json::object()}};
    for (const auto& e : r.all()) j["descriptors"][e.name] = e.value;
    if (!r.s2.empty()) {
        j["s2"] = Json::object();
        for (std::size_t p = 0; p < r.s2.size(); ++p) j["s2"][phaseName(int(p))] = r.s2[p];
    }
    return j;
}

void printJson(const std::vector<Described>& items) {
    Json out = Json::array();
    for (const auto& item : items) out.push_back(describedJson(item));
    std::cout << jsonText(items.size() == 1 ? out.front() : out) << "\n";
}

}  // namespace

int cmdDescribe(const CommandArgs& argv) {
    Options declared(
        "describe [OPTIONS] FILE...",
        "GraSPI morphology descriptors of each FILE (.txt, .vti, .h5, .png, .tif/.tiff or a folder of "
        "TIFF slices, .npy, .dream3d; every sample of a multi-sample .h5). The default output for one file is "
        "GraSPI's own 'NAME value' lines in GraSPI's order and number format; several files give one CSV "
        "row each.");
    declared.flag("periodic", "wrap the sides (x in 2D; x and y in 3D), GraSPI -p 1");
    declared.integer("phases", "2|3", "GraSPI -n").choices({"2", "3"}).note("3 when the file has mixed voxels");
    declared.number("pixel-size", "S", "voxel size, GraSPI -s").above(0).def(1.0);
    declared.text("format", "", "output format")
        .choices({"graspi", "json", "csv"})
        .note("graspi for one file, csv for several");
    declared.flag("extras", "add S2(r), interface area per volume, domain sizes");
    declared.threads(
        "threads, 0 = every core: samples described at once, or for one volume its connected "
        "components and path searches");
    declared.labels();
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    if (args.positionals().empty()) throw Error("describe needs at least one FILE (see --help)");
    descriptors::Options options;
    options.periodic = args.flag("periodic");
    options.extras = args.flag("extras");
    options.phases = int(args.integer("phases", 0));
    options.pixelSize = args.number("pixel-size");
    const long threads = args.integer("threads");

    std::vector<std::string> names;
    std::vector<Volume> volumes;
    const io::ReadOptions readOpts = readOptions(args);
    for (const auto& path : args.positionals()) {
        io::checkReadOptions(path, readOpts);
        if (io::formatOf(path) == io::Format::Hdf5) {
            auto samples = io::readSamples(path);
            for (std::size_t i = 0; i < samples.size(); ++i) {
                const auto it = samples[i].text.find("sample");
                names.push_back(samples.size() == 1
                                    ? path
                                    : path + "#" + (it != samples[i].text.end() ? it->second : std::to_string(i)));
                volumes.push_back(std::move(samples[i]));
            }
        } else {
            names.push_back(path);
            volumes.push_back(io::readVolume(path, readOpts));
        }
    }

    if (volumes.empty()) throw Error("no sample in the given files");  // readSamples refuses an empty file first
    const std::string format = args.value("format", volumes.size() > 1 ? "csv" : "graspi");

    std::vector<descriptors::Result> results;
    if (volumes.size() > 1) {
        results = withProgressBar("describe", false, [&](ProgressToken* t) {
            return descriptors::describeBatch(volumes, options, int(threads), t);
        });
    } else {
        options.threads = int(threads);  // one volume: its passes side by side
        results.push_back(descriptors::describe(volumes[0], options));
    }

    if (format == "csv") {
        std::cout << descriptors::formatCsv(names, results);  // the studio's Describe panel writes the same
        return 0;
    }
    std::vector<Described> items;
    for (std::size_t i = 0; i < results.size(); ++i) items.push_back({names[i], std::move(results[i])});
    if (format == "json") {
        printJson(items);
    } else {
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (items.size() > 1) std::cout << (i ? "\n" : "") << "# " << items[i].name << "\n";
            std::cout << descriptors::formatGraspi(items[i].result);
        }
    }
    return 0;
}

}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_DESCRIPTORS
