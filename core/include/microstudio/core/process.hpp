#pragma once
// What a benchmark states beside its figures: how busy the machine was and
// what this process has cost so far. Linux (/proc, getrusage).
#include <chrono>
#include <string>

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

}  // namespace ms
