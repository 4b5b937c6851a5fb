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
int axisLength(const Dims& d, int axis) { return axis == 0 ? d.nx : axis == 1 ? d.ny : d.nz; }

}  // namespace

std::vector<std::vector<double>> twoPointCorrelation(const Volume& volume, int maxDistance) {
    requireNonEmpty(volume, "two-point correlation");
    const Dims& d = volume.dims();
    int smallest = std::min(d.nx, d.ny);
    if (!d.is2D()) smallest = std::min(smallest, d.nz);
    if (maxDistance < 0) throw Error("two-point correlation: negative distance");
    const int rMax = maxDistance > 0 ? maxDistance : std::max(0, smallest / 2);
    const auto& labels = volume.labels();

    std::vector<std::vector<double>> s2(kMaxPhases, std::vector<double>(std::size_t(rMax) + 1, 0.0));
    for (int r = 0; r <= rMax; ++r) {
        std::array<double, kMaxPhases> sum{};
        int axesUsed = 0;
        for (int axis = 0; axis < axisCount(d); ++axis) {
            if (r >= axisLength(d, axis)) continue;
            std::array<std::size_t, kMaxPhases> both{};
            std::size_t pairs = 0;
            forEachLine(d, axis, [&](std::size_t start, std::size_t stride, int length) {
                const std::size_t shift = std::size_t(r) * stride;
                for (int i = 0; i + r < length; ++i) {
                    const std::size_t a = start + std::size_t(i) * stride;
                    if (labels[a] == labels[a + shift]) ++both[labels[a]];
                }
                pairs += std::size_t(length - r);
            });
            for (int p = 0; p < kMaxPhases; ++p) sum[p] += double(both[p]) / double(pairs);
            ++axesUsed;
        }
        for (int p = 0; p < kMaxPhases; ++p)
            s2[p][r] = axesUsed ? sum[p] / axesUsed : std::numeric_limits<double>::quiet_NaN();
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
    std::vector<std::pair<float, Node>> seeds;
    for (Node v = 0; v < grid.n; ++v) {
        Kind best = kNone;
        for (int p = 0; p < kMaxPhases; ++p) best = std::min(best, kindTo(kinds[v], p));
        if (best != kNone) seeds.emplace_back(w.half[best], v);
    }
    std::vector<float> dist;
    dijkstraInPhase(grid, labels, w, seeds, kInf, dist);
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
