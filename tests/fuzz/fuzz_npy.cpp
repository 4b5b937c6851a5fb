// libFuzzer target: the .npy reader (the header dict parser, dtypes, shape
// against the bytes present, the value-to-phase mapping) and the header
// claim `info` prints. In memory.
#include "fuzz_common.hpp"
#include "microstudio/io/claim.hpp"
#include "microstudio/io/npy.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    (void)ms::io::claimFromHead(ms::io::Format::Npy, bytes.substr(0, 64 << 10), size);
    try {
        fuzz::consume(ms::io::readNpyBytes(bytes, "fuzz.npy"));
    } catch (const ms::Error&) {}
    try {  // explicit values take the other path through the mapping
        fuzz::consume(ms::io::readNpyBytes(bytes, "fuzz.npy", {0, 1, 0.5}));
    } catch (const ms::Error&) {}
    return 0;
}
