// libFuzzer target: the GraSPI text reader and the header claim `info` prints.
// In memory.
#include <sstream>

#include "fuzz_common.hpp"
#include "microstudio/io/claim.hpp"
#include "microstudio/io/graspi_text.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    fuzz::init();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    (void)ms::io::claimFromHead(ms::io::Format::GraspiText, bytes.substr(0, 64 << 10), size);
    try {
        std::istringstream in(bytes);
        fuzz::consume(ms::io::readGraspiText(in, "fuzz.txt"));
    } catch (const ms::Error&) {}
    return 0;
}
