#include "microstudio/io/png.hpp"
#include "microstudio/core/error.hpp"
namespace ms::io {
Volume readPng(const std::filesystem::path& path) { throw Error(path.string() + ": not built yet"); }
void writePng(const Volume&, const std::filesystem::path& path) { throw Error(path.string() + ": not built yet"); }
std::vector<std::filesystem::path> pngStackPaths(const std::filesystem::path&, int) { return {}; }
Volume readPngStack(const std::filesystem::path& path) { throw Error(path.string() + ": not built yet"); }
void writePngStack(const Volume&, const std::filesystem::path& path) { throw Error(path.string() + ": not built yet"); }
}  // namespace ms::io
