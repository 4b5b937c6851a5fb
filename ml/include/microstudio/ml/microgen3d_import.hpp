#pragma once
// MicroGen3D's published weights (vae.pt, fp.pt, ddpm.pt: state dicts saved
// with torch.save) and its YAML config, mapped onto MicroStudio's 3D
// generator, whose networks are the reference's layer for layer
// (docs/ml3d.md, "Importing MicroGen3D weights").
#include <filesystem>
#include <string>
#include <vector>

#include "microstudio/ml/generator3d.hpp"

namespace ms::ml {

struct MicroGen3dImportOptions {
    std::filesystem::path vae, featurePredictor, ddpm, config;
    // 2 or 3 (the reference's config does not say; its volumes are 0/1 or 0/0.5/1).
    int phases = 2;
    std::string name;  // the model's name (default: "microgen3d")
    // Time one 2-step DDIM sample of the imported model and record the
    // estimate for DDIM-50 (metadata training.imported.seconds_per_ddim50_sample,
    // with the thread count): paper-size networks take minutes per sample on
    // a laptop's cores, and the studio says so before a user waits.
    bool measureSampling = true;
};

// What the import found, for the user (CLI and GUI print it).
struct MicroGen3dImportReport {
    std::string vaeLayout;                    // "deconv_layers" or "convs/instnorms/resblocks" decoder keys
    int firstStride = 2;                      // from the config, else from the feature predictor's input size
    std::string firstStrideSource;            // "config" or "weights"
    std::vector<std::string> carriedOutputs;  // feature-predictor outputs that do not condition the DDPM
    std::vector<std::string> rangeSources;    // per output: "config" (inference.random.ranges) or "default"
    long tensors = 0;                         // tensors read from the three files
    double secondsPerDdim50Sample = 0.0;      // measureSampling's estimate (0: not measured)
};

// The parsed subset of MicroGen3D's config.yaml (training/config.yaml or
// inference/config_infer.yaml). ms::Error (one line, naming the file) on a
// missing required key or a value of the wrong kind.
struct MicroGen3dConfig {
    std::vector<int> imageShape;  // [C, D, H, W]; D = z, H = y, W = x
    std::vector<std::string> attributes, contextAttributes;
    int latentChannels = 0, maxChannels = 512, timesteps = 1000, unetFeatures = 512;
    int firstStride = 0;  // 0: not in the config (first_layer_downsample / stride1_first_layer)
    double dropout = 0.1;
    // inference.random.ranges: attribute -> [low, high]
    std::vector<std::pair<std::string, std::pair<double, double>>> ranges;
};
MicroGen3dConfig readMicroGen3dConfig(const std::filesystem::path& file);

// Reads everything, checks every shape against the config, and returns the
// generator (eps prediction, the reference's schedule scaled to its T,
// context = the conditioning features as they are, guidance 1: the
// reference trains no null context). ms::Error, one line, on any mismatch.
Generator3D importMicroGen3d(const MicroGen3dImportOptions& options, MicroGen3dImportReport* report = nullptr);

}  // namespace ms::ml
