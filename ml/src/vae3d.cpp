// The 3D VAE and the feature predictor of MicroGen3D (paper 4.2.1, 4.2.2;
// layer widths as in Table 1, whose parameter counts they reproduce).
#include "vae3d.hpp"

#include <algorithm>
#include <cmath>

#include "microstudio/core/error.hpp"

namespace ms::ml::detail {

void ShapeLog::add(const std::string& name, const torch::Tensor& t) {
    std::vector<long> shape;
    for (std::int64_t i = 1; i < t.dim(); ++i) shape.push_back(long(t.size(i)));
    entries.emplace_back(name, shape);
}

namespace {
void logShape(ShapeLog* log, const std::string& name, const torch::Tensor& t) {
    if (log) log->add(name, t);
}
torch::nn::InstanceNorm3d affineNorm(int channels) {
    return torch::nn::InstanceNorm3d(torch::nn::InstanceNorm3dOptions(channels).affine(true));
}
}  // namespace

// --- Periodic padding ------------------------------------------------------------

torch::Tensor padPeriodicXY(const torch::Tensor& x, int p) {
    namespace F = torch::nn::functional;
    auto wrapped = F::pad(x, F::PadFuncOptions({p, p, p, p, 0, 0}).mode(torch::kCircular));
    return F::pad(wrapped, F::PadFuncOptions({0, 0, 0, 0, p, p}));
}

namespace {
// A 3x3x3 convolution: padding 1 everywhere, or (periodic) padding 1 in z only
// after padPeriodicXY supplied the wrapped x/y border.
torch::nn::Conv3dOptions conv3Options(int in, int out, int stride, bool periodic) {
    return torch::nn::Conv3dOptions(in, out, 3).stride(stride).padding(periodic ? 0 : 1);
}
// A transposed 3x3x3 convolution multiplying the size by `stride`. Periodic:
// x/y padding 0 on an input wrapped by one cell; decoderConv crops the result.
torch::nn::ConvTranspose3dOptions upOptions(int in, int out, int stride, bool periodic) {
    auto o = torch::nn::ConvTranspose3dOptions(in, out, 3).stride(stride);
    if (periodic) return o.padding({1, 0, 0}).output_padding({stride - 1, 0, 0});
    return o.padding(1).output_padding(stride - 1);
}
}  // namespace

// --- Residual block ---------------------------------------------------------------

ResBlock3dImpl::ResBlock3dImpl(int channels, bool periodicXY) : periodic(periodicXY) {
    conv1 = register_module("conv1", torch::nn::Conv3d(conv3Options(channels, channels, 1, periodic)));
    norm1 = register_module("norm1", affineNorm(channels));
    conv2 = register_module("conv2", torch::nn::Conv3d(conv3Options(channels, channels, 1, periodic)));
    norm2 = register_module("norm2", affineNorm(channels));
}

torch::Tensor ResBlock3dImpl::conv(torch::nn::Conv3d& layer, const torch::Tensor& x) const {
    return layer->forward(periodic ? padPeriodicXY(x, 1) : x);
}

torch::Tensor ResBlock3dImpl::forward(const torch::Tensor& x) {
    auto r = norm2->forward(conv(conv2, torch::relu(norm1->forward(conv(conv1, x)))));
    return torch::relu(x + r);
}

// --- VAE -----------------------------------------------------------------------------

Vae3dImpl::Vae3dImpl(const Vae3dConfig& c) : config(c) {
    c.validate();
    const int levels = int(c.channels.size());
    const bool periodic = c.periodicXY;
    int in = 1;
    for (int i = 0; i < levels; ++i) {
        const int stride = i == 0 ? c.firstStride : 2;
        const std::string n = std::to_string(i + 1);
        encConv.push_back(
            register_module("enc_conv" + n, torch::nn::Conv3d(conv3Options(in, c.channels[i], stride, periodic))));
        encNorm.push_back(register_module("enc_norm" + n, affineNorm(c.channels[i])));
        encRes.push_back(register_module("enc_res" + n, ResBlock3d(c.channels[i], periodic)));
        in = c.channels[i];
    }
    const std::string last = std::to_string(levels + 1);
    encConv.push_back(
        register_module("enc_conv" + last, torch::nn::Conv3d(torch::nn::Conv3dOptions(in, c.latentChannels, 1))));
    encNorm.push_back(register_module("enc_norm" + last, affineNorm(c.latentChannels)));
    encRes.push_back(register_module("enc_res" + last, ResBlock3d(c.latentChannels, periodic)));
    muHead = register_module("mu", torch::nn::Conv3d(torch::nn::Conv3dOptions(c.latentChannels, c.latentChannels, 1)));
    logvarHead =
        register_module("logvar", torch::nn::Conv3d(torch::nn::Conv3dOptions(c.latentChannels, c.latentChannels, 1)));

    // Decoder: 1x1x1 back to the widest level, then transposed 3x3x3
    // convolutions (stride 2, output padding 1: exact doubling) down the
    // widths, and a last one to one channel with the first layer's stride.
    decConv.push_back(register_module("dec_conv1", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(
                                                       c.latentChannels, c.channels.back(), 1))));
    decNorm.push_back(register_module("dec_norm1", affineNorm(c.channels.back())));
    decRes.push_back(register_module("dec_res1", ResBlock3d(c.channels.back(), periodic)));
    for (int i = levels - 1; i >= 1; --i) {
        const std::string n = std::to_string(levels - i + 1);
        decConv.push_back(register_module(
            "dec_conv" + n, torch::nn::ConvTranspose3d(upOptions(c.channels[i], c.channels[i - 1], 2, periodic))));
        decNorm.push_back(register_module("dec_norm" + n, affineNorm(c.channels[i - 1])));
        decRes.push_back(register_module("dec_res" + n, ResBlock3d(c.channels[i - 1], periodic)));
    }
    const int outputs = c.classOutput() ? c.phases : 1;
    output = register_module(
        "dec_output", torch::nn::ConvTranspose3d(upOptions(c.channels.front(), outputs, c.firstStride, periodic)));
}

torch::Tensor Vae3dImpl::encoderConv(std::size_t level, const torch::Tensor& x) {
    const bool wraps = config.periodicXY && level + 1 < encConv.size();  // the last one is 1x1x1
    return encConv[level]->forward(wraps ? padPeriodicXY(x, 1) : x);
}

// Periodic: the input wrapped by one cell in x/y gives output index o' + stride
// + 1 for the unpadded layer's o' (o = stride * i + k - padding), so the
// result is the window [stride + 1, stride + 1 + stride * n) in x and y.
torch::Tensor Vae3dImpl::decoderConv(torch::nn::ConvTranspose3d& layer, const torch::Tensor& z, int stride) const {
    if (!config.periodicXY) return layer->forward(z);
    const auto y = layer->forward(torch::nn::functional::pad(
        z, torch::nn::functional::PadFuncOptions({1, 1, 1, 1, 0, 0}).mode(torch::kCircular)));
    const long ny = long(z.size(3)) * stride, nx = long(z.size(4)) * stride, offset = stride + 1;
    return y.narrow(3, offset, ny).narrow(4, offset, nx);
}

std::pair<torch::Tensor, torch::Tensor> Vae3dImpl::encode(torch::Tensor x, ShapeLog* log) {
    logShape(log, "input", x);
    for (std::size_t i = 0; i < encConv.size(); ++i) {
        const std::string n = std::to_string(i + 1);
        x = encoderConv(i, x);
        logShape(log, "encoder.conv" + n, x);
        x = encRes[i]->forward(encNorm[i]->forward(x));
        logShape(log, "encoder.res" + n, x);
    }
    auto mu = muHead->forward(x), logvar = logvarHead->forward(x);
    logShape(log, "encoder.mu", mu);
    logShape(log, "encoder.logvar", logvar);
    return {mu, logvar};
}

torch::Tensor Vae3dImpl::decode(torch::Tensor z, ShapeLog* log) {
    const auto logits = decodeLogits(std::move(z), log);
    return config.classOutput() ? torch::softmax(logits, 1) : torch::sigmoid(logits);
}

torch::Tensor Vae3dImpl::decodeLogits(torch::Tensor z, ShapeLog* log) {
    for (std::size_t i = 0; i < decConv.size(); ++i) {
        const std::string n = std::to_string(i + 1);
        z = i == 0 ? decConv[i]->forward(z) : decoderConv(decConv[i], z, 2);  // the first is 1x1x1
        logShape(log, "decoder.conv" + n, z);
        z = decRes[i]->forward(decNorm[i]->forward(z));
        logShape(log, "decoder.res" + n, z);
    }
    z = decoderConv(output, z, config.firstStride);
    logShape(log, "decoder.output", z);
    return z;
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> Vae3dImpl::forward(const torch::Tensor& x, ShapeLog* log) {
    auto [mu, logvar] = encode(x, log);
    torch::Tensor z = mu;
    if (is_training()) z = mu + torch::randn_like(mu) * torch::exp(0.5 * logvar);
    return {decode(z, log), mu, logvar};
}

torch::Tensor Vae3dImpl::loss(const torch::Tensor& x) {
    auto [mu, logvar] = encode(x);
    return loss(x, mu, logvar, is_training() ? torch::randn_like(mu) : torch::Tensor());
}

torch::Tensor Vae3dImpl::loss(const torch::Tensor& x, const torch::Tensor& mu, const torch::Tensor& logvar,
                              const torch::Tensor& noise) {
    const auto logits = decodeLogits(noise.defined() ? mu + noise * torch::exp(0.5 * logvar) : mu);
    // KL(q(z|x) || N(0, I)) summed over the latent, averaged over the batch.
    auto kl = -0.5 * torch::sum(1 + logvar - mu.pow(2) - logvar.exp()) / double(x.size(0));
    const auto reconstruction =
        config.classOutput() ? classLoss(logits, x) : reconstructionLoss(torch::sigmoid(logits), x);
    return reconstruction + config.klWeight * kl;
}

torch::Tensor Vae3dImpl::classLoss(const torch::Tensor& logits, const torch::Tensor& x) const {
    const auto level = x.squeeze(1);
    const auto phase = (level > 0.75).to(torch::kLong) * long(Acceptor) +
                       ((level > 0.25) & (level <= 0.75)).to(torch::kLong) * long(Mixed);
    namespace F = torch::nn::functional;
    if (config.mixedWeight <= 0.0) return F::cross_entropy(logits.to(torch::kFloat), phase);
    const auto weight = torch::tensor({1.0f, 1.0f, float(1.0 + config.mixedWeight)}).to(logits.device());
    return F::cross_entropy(logits.to(torch::kFloat), phase, F::CrossEntropyFuncOptions().weight(weight));
}

torch::Tensor Vae3dImpl::reconstructionLoss(const torch::Tensor& reconstruction, const torch::Tensor& x) const {
    if (config.minorityWeight <= 0.0) return torch::mse_loss(reconstruction, x);
    // Per sample, the rarer of Donor (0) and Acceptor (1); weighted mean of the squared errors.
    const auto dims = std::vector<std::int64_t>{1, 2, 3, 4};
    const auto donor = (x == 0.0).to(x.dtype()), acceptor = (x == 1.0).to(x.dtype());
    const auto donorRarer = (donor.mean(dims, true) < acceptor.mean(dims, true)).to(x.dtype());
    const auto minority = donorRarer * donor + (1.0 - donorRarer) * acceptor;
    const auto weight = 1.0 + config.minorityWeight * minority;
    return (weight * (reconstruction - x).pow(2)).sum() / weight.sum();
}

std::vector<torch::nn::Module*> Vae3dImpl::encoderModules() {
    std::vector<torch::nn::Module*> out;
    for (auto& m : encConv) out.push_back(m.get());
    for (auto& m : encNorm) out.push_back(m.get());
    for (auto& m : encRes) out.push_back(m.get());
    out.push_back(muHead.get());
    out.push_back(logvarHead.get());
    return out;
}

std::vector<torch::nn::Module*> Vae3dImpl::decoderModules() {
    std::vector<torch::nn::Module*> out;
    for (auto& m : decConv) out.push_back(m.get());
    for (auto& m : decNorm) out.push_back(m.get());
    for (auto& m : decRes) out.push_back(m.get());
    out.push_back(output.get());
    return out;
}

// --- Feature predictor ------------------------------------------------------------------

namespace {
constexpr int kConvHeadWidth = 64;
// InstanceNorm1d of a [N, F] tensor (unbatched C x L reading): per sample
// over its features, biased variance, eps 1e-5, no affine.
torch::Tensor normaliseRows(const torch::Tensor& x) {
    auto mean = x.mean({1}, true);
    auto var = (x - mean).pow(2).mean({1}, true);
    return (x - mean) / torch::sqrt(var + 1e-5);
}
}  // namespace

FeaturePredictor3dImpl::FeaturePredictor3dImpl(const std::string& head_, int latentChannels, long inputs, int outputs,
                                               double dropoutRate, int extra)
    : head(head_), extraInputs(extra), dropout(dropoutRate) {
    if (outputs < 1) throw Error("feature predictor needs at least one output");
    if (head == "conv" || head == "conv-fractions") {
        if ((head == "conv-fractions") != (extraInputs > 0))
            throw Error("the feature predictor head conv-fractions, and only it, reads extra inputs");
        const int w = kConvHeadWidth;
        conv1 = register_module("conv1",
                                torch::nn::Conv3d(torch::nn::Conv3dOptions(latentChannels, w, 3).padding({1, 0, 0})));
        conv2 = register_module("conv2", torch::nn::Conv3d(torch::nn::Conv3dOptions(w, w, 3).padding({1, 0, 0})));
        fc1 = register_module("fc1", torch::nn::Linear(w + extraInputs, w));
        fc3 = register_module("fc3", torch::nn::Linear(w, outputs));
        if (extraInputs > 0) {
            extraMean = register_buffer("extra_mean", torch::zeros({extraInputs}));
            extraStd = register_buffer("extra_std", torch::ones({extraInputs}));
        }
        return;
    }
    if (head != "mlp")
        throw Error("the feature predictor head must be mlp, conv or conv-fractions, not '" + head + "'");
    if (extraInputs != 0) throw Error("the mlp feature predictor reads no extra inputs");
    if (inputs < 4) throw Error("feature predictor needs at least 4 latent values");
    const long hidden1 = inputs / 2, hidden2 = hidden1 / 2;
    fc1 = register_module("fc1", torch::nn::Linear(inputs, hidden1));
    fc2 = register_module("fc2", torch::nn::Linear(hidden1, hidden2));
    fc3 = register_module("fc3", torch::nn::Linear(hidden2, outputs));
}

torch::Tensor FeaturePredictor3dImpl::forward(torch::Tensor latent, const torch::Tensor& extra) {
    return head == "mlp" ? forwardMlp(latent) : forwardConv(latent, extra);
}

torch::Tensor FeaturePredictor3dImpl::forwardMlp(torch::Tensor x) {
    x = x.flatten(1);
    x = torch::dropout(normaliseRows(torch::relu(fc1->forward(x))), dropout, is_training());
    x = torch::dropout(normaliseRows(torch::relu(fc2->forward(x))), dropout, is_training());
    return fc3->forward(x);
}

void FeaturePredictor3dImpl::setExtraScale(const torch::Tensor& trainingExtra) {
    if (extraInputs == 0) return;
    torch::NoGradGuard noGrad;
    const auto e = trainingExtra.to(extraMean.device()).to(extraMean.dtype());
    extraMean.copy_(e.mean(0));
    extraStd.copy_(e.size(0) > 1 ? e.std(0).clamp_min(1e-6) : torch::ones_like(extraStd));
}

// x/y wrap by one cell (the volumes are periodic there), z zero-padded by the layer.
torch::Tensor FeaturePredictor3dImpl::forwardConv(const torch::Tensor& latent, const torch::Tensor& extra) {
    namespace F = torch::nn::functional;
    const auto wrap = [](const torch::Tensor& t) {
        return F::pad(t, F::PadFuncOptions({1, 1, 1, 1, 0, 0}).mode(torch::kCircular));
    };
    auto x = torch::silu(conv1->forward(wrap(latent)));
    x = torch::silu(conv2->forward(wrap(x)));
    x = x.mean({2, 3, 4});
    if (extraInputs > 0) {
        if (!extra.defined() || extra.dim() != 2 || extra.size(0) != x.size(0) || extra.size(1) != extraInputs)
            throw Error("the " + head + " feature predictor needs " + std::to_string(extraInputs) +
                        " extra inputs per sample");
        x = torch::cat({x, ((extra.to(x.dtype()) - extraMean) / extraStd).to(x.dtype())}, 1);
    }
    x = torch::dropout(torch::silu(fc1->forward(x)), dropout, is_training());
    return fc3->forward(x);
}

// --- Volumes <-> tensors -------------------------------------------------------------------

torch::Tensor xySymmetry(const torch::Tensor& x, int variant) {
    if (variant < 0 || variant > 7) throw Error("x/y symmetry variant must be 0 to 7, not " + std::to_string(variant));
    torch::Tensor v = x;
    if (variant & 4) {
        if (x.size(3) != x.size(4)) throw Error("swapping x and y needs a square cross-section");
        v = v.transpose(3, 4);
    }
    std::vector<std::int64_t> flips;
    if (variant & 1) flips.push_back(4);
    if (variant & 2) flips.push_back(3);
    if (!flips.empty()) v = v.flip(flips);
    return v.contiguous();
}

torch::Tensor volumesToTensor(const std::vector<Volume>& volumes, const Vae3dConfig& config) {
    const Dims d = config.dims;
    const long voxels = long(d.count());
    auto t = torch::empty({long(volumes.size()), 1, d.nz, d.ny, d.nx}, torch::kFloat);
    float* out = t.data_ptr<float>();
    // One channel with the mixed phase between its parents: D 0, M 0.5, A 1.
    const float value[3] = {0.0f, 1.0f, 0.5f};
    for (std::size_t i = 0; i < volumes.size(); ++i) {
        const Volume& v = volumes[i];
        if (v.dims() != d)
            throw Error("volume " + std::to_string(i) + " is " + v.dims().str() + ", the model expects " + d.str());
        const auto& labels = v.labels();
        for (long k = 0; k < voxels; ++k) {
            const int label = labels[std::size_t(k)];
            if (label >= config.phases)
                throw Error("volume " + std::to_string(i) + " has phase label " + std::to_string(label) +
                            " but the model has " + std::to_string(config.phases) + " phases");
            out[std::size_t(i) * std::size_t(voxels) + std::size_t(k)] = value[label];
        }
    }
    return t;
}

namespace {
// 3 phases: log P(M) - log max(P(D), P(A)) per voxel ([N, D, H, W]), what
// Vae3dConfig::mixedLabel decides by.
torch::Tensor mixedMargin(const torch::Tensor& p) {
    constexpr double tiny = 1e-30;  // log of an underflowed probability stays finite
    const auto parents = torch::max(p.select(1, Donor), p.select(1, Acceptor));
    return torch::log(p.select(1, Mixed).clamp_min(tiny)) - torch::log(parents.clamp_min(tiny));
}

// Volumes of `labels` [N, D, H, W] (byte) and `field` [N, D, H, W] (float).
std::vector<Volume> labelledVolumes(const torch::Tensor& labels, const torch::Tensor& field, const Dims& dims) {
    const auto l = labels.to(torch::kByte).contiguous();
    const auto f = field.to(torch::kFloat).contiguous();
    std::vector<Volume> out;
    const std::size_t voxels = dims.count();
    for (long i = 0; i < l.size(0); ++i) {
        Volume v(dims);
        const auto* li = l[i].data_ptr<std::uint8_t>();
        std::copy(li, li + voxels, v.labels().begin());
        const float* fi = f[i].data_ptr<float>();
        v.setField(std::vector<float>(fi, fi + voxels));
        out.push_back(std::move(v));
    }
    return out;
}

// The likelier of Donor and Acceptor per voxel (ties: Donor, as argmax).
torch::Tensor parentLabels(const torch::Tensor& p) {
    return (p.select(1, Acceptor) > p.select(1, Donor)).to(torch::kByte) * std::uint8_t(Acceptor);
}

// Class probabilities [N, phases, ...] -> labels (argmax; 3 phases:
// Vae3dConfig::mixedLabel of each voxel's margin and parent), field P(A) + 0.5 P(M).
std::vector<Volume> classesToVolumes(const torch::Tensor& x, const Vae3dConfig& config) {
    auto p = x.detach().to(torch::kCPU).to(torch::kFloat);
    if (p.size(1) <= Mixed) return labelledVolumes(p.argmax(1), p.select(1, Acceptor), config.dims);
    auto volumes = labelledVolumes(parentLabels(p), p.select(1, Acceptor) + 0.5 * p.select(1, Mixed), config.dims);
    const auto margins = mixedMargin(p).contiguous();
    for (std::size_t i = 0; i < volumes.size(); ++i) {
        const float* margin = margins[long(i)].data_ptr<float>();
        auto& labels = volumes[i].labels();
        for (std::size_t k = 0; k < labels.size(); ++k) labels[k] = config.mixedLabel(margin[k], Phase(labels[k]));
    }
    return volumes;
}
}  // namespace

std::vector<Volume> mixedMarginVolumes(const torch::Tensor& x, const Vae3dConfig& config) {
    if (!(config.classOutput() && config.phases == 3) || x.size(1) != 3)
        throw Error("mixed margins belong to a 3-phase class-output VAE");
    const auto p = x.detach().to(torch::kCPU).to(torch::kFloat);
    return labelledVolumes(parentLabels(p), mixedMargin(p), config.dims);
}

float twoPhaseThreshold(const std::vector<float>& field, double minorityWeight) {
    if (minorityWeight <= 0.0 || field.empty()) return 0.5f;
    const float high = float((1.0 + minorityWeight) / (2.0 + minorityWeight)), low = 1.0f - high;
    std::size_t aboveHigh = 0, aboveLow = 0;
    for (float f : field) {
        aboveHigh += f >= high;
        aboveLow += f >= low;
    }
    const double n = double(field.size());
    const bool acceptorRarer = double(aboveHigh)<0.5 * n, donorRarer = double(aboveLow)> 0.5 * n;
    if (acceptorRarer == donorRarer) return 0.5f;  // both readings hold (near 50/50): no shift
    return acceptorRarer ? high : low;
}

std::vector<Volume> tensorToVolumes(const torch::Tensor& x, const Vae3dConfig& config) {
    if (x.size(1) > 1) return classesToVolumes(x, config);
    auto cpu = x.detach().to(torch::kCPU).to(torch::kFloat).contiguous();
    const Dims d = config.dims;
    const std::size_t voxels = d.count();
    std::vector<Volume> out;
    const float* data = cpu.data_ptr<float>();
    // Nearest level: 2 phases threshold at 0.5 (moved by twoPhaseThreshold
    // for a minority-weighted VAE); 3 phases at the mixed band (0.25, 0.75 unless chosen).
    const bool three = config.phases == 3;
    for (long i = 0; i < cpu.size(0); ++i) {
        Volume v(d);
        std::vector<float> field(data + std::size_t(i) * voxels, data + std::size_t(i + 1) * voxels);
        const float threshold = three ? 0.5f : twoPhaseThreshold(field, config.minorityWeight);
        auto& labels = v.labels();
        for (std::size_t k = 0; k < voxels; ++k) {
            const float f = field[k];
            if (!three) labels[k] = f >= threshold ? Acceptor : Donor;
            else labels[k] = config.threePhaseLabel(f);
        }
        v.setField(std::move(field));
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace ms::ml::detail
