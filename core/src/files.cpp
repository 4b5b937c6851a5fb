#include "microstudio/core/files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>

#include "microstudio/core/error.hpp"

namespace fs = std::filesystem;

namespace ms {

namespace {

struct TempName {
    std::string target;  // the name it stands for (one level up)
    long long pid = 0;   // the writer's process id (or an old time stamp: not a live pid)
};

bool allDigits(const std::string& s) {
    return !s.empty() && s.size() <= 19 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
}

// "." + NAME + ".tmp" + digits + "_" + digits + extension of NAME.
std::optional<TempName> parseTemp(const std::string& name) {
    if (name.size() < 2 || name[0] != '.') return std::nullopt;
    for (std::size_t pos = name.rfind(".tmp"); pos != std::string::npos && pos >= 2;
         pos = name.rfind(".tmp", pos - 1)) {
        const std::string target = name.substr(1, pos - 1);
        const std::string ext = fs::path(target).extension().string();
        const std::string rest = name.substr(pos + 4);
        if (rest.size() <= ext.size() || rest.compare(rest.size() - ext.size(), ext.size(), ext) != 0) continue;
        const std::string stamp = rest.substr(0, rest.size() - ext.size());
        const std::size_t underscore = stamp.find('_');
        if (underscore == std::string::npos || !allDigits(stamp.substr(0, underscore)) ||
            !allDigits(stamp.substr(underscore + 1)))
            continue;
        TempName t;
        t.target = target;
        t.pid = std::stoll(stamp.substr(0, underscore));
        return t;
    }
    return std::nullopt;
}

bool processAlive(long long pid) {
    if (pid <= 0 || pid > INT_MAX) return false;
    if (::kill(pid_t(pid), 0) == 0) return true;
    return errno == EPERM;  // exists, owned by someone else
}

}  // namespace

fs::path atomicTempPath(const fs::path& path) {
    static std::atomic<unsigned> counter{0};  // unique within one process; the pid across processes
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path();
    return dir / ("." + path.filename().string() + ".tmp" + std::to_string(::getpid()) + "_" +
                  std::to_string(counter++) + path.extension().string());
}

int removeStaleTemps(const fs::path& path) {
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    const std::string want = path.filename().string();
    int removed = 0;
    std::error_code ec;
    std::vector<fs::path> stale;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.size() < want.size() + 2 || name[0] != '.') continue;
        bool alive = false, ours = false;
        for (int depth = 0; depth < 8; ++depth) {  // a temp of a temp of ... the destination
            const auto t = parseTemp(name);
            if (!t) break;
            alive = alive || processAlive(t->pid);
            if (t->target == want) {
                ours = true;
                break;
            }
            name = t->target;
        }
        if (ours && !alive) stale.push_back(it->path());
    }
    for (const auto& p : stale) {
        std::error_code ignored;
        if (fs::remove_all(p, ignored) > 0 && !ignored) ++removed;
    }
    return removed;
}

void writeAtomically(const fs::path& path, const std::function<void(const fs::path&)>& write) {
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    if (!fs::is_directory(dir))
        throw Error("cannot write " + path.string() + ": folder " + dir.string() + " does not exist");
    removeStaleTemps(path);  // what a killed writer of this destination left behind
    const fs::path temp = atomicTempPath(path);
    try {
        write(temp);
        std::error_code ec;
        fs::rename(temp, path, ec);
        if (ec) throw Error("cannot write " + path.string() + ": " + ec.message());
    } catch (...) {
        std::error_code ignored;
        fs::remove(temp, ignored);
        throw;
    }
}

void writeTextAtomically(const fs::path& path, const std::string& text) {
    writeAtomically(path, [&](const fs::path& temp) {
        std::ofstream file(temp, std::ios::binary);
        file << text;
        if (!file.flush()) throw Error("cannot write " + path.string());
    });
}

void writeLinesAtomically(const fs::path& path, const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += line + '\n';
    writeTextAtomically(path, text);
}

fs::path atomicWriteTarget(const fs::path& path) {
    std::string name = path.filename().string();
    bool found = false;
    for (int depth = 0; depth < 8; ++depth) {
        const auto t = parseTemp(name);
        if (!t) break;
        name = t->target;
        found = true;
    }
    return found ? path.parent_path() / name : path;
}

std::string lowerExtension(const fs::path& path) {
    std::string ext = path.extension().string();
    if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext;
}

std::vector<fs::path> expandGlob(const std::string& pattern) {
    const fs::path p(pattern);
    const std::string name = p.filename().string();
    if (name.find_first_of("*?[") == std::string::npos) return {p};
    std::string rx;
    for (char c : name) {
        switch (c) {
            case '*':
                rx += ".*";
                break;
            case '?':
                rx += '.';
                break;
            case '[':
            case ']':
                rx += c;
                break;
            case '.':
            case '(':
            case ')':
            case '+':
            case '^':
            case '$':
            case '|':
            case '{':
            case '}':
            case '\\':
                rx += '\\';
                rx += c;
                break;
            default:
                rx += c;
        }
    }
    const std::regex re(rx);
    const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.is_regular_file() && std::regex_match(entry.path().filename().string(), re))
            out.push_back(p.has_parent_path() ? entry.path() : entry.path().filename());
    if (ec) throw Error("cannot list " + dir.string() + ": " + ec.message());
    std::sort(out.begin(), out.end());
    return out;
}

TemporaryDirectory::TemporaryDirectory(const std::string& prefix) {
    std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data()))
        throw Error(pattern + ": cannot create a temporary folder: " + std::strerror(errno));
    path_ = pattern;
}

TemporaryDirectory::~TemporaryDirectory() {
    std::error_code ec;
    fs::remove_all(path_, ec);  // best effort: a destructor cannot report
}

FileLock::~FileLock() { unlock(); }

bool FileLock::tryLock(const fs::path& lockFile, long* ownerPid) {
    unlock();
    if (ownerPid) *ownerPid = 0;
    for (int attempt = 0; attempt < 10; ++attempt) {
        const int fd = ::open(lockFile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) throw Error("cannot create lock file " + lockFile.string() + ": " + std::strerror(errno));
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            if (ownerPid) {
                char buf[32] = {};
                const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
                if (n > 0) *ownerPid = std::strtol(buf, nullptr, 10);
            }
            ::close(fd);
            if (err == EWOULDBLOCK) return false;
            throw Error("cannot lock " + lockFile.string() + ": " + std::strerror(err));
        }
        // The holder before us may have removed the file (and its folder) before
        // releasing it: the lock must be on the file that is at the path now.
        struct stat held {
        }, now{};
        if (::fstat(fd, &held) == 0 && ::stat(lockFile.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
            held.st_dev == now.st_dev) {
            const std::string pid = std::to_string(::getpid()) + "\n";
            if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
            fd_ = fd;
            return true;
        }
        ::close(fd);
    }
    throw Error("cannot lock " + lockFile.string() + ": it keeps being replaced");
}

void FileLock::unlock() {
    if (fd_ >= 0) {
        ::close(fd_);  // releases the flock
        fd_ = -1;
    }
}

}  // namespace ms
