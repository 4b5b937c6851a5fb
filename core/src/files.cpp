#include "microstudio/core/files.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <regex>

#include "microstudio/core/error.hpp"

namespace fs = std::filesystem;

namespace ms {

void writeAtomically(const fs::path& path, const std::function<void(const fs::path&)>& write) {
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    if (!fs::is_directory(dir)) throw Error("cannot write " + path.string() + ": folder " + dir.string() + " does not exist");
    static std::atomic<unsigned> counter{0};  // unique temp names within one process
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    const fs::path temp = dir / ("." + path.filename().string() + ".tmp" + std::to_string(stamp) + "_" +
                                 std::to_string(counter++) + path.extension().string());
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

fs::path atomicWriteTarget(const fs::path& path) {
    // The temp name is "." + name + ".tmp" + digits + "_" + digits + extension.
    const std::string name = path.filename().string();
    const std::string ext = path.extension().string();
    if (name.size() < 2 || name[0] != '.') return path;
    const std::size_t tmp = name.rfind(".tmp");
    if (tmp == std::string::npos || tmp < 2 || name.size() < ext.size() || tmp + 4 > name.size() - ext.size()) return path;
    const std::string stamp = name.substr(tmp + 4, name.size() - ext.size() - tmp - 4);
    const std::size_t underscore = stamp.find('_');
    if (underscore == std::string::npos || underscore == 0 || underscore + 1 == stamp.size()) return path;
    for (std::size_t i = 0; i < stamp.size(); ++i)
        if (i != underscore && !(stamp[i] >= '0' && stamp[i] <= '9')) return path;
    return path.parent_path() / name.substr(1, tmp - 1);
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
            case '*': rx += ".*"; break;
            case '?': rx += '.'; break;
            case '[': case ']': rx += c; break;
            case '.': case '(': case ')': case '+': case '^': case '$': case '|': case '{': case '}': case '\\':
                rx += '\\'; rx += c; break;
            default: rx += c;
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

}  // namespace ms
