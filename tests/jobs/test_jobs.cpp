// Jobs: a simulation written to HDF5, and the dataset builder (split by run,
// descriptors, resume after a kill, sharded build + merge == one process).
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <unistd.h>

#include "microstudio/core/error.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/jobs/dataset_builder.hpp"
#include "microstudio/jobs/describe_benchmark.hpp"
#include "microstudio/jobs/simulate_job.hpp"
#include "microstudio/jobs/volume_dataset.hpp"
#include "microstudio/jobs/worker_protocol.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/physics/run.hpp"

namespace fs = std::filesystem;
using namespace ms;

namespace {

fs::path freshDir(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("ms_test_jobs_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

jobs::DatasetConfig smallConfig() {
    jobs::DatasetConfig c;
    c.dims = Dims{24, 24, 1};
    c.phiMin = 0.4, c.phiMax = 0.6, c.phiCount = 2;
    c.chiMin = 2.8, c.chiMax = 3.4, c.chiCount = 3;
    c.endTime = 150;
    c.snapshots = 10;
    c.validationFraction = 0.34;  // 2 of 6 runs
    return c;
}

// Every sample of two files: same names in the same order, same labels, same attributes.
void compareFiles(const fs::path& a, const fs::path& b) {
    const auto names = io::hdf5SampleNames(a);
    QCOMPARE(io::hdf5SampleNames(b), names);
    QVERIFY(!names.empty());
    for (const auto& n : names) {
        const Volume va = io::readHdf5Sample(a, n), vb = io::readHdf5Sample(b, n);
        QVERIFY2(va.sameLabels(vb), n.c_str());
        QVERIFY2(va.attributes == vb.attributes, n.c_str());
    }
}

// A volume whose every voxel is known from its position: windows and
// resized slices can be checked against the formula.
std::uint8_t knownLabel(int x, int y, int z) { return (x * 7 + y * 3 + z * 5) % 11 < 5 ? Donor : Acceptor; }

Volume knownVolume(Dims d) {
    Volume v(d);
    for (int z = 0; z < d.nz; ++z)
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) v.at(x, y, z) = knownLabel(x, y, z);
    v.spacing = {0.5, 0.5, 2.0};
    return v;
}

// Every sample of a dataset folder's split files: name -> volume.
std::map<std::string, Volume> datasetSamples(const fs::path& dir) {
    std::map<std::string, Volume> all;
    for (const char* split : {"train", "val", "test"})
        if (fs::exists(dir / (std::string(split) + ".h5")))
            for (auto& v : io::readHdf5(dir / (std::string(split) + ".h5"))) {
                const std::string name = v.text.at("sample");
                if (!all.emplace(name, std::move(v)).second) all[name].text["duplicate"] = "yes";
            }
    return all;
}

}  // namespace

class TestJobs : public QObject {
    Q_OBJECT
private slots:
    // The ML worker's protocol: a request survives the line it travels in
    // field by field; every malformed line is refused with one line saying
    // what is wrong; a message with a newline in a string stays one line.
    void workerProtocolMessages() {
        jobs::Generate3dRequest r;
        r.model = "/models/gen3d-ch2";
        r.targets = {{{"ABS_f_D", 0.5}, {"CT_f_D_tort1", 0.4}}, {{"ABS_f_D", 0.25}}};
        r.sampler = "dpmpp";
        r.steps = 16;
        r.guidance = 2.0;
        r.seed = 42;
        r.candidates = 3;
        r.tolerance = 0.5;
        r.size = Dims{128, 64, 32};
        r.describe = false;
        r.previews = false;
        r.outDir = "/tmp/out dir";
        const std::string line = jobs::workerLine(jobs::requestMessage(7, r));
        QCOMPARE(std::count(line.begin(), line.end(), '\n'), 1L);
        QVERIFY(line.back() == '\n');
        const Json parsed = jobs::parseWorkerLine(line);
        QCOMPARE(jobs::messageId(parsed), std::int64_t(7));
        const auto back = jobs::generate3dRequestFrom(parsed);
        QCOMPARE(back.model, r.model);
        QVERIFY(back.targets == r.targets);
        QCOMPARE(back.sampler, r.sampler);
        QCOMPARE(back.steps, 16);
        QCOMPARE(back.guidance, 2.0);
        QCOMPARE(back.seed, std::uint64_t(42));
        QCOMPARE(back.candidates, 3);
        QCOMPARE(back.tolerance, 0.5);
        QVERIFY(back.size == (Dims{128, 64, 32}));
        QVERIFY(!back.describe && !back.previews);
        QCOMPARE(back.outDir, r.outDir);
        r.size = Dims{0, 0, 0};  // the training size travels as ""
        QVERIFY(jobs::generate3dRequestFrom(jobs::requestMessage(1, r)).size == (Dims{0, 0, 0}));

        const auto refused = [](const std::string& text, const std::string& reason) {
            try {
                jobs::generate3dRequestFrom(jobs::parseWorkerLine(text));
            } catch (const ms::Error& e) {
                const std::string what = e.what();
                QVERIFY2(what.find(reason) != std::string::npos, (text + " -> " + what).c_str());
                QVERIFY2(what.find('\n') == std::string::npos, what.c_str());
                return;
            }
            QFAIL(("accepted: " + text).c_str());
        };
        refused("", "not JSON at byte");
        refused("{\"op\": \"generate3d\"", "not JSON at byte");
        refused("[1, 2]", "not a JSON object");
        refused("{\"id\": 1}", "exactly one of 'op' and 'event'");
        refused("{\"op\": \"cancel\", \"event\": \"done\", \"id\": 1}", "exactly one of");
        refused("{\"op\": 3, \"id\": 1}", "'op' must be a string");
        refused("{\"op\": \"cancel\"}", "no 'id'");
        refused("{\"op\": \"cancel\", \"id\": 0}", "'id' must be in [1,");
        refused("{\"op\": \"cancel\", \"id\": 1.5}", "'id' must be an integer");
        Json good = jobs::requestMessage(3, r);
        const auto refusedWith = [&](const std::string& key, const Json& value, const std::string& reason) {
            Json m = good;
            m[key] = value;
            refused(m.dump(), reason);
        };
        refusedWith("steps", -1, "'steps' must be in [0, 100000], not -1");
        refusedWith("candidates", 0, "'candidates' must be in [1, 1000]");
        refusedWith("guidance", "2", "'guidance' must be a number");
        refusedWith("targets", Json::array(), "'targets' must be a non-empty array");
        refusedWith("targets", Json::array({Json{{"ABS_f_D", "half"}}}), "target 'ABS_f_D' must be a finite number");
        refusedWith("describe", 1, "'describe' must be true or false");
        refusedWith("size", "64x", "");
        refusedWith("colour", "red", "generate3d has no field 'colour'");
        refusedWith("out_dir", "", "needs a 'model' and an 'out_dir'");

        // evaluate3d: every field survives; a phase filter of 0.5 or more is refused.
        jobs::Evaluate3dRequest e;
        e.model = "/m";
        e.data = "/d/test.h5";
        e.count = 256;
        e.minPhaseFraction = 0.01;
        e.training = "/d/train.h5";
        e.trainingCount = 500;
        e.sampler = "dpmpp";
        e.steps = 8;
        e.guidance = 2.0;
        e.seed = 3;
        const auto eBack =
            jobs::evaluate3dRequestFrom(jobs::parseWorkerLine(jobs::workerLine(jobs::requestMessage(4, e))));
        QCOMPARE(eBack.model, e.model);
        QCOMPARE(eBack.data, e.data);
        QCOMPARE(eBack.count, e.count);
        QCOMPARE(eBack.minPhaseFraction, e.minPhaseFraction);
        QCOMPARE(eBack.training, e.training);
        QCOMPARE(eBack.trainingCount, e.trainingCount);
        QCOMPARE(eBack.sampler, e.sampler);
        QCOMPARE(eBack.steps, e.steps);
        QCOMPARE(eBack.guidance, e.guidance);
        QCOMPARE(eBack.seed, e.seed);
        Json badFilter = jobs::requestMessage(4, e);
        badFilter["min_phase_fraction"] = 0.5;
        QVERIFY_THROWS_EXCEPTION(ms::Error, jobs::evaluate3dRequestFrom(badFilter));

        // Events: ready has no id; an error of an unreadable line has id 0.
        QCOMPARE(jobs::parseWorkerLine(jobs::workerLine(jobs::readyEvent()))["protocol"].get<int>(),
                 jobs::kWorkerProtocolVersion);
        const Json error = jobs::parseWorkerLine(jobs::workerLine(jobs::errorEvent(0, "line 1\nline 2")));
        QCOMPARE(jobs::messageId(error), std::int64_t(0));
        QCOMPARE(error["message"].get<std::string>(), std::string("line 1\nline 2"));
        const Json preview = jobs::previewEvent(5, 12, 10, 50, jobs::previewFile("/o", 12, 10));
        QCOMPARE(preview["file"].get<std::string>(), std::string("/o/preview-00012-0010.h5"));
        QCOMPARE(jobs::sampleFile("/o", 3), std::string("/o/sample-00003.h5"));
        QCOMPARE(jobs::parseWorkerLine(jobs::workerLine(jobs::doneEvent(5, 4)))["samples"].get<int>(), 4);

        // Training: the request carries its settings object as it is; a
        // missing or non-object one, or an unknown field, is refused.
        jobs::TrainRequest t{"generator3d", true, Json{{"name", "mine"}, {"epochs", 3}}};
        const auto tBack = jobs::trainRequestFrom(jobs::parseWorkerLine(jobs::workerLine(jobs::requestMessage(6, t))));
        QCOMPARE(tBack.kind, t.kind);
        QVERIFY(tBack.resume);
        QVERIFY(tBack.settings == t.settings);
        Json noSettings = jobs::requestMessage(6, t);
        noSettings["settings"] = "epochs 3";
        QVERIFY_THROWS_EXCEPTION(ms::Error, jobs::trainRequestFrom(noSettings));
        Json extra = jobs::requestMessage(6, t);
        extra["priority"] = 1;
        QVERIFY_THROWS_EXCEPTION(ms::Error, jobs::trainRequestFrom(extra));
        QCOMPARE(jobs::pauseMessage(6)["op"].get<std::string>(), std::string("pause"));
        QCOMPARE(jobs::messageId(jobs::resumeMessage(6)), std::int64_t(6));
        // A step reads back field by field; an epoch without validation has null there.
        const jobs::TrainStep step{1, 3, 17, 30, 0.25, 12.5, true, true};
        const auto stepBack = jobs::trainStepFrom(jobs::parseWorkerLine(jobs::workerLine(jobs::stepEvent(6, step))));
        QCOMPARE(stepBack.epoch, 1);
        QCOMPARE(stepBack.epochs, 3);
        QCOMPARE(stepBack.step, 17L);
        QCOMPARE(stepBack.totalSteps, 30L);
        QCOMPARE(stepBack.trainLoss, 0.25);
        QCOMPARE(stepBack.etaSeconds, 12.5);
        QVERIFY(stepBack.curve && stepBack.paused);
        const Json epoch = jobs::parseWorkerLine(jobs::workerLine(jobs::epochEvent(6, 2, 0.5, std::nan(""))));
        QVERIFY(epoch["validation_loss"].is_null());
        QCOMPARE(epoch["train_loss"].get<double>(), 0.5);
        QCOMPARE(jobs::trainedEvent(6, "/m/a.pt")["model"].get<std::string>(), std::string("/m/a.pt"));
    }

    // describe_benchmark (bench descriptors' work): its field is
    // deterministic for a seed and two-phase, about half donor (the smoothed
    // noise is symmetric about 0); a large-volume run describes the .vti it
    // wrote identically with one and two threads and leaves no file behind;
    // the fixture figures find the 512x128 data_*.txt and the three-phase
    // trial_1.txt in the shared fixtures (a missing fixture fails).
    void describeBenchmark() {
        namespace fs = std::filesystem;
        const ms::Dims dims{32, 32, 16};
        const auto a = ms::jobs::smoothedRandomField(dims, 4, 5), b = ms::jobs::smoothedRandomField(dims, 4, 5);
        QVERIFY(a.labels() == b.labels());
        QVERIFY(a.labels() != ms::jobs::smoothedRandomField(dims, 4, 6).labels());
        const auto donors = std::count(a.labels().begin(), a.labels().end(), ms::Donor);
        const auto acceptors = std::count(a.labels().begin(), a.labels().end(), ms::Acceptor);
        QCOMPARE(std::size_t(donors + acceptors), dims.count());
        QVERIFY2(std::abs(double(donors) / double(dims.count()) - 0.5) < 0.1, qPrintable(QString::number(donors)));

        const fs::path scratch = fs::temp_directory_path() / "ms_test_jobs_describe_benchmark";
        fs::remove_all(scratch);
        const auto large = ms::jobs::benchmarkLargeVolume(dims, 2, scratch);
        QVERIFY(large.identical);
        QCOMPARE(large.dims, dims);
        QCOMPARE(large.threads, 2);
        QVERIFY(large.readSeconds > 0.0 && large.oneThreadSeconds > 0.0 && large.threadedSeconds > 0.0);
        QVERIFY(large.peakMegabytes > 0.0);
        QCOMPARE(QString::fromStdString(large.load).split(' ').size(), 3);
        QVERIFY(fs::is_empty(scratch));
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::jobs::benchmarkLargeVolume(dims, 0, scratch));
        fs::remove_all(scratch);

        const auto figures =
            ms::jobs::benchmarkDescriptors(1, {fs::path(MICROSTUDIO_SHARED_DIR) / "fixtures" / "graspi"});
        const QString source = QString::fromStdString(figures.image2dSource);
        QVERIFY2(source.contains("data_") && source.endsWith(".txt"), qPrintable(source));
        QVERIFY(figures.threePhaseFile.has_value());
        QCOMPARE(figures.threePhaseFile->filename().string(), std::string("trial_1.txt"));
        QVERIFY(std::abs(figures.volume.value("vol_frac_D") - 0.5) < 0.1);
        for (double t : {figures.image2dSeconds, figures.volumeSeconds, figures.cubeSeconds, figures.periodicSeconds,
                         figures.extrasSeconds, figures.threePhaseSeconds})
            QVERIFY(t > 0.0);
    }

    void simulateJobWritesFieldLabelsAndAttributes() {
        const fs::path dir = freshDir("simulate");
        jobs::SimulateJob job;
        job.params.dims = Dims{32, 24, 1};
        job.params.phi = 0.4;
        job.params.chi = 3.2;
        job.plan.endTime = 200;
        job.plan.snapshots = 15;
        job.phases = 3;
        job.output = dir / "run.h5";
        const auto summary = jobs::runSimulateJob(job);
        QCOMPARE(summary.snapshots, 15);
        QVERIFY(!fs::exists(jobs::workFolder(job.output)));  // cleaned up once complete
        const auto names = io::hdf5SampleNames(job.output);
        QCOMPARE(int(names.size()), 15);
        QCOMPARE(names.front(), std::string("snap_000000"));
        const Volume last = io::readHdf5Sample(job.output, names.back());
        QVERIFY(last.hasField());
        QCOMPARE(last.attributes.at("phi"), 0.4);
        QCOMPARE(last.attributes.at("chi"), 3.2);
        QVERIFY(std::abs(last.attributes.at("time") - 200) < 1e-9);
        QVERIFY(std::abs(last.attributes.at("log_time") - std::log(200.0)) < 1e-9);
        QVERIFY(last.attributes.at("step") > 15);
        // Labels are the documented thresholds of the stored field.
        const double lo = last.attributes.at("threshold_low"), hi = last.attributes.at("threshold_high");
        QVERIFY(lo < 0.5 && hi > 0.5);
        for (std::size_t i = 0; i < last.size(); ++i) {
            const float c = last.field()[i];
            const int expected = c <= float(lo) ? Donor : c >= float(hi) ? Acceptor : Mixed;
            QCOMPARE(int(last.labels()[i]), expected);
        }
        QVERIFY(last.volumeFraction(Mixed) > 0 && last.volumeFraction(Mixed) <= 0.25 + 1e-9);
        fs::remove_all(dir);
    }

    void runListIsDeterministicAndSplitByRun() {
        auto c = smallConfig();
        const auto a = jobs::planRuns(c), b = jobs::planRuns(c);
        QCOMPARE(a.size(), std::size_t(6));
        int val = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            QCOMPARE(a[i].seed, b[i].seed);
            QCOMPARE(a[i].split, b[i].split);
            val += a[i].split == "val";
            QVERIFY(a[i].split != "test");  // no test fraction, no test runs
        }
        QCOMPARE(val, 2);
        QCOMPARE(a[0].phi, 0.4);
        QCOMPARE(a[5].chi, 3.4);
        // Latin hypercube: one run in each of the N strata of both axes.
        c.sampling = "lhs";
        c.runs = 8;
        const auto l = jobs::planRuns(c);
        std::vector<int> phiStrata(8), chiStrata(8);
        for (const auto& r : l) {
            ++phiStrata[std::size_t((r.phi - c.phiMin) / (c.phiMax - c.phiMin) * 8)];
            ++chiStrata[std::size_t((r.chi - c.chiMin) / (c.chiMax - c.chiMin) * 8)];
        }
        QCOMPARE(phiStrata, std::vector<int>(8, 1));
        QCOMPARE(chiStrata, std::vector<int>(8, 1));
        QCOMPARE(jobs::parseShard("1/3"), std::make_pair(1, 3));
        QVERIFY_THROWS_EXCEPTION(Error, jobs::parseShard("3/3"));
    }

    void threeWaySplitByRun() {
        auto c = smallConfig();
        c.sampling = "lhs";
        c.runs = 40;
        c.validationFraction = 0.15;
        const auto twoWay = jobs::planRuns(c);
        c.testFraction = 0.15;
        const auto threeWay = jobs::planRuns(c), again = jobs::planRuns(c);
        std::map<std::string, int> counts;
        for (std::size_t i = 0; i < threeWay.size(); ++i) {
            ++counts[threeWay[i].split];
            QCOMPARE(threeWay[i].split, again[i].split);
            QCOMPARE(threeWay[i].seed, twoWay[i].seed);
            // Adding a test split keeps the validation runs: only training runs move to test.
            QCOMPARE(threeWay[i].split == "val", twoWay[i].split == "val");
        }
        QCOMPARE(counts["val"], 6);  // round(0.15 * 40)
        QCOMPARE(counts["test"], 6);
        QCOMPARE(counts["train"], 28);
        c.testFraction = 0.9;
        QVERIFY_THROWS_EXCEPTION(Error, jobs::planRuns(c));
        c.testFraction = 0.0;
        c.runs = 2;  // validation 1, test 1 leaves no training run
        c.testFraction = 0.1;
        QVERIFY_THROWS_EXCEPTION(Error, jobs::planRuns(c));
    }

    void keptSnapshotsAreLogSpacedFromTheOnset() {
        // keep 0: every candidate; fewer available than kept: all from the onset.
        QCOMPARE(jobs::keptSnapshots(5, 3, 0), std::vector<int>({0, 1, 2, 3, 4}));
        QCOMPARE(jobs::keptSnapshots(10, 7, 5), std::vector<int>({7, 8, 9}));
        // 400 candidates, onset 100, keep 4: indices 100 + round(j * 299 / 3).
        QCOMPARE(jobs::keptSnapshots(400, 100, 4), std::vector<int>({100, 200, 299, 399}));
        QCOMPARE(jobs::keptSnapshots(400, 0, 1), std::vector<int>({399}));
        QVERIFY(jobs::keptSnapshots(10, -1, 5).empty());  // onset never reached
        const auto kept = jobs::keptSnapshots(400, 37, 50);
        QCOMPARE(int(kept.size()), 50);
        QCOMPARE(kept.front(), 37);
        QCOMPARE(kept.back(), 399);
        QVERIFY(std::adjacent_find(kept.begin(), kept.end(), std::greater_equal<int>()) == kept.end());
    }

    void buildFromOnsetThresholdsBothWaysIntoThreeSplits() {
        const fs::path dir = freshDir("onset");
        auto c = smallConfig();
        c.dims = Dims{32, 32, 1};
        c.sampling = "lhs";
        c.runs = 6;
        c.phiMin = 0.45, c.phiMax = 0.55;
        c.chiMin = c.chiMax = 3.2;
        c.endTime = 400;
        c.snapshots = 60;
        c.keepSnapshots = 8;
        c.onsetAmplitude = 0.15;
        c.keepField = true;
        c.validationFraction = c.testFraction = 0.2;  // 1 + 1 of 6 runs
        c.phases = {2, 3};
        c.descriptors = "basic";
        const auto report = jobs::buildDataset(c, dir);
        QCOMPARE(report.runsBuilt, 6);
        QCOMPARE(report.runsWithoutOnset, 0);
        QCOMPARE(report.samples, 6L * 8 * 2);
        const auto runs = jobs::planRuns(c);
        const auto times = physics::snapshotTimes(physics::RunPlan{c.endTime, c.firstTime, 0, c.snapshots});
        for (const char* split : {"train", "val", "test"}) {
            const fs::path two = dir / "2phase" / (std::string(split) + ".h5"),
                           three = dir / "3phase" / (std::string(split) + ".h5");
            const auto names = io::hdf5SampleNames(two);
            QCOMPARE(io::hdf5SampleNames(three), names);  // one simulation, two thresholdings
            QCOMPARE(int(names.size()), (std::string(split) == "train" ? 4 : 1) * 8);
            for (std::size_t k = 0; k < names.size(); ++k) {
                const Volume v2 = io::readHdf5Sample(two, names[k]), v3 = io::readHdf5Sample(three, names[k]);
                QCOMPARE(v2.text.at("split"), std::string(split));
                QCOMPARE(runs[std::size_t(v2.attributes.at("run"))].split, std::string(split));
                QCOMPARE(v2.phaseCount() <= 2, true);
                QVERIFY(v3.volumeFraction(Mixed) > 0);
                QCOMPARE(v2.attributes.at("time"), v3.attributes.at("time"));
                // Every kept snapshot lies at or after the onset: its field has separated that far.
                double sum = 0, sq = 0;
                for (float f : v2.field()) sum += f, sq += double(f) * f;
                const double n = double(v2.size()), sd = std::sqrt(sq / n - (sum / n) * (sum / n));
                QVERIFY2(sd >= c.onsetAmplitude - 1e-6, names[k].c_str());
                if (k % 8 == 7)
                    QVERIFY(std::abs(v2.attributes.at("time") - c.endTime) < 1e-9);  // each run ends at endTime
                if (k % 8 == 0)
                    QVERIFY(v2.attributes.at("time") > times[0]);  // the first, near-uniform candidates are skipped
            }
        }
        QVERIFY(!fs::exists(dir / "train.h5"));
        QVERIFY(fs::exists(dir / "parts" / "run_000000_2phase.h5") &&
                fs::exists(dir / "parts" / "run_000000_3phase.h5"));
        // A killed run resumes with the onset it had found: a cancelled rebuild in a new folder equals this one.
        ProgressToken token;
        int reports = 0;
        token.setListener([&](double, const std::string&) {
            if (++reports == 40) token.cancel();
        });
        jobs::BuildOptions options;
        options.threads = 1;
        options.checkpointEverySeconds = 0;
        QVERIFY_THROWS_EXCEPTION(Cancelled, jobs::buildDataset(c, dir / "killed", options, &token));
        jobs::buildDataset(c, dir / "killed");
        for (const char* file : {"2phase/train.h5", "2phase/test.h5", "3phase/val.h5"})
            compareFiles(dir / file, dir / "killed" / file);

        // A shipped test subset: 3 of the 8 test samples, evenly spaced (0, 2, 5), names and split kept.
        const auto testNames = io::hdf5SampleNames(dir / "2phase" / "test.h5");
        QCOMPARE(jobs::writeSubset(dir / "2phase" / "test.h5", dir / "subset.h5", 3), 3L);
        QCOMPARE(io::hdf5SampleNames(dir / "subset.h5"),
                 (std::vector<std::string>{testNames[0], testNames[2], testNames[5]}));
        const Volume first = io::readHdf5Sample(dir / "subset.h5", testNames[0]);
        QCOMPARE(first.text.at("split"), std::string("test"));
        QVERIFY(first.sameLabels(io::readHdf5Sample(dir / "2phase" / "test.h5", testNames[0])));
        // The two-phase filter keeps exactly the samples whose rarer phase covers >= 30%.
        std::size_t balanced = 0;
        for (const auto& name : testNames) {
            const Volume v = io::readHdf5Sample(dir / "2phase" / "test.h5", name);
            balanced += std::min(v.volumeFraction(Donor), v.volumeFraction(Acceptor)) >= 0.3;
        }
        if (balanced == 0)
            QVERIFY_THROWS_EXCEPTION(Error, jobs::writeSubset(dir / "2phase" / "test.h5", dir / "none.h5", 3, 0.3));
        else QCOMPARE(jobs::writeSubset(dir / "2phase" / "test.h5", dir / "some.h5", 100, 0.3), long(balanced));
        fs::remove_all(dir);
    }

    void buildWritesSplitDatasetWithDescriptors() {
        const fs::path dir = freshDir("build");
        auto c = smallConfig();
        c.phases = {3};
        const auto report = jobs::buildDataset(c, dir);
        QCOMPARE(report.runsBuilt, 6);
        QVERIFY(report.merged);
        QVERIFY(fs::exists(dir / "manifest.json") && fs::exists(dir / "train.h5") && fs::exists(dir / "val.h5"));
        QVERIFY(!fs::exists(dir / "work"));
        const auto runs = jobs::planRuns(c);
        const auto train = io::hdf5SampleNames(dir / "train.h5"), val = io::hdf5SampleNames(dir / "val.h5");
        QCOMPARE(train.size() + val.size(), std::size_t(60));
        QCOMPARE(val.size(), std::size_t(20));
        // No leakage: every sample of a run sits in that run's split.
        for (const auto& name : val) {
            const Volume v = io::readHdf5Sample(dir / "val.h5", name);
            QCOMPARE(runs[std::size_t(v.attributes.at("run"))].split, std::string("val"));
            QCOMPARE(v.text.at("split"), std::string("val"));
            for (const char* key : {"phi", "chi", "time", "log_time", "vol_frac_D", "vol_frac_M", "tortuosity_D",
                                    "tortuosity_A", "CT_f_D_tort1"})
                QVERIFY2(v.attributes.count(key), key);
            QVERIFY(std::abs(v.attributes.at("vol_frac_M") - v.volumeFraction(Mixed)) < 1e-9);
        }
        for (const auto& name : train)
            QCOMPARE(runs[std::size_t(std::stoi(name.substr(4, 6)))].split, std::string("train"));
        QVERIFY(!fs::exists(dir / "test.h5"));
        // A rerun has nothing to do; another config in the same folder is refused.
        const auto again = jobs::buildDataset(c, dir);
        QCOMPARE(again.runsBuilt, 0);
        QCOMPARE(again.runsSkipped, 6);
        c.chiMax = 3.5;
        QVERIFY_THROWS_EXCEPTION(Error, jobs::buildDataset(c, dir));
        fs::remove_all(dir);
    }

    void shardedBuildPlusMergeEqualsOneProcess() {
        const fs::path dir = freshDir("shards");
        const auto c = smallConfig();
        jobs::buildDataset(c, dir / "single");
        jobs::BuildOptions shard0, shard1;
        shard0.shardCount = shard1.shardCount = 2;
        shard1.shardIndex = 1;
        const auto r0 = jobs::buildDataset(c, dir / "a", shard0);
        const auto r1 = jobs::buildDataset(c, dir / "b", shard1);
        QCOMPARE(r0.runsBuilt + r1.runsBuilt, 6);
        QVERIFY(!r0.merged && !fs::exists(dir / "a" / "train.h5"));
        QVERIFY_THROWS_EXCEPTION(Error, jobs::mergeDataset(dir / "a"));  // runs of shard 1 missing
        // Only the validation split: needs only the validation runs, which both lie in shard 0 here or not.
        const auto runs = jobs::planRuns(c);
        const bool valInShard0 = std::all_of(
            runs.begin(), runs.end(), [](const jobs::RunSpec& r) { return r.split != "val" || r.index % 2 == 0; });
        if (valInShard0) {
            jobs::mergeDataset(dir / "a", {}, nullptr, {"val"});
            compareFiles(dir / "single" / "val.h5", dir / "a" / "val.h5");
            QVERIFY(!fs::exists(dir / "a" / "train.h5"));
        } else {
            QVERIFY_THROWS_EXCEPTION(Error, jobs::mergeDataset(dir / "a", {}, nullptr, {"val"}));
        }
        jobs::mergeDataset(dir / "b", {dir / "a"}, nullptr, {"val"});
        compareFiles(dir / "single" / "val.h5", dir / "b" / "val.h5");
        QVERIFY(!fs::exists(dir / "b" / "train.h5"));
        QVERIFY_THROWS_EXCEPTION(Error, jobs::mergeDataset(dir / "a", {dir / "b"}, nullptr, {"validation"}));
        // Only the training runs of a fresh folder: no merge, the held-out parts absent.
        jobs::BuildOptions trainOnly;
        trainOnly.splits = {"train"};
        const auto built = jobs::buildDataset(c, dir / "t", trainOnly);
        QCOMPARE(built.runsBuilt, int(std::count_if(runs.begin(), runs.end(),
                                                    [](const jobs::RunSpec& r) { return r.split == "train"; })));
        QVERIFY(!built.merged && !fs::exists(dir / "t" / "train.h5"));
        for (const auto& r : runs)
            QCOMPARE(fs::exists(dir / "t" / "parts" / ("run_00000" + std::to_string(r.index) + ".h5")),
                     r.split == "train");
        trainOnly.splits = {"training"};
        QVERIFY_THROWS_EXCEPTION(Error, jobs::buildDataset(c, dir / "t", trainOnly));
        // Finished runs only: shard 0's runs alone, each whole and in run order.
        jobs::mergeDataset(dir / "a", {}, nullptr, {"train"}, true);
        const auto partial = io::hdf5SampleNames(dir / "a" / "train.h5");
        QVERIFY(!partial.empty());
        for (const auto& name : partial) QCOMPARE(std::stoi(name.substr(4, 6)) % 2, 0);
        long expected = 0;
        for (const auto& r : runs) expected += r.split == "train" && r.index % 2 == 0 ? c.snapshots : 0;
        QCOMPARE(long(partial.size()), expected);
        jobs::mergeDataset(dir / "a", {dir / "b"});
        compareFiles(dir / "single" / "train.h5", dir / "a" / "train.h5");
        compareFiles(dir / "single" / "val.h5", dir / "a" / "val.h5");
        // A manifest that parses but lacks a key: one line naming the file and the key.
        Json broken = readJsonFile(dir / "a" / "manifest.json");
        broken.erase("runs");
        writeJsonFile(broken, dir / "a" / "manifest.json");
        try {
            jobs::mergeDataset(dir / "a");
            QFAIL("a manifest without runs was merged");
        } catch (const Error& e) {
            const std::string text = e.what();
            QVERIFY2(text.rfind((dir / "a" / "manifest.json").string() + ": ", 0) == 0 &&
                         text.find("runs") != std::string::npos && text.find('\n') == std::string::npos,
                     e.what());
        }
        fs::remove_all(dir);
    }

    void cancelledBuildResumesToTheSameDataset() {
        const fs::path dir = freshDir("resume");
        auto c = smallConfig();
        c.descriptors = "basic";
        jobs::buildDataset(c, dir / "clean");
        ProgressToken token;
        int reports = 0;
        token.setListener([&](double, const std::string&) {
            if (++reports == 4) token.cancel();
        });
        jobs::BuildOptions options;
        options.threads = 2;
        options.checkpointEverySeconds = 0;  // a checkpoint after every step: resume mid-run
        QVERIFY_THROWS_EXCEPTION(Cancelled, jobs::buildDataset(c, dir / "killed", options, &token));
        QVERIFY(!fs::exists(dir / "killed" / "train.h5"));
        const auto report = jobs::buildDataset(c, dir / "killed");
        QVERIFY(report.merged);
        compareFiles(dir / "clean" / "train.h5", dir / "killed" / "train.h5");
        compareFiles(dir / "clean" / "val.h5", dir / "killed" / "val.h5");
        fs::remove_all(dir);
    }

    void cliBuildKilledRerunAndShardedEqualCleanBuild() {
        const fs::path dir = freshDir("cli");
        const QStringList args = {"dataset",       "build", "--size",    "48x48", "--phi-count", "2",
                                  "--chi-count",   "2",     "--time",    "1500",  "--snapshots", "100",
                                  "--descriptors", "basic", "--threads", "1"};
        QProcess clean;
        clean.start(MICROSTUDIO_CLI, args + QStringList{"-o", QString::fromStdString((dir / "clean").string())});
        QVERIFY(clean.waitForFinished(120000));
        QCOMPARE(clean.exitCode(), 0);
        // Kill -9 as soon as the first run is finished (mid-way through the second).
        QProcess victim;
        const fs::path killed = dir / "killed";
        victim.start(MICROSTUDIO_CLI, args + QStringList{"-o", QString::fromStdString(killed.string())});
        QVERIFY(victim.waitForStarted());
        QElapsedTimer timer;
        timer.start();
        while (!fs::exists(killed / "parts" / "run_000000.h5") && timer.elapsed() < 60000) QThread::msleep(5);
        QThread::msleep(100);
        victim.kill();
        victim.waitForFinished();
        QVERIFY2(!fs::exists(killed / "train.h5"), "the build finished before it was killed");
        QVERIFY(fs::exists(killed / "work"));  // runs in progress were interrupted
        QProcess rerun;
        rerun.start(MICROSTUDIO_CLI, args + QStringList{"-o", QString::fromStdString(killed.string()), "--json"});
        QVERIFY(rerun.waitForFinished(120000));
        QCOMPARE(rerun.exitCode(), 0);
        const QString out = rerun.readAllStandardOutput();
        QVERIFY2(out.contains("\"merged\": true"), qPrintable(out));
        compareFiles(dir / "clean" / "train.h5", killed / "train.h5");
        compareFiles(dir / "clean" / "val.h5", killed / "val.h5");

        // Two shard processes into one folder, then `dataset merge`: the same dataset.
        const fs::path sharded = dir / "sharded";
        for (const char* shard : {"0/2", "1/2"}) {
            QProcess p;
            p.start(MICROSTUDIO_CLI,
                    args + QStringList{"--shard", shard, "-o", QString::fromStdString(sharded.string())});
            QVERIFY(p.waitForFinished(120000));
            QCOMPARE(p.exitCode(), 0);
        }
        QVERIFY(!fs::exists(sharded / "train.h5"));
        QProcess merge;
        merge.start(MICROSTUDIO_CLI, {"dataset", "merge", QString::fromStdString(sharded.string())});
        QVERIFY(merge.waitForFinished(60000));
        QCOMPARE(merge.exitCode(), 0);
        compareFiles(dir / "clean" / "train.h5", sharded / "train.h5");
        compareFiles(dir / "clean" / "val.h5", sharded / "val.h5");
        fs::remove_all(dir);
    }

    void cliSimulateJsonSummary() {
        const fs::path dir = freshDir("clisim");
        QProcess p;
        p.start(MICROSTUDIO_CLI, {"simulate", "--size", "48x40", "--phi", "0.45", "--chi", "3", "--snapshots", "20",
                                  "--time", "300", "--json", "-o", QString::fromStdString((dir / "s.h5").string())});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const auto json = QJsonDocument::fromJson(p.readAllStandardOutput()).object();
        for (const char* key : {"mass_drift", "energy_start", "energy_end", "energy_increases", "length_start",
                                "length_end", "steps", "seconds"})
            QVERIFY2(json.contains(key), key);
        QVERIFY(json["mass_drift"].toDouble() < 1e-6);
        QCOMPARE(json["energy_increases"].toInt(), 0);
        QVERIFY(json["energy_end"].toDouble() < json["energy_start"].toDouble());
        QVERIFY(json["length_end"].toDouble() > json["length_start"].toDouble());
        QCOMPARE(int(io::hdf5SampleNames(dir / "s.h5").size()), 20);
        // Bad input: a clear error and a non-zero exit.
        QProcess bad;
        bad.start(MICROSTUDIO_CLI, {"simulate", "--phi", "1.5", "-o", QString::fromStdString((dir / "x.h5").string())});
        QVERIFY(bad.waitForFinished(30000));
        QCOMPARE(bad.exitCode(), 1);
        QVERIFY(bad.readAllStandardError().contains("phi"));
        fs::remove_all(dir);
    }

    // ---- Issue 22.5: a user's own volume as a dataset ----

    void volumeDatasetSplitsByPositionBlocks() {
        // 40x20x4, windows 8x8 at stride 4: x is cut into 3 strips of >= 12
        // (window + stride): [0,13) train, [13,26) val, [26,40) test. Window
        // origins x = 0..32, y = 0..12 (9 x 4 = 36); kept: x 0, 4 (train), 16
        // (val), 28, 32 (test); x 8, 12, 20, 24 cross a border: dropped.
        jobs::VolumeDatasetConfig c;
        c.windowX = c.windowY = 8;
        c.stride = 4;
        const auto plan = jobs::planVolumeDataset(Dims{40, 20, 4}, c);
        QCOMPARE(plan.axis, 'x');
        QCOMPARE(int(plan.regions.size()), 3);
        QCOMPARE(plan.regions[1].begin, 13);
        QCOMPARE(plan.regions[1].end, 26);
        QCOMPARE(plan.regions[2].split, std::string("test"));
        QCOMPARE(plan.count("train"), 8);
        QCOMPARE(plan.count("val"), 4);
        QCOMPARE(plan.count("test"), 8);
        QCOMPARE(plan.dropped, 16);
        for (const auto& w : plan.windows)
            QVERIFY(w.split == "train" ? (w.x == 0 || w.x == 4)
                    : w.split == "val" ? w.x == 16
                                       : (w.x == 28 || w.x == 32));
        // No test split: [0,26) train, [26,40) val.
        c.testFraction = 0;
        const auto two = jobs::planVolumeDataset(Dims{40, 20, 4}, c);
        QCOMPARE(two.count("train"), 20);
        QCOMPARE(two.count("val"), 8);
        QCOMPARE(two.count("test"), 0);
        QCOMPARE(two.dropped, 8);
        // A taller than wide plane is cut along y.
        c.testFraction = 0.15;
        const auto tall = jobs::planVolumeDataset(Dims{20, 40, 1}, c);
        QCOMPARE(tall.axis, 'y');
        QCOMPARE(tall.count("val"), 4);
        // Refusals, each with its reason.
        auto refused = [&](Dims d, jobs::VolumeDatasetConfig bad, const char* reason) {
            try {
                jobs::planVolumeDataset(d, bad);
            } catch (const Error& e) {
                return QString(e.what()).contains(reason) || (qWarning("%s", e.what()), false);
            }
            return false;
        };
        jobs::VolumeDatasetConfig bad = c;
        bad.stride = 0;
        QVERIFY(refused(Dims{40, 20, 4}, bad, "stride must be at least 1"));
        bad = c;
        bad.windowX = 41;
        QVERIFY(refused(Dims{40, 20, 4}, bad, "window 41x8 is larger than the volume's x/y plane 40x20"));
        bad = c;
        bad.windowY = 21;
        QVERIFY(refused(Dims{40, 20, 4}, bad, "larger than the volume's x/y plane"));
        bad = c;
        bad.stride = 8;  // strips of >= 16: only 2 fit in 40
        QVERIFY(
            refused(Dims{40, 20, 4}, bad,
                    "x axis (40 voxels) holds 2 strips of at least 16 voxels (window + stride) but the splits need 3"));
        bad = c;
        bad.depth = -1;
        QVERIFY(refused(Dims{40, 20, 4}, bad, "depth must be at least 1"));
        bad = c;
        bad.validationFraction = 0.6;
        bad.testFraction = 0.5;
        QVERIFY(refused(Dims{40, 20, 4}, bad, "test fraction must lie in"));
    }

    void volumeDatasetResizesDepthByNearestNeighbour() {
        // floor((k + 0.5) * from / to): 4 -> 8 doubles each slice; 4 -> 3 takes 0, 2, 3.
        for (int k = 0; k < 8; ++k) QCOMPARE(jobs::nearestSourceSlice(k, 4, 8), k / 2);
        QCOMPARE(jobs::nearestSourceSlice(0, 4, 3), 0);
        QCOMPARE(jobs::nearestSourceSlice(1, 4, 3), 2);
        QCOMPARE(jobs::nearestSourceSlice(2, 4, 3), 3);
        // The paper's 50 -> 64: first and last slices kept, 14 of 50 repeated.
        QCOMPARE(jobs::nearestSourceSlice(0, 50, 64), 0);
        QCOMPARE(jobs::nearestSourceSlice(63, 50, 64), 49);
        QCOMPARE(jobs::nearestSourceSlice(32, 50, 64), 25);  // floor(32.5 * 50 / 64) = floor(25.39)
        std::set<int> used;
        for (int k = 0; k < 64; ++k) used.insert(jobs::nearestSourceSlice(k, 50, 64));
        QCOMPARE(int(used.size()), 50);
        const Volume v = knownVolume(Dims{40, 20, 4});
        const Volume w = jobs::extractWindow(v, 5, 3, 8, 6, 3);
        QCOMPARE(w.dims(), (Dims{8, 6, 3}));
        const int source[] = {0, 2, 3};
        for (int z = 0; z < 3; ++z)
            for (int y = 0; y < 6; ++y)
                for (int x = 0; x < 8; ++x) QCOMPARE(w.at(x, y, z), knownLabel(5 + x, 3 + y, source[z]));
        QCOMPARE(w.spacing, (std::array<double, 3>{0.5, 0.5, 2.0 * 4 / 3}));
        QVERIFY_THROWS_EXCEPTION(Error, jobs::extractWindow(v, 33, 0, 8, 8));
    }

    void volumeDatasetWritesCropsDescribedIntoThreeSplits() {
        const fs::path dir = freshDir("from_volume");
        const Volume v = knownVolume(Dims{40, 20, 4});
        jobs::VolumeDatasetConfig c;
        c.windowX = c.windowY = 8;
        c.stride = 4;
        c.depth = 8;
        ProgressToken token;
        double last = 0;
        int reports = 0;
        token.setListener([&](double f, const std::string&) {
            QVERIFY(f >= last);
            last = f;
            ++reports;
        });
        const auto report = jobs::buildDatasetFromVolume(v, "known.vti", dir, c, &token);
        QCOMPARE(report.train, 8);
        QCOMPARE(report.val, 4);
        QCOMPARE(report.test, 8);
        QCOMPARE(report.dropped, 16);
        QCOMPARE(report.windowDims, (Dims{8, 8, 8}));
        QCOMPARE(last, 1.0);
        QVERIFY(reports >= 3);
        const auto samples = datasetSamples(dir);
        QCOMPARE(int(samples.size()), 20);
        jobs::DatasetConfig describeConfig;  // the builder's descriptors
        const auto describe = jobs::descriptorFunction(describeConfig, 2);
        std::map<std::string, std::vector<std::pair<int, int>>> origins;
        for (const auto& [name, w] : samples) {
            QVERIFY2(!w.text.count("duplicate"), name.c_str());  // no window in two splits
            const int x0 = int(w.attributes.at("x0")), y0 = int(w.attributes.at("y0"));
            const std::string split = w.text.at("split");
            // The split attribute names the file the sample is in.
            QVERIFY(io::hdf5SampleNames(dir / (split + ".h5")).size() > 0);
            const auto names = io::hdf5SampleNames(dir / (split + ".h5"));
            QVERIFY2(std::count(names.begin(), names.end(), name) == 1, name.c_str());
            QCOMPARE(w.dims(), (Dims{8, 8, 8}));
            for (int z = 0; z < 8; ++z)
                for (int y = 0; y < 8; ++y)
                    for (int x = 0; x < 8; ++x) QCOMPARE(w.at(x, y, z), knownLabel(x0 + x, y0 + y, z / 2));
            QCOMPARE(w.spacing, (std::array<double, 3>{0.5, 0.5, 1.0}));
            for (const auto& [key, value] : describe(w)) QCOMPARE(w.attributes.at(key), value);
            QVERIFY(w.attributes.count("ABS_f_D"));
            QCOMPARE(w.text.at("source_volume"), std::string("known.vti"));
            origins[split].push_back({x0, y0});
        }
        QCOMPARE(int(origins["val"].size()), 4);
        // No two windows of different splits share a voxel.
        for (const auto& [a, first] : origins)
            for (const auto& [b, second] : origins) {
                if (a == b) continue;
                for (const auto& p : first)
                    for (const auto& q : second)
                        QVERIFY(std::abs(p.first - q.first) >= 8 || std::abs(p.second - q.second) >= 8);
            }
        const Json manifest = readJsonFile(dir / "manifest.json");
        QCOMPARE(stringAt(manifest, "generator"), std::string("microstudio from-volume"));
        QCOMPARE(manifest.at("windows").size(), std::size_t(20));
        QCOMPARE(manifest.at("regions").size(), std::size_t(3));
        QCOMPARE(int(numberAt(manifest.at("config"), "depth")), 8);
        for (const auto& e : fs::directory_iterator(dir))
            QVERIFY2(e.path().string().find(".tmp") == std::string::npos, e.path().c_str());
        // A rerun without a test split removes the stale test.h5.
        c.testFraction = 0;
        const auto again = jobs::buildDatasetFromVolume(v, "known.vti", dir, c);
        QCOMPARE(again.test, 0);
        QVERIFY(!fs::exists(dir / "test.h5"));
        QCOMPARE(int(io::hdf5SampleNames(dir / "val.h5").size()), 8);
        fs::remove_all(dir);
    }

    void volumeDatasetFromAFileCancelsAndRefuses() {
        const fs::path dir = freshDir("from_volume_file");
        const Volume v = knownVolume(Dims{40, 20, 4});
        io::writeVolume(v, dir / "known.npy");
        jobs::VolumeDatasetConfig c;
        c.windowX = c.windowY = 8;
        c.stride = 4;
        c.threads = 1;  // chunks of 2 windows: cancelled inside train.h5
        c.descriptors = "basic";
        ProgressToken token;
        token.setListener([&](double f, const std::string&) {
            if (f > 0) token.cancel();
        });
        QVERIFY_THROWS_EXCEPTION(Cancelled,
                                 jobs::buildDatasetFromVolume(dir / "known.npy", dir / "out", c, {}, &token));
        QVERIFY(!fs::exists(dir / "out" / "train.h5"));
        for (const auto& e : fs::directory_iterator(dir / "out")) QVERIFY2(false, e.path().c_str());  // no temp left
        // Read from the file: the same windows as from memory.
        const auto report = jobs::buildDatasetFromVolume(dir / "known.npy", dir / "out", c);
        QCOMPARE(report.train, 8);
        const Volume first = io::readHdf5Sample(dir / "out" / "train.h5", "window_x0004_y0008");
        QVERIFY(first.sameLabels(jobs::extractWindow(v, 4, 8, 8, 8)));
        QCOMPARE(first.attributes.at("vol_frac_D"), first.volumeFraction(Donor));
        // Errors name the file; a folder with the simulator's dataset is never overwritten.
        c.windowX = 64;
        try {
            jobs::buildDatasetFromVolume(dir / "known.npy", dir / "out2", c);
            QFAIL("a window larger than the volume was accepted");
        } catch (const Error& e) {
            QVERIFY2(
                QString(e.what()).startsWith(QString::fromStdString((dir / "known.npy").string() + ": window 64x8")),
                e.what());
        }
        c.windowX = 8;
        fs::create_directories(dir / "ch");
        writeJsonFile(jobs::manifestJson(smallConfig()), dir / "ch" / "manifest.json");
        QVERIFY_THROWS_EXCEPTION(Error, jobs::buildDatasetFromVolume(dir / "known.npy", dir / "ch", c));
        QVERIFY(!fs::exists(dir / "ch" / "train.h5"));
        fs::remove_all(dir);
    }
};

QTEST_GUILESS_MAIN(TestJobs)
#include "test_jobs.moc"
