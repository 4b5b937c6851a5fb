#pragma once
// The GraSPI graph kept implicit on the voxel grid: neighbours are computed
// on the fly (8 in 2D, 26 in 3D), the electrodes and interface vertices are
// handled by the algorithms that need them. No adjacency lists: a 1M-voxel
// volume needs a few bytes per voxel instead of GraSPI's ~1 kB.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::descriptors::detail {

using Node = std::uint32_t;

// Edge kinds as GraSPI names them: 'f' side, 's' edge-diagonal, 't' corner.
enum Kind : std::uint8_t { kFace = 0, kSide = 1, kCorner = 2, kNone = 3 };

// GraSPI's "infinite" distance (boost's default for float).
constexpr float kInf = std::numeric_limits<float>::max();

class Grid {
public:
    Grid(const Dims& dims, bool periodic);

    int nx, ny, nz;
    bool is3D;
    std::size_t n;          // voxels
    std::size_t layerSize;  // voxels in one row (2D) / slice (3D) across the electrode axis
    int layers;             // rows (2D) / slices (3D) between the electrodes
    bool wrapX = false, wrapY = false;

    int layerOf(Node v) const { return int(v / layerSize); }
    bool inBottomLayer(Node v) const { return v < layerSize; }
    bool inTopLayer(Node v) const { return v >= n - layerSize; }

    // Calls f(neighbour, kind) for every grid neighbour of v (wrap included,
    // no duplicates, never v itself).
    template <class F>
    void forEachNeighbour(Node v, F&& f) const {
        if (!boundary_[v]) {
            // Fixed trip counts let the compiler unroll the common case.
            if (is3D) {
                for (std::size_t k = 0; k < 26; ++k) f(Node(std::int64_t(v) + offsets_[k]), Kind(kinds_[k]));
            } else {
                for (std::size_t k = 0; k < 8; ++k) f(Node(std::int64_t(v) + offsets_[k]), Kind(kinds_[k]));
            }
            return;
        }
        const int x = int(v % Node(nx));
        const int y = int((v / Node(nx)) % Node(ny));
        const int z = int(v / Node(std::size_t(nx) * ny));
        for (const auto& r : relative_) {
            int xx = x + r.dx, yy = y + r.dy, zz = z + r.dz;
            if (xx < 0 || xx >= nx) {
                if (!wrapX) continue;
                xx = (xx + nx) % nx;
            }
            if (yy < 0 || yy >= ny) {
                if (!wrapY) continue;
                yy = (yy + ny) % ny;
            }
            if (zz < 0 || zz >= nz) continue;
            f(Node(xx + std::size_t(nx) * (yy + std::size_t(ny) * zz)), Kind(r.kind));
        }
    }

    // Whether v lies on a side of the box (the offset table does not apply).
    bool isBoundary(Node v) const { return boundary_[v] != 0; }

    // For a voxel not on the boundary: the 13 neighbours with a smaller index
    // (4 in 2D), so that a sweep over all voxels meets each pair once.
    template <class F>
    void forEachEarlierNeighbour(Node v, F&& f) const {
        for (std::size_t k = 0; k < earlierCount_; ++k)
            f(Node(std::int64_t(v) + offsets_[earlier_[k]]), Kind(kinds_[earlier_[k]]));
    }

    // The 'f' neighbours in +x, +y, +z only (each face pair once).
    template <class F>
    void forEachForwardFace(F&& f) const {
        for (int z = 0; z < nz; ++z)
            for (int y = 0; y < ny; ++y) {
                const Node row = Node(std::size_t(nx) * (y + std::size_t(ny) * z));
                for (int x = 0; x < nx; ++x) {
                    const Node v = row + Node(x);
                    if (x + 1 < nx) f(v, v + 1);
                    else if (wrapX) f(v, row);
                    if (y + 1 < ny) f(v, v + Node(nx));
                    else if (wrapY) f(v, Node(x + std::size_t(nx) * (std::size_t(ny) * z)));
                    if (z + 1 < nz) f(v, v + Node(std::size_t(nx) * ny));
                }
            }
    }

private:
    struct Relative {
        int dx, dy, dz;
        std::uint8_t kind;
    };
    std::vector<Relative> relative_;
    std::int64_t offsets_[26] = {};
    std::uint8_t kinds_[26] = {};
    std::uint8_t earlier_[13] = {};  // indices into offsets_ of the negative offsets
    std::size_t earlierCount_ = 0;
    std::vector<std::uint8_t> boundary_;  // 1 where the offset table does not apply
};

// Edge weights exactly as GraSPI stores them: float(w * pixelsize) with w
// computed in double; interface edges float(w * pixelsize / 2).
struct Weights {
    explicit Weights(double pixelSize);
    float full[3];
    float half[3];
};

// A radix heap of (distance, node) keyed on the float's bit pattern (for
// non-negative floats the bits order like the values). Dijkstra only pushes
// keys >= the last popped one, which is all a radix heap needs; it pops in
// non-decreasing order like any priority queue, so the float distances are
// exactly those of GraSPI's binary-heap Dijkstra: each final distance is the
// least float left-fold path sum, whatever order ties are popped in.
class RadixHeap {
public:
    struct Item {
        float d;
        Node v;
    };
    void push(float d, Node v) {
        const std::uint32_t key = bits(d);
        buckets_[bucketOf(key)].push_back({key, v});
        ++size_;
    }
    Item pop() {
        if (buckets_[0].empty()) {
            std::size_t i = 1;
            while (buckets_[i].empty()) ++i;
            std::uint32_t least = std::numeric_limits<std::uint32_t>::max();
            for (const auto& e : buckets_[i]) least = std::min(least, e.key);
            last_ = least;
            for (const auto& e : buckets_[i]) buckets_[bucketOf(e.key)].push_back(e);
            buckets_[i].clear();
        }
        const Entry e = buckets_[0].back();
        buckets_[0].pop_back();
        --size_;
        float d;
        std::memcpy(&d, &e.key, sizeof d);
        return {d, e.v};
    }
    bool empty() const { return size_ == 0; }

private:
    struct Entry {
        std::uint32_t key;
        Node v;
    };
    static std::uint32_t bits(float d) {
        std::uint32_t k;
        std::memcpy(&k, &d, sizeof k);
        return k;
    }
    std::size_t bucketOf(std::uint32_t key) const {
        const std::uint32_t diff = key ^ last_;
        return diff == 0 ? 0 : std::size_t(32 - __builtin_clz(diff));
    }
    std::vector<Entry> buckets_[33];
    std::uint32_t last_ = 0;
    std::size_t size_ = 0;
};

// Connected components of same-label voxels over the full neighbourhood.
struct Component {
    std::uint8_t label = 0;
    std::size_t size = 0;
    bool top = false;     // touches the anode layer (GraSPI "connected to top")
    bool bottom = false;  // touches the cathode layer
};
struct Components {
    std::vector<std::uint32_t> id;  // per voxel
    std::vector<Component> list;
};
// When `kinds` is given it is filled as interfaceKinds() does, in the same
// sweep over the neighbours. Union-find over each pair of neighbours once,
// in up to `threads` slabs of layers joined in parallel; components are
// numbered in order of their first voxel whatever the thread count.
Components connectedComponents(const Grid& grid, const std::vector<std::uint8_t>& labels,
                               std::vector<std::uint8_t>* kinds = nullptr, int threads = 1);

// Per voxel, for each label p (2 bits each, p = 0..2): the smallest edge kind
// joining the voxel to a neighbour labelled p, kNone if there is none. The
// slot of the voxel's own label is kNone.
std::vector<std::uint8_t> interfaceKinds(const Grid& grid, const std::vector<std::uint8_t>& labels);
inline Kind kindTo(std::uint8_t packed, int label) { return Kind((packed >> (2 * label)) & 3u); }

// Dijkstra inside one phase from interface seeds: dist[v] starts at the
// seed distance for seeded voxels; edges join equal labels only. Stops once
// the smallest queued distance reaches `cutoff` (distances below it are
// final; the rest may stay larger than the truth, kInf when unreached).
void dijkstraInPhase(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w,
                     const std::vector<std::pair<float, Node>>& seeds, float cutoff, std::vector<float>& dist);

// GraSPI's charge-transport Dijkstra from an electrode: voxel edges join
// equal labels; electrode edges (weight 0) join the anode (top, RED) to
// Donor and Mixed voxels of the top layer and the cathode (bottom, BLUE) to
// Acceptor and Mixed voxels of the bottom layer. dist has n + 2 entries:
// voxels, then the cathode (n) and the anode (n + 1).
void dijkstraFromElectrode(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w, bool fromAnode,
                           std::vector<float>& dist);

}  // namespace ms::descriptors::detail
