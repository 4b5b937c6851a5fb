// microstudio: the studio's window. `microstudio [FILE] [--tab NAME] [--model NAME]
// [--generate | --evaluate] [--screenshot OUT.png]`, or `microstudio
// --bench-rotate FILE [--frames N] [--size WxH]`: the 3D view turning FILE's
// volume, figures printed one per line. With --screenshot the shown tab
// first does its default action (design with --generate: samples, with
// --evaluate: the model's held-out evaluation; noise:
// a comparison; simulation: a run under way; training: a few epochs of a
// tiny model), then the window is saved and the program exits.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFile>
#include <QSurfaceFormat>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/jobs/snapshot.hpp"
#include "microstudio/physics/run.hpp"
#include "microstudio/render/rotation_benchmark.hpp"
#include "microstudio/render/vtk_widget.hpp"
#include "microstudio/ui/main_window.hpp"
#include "microstudio/ui/noise_lab_panel.hpp"
#include "microstudio/ui/simulation_panel.hpp"
#ifdef MICROSTUDIO_HAVE_DESIGN
#include "microstudio/ui/design_panel.hpp"
#include "microstudio/ui/training_job.hpp"
#include "microstudio/ui/training_wizard.hpp"
#endif

namespace {

#ifdef MICROSTUDIO_HAVE_DESIGN
// Design tab, --evaluate: the loaded model on its held-out data (the
// Evaluation page); `ready` once the report shows. False without a model.
bool startDesignEvaluation(ms::ui::MainWindow& window, std::function<void()> ready) {
    auto* design = window.design();
    if (!design->hasModel()) {
        std::fprintf(stderr, "microstudio: --evaluate: no 3D generator installed\n");
        return false;
    }
    QObject::connect(design, &ms::ui::DesignPanel::evaluated, &window, [ready](bool ok, const QString& message) {
        if (!ok) std::fprintf(stderr, "microstudio: evaluation: %s\n", qPrintable(message));
        ready();
    });
    design->showEvaluationPage();
    design->evaluate();
    return true;
}
#endif

// Starts the shown tab's default action; calls `ready` once there is
// something to show (a finished job, or a running simulation with
// snapshots). Returns false (with a message) when it cannot start.
bool startDefaultAction(ms::ui::MainWindow& window, bool generate, bool evaluate, const QString& scratch,
                        std::function<void()> ready) {
    QWidget* tab = window.tabs()->currentWidget();
#ifdef MICROSTUDIO_HAVE_DESIGN
    if (tab == window.design() && evaluate) return startDesignEvaluation(window, ready);
#endif
    if (tab == window.noiseLab()) {
        // The lab compares two-phase images; the 3-phase demo volume gives it
        // none: a short Cahn-Hilliard run, the kind of image the shipped
        // denoiser learned from (a second or so, before the window is used).
        if (!window.noiseLab()->noisy().size()) {
            ms::physics::CahnHilliardParams params;  // 101x101, phi 0.5, chi 3
            ms::physics::RunPlan plan;
            plan.endTime = 300;
            plan.snapshots = 2;
            ms::Volume last;
            ms::physics::runCahnHilliard(params, {}, plan, [&last](const auto& info, const auto& solver) {
                last = ms::jobs::snapshotVolume(info, solver, 2, false);
            });
            window.noiseLab()->setSample(last, "Cahn-Hilliard, t = 300");
        }
        QTimer::singleShot(0, &window, [&window, ready] {
            window.noiseLab()->waitForPreview();
            ready();
        });
        return true;
    }
    if (tab == window.simulation()) {
        auto* sim = window.simulation();
        // The picture shows a run under way: a third of its snapshots in.
        const int want = std::max(2, sim->settings().snapshots / 3);
        auto fired = std::make_shared<bool>(false);
        auto once = [fired, ready] {
            if (*fired) return;
            *fired = true;
            ready();
        };
        QObject::connect(sim, &ms::ui::SimulationPanel::snapshotArrived, &window, [want, once](int i) {
            if (i + 1 >= want) once();
        });
        QObject::connect(sim, &ms::ui::SimulationPanel::runFinished, &window, [once](bool, const QString&) { once(); });
        sim->start();
        return true;
    }
#ifdef MICROSTUDIO_HAVE_DESIGN
    if (tab == window.design() && generate) {
        auto* design = window.design();
        if (!design->hasModel()) {
            std::fprintf(stderr, "microstudio: --generate: no 3D generator installed\n");
            return false;
        }
        QObject::connect(design, &ms::ui::DesignPanel::generated, &window, [ready](int count, const QString& message) {
            if (count == 0) std::fprintf(stderr, "microstudio: generation: %s\n", qPrintable(message));
            ready();
        });
        design->generate();
        return true;
    }
    if (tab == window.training()) {
        auto* wizard = window.training();
        QObject::connect(wizard->job(), &ms::ui::TrainingJob::finished, &window,
                         [ready](ms::ui::TrainingJob::Outcome outcome, const QString& message) {
                             if (outcome != ms::ui::TrainingJob::Outcome::Finished)
                                 std::fprintf(stderr, "microstudio: training: %s\n", qPrintable(message));
                             ready();
                         });
        wizard->runDemo(QDir(scratch).filePath("training"));
        return true;
    }
#endif
    QTimer::singleShot(300, &window, ready);
    return true;
}

// "WIDTHxHEIGHT" -> size; an empty size for bad text.
QSize parseSize(const QString& text) {
    const QStringList wh = text.split('x');
    if (wh.size() != 2 || wh[0].toInt() <= 0 || wh[1].toInt() <= 0) return {};
    return QSize(wh[0].toInt(), wh[1].toInt());
}

void printRotation(const char* name, const ms::render::RotationFigures& f) {
    std::printf("%-16s %d frames in %.2f s: %.2f frames/s (median frame %.3f s)\n", name, f.frames, f.seconds,
                f.framesPerSecond, f.medianFrameSeconds);
}

// --bench-rotate: the 3D view of the viewer turning `file`'s volume.
int benchRotate(const QString& file, const QString& frames, QSize size) {
    bool framesOk = false;
    const int frameCount = frames.toInt(&framesOk);
    if (!framesOk || frameCount < 1 || !size.isValid()) {
        std::fprintf(stderr, "microstudio: --bench-rotate expects --frames N >= 1 and --size WIDTHxHEIGHT\n");
        return 2;
    }
    try {
        const ms::Volume volume = ms::io::readVolume(file.toStdString());
        const auto counts = volume.phaseCounts();
        const auto phases = std::count_if(counts.begin(), counts.end(), [](std::size_t n) { return n > 0; });
        const ms::render::RotationBenchmark r = ms::render::benchmarkRotation(volume, frameCount, size);
        std::printf("volume           %s: %s, %d phases\n", qPrintable(file), volume.dims().str().c_str(), int(phases));
        std::printf("view             %dx%d, OpenGL %s\n", r.size.width(), r.size.height(), r.glRenderer.c_str());
        std::printf("scene build      %.2f s\n", r.sceneBuildSeconds);
        std::printf("triangles        %lld at rest, %lld while moving\n", r.triangles, r.movingTriangles);
        std::printf("first frame      %.2f s (while moving: %.2f s)\n", r.firstFrameSeconds, r.firstMovingFrameSeconds);
        printRotation("at rest", r.still);
        printRotation("while moving", r.moving);
        std::printf("load             %s (1, 5, 15 minutes)\n", r.load.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "microstudio: --bench-rotate: %s\n", e.what());
        return 1;
    }
}

// VTK needs a 3.2 core profile; it must be the default before QApplication.
void setDefaultSurfaceFormat() {
    QSurfaceFormat format;
    format.setRenderableType(QSurfaceFormat::OpenGL);
    format.setVersion(3, 2);
    format.setProfile(QSurfaceFormat::CoreProfile);
    format.setDepthBufferSize(24);
    format.setAlphaBufferSize(8);
    format.setSamples(0);
    QSurfaceFormat::setDefaultFormat(format);
}

// --help and --version only print: without a display (a terminal over ssh,
// a CI job) they must not first fail to load a windowing platform plugin.
void printWithoutDisplay(int argc, char** argv) {
    if (!qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") || !qEnvironmentVariableIsEmpty("DISPLAY") ||
        !qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY"))
        return;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "-h" || arg == "--help" || arg == "--help-all" || arg == "-v" || arg == "--version") {
            qputenv("QT_QPA_PLATFORM", "offscreen");
            return;
        }
    }
}

// Models trained in the Training tab are found by name like installed ones.
void searchUserModels() {
#ifdef MICROSTUDIO_HAVE_DESIGN
    const QByteArray userModels = QFile::encodeName(ms::ui::userModelDirectory());
    const QByteArray searched = qgetenv("MICROSTUDIO_MODELS");
    qputenv("MICROSTUDIO_MODELS", searched.isEmpty() ? userModels : userModels + ":" + searched);
#endif
}

// The command line's options, declared on `parser`.
struct StartupOptions {
    QCommandLineOption screenshot{"screenshot", "Render the window after start-up, save it to <file> and exit.",
                                  "file"};
    QCommandLineOption size{"size",
                            "Window size for --screenshot, WIDTHxHEIGHT (default 1280x800); the 3D view's "
                            "for --bench-rotate (default 800x600).",
                            "size", "1280x800"};
    QCommandLineOption tab{"tab", "Tab to show at start-up: design, viewer, noise, simulation or training.", "name"};
    QCommandLineOption generate{
        "generate", "With --tab design: generate samples at start-up (with --screenshot, before the picture)."};
    QCommandLineOption model{"model",
                             "With --tab design: the 3D generator to load, an installed name (gen3d-ch2, "
                             "gen3d-ch3) or a folder (default: the first installed).",
                             "name"};
    QCommandLineOption evaluate{"evaluate",
                                "With --tab design and --screenshot: evaluate the model on its held-out data "
                                "(the Evaluation page) before the picture."};
    QCommandLineOption benchRotate{
        "bench-rotate",
        "Benchmark: show <file>'s volume in the 3D view, turn it a full circle at rest and as while "
        "dragged, print the scene build time, triangles and frames per second, and exit.",
        "file"};
    QCommandLineOption frames{"frames", "Frames per turn for --bench-rotate (default 36).", "n", "36"};

    explicit StartupOptions(QCommandLineParser& parser) {
        parser.setApplicationDescription("MicroStudio: design studio for materials microstructures");
        parser.addHelpOption();
        parser.addVersionOption();
        parser.addPositionalArgument("file", "Microstructure to open (.vti, .h5, .txt, .png)");
        for (const auto* option : {&tab, &model, &generate, &evaluate, &screenshot, &size, &benchRotate, &frames})
            parser.addOption(*option);
    }
};

// The file given, else a 3-phase demo microstructure, so the studio never
// opens empty. False when the file cannot be read for a screenshot.
bool openStartupVolume(ms::ui::MainWindow& window, const QStringList& files, bool forScreenshot) {
    if (!files.isEmpty()) return window.openFile(files.first(), forScreenshot) || !forScreenshot;
    ms::SyntheticOptions demo;
    demo.donorFraction = 0.42;
    demo.mixedFraction = 0.16;
    demo.seed = 2026;
    window.setVolume(ms::syntheticMicrostructure(ms::Dims{96, 96, 48}, demo), "demo");
    return true;
}

// --tab NAME: the first tab whose title starts with it; false (after a
// message) when none does.
bool showTab(ms::ui::MainWindow& window, const QString& wanted) {
    const QString name = wanted.toLower();
    bool found = false;
    for (int i = 0; i < window.tabs()->count(); ++i)
        if (window.tabs()->tabText(i).remove('&').toLower().startsWith(name)) {
            window.tabs()->setCurrentIndex(i);
            found = true;
        }
    if (!found) std::fprintf(stderr, "microstudio: unknown tab '%s'\n", qPrintable(name));
    return found;
}

// --model NAME: the Design tab's generator; false (after a one-line
// message naming the installed ones) when there is none of that name or it
// does not load.
bool loadStartupModel(ms::ui::MainWindow& window, const QString& wanted) {
#ifdef MICROSTUDIO_HAVE_DESIGN
    const QString path = ms::ui::DesignPanel::findGenerator(wanted);
    if (path.isEmpty()) {
        const QStringList installed = ms::ui::DesignPanel::installedGeneratorNames();
        std::fprintf(stderr, "microstudio: --model: no 3D generator '%s' (installed: %s)\n", qPrintable(wanted),
                     installed.isEmpty() ? "none" : qPrintable(installed.join(", ")));
        return false;
    }
    if (window.design()->loadModel(path, true)) return true;
    std::fprintf(stderr, "microstudio: --model: %s does not load as a 3D generator\n", qPrintable(path));
    return false;
#else
    (void)window;
    std::fprintf(stderr, "microstudio: --model: built without the Design tab (%s)\n", qPrintable(wanted));
    return false;
#endif
}

// --screenshot OUT: the shown tab's default action, then the window saved
// to OUT and the program's exit (status 1 when the picture is not written
// or the action does not finish in 10 minutes). False when it cannot start.
bool scheduleScreenshot(ms::ui::MainWindow& window, const QString& out, bool generate, bool evaluate,
                        const QString& scratch) {
    auto shoot = [&window, out] {
        // Let the last results paint (charts, slice views, 3D views) first.
        QTimer::singleShot(300, &window, [&window, out] {
            for (auto* view : window.findChildren<ms::render::VtkWidget*>()) view->requestRender();
            QApplication::processEvents();
            const QImage image = window.grab().toImage();
            const bool ok = !image.isNull() && image.save(out);
            if (!ok) std::fprintf(stderr, "microstudio: cannot write screenshot %s\n", qPrintable(out));
            QApplication::exit(ok ? 0 : 1);
        });
    };
    if (!startDefaultAction(window, generate, evaluate, scratch, shoot)) return false;
    // A default action that never ends must not hang scripts and tests.
    QTimer::singleShot(600000, &window, [] {
        std::fprintf(stderr, "microstudio: the tab's default action did not finish in 10 minutes\n");
        QApplication::exit(1);
    });
    return true;
}

// --generate without --screenshot: the Design tab generates at start-up.
void generateAtStartup(ms::ui::MainWindow& window) {
#ifdef MICROSTUDIO_HAVE_DESIGN
    window.tabs()->setCurrentWidget(window.design());
    QTimer::singleShot(0, window.design(), &ms::ui::DesignPanel::generate);
#else
    (void)window;
#endif
}

}  // namespace

int main(int argc, char** argv) {
    ms::io::startHdf5Reader();  // forked now, while this process has one thread
    setDefaultSurfaceFormat();
    printWithoutDisplay(argc, argv);
    QApplication app(argc, argv);
    QApplication::setOrganizationName("MicroStudio");
    QApplication::setApplicationName("MicroStudio");
    QApplication::setApplicationVersion(MICROSTUDIO_VERSION);
    searchUserModels();

    QCommandLineParser parser;
    const StartupOptions options(parser);
    parser.process(app);
    if (parser.isSet(options.benchRotate))
        return benchRotate(parser.value(options.benchRotate), parser.value(options.frames),
                           parseSize(parser.isSet(options.size) ? parser.value(options.size) : "800x600"));

    const bool forScreenshot = parser.isSet(options.screenshot);
    ms::ui::MainWindow window;
    if (!openStartupVolume(window, parser.positionalArguments(), forScreenshot)) return 1;
    if (forScreenshot) {
        const QSize windowSize = parseSize(parser.value(options.size));
        if (!windowSize.isValid()) {
            std::fprintf(stderr, "microstudio: --size expects WIDTHxHEIGHT\n");
            return 2;
        }
        window.resize(windowSize);
    }
    if (parser.isSet(options.tab) && !showTab(window, parser.value(options.tab))) return 2;
    if (parser.isSet(options.model) && !loadStartupModel(window, parser.value(options.model))) return 2;
    window.show();
    // Scratch files of the default actions (demo data, a demo model) go away on exit.
    QTemporaryDir scratch;
    if (forScreenshot) {
        if (!scheduleScreenshot(window, parser.value(options.screenshot), parser.isSet(options.generate),
                                parser.isSet(options.evaluate), scratch.path()))
            return 1;
    } else if (parser.isSet(options.generate)) {
        generateAtStartup(window);
    }
    return app.exec();
}
