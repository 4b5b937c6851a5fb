#include "microstudio/ml/model_evaluation.hpp"

#include <cmath>

#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"

namespace fs = std::filesystem;

namespace ms::ml {

namespace {

std::map<std::string, double> finiteNumbers(const Json& object) {
    std::map<std::string, double> out;
    if (!object.is_object()) return out;
    for (const auto& [name, value] : object.items())
        if (value.is_number() && std::isfinite(asNumber(value))) out[name] = asNumber(value);
    return out;
}

}  // namespace

fs::path evaluationPath(const fs::path& model) {
    const fs::path folder = fs::is_directory(model) ? model : model.parent_path();
    return folder / "evaluation.json";
}

ModelEvaluation readModelEvaluation(const fs::path& model) {
    ModelEvaluation e;
    const fs::path path = evaluationPath(model);
    if (!fs::exists(path)) return e;  // not evaluated yet
    const Json json = readJsonFile(path);
    if (!json.is_object()) throw Error(path.string() + ": not an evaluation file (no JSON object)");
    e.known = true;
    e.split = stringOr(json, "split", "");
    e.data = stringOr(json, "data", "");
    e.targets = long(numberOr(json, "n", 0.0));
    if (json.contains("fp_r2")) e.featureR2 = finiteNumbers(memberAt(json, "fp_r2"));
    if (json.contains("r2")) e.plainR2 = finiteNumbers(memberAt(json, "r2"));
    return e;
}

}  // namespace ms::ml
