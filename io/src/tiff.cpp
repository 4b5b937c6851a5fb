#include "microstudio/io/tiff.hpp"

#include <tiffio.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>

#include "labels.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/limits.hpp"
#include "value_labels.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

constexpr const char* kSpacingPrefix = "microstudio spacing ";
// Room libtiff may need beyond the file's own bytes for one allocation
// (directories, codec state); larger requests are refused by libtiff itself.
constexpr tmsize_t kLibtiffAllocSlack = tmsize_t(64) << 20;
// Strips written of about this many bytes.
constexpr std::size_t kStripBytes = 64 << 10;

struct TiffCloser {
    void operator()(TIFF* t) const { TIFFClose(t); }
};
struct OptionsFreer {
    void operator()(TIFFOpenOptions* o) const { TIFFOpenOptionsFree(o); }
};

// libtiff reports through callbacks; the first error is kept for the one
// line MicroStudio prints, warnings are dropped (a handler per file, not the
// process-wide one, so threads never share it).
int keepFirstError(TIFF*, void* user, const char*, const char* fmt, va_list ap) {
    auto* message = static_cast<std::string*>(user);
    if (message->empty()) {
        char buf[512];
        std::vsnprintf(buf, sizeof buf, fmt, ap);
        *message = printableExcerpt(buf, 200);
    }
    return 1;
}
int dropWarning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

// A file's bytes in memory, read through libtiff's client procs.
struct MemoryFile {
    const std::string* bytes = nullptr;
    std::uint64_t at = 0;
};
tmsize_t memoryRead(thandle_t h, void* out, tmsize_t n) {
    auto* m = static_cast<MemoryFile*>(h);
    const std::uint64_t size = m->bytes->size();
    const std::uint64_t count = m->at >= size || n <= 0 ? 0 : std::min<std::uint64_t>(std::uint64_t(n), size - m->at);
    if (count) std::memcpy(out, m->bytes->data() + m->at, count);
    m->at += count;
    return tmsize_t(count);
}
tmsize_t memoryWrite(thandle_t, void*, tmsize_t) { return -1; }
toff_t memorySeek(thandle_t h, toff_t offset, int whence) {
    auto* m = static_cast<MemoryFile*>(h);
    const std::uint64_t base = whence == SEEK_CUR ? m->at : whence == SEEK_END ? m->bytes->size() : 0;
    m->at = base + offset;
    return m->at;
}
int memoryClose(thandle_t) { return 0; }
toff_t memorySize(thandle_t h) { return static_cast<MemoryFile*>(h)->bytes->size(); }
int memoryMap(thandle_t, void**, toff_t*) { return 0; }
void memoryUnmap(thandle_t, void*, toff_t) {}

// An open TIFF with its error message; everything libtiff points at lives on
// the heap so the object can move.
class TiffFile {
public:
    // where: the name errors give (a temp file's target), default the path.
    static TiffFile open(const fs::path& path, const char* mode, std::uintmax_t fileSize,
                         const std::string& where = {}) {
        TiffFile f(where.empty() ? path.string() : where, fileSize);
        f.tiff_.reset(TIFFOpenExt(path.c_str(), mode, f.options().get()));
        if (!f.tiff_) f.fail(std::string(mode[0] == 'w' ? "cannot open for writing" : "not a readable TIFF file"));
        return f;
    }
    static TiffFile openBytes(const std::string& bytes, const std::string& where) {
        TiffFile f(where, bytes.size());
        f.memory_ = std::make_unique<MemoryFile>();
        f.memory_->bytes = &bytes;
        f.tiff_.reset(TIFFClientOpenExt(where.c_str(), "rm", f.memory_.get(), memoryRead, memoryWrite, memorySeek,
                                        memoryClose, memorySize, memoryMap, memoryUnmap, f.options().get()));
        if (!f.tiff_) f.fail("not a readable TIFF file");
        return f;
    }

    TIFF* get() const { return tiff_.get(); }
    const std::string& where() const { return where_; }
    std::uintmax_t fileSize() const { return fileSize_; }
    bool hasError() const { return !message_->empty(); }
    // Closes the file (writing: flushes it), throwing libtiff's error if any.
    void close() {
        tiff_.reset();
        if (hasError()) fail("write failed");
    }
    [[noreturn]] void fail(const std::string& reason) const {
        throw Error(where_ + ": " + reason + (message_->empty() ? "" : " (libtiff: " + *message_ + ")"));
    }

private:
    TiffFile(std::string where, std::uintmax_t fileSize)
        : where_(std::move(where)), fileSize_(fileSize), message_(std::make_unique<std::string>()) {}

    std::unique_ptr<TIFFOpenOptions, OptionsFreer> options() const {
        std::unique_ptr<TIFFOpenOptions, OptionsFreer> o(TIFFOpenOptionsAlloc());
        if (!o) throw Error(where_ + ": out of memory opening TIFF");
        TIFFOpenOptionsSetErrorHandlerExtR(o.get(), keepFirstError, message_.get());
        TIFFOpenOptionsSetWarningHandlerExtR(o.get(), dropWarning, nullptr);
        TIFFOpenOptionsSetMaxSingleMemAlloc(
            o.get(), tmsize_t(std::min<std::uintmax_t>(fileSize_, INT32_MAX)) + kLibtiffAllocSlack);
        return o;
    }

    std::string where_;
    std::uintmax_t fileSize_ = 0;
    std::unique_ptr<std::string> message_;
    std::unique_ptr<MemoryFile> memory_;
    std::unique_ptr<TIFF, TiffCloser> tiff_;  // last: closed before what it uses
};

// One page (directory) as the reader needs it.
struct Page {
    std::uint32_t width = 0, height = 0, rowsPerStrip = 0;
    std::uint16_t bits = 0, sampleFormat = SAMPLEFORMAT_UINT, compression = COMPRESSION_NONE;
    std::size_t rowBytes() const { return std::size_t(width) * (bits / 8); }
    std::uint32_t strips() const { return (height + rowsPerStrip - 1) / rowsPerStrip; }
};

std::string pageName(std::uint32_t index) { return "page " + std::to_string(index + 1); }

// How many bytes a codec can make of one stored byte, at most.
long double maxExpansion(std::uint16_t compression) {
    switch (compression) {
        case COMPRESSION_NONE:
            return 1;
        case COMPRESSION_PACKBITS:
            return 64;  // 2 bytes -> a run of 128
        case COMPRESSION_LZW:
            return 4096;  // a 12-bit code -> a string of up to 4096 bytes
        default:
            return kMaxDeflateRatio;
    }
}

// The current directory's tags, refused unless a layout this reader handles.
Page pageHeader(const TiffFile& f, std::uint32_t index) {
    TIFF* t = f.get();
    Page p;
    std::uint16_t samples = 1, planar = PLANARCONFIG_CONTIG;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &p.width) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &p.height) ||
        p.width == 0 || p.height == 0)
        f.fail(pageName(index) + " has no image size");
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &p.bits);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &samples);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &p.sampleFormat);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &p.compression);
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &p.rowsPerStrip);
    if (samples != 1)
        f.fail(pageName(index) + " has " + std::to_string(samples) +
               " samples per pixel (colour?); expected greyscale labels");
    if (p.bits != 8 && p.bits != 16)
        f.fail(pageName(index) + " is " + std::to_string(p.bits) + "-bit; expected 8- or 16-bit greyscale labels");
    if (p.sampleFormat != SAMPLEFORMAT_UINT && p.sampleFormat != SAMPLEFORMAT_INT)
        f.fail(pageName(index) + " holds floating-point or complex samples; expected integer labels");
    if (TIFFIsTiled(t)) f.fail(pageName(index) + " is tiled; only TIFFs stored in strips are read");
    const bool knownCodec = p.compression == COMPRESSION_NONE || p.compression == COMPRESSION_LZW ||
                            p.compression == COMPRESSION_ADOBE_DEFLATE || p.compression == COMPRESSION_DEFLATE ||
                            p.compression == COMPRESSION_PACKBITS;
    if (!knownCodec || !TIFFIsCODECConfigured(p.compression))
        f.fail(pageName(index) + " uses compression " + std::to_string(p.compression) +
               "; expected none, LZW, Deflate or PackBits");
    p.rowsPerStrip = std::min(std::max<std::uint32_t>(p.rowsPerStrip, 1), p.height);
    if (TIFFNumberOfStrips(t) < p.strips())
        f.fail(pageName(index) + " lists " + std::to_string(TIFFNumberOfStrips(t)) + " strips, its size needs " +
               std::to_string(p.strips()));
    return p;
}

// Every strip within the file, and stored bytes that can hold the pixels the
// page claims (through its codec's largest expansion).
void checkPageBytes(const TiffFile& f, const Page& p, std::uint32_t index) {
    long double stored = 0;
    for (std::uint32_t s = 0; s < p.strips(); ++s) {
        int err = 0;
        const std::uint64_t offset = TIFFGetStrileOffsetWithErr(f.get(), s, &err);
        const std::uint64_t count = err ? 0 : TIFFGetStrileByteCountWithErr(f.get(), s, &err);
        if (err) f.fail(pageName(index) + ": unreadable strip table");
        if (offset > f.fileSize() || count > f.fileSize() - offset)
            f.fail("truncated TIFF: strip " + std::to_string(s) + " of " + pageName(index) + " claims bytes " +
                   std::to_string(offset) + "+" + std::to_string(count) + ", the file has " +
                   std::to_string(f.fileSize()));
        stored += count;
    }
    const long double needed = (long double)p.rowBytes() * p.height;
    const long double slack = p.compression == COMPRESSION_NONE ? 0 : 1024;
    if (needed > stored * maxExpansion(p.compression) + slack)
        f.fail("truncated or corrupt TIFF: " + pageName(index) + " claims " + std::to_string(p.width) + "x" +
               std::to_string(p.height) + " pixels of " + std::to_string(p.bits) + " bits, more than its " +
               countText(stored) + " stored bytes can hold");
}

// Pass 1 over a file: every page's header and bytes, and the voxel cap on
// the pages so far (voxelsBefore: pages of earlier files).
std::vector<Page> scanPages(const TiffFile& f, long double voxelsBefore, const std::string& where) {
    std::vector<Page> pages;
    long double voxels = voxelsBefore;
    do {
        const auto index = std::uint32_t(pages.size());
        const Page p = pageHeader(f, index);
        if (!pages.empty() && (p.width != pages[0].width || p.height != pages[0].height))
            f.fail(pageName(index) + " is " + std::to_string(p.width) + "x" + std::to_string(p.height) +
                   ", page 1 is " + std::to_string(pages[0].width) + "x" + std::to_string(pages[0].height));
        voxels += (long double)p.width * p.height;
        checkVoxelClaim(where,
                        "TIFF pages of " + std::to_string(p.width) + "x" + std::to_string(p.height) + " (" +
                            std::to_string(pages.size() + 1) + " so far)",
                        voxels);
        checkPageBytes(f, p, index);
        pages.push_back(p);
    } while (TIFFReadDirectory(f.get()));
    if (f.hasError()) f.fail("corrupt TIFF after " + pageName(std::uint32_t(pages.size() - 1)));
    return pages;
}

double sampleAt(const Page& p, const std::uint8_t* row, std::uint32_t x) {
    if (p.bits == 8) return p.sampleFormat == SAMPLEFORMAT_INT ? double(std::int8_t(row[x])) : double(row[x]);
    std::uint16_t v;  // libtiff has swapped it to this machine's order
    std::memcpy(&v, row + 2 * std::size_t(x), 2);
    return p.sampleFormat == SAMPLEFORMAT_INT ? double(std::int16_t(v)) : double(v);
}

// Pass 2: the current page's strips into out (one z slice), as value indices.
void readPage(const TiffFile& f, const Page& p, std::uint32_t index, detail::ValueLabeler& labeler, std::uint8_t* out,
              std::size_t firstVoxel) {
    std::vector<std::uint8_t> strip(p.rowBytes() * p.rowsPerStrip);
    for (std::uint32_t s = 0; s < p.strips(); ++s) {
        const std::uint32_t y0 = s * p.rowsPerStrip;
        const std::uint32_t rows = std::min(p.rowsPerStrip, p.height - y0);
        const tmsize_t got = TIFFReadEncodedStrip(f.get(), s, strip.data(), tmsize_t(strip.size()));
        if (got < 0 || std::size_t(got) < rows * p.rowBytes())
            f.fail("corrupt or truncated strip " + std::to_string(s) + " of " + pageName(index));
        for (std::uint32_t r = 0; r < rows; ++r) {
            const std::size_t at = std::size_t(y0 + r) * p.width;
            for (std::uint32_t x = 0; x < p.width; ++x)
                out[at + x] = labeler.indexOf(sampleAt(p, strip.data() + r * p.rowBytes(), x), firstVoxel + at + x);
        }
    }
}

// Exactly as written by writeTiff; anything else is another tool's text.
bool spacingFromDescription(TIFF* t, std::array<double, 3>& spacing) {
    char* text = nullptr;
    if (!TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &text) || !text) return false;
    const std::string s(text);
    if (s.rfind(kSpacingPrefix, 0) != 0) return false;
    std::istringstream in(s.substr(std::strlen(kSpacingPrefix)));
    std::array<double, 3> read{};
    for (double& v : read)
        if (!(in >> v) || !(v > 0) || !std::isfinite(v)) return false;
    spacing = read;
    return true;
}

// Spacing of the first page: MicroStudio's description, else resolution
// tags without a physical unit (pixels per unit length); inch or cm
// resolutions (a scanner's 72 dpi) are not voxel sizes and give 1.
std::array<double, 3> readSpacing(TIFF* t) {
    std::array<double, 3> spacing{1, 1, 1};
    if (spacingFromDescription(t, spacing)) return spacing;
    std::uint16_t unit = RESUNIT_INCH;
    float xres = 0, yres = 0;
    TIFFGetFieldDefaulted(t, TIFFTAG_RESOLUTIONUNIT, &unit);
    if (unit == RESUNIT_NONE && TIFFGetField(t, TIFFTAG_XRESOLUTION, &xres) &&
        TIFFGetField(t, TIFFTAG_YRESOLUTION, &yres) && xres > 0 && yres > 0 && std::isfinite(1.0 / xres) &&
        std::isfinite(1.0 / yres))
        spacing = {1.0 / xres, 1.0 / yres, 1.0};
    return spacing;
}

Volume readTiffFile(const TiffFile& f, const std::vector<double>& labelValues) {
    const std::vector<Page> pages = scanPages(f, 0, f.where());
    const Page& first = pages.front();
    Volume v(Dims{int(first.width), int(first.height), int(pages.size())});
    detail::ValueLabeler labeler(f.where(), labelValues);
    const std::size_t plane = std::size_t(first.width) * first.height;
    if (!TIFFSetDirectory(f.get(), 0)) f.fail("cannot go back to page 1");
    for (std::uint32_t z = 0; z < pages.size(); ++z) {
        if (z && !TIFFReadDirectory(f.get())) f.fail("cannot read " + pageName(z));
        readPage(f, pages[z], z, labeler, v.labels().data() + z * plane, z * plane);
    }
    labeler.finish(v.labels());
    if (!TIFFSetDirectory(f.get(), 0)) f.fail("cannot go back to page 1");
    v.spacing = readSpacing(f.get());
    return v;
}

// "slice_10" after "slice_2": runs of digits compare by value.
bool naturalLess(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
            std::size_t i2 = i, j2 = j;
            while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
            while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
            std::string da = a.substr(i, i2 - i), db = b.substr(j, j2 - j);
            da.erase(0, std::min(da.find_first_not_of('0'), da.size()));
            db.erase(0, std::min(db.find_first_not_of('0'), db.size()));
            if (da.size() != db.size()) return da.size() < db.size();
            if (da != db) return da < db;
            i = i2, j = j2;
        } else {
            if (a[i] != b[j]) return a[i] < b[j];
            ++i, ++j;
        }
    }
    return a.size() - i < b.size() - j || (a.size() - i == b.size() - j && a < b);
}

TiffFile openSlice(const fs::path& slice) { return TiffFile::open(slice, "r", requireRegularFile(slice)); }

// Pass 1 over every slice (one page each, all of one size), then the volume.
Volume readTiffFolder(const fs::path& folder, const std::vector<double>& labelValues) {
    const auto slices = tiffFolderSlices(folder);
    if (slices.empty()) throw Error(folder.string() + ": a folder without .tif or .tiff slices");
    Page first;
    for (std::size_t z = 0; z < slices.size(); ++z) {
        const TiffFile f = openSlice(slices[z]);
        const auto pages = scanPages(f, (long double)first.width * first.height * z, folder.string());
        if (pages.size() != 1) f.fail(std::to_string(pages.size()) + " pages; a slice folder holds single-page TIFFs");
        if (z == 0) first = pages[0];
        if (pages[0].width != first.width || pages[0].height != first.height)
            f.fail("size " + std::to_string(pages[0].width) + "x" + std::to_string(pages[0].height) + " differs from " +
                   slices[0].filename().string() + "'s " + std::to_string(first.width) + "x" +
                   std::to_string(first.height));
    }
    Volume v(Dims{int(first.width), int(first.height), int(slices.size())});
    detail::ValueLabeler labeler(folder.string(), labelValues);
    const std::size_t plane = std::size_t(first.width) * first.height;
    for (std::size_t z = 0; z < slices.size(); ++z) {
        const TiffFile f = openSlice(slices[z]);
        const auto pages = scanPages(f, 0, f.where());  // again: the file may have changed since
        if (pages.size() != 1 || pages[0].width != first.width || pages[0].height != first.height)
            f.fail("changed while the folder was read");
        if (!TIFFSetDirectory(f.get(), 0)) f.fail("cannot go back to page 1");
        readPage(f, pages[0], 0, labeler, v.labels().data() + z * plane, z * plane);
        if (z == 0) v.spacing = readSpacing(f.get());
    }
    labeler.finish(v.labels());
    return v;
}

void setPageTags(TIFF* t, const Volume& v, int z, std::uint32_t rowsPerStrip, const std::string& description) {
    const Dims& d = v.dims();
    TIFFSetField(t, TIFFTAG_SUBFILETYPE, d.nz > 1 ? FILETYPE_PAGE : 0);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, std::uint32_t(d.nx));
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, std::uint32_t(d.ny));
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, std::uint16_t(8));
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, std::uint16_t(1));
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rowsPerStrip);
    TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_NONE);
    TIFFSetField(t, TIFFTAG_XRESOLUTION, 1.0 / v.spacing[0]);
    TIFFSetField(t, TIFFTAG_YRESOLUTION, 1.0 / v.spacing[1]);
    TIFFSetField(t, TIFFTAG_PAGENUMBER, std::uint16_t(std::min(z, 65535)), std::uint16_t(std::min(d.nz, 65535)));
    TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, description.c_str());
    TIFFSetField(t, TIFFTAG_SOFTWARE, "MicroStudio");
}

void writePages(const TiffFile& f, const Volume& v) {
    const Dims& d = v.dims();
    const std::uint32_t rowsPerStrip = std::uint32_t(std::max<std::size_t>(1, kStripBytes / std::size_t(d.nx)));
    std::ostringstream description;
    description.precision(17);
    description << kSpacingPrefix << v.spacing[0] << ' ' << v.spacing[1] << ' ' << v.spacing[2];
    std::vector<std::uint8_t> strip;
    for (int z = 0; z < d.nz; ++z) {
        setPageTags(f.get(), v, z, rowsPerStrip, description.str());
        for (std::uint32_t s = 0, y0 = 0; y0 < std::uint32_t(d.ny); ++s, y0 += rowsPerStrip) {
            const std::uint32_t rows = std::min<std::uint32_t>(rowsPerStrip, std::uint32_t(d.ny) - y0);
            const auto begin = v.labels().begin() + std::ptrdiff_t(v.index(0, int(y0), z));
            strip.assign(begin, begin + std::ptrdiff_t(std::size_t(rows) * std::size_t(d.nx)));
            if (TIFFWriteEncodedStrip(f.get(), s, strip.data(), tmsize_t(strip.size())) < 0)
                f.fail("write failed on page " + std::to_string(z + 1));
        }
        if (!TIFFWriteDirectory(f.get())) f.fail("write failed on page " + std::to_string(z + 1));
    }
}

FileClaim claimOf(const TiffFile& f, std::uintmax_t bytes, const std::string& source) {
    FileClaim c;
    c.bytes = bytes;
    std::uint32_t w = 0, h = 0;
    std::uint16_t bits = 1;
    TIFFGetField(f.get(), TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(f.get(), TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(f.get(), TIFFTAG_BITSPERSAMPLE, &bits);
    const tdir_t pages = TIFFNumberOfDirectories(f.get());
    c.what = source + std::to_string(pages) + (pages == 1 ? " page" : " pages") + ", the first " + std::to_string(w) +
             "x" + std::to_string(h) + " " + std::to_string(bits) + "-bit";
    c.dims = std::to_string(w) + "x" + std::to_string(h) + (pages > 1 ? "x" + std::to_string(pages) : "");
    c.voxels = (long double)w * h * pages;
    return c;
}

FileClaim unreadableClaim(std::uintmax_t fileSize) {
    FileClaim c;
    c.what = "no TIFF header libtiff can read";
    c.bytes = fileSize;
    return c;
}

// Throws only when the file cannot be opened (missing, not a regular file).
FileClaim tiffClaimFromFile(const fs::path& file, const std::string& source) {
    const std::uintmax_t size = requireRegularFile(file);
    try {
        return claimOf(TiffFile::open(file, "r", size), size, source);
    } catch (const Error&) {
        return unreadableClaim(size);
    }
}

}  // namespace

std::vector<fs::path> tiffFolderSlices(const fs::path& folder) {
    std::vector<fs::path> slices;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(folder, ec)) {
        const std::string name = e.path().filename().string();
        const std::string ext = lowerExtension(e.path());
        if (name.empty() || name[0] == '.' || (ext != "tif" && ext != "tiff")) continue;  // hidden: temp files
        slices.push_back(e.path());
    }
    if (ec) throw Error(folder.string() + ": cannot list the folder: " + ec.message());
    std::sort(slices.begin(), slices.end(), [](const fs::path& a, const fs::path& b) {
        return naturalLess(a.filename().string(), b.filename().string());
    });
    return slices;
}

Volume readTiff(const fs::path& path, const std::vector<double>& labelValues) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return readTiffFolder(path, labelValues);
    return readTiffFile(TiffFile::open(path, "r", requireRegularFile(path)), labelValues);
}

Volume readTiffBytes(const std::string& bytes, const std::string& where, const std::vector<double>& labelValues) {
    return readTiffFile(TiffFile::openBytes(bytes, where), labelValues);
}

void writeTiff(const Volume& v, const fs::path& path) {
    v.validateLabels();
    std::error_code ec;
    if (fs::is_directory(path, ec))
        throw Error(path.string() + ": is a folder; TIFF is written as one multi-page .tif file");
    // Classic TIFF addresses 4 GB; BigTIFF beyond (with room for the tags).
    const char* mode = v.size() > (std::size_t(3) << 30) ? "w8" : "w";
    writeAtomically(path, [&](const fs::path& tmp) {
        TiffFile f = TiffFile::open(tmp, mode, v.size(), path.string());
        writePages(f, v);
        f.close();
    });
}

FileClaim tiffClaim(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        const auto slices = tiffFolderSlices(path);
        if (slices.empty()) throw Error(path.string() + ": a folder without .tif or .tiff slices");
        std::uintmax_t bytes = 0;
        for (const auto& s : slices) bytes += fs::file_size(s, ec);
        FileClaim c = tiffClaimFromFile(slices[0], "folder of " + std::to_string(slices.size()) + " TIFF slices, " +
                                                       slices[0].filename().string() + ": ");
        c.bytes = bytes;
        if (c.voxels >= 0) {
            c.dims += "x" + std::to_string(slices.size());
            c.voxels *= (long double)slices.size();
        }
        return c;
    }
    return tiffClaimFromFile(path, "TIFF, ");
}

FileClaim tiffClaimFromBytes(const std::string& bytes, std::uintmax_t fileSize) {
    try {
        return claimOf(TiffFile::openBytes(bytes, "TIFF"), fileSize, "TIFF, ");
    } catch (const Error&) {
        return unreadableClaim(fileSize);
    }
}

}  // namespace ms::io
