// libFuzzer target: the HDF5 reader as the CLI uses it (the claim `info`
// prints, the sample list, every sample with its attributes and field), on
// the input written to a file: libhdf5 reads files, and this is the path
// untrusted files take. libhdf5 itself is not instrumented, so ASan sees its
// crashes (SEGV, aborts) but not its silent out-of-bounds reads.
//
// libhdf5 1.10 crashes on many malformed files; the project reads HDF5 in a
// child process for that reason (hdf5.hpp). The fuzzer reads in process, to
// see and cover what libhdf5 and our checks do (scripts/fuzz.sh runs it with
// -fork and -ignore_crashes); with MS_FUZZ_H5_ISOLATED=1 it goes through the
// child process as the CLI does, where every crash input must give an
// ms::Error (scripts/fuzz.sh replays the crash inputs that way).
#include "fuzz_common.hpp"
#include "microstudio/io/claim.hpp"
#include "microstudio/io/hdf5.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::init();
    ms::io::setHdf5ReadIsolation(std::getenv("MS_FUZZ_H5_ISOLATED") != nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = fuzz::writeInput(data, size, ".h5");
    try {
        (void)ms::io::hdf5Claim(path);
    } catch (const ms::Error&) {}
    try {
        ms::io::hdf5RequireSamples(path);
        for (const auto& v : ms::io::readHdf5(path)) fuzz::consume(v);
    } catch (const ms::Error&) {}
    return 0;
}
