#pragma once
// Helpers shared by `generate`, `evaluate` and `train3d` (3D generator commands).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/subsample.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/ml/evaluate.hpp"

namespace ms::cli::ml3d {

// "A=0.5,B=1.2" -> map (NAME=VALUE) or, with `ranges`, "A=0.1:0.4" -> {lo, hi}.
inline std::map<std::string, std::string> parseAssignments(const std::string& text, const std::string& option) {
    std::map<std::string, std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        const auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            throw Error(option + " expects NAME=VALUE[,NAME=VALUE...], got '" + item + "'");
        const std::string name = item.substr(0, eq);
        if (out.count(name)) throw Error(option + " names " + name + " twice");
        out[name] = item.substr(eq + 1);
    }
    return out;
}

inline double parseNumber(const std::string& value, const std::string& what) {
    std::size_t used = 0;
    double number = 0.0;
    try {
        number = std::stod(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != value.size() || value.empty() || !std::isfinite(number))
        throw Error(what + ": '" + value + "' is not a number");
    return number;
}

// "ABS_f_D=0.5,CT_f_D_tort1=1.2" -> map; numbers validated.
inline std::map<std::string, double> parseTarget(const std::string& text) {
    std::map<std::string, double> target;
    for (const auto& [name, value] : parseAssignments(text, "--target")) target[name] = parseNumber(value, "--target " + name);
    return target;
}

// "A=LO:HI,..." -> {lo, hi} per name, lo <= hi.
inline std::map<std::string, std::pair<double, double>> parseRanges(const std::string& text) {
    std::map<std::string, std::pair<double, double>> ranges;
    for (const auto& [name, value] : parseAssignments(text, "--range")) {
        const auto colon = value.find(':');
        if (colon == std::string::npos) throw Error("--range " + name + " expects LO:HI, got '" + value + "'");
        const double lo = parseNumber(value.substr(0, colon), "--range " + name);
        const double hi = parseNumber(value.substr(colon + 1), "--range " + name);
        if (lo > hi) throw Error("--range " + name + ": LO > HI");
        ranges[name] = {lo, hi};
    }
    return ranges;
}

// --candidates K (screened generation): 1..64 draws per kept sample.
inline int parseCandidates(long value) {
    if (value < 1 || value > 64) throw Error("--candidates must be in 1..64");
    return int(value);
}

// --tolerance D (screened generation): stop drawing once a draw lies within D
// (training std units); 0 = always draw all --candidates.
inline double parseTolerance(double value) {
    if (!std::isfinite(value) || value < 0.0) throw Error("--tolerance must be a number >= 0");
    return value;
}

// --ddpm-variance beta|posterior -> GenerateOptions::posteriorVariance.
inline bool parseDdpmVariance(const std::string& value) {
    if (value != "beta" && value != "posterior") throw Error("--ddpm-variance must be beta or posterior, got '" + value + "'");
    return value == "posterior";
}

// Pearson R^2 (the paper's Fig. 5 measure) and mean absolute error.
struct Agreement {
    double r2 = std::nan(""), mae = std::nan("");
    std::size_t count = 0;
};
inline Agreement agreement(const std::vector<double>& target, const std::vector<double>& achieved) {
    Agreement a;
    const std::size_t n = std::min(target.size(), achieved.size());
    a.count = n;
    if (n == 0) return a;
    const std::vector<double> t(target.begin(), target.begin() + long(n)), v(achieved.begin(), achieved.begin() + long(n));
    double mae = 0;
    for (std::size_t i = 0; i < n; ++i) mae += std::fabs(t[i] - v[i]) / double(n);
    a.mae = mae;
    a.r2 = ml::squaredPearson(t, v);
    return a;
}

// Shared with the dataset tools and training (microstudio/core/subsample.hpp).
using ms::evenlySpaced;
using ms::minorityFraction;
using ms::withMinority;

// A CSV cell: %.6g, empty for NaN (not computed).
inline std::string csvNumber(double v) {
    if (!std::isfinite(v)) return "";
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", v);
    return text;
}

// Writes a CSV (or any text) through a temp file, so a failure leaves no half file.
inline void writeTextAtomically(const std::filesystem::path& path, const std::string& text) {
    writeAtomically(path, [&](const std::filesystem::path& temp) {
        std::ofstream file(temp, std::ios::binary);
        file << text;
        if (!file.flush()) throw Error("cannot write " + temp.string());
    });
}

}  // namespace ms::cli::ml3d
