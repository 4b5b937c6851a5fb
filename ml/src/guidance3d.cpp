#include "microstudio/ml/guidance3d.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "microstudio/core/error.hpp"

namespace ms::ml {

namespace {
double leastOf(const NamedValues& values) {
    double least = std::numeric_limits<double>::infinity();
    for (const auto& [name, value] : values) least = std::min(least, std::isnan(value) ? -1.0 : value);
    return values.empty() ? -1.0 : least;
}
}  // namespace

std::string GuidanceChoice::criterion() const {
    std::string line = fmt::format(
        "{:g}: the highest least plain-sampling R^2 over the conditions on {} validation "
        "targets of {} (",
        chosen, targets, data.empty() ? std::string("the held-out data") : data);
    for (std::size_t i = 0; i < candidates.size(); ++i)
        line += fmt::format("{}guidance {:g}: {:.3f}", i ? "; " : "", candidates[i].guidance, candidates[i].leastR2);
    return line + ")";
}

std::string GuidanceChoice::table() const {
    if (candidates.empty()) return {};
    std::string text = fmt::format("{:<9} {:<12}", "guidance", "least R^2");
    for (const auto& [name, r2] : candidates.front().r2) text += fmt::format(" {:>14}", name);
    text += "\n";
    for (const auto& c : candidates) {
        text += fmt::format("{:<9g} {:<12.3f}", c.guidance, c.leastR2);
        for (const auto& [name, r2] : c.r2) text += fmt::format(" {:6.3f} / {:5.3f}", r2, c.determination.at(name));
        text += "\n";
    }
    return text;
}

GuidanceChoice chooseGuidance3d(const Generator3D& model, const std::vector<Volume>& validation,
                                const std::vector<double>& candidates, Evaluation3dOptions options,
                                ProgressToken* progress) {
    if (candidates.empty()) throw Error("choosing the guidance needs at least one candidate scale");
    for (double g : candidates)
        if (!(g >= 0 && g <= 100)) throw Error(fmt::format("guidance candidate {:g} is not in [0, 100]", g));
    const std::string split = heldOutSplit(validation);
    if (split != "val")
        throw Error("the guidance is chosen on the validation split only; these samples are split '" + split + "'");
    // Only the plain pass depends on the scale.
    options.candidates = 1;
    options.featurePredictor = false;
    options.reconstruction = false;
    options.generation = true;
    options.diversitySamples = 0;
    options.timingBatchSizes.clear();
    options.compareSteps = -1;
    options.largeSize = Dims{0, 0, 0};
    options.training = nullptr;
    GuidanceChoice choice;
    choice.data = options.data;
    choice.targets = validation.size();
    double best = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        options.sampler.guidance = candidates[i];
        const auto report = evaluateGenerator3d(model, validation, options, progress);
        GuidanceCandidate c{candidates[i], report.plain.r2, report.plain.determination, report.plain.mae,
                            leastOf(report.plain.r2)};
        const bool better = c.leastR2 > best || (c.leastR2 == best && c.guidance < choice.chosen);
        if (better) best = c.leastR2, choice.chosen = c.guidance;
        choice.candidates.push_back(std::move(c));
    }
    return choice;
}

void recordGuidanceChoice(Generator3D& model, const GuidanceChoice& choice) {
    model.setGuidance(choice.chosen);
    auto& training = model.metadata().training;
    if (!training.is_object()) training = Json::object();
    if (!training.contains("choices") || !training["choices"].is_object()) training["choices"] = Json::object();
    training["choices"]["guidance"] = choice.criterion();
}

}  // namespace ms::ml
