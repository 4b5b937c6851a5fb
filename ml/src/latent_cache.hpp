#pragma once
// The training latents of a 3D generator's feature and diffusion stages,
// kept beside the stage's checkpoint so a resumed run does not encode
// thousands of volumes again (a resumed gen3d-ch3 diffusion stage spent 24
// minutes on its 8,400 volumes before the first step). Private to ml/.
#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace ms::ml::detail {

// FNV-1a over the bytes of every parameter and buffer of `module`, in order:
// a cache made with other weights is not used.
std::string weightsKey(torch::nn::Module& module);

// The latents stored at `path` under `key`; undefined when there are none,
// they were stored under another key, or the file is damaged or short (its
// size is checked against its header before anything is allocated): the
// caller encodes again.
torch::Tensor readLatentCache(const std::filesystem::path& path, const std::string& key);

// `latents` (float32, any device) at `path` under `key`, written atomically.
void writeLatentCache(const std::filesystem::path& path, const std::string& key, const torch::Tensor& latents);

// Where the stage's checkpoint keeps its latents ("diffusion.ckpt" ->
// "diffusion.ckpt.latents"); empty for an empty checkpoint path.
std::filesystem::path latentCachePath(const std::filesystem::path& checkpoint);

}  // namespace ms::ml::detail
