#include "microstudio/io/png.hpp"

#include <png.h>

#include <cstdio>
#include <memory>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/limits.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

constexpr std::uint8_t kGreyOf[kMaxPhases] = {0, 255, 128};  // D black, A white, M grey

struct FileCloser {
    void operator()(std::FILE* f) const {
        if (f) std::fclose(f);
    }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// libpng reports errors through longjmp by default; route them to a
// C++ exception-free path by recording the message and using setjmp.
void onPngError(png_structp png, png_const_charp message) {
    auto* reason = static_cast<std::string*>(png_get_error_ptr(png));
    if (reason) *reason = message;
    png_longjmp(png, 1);
}
void onPngWarning(png_structp, png_const_charp) {}

std::uint8_t phaseOfGrey(std::uint8_t g) {
    if (g < 64) return Donor;
    if (g >= 192) return Acceptor;
    return Mixed;
}

}  // namespace

Volume readPng(const fs::path& path) {
    const std::uintmax_t fileSize = requireRegularFile(path);  // a FIFO would block fopen
    FilePtr file(std::fopen(path.string().c_str(), "rb"));
    if (!file) throw Error(path.string() + ": cannot open for reading");
    unsigned char signature[8] = {};
    if (std::fread(signature, 1, 8, file.get()) != 8 || png_sig_cmp(signature, 0, 8))
        throw Error(path.string() + ": not a PNG file");
    std::string reason;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reason, onPngError, onPngWarning);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(path.string() + ": out of memory reading PNG");
    }
    std::vector<std::uint8_t> pixels;
    png_uint_32 width = 0, height = 0;
    // Everything libpng may longjmp over is owned outside this block.
    std::vector<png_bytep> rows;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(path.string() + ": corrupt or truncated PNG (" + reason + ")");
    }
    png_init_io(png, file.get());
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    {
        // The claim against the bytes present, before libpng allocates rows:
        // the image data inflates to (row bytes + 1) * height, and deflate
        // yields at most kMaxDeflateRatio bytes per stored byte.
        const long double needed = ((long double)png_get_rowbytes(png, info) + 1) * height;
        std::string refusal;
        if (width == 0 || height == 0)
            refusal = ": bad PNG size " + std::to_string(width) + "x" + std::to_string(height);
        else if (needed > (long double)fileSize * kMaxDeflateRatio + 1024)
            refusal = ": corrupt or truncated PNG: its header claims " + std::to_string(width) + "x" +
                      std::to_string(height) + " pixels, more than its " + std::to_string(fileSize) +
                      " bytes can hold";
        if (refusal.empty()) {
            try {
                checkVoxelClaim(path.string(), "PNG size " + std::to_string(width) + "x" + std::to_string(height),
                                (long double)width * height);
            } catch (const Error& e) {
                refusal = std::string(e.what()).substr(path.string().size());
            }
        }
        if (!refusal.empty()) {
            png_destroy_read_struct(&png, &info, nullptr);
            throw Error(path.string() + refusal);
        }
    }
    const int colorType = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
    if (colorType == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (colorType == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (colorType & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (colorType == PNG_COLOR_TYPE_RGB || colorType == PNG_COLOR_TYPE_RGB_ALPHA || colorType == PNG_COLOR_TYPE_PALETTE)
        png_set_rgb_to_gray_fixed(png, 1, -1, -1);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != width) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(path.string() + ": unsupported PNG pixel layout");
    }
    if (width == 0 || height == 0 || width > 100000 || height > 100000) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(path.string() + ": bad PNG size");
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
        for (int x = 0; x < int(width); ++x) v.at(x, int(height) - 1 - r) = phaseOfGrey(pixels[std::size_t(r) * width + x]);
    return v;
}

void writePng(const Volume& v, const fs::path& path) {
    if (!v.dims().is2D()) throw Error(path.string() + ": PNG holds one slice; use a slice stack for 3D");
    v.validateLabels();
    const int w = v.dims().nx, h = v.dims().ny;
    std::vector<std::uint8_t> pixels(std::size_t(w) * h);
    for (int r = 0; r < h; ++r)
        for (int x = 0; x < w; ++x) pixels[std::size_t(r) * w + x] = kGreyOf[v.at(x, h - 1 - r)];
    writeAtomically(path, [&](const fs::path& tmp) {
        FilePtr file(std::fopen(tmp.string().c_str(), "wb"));
        if (!file) throw Error(path.string() + ": cannot open for writing");
        std::string reason;
        png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &reason, onPngError, onPngWarning);
        png_infop info = png ? png_create_info_struct(png) : nullptr;
        if (!png || !info) {
            png_destroy_write_struct(&png, &info);
            throw Error(path.string() + ": out of memory writing PNG");
        }
        std::vector<png_bytep> rows;
        rows.resize(std::size_t(h));
        for (int r = 0; r < h; ++r) rows[std::size_t(r)] = pixels.data() + std::size_t(r) * w;
        if (setjmp(png_jmpbuf(png))) {
            png_destroy_write_struct(&png, &info);
            throw Error(path.string() + ": PNG write failed (" + reason + ")");
        }
        png_init_io(png, file.get());
        png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        png_write_image(png, rows.data());
        png_write_end(png, nullptr);
        png_destroy_write_struct(&png, &info);
        if (std::fflush(file.get()) != 0) throw Error(path.string() + ": write failed");
    });
}

std::vector<fs::path> pngStackPaths(const fs::path& base, int nz) {
    std::vector<fs::path> out;
    const fs::path stem = base.parent_path() / base.stem();
    for (int z = 0; z < nz; ++z) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "_z%04d.png", z);
        out.push_back(fs::path(stem.string() + suffix));
    }
    return out;
}

Volume readPngStack(const fs::path& base) {
    if (fs::exists(base)) return readPng(base);
    const auto found = expandGlob((base.parent_path() / base.stem()).string() + "_z*.png");
    if (found.empty()) throw Error(base.string() + ": no such file (nor a slice stack " + base.stem().string() + "_z*.png)");
    const auto expected = pngStackPaths(base, int(found.size()));
    if (found != expected) throw Error(base.string() + ": slice stack has gaps; expected " + expected.back().string());
    Volume first = readPng(found[0]);
    const Dims plane = first.dims();
    checkVoxelClaim(base.string(),
                    "slice stack of " + std::to_string(found.size()) + " slices of " + plane.str(),
                    (long double)plane.count() * found.size());
    Volume v(Dims{plane.nx, plane.ny, int(found.size())});
    for (std::size_t z = 0; z < found.size(); ++z) {
        Volume s = z == 0 ? std::move(first) : readPng(found[z]);
        if (s.dims() != plane)
            throw Error(found[z].string() + ": size " + s.dims().str() + " differs from the first slice " + plane.str());
        std::copy(s.labels().begin(), s.labels().end(), v.labels().begin() + std::ptrdiff_t(z * plane.count()));
    }
    return v;
}

void writePngStack(const Volume& v, const fs::path& base) {
    const auto paths = pngStackPaths(base, v.dims().nz);
    for (int z = 0; z < v.dims().nz; ++z) writePng(v.slice(z), paths[std::size_t(z)]);
}

}  // namespace ms::io
