#pragma once
// A blocking client of the ML worker (docs/worker-protocol.md) for code
// without an event loop: benchmarks, tests and the Noise lab's learned
// denoiser (WorkerDenoiser, called on a background thread). Starts `EXECUTABLE serve`
// with pipes on its stdin and stdout (stderr stays the caller's). The studio
// has its own, event-driven client (ui::MlWorker on QProcess).
#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>

#include "microstudio/core/json.hpp"

namespace ms::jobs {

class WorkerProcess {
public:
    // Throws ms::Error naming the executable when it cannot be started.
    // send() to a dead worker throws; it never raises SIGPIPE in the caller
    // (blocked for the writing thread only; the process's handling of
    // SIGPIPE is left alone).
    explicit WorkerProcess(const std::string& executable);
    ~WorkerProcess();  // closes its input (the worker cancels and exits), then waits for it
    WorkerProcess(const WorkerProcess&) = delete;
    WorkerProcess& operator=(const WorkerProcess&) = delete;

    void send(const Json& message);
    // Sends a request (its "id" set) and hands every event of that id to
    // `onEvent` until its "done" or "error", which is returned; nullopt when
    // the worker has stopped (its input closed, or its output ended before
    // the answer). Throws as next() on a line that is not a protocol message.
    std::optional<Json> request(const Json& message, const std::function<void(const Json&)>& onEvent = {});
    // The next event; nullopt once the worker's output ends (it exited or died).
    // Throws ms::Error for a line that is not a protocol message.
    std::optional<Json> next();
    pid_t pid() const { return pid_; }
    // Closes the worker's input and waits: its exit status, or 128 + signal.
    int wait();

private:
    pid_t pid_ = -1;
    int toWorker_ = -1, fromWorker_ = -1;
    std::string buffer_;
    std::optional<int> status_;
};

}  // namespace ms::jobs
