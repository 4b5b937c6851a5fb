// libFuzzer target: the .vti reader (XML scan, base64, zlib blocks, raw
// appended data) and the header claim `info` prints. In memory.
#include "fuzz_common.hpp"
#include "microstudio/io/claim.hpp"
#include "microstudio/io/vti.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    (void)ms::io::claimFromHead(ms::io::Format::Vti, bytes.substr(0, 64 << 10), size);
    try {
        fuzz::consume(ms::io::readVtiBytes(std::move(bytes), "fuzz.vti"));
    } catch (const ms::Error&) {}
    return 0;
}
