// The ML worker's request loop (ml::serveWorker, docs/worker-protocol.md),
// in-process on string streams with a tiny generator: the samples it writes
// are the library's for the same options; malformed lines, a second request
// while busy, unknown ops, cancel, a missing model and the end of input each
// give the event the protocol promises, and the loop goes on or ends as it says.
#include <QTemporaryDir>
#include <QtTest>

#include <csignal>

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/jobs/worker_denoiser.hpp"
#include "microstudio/jobs/worker_process.hpp"
#include "microstudio/jobs/worker_protocol.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/training_runs.hpp"
#include "microstudio/ml/vae2d.hpp"
#include "microstudio/ml/worker_server.hpp"

using namespace ms;
using namespace ms::ml;

namespace {

// Every event the loop writes for `input` (one message per line).
std::vector<Json> serve(const std::string& input) {
    std::istringstream in(input);
    std::ostringstream out;
    [[maybe_unused]] const int status = serveWorker(in, out);
    std::vector<Json> events;
    std::istringstream lines(out.str());
    for (std::string line; std::getline(lines, line);) events.push_back(jobs::parseWorkerLine(line));
    return events;
}

std::vector<Json> eventsOf(const std::vector<Json>& events, std::int64_t id, const std::string& kind) {
    std::vector<Json> out;
    for (const auto& e : events)
        if (jobs::messageId(e) == id && e["event"] == kind) out.push_back(e);
    return out;
}

std::string line(const Json& message) { return jobs::workerLine(message); }

jobs::Generate3dRequest tinyRequest(const std::string& model, const std::string& outDir, int steps) {
    jobs::Generate3dRequest r;
    r.model = model;
    r.targets = {{{"ABS_f_D", 0.3}}, {{"ABS_f_D", 0.5}}, {{"ABS_f_D", 0.7}}};
    r.steps = steps;
    r.seed = 5;
    r.outDir = outDir;
    return r;
}

// Held-out volumes of the test split: a donor ball in acceptor (radius by
// index), with every condition of the tiny 2-phase model as attributes.
std::string writeHeldOut(const QTemporaryDir& dir) {
    std::vector<Volume> volumes;
    for (int i = 0; i < 6; ++i) {
        Volume v(Dims{16, 16, 8});
        const double r = 2.0 + 0.8 * i;
        for (int z = 0; z < 8; ++z)
            for (int y = 0; y < 16; ++y)
                for (int x = 0; x < 16; ++x)
                    v.at(x, y, z) = std::hypot(std::hypot(x - 8.0, y - 8.0), 2.0 * (z - 4.0)) < r ? Donor : Acceptor;
        v.attributes["ABS_f_D"] = v.volumeFraction(Donor);
        v.attributes["CT_f_D_tort1"] = 0.6 + 0.05 * i;
        v.attributes["CT_f_A_tort1"] = 0.9 - 0.04 * i;
        v.text["split"] = "test";
        volumes.push_back(std::move(v));
    }
    const std::string path = dir.filePath("heldout.h5").toStdString();
    io::writeHdf5(volumes, path);
    return path;
}

}  // namespace

class TestWorkerServer : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::string model_;

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        model_ = dir_.filePath("tiny").toStdString();
        Generator3D::create(Generator3dConfig::tiny(2), 11).save(model_);
    }

    // A generate3d request: "ready" first, each sample once as a file holding
    // the library's sample for the same options (batch 4, as the studio had
    // it in-process) with its measured descriptors, previews at step 10 of
    // 12, "done" last with the count; a malformed line in between gets an
    // error event of id 0 and changes nothing.
    void generatesTheLibrarySamplesToFiles() {
        const std::string out = dir_.filePath("run1").toStdString();
        auto request = tinyRequest(model_, out, 12);
        const auto events = serve(line(jobs::requestMessage(1, request)) + "{oops\n" + line(jobs::shutdownMessage()));
        QVERIFY(!events.empty());
        QCOMPARE(events.front()["event"].get<std::string>(), std::string("ready"));
        const auto unreadable = eventsOf(events, 0, "error");
        QCOMPARE(unreadable.size(), std::size_t(1));
        QVERIFY(unreadable[0]["message"].get<std::string>().find("not JSON") != std::string::npos);
        QCOMPARE(events.back()["event"].get<std::string>(), std::string("done"));
        QCOMPARE(events.back()["samples"].get<int>(), 3);
        QVERIFY(eventsOf(events, 1, "error").empty());
        QVERIFY(!eventsOf(events, 1, "progress").empty());

        GenerateOptions o;
        o.steps = 12;
        o.seed = 5;
        o.batch = 4;
        const auto expected = Generator3D::load(model_).generate(request.targets, o);
        const auto samples = eventsOf(events, 1, "sample");
        QCOMPARE(samples.size(), std::size_t(3));
        std::set<std::size_t> indices;
        for (const auto& e : samples) {
            const auto index = e["index"].get<std::size_t>();
            indices.insert(index);
            QCOMPARE(e["file"].get<std::string>(), jobs::sampleFile(out, index));
            const Volume v = jobs::readGeneratedVolume(e["file"].get<std::string>());
            QVERIFY(v.sameLabels(expected.at(index)));
            QVERIFY(v.text == expected.at(index).text);
            for (const auto& [name, value] : expected.at(index).attributes) QCOMPARE(v.attributes.at(name), value);
            QCOMPARE(v.attributes.at("target_ABS_f_D"), request.targets[index].at("ABS_f_D"));
            QVERIFY(v.attributes.count("ABS_f_D"));  // measured (describe)
        }
        QCOMPARE(indices, (std::set<std::size_t>{0, 1, 2}));
        const auto previews = eventsOf(events, 1, "preview");
        QCOMPARE(previews.size(), std::size_t(3));
        for (const auto& e : previews) {
            QCOMPARE(e["step"].get<int>(), 10);
            QCOMPARE(e["steps"].get<int>(), 12);
            QCOMPARE(io::readVolume(e["file"].get<std::string>()).dims(), (Dims{16, 16, 8}));
        }
    }

    // While request 1 runs (DDPM over all 1000 steps): request 2 is refused
    // as busy, an unknown op gets its error, cancel ends request 1 with a
    // cancelled error and no "done"; shutdown then returns.
    void busyUnknownOpAndCancel() {
        auto request = tinyRequest(model_, dir_.filePath("run2").toStdString(), 0);
        const auto events =
            serve(line(jobs::requestMessage(1, request)) + line(jobs::requestMessage(2, request)) +
                  line(Json{{"op", "fly"}, {"id", 3}}) + line(jobs::cancelMessage(1)) + line(jobs::shutdownMessage()));
        const auto busy = eventsOf(events, 2, "error");
        QCOMPARE(busy.size(), std::size_t(1));
        QCOMPARE(busy[0]["message"].get<std::string>(), std::string("busy: request 1 is running"));
        const auto unknown = eventsOf(events, 3, "error");
        QCOMPARE(unknown.size(), std::size_t(1));
        QVERIFY(unknown[0]["message"].get<std::string>().find("unknown op 'fly'") != std::string::npos);
        const auto cancelled = eventsOf(events, 1, "error");
        QCOMPARE(cancelled.size(), std::size_t(1));
        QVERIFY(cancelled[0]["cancelled"].get<bool>());
        QVERIFY(eventsOf(events, 1, "done").empty());
        QVERIFY(eventsOf(events, 1, "sample").empty());
    }

    // The end of input (the client gone) cancels the running request.
    void endOfInputCancels() {
        auto request = tinyRequest(model_, dir_.filePath("run3").toStdString(), 0);
        const auto events = serve(line(jobs::requestMessage(4, request)));
        const auto cancelled = eventsOf(events, 4, "error");
        QCOMPARE(cancelled.size(), std::size_t(1));
        QVERIFY(cancelled[0]["cancelled"].get<bool>());
    }

    // A model that is not there: one error event naming it; an invalid
    // request: one error naming the field; the loop reads on to shutdown.
    void missingModelAndInvalidRequest() {
        auto request =
            tinyRequest(dir_.filePath("no-such-model").toStdString(), dir_.filePath("run4").toStdString(), 2);
        Json invalid = jobs::requestMessage(6, request);
        invalid["steps"] = -3;
        const auto events =
            serve(line(invalid) + line(jobs::requestMessage(5, request)) + line(jobs::shutdownMessage()));
        const auto missing = eventsOf(events, 5, "error");
        QCOMPARE(missing.size(), std::size_t(1));
        QVERIFY2(missing[0]["message"].get<std::string>().find("no-such-model") != std::string::npos,
                 missing[0]["message"].get<std::string>().c_str());
        QVERIFY(!missing[0]["cancelled"].get<bool>());
        const auto bad = eventsOf(events, 6, "error");
        QCOMPARE(bad.size(), std::size_t(1));
        QVERIFY(bad[0]["message"].get<std::string>().find("'steps'") != std::string::npos);
    }

    // A train request runs the studio's training (ml::runStudioTraining):
    // its stage, steps (the last one a curve point) and each epoch's losses
    // as events, then "done" naming the saved model, whose weights are those
    // of the same call in-process. Settings with an unknown field and an
    // unknown kind are refused at once, naming them, before anything runs.
    void trainsAsTheStudioDoes() {
        std::vector<Volume> images;
        for (int i = 0; i < 24; ++i) {
            SyntheticOptions o;
            o.seed = std::uint64_t(300 + i);
            o.wavelength = 6.0;
            o.donorFraction = 0.35 + 0.01 * i;
            images.push_back(syntheticMicrostructure(Dims{32, 32, 1}, o));
        }
        const QString root = dir_.filePath("train");
        const std::string data = (root + "/images.h5").toStdString();
        QVERIFY(QDir().mkpath(root));
        io::writeHdf5(images, data);
        StudioTrainingSettings s;
        s.train = data;
        s.outDir = (root + "/models").toStdString();
        s.checkpointDir = (root + "/checkpoints").toStdString();
        s.epochs = 2;
        s.batch = 8;
        s.learningRate = 1e-3;
        s.threads = 1;
        s.latent = 8;
        s.hidden = 32;
        s.channels = {8, 16};
        s.name = "through-worker";
        jobs::TrainRequest r{"vae2d", false, toJson(s)};
        Json unknownField = jobs::requestMessage(8, r);
        unknownField["settings"]["colour"] = "red";
        Json unknownKind = jobs::requestMessage(9, r);
        unknownKind["kind"] = "gan";
        const auto events = serve(line(unknownField) + line(unknownKind) + line(jobs::requestMessage(7, r)) +
                                  line(jobs::shutdownMessage()));
        QVERIFY(eventsOf(events, 8, "error").at(0)["message"].get<std::string>().find("'colour'") != std::string::npos);
        QVERIFY(eventsOf(events, 9, "error").at(0)["message"].get<std::string>().find("'gan'") != std::string::npos);
        const auto failed = eventsOf(events, 7, "error");
        QVERIFY2(failed.empty(), failed.empty() ? "" : failed[0].dump().c_str());
        const auto stages = eventsOf(events, 7, "stage");
        QCOMPARE(stages.size(), std::size_t(1));
        QCOMPARE(stages[0]["name"].get<std::string>(), std::string("vae"));
        QCOMPARE(stages[0]["count"].get<int>(), 1);
        const auto steps = eventsOf(events, 7, "step");
        QVERIFY(!steps.empty());
        const auto last = jobs::trainStepFrom(steps.back());
        QCOMPARE(last.step, last.totalSteps);
        QVERIFY(last.curve && !last.paused);
        QCOMPARE(last.epochs, 2);
        const auto epochs = eventsOf(events, 7, "epoch");
        QCOMPARE(epochs.size(), std::size_t(2));
        for (const auto& e : epochs) QVERIFY(e["validation_loss"].is_number());  // the last fifth validates
        const auto done = eventsOf(events, 7, "done");
        QCOMPARE(done.size(), std::size_t(1));
        const std::string saved = done[0]["model"].get<std::string>();
        QCOMPARE(saved, (root + "/models/through-worker.pt").toStdString());

        s.name = "in-process";
        ProgressToken token;
        const auto inProcess = runStudioTraining(StudioTrainingKind::Vae2d, s, false, {}, token);
        QVERIFY(Vae2d::load(saved).flatParameters() == Vae2d::load(inProcess).flatParameters());
    }

    // An evaluate3d request answers with the library's report in its "done"
    // event, and the report reads back whole: toJson of the read-back report
    // is the JSON sent (per-target rows included); a bad report is refused.
    void evaluatesAndTheReportReadsBack() {
        jobs::Evaluate3dRequest r;
        r.model = model_;
        r.data = writeHeldOut(dir_);
        r.count = 4;
        r.steps = 3;
        r.seed = 2;
        const auto events = serve(line(jobs::requestMessage(9, r)) + line(jobs::shutdownMessage()));
        QVERIFY(eventsOf(events, 9, "error").empty());
        const auto done = eventsOf(events, 9, "done");
        QCOMPARE(done.size(), std::size_t(1));
        const Json& sent = done[0]["report"];
        const auto report = Evaluation3dReport::fromJson(sent);
        QCOMPARE(report.n, std::size_t(4));
        QCOMPARE(report.split, std::string("test"));
        QCOMPARE(report.targets.size(), std::size_t(4));
        QCOMPARE(report.plain.measured.size(), std::size_t(4));
        QVERIFY(report.reconstruction && report.reconstruction->measured.size() == 4);
        QCOMPARE(report.toJson(), sent);

        Evaluation3dOptions o;
        o.sampler.steps = 3;
        o.sampler.seed = 2;
        o.candidates = 1;
        o.diversitySamples = 0;
        o.timingBatchSizes.clear();
        o.compareSteps = -1;
        o.data = r.data;
        const auto direct =
            evaluateGenerator3d(Generator3D::load(model_), selectSamples(io::readSamples(r.data), 4, 0.0), o);
        QCOMPARE(report.plain.r2, direct.plain.r2);
        QCOMPARE(report.plain.mae, direct.plain.mae);

        Json broken = sent;
        broken["per_target"]["targets"].erase(0);
        QVERIFY_THROWS_EXCEPTION(ms::Error, Evaluation3dReport::fromJson(broken));
        broken = sent;
        broken.erase("split");
        QVERIFY_THROWS_EXCEPTION(ms::Error, Evaluation3dReport::fromJson(broken));
    }

    // A model saved again into the same folder (retrained, or its guidance
    // chosen in place) is loaded again by a warm worker: the next samples
    // are the new model's, not the cached one's.
    void warmWorkerReloadsAChangedModel() {
        const std::string folder = dir_.filePath("changing").toStdString();
        Generator3D::create(Generator3dConfig::tiny(2), 21).save(folder);
        auto request = tinyRequest(folder, dir_.filePath("run6").toStdString(), 2);
        request.targets.resize(1);
        request.describe = false;
        request.previews = false;
        jobs::WorkerProcess worker(MICROSTUDIO_ML);
        const auto sampleOf = [&](std::int64_t id) {
            worker.send(jobs::requestMessage(id, request));
            Volume sample;
            while (const auto e = worker.next()) {
                if ((*e)["event"] == "sample") sample = jobs::readGeneratedVolume((*e)["file"].get<std::string>());
                if ((*e)["event"] == "done" || (*e)["event"] == "error") break;
            }
            return sample;
        };
        GenerateOptions o;
        o.steps = 2;
        o.seed = 5;
        o.batch = 4;
        const Volume first = Generator3D::load(folder).generate(request.targets, o).at(0);
        QVERIFY(sampleOf(1).sameLabels(first));
        Generator3D::create(Generator3dConfig::tiny(2), 22).save(folder);
        const Volume second = Generator3D::load(folder).generate(request.targets, o).at(0);
        QVERIFY(!second.sameLabels(first));  // else this test could not tell
        QVERIFY(sampleOf(2).sameLabels(second));
    }

    // The real worker process (microstudio-ml serve) through the blocking
    // client: ready, a request's progress, then SIGKILL: its output ends
    // (no half line is taken for an event) and its status says the signal.
    // A second worker answers three requests, each sent as the previous one's
    // "done" arrives (never busy), and exits 0 on shutdown.
    // The Noise lab's learned denoiser through the real worker
    // (jobs::WorkerDenoiser): the labels of the library's own denoiser on
    // the same image; a model it cannot load is one error naming the file,
    // and the same client then goes on with a good model.
    void denoisesThroughTheWorker() {
        Vae2dConfig c;
        c.size = 32;
        c.latent = 8;
        c.channels = {8, 16};
        c.kernels = {4, 4};
        c.hidden = 32;
        const std::string weights = dir_.filePath("denoiser.pt").toStdString();
        Vae2d(c, 3).save(weights);
        SyntheticOptions o;
        o.seed = 12;
        const Volume noisy = syntheticMicrostructure(Dims{32, 32, 1}, o);
        const Volume expected = makeDenoiser(std::make_shared<const Vae2d>(Vae2d::load(weights)), "d")->denoise(noisy);

        jobs::WorkerDenoiser missing(MICROSTUDIO_ML, dir_.filePath("no-such.pt").toStdString());
        try {
            missing.denoise(noisy);
            QFAIL("a missing model denoised");
        } catch (const ms::Error& e) {
            QVERIFY2(std::string(e.what()).find("no-such") != std::string::npos, e.what());
        }
        jobs::WorkerDenoiser denoiser(MICROSTUDIO_ML, weights);
        for (int i = 0; i < 2; ++i) {  // the second call on the warm worker
            const Volume out = denoiser.denoise(noisy);
            QCOMPARE(out.dims(), noisy.dims());
            QVERIFY(out.sameLabels(expected));
        }
    }

    void workerProcessThatDies() {
        // SIGPIPE at its default (it may arrive ignored from the shell that
        // started the test): a send() that raised it would end this process.
        struct sigaction pipeDefault {
        }, inherited{};
        pipeDefault.sa_handler = SIG_DFL;
        QCOMPARE(::sigaction(SIGPIPE, &pipeDefault, &inherited), 0);
        auto request = tinyRequest(model_, dir_.filePath("run5").toStdString(), 0);
        {
            jobs::WorkerProcess worker(MICROSTUDIO_ML);
            const auto ready = worker.next();
            QVERIFY(ready && (*ready)["event"] == "ready");
            worker.send(jobs::requestMessage(1, request));
            bool underWay = false;
            while (const auto e = worker.next())
                if ((*e)["event"] == "progress" && (*e)["fraction"].get<double>() > 0.0) {
                    underWay = true;
                    break;
                }
            QVERIFY(underWay);
            QCOMPARE(::kill(worker.pid(), SIGKILL), 0);
            while (const auto e = worker.next())
                QVERIFY((*e).contains("event"));  // the rest before the kill, then the end
            QCOMPARE(worker.wait(), 128 + SIGKILL);
            QVERIFY_THROWS_EXCEPTION(ms::Error, worker.send(jobs::cancelMessage(1)));
            // ... without SIGPIPE ending this process, whose handling of it stays the default.
            struct sigaction pipe {};
            QCOMPARE(::sigaction(SIGPIPE, nullptr, &pipe), 0);
            QVERIFY(pipe.sa_handler == SIG_DFL);
            QCOMPARE(::sigaction(SIGPIPE, &inherited, nullptr), 0);
        }
        jobs::WorkerProcess fresh(MICROSTUDIO_ML);
        request.steps = 2;
        std::vector<Json> events;
        // Each request sent the moment the previous one's "done" arrives: never "busy".
        for (std::int64_t id : {2, 3, 4}) {
            fresh.send(jobs::requestMessage(id, request));
            while (const auto e = fresh.next()) {
                events.push_back(*e);
                if (jobs::messageId(*e) == id && ((*e)["event"] == "done" || (*e)["event"] == "error")) break;
            }
            QVERIFY2(eventsOf(events, id, "error").empty(), jobs::workerLine(events.back()).c_str());
            QCOMPARE(eventsOf(events, id, "sample").size(), std::size_t(3));
            QCOMPARE(eventsOf(events, id, "done").size(), std::size_t(1));
        }
        fresh.send(jobs::shutdownMessage());
        while (fresh.next()) {}
        QCOMPARE(fresh.wait(), 0);
        QVERIFY_THROWS_EXCEPTION(ms::Error, jobs::WorkerProcess(dir_.filePath("no-such-worker").toStdString()));
    }
};

QTEST_GUILESS_MAIN(TestWorkerServer)
#include "test_worker_server.moc"
