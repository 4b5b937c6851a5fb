#include "microstudio/ui/training_job.hpp"

#include <QDir>
#include <QMetaObject>
#include <QStandardPaths>
#include <algorithm>
#include <chrono>
#include <cmath>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/splits.hpp"
#include "microstudio/ml/vae2d.hpp"

namespace fs = std::filesystem;

namespace ms::ui {

namespace {

std::vector<int> intList(const QString& text, const char* what) {
    std::vector<int> out;
    for (const QString& part : text.split(',', Qt::SkipEmptyParts)) {
        bool ok = false;
        const int v = part.trimmed().toInt(&ok);
        if (!ok || v < 1) throw Error(std::string(what) + ": '" + text.toStdString() + "' is not a list of positive integers");
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

// At most `limit` samples, evenly spaced (0 = all): the CLI's --limit rule.
std::vector<Volume> readLimited(const QString& path, long limit) {
    const fs::path file = path.toStdString();
    const std::string ext = lowerExtension(file);
    if (limit > 0 && (ext == "h5" || ext == "hdf5")) {
        // Only the samples used are read (datasets of 3D volumes are large).
        const auto names = io::hdf5SampleNames(file);
        if (std::size_t(limit) < names.size()) {
            std::vector<Volume> out;
            for (long i = 0; i < limit; ++i) out.push_back(io::readHdf5Sample(file, names[std::size_t(i) * names.size() / std::size_t(limit)]));
            return out;
        }
    }
    auto all = io::readSamples(path.toStdString());
    if (limit <= 0 || std::size_t(limit) >= all.size()) return all;
    std::vector<Volume> out;
    for (long i = 0; i < limit; ++i) out.push_back(std::move(all[std::size_t(i) * all.size() / std::size_t(limit)]));
    return out;
}

// Training and validation samples; without a validation file the last
// fifth of the training samples validates.
std::pair<std::vector<Volume>, std::vector<Volume>> loadData(const TrainingSettings& s, bool images2d) {
    const long valLimit = s.limit > 0 ? std::max(1L, s.limit / 4) : 0;
    auto read = [&](const QString& path, long limit) {
        return images2d ? ml::readImages2D(path.toStdString(), limit) : readLimited(path, limit);
    };
    std::vector<Volume> train = read(s.trainData, s.limit), validation;
    if (train.empty()) throw Error(s.trainData.toStdString() + ": no samples");
    // Test-split samples are for evaluation only (the trainings refuse them
    // too; the 2D LDM trains on latents, so this is its check).
    ml::refuseTestSamples(train, "training data (" + s.trainData.toStdString() + ")");
    if (!s.validationData.isEmpty()) {
        validation = read(s.validationData, valLimit);
        ml::refuseTestSamples(validation, "validation data (" + s.validationData.toStdString() + ")");
    } else if (train.size() >= 5) {
        const std::size_t keep = train.size() - train.size() / 5;
        validation.assign(std::make_move_iterator(train.begin() + std::ptrdiff_t(keep)), std::make_move_iterator(train.end()));
        train.resize(keep);
    }
    return {std::move(train), std::move(validation)};
}

}  // namespace

QString trainingKindName(TrainingKind kind) {
    switch (kind) {
        case TrainingKind::DenoisingVae2d: return QObject::tr("denoising VAE (2D)");
        case TrainingKind::Ldm2d: return QObject::tr("latent diffusion (2D LDM)");
        case TrainingKind::Generator3d: return QObject::tr("3D generator (VAE + feature predictor + LDM)");
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
        case TrainingKind::DenoisingVae2d: return {"vae"};
        case TrainingKind::Ldm2d: return {"ldm"};
        case TrainingKind::Generator3d: return {"vae", "features", "diffusion"};
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

    // Runs `train`, publishing each epoch's losses as it ends.
    template <typename Fn>
    ml::TrainReport stage(int index, const QString& name, ml::TrainOptions o, Fn&& train) {
        job.token_->throwIfCancelled();
        const int epochs = o.epochs;
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
        auto lastReturn = Clock::now();
        double stepSeconds = 0.0;
        long timedSteps = 0;
        double lastTrainX = 0.0;  // the curve's last train point (epochs)
        o.onProgress = [&](const ml::TrainProgress& p) {
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
        o.onEpoch = [&](const ml::EpochRecord& r) {
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
        const auto report = train(o);
        emit job.progressed();
        return report;
    }

    void trainVae() {
        status(tr("loading data"));
        auto [train, validation] = loadData(s, true);
        const int size = train.front().dims().nx;
        if (train.front().dims().ny != size) throw Error("the denoising VAE needs square images");
        ml::Vae2dConfig config;
        config.size = size;
        config.latent = s.latent;
        config.hidden = s.hidden;
        config.channels = intList(s.channels, "channels");
        config.kernels.clear();
        for (std::size_t i = 0; i < config.channels.size(); ++i) config.kernels.push_back(i < 2 ? 4 : 3);  // the paper's
        config.validate();
        ml::Vae2d model(config, std::uint64_t(s.seed));
        ml::Vae2dTrainOptions options;
        options.beta = s.beta;
        stage(0, "vae", baseOptions(s.epochs, s.learningRate), [&](const ml::TrainOptions& o) {
            options.train = o;
            return ml::trainVae2d(model, train, validation, options);
        });
        model.metadata().description = "denoising 2D VAE trained in the studio, " + config.latentText() +
                                       ", beta=" + std::to_string(s.beta);
        model.save(s.modelPath().toStdString());
    }

    void trainLdm() {
        status(tr("loading the VAE and the data"));
        const fs::path vaePath = ml::findModel(s.vae.toStdString());
        const auto vae = ml::Vae2d::load(vaePath);
        auto [train, validation] = loadData(s, true);
        if (train.front().dims().nx != vae.config().size || train.front().dims().ny != vae.config().size)
            throw Error("the VAE takes " + std::to_string(vae.config().size) + "x" + std::to_string(vae.config().size) +
                        " images; the data are " + train.front().dims().str());
        const auto names = nameList(s.conditions);
        auto conditionsOf = [&](const std::vector<Volume>& images) {
            std::vector<std::vector<double>> rows;
            if (!names.empty())
                for (const auto& v : images) rows.push_back(ml::conditionValues(v, names));
            return rows;
        };
        const auto trainConditions = conditionsOf(train), validationConditions = conditionsOf(validation);
        status(tr("encoding %1 images with %2").arg(train.size() + validation.size()).arg(QString::fromStdString(vaePath.stem().string())));
        const auto latents = vae.encode(train), validationLatents = vae.encode(validation);
        job.token_->throwIfCancelled();
        ml::Ldm2dConfig config;
        config.latent = vae.config().latent;
        config.hidden = s.ldmHidden;
        config.blocks = s.ldmBlocks;
        config.steps = s.diffusionSteps;
        config.conditions = names;
        ml::Ldm2d model(config, std::uint64_t(s.seed));
        ml::Ldm2dTrainOptions options;
        stage(0, "ldm", baseOptions(s.epochs, s.learningRate), [&](const ml::TrainOptions& o) {
            options.train = o;
            return ml::trainLdm2d(model, latents, trainConditions, validationLatents, validationConditions, options);
        });
        auto& m = model.metadata();
        m.dataHash = ml::hashVolumes(train);
        m.description = "2D latent diffusion over " + vaePath.stem().string() + " latents, trained in the studio" +
                        (names.empty() ? std::string(", unconditional") : ", conditioned on " + s.conditions.toStdString());
        m.training["vae"] = vaePath.stem().string();
        m.training["vae_data_hash"] = vae.metadata().dataHash;
        model.save(s.modelPath().toStdString());
    }

    void trainGenerator() {
        status(tr("loading data"));
        auto [train, validation] = loadData(s, false);
        const Volume& first = train.front();
        // Three phases when any sample has the mixed phase or was thresholded
        // into three (an early snapshot may hold no mixed voxels yet). Not
        // "carries vol_frac_M": the descriptors give it for 2-phase samples too (0).
        const auto threeWay = [](const Volume& v) {
            const auto low = v.attributes.find("threshold_low"), high = v.attributes.find("threshold_high");
            return low != v.attributes.end() && high != v.attributes.end() && low->second < high->second;
        };
        const int phases =
            std::any_of(train.begin(), train.end(), [&](const Volume& v) { return v.phaseCount() == 3 || threeWay(v); }) ? 3 : 2;
        ml::Generator3dConfig config = ml::Generator3dConfig::tiny(phases);
        config.vae.dims = first.dims();
        config.vae.channels = intList(s.channels3d, "channels");
        config.vae.latentChannels = s.latentChannels;
        // The paper's first stride of 2 when the latent grid then still suits
        // the U-Net's two levels (multiples of 4), else 1 (small volumes).
        config.vae.firstStride = 2;
        const int d = config.vae.downsampling() * 4;
        if (first.dims().nx % d || first.dims().ny % d || first.dims().nz % d) config.vae.firstStride = 1;
        config.unetFeatures = s.unetFeatures;
        config.conditions = phases == 3 ? ml::threePhaseConditions() : ml::twoPhaseConditions();
        // Descriptors the data lack are measured; processing parameters are
        // predicted only when every sample carries them.
        status(tr("measuring descriptors"));
        for (auto* set : {&train, &validation})
            for (auto& v : *set) {
                job.token_->throwIfCancelled();
                for (const auto& name : config.conditions)
                    if (!v.attributes.count(name)) {
                        descriptors::storeAsAttributes(descriptors::describe(v), v);
                        break;
                    }
                for (const auto& name : config.conditions)
                    if (!v.attributes.count(name)) throw Error("the descriptors give no '" + name + "' for these samples");
            }
        config.outputs = config.conditions;
        for (const auto& p : ml::processingOutputs())
            if (std::all_of(train.begin(), train.end(), [&](const Volume& v) { return v.attributes.count(p) > 0; }) &&
                std::all_of(validation.begin(), validation.end(), [&](const Volume& v) { return v.attributes.count(p) > 0; }))
                config.outputs.push_back(p);
        config.validate();
        const fs::path dir = s.modelPath().toStdString();
        // A model folder left by a cancelled run continues (its stages' checkpoints too).
        auto model = fs::exists(dir / "generator3d.pt") ? ml::Generator3D::load(dir) : ml::Generator3D::create(config, std::uint64_t(s.seed));
        model.metadata().name = s.name.toStdString();
        const auto& training = model.metadata().training;
        auto done = [&](const char* stage) {
            return training.contains(stage) && !fs::exists(s.checkpointPath(stage).toStdString());
        };
        // The paper's rates are for long runs; these small runs use the chosen one for all stages.
        if (!done("vae"))
            stage(0, "vae", baseOptions(s.epochs, s.learningRate),
                  [&](const ml::TrainOptions& o) { return ml::trainGenerator3dVae(model, train, validation, o); });
        model.save(dir);
        fs::remove(s.checkpointPath("vae").toStdString());
        if (!done("features"))
            stage(1, "features", baseOptions(s.epochs, s.learningRate),
                  [&](const ml::TrainOptions& o) { return ml::trainGenerator3dFeatures(model, train, validation, o); });
        model.save(dir);
        fs::remove(s.checkpointPath("features").toStdString());
        stage(2, "diffusion", baseOptions(s.epochs, s.learningRate),
              [&](const ml::TrainOptions& o) { return ml::trainGenerator3dDiffusion(model, train, validation, o); });
        model.metadata().description = "3D generator trained in the studio on " + first.dims().str() + " volumes";
        model.save(dir);
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
            case TrainingKind::DenoisingVae2d: w.trainVae(); break;
            case TrainingKind::Ldm2d: w.trainLdm(); break;
            case TrainingKind::Generator3d: w.trainGenerator(); break;
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
