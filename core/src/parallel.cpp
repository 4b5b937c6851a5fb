#include "microstudio/core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ms {

int defaultThreadCount() {
    if (const char* env = std::getenv("MICROSTUDIO_THREADS")) {
        const int n = std::atoi(env);
        if (n > 0) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

void lowerCurrentThreadPriority() {
#if defined(__linux__)
    // On Linux the nice value is per thread; PRIO_PROCESS with a thread id sets it.
    setpriority(PRIO_PROCESS, id_t(syscall(SYS_gettid)), 10);
#endif
}

void parallelFor(std::size_t n, const std::function<void(std::size_t)>& body, int threads) {
    if (threads <= 0) threads = defaultThreadCount();
    const std::size_t workers = std::min<std::size_t>(std::size_t(threads), n);
    if (workers <= 1) {
        for (std::size_t i = 0; i < n; ++i) body(i);
        return;
    }
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr firstError;
    std::mutex errorMutex;
    auto run = [&] {
        for (std::size_t i = next++; i < n && !failed; i = next++) {
            try {
                body(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(errorMutex);
                if (!firstError) firstError = std::current_exception();
                failed = true;
            }
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < workers; ++t) pool.emplace_back(run);
    run();
    for (auto& t : pool) t.join();
    if (firstError) std::rethrow_exception(firstError);
}

}  // namespace ms
