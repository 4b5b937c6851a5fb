#pragma once
// What a benchmark states beside its figures: how busy the machine was and
// what this process has cost so far. Linux (/proc, getrusage).
#include <string>

namespace ms {

// /proc/loadavg's 1, 5 and 15-minute loads ("4.40 3.88 3.23"), or "unknown".
std::string machineLoad();
// Peak resident memory of this process so far, in MB (getrusage's maxrss).
double peakResidentMegabytes();
// CPU seconds of this process so far, all threads, user + system: what a
// run costs whatever else keeps the cores busy.
double processCpuSeconds();

}  // namespace ms
