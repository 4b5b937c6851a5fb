#include "microstudio/jobs/volume_dataset.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/jobs/dataset_builder.hpp"

namespace fs = std::filesystem;

namespace ms::jobs {

namespace {

const char* const kGenerator = "microstudio from-volume";
const char* const kSplits[] = {"train", "val", "test"};

std::string windowName(int x, int y) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "window_x%04d_y%04d", x, y);
    return buf;
}

void checkConfig(const Dims& d, const VolumeDatasetConfig& c) {
    if (c.windowX < 1 || c.windowY < 1)
        throw Error("window size must be at least 1x1, got " + std::to_string(c.windowX) + "x" +
                    std::to_string(c.windowY));
    if (c.stride < 1) throw Error("stride must be at least 1, got " + std::to_string(c.stride));
    if (c.depth < 0) throw Error("depth must be at least 1 (0: the volume's own), got " + std::to_string(c.depth));
    if (c.windowX > d.nx || c.windowY > d.ny)
        throw Error("window " + std::to_string(c.windowX) + "x" + std::to_string(c.windowY) +
                    " is larger than the volume's x/y plane " + std::to_string(d.nx) + "x" + std::to_string(d.ny));
    if (!(c.validationFraction >= 0 && c.validationFraction < 1)) throw Error("validation fraction must lie in [0, 1)");
    if (!(c.testFraction >= 0 && c.validationFraction + c.testFraction < 1))
        throw Error("test fraction must lie in [0, 1 - validation fraction)");
    if (c.descriptors != "graspi" && c.descriptors != "basic" && c.descriptors != "none")
        throw Error("descriptors must be graspi, basic or none, got '" + c.descriptors + "'");
}

// The split regions along an axis of `length` voxels (see the header's rule).
std::vector<SplitRegion> splitRegions(char axis, int length, int window, const VolumeDatasetConfig& c) {
    const int minimum = window + c.stride;
    const int strips = length / minimum;
    auto held = [&](double fraction) { return fraction > 0 ? std::max(1, int(std::lround(fraction * strips))) : 0; };
    const int counts[] = {strips - held(c.validationFraction) - held(c.testFraction), held(c.validationFraction),
                          held(c.testFraction)};
    if (counts[0] < 1)
        throw Error(std::string("the volume's ") + axis + " axis (" + std::to_string(length) + " voxels) holds " +
                    std::to_string(strips) + " strips of at least " + std::to_string(minimum) +
                    " voxels (window + stride) but the splits need " + std::to_string(1 + counts[1] + counts[2]) +
                    ": use a smaller window or stride, or fewer held-out splits");
    // floor(i * length / strips): every strip is at least `minimum` wide.
    auto boundary = [&](int i) { return int(long(i) * length / strips); };
    std::vector<SplitRegion> regions;
    int first = 0;
    for (int s = 0; s < 3; ++s) {
        if (counts[s] == 0) continue;
        regions.push_back({boundary(first), boundary(first + counts[s]), kSplits[s]});
        first += counts[s];
    }
    return regions;
}

// One window, described, with its name, origin, split and source.
Volume describedWindow(const Volume& volume, const VolumeWindow& w, const VolumeDatasetConfig& c,
                       const DescriptorFunction& describe, const std::string& source) {
    Volume v = extractWindow(volume, w.x, w.y, c.windowX, c.windowY, c.depth);
    for (const auto& [name, value] : describe(v)) v.attributes[name] = value;
    v.attributes["x0"] = w.x;
    v.attributes["y0"] = w.y;
    v.text["split"] = w.split;
    v.text["sample"] = windowName(w.x, w.y);
    v.text["source_volume"] = source;
    return v;
}

Json manifestJson(const VolumeDatasetPlan& plan, const Dims& source, const std::string& sourceName, int phases,
                  const VolumeDatasetConfig& c) {
    Json regions = Json::array(), windows = Json::array();
    for (const auto& r : plan.regions) regions.push_back(Json{{"split", r.split}, {"begin", r.begin}, {"end", r.end}});
    for (const auto& w : plan.windows)
        windows.push_back(Json{{"sample", windowName(w.x, w.y)}, {"x", w.x}, {"y", w.y}, {"split", w.split}});
    const Json config{{"source", sourceName},
                      {"source_dims", source.str()},
                      {"window", std::to_string(c.windowX) + "x" + std::to_string(c.windowY)},
                      {"stride", c.stride},
                      {"depth", c.depth},
                      {"phases", std::vector<int>{phases}},
                      {"descriptors", c.descriptors},
                      {"periodic_descriptors", c.periodicDescriptors},
                      {"validation_fraction", c.validationFraction},
                      {"test_fraction", c.testFraction},
                      {"split_axis", std::string(1, plan.axis)}};
    return Json{{"format", "microstudio-dataset 1"},
                {"generator", kGenerator},
                {"code_version", std::string(MICROSTUDIO_VERSION) + " (git " + MICROSTUDIO_GIT_COMMIT + ")"},
                {"config", config},
                {"regions", regions},
                {"windows", windows},
                {"dropped_windows", plan.dropped}};
}

// A folder holding another kind of dataset (the simulator's) is never overwritten.
void checkFolder(const fs::path& folder) {
    const fs::path manifest = folder / "manifest.json";
    if (!fs::exists(manifest)) return;
    if (stringOr(readJsonFile(manifest), "generator", "") != kGenerator)
        throw Error(folder.string() +
                    " holds another dataset (manifest.json is not from `dataset from-volume`); use another folder");
}

}  // namespace

int VolumeDatasetPlan::count(const std::string& split) const {
    return int(std::count_if(windows.begin(), windows.end(), [&](const VolumeWindow& w) { return w.split == split; }));
}

VolumeDatasetPlan planVolumeDataset(const Dims& d, const VolumeDatasetConfig& c) {
    checkConfig(d, c);
    VolumeDatasetPlan plan;
    plan.axis = d.nx >= d.ny ? 'x' : 'y';
    const int length = plan.axis == 'x' ? d.nx : d.ny, window = plan.axis == 'x' ? c.windowX : c.windowY;
    plan.regions = splitRegions(plan.axis, length, window, c);
    long positions = 0;
    for (int y = 0; y + c.windowY <= d.ny; y += c.stride)
        for (int x = 0; x + c.windowX <= d.nx; x += c.stride) ++positions;
    for (const auto& region : plan.regions)
        for (int y = 0; y + c.windowY <= d.ny; y += c.stride)
            for (int x = 0; x + c.windowX <= d.nx; x += c.stride) {
                const int start = plan.axis == 'x' ? x : y;
                if (start >= region.begin && start + window <= region.end) plan.windows.push_back({x, y, region.split});
            }
    plan.dropped = int(positions - long(plan.windows.size()));
    return plan;
}

int nearestSourceSlice(int k, int sourceDepth, int depth) {
    // floor((k + 0.5) * sourceDepth / depth) in integers.
    return int((2LL * k + 1) * sourceDepth / (2LL * depth));
}

Volume extractWindow(const Volume& volume, int x, int y, int nx, int ny, int depth) {
    const Dims& d = volume.dims();
    if (x < 0 || y < 0 || nx < 1 || ny < 1 || x + nx > d.nx || y + ny > d.ny || depth < 0)
        throw Error("window " + std::to_string(nx) + "x" + std::to_string(ny) + " at (" + std::to_string(x) + ", " +
                    std::to_string(y) + ") lies outside the volume " + d.str());
    const int nz = depth > 0 ? depth : d.nz;
    Volume w(Dims{nx, ny, nz});
    for (int z = 0; z < nz; ++z) {
        const int source = depth > 0 ? nearestSourceSlice(z, d.nz, nz) : z;
        for (int row = 0; row < ny; ++row)
            std::copy_n(volume.labels().begin() + std::ptrdiff_t(volume.index(x, y + row, source)), nx,
                        w.labels().begin() + std::ptrdiff_t(w.index(0, row, z)));
    }
    w.spacing = volume.spacing;
    w.spacing[2] *= double(d.nz) / double(nz);
    return w;
}

VolumeDatasetReport buildDatasetFromVolume(const Volume& volume, const std::string& source, const fs::path& folder,
                                           const VolumeDatasetConfig& c, ProgressToken* progress) {
    const auto start = std::chrono::steady_clock::now();
    VolumeDatasetPlan plan;
    try {
        volume.validateLabels();
        plan = planVolumeDataset(volume.dims(), c);
    } catch (const Error& e) {
        throw Error(source + ": " + e.what());
    }
    checkFolder(folder);
    fs::create_directories(folder);
    const int phases = volume.phaseCount();
    DatasetConfig describeConfig;
    describeConfig.descriptors = c.descriptors;
    describeConfig.periodicDescriptors = c.periodicDescriptors;
    const DescriptorFunction describe = descriptorFunction(describeConfig, phases);
    const std::size_t total = plan.windows.size();
    // Windows are described a chunk at a time in parallel and appended in order.
    const std::size_t chunk = std::size_t(2 * (c.threads > 0 ? c.threads : defaultThreadCount()));
    std::size_t done = 0;
    for (const char* split : kSplits) {
        std::vector<VolumeWindow> windows;
        for (const auto& w : plan.windows)
            if (w.split == split) windows.push_back(w);
        const fs::path out = folder / (std::string(split) + ".h5");
        if (windows.empty()) {
            std::error_code ignored;
            fs::remove(out, ignored);  // a stale file of an earlier cut
            continue;
        }
        writeAtomically(out, [&](const fs::path& temp) {
            io::Hdf5Appender appender(temp, true);
            for (std::size_t first = 0; first < windows.size(); first += chunk) {
                std::vector<Volume> samples(std::min(chunk, windows.size() - first));
                parallelFor(
                    samples.size(),
                    [&](std::size_t i) {
                        if (progress) progress->throwIfCancelled();
                        samples[i] = describedWindow(volume, windows[first + i], c, describe, source);
                    },
                    c.threads);
                for (const auto& v : samples) appender.append(v.text.at("sample"), v);
                done += samples.size();
                if (progress)
                    progress->report(double(done) / double(total), "window " + std::to_string(done) + " of " +
                                                                       std::to_string(total) + " (" + split + ")");
            }
        });
    }
    writeJsonFile(manifestJson(plan, volume.dims(), source, phases, c), folder / "manifest.json");
    VolumeDatasetReport report;
    report.train = plan.count("train");
    report.val = plan.count("val");
    report.test = plan.count("test");
    report.dropped = plan.dropped;
    report.windowDims = Dims{c.windowX, c.windowY, c.depth > 0 ? c.depth : volume.dims().nz};
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

VolumeDatasetReport buildDatasetFromVolume(const fs::path& volumeFile, const fs::path& folder,
                                           const VolumeDatasetConfig& config, const io::ReadOptions& read,
                                           ProgressToken* progress) {
    if (progress) progress->throwIfCancelled();
    const Volume volume = io::readVolume(volumeFile, read);
    return buildDatasetFromVolume(volume, volumeFile.string(), folder, config, progress);
}

}  // namespace ms::jobs
