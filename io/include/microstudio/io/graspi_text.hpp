#pragma once
// GraSPI / py-graspi morphology text: first line "nx ny [nz]" (nz absent or
// 0 means 2D), then nx*ny*nz integers, x fastest. Labels 0 = D, 1 = A,
// 3 = M (mapped to ms::Mixed); any other value is an error.
#include <filesystem>
#include <iosfwd>

#include "microstudio/core/volume.hpp"

namespace ms::io {

Volume readGraspiText(std::istream& in, const std::string& sourceName);
Volume readGraspiText(const std::filesystem::path& path);
void writeGraspiText(const Volume& volume, std::ostream& out);
void writeGraspiText(const Volume& volume, const std::filesystem::path& path);

}  // namespace ms::io
