#include "microstudio/ml/worker_server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>

#include "microstudio/core/error.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/jobs/worker_process.hpp"
#include "microstudio/jobs/worker_protocol.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/training_runs.hpp"
#include "microstudio/ml/vae2d.hpp"

namespace ms::ml {

namespace {

namespace fs = std::filesystem;

// Writes whole lines from any thread (the loop's and the request's).
class EventWriter {
public:
    explicit EventWriter(std::ostream& out) : out_(out) {}
    void send(const Json& event) {
        const std::lock_guard<std::mutex> lock(mutex_);
        out_ << jobs::workerLine(event) << std::flush;
    }

private:
    std::ostream& out_;
    std::mutex mutex_;
};

// The generator of a folder, loaded once and kept warm; loaded again when
// its files change (a model retrained into the same folder, a guidance
// choice saved in place). 2D VAEs as denoisers the same way.
class ModelCache {
public:
    std::shared_ptr<const Generator3D> generator(const std::string& folderOrFile) {
        const fs::path folder =
            fs::is_regular_file(folderOrFile) ? fs::path(folderOrFile).parent_path() : fs::path(folderOrFile);
        return warm(generators_, folder, folder,
                    [&] { return std::make_shared<Generator3D>(Generator3D::load(folder)); });
    }

    std::shared_ptr<const noise::Denoiser> denoiser(const std::string& file) {
        return warm(denoisers_, file, fs::path(file).parent_path(), [&] {
            return makeDenoiser(std::make_shared<const Vae2d>(Vae2d::load(file)), fs::path(file).stem().string());
        });
    }

private:
    template <class Model>
    struct Loaded {
        std::string stamp;  // filesStamp of the model's folder when loaded
        std::shared_ptr<const Model> model;
    };

    // The slot of `key`, loaded again when `folder`'s files changed since.
    template <class Model, class Load>
    static std::shared_ptr<const Model> warm(std::map<std::string, Loaded<Model>>& slots, const fs::path& key,
                                             const fs::path& folder, const Load& load) {
        auto& slot = slots[fs::weakly_canonical(key).string()];
        const std::string stamp = filesStamp(folder);
        if (!slot.model || slot.stamp != stamp) slot = {stamp, load()};
        return slot.model;
    }

    // Name, size and modification time of every file in the folder, in name order.
    static std::string filesStamp(const fs::path& folder) {
        std::set<std::string> files;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(folder, ec))
            if (entry.is_regular_file(ec))
                files.insert(entry.path().filename().string() + ":" + std::to_string(entry.file_size(ec)) + ":" +
                             std::to_string(entry.last_write_time(ec).time_since_epoch().count()));
        std::string stamp;
        for (const auto& file : files) stamp += file + ";";
        return stamp;
    }

    std::map<std::string, Loaded<Generator3D>> generators_;
    std::map<std::string, Loaded<noise::Denoiser>> denoisers_;
};

GenerateOptions generateOptions(const jobs::Generate3dRequest& r) {
    GenerateOptions o;
    o.sampler = r.sampler;
    o.steps = r.steps;
    o.guidance = r.guidance;
    o.seed = r.seed;
    o.candidates = r.candidates;
    o.tolerance = r.tolerance;
    o.size = r.size;
    // Screened: one sample's K draws per batch, so each sample comes as soon
    // as it is done. Plain: 4 per batch (on 2 cores a batch of 1 costs 4-6x
    // the CPU per sample of a batch of 4, gen3d-ch2 DDIM-50).
    o.batch = r.candidates > 1 ? r.candidates : 4;
    o.previewEvery = r.previews ? o.previewEvery : 0;
    return o;
}

// The token's reports as progress events, at most 10 a second in between
// (a phase's start at 0 and the end always): a tiny model's DDPM step takes
// milliseconds, more reports than a progress bar can show.
void relayProgress(std::int64_t id, ProgressToken& token, EventWriter& events) {
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    token.setListener([id, &events, last](double f, const std::string& m) {
        const auto now = std::chrono::steady_clock::now();
        if (f > 0.0 && f < 1.0 && now - *last < std::chrono::milliseconds(100)) return;
        *last = now;
        events.send(jobs::progressEvent(id, f, m));
    });
}

// A sample as the worker hands it over: measured descriptors, under the
// dataset's names, for a plain sample (screening has measured its draws).
Volume describedSample(const jobs::Generate3dRequest& r, const Generator3D& model, const Volume& sample) {
    std::vector<Volume> one{sample};
    if (r.describe && r.candidates == 1) describeGenerated(one, model.config().vae.phases);
    return std::move(one.front());
}

// One generate3d request: samples and previews to files, each announced;
// returns its last event.
Json runGenerate3d(std::int64_t id, const jobs::Generate3dRequest& r, ModelCache& models, ProgressToken& token,
                   EventWriter& events) {
    events.send(jobs::progressEvent(id, 0.0, "loading " + fs::path(r.model).filename().string()));
    const auto model = models.generator(r.model);
    fs::create_directories(r.outDir);
    auto o = generateOptions(r);
    relayProgress(id, token, events);
    o.progress = &token;
    o.onSample = [&](std::size_t index, const Volume& sample) {
        const Volume v = describedSample(r, *model, sample);
        const std::string file = jobs::sampleFile(r.outDir, index);
        io::writeVolume(v, file);
        events.send(jobs::sampleEvent(id, index, file));
    };
    if (r.previews)
        o.onPreview = [&](std::size_t index, const Volume& preview, int step, int steps) {
            const std::string file = jobs::previewFile(r.outDir, index, step);
            io::writeVolume(preview, file);
            events.send(jobs::previewEvent(id, index, step, steps, file));
        };
    const auto samples = model->generate(r.targets, o);
    return jobs::doneEvent(id, samples.size());
}

// One evaluate3d request; returns the "done" event with the report.
Json runEvaluate3d(std::int64_t id, const jobs::Evaluate3dRequest& r, ModelCache& models, ProgressToken& token,
                   EventWriter& events) {
    events.send(jobs::progressEvent(id, 0.0, "loading " + fs::path(r.model).filename().string()));
    const auto model = models.generator(r.model);
    relayProgress(id, token, events);
    Evaluation3dOptions o;
    o.sampler.sampler = r.sampler;
    o.sampler.steps = r.steps;
    o.sampler.seed = r.seed;
    o.sampler.guidance = r.guidance;
    o.candidates = 1;  // plain sampling: the model's own figure
    o.diversitySamples = 0;
    o.timingBatchSizes.clear();
    o.compareSteps = -1;
    o.reconstruction = true;
    o.data = r.data;
    o.minPhaseFraction = r.minPhaseFraction;
    token.report(0.0, "reading held-out samples");
    const auto heldOut = readSelectedSamples(r.data, r.count, o.minPhaseFraction);
    std::vector<Volume> training;
    if (!r.training.empty()) {
        token.report(0.0, "reading training samples");
        training = readSelectedSamples(r.training, r.trainingCount, o.minPhaseFraction);
        o.training = &training;
        o.trainingData = r.training;
    }
    const auto report = evaluateGenerator3d(*model, heldOut, o, &token);
    return jobs::reportEvent(id, report.toJson());
}

// One denoise request: the input volume through the model to the output file.
Json runDenoise(std::int64_t id, const jobs::DenoiseRequest& r, ModelCache& models) {
    const auto denoiser = models.denoiser(r.model);
    io::writeVolume(denoiser->denoise(io::readVolume(r.input)), r.output);
    return jobs::denoisedEvent(id, r.output);
}

// Holds a training between two steps while paused; a cancel lets it go
// (to the cancellation the next step raises).
class PauseGate {
public:
    void set(bool paused) {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            paused_ = paused;
        }
        wake_.notify_all();
    }
    bool paused() const {
        const std::lock_guard<std::mutex> lock(mutex_);
        return paused_;
    }
    void release() { set(false); }
    void wait(const ProgressToken& token) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return !paused_ || token.cancelled(); });
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool paused_ = false;
};

// The training's steps as events: curve points, and between them at most
// 10 a second (a tiny model takes thousands of steps a second); always the
// step a pause holds at.
class StepRelay {
public:
    StepRelay(std::int64_t id, EventWriter& events, PauseGate& gate) : id_(id), events_(events), gate_(gate) {}
    void send(const StudioStep& s) {
        const auto now = std::chrono::steady_clock::now();
        const bool paused = gate_.paused();
        if (!s.curvePoint && !paused && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        events_.send(jobs::stepEvent(
            id_, {s.epoch, s.epochs, s.step, s.totalSteps, s.trainLoss, s.etaSeconds, s.curvePoint, paused}));
    }

private:
    std::int64_t id_;
    EventWriter& events_;
    PauseGate& gate_;
    std::chrono::steady_clock::time_point last_;
};

// One train request; returns the "done" event with the saved model's path.
Json runTrain(std::int64_t id, StudioTrainingKind kind, const StudioTrainingSettings& settings, bool resume,
              PauseGate& gate, ProgressToken& token, EventWriter& events) {
    StepRelay steps(id, events, gate);
    StudioTrainingEvents e;
    e.status = [&](const std::string& message) { events.send(jobs::progressEvent(id, 0.0, message)); };
    e.stage = [&](int index, int count, const std::string& name) {
        events.send(jobs::stageEvent(id, index, count, name));
    };
    e.step = [&](const StudioStep& s) { steps.send(s); };
    e.epoch = [&](const EpochRecord& r) { events.send(jobs::epochEvent(id, r.epoch, r.trainLoss, r.validationLoss)); };
    e.waitWhilePaused = [&] { gate.wait(token); };
    return jobs::trainedEvent(id, runStudioTraining(kind, settings, resume, e, token).string());
}

class Server {
public:
    explicit Server(std::ostream& out) : events_(out) { events_.send(jobs::readyEvent()); }
    ~Server() { finish(true); }

    // One line of input; false once asked to shut down.
    bool handle(const std::string& line) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) return true;
        Json message;
        try {
            message = jobs::parseWorkerLine(line);
        } catch (const std::exception& e) {
            events_.send(jobs::errorEvent(0, e.what()));
            return true;
        }
        const std::string op = message.value("op", std::string());
        const std::int64_t id = jobs::messageId(message);
        if (op == "shutdown") return false;
        if (op == "cancel") return cancel(id), true;
        if (op == "pause" || op == "resume") return pause(id, op == "pause"), true;
        if (op == "generate3d" || op == "evaluate3d" || op == "train" || op == "denoise")
            return start(id, op, message), true;
        events_.send(jobs::errorEvent(id, "worker message: unknown op '" + op + "'"));
        return true;
    }

    // Waits for the running request; cancels it first when asked.
    void finish(bool cancelRunning) {
        if (cancelRunning && token_) token_->cancel();
        gate_.release();
        if (job_.joinable()) job_.join();
    }

private:
    void cancel(std::int64_t id) {
        if (!token_ || id != runningId_) return;
        token_->cancel();
        gate_.release();
    }

    // Only the running request pauses; a pause that comes late is harmless.
    void pause(std::int64_t id, bool paused) {
        if (running_ && id == runningId_) gate_.set(paused);
    }

    // The request of a message as a job, or an error event for a bad one.
    std::function<Json(ProgressToken&)> jobOf(std::int64_t id, const std::string& op, const Json& message) {
        try {
            if (op == "generate3d")
                return [this, id, r = jobs::generate3dRequestFrom(message)](ProgressToken& token) {
                    return runGenerate3d(id, r, models_, token, events_);
                };
            if (op == "denoise")
                return [this, id, r = jobs::denoiseRequestFrom(message)](ProgressToken&) {
                    return runDenoise(id, r, models_);
                };
            if (op == "train") {
                // Settings are checked now: a bad one is refused before anything runs.
                const auto r = jobs::trainRequestFrom(message);
                return
                    [this, id, kind = parseStudioTrainingKind(r.kind),
                     settings = studioTrainingSettingsFromJson(r.settings), resume = r.resume](ProgressToken& token) {
                        return runTrain(id, kind, settings, resume, gate_, token, events_);
                    };
            }
            return [this, id, r = jobs::evaluate3dRequestFrom(message)](ProgressToken& token) {
                return runEvaluate3d(id, r, models_, token, events_);
            };
        } catch (const std::exception& e) {
            events_.send(jobs::errorEvent(id, e.what()));
            return {};
        }
    }

    void start(std::int64_t id, const std::string& op, const Json& message) {
        if (running_) {
            events_.send(jobs::errorEvent(id, "busy: request " + std::to_string(runningId_) + " is running"));
            return;
        }
        auto job = jobOf(id, op, message);
        if (!job) return;
        if (job_.joinable()) job_.join();
        token_ = std::make_shared<ProgressToken>();
        gate_.set(false);
        runningId_ = id;
        running_ = true;
        job_ = std::thread([this, id, job = std::move(job), token = token_] {
            // The request and the torch threads it starts yield to the studio's
            // UI thread (at the same priority, a tiny model's DDPM-1000 in the
            // Design tab's test took 90-150 s instead of 30 s on 2 cores).
            lowerCurrentThreadPriority();
            Json last;
            try {
                last = job(*token);
            } catch (const Cancelled&) {
                last = jobs::errorEvent(id, "cancelled", true);
            } catch (const std::exception& e) {
                last = jobs::errorEvent(id, e.what());
            }
            // Free before the client hears of the end: its next request must not find us busy.
            running_ = false;
            events_.send(last);
        });
    }

    EventWriter events_;
    ModelCache models_;
    PauseGate gate_;
    std::thread job_;
    std::shared_ptr<ProgressToken> token_;
    std::int64_t runningId_ = 0;
    std::atomic<bool> running_{false};
};

}  // namespace

int serveWorker(std::istream& in, std::ostream& out) {
    Server server(out);
    std::string line;
    bool shutdown = false;
    while (!shutdown && std::getline(in, line)) shutdown = !server.handle(line);
    server.finish(!shutdown);  // end of input: the client is gone
    return 0;
}

namespace {

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// One request through the worker, to its "done" (ms::Error on its error or
// the worker's end); calls onEvent with its other events.
void throughWorker(jobs::WorkerProcess& worker, const Json& request,
                   const std::function<void(const Json&)>& onEvent = {}) {
    const auto last = worker.request(request, onEvent);
    if (!last) throw Error("the ML worker stopped before answering");
    if ((*last)["event"] == "error") throw Error("the ML worker: " + (*last)["message"].get<std::string>());
}

// One generate3d request through the worker; the seconds spent reading the samples back.
double requestThroughWorker(jobs::WorkerProcess& worker, std::int64_t id, const jobs::Generate3dRequest& r) {
    double reading = 0.0;
    throughWorker(worker, jobs::requestMessage(id, r), [&](const Json& event) {
        if (event["event"] != "sample") return;
        const auto start = std::chrono::steady_clock::now();
        jobs::readGeneratedVolume(event["file"].get<std::string>());
        reading += secondsSince(start);
    });
    return reading;
}

}  // namespace

WorkerTiming timeWorkerGeneration(const std::string& workerExecutable, const jobs::Generate3dRequest& request,
                                  int repeats) {
    if (repeats < 1) throw Error("the worker benchmark needs repeats >= 1");
    WorkerTiming t;
    t.samples = request.targets.size();
    auto start = std::chrono::steady_clock::now();
    const auto model = Generator3D::load(request.model);
    t.modelLoadSeconds = secondsSince(start);
    auto o = generateOptions(request);
    o.previewEvery = 0;
    o.onSample = [&](std::size_t, const Volume& sample) { describedSample(request, model, sample); };
    std::vector<double> inProcess, warm, reading;
    for (int i = 0; i < repeats; ++i) {
        start = std::chrono::steady_clock::now();
        model.generate(request.targets, o);
        inProcess.push_back(secondsSince(start));
    }
    auto r = request;
    r.previews = false;
    start = std::chrono::steady_clock::now();
    jobs::WorkerProcess worker(workerExecutable);
    requestThroughWorker(worker, 1, r);
    t.workerColdSeconds = secondsSince(start);
    for (int i = 0; i < repeats; ++i) {
        start = std::chrono::steady_clock::now();
        reading.push_back(requestThroughWorker(worker, i + 2, r));
        warm.push_back(secondsSince(start));
    }
    worker.send(jobs::shutdownMessage());
    worker.wait();
    t.inProcessSeconds = median(inProcess);
    t.workerWarmSeconds = median(warm);
    t.readBackSeconds = median(reading);
    return t;
}

WorkerTrainingTiming timeWorkerTraining(const std::string& workerExecutable, StudioTrainingKind kind,
                                        const StudioTrainingSettings& settings, int repeats) {
    if (repeats < 1) throw Error("the worker benchmark needs repeats >= 1");
    WorkerTrainingTiming t;
    StudioTrainingSettings here = settings, there = settings;
    here.name += "-in-process";
    there.name += "-worker";
    const jobs::TrainRequest request{studioTrainingKindName(kind), false, toJson(there)};
    jobs::WorkerProcess worker(workerExecutable);
    auto start = std::chrono::steady_clock::now();
    throughWorker(worker, jobs::requestMessage(1, request));
    t.workerColdSeconds = secondsSince(start);
    std::vector<double> inProcess, warm;
    for (int i = 0; i < repeats; ++i) {  // alternating: both see the same drift of the machine's load
        start = std::chrono::steady_clock::now();
        ProgressToken token;
        runStudioTraining(kind, here, false, {}, token);
        inProcess.push_back(secondsSince(start));
        start = std::chrono::steady_clock::now();
        throughWorker(worker, jobs::requestMessage(i + 2, request));
        warm.push_back(secondsSince(start));
    }
    worker.send(jobs::shutdownMessage());
    worker.wait();
    t.inProcessSeconds = median(inProcess);
    t.workerWarmSeconds = median(warm);
    return t;
}

}  // namespace ms::ml
