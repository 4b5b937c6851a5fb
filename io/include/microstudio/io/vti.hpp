#pragma once
// VTK XML ImageData (.vti). Writes labels as UInt8 point data "phase" (and
// the field as Float32 "field" when present) in raw appended binary, with
// spacing and attributes in FieldData. Reads ascii, base64 inline binary
// (zlib-compressed or not) and raw appended data, as ParaView writes them.
#include <filesystem>
#include <string>

#include "microstudio/core/volume.hpp"

namespace ms::io {

Volume readVti(const std::filesystem::path& path);
// The same from the file's bytes (what readVti reads); errors name `where`.
Volume readVtiBytes(std::string bytes, const std::string& where);
void writeVti(const Volume& volume, const std::filesystem::path& path);

}  // namespace ms::io
