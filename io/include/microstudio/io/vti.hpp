#pragma once
// VTK XML ImageData (.vti). Writes labels as UInt8 point data "phase" (and
// the field as Float32 "field" when present) in raw appended binary, with
// spacing and attributes in FieldData. Reads ascii, base64 inline binary
// (zlib-compressed or not) and raw appended data, as ParaView writes them.
#include <filesystem>

#include "microstudio/core/volume.hpp"

namespace ms::io {

Volume readVti(const std::filesystem::path& path);
void writeVti(const Volume& volume, const std::filesystem::path& path);

}  // namespace ms::io
