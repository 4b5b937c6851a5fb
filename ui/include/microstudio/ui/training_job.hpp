#pragma once
// One model training for the studio, in the ML worker process (MlWorker,
// docs/worker-protocol.md "train"): a denoising 2D VAE, a 2D latent diffusion
// model over a VAE's latents, or the 3D generator (VAE, feature predictor,
// DDPM in sequence). The settings become ml's (ml/studio_training.hpp) and
// the worker runs ml::runStudioTraining, the calls `microstudio-cli train` /
// `train3d` make, so both record the same model metadata. With pause (the
// worker waits between two steps), cancel (ms::Cancelled after a checkpoint)
// and resume from that checkpoint; a worker that dies (crash, kill -9, out of
// memory) ends the training with one error and Resume continues from the
// last checkpoint (every 50 steps and every epoch end) in a fresh worker.
#include <QObject>
#include <QPointF>
#include <QString>
#include <QVector>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "microstudio/core/json.hpp"
#include "microstudio/ui/ml_worker.hpp"

namespace ms::ui {

enum class TrainingKind { DenoisingVae2d, Ldm2d, Generator3d };
QString trainingKindName(TrainingKind kind);  // "denoising VAE (2D)", ...

// Everything a training needs; the wizard's pages fill it.
struct TrainingSettings {
    TrainingKind kind = TrainingKind::DenoisingVae2d;
    QString trainData;       // HDF5 (MicroGen3D layout)
    QString validationData;  // empty: the last fifth of the training samples
    long limit = 0;          // at most this many training samples (0 = all)
    QString name = "my-model";
    QString outputDir;      // the model goes here (user model directory)
    QString checkpointDir;  // <stage>.ckpt files go here
    int epochs = 5;
    int batch = 16;
    double learningRate = 1e-3;
    int seed = 0;
    int threads = 0;  // torch CPU threads (0 = every core)
    // 2D VAE
    int latent = 32;
    int hidden = 256;
    QString channels = "16,32,64";
    double beta = 1.0;
    // 2D LDM
    QString vae;  // the VAE model file (.pt)
    int ldmHidden = 256;
    int ldmBlocks = 3;
    int diffusionSteps = 1000;
    QString conditions = "vf";  // attribute names, comma-separated; empty = unconditional
    // 3D generator (dims come from the data)
    QString channels3d = "8,16";
    int latentChannels = 2;
    int unetFeatures = 16;

    // Where the finished model is: NAME.pt, or NAME/ for a 3D generator.
    QString modelPath() const;
    // The checkpoint of a stage ("vae", "ldm", "features", "diffusion").
    QString checkpointPath(const QString& stage) const;
    // Stages the kind trains, in order.
    QStringList stages() const;
};

// What the training page shows; taken with TrainingJob::takeState().
struct TrainingState {
    int stage = 0, stageCount = 1;
    QString stageName;
    long step = 0, totalSteps = 0;  // of the running stage, over all its epochs
    double etaSeconds = 0.0;        // of the running stage
    QString message;                // "loading data", "epoch 2/5" ...
    bool paused = false;
    // New since the last take (x = epochs, fractional for train points).
    QVector<QPointF> trainPoints, validationPoints;
    bool stageChanged = false;  // curves of an earlier stage are gone
};

class TrainingJob : public QObject {
    Q_OBJECT
public:
    enum class Outcome { Finished, Cancelled, Failed };
    Q_ENUM(Outcome)

    explicit TrainingJob(QObject* parent = nullptr);
    ~TrainingJob() override;  // cancels; the worker keeps the checkpoint

    // Sends the training to the worker (false when one is running). resume =
    // true continues from the stages' checkpoints; false deletes them first.
    bool start(const TrainingSettings& settings, bool resume = false);
    void pause();
    void resume();  // after pause()
    void cancel();  // leaves a checkpoint; start(settings, true) continues
    bool running() const { return requestId_ != 0; }
    bool paused() const { return paused_; }
    TrainingState takeState();
    const TrainingSettings& settings() const { return settings_; }
    // Per stage, all epochs so far: (epoch, train loss), (epoch, validation loss).
    QVector<QPointF> epochTrainLosses() const { return epochTrain_; }
    QVector<QPointF> epochValidationLosses() const { return epochValidation_; }
    // The process that trains (tests kill it).
    MlWorker& mlWorker() { return worker_; }

signals:
    void progressed();  // at most ~10 per second; takeState() has the news
    void finished(ms::ui::TrainingJob::Outcome outcome, const QString& message);

private:
    void handle(const Json& event);
    void stageStarted(const Json& event);
    void stepTaken(const Json& event);
    void epochEnded(const Json& event);
    void ended(const Json& event);
    void signalProgress(bool now);

    MlWorker worker_{nullptr, MlWorker::ThreadWaiting::BriefSpin};
    TrainingSettings settings_;
    std::int64_t requestId_ = 0;
    bool paused_ = false;
    TrainingState state_;
    QVector<QPointF> epochTrain_, epochValidation_;
    double lastTrainX_ = 0.0;  // the curve's last train point (epochs)
    qint64 lastSignalMs_ = 0;
};

// The user's model directory: QStandardPaths::AppDataLocation + "/models".
QString userModelDirectory();
// Folders where the studio looks for models: the user's directory first,
// then ml::modelSearchPath() (MICROSTUDIO_MODELS, shipped, installed).
std::vector<std::filesystem::path> modelFolders();

}  // namespace ms::ui
