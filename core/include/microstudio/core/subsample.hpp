#pragma once
// Choosing samples: evenly spaced subsets and the two-phase filter that the
// dataset tools, training and evaluation share.
#include <algorithm>
#include <cstddef>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms {

// min(n, size) indices evenly spaced over [0, size): i * size / n.
inline std::vector<std::size_t> evenlySpaced(std::size_t size, std::size_t n) {
    std::vector<std::size_t> out;
    n = std::min(size, n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(i * size / n);
    return out;
}

// The rarer of Donor and Acceptor (0 for a single-phase volume). Early
// Cahn-Hilliard snapshots far from phi = 0.5 threshold to one phase: no
// morphology, and their descriptors (tortuosity of an absent phase = 0)
// are a corner case the generator need not learn.
inline double minorityFraction(const Volume& v) {
    return std::min(v.volumeFraction(Donor), v.volumeFraction(Acceptor));
}

// Keeps the volumes whose minorityFraction is at least `minimum` (all for 0).
inline std::vector<Volume> withMinority(std::vector<Volume> volumes, double minimum) {
    if (minimum <= 0.0) return volumes;
    std::vector<Volume> kept;
    for (auto& v : volumes)
        if (minorityFraction(v) >= minimum) kept.push_back(std::move(v));
    return kept;
}

}  // namespace ms
