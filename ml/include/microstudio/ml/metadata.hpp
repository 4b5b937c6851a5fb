#pragma once
// Metadata saved beside every model's weights (NAME.pt + NAME.json): what
// the architecture is, which attributes condition it and how they are
// normalised, a hash of the training data and the training figures. The
// `models` command lists these; loaders rebuild the network from them.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/core/json.hpp"

namespace ms::ml {

constexpr int kMetadataVersion = 1;

struct ModelMetadata {
    std::string name;                     // file stem, e.g. "denoise-vae2d"
    std::string kind;                     // "vae2d", "ldm2d"
    std::string description;              // one line
    Json architecture;                    // the model config (kind-specific fields)
    std::vector<std::string> attributes;  // condition names, in input order
    std::vector<double> attributeMean;    // normalisation: (value - mean) / std
    std::vector<double> attributeStd;
    std::string dataHash;                      // hashVolumes() of the training samples
    Json training;                             // options and figures (epochs, losses, seconds, device)
    std::string created;                       // UTC ISO 8601
    std::string weightsFile;                   // file name of the weights, beside the .json
    std::string weightsPrecision = "float32";  // or "float16"

    Json toJson() const;
    static ModelMetadata fromJson(const Json& json);
};

// NAME.json beside NAME.pt.
std::filesystem::path metadataPathFor(const std::filesystem::path& weights);
void writeMetadata(const ModelMetadata& metadata, const std::filesystem::path& weights);
ModelMetadata readMetadata(const std::filesystem::path& weights);
// The same, and throws ms::Error ("PATH: a 'ldm2d' model, not a 2D VAE
// (vae2d)") unless the metadata's kind is `kind`.
ModelMetadata readMetadata(const std::filesystem::path& weights, const std::string& kind, const std::string& what);

// FNV-1a 64 over dims and labels of every sample, as 16 hex digits.
std::string hashVolumes(const std::vector<Volume>& samples);
// "2026-11-22T01:02:03Z"
std::string utcNow();

// Folders searched for installed models, in order: $MICROSTUDIO_MODELS
// (colon-separated), the source tree's resources/models, the install
// prefix's share/microstudio/models. Only existing folders are returned.
std::vector<std::filesystem::path> modelSearchPath();

struct InstalledModel {
    std::filesystem::path weights;
    ModelMetadata metadata;
    std::uintmax_t bytes = 0;  // weights file size
};
// Every NAME.json with a NAME.pt beside it in the search path (or `folder`),
// and every generator folder NAME/generator3d.{json,pt} (3D generators).
// A model's architecture in one readable line: "key value" pairs, nested
// objects in parentheses, arrays of at most maxItems joined by commas and
// longer ones as "[N values]" (a 3D generator's JSON holds thousands).
std::string architectureSummary(const Json& architecture, std::size_t maxItems = 6);

std::vector<InstalledModel> listModels(const std::vector<std::filesystem::path>& folders = modelSearchPath());

// A model file by path (NAME.pt or NAME.json) or by name in the search
// path; throws ms::Error listing the folders searched when not found.
std::filesystem::path findModel(const std::string& nameOrPath);

// The shipped defaults (names in resources/models).
constexpr const char* kDefaultDenoiser = "denoise-vae2d";
constexpr const char* kDefaultLdm2d = "ldm2d";
// The unconditional 2D LDM over the same VAE (what `sample2d --compare` measures as "LDM").
constexpr const char* kDefaultLdm2dUnconditional = "ldm2d-uncond";

}  // namespace ms::ml
