#pragma once
// Dataset splits (issue 20). The dataset builder splits by simulation run
// and marks each sample with text["split"] = "train", "val" or "test"; the
// HDF5 files keep it as a string attribute of the sample. The test split is
// read only by evaluation: every training refuses test samples, in its
// training set and in its validation set (validation chooses the epoch and
// the weights kept, so it must not see test data either). Judged by the
// attribute, never by the file name. Torch-free, header-only.
#include <cctype>
#include <cstddef>
#include <iterator>
#include <string>
#include <vector>

#include "microstudio/core/error.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::ml {

// The split a sample belongs to: text["split"] trimmed and lower-cased
// ("train", "val", "test"), or "" when the sample carries none.
inline std::string sampleSplit(const Volume& volume) {
    const auto it = volume.text.find("split");
    if (it == volume.text.end()) return {};
    std::string s;
    for (char c : it->second)
        if (!std::isspace(static_cast<unsigned char>(c))) s += char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline bool isTestSample(const Volume& volume) { return sampleSplit(volume) == "test"; }

// Throws ms::Error when any of `samples` belongs to the test split, one line
// naming the role, the count and the first such sample (text["sample"], else
// its index), e.g. "training data holds 12 samples of the test split (e.g.
// run_000003_snap_000120); test samples are read only by evaluate".
// Called by every training entry point (trainVae2d, trainGenerator3d*) for
// its training and validation sets, and by the CLI and GUI when they load
// data (trainLdm2d takes latents, so its callers check the images).
inline void refuseTestSamples(const std::vector<Volume>& samples, const std::string& role) {
    std::size_t count = 0;
    std::string first;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        if (!isTestSample(samples[i])) continue;
        if (count++ == 0) {
            const auto name = samples[i].text.find("sample");
            first =
                name != samples[i].text.end() && !name->second.empty() ? name->second : "sample " + std::to_string(i);
        }
    }
    if (count == 0) return;
    throw Error(role + " holds " + std::to_string(count) + (count == 1 ? " sample" : " samples") +
                " of the test split (e.g. " + first + "); test samples are read only by evaluate");
}

// Without a validation file, the studio's trainings validate on the last
// fifth of the training samples: moves them out of `train` (none below 5).
inline std::vector<Volume> splitOffLastFifth(std::vector<Volume>& train) {
    std::vector<Volume> validation;
    if (train.size() < 5) return validation;
    const std::size_t keep = train.size() - train.size() / 5;
    validation.assign(std::make_move_iterator(train.begin() + std::ptrdiff_t(keep)),
                      std::make_move_iterator(train.end()));
    train.resize(keep);
    return validation;
}

}  // namespace ms::ml
