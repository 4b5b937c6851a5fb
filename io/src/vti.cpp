#include "microstudio/io/vti.hpp"
#include "microstudio/core/error.hpp"
namespace ms::io {
Volume readVti(const std::filesystem::path& path) { throw Error(path.string() + ": .vti reading not built yet"); }
void writeVti(const Volume&, const std::filesystem::path& path) { throw Error(path.string() + ": .vti writing not built yet"); }
}  // namespace ms::io
