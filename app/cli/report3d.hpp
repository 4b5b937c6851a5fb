#pragma once
// The command-line side that `evaluate`, `generate` and `bench ml3d` share:
// their sampler options (declared once), the text reports of the results of
// ml/evaluate3d.hpp, and the files `generate` writes. Parsing, printing and
// writing only; the work is done in ms::ml.
#include <filesystem>
#include <string>
#include <vector>

#include "args.hpp"
#include "options.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator3d.hpp"

namespace ms::cli::report3d {

// The shipped 2-phase model, used where --model is not given.
constexpr const char* kShippedGenerator = "gen3d-ch2";
// The model --model names, else the shipped one (a one-line ms::Error saying
// where it was expected when it is not installed).
ml::Generator3D loadGenerator(const Args& args);

// --sampler, --steps (`ddimSteps`: its default for ddim), --eta, --guidance,
// --seed, --ddpm-variance, --batch, --candidates and --tolerance (their help
// given: they mean per target in evaluate, per sample in generate), under
// the heading "Sampler:".
void declareSampler(Options& o, int ddimSteps, const std::string& candidatesHelp, const std::string& toleranceHelp);
// Their values, checked by the declarations above.
// --guidance defaults to the model's own (Generator3dConfig::guidance).
ml::GenerateOptions samplerSettings(const Args& args, int ddimSteps, double modelGuidance);

// --batch-sizes L: comma-separated batch sizes in 1..1024 (UsageError naming
// the option otherwise); `declare` adds the option with that rule.
std::vector<int> batchSizes(const std::string& text);
void declareBatchSizes(Options& o, const std::string& help, const std::string& defaultValue);

// `generate --info`: sizes, parameter counts, the outputs' ranges, the feasibility cloud.
void printModel(const ml::Generator3D& model);
// `generate`: up to three targets outside the training data (each with the
// nearest feasible target) on stderr, and how many lie outside.
void printFeasibility(const ml::TargetFeasibility& feasibility, std::size_t targets);
// `generate`: the volumes to OUT (.h5: all in one; else one file, or
// OUT_000000.vti ... for several) and OUT.csv beside it; then what was
// written and sample 0's targets, measured and predicted values.
void writeGenerated(const std::vector<Volume>& volumes, const ml::Generator3D& model, const std::filesystem::path& out);

}  // namespace ms::cli::report3d
