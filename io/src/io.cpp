#include "microstudio/io/io.hpp"

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/graspi_text.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/limits.hpp"
#include "microstudio/io/png.hpp"
#include "microstudio/io/vti.hpp"

namespace fs = std::filesystem;

namespace ms::io {

Format formatOf(const fs::path& path) {
    const std::string ext = lowerExtension(path);
    if (ext == "vti") return Format::Vti;
    if (ext == "h5" || ext == "hdf5") return Format::Hdf5;
    if (ext == "txt" || ext == "graspi") return Format::GraspiText;
    if (ext == "png") return Format::Png;
    throw Error(path.string() + ": unknown file type '." + ext + "' (use .vti, .h5, .txt or .png)");
}

const char* formatName(Format f) {
    switch (f) {
        case Format::Vti: return "VTK ImageData (.vti)";
        case Format::Hdf5: return "HDF5, MicroGen3D layout (.h5)";
        case Format::GraspiText: return "GraSPI text (.txt)";
        case Format::Png: return "PNG (.png)";
    }
    return "?";
}

Volume readVolume(const fs::path& path) {
    const Format format = formatOf(path);
    if (format != Format::Png) requireRegularFile(path);  // a PNG may name a slice stack
    switch (format) {
        case Format::Vti: return readVti(path);
        case Format::Hdf5: return readHdf5Sample(path, hdf5RequireSamples(path).front());
        case Format::GraspiText: return readGraspiText(path);
        case Format::Png: return readPngStack(path);
    }
    throw Error("unreachable");
}

void writeVolume(const Volume& volume, const fs::path& path) {
    switch (formatOf(path)) {
        case Format::Vti: return writeVti(volume, path);
        case Format::Hdf5: return writeHdf5({volume}, path);
        case Format::GraspiText: return writeGraspiText(volume, path);
        case Format::Png: return volume.dims().is2D() ? writePng(volume, path) : writePngStack(volume, path);
    }
}

std::vector<Volume> readSamples(const std::string& pathOrGlob) {
    const auto paths = expandGlob(pathOrGlob);
    if (paths.empty()) throw Error(pathOrGlob + ": no file matches");
    std::vector<Volume> all;
    for (const auto& p : paths) {
        if (formatOf(p) == Format::Hdf5) {
            // Every file must give a sample: an empty one is an error, not a skip.
            hdf5RequireSamples(p);
            for (auto& v : readHdf5(p)) all.push_back(std::move(v));
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
