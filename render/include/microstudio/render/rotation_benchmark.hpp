#pragma once
// How fast the studio's 3D view turns a volume: the viewer's phase scene
// (PhaseScene on a VtkWidget) in a window on the current display, its camera
// turned about the vertical axis frame by frame, once at full detail (the
// view at rest) and once as while the mouse drags it (the level of detail).
#include <QSize>
#include <string>

#include "microstudio/core/progress.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::render {

// One turn of the camera: `frames` pictures, each after an azimuth step of
// 360 / frames degrees.
struct RotationFigures {
    int frames = 0;
    double seconds = 0.0;          // all frames together
    double framesPerSecond = 0.0;  // frames / seconds
    double medianFrameSeconds = 0.0;
};

struct RotationBenchmark {
    QSize size;                            // of the view, pixels
    double sceneBuildSeconds = 0.0;        // PhaseScene::setVolume: surfaces extracted, level of detail built
    double firstFrameSeconds = 0.0;        // the first picture (surfaces uploaded to OpenGL)
    double firstMovingFrameSeconds = 0.0;  // the first while moving (decimated surfaces uploaded)
    long long triangles = 0;               // PhaseScene::triangleCount(): the view at rest
    long long movingTriangles = 0;         // PhaseScene::movingTriangleCount(): while it turns
    RotationFigures still;                 // full detail
    RotationFigures moving;                // at the interactor's interactive update rate
    std::string glRenderer;                // GL_RENDERER, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
    std::string load;                      // /proc/loadavg's 1, 5 and 15 minute loads after the run
};

// Renders `volume` in a `size` window (a QApplication and a display with
// OpenGL are needed) and turns it twice, `frames` frames per turn. Reports
// to `progress` per frame (cancel throws ms::Cancelled). Throws ms::Error
// for frames < 1, a size outside 1..VtkWidget::kMaxImageSide, or when the
// window gets no OpenGL context.
RotationBenchmark benchmarkRotation(const Volume& volume, int frames, QSize size = QSize(800, 600),
                                    ProgressToken* progress = nullptr);

}  // namespace ms::render
