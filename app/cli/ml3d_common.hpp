#pragma once
// Parsing helpers of the 3D generator commands (`generate`, `evaluate`) and
// `sample2d`; their reports are report3d.hpp's.
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
#include "microstudio/ml/evaluate3d.hpp"

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
    for (const auto& [name, value] : parseAssignments(text, "--target"))
        target[name] = parseNumber(value, "--target " + name);
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

// --sampler ddim|dpmpp|ddpm -> GenerateOptions::sampler (also sample2d's);
// `option` names the flag in the one-line refusal.
inline std::string parseSampler(const std::string& value, const std::string& option = "--sampler") {
    if (value != "ddim" && value != "dpmpp" && value != "ddpm")
        throw Error(option + " must be ddim, dpmpp or ddpm, got '" + value + "'");
    return value;
}

// --steps default per sampler: DPM-Solver++ 16, the others `otherDefault`.
inline long defaultSteps(const std::string& sampler, long otherDefault) {
    return sampler == "dpmpp" ? 16 : sampler == "ddpm" ? 0 : otherDefault;
}

}  // namespace ms::cli::ml3d
