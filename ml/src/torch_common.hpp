#pragma once
// ml-private: torch helpers shared by the models and the generic training
// loop. Only ml/src/*.cpp include this (and so torch).
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/ml/training.hpp"
#include "stats.hpp"

namespace ms::ml::detail {

// CUDA when torch sees a GPU (and not forceCpu), else CPU; sets the CPU
// thread count from `threads` (0 = ms::defaultThreadCount()).
torch::Device chooseDevice(bool forceCpu, int threads);
std::string describeDevice(const torch::Device& device);

// Parameters and buffers by name (recursive), in registration order.
std::vector<std::pair<std::string, torch::Tensor>> namedState(const torch::nn::Module& module);
void writeModuleState(const torch::nn::Module& module, torch::serialize::OutputArchive& archive, bool half);
// Copies every saved tensor into the module's own (dtype and device kept);
// throws ms::Error on a missing name or a shape mismatch.
void readModuleState(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& what);
std::vector<float> flattenState(const torch::nn::Module& module);
long countParameters(const torch::nn::Module& module);

// Weights file: the module state (float16 when half), written atomically.
void saveWeights(const torch::nn::Module& module, const std::filesystem::path& path, bool half);
void loadWeights(torch::nn::Module& module, const std::filesystem::path& path);

// One optimiser step's batch as one rank of a data-parallel run sees it.
// `global` is the batch a single-process run with batch world*B draws at
// this step; this rank's samples are global[begin, end). Random draws that
// depend on the batch size are made for the whole global batch with torch's
// generator (seeded per step by the loop, identically on every rank) and
// sliced, so N ranks compute exactly the gradients of one process. With one
// process, begin = 0 and end = global.size().
struct Batch {
    std::vector<std::size_t> global;
    std::size_t begin = 0, end = 0;
    long step = 0;

    std::size_t size() const { return end - begin; }
    std::size_t globalSize() const { return global.size(); }
    // This rank's sample indices.
    std::vector<std::size_t> indices() const;
    // Draws [globalSize, sampleShape...] on the CPU and returns this rank's
    // rows on `device`.
    torch::Tensor randn(at::IntArrayRef sampleShape, const torch::Device& device) const;
    torch::Tensor rand(at::IntArrayRef sampleShape, const torch::Device& device) const;
    // One integer in [0, high) per sample.
    torch::Tensor randint(std::int64_t high, const torch::Device& device) const;
};

// What a model supplies to the shared training loop.
class TrainTask {
public:
    virtual ~TrainTask() = default;
    virtual torch::nn::Module& module() = 0;
    virtual std::size_t trainCount() const = 0;
    virtual bool hasValidation() const = 0;
    // Mean loss over this rank's samples of the batch (training mode). All
    // randomness must come from torch's generator (seeded per step by the
    // loop) or from the step, and be drawn for the global batch (Batch::randn
    // ...) so that the gradient averaged over ranks is the global batch's.
    virtual torch::Tensor batchLoss(const Batch& batch, const torch::Device& device) = 0;
    // Deterministic validation loss (the loop sets eval mode and no-grad).
    virtual double validationLoss(const torch::Device& device) = 0;
    // Moves data held by the task to the device (after the module moved).
    virtual void toDevice(const torch::Device& device) {}
};

// The loop of training.hpp: Adam, seeded permutation per epoch, per-step
// seeding, checkpoints, early stopping, progress and cancellation.
TrainReport runTraining(TrainTask& task, const TrainOptions& options);

}  // namespace ms::ml::detail
