#include "microstudio/io/claim.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/dream3d.hpp"
#include "microstudio/io/limits.hpp"
#include "microstudio/io/npy.hpp"
#include "microstudio/io/png.hpp"
#include "microstudio/io/tiff.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

constexpr std::size_t kHeadBytes = 64 << 10;

std::string readHead(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open for reading");
    std::string head(kHeadBytes, '\0');
    in.read(head.data(), std::streamsize(head.size()));
    head.resize(std::size_t(in.gcount()));
    return head;
}

std::string dimsText(long double nx, long double ny, long double nz) {
    auto one = [](long double v) {
        std::ostringstream os;
        os << std::fixed;
        os.precision(0);
        os << v;
        return os.str();
    };
    return one(nx) + "x" + one(ny) + (nz > 1 ? "x" + one(nz) : std::string());
}

FileClaim graspiClaim(const std::string& head) {
    FileClaim c;
    const std::size_t eol = head.find('\n');
    std::string header = head.substr(0, std::min<std::size_t>(eol, 4096));
    if (!header.empty() && header.back() == '\r') header.pop_back();
    c.what = "header '" + printableExcerpt(header) + "'";
    std::istringstream hs(header);
    long long nx = 0, ny = 0, nz = 0;
    std::string extra;
    if (!(hs >> nx >> ny)) {
        c.what += " (not 'nx ny [nz]')";
        return c;
    }
    if (!(hs >> nz)) nz = 0;
    if ((hs >> extra) || nx <= 0 || ny <= 0 || nz < 0) {
        c.what += " (not 'nx ny [nz]' with positive sizes)";
        return c;
    }
    if (nz == 0) nz = 1;
    c.dims = dimsText(nx, ny, nz);
    c.voxels = (long double)nx * ny * nz;
    return c;
}

FileClaim vtiClaim(const std::string& head) {
    FileClaim c;
    const std::size_t image = head.find("<ImageData");
    const std::size_t close = image == std::string::npos ? image : head.find('>', image);
    if (close == std::string::npos) {
        c.what = "no <ImageData> element in the first " + std::to_string(std::min(head.size(), kHeadBytes)) + " bytes";
        return c;
    }
    const std::string tag = head.substr(image, close - image);
    const std::size_t key = tag.find("WholeExtent=");
    if (key == std::string::npos || key + 12 >= tag.size()) {
        c.what = "<ImageData> without a WholeExtent";
        return c;
    }
    const char quote = tag[key + 12];
    const std::size_t end = tag.find(quote, key + 13);
    if ((quote != '"' && quote != '\'') || end == std::string::npos) {
        c.what = "<ImageData> with an unreadable WholeExtent";
        return c;
    }
    const std::string extent = tag.substr(key + 13, end - key - 13);
    c.what = "WholeExtent '" + printableExcerpt(extent) + "'";
    std::istringstream es(extent);
    long double e[6];
    for (auto& v : e)
        if (!(es >> v) || !std::isfinite(double(v))) {
            c.what += " (not 6 numbers)";
            return c;
        }
    const long double n[3] = {e[1] - e[0] + 1, e[3] - e[2] + 1, e[5] - e[4] + 1};
    if (!(n[0] >= 1 && n[1] >= 1 && n[2] >= 1)) {
        c.what += " (empty or reversed)";
        return c;
    }
    c.what += " (points)";
    c.dims = dimsText(n[0], n[1], n[2]);
    c.voxels = n[0] * n[1] * n[2];
    if (head.find("vtkZLibDataCompressor") != std::string::npos) c.what += ", zlib-compressed";
    return c;
}

FileClaim pngClaim(const std::string& head) {
    FileClaim c;
    auto u32 = [&](std::size_t at) {
        return (std::uint32_t(std::uint8_t(head[at])) << 24) | (std::uint32_t(std::uint8_t(head[at + 1])) << 16) |
               (std::uint32_t(std::uint8_t(head[at + 2])) << 8) | std::uint32_t(std::uint8_t(head[at + 3]));
    };
    if (head.size() < 8 || head.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) != 0) {
        c.what = "no PNG signature";
        return c;
    }
    if (head.size() < 26 || head.compare(12, 4, "IHDR") != 0) {
        c.what = "PNG without an IHDR header";
        return c;
    }
    const std::uint32_t w = u32(16), h = u32(20);
    const int depth = std::uint8_t(head[24]), color = std::uint8_t(head[25]);
    const char* kind = color == 0   ? "grey"
                       : color == 2 ? "RGB"
                       : color == 3 ? "palette"
                       : color == 4 ? "grey+alpha"
                       : color == 6 ? "RGBA"
                                    : "unknown colour type";
    c.what =
        "PNG header " + std::to_string(w) + "x" + std::to_string(h) + ", " + std::to_string(depth) + "-bit " + kind;
    c.dims = std::to_string(w) + "x" + std::to_string(h);
    c.voxels = (long double)w * h;
    return c;
}

// A slice stack named by its base (out.png -> out.pngstack, out_z0000.png ...).
FileClaim pngStackClaim(const fs::path& base) {
    FileClaim c;
    std::error_code ec;
    const fs::path manifest = pngStackManifest(base);
    if (fs::exists(manifest, ec)) {
        const std::uintmax_t size = requireRegularFile(manifest);
        c.bytes = size;
        PngStackManifest m;
        try {
            m = parsePngStackManifest(readHead(manifest), base, manifest.string());
        } catch (const Error&) {
            c.what = "stack manifest " + manifest.filename().string() + " (unreadable)";
            return c;
        }
        std::size_t present = 0;
        for (const auto& e : m.entries) {
            const std::uintmax_t b = fs::is_regular_file(e.path, ec) ? fs::file_size(e.path, ec) : 0;
            if (!ec && b) ++present, c.bytes += b;
        }
        c.what = "stack manifest " + manifest.filename().string() + ": " + std::to_string(m.slices) + " slices of " +
                 std::to_string(m.width) + "x" + std::to_string(m.height) + ", " + std::to_string(present) + " present";
        c.dims = dimsText(m.width, m.height, (long double)m.slices);
        c.voxels = (long double)m.width * m.height * m.slices;
        return c;
    }
    const auto found = expandGlob((base.parent_path() / base.stem()).string() + "_z*.png");
    if (found.empty())
        throw Error(base.string() + ": no such file (nor a slice stack " + base.stem().string() + "_z*.png)");
    for (const auto& f : found) c.bytes += fs::file_size(f, ec);
    const FileClaim first = pngClaim(readHead(found.front()));
    c.what = "slice stack of " + std::to_string(found.size()) + " files " + base.stem().string() +
             "_z*.png (no manifest), " + first.what + " in the first";
    if (first.voxels >= 0) {
        c.dims = first.dims + "x" + std::to_string(found.size());
        c.voxels = first.voxels * found.size();
    }
    return c;
}

FileClaim npyClaim(const std::string& head) {
    FileClaim c;
    NpyHeader h;
    try {
        h = parseNpyHeader(head, "npy");
    } catch (const Error& e) {
        c.what = std::string(e.what()).substr(5);  // the reason, without the "npy: " placeholder
        return c;
    }
    std::string shape;
    long double voxels = 1;
    for (std::size_t i = 0; i < h.shape.size(); ++i) {
        shape += (i ? ", " : "") + std::to_string(h.shape[i]);
        voxels *= h.shape[i];
    }
    c.what = ".npy " + std::to_string(h.version) + ".0 header, shape (" + shape + "), dtype " +
             printableExcerpt(h.descr) + (h.fortranOrder ? ", Fortran order" : ", C order");
    if (h.shape.size() == 2 || h.shape.size() == 3) {
        // Axes as the reader takes them (io/npy.hpp): x is the fastest-varying.
        const auto& s = h.shape;
        const bool flat = s.size() == 2;
        if (h.fortranOrder) c.dims = dimsText(s[0], s[1], flat ? 1 : s[2]);
        else c.dims = flat ? dimsText(s[1], s[0], 1) : dimsText(s[2], s[1], s[0]);
        c.voxels = voxels;
    }
    return c;
}

}  // namespace

FileClaim claimFromHead(Format format, const std::string& head, std::uintmax_t fileSize) {
    FileClaim c;
    switch (format) {
        case Format::GraspiText:
            c = graspiClaim(head);
            break;
        case Format::Vti:
            c = vtiClaim(head);
            break;
        case Format::Png:
            c = pngClaim(head);
            break;
        case Format::Hdf5:
        case Format::Dream3d:
            c.what = "HDF5 (needs libhdf5)";
            break;
        case Format::Npy:
            c = npyClaim(head);
            break;
        case Format::Tiff:
            c = tiffClaimFromBytes(head, fileSize);
            break;
    }
    c.bytes = fileSize;
    return c;
}

FileClaim fileClaim(const fs::path& path) {
    const Format format = formatOf(path);
    std::error_code ec;
    if (format == Format::Png && !fs::exists(path, ec)) return pngStackClaim(path);
    if (format == Format::Tiff) return tiffClaim(path);  // directories may lie past any head; a folder of slices
    const std::uintmax_t size = requireRegularFile(path);
    if (format == Format::Hdf5) return hdf5Claim(path);
    if (format == Format::Dream3d) return dream3dClaim(path);
    return claimFromHead(format, readHead(path), size);
}

std::string claimText(const FileClaim& c) {
    std::string s;
    if (c.voxels >= 0) {
        std::ostringstream os;
        os << std::fixed;
        os.precision(0);
        os << c.voxels;
        s = c.dims + " = " + os.str() + " voxels (" + c.what + ")";
    } else {
        s = "no size (" + c.what + ")";
    }
    return s + "; " + std::to_string(c.bytes) + " bytes present";
}

}  // namespace ms::io
