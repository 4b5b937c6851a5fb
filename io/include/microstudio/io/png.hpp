#pragma once
// PNG for 2D images (8-bit grey) and slice stacks. Phases map to grey levels
// 0 (D), 255 (A), 128 (M); reading thresholds any 8/16-bit grey, RGB or
// palette image by nearest of those levels (2 phases when no grey is near 128).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::io {

Volume readPng(const std::filesystem::path& path);
// The same from a PNG file's bytes; errors name `where`.
Volume readPngBytes(const std::string& bytes, const std::string& where);
// A 2D volume as PNG bytes (8-bit grey).
std::string encodePng(const Volume& image2D, const std::string& where);
void writePng(const Volume& image2D, const std::filesystem::path& path);

// Slice stack: base "out.png" -> out_z0000.png ... out_zNNNN.png plus the
// manifest out.pngstack, which lists each slice with its size in bytes and
// CRC-32. Writing is all or nothing for a reader: the slices and manifest are
// written into a temporary folder beside the stack (".out.png.tmp<pid>_<n>.png"),
// then the manifest and the slices are renamed into place and slices of an
// older, larger stack removed. Reading a base name reads the single file
// when it exists, else exactly the manifest's slices (a slice that is not the
// one the manifest lists, as after a kill during the renames, is refused
// naming it), else, for stacks without a manifest, every out_z*.png in order.
std::vector<std::filesystem::path> pngStackPaths(const std::filesystem::path& base, int nz);
std::filesystem::path pngStackManifest(const std::filesystem::path& base);
Volume readPngStack(const std::filesystem::path& base);
void writePngStack(const Volume& volume, const std::filesystem::path& base);

struct PngStackManifest {
    struct Slice {
        std::filesystem::path path;
        std::uintmax_t bytes = 0;
        std::string crc;  // 8 hex digits
    };
    long slices = 0;
    int width = 0, height = 0;
    std::vector<Slice> entries;
};
// Parses a manifest's text (throws ms::Error naming `where`); slice paths are
// those of pngStackPaths(base, slices).
PngStackManifest parsePngStackManifest(const std::string& text, const std::filesystem::path& base,
                                       const std::string& where);

}  // namespace ms::io
