// microstudio-cli info: what a file claims, then what was read from it.
#include <iomanip>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/claim.hpp"
#include "microstudio/io/io.hpp"

namespace ms::cli {

int cmdInfo(const CommandArgs& argv) {
    Options declared(
        "info [--json] [--labels D,A[,M]] FILE",
        "Shows dimensions, spacing, phases, volume fraction per phase and the attributes of FILE (.vti, "
        ".h5, .txt, .png, .tif/.tiff or a folder of TIFF slices, .npy, .dream3d). First, before reading the data, "
        "the line 'claims:' gives what the file's header claims (size, voxels) and the bytes present, so "
        "it shows even when the file is then refused.");
    declared.flag("json", "accepted for older scripts; the output stays these text lines");
    declared.labels();
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(1, 1, "one FILE");
    const std::string path = args.positionals()[0];
    const io::Format format = io::formatOf(path);
    // What the file claims, from its header, before it is read: printed (and
    // flushed) first, so it shows even when the read then refuses the file.
    std::cout << "file: " << path << "\n"
              << "format: " << io::formatName(format) << "\n";
    try {
        const std::string claim = io::claimText(io::fileClaim(path));  // whole, or no line at all
        std::cout << "claims: " << claim << "\n";
    } catch (const Error&) {
        // Missing, not a regular file, or no header libhdf5 can open: the read says why.
    }
    std::cout << std::flush;
    const Volume v = io::readVolume(path, readOptions(args));
    const auto& d = v.dims();
    std::cout << std::setprecision(6);
    std::cout << "dims: " << d.str() << (d.is2D() ? " (2D)" : " (3D)") << "\n"
              << "spacing: " << v.spacing[0] << " " << v.spacing[1] << " " << v.spacing[2] << "\n"
              << "phases: " << v.phaseCount() << "\n";
    const auto counts = v.phaseCounts();
    for (int p = 0; p < v.phaseCount(); ++p)
        std::cout << "vol_frac_" << phaseName(p) << ": " << double(counts[p]) / double(v.size()) << " (" << counts[p]
                  << " voxels)\n";
    std::cout << "field: " << (v.hasField() ? "yes" : "no") << "\n";
    for (const auto& [k, val] : v.attributes) std::cout << "attr " << k << ": " << val << "\n";
    for (const auto& [k, val] : v.text) std::cout << "text " << k << ": " << val << "\n";
    return 0;
}

}  // namespace ms::cli
