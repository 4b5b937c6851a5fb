#pragma once
// What hdf5.cpp and dream3d.cpp share: opening, the in-memory writer, the
// checked readers and libhdf5's error handling (all in ms::io::detail).
#include <H5Cpp.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "microstudio/core/error.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/io/claim.hpp"

namespace ms::io::detail {

// HDF5 prints its own error stack to stderr by default; we report instead.
struct SilenceHdf5 {
    SilenceHdf5() { H5::Exception::dontPrint(); }
};

std::string hdf5Reason(const H5::Exception& e);
// Opens for reading; one-line ms::Error for a non-HDF5, truncated or corrupt file.
H5::H5File openForRead(const std::filesystem::path& path);
// The in-memory ("core") driver without backing store, and its image.
H5::FileAccPropList inMemoryAccess(std::size_t increment);
std::vector<char> fileImage(H5::H5File& file);
// Writes bytes to target (a temp file of writeAtomically), reporting as path.
void writeImage(const std::vector<char>& image, const std::filesystem::path& target, const std::filesystem::path& path);

void writeScalarAttribute(H5::H5Object& obj, const std::string& name, double value);
void writeTextAttribute(H5::H5Object& obj, const std::string& name, const std::string& value);
template <typename T>
void writeArrayAttribute(H5::H5Object& obj, const std::string& name, const H5::PredType& type,
                         const std::vector<T>& v) {
    hsize_t n = v.size();
    H5::DataSpace space(1, &n);
    auto attr = obj.createAttribute(name, type, space);
    attr.write(type, v.data());
}

// A volume's attributes and text as the .h5 layout keeps them on its dataset.
void writeVolumeAttributes(H5::H5Object& obj, const Volume& v);
// The dataset's scalar numeric and text attributes into v (dims, spacing and
// `skip` aside).
void readVolumeAttributes(const H5::DataSet& ds, Volume& v, const std::string& where,
                          const std::vector<std::string>& skip);

// An attribute's numbers; attributes are small (dims, spacing, descriptors).
std::vector<double> readNumbers(const H5::Attribute& attr, const std::string& where);
std::string listText(const std::vector<double>& v);
// 2 or 3 positive integers as Dims; "WHERE: bad WHAT [..] (expected positive integers)" otherwise.
Dims dimsFromNumbers(const std::vector<double>& v, const std::string& where, const std::string& what);
// 3 positive finite numbers; "WHERE: bad WHAT [..] (expected 3 positive numbers)" otherwise.
std::array<double, 3> spacingFromNumbers(const std::vector<double>& s, const std::string& where,
                                         const std::string& what);
std::string shapeText(const std::vector<hsize_t>& shape);
std::vector<hsize_t> shapeOf(const H5::DataSet& ds);

// Called with the voxels (a float field's counting 4 times) of each dataset
// that passed its checks; the reader process raises its memory cap by them
// (a no-op elsewhere).
using GrantMemory = std::function<void(long double voxels)>;

// A field voxel (float) needs 4 times a label voxel's memory.
constexpr long double kLabelVoxelShare = 1;
constexpr long double kFieldVoxelShare = 4;
constexpr const char* kOutOfMemory = "not enough memory to read it";

// What a dataset claims (numeric type, voxel cap, stored bytes that can
// back the shape), checked before anything is allocated; its element count.
std::size_t checkedCount(const H5::DataSet& ds, const std::vector<hsize_t>& shape, std::uintmax_t fileSize,
                         const std::string& where, const GrantMemory& grant, long double voxelShare);

// Reads every value of ds as double, in C order, a bounded slab at a time
// (a few MB, never the whole dataset as doubles), calling take(index, value).
template <typename Take>
void readValues(const H5::DataSet& ds, const std::vector<hsize_t>& shape, Take&& take) {
    constexpr hsize_t kSlab = hsize_t(1) << 20;
    if (shape.empty()) {  // scalar
        double x = 0;
        ds.read(&x, H5::PredType::NATIVE_DOUBLE);
        take(std::size_t(0), x);
        return;
    }
    const int rank = int(shape.size());
    // Axes after k are read whole; axis k in steps; axes before k one index at a time.
    hsize_t inner = 1;
    int k = rank - 1;
    while (k >= 0 && inner * shape[std::size_t(k)] <= kSlab) inner *= shape[std::size_t(k--)];
    std::vector<hsize_t> start(shape.size(), 0), count(shape);
    hsize_t step = 1;
    if (k >= 0) {
        step = std::max<hsize_t>(1, kSlab / inner);
        for (int a = 0; a < k; ++a) count[std::size_t(a)] = 1;
    }
    std::vector<double> buffer;
    H5::DataSpace fileSpace = ds.getSpace();
    std::size_t done = 0;
    while (true) {
        if (k >= 0) count[std::size_t(k)] = std::min(step, shape[std::size_t(k)] - start[std::size_t(k)]);
        hsize_t n = 1;
        for (hsize_t c : count) n *= c;
        buffer.resize(std::size_t(n));
        fileSpace.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
        H5::DataSpace memory(1, &n);
        ds.read(buffer.data(), H5::PredType::NATIVE_DOUBLE, memory, fileSpace);
        for (std::size_t i = 0; i < buffer.size(); ++i) take(done + i, buffer[i]);
        done += buffer.size();
        if (k < 0) return;
        // Odometer over axes 0..k.
        start[std::size_t(k)] += count[std::size_t(k)];
        int a = k;
        while (a >= 0 && start[std::size_t(a)] >= shape[std::size_t(a)]) {
            start[std::size_t(a)] = 0;
            if (--a >= 0) ++start[std::size_t(a)];
        }
        if (a < 0) return;
    }
}

template <typename Fn>
auto guarded(const std::filesystem::path& path, Fn&& fn) {
    SilenceHdf5 quiet;
    try {
        return fn();
    } catch (const H5::Exception& e) {
        throw Error(path.string() + ": HDF5 error (truncated or corrupt file?): " + hdf5Reason(e));
    }
}

// A float field of `count` values (each finite), its claim checked before
// anything is allocated ("LABELSWHERE: field size differs from the labels").
std::vector<float> readField(const H5::DataSet& ds, std::size_t count, const std::string& labelsWhere,
                             std::uintmax_t fileSize, const std::string& where, const GrantMemory& grant);

// Builds a file in memory (the core driver, so a full disk cannot crash
// libhdf5) and writes its image to `path` atomically; rawBytes sizes the
// driver's increments.
void writeHdf5Atomically(const std::filesystem::path& path, std::size_t rawBytes,
                         const std::function<void(H5::H5File&)>& build);

// DREAM.3D (dream3d.cpp), in the process that runs libhdf5 (the reader's).
Volume readDream3dFile(const H5::H5File& file, const std::filesystem::path& path,
                       const std::vector<double>& labelValues, const GrantMemory& grant);
FileClaim dream3dClaimOf(const H5::H5File& file, const std::filesystem::path& path, std::uintmax_t size);

}  // namespace ms::io::detail
