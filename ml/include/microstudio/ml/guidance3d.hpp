#pragma once
// The classifier-free guidance scale of plain sampling, chosen on
// validation: each candidate scale runs evaluateGenerator3d's plain pass on
// the same validation targets (same seed), and the scale whose least R^2
// over the conditions is highest wins (ties: the smaller scale). The model
// records the choice (Generator3dConfig::guidance, training.choices.guidance);
// generate, evaluate and the Design tab use it by default.
//
//   auto choice = ms::ml::chooseGuidance3d(model, validation, {1, 2, 3}, options);
//   ms::ml::recordGuidanceChoice(model, choice);  // then model.save(folder)
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator3d.hpp"

namespace ms::ml {

struct GuidanceCandidate {
    double guidance = 1.0;
    NamedValues r2, determination, mae;  // plain pass, per condition
    double leastR2 = 0.0;                // the criterion
};

struct GuidanceChoice {
    std::vector<GuidanceCandidate> candidates;  // in the order given
    double chosen = 1.0;
    std::size_t targets = 0;
    std::string data;               // the validation file (options.data)
    std::string criterion() const;  // one line: scale, criterion, every candidate's figure
    // Every candidate a row: scale, least R^2, then R^2 / R^2 det. per
    // condition (`evaluate --choose-guidance` prints it).
    std::string table() const;
};

// ms::Error (one line) unless every held-out sample belongs to the
// validation split (sampleSplit "val"), or with no candidate / a negative
// one. `options`: the sampler (steps, seed, batch) of every pass; its
// guidance, candidates and optional parts are replaced (plain pass only).
GuidanceChoice chooseGuidance3d(const Generator3D& model, const std::vector<Volume>& validation,
                                const std::vector<double>& candidates, Evaluation3dOptions options,
                                ProgressToken* progress = nullptr);

// Sets the model's guidance and writes choice.criterion() to
// metadata().training["choices"]["guidance"].
void recordGuidanceChoice(Generator3D& model, const GuidanceChoice& choice);

}  // namespace ms::ml
