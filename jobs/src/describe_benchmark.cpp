// bench descriptors' measurements (describe_benchmark.hpp).
#include "microstudio/jobs/describe_benchmark.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include "microstudio/core/error.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/io/io.hpp"

namespace ms::jobs {

namespace {

// Best wall seconds of `repeats` calls of f.
template <class F>
double bestSeconds(int repeats, F&& f) {
    double best = 1e300;
    for (int i = 0; i < std::max(1, repeats); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

// The first 512x128 data_*.txt fixture, in name order, of the first folder that has one.
std::optional<Volume> fixtureImage2D(const std::vector<std::filesystem::path>& dirs, std::string& source) {
    namespace fs = std::filesystem;
    for (const auto& dir : dirs) {
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
    return std::nullopt;
}

}  // namespace

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
            const int dx = axis == 0, dy = axis == 1, dz = axis == 2;
            for (int z = 0; z < nz; ++z)
                for (int y = 0; y < ny; ++y)
                    for (int x = 0; x < nx; ++x)
                        g[at(x, y, z)] = 0.25f * f[at(x - dx, y - dy, z - dz)] + 0.5f * f[at(x, y, z)] +
                                         0.25f * f[at(x + dx, y + dy, z + dz)];
            f.swap(g);
        }
    Volume v(dims);
    for (std::size_t i = 0; i < f.size(); ++i) v.labels()[i] = f[i] > 0.0f ? Acceptor : Donor;
    return v;
}

LargeVolumeFigures benchmarkLargeVolume(Dims dims, int threads, const std::filesystem::path& scratch) {
    if (threads < 1) throw Error("the large-volume benchmark needs threads >= 1, not " + std::to_string(threads));
    std::filesystem::create_directories(scratch);
    const auto file = scratch / (dims.str() + ".vti");
    io::writeVolume(smoothedRandomField(dims, 4, 17), file);
    LargeVolumeFigures r;
    r.dims = dims;
    r.threads = threads;
    Volume volume;
    r.readSeconds = bestSeconds(1, [&] { volume = io::readVolume(file); });
    std::filesystem::remove(file);
    descriptors::Options one, many;
    many.threads = threads;
    descriptors::Result single, threaded;
    r.load = machineLoad();
    const double cpu0 = processCpuSeconds();
    r.oneThreadSeconds = bestSeconds(1, [&] { single = descriptors::describe(volume, one); });
    const double cpu1 = processCpuSeconds();
    r.threadedSeconds = bestSeconds(1, [&] { threaded = descriptors::describe(volume, many); });
    r.threadedCpuSeconds = processCpuSeconds() - cpu1;
    r.oneThreadCpuSeconds = cpu1 - cpu0;
    r.identical = descriptors::formatGraspi(single) == descriptors::formatGraspi(threaded);
    r.peakMegabytes = peakResidentMegabytes();
    return r;
}

DescriptorFigures benchmarkDescriptors(int repeats, const std::vector<std::filesystem::path>& fixtureDirs) {
    DescriptorFigures r;
    const auto fixture = fixtureImage2D(fixtureDirs, r.image2dSource);
    if (!fixture) r.image2dSource = "smoothed random field (no data_*.txt fixture found)";
    const Volume image = fixture ? *fixture : smoothedRandomField(Dims{512, 128, 1}, 12, 7);
    const Volume volume = smoothedRandomField(Dims{128, 128, 64}, 4, 11);
    const Volume cube = smoothedRandomField(Dims{50, 50, 50}, 4, 13);
    r.image2dSeconds = bestSeconds(repeats, [&] { r.image2d = descriptors::describe(image); });
    r.volumeSeconds = bestSeconds(repeats, [&] { r.volume = descriptors::describe(volume); });
    r.cubeSeconds = bestSeconds(repeats, [&] { descriptors::describe(cube); });
    descriptors::Options periodic, extras;
    periodic.periodic = true;
    extras.extras = true;
    r.periodicSeconds = bestSeconds(1, [&] { descriptors::describe(volume, periodic); });
    r.extrasSeconds = bestSeconds(1, [&] { descriptors::describe(volume, extras); });
    for (const auto& dir : fixtureDirs) {
        std::error_code ec;
        const auto path = dir / "trial_1.txt";
        if (!std::filesystem::exists(path, ec)) continue;
        const Volume three = io::readVolume(path);
        r.threePhaseFile = path;
        r.threePhaseDims = three.dims();
        r.threePhaseSeconds = bestSeconds(repeats, [&] { descriptors::describe(three); });
        break;
    }
    return r;
}

}  // namespace ms::jobs
