#include "microstudio/io/limits.hpp"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <system_error>

#include "microstudio/core/error.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {
std::atomic<std::uint64_t> g_override{0};

}  // namespace

std::string countText(long double count) {
    if (count >= 0 && count < 1e19L) return std::to_string(static_cast<unsigned long long>(count));
    std::ostringstream os;
    os.precision(3);
    os << double(count);
    return os.str();
}

std::uint64_t parseVoxelCount(const std::string& text, const std::string& what) {
    std::size_t i = 0;
    while (i < text.size() && text[i] == ' ') ++i;
    std::uint64_t value = 0;
    const std::size_t start = i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        const unsigned digit = unsigned(text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10) throw Error(what + ": '" + printableExcerpt(text) + "' is too large");
        value = value * 10 + digit;
    }
    if (i == start || i != text.size() || value == 0)
        throw Error(what + " expects a positive number of voxels, got '" + printableExcerpt(text) + "'");
    return value;
}

std::uint64_t maxVoxels() {
    if (const std::uint64_t set = g_override.load()) return set;
    if (const char* env = std::getenv("MICROSTUDIO_MAX_VOXELS"); env && *env)
        return parseVoxelCount(env, "MICROSTUDIO_MAX_VOXELS");
    return kDefaultMaxVoxels;
}

void setMaxVoxels(std::uint64_t voxels) { g_override.store(voxels); }

void checkVoxelClaim(const std::string& where, const std::string& claim, long double voxels) {
    const std::uint64_t cap = maxVoxels();
    if (!(voxels <= static_cast<long double>(cap)))
        throw Error(where + ": claims " + claim + " = " + countText(voxels) + " voxels, more than the limit of " +
                    std::to_string(cap) + " (raise it with --max-voxels N or MICROSTUDIO_MAX_VOXELS=N)");
}

std::uintmax_t requireRegularFile(const fs::path& path) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (st.type() == fs::file_type::not_found) throw Error(path.string() + ": no such file");
    if (ec) throw Error(path.string() + ": " + ec.message());
    if (fs::is_directory(st)) throw Error(path.string() + ": is a folder, not a file");
    if (!fs::is_regular_file(st))
        throw Error(path.string() + ": not a regular file (a FIFO, socket or device); refused");
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) throw Error(path.string() + ": " + ec.message());
    return size;
}

std::string printableExcerpt(const std::string& text, std::size_t maxChars) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < maxChars; ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        out += (c >= 0x20 && c < 0x7f) ? char(c) : '?';
    }
    if (text.size() > maxChars) out += "...";
    return out;
}

}  // namespace ms::io
