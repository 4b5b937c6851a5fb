#include "microstudio/jobs/worker_denoiser.hpp"

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/jobs/worker_process.hpp"
#include "microstudio/jobs/worker_protocol.hpp"

namespace ms::jobs {

WorkerDenoiser::WorkerDenoiser(std::string workerExecutable, std::string model)
    : executable_(std::move(workerExecutable)), model_(std::move(model)) {}

WorkerDenoiser::~WorkerDenoiser() = default;

Volume WorkerDenoiser::denoise(const Volume& noisy) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!scratch_) scratch_ = std::make_unique<TemporaryDirectory>("microstudio-denoise");
    if (!worker_) worker_ = std::make_unique<WorkerProcess>(executable_);
    const std::int64_t id = nextId_++;
    const DenoiseRequest request{model_, (scratch_->path() / "noisy.h5").string(),
                                 (scratch_->path() / "denoised.h5").string()};
    io::writeVolume(noisy, request.input);
    if (const auto last = worker_->request(requestMessage(id, request))) {
        if ((*last)["event"] == "done") return io::readVolume(request.output);
        throw Error((*last)["message"].get<std::string>());
    }
    // The worker stopped: the next call starts a new one.
    const int status = worker_->wait();
    worker_.reset();
    throw Error("the ML worker stopped (status " + std::to_string(status) + ") while denoising with " + model_);
}

}  // namespace ms::jobs
