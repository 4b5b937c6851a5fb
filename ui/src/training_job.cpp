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
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/train2d.hpp"
#include "microstudio/ml/train3d.hpp"

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

std::vector<std::string> nameList(const QString& text) {
    std::vector<std::string> out;
    for (const QString& part : text.split(',', Qt::SkipEmptyParts)) out.push_back(part.trimmed().toStdString());
    return out;
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
    return QDir(checkpointDir).filePath(name + "-" + stage + ".ckpt");
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

    ml::TrainOptions baseOptions(int epochs, double learningRate) const {
        ml::TrainOptions o;
        o.epochs = epochs;
        o.batchSize = s.batch;
        o.learningRate = learningRate;
        o.seed = std::uint64_t(s.seed);
        o.threads = s.threads;
        o.checkpointEvery = 50;  // and at every epoch end, and on cancel
        o.resume = true;         // start() removed the checkpoints of a fresh run
        o.progress = job.token_.get();
        return o;
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
        o.checkpoint = s.checkpointPath(name).toStdString();
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

    // The 2D trainings through ml's pipeline (the one `train vae2d` / `train ldm2d` run).
    ml::TrainingSampleSelection imageSelection() const {
        return {s.trainData.toStdString(),
                s.validationData.toStdString(),
                s.limit,
                s.limit > 0 ? std::max(1L, s.limit / 4) : 0,
                0.0,
                true};
    }

    void trainVae() {
        status(tr("loading data"));
        const auto data = ml::loadTrainingImages(imageSelection());
        ml::Vae2dConfig config;
        config.latent = s.latent;
        config.hidden = s.hidden;
        config.channels = intList(s.channels, "channels");
        config.kernels = ml::paperKernels(config.channels.size());
        ml::Vae2dTrainOptions options;
        options.beta = s.beta;
        options.train = baseOptions(s.epochs, s.learningRate);
        prepare(0, "vae", options.train);
        auto trained = ml::trainNewVae2d(data, config, options);
        emit job.progressed();
        trained.model.save(s.modelPath().toStdString());
    }

    void trainLdm() {
        status(tr("loading the data"));
        const auto data = ml::loadTrainingImages(imageSelection());
        ml::Ldm2dPlan plan;
        plan.vae = s.vae.toStdString();
        plan.config.hidden = s.ldmHidden;
        plan.config.blocks = s.ldmBlocks;
        plan.config.steps = s.diffusionSteps;
        plan.config.conditions = nameList(s.conditions);
        plan.options.train = baseOptions(s.epochs, s.learningRate);
        plan.status = [this](const std::string& message) { status(QString::fromStdString(message)); };
        prepare(0, "ldm", plan.options.train);
        auto trained = ml::trainNewLdm2d(data, plan);
        emit job.progressed();
        trained.model.save(s.modelPath().toStdString());
    }

    // The 3D generator through ml's pipeline (the one `train3d` runs): a
    // small generator fitted to the data, every stage at the chosen rate.
    void trainGenerator() {
        status(tr("loading data"));
        ml::TrainingSampleSelection selection;
        selection.train = s.trainData.toStdString();
        selection.validation = s.validationData.toStdString();
        selection.limit = s.limit;
        selection.validationLimit = s.limit > 0 ? std::max(1L, s.limit / 4) : 0;
        selection.validationFromTrain = true;
        auto data = ml::loadTrainingSamples(selection);
        ml::Generator3dConfig base;
        base.vae.channels = intList(s.channels3d, "channels");
        base.vae.latentChannels = s.latentChannels;
        base.unetFeatures = s.unetFeatures;
        const auto config = ml::fitGeneratorToData(base, data);

        ml::Generator3dTrainingPlan plan;
        plan.modelDir = s.modelPath().toStdString();
        plan.checkpointDir = s.checkpointDir.toStdString();
        plan.checkpointPrefix = s.name.toStdString() + "-";
        plan.validationData = selection.validation;
        if (selection.validation.empty())
            plan.validatedOn = "the last fifth of the training samples (" + selection.train.string() + ")";
        // The paper's rates are for long runs; these small runs use the chosen one for all stages.
        for (const auto& stage : ml::generator3dStages()) plan.options[stage] = baseOptions(s.epochs, s.learningRate);
        // A model folder left by a cancelled run continues (its stages' checkpoints
        // too); the model is named after its folder, NAME.
        auto model = ml::openGenerator3d(plan.modelDir, config, std::uint64_t(s.seed));
        ml::Generator3dStageEvents events;
        events.starting = [this](const std::string& stage, int index, ml::TrainOptions& o) {
            prepare(index, QString::fromStdString(stage), o);
        };
        events.trained = [this](const std::string&, const ml::TrainReport&) { emit job.progressed(); };
        ml::trainGenerator3d(model, data, plan, events);
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
