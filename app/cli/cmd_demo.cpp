// The headless demo: what the studio shows, as files. Makes a 3-phase
// microstructure, measures it, and writes it in every format.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/io.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif

namespace fs = std::filesystem;

namespace ms::cli {

int cmdDemo(const CommandArgs& argv) {
    Options declared("demo [-o FOLDER] [--size NXxNYxNZ] [--seed S]",
                     "Headless demo of the studio: makes a 3-phase (donor / mixed / acceptor) microstructure, computes "
                     "its GraSPI descriptors, and writes it as .vti (open it in ParaView or the studio), .h5 "
                     "(MicroGen3D layout, descriptors as attributes), a PNG slice stack and a GraSPI text file.");
    declared.text("output", "FOLDER", "output folder").shortName('o').def("microstudio-demo");
    declared.dims("size", "NXxNYxNZ", "volume size").def("96x96x48");
    declared.integer("seed", "S", "random seed").atLeast(0).def(2026);
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    const fs::path out = args.text("output");
    const Dims dims = parseDims(args.text("size"));
    SyntheticOptions options;
    options.donorFraction = 0.42;
    options.mixedFraction = 0.16;
    options.seed = std::uint64_t(args.integer("seed"));
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec) throw Error("cannot create folder " + out.string() + ": " + ec.message());

    const auto start = std::chrono::steady_clock::now();
    Volume v = syntheticMicrostructure(dims, options);
    std::cout << "microstructure: " << dims.str() << ", 3 phases, vol_frac D " << v.volumeFraction(Donor) << ", M "
              << v.volumeFraction(Mixed) << ", A " << v.volumeFraction(Acceptor) << "\n";
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    const descriptors::Result measured = descriptors::describe(v);
    for (const auto& e : measured.all())
        if (e.value == e.value) v.attributes[e.name] = e.value;
    std::cout << "descriptors (GraSPI, 3-phase):\n" << descriptors::formatGraspi(measured);
#else
    std::cout << "descriptors: not built\n";
#endif
    for (const char* name : {"demo.vti", "demo.h5", "demo.txt", "demo.png"}) io::writeVolume(v, out / name);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "wrote " << (out / "demo.vti").string() << ", demo.h5, demo.txt and demo_z*.png (" << dims.nz
              << " slices) in " << seconds << " s\n"
              << "open it with: microstudio " << (out / "demo.vti").string() << "\n";
    return 0;
}

}  // namespace ms::cli
