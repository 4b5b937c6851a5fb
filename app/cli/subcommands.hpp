#pragma once
// Sub-commands whose code spans several cmd_*.cpp files: their entry points
// and the helpers the files share.
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/volume.hpp"
#include "options.hpp"

#ifdef MICROSTUDIO_HAVE_NOISE
#include "microstudio/noise/noise.hpp"
#endif

namespace ms::cli {

#ifdef MICROSTUDIO_HAVE_NOISE
int noiseEval(const CommandArgs& args);  // cmd_noise_eval.cpp

// cmd_noise.cpp: the paper's noise parameters as options (bound to `values`,
// or without them a value or LO:HI each), the --type/--types list, `values`
// as a model of one type (validated), and the clean samples of the inputs.
void declareNoiseOptions(Options& declared, noise::NoiseModel* values);
std::vector<noise::NoiseType> parseNoiseTypes(const std::string& text);
noise::NoiseModel ofType(noise::NoiseModel values, noise::NoiseType type);
std::vector<Volume> readCleanInputs(const std::vector<std::string>& inputs);
#endif

#ifdef MICROSTUDIO_HAVE_ML
int benchDist(const CommandArgs& args);  // cmd_bench_dist.cpp
#endif

#ifdef MICROSTUDIO_HAVE_JOBS
int datasetFromVolume(const CommandArgs& args);  // cmd_dataset_volume.cpp
#endif

}  // namespace ms::cli
