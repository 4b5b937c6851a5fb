#pragma once
// A QOpenGLWidget that hosts a VTK render window (Debian's VTK Qt module is
// Qt 5 only, so we embed VTK in Qt 6 ourselves; see docs/rendering.md).
#include <QOpenGLWidget>
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
