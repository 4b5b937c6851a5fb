// Importing MicroGen3D's weights (issue 22 point 6): state dicts in
// torch.save's format with the reference's tensor names at reduced widths,
// written by tests/ml3d/make_microgen3d_weights.py (torch.save itself where
// python3-torch is installed; Python's pickle in the same format otherwise),
// read by ml's own unpickler, renamed onto MicroStudio's networks. The
// imported model must compute what the same values set directly compute.
#include <torch/torch.h>

#include <QProcess>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/ml/microgen3d_import.hpp"
#include "torch_state_dict.hpp"

namespace fs = std::filesystem;
using namespace ms::ml;
namespace d3 = ms::ml::detail;
using namespace std::string_literals;  // pickles hold NUL bytes

namespace {

// make_microgen3d_weights.py's value(): element `index` of reference tensor `name`.
float referenceValue(const std::string& name, long index, const std::vector<long>& shape) {
    long phaseSum = 0;
    for (std::size_t i = 0; i < name.size(); ++i) phaseSum += long(i + 1) * long(static_cast<unsigned char>(name[i]));
    const double phase = double(phaseSum % 1000) / 100.0;
    const double s = std::sin(0.7 * double(index) + phase);
    if (shape.size() >= 2) {
        long fanIn = 1;
        for (std::size_t d = 1; d < shape.size(); ++d) fanIn *= shape[d];
        return float(s / std::sqrt(double(fanIn)));
    }
    if (name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0) return float(1.0 + 0.1 * s);
    return float(0.05 * s);
}

// expected.txt: the same values under MicroStudio's names, set directly.
d3::StateDict directState(const fs::path& expected) {
    std::ifstream in(expected);
    d3::StateDict out;
    std::string ms, ref, dims;
    while (in >> ms >> ref >> dims) {
        std::vector<long> shape;
        std::stringstream parts(dims);
        for (std::string d; std::getline(parts, d, ',');) shape.push_back(std::stol(d));
        long n = 1;
        for (long d : shape) n *= d;
        auto t = torch::empty({n});
        for (long k = 0; k < n; ++k) t[k] = referenceValue(ref, k, shape);
        out.emplace_back(ms, t.view(shape));
    }
    return out;
}

void makeWeights(const fs::path& dir, const QStringList& extra) {
    QProcess p;
    p.start("python3", QStringList{QString(MICROSTUDIO_SOURCE_DIR) + "/tests/ml3d/make_microgen3d_weights.py",
                                   QString::fromStdString(dir.string())} +
                           extra);
    QVERIFY2(p.waitForFinished(120000), "python3 (a test dependency: scripts/install-deps.sh) did not run");
    QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
    qInfo("%s", p.readAllStandardOutput().trimmed().constData());
}

MicroGen3dImportOptions optionsFor(const fs::path& dir) {
    MicroGen3dImportOptions o;
    o.vae = dir / "vae.pt";
    o.featurePredictor = dir / "fp.pt";
    o.ddpm = dir / "ddpm.pt";
    o.config = dir / "config.yaml";
    return o;
}

// Volumes with a slab and a ball, for round trips and feature predictions.
std::vector<ms::Volume> probeVolumes(ms::Dims d) {
    std::vector<ms::Volume> out;
    for (int i = 0; i < 2; ++i) {
        ms::Volume v(d);
        for (int z = 0; z < d.nz; ++z)
            for (int y = 0; y < d.ny; ++y)
                for (int x = 0; x < d.nx; ++x)
                    v.at(x, y, z) =
                        (x + 3 * i) % 7 < 3 || (x - 8) * (x - 8) + (y - 9) * (y - 9) < 20 ? ms::Acceptor : ms::Donor;
        out.push_back(std::move(v));
    }
    return out;
}

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const ms::Error& e) {
        return e.what();
    }
    return "(no error)";
}

void corrupt(const fs::path& file, std::size_t offset, const std::string& bytes) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(offset));
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace

class TestMicroGen3dImport : public QObject {
    Q_OBJECT

    // The imported generator against one given the same values directly
    // (ranges at mean 0, std 1: no folding), on generation, round trip and
    // feature prediction.
    void checkSameAsDirect(const fs::path& dir, const Generator3D& imported) {
        Generator3D direct = Generator3D::create(imported.config(), 7);
        auto state = directState(dir / "expected.txt");
        d3::setGeneratorState(direct, state);
        std::map<std::string, double> target;  // every condition (a missing one takes each model's own mean)
        for (const auto& name : imported.conditionNames()) target[name] = 0.3 + 0.1 * double(target.size());
        GenerateOptions g;
        g.steps = 4;
        g.seed = 3;
        const auto a = imported.generate(target, 2, g), b = direct.generate(target, 2, g);
        QCOMPARE(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); ++i) {
            double worst = 0.0;
            for (std::size_t k = 0; k < a[i].field().size(); ++k)
                worst = std::max(worst, double(std::abs(a[i].field()[k] - b[i].field()[k])));
            QVERIFY2(worst < 1e-4, qPrintable(QString("decoded fields differ by %1").arg(worst)));
            QVERIFY(a[i].labels() == b[i].labels());
        }
        const auto probes = probeVolumes(imported.config().vae.dims);
        const auto roundTrip = imported.reconstruct(probes);
        QVERIFY(roundTrip[0].labels() == direct.reconstruct(probes)[0].labels());
        // The comparison can fail: one residual block's two convolutions swapped
        // (same shapes, so a mapping slip of that kind) changes the round trip.
        for (auto& [name, t] : state)
            if (name == "vae.dec_res1.conv1.weight") t = t.flip(0);
        d3::setGeneratorState(direct, state);
        const auto swapped = direct.reconstruct(probes);
        double largest = 0.0;
        for (std::size_t k = 0; k < swapped[0].field().size(); ++k)
            largest = std::max(largest, double(std::abs(swapped[0].field()[k] - roundTrip[0].field()[k])));
        QVERIFY2(largest > 1e-3, qPrintable(QString("a changed weight moved the output by only %1").arg(largest)));
        d3::setGeneratorState(direct, directState(dir / "expected.txt"));
        const auto pa = imported.predictFeatures(probes), pb = direct.predictFeatures(probes);
        for (const auto& [name, value] : pa[0]) QVERIFY2(std::abs(value - pb[0].at(name)) < 1e-4, name.c_str());
    }

private slots:
    void initTestCase() { torch::set_num_threads(1); }

    void importsTheDeconvLayoutWithTheStrideFromTheConfig() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        makeWeights(dir, {});
        MicroGen3dImportReport report;
        auto o = optionsFor(dir);
        o.name = "mg-test";
        const Generator3D model = importMicroGen3d(o, &report);
        const auto& c = model.config();
        QCOMPARE(c.vae.dims, (ms::Dims{32, 32, 32}));
        QCOMPARE(c.vae.channels, (std::vector<int>{8, 16, 16, 16}));
        QCOMPARE(c.vae.latentChannels, 2);
        QCOMPARE(c.vae.firstStride, 1);
        QCOMPARE(report.firstStrideSource, std::string("config"));
        QCOMPARE(report.vaeLayout, std::string("deconv_layers"));
        QCOMPARE(c.unetFeatures, 8);
        QCOMPARE(c.prediction, std::string("eps"));
        QCOMPARE(c.timesteps, 100);
        QCOMPARE(c.betaEnd, 0.2);  // 0.02 * 1000 / T
        QCOMPARE(c.conditions, (std::vector<std::string>{"ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1"}));
        QCOMPARE(report.carriedOutputs, (std::vector<std::string>{"norm_STAT_e"}));
        // Ranges: two from inference.random.ranges, two defaults.
        QCOMPARE(report.rangeSources, (std::vector<std::string>{"config", "config", "default", "default"}));
        QCOMPARE(model.featureRanges()[0].min, 0.4);
        QCOMPARE(model.featureRanges()[0].max, 0.6);
        QCOMPARE(model.metadata().name, std::string("mg-test"));
        QCOMPARE(report.tensors,
                 long(d3::readTorchStateDict(dir / "vae.pt").size() + d3::readTorchStateDict(dir / "fp.pt").size() +
                      d3::readTorchStateDict(dir / "ddpm.pt").size()));
        checkSameAsDirect(dir, model);
    }

    void importsTheListLayoutWithTheStrideFromTheWeights() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        makeWeights(dir, {"--decoder", "convs", "--first-stride", "2", "--stride-in-config", "none", "--shape",
                          "64,64,64", "--widths", "4,8,8,8", "--latent", "1", "--context", "ABS_f_D,CT_f_D_tort1"});
        MicroGen3dImportReport report;
        const Generator3D model = importMicroGen3d(optionsFor(dir), &report);
        QCOMPARE(model.config().vae.firstStride, 2);
        QCOMPARE(report.firstStrideSource, std::string("weights"));
        QCOMPARE(report.vaeLayout, std::string("convs/instnorms/resblocks"));
        QCOMPARE(model.config().vae.latentDims(), (ms::Dims{4, 4, 4}));
        QCOMPARE(report.carriedOutputs, (std::vector<std::string>{"CT_f_A_tort1", "norm_STAT_e"}));
        checkSameAsDirect(dir, model);
    }

    // The tensors as stored: values, shapes and order of the file.
    void readsTheStateDictsValues() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        makeWeights(dir, {});
        const auto fp = d3::readTorchStateDict(dir / "fp.pt");
        QCOMPARE(fp.size(), std::size_t(6));
        QCOMPARE(fp[0].first, std::string("fc1.weight"));
        QCOMPARE(fp[0].second.sizes().vec(), (std::vector<std::int64_t>{64, 128}));
        QCOMPARE(fp[0].second[1][2].item<float>(), referenceValue("fc1.weight", 130, {64, 128}));
        QCOMPARE(fp[5].first, std::string("fc3.bias"));
        QCOMPARE(fp[5].second[3].item<float>(), referenceValue("fc3.bias", 3, {4}));
    }

    // LibTorch's own writer (torch::pickle_save: zip, version record,
    // 64-byte aligned storages) of a dict of tensors, non-contiguous and
    // sharing one storage included.
    void readsLibTorchsOwnWriter() {
        QTemporaryDir tmp;
        const fs::path file = fs::path(tmp.path().toStdString()) / "dict.pt";
        auto base = torch::arange(12, torch::kFloat).view({3, 4});
        c10::Dict<std::string, torch::Tensor> dict;
        dict.insert("a", base);
        dict.insert("b", base.t());
        dict.insert("c", torch::tensor({1, 2, 3}, torch::kLong));
        const auto bytes = torch::pickle_save(dict);
        std::ofstream(file, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
        const auto read = d3::readTorchStateDict(file);
        QCOMPARE(read.size(), std::size_t(3));
        QVERIFY(torch::equal(read[0].second, base));
        QVERIFY(torch::equal(read[1].second, base.t()));
        QCOMPARE(read[2].second.scalar_type(), torch::kLong);
        QCOMPARE(read[2].second[2].item<long>(), 3L);
    }

    // A fuzz-lite pass: 4,000 byte-level mutations of a genuine pickle (bytes
    // changed, inserted, dropped; truncations) each parse or end in a one-line
    // ms::Error - never a crash, another exception or an allocation the
    // input's size does not support (storages are made only as large as the
    // pickle claims, capped here as the archive's record sizes cap them).
    void mutatedPicklesAreRefusedCleanly() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        makeWeights(dir, {});
        QProcess p;
        p.start("python3",
                {"-c", "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('fp/data.pkl'))",
                 QString::fromStdString((dir / "fp.pt").string())});
        QVERIFY(p.waitForFinished(60000) && p.exitCode() == 0);
        const QByteArray genuine = p.readAllStandardOutput();
        QVERIFY(genuine.size() > 400);
        const auto storage = [](const d3::PickledStorage& s) {
            if (s.numel > 100000) throw ms::Error("storage larger than its record");
            return torch::zeros({s.numel}, torch::TensorOptions().dtype(s.dtype));
        };
        std::mt19937 rng(12345);
        int parsed = 0, refused = 0;
        for (int round = 0; round < 4000; ++round) {
            std::string bytes(genuine.constData(), std::size_t(genuine.size()));
            const int edits = 1 + int(rng() % 4);
            for (int e = 0; e < edits; ++e) {
                const std::size_t at = rng() % bytes.size();
                switch (rng() % 4) {
                    case 0:
                        bytes[at] = char(rng());
                        break;
                    case 1:
                        bytes.insert(at, 1, char(rng()));
                        break;
                    case 2:
                        bytes.erase(at, 1);
                        break;
                    default:
                        bytes.resize(at + 1);
                }
                if (bytes.empty()) bytes = "\x80";
            }
            try {
                d3::unpickleStateDict(bytes.data(), bytes.size(), storage);
                ++parsed;
            } catch (const ms::Error& e) {
                QVERIFY2(std::string(e.what()).find('\n') == std::string::npos, e.what());
                ++refused;
            }
        }
        QVERIFY(refused > 3000);  // most mutations break the stream; some leave a valid one
        qInfo("mutated pickles: %d parsed, %d refused", parsed, refused);
    }

    void refusesWhatIsNotMicroGen3dInOneLine() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        makeWeights(dir, {});
        const auto oneLine = [](const std::string& e, const std::string& file, const std::string& reason) {
            QVERIFY2(e.find('\n') == std::string::npos, e.c_str());
            QVERIFY2(e.rfind(file, 0) == 0, e.c_str());
            QVERIFY2(e.find(reason) != std::string::npos, e.c_str());
        };
        // Not a zip; a missing file.
        std::ofstream(dir / "text.pt") << "not a zip archive at all\n";
        oneLine(errorOf([&] { d3::readTorchStateDict(dir / "text.pt"); }), (dir / "text.pt").string(),
                "not a readable torch.save archive");
        oneLine(errorOf([&] { d3::readTorchStateDict(dir / "none.pt"); }), (dir / "none.pt").string(), "no such file");
        // Pickles that lie: truncated, an unknown global, a storage too small for its tensor.
        const auto storage = [](const d3::PickledStorage& s) { return torch::zeros({s.numel}); };
        const std::string truncated =
            "\x80\x02}q\x00(X\x05\x00\x00\x00"
            "fc1.w"s;
        QVERIFY(errorOf([&] {
                    d3::unpickleStateDict(truncated.data(), truncated.size(), storage);
                }).find("truncated") != std::string::npos);
        const std::string os =
            "\x80\x02"
            "cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85R."s;
        QVERIFY(errorOf([&] { d3::unpickleStateDict(os.data(), os.size(), storage); }).find("calls os.system") !=
                std::string::npos);
        std::string tooFar =
            "\x80\x02}(X\x01\x00\x00\x00w"
            "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
            "ctorch\nFloatStorage\nX\x01\x00\x00\x00"
            "0X\x03\x00\x00\x00"
            "cpuK\x04tQK\x00K\x05\x85K\x01\x85\x89)tRu."s;
        QVERIFY(errorOf([&] {
                    d3::unpickleStateDict(tooFar.data(), tooFar.size(), storage);
                }).find("reads element 4 of storage 0, which holds 4") != std::string::npos);
        {  // A storage record shorter than the pickle claims (rewritten by Python's zipfile).
            QProcess p;
            p.start("python3", {"-c",
                                "import sys, zipfile\n"
                                "src = zipfile.ZipFile(sys.argv[1]); out = zipfile.ZipFile(sys.argv[2], 'w')\n"
                                "for n in src.namelist():\n"
                                "    out.writestr(n, src.read(n)[:-4] if n.endswith('/data/5') else src.read(n))\n",
                                QString::fromStdString((dir / "fp.pt").string()),
                                QString::fromStdString((dir / "short.pt").string())});
            QVERIFY(p.waitForFinished(60000) && p.exitCode() == 0);
            oneLine(errorOf([&] { d3::readTorchStateDict(dir / "short.pt"); }), (dir / "short.pt").string(),
                    "storage 5 holds 12 bytes, the pickle claims 4 elements of 4");
        }
        // Config and weights that disagree, each naming the file.
        {
            std::ofstream(dir / "bad.yaml") << "image_shape: [1, 32, 32, 32]\nattributes: [ABS_f_D]\n";
            auto o = optionsFor(dir);
            o.config = dir / "bad.yaml";
            oneLine(errorOf([&] { importMicroGen3d(o); }), o.featurePredictor.string(), "predicts 4 features");
            std::ofstream(dir / "bad.yaml") << "image_shape: [1, 32, 32]\nattributes: [ABS_f_D]\n";
            oneLine(errorOf([&] { importMicroGen3d(o); }), o.config.string(), "image_shape must be [1, D, H, W]");
            std::ofstream(dir / "bad.yaml") << "image_shape: [1, 32, 32, 32]\nattributes: [a, b\n";
            oneLine(errorOf([&] { importMicroGen3d(o); }), o.config.string(), "not YAML");
        }
        {  // The VAE where the DDPM belongs.
            auto o = optionsFor(dir);
            o.ddpm = dir / "vae.pt";
            oneLine(errorOf([&] { importMicroGen3d(o); }), o.ddpm.string(),
                    "no tensor nn_model.init_conv.conv1.0.weight");
        }
        {  // A storage's bytes overwritten with a bad zip header: the zip reader refuses.
            fs::copy_file(dir / "fp.pt", dir / "broken.pt");
            corrupt(dir / "broken.pt", 0, "XXXX");
            oneLine(errorOf([&] { d3::readTorchStateDict(dir / "broken.pt"); }), (dir / "broken.pt").string(),
                    "not a readable torch.save archive");
        }
    }
};

QTEST_GUILESS_MAIN(TestMicroGen3dImport)
#include "test_microgen3d_import.moc"
