#pragma once
// The samples a training reads, chosen the same way by every training
// command and the studio: evenly spaced limits, the two-phase filter, the
// test split refused, optional validation on the last fifth.
#include <filesystem>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::ml {

// Which samples a training reads.
struct TrainingSampleSelection {
    std::filesystem::path train;
    std::filesystem::path validation;  // empty: see validationFromTrain
    long limit = 0;                    // at most this many training samples, evenly spaced (0 = all)
    long validationLimit = 0;          // the same for validation
    // Samples whose rarer of Donor / Acceptor fills less than this are left
    // out before the limits (single-phase early snapshots); 0 keeps all.
    double minPhaseFraction = 0.0;
    // Without a validation file: the last fifth of the training samples
    // validates (the studio's rule); false: no validation.
    bool validationFromTrain = false;
};

struct TrainingSamples {
    std::vector<Volume> train, validation;
};

// Reads the selection's volumes; refuses test-split samples (splits.hpp)
// and an empty training set in one line naming the file. Only the chosen
// samples of an HDF5 file are read when no minimum phase fraction needs all.
// `progress`: each file's samples as they are read ("reading train.h5: 3840
// of 8400 samples"), and cancellation within a quarter second (ms::Cancelled).
TrainingSamples loadTrainingSamples(const TrainingSampleSelection& selection, ProgressToken* progress = nullptr);
// The same for the 2D trainings: 2D images, or the z slices of volumes
// (readImages2D, evaluate.hpp).
TrainingSamples loadTrainingImages(const TrainingSampleSelection& selection, ProgressToken* progress = nullptr);

}  // namespace ms::ml
