#pragma once
// Synthetic microstructures for demos and tests: a thresholded random
// superposition of plane waves with wavelengths near `wavelength` cells
// (bicontinuous, spinodal-like, periodic). Deterministic for a seed.
#include <cstdint>

#include "microstudio/core/volume.hpp"

namespace ms {

struct SyntheticOptions {
    double wavelength = 16.0;    // typical domain period in cells
    double donorFraction = 0.5;  // of all voxels
    double mixedFraction = 0.0;  // > 0 gives a third (mixed) phase between D and A
    int waves = 24;
    std::uint64_t seed = 1;
};

// Labels plus the continuous field (normalised to [0, 1]) it was cut from.
Volume syntheticMicrostructure(Dims dims, const SyntheticOptions& options = {});

}  // namespace ms
