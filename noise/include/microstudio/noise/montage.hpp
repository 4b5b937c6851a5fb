#pragma once
// A labelled 2D montage of same-size images (for docs and the studio):
// tiles in a grid, each scaled up by an integer factor (nearest), separated
// by `gap` voxels of the Mixed label, which PNG writes as mid grey.
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::noise {

// Tiles must all be 2D with the same dims; fills row by row, `columns` per
// row, the first row at the top of the image as PNG shows it (highest y,
// since y grows upwards).
Volume montage(const std::vector<Volume>& tiles, int columns, int scale = 1, int gap = 2);

}  // namespace ms::noise
