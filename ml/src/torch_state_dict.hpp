#pragma once
// ml-private (torch): reading a PyTorch state dict written by Python's
// `torch.save(model.state_dict(), path)` - a zip archive (ARCHIVE/data.pkl,
// ARCHIVE/data/KEY per storage, ARCHIVE/version) whose pickle is protocol 2.
//
// Why not torch::pickle_load: LibTorch 1.13's unpickler turns the
// collections.OrderedDict that state_dict() returns into None and then fails
// ("Expected GenericDict but got None", pytorch/pytorch#100741; fixed only
// in 2.6). This reader interprets the small pickle subset torch.save emits
// for a dict of tensors (the zip itself is read by LibTorch's
// caffe2::serialize::PyTorchStreamReader) and refuses anything else in one line.
#include <torch/torch.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "microstudio/ml/generator3d.hpp"

namespace ms::ml::detail {

// Name -> tensor (float32 and the other storage types as they are), in file order.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// One-line ms::Error naming the file on anything but a torch.save'd dict of tensors.
StateDict readTorchStateDict(const std::filesystem::path& file);

// A storage the pickle names: its element type, key (ARCHIVE/data/KEY) and element count.
struct PickledStorage {
    torch::ScalarType dtype = torch::kFloat;
    std::string key;
    std::int64_t numel = 0;
};

// The pickle alone (tests feed it malformed streams): `storage` supplies each
// storage's elements as a 1-D tensor of numel elements. Errors: ms::Error
// with the reason (the caller prefixes the file).
StateDict unpickleStateDict(const char* data, std::size_t size,
                            const std::function<torch::Tensor(const PickledStorage&)>& storage);

// Sets the generator's parameters (and any buffers named) from MicroStudio
// names ("vae.enc_conv1.weight", "unet.up1.res2.conv1.bias", ...). ms::Error
// (one line) on an unknown name, a shape mismatch or a parameter left unset.
void setGeneratorState(Generator3D& model, const StateDict& named);

}  // namespace ms::ml::detail
