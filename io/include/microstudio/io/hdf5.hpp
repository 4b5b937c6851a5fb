#pragma once
// HDF5 in the MicroGen3D layout: one dataset per sample holding the
// flattened volume (x fastest), descriptors and parameters as scalar
// attributes on that dataset. MicroStudio also stores "dims" (nx, ny, nz),
// "spacing", and, when a field is present, a sibling dataset
// "<name>__field" (float32). Any file in that layout reads: a dataset
// without "dims" takes its own shape (3D or 2D array) or, if flat, the
// file's root attribute "dims".
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::io {

// Every reader below runs libhdf5 in a forked child process, which sends the
// result back through a socket: libhdf5 1.10 crashes on some
// malformed files (fuzzing finds such files in seconds), and a crash must
// never take the CLI or the studio down. A child that dies gives one line,
// "f.h5: corrupt HDF5 file: libhdf5 crashed reading it (signal 11, ...);
// refused". The reader process is started once and serves every read.
// MICROSTUDIO_HDF5_IN_PROCESS=1 (or setHdf5ReadIsolation(false), as the fuzz
// target does to see libhdf5's crashes) reads in the calling process.
void setHdf5ReadIsolation(bool on);

// The reader process's limits. A read that makes no progress (no further
// dataset begun) for `seconds` (a hang inside libhdf5) kills the reader: one
// line, refused, and the next read starts a new one. 0 = MICROSTUDIO_HDF5_TIMEOUT if set, else 60 s + 1 s per
// 20 MB of file. Memory: for each read the reader may grow its address space
// by `headroomBytes` (libhdf5's caches and metadata, an 8 MB slab buffer)
// plus `bytesPerVoxel` per voxel and 16 KB of each dataset that passed its
// checks (the labels, their copy in the reply and its growth, a float field
// counting 4 times; the sample's own small parts), so an allocation libhdf5 makes from a claim before our checks see
// it fails in the reader: one line, the caller unharmed. (Not under
// AddressSanitizer, which reserves terabytes of address space.)
struct Hdf5ReaderLimits {
    double seconds = 0;
    std::uint64_t headroomBytes = std::uint64_t(64) << 20;
    double bytesPerVoxel = 4;
};
void setHdf5ReaderLimits(const Hdf5ReaderLimits& limits);
// Whether reads run under the memory cap (isolated, and not sanitized).
bool hdf5ReaderCapsMemory();

// Starts the reader process now. Called first thing in main() by the CLI and
// the studio, so it is forked while the process has one thread (a fork of a
// multi-threaded process copies only the forking thread, and locks another
// thread held stay held in the child). Without it the first read starts it.
void startHdf5Reader();

// With `progress`: its fraction follows the samples read (the reader says
// how far it is about every second) and cancelling it stops the read within
// a quarter second (ms::Cancelled; the next read starts a new reader).
std::vector<Volume> readHdf5(const std::filesystem::path& path, ProgressToken* progress = nullptr);
// Names of the sample datasets, in file order.
std::vector<std::string> hdf5SampleNames(const std::filesystem::path& path);
// The same, but throws ms::Error naming the file when it holds no sample
// dataset (an empty file, or only groups).
std::vector<std::string> hdf5RequireSamples(const std::filesystem::path& path);
// The progress line of a read of many samples: "reading train.h5: 3840 of
// 8400 samples" (readHdf5's, and the training readers' that pick samples).
std::string readingSamplesMessage(const std::filesystem::path& path, std::size_t done, std::size_t total);
// Readers check each dataset's claim before allocating: a numeric type, the
// voxel cap (limits.hpp), and stored bytes (H5Dget_storage_size) that can back
// the shape; a chunked dataset never written is refused.
Volume readHdf5Sample(const std::filesystem::path& path, const std::string& name);

// Writes all samples atomically; names from text["sample"] or sample_000000...
// HDF5 builds the file in memory (core driver, no backing store) and the
// image is written by MicroStudio: a full disk gives one error line, never a
// crash inside HDF5, and leaves no temp file.
void writeHdf5(const std::vector<Volume>& samples, const std::filesystem::path& path);

// Appends samples to an existing file (or creates it); used by the dataset
// builder, which writes each part atomically itself. The file is built in
// memory (an existing one is loaded) and its image is written atomically to
// the path by flush(), close() or the destructor. The destructor throws the
// write's error (a full disk) unless an exception is already unwinding, in
// which case nothing is written.
class Hdf5Appender {
public:
    explicit Hdf5Appender(const std::filesystem::path& path, bool truncate = false);
    ~Hdf5Appender() noexcept(false);
    Hdf5Appender(const Hdf5Appender&) = delete;
    Hdf5Appender& operator=(const Hdf5Appender&) = delete;
    void append(const std::string& name, const Volume& volume);
    bool contains(const std::string& name) const;
    void flush();
    void close();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ms::io
