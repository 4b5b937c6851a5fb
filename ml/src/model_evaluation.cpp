#include "microstudio/ml/model_evaluation.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/ml/json.hpp"

namespace fs = std::filesystem;

namespace ms::ml {

namespace {

std::map<std::string, double> finiteNumbers(const Json& object) {
    std::map<std::string, double> out;
    if (!object.isObject()) return out;
    for (const auto& [name, value] : object.members())
        if (value.isNumber() && std::isfinite(value.number())) out[name] = value.number();
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
    std::ifstream in(path);
    if (!in) return e;
    std::stringstream text;
    text << in.rdbuf();
    Json json;
    try {
        json = Json::parse(text.str());
    } catch (const std::exception& error) {
        throw Error(path.string() + ": not an evaluation file (" + error.what() + ")");
    }
    if (!json.isObject()) throw Error(path.string() + ": not an evaluation file (no JSON object)");
    e.known = true;
    e.split = json.string("split", "");
    e.data = json.string("data", "");
    e.targets = long(json.number("n", 0.0));
    if (json.has("fp_r2")) e.featureR2 = finiteNumbers(json.at("fp_r2"));
    if (json.has("r2")) e.plainR2 = finiteNumbers(json.at("r2"));
    return e;
}

}  // namespace ms::ml
