#include "microstudio/noise/dataset.hpp"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>

#include "internal.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"

namespace ms::noise {

namespace {

double parseNumber(const std::string& text, const std::string& name) {
    try {
        std::size_t used = 0;
        const double value = std::stod(text, &used);
        if (used == text.size() && std::isfinite(value)) return value;
    } catch (const std::exception&) {}
    throw Error("--" + name + " expects a number or a range LO:HI, got '" + text + "'");
}

std::string pairName(std::size_t index) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "p%06zu", index);
    return buffer;
}

}  // namespace

double ParamRange::draw(std::mt19937_64& rng) const {
    const double u = detail::uniform01(rng);  // drawn even for fixed values: the stream stays aligned
    return lo == hi ? lo : lo + (hi - lo) * u;
}

ParamRange ParamRange::parse(const std::string& text, const std::string& name) {
    const auto colon = text.find(':');
    if (colon == std::string::npos) return ParamRange(parseNumber(text, name));
    const double lo = parseNumber(text.substr(0, colon), name), hi = parseNumber(text.substr(colon + 1), name);
    if (lo > hi) throw Error("--" + name + ": range " + text + " has LO > HI");
    return ParamRange(lo, hi);
}

NoiseRanges NoiseRanges::defaults(NoiseType type) {
    const NoiseModel m;
    NoiseRanges r;
    r.type = type;
    r.flip_probability = m.flip_probability;
    r.grid_amplitude = m.grid_amplitude;
    r.grid_frequency = m.grid_frequency;
    r.grid_rotation = m.grid_rotation;
    r.rings = double(m.rings);
    r.mask_intensity = m.mask_intensity;
    r.mask_width = m.mask_width;
    return r;
}

NoiseModel NoiseRanges::draw(std::mt19937_64& rng) const {
    NoiseModel m;
    m.type = type;
    // Every parameter is drawn in a fixed order whatever the type.
    m.flip_probability = flip_probability.draw(rng);
    m.grid_amplitude = grid_amplitude.draw(rng);
    m.grid_frequency = grid_frequency.draw(rng);
    m.grid_rotation = grid_rotation.draw(rng);
    const double ringValue = rings.draw(rng);
    // Integers in [lo, hi] with equal chance: floor of a uniform on [lo, hi + 1).
    m.rings =
        rings.lo == rings.hi
            ? int(std::lround(rings.lo))
            : int(std::floor(rings.lo + (ringValue - rings.lo) * (rings.hi + 1 - rings.lo) / (rings.hi - rings.lo)));
    if (rings.lo != rings.hi) m.rings = std::min(m.rings, int(std::floor(rings.hi)));
    m.mask_intensity = mask_intensity.draw(rng);
    m.mask_width = mask_width.draw(rng);
    m.validate();
    return m;
}

void NoiseRanges::validate() const {
    for (bool high : {false, true}) {
        auto end = [high](const ParamRange& p) { return high ? p.hi : p.lo; };
        NoiseModel m;
        m.type = type;
        m.flip_probability = end(flip_probability);
        m.grid_amplitude = end(grid_amplitude);
        m.grid_frequency = end(grid_frequency);
        m.grid_rotation = end(grid_rotation);
        m.rings = int(end(rings));
        m.mask_intensity = end(mask_intensity);
        m.mask_width = end(mask_width);
        m.validate();
    }
}

std::vector<NoisyPair> makePairs(const std::vector<Volume>& clean, const PairedDatasetOptions& options,
                                 ProgressToken* progress) {
    for (const auto& ranges : options.noises) ranges.validate();
    if (options.noises.empty()) throw Error("paired dataset: no noise type given");
    if (options.variants < 1) throw Error("paired dataset: variants must be >= 1");
    if (clean.empty()) throw Error("paired dataset: no clean samples");
    for (std::size_t i = 0; i < clean.size(); ++i)
        requireTwoPhase(clean[i], "paired dataset sample " + std::to_string(i));
    std::vector<NoisyPair> pairs(clean.size());
    std::atomic<std::size_t> done{0};
    parallelFor(
        clean.size(),
        [&](std::size_t i) {
            if (progress) progress->throwIfCancelled();
            const std::uint64_t sampleSeed = deriveSeed(options.seed, i);
            NoisyPair& pair = pairs[i];
            pair.clean = clean[i];
            const std::string name = pairName(i);
            const std::string origin = clean[i].text.count("sample") ? clean[i].text.at("sample") : "";
            const std::string source = clean[i].text.count("source") ? clean[i].text.at("source") : "";
            pair.clean.text["sample"] = name + "_clean";
            pair.clean.text["role"] = "clean";
            if (!origin.empty() || !source.empty()) pair.clean.text["clean_source"] = source + ":" + origin;
            pair.clean.attributes["pair"] = double(i);
            for (std::size_t t = 0; t < options.noises.size(); ++t)
                for (int k = 0; k < options.variants; ++k) {
                    const std::uint64_t seed =
                        deriveSeed(sampleSeed, t * std::size_t(options.variants) + std::size_t(k));
                    std::mt19937_64 rng(seed);
                    const NoiseModel model = options.noises[t].draw(rng);
                    Volume noisy = applyNoise(pair.clean, model, seed);
                    noisy.text.erase("clean_source");
                    noisy.text["sample"] = name + "_" + noiseTypeName(model.type) + "_" + std::to_string(k);
                    noisy.text["role"] = "noisy";
                    noisy.text["clean"] = name + "_clean";
                    noisy.attributes["variant"] = double(k);
                    pair.noisy.push_back(std::move(noisy));
                }
            const std::size_t finished = ++done;
            if (progress)
                progress->report(double(finished) / double(clean.size()),
                                 std::to_string(finished) + "/" + std::to_string(clean.size()) + " samples");
        },
        options.threads);
    return pairs;
}

std::vector<Volume> pairSamples(const std::vector<NoisyPair>& pairs) {
    std::vector<Volume> samples;
    for (const auto& pair : pairs) {
        samples.push_back(pair.clean);
        for (const auto& noisy : pair.noisy) samples.push_back(noisy);
    }
    return samples;
}

std::size_t writePairedDataset(const std::vector<Volume>& clean, const PairedDatasetOptions& options,
                               const std::filesystem::path& output, ProgressToken* progress) {
    if (io::formatOf(output) != io::Format::Hdf5) throw Error(output.string() + ": a paired dataset is written as .h5");
    const auto pairs = makePairs(clean, options, progress);
    io::writeHdf5(pairSamples(pairs), output);
    std::size_t noisy = 0;
    for (const auto& pair : pairs) noisy += pair.noisy.size();
    return noisy;
}

std::vector<NoisyPair> readPairedDataset(const std::string& pathOrGlob) {
    auto samples = io::readSamples(pathOrGlob);
    auto roleOf = [](const Volume& v) {
        auto role = v.text.find("role");
        return role == v.text.end() ? std::string() : role->second;
    };
    std::vector<NoisyPair> pairs;
    std::map<std::string, std::size_t> cleanIndex;
    for (auto& s : samples)
        if (roleOf(s) == "clean") {
            cleanIndex[s.text["sample"]] = pairs.size();
            pairs.push_back({s, {}});
        }
    for (auto& s : samples) {
        if (roleOf(s) != "noisy") continue;
        auto clean = s.text.find("clean");
        auto it = clean == s.text.end() ? cleanIndex.end() : cleanIndex.find(clean->second);
        if (it == cleanIndex.end())
            throw Error(pathOrGlob + ": noisy sample '" + s.text["sample"] + "' has no clean partner");
        pairs[it->second].noisy.push_back(std::move(s));
    }
    if (pairs.empty()) throw Error(pathOrGlob + ": no clean samples (text role = clean) found");
    return pairs;
}

}  // namespace ms::noise
