#pragma once
// NumPy .npy (format versions 1.0, 2.0 and 3.0), 2D or 3D arrays of
// little-endian bool, uint8/16/32, int8/16/32/64 or float32/64, C or Fortran
// order. Axes: C order holds (nz, ny, nx) / (ny, nx), the last axis fastest,
// as the .h5 layout; Fortran order holds (nx, ny, nz) / (nx, ny). Values map
// to phases as io.hpp's ReadOptions says (0/1 and 0/0.5/1 as MicroGen3D
// stores them, 0/1/2 as MicroStudio writes them, else 2 or 3 distinct values
// in ascending order). Writing gives uint8 labels 0 (D), 1 (A), 2 (M) in C
// order, version 1.0; spacing, field and attributes are not kept.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::io {

struct NpyHeader {
    int version = 1;
    std::string descr;  // "<u1", "|b1", "<f4" ...
    bool fortranOrder = false;
    std::vector<std::uint64_t> shape;
    std::size_t dataOffset = 0;  // bytes before the array data
};

// Parses the magic, version and header dict from a file's first bytes;
// throws ms::Error naming `where` on anything else (including a header longer
// than the bytes given).
NpyHeader parseNpyHeader(const std::string& head, const std::string& where);

// Every size claim (header length, shape, the data's bytes) is checked against
// the bytes present and the voxel cap before the volume is allocated.
Volume readNpy(const std::filesystem::path& path, const std::vector<double>& labelValues = {});
Volume readNpyBytes(const std::string& bytes, const std::string& where, const std::vector<double>& labelValues = {});
void writeNpy(const Volume& volume, const std::filesystem::path& path);

}  // namespace ms::io
