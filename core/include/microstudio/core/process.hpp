#pragma once
// What a benchmark states beside its figures: how busy the machine was and
// what this process has cost so far. Linux (/proc, getrusage).
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace ms {

// /proc/loadavg's 1, 5 and 15-minute loads ("4.40 3.88 3.23"), or "unknown".
std::string machineLoad();
// Peak resident memory of this process so far, in MB (getrusage's maxrss).
double peakResidentMegabytes();
// CPU seconds of this process so far, all threads, user + system: what a
// run costs whatever else keeps the cores busy.
double processCpuSeconds();
// Wall seconds from `start` to now (steady clock).
inline double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Wall seconds of whole runs of `program args...` (process start included,
// its output discarded), the median of `repeats` runs: `bench startup`'s
// measure. Throws ms::Error naming the program when it cannot start or a
// run does not exit with status 0.
double medianRunSeconds(const std::filesystem::path& program, const std::vector<std::string>& args, int repeats);

// Runs `program` once per argument list, all at the same time (their output
// is this process's), and waits for every one; then throws ms::Error naming
// the program when any did not exit with status 0 (`bench dist`'s ranks).
void runTogether(const std::filesystem::path& program, const std::vector<std::vector<std::string>>& argLists);

}  // namespace ms
