#pragma once
// Progress and cancellation shared between a job and its front end (CLI bar
// or GUI progress dialog). Thread-safe: the worker reports, any thread reads
// or cancels.
#include <atomic>
#include <functional>
#include <mutex>
#include <string>

namespace ms {

class ProgressToken {
public:
    using Listener = std::function<void(double fraction, const std::string& message)>;

    void setListener(Listener listener);
    // Reports progress; throws ms::Cancelled when cancel() was called.
    void report(double fraction, const std::string& message = {});
    void cancel() { cancelled_ = true; }
    bool cancelled() const { return cancelled_; }
    void throwIfCancelled() const;
    double fraction() const { return fraction_; }

private:
    std::atomic<bool> cancelled_{false};
    std::atomic<double> fraction_{0.0};
    std::mutex mutex_;
    Listener listener_;
};

}  // namespace ms
