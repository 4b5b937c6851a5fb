#pragma once
// ml-private: torch helpers shared by the models and the generic training
// loop. Only ml/src/*.cpp include this (and so torch).
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/ml/training.hpp"

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

// What a model supplies to the shared training loop.
class TrainTask {
public:
    virtual ~TrainTask() = default;
    virtual torch::nn::Module& module() = 0;
    virtual std::size_t trainCount() const = 0;
    virtual bool hasValidation() const = 0;
    // Mean loss of one batch (training mode). All randomness must come
    // from torch's generator (seeded per step by the loop) or from `step`.
    virtual torch::Tensor batchLoss(const std::vector<std::size_t>& indices, long step, const torch::Device& device) = 0;
    // Deterministic validation loss (the loop sets eval mode and no-grad).
    virtual double validationLoss(const torch::Device& device) = 0;
    // Moves data held by the task to the device (after the module moved).
    virtual void toDevice(const torch::Device& device) {}
};

// The loop of training.hpp: Adam, seeded permutation per epoch, per-step
// seeding, checkpoints, early stopping, progress and cancellation.
TrainReport runTraining(TrainTask& task, const TrainOptions& options);

// Mean and standard deviation (population, floored at 1e-6) of each column.
void columnStats(const std::vector<std::vector<double>>& rows, std::size_t columns, std::vector<double>& mean,
                 std::vector<double>& stdev);

}  // namespace ms::ml::detail
