// Machine load and this process's cost, for benchmarks (process.hpp).
#include "microstudio/core/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>

#include "microstudio/core/error.hpp"

extern char** environ;

namespace ms {

std::string machineLoad() {
    std::ifstream in("/proc/loadavg");
    std::string one, five, fifteen;
    if (!(in >> one >> five >> fifteen)) return "unknown";
    return one + " " + five + " " + fifteen;
}

double peakResidentMegabytes() {
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;
}

double processCpuSeconds() {
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

namespace {

// One run of `program args...` with stdout and stderr to /dev/null.
double timedRun(const std::filesystem::path& program, const std::vector<std::string>& args) {
    std::vector<std::string> words = {program.filename().string()};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const auto start = std::chrono::steady_clock::now();
    pid_t pid = 0;
    const int failed = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed) throw Error(program.string() + ": cannot start it");
    int status = 0;
    ::waitpid(pid, &status, 0);
    const double seconds = secondsSince(start);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw Error(program.string() + ": the run failed (" +
                    (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status)) : std::string("killed")) +
                    ")");
    return seconds;
}

}  // namespace

double medianRunSeconds(const std::filesystem::path& program, const std::vector<std::string>& args, int repeats) {
    if (repeats < 1) throw Error("medianRunSeconds: repeats must be at least 1");
    std::vector<double> t;
    for (int i = 0; i < repeats; ++i) t.push_back(timedRun(program, args));
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace ms
