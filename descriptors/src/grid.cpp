#include "grid.hpp"

#include <cstdlib>

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

Components connectedComponents(const Grid& grid, const std::vector<std::uint8_t>& labels,
                               std::vector<std::uint8_t>* kinds) {
    constexpr std::uint32_t unset = std::numeric_limits<std::uint32_t>::max();
    Components out;
    out.id.assign(grid.n, unset);
    if (kinds) kinds->assign(grid.n, 0xFF);
    std::vector<Node> stack;
    for (Node seed = 0; seed < grid.n; ++seed) {
        if (out.id[seed] != unset) continue;
        const auto cid = std::uint32_t(out.list.size());
        Component comp;
        comp.label = labels[seed];
        out.id[seed] = cid;
        stack.push_back(seed);
        while (!stack.empty()) {
            const Node v = stack.back();
            stack.pop_back();
            ++comp.size;
            if (grid.inBottomLayer(v)) comp.bottom = true;
            if (grid.inTopLayer(v)) comp.top = true;
            std::uint8_t bits = 0xFF;
            grid.forEachNeighbour(v, [&](Node u, Kind kind) {
                const std::uint8_t other = labels[u];
                if (other != comp.label) {
                    noteInterface(bits, other, kind);
                } else if (out.id[u] == unset) {
                    out.id[u] = cid;
                    stack.push_back(u);
                }
            });
            if (kinds) (*kinds)[v] = bits;
        }
        out.list.push_back(comp);
    }
    return out;
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
