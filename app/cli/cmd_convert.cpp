// microstudio-cli convert: any format io reads to any it writes.
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/io.hpp"

namespace ms::cli {

int cmdConvert(const CommandArgs& argv) {
    Options declared("convert [--sample N] [--labels D,A[,M]] IN OUT",
                     "Converts between .vti, .h5 (MicroGen3D layout), .txt (GraSPI), .png (a 3D volume becomes a "
                     "slice stack OUT_z0000.png ... with a manifest OUT.pngstack; an older stack there is replaced as "
                     "a whole), .tif/.tiff (multi-page, one page per z; IN may be a folder of single-page TIFFs), "
                     ".npy and .dream3d (DREAM.3D, with an .xdmf sidecar ParaView opens). Labels are always kept; "
                     "field, spacing and attributes where the format holds them "
                     "(docs/formats.md). Writes are atomic; temp files a killed convert left beside OUT are removed.");
    declared.integer("sample", "N", "which sample of a multi-sample .h5 file").atLeast(0).def(0);
    declared.labels();
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(2, 2, "IN and OUT");
    const std::string in = args.positionals()[0], out = args.positionals()[1];
    io::formatOf(out);  // fail on an unknown output type before reading
    const long index = args.integer("sample");
    Volume v;
    if (io::formatOf(in) == io::Format::Hdf5 && index != 0) {
        auto samples = io::readSamples(in);
        if (index >= long(samples.size()))
            throw Error(in + ": --sample " + std::to_string(index) + " outside 0.." +
                        std::to_string(long(samples.size()) - 1) + " (the file holds " +
                        std::to_string(samples.size()) + " samples)");
        v = std::move(samples[std::size_t(index)]);
    } else {
        v = io::readVolume(in, readOptions(args));
    }
    io::writeVolume(v, out);
    std::cout << "wrote " << out << " (" << v.dims().str() << ", " << v.phaseCount() << " phases)\n";
    return 0;
}

}  // namespace ms::cli
