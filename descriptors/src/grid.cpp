#include "grid.hpp"

#include <cstdlib>

#include "microstudio/core/parallel.hpp"

namespace ms::descriptors::detail {

Grid::Grid(const Dims& dims, bool periodic)
    : nx(dims.nx), ny(dims.ny), nz(dims.nz), is3D(dims.nz > 1), n(dims.count()) {
    layerSize = is3D ? std::size_t(nx) * ny : std::size_t(nx);
    layers = is3D ? nz : ny;
    // A side of 2 gains no new neighbour pair by wrapping and a side of 1
    // only self-loops, so wrap only sides of 3 or more.
    wrapX = periodic && nx >= 3;
    wrapY = periodic && is3D && ny >= 3;

    const int dzMax = is3D ? 1 : 0;
    for (int dz = -dzMax; dz <= dzMax; ++dz)
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                if (!dx && !dy && !dz) continue;
                const auto kind = std::uint8_t(std::abs(dx) + std::abs(dy) + std::abs(dz) - 1);
                offsets_[relative_.size()] = dx + std::int64_t(nx) * (dy + std::int64_t(ny) * dz);
                kinds_[relative_.size()] = kind;
                if (offsets_[relative_.size()] < 0) earlier_[earlierCount_++] = std::uint8_t(relative_.size());
                relative_.push_back({dx, dy, dz, kind});
            }

    boundary_.assign(n, 0);
    for (int z = 0; z < nz; ++z)
        for (int y = 0; y < ny; ++y)
            for (int x = 0; x < nx; ++x) {
                const bool edge = x == 0 || x == nx - 1 || y == 0 || y == ny - 1 ||
                                  (is3D && (z == 0 || z == nz - 1));
                if (edge) boundary_[x + std::size_t(nx) * (y + std::size_t(ny) * z)] = 1;
            }
}

Weights::Weights(double pixelSize) {
    const double w[3] = {1.0 * pixelSize, std::sqrt(2.0) * pixelSize, std::sqrt(3.0) * pixelSize};
    for (int k = 0; k < 3; ++k) {
        full[k] = float(w[k]);
        half[k] = float(w[k] / 2.0);
    }
}

namespace {

// Records that v touches `other` through an edge of `kind` (keeps the least).
inline void noteInterface(std::uint8_t& bits, std::uint8_t other, Kind kind) {
    const int shift = 2 * other;
    if (kind < ((bits >> shift) & 3u)) bits = std::uint8_t((bits & ~(3u << shift)) | (unsigned(kind) << shift));
}

}  // namespace

namespace {

// Union-find over voxels. Unions inside one slab of layers link roots in
// that slab only (the root is the smaller index), so slabs are joined by
// separate threads without sharing a cell, and their borders afterwards.
class DisjointVoxels {
public:
    explicit DisjointVoxels(std::size_t n) : parent_(n) {
        for (std::size_t i = 0; i < n; ++i) parent_[i] = Node(i);
    }
    Node root(Node v) {
        Node r = v;
        while (parent_[r] != r) r = parent_[r];
        while (parent_[v] != r) {  // path compression
            const Node next = parent_[v];
            parent_[v] = r;
            v = next;
        }
        return r;
    }
    void unite(Node a, Node b) {
        a = root(a);
        b = root(b);
        if (a == b) return;
        if (a < b) std::swap(a, b);
        parent_[a] = b;
    }

private:
    std::vector<Node> parent_;
};

// Joins v with its same-label neighbours u for which accept(u) holds and
// records interface kinds on both sides. Interior voxels look at the 13
// neighbours before them (each pair once); boundary voxels at all of theirs
// (a pair seen twice changes nothing).
template <class Accept>
void joinVoxel(const Grid& grid, const std::vector<std::uint8_t>& labels, Node v, DisjointVoxels& sets,
               std::vector<std::uint8_t>& kinds, Accept&& accept) {
    const std::uint8_t own = labels[v];
    auto visit = [&](Node u, Kind kind) {
        if (!accept(u)) return;
        const std::uint8_t other = labels[u];
        if (other == own) {
            sets.unite(v, u);
        } else {
            noteInterface(kinds[v], other, kind);
            noteInterface(kinds[u], own, kind);
        }
    };
    if (grid.isBoundary(v)) grid.forEachNeighbour(v, visit);
    else grid.forEachEarlierNeighbour(v, visit);
}

// Layers [first, last) of the electrode axis, as voxel indices.
struct Slab {
    Node begin, end;
};

std::vector<Slab> slabsOf(const Grid& grid, int threads) {
    const int count = std::max(1, std::min(threads, grid.layers / 8));  // thin slabs gain nothing
    std::vector<Slab> slabs;
    for (int i = 0; i < count; ++i) {
        const std::size_t first = std::size_t(grid.layers) * std::size_t(i) / std::size_t(count);
        const std::size_t last = std::size_t(grid.layers) * std::size_t(i + 1) / std::size_t(count);
        slabs.push_back({Node(first * grid.layerSize), Node(last * grid.layerSize)});
    }
    return slabs;
}

// Numbers the sets in order of their first voxel and sums what each holds.
Components numberComponents(const Grid& grid, const std::vector<std::uint8_t>& labels, DisjointVoxels& sets) {
    constexpr std::uint32_t unset = std::numeric_limits<std::uint32_t>::max();
    Components out;
    out.id.assign(grid.n, unset);
    for (Node v = 0; v < grid.n; ++v) {
        const Node r = sets.root(v);
        if (out.id[r] == unset) {  // the root is the set's first voxel
            out.id[r] = std::uint32_t(out.list.size());
            out.list.push_back(Component{labels[v], 0, false, false});
        }
        const std::uint32_t cid = out.id[r];
        out.id[v] = cid;
        Component& c = out.list[cid];
        ++c.size;
        if (grid.inBottomLayer(v)) c.bottom = true;
        if (grid.inTopLayer(v)) c.top = true;
    }
    return out;
}

}  // namespace

Components connectedComponents(const Grid& grid, const std::vector<std::uint8_t>& labels,
                               std::vector<std::uint8_t>* kinds, int threads) {
    DisjointVoxels sets(grid.n);
    std::vector<std::uint8_t> ownKinds;
    std::vector<std::uint8_t>& bits = kinds ? *kinds : ownKinds;
    bits.assign(grid.n, 0xFF);
    const std::vector<Slab> slabs = slabsOf(grid, threads);
    parallelFor(
        slabs.size(),
        [&](std::size_t i) {
            const Slab s = slabs[i];
            for (Node v = s.begin; v < s.end; ++v)
                joinVoxel(grid, labels, v, sets, bits, [&](Node u) { return u >= s.begin && u < s.end; });
        },
        int(slabs.size()));
    // The pairs across slab borders: from each slab's first layer downwards.
    for (std::size_t i = 1; i < slabs.size(); ++i) {
        const Node border = slabs[i].begin;
        for (Node v = border; v < border + Node(grid.layerSize); ++v)
            joinVoxel(grid, labels, v, sets, bits, [&](Node u) { return u < border; });
    }
    return numberComponents(grid, labels, sets);
}

std::vector<std::uint8_t> interfaceKinds(const Grid& grid, const std::vector<std::uint8_t>& labels) {
    std::vector<std::uint8_t> packed(grid.n, 0xFF);
    for (Node v = 0; v < grid.n; ++v) {
        const std::uint8_t own = labels[v];
        std::uint8_t bits = 0xFF;
        grid.forEachNeighbour(v, [&](Node u, Kind kind) {
            const std::uint8_t other = labels[u];
            if (other != own) noteInterface(bits, other, kind);
        });
        packed[v] = bits;
    }
    return packed;
}

void dijkstraInPhase(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w,
                     const std::vector<std::pair<float, Node>>& seeds, float cutoff, std::vector<float>& dist) {
    dist.assign(grid.n, kInf);
    RadixHeap heap;
    for (const auto& [d, v] : seeds) {
        if (d < dist[v]) {
            dist[v] = d;
            heap.push(d, v);
        }
    }
    while (!heap.empty()) {
        const auto top = heap.pop();
        if (top.d > dist[top.v]) continue;  // stale entry
        if (top.d >= cutoff) break;
        const std::uint8_t label = labels[top.v];
        grid.forEachNeighbour(top.v, [&](Node u, Kind kind) {
            if (labels[u] != label) return;
            const float nd = top.d + w.full[kind];
            if (nd < dist[u]) {
                dist[u] = nd;
                heap.push(nd, u);
            }
        });
    }
}

void dijkstraFromElectrode(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w, bool fromAnode,
                           std::vector<float>& dist) {
    const Node cathode = Node(grid.n), anode = Node(grid.n + 1);
    dist.assign(grid.n + 2, kInf);
    const Node source = fromAnode ? anode : cathode;
    dist[source] = 0.0f;
    RadixHeap heap;
    heap.push(0.0f, source);
    auto relax = [&](Node u, float nd) {
        if (nd < dist[u]) {
            dist[u] = nd;
            heap.push(nd, u);
        }
    };
    // GraSPI's colour-sum rule: black+RED, white+BLUE, grey+RED, grey+BLUE.
    auto joinsAnode = [](std::uint8_t label) { return label == Donor || label == Mixed; };
    auto joinsCathode = [](std::uint8_t label) { return label == Acceptor || label == Mixed; };
    while (!heap.empty()) {
        const auto top = heap.pop();
        if (top.d > dist[top.v]) continue;
        if (top.v == anode) {
            for (Node u = Node(grid.n - grid.layerSize); u < grid.n; ++u)
                if (joinsAnode(labels[u])) relax(u, top.d + 0.0f);
            continue;
        }
        if (top.v == cathode) {
            for (Node u = 0; u < grid.layerSize; ++u)
                if (joinsCathode(labels[u])) relax(u, top.d + 0.0f);
            continue;
        }
        const std::uint8_t label = labels[top.v];
        grid.forEachNeighbour(top.v, [&](Node u, Kind kind) {
            if (labels[u] == label) relax(u, top.d + w.full[kind]);
        });
        if (grid.inTopLayer(top.v) && joinsAnode(label)) relax(anode, top.d + 0.0f);
        if (grid.inBottomLayer(top.v) && joinsCathode(label)) relax(cathode, top.d + 0.0f);
    }
}

}  // namespace ms::descriptors::detail
