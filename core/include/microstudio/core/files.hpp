#pragma once
// Small file helpers: atomic writes (temp file in the same folder, then
// rename) so a failure never leaves a half-written file behind, the cleanup
// of temp files a killed writer left, and an advisory lock file.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ms {

// Calls write(tempPath), then renames tempPath onto path. On any exception
// the temp file is removed and the exception propagates; path is untouched.
// The temp file is ".NAME.tmp<pid>_<n>EXT" in path's folder; stale ones of
// that pattern (left by a killed process, see removeStaleTemps) are removed
// first.
void writeAtomically(const std::filesystem::path& path,
                     const std::function<void(const std::filesystem::path& tempPath)>& write);

// `text` as it is (binary), through writeAtomically; ms::Error "cannot write
// PATH" when the writing fails.
void writeTextAtomically(const std::filesystem::path& path, const std::string& text);
// Each line and a newline, the same way.
void writeLinesAtomically(const std::filesystem::path& path, const std::vector<std::string>& lines);

// A fresh temp name for path, as writeAtomically uses (".out.h5.tmp<pid>_<n>.h5"
// in path's folder). Also for temp folders (a PNG slice stack).
std::filesystem::path atomicTempPath(const std::filesystem::path& path);

// The destination a writeAtomically temp file stands for (".out.h5.tmp123_4.h5"
// in a folder -> "out.h5" in that folder; a temp of a temp -> the first
// destination), so errors name the file the user asked for; any other path is
// returned as is.
std::filesystem::path atomicWriteTarget(const std::filesystem::path& path);

// Removes the temp files and folders of path's pattern (".NAME.tmp<pid>_<n>EXT",
// also temps of such temps) whose process is gone: what a kill -9 left behind.
// Temps of live processes (another writer at work) are kept. Returns how many
// were removed; errors are ignored (a cleanup never fails a write).
int removeStaleTemps(const std::filesystem::path& path);

// Lower-case extension without the dot ("vti", "h5", "png", "txt").
std::string lowerExtension(const std::filesystem::path& path);

// Expands a glob in the file-name part ("data/part_*.h5"); sorted. A path
// without wildcards is returned as is.
std::vector<std::filesystem::path> expandGlob(const std::string& pattern);

// A new, empty folder under the system's temporary folder ("PREFIX-XXXXXX"),
// removed with everything in it when the object goes. Throws ms::Error when
// it cannot be created.
class TemporaryDirectory {
public:
    explicit TemporaryDirectory(const std::string& prefix);
    ~TemporaryDirectory();
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// An advisory lock (flock) on a lock file, held while the object lives and
// released by the kernel when the process dies (kill -9 included). The file
// holds the owner's pid. tryLock returns false (and the owner's pid, 0 when
// unknown) when another process holds it.
class FileLock {
public:
    FileLock() = default;
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    // Throws ms::Error when the lock file cannot be created.
    bool tryLock(const std::filesystem::path& lockFile, long* ownerPid = nullptr);
    void unlock();
    bool locked() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

}  // namespace ms
