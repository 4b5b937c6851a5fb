// Latent diffusion over the VAE latents: DDPM schedule, the residual MLP
// epsilon predictor with time (and condition) embedding, DDIM / ancestral
// sampling, and training on the shared loop.
#include "microstudio/ml/ldm2d.hpp"

#include <cmath>
#include <mutex>

#include "microstudio/core/error.hpp"
#include "microstudio/noise/noise.hpp"
#include "ddpm3d.hpp"  // DPM-Solver++(2M), shared with the 3D generator
#include "torch_common.hpp"

namespace ms::ml {

// --- Schedule ----------------------------------------------------------------------

DiffusionSchedule DiffusionSchedule::linear(int steps, double betaStart, double betaEnd) {
    if (steps < 1) throw Error("diffusion needs at least one step");
    if (!(betaStart > 0 && betaEnd >= betaStart && betaEnd < 1)) throw Error("need 0 < beta_start <= beta_end < 1");
    DiffusionSchedule s;
    double product = 1.0;
    for (int t = 0; t < steps; ++t) {
        const double beta = steps == 1 ? betaStart : betaStart + (betaEnd - betaStart) * double(t) / double(steps - 1);
        s.betas.push_back(beta);
        s.alphas.push_back(1.0 - beta);
        product *= 1.0 - beta;
        s.alphaBar.push_back(product);
    }
    return s;
}

std::vector<float> DiffusionSchedule::noise(const std::vector<float>& x0, int t, const std::vector<float>& eps) const {
    if (t < 0 || t >= steps()) throw Error("timestep out of range");
    if (x0.size() != eps.size()) throw Error("x0 and eps differ in size");
    const double a = std::sqrt(alphaBar[std::size_t(t)]), b = std::sqrt(1.0 - alphaBar[std::size_t(t)]);
    std::vector<float> out(x0.size());
    for (std::size_t i = 0; i < x0.size(); ++i) out[i] = float(a * x0[i] + b * eps[i]);
    return out;
}

std::vector<int> DiffusionSchedule::ddimTimesteps(int k) const {
    const int T = steps();
    if (k < 1 || k > T) throw Error("DDIM steps must be in 1.." + std::to_string(T));
    std::vector<int> ts;
    for (int i = 0; i < k; ++i) {
        // Evenly spaced from T-1 down to 0 (k == T gives every step).
        const int t = k == 1 ? T - 1 : int(std::lround(double(T - 1) * double(k - 1 - i) / double(k - 1)));
        ts.push_back(t);
    }
    return ts;
}

// --- Config ---------------------------------------------------------------------------

void Ldm2dConfig::validate() const {
    if (latent < 1) throw Error("LDM latent size must be >= 1");
    if (hidden < 2 || blocks < 0) throw Error("LDM needs hidden >= 2 and blocks >= 0");
    if (timeEmbedding < 2 || timeEmbedding % 2) throw Error("LDM time embedding must be even and >= 2");
    if (!(conditionDropout >= 0 && conditionDropout <= 1)) throw Error("condition dropout must be in [0, 1]");
    if (prediction != "eps" && prediction != "v")
        throw Error("LDM prediction must be eps or v (got '" + prediction + "')");
    DiffusionSchedule::linear(steps, betaStart, betaEnd);
}

Json Ldm2dConfig::toJson() const {
    Json j = Json::object();
    j["latent"] = latent;
    j["hidden"] = hidden;
    j["blocks"] = blocks;
    j["time_embedding"] = timeEmbedding;
    j["conditions"] = Json(conditions);
    j["steps"] = steps;
    j["beta_start"] = betaStart;
    j["beta_end"] = betaEnd;
    j["condition_dropout"] = conditionDropout;
    j["prediction"] = prediction;
    return j;
}

Ldm2dConfig Ldm2dConfig::fromJson(const Json& j) {
    Ldm2dConfig c;
    c.latent = int(numberOr(j, "latent", c.latent));
    c.hidden = int(numberOr(j, "hidden", c.hidden));
    c.blocks = int(numberOr(j, "blocks", c.blocks));
    c.timeEmbedding = int(numberOr(j, "time_embedding", c.timeEmbedding));
    if (j.contains("conditions")) c.conditions = stringsAt(j, "conditions");
    c.steps = int(numberOr(j, "steps", c.steps));
    c.betaStart = numberOr(j, "beta_start", c.betaStart);
    c.betaEnd = numberOr(j, "beta_end", c.betaEnd);
    c.conditionDropout = numberOr(j, "condition_dropout", c.conditionDropout);
    c.prediction = stringOr(j, "prediction", "eps");  // models from before v prediction  // models before v prediction
    c.validate();
    return c;
}

// --- Network -----------------------------------------------------------------------------

namespace {

torch::Tensor timeEmbedding(const torch::Tensor& t, int dim) {
    const int half = dim / 2;
    auto freqs =
        torch::exp(-std::log(10000.0) *
                   torch::arange(half, torch::TensorOptions().dtype(torch::kFloat).device(t.device())) / double(half));
    auto args = t.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
    return torch::cat({torch::sin(args), torch::cos(args)}, 1);
}

// The network output at x_t (abar_t per row in `ab`, shape [N, 1]) as the
// noise and the clean-sample estimates.
struct Estimates {
    torch::Tensor eps, x0;
};
Estimates estimatesFrom(const std::string& prediction, const torch::Tensor& out, const torch::Tensor& xt,
                        const torch::Tensor& ab) {
    const auto a = torch::sqrt(ab), b = torch::sqrt(1 - ab);
    if (prediction == "v") return {b * xt + a * out, a * xt - b * out};
    return {out, (xt - b * out) / a};
}

// The training target for the network output.
torch::Tensor targetFor(const std::string& prediction, const torch::Tensor& x0, const torch::Tensor& eps,
                        const torch::Tensor& ab) {
    if (prediction == "v") return torch::sqrt(ab) * eps - torch::sqrt(1 - ab) * x0;
    return eps;
}

struct ResBlockImpl : torch::nn::Module {
    explicit ResBlockImpl(int hidden) {
        norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden})));
        fc1 = register_module("fc1", torch::nn::Linear(hidden, hidden));
        emb = register_module("emb", torch::nn::Linear(hidden, hidden));
        fc2 = register_module("fc2", torch::nn::Linear(hidden, hidden));
    }
    torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& e) {
        auto x = torch::silu(fc1->forward(norm->forward(h)) + emb->forward(e));
        return h + fc2->forward(x);
    }
    torch::nn::LayerNorm norm{nullptr};
    torch::nn::Linear fc1{nullptr}, emb{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ResBlock);

struct LdmNetImpl : torch::nn::Module {
    explicit LdmNetImpl(const Ldm2dConfig& c) : config(c) {
        const int C = int(c.conditions.size());
        input = register_module("input", torch::nn::Linear(c.latent, c.hidden));
        time1 = register_module("time1", torch::nn::Linear(c.timeEmbedding, c.hidden));
        time2 = register_module("time2", torch::nn::Linear(c.hidden, c.hidden));
        if (C > 0) {
            cond1 = register_module("cond1", torch::nn::Linear(C, c.hidden));
            cond2 = register_module("cond2", torch::nn::Linear(c.hidden, c.hidden));
            nullCondition = register_parameter("null_condition", torch::zeros({c.hidden}));
        }
        for (int b = 0; b < c.blocks; ++b)
            blocks.push_back(register_module("block" + std::to_string(b + 1), ResBlock(c.hidden)));
        outNorm = register_module("out_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
        output = register_module("output", torch::nn::Linear(c.hidden, c.latent));
        // Normalisation of latents and conditions, saved with the weights.
        latentMean = register_buffer("latent_mean", torch::zeros({c.latent}));
        latentStd = register_buffer("latent_std", torch::ones({c.latent}));
        conditionMean = register_buffer("condition_mean", torch::zeros({std::max(C, 1)}));
        conditionStd = register_buffer("condition_std", torch::ones({std::max(C, 1)}));
    }

    // x: normalised latents [N, L]; t: [N] int64; cond: normalised [N, C]
    // (or undefined); keep: [N] float, 1 = use the condition, 0 = null.
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& cond,
                          const torch::Tensor& keep) {
        auto e = time2->forward(torch::silu(time1->forward(timeEmbedding(t, config.timeEmbedding))));
        if (!config.conditions.empty()) {
            auto ce = cond2->forward(torch::silu(cond1->forward(cond)));
            auto k = keep.unsqueeze(1);
            e = e + k * ce + (1 - k) * nullCondition.unsqueeze(0);
        }
        e = torch::silu(e);
        auto h = input->forward(x);
        for (auto& b : blocks) h = b->forward(h, e);
        return output->forward(torch::silu(outNorm->forward(h)));
    }

    Ldm2dConfig config;
    torch::nn::Linear input{nullptr}, time1{nullptr}, time2{nullptr}, cond1{nullptr}, cond2{nullptr}, output{nullptr};
    torch::nn::LayerNorm outNorm{nullptr};
    std::vector<ResBlock> blocks;
    torch::Tensor nullCondition, latentMean, latentStd, conditionMean, conditionStd;
};
TORCH_MODULE(LdmNet);

}  // namespace

struct Ldm2d::Impl {
    Ldm2dConfig config;
    DiffusionSchedule schedule;
    ModelMetadata metadata;
    mutable LdmNet net{nullptr};
    torch::Device device{torch::kCPU};
    mutable std::mutex mutex;
};

Ldm2d::Ldm2d(const Ldm2dConfig& config, std::uint64_t seed) : impl_(std::make_unique<Impl>()) {
    config.validate();
    impl_->config = config;
    impl_->schedule = DiffusionSchedule::linear(config.steps, config.betaStart, config.betaEnd);
    torch::manual_seed(seed);
    impl_->net = LdmNet(config);
    impl_->device = detail::chooseDevice(false, 0);
    impl_->net->to(impl_->device);
    impl_->net->eval();
    impl_->metadata.kind = "ldm2d";
    impl_->metadata.architecture = config.toJson();
    impl_->metadata.attributes = config.conditions;
}

Ldm2d::~Ldm2d() = default;
Ldm2d::Ldm2d(Ldm2d&&) noexcept = default;
Ldm2d& Ldm2d::operator=(Ldm2d&&) noexcept = default;

Ldm2d Ldm2d::load(const std::filesystem::path& weights) {
    auto metadata = readMetadata(weights, "ldm2d", "2D LDM");
    Ldm2d model(Ldm2dConfig::fromJson(metadata.architecture));
    detail::loadWeights(*model.impl_->net, weights);
    model.impl_->net->to(model.impl_->device);
    model.impl_->metadata = metadata;
    return model;
}

void Ldm2d::save(const std::filesystem::path& weights, bool half) {
    auto& m = impl_->metadata;
    m.kind = "ldm2d";
    m.architecture = impl_->config.toJson();
    m.attributes = impl_->config.conditions;
    if (!m.attributes.empty()) {
        auto mean = impl_->net->conditionMean.to(torch::kCPU).to(torch::kDouble).contiguous();
        auto stdev = impl_->net->conditionStd.to(torch::kCPU).to(torch::kDouble).contiguous();
        m.attributeMean.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + m.attributes.size());
        m.attributeStd.assign(stdev.data_ptr<double>(), stdev.data_ptr<double>() + m.attributes.size());
    }
    m.name = weights.stem().string();
    m.weightsFile = weights.filename().string();
    m.weightsPrecision = half ? "float16" : "float32";
    if (m.created.empty()) m.created = utcNow();
    detail::saveWeights(*impl_->net, weights, half);
    writeMetadata(m, weights);
}

const Ldm2dConfig& Ldm2d::config() const { return impl_->config; }
const DiffusionSchedule& Ldm2d::schedule() const { return impl_->schedule; }
ModelMetadata& Ldm2d::metadata() { return impl_->metadata; }
const ModelMetadata& Ldm2d::metadata() const { return impl_->metadata; }
long Ldm2d::parameterCount() const { return detail::countParameters(*impl_->net); }
std::vector<float> Ldm2d::flatParameters() const { return detail::flattenState(*impl_->net); }

namespace {

torch::Tensor conditionTensor(const std::vector<std::vector<double>>& rows, std::size_t count, std::size_t columns) {
    auto t = torch::zeros({std::int64_t(count), std::int64_t(std::max<std::size_t>(columns, 1))}, torch::kFloat);
    if (rows.empty() || columns == 0) return t;
    if (rows.size() != 1 && rows.size() != count)
        throw Error("give one condition row for all samples or one per sample (" + std::to_string(count) + ")");
    for (std::size_t i = 0; i < count; ++i) {
        const auto& r = rows.size() == 1 ? rows[0] : rows[i];
        if (r.size() != columns)
            throw Error("a condition row has " + std::to_string(r.size()) + " values, the model takes " +
                        std::to_string(columns));
        for (std::size_t c = 0; c < columns; ++c) t[std::int64_t(i)][std::int64_t(c)] = float(r[c]);
    }
    return t;
}

}  // namespace

std::string Ldm2d::samplerLabel(const Ldm2dSampleOptions& o) const {
    detail::checkSamplerName(o.sampler);
    if (!(o.eta >= 0) || !std::isfinite(o.eta)) throw Error("eta must be >= 0");
    const int T = impl_->schedule.steps();
    if (o.ancestral || o.sampler == "ddpm") {
        if (o.eta != 0.0 && o.sampler != "ddim")
            throw Error("eta applies to the ddim sampler only (" + o.sampler + " given)");
        return "ddpm-" + std::to_string(T);
    }
    if (o.sampler != "ddim" && o.eta != 0.0)
        throw Error("eta applies to the ddim sampler only (" + o.sampler + " given)");
    if (o.steps < 1 || o.steps > T)
        throw Error("steps must be in 1.." + std::to_string(T) + " (got " + std::to_string(o.steps) + ")");
    return (o.sampler == "dpmpp" ? "dpmpp2m-" : "ddim-") + std::to_string(o.steps);
}

std::vector<std::vector<float>> Ldm2d::sample(const Ldm2dSampleOptions& o) const {
    const auto& c = impl_->config;
    const auto& s = impl_->schedule;
    if (o.count < 1) throw Error("sample count must be >= 1");
    const std::string label = samplerLabel(o);  // validates sampler, steps, eta
    const bool conditional = !c.conditions.empty() && !o.conditions.empty();
    std::lock_guard<std::mutex> lock(impl_->mutex);
    torch::NoGradGuard noGrad;
    auto& net = impl_->net;
    net->eval();
    const auto device = impl_->device;
    const std::int64_t N = o.count;
    torch::Tensor cond = conditionTensor(o.conditions, std::size_t(N), c.conditions.size()).to(device);
    if (conditional) cond = (cond - net->conditionMean) / net->conditionStd;
    auto ones = torch::ones({N}, torch::TensorOptions().device(device));
    auto zeros = torch::zeros({N}, torch::TensorOptions().device(device));

    auto gen = at::detail::createCPUGenerator(o.seed);
    auto randn = [&] { return torch::randn({N, c.latent}, gen, torch::kFloat).to(device); };
    // Guided network output at step t as (eps, x0) estimates.
    auto predict = [&](const torch::Tensor& x, int t) {
        auto tt = torch::full({N}, t, torch::TensorOptions().dtype(torch::kInt64).device(device));
        torch::Tensor out;
        if (!conditional) {
            out = net->forward(x, tt, cond, zeros);
        } else {
            out = net->forward(x, tt, cond, ones);
            if (o.guidance != 1.0) {
                auto unconditioned = net->forward(x, tt, cond, zeros);
                out = unconditioned + o.guidance * (out - unconditioned);
            }
        }
        auto ab = torch::full({1, 1}, s.alphaBar[std::size_t(t)], torch::TensorOptions().device(device));
        return estimatesFrom(c.prediction, out, x, ab);
    };

    torch::Tensor x = randn();
    if (label.rfind("dpmpp2m-", 0) == 0) {
        // The network output as its x0 estimate (v: sqrt(abar) x - sqrt(1 - abar) v).
        detail::DataPredictor x0 = [&](const torch::Tensor& xt, long t) { return predict(xt, int(t)).x0; };
        x = detail::sampleDpmSolver(s.alphaBar, x0, x, o.steps);
    } else if (o.ancestral || o.sampler == "ddpm") {
        for (int t = s.steps() - 1; t >= 0; --t) {
            auto eps = predict(x, t).eps;
            const double alpha = s.alphas[std::size_t(t)], ab = s.alphaBar[std::size_t(t)];
            auto mean = (x - (1.0 - alpha) / std::sqrt(1.0 - ab) * eps) / std::sqrt(alpha);
            if (t > 0) {
                const double variance = s.betas[std::size_t(t)] * (1.0 - s.alphaBar[std::size_t(t - 1)]) / (1.0 - ab);
                x = mean + std::sqrt(variance) * randn();
            } else {
                x = mean;
            }
        }
    } else {
        const auto ts = s.ddimTimesteps(o.steps);
        for (std::size_t i = 0; i < ts.size(); ++i) {
            const int t = ts[i];
            const int prev = i + 1 < ts.size() ? ts[i + 1] : -1;
            const double ab = s.alphaBar[std::size_t(t)];
            const double abPrev = prev >= 0 ? s.alphaBar[std::size_t(prev)] : 1.0;
            auto [eps, x0] = predict(x, t);
            const double sigma =
                o.eta * std::sqrt((1.0 - abPrev) / (1.0 - ab)) * std::sqrt(std::max(0.0, 1.0 - ab / abPrev));
            x = std::sqrt(abPrev) * x0 + std::sqrt(std::max(0.0, 1.0 - abPrev - sigma * sigma)) * eps;
            if (sigma > 0) x = x + sigma * randn();
        }
    }
    x = (x * net->latentStd + net->latentMean).to(torch::kCPU).contiguous();
    std::vector<std::vector<float>> out;
    for (std::int64_t i = 0; i < N; ++i) out.emplace_back(x[i].data_ptr<float>(), x[i].data_ptr<float>() + c.latent);
    return out;
}

Ldm2d::ConditionUse Ldm2d::conditionUse(const std::vector<std::vector<float>>& latents,
                                        const std::vector<std::vector<double>>& conditions, std::uint64_t seed) const {
    const auto& c = impl_->config;
    if (c.conditions.empty()) throw Error("the model is unconditional");
    if (latents.empty() || conditions.size() != latents.size()) throw Error("give one condition row per latent");
    std::lock_guard<std::mutex> lock(impl_->mutex);
    torch::NoGradGuard noGrad;
    auto& net = impl_->net;
    net->eval();
    const auto device = impl_->device;
    const auto N = std::int64_t(latents.size());
    auto x0 = torch::empty({N, c.latent}, torch::kFloat);
    for (std::int64_t i = 0; i < N; ++i) {
        if (int(latents[std::size_t(i)].size()) != c.latent) throw Error("latent size differs from the model's");
        std::copy(latents[std::size_t(i)].begin(), latents[std::size_t(i)].end(), x0[i].data_ptr<float>());
    }
    x0 = (x0.to(device) - net->latentMean) / net->latentStd;
    auto cond = (conditionTensor(conditions, std::size_t(N), c.conditions.size()).to(device) - net->conditionMean) /
                net->conditionStd;
    auto gen = at::detail::createCPUGenerator(seed);
    auto t = torch::randint(c.steps, {N}, gen, torch::kInt64).to(device);
    auto eps = torch::randn({N, c.latent}, gen, torch::kFloat).to(device);
    auto alphaBar = torch::tensor(impl_->schedule.alphaBar, torch::kDouble).to(torch::kFloat).to(device);
    auto ab = alphaBar.index_select(0, t).unsqueeze(1);
    auto xt = torch::sqrt(ab) * x0 + torch::sqrt(1 - ab) * eps;
    auto mse = [&](double keep) {
        auto k = torch::full({N}, keep, torch::TensorOptions().device(device));
        return torch::mse_loss(estimatesFrom(c.prediction, net->forward(xt, t, cond, k), xt, ab).eps, eps)
            .item<double>();
    };
    return {mse(1.0), mse(0.0)};
}

// --- Training -------------------------------------------------------------------------------

namespace {

torch::Tensor latentTensor(const std::vector<std::vector<float>>& rows, int latent) {
    auto t = torch::empty({std::int64_t(rows.size()), latent}, torch::kFloat);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (int(rows[i].size()) != latent)
            throw Error("latent of size " + std::to_string(rows[i].size()) + ", the LDM expects " +
                        std::to_string(latent));
        std::copy(rows[i].begin(), rows[i].end(), t[std::int64_t(i)].data_ptr<float>());
    }
    return t;
}

}  // namespace

struct Ldm2dTraining : detail::TrainTask {
    Ldm2dTraining(Ldm2d& model, const std::vector<std::vector<float>>& latents,
                  const std::vector<std::vector<double>>& conditions, const std::vector<std::vector<float>>& valLatents,
                  const std::vector<std::vector<double>>& valConditions, const Ldm2dTrainOptions& options)
        : model_(model), options_(options) {
        const auto& c = model.config();
        const std::size_t C = c.conditions.size();
        if (C > 0 && conditions.size() != latents.size())
            throw Error("a conditional LDM needs one condition row per latent");
        if (C > 0 && !valLatents.empty() && valConditions.size() != valLatents.size())
            throw Error("a conditional LDM needs one condition row per validation latent");
        auto& net = model.impl_->net;
        x_ = latentTensor(latents, c.latent);
        // Normalisation from the training set; the network sees unit scale.
        {
            torch::NoGradGuard noGrad;
            if (x_.size(0) > 1) {
                net->latentMean.copy_(x_.mean(0));
                net->latentStd.copy_(x_.std(0, false).clamp_min(1e-6));
            }
            if (C > 0) {
                std::vector<double> mean, stdev;
                detail::columnStats(conditions, C, mean, stdev);
                for (std::size_t k = 0; k < C; ++k) {
                    net->conditionMean[std::int64_t(k)] = float(mean[k]);
                    net->conditionStd[std::int64_t(k)] = float(stdev[k]);
                }
            }
        }
        x_ = (x_ - net->latentMean.cpu()) / net->latentStd.cpu();
        cond_ = (conditionTensor(conditions, latents.size(), C) - net->conditionMean.cpu()) / net->conditionStd.cpu();
        if (!valLatents.empty()) {
            vx_ = (latentTensor(valLatents, c.latent) - net->latentMean.cpu()) / net->latentStd.cpu();
            vcond_ = (conditionTensor(valConditions, valLatents.size(), C) - net->conditionMean.cpu()) /
                     net->conditionStd.cpu();
            // Fixed timesteps and noise: a deterministic validation loss.
            auto gen = at::detail::createCPUGenerator(noise::deriveSeed(options.train.seed, 0x7a11da7eULL));
            vt_ = torch::randint(c.steps, {vx_.size(0)}, gen, torch::kInt64);
            veps_ = torch::randn(vx_.sizes(), gen, torch::kFloat);
        }
        alphaBar_ = torch::tensor(model.schedule().alphaBar, torch::kDouble).to(torch::kFloat);
    }
    torch::nn::Module& module() override { return *model_.impl_->net; }
    std::size_t trainCount() const override { return std::size_t(x_.size(0)); }
    bool hasValidation() const override { return vx_.defined(); }
    void toDevice(const torch::Device& device) override {
        model_.impl_->device = device;
        x_ = x_.to(device);
        cond_ = cond_.to(device);
        alphaBar_ = alphaBar_.to(device);
        if (vx_.defined()) {
            vx_ = vx_.to(device);
            vcond_ = vcond_.to(device);
            vt_ = vt_.to(device);
            veps_ = veps_.to(device);
        }
    }
    torch::Tensor loss(const torch::Tensor& x0, const torch::Tensor& cond, const torch::Tensor& t,
                       const torch::Tensor& eps, const torch::Tensor& keep) {
        auto ab = alphaBar_.index_select(0, t).unsqueeze(1);
        auto xt = torch::sqrt(ab) * x0 + torch::sqrt(1 - ab) * eps;
        const auto& prediction = model_.config().prediction;
        return torch::mse_loss(model_.impl_->net->forward(xt, t, cond, keep), targetFor(prediction, x0, eps, ab));
    }
    torch::Tensor batchLoss(const detail::Batch& batch, const torch::Device& device) override {
        const auto indices = batch.indices();
        std::vector<std::int64_t> idx(indices.begin(), indices.end());
        auto select = torch::tensor(idx, torch::kInt64).to(device);
        auto x0 = x_.index_select(0, select);
        auto cond = cond_.index_select(0, select);
        // Drawn on the CPU generator the loop seeds each step, for the global batch.
        auto t = batch.randint(model_.config().steps, device);
        auto eps = batch.randn(x0.sizes().slice(1), device);
        auto keep = (batch.rand({}, torch::kCPU) >= model_.config().conditionDropout).to(torch::kFloat).to(device);
        return loss(x0, cond, t, eps, keep);
    }
    double validationLoss(const torch::Device& device) override {
        auto keep = torch::ones({vx_.size(0)}, torch::TensorOptions().device(device));
        return loss(vx_, vcond_, vt_, veps_, keep).item<double>();
    }

    Ldm2d& model_;
    Ldm2dTrainOptions options_;
    torch::Tensor x_, cond_, vx_, vcond_, vt_, veps_, alphaBar_;
};

TrainReport trainLdm2d(Ldm2d& model, const std::vector<std::vector<float>>& latents,
                       const std::vector<std::vector<double>>& conditions,
                       const std::vector<std::vector<float>>& validationLatents,
                       const std::vector<std::vector<double>>& validationConditions, const Ldm2dTrainOptions& options) {
    Ldm2dTraining task(model, latents, conditions, validationLatents, validationConditions, options);
    TrainReport report = detail::runTraining(task, options.train);
    auto& m = model.metadata();
    Json t = options.train.toJson();
    t["train_samples"] = long(latents.size());
    t["validation_samples"] = long(validationLatents.size());
    t["report"] = report.toJson();
    m.training = t;
    return report;
}

}  // namespace ms::ml
