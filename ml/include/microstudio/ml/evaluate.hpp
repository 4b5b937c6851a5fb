#pragma once
// Torch-free measures for generated 2D microstructures and the study plots:
// two-point-correlation error and volume-fraction distribution distance
// (generated vs held-out images), R^2 of conditional generation, condition
// values of a sample, and monochrome line plots written as PNG.
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::ml {

// The condition values of a sample: "vf" is the Donor volume fraction of
// its labels; any other name is read from volume.attributes (ms::Error
// naming it when absent).
std::vector<double> conditionValues(const Volume& volume, const std::vector<std::string>& names);

// Two-phase 2D samples of a file or glob (io::readSamples); with limit > 0
// at most `limit`, evenly spaced over the file order (deterministic).
// Throws ms::Error on 3D or three-phase samples or an empty result.
std::vector<Volume> readImages2D(const std::string& pathOrGlob, long limit = 0);

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

// A monochrome line plot: white background, grey axes and frame, curves in
// black (curve k dashed with period 2k+... so curves can be told apart:
// 0 solid, 1 dashed, 2 dotted, 3 dash-dot). Each curve is y over x = 0,1,..;
// all share the axes; NaNs are skipped. logY plots log10(y) (y > 0 only).
Volume plotCurves(const std::vector<std::vector<double>>& curves, int width = 480, int height = 320, bool logY = false);

}  // namespace ms::ml
