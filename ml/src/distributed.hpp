#pragma once
// ml-private: the torch side of Communicator (c10d TCPStore + ProcessGroupGloo)
// and the collectives the training loop needs. Every failure (a rank died,
// timed out, cannot connect) becomes one ms::Error line.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "microstudio/ml/distributed.hpp"

namespace ms::ml {

struct Communicator::Impl {
    virtual ~Impl() = default;
    virtual int rank() const = 0;
    virtual int worldSize() const = 0;
    virtual std::string backend() const = 0;
    // In place, over all ranks: tensors of one dtype are packed into one
    // buffer per call (one message, not one per tensor).
    virtual void broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;
    virtual void allReduceSum(std::vector<torch::Tensor>& tensors) = 0;
    // Rank 0's bytes to every rank (through the rendezvous store: large
    // blobs such as a checkpoint to resume).
    virtual std::string shareBytes(const std::string& bytes) = 0;
    virtual void barrier() = 0;
};

namespace detail {

// One message per step: averages the gradients of `params` over the ranks
// (a gradient undefined on every rank stays undefined, as Adam then skips
// it), the floating-point `buffers` (BatchNorm running statistics: the mean
// of the ranks' running means is the running mean of the global batch) and
// `loss`; returns the mean loss.
double averageStep(Communicator::Impl& comm, const std::vector<torch::Tensor>& params,
                   const std::vector<torch::Tensor>& buffers, double loss);

}  // namespace detail
}  // namespace ms::ml
