// libFuzzer target: the TIFF reader (libtiff behind our page, strip and size
// checks, the value-to-phase mapping) and the header claim `info` prints.
// In memory, through libtiff's client procs.
#include "fuzz_common.hpp"
#include "microstudio/io/claim.hpp"
#include "microstudio/io/tiff.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    (void)ms::io::claimFromHead(ms::io::Format::Tiff, bytes.substr(0, 64 << 10), size);
    try {
        fuzz::consume(ms::io::readTiffBytes(bytes, "fuzz.tif"));
    } catch (const ms::Error&) {}
    try {  // explicit values take the other path through the mapping
        fuzz::consume(ms::io::readTiffBytes(bytes, "fuzz.tif", {0, 255, 128}));
    } catch (const ms::Error&) {}
    return 0;
}
