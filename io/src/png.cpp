#include "microstudio/io/png.hpp"

#include <png.h>
#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/limits.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

constexpr std::uint8_t kGreyOf[kMaxPhases] = {0, 255, 128};  // D black, A white, M grey
constexpr const char* kManifestMagic = "microstudio-png-stack 1";
constexpr std::uintmax_t kMaxManifestBytes = 16 << 20;
constexpr long kMaxStackSlices = 1000000;

// libpng reports errors through longjmp by default; route them to a
// C++ exception-free path by recording the message and using setjmp.
void onPngError(png_structp png, png_const_charp message) {
    auto* reason = static_cast<std::string*>(png_get_error_ptr(png));
    if (reason) *reason = message;
    png_longjmp(png, 1);
}
void onPngWarning(png_structp, png_const_charp) {}

struct MemoryReader {
    const unsigned char* data;
    std::size_t size, at;
};

void readFromMemory(png_structp png, png_bytep out, png_size_t length) {
    auto* r = static_cast<MemoryReader*>(png_get_io_ptr(png));
    if (length > r->size - r->at) png_error(png, "unexpected end of file");
    std::memcpy(out, r->data + r->at, length);
    r->at += length;
}

void writeToString(png_structp png, png_bytep data, png_size_t length) {
    static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), length);
}
void flushNothing(png_structp) {}

std::uint8_t phaseOfGrey(std::uint8_t g) {
    if (g < 64) return Donor;
    if (g >= 192) return Acceptor;
    return Mixed;
}

std::string readFileBytes(const fs::path& path) {
    requireRegularFile(path);  // a FIFO would block the read
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open for reading");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(path.string() + ": read failed");
    return bytes;
}

// Writes bytes to path, checking every step; errors name `shown`.
void writeFileBytes(const fs::path& path, const std::string& bytes, const fs::path& shown) {
    std::FILE* f = std::fopen(path.string().c_str(), "wb");
    if (!f) throw Error(shown.string() + ": cannot open for writing: " + std::strerror(errno));
    int err = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() ? 0 : (errno ? errno : EIO);
    if (std::fflush(f) != 0 && !err) err = errno ? errno : EIO;
    if (std::fclose(f) != 0 && !err) err = errno ? errno : EIO;
    if (err) throw Error(shown.string() + ": write failed: " + std::strerror(err));
}

std::string crcText(const std::string& bytes) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08lx",
                  crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), uInt(bytes.size())) & 0xffffffffUL);
    return buf;
}

}  // namespace

fs::path pngStackManifest(const fs::path& base) { return base.parent_path() / (base.stem().string() + ".pngstack"); }

Volume readPng(const fs::path& path) { return readPngBytes(readFileBytes(path), path.string()); }

Volume readPngBytes(const std::string& bytes, const std::string& where) {
    const std::uintmax_t fileSize = bytes.size();
    if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8))
        throw Error(where + ": not a PNG file");
    MemoryReader source{reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 8};
    std::string reason;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reason, onPngError, onPngWarning);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(where + ": out of memory reading PNG");
    }
    std::vector<std::uint8_t> pixels;
    png_uint_32 width = 0, height = 0;
    // Everything libpng may longjmp over is owned outside this block.
    std::vector<png_bytep> rows;
    std::string refusal;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(where + ": corrupt or truncated PNG (" + printableExcerpt(reason) + ")");
    }
    png_set_read_fn(png, &source, readFromMemory);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    {
        // The claim against the bytes present, before libpng allocates rows:
        // the image data inflates to (row bytes + 1) * height, and deflate
        // yields at most kMaxDeflateRatio bytes per stored byte.
        const long double needed = ((long double)png_get_rowbytes(png, info) + 1) * height;
        if (width == 0 || height == 0)
            refusal = ": bad PNG size " + std::to_string(width) + "x" + std::to_string(height);
        else if (needed > (long double)fileSize * kMaxDeflateRatio + 1024)
            refusal = ": corrupt or truncated PNG: its header claims " + std::to_string(width) + "x" +
                      std::to_string(height) + " pixels, more than its " + std::to_string(fileSize) + " bytes can hold";
        if (refusal.empty()) {
            try {
                checkVoxelClaim(where, "PNG size " + std::to_string(width) + "x" + std::to_string(height),
                                (long double)width * height);
            } catch (const Error& e) {
                refusal = std::string(e.what()).substr(where.size());
            }
        }
        if (!refusal.empty()) {
            png_destroy_read_struct(&png, &info, nullptr);
            throw Error(where + refusal);
        }
    }
    const int colorType = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
    if (colorType == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (colorType == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (colorType & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (colorType == PNG_COLOR_TYPE_RGB || colorType == PNG_COLOR_TYPE_RGB_ALPHA || colorType == PNG_COLOR_TYPE_PALETTE)
        png_set_rgb_to_gray_fixed(png, 1, -1, -1);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != width) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(where + ": unsupported PNG pixel layout");
    }
    pixels.resize(std::size_t(width) * height);
    rows.resize(height);
    for (png_uint_32 r = 0; r < height; ++r) rows[r] = pixels.data() + std::size_t(r) * width;
    png_read_image(png, rows.data());
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);

    // PNG rows go top to bottom; y grows upwards (y = 0 is the bottom electrode).
    Volume v(Dims{int(width), int(height), 1});
    for (int r = 0; r < int(height); ++r)
        for (int x = 0; x < int(width); ++x)
            v.at(x, int(height) - 1 - r) = phaseOfGrey(pixels[std::size_t(r) * width + x]);
    return v;
}

std::string encodePng(const Volume& v, const std::string& where) {
    if (!v.dims().is2D()) throw Error(where + ": PNG holds one slice; use a slice stack for 3D");
    v.validateLabels();
    const int w = v.dims().nx, h = v.dims().ny;
    std::vector<std::uint8_t> pixels(std::size_t(w) * h);
    for (int r = 0; r < h; ++r)
        for (int x = 0; x < w; ++x) pixels[std::size_t(r) * w + x] = kGreyOf[v.at(x, h - 1 - r)];
    std::string out;
    std::string reason;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &reason, onPngError, onPngWarning);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        throw Error(where + ": out of memory writing PNG");
    }
    std::vector<png_bytep> rows;
    rows.resize(std::size_t(h));
    for (int r = 0; r < h; ++r) rows[std::size_t(r)] = pixels.data() + std::size_t(r) * w;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        throw Error(where + ": PNG encoding failed (" + reason + ")");
    }
    png_set_write_fn(png, &out, writeToString, flushNothing);
    png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows.data());
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
}

void writePng(const Volume& v, const fs::path& path) {
    const std::string bytes = encodePng(v, path.string());
    writeAtomically(path, [&](const fs::path& tmp) { writeFileBytes(tmp, bytes, path); });
}

namespace {
fs::path stackSlicePath(const fs::path& base, long z) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "_z%04ld.png", z);
    return base.parent_path() / (base.stem().string() + suffix);
}
}  // namespace

std::vector<fs::path> pngStackPaths(const fs::path& base, int nz) {
    std::vector<fs::path> out;
    for (int z = 0; z < nz; ++z) out.push_back(stackSlicePath(base, z));
    return out;
}

PngStackManifest parsePngStackManifest(const std::string& text, const fs::path& base, const std::string& where) {
    std::istringstream in(text);
    std::string line;
    auto bad = [&](const std::string& why) -> Error { return Error(where + ": bad PNG stack manifest (" + why + ")"); };
    if (!std::getline(in, line) || line != kManifestMagic)
        throw bad("first line is not '" + std::string(kManifestMagic) + "'");
    PngStackManifest m;
    std::string key, extra;
    if (!std::getline(in, line)) throw bad("no 'slices N' line");
    {
        std::istringstream ls(line);
        if (!(ls >> key >> m.slices) || key != "slices" || (ls >> extra) || m.slices < 1 || m.slices > kMaxStackSlices)
            throw bad("expected 'slices N' with 1 <= N <= " + std::to_string(kMaxStackSlices) + ", got '" +
                      printableExcerpt(line) + "'");
    }
    if (!std::getline(in, line)) throw bad("no 'size WxH' line");
    {
        long w = 0, h = 0;
        char x = 0;
        std::istringstream ls(line);
        if (!(ls >> key >> w >> x >> h) || key != "size" || x != 'x' || (ls >> extra) || w < 1 || h < 1 ||
            w > INT32_MAX || h > INT32_MAX)
            throw bad("expected 'size WxH', got '" + printableExcerpt(line) + "'");
        m.width = int(w);
        m.height = int(h);
    }
    // One line per slice, each checked as it is read: a claim of many slices
    // allocates nothing the text does not hold.
    for (long z = 0; z < m.slices; ++z) {
        const fs::path path = stackSlicePath(base, z);
        if (!std::getline(in, line))
            throw bad("lists " + std::to_string(z) + " of " + std::to_string(m.slices) + " slices");
        std::istringstream ls(line);
        PngStackManifest::Slice s;
        std::string name;
        if (!(ls >> name >> s.bytes >> s.crc) || (ls >> extra) || s.crc.size() != 8)
            throw bad("expected 'NAME BYTES CRC32' for slice " + std::to_string(z) + ", got '" +
                      printableExcerpt(line) + "'");
        if (name != path.filename().string())
            throw bad("slice " + std::to_string(z) + " is '" + printableExcerpt(name) + "', expected " +
                      path.filename().string());
        s.path = path;
        m.entries.push_back(std::move(s));
    }
    return m;
}

Volume readPngStack(const fs::path& base) {
    if (fs::exists(base)) return readPng(base);
    const fs::path manifestPath = pngStackManifest(base);
    std::error_code ec;
    if (fs::exists(manifestPath, ec)) {
        // The manifest is the stack: exactly its slices, each the very file
        // that was written (size and CRC-32), so stale or half-replaced
        // slices are refused, never read as part of the volume.
        const std::uintmax_t size = requireRegularFile(manifestPath);
        if (size > kMaxManifestBytes)
            throw Error(manifestPath.string() + ": " + std::to_string(size) +
                        " bytes, too large for a PNG stack manifest");
        const auto m = parsePngStackManifest(readFileBytes(manifestPath), base, manifestPath.string());
        checkVoxelClaim(base.string(),
                        "slice stack of " + std::to_string(m.slices) + " slices of " + std::to_string(m.width) + "x" +
                            std::to_string(m.height),
                        (long double)m.width * m.height * m.slices);
        const Dims plane{m.width, m.height, 1};
        Volume v(Dims{m.width, m.height, int(m.slices)});
        for (std::size_t z = 0; z < m.entries.size(); ++z) {
            const auto& e = m.entries[z];
            if (!fs::exists(e.path, ec))
                throw Error(base.string() + ": slice " + e.path.filename().string() + " of the stack manifest " +
                            manifestPath.filename().string() + " is missing");
            const std::string bytes = readFileBytes(e.path);
            if (bytes.size() != e.bytes || crcText(bytes) != e.crc)
                throw Error(base.string() + ": slice " + e.path.filename().string() +
                            " does not match the stack manifest " + manifestPath.filename().string() +
                            " (the stack was changed, or a write was interrupted: write it again)");
            Volume s = readPngBytes(bytes, e.path.string());
            if (s.dims() != plane)
                throw Error(e.path.string() + ": size " + s.dims().str() + " differs from the stack's " + plane.str());
            std::copy(s.labels().begin(), s.labels().end(), v.labels().begin() + std::ptrdiff_t(z * plane.count()));
        }
        return v;
    }
    // A stack without a manifest (another tool's, or an older MicroStudio's).
    const auto found = expandGlob((base.parent_path() / base.stem()).string() + "_z*.png");
    if (found.empty())
        throw Error(base.string() + ": no such file (nor a slice stack " + base.stem().string() + "_z*.png)");
    const auto expected = pngStackPaths(base, int(found.size()));
    if (found != expected) throw Error(base.string() + ": slice stack has gaps; expected " + expected.back().string());
    Volume first = readPng(found[0]);
    const Dims plane = first.dims();
    checkVoxelClaim(base.string(), "slice stack of " + std::to_string(found.size()) + " slices of " + plane.str(),
                    (long double)plane.count() * found.size());
    Volume v(Dims{plane.nx, plane.ny, int(found.size())});
    for (std::size_t z = 0; z < found.size(); ++z) {
        Volume s = z == 0 ? std::move(first) : readPng(found[z]);
        if (s.dims() != plane)
            throw Error(found[z].string() + ": size " + s.dims().str() + " differs from the first slice " +
                        plane.str());
        std::copy(s.labels().begin(), s.labels().end(), v.labels().begin() + std::ptrdiff_t(z * plane.count()));
    }
    return v;
}

void writePngStack(const Volume& v, const fs::path& base) {
    const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
    if (!fs::is_directory(dir))
        throw Error("cannot write " + base.string() + ": folder " + dir.string() + " does not exist");
    const auto paths = pngStackPaths(base, v.dims().nz);
    const fs::path manifestPath = pngStackManifest(base);
    // 1. Every slice and the manifest into a temporary folder beside the
    //    stack (a failure or a full disk leaves the old stack as it was).
    removeStaleTemps(base);  // temp folders a killed writer of this stack left
    const fs::path temp = atomicTempPath(base);
    std::error_code ec;
    if (!fs::create_directory(temp, ec) || ec)
        throw Error("cannot write " + base.string() + ": cannot create " + temp.string() + ": " + ec.message());
    try {
        std::ostringstream manifest;
        manifest << kManifestMagic << "\nslices " << v.dims().nz << "\nsize " << v.dims().nx << "x" << v.dims().ny
                 << "\n";
        for (int z = 0; z < v.dims().nz; ++z) {
            const fs::path& p = paths[std::size_t(z)];
            const std::string bytes = encodePng(v.slice(z), p.string());
            writeFileBytes(temp / p.filename(), bytes, p);
            manifest << p.filename().string() << ' ' << bytes.size() << ' ' << crcText(bytes) << '\n';
        }
        writeFileBytes(temp / manifestPath.filename(), manifest.str(), manifestPath);
        // 2. The swap. The new manifest goes first: from then on a reader
        //    takes exactly its slices and refuses any that is not yet the new
        //    one (a kill in this step), so old and new never mix; then each
        //    slice is renamed into place, then stale slices go.
        auto move = [&](const fs::path& from, const fs::path& to) {
            fs::rename(from, to, ec);
            if (ec) throw Error("cannot write " + to.string() + ": " + ec.message());
        };
        move(temp / manifestPath.filename(), manifestPath);
        for (const auto& p : paths) move(temp / p.filename(), p);
        const std::set<fs::path> keep(paths.begin(), paths.end());
        const std::string slicePrefix = base.stem().string() + "_z";
        for (const auto& old : expandGlob((base.parent_path() / base.stem()).string() + "_z*.png")) {
            const std::string name = old.filename().string();
            const std::string digits = name.substr(slicePrefix.size(), name.size() - slicePrefix.size() - 4);
            if (!keep.count(old) && !digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos)
                fs::remove(old, ec);
        }
        // A single image at the base name would be read instead of the stack.
        if (fs::is_regular_file(base, ec)) fs::remove(base, ec);
    } catch (...) {
        fs::remove_all(temp, ec);
        throw;
    }
    fs::remove_all(temp, ec);
}

}  // namespace ms::io
