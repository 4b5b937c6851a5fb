#include "microstudio/ml/tiling.hpp"

#include <cmath>
#include <cstdlib>

#include "microstudio/core/error.hpp"

namespace ms::ml {

std::vector<int> windowOrigins(int n, int window) {
    if (n <= window) return {0};
    // Overlap of about a fifth of a window keeps every pixel's source away from window edges.
    const int step = std::max(1, window - window / 5);
    std::vector<int> origins;
    for (int o = 0; o + window < n; o += step) origins.push_back(o);
    origins.push_back(n - window);
    return origins;
}

namespace {

// For each coordinate, which window (index into origins) has its centre nearest.
std::vector<int> nearestWindow(int n, int window, const std::vector<int>& origins) {
    std::vector<int> best(std::size_t(n), 0);
    for (int x = 0; x < n; ++x) {
        double bestDistance = 1e300;
        for (std::size_t w = 0; w < origins.size(); ++w) {
            const double d = std::abs(x - (origins[w] + (window - 1) / 2.0));
            if (d < bestDistance) {
                bestDistance = d;
                best[std::size_t(x)] = int(w);
            }
        }
    }
    return best;
}

}  // namespace

Volume applyTiled(const Volume& image, int window, const FixedSizeImageFunction& function) {
    const Dims& d = image.dims();
    if (!d.is2D()) throw Error("tiled denoising takes 2D images, got " + d.str());
    if (window <= 0) throw Error("window must be positive");
    const auto xs = windowOrigins(d.nx, window), ys = windowOrigins(d.ny, window);
    std::vector<Volume> windows;
    windows.reserve(xs.size() * ys.size());
    for (int oy : ys)
        for (int ox : xs) {
            Volume w(Dims{window, window, 1});
            for (int y = 0; y < window; ++y)
                for (int x = 0; x < window; ++x)  // periodic wrap covers images smaller than a window
                    w.at(x, y) = image.at((ox + x) % d.nx, (oy + y) % d.ny);
            windows.push_back(std::move(w));
        }
    const std::vector<Volume> out = function(windows);
    if (out.size() != windows.size()) throw Error("the model returned the wrong number of windows");
    for (const auto& w : out)
        if (w.dims() != Dims{window, window, 1}) throw Error("the model returned a window of size " + w.dims().str());
    const auto bx = nearestWindow(d.nx, window, xs), by = nearestWindow(d.ny, window, ys);
    Volume result(d);
    result.spacing = image.spacing;
    result.attributes = image.attributes;
    result.text = image.text;
    for (int y = 0; y < d.ny; ++y)
        for (int x = 0; x < d.nx; ++x) {
            const int wx = bx[std::size_t(x)], wy = by[std::size_t(y)];
            const Volume& w = out[std::size_t(wy) * xs.size() + std::size_t(wx)];
            result.at(x, y) = w.at(x - xs[std::size_t(wx)], y - ys[std::size_t(wy)]);
        }
    return result;
}

}  // namespace ms::ml
