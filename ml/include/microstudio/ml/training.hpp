#pragma once
// The training loop every model of the project shares (torch-free view):
// options, progress and the report. Device: CUDA when present (unless
// forceCpu), else CPU with ms::defaultThreadCount() threads. Determinism:
// the data order of epoch e is a permutation seeded by (seed, e) and every
// random draw of step s (noise, reparameterisation, timesteps) is seeded by
// (seed, s), so a run resumed from a checkpoint continues exactly as if it
// had never stopped. Data-parallel (distributed.hpp): with N ranks of batch
// B, step s uses the same global batch (N*B samples, the same draws) as one
// process with batch N*B; each rank computes its slice and the gradients are
// averaged, so the result does not depend on N (up to float rounding).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/ml/distributed.hpp"
#include "microstudio/core/json.hpp"

namespace ms::ml {

struct TrainProgress {
    long step = 0, totalSteps = 0;  // optimiser steps
    int epoch = 0, epochs = 0;      // epoch is 0-based, the one running
    double trainLoss = 0.0;         // running mean of this epoch
    double seconds = 0.0;           // wall time of this run (not counting earlier runs)
    double etaSeconds = 0.0;        // from this run's mean step time
};

struct EpochRecord {
    int epoch = 0;
    double trainLoss = 0.0;
    double validationLoss = 0.0;  // NaN without a validation set
    double seconds = 0.0;
};

struct TrainOptions {
    int epochs = 10;
    int batchSize = 32;  // per rank: the global batch is worldSize * batchSize
    double learningRate = 1e-3;
    std::uint64_t seed = 0;
    // Checkpoint (model, optimiser, step, history, early-stopping state),
    // written atomically every `checkpointEvery` steps and at every epoch
    // end; empty path = none. With `resume`, an existing checkpoint is
    // loaded and training continues from it.
    std::filesystem::path checkpoint;
    long checkpointEvery = 0;  // steps; 0 = epoch ends only
    bool resume = true;
    // Early stopping: stop when the validation loss has not improved by
    // more than minDelta for `patience` epochs (0 = off); the best weights
    // are restored at the end whenever there was a validation set.
    int patience = 0;
    double minDelta = 0.0;
    // false: keep the last epoch's weights (when the validation loss is a
    // poor model-selection criterion, e.g. a VAE's KL term rising as the
    // latent gets used).
    bool restoreBest = true;
    // Exponential moving average of the weights (0 = off): after step s the
    // average moves by (1 - d) towards the weights, d = min(emaDecay,
    // (1 + s) / (10 + s)) so early steps are not swamped by the initial
    // weights. Validation and the weights kept at the end are the average's
    // (the DDPM papers sample from such an average: less step-to-step noise
    // in the predictor). Checkpointed with the rest.
    double emaDecay = 0.0;
    // Mixed precision: each training step's forward pass and loss run under
    // CPU autocast to bfloat16 (convolutions and matrix products in bf16 on
    // the CPU's AMX / AVX512-BF16 units); weights, gradients, the optimiser
    // and validation stay float32. CPU only, and only on a CPU with native
    // bfloat16 (cpuHasNativeBf16()); otherwise the training refuses to start
    // (ms::Error, one line). Recorded in the model's training options.
    bool bf16 = false;
    // Stop (with a checkpoint) once this many steps are done in total; for
    // tests that simulate a kill. 0 = no limit.
    long stopAfterSteps = 0;
    bool forceCpu = false;
    int threads = 0;                    // torch intra-op threads on CPU; 0 = ms::defaultThreadCount()
    ProgressToken* progress = nullptr;  // report() each step; cancel throws ms::Cancelled
    std::function<void(const TrainProgress&)> onProgress;
    // Every finished epoch (with its validation loss), on the rank that
    // writes; after a resume, first the epochs the checkpoint holds.
    std::function<void(const EpochRecord&)> onEpoch;
    // Data-parallel run: with worldSize > 1 and no `communicator`, the
    // training connects one itself (rendezvous per training). A given
    // communicator (connected once, shared by several trainings) wins.
    // Only rank 0 writes the checkpoint; resume works for any rank count
    // with the same global batch.
    DistributedOptions distributed;
    std::shared_ptr<Communicator> communicator;

    Json toJson() const;  // the reproducibility-relevant fields
};

struct TrainReport {
    std::vector<EpochRecord> history;
    long steps = 0;
    int epochsDone = 0;
    bool resumed = false;  // started from a checkpoint
    bool earlyStopped = false;
    bool stoppedAtLimit = false;  // stopAfterSteps reached
    int bestEpoch = -1;
    double bestValidationLoss = 0.0;
    double seconds = 0.0;         // this run
    double secondsPerStep = 0.0;  // this run's mean
    std::string device;           // "cpu (2 threads)" or "cuda"; ", rank 0 of 2 (gloo)" when distributed
    int worldSize = 1;
    int rank = 0;
    double communicationSeconds = 0.0;  // this run's gradient all-reduces (this rank)

    Json toJson() const;
    // epoch,train_loss,validation_loss,seconds
    std::string historyCsv() const;
};

// "cuda" when torch sees a GPU, else "cpu".
std::string preferredDevice();
// Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16, from
// /proc/cpuinfo): where TrainOptions::bf16 pays (elsewhere bf16 is emulated).
bool cpuHasNativeBf16();

}  // namespace ms::ml
