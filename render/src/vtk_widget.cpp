#include "microstudio/render/vtk_widget.hpp"

#include <vtkCallbackCommand.h>
#include <vtkCommand.h>
#include <vtkGenericOpenGLRenderWindow.h>
#include <vtkGenericRenderWindowInteractor.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkNew.h>
#include <vtkOpenGLState.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>

#include <QMouseEvent>
#include <QOpenGLContext>
#include <QOpenGLExtraFunctions>
#include <QOpenGLFunctions>
#include <QWheelEvent>

namespace ms::render {

struct VtkWidget::Impl {
    vtkSmartPointer<vtkGenericOpenGLRenderWindow> window = vtkSmartPointer<vtkGenericOpenGLRenderWindow>::New();
    vtkSmartPointer<vtkRenderer> renderer = vtkSmartPointer<vtkRenderer>::New();
    vtkSmartPointer<vtkGenericRenderWindowInteractor> interactor =
        vtkSmartPointer<vtkGenericRenderWindowInteractor>::New();
    vtkSmartPointer<vtkCallbackCommand> observer = vtkSmartPointer<vtkCallbackCommand>::New();
    QSurface* surface = nullptr;
    bool needsRender = true;
    bool inPaint = false;
};

namespace {

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
    renderRequest->SetCallback([](vtkObject*, unsigned long, void* self, void*) {
        static_cast<VtkWidget*>(self)->requestRender();
    });
    w.interactor->AddObserver(vtkCommand::RenderEvent, renderRequest);
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

void VtkWidget::finalizeGL() {
    if (!context() || !impl_->window->GetReadyForRendering()) return;
    makeCurrent();
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
    vtkOpenGLState* state = w.window->GetState();
    state->Reset();
    state->Push();
    state->vtkglDepthFunc(GL_LEQUAL);
    // Always render: Qt may have reallocated its framebuffer since.
    w.inPaint = true;
    w.window->Render();
    w.inPaint = false;
    w.needsRender = false;
    // Copy VTK's picture into the widget's framebuffer.
    QOpenGLFunctions* gl = context()->functions();
    const qreal dpr = devicePixelRatioF();
    const int* size = w.window->GetSize();
    gl->glBindFramebuffer(GL_DRAW_FRAMEBUFFER, defaultFramebufferObject());
    const GLenum buffer = GL_COLOR_ATTACHMENT0;
    context()->extraFunctions()->glDrawBuffers(1, &buffer);
    w.window->BlitDisplayFramebuffer(0, 0, 0, size[0], size[1], 0, 0, int(width() * dpr), int(height() * dpr),
                                     GL_COLOR_BUFFER_BIT, GL_NEAREST);
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
        case Qt::LeftButton: forwardMouse(e, vtkCommand::LeftButtonPressEvent); break;
        case Qt::RightButton: forwardMouse(e, vtkCommand::RightButtonPressEvent); break;
        case Qt::MiddleButton: forwardMouse(e, vtkCommand::MiddleButtonPressEvent); break;
        default: break;
    }
}

void VtkWidget::mouseReleaseEvent(QMouseEvent* e) {
    switch (e->button()) {
        case Qt::LeftButton: forwardMouse(e, vtkCommand::LeftButtonReleaseEvent); break;
        case Qt::RightButton: forwardMouse(e, vtkCommand::RightButtonReleaseEvent); break;
        case Qt::MiddleButton: forwardMouse(e, vtkCommand::MiddleButtonReleaseEvent); break;
        default: break;
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
    impl_->interactor->InvokeEvent(e->angleDelta().y() > 0 ? vtkCommand::MouseWheelForwardEvent
                                                           : vtkCommand::MouseWheelBackwardEvent,
                                   e);
    requestRender();
}

}  // namespace ms::render
