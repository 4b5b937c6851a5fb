#pragma once
// The three corruptions of the 2D denoising paper (Moola, Cherian, Das,
// "Exploring Variational Autoencoders for 2D Microstructure Generation",
// section III.A), implemented formula by formula with the paper's parameter
// names, for 2D images (nz == 1) and, by the natural extension, 3D volumes:
//   salt-and-pepper  flip_probability                      (III.A.1)
//   grid             grid_amplitude, grid_frequency,
//                    grid_rotation (degrees), threshold 0.5 (III.A.2)
//   frequency        rings, mask_intensity, mask_width      (III.A.3)
// Inputs must be two-phase (labels 0 = D and 1 = A only); every model
// returns a two-phase volume of the same dims. Choices where the paper is
// ambiguous are documented in docs/noise.md and next to each function.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::noise {

enum class NoiseType { SaltPepper, Grid, Frequency };

// "salt-pepper", "grid", "frequency"; parse accepts those (and
// "salt-and-pepper", "sp"), throws ms::Error otherwise.
const char* noiseTypeName(NoiseType type);
NoiseType parseNoiseType(const std::string& text);
std::vector<NoiseType> allNoiseTypes();

// One noise model with its parameters. Only the fields of `type` are used.
// Defaults are the figures documented in docs/noise.md: p = 0.15 as in the
// paper's Fig. 16; the grid and ring settings (which the paper does not
// state) were chosen to give visibly corrupted 101x101 images.
struct NoiseModel {
    NoiseType type = NoiseType::SaltPepper;
    double flip_probability = 0.15;  // Bernoulli flip probability, [0, 1]
    double grid_amplitude = 0.8;     // A_g; binary images change only for A_g > 0.5
    double grid_frequency = 8.0;     // f_g, periods across the image
    double grid_rotation = 15.0;     // theta_g in degrees, about the image centre
    int rings = 8;                   // N_rings
    double mask_intensity = 0.8;     // I_fm, [0, 1]: ring value is 1 - I_fm
    double mask_width = 0.05;        // w_fm, normalised ring width

    // Throws ms::Error naming the parameter when one is outside its range.
    void validate() const;
    // "salt-pepper(flip_probability=0.15)" and so on.
    std::string describe() const;
    // The paper's names -> values of this type's parameters.
    std::map<std::string, double> parameters() const;
};

// Models in the order they are applied; seeds for each step are derived
// from one seed, so a chain is reproducible from (chain, seed).
using NoiseChain = std::vector<NoiseModel>;

// --- The models -----------------------------------------------------------

// III.A.1: I_noisy = I (1 - N) + (1 - I) N with N ~ Bernoulli(p) per voxel,
// drawn in index order (x fastest) from a seeded 64-bit Mersenne twister.
Volume addSaltPepper(const Volume& clean, double flip_probability, std::uint64_t seed);

// III.A.2: x = ix / (nx - 1), y = iy / (ny - 1) (and z = iz / (nz - 1)) in
// [0, 1]; rotated by grid_rotation about (0.5, 0.5) in the x-y plane;
// P = A sin(2 pi f x') sin(2 pi f y') [sin(2 pi f z')], where a factor is
// left out for an axis of extent 1, so a one-slice volume is the 2D case.
// I_noisy = I + P > 0.5.
Volume addGrid(const Volume& clean, double grid_amplitude, double grid_frequency, double grid_rotation_degrees);
// The pattern P itself (x fastest), for tests and plots.
std::vector<double> gridPattern(const Dims& dims, double grid_amplitude, double grid_frequency,
                                double grid_rotation_degrees);

// III.A.3: F = DFT(I); shift the zero frequency to the centre; multiply by
// the ring mask M; shift back; inverse DFT; real part; min-max normalise to
// [0, 1] and clip; binarise at 0.5. In 3D the DFT, the shift and the radial
// distance are 3D; on a one-slice volume they are exactly the 2D ones.
struct FrequencyResult {
    Volume noisy;                  // binarised labels
    std::vector<double> filtered;  // normalised, clipped real image before binarising
};
FrequencyResult addFrequencyNoiseDetailed(const Volume& clean, int rings, double mask_intensity, double mask_width);
Volume addFrequencyNoise(const Volume& clean, int rings, double mask_intensity, double mask_width);

// The mask M in shifted (centred) coordinates, x fastest: the zero
// frequency sits at (nx/2, ny/2, nz/2) (integer division, as numpy's
// fftshift). d_norm = distance to that centre / d_max with d_max the
// distance from the centre to the corner voxel (0, 0, 0), i.e.
// sqrt((nx/2)^2 + (ny/2)^2 + (nz/2)^2). M = 1 - I_fm where
// |d_norm - r_k| < w_fm / 2 for some r_k = (k + 1) / (N_rings + 1), else 1.
std::vector<double> ringMask(const Dims& dims, int rings, double mask_intensity, double mask_width);
// d_norm of every voxel of the shifted spectrum (for tests and plots).
std::vector<double> normalisedFrequencyDistance(const Dims& dims);

// Where a two-phase image's features sit in its spectrum: the d_norm (as in
// ringMask) of the band, one index unit wide, that holds the most power, the
// zero frequency left out; 0 for a constant image. Frequency noise changes an
// image visibly only when a ring r_k lies near it.
double dominantFrequencyDistance(const Volume& image);
// The number of rings whose first ring, r_0 = 1 / (N_rings + 1), lies at
// `distance` (rounded, at least 1): a setting whose rings reach features
// there.
int ringsReaching(double distance);

// --- Applying models --------------------------------------------------------

// Applies one model. The result keeps spacing, attributes and text of the
// input and adds the model's parameters as attributes (paper names), the
// seed as "noise_seed" and text["noise"] = the model's type name.
Volume applyNoise(const Volume& clean, const NoiseModel& model, std::uint64_t seed);
// Applies the models in order (composition); step i uses deriveSeed(seed, i).
// text["noise"] is "salt-pepper+grid" etc.; a parameter name that repeats
// gets a suffix "_2", "_3" ...
Volume applyNoise(const Volume& clean, const NoiseChain& chain, std::uint64_t seed);

// A well-mixed seed for stream `index` of `seed` (splitmix64), so parallel
// work gets independent, reproducible streams.
std::uint64_t deriveSeed(std::uint64_t seed, std::uint64_t index);

// Throws ms::Error unless every label is 0 or 1 (what the paper's models
// are defined on). `what` names the caller in the message.
void requireTwoPhase(const Volume& volume, const std::string& what);

}  // namespace ms::noise
