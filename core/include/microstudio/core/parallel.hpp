#pragma once
// A minimal parallel-for over an index range on std::thread; used by batch
// APIs (descriptors of many volumes, dataset builds) to use every core.
#include <cstddef>
#include <functional>

namespace ms {

// Number of worker threads to use: hardware_concurrency, at least 1, or the
// MICROSTUDIO_THREADS environment variable when set.
int defaultThreadCount();

// Calls body(i) for i in [0, n) on up to `threads` threads (0 = default).
// The first exception thrown by any body is rethrown after all threads stop.
void parallelFor(std::size_t n, const std::function<void(std::size_t)>& body, int threads = 0);

// Lowers the calling thread's scheduling priority (Linux nice +10; threads it
// starts inherit it), so a long job never competes with the UI thread.
void lowerCurrentThreadPriority();

}  // namespace ms
