// libFuzzer target: the PNG reader (libpng behind our size checks), the
// header claim `info` prints, and the slice-stack manifest parser. In memory.
#include "fuzz_common.hpp"
#include "microstudio/io/claim.hpp"
#include "microstudio/io/png.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    (void)ms::io::claimFromHead(ms::io::Format::Png, bytes.substr(0, 64 << 10), size);
    try {
        fuzz::consume(ms::io::readPngBytes(bytes, "fuzz.png"));
    } catch (const ms::Error&) {}
    try {
        (void)ms::io::parsePngStackManifest(bytes, "/nonexistent/s.png", "s.pngstack");
    } catch (const ms::Error&) {}
    return 0;
}
