#pragma once
// What a file claims, from its header alone, before anything is read:
// `microstudio-cli info` prints it first, so the claim shows even when the
// read then refuses the file (docs/reliability.md).
#include <cstdint>
#include <filesystem>
#include <string>

#include "microstudio/io/io.hpp"

namespace ms::io {

struct FileClaim {
    std::string what;          // the header's words: "header '60000 60000'", "WholeExtent '0 9 0 9 0 0'", ...
    std::string dims;          // "NXxNY[xNZ]" as claimed; empty when the header gives none
    long double voxels = -1;   // claimed voxels; < 0 when the header gives none
    std::uintmax_t bytes = 0;  // bytes present (a slice stack: all its files)
};

// Reads at most the first 64 KB (an HDF5 file: its object headers through
// libhdf5). Throws ms::Error only when the file cannot be opened (missing,
// not a regular file); a header it cannot make sense of gives a claim whose
// `what` says so.
FileClaim fileClaim(const std::filesystem::path& path);

// The claim in the first bytes of a .vti, .txt, .png, .npy or .tif file;
// fileSize is the whole file's size. Never throws.
FileClaim claimFromHead(Format format, const std::string& head, std::uintmax_t fileSize);

// An HDF5 file's claim: its sample datasets and the first one's shape, type
// and stored bytes (hdf5.cpp). Throws ms::Error when libhdf5 cannot open it.
FileClaim hdf5Claim(const std::filesystem::path& path);

// "60000x60000 = 3600000000 voxels (header '60000 60000'); 20 bytes present"
std::string claimText(const FileClaim& claim);

}  // namespace ms::io
