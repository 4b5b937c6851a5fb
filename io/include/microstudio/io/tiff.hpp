#pragma once
// TIFF through libtiff: a multi-page file holds one z slice per page; a
// folder of single-page TIFFs (*.tif, *.tiff, hidden files skipped) is read in
// name order, numbers compared by value (slice_2 before slice_10). Pages are
// 8- or 16-bit greyscale (one sample per pixel, strips, uncompressed, LZW,
// Deflate or PackBits); row r of a page is y = r, as numpy's arr[z, y, x]
// (tifffile, SliceGAN). Values map to phases as io.hpp's ReadOptions says.
// Writing gives 8-bit uncompressed pages with labels 0 (D), 1 (A), 2 (M),
// spacing in XResolution/YResolution (ResolutionUnit none: pixels per unit
// length) and, exactly, in the ImageDescription "microstudio spacing SX SY SZ";
// field and attributes are not kept (docs/formats.md).
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/io/claim.hpp"

namespace ms::io {

// A file or, when path is a folder, its slices. Every page's size and strips
// are checked against the voxel cap and the bytes present before the volume
// is allocated.
Volume readTiff(const std::filesystem::path& path, const std::vector<double>& labelValues = {});
// A file's bytes (the fuzz target); errors name `where`.
Volume readTiffBytes(const std::string& bytes, const std::string& where, const std::vector<double>& labelValues = {});
// The slice files of a folder, in the order they are read.
std::vector<std::filesystem::path> tiffFolderSlices(const std::filesystem::path& folder);
void writeTiff(const Volume& volume, const std::filesystem::path& path);

// Pages and the first page's size, from the file's directories (or a folder's
// first slice); throws ms::Error only when the file is missing or not a
// regular file, or the folder holds no slice (a header libtiff cannot read
// gives a claim that says so).
FileClaim tiffClaim(const std::filesystem::path& path);
// The same from bytes (the head of a file); never throws.
FileClaim tiffClaimFromBytes(const std::string& bytes, std::uintmax_t fileSize);

}  // namespace ms::io
