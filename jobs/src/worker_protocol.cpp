#include "microstudio/jobs/worker_protocol.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "microstudio/core/error.hpp"
#include "microstudio/io/io.hpp"

namespace ms::jobs {

namespace {

[[noreturn]] void refuse(const std::string& what) { throw Error("worker message: " + what); }

// A whole number in [lo, hi] at `key` (the protocol's ids, counts and steps).
std::int64_t wholeAt(const Json& object, const std::string& key, std::int64_t lo, std::int64_t hi) {
    const auto it = object.find(key);
    if (it == object.end()) refuse("no '" + key + "'");
    if (!it->is_number_integer()) refuse("'" + key + "' must be an integer");
    const auto value = it->get<std::int64_t>();
    if (value < lo || value > hi)
        refuse("'" + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], not " +
               std::to_string(value));
    return value;
}

double finiteAt(const Json& object, const std::string& key, double lo, double hi) {
    const auto it = object.find(key);
    if (it == object.end()) refuse("no '" + key + "'");
    if (!it->is_number()) refuse("'" + key + "' must be a number");
    const double value = it->get<double>();
    if (!std::isfinite(value) || value < lo || value > hi) refuse("'" + key + "' out of range");
    return value;
}

std::string textAt(const Json& object, const std::string& key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_string()) refuse("'" + key + "' must be a string");
    return it->get<std::string>();
}

bool flagAt(const Json& object, const std::string& key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_boolean()) refuse("'" + key + "' must be true or false");
    return it->get<bool>();
}

std::vector<std::map<std::string, double>> targetsAt(const Json& object) {
    const auto it = object.find("targets");
    if (it == object.end() || !it->is_array() || it->empty()) refuse("'targets' must be a non-empty array");
    std::vector<std::map<std::string, double>> targets;
    for (const auto& item : *it) {
        if (!item.is_object()) refuse("each target must be an object of condition values");
        auto& target = targets.emplace_back();
        for (const auto& [name, value] : item.items()) {
            if (!value.is_number() || !std::isfinite(value.get<double>()))
                refuse("target '" + name + "' must be a finite number");
            target[name] = value.get<double>();
        }
    }
    return targets;
}

}  // namespace

Json parseWorkerLine(const std::string& line) {
    Json message;
    try {
        message = Json::parse(line);
    } catch (const Json::parse_error& e) {
        refuse("not JSON at byte " + std::to_string(e.byte) + " of '" + line.substr(0, 60) + "'");
    }
    if (!message.is_object()) refuse("not a JSON object: '" + line.substr(0, 60) + "'");
    const bool isOp = message.contains("op"), isEvent = message.contains("event");
    if (isOp == isEvent) refuse("needs exactly one of 'op' and 'event'");
    const std::string kind = textAt(message, isOp ? "op" : "event");
    if (kind != "ready" && kind != "shutdown" && !(isEvent && kind == "error"))
        wholeAt(message, "id", 1, std::int64_t(1) << 53);
    if (message.contains("id") && !message["id"].is_number_integer()) refuse("'id' must be an integer");
    return message;
}

std::string workerLine(const Json& message) { return message.dump() + "\n"; }  // dump escapes newlines

std::int64_t messageId(const Json& message) {
    const auto it = message.find("id");
    return it != message.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

Json cancelMessage(std::int64_t id) { return {{"op", "cancel"}, {"id", id}}; }
Json pauseMessage(std::int64_t id) { return {{"op", "pause"}, {"id", id}}; }
Json resumeMessage(std::int64_t id) { return {{"op", "resume"}, {"id", id}}; }
Json shutdownMessage() { return {{"op", "shutdown"}}; }

Json requestMessage(std::int64_t id, const Generate3dRequest& r) {
    Json targets = Json::array();
    for (const auto& target : r.targets) targets.push_back(Json(target));
    return {{"op", "generate3d"},
            {"id", id},
            {"model", r.model},
            {"targets", targets},
            {"sampler", r.sampler},
            {"steps", r.steps},
            {"guidance", r.guidance},
            {"seed", r.seed},
            {"candidates", r.candidates},
            {"tolerance", r.tolerance},
            {"size", r.size == Dims{0, 0, 0} ? std::string() : r.size.str()},
            {"describe", r.describe},
            {"previews", r.previews},
            {"out_dir", r.outDir}};
}

Generate3dRequest generate3dRequestFrom(const Json& m) {
    static const std::set<std::string> known{"op",    "id",       "model",    "targets",    "sampler",
                                             "steps", "guidance", "seed",     "candidates", "tolerance",
                                             "size",  "describe", "previews", "out_dir"};
    for (const auto& [key, value] : m.items())
        if (!known.count(key)) refuse("generate3d has no field '" + key + "'");
    Generate3dRequest r;
    r.model = textAt(m, "model");
    r.targets = targetsAt(m);
    r.sampler = textAt(m, "sampler");
    r.steps = int(wholeAt(m, "steps", 0, 100000));
    r.guidance = finiteAt(m, "guidance", 0.0, 100.0);
    r.seed = std::uint64_t(wholeAt(m, "seed", 0, std::int64_t(1) << 53));
    r.candidates = int(wholeAt(m, "candidates", 1, 1000));
    r.tolerance = finiteAt(m, "tolerance", 0.0, 1e6);
    const std::string size = textAt(m, "size");
    if (!size.empty()) r.size = parseDims(size);
    r.describe = flagAt(m, "describe");
    r.previews = flagAt(m, "previews");
    r.outDir = textAt(m, "out_dir");
    if (r.model.empty() || r.outDir.empty()) refuse("generate3d needs a 'model' and an 'out_dir'");
    return r;
}

Json requestMessage(std::int64_t id, const Evaluate3dRequest& r) {
    return {{"op", "evaluate3d"},     {"id", id},
            {"model", r.model},       {"data", r.data},
            {"count", r.count},       {"min_phase_fraction", r.minPhaseFraction},
            {"training", r.training}, {"training_count", r.trainingCount},
            {"sampler", r.sampler},   {"steps", r.steps},
            {"guidance", r.guidance}, {"seed", r.seed}};
}

Evaluate3dRequest evaluate3dRequestFrom(const Json& m) {
    static const std::set<std::string> known{
        "op",      "id",    "model",    "data", "count", "min_phase_fraction", "training", "training_count",
        "sampler", "steps", "guidance", "seed"};
    for (const auto& [key, value] : m.items())
        if (!known.count(key)) refuse("evaluate3d has no field '" + key + "'");
    Evaluate3dRequest r;
    r.model = textAt(m, "model");
    r.data = textAt(m, "data");
    r.count = std::size_t(wholeAt(m, "count", 1, 1000000));
    r.minPhaseFraction = finiteAt(m, "min_phase_fraction", 0.0, 0.4999);
    r.training = textAt(m, "training");
    r.trainingCount = std::size_t(wholeAt(m, "training_count", 1, 10000000));
    r.sampler = textAt(m, "sampler");
    r.steps = int(wholeAt(m, "steps", 0, 100000));
    r.guidance = finiteAt(m, "guidance", 0.0, 100.0);
    r.seed = std::uint64_t(wholeAt(m, "seed", 0, std::int64_t(1) << 53));
    if (r.model.empty() || r.data.empty()) refuse("evaluate3d needs a 'model' and held-out 'data'");
    return r;
}

Json requestMessage(std::int64_t id, const TrainRequest& r) {
    return {{"op", "train"}, {"id", id}, {"kind", r.kind}, {"resume", r.resume}, {"settings", r.settings}};
}

TrainRequest trainRequestFrom(const Json& m) {
    static const std::set<std::string> known{"op", "id", "kind", "resume", "settings"};
    for (const auto& [key, value] : m.items())
        if (!known.count(key)) refuse("train has no field '" + key + "'");
    TrainRequest r;
    r.kind = textAt(m, "kind");
    r.resume = flagAt(m, "resume");
    const auto settings = m.find("settings");
    if (settings == m.end() || !settings->is_object()) refuse("train needs 'settings', a JSON object");
    r.settings = *settings;
    return r;
}

Json requestMessage(std::int64_t id, const DenoiseRequest& r) {
    return {{"op", "denoise"}, {"id", id}, {"model", r.model}, {"input", r.input}, {"output", r.output}};
}

DenoiseRequest denoiseRequestFrom(const Json& m) {
    static const std::set<std::string> known{"op", "id", "model", "input", "output"};
    for (const auto& [key, value] : m.items())
        if (!known.count(key)) refuse("denoise has no field '" + key + "'");
    DenoiseRequest r{textAt(m, "model"), textAt(m, "input"), textAt(m, "output")};
    if (r.model.empty() || r.input.empty() || r.output.empty()) refuse("denoise needs a 'model', 'input' and 'output'");
    return r;
}

Json denoisedEvent(std::int64_t id, const std::string& file) { return {{"event", "done"}, {"id", id}, {"file", file}}; }

Json readyEvent() { return {{"event", "ready"}, {"protocol", kWorkerProtocolVersion}}; }

Json progressEvent(std::int64_t id, double fraction, const std::string& message) {
    return {{"event", "progress"}, {"id", id}, {"fraction", fraction}, {"message", message}};
}

Json sampleEvent(std::int64_t id, std::size_t index, const std::string& file) {
    return {{"event", "sample"}, {"id", id}, {"index", index}, {"file", file}};
}

Json previewEvent(std::int64_t id, std::size_t index, int step, int steps, const std::string& file) {
    return {{"event", "preview"}, {"id", id}, {"index", index}, {"step", step}, {"steps", steps}, {"file", file}};
}

Json doneEvent(std::int64_t id, std::size_t samples) { return {{"event", "done"}, {"id", id}, {"samples", samples}}; }

Json reportEvent(std::int64_t id, const Json& report) { return {{"event", "done"}, {"id", id}, {"report", report}}; }

Json stageEvent(std::int64_t id, int index, int count, const std::string& name) {
    return {{"event", "stage"}, {"id", id}, {"index", index}, {"count", count}, {"name", name}};
}

Json stepEvent(std::int64_t id, const TrainStep& s) {
    return {{"event", "step"},
            {"id", id},
            {"epoch", s.epoch},
            {"epochs", s.epochs},
            {"step", s.step},
            {"total_steps", s.totalSteps},
            {"train_loss", s.trainLoss},
            {"eta_seconds", s.etaSeconds},
            {"curve", s.curve},
            {"paused", s.paused}};
}

TrainStep trainStepFrom(const Json& e) {
    TrainStep s;
    s.epoch = int(wholeAt(e, "epoch", 0, 1 << 30));
    s.epochs = int(wholeAt(e, "epochs", 0, 1 << 30));
    s.step = long(wholeAt(e, "step", 0, std::int64_t(1) << 53));
    s.totalSteps = long(wholeAt(e, "total_steps", 0, std::int64_t(1) << 53));
    s.trainLoss = finiteAt(e, "train_loss", -1e300, 1e300);
    s.etaSeconds = finiteAt(e, "eta_seconds", 0.0, 1e300);
    s.curve = flagAt(e, "curve");
    s.paused = flagAt(e, "paused");
    return s;
}

Json epochEvent(std::int64_t id, int epoch, double trainLoss, double validationLoss) {
    const auto number = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
    return {{"event", "epoch"},
            {"id", id},
            {"epoch", epoch},
            {"train_loss", number(trainLoss)},
            {"validation_loss", number(validationLoss)}};
}

Json trainedEvent(std::int64_t id, const std::string& model) {
    return {{"event", "done"}, {"id", id}, {"model", model}};
}

Json errorEvent(std::int64_t id, const std::string& message, bool cancelled) {
    return {{"event", "error"}, {"id", id}, {"message", message}, {"cancelled", cancelled}};
}

std::string sampleFile(const std::string& outDir, std::size_t index) {
    char name[32];
    std::snprintf(name, sizeof name, "sample-%05zu.h5", index);
    return (std::filesystem::path(outDir) / name).string();
}

std::string previewFile(const std::string& outDir, std::size_t index, int step) {
    char name[40];
    std::snprintf(name, sizeof name, "preview-%05zu-%04d.h5", index, step);
    return (std::filesystem::path(outDir) / name).string();
}

Volume readGeneratedVolume(const std::string& file) {
    Volume v = io::readVolume(file);
    v.text.erase("sample");
    v.text["source"] = "generator3d";
    return v;
}

}  // namespace ms::jobs
