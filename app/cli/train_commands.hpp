#pragma once
// The pieces of `train` and `train3d` that span their cmd_train*.cpp files:
// the options every 2D training takes, the progress display, and the runs
// the plain commands and their recipes share. The runs themselves (steps,
// defaults, skip rules, outputs) are ml's (ml/training_runs.hpp).
#ifdef MICROSTUDIO_HAVE_ML
#include <functional>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/ml/training_runs.hpp"

namespace ms::cli {

// cmd_train_common.cpp: the options of every training, 2D and 3D (--epochs,
// --batch, --seed, checkpoints, early stopping, threads, --bf16, --limit and
// --val-limit), and the ml::TrainOptions they give (with the data-parallel ones).
void declareSchedule(Options& declared, int defaultEpochs, const std::string& epochsHelp = "epochs");
ml::TrainOptions scheduleFromArgs(const Args& args);
// --bf16 (TrainOptions::bf16), worded once for every training and recipe.
OptionRef bf16Option(Options& declared);
// A 2D training's: the schedule, --lr, --checkpoint FILE, and with
// `distributed` the data-parallel options, under their own headings.
void declareTrainOptions(Options& declared, int defaultEpochs, bool distributed = true);
// --world-size, --rank, --master, --dist-timeout, and the options they give.
void declareDistributedOptions(Options& declared);
ml::DistributedOptions distributedFromArgs(const Args& args);
// A comma-separated list of positive integers (--channels 16,32,64).
OptionRef intListOption(Options& declared, const std::string& name, const std::string& help);
// Its value, or an empty list when not given.
std::vector<int> intListOrEmpty(const Args& args, const std::string& name);
// --diffusion-augment K, --features-augment K: 1 to 8 x/y symmetry variants
// (the library's words); not given: the model's.
OptionRef symmetryVariantsOption(Options& declared, const std::string& name, const std::string& help);
// The declared training options; the checkpoint defaults to OUT.ckpt.
ml::TrainOptions trainOptionsFromArgs(const Args& args, const std::filesystem::path& out);
// Runs `train` with a progress bar on `options`; Ctrl-C writes the checkpoint
// (named in a note) and propagates ms::Cancelled.
void withProgress(const std::string& label, ml::TrainOptions& options, const std::function<void()>& train);
// The epochs table and the run's summary line, each line after `prefix`.
void printReport(const ml::TrainReport& report, const std::string& prefix = "");
// Loads, trains under a progress bar, prints and saves (ml::saveTrainedRun).
int runVae2d(const ml::Vae2dRun& run);
int runLdm2d(ml::Ldm2dRun run);

int trainStudy(const CommandArgs& args);   // cmd_train_recipe.cpp
int trainRecipe(const CommandArgs& args);  // cmd_train_recipe.cpp

// cmd_train_common.cpp: opens (or creates) the model, applies the run's
// choices, trains the plan's stages with a progress bar each.
int runTrain3d(ml::Generator3dRun run);
int trainRecipe3d(const CommandArgs& args);  // cmd_train3d_recipe.cpp

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
