#include "microstudio/ui/training_job.hpp"

#include <QDir>
#include <QMetaObject>
#include <QStandardPaths>
#include <algorithm>
#include <chrono>
#include <cmath>

#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/training_runs.hpp"

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
    const QString base = QDir(outputDir).filePath(name);
    return kind == TrainingKind::Generator3d ? base : base + ".pt";
}

QString TrainingSettings::checkpointPath(const QString& stage) const {
    const auto path = ml::studioCheckpointPath(checkpointDir.toStdString(), name.toStdString(), stage.toStdString());
    return QString::fromStdString(path.string());
}

QStringList TrainingSettings::stages() const {
    switch (kind) {
        case TrainingKind::DenoisingVae2d:
            return {"vae"};
        case TrainingKind::Ldm2d:
            return {"ldm"};
        case TrainingKind::Generator3d:
            return {"vae", "features", "diffusion"};
    }
    return {};
}

// The trainer calls, on the worker thread.
struct TrainingJob::Worker {
    TrainingJob& job;
    const TrainingSettings& s;

    void status(const QString& message) {
        {
            const std::lock_guard lock(job.mutex_);
            job.state_.message = message;
        }
        emit job.progressed();
    }

    // Per stage: the step timing behind the ETA and the curve's last point.
    struct StageClock {
        std::chrono::steady_clock::time_point lastReturn;
        double stepSeconds = 0.0;
        long timedSteps = 0;
        double lastTrainX = 0.0;  // the curve's last train point (epochs)
    } clock;

    // Shows the stage as running and gives `o` the callbacks that publish
    // its steps and epochs (and wait while paused).
    void prepare(int index, const QString& name, ml::TrainOptions& o) {
        job.token_->throwIfCancelled();
        const int epochs = o.epochs;
        o.progress = job.token_.get();
        {
            const std::lock_guard lock(job.mutex_);
            auto& st = job.state_;
            st.stage = index;
            st.stageCount = int(s.stages().size());
            st.stageName = name;
            st.step = st.totalSteps = 0;
            st.etaSeconds = 0;
            st.stageChanged = true;
            st.trainPoints.clear();
            st.validationPoints.clear();
            job.epochTrain_.clear();
            job.epochValidation_.clear();
        }
        using Clock = std::chrono::steady_clock;
        clock = StageClock{Clock::now()};
        o.onProgress = [this, epochs](const ml::TrainProgress& p) {
            auto& [lastReturn, stepSeconds, timedSteps, lastTrainX] = clock;
            const auto now = Clock::now();
            // Time since the previous step's callback returned: pauses do not count.
            stepSeconds += std::chrono::duration<double>(now - lastReturn).count();
            ++timedSteps;
            const long perEpoch = std::max(1L, p.totalSteps / std::max(1, p.epochs));
            const long total = perEpoch * epochs;
            const long every = std::max(1L, total / 400);  // a few hundred points per curve at most
            bool signal = false;
            {
                std::unique_lock lock(job.mutex_);
                auto& st = job.state_;
                st.step = p.step;
                st.totalSteps = total;
                st.etaSeconds = stepSeconds / double(timedSteps) * double(std::max(0L, total - p.step));
                st.message = tr("epoch %1/%2, step %3/%4").arg(p.epoch + 1).arg(epochs).arg(p.step).arg(total);
                if (p.step % every == 0 || p.step % perEpoch == 0) {
                    lastTrainX = double(p.step) / double(perEpoch);
                    st.trainPoints.append(QPointF(lastTrainX, p.trainLoss));
                }
                const qint64 ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
                if (ms - job.lastSignalMs_ >= 100 || job.paused_) {
                    job.lastSignalMs_ = ms;
                    signal = true;
                }
                st.paused = job.paused_;
            }
            if (signal) emit job.progressed();
            {
                // Pause: wait here (between two steps) until resumed or cancelled.
                std::unique_lock lock(job.mutex_);
                job.wake_.wait(lock, [&] { return !job.paused_ || job.token_->cancelled(); });
                job.state_.paused = false;
            }
            lastReturn = Clock::now();
        };
        o.onEpoch = [this](const ml::EpochRecord& r) {
            double& lastTrainX = clock.lastTrainX;
            {
                const std::lock_guard lock(job.mutex_);
                const QPointF t(r.epoch + 1, r.trainLoss);
                job.epochTrain_.append(t);
                // Epochs done before a resume: their means stand in for the steps.
                if (t.x() > lastTrainX + 1e-9) {
                    job.state_.trainPoints.append(t);
                    lastTrainX = t.x();
                }
                if (std::isfinite(r.validationLoss)) {
                    const QPointF v(r.epoch + 1, r.validationLoss);
                    job.epochValidation_.append(v);
                    job.state_.validationPoints.append(v);
                }
            }
            emit job.progressed();
        };
    }

    // The 2D trainings: the calls of `train vae2d` / `train ldm2d` (runVae2d,
    // runLdm2d in app/cli) on the wizard's run (ml/training_runs.hpp).
    void trainVae() {
        status(tr("loading data"));
        auto run = ml::studioVae2dRun(studioSettings(s));
        const auto data = ml::loadTrainingImages(run.data);
        prepare(0, "vae", run.options.train);
        auto trained = ml::trainNewVae2d(data, run.config, run.options);
        emit job.progressed();
        ml::saveTrainedRun(trained, run);
    }

    void trainLdm() {
        status(tr("loading the data"));
        auto run = ml::studioLdm2dRun(studioSettings(s));
        const auto data = ml::loadTrainingImages(run.data);
        run.plan.status = [this](const std::string& message) { status(QString::fromStdString(message)); };
        prepare(0, "ldm", run.plan.options.train);
        auto trained = ml::trainNewLdm2d(data, run.plan);
        emit job.progressed();
        ml::saveTrainedRun(trained, run);
    }

    // The 3D generator: the calls of `train3d` (runTrain3d in app/cli) on
    // the wizard's run, a small generator fitted to the data. A model folder
    // left by a cancelled run continues (its stages' checkpoints too).
    void trainGenerator() {
        status(tr("loading data"));
        auto run = ml::studioGenerator3dRun(studioSettings(s));
        // Cancel reaches the descriptors measured before a stage starts, too.
        for (auto& stage : run.plan.options) stage.second.progress = job.token_.get();
        auto data = ml::loadTrainingSamples(run.selection);
        auto opened = ml::openGenerator3dRun(run, data);
        ml::Generator3dStageEvents events;
        events.starting = [this](const std::string& stage, int index, ml::TrainOptions& o) {
            prepare(index, QString::fromStdString(stage), o);
        };
        events.trained = [this](const std::string&, const ml::TrainReport&) { emit job.progressed(); };
        ml::trainGenerator3d(opened.model, data, run.plan, events);
    }
};

TrainingJob::TrainingJob(QObject* parent) : QObject(parent) {}

TrainingJob::~TrainingJob() {
    cancel();
    join();
}

bool TrainingJob::start(const TrainingSettings& settings, bool resume) {
    if (running()) return false;
    join();
    settings_ = settings;
    token_ = std::make_shared<ProgressToken>();
    {
        const std::lock_guard lock(mutex_);
        paused_ = false;
        running_ = true;
        state_ = TrainingState{};
        state_.stageCount = int(settings.stages().size());
        state_.message = tr("starting");
        epochTrain_.clear();
        epochValidation_.clear();
    }
    worker_ = std::thread(&TrainingJob::run, this, settings, resume);
    return true;
}

void TrainingJob::run(TrainingSettings s, bool resume) {
    lowerCurrentThreadPriority();
    Outcome outcome = Outcome::Finished;
    QString message;
    try {
        if (s.name.isEmpty() || s.outputDir.isEmpty() || s.checkpointDir.isEmpty())
            throw Error("a model name, an output and a checkpoint folder are needed");
        fs::create_directories(s.outputDir.toStdString());
        fs::create_directories(s.checkpointDir.toStdString());
        if (!resume) {
            for (const QString& stage : s.stages()) fs::remove(s.checkpointPath(stage).toStdString());
            if (s.kind == TrainingKind::Generator3d) fs::remove_all(s.modelPath().toStdString());
        }
        Worker w{*this, s};
        switch (s.kind) {
            case TrainingKind::DenoisingVae2d:
                w.trainVae();
                break;
            case TrainingKind::Ldm2d:
                w.trainLdm();
                break;
            case TrainingKind::Generator3d:
                w.trainGenerator();
                break;
        }
        // Finished: the checkpoints have served.
        for (const QString& stage : s.stages()) fs::remove(s.checkpointPath(stage).toStdString());
        message = tr("saved %1").arg(s.modelPath());
    } catch (const Cancelled&) {
        outcome = Outcome::Cancelled;
        message = tr("cancelled; the checkpoint is kept: Resume continues from it");
    } catch (const std::exception& e) {
        outcome = Outcome::Failed;
        message = QString::fromStdString(e.what());
    }
    {
        const std::lock_guard lock(mutex_);
        running_ = false;
        paused_ = false;
        state_.paused = false;
        state_.message = message;
    }
    QMetaObject::invokeMethod(
        this,
        [this, outcome, message] {
            join();
            emit finished(outcome, message);
        },
        Qt::QueuedConnection);
}

void TrainingJob::pause() {
    const std::lock_guard lock(mutex_);
    if (running_) paused_ = true;
}

void TrainingJob::resume() {
    {
        const std::lock_guard lock(mutex_);
        paused_ = false;
    }
    wake_.notify_all();
}

void TrainingJob::cancel() {
    if (token_) token_->cancel();
    wake_.notify_all();
}

bool TrainingJob::running() const {
    const std::lock_guard lock(mutex_);
    return running_;
}

bool TrainingJob::paused() const {
    const std::lock_guard lock(mutex_);
    return paused_;
}

void TrainingJob::wait() { join(); }

void TrainingJob::join() {
    if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

TrainingState TrainingJob::takeState() {
    const std::lock_guard lock(mutex_);
    TrainingState out = state_;
    state_.trainPoints.clear();
    state_.validationPoints.clear();
    state_.stageChanged = false;
    return out;
}

QVector<QPointF> TrainingJob::epochTrainLosses() const {
    const std::lock_guard lock(mutex_);
    return epochTrain_;
}

QVector<QPointF> TrainingJob::epochValidationLosses() const {
    const std::lock_guard lock(mutex_);
    return epochValidation_;
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
