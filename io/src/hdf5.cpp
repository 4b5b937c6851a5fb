#include "microstudio/io/hdf5.hpp"
#include "microstudio/core/error.hpp"
namespace ms::io {
struct Hdf5Appender::Impl {};
std::vector<Volume> readHdf5(const std::filesystem::path& path) { throw Error(path.string() + ": not built yet"); }
std::vector<std::string> hdf5SampleNames(const std::filesystem::path& path) { throw Error(path.string() + ": not built yet"); }
Volume readHdf5Sample(const std::filesystem::path& path, const std::string&) { throw Error(path.string() + ": not built yet"); }
void writeHdf5(const std::vector<Volume>&, const std::filesystem::path& path) { throw Error(path.string() + ": not built yet"); }
Hdf5Appender::Hdf5Appender(const std::filesystem::path& path, bool) { throw Error(path.string() + ": not built yet"); }
Hdf5Appender::~Hdf5Appender() = default;
void Hdf5Appender::append(const std::string&, const Volume&) {}
bool Hdf5Appender::contains(const std::string&) const { return false; }
void Hdf5Appender::flush() {}
}  // namespace ms::io
