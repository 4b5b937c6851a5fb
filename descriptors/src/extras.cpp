// Metrics beyond GraSPI: S2(r), interface density, chord lengths and the
// per-voxel maps the viewer colours by.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "grid.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/descriptors/descriptors.hpp"

namespace ms::descriptors {

using namespace detail;

namespace {

void requireNonEmpty(const Volume& v, const char* what) {
    if (v.size() == 0) throw Error(std::string(what) + ": the volume is empty");
    v.validateLabels();
}

// Visits every line of voxels along `axis` (0 = x, 1 = y, 2 = z): f(first
// index, stride, length).
template <class F>
void forEachLine(const Dims& d, int axis, F&& f) {
    const std::size_t sx = 1, sy = std::size_t(d.nx), sz = std::size_t(d.nx) * d.ny;
    if (axis == 0) {
        for (int z = 0; z < d.nz; ++z)
            for (int y = 0; y < d.ny; ++y) f(y * sy + z * sz, sx, d.nx);
    } else if (axis == 1) {
        for (int z = 0; z < d.nz; ++z)
            for (int x = 0; x < d.nx; ++x) f(x * sx + z * sz, sy, d.ny);
    } else {
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) f(x * sx + y * sy, sz, d.nz);
    }
}

int axisCount(const Dims& d) { return d.is2D() ? 2 : 3; }

}  // namespace

namespace {

// Pairs (a[i], b[i]) with both equal to p, i < length; a plain loop over
// contiguous bytes the compiler vectorises.
std::size_t countBoth(const std::uint8_t* a, const std::uint8_t* b, std::size_t length, std::uint8_t p) {
    std::size_t total = 0;
    for (std::size_t start = 0; start < length; start += 4096) {
        const std::size_t end = std::min(length, start + 4096);
        std::uint32_t block = 0;
        for (std::size_t i = start; i < end; ++i) block += std::uint32_t((a[i] == p) & (b[i] == p));
        total += block;
    }
    return total;
}

}  // namespace

std::vector<std::vector<double>> twoPointCorrelation(const Volume& volume, int maxDistance) {
    requireNonEmpty(volume, "two-point correlation");
    const Dims& d = volume.dims();
    int smallest = std::min(d.nx, d.ny);
    if (!d.is2D()) smallest = std::min(smallest, d.nz);
    if (maxDistance < 0) throw Error("two-point correlation: negative distance");
    const int rMax = maxDistance > 0 ? maxDistance : std::max(0, smallest / 2);
    const std::uint8_t* a = volume.labels().data();
    const std::size_t nx = std::size_t(d.nx), slice = nx * std::size_t(d.ny);

    std::vector<std::vector<double>> s2(kMaxPhases, std::vector<double>(std::size_t(rMax) + 1, 0.0));
    for (int r = 0; r <= rMax; ++r) {
        const std::size_t ur = std::size_t(r);
        for (int p = 0; p < kMaxPhases; ++p) {
            const auto phase = std::uint8_t(p);
            double sum = 0.0;
            int axesUsed = 0;
            // x: within each row, pairs (i, i + r) are contiguous.
            if (r < d.nx) {
                std::size_t both = 0;
                for (std::size_t row = 0; row < std::size_t(d.ny) * d.nz; ++row)
                    both += countBoth(a + row * nx, a + row * nx + ur, nx - ur, phase);
                sum += double(both) / double((nx - ur) * std::size_t(d.ny) * d.nz);
                ++axesUsed;
            }
            // y: within each slice, rows y and y + r: one contiguous run.
            if (r < d.ny) {
                std::size_t both = 0;
                const std::size_t run = (std::size_t(d.ny) - ur) * nx;
                for (int z = 0; z < d.nz; ++z) both += countBoth(a + z * slice, a + z * slice + ur * nx, run, phase);
                sum += double(both) / double(run * std::size_t(d.nz));
                ++axesUsed;
            }
            // z: slices k and k + r: one contiguous run over the volume.
            if (!d.is2D() && r < d.nz) {
                const std::size_t run = (std::size_t(d.nz) - ur) * slice;
                sum += double(countBoth(a, a + ur * slice, run, phase)) / double(run);
                ++axesUsed;
            }
            s2[std::size_t(p)][ur] = axesUsed ? sum / axesUsed : std::numeric_limits<double>::quiet_NaN();
        }
    }
    return s2;
}

double interfaceAreaPerVolume(const Volume& volume, double pixelSize) {
    requireNonEmpty(volume, "interface area");
    const Grid grid(volume.dims(), false);
    const auto& labels = volume.labels();
    std::size_t faces = 0;
    grid.forEachForwardFace([&](Node a, Node b) { faces += labels[a] != labels[b]; });
    // faces * ps^2 (area) / (n * ps^3) (volume); in 2D length / area likewise.
    return double(faces) / (double(grid.n) * pixelSize);
}

double meanChordLength(const Volume& volume, int phase, double pixelSize) {
    requireNonEmpty(volume, "chord length");
    const Dims& d = volume.dims();
    const auto& labels = volume.labels();
    std::size_t voxels = 0, runs = 0;
    for (int axis = 0; axis < axisCount(d); ++axis)
        forEachLine(d, axis, [&](std::size_t start, std::size_t stride, int length) {
            bool inside = false;
            for (int i = 0; i < length; ++i) {
                const bool match = labels[start + std::size_t(i) * stride] == phase;
                if (match) {
                    ++voxels;
                    if (!inside) ++runs;
                }
                inside = match;
            }
        });
    if (runs == 0) return std::numeric_limits<double>::quiet_NaN();
    return double(voxels) / double(runs) * pixelSize;
}

VoxelMaps voxelMaps(const Volume& volume, const Options& options) {
    requireNonEmpty(volume, "voxel maps");
    if (!(options.pixelSize > 0.0)) throw Error("voxel maps: pixel size must be positive");
    const Grid grid(volume.dims(), options.periodic);
    const Weights w(options.pixelSize);
    const auto& labels = volume.labels();
    VoxelMaps maps;

    // Distance to the interface: every phase at once (paths never leave
    // their phase, so the seeds of one phase never reach another).
    const auto kinds = interfaceKinds(grid, labels);
    std::vector<float> dist(grid.n);
    for (Node v = 0; v < grid.n; ++v) {
        Kind best = kNone;
        for (int p = 0; p < kMaxPhases; ++p) best = std::min(best, kindTo(kinds[v], p));
        dist[v] = best != kNone ? w.half[best] : kInf;
    }
    dijkstraInPhase(grid, labels, w, kInf, dist);
    maps.distanceToInterface.resize(grid.n);
    for (Node v = 0; v < grid.n; ++v) maps.distanceToInterface[v] = dist[v] < 0.5f * kInf ? dist[v] : -1.0f;

    // Tortuosity d/h: donor and mixed to the anode, acceptor to the cathode.
    maps.tortuosity.assign(grid.n, -1.0f);
    for (const bool anode : {true, false}) {
        dijkstraFromElectrode(grid, labels, w, anode, dist);
        const double source = anode ? double(grid.layers - 1) : 0.0;
        for (Node v = 0; v < grid.n; ++v) {
            const bool mine = anode ? labels[v] != Acceptor : labels[v] == Acceptor;
            if (!mine || !(dist[v] < 0.5f * kInf)) continue;
            const double h = std::fabs(source - grid.layerOf(v)) * options.pixelSize;
            maps.tortuosity[v] = h < 1e-20 ? 1.0f : float(double(dist[v]) / h);
        }
    }
    return maps;
}

}  // namespace ms::descriptors
