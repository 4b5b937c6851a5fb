#include "grid.hpp"

#include <cstdlib>

#include "microstudio/core/parallel.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
                const bool edge = x == 0 || x == nx - 1 || y == 0 || y == ny - 1 || (is3D && (z == 0 || z == nz - 1));
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

// Walks the voxels of whole layers [begin, end) row by row: interior(first,
// last) for each run of voxels off the boundary (x = 1 .. nx-2 of a row off
// the sides), boundary(v) for every other voxel, in index order.
template <class Interior, class Boundary>
void forEachRun(const Grid& grid, Node begin, Node end, Interior&& interior, Boundary&& boundary) {
    const Node nx = Node(grid.nx);
    for (Node row = begin; row < end; row += nx) {
        const std::size_t r = row / nx;
        const int y = grid.is3D ? int(r % std::size_t(grid.ny)) : int(r);
        const int z = grid.is3D ? int(r / std::size_t(grid.ny)) : 0;
        const bool sideRow = y == 0 || y == grid.ny - 1 || (grid.is3D && (z == 0 || z == grid.nz - 1));
        if (sideRow || nx < 3) {
            for (Node v = row; v < row + nx; ++v) boundary(v);
            continue;
        }
        boundary(row);
        interior(row + 1, row + nx - 1);
        boundary(row + nx - 1);
    }
}

// Interface kinds of a run of interior voxels: per label, which edge kinds
// reach a neighbour with that label (bit 1 << kind), tested for every
// neighbour without branches so that the compiler vectorises the rows.
class RunKinds {
public:
    RunKinds(const Grid& grid, const std::uint8_t* labels) : labels_(labels), count_(grid.neighbourCount()) {
        for (int k = 0; k < count_; ++k) {
            offset_[k] = grid.interiorOffset(k);
            bit_[k] = std::uint8_t(1u << grid.interiorKind(k));
        }
        have_.resize(3 * std::size_t(grid.nx));
    }
    void operator()(Node first, Node last, std::uint8_t* packed) {
        const std::size_t len = last - first;
        std::uint8_t* __restrict h0 = have_.data();
        std::uint8_t* __restrict h1 = h0 + len;
        std::uint8_t* __restrict h2 = h1 + len;
        std::fill(h0, h0 + 3 * len, std::uint8_t(0));
        for (int k = 0; k < count_; ++k) {
            const std::uint8_t* __restrict nb = labels_ + std::int64_t(first) + offset_[k];
            const std::uint8_t bit = bit_[k];
            for (std::size_t i = 0; i < len; ++i) {
                const std::uint8_t l = nb[i];
                h0[i] |= std::uint8_t(bit & -std::uint8_t(l == 0));
                h1[i] |= std::uint8_t(bit & -std::uint8_t(l == 1));
                h2[i] |= std::uint8_t(bit & -std::uint8_t(l == 2));
            }
        }
        const std::uint8_t* __restrict own = labels_ + first;
        std::uint8_t* __restrict out = packed + first;
        for (std::size_t i = 0; i < len; ++i) {
            const std::uint8_t o = own[i];
            out[i] = std::uint8_t(0xC0u | least(std::uint8_t(h0[i] & -std::uint8_t(o != 0))) |
                                  (least(std::uint8_t(h1[i] & -std::uint8_t(o != 1))) << 2) |
                                  (least(std::uint8_t(h2[i] & -std::uint8_t(o != 2))) << 4));
        }
    }

private:
    // The least kind among the bits (1 << kind), kNone for none: the lowest
    // set bit of bits | 8 is 1, 2, 4 or 8, which maps to 0, 1, 2, 3.
    static std::uint8_t least(std::uint8_t bits) {
        const std::uint8_t t = std::uint8_t(bits | 8u);
        const std::uint8_t lowest = std::uint8_t(t & -t);
        return std::uint8_t((lowest >> 1) - (lowest >> 3));
    }
    const std::uint8_t* labels_;
    int count_;
    std::int64_t offset_[26] = {};
    std::uint8_t bit_[26] = {};
    std::vector<std::uint8_t> have_;
};

std::uint8_t boundaryKinds(const Grid& grid, const std::uint8_t* labels, Node v) {
    const std::uint8_t own = labels[v];
    std::uint8_t bits = 0xFF;
    grid.forEachNeighbour(v, [&](Node u, Kind kind) {
        const std::uint8_t other = labels[u];
        if (other != own) noteInterface(bits, other, kind);
    });
    return bits;
}

}  // namespace

namespace {

// Union-find over voxels. Unions inside one slab of layers link roots in
// that slab only (the root is the smaller index), so slabs are joined by
// separate threads without sharing a cell, and their borders afterwards.
// Every parent is at most its child, so parent_[v] <= v throughout.
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
    std::vector<Node>& parents() { return parent_; }

private:
    std::vector<Node> parent_;
};

// For an interior voxel, which of its earlier neighbours with the same label
// it must be joined with: same-label earlier neighbours that touch each other
// are joined already (the later of the two met the earlier one), so one per
// group of touching ones is enough. Indexed by the mask of same-label earlier
// neighbours (bit j = earlierIndex(j)); a value's bit j = join with it.
class EarlierGroups {
public:
    explicit EarlierGroups(const Grid& grid) : count_(grid.earlierCount()) {
        Grid::Step steps[13];
        for (int j = 0; j < count_; ++j) {
            const int k = grid.earlierIndex(j);
            steps[j] = grid.step(k);
            offset_[j] = grid.interiorOffset(k);
        }
        auto touch = [&](int a, int b) {
            return std::max({std::abs(steps[a].dx - steps[b].dx), std::abs(steps[a].dy - steps[b].dy),
                             std::abs(steps[a].dz - steps[b].dz)}) == 1;
        };
        representatives_.assign(std::size_t(1) << count_, 0);
        for (std::uint32_t mask = 1; mask < (1u << count_); ++mask) {
            std::uint32_t left = mask, reps = 0;
            while (left) {  // flood one group, keep its member nearest to v
                const int seed = 31 - __builtin_clz(left);
                std::uint32_t group = 1u << seed, grown = 0;
                while (group != grown) {
                    grown = group;
                    for (int a = 0; a < count_; ++a)
                        if ((grown >> a) & 1u)
                            for (int b = 0; b < count_; ++b)
                                if (((mask >> b) & 1u) && touch(a, b)) group |= 1u << b;
                }
                std::uint32_t best = 0;
                for (int a = 0; a < count_; ++a)
                    if (((group >> a) & 1u) && (!best || offset_[a] > offset_[__builtin_ctz(best)])) best = 1u << a;
                reps |= best;
                left &= ~group;
            }
            representatives_[mask] = std::uint16_t(reps);
        }
        for (int j = 0; j < count_; ++j)
            if ((grid.is3D ? steps[j].dz : steps[j].dy) == 0) sameLayer_ |= 1u << j;
    }
    int count() const { return count_; }
    std::int64_t offset(int j) const { return offset_[j]; }
    std::uint32_t sameLayer() const { return sameLayer_; }
    std::uint32_t representatives(std::uint32_t mask) const { return representatives_[mask]; }

private:
    int count_;
    std::int64_t offset_[13] = {};
    std::uint32_t sameLayer_ = 0;
    std::vector<std::uint16_t> representatives_;
};

// Joins v with its same-label neighbours u for which accept(u) holds (all
// of them: the boundary voxels, and the slab borders).
template <class Accept>
void joinAll(const Grid& grid, const std::uint8_t* labels, Node v, DisjointVoxels& sets, Accept&& accept) {
    const std::uint8_t own = labels[v];
    grid.forEachNeighbour(v, [&](Node u, Kind) {
        if (labels[u] == own && accept(u)) sets.unite(v, u);
    });
}

// Joins interior voxels [first, last) with their earlier same-label
// neighbours among `allowed` (a mask of earlier neighbours).
void joinRun(const EarlierGroups& groups, const std::uint8_t* labels, Node first, Node last, std::uint32_t allowed,
             DisjointVoxels& sets) {
    const int count = groups.count();
    std::int64_t offset[13];
    for (int j = 0; j < count; ++j) offset[j] = groups.offset(j);
    for (Node v = first; v < last; ++v) {
        const std::uint8_t own = labels[v];
        std::uint32_t same = 0;
        for (int j = 0; j < count; ++j) same |= std::uint32_t(labels[std::int64_t(v) + offset[j]] == own) << j;
        for (std::uint32_t reps = groups.representatives(same & allowed); reps; reps &= reps - 1)
            sets.unite(v, Node(std::int64_t(v) + offset[__builtin_ctz(reps)]));
    }
}

// Numbers the sets in order of their first voxel (the root) and sums what
// each holds, turning the parent array into the component ids in place:
// parent[v] <= v, so its id is known when v is reached.
Components numberComponents(const Grid& grid, const std::vector<std::uint8_t>& labels, DisjointVoxels& sets) {
    Components out;
    out.id = std::move(sets.parents());
    std::uint32_t* id = out.id.data();
    for (Node v = 0; v < grid.n; ++v) {
        const Node parent = id[v];
        if (parent == v) {
            id[v] = std::uint32_t(out.list.size());
            out.list.push_back(Component{labels[v], 0, false, false});
        } else {
            id[v] = id[parent];
        }
        Component& c = out.list[id[v]];
        ++c.size;
    }
    for (Node v = 0; v < grid.layerSize; ++v) out.list[id[v]].bottom = true;
    for (Node v = Node(grid.n - grid.layerSize); v < grid.n; ++v) out.list[id[v]].top = true;
    return out;
}

}  // namespace

Components connectedComponents(const Grid& grid, const std::vector<std::uint8_t>& labels, int threads) {
    DisjointVoxels sets(grid.n);
    const std::uint8_t* l = labels.data();
    const EarlierGroups groups(grid);
    const std::vector<Slab> slabs = slabsOf(grid, threads);
    parallelFor(
        slabs.size(),
        [&](std::size_t i) {
            const Slab s = slabs[i];
            auto inSlab = [&](Node u) { return u >= s.begin && u < s.end; };
            // The slab's first layer looks only within its layer (the one
            // below belongs to another thread until the borders are joined).
            const Node firstLayerEnd = Node(s.begin + grid.layerSize);
            forEachRun(
                grid, s.begin, s.end,
                [&](Node first, Node last) {
                    const std::uint32_t allowed = i > 0 && first < firstLayerEnd ? groups.sameLayer() : ~0u;
                    joinRun(groups, l, first, last, allowed, sets);
                },
                [&](Node v) { joinAll(grid, l, v, sets, inSlab); });
        },
        int(slabs.size()));
    // The pairs across slab borders: from each slab's first layer downwards.
    for (std::size_t i = 1; i < slabs.size(); ++i) {
        const Node border = slabs[i].begin;
        for (Node v = border; v < border + Node(grid.layerSize); ++v)
            joinAll(grid, l, v, sets, [&](Node u) { return u < border; });
    }
    return numberComponents(grid, labels, sets);
}

std::vector<std::uint8_t> interfaceKinds(const Grid& grid, const std::vector<std::uint8_t>& labels, int threads) {
    std::vector<std::uint8_t> packed(grid.n);
    const std::uint8_t* l = labels.data();
    const std::vector<Slab> slabs = slabsOf(grid, threads);
    parallelFor(
        slabs.size(),
        [&](std::size_t i) {
            RunKinds runKinds(grid, l);
            forEachRun(
                grid, slabs[i].begin, slabs[i].end,
                [&](Node first, Node last) { runKinds(first, last, packed.data()); },
                [&](Node v) { packed[v] = boundaryKinds(grid, l, v); });
        },
        int(slabs.size()));
    return packed;
}

BucketQueue::BucketQueue(float width, float largestStep, const float* dist) : dist_(dist) {
    // Distances stay below n * largestStep (n < 2^32), so bucket numbers fit
    // 64 bits while the span is small; a pixel size that makes it odd puts
    // everything in one bucket (still exact, only slower).
    const double inverse = 1.0 / double(width);
    const double span = double(largestStep) * inverse;
    const bool usable = std::isfinite(inverse) && inverse > 0.0 && std::isfinite(span) && span < 64.0;
    inverseWidth_ = usable ? inverse : 0.0;
    // fl(d + w) lies at most floor(w / width) + 1 buckets ahead (+1 for the
    // rounding of d * inverse): the ring holds that many and the current one.
    const std::uint64_t ahead = usable ? std::uint64_t(std::ceil(span)) + 2 : 0;
    std::uint64_t size = 1;
    while (size <= ahead) size *= 2;
    mask_ = size - 1;
    ring_.resize(size);
}

namespace {

// Relaxes the same-label grid neighbours of voxel v at distance d: dist[u]
// becomes d + w where that is lower, and the queue hears of it.
class Relaxer {
public:
    Relaxer(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w, float* dist,
            BucketQueue& queue)
        : grid_(grid), labels_(labels.data()), dist_(dist), queue_(queue), weightOf_{w.full[0], w.full[1], w.full[2]} {
        for (int k = 0; k < grid.neighbourCount(); ++k) {
            offset_[k] = grid.interiorOffset(k);
            weight_[k] = w.full[grid.interiorKind(k)];
        }
        // Rows of three neighbours x-1, x, x+1 for the vector path; its
        // 4-wide loads reach one voxel past the row, so the last voxels of
        // the volume take the scalar path.
        const std::int64_t nx = grid.nx, slice = std::int64_t(grid.nx) * grid.ny;
        const int dzMax = grid.is3D ? 1 : 0;
        for (int dz = -dzMax; dz <= dzMax; ++dz)
            for (int dy = -1; dy <= 1; ++dy) {
                Row& row = rows_[rowCount_++];
                row.offset = dy * nx + dz * slice - 1;
                for (int dx = -1; dx <= 1; ++dx) {
                    const int steps = std::abs(dx) + std::abs(dy) + std::abs(dz);
                    row.weight[dx + 1] = steps == 0 ? 0.0f : w.full[steps - 1];  // v itself: lane masked off
                }
                row.weight[3] = 0.0f;
                row.lanes = dy == 0 && dz == 0 ? 0b101u : 0b111u;  // not v itself
            }
        vectorEnd_ = Node(std::max<std::int64_t>(0, std::int64_t(grid.n) - nx - slice - 3));
    }

    void operator()(Node v, float d) const {
        if (grid_.isBoundary(v)) {
            const std::uint8_t label = labels_[v];
            grid_.forEachNeighbour(v, [&](Node u, Kind kind) {
                if (labels_[u] == label) relax(u, d + weightOf_[kind]);
            });
            return;
        }
#if defined(__SSE2__)
        if (v < vectorEnd_) {
            interiorRows(v, d);
            return;
        }
#endif
        if (grid_.is3D) interior<26>(v, d);
        else interior<8>(v, d);
    }

    void relax(Node u, float nd) const {
        const float old = dist_[u];
        if (nd < old) {
            dist_[u] = nd;
            queue_.lowered(u, old, nd);
        }
    }

private:
    struct Row {
        std::int64_t offset;  // of the x-1 neighbour
        float weight[4];
        unsigned lanes;
    };

    // All tests first, without branches (which neighbour shares the label and
    // gets closer is as good as random), then the few stores.
    template <int Count>
    void interior(Node v, float d) const {
        const std::uint8_t label = labels_[v];
        std::uint32_t closer = 0;
#pragma GCC unroll 26
        for (int k = 0; k < Count; ++k) {
            const std::size_t u = std::size_t(std::int64_t(v) + offset_[k]);
            const float nd = d + weight_[k];
            closer |= std::uint32_t((labels_[u] == label) & (nd < dist_[u])) << k;
        }
        for (; closer; closer &= closer - 1) {
            const int k = __builtin_ctz(closer);
            const Node u = Node(std::int64_t(v) + offset_[k]);
            const float old = dist_[u], nd = d + weight_[k];
            dist_[u] = nd;
            queue_.lowered(u, old, nd);
        }
    }

#if defined(__SSE2__)
    // The same tests three neighbours at a time: d + w and the label
    // comparison per lane (addps rounds each lane as addss does).
    void interiorRows(Node v, float d) const {
        const __m128 dv = _mm_set1_ps(d);
        const __m128i label = _mm_set1_epi32(labels_[v]);
        const __m128i zero = _mm_setzero_si128();
        std::uint64_t closer = 0;
        for (int r = 0; r < rowCount_; ++r) {
            const Row& row = rows_[r];
            const std::int64_t first = std::int64_t(v) + row.offset;
            std::uint32_t four;
            std::memcpy(&four, labels_ + first, sizeof four);
            const __m128i bytes = _mm_cvtsi32_si128(int(four));
            const __m128i lanes = _mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero);
            const __m128 same = _mm_castsi128_ps(_mm_cmpeq_epi32(lanes, label));
            const __m128 nd = _mm_add_ps(dv, _mm_loadu_ps(row.weight));
            const __m128 lower = _mm_cmplt_ps(nd, _mm_loadu_ps(dist_ + first));
            const unsigned bits = unsigned(_mm_movemask_ps(_mm_and_ps(same, lower))) & row.lanes;
            closer |= std::uint64_t(bits) << (4 * r);
        }
        for (; closer; closer &= closer - 1) {
            const int bit = __builtin_ctzll(closer);
            const Row& row = rows_[bit / 4];
            const Node u = Node(std::int64_t(v) + row.offset + bit % 4);
            const float old = dist_[u], nd = d + row.weight[bit % 4];
            dist_[u] = nd;
            queue_.lowered(u, old, nd);
        }
    }
#endif

    const Grid& grid_;
    const std::uint8_t* labels_;
    float* dist_;
    BucketQueue& queue_;
    float weightOf_[3];
    std::int64_t offset_[26] = {};
    float weight_[26] = {};
    Row rows_[9] = {};
    int rowCount_ = 0;
    Node vectorEnd_ = 0;
};

}  // namespace

void dijkstraInPhase(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w, float cutoff,
                     std::vector<float>& dist) {
    BucketQueue queue(w.full[kFace], w.full[kCorner], dist.data());
    const Relaxer relaxer(grid, labels, w, dist.data(), queue);
    for (Node v = 0; v < grid.n; ++v)
        if (dist[v] < kInf) queue.lowered(v, kInf, dist[v]);
    // Only voxels below the cut-off are expanded, as GraSPI's search that
    // stops at the first distance >= cutoff: the same voxels, the same values.
    queue.drain(
        [&](Node v, float d) {
            if (d < cutoff) relaxer(v, d);
        },
        [] {});
}

void dijkstraFromElectrode(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w, bool fromAnode,
                           std::vector<float>& dist) {
    const Node cathode = Node(grid.n), anode = Node(grid.n + 1);
    dist.assign(grid.n + 2, kInf);
    float* const distance = dist.data();
    BucketQueue queue(w.full[kFace], w.full[kCorner], distance);
    const Relaxer relaxer(grid, labels, w, distance, queue);
    // GraSPI's colour-sum rule: black+RED, white+BLUE, grey+RED, grey+BLUE.
    auto joinsAnode = [](std::uint8_t label) { return label == Donor || label == Mixed; };
    auto joinsCathode = [](std::uint8_t label) { return label == Acceptor || label == Mixed; };
    // An electrode reaches a whole layer through zero-weight edges: it is
    // expanded once its bucket has run dry, with its least distance there.
    bool pending[2] = {false, false};
    auto relaxElectrode = [&](Node e, float nd) {
        if (nd < distance[e]) {
            distance[e] = nd;
            pending[e - cathode] = true;
        }
    };
    auto expandElectrode = [&](Node e) {
        const float d = distance[e];
        if (e == anode) {
            for (Node u = Node(grid.n - grid.layerSize); u < grid.n; ++u)
                if (joinsAnode(labels[u])) relaxer.relax(u, d + 0.0f);
        } else {
            for (Node u = 0; u < grid.layerSize; ++u)
                if (joinsCathode(labels[u])) relaxer.relax(u, d + 0.0f);
        }
    };
    distance[fromAnode ? anode : cathode] = 0.0f;
    expandElectrode(fromAnode ? anode : cathode);
    queue.drain(
        [&](Node v, float d) {
            relaxer(v, d);
            const std::uint8_t label = labels[v];
            if (grid.inTopLayer(v) && joinsAnode(label)) relaxElectrode(anode, d + 0.0f);
            if (grid.inBottomLayer(v) && joinsCathode(label)) relaxElectrode(cathode, d + 0.0f);
        },
        [&] {
            for (const Node e : {cathode, anode}) {
                if (!pending[e - cathode]) continue;
                pending[e - cathode] = false;
                expandElectrode(e);
            }
        });
}

}  // namespace ms::descriptors::detail
