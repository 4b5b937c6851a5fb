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

// Shared with the dataset tools and training (microstudio/core/subsample.hpp).
using ms::evenlySpaced;
using ms::minorityFraction;
using ms::withMinority;

// A CSV cell: %.6g, empty for NaN (ml/evaluate3d.hpp).
using ml::csvNumber;

// A table cell: %.4f (or `format`), "-" for NaN or a missing name.
inline std::string cell(double value, const char* format = "%.4f") {
    if (!std::isfinite(value)) return "-";
    char text[32];
    std::snprintf(text, sizeof text, format, value);
    return text;
}
inline std::string cell(const ml::NamedValues& values, const std::string& name, const char* format = "%.4f") {
    const auto it = values.find(name);
    return cell(it != values.end() ? it->second : std::nan(""), format);
}

// Target vs measured of one generation pass, per condition; `spread` adds
// a column (diversity: std at the fixed target).
inline void printFit(const ml::TargetFit& fit, const std::vector<std::string>& conditions,
                     const ml::NamedValues* spread = nullptr) {
    std::printf("%-16s %10s %10s %10s %9s%s\n", "descriptor", "R^2", "R^2 det.", "MAE", "described",
                spread ? "   std at one target" : "");
    for (const auto& name : conditions)
        std::printf("%-16s %10s %10s %10s %9s%s\n", name.c_str(), cell(fit.r2, name).c_str(),
                    cell(fit.determination, name).c_str(), cell(fit.mae, name).c_str(),
                    cell(fit.described, name, "%.0f").c_str(), spread ? ("   " + cell(*spread, name)).c_str() : "");
}

// The screened pass, apart from the plain figures and labelled as a search.
inline void printScreened(const ml::Evaluation3dReport& r) {
    const auto& s = *r.screened;
    std::printf("Screened generation (%d draws per target, best measured kept): a search over draws, not the "
                "model's figure\n", s.candidates);
    if (s.tolerance > 0.0) std::printf("draws stop within distance %g\n", s.tolerance);
    std::printf("%.3g draws per sample on average, %.4g s per sample\n", s.fit.drawsPerSample(), s.fit.secondsPerSample);
    printFit(s.fit, r.conditions);
}

// The feature predictor on the held-out latents, per output in the data.
inline void printFeaturePredictor(const ml::Evaluation3dReport& r) {
    std::printf("%-16s %10s %10s   (feature predictor on held-out latents)\n", "output", "R^2", "MAE");
    for (const auto& name : r.outputs)
        if (r.fpR2.count(name))
            std::printf("%-16s %10s %10s\n", name.c_str(), cell(r.fpR2, name).c_str(), cell(r.fpMae, name, "%.4g").c_str());
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
