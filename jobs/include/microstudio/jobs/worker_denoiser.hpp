#pragma once
// A learned denoiser (a 2D VAE model file) that runs in the ML worker
// (docs/worker-protocol.md, "denoise"), for callers that want a plain
// Volume -> Volume function off their UI thread: the studio's Noise lab.
// The worker starts on the first call, stays warm with the model loaded, and
// a worker that died is started again on the next call. Torch-free.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "microstudio/core/volume.hpp"

namespace ms {
class TemporaryDirectory;
}

namespace ms::jobs {

class WorkerProcess;

class WorkerDenoiser {
public:
    WorkerDenoiser(std::string workerExecutable, std::string model);
    ~WorkerDenoiser();
    WorkerDenoiser(const WorkerDenoiser&) = delete;
    WorkerDenoiser& operator=(const WorkerDenoiser&) = delete;

    // One call at a time (callers on several threads wait their turn).
    // Throws ms::Error (one line) with the worker's reason: a model it
    // cannot load, an image of a size the model refuses, a worker that died.
    Volume denoise(const Volume& noisy);
    const std::string& model() const { return model_; }

private:
    std::string executable_, model_;
    std::mutex mutex_;
    std::unique_ptr<WorkerProcess> worker_;
    std::unique_ptr<TemporaryDirectory> scratch_;  // the volumes passed both ways
    std::int64_t nextId_ = 1;
};

}  // namespace ms::jobs
