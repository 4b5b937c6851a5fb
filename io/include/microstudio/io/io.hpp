#pragma once
// Reading and writing volumes in every format MicroStudio supports, chosen
// by extension:
//   .vti        VTK XML ImageData (what ParaView opens)
//   .h5 / .hdf5 MicroGen3D layout: one dataset per sample (flattened volume),
//               descriptors and parameters as attributes on that dataset
//   .txt        GraSPI / py-graspi morphology text ("nx ny [nz]" then values)
//   .png        a 2D image, or a slice stack (one PNG per z: name_z0000.png ...)
//   .tif/.tiff  a multi-page TIFF (one page per z), or a folder of single-page
//               TIFFs read in name order (tiff.hpp)
//   .npy        a NumPy array, 2D or 3D (npy.hpp)
//   .dream3d    DREAM.3D's HDF5 image layout, written with an .xdmf sidecar
//               for ParaView (dream3d.hpp)
// What each keeps and loses: docs/formats.md.
// Every failure throws ms::Error with a one-line reason naming the file.
// Readers check what a file claims against the bytes present and the voxel
// cap before allocating, and refuse non-regular files (limits.hpp,
// docs/reliability.md).
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::io {

enum class Format { Vti, Hdf5, GraspiText, Png, Tiff, Npy, Dream3d };

// From the extension (a folder without a known one is a folder of TIFF
// slices); throws on unknown ones.
Format formatOf(const std::filesystem::path& path);
const char* formatName(Format f);

// Every file extension formatOf knows (lower case, no dot; each format reads
// and writes), in the order dialogs list them: the one list the studio's file
// dialogs and the CLI's help take.
const std::vector<std::string>& volumeExtensions();
// A Qt file-dialog filter of them: "Microstructures (*.vti *.h5 ... *.npy)".
std::string volumeFileFilter();

// Reads the (first) volume of a file. For HDF5 files with several samples
// use readSamples().
Volume readVolume(const std::filesystem::path& path);

// How a TIFF, .npy or .dream3d file's stored values become phases. Empty: automatic
// (values within 0/1/2 or 0/0.5/1 are MicroStudio's labels; otherwise 2 or 3
// distinct values map in ascending order to D, A or D, M, A). Else the stored
// values of D, A and optionally M, in that order ("--labels 0,255,128").
struct ReadOptions {
    std::vector<double> labelValues;
};
// "0,255[,128]" -> {0, 255, 128}; throws ms::Error naming --labels unless 2 or
// 3 distinct finite numbers.
std::vector<double> parseLabelValues(const std::string& text);
// Throws "FILE: --labels applies to .tif, .npy and .dream3d files only" when options
// set label values for a format that stores phase labels itself.
void checkReadOptions(const std::filesystem::path& path, const ReadOptions& options);
Volume readVolume(const std::filesystem::path& path, const ReadOptions& options);

// Writes atomically (temp file + rename). PNG of a 3D volume writes a slice
// stack: path "out.png" becomes out_z0000.png, out_z0001.png, ...
void writeVolume(const Volume& volume, const std::filesystem::path& path);

// All samples of one file or of a glob of parts ("data/part_*.h5"); an .h5
// file without a sample dataset is an error naming it, never skipped.
// Each sample gets text["sample"] = its dataset name, text["source"] = file.
// `progress`: each .h5 file's samples as they are read, and cancellation
// (readHdf5).
std::vector<Volume> readSamples(const std::string& pathOrGlob, ProgressToken* progress = nullptr);

}  // namespace ms::io
