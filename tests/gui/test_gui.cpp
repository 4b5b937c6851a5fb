// The studio window under a real X server (Xvfb + Mesa): the 3D view must
// show every phase in its colour, toggles and opacity must act on it, the
// slice views must follow one crosshair, and --screenshot must work.
#include <QtTest>

#include <QApplication>
#include <QCheckBox>
#include <QProcess>
#include <QSurfaceFormat>
#include <array>
#include <filesystem>

#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/render/phase_scene.hpp"
#include "microstudio/render/phase_style.hpp"
#include "microstudio/render/slice_view.hpp"
#include "microstudio/render/vtk_widget.hpp"
#include "microstudio/ui/main_window.hpp"
#include "microstudio/ui/noise_lab_panel.hpp"
#include "microstudio/noise/metrics.hpp"
#include <QComboBox>
#include <QTableWidget>

namespace {

// Counts pixels whose chromaticity is that of each phase colour (shading
// changes brightness, not chromaticity), and pixels that are not near-black.
struct ColourCensus {
    std::array<int, 3> phase{0, 0, 0};
    int lit = 0;
    int total = 0;
};

ColourCensus census(const QImage& image) {
    ColourCensus c;
    std::array<std::array<double, 3>, 3> chroma{};
    for (int p = 0; p < 3; ++p) {
        const auto col = ms::render::phaseColor(p);
        const double sum = col.r + col.g + col.b;
        chroma[std::size_t(p)] = {col.r / sum, col.g / sum, col.b / sum};
    }
    const QImage img = image.convertToFormat(QImage::Format_RGB32);
    for (int y = 0; y < img.height(); ++y)
        for (int x = 0; x < img.width(); ++x) {
            const QRgb px = img.pixel(x, y);
            const double r = qRed(px), g = qGreen(px), b = qBlue(px), sum = r + g + b;
            ++c.total;
            if (sum > 60) ++c.lit;
            if (sum < 90) continue;
            for (int p = 0; p < 3; ++p) {
                const auto& k = chroma[std::size_t(p)];
                const double d = std::abs(r / sum - k[0]) + std::abs(g / sum - k[1]) + std::abs(b / sum - k[2]);
                if (d < 0.09) ++c.phase[std::size_t(p)];
            }
        }
    return c;
}

ms::Volume demoVolume() {
    ms::SyntheticOptions o;
    o.donorFraction = 0.4;
    o.mixedFraction = 0.2;
    o.seed = 11;
    return ms::syntheticMicrostructure(ms::Dims{48, 48, 24}, o);
}

QImage render3d(ms::ui::MainWindow& w) {
    w.view3d()->requestRender();
    QTest::qWait(50);
    return w.view3d()->grabFramebuffer();
}

}  // namespace

class TestGui : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { QApplication::setOrganizationName("MicroStudioTest"); }

    void threeDViewShowsEveryPhaseColour() {
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "test");
        w.resize(1200, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        const QImage img = render3d(w);
        QVERIFY(!img.isNull());
        img.save(QDir::temp().filePath("ms_test_gui_3d.png"));
        const ColourCensus c = census(img);
        // Not black: the background gradient and the box are lit.
        QVERIFY2(c.lit > c.total / 2, qPrintable(QString("lit %1 of %2").arg(c.lit).arg(c.total)));
        for (int p = 0; p < 3; ++p)
            QVERIFY2(c.phase[std::size_t(p)] > c.total / 200,
                     qPrintable(QString("phase %1 colour: %2 pixels of %3").arg(p).arg(c.phase[std::size_t(p)]).arg(c.total)));
    }

    void hidingAPhaseRemovesItsColour() {
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "test");
        w.resize(1200, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        const int before = census(render3d(w)).phase[ms::Acceptor];
        auto* box = w.findChild<QCheckBox*>("phaseVisible1");
        QVERIFY(box);
        box->setChecked(false);  // through the panel, as a user does
        QVERIFY(!w.phaseScene()->phaseVisible(ms::Acceptor));
        const int after = census(render3d(w)).phase[ms::Acceptor];
        QVERIFY2(after < before / 20, qPrintable(QString("acceptor pixels %1 -> %2").arg(before).arg(after)));
        // Half-transparent donor lets other colours through: fewer pure donor pixels.
        const int donorOpaque = census(render3d(w)).phase[ms::Donor];
        w.setPhaseOpacity(ms::Donor, 0.2);
        QCOMPARE(w.phaseScene()->phaseOpacity(ms::Donor), 0.2);
        const int donorFaint = census(render3d(w)).phase[ms::Donor];
        QVERIFY2(donorFaint < donorOpaque, qPrintable(QString("%1 -> %2").arg(donorOpaque).arg(donorFaint)));
    }

    void sliceViewsShareOneCrosshair() {
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "test");
        w.resize(1200, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.setCrosshair(5, 7, 9);
        for (int i = 0; i < 3; ++i) QCOMPARE(w.sliceView(i)->position(), (std::array<int, 3>{5, 7, 9}));
        // The XY slice shows plane z = 9: its pixels are the volume's labels there.
        const QImage xy = w.sliceView(0)->image();
        QCOMPARE(xy.width(), 48);
        const auto c = ms::render::phaseColor(w.volume().at(3, 4, 9));
        QCOMPARE(qRed(xy.pixel(3, 47 - 4)), int(c.r * 255));
        // A click in the XZ view moves x and z, and the others follow.
        auto* xz = w.sliceView(1);
        QTest::mouseClick(xz, Qt::LeftButton, {}, QPoint(xz->width() / 2, xz->height() / 2 + 10));
        const auto p = xz->position();
        QCOMPARE(p[1], 7);  // the XZ plane's own coordinate stays
        for (int i = 0; i < 3; ++i) QCOMPARE(w.sliceView(i)->position(), p);
    }

    void twoDImageShowsOneSliceView() {
        ms::ui::MainWindow w;
        w.setVolume(ms::syntheticMicrostructure(ms::Dims{64, 32, 1}), "2d");
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(!w.view3d()->isVisible());
        QVERIFY(w.sliceView(0)->isVisible());
        QVERIFY(!w.sliceView(1)->isVisible());
    }

    void openFileReportsErrors() {
        ms::ui::MainWindow w;
        QVERIFY(!w.openFile("/nonexistent/file.vti", true));
        const QString path = QDir::temp().filePath("ms_test_gui_open.vti");
        ms::io::writeVolume(demoVolume(), path.toStdString());
        QVERIFY(w.openFile(path, true));
        QCOMPARE(w.volume().dims().nz, 24);
    }

    void noiseLabShowsNoisyAndDenoisedWithMetrics() {
        ms::ui::MainWindow w;
        ms::Volume image = ms::syntheticMicrostructure(ms::Dims{101, 101, 1});
        w.setVolume(image, "synthetic");
        w.show();
        auto* lab = w.noiseLab();
        lab->waitForPreview();
        // Salt and pepper at the paper's p = 0.15 by default: about 15 % flipped.
        const double flipped = ms::noise::pixelErrorRate(image, lab->noisy());
        QVERIFY2(flipped > 0.12 && flipped < 0.18, qPrintable(QString::number(flipped)));
        auto* table = lab->metricsTable();
        QCOMPARE(table->columnCount(), 2);  // noisy, best classical (no learned model yet)
        QCOMPARE(table->item(0, 0)->text().toDouble(), std::round(flipped * 1e4) / 1e4);
        QVERIFY(table->item(0, 1)->text().toDouble() < flipped / 2);  // the baseline cleans
        QVERIFY(!lab->bestClassicalName().isEmpty());
        // A learned denoiser plugs in as one more column; switching the noise type recomputes.
        lab->setLearnedDenoiser([image](const ms::Volume&) { return image; }, "oracle");
        lab->waitForPreview();
        QCOMPARE(table->columnCount(), 3);
        QCOMPARE(table->item(0, 1)->text().toDouble(), 0.0);
        auto* type = lab->findChild<QComboBox*>("noiseType");
        type->setCurrentText("grid");
        lab->waitForPreview();
        QVERIFY(ms::noise::pixelErrorRate(image, lab->noisy()) != flipped);
    }

    void screenshotOptionWritesThePicture() {
        const QString out = QDir::temp().filePath("ms_test_gui_screenshot.png");
        QFile::remove(out);
        QProcess app;
        app.start(MICROSTUDIO_GUI, {"--screenshot", out, "--size", "1000x700"});
        QVERIFY(app.waitForFinished(120000));
        QCOMPARE(app.exitCode(), 0);
        QImage shot(out);
        QCOMPARE(shot.size(), QSize(1000, 700));
        // The 3D view is the top-left quarter of the view area: it must hold all phase colours.
        const QImage view3d = shot.copy(QRect(shot.width() / 4, 30, shot.width() / 3, shot.height() / 3));
        const ColourCensus c = census(view3d);
        for (int p = 0; p < 3; ++p) QVERIFY2(c.phase[std::size_t(p)] > 100, qPrintable(QString("phase %1").arg(p)));
        // A bad file fails with a message and no picture.
        QProcess bad;
        bad.start(MICROSTUDIO_GUI, {"/nonexistent.vti", "--screenshot", out + ".bad.png"});
        QVERIFY(bad.waitForFinished(60000));
        QVERIFY(bad.exitCode() != 0);
        QVERIFY(!QFile::exists(out + ".bad.png"));
    }
};

int main(int argc, char** argv) {
    QSurfaceFormat format;
    format.setVersion(3, 2);
    format.setProfile(QSurfaceFormat::CoreProfile);
    format.setDepthBufferSize(24);
    format.setAlphaBufferSize(8);
    QSurfaceFormat::setDefaultFormat(format);
    QApplication app(argc, argv);
    TestGui test;
    return QTest::qExec(&test, argc, argv);
}
#include "test_gui.moc"
