#include "microstudio/render/vtk_widget.hpp"

#include <vtkAxesActor.h>
#include <vtkCallbackCommand.h>
#include <vtkCaptionActor2D.h>
#include <vtkCommand.h>
#include <vtkGenericOpenGLRenderWindow.h>
#include <vtkGenericRenderWindowInteractor.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkImageData.h>
#include <vtkNew.h>
#include <vtkOpenGLState.h>
#include <vtkOrientationMarkerWidget.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkTextActor.h>
#include <vtkTextProperty.h>
#include <vtkWindowToImageFilter.h>

#include <QMouseEvent>
#include <QOpenGLContext>
#include <QOpenGLExtraFunctions>
#include <QOpenGLFunctions>
#include <QWheelEvent>
#include <algorithm>
#include <cstring>

#include "microstudio/core/error.hpp"
#include "microstudio/render/phase_scene.hpp"

namespace ms::render {

struct VtkWidget::Impl {
    vtkSmartPointer<vtkGenericOpenGLRenderWindow> window = vtkSmartPointer<vtkGenericOpenGLRenderWindow>::New();
    vtkSmartPointer<vtkRenderer> renderer = vtkSmartPointer<vtkRenderer>::New();
    vtkSmartPointer<vtkGenericRenderWindowInteractor> interactor =
        vtkSmartPointer<vtkGenericRenderWindowInteractor>::New();
    vtkSmartPointer<vtkCallbackCommand> observer = vtkSmartPointer<vtkCallbackCommand>::New();
    vtkSmartPointer<vtkAxesActor> axes = vtkSmartPointer<vtkAxesActor>::New();
    vtkSmartPointer<vtkOrientationMarkerWidget> orientation = vtkSmartPointer<vtkOrientationMarkerWidget>::New();
    bool axesWanted = true;
    QSurface* surface = nullptr;
    bool needsRender = true;
    bool inPaint = false;
    const int stillMultiSamples = window->GetMultiSamples();

    // The interactor asks for its interactive update rate while the mouse turns the camera.
    bool moving() const { return window->GetDesiredUpdateRate() > PhaseScene::kMovingUpdateRate; }

    // One VTK render into the current context, its GL state pushed first
    // (the caller pops it once done with the picture).
    vtkOpenGLState* renderNow() {
        // No anti-aliasing while the camera moves: 8x multisampling triples
        // the time of a frame in software OpenGL (docs/benchmarks.md).
        window->SetMultiSamples(moving() ? 0 : stillMultiSamples);
        vtkOpenGLState* state = window->GetState();
        state->Reset();
        state->Push();
        state->vtkglDepthFunc(GL_LEQUAL);
        inPaint = true;
        window->Render();
        inPaint = false;
        return state;
    }
};

namespace {

constexpr double kAxesViewport[4] = {0.0, 0.0, 0.2, 0.2};  // lower left corner

// x red, y green, z blue (vtkAxesActor's colours), labelled, no shading of the labels.
void styleAxes(vtkAxesActor& axes) {
    axes.SetShaftTypeToCylinder();
    axes.SetCylinderRadius(0.06);
    axes.SetConeRadius(0.5);
    axes.SetTotalLength(1.0, 1.0, 1.0);
    for (vtkCaptionActor2D* label :
         {axes.GetXAxisCaptionActor2D(), axes.GetYAxisCaptionActor2D(), axes.GetZAxisCaptionActor2D()}) {
        label->GetTextActor()->SetTextScaleModeToNone();
        label->GetCaptionTextProperty()->SetFontSize(14);
        label->GetCaptionTextProperty()->SetColor(0.95, 0.95, 0.95);
        label->GetCaptionTextProperty()->ShadowOn();
        label->GetCaptionTextProperty()->ItalicOff();
    }
}

// VTK asks to make the context current in the middle of Render(): only the
// QOpenGLContext call is safe there (QOpenGLWidget::makeCurrent would rebind
// Qt's FBO behind VTK's state cache and the picture turns black).
void onWindowEvent(vtkObject*, unsigned long event, void* clientData, void* callData) {
    auto* self = static_cast<VtkWidget*>(clientData);
    QOpenGLContext* ctx = self->context();
    switch (event) {
        case vtkCommand::WindowMakeCurrentEvent:
            if (ctx && QOpenGLContext::currentContext() != ctx) ctx->makeCurrent(ctx->surface());
            break;
        case vtkCommand::WindowIsCurrentEvent:
            if (callData) *static_cast<bool*>(callData) = ctx && QOpenGLContext::currentContext() == ctx;
            break;
        case vtkCommand::WindowFrameEvent:
            self->update();
            break;
        default:
            break;
    }
}

}  // namespace

VtkWidget::VtkWidget(QWidget* parent) : QOpenGLWidget(parent), impl_(std::make_unique<Impl>()) {
    setMouseTracking(false);
    setFocusPolicy(Qt::StrongFocus);
    setMinimumSize(200, 200);
    auto& w = *impl_;
    w.window->SetReadyForRendering(false);
    w.window->SetFrameBlitModeToNoBlit();
    w.window->AddRenderer(w.renderer);
    w.renderer->SetBackground(0.11, 0.12, 0.14);
    w.renderer->SetBackground2(0.28, 0.30, 0.34);
    w.renderer->GradientBackgroundOn();
    w.interactor->SetRenderWindow(w.window);
    vtkNew<vtkInteractorStyleTrackballCamera> style;
    w.interactor->SetInteractorStyle(style);
    w.interactor->EnableRenderOff();  // we render from paintGL
    w.interactor->Initialize();
    w.observer->SetClientData(this);
    w.observer->SetCallback(onWindowEvent);
    w.window->AddObserver(vtkCommand::WindowMakeCurrentEvent, w.observer);
    w.window->AddObserver(vtkCommand::WindowIsCurrentEvent, w.observer);
    w.window->AddObserver(vtkCommand::WindowFrameEvent, w.observer);
    // Interactor renders (mouse drags) become widget repaints.
    vtkNew<vtkCallbackCommand> renderRequest;
    renderRequest->SetClientData(this);
    renderRequest->SetCallback(
        [](vtkObject*, unsigned long, void* self, void*) { static_cast<VtkWidget*>(self)->requestRender(); });
    w.interactor->AddObserver(vtkCommand::RenderEvent, renderRequest);
    styleAxes(*w.axes);
    w.orientation->SetOrientationMarker(w.axes);
    w.orientation->SetInteractor(w.interactor);
    w.orientation->SetDefaultRenderer(w.renderer);  // the camera the triad follows
    w.orientation->SetViewport(kAxesViewport[0], kAxesViewport[1], kAxesViewport[2], kAxesViewport[3]);
    w.orientation->SetZoom(1.5);  // the actor's bounds are symmetric about its origin: half of them is empty
}

VtkWidget::~VtkWidget() {
    finalizeGL();
    // QOpenGLWidget's destructor destroys the context after impl_ is gone.
    if (context()) disconnect(context(), nullptr, this, nullptr);
    impl_->window->RemoveObserver(impl_->observer);
}

vtkRenderer* VtkWidget::renderer() const { return impl_->renderer; }
vtkGenericOpenGLRenderWindow* VtkWidget::renderWindow() const { return impl_->window; }

void VtkWidget::requestRender() {
    impl_->needsRender = true;
    update();
}

void VtkWidget::setOrientationAxesVisible(bool visible) {
    auto& w = *impl_;
    w.axesWanted = visible;
    // The triad's renderer joins the window only with a context to draw in.
    if (w.window->GetReadyForRendering() && bool(w.orientation->GetEnabled()) != visible) {
        makeCurrent();
        w.orientation->SetCurrentRenderer(w.renderer);
        w.orientation->SetEnabled(visible);
        if (visible) w.orientation->InteractiveOff();
        doneCurrent();
    }
    requestRender();
}

bool VtkWidget::orientationAxesShown() const {
    return impl_->orientation->GetEnabled() && impl_->axes->GetVisibility();
}

QRectF VtkWidget::orientationAxesViewport() const {
    return QRectF(QPointF(kAxesViewport[0], kAxesViewport[1]), QPointF(kAxesViewport[2], kAxesViewport[3]));
}

QImage VtkWidget::renderImage(QSize size) {
    auto& w = *impl_;
    if (!context() || !w.window->GetReadyForRendering())
        throw Error("the 3D view has not been shown yet: nothing to render");
    if (size.width() < 1 || size.height() < 1 || size.width() > kMaxImageSide || size.height() > kMaxImageSide)
        throw Error("image size " + std::to_string(size.width()) + "x" + std::to_string(size.height()) +
                    " is outside 1.." + std::to_string(kMaxImageSide) + " per side");
    makeCurrent();
    const int* now = w.window->GetSize();
    const int oldWidth = now[0], oldHeight = now[1];
    w.window->SetSize(size.width(), size.height());
    vtkOpenGLState* state = w.renderNow();
    vtkNew<vtkWindowToImageFilter> grab;
    grab->SetInput(w.window);
    grab->SetInputBufferTypeToRGB();
    grab->ReadFrontBufferOn();  // the resolved picture (what paintGL blits)
    grab->ShouldRerenderOff();
    grab->Update();
    state->Pop();
    w.window->SetSize(oldWidth, oldHeight);
    doneCurrent();
    requestRender();
    vtkImageData* pixels = grab->GetOutput();
    int dims[3];
    pixels->GetDimensions(dims);
    if (dims[0] != size.width() || dims[1] != size.height())
        throw Error("the 3D view rendered " + std::to_string(dims[0]) + "x" + std::to_string(dims[1]) + " instead of " +
                    std::to_string(size.width()) + "x" + std::to_string(size.height()));
    auto* rgb = static_cast<const unsigned char*>(pixels->GetScalarPointer());
    QImage image(size, QImage::Format_RGB888);
    // VTK's rows run bottom up.
    for (int y = 0; y < size.height(); ++y)
        std::memcpy(image.scanLine(size.height() - 1 - y), rgb + std::size_t(y) * std::size_t(size.width()) * 3,
                    std::size_t(size.width()) * 3);
    return image;
}

void VtkWidget::finalizeGL() {
    if (!context() || !impl_->window->GetReadyForRendering()) return;
    makeCurrent();
    // The triad's renderer leaves with the context (it is added back in initializeGL).
    if (impl_->orientation->GetEnabled()) impl_->orientation->SetEnabled(0);
    impl_->window->Finalize();
    impl_->window->SetReadyForRendering(false);
    doneCurrent();
}

void VtkWidget::initializeGL() {
    auto& w = *impl_;
    w.surface = context()->surface();
    connect(context(), &QOpenGLContext::aboutToBeDestroyed, this, &VtkWidget::finalizeGL, Qt::DirectConnection);
    if (auto* state = w.window->GetState()) {
        state->Reset();
        state->vtkglDepthFunc(GL_LEQUAL);
    }
    w.window->SetOwnContext(0);
    w.window->OpenGLInitContext();
    w.window->SetReadyForRendering(true);
    if (w.axesWanted) {
        w.orientation->SetCurrentRenderer(w.renderer);
        w.orientation->SetEnabled(1);
        w.orientation->InteractiveOff();
    }
    w.needsRender = true;
}

void VtkWidget::resizeGL(int w, int h) {
    const qreal dpr = devicePixelRatioF();
    impl_->interactor->UpdateSize(int(w * dpr), int(h * dpr));
    impl_->window->SetSize(int(w * dpr), int(h * dpr));
    impl_->needsRender = true;
}

void VtkWidget::paintGL() {
    auto& w = *impl_;
    if (!w.window->GetReadyForRendering()) return;
    // Always render: Qt may have reallocated its framebuffer since. While the
    // camera moves, at half the resolution, scaled up: a frame's time in
    // software OpenGL goes with its pixels (docs/benchmarks.md). The size
    // is back before any event sees it (the trackball scales turns by it).
    const int fullWidth = w.window->GetSize()[0], fullHeight = w.window->GetSize()[1];
    const bool reduced = w.moving();
    if (reduced) w.window->SetSize(std::max(1, fullWidth / 2), std::max(1, fullHeight / 2));
    vtkOpenGLState* state = w.renderNow();
    w.needsRender = false;
    const int renderedWidth = w.window->GetSize()[0], renderedHeight = w.window->GetSize()[1];
    if (reduced) w.window->SetSize(fullWidth, fullHeight);
    // Copy VTK's picture into the widget's framebuffer.
    QOpenGLFunctions* gl = context()->functions();
    const qreal dpr = devicePixelRatioF();
    gl->glBindFramebuffer(GL_DRAW_FRAMEBUFFER, defaultFramebufferObject());
    const GLenum buffer = GL_COLOR_ATTACHMENT0;
    context()->extraFunctions()->glDrawBuffers(1, &buffer);
    w.window->BlitDisplayFramebuffer(0, 0, 0, renderedWidth, renderedHeight, 0, 0, int(width() * dpr),
                                     int(height() * dpr), GL_COLOR_BUFFER_BIT, reduced ? GL_LINEAR : GL_NEAREST);
    // VTK leaves alpha 0; make it opaque so grabFramebuffer() shows the picture.
    GLboolean mask[4];
    gl->glGetBooleanv(GL_COLOR_WRITEMASK, mask);
    gl->glColorMask(GL_FALSE, GL_FALSE, GL_FALSE, GL_TRUE);
    gl->glClearColor(0, 0, 0, 1);
    gl->glClear(GL_COLOR_BUFFER_BIT);
    gl->glColorMask(mask[0], mask[1], mask[2], mask[3]);
    state->Pop();
}

void VtkWidget::forwardMouse(QMouseEvent* e, unsigned long vtkEvent, bool doubleClick) {
    const qreal dpr = devicePixelRatioF();
    const QPointF p = e->position();
    impl_->interactor->SetEventInformationFlipY(int(p.x() * dpr), int(p.y() * dpr),
                                                (e->modifiers() & Qt::ControlModifier) ? 1 : 0,
                                                (e->modifiers() & Qt::ShiftModifier) ? 1 : 0, 0, doubleClick ? 1 : 0);
    impl_->interactor->InvokeEvent(vtkEvent, e);
    requestRender();
}

void VtkWidget::mousePressEvent(QMouseEvent* e) {
    switch (e->button()) {
        case Qt::LeftButton:
            forwardMouse(e, vtkCommand::LeftButtonPressEvent);
            break;
        case Qt::RightButton:
            forwardMouse(e, vtkCommand::RightButtonPressEvent);
            break;
        case Qt::MiddleButton:
            forwardMouse(e, vtkCommand::MiddleButtonPressEvent);
            break;
        default:
            break;
    }
}

void VtkWidget::mouseReleaseEvent(QMouseEvent* e) {
    switch (e->button()) {
        case Qt::LeftButton:
            forwardMouse(e, vtkCommand::LeftButtonReleaseEvent);
            break;
        case Qt::RightButton:
            forwardMouse(e, vtkCommand::RightButtonReleaseEvent);
            break;
        case Qt::MiddleButton:
            forwardMouse(e, vtkCommand::MiddleButtonReleaseEvent);
            break;
        default:
            break;
    }
}

void VtkWidget::mouseMoveEvent(QMouseEvent* e) { forwardMouse(e, vtkCommand::MouseMoveEvent); }

void VtkWidget::mouseDoubleClickEvent(QMouseEvent* e) {
    if (e->button() == Qt::LeftButton) forwardMouse(e, vtkCommand::LeftButtonPressEvent, true);
}

void VtkWidget::wheelEvent(QWheelEvent* e) {
    const qreal dpr = devicePixelRatioF();
    const QPointF p = e->position();
    impl_->interactor->SetEventInformationFlipY(int(p.x() * dpr), int(p.y() * dpr), 0, 0);
    impl_->interactor->InvokeEvent(
        e->angleDelta().y() > 0 ? vtkCommand::MouseWheelForwardEvent : vtkCommand::MouseWheelBackwardEvent, e);
    requestRender();
}

}  // namespace ms::render
