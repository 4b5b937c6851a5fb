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

Json toJson(const StudioTrainingSettings& s) {
    return {{"train", s.train.string()},
            {"validation", s.validation.string()},
            {"limit", s.limit},
            {"name", s.name},
            {"out_dir", s.outDir.string()},
            {"checkpoint_dir", s.checkpointDir.string()},
            {"epochs", s.epochs},
            {"batch", s.batch},
            {"learning_rate", s.learningRate},
            {"seed", s.seed},
            {"threads", s.threads},
            {"latent", s.latent},
            {"hidden", s.hidden},
            {"channels", s.channels},
            {"beta", s.beta},
            {"vae", s.vae.string()},
            {"ldm_hidden", s.ldmHidden},
            {"ldm_blocks", s.ldmBlocks},
            {"diffusion_steps", s.diffusionSteps},
            {"conditions", s.conditions},
            {"channels3d", s.channels3d},
            {"latent_channels", s.latentChannels},
            {"unet_features", s.unetFeatures}};
}

namespace {
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
    s.train = merged["train"].get<std::string>();
    s.validation = merged["validation"].get<std::string>();
    s.limit = merged["limit"].get<long>();
    s.name = merged["name"].get<std::string>();
    s.outDir = merged["out_dir"].get<std::string>();
    s.checkpointDir = merged["checkpoint_dir"].get<std::string>();
    s.epochs = merged["epochs"].get<int>();
    s.batch = merged["batch"].get<int>();
    s.learningRate = merged["learning_rate"].get<double>();
    s.seed = merged["seed"].get<std::uint64_t>();
    s.threads = merged["threads"].get<int>();
    s.latent = merged["latent"].get<int>();
    s.hidden = merged["hidden"].get<int>();
    s.channels = merged["channels"].get<std::vector<int>>();
    s.beta = merged["beta"].get<double>();
    s.vae = merged["vae"].get<std::string>();
    s.ldmHidden = merged["ldm_hidden"].get<int>();
    s.ldmBlocks = merged["ldm_blocks"].get<int>();
    s.diffusionSteps = merged["diffusion_steps"].get<int>();
    s.conditions = merged["conditions"].get<std::string>();
    s.channels3d = merged["channels3d"].get<std::vector<int>>();
    s.latentChannels = merged["latent_channels"].get<int>();
    s.unetFeatures = merged["unet_features"].get<int>();
    return s;
}

fs::path studioCheckpointPath(const fs::path& checkpointDir, const std::string& name, const std::string& stage) {
    return checkpointDir / (name + "-" + stage + ".ckpt");
}

fs::path studioModelPath(StudioTrainingKind kind, const StudioTrainingSettings& s) {
    return kind == StudioTrainingKind::Generator3d ? s.outDir / s.name : s.outDir / (s.name + ".pt");
}

}  // namespace ms::ml
