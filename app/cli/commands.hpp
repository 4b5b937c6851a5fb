#pragma once
// Every sub-command of microstudio-cli: a name, a one-line summary and an
// entry point taking the arguments after the sub-command name. Each lives in
// its own cmd_<name>.cpp; add it to commandTable() in main.cpp. A command
// declares its options once (Options, options.hpp: help, checks, parsing) and
// throws UsageError (args.hpp, exit status 2) for a command line it cannot run.
#include <string>
#include <vector>

namespace ms::cli {

using CommandArgs = std::vector<std::string>;

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const CommandArgs& args);
};

int cmdInfo(const CommandArgs& args);
int cmdConvert(const CommandArgs& args);
int cmdDemo(const CommandArgs& args);
int cmdBench(const CommandArgs& args);
int cmdSimulate(const CommandArgs& args);  // cmd_simulate.cpp
int cmdDataset(const CommandArgs& args);   // cmd_dataset.cpp
int cmdDescribe(const CommandArgs& args);
int cmdNoise(const CommandArgs& args);     // cmd_noise.cpp
int cmdTrain(const CommandArgs& args);     // cmd_train.cpp (ml)
int cmdModels(const CommandArgs& args);    // cmd_models.cpp (ml)
int cmdDenoise(const CommandArgs& args);   // cmd_denoise.cpp (ml)
int cmdSample2d(const CommandArgs& args);  // cmd_sample2d.cpp (ml)
int cmdGenerate(const CommandArgs& args);  // cmd_generate.cpp (ml, 3D generator)
int cmdEvaluate(const CommandArgs& args);  // cmd_evaluate.cpp (ml, 3D generator on held-out data)
int cmdTrain3d(const CommandArgs& args);   // cmd_train3d.cpp (ml, 3D generator)
int cmdServe(const CommandArgs& args);     // cmd_serve.cpp (ml, the studio's worker loop)

// Benchmarks, listed in cmd_bench.cpp.
int benchMl(const CommandArgs& args);           // cmd_train.cpp
int benchMl3d(const CommandArgs& args);         // cmd_bench_ml3d.cpp
int benchSimulate(const CommandArgs& args);     // cmd_simulate.cpp
int benchDescriptors(const CommandArgs& args);  // cmd_bench_descriptors.cpp
int benchNoise(const CommandArgs& args);        // cmd_bench_noise.cpp
int benchStartup(const CommandArgs& args);      // cmd_bench_startup.cpp

}  // namespace ms::cli
