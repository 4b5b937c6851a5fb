#pragma once
// Metrics between a clean volume and a denoised (or noisy) one of the same
// dims: pixel error rate, intersection over union per phase, and descriptor
// drift (|delta volume fraction| here; |delta tortuosity| through a
// descriptor callback, by default the GraSPI descriptors when built).
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "microstudio/core/volume.hpp"

namespace ms::noise {

// Fraction of voxels whose labels differ, in [0, 1].
double pixelErrorRate(const Volume& clean, const Volume& other);

// |clean == p AND other == p| / |clean == p OR other == p|; 1 when the
// phase occurs in neither.
double intersectionOverUnion(const Volume& clean, const Volume& other, int phase);

// Named scalar descriptors of a volume (e.g. "CT_f_D_tort1"). Must be safe
// to call from several threads.
using DescriptorFunction = std::function<std::map<std::string, double>(const Volume&)>;

// The tortuosity descriptors the drift uses.
constexpr const char* kTortuosityD = "CT_f_D_tort1";
constexpr const char* kTortuosityA = "CT_f_A_tort1";

// The GraSPI descriptors (ms_descriptors) when that library was built into
// ms_noise, else an empty function (no tortuosity drift).
DescriptorFunction defaultDescriptorFunction();

struct Metrics {
    double pixel_error = 0.0;
    double iou_D = 0.0;
    double iou_A = 0.0;
    std::optional<double> iou_M;  // when either volume has a mixed phase
    // max over phases of |vf_p(clean) - vf_p(other)|; for two phases this is
    // |delta vf_D| = |delta vf_A|.
    double delta_vf = 0.0;
    // |delta CT_f_D_tort1| and |delta CT_f_A_tort1| when descriptors were given.
    std::optional<double> delta_tort_D;
    std::optional<double> delta_tort_A;
};

// Throws ms::Error when the dims differ. `cleanDescriptors` may be passed to
// avoid recomputing the clean volume's descriptors for every comparison.
Metrics compare(const Volume& clean, const Volume& other, const DescriptorFunction& descriptors = {},
                const std::map<std::string, double>* cleanDescriptors = nullptr);

}  // namespace ms::noise
