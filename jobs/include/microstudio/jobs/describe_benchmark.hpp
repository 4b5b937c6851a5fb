#pragma once
// The work of `bench descriptors` (the CLI only prints it): GraSPI
// descriptors timed on a 2D fixture and smoothed random fields, and large
// volumes as a user meets them, a .vti file read and described with one
// thread and with N in one run.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/descriptors/descriptors.hpp"

namespace ms::jobs {

// A two-phase field for benchmarks: unit Gaussian noise smoothed by
// `passes` periodic [1 2 1] / 4 passes along each axis, then acceptor where
// positive, donor elsewhere. Deterministic for a seed.
Volume smoothedRandomField(Dims dims, int passes, unsigned seed);

struct LargeVolumeFigures {
    Dims dims;
    int threads = 1;
    double readSeconds = 0.0;
    double oneThreadSeconds = 0.0, oneThreadCpuSeconds = 0.0;
    double threadedSeconds = 0.0, threadedCpuSeconds = 0.0;
    bool identical = false;      // the two results formatted as GraSPI writes them
    double peakMegabytes = 0.0;  // of this process so far
    std::string load;            // the machine's, before describing (ms::machineLoad)
};
// A smoothedRandomField of `dims` written as .vti into `scratch` (removed
// after), read back and described with one thread and with `threads`.
LargeVolumeFigures benchmarkLargeVolume(Dims dims, int threads, const std::filesystem::path& scratch);

struct DescriptorFigures {
    std::string image2dSource;  // the fixture file, or what stood in for it
    descriptors::Result image2d, volume;
    double image2dSeconds = 0.0, volumeSeconds = 0.0, cubeSeconds = 0.0;  // best of the repeats
    double periodicSeconds = 0.0, extrasSeconds = 0.0;                    // 128x128x64, one run each
    std::optional<std::filesystem::path> threePhaseFile;                  // trial_1.txt when found
    Dims threePhaseDims;
    double threePhaseSeconds = 0.0;
};
// One thread: the first 512x128 data_*.txt of the first of `fixtureDirs`
// that has one (else a smoothed random field), a 128x128x64 and a 50^3
// smoothed random field (best of `repeats`), 128x128x64 periodic and with
// extras (once), and a three-phase trial_1.txt when a folder has one.
DescriptorFigures benchmarkDescriptors(int repeats, const std::vector<std::filesystem::path>& fixtureDirs);

}  // namespace ms::jobs
