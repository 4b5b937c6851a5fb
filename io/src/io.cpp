#include "microstudio/io/io.hpp"

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/dream3d.hpp"
#include "microstudio/io/graspi_text.hpp"
#include "microstudio/io/hdf5.hpp"
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "microstudio/io/limits.hpp"
#include "microstudio/io/npy.hpp"
#include "microstudio/io/png.hpp"
#include "microstudio/io/tiff.hpp"
#include "microstudio/io/vti.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

struct ExtensionFormat {
    const char* extension;
    Format format;
};
// The dispatch table: formatOf, volumeExtensions and the dialogs' filter all read it.
constexpr ExtensionFormat kExtensionFormats[] = {
    {"vti", Format::Vti},           {"h5", Format::Hdf5},        {"hdf5", Format::Hdf5}, {"txt", Format::GraspiText},
    {"graspi", Format::GraspiText}, {"png", Format::Png},        {"tif", Format::Tiff},  {"tiff", Format::Tiff},
    {"npy", Format::Npy},           {"dream3d", Format::Dream3d}};

}  // namespace

const std::vector<std::string>& volumeExtensions() {
    static const std::vector<std::string> extensions = [] {
        std::vector<std::string> list;
        for (const auto& e : kExtensionFormats) list.emplace_back(e.extension);
        return list;
    }();
    return extensions;
}

std::string volumeFileFilter() {
    std::string patterns;
    for (const auto& ext : volumeExtensions()) patterns += (patterns.empty() ? "*." : " *.") + ext;
    return "Microstructures (" + patterns + ")";
}

Format formatOf(const fs::path& path) {
    const std::string ext = lowerExtension(path);
    for (const auto& e : kExtensionFormats)
        if (ext == e.extension) return e.format;
    // A folder named like no file type ("slices/", "scan.d") is a folder of
    // TIFF slices; "x.txt/" stays a text path, refused as a folder.
    std::error_code ec;
    if (fs::is_directory(path, ec)) return Format::Tiff;
    throw Error(path.string() + ": unknown file type '." + ext +
                "' (use .vti, .h5, .txt, .png, .tif, .npy or .dream3d)");
}

const char* formatName(Format f) {
    switch (f) {
        case Format::Vti:
            return "VTK ImageData (.vti)";
        case Format::Hdf5:
            return "HDF5, MicroGen3D layout (.h5)";
        case Format::GraspiText:
            return "GraSPI text (.txt)";
        case Format::Png:
            return "PNG (.png)";
        case Format::Tiff:
            return "TIFF (.tif, multi-page or a folder of slices)";
        case Format::Npy:
            return "NumPy array (.npy)";
        case Format::Dream3d:
            return "DREAM.3D image (.dream3d, with an .xdmf sidecar)";
    }
    return "?";
}

Volume readVolume(const fs::path& path) { return readVolume(path, ReadOptions{}); }

std::vector<double> parseLabelValues(const std::string& text) {
    const Error bad(
        "--labels expects 2 or 3 distinct numbers D,A[,M] (the stored values of donor, acceptor and "
        "mixed), got '" +
        printableExcerpt(text) + "'");
    std::vector<double> values;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        if (item.empty() || *end || !std::isfinite(v) || std::count(values.begin(), values.end(), v)) throw bad;
        values.push_back(v);
        start = comma + 1;
    }
    if (values.size() < 2 || values.size() > 3) throw bad;
    return values;
}

void checkReadOptions(const fs::path& path, const ReadOptions& options) {
    const Format format = formatOf(path);
    if (!options.labelValues.empty() && format != Format::Tiff && format != Format::Npy && format != Format::Dream3d)
        throw Error(path.string() + ": --labels applies to .tif, .npy and .dream3d files only (a " +
                    formatName(format) + " file stores phase labels itself)");
}

Volume readVolume(const fs::path& path, const ReadOptions& options) {
    checkReadOptions(path, options);
    const Format format = formatOf(path);
    // A PNG may name a slice stack, a TIFF path a folder of slices.
    if (format != Format::Png && format != Format::Tiff) requireRegularFile(path);
    switch (format) {
        case Format::Vti:
            return readVti(path);
        case Format::Hdf5:
            return readHdf5Sample(path, hdf5RequireSamples(path).front());
        case Format::GraspiText:
            return readGraspiText(path);
        case Format::Png:
            return readPngStack(path);
        case Format::Tiff:
            return readTiff(path, options.labelValues);
        case Format::Npy:
            return readNpy(path, options.labelValues);
        case Format::Dream3d:
            return readDream3d(path, options.labelValues);
    }
    throw Error("unreachable");
}

void writeVolume(const Volume& volume, const fs::path& path) {
    switch (formatOf(path)) {
        case Format::Vti:
            return writeVti(volume, path);
        case Format::Hdf5:
            return writeHdf5({volume}, path);
        case Format::GraspiText:
            return writeGraspiText(volume, path);
        case Format::Png:
            return volume.dims().is2D() ? writePng(volume, path) : writePngStack(volume, path);
        case Format::Tiff:
            return writeTiff(volume, path);
        case Format::Npy:
            return writeNpy(volume, path);
        case Format::Dream3d:
            return writeDream3d(volume, path);
    }
}

std::vector<Volume> readSamples(const std::string& pathOrGlob, ProgressToken* progress) {
    const auto paths = expandGlob(pathOrGlob);
    if (paths.empty()) throw Error(pathOrGlob + ": no file matches");
    std::vector<Volume> all;
    for (const auto& p : paths) {
        if (formatOf(p) == Format::Hdf5) {
            // Every file must give a sample: an empty one is an error, not a skip.
            hdf5RequireSamples(p);
            for (auto& v : readHdf5(p, progress)) all.push_back(std::move(v));
        } else {
            Volume v = readVolume(p);
            v.text["sample"] = p.stem().string();
            v.text["source"] = p.string();
            all.push_back(std::move(v));
        }
    }
    return all;
}

}  // namespace ms::io
