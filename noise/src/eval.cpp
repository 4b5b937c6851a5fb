#include "microstudio/noise/eval.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "microstudio/core/error.hpp"
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

std::string jsonString(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        out += c;
    }
    return out + "\"";
}

std::string jsonNumber(double value) {
    if (!std::isfinite(value)) return "null";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    return buffer;
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
    auto denoisers = options.denoisers.empty() ? standardDenoisers() : options.denoisers;
    for (std::size_t i = 0; i < clean.size(); ++i) requireTwoPhase(clean[i], "noise eval sample " + std::to_string(i));

    // The clean descriptors once per sample.
    std::vector<std::map<std::string, double>> cleanDescriptors(clean.size());
    if (options.descriptors)
        parallelFor(
            clean.size(), [&](std::size_t i) { cleanDescriptors[i] = options.descriptors(clean[i]); }, options.threads);

    const std::size_t tasks = clean.size() * noises.size();
    std::vector<std::vector<Measurement>> results(tasks, std::vector<Measurement>(denoisers.size()));
    std::atomic<std::size_t> done{0};
    parallelFor(
        tasks,
        [&](std::size_t task) {
            if (progress) progress->throwIfCancelled();
            const std::size_t sample = task / noises.size(), noise = task % noises.size();
            const Volume noisy = applyNoise(clean[sample], noises[noise], deriveSeed(options.seed, task));
            for (std::size_t d = 0; d < denoisers.size(); ++d) {
                const auto start = std::chrono::steady_clock::now();
                const Volume output = denoisers[d]->denoise(noisy);
                const auto stop = std::chrono::steady_clock::now();
                auto& m = results[task][d];
                m.milliseconds = std::chrono::duration<double, std::milli>(stop - start).count();
                m.metrics = compare(clean[sample], output, options.descriptors,
                                    options.descriptors ? &cleanDescriptors[sample] : nullptr);
            }
            const std::size_t finished = ++done;
            if (progress) progress->report(double(finished) / double(tasks), noises[noise].describe());
        },
        options.threads);

    std::vector<EvalRow> rows;
    for (std::size_t noise = 0; noise < noises.size(); ++noise)
        for (std::size_t d = 0; d < denoisers.size(); ++d) {
            EvalRow row;
            row.noise = noiseTypeName(noises[noise].type);
            row.settings = noises[noise].describe();
            row.denoiser = denoisers[d]->name();
            row.kind = denoisers[d]->kind();
            row.samples = int(clean.size());
            double tortD = 0, tortA = 0, iouM = 0, ms = 0;
            int countD = 0, countA = 0, countM = 0;
            for (std::size_t sample = 0; sample < clean.size(); ++sample) {
                const auto& m = results[sample * noises.size() + noise][d];
                row.mean.pixel_error += m.metrics.pixel_error;
                row.mean.iou_D += m.metrics.iou_D;
                row.mean.iou_A += m.metrics.iou_A;
                row.mean.delta_vf += m.metrics.delta_vf;
                ms += m.milliseconds;
                if (m.metrics.iou_M) iouM += *m.metrics.iou_M, ++countM;
                if (m.metrics.delta_tort_D) tortD += *m.metrics.delta_tort_D, ++countD;
                if (m.metrics.delta_tort_A) tortA += *m.metrics.delta_tort_A, ++countA;
            }
            const double n = double(clean.size());
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
    std::ostringstream out;
    out << "[\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        const auto opt = [](const std::optional<double>& v) { return v ? jsonNumber(*v) : std::string("null"); };
        out << "  {\"noise\": " << jsonString(r.noise) << ", \"settings\": " << jsonString(r.settings)
            << ", \"denoiser\": " << jsonString(r.denoiser) << ", \"kind\": " << jsonString(denoiserKindName(r.kind))
            << ", \"samples\": " << r.samples << ", \"pixel_error\": " << jsonNumber(r.mean.pixel_error)
            << ", \"iou_D\": " << jsonNumber(r.mean.iou_D) << ", \"iou_A\": " << jsonNumber(r.mean.iou_A);
        if (r.mean.iou_M) out << ", \"iou_M\": " << jsonNumber(*r.mean.iou_M);
        out << ", \"delta_vf\": " << jsonNumber(r.mean.delta_vf) << ", \"delta_tort_D\": " << opt(r.mean.delta_tort_D)
            << ", \"delta_tort_A\": " << opt(r.mean.delta_tort_A)
            << ", \"ms_per_sample\": " << jsonNumber(r.millisecondsPerSample) << "}" << (i + 1 < rows.size() ? "," : "")
            << "\n";
    }
    out << "]\n";
    return out.str();
}

}  // namespace ms::noise
