#include "microstudio/core/progress.hpp"

#include "microstudio/core/error.hpp"

namespace ms {

void ProgressToken::setListener(Listener listener) {
    std::lock_guard<std::mutex> lock(mutex_);
    listener_ = std::move(listener);
}

void ProgressToken::report(double fraction, const std::string& message) {
    fraction_ = fraction;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (listener_) listener_(fraction, message);
    }
    throwIfCancelled();
}

void ProgressToken::throwIfCancelled() const {
    if (cancelled_) throw Cancelled();
}

}  // namespace ms
