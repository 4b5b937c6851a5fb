// The 3D evaluation's report as JSON and CSV, and read back from JSON (the
// ML worker's reply): torch-free, in the part of ml the studio links.
#include <cmath>
#include <cstdio>
#include <numeric>

#include "microstudio/core/error.hpp"
#include "microstudio/ml/evaluate3d.hpp"

namespace ms::ml {

namespace {

const double kNaN = std::nan("");

// ---- JSON ---------------------------------------------------------------------

Json numberOrNull(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

Json namedJson(const NamedValues& values) {
    Json j = Json::object();
    for (const auto& [name, v] : values) j[name] = numberOrNull(v);
    return j;
}

// r2, r2_determination, mae, described, s_per_sample of a pass into `j`.
void putFit(Json& j, const TargetFit& fit) {
    j["r2"] = namedJson(fit.r2);
    j["r2_determination"] = namedJson(fit.determination);
    j["mae"] = namedJson(fit.mae);
    j["described"] = namedJson(fit.described);
    j["s_per_sample"] = numberOrNull(fit.secondsPerSample);
}

Json screenedJson(const ScreenedFit& s) {
    Json j = Json::object();
    j["candidates"] = s.candidates;
    j["tolerance"] = s.tolerance;
    j["draws_per_sample"] = numberOrNull(s.fit.drawsPerSample());
    putFit(j, s.fit);
    return j;
}

Json reconstructionJson(const ReconstructionReport& r) {
    Json j = Json::object();
    j["r2"] = namedJson(r.r2);
    j["r2_determination"] = namedJson(r.determination);
    j["mae"] = namedJson(r.mae);
    j["voxel_accuracy"] = numberOrNull(r.voxelAccuracy);
    j["voxel_accuracy_by_z"] = Json(r.voxelAccuracyByZ);
    return j;
}

Json diversityJson(const DiversityReport& d) {
    Json j = Json::object();
    j["target"] = namedJson(d.target);
    j["samples"] = d.samples;
    j["std"] = namedJson(d.std);
    j["mean_voxel_disagreement"] = numberOrNull(d.meanVoxelDisagreement);
    return j;
}

void putTiming(Json& j, const std::vector<TimingRow>& rows) {
    Json timing = Json::array();
    for (const auto& row : rows) {
        Json r = Json::object();
        r["batch"] = row.batch;
        r["denoise_s_per_sample"] = numberOrNull(row.denoiseSecondsPerSample);
        r["decode_s_per_sample"] = numberOrNull(row.decodeSecondsPerSample);
        timing.push_back(r);
    }
    j["timing"] = timing;
    // Headline figures: the last (largest) batch size.
    j["timing_batch"] = rows.back().batch;
    j["denoise_s_per_sample"] = numberOrNull(rows.back().denoiseSecondsPerSample);
    j["decode_s_per_sample"] = numberOrNull(rows.back().decodeSecondsPerSample);
}

Json largeJson(const LargeVolumeReport& l) {
    Json j = Json::object();
    j["size"] = l.size.str();
    j["method"] = largeVolumeMethodName(l.method);
    j["windows"] = l.windows;
    j["targets"] = l.subset.size();
    putFit(j, l.fit);
    j["r2_training_size"] = namedJson(l.r2Training);
    j["mae_training_size"] = namedJson(l.maeTraining);
    j["mae_ratio"] = namedJson(l.maeRatio);
    j["s2_across_borders"] = l.s2Across;
    j["s2_inside_windows"] = l.s2Inside;
    j["seam_difference"] = numberOrNull(l.seamDifference);
    j["sample_spread"] = numberOrNull(l.sampleSpread);
    j["seamless"] = l.seamless;
    j["s_per_voxel"] = numberOrNull(l.secondsPerVoxel);
    j["s_per_voxel_training_size"] = numberOrNull(l.trainingSecondsPerVoxel);
    j["cost_ratio"] = numberOrNull(l.costRatio);
    return j;
}

Json comparisonJson(const SamplerComparison& s) {
    Json j = Json::object();
    j["steps"] = s.steps;
    j["sampler"] = s.sampler;
    j["sampler_label"] = s.label;
    j["n"] = s.subset.size();
    j["r2"] = namedJson(s.r2);
    j["r2_main_sampler"] = namedJson(s.r2Main);
    j["r2_difference"] = namedJson(s.r2Difference);
    Json intervals = Json::object();
    for (const auto& [name, range] : s.r2DifferenceCi95) intervals[name] = Json(range);
    j["r2_difference_ci95"] = intervals;
    j["s_per_sample"] = numberOrNull(s.secondsPerSample);
    j["main_s_per_sample"] = numberOrNull(s.mainSecondsPerSample);
    j["speedup"] = numberOrNull(s.speedup);
    return j;
}

Json nearestJson(const NearestSummary& s) {
    Json spread = Json::object();
    spread["min"] = numberOrNull(s.min);
    spread["q1"] = numberOrNull(s.q1);
    spread["median"] = numberOrNull(s.median);
    spread["q3"] = numberOrNull(s.q3);
    spread["max"] = numberOrNull(s.max);
    spread["mean"] = numberOrNull(s.mean);
    Json j = Json::object();
    j["n"] = s.n;
    j["nearest_disagreement"] = spread;
    j["interface_density"] = numberOrNull(s.interfaceDensity);
    j["s2_donor"] = Json(s.s2Donor);
    return j;
}

Json memorisationJson(const MemorisationReport& m) {
    Json j = Json::object();
    j["training"] = m.training;
    j["training_count"] = m.trainingCount;
    j["generated"] = nearestJson(m.generated);
    j["held_out"] = nearestJson(m.heldOut);
    if (m.roundTrip) j["round_trip"] = nearestJson(*m.roundTrip);
    j["training_interface_density"] = numberOrNull(m.trainingInterfaceDensity);
    j["training_s2_donor"] = Json(m.trainingS2Donor);
    j["s2_rms_difference"] = numberOrNull(m.s2RmsDifference);
    j["generated_median_ge_held_out_median"] = m.generatedNotCloser;
    return j;
}

// Every target's values: the targets, the plain pass, the round trip and
// the screened pass (with its draws), so a reader can plot them.
Json perTargetJson(const Evaluation3dReport& r) {
    const auto list = [](const std::vector<NamedValues>& values) {
        Json j = Json::array();
        for (const auto& v : values) j.push_back(namedJson(v));
        return j;
    };
    Json j = Json::object();
    j["targets"] = list(r.targets);
    j["plain"] = list(r.plain.measured);
    if (r.reconstruction) j["round_trip"] = list(r.reconstruction->measured);
    if (r.screened) {
        j["screened"] = list(r.screened->fit.measured);
        j["draws"] = Json(r.screened->fit.draws);
    }
    return j;
}

// ---- reading a report back (the ML worker's reply) ----------------------------------

NamedValues namedFrom(const Json& j) {
    NamedValues values;
    for (const auto& [name, value] : j.items()) values[name] = value.is_null() ? kNaN : asNumber(value);
    return values;
}

std::vector<NamedValues> namedListFrom(const Json& j, const std::string& key) {
    std::vector<NamedValues> out;
    if (j.contains(key))
        for (const auto& item : memberAt(j, key)) out.push_back(namedFrom(item));
    return out;
}

double numberOrNaN(const Json& j, const std::string& key) {
    return j.contains(key) && j[key].is_null() ? kNaN : numberAt(j, key);
}

TargetFit fitFrom(const Json& j, std::vector<NamedValues> measured) {
    TargetFit fit;
    fit.r2 = namedFrom(memberAt(j, "r2"));
    fit.determination = namedFrom(memberAt(j, "r2_determination"));
    fit.mae = namedFrom(memberAt(j, "mae"));
    fit.described = namedFrom(memberAt(j, "described"));
    fit.secondsPerSample = numberOrNaN(j, "s_per_sample");
    fit.measured = std::move(measured);
    fit.draws.assign(fit.measured.size(), 1.0);
    return fit;
}

NearestSummary nearestFrom(const Json& j) {
    NearestSummary s;
    s.n = std::size_t(numberAt(j, "n"));
    const Json& spread = memberAt(j, "nearest_disagreement");
    s.min = numberOrNaN(spread, "min");
    s.q1 = numberOrNaN(spread, "q1");
    s.median = numberOrNaN(spread, "median");
    s.q3 = numberOrNaN(spread, "q3");
    s.max = numberOrNaN(spread, "max");
    s.mean = numberOrNaN(spread, "mean");
    s.interfaceDensity = numberOrNaN(j, "interface_density");
    s.s2Donor = numbersAt(j, "s2_donor");
    return s;
}

MemorisationReport memorisationFrom(const Json& j) {
    MemorisationReport m;
    m.training = stringAt(j, "training");
    m.trainingCount = std::size_t(numberAt(j, "training_count"));
    m.generated = nearestFrom(memberAt(j, "generated"));
    m.heldOut = nearestFrom(memberAt(j, "held_out"));
    if (j.contains("round_trip")) m.roundTrip = nearestFrom(memberAt(j, "round_trip"));
    m.trainingInterfaceDensity = numberOrNaN(j, "training_interface_density");
    m.trainingS2Donor = numbersAt(j, "training_s2_donor");
    m.s2RmsDifference = numberOrNaN(j, "s2_rms_difference");
    m.generatedNotCloser = boolAt(j, "generated_median_ge_held_out_median");
    return m;
}

void optionalPartsFrom(const Json& j, const Json& perTarget, Evaluation3dReport& r) {
    if (j.contains("screened")) {
        const Json& s = j["screened"];
        ScreenedFit screened;
        screened.candidates = int(numberAt(s, "candidates"));
        screened.tolerance = numberAt(s, "tolerance");
        screened.fit = fitFrom(s, namedListFrom(perTarget, "screened"));
        screened.fit.draws = numbersAt(perTarget, "draws");
        r.screened = std::move(screened);
    }
    if (j.contains("reconstruction")) {
        const Json& rt = j["reconstruction"];
        ReconstructionReport reconstruction;
        reconstruction.r2 = namedFrom(memberAt(rt, "r2"));
        if (rt.contains("r2_determination"))  // absent in reports before 7 Dec 2026
            reconstruction.determination = namedFrom(memberAt(rt, "r2_determination"));
        if (rt.contains("mae")) reconstruction.mae = namedFrom(memberAt(rt, "mae"));
        reconstruction.voxelAccuracy = numberOrNaN(rt, "voxel_accuracy");
        reconstruction.voxelAccuracyByZ = numbersAt(rt, "voxel_accuracy_by_z");
        reconstruction.measured = namedListFrom(perTarget, "round_trip");
        r.reconstruction = std::move(reconstruction);
    }
    if (j.contains("diversity")) {
        const Json& d = j["diversity"];
        DiversityReport diversity;
        diversity.target = namedFrom(memberAt(d, "target"));
        diversity.samples = int(numberAt(d, "samples"));
        diversity.std = namedFrom(memberAt(d, "std"));
        diversity.meanVoxelDisagreement = numberOrNaN(d, "mean_voxel_disagreement");
        r.diversity = std::move(diversity);
    }
    if (j.contains("memorisation")) r.memorisation = memorisationFrom(j["memorisation"]);
}

}  // namespace

std::string csvNumber(double value) {
    if (!std::isfinite(value)) return "";
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value);
    return text;
}

double TargetFit::drawsPerSample() const {
    return draws.empty() ? kNaN : std::accumulate(draws.begin(), draws.end(), 0.0) / double(draws.size());
}

Json Evaluation3dReport::toJson() const {
    Json j = Json::object();
    j["model"] = model;
    j["data"] = data;
    j["split"] = split;
    j["device"] = device;
    j["n"] = n;
    j["steps"] = steps;
    j["batch"] = batch;
    j["sampler"] = sampler;
    j["sampler_label"] = samplerLabel;
    j["guidance"] = guidance;
    j["ddpm_variance"] = ddpmVariance;
    j["min_phase_fraction"] = minPhaseFraction;
    putFit(j, plain);
    j["target_std"] = namedJson(targetStd);
    j["fp_r2"] = namedJson(fpR2);
    j["fp_mae"] = namedJson(fpMae);
    if (screened) j["screened"] = screenedJson(*screened);
    if (reconstruction) j["reconstruction"] = reconstructionJson(*reconstruction);
    if (diversity) j["diversity"] = diversityJson(*diversity);
    if (!timing.empty()) putTiming(j, timing);
    if (comparison) j["comparison"] = comparisonJson(*comparison);
    if (memorisation) j["memorisation"] = memorisationJson(*memorisation);
    if (large) j["large"] = largeJson(*large);
    j["conditions"] = conditions;
    j["outputs"] = outputs;
    j["per_target"] = perTargetJson(*this);
    return j;
}

Evaluation3dReport Evaluation3dReport::fromJson(const Json& j) {
    Evaluation3dReport r;
    r.model = stringAt(j, "model");
    r.data = stringAt(j, "data");
    r.split = stringAt(j, "split");
    r.device = stringAt(j, "device");
    r.n = std::size_t(numberAt(j, "n"));
    r.steps = int(numberAt(j, "steps"));
    r.batch = j.contains("batch") ? int(numberAt(j, "batch")) : 0;  // reports before it lack it
    r.sampler = stringAt(j, "sampler");
    r.samplerLabel = stringAt(j, "sampler_label");
    r.guidance = numberAt(j, "guidance");
    r.ddpmVariance = stringAt(j, "ddpm_variance");
    r.minPhaseFraction = numberAt(j, "min_phase_fraction");
    r.conditions = stringsAt(j, "conditions");
    r.outputs = stringsAt(j, "outputs");
    const Json& perTarget = memberAt(j, "per_target");
    r.targets = namedListFrom(perTarget, "targets");
    if (r.targets.size() != r.n)
        throw Error("evaluation report: " + std::to_string(r.targets.size()) +
                    " per-target rows for n = " + std::to_string(r.n));
    r.plain = fitFrom(j, namedListFrom(perTarget, "plain"));
    r.targetStd = namedFrom(memberAt(j, "target_std"));
    r.fpR2 = namedFrom(memberAt(j, "fp_r2"));
    r.fpMae = namedFrom(memberAt(j, "fp_mae"));
    optionalPartsFrom(j, perTarget, r);
    return r;
}

std::vector<std::string> Evaluation3dReport::csvRows() const {
    // A round-trip-only report (Evaluation3dOptions::generation false) has no generated values.
    const bool generated = plain.measured.size() == n;
    std::string header = "sample";
    for (const auto& name : conditions) {
        header += "," + name;
        if (reconstruction) header += "," + name + "_round_trip";
        if (generated) header += "," + name + "_generated";
        if (screened) header += "," + name + "_screened";
        if (comparison) header += "," + name + "_compared";
    }
    if (screened) header += ",draws";
    std::vector<std::string> rows{header};
    std::vector<const NamedValues*> compared(n, nullptr);  // off the compared subset: empty cells
    if (comparison)
        for (std::size_t k = 0; k < comparison->subset.size(); ++k)
            compared[comparison->subset[k]] = &comparison->measured[k];
    for (std::size_t i = 0; i < n; ++i) {
        std::string row = std::to_string(i);
        for (const auto& name : conditions) {
            row += "," + csvNumber(targets[i].at(name));
            if (reconstruction) row += "," + csvNumber(reconstruction->measured[i].at(name));
            if (generated) row += "," + csvNumber(plain.measured[i].at(name));
            if (screened) row += "," + csvNumber(screened->fit.measured[i].at(name));
            if (comparison) row += "," + csvNumber(compared[i] ? compared[i]->at(name) : kNaN);
        }
        if (screened) row += "," + csvNumber(screened->fit.draws[i]);
        rows.push_back(row);
    }
    return rows;
}

std::vector<std::string> generatedCsvRows(const std::vector<Volume>& volumes,
                                          const std::vector<std::string>& conditions,
                                          const std::vector<std::string>& outputs) {
    std::string header = "sample,seed";
    for (const auto& name : conditions) header += ",target_" + name;
    for (const auto& name : conditions) header += ",measured_" + name;
    for (const auto& name : outputs) header += ",predicted_" + name;
    std::vector<std::string> rows{header + ",feasible,candidates,selection_distance"};
    auto value = [](const Volume& v, const std::string& key) {
        const auto it = v.attributes.find(key);
        return csvNumber(it == v.attributes.end() ? kNaN : it->second);
    };
    for (const auto& v : volumes) {
        std::string row = (v.text.count("sample") ? v.text.at("sample") : "") + "," + value(v, "seed");
        for (const auto& name : conditions) row += "," + value(v, "target_" + name);
        for (const auto& name : conditions) row += "," + value(v, name);
        for (const auto& name : outputs) row += "," + value(v, "predicted_" + name);
        rows.push_back(row + "," + value(v, "target_feasible") + "," + value(v, "candidates") + "," +
                       value(v, "selection_distance"));
    }
    return rows;
}

}  // namespace ms::ml
