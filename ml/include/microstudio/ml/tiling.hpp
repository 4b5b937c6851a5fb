#pragma once
// Runs a model that takes fixed-size square 2D images on an image of any
// size: the image is covered by overlapping windows (periodic wrap for
// images smaller than a window), the model maps all windows in one batch,
// and every pixel takes its value from the window whose centre is nearest,
// so seams fall where the windows overlap most. Torch-free.
#include <functional>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::ml {

using FixedSizeImageFunction = std::function<std::vector<Volume>(const std::vector<Volume>& windows)>;

// `window`: the model's side; throws ms::Error for 3D input.
Volume applyTiled(const Volume& image, int window, const FixedSizeImageFunction& function);

// Window origins along one axis of length n (first 0, last n - window when
// n >= window; a single 0 when n < window).
std::vector<int> windowOrigins(int n, int window);

}  // namespace ms::ml
