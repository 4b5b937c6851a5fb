// The 3D generator (MicroGen3D): parameter counts equal to the paper's
// Table 1, layer shapes of the paper configuration, the VAE learning a tiny
// dataset, the feature predictor learning a linear map, the DDPM schedule
// and q(x_t|x_0), the samplers (exact Gaussian score, DDIM(T, eta 1) ==
// ancestral with posterior variance, DPM-Solver++(2M) against the Gaussian
// target and converging to DDIM, reproducibility), classifier-free
// guidance, and the torch-free Generator3D (save, load, generate).
// torch first: Qt's keyword macros (slots, signals) must not reach it.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "ddpm3d.hpp"
#include "latent_cache.hpp"
#include "torch_common.hpp"
#include "vae3d.hpp"
#include "windows3d.hpp"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <map>
#include <numeric>

#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/feasibility.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/guidance3d.hpp"
#include "microstudio/ml/training_data.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/model_evaluation.hpp"
#include "microstudio/ml/splits.hpp"
#include "microstudio/ml/training_runs.hpp"

namespace fs = std::filesystem;
using namespace ms::ml;
using ms::Json;
namespace d3 = ms::ml::detail;

namespace {

using Shape = std::vector<long>;

// Adam on random minibatches of (x, y), then eval mode.
void fitFeaturePredictor(d3::FeaturePredictor3dImpl& fp, const torch::Tensor& x, const torch::Tensor& y, int steps,
                         long batch, double rate) {
    torch::optim::Adam adam(fp.parameters(), torch::optim::AdamOptions(rate));
    fp.train();
    for (int step = 0; step < steps; ++step) {
        auto idx = torch::randint(x.size(0), {batch}, torch::kLong);
        adam.zero_grad();
        auto loss = torch::mse_loss(fp.forward(x.index_select(0, idx)), y.index_select(0, idx));
        loss.backward();
        adam.step();
    }
    fp.eval();
}

Shape shapeOf(const d3::ShapeLog& log, const std::string& name) {
    for (const auto& [n, s] : log.entries)
        if (n == name) return s;
    return {};
}

// Two-phase volumes with a few random slabs and balls (structure the VAE can learn).
std::vector<ms::Volume> toyVolumes(int count, ms::Dims d, std::uint64_t seed, int phases = 2) {
    std::mt19937_64 rng(seed);
    std::vector<ms::Volume> out;
    for (int i = 0; i < count; ++i) {
        ms::Volume v(d);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        const double cx = u(rng) * d.nx, cy = u(rng) * d.ny, cz = u(rng) * d.nz, r = 2.5 + 3.0 * u(rng);
        const int slab = int(u(rng) * d.nx);
        for (int z = 0; z < d.nz; ++z)
            for (int y = 0; y < d.ny; ++y)
                for (int x = 0; x < d.nx; ++x) {
                    const double dist = std::sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz));
                    std::uint8_t label = dist < r ? ms::Acceptor : ms::Donor;
                    if (std::abs(x - slab) <= 1) label = phases == 3 ? ms::Mixed : ms::Acceptor;
                    v.at(x, y, z) = label;
                }
        v.attributes["ABS_f_D"] = v.volumeFraction(ms::Donor);
        out.push_back(std::move(v));
    }
    return out;
}

// Toy volumes carrying every output of the tiny 2-phase model as attributes
// (ABS_f_D measured, the rest spread deterministically), as held-out data.
std::vector<ms::Volume> heldOutVolumes(int count, std::uint64_t seed) {
    auto volumes = toyVolumes(count, ms::Dims{16, 16, 8}, seed);
    for (std::size_t i = 0; i < volumes.size(); ++i) {
        auto& a = volumes[i].attributes;
        a["CT_f_D_tort1"] = 0.7 + 0.02 * double(i);
        a["CT_f_A_tort1"] = 0.9 - 0.015 * double(i);
        a["phi"] = 0.3 + 0.01 * double(i);
        a["chi"] = 2.0 + 0.1 * double(i % 5);
        a["log_time"] = 1.0 + 0.05 * double(i);
    }
    return volumes;
}

// heldOutVolumes marked as the test split (the dataset builder's `split` text).
std::vector<ms::Volume> testSplitVolumes(int count, std::uint64_t seed) {
    auto volumes = heldOutVolumes(count, seed);
    for (auto& v : volumes) v.text["split"] = "test";
    return volumes;
}

// A toy task's training: one CPU thread, lr 0.05, the last weights kept.
TrainOptions smallCpuTraining(int epochs, int batch) {
    TrainOptions o;
    o.epochs = epochs;
    o.batchSize = batch;
    o.learningRate = 0.05;
    o.forceCpu = true;
    o.threads = 1;
    o.restoreBest = false;
    return o;
}

// microstudio-cli with arguments; exit code, or -1 on a crash.
int runCli(const QStringList& arguments, QString* output = nullptr, QString* standardOutput = nullptr,
           const QProcessEnvironment& environment = QProcessEnvironment::systemEnvironment()) {
    QProcess p;
    p.setProcessEnvironment(environment);
    p.start(MICROSTUDIO_CLI, arguments);
    p.waitForFinished(120000);
    const QByteArray out = p.readAllStandardOutput(), err = p.readAllStandardError();
    if (output) *output = QString::fromUtf8(out + err);
    if (standardOutput) *standardOutput = QString::fromUtf8(out);
    return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
}

// A model saved where the CLI can load it: DIR/tiny, and DIR/s.h5 for output.
struct CliModel {
    fs::path dir;
    QString folder, out;
};

CliModel saveForCli(const Generator3D& model, const std::string& name) {
    CliModel m{fs::temp_directory_path() / name, {}, {}};
    fs::remove_all(m.dir);
    model.save(m.dir / "tiny");
    m.folder = QString::fromStdString((m.dir / "tiny").string());
    m.out = QString::fromStdString((m.dir / "s.h5").string());
    return m;
}

QStringList csvLines(const fs::path& path) {
    QFile file(QString::fromStdString(path.string()));
    if (!file.open(QIODevice::ReadOnly)) return {};
    return QString::fromUtf8(file.readAll()).split('\n', Qt::SkipEmptyParts);
}

// generate() with `bad` options throws one line containing `needle`.
void generationRefusedInOneLine(const Generator3D& model, const GenerateOptions& bad, const char* needle) {
    try {
        (void)model.generate({{"ABS_f_D", 0.4}}, 1, bad);
    } catch (const ms::Error& e) {
        const std::string what = e.what();
        QVERIFY2(what.find('\n') == std::string::npos && what.find(needle) != std::string::npos, e.what());
        return;
    }
    QFAIL(needle);
}

// The mean |field step| between neighbouring voxel planes along x (alongX)
// or y, per plane (periodic: the last plane steps into the first), over the volumes.
std::vector<double> planeSteps(const std::vector<const ms::Volume*>& volumes, bool alongX) {
    const ms::Dims d = volumes.front()->dims();
    const int n = alongX ? d.nx : d.ny;
    std::vector<double> step(std::size_t(n), 0.0);
    for (const auto* v : volumes)
        for (int z = 0; z < d.nz; ++z)
            for (int y = 0; y < d.ny; ++y)
                for (int x = 0; x < d.nx; ++x) {
                    const int xn = alongX ? (x + 1) % d.nx : x, yn = alongX ? y : (y + 1) % d.ny;
                    const auto at = [&](int i, int j) { return v->field()[std::size_t((z * d.ny + j) * d.nx + i)]; };
                    step[std::size_t(alongX ? x : y)] += std::abs(double(at(xn, yn)) - double(at(x, y)));
                }
    for (double& s : step) s /= double(volumes.size()) * double(d.count()) / double(n);
    return step;
}

// Largest deviation, in standard deviations of the other planes, of a
// plane at or next to a border (a decoder's padding shows on the voxels
// beside a side, not only across it).
double seamDeviation(const std::vector<double>& step, const std::vector<int>& borders) {
    const int n = int(step.size());
    std::vector<double> interior, seam;
    for (int p = 0; p < n; ++p) {
        bool near = false;
        for (int b : borders) near = near || (p - b + n + 1) % n <= 2;  // p in {b - 1, b, b + 1}
        (near ? seam : interior).push_back(step[std::size_t(p)]);
    }
    const double mean = std::accumulate(interior.begin(), interior.end(), 0.0) / double(interior.size());
    double var = 0.0;
    for (double v : interior) var += (v - mean) * (v - mean);
    const double sd = std::sqrt(var / double(interior.size() - 1));
    double worst = 0.0;
    for (double v : seam) worst = std::max(worst, std::abs(v - mean) / sd);
    return worst;
}
}  // namespace

// chooseMixedBand3d's and chooseMixedOffset3d's rule: the chosen candidate's
// least determination lies within the tie of the highest, and no candidate
// within it has a higher mean determination.
bool followsTheMixedChoiceRule(const ms::ml::MixedBandChoice& choice) {
    double best = -1e300;
    for (const auto& c : choice.candidates) best = std::max(best, c.leastDetermination);
    if (choice.chosen().leastDetermination < best - ms::ml::kMixedBandTie) return false;
    for (const auto& c : choice.candidates)
        if (c.leastDetermination >= best - ms::ml::kMixedBandTie &&
            c.meanDetermination > choice.chosen().meanDetermination)
            return false;
    return true;
}

class TestMl3d : public QObject {
    Q_OBJECT
    fs::path tempRoot_;
private slots:
    // One torch thread (as the CMake ENV sets for the library's own loop):
    // with tiny networks on a shared 2-core machine, threads only contend.
    void initTestCase() {
        torch::set_num_threads(1);
        torch::manual_seed(0);
        // A temporary folder of this run (TMPDIR, inherited by the CLI runs):
        // two runs at once (a developer's beside CI) never remove each other's files.
        tempRoot_ = fs::temp_directory_path() / ("ms_test_ml3d_run_" + std::to_string(::getpid()));
        fs::create_directories(tempRoot_);
        ::setenv("TMPDIR", tempRoot_.c_str(), 1);
    }

    void cleanupTestCase() { fs::remove_all(tempRoot_); }

    // Table 1 of the paper: our layer widths reproduce its counts exactly.
    void parameterCountsMatchPaperTable1() {
        Vae3dConfig ch = Generator3dConfig::paperThreePhase().vae;  // 128x128x64, latent 4, stride 2
        QCOMPARE(d3::countParameters(*d3::Vae3d(ch)), 46916781L);
        Vae3dConfig experimental;
        experimental.dims = ms::Dims{64, 64, 64};
        experimental.latentChannels = 1;
        experimental.firstStride = 1;
        QCOMPARE(experimental.latentDims(), (ms::Dims{8, 8, 8}));
        QCOMPARE(d3::countParameters(*d3::Vae3d(experimental)), 46912836L);
        QCOMPARE(d3::countParameters(*d3::FeaturePredictor3d("mlp", 4, 1024, 7, 0.1)), 657927L);
        QCOMPARE(d3::countParameters(*d3::FeaturePredictor3d("mlp", 4, 512, 3, 0.1)), 164611L);
        // The conv head: 8*64*27+64 + 64*64*27+64 + 64*64+64 + 64*6+6, whatever the grid.
        QCOMPARE(d3::countParameters(*d3::FeaturePredictor3d("conv", 8, 2048, 6, 0.1)), 129094L);
        QCOMPARE(d3::countParameters(*d3::Unet3d(4, 512, 4)), 150871044L);
        QCOMPARE(d3::countParameters(*d3::Unet3d(1, 512, 3)), 150786561L);
    }

    // Scale-shift conditioning: the layers it adds (counted by hand), zero
    // initialised so a trained "add" U-Net computes exactly what it did, and
    // once trained a condition that reaches the output.
    void unetScaleShiftConditioning() {
        torch::manual_seed(3);
        // n_feat 8, 3 conditions: the embedding 4 -> 16 -> 16 (80 + 272), two
        // Linear(16, 2 out) per block: out 8 in init, down1, up1 x2, up2 x2
        // (6 x 2 x 272), out 16 in down2 (2 x 544).
        const long added = 80 + 272 + 6 * 2 * 272 + 2 * 544;
        QCOMPARE(d3::countParameters(*d3::Unet3d(4, 8, 3, "scale-shift")) - d3::countParameters(*d3::Unet3d(4, 8, 3)),
                 added);
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::Unet3d(4, 8, 3, "multiply"));
        d3::Unet3d unet(4, 8, 3);
        unet->eval();
        torch::NoGradGuard noGrad;
        const auto x = torch::randn({2, 4, 8, 8, 4});
        const auto t = torch::full({2}, 0.5), mask = torch::ones({2});
        const auto c1 = torch::tensor({{0.1f, 0.2f, 0.3f}, {0.1f, 0.2f, 0.3f}}), c2 = -c1;
        const auto before = unet->forward(x, t, c1, mask);
        unet->enableScaleShift();
        QVERIFY(unet->scaleShift());
        QVERIFY(torch::equal(unet->forward(x, t, c1, mask), before));
        // Trained (here: random) scale-shift layers: the condition changes the output,
        // the null context (mask 0) does not see it.
        for (auto& p : unet->named_parameters())
            if (p.key().find("film") != std::string::npos) p.value().normal_(0.0, 0.1);
        QVERIFY(!torch::allclose(unet->forward(x, t, c1, mask), unet->forward(x, t, c2, mask)));
        QVERIFY(torch::equal(unet->forward(x, t, c1, torch::zeros({2})), unet->forward(x, t, c2, torch::zeros({2}))));

        // The generator: continued with scale-shift, saved and loaded as such.
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 2);
        model.setTrainingData(heldOutVolumes(12, 21));
        GenerateOptions o;
        o.steps = 2;
        const auto plain = model.generate({{"ABS_f_D", 0.5}}, 1, o);
        Generator3dRun run;
        run.unetConditioning = "scale-shift";
        applyRunChoices(model, run);
        QCOMPARE(model.config().unetConditioning, std::string("scale-shift"));
        QVERIFY(
            model.generate({{"ABS_f_D", 0.5}}, 1, o)[0].sameLabels(plain[0]));  // zero-initialised: the same samples
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.setUnetConditioning("add"));
        QTemporaryDir dir;
        model.save(dir.path().toStdString());
        const auto loaded = Generator3D::load(dir.path().toStdString());
        QCOMPARE(loaded.config().unetConditioning, std::string("scale-shift"));
        QVERIFY(loaded.generate({{"ABS_f_D", 0.5}}, 1, o)[0].sameLabels(plain[0]));
        auto json = model.config().toJson();
        json.erase("unet_conditioning");
        QCOMPARE(Generator3dConfig::fromJson(json).unetConditioning, std::string("add"));
    }

    // Paper geometry (128x128x64 -> 4x8x8x4) with the widths divided by 8
    // (the full widths take ~10 s per pass on 2 cores; the widths are
    // checked by the counts above and by the U-Net pass below).
    void vaeLayerShapesForPaperGeometry() {
        Vae3dConfig c = Generator3dConfig::paperTwoPhase().vae;
        QCOMPARE(c.latentDims(), (ms::Dims{8, 8, 4}));
        QCOMPARE(c.latentSize(), 1024L);
        c.channels = {8, 16, 32, 64};
        d3::Vae3d vae(c);
        vae->eval();
        torch::NoGradGuard noGrad;
        d3::ShapeLog log;
        auto x = torch::rand({1, 1, 64, 128, 128});
        auto [reconstruction, mu, logvar] = vae->forward(x, &log);
        // [C, z, y, x]
        QCOMPARE(shapeOf(log, "encoder.conv1"), (Shape{8, 32, 64, 64}));
        QCOMPARE(shapeOf(log, "encoder.res1"), (Shape{8, 32, 64, 64}));
        QCOMPARE(shapeOf(log, "encoder.conv2"), (Shape{16, 16, 32, 32}));
        QCOMPARE(shapeOf(log, "encoder.conv3"), (Shape{32, 8, 16, 16}));
        QCOMPARE(shapeOf(log, "encoder.conv4"), (Shape{64, 4, 8, 8}));
        QCOMPARE(shapeOf(log, "encoder.conv5"), (Shape{4, 4, 8, 8}));
        QCOMPARE(shapeOf(log, "encoder.mu"), (Shape{4, 4, 8, 8}));
        QCOMPARE(shapeOf(log, "encoder.logvar"), (Shape{4, 4, 8, 8}));
        QCOMPARE(shapeOf(log, "decoder.conv1"), (Shape{64, 4, 8, 8}));
        QCOMPARE(shapeOf(log, "decoder.conv2"), (Shape{32, 8, 16, 16}));
        QCOMPARE(shapeOf(log, "decoder.conv3"), (Shape{16, 16, 32, 32}));
        QCOMPARE(shapeOf(log, "decoder.conv4"), (Shape{8, 32, 64, 64}));
        QCOMPARE(shapeOf(log, "decoder.output"), (Shape{1, 64, 128, 128}));
        QVERIFY(reconstruction.min().item<float>() >= 0.0f && reconstruction.max().item<float>() <= 1.0f);
        // Stride 1 first layer (the experimental models): 64^3 -> 8^3.
        Vae3dConfig e;
        e.dims = ms::Dims{64, 64, 64};
        e.firstStride = 1;
        e.latentChannels = 1;
        e.channels = {4, 8, 8, 8};
        d3::Vae3d small(e);
        d3::ShapeLog log2;
        small->eval();
        auto out = std::get<0>(small->forward(torch::rand({2, 1, 64, 64, 64}), &log2));
        QCOMPARE(shapeOf(log2, "encoder.mu"), (Shape{1, 8, 8, 8}));
        QCOMPARE(out.sizes().vec(), (std::vector<std::int64_t>{2, 1, 64, 64, 64}));
    }

    // Periodic x/y (issue 20, point 4): a circular x/y shift by a multiple of
    // the downsampling shifts the latent, and decoding a shifted latent shifts
    // the output; z (electrodes) stays zero-padded; same weights and count
    // as the zero-padded network, which is not equivariant.
    void periodicVaeWrapsInXYOnly() {
        Vae3dConfig c;
        c.dims = ms::Dims{16, 16, 8};
        c.channels = {4, 8};
        c.latentChannels = 2;
        c.firstStride = 2;  // downsampling 4: latent 4x4x2
        c.periodicXY = true;
        torch::manual_seed(3);
        d3::Vae3d vae(c);
        vae->eval();
        torch::NoGradGuard noGrad;
        const auto x = (torch::rand({2, 1, 8, 16, 16}) > 0.5).to(torch::kFloat);
        auto shift = [](const torch::Tensor& t, int dx, int dy) { return torch::roll(t, {dx, dy}, {4, 3}); };
        const auto mu = vae->encode(x).first;
        QCOMPARE(mu.sizes().vec(), (std::vector<std::int64_t>{2, 2, 2, 4, 4}));
        QVERIFY(torch::allclose(vae->encode(shift(x, 4, -8)).first, shift(mu, 1, -2), 1e-4, 1e-5));
        QVERIFY(torch::allclose(vae->decode(shift(mu, 1, -2)), shift(vae->decode(mu), 4, -8), 1e-4, 1e-5));
        QCOMPARE(vae->decode(mu).sizes().vec(), x.sizes().vec());
        const auto zShifted = vae->encode(torch::roll(x, {4}, {2})).first;
        QVERIFY(!torch::allclose(zShifted, torch::roll(mu, {1}, {2}), 1e-4, 1e-5));
        // The zero-padded network with the same weights.
        Vae3dConfig zero = c;
        zero.periodicXY = false;
        d3::Vae3d plain(zero);
        QCOMPARE(d3::countParameters(*plain), d3::countParameters(*vae));
        const auto periodicParameters = vae->named_parameters();
        for (auto& p : plain->named_parameters()) p.value().copy_(periodicParameters[p.key()]);
        const auto plainMu = plain->encode(x).first;
        QVERIFY(!torch::allclose(plain->encode(shift(x, 4, -8)).first, shift(plainMu, 1, -2), 1e-4, 1e-5));
        QVERIFY(Vae3dConfig::fromJson(c.toJson()).periodicXY);
        QVERIFY(!Vae3dConfig::fromJson(zero.toJson()).periodicXY);
    }

    // Issue 20 point 4 (gen3d-ch3): the class output - one channel per phase,
    // softmax, cross-entropy, labels by argmax.
    void vaeClassOutput() {
        Vae3dConfig c = Generator3dConfig::tiny(3).vae;
        c.output = "classes";
        torch::manual_seed(3);
        d3::Vae3d vae(c);
        vae->eval();
        const auto volumes = toyVolumes(2, c.dims, 4, 3);
        const auto x = d3::volumesToTensor(volumes, c);
        torch::Tensor p;
        {
            torch::NoGradGuard noGrad;
            p = vae->decode(vae->encode(x).first);
        }
        QCOMPARE(p.sizes().vec(), (std::vector<std::int64_t>{2, 3, 8, 16, 16}));
        QVERIFY(torch::allclose(p.sum(1), torch::ones({2, 8, 16, 16}), 1e-5, 1e-5));
        // Labels by argmax; the field is the expected level P(A) + 0.5 P(M).
        const auto out = d3::tensorToVolumes(p, c);
        const auto argmax = p.argmax(1);
        const auto level = p.select(1, 1) + 0.5 * p.select(1, 2);
        for (long k : {0L, 777L, 2047L}) {
            const long z = k / 256, y = (k / 16) % 16, xx = k % 16;
            QCOMPARE(long(out[1].labels()[std::size_t(k)]), argmax[1][z][y][xx].item<long>());
            QVERIFY(std::abs(out[1].field()[std::size_t(k)] - level[1][z][y][xx].item<float>()) < 1e-6);
        }
        // The loss: cross-entropy against D 0, A 1, M 2, hand-computed on 3 voxels.
        const auto logits = torch::tensor({2.f, 0.f, 1.f, 0.f, 1.f, 0.f, 0.f, 0.f, 3.f}).reshape({1, 3, 1, 1, 3});
        const auto levels = torch::tensor({0.f, 1.f, 0.5f}).reshape({1, 1, 1, 1, 3});
        // voxel 0 (D): logits 2, 0, 0; voxel 1 (A): 0, 1, 0; voxel 2 (M): 1, 0, 3.
        const double expected =
            (-std::log(std::exp(2.0) / (std::exp(2.0) + 2)) - std::log(std::exp(1.0) / (std::exp(1.0) + 2)) -
             std::log(std::exp(3.0) / (std::exp(1.0) + 1 + std::exp(3.0)))) /
            3.0;
        QVERIFY(std::abs(vae->classLoss(logits, levels).item<double>() - expected) < 1e-5);
        // The mixed class weighted by 1 + 2: a weighted mean (1 l_D + 1 l_A + 3 l_M) / 5.
        const double lD = -std::log(std::exp(2.0) / (std::exp(2.0) + 2)),
                     lA = -std::log(std::exp(1.0) / (std::exp(1.0) + 2)),
                     lM = -std::log(std::exp(3.0) / (std::exp(1.0) + 1 + std::exp(3.0)));
        vae->config.mixedWeight = 2.0;
        QVERIFY(std::abs(vae->classLoss(logits, levels).item<double>() - (lD + lA + 3 * lM) / 5.0) < 1e-5);
        vae->config.mixedWeight = 0.0;
        // Kept in the JSON (absent for the level output, as before); refusals.
        QCOMPARE(Vae3dConfig::fromJson(c.toJson()).output, std::string("classes"));
        QVERIFY(!Generator3dConfig::tiny(3).vae.toJson().contains("output"));
        c.minorityWeight = 1.0;
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        c.minorityWeight = 0.0;
        c.mixedWeight = 2.0;
        QCOMPARE(Vae3dConfig::fromJson(c.toJson()).mixedWeight, 2.0);
        c.output = "level";  // the mixed weight is the class output's
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        c.mixedWeight = 0.0;
        c.output = "logits";
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        // A generator with it trains its VAE stage and generates labelled volumes.
        auto config = Generator3dConfig::tiny(3);
        config.vae.output = "classes";
        auto model = Generator3D::create(config, 2);
        TrainOptions o;
        o.epochs = 3;
        o.batchSize = 2;
        o.learningRate = 2e-3;
        auto train = toyVolumes(6, config.vae.dims, 5, 3);
        const auto report = trainGenerator3dVae(model, train, {}, o);
        QVERIFY(report.history.back().trainLoss < report.history.front().trainLoss);
        const auto generated = model.generate({}, 1, 2, 1.0, 3);
        QCOMPARE(generated[0].dims(), config.vae.dims);
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseMixedBand3d(model, train, {0.25}, {0.75}));
    }

    // Minority-weighted reconstruction loss, hand-computed.
    void minorityWeightedReconstructionLoss() {
        Vae3dConfig c = Generator3dConfig::tiny().vae;
        c.minorityWeight = 3.0;
        d3::Vae3d vae(c);
        // Sample 0: one acceptor voxel of four (acceptor rarer); sample 1: one donor of four.
        const auto x = torch::tensor({1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 1.f, 1.f}).reshape({2, 1, 1, 1, 4});
        const auto r = torch::tensor({0.5f, 0.1f, 0.f, 0.f, 0.2f, 1.f, 0.7f, 1.f}).reshape({2, 1, 1, 1, 4});
        // Squared errors 0.25 (w 4), 0.01, 0, 0 | 0.04 (w 4), 0, 0.09, 0; weights sum 14.
        const double expected = (4 * 0.25 + 0.01 + 4 * 0.04 + 0.09) / 14.0;
        QVERIFY(std::abs(vae->reconstructionLoss(r, x).item<double>() - expected) < 1e-6);
        vae->config.minorityWeight = 0.0;  // plain MSE
        QVERIFY(std::abs(vae->reconstructionLoss(r, x).item<double>() - (0.25 + 0.01 + 0.04 + 0.09) / 8.0) < 1e-6);
        c.minorityWeight = -1;
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        c.minorityWeight = 3.0;
        QCOMPARE(Vae3dConfig::fromJson(c.toJson()).minorityWeight, 3.0);
    }

    // The full paper U-Net (n_feat 512) on the paper latent, batch 2.
    void unetLayerShapesPaperSize() {
        d3::Unet3d unet(4, 512, 4);
        unet->eval();
        torch::NoGradGuard noGrad;
        d3::ShapeLog log;
        auto x = torch::randn({2, 4, 4, 8, 8});
        auto out = unet->forward(x, torch::tensor({0.1f, 0.9f}), torch::randn({2, 4}), torch::ones({2}), &log);
        QCOMPARE(shapeOf(log, "unet.init"), (Shape{512, 4, 8, 8}));
        QCOMPARE(shapeOf(log, "unet.down1"), (Shape{512, 2, 4, 4}));
        QCOMPARE(shapeOf(log, "unet.down2"), (Shape{1024, 1, 2, 2}));
        QCOMPARE(shapeOf(log, "unet.up0"), (Shape{1024, 1, 2, 2}));
        QCOMPARE(shapeOf(log, "unet.up1"), (Shape{512, 2, 4, 4}));
        QCOMPARE(shapeOf(log, "unet.up2"), (Shape{512, 4, 8, 8}));
        QCOMPARE(out.sizes().vec(), x.sizes().vec());
        QVERIFY(torch::isfinite(out).all().item<bool>());
    }

    void configValidation() {
        Generator3dConfig c = Generator3dConfig::tiny();
        c.vae.dims = ms::Dims{16, 16, 6};  // not a multiple of the downsampling... and latent too thin
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        c = Generator3dConfig::tiny();
        c.conditions.push_back("nonsense");
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        c = Generator3dConfig::tiny();
        c.vae.firstStride = 3;
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        // JSON round trip.
        c = Generator3dConfig::paperThreePhase();
        const auto back = Generator3dConfig::fromJson(ms::parseJson(ms::jsonText(c.toJson())));
        QVERIFY(back.toJson() == c.toJson());
        QCOMPARE(int(back.outputs.size()), 7);
        // The DDPM's training context: "features" (the paper, and models saved
        // before the key existed) or "data"; anything else is refused.
        QCOMPARE(back.diffusionContext, std::string("features"));
        Json old = c.toJson();
        Json trimmed = Json::object();
        for (const auto& key : {"vae", "outputs", "conditions", "unet_features"}) trimmed[key] = ms::memberAt(old, key);
        QCOMPARE(Generator3dConfig::fromJson(trimmed).diffusionContext, std::string("features"));
        c.diffusionContext = "data";
        QCOMPARE(Generator3dConfig::fromJson(ms::parseJson(ms::jsonText(c.toJson()))).diffusionContext,
                 std::string("data"));
        c.vaeAugment = true;
        QVERIFY(Generator3dConfig::fromJson(ms::parseJson(ms::jsonText(c.toJson()))).vaeAugment);
        QVERIFY(!Generator3dConfig::fromJson(trimmed).vaeAugment);
        c.diffusionContext = "labels";
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        // DDPM training on x/y symmetries: 1 (none) for older models, 1-8,
        // more than 4 (the x <-> y swaps) only for a square cross-section.
        c = Generator3dConfig::tiny();
        QCOMPARE(Generator3dConfig::fromJson(trimmed).diffusionAugment, 1);
        c.diffusionAugment = 8;
        QCOMPARE(Generator3dConfig::fromJson(ms::parseJson(ms::jsonText(c.toJson()))).diffusionAugment, 8);
        for (int bad : {0, 9}) {
            c.diffusionAugment = bad;
            QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
        }
        c.vae.dims = ms::Dims{32, 16, 8};
        c.diffusionAugment = 4;
        c.validate();
        c.diffusionAugment = 5;
        QVERIFY_THROWS_EXCEPTION(ms::Error, c.validate());
    }

    // The shared loop's weight average (TrainOptions::emaDecay): equal to the
    // average of the per-step weights computed by hand, used for validation,
    // kept at the end, and resumed from a checkpoint bit for bit.
    void trainingKeepsExponentialMovingAverage() {
        struct LinearTask : d3::TrainTask {
            torch::nn::Linear net{torch::nn::LinearOptions(3, 1)};
            torch::Tensor x = torch::linspace(-1, 1, 24).reshape({8, 3}), y = x.sum(1, true) * 0.5 + 0.25;
            torch::nn::Module& module() override { return *net; }
            std::size_t trainCount() const override { return 8; }
            bool hasValidation() const override { return true; }
            torch::Tensor batchLoss(const d3::Batch& b, const torch::Device&) override {
                std::vector<std::int64_t> i(b.global.begin(), b.global.end());
                auto index = torch::tensor(i, torch::kLong);
                return torch::mse_loss(net->forward(x.index_select(0, index)), y.index_select(0, index));
            }
            double validationLoss(const torch::Device&) override {
                return torch::mse_loss(net->forward(x), y).item<double>();
            }
        };
        auto weightsOf = [](torch::nn::Module& m) {
            std::vector<torch::Tensor> w;
            for (const auto& p : m.parameters()) w.push_back(p.detach().clone());
            return w;
        };
        TrainOptions o = smallCpuTraining(3, 2);
        const double decay = 0.7;

        // Plain run: the weights after every step, and the hand-made average.
        torch::manual_seed(5);
        LinearTask plain;
        const auto initial = weightsOf(*plain.net);
        std::vector<std::vector<torch::Tensor>> steps;
        o.onProgress = [&](const TrainProgress&) { steps.push_back(weightsOf(*plain.net)); };
        d3::runTraining(plain, o);
        QCOMPARE(int(steps.size()), 12);
        auto average = initial;
        std::vector<std::vector<torch::Tensor>> averageAtEpochEnd;
        for (std::size_t s = 0; s < steps.size(); ++s) {
            const double d = std::min(decay, (1.0 + double(s)) / (10.0 + double(s)));
            for (std::size_t k = 0; k < average.size(); ++k) average[k] = average[k] * d + steps[s][k] * (1.0 - d);
            if ((s + 1) % 4 == 0) averageAtEpochEnd.push_back(average);
        }
        QVERIFY(!torch::allclose(average[0], steps.back()[0]));  // the average lags the weights

        // With the average: the same trajectory, the average kept at the end.
        torch::manual_seed(5);
        LinearTask averaged;
        o.emaDecay = decay;
        o.onProgress = nullptr;
        const auto report = d3::runTraining(averaged, o);
        const auto kept = weightsOf(*averaged.net);
        for (std::size_t k = 0; k < kept.size(); ++k) QVERIFY(torch::allclose(kept[k], average[k], 1e-5, 1e-6));
        // Each epoch's validation loss is the average's of that moment.
        for (int e = 0; e < 3; ++e) {
            torch::NoGradGuard noGrad;
            auto params = averaged.net->parameters();
            for (std::size_t k = 0; k < params.size(); ++k) params[k].copy_(averageAtEpochEnd[std::size_t(e)][k]);
            QVERIFY(std::abs(report.history[std::size_t(e)].validationLoss - averaged.validationLoss(torch::kCPU)) <
                    1e-6);
        }

        // Stopped after 5 steps, resumed in a fresh task: the same average.
        const fs::path checkpoint = fs::temp_directory_path() / "ms_test_ml3d_ema.ckpt";
        fs::remove(checkpoint);
        o.checkpoint = checkpoint;
        o.stopAfterSteps = 5;
        torch::manual_seed(5);
        LinearTask first;
        QVERIFY(d3::runTraining(first, o).stoppedAtLimit);
        o.stopAfterSteps = 0;
        torch::manual_seed(99);
        LinearTask resumed;
        QVERIFY(d3::runTraining(resumed, o).resumed);
        const auto again = weightsOf(*resumed.net);
        for (std::size_t k = 0; k < again.size(); ++k) QVERIFY(torch::equal(again[k], kept[k]));
        fs::remove(checkpoint);
        o.emaDecay = 1.0;
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::runTraining(resumed, o));
    }

    // TrainOptions::bf16: the step's forward pass runs in bfloat16 (the
    // convolution's output is bf16), the weights stay float32, and it learns
    // as float32 does; every stage of a 3D generator trains under it (the
    // U-Net's group norms included); recorded in the options. A CPU without
    // native bfloat16 refuses it in one line instead.
    void trainingInBf16MixedPrecision() {
        struct ConvTask : d3::TrainTask {
            torch::nn::Conv3d conv{torch::nn::Conv3dOptions(1, 2, 3).padding(1)};
            torch::Tensor x = torch::linspace(-1, 1, 8 * 4 * 4 * 4).reshape({8, 1, 4, 4, 4}),
                          y = torch::stack({x.mean({1, 2, 3, 4}), -x.mean({1, 2, 3, 4})}, 1);
            std::vector<torch::ScalarType> seen;
            torch::nn::Module& module() override { return *conv; }
            std::size_t trainCount() const override { return 8; }
            bool hasValidation() const override { return true; }
            torch::Tensor batchLoss(const d3::Batch& b, const torch::Device&) override {
                std::vector<std::int64_t> i(b.global.begin(), b.global.end());
                const auto h = conv->forward(x.index_select(0, torch::tensor(i, torch::kLong)));
                seen.push_back(h.scalar_type());
                return torch::mse_loss(h.mean({2, 3, 4}), y.index_select(0, torch::tensor(i, torch::kLong)));
            }
            double validationLoss(const torch::Device&) override {
                return torch::mse_loss(conv->forward(x).mean({2, 3, 4}), y).item<double>();
            }
        };
        TrainOptions o = smallCpuTraining(15, 4);
        o.bf16 = true;
        QCOMPARE(o.toJson().value("precision", ""), std::string("bf16 autocast"));
        if (!cpuHasNativeBf16()) {
            ConvTask task;
            QVERIFY_THROWS_EXCEPTION(ms::Error, d3::runTraining(task, o));
            return;
        }
        torch::manual_seed(3);
        ConvTask full;
        const double before = full.validationLoss(torch::kCPU);
        o.bf16 = false;
        const auto f = d3::runTraining(full, o);
        torch::manual_seed(3);
        ConvTask mixed;
        o.bf16 = true;
        const auto m = d3::runTraining(mixed, o);
        QVERIFY(std::all_of(full.seen.begin(), full.seen.end(), [](auto t) { return t == torch::kFloat; }));
        QVERIFY(std::all_of(mixed.seen.begin(), mixed.seen.end(), [](auto t) { return t == torch::kBFloat16; }));
        QCOMPARE(mixed.conv->weight.scalar_type(), torch::kFloat);
        const double fullLoss = f.history.back().validationLoss, mixedLoss = m.history.back().validationLoss;
        QVERIFY2(fullLoss < 0.05 * before && mixedLoss < 0.05 * before,
                 qPrintable(QString("start %1, float32 %2, bf16 %3").arg(before).arg(fullLoss).arg(mixedLoss)));

        // Every stage of a (tiny) 3D generator.
        auto data = heldOutVolumes(8, 4);
        Generator3D model = Generator3D::create(Generator3dConfig::tiny(2), 0);
        o.epochs = 1;
        o.batchSize = 4;
        o.learningRate = 1e-3;
        for (const auto& stage : {"vae", "features", "diffusion"}) {
            const auto report = std::string(stage) == "vae"        ? trainGenerator3dVae(model, data, {}, o)
                                : std::string(stage) == "features" ? trainGenerator3dFeatures(model, data, {}, o)
                                                                   : trainGenerator3dDiffusion(model, data, {}, o);
            QVERIFY2(report.steps == 2 && std::isfinite(report.history.back().trainLoss), stage);
        }
    }

    // The 8 x/y symmetries the DDPM can train on (bit 0 mirrors x, bit 1
    // mirrors y, bit 2 swaps x and y first), element by element.
    void xySymmetryVariants() {
        const auto x = torch::arange(2 * 1 * 3 * 4 * 4, torch::kFloat).reshape({2, 1, 3, 4, 4});
        const long n = 4;
        std::vector<torch::Tensor> variants;
        for (int variant = 0; variant < 8; ++variant) {
            const auto v = d3::xySymmetry(x, variant);
            QCOMPARE(v.sizes(), x.sizes());
            auto a = v.accessor<float, 5>();
            auto b = x.accessor<float, 5>();
            for (long z = 0; z < 3; ++z)
                for (long yy = 0; yy < n; ++yy)
                    for (long xx = 0; xx < n; ++xx) {
                        // The mirrors act on the swapped volume.
                        const long fx = variant & 1 ? n - 1 - xx : xx, fy = variant & 2 ? n - 1 - yy : yy;
                        const long sx = variant & 4 ? fy : fx, sy = variant & 4 ? fx : fy;
                        QCOMPARE(a[1][0][z][yy][xx], b[1][0][z][sy][sx]);
                    }
            for (const auto& earlier : variants) QVERIFY(!torch::equal(earlier, v));
            variants.push_back(v);
        }
        QVERIFY(torch::equal(d3::xySymmetry(d3::xySymmetry(x, 3), 3), x));
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::xySymmetry(x, 8));
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::xySymmetry(torch::zeros({1, 1, 2, 4, 6}), 4));
        QCOMPARE(d3::xySymmetry(torch::zeros({1, 1, 2, 4, 6}), 3).sizes(), (std::vector<std::int64_t>{1, 1, 2, 4, 6}));
    }

    // Three-phase encoding: D 0, M 0.5, A 1 and back.
    void labelEncodingRoundTrip() {
        Vae3dConfig c;
        c.dims = ms::Dims{4, 2, 2};
        c.channels = {2};
        c.firstStride = 1;
        c.phases = 3;
        ms::Volume v(c.dims);
        for (std::size_t i = 0; i < v.size(); ++i) v.labels()[i] = std::uint8_t(i % 3);
        auto t = d3::volumesToTensor({v}, c);
        QCOMPARE(t[0][0][0][0][1].item<float>(), 1.0f);  // A
        QCOMPARE(t[0][0][0][0][2].item<float>(), 0.5f);  // M
        auto back = d3::tensorToVolumes(t, c);
        QVERIFY(back[0].sameLabels(v));
        QVERIFY(back[0].hasField());
        c.phases = 2;
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::volumesToTensor({v}, c));  // M in a 2-phase model
    }

    // Hand-computed: weight W = 2 puts an even voxel at 3/4 towards the
    // rarer phase; the threshold follows the rarer phase, 1/2 when unclear.
    void minorityWeightedThreshold() {
        const std::vector<float> acceptorRare{0.8f, 0.7f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
        const std::vector<float> donorRare{0.2f, 0.3f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f};
        const std::vector<float> even{0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.7f, 0.7f, 0.7f, 0.7f, 0.7f};
        QCOMPARE(d3::twoPhaseThreshold(acceptorRare, 0.0), 0.5f);
        QCOMPARE(d3::twoPhaseThreshold(acceptorRare, 2.0), 0.75f);
        QCOMPARE(d3::twoPhaseThreshold(donorRare, 2.0), 0.25f);
        QCOMPARE(d3::twoPhaseThreshold(even, 2.0), 0.5f);
        QCOMPARE(d3::twoPhaseThreshold(acceptorRare, 1.0), 2.0f / 3.0f);
        Vae3dConfig c;
        c.dims = ms::Dims{10, 1, 1};
        c.channels = {2};
        c.firstStride = 1;
        c.minorityWeight = 2.0;
        const auto t = torch::tensor(acceptorRare).view({1, 1, 1, 1, 10});
        const auto labels = d3::tensorToVolumes(t, c)[0].labels();
        QCOMPARE(int(labels[0]), int(ms::Acceptor));  // 0.8 >= 0.75
        QCOMPARE(int(labels[1]), int(ms::Donor));     // 0.7: Acceptor at 1/2, Donor here
        c.minorityWeight = 0.0;
        QCOMPARE(int(d3::tensorToVolumes(t, c)[0].labels()[1]), int(ms::Acceptor));
    }

    // 200 steps: the reconstruction beats the best constant by far.
    void vaeLearnsTinyDataset() {
        Generator3dConfig c = Generator3dConfig::tiny();
        auto model = Generator3D::create(c, 1);  // channels {4, 8}, latent 2x8x8x4
        auto data = toyVolumes(8, c.vae.dims, 7);
        TrainOptions o;
        o.epochs = 100;
        o.batchSize = 4;
        o.learningRate = 3e-3;
        o.seed = 3;
        o.forceCpu = true;
        const auto report = trainGenerator3dVae(model, data, {}, o);
        QCOMPARE(report.steps, 200L);
        double mse = 0.0, constant = 0.0, mean = 0.0, errors = 0.0, voxels = 0.0;
        for (const auto& v : data)
            for (auto l : v.labels()) mean += l, voxels += 1;
        mean /= voxels;
        const auto recon = model.reconstruct(data);
        for (std::size_t i = 0; i < data.size(); ++i)
            for (std::size_t k = 0; k < data[i].size(); ++k) {
                const double target = data[i].labels()[k];
                mse += std::pow(recon[i].field()[k] - target, 2);
                constant += std::pow(mean - target, 2);
                errors += recon[i].labels()[k] != data[i].labels()[k];
            }
        qInfo("VAE reconstruction MSE %.4f vs constant %.4f, label errors %.4f", mse / voxels, constant / voxels,
              errors / voxels);
        QVERIFY(mse < 0.1 * constant);
        QVERIFY(errors / voxels < 0.02);
        QVERIFY(model.metadata().training.contains("vae"));
    }

    // A linear map from the latent to three features.
    void featurePredictorLearnsLinearMap() {
        torch::manual_seed(5);
        const long n = 2048, inputs = 64;
        auto w = torch::randn({inputs, 3}) / std::sqrt(double(inputs));
        // Latent-like inputs of fixed norm: the hidden instance norms drop
        // each sample's overall scale, which a linear map would need.
        auto sphere = [&](long rows) {
            auto v = torch::randn({rows, inputs});
            return v / v.norm(2, 1, true) * std::sqrt(double(inputs));
        };
        auto x = sphere(n);
        auto y = torch::matmul(x, w);
        auto tx = sphere(64);
        auto ty = torch::matmul(tx, w);
        d3::FeaturePredictor3d fp("mlp", 1, inputs, 3, 0.1);
        fitFeaturePredictor(*fp, x, y, 1500, 64, 3e-3);
        torch::NoGradGuard noGrad;
        const double mse = torch::mse_loss(fp->forward(tx), ty).item<double>();
        const double trainMse = torch::mse_loss(fp->forward(x), y).item<double>();
        const double variance = ty.var().item<double>();
        qInfo("feature predictor MSE held-out %.4f, training %.4f, target variance %.4f", mse, trainMse, variance);
        QVERIFY(mse < 0.1 * variance);
    }

    // The conv head answers the same for a latent shifted periodically in
    // x/y (not in z, which is zero-padded), learns grid averages of a
    // nonlinear function of the latent, and reads any grid size.
    void convFeaturePredictorIgnoresWhereStructureSits() {
        torch::manual_seed(11);
        d3::FeaturePredictor3d fp("conv", 2, 0, 2, 0.0);
        fp->eval();
        torch::NoGradGuard noGrad;
        const auto x = torch::randn({3, 2, 4, 8, 8});
        const auto shifted = torch::roll(x, {3, 5}, {3, 4});
        QVERIFY(torch::allclose(fp->forward(x), fp->forward(shifted), 1e-5, 1e-5));
        QVERIFY(!torch::allclose(fp->forward(x), fp->forward(torch::roll(x, {1}, {2})), 1e-5, 1e-5));
        QCOMPARE(fp->forward(torch::randn({2, 2, 4, 16, 24})).sizes().vec(), (Shape{2, 2}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::FeaturePredictor3d("cnn", 2, 64, 2, 0.0));
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::FeaturePredictor3d("conv", 2, 64, 2, 0.0, 1));
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::FeaturePredictor3d("conv-fractions", 2, 64, 2, 0.0));
        // conv-fractions: one more input per sample beside the grid average, required.
        d3::FeaturePredictor3d withFractions("conv-fractions", 2, 0, 2, 0.0, 1);
        withFractions->eval();
        QCOMPARE(d3::countParameters(*withFractions) - d3::countParameters(*fp), 64L);  // fc1's extra column
        const auto f1 = torch::full({3, 1}, 0.3), f2 = torch::full({3, 1}, 0.7);
        QVERIFY(!torch::allclose(withFractions->forward(x, f1), withFractions->forward(x, f2)));
        QVERIFY(torch::allclose(withFractions->forward(x, f1), withFractions->forward(shifted, f1), 1e-5, 1e-5));
        // The extras are standardised with the training set's mean and (unbiased) deviation.
        withFractions->setExtraScale(torch::tensor({0.3f, 0.7f}).view({2, 1}));
        QCOMPARE(withFractions->extraMean.item<float>(), 0.5f);
        QVERIFY(std::abs(withFractions->extraStd.item<float>() - float(std::sqrt(0.08))) < 1e-6f);
        QVERIFY(torch::allclose(withFractions->forward(x, torch::full({3, 1}, 0.5)), withFractions->forward(x, f1),
                                1e-6, 1e-6) == false);
        QVERIFY_THROWS_EXCEPTION(ms::Error, withFractions->forward(x));
        QVERIFY_THROWS_EXCEPTION(ms::Error, withFractions->forward(x, torch::zeros({2, 1})));
    }

    void convFeaturePredictorLearnsGridAverages() {
        torch::manual_seed(12);
        // Targets: the grid mean of channel 0 (a volume fraction) and of relu(channel 1).
        auto make = [](long n) {
            auto x = torch::randn({n, 2, 4, 8, 8}) + torch::randn({n, 2, 1, 1, 1});
            auto y = torch::stack({x.select(1, 0).mean({1, 2, 3}), torch::relu(x.select(1, 1)).mean({1, 2, 3})}, 1);
            return std::make_pair(x, y);
        };
        auto [x, y] = make(1024);
        auto [tx, ty] = make(128);
        d3::FeaturePredictor3d fp("conv", 2, 0, 2, 0.0);
        fitFeaturePredictor(*fp, x, y, 400, 32, 2e-3);
        torch::NoGradGuard noGrad;
        const double mse = torch::mse_loss(fp->forward(tx), ty).item<double>();
        const double variance = ty.var(0).mean().item<double>();
        qInfo("conv feature predictor MSE held-out %.5f, target variance %.5f", mse, variance);
        QVERIFY(mse < 0.05 * variance);
    }

    // A trained model's predictor swapped for a conv head: the config, the
    // stage record and the weights file all follow; older JSON reads as mlp.
    void featureHeadSwapAndReload() {
        const fs::path dir = tempRoot_ / "fp_head";
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 3);
        model.metadata().training["features"] = Json::object();
        model.metadata().training["vae"] = Json::object();
        model.resetFeaturePredictor("conv", 4);
        QCOMPARE(model.config().featureHead, std::string("conv"));
        QVERIFY(!model.metadata().training.contains("features") && model.metadata().training.contains("vae"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.resetFeaturePredictor("linear"));
        QCOMPARE(model.config().featureHead, std::string("conv"));
        model.setFeatureAugment(4);
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.setFeatureAugment(9));
        model.save(dir);
        const auto loaded = Generator3D::load(dir);
        QCOMPARE(loaded.config().featureHead, std::string("conv"));
        QCOMPARE(loaded.config().featureAugment, 4);
        std::vector<ms::Volume> volumes(2, ms::Volume(Generator3dConfig::tiny(2).vae.dims));
        for (std::size_t i = 0; i < volumes[1].labels().size(); i += 3) volumes[1].labels()[i] = 1;
        const auto a = model.predictFeatures(volumes), b = loaded.predictFeatures(volumes);
        for (std::size_t i = 0; i < 2; ++i) QCOMPARE(a[i].at("phi"), b[i].at("phi"));
        // conv-fractions reads each volume's Donor fraction: a generated
        // sample carries predictions, and the predictor sees the fraction.
        model.resetFeaturePredictor("conv-fractions", 5);
        model.save(dir);
        const auto reloaded = Generator3D::load(dir);
        QCOMPARE(reloaded.config().featureHead, std::string("conv-fractions"));
        const auto c = model.predictFeatures(volumes), d = reloaded.predictFeatures(volumes);
        for (std::size_t i = 0; i < 2; ++i) QCOMPARE(c[i].at("phi"), d[i].at("phi"));
        const auto generated = model.generate({{"ABS_f_D", 0.4}}, 2, 0, 1.0, 3);
        QVERIFY(generated[0].attributes.count("predicted_phi"));
        auto three = Generator3D::create(Generator3dConfig::tiny(3), 6);
        three.resetFeaturePredictor("conv-fractions", 6);
        QCOMPARE(three.generate({}, 1, 0, 1.0, 3)[0].attributes.count("predicted_phi"), std::size_t(1));
        Json old = Generator3dConfig::tiny(2).toJson();
        old.erase("feature_head");
        old.erase("feature_augment");
        QCOMPARE(Generator3dConfig::fromJson(old).featureHead, std::string("mlp"));
    }

    // Issue 20 point 4 (gen3d-ch3): the 3-phase decoder's mixed band, chosen
    // on validation round trips by the highest least R^2.
    void mixedBandIsChosenOnValidationAndKept() {
        Vae3dConfig vae = Generator3dConfig::tiny(3).vae;
        QCOMPARE(vae.threePhaseLabel(0.2499f), ms::Donor);
        QCOMPARE(vae.threePhaseLabel(0.25f), ms::Mixed);
        QCOMPARE(vae.threePhaseLabel(0.7499f), ms::Mixed);
        QCOMPARE(vae.threePhaseLabel(0.75f), ms::Acceptor);
        vae.mixedLow = 0.1;
        vae.mixedHigh = 0.9;
        QCOMPARE(vae.threePhaseLabel(0.2f), ms::Mixed);
        QCOMPARE(Vae3dConfig::fromJson(vae.toJson()).mixedHigh, 0.9);
        QVERIFY(!Generator3dConfig::tiny(2).vae.toJson().contains("mixed_band"));  // 2-phase JSON as before
        vae.mixedLow = 0.95;                                                       // above high
        QVERIFY_THROWS_EXCEPTION(ms::Error, vae.validate());

        auto model = Generator3D::create(Generator3dConfig::tiny(3), 8);
        auto validation = toyVolumes(6, ms::Dims{16, 16, 8}, 21, 3);
        for (auto& v : validation) v.text["split"] = "val";
        const std::vector<double> lows{0.15, 0.25, 0.35}, highs{0.65, 0.75, 0.85};
        const auto choice = chooseMixedBand3d(model, validation, lows, highs);
        QCOMPARE(choice.candidates.size(), std::size_t(9));
        QCOMPARE(choice.volumes, std::size_t(6));
        // The rule: the chosen band's least determination is within the tie of
        // the highest, and no band within it has a higher mean.
        QVERIFY(followsTheMixedChoiceRule(choice));
        // A wider band never holds fewer mixed voxels (same decoded fields).
        for (const auto& a : choice.candidates)
            for (const auto& b : choice.candidates)
                if (a.low <= b.low && a.high >= b.high) QVERIFY(a.mixedFraction >= b.mixedFraction - 1e-12);
        double target = 0.0;
        for (const auto& v : validation) target += v.volumeFraction(ms::Mixed) / 6.0;
        QCOMPARE(choice.targetMixedFraction, target);
        // Kept: the round trip is the decoded field labelled with the chosen band.
        recordMixedBandChoice(model, choice);
        QVERIFY(model.metadata().training["choices"]["mixed_band"].get<std::string>().find("validation volumes") !=
                std::string::npos);
        QTemporaryDir dir;
        model.save(dir.path().toStdString());
        const auto reloaded = Generator3D::load(dir.path().toStdString());
        QCOMPARE(reloaded.config().vae.mixedLow, choice.low);
        QCOMPARE(reloaded.config().vae.mixedHigh, choice.high);
        const auto rebuilt = reloaded.reconstruct({validation[0]});
        for (std::size_t k = 0; k < rebuilt[0].labels().size(); ++k)
            QCOMPARE(rebuilt[0].labels()[k],
                     std::uint8_t(reloaded.config().vae.threePhaseLabel(rebuilt[0].field()[k])));
        // Refusals: a 2-phase model, another split, a band out of order.
        QVERIFY_THROWS_EXCEPTION(
            ms::Error, chooseMixedBand3d(Generator3D::create(Generator3dConfig::tiny(2), 1), validation, lows, highs));
        auto test = validation;
        for (auto& v : test) v.text["split"] = "test";
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseMixedBand3d(model, test, lows, highs));
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseMixedBand3d(model, validation, {0.7}, {0.6}));
    }

    // The class output's analogue of the band: the mixed class's log offset,
    // chosen on validation by the same rule, kept in the model, and what the
    // decoder applies (a voxel is Mixed exactly where margin + offset > 0).
    void mixedOffsetIsChosenOnValidationAndKept() {
        Generator3dConfig config = Generator3dConfig::tiny(3);
        config.vae.output = "classes";
        QCOMPARE(config.vae.toJson().at("mixed_offset").get<double>(), 0.0);
        config.vae.mixedOffset = 1.5;
        QCOMPARE(Vae3dConfig::fromJson(config.vae.toJson()).mixedOffset, 1.5);
        config.vae.mixedOffset = 25.0;
        QVERIFY_THROWS_EXCEPTION(ms::Error, config.vae.validate());
        Vae3dConfig level = Generator3dConfig::tiny(3).vae;
        QVERIFY(!level.toJson().contains("mixed_offset"));
        level.mixedOffset = 1.0;  // a level decoder has a band, not an offset
        QVERIFY_THROWS_EXCEPTION(ms::Error, level.validate());
        config.vae.mixedOffset = 0.0;

        auto model = Generator3D::create(config, 8);
        auto validation = toyVolumes(6, ms::Dims{16, 16, 8}, 21, 3);
        for (auto& v : validation) v.text["split"] = "val";
        const std::vector<double> offsets{-2.0, -1.0, 0.0, 1.0, 2.0};
        const auto choice = chooseMixedOffset3d(model, validation, offsets);
        QVERIFY(choice.classes);
        QCOMPARE(choice.candidates.size(), offsets.size());
        QVERIFY(followsTheMixedChoiceRule(choice));
        for (std::size_t k = 1; k < choice.candidates.size(); ++k)  // a larger offset: never fewer M voxels
            QVERIFY(choice.candidates[k].mixedFraction >= choice.candidates[k - 1].mixedFraction);
        QVERIFY(choice.candidates.back().mixedFraction > choice.candidates.front().mixedFraction + 0.05);
        // Each candidate's labels are the decoder's at that offset.
        const auto margins = model.reconstructMixedMargins(validation);
        for (const double offset : {-1.0, 1.0}) {
            model.setMixedOffset(offset);
            const auto decoded = model.reconstruct(validation);
            double mixed = 0.0;
            for (std::size_t i = 0; i < decoded.size(); ++i) {
                mixed += decoded[i].volumeFraction(ms::Mixed) / double(decoded.size());
                for (std::size_t k = 0; k < decoded[i].labels().size(); ++k) {
                    const bool isMixed = margins[i].field()[k] + float(offset) > 0.0f;
                    QCOMPARE(decoded[i].labels()[k], isMixed ? std::uint8_t(ms::Mixed) : margins[i].labels()[k]);
                }
            }
            const auto& c = choice.candidates[std::size_t(offset + 2.0)];
            QCOMPARE(c.offset, offset);
            QVERIFY(std::abs(c.mixedFraction - mixed) < 1e-12);
        }
        // The printed table: a header, then a row per offset ("-1.00 ...").
        const QStringList rows = QString::fromStdString(choice.table()).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(rows.size(), int(offsets.size()) + 1);
        QVERIFY(rows[0].startsWith("offset       least det mean det  least R^2 M frac"));
        const auto& minusOne = choice.candidates[1];
        QVERIFY2(rows[2].startsWith(QString::asprintf("%-12s %-9.3f %-9.3f %-9.3f %-7.4f", "-1.00",
                                                      minusOne.leastDetermination, minusOne.meanDetermination,
                                                      minusOne.leastR2, minusOne.mixedFraction)),
                 qPrintable(rows[2]));
        // Kept: recorded with its reason, saved and loaded.
        recordMixedBandChoice(model, choice);
        QCOMPARE(model.config().vae.mixedOffset, choice.offset);
        QVERIFY(model.metadata().training["choices"]["mixed_offset"].get<std::string>().find("mixed offset") == 0);
        QTemporaryDir dir;
        model.save(dir.path().toStdString());
        QCOMPARE(Generator3D::load(dir.path().toStdString()).config().vae.mixedOffset, choice.offset);
        // Refusals: a level model (its band), a band for a class model, another split, an offset out of range.
        auto levelModel = Generator3D::create(Generator3dConfig::tiny(3), 1);
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseMixedOffset3d(levelModel, validation, offsets));
        QVERIFY_THROWS_EXCEPTION(ms::Error, levelModel.setMixedOffset(1.0));
        QVERIFY_THROWS_EXCEPTION(ms::Error, levelModel.reconstructMixedMargins(validation));
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseMixedBand3d(model, validation, {0.25}, {0.75}));
        auto test = validation;
        for (auto& v : test) v.text["split"] = "test";
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseMixedOffset3d(model, test, offsets));
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseMixedOffset3d(model, validation, {21.0}));
    }

    void scheduleMatchesClosedForm() {
        d3::DiffusionSchedule s(1000, 1e-4, 0.02);
        QCOMPARE(s.beta.front(), 1e-4);
        QVERIFY(std::abs(s.beta.back() - 0.02) < 1e-15);
        QVERIFY(std::abs(s.beta[1] - (1e-4 + 0.0199 / 999.0)) < 1e-15);
        // abar_T = prod (1 - beta_t): ~4.04e-5 for the DDPM schedule.
        double logSum = 0.0;
        for (int i = 0; i < 1000; ++i) logSum += std::log1p(-(1e-4 + 0.0199 * i / 999.0));
        QVERIFY(std::abs(s.alphaBar.back() - std::exp(logSum)) < 1e-12);
        QVERIFY(s.alphaBar.back() > 3.9e-5 && s.alphaBar.back() < 4.2e-5);
        // Step-by-step forward process q(x_t|x_{t-1}) against the closed form
        // q(x_t|x_0) = N(sqrt(abar) x0, 1 - abar), 100k scalars from x0 = 0.8.
        torch::manual_seed(11);
        auto x = torch::full({100000}, 0.8, torch::kDouble);
        for (int t = 0; t < 1000; ++t) {
            x = std::sqrt(1.0 - s.beta[t]) * x + std::sqrt(s.beta[t]) * torch::randn({100000}, torch::kDouble);
            if (t == 49 || t == 299 || t == 999) {
                const double mean = x.mean().item<double>(), var = x.var().item<double>();
                const double ab = s.alphaBar[t];
                QVERIFY2(std::abs(mean - std::sqrt(ab) * 0.8) < 0.01, qPrintable(QString::number(mean)));
                QVERIFY2(std::abs(var - (1.0 - ab)) < 0.01, qPrintable(QString::number(var)));
            }
        }
        // qSample with given noise is the formula, per sample t.
        auto x0 = torch::full({2, 1, 2, 2, 2}, 0.5);
        auto noise = torch::ones({2, 1, 2, 2, 2});
        auto xt = s.qSample(x0, torch::tensor({0L, 999L}), noise);
        QVERIFY(std::abs(xt[0][0][0][0][0].item<double>() -
                         (std::sqrt(s.alphaBar[0]) * 0.5 + std::sqrt(1 - s.alphaBar[0]))) < 1e-6);
        QVERIFY(std::abs(xt[1][0][0][0][0].item<double>() -
                         (std::sqrt(s.alphaBar[999]) * 0.5 + std::sqrt(1 - s.alphaBar[999]))) < 1e-6);
    }

    // The v target (sqrt(abar) eps - sqrt(1 - abar) x0) turned back into the
    // noise the samplers use gives the noise that made x_t; eps is itself.
    void vPredictionInvertsToTheNoise() {
        d3::DiffusionSchedule s(1000, 1e-4, 0.02);
        torch::manual_seed(4);
        auto x0 = torch::randn({4, 1, 2, 2, 2}), noise = torch::randn({4, 1, 2, 2, 2});
        const std::vector<long> steps = {0, 250, 600, 999};
        auto t = torch::tensor(steps);
        auto xt = s.qSample(x0, t, noise);
        for (const char* prediction : {"v", "eps"}) {
            auto target = d3::predictionTarget(prediction, s, x0, t, noise);
            for (std::size_t i = 0; i < steps.size(); ++i) {
                const auto k = std::int64_t(i);
                auto back = d3::noiseFromOutput(prediction, target[k], xt[k], s.alphaBar[std::size_t(steps[i])]);
                QVERIFY2((back - noise[k]).abs().max().item<double>() < 1e-4, prediction);
            }
        }
        // v at t: the formula, element by element.
        const double ab = s.alphaBar[600];
        auto v = d3::predictionTarget("v", s, x0, t, noise)[2];
        auto expected = std::sqrt(ab) * noise[2] - std::sqrt(1 - ab) * x0[2];
        QVERIFY((v - expected).abs().max().item<double>() < 1e-5);
    }

    void ddimTimestepsSpan() {
        QCOMPARE(d3::ddimTimesteps(1000, 1000).size(), std::size_t(1000));
        QCOMPARE(d3::ddimTimesteps(1000, 1000).front(), 999L);
        QCOMPARE(d3::ddimTimesteps(1000, 1000).back(), 0L);
        const auto t = d3::ddimTimesteps(1000, 4);
        QCOMPARE(t, (std::vector<long>{999, 666, 333, 0}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::ddimTimesteps(1000, 1001));
    }

    // With data ~ N(0, s^2) the exact noise predictor is known in closed
    // form; both samplers must then produce N(0, s^2).
    void samplersReproduceGaussianWithExactScore() {
        d3::DiffusionSchedule s(1000, 1e-4, 0.02);
        const double s2 = 0.25;
        d3::NoisePredictor exact = [&](const torch::Tensor& x, long t) {
            const double ab = s.alphaBar[std::size_t(t)];
            return x * (std::sqrt(1.0 - ab) / (ab * s2 + 1.0 - ab));
        };
        const long n = 20000;
        at::Generator g1 = at::make_generator<at::CPUGeneratorImpl>(21);
        auto start = torch::randn({n}, g1, torch::TensorOptions().dtype(torch::kFloat));
        auto ddpm = d3::sampleDdpm(s, exact, start, d3::AncestralVariance::Beta, g1);
        at::Generator g2 = at::make_generator<at::CPUGeneratorImpl>(22);
        auto ddim =
            d3::sampleDdim(s, exact, torch::randn({n}, g2, torch::TensorOptions().dtype(torch::kFloat)), 50, 0.0, g2);
        at::Generator g3 = at::make_generator<at::CPUGeneratorImpl>(23);
        auto ddimAll =
            d3::sampleDdim(s, exact, torch::randn({n}, g3, torch::TensorOptions().dtype(torch::kFloat)), 1000, 0.0, g3);
        // Deterministic DDIM is linear here: x_prev = f x with
        // f = (sqrt(abar' abar) s2 + sqrt((1 - abar')(1 - abar))) / v_t, so the
        // final variance is prod f^2 (below s2 for coarse steps: DDIM's known
        // variance loss; -> s2 as the steps shrink).
        double expected = 1.0;
        const auto ts = d3::ddimTimesteps(1000, 50);
        for (std::size_t j = 0; j < ts.size(); ++j) {
            const double ab = s.alphaBar[std::size_t(ts[j])];
            const double abPrev = j + 1 < ts.size() ? s.alphaBar[std::size_t(ts[j + 1])] : 1.0;
            const double f = (std::sqrt(abPrev * ab) * s2 + std::sqrt((1 - abPrev) * (1 - ab))) / (ab * s2 + 1 - ab);
            expected *= f * f;
        }
        const double vDdpm = ddpm.var().item<double>(), vDdim = ddim.var().item<double>();
        const double vDdimAll = ddimAll.var().item<double>();
        qInfo("variance: DDPM-1000 %.4f, DDIM-1000 %.4f, DDIM-50 %.4f (recurrence %.4f), data %.4f", vDdpm, vDdimAll,
              vDdim, expected, s2);
        QVERIFY(std::abs(vDdpm - s2) < 0.05 * s2);
        QVERIFY(std::abs(vDdimAll - s2) < 0.05 * s2);
        QVERIFY(std::abs(vDdim - expected) < 0.04 * expected);
        QVERIFY(std::abs(ddpm.mean().item<double>()) < 0.02);
    }

    // DDIM with k = T and eta = 1 is ancestral sampling with the posterior
    // variance, sample for sample (same generator), on a random tiny U-Net.
    void ddimWithAllStepsAndEtaOneIsAncestral() {
        torch::manual_seed(2);
        d3::Unet3d unet(2, 8, 3);
        unet->eval();
        d3::DiffusionSchedule s(1000, 1e-4, 0.02);
        auto context = torch::randn({2, 3});
        d3::NoisePredictor eps = [&](const torch::Tensor& x, long t) {
            return d3::guidedNoise(*unet, x, t, 1000, context, 1.0);
        };
        at::Generator g = at::make_generator<at::CPUGeneratorImpl>(5);
        auto start = torch::randn({2, 2, 4, 4, 4}, g, torch::TensorOptions().dtype(torch::kFloat));
        at::Generator g1 = at::make_generator<at::CPUGeneratorImpl>(6),
                      g2 = at::make_generator<at::CPUGeneratorImpl>(6);
        auto a = d3::sampleDdpm(s, eps, start.clone(), d3::AncestralVariance::Posterior, g1);
        auto b = d3::sampleDdim(s, eps, start.clone(), 1000, 1.0, g2);
        const double diff = (a - b).abs().max().item<double>();
        qInfo("max |DDPM - DDIM(1000, eta 1)| = %.3g (sample scale %.3g)", diff, a.abs().max().item<double>());
        QVERIFY(diff < 1e-4 * std::max(1.0, a.abs().max().item<double>()));
        // Deterministic DDIM: same seed, same result; another start, another result.
        at::Generator g3 = at::make_generator<at::CPUGeneratorImpl>(1),
                      g4 = at::make_generator<at::CPUGeneratorImpl>(1);
        auto c1 = d3::sampleDdim(s, eps, start.clone(), 20, 0.0, g3);
        auto c2 = d3::sampleDdim(s, eps, start.clone(), 20, 0.0, g4);
        QVERIFY(torch::equal(c1, c2));
        auto c3 = d3::sampleDdim(s, eps, start + 0.5, 20, 0.0, g4);
        QVERIFY(!torch::allclose(c1, c3));
    }

    // DPM-Solver++(2M): the log-SNR grid spans T-1 .. 0, strictly decreasing;
    // the time grid is DDIM's.
    void dpmSolverTimesteps() {
        d3::DiffusionSchedule s(1000, 1e-4, 0.02);
        QCOMPARE(d3::solverTimesteps(s.alphaBar, 4, d3::SolverSpacing::Time), d3::ddimTimesteps(1000, 4));
        for (int k : {1, 2, 8, 16, 200, 999, 1000}) {
            const auto ts = d3::solverTimesteps(s.alphaBar, k, d3::SolverSpacing::LogSnr);
            QCOMPARE(int(ts.size()), k);
            QCOMPARE(ts.front(), 999L);
            if (k > 1) QCOMPARE(ts.back(), 0L);
            for (std::size_t j = 1; j < ts.size(); ++j) QVERIFY(ts[j] < ts[j - 1]);
        }
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::solverTimesteps(s.alphaBar, 0, d3::SolverSpacing::LogSnr));
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::solverTimesteps(s.alphaBar, 1001, d3::SolverSpacing::Time));
    }

    // With data ~ N(mu, s^2) the exact x0 / noise predictor is known in closed
    // form, and the probability-flow ODE maps N(0, 1) exactly onto N(mu, s^2):
    // what a deterministic solver misses is its discretisation error. The
    // start is standardised (sample mean 0, std 1) so that only that error
    // shows. DPM-Solver++(2M) at 16 steps must land within 3% of the target
    // std (2.1% measured) and 0.01 s of its mean, far tighter than DDIM at
    // 16 steps (11-17% of the std lost: its known variance loss at coarse
    // steps), for a narrow and a unit-variance target (the latents are
    // scaled to unit variance). Also which time grid works (docs/ml3d.md).
    void dpmSolverReproducesGaussianWithExactScore() {
        d3::DiffusionSchedule s(1000, 1e-4, 0.02);
        at::Generator g = at::make_generator<at::CPUGeneratorImpl>(31);
        auto start = torch::randn({20000}, g, torch::TensorOptions().dtype(torch::kDouble));
        start = (start - start.mean()) / start.std();
        struct Case {
            double mu, sd;
        };
        for (const Case target : {Case{0.5, 0.5}, Case{-0.3, 1.0}}) {
            const double mu = target.mu, s2 = target.sd * target.sd;
            d3::NoisePredictor exact = [&](const torch::Tensor& x, long t) {
                const double ab = s.alphaBar[std::size_t(t)];
                return (x - std::sqrt(ab) * mu) * (std::sqrt(1.0 - ab) / (ab * s2 + 1.0 - ab));
            };
            auto error = [&](const torch::Tensor& x) {
                return std::pair<double, double>{std::abs(x.mean().item<double>() - mu),
                                                 std::abs(x.std().item<double>() / target.sd - 1.0)};
            };
            at::Generator unused = at::make_generator<at::CPUGeneratorImpl>(1);
            std::map<std::string, std::pair<double, double>> errors;
            for (int k : {8, 10, 16, 25, 50}) {
                const auto ddim = error(d3::sampleDdim(s, exact, start.clone(), k, 0.0, unused));
                const auto time = error(d3::sampleDpmSolver(s, exact, start.clone(), k, d3::SolverSpacing::Time));
                const auto snr = error(d3::sampleDpmSolver(s, exact, start.clone(), k, d3::SolverSpacing::LogSnr));
                qInfo(
                    "N(%.2g, %.2g^2), %2d steps: |mean error| / |std / target - 1|: DDIM %.2e / %.2e, "
                    "DPM++(2M) time grid %.2e / %.2e, log-SNR grid %.2e / %.2e",
                    mu, target.sd, k, ddim.first, ddim.second, time.first, time.second, snr.first, snr.second);
                if (k == 16) errors = {{"ddim", ddim}, {"time", time}, {"snr", snr}};
            }
            const auto dpm = errors.at("snr"), ddim = errors.at("ddim");
            // The mean errors (~1e-3 s) are the prior's: x_T ~ N(0, 1) is not
            // quite q(x_T), whose mean is sqrt(abar_T) mu; every sampler shares them.
            QVERIFY2(dpm.first < 0.01 * target.sd && dpm.second < 0.03,
                     qPrintable(QString("DPM++-16: %1 %2").arg(dpm.first).arg(dpm.second)));
            QVERIFY(dpm.second < 0.25 * ddim.second);
            QVERIFY(ddim.second > 0.1);  // DDIM-16 loses > 10% of the std
            // The default grid (log-SNR) is the one that works: the t grid
            // misses worse than DDIM at 16 steps.
            QVERIFY(errors.at("time").second > 5 * dpm.second);
        }
    }

    // First order everywhere is deterministic DDIM; second order converges to
    // DDIM's ODE solution (DDIM over all T steps) as the steps grow, on the
    // exact Gaussian predictor and on a random tiny U-Net; same start, same
    // result.
    void dpmSolverConvergesToDdim() {
        d3::DiffusionSchedule s(1000, 1e-4, 0.02);
        torch::manual_seed(3);
        d3::Unet3d unet(2, 8, 3);
        unet->eval();
        auto context = torch::randn({2, 3});
        d3::NoisePredictor net = [&](const torch::Tensor& x, long t) {
            return d3::guidedNoise(*unet, x, t, 1000, context, 2.0);
        };
        const double mu = 0.4, s2 = 0.36;
        d3::NoisePredictor gaussian = [&](const torch::Tensor& x, long t) {
            const double ab = s.alphaBar[std::size_t(t)];
            return (x - std::sqrt(ab) * mu) * (std::sqrt(1.0 - ab) / (ab * s2 + 1.0 - ab));
        };
        at::Generator g = at::make_generator<at::CPUGeneratorImpl>(8);
        auto start = torch::randn({2, 2, 4, 4, 4}, g, torch::TensorOptions().dtype(torch::kFloat));
        at::Generator unused = at::make_generator<at::CPUGeneratorImpl>(1);
        for (const auto* eps : {&gaussian, &net}) {
            d3::DataPredictor x0 = [&](const torch::Tensor& x, long t) {
                const double ab = s.alphaBar[std::size_t(t)];
                return (x - std::sqrt(1.0 - ab) * (*eps)(x, t)) / std::sqrt(ab);
            };
            // Order 1 == DDIM (eta 0), step for step.
            auto first = d3::sampleDpmSolver(s.alphaBar, x0, start.clone(), 12, d3::SolverSpacing::Time, 1);
            auto ddim12 = d3::sampleDdim(s, *eps, start.clone(), 12, 0.0, unused);
            const double scale = std::max(1.0, ddim12.abs().max().item<double>());
            QVERIFY2((first - ddim12).abs().max().item<double>() < 1e-4 * scale,
                     qPrintable(QString::number((first - ddim12).abs().max().item<double>())));
            const auto ode = d3::sampleDdim(s, *eps, start.clone(), 1000, 0.0, unused);
            auto distance = [&](int k) {
                return (d3::sampleDpmSolver(s, *eps, start.clone(), k) - ode).abs().max().item<double>();
            };
            const double d10 = distance(10), d50 = distance(50), d200 = distance(200);
            const double ddim10 =
                (d3::sampleDdim(s, *eps, start.clone(), 10, 0.0, unused) - ode).abs().max().item<double>();
            qInfo("%s: max |DPM++(2M)-k - DDIM-1000|: k=10 %.3g, 50 %.3g, 200 %.3g (DDIM-10 %.3g)",
                  eps == &gaussian ? "Gaussian" : "random U-Net", d10, d50, d200, ddim10);
            QVERIFY(d200 < 0.1 * d10);
            QVERIFY(d50 < d10);
            // Deterministic: the same start gives the same sample.
            QVERIFY(torch::equal(d3::sampleDpmSolver(s, *eps, start.clone(), 10),
                                 d3::sampleDpmSolver(s, *eps, start.clone(), 10)));
        }
    }

    void classifierFreeGuidance() {
        torch::manual_seed(4);
        d3::Unet3d unet(2, 16, 3);
        unet->eval();
        torch::NoGradGuard noGrad;
        auto x = torch::randn({3, 2, 4, 4, 4});
        auto context = torch::randn({3, 3});
        auto time = torch::full({3}, 0.25);
        auto conditional = unet->forward(x, time, context, torch::ones({3}));
        auto unconditional = unet->forward(x, time, context, torch::zeros({3}));
        QVERIFY((conditional - unconditional).abs().max().item<double>() > 1e-4);  // the context matters
        // The null context ignores the context values.
        QVERIFY(torch::allclose(unconditional, unet->forward(x, time, torch::randn({3, 3}), torch::zeros({3})), 1e-5,
                                1e-6));
        QVERIFY(torch::allclose(d3::guidedNoise(*unet, x, 250, 1000, context, 0.0), unconditional, 1e-5, 1e-6));
        QVERIFY(torch::allclose(d3::guidedNoise(*unet, x, 250, 1000, context, 1.0), conditional, 1e-5, 1e-6));
        // Batched guidance (both halves in one pass) equals separate passes.
        auto guided = d3::guidedNoise(*unet, x, 250, 1000, context, 3.0);
        QVERIFY(torch::allclose(guided, unconditional + 3.0 * (conditional - unconditional), 1e-4, 1e-5));
    }

    // The torch-free API: create, generate, save, load, same output.
    void generatorSaveLoadGenerate() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_model";
        fs::remove_all(dir);
        Generator3dConfig c = Generator3dConfig::tiny(2);
        auto model = Generator3D::create(c, 9);
        QCOMPARE(model.conditionNames(), twoPhaseConditions());
        QCOMPARE(int(model.outputNames().size()), 6);
        QCOMPARE(int(model.conditionRanges().size()), 3);
        GenerateOptions o;
        o.steps = 5;
        o.guidance = 2.0;
        o.seed = 42;
        o.batch = 2;
        ms::ProgressToken progress;
        double last = 0.0;
        progress.setListener([&](double f, const std::string&) {
            QVERIFY(f >= last - 1e-12);
            last = f;
        });
        o.progress = &progress;
        const auto a = model.generate({{"ABS_f_D", 0.4}}, 3, o);
        QCOMPARE(last, 1.0);
        QCOMPARE(int(a.size()), 3);
        for (const auto& v : a) {
            QCOMPARE(v.dims(), c.vae.dims);
            QVERIFY(v.hasField());
            QVERIFY(v.phaseCount() <= 2);
            QVERIFY(v.attributes.count("predicted_phi") && v.attributes.count("predicted_log_time"));
            QCOMPARE(v.attributes.at("target_ABS_f_D"), 0.4);
            QCOMPARE(v.text.at("sampler"), std::string("ddim-5"));
        }
        QVERIFY(!a[0].sameLabels(a[1]) || a[0].field() != a[1].field());
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.generate({{"tortuosity_D", 1.0}}, 1, o));
        model.save(dir);
        QVERIFY(fs::exists(dir / "generator3d.pt") && fs::exists(dir / "generator3d.json"));
        auto loaded = Generator3D::load(dir);
        QVERIFY(loaded.config().toJson() == c.toJson());
        o.progress = nullptr;
        const auto b = loaded.generate({{"ABS_f_D", 0.4}}, 3, o);
        for (int i = 0; i < 3; ++i) {
            QVERIFY(a[std::size_t(i)].sameLabels(b[std::size_t(i)]));
            QCOMPARE(a[std::size_t(i)].field(), b[std::size_t(i)].field());
        }
        // Ancestral DDPM-T on a 3-phase tiny model.
        Generator3dConfig c3 = Generator3dConfig::tiny(3);
        c3.timesteps = 50;
        auto three = Generator3D::create(c3, 1);
        const auto t = three.generate({}, 1, 0, 1.0, 3);
        QCOMPARE(t[0].text.at("sampler"), std::string("ddpm-50"));
        for (auto l : t[0].labels()) QVERIFY(l <= 2);
        // Ancestral DDPM with the posterior variance is DDIM over all T steps
        // with eta 1 (same seed, same draws), and not the beta_t sampler.
        GenerateOptions posterior;
        posterior.seed = 3;
        posterior.posteriorVariance = true;
        GenerateOptions ddimAll = posterior;
        ddimAll.steps = c3.timesteps;
        ddimAll.eta = 1.0;
        const auto p = three.generate({}, 1, posterior), q = three.generate({}, 1, ddimAll);
        QCOMPARE(p[0].text.at("sampler"), std::string("ddpm-50-posterior"));
        double maxDifference = 0.0, fromBeta = 0.0;
        for (std::size_t i = 0; i < p[0].field().size(); ++i) {
            maxDifference = std::max(maxDifference, double(std::abs(p[0].field()[i] - q[0].field()[i])));
            fromBeta = std::max(fromBeta, double(std::abs(p[0].field()[i] - t[0].field()[i])));
        }
        QVERIFY2(maxDifference < 1e-4, qPrintable(QString::number(maxDifference)));
        QVERIFY2(fromBeta > 1e-3, qPrintable(QString::number(fromBeta)));
        fs::remove_all(dir);
    }

    // The window blend of issue 24 on its own: origins along a periodic axis,
    // weights summing to the identity (a predictor returning its input window
    // gives the large latent back, wrap included), one window of weight 1 at
    // the training size (bit for bit), and windows batched by rows.
    void latentWindowsBlendToTheIdentity() {
        QCOMPARE(d3::windowOrigins(8, 8), (std::vector<long>{0}));
        QCOMPARE(d3::windowOrigins(16, 8), (std::vector<long>{0, 4, 8, 12}));
        QCOMPARE(d3::windowOrigins(12, 8), (std::vector<long>{0, 4, 8}));
        const auto x = torch::randn({3, 2, 4, 12, 16});
        long calls = 0;
        const d3::WindowNoisePredictor identity = [&](const torch::Tensor& w, long, const torch::Tensor& sample) {
            ++calls;
            [&] { QCOMPARE(sample.size(0), w.size(0)); }();
            return w.clone();
        };
        const d3::LatentWindows large(16, 12, 8, 8, torch::kCPU);
        QCOMPARE(large.count(), std::size_t(12));
        QVERIFY(torch::allclose(large.blend(x, 5, identity, 6), x, 1e-5, 1e-6));
        QCOMPARE(calls, 6L);  // 6 rows per call: two windows of 3 samples
        const auto small = x.narrow(3, 0, 8).narrow(4, 0, 8).contiguous();
        const d3::LatentWindows one(8, 8, 8, 8, torch::kCPU);
        QCOMPARE(one.count(), std::size_t(1));
        QVERIFY(torch::equal(one.blend(small, 5, identity, 1), small));

        // The whole latent at once: a zero-filled shift by one cell along x
        // (how a convolution sees its neighbour) through the wrap equals the
        // periodic shift exactly; unwrapped (margin 0) the cell shifted in at
        // x = 0 is a zero. The wrapped extent divides by the U-Net's 4.
        const auto latent = torch::randn({2, 3, 4, 10, 14});
        std::vector<long> extents;
        const auto zeroFilledShift = [&](const torch::Tensor& p) {
            extents.push_back(p.size(3)), extents.push_back(p.size(4));
            auto out = torch::zeros_like(p);
            out.narrow(4, 1, p.size(4) - 1).copy_(p.narrow(4, 0, p.size(4) - 1));
            return out;
        };
        QVERIFY(torch::equal(d3::wholeLatentNoise(zeroFilledShift, latent, 1), torch::roll(latent, 1, 4)));
        QVERIFY(torch::equal(d3::wholeLatentNoise(zeroFilledShift, latent, 3), torch::roll(latent, 1, 4)));
        QVERIFY(!torch::equal(d3::wholeLatentNoise(zeroFilledShift, latent, 0), torch::roll(latent, 1, 4)));
        QCOMPARE(extents, (std::vector<long>{12, 16, 16, 20, 12, 16}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, d3::wholeLatentNoise(zeroFilledShift, latent, 10));
    }

    // Volumes larger than the training box (GenerateOptions::size): at the
    // training size the window path is plain sampling exactly; 2x2 training
    // windows give the requested size, the same volumes for a seed, and no
    // seams at the x/y wrap or the window borders; bad sizes are refused.
    void largerVolumesThroughBlendedWindows() {
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 6);
        const ms::Dims training = model.config().vae.dims;  // 16x16x8, downsampling 2, latent 8x8x4
        for (const char* sampler : {"ddim", "dpmpp"}) {
            GenerateOptions o;
            o.sampler = sampler;
            o.steps = 4;
            o.eta = o.sampler == "ddim" ? 0.5 : 0.0;  // DDIM's step noise must match too
            o.guidance = 2.0;
            o.seed = 9;
            o.batch = 2;
            const auto plain = model.generate({{"ABS_f_D", 0.4}}, 3, o);
            o.size = training;
            const auto windowed = model.generate({{"ABS_f_D", 0.4}}, 3, o);
            for (std::size_t i = 0; i < plain.size(); ++i) {
                QVERIFY(plain[i].field() == windowed[i].field());
                QVERIFY(plain[i].labels() == windowed[i].labels());
                QCOMPARE(windowed[i].attributes.at("windows"), 1.0);
                QCOMPARE(plain[i].attributes.at("predicted_ABS_f_D"), windowed[i].attributes.at("predicted_ABS_f_D"));
            }
        }
        GenerateOptions o;
        o.sampler = "dpmpp";
        o.steps = 3;
        o.seed = 4;
        o.size = ms::Dims{32, 32, 8};  // 2x2 training boxes: 4x4 latent windows at 50% overlap
        o.largeMethod = LargeVolumeMethod::Windows;
        const auto a = model.generate({{"ABS_f_D", 0.4}}, 4, o), b = model.generate({{"ABS_f_D", 0.4}}, 2, o);
        QCOMPARE(a[0].dims(), o.size);
        QCOMPARE(a[0].attributes.at("windows"), 16.0);
        QVERIFY(std::isfinite(a[0].attributes.at("predicted_ABS_f_D")));
        for (std::size_t i = 0; i < b.size(); ++i) QVERIFY(a[i].field() == b[i].field());
        QVERIFY(a[0].field() != a[1].field());

        // Seams by planeSteps / seamDeviation (above) over four volumes.
        // Window borders (latent origins 0, 4, 8, 12: voxel planes 8k-1 | 8k,
        // the last being the x/y wrap) against the other planes. An untrained
        // model's volumes are noise at the latent-cell scale, so this catches
        // gross seams only: a wrong wrap, the decoder's zero padding at the
        // sides (the tiled check below).
        const std::vector<const ms::Volume*> blended{&a[0], &a[1], &a[2], &a[3]};
        const std::vector<int> borders{7, 15, 23, 31};
        const double alongX = seamDeviation(planeSteps(blended, true), borders),
                     alongY = seamDeviation(planeSteps(blended, false), borders);
        // Sensitivity: eight training-size draws tiled 2x2 into two volumes (borders 15 and 31).
        GenerateOptions single = o;
        single.size = ms::Dims{0, 0, 0};
        const auto tiles = model.generate({{"ABS_f_D", 0.4}}, 8, single);
        std::vector<ms::Volume> tiled(2, ms::Volume(o.size));
        for (std::size_t k = 0; k < tiled.size(); ++k) {
            std::vector<float> field(o.size.count());
            for (int z = 0; z < 8; ++z)
                for (int y = 0; y < 32; ++y)
                    for (int x = 0; x < 32; ++x)
                        field[std::size_t((z * 32 + y) * 32 + x)] =
                            tiles[4 * k + std::size_t((y / 16) * 2 + x / 16)]
                                .field()[std::size_t((z * 16 + y % 16) * 16 + x % 16)];
            tiled[k].setField(std::move(field));
        }
        const double tiledX = seamDeviation(planeSteps({&tiled[0], &tiled[1]}, true), {15, 31}),
                     tiledY = seamDeviation(planeSteps({&tiled[0], &tiled[1]}, false), {15, 31});
        // Tolerance 4: the 12 planes near borders are compared with 20 others
        // whose mean step drifts smoothly along the axis (the field's own
        // structure), so 3 is reached without seams (here 3.0 in x, 2.0 in y);
        // the tiled training-size draws' zero-padded sides reach 5.2 in y.
        QVERIFY2(alongX < 4.0 && alongY < 4.0, qPrintable(QString("%1 %2").arg(alongX).arg(alongY)));
        QVERIFY2(std::max(tiledX, tiledY) > 4.0, qPrintable(QString("%1 %2").arg(tiledX).arg(tiledY)));

        // A periodicXY VAE decodes the large latent without the wrapped margin.
        Generator3dConfig periodic = Generator3dConfig::tiny(2);
        periodic.vae.periodicXY = true;
        GenerateOptions wide = o;
        wide.size = ms::Dims{32, 16, 8};
        QCOMPARE(Generator3D::create(periodic, 3).generate({{"ABS_f_D", 0.4}}, 1, wide).at(0).dims(), wide.size);

        // Refusals, one line each.
        auto refused = [&](ms::Dims size, const char* needle) {
            GenerateOptions bad = o;
            bad.size = size;
            generationRefusedInOneLine(model, bad, needle);
        };
        refused(ms::Dims{32, 32, 16}, "z must be the training depth 8");
        refused(ms::Dims{8, 32, 8}, "smaller than the training size 16x16x8");
        refused(ms::Dims{33, 32, 8}, "multiples of 2");

        // The CLI: --size, and its refusal in one line.
        const auto cli = saveForCli(model, "ms_test_ml3d_size");
        QString text;
        QCOMPARE(runCli({"generate", "--model", cli.folder, "--target", "ABS_f_D=0.5", "--sampler", "dpmpp", "--steps",
                         "2", "--size", "32x16x8", "--no-measure", "-o", cli.out},
                        &text),
                 0);
        QCOMPARE(ms::io::readHdf5(cli.out.toStdString()).at(0).dims(), (ms::Dims{32, 16, 8}));
        QVERIFY(runCli({"generate", "--model", cli.folder, "--size", "32x32x4", "-o", cli.out}, &text) != 0);
        QCOMPARE(text.trimmed().count('\n'), 0);
        QVERIFY2(text.contains("z must be the training depth"), qPrintable(text));
        fs::remove_all(cli.dir);
    }

    // GenerateOptions::largeMethod Whole: the U-Net on the whole latent,
    // wrapped by wholeMargin cells. The training size stays plain sampling;
    // a 2x2 volume is deterministic per seed, one "window", no seam at the
    // x/y wrap; the margin matters; an oversized margin and an unknown
    // method name are refused in one line, through the CLI too.
    void largerVolumesThroughTheWholeLatent() {
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 6);
        GenerateOptions o;
        o.sampler = "dpmpp";
        o.steps = 3;
        o.seed = 4;
        o.largeMethod = LargeVolumeMethod::Whole;
        o.wholeMargin = 4;
        const auto plain = model.generate({{"ABS_f_D", 0.4}}, 2, o);
        o.size = model.config().vae.dims;
        const auto atTraining = model.generate({{"ABS_f_D", 0.4}}, 2, o);
        for (std::size_t i = 0; i < plain.size(); ++i) QVERIFY(plain[i].field() == atTraining[i].field());

        o.size = ms::Dims{32, 32, 8};  // latent 16x16x4 (+4 cells each side: 24, pooled twice)
        const auto a = model.generate({{"ABS_f_D", 0.4}}, 4, o), b = model.generate({{"ABS_f_D", 0.4}}, 2, o);
        QCOMPARE(a[0].dims(), o.size);
        QCOMPARE(a[0].attributes.at("windows"), 1.0);
        QCOMPARE(a[0].text.at("large_method"), std::string("whole"));
        for (std::size_t i = 0; i < b.size(); ++i) QVERIFY(a[i].field() == b[i].field());
        GenerateOptions windows = o;
        windows.largeMethod = LargeVolumeMethod::Windows;
        QVERIFY(model.generate({{"ABS_f_D", 0.4}}, 1, windows)[0].field() != a[0].field());
        const std::vector<const ms::Volume*> four{&a[0], &a[1], &a[2], &a[3]};
        const double alongX = seamDeviation(planeSteps(four, true), {31}),
                     alongY = seamDeviation(planeSteps(four, false), {31});
        QVERIFY2(alongX < 4.0 && alongY < 4.0, qPrintable(QString("%1 %2").arg(alongX).arg(alongY)));
        GenerateOptions odd = o;  // latent 18 wide: 18 + 2 x 3 = 24 needs no extra cells; margin 1 needs 2
        odd.size = ms::Dims{36, 32, 8};
        for (int margin : {0, 1, 3}) {
            odd.wholeMargin = margin;
            QCOMPARE(model.generate({{"ABS_f_D", 0.4}}, 1, odd).at(0).dims(), odd.size);
        }
        GenerateOptions unwrapped = o;
        unwrapped.wholeMargin = 0;
        QVERIFY(model.generate({{"ABS_f_D", 0.4}}, 1, unwrapped)[0].field() != a[0].field());

        GenerateOptions bad = o;
        bad.wholeMargin = 17;
        generationRefusedInOneLine(model, bad, "margin of 17 cells exceeds");
        bad.wholeMargin = -1;
        generationRefusedInOneLine(model, bad, "margin must be >= 0");
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::ml::parseLargeVolumeMethod("tiles"));
        QCOMPARE(ms::ml::parseLargeVolumeMethod(ms::ml::largeVolumeMethodName(LargeVolumeMethod::Whole)),
                 LargeVolumeMethod::Whole);

        const auto cli = saveForCli(model, "ms_test_ml3d_whole");
        QString text;
        QCOMPARE(runCli({"generate", "--model", cli.folder, "--target", "ABS_f_D=0.5", "--sampler", "dpmpp", "--steps",
                         "2", "--size", "32x16x8", "--large-method", "whole", "--no-measure", "-o", cli.out},
                        &text),
                 0);
        const auto written = ms::io::readHdf5(cli.out.toStdString()).at(0);
        QCOMPARE(written.text.at("large_method"), std::string("whole"));
        QVERIFY(
            runCli({"generate", "--model", cli.folder, "--size", "32x16x8", "--large-method", "tiles", "-o", cli.out},
                   &text) != 0);
        QCOMPARE(text.trimmed().count('\n'), 0);
        QVERIFY2(text.contains("--large-method"), qPrintable(text));

        // bench ml3d --large: the training size, whole and windows in one run.
        const auto rows = ms::ml::timeLargeVolumes(model, ms::Dims{32, 32, 8}, o, 1);
        QCOMPARE(rows.size(), std::size_t(3));
        QCOMPARE(rows[0].size, model.config().vae.dims);
        QCOMPARE(rows[0].voxelCostRatio, 1.0);
        QCOMPARE(rows[1].label, std::string("whole"));
        QCOMPARE(rows[1].windows, std::size_t(1));
        QCOMPARE(rows[2].windows, std::size_t(16));
        for (const auto& r : rows)
            QVERIFY(r.secondsPerSample > 0.0 &&
                    qFuzzyCompare(r.secondsPerVoxel * double(r.size.count()), r.secondsPerSample));
        QCOMPARE(runCli({"bench", "ml3d", "--large", "32x32x8", "--model", cli.folder}, &text), 0);
        QVERIFY2(text.contains("windows / whole") && text.contains("32x32x8"), qPrintable(text));
        fs::remove_all(cli.dir);
    }

    // The evaluation's larger-volume pass (evaluate --size): S2 across window
    // borders vs inside on a volume with a hard seam, then the report of a
    // tiny model at 2x2 training boxes beside its training-size pass.
    void evaluateLargerVolumes() {
        ms::Volume halves(ms::Dims{32, 16, 2});  // donor for x < 16: seams at x = 0 and 16
        for (int z = 0; z < 2; ++z)
            for (int y = 0; y < 16; ++y)
                for (int x = 0; x < 32; ++x) halves.at(x, y, z) = x < 16 ? ms::Donor : ms::Acceptor;
        const auto seams = seamCorrelation(halves, {0, 16}, {0, 8}, 4);
        QCOMPARE(seams.across.size(), std::size_t(4));
        QVERIFY(seams.across[0] < seams.inside[0] - 0.1);  // donor pairs break at the x seams
        ms::Volume donor(ms::Dims{32, 16, 2}, ms::Donor);
        const auto flat = seamCorrelation(donor, {0, 16}, {0, 8}, 4);
        QCOMPARE(flat.across, flat.inside);

        auto model = Generator3D::create(Generator3dConfig::tiny(2), 2);
        model.setTrainingData(heldOutVolumes(12, 21));
        Evaluation3dOptions o;
        o.sampler.sampler = "dpmpp";
        o.sampler.steps = 2;
        o.reconstruction = false;
        o.diversitySamples = 0;
        o.timingBatchSizes.clear();
        o.largeSize = ms::Dims{32, 32, 8};
        o.largeCount = 3;
        o.sampler.largeMethod = LargeVolumeMethod::Windows;
        const auto r = evaluateGenerator3d(model, testSplitVolumes(4, 3), o);
        QVERIFY(r.large.has_value());
        const auto& l = *r.large;
        QCOMPARE(l.size, o.largeSize);
        QCOMPARE(l.windows, std::size_t(16));
        QCOMPARE(l.subset.size(), std::size_t(3));
        QCOMPARE(l.fit.mae.size(), std::size_t(3));
        QCOMPARE(l.maeTraining.size(), std::size_t(3));
        QCOMPARE(l.maxLag, 4);  // window starts 8 voxels apart
        QCOMPARE(l.s2Across.size(), std::size_t(4));
        QVERIFY(std::isfinite(l.seamDifference) && std::isfinite(l.sampleSpread));
        QVERIFY(l.secondsPerVoxel > 0.0 && std::isfinite(l.costRatio) && l.costRatio > 0.0);
        const ms::Json json = r.toJson().at("large");  // --json and --save carry it
        QCOMPARE(QString::fromStdString(json.at("size").get<std::string>()), QString("32x32x8"));
        QCOMPARE(json.at("windows").get<int>(), 16);
        QCOMPARE(json.at("method").get<std::string>(), std::string("windows"));
        QCOMPARE(json.at("seamless").get<bool>(), l.seamless);
        QCOMPARE(json.at("mae_ratio").size(), std::size_t(3));
        o.largeSize = ms::Dims{32, 32, 4};
        QVERIFY_THROWS_EXCEPTION(ms::Error, evaluateGenerator3d(model, testSplitVolumes(4, 3), o));
    }

    // GenerateOptions::sampler: DPM-Solver++(2M) through generate() (label,
    // same seed same output, not DDIM's output), refusals in one line; the
    // CLI's --sampler and evaluate's --compare-sampler.
    void generatorSamplerChoice() {
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 6);
        GenerateOptions o;
        o.sampler = "dpmpp";
        o.steps = 4;
        o.seed = 12;
        o.guidance = 2.0;
        o.batch = 2;
        const auto a = model.generate({{"ABS_f_D", 0.4}}, 3, o), b = model.generate({{"ABS_f_D", 0.4}}, 3, o);
        QCOMPARE(a[0].text.at("sampler"), std::string("dpmpp2m-4"));
        for (std::size_t i = 0; i < a.size(); ++i) QCOMPARE(a[i].field(), b[i].field());
        GenerateOptions ddim = o;
        ddim.sampler = "ddim";
        QVERIFY(model.generate({{"ABS_f_D", 0.4}}, 1, ddim)[0].field() != a[0].field());
        QCOMPARE(samplerLabel(o, 1000), std::string("dpmpp2m-4"));
        o.steps = 0;
        QCOMPARE(samplerLabel(o, 1000), std::string("dpmpp2m-1000"));  // 0 = all T
        GenerateOptions d;
        QCOMPARE(samplerLabel(d, 1000), std::string("ddpm-1000"));  // ddim with steps 0: ancestral, as before
        d.sampler = "ddpm";
        d.posteriorVariance = true;
        QCOMPARE(samplerLabel(d, 1000), std::string("ddpm-1000-posterior"));
        auto refusedInOneLine = [&](GenerateOptions bad, const char* needle) {
            generationRefusedInOneLine(model, bad, needle);
        };
        GenerateOptions bad = o;
        bad.sampler = "dpm++";
        refusedInOneLine(bad, "unknown sampler 'dpm++'");
        bad = o;
        bad.eta = 0.5;
        refusedInOneLine(bad, "eta applies to the ddim sampler only");
        bad = d;
        bad.steps = 20;
        refusedInOneLine(bad, "ddpm sampler runs all");

        // The CLI.
        const auto cli = saveForCli(model, "ms_test_ml3d_sampler");
        QString text, json;
        QVERIFY(runCli({"generate", "--model", cli.folder, "--sampler", "euler", "-o", cli.out}, &text) != 0);
        QCOMPARE(text.trimmed().count('\n'), 0);
        QVERIFY2(text.contains("--sampler must be ddim, dpmpp or ddpm, got 'euler'"), qPrintable(text));
        QCOMPARE(runCli({"generate", "--model", cli.folder, "--target", "ABS_f_D=0.5", "-n", "2", "--sampler", "dpmpp",
                         "--steps", "3", "--no-measure", "-o", cli.out},
                        &text),
                 0);
        for (const auto& v : ms::io::readHdf5(cli.out.toStdString()))
            QCOMPARE(v.text.at("sampler"), std::string("dpmpp2m-3"));
        QVERIFY(runCli({"evaluate", "--model", cli.folder, "--compare-sampler", "heun"}, &text) != 0);
        QCOMPARE(text.trimmed().count('\n'), 0);
        QVERIFY2(text.contains("--compare-sampler must be"), qPrintable(text));
        const fs::path held = cli.dir / "held.h5";
        ms::io::writeHdf5(testSplitVolumes(4, 5), held.string());
        QCOMPARE(runCli({"evaluate",
                         "--model",
                         cli.folder,
                         "--data",
                         QString::fromStdString(held.string()),
                         "-n",
                         "4",
                         "--steps",
                         "6",
                         "--compare-sampler",
                         "dpmpp",
                         "--compare-steps",
                         "2",
                         "--batch-sizes",
                         "1",
                         "--diversity",
                         "2",
                         "--threads",
                         "1",
                         "--json"},
                        &text, &json),
                 0);
        const auto report = QJsonDocument::fromJson(json.toUtf8()).object();
        QVERIFY2(!report.isEmpty(), qPrintable(text));
        QCOMPARE(report["sampler"].toString(), QString("ddim"));
        QCOMPARE(report["sampler_label"].toString(), QString("ddim-6"));
        const auto compared = report["comparison"].toObject();
        QCOMPARE(compared["sampler"].toString(), QString("dpmpp"));
        QCOMPARE(compared["sampler_label"].toString(), QString("dpmpp2m-2"));
        QCOMPARE(compared["steps"].toInt(), 2);
        QCOMPARE(compared["n"].toInt(), 4);
        QCOMPARE(compared["r2_difference_ci95"].toObject().size(), 3);
        // The reported ratio is the two samplers' measured seconds per sample
        // (its size is a benchmark's business: a loaded machine can invert it).
        const double seconds = compared["s_per_sample"].toDouble(), main = compared["main_s_per_sample"].toDouble();
        QVERIFY(seconds > 0.0 && main > 0.0);
        QVERIFY(std::abs(compared["speedup"].toDouble() - main / seconds) <= 1e-9 * (main / seconds));
        fs::remove_all(cli.dir);
    }

    // Screened generation: K candidates per target are exactly the plain
    // draws of the targets repeated K times, and the kept one is the draw
    // whose measured ABS_f_D (the donor fraction) lies nearest its target,
    // its distance in units of the training std.
    void screenedGenerationKeepsNearestCandidate() {
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 4);
        model.setTrainingData(heldOutVolumes(12, 21));
        const double vfStd = model.conditionRanges().front().std;
        QCOMPARE(model.conditionRanges().front().name, std::string("ABS_f_D"));
        QVERIFY(vfStd > 0.0);
        const std::vector<std::map<std::string, double>> targets{{{"ABS_f_D", 0.3}}, {{"ABS_f_D", 0.8}}};
        const int k = 4;
        GenerateOptions o;
        o.steps = 3;
        o.seed = 5;
        o.batch = 3;  // batches straddle targets: the draws must not depend on it differently
        GenerateTiming timing;
        o.timing = &timing;
        o.candidates = k;
        ms::ProgressToken progress;
        double last = 0.0;
        progress.setListener([&](double f, const std::string&) {
            QVERIFY(f >= last - 1e-12);
            last = f;
        });
        o.progress = &progress;
        const auto kept = model.generate(targets, o);
        QCOMPARE(last, 1.0);
        QVERIFY(timing.screenSeconds > 0.0 && timing.denoiseSeconds > 0.0);
        QCOMPARE(int(kept.size()), 2);
        std::vector<std::map<std::string, double>> drawnTargets;
        for (const auto& t : targets) drawnTargets.insert(drawnTargets.end(), std::size_t(k), t);
        auto plain = o;
        plain.candidates = 1;
        plain.progress = nullptr;
        plain.timing = nullptr;
        const auto drawn = model.generate(drawnTargets, plain);
        QCOMPARE(int(drawn.size()), 2 * k);
        for (std::size_t i = 0; i < targets.size(); ++i) {
            const double target = targets[i].at("ABS_f_D");
            std::size_t best = 0;
            std::vector<double> distances;
            for (std::size_t j = 0; j < std::size_t(k); ++j) {
                distances.push_back(std::abs(drawn[i * k + j].volumeFraction(ms::Donor) - target) / vfStd);
                if (distances[j] < distances[best]) best = j;
            }
            const auto& v = kept[i];
            QVERIFY(v.sameLabels(drawn[i * k + best]));
            QCOMPARE(v.attributes.at("candidates"), double(k));
            QCOMPARE(v.attributes.at("candidate"), double(best));
            QCOMPARE(v.attributes.at("sample"), double(i));
            QCOMPARE(v.attributes.at("target_ABS_f_D"), target);
            // Only ABS_f_D is constrained: the distance is its alone.
            QVERIFY(std::abs(v.attributes.at("selection_distance") - distances[best]) < 1e-9);
            QVERIFY(std::abs(v.attributes.at("ABS_f_D") - v.volumeFraction(ms::Donor)) < 1e-9);
            for (double d : distances) QVERIFY(v.attributes.at("selection_distance") <= d + 1e-12);
        }
        o.candidates = 0;
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.generate(targets, o));

        // The CLI: --candidates on generate (CSV columns) and evaluate (JSON), range checked.
        const auto cli = saveForCli(model, "ms_test_ml3d_screened");
        const fs::path& dir = cli.dir;
        const QString &folder = cli.folder, &out = cli.out;
        QString text, json;
        QCOMPARE(runCli({"generate", "--model", folder, "--target", "ABS_f_D=0.5", "-n", "2", "--steps", "2",
                         "--candidates", "3", "-o", out},
                        &text),
                 0);
        const auto written = ms::io::readHdf5(out.toStdString());
        QCOMPARE(int(written.size()), 2);
        for (const auto& v : written) {
            QCOMPARE(v.attributes.at("candidates"), 3.0);
            QVERIFY(v.attributes.count("CT_f_A_tort1"));  // measured while screening
        }
        const auto lines = csvLines(dir / "s.csv");
        QCOMPARE(lines.size(), 3);
        QVERIFY(lines[0].endsWith(",candidates,selection_distance"));
        QVERIFY(runCli({"generate", "--model", folder, "--target", "ABS_f_D=0.5", "--candidates", "0", "-o", out},
                       &text) != 0);
        QVERIFY2(text.contains("--candidates"), qPrintable(text));
        QVERIFY(runCli({"generate", "--model", folder, "--ddpm-variance", "small", "-o", out}, &text) != 0);
        QVERIFY2(text.contains("--ddpm-variance"), qPrintable(text));
        const fs::path held = dir / "held.h5";
        ms::io::writeHdf5(testSplitVolumes(6, 3), held.string());
        QCOMPARE(runCli({"evaluate", "--model", folder, "--data", QString::fromStdString(held.string()), "-n", "3",
                         "--steps", "2", "--candidates", "2", "--batch-sizes", "1", "--json"},
                        &text, &json),
                 0);
        const auto report = QJsonDocument::fromJson(json.toUtf8()).object();
        QVERIFY2(!report.isEmpty(), qPrintable(text));
        // Plain sampling first, always; the screened pass apart.
        QCOMPARE(report["r2"].toObject().size(), 3);
        QVERIFY(report["candidates"].isUndefined());
        const auto screened = report["screened"].toObject();
        QCOMPARE(screened["candidates"].toInt(), 2);
        QCOMPARE(screened["r2"].toObject().size(), 3);
        QCOMPARE(screened["r2_determination"].toObject().size(), 3);
        fs::remove_all(dir);
    }

    // Screening with a tolerance: a target stops drawing once a draw lies
    // within it, so K is only the most drawn. A tolerance every draw meets
    // keeps the first draw (the plain sample); one no draw meets draws all
    // K; one between keeps a draw within it or draws all K. Same seed, same
    // volumes; a negative tolerance is an error.
    void screenedGenerationStopsWithinTolerance() {
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 4);
        model.setTrainingData(heldOutVolumes(12, 21));
        const std::vector<std::map<std::string, double>> targets{
            {{"ABS_f_D", 0.3}}, {{"ABS_f_D", 0.5}}, {{"ABS_f_D", 0.65}}, {{"ABS_f_D", 0.8}}};
        const int k = 5;
        GenerateOptions o;
        o.steps = 3;
        o.seed = 9;
        o.batch = 4;  // one draw per open target fills a batch: round 0 is the plain draw
        o.candidates = k;
        auto plain = o;
        plain.candidates = 1;
        const auto first = model.generate(targets, plain);
        const double vfStd = model.conditionRanges().front().std;
        std::vector<double> firstDistance;
        for (std::size_t i = 0; i < targets.size(); ++i)
            firstDistance.push_back(std::abs(first[i].volumeFraction(ms::Donor) - targets[i].at("ABS_f_D")) / vfStd);

        o.tolerance = 1e9;
        const auto easy = model.generate(targets, o);
        for (std::size_t i = 0; i < targets.size(); ++i) {
            QCOMPARE(easy[i].attributes.at("candidates"), 1.0);
            QCOMPARE(easy[i].attributes.at("candidate"), 0.0);
            QVERIFY(easy[i].sameLabels(first[i]));
            QVERIFY(std::abs(easy[i].attributes.at("selection_distance") - firstDistance[i]) < 1e-9);
        }

        o.tolerance = 1e-12;
        const auto hard = model.generate(targets, o);
        for (std::size_t i = 0; i < targets.size(); ++i) {
            QCOMPARE(hard[i].attributes.at("candidates"), double(k));
            QVERIFY(hard[i].attributes.at("selection_distance") <= firstDistance[i] + 1e-12);
        }

        // Between: the median first-draw distance, so some targets stop at once and some do not.
        auto sorted = firstDistance;
        std::sort(sorted.begin(), sorted.end());
        o.tolerance = 0.5 * (sorted[1] + sorted[2]);
        ms::ProgressToken progress;
        double last = 0.0;
        progress.setListener([&](double f, const std::string&) {
            QVERIFY(f >= last - 1e-12);
            last = f;
        });
        o.progress = &progress;
        GenerateTiming timing;
        o.timing = &timing;
        const auto mixed = model.generate(targets, o);
        QCOMPARE(last, 1.0);
        QVERIFY(timing.screenSeconds > 0.0);
        int stoppedAtOnce = 0;
        for (std::size_t i = 0; i < targets.size(); ++i) {
            const auto& v = mixed[i];
            const double draws = v.attributes.at("candidates"), distance = v.attributes.at("selection_distance");
            QVERIFY(draws >= 1.0 && draws <= double(k));
            QVERIFY(v.attributes.at("candidate") < draws);
            QCOMPARE(v.attributes.at("sample"), double(i));
            QCOMPARE(v.attributes.at("seed"), 9.0);
            QVERIFY(std::abs(distance - std::abs(v.volumeFraction(ms::Donor) - targets[i].at("ABS_f_D")) / vfStd) <
                    1e-9);
            if (firstDistance[i] <= o.tolerance) {
                QCOMPARE(draws, 1.0);
                QVERIFY(v.sameLabels(first[i]));
                ++stoppedAtOnce;
            } else {
                QVERIFY(draws > 1.0);
                QVERIFY(distance <= o.tolerance || draws == double(k));
                QVERIFY(distance <= firstDistance[i] + 1e-12);  // the first draw was among those compared
            }
        }
        QCOMPARE(stoppedAtOnce, 2);
        o.progress = nullptr;
        o.timing = nullptr;
        const auto again = model.generate(targets, o);
        for (std::size_t i = 0; i < targets.size(); ++i) QVERIFY(again[i].sameLabels(mixed[i]));

        o.tolerance = -0.1;
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.generate(targets, o));
        o.tolerance = std::nan("");
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.generate(targets, o));

        // The CLI: --tolerance on generate (CSV column candidates: the draws) and evaluate (JSON).
        // Batch 2 for 2 samples: one draw each fills round 0.
        const auto cli = saveForCli(model, "ms_test_ml3d_tolerance");
        const fs::path& dir = cli.dir;
        const QString &folder = cli.folder, &out = cli.out;
        QString text, json;
        QCOMPARE(runCli({"generate", "--model", folder, "--target", "ABS_f_D=0.5", "-n", "2", "--steps", "2",
                         "--candidates", "4", "--tolerance", "1000", "--batch", "2", "-o", out},
                        &text),
                 0);
        for (const auto& v : ms::io::readHdf5(out.toStdString())) QCOMPARE(v.attributes.at("candidates"), 1.0);
        QVERIFY(runCli({"generate", "--model", folder, "--target", "ABS_f_D=0.5", "--candidates", "4", "--tolerance",
                        "-1", "-o", out},
                       &text) != 0);
        QVERIFY2(text.contains("--tolerance"), qPrintable(text));
        const fs::path held = dir / "held.h5";
        ms::io::writeHdf5(testSplitVolumes(6, 3), held.string());
        const QString csv = QString::fromStdString((dir / "e.csv").string());
        QCOMPARE(runCli({"evaluate",
                         "--model",
                         folder,
                         "--data",
                         QString::fromStdString(held.string()),
                         "-n",
                         "3",
                         "--steps",
                         "2",
                         "--candidates",
                         "3",
                         "--tolerance",
                         "1e-9",
                         "--compare-steps",
                         "4",
                         "--batch-sizes",
                         "1",
                         "--json",
                         "--csv",
                         csv},
                        &text, &json),
                 0);
        const auto report = QJsonDocument::fromJson(json.toUtf8()).object();
        QVERIFY2(!report.isEmpty(), qPrintable(text));
        // The plain figures exist with --candidates 3; the screened ones sit apart.
        for (const char* key : {"r2", "r2_determination", "mae", "described"})
            QCOMPARE(report[key].toObject().size(), 3);
        const auto screened = report["screened"].toObject();
        QCOMPARE(screened["candidates"].toInt(), 3);
        QCOMPARE(screened["tolerance"].toDouble(), 1e-9);
        QCOMPARE(screened["draws_per_sample"].toDouble(), 3.0);  // none within 1e-9: all K drawn
        for (const char* key : {"r2", "r2_determination", "mae"}) QCOMPARE(screened[key].toObject().size(), 3);
        QVERIFY(screened["s_per_sample"].toDouble() > 0.0);
        // The comparison runs on the plain samples.
        const auto compared = report["comparison"].toObject();
        QCOMPARE(compared["n"].toInt(), 3);
        QVERIFY(compared["speedup"].toDouble() > 0.0);
        const auto lines = csvLines(dir / "e.csv");
        QCOMPARE(lines.size(), 4);
        QVERIFY(lines[0].contains(",ABS_f_D_generated,ABS_f_D_screened,ABS_f_D_compared,"));
        QVERIFY(lines[0].endsWith(",draws"));
        for (int row = 1; row < lines.size(); ++row) QVERIFY(lines[row].endsWith(",3"));
        fs::remove_all(dir);
    }

    // The evaluation as a library call (issue 23): agreement measures,
    // the held-out split, and a plain-only report of a tiny model.
    void evaluateGenerator3dLibrary() {
        // Achieved = target + 1: perfectly correlated (Pearson R^2 1) but
        // biased: 1 - SS_res / SS_tot = 1 - 4 / 5.
        const auto a = agreement({1.0, 2.0, 3.0, 4.0}, {2.0, 3.0, 4.0, 5.0});
        QVERIFY(std::abs(a.r2 - 1.0) < 1e-12);
        QVERIFY(std::abs(a.determination - 0.2) < 1e-12);
        QVERIFY(std::abs(a.mae - 1.0) < 1e-12);
        QCOMPARE(a.count, std::size_t(4));
        QVERIFY(std::isnan(agreement({1.0}, {1.0}).determination));

        auto held = testSplitVolumes(6, 8);
        QCOMPARE(heldOutSplit(held), std::string("test"));
        held[2].text["split"] = "val";
        QCOMPARE(heldOutSplit(held), std::string("mixed"));
        QCOMPARE(heldOutSplit(heldOutVolumes(2, 1)), std::string("unknown"));
        held[3].text["split"] = "train";
        QVERIFY_THROWS_EXCEPTION(ms::Error, heldOutSplit(held));
        QCOMPARE(selectSamples(heldOutVolumes(6, 8), 3, 0.0).size(), std::size_t(3));

        auto model = Generator3D::create(Generator3dConfig::tiny(2), 2);
        model.setTrainingData(heldOutVolumes(12, 21));
        Evaluation3dOptions o;
        o.sampler.steps = 2;
        o.reconstruction = false;
        o.diversitySamples = 0;
        o.timingBatchSizes.clear();
        ms::ProgressToken progress;
        double last = 0.0;
        progress.setListener([&](double f, const std::string&) { last = f; });
        const auto r = evaluateGenerator3d(model, testSplitVolumes(4, 3), o, &progress);
        QCOMPARE(last, 1.0);
        QCOMPARE(r.n, std::size_t(4));
        QCOMPARE(r.split, std::string("test"));
        QCOMPARE(r.plain.r2.size(), std::size_t(3));
        QCOMPARE(r.plain.measured.size(), std::size_t(4));
        QVERIFY(!r.screened && !r.reconstruction && !r.diversity && r.timing.empty());
        QCOMPARE(r.plain.drawsPerSample(), 1.0);
        QVERIFY(r.fpR2.count("phi") && r.fpR2.count("log_time"));
        const auto json = r.toJson();
        QVERIFY(json.contains("r2") && json.contains("r2_determination") && json.contains("fp_r2") &&
                !json.contains("screened") && !json.contains("timing"));
        QCOMPARE(ms::stringAt(json, "split"), std::string("test"));
        QCOMPARE(r.csvRows().size(), std::size_t(5));
        // A round-trip-only report (no generation): its CSV has target and
        // round-trip columns only (it crashed reading the generated values).
        auto roundTrip = o;
        roundTrip.generation = false;
        roundTrip.reconstruction = true;
        const auto rows = evaluateGenerator3d(model, testSplitVolumes(4, 3), roundTrip).csvRows();
        QCOMPARE(rows.size(), std::size_t(5));
        QCOMPARE(rows[0], std::string("sample,ABS_f_D,ABS_f_D_round_trip,CT_f_D_tort1,CT_f_D_tort1_round_trip,"
                                      "CT_f_A_tort1,CT_f_A_tort1_round_trip"));
        QCOMPARE(std::count(rows[1].begin(), rows[1].end(), ','), 6L);
        o.candidates = 0;
        QVERIFY_THROWS_EXCEPTION(ms::Error, evaluateGenerator3d(model, testSplitVolumes(4, 3), o));
    }

    // Evaluation3dReport::text, the tables `evaluate` prints and the Design
    // tab copies: a hand-made report, its lines written out by hand.
    void evaluationReportText() {
        Evaluation3dReport r;
        r.model = "m";
        r.data = "t.h5";
        r.split = "test";
        r.samplerLabel = "ddim-50";
        r.batch = 8;
        r.guidance = 2.0;
        r.device = "cpu";
        r.n = 2;
        r.conditions = {"ABS_f_D", "CT_f_A_tort1"};
        r.outputs = {"ABS_f_D", "phi"};
        r.plain.r2 = {{"ABS_f_D", 0.95}, {"CT_f_A_tort1", 0.5}};
        r.plain.determination = {{"ABS_f_D", 0.9}, {"CT_f_A_tort1", -0.25}};
        r.plain.mae = {{"ABS_f_D", 0.0123}, {"CT_f_A_tort1", 0.1}};
        r.plain.described = {{"ABS_f_D", 2}, {"CT_f_A_tort1", 1}};
        r.fpR2 = {{"phi", 0.75}};
        r.fpMae = {{"phi", 0.012345}};
        ScreenedFit screened;
        screened.candidates = 4;
        screened.fit = r.plain;
        screened.fit.draws = {4, 2};
        screened.fit.secondsPerSample = 1.5;
        r.screened = screened;
        const std::string expected =
            "evaluate m on 2 held-out samples of t.h5 (split test; ddim-50, batch 8, guidance 2, cpu)\n"
            "plain sampling (one draw per target): target vs measured\n"
            "descriptor              R^2   R^2 det.        MAE described\n"
            "ABS_f_D              0.9500     0.9000     0.0123         2\n"
            "CT_f_A_tort1         0.5000    -0.2500     0.1000         1\n"
            "Screened generation (4 draws per target, best measured kept): a search over draws, not the model's "
            "figure\n"
            "3 draws per sample on average, 1.5 s per sample\n"
            "descriptor              R^2   R^2 det.        MAE described\n"
            "ABS_f_D              0.9500     0.9000     0.0123         2\n"
            "CT_f_A_tort1         0.5000    -0.2500     0.1000         1\n"
            "output                  R^2        MAE   (feature predictor on held-out latents)\n"
            "phi                  0.7500    0.01235\n";
        QCOMPARE(r.text(), expected);
        // generate --evaluate: the predictor first, then the plain fit.
        const std::string check = r.heldOutCheckText();
        QVERIFY(check.rfind("evaluate: 2 held-out samples from t.h5 (split test); sampler ddim-50, guidance 2\n"
                            "output ",
                            0) == 0);
        QVERIFY(check.find("descriptors of generated volumes vs their targets") < check.find("Screened generation"));
        // The batch travels through the worker's JSON.
        r.targets = {{{"ABS_f_D", 0.4}, {"CT_f_A_tort1", 0.5}}, {{"ABS_f_D", 0.5}, {"CT_f_A_tort1", 0.6}}};
        r.plain.measured = r.targets;
        r.screened->fit.measured = r.targets;
        QCOMPARE(Evaluation3dReport::fromJson(r.toJson()).batch, 8);
    }

    // The guidance scale is chosen on validation only, by the least plain
    // R^2 over the conditions, and travels with the model.
    void chooseGuidanceOnValidation() {
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 2);
        model.setTrainingData(heldOutVolumes(12, 21));
        QCOMPARE(model.config().guidance, 1.0);
        auto validation = heldOutVolumes(5, 4);
        for (auto& v : validation) v.text["split"] = "val";
        Evaluation3dOptions o;
        o.sampler.steps = 2;
        o.data = "val.h5";
        const std::vector<double> scales{0.0, 1.0, 2.5};
        const auto choice = chooseGuidance3d(model, validation, scales, o);
        QCOMPARE(choice.candidates.size(), scales.size());
        QCOMPARE(choice.targets, std::size_t(5));
        double best = -1e9, chosen = -1;
        for (std::size_t i = 0; i < scales.size(); ++i) {
            const auto& c = choice.candidates[i];
            QCOMPARE(c.guidance, scales[i]);
            QCOMPARE(c.r2.size(), std::size_t(3));
            double least = 1e9;
            for (const auto& [name, r2] : c.r2) least = std::min(least, r2);
            QCOMPARE(c.leastR2, least);
            if (least > best) best = least, chosen = c.guidance;
        }
        QCOMPARE(choice.chosen, chosen);
        // The printed table: a header naming the conditions, then a row per scale.
        const QStringList rows = QString::fromStdString(choice.table()).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(rows.size(), int(scales.size()) + 1);
        QVERIFY(rows[0].startsWith("guidance  least R^2"));
        for (const auto& [name, r2] : choice.candidates[0].r2) QVERIFY(rows[0].contains(QString::fromStdString(name)));
        const auto& second = choice.candidates[1];
        QString expected = QString::asprintf("%-9g %-12.3f", second.guidance, second.leastR2);
        for (const auto& [name, r2] : second.r2)
            expected += QString::asprintf(" %6.3f / %5.3f", r2, second.determination.at(name));
        QCOMPARE(rows[2], expected);
        // The same pass as evaluate's at that scale (same seed and targets).
        o.sampler.guidance = chosen;
        o.reconstruction = false;
        o.diversitySamples = 0;
        o.timingBatchSizes.clear();
        const auto again = evaluateGenerator3d(model, validation, o);
        for (const auto& [name, r2] : again.plain.r2)
            QCOMPARE(
                r2,
                choice.candidates[std::size_t(std::find(scales.begin(), scales.end(), chosen) - scales.begin())].r2.at(
                    name));
        // Without the feature predictor's pass (what the choice skips): no
        // predictor figures, the same plain pass.
        QCOMPARE(again.fpR2.size(), model.config().outputs.size());
        o.featurePredictor = false;
        const auto plainOnly = evaluateGenerator3d(model, validation, o);
        QVERIFY(plainOnly.fpR2.empty() && plainOnly.fpMae.empty());
        QCOMPARE(plainOnly.plain.r2, again.plain.r2);

        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseGuidance3d(model, testSplitVolumes(5, 4), scales, o));
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseGuidance3d(model, heldOutVolumes(5, 4), scales, o));
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseGuidance3d(model, validation, {}, o));
        QVERIFY_THROWS_EXCEPTION(ms::Error, chooseGuidance3d(model, validation, {1.0, -1.0}, o));

        recordGuidanceChoice(model, choice);
        QCOMPARE(model.config().guidance, chosen);
        const std::string why = ms::stringAt(model.metadata().training["choices"], "guidance");
        QVERIFY2(why.find("val.h5") != std::string::npos && why.find("guidance 2.5:") != std::string::npos,
                 why.c_str());
        QTemporaryDir dir;
        model.save(dir.path().toStdString());
        const auto loaded = Generator3D::load(dir.path().toStdString());
        QCOMPARE(loaded.config().guidance, chosen);
        QCOMPARE(ms::stringAt(loaded.metadata().training["choices"], "guidance"), why);
        // saveInPlace: over the files it was loaded from (a NAME.pt too), in
        // their precision; a model never loaded has no place.
        const fs::path named = fs::path(dir.path().toStdString()) / "named.pt";
        model.save(named, true);
        auto reloaded = Generator3D::load(named);
        reloaded.setGuidance(1.5);
        QCOMPARE(reloaded.saveInPlace(), named.parent_path());
        const auto inPlace = Generator3D::load(named);
        QCOMPARE(inPlace.config().guidance, 1.5);
        QCOMPARE(inPlace.metadata().weightsPrecision, std::string("float16"));
        QCOMPARE(Generator3D::load(dir.path().toStdString()).config().guidance, chosen);  // generator3d.pt untouched
        QVERIFY_THROWS_EXCEPTION(ms::Error, Generator3D::create(Generator3dConfig::tiny(), 0).saveInPlace());
        // Models from before the recorded choice sample at 1; a negative scale is refused.
        auto json = model.config().toJson();
        json.erase("guidance");
        QCOMPARE(Generator3dConfig::fromJson(json).guidance, 1.0);
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.setGuidance(-0.5));
    }

    // evaluate --choose-guidance: validation only, the best scale saved in
    // the model; generate and evaluate then sample at it unless told.
    void chooseGuidanceCommand() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_choose_guidance";
        fs::remove_all(dir);
        fs::create_directories(dir);
        auto validation = heldOutVolumes(6, 5);
        for (auto& v : validation) v.text["split"] = "val";
        ms::io::writeHdf5(validation, (dir / "val.h5").string());
        ms::io::writeHdf5(testSplitVolumes(6, 5), (dir / "test.h5").string());
        {
            auto m = Generator3D::create(Generator3dConfig::tiny(2), 0);
            m.setTrainingData(heldOutVolumes(12, 21));
            m.save(dir / "tiny", true);
        }
        auto path = [&](const char* name) { return QString::fromStdString((dir / name).string()); };
        const QStringList common{"evaluate", "--model", path("tiny"), "-n", "6", "--steps", "2"};
        QString text;
        QCOMPARE(runCli(common + QStringList{"--data", path("val.h5"), "--choose-guidance", "0,1.5"}, &text), 0);
        const auto model = Generator3D::load(dir / "tiny");
        QVERIFY2(model.config().guidance == 0.0 || model.config().guidance == 1.5, qPrintable(text));
        QVERIFY2(text.contains(QString("guidance %1 chosen").arg(model.config().guidance)), qPrintable(text));
        QCOMPARE(model.metadata().weightsPrecision, std::string("float16"));  // saved as it was
        const std::string why = ms::stringAt(model.metadata().training["choices"], "guidance");
        QVERIFY2(why.find("val.h5") != std::string::npos && why.find("guidance 1.5:") != std::string::npos,
                 why.c_str());
        // Test or unmarked samples never choose; a malformed list is a usage error.
        QCOMPARE(runCli(common + QStringList{"--data", path("test.h5"), "--choose-guidance", "1,2"}, &text), 1);
        QVERIFY2(text.contains("validation split only"), qPrintable(text));
        QCOMPARE(runCli(common + QStringList{"--data", path("val.h5"), "--choose-guidance", "1,x"}, &text), 2);
        QVERIFY2(text.contains("--choose-guidance must be"), qPrintable(text));
        QCOMPARE(runCli(common + QStringList{"--data", path("val.h5"), "--choose-guidance", "1,200"}, &text), 2);
        // The recorded scale is the sampling default; --guidance still overrides it.
        auto chosen = Generator3D::load(dir / "tiny");
        chosen.setGuidance(2.5);
        chosen.save(dir / "tiny", true);
        QCOMPARE(runCli({"generate", "--model", path("tiny"), "--target", "ABS_f_D=0.5", "-n", "1", "--steps", "2",
                         "--no-measure", "-o", path("g.h5")},
                        &text),
                 0);
        QCOMPARE(ms::io::readHdf5((dir / "g.h5").string())[0].attributes.at("guidance"), 2.5);
        QCOMPARE(runCli({"generate", "--model", path("tiny"), "--target", "ABS_f_D=0.5", "-n", "1", "--steps", "2",
                         "--guidance", "1", "--no-measure", "-o", path("g1.h5")},
                        &text),
                 0);
        QCOMPARE(ms::io::readHdf5((dir / "g1.h5").string())[0].attributes.at("guidance"), 1.0);
        QString json;
        QCOMPARE(
            runCli(common + QStringList{"--data", path("test.h5"), "--json", "--diversity", "2", "--batch-sizes", "1"},
                   &text, &json),
            0);
        QCOMPARE(QJsonDocument::fromJson(json.toUtf8()).object()["guidance"].toDouble(), 2.5);
        fs::remove_all(dir);
    }

    // The training-condition cloud on a uniform 20 x 20 grid: every
    // z-scored nearest-neighbour distance is step / std = 1 / sqrt((20^2-1)/12),
    // so that is the 99th percentile; a point between grid points is
    // feasible, a far one is not and gets the nearest grid point proposed.
    void feasibilityCloudOnGrid() {
        std::vector<std::vector<double>> rows;
        for (int i = 0; i < 20; ++i)
            for (int j = 0; j < 20; ++j) rows.push_back({double(i) / 19.0, 2.0 * double(j) / 19.0});
        const auto cloud = ConditionCloud::fromSamples({"a", "b"}, rows);
        QCOMPARE(int(cloud.size()), 400);
        const double spacing = 1.0 / std::sqrt((400.0 - 1.0) / 12.0);
        QVERIFY(std::fabs(cloud.threshold() - spacing) < 1e-9);
        const auto inside = cloud.check({{"a", 5.4 / 19.0}, {"b", 2.0 * 7.0 / 19.0}});
        QVERIFY(inside.known && inside.feasible);
        QVERIFY(std::fabs(inside.distance - 0.4 * spacing) < 1e-9);
        const auto outside = cloud.check({{"a", 1.5}, {"b", 0.52}});
        QVERIFY(outside.known && !outside.feasible);
        QVERIFY(outside.distance > cloud.threshold());
        // Proposal: the grid point nearest in z-scored space, (1, 2*5/19).
        QVERIFY(std::fabs(outside.nearest.at("a") - 1.0) < 1e-9);
        QVERIFY(std::fabs(outside.nearest.at("b") - 10.0 / 19.0) < 1e-9);
        QVERIFY(QString::fromStdString(outside.message()).contains("nearest feasible target: a=1,b=0.5263"));
        // A missing condition takes the mean (1.0 for b: the grid middle).
        QCOMPARE(cloud.check({{"a", 0.0}}).target.at("b"), 1.0);
        QVERIFY_THROWS_EXCEPTION(ms::Error, cloud.check({{"c", 0.0}}));
        // JSON round trip gives the same answers; a subsample spans the data.
        const auto back = ConditionCloud::fromJson(cloud.toJson());
        QCOMPARE(back.threshold(), cloud.threshold());
        const auto backNearest = back.check({{"a", 1.5}, {"b", 0.52}}).nearest;  // stored to 1e-5 std
        QVERIFY(std::fabs(backNearest.at("a") - 1.0) < 1e-4 && std::fabs(backNearest.at("b") - 10.0 / 19.0) < 1e-4);
        const auto small = ConditionCloud::fromSamples({"a", "b"}, rows, 100);
        QCOMPARE(int(small.size()), 100);
        QCOMPARE(small.point(99).at("a"), rows[396][0]);
        // One odd training point far away: the 99th percentile ignores it
        // only when it is < 1% of the data (nearest-rank).
        rows.push_back({10.0, 10.0});
        QVERIFY(ConditionCloud::fromSamples({"a", "b"}, rows).threshold() < 2.0 * spacing);
    }

    // Generator3D: training data sets ranges and the cloud, both persist;
    // per-sample targets equal the constant form; timing is split.
    // The torch-free card the studio reads (GeneratorCard::read, JSON only)
    // says what the loaded model says: configuration, weights file, ranges,
    // condition cloud and feasibility, on the shipped gen3d-ch2; the held-out
    // default is the shipped subset; a folder without a model is one error.
    void cardReadsWhatTheLoadedModelCarries() {
        const fs::path shipped = fs::path(MICROSTUDIO_SOURCE_DIR) / "resources/models/gen3d-ch2";
        const auto card = GeneratorCard::read(shipped);
        const auto model = Generator3D::load(shipped);
        QCOMPARE(card.weightsPath(), model.weightsPath());
        QVERIFY(card.config().toJson() == model.config().toJson());
        QCOMPARE(card.conditionNames(), model.conditionNames());
        const auto a = card.featureRanges(), b = model.featureRanges();
        QCOMPARE(a.size(), b.size());
        for (std::size_t k = 0; k < a.size(); ++k) {
            QCOMPARE(a[k].name, b[k].name);
            QCOMPARE(a[k].min, b[k].min);
            QCOMPARE(a[k].max, b[k].max);
            QCOMPARE(a[k].mean, b[k].mean);
            QCOMPARE(a[k].std, b[k].std);
        }
        QCOMPARE(card.conditionRanges().size(), std::size_t(3));
        QVERIFY(card.trainingConditions().size() > 100);
        QCOMPARE(card.trainingConditions().size(), model.trainingConditions().size());
        for (const std::map<std::string, double>& target :
             {std::map<std::string, double>{{"ABS_f_D", 0.5}}, {{"ABS_f_D", 0.95}, {"CT_f_D_tort1", 0.1}}}) {
            const auto x = card.feasibility(target), y = model.feasibility(target);
            QVERIFY(x.known && y.known);
            QCOMPARE(x.feasible, y.feasible);
            QCOMPARE(x.distance, y.distance);
            QVERIFY(x.nearest == y.nearest);
        }
        QVERIFY(!card.feasibility({{"ABS_f_D", 0.95}, {"CT_f_D_tort1", 0.1}}).feasible);
        QCOMPARE(fs::path(defaultHeldOutData(card)), shipped / kShippedHeldOut);
        QVERIFY(trainingMinPhaseFraction(card) > 0.0);
        const fs::path empty = fs::temp_directory_path() / "ms_test_ml3d_no_model";
        fs::create_directories(empty);
        QVERIFY_THROWS_EXCEPTION(ms::Error, GeneratorCard::read(empty));
    }

    // Reading the training data tells its progress and can be cancelled:
    // sample by sample when only some are read (a limit), the whole file
    // at the end otherwise (a large one also as it goes: test_io).
    void trainingDataReadReportsProgressAndCancels() {
        QTemporaryDir dir;
        const std::string train = dir.filePath("train.h5").toStdString(), val = dir.filePath("val.h5").toStdString();
        auto volumes = toyVolumes(6, ms::Dims{16, 16, 8}, 3);
        for (auto& v : volumes) v.text["split"] = "train";
        ms::io::writeHdf5(volumes, train);
        for (auto& v : volumes) v.text["split"] = "val";
        ms::io::writeHdf5(volumes, val);
        QStringList messages;
        ms::ProgressToken token;
        token.setListener([&](double, const std::string& m) { messages << QString::fromStdString(m); });
        const auto limited = loadTrainingSamples({train, val, 4, 0, 0.0}, &token);
        QCOMPARE(limited.train.size(), std::size_t(4));
        QCOMPARE(limited.validation.size(), std::size_t(6));
        QVERIFY2(messages.contains("reading train.h5: 4 of 4 samples"), qPrintable(messages.join(" | ")));
        QCOMPARE(messages.last(), QString("read val.h5: 6 samples"));
        ms::ProgressToken cancelled;
        cancelled.cancel();
        QVERIFY_THROWS_EXCEPTION(ms::Cancelled, loadTrainingSamples({train, val, 4, 0, 0.0}, &cancelled));
        QVERIFY_THROWS_EXCEPTION(ms::Cancelled, loadTrainingSamples({train, val, 0, 0, 0.0}, &cancelled));
        QCOMPARE(loadTrainingSamples({train, val, 0, 0, 0.0}).train.size(), std::size_t(6));  // the reader is whole
    }

    // Every generator shipped in resources/models (gen3d-ch2, gen3d-ch3 when
    // present) carries what the protocol of docs/ml3d.md promises: figures
    // read on the test split for every condition and processing output, the
    // held-out subset of the same split (at most 64 volumes) in the model's
    // phase count, and a model that loads and generates in that phase count.
    void everyShippedGeneratorCarriesItsTestFigures() {
        const fs::path models = fs::path(MICROSTUDIO_SOURCE_DIR) / "resources/models";
        int found = 0;
        for (const auto& entry : fs::directory_iterator(models)) {
            if (!fs::exists(entry.path() / "generator3d.json")) continue;
            ++found;
            const std::string name = entry.path().filename().string();
            const auto card = GeneratorCard::read(entry.path());
            const auto evaluation = readModelEvaluation(entry.path());
            QVERIFY2(evaluation.known && evaluation.split == "test" && evaluation.targets >= 256, name.c_str());
            for (const auto& condition : card.conditionNames())
                QVERIFY2(evaluation.plainR2.count(condition), (name + ": " + condition).c_str());
            for (const char* output : {"phi", "log_time"})
                QVERIFY2(evaluation.featureR2.count(output), (name + ": " + output).c_str());
            const auto heldOut = ms::io::readSamples((entry.path() / kShippedHeldOut).string());
            QVERIFY2(!heldOut.empty() && heldOut.size() <= 64, name.c_str());
            QCOMPARE(heldOutSplit(heldOut), std::string("test"));
            int phases = 0;
            for (const auto& v : heldOut) phases = std::max(phases, v.phaseCount());
            QCOMPARE(phases, card.config().vae.phases);
            const auto model = Generator3D::load(entry.path());
            const auto v = model.generate(std::map<std::string, double>{}, 1, 2, model.config().guidance, 1);
            QCOMPARE(v.size(), std::size_t(1));
            QVERIFY2(v[0].phaseCount() <= card.config().vae.phases, name.c_str());
        }
        QVERIFY(found >= 1);
    }

    void generatorFeasibilityAndTargets() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_feasible";
        fs::remove_all(dir);
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 4);
        QVERIFY(!model.feasibility({{"ABS_f_D", 9.0}}).known);  // untrained: unknown, never refused
        const auto data = heldOutVolumes(24, 8);
        model.setTrainingData(data);
        QCOMPARE(int(model.trainingConditions().size()), 24);
        QCOMPARE(model.conditionRanges()[1].min, 0.7);
        QCOMPARE(model.featureRanges()[3].name, std::string("phi"));
        QCOMPARE(model.featureRanges()[3].max, 0.3 + 0.01 * 23);
        const auto& a = data[5].attributes;
        const std::map<std::string, double> inside{{"ABS_f_D", a.at("ABS_f_D")},
                                                   {"CT_f_D_tort1", a.at("CT_f_D_tort1")},
                                                   {"CT_f_A_tort1", a.at("CT_f_A_tort1")}};
        QVERIFY(model.feasibility(inside).feasible);
        QCOMPARE(model.feasibility(inside).distance, 0.0);
        const auto far = model.feasibility({{"ABS_f_D", 3.0}, {"CT_f_D_tort1", 0.7}});
        QVERIFY(!far.feasible);
        bool proposalIsTrainingPoint = false;
        for (const auto& v : data)
            if (std::fabs(v.attributes.at("ABS_f_D") - far.nearest.at("ABS_f_D")) < 1e-4 &&
                std::fabs(v.attributes.at("CT_f_D_tort1") - far.nearest.at("CT_f_D_tort1")) < 1e-4 &&
                std::fabs(v.attributes.at("CT_f_A_tort1") - far.nearest.at("CT_f_A_tort1")) < 1e-4)
                proposalIsTrainingPoint = true;
        QVERIFY(proposalIsTrainingPoint);
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.feasibility({{"vol_frac_M", 0.1}}));
        model.save(dir);
        auto loaded = Generator3D::load(dir);
        QCOMPARE(int(loaded.trainingConditions().size()), 24);
        QVERIFY(std::fabs(loaded.trainingConditions().threshold() - model.trainingConditions().threshold()) < 1e-12);
        QVERIFY(!loaded.feasibility({{"ABS_f_D", 3.0}, {"CT_f_D_tort1", 0.7}}).feasible);
        // Per-sample targets: equal targets give the constant form's volumes.
        GenerateOptions o;
        o.steps = 3;
        o.seed = 5;
        o.batch = 2;
        GenerateTiming timing;
        o.timing = &timing;
        const auto constant = loaded.generate(inside, 3, o);
        QVERIFY(timing.denoiseSeconds > 0.0 && timing.decodeSeconds > 0.0);
        const auto perSample = loaded.generate(std::vector<std::map<std::string, double>>(3, inside), o);
        for (int i = 0; i < 3; ++i) QVERIFY(constant[std::size_t(i)].sameLabels(perSample[std::size_t(i)]));
        auto varied = std::vector<std::map<std::string, double>>{inside, {{"ABS_f_D", 0.2}}, inside};
        const auto mixed = loaded.generate(varied, o);
        QCOMPARE(mixed[1].attributes.at("target_ABS_f_D"), 0.2);
        QCOMPARE(mixed[1].attributes.at("target_CT_f_D_tort1"), loaded.conditionRanges()[1].mean);
        QVERIFY(mixed[0].sameLabels(constant[0]));  // sample 0 of batch 0: same noise, same context
        fs::remove_all(dir);
    }

    // generate's three target modes, measured descriptors, CSV, .vti per
    // sample, feasibility warning and --strict; then evaluate --json.
    void generateModesAndEvaluate() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_modes";
        fs::remove_all(dir);
        fs::create_directories(dir);
        const auto held = testSplitVolumes(12, 21);
        ms::io::writeHdf5(held, (dir / "held.h5").string());
        const QString heldPath = QString::fromStdString((dir / "held.h5").string());
        const QString model = QString::fromStdString((dir / "tiny").string());
        auto path = [&](const char* name) { return QString::fromStdString((dir / name).string()); };
        QString text, out;
        {
            // The tiny model with ranges and training cloud from the held-out
            // file (as `generate --create-tiny D --ranges-from` writes it),
            // and that file recorded as its validation data.
            auto m = Generator3D::create(Generator3dConfig::tiny(2), 0);
            m.setTrainingData(held);
            m.metadata().training["validation_data"] = (dir / "held.h5").string();
            m.save(dir / "tiny");
        }

        // Constant target: measured descriptors on every volume, CSV rows.
        QCOMPARE(runCli({"generate", "--model", model, "--target", "ABS_f_D=0.6", "-n", "2", "--steps", "3", "-o",
                         path("const.h5")},
                        &text),
                 0);
        const auto constant = ms::io::readHdf5((dir / "const.h5").string());
        QCOMPARE(int(constant.size()), 2);
        for (const auto& v : constant) {
            QVERIFY(v.hasField());
            QCOMPARE(v.attributes.at("target_ABS_f_D"), 0.6);
            // Measured ABS_f_D is the Donor fraction of the stored labels.
            QVERIFY(std::fabs(v.attributes.at("ABS_f_D") - v.volumeFraction(ms::Donor)) < 1e-9);
            QVERIFY(v.attributes.count("CT_f_A_tort1") && v.attributes.count("predicted_log_time"));
        }
        auto lines = csvLines(dir / "const.csv");
        QCOMPARE(lines.size(), 3);
        const auto header = lines[0].split(',');
        QVERIFY(header.contains("target_ABS_f_D") && header.contains("predicted_chi"));
        const int measuredColumn = int(header.indexOf("measured_ABS_f_D"));
        QVERIFY(measuredColumn > 0);
        QVERIFY(std::fabs(lines[2].split(',')[measuredColumn].toDouble() - constant[1].attributes.at("ABS_f_D")) <
                1e-5);

        // Random targets: within --range, the others within the training range.
        QCOMPARE(runCli({"generate", "--model", model, "--random-targets", "--range", "ABS_f_D=0.3:0.4", "-n", "4",
                         "--steps", "2", "--seed", "3", "--no-measure", "-o", path("random.h5")},
                        &text),
                 0);
        const auto random = ms::io::readHdf5((dir / "random.h5").string());
        QCOMPARE(int(random.size()), 4);
        QVERIFY(random[0].attributes.at("target_ABS_f_D") != random[1].attributes.at("target_ABS_f_D"));
        for (const auto& v : random) {
            QVERIFY(v.attributes.at("target_ABS_f_D") >= 0.3 && v.attributes.at("target_ABS_f_D") <= 0.4);
            QVERIFY(v.attributes.at("target_CT_f_D_tort1") >= 0.7 && v.attributes.at("target_CT_f_D_tort1") <= 0.92);
        }

        // Targets from a data set: evenly spaced samples' attributes (0, 4, 8 of 12).
        QCOMPARE(runCli({"generate", "--model", model, "--targets-from", heldPath, "-n", "3", "--steps", "2", "-o",
                         path("from.vti")},
                        &text),
                 0);
        for (int i = 0; i < 3; ++i) {
            const auto v = ms::io::readVolume(dir / ("from_00000" + std::to_string(i) + ".vti"));
            QVERIFY(v.hasField());
            QVERIFY(std::fabs(v.attributes.at("target_CT_f_D_tort1") -
                              held[std::size_t(4 * i)].attributes.at("CT_f_D_tort1")) < 1e-9);
            QCOMPARE(v.attributes.at("target_feasible"), 1.0);  // training points are feasible
        }
        QCOMPARE(csvLines(dir / "from.csv").size(), 4);

        // Infeasible target: a warning with a proposal; --strict refuses.
        QVERIFY(runCli({"generate", "--model", model, "--target", "ABS_f_D=4", "--strict", "-o", path("far.vti")},
                       &text) != 0);
        QVERIFY2(text.contains("warning") && text.contains("nearest feasible target") && text.contains("--strict"),
                 qPrintable(text));
        QVERIFY(!fs::exists(dir / "far.vti"));
        QVERIFY(runCli({"generate", "--model", model, "--target", "ABS_f_D=0.5", "--random-targets", "-o",
                        path("x.h5")}) != 0);

        // evaluate --json; the held-out data default to the recorded validation data.
        // --training: the held-out file itself, 6 of its 12 samples (0, 2, ..., 10).
        // --save: the report as evaluation.json in the model's folder.
        QCOMPARE(runCli({"evaluate", "--model", model, "-n", "4", "--steps", "2", "--batch-sizes", "1,2", "--json",
                         "--csv", path("eval.csv"), "--training", heldPath, "--training-count", "6", "--save"},
                        &text, &out),
                 0);
        const auto report = QJsonDocument::fromJson(out.toUtf8()).object();
        QVERIFY2(!report.isEmpty(), qPrintable(text));
        QCOMPARE(report["n"].toInt(), 4);
        QCOMPARE(report["split"].toString(), QString("test"));
        QVERIFY(report["screened"].isUndefined());  // plain sampling only without --candidates
        QCOMPARE(report["r2_determination"].toObject().size(), 3);
        {
            // The studio reads the saved report back: split, targets, feature predictor R^2.
            const auto saved = ms::ml::readModelEvaluation(dir / "tiny");
            QVERIFY(saved.known);
            QCOMPARE(saved.split, std::string("test"));
            QCOMPARE(saved.targets, 4L);
            QVERIFY(saved.data.size() > 0 && QString::fromStdString(saved.data).endsWith("held.h5"));
            const auto fp = report["fp_r2"].toObject();
            QVERIFY(saved.featureR2.count("phi"));
            QVERIFY(std::abs(saved.featureR2.at("phi") - fp["phi"].toDouble()) < 1e-12);
            QCOMPARE(saved.featureR2.size(), std::size_t(fp.size()));
        }
        QCOMPARE(report["steps"].toInt(), 2);
        const auto r2 = report["r2"].toObject();
        QCOMPARE(r2.size(), 3);
        for (const auto& key : r2.keys())
            QVERIFY(r2[key].isNull() || (r2[key].toDouble() >= 0.0 && r2[key].toDouble() <= 1.0 + 1e-12));
        QVERIFY(report["fp_r2"].toObject().contains("phi") && report["fp_r2"].toObject().contains("log_time"));
        QVERIFY(report["denoise_s_per_sample"].toDouble() > 0.0 && report["decode_s_per_sample"].toDouble() > 0.0);
        QCOMPARE(report["timing"].toArray().size(), 2);
        const auto diversity = report["diversity"].toObject();
        const double disagreement = diversity["mean_voxel_disagreement"].toDouble();
        QVERIFY(disagreement > 0.0 && disagreement < 1.0);
        QCOMPARE(diversity["std"].toObject().size(), 3);
        QVERIFY(report["data"].toString().endsWith("held.h5"));
        const auto reconstruction = report["reconstruction"].toObject();
        QVERIFY(reconstruction["voxel_accuracy"].toDouble() > 0.0 &&
                reconstruction["voxel_accuracy"].toDouble() <= 1.0);
        QCOMPARE(reconstruction["r2"].toObject().size(), 3);
        // The determination beside it: never above the squared Pearson R^2 of
        // the same pairs (R^2 is the best determination over affine maps of the
        // measured values; the identity is one of them), and the MAE.
        const auto roundTripR2 = reconstruction["r2"].toObject(),
                   roundTripDet = reconstruction["r2_determination"].toObject();
        QCOMPARE(roundTripDet.size(), 3);
        QCOMPARE(reconstruction["mae"].toObject().size(), 3);
        for (const auto& key : roundTripR2.keys())
            if (!roundTripR2[key].isNull()) QVERIFY(roundTripDet[key].toDouble() <= roundTripR2[key].toDouble() + 1e-9);
        // Per z-slice accuracy: one value per slice, averaging to the overall one.
        const auto byZ = reconstruction["voxel_accuracy_by_z"].toArray();
        QVERIFY(byZ.size() > 1);
        double meanByZ = 0.0;
        for (const auto& v : byZ) meanByZ += v.toDouble() / double(byZ.size());
        QVERIFY(std::abs(meanByZ - reconstruction["voxel_accuracy"].toDouble()) < 1e-9);
        const auto targetStd = report["target_std"].toObject();
        QCOMPARE(targetStd.size(), 3);
        for (const auto& key : targetStd.keys()) QVERIFY(targetStd[key].toDouble() >= 0.0);
        // --csv: a header and one row per target: sample + (target, round trip, generated) x 3.
        {
            QFile csv(path("eval.csv"));
            QVERIFY(csv.open(QIODevice::ReadOnly));
            const auto lines = QString::fromUtf8(csv.readAll()).trimmed().split('\n');
            QCOMPARE(lines.size(), 5);
            QVERIFY(lines[0].startsWith("sample,") && lines[0].contains("CT_f_A_tort1_round_trip"));
            // target, round trip, generated per condition (no draws column: plain sampling)
            for (const auto& line : lines) QCOMPARE(line.split(',').size(), 10);
            QCOMPARE(lines[0].split(',').last(), QString("CT_f_A_tort1_generated"));
            QCOMPARE(lines[4].split(',')[0], QString("3"));
            // r2_determination = 1 - SS_res / SS_tot of target vs generated (the CSV's 6 digits).
            const auto header = lines[0].split(',');
            const int target = int(header.indexOf("ABS_f_D")), generated = int(header.indexOf("ABS_f_D_generated"));
            std::vector<double> t, g;
            for (int row = 1; row < lines.size(); ++row) {
                const auto cells = lines[row].split(',');
                if (cells[generated].isEmpty()) continue;
                t.push_back(cells[target].toDouble());
                g.push_back(cells[generated].toDouble());
            }
            QCOMPARE(report["described"].toObject()["ABS_f_D"].toInt(), int(t.size()));
            double mean = 0.0, residual = 0.0, total = 0.0;
            for (double v : t) mean += v / double(t.size());
            for (std::size_t i = 0; i < t.size(); ++i) {
                residual += (t[i] - g[i]) * (t[i] - g[i]);
                total += (t[i] - mean) * (t[i] - mean);
            }
            const double expected = 1.0 - residual / total,
                         reported = report["r2_determination"].toObject()["ABS_f_D"].toDouble();
            QVERIFY2(std::abs(reported - expected) < 1e-3 * std::max(1.0, std::abs(expected)),
                     qPrintable(QString("%1 vs %2").arg(reported).arg(expected)));
        }
        {
            // Memorisation: nearest-training disagreement per set, all in [0, 1].
            const auto memo = report["memorisation"].toObject();
            QCOMPARE(memo["training_count"].toInt(), 6);
            // Also the held-out volumes' VAE round trips (the decoder alone).
            for (const char* set : {"generated", "held_out", "round_trip"}) {
                const auto s = memo[set].toObject();
                QCOMPARE(s["n"].toInt(), 4);
                const auto d = s["nearest_disagreement"].toObject();
                for (const char* key : {"min", "q1", "median", "q3", "max", "mean"})
                    QVERIFY2(d[key].isDouble() && d[key].toDouble() >= 0.0 && d[key].toDouble() <= 1.0, key);
                QVERIFY(d["min"].toDouble() <= d["median"].toDouble() && d["median"].toDouble() <= d["max"].toDouble());
                QVERIFY(s["interface_density"].toDouble() >= 0.0 && s["interface_density"].toDouble() <= 1.0);
                QVERIFY(!s["s2_donor"].toArray().isEmpty());
                for (const auto& v : s["s2_donor"].toArray()) QVERIFY(v.toDouble() >= 0.0 && v.toDouble() <= 1.0);
            }
            // Held-out targets 0, 3, 6, 9: samples 0 and 6 are in the training subset.
            QCOMPARE(memo["held_out"].toObject()["nearest_disagreement"].toObject()["min"].toDouble(), 0.0);
            QVERIFY(memo["s2_rms_difference"].toDouble() >= 0.0 && memo["s2_rms_difference"].toDouble() <= 1.0);
            QVERIFY(memo["generated_median_ge_held_out_median"].isBool());
        }
        QVERIFY(report["comparison"].isUndefined());
        // Another sampler on a subset of the same targets, in the same run.
        QCOMPARE(
            runCli({"evaluate", "--model", model, "-n", "4", "--steps", "2", "--compare-steps", "6", "--compare-count",
                    "2", "--batch-sizes", "1", "--threads", "1", "--json", "--csv", path("compared.csv")},
                   &text, &out),
            0);
        {
            // Per condition also the other sampler's value, on its 2 of the 4 targets only.
            const auto lines = csvLines(dir / "compared.csv");
            QCOMPARE(lines.size(), 5);
            const auto header = lines[0].split(',');
            QCOMPARE(header.size(), 13);  // sample + (target, round trip, generated, compared) x 3
            QCOMPARE(header.last(), QString("CT_f_A_tort1_compared"));
            const int column = int(header.indexOf("ABS_f_D_compared"));
            QVERIFY(column > 0);
            int filled = 0;
            for (int row = 1; row < lines.size(); ++row) {
                const auto cells = lines[row].split(',');
                QCOMPARE(cells.size(), 13);
                filled += !cells[column].isEmpty();
            }
            QCOMPARE(filled, 2);
        }
        const auto compared = QJsonDocument::fromJson(out.toUtf8()).object()["comparison"].toObject();
        QVERIFY2(!compared.isEmpty(), qPrintable(text));
        QCOMPARE(compared["n"].toInt(), 2);
        QCOMPARE(compared["steps"].toInt(), 6);
        QCOMPARE(compared["sampler"].toString(), QString("ddim"));
        QCOMPARE(compared["r2"].toObject().size(), 3);
        QCOMPARE(compared["r2_main_sampler"].toObject().size(), 3);
        // The difference's bootstrap interval needs 3 targets both samplers described: none of 2.
        const auto intervals = compared["r2_difference_ci95"].toObject();
        QCOMPARE(intervals.size(), 3);
        for (const auto& range : intervals) QVERIFY(range.isArray() && range.toArray().isEmpty());
        // The ratio of the two passes' measured seconds per sample (no timing asserted).
        const double seconds = compared["s_per_sample"].toDouble(), main = compared["main_s_per_sample"].toDouble();
        QVERIFY(seconds > 0.0 && main > 0.0);
        QVERIFY(std::abs(compared["speedup"].toDouble() - main / seconds) <= 1e-9 * (main / seconds));
        // Default data: the shipped test subset in the model's folder, when there.
        fs::copy_file(dir / "held.h5", dir / "tiny" / "heldout-test.h5");
        QCOMPARE(runCli({"evaluate", "--model", model, "-n", "2", "--steps", "1", "--batch-sizes", "1", "--json"},
                        &text, &out),
                 0);
        QVERIFY2(QJsonDocument::fromJson(out.toUtf8()).object()["data"].toString().endsWith("tiny/heldout-test.h5"),
                 qPrintable(text));
        QVERIFY2(text.contains("heldout-test.h5 (split test)"), qPrintable(text));
        // Samples of the train split are refused, one line.
        {
            auto trainSplit = heldOutVolumes(4, 5);
            trainSplit[1].text["split"] = "train";
            ms::io::writeHdf5(trainSplit, (dir / "train-split.h5").string());
        }
        QVERIFY(runCli({"evaluate", "--model", model, "--data", path("train-split.h5"), "-n", "4"}, &text) != 0);
        QVERIFY2(text.contains("1 of 4 samples of the train split"), qPrintable(text));
        // A filter no held-out sample passes: a clear error.
        QVERIFY(runCli({"evaluate", "--model", model, "-n", "2", "--min-phase-fraction", "0.499"}, &text) != 0);
        QVERIFY2(text.contains("--min-phase-fraction"), qPrintable(text));
        // Without --model: the shipped model, with a clear error when absent.
        auto environment = QProcessEnvironment::systemEnvironment();
        environment.insert("MICROSTUDIO_MODELS", path("no-models"));
        if (!fs::exists(fs::path(MICROSTUDIO_SOURCE_DIR) / "resources/models/gen3d-ch2")) {
            QVERIFY(runCli({"evaluate", "-n", "1"}, &text, nullptr, environment) != 0);
            QVERIFY2(text.contains("gen3d-ch2") && text.contains("not installed"), qPrintable(text));
        }
        fs::remove_all(dir);
    }

    // microstudio-cli generate with an untrained tiny model.
    void generateCommandEndToEnd() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_cli";
        fs::remove_all(dir);
        auto run = [](const QStringList& arguments, QString* output = nullptr) {
            QProcess p;
            p.start(MICROSTUDIO_CLI, arguments);
            p.waitForFinished(120000);
            if (output) *output = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
            return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        };
        const QString model = QString::fromStdString((dir / "tiny").string());
        const QString out = QString::fromStdString((dir / "out.h5").string());
        QCOMPARE(run({"generate", "--create-tiny", model, "--phases", "3"}), 0);
        QString text;
        QCOMPARE(run({"generate", "--model", model, "--info"}, &text), 0);
        QVERIFY(text.contains("vol_frac_M") && text.contains("log_time"));
        QCOMPARE(run({"generate", "--model", model, "--target", "vol_frac_D=0.4,tortuosity_A=1.2", "-n", "2", "--steps",
                      "5", "--guidance", "1.5", "--seed", "7", "-o", out},
                     &text),
                 0);
        const auto volumes = ms::io::readHdf5((dir / "out.h5").string());
        QCOMPARE(int(volumes.size()), 2);
        QCOMPARE(volumes[0].dims(), (ms::Dims{16, 16, 8}));
        QCOMPARE(volumes[1].attributes.at("target_vol_frac_D"), 0.4);
        QVERIFY(volumes[1].attributes.count("predicted_chi"));
        // Bad input: a clear error and a non-zero exit.
        QVERIFY(run({"generate", "--model", model, "--target", "ABS_f_D=0.5", "-o", out}, &text) != 0);
        QVERIFY(text.contains("unknown condition"));
        QVERIFY(run({"generate", "--model", model, "--target", "vol_frac_D=x", "-o", out}) != 0);
        QVERIFY(run({"generate", "--model", model, "-n", "0", "-o",
                     QString::fromStdString((dir / "one.vti").string())}) != 0);
        fs::remove_all(dir);
    }

    // microstudio-cli train3d on a tiny dataset: all stages, resume after
    // --stop-after, skip of finished stages, then generate with the result.
    void train3dCommandEndToEnd() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_train";
        fs::remove_all(dir);
        fs::create_directories(dir);
        auto data = toyVolumes(8, ms::Dims{16, 16, 8}, 5);
        for (std::size_t i = 0; i < data.size(); ++i) data[i].attributes["phi"] = 0.3 + 0.05 * double(i);
        ms::io::writeHdf5(data, (dir / "train.h5").string());
        auto run = [](const QStringList& arguments, QString* output = nullptr) {
            QProcess p;
            p.start(MICROSTUDIO_CLI, arguments);
            p.waitForFinished(300000);
            if (output) *output = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
            return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        };
        const QString model = QString::fromStdString((dir / "model").string());
        const QStringList common = {"train3d",
                                    "--data",
                                    QString::fromStdString((dir / "train.h5").string()),
                                    "--out",
                                    model,
                                    "--val",
                                    QString::fromStdString((dir / "train.h5").string()),
                                    "--config",
                                    "tiny",
                                    "--conditions",
                                    "ABS_f_D",
                                    "--outputs",
                                    "ABS_f_D,phi",
                                    "--epochs",
                                    "2",
                                    "--batch",
                                    "4",
                                    "--lr",
                                    "1e-3",
                                    "--cpu",
                                    "--threads",
                                    "1"};
        QString text;
        QVERIFY(run(common + QStringList{"--diffusion-augment", "9"}, &text) != 0);
        QVERIFY2(text.contains("1 to 8 symmetry variants"), qPrintable(text));
        QVERIFY(!fs::exists(dir / "model" / "generator3d.pt"));
        // 3 steps: the VAE stops mid-way with a checkpoint.
        QCOMPARE(run(common + QStringList{"--stop-after", "3"}, &text), 0);
        QVERIFY2(text.contains("stopped at --stop-after"), qPrintable(text));
        QVERIFY(fs::exists(dir / "model" / "vae.ckpt"));
        QCOMPARE(run(common, &text), 0);
        QVERIFY2(text.contains("resumed"), qPrintable(text));
        QVERIFY(!fs::exists(dir / "model" / "vae.ckpt"));
        auto trained = Generator3D::load(dir / "model");
        QVERIFY(trained.metadata().training.contains("diffusion"));
        QCOMPARE(trained.conditionRanges()[0].name, std::string("ABS_f_D"));
        QCOMPARE(trained.featureRanges()[1].min, 0.3);
        // The features stage stores the training conditions (feasibility) and
        // train3d records the validation data for `evaluate`.
        QCOMPARE(int(trained.trainingConditions().size()), 8);
        QCOMPARE(ms::stringOr(trained.metadata().training, "validation_data", ""),
                 fs::absolute(dir / "train.h5").string());
        QCOMPARE(run(common, &text), 0);  // everything trained: all stages skipped
        QVERIFY2(text.contains("diffusion already trained"), qPrintable(text));
        // Retraining the DDPM on two symmetry variants of each volume.
        QCOMPARE(run(common + QStringList{"--stage", "diffusion", "--diffusion-augment", "2"}, &text), 0);
        const auto augmented = Generator3D::load(dir / "model");
        QCOMPARE(augmented.config().diffusionAugment, 2);
        QCOMPARE(ms::numberOr(ms::memberAt(augmented.metadata().training, "diffusion"), "symmetry_variants", 0), 2.0);
        QCOMPARE(ms::numberOr(ms::memberAt(augmented.metadata().training, "diffusion"), "steps", 0), 2.0 * 4);
        // The feature predictor swapped for the conv head and trained on two
        // symmetry variants; `--stage all` retrains that stage only.
        QCOMPARE(run(common + QStringList{"--fp-head", "conv", "--features-augment", "2"}, &text), 0);
        QVERIFY2(text.contains("mlp -> a new conv head") && text.contains("diffusion already trained"),
                 qPrintable(text));
        const auto conv = Generator3D::load(dir / "model");
        QCOMPARE(conv.config().featureHead, std::string("conv"));
        const Json& features = ms::memberAt(conv.metadata().training, "features");
        QCOMPARE(ms::stringOr(features, "head", ""), std::string("conv"));
        QCOMPARE(ms::numberOr(features, "symmetry_variants", 0), 2.0);
        QCOMPARE(ms::numberOr(features, "steps", 0), 2.0 * 4);
        QVERIFY(run(common + QStringList{"--fp-head", "cnn"}, &text) != 0);
        QVERIFY2(text.contains("mlp, conv or conv-fractions"), qPrintable(text));
        QCOMPARE(run({"generate", "--model", model, "--target", "ABS_f_D=0.6", "-n", "1", "--steps", "4", "-o",
                      QString::fromStdString((dir / "one.vti").string())},
                     &text),
                 0);
        QVERIFY(fs::exists(dir / "one.vti"));
        // Evaluation on the training file: R^2 tables, one row per output / condition.
        QCOMPARE(run({"generate", "--model", model, "--evaluate", QString::fromStdString((dir / "train.h5").string()),
                      "-n", "3", "--steps", "3"},
                     &text),
                 0);
        QVERIFY2(text.contains("feature predictor on held-out latents") && text.contains("phi"), qPrintable(text));
        fs::remove_all(dir);
    }

    // Issue 20: the test split is never read by training code. Judged by the
    // samples' `split` text (the dataset builder's), not by the file name:
    // each of the three trainings refuses a test sample in its training set
    // and in its validation set (validation picks the epoch), before any
    // step; the same data marked train / val trains. `train3d` stops with
    // one error line and writes no model.
    void trainingsRefuseTestSplit() {
        Generator3dConfig c = Generator3dConfig::tiny(2);
        c.outputs = {"ABS_f_D", "phi"};
        c.conditions = {"ABS_f_D"};
        auto model = Generator3D::create(c, 4);
        auto train = toyVolumes(4, c.vae.dims, 7);
        for (std::size_t i = 0; i < train.size(); ++i) {
            train[i].attributes["phi"] = 0.3 + 0.05 * double(i);
            train[i].text["split"] = "train";
            train[i].text["sample"] = "run_00000" + std::to_string(i) + "_snap_000001";
        }
        std::vector<ms::Volume> validation{train[0], train[1]};
        for (auto& v : validation) {
            v.text["split"] = "val";
            v.text.erase("sample");
        }
        auto withTest = train;
        withTest[2].text["split"] = "test";
        auto testValidation = validation;
        testValidation[1].text["split"] = "test";
        TrainOptions o;
        o.epochs = 1;
        o.batchSize = 4;
        o.forceCpu = true;
        o.threads = 1;
        using Trainer = TrainReport (*)(Generator3D&, const std::vector<ms::Volume>&, const std::vector<ms::Volume>&,
                                        const TrainOptions&);
        const std::pair<const char*, Trainer> trainings[] = {{"vae", &trainGenerator3dVae},
                                                             {"features", &trainGenerator3dFeatures},
                                                             {"diffusion", &trainGenerator3dDiffusion}};
        for (const auto& entry : trainings) {
            const char* stage = entry.first;
            const Trainer trainer = entry.second;
            auto refusal = [&](const std::vector<ms::Volume>& t, const std::vector<ms::Volume>& v) {
                try {
                    trainer(model, t, v, o);
                } catch (const ms::Error& e) {
                    return QString::fromStdString(e.what());
                }
                return QString();
            };
            QCOMPARE(refusal(withTest, validation),
                     QString("training data holds 1 sample of the test split (e.g. run_000002_snap_000001); "
                             "test samples are read only by evaluate"));
            QCOMPARE(refusal(train, testValidation),
                     QString("validation data holds 1 sample of the test split (e.g. sample 1); "
                             "test samples are read only by evaluate"));
            QVERIFY2(!model.metadata().training.contains(stage), stage);
            const auto report = trainer(model, train, validation, o);
            QVERIFY2(report.steps >= 1 && std::isfinite(report.history.back().validationLoss), stage);
        }

        // train3d: the split survives HDF5; --data or --val holding a test
        // sample is refused (exit 1, one line on stderr, no model written).
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_split";
        fs::remove_all(dir);
        fs::create_directories(dir);
        ms::io::writeHdf5(withTest, dir / "mixed.h5");
        ms::io::writeHdf5(train, dir / "train.h5");
        ms::io::writeHdf5(testValidation, dir / "val.h5");
        QCOMPARE(ms::io::readSamples((dir / "mixed.h5").string())[2].text.at("split"), std::string("test"));
        auto run = [](const QStringList& arguments, QString* err) {
            QProcess p;
            p.start(MICROSTUDIO_CLI, arguments);
            p.waitForFinished(120000);
            *err = QString::fromUtf8(p.readAllStandardError()).trimmed();
            return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        };
        const QString d = QString::fromStdString(dir.string());
        const QStringList common = {"train3d", "--out",     d + "/model",  "--config", "tiny", "--conditions",
                                    "ABS_f_D", "--outputs", "ABS_f_D,phi", "--epochs", "1",    "--batch",
                                    "4",       "--cpu",     "--threads",   "1"};
        QString err;
        QCOMPARE(run(common + QStringList{"--data", d + "/mixed.h5"}, &err), 1);
        QVERIFY2(!err.contains('\n') && err == "microstudio-cli train3d: error: training data (" + d +
                                                   "/mixed.h5) holds 1 sample of the test split (e.g. "
                                                   "run_000002_snap_000001); test samples are read only by evaluate",
                 qPrintable(err));
        QCOMPARE(run(common + QStringList{"--data", d + "/train.h5", "--val", d + "/val.h5"}, &err), 1);
        QVERIFY2(!err.contains('\n') && err.contains("error: validation data (" + d +
                                                     "/val.h5) holds 1 sample of the "
                                                     "test split (e.g. sample_000001)"),
                 qPrintable(err));
        QVERIFY(!fs::exists(dir / "model" / "generator3d.pt"));
        // The same files without the test sample: the VAE stage trains (one step).
        QCOMPARE(run(common + QStringList{"--data", d + "/train.h5", "--val", d + "/train.h5", "--stage", "vae",
                                          "--stop-after", "1"},
                     &err),
                 0);
        QVERIFY(fs::exists(dir / "model" / "generator3d.pt"));
        fs::remove_all(dir);
    }

    // `models` (listModels) lists generator folders NAME/generator3d.{pt,json}
    // beside flat NAME.pt models, named by the folder when they carry no name.
    void listModelsFindsGeneratorFolders() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_list";
        fs::remove_all(dir);
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 0);
        model.save(dir / "gen-a");
        model.metadata().name = "flat-gen";
        model.save(dir / "flat-gen.pt");
        fs::create_directories(dir / "not-a-model");  // a folder without generator3d.json
        std::ofstream((dir / "not-a-model" / "notes.json").string()) << "{}";
        const auto models = listModels({dir});
        QCOMPARE(int(models.size()), 2);
        std::map<std::string, InstalledModel> byName;
        for (const auto& m : models) byName[m.metadata.name] = m;
        QVERIFY(byName.count("gen-a") && byName.count("flat-gen"));
        QCOMPARE(byName["gen-a"].weights, dir / "gen-a" / "generator3d.pt");
        QCOMPARE(byName["gen-a"].metadata.kind, std::string("generator3d"));
        QVERIFY(byName["gen-a"].bytes > 0);
        QCOMPARE(byName["flat-gen"].weights, dir / "flat-gen.pt");
        QString text;
        QCOMPARE(runCli({"models", "--dir", QString::fromStdString(dir.string())}, &text), 0);
        QVERIFY2(text.contains("gen-a") && text.contains("flat-gen"), qPrintable(text));
        fs::remove_all(dir);
    }

    // `train3d recipe` (the shipped model's one command) on a small
    // 64x64x32 dataset with one epoch per stage: the recipe's architecture,
    // single-phase samples skipped, float16 weights, checkpoints in
    // DIR/checkpoints and gone when done, and a rerun keeps every stage.
    void train3dRecipe() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_recipe";
        fs::remove_all(dir);
        fs::create_directories(dir);
        auto data = toyVolumes(6, ms::Dims{64, 64, 32}, 8);
        for (int k = 0; k < 2; ++k) {  // single-phase snapshots: skipped by the recipe's filter
            ms::Volume uniform(ms::Dims{64, 64, 32});
            uniform.attributes["ABS_f_D"] = 1.0;
            data.push_back(uniform);
        }
        for (std::size_t i = 0; i < data.size(); ++i) {
            auto& a = data[i].attributes;
            a["CT_f_D_tort1"] = 0.6 + 0.03 * double(i);
            a["CT_f_A_tort1"] = 0.9 - 0.02 * double(i);
            a["phi"] = 0.35 + 0.02 * double(i);
            a["chi"] = 2.5 + 0.1 * double(i);
            a["log_time"] = 1.0 + 0.5 * double(i);
        }
        const QString dataPath = QString::fromStdString((dir / "data.h5").string());
        ms::io::writeHdf5(data, (dir / "data.h5").string());
        const QString out = QString::fromStdString((dir / "gen").string());
        const QStringList command = {"train3d",
                                     "recipe",
                                     "--data",
                                     dataPath,
                                     "--val",
                                     dataPath,
                                     "--out",
                                     out,
                                     "--vae-epochs",
                                     "1",
                                     "--features-epochs",
                                     "1",
                                     "--diffusion-epochs",
                                     "1",
                                     "--threads",
                                     "1",
                                     "--cpu",
                                     "--choice",
                                     "VAE variant A, chosen on validation"};
        QString text;
        QCOMPARE(runCli(command, &text), 0);
        QVERIFY2(text.contains("recipe: done"), qPrintable(text));
        {
            // Which split chose what, in the model's metadata.
            const auto training = Generator3D::load(dir / "gen").metadata().training;
            const auto& choices = ms::memberAt(training, "choices");
            QCOMPARE(ms::stringAt(choices, "recipe"), std::string("VAE variant A, chosen on validation"));
            QVERIFY(ms::stringAt(choices, "validated_on").find("validation split") != std::string::npos);
            QVERIFY(ms::stringAt(choices, "test_split").find("evaluate") != std::string::npos);
            QCOMPARE(ms::stringAt(ms::memberAt(training, "vae"), "weights_kept"),
                     std::string("the epoch with the lowest validation loss"));
            QCOMPARE(ms::stringAt(ms::memberAt(training, "diffusion"), "weights_kept"), std::string("the last epoch"));
        }
        auto model = Generator3D::load(dir / "gen");
        const auto& c = model.config();
        QCOMPARE(c.vae.dims, (ms::Dims{64, 64, 32}));
        QCOMPARE(c.vae.channels, (std::vector<int>{16, 32, 64}));
        QCOMPARE(c.vae.latentSize(), 1024L);  // the paper's 4 x 8 x 8 x 4
        QCOMPARE(c.unetFeatures, 64);
        QCOMPARE(c.unetConditioning, std::string("scale-shift"));  // chosen on validation (docs/ml3d.md)
        QCOMPARE(c.diffusionContext, std::string("data"));
        QCOMPARE(c.featureHead, std::string("conv-fractions"));  // chosen on validation (docs/ml3d.md)
        QCOMPARE(c.featureAugment, 4);  // 4 symmetry variants, chosen on validation (docs/ml3d.md)
        QCOMPARE(int(ms::numberOr(ms::memberAt(model.metadata().training, "features"), "symmetry_variants", 0)), 4);
        QCOMPARE(model.featureRanges().size(), std::size_t(6));
        QVERIFY(c.vaeAugment);
        QCOMPARE(model.conditionNames(), twoPhaseConditions());
        QCOMPARE(model.metadata().weightsPrecision, std::string("float16"));
        const auto& training = model.metadata().training;
        QCOMPARE(ms::numberOr(training, "min_phase_fraction", 0), 0.01);
        QCOMPARE(int(ms::numberOr(ms::memberAt(training, "vae"), "samples", 0)), 6);  // the two uniform volumes skipped
        QVERIFY(training.contains("features") && training.contains("diffusion"));
        QVERIFY(fs::is_directory(dir / "gen" / "checkpoints"));
        for (const auto& entry : fs::directory_iterator(dir / "gen" / "checkpoints"))
            QVERIFY2(entry.path().extension() != ".ckpt", qPrintable(QString::fromStdString(entry.path().string())));
        QVERIFY(!fs::exists(dir / "gen" / "vae.ckpt"));
        QCOMPARE(runCli(command, &text), 0);
        QVERIFY2(text.contains("vae already trained") && text.contains("features already trained") &&
                     text.contains("diffusion already trained"),
                 qPrintable(text));
        {
            // While another process holds the recipe's lock, a second recipe refuses.
            const int fd = ::open((dir / "gen" / "checkpoints" / ".lock").c_str(), O_RDWR | O_CREAT, 0644);
            QVERIFY(fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0);
            QVERIFY(runCli(command, &text) != 0);
            QVERIFY2(text.contains("another `train3d recipe`"), qPrintable(text));
            ::close(fd);
        }
        fs::remove_all(dir);
    }

    // The whole pipeline learns to obey its condition: tiny volumes whose
    // Donor fraction varies (thresholded smooth random fields), all three
    // stages trained, then DDIM samples for a low and a high target must
    // differ in Donor fraction the right way, more so with guidance. Opt-in
    // (~5 min on the busy 2-core machine): MICROSTUDIO_SLOW_TESTS=1 and
    // QTEST_FUNCTION_TIMEOUT=1200000.
    void conditioningControlsVolumeFraction() {
        if (!qEnvironmentVariableIsSet("MICROSTUDIO_SLOW_TESTS")) QSKIP("set MICROSTUDIO_SLOW_TESTS=1 to run");
        const ms::Dims d{16, 16, 8};
        std::mt19937_64 rng(17);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        std::vector<ms::Volume> data;
        for (int i = 0; i < 96; ++i) {
            // Smooth field: a few random cosines; threshold at the q-quantile.
            std::vector<double> field(d.count());
            double a[4][4];
            for (auto& w : a) {
                w[0] = 2 * M_PI * (1 + int(3 * u(rng))) / d.nx;
                w[1] = 2 * M_PI * (1 + int(3 * u(rng))) / d.ny;
                w[2] = 2 * M_PI * int(2 * u(rng)) / d.nz;
                w[3] = 2 * M_PI * u(rng);
            }
            ms::Volume v(d);
            for (int z = 0; z < d.nz; ++z)
                for (int y = 0; y < d.ny; ++y)
                    for (int x = 0; x < d.nx; ++x) {
                        double f = 0;
                        for (auto& w : a) f += std::cos(w[0] * x + w[1] * y + w[2] * z + w[3]);
                        field[v.index(x, y, z)] = f;
                    }
            const double q = 0.2 + 0.6 * u(rng);
            auto sorted = field;
            std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(q * double(sorted.size())), sorted.end());
            const double level = sorted[std::size_t(q * double(sorted.size()))];
            for (std::size_t k = 0; k < field.size(); ++k) v.labels()[k] = field[k] < level ? ms::Donor : ms::Acceptor;
            v.attributes["ABS_f_D"] = v.volumeFraction(ms::Donor);
            v.attributes["phi"] = q;
            data.push_back(std::move(v));
        }
        Generator3dConfig c = Generator3dConfig::tiny(2);
        c.outputs = {"ABS_f_D", "phi"};
        c.conditions = {"ABS_f_D"};
        c.vae.channels = {8, 16};
        c.unetFeatures = 32;
        auto model = Generator3D::create(c, 3);
        TrainOptions o;
        o.batchSize = 16;
        o.forceCpu = true;
        o.learningRate = 2e-3;
        o.epochs = 60;  // 360 steps
        const auto vaeReport = trainGenerator3dVae(model, data, {}, o);
        o.epochs = 40;
        const auto fpReport = trainGenerator3dFeatures(model, data, {}, o);
        qInfo("VAE %.1f s (loss %.4f), FP %.1f s (loss %.4f)", vaeReport.seconds, vaeReport.history.back().trainLoss,
              fpReport.seconds, fpReport.history.back().trainLoss);
        o.epochs = 250;  // 1500 steps
        o.learningRate = 1e-3;
        const auto report = trainGenerator3dDiffusion(model, data, {}, o);
        qInfo("diffusion %.1f s, loss first epoch %.4f, last %.4f", report.seconds, report.history.front().trainLoss,
              report.history.back().trainLoss);
        auto meanVf = [&](double target, double guidance) {
            GenerateOptions g;
            g.steps = 25;
            g.guidance = guidance;
            g.seed = 5;
            g.batch = 16;
            double vf = 0;
            const auto volumes = model.generate({{"ABS_f_D", target}}, 16, g);
            for (const auto& v : volumes) vf += v.volumeFraction(ms::Donor) / double(volumes.size());
            return vf;
        };
        const double low = meanVf(0.3, 1.0), high = meanVf(0.7, 1.0);
        const double lowGuided = meanVf(0.3, 3.0), highGuided = meanVf(0.7, 3.0);
        qInfo("mean Donor fraction: target 0.3 -> %.3f, 0.7 -> %.3f; guidance 3: %.3f, %.3f", low, high, lowGuided,
              highGuided);
        // Measured (1 thread): 0.524 / 0.593 at guidance 1, 0.480 / 0.672 at 3.
        QVERIFY(high - low > 0.03);
        QVERIFY(highGuided - lowGuided > 0.1);
        QVERIFY(highGuided - lowGuided > high - low);  // guidance strengthens the condition
    }

    // A stage stopped at a checkpoint keeps its training latents beside it;
    // the resumed stage reads them instead of encoding again and ends where an
    // uninterrupted run ends; a damaged or foreign cache is encoded anew; the
    // finished stage removes it.
    void resumedStagesReadTheirCachedLatents() {
        Generator3dConfig c = Generator3dConfig::tiny(2);
        c.outputs = {"ABS_f_D", "phi"};
        c.conditions = {"ABS_f_D"};
        auto data = toyVolumes(8, c.vae.dims, 3);
        for (std::size_t i = 0; i < data.size(); ++i) data[i].attributes["phi"] = 0.3 + 0.05 * double(i);
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_latent_cache";
        fs::remove_all(dir);
        fs::create_directories(dir);
        TrainOptions o;
        o.epochs = 2;
        o.batchSize = 4;
        o.forceCpu = true;
        o.threads = 1;
        {
            auto start = Generator3D::create(c, 2);
            trainGenerator3dVae(start, data, {}, o);
            start.save(dir / "start");
        }
        auto uninterrupted = Generator3D::load(dir / "start");
        trainGenerator3dDiffusion(uninterrupted, data, {}, o);
        const auto expected = uninterrupted.generate({{"ABS_f_D", 0.5}}, 2, 4, 1.5, 7);

        std::vector<std::string> messages;
        ms::ProgressToken progress;
        progress.setListener([&](double, const std::string& m) { messages.push_back(m); });
        o.progress = &progress;
        o.checkpoint = dir / "diffusion.ckpt";
        const fs::path cache = dir / "diffusion.ckpt.latents";
        auto saw = [&](const std::string& prefix) {
            return std::any_of(messages.begin(), messages.end(),
                               [&](const auto& m) { return m.rfind(prefix, 0) == 0; });
        };
        for (const bool damaged : {false, true}) {
            auto model = Generator3D::load(dir / "start");
            messages.clear();
            o.stopAfterSteps = 1;
            QVERIFY(trainGenerator3dDiffusion(model, data, {}, o).stoppedAtLimit);
            QVERIFY(saw("encoding training latents") && fs::exists(cache));
            const auto size = fs::file_size(cache);
            const auto latentValues =
                std::uintmax_t(8 * c.vae.latentChannels) * std::uintmax_t(c.vae.latentDims().count());
            QVERIFY(size > latentValues * sizeof(float) && size < latentValues * sizeof(float) + 256);  // + header
            if (damaged) fs::resize_file(cache, size - 4);
            messages.clear();
            o.stopAfterSteps = 0;
            const auto report = trainGenerator3dDiffusion(model, data, {}, o);
            QVERIFY(report.resumed && !report.stoppedAtLimit);
            QCOMPARE(saw("training latents read from diffusion.ckpt.latents"), !damaged);
            QCOMPARE(saw("encoding training latents"), damaged);
            QVERIFY(!fs::exists(cache));  // the finished stage took it away
            const auto again = model.generate({{"ABS_f_D", 0.5}}, 2, 4, 1.5, 7);
            for (std::size_t i = 0; i < again.size(); ++i) QVERIFY(again[i].sameLabels(expected[i]));
            fs::remove(o.checkpoint);
        }
        // The key: other weights or another key find nothing; the same key reads the same values.
        const auto latents = torch::arange(24, torch::kFloat).reshape({2, 3, 4});
        d3::writeLatentCache(cache, "vae 1", latents);
        QVERIFY(!d3::readLatentCache(cache, "vae 2").defined());
        QVERIFY(torch::equal(d3::readLatentCache(cache, "vae 1"), latents));
        auto net = torch::nn::Linear(2, 2);
        const std::string before = d3::weightsKey(*net);
        QCOMPARE(d3::weightsKey(*net), before);
        {
            torch::NoGradGuard noGrad;
            net->weight[0][0].add_(1e-6);
        }
        QVERIFY(d3::weightsKey(*net) != before);
        fs::remove_all(dir);
    }

    // All three trainings on a tiny dataset: ranges from the data, the
    // latent scale, finite losses; generation uses the trained ranges.
    void sequentialTrainingTiny() {
        Generator3dConfig c = Generator3dConfig::tiny(2);
        c.outputs = {"ABS_f_D", "phi"};
        c.conditions = {"ABS_f_D"};
        auto model = Generator3D::create(c, 2);
        auto data = toyVolumes(8, c.vae.dims, 3);
        for (std::size_t i = 0; i < data.size(); ++i) data[i].attributes["phi"] = 0.3 + 0.05 * double(i);
        TrainOptions o;
        o.epochs = 3;
        o.batchSize = 4;
        o.forceCpu = true;
        trainGenerator3dVae(model, data, {}, o);
        trainGenerator3dFeatures(model, data, {data[0], data[1]}, o);
        const auto ranges = model.featureRanges();
        QCOMPARE(ranges[1].name, std::string("phi"));
        QCOMPARE(ranges[1].min, 0.3);
        QVERIFY(std::abs(ranges[1].max - 0.65) < 1e-12);
        QVERIFY(std::abs(ranges[1].mean - 0.475) < 1e-12);
        const auto report = trainGenerator3dDiffusion(model, data, {data[0]}, o);
        QVERIFY(std::isfinite(report.history.back().validationLoss));
        QVERIFY(model.metadata().training.contains("diffusion"));
        const auto v = model.generate({{"ABS_f_D", 0.5}}, 1, 4, 1.5, 1);
        QVERIFY(v[0].attributes.count("predicted_phi"));
        // Four symmetry variants per volume: four times the steps per epoch
        // (32 latents, batch 4), recorded in the config and the report.
        QCOMPARE(report.steps, 3L * 2);
        model.setDiffusionAugment(4);
        QVERIFY_THROWS_EXCEPTION(ms::Error, model.setDiffusionAugment(9));
        QCOMPARE(model.config().diffusionAugment, 4);
        const auto augmented = trainGenerator3dDiffusion(model, data, {data[0]}, o);
        QCOMPARE(augmented.steps, 3L * 8);
        QVERIFY(std::isfinite(augmented.history.back().validationLoss));
        QCOMPARE(ms::numberOr(ms::memberAt(model.metadata().training, "diffusion"), "symmetry_variants", 0), 4.0);
        // Encoding the variants' latents reports progress and cancels before the first step.
        ms::ProgressToken encoding;
        std::vector<std::string> messages;
        encoding.setListener([&](double, const std::string& m) {
            messages.push_back(m);
            if (m.rfind("encoding", 0) == 0) encoding.cancel();
        });
        o.progress = &encoding;
        QVERIFY_THROWS_EXCEPTION(ms::Cancelled, trainGenerator3dDiffusion(model, data, {data[0]}, o));
        o.progress = nullptr;
        QVERIFY(!messages.empty() && messages.size() <= 2);
        QCOMPARE(messages[0], std::string("encoding training latents: variant 1/4, volume 0/8"));
        model.setDiffusionAugment(1);

        // With the data as context the DDPM reads the volumes' attributes (the
        // feature predictor's context needs none): a volume without them is refused.
        c.diffusionContext = "data";
        auto labelled = Generator3D::create(c, 2);
        trainGenerator3dVae(labelled, data, {}, o);
        trainGenerator3dFeatures(labelled, data, {}, o);
        const auto withData = trainGenerator3dDiffusion(labelled, data, {data[0]}, o);
        QVERIFY(std::isfinite(withData.history.back().validationLoss));
        auto unlabelled = data;
        unlabelled[3].attributes.erase("ABS_f_D");
        QVERIFY_THROWS_EXCEPTION(ms::Error, trainGenerator3dDiffusion(labelled, unlabelled, {}, o));
        QVERIFY(std::isfinite(trainGenerator3dDiffusion(model, unlabelled, {}, o).history.back().trainLoss));

        // A data-context DDPM trained before the feature predictor sets the
        // normalisation its context is read with, and a later feature stage
        // (here on the first half of the data: phi's mean 0.375, not 0.475)
        // keeps it, so sampling normalises targets as the DDPM learned them.
        auto diffusionFirst = Generator3D::create(c, 2);
        trainGenerator3dVae(diffusionFirst, data, {}, o);
        QCOMPARE(diffusionFirst.featureRanges()[1].mean, 0.0);  // not yet set
        trainGenerator3dDiffusion(diffusionFirst, data, {data[0]}, o);
        const auto set = diffusionFirst.featureRanges();
        QCOMPARE(set[1].name, std::string("phi"));
        QVERIFY(std::abs(set[1].mean - 0.475) < 1e-12);
        QCOMPARE(set[1].min, 0.3);
        QVERIFY(!diffusionFirst.trainingConditions().empty());
        trainGenerator3dFeatures(diffusionFirst, {data.begin(), data.begin() + 4}, {}, o);
        for (std::size_t k = 0; k < set.size(); ++k) {
            QCOMPARE(diffusionFirst.featureRanges()[k].mean, set[k].mean);
            QCOMPARE(diffusionFirst.featureRanges()[k].std, set[k].std);
        }
    }

    // Issue 20 end to end on a tiny 3-phase problem, as a user would: a dataset
    // built from the onset with a test split, a 3-phase generator trained on its
    // train split (its test split refused), samples generated for test targets
    // and described with the 3-phase GraSPI set, and evaluated on test.
    void tinyThreePhaseGeneratorEndToEnd() {
        const fs::path dir = fs::temp_directory_path() / ("ms_test_ml3d_e2e3_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        auto at = [&](const std::string& name) { return QString::fromStdString((dir / name).string()); };
        QString text;
        QCOMPARE(runCli({"dataset",
                         "build",
                         "--size",
                         "16x16x8",
                         "--sampling",
                         "lhs",
                         "--runs",
                         "4",
                         "--phi",
                         "0.45:0.55",
                         "--chi",
                         "3.2:3.6",
                         "--time",
                         "300",
                         "--snapshots",
                         "40",
                         "--keep-snapshots",
                         "6",
                         "--phases",
                         "3",
                         "--validation",
                         "0.25",
                         "--test",
                         "0.25",
                         "--threads",
                         "2",
                         "-o",
                         at("data")},
                        &text),
                 0);
        for (const char* split : {"train.h5", "val.h5", "test.h5"}) QVERIFY2(fs::exists(dir / "data" / split), split);
        // The test split is refused by training, judged by the samples' split attribute.
        QCOMPARE(runCli({"train3d", "--data", at("data/test.h5"), "--out", at("refused"), "--config", "tiny",
                         "--phases", "3"},
                        &text),
                 1);
        QVERIFY2(text.contains("test split"), qPrintable(text));
        QVERIFY(!fs::exists(dir / "refused" / "generator3d.pt"));
        QCOMPARE(runCli({"train3d",  "--data", at("data/train.h5"), "--val", at("data/val.h5"), "--out",    at("model"),
                         "--config", "tiny",   "--phases",          "3",     "--periodic-xy",   "--epochs", "1",
                         "--batch",  "4",      "--timesteps",       "50",    "--threads",       "1"},
                        &text),
                 0);
        const auto model = Generator3D::load(dir / "model");
        QCOMPARE(model.config().vae.phases, 3);
        QVERIFY(model.config().vae.periodicXY);
        QCOMPARE(model.conditionNames(), threePhaseConditions());
        QCOMPARE(runCli({"generate", "--model", at("model"), "--targets-from", at("data/test.h5"), "-n", "3", "--steps",
                         "5", "-o", at("out.h5")},
                        &text),
                 0);
        const auto generated = ms::io::readHdf5((dir / "out.h5").string());
        QCOMPARE(int(generated.size()), 3);
        for (const auto& v : generated) {
            for (auto label : v.labels()) QVERIFY(label <= 2);
            for (const auto& name : threePhaseConditions()) {
                QVERIFY2(v.attributes.count(name) && v.attributes.count("target_" + name), name.c_str());
            }
            QVERIFY(std::abs(v.attributes.at("vol_frac_M") - v.volumeFraction(ms::Mixed)) < 1e-9);
        }
        QString json;
        QCOMPARE(runCli({"evaluate", "--model", at("model"), "--data", at("data/test.h5"), "-n", "4", "--steps", "5",
                         "--batch-sizes", "2", "--diversity", "2", "--json"},
                        &text, &json),
                 0);
        const auto report = QJsonDocument::fromJson(json.toUtf8()).object();
        QCOMPARE(report["split"].toString(), QString("test"));
        for (const auto& name : threePhaseConditions())
            QVERIFY2(report["r2"].toObject().contains(QString::fromStdString(name)), name.c_str());
        // A VAE study reads only the round trip: no sampling, no R^2 of generated samples.
        QCOMPARE(runCli({"evaluate", "--model", at("model"), "--data", at("data/test.h5"), "-n", "4",
                         "--round-trip-only", "--json"},
                        &text, &json),
                 0);
        const auto roundTrip = QJsonDocument::fromJson(json.toUtf8()).object();
        const double accuracy = roundTrip["reconstruction"].toObject()["voxel_accuracy"].toDouble(-1);
        QVERIFY2(accuracy >= 0 && accuracy <= 1, qPrintable(json));
        QVERIFY(roundTrip["r2"].toObject().isEmpty());
        QVERIFY(roundTrip["reconstruction"].toObject()["r2"].toObject().contains("vol_frac_M"));
        fs::remove_all(dir);
    }

    // Issue 23: generate's steps around Generator3D::generate, in the library
    // (evaluate3d.hpp) for the CLI and the studio alike: random targets inside
    // the training ranges (or the given ones) and reproducible from the seed;
    // targets from samples evenly spaced (i * size / n); each distinct target
    // checked for feasibility once; the volumes named and marked; the CSV rows.
    void generationStepsInTheLibrary() {
        const auto training = heldOutVolumes(12, 21);
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 4);
        model.setTrainingData(training);
        const auto a = randomTargets(model, 40, {}, 7);
        QCOMPARE(a.size(), std::size_t(40));
        QVERIFY(a == randomTargets(model, 40, {}, 7));
        QVERIFY(a != randomTargets(model, 40, {}, 8));
        for (const auto& range : model.conditionRanges()) {
            double lo = 1e9, hi = -1e9;
            for (const auto& t : a) {
                lo = std::min(lo, t.at(range.name));
                hi = std::max(hi, t.at(range.name));
            }
            QVERIFY2(lo >= range.min && hi <= range.max, range.name.c_str());
            QVERIFY(hi - lo > 0.5 * (range.max - range.min));  // spread over the range, not one value
        }
        for (const auto& t : randomTargets(model, 20, {{"CT_f_D_tort1", {0.75, 0.76}}}, 7))
            QVERIFY(t.at("CT_f_D_tort1") >= 0.75 && t.at("CT_f_D_tort1") <= 0.76);
        QVERIFY_THROWS_EXCEPTION(ms::Error, randomTargets(model, 1, {{"no_such_condition", {0.0, 1.0}}}, 7));

        // 3 of 12 samples: 0, 4 and 8; their attributes are the targets.
        const auto picked = targetsFromSamples(model, training, 3, false, "held.h5");
        QCOMPARE(picked.size(), std::size_t(3));
        for (std::size_t k = 0; k < 3; ++k) {
            QCOMPARE(picked[k].at("CT_f_D_tort1"), 0.7 + 0.02 * double(4 * k));
            QCOMPARE(picked[k].at("ABS_f_D"), training[4 * k].attributes.at("ABS_f_D"));
        }
        QCOMPARE(targetsFromSamples(model, training, 0, false, "held.h5").size(), std::size_t(12));
        auto lacking = training;
        lacking[4].attributes.erase("CT_f_A_tort1");
        try {
            targetsFromSamples(model, lacking, 3, false, "held.h5");
            QFAIL("a sample without a condition was accepted");
        } catch (const ms::Error& e) {
            QVERIFY2(QString(e.what()).contains("held.h5: sample 4 lacks condition 'CT_f_A_tort1'"), e.what());
        }

        // A training target is feasible; a far one is not, and reported once.
        const NamedValues inside = picked[1], far{{"ABS_f_D", 4.0}, {"CT_f_D_tort1", 9.0}, {"CT_f_A_tort1", 9.0}};
        const std::vector<NamedValues> targets{inside, far, far, inside, far};
        const auto feasibility = checkFeasibility(model, targets);
        QCOMPARE(feasibility.feasible, (std::vector<bool>{true, false, false, true, false}));
        QCOMPARE(feasibility.outside, std::size_t(3));
        QCOMPARE(feasibility.firstOutside.size(), std::size_t(1));
        QCOMPARE(feasibility.firstOutside[0].first, std::size_t(1));
        QVERIFY(
            QString::fromStdString(feasibility.firstOutside[0].second.message()).contains("nearest feasible target"));

        GenerateOptions o;
        o.steps = 2;
        o.batch = 5;
        auto volumes = model.generate(targets, o);
        finishGenerated(volumes, model, feasibility, false);
        QCOMPARE(volumes[3].text.at("sample"), std::string("sample_000003"));
        QCOMPARE(volumes[0].attributes.at("target_feasible"), 1.0);
        QCOMPARE(volumes[1].attributes.at("target_feasible"), 0.0);
        const auto rows = generatedCsvRows(volumes, model.config().conditions, model.config().outputs);
        QCOMPARE(rows.size(), std::size_t(6));
        QCOMPARE(QString::fromStdString(rows[0]),
                 QString("sample,seed,target_ABS_f_D,target_CT_f_D_tort1,target_CT_f_A_tort1,measured_ABS_f_D,"
                         "measured_CT_f_D_tort1,measured_CT_f_A_tort1,predicted_ABS_f_D,predicted_CT_f_D_tort1,"
                         "predicted_CT_f_A_tort1,predicted_phi,predicted_chi,predicted_log_time,feasible,candidates,"
                         "selection_distance"));
        const QStringList second = QString::fromStdString(rows[2]).split(',');
        QCOMPARE(second.size(), 17);
        QCOMPARE(second[0], QString("sample_000001"));
        QCOMPARE(second[2], QString("4"));  // target_ABS_f_D, %.6g
        QCOMPARE(second[3], QString("9"));
        QCOMPARE(second[14], QString("0"));  // outside the training data
        QCOMPARE(QString::fromStdString(rows[1]).split(',')[14], QString("1"));
        QVERIFY(!second[8].isEmpty());  // predicted_ABS_f_D
    }

    // The 3D recipe's feature augmentation (4 symmetry variants) goes to a
    // predictor that has not started training; one already trained, or with a
    // checkpoint to resume (which must see the samples it started with),
    // keeps its own; an explicit --features-augment applies to any, and a new
    // head makes its predictor a fresh one again.
    void recipeFeatureAugmentGoesToAnUnstartedPredictor() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_ml3d_recipe_augment";
        fs::remove_all(dir);
        Recipe3dSettings settings;
        settings.train = dir / "train.h5";
        settings.validation = dir / "val.h5";
        settings.outDir = dir / "gen";
        auto run = recipe3dRun(settings);
        QCOMPARE(run.config.featureAugment, 4);
        QCOMPARE(run.config.featureHead, std::string("conv-fractions"));
        QCOMPARE(run.plan.options.at("features").epochs, 80);
        QVERIFY(fs::is_directory(dir / "gen" / "checkpoints"));
        run.featureHead.clear();  // as without --fp-head: the model's head
        auto fresh = Generator3D::create(Generator3dConfig::tiny(), 0);
        QCOMPARE(fresh.config().featureAugment, 1);
        QCOMPARE(applyRunChoices(fresh, run), std::string());
        QCOMPARE(fresh.config().featureAugment, 4);

        auto trained = Generator3D::create(Generator3dConfig::tiny(), 0);
        trained.metadata().training["features"] = Json::object();  // what a finished stage records
        applyRunChoices(trained, run);
        QCOMPARE(trained.config().featureAugment, 1);
        auto resuming = Generator3D::create(Generator3dConfig::tiny(), 0);
        std::ofstream(run.plan.checkpointPath("features")) << "checkpoint";
        applyRunChoices(resuming, run);
        QCOMPARE(resuming.config().featureAugment, 1);

        run.featureAugment = 2;  // --features-augment 2
        applyRunChoices(trained, run);
        QCOMPARE(trained.config().featureAugment, 2);
        run.featureAugment = 0;
        fs::remove(run.plan.checkpointPath("features"));
        run.featureHead = "conv";  // a new head: its predictor untrained, the recipe's variants again
        QCOMPARE(applyRunChoices(trained, run), Generator3dConfig::tiny().featureHead);
        QCOMPARE(trained.config().featureHead, std::string("conv"));
        QCOMPARE(trained.config().featureAugment, 4);
        fs::remove_all(dir);
    }

    // Plain sampling hands over decoded x0-hat previews every previewEvery
    // steps (at most 4 per batch, never at the last step), each before its
    // sample, without changing the samples; screened generation none.
    void generatePreviewsDuringDenoising() {
        auto model = Generator3D::create(Generator3dConfig::tiny(2), 6);
        const ms::Dims dims = model.config().vae.dims;
        struct Event {
            std::size_t index;
            int step, steps;  // step 0: the final sample
        };
        auto run = [&](GenerateOptions o, std::vector<Event>& events) {
            o.onPreview = [&](std::size_t index, const ms::Volume& preview, int step, int steps) {
                QVERIFY(preview.dims() == dims);
                const auto& labels = preview.labels();
                QVERIFY(std::all_of(labels.begin(), labels.end(), [](std::uint8_t l) { return l <= 1; }));
                events.push_back({index, step, steps});
            };
            o.onSample = [&](std::size_t index, const ms::Volume&) { events.push_back({index, 0, 0}); };
            return model.generate({{"ABS_f_D", 0.4}}, 3, o);
        };
        auto check = [&](double eta, int steps, int every, const std::vector<int>& expected) {
            GenerateOptions o;
            o.steps = steps;
            o.eta = eta;
            o.seed = 3;
            o.batch = 2;  // batches {0, 1} and {2}
            o.previewEvery = every;
            std::vector<Event> events;
            QElapsedTimer clock;
            clock.start();
            const auto shown = run(o, events);
            const double withPreviews = double(clock.restart()) / 1000.0;
            // Per batch: each expected step for its samples, then the samples.
            std::vector<Event> want;
            for (const auto& batch : std::vector<std::vector<std::size_t>>{{0, 1}, {2}}) {
                for (int step : expected)
                    for (std::size_t i : batch) want.push_back({i, step, steps});
                for (std::size_t i : batch) want.push_back({i, 0, 0});
            }
            QCOMPARE(events.size(), want.size());
            for (std::size_t k = 0; k < want.size(); ++k) {
                QCOMPARE(events[k].index, want[k].index);
                QCOMPARE(events[k].step, want[k].step);
                QCOMPARE(events[k].steps, want[k].steps);
            }
            o.previewEvery = 0;
            clock.restart();
            const auto plain = model.generate({{"ABS_f_D", 0.4}}, 3, o);
            const double without = double(clock.elapsed()) / 1000.0;
            qInfo("%d steps, %d previews per batch: %.3f s with previews, %.3f s without (2 batches)", steps,
                  int(expected.size()), withPreviews, without);
            for (std::size_t i = 0; i < plain.size(); ++i) {
                QVERIFY(shown[i].sameLabels(plain[i]));
                QCOMPARE(shown[i].field(), plain[i].field());
            }
        };
        check(0.0, 10, 5, {5});              // never at the last step
        check(0.5, 30, 5, {6, 12, 18, 24});  // every ceil(30 / 5) = 6: at most 4; eta's noise unchanged
        check(0.0, 4, 1, {1, 2, 3});         // every step but the last

        GenerateOptions screened;
        screened.steps = 3;
        screened.candidates = 2;
        screened.batch = 2;
        screened.previewEvery = 1;
        model.setTrainingData(heldOutVolumes(12, 21));
        std::vector<Event> events;
        run(screened, events);
        QCOMPARE(events.size(), std::size_t(3));  // the three samples, no previews
        for (const auto& e : events) QCOMPARE(e.step, 0);
    }
};

QTEST_GUILESS_MAIN(TestMl3d)
#include "test_ml3d.moc"
