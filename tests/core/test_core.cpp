#include <QtTest>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/plot.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/core/volume.hpp"

namespace fs = std::filesystem;

class TestCore : public QObject {
    Q_OBJECT
private slots:
    void indexIsXFastest() {
        ms::Volume v(ms::Dims{4, 3, 2});
        QCOMPARE(v.index(1, 0, 0), std::size_t(1));
        QCOMPARE(v.index(0, 1, 0), std::size_t(4));
        QCOMPARE(v.index(0, 0, 1), std::size_t(12));
        QCOMPARE(v.size(), std::size_t(24));
    }
    void volumeFractionsAndPhases() {
        ms::Volume v(ms::Dims{2, 2, 1});
        v.labels() = {0, 1, 1, 1};
        QCOMPARE(v.phaseCount(), 2);
        QCOMPARE(v.volumeFraction(ms::Acceptor), 0.75);
        v.at(0, 1) = ms::Mixed;
        QCOMPARE(v.phaseCount(), 3);
        QCOMPARE(v.volumeFraction(ms::Mixed), 0.25);
        v.labels()[0] = 7;
        QVERIFY_THROWS_EXCEPTION(ms::Error, v.validateLabels());
    }
    void fieldRejectsNaNAndWrongSize() {
        ms::Volume v(ms::Dims{2, 1, 1});
        QVERIFY_THROWS_EXCEPTION(ms::Error, v.setField({1.0f}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, v.setField({1.0f, std::nanf("")}));
        v.setField({0.25f, 0.75f});
        QCOMPARE(v.field()[1], 0.75f);
    }
    void parseDims() {
        QCOMPARE(ms::parseDims("101x101").nz, 1);
        auto d = ms::parseDims("128x128x64");
        QCOMPARE(d.nx, 128);
        QCOMPARE(d.nz, 64);
        QCOMPARE(d.str(), std::string("128x128x64"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::parseDims("12"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::parseDims("0x5"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::parseDims("ax5"));
    }
    void sliceCopiesPlane() {
        ms::Volume v(ms::Dims{2, 2, 2});
        v.labels() = {0, 0, 0, 0, 1, 0, 1, 1};
        auto s = v.slice(1);
        QCOMPARE(s.dims().nz, 1);
        QCOMPARE(int(s.at(0, 0)), 1);
        QCOMPARE(int(s.at(1, 0)), 0);
        QVERIFY_THROWS_EXCEPTION(ms::Error, v.slice(2));
    }
    void atomicWriteLeavesNothingOnFailure() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_core";
        fs::create_directories(dir);
        const fs::path target = dir / "out.txt";
        { std::ofstream(target) << "old"; }
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::writeAtomically(target, [](const fs::path& tmp) {
                                     std::ofstream(tmp) << "half";
                                     throw ms::Error("disk full");
                                 }));
        std::ifstream in(target);
        std::string content;
        in >> content;
        QCOMPARE(content, std::string("old"));
        int files = 0;
        for (auto& e : fs::directory_iterator(dir)) (void)e, ++files;
        QCOMPARE(files, 1);  // the temp file was removed
        ms::writeAtomically(target, [](const fs::path& tmp) { std::ofstream(tmp) << "new"; });
        std::ifstream in2(target);
        in2 >> content;
        QCOMPARE(content, std::string("new"));
        // Lines: each ends in a newline; into a missing folder: an error naming the file, nothing written.
        ms::writeLinesAtomically(target, {"a,b", "", "1,2"});
        std::ifstream in3(target, std::ios::binary);
        QCOMPARE(std::string(std::istreambuf_iterator<char>(in3), {}), std::string("a,b\n\n1,2\n"));
        try {
            ms::writeLinesAtomically(dir / "missing" / "t.csv", {"x"});
            QFAIL("wrote into a missing folder");
        } catch (const ms::Error& e) {
            QVERIFY2(std::string(e.what()).find("missing/t.csv") != std::string::npos, e.what());
        }
        QVERIFY(!fs::exists(dir / "missing"));
        fs::remove_all(dir);
    }
    void jsonFilesRoundTripDoublesExactly() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_json";
        fs::create_directories(dir);
        const std::vector<double> values{0.1, 1e-300, 2.0 / 3.0, -1.7976931348623157e308, 3.0, 5e-324};
        ms::Json j = ms::Json::object();
        j["values"] = values;
        j["name"] = "tab\there \"quoted\"";
        ms::writeJsonFile(j, dir / "values.json");
        const ms::Json back = ms::readJsonFile(dir / "values.json");
        const std::vector<double> read = ms::numbersAt(back, "values");
        QCOMPARE(read.size(), values.size());
        for (std::size_t i = 0; i < values.size(); ++i) QVERIFY(read[i] == values[i]);  // bit-exact, not fuzzy
        QCOMPARE(ms::stringAt(back, "name"), j["name"].get<std::string>());
        fs::remove_all(dir);
    }
    void jsonErrorsNameFileOffsetAndKey() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_json_bad";
        fs::create_directories(dir);
        const fs::path bad = dir / "bad.json";
        { std::ofstream(bad) << "{\"a\": }"; }
        try {
            ms::readJsonFile(bad);
            QFAIL("malformed JSON was accepted");
        } catch (const ms::Error& e) {
            const std::string what = e.what();
            QVERIFY2(what.find(bad.string()) != std::string::npos, what.c_str());
            QVERIFY2(what.find("at byte 7") != std::string::npos, what.c_str());
            QVERIFY2(what.find('\n') == std::string::npos, what.c_str());
        }
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::readJsonFile(dir / "missing.json"));
        const ms::Json j = ms::parseJson(R"({"epochs": 3, "name": "x"})");
        QCOMPARE(ms::numberAt(j, "epochs"), 3.0);
        QCOMPARE(ms::numberOr(j, "rate", 0.5), 0.5);
        QCOMPARE(ms::stringOr(j, "epochs", "none"), std::string("none"));  // wrong type: the fallback
        try {
            ms::numberAt(j, "rate");
            QFAIL("a missing key was accepted");
        } catch (const ms::Error& e) {
            QVERIFY2(std::string(e.what()).find("'rate'") != std::string::npos, e.what());
        }
        try {
            ms::numberAt(j, "name");
            QFAIL("a string was read as a number");
        } catch (const ms::Error& e) {
            const std::string what = e.what();
            QVERIFY2(what.find("'name'") != std::string::npos && what.find("number") != std::string::npos, e.what());
        }
        fs::remove_all(dir);
    }
    void globSortsMatches() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_glob";
        fs::create_directories(dir);
        for (auto n : {"part_2.h5", "part_1.h5", "other.h5"}) std::ofstream(dir / n) << "x";
        auto found = ms::expandGlob((dir / "part_*.h5").string());
        QCOMPARE(found.size(), std::size_t(2));
        QCOMPARE(found[0].filename().string(), std::string("part_1.h5"));
        fs::remove_all(dir);
    }
    void parallelForVisitsAllAndRethrows() {
        std::vector<std::atomic<int>> hits(1000);
        ms::parallelFor(
            hits.size(), [&](std::size_t i) { hits[i]++; }, 2);
        for (auto& h : hits) QCOMPARE(h.load(), 1);
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::parallelFor(
                                                10,
                                                [](std::size_t i) {
                                                    if (i == 5) throw ms::Error("boom");
                                                },
                                                2));
    }
    void progressCancels() {
        ms::ProgressToken token;
        double seen = -1;
        token.setListener([&](double f, const std::string&) { seen = f; });
        token.report(0.5, "half");
        QCOMPARE(seen, 0.5);
        token.cancel();
        QVERIFY_THROWS_EXCEPTION(ms::Cancelled, token.report(0.6));
    }
    void syntheticHitsFractionsAndIsDeterministic() {
        ms::SyntheticOptions o;
        o.donorFraction = 0.4;
        o.mixedFraction = 0.2;
        o.seed = 3;
        const auto v = ms::syntheticMicrostructure(ms::Dims{32, 32, 16}, o);
        QVERIFY(std::abs(v.volumeFraction(ms::Donor) - 0.4) < 0.01);
        QVERIFY(std::abs(v.volumeFraction(ms::Mixed) - 0.2) < 0.01);
        QVERIFY(v.sameLabels(ms::syntheticMicrostructure(ms::Dims{32, 32, 16}, o)));
        o.seed = 4;
        QVERIFY(!v.sameLabels(ms::syntheticMicrostructure(ms::Dims{32, 32, 16}, o)));
        QVERIFY_THROWS_EXCEPTION(ms::Error, (o.donorFraction = 0.9, ms::syntheticMicrostructure(ms::Dims{4, 4, 1}, o)));
    }
    // process.hpp: the machine's load as three numbers; this process's CPU
    // seconds grow while it computes; its peak memory grows by what it touches.
    void processFigures() {
        const QStringList load = QString::fromStdString(ms::machineLoad()).split(' ');
        QCOMPARE(load.size(), 3);
        for (const QString& value : load) {
            bool ok = false;
            QVERIFY(value.toDouble(&ok) >= 0.0 && ok);
        }
        const double cpu = ms::processCpuSeconds();
        volatile double sink = 0.0;
        for (long i = 0; ms::processCpuSeconds() < cpu + 0.05; ++i) sink = sink + std::sqrt(double(i));
        QVERIFY(ms::processCpuSeconds() >= cpu + 0.05);
        std::vector<char> block(std::size_t(256) << 20);  // 256 MB, every page touched
        for (std::size_t i = 0; i < block.size(); i += 4096) block[i] = char(i);
        QVERIFY2(ms::peakResidentMegabytes() >= 256.0, qPrintable(QString::number(ms::peakResidentMegabytes())));
    }

    // medianRunSeconds (bench startup): whole runs, process start included,
    // at least as long as the program's own sleep; a failing or missing
    // program is refused in one line naming it and why.
    void medianRunSecondsOfWholeRuns() {
        const double seconds = ms::medianRunSeconds("/bin/sleep", {"0.2"}, 3);
        QVERIFY2(seconds >= 0.2 && seconds < 5.0, qPrintable(QString::number(seconds)));
        auto refusal = [](const std::filesystem::path& program) {
            try {
                ms::medianRunSeconds(program, {}, 1);
            } catch (const ms::Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };
        QCOMPARE(refusal("/bin/false"), std::string("/bin/false: the run failed (exit status 1)"));
        QCOMPARE(refusal("/no/such/program"), std::string("/no/such/program: cannot start it"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::medianRunSeconds("/bin/true", {}, 0));
    }

    // runTogether (bench dist's ranks): the runs overlap (two 1 s sleeps end
    // well before the 2 s they would take one after the other), every one is
    // waited for, and a failing one is refused naming the program and its
    // exit status.
    void runTogetherRunsSideBySide() {
        const auto begin = std::chrono::steady_clock::now();
        ms::runTogether("/bin/sleep", {{"1"}, {"1"}});
        const double seconds = ms::secondsSince(begin);
        QVERIFY2(seconds >= 1.0 && seconds < 1.8, qPrintable(QString::number(seconds)));
        try {
            ms::runTogether("/bin/sh", {{"-c", "exit 0"}, {"-c", "exit 3"}});
            QFAIL("a failing run was not refused");
        } catch (const ms::Error& e) {
            QCOMPARE(std::string(e.what()), std::string("/bin/sh: a run failed (exit status 3)"));
        }
    }

    // Line plots (the studies' loss curves): curves, frame, and the text inked where it belongs.
    void linePlots() {
        const auto plot = ms::plotCurves({{3, 2, 1}, {1, 2, 3}}, 64, 48);
        QCOMPARE(plot.dims(), (ms::Dims{64, 48, 1}));
        QVERIFY(plot.phaseCounts()[ms::Donor] > 20);   // the curves
        QVERIFY(plot.phaseCounts()[ms::Mixed] > 100);  // the frame
        // Labelled: the title is inked in the top rows (image rows = Volume
        // y from the top), the y tick values left of the frame; the bare
        // plot has nothing there. Unknown characters still draw (as '?').
        ms::PlotText text;
        text.title = "loss ~";
        text.xLabel = "epoch";
        text.yLabel = "loss";
        text.legend = {"run a", "run b"};
        const auto labelled = ms::plotCurves({{3, 2, 1}, {1, 2, 3}}, 240, 160, false, text);
        const auto bare = ms::plotCurves({{3, 2, 1}, {1, 2, 3}}, 240, 160);
        auto inkIn = [](const ms::Volume& v, int x0, int x1, int topRow0, int topRow1) {
            int ink = 0;
            for (int row = topRow0; row < topRow1; ++row)
                for (int x = x0; x < x1; ++x) ink += v.at(x, v.dims().ny - 1 - row) == ms::Donor;
            return ink;
        };
        QVERIFY(inkIn(labelled, 0, 240, 0, 12) > 20);
        QCOMPARE(inkIn(bare, 0, 240, 0, 12), 0);
        QVERIFY(inkIn(labelled, 0, 50, 40, 150) > 20);  // tick values
        QCOMPARE(inkIn(bare, 0, 10, 0, 160), 0);
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::plotCurves({{1, 2}}, 60, 40, false, text));  // no room for labels
    }
};

QTEST_GUILESS_MAIN(TestCore)
#include "test_core.moc"
