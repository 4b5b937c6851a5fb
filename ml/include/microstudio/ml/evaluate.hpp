#pragma once
// Torch-free measures for generated 2D microstructures:
// two-point-correlation error and volume-fraction distribution distance
// (generated vs held-out images), R^2 of conditional generation (2D and,
// squared Pearson with a bootstrap of two samplers' difference, 3D), condition
// values of a sample (line plots: core/plot.hpp).
#include <cstdint>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::ml {

// The condition values of a sample: "vf" is the Donor volume fraction of
// its labels; any other name is read from volume.attributes (ms::Error
// naming it when absent).
std::vector<double> conditionValues(const Volume& volume, const std::vector<std::string>& names);

// Two-phase 2D samples of a file or glob (io::readSamples); with limit > 0
// at most `limit`, evenly spaced over the file order (deterministic).
// minPhase > 0 first drops images whose rarer phase covers less than that
// fraction (the single-phase early snapshots of a simulation).
// Throws ms::Error on 3D or three-phase samples or an empty result.
std::vector<Volume> readImages2D(const std::string& pathOrGlob, long limit = 0, double minPhase = 0.0,
                                 ProgressToken* progress = nullptr);

// Mean Donor S2(r), r = 0..maxDistance, over the samples (axis-averaged,
// descriptors::twoPointCorrelation; needs ms_descriptors, else ms::Error).
std::vector<double> meanTwoPointCorrelation(const std::vector<Volume>& samples, int maxDistance);
// RMS difference of the mean S2 curves of two sets over r = 1..maxDistance.
double twoPointError(const std::vector<Volume>& generated, const std::vector<Volume>& reference, int maxDistance = 25);
// Wasserstein-1 (earth mover's) distance between two empirical
// distributions: the mean |quantile difference| over 200 quantiles.
double wasserstein1(std::vector<double> a, std::vector<double> b);
// Coefficient of determination of achieved values against targets.
double rSquared(const std::vector<double>& target, const std::vector<double>& achieved);
// Squared Pearson correlation of achieved values with targets (the 3D
// paper's R^2, Fig. 5); NaN when either set is constant. Sizes must match.
double squaredPearson(const std::vector<double>& target, const std::vector<double>& achieved);

// How far apart two samplers' R^2 on the same targets really are: the
// squared-Pearson difference R^2(target, a) - R^2(target, b) with a paired
// bootstrap over the targets (`resamples` draws of n targets with
// replacement, the same draw for both sets; draws where either R^2 is
// undefined are skipped). [low, high] is the central `level` percentile
// interval. With R^2 of 64 targets, one or two outliers can move it by
// tenths; the interval shows when a difference is within that noise.
struct R2Difference {
    double estimate = 0.0, low = 0.0, high = 0.0;
};
R2Difference bootstrapR2Difference(const std::vector<double>& target, const std::vector<double>& a,
                                   const std::vector<double>& b, int resamples = 2000, double level = 0.95,
                                   std::uint64_t seed = 1);

}  // namespace ms::ml
