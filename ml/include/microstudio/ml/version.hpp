#pragma once
// What the About dialog and `models` report about the compute stack.
#include <string>

namespace ms::ml {

// "1.13.1" (the LibTorch the program runs with).
std::string torchVersion();
// "cuda (NVIDIA ...)" or "cpu (2 threads)": where models run by default.
std::string computeDeviceDescription();

}  // namespace ms::ml
