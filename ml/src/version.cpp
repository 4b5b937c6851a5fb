#include "microstudio/ml/version.hpp"

#include <torch/torch.h>
#include <torch/version.h>

#include "microstudio/core/parallel.hpp"

namespace ms::ml {

std::string torchVersion() { return TORCH_VERSION; }

std::string computeDeviceDescription() {
    if (torch::cuda::is_available())
        return "cuda (" + std::to_string(torch::cuda::device_count()) + " device" +
               (torch::cuda::device_count() > 1 ? "s)" : ")");
    return "cpu (" + std::to_string(defaultThreadCount()) + " threads)";
}

}  // namespace ms::ml
