#pragma once
// A QOpenGLWidget that hosts a VTK render window (Debian's VTK Qt module is
// Qt 5 only, so we embed VTK in Qt 6 ourselves; see docs/rendering.md),
// with an orientation axes triad (x red, y green, z blue) in the lower left
// corner that turns with the camera, as in ParaView. While the mouse turns
// the camera (the interactor's interactive update rate) frames are drawn at
// half the resolution without anti-aliasing; at rest in full.
#include <QImage>
#include <QOpenGLWidget>
#include <QRectF>
#include <memory>

class vtkRenderer;
class vtkGenericOpenGLRenderWindow;

namespace ms::render {

class VtkWidget : public QOpenGLWidget {
    Q_OBJECT
public:
    explicit VtkWidget(QWidget* parent = nullptr);
    ~VtkWidget() override;

    vtkRenderer* renderer() const;
    vtkGenericOpenGLRenderWindow* renderWindow() const;
    // Schedules a VTK render on the next paint.
    void requestRender();

    // The orientation axes triad: shown once the view has its OpenGL
    // context (the widget was shown), unless hidden here.
    void setOrientationAxesVisible(bool visible);
    bool orientationAxesShown() const;
    // Where the triad is drawn, as fractions of the view (x right, y up).
    QRectF orientationAxesViewport() const;

    // The scene rendered off screen at `size` pixels (the camera's aspect
    // follows the size), e.g. for a screenshot larger than the view. Throws
    // ms::Error before the view was first shown, or for a size outside
    // 1..kMaxImageSide per side.
    QImage renderImage(QSize size);
    static constexpr int kMaxImageSide = 8192;

protected:
    void initializeGL() override;
    void resizeGL(int w, int h) override;
    void paintGL() override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseReleaseEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void mouseDoubleClickEvent(QMouseEvent* e) override;
    void wheelEvent(QWheelEvent* e) override;

private:
    void forwardMouse(QMouseEvent* e, unsigned long vtkEvent, bool doubleClick = false);
    void finalizeGL();

    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ms::render
