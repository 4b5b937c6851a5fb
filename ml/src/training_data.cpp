#include "microstudio/ml/training_data.hpp"

#include <cstdint>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/subsample.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/splits.hpp"

namespace fs = std::filesystem;

namespace ms::ml {

namespace {

std::vector<Volume> readVolumes(const fs::path& file, long limit, double minPhaseFraction, ProgressToken* progress) {
    const std::string ext = lowerExtension(file);
    if (limit > 0 && minPhaseFraction <= 0.0 && (ext == "h5" || ext == "hdf5")) {
        // Only the samples used are read (datasets of 3D volumes are large).
        const auto names = io::hdf5SampleNames(file);
        std::vector<Volume> out;
        const auto used = evenlySpaced(names.size(), std::size_t(limit));
        for (std::size_t i : used) {
            out.push_back(io::readHdf5Sample(file, names[i]));
            if (progress)
                progress->report(double(out.size()) / double(used.size()),
                                 io::readingSamplesMessage(file, out.size(), used.size()));
        }
        return out;
    }
    // The filter, then the evenly spaced limit: the selection `evaluate` makes.
    return selectSamples(io::readSamples(file.string(), progress), limit > 0 ? std::size_t(limit) : SIZE_MAX,
                         minPhaseFraction);
}

std::vector<Volume> readImages(const fs::path& file, long limit, double minPhaseFraction, ProgressToken* progress) {
    return readImages2D(file.string(), limit, minPhaseFraction, progress);
}

using Reader = std::vector<Volume> (*)(const fs::path& file, long limit, double minPhaseFraction,
                                       ProgressToken* progress);

TrainingSamples load(const TrainingSampleSelection& s, Reader read, ProgressToken* progress) {
    if (s.minPhaseFraction < 0.0 || s.minPhaseFraction >= 0.5)
        throw Error("the minimum phase fraction must be in [0, 0.5), not " + std::to_string(s.minPhaseFraction));
    TrainingSamples d;
    d.train = read(s.train, s.limit, s.minPhaseFraction, progress);
    if (d.train.empty())
        throw Error(s.train.string() + ": no training samples" +
                    (s.minPhaseFraction > 0.0 ? " with both phases above the minimum phase fraction" : ""));
    // Test-split samples are for `evaluate` only; the trainings refuse them
    // too, this says so before descriptors are computed.
    refuseTestSamples(d.train, "training data (" + s.train.string() + ")");
    if (!s.validation.empty()) {
        d.validation = read(s.validation, s.validationLimit, s.minPhaseFraction, progress);
        refuseTestSamples(d.validation, "validation data (" + s.validation.string() + ")");
    } else if (s.validationFromTrain) {
        d.validation = splitOffLastFifth(d.train);
    }
    return d;
}

}  // namespace

TrainingSamples loadTrainingSamples(const TrainingSampleSelection& s, ProgressToken* progress) {
    return load(s, readVolumes, progress);
}

TrainingSamples loadTrainingImages(const TrainingSampleSelection& s, ProgressToken* progress) {
    return load(s, readImages, progress);
}

}  // namespace ms::ml
