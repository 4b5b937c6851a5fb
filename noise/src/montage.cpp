#include "microstudio/noise/montage.hpp"

#include "microstudio/core/error.hpp"

namespace ms::noise {

Volume montage(const std::vector<Volume>& tiles, int columns, int scale, int gap) {
    if (tiles.empty()) throw Error("montage: no images");
    if (columns < 1 || scale < 1 || gap < 0) throw Error("montage: columns and scale must be >= 1, gap >= 0");
    const Dims tile = tiles.front().dims();
    for (const auto& t : tiles) {
        if (!t.dims().is2D()) throw Error("montage: images must be 2D");
        if (t.dims() != tile)
            throw Error("montage: images differ in size (" + t.dims().str() + " vs " + tile.str() + ")");
    }
    const int rows = int((tiles.size() + std::size_t(columns) - 1) / std::size_t(columns));
    const int cols = std::min<int>(columns, int(tiles.size()));
    const int w = tile.nx * scale, h = tile.ny * scale;
    Volume out(Dims{cols * w + (cols + 1) * gap, rows * h + (rows + 1) * gap, 1}, Mixed);
    for (std::size_t t = 0; t < tiles.size(); ++t) {
        const int x0 = gap + int(t % std::size_t(columns)) * (w + gap);
        // Row 0 on top: PNG (like VTK) draws y = 0 at the bottom.
        const int y0 = gap + (rows - 1 - int(t / std::size_t(columns))) * (h + gap);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) out.at(x0 + x, y0 + y) = tiles[t].at(x / scale, y / scale);
    }
    return out;
}

}  // namespace ms::noise
