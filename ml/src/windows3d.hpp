#pragma once
// ml-private (torch): denoising a latent larger than the training box in x
// and y. The U-Net only ever sees training-size windows; every
// step, each window's noise prediction is weighted by a smooth profile and
// the weighted sum over all windows is divided by the summed weights.
// Windows wrap periodically in x and y (the training volumes are periodic
// there), so the large volume has no edge in x/y and no window is special.
#include <torch/torch.h>

#include <cstddef>
#include <functional>
#include <vector>

namespace ms::ml::detail {

// Origins of the windows along one periodic axis of `length` cells for
// windows of `window` cells (length >= window): one window at 0 when the
// axis is the window's size, else ceil(2 length / window) origins spread
// evenly, so neighbours lie at most window / 2 apart and every cell is
// covered by at least two windows.
std::vector<long> windowOrigins(long length, long window);

// A window's weight along one axis, cell by cell: 1 everywhere when the
// axis has a single window (so blending at the training size is exact),
// else sin^2(pi (u + 1/2) / window): smooth, positive, near 0 at the window
// edges where the U-Net's zero padding shows, and at 50% overlap the
// profiles of neighbours sum to a constant.
std::vector<float> windowProfile(long window, bool single);

// Noise prediction on a batch of windows [M, C, D, wy, wx] at step t;
// `sample` [M] (long) says which sample of the large batch each row is.
using WindowNoisePredictor =
    std::function<torch::Tensor(const torch::Tensor& windows, long t, const torch::Tensor& sample)>;

class LatentWindows {
public:
    // Large latent grid (x, y) tiled by windows of (wx, wy) cells.
    LatentWindows(long largeX, long largeY, long windowX, long windowY, const torch::Device& device);

    std::size_t count() const { return origins_.size(); }
    // Window `index` of x [N, C, D, Y, X]: [N, C, D, wy, wx], wrapped in x/y.
    torch::Tensor extract(const torch::Tensor& x, std::size_t index) const;
    // All windows of x, window-major: rows [i N, (i + 1) N) are window i.
    torch::Tensor extractAll(const torch::Tensor& x) const;
    // The blended noise of the large latent x at step t: windows go through
    // `eps` in batches of at most max(maxRows, N) rows (whole windows).
    torch::Tensor blend(const torch::Tensor& x, long t, const WindowNoisePredictor& eps, long maxRows) const;

private:
    // Adds `values` [N, C, D, wy, wx] of window `index` into `sum` (wrapped).
    void accumulate(torch::Tensor& sum, const torch::Tensor& values, std::size_t index) const;

    struct Origin {
        torch::Tensor x, y;  // the window's cell indices, modulo the large size
    };
    std::vector<Origin> origins_;
    long largeX_, largeY_;
    torch::Tensor weight_;     // [1, 1, 1, wy, wx]
    torch::Tensor weightSum_;  // [1, 1, 1, Y, X]: every cell's summed weight
};

// The U-Net's noise on a whole large latent x [N, C, D, Y, X] at once
// (LargeVolumeMethod::Whole): x wrapped periodically by `margin` cells on
// each x/y side, and up to 3 more on the far side so that the U-Net's two 2x
// poolings divide the extent; `noise` maps the wrapped latent, its result is
// cropped back to x's extent. ms::Error (one line) when the far-side wrap
// exceeds the latent.
torch::Tensor wholeLatentNoise(const std::function<torch::Tensor(const torch::Tensor&)>& noise, const torch::Tensor& x,
                               long margin);

}  // namespace ms::ml::detail
