#pragma once
// The ML worker's request loop (docs/worker-protocol.md): reads one JSON
// request per line from `in`, runs it on a thread of its own, and writes
// events (ready, progress, sample, preview, done, error) to `out`, one line
// (requests: generate3d, evaluate3d, cancel, shutdown)
// each. One request runs at a time (another while busy gets an error
// event); "cancel" stops the running one at its next progress report;
// "shutdown" lets it finish, then returns; end of input (the client is gone)
// cancels it and returns. A line it cannot read gets an error event and the
// loop goes on. Loaded models stay loaded between requests (warm).
#include <cstddef>
#include <iosfwd>
#include <string>

#include "microstudio/jobs/worker_protocol.hpp"
#include "microstudio/ml/studio_training.hpp"

namespace ms::ml {

// Returns when asked to shut down or at the end of input: 0.
int serveWorker(std::istream& in, std::ostream& out);

// `bench ml3d --worker`: the same generate3d request in this process (model
// loaded beforehand; generate, then describe each sample, as the studio did
// in-process) and through `WORKER serve` (samples written, announced and
// read back), side by side, medians of `repeats`.
struct WorkerTiming {
    std::size_t samples = 0;
    double inProcessSeconds = 0.0;   // per request, median
    double workerColdSeconds = 0.0;  // the first request: process start and model load included
    double workerWarmSeconds = 0.0;  // per later request (warm worker), median
    double readBackSeconds = 0.0;    // of the warm figure: reading the sample files back, median
    double modelLoadSeconds = 0.0;   // in this process, once
};
WorkerTiming timeWorkerGeneration(const std::string& workerExecutable, const jobs::Generate3dRequest& request,
                                  int repeats);

// One studio training (runStudioTraining, resume = false) in this process
// and through the worker (a "train" request), alternating, median of
// `repeats` each; the worker's first request (process start included) apart.
struct WorkerTrainingTiming {
    double inProcessSeconds = 0.0;
    double workerColdSeconds = 0.0;
    double workerWarmSeconds = 0.0;
};
WorkerTrainingTiming timeWorkerTraining(const std::string& workerExecutable, StudioTrainingKind kind,
                                        const StudioTrainingSettings& settings, int repeats);

}  // namespace ms::ml
