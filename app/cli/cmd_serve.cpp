// microstudio-cli serve: the ML worker's request loop on stdin/stdout
// (ms::ml::serveWorker; the protocol is docs/worker-protocol.md). The studio
// starts `microstudio-ml serve` on first use and keeps it warm.
#ifdef MICROSTUDIO_HAVE_ML
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/ml/worker_server.hpp"

namespace ms::cli {

int cmdServe(const CommandArgs& argv) {
    const Options declared("serve",
                           "Runs the ML worker's request loop: one JSON request per line on stdin (generate3d, "
                           "cancel, shutdown), one JSON event per line on stdout (ready, progress, sample, "
                           "preview, done, error); volumes are written as .h5 files to the folder a request names. "
                           "The studio starts it and speaks the protocol of docs/worker-protocol.md; end of input "
                           "cancels the running request and ends the loop.");
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    parsed->requirePositionals(0, 0, "no positional arguments");
    std::ios::sync_with_stdio(false);
    return ml::serveWorker(std::cin, std::cout);
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
