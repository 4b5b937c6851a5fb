#pragma once
// The denoising VAE of the 2D paper (Moola et al., section III.B), layer
// by layer for 1x101x101 inputs:
//   encoder  conv 4x4/2/1 -> 32x50x50, BN, ReLU; conv 4x4/2/1 -> 64x25x25,
//            BN, ReLU; conv 3x3/2/1 -> 128x13x13, BN, ReLU; conv 3x3/2/1 ->
//            256x7x7, BN, ReLU; flatten 12544; linear -> 1024, BN, ReLU;
//            two linears -> mu, log-variance (L, default 128)
//   decoder  linear L -> 1024, BN, ReLU; linear -> 12544, BN, ReLU; reshape
//            256x7x7; transposed convs mirroring the encoder (output padding
//            chosen so every decoder map has the size of its encoder twin:
//            0, 0, 0, 1 for 101) with BN + ReLU, the last with a sigmoid.
// The paper names BN + ReLU after the first two convolutions and the first
// two transposed ones; we apply them after every hidden layer (the usual
// reading; documented in docs/ml.md). Other input sizes, channel widths and
// the hidden width are configurable (compact shipped models).
// Images in and out are two-phase 2D volumes: Donor = 0, Acceptor = 1.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/training.hpp"
#include "microstudio/noise/dataset.hpp"
#include "microstudio/noise/denoise.hpp"

namespace ms::ml {

struct Vae2dConfig {
    int size = 101;    // square input side
    int latent = 128;  // L
    std::vector<int> channels{32, 64, 128, 256};
    std::vector<int> kernels{4, 4, 3, 3};  // stride 2, padding 1 each
    int hidden = 1024;
    // Residual 3x3 conv blocks (BN, ReLU) at the deepest map, in the encoder
    // and mirrored in the decoder; 0 in the paper.
    int midBlocks = 0;
    // 0: the paper's flat latent (flatten, linear layers, L = latent).
    // > 0: a spatial latent of this many channels on the deepest map (3x3
    // convs to mu / log-variance, no linear layers), L = channels x side^2;
    // it keeps where things are, which a denoiser needs (docs/ml.md).
    int latentChannels = 0;

    // The deepest map's side for the input size and kernels.
    int deepestSide() const;
    // L: `latent`, or latentChannels x deepestSide()^2 when spatial.
    int latentSize() const;
    // "flat latent L=128" or "spatial latent 4x25x25 (L=2500)", for descriptions.
    std::string latentText() const;
    void validate() const;  // throws ms::Error
    Json toJson() const;
    static Vae2dConfig fromJson(const Json& json);
};

struct LayerShape {
    std::string name;         // "encoder.conv1", "decoder.output" ...
    std::vector<long> shape;  // without the batch dimension
};

class Vae2d {
public:
    explicit Vae2d(const Vae2dConfig& config = {}, std::uint64_t seed = 0);
    ~Vae2d();
    Vae2d(Vae2d&&) noexcept;
    Vae2d& operator=(Vae2d&&) noexcept;

    // NAME.pt with NAME.json beside (metadata.kind must be "vae2d").
    static Vae2d load(const std::filesystem::path& weights);
    // Writes NAME.pt (float16 when `half`) and NAME.json, both atomically.
    void save(const std::filesystem::path& weights, bool half = false);

    const Vae2dConfig& config() const;
    ModelMetadata& metadata();
    const ModelMetadata& metadata() const;

    // The output shape of every layer for one input (runs the network).
    std::vector<LayerShape> layerShapes() const;
    long parameterCount() const;
    // Every parameter and buffer, flattened in registration order (tests
    // compare trained weights with this).
    std::vector<float> flatParameters() const;

    // Denoises a two-phase 2D image of the model's size: encode to mu,
    // decode, threshold at 0.5. Thread-safe.
    Volume denoise(const Volume& noisy) const;
    std::vector<Volume> denoise(const std::vector<Volume>& noisy) const;
    // The decoder's output before thresholding (the sigmoid's probability of
    // label 1 per pixel, x fastest) for images of the model's size.
    std::vector<std::vector<float>> probabilities(const std::vector<Volume>& noisy) const;
    // Latent means (mu) of images; decoded images from latents.
    std::vector<std::vector<float>> encode(const std::vector<Volume>& images) const;
    std::vector<Volume> decode(const std::vector<std::vector<float>>& latents) const;
    // Images decoded from prior noise z ~ N(0, I).
    std::vector<Volume> samplePrior(int count, std::uint64_t seed) const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
    friend struct Vae2dTraining;
};

// The multi-noise augmentation of denoising training: each training image
// of a step gets one noise model drawn from these ranges (types uniformly),
// or stays clean with probability cleanFraction.
struct Augmentation {
    std::vector<noise::NoiseRanges> noises;  // empty = defaultAugmentation()
    double cleanFraction = 0.1;
    // A random symmetry of the square (8) and a random periodic shift of the
    // clean image before the noise (the CH images are periodic); without it
    // the VAE memorises the few distinct morphologies of a run and fails on
    // held-out runs.
    bool geometric = true;
    static std::vector<noise::NoiseRanges> defaultRanges();
};

struct Vae2dTrainOptions {
    TrainOptions train;
    double beta = 1.0;  // weight of the KL term
    Augmentation augmentation;
    bool denoising = true;  // false: plain VAE (clean in, clean out)
};

// Trains `model` on clean images (noisy inputs made on the fly, clean
// targets): loss = BCE summed over pixels + beta * KL summed over latents,
// both averaged over the batch. Validation: each validation image with one
// fixed noisy version (seeded), z = mu. Fills model.metadata().training.
// Samples of the test split (text["split"] == "test") in either set are
// refused with ms::Error (splits.hpp).
TrainReport trainVae2d(Vae2d& model, const std::vector<Volume>& train, const std::vector<Volume>& validation,
                       const Vae2dTrainOptions& options);

// A Denoiser (kind learned) for `noise eval` and the denoise command.
std::shared_ptr<const noise::Denoiser> makeDenoiser(std::shared_ptr<const Vae2d> model, std::string name);
// The shipped default (findModel(kDefaultDenoiser)); throws when absent.
std::shared_ptr<const noise::Denoiser> defaultDenoiser();

}  // namespace ms::ml
