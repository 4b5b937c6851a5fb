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

    // The neighbours of a voxel off the boundary: v + interiorOffset(k) is
    // joined by an edge of interiorKind(k), k < neighbourCount (26 / 8).
    int neighbourCount() const { return is3D ? 26 : 8; }
    std::int64_t interiorOffset(int k) const { return offsets_[k]; }
    Kind interiorKind(int k) const { return Kind(kinds_[k]); }
    // Neighbour k as a step on the grid.
    struct Step {
        int dx, dy, dz;
    };
    Step step(int k) const {
        return {relative_[std::size_t(k)].dx, relative_[std::size_t(k)].dy, relative_[std::size_t(k)].dz};
    }
    // The neighbours with a smaller index (13 in 3D, 4 in 2D): indices k.
    int earlierCount() const { return int(earlierCount_); }
    int earlierIndex(int j) const { return earlier_[j]; }

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

// Dial's bucket queue over the non-negative float distances of a search:
// buckets of width `width` (the least edge weight, so that a relaxation
// lands in a later bucket) kept in a ring that spans the largest step. A
// voxel is queued once per bucket it enters and expanded with its distance
// of the moment when its bucket is drained; voxels inside one bucket are
// taken first in, first out.
//
// Why the distances are GraSPI's exactly: a relaxation only stores
// fl(d + w) where that lowers a distance, and the search ends when no edge
// can lower one. Then every distance is the least float left-fold sum over
// the paths to it (fl(x + w) grows with x, so induction along the best path
// bounds it from above, and every stored value is such a sum), which is
// what GraSPI's binary-heap Dijkstra finds too, whatever order the voxels
// are taken in (tests: bucketSearchEqualsDijkstra*).
class BucketQueue {
public:
    BucketQueue(float width, float largestStep, const float* dist);

    // dist[v] was just lowered from `old` to d (d at most largestStep above
    // the bucket being drained): queue v unless it waits in d's bucket.
    void lowered(Node v, float old, float d) {
        const std::uint64_t bucket = bucketOf(d);
        if (old < kInf && bucketOf(old) == bucket && bucket != current_) return;
        ring_[bucket & mask_].push_back(v);
        ++size_;
    }
    // Calls expand(v, dist[v]) for every queued voxel whose distance lies in
    // the bucket being drained, bucket by bucket; expand may lower distances.
    // When a bucket runs dry bucketDone() is called, and may lower distances
    // into it again (the electrodes' zero-weight edges do).
    template <class Expand, class BucketDone>
    void drain(Expand&& expand, BucketDone&& bucketDone) {
        while (size_ > 0) {
            std::vector<Node>& bucket = ring_[current_ & mask_];
            std::size_t i = 0;
            do {
                for (; i < bucket.size(); ++i) {
                    const Node v = bucket[i];
                    const float d = dist_[v];
                    if (bucketOf(d) == current_) expand(v, d);  // else lowered into an earlier bucket
                }
                bucketDone();
            } while (i < bucket.size());
            size_ -= bucket.size();
            bucket.clear();
            ++current_;
        }
    }

private:
    std::uint64_t bucketOf(float d) const { return std::uint64_t(double(d) * inverseWidth_); }
    const float* dist_;
    double inverseWidth_;
    std::uint64_t mask_ = 0;
    std::uint64_t current_ = 0;
    std::size_t size_ = 0;
    std::vector<std::vector<Node>> ring_;
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
// Union-find over each pair of neighbours once, in up to `threads` slabs of
// layers joined in parallel; components are numbered in order of their first
// voxel whatever the thread count.
Components connectedComponents(const Grid& grid, const std::vector<std::uint8_t>& labels, int threads = 1);

// Per voxel, for each label p (2 bits each, p = 0..2): the smallest edge kind
// joining the voxel to a neighbour labelled p, kNone if there is none. The
// slot of the voxel's own label is kNone (and bits 6-7 are set).
std::vector<std::uint8_t> interfaceKinds(const Grid& grid, const std::vector<std::uint8_t>& labels, int threads = 1);
inline Kind kindTo(std::uint8_t packed, int label) { return Kind((packed >> (2 * label)) & 3u); }

// Dijkstra inside one phase from seeds: on entry dist (n entries) holds the
// seed distances, kInf elsewhere; edges join equal labels only. Expands only
// voxels closer than `cutoff`, as a search that stops at the first distance
// >= cutoff: distances below it are final, the rest hold what the expanded
// voxels offered (kInf when unreached), the same values as GraSPI's.
void dijkstraInPhase(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w, float cutoff,
                     std::vector<float>& dist);

// GraSPI's charge-transport Dijkstra from an electrode: voxel edges join
// equal labels; electrode edges (weight 0) join the anode (top, RED) to
// Donor and Mixed voxels of the top layer and the cathode (bottom, BLUE) to
// Acceptor and Mixed voxels of the bottom layer. dist has n + 2 entries:
// voxels, then the cathode (n) and the anode (n + 1).
void dijkstraFromElectrode(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w, bool fromAnode,
                           std::vector<float>& dist);

}  // namespace ms::descriptors::detail
