#pragma once
// PNG for 2D images (8-bit grey) and slice stacks. Phases map to grey levels
// 0 (D), 255 (A), 128 (M); reading thresholds any 8/16-bit grey, RGB or
// palette image by nearest of those levels (2 phases when no grey is near 128).
#include <filesystem>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::io {

Volume readPng(const std::filesystem::path& path);
void writePng(const Volume& image2D, const std::filesystem::path& path);

// Slice stack: base "out.png" -> out_z0000.png ... ; reading a base name
// finds out_z*.png in order (or reads the single file when it exists).
std::vector<std::filesystem::path> pngStackPaths(const std::filesystem::path& base, int nz);
Volume readPngStack(const std::filesystem::path& base);
void writePngStack(const Volume& volume, const std::filesystem::path& base);

}  // namespace ms::io
