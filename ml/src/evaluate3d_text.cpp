// Evaluation3dReport as aligned text tables (`evaluate`, `generate
// --evaluate`, the Design tab's Copy report): beside toJson and csvRows, so
// every shell shows the same report.
#include <fmt/format.h>

#include <cmath>
#include <string>

#include "microstudio/ml/evaluate3d.hpp"

namespace ms::ml {

namespace {

// A table cell: `precision` digits in fixed ('f') or general ('g') form; "-" for NaN.
std::string cell(double value, char form = 'f', int precision = 4) {
    if (!std::isfinite(value)) return "-";
    return form == 'g' ? fmt::format("{:.{}g}", value, precision) : fmt::format("{:.{}f}", value, precision);
}

std::string cell(const NamedValues& values, const std::string& name, char form = 'f', int precision = 4) {
    const auto it = values.find(name);
    return cell(it != values.end() ? it->second : std::nan(""), form, precision);
}

// Target vs measured of one generation pass, per condition; `spread` adds
// a column (diversity: std at the fixed target).
std::string fitText(const TargetFit& fit, const std::vector<std::string>& conditions,
                    const NamedValues* spread = nullptr) {
    std::string out = fmt::format("{:<16} {:>10} {:>10} {:>10} {:>9}{}\n", "descriptor", "R^2", "R^2 det.", "MAE",
                                  "described", spread ? "   std at one target" : "");
    for (const auto& name : conditions)
        out += fmt::format("{:<16} {:>10} {:>10} {:>10} {:>9}{}\n", name, cell(fit.r2, name),
                           cell(fit.determination, name), cell(fit.mae, name), cell(fit.described, name, 'f', 0),
                           spread ? "   " + cell(*spread, name) : "");
    return out;
}

// The screened pass, apart from the plain figures and labelled as a search.
std::string screenedText(const Evaluation3dReport& r) {
    const auto& s = *r.screened;
    std::string out = fmt::format(
        "Screened generation ({} draws per target, best measured kept): a search over draws, not the model's "
        "figure\n",
        s.candidates);
    if (s.tolerance > 0.0) out += fmt::format("draws stop within distance {:g}\n", s.tolerance);
    out += fmt::format("{:.3g} draws per sample on average, {:.4g} s per sample\n", s.fit.drawsPerSample(),
                       s.fit.secondsPerSample);
    return out + fitText(s.fit, r.conditions);
}

// The feature predictor on the held-out latents, per output in the data.
std::string featurePredictorText(const Evaluation3dReport& r) {
    std::string out =
        fmt::format("{:<16} {:>10} {:>10}   (feature predictor on held-out latents)\n", "output", "R^2", "MAE");
    for (const auto& name : r.outputs)
        if (r.fpR2.count(name))
            out += fmt::format("{:<16} {:>10} {:>10}\n", name, cell(r.fpR2, name), cell(r.fpMae, name, 'g', 4));
    return out;
}

std::string partsText(const Evaluation3dReport& r) {
    std::string out;
    if (const auto& rt = r.reconstruction) {
        out += fmt::format("VAE round trip of the held-out samples: voxel accuracy {:.4f}; R^2", rt->voxelAccuracy);
        for (const auto& name : r.conditions) out += fmt::format(" {} {}", name, cell(rt->r2, name));
        out += "\n";
    }
    if (const auto& d = r.diversity)
        out += fmt::format("mean voxel disagreement between {} samples at one target: {}\n", d->samples,
                           cell(d->meanVoxelDisagreement));
    out += featurePredictorText(r);
    if (r.timing.empty()) return out;
    out += fmt::format("{:<8} {:>14} {:>14}   (seconds per sample)\n", "batch", "denoise", "decode");
    for (const auto& row : r.timing)
        out += fmt::format("{:<8} {:>14.4g} {:>14.4g}\n", row.batch, row.denoiseSecondsPerSample,
                           row.decodeSecondsPerSample);
    return out;
}

std::string comparisonText(const Evaluation3dReport& r) {
    const auto& c = *r.comparison;
    std::string out = fmt::format("comparison on {} of the plain targets: {} (other) vs {} (main) (batch {})\n",
                                  c.subset.size(), c.label, r.samplerLabel, r.batch);
    out += fmt::format("{:<16} {:>10} {:>10} {:>10}  {}\n", "descriptor", "R^2 main", "R^2 other", "main-other",
                       "95% interval (paired bootstrap over targets)");
    for (const auto& name : r.conditions) {
        const auto& range = c.r2DifferenceCi95.at(name);
        const std::string interval = range.size() == 2 ? fmt::format("[{:.3f}, {:.3f}]", range[0], range[1]) : "-";
        out += fmt::format("{:<16} {:>10} {:>10} {:>10}  {}\n", name, cell(c.r2Main, name), cell(c.r2, name),
                           cell(c.r2Difference, name), interval);
    }
    return out + fmt::format("seconds per sample: main {:.4g}, other {:.4g} (speed-up main / other = {})\n",
                             c.mainSecondsPerSample, c.secondsPerSample, cell(c.speedup));
}

std::string largeText(const LargeVolumeReport& l) {
    const std::string how = l.method == LargeVolumeMethod::Whole ? "the whole latent at once"
                                                                 : std::to_string(l.windows) + " latent windows each";
    std::string out = fmt::format("larger volumes {} ({}) on {} of the plain targets, beside the training size\n",
                                  l.size.str(), how, l.subset.size());
    out += fmt::format("{:<16} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "descriptor", "R^2 large", "R^2 train",
                       "MAE large", "MAE train", "MAE ratio");
    for (const auto& [name, r2] : l.fit.r2)
        out += fmt::format("{:<16} {:>10} {:>10} {:>10} {:>10} {:>10}\n", name, cell(r2), cell(l.r2Training, name),
                           cell(l.fit.mae, name), cell(l.maeTraining, name), cell(l.maeRatio, name));
    out += fmt::format(
        "seams (donor S2, lags 1..{} along x/y): across borders vs inside windows RMS {}; between samples {}: {}\n",
        l.maxLag, cell(l.seamDifference), cell(l.sampleSpread), l.seamless ? "no seams" : "SEAMS");
    return out + fmt::format("seconds per voxel: large {:.4g}, training size {:.4g} (ratio {})\n", l.secondsPerVoxel,
                             l.trainingSecondsPerVoxel, cell(l.costRatio));
}

std::string memorisationText(const MemorisationReport& m) {
    std::string out =
        fmt::format("memorisation: nearest of {} training samples (voxel disagreement, best x/y shift and symmetry)\n",
                    m.trainingCount);
    out += fmt::format("{:<10} {:>4} {:>8} {:>8} {:>8} {:>8} {:>8}  {}\n", "set", "n", "min", "q1", "median", "q3",
                       "mean", "interface density");
    std::vector<std::pair<const NearestSummary*, const char*>> sets{{&m.generated, "generated"},
                                                                    {&m.heldOut, "held-out"}};
    if (m.roundTrip) sets.emplace_back(&*m.roundTrip, "round trip");
    for (const auto& [set, label] : sets)
        out += fmt::format("{:<10} {:>4} {:>8.4f} {:>8.4f} {:>8.4f} {:>8.4f} {:>8.4f}  {:.4f}\n", label, set->n,
                           set->min, set->q1, set->median, set->q3, set->mean, set->interfaceDensity);
    out += fmt::format("training interface density {:.4f}; S2 (donor) RMS difference generated vs held-out {:.4g}\n",
                       m.trainingInterfaceDensity, m.s2RmsDifference);
    return out + fmt::format("generated median >= held-out median: {}\n", m.generatedNotCloser ? "true" : "false");
}

}  // namespace

std::string Evaluation3dReport::text() const {
    std::string out =
        fmt::format("evaluate {} on {} held-out samples of {} (split {}; {}, batch {}, guidance {:g}, {})\n", model, n,
                    data, split, samplerLabel, batch, guidance, device);
    out += "plain sampling (one draw per target): target vs measured\n";
    out += fitText(plain, conditions, diversity ? &diversity->std : nullptr);
    if (screened) out += screenedText(*this);
    out += partsText(*this);
    if (comparison) out += comparisonText(*this);
    if (large) out += largeText(*large);
    if (memorisation) out += memorisationText(*memorisation);
    return out;
}

std::string Evaluation3dReport::heldOutCheckText() const {
    std::string out = fmt::format("evaluate: {} held-out samples from {} (split {}); sampler {}, guidance {:g}\n", n,
                                  data, split, samplerLabel, guidance);
    out += featurePredictorText(*this);
    out += "descriptors of generated volumes vs their targets (plain sampling, one draw per target)\n";
    out += fitText(plain, conditions);
    if (screened) out += screenedText(*this);
    return out;
}

}  // namespace ms::ml
