// The studio window under a real X server (Xvfb + Mesa): the 3D view must
// show every phase in its colour, toggles and opacity must act on it, the
// slice views must follow one crosshair, and --screenshot must work.
#include <QtTest>
#include <QPainter>

#include <QApplication>
#include <QCheckBox>
#include <QProcess>
#include <QStandardPaths>
#include <QSurfaceFormat>
#include <QTemporaryDir>
#include <QToolButton>
#include <array>
#include <ctime>
#include <filesystem>
#include <unistd.h>
#include <fstream>

#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/render/phase_scene.hpp"
#include "microstudio/render/phase_style.hpp"
#include "microstudio/render/rotation_benchmark.hpp"
#include "microstudio/render/slice_view.hpp"
#include "microstudio/render/vtk_widget.hpp"
#include "microstudio/ui/main_window.hpp"
#include "microstudio/ui/microgen3d_import.hpp"
#include "microstudio/ui/noise_lab_panel.hpp"
#include "microstudio/ui/simulation_panel.hpp"
#include "microstudio/ui/viewer_panel.hpp"
#ifdef MICROSTUDIO_HAVE_DESIGN
#include <QChartView>
#include <QScatterSeries>
#include <QTabBar>
#include <QValueAxis>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QScrollArea>
#include <QSlider>
#include "microstudio/jobs/dataset_builder.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/train3d.hpp"
#include "microstudio/ml/vae2d.hpp"
#include "microstudio/ui/design_panel.hpp"
#include "microstudio/ui/evaluation_view.hpp"
#include "microstudio/ui/training_job.hpp"
#include "microstudio/ui/training_wizard.hpp"
#endif
#include <QSpinBox>
#include <QUndoStack>
#include "microstudio/ui/parameter_history.hpp"
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTimer>
#include "microstudio/noise/metrics.hpp"
#include "microstudio/noise/noise.hpp"
#include <QComboBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QHeaderView>
#include <QLabel>
#include <QSlider>
#include <QChartView>
#include <QFileDialog>
#include <QInputDialog>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <csignal>
#include <QStatusBar>
#include <QPointer>
#include <QSettings>
#include <QValueAxis>
#include <functional>
#include <set>
// Describe panel, orientation axes, scale bar, screenshot, slice legend (issue 26).
#include <QClipboard>
#include <QDialogButtonBox>
#include <QLineSeries>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <cmath>
#include "microstudio/core/error.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIBE_PANEL
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/ui/describe_panel.hpp"
#endif

namespace {

#ifdef MICROSTUDIO_HAVE_DESIGN
// A small 2D VAE training in `root` (emptied first) on the wizard's 40
// demo images of 32 px: 3 epochs, batch 8, one thread.
ms::ui::TrainingSettings tinyVaeTraining(ms::ui::MainWindow& w, const QString& root) {
    QDir(root).removeRecursively();
    w.training()->useDemoData(root + "/data.h5", 40, 32);
    ms::ui::TrainingSettings s;
    s.trainData = root + "/data.h5";
    s.outputDir = root + "/models";
    s.checkpointDir = root + "/checkpoints";
    s.epochs = 3;
    s.batch = 8;
    s.latent = 8;
    s.hidden = 32;
    s.channels = "8,16";
    s.threads = 1;
    return s;
}

// The reference run, straight through, as models/straight.pt; true when it finished.
bool trainStraight(ms::ui::TrainingSettings s) {
    ms::ui::TrainingJob straight;
    s.name = "straight";
    QSignalSpy done(&straight, &ms::ui::TrainingJob::finished);
    return straight.start(s) && done.wait(240000) &&
           done.first().at(0).value<ms::ui::TrainingJob::Outcome>() == ms::ui::TrainingJob::Outcome::Finished;
}
#endif

// The value of `name` in a running process's environment ("" when unset).
std::string environmentOf(qint64 pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    for (std::string entry; std::getline(in, entry, '\0');)
        if (entry.rfind(name + "=", 0) == 0) return entry.substr(name.size() + 1);
    return {};
}

// ML worker processes (microstudio-ml) this test process has started and that still run.
int childMlWorkers() {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::ifstream stat(entry.path() / "stat");
        std::string pid, comm, state;
        long ppid = 0;
        if (stat >> pid >> comm >> state >> ppid && ppid == long(::getpid()) && comm == "(microstudio-ml)") ++count;
    }
    return count;
}

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

// CPU time the calling (UI) thread has used, in milliseconds.
double uiThreadCpuMs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// Ticks every 10 ms on the UI thread and keeps the largest gap between ticks,
// in wall time and in the UI thread's own CPU time inside the gap.
struct LatencyProbe {
    QElapsedTimer clock;
    QTimer ticker;
    qint64 last = 0, worstGap = 0;
    double lastCpu = 0, worstCpuGap = 0;
    LatencyProbe() {
        ticker.setInterval(10);
        QObject::connect(&ticker, &QTimer::timeout, [this] {
            const qint64 now = clock.elapsed();
            const double cpu = uiThreadCpuMs();
            worstGap = std::max(worstGap, now - last);
            worstCpuGap = std::max(worstCpuGap, cpu - lastCpu);
            last = now;
            lastCpu = cpu;
        });
    }
    void start() {
        clock.start();
        lastCpu = uiThreadCpuMs();
        ticker.start();
    }
    void stop() { ticker.stop(); }
};

ms::Volume demoVolume() {
    ms::SyntheticOptions o;
    o.donorFraction = 0.4;
    o.mixedFraction = 0.2;
    o.seed = 11;
    return ms::syntheticMicrostructure(ms::Dims{48, 48, 24}, o);
}

// Pixels within `tolerance` (sum of channel differences) of a colour.
int countColour(const QImage& image, const QColor& colour, int tolerance = 40) {
    const QImage img = image.convertToFormat(QImage::Format_RGB32);
    int n = 0;
    for (int y = 0; y < img.height(); ++y)
        for (int x = 0; x < img.width(); ++x) {
            const QRgb p = img.pixel(x, y);
            if (std::abs(qRed(p) - colour.red()) + std::abs(qGreen(p) - colour.green()) +
                    std::abs(qBlue(p) - colour.blue()) <=
                tolerance)
                ++n;
        }
    return n;
}

// Runs `microstudio ARGS --screenshot FILE --size 1100x800` and returns the picture.
// Baseline images (as f3d's tests): a screenshot matches its baseline in
// tests/gui/baselines/ when at most `tolerance` of its pixels differ by more
// than 48 in a channel (anti-aliasing, text rendering and timing-dependent
// labels stay under it; a moved panel or a changed colour does not).
// MICROSTUDIO_UPDATE_BASELINES=1 rewrites the baselines (look at them).
struct BaselineComparison {
    bool matches = false;
    double differing = 1.0;  // fraction of pixels
    QString message;
};

BaselineComparison compareImages(const QImage& shot, const QImage& baseline, double tolerance) {
    BaselineComparison c;
    if (baseline.isNull()) {
        c.message = "no baseline image";
        return c;
    }
    if (shot.size() != baseline.size()) {
        c.message = QString("size %1x%2, baseline %3x%4")
                        .arg(shot.width())
                        .arg(shot.height())
                        .arg(baseline.width())
                        .arg(baseline.height());
        return c;
    }
    const QImage a = shot.convertToFormat(QImage::Format_RGB32), b = baseline.convertToFormat(QImage::Format_RGB32);
    long differing = 0;
    for (int y = 0; y < a.height(); ++y) {
        const auto* ra = reinterpret_cast<const QRgb*>(a.constScanLine(y));
        const auto* rb = reinterpret_cast<const QRgb*>(b.constScanLine(y));
        for (int x = 0; x < a.width(); ++x) {
            const int d = std::max({std::abs(qRed(ra[x]) - qRed(rb[x])), std::abs(qGreen(ra[x]) - qGreen(rb[x])),
                                    std::abs(qBlue(ra[x]) - qBlue(rb[x]))});
            differing += d > 48;
        }
    }
    c.differing = double(differing) / double(a.width() * a.height());
    c.matches = c.differing <= tolerance;
    c.message =
        QString("%1% of the pixels differ (tolerance %2%)").arg(100.0 * c.differing, 0, 'f', 2).arg(100.0 * tolerance);
    return c;
}

BaselineComparison compareWithBaseline(const QImage& shot, const QString& name, double tolerance = 0.02) {
    const QString path = QString(MICROSTUDIO_SOURCE_DIR) + "/tests/gui/baselines/" + name + ".png";
    if (qEnvironmentVariableIntValue("MICROSTUDIO_UPDATE_BASELINES") == 1) {
        QDir().mkpath(QFileInfo(path).absolutePath());
        BaselineComparison c;
        c.matches = shot.save(path);
        c.differing = 0.0;
        c.message = "baseline rewritten: " + path;
        qInfo("%s", qPrintable(c.message));
        return c;
    }
    auto c = compareImages(shot, QImage(path), tolerance);
    if (!c.matches) {
        const QString failed = QDir::temp().filePath("ms_test_gui_failed_" + name + ".png");
        shot.save(failed);
        c.message = name + ": " + c.message + " (screenshot " + failed + ", baseline " + path + ")";
    }
    return c;
}

QImage studioScreenshot(const QStringList& args, const QString& name, const QString& size = "1100x800") {
    const QString out = QDir::temp().filePath(name);
    QFile::remove(out);
    QProcess app;
    app.setProcessChannelMode(QProcess::ForwardedChannels);
    app.start(MICROSTUDIO_GUI, args + QStringList{"--screenshot", out, "--size", size});
    if (!app.waitForFinished(300000) || app.exitCode() != 0) return {};
    return QImage(out);
}

QImage render3d(ms::ui::MainWindow& w) {
    w.view3d()->requestRender();
    QTest::qWait(50);
    return w.view3d()->grabFramebuffer();
}

#ifdef MICROSTUDIO_HAVE_DESIGN
// A tiny untrained generator with condition ranges and a training cloud (what
// a training leaves, so that sliders and the feasibility check have data),
// saved to a temporary folder.
// Makes an untrained tiny generator in `folder` (emptied first) with the CLI,
// as a user would (`generate --create-tiny`): the CLI's exit code, -1 when it
// did not finish within 2 minutes.
int createTinyGeneratorWithCli(const QString& folder, const QStringList& extra = {}) {
    QDir(folder).removeRecursively();
    QProcess make;
    make.start(MICROSTUDIO_CLI, QStringList{"generate", "--create-tiny", folder} + extra);
    if (!make.waitForFinished(120000)) return -1;
    return make.exitStatus() == QProcess::NormalExit ? make.exitCode() : -1;
}

// Starts a 4-epoch denoising VAE (batch 8, widths 8,16) named `model` on the
// wizard's demo data, as a user would through its pages.
void startDemoVaeTraining(ms::ui::TrainingWizard* wizard, const QString& data, const QString& model) {
    wizard->setErrorDialogs(false);
    wizard->restart();
    wizard->useDemoData(QDir::temp().filePath(data), 40, 32);
    wizard->next();
    wizard->findChild<QLineEdit*>("modelName")->setText(model);
    wizard->next();
    wizard->findChild<QSpinBox*>("epochs")->setValue(4);
    wizard->findChild<QSpinBox*>("batch")->setValue(8);
    wizard->findChild<QLineEdit*>("channels")->setText("8,16");
    wizard->next();
}

// The studio shown on its Design tab at `size` with `folder`'s generator
// loaded; null when the window is not exposed or the model does not load.
ms::ui::DesignPanel* openDesign(ms::ui::MainWindow& w, const QString& folder, QSize size) {
    w.tabs()->setCurrentWidget(w.design());
    w.resize(size);
    w.show();
    if (!QTest::qWaitForWindowExposed(&w)) return nullptr;
    return w.design()->loadModel(folder, true) ? w.design() : nullptr;
}

QString tinyGeneratorWithData(const QString& name, int phases) {
    auto model = ms::ml::Generator3D::create(ms::ml::Generator3dConfig::tiny(phases), 1);
    const std::map<std::string, std::array<double, 2>> span{{"ABS_f_D", {0.3, 0.7}},      {"CT_f_D_tort1", {0.5, 1.0}},
                                                            {"CT_f_A_tort1", {0.5, 1.0}}, {"vol_frac_D", {0.35, 0.65}},
                                                            {"vol_frac_M", {0.05, 0.30}}, {"tortuosity_D", {1.0, 1.6}},
                                                            {"tortuosity_A", {1.0, 1.6}}, {"phi", {0.35, 0.65}},
                                                            {"chi", {2.5, 4.0}},          {"log_time", {0.0, 7.6}}};
    std::vector<ms::ml::FeatureRange> ranges;
    for (const auto& output : model.outputNames()) {
        const auto it = span.find(output);
        const double lo = it == span.end() ? 0.0 : it->second[0], hi = it == span.end() ? 1.0 : it->second[1];
        ranges.push_back({output, lo, hi, (lo + hi) / 2, (hi - lo) / 4});
    }
    model.setFeatureRanges(ranges);
    std::vector<std::vector<double>> rows;
    for (int i = 0; i < 60; ++i)
        rows.push_back(phases == 3 ? std::vector<double>{0.40 + 0.003 * i, 0.12 + 0.001 * i, 1.10 + 0.005 * (i % 9),
                                                         1.15 + 0.004 * (i % 7)}
                                   : std::vector<double>{0.40 + 0.004 * i, 0.80 + 0.002 * i, 0.70 + 0.003 * (i % 7)});
    model.setTrainingConditions(ms::ml::ConditionCloud::fromSamples(model.conditionNames(), rows));
    const QString folder = QDir::temp().filePath(name);
    QDir(folder).removeRecursively();
    model.save(folder.toStdString());
    return folder;
}

// Held-out samples for the tiny 2-phase generator (16x16x8): a ball of
// acceptor in donor with an acceptor slab, the conditions and processing
// outputs as attributes (ABS_f_D measured, the rest spread), split "test".
std::vector<ms::Volume> heldOutSamples(int count) {
    std::vector<ms::Volume> out;
    const ms::Dims d{16, 16, 8};
    for (int i = 0; i < count; ++i) {
        ms::Volume v(d);
        const double cx = 3.0 + (i * 7) % 10, cy = 4.0 + (i * 5) % 8, cz = 2.0 + i % 4, r = 2.5 + 0.3 * (i % 9);
        const int slab = (i * 3) % 16;
        for (int z = 0; z < d.nz; ++z)
            for (int y = 0; y < d.ny; ++y)
                for (int x = 0; x < d.nx; ++x) {
                    const double dist = std::sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz));
                    v.at(x, y, z) = dist < r || std::abs(x - slab) <= 1 ? ms::Acceptor : ms::Donor;
                }
        auto& a = v.attributes;
        a["ABS_f_D"] = v.volumeFraction(ms::Donor);
        a["CT_f_D_tort1"] = 0.7 + 0.02 * i;
        a["CT_f_A_tort1"] = 0.9 - 0.015 * i;
        a["phi"] = 0.3 + 0.01 * i;
        a["chi"] = 2.0 + 0.1 * (i % 5);
        a["log_time"] = 1.0 + 0.05 * i;
        v.text["split"] = "test";
        out.push_back(std::move(v));
    }
    return out;
}

// Squared Pearson correlation of a scatter series' points.
double squaredPearson(const QList<QPointF>& points) {
    const double n = double(points.size());
    double mx = 0, my = 0;
    for (const auto& p : points) mx += p.x() / n, my += p.y() / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (const auto& p : points) {
        sxy += (p.x() - mx) * (p.y() - my);
        sxx += (p.x() - mx) * (p.x() - mx);
        syy += (p.y() - my) * (p.y() - my);
    }
    return sxy * sxy / (sxx * syy);
}

// The number box beside a target slider.
// The Design tab's sampling for a test run: `count` samples, plain (one
// draw each), and `steps` solver steps when given.
void setPlainSampling(ms::ui::DesignPanel* design, int count, int steps = -1) {
    design->findChild<QSpinBox*>()->setValue(count);  // the first spin box: samples
    design->findChild<QSpinBox*>("candidates")->setValue(1);
    if (steps >= 0) design->findChild<QSpinBox*>("steps")->setValue(steps);
}

QDoubleSpinBox* targetSpin(ms::ui::DesignPanel* design, const std::string& name) {
    auto* slider = design->findChild<QSlider*>(QString::fromStdString("target_" + name));
    return slider ? slider->parentWidget()->findChild<QDoubleSpinBox*>() : nullptr;
}

#endif

// Types `text` as a person does: one key at a time into whatever has the
// window's keyboard focus (through the window, as the platform delivers
// keys), `intervalMs` apart.
void typeSlowly(QWidget* window, const QString& text, int intervalMs = 300) {
    for (const QChar c : text) {
        QTest::keyClick(window->windowHandle(), c.toLatin1());
        QTest::qWait(intervalMs);
    }
}

// Focuses `box`, selects its text and types `text` over it at a person's
// pace, ending with `end` (Enter or Tab). False when the box took no focus.
bool typeIntoBox(QWidget* window, QAbstractSpinBox* box, const QString& text, Qt::Key end = Qt::Key_Return) {
    box->setFocus();
    if (!QTest::qWaitFor([box] { return QApplication::focusWidget() == box; })) return false;
    QTest::keyClick(window->windowHandle(), Qt::Key_A, Qt::ControlModifier);
    QTest::qWait(200);
    typeSlowly(window, text, 200);
    QTest::keyClick(window->windowHandle(), end);
    QTest::qWait(100);
    return true;
}

// Shows the studio window on `tab` at `size`, exposed and active: what the
// layout and typing tests start from. False when the window system did not
// give that.
bool showAt(ms::ui::MainWindow& w, QWidget* tab, QSize size) {
    w.tabs()->setCurrentWidget(tab);
    w.resize(size);
    w.show();
    if (!QTest::qWaitForWindowExposed(&w)) return false;
    w.activateWindow();
    return QTest::qWaitForWindowActive(&w) && w.size() == size;
}

// Snapshots of a run as `simulate` writes them: two-phase volumes that grow
// coarser, named snap_00000k, each with its time.
std::vector<ms::Volume> runSnapshots(int count) {
    std::vector<ms::Volume> out;
    for (int k = 0; k < count; ++k) {
        ms::SyntheticOptions o;
        o.wavelength = 4.0 + 4.0 * k;
        o.seed = 3;
        ms::Volume v = ms::syntheticMicrostructure(ms::Dims{32, 32, 16}, o);
        v.text["sample"] = QString("snap_%1").arg(k, 6, 10, QChar('0')).toStdString();
        v.attributes["time"] = 10.0 * k * k;
        out.push_back(std::move(v));
    }
    return out;
}

// The noise lab's line naming its sample ("Sample: NAME (SIZE)" and any error).
QString noiseLabSampleText(ms::ui::NoiseLabPanel* lab) {
    for (auto* label : lab->findChildren<QLabel*>())
        if (label->text().startsWith("Sample:")) return label->text();
    return {};
}

// Whether all of `label`'s text shows (one line, not cut off on the right).
bool showsWholeText(const QLabel* label) {
    return label->fontMetrics().horizontalAdvance(label->text()) <= label->contentsRect().width();
}

// Deals with the next modal dialog from inside the event loop it runs:
// every 100 ms for up to 20 s `answer` sees the active modal widget and
// returns true once it has dealt with it (false: not the one it waits for).
// Polling stops when the returned guard goes (at the latest).
[[nodiscard]] std::shared_ptr<void> answerModal(std::function<bool(QWidget*)> answer) {
    auto* timer = new QTimer(qApp);
    auto clock = std::make_shared<QElapsedTimer>();
    clock->start();
    QObject::connect(timer, &QTimer::timeout, [timer, answer, clock] {
        timer->stop();  // an answer that waits (typing) must not be entered again
        QWidget* modal = QApplication::activeModalWidget();
        if ((modal && answer(modal)) || clock->elapsed() > 20000) timer->deleteLater();
        else timer->start();
    });
    timer->start(100);
    const QPointer<QTimer> polling(timer);
    return std::shared_ptr<void>(nullptr, [polling](void*) { delete polling.data(); });
}

// answerModal for the next message box: its text into `text`, then OK.
[[nodiscard]] std::shared_ptr<void> acknowledgeMessageBox(QString& text) {
    return answerModal([&text](QWidget* modal) {
        auto* box = qobject_cast<QMessageBox*>(modal);
        if (!box) return false;
        text = box->text();
        box->button(QMessageBox::Ok)->click();
        return true;
    });
}

// The menu bar's action whose text (without '&') is `text`.
QAction* menuAction(QMainWindow& w, const QString& text) {
    for (QAction* menu : w.menuBar()->actions())
        if (menu->menu())
            for (QAction* a : menu->menu()->actions())
                if (a->text().remove('&') == text) return a;
    return nullptr;
}

// Pixels of two same-sized pictures that differ (sum of channel differences > 30).
int differingPixels(const QImage& a, const QImage& b) {
    const QImage x = a.convertToFormat(QImage::Format_RGB32), y = b.convertToFormat(QImage::Format_RGB32);
    if (x.size() != y.size()) return x.width() * x.height();
    int n = 0;
    for (int r = 0; r < x.height(); ++r)
        for (int c = 0; c < x.width(); ++c) {
            const QRgb p = x.pixel(c, r), q = y.pixel(c, r);
            if (std::abs(qRed(p) - qRed(q)) + std::abs(qGreen(p) - qGreen(q)) + std::abs(qBlue(p) - qBlue(q)) > 30) ++n;
        }
    return n;
}

// Ticks of a value axis: from its minimum, (max - min) / (count - 1) apart.
QList<double> tickValues(const QValueAxis* axis) {
    QList<double> ticks;
    const double step = (axis->max() - axis->min()) / std::max(1, axis->tickCount() - 1);
    for (int i = 0; i < axis->tickCount(); ++i) ticks << axis->min() + i * step;
    return ticks;
}
}  // namespace

class TestGui : public QObject {
    Q_OBJECT
private slots:
    // `microstudio --help` and `--version` print and exit 0 where there is
    // no display at all (no DISPLAY, WAYLAND_DISPLAY or QT_QPA_PLATFORM).
    void helpAndVersionWithoutADisplay() {
        for (const QString& option : {QString("--help"), QString("--version")}) {
            QProcess app;
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}) env.remove(name);
            app.setProcessEnvironment(env);
            app.start(MICROSTUDIO_GUI, {option});
            QVERIFY(app.waitForFinished(60000));
            const QString out = QString::fromLocal8Bit(app.readAllStandardOutput());
            QCOMPARE(app.exitStatus(), QProcess::NormalExit);
            QCOMPARE(app.exitCode(), 0);
            QVERIFY2(option == "--help" ? out.contains("--bench-rotate") : out.contains("MicroStudio"),
                     qPrintable(out + app.readAllStandardError()));
        }
    }

    void initTestCase() {
        QApplication::setOrganizationName("MicroStudioTest");
        // User model and dataset folders under ~/.qttest, not the user's own.
        QStandardPaths::setTestModeEnabled(true);
        cleanupTestCase();
    }
    void cleanupTestCase() {
#ifdef MICROSTUDIO_HAVE_DESIGN
        // Models trained here would be loaded by the next run's windows.
        QDir(ms::ui::userModelDirectory()).removeRecursively();
#endif
    }

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
                     qPrintable(
                         QString("phase %1 colour: %2 pixels of %3").arg(p).arg(c.phase[std::size_t(p)]).arg(c.total)));
    }

    void hidingAPhaseRemovesItsColour() {
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "test");
        w.resize(1200, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        const int before = census(render3d(w)).phase[ms::Acceptor];
        auto* box = w.viewer()->findChild<QCheckBox*>("phaseVisible1");
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
        w.tabs()->setCurrentWidget(w.viewer());  // the first tab may be another one (settings, models)
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(!w.view3d()->isVisible());
        QVERIFY(w.sliceView(0)->isVisible());
        QVERIFY(!w.sliceView(1)->isVisible());
    }

    // About opens at once (the worker's start takes about 0.5 s) and fills in
    // the worker's LibTorch and device when it answers; a second look needs no
    // second question.
    void aboutNamesVersionsAndDevice() {
        ms::ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.showAbout();
        auto* box = w.findChild<QMessageBox*>("aboutBox");
        QVERIFY(box && box->isVisible());
        QVERIFY2(box->text().contains(QString("Qt ") + qVersion()), qPrintable(box->text()));
        QVERIFY(box->text().contains("VTK 9."));
#ifdef MICROSTUDIO_HAVE_DESIGN
        QVERIFY2(box->text().contains("asking microstudio-ml"), qPrintable(box->text()));
        QTRY_VERIFY2_WITH_TIMEOUT(box->text().contains("LibTorch 1.") || box->text().contains("LibTorch 2."),
                                  qPrintable(box->text()), 20000);
        QVERIFY(box->text().contains("cpu (") || box->text().contains("cuda ("));
        QTest::keyClick(box, Qt::Key_Return);
        QTRY_VERIFY(!w.findChild<QMessageBox*>("aboutBox"));
        w.showAbout();
        QVERIFY2(w.findChild<QMessageBox*>("aboutBox")->text().contains("LibTorch"), qPrintable(w.aboutText()));
        QTest::keyClick(w.findChild<QMessageBox*>("aboutBox"), Qt::Key_Escape);
#endif
    }

    // A worker that cannot start is named in the box, and asked again next time.
    void aboutNamesAWorkerThatDoesNotStart() {
#ifndef MICROSTUDIO_HAVE_DESIGN
        QSKIP("built without the ML worker");
#endif
        const QByteArray saved = qgetenv("MICROSTUDIO_ML_WORKER");
        qputenv("MICROSTUDIO_ML_WORKER", "/nonexistent/microstudio-ml");
        ms::ui::MainWindow w;
        w.showAbout();
        auto* box = w.findChild<QMessageBox*>("aboutBox");
        QVERIFY(box);
        QTRY_VERIFY2(box->text().contains("/nonexistent/microstudio-ml does not answer --version"),
                     qPrintable(box->text()));
        QVERIFY(w.aboutText().contains("asking microstudio-ml"));  // not kept
        box->close();
        if (saved.isEmpty()) qunsetenv("MICROSTUDIO_ML_WORKER");
        else qputenv("MICROSTUDIO_ML_WORKER", saved);
    }

    void parameterChangesUndoAndRedo() {
        ms::ui::MainWindow w;
        auto* sim = w.simulation();
        auto* stack = w.history()->stack();
        const int before = stack->count();
        ms::ui::SimulationSettings s = sim->settings();
        QCOMPARE(s.phi, 0.5);
        s.phi = 0.4;
        sim->setSettings(s);
        QCOMPARE(stack->count(), before + 1);
        s.phi = 0.35;  // within a second on the same control: merged into one step
        sim->setSettings(s);
        QCOMPARE(stack->count(), before + 1);
        stack->undo();
        QCOMPARE(sim->settings().phi, 0.5);
        stack->redo();
        QCOMPARE(sim->settings().phi, 0.35);
        // The noise lab's controls are tracked too.
        auto* type = w.noiseLab()->findChild<QComboBox*>("noiseType");
        type->setCurrentText("frequency");
        stack->undo();
        QCOMPARE(type->currentText(), QString("salt-pepper"));
        QVERIFY(stack->canRedo());
    }

    void openFileReportsErrors() {
        ms::ui::MainWindow w;
        QVERIFY(!w.openFile("/nonexistent/file.vti", true));
        const QString path = QDir::temp().filePath("ms_test_gui_open.vti");
        ms::io::writeVolume(demoVolume(), path.toStdString());
        QVERIFY(w.openFile(path, true));
        QCOMPARE(w.volume().dims().nz, 24);
    }

    // Opening a two-phase file fills the noise lab but starts no ML worker:
    // the shipped learned denoiser joins (and its worker starts) the first
    // time the lab shows, as its own column.
    void noiseLabStartsItsWorkerWhenShown() {
        ms::ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        const QString path = QDir::temp().filePath("ms_test_lab_lazy.h5");
        ms::io::writeVolume(ms::syntheticMicrostructure(ms::Dims{101, 101, 1}), path.toStdString());
        QVERIFY(w.openFile(path, true));
        w.noiseLab()->waitForPreview();
        QCOMPARE(w.noiseLab()->metricsTable()->columnCount(), 2);  // noisy, best classical
        QCOMPARE(w.noiseLab()->denoiserPicker()->currentIndex(), 0);
        QCOMPARE(childMlWorkers(), 0);
        w.tabs()->setCurrentWidget(w.noiseLab());
        QCOMPARE(w.noiseLab()->denoiserPicker()->currentText(), QString("denoise-vae2d"));
        QTRY_COMPARE_WITH_TIMEOUT(w.noiseLab()->metricsTable()->columnCount(), 3, 60000);
        QCOMPARE(childMlWorkers(), 1);
    }

    void noiseLabShowsNoisyAndDenoisedWithMetrics() {
        ms::ui::MainWindow w;
        ms::Volume image = ms::syntheticMicrostructure(ms::Dims{101, 101, 1});
        w.setVolume(image, "synthetic");
        w.show();
        auto* lab = w.noiseLab();
        lab->setLearnedDenoiser({}, QString());  // whatever model is installed: start without one
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
        // Samples also come from files and datasets; three-phase ones are refused.
        lab->setLearnedDenoiser({}, QString());
        const QString dataset = QDir::temp().filePath("ms_test_gui_lab.h5");
        ms::Volume second = ms::syntheticMicrostructure(ms::Dims{64, 48, 1}, {});
        second.text["sample"] = "b";
        image.text["sample"] = "a";
        ms::io::writeHdf5({image, second}, dataset.toStdString());
        lab->loadSample(dataset, 1);
        lab->waitForPreview();
        QCOMPARE(lab->noisy().dims(), (ms::Dims{64, 48, 1}));
        bool refused = false;
        try {
            lab->loadSample(dataset, 2);
        } catch (const std::exception&) {
            refused = true;
        }
        QVERIFY(refused);
        ms::SyntheticOptions threePhase;
        threePhase.mixedFraction = 0.2;
        const QString mixed = QDir::temp().filePath("ms_test_gui_lab3.vti");
        ms::io::writeVolume(ms::syntheticMicrostructure(ms::Dims{32, 32, 1}, threePhase), mixed.toStdString());
        refused = false;
        try {
            lab->loadSample(mixed);
        } catch (const std::exception& e) {
            refused = QString(e.what()).contains("two-phase");
        }
        QVERIFY(refused);
        lab->loadSample(dataset, 0);
        lab->waitForPreview();
        auto* type = lab->findChild<QComboBox*>("noiseType");
        type->setCurrentText("grid");
        lab->waitForPreview();
        QVERIFY(ms::noise::pixelErrorRate(image, lab->noisy()) != flipped);
    }

    void viewerStepsThroughTheSamplesOfAFile() {
        // Issue 26.5: a multi-snapshot .h5 opened at sample 0 only (near-random
        // noise for a simulation run) with no way to step through the samples.
        QTemporaryDir dir;
        const QString path = dir.filePath("run.h5");
        const auto samples = runSnapshots(5);
        ms::io::writeHdf5(samples, path.toStdString());
        ms::ui::MainWindow w;
        QVERIFY(w.openFile(path, true));
        QVERIFY(showAt(w, w.viewer(), {1024, 700}));
        auto* control = w.viewer()->findChild<QWidget*>("sampleControl");
        QVERIFY(control && control->isVisible());
        auto* spin = control->findChild<QSpinBox*>("sampleIndex");
        auto* slider = control->findChild<QSlider*>("sampleSlider");
        auto* label = control->findChild<QLabel*>("sampleName");
        const auto button = [control](const char* name) { return control->findChild<QToolButton*>(name); };
        QVERIFY(spin && slider && label && button("sampleFirst") && button("samplePrevious") && button("sampleNext") &&
                button("sampleLast"));
        // It opens at the last sample, the end of the run, and names it and its time.
        QCOMPARE(slider->maximum(), 4);
        QCOMPARE(spin->value(), 4);
        QCOMPARE(slider->value(), 4);
        QVERIFY(w.volume().sameLabels(samples[4]));
        QVERIFY2(label->text().contains("snap_000004") && label->text().contains("t = 160"), qPrintable(label->text()));
        QVERIFY(!button("sampleNext")->isEnabled());
        // All of it shows at 1024x700.
        QVERIFY2(control->mapTo(&w, QPoint(control->width(), 0)).x() <= w.width(), "control beyond the window");
        QVERIFY2(showsWholeText(label), qPrintable(QString("%1 px for '%2'").arg(label->width()).arg(label->text())));
        QVERIFY(slider->width() >= 100);
        w.grab().save(QDir::temp().filePath("ms_test_gui_viewer_samples_1024x700.png"));  // for a look
        // Previous: the slices and the 3D view show that sample; the crosshair stays.
        w.setCrosshair(5, 6, 7);
        const QImage sliceBefore = w.sliceView(0)->image(), viewBefore = render3d(w);
        QTest::mouseClick(button("samplePrevious"), Qt::LeftButton);
        QTRY_VERIFY(w.volume().sameLabels(samples[3]));
        QCOMPARE(spin->value(), 3);
        QCOMPARE(slider->value(), 3);
        QVERIFY2(label->text().contains("snap_000003") && label->text().contains("t = 90"), qPrintable(label->text()));
        QVERIFY(w.sliceView(0)->image() != sliceBefore);
        for (int i = 0; i < 3; ++i) QCOMPARE(w.sliceView(i)->position(), (std::array<int, 3>{5, 6, 7}));
        QVERIFY(render3d(w) != viewBefore);
        QVERIFY(w.windowTitle().contains("snap_000003"));
        QCOMPARE(w.volume().attributes.at("time"), 90.0);  // what Save As writes
        // First, then last, at a person's pace.
        QTest::qWait(200);
        QTest::mouseClick(button("sampleFirst"), Qt::LeftButton);
        QTRY_VERIFY(w.volume().sameLabels(samples[0]));
        QVERIFY(!button("samplePrevious")->isEnabled());
        QTest::qWait(200);
        QTest::mouseClick(button("sampleLast"), Qt::LeftButton);
        QTRY_VERIFY(w.volume().sameLabels(samples[4]));
        // A typed index, then the slider by keyboard.
        QVERIFY(typeIntoBox(&w, spin, "2"));
        QTRY_VERIFY(w.volume().sameLabels(samples[2]));
        QCOMPARE(slider->value(), 2);
        slider->setFocus();
        QTest::keyClick(w.windowHandle(), Qt::Key_Left);
        QTRY_VERIFY(w.volume().sameLabels(samples[1]));
        QCOMPARE(spin->value(), 1);
        // Requests faster than reading: the latest one wins.
        for (int i = 0; i < 3; ++i) QTest::mouseClick(button("sampleNext"), Qt::LeftButton);
        QCOMPARE(spin->value(), 4);
        QTRY_VERIFY(w.volume().sameLabels(samples[4]));
        QTest::qWait(200);
        QVERIFY(w.volume().sameLabels(samples[4]));
        QTest::mouseClick(button("samplePrevious"), Qt::LeftButton);
        QTRY_VERIFY(w.volume().sameLabels(samples[3]));
        // Send to the noise lab (Ctrl+N) takes this sample.
        QTest::keyClick(w.windowHandle(), Qt::Key_N, Qt::ControlModifier);
        QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.noiseLab()));
        QVERIFY2(noiseLabSampleText(w.noiseLab()).contains("snap_000003"),
                 qPrintable(noiseLabSampleText(w.noiseLab())));
        w.noiseLab()->waitForPreview();
        // Reopened, the file shows the sample last chosen.
        {
            ms::ui::MainWindow again;
            QVERIFY(again.openFile(path, true));
            QVERIFY(again.volume().sameLabels(samples[3]));
            QCOMPARE(again.viewer()->findChild<QSpinBox*>("sampleIndex")->value(), 3);
        }
        // One volume (a single-sample file, a simulation's snapshot): no control.
        const QString single = dir.filePath("single.h5");
        ms::io::writeHdf5({samples[1]}, single.toStdString());
        w.tabs()->setCurrentWidget(w.viewer());
        QVERIFY(w.openFile(single, true));
        QVERIFY(!control->isVisible());
        QVERIFY(w.openFile(path, true));
        QVERIFY(control->isVisible());
        w.setVolume(samples[0], "snapshot");
        QVERIFY(!control->isVisible());
    }

    // ---- Issue 26, what ParaView / ITK-SNAP / Dragonfly users expect ------------

#ifdef MICROSTUDIO_HAVE_DESCRIBE_PANEL
    void describePanelMeasuresTheOpenedFile() {
        // GraSPI's own output for this fixture is in grf3d_a.graspi.log.
        const QString dir = QString(MICROSTUDIO_SHARED_DIR) + "/fixtures/graspi";
        const QString path = dir + "/grf3d_a.txt";
        QVERIFY2(QFile::exists(path), qPrintable(path + " is missing"));
        ms::ui::MainWindow w;
        QVERIFY(w.openFile(path, true));
        QVERIFY(showAt(w, w.viewer(), {1024, 700}));
        auto* panel = w.viewer()->describePanel();
        auto* pages = w.viewer()->infoPages();
        QVERIFY(panel && pages);
        QVERIFY(!panel->result());  // nothing measured while the page is hidden
        // The Describe page, clicked as a user does: shown, it measures the volume.
        auto* bar = pages->tabBar();
        const int index = pages->indexOf(panel);
        QTest::mouseClick(bar, Qt::LeftButton, {}, bar->tabRect(index).center());
        QCOMPARE(pages->currentWidget(), static_cast<QWidget*>(panel));
        QTRY_VERIFY_WITH_TIMEOUT(panel->result() != nullptr, 60000);
        QVERIFY(!panel->findChild<QProgressBar*>("describeProgress")->isVisible());

        // The table holds the library's values, as describe --extras computes them.
        ms::descriptors::Options extras;
        extras.extras = true;
        const auto expected = ms::descriptors::describe(ms::io::readVolume(path.toStdString()), extras);
        const auto entries = expected.all();
        auto* table = panel->table();
        QCOMPARE(table->rowCount(), int(entries.size()));
        for (int row = 0; row < table->rowCount(); ++row) {
            const auto& e = entries[std::size_t(row)];
            QCOMPARE(table->item(row, 0)->text(), QString::fromStdString(e.name));
            const std::string cell = ms::descriptors::formatCell(e);
            QCOMPARE(table->item(row, 1)->text(), cell.empty() ? QString("n/a") : QString::fromStdString(cell));
            // Every name explains itself.
            const QString meaning = QString::fromStdString(ms::descriptors::glossary(e.name));
            QVERIFY2(!meaning.isEmpty(), e.name.c_str());
            QVERIFY2(table->item(row, 0)->toolTip().contains(meaning.toHtmlEscaped()), e.name.c_str());
        }
        // GraSPI C++'s numbers for this file (its log), as the table shows them.
        const auto shown = [table](const QString& name) {
            const auto found = table->findItems(name, Qt::MatchExactly);
            return found.isEmpty() ? QString() : table->item(found.first()->row(), 1)->text();
        };
        QCOMPARE(shown("ABS_f_D"), QString("0.449978"));
        QCOMPARE(shown("CT_f_D_tort1"), QString("0.63986"));
        QCOMPARE(shown("STAT_n"), QString("9216"));

        // S2(r) per phase: the library's curves, S2(0) the volume fraction.
        auto* chart = panel->s2Chart()->chart();
        QCOMPARE(chart->series().size(), 2);
        for (int p = 0; p < 2; ++p) {
            auto* curve = qobject_cast<QLineSeries*>(chart->series()[p]);
            QVERIFY(curve);
            QCOMPARE(curve->count(), int(expected.s2[std::size_t(p)].size()));
            QCOMPARE(curve->at(3).y(), expected.s2[std::size_t(p)][3]);
        }
        QCOMPARE(qobject_cast<QLineSeries*>(chart->series()[0])->at(0).y(), expected.value("vol_frac_D"));

        // Export CSV and Copy: the library's CSV, which is what the CLI prints
        // for this file (run where the file is, so that it names it the same).
        const QString csv = QString::fromStdString(ms::descriptors::formatCsv({"grf3d_a.txt"}, {expected}));
        QTemporaryDir out;
        const QString exported = out.filePath("descriptors.csv");
        panel->exportCsv(exported);
        QFile file(exported);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromUtf8(file.readAll()), csv);
        QProcess cli;
        cli.setWorkingDirectory(dir);
        cli.start(MICROSTUDIO_CLI, {"describe", "--extras", "--format", "csv", "grf3d_a.txt"});
        QVERIFY(cli.waitForFinished(60000));
        QCOMPARE(cli.exitCode(), 0);
        QCOMPARE(QString::fromUtf8(cli.readAllStandardOutput()), csv);
        QApplication::clipboard()->clear();
        QTest::mouseClick(panel->findChild<QPushButton*>("describeCopy"), Qt::LeftButton);
        QCOMPARE(QApplication::clipboard()->text(), csv);
        QVERIFY_THROWS_EXCEPTION(ms::Error, panel->exportCsv(out.filePath("no/such/folder/d.csv")));

        // All of it shows at 1024x700: table rows and a readable plot.
        QVERIFY2(table->viewport()->height() >= 5 * table->verticalHeader()->defaultSectionSize(),
                 qPrintable(QString("table %1 px high").arg(table->viewport()->height())));
        QVERIFY2(panel->s2Chart()->height() >= 150, qPrintable(QString("chart %1 px").arg(panel->s2Chart()->height())));
        const QPoint corner = panel->mapTo(&w, QPoint(panel->width(), panel->height()));
        QVERIFY(corner.x() <= w.width() && corner.y() <= w.height());
        w.grab().save(QDir::temp().filePath("ms_test_gui_describe_1024x700.png"));  // for a look

        // Another volume while the page shows: the old numbers go, the new ones come.
        ms::Volume half(ms::Dims{8, 6, 4});
        for (int z = 0; z < 4; ++z)
            for (int y = 0; y < 6; ++y)
                for (int x = 0; x < 8; ++x) half.at(x, y, z) = x < 2 ? ms::Donor : ms::Acceptor;  // 1/4 donor
        w.setVolume(half, "quarter");
        QVERIFY(!panel->result() || panel->result()->value("vol_frac_D") != expected.value("vol_frac_D"));
        QTRY_VERIFY_WITH_TIMEOUT(panel->result() != nullptr, 60000);
        QCOMPARE(shown("vol_frac_D"), QString("0.25"));
        QVERIFY(panel->csvText().startsWith("file,phases,periodic,") &&
                panel->csvText().contains("\nquarter,2,0,"));  // named as the window names it
    }

    void describeRunsOffTheUiThreadAndCancels() {
        // A large 2D image: seconds of describing, no 3D view to render meanwhile;
        // three phases, so that the noise lab (two-phase images) does not take it too.
        ms::SyntheticOptions o;
        o.wavelength = 10;
        o.mixedFraction = 0.2;
        const ms::Volume big = ms::syntheticMicrostructure(ms::Dims{1200, 1200, 1}, o);
        ms::ui::MainWindow w;
        w.setVolume(big, "big");
        QVERIFY(showAt(w, w.viewer(), {1024, 700}));
        auto* panel = w.viewer()->describePanel();
        auto* progress = panel->findChild<QProgressBar*>("describeProgress");
        auto* cancel = panel->findChild<QPushButton*>("describeCancel");
        w.viewer()->infoPages()->setCurrentWidget(panel);  // shown: the run starts
        QVERIFY2(panel->isRunning(), qPrintable(panel->findChild<QLabel*>("describeState")->text()));
        QVERIFY(progress->isVisible() && cancel->isEnabled());
        QTest::mouseClick(cancel, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!panel->isRunning(), 30000);
        QVERIFY(!panel->result());
        const QString state = panel->findChild<QLabel*>("describeState")->text();
        QVERIFY2(state.startsWith("Cancelled"), qPrintable(state));
        QVERIFY(!progress->isVisible());
        // Describe again, to the end: the window answers all along, the progress bar moves.
        int seen = 0;
        connect(progress, &QProgressBar::valueChanged, progress, [&seen](int v) { seen = std::max(seen, v); });
        LatencyProbe probe;
        probe.start();
        QElapsedTimer clock;
        clock.start();
        QTest::mouseClick(panel->findChild<QPushButton*>("describeButton"), Qt::LeftButton);
        QVERIFY(panel->isRunning());
        QTRY_VERIFY_WITH_TIMEOUT(panel->result() != nullptr, 120000);
        probe.stop();
        qInfo("describe of 1200x1200 with extras: %lld ms, worst UI gap %lld ms (UI thread busy %.0f ms of it)",
              clock.elapsed(), probe.worstGap, probe.worstCpuGap);
        QVERIFY2(probe.worstGap < 250, qPrintable(QString("UI stalled %1 ms").arg(probe.worstGap)));
        QVERIFY2(seen > 0, "no progress shown");
        QCOMPARE(panel->result()->value("vol_frac_D"), big.volumeFraction(ms::Donor));
    }
#endif

    void threeDViewHasOrientationAxesAndScaleBar() {
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "test");
        QVERIFY(showAt(w, w.viewer(), {1200, 800}));
        auto* view = w.view3d();
        const QImage frame = render3d(w);
        frame.save(QDir::temp().filePath("ms_test_gui_axes_scalebar.png"));  // for a look
        QVERIFY(view->orientationAxesShown());
        // The triad's corner (lower left) holds its red x, green y and blue z axes.
        const QRectF vp = view->orientationAxesViewport();
        const QRect corner(int(vp.left() * frame.width()), int((1 - vp.bottom()) * frame.height()),
                           int(vp.width() * frame.width()), int(vp.height() * frame.height()));
        const auto withAxes = primaryColours(frame, corner);
        for (int c = 0; c < 3; ++c)
            QVERIFY2(withAxes[std::size_t(c)] >= 15,
                     qPrintable(QString("colour %1: %2 pixels in the corner").arg(c).arg(withAxes[std::size_t(c)])));
        view->setOrientationAxesVisible(false);
        QVERIFY(!view->orientationAxesShown());
        const auto without = primaryColours(render3d(w), corner);
        QVERIFY2(without[1] == 0 && without[2] < withAxes[2] / 4 && without[0] < withAxes[0] / 4,
                 qPrintable(QString("hidden: %1 %2 %3").arg(without[0]).arg(without[1]).arg(without[2])));
        view->setOrientationAxesVisible(true);
        QVERIFY(primaryColours(render3d(w), corner)[1] >= 15);

        // The scale bar: a round length spanning about a fifth of the view at
        // the focal point, in voxels (spacing 1).
        const auto bar = w.phaseScene()->scaleBar();
        QVERIFY(bar.visible);
        const double decade = std::pow(10.0, std::floor(std::log10(bar.length)));
        const double mantissa = bar.length / decade;
        QVERIFY2(std::abs(mantissa - 1) < 1e-9 || std::abs(mantissa - 2) < 1e-9 || std::abs(mantissa - 5) < 1e-9,
                 qPrintable(QString::number(bar.length)));
        QVERIFY2(bar.pixels <= 0.2 * frame.width() + 1 && bar.pixels > 0.2 * frame.width() / 2.5 - 1,
                 qPrintable(QString("%1 px of %2").arg(bar.pixels).arg(frame.width())));
        QCOMPARE(QString::fromStdString(bar.label), QString("%1 voxels").arg(bar.length));
        // The bar itself: near-white pixels in the lower right, gone when hidden.
        const QRect barArea(int(frame.width() - 20 - bar.pixels), frame.height() - 40, int(bar.pixels) + 20, 40);
        const int white = lightGreyPixels(frame.copy(barArea));
        QVERIFY2(white >= bar.pixels, qPrintable(QString("%1 bar pixels").arg(white)));
        // Zooming in with the wheel: more pixels per voxel, a shorter round length.
        for (int i = 0; i < 6; ++i) {
            const QPointF centre(view->width() / 2.0, view->height() / 2.0);
            QWheelEvent wheel(centre, view->mapToGlobal(centre), QPoint(), QPoint(0, 120), Qt::NoButton, Qt::NoModifier,
                              Qt::NoScrollPhase, false);
            QApplication::sendEvent(view, &wheel);
            QTest::qWait(30);
        }
        render3d(w);
        const auto zoomed = w.phaseScene()->scaleBar();
        QVERIFY2(zoomed.pixels / zoomed.length > 1.5 * bar.pixels / bar.length && zoomed.length < bar.length,
                 qPrintable(QString("%1 px for %2 -> %3 px for %4")
                                .arg(bar.pixels)
                                .arg(bar.length)
                                .arg(zoomed.pixels)
                                .arg(zoomed.length)));
        w.phaseScene()->setScaleBarVisible(false);
        const QImage hidden = render3d(w);
        QVERIFY(!w.phaseScene()->scaleBar().visible);
        QVERIFY(lightGreyPixels(hidden.copy(barArea)) < white / 4);
        // A volume with a spacing: the label gives its units and the voxels.
        ms::Volume spaced = demoVolume();
        spaced.spacing = {0.5, 0.5, 0.5};
        w.phaseScene()->setScaleBarVisible(true);
        w.setVolume(spaced, "spaced");
        render3d(w);
        const auto spacedBar = w.phaseScene()->scaleBar();
        QCOMPARE(QString::fromStdString(spacedBar.label),
                 QString("%1 (%2 voxels)").arg(spacedBar.length).arg(spacedBar.length / 0.5));
    }

    void viewScreenshotSavesThePngAtTheAskedSize() {
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "test");
        QVERIFY(showAt(w, w.viewer(), {1024, 700}));
        render3d(w);
        QAction* action = nullptr;
        for (QAction* a : w.menuBar()->actions())
            if (a->text() == "&View")
                for (QAction* item : a->menu()->actions())
                    if (item->text() == "Save &screenshot...") action = item;
        QVERIFY(action);
        QTemporaryDir dir;
        const QString shot = dir.filePath("view");  // no extension: .png is added
        bool filled = false;
        QSize offered;
        QTimer::singleShot(300, this, [&] {
            auto* dialog = qobject_cast<QDialog*>(QApplication::activeModalWidget());
            if (!dialog || dialog->objectName() != "screenshotDialog") return;
            auto* path = dialog->findChild<QLineEdit*>("screenshotPath");
            auto* width = dialog->findChild<QSpinBox*>("screenshotWidth");
            auto* height = dialog->findChild<QSpinBox*>("screenshotHeight");
            offered = QSize(width->value(), height->value());
            path->setFocus();
            QTest::keyClick(dialog->windowHandle(), Qt::Key_A, Qt::ControlModifier);
            typeSlowly(dialog, shot, 20);
            filled = typeIntoBox(dialog, width, "900", Qt::Key_Tab) && typeIntoBox(dialog, height, "500", Qt::Key_Tab);
            QTest::mouseClick(dialog->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Save), Qt::LeftButton);
        });
        action->trigger();  // the modal dialog runs until Save
        QVERIFY(filled);
        const QSize viewSize = w.view3d()->size() * w.view3d()->devicePixelRatioF();
        QCOMPARE(offered, viewSize);  // the default: the view's own size
        const QImage saved(shot + ".png");
        QCOMPARE(saved.size(), QSize(900, 500));
        saved.save(QDir::temp().filePath("ms_test_gui_screenshot_900x500.png"));  // for a look
        const ColourCensus c = census(saved);
        for (int p = 0; p < 3; ++p)
            QVERIFY2(c.phase[std::size_t(p)] > c.total / 200,
                     qPrintable(QString("phase %1: %2 of %3").arg(p).arg(c.phase[std::size_t(p)]).arg(c.total)));
        // Larger than the screen's view, and the view is left as it was.
        const QString large = dir.filePath("large.png");
        w.viewer()->saveScreenshot(large, {2000, 1400});
        const QImage big(large);
        QCOMPARE(big.size(), QSize(2000, 1400));
        QVERIFY(census(big).phase[ms::Donor] > census(saved).phase[ms::Donor]);
        QCOMPARE(render3d(w).size(), viewSize);
        // Errors name the file.
        try {
            w.viewer()->saveScreenshot("/nonexistent/folder/x.png", {100, 100});
            QFAIL("saved into a missing folder");
        } catch (const ms::Error& e) {
            QVERIFY2(QString(e.what()).startsWith("/nonexistent/folder/x.png: "), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(ms::Error, w.viewer()->saveScreenshot(dir.filePath("huge.png"), {100000, 10}));
        // A 2D image: its slice view at the asked size, with its legend.
        w.setVolume(ms::syntheticMicrostructure(ms::Dims{64, 32, 1}), "2d");
        QCOMPARE(w.viewer()->screenshotDefaultSize(), w.sliceView(0)->size() * w.sliceView(0)->devicePixelRatioF());
        const QString flat = dir.filePath("flat.png");
        w.viewer()->saveScreenshot(flat, {640, 360});
        const QImage image(flat);
        QCOMPARE(image.size(), QSize(640, 360));
        const auto donor = ms::render::phaseColor(ms::Donor), acceptor = ms::render::phaseColor(ms::Acceptor);
        QVERIFY(countColour(image, QColor(int(donor.r * 255), int(donor.g * 255), int(donor.b * 255)), 3) >
                640 * 300 / 5);
        QVERIFY(countColour(image, QColor(int(acceptor.r * 255), int(acceptor.g * 255), int(acceptor.b * 255)), 3) >
                640 * 300 / 5);
    }

    void sliceViewsNameEachPhaseInALegend() {
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "three phases");
        QVERIFY(showAt(w, w.viewer(), {1200, 800}));
        const QStringList names{"Donor", "Acceptor", "Mixed"};
        for (int i = 0; i < 3; ++i) {
            auto* slice = w.sliceView(i);
            QCOMPARE(slice->legendEntries(), names);
            const QRect legend = slice->legendRect();
            // Above the picture (which starts 20 px down), right of the caption.
            QVERIFY2(legend.bottom() < 20 && legend.right() < slice->width() && legend.left() > slice->width() / 3,
                     qPrintable(QString("legend at %1,%2 %3x%4")
                                    .arg(legend.x())
                                    .arg(legend.y())
                                    .arg(legend.width())
                                    .arg(legend.height())));
            const QImage shown = slice->grab().toImage().copy(legend);
            for (int p = 0; p < 3; ++p) {
                const auto c = ms::render::phaseColor(p);
                QVERIFY2(countColour(shown, QColor(int(c.r * 255), int(c.g * 255), int(c.b * 255)), 3) >= 64,
                         qPrintable(QString("view %1, phase %2 swatch").arg(i).arg(p)));
            }
        }
        // Two phases: two entries, no mixed swatch.
        w.setVolume(ms::syntheticMicrostructure(ms::Dims{40, 40, 20}), "two phases");
        auto* xy = w.sliceView(0);
        QCOMPARE(xy->legendEntries(), (QStringList{"Donor", "Acceptor"}));
        const auto m = ms::render::phaseColor(ms::Mixed);
        QCOMPARE(countColour(xy->grab().toImage().copy(xy->legendRect()),
                             QColor(int(m.r * 255), int(m.g * 255), int(m.b * 255)), 3),
                 0);
        // A narrow view keeps the colours with letters.
        const ms::Volume three = demoVolume();
        ms::render::SliceView narrow(ms::render::SliceAxis::XY);
        narrow.setVolume(&three);
        narrow.resize(190, 190);
        QCOMPARE(narrow.legendEntries(), (QStringList{"D", "A", "M"}));
        narrow.setVolume(nullptr);
        QVERIFY(narrow.legendEntries().isEmpty());
        w.grab().save(QDir::temp().filePath("ms_test_gui_slice_legend.png"));  // for a look
    }

    void opacitySlidersAreForTheThreeDViewOnly() {
        // Issue 26 (smaller): the 3D opacity sliders stayed enabled for a 2D image.
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.viewer(), {1024, 700}));
        const auto slider = [&w](int p) { return w.viewer()->findChild<QSlider*>(QString("phaseOpacity%1").arg(p)); };
        w.setVolume(ms::syntheticMicrostructure(ms::Dims{64, 32, 1}), "2d");
        for (int p = 0; p < 2; ++p) {
            QVERIFY(slider(p)->isVisible());
            QVERIFY(!slider(p)->isEnabled());
            QVERIFY2(slider(p)->toolTip().contains("2D image has no 3D view"), qPrintable(slider(p)->toolTip()));
            // A click on it changes nothing.
            const int before = slider(p)->value();
            QTest::mouseClick(slider(p), Qt::LeftButton, {}, QPoint(4, slider(p)->height() / 2));
            QCOMPARE(slider(p)->value(), before);
        }
        w.setVolume(demoVolume(), "3d");
        for (int p = 0; p < 3; ++p) {
            QVERIFY(slider(p)->isEnabled());
            QVERIFY2(slider(p)->toolTip().startsWith("Opacity of"), qPrintable(slider(p)->toolTip()));
        }
        QTest::mouseClick(slider(0), Qt::LeftButton, {}, QPoint(4, slider(0)->height() / 2));
        QVERIFY(w.phaseScene()->phaseOpacity(ms::Donor) < 1.0);
    }

private:
    // Bright neutral pixels (the scale bar and its label on the dark background).
    static int lightGreyPixels(const QImage& image) {
        int n = 0;
        const QImage img = image.convertToFormat(QImage::Format_RGB32);
        for (int y = 0; y < img.height(); ++y)
            for (int x = 0; x < img.width(); ++x) {
                const QRgb p = img.pixel(x, y);
                if (qRed(p) > 140 && std::abs(qRed(p) - qGreen(p)) < 12 && std::abs(qGreen(p) - qBlue(p)) < 12) ++n;
            }
        return n;
    }
    // Saturated red, green and blue pixels (the triad's axis colours) in `area`.
    static std::array<int, 3> primaryColours(const QImage& image, const QRect& area) {
        std::array<int, 3> n{0, 0, 0};
        const QImage img = image.convertToFormat(QImage::Format_RGB32);
        for (int y = std::max(0, area.top()); y <= std::min(img.height() - 1, area.bottom()); ++y)
            for (int x = std::max(0, area.left()); x <= std::min(img.width() - 1, area.right()); ++x) {
                const QRgb p = img.pixel(x, y);
                const int c[3] = {qRed(p), qGreen(p), qBlue(p)};
                for (int k = 0; k < 3; ++k)
                    if (c[k] > 120 && c[(k + 1) % 3] < 60 && c[(k + 2) % 3] < 60) ++n[std::size_t(k)];
            }
        return n;
    }

private slots:

    void noiseLabClearsStaleImagesAndExplainsAnUnchangedOne() {
        // Issue 26.6: a three-phase slice sent to the lab emptied the table but
        // left the previous noisy and denoised images; frequency noise with
        // rings = 3, intensity = 1 gave the clean image back with no word why.
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.noiseLab(), {1024, 700}));
        auto* lab = w.noiseLab();
        lab->setLearnedDenoiser({}, QString());
        ms::SyntheticOptions coarse;  // features near d = 0.04 of the spectrum, far inside the rings of rings = 3
        coarse.wavelength = 36;
        const ms::Volume clean = ms::syntheticMicrostructure(ms::Dims{101, 101, 1}, coarse);
        lab->setSample(clean, "coarse");
        lab->waitForPreview();
        const auto views = lab->findChildren<ms::render::SliceView*>();
        QCOMPARE(views.size(), 4);
        for (int i : {0, 1, 3}) QVERIFY(!views[i]->image().isNull());  // clean, noisy, best classical
        // A three-phase volume's slice sent from the viewer (Ctrl+N): refused, and nothing of the previous sample stays.
        ms::SyntheticOptions three;
        three.mixedFraction = 0.2;
        w.setVolume(ms::syntheticMicrostructure(ms::Dims{32, 32, 8}, three), "three-phase");
        w.tabs()->setCurrentWidget(w.viewer());
        QTest::qWait(200);
        QTest::keyClick(w.windowHandle(), Qt::Key_N, Qt::ControlModifier);
        lab->waitForPreview();
        QCOMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(lab));
        QVERIFY(noiseLabSampleText(lab).contains("two-phase"));
        QCOMPARE(lab->metricsTable()->columnCount(), 0);
        QCOMPARE(lab->noisy().size(), std::size_t(0));
        for (int i = 1; i < 4; ++i)
            QVERIFY2(views[i]->image().isNull(), qPrintable(QString("view %1 still shows an image").arg(i)));
        // Frequency noise, rings 3 and intensity 1, typed: the rings miss this
        // image's spectrum, so no pixel changes (true of the model, not a bug)...
        QVERIFY(ms::noise::addFrequencyNoise(clean, 3, 1.0, 0.05).sameLabels(clean));
        lab->setSample(clean, "coarse");
        lab->waitForPreview();
        auto* type = lab->findChild<QComboBox*>("noiseType");
        auto* rings = lab->findChild<QSpinBox*>("rings");
        auto* intensity = lab->findChild<QDoubleSpinBox*>("maskIntensity");
        QVERIFY(type && rings && intensity);
        type->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(type));
        QTest::keyClick(w.windowHandle(), Qt::Key_F);
        QTest::qWait(200);
        QCOMPARE(type->currentText(), QString("frequency"));
        QVERIFY(typeIntoBox(&w, rings, "3"));
        QVERIFY(typeIntoBox(&w, intensity, "1"));
        lab->waitForPreview();
        QCOMPARE(rings->value(), 3);
        QCOMPARE(intensity->value(), 1.0);
        QVERIFY(lab->noisy().sameLabels(clean));
        // ... and the lab says so next to the parameters, with what would bite.
        auto* note = lab->findChild<QLabel*>("noiseNote");
        QVERIFY(note && note->isVisible());
        QVERIFY2(note->text().contains("rings"), qPrintable(note->text()));
        QCOMPARE(note->parentWidget(), rings->parentWidget());
        QVERIFY(note->mapTo(lab, QPoint(0, 0)).y() > rings->mapTo(lab, QPoint(0, rings->height())).y());
        QVERIFY(note->mapTo(lab, QPoint(0, note->height())).y() <= lab->metricsTable()->mapTo(lab, QPoint(0, 0)).y());
        QVERIFY(note->height() >= note->heightForWidth(note->width()));
        w.grab().save(QDir::temp().filePath("ms_test_gui_noise_note_1024x700.png"));  // for a look
        // The rings it suggests reach the features: the image changes, the note goes.
        const auto suggested = QRegularExpression("About (\\d+) rings").match(note->text());
        QVERIFY2(suggested.hasMatch(), qPrintable(note->text()));
        QVERIFY(typeIntoBox(&w, rings, suggested.captured(1)));
        lab->waitForPreview();
        QVERIFY(!lab->noisy().sameLabels(clean));
        QVERIFY(!note->isVisible());
        QCOMPARE(lab->metricsTable()->columnCount(), 2);
    }

    void noiseLabMetricsShowEveryColumn() {
        // Issue 26.7: the metrics table's third column (best classical) was
        // beyond the table's right edge at every window size.
        const ms::Volume image = ms::syntheticMicrostructure(ms::Dims{101, 101, 1});
        for (const QSize size : {QSize(1024, 700), QSize(1600, 1000)}) {
            ms::ui::MainWindow w;
            QVERIFY(showAt(w, w.noiseLab(), size));
            auto* lab = w.noiseLab();
            lab->setLearnedDenoiser([image](const ms::Volume&) { return image; },
                                    "denoise-vae2d");  // the shipped model's name
            lab->setSample(image, "synthetic");
            lab->waitForPreview();
            QTest::qWait(100);
            auto* table = lab->metricsTable();
            QCOMPARE(table->columnCount(), 3);
            QWidget* viewport = table->viewport();
            QVERIFY(table->mapTo(&w, QPoint(table->width(), 0)).x() <= w.width());
            QVERIFY2(table->verticalHeader()->length() <= viewport->height(), "rows cut off at the bottom");
            for (int c = 0; c < table->columnCount(); ++c) {
                const int left = table->columnViewportPosition(c), right = left + table->columnWidth(c);
                QVERIFY2(left >= 0 && right <= viewport->width(),
                         qPrintable(QString("%1x%2: column %3 spans %4..%5 of %6")
                                        .arg(size.width())
                                        .arg(size.height())
                                        .arg(c)
                                        .arg(left)
                                        .arg(right)
                                        .arg(viewport->width())));
                for (int r = 0; r < table->rowCount(); ++r) {
                    const QString text = table->item(r, c)->text();
                    QVERIFY2(table->fontMetrics().horizontalAdvance(text) < table->columnWidth(c),
                             qPrintable(QString("'%1' in %2 px").arg(text).arg(table->columnWidth(c))));
                }
                const QString header = table->horizontalHeaderItem(c)->text();
                QVERIFY2(table->horizontalHeader()->fontMetrics().horizontalAdvance(header) < table->columnWidth(c),
                         qPrintable(QString("header '%1' in %2 px").arg(header).arg(table->columnWidth(c))));
            }
            if (size.width() == 1024)
                w.grab().save(QDir::temp().filePath("ms_test_gui_noise_lab_1024x700.png"));  // for a look
        }
    }

    void simulationRunsLiveWithoutBlockingTheUi() {
        ms::ui::MainWindow w;
        w.tabs()->setCurrentWidget(w.simulation());  // what a user watches while it runs
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QTest::qWait(200);  // first paint (GL context, charts) before measuring
        auto* sim = w.simulation();
        ms::ui::SimulationSettings s;
        s.dims = ms::Dims{96, 96, 1};
        s.chi = 3.0;
        s.snapshots = 24;
        s.endTime = 800;
        sim->setSettings(s);
        QSignalSpy finished(sim, &ms::ui::SimulationPanel::runFinished);
        QSignalSpy arrived(sim, &ms::ui::SimulationPanel::snapshotArrived);
        // Event-loop latency while the job runs: the UI thread's own work per
        // gap is what "blocked by our work" means; the wall gap also counts
        // time other processes took the core (reported, not asserted).
        LatencyProbe probe;
        probe.start();
        sim->start();
        QVERIFY(sim->running());
        QVERIFY(finished.wait(240000));
        probe.stop();
        QCOMPARE(finished.first().at(0).toBool(), true);
        QCOMPARE(int(sim->snapshots().size()), 24);
        QVERIFY(arrived.count() == 24);
        qInfo("worst event-loop gap during the simulation: %lld ms wall, %.1f ms of UI-thread work", probe.worstGap,
              probe.worstCpuGap);
        QVERIFY2(probe.worstCpuGap < 100, qPrintable(QString::number(probe.worstCpuGap)));
        QTest::qWait(300);
        w.grab().save(QDir::temp().filePath("ms_test_gui_simulation.png"));
        // Spinodal decomposition: the energy falls and domains coarsen.
        const auto& snaps = sim->snapshots();
        QVERIFY(snaps.back().attributes.at("energy") < snaps.front().attributes.at("energy"));
        QVERIFY(snaps.back().attributes.at("length") > snaps[snaps.size() / 2].attributes.at("length") * 0.99);
        QVERIFY(snaps.back().volumeFraction(ms::Donor) > 0.2);
        // Saved runs read back snapshot by snapshot.
        const QString path = QDir::temp().filePath("ms_test_gui_run.h5");
        sim->saveRun(path);
        const auto back = ms::io::readSamples(path.toStdString());
        QCOMPARE(int(back.size()), 24);
        QVERIFY(back[10].sameLabels(snaps[10]));
        // Cancel stops a long run promptly.
        s.endTime = 1e6;
        s.snapshots = 400;
        sim->setSettings(s);
        QSignalSpy finished2(sim, &ms::ui::SimulationPanel::runFinished);
        sim->start();
        QTest::qWait(300);
        sim->cancel();
        QVERIFY(finished2.wait(10000));
        QCOMPARE(finished2.first().at(0).toBool(), false);
    }

#ifdef MICROSTUDIO_HAVE_DESIGN
    // Loading a model sets the guidance it chose on validation; a model
    // from before the recorded choice samples at 1.
    void designUsesTheModelsChosenGuidance() {
        auto model = ms::ml::Generator3D::create(ms::ml::Generator3dConfig::tiny(2), 1);
        const QString plain = QDir::temp().filePath("ms_test_gui_guidance1");
        const QString chosen = QDir::temp().filePath("ms_test_gui_guidance25");
        model.save(plain.toStdString());
        model.setGuidance(2.5);
        model.save(chosen.toStdString());
        ms::ui::MainWindow w;
        auto* design = w.design();
        auto* guidance = design->findChild<QDoubleSpinBox*>("guidance");
        QVERIFY(guidance);
        QVERIFY(design->loadModel(chosen, true));
        QCOMPARE(guidance->value(), 2.5);
        QVERIFY(design->loadModel(plain, true));
        QCOMPARE(guidance->value(), 1.0);
        QDir(plain).removeRecursively();
        QDir(chosen).removeRecursively();
    }

    // Issue 24: the Design tab offers volumes larger than the training box
    // (x and y doubled, the training depth) and generates at the chosen size.
    void designGeneratesLargerThanTheTrainingBox() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_size", 2);
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        auto* size = design->findChild<QComboBox*>("size");
        QVERIFY(size && size->isVisible());
        QCOMPARE(size->itemText(0), QString("16x16x8"));
        QCOMPARE(size->itemData(0, Qt::ToolTipRole).toString(), QString("the training size"));
        QCOMPARE(size->itemData(1).toString(), QString("32x32x8"));
        QCOMPARE(size->itemData(size->count() - 1).toString(), QString("512x512x8"));
        QCOMPARE(design->request().size, (ms::Dims{0, 0, 0}));
        // Chosen by keyboard, as a user would: focus, then Down once.
        size->setFocus();
        QTest::keyClick(size, Qt::Key_Down, Qt::NoModifier, 150);
        QCOMPARE(design->request().size, (ms::Dims{32, 32, 8}));
        setPlainSampling(design, 2, 2);
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        QTest::mouseClick(design->findChild<QPushButton*>("generate"), Qt::LeftButton);
        QVERIFY(done.wait(120000));
        QCOMPARE(design->samples().size(), std::size_t(2));
        for (const auto& v : design->samples()) {
            QCOMPARE(v.dims(), (ms::Dims{32, 32, 8}));
            QCOMPARE(v.text.at("large_method"), std::string("whole"));  // ml's default, chosen on validation
        }
        // The samples row fits the panel at 1024x700: the largest size reads whole, the combo inside the tab.
        const int widest = size->fontMetrics().horizontalAdvance(size->itemText(size->count() - 1));
        QVERIFY2(size->width() >= widest + 20, qPrintable(QString("%1 < %2 + 20").arg(size->width()).arg(widest)));
        QVERIFY(design->rect().contains(QRect(size->mapTo(design, QPoint(0, 0)), size->size())));
        w.grab().save(QDir::temp().filePath("ms_test_gui_design_size.png"));
        QDir(folder).removeRecursively();
    }

    void designWarnsLiveAboutInfeasibleTargets() {
        // A tiny generator whose training conditions form a small cloud.
        auto model = ms::ml::Generator3D::create(ms::ml::Generator3dConfig::tiny(2), 1);
        std::vector<std::vector<double>> rows;
        for (int i = 0; i < 50; ++i) rows.push_back({0.4 + 0.004 * i, 0.8 + 0.002 * i, 0.7 + 0.003 * (i % 7)});
        model.setTrainingConditions(ms::ml::ConditionCloud::fromSamples(model.conditionNames(), rows));
        const QString folder = QDir::temp().filePath("ms_test_gui_feasible");
        QDir(folder).removeRecursively();
        model.save(folder.toStdString());
        ms::ui::MainWindow w;
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        design->setTarget("ABS_f_D", 0.5);
        design->setTarget("CT_f_D_tort1", 0.85);
        design->setTarget("CT_f_A_tort1", 0.71);
        QVERIFY2(design->targetFeasible(), qPrintable(design->feasibilityText()));
        design->setTarget("CT_f_D_tort1", 0.2);  // far below anything trained on
        QVERIFY(!design->targetFeasible());
        QVERIFY(design->feasibilityText().contains("nearest feasible target"));
        design->useNearestFeasibleTarget();
        QVERIFY2(design->targetFeasible(), qPrintable(design->feasibilityText()));
        QVERIFY(design->request().target.at("CT_f_D_tort1") > 0.79);
    }

    void designHandlesThreePhaseModel() {
        // An untrained tiny 3-phase generator made by the CLI as a user would,
        // given the training data's condition ranges and cloud (as a training
        // leaves them) so that the sliders and the feasibility check have data.
        const QString folder = QDir::temp().filePath("ms_test_gui_three_phase");
        QCOMPARE(createTinyGeneratorWithCli(folder, {"--phases", "3"}), 0);
        const auto names = ms::ml::threePhaseConditions();
        {
            auto model = ms::ml::Generator3D::load(folder.toStdString());
            QCOMPARE(model.config().vae.phases, 3);
            QCOMPARE(model.conditionNames(), names);
            std::vector<ms::ml::FeatureRange> ranges;
            const std::map<std::string, std::array<double, 2>> span{
                {"vol_frac_D", {0.35, 0.65}}, {"vol_frac_M", {0.05, 0.30}}, {"tortuosity_D", {1.0, 1.6}},
                {"tortuosity_A", {1.0, 1.6}}, {"phi", {0.35, 0.65}},        {"chi", {2.5, 4.0}},
                {"log_time", {0.0, 7.6}}};
            for (const auto& name : model.outputNames()) {
                const auto& [lo, hi] = span.at(name);
                ranges.push_back({name, lo, hi, (lo + hi) / 2, (hi - lo) / 4});
            }
            model.setFeatureRanges(ranges);
            std::vector<std::vector<double>> rows;
            for (int i = 0; i < 60; ++i)
                rows.push_back({0.40 + 0.003 * i, 0.12 + 0.001 * i, 1.10 + 0.005 * (i % 9), 1.15 + 0.004 * (i % 7)});
            model.setTrainingConditions(ms::ml::ConditionCloud::fromSamples(names, rows));
            model.save(folder.toStdString());
        }
        ms::ui::MainWindow w;
        auto* design = openDesign(w, folder, {1200, 800});
        QVERIFY(design);
        // Four target controls, one per three-phase condition, ranged from the data.
        for (const auto& name : names) {
            auto* slider = design->findChild<QSlider*>(QString::fromStdString("target_" + name));
            QVERIFY2(slider, name.c_str());
        }
        QCOMPARE(int(design->request().target.size()), 4);
        QVERIFY(!design->findChild<QSlider*>("target_ABS_f_D"));
        // A target on a training vector is feasible; far outside it is not, and
        // "use nearest" brings it back.
        design->setTarget("vol_frac_D", 0.43);
        design->setTarget("vol_frac_M", 0.13);
        design->setTarget("tortuosity_D", 1.105);
        design->setTarget("tortuosity_A", 1.162);
        QVERIFY2(design->targetFeasible(), qPrintable(design->feasibilityText()));
        design->setTarget("vol_frac_M", 0.30);  // twice the most mixed training sample
        QVERIFY(!design->targetFeasible());
        QVERIFY2(design->feasibilityText().contains("nearest feasible target"), qPrintable(design->feasibilityText()));
        QVERIFY(design->feasibilityText().contains("vol_frac_M"));
        design->useNearestFeasibleTarget();
        QVERIFY2(design->targetFeasible(), qPrintable(design->feasibilityText()));
        QVERIFY(design->request().target.at("vol_frac_M") < 0.19);
        design->setTarget("vol_frac_D", 0.43);
        design->setTarget("vol_frac_M", 0.13);
        design->setTarget("tortuosity_D", 1.105);
        design->setTarget("tortuosity_A", 1.162);
        // Two samples, plain (measured by the panel) and screened (measured by the model).
        design->findChildren<QSpinBox*>().at(0)->setValue(2);   // samples
        design->findChildren<QSpinBox*>().at(2)->setValue(10);  // DDIM steps
        auto* candidates = design->findChild<QSpinBox*>("candidates");
        const auto generateAndCount = [design] {
            QSignalSpy done(design, &ms::ui::DesignPanel::generated);
            design->generate();
            return done.wait(240000) ? done.first().at(0).toInt() : -1;
        };
        for (const int k : {1, 2}) {
            candidates->setValue(k);
            QCOMPARE(generateAndCount(), 2);
            QCOMPARE(int(design->samples().size()), 2);
            for (const auto& v : design->samples()) {
                QCOMPARE(v.dims(), (ms::Dims{16, 16, 8}));
                QCOMPARE(v.attributes.at("target_vol_frac_M"), 0.13);
                // Measured as three-phase: the fractions are those of the labels.
                QCOMPARE(v.attributes.at("vol_frac_D"), v.volumeFraction(ms::Donor));
                QCOMPARE(v.attributes.at("vol_frac_M"), v.volumeFraction(ms::Mixed));
                QVERIFY(v.attributes.count("tortuosity_D") && v.attributes.count("tortuosity_A"));
                QVERIFY(v.attributes.count("CT_f_M_tort1_An"));  // a three-phase GraSPI descriptor
            }
        }
        // An untrained decoder puts most voxels near 0.5: the mixed band.
        int withMixed = -1;
        for (std::size_t i = 0; i < design->samples().size(); ++i)
            if (design->samples()[i].volumeFraction(ms::Mixed) > 0.05) withMixed = int(i);
        QVERIFY2(withMixed >= 0, "no sample with mixed voxels");
        design->select(withMixed);
        auto* viewer = design->viewer();
        const ms::Volume& shown = viewer->volume();
        QCOMPARE(shown.labels(), design->samples()[std::size_t(withMixed)].labels());
        // The viewer: the mixed phase's row, amber in 3D and in the slices.
        auto* mixedBox = viewer->findChild<QCheckBox*>("phaseVisible2");
        QVERIFY(mixedBox);
        QVERIFY(mixedBox->isVisibleTo(viewer));
        QVERIFY(mixedBox->text().contains("Mixed"));
        QVERIFY(mixedBox->isChecked());
        const auto render = [viewer] {
            viewer->view3d()->requestRender();
            QTest::qWait(50);
            return viewer->view3d()->grabFramebuffer();
        };
        const int mixedBefore = census(render()).phase[ms::Mixed];
        QVERIFY2(mixedBefore > 100, qPrintable(QString::number(mixedBefore)));
        const int z = shown.dims().nz / 2;
        viewer->setCrosshair(0, 0, z);
        const QImage xy = viewer->sliceView(0)->image();
        QCOMPARE(xy.size(), QSize(16, 16));
        const auto amber = ms::render::phaseColor(ms::Mixed);
        int amberPixels = 0, mixedVoxels = 0;
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x) {
                mixedVoxels += shown.at(x, y, z) == ms::Mixed;
                amberPixels += qRed(xy.pixel(x, 15 - y)) == int(amber.r * 255) &&
                               qGreen(xy.pixel(x, 15 - y)) == int(amber.g * 255) && shown.at(x, y, z) == ms::Mixed;
            }
        QVERIFY(mixedVoxels > 0);
        QCOMPARE(amberPixels, mixedVoxels);
        QTest::qWait(200);
        w.grab().save(QDir::temp().filePath("design3.png"));  // for a look
        // Unticking it hides the mixed phase in 3D.
        mixedBox->setChecked(false);
        QVERIFY(!viewer->phaseScene()->phaseVisible(ms::Mixed));
        const int mixedAfter = census(render()).phase[ms::Mixed];
        QVERIFY2(mixedAfter < mixedBefore / 20,
                 qPrintable(QString("mixed pixels %1 -> %2").arg(mixedBefore).arg(mixedAfter)));
        mixedBox->setChecked(true);
        QVERIFY(viewer->phaseScene()->phaseVisible(ms::Mixed));
        // The comparison lists the four conditions, then phi, chi, anneal time.
        auto* table = design->comparison();
        QCOMPARE(table->rowCount(), 4 + 3);
        for (int r = 0; r < 4; ++r) {
            QCOMPARE(table->item(r, 0)->text(), QString::fromStdString(names[std::size_t(r)]));
            QVERIFY(table->item(r, 2)->text() != "-");  // measured
        }
        QCOMPARE(table->item(1, 1)->text(), QString("0.13"));
        QCOMPARE(table->item(1, 2)->text(), QString::number(shown.volumeFraction(ms::Mixed), 'g', 4));
        QCOMPARE(table->item(4, 0)->text(), QString("blend ratio phi"));
        // Export: the samples with their three-phase labels, and the table.
        const QString base = QDir::temp().filePath("ms_test_gui_design3");
        design->exportTo(base + ".h5");
        const auto back = ms::io::readSamples((base + ".h5").toStdString());
        QCOMPARE(int(back.size()), 2);
        for (std::size_t i = 0; i < back.size(); ++i) QVERIFY(back[i].sameLabels(design->samples()[i]));
        QCOMPARE(back[std::size_t(withMixed)].phaseCount(), 3);
        QCOMPARE(back[std::size_t(withMixed)].attributes.at("vol_frac_M"),
                 back[std::size_t(withMixed)].volumeFraction(ms::Mixed));
        design->exportTo(base + ".vti");
        QVERIFY(ms::io::readVolume((base + ".vti").toStdString()).sameLabels(shown));
        design->exportTo(base + ".csv");
        QFile csv(base + ".csv");
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList lines = QString(csv.readAll()).trimmed().split('\n');
        QCOMPARE(lines.size(), 3);
        const QStringList header = lines[0].split(',');
        for (const auto& name : names) {
            QVERIFY2(header.contains(QString::fromStdString("target_" + name)), qPrintable(lines[0]));
            QVERIFY2(header.contains(QString::fromStdString("measured_" + name)), qPrintable(lines[0]));
        }
        QVERIFY(header.contains("predicted_phi"));
        const QStringList row = lines[1 + withMixed].split(',');
        QCOMPARE(row.size(), header.size());
        QCOMPARE(row[header.indexOf("target_vol_frac_M")].toDouble(), 0.13);
        // ml::generatedCsvRows' cells: 6 significant digits.
        QVERIFY(std::abs(row[header.indexOf("measured_vol_frac_M")].toDouble() - shown.volumeFraction(ms::Mixed)) <
                1e-6);
        for (const auto& name : names) QVERIFY(!row[header.indexOf(QString::fromStdString(name))].isEmpty());
    }

    void designGeneratesMeasuresAndExports() {
        // An untrained tiny generator, made by the CLI as a user would.
        const QString models = QDir::temp().filePath("ms_test_gui_models");
        QDir(models).removeRecursively();
        QCOMPARE(createTinyGeneratorWithCli(models + "/tiny"), 0);
        ms::ui::MainWindow w;
        w.tabs()->setCurrentWidget(w.design());
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        auto* design = w.design();
        QVERIFY(design->loadModel(models + "/tiny", true));
        QVERIFY(!design->loadModel(models + "/missing", true));
        design->setTarget("ABS_f_D", 0.4);
        QCOMPARE(design->request().target.at("ABS_f_D"), 0.4);
        QVERIFY2(design->feasibilityText().contains("unknown"), qPrintable(design->feasibilityText()));
        bool refused = false;
        try {
            design->setTarget("no_such_descriptor", 1.0);
        } catch (const std::exception&) {
            refused = true;
        }
        QVERIFY(refused);
        auto* count = design->findChild<QSpinBox*>();
        QVERIFY(count);
        count->setValue(3);
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        LatencyProbe probe;
        probe.start();
        design->generate();
        QVERIFY(design->busy());
        QVERIFY(done.wait(240000));
        probe.stop();
        qInfo("worst event-loop gap during generation: %lld ms wall, %.1f ms of UI-thread work", probe.worstGap,
              probe.worstCpuGap);
        QVERIFY2(probe.worstCpuGap < 100, qPrintable(QString::number(probe.worstCpuGap)));
        QCOMPARE(done.first().at(0).toInt(), 3);
        QCOMPARE(int(design->samples().size()), 3);
        // The selected sample is in the 3D view, with target vs measured and predictions.
        QCOMPARE(design->selected(), 0);
        QCOMPARE(design->viewer()->volume().dims(), (ms::Dims{16, 16, 8}));
        const ms::Volume& first = design->samples().front();
        QCOMPARE(first.attributes.at("target_ABS_f_D"), 0.4);
        QVERIFY(first.attributes.count("ABS_f_D"));  // measured by the descriptors
        QCOMPARE(first.attributes.at("ABS_f_D"), first.volumeFraction(ms::Donor));
        auto* table = design->comparison();
        QCOMPARE(table->rowCount(), 3 + 3);  // three conditions, phi, chi, anneal time
        QCOMPARE(table->item(0, 1)->text(), QString("0.4"));
        QCOMPARE(table->item(3, 0)->text(), QString("blend ratio phi"));
        QCOMPARE(table->item(3, 1)->text(), QString("(predicted)"));  // no target: the feature predictor's
        design->select(2);
        QCOMPARE(design->viewer()->volume().labels(), design->samples()[2].labels());
        // Export: the selected volume, all samples, and the table.
        const QString base = QDir::temp().filePath("ms_test_gui_design");
        design->exportTo(base + ".vti");
        QVERIFY(ms::io::readVolume((base + ".vti").toStdString()).sameLabels(design->samples()[2]));
        design->exportTo(base + ".h5");
        QCOMPARE(int(ms::io::readSamples((base + ".h5").toStdString()).size()), 3);
        design->exportTo(base + ".csv");
        QFile csv(base + ".csv");
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList lines = QString(csv.readAll()).trimmed().split('\n');
        QCOMPARE(lines.size(), 4);
        QVERIFY(lines[0].startsWith("sample,seed,target_ABS_f_D"));  // generate's table (ml::generatedCsvRows)
        QVERIFY(lines[0].contains("predicted_phi"));
        // A session brings back model, targets, settings and samples.
        const QString sessionPath = QDir::temp().filePath("ms_test_gui_session.json");
        design->saveSession(sessionPath);
        {
            ms::ui::MainWindow w2;
            w2.design()->openSession(sessionPath);
            QCOMPARE(w2.design()->request().target.at("ABS_f_D"), 0.4);
            QCOMPARE(w2.design()->request().count, 3);
            QCOMPARE(int(w2.design()->samples().size()), 3);
            QVERIFY(w2.design()->samples()[2].sameLabels(design->samples()[2]));
            QCOMPARE(w2.design()->selected(), 2);
            bool refused = false;
            try {
                w2.design()->openSession(base + ".csv");
            } catch (const std::exception&) {
                refused = true;
            }
            QVERIFY(refused);
        }
        // Cancel stops a long generation (DDPM over all timesteps).
        design->findChildren<QSpinBox*>().at(2)->setValue(0);
        QSignalSpy done2(design, &ms::ui::DesignPanel::generated);
        design->generate();
        QTest::qWait(200);
        design->cancel();
        QVERIFY(done2.wait(60000));
        QCOMPARE(done2.first().at(0).toInt(), 0);
        QCOMPARE(int(design->samples().size()), 3);  // the previous samples are kept
        // Screened generation: 2 candidates per sample, the kept ones say so
        // and carry their measured descriptors; the setting is in the session.
        design->findChildren<QSpinBox*>().at(2)->setValue(3);
        auto* candidates = design->findChild<QSpinBox*>("candidates");
        QVERIFY(candidates);
        candidates->setValue(2);
        QCOMPARE(design->request().candidates, 2);
        // Generate, wait, and say how many samples came (-1: none in time).
        const auto generateAndCount = [design] {
            QSignalSpy done(design, &ms::ui::DesignPanel::generated);
            design->generate();
            return done.wait(240000) ? done.first().at(0).toInt() : -1;
        };
        QCOMPARE(generateAndCount(), 3);
        for (const auto& v : design->samples()) {
            QCOMPARE(v.attributes.at("candidates"), 2.0);
            QCOMPARE(v.attributes.at("ABS_f_D"), v.volumeFraction(ms::Donor));
        }
        // "stop within": off with one candidate; a distance every draw meets
        // stops each sample after its first round (3 draws each: the round
        // fills a batch of 8), well short of the 8 candidates allowed.
        auto* tolerance = design->findChild<QDoubleSpinBox*>("tolerance");
        QVERIFY(tolerance);
        QVERIFY(tolerance->isEnabled());
        candidates->setValue(1);
        QVERIFY(!tolerance->isEnabled());
        candidates->setValue(8);
        tolerance->setValue(5.0);
        QCOMPARE(design->request().tolerance, 5.0);
        QCOMPARE(generateAndCount(), 3);
        for (const auto& v : design->samples()) {
            QCOMPARE(v.attributes.at("candidates"), 3.0);
            QVERIFY(v.attributes.at("selection_distance") <= 5.0);
        }
        design->saveSession(sessionPath);
        {
            ms::ui::MainWindow w3;
            w3.design()->openSession(sessionPath);
            QCOMPARE(w3.design()->request().candidates, 8);
            QCOMPARE(w3.design()->request().tolerance, 5.0);
        }
    }

    void designShowsPredictionAccuracyFromEvaluation() {
        // The held-out figures shipped beside a model (evaluation.json) label
        // each predicted processing parameter; an R^2 below 0.5 greys it out.
        const QString folder = QDir::temp().filePath("ms_test_gui_evaluation");
        QCOMPARE(createTinyGeneratorWithCli(folder), 0);
        const auto writeEvaluation = [&](const QByteArray& text) {
            QFile f(QDir(folder).filePath("evaluation.json"));
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(text);
        };
        writeEvaluation(R"({"split": "test", "data": "heldout-test.h5", "n": 256,
                            "fp_r2": {"phi": 0.93, "chi": 0.21, "log_time": 0.9},
                            "r2": {"ABS_f_D": 0.95, "CT_f_D_tort1": 0.94, "CT_f_A_tort1": 0.91}})");
        ms::ui::MainWindow w;
        w.tabs()->setCurrentWidget(w.design());
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        auto* design = w.design();
        design->findChildren<QSpinBox*>().at(0)->setValue(1);  // samples
        design->findChildren<QSpinBox*>().at(2)->setValue(3);  // DDIM steps
        design->findChild<QSpinBox*>("candidates")->setValue(1);
        auto* table = design->comparison();
        const QColor disabled = table->palette().color(QPalette::Disabled, QPalette::Text);
        // Loads `folder` and generates one sample; the table then holds three
        // conditions, then phi, chi and anneal time.
        const auto loadAndGenerate = [&]() -> bool {
            if (!design->loadModel(folder, true)) return false;
            QSignalSpy done(design, &ms::ui::DesignPanel::generated);
            design->generate();
            return done.wait(240000) && done.first().at(0).toInt() == 1 && table->rowCount() == 3 + 3;
        };
        const auto greyed = [&](int row) {
            for (int c = 0; c < 3; ++c) {
                const QVariant fg = table->item(row, c)->data(Qt::ForegroundRole);
                if (fg.isNull() || fg.value<QBrush>().color() != disabled) return false;
            }
            return true;
        };
        const auto notGreyed = [&](int row) {
            for (int c = 0; c < 3; ++c) {
                const QVariant fg = table->item(row, c)->data(Qt::ForegroundRole);
                if (!fg.isNull() && fg.value<QBrush>().color() == disabled) return false;
            }
            return true;
        };
        QVERIFY(loadAndGenerate());
        QCOMPARE(table->item(3, 0)->text(), QString("blend ratio phi"));
        QVERIFY2(table->item(3, 1)->text().contains(QString("R\u00b2 0.93 (test)")),
                 qPrintable(table->item(3, 1)->text()));
        QVERIFY(notGreyed(3));
        QVERIFY(table->item(3, 2)->text() != "-");  // the predicted value itself
        QCOMPARE(table->item(4, 0)->text(), QString("interaction chi"));
        QVERIFY2(table->item(4, 1)->text().contains(QString("R\u00b2 0.21 (test)")),
                 qPrintable(table->item(4, 1)->text()));
        QVERIFY(greyed(4));
        for (int c = 0; c < 3; ++c)
            QVERIFY2(table->item(4, c)->toolTip().contains(QString("R\u00b2 0.21")),
                     qPrintable(table->item(4, c)->toolTip()));
        QVERIFY2(table->item(5, 1)->text().contains(QString("R\u00b2 0.90 (test)")),
                 qPrintable(table->item(5, 1)->text()));
        QVERIFY(notGreyed(5));
        // The descriptor rows stay as they were.
        QVERIFY(notGreyed(0));
        QVERIFY(table->item(3, 1)->toolTip().isEmpty() || !table->item(3, 1)->toolTip().contains("accuracy unknown"));
        // Without the file: "(predicted)", accuracy unknown, nothing greyed.
        QVERIFY(QFile::remove(QDir(folder).filePath("evaluation.json")));
        QVERIFY(loadAndGenerate());
        for (int row = 3; row < 6; ++row) {
            QCOMPARE(table->item(row, 1)->text(), QString("(predicted)"));
            QVERIFY2(table->item(row, 1)->toolTip().contains("accuracy unknown"),
                     qPrintable(table->item(row, 1)->toolTip()));
            QVERIFY(notGreyed(row));
        }
        // A broken side file does not block the model: it loads, with a
        // one-line warning, and the accuracy is unknown.
        auto* info = design->findChild<QLabel*>("modelInfo");
        QVERIFY(info);
        QVERIFY(!info->text().contains("evaluation.json"));
        for (const QByteArray& broken :
             {QByteArray("{\"split\": \"test\", \"fp_r2\": {\"phi\": 0.9"), QByteArray("[1, 2, 3]"),
              QByteArray("{\"split\": 5, \"n\": \"many\", \"fp_r2\": [0.9]}")}) {
            writeEvaluation(broken);
            QSignalSpy status(design, &ms::ui::DesignPanel::statusMessage);
            QVERIFY2(loadAndGenerate(), broken.constData());
            QVERIFY(design->hasModel());
            QVERIFY2(info->text().contains("evaluation.json"), qPrintable(info->text()));
            bool said = false;
            for (const auto& args : status) said = said || args.at(0).toString().contains("evaluation.json");
            QVERIFY2(said, broken.constData());
            for (int row = 3; row < 6; ++row) {
                QVERIFY(notGreyed(row));
                QVERIFY(!table->item(row, 1)->text().contains(QString("R\u00b2")));
            }
        }
        // A good file again: the warning goes.
        writeEvaluation(R"({"split": "test", "n": 256, "fp_r2": {"phi": 0.93, "chi": 0.21, "log_time": 0.9}})");
        QVERIFY(loadAndGenerate());
        QVERIFY2(!info->text().contains("evaluation.json"), qPrintable(info->text()));
        QVERIFY(greyed(4));
    }

    void importDialogBuildsTheWorkerCommand() {
        // File > Import MicroGen3D weights...: the four files typed, the phases
        // picked with the keyboard, the name; the command the worker runs.
        ms::ui::MicroGen3dImportDialog dialog;
        dialog.resize(600, 300);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        const std::pair<const char*, const char*> typed[] = {{"importVae", "/w/vae.pt"},
                                                             {"importFp", "/w/fp.pt"},
                                                             {"importDdpm", "/w/ddpm.pt"},
                                                             {"importConfig", "/w/c.yaml"}};
        for (const auto& [name, text] : typed) {
            auto* edit = dialog.findChild<QLineEdit*>(name);
            QVERIFY(edit);
            edit->setFocus();
            QTest::keyClicks(edit, text, Qt::NoModifier, 20);
        }
        auto* phases = dialog.findChild<QComboBox*>("importPhases");
        phases->setFocus();
        QTest::keyClick(phases, Qt::Key_Down, Qt::NoModifier, 50);
        auto* name = dialog.findChild<QLineEdit*>("importName");
        name->setFocus();
        name->selectAll();
        QTest::keyClicks(name, "ch3", Qt::NoModifier, 20);
        dialog.grab().save(QDir::temp().filePath("ms_test_gui_import_dialog.png"));  // for a look
        const auto files = dialog.files();
        QCOMPARE(files.arguments("/m/ch3"), (QStringList{"models", "import-microgen3d", "--vae", "/w/vae.pt", "--fp",
                                                         "/w/fp.pt", "--ddpm", "/w/ddpm.pt", "--config", "/w/c.yaml",
                                                         "--phases", "3", "--name", "ch3", "-o", "/m/ch3"}));
        // The studio's File menu offers it.
        ms::ui::MainWindow w;
        bool offered = false;
        for (auto* action : w.menuBar()->actions().first()->menu()->actions())
            offered = offered || action->text() == "Import MicroGen3D weights...";
        QVERIFY(offered);
    }

    void designShowsAnImportedMicroGen3dModel() {
        // Issue 22.6: MicroGen3D's weights, imported from the studio (the ML
        // worker's own `models import-microgen3d`), appear in the Design tab
        // like any generator: its conditions as sliders, the carried output
        // norm_STAT_e as a predicted row, and what a sample costs.
        QTemporaryDir tmp;
        QProcess script;
        script.start("python3",
                     {QString(MICROSTUDIO_SOURCE_DIR) + "/tests/ml3d/make_microgen3d_weights.py", tmp.path()});
        QVERIFY2(script.waitForFinished(120000) && script.exitCode() == 0, script.readAllStandardError().constData());
        ms::ui::MicroGen3dFiles files;
        files.vae = tmp.filePath("vae.pt");
        files.fp = tmp.filePath("fp.pt");
        files.ddpm = tmp.filePath("ddpm.pt");
        files.config = tmp.filePath("config.yaml");
        const QString folder = tmp.filePath("imported");
        ms::ui::MainWindow w;
        w.tabs()->setCurrentWidget(w.design());
        w.resize(1024, 700);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        auto* design = w.design();
        QSignalSpy imported(design, &ms::ui::DesignPanel::imported);
        // A config that is not one: refused in one line naming the file, nothing loaded.
        auto broken = files;
        broken.config = files.vae;
        design->startImport(broken, tmp.filePath("broken"));
        QVERIFY(imported.wait(120000));
        const auto refused = imported.takeFirst();
        QCOMPARE(refused.at(0).toBool(), false);
        const QString reason = refused.at(1).toString();
        QVERIFY2(reason.contains(files.vae) && !reason.contains('\n'), qPrintable(reason));
        QVERIFY(!QFileInfo::exists(tmp.filePath("broken")));  // nothing written
        design->startImport(files, folder);
        QVERIFY(imported.wait(120000));
        const auto result = imported.takeFirst();
        QVERIFY2(result.at(0).toBool(), qPrintable(result.at(1).toString()));
        QVERIFY(design->hasModel());
        const QString info = design->findChild<QLabel*>("modelInfo")->text();
        QVERIFY2(
            info.contains("Imported MicroGen3D weights") && info.contains("per DDIM-50 sample (measured at import"),
            qPrintable(info));
        QStringList sliders;
        for (const auto& [name, value] : design->request().target) sliders << QString::fromStdString(name);
        QCOMPARE(sliders, (QStringList{"ABS_f_D", "CT_f_A_tort1", "CT_f_D_tort1"}));
        design->findChildren<QSpinBox*>().at(0)->setValue(1);  // samples
        design->findChildren<QSpinBox*>().at(2)->setValue(3);  // DDIM steps
        design->findChild<QSpinBox*>("candidates")->setValue(1);
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        design->generate();
        QVERIFY(done.wait(240000));
        QCOMPARE(done.first().at(0).toInt(), 1);
        auto* table = design->comparison();
        QCOMPARE(table->rowCount(), 3 + 1);  // three conditions, then norm_STAT_e (no phi, chi, time)
        QCOMPARE(table->item(3, 0)->text(), QString("norm_STAT_e"));
        QCOMPARE(table->item(3, 1)->text(), QString("(predicted)"));
        bool isNumber = false;
        table->item(3, 2)->text().toDouble(&isNumber);
        QVERIFY2(isNumber, qPrintable(table->item(3, 2)->text()));
        w.grab().save(QDir::temp().filePath("ms_test_gui_imported_microgen3d_1024x700.png"));  // for a look
    }

    void designTargetSlidersRecheckFeasibility() {
        // Issue 26.1: a slider writes its number box with the box's signals
        // blocked, so the feasibility line went stale while dragging.
        const QString folder = tinyGeneratorWithData("ms_test_gui_slider_feasibility", 2);
        const auto model = ms::ml::Generator3D::load(folder.toStdString());
        ms::ui::MainWindow w;
        auto* design = openDesign(w, folder, {1200, 800});
        QVERIFY(design);
        auto* status = design->findChild<QLabel*>("feasibility");
        QVERIFY(status);
        // The line says what a fresh check of the current target says.
        const auto current = [&]() -> QString {
            const auto report = model.feasibility(design->request().target);
            const QString distance = QString("distance %1").arg(report.distance, 0, 'f', 2);
            if (design->targetFeasible() != report.feasible || !status->text().contains(distance) ||
                status->text().contains("outside") == report.feasible)
                return QString("stale: '%1' for a target at %2 (%3)")
                    .arg(status->text(), distance, report.feasible ? "feasible" : "infeasible");
            return {};
        };
        design->setTarget("ABS_f_D", 0.5);
        design->setTarget("CT_f_D_tort1", 0.85);
        design->setTarget("CT_f_A_tort1", 0.71);
        QVERIFY2(design->targetFeasible(), qPrintable(status->text()));
        QVERIFY2(current().isEmpty(), qPrintable(current()));
        // Both tortuosity sliders to their limits with the keyboard.
        for (const char* name : {"target_CT_f_D_tort1", "target_CT_f_A_tort1"}) {
            auto* slider = design->findChild<QSlider*>(name);
            QVERIFY(slider);
            slider->setFocus();
            QTest::keyClick(slider, Qt::Key_End);
            QCOMPARE(slider->value(), slider->maximum());
        }
        QCOMPARE(design->request().target.at("CT_f_D_tort1"), 1.0);
        QCOMPARE(design->request().target.at("CT_f_A_tort1"), 1.0);
        QVERIFY2(!design->targetFeasible(), qPrintable(status->text()));
        QVERIFY2(current().isEmpty(), qPrintable(current()));
        // A drag back (slider held down, tracking): the line follows every step.
        auto* slider = design->findChild<QSlider*>("target_CT_f_A_tort1");
        slider->setSliderDown(true);
        bool sawFeasible = false;
        for (int v = slider->maximum(); v >= slider->maximum() * 2 / 5; v -= 25) {
            slider->setSliderPosition(v);
            QTest::qWait(5);
            QVERIFY2(current().isEmpty(), qPrintable(QString("slider at %1: %2").arg(v).arg(current())));
            sawFeasible = sawFeasible || design->targetFeasible();
        }
        slider->setSliderDown(false);
        auto* other = design->findChild<QSlider*>("target_CT_f_D_tort1");
        other->setSliderDown(true);
        for (int v = other->maximum(); v >= other->maximum() / 2; v -= 20) {
            other->setSliderPosition(v);
            QVERIFY2(current().isEmpty(), qPrintable(QString("slider at %1: %2").arg(v).arg(current())));
            sawFeasible = sawFeasible || design->targetFeasible();
        }
        other->setSliderDown(false);
        QVERIFY(sawFeasible);
        // The number box follows the slider, and a spin arrow re-checks too.
        auto* spin = targetSpin(design, "CT_f_D_tort1");
        QVERIFY(spin);
        QCOMPARE(spin->value(), design->request().target.at("CT_f_D_tort1"));
        spin->stepUp();
        QVERIFY2(current().isEmpty(), qPrintable(current()));
        QTest::keyClick(other, Qt::Key_Home);
        QCOMPARE(spin->value(), spin->minimum());
        QVERIFY2(current().isEmpty(), qPrintable(current()));
        // A slider drag is one undo step, back to where it started.
        auto* stack = w.history()->stack();
        const double before = spin->value();
        QTest::qWait(1100);  // apart from the steps above
        other->setSliderDown(true);
        for (int v = 100; v <= 700; v += 100) other->setSliderPosition(v);
        other->setSliderDown(false);
        QVERIFY(spin->value() > before);
        stack->undo();
        QCOMPARE(spin->value(), before);
        QCOMPARE(other->value(), 0);
        QVERIFY2(current().isEmpty(), qPrintable(current()));
    }

    void designTypedTargetKeepsEveryDigit() {
        // Issue 26.2: typed at a person's pace, "0.4639" became 0.4000 and
        // "0.55" 0.5000: each keystroke's value went through the undo
        // history, which set it back into the box, reformatted, mid-typing.
        const QString folder = tinyGeneratorWithData("ms_test_gui_typed_target", 2);
        ms::ui::MainWindow w;
        w.tabs()->setCurrentWidget(w.design());
        w.resize(1200, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        auto* spin = targetSpin(design, "ABS_f_D");
        auto* slider = design->findChild<QSlider*>("target_ABS_f_D");
        QVERIFY(spin);
        const double before = spin->value();
        // Selects the box's text and types over it, ending with `end`.
        const auto typeInto = [&](QDoubleSpinBox* box, const QString& text, Qt::Key end) {
            box->setFocus();
            QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(box));
            QTest::keyClick(w.windowHandle(), Qt::Key_A, Qt::ControlModifier);
            QTest::qWait(300);
            typeSlowly(&w, text);
            QTest::keyClick(w.windowHandle(), end);
            QTest::qWait(50);
        };
        typeInto(spin, "0.4639", Qt::Key_Return);
        QCOMPARE(spin->text(), QString("0.4639"));
        QCOMPARE(spin->value(), 0.4639);
        QCOMPARE(design->request().target.at("ABS_f_D"), 0.4639);
        QCOMPARE(slider->value(), int(std::lround((0.4639 - 0.3) / 0.4 * slider->maximum())));
        // The whole typed value is one undo step.
        auto* stack = w.history()->stack();
        stack->undo();
        QCOMPARE(spin->value(), before);
        stack->redo();
        QCOMPARE(spin->value(), 0.4639);
        // Left with Tab (focus out) rather than Enter.
        QTest::qWait(1100);
        typeInto(spin, "0.55", Qt::Key_Tab);
        QVERIFY(QApplication::focusWidget() != spin);
        QCOMPARE(spin->text(), QString("0.5500"));
        QCOMPARE(spin->value(), 0.55);
        QCOMPARE(design->request().target.at("ABS_f_D"), 0.55);
        // Another box, a value whose prefix ("0.6") is inside the range too.
        auto* tort = targetSpin(design, "CT_f_D_tort1");
        typeInto(tort, "0.8125", Qt::Key_Return);
        QCOMPARE(tort->value(), 0.8125);
        // The feasibility line reads the typed target.
        const auto model = ms::ml::Generator3D::load(folder.toStdString());
        const auto report = model.feasibility(design->request().target);
        QCOMPARE(design->targetFeasible(), report.feasible);
        QVERIFY(design->feasibilityText().contains(QString("distance %1").arg(report.distance, 0, 'f', 2)));
    }

    // The sampler is chosen in the Sampling group by keyboard: DPM-Solver++
    // sets its 16 steps, the samples record it, a session keeps it, and DDPM
    // locks the steps to every timestep.
    void designSamplerSelectorDrivesGeneration() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_sampler", 2);
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        auto* sampler = design->findChild<QComboBox*>("sampler");
        auto* steps = design->findChild<QSpinBox*>("steps");
        QVERIFY(sampler && steps);
        QCOMPARE(sampler->currentData().toString(), QString("ddim"));
        QCOMPARE(steps->value(), 50);
        sampler->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(sampler));
        QTest::keyClick(w.windowHandle(), Qt::Key_Down);
        QTest::qWait(200);
        QCOMPARE(sampler->currentData().toString(), QString("dpmpp"));
        QCOMPARE(steps->value(), 16);
        QVERIFY(steps->isEnabled());
        steps->setValue(4);  // a tiny model: fewer network calls keep the test short
        QCOMPARE(design->request().sampler, std::string("dpmpp"));
        auto* count = design->findChild<QSpinBox*>();
        count->setValue(1);
        design->findChild<QSpinBox*>("candidates")->setValue(1);
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        design->generate();
        QVERIFY(done.wait(240000));
        QCOMPARE(int(design->samples().size()), 1);
        QCOMPARE(QString::fromStdString(design->samples().front().text.at("sampler")), QString("dpmpp2m-4"));
        // A session keeps the sampler and its steps.
        const QString session = QDir::temp().filePath("ms_test_gui_sampler/session.json");
        design->saveSession(session);
        sampler->setCurrentIndex(0);
        QCOMPARE(steps->value(), 50);
        design->openSession(session);
        QCOMPARE(sampler->currentData().toString(), QString("dpmpp"));
        QCOMPARE(steps->value(), 4);
        // DDPM runs every timestep: its steps box is locked at 0.
        QTest::keyClick(w.windowHandle(), Qt::Key_Down);
        QTest::qWait(200);
        QCOMPARE(sampler->currentData().toString(), QString("ddpm"));
        QVERIFY(!steps->isEnabled());
        QCOMPARE(steps->value(), 0);
        // The row fits the controls column at 1024x700.
        QVERIFY(sampler->width() >= sampler->minimumSizeHint().width());
        QVERIFY(steps->width() >= steps->minimumSizeHint().width());
        QVERIFY(steps->mapTo(&w, QPoint(steps->width(), 0)).x() <= w.width());
    }

    // Issue 26.8: Tab cycled the 18 cells of "Selected sample" forever, and
    // the phases, the 3D view and the gallery could not be reached by keyboard.
    void designKeyboardReachesEveryPart() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_keyboard", 2);
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        setPlainSampling(design, 2);
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        design->generate();
        QVERIFY(done.wait(240000));
        auto* generate = design->findChild<QPushButton*>("generate");
        generate->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(generate));
        std::vector<QWidget*> visited;
        for (int i = 0; i < 80; ++i) {
            QTest::keyClick(w.windowHandle(), Qt::Key_Tab);
            QTest::qWait(100);
            visited.push_back(QApplication::focusWidget());
            if (visited.back() == generate) break;
        }
        QCOMPARE(visited.back(), static_cast<QWidget*>(generate));  // the chain comes round: no trap
        auto reached = [&](auto&& isPart) { return std::any_of(visited.begin(), visited.end(), isPart); };
        auto* table = design->comparison();
        QVERIFY(reached([&](QWidget* f) { return f == table; }));
        QCOMPARE(std::count(visited.begin(), visited.end(), static_cast<QWidget*>(table)), 1L);  // one Tab leaves it
        QVERIFY(reached([&](QWidget* f) { return qobject_cast<QCheckBox*>(f) && design->viewer()->isAncestorOf(f); }));
        QVERIFY(
            reached([&](QWidget* f) { return qobject_cast<ms::render::VtkWidget*>(f) && design->isAncestorOf(f); }));
        QVERIFY(
            reached([&](QWidget* f) { return qobject_cast<ms::render::SliceView*>(f) && design->isAncestorOf(f); }));
        QWidget* gallery = design->findChild<QWidget*>("gallery");
        QVERIFY(gallery && reached([&](QWidget* f) { return f == gallery; }));
    }

    void designLayoutHoldsAt1024x700WithAnOutOfRangeTarget() {
        // Issue 26.4: an out-of-range target's message widened the controls
        // column and squashed the Sampling group at 1024x700.
        const QString folder = tinyGeneratorWithData("ms_test_gui_layout_1024", 3);
        ms::ui::MainWindow w;
        auto* design = openDesign(w, folder, {1024, 700});
        QVERIFY(design);
        const QSize windowSize = w.size();
        QCOMPARE(windowSize, QSize(1024, 700));
        // Every target far out: the longest message there is.
        design->setTarget("vol_frac_D", 0.65);
        design->setTarget("vol_frac_M", 0.30);
        design->setTarget("tortuosity_D", 1.6);
        design->setTarget("tortuosity_A", 1.6);
        QVERIFY(!design->targetFeasible());
        QTest::qWait(100);
        QCOMPARE(w.size(), windowSize);
        // The controls column: what shows of it (its scroll area's viewport).
        auto* status = design->findChild<QLabel*>("feasibility");
        QWidget* column = status->parentWidget();
        auto* scroll = design->findChild<QScrollArea*>("designControls");
        QWidget* viewport = scroll ? scroll->viewport() : column;
        QVERIFY(viewport->isAncestorOf(status));
        // The message wraps within the column, shows all its lines, and the
        // full check is its tooltip.
        QVERIFY(status->wordWrap());
        QVERIFY2(status->width() <= viewport->width(),
                 qPrintable(QString("%1 > %2").arg(status->width()).arg(viewport->width())));
        QVERIFY2(status->height() >= status->heightForWidth(status->width()),
                 qPrintable(QString("%1 < %2").arg(status->height()).arg(status->heightForWidth(status->width()))));
        QVERIFY(status->toolTip().contains("ABS") || status->toolTip().contains("vol_frac_M"));
        QVERIFY(status->text().contains("nearest feasible target"));
        // Nothing in the controls column wider than what shows of it, nothing
        // in the window beyond its right edge.
        for (QWidget* child : column->findChildren<QWidget*>()) {
            if (!child->isVisibleTo(viewport)) continue;
            const QRect r(child->mapTo(viewport, QPoint(0, 0)), child->size());
            QVERIFY2(r.left() >= 0 && r.right() < viewport->width(),
                     qPrintable(QString("%1 '%2' spans x %3..%4 of %5")
                                    .arg(child->metaObject()->className(), child->objectName())
                                    .arg(r.left())
                                    .arg(r.right())
                                    .arg(viewport->width())));
        }
        for (QWidget* child : w.findChildren<QWidget*>()) {
            if (!child->isVisibleTo(&w) || child->isWindow()) continue;
            const QRect r(child->mapTo(&w, QPoint(0, 0)), child->size());
            QVERIFY2(r.right() < w.width() + 1 || child->parentWidget() == viewport ||
                         child->parentWidget()->inherits("QScrollArea"),
                     qPrintable(QString("%1 '%2' ends at x %3")
                                    .arg(child->metaObject()->className(), child->objectName())
                                    .arg(r.right())));
        }
        // The Sampling group keeps its spin boxes readable.
        QGroupBox* sampling = nullptr;
        for (auto* g : design->findChildren<QGroupBox*>())
            if (g->title() == "Sampling") sampling = g;
        QVERIFY(sampling);
        QVERIFY(sampling->width() >= sampling->minimumSizeHint().width());
        for (auto* box : sampling->findChildren<QAbstractSpinBox*>())
            QVERIFY2(box->width() >= box->sizeHint().width(),
                     qPrintable(
                         QString("%1: %2 < %3").arg(box->objectName()).arg(box->width()).arg(box->sizeHint().width())));
        for (auto* box : design->findChildren<QDoubleSpinBox*>())
            QVERIFY2(box->width() >= box->minimumSizeHint().width(), qPrintable(box->objectName()));
        w.grab().save(QDir::temp().filePath("ms_test_gui_design_1024x700.png"));  // for a look
        // "Use nearest" clears the message; the layout stays.
        design->useNearestFeasibleTarget();
        QVERIFY(design->targetFeasible());
        QCOMPARE(w.size(), windowSize);
    }

    void designEvaluatesOnHeldOutData() {
        // Issue 23: the Evaluate action runs ms::ml::evaluateGenerator3d on
        // the held-out file beside the model and plots target vs measured.
        const QString folder = QDir::temp().filePath("ms_test_gui_evaluate");
        QCOMPARE(createTinyGeneratorWithCli(folder), 0);
        const QString heldOutFile = QDir(folder).filePath("heldout-test.h5");
        ms::io::writeHdf5(heldOutSamples(16), heldOutFile.toStdString());
        ms::ui::MainWindow w;
        auto* design = openDesign(w, folder, {1024, 700});
        QVERIFY(design);
        // The default held-out data: the model folder's heldout-test.h5.
        QCOMPARE(QFileInfo(design->heldOutPath()).canonicalFilePath(), QFileInfo(heldOutFile).canonicalFilePath());
        design->findChildren<QSpinBox*>().at(1)->setValue(7);  // seed
        design->findChildren<QSpinBox*>().at(2)->setValue(3);  // DDIM steps
        // To the Evaluation page by its tab, as a user does.
        auto* results = design->findChild<QTabWidget*>("designResults");
        QVERIFY(results);
        QTest::mouseClick(results->tabBar(), Qt::LeftButton, {}, results->tabBar()->tabRect(1).center());
        QCOMPARE(results->currentIndex(), 1);
        auto* count = design->findChild<QSpinBox*>("evaluationCount");
        auto* evaluate = design->findChild<QPushButton*>("evaluate");
        auto* cancel = design->findChild<QPushButton*>("cancelEvaluation");
        auto* generate = design->findChild<QPushButton*>("generate");
        auto* message = design->findChild<QLabel*>("evaluationMessage");
        QVERIFY(count && evaluate && cancel && generate && message);
        QCOMPARE(count->value(), 64);
        count->setValue(12);  // of the file's 16, evenly spaced
        QVERIFY(evaluate->isVisible() && evaluate->isEnabled());
        QSignalSpy done(design, &ms::ui::DesignPanel::evaluated);
        QTest::mouseClick(evaluate, Qt::LeftButton);
        QVERIFY(design->busy());
        QVERIFY(!generate->isEnabled() && !evaluate->isEnabled() && cancel->isEnabled());
        QVERIFY(done.wait(240000));
        QVERIFY2(done.first().at(0).toBool(), qPrintable(done.first().at(1).toString()));
        QVERIFY(!design->busy());
        QVERIFY(generate->isEnabled() && evaluate->isEnabled() && !cancel->isEnabled());
        const ms::ml::Evaluation3dReport* report = design->evaluationView()->report();
        QVERIFY(report);
        QCOMPARE(report->n, std::size_t(12));
        QCOMPARE(report->split, std::string("test"));
        QVERIFY(!report->diversity && report->timing.empty() && !report->memorisation);  // kept quick
        auto* split = design->findChild<QLabel*>("evaluationSplit");
        QVERIFY(split && split->isVisible());
        QCOMPARE(split->text(), QString("split: test"));
        auto* summary = design->findChild<QLabel*>("evaluationSummary");
        QVERIFY2(summary->text().startsWith("12 targets from heldout-test.h5"), qPrintable(summary->text()));
        QVERIFY2(summary->text().contains("ddim-3") && summary->text().contains("seed 7"), qPrintable(summary->text()));
        QVERIFY2(design->findChild<QLabel*>("evaluationMemorisation")->text().contains("not measured"),
                 qPrintable(design->findChild<QLabel*>("evaluationMemorisation")->text()));
        // One chart per condition, a point per described target, the R^2 in
        // its title equal to the points' own and the report's.
        const auto conditions = ms::ml::Generator3D::load(folder.toStdString()).conditionNames();
        QCOMPARE(design->evaluationView()->findChildren<QChartView*>().size(), qsizetype(conditions.size()));
        for (const auto& name : conditions) {
            auto* view =
                design->evaluationView()->findChild<QChartView*>(QString::fromStdString("evaluationChart_" + name));
            QVERIFY2(view, name.c_str());
            QTRY_VERIFY(view->isVisible());  // shown from the event loop once laid out
            QScatterSeries* points = nullptr;
            QLineSeries* identity = nullptr;
            for (auto* s : view->chart()->series()) {
                if (auto* sc = qobject_cast<QScatterSeries*>(s)) points = sc;
                else if (auto* line = qobject_cast<QLineSeries*>(s)) identity = line;
            }
            QVERIFY(points && identity);
            QCOMPARE(points->count(), int(report->plain.described.at(name)));
            if (name == "ABS_f_D") QCOMPARE(points->count(), 12);  // a volume fraction is always defined
            for (int i = 0; i < points->count(); ++i)
                QCOMPARE(points->at(i).x(), report->targets[std::size_t(i)].at(name));
            const QString title = view->chart()->title();
            const QString r2 = QString::number(report->plain.r2.at(name), 'f', 3);
            if (points->count() > 2) QCOMPARE(QString::number(squaredPearson(points->points()), 'f', 3), r2);
            QVERIFY2(title.contains(QString("R\u00b2 %1").arg(r2)), qPrintable(title));
            QVERIFY2(
                title.contains(
                    QString("SS<sub>tot</sub> %1").arg(QString::number(report->plain.determination.at(name), 'f', 3))),
                qPrintable(title));
            QVERIFY2(title.contains("MAE " + QString::number(report->plain.mae.at(name), 'g', 3)), qPrintable(title));
            // y = x across the plot; both axes alike, every point inside,
            // ticks on round numbers (multiples of 1, 2, 2.5 or 5 x 10^k).
            QCOMPARE(identity->count(), 2);
            QCOMPARE(identity->at(0).x(), identity->at(0).y());
            QCOMPARE(identity->at(1).x(), identity->at(1).y());
            for (auto* a : view->chart()->axes()) {
                auto* axis = qobject_cast<QValueAxis*>(a);
                QVERIFY(axis && axis->tickType() == QValueAxis::TicksDynamic);
                const double step = axis->tickInterval();
                const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
                QVERIFY2(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 ||
                             std::abs(mantissa - 2.5) < 1e-6 || std::abs(mantissa - 5) < 1e-6,
                         qPrintable(QString("%1: step %2").arg(name.c_str()).arg(step)));
                QCOMPARE(axis->tickAnchor(), 0.0);
                const double ticks = std::floor(axis->max() / step) - std::ceil(axis->min() / step) + 1;
                QVERIFY2(ticks >= 3 && ticks <= 7, qPrintable(QString("%1: %2 ticks").arg(name.c_str()).arg(ticks)));
                QCOMPARE(axis->min(), identity->at(0).x());
                QCOMPARE(axis->max(), identity->at(1).x());
                for (const QPointF& p : points->points()) {
                    const double v = axis->orientation() == Qt::Horizontal ? p.x() : p.y();
                    QVERIFY(v > axis->min() && v < axis->max());
                }
            }
        }
        // The round trip and the feature predictor, in the table.
        auto* table = design->evaluationView()->findChild<QTableWidget*>("evaluationTable");
        QVERIFY(table && report->reconstruction);
        QStringList rows;
        for (int row = 0; row < table->rowCount(); ++row)
            rows << table->item(row, 0)->text() + " = " + table->item(row, 1)->text();
        for (const auto& name : conditions)
            QVERIFY2(rows.contains(QString("round trip %1 = %2")
                                       .arg(name.c_str())
                                       .arg(report->reconstruction->r2.at(name), 0, 'f', 3)),
                     qPrintable(rows.join("; ")));
        for (const auto& [output, label] : {std::pair<std::string, QString>{"phi", "blend ratio phi"},
                                            {"chi", "interaction chi"},
                                            {"log_time", "log anneal time"}})
            QVERIFY2(rows.contains(QString("predictor: %1 = %2").arg(label).arg(report->fpR2.at(output), 0, 'f', 3)),
                     qPrintable(rows.join("; ")));
        // Copy report: the text `microstudio-cli evaluate` prints for the same report.
        auto* copy = design->findChild<QPushButton*>("evaluationCopy");
        QVERIFY(copy && copy->isVisible());
        QApplication::clipboard()->clear();
        QTest::mouseClick(copy, Qt::LeftButton);
        const QString copied = QApplication::clipboard()->text();
        QCOMPARE(copied, QString::fromStdString(report->text()));
        QVERIFY2(copied.startsWith("evaluate ") && copied.contains("(split test; ddim-3, batch 8, guidance"),
                 qPrintable(copied.section('\n', 0, 0)));
        for (const auto& name : conditions)  // the plain fit's row: name, R^2 to 4 decimals
            QVERIFY2(copied.contains(QRegularExpression(
                         QString("\n%1 +%2 ").arg(name.c_str()).arg(report->plain.r2.at(name), 0, 'f', 4))),
                     qPrintable(copied));
        QCOMPARE(w.size(), QSize(1024, 700));
        QTest::qWait(100);
        w.grab().save(QDir::temp().filePath("design_eval.png"));  // for a look
        // Cancel during a long run (DDPM over all timesteps): the tab stays usable.
        const ms::ml::Evaluation3dReport before = *report;
        design->findChildren<QSpinBox*>().at(2)->setValue(0);
        count->setValue(64);
        QSignalSpy cancelled(design, &ms::ui::DesignPanel::evaluated);
        QTest::mouseClick(evaluate, Qt::LeftButton);
        QVERIFY(design->busy());
        QTest::qWait(300);
        QVERIFY(cancel->isEnabled());
        QTest::mouseClick(cancel, Qt::LeftButton);
        QVERIFY(cancelled.wait(60000));
        QVERIFY(!cancelled.first().at(0).toBool());
        QVERIFY2(cancelled.first().at(1).toString().contains("cancelled"),
                 qPrintable(cancelled.first().at(1).toString()));
        QVERIFY(!design->busy());
        QVERIFY(generate->isEnabled() && evaluate->isEnabled() && !cancel->isEnabled());
        QVERIFY(design->evaluationView()->report());  // the last result stays
        QCOMPARE(design->evaluationView()->report()->n, before.n);
        design->findChildren<QSpinBox*>().at(0)->setValue(1);  // samples
        design->findChildren<QSpinBox*>().at(2)->setValue(3);
        design->findChild<QSpinBox*>("candidates")->setValue(1);
        QSignalSpy generated(design, &ms::ui::DesignPanel::generated);
        QTest::mouseClick(generate, Qt::LeftButton);
        QVERIFY(generated.wait(240000));
        QCOMPARE(generated.first().at(0).toInt(), 1);
        QCOMPARE(results->currentIndex(), 0);  // the new sample shows
        // A missing held-out file: one line, nothing runs.
        results->setCurrentIndex(1);
        auto* data = design->findChild<QLineEdit*>("evaluationData");
        QVERIFY(data);
        const QString missing = QDir(folder).filePath("missing.h5");
        data->setText(missing);
        QSignalSpy refused(design, &ms::ui::DesignPanel::evaluated);
        QTest::mouseClick(evaluate, Qt::LeftButton);
        QCOMPARE(refused.count(), 1);
        QVERIFY(!refused.first().at(0).toBool());
        QVERIFY(!design->busy());
        QVERIFY(message->isVisible());
        QCOMPARE(message->text(), QString("Held-out file not found: %1").arg(missing));
        QVERIFY(!message->text().contains('\n'));
        QVERIFY2(message->height() < 2 * message->fontMetrics().lineSpacing(),
                 qPrintable(QString::number(message->height())));
        data->clear();
        QTest::mouseClick(evaluate, Qt::LeftButton);
        QCOMPARE(refused.count(), 2);
        QVERIFY2(message->text().startsWith("No held-out data"), qPrintable(message->text()));
        QVERIFY(!message->text().contains('\n'));
        // The chosen file is part of the session.
        data->setText(missing);
        const QString sessionPath = QDir::temp().filePath("ms_test_gui_evaluate_session.json");
        design->saveSession(sessionPath);
        {
            ms::ui::MainWindow w2;
            w2.design()->openSession(sessionPath);
            QCOMPARE(w2.design()->heldOutPath(), missing);
            QCOMPARE(w2.design()->findChild<QSpinBox*>("evaluationCount")->value(), 64);
        }
        // With a training file: the memorisation figure.
        auto training = heldOutSamples(20);
        training.erase(training.begin(), training.begin() + 12);  // 8 others
        for (auto& v : training) v.text["split"] = "train";
        const QString trainingFile = QDir(folder).filePath("train.h5");
        ms::io::writeHdf5(training, trainingFile.toStdString());
        data->setText(heldOutFile);
        design->findChild<QLineEdit*>("evaluationTraining")->setText(trainingFile);
        count->setValue(6);
        QSignalSpy memorised(design, &ms::ui::DesignPanel::evaluated);
        QTest::mouseClick(evaluate, Qt::LeftButton);
        QVERIFY(memorised.wait(240000));
        QVERIFY2(memorised.first().at(0).toBool(), qPrintable(memorised.first().at(1).toString()));
        report = design->evaluationView()->report();
        QVERIFY(report && report->memorisation);
        QCOMPARE(report->memorisation->trainingCount, std::size_t(8));
        const QString memorisation = design->findChild<QLabel*>("evaluationMemorisation")->text();
        QVERIFY2(memorisation.contains(QString("nearest of 8 training samples: generated %1, held-out %2")
                                           .arg(report->memorisation->generated.median, 0, 'f', 3)
                                           .arg(report->memorisation->heldOut.median, 0, 'f', 3)),
                 qPrintable(memorisation));
        QVERIFY(report->memorisation->roundTrip);  // the decoder's share, beside the generated samples'
        QVERIFY2(memorisation.contains(
                     QString("held-out VAE round trips %1").arg(report->memorisation->roundTrip->median, 0, 'f', 3)),
                 qPrintable(memorisation));
        w.grab().save(QDir::temp().filePath("design_eval_memorisation.png"));  // for a look
    }

    void designEvaluatesAThreePhaseModel() {
        // Four conditions: four plots and the table, in the page's width.
        const QString folder = tinyGeneratorWithData("ms_test_gui_evaluate3", 3);
        std::vector<ms::Volume> heldOut = heldOutSamples(10);
        for (std::size_t i = 0; i < heldOut.size(); ++i) {
            ms::Volume& v = heldOut[i];
            for (int y = 0; y < 16; ++y)
                for (int z = 0; z < 8; ++z) v.at(int(i) % 16, y, z) = ms::Mixed;
            v.attributes = {{"vol_frac_D", v.volumeFraction(ms::Donor)},
                            {"vol_frac_M", v.volumeFraction(ms::Mixed)},
                            {"tortuosity_D", 1.1 + 0.02 * double(i)},
                            {"tortuosity_A", 1.3 - 0.02 * double(i)},
                            {"phi", 0.4 + 0.01 * double(i)},
                            {"chi", 3.0},
                            {"log_time", 2.0 + 0.3 * double(i)}};
        }
        ms::io::writeHdf5(heldOut, QDir(folder).filePath("heldout-test.h5").toStdString());
        ms::ui::MainWindow w;
        auto* design = openDesign(w, folder, {1024, 700});
        QVERIFY(design);
        design->findChildren<QSpinBox*>().at(2)->setValue(2);  // DDIM steps
        design->showEvaluationPage();
        QSignalSpy done(design, &ms::ui::DesignPanel::evaluated);
        QTest::mouseClick(design->findChild<QPushButton*>("evaluate"), Qt::LeftButton);
        QVERIFY(done.wait(240000));
        QVERIFY2(done.first().at(0).toBool(), qPrintable(done.first().at(1).toString()));
        const auto* report = design->evaluationView()->report();
        QVERIFY(report);
        QCOMPARE(report->n, std::size_t(10));
        QCOMPARE(report->split, std::string("test"));
        QCOMPARE(design->findChild<QLabel*>("evaluationSplit")->text(), QString("split: test"));
        const auto charts = design->evaluationView()->findChildren<QChartView*>();
        QCOMPARE(charts.size(), qsizetype(4));
        auto* scroll = design->findChild<QScrollArea*>("evaluationScroll");
        QVERIFY(scroll);
        QTest::qWait(100);
        for (auto* view : charts) {
            QVERIFY(view->isVisible());
            QVERIFY(view->width() >= view->minimumSizeHint().width() &&
                    view->height() >= view->minimumSizeHint().height());
            const QRect r(view->mapTo(scroll->viewport(), QPoint(0, 0)), view->size());
            QVERIFY2(r.left() >= 0 && r.right() < scroll->viewport()->width(), qPrintable(view->objectName()));
        }
        QCOMPARE(w.size(), QSize(1024, 700));
        w.grab().save(QDir::temp().filePath("design_eval3.png"));  // for a look
    }
#endif

#ifdef MICROSTUDIO_HAVE_DESIGN
    void trainingWizardValidatesPagesAndSetsDefaults() {
        QDir(ms::ui::userModelDirectory()).removeRecursively();
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        QVERIFY(wizard);
        QCOMPARE(w.tabs()->tabText(w.tabs()->indexOf(wizard)).remove('&'), QString("Training"));
        wizard->restart();
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::DataPageId));
        // No file, a missing file: Next stays disabled, with the reason shown.
        QVERIFY(!wizard->currentPage()->isComplete());
        wizard->resize(900, 700);
        auto* train = wizard->findChild<QLineEdit*>("trainData");
        train->setText("/nonexistent/train.h5");
        QVERIFY(!wizard->currentPage()->isComplete());
        QVERIFY(wizard->dataInfo().error.contains("no such file"));
        // A 3-phase 2D file: readable, but no model kind takes it.
        const QString mixed = QDir::temp().filePath("ms_test_wizard_mixed.h5");
        ms::SyntheticOptions three;
        three.mixedFraction = 0.2;
        ms::io::writeHdf5({ms::syntheticMicrostructure(ms::Dims{32, 32, 1}, three)}, mixed.toStdString());
        train->setText(mixed);
        QVERIFY(wizard->currentPage()->isComplete());
        wizard->next();
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::ModelPageId));
        QVERIFY(!wizard->findChild<QRadioButton*>("kindVae")->isEnabled());
        QVERIFY(!wizard->findChild<QRadioButton*>("kind3d")->isEnabled());
        QVERIFY(!wizard->currentPage()->isComplete());
        wizard->back();
        // Demo data: 2D two-phase 32x32 images, the 2D kinds only.
        const QString demo = QDir::temp().filePath("ms_test_wizard_demo.h5");
        wizard->useDemoData(demo, 30, 32);
        QCOMPARE(wizard->dataInfo().samples, 30L);
        QCOMPARE(wizard->dataInfo().dims, (ms::Dims{32, 32, 1}));
        QVERIFY(wizard->currentPage()->isComplete());
        wizard->grab().save(QDir::temp().filePath("ms_test_wizard_data.png"));  // for a look
        wizard->next();
        QVERIFY(wizard->findChild<QRadioButton*>("kindVae")->isChecked());
        QVERIFY(wizard->findChild<QRadioButton*>("kindLdm")->isEnabled());
        QVERIFY(!wizard->findChild<QRadioButton*>("kind3d")->isEnabled());
        auto* name = wizard->findChild<QLineEdit*>("modelName");
        QVERIFY(name->text().startsWith("denoise-vae2d-"));
        QVERIFY(wizard->currentPage()->isComplete());
        name->setText("");
        QVERIFY(!wizard->currentPage()->isComplete());
        name->setText("my-vae");
        // The LDM needs a VAE taking 32x32 images: only such ones are offered.
        wizard->findChild<QRadioButton*>("kindLdm")->setChecked(true);
        auto* vaes = wizard->findChild<QComboBox*>("vaePicker");
        for (int i = 0; i < vaes->count(); ++i) {
            const auto meta = ms::ml::readMetadata(vaes->itemData(i).toString().toStdString());
            QCOMPARE(int(ms::numberOr(meta.architecture, "size", 0)), 32);
        }
        QCOMPARE(wizard->currentPage()->isComplete(), vaes->count() > 0);
        if (vaes->count() == 0) QVERIFY(wizard->findChild<QLabel*>("nameNote")->text().contains("No VAE"));
        wizard->grab().save(QDir::temp().filePath("ms_test_wizard_model.png"));
        wizard->findChild<QRadioButton*>("kindVae")->setChecked(true);
        wizard->next();
        wizard->grab().save(QDir::temp().filePath("ms_test_wizard_parameters.png"));
        // Defaults for small images; ranges; a bad channel list blocks Train.
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::ParametersPageId));
        auto* epochs = wizard->findChild<QSpinBox*>("epochs");
        QCOMPARE(epochs->value(), 10);
        QCOMPARE(epochs->minimum(), 1);
        QCOMPARE(wizard->findChild<QSpinBox*>("latent")->value(), 16);
        QCOMPARE(wizard->findChild<QLineEdit*>("channels")->text(), QString("16,32"));
        epochs->setValue(0);
        QCOMPARE(epochs->value(), 1);
        const ms::ui::TrainingSettings s = wizard->settings();
        QCOMPARE(s.kind, ms::ui::TrainingKind::DenoisingVae2d);
        QCOMPARE(s.name, QString("my-vae"));
        QCOMPARE(s.modelPath(), QDir(ms::ui::userModelDirectory()).filePath("my-vae.pt"));
        QVERIFY(s.validationData.isEmpty());
        wizard->findChild<QLineEdit*>("channels")->setText("8,x");
        QVERIFY(!wizard->currentPage()->isComplete());
        wizard->findChild<QLineEdit*>("channels")->setText("8,16");
        QVERIFY(wizard->currentPage()->isComplete());
        QVERIFY(wizard->currentPage()->isCommitPage());
        // Start over goes back to the data page, nothing trained.
        wizard->reject();
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::DataPageId));
        QVERIFY(!wizard->job()->running());
        QVERIFY(!QFile::exists(s.modelPath()));
    }

    void trainingChannelsFieldTakesTypedText() {
        // Issue 26.3: the channels field lost focus after each keystroke
        // ("8,16" became "8"; a cleared field could not be refilled).
        QDir(ms::ui::userModelDirectory()).removeRecursively();
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        w.tabs()->setCurrentWidget(wizard);
        w.resize(1024, 700);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        // Active, as a window a person types into: the application's focus
        // widget is then the field (what QWizard's refresh used to move on).
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        wizard->restart();
        wizard->useDemoData(QDir::temp().filePath("ms_test_wizard_typing.h5"), 20, 32);
        wizard->next();
        wizard->findChild<QRadioButton*>("kindVae")->setChecked(true);
        wizard->next();
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::ParametersPageId));
        auto* channels = wizard->findChild<QLineEdit*>("channels");
        QVERIFY(channels);
        channels->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(channels));
        // Cleared: Train is off until a valid list is typed.
        QTest::keyClick(w.windowHandle(), Qt::Key_A, Qt::ControlModifier);
        QTest::keyClick(w.windowHandle(), Qt::Key_Backspace);
        QTest::qWait(300);
        QCOMPARE(channels->text(), QString());
        QVERIFY(!wizard->currentPage()->isComplete());
        QCOMPARE(QApplication::focusWidget(), static_cast<QWidget*>(channels));
        const QString typed = "8,16";
        for (int i = 0; i < typed.size(); ++i) {
            typeSlowly(&w, typed.mid(i, 1));
            QCOMPARE(QApplication::focusWidget(), static_cast<QWidget*>(channels));
            QCOMPARE(channels->text(), typed.left(i + 1));
        }
        QVERIFY(wizard->currentPage()->isComplete());
        QCOMPARE(wizard->settings().channels, typed);
        // Back to one width and on again, by keys alone.
        QTest::keyClick(w.windowHandle(), Qt::Key_Backspace);
        QTest::keyClick(w.windowHandle(), Qt::Key_Backspace);
        QTest::keyClick(w.windowHandle(), Qt::Key_Backspace);
        QTest::qWait(300);
        QCOMPARE(channels->text(), QString("8"));
        typeSlowly(&w, ",32,64");
        QCOMPARE(channels->text(), QString("8,32,64"));
        QCOMPARE(QApplication::focusWidget(), static_cast<QWidget*>(channels));
        QVERIFY(wizard->currentPage()->isComplete());
        // The model name on the page before (also checked on each keystroke).
        wizard->back();
        auto* name = wizard->findChild<QLineEdit*>("modelName");
        name->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(name));
        QTest::keyClick(w.windowHandle(), Qt::Key_A, Qt::ControlModifier);
        QTest::keyClick(w.windowHandle(), Qt::Key_Backspace);
        QTest::qWait(300);
        QVERIFY(!wizard->currentPage()->isComplete());
        typeSlowly(&w, "vae-8");
        QCOMPARE(name->text(), QString("vae-8"));
        QCOMPARE(QApplication::focusWidget(), static_cast<QWidget*>(name));
        QVERIFY(wizard->currentPage()->isComplete());
        // Tab still moves on.
        QTest::keyClick(w.windowHandle(), Qt::Key_Tab);
        QVERIFY(QApplication::focusWidget() != name);
        wizard->next();
        QCOMPARE(wizard->findChild<QLineEdit*>("channels")->text(), QString("8,32,64"));  // kept on Back/Next
        // The same for the number boxes on the parameters page.
        auto* latent = wizard->findChild<QSpinBox*>("latent");
        latent->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(latent));
        QTest::keyClick(w.windowHandle(), Qt::Key_A, Qt::ControlModifier);
        typeSlowly(&w, "24");
        QTest::keyClick(w.windowHandle(), Qt::Key_Tab);
        QCOMPARE(latent->value(), 24);
        wizard->reject();
    }

    void trainingWizardTrainsATinyModelIntoThePickers() {
        QDir(ms::ui::userModelDirectory()).removeRecursively();
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        w.tabs()->setCurrentWidget(wizard);  // what a user watches while it trains
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QTest::qWait(200);
        QVERIFY(w.noiseLab()->denoiserPicker()->findText("tiny-vae") < 0);
        wizard->restart();
        wizard->useDemoData(QDir::temp().filePath("ms_test_wizard_train.h5"), 80, 32);
        wizard->next();
        wizard->findChild<QLineEdit*>("modelName")->setText("tiny-vae");
        wizard->next();
        // Small, but seconds of real training: long enough to measure the UI's latency.
        wizard->findChild<QSpinBox*>("epochs")->setValue(5);
        wizard->findChild<QSpinBox*>("batch")->setValue(8);
        wizard->findChild<QSpinBox*>("latent")->setValue(8);
        wizard->findChild<QSpinBox*>("hidden")->setValue(128);
        wizard->findChild<QLineEdit*>("channels")->setText("16,32");
        QSignalSpy finished(wizard->job(), &ms::ui::TrainingJob::finished);
        QSignalSpy trained(wizard, &ms::ui::TrainingWizard::modelTrained);
        LatencyProbe probe;
        probe.start();
        wizard->next();  // Train: the training page starts the job
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::TrainPageId));
        QVERIFY(wizard->job()->running());
        // Pause from the page's button: the job holds; Resume goes on.
        auto* pause = wizard->findChild<QPushButton*>("pause");
        auto* resume = wizard->findChild<QPushButton*>("resume");
        QVERIFY(pause->isEnabled());
        QTest::mouseClick(pause, Qt::LeftButton);
        QVERIFY(wizard->job()->paused());
        QVERIFY(!pause->isEnabled());
        QVERIFY(resume->isEnabled());
        QTest::qWait(500);
        QCOMPARE(finished.count(), 0);  // held (at the first step at the latest)
        QTest::mouseClick(resume, Qt::LeftButton);
        QVERIFY(!wizard->job()->paused());
        QVERIFY(finished.wait(240000));
        probe.stop();
        qInfo("worst event-loop gap during training: %lld ms wall, %.1f ms of UI-thread work", probe.worstGap,
              probe.worstCpuGap);
        QVERIFY2(probe.worstCpuGap < 100, qPrintable(QString::number(probe.worstCpuGap)));
        QCOMPARE(finished.first().at(0).value<ms::ui::TrainingJob::Outcome>(), ms::ui::TrainingJob::Outcome::Finished);
        QVERIFY(wizard->trainingSucceeded());
        QVERIFY(wizard->currentPage()->isComplete());
        QCOMPARE(wizard->findChild<QProgressBar*>("trainingProgress")->value(), 1000);
        // Live curves: a train point per step or so, a validation point per epoch.
        QVERIFY2(wizard->trainSeries()->count() >= 6, qPrintable(QString::number(wizard->trainSeries()->count())));
        QCOMPARE(wizard->validationSeries()->count(), 5);
        QCOMPARE(int(wizard->job()->epochTrainLosses().size()), 5);
        // The model is in the user's model directory, announced, and in the noise lab's picker.
        const QString model = QDir(ms::ui::userModelDirectory()).filePath("tiny-vae.pt");
        QCOMPARE(trained.count(), 1);
        QCOMPARE(trained.first().at(0).toString(), model);
        QVERIFY(QFile::exists(model));
        const auto vae = ms::ml::Vae2d::load(model.toStdString());
        QCOMPARE(vae.config().size, 32);
        QCOMPARE(vae.config().latent, 8);
        QVERIFY(!QFile::exists(wizard->job()->settings().checkpointPath("vae")));  // finished: no checkpoint left
        auto* picker = w.noiseLab()->denoiserPicker();
        const int index = picker->findText("tiny-vae");
        QVERIFY(index > 0);
        // Picking it puts its column in the lab.
        w.noiseLab()->setSample(ms::syntheticMicrostructure(ms::Dims{32, 32, 1}), "small");
        w.noiseLab()->setLearnedDenoiser({}, QString());
        picker->setCurrentIndex(index);
        w.noiseLab()->waitForPreview();
        QCOMPARE(w.noiseLab()->metricsTable()->columnCount(), 3);
        // Done: back to the first page; the same name is now taken.
        wizard->next();
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::FinishPageId));
        QVERIFY(wizard->findChild<QLabel*>("summary")->text().contains("tiny-vae"));
        wizard->accept();
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::DataPageId));
        wizard->next();
        wizard->findChild<QLineEdit*>("modelName")->setText("tiny-vae");
        QVERIFY(!wizard->currentPage()->isComplete());
        QVERIFY(wizard->findChild<QLabel*>("nameNote")->text().contains("exists"));
        // The new VAE is offered for a 2D LDM on these data; a short LDM training over its latents.
        wizard->findChild<QRadioButton*>("kindLdm")->setChecked(true);
        auto* vaes = wizard->findChild<QComboBox*>("vaePicker");
        const int vaeIndex = vaes->findText("tiny-vae");
        QVERIFY(vaeIndex >= 0);
        vaes->setCurrentIndex(vaeIndex);
        wizard->findChild<QLineEdit*>("modelName")->setText("tiny-ldm");
        QVERIFY(wizard->currentPage()->isComplete());
        wizard->next();
        QCOMPARE(wizard->findChild<QSpinBox*>("epochs")->value(), 50);  // the LDM's default
        wizard->findChild<QSpinBox*>("epochs")->setValue(2);
        wizard->findChild<QSpinBox*>("ldmHidden")->setValue(32);
        wizard->findChild<QSpinBox*>("diffusionSteps")->setValue(100);
        QSignalSpy ldmDone(wizard->job(), &ms::ui::TrainingJob::finished);
        wizard->next();
        QVERIFY(ldmDone.wait(240000));
        QVERIFY2(ldmDone.first().at(0).value<ms::ui::TrainingJob::Outcome>() == ms::ui::TrainingJob::Outcome::Finished,
                 qPrintable(ldmDone.first().at(1).toString()));
        const auto ldm = ms::ml::readMetadata(QDir(ms::ui::userModelDirectory()).filePath("tiny-ldm.pt").toStdString());
        QCOMPARE(ldm.kind, std::string("ldm2d"));
        QCOMPARE(ms::stringOr(ldm.training, "vae", ""), std::string("tiny-vae"));
        QCOMPARE(wizard->validationSeries()->count(), 2);
    }

    // Issue 22.7: Open, Save As and the noise lab's open list every format
    // io reads and writes (io::volumeFileFilter), .tif, .npy and .dream3d among them.
    void fileDialogsListEveryFormat() {
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "test");
        w.tabs()->setCurrentWidget(w.noiseLab());
        w.resize(1024, 700);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QStringList seen;
        const auto record = [&seen](QWidget* modal) {
            auto* dialog = qobject_cast<QFileDialog*>(modal);
            if (!dialog) return false;
            seen << dialog->windowTitle() + ": " + dialog->nameFilters().join(";;");
            dialog->reject();
            return true;
        };
        {
            const auto answering = answerModal(record);
            w.openDialog();
        }
        {
            const auto answering = answerModal(record);
            w.saveAsDialog();
        }
        QPushButton* openSample = nullptr;
        for (auto* b : w.noiseLab()->findChildren<QPushButton*>())
            if (b->text().startsWith("Open sample")) openSample = b;
        QVERIFY(openSample && openSample->isVisible());
        {
            const auto answering = answerModal(record);
            QTest::mouseClick(openSample, Qt::LeftButton);
        }
        QCOMPARE(seen.size(), 3);
        for (const QString& filters : seen)
            QVERIFY2(filters.contains("*.tif *.tiff *.npy *.dream3d") && filters.contains("*.vti") &&
                         filters.contains("*.h5"),
                     qPrintable(filters));
        // And a DREAM.3D file opens in the studio as any other.
        const QString dream3d = QDir::temp().filePath("ms_test_gui_open.dream3d");
        ms::io::writeVolume(demoVolume(), dream3d.toStdString());
        QVERIFY(w.openFile(dream3d, true));
        QVERIFY(w.volume().sameLabels(demoVolume()));
        QFile::remove(dream3d);
        QFile::remove(QDir::temp().filePath("ms_test_gui_open.xdmf"));
    }

    // Issue 22.5: the data page's "from a volume file" source cuts a user's
    // own 300x300x50 volume (stride 32) into a dataset on a worker thread, and
    // a tiny 3D generator trains on it as on a built dataset.
    void trainingDataCutFromAVolumeFileTrainsAGenerator() {
        QDir(ms::ui::userModelDirectory()).removeRecursively();
        ms::SyntheticOptions o;
        o.seed = 33;
        o.wavelength = 8.0;
        ms::Volume scan = ms::syntheticMicrostructure(ms::Dims{300, 300, 50}, o);
        scan.clearField();
        const QString file = QDir::temp().filePath("ms_test_wizard_scan.tif");
        ms::io::writeVolume(scan, file.toStdString());
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        wizard->setErrorDialogs(false);
        wizard->restart();
        // At 1024x700 (another tab's minimum may make the window taller: the
        // wizard's own minimum must fit in what the window gives it at 700).
        w.tabs()->setCurrentWidget(wizard);
        w.resize(1024, 700);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        const int chrome = w.height() - wizard->height();
        QVERIFY2(wizard->minimumSize().height() + chrome <= 700 && wizard->minimumSize().width() <= 1024,
                 qPrintable(QString("wizard minimum %1x%2, window chrome %3")
                                .arg(wizard->minimumSize().width())
                                .arg(wizard->minimumSize().height())
                                .arg(chrome)));
        auto* fromVolume = wizard->findChild<QRadioButton*>("sourceVolume");
        auto* path = wizard->findChild<QLineEdit*>("volumeFile");
        auto* windowSize = wizard->findChild<QSpinBox*>("volumeWindow");
        auto* stride = wizard->findChild<QSpinBox*>("volumeStride");
        auto* depth = wizard->findChild<QSpinBox*>("volumeDepth");
        auto* build = wizard->findChild<QPushButton*>("buildDataset");
        auto* progress = wizard->findChild<QProgressBar*>("buildProgress");
        QVERIFY(fromVolume && path && windowSize && stride && depth && build && progress);
        QVERIFY(!path->isVisible());  // the simulator is the first source
        QTest::mouseClick(fromVolume, Qt::LeftButton);
        QVERIFY(fromVolume->isChecked());
        QVERIFY(path->isVisible());
        QVERIFY(!wizard->findChild<QSpinBox*>("buildGrid")->isVisible());
        // Every control of this source lies whole within the wizard, below 700 - chrome.
        for (QWidget* widget : std::initializer_list<QWidget*>{path, windowSize, stride, depth, build, progress}) {
            const QRect r(widget->mapTo(wizard, QPoint(0, 0)), widget->size());
            QVERIFY2(widget->isVisible() && wizard->rect().contains(r) && r.bottom() < 700 - chrome,
                     qPrintable(widget->objectName()));
        }
        w.grab().save(QDir::temp().filePath("ms_test_wizard_from_volume.png"));  // for a look
        // A person types the file name and the numbers.
        path->setFocus();
        QVERIFY(QTest::qWaitFor([path] { return QApplication::focusWidget() == path; }));
        typeSlowly(&w, file, 60);
        QCOMPARE(path->text(), file);
        QVERIFY(typeIntoBox(&w, windowSize, "400"));
        QVERIFY(typeIntoBox(&w, stride, "32"));
        QVERIFY(typeIntoBox(&w, depth, "16"));
        // A window larger than the volume: refused with the reason in the status line; nothing picked.
        QSignalSpy status(wizard, &ms::ui::TrainingWizard::statusMessage);
        QTest::mouseClick(build, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!wizard->buildingDataset(), 60000);
        QTRY_VERIFY(!status.isEmpty());
        QVERIFY2(
            status.last().at(0).toString().contains("window 400x400 is larger than the volume's x/y plane 300x300"),
            qPrintable(status.last().at(0).toString()));
        auto* train = wizard->findChild<QLineEdit*>("trainData");
        QVERIFY(train->text().isEmpty());
        QVERIFY(typeIntoBox(&w, windowSize, "64"));
        const ms::jobs::VolumeDatasetConfig c = wizard->volumeDatasetConfig();
        QCOMPARE(c.windowX, 64);
        QCOMPARE(c.windowY, 64);
        QCOMPARE(c.stride, 32);
        QCOMPARE(c.depth, 16);
        // Built on a worker thread with progress; then the train file is picked with its val.h5.
        QTest::mouseClick(build, Qt::LeftButton);
        QVERIFY(wizard->buildingDataset());
        QVERIFY(!wizard->currentPage()->isComplete());
        QTRY_VERIFY_WITH_TIMEOUT(train->text().endsWith("train.h5"), 240000);
        QCOMPARE(progress->value(), 1000);
        const QString val = wizard->findChild<QLineEdit*>("validationData")->text();
        QVERIFY(val.endsWith("val.h5"));
        // 3 strips of 100 in x: 2 x 8 training windows, 8 validation, 8 test, each 64x64x16.
        QCOMPARE(wizard->dataInfo().dims, (ms::Dims{64, 64, 16}));
        QCOMPARE(wizard->dataInfo().samples, 16L);
        QCOMPARE(int(ms::io::readSamples(val.toStdString()).size()), 8);
        const QString folder = QFileInfo(train->text()).absolutePath();
        QCOMPARE(int(ms::io::readSamples((folder + "/test.h5").toStdString()).size()), 8);
        const ms::Volume first = ms::io::readSamples(train->text().toStdString()).at(3);
        const int x0 = int(first.attributes.at("x0")), y0 = int(first.attributes.at("y0"));
        bool crop = true;
        for (int z = 0; z < 16; ++z)  // slice z of the window is slice floor((z + 0.5) * 50 / 16) of the scan
            for (int y = 0; y < 64; ++y)
                for (int x = 0; x < 64; ++x)
                    crop = crop && first.at(x, y, z) == scan.at(x0 + x, y0 + y, (2 * z + 1) * 50 / 32);
        QVERIFY(crop);
        QVERIFY(wizard->currentPage()->isComplete());
        // On to a tiny 3D generator, as with any dataset.
        wizard->next();
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::ModelPageId));
        QVERIFY(wizard->findChild<QRadioButton*>("kind3d")->isChecked());
        wizard->findChild<QLineEdit*>("modelName")->setText("scan-gen");
        wizard->next();
        wizard->findChild<QSpinBox*>("epochs")->setValue(1);
        wizard->findChild<QSpinBox*>("batch")->setValue(4);
        wizard->findChild<QLineEdit*>("channels3d")->setText("4,8");
        wizard->findChild<QSpinBox*>("unetFeatures")->setValue(8);
        QSignalSpy finished(wizard->job(), &ms::ui::TrainingJob::finished);
        wizard->next();
        QVERIFY(finished.wait(600000));
        QVERIFY2(finished.first().at(0).value<ms::ui::TrainingJob::Outcome>() == ms::ui::TrainingJob::Outcome::Finished,
                 qPrintable(finished.first().at(1).toString()));
        const auto model =
            ms::ml::Generator3D::load(QDir(ms::ui::userModelDirectory()).filePath("scan-gen").toStdString());
        QCOMPARE(model.config().vae.dims, (ms::Dims{64, 64, 16}));
        QVERIFY(w.design()->findChild<QComboBox*>("modelPicker")->findText("scan-gen") > 0);
        QDir(folder).removeRecursively();
        QFile::remove(file);
    }

    void trainingDataBuiltWithTheSimulator() {
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        wizard->setErrorDialogs(false);
        wizard->restart();
        wizard->findChild<QSpinBox*>("buildGrid")->setValue(2);
        wizard->findChild<QSpinBox*>("buildSnapshots")->setValue(4);
        wizard->findChild<QDoubleSpinBox*>("buildEndTime")->setValue(40);
        auto* train = wizard->findChild<QLineEdit*>("trainData");
        QTest::mouseClick(wizard->findChild<QPushButton*>("buildDataset"), Qt::LeftButton);
        QVERIFY(wizard->buildingDataset());
        QVERIFY(!wizard->currentPage()->isComplete());  // not while building
        QTRY_VERIFY_WITH_TIMEOUT(train->text().endsWith("train.h5"), 240000);
        // 4 runs of 4 snapshots, split by run into train.h5 and val.h5.
        QVERIFY(wizard->findChild<QLineEdit*>("validationData")->text().endsWith("val.h5"));
        QCOMPARE(wizard->dataInfo().dims, (ms::Dims{64, 64, 1}));
        QCOMPARE(wizard->dataInfo().phases, 2);
        const long total =
            wizard->dataInfo().samples +
            long(ms::io::readSamples(wizard->findChild<QLineEdit*>("validationData")->text().toStdString()).size());
        QCOMPARE(total, 16L);
        QVERIFY(wizard->currentPage()->isComplete());
        QDir(QFileInfo(train->text()).absolutePath()).removeRecursively();
    }

    void trainingDataBuiltWithThreePhases() {
        // The data page builds a 3-phase dataset for a 3-phase generator.
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        wizard->setErrorDialogs(false);
        wizard->restart();
        auto* phases = wizard->findChild<QComboBox*>("buildPhases");
        QVERIFY(phases);
        QCOMPARE(wizard->datasetConfig().phases, std::vector<int>{2});
        QVERIFY(wizard->datasetConfig().dims.is2D());
        phases->setCurrentIndex(phases->findData(3));
        // Three phases are for the 3D generator: the size follows.
        const ms::jobs::DatasetConfig c = wizard->datasetConfig();
        QCOMPARE(c.phases, std::vector<int>{3});
        QCOMPARE(c.dims, (ms::Dims{32, 32, 16}));
        QCOMPARE(c.descriptors, std::string("graspi"));
        wizard->findChild<QSpinBox*>("buildGrid")->setValue(2);
        wizard->findChild<QSpinBox*>("buildSnapshots")->setValue(3);
        wizard->findChild<QDoubleSpinBox*>("buildEndTime")->setValue(100);
        QCOMPARE(wizard->datasetConfig().phiCount, 2);
        QCOMPARE(wizard->datasetConfig().snapshots, 3);
        auto* train = wizard->findChild<QLineEdit*>("trainData");
        QTest::mouseClick(wizard->findChild<QPushButton*>("buildDataset"), Qt::LeftButton);
        QVERIFY(wizard->buildingDataset());
        QTRY_VERIFY_WITH_TIMEOUT(train->text().endsWith("train.h5"), 240000);
        QCOMPARE(wizard->dataInfo().dims, (ms::Dims{32, 32, 16}));
        QCOMPARE(wizard->dataInfo().phases, 3);  // even when the first snapshot is still uniform
        QVERIFY(wizard->findChild<QLabel*>("dataInfo")->text().contains("3 phases"));
        std::vector<ms::Volume> samples = ms::io::readSamples(train->text().toStdString());
        const auto val = ms::io::readSamples(wizard->findChild<QLineEdit*>("validationData")->text().toStdString());
        samples.insert(samples.end(), val.begin(), val.end());
        QCOMPARE(int(samples.size()), 4 * 3);
        QVERIFY(std::any_of(samples.begin(), samples.end(), [](const ms::Volume& v) { return v.phaseCount() == 3; }));
        for (const auto& v : samples) {
            QCOMPARE(ms::ui::datasetPhases(v), 3);
            for (const auto& name : ms::ml::threePhaseConditions()) QVERIFY2(v.attributes.count(name), name.c_str());
        }
        // The model page offers the 3D generator only.
        wizard->next();
        QCOMPARE(wizard->currentId(), int(ms::ui::TrainingWizard::ModelPageId));
        QVERIFY(wizard->findChild<QRadioButton*>("kind3d")->isChecked());
        QVERIFY(!wizard->findChild<QRadioButton*>("kindVae")->isEnabled());
        QDir(QFileInfo(train->text()).absolutePath()).removeRecursively();
    }

    void trainingPageCancelsAndResumesWithItsButtons() {
        QDir(ms::ui::userModelDirectory()).removeRecursively();
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        QSignalSpy finished(wizard->job(), &ms::ui::TrainingJob::finished);
        startDemoVaeTraining(wizard, "ms_test_wizard_cancel.h5", "cancelled-vae");
        auto* resume = wizard->findChild<QPushButton*>("resume");
        auto* cancel = wizard->findChild<QPushButton*>("cancelTraining");
        QTest::mouseClick(wizard->findChild<QPushButton*>("pause"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(wizard->job()->takeState().paused, 60000);  // held after its first step
        QVERIFY(cancel->isEnabled());
        QTest::mouseClick(cancel, Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.first().at(0).value<ms::ui::TrainingJob::Outcome>(), ms::ui::TrainingJob::Outcome::Cancelled);
        QVERIFY(!wizard->currentPage()->isComplete());
        QVERIFY(!cancel->isEnabled());
        QVERIFY(resume->isEnabled());  // a checkpoint is there
        QVERIFY(QFile::exists(wizard->job()->settings().checkpointPath("vae")));
        QVERIFY(wizard->findChild<QLabel*>("trainingStatus")->text().contains("checkpoint"));
        finished.clear();
        QTest::mouseClick(resume, Qt::LeftButton);
        QVERIFY(finished.wait(240000));
        QCOMPARE(finished.first().at(0).value<ms::ui::TrainingJob::Outcome>(), ms::ui::TrainingJob::Outcome::Finished);
        QVERIFY(wizard->currentPage()->isComplete());
        QCOMPARE(wizard->validationSeries()->count(), 4);
        // The curve covers every epoch, from the first steps to the last.
        QVERIFY(wizard->trainSeries()->count() >= 4);
        QVERIFY(wizard->trainSeries()->at(0).x() <= 1.0);
        QCOMPARE(wizard->trainSeries()->at(wizard->trainSeries()->count() - 1).x(), 4.0);
        QVERIFY(QFile::exists(QDir(ms::ui::userModelDirectory()).filePath("cancelled-vae.pt")));
    }

    void trainingCancelLeavesACheckpointThatResumeContinues() {
        const QString root = QDir::temp().filePath("ms_test_training_resume");
        ms::ui::MainWindow w;
        ms::ui::TrainingSettings s = tinyVaeTraining(w, root);
        QVERIFY(trainStraight(s));  // the reference, straight through
        // Paused before its first step is over, then cancelled: a checkpoint, no model.
        ms::ui::TrainingJob job;
        s.name = "resumed";
        QSignalSpy done(&job, &ms::ui::TrainingJob::finished);
        QVERIFY(job.start(s));
        job.pause();
        QTRY_VERIFY_WITH_TIMEOUT(job.takeState().paused, 60000);
        const long heldAt = job.takeState().step;
        QTest::qWait(400);
        QCOMPARE(job.takeState().step, heldAt);  // paused: no step taken
        QVERIFY(heldAt >= 1);
        job.cancel();
        QVERIFY(done.wait(60000));
        QCOMPARE(done.first().at(0).value<ms::ui::TrainingJob::Outcome>(), ms::ui::TrainingJob::Outcome::Cancelled);
        QVERIFY(QFile::exists(s.checkpointPath("vae")));
        QVERIFY(!QFile::exists(s.modelPath()));
        // Resume continues from the checkpoint: the same weights as the straight run.
        done.clear();
        QVERIFY(job.start(s, true));
        QVERIFY(done.wait(240000));
        QCOMPARE(done.first().at(0).value<ms::ui::TrainingJob::Outcome>(), ms::ui::TrainingJob::Outcome::Finished);
        QCOMPARE(int(job.epochValidationLosses().size()), 3);
        const auto a = ms::ml::Vae2d::load((root + "/models/straight.pt").toStdString()).flatParameters();
        const auto b = ms::ml::Vae2d::load((root + "/models/resumed.pt").toStdString()).flatParameters();
        QCOMPARE(a.size(), b.size());
        QVERIFY(a == b);
        QVERIFY(!QFile::exists(s.checkpointPath("vae")));
        // A fresh start (resume = false) ignores and removes an old checkpoint.
        QVERIFY(QFile::copy(root + "/models/resumed.pt", s.checkpointPath("vae")));
        s.name = "resumed";
        done.clear();
        QDir(root + "/models").remove("resumed.pt");
        QVERIFY(job.start(s, false));
        QVERIFY(done.wait(240000));
        QCOMPARE(done.first().at(0).value<ms::ui::TrainingJob::Outcome>(), ms::ui::TrainingJob::Outcome::Finished);
    }

    // The training runs in the ML worker: kill -9 of it mid-training ends the
    // job with one clear error, keeps the last checkpoint, and Resume (a fresh
    // worker) finishes with the same weights as a run never interrupted.
    void trainingSurvivesTheWorkersDeathAndResumes() {
        const QString root = QDir::temp().filePath("ms_test_training_killed");
        ms::ui::MainWindow w;
        ms::ui::TrainingSettings s = tinyVaeTraining(w, root);
        s.epochs = 12;              // 60 steps: the pause lands well before the end
        QVERIFY(trainStraight(s));  // the reference, straight through

        ms::ui::TrainingJob job;
        s.name = "killed";
        QSignalSpy done(&job, &ms::ui::TrainingJob::finished);
        // Held as soon as its first epoch is reported (that epoch's end wrote a
        // checkpoint), from the event itself rather than a later poll; then killed.
        const auto holdAfterEpoch1 = QObject::connect(&job, &ms::ui::TrainingJob::progressed, &job, [&job] {
            if (!job.paused() && !job.epochValidationLosses().isEmpty()) job.pause();
        });
        QVERIFY(job.start(s));
        QTRY_VERIFY_WITH_TIMEOUT(job.takeState().paused, 120000);
        QObject::disconnect(holdAfterEpoch1);
        QVERIFY(done.isEmpty());
        const qint64 worker = job.mlWorker().processId();
        QVERIFY(worker > 0);
        // A training's torch threads spin briefly between operations (1.7x
        // faster than passive waiting for the wizard's 3D generator).
        if (qEnvironmentVariableIsEmpty("OMP_WAIT_POLICY") && qEnvironmentVariableIsEmpty("GOMP_SPINCOUNT")) {
            QCOMPARE(environmentOf(worker, "GOMP_SPINCOUNT"), std::string("100000"));
            QCOMPARE(environmentOf(worker, "OMP_WAIT_POLICY"), std::string());
        }
        QCOMPARE(::kill(pid_t(worker), SIGKILL), 0);
        QVERIFY(done.wait(60000));
        QCOMPARE(done.size(), 1);  // one end, one message
        QCOMPARE(done.first().at(0).value<ms::ui::TrainingJob::Outcome>(), ms::ui::TrainingJob::Outcome::Failed);
        const QString message = done.first().at(1).toString();
        QVERIFY2(message.contains("the ML worker stopped") && message.contains("crashed or was killed"),
                 qPrintable(message));
        QVERIFY(!job.running());
        QVERIFY(QFile::exists(s.checkpointPath("vae")));
        QVERIFY(!QFile::exists(s.modelPath()));

        done.clear();
        QVERIFY(job.start(s, true));
        QVERIFY(done.wait(240000));
        QVERIFY2(done.first().at(0).value<ms::ui::TrainingJob::Outcome>() == ms::ui::TrainingJob::Outcome::Finished,
                 qPrintable(done.first().at(1).toString()));
        QVERIFY(job.mlWorker().processId() != worker);  // a fresh worker
        const auto a = ms::ml::Vae2d::load((root + "/models/straight.pt").toStdString()).flatParameters();
        const auto b = ms::ml::Vae2d::load((root + "/models/killed.pt").toStdString()).flatParameters();
        QCOMPARE(a.size(), b.size());
        QVERIFY(a == b);
        QVERIFY(!QFile::exists(s.checkpointPath("vae")));
    }

    void trainingA3dGeneratorPutsItInTheDesignPicker() {
        QDir(ms::ui::userModelDirectory()).removeRecursively();
        std::vector<ms::Volume> volumes;
        for (int i = 0; i < 10; ++i) {
            ms::SyntheticOptions o;
            o.seed = std::uint64_t(50 + i);
            o.wavelength = 5.0;
            o.donorFraction = 0.4 + 0.02 * i;
            volumes.push_back(ms::syntheticMicrostructure(ms::Dims{16, 16, 8}, o));
        }
        const QString data = QDir::temp().filePath("ms_test_wizard_3d.h5");
        ms::io::writeHdf5(volumes, data.toStdString());
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        auto* picker = w.design()->findChild<QComboBox*>("modelPicker");
        QVERIFY(picker->findText("tiny-gen") < 0);
        wizard->restart();
        wizard->findChild<QLineEdit*>("trainData")->setText(data);
        wizard->next();
        QVERIFY(!wizard->findChild<QRadioButton*>("kindVae")->isEnabled());
        QVERIFY(wizard->findChild<QRadioButton*>("kind3d")->isChecked());
        wizard->findChild<QLineEdit*>("modelName")->setText("tiny-gen");
        wizard->next();
        QCOMPARE(wizard->findChild<QSpinBox*>("epochs")->value(), 3);
        wizard->findChild<QSpinBox*>("epochs")->setValue(1);
        wizard->findChild<QSpinBox*>("batch")->setValue(4);
        wizard->findChild<QLineEdit*>("channels3d")->setText("4,8");
        wizard->findChild<QSpinBox*>("unetFeatures")->setValue(8);
        QSignalSpy finished(wizard->job(), &ms::ui::TrainingJob::finished);
        wizard->next();
        QVERIFY(finished.wait(240000));
        QVERIFY2(finished.first().at(0).value<ms::ui::TrainingJob::Outcome>() == ms::ui::TrainingJob::Outcome::Finished,
                 qPrintable(finished.first().at(1).toString()));
        // Three stages, each with its epoch's validation loss; the Design tab lists and loads it.
        QCOMPARE(int(wizard->job()->epochValidationLosses().size()), 1);  // the last stage's
        const QString folder = QDir(ms::ui::userModelDirectory()).filePath("tiny-gen");
        QVERIFY(QFile::exists(folder + "/generator3d.pt"));
        const int index = picker->findText("tiny-gen");
        QVERIFY(index > 0);
        QVERIFY(w.design()->loadModel(picker->itemData(index).toString(), true));
        QVERIFY(w.design()->hasModel());
        QCOMPARE(int(w.design()->request().target.count("ABS_f_D")), 1);
    }

    // One training pipeline (ml/train3d.hpp): the studio's job and `train3d`
    // given the same settings write the same model description, the same
    // architecture and the same training record, losses included (only the
    // wall times differ).
    void trainingJobAndCliRecordTheSameGenerator() {
        std::vector<ms::Volume> volumes;
        for (int i = 0; i < 14; ++i) {
            ms::SyntheticOptions o;
            o.seed = std::uint64_t(70 + i);
            o.wavelength = 5.0;
            o.donorFraction = 0.38 + 0.02 * i;
            volumes.push_back(ms::syntheticMicrostructure(ms::Dims{16, 16, 8}, o));
        }
        const QDir root(QDir::temp().filePath("ms_test_one_pipeline"));
        QDir(root).removeRecursively();
        QVERIFY(QDir().mkpath(root.path()));
        const QString train = root.filePath("train.h5"), val = root.filePath("val.h5");
        ms::io::writeHdf5({volumes.begin(), volumes.begin() + 10}, train.toStdString());
        ms::io::writeHdf5({volumes.begin() + 10, volumes.end()}, val.toStdString());

        ms::ui::TrainingSettings s;
        s.kind = ms::ui::TrainingKind::Generator3d;
        s.trainData = train;
        s.validationData = val;
        s.name = "same-gen";
        s.outputDir = root.filePath("studio");
        s.checkpointDir = root.filePath("studio-checkpoints");
        s.epochs = 1;
        s.batch = 4;
        s.learningRate = 1e-3;
        s.threads = 1;
        s.channels3d = "4,8";
        s.latentChannels = 2;
        s.unetFeatures = 8;
        ms::ui::TrainingJob job;
        QSignalSpy finished(&job, &ms::ui::TrainingJob::finished);
        QVERIFY(job.start(s));
        QVERIFY(finished.wait(300000));
        QVERIFY2(finished.first().at(0).value<ms::ui::TrainingJob::Outcome>() == ms::ui::TrainingJob::Outcome::Finished,
                 qPrintable(finished.first().at(1).toString()));

        // The same settings as flags (16x16x8 takes first stride 1; the data
        // carry no processing parameters, so the outputs are the conditions).
        const QString cliModel = root.filePath("cli/same-gen");
        QProcess cli;
        cli.start(MICROSTUDIO_CLI, {"train3d",
                                    "--data",
                                    train,
                                    "--val",
                                    val,
                                    "--out",
                                    cliModel,
                                    "--config",
                                    "tiny",
                                    "--phases",
                                    "2",
                                    "--dims",
                                    "16x16x8",
                                    "--channels",
                                    "4,8",
                                    "--latent-channels",
                                    "2",
                                    "--features",
                                    "8",
                                    "--first-stride",
                                    "1",
                                    "--outputs",
                                    "ABS_f_D,CT_f_D_tort1,CT_f_A_tort1",
                                    "--describe",
                                    "--epochs",
                                    "1",
                                    "--batch",
                                    "4",
                                    "--lr",
                                    "1e-3",
                                    "--seed",
                                    "0",
                                    "--threads",
                                    "1",
                                    "--checkpoint-every",
                                    "50"});
        QVERIFY(cli.waitForFinished(300000));
        QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());

        auto recorded = [](const QString& folder) {
            const auto model = ms::ml::Generator3D::load(folder.toStdString());
            ms::Json training = model.metadata().training;
            for (const auto& stage : ms::ml::generator3dStages()) {
                training[stage].erase("seconds_last_run");
                training[stage].erase("seconds_per_step");
            }
            return std::make_tuple(model.metadata().name, model.metadata().description, model.config().toJson().dump(),
                                   training);
        };
        const auto [studioName, studioText, studioConfig, studioTraining] = recorded(root.filePath("studio/same-gen"));
        const auto [cliName, cliText, cliConfig, cliTraining] = recorded(cliModel);
        QCOMPARE(studioName, cliName);
        QCOMPARE(studioText, cliText);
        QCOMPARE(studioConfig, cliConfig);
        QVERIFY2(studioTraining == cliTraining,
                 qPrintable(QString::fromStdString(studioTraining.dump(1) + "\n--- CLI:\n" + cliTraining.dump(1))));
        // What the old studio job left out, now recorded by both.
        QCOMPARE(ms::numberOr(studioTraining, "min_phase_fraction", -1.0), 0.0);
        QVERIFY(studioTraining.contains("choices"));
        QDir(root).removeRecursively();
    }

    // The studio's job and the CLI given the same settings (a training limit,
    // whose validation share is a quarter of it, and a seed other than 0)
    // record the same model, field by field: a 2D denoising VAE (`train
    // vae2d`), a 2D LDM over it (`train ldm2d`) and a 3D generator
    // (`train3d`): architecture, normalisation, data hash, per-stage options,
    // choices and losses (only the wall times differ).
    void trainingJobAndCliRecordTheSameVaeAndLimitedGenerator() {
        const QDir root(QDir::temp().filePath("ms_test_same_runs"));
        QDir(root).removeRecursively();
        QVERIFY(QDir().mkpath(root.path()));
        // Without the wall times, which differ between any two runs.
        const std::function<void(ms::Json&)> withoutTimes = [&withoutTimes](ms::Json& j) {
            if (!j.is_object()) return;
            for (const char* key : {"created", "seconds_last_run", "seconds_per_step"}) j.erase(key);
            for (auto& item : j.items()) withoutTimes(item.value());
        };
        const auto sameRecord = [&](ms::Json studio, ms::Json cli) {
            withoutTimes(studio);
            withoutTimes(cli);
            for (const char* field : {"kind", "name", "architecture", "attributes", "attribute_normalisation",
                                      "data_hash", "description", "weights_precision"})
                QVERIFY2(studio[field] == cli[field], qPrintable(QString("%1: studio %2, CLI %3")
                                                                     .arg(field)
                                                                     .arg(QString::fromStdString(studio[field].dump()))
                                                                     .arg(QString::fromStdString(cli[field].dump()))));
            QVERIFY2(studio == cli, qPrintable(QString::fromStdString(ms::Json::diff(studio, cli).dump(1))));
        };
        // A command's own flags, then the job's training settings below as flags.
        const auto flags = [](const QString& own) {
            return (own +
                    " --epochs 1 --batch 4 --lr 2e-3 --seed 3 --threads 1 --checkpoint-every 50 --limit 8 "
                    "--val-limit 2")
                .split(' ');
        };
        const auto runCli = [](const QStringList& args) {
            QProcess cli;
            cli.start(MICROSTUDIO_CLI, args);
            if (!cli.waitForFinished(120000)) return QByteArray("did not finish");
            return cli.exitCode() == 0 ? QByteArray() : cli.readAllStandardError();
        };
        const auto trainInStudio = [](const ms::ui::TrainingSettings& s) {
            ms::ui::TrainingJob job;
            QSignalSpy finished(&job, &ms::ui::TrainingJob::finished);
            if (!job.start(s) || !finished.wait(120000)) return QString("did not finish");
            return finished.first().at(0).value<ms::ui::TrainingJob::Outcome>() ==
                           ms::ui::TrainingJob::Outcome::Finished
                       ? QString()
                       : finished.first().at(1).toString();
        };
        ms::ui::TrainingSettings s;
        s.outputDir = root.filePath("studio");
        s.checkpointDir = root.filePath("studio-checkpoints");
        s.epochs = 1;
        s.batch = 4;
        s.learningRate = 2e-3;
        s.seed = 3;
        s.threads = 1;
        s.limit = 8;  // validation: 2

        // 14 synthetic structures of rising donor fraction: 10 to NAME-train.h5, 4 to NAME-val.h5.
        auto writeSplits = [&root](const QString& name, ms::Dims dims, std::uint64_t seed, double wavelength,
                                   double donorFraction) {
            std::vector<ms::Volume> volumes;
            for (int i = 0; i < 14; ++i) {
                ms::SyntheticOptions o;
                o.seed = seed + std::uint64_t(i);
                o.wavelength = wavelength;
                o.donorFraction = donorFraction + 0.02 * i;
                volumes.push_back(ms::syntheticMicrostructure(dims, o));
            }
            const QStringList paths{root.filePath(name + "-train.h5"), root.filePath(name + "-val.h5")};
            ms::io::writeHdf5({volumes.begin(), volumes.begin() + 10}, paths[0].toStdString());
            ms::io::writeHdf5({volumes.begin() + 10, volumes.end()}, paths[1].toStdString());
            return paths;
        };

        // The 2D VAE on 32 x 32 images.
        const QStringList splits2d = writeSplits("images", ms::Dims{32, 32, 1}, 90, 6.0, 0.35);
        const QString &train2d = splits2d[0], &val2d = splits2d[1];
        s.kind = ms::ui::TrainingKind::DenoisingVae2d;
        s.trainData = train2d;
        s.validationData = val2d;
        s.name = "same-vae";
        s.latent = 8;
        s.hidden = 32;
        s.channels = "8, 16";
        s.beta = 0.5;
        const QString studioVaeMessage = trainInStudio(s);
        QVERIFY2(studioVaeMessage.isEmpty(), qPrintable(studioVaeMessage));
        const QString cliVae = root.filePath("cli/same-vae.pt");
        const QByteArray cliVaeError =
            runCli(QStringList{"train", "vae2d", "--data", train2d, "--val", val2d, "--out", cliVae} +
                   flags("--latent 8 --hidden 32 --channels 8,16 --beta 0.5"));
        QVERIFY2(cliVaeError.isEmpty(), cliVaeError.constData());
        const ms::Json studioVae = ms::ml::readMetadata(s.modelPath().toStdString()).toJson(),
                       cliVaeRecord = ms::ml::readMetadata(cliVae.toStdString()).toJson();
        const ms::Json& vaeTraining = studioVae.at("training");
        QCOMPARE(ms::numberOr(vaeTraining, "seed", -1.0), 3.0);
        QCOMPARE(ms::numberOr(vaeTraining, "train_samples", 0.0), 8.0);
        QCOMPARE(ms::numberOr(vaeTraining, "validation_samples", 0.0), 2.0);
        QVERIFY(studioVae.at("architecture").at("kernels") == ms::Json::array({4, 4}));  // the paper's for 2 layers
        sameRecord(studioVae, cliVaeRecord);
        if (QTest::currentTestFailed()) return;

        // A 2D LDM over that VAE's latents, conditioned on vf.
        s.kind = ms::ui::TrainingKind::Ldm2d;
        s.name = "same-ldm";
        s.vae = s.modelPath().replace("same-ldm", "same-vae");
        s.ldmHidden = 16;
        s.ldmBlocks = 1;
        s.diffusionSteps = 10;
        s.conditions = "vf";
        const QString studioLdmMessage = trainInStudio(s);
        QVERIFY2(studioLdmMessage.isEmpty(), qPrintable(studioLdmMessage));
        const QString cliLdm = root.filePath("cli/same-ldm.pt");
        const QByteArray cliLdmError =
            runCli(QStringList{"train", "ldm2d", "--vae", s.vae, "--data", train2d, "--val", val2d, "--out", cliLdm} +
                   flags("--conditions vf --hidden 16 --blocks 1 --steps 10"));
        QVERIFY2(cliLdmError.isEmpty(), cliLdmError.constData());
        sameRecord(ms::ml::readMetadata(s.modelPath().toStdString()).toJson(),
                   ms::ml::readMetadata(cliLdm.toStdString()).toJson());
        if (QTest::currentTestFailed()) return;

        // The 3D generator on 16 x 16 x 8 volumes (first stride 1; the data
        // carry no processing parameters, so the outputs are the conditions).
        const QStringList splits3d = writeSplits("volumes", ms::Dims{16, 16, 8}, 110, 5.0, 0.38);
        const QString &train3d = splits3d[0], &val3d = splits3d[1];
        s.kind = ms::ui::TrainingKind::Generator3d;
        s.trainData = train3d;
        s.validationData = val3d;
        s.name = "same-gen";
        s.channels3d = "4,8";
        s.latentChannels = 2;
        s.unetFeatures = 8;
        const QString studioGenMessage = trainInStudio(s);
        QVERIFY2(studioGenMessage.isEmpty(), qPrintable(studioGenMessage));
        const QString cliGen = root.filePath("cli/same-gen");
        const QByteArray cliGenError =
            runCli(QStringList{"train3d", "--data", train3d, "--val", val3d, "--out", cliGen} +
                   flags("--config tiny --phases 2 --dims 16x16x8 --channels 4,8 --latent-channels 2 --features 8 "
                         "--first-stride 1 --outputs ABS_f_D,CT_f_D_tort1,CT_f_A_tort1 --describe"));
        QVERIFY2(cliGenError.isEmpty(), cliGenError.constData());
        const ms::Json studioGen = ms::readJsonFile((s.modelPath() + "/generator3d.json").toStdString()),
                       cliGenRecord = ms::readJsonFile((cliGen + "/generator3d.json").toStdString());
        for (const auto& stage : ms::ml::generator3dStages()) {
            const ms::Json& record = studioGen.at("training").at(stage);
            QCOMPARE(ms::numberOr(record.at("options"), "learning_rate", 0.0), 2e-3);
            QCOMPARE(ms::numberOr(record.at("options"), "checkpoint_every", 0.0), 50.0);
            QCOMPARE(ms::numberOr(record, "samples", 0.0), 8.0);
        }
        QCOMPARE(int(studioGen.at("attribute_normalisation").at("mean").size()), 3);
        sameRecord(studioGen, cliGenRecord);
        QDir(root).removeRecursively();
    }

    void trainingOnTheThreePhaseDataset() {
        // A tiny Cahn-Hilliard dataset thresholded both ways (as `microstudio-cli
        // dataset build --phases 2,3` writes it), each trained through the
        // wizard's job: the 3-phase data give a 3-phase generator on the
        // three-phase conditions, the 2-phase ones (which carry vol_frac_M = 0
        // among their descriptors) a 2-phase one.
        const QString root = QDir::temp().filePath("ms_test_training_ch3d");
        QDir(root).removeRecursively();
        ms::jobs::DatasetConfig c;
        c.dims = ms::Dims{16, 16, 8};
        c.sampling = "lhs";
        c.runs = 3;
        c.endTime = 300;
        c.snapshots = 20;
        c.keepSnapshots = 4;
        c.phases = {2, 3};
        c.descriptors = "graspi";
        c.validationFraction = 0.2;
        ms::jobs::BuildOptions o;
        o.threads = 1;
        const auto report = ms::jobs::buildDataset(c, (root + "/data").toStdString(), o);
        QVERIFY(report.merged);
        QCOMPARE(report.runsWithoutOnset, 0);
        for (const int phases : {3, 2}) {
            const QString data =
                QString::fromStdString(ms::jobs::mergedFolder(c, (root + "/data").toStdString(), phases).string());
            const auto samples = ms::io::readSamples((data + "/train.h5").toStdString());
            QVERIFY(!samples.empty());
            QCOMPARE(
                std::any_of(samples.begin(), samples.end(), [](const ms::Volume& v) { return v.phaseCount() == 3; }),
                phases == 3);
            ms::ui::TrainingSettings s;
            s.kind = ms::ui::TrainingKind::Generator3d;
            s.trainData = data + "/train.h5";
            s.validationData = data + "/val.h5";
            s.name = QString("ch3d-tiny-%1").arg(phases);
            s.outputDir = root + "/models";
            s.checkpointDir = root + "/checkpoints";
            s.epochs = 1;
            s.batch = 4;
            s.channels3d = "4,8";
            s.unetFeatures = 8;
            ms::ui::TrainingJob job;
            QSignalSpy done(&job, &ms::ui::TrainingJob::finished);
            QVERIFY(job.start(s));
            QVERIFY(done.wait(600000));
            QVERIFY2(done.first().at(0).value<ms::ui::TrainingJob::Outcome>() == ms::ui::TrainingJob::Outcome::Finished,
                     qPrintable(done.first().at(1).toString()));
            const auto model = ms::ml::Generator3D::load(s.modelPath().toStdString());
            QCOMPARE(model.config().vae.phases, phases);
            QCOMPARE(model.config().vae.dims, c.dims);
            QCOMPARE(model.conditionNames(),
                     phases == 3 ? ms::ml::threePhaseConditions() : ms::ml::twoPhaseConditions());
            QVERIFY(!model.trainingConditions().empty());  // the feasibility cloud
            if (phases == 3) {
                // The Design tab loads it with its four sliders.
                ms::ui::DesignPanel design;
                QVERIFY(design.loadModel(s.modelPath(), true));
                QCOMPARE(int(design.request().target.size()), 4);
                QVERIFY(design.request().target.count("vol_frac_M"));
            }
        }
        QDir(root).removeRecursively();
    }

    // Issue 26.9: the gallery clipped its thumbnails (about 67 of 96 px) and
    // hid the #1..#4 labels until an unmarked splitter was dragged; samples
    // came all at once at the end, with no time left shown.
    void designGalleryFillsSampleBySampleWithWholeThumbnails() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_gallery", 2);
        // The library hands each sample over once it is final: the volumes
        // generate() returns, plain and screened.
        {
            const auto model = ms::ml::Generator3D::load(folder.toStdString());
            for (int candidates : {1, 2}) {
                ms::ml::GenerateOptions o;
                o.steps = 2;
                o.candidates = candidates;
                o.batch = 2;
                o.seed = 5;
                std::vector<std::pair<std::size_t, ms::Volume>> handed;
                o.onSample = [&](std::size_t i, const ms::Volume& v) { handed.emplace_back(i, v); };
                const auto volumes = model.generate({{"ABS_f_D", 0.5}}, 3, o);
                QCOMPARE(handed.size(), std::size_t(3));
                std::set<std::size_t> indices;
                for (const auto& [i, v] : handed) {
                    indices.insert(i);
                    QVERIFY(i < volumes.size() && v.sameLabels(volumes[i]));
                    QVERIFY(v.attributes == volumes[i].attributes);
                }
                QCOMPARE(indices.size(), std::size_t(3));
            }
        }
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        // Plain sampling denoises 4 samples per batch (4-6x cheaper per sample
        // than one at a time on 2 cores): 6 samples show as 4, then 6.
        // Screened generation shows each sample alone (its draws are one batch).
        setPlainSampling(design, 6);
        auto* sampler = design->findChild<QComboBox*>("sampler");
        sampler->setCurrentIndex(sampler->findData("ddpm"));  // every timestep: long enough to watch
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        QTest::mouseClick(design->findChild<QPushButton*>("generate"), Qt::LeftButton);
        int shownWhileRunning = 0;
        QString eta;
        QElapsedTimer clock;
        clock.start();
        while (done.isEmpty() && clock.elapsed() < 240000) {
            QTest::qWait(20);
            if (!design->busy()) continue;
            // Final samples only (denoising previews are greyed, not selectable).
            int finals = 0;
            for (int i = 0; i < design->gallery()->count(); ++i)
                finals += (design->gallery()->item(i)->flags() & Qt::ItemIsSelectable) ? 1 : 0;
            shownWhileRunning = std::max(shownWhileRunning, finals);
            if (design->progressBar()->text().contains("left")) eta = design->progressBar()->text();
        }
        QVERIFY(!done.isEmpty());
        QCOMPARE(done.first().at(0).toInt(), 6);
        qInfo("gallery while generating: up to %d of 6 samples; progress '%s'; %.1f s", shownWhileRunning,
              qPrintable(eta), clock.elapsed() / 1000.0);
        QVERIFY2(shownWhileRunning >= 4, qPrintable(QString::number(shownWhileRunning)));
        QVERIFY2(eta.contains(QRegularExpression("about \\d+ (s|min) left")), qPrintable(eta));
        QCOMPARE(design->gallery()->count(), 6);
        for (int i = 0; i < 6; ++i) QCOMPARE(design->gallery()->item(i)->text(), QString("#%1").arg(i + 1));
        // Whole thumbnails with their labels, by default, at both sizes.
        for (const QSize size : {QSize(1024, 700), QSize(1600, 1000)}) {
            w.resize(size);
            QTest::qWait(300);
            QCOMPARE(w.size(), size);
            auto* gallery = design->gallery();
            const QRect shown = gallery->viewport()->rect();
            const int labelled = gallery->iconSize().height() + gallery->fontMetrics().height();
            QCOMPARE(gallery->iconSize(), QSize(96, 96));
            for (int i = 0; i < gallery->count(); ++i) {
                const QRect item = gallery->visualItemRect(gallery->item(i));
                QVERIFY2(shown.contains(item) && item.height() >= labelled && item.width() >= 96,
                         qPrintable(QString("%1x%2: item %3 at %4,%5 %6x%7 in a %8x%9 viewport")
                                        .arg(size.width())
                                        .arg(size.height())
                                        .arg(i)
                                        .arg(item.x())
                                        .arg(item.y())
                                        .arg(item.width())
                                        .arg(item.height())
                                        .arg(shown.width())
                                        .arg(shown.height())));
            }
            // The views keep most of the height.
            QVERIFY(design->viewer()->height() > 2 * gallery->height());
            w.grab().save(
                QDir::temp().filePath(QString("ms_test_gui_gallery_%1x%2.png").arg(size.width()).arg(size.height())));
        }
    }

    // Issue 26.10: empty Design views with no hint, three phases listed for a
    // 2-phase model, a status bar describing the Viewer tab's demo, R and
    // View > Reset camera acting on the Viewer tab only, and the Design 3D
    // view clipped on the left.
    void designFirstScreenHintsAndItsCameraAnswersR() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_first_screen", 2);
        ms::ui::MainWindow w;
        w.setVolume(demoVolume(), "demo");  // what the studio opens with: on the Viewer tab
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        const auto status = [&w] { return w.statusBar()->currentMessage(); };
        QVERIFY2(!status().contains("demo") && status().startsWith("Design"), qPrintable(status()));
        QTest::keyClick(w.windowHandle(), Qt::Key_2, Qt::ControlModifier);  // View > Viewer
        QTRY_COMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(w.viewer()));
        QVERIFY2(status().contains("demo"), qPrintable(status()));
        QTest::keyClick(w.windowHandle(), Qt::Key_1, Qt::ControlModifier);  // back to Design
        QTRY_COMPARE(w.tabs()->currentWidget(), static_cast<QWidget*>(design));
        QVERIFY2(!status().contains("demo"), qPrintable(status()));
        // Before any sample: a hint over the views, none of the empty views
        // or a phase list in sight (what shows of a widget: its visible region).
        const auto shows = [](const QWidget* widget) {
            return widget->isVisible() && !widget->visibleRegion().isEmpty();
        };
        const auto visiblePhases = [design, shows] {
            int n = 0;
            for (auto* box : design->viewer()->findChildren<QCheckBox*>())
                if (box->objectName().startsWith("phaseVisible") && shows(box)) ++n;
            return n;
        };
        QVERIFY(shows(design->emptyHint()));
        QVERIFY2(design->emptyHint()->text().contains("Generate"), qPrintable(design->emptyHint()->text()));
        QCOMPARE(visiblePhases(), 0);
        QVERIFY(!shows(design->viewer()->view3d()));
        QVERIFY(!shows(design->gallery()));
        // Two samples of the 2-phase model: two phases listed.
        setPlainSampling(design, 2);
        auto* sampler = design->findChild<QComboBox*>("sampler");
        sampler->setCurrentIndex(sampler->findData("dpmpp"));
        design->findChild<QSpinBox*>("steps")->setValue(4);
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        QTest::keyClick(w.windowHandle(), Qt::Key_G, Qt::ControlModifier);
        QVERIFY(done.wait(240000));
        QTRY_VERIFY(shows(design->viewer()->view3d()));
        QVERIFY(!shows(design->emptyHint()));
        QVERIFY(shows(design->gallery()));
        QCOMPARE(visiblePhases(), 2);
        QVERIFY2(status().startsWith("Design") && !status().contains("demo"), qPrintable(status()));
        // The default view shows the whole volume: no phase colour on its left
        // and right columns or its top row (the lower left holds the axes triad).
        auto* view = design->viewer()->view3d();
        const auto grab3d = [view] {
            view->requestRender();
            QTest::qWait(150);
            return view->grabFramebuffer();
        };
        QTest::qWait(300);
        const QImage reset = grab3d();
        const ColourCensus whole = census(reset);
        QVERIFY(whole.phase[0] + whole.phase[1] > whole.total / 20);
        const int upper = reset.height() * 3 / 4;
        for (const QRect border :
             {QRect(0, 0, 2, upper), QRect(reset.width() - 2, 0, 2, upper), QRect(0, 0, reset.width(), 2)}) {
            const ColourCensus edge = census(reset.copy(border));
            QVERIFY2(edge.phase[0] + edge.phase[1] == 0, qPrintable(QString("%1 phase pixels on the border at x %2")
                                                                        .arg(edge.phase[0] + edge.phase[1])
                                                                        .arg(border.x())));
        }
        // Turned with the mouse, then R (focus in the 3D view) brings the reset view back.
        const auto turn = [&w, view] {
            const QPoint from = view->rect().center();
            QTest::mousePress(view, Qt::LeftButton, {}, from);
            for (int step = 1; step <= 6; ++step) {
                QTest::mouseMove(view, from + QPoint(15 * step, 6 * step));
                QTest::qWait(30);
            }
            QTest::mouseRelease(view, Qt::LeftButton, {}, from + QPoint(90, 36));
            QTest::qWait(100);
        };
        turn();
        const QImage turned = grab3d();
        QVERIFY2(differingPixels(turned, reset) > reset.width() * reset.height() / 20,
                 qPrintable(QString::number(differingPixels(turned, reset))));
        view->setFocus();
        QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(view));
        QTest::keyClick(w.windowHandle(), Qt::Key_R);
        const QImage back = grab3d();
        QVERIFY2(differingPixels(back, reset) < reset.width() * reset.height() / 100,
                 qPrintable(QString::number(differingPixels(back, reset))));
        // And View > Reset camera.
        turn();
        QVERIFY(differingPixels(grab3d(), reset) > reset.width() * reset.height() / 20);
        QAction* resetAction = menuAction(w, "Reset camera");
        QVERIFY(resetAction);
        resetAction->trigger();
        QVERIFY(differingPixels(grab3d(), reset) < reset.width() * reset.height() / 100);
    }

    // Smaller items of issue 26: the bar stayed at 19% after Cancel, and
    // Ctrl+Q during a generation quit at once, losing the samples.
    void designCancelResetsTheBarAndQuitAsksFirst() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_quit", 2);
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        setPlainSampling(design, 3);
        auto* sampler = design->findChild<QComboBox*>("sampler");
        sampler->setCurrentIndex(sampler->findData("ddpm"));
        auto* bar = design->progressBar();
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        QTest::mouseClick(design->findChild<QPushButton*>("generate"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(bar->value() > 0, 60000);
        QTest::keyClick(w.windowHandle(), Qt::Key_Escape);  // Cancel
        QVERIFY(done.wait(60000));
        QCOMPARE(bar->value(), 0);
        QVERIFY2(bar->text().contains("cancelled"), qPrintable(bar->text()));
        // Ctrl+Q while generating asks; Cancel keeps the window and the generation.
        QSignalSpy done2(design, &ms::ui::DesignPanel::generated);
        QTest::mouseClick(design->findChild<QPushButton*>("generate"), Qt::LeftButton);
        QVERIFY(design->busy());
        QString asked;
        const auto answering1 = answerModal([&asked](QWidget* modal) {
            auto* box = qobject_cast<QMessageBox*>(modal);
            if (!box) return false;
            asked = box->text();
            box->button(QMessageBox::Cancel)->click();
            return true;
        });
        QTest::keyClick(w.windowHandle(), Qt::Key_Q, Qt::ControlModifier);
        QTRY_VERIFY(!asked.isEmpty() || !w.isVisible());
        QVERIFY2(w.isVisible(), "Ctrl+Q quit without asking");
        QVERIFY2(asked.contains("lost") || asked.contains("not saved"), qPrintable(asked));
        // Discard quits and stops the generation (the window active again, as a window manager leaves it).
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        const auto answering2 = answerModal([](QWidget* modal) {
            auto* box = qobject_cast<QMessageBox*>(modal);
            if (!box) return false;
            box->button(QMessageBox::Discard)->click();
            return true;
        });
        QTest::keyClick(w.windowHandle(), Qt::Key_Q, Qt::ControlModifier);
        QTRY_VERIFY(!w.isVisible());
        QVERIFY(!done2.isEmpty() || done2.wait(60000));
        QVERIFY(!design->busy());
        QSettings().remove("window");  // the closed window's geometry and tab: not for the next tests
    }

    // Issue 27: generation runs in the ML worker process. Killed with
    // SIGKILL mid-generation, the tab shows one error naming what happened,
    // keeps the samples already on screen, and the next Generate starts a
    // fresh worker and brings its samples; a warm worker serves two runs.
    void designSurvivesTheWorkersDeath() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_worker_death", 2);
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        QCOMPARE(design->mlWorker().processId(), qint64(0));  // started on first use, not at launch
        setPlainSampling(design, 2, 2);
        auto* generate = design->findChild<QPushButton*>("generate");
        {  // a worker that cannot start: one error naming it, and the tab stays usable
            const QByteArray worker = qgetenv("MICROSTUDIO_ML_WORKER");
            qputenv("MICROSTUDIO_ML_WORKER", "/nonexistent/microstudio-ml");
            QString missing;
            const auto answeringMissing = acknowledgeMessageBox(missing);
            QSignalSpy failed(design, &ms::ui::DesignPanel::generated);
            QTest::mouseClick(generate, Qt::LeftButton);
            QVERIFY(failed.wait(30000));
            QTRY_VERIFY_WITH_TIMEOUT(!missing.isEmpty(), 20000);
            QVERIFY2(missing.contains("/nonexistent/microstudio-ml could not be started"), qPrintable(missing));
            QVERIFY(!design->busy() && generate->isEnabled());
            qputenv("MICROSTUDIO_ML_WORKER", worker);
        }
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        QTest::mouseClick(generate, Qt::LeftButton);
        QVERIFY(done.wait(120000));
        QCOMPARE(done.first().at(0).toInt(), 2);
        const qint64 worker = design->mlWorker().processId();
        QVERIFY(worker > 0);  // kept warm
        if (qEnvironmentVariableIsEmpty("OMP_WAIT_POLICY") && qEnvironmentVariableIsEmpty("GOMP_SPINCOUNT"))
            QCOMPARE(environmentOf(worker, "OMP_WAIT_POLICY"), std::string("PASSIVE"));  // beside the previews

        auto* sampler = design->findChild<QComboBox*>("sampler");
        sampler->setCurrentIndex(sampler->findData("ddpm"));  // all 1000 steps: long enough to kill
        QString warning;
        const auto answering = acknowledgeMessageBox(warning);
        QSignalSpy killed(design, &ms::ui::DesignPanel::generated);
        QTest::mouseClick(generate, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(design->progressBar()->value() > 0, 60000);
        QCOMPARE(design->mlWorker().processId(), worker);  // the warm one
        QCOMPARE(::kill(pid_t(worker), SIGKILL), 0);
        QVERIFY(killed.wait(60000));
        QTRY_VERIFY_WITH_TIMEOUT(!warning.isEmpty(), 20000);
        QVERIFY2(warning.contains("the ML worker stopped") && warning.contains("crashed or was killed"),
                 qPrintable(warning));
        QCOMPARE(killed.first().at(0).toInt(), 0);
        QVERIFY(!design->busy());
        QVERIFY2(design->progressBar()->text().contains("failed"), qPrintable(design->progressBar()->text()));
        QCOMPARE(design->samples().size(), std::size_t(2));  // the earlier run's, still shown
        QCOMPARE(design->gallery()->count(), 2);

        sampler->setCurrentIndex(sampler->findData("ddim"));
        QSignalSpy again(design, &ms::ui::DesignPanel::generated);
        QTest::mouseClick(generate, Qt::LeftButton);
        QVERIFY(again.wait(120000));
        QCOMPARE(again.first().at(0).toInt(), 2);
        const qint64 fresh = design->mlWorker().processId();
        QVERIFY(fresh > 0 && fresh != worker);
        QCOMPARE(design->gallery()->count(), 2);
    }

    // Smaller items: Save Session said nothing; an export name without an
    // extension failed with "unknown file type '.'", and the message left
    // out .csv.
    void sessionSaveAndExportSayWhatTheyDo() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_export", 2);
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        setPlainSampling(design, 2, 2);
        QSignalSpy done(design, &ms::ui::DesignPanel::generated);
        design->generate();
        QVERIFY(done.wait(240000));
        QVERIFY(design->hasUnsavedSamples());
        QTemporaryDir dir;
        const QString session = dir.filePath("studio.json");
        const auto answering3 = answerModal([&session](QWidget* modal) {
            auto* dialog = qobject_cast<QFileDialog*>(modal);
            if (!dialog) return false;
            // As typed into the name field (selectFile keeps the suggested name here).
            auto* name = dialog->findChild<QLineEdit*>("fileNameEdit");
            if (!name) return false;
            name->setText(session);
            static_cast<QDialog*>(dialog)->accept();  // QFileDialog's own is protected
            return true;
        });
        QAction* save = menuAction(w, "Save Session...");
        QVERIFY(save);
        save->trigger();
        QVERIFY(QFile::exists(session));
        QVERIFY2(w.statusBar()->currentMessage().contains(session), qPrintable(w.statusBar()->currentMessage()));
        QVERIFY(!design->hasUnsavedSamples());
        // Export, a name typed without extension and the Table filter: name.csv.
        QStringList errors;
        const auto errorCatcher = answerModal([&errors](QWidget* modal) {  // any error box: noted and closed
            auto* box = qobject_cast<QMessageBox*>(modal);
            if (!box) return false;
            errors << box->text();
            box->accept();
            return true;
        });
        const auto answering4 = answerModal([&dir](QWidget* modal) {
            auto* dialog = qobject_cast<QFileDialog*>(modal);
            if (!dialog) return false;
            dialog->setDirectory(dir.path());
            dialog->selectNameFilter("Table (*.csv)");
            auto* name = dialog->findChild<QLineEdit*>("fileNameEdit");
            if (!name) return false;
            name->setFocus();
            name->selectAll();
            typeSlowly(dialog, "noext", 150);
            QTest::keyClick(dialog->windowHandle(), Qt::Key_Return);
            return true;
        });
        QPushButton* exportButton = nullptr;
        for (auto* b : design->findChildren<QPushButton*>())
            if (b->text().remove('&') == "Export...") exportButton = b;
        QVERIFY(exportButton && exportButton->isEnabled());
        QTest::mouseClick(exportButton, Qt::LeftButton);
        QTRY_VERIFY(QFile::exists(dir.filePath("noext.csv")) || !errors.isEmpty());
        QVERIFY2(errors.isEmpty(), qPrintable(errors.join("; ")));
        QFile csv(dir.filePath("noext.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QVERIFY(csv.readLine().startsWith("sample,seed,target_"));
        QVERIFY2(w.statusBar()->currentMessage().contains("noext.csv"), qPrintable(w.statusBar()->currentMessage()));
        // A wrong extension, or none, names every accepted one.
        for (const char* name : {"table.xlsx", "noext"}) {
            QString message;
            try {
                design->exportTo(dir.filePath(name));
            } catch (const std::exception& e) {
                message = e.what();
            }
            for (const char* extension : {".vti", ".h5", ".txt", ".png", ".csv"})
                QVERIFY2(message.contains(extension), qPrintable(message));
            QVERIFY2(!message.contains("'.'"), qPrintable(message));
        }
        QCOMPARE(ms::ui::DesignPanel::withFilterExtension("/a/b", "Microstructures (*.vti *.h5)"), QString("/a/b.vti"));
        QCOMPARE(ms::ui::DesignPanel::withFilterExtension("/a/b.h5", "Table (*.csv)"), QString("/a/b.h5"));
    }

    // Smaller items: the energy chart ticked at odd values (0.00936,
    // -0.0168) and the length axis showed one label.
    void simulationChartsTickOnRoundNumbers() {
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.simulation(), {1024, 700}));
        auto* sim = w.simulation();
        ms::ui::SimulationSettings s;
        s.dims = ms::Dims{64, 64, 1};
        s.chi = 3.0;
        s.snapshots = 12;
        s.endTime = 400;
        sim->setSettings(s);
        QSignalSpy finished(sim, &ms::ui::SimulationPanel::runFinished);
        sim->start();
        QVERIFY(finished.wait(240000));
        QTest::qWait(300);
        const auto views = sim->findChildren<QChartView*>();
        QCOMPARE(views.size(), 2);
        for (auto* view : views) {
            const auto vertical = view->chart()->axes(Qt::Vertical);
            QCOMPARE(vertical.size(), 1);
            auto* axis = qobject_cast<QValueAxis*>(vertical.first());
            QVERIFY2(axis, qPrintable(view->chart()->title() + ": not a linear axis"));
            const QList<double> ticks = tickValues(axis);
            QVERIFY2(ticks.size() >= 3,
                     qPrintable(QString("%1: %2 labels").arg(view->chart()->title()).arg(ticks.size())));
            const double step = ticks[1] - ticks[0];
            const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
            QVERIFY2(std::abs(mantissa - 1) < 1e-6 || std::abs(mantissa - 2) < 1e-6 ||
                         std::abs(mantissa - 2.5) < 1e-6 || std::abs(mantissa - 5) < 1e-6,
                     qPrintable(QString("%1: step %2").arg(view->chart()->title()).arg(step)));
            QStringList labels;
            for (const double t : ticks) {
                QVERIFY2(
                    std::abs(t / step - std::round(t / step)) < 1e-6,
                    qPrintable(QString("%1: tick %2 off the step %3").arg(view->chart()->title()).arg(t).arg(step)));
                labels << QString::asprintf(qPrintable(axis->labelFormat()), t);
            }
            QCOMPARE(QSet<QString>(labels.begin(), labels.end()).size(), labels.size());  // no two alike
            // The data lies inside.
            auto* series = qobject_cast<QLineSeries*>(view->chart()->series().first());
            QVERIFY(series && series->count() > 0);
            for (const QPointF& p : series->points()) QVERIFY(p.y() >= axis->min() && p.y() <= axis->max());
            qInfo("%s: %s", qPrintable(view->chart()->title()), qPrintable(labels.join(" ")));
        }
    }

    // Smaller items: the training ETA froze at its last value while paused.
    void trainingEtaSaysPausedWhilePaused() {
        QDir(ms::ui::userModelDirectory()).removeRecursively();
        ms::ui::MainWindow w;
        auto* wizard = w.training();
        QSignalSpy finished(wizard->job(), &ms::ui::TrainingJob::finished);
        startDemoVaeTraining(wizard, "ms_test_wizard_eta.h5", "paused-eta-vae");
        auto* eta = wizard->findChild<QLabel*>("eta");
        QVERIFY(eta);
        QTest::mouseClick(wizard->findChild<QPushButton*>("pause"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(wizard->job()->paused() && wizard->job()->takeState().paused, 60000);
        QTest::qWait(500);
        QVERIFY2(eta->text().contains("paused"), qPrintable(eta->text()));
        QVERIFY2(!eta->text().contains(QRegularExpression("\\d")), qPrintable(eta->text()));
        QTest::mouseClick(wizard->findChild<QPushButton*>("cancelTraining"), Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        QVERIFY(eta->text().isEmpty());
    }

    // Smaller items: the noise lab's "Open sample" asked for an index with no
    // range and no names.
    void noiseLabOpenSampleNamesTheSamples() {
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.noiseLab(), {1024, 700}));
        auto* lab = w.noiseLab();
        QTemporaryDir dir;
        const QString path = dir.filePath("run.h5");
        ms::io::writeHdf5(runSnapshots(4), path.toStdString());
        const auto answering5 = answerModal([&path](QWidget* modal) {
            auto* dialog = qobject_cast<QFileDialog*>(modal);
            if (!dialog) return false;
            // As typed into the name field (selectFile keeps the suggested name here).
            auto* name = dialog->findChild<QLineEdit*>("fileNameEdit");
            if (!name) return false;
            name->setText(path);
            static_cast<QDialog*>(dialog)->accept();
            return true;
        });
        QString label;
        QStringList items;
        const auto answering6 = answerModal([&](QWidget* modal) {
            auto* dialog = qobject_cast<QInputDialog*>(modal);
            if (!dialog) return false;
            label = dialog->labelText();
            items = dialog->comboBoxItems();
            dialog->setTextValue(items.value(2));
            dialog->accept();
            return true;
        });
        QPushButton* open = nullptr;
        for (auto* b : lab->findChildren<QPushButton*>())
            if (b->text().startsWith("Open sample")) open = b;
        QVERIFY(open);
        QTest::mouseClick(open, Qt::LeftButton);
        QVERIFY2(label.contains("0 to 3"), qPrintable(label));
        QCOMPARE(items.size(), 4);
        for (int i = 0; i < 4; ++i)
            QVERIFY2(items[i].contains(QString("snap_%1").arg(i, 6, 10, QChar('0'))), qPrintable(items[i]));
        QTRY_VERIFY2(noiseLabSampleText(lab).contains("snap_000002"), qPrintable(noiseLabSampleText(lab)));
    }

    void screenshotsOfEachTabShowItsDefaultAction_data() {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("training") << QStringList{"--tab", "training"};
        QTest::newRow("noise") << QStringList{"--tab", "noise"};
        QTest::newRow("simulation") << QStringList{"--tab", "simulation"};
        QTest::newRow("design") << QStringList{"--tab", "design", "--generate"};
    }

    void screenshotsOfEachTabShowItsDefaultAction() {
        QFETCH(QStringList, args);
        const QString tab = args[1];
        const QImage shot = studioScreenshot(args, "ms_test_gui_tab_" + tab + ".png");
        QVERIFY2(!shot.isNull(), "no screenshot");
        QCOMPARE(shot.size(), QSize(1100, 800));
        const ColourCensus c = census(shot);
        if (tab == "training") {
            // Loss curves in the chart (above the progress bar, whose blue is near the train colour).
            const QImage chart = shot.copy(QRect(0, shot.height() * 12 / 100, shot.width(), shot.height() * 66 / 100));
            const int train = countColour(chart, ms::ui::kTrainColour),
                      val = countColour(chart, ms::ui::kValidationColour);
            qInfo("training screenshot: %d train-curve, %d validation-curve pixels", train, val);
            QVERIFY2(train > 600, qPrintable(QString::number(train)));  // the legend swatch alone is ~150
            QVERIFY2(val > 400, qPrintable(QString::number(val)));
        } else {
            // The phase images (noise lab: clean, noisy, denoised; simulation:
            // the morphology; design: the 3D sample and its slices).
            for (int p = 0; p < 2; ++p)
                QVERIFY2(c.phase[std::size_t(p)] > 2000,
                         qPrintable(QString("%1: phase %2 pixels %3").arg(tab).arg(p).arg(c.phase[std::size_t(p)])));
        }
    }
#endif

    // `microstudio --tab design --evaluate --screenshot`: the shipped model
    // evaluated on its shipped held-out data, the Evaluation page with its
    // scatter plots in the picture (docs/images/design-evaluation-1024x700.png).
    void screenshotOfTheDesignEvaluation() {
        const QImage shot =
            studioScreenshot({"--tab", "design", "--evaluate"}, "ms_test_gui_design_evaluation.png", "1024x700");
        QVERIFY2(!shot.isNull(), "no screenshot");
        // The plots: the right part below the data fields (the progress bar above them is another blue).
        const QImage plots = shot.copy(
            QRect(shot.width() / 3, shot.height() * 33 / 100, shot.width() * 2 / 3, shot.height() * 60 / 100));
        const int points = countColour(plots, ms::ui::kEvaluationPointColour, 25);
        qInfo("evaluation screenshot: %d scatter-point pixels", points);
        QVERIFY2(points > 1500, qPrintable(QString::number(points)));  // 3 plots of 64 points
    }

    // `microstudio --tab design --model NAME`: an installed generator by name
    // (the shipped 3-phase gen3d-ch3: its samples show the mixed phase), an
    // unknown name refused in one line naming the installed ones.
    void startupModelOption() {
        const QString ch3 = ms::ui::DesignPanel::findGenerator("gen3d-ch3");
        QVERIFY2(ch3.endsWith("resources/models/gen3d-ch3"), qPrintable(ch3));
        QCOMPARE(ms::ui::DesignPanel::findGenerator(ch3), ch3);  // a folder as it is
        QVERIFY(ms::ui::DesignPanel::findGenerator("gen3d-nosuch").isEmpty());
        QVERIFY(ms::ui::DesignPanel::installedGeneratorNames().contains("gen3d-ch2"));
        QProcess bad;
        bad.start(MICROSTUDIO_GUI, {"--tab", "design", "--model", "gen3d-nosuch", "--screenshot",
                                    QDir::temp().filePath("ms_test_gui_nosuch.png")});
        QVERIFY(bad.waitForFinished(120000));
        QCOMPARE(bad.exitCode(), 2);
        const QString err = QString::fromUtf8(bad.readAllStandardError()).trimmed();
        QVERIFY2(err.endsWith("microstudio: --model: no 3D generator 'gen3d-nosuch' (installed: gen3d-ch2, gen3d-ch3)"),
                 qPrintable(err));
        const QImage shot = studioScreenshot({"--tab", "design", "--model", "gen3d-ch3", "--generate"},
                                             "ms_test_gui_design_ch3.png", "1024x700");
        QVERIFY2(!shot.isNull(), "no screenshot");
        const auto c = census(shot);
        qInfo("gen3d-ch3 design screenshot: donor %d, acceptor %d, mixed %d pixels", c.phase[0], c.phase[1],
              c.phase[2]);
        QVERIFY2(c.phase[ms::Mixed] > 2000, qPrintable(QString::number(c.phase[ms::Mixed])));
    }

    // Each tab's default view against its baseline image at the smallest
    // supported window (tests/gui/baselines/, regenerated deliberately with
    // MICROSTUDIO_UPDATE_BASELINES=1 when a view changes on purpose).
    void tabsMatchTheirBaselineImages_data() {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("viewer") << QStringList{"--tab", "viewer"};
        QTest::newRow("noise") << QStringList{"--tab", "noise"};
        // (The simulation tab's picture is taken while its run goes on: which
        // snapshot shows depends on the machine's speed, so it has no baseline.)
        QTest::newRow("design") << QStringList{"--tab", "design", "--generate"};
    }

    void tabsMatchTheirBaselineImages() {
        QFETCH(QStringList, args);
        const QString name = "tab-" + args[1] + "-1024x700";
        const QImage shot = studioScreenshot(args, "ms_test_gui_" + name + ".png", "1024x700");
        QVERIFY2(!shot.isNull(), "no screenshot");
        const auto c = compareWithBaseline(shot, name);
        qInfo("%s: %s", qPrintable(name), qPrintable(c.message));
        QVERIFY2(c.matches, qPrintable(c.message));
    }

    // The comparison's own self-check: the baseline itself and a few changed
    // text pixels pass; a recoloured phase and a view moved by 24 px fail.
    void baselineComparisonCatchesChangedViews() {
        const QImage baseline(QString(MICROSTUDIO_SOURCE_DIR) + "/tests/gui/baselines/tab-noise-1024x700.png");
        QVERIFY2(!baseline.isNull(), "no baseline tab-noise-1024x700.png");
        QVERIFY(compareImages(baseline, baseline, 0.02).matches);
        QImage text = baseline.convertToFormat(QImage::Format_RGB32);
        for (int x = 10; x < 90; ++x)
            for (int y = 10; y < 16; ++y) text.setPixel(x, y, qRgb(0, 0, 0));  // a label that reads otherwise
        QVERIFY(compareImages(text, baseline, 0.02).matches);
        // One phase drawn in another colour.
        QImage recoloured = baseline.convertToFormat(QImage::Format_RGB32);
        const auto rgb = ms::render::phaseColor(ms::Donor);
        const QColor donor = QColor::fromRgbF(float(rgb.r), float(rgb.g), float(rgb.b));
        int changed = 0;
        for (int y = 0; y < recoloured.height(); ++y)
            for (int x = 0; x < recoloured.width(); ++x)
                if (std::abs(QColor(recoloured.pixel(x, y)).hue() - donor.hue()) < 8 &&
                    QColor(recoloured.pixel(x, y)).saturation() > 80) {
                    recoloured.setPixel(x, y, qRgb(40, 200, 40));
                    ++changed;
                }
        QVERIFY2(changed > baseline.width() * baseline.height() / 50, qPrintable(QString::number(changed)));
        const auto recolour = compareImages(recoloured, baseline, 0.02);
        QVERIFY2(!recolour.matches, qPrintable(recolour.message));
        // The layout moved: everything 24 px to the right.
        QImage moved(baseline.size(), QImage::Format_RGB32);
        moved.fill(baseline.pixel(0, 0));
        QPainter painter(&moved);
        painter.drawImage(24, 0, baseline);
        painter.end();
        const auto move = compareImages(moved, baseline, 0.02);
        QVERIFY2(!move.matches, qPrintable(move.message));
    }

    void screenshotOptionWritesThePicture() {
        const QString out = QDir::temp().filePath("ms_test_gui_screenshot.png");
        QFile::remove(out);
        QProcess app;
        // The viewer's 3-phase demo (without --tab the studio opens where it was
        // last closed, or on the Design tab when a generator is installed).
        app.start(MICROSTUDIO_GUI, {"--tab", "viewer", "--screenshot", out, "--size", "1000x700"});
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

    // Issue 24: the rotation benchmark (microstudio --bench-rotate) turns the
    // viewer's phase scene; its figures agree with each other and with the
    // scene. Speed itself is measured in docs/benchmarks.md, never asserted.
    void rotationBenchmarkFiguresAreConsistent() {
        ms::SyntheticOptions options;
        options.mixedFraction = 0.15;
        options.seed = 24;
        const ms::Volume volume = ms::syntheticMicrostructure(ms::Dims{64, 64, 16}, options);
        const int frames = 4;
        const ms::render::RotationBenchmark r = ms::render::benchmarkRotation(volume, frames, QSize(320, 240));
        QCOMPARE(r.size, QSize(320, 240));
        for (const ms::render::RotationFigures* turn : {&r.still, &r.moving}) {
            QCOMPARE(turn->frames, frames);
            QVERIFY(turn->seconds > 0);
            QVERIFY(std::abs(turn->framesPerSecond - frames / turn->seconds) <= 1e-9 * turn->framesPerSecond);
            // The median of 4 frames is one of them: within their sum.
            QVERIFY(turn->medianFrameSeconds > 0 && turn->medianFrameSeconds < turn->seconds);
        }
        QVERIFY(r.sceneBuildSeconds > 0);
        QVERIFY(r.firstFrameSeconds > 0);
        QVERIFY(!r.glRenderer.empty());
        QCOMPARE(QString::fromStdString(r.load).split(' ').size(), 3);
        // The viewer's scene for the same volume counts the same triangles.
        ms::render::VtkWidget view;
        ms::render::PhaseScene scene(view.renderer());
        scene.setVolume(volume);
        QVERIFY(scene.triangleCount() > 1000);
        QCOMPARE(r.triangles, scene.triangleCount());
        QCOMPARE(r.movingTriangles, scene.movingTriangleCount());
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::render::benchmarkRotation(volume, 0));
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::render::benchmarkRotation(volume, 2, QSize(0, 10)));
        ms::ProgressToken cancelled;
        cancelled.cancel();
        QVERIFY_THROWS_EXCEPTION(ms::Cancelled, ms::render::benchmarkRotation(volume, 2, QSize(64, 48), &cancelled));
    }

    // Issue 24: above the triangle budget the 3D view draws decimated surfaces
    // while the mouse turns it (within the budget, over the same box) and the
    // full ones again once it is released; a small volume always in full.
    void movingViewDrawsLargeVolumesDecimated() {
        ms::SyntheticOptions options;
        options.mixedFraction = 0.16;
        options.seed = 2024;
        const ms::Volume large = ms::syntheticMicrostructure(ms::Dims{128, 128, 32}, options);
        ms::render::VtkWidget view;
        ms::render::PhaseScene scene(view.renderer());
        scene.setVolume(large);
        const long long budget = ms::render::PhaseScene::kDefaultMovingTriangleBudget;
        QCOMPARE(scene.movingTriangleBudget(), budget);
        QVERIFY2(scene.triangleCount() > 4 * budget, qPrintable(QString::number(scene.triangleCount())));
        QVERIFY(scene.movingTriangleCount() <= budget);
        QVERIFY(scene.movingTriangleCount() > budget / 4);  // the budget is used, not thrown away
        for (int p = 0; p < 3; ++p) {
            const auto full = scene.surfaceBounds(p, false), moving = scene.surfaceBounds(p, true);
            QCOMPARE(full[0], -0.5);  // closed at the box faces
            QCOMPARE(full[1], 127.5);
            for (int i = 0; i < 6; ++i)
                QVERIFY2(std::abs(moving[std::size_t(i)] - full[std::size_t(i)]) <= 1.0,
                         qPrintable(QString("phase %1 bound %2: %3 vs %4")
                                        .arg(p)
                                        .arg(i)
                                        .arg(moving[std::size_t(i)])
                                        .arg(full[std::size_t(i)])));
        }
        // Turned with the mouse: decimated (and drawn at half the resolution,
        // scaled up) while the button is down, full once released.
        view.resize(480, 360);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        const QPoint from = view.rect().center();
        QTest::mousePress(&view, Qt::LeftButton, {}, from, 150);
        QTest::mouseMove(&view, from + QPoint(40, 10), 150);
        const QImage moving = view.grabFramebuffer();
        QCOMPARE(scene.lastDrawnTriangleCount(), scene.movingTriangleCount());
        QTest::mouseRelease(&view, Qt::LeftButton, {}, from + QPoint(40, 10), 150);
        const QImage still = view.grabFramebuffer();
        QCOMPARE(scene.lastDrawnTriangleCount(), scene.triangleCount());
        // The same camera: the phases fill the same part of the view in both pictures.
        const auto phaseArea = [](const QImage& image) {
            QRect area;
            for (int y = 0; y < image.height(); ++y)
                for (int x = 0; x < image.width(); ++x)
                    if (image.pixelColor(x, y).hsvSaturationF() > 0.5) area |= QRect(x, y, 1, 1);
            return area;
        };
        const QRect movingArea = phaseArea(moving), stillArea = phaseArea(still);
        QCOMPARE(moving.size(), still.size());
        QVERIFY(stillArea.width() > still.width() / 2);
        for (const auto& [a, b] : {std::pair{movingArea.left(), stillArea.left()},
                                   {movingArea.right(), stillArea.right()},
                                   {movingArea.top(), stillArea.top()},
                                   {movingArea.bottom(), stillArea.bottom()}})
            QVERIFY2(std::abs(a - b) <= 6, qPrintable(QString("moving %1 vs still %2").arg(a).arg(b)));
        // Under the budget nothing is decimated.
        scene.setVolume(ms::syntheticMicrostructure(ms::Dims{24, 24, 12}, options));
        QVERIFY(scene.triangleCount() > 0 && scene.triangleCount() <= budget);
        QCOMPARE(scene.movingTriangleCount(), scene.triangleCount());
        QVERIFY(scene.surfaceBounds(0, true) == scene.surfaceBounds(0, false));
    }

#ifdef MICROSTUDIO_HAVE_DESIGN
    // Plain sampling shows each sample's denoising preview (grey caption
    // "#i \u00b7 step s/S", not selectable) in its gallery slot until the
    // sample replaces it; a run cancelled before any sample puts the earlier
    // samples back.
    void designGalleryShowsDenoisingPreviews() {
        const QString folder = tinyGeneratorWithData("ms_test_gui_previews", 2);
        ms::ui::MainWindow w;
        QVERIFY(showAt(w, w.design(), {1024, 700}));
        auto* design = w.design();
        QVERIFY(design->loadModel(folder, true));
        setPlainSampling(design, 4);
        auto* sampler = design->findChild<QComboBox*>("sampler");
        sampler->setCurrentIndex(sampler->findData("ddpm"));  // 1000 steps: previews at 200, 400, 600, 800
        auto* gallery = design->gallery();
        const QRegularExpression previewCaption("^#(\\d) \u00b7 step (\\d+)/1000$");
        // Runs a generation, noting preview captions seen while no sample is done.
        auto generate = [&](bool cancelAtFirstPreview, QStringList& previews) {
            QSignalSpy done(design, &ms::ui::DesignPanel::generated);
            QTest::mouseClick(design->findChild<QPushButton*>("generate"), Qt::LeftButton);
            QElapsedTimer clock;
            clock.start();
            while (done.isEmpty() && clock.elapsed() < 240000) {
                QTest::qWait(20);
                for (int i = 0; i < gallery->count(); ++i) {
                    const QListWidgetItem* item = gallery->item(i);
                    const auto match = previewCaption.match(item->text());
                    if (!match.hasMatch() || !design->samples().empty()) continue;
                    QVERIFY2(!(item->flags() & Qt::ItemIsSelectable), qPrintable(item->text()));
                    QCOMPARE(match.captured(1).toInt(), i + 1);  // sample i's own slot
                    if (previews.isEmpty()) w.grab().save(QDir::temp().filePath("ms_test_gui_previews_running.png"));
                    if (!previews.contains(item->text())) previews << item->text();
                }
                if (cancelAtFirstPreview && !previews.isEmpty() && design->busy()) {
                    for (auto* button : design->findChildren<QPushButton*>())
                        if (button->text() == "Cancel") QTest::mouseClick(button, Qt::LeftButton);
                    cancelAtFirstPreview = false;
                }
            }
            QVERIFY(!done.isEmpty());
        };
        QStringList seen;
        generate(false, seen);
        if (QTest::currentTestFailed()) return;
        qInfo("previews seen: %s", qPrintable(seen.join(", ")));
        QVERIFY2(!seen.isEmpty(), "no preview shown while the samples denoised");
        for (const QString& caption : seen)
            QVERIFY2(QStringList({"200", "400", "600", "800"}).contains(previewCaption.match(caption).captured(2)),
                     qPrintable(caption));
        QCOMPARE(gallery->count(), 4);
        QCOMPARE(int(design->samples().size()), 4);
        for (int i = 0; i < 4; ++i) {
            QCOMPARE(gallery->item(i)->text(), QString("#%1").arg(i + 1));  // the final sample, no "step"
            QVERIFY(gallery->item(i)->flags() & Qt::ItemIsSelectable);
        }
        w.grab().save(QDir::temp().filePath("ms_test_gui_previews.png"));

        // Cancelled at its first preview: the four samples come back.
        const auto before = design->samples();
        QStringList cancelledAt;
        generate(true, cancelledAt);
        if (QTest::currentTestFailed()) return;
        QVERIFY(!cancelledAt.isEmpty());
        QCOMPARE(gallery->count(), 4);
        QCOMPARE(int(design->samples().size()), 4);
        for (int i = 0; i < 4; ++i) {
            QCOMPARE(gallery->item(i)->text(), QString("#%1").arg(i + 1));
            QVERIFY(design->samples()[std::size_t(i)].sameLabels(before[std::size_t(i)]));
        }
        QDir(folder).removeRecursively();
    }
#endif
};

int main(int argc, char** argv) {
    // As the studio does: the HDF5 reader is forked while this process has one thread.
    ms::io::startHdf5Reader();
    QSurfaceFormat format;
    format.setVersion(3, 2);
    format.setProfile(QSurfaceFormat::CoreProfile);
    format.setDepthBufferSize(24);
    format.setAlphaBufferSize(8);
    QSurfaceFormat::setDefaultFormat(format);
    QApplication app(argc, argv);
    // Tests close windows (Ctrl+Q): that must not end the event loop of the tests after them.
    app.setQuitOnLastWindowClosed(false);
    TestGui test;
    return QTest::qExec(&test, argc, argv);
}
#include "test_gui.moc"
