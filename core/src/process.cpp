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

// argv of `program args...` (the strings stay in `words`).
std::vector<char*> argvOf(const std::filesystem::path& program, const std::vector<std::string>& args,
                          std::vector<std::string>& words) {
    words = {program.filename().string()};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    return argv;
}

// Starts `program args...`; `quiet` sends its stdout and stderr to /dev/null.
pid_t start(const std::filesystem::path& program, const std::vector<std::string>& args, bool quiet) {
    std::vector<std::string> words;
    auto argv = argvOf(program, args, words);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (quiet) {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid = 0;
    const int failed = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed) throw Error(program.string() + ": cannot start it");
    return pid;
}

// Waits for `pid`; the reason it failed, or empty when it exited with 0.
std::string waitFor(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    return WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status)) : std::string("killed");
}

double timedRun(const std::filesystem::path& program, const std::vector<std::string>& args) {
    const auto begin = std::chrono::steady_clock::now();
    const std::string failure = waitFor(start(program, args, true));
    const double seconds = secondsSince(begin);
    if (!failure.empty()) throw Error(program.string() + ": the run failed (" + failure + ")");
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

void runTogether(const std::filesystem::path& program, const std::vector<std::vector<std::string>>& argLists) {
    std::vector<pid_t> pids;
    std::string failure;
    try {
        for (const auto& args : argLists) pids.push_back(start(program, args, false));
    } catch (const Error& e) {
        failure = e.what();  // the ones started are still waited for
    }
    for (pid_t pid : pids)
        if (auto why = waitFor(pid); !why.empty() && failure.empty())
            failure = program.string() + ": a run failed (" + why + ")";
    if (!failure.empty()) throw Error(failure);
}

}  // namespace ms
