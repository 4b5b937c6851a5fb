#pragma once
// HDF5 in the MicroGen3D layout: one dataset per sample holding the
// flattened volume (x fastest), descriptors and parameters as scalar
// attributes on that dataset. MicroStudio also stores "dims" (nx, ny, nz),
// "spacing", and, when a field is present, a sibling dataset
// "<name>__field" (float32). Any file in that layout reads: a dataset
// without "dims" takes its own shape (3D or 2D array) or, if flat, the
// file's root attribute "dims".
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::io {

std::vector<Volume> readHdf5(const std::filesystem::path& path);
// Names of the sample datasets, in file order.
std::vector<std::string> hdf5SampleNames(const std::filesystem::path& path);
Volume readHdf5Sample(const std::filesystem::path& path, const std::string& name);

// Writes all samples atomically; names from text["sample"] or sample_000000...
void writeHdf5(const std::vector<Volume>& samples, const std::filesystem::path& path);

// Appends samples to an existing file (or creates it) in place; used by the
// dataset builder, which writes each part atomically itself.
class Hdf5Appender {
public:
    explicit Hdf5Appender(const std::filesystem::path& path, bool truncate = false);
    ~Hdf5Appender();
    Hdf5Appender(const Hdf5Appender&) = delete;
    Hdf5Appender& operator=(const Hdf5Appender&) = delete;
    void append(const std::string& name, const Volume& volume);
    bool contains(const std::string& name) const;
    void flush();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ms::io
