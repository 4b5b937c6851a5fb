#include "microstudio/noise/eval.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/core/parallel.hpp"

namespace ms::noise {

namespace {

struct Measurement {
    Metrics metrics;
    double milliseconds = 0.0;
};

std::string number(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

std::string optionalNumber(const std::optional<double>& value, int decimals, const char* missing) {
    return value ? number(*value, decimals) : missing;
}

// A figure that was not computed (or is not finite) is null.
Json optionalJson(const std::optional<double>& value) { return value ? Json(*value) : Json(nullptr); }

Json rowJson(const EvalRow& r) {
    Json j{{"noise", r.noise},
           {"settings", r.settings},
           {"denoiser", r.denoiser},
           {"kind", denoiserKindName(r.kind)},
           {"samples", r.samples},
           {"pixel_error", r.mean.pixel_error},
           {"iou_D", r.mean.iou_D},
           {"iou_A", r.mean.iou_A},
           {"delta_vf", r.mean.delta_vf},
           {"delta_tort_D", optionalJson(r.mean.delta_tort_D)},
           {"delta_tort_A", optionalJson(r.mean.delta_tort_A)},
           {"ms_per_sample", r.millisecondsPerSample}};
    if (r.mean.iou_M) j["iou_M"] = *r.mean.iou_M;
    return j;
}

}  // namespace

namespace {

// One noisy image to denoise: its clean sample and the row group it counts to.
struct Case {
    std::size_t clean = 0;
    std::size_t group = 0;
};

struct Group {
    std::string noise, settings;
};

// Runs every denoiser on every case (makeNoisy(i) gives case i's noisy
// image) and averages the metrics per group and denoiser.
std::vector<EvalRow> runCases(const std::vector<Volume>& clean, const std::vector<Case>& cases,
                              const std::vector<Group>& groups, const std::function<Volume(std::size_t)>& makeNoisy,
                              const EvalOptions& options, ProgressToken* progress) {
    const auto denoisers = options.denoisers.empty() ? standardDenoisers() : options.denoisers;
    for (std::size_t i = 0; i < clean.size(); ++i) requireTwoPhase(clean[i], "noise eval sample " + std::to_string(i));

    // The clean descriptors once per sample.
    std::vector<std::map<std::string, double>> cleanDescriptors(clean.size());
    if (options.descriptors)
        parallelFor(
            clean.size(), [&](std::size_t i) { cleanDescriptors[i] = options.descriptors(clean[i]); }, options.threads);

    std::vector<std::vector<Measurement>> results(cases.size(), std::vector<Measurement>(denoisers.size()));
    std::atomic<std::size_t> done{0};
    parallelFor(
        cases.size(),
        [&](std::size_t task) {
            if (progress) progress->throwIfCancelled();
            const Case& c = cases[task];
            const Volume noisy = makeNoisy(task);
            if (noisy.dims() != clean[c.clean].dims())
                throw Error("noise eval: noisy image " + noisy.dims().str() + " does not match its clean sample " +
                            clean[c.clean].dims().str());
            for (std::size_t d = 0; d < denoisers.size(); ++d) {
                const auto start = std::chrono::steady_clock::now();
                const Volume output = denoisers[d]->denoise(noisy);
                const auto stop = std::chrono::steady_clock::now();
                auto& m = results[task][d];
                m.milliseconds = std::chrono::duration<double, std::milli>(stop - start).count();
                m.metrics = compare(clean[c.clean], output, options.descriptors,
                                    options.descriptors ? &cleanDescriptors[c.clean] : nullptr);
            }
            const std::size_t finished = ++done;
            if (progress) progress->report(double(finished) / double(cases.size()), groups[c.group].settings);
        },
        options.threads);

    std::vector<EvalRow> rows;
    for (std::size_t g = 0; g < groups.size(); ++g)
        for (std::size_t d = 0; d < denoisers.size(); ++d) {
            EvalRow row;
            row.noise = groups[g].noise;
            row.settings = groups[g].settings;
            row.denoiser = denoisers[d]->name();
            row.kind = denoisers[d]->kind();
            double tortD = 0, tortA = 0, iouM = 0, ms = 0;
            int count = 0, countD = 0, countA = 0, countM = 0;
            for (std::size_t task = 0; task < cases.size(); ++task) {
                if (cases[task].group != g) continue;
                const auto& m = results[task][d];
                ++count;
                row.mean.pixel_error += m.metrics.pixel_error;
                row.mean.iou_D += m.metrics.iou_D;
                row.mean.iou_A += m.metrics.iou_A;
                row.mean.delta_vf += m.metrics.delta_vf;
                ms += m.milliseconds;
                if (m.metrics.iou_M) iouM += *m.metrics.iou_M, ++countM;
                if (m.metrics.delta_tort_D) tortD += *m.metrics.delta_tort_D, ++countD;
                if (m.metrics.delta_tort_A) tortA += *m.metrics.delta_tort_A, ++countA;
            }
            if (count == 0) continue;
            const double n = double(count);
            row.samples = count;
            row.mean.pixel_error /= n;
            row.mean.iou_D /= n;
            row.mean.iou_A /= n;
            row.mean.delta_vf /= n;
            row.millisecondsPerSample = ms / n;
            if (countM) row.mean.iou_M = iouM / countM;
            if (countD) row.mean.delta_tort_D = tortD / countD;
            if (countA) row.mean.delta_tort_A = tortA / countA;
            row.tortuositySamples = std::min(countD, countA);
            rows.push_back(std::move(row));
        }
    return rows;
}

}  // namespace

std::vector<EvalRow> evaluate(const std::vector<Volume>& clean, const EvalOptions& options, ProgressToken* progress) {
    if (clean.empty()) throw Error("noise eval: no clean samples");
    std::vector<NoiseModel> noises = options.noises;
    if (noises.empty())
        for (NoiseType type : allNoiseTypes()) {
            NoiseModel m;
            m.type = type;
            noises.push_back(m);
        }
    for (const auto& n : noises) n.validate();
    std::vector<Group> groups;
    for (const auto& n : noises) groups.push_back({noiseTypeName(n.type), n.describe()});
    std::vector<Case> cases;
    for (std::size_t sample = 0; sample < clean.size(); ++sample)
        for (std::size_t noise = 0; noise < noises.size(); ++noise) cases.push_back({sample, noise});
    const auto makeNoisy = [&](std::size_t task) {
        return applyNoise(clean[cases[task].clean], noises[cases[task].group], deriveSeed(options.seed, task));
    };
    return runCases(clean, cases, groups, makeNoisy, options, progress);
}

std::vector<EvalRow> evaluatePairs(const std::vector<NoisyPair>& pairs, const EvalOptions& options,
                                   ProgressToken* progress) {
    if (pairs.empty()) throw Error("noise eval: no pairs");
    std::vector<Volume> clean;
    std::vector<const Volume*> noisy;
    std::vector<Case> cases;
    std::vector<Group> groups;
    std::map<std::string, std::size_t> groupOf;
    for (const auto& pair : pairs) {
        clean.push_back(pair.clean);
        for (const auto& n : pair.noisy) {
            auto it = n.text.find("noise");
            const std::string name = it == n.text.end() ? std::string("unknown") : it->second;
            if (!groupOf.count(name)) {
                groupOf[name] = groups.size();
                groups.push_back({name, name + " (stored pairs)"});
            }
            cases.push_back({clean.size() - 1, groupOf[name]});
            noisy.push_back(&n);
        }
    }
    if (cases.empty()) throw Error("noise eval: the pairs hold no noisy samples");
    return runCases(
        clean, cases, groups, [&](std::size_t task) { return *noisy[task]; }, options, progress);
}

std::string formatTable(const std::vector<EvalRow>& rows) {
    std::ostringstream out;
    char line[256];
    std::snprintf(line, sizeof line, "%-12s %-11s %-9s %11s %7s %7s %9s %11s %11s %9s\n", "noise", "denoiser", "kind",
                  "pixel_error", "iou_D", "iou_A", "delta_vf", "d_tort_D", "d_tort_A", "ms/img");
    out << line;
    for (const auto& r : rows) {
        std::snprintf(line, sizeof line, "%-12s %-11s %-9s %11s %7s %7s %9s %11s %11s %9s\n", r.noise.c_str(),
                      r.denoiser.c_str(), denoiserKindName(r.kind), number(r.mean.pixel_error, 4).c_str(),
                      number(r.mean.iou_D, 4).c_str(), number(r.mean.iou_A, 4).c_str(),
                      number(r.mean.delta_vf, 4).c_str(), optionalNumber(r.mean.delta_tort_D, 4, "-").c_str(),
                      optionalNumber(r.mean.delta_tort_A, 4, "-").c_str(), number(r.millisecondsPerSample, 3).c_str());
        out << line;
    }
    return out.str();
}

std::string formatMarkdown(const std::vector<EvalRow>& rows) {
    std::ostringstream out;
    out << "| noise | denoiser | kind | pixel error | IoU D | IoU A | abs. delta vf | abs. delta tort D | "
           "abs. delta tort A | ms/image |\n"
        << "|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : rows)
        out << "| " << r.noise << " | " << r.denoiser << " | " << denoiserKindName(r.kind) << " | "
            << number(r.mean.pixel_error, 4) << " | " << number(r.mean.iou_D, 4) << " | " << number(r.mean.iou_A, 4)
            << " | " << number(r.mean.delta_vf, 4) << " | " << optionalNumber(r.mean.delta_tort_D, 4, "-") << " | "
            << optionalNumber(r.mean.delta_tort_A, 4, "-") << " | " << number(r.millisecondsPerSample, 3) << " |\n";
    return out.str();
}

std::string formatJson(const std::vector<EvalRow>& rows) {
    Json list = Json::array();
    for (const auto& r : rows) list.push_back(rowJson(r));
    return jsonText(list) + "\n";
}

}  // namespace ms::noise
