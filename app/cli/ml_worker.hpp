#pragma once
// microstudio-cli links no LibTorch: the commands that need a model (train,
// generate, evaluate, ...) run in the ML worker executable, microstudio-ml,
// beside it. The CLI replaces itself with the worker (execv) for them, so
// flags, output, exit status and Ctrl-C are exactly the worker's.
#include <filesystem>

namespace ms::cli {

// microstudio-ml in this executable's folder.
std::filesystem::path mlWorkerExecutable();

// True when the command line (argv[1] the command) needs the ML worker.
bool runsInMlWorker(int argc, char** argv);

// Replaces this process with microstudio-ml (same directory as this
// executable) given the same arguments; on failure prints one line and
// exits with status 1.
[[noreturn]] void execMlWorker(int argc, char** argv);

}  // namespace ms::cli
