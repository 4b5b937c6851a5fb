// Cahn-Hilliard solver: conservation, energy decay, linear stability against
// the analytic dispersion relation, late-stage coarsening exponent,
// thresholding rules, snapshot schedule and bit-identical resume.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <unistd.h>

#include "microstudio/core/error.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/physics/analysis.hpp"
#include "microstudio/physics/cahn_hilliard.hpp"
#include "microstudio/physics/flory_huggins.hpp"
#include "microstudio/physics/run.hpp"
#include "microstudio/physics/threshold.hpp"

namespace fs = std::filesystem;
using namespace ms::physics;

namespace {

constexpr double kPi = 3.14159265358979323846;

CahnHilliardParams params2D(int n, double phi, double chi, double kappa = 2.0) {
    CahnHilliardParams p;
    p.dims = ms::Dims{n, n, 1};
    p.phi = phi;
    p.chi = chi;
    p.kappa = kappa;
    return p;
}

// Least-squares slope of y against x.
double slope(const std::vector<double>& x, const std::vector<double>& y) {
    const double n = double(x.size());
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i];
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

fs::path freshDir(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("ms_test_physics_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

}  // namespace

class TestPhysics : public QObject {
    Q_OBJECT
private slots:
    void floryHugginsDerivativesMatchFiniteDifferences() {
        const FloryHuggins fh{2.7};
        for (double c : {0.03, 0.2, 0.5, 0.81, 0.97}) {
            const double h = 1e-6;
            QVERIFY(std::abs((fh.f(c + h) - fh.f(c - h)) / (2 * h) - fh.df(c)) < 1e-6);
            QVERIFY(std::abs((fh.df(c + h) - fh.df(c - h)) / (2 * h) - fh.d2f(c)) < 1e-5);
        }
        // Hand values at c = 0.5: f = ln 0.5 + chi/4, f' = 0, f'' = 4 - 2 chi.
        QVERIFY(std::abs(fh.f(0.5) - (std::log(0.5) + 2.7 / 4)) < 1e-14);
        QVERIFY(std::abs(fh.df(0.5)) < 1e-14);
        QVERIFY(std::abs(fh.d2f(0.5) - (4 - 5.4)) < 1e-12);
        QCOMPARE(spinodalChi(0.5), 2.0);
        QVERIFY(std::abs(spinodalChi(0.3) - 1.0 / (2 * 0.3 * 0.7)) < 1e-14);
        // Finite (and continuous) outside (0, 1): the regularised log.
        QVERIFY(std::isfinite(fh.df(-0.01)) && std::isfinite(fh.f(1.02)) && std::isfinite(fh.d2f(0.0)));
        QVERIFY(std::abs(fh.df(fh.eps * (1 + 1e-9)) - fh.df(fh.eps * (1 - 1e-9))) < 1e-6);
    }

    void rejectsBadParameters() {
        auto p = params2D(16, 1.2, 3.0);
        QVERIFY_THROWS_EXCEPTION(ms::Error, CahnHilliardSolver{p});
        p = params2D(16, 0.5, 3.0, -1.0);
        QVERIFY_THROWS_EXCEPTION(ms::Error, CahnHilliardSolver{p});
        // validate(): one line naming the parameter, the rule and the value.
        auto refusal = [](const CahnHilliardParams& bad) {
            try {
                validate(bad);
            } catch (const ms::Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };
        QCOMPARE(refusal(params2D(16, 1.2, 3.0)), std::string("phi must lie between 0 and 1 (exclusive), got 1.2"));
        p = params2D(16, 0.3, 3.0);
        p.noise = 0.4;  // phi - noise < 0
        QCOMPARE(refusal(p),
                 std::string("noise must be >= 0 and keep phi +- noise inside (0, 1) (below 0.3), got 0.4"));
        p.noise = 0.29;
        QCOMPARE(refusal(p), std::string("accepted"));
        p.mobility = 0;
        QCOMPARE(refusal(p), std::string("mobility must be > 0, got 0"));
    }

    void characteristicLengthOfAPureMode() {
        const ms::Dims d{64, 32, 1};
        std::vector<double> f(d.count());
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) f[std::size_t(x + d.nx * y)] = 0.5 + 0.1 * std::cos(2 * kPi * 4 * x / 64.0);
        QVERIFY(std::abs(characteristicLength(f, d) - 16.0) < 1e-9);
        // A mode along y of wavelength 8 in 3D.
        const ms::Dims d3{8, 16, 4};
        std::vector<float> g(d3.count());
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = float(std::sin(2 * kPi * 2 * double((i / 8) % 16) / 16.0));
        QVERIFY(std::abs(characteristicLength(g, d3) - 8.0) < 1e-6);
    }

    void massIsConservedOverAWholeRun() {
        for (const auto& [dims, phi] :
             std::vector<std::pair<ms::Dims, double>>{{{64, 64, 1}, 0.3}, {{24, 20, 12}, 0.55}}) {
            CahnHilliardParams p;
            p.dims = dims;
            p.phi = phi;
            p.chi = 3.5;
            RunPlan plan;
            plan.endTime = 400;
            plan.snapshots = 20;
            const RunSummary s = runCahnHilliard(p, {}, plan, nullptr);
            QVERIFY(s.complete);
            QVERIFY2(s.steps > 200, qPrintable(QString::number(s.steps)));
            QVERIFY2(s.massDrift < 1e-6, qPrintable(QString::number(s.massDrift)));
            QVERIFY(s.lengthEnd > s.lengthStart);  // it did phase-separate
        }
    }

    void freeEnergyNeverIncreasesAboveTheSpinodal() {
        // Energy rejection off: the stabilised scheme itself must be energy-stable.
        StepControl control;
        control.rejectEnergyIncrease = false;
        struct Case {
            ms::Dims dims;
            double phi, chi;
        };
        for (const Case& c :
             {Case{{64, 64, 1}, 0.5, 3.0}, Case{{64, 48, 1}, 0.35, 3.2}, Case{{20, 20, 16}, 0.5, 2.8}}) {
            CahnHilliardParams p;
            p.dims = c.dims;
            p.phi = c.phi;
            p.chi = c.chi;
            QVERIFY(c.chi > spinodalChi(c.phi));
            CahnHilliardSolver solver(p, control);
            double energy = solver.stats().energy;
            const double e0 = energy;
            long increases = 0;
            while (solver.time() < 600) {
                solver.step();
                if (solver.stats().energy > energy + 1e-12 * (1 + std::abs(energy))) ++increases;
                energy = solver.stats().energy;
            }
            QCOMPARE(increases, 0L);
            QVERIFY(energy < e0 - 0.01);  // and it decreased a lot (phase separation happened)
        }
    }

    void linearGrowthRatesMatchTheDispersionRelation() {
        // omega(k) = -M k^2 (f''(c0) + kappa k^2), measured from the growth
        // of chosen Fourier modes of a 1e-7 perturbation, above and below the spinodal.
        for (double chi : {2.5, 1.5}) {
            auto p = params2D(64, 0.5, chi);
            p.mobility = 1.3;
            StepControl control;
            control.dtInitial = control.dtMax = 0.02;
            control.rejectEnergyIncrease = false;
            CahnHilliardSolver solver(p, control);
            const std::vector<std::pair<int, int>> modes = {{1, 0}, {3, 0}, {2, 2}, {0, 5}, {4, 3}, {9, 0}};
            std::vector<double> c(p.dims.count());
            for (int y = 0; y < 64; ++y)
                for (int x = 0; x < 64; ++x) {
                    double v = p.phi;
                    for (auto [mx, my] : modes) v += 1e-7 * std::cos(2 * kPi * (mx * x + my * y) / 64.0);
                    c[std::size_t(x + 64 * y)] = v;
                }
            solver.setField(c);
            std::vector<double> start;
            for (auto [mx, my] : modes) start.push_back(std::abs(solver.mode(mx, my)));
            // Each mode is read after changing by about e^5 (or at t = 60), well above round-off.
            std::vector<double> readAt, measured(modes.size());
            for (auto [mx, my] : modes) {
                const double k = 2 * kPi * std::sqrt(double(mx * mx + my * my)) / 64.0;
                readAt.push_back(std::min(60.0, 5.0 / std::abs(linearGrowthRate(k, p.phi, chi, p.kappa, p.mobility))));
            }
            std::vector<std::size_t> order(modes.size());
            for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
            std::sort(order.begin(), order.end(), [&](auto a, auto b) { return readAt[a] < readAt[b]; });
            for (std::size_t i : order) {
                while (solver.time() < readAt[i] - 1e-9) solver.step(readAt[i] - solver.time());
                const auto [mx, my] = modes[i];
                measured[i] = std::log(std::abs(solver.mode(mx, my)) / start[i]) / solver.time();
            }
            for (std::size_t i = 0; i < modes.size(); ++i) {
                const auto [mx, my] = modes[i];
                const double k = 2 * kPi * std::sqrt(double(mx * mx + my * my)) / 64.0;
                const double expected = linearGrowthRate(k, p.phi, chi, p.kappa, p.mobility);
                QVERIFY2(std::abs(measured[i] - expected) <= 0.05 * std::abs(expected),
                         qPrintable(QString("chi %1 mode (%2,%3): measured %4 expected %5")
                                        .arg(chi)
                                        .arg(mx)
                                        .arg(my)
                                        .arg(measured[i])
                                        .arg(expected)));
                if (chi < spinodalChi(0.5)) QVERIFY(measured[i] < 0);  // every mode decays below the spinodal
                qInfo("chi %.1f k %.3f omega measured %.5f expected %.5f", chi, k, measured[i], expected);
            }
            if (chi > 2) {
                // Above the spinodal: long waves grow, short waves (kappa k^2 > -f'') decay.
                QVERIFY(linearGrowthRate(2 * kPi / 64, 0.5, chi, p.kappa, 1) > 0);
                QVERIFY(linearGrowthRate(2 * kPi * 9 / 64, 0.5, chi, p.kappa, 1) < 0);
            }
        }
    }

    void lateStageCoarseningFollowsLifshitzSlyozov() {
        // 2D critical quench; L from the structure factor's first moment,
        // log L averaged over two seeds (one 128x128 box fluctuates by about
        // +-0.02 in alpha), fitted against log t over the late stage.
        RunPlan plan;
        plan.endTime = 2500;
        plan.firstTime = 1;
        plan.snapshots = 60;
        StepControl control;
        control.maxChange = 0.0025;  // the late-stage time axis to a few percent
        std::vector<double> logT, logL;
        for (std::uint64_t seed : {1, 5}) {
            auto p = params2D(128, 0.5, 2.5, 1.0);
            p.seed = seed;
            std::size_t i = 0;
            runCahnHilliard(p, control, plan, [&](const SnapshotInfo& s, const CahnHilliardSolver&) {
                if (s.time < 150) return;
                if (seed == 1) logT.push_back(std::log(s.time)), logL.push_back(0.0);
                logL[i++] += 0.5 * std::log(s.length);
            });
        }
        QVERIFY(logT.size() > 10);
        const double alpha = slope(logT, logL);
        qInfo("coarsening exponent alpha = %.3f over t in [150, 2500]", alpha);
        QVERIFY2(alpha >= 0.25 && alpha <= 0.40, qPrintable(QString::number(alpha)));
    }

    void twoPhaseThresholdAtOneHalf() {
        const ms::Dims d{4, 1, 1};
        const ms::Volume v = thresholdTwoPhase({0.1f, 0.49f, 0.5f, 0.9f}, d, true);
        QCOMPARE(v.labels(), (std::vector<std::uint8_t>{ms::Donor, ms::Donor, ms::Acceptor, ms::Acceptor}));
        QVERIFY(v.hasField());
    }

    void threePhaseThresholdsFollowThePlateaus() {
        // Plateaus at 0.1 and 0.9 with a few interface values: low = 0.3, high = 0.7.
        std::vector<float> f;
        for (int i = 0; i < 40; ++i) f.push_back(0.1f);
        for (int i = 0; i < 40; ++i) f.push_back(0.9f);
        for (float v : {0.2f, 0.35f, 0.5f, 0.65f, 0.8f}) f.push_back(v);
        const ms::Dims d{int(f.size()), 1, 1};
        Thresholds t;
        const ms::Volume v = thresholdThreePhase(f, d, {}, false, &t);
        QVERIFY(std::abs(t.low - 0.3) < 1e-6 && std::abs(t.high - 0.7) < 1e-6);
        const auto counts = v.phaseCounts();
        QCOMPARE(counts[ms::Mixed], std::size_t(3));  // 0.35, 0.5, 0.65
        QCOMPARE(counts[ms::Donor], std::size_t(41));
        QCOMPARE(counts[ms::Acceptor], std::size_t(41));
    }

    void threePhaseMixedBandIsCapped() {
        // A diffuse field (uniform ramp): the default band would hold 50%; capped at 25%.
        std::vector<float> f;
        for (int i = 0; i < 1000; ++i) f.push_back(float(i + 0.5) / 1000.0f);
        const ms::Dims d{1000, 1, 1};
        ThreePhaseOptions options;
        const ms::Volume v = thresholdThreePhase(f, d, options);
        QVERIFY(std::abs(v.volumeFraction(ms::Mixed) - 0.25) <= 0.002);
        QVERIFY(std::abs(v.volumeFraction(ms::Donor) - v.volumeFraction(ms::Acceptor)) <= 0.002);
    }

    void snapshotSchedules() {
        RunPlan plan;
        plan.endTime = 1000;
        plan.firstTime = 0.1;
        plan.snapshots = 5;
        const auto t = snapshotTimes(plan);
        QCOMPARE(t.size(), std::size_t(5));
        QVERIFY(std::abs(t[0] - 0.1) < 1e-12 && std::abs(t[2] - 10) < 1e-9 && t[4] == 1000);
        RunPlan byStep;
        byStep.steps = 1000;
        byStep.snapshots = 400;
        const auto s = snapshotSteps(byStep);
        QCOMPARE(s.size(), std::size_t(400));
        QCOMPARE(s.front(), 1L);
        QCOMPARE(s.back(), 1000L);
        for (std::size_t i = 1; i < s.size(); ++i) QVERIFY(s[i] > s[i - 1]);
        byStep.steps = 10;
        QVERIFY_THROWS_EXCEPTION(ms::Error, snapshotSteps(byStep));
    }

    void runTakesSnapshotsAtThePlannedTimes() {
        auto p = params2D(32, 0.5, 3.0);
        RunPlan plan;
        plan.endTime = 200;
        plan.snapshots = 12;
        const auto times = snapshotTimes(plan);
        std::vector<SnapshotInfo> seen;
        const RunSummary s =
            runCahnHilliard(p, {}, plan, [&](const SnapshotInfo& i, const CahnHilliardSolver&) { seen.push_back(i); });
        QCOMPARE(seen.size(), std::size_t(12));
        for (std::size_t i = 0; i < seen.size(); ++i) {
            QCOMPARE(seen[i].index, int(i));
            QVERIFY(std::abs(seen[i].time - times[i]) < 1e-9 * times[i]);
        }
        QCOMPARE(s.snapshots, 12);
        QCOMPARE(s.energyIncreases, 0L);
        QVERIFY(s.energyEnd < s.energyStart);
    }

    void killedRunResumesBitIdentically() {
        const fs::path dir = freshDir("resume");
        auto p = params2D(48, 0.45, 3.0);
        RunPlan plan;
        plan.endTime = 300;
        plan.snapshots = 30;
        std::map<int, std::vector<double>> reference, resumed;
        const RunSummary full = runCahnHilliard(
            p, {}, plan, [&](const SnapshotInfo& i, const CahnHilliardSolver& s) { reference[i.index] = s.field(); });
        Checkpointing ck;
        ck.path = dir / "run.ckpt";
        ck.everySteps = 37;
        ck.everySeconds = 1e9;
        // "Kill" at snapshot 17: an exception that is not a cancel, so no checkpoint on the way out.
        bool threw = false;
        try {
            runCahnHilliard(
                p, {}, plan,
                [&](const SnapshotInfo& i, const CahnHilliardSolver& s) {
                    if (i.index == 17) throw std::runtime_error("killed");
                    resumed[i.index] = s.field();
                },
                ck);
        } catch (const std::runtime_error&) {
            threw = true;
        }
        QVERIFY(threw && fs::exists(ck.path));
        const RunSummary again = runCahnHilliard(
            p, {}, plan, [&](const SnapshotInfo& i, const CahnHilliardSolver& s) { resumed[i.index] = s.field(); }, ck);
        QVERIFY(again.resumed);
        QCOMPARE(resumed.size(), reference.size());
        for (const auto& [index, field] : reference)
            QVERIFY2(resumed[index] == field, qPrintable(QString::number(index)));
        QCOMPARE(again.steps, full.steps);
        QCOMPARE(again.energyEnd, full.energyEnd);
        QCOMPARE(again.massDrift, full.massDrift);

        // Cancel through the progress token also leaves a checkpoint; the rerun completes identically.
        fs::remove(ck.path);
        ms::ProgressToken token;
        ck.everySteps = 0;
        QVERIFY_THROWS_EXCEPTION(ms::Cancelled, runCahnHilliard(
                                                    p, {}, plan,
                                                    [&](const SnapshotInfo& i, const CahnHilliardSolver&) {
                                                        if (i.index == 10) token.cancel();
                                                    },
                                                    ck, &token));
        QVERIFY(fs::exists(ck.path));
        std::vector<double> last;
        runCahnHilliard(
            p, {}, plan,
            [&](const SnapshotInfo& i, const CahnHilliardSolver& s) {
                QVERIFY(i.index > 10);
                if (i.index == plan.snapshots - 1) last = s.field();
            },
            ck);
        QVERIFY(!last.empty() && last == reference[plan.snapshots - 1]);
        // A checkpoint from other parameters is refused with a reason.
        p.chi = 3.1;
        QVERIFY_THROWS_EXCEPTION(ms::Error, runCahnHilliard(p, {}, plan, nullptr, ck));
        fs::remove_all(dir);
    }

    void resultsDoNotDependOnTheThreadCount() {
        CahnHilliardParams p;
        p.dims = ms::Dims{64, 48, 24};  // large enough for the threaded paths
        p.chi = 3.0;
        CahnHilliardSolver one(p, {}, 1), two(p, {}, 2);
        for (int i = 0; i < 5; ++i) one.step(), two.step();
        QVERIFY(one.field() == two.field());
    }
};

QTEST_GUILESS_MAIN(TestPhysics)
#include "test_physics.moc"
