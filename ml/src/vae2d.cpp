// The denoising VAE of the 2D paper (section III.B), its denoising
// training with multi-noise augmentation, and its Denoiser adapter.
#include "microstudio/ml/vae2d.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/ml/splits.hpp"
#include "microstudio/ml/tiling.hpp"
#include "microstudio/noise/noise.hpp"
#include "torch_common.hpp"

namespace ms::ml {

// --- Config ---------------------------------------------------------------------

namespace {

// The side of every encoder map, input first: s' = (s + 2 - k) / 2 + 1.
std::vector<int> encoderSides(int size, const std::vector<int>& kernels) {
    std::vector<int> sides{size};
    for (int k : kernels) {
        const int next = (sides.back() + 2 - k) / 2 + 1;
        if (next < 1) throw Error("VAE input size " + std::to_string(size) + " is too small for the layers");
        sides.push_back(next);
    }
    return sides;
}

}  // namespace

void Vae2dConfig::validate() const {
    if (size < 8 || size > 4096) throw Error("VAE input size must be in 8..4096");
    if (latent < 1 || latent > 65536) throw Error("VAE latent size must be in 1..65536");
    if (hidden < 1) throw Error("VAE hidden width must be >= 1");
    if (channels.empty() || channels.size() != kernels.size())
        throw Error("VAE needs as many kernels as channel widths (one per convolution)");
    for (int c : channels)
        if (c < 1) throw Error("VAE channel widths must be >= 1");
    for (int k : kernels)
        if (k < 2 || k > 7) throw Error("VAE kernels must be in 2..7");
    if (midBlocks < 0 || midBlocks > 16) throw Error("VAE middle blocks must be in 0..16");
    if (latentChannels < 0 || latentChannels > 256) throw Error("VAE latent channels must be in 0..256");
    encoderSides(size, kernels);  // throws when a map would vanish
}

int Vae2dConfig::deepestSide() const { return encoderSides(size, kernels).back(); }

int Vae2dConfig::latentSize() const {
    return latentChannels > 0 ? latentChannels * deepestSide() * deepestSide() : latent;
}

std::string Vae2dConfig::latentText() const {
    if (latentChannels <= 0) return "flat latent L=" + std::to_string(latent);
    const std::string side = std::to_string(deepestSide());
    return "spatial latent " + std::to_string(latentChannels) + "x" + side + "x" + side +
           " (L=" + std::to_string(latentSize()) + ")";
}

Json Vae2dConfig::toJson() const {
    Json j = Json::object();
    j["size"] = size;
    j["latent"] = latent;
    std::vector<double> c(channels.begin(), channels.end()), k(kernels.begin(), kernels.end());
    j["channels"] = Json(c);
    j["kernels"] = Json(k);
    j["hidden"] = hidden;
    j["mid_blocks"] = midBlocks;
    j["latent_channels"] = latentChannels;
    return j;
}

Vae2dConfig Vae2dConfig::fromJson(const Json& j) {
    Vae2dConfig c;
    c.size = int(numberOr(j, "size", c.size));
    c.latent = int(numberOr(j, "latent", c.latent));
    c.hidden = int(numberOr(j, "hidden", c.hidden));
    c.midBlocks = int(numberOr(j, "mid_blocks", 0));
    c.latentChannels = int(numberOr(j, "latent_channels", 0));
    if (j.contains("channels")) {
        c.channels.clear();
        for (double v : numbersAt(j, "channels")) c.channels.push_back(int(v));
    }
    if (j.contains("kernels")) {
        c.kernels.clear();
        for (double v : numbersAt(j, "kernels")) c.kernels.push_back(int(v));
    }
    c.validate();
    return c;
}

// --- Network ---------------------------------------------------------------------

namespace {

using Shapes = std::vector<LayerShape>;

void record(Shapes* shapes, const std::string& name, const torch::Tensor& t) {
    if (!shapes) return;
    LayerShape s;
    s.name = name;
    for (std::int64_t i = 1; i < t.dim(); ++i) s.shape.push_back(long(t.size(i)));
    shapes->push_back(s);
}

struct VaeNetImpl : torch::nn::Module {
    explicit VaeNetImpl(const Vae2dConfig& c) : config(c) {
        c.validate();
        sizes = encoderSides(c.size, c.kernels);
        const int layers = int(c.channels.size());
        int in = 1;
        for (int i = 0; i < layers; ++i) {
            encConv.push_back(register_module(
                "enc_conv" + std::to_string(i + 1),
                torch::nn::Conv2d(torch::nn::Conv2dOptions(in, c.channels[i], c.kernels[i]).stride(2).padding(1))));
            encBn.push_back(register_module("enc_bn" + std::to_string(i + 1), torch::nn::BatchNorm2d(c.channels[i])));
            in = c.channels[i];
        }
        const int deep = c.channels.back();
        auto conv3 = [](int from, int to) { return torch::nn::Conv2dOptions(from, to, 3).padding(1); };
        encMid = registerMidBlocks("enc", deep);
        flat = std::int64_t(deep) * sizes.back() * sizes.back();
        if (c.latentChannels > 0) {
            muConv = register_module("mu_conv", torch::nn::Conv2d(conv3(deep, c.latentChannels)));
            logvarConv = register_module("logvar_conv", torch::nn::Conv2d(conv3(deep, c.latentChannels)));
            decIn = register_module("dec_in", torch::nn::Conv2d(conv3(c.latentChannels, deep)));
            decInBn = register_module("dec_in_bn", torch::nn::BatchNorm2d(deep));
        } else {
            encFc = register_module("enc_fc", torch::nn::Linear(flat, c.hidden));
            encFcBn = register_module("enc_fc_bn", torch::nn::BatchNorm1d(c.hidden));
            mu = register_module("mu", torch::nn::Linear(c.hidden, c.latent));
            logvar = register_module("logvar", torch::nn::Linear(c.hidden, c.latent));
            decFc1 = register_module("dec_fc1", torch::nn::Linear(c.latent, c.hidden));
            decFc1Bn = register_module("dec_fc1_bn", torch::nn::BatchNorm1d(c.hidden));
            decFc2 = register_module("dec_fc2", torch::nn::Linear(c.hidden, flat));
            decFc2Bn = register_module("dec_fc2_bn", torch::nn::BatchNorm1d(flat));
        }
        decMid = registerMidBlocks("dec", deep);
        // Transposed convolutions mirror the encoder; the output padding makes
        // each map the size of its encoder twin (101: 0, 0, 0, 1).
        for (int i = layers - 1; i >= 0; --i) {
            const int out = i > 0 ? c.channels[i - 1] : 1;
            const int k = c.kernels[i];
            const int natural = (sizes[i + 1] - 1) * 2 - 2 + k;
            const int outputPadding = sizes[i] - natural;
            if (outputPadding < 0 || outputPadding > 1)
                throw Error("VAE: no transposed convolution maps " + std::to_string(sizes[i + 1]) + " back to " +
                            std::to_string(sizes[i]) + " with kernel " + std::to_string(k) + "; pick other kernels");
            const int index = layers - i;
            decConv.push_back(
                register_module("dec_conv" + std::to_string(index),
                                torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(c.channels[i], out, k)
                                                               .stride(2)
                                                               .padding(1)
                                                               .output_padding(outputPadding))));
            if (i > 0) decBn.push_back(register_module("dec_bn" + std::to_string(index), torch::nn::BatchNorm2d(out)));
        }
    }

    std::pair<torch::Tensor, torch::Tensor> encode(torch::Tensor x, Shapes* shapes = nullptr) {
        record(shapes, "input", x);
        for (std::size_t i = 0; i < encConv.size(); ++i) {
            x = torch::relu(encBn[i]->forward(encConv[i]->forward(x)));
            record(shapes, "encoder.conv" + std::to_string(i + 1), x);
        }
        x = runMidBlocks(encMid, x, shapes, "encoder");
        if (muConv) {
            auto m = muConv->forward(x).flatten(1), lv = logvarConv->forward(x).flatten(1);
            record(shapes, "encoder.mu", m);
            record(shapes, "encoder.logvar", lv);
            return {m, lv};
        }
        x = x.flatten(1);
        record(shapes, "encoder.flatten", x);
        x = torch::relu(encFcBn->forward(encFc->forward(x)));
        record(shapes, "encoder.fc", x);
        auto m = mu->forward(x), lv = logvar->forward(x);
        record(shapes, "encoder.mu", m);
        record(shapes, "encoder.logvar", lv);
        return {m, lv};
    }

    torch::Tensor decode(torch::Tensor z, Shapes* shapes = nullptr) {
        torch::Tensor x;
        if (decIn) {
            x = z.view({z.size(0), config.latentChannels, sizes.back(), sizes.back()});
            x = torch::relu(decInBn->forward(decIn->forward(x)));
            record(shapes, "decoder.in", x);
        } else {
            x = torch::relu(decFc1Bn->forward(decFc1->forward(z)));
            record(shapes, "decoder.fc1", x);
            x = torch::relu(decFc2Bn->forward(decFc2->forward(x)));
            record(shapes, "decoder.fc2", x);
            x = x.view({x.size(0), config.channels.back(), sizes.back(), sizes.back()});
            record(shapes, "decoder.reshape", x);
        }
        x = runMidBlocks(decMid, x, shapes, "decoder");
        for (std::size_t i = 0; i < decConv.size(); ++i) {
            x = decConv[i]->forward(x);
            const bool last = i + 1 == decConv.size();
            x = last ? torch::sigmoid(x) : torch::relu(decBn[i]->forward(x));
            record(shapes, last ? "decoder.output" : "decoder.deconv" + std::to_string(i + 1), x);
        }
        return x;
    }

    Vae2dConfig config;
    std::vector<int> sizes;
    std::int64_t flat = 0;
    std::vector<torch::nn::Conv2d> encConv;
    std::vector<torch::nn::BatchNorm2d> encBn;
    torch::nn::Linear encFc{nullptr}, mu{nullptr}, logvar{nullptr}, decFc1{nullptr}, decFc2{nullptr};
    torch::nn::BatchNorm1d encFcBn{nullptr}, decFc1Bn{nullptr}, decFc2Bn{nullptr};
    torch::nn::Conv2d muConv{nullptr}, logvarConv{nullptr}, decIn{nullptr};  // spatial latent
    torch::nn::BatchNorm2d decInBn{nullptr};
    // Residual 3x3 blocks at the deepest map: x -> ReLU(x + BN(conv(x))).
    struct MidBlock {
        torch::nn::Conv2d conv{nullptr};
        torch::nn::BatchNorm2d bn{nullptr};
    };
    std::vector<MidBlock> encMid, decMid;

    std::vector<MidBlock> registerMidBlocks(const std::string& prefix, int channels) {
        std::vector<MidBlock> blocks;
        for (int b = 1; b <= config.midBlocks; ++b) {
            const auto name = prefix + "_mid" + std::to_string(b);
            blocks.push_back(
                {register_module(name, torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).padding(1))),
                 register_module(prefix + "_mid_bn" + std::to_string(b), torch::nn::BatchNorm2d(channels))});
        }
        return blocks;
    }
    static torch::Tensor runMidBlocks(std::vector<MidBlock>& blocks, torch::Tensor x, Shapes* shapes,
                                      const std::string& side) {
        for (std::size_t b = 0; b < blocks.size(); ++b) {
            x = torch::relu(x + blocks[b].bn->forward(blocks[b].conv->forward(x)));
            record(shapes, side + ".mid" + std::to_string(b + 1), x);
        }
        return x;
    }
    std::vector<torch::nn::ConvTranspose2d> decConv;
    std::vector<torch::nn::BatchNorm2d> decBn;
};
TORCH_MODULE(VaeNet);

// Two-phase 2D images as a [N, 1, size, size] float tensor (Acceptor = 1).
torch::Tensor imagesToTensor(const std::vector<Volume>& images, int size) {
    auto t = torch::empty({std::int64_t(images.size()), 1, size, size}, torch::kFloat);
    float* data = t.data_ptr<float>();
    const std::size_t pixels = std::size_t(size) * std::size_t(size);
    for (std::size_t i = 0; i < images.size(); ++i) {
        const auto& v = images[i];
        if (!v.dims().is2D() || v.dims().nx != size || v.dims().ny != size)
            throw Error("the model takes " + std::to_string(size) + "x" + std::to_string(size) + " 2D images, got " +
                        v.dims().str());
        for (std::size_t p = 0; p < pixels; ++p) {
            const auto label = v.labels()[p];
            if (label > 1)
                throw Error("the VAE takes two-phase images (labels 0 and 1), found label " +
                            std::to_string(int(label)));
            data[i * pixels + p] = float(label);
        }
    }
    return t;
}

std::vector<Volume> tensorToImages(const torch::Tensor& probabilities) {
    auto t = probabilities.detach().to(torch::kCPU).to(torch::kFloat).contiguous();
    const int ny = int(t.size(2)), nx = int(t.size(3));
    const std::size_t pixels = std::size_t(nx) * std::size_t(ny);
    const float* data = t.data_ptr<float>();
    std::vector<Volume> out;
    for (std::int64_t i = 0; i < t.size(0); ++i) {
        Volume v(Dims{nx, ny, 1});
        for (std::size_t p = 0; p < pixels; ++p) v.labels()[p] = data[std::size_t(i) * pixels + p] > 0.5f ? 1 : 0;
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace

// --- Vae2d ------------------------------------------------------------------------

struct Vae2d::Impl {
    Vae2dConfig config;
    ModelMetadata metadata;
    mutable VaeNet net{nullptr};  // eval() and forward are non-const in torch
    torch::Device device{torch::kCPU};
    mutable std::mutex mutex;  // inference from several threads

    torch::Tensor run(const std::function<torch::Tensor()>& body) const {
        std::lock_guard<std::mutex> lock(mutex);
        torch::NoGradGuard noGrad;
        net->eval();
        return body();
    }
};

Vae2d::Vae2d(const Vae2dConfig& config, std::uint64_t seed) : impl_(std::make_unique<Impl>()) {
    config.validate();
    impl_->config = config;
    impl_->config.latent = config.latentSize();
    torch::manual_seed(seed);
    impl_->net = VaeNet(config);
    impl_->device = detail::chooseDevice(false, 0);
    impl_->net->to(impl_->device);
    impl_->net->eval();
    impl_->metadata.kind = "vae2d";
    impl_->metadata.architecture = config.toJson();
}

Vae2d::~Vae2d() = default;
Vae2d::Vae2d(Vae2d&&) noexcept = default;
Vae2d& Vae2d::operator=(Vae2d&&) noexcept = default;

Vae2d Vae2d::load(const std::filesystem::path& weights) {
    auto metadata = readMetadata(weights, "vae2d", "2D VAE");
    Vae2d model(Vae2dConfig::fromJson(metadata.architecture));
    detail::loadWeights(*model.impl_->net, weights);
    model.impl_->net->to(model.impl_->device);
    model.impl_->metadata = metadata;
    return model;
}

void Vae2d::save(const std::filesystem::path& weights, bool half) {
    auto& m = impl_->metadata;
    m.kind = "vae2d";
    m.architecture = impl_->config.toJson();
    m.name = weights.stem().string();
    m.weightsFile = weights.filename().string();
    m.weightsPrecision = half ? "float16" : "float32";
    if (m.created.empty()) m.created = utcNow();
    detail::saveWeights(*impl_->net, weights, half);
    writeMetadata(m, weights);
}

const Vae2dConfig& Vae2d::config() const { return impl_->config; }
ModelMetadata& Vae2d::metadata() { return impl_->metadata; }
const ModelMetadata& Vae2d::metadata() const { return impl_->metadata; }

std::vector<LayerShape> Vae2d::layerShapes() const {
    Shapes shapes;
    impl_->run([&] {
        auto x = torch::zeros({2, 1, impl_->config.size, impl_->config.size}, impl_->device);
        auto [m, lv] = impl_->net->encode(x, &shapes);
        return impl_->net->decode(m, &shapes);
    });
    return shapes;
}

long Vae2d::parameterCount() const { return detail::countParameters(*impl_->net); }
std::vector<float> Vae2d::flatParameters() const { return detail::flattenState(*impl_->net); }

std::vector<Volume> Vae2d::denoise(const std::vector<Volume>& noisy) const {
    // Images of another size go through overlapping windows of the model's size.
    const int size = impl_->config.size;
    const bool allFit = std::all_of(noisy.begin(), noisy.end(), [size](const Volume& v) {
        return v.dims().is2D() && v.dims().nx == size && v.dims().ny == size;
    });
    if (!allFit) {
        std::vector<Volume> out;
        for (const Volume& v : noisy)
            out.push_back(v.dims().is2D() && v.dims().nx == size && v.dims().ny == size
                              ? denoise(std::vector<Volume>{v}).front()
                              : applyTiled(v, size, [this](const std::vector<Volume>& w) { return denoise(w); }));
        return out;
    }
    std::vector<Volume> out;
    const std::size_t chunk = 64;
    for (std::size_t start = 0; start < noisy.size(); start += chunk) {
        std::vector<Volume> part(noisy.begin() + std::ptrdiff_t(start),
                                 noisy.begin() + std::ptrdiff_t(std::min(noisy.size(), start + chunk)));
        auto x = imagesToTensor(part, impl_->config.size);
        auto y = impl_->run([&] { return impl_->net->decode(impl_->net->encode(x.to(impl_->device)).first); });
        auto images = tensorToImages(y);
        for (std::size_t i = 0; i < images.size(); ++i) {
            images[i].spacing = part[i].spacing;
            images[i].attributes = part[i].attributes;
            images[i].text = part[i].text;
            images[i].text["denoiser"] = impl_->metadata.name.empty() ? "vae2d" : impl_->metadata.name;
            out.push_back(std::move(images[i]));
        }
    }
    return out;
}

Volume Vae2d::denoise(const Volume& noisy) const { return denoise(std::vector<Volume>{noisy}).front(); }

std::vector<std::vector<float>> Vae2d::probabilities(const std::vector<Volume>& noisy) const {
    auto x = imagesToTensor(noisy, impl_->config.size);
    auto y = impl_->run([&] { return impl_->net->decode(impl_->net->encode(x.to(impl_->device)).first); });
    y = y.detach().to(torch::kCPU).to(torch::kFloat).contiguous();
    std::vector<std::vector<float>> out;
    const std::size_t pixels = std::size_t(y.size(2)) * std::size_t(y.size(3));
    for (std::int64_t i = 0; i < y.size(0); ++i) {
        const float* p = y[i].data_ptr<float>();
        out.emplace_back(p, p + pixels);
    }
    return out;
}

std::vector<std::vector<float>> Vae2d::encode(const std::vector<Volume>& images) const {
    std::vector<std::vector<float>> out;
    const std::size_t chunk = 64;
    for (std::size_t start = 0; start < images.size(); start += chunk) {
        std::vector<Volume> part(images.begin() + std::ptrdiff_t(start),
                                 images.begin() + std::ptrdiff_t(std::min(images.size(), start + chunk)));
        auto x = imagesToTensor(part, impl_->config.size);
        auto m = impl_->run([&] { return impl_->net->encode(x.to(impl_->device)).first; }).to(torch::kCPU).contiguous();
        for (std::int64_t i = 0; i < m.size(0); ++i) {
            const float* row = m[i].data_ptr<float>();
            out.emplace_back(row, row + m.size(1));
        }
    }
    return out;
}

std::vector<Volume> Vae2d::decode(const std::vector<std::vector<float>>& latents) const {
    if (latents.empty()) return {};
    const int L = impl_->config.latent;
    auto z = torch::empty({std::int64_t(latents.size()), L}, torch::kFloat);
    for (std::size_t i = 0; i < latents.size(); ++i) {
        if (int(latents[i].size()) != L)
            throw Error("latent of size " + std::to_string(latents[i].size()) + ", the VAE expects " +
                        std::to_string(L));
        std::copy(latents[i].begin(), latents[i].end(), z[std::int64_t(i)].data_ptr<float>());
    }
    return tensorToImages(impl_->run([&] { return impl_->net->decode(z.to(impl_->device)); }));
}

std::vector<Volume> Vae2d::samplePrior(int count, std::uint64_t seed) const {
    auto gen = at::detail::createCPUGenerator(seed);
    auto z = torch::randn({count, impl_->config.latent}, gen, torch::kFloat);
    std::vector<std::vector<float>> latents;
    for (int i = 0; i < count; ++i) latents.emplace_back(z[i].data_ptr<float>(), z[i].data_ptr<float>() + z.size(1));
    return decode(latents);
}

// --- Training -----------------------------------------------------------------------

std::vector<noise::NoiseRanges> Augmentation::defaultRanges() {
    auto sp = noise::NoiseRanges::defaults(noise::NoiseType::SaltPepper);
    sp.flip_probability = noise::ParamRange(0.02, 0.25);
    auto grid = noise::NoiseRanges::defaults(noise::NoiseType::Grid);
    grid.grid_amplitude = noise::ParamRange(0.55, 1.0);
    grid.grid_frequency = noise::ParamRange(4.0, 12.0);
    grid.grid_rotation = noise::ParamRange(0.0, 45.0);
    auto freq = noise::NoiseRanges::defaults(noise::NoiseType::Frequency);
    // Up to 24 rings: on CH images (features ~10-30 px) few rings miss the
    // dominant wavenumbers and change almost nothing (docs/noise.md).
    freq.rings = noise::ParamRange(4.0, 24.0);
    freq.mask_intensity = noise::ParamRange(0.5, 1.0);
    freq.mask_width = noise::ParamRange(0.02, 0.06);
    return {sp, grid, freq};
}

namespace {

// A symmetry of the square (flip x, flip y, transpose) and a periodic shift.
Volume transformImage(const Volume& image, std::mt19937_64& rng) {
    const int n = image.dims().nx;
    const bool flipX = rng() & 1, flipY = rng() & 1, transpose = (rng() & 1) && image.dims().ny == n;
    const int shiftX = int(rng() % std::uint64_t(n)), shiftY = int(rng() % std::uint64_t(image.dims().ny));
    Volume out(image.dims());
    const int ny = image.dims().ny;
    for (int y = 0; y < ny; ++y)
        for (int x = 0; x < n; ++x) {
            int sx = (x + shiftX) % n, sy = (y + shiftY) % ny;
            if (flipX) sx = n - 1 - sx;
            if (flipY) sy = ny - 1 - sy;
            if (transpose) std::swap(sx, sy);
            out.at(x, y) = image.at(sx, sy);
        }
    return out;
}

// One (clean, noisy) training pair from `clean`, a pure function of the seed.
std::pair<Volume, Volume> augment(const Volume& clean, const Augmentation& aug,
                                  const std::vector<noise::NoiseRanges>& ranges, std::uint64_t seed, bool geometric) {
    std::mt19937_64 rng(seed);
    Volume target = geometric && aug.geometric ? transformImage(clean, rng) : clean;
    const double u = double(rng() >> 11) * 0x1.0p-53;
    if (u < aug.cleanFraction || ranges.empty()) return {target, target};
    const auto& r = ranges[rng() % ranges.size()];
    const auto model = r.draw(rng);
    Volume noisy = noise::applyNoise(target, model, rng());
    return {std::move(target), std::move(noisy)};
}

// `sample`: the reparameterisation noise is drawn for the batch's global
// batch and sliced (data-parallel ranks); null = z = mu.
double vaeLossSum(VaeNet& net, const torch::Tensor& input, const torch::Tensor& target, double beta,
                  const detail::Batch* sample, torch::Tensor* meanLoss) {
    auto [mu, logvar] = net->encode(input);
    torch::Tensor z = mu;
    if (sample) z = mu + sample->randn(mu.sizes().slice(1), mu.device()) * torch::exp(0.5 * logvar);
    auto recon = net->decode(z);
    auto bce = torch::binary_cross_entropy(recon, target, {}, torch::Reduction::Sum);
    auto kl = -0.5 * torch::sum(1 + logvar - mu.pow(2) - logvar.exp());
    auto total = bce + beta * kl;
    if (meanLoss) *meanLoss = total / double(input.size(0));
    return total.item<double>();
}

}  // namespace

struct Vae2dTraining : detail::TrainTask {
    Vae2dTraining(Vae2d& model, const std::vector<Volume>& train, const std::vector<Volume>& validation,
                  const Vae2dTrainOptions& options)
        : model_(model), train_(train), options_(options) {
        ranges_ = options.augmentation.noises.empty() ? Augmentation::defaultRanges() : options.augmentation.noises;
        const int size = model.config().size;
        for (const auto& image : train) imagesToTensor({image}, size);  // checks dims and labels up front
        if (!validation.empty()) {
            valClean_ = imagesToTensor(validation, size);
            std::vector<Volume> noisy(validation.size());
            parallelFor(validation.size(), [&](std::size_t i) {
                noisy[i] = options.denoising ? augment(validation[i], options.augmentation, ranges_,
                                                       noise::deriveSeed(options.train.seed ^ 0x7a11da7eULL, i), false)
                                                   .second
                                             : validation[i];
            });
            valNoisy_ = imagesToTensor(noisy, size);
        }
    }
    torch::nn::Module& module() override { return *model_.impl_->net; }
    std::size_t trainCount() const override { return train_.size(); }
    bool hasValidation() const override { return valClean_.defined(); }
    void toDevice(const torch::Device& device) override {
        model_.impl_->device = device;
        if (valClean_.defined()) {
            valClean_ = valClean_.to(device);
            valNoisy_ = valNoisy_.to(device);
        }
    }
    torch::Tensor batchLoss(const detail::Batch& batch, const torch::Device& device) override {
        const auto indices = batch.indices();
        std::vector<Volume> noisy(indices.size()), clean(indices.size());
        const std::uint64_t stepSeed = noise::deriveSeed(options_.train.seed, std::uint64_t(batch.step));
        parallelFor(indices.size(), [&](std::size_t j) {
            // Seeded by the position in the global batch: the same pair on any number of ranks.
            auto pair = augment(train_[indices[j]], options_.augmentation, ranges_,
                                noise::deriveSeed(stepSeed, batch.begin + j), true);
            clean[j] = std::move(pair.first);
            noisy[j] = options_.denoising ? std::move(pair.second) : clean[j];
        });
        auto input = imagesToTensor(noisy, model_.config().size).to(device);
        auto target = imagesToTensor(clean, model_.config().size).to(device);
        torch::Tensor loss;
        vaeLossSum(model_.impl_->net, input, target, options_.beta, &batch, &loss);
        return loss;
    }
    double validationLoss(const torch::Device& device) override {
        double sum = 0;
        const std::int64_t n = valClean_.size(0);
        for (std::int64_t start = 0; start < n; start += 64) {
            const std::int64_t end = std::min<std::int64_t>(n, start + 64);
            sum += vaeLossSum(model_.impl_->net, valNoisy_.slice(0, start, end), valClean_.slice(0, start, end),
                              options_.beta, nullptr, nullptr);
        }
        return sum / double(n);
    }

    Vae2d& model_;
    const std::vector<Volume>& train_;
    Vae2dTrainOptions options_;
    std::vector<noise::NoiseRanges> ranges_;
    torch::Tensor valClean_, valNoisy_;
};

TrainReport trainVae2d(Vae2d& model, const std::vector<Volume>& train, const std::vector<Volume>& validation,
                       const Vae2dTrainOptions& options) {
    refuseTestSamples(train, "training data");
    refuseTestSamples(validation, "validation data");
    if (!(options.beta >= 0)) throw Error("beta must be >= 0");
    if (!(options.augmentation.cleanFraction >= 0 && options.augmentation.cleanFraction <= 1))
        throw Error("clean fraction must be in [0, 1]");
    Vae2dTraining task(model, train, validation, options);
    TrainReport report = detail::runTraining(task, options.train);
    auto& m = model.metadata();
    m.dataHash = hashVolumes(train);
    Json t = options.train.toJson();
    t["beta"] = options.beta;
    t["denoising"] = options.denoising;
    t["clean_fraction"] = options.augmentation.cleanFraction;
    t["geometric_augmentation"] = options.augmentation.geometric;
    t["train_samples"] = long(train.size());
    t["validation_samples"] = long(validation.size());
    t["report"] = report.toJson();
    Json noises = Json::array();
    for (const auto& r :
         (options.augmentation.noises.empty() ? Augmentation::defaultRanges() : options.augmentation.noises))
        noises.push_back(noise::noiseTypeName(r.type));
    t["augmentation"] = noises;
    m.training = t;
    return report;
}

// --- Denoiser ---------------------------------------------------------------------

std::shared_ptr<const noise::Denoiser> makeDenoiser(std::shared_ptr<const Vae2d> model, std::string name) {
    return std::make_shared<noise::FunctionDenoiser>(std::move(name), noise::DenoiserKind::Learned,
                                                     [model](const Volume& noisy) { return model->denoise(noisy); });
}

std::shared_ptr<const noise::Denoiser> defaultDenoiser() {
    auto path = findModel(kDefaultDenoiser);
    auto model = std::make_shared<Vae2d>(Vae2d::load(path));
    return makeDenoiser(model, "vae2d");
}

}  // namespace ms::ml
