// Data-parallel training (ms::ml::Communicator, c10d Gloo over 127.0.0.1):
// 2 ranks with batch B end with the same weights as 1 process with batch 2B
// (a 2D LDM with condition dropout, and the 3D generator's VAE stage), both
// ranks hold identical weights, a killed rank ends its peer with a clear
// message and the checkpoint resumes with another rank count, a stalled rank
// is given up after the timeout, ranks started
// with different options stop together, and a rank that cannot meet its
// peers gives up after the timeout.
//
// Ranks are processes: this executable re-run with --worker (torch's random
// generator is process-wide, so ranks as threads would share it), and the
// CLI for the end-to-end checks.
// torch first: Qt's keyword macros (slots, signals) must not reach it.
#include <torch/torch.h>

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QProcess>
#include <QtTest>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/ml/distributed.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/ldm2d.hpp"

namespace fs = std::filesystem;
using namespace ms::ml;

namespace {

fs::path tempDir(const std::string& name) {
    const auto dir = fs::temp_directory_path() / ("ms_test_distributed_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// --- The two model configurations (identical in every process) --------------------

struct LdmData {
    std::vector<std::vector<float>> x, vx;
    std::vector<std::vector<double>> c, vc;
};

LdmData ldmData() {
    std::mt19937_64 rng(17);
    std::normal_distribution<float> normal;
    LdmData d;
    auto row = [&] {
        std::vector<float> v(8);
        for (auto& f : v) f = normal(rng);
        return v;
    };
    for (int i = 0; i < 24; ++i) {
        d.x.push_back(row());
        d.c.push_back({double(d.x.back()[0]) + 0.1 * i});
    }
    for (int i = 0; i < 6; ++i) {
        d.vx.push_back(row());
        d.vc.push_back({double(d.vx.back()[0])});
    }
    return d;
}

Ldm2dConfig tinyLdm() {
    Ldm2dConfig c;
    c.latent = 8;
    c.hidden = 32;
    c.blocks = 2;
    c.timeEmbedding = 16;
    c.steps = 100;
    c.conditions = {"a"};
    c.conditionDropout = 0.3;  // random per sample: must be drawn for the global batch
    return c;
}

std::vector<ms::Volume> toyVolumes(int count, ms::Dims d, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<ms::Volume> out;
    for (int i = 0; i < count; ++i) {
        ms::Volume v(d);
        const double cx = u(rng) * d.nx, cy = u(rng) * d.ny, cz = u(rng) * d.nz, r = 2.5 + 3.0 * u(rng);
        for (int z = 0; z < d.nz; ++z)
            for (int y = 0; y < d.ny; ++y)
                for (int x = 0; x < d.nx; ++x) {
                    const double dist = std::sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz));
                    v.at(x, y, z) = dist < r ? ms::Acceptor : ms::Donor;
                }
        out.push_back(std::move(v));
    }
    return out;
}

// The biases of the 3D VAE's convolutions that feed an InstanceNorm (all but
// the mu/logvar heads and the output): the norm removes any per-channel
// constant, so their exact gradient is 0 and what a run computes is float
// rounding noise, which Adam's normalisation turns into lr-sized random
// steps in any two runs that sum in another order. Not comparable.
bool feedsInstanceNorm(const std::string& key) {
    return key.rfind("vae.", 0) == 0 && key.find("conv") != std::string::npos && key.size() > 5 &&
           key.compare(key.size() - 5, 5, ".bias") == 0;
}

// Every tensor of a weights file, in key order, without the uncomparable ones.
std::vector<float> weightsOf(const fs::path& file) {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    auto keys = archive.keys();
    std::sort(keys.begin(), keys.end());
    std::vector<float> out;
    for (const auto& key : keys) {
        if (feedsInstanceNorm(key)) continue;
        torch::Tensor t;
        archive.read(key, t);
        t = t.to(torch::kFloat).contiguous().view(-1);
        out.insert(out.end(), t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    }
    return out;
}

// Trains `kind` (ldm2d: 6 steps, vae3d: 4 steps) with the given rank layout
// and per-rank batch; returns the final weights.
std::vector<float> trainModel(const std::string& kind, const DistributedOptions& d, int batch, std::uint64_t seed,
                              const fs::path& scratch) {
    TrainOptions o;
    o.epochs = 2;
    o.batchSize = batch;
    o.learningRate = 1e-3;
    o.seed = seed;
    o.threads = 1;
    o.forceCpu = true;
    o.distributed = d;
    if (kind == "ldm2d") {
        const auto data = ldmData();
        Ldm2d model(tinyLdm(), 3);
        Ldm2dTrainOptions options;
        options.train = o;
        trainLdm2d(model, data.x, data.c, data.vx, data.vc, options);
        return model.flatParameters();
    }
    auto model = Generator3D::create(Generator3dConfig::tiny(2), 3);
    const ms::Dims dims = model.config().vae.dims;
    trainGenerator3dVae(model, toyVolumes(8, dims, 5), toyVolumes(2, dims, 6), o);
    model.save(scratch);
    return weightsOf(scratch / "generator3d.pt");
}

void writeFloats(const fs::path& path, const std::vector<float>& v) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
}

std::vector<float> readFloats(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<float> v(bytes.size() / sizeof(float));
    std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
    return v;
}

double maxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size() || a.empty()) return INFINITY;
    double m = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
    return m;
}

// test_distributed --worker KIND RANK WORLD PORT BATCH SEED OUT
int runWorker(char** argv) {
    try {
        DistributedOptions d;
        d.rank = std::atoi(argv[3]);
        d.worldSize = std::atoi(argv[4]);
        d.masterPort = std::atoi(argv[5]);
        d.timeoutSeconds = 60;
        const fs::path out = argv[8];
        const auto scratch = out.parent_path() / ("rank" + std::to_string(d.rank));
        writeFloats(out, trainModel(argv[2], d, std::atoi(argv[6]), std::uint64_t(std::atoll(argv[7])), scratch));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "worker: %s\n", e.what());
        return 1;
    }
}

QProcessEnvironment cleanEnvironment() {
    auto env = QProcessEnvironment::systemEnvironment();
    for (const char* v : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_NTASKS", "SLURM_PROCID"})
        env.remove(v);
    env.insert("MICROSTUDIO_THREADS", "1");
    return env;
}

}  // namespace

class TestDistributed : public QObject {
    Q_OBJECT

    // Two worker processes (ranks 0 and 1, batch B) vs this process (batch 2B).
    void compareWithSingleProcess(const std::string& kind, double tolerance) {
        const auto dir = tempDir(kind);
        const int port = freeLoopbackPort();
        std::vector<std::unique_ptr<QProcess>> ranks;
        for (int r = 0; r < 2; ++r) {
            auto p = std::make_unique<QProcess>();
            p->setProcessEnvironment(cleanEnvironment());
            p->setProcessChannelMode(QProcess::ForwardedErrorChannel);
            p->start(QCoreApplication::applicationFilePath(),
                     {"--worker", QString::fromStdString(kind), QString::number(r), "2", QString::number(port), "2",
                      "42", QString::fromStdString((dir / ("rank" + std::to_string(r) + ".bin")).string())});
            ranks.push_back(std::move(p));
        }
        // Meanwhile the reference: one process, the same global batch.
        const auto single = trainModel(kind, DistributedOptions{}, 4, 42, dir / "single");
        const auto otherSeed = trainModel(kind, DistributedOptions{}, 4, 43, dir / "other");
        for (auto& p : ranks) {
            QVERIFY(p->waitForFinished(120000));
            QCOMPARE(p->exitCode(), 0);
        }
        const auto rank0 = readFloats(dir / "rank0.bin"), rank1 = readFloats(dir / "rank1.bin");
        QCOMPARE(rank0.size(), single.size());
        // The ranks agree exactly (same averaged gradients, same Adam state).
        QCOMPARE(maxAbsDiff(rank0, rank1), 0.0);
        const double diff = maxAbsDiff(rank0, single), control = maxAbsDiff(otherSeed, single);
        qInfo("%s: max |w(2 ranks x 2) - w(1 x 4)| = %.3g; another seed differs by %.3g", kind.c_str(), diff, control);
        QVERIFY2(diff < tolerance, qPrintable(QString("2 ranks vs 1: %1").arg(diff)));
        QVERIFY(control > 100 * tolerance);  // the comparison can see a different run
        fs::remove_all(dir);
    }

    QStringList train3dArgs(const fs::path& data, const fs::path& out) {
        return {"train3d",
                "--data",
                QString::fromStdString(data.string()),
                "--out",
                QString::fromStdString(out.string()),
                "--stage",
                "vae",
                "--config",
                "tiny",
                "--epochs",
                "60",
                "--lr",
                "1e-3",
                "--threads",
                "1",
                "--checkpoint-every",
                "1"};
    }

    // Two `microstudio-cli train3d` ranks (batch 2 each) on 127.0.0.1:port.
    std::vector<std::unique_ptr<QProcess>> startCliRanks(const fs::path& data, const fs::path& out, int port,
                                                         int timeoutSeconds) {
        std::vector<std::unique_ptr<QProcess>> ranks;
        for (int r = 0; r < 2; ++r) {
            auto p = std::make_unique<QProcess>();
            p->setProcessEnvironment(cleanEnvironment());
            p->setProcessChannelMode(QProcess::MergedChannels);
            p->start(MICROSTUDIO_CLI, train3dArgs(data, out) << "--batch"
                                                             << "2"
                                                             << "--world-size"
                                                             << "2"
                                                             << "--rank" << QString::number(r) << "--master"
                                                             << QString("127.0.0.1:%1").arg(port) << "--dist-timeout"
                                                             << QString::number(timeoutSeconds));
            ranks.push_back(std::move(p));
        }
        return ranks;
    }

private slots:
    void ldm2dTwoRanksMatchOneProcessWithDoubleBatch() { compareWithSingleProcess("ldm2d", 1e-5); }
    void vae3dTwoRanksMatchOneProcessWithDoubleBatch() { compareWithSingleProcess("vae3d", 1e-5); }

    // bench dist's workloads through the library: both train on synthetic
    // data for the measured steps in one process and report a rate and
    // their parameter count; an unknown name and bad sizes are refused. The
    // free port is one a listening socket can take.
    void dataParallelWorkloadsInOneProcess() {
        for (const char* workload : {"ldm2d", "vae2d"}) {
            const auto f = runDataParallelWorkload(workload, 4, 2, 1, nullptr);
            QVERIFY2(f.samplesPerSecond > 0.0 && std::isfinite(f.samplesPerSecond), workload);
            QVERIFY(f.parameters > 1000);
            QCOMPARE(f.commPerStep, 0.0);  // one process: no all-reduce
        }
        QVERIFY_THROWS_EXCEPTION(ms::Error, runDataParallelWorkload("gan", 4, 2, 1, nullptr));
        QVERIFY_THROWS_EXCEPTION(ms::Error, runDataParallelWorkload("ldm2d", 0, 2, 1, nullptr));
        const int port = freeLoopbackPort();
        QVERIFY(port > 0 && port < 65536);
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(std::uint16_t(port));
        const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        QVERIFY(bound);
    }

    void optionsFromArgumentsAndEnvironment() {
        qputenv("WORLD_SIZE", "4");
        qputenv("RANK", "3");
        qputenv("MASTER_ADDR", "node7");
        qputenv("MASTER_PORT", "29123");
        auto o = DistributedOptions::fromArguments("", "", "", "");
        QCOMPARE(o.worldSize, 4);
        QCOMPARE(o.rank, 3);
        QCOMPARE(o.masterAddress, std::string("node7"));
        QCOMPARE(o.masterPort, 29123);
        o = DistributedOptions::fromArguments("2", "1", "10.0.0.1:4000", "7.5");  // flags win
        QCOMPARE(o.worldSize, 2);
        QCOMPARE(o.rank, 1);
        QCOMPARE(o.masterAddress, std::string("10.0.0.1"));
        QCOMPARE(o.masterPort, 4000);
        QCOMPARE(o.timeoutSeconds, 7.5);
        for (const char* v : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"}) qunsetenv(v);
        QVERIFY_THROWS_EXCEPTION(ms::Error, DistributedOptions::fromArguments("2", "2", "", ""));
        QVERIFY_THROWS_EXCEPTION(ms::Error, DistributedOptions::fromArguments("2", "0", "nohostport", ""));
        QVERIFY_THROWS_EXCEPTION(ms::Error, DistributedOptions::fromArguments("2", "0", "", "-1"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, DistributedOptions::fromArguments("x", "0", "", ""));
        QCOMPARE(DistributedOptions::fromArguments("", "", "", "").worldSize, 1);
    }

    // A rank that stalls (SIGSTOP: alive, sockets open) is given up after
    // --dist-timeout: no hang.
    void stalledRankEndsThePeerAfterTheTimeout() {
        const auto dir = tempDir("stall");
        const auto data = dir / "toy.h5";
        ms::io::writeHdf5(toyVolumes(8, ms::Dims{16, 16, 8}, 11), data);
        const auto out = dir / "model";
        const int port = freeLoopbackPort();
        auto ranks = startCliRanks(data, out, port, 3);
        for (const auto& p : ranks) QVERIFY(p->waitForStarted(10000));
        QElapsedTimer wait;
        wait.start();
        while (!fs::exists(out / "vae.ckpt") && wait.elapsed() < 60000 && ranks[0]->state() == QProcess::Running)
            QTest::qWait(20);
        QVERIFY(fs::exists(out / "vae.ckpt"));
        ::kill(pid_t(ranks[1]->processId()), SIGSTOP);
        QElapsedTimer stop;
        stop.start();
        const bool ended = ranks[0]->waitForFinished(30000);
        const double seconds = stop.elapsed() / 1000.0;
        ranks[1]->kill();
        ranks[1]->waitForFinished(10000);
        QVERIFY(ended);
        const QString log = QString::fromUtf8(ranks[0]->readAll());
        qInfo("rank 0 exited %.2f s after rank 1 stalled", seconds);
        QVERIFY(ranks[0]->exitCode() != 0);
        QVERIFY2(log.contains("lost the other ranks"), qPrintable(log));
        QVERIFY(seconds > 2.0 && seconds < 15.0);
        fs::remove_all(dir);
    }

    // Ranks started with different options (here --batch) all stop at once
    // with the same reason instead of training something else.
    void ranksThatDisagreeStopTogether() {
        const auto dir = tempDir("mismatch");
        const int port = freeLoopbackPort();
        std::vector<std::unique_ptr<QProcess>> ranks;
        for (int r = 0; r < 2; ++r) {
            auto p = std::make_unique<QProcess>();
            p->setProcessEnvironment(cleanEnvironment());
            p->setProcessChannelMode(QProcess::MergedChannels);
            p->start(QCoreApplication::applicationFilePath(),
                     {"--worker", "ldm2d", QString::number(r), "2", QString::number(port), QString::number(2 + r), "42",
                      QString::fromStdString((dir / ("rank" + std::to_string(r) + ".bin")).string())});
            ranks.push_back(std::move(p));
        }
        for (auto& p : ranks) {
            QVERIFY(p->waitForFinished(60000));
            const QString log = QString::fromUtf8(p->readAll());
            QCOMPARE(p->exitCode(), 1);
            QVERIFY2(log.contains("1 rank(s) differ from rank 0"), qPrintable(log));
        }
        fs::remove_all(dir);
    }

    // A rank whose peers never come: each side gives up after the timeout
    // with a one-line reason (rank 1: no master; rank 0: nobody joined).
    void aLonelyRankGivesUpAfterTheTimeout() {
        for (int rank : {1, 0}) {
            DistributedOptions d;
            d.worldSize = 2;
            d.rank = rank;
            d.masterPort = freeLoopbackPort();
            d.timeoutSeconds = 2;
            QElapsedTimer timer;
            timer.start();
            try {
                Communicator c(d);
                QFAIL("connected without a peer");
            } catch (const ms::Error& e) {
                const QString message = e.what();
                qInfo("rank %d after %.1f s: %s", rank, timer.elapsed() / 1000.0, e.what());
                QVERIFY(!message.contains('\n'));
                QVERIFY(message.contains(rank == 1 ? "cannot reach the master" : "not every rank joined"));
            }
            QVERIFY(timer.elapsed() < 20000);
        }
    }

    // End to end with two CLI processes: kill rank 1 mid-run; rank 0 stops
    // with a clear message well within the timeout; the checkpoint (global
    // batch 4) then resumes in one process with batch 4 to the end.
    void killedRankStopsThePeerAndTheRunResumes() {
        const auto dir = tempDir("kill");
        const auto data = dir / "toy.h5";
        ms::io::writeHdf5(toyVolumes(8, ms::Dims{16, 16, 8}, 11), data);
        const auto out = dir / "model";
        const int port = freeLoopbackPort();
        auto ranks = startCliRanks(data, out, port, 15);
        for (const auto& p : ranks) QVERIFY(p->waitForStarted(10000));
        QElapsedTimer wait;
        wait.start();
        while (!fs::exists(out / "vae.ckpt") && wait.elapsed() < 60000 && ranks[0]->state() == QProcess::Running)
            QTest::qWait(20);
        QVERIFY2(fs::exists(out / "vae.ckpt"), ranks[0]->peek(1 << 20).constData());
        ranks[1]->kill();
        QVERIFY(ranks[1]->waitForFinished(10000));
        QElapsedTimer stop;
        stop.start();
        QVERIFY(ranks[0]->waitForFinished(30000));
        const double seconds = stop.elapsed() / 1000.0;
        const QString log = QString::fromUtf8(ranks[0]->readAll());
        qInfo("rank 0 exited %.2f s after the kill: %s", seconds,
              qPrintable(log.split('\n', Qt::SkipEmptyParts).filter("error").join(" | ")));
        QVERIFY(seconds < 15.0);
        // Not killed by a signal (a write to the dead rank's socket raised SIGPIPE once).
        QCOMPARE(ranks[0]->exitStatus(), QProcess::NormalExit);
        QVERIFY(ranks[0]->exitCode() != 0);
        QVERIFY2(log.contains("lost the other ranks"), qPrintable(log));
        QVERIFY(!fs::exists(out / "generator3d.pt"));  // the stage did not finish

        // Resume alone with the same global batch (1 x 4).
        QProcess resume;
        resume.setProcessEnvironment(cleanEnvironment());
        resume.setProcessChannelMode(QProcess::MergedChannels);
        resume.start(MICROSTUDIO_CLI, train3dArgs(data, out) << "--batch"
                                                             << "4");
        QVERIFY(resume.waitForFinished(120000));
        const QString resumed = QString::fromUtf8(resume.readAll());
        QVERIFY2(resume.exitCode() == 0, qPrintable(resumed));
        QVERIFY2(resumed.contains("resumed"), qPrintable(resumed));
        QVERIFY2(resumed.contains("steps 120"), qPrintable(resumed));  // 60 epochs x 2 steps of 4
        QVERIFY(fs::exists(out / "generator3d.pt"));
        fs::remove_all(dir);
    }
};

int main(int argc, char** argv) {
    if (argc == 9 && std::string(argv[1]) == "--worker") return runWorker(argv);
    QCoreApplication app(argc, argv);
    TestDistributed test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_distributed.moc"
