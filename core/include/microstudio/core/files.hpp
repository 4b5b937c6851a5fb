#pragma once
// Small file helpers: atomic writes (temp file in the same folder, then
// rename) so a failure never leaves a half-written file behind.
#include <filesystem>
#include <functional>
#include <string>

namespace ms {

// Calls write(tempPath), then renames tempPath onto path. On any exception
// the temp file is removed and the exception propagates; path is untouched.
void writeAtomically(const std::filesystem::path& path,
                     const std::function<void(const std::filesystem::path& tempPath)>& write);

// The destination a writeAtomically temp file stands for (".out.h5.tmp123_4.h5"
// in a folder -> "out.h5" in that folder), so errors name the file the user
// asked for; any other path is returned as is.
std::filesystem::path atomicWriteTarget(const std::filesystem::path& path);

// Lower-case extension without the dot ("vti", "h5", "png", "txt").
std::string lowerExtension(const std::filesystem::path& path);

// Expands a glob in the file-name part ("data/part_*.h5"); sorted. A path
// without wildcards is returned as is.
std::vector<std::filesystem::path> expandGlob(const std::string& pattern);

}  // namespace ms
