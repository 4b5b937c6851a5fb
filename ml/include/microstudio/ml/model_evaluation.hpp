#pragma once
// The measured figures shipped beside a model (FOLDER/evaluation.json,
// written by `microstudio-cli evaluate --save`): which split they were read
// on and the feature predictor's R^2 per output, so the studio can say how
// far a predicted processing parameter can be trusted. Torch-free.
#include <filesystem>
#include <map>
#include <string>

namespace ms::ml {

struct ModelEvaluation {
    bool known = false;                       // false: no evaluation.json beside the model
    std::string split;                        // the split the figures were read on ("test")
    std::string data;                         // the held-out file
    long targets = 0;                         // held-out targets measured
    std::map<std::string, double> featureR2;  // feature predictor R^2 per output (phi, chi, log_time, ...)
    std::map<std::string, double> plainR2;    // plain sampling R^2 per condition
};

// Below this R^2 a predicted quantity carries too little information to show as a value.
constexpr double kMeaningfulR2 = 0.5;

// The evaluation file of a model folder or of either file in it.
std::filesystem::path evaluationPath(const std::filesystem::path& modelFolderOrFile);

// Reads evaluationPath(model); known == false when it does not exist.
// Throws ms::Error naming the file when it exists but cannot be parsed.
ModelEvaluation readModelEvaluation(const std::filesystem::path& modelFolderOrFile);

}  // namespace ms::ml
