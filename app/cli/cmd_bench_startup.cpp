// bench startup: whole short commands end to end (process start included),
// the torch-free microstudio-cli against the ML worker microstudio-ml, which
// links LibTorch as every command did before the split. One run, the same
// files, the median of --repeats runs each.
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/io.hpp"

namespace fs = std::filesystem;

namespace ms::cli {

namespace {

// The studio from launch to its first rendered window (--screenshot writes
// it and exits): this build's microstudio, and `before`'s when given.
void benchStudio(const fs::path& bin, const fs::path& before, const fs::path& temp, int repeats) {
    if (!std::getenv("DISPLAY")) throw Error("bench startup --studio needs a display (run it under xvfb-run)");
    const std::vector<std::string> command = {
        "--screenshot", (temp / "studio.png").string(), "--size", "1024x700", "--tab", "viewer"};
    std::printf("%-26s %16s %16s %8s\n", "studio to its first frame", "this build", "before", "ratio");
    const double now = medianRunSeconds(bin / "microstudio", command, repeats);
    if (before.empty()) {
        std::printf("%-26s %14.1f ms\n", "microstudio --screenshot", 1e3 * now);
        return;
    }
    const double then = medianRunSeconds(before / "microstudio", command, repeats);
    std::printf("%-26s %14.1f ms %13.1f ms %7.2fx\n", "microstudio --screenshot", 1e3 * now, 1e3 * then, then / now);
}

}  // namespace

int benchStartup(const CommandArgs& argv) {
    Options declared("bench startup [--repeats N] [--studio [--before DIR]]",
                     "Seconds of whole short commands (--help, info and describe of a 512x128 image), process start "
                     "included: microstudio-cli (no LibTorch) against microstudio-ml (the ML worker, which links "
                     "LibTorch), median of N runs each. --studio: also the studio from launch to its first rendered "
                     "frame at 1024x700 (needs a display), against DIR/microstudio of an older build with --before.");
    declared.integer("repeats", "N", "runs of each command; the median is shown").range(1, 1000).def(10);
    declared.flag("studio", "also time the studio's start to its first frame");
    declared.text("before", "DIR", "a folder holding an older build's microstudio, timed beside this one");
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const int repeats = int(parsed->integer("repeats"));
    const fs::path before = parsed->value("before", "");
    if (!before.empty() && !parsed->flag("studio")) throw UsageError("--before goes with --studio");
    if (!before.empty() && !fs::exists(before / "microstudio"))
        throw Error((before / "microstudio").string() + ": no such file");
    const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
    const fs::path cli = bin / "microstudio-cli", worker = bin / "microstudio-ml";
    const bool haveWorker = fs::exists(worker);
    const TemporaryDirectory files("ms-bench-startup");  // removed however the run ends
    const fs::path& temp = files.path();
    SyntheticOptions o;
    o.seed = 1;
    io::writeVolume(syntheticMicrostructure(Dims{512, 128, 1}, o), temp / "small.vti");
    const std::string file = (temp / "small.vti").string();
    std::printf("bench startup: median of %d runs, load %s (1, 5, 15-minute averages)\n", repeats,
                machineLoad().c_str());
    std::printf("%-26s %16s %16s %8s\n", "command", "microstudio-cli", "microstudio-ml", "ratio");
    for (const std::vector<std::string>& command :
         {std::vector<std::string>{"--help"}, {"info", file}, {"describe", file}}) {
        std::string label;
        for (const auto& w : command)
            label += (label.empty() ? "" : " ") + (w == file ? std::string("512x128.vti") : w);
        const double a = medianRunSeconds(cli, command, repeats);
        if (!haveWorker) {
            std::printf("%-26s %14.1f ms %16s\n", label.c_str(), 1e3 * a, "(not built)");
            continue;
        }
        const double b = medianRunSeconds(worker, command, repeats);
        std::printf("%-26s %14.1f ms %13.1f ms %7.1fx\n", label.c_str(), 1e3 * a, 1e3 * b, b / a);
    }
    if (parsed->flag("studio")) benchStudio(bin, before, temp, repeats);
    return 0;
}

}  // namespace ms::cli
