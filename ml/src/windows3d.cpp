// Overlapping, periodically wrapped training-size windows over a large
// latent, their weights and the blend of their noise predictions.
#include "windows3d.hpp"

#include <algorithm>
#include <cmath>

#include "microstudio/core/error.hpp"

namespace ms::ml::detail {

std::vector<long> windowOrigins(long length, long window) {
    if (window < 1 || length < window)
        throw Error("a window of " + std::to_string(window) + " cells does not fit " + std::to_string(length));
    if (length == window) return {0};
    const long n = (2 * length + window - 1) / window;
    std::vector<long> origins;
    for (long i = 0; i < n; ++i) origins.push_back(long(std::llround(double(i) * double(length) / double(n))) % length);
    return origins;
}

std::vector<float> windowProfile(long window, bool single) {
    std::vector<float> w(static_cast<std::size_t>(window), 1.0f);
    if (single) return w;
    const double pi = std::acos(-1.0);
    for (long u = 0; u < window; ++u) {
        const double s = std::sin(pi * (double(u) + 0.5) / double(window));
        w[std::size_t(u)] = float(s * s);
    }
    return w;
}

namespace {
torch::Tensor wrappedIndices(long origin, long window, long length, const torch::Device& device) {
    return torch::remainder(torch::arange(origin, origin + window, torch::kLong), length).to(device);
}
}  // namespace

LatentWindows::LatentWindows(long largeX, long largeY, long windowX, long windowY, const torch::Device& device)
    : largeX_(largeX), largeY_(largeY) {
    const auto xs = windowOrigins(largeX, windowX), ys = windowOrigins(largeY, windowY);
    for (long oy : ys)
        for (long ox : xs)
            origins_.push_back(
                Origin{wrappedIndices(ox, windowX, largeX, device), wrappedIndices(oy, windowY, largeY, device)});
    const auto px = windowProfile(windowX, xs.size() == 1), py = windowProfile(windowY, ys.size() == 1);
    weight_ = torch::outer(torch::tensor(py), torch::tensor(px)).view({1, 1, 1, windowY, windowX}).to(device);
    weightSum_ = torch::zeros({1, 1, 1, largeY, largeX}, torch::TensorOptions().device(device));
    for (std::size_t i = 0; i < origins_.size(); ++i) accumulate(weightSum_, weight_, i);
}

torch::Tensor LatentWindows::extract(const torch::Tensor& x, std::size_t index) const {
    const Origin& o = origins_.at(index);
    return x.index_select(4, o.x).index_select(3, o.y);
}

torch::Tensor LatentWindows::extractAll(const torch::Tensor& x) const {
    std::vector<torch::Tensor> parts;
    for (std::size_t i = 0; i < count(); ++i) parts.push_back(extract(x, i));
    return torch::cat(parts);
}

void LatentWindows::accumulate(torch::Tensor& sum, const torch::Tensor& values, std::size_t index) const {
    const Origin& o = origins_[index];
    auto sizes = values.sizes().vec();
    sizes[3] = largeY_;  // y first into a full-height strip, then the strip into x
    auto strip = torch::zeros(sizes, values.options());
    strip.index_add_(3, o.y, values);
    sum.index_add_(4, o.x, strip);
}

torch::Tensor LatentWindows::blend(const torch::Tensor& x, long t, const WindowNoisePredictor& eps,
                                   long maxRows) const {
    const long n = x.size(0);
    const std::size_t perCall = std::size_t(std::max<long>(1, maxRows / n));
    auto sum = torch::zeros_like(x);
    for (std::size_t first = 0; first < count(); first += perCall) {
        const std::size_t last = std::min(count(), first + perCall);
        std::vector<torch::Tensor> parts;
        for (std::size_t i = first; i < last; ++i) parts.push_back(extract(x, i));
        const auto sample = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(x.device()))
                                .repeat({long(last - first)});
        const auto e = eps(torch::cat(parts), t, sample);
        for (std::size_t i = first; i < last; ++i) accumulate(sum, e.narrow(0, long(i - first) * n, n) * weight_, i);
    }
    return sum / weightSum_;
}

// The whole latent, wrapped and cropped (windows3d.hpp).
torch::Tensor wholeLatentNoise(const std::function<torch::Tensor(const torch::Tensor&)>& noise, const torch::Tensor& x,
                               long margin) {
    constexpr long kPooling = 4;
    const long ny = x.size(3), nx = x.size(4);
    const long farY = margin + (kPooling - (ny + 2 * margin) % kPooling) % kPooling,
               farX = margin + (kPooling - (nx + 2 * margin) % kPooling) % kPooling;
    if (margin == 0 && farX == 0 && farY == 0) return noise(x);
    if (farX > nx || farY > ny)
        throw Error("a whole-latent margin of " + std::to_string(margin) + " cells exceeds the latent's " +
                    std::to_string(nx) + "x" + std::to_string(ny) + " cells in x/y");
    namespace F = torch::nn::functional;
    const auto padded = F::pad(x, F::PadFuncOptions({margin, farX, margin, farY, 0, 0}).mode(torch::kCircular));
    return noise(padded).narrow(3, margin, ny).narrow(4, margin, nx);
}

}  // namespace ms::ml::detail
