// The studio's training settings as data and JSON (studio_training.hpp).
#include "microstudio/ml/studio_training.hpp"

#include "microstudio/core/error.hpp"

namespace ms::ml {

namespace fs = std::filesystem;

std::string studioTrainingKindName(StudioTrainingKind kind) {
    switch (kind) {
        case StudioTrainingKind::Vae2d:
            return "vae2d";
        case StudioTrainingKind::Ldm2d:
            return "ldm2d";
        case StudioTrainingKind::Generator3d:
            return "generator3d";
    }
    return {};
}

StudioTrainingKind parseStudioTrainingKind(const std::string& name) {
    for (auto kind : {StudioTrainingKind::Vae2d, StudioTrainingKind::Ldm2d, StudioTrainingKind::Generator3d})
        if (studioTrainingKindName(kind) == name) return kind;
    throw Error("training kind must be vae2d, ldm2d or generator3d, not '" + name + "'");
}

std::vector<std::string> studioStages(StudioTrainingKind kind) {
    switch (kind) {
        case StudioTrainingKind::Vae2d:
            return {"vae"};
        case StudioTrainingKind::Ldm2d:
            return {"ldm"};
        case StudioTrainingKind::Generator3d:
            return {"vae", "features", "diffusion"};
    }
    return {};
}

namespace {

// Every field with its JSON name, once: toJson writes through it and
// studioTrainingSettingsFromJson reads through it.
template <class Settings, class Visit>
void eachField(Settings& s, Visit&& visit) {
    visit("train", s.train);
    visit("validation", s.validation);
    visit("limit", s.limit);
    visit("name", s.name);
    visit("out_dir", s.outDir);
    visit("checkpoint_dir", s.checkpointDir);
    visit("epochs", s.epochs);
    visit("batch", s.batch);
    visit("learning_rate", s.learningRate);
    visit("seed", s.seed);
    visit("threads", s.threads);
    visit("latent", s.latent);
    visit("hidden", s.hidden);
    visit("channels", s.channels);
    visit("beta", s.beta);
    visit("vae", s.vae);
    visit("ldm_hidden", s.ldmHidden);
    visit("ldm_blocks", s.ldmBlocks);
    visit("diffusion_steps", s.diffusionSteps);
    visit("conditions", s.conditions);
    visit("channels3d", s.channels3d);
    visit("latent_channels", s.latentChannels);
    visit("unet_features", s.unetFeatures);
}

Json asJson(const fs::path& path) { return path.string(); }
template <class T>
Json asJson(const T& value) {
    return value;
}

void read(const Json& json, fs::path& path) { path = json.get<std::string>(); }
template <class T>
void read(const Json& json, T& value) {
    value = json.get<T>();
}

// `value` has the JSON type of the field's default (integers for integers).
void checkField(const std::string& key, const Json& value, const Json& fallback) {
    const std::string where = "training settings: '" + key + "' must be ";
    if (fallback.is_number_integer() && !value.is_number_integer()) throw Error(where + "an integer");
    if (fallback.is_number() && !value.is_number()) throw Error(where + "a number");
    if (fallback.is_string() && !value.is_string()) throw Error(where + "a string");
    if (fallback.is_array()) {
        if (!value.is_array()) throw Error(where + "a list of integers");
        for (const auto& item : value)
            if (!item.is_number_integer()) throw Error(where + "a list of integers");
    }
}

}  // namespace

Json toJson(const StudioTrainingSettings& s) {
    Json json = Json::object();
    eachField(s, [&json](const char* key, const auto& value) { json[key] = asJson(value); });
    return json;
}

StudioTrainingSettings studioTrainingSettingsFromJson(const Json& json) {
    if (!json.is_object()) throw Error("training settings: not a JSON object");
    Json merged = toJson(StudioTrainingSettings{});
    for (const auto& [key, value] : json.items()) {
        const auto fallback = merged.find(key);
        if (fallback == merged.end()) throw Error("training settings: unknown field '" + key + "'");
        checkField(key, value, *fallback);
    }
    merged.update(json);
    StudioTrainingSettings s;
    eachField(s, [&merged](const char* key, auto& value) { read(merged[key], value); });
    return s;
}

fs::path studioCheckpointPath(const fs::path& checkpointDir, const std::string& name, const std::string& stage) {
    return checkpointDir / (name + "-" + stage + ".ckpt");
}

fs::path studioModelPath(StudioTrainingKind kind, const StudioTrainingSettings& s) {
    return kind == StudioTrainingKind::Generator3d ? s.outDir / s.name : s.outDir / (s.name + ".pt");
}

}  // namespace ms::ml
