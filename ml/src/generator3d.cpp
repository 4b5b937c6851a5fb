// MicroGen3D behind a torch-free API: configuration, model files,
// generation (DDPM / DDIM with classifier-free guidance, decode, predicted
// processing parameters) and the three sequential trainings.
#include "microstudio/ml/generator3d.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "ddpm3d.hpp"
#include "latent_cache.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/ml/splits.hpp"
#include "microstudio/noise/noise.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif
#include "torch_common.hpp"
#include "torch_state_dict.hpp"
#include "vae3d.hpp"
#include "windows3d.hpp"

namespace ms::ml {

// --- Model ------------------------------------------------------------------------------

namespace detail {
FeaturePredictor3d makeFeaturePredictor(const Generator3dConfig& c) {
    // conv-fractions reads the Donor (and, with 3 phases, Mixed) fraction.
    const int extra = c.featureHead == "conv-fractions" ? c.vae.phases - 1 : 0;
    return FeaturePredictor3d(c.featureHead, c.vae.latentChannels, c.vae.latentSize(), int(c.outputs.size()), c.dropout,
                              extra);
}

// The three networks in one module, so one weights file holds them.
struct Generator3dNetImpl : torch::nn::Module {
    explicit Generator3dNetImpl(const Generator3dConfig& c) {
        vae = register_module("vae", Vae3d(c.vae));
        fp = register_module("fp", makeFeaturePredictor(c));
        unet = register_module(
            "unet", Unet3d(c.vae.latentChannels, c.unetFeatures, int(c.conditions.size()), c.unetConditioning));
        // Latents are multiplied by this before diffusion (unit variance,
        // as in Rombach et al.); set by the diffusion training.
        latentScale = register_buffer("latent_scale", torch::ones({1}));
    }
    Vae3d vae{nullptr};
    FeaturePredictor3d fp{nullptr};
    Unet3d unet{nullptr};
    torch::Tensor latentScale;
};
TORCH_MODULE(Generator3dNet);
}  // namespace detail

struct Generator3D::Impl {
    GeneratorCard card;  // configuration, metadata, ranges, condition cloud, weights file
    detail::Generator3dNet net{nullptr};
    torch::Device device{torch::kCPU};
    std::unique_ptr<detail::DiffusionSchedule> schedule;
    std::mutex mutex;  // generation and encoding are serialised

    const Generator3dConfig& config() const { return card.config(); }
    void build(const Generator3dConfig& c) {
        card.setConfig(c);
        net = detail::Generator3dNet(c);
        schedule = std::make_unique<detail::DiffusionSchedule>(c.timesteps, c.betaStart, c.betaEnd);
        device = detail::chooseDevice(false, 0);
        net->to(device);
        net->eval();
    }
    torch::Tensor meanTensor() const {
        std::vector<float> v;
        for (const auto& r : card.featureRanges()) v.push_back(float(r.mean));
        return torch::tensor(v).to(device);
    }
    torch::Tensor stdTensor() const {
        std::vector<float> v;
        for (const auto& r : card.featureRanges()) v.push_back(float(r.std));
        return torch::tensor(v).to(device);
    }
    // Encoder means of volumes, [N, C, d, h, w], in batches, no grad; of
    // their x/y symmetry `variant` (detail::xySymmetry) when given.
    torch::Tensor encodeMeans(const std::vector<Volume>& volumes, int batch = 8, int variant = 0) {
        torch::NoGradGuard noGrad;
        net->eval();
        std::vector<torch::Tensor> parts;
        for (std::size_t i = 0; i < volumes.size(); i += std::size_t(batch)) {
            std::vector<Volume> chunk(
                volumes.begin() + std::ptrdiff_t(i),
                volumes.begin() + std::ptrdiff_t(std::min(volumes.size(), i + std::size_t(batch))));
            auto x = detail::xySymmetry(detail::volumesToTensor(chunk, config().vae), variant).to(device);
            parts.push_back(net->vae->encode(x).first);
        }
        if (parts.empty()) {
            const Dims l = config().vae.latentDims();
            return torch::empty({0, config().vae.latentChannels, l.nz, l.ny, l.nx}, device);
        }
        return torch::cat(parts);
    }
    // What the feature predictor reads beside the latent: [N, phases - 1]
    // phase fractions (Donor, then Mixed) for conv-fractions; else undefined.
    torch::Tensor extraOf(const std::vector<Volume>& volumes) const {
        if (!net->fp->readsExtra()) return {};
        std::vector<float> values;
        for (const auto& v : volumes) {
            values.push_back(float(v.volumeFraction(Donor)));
            if (config().vae.phases == 3) values.push_back(float(v.volumeFraction(Mixed)));
        }
        return torch::tensor(values).view({long(volumes.size()), long(config().vae.phases - 1)}).to(device);
    }
    // Normalised targets [N, outputs] from the volumes' attributes.
    torch::Tensor targetsOf(const std::vector<Volume>& volumes) const {
        std::vector<float> values;
        for (std::size_t i = 0; i < volumes.size(); ++i)
            for (std::size_t k = 0; k < config().outputs.size(); ++k) {
                auto it = volumes[i].attributes.find(config().outputs[k]);
                if (it == volumes[i].attributes.end())
                    throw Error("training volume " + std::to_string(i) + " lacks attribute '" + config().outputs[k] +
                                "'");
                values.push_back(float((it->second - card.featureRanges()[k].mean) / card.featureRanges()[k].std));
            }
        return torch::tensor(values).view({long(volumes.size()), long(config().outputs.size())}).to(device);
    }
};

Generator3D::Generator3D() : impl_(std::make_unique<Impl>()) {}
Generator3D::~Generator3D() = default;
Generator3D::Generator3D(Generator3D&&) noexcept = default;
Generator3D& Generator3D::operator=(Generator3D&&) noexcept = default;

Generator3D Generator3D::create(const Generator3dConfig& config, std::uint64_t seed) {
    Generator3D g;
    torch::manual_seed(seed);
    g.impl_->build(config);
    auto& m = g.impl_->card.metadata();
    m.name = "generator3d";
    m.kind = "generator3d";
    m.description = "MicroGen3D conditional latent diffusion (" + std::to_string(config.vae.phases) + "-phase, " +
                    config.vae.dims.str() + ")";
    m.created = utcNow();
    m.training = Json::object();
    return g;
}

void Generator3D::resetDiffusion(std::uint64_t seed) {
    const auto fresh = create(impl_->config(), seed);
    torch::NoGradGuard noGrad;
    auto& unet = *impl_->net->unet;
    const auto initial = fresh.impl_->net->unet->named_parameters();
    for (auto& p : unet.named_parameters()) p.value().copy_(initial[p.key()]);
    const auto initialBuffers = fresh.impl_->net->unet->named_buffers();
    for (auto& b : unet.named_buffers()) b.value().copy_(initialBuffers[b.key()]);
}

void Generator3D::setFeatureAugment(int variants) {
    auto config = impl_->config();
    config.featureAugment = variants;
    impl_->card.setConfig(config);
}

void Generator3D::resetFeaturePredictor(const std::string& head, std::uint64_t seed) {
    auto config = impl_->config();
    config.featureHead = head;
    config.validate();
    torch::manual_seed(seed);
    auto& net = *impl_->net;
    net.fp = net.replace_module("fp", detail::makeFeaturePredictor(config));
    net.fp->to(impl_->device);
    net.fp->eval();
    impl_->card.setConfig(config);
    if (impl_->card.metadata().training.is_object())
        impl_->card.metadata().training.erase("features");  // to be trained again
}

void Generator3D::setUnetConditioning(const std::string& conditioning) {
    if (conditioning == impl_->config().unetConditioning) return;
    if (conditioning != "scale-shift")
        throw Error("a trained U-Net can gain scale-shift conditioning, not change from '" +
                    impl_->config().unetConditioning + "' to '" + conditioning + "'");
    impl_->net->unet->enableScaleShift();
    impl_->net->unet->to(impl_->device);
    auto config = impl_->config();
    config.unetConditioning = conditioning;
    impl_->card.setConfig(config);
}

void Generator3D::setGuidance(double guidance) {
    auto config = impl_->config();
    config.guidance = guidance;
    impl_->card.setConfig(config);
}

void Generator3D::setMixedBand(double low, double high) {
    auto config = impl_->config();
    if (config.vae.phases != 3) throw Error("the mixed band is a 3-phase model's; this model has 2 phases");
    config.vae.mixedLow = low;
    config.vae.mixedHigh = high;
    config.validate();
    impl_->card.setConfig(config);
}

void Generator3D::setMixedOffset(double offset) {
    auto config = impl_->config();
    if (!(config.vae.phases == 3 && config.vae.classOutput()))
        throw Error("the mixed offset is a 3-phase class-output model's; this model's VAE has " +
                    std::string(config.vae.classOutput() ? "2 phases" : "one level channel (its mixed band)"));
    config.vae.mixedOffset = offset;
    config.validate();
    impl_->card.setConfig(config);
}

void Generator3D::setDiffusionAugment(int variants) {
    auto config = impl_->config();
    config.diffusionAugment = variants;
    impl_->card.setConfig(config);
}

Generator3D Generator3D::load(const std::filesystem::path& folderOrFile) {
    GeneratorCard card = GeneratorCard::read(folderOrFile);
    Generator3D g;
    auto& impl = *g.impl_;
    impl.build(card.config());
    impl.card = std::move(card);
    detail::loadWeights(*impl.net, impl.card.weightsPath());
    impl.net->to(impl.device);
    impl.net->eval();
    return g;
}

const std::filesystem::path& Generator3D::weightsPath() const { return impl_->card.weightsPath(); }

void Generator3D::save(const std::filesystem::path& target, bool half) const {
    std::filesystem::path weights = target;
    if (target.extension() != ".pt") {
        std::filesystem::create_directories(target);
        weights = target / "generator3d.pt";
    } else if (target.has_parent_path()) {
        std::filesystem::create_directories(target.parent_path());
    }
    detail::saveWeights(*impl_->net, weights, half);
    writeMetadata(impl_->card.savedMetadata(weights, half), weights);
}

std::filesystem::path Generator3D::saveInPlace() const {
    if (weightsPath().empty()) throw Error("the model was not loaded from a file: nowhere to save it in place");
    save(weightsPath(), metadata().weightsPrecision == "float16");  // a NAME.pt beside others stays NAME.pt
    return weightsPath().parent_path();
}

const Generator3dConfig& Generator3D::config() const { return impl_->config(); }
const GeneratorCard& Generator3D::card() const { return impl_->card; }
ModelMetadata& Generator3D::metadata() { return impl_->card.metadata(); }
const ModelMetadata& Generator3D::metadata() const { return impl_->card.metadata(); }
std::vector<std::string> Generator3D::conditionNames() const { return impl_->config().conditions; }
std::vector<std::string> Generator3D::outputNames() const { return impl_->config().outputs; }
std::vector<FeatureRange> Generator3D::featureRanges() const { return impl_->card.featureRanges(); }
std::vector<FeatureRange> Generator3D::conditionRanges() const { return impl_->card.conditionRanges(); }
void Generator3D::setFeatureRanges(const std::vector<FeatureRange>& ranges) { impl_->card.setFeatureRanges(ranges); }
void Generator3D::setTrainingData(const std::vector<Volume>& volumes) { impl_->card.setTrainingData(volumes); }
const ConditionCloud& Generator3D::trainingConditions() const { return impl_->card.trainingConditions(); }
void Generator3D::setTrainingConditions(ConditionCloud cloud) { impl_->card.setTrainingConditions(std::move(cloud)); }
FeasibilityReport Generator3D::feasibility(const std::map<std::string, double>& target) const {
    return impl_->card.feasibility(target);
}

ParameterCounts Generator3D::parameterCounts() const {
    ParameterCounts c;
    auto& net = *impl_->net;
    c.vae = detail::countParameters(*net.vae);
    for (auto* m : net.vae->encoderModules()) c.encoder += detail::countParameters(*m);
    for (auto* m : net.vae->decoderModules()) c.decoder += detail::countParameters(*m);
    c.featurePredictor = detail::countParameters(*net.fp);
    c.unet = detail::countParameters(*net.unet);
    return c;
}

std::string Generator3D::device() const { return detail::describeDevice(impl_->device); }

// --- Generation ---------------------------------------------------------------------------

std::string samplerLabel(const GenerateOptions& o, int timesteps) {
    detail::checkSamplerName(o.sampler);
    const std::string T = std::to_string(timesteps);
    if (o.steps < 0 || o.steps > timesteps) throw Error("steps must be in 1.." + T + " (0 = all)");
    if (!(o.eta >= 0.0) || !std::isfinite(o.eta)) throw Error("DDIM eta must be a finite number >= 0");
    if (o.sampler != "ddim" && o.eta != 0.0)
        throw Error("eta applies to the ddim sampler only (" + o.sampler + " given)");
    const std::string ddpm = "ddpm-" + T + (o.posteriorVariance ? "-posterior" : "");
    if (o.sampler == "ddpm") {
        if (o.steps != 0 && o.steps != timesteps)
            throw Error("the ddpm sampler runs all " + T + " steps: give steps 0 (got " + std::to_string(o.steps) +
                        ")");
        return ddpm;
    }
    const int steps = o.steps == 0 ? timesteps : o.steps;
    if (o.sampler == "dpmpp") return "dpmpp2m-" + std::to_string(steps);
    return o.steps == 0 && o.eta == 0.0 ? ddpm : "ddim-" + std::to_string(steps);
}

std::vector<Volume> Generator3D::generate(const std::map<std::string, double>& target, int n, int steps,
                                          double guidance, std::uint64_t seed, ProgressToken* progress) const {
    GenerateOptions o;
    o.steps = steps;
    o.guidance = guidance;
    o.seed = seed;
    o.progress = progress;
    return generate(target, n, o);
}

std::vector<Volume> Generator3D::generate(const std::map<std::string, double>& target, int n,
                                          const GenerateOptions& options) const {
    if (n < 1) throw Error("generate needs n >= 1");
    return generate(std::vector<std::map<std::string, double>>(std::size_t(n), target), options);
}

namespace {
// Waits for queued device work so that wall clocks measure it.
void synchronise(const torch::Tensor& t) {
    if (t.defined() && t.numel() > 0 && !t.device().is_cpu()) (void)t.flatten()[0].item<float>();
}
}  // namespace

namespace {
// Euclidean distance between a target and measured conditions in units of the
// conditions' training std; a condition the measurement lacks (NaN) makes it
// infinite.
double selectionDistance(const std::map<std::string, double>& target, const std::map<std::string, double>& measured,
                         const std::vector<FeatureRange>& ranges) {
    double sum = 0.0;
    for (const auto& r : ranges) {
        const auto t = target.find(r.name);
        if (t == target.end()) continue;  // unconstrained
        const auto m = measured.find(r.name);
        if (m == measured.end() || !std::isfinite(m->second)) return std::numeric_limits<double>::infinity();
        const double d = (m->second - t->second) / (r.std > 0.0 ? r.std : 1.0);
        sum += d * d;
    }
    return std::sqrt(sum);
}
}  // namespace

Dims generationSize(const Vae3dConfig& vae, const Dims& requested) {
    if (requested == Dims{0, 0, 0}) return vae.dims;
    const Dims t = vae.dims;
    const int f = vae.downsampling();
    const std::string asked = "generation size " + requested.str();
    if (requested.nz != t.nz)
        throw Error(asked + ": z must be the training depth " + std::to_string(t.nz) + " (windows tile x and y only)");
    if (requested.nx < t.nx || requested.ny < t.ny)
        throw Error(asked + " is smaller than the training size " + t.str() + " in x or y");
    if (requested.nx % f != 0 || requested.ny % f != 0)
        throw Error(asked + ": x and y must be multiples of " + std::to_string(f) + " (the VAE's downsampling)");
    return requested;
}

std::vector<int> windowStarts(const Vae3dConfig& vae, const Dims& size, bool alongX, LargeVolumeMethod method) {
    const Dims checked = generationSize(vae, size), window = vae.latentDims();
    if (method == LargeVolumeMethod::Whole) return {0};
    const int f = vae.downsampling();
    std::vector<int> starts;
    for (long o : detail::windowOrigins((alongX ? checked.nx : checked.ny) / f, alongX ? window.nx : window.ny))
        starts.push_back(int(o) * f);
    return starts;
}

namespace {
constexpr long kWindowRows = 32;  // least windows per U-Net call on a large latent

// A large latent is decoded whole, not in windows: the decoder is fully
// convolutional, and its instance norms take their statistics over whatever
// extent they get, so decoded windows would each be normalised differently
// (visible seams) while the whole volume is normalised once. Memory grows
// with the volume (activations of the first level: channels[0] x voxels /
// firstStride^3 floats; gen3d-ch2 at 512x512x32: ~0.1 GB each). A zero-padded
// (not periodicXY) VAE gets the latent wrapped by a few cells in x/y first and
// the result cropped, so across the x/y wrap it sees the periodic neighbours
// rather than zeros; a periodicXY VAE wraps by itself. One sample at a time
// (instance norm is per sample anyway), so memory is that of one volume.
torch::Tensor decodeWhole(detail::Vae3dImpl& vae, const torch::Tensor& latent) {
    // Beyond ~levels + 2 latent cells the decoder's convolutions no longer reach.
    const long margin =
        vae.config.periodicXY
            ? 0
            : std::min({long(vae.config.channels.size()) + 2, long(latent.size(3)), long(latent.size(4))});
    namespace F = torch::nn::functional;
    const long f = vae.config.downsampling(), crop = margin * f;
    std::vector<torch::Tensor> volumes;
    for (long i = 0; i < latent.size(0); ++i) {
        const auto one = latent.narrow(0, i, 1);
        const auto padded =
            margin > 0 ? F::pad(one, F::PadFuncOptions({margin, margin, margin, margin, 0, 0}).mode(torch::kCircular))
                       : one;
        volumes.push_back(vae.decode(padded).narrow(3, crop, one.size(3) * f).narrow(4, crop, one.size(4) * f));
    }
    return torch::cat(volumes);
}

// The MLP feature predictor reads one flattened training-size latent: on
// windows it runs on each, and the predictions are averaged per sample.
torch::Tensor windowFeatures(detail::FeaturePredictor3dImpl& fp, const detail::LatentWindows& windows,
                             const torch::Tensor& latent, const torch::Tensor& extra) {
    if (fp.head != "mlp") return fp.forward(latent, extra);  // the conv heads average over any grid
    torch::Tensor sum;
    for (std::size_t i = 0; i < windows.count(); ++i) {
        auto f = fp.forward(windows.extract(latent, i));
        sum = sum.defined() ? sum + f : f;
    }
    return sum / double(windows.count());
}
}  // namespace

std::vector<Volume> Generator3D::generate(const std::vector<std::map<std::string, double>>& targets,
                                          const GenerateOptions& options) const {
    if (options.candidates < 1) throw Error("generate needs candidates >= 1");
    if (!std::isfinite(options.tolerance) || options.tolerance < 0.0)
        throw Error("screening tolerance must be a finite number >= 0");
    if (options.candidates > 1) return generateScreened(targets, options);
    Impl& impl = *impl_;
    const auto& c = impl.config();
    const int n = int(targets.size());
    if (n < 1) throw Error("generate needs n >= 1");
    if (options.batch < 1) throw Error("generate batch must be >= 1");
    if (!std::isfinite(options.guidance)) throw Error("guidance must be finite");
    if (options.wholeMargin < 0) throw Error("the whole-latent margin must be >= 0 cells");
    const std::string sampler = samplerLabel(options, c.timesteps);  // validates sampler, steps, eta
    const int steps = options.steps == 0 ? c.timesteps : options.steps;
    const Dims size = generationSize(c.vae, options.size);
    // Normalised contexts (missing conditions: the training mean, i.e. 0).
    std::vector<float> contexts;
    std::vector<std::map<std::string, double>> used(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
        for (const auto& [name, value] : targets[i]) {
            if (std::find(c.conditions.begin(), c.conditions.end(), name) == c.conditions.end()) {
                std::string names;
                for (const auto& k : c.conditions) names += (names.empty() ? "" : ", ") + k;
                throw Error("unknown condition '" + name + "' (this model takes: " + names + ")");
            }
            if (!std::isfinite(value)) throw Error("condition '" + name + "' is not a finite number");
        }
        for (std::size_t j = 0; j < c.conditions.size(); ++j) {
            const FeatureRange& r = impl.card.featureRanges()[std::size_t(impl.card.conditionIndex()[j])];
            auto it = targets[i].find(c.conditions[j]);
            const double value = it != targets[i].end() ? it->second : r.mean;
            used[i][c.conditions[j]] = value;
            contexts.push_back(float((value - r.mean) / r.std));
        }
    }
    const long width = long(c.conditions.size());

    std::lock_guard<std::mutex> lock(impl.mutex);
    torch::NoGradGuard noGrad;
    impl.net->eval();
    const int f = c.vae.downsampling();
    const Dims l{size.nx / f, size.ny / f, size.nz / f}, window = c.vae.latentDims();
    // An explicit size (the training size included) denoises through windows;
    // at the training size that is one window of weight 1: plain sampling.
    const bool explicitSize = options.size != Dims{0, 0, 0};
    const bool larger = size != c.vae.dims;
    const bool whole = larger && options.largeMethod == LargeVolumeMethod::Whole;
    // Whole-latent denoising needs the windows only for an MLP feature head
    // (it reads one training-size latent at a time).
    std::optional<detail::LatentWindows> windows;
    if (explicitSize && (!whole || impl.net->fp->head == "mlp"))
        windows.emplace(l.nx, l.ny, window.nx, window.ny, impl.device);
    Vae3dConfig volumeConfig = c.vae;
    volumeConfig.dims = size;
    // The batch bounds samples; one sample has many small windows, so a
    // U-Net call takes at least kWindowRows of them (CPU convolutions gain from it).
    const long windowRows = std::max<long>(options.batch, kWindowRows);
    const bool ddpm = sampler.rfind("ddpm-", 0) == 0;
    const bool dpmpp = options.sampler == "dpmpp";
    const auto mean = impl.meanTensor(), stdev = impl.stdTensor();
    std::vector<Volume> out;
    // At most 4 previews per batch (the interval grows on long runs).
    const int previewEvery = options.previewEvery > 0 ? std::max(options.previewEvery, (steps + 4) / 5) : 0;
    const int batches = (n + options.batch - 1) / options.batch;
    for (int b = 0; b < batches; ++b) {
        const long first = long(b) * options.batch;
        const long count = std::min<long>(options.batch, n - first);
        const auto denoiseStart = std::chrono::steady_clock::now();
        // One CPU generator per batch: the start noise, then the sampler's.
        at::Generator generator =
            at::make_generator<at::CPUGeneratorImpl>(noise::deriveSeed(options.seed, std::uint64_t(b)));
        auto start = torch::randn({count, c.vae.latentChannels, l.nz, l.ny, l.nx}, generator,
                                  torch::TensorOptions().dtype(torch::kFloat))
                         .to(impl.device);
        auto ctx = torch::tensor(
                       std::vector<float>(contexts.begin() + first * width, contexts.begin() + (first + count) * width))
                       .view({count, width})
                       .to(impl.device);
        auto unetNoise = [&](const torch::Tensor& x, long t, const torch::Tensor& context) {
            return detail::noiseFromOutput(
                c.prediction, detail::guidedNoise(*impl.net->unet, x, t, c.timesteps, context, options.guidance), x,
                impl.schedule->alphaBar[std::size_t(t)]);
        };
        const detail::WindowNoisePredictor windowNoise = [&](const torch::Tensor& w, long t,
                                                             const torch::Tensor& sample) {
            return unetNoise(w, t, ctx.index_select(0, sample));
        };
        detail::NoisePredictor eps = [&](const torch::Tensor& x, long t) {
            if (whole)
                return detail::wholeLatentNoise([&](const torch::Tensor& p) { return unetNoise(p, t, ctx); }, x,
                                                options.wholeMargin);
            return windows ? windows->blend(x, t, windowNoise, windowRows) : unetNoise(x, t, ctx);
        };
        if (options.onPreview && previewEvery > 0) {
            // Every sampler calls eps once per step and forms x0-hat from it
            // as below; the preview reads that estimate, x and eps untouched.
            eps = [&, inner = eps, step = 0](const torch::Tensor& x, long t) mutable {
                auto e = inner(x, t);
                if (++step % previewEvery == 0 && step < steps) {
                    const double ab = impl.schedule->alphaBar[std::size_t(t)];
                    const auto x0 = (x - std::sqrt(1.0 - ab) * e) / std::sqrt(ab) / impl.net->latentScale;
                    auto decoded = larger ? decodeWhole(*impl.net->vae, x0) : impl.net->vae->decode(x0);
                    const auto previews = detail::tensorToVolumes(decoded, volumeConfig);
                    for (long i = 0; i < count; ++i)
                        options.onPreview(std::size_t(first + i), previews[std::size_t(i)], step, steps);
                }
                return e;
            };
        }
        ProgressToken* progress = options.progress;
        struct BatchProgress {
            ProgressToken* token;
            int b, batches;
        } bp{progress, b, batches};
        ProgressToken relay;  // maps the sampler's 0..1 into this batch's share
        if (progress) {
            relay.setListener([bp](double f, const std::string& msg) {
                bp.token->report((double(bp.b) + f) / double(bp.batches),
                                 "batch " + std::to_string(bp.b + 1) + "/" + std::to_string(bp.batches) + ": " + msg);
            });
        }
        const auto variance =
            options.posteriorVariance ? detail::AncestralVariance::Posterior : detail::AncestralVariance::Beta;
        ProgressToken* stepProgress = progress ? &relay : nullptr;
        torch::Tensor latent =
            ddpm    ? detail::sampleDdpm(*impl.schedule, eps, start, variance, generator, stepProgress)
            : dpmpp ? detail::sampleDpmSolver(*impl.schedule, eps, start, steps, detail::SolverSpacing::LogSnr,
                                              stepProgress)
                    : detail::sampleDdim(*impl.schedule, eps, start, steps, options.eta, generator, stepProgress);
        latent = latent / impl.net->latentScale;
        synchronise(latent);
        const auto decodeStart = std::chrono::steady_clock::now();
        if (options.timing)
            options.timing->denoiseSeconds += std::chrono::duration<double>(decodeStart - denoiseStart).count();
        auto decoded = larger ? decodeWhole(*impl.net->vae, latent) : impl.net->vae->decode(latent);
        auto volumes = detail::tensorToVolumes(decoded, volumeConfig);
        const auto extra = impl.extraOf(volumes);
        auto predicted =
            windows ? windowFeatures(*impl.net->fp, *windows, latent, extra) : impl.net->fp->forward(latent, extra);
        auto features = (predicted * stdev + mean).to(torch::kCPU).to(torch::kDouble).contiguous();
        if (options.timing) options.timing->decodeSeconds += secondsSince(decodeStart);
        for (long i = 0; i < count; ++i) {
            Volume& v = volumes[std::size_t(i)];
            for (std::size_t k = 0; k < c.outputs.size(); ++k)
                v.attributes["predicted_" + c.outputs[k]] = features[i][long(k)].item<double>();
            for (const auto& [name, value] : used[std::size_t(first + i)]) v.attributes["target_" + name] = value;
            v.attributes["guidance"] = options.guidance;
            v.attributes["seed"] = double(options.seed);
            v.attributes["sample"] = double(first + i);
            if (explicitSize) {
                v.attributes["windows"] = whole ? 1.0 : double(windows->count());
                if (larger) v.text["large_method"] = largeVolumeMethodName(options.largeMethod);
            }
            v.text["model"] = impl.card.metadata().name;
            v.text["sampler"] = sampler;
            v.text["source"] = "generator3d";
            out.push_back(std::move(v));
            if (options.onSample) options.onSample(std::size_t(first + i), out.back());
        }
    }
    if (options.progress) options.progress->report(1.0, "generated " + std::to_string(n));
    return out;
}

std::vector<Volume> Generator3D::generateScreened(const std::vector<std::map<std::string, double>>& targets,
                                                  const GenerateOptions& options) const {
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
    if (targets.empty()) throw Error("generate needs n >= 1");
    if (options.batch < 1) throw Error("generate batch must be >= 1");
    const std::size_t k = std::size_t(options.candidates), n = targets.size();
    const bool adaptive = options.tolerance > 0.0;
    const auto ranges = conditionRanges();
    descriptors::Options d;
    d.phases = impl_->config().vae.phases;
    struct Best {
        std::optional<Volume> volume;
        descriptors::Result measured;
        double distance = std::numeric_limits<double>::infinity();
        std::size_t index = 0, draws = 0;
    };
    std::vector<Best> best(n);
    std::vector<std::optional<Volume>> kept(n);
    const double maxDraws = double(n * k);
    double drawsDone = 0.0;
    auto unfinished = [&](const Best& b) { return b.draws < k && !(adaptive && b.distance <= options.tolerance); };
    // A sample is kept (and handed to onSample) once its last draw is measured.
    auto keep = [&](std::size_t i) {
        Volume v = std::move(*best[i].volume);
        descriptors::storeAsAttributes(best[i].measured, v);
        v.attributes["candidates"] = double(best[i].draws);
        v.attributes["candidate"] = double(best[i].index);
        v.attributes["selection_distance"] = best[i].distance;
        v.attributes["sample"] = double(i);
        v.attributes["seed"] = double(options.seed);  // later rounds draw from seeds derived from it
        if (options.onSample) options.onSample(i, v);
        kept[i] = std::move(v);
    };
    // Round 0 draws with options.seed; without a tolerance it is the only
    // round (K draws each: the targets repeated K times in a row). With one,
    // rounds go on for the samples not yet within it, each drawing enough
    // per sample to fill a batch.
    for (std::uint64_t round = 0;; ++round) {
        std::vector<std::size_t> open;
        for (std::size_t i = 0; i < n; ++i)
            if (unfinished(best[i])) open.push_back(i);
        if (open.empty()) break;
        const std::size_t fill = (std::size_t(options.batch) + open.size() - 1) / open.size();
        std::vector<std::map<std::string, double>> drawn;
        std::vector<std::size_t> owner, left(n, 0);  // left: this round's draws of a sample not yet measured
        for (std::size_t i : open) {
            const std::size_t count = adaptive ? std::min(fill, k - best[i].draws) : k;
            drawn.insert(drawn.end(), count, targets[i]);
            owner.insert(owner.end(), count, i);
            left[i] = count;
        }
        // Denoising is ~95% of the work; describing the rest.
        ProgressToken relay;
        if (options.progress) {
            const double before = drawsDone, share = double(drawn.size());
            relay.setListener([&, before, share, round](double f, const std::string& msg) {
                options.progress->report(
                    0.95 * (before + f * share) / maxDraws,
                    (round > 0 ? "round " + std::to_string(round + 1) + ": " : std::string()) + msg);
            });
        }
        // Each batch of candidates is measured as it comes, so samples are
        // kept as soon as their draws are in (same draws and choice as
        // measuring the whole round at once).
        std::vector<Volume> pending;
        std::size_t pendingFirst = 0;
        auto measurePending = [&] {
            if (options.progress)
                options.progress->report(0.95 * (drawsDone + double(pendingFirst + pending.size())) / maxDraws,
                                         "describing " + std::to_string(pending.size()) + " candidates");
            const auto screenStart = std::chrono::steady_clock::now();
            auto measured = descriptors::describeBatch(pending, d);
            if (options.timing) options.timing->screenSeconds += secondsSince(screenStart);
            for (std::size_t j = 0; j < pending.size(); ++j) {
                const std::size_t i = owner[pendingFirst + j];
                Best& b = best[i];
                std::map<std::string, double> values;
                for (const auto& r : ranges) values[r.name] = measured[j].find(r.name).value_or(std::nan(""));
                const double distance = selectionDistance(targets[i], values, ranges);
                if (distance < b.distance || !b.volume) {
                    b.distance = distance;
                    b.volume = std::move(pending[j]);
                    b.measured = std::move(measured[j]);
                    b.index = b.draws;
                }
                ++b.draws;
                if (--left[i] == 0 && !unfinished(b)) keep(i);
            }
            pendingFirst += pending.size();
            pending.clear();
        };
        auto single = options;
        single.candidates = 1;
        single.onPreview = nullptr;  // each sample shows alone once measured
        single.seed = round == 0 ? options.seed : noise::deriveSeed(options.seed, round);
        single.progress = options.progress ? &relay : nullptr;
        single.onSample = [&](std::size_t j, const Volume& candidate) {
            pending.push_back(candidate);
            if ((j + 1) % std::size_t(options.batch) == 0 || j + 1 == drawn.size()) measurePending();
        };
        generate(drawn, single);
        drawsDone += double(drawn.size());
    }
    std::vector<Volume> out;
    out.reserve(n);
    for (auto& v : kept) out.push_back(std::move(*v));
    if (options.progress)
        options.progress->report(1.0, "kept " + std::to_string(out.size()) + " of " +
                                          std::to_string(std::size_t(drawsDone)) + " candidates");
    return out;
#else
    (void)targets;
    (void)options;
    throw Error("screened generation (candidates > 1) needs the descriptors library (built without it)");
#endif
}

std::vector<std::vector<float>> Generator3D::encode(const std::vector<Volume>& volumes) const {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto mu = impl_->encodeMeans(volumes).flatten(1).to(torch::kCPU).contiguous();
    std::vector<std::vector<float>> out;
    for (long i = 0; i < mu.size(0); ++i)
        out.emplace_back(mu[i].data_ptr<float>(), mu[i].data_ptr<float>() + mu.size(1));
    return out;
}

std::vector<std::map<std::string, double>> Generator3D::predictFeatures(const std::vector<Volume>& volumes) const {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    torch::NoGradGuard noGrad;
    auto mu = impl_->encodeMeans(volumes);
    auto f = (impl_->net->fp->forward(mu, impl_->extraOf(volumes)) * impl_->stdTensor() + impl_->meanTensor())
                 .to(torch::kCPU)
                 .to(torch::kDouble);
    std::vector<std::map<std::string, double>> out(volumes.size());
    for (std::size_t i = 0; i < volumes.size(); ++i)
        for (std::size_t k = 0; k < impl_->config().outputs.size(); ++k)
            out[i][impl_->config().outputs[k]] = f[long(i)][long(k)].item<double>();
    return out;
}

namespace {
// The VAE round trip (z = mu) of `volumes` in chunks of 8, each decoded chunk made volumes by `toVolumes`.
template <class ToVolumes>
std::vector<Volume> roundTrip(Generator3D::Impl& impl, const std::vector<Volume>& volumes, ToVolumes toVolumes) {
    std::lock_guard<std::mutex> lock(impl.mutex);
    torch::NoGradGuard noGrad;
    std::vector<Volume> out;
    for (std::size_t i = 0; i < volumes.size(); i += 8) {
        std::vector<Volume> chunk(volumes.begin() + std::ptrdiff_t(i),
                                  volumes.begin() + std::ptrdiff_t(std::min(volumes.size(), i + 8)));
        for (auto& v : toVolumes(impl.net->vae->decode(impl.encodeMeans(chunk)), impl.config().vae))
            out.push_back(std::move(v));
    }
    return out;
}
}  // namespace

std::vector<Volume> Generator3D::reconstruct(const std::vector<Volume>& volumes) const {
    return roundTrip(*impl_, volumes, detail::tensorToVolumes);
}

std::vector<Volume> Generator3D::reconstructMixedMargins(const std::vector<Volume>& volumes) const {
    if (!(impl_->config().vae.phases == 3 && impl_->config().vae.classOutput()))
        throw Error("mixed margins belong to a 3-phase class-output model");
    return roundTrip(*impl_, volumes, detail::mixedMarginVolumes);
}

Generator3dTiming timeGenerator3d(const Generator3dConfig& config, int repeats, bool forceCpu, int threads) {
    if (repeats < 1) throw Error("timing needs repeats >= 1");
    config.validate();
    const torch::Device device = detail::chooseDevice(forceCpu, threads);
    torch::manual_seed(0);
    detail::Generator3dNet net(config);
    net->to(device);
    net->train();
    Generator3dTiming timing;
    timing.device = detail::describeDevice(device);
    timing.parameters.vae = detail::countParameters(*net->vae);
    for (auto* m : net->vae->encoderModules()) timing.parameters.encoder += detail::countParameters(*m);
    for (auto* m : net->vae->decoderModules()) timing.parameters.decoder += detail::countParameters(*m);
    timing.parameters.featurePredictor = detail::countParameters(*net->fp);
    timing.parameters.unet = detail::countParameters(*net->unet);

    auto seconds = [&](auto&& body) {
        body();  // warm-up (allocator, kernels)
        if (device.is_cuda()) torch::cuda::synchronize();
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < repeats; ++i) body();
        if (device.is_cuda()) torch::cuda::synchronize();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
    };
    const Dims d = config.vae.dims, l = config.vae.latentDims();
    const long k = long(config.conditions.size());
    auto x = torch::rand({1, 1, d.nz, d.ny, d.nx}, device);
    timing.vaeTrainStep = seconds([&] {
        net->vae->zero_grad();
        net->vae->loss(x).backward();
    });
    auto z = torch::randn({1, config.vae.latentChannels, l.nz, l.ny, l.nx}, device);
    auto ctx = torch::randn({1, k}, device);
    timing.unetTrainStep = seconds([&] {
        net->unet->zero_grad();
        auto eps = net->unet->forward(z, torch::full({1}, 0.5, device), ctx, torch::ones({1}, device));
        torch::mse_loss(eps, torch::zeros_like(eps)).backward();
    });
    net->eval();
    torch::NoGradGuard noGrad;
    timing.denoiseStep = seconds([&] { detail::guidedNoise(*net->unet, z, 500, config.timesteps, ctx, 2.0); });
    timing.decode = seconds([&] { net->vae->decode(z); });
    return timing;
}

// --- Training ---------------------------------------------------------------------------------

namespace {

using detail::TrainTask;

// Splits [0, n) into chunks of `batch` for validation passes.
template <class F>
double chunkedMean(long n, long batch, F&& lossOfRange) {
    double sum = 0.0;
    for (long i = 0; i < n; i += batch) {
        const long e = std::min(n, i + batch);
        sum += lossOfRange(i, e) * double(e - i);
    }
    return n > 0 ? sum / double(n) : std::numeric_limits<double>::quiet_NaN();
}

// Training latents of every x/y symmetry variant, variant after variant,
// with progress and cancel: thousands of volumes times the variants take
// minutes before the first training step. With a checkpoint, kept beside it
// (latent_cache.hpp) under a key of the VAE's weights, the volumes and the
// variants, so a resumed stage reads them instead.
torch::Tensor encodeVariants(Generator3D::Impl& impl, const std::vector<Volume>& train, int variants,
                             ProgressToken* progress, const std::filesystem::path& checkpoint) {
    const auto cache = detail::latentCachePath(checkpoint);
    std::string key;
    if (!cache.empty()) {
        key = fmt::format("vae {} volumes {} variants {}", detail::weightsKey(*impl.net->vae), hashVolumes(train),
                          variants);
        if (auto cached = detail::readLatentCache(cache, key); cached.defined()) {
            if (progress) progress->report(1.0, "training latents read from " + cache.filename().string());
            return cached.to(impl.device);
        }
    }
    constexpr std::size_t chunk = 256;
    const double total = double(train.size()) * double(variants);
    std::vector<torch::Tensor> parts;
    for (int v = 0; v < variants; ++v)
        for (std::size_t i = 0; i < train.size(); i += chunk) {
            if (progress)
                progress->report((double(v) * double(train.size()) + double(i)) / total,
                                 fmt::format("encoding training latents: variant {}/{}, volume {}/{}", v + 1, variants,
                                             i, train.size()));
            const std::vector<Volume> part(train.begin() + std::ptrdiff_t(i),
                                           train.begin() + std::ptrdiff_t(std::min(train.size(), i + chunk)));
            parts.push_back(impl.encodeMeans(part, 8, v));
        }
    auto latents = parts.empty() ? impl.encodeMeans(train) : torch::cat(parts);
    if (!cache.empty()) detail::writeLatentCache(cache, key, latents);
    return latents;
}

// The stage finished: its cached latents go with its checkpoint.
void dropLatentCache(const TrainReport& report, const TrainOptions& options) {
    std::error_code ignored;
    if (!report.stoppedAtLimit) std::filesystem::remove(detail::latentCachePath(options.checkpoint), ignored);
}

torch::Tensor indexTensor(const std::vector<std::size_t>& indices, const torch::Device& device) {
    std::vector<std::int64_t> v(indices.begin(), indices.end());
    return torch::tensor(v, torch::kLong).to(device);
}

// Per sample of x [N, 1, D, H, W] (CPU), with six uniforms per sample in u
// [N, 6]: circular shifts in z, y, x, mirrors in x and y, x <-> y swap (when
// square) - symmetries of a periodic simulation volume.
torch::Tensor augmentPeriodic(const torch::Tensor& x, const torch::Tensor& u) {
    const auto r = u.accessor<float, 2>();
    const long d = x.size(2), h = x.size(3), w = x.size(4);
    std::vector<torch::Tensor> out;
    for (long i = 0; i < x.size(0); ++i) {
        auto v = torch::roll(x[i],
                             {long(r[i][0] * float(d)) % d, long(r[i][1] * float(h)) % h, long(r[i][2] * float(w)) % w},
                             {1, 2, 3});
        // Mirrors then swap; xySymmetry swaps first, so the mirror bits trade places.
        const bool mirrorX = r[i][3] < 0.5f, mirrorY = r[i][4] < 0.5f, swap = h == w && r[i][5] < 0.5f;
        const int variant = swap ? 4 | (mirrorX ? 2 : 0) | (mirrorY ? 1 : 0) : (mirrorX ? 1 : 0) | (mirrorY ? 2 : 0);
        out.push_back(detail::xySymmetry(v.unsqueeze(0), variant).squeeze(0));
    }
    return torch::stack(out);
}

struct VaeTask : TrainTask {
    detail::Vae3dImpl& vae;
    torch::Tensor train, validation;  // CPU, [N, 1, D, H, W]
    bool augment = false;
    VaeTask(detail::Vae3dImpl& v, torch::Tensor t, torch::Tensor val) : vae(v), train(t), validation(val) {}
    torch::nn::Module& module() override { return vae; }
    std::size_t trainCount() const override { return std::size_t(train.size(0)); }
    bool hasValidation() const override { return validation.size(0) > 0; }
    torch::Tensor batchLoss(const detail::Batch& batch, const torch::Device& device) override {
        auto x = train.index_select(0, indexTensor(batch.indices(), torch::kCPU));
        if (augment) x = augmentPeriodic(x, batch.rand({6}, torch::kCPU).to(torch::kFloat).contiguous());
        x = x.to(device);
        // Reparameterisation noise for the global batch, this rank's rows.
        auto [mu, logvar] = vae.encode(x);
        return vae.loss(x, mu, logvar, batch.randn(mu.sizes().slice(1), device));
    }
    double validationLoss(const torch::Device& device) override {
        return chunkedMean(validation.size(0), 8, [&](long a, long b) {
            return vae.loss(validation.slice(0, a, b).to(device)).item<double>();
        });
    }
};

struct FeatureTask : TrainTask {
    detail::FeaturePredictor3dImpl& fp;
    torch::Tensor x, y, vx, vy;   // latents and normalised targets (device)
    torch::Tensor extra, vextra;  // what the predictor reads beside them (undefined: nothing)
    FeatureTask(detail::FeaturePredictor3dImpl& f, torch::Tensor x_, torch::Tensor y_, torch::Tensor vx_,
                torch::Tensor vy_)
        : fp(f), x(x_), y(y_), vx(vx_), vy(vy_) {}
    torch::nn::Module& module() override { return fp; }
    std::size_t trainCount() const override { return std::size_t(x.size(0)); }
    bool hasValidation() const override { return vx.size(0) > 0; }
    // Dropout masks are drawn per rank (not sliced from the global batch):
    // with several ranks this stage matches one process only statistically.
    torch::Tensor batchLoss(const detail::Batch& batch, const torch::Device& device) override {
        auto i = indexTensor(batch.indices(), device);
        const auto e = extra.defined() ? extra.index_select(0, i) : extra;
        return torch::mse_loss(fp.forward(x.index_select(0, i), e), y.index_select(0, i));
    }
    double validationLoss(const torch::Device&) override {
        return torch::mse_loss(fp.forward(vx, vextra), vy).item<double>();
    }
};

struct DiffusionTask : TrainTask {
    detail::Unet3dImpl& unet;
    const detail::DiffusionSchedule& schedule;
    double conditionDropout;
    std::string prediction;
    torch::Tensor x, ctx, vx, vctx;  // scaled latents and normalised contexts (device)
    DiffusionTask(detail::Unet3dImpl& u, const detail::DiffusionSchedule& s, double dropout, std::string prediction_,
                  torch::Tensor x_, torch::Tensor c_, torch::Tensor vx_, torch::Tensor vc_)
        : unet(u),
          schedule(s),
          conditionDropout(dropout),
          prediction(std::move(prediction_)),
          x(x_),
          ctx(c_),
          vx(vx_),
          vctx(vc_) {}
    torch::nn::Module& module() override { return unet; }
    std::size_t trainCount() const override { return std::size_t(x.size(0)); }
    bool hasValidation() const override { return vx.size(0) > 0; }
    // Training (batch set): timesteps, noise and dropout drawn for the
    // global batch and sliced; validation: from `generator`, no dropout.
    torch::Tensor loss(const torch::Tensor& x0, const torch::Tensor& c, at::Generator* generator, double dropout,
                       const detail::Batch* batch = nullptr) {
        const long n = x0.size(0);
        auto cpu = torch::TensorOptions().dtype(torch::kFloat);
        torch::Tensor t, noise, keep;
        if (generator) {
            t = torch::randint(schedule.timesteps, {n}, *generator, torch::TensorOptions().dtype(torch::kLong));
            noise = torch::randn(x0.sizes(), *generator, cpu);
            keep = torch::ones({n}, cpu);
        } else {
            t = batch->randint(schedule.timesteps, torch::kCPU);
            noise = batch->randn(x0.sizes().slice(1), torch::kCPU);
            keep = (batch->rand({}, torch::kCPU) >= dropout).to(torch::kFloat);
        }
        t = t.to(x0.device());
        noise = noise.to(x0.device());
        auto xt = schedule.qSample(x0, t, noise);
        auto time = t.to(torch::kFloat) / double(schedule.timesteps);
        return torch::mse_loss(unet.forward(xt, time, c, keep.to(x0.device())),
                               detail::predictionTarget(prediction, schedule, x0, t, noise));
    }
    torch::Tensor batchLoss(const detail::Batch& batch, const torch::Device& device) override {
        auto i = indexTensor(batch.indices(), device);
        return loss(x.index_select(0, i), ctx.index_select(0, i), nullptr, conditionDropout, &batch);
    }
    double validationLoss(const torch::Device&) override {
        // Fixed timesteps and noise: comparable across epochs.
        at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(12345);
        return chunkedMean(vx.size(0), 32, [&](long a, long b) {
            return loss(vx.slice(0, a, b), vctx.slice(0, a, b), &generator, 0.0).item<double>();
        });
    }
};

void storeReport(Generator3D& model, const char* phase, const TrainReport& report, const TrainOptions& options,
                 std::size_t samples) {
    Json& training = model.metadata().training;
    if (!training.is_object()) training = Json::object();
    Json j = report.toJson();
    j["options"] = options.toJson();
    j["samples"] = double(samples);
    training[phase] = j;
}

}  // namespace

TrainReport trainGenerator3dVae(Generator3D& model, const std::vector<Volume>& train,
                                const std::vector<Volume>& validation, const TrainOptions& options) {
    refuseTestSamples(train, "training data");
    refuseTestSamples(validation, "validation data");
    auto& impl = model.impl();
    VaeTask task(*impl.net->vae, detail::volumesToTensor(train, impl.config().vae),
                 detail::volumesToTensor(validation, impl.config().vae));
    task.augment = impl.config().vaeAugment;
    TrainReport report = detail::runTraining(task, options);
    impl.net->to(impl.device);
    impl.net->eval();
    storeReport(model, "vae", report, options, train.size());
    model.metadata().dataHash = hashVolumes(train);
    return report;
}

TrainReport trainGenerator3dFeatures(Generator3D& model, const std::vector<Volume>& train,
                                     const std::vector<Volume>& validation, const TrainOptions& options) {
    refuseTestSamples(train, "training data");
    refuseTestSamples(validation, "validation data");
    auto& impl = model.impl();
    const auto& outputs = impl.config().outputs;
    // Ranges and normalisation from the training data, which must carry every output.
    for (std::size_t i = 0; i < train.size(); ++i)
        for (const auto& name : outputs)
            if (!train[i].attributes.count(name))
                throw Error("training volume " + std::to_string(i) + " lacks attribute '" + name + "'");
    impl.card.setTrainingDataOnce(train);  // ranges, normalisation and the condition cloud, unless set
    const auto device = detail::chooseDevice(options.forceCpu, options.threads);
    impl.device = device;
    impl.net->to(device);
    // Training latents of every symmetry variant (validation: as is);
    // the descriptors and processing parameters are invariant under them.
    FeatureTask task(*impl.net->fp,
                     encodeVariants(impl, train, impl.config().featureAugment, options.progress, options.checkpoint),
                     impl.targetsOf(train).repeat({impl.config().featureAugment, 1}), impl.encodeMeans(validation),
                     impl.targetsOf(validation));
    if (const auto e = impl.extraOf(train); e.defined()) {
        impl.net->fp->setExtraScale(e);
        task.extra = e.repeat({impl.config().featureAugment, 1});
        task.vextra = impl.extraOf(validation);
    }
    TrainReport report = detail::runTraining(task, options);
    dropLatentCache(report, options);
    impl.net->to(impl.device);
    impl.net->eval();
    storeReport(model, "features", report, options, train.size());
    model.metadata().training["features"]["symmetry_variants"] = impl.config().featureAugment;
    model.metadata().training["features"]["head"] = impl.config().featureHead;
    return report;
}

TrainReport trainGenerator3dDiffusion(Generator3D& model, const std::vector<Volume>& train,
                                      const std::vector<Volume>& validation, const TrainOptions& options) {
    refuseTestSamples(train, "training data");
    refuseTestSamples(validation, "validation data");
    auto& impl = model.impl();
    const auto device = detail::chooseDevice(options.forceCpu, options.threads);
    impl.device = device;
    impl.net->to(device);
    torch::Tensor x, vx, ctx, vctx;
    {
        torch::NoGradGuard noGrad;
        impl.net->eval();
        // Training latents of every symmetry variant (validation: as is).
        x = encodeVariants(impl, train, impl.config().diffusionAugment, options.progress, options.checkpoint);
        vx = impl.encodeMeans(validation);
        // Unit-variance latents for the diffusion (kept in the weights).
        const double sd = x.numel() > 1 ? x.std().item<double>() : 1.0;
        impl.net->latentScale.fill_(sd > 1e-8 ? 1.0 / sd : 1.0);
        auto idx = torch::tensor(impl.card.conditionIndex(), torch::kLong).to(device);
        if (impl.config().diffusionContext == "data") {
            // Context: the volumes' own descriptors, normalised as targets are at sampling
            // (by the model's normalisation, set here when this stage is the first to need it).
            impl.card.setTrainingDataOnce(train);
            ctx = impl.targetsOf(train).index_select(1, idx).repeat({impl.config().diffusionAugment, 1});
            vctx = validation.empty() ? ctx.slice(0, 0, 0) : impl.targetsOf(validation).index_select(1, idx);
        } else {
            // Context: the feature predictor's (normalised) outputs, as in the paper.
            auto extra = impl.extraOf(train);
            if (extra.defined()) extra = extra.repeat({impl.config().diffusionAugment, 1});
            ctx = impl.net->fp->forward(x, extra).index_select(1, idx);
            vctx = impl.net->fp->forward(vx, impl.extraOf(validation)).index_select(1, idx);
        }
        x = x * impl.net->latentScale;
        vx = vx * impl.net->latentScale;
    }
    DiffusionTask task(*impl.net->unet, *impl.schedule, impl.config().conditionDropout, impl.config().prediction, x,
                       ctx, vx, vctx);
    TrainReport report = detail::runTraining(task, options);
    dropLatentCache(report, options);
    impl.net->to(impl.device);
    impl.net->eval();
    storeReport(model, "diffusion", report, options, train.size());
    model.metadata().training["diffusion"]["symmetry_variants"] = impl.config().diffusionAugment;
    return report;
}

}  // namespace ms::ml

namespace ms::ml::detail {

namespace {
std::string shapeText(at::IntArrayRef sizes) {
    return fmt::format("[{}]", fmt::join(sizes.begin(), sizes.end(), ", "));
}
}  // namespace

void setGeneratorState(Generator3D& model, const StateDict& named) {
    torch::NoGradGuard noGrad;
    auto& net = *model.impl().net;
    auto parameters = net.named_parameters(true);
    auto buffers = net.named_buffers(true);
    std::set<std::string> assigned;
    for (const auto& [name, value] : named) {
        torch::Tensor* target = parameters.find(name);
        if (!target) target = buffers.find(name);
        if (!target) throw Error("no parameter " + name + " in MicroStudio's network");
        if (!assigned.insert(name).second) throw Error(name + " is given twice");
        if (target->sizes() != value.sizes())
            throw Error(name + " has shape " + shapeText(value.sizes()) + ", MicroStudio's network " +
                        shapeText(target->sizes()));
        target->copy_(value.to(target->dtype()));
    }
    for (const auto& p : parameters)
        if (!assigned.count(p.key())) throw Error("no value for " + p.key());
}

}  // namespace ms::ml::detail
