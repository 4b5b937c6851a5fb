#pragma once
// Helpers shared inside ms_noise, not part of its API.
#include <complex>
#include <cstdint>
#include <random>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::noise::detail {

// In-place complex DFT over a volume's dims (x fastest), via FFTW in
// double precision. inverse = true applies the unnormalised backward
// transform (the caller divides by the voxel count).
void dft(std::vector<std::complex<double>>& data, const Dims& dims, bool inverse);

// Uniform double in [0, 1) from the top 53 bits: the same sequence on every
// standard library (std::uniform_real_distribution is not specified that
// tightly).
inline double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

}  // namespace ms::noise::detail
