#include "ml_worker.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace ms::cli {

namespace {

bool isOneOf(const char* word, std::initializer_list<const char*> names) {
    for (const char* name : names)
        if (!std::strcmp(word, name)) return true;
    return false;
}

bool hasArgument(int argc, char** argv, const char* flag) {
    for (int i = 2; i < argc; ++i)
        if (!std::strcmp(argv[i], flag)) return true;
    return false;
}

}  // namespace

bool runsInMlWorker(int argc, char** argv) {
    if (argc < 2) return false;
    const char* command = argv[1];
    if (isOneOf(command, {"train", "train3d", "generate", "evaluate", "sample2d", "denoise", "models", "serve"}))
        return true;
    // `noise eval` adds the shipped learned denoiser's row unless told not to.
    if (!std::strcmp(command, "noise"))
        return argc > 2 && !std::strcmp(argv[2], "eval") && !hasArgument(argc, argv, "--no-learned");
    // The model benchmarks, and the list of all benchmarks.
    if (!std::strcmp(command, "bench")) return argc < 3 || isOneOf(argv[2], {"ml", "ml3d", "dist", "--help", "-h"});
    return false;
}

std::filesystem::path mlWorkerExecutable() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return (ec ? std::filesystem::current_path() / "microstudio-cli" : self).parent_path() / "microstudio-ml";
}

void execMlWorker(int argc, char** argv) {
    const std::filesystem::path worker = mlWorkerExecutable();
    std::vector<char*> args(argv, argv + argc);
    args.push_back(nullptr);
    ::execv(worker.c_str(), args.data());
    std::fprintf(stderr, "microstudio-cli %s: error: cannot start the ML worker %s: %s\n", argc > 1 ? argv[1] : "",
                 worker.c_str(), std::strerror(errno));
    std::exit(1);
}

}  // namespace ms::cli
