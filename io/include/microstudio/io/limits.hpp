#pragma once
// What the readers trust before they allocate (docs/reliability.md).
//
// Every reader checks what a file claims against two things before it
// allocates memory for the claim:
//  - the voxel cap: a volume of more than maxVoxels() voxels is refused at
//    once with one line naming the file and the claim. The default is 2^30
//    (1024^3) voxels; MICROSTUDIO_MAX_VOXELS=N in the environment or the
//    CLI option --max-voxels N (any command) changes it.
//  - the bytes actually present: a text value needs at least 2 bytes, an
//    uncompressed binary value its type's size, and a zlib/deflate stream
//    yields at most kMaxDeflateRatio bytes per stored byte. A claim the file
//    cannot back is refused as truncated or corrupt.
// Readers also refuse anything but a regular file (a FIFO would block, a
// folder gives an unclear system message).
#include <cstdint>
#include <filesystem>
#include <string>

namespace ms::io {

constexpr std::uint64_t kDefaultMaxVoxels = std::uint64_t(1) << 30;  // 1024^3
// zlib's deflate cannot expand a stream by more than about 1032:1.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

// The cap in force: setMaxVoxels() if called with N > 0, else
// MICROSTUDIO_MAX_VOXELS (throws ms::Error on a bad value), else the default.
std::uint64_t maxVoxels();
// 0 goes back to the environment / default.
void setMaxVoxels(std::uint64_t voxels);
// "134217728" -> 134217728; throws ms::Error naming `what` unless a positive integer.
std::uint64_t parseVoxelCount(const std::string& text, const std::string& what);

// Throws "<where>: claims <claim> = <voxels> voxels, more than the limit of
// <max> ..." when voxels exceeds maxVoxels(). voxels is a long double so a
// product of huge extents cannot wrap.
void checkVoxelClaim(const std::string& where, const std::string& claim, long double voxels);

// Throws "<path>: no such file" / "<path>: is a folder, not a file" / "<path>:
// not a regular file (a FIFO, socket or device)" unless path is a regular
// file (after following links). Returns its size in bytes.
std::uintmax_t requireRegularFile(const std::filesystem::path& path);

// A count for a message: exact below 10^19, else "2.52e+21" (a cast of a
// larger long double to an integer is undefined).
std::string countText(long double count);

// Text from a file for an error message: at most maxChars, anything but
// printable ASCII shown as '?', "..." when cut.
std::string printableExcerpt(const std::string& text, std::size_t maxChars = 60);

}  // namespace ms::io
