#include "microstudio/ui/training_job.hpp"

#include <QDateTime>
#include <QDir>
#include <QStandardPaths>
#include <algorithm>
#include <cmath>

#include "microstudio/core/error.hpp"
#include "microstudio/jobs/worker_protocol.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/studio_training.hpp"

namespace fs = std::filesystem;

namespace ms::ui {

namespace {

std::vector<int> intList(const QString& text, const char* what) {
    std::vector<int> out;
    for (const QString& part : text.split(',', Qt::SkipEmptyParts)) {
        bool ok = false;
        const int v = part.trimmed().toInt(&ok);
        if (!ok || v < 1)
            throw Error(std::string(what) + ": '" + text.toStdString() + "' is not a list of positive integers");
        out.push_back(v);
    }
    if (out.empty()) throw Error(std::string(what) + " is empty");
    return out;
}

ml::StudioTrainingKind studioKind(TrainingKind kind) {
    switch (kind) {
        case TrainingKind::DenoisingVae2d:
            return ml::StudioTrainingKind::Vae2d;
        case TrainingKind::Ldm2d:
            return ml::StudioTrainingKind::Ldm2d;
        case TrainingKind::Generator3d:
            break;
    }
    return ml::StudioTrainingKind::Generator3d;
}

// The wizard's settings in ml's words (the lists parsed; names trimmed).
ml::StudioTrainingSettings studioSettings(const TrainingSettings& s) {
    ml::StudioTrainingSettings m;
    m.train = s.trainData.toStdString();
    m.validation = s.validationData.toStdString();
    m.limit = s.limit;
    m.name = s.name.toStdString();
    m.outDir = s.outputDir.toStdString();
    m.checkpointDir = s.checkpointDir.toStdString();
    m.epochs = s.epochs;
    m.batch = s.batch;
    m.learningRate = s.learningRate;
    m.seed = std::uint64_t(s.seed);
    m.threads = s.threads;
    if (s.kind == TrainingKind::DenoisingVae2d) m.channels = intList(s.channels, "channels");
    m.latent = s.latent;
    m.hidden = s.hidden;
    m.beta = s.beta;
    m.vae = s.vae.toStdString();
    m.ldmHidden = s.ldmHidden;
    m.ldmBlocks = s.ldmBlocks;
    m.diffusionSteps = s.diffusionSteps;
    QStringList conditions;
    for (const QString& part : s.conditions.split(',', Qt::SkipEmptyParts)) conditions << part.trimmed();
    m.conditions = conditions.join(',').toStdString();
    if (s.kind == TrainingKind::Generator3d) m.channels3d = intList(s.channels3d, "channels");
    m.latentChannels = s.latentChannels;
    m.unetFeatures = s.unetFeatures;
    return m;
}

}  // namespace

QString trainingKindName(TrainingKind kind) {
    switch (kind) {
        case TrainingKind::DenoisingVae2d:
            return QObject::tr("denoising VAE (2D)");
        case TrainingKind::Ldm2d:
            return QObject::tr("latent diffusion (2D LDM)");
        case TrainingKind::Generator3d:
            return QObject::tr("3D generator (VAE + feature predictor + LDM)");
    }
    return {};
}

QString TrainingSettings::modelPath() const {
    ml::StudioTrainingSettings s;
    s.outDir = outputDir.toStdString();
    s.name = name.toStdString();
    return QString::fromStdString(ml::studioModelPath(studioKind(kind), s).string());
}

QString TrainingSettings::checkpointPath(const QString& stage) const {
    const auto path = ml::studioCheckpointPath(checkpointDir.toStdString(), name.toStdString(), stage.toStdString());
    return QString::fromStdString(path.string());
}

QStringList TrainingSettings::stages() const {
    QStringList out;
    for (const auto& stage : ml::studioStages(studioKind(kind))) out << QString::fromStdString(stage);
    return out;
}

TrainingJob::TrainingJob(QObject* parent) : QObject(parent) {}

// A running training stops at its next step with a checkpoint; the worker's
// end (MlWorker) then waits for it to exit (at most 2 s).
TrainingJob::~TrainingJob() { cancel(); }

bool TrainingJob::start(const TrainingSettings& settings, bool resume) {
    if (running()) return false;
    settings_ = settings;
    paused_ = false;
    state_ = TrainingState{};
    state_.stageCount = int(settings.stages().size());
    state_.message = tr("starting");
    epochTrain_.clear();
    epochValidation_.clear();
    lastTrainX_ = 0.0;
    jobs::TrainRequest request;
    request.kind = ml::studioTrainingKindName(studioKind(settings.kind));
    request.resume = resume;
    try {
        request.settings = ml::toJson(studioSettings(settings));
    } catch (const std::exception& e) {
        // Refused settings end like any failed training, after start() returns.
        const QString message = QString::fromStdString(e.what());
        QMetaObject::invokeMethod(
            this, [this, message] { emit finished(Outcome::Failed, message); }, Qt::QueuedConnection);
        return true;
    }
    requestId_ = worker_.send(jobs::requestMessage(0, request), [this](const Json& event) { handle(event); });
    return true;
}

void TrainingJob::handle(const Json& event) {
    const std::string kind = event.value("event", std::string());
    if (kind == "stage") return stageStarted(event);
    if (kind == "step") return stepTaken(event);
    if (kind == "epoch") return epochEnded(event);
    if (kind == "done" || kind == "error") return ended(event);
    if (kind == "progress") {
        state_.message = QString::fromStdString(event.value("message", std::string()));
        signalProgress(true);
    }
}

void TrainingJob::stageStarted(const Json& event) {
    state_.stage = event.value("index", 0);
    state_.stageCount = event.value("count", 1);
    state_.stageName = QString::fromStdString(event.value("name", std::string()));
    state_.step = state_.totalSteps = 0;
    state_.etaSeconds = 0;
    state_.stageChanged = true;
    state_.trainPoints.clear();
    state_.validationPoints.clear();
    epochTrain_.clear();
    epochValidation_.clear();
    lastTrainX_ = 0.0;
    signalProgress(true);
}

void TrainingJob::stepTaken(const Json& event) {
    const auto s = jobs::trainStepFrom(event);
    state_.step = s.step;
    state_.totalSteps = s.totalSteps;
    state_.etaSeconds = s.etaSeconds;
    state_.paused = s.paused;
    state_.message = tr("epoch %1/%2, step %3/%4").arg(s.epoch + 1).arg(s.epochs).arg(s.step).arg(s.totalSteps);
    if (s.curve) {
        const long perEpoch = std::max(1L, s.totalSteps / std::max(1, s.epochs));
        lastTrainX_ = double(s.step) / double(perEpoch);
        state_.trainPoints.append(QPointF(lastTrainX_, s.trainLoss));
    }
    signalProgress(s.paused);
}

void TrainingJob::epochEnded(const Json& event) {
    const int epoch = event.value("epoch", 0);
    const Json& train = event["train_loss"];
    const Json& validation = event["validation_loss"];
    if (train.is_number()) {
        const QPointF t(epoch + 1, train.get<double>());
        epochTrain_.append(t);
        // Epochs done before a resume: their means stand in for the steps.
        if (t.x() > lastTrainX_ + 1e-9) {
            state_.trainPoints.append(t);
            lastTrainX_ = t.x();
        }
    }
    if (validation.is_number()) {
        const QPointF v(epoch + 1, validation.get<double>());
        epochValidation_.append(v);
        state_.validationPoints.append(v);
    }
    signalProgress(true);
}

void TrainingJob::ended(const Json& event) {
    requestId_ = 0;
    paused_ = false;
    state_.paused = false;
    Outcome outcome = Outcome::Finished;
    QString message;
    if (event["event"] == "done") {
        message = tr("saved %1").arg(QString::fromStdString(event.value("model", std::string())));
    } else if (event.value("cancelled", false)) {
        outcome = Outcome::Cancelled;
        message = tr("cancelled; the checkpoint is kept: Resume continues from it");
    } else {
        outcome = Outcome::Failed;
        message = QString::fromStdString(event.value("message", std::string()));
    }
    state_.message = message;
    emit progressed();
    emit finished(outcome, message);
}

void TrainingJob::signalProgress(bool now) {
    const qint64 ms = QDateTime::currentMSecsSinceEpoch();
    if (!now && ms - lastSignalMs_ < 100) return;
    lastSignalMs_ = ms;
    emit progressed();
}

void TrainingJob::pause() {
    if (!running()) return;
    paused_ = true;
    worker_.control(jobs::pauseMessage(requestId_));
}

void TrainingJob::resume() {
    if (!running()) return;
    paused_ = false;
    worker_.control(jobs::resumeMessage(requestId_));
}

void TrainingJob::cancel() {
    if (running()) worker_.cancel(requestId_);
}

TrainingState TrainingJob::takeState() {
    TrainingState out = state_;
    state_.trainPoints.clear();
    state_.validationPoints.clear();
    state_.stageChanged = false;
    return out;
}

QString userModelDirectory() {
    return QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)).filePath("models");
}

std::vector<fs::path> modelFolders() {
    std::vector<fs::path> folders;
    std::error_code ec;
    const fs::path user = userModelDirectory().toStdString();
    if (fs::is_directory(user, ec)) folders.push_back(user);
    for (const auto& f : ml::modelSearchPath()) {
        const bool seen = std::any_of(folders.begin(), folders.end(), [&](const fs::path& g) {
            std::error_code e;
            return fs::equivalent(f, g, e);
        });
        if (!seen) folders.push_back(f);
    }
    return folders;
}

}  // namespace ms::ui
