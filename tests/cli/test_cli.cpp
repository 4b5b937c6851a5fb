// microstudio-cli end to end: convert through every format, refusals with a
// one-line reason and a non-zero exit, --help on every sub-command.
#include <QtTest>

#include <QProcess>
#include <QRegularExpression>
#include <filesystem>
#include <fstream>

#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/io.hpp"

namespace fs = std::filesystem;

namespace {

struct Run {
    int code = -1;
    QString out, err;
};

Run cli(const QStringList& args) {
    QProcess p;
    p.start(MICROSTUDIO_CLI, args);
    Run r;
    if (!p.waitForFinished(300000)) return r;
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

}  // namespace

class TestCli : public QObject {
    Q_OBJECT
    fs::path dir_;

private slots:
    void initTestCase() {
        dir_ = fs::temp_directory_path() / ("ms_test_cli_" + std::to_string(QCoreApplication::applicationPid()));
        fs::create_directories(dir_);
    }
    void cleanupTestCase() { fs::remove_all(dir_); }

    void convertRoundTripsThreePhaseThroughEveryFormat() {
        ms::SyntheticOptions o;
        o.donorFraction = 0.4;
        o.mixedFraction = 0.15;
        o.seed = 5;
        ms::Volume original = ms::syntheticMicrostructure(ms::Dims{64, 64, 32}, o);
        original.clearField();
        ms::io::writeVolume(original, dir_ / "start.vti");
        // A chain through every format and back, and every direct pair.
        const QStringList chain{"start.vti", "a.h5", "b.txt", "c.png", "d.vti", "e.png", "f.h5", "g.txt", "h.vti"};
        for (int i = 0; i + 1 < chain.size(); ++i) {
            const Run r = cli({"convert", q(dir_ / chain[i].toStdString()), q(dir_ / chain[i + 1].toStdString())});
            QVERIFY2(r.code == 0, qPrintable(chain[i] + " -> " + chain[i + 1] + ": " + r.err));
            const ms::Volume back = ms::io::readVolume(dir_ / chain[i + 1].toStdString());
            QVERIFY2(back.sameLabels(original), qPrintable(chain[i + 1]));
            QCOMPARE(back.phaseCount(), 3);
        }
        const Run info = cli({"info", q(dir_ / "a.h5")});
        QCOMPARE(info.code, 0);
        QVERIFY(info.out.contains("dims: 64x64x32 (3D)"));
        QVERIFY(info.out.contains("phases: 3"));
        QVERIFY(info.out.contains(QString("vol_frac_M: %1").arg(original.volumeFraction(ms::Mixed), 0, 'g', 6)));
    }

    void refusesBadInputWithOneLineReason() {
        auto write = [&](const char* name, const std::string& content) {
            std::ofstream(dir_ / name, std::ios::binary) << content;
            return q(dir_ / name);
        };
        struct Case {
            QString file;
            QString reason;
        };
        const std::vector<Case> cases{
            {write("trunc.txt", "4 4\n0 1 0 1\n0 1"), "truncated"},
            {write("dims.txt", "2 2\n0 1\n0 1\n1 1\n"), "more values"},
            {write("label.txt", "2 2\n0 1\n5 1\n"), "unknown label 5"},
            {write("nan.txt", "2 1\nnan 0\n"), "NaN"},
            {write("nan.vti", "<VTKFile type=\"ImageData\"><ImageData WholeExtent=\"0 1 0 0 0 0\"><Piece><PointData>"
                              "<DataArray type=\"Float64\" Name=\"phase\" format=\"ascii\">nan 1</DataArray>"
                              "</PointData></Piece></ImageData></VTKFile>"),
             "NaN"},
            {write("trunc.h5", std::string("\x89HDF\r\n\x1a\n", 8) + std::string(100, '\0')), "HDF5"},
            {write("junk.png", "not a png"), "not a PNG"},
            {q(dir_ / "missing.vti"), "no such file"},
        };
        for (const auto& c : cases) {
            const Run r = cli({"convert", c.file, q(dir_ / "out.vti")});
            QVERIFY2(r.code == 1, qPrintable(c.file + " exit " + QString::number(r.code)));
            QVERIFY2(r.err.contains(c.reason), qPrintable(c.file + ": " + r.err));
            QCOMPARE(r.err.trimmed().count('\n'), 0);  // one line
            QVERIFY(!fs::exists(dir_ / "out.vti"));
        }
        const Run ext = cli({"convert", q(dir_ / "h.vti"), q(dir_ / "out.xyz")});
        QCOMPARE(ext.code, 1);
        QVERIFY(ext.err.contains("unknown file type"));
        const Run usage = cli({"convert", "only-one-arg"});
        QCOMPARE(usage.code, 1);
        QVERIFY(usage.err.contains("expected IN and OUT"));
        const Run unknown = cli({"frobnicate"});
        QCOMPARE(unknown.code, 2);
    }

    void everyCommandHasHelp() {
        const Run top = cli({"--help"});
        QCOMPARE(top.code, 0);
        // Command names are the indented first words of the Commands section.
        const QString commands = top.out.section("Commands:", 1).section("\n\n", 0, 0);
        QRegularExpression line("^  (\\S+)\\s", QRegularExpression::MultilineOption);
        int seen = 0;
        for (auto it = line.globalMatch(commands); it.hasNext();) {
            const QString name = it.next().captured(1);
            const Run r = cli({name, "--help"});
            QVERIFY2(r.code == 0, qPrintable(name));
            QVERIFY2(r.out.contains("Usage: microstudio-cli " + name), qPrintable(name + ": " + r.out));
            ++seen;
        }
        QVERIFY(seen >= 3);
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
