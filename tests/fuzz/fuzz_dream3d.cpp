// libFuzzer target: the DREAM.3D reader as the CLI uses it (the claim `info`
// prints, then the volume with its field and attributes), on the input written
// to a .dream3d file. Like fuzz_h5 it reads in process unless
// MS_FUZZ_H5_ISOLATED=1 (libhdf5 1.10 crashes on malformed files; the CLI and
// the studio read through the HDF5 reader process, hdf5.hpp).
#include "fuzz_common.hpp"
#include "microstudio/io/dream3d.hpp"
#include "microstudio/io/hdf5.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::init();
    ms::io::setHdf5ReadIsolation(std::getenv("MS_FUZZ_H5_ISOLATED") != nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = fuzz::writeInput(data, size, ".dream3d");
    try {
        (void)ms::io::dream3dClaim(path);
    } catch (const ms::Error&) {}
    try {
        fuzz::consume(ms::io::readDream3d(path));
    } catch (const ms::Error&) {}
    return 0;
}
