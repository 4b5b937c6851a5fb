// microstudio: the studio's window. `microstudio [FILE] [--screenshot OUT.png]`.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QSurfaceFormat>
#include <QTabWidget>
#include <QTimer>
#include <cstdio>

#include "microstudio/core/synthetic.hpp"
#include "microstudio/render/vtk_widget.hpp"
#include "microstudio/ui/main_window.hpp"
#include "microstudio/ui/noise_lab_panel.hpp"

int main(int argc, char** argv) {
    // VTK needs a 3.2 core profile; it must be the default before QApplication.
    QSurfaceFormat format;
    format.setRenderableType(QSurfaceFormat::OpenGL);
    format.setVersion(3, 2);
    format.setProfile(QSurfaceFormat::CoreProfile);
    format.setDepthBufferSize(24);
    format.setAlphaBufferSize(8);
    format.setSamples(0);
    QSurfaceFormat::setDefaultFormat(format);

    QApplication app(argc, argv);
    QApplication::setOrganizationName("MicroStudio");
    QApplication::setApplicationName("MicroStudio");
    QApplication::setApplicationVersion(MICROSTUDIO_VERSION);

    QCommandLineParser parser;
    parser.setApplicationDescription("MicroStudio: design studio for materials microstructures");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("file", "Microstructure to open (.vti, .h5, .txt, .png)");
    QCommandLineOption screenshot("screenshot", "Render the window after start-up, save it to <file> and exit.", "file");
    QCommandLineOption size("size", "Window size for --screenshot, WIDTHxHEIGHT (default 1280x800).", "size", "1280x800");
    QCommandLineOption tab("tab", "Tab to show at start-up: viewer or noise.", "name");
    parser.addOption(tab);
    parser.addOption(screenshot);
    parser.addOption(size);
    parser.process(app);

    ms::ui::MainWindow window;
    const QStringList files = parser.positionalArguments();
    if (!files.isEmpty()) {
        if (!window.openFile(files.first(), parser.isSet(screenshot)) && parser.isSet(screenshot)) return 1;
    } else {
        // No file: a 3-phase demo microstructure, so the studio never opens empty.
        ms::SyntheticOptions demo;
        demo.donorFraction = 0.42;
        demo.mixedFraction = 0.16;
        demo.seed = 2026;
        window.setVolume(ms::syntheticMicrostructure(ms::Dims{96, 96, 48}, demo), "demo");
    }
    if (parser.isSet(screenshot)) {
        const QStringList wh = parser.value(size).split('x');
        if (wh.size() != 2 || wh[0].toInt() <= 0 || wh[1].toInt() <= 0) {
            std::fprintf(stderr, "microstudio: --size expects WIDTHxHEIGHT\n");
            return 2;
        }
        window.resize(wh[0].toInt(), wh[1].toInt());
    }
    if (parser.isSet(tab)) {
        const QString name = parser.value(tab).toLower();
        bool found = false;
        for (int i = 0; i < window.tabs()->count(); ++i)
            if (window.tabs()->tabText(i).remove('&').toLower().startsWith(name)) {
                window.tabs()->setCurrentIndex(i);
                found = true;
            }
        if (!found) {
            std::fprintf(stderr, "microstudio: unknown tab '%s'\n", qPrintable(name));
            return 2;
        }
    }
    window.show();
    if (parser.isSet(screenshot)) {
        const QString out = parser.value(screenshot);
        QTimer::singleShot(300, &window, [&] {
            window.noiseLab()->waitForPreview();
            window.view3d()->requestRender();
            QApplication::processEvents();
            const QImage image = window.grab().toImage();
            const bool ok = !image.isNull() && image.save(out);
            if (!ok) std::fprintf(stderr, "microstudio: cannot write screenshot %s\n", qPrintable(out));
            QApplication::exit(ok ? 0 : 1);
        });
    }
    return app.exec();
}
