#pragma once
// Shared by the libFuzzer targets: the contract every reader keeps on any
// input is "a Volume or an ms::Error". Anything else (another exception, a
// crash, a sanitizer report, a leak, a hang, an allocation beyond
// -malloc_limit_mb) is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "microstudio/core/error.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/io/limits.hpp"

namespace fuzz {

// A small voxel cap keeps every run fast; the bytes-present checks are what
// is fuzzed (the cap is tested on its own).
inline void init() { ms::io::setMaxVoxels(std::uint64_t(1) << 22); }

// The input as a file (readers that take a path), in /dev/shm when it exists.
inline std::filesystem::path& inputPath() {
    static std::filesystem::path path;
    return path;
}

inline void removeInput() {
    std::error_code ignored;
    std::filesystem::remove(inputPath(), ignored);
}

inline std::filesystem::path writeInput(const std::uint8_t* data, std::size_t size, const char* ext) {
    std::filesystem::path& path = inputPath();
    if (path.empty()) {
        const std::filesystem::path dir = std::filesystem::is_directory("/dev/shm")
                                              ? std::filesystem::path("/dev/shm")
                                              : std::filesystem::temp_directory_path();
        path = dir / ("ms_fuzz_" + std::to_string(::getpid()) + ext);
        std::atexit(removeInput);
    }
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

// Touch every voxel so a volume with bad contents shows up.
inline void consume(const ms::Volume& v) {
    const auto counts = v.phaseCounts();
    std::size_t total = 0;
    for (auto c : counts) total += c;
    if (total != v.size()) std::abort();
}

}  // namespace fuzz
