#pragma once
// Deterministic two-phase test morphologies: a sum of random plane waves of
// one wavelength (Cahn's construction of a spinodal pattern), thresholded at
// the quantile that gives the requested volume fraction. The result looks
// like a Cahn-Hilliard bicontinuous structure; used by the tests, the
// montage and as the default `noise eval` set when no input is given.
#include <cstdint>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::noise {

struct SyntheticOptions {
    double wavelength = 14.0;       // voxels per period of each wave
    int waves = 32;                 // number of superposed waves
    double acceptorFraction = 0.5;  // fraction of voxels labelled A (1)
};

Volume syntheticMorphology(const Dims& dims, std::uint64_t seed, const SyntheticOptions& options = {});

// `count` 2D samples of `size` x `size`, seeds deriveSeed(seed, i), volume
// fractions spread over 0.35..0.65; text["sample"] = "synthetic_<i>".
std::vector<Volume> syntheticSet(int count, int size, std::uint64_t seed);

}  // namespace ms::noise
