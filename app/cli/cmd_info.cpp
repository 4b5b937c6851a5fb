#include <iomanip>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/io/io.hpp"

namespace ms::cli {

int cmdInfo(const CommandArgs& argv) {
    Args args(argv, {}, {"json"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli info [--json] FILE\n\n"
                     "Shows dimensions, spacing, phases, volume fraction per phase and the\n"
                     "attributes of FILE (.vti, .h5, .txt, .png).\n"
                  << kMaxVoxelsHelp;
        return 0;
    }
    args.requirePositionals(1, 1, "one FILE");
    const std::string path = args.positionals()[0];
    const Volume v = io::readVolume(path);
    const auto& d = v.dims();
    std::cout << std::setprecision(6);
    std::cout << "file: " << path << "\n"
              << "format: " << io::formatName(io::formatOf(path)) << "\n"
              << "dims: " << d.str() << (d.is2D() ? " (2D)" : " (3D)") << "\n"
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
