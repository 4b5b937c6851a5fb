// Model metadata beside the weights, the model search path, and the
// torch-free parts of the training options and report.
#include "microstudio/ml/metadata.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/ml/training.hpp"

namespace ms::ml {

Json ModelMetadata::toJson() const {
    Json j = Json::object();
    j["format_version"] = kMetadataVersion;
    j["name"] = name;
    j["kind"] = kind;
    j["description"] = description;
    j["architecture"] = architecture.is_null() ? Json::object() : architecture;
    j["attributes"] = Json(attributes);
    Json norm = Json::object();
    norm["mean"] = Json(attributeMean);
    norm["std"] = Json(attributeStd);
    j["attribute_normalisation"] = norm;
    j["data_hash"] = dataHash;
    j["training"] = training.is_null() ? Json::object() : training;
    j["created"] = created;
    j["weights"] = weightsFile;
    j["weights_precision"] = weightsPrecision;
    return j;
}

ModelMetadata ModelMetadata::fromJson(const Json& j) {
    if (!j.is_object()) throw Error("model metadata: not a JSON object");
    const int version = int(numberOr(j, "format_version", 0));
    if (version < 1 || version > kMetadataVersion)
        throw Error("model metadata: unsupported format_version " + std::to_string(version));
    ModelMetadata m;
    m.name = stringOr(j, "name", "");
    m.kind = stringOr(j, "kind", "");
    if (m.kind.empty()) throw Error("model metadata: missing 'kind'");
    m.description = stringOr(j, "description", "");
    if (j.contains("architecture")) m.architecture = memberAt(j, "architecture");
    if (j.contains("attributes")) m.attributes = stringsAt(j, "attributes");
    if (j.contains("attribute_normalisation")) {
        const Json& n = memberAt(j, "attribute_normalisation");
        if (n.contains("mean")) m.attributeMean = numbersAt(n, "mean");
        if (n.contains("std")) m.attributeStd = numbersAt(n, "std");
    }
    m.dataHash = stringOr(j, "data_hash", "");
    if (j.contains("training")) m.training = memberAt(j, "training");
    m.created = stringOr(j, "created", "");
    m.weightsFile = stringOr(j, "weights", "");
    m.weightsPrecision = stringOr(j, "weights_precision", "float32");
    return m;
}

std::filesystem::path metadataPathFor(const std::filesystem::path& weights) {
    auto p = weights;
    p.replace_extension(".json");
    return p;
}

void writeMetadata(const ModelMetadata& metadata, const std::filesystem::path& weights) {
    writeJsonFile(metadata.toJson(), metadataPathFor(weights).string());
}

ModelMetadata readMetadata(const std::filesystem::path& weights, const std::string& kind, const std::string& what) {
    ModelMetadata metadata = readMetadata(weights);
    if (metadata.kind != kind)
        throw Error(weights.string() + ": a '" + metadata.kind + "' model, not a " + what + " (" + kind + ")");
    return metadata;
}

ModelMetadata readMetadata(const std::filesystem::path& weights) {
    const auto path = metadataPathFor(weights);
    if (!std::filesystem::exists(path)) throw Error("no model metadata " + path.string() + " beside the weights");
    try {
        return ModelMetadata::fromJson(readJsonFile(path.string()));
    } catch (const Error& e) {
        const std::string what = e.what();
        if (what.rfind(path.string(), 0) == 0) throw;
        throw Error(path.string() + ": " + what);
    }
}

std::string hashVolumes(const std::vector<Volume>& samples) {
    std::uint64_t h = 1469598103934665603ULL;
    auto mix = [&h](std::uint8_t byte) {
        h ^= byte;
        h *= 1099511628211ULL;
    };
    auto mixInt = [&](std::uint64_t v) {
        for (int i = 0; i < 8; ++i) mix(std::uint8_t(v >> (8 * i)));
    };
    mixInt(samples.size());
    for (const auto& s : samples) {
        mixInt(std::uint64_t(s.dims().nx));
        mixInt(std::uint64_t(s.dims().ny));
        mixInt(std::uint64_t(s.dims().nz));
        for (auto label : s.labels()) mix(label);
    }
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

std::string utcNow() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::vector<std::filesystem::path> modelSearchPath() {
    std::vector<std::filesystem::path> candidates;
    if (const char* env = std::getenv("MICROSTUDIO_MODELS")) {
        std::stringstream in(env);
        std::string part;
        while (std::getline(in, part, ':'))
            if (!part.empty()) candidates.emplace_back(part);
    }
    // Installed: PREFIX/bin/microstudio-* -> PREFIX/share/microstudio/models,
    // wherever the prefix is (a package, a dpkg -x tree, a relocated install).
    std::error_code exeError;
    const auto exe = std::filesystem::canonical("/proc/self/exe", exeError);
    if (!exeError) candidates.push_back(exe.parent_path().parent_path() / "share" / "microstudio" / "models");
#ifdef MICROSTUDIO_MODELS_SOURCE_DIR
    candidates.emplace_back(MICROSTUDIO_MODELS_SOURCE_DIR);  // a build tree's own source
#endif
#ifdef MICROSTUDIO_MODELS_INSTALL_DIR
    candidates.emplace_back(MICROSTUDIO_MODELS_INSTALL_DIR);
#endif
    std::vector<std::filesystem::path> folders;
    std::error_code ec;
    for (const auto& c : candidates)
        if (std::filesystem::is_directory(c, ec)) folders.push_back(c);
    return folders;
}

std::vector<InstalledModel> listModels(const std::vector<std::filesystem::path>& folders) {
    std::vector<InstalledModel> models;
    for (const auto& folder : folders) {
        std::error_code ec;
        std::vector<std::filesystem::path> jsons;
        for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
            if (entry.path().extension() == ".json") jsons.push_back(entry.path());
            // 3D generators are folders: NAME/generator3d.json beside NAME/generator3d.pt.
            else if (entry.is_directory(ec) && std::filesystem::exists(entry.path() / "generator3d.json", ec))
                jsons.push_back(entry.path() / "generator3d.json");
        }
        std::sort(jsons.begin(), jsons.end());
        for (const auto& json : jsons) {
            auto weights = json;
            weights.replace_extension(".pt");
            if (!std::filesystem::exists(weights)) continue;
            InstalledModel m;
            m.weights = weights;
            m.metadata = readMetadata(weights);
            // A generator folder without a name of its own (create()'s default) is named by the folder.
            if (json.filename() == "generator3d.json" && (m.metadata.name.empty() || m.metadata.name == "generator3d"))
                m.metadata.name = json.parent_path().filename().string();
            m.bytes = std::filesystem::file_size(weights, ec);
            models.push_back(std::move(m));
        }
    }
    return models;
}

std::filesystem::path findModel(const std::string& nameOrPath) {
    std::filesystem::path p(nameOrPath);
    if (p.extension() == ".json") p.replace_extension(".pt");
    if (std::filesystem::exists(p) && p.extension() == ".pt") return p;
    std::string searched;
    for (const auto& folder : modelSearchPath()) {
        auto candidate = folder / (p.stem().string() + ".pt");
        if (std::filesystem::exists(candidate)) return candidate;
        searched += (searched.empty() ? "" : ", ") + folder.string();
    }
    throw Error("model '" + nameOrPath + "' not found (searched: " +
                (searched.empty() ? "no model folders" : searched) + "; set MICROSTUDIO_MODELS or pass a .pt path)");
}

Json TrainOptions::toJson() const {
    Json j = Json::object();
    j["epochs"] = epochs;
    j["batch_size"] = batchSize;
    j["learning_rate"] = learningRate;
    j["seed"] = double(seed);
    j["patience"] = patience;
    j["min_delta"] = minDelta;
    j["checkpoint_every"] = checkpointEvery;
    if (emaDecay > 0) j["ema_decay"] = emaDecay;
    if (bf16) j["precision"] = "bf16 autocast";
    return j;
}

Json TrainReport::toJson() const {
    Json j = Json::object();
    j["steps"] = steps;
    j["epochs_done"] = epochsDone;
    j["early_stopped"] = earlyStopped;
    j["best_epoch"] = bestEpoch;
    j["best_validation_loss"] = bestValidationLoss;
    j["seconds_last_run"] = seconds;
    j["seconds_per_step"] = secondsPerStep;
    j["device"] = device;
    std::vector<double> trainLoss, valLoss;
    for (const auto& e : history) {
        trainLoss.push_back(e.trainLoss);
        valLoss.push_back(e.validationLoss);
    }
    j["train_loss"] = Json(trainLoss);
    j["validation_loss"] = Json(valLoss);
    return j;
}

std::string TrainReport::historyCsv() const {
    std::string out = "epoch,train_loss,validation_loss,seconds\n";
    char line[160];
    for (const auto& e : history) {
        std::snprintf(line, sizeof line, "%d,%.9g,%.9g,%.3f\n", e.epoch + 1, e.trainLoss, e.validationLoss, e.seconds);
        out += line;
    }
    return out;
}

namespace {

std::string scalarText(const Json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_float()) {
        char text[32];
        std::snprintf(text, sizeof text, "%.4g", value.get<double>());
        return text;
    }
    return jsonText(value, -1);
}

}  // namespace

std::string architectureSummary(const Json& value, std::size_t maxItems) {
    if (value.is_object()) {
        std::string out;
        for (const auto& [key, member] : value.items()) {
            if (!out.empty()) out += ", ";
            out += member.is_object() ? key + " (" + architectureSummary(member, maxItems) + ")"
                                      : key + " " + architectureSummary(member, maxItems);
        }
        return out;
    }
    if (value.is_array()) {
        if (value.empty()) return "none";
        if (value.size() > maxItems) return "[" + std::to_string(value.size()) + " values]";
        std::string out;
        for (const auto& item : value) out += (out.empty() ? "" : ",") + architectureSummary(item, maxItems);
        return out;
    }
    return scalarText(value);
}

}  // namespace ms::ml
