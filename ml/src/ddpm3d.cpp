// The context U-Net of MicroGen3D on the latent grid and the DDPM around
// it: linear schedule, q(x_t|x_0), ancestral, DDIM and DPM-Solver++(2M)
// sampling, and classifier-free guidance (paper 4.2.3; widths reproduce
// Table 1).
#include "ddpm3d.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "microstudio/core/error.hpp"

namespace ms::ml::detail {

namespace {
void logShape(ShapeLog* log, const std::string& name, const torch::Tensor& t) {
    if (log) log->add(name, t);
}
torch::Tensor instanceNorm(const torch::Tensor& x) {
    // InstanceNorm3d without affine (the U-Net's blocks).
    return torch::instance_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5, false);
}
}  // namespace

// --- Blocks ----------------------------------------------------------------------------

ResidualConvBlock3dImpl::ResidualConvBlock3dImpl(int in, int out) : sameChannels(in == out), outChannels(out) {
    conv1 = register_module("conv1", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 3).padding(1)));
    conv2 = register_module("conv2", torch::nn::Conv3d(torch::nn::Conv3dOptions(out, out, 3).padding(1)));
}

void ResidualConvBlock3dImpl::enableScaleShift(int embeddingSize) {
    torch::NoGradGuard noGrad;
    for (auto* layer : {&film1, &film2}) {
        *layer = torch::nn::Linear(embeddingSize, 2 * outChannels);
        (*layer)->weight.zero_();
        (*layer)->bias.zero_();
    }
    film1 = register_module("film1", film1);
    film2 = register_module("film2", film2);
}

namespace {
// h * (1 + scale) + shift per sample and channel; h as is without a layer.
torch::Tensor scaleShift(const torch::Tensor& h, torch::nn::Linear& layer, const torch::Tensor& embedding) {
    if (!layer || !embedding.defined()) return h;
    const auto parts = layer->forward(embedding).view({h.size(0), 2, h.size(1), 1, 1, 1});
    return h * (1 + parts.select(1, 0)) + parts.select(1, 1);
}
}  // namespace

torch::Tensor ResidualConvBlock3dImpl::forward(const torch::Tensor& x, const torch::Tensor& embedding) {
    auto x1 = torch::gelu(scaleShift(instanceNorm(conv1->forward(x)), film1, embedding));
    auto x2 = torch::gelu(scaleShift(instanceNorm(conv2->forward(x1)), film2, embedding));
    // Residual from the input when widths agree, else from the first conv.
    return (sameChannels ? x + x2 : x1 + x2) / 1.414;
}

EmbedFcImpl::EmbedFcImpl(int inputs, int out) : in(inputs) {
    fc1 = register_module("fc1", torch::nn::Linear(inputs, out));
    fc2 = register_module("fc2", torch::nn::Linear(out, out));
}

torch::Tensor EmbedFcImpl::forward(const torch::Tensor& x) {
    return fc2->forward(torch::gelu(fc1->forward(x.reshape({-1, in}))));
}

UnetUp3dImpl::UnetUp3dImpl(int in, int out) {
    up = register_module("up", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(in, out, 2).stride(2)));
    res1 = register_module("res1", ResidualConvBlock3d(out, out));
    res2 = register_module("res2", ResidualConvBlock3d(out, out));
}

torch::Tensor UnetUp3dImpl::forward(const torch::Tensor& x, const torch::Tensor& skip, const torch::Tensor& embedding) {
    return res2->forward(res1->forward(up->forward(torch::cat({x, skip}, 1)), embedding), embedding);
}

// --- U-Net ---------------------------------------------------------------------------------

Unet3dImpl::Unet3dImpl(int channels, int feat, int context, const std::string& conditioning)
    : features(feat), contextDim(context) {
    if (conditioning != "add" && conditioning != "scale-shift")
        throw Error("U-Net conditioning must be add or scale-shift, not '" + conditioning + "'");
    if (channels < 1) throw Error("U-Net needs at least one channel");
    if (feat < 8 || feat % 8 != 0) throw Error("U-Net features must be a positive multiple of 8 (group norm)");
    if (context < 1) throw Error("U-Net needs at least one condition");
    init = register_module("init", ResidualConvBlock3d(channels, feat));
    down1 = register_module("down1", ResidualConvBlock3d(feat, feat));
    down2 = register_module("down2", ResidualConvBlock3d(feat, 2 * feat));
    time1 = register_module("time1", EmbedFc(1, 2 * feat));
    time2 = register_module("time2", EmbedFc(1, feat));
    context1 = register_module("context1", EmbedFc(context, 2 * feat));
    context2 = register_module("context2", EmbedFc(context, feat));
    up0 = register_module("up0", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(2 * feat, 2 * feat, 1)));
    up0Norm = register_module("up0_norm", torch::nn::GroupNorm(8, 2 * feat));
    up1 = register_module("up1", UnetUp3d(4 * feat, feat));
    up2 = register_module("up2", UnetUp3d(2 * feat, feat));
    out1 = register_module("out1", torch::nn::Conv3d(torch::nn::Conv3dOptions(2 * feat, feat, 3).padding(1)));
    outNorm = register_module("out_norm", torch::nn::GroupNorm(8, feat));
    out2 = register_module("out2", torch::nn::Conv3d(torch::nn::Conv3dOptions(feat, channels, 3).padding(1)));
    if (conditioning == "scale-shift") enableScaleShift();
}

void Unet3dImpl::enableScaleShift() {
    if (scaleShift()) return;
    const int size = 2 * features;
    conditionEmbedding = register_module("condition_embedding", EmbedFc(1 + contextDim, size));
    for (auto* block : {&init, &down1, &down2, &up1->res1, &up1->res2, &up2->res1, &up2->res2})
        (*block)->enableScaleShift(size);
}

torch::Tensor Unet3dImpl::forward(const torch::Tensor& input, const torch::Tensor& timeFraction,
                                  const torch::Tensor& context, const torch::Tensor& contextMask, ShapeLog* log) {
    const long n = input.size(0);
    logShape(log, "input", input);
    auto t = timeFraction.reshape({n, 1});
    auto mask = contextMask.reshape({n, 1});
    // Scale-shift: one embedding of time and (masked) context for every block.
    torch::Tensor embedding;
    if (scaleShift()) embedding = torch::gelu(conditionEmbedding->forward(torch::cat({t, context * mask}, 1)));
    auto x = init->forward(input, embedding);
    logShape(log, "unet.init", x);
    auto d1 = torch::max_pool3d(down1->forward(x, embedding), 2);
    logShape(log, "unet.down1", d1);
    auto d2 = torch::max_pool3d(down2->forward(d1, embedding), 2);
    logShape(log, "unet.down2", d2);
    auto hidden = torch::gelu(d2);

    auto temb1 = time1->forward(t).view({n, 2 * features, 1, 1, 1});
    auto temb2 = time2->forward(t).view({n, features, 1, 1, 1});
    auto cemb1 = (context1->forward(context) * mask).view({n, 2 * features, 1, 1, 1});
    auto cemb2 = (context2->forward(context) * mask).view({n, features, 1, 1, 1});

    // The group norms in float32: under bf16 autocast (TrainOptions::bf16) the
    // convolutions hand them bfloat16, which 1.13's CPU kernel refuses beside float weights.
    auto u1 = torch::leaky_relu(up0Norm->forward(up0->forward(hidden).to(torch::kFloat)), 0.2);
    logShape(log, "unet.up0", u1);
    auto u2 = up1->forward(u1 + temb1 + cemb1, d2, embedding);
    logShape(log, "unet.up1", u2);
    auto u3 = up2->forward(u2 + temb2 + cemb2, d1, embedding);
    logShape(log, "unet.up2", u3);
    auto out = out2->forward(torch::tanh(outNorm->forward(out1->forward(torch::cat({u3, x}, 1)).to(torch::kFloat))));
    logShape(log, "unet.output", out);
    return out;
}

// --- Schedule --------------------------------------------------------------------------------

DiffusionSchedule::DiffusionSchedule(int steps, double betaStart, double betaEnd) : timesteps(steps) {
    if (steps < 2) throw Error("diffusion needs at least 2 timesteps");
    if (!(betaStart > 0 && betaEnd < 1 && betaStart <= betaEnd)) throw Error("betas must satisfy 0 < start <= end < 1");
    double product = 1.0;
    for (int i = 0; i < steps; ++i) {
        const double b = betaStart + (betaEnd - betaStart) * double(i) / double(steps - 1);
        beta.push_back(b);
        alpha.push_back(1.0 - b);
        product *= 1.0 - b;
        alphaBar.push_back(product);
    }
}

torch::Tensor DiffusionSchedule::alphaBarAt(const torch::Tensor& t, const torch::Tensor& like) const {
    auto ab = torch::tensor(std::vector<float>(alphaBar.begin(), alphaBar.end())).to(like.device());
    std::vector<std::int64_t> shape(std::size_t(like.dim()), 1);
    shape[0] = like.size(0);
    return ab.index_select(0, t.to(like.device()).to(torch::kLong)).view(shape);
}

torch::Tensor DiffusionSchedule::qSample(const torch::Tensor& x0, const torch::Tensor& t,
                                         const torch::Tensor& noise) const {
    auto abt = alphaBarAt(t, x0);
    return torch::sqrt(abt) * x0 + torch::sqrt(1 - abt) * noise;
}

torch::Tensor predictionTarget(const std::string& prediction, const DiffusionSchedule& schedule,
                               const torch::Tensor& x0, const torch::Tensor& t, const torch::Tensor& noise) {
    if (prediction == "eps") return noise;
    auto abt = schedule.alphaBarAt(t, x0);
    return torch::sqrt(abt) * noise - torch::sqrt(1 - abt) * x0;
}

torch::Tensor noiseFromOutput(const std::string& prediction, const torch::Tensor& output, const torch::Tensor& xt,
                              double abar) {
    if (prediction == "eps") return output;
    return std::sqrt(1.0 - abar) * xt + std::sqrt(abar) * output;
}

// --- Guidance and samplers -------------------------------------------------------------------

torch::Tensor guidedNoise(Unet3dImpl& unet, const torch::Tensor& x, long t, int timesteps, const torch::Tensor& context,
                          double scale) {
    const long n = x.size(0);
    auto opts = x.options();
    auto run = [&](const torch::Tensor& xs, const torch::Tensor& ctx, const torch::Tensor& mask) {
        auto time = torch::full({xs.size(0)}, double(t) / double(timesteps), opts);
        return unet.forward(xs, time, ctx, mask);
    };
    if (scale == 1.0) return run(x, context, torch::ones({n}, opts));
    if (scale == 0.0) return run(x, context, torch::zeros({n}, opts));
    auto both = run(torch::cat({x, x}), torch::cat({context, context}),
                    torch::cat({torch::ones({n}, opts), torch::zeros({n}, opts)}));
    auto conditional = both.slice(0, 0, n), unconditional = both.slice(0, n, 2 * n);
    return unconditional + scale * (conditional - unconditional);
}

namespace {
torch::Tensor drawNoise(const torch::Tensor& like, at::Generator& generator) {
    // Drawn on the CPU so a seed gives the same samples on every device.
    return torch::randn(like.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat)).to(like.device());
}
void reportStep(ProgressToken* progress, int done, int total) {
    if (progress)
        progress->report(double(done) / double(total),
                         "denoising step " + std::to_string(done) + "/" + std::to_string(total));
}
}  // namespace

torch::Tensor sampleDdpm(const DiffusionSchedule& s, const NoisePredictor& eps, torch::Tensor x,
                         AncestralVariance variance, at::Generator& generator, ProgressToken* progress) {
    torch::NoGradGuard noGrad;
    const int T = s.timesteps;
    for (long i = T - 1; i >= 0; --i) {
        const double a = s.alpha[std::size_t(i)], b = s.beta[std::size_t(i)], ab = s.alphaBar[std::size_t(i)];
        auto e = eps(x, i);
        // mean = (x - beta / sqrt(1 - abar) eps) / sqrt(alpha)
        x = (x - (b / std::sqrt(1.0 - ab)) * e) / std::sqrt(a);
        if (i > 0) {
            const double abPrev = s.alphaBar[std::size_t(i - 1)];
            const double var = variance == AncestralVariance::Beta ? b : b * (1.0 - abPrev) / (1.0 - ab);
            x = x + std::sqrt(var) * drawNoise(x, generator);
        }
        reportStep(progress, int(T - i), T);
    }
    return x;
}

std::vector<long> ddimTimesteps(int timesteps, int steps) {
    if (steps < 1 || steps > timesteps)
        throw Error("DDIM steps must be in 1.." + std::to_string(timesteps) + " (got " + std::to_string(steps) + ")");
    std::vector<long> out;
    if (steps == 1) return {long(timesteps - 1)};
    for (int j = steps - 1; j >= 0; --j)
        out.push_back(long(std::llround(double(j) * double(timesteps - 1) / double(steps - 1))));
    return out;
}

torch::Tensor sampleDdim(const DiffusionSchedule& s, const NoisePredictor& eps, torch::Tensor x, int steps, double eta,
                         at::Generator& generator, ProgressToken* progress) {
    if (eta < 0) throw Error("DDIM eta must be >= 0");
    torch::NoGradGuard noGrad;
    const auto ts = ddimTimesteps(s.timesteps, steps);
    for (std::size_t j = 0; j < ts.size(); ++j) {
        const long t = ts[j];
        const double ab = s.alphaBar[std::size_t(t)];
        const double abPrev = j + 1 < ts.size() ? s.alphaBar[std::size_t(ts[j + 1])] : 1.0;
        auto e = eps(x, t);
        auto x0 = (x - std::sqrt(1.0 - ab) * e) / std::sqrt(ab);
        const double sigma = eta * std::sqrt((1.0 - abPrev) / (1.0 - ab) * (1.0 - ab / abPrev));
        const double direction = std::sqrt(std::max(0.0, 1.0 - abPrev - sigma * sigma));
        x = std::sqrt(abPrev) * x0 + direction * e;
        if (sigma > 0) x = x + sigma * drawNoise(x, generator);
        reportStep(progress, int(j + 1), int(ts.size()));
    }
    return x;
}

// --- DPM-Solver++(2M) --------------------------------------------------------------------------

namespace {
double logSnrHalf(double abar) { return 0.5 * (std::log(abar) - std::log1p(-abar)); }  // lambda = log(alpha / sigma)
}  // namespace

std::vector<long> solverTimesteps(const std::vector<double>& alphaBar, int steps, SolverSpacing spacing) {
    const int T = int(alphaBar.size());
    if (spacing == SolverSpacing::Time) return ddimTimesteps(T, steps);
    if (steps < 1 || steps > T)
        throw Error("solver steps must be in 1.." + std::to_string(T) + " (got " + std::to_string(steps) + ")");
    if (steps == 1) return {long(T - 1)};
    // lambda falls with t; the nearest index to each evenly spaced lambda.
    std::vector<double> lambda(static_cast<std::size_t>(T));
    for (int t = 0; t < T; ++t) lambda[std::size_t(t)] = logSnrHalf(alphaBar[std::size_t(t)]);
    const double lo = lambda.back(), hi = lambda.front();
    std::vector<long> ts(static_cast<std::size_t>(steps));
    for (int j = 0; j < steps; ++j) {
        const double target = lo + (hi - lo) * double(j) / double(steps - 1);
        // First index whose lambda is <= target (lambda descending).
        auto it = std::lower_bound(lambda.begin(), lambda.end(), target, [](double a, double b) { return a > b; });
        long t = long(it - lambda.begin());
        if (t >= T) t = T - 1;
        if (t > 0 && std::abs(lambda[std::size_t(t - 1)] - target) <= std::abs(lambda[std::size_t(t)] - target)) --t;
        ts[std::size_t(j)] = t;
    }
    // Strictly decreasing from T-1 to 0 (near t = 0 lambda moves fast, so
    // neighbours can round to the same index).
    for (int j = steps - 2; j >= 0; --j) ts[std::size_t(j)] = std::max(ts[std::size_t(j)], ts[std::size_t(j + 1)] + 1);
    for (int j = 0; j < steps; ++j) ts[std::size_t(j)] = std::min(ts[std::size_t(j)], long(T - 1 - j));
    return ts;
}

torch::Tensor sampleDpmSolver(const std::vector<double>& alphaBar, const DataPredictor& x0, torch::Tensor x, int steps,
                              SolverSpacing spacing, int order, ProgressToken* progress) {
    if (order != 1 && order != 2) throw Error("DPM-Solver++ order must be 1 or 2");
    torch::NoGradGuard noGrad;
    const auto ts = solverTimesteps(alphaBar, steps, spacing);
    const std::size_t k = ts.size();
    auto alphaAt = [&](std::size_t j) { return std::sqrt(alphaBar[std::size_t(ts[j])]); };
    auto sigmaAt = [&](std::size_t j) { return std::sqrt(1.0 - alphaBar[std::size_t(ts[j])]); };
    auto lambdaAt = [&](std::size_t j) { return logSnrHalf(alphaBar[std::size_t(ts[j])]); };
    torch::Tensor previous;  // the x0 estimate of the step before
    double hPrevious = 0.0;
    for (std::size_t j = 0; j < k; ++j) {
        auto d = x0(x, ts[j]);
        if (j + 1 == k) {
            // To the clean sample: sigma = 0, alpha = 1, lambda = inf. The
            // first-order update is the x0 estimate itself (DDIM's last step);
            // a second-order one is undefined (h = inf).
            x = d;
        } else {
            const double h = lambdaAt(j + 1) - lambdaAt(j);
            torch::Tensor used = d;
            if (order == 2 && j > 0) {
                const double r = hPrevious / h;
                used = (1.0 + 0.5 / r) * d - (0.5 / r) * previous;
            }
            // x' = (sigma' / sigma) x - alpha' (e^-h - 1) D
            x = (sigmaAt(j + 1) / sigmaAt(j)) * x - (alphaAt(j + 1) * std::expm1(-h)) * used;
            hPrevious = h;
        }
        previous = d;
        reportStep(progress, int(j + 1), int(k));
    }
    return x;
}

torch::Tensor sampleDpmSolver(const DiffusionSchedule& s, const NoisePredictor& eps, torch::Tensor start, int steps,
                              SolverSpacing spacing, ProgressToken* progress) {
    DataPredictor x0 = [&](const torch::Tensor& x, long t) {
        const double ab = s.alphaBar[std::size_t(t)];
        return (x - std::sqrt(1.0 - ab) * eps(x, t)) / std::sqrt(ab);
    };
    return sampleDpmSolver(s.alphaBar, x0, std::move(start), steps, spacing, 2, progress);
}

void checkSamplerName(const std::string& name) {
    if (name != "ddim" && name != "dpmpp" && name != "ddpm")
        throw Error("unknown sampler '" + name + "' (use ddim, dpmpp or ddpm)");
}

}  // namespace ms::ml::detail
