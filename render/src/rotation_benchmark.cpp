#include "microstudio/render/rotation_benchmark.hpp"

#include <vtkCamera.h>
#include <vtkGenericOpenGLRenderWindow.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>

#include <QApplication>
#include <QEventLoop>
#include <QElapsedTimer>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QTimer>
#include <QWindow>
#include <algorithm>
#include <vector>

#include "microstudio/core/error.hpp"
#include "microstudio/core/process.hpp"
#include "microstudio/render/phase_scene.hpp"
#include "microstudio/render/vtk_widget.hpp"

namespace ms::render {

namespace {

constexpr int kExposeTimeoutMs = 20000;
constexpr int kFrameTimeoutMs = 600000;  // a scene frame
constexpr int kEmptyFrameTimeoutMs = 60000;

// One picture as the studio shows it, timed from the request to the
// window's buffer swap: VTK's render, the copy into Qt's framebuffer, the
// window's composition. Qt turns a repaint() within a refresh interval of
// the last one into a later update, so the frame is awaited in the event loop.
double timedFrame(VtkWidget& view, int timeoutMs = kFrameTimeoutMs) {
    QEventLoop loop;
    bool shown = false;
    QObject::connect(&view, &QOpenGLWidget::frameSwapped, &loop, [&loop, &shown] {
        shown = true;
        loop.quit();
    });
    QTimer timeout;
    timeout.setSingleShot(true);
    QObject::connect(&timeout, &QTimer::timeout, &loop, &QEventLoop::quit);
    QElapsedTimer clock;
    clock.start();
    timeout.start(timeoutMs);
    view.requestRender();
    loop.exec();
    if (!shown)
        throw Error("rotation benchmark: the 3D view showed no frame within " + std::to_string(timeoutMs / 1000) +
                    " s");
    view.makeCurrent();
    view.context()->functions()->glFinish();
    view.doneCurrent();
    return double(clock.nsecsElapsed()) * 1e-9;
}

// Shows the view and waits until the display has mapped it and it has an
// OpenGL context VTK can draw in.
void showAndWait(VtkWidget& view, QSize size) {
    view.setWindowTitle("MicroStudio rotation benchmark");
    view.resize(size);
    view.show();
    QElapsedTimer waited;
    waited.start();
    while (!(view.windowHandle() && view.windowHandle()->isExposed()) && waited.elapsed() < kExposeTimeoutMs)
        QApplication::processEvents(QEventLoop::AllEvents, 50);
    if (!(view.windowHandle() && view.windowHandle()->isExposed()))
        throw Error("rotation benchmark: the display did not show the 3D view's window");
    timedFrame(view, kEmptyFrameTimeoutMs);  // initializeGL, then a first (empty) picture
    if (!view.isValid() || !view.context())
        throw Error("rotation benchmark: the 3D view got no OpenGL context on this display");
}

// One turn about the view's vertical axis, as a trackball drag turns it.
RotationFigures turn(VtkWidget& view, int frames, double updateRate, ProgressToken* progress, int firstFrame,
                     int allFrames) {
    view.renderWindow()->SetDesiredUpdateRate(updateRate);
    vtkCamera* camera = view.renderer()->GetActiveCamera();
    std::vector<double> seconds;
    for (int i = 0; i < frames; ++i) {
        if (progress) progress->report(double(firstFrame + i) / allFrames, "rotating");
        camera->Azimuth(360.0 / frames);
        camera->OrthogonalizeViewUp();
        view.renderer()->ResetCameraClippingRange();
        seconds.push_back(timedFrame(view));
    }
    RotationFigures figures;
    figures.frames = frames;
    for (double s : seconds) figures.seconds += s;
    figures.framesPerSecond = figures.seconds > 0 ? frames / figures.seconds : 0.0;
    std::nth_element(seconds.begin(), seconds.begin() + frames / 2, seconds.end());
    figures.medianFrameSeconds = seconds[std::size_t(frames / 2)];
    return figures;
}

std::string glRenderer(VtkWidget& view) {
    view.makeCurrent();
    const auto* name = view.context()->functions()->glGetString(GL_RENDERER);
    view.doneCurrent();
    return name ? reinterpret_cast<const char*>(name) : "unknown";
}

}  // namespace

RotationBenchmark benchmarkRotation(const Volume& volume, int frames, QSize size, ProgressToken* progress) {
    if (frames < 1) throw Error("rotation benchmark: frames must be at least 1, not " + std::to_string(frames));
    if (size.width() < 1 || size.height() < 1 || size.width() > VtkWidget::kMaxImageSide ||
        size.height() > VtkWidget::kMaxImageSide)
        throw Error("rotation benchmark: view size " + std::to_string(size.width()) + "x" +
                    std::to_string(size.height()) + " is outside 1.." + std::to_string(VtkWidget::kMaxImageSide));
    if (!qobject_cast<QApplication*>(QCoreApplication::instance()))
        throw Error("rotation benchmark: needs a QApplication (a window on a display)");
    VtkWidget view;
    PhaseScene scene(view.renderer());  // as the viewer builds its 3D view
    showAndWait(view, size);
    RotationBenchmark result;
    result.size = size;
    result.glRenderer = glRenderer(view);
    QElapsedTimer clock;
    clock.start();
    scene.setVolume(volume);
    result.sceneBuildSeconds = double(clock.nsecsElapsed()) * 1e-9;
    result.triangles = scene.triangleCount();
    result.movingTriangles = scene.movingTriangleCount();
    vtkRenderWindowInteractor* interactor = view.renderWindow()->GetInteractor();
    view.renderWindow()->SetDesiredUpdateRate(interactor->GetStillUpdateRate());
    result.firstFrameSeconds = timedFrame(view);
    result.still = turn(view, frames, interactor->GetStillUpdateRate(), progress, 0, 2 * frames);
    view.renderWindow()->SetDesiredUpdateRate(interactor->GetDesiredUpdateRate());
    result.firstMovingFrameSeconds = timedFrame(view);
    result.moving = turn(view, frames, interactor->GetDesiredUpdateRate(), progress, frames, 2 * frames);
    view.renderWindow()->SetDesiredUpdateRate(interactor->GetStillUpdateRate());
    if (progress) progress->report(1.0, "rotated");
    result.load = ms::machineLoad();
    return result;
}

}  // namespace ms::render
