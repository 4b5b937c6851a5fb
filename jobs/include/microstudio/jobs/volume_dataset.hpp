#pragma once
// A user's own volume (a segmented tomography or FIB-SEM stack, in any
// format io reads) as a training dataset: windows of a fixed x/y size cut at
// a stride, each spanning the full depth (optionally resized in z by nearest
// neighbour: the paper's experimental recipe, 466x465x50 -> 64x64x64),
// described like the builder's samples, and split train / val / test by
// position so that overlapping windows never straddle two splits.
//
// The split rule: the longer of x and y (x when equal) is cut into K equal
// strips, K = floor(length / (window + stride)), so each strip holds at
// least one window position along it. Counted from the start of that
// axis, the first strips go to training, the next round(val * K) (at least
// one when val > 0) to validation and the last round(test * K) (at least one
// when test > 0) to test; neighbouring strips of one split form one region. A window belongs to the
// split of the region that holds its whole footprint; a window crossing a
// region border is dropped. Regions are disjoint, so no two windows of
// different splits share a voxel.
//
// Output (FOLDER): train.h5, val.h5, test.h5 in the MicroGen3D layout, as
// the builder writes them (samples named "window_x0123_y0045" with `split`
// text, x0 / y0 attributes and the descriptors), each written atomically;
// no file for an empty split (a stale one is removed); manifest.json with
// every parameter, the regions and the window list.
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/core/json.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/io/io.hpp"

namespace ms::jobs {

struct VolumeDatasetConfig {
    int windowX = 64, windowY = 64;      // window size in x and y (voxels)
    int stride = 4;                      // step between window origins in x and y
    int depth = 0;                       // > 0: windows resized to this many z voxels; 0: the volume's depth
    std::string descriptors = "graspi";  // "graspi", "basic" or "none", as the builder
    bool periodicDescriptors = false;
    double validationFraction = 0.15, testFraction = 0.15;
    int threads = 0;  // windows described in parallel; 0 = every core
};

// A band [begin, end) of the split axis and its split.
struct SplitRegion {
    int begin = 0, end = 0;
    std::string split;
};

struct VolumeWindow {
    int x = 0, y = 0;  // origin
    std::string split;
};

struct VolumeDatasetPlan {
    char axis = 'x';  // the axis cut into regions
    std::vector<SplitRegion> regions;
    std::vector<VolumeWindow> windows;  // kept ones: train, then val, then test; y-major within each
    int dropped = 0;                    // windows crossing a region border
    int count(const std::string& split) const;
};

// Throws ms::Error with the reason (window larger than the volume's x/y
// plane, stride < 1, a plane too short for the requested splits, ...).
VolumeDatasetPlan planVolumeDataset(const Dims& volume, const VolumeDatasetConfig& config);

// The source slice that nearest-neighbour resizing from `sourceDepth` to
// `depth` slices takes for slice k: floor((k + 0.5) * sourceDepth / depth).
int nearestSourceSlice(int k, int sourceDepth, int depth);

// The window of `volume` at (x, y) of nx x ny voxels over the full depth,
// resized to `depth` slices (0: kept); labels and spacing (z spacing scaled
// by the resize), no field, no attributes.
Volume extractWindow(const Volume& volume, int x, int y, int nx, int ny, int depth = 0);

struct VolumeDatasetReport {
    int train = 0, val = 0, test = 0, dropped = 0;
    Dims windowDims;
    double seconds = 0.0;
};

// Cuts, describes and writes the dataset into `folder`; `source` names the
// volume in the manifest and in each sample's `source_volume` text.
VolumeDatasetReport buildDatasetFromVolume(const Volume& volume, const std::string& source,
                                           const std::filesystem::path& folder, const VolumeDatasetConfig& config,
                                           ProgressToken* progress = nullptr);
// The same for a volume file (any format io reads; `read` maps TIFF / .npy values).
VolumeDatasetReport buildDatasetFromVolume(const std::filesystem::path& volumeFile, const std::filesystem::path& folder,
                                           const VolumeDatasetConfig& config, const io::ReadOptions& read = {},
                                           ProgressToken* progress = nullptr);

}  // namespace ms::jobs
