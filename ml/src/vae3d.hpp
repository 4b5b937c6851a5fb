#pragma once
// ml-private (torch): the 3D VAE and the feature predictor of MicroGen3D.
// Tensors are [N, C, D, H, W] with D = z, H = y, W = x, so a Volume's label
// array (x fastest) maps onto a channel without reordering.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "microstudio/ml/generator3d.hpp"

namespace ms::ml::detail {

// Output shape (without batch) of each named layer, collected on request.
struct ShapeLog {
    std::vector<std::pair<std::string, std::vector<long>>> entries;
    void add(const std::string& name, const torch::Tensor& t);
};

// conv-IN-ReLU-conv-IN, then ReLU(x + r); instance norm with affine.
// Padding of a 3x3x3 convolution: [N, C, z, y, x] wrapped by `p` in x and y,
// zero-padded by `p` in z (periodic side walls, electrodes at z = 0, nz-1).
torch::Tensor padPeriodicXY(const torch::Tensor& x, int p);

// Residual block; `periodic`: its convolutions wrap in x/y (padPeriodicXY).
struct ResBlock3dImpl : torch::nn::Module {
    explicit ResBlock3dImpl(int channels, bool periodic = false);
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor conv(torch::nn::Conv3d& layer, const torch::Tensor& x) const;
    torch::nn::Conv3d conv1{nullptr}, conv2{nullptr};
    torch::nn::InstanceNorm3d norm1{nullptr}, norm2{nullptr};
    bool periodic = false;
};
TORCH_MODULE(ResBlock3d);

struct Vae3dImpl : torch::nn::Module {
    explicit Vae3dImpl(const Vae3dConfig& config);

    std::pair<torch::Tensor, torch::Tensor> encode(torch::Tensor x, ShapeLog* log = nullptr);
    // [N, 1, ...] levels in (0, 1); class output: [N, phases, ...] probabilities.
    torch::Tensor decode(torch::Tensor z, ShapeLog* log = nullptr);
    // The same before the sigmoid / softmax.
    torch::Tensor decodeLogits(torch::Tensor z, ShapeLog* log = nullptr);
    // Reconstruction (sampled z in training mode, z = mu in eval), mu, logvar.
    std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, ShapeLog* log = nullptr);
    // MSE (mean over voxels; minority-weighted when config.minorityWeight > 0)
    // + klWeight * KL (summed over latents, mean over batch).
    torch::Tensor loss(const torch::Tensor& x);
    // The same from an encoding of x and the reparameterisation noise (the
    // training loop draws it for a data-parallel global batch).
    torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& mu, const torch::Tensor& logvar,
                       const torch::Tensor& noise);

    // The reconstruction term of the loss (see Vae3dConfig::minorityWeight).
    torch::Tensor reconstructionLoss(const torch::Tensor& reconstruction, const torch::Tensor& x) const;
    // Class output: cross-entropy of the logits against each voxel's phase
    // (x 0 -> D, 1 -> A, 0.5 -> M; the indices of ms::Phase), the mixed
    // class weighted by 1 + mixedWeight (a weighted mean, as torch's).
    torch::Tensor classLoss(const torch::Tensor& logits, const torch::Tensor& x) const;

    std::vector<torch::nn::Module*> encoderModules();
    std::vector<torch::nn::Module*> decoderModules();

    Vae3dConfig config;
    // Encoder: per level conv, norm, res; then to-latent conv, norm, res; heads.
    std::vector<torch::nn::Conv3d> encConv;
    std::vector<torch::nn::InstanceNorm3d> encNorm;
    std::vector<ResBlock3d> encRes;
    torch::nn::Conv3d muHead{nullptr}, logvarHead{nullptr};
    // Decoder: from-latent (1x1x1) then one transposed conv per level.
    std::vector<torch::nn::ConvTranspose3d> decConv;
    std::vector<torch::nn::InstanceNorm3d> decNorm;
    std::vector<ResBlock3d> decRes;
    torch::nn::ConvTranspose3d output{nullptr};

private:
    torch::Tensor encoderConv(std::size_t level, const torch::Tensor& x);
    torch::Tensor decoderConv(torch::nn::ConvTranspose3d& layer, const torch::Tensor& z, int stride) const;
};
TORCH_MODULE(Vae3d);

// Three heads (Generator3dConfig::featureHead):
// "mlp": the paper's. Linear-ReLU-norm-dropout twice (in/2, in/4), then linear
// to the outputs; the norm is InstanceNorm1d on a [N, features] tensor as in
// the reference (each sample's hidden vector to zero mean, unit variance).
// "conv": two 3x3x3 convolutions (64 wide, x/y wrapped, z zero-padded), the
// average over the latent grid, then Linear-SiLU-dropout-Linear. It sees the
// latent the same wherever a structure sits, with ~1/20 of the MLP's weights:
// it cannot tell training runs apart by where their features lie.
// "conv-fractions": the conv head that also reads `extraInputs` numbers per
// sample beside the grid average (the volume's phase fractions), each
// standardised with the training set's mean and deviation (setExtraScale):
// a fraction varies by ~0.1, the averages by ~1, and unscaled it is learnt
// thousands of steps late.
struct FeaturePredictor3dImpl : torch::nn::Module {
    FeaturePredictor3dImpl(const std::string& head, int latentChannels, long inputs, int outputs, double dropout,
                           int extraInputs = 0);
    // latent [N, C, d, h, w]; extra [N, extraInputs] (unused by the others).
    torch::Tensor forward(torch::Tensor latent, const torch::Tensor& extra = {});
    bool readsExtra() const { return extraInputs > 0; }
    // The training extras [N, extraInputs]: their mean and deviation, kept.
    void setExtraScale(const torch::Tensor& trainingExtra);
    torch::Tensor extraMean, extraStd;  // buffers (conv-fractions only)
    std::string head;
    int extraInputs = 0;
    torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
    torch::nn::Conv3d conv1{nullptr}, conv2{nullptr};
    double dropout = 0.1;

private:
    torch::Tensor forwardMlp(torch::Tensor x);
    torch::Tensor forwardConv(const torch::Tensor& latent, const torch::Tensor& extra);
};
TORCH_MODULE(FeaturePredictor3d);

// Volumes <-> [N, 1, D, H, W] in [0, 1]: D 0, A 1, M 0.5.
torch::Tensor volumesToTensor(const std::vector<Volume>& volumes, const Vae3dConfig& config);
// Symmetry `variant` (0-7) of [N, C, D, H, W] volumes in the x/y plane:
// bit 0 mirrors x, bit 1 mirrors y, bit 2 swaps x and y first. All keep
// the z axis, along which the descriptors measure transport.
torch::Tensor xySymmetry(const torch::Tensor& x, int variant);
// The two-phase threshold of one decoded field. 0.5, except after a VAE
// whose loss weighs each sample's rarer phase by 1 + W: its output for an
// even voxel (probability 1/2) sits at (1 + W) / (2 + W) towards the rarer
// phase (the minimiser of (1 + W) q (1 - y)^2 + (1 - q) y^2 at q = 1/2), so
// thresholding there undoes the bias. The rarer phase is the one that is
// rarer under its own threshold; where both readings hold, 0.5.
float twoPhaseThreshold(const std::vector<float>& field, double minorityWeight);
// Thresholds the decoder output to the nearest level (0.5; with 3 phases
// Vae3dConfig::threePhaseLabel); raw values to the field. Class output
// (several channels): labels by argmax, the field the expected level
// P(A) + 0.5 P(M).
std::vector<Volume> tensorToVolumes(const torch::Tensor& x, const Vae3dConfig& config);
// 3-phase class output: labels the likelier of Donor and Acceptor, field the
// mixed margin log P(M) - log max(P(D), P(A)); tensorToVolumes labels each
// voxel by Vae3dConfig::mixedLabel of these, so relabelling them with another
// offset gives what a decoder with that offset gives.
std::vector<Volume> mixedMarginVolumes(const torch::Tensor& x, const Vae3dConfig& config);

}  // namespace ms::ml::detail
