// bench descriptors: GraSPI descriptors on reference 2D and 3D morphologies,
// and large volumes read and described with one thread and with many.
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/io/io.hpp"
#include "options.hpp"

namespace ms::cli {

namespace {

// A 512x128 Cahn-Hilliard-like 2D morphology: the first 512x128 data_*.txt
// fixture when the shared folder has one, else a smoothed random field.
Volume smoothedRandomField(Dims dims, int passes, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<float> f(dims.count()), g(dims.count());
    for (auto& x : f) x = normal(rng);
    const int nx = dims.nx, ny = dims.ny, nz = dims.nz;
    auto at = [&](int x, int y, int z) {
        x = (x + nx) % nx, y = (y + ny) % ny, z = (z + nz) % nz;
        return std::size_t(x) + std::size_t(nx) * (std::size_t(y) + std::size_t(ny) * std::size_t(z));
    };
    for (int pass = 0; pass < passes; ++pass)
        for (int axis = 0; axis < (dims.is2D() ? 2 : 3); ++axis) {
            for (int z = 0; z < nz; ++z)
                for (int y = 0; y < ny; ++y)
                    for (int x = 0; x < nx; ++x) {
                        const int dx = axis == 0, dy = axis == 1, dz = axis == 2;
                        g[at(x, y, z)] = 0.25f * f[at(x - dx, y - dy, z - dz)] + 0.5f * f[at(x, y, z)] +
                                         0.25f * f[at(x + dx, y + dy, z + dz)];
                    }
            f.swap(g);
        }
    Volume v(dims);
    for (std::size_t i = 0; i < f.size(); ++i) v.labels()[i] = f[i] > 0.0f ? Acceptor : Donor;
    return v;
}

std::vector<std::filesystem::path> fixtureDirs() {
    namespace fs = std::filesystem;
    std::vector<fs::path> dirs{"../shared/fixtures/graspi", "shared/fixtures/graspi"};
    if (const char* env = std::getenv("MICROSTUDIO_SHARED_DIR"))
        dirs.insert(dirs.begin(), fs::path(env) / "fixtures/graspi");
    return dirs;
}

Volume benchImage2D(std::string& source) {
    namespace fs = std::filesystem;
    for (const auto& dir : fixtureDirs()) {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) continue;
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.path().filename().string().rfind("data_", 0) == 0 && e.path().extension() == ".txt")
                files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& p : files) {
            Volume v = io::readVolume(p);
            if (v.dims() == Dims{512, 128, 1}) {
                source = p.string();
                return v;
            }
        }
    }
    source = "smoothed random field (no data_*.txt fixture found)";
    return smoothedRandomField(Dims{512, 128, 1}, 12, 7);
}

template <class F>
double bestSeconds(int repeats, F&& f) {
    double best = 1e300;
    for (int i = 0; i < repeats; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

// Large volumes as a user meets them: a .vti file read and described, one
// thread against `threads` in one run (the results must be identical).
void benchLargeVolumes(const std::vector<Dims>& sizes, int threads) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("microstudio-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::printf("large volumes (.vti read + all GraSPI descriptors; sizes ascending, peak memory of the process):\n");
    for (const Dims& dims : sizes) {
        const fs::path file = dir / (dims.str() + ".vti");
        io::writeVolume(smoothedRandomField(dims, 4, 17), file);
        Volume volume;
        const double read = bestSeconds(1, [&] { volume = io::readVolume(file); });
        descriptors::Options one, many;
        many.threads = threads;
        descriptors::Result single, threaded;
        const std::string load = machineLoad();
        const double cpu0 = processCpuSeconds();
        const double t1 = bestSeconds(1, [&] { single = descriptors::describe(volume, one); });
        const double cpu1 = processCpuSeconds();
        const double tn = bestSeconds(1, [&] { threaded = descriptors::describe(volume, many); });
        const double cpun = processCpuSeconds() - cpu1;
        std::printf(
            "  %-12s %5.1f M voxels: read %.2f s; describe 1 thread %.2f s (CPU %.2f s), %d threads %.2f s "
            "(CPU %.2f s; %.2fx); read + describe %.2f s; identical %s; peak %.0f MB; load %s\n",
            dims.str().c_str(), double(dims.count()) / 1e6, read, t1, cpu1 - cpu0, threads, tn, cpun, t1 / tn,
            read + tn, descriptors::formatGraspi(single) == descriptors::formatGraspi(threaded) ? "yes" : "NO",
            peakResidentMegabytes(), load.c_str());
        fs::remove(file);
    }
    fs::remove_all(dir);
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

    std::string source;
    const Volume image = benchImage2D(source);
    const Volume volume = smoothedRandomField(Dims{128, 128, 64}, 4, 11);
    descriptors::Result r2, r3;
    const double t2 = bestSeconds(repeats, [&] { r2 = descriptors::describe(image); });
    const double t3 = bestSeconds(repeats, [&] { r3 = descriptors::describe(volume); });
    const Volume cube = smoothedRandomField(Dims{50, 50, 50}, 4, 13);
    const double t50 = bestSeconds(repeats, [&] { descriptors::describe(cube); });
    const double t3p = bestSeconds(1, [&] {
        descriptors::Options o;
        o.periodic = true;
        descriptors::describe(volume, o);
    });
    const double t3x = bestSeconds(1, [&] {
        descriptors::Options o;
        o.extras = true;
        descriptors::describe(volume, o);
    });

    std::printf("descriptors, one thread, best of %d\n", repeats);
    std::printf(
        "  2D 512x128 (%s): %.1f ms  (target 70 ms: %.2fx of budget; GraSPI C++ 0.7 s: %.0fx faster;"
        " py-graspi 17 s: %.0fx faster)\n",
        source.c_str(), t2 * 1e3, t2 / 0.070, 0.7 / t2, 17.0 / t2);
    std::printf("  3D 128x128x64 two-phase (vol_frac_D %.3f): %.0f ms  (target 1 s: %.2fx of budget)\n",
                r3.value("vol_frac_D"), t3 * 1e3, t3 / 1.0);
    std::printf("  3D 50^3 two-phase: %.1f ms  (GraSPI C++ 7.6 s: %.0fx faster; py-graspi 66 s: %.0fx faster)\n",
                t50 * 1e3, 7.6 / t50, 66.0 / t50);
    for (const auto& dir : fixtureDirs()) {
        std::error_code ec;
        const auto path = dir / "trial_1.txt";
        if (!std::filesystem::exists(path, ec)) continue;
        const Volume three = io::readVolume(path);
        const double t = bestSeconds(repeats, [&] { descriptors::describe(three); });
        std::printf("  2D %s three-phase (%s): %.1f ms  (GraSPI C++ 2.4 s: %.0fx faster)\n", three.dims().str().c_str(),
                    path.string().c_str(), t * 1e3, 2.4 / t);
        break;
    }
    std::printf("  3D periodic: %.0f ms;  3D with extras (S2, interface, domain size): %.0f ms\n", t3p * 1e3,
                t3x * 1e3);
    std::printf("  2D: CT_f_D_tort1 %s  CT_f_A_tort1 %s   3D: CT_f_D_tort1 %s  CT_f_A_tort1 %s\n",
                descriptors::formatValue(r2.value("CT_f_D_tort1")).c_str(),
                descriptors::formatValue(r2.value("CT_f_A_tort1")).c_str(),
                descriptors::formatValue(r3.value("CT_f_D_tort1")).c_str(),
                descriptors::formatValue(r3.value("CT_f_A_tort1")).c_str());
    return 0;
}

}  // namespace ms::cli

#endif  // MICROSTUDIO_HAVE_DESCRIPTORS
