#pragma once
// Shared by the readers: maps a stored number to a phase label.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "microstudio/core/error.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::io::detail {

// The shortest text that reads back as exactly `value` ("0.5000001", not
// std::to_string's "0.500000", which hides why 0.5000001 is not 0.5).
inline std::string exactNumber(double value) {
    char buf[40];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, value);
        if (std::strtod(buf, nullptr) == value) break;
    }
    return buf;
}

// Integers 0/1/2 (and GraSPI's 3), and the fractional convention 0 / 0.5 / 1
// with 0.5 for the mixed phase, are accepted; anything else is an error.
inline std::uint8_t phaseOfValue(double value, const std::string& where, std::size_t index) {
    if (std::isnan(value)) throw Error(where + ": NaN at voxel " + std::to_string(index));
    if (value == 0.0) return Donor;
    if (value == 1.0) return Acceptor;
    if (value == 2.0 || value == 3.0 || value == 0.5) return Mixed;
    throw Error(where + ": unknown label " + exactNumber(value) + " at voxel " + std::to_string(index) +
                " (expected 0 = D, 1 = A, 2 or 0.5 = M)");
}

}  // namespace ms::io::detail
