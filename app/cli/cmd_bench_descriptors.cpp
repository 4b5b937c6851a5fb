// bench descriptors: GraSPI descriptors on reference 2D and 3D morphologies,
// and large volumes read and described with one thread and with many. The
// measurements are ms::jobs' (describe_benchmark.hpp); this file prints them.
#if defined(MICROSTUDIO_HAVE_DESCRIPTORS) && defined(MICROSTUDIO_HAVE_JOBS)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/jobs/describe_benchmark.hpp"
#include "options.hpp"

namespace ms::cli {

namespace {

// Where the GraSPI fixtures are looked for: $MICROSTUDIO_SHARED_DIR, then
// ../shared and shared beside the working folder.
std::vector<std::filesystem::path> fixtureDirs() {
    namespace fs = std::filesystem;
    std::vector<fs::path> dirs{"../shared/fixtures/graspi", "shared/fixtures/graspi"};
    if (const char* env = std::getenv("MICROSTUDIO_SHARED_DIR"))
        dirs.insert(dirs.begin(), fs::path(env) / "fixtures/graspi");
    return dirs;
}

void benchLargeVolumes(const std::vector<Dims>& sizes, int threads) {
    namespace fs = std::filesystem;
    const fs::path scratch = fs::temp_directory_path() / ("microstudio-bench-" + std::to_string(::getpid()));
    std::printf("large volumes (.vti read + all GraSPI descriptors; sizes ascending, peak memory of the process):\n");
    for (const Dims& dims : sizes) {
        const auto r = jobs::benchmarkLargeVolume(dims, threads, scratch);
        std::printf(
            "  %-12s %5.1f M voxels: read %.2f s; describe 1 thread %.2f s (CPU %.2f s), %d threads %.2f s "
            "(CPU %.2f s; %.2fx); read + describe %.2f s; identical %s; peak %.0f MB; load %s\n",
            dims.str().c_str(), double(dims.count()) / 1e6, r.readSeconds, r.oneThreadSeconds, r.oneThreadCpuSeconds,
            r.threads, r.threadedSeconds, r.threadedCpuSeconds, r.oneThreadSeconds / r.threadedSeconds,
            r.readSeconds + r.threadedSeconds, r.identical ? "yes" : "NO", r.peakMegabytes, r.load.c_str());
    }
    fs::remove_all(scratch);
}

void printDescriptorFigures(const jobs::DescriptorFigures& r, int repeats) {
    const double t2 = r.image2dSeconds, t3 = r.volumeSeconds, t50 = r.cubeSeconds;
    std::printf("descriptors, one thread, best of %d\n", repeats);
    std::printf(
        "  2D 512x128 (%s): %.1f ms  (target 70 ms: %.2fx of budget; GraSPI C++ 0.7 s: %.0fx faster;"
        " py-graspi 17 s: %.0fx faster)\n",
        r.image2dSource.c_str(), t2 * 1e3, t2 / 0.070, 0.7 / t2, 17.0 / t2);
    std::printf("  3D 128x128x64 two-phase (vol_frac_D %.3f): %.0f ms  (target 1 s: %.2fx of budget)\n",
                r.volume.value("vol_frac_D"), t3 * 1e3, t3 / 1.0);
    std::printf("  3D 50^3 two-phase: %.1f ms  (GraSPI C++ 7.6 s: %.0fx faster; py-graspi 66 s: %.0fx faster)\n",
                t50 * 1e3, 7.6 / t50, 66.0 / t50);
    if (r.threePhaseFile)
        std::printf("  2D %s three-phase (%s): %.1f ms  (GraSPI C++ 2.4 s: %.0fx faster)\n",
                    r.threePhaseDims.str().c_str(), r.threePhaseFile->string().c_str(), r.threePhaseSeconds * 1e3,
                    2.4 / r.threePhaseSeconds);
    std::printf("  3D periodic: %.0f ms;  3D with extras (S2, interface, domain size): %.0f ms\n",
                r.periodicSeconds * 1e3, r.extrasSeconds * 1e3);
    std::printf("  2D: CT_f_D_tort1 %s  CT_f_A_tort1 %s   3D: CT_f_D_tort1 %s  CT_f_A_tort1 %s\n",
                descriptors::formatValue(r.image2d.value("CT_f_D_tort1")).c_str(),
                descriptors::formatValue(r.image2d.value("CT_f_A_tort1")).c_str(),
                descriptors::formatValue(r.volume.value("CT_f_D_tort1")).c_str(),
                descriptors::formatValue(r.volume.value("CT_f_A_tort1")).c_str());
}

}  // namespace

int benchDescriptors(const CommandArgs& argv) {
    Options declared("bench descriptors [--repeats N] [--large SIZES [--threads N]]",
                     "All GraSPI descriptors on one core: a 512x128 2D Cahn-Hilliard morphology (first data_*.txt "
                     "fixture of ../shared/fixtures/graspi, else a smoothed random field), a 128x128x64 and a 50^3 "
                     "two-phase thresholded smoothed random field. Prints the best of N runs and the ratio to the "
                     "targets (70 ms and 1 s) and to GraSPI C++ (0.7 s for 512x128, 7.6 s for 50^3).");
    declared.integer("repeats", "N", "runs of each; the best is shown").atLeast(1).def(5);
    declared.text("large", "SIZES",
                  "instead: smoothed random fields of these sizes (e.g. 128x128x128,256x256x128,512x512x64) "
                  "written as .vti, then read and described with 1 thread and with --threads N in one run");
    declared.threads("threads of the --large runs, 0 = every core");
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    if (auto large = args.value("large")) {
        std::vector<Dims> sizes;
        for (const auto& text : splitList(*large)) sizes.push_back(parseDims(text));
        const long threads = args.integer("threads");
        benchLargeVolumes(sizes, threads > 0 ? int(threads) : defaultThreadCount());
        return 0;
    }
    const int repeats = int(args.integer("repeats"));
    printDescriptorFigures(jobs::benchmarkDescriptors(repeats, fixtureDirs()), repeats);
    return 0;
}

}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_DESCRIPTORS && MICROSTUDIO_HAVE_JOBS
