#include "microstudio/noise/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "microstudio/core/error.hpp"

#if MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif

namespace ms::noise {

namespace {

void requireSameDims(const Volume& a, const Volume& b) {
    if (a.dims() != b.dims())
        throw Error("metrics: clean is " + a.dims().str() + " but the compared volume is " + b.dims().str());
    if (a.size() == 0) throw Error("metrics: empty volume");
}

std::optional<double> drift(const std::map<std::string, double>& clean, const std::map<std::string, double>& other,
                            const std::string& name) {
    auto a = clean.find(name), b = other.find(name);
    if (a == clean.end() || b == other.end()) return std::nullopt;
    // GraSPI reports NaN (0/0) when a phase has no path; no drift then.
    if (!std::isfinite(a->second) || !std::isfinite(b->second)) return std::nullopt;
    return std::abs(a->second - b->second);
}

}  // namespace

double pixelErrorRate(const Volume& clean, const Volume& other) {
    requireSameDims(clean, other);
    std::size_t differ = 0;
    const auto &a = clean.labels(), &b = other.labels();
    for (std::size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
    return double(differ) / double(a.size());
}

double intersectionOverUnion(const Volume& clean, const Volume& other, int phase) {
    requireSameDims(clean, other);
    std::size_t both = 0, either = 0;
    const auto &a = clean.labels(), &b = other.labels();
    for (std::size_t i = 0; i < a.size(); ++i) {
        const bool inA = a[i] == phase, inB = b[i] == phase;
        both += inA && inB;
        either += inA || inB;
    }
    return either == 0 ? 1.0 : double(both) / double(either);
}

DescriptorFunction defaultDescriptorFunction() {
#if MICROSTUDIO_HAVE_DESCRIPTORS
    return [](const Volume& volume) {
        std::map<std::string, double> values;
        const auto result = descriptors::describe(volume);
        for (const auto& entry : result.all()) values[entry.name] = entry.value;
        return values;
    };
#else
    return {};
#endif
}

Metrics compare(const Volume& clean, const Volume& other, const DescriptorFunction& descriptors,
                const std::map<std::string, double>* cleanDescriptors) {
    requireSameDims(clean, other);
    Metrics m;
    m.pixel_error = pixelErrorRate(clean, other);
    m.iou_D = intersectionOverUnion(clean, other, Donor);
    m.iou_A = intersectionOverUnion(clean, other, Acceptor);
    const auto countsClean = clean.phaseCounts(), countsOther = other.phaseCounts();
    if (countsClean[Mixed] > 0 || countsOther[Mixed] > 0) m.iou_M = intersectionOverUnion(clean, other, Mixed);
    const double n = double(clean.size());
    for (int p = 0; p < kMaxPhases; ++p)
        m.delta_vf = std::max(m.delta_vf, std::abs(double(countsClean[p]) - double(countsOther[p])) / n);
    if (descriptors) {
        std::map<std::string, double> ownClean;
        if (!cleanDescriptors) {
            ownClean = descriptors(clean);
            cleanDescriptors = &ownClean;
        }
        const auto otherDescriptors = descriptors(other);
        m.delta_tort_D = drift(*cleanDescriptors, otherDescriptors, kTortuosityD);
        m.delta_tort_A = drift(*cleanDescriptors, otherDescriptors, kTortuosityA);
    }
    return m;
}

}  // namespace ms::noise
