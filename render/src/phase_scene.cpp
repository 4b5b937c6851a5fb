#include "microstudio/render/phase_scene.hpp"

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkDiscreteFlyingEdges3D.h>
#include <vtkImageConstantPad.h>
#include <vtkImageData.h>
#include <vtkLineSource.h>
#include <vtkOutlineSource.h>
#include <vtkPointData.h>
#include <vtkPolyDataMapper.h>
#include <vtkPolyDataNormals.h>
#include <vtkProperty.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkUnsignedCharArray.h>

#include <array>
#include <cstring>

#include "microstudio/render/phase_style.hpp"

namespace ms::render {

namespace {
constexpr unsigned char kOutside = 255;  // padding label: closes surfaces at the box faces
}

struct PhaseScene::Impl {
    vtkRenderer* renderer = nullptr;
    std::array<vtkSmartPointer<vtkActor>, kMaxPhases> actors;
    std::array<bool, kMaxPhases> visible{true, true, true};
    std::array<double, kMaxPhases> opacity{1.0, 1.0, 1.0};
    vtkSmartPointer<vtkActor> outline;
    std::array<vtkSmartPointer<vtkLineSource>, 3> crossLines;
    std::array<vtkSmartPointer<vtkActor>, 3> crossActors;
    Dims dims{0, 0, 0};
    std::array<double, 3> spacing{1, 1, 1};

    void applyStyle(int p) {
        if (!actors[p]) return;
        actors[p]->SetVisibility(visible[p]);
        actors[p]->GetProperty()->SetOpacity(opacity[p]);
    }
};

PhaseScene::PhaseScene(vtkRenderer* renderer) : impl_(std::make_unique<Impl>()) { impl_->renderer = renderer; }

PhaseScene::~PhaseScene() {
    auto& s = *impl_;
    for (auto& a : s.actors)
        if (a) s.renderer->RemoveActor(a);
    if (s.outline) s.renderer->RemoveActor(s.outline);
    for (auto& a : s.crossActors)
        if (a) s.renderer->RemoveActor(a);
}

void PhaseScene::setVolume(const Volume& volume) {
    auto& s = *impl_;
    const Dims& d = volume.dims();
    const bool newSize = !(d == s.dims);
    s.dims = d;
    s.spacing = volume.spacing;

    auto image = vtkSmartPointer<vtkImageData>::New();
    image->SetDimensions(d.nx, d.ny, d.nz);
    image->SetSpacing(volume.spacing[0], volume.spacing[1], volume.spacing[2]);
    auto labels = vtkSmartPointer<vtkUnsignedCharArray>::New();
    labels->SetName("phase");
    labels->SetNumberOfValues(vtkIdType(volume.size()));
    std::memcpy(labels->GetPointer(0), volume.labels().data(), volume.size());
    image->GetPointData()->SetScalars(labels);

    auto pad = vtkSmartPointer<vtkImageConstantPad>::New();
    pad->SetInputData(image);
    pad->SetConstant(kOutside);
    pad->SetOutputWholeExtent(-1, d.nx, -1, d.ny, -1, d.nz);

    const auto counts = volume.phaseCounts();
    for (int p = 0; p < kMaxPhases; ++p) {
        if (s.actors[p]) {
            s.renderer->RemoveActor(s.actors[p]);
            s.actors[p] = nullptr;
        }
        if (counts[p] == 0) continue;
        auto surface = vtkSmartPointer<vtkDiscreteFlyingEdges3D>::New();
        surface->SetInputConnection(pad->GetOutputPort());
        surface->SetValue(0, p);
        surface->ComputeNormalsOff();
        surface->ComputeGradientsOff();
        surface->ComputeScalarsOff();
        auto normals = vtkSmartPointer<vtkPolyDataNormals>::New();
        normals->SetInputConnection(surface->GetOutputPort());
        normals->SetFeatureAngle(60);
        normals->ConsistencyOn();
        auto mapper = vtkSmartPointer<vtkPolyDataMapper>::New();
        mapper->SetInputConnection(normals->GetOutputPort());
        mapper->ScalarVisibilityOff();
        auto actor = vtkSmartPointer<vtkActor>::New();
        actor->SetMapper(mapper);
        const Rgb c = phaseColor(p);
        actor->GetProperty()->SetColor(c.r, c.g, c.b);
        actor->GetProperty()->SetAmbient(0.25);
        actor->GetProperty()->SetDiffuse(0.75);
        actor->GetProperty()->SetSpecular(0.15);
        s.actors[p] = actor;
        s.applyStyle(p);
        s.renderer->AddActor(actor);
    }

    if (s.outline) s.renderer->RemoveActor(s.outline);
    auto box = vtkSmartPointer<vtkOutlineSource>::New();
    box->SetBounds(-0.5 * s.spacing[0], (d.nx - 0.5) * s.spacing[0], -0.5 * s.spacing[1], (d.ny - 0.5) * s.spacing[1],
                   -0.5 * s.spacing[2], (d.nz - 0.5) * s.spacing[2]);
    auto boxMapper = vtkSmartPointer<vtkPolyDataMapper>::New();
    boxMapper->SetInputConnection(box->GetOutputPort());
    s.outline = vtkSmartPointer<vtkActor>::New();
    s.outline->SetMapper(boxMapper);
    s.outline->GetProperty()->SetColor(0.85, 0.85, 0.85);
    s.renderer->AddActor(s.outline);

    for (int a = 0; a < 3; ++a) {
        if (!s.crossLines[a]) {
            s.crossLines[a] = vtkSmartPointer<vtkLineSource>::New();
            auto m = vtkSmartPointer<vtkPolyDataMapper>::New();
            m->SetInputConnection(s.crossLines[a]->GetOutputPort());
            s.crossActors[a] = vtkSmartPointer<vtkActor>::New();
            s.crossActors[a]->SetMapper(m);
            s.crossActors[a]->GetProperty()->SetColor(1.0, 1.0, 1.0);
            s.crossActors[a]->GetProperty()->SetLineWidth(2.0);
            s.renderer->AddActor(s.crossActors[a]);
        }
    }
    setCrosshair(d.nx / 2, d.ny / 2, d.nz / 2);
    if (newSize) resetCamera();
}

void PhaseScene::setCrosshair(int x, int y, int z) {
    auto& s = *impl_;
    const Dims& d = s.dims;
    const double px = x * s.spacing[0], py = y * s.spacing[1], pz = z * s.spacing[2];
    const double lo[3] = {-0.5 * s.spacing[0], -0.5 * s.spacing[1], -0.5 * s.spacing[2]};
    const double hi[3] = {(d.nx - 0.5) * s.spacing[0], (d.ny - 0.5) * s.spacing[1], (d.nz - 0.5) * s.spacing[2]};
    if (!s.crossLines[0]) return;
    s.crossLines[0]->SetPoint1(lo[0], py, pz);
    s.crossLines[0]->SetPoint2(hi[0], py, pz);
    s.crossLines[1]->SetPoint1(px, lo[1], pz);
    s.crossLines[1]->SetPoint2(px, hi[1], pz);
    s.crossLines[2]->SetPoint1(px, py, lo[2]);
    s.crossLines[2]->SetPoint2(px, py, hi[2]);
}

void PhaseScene::setPhaseVisible(int phase, bool visible) {
    impl_->visible.at(std::size_t(phase)) = visible;
    impl_->applyStyle(phase);
}

void PhaseScene::setPhaseOpacity(int phase, double opacity) {
    impl_->opacity.at(std::size_t(phase)) = opacity;
    impl_->applyStyle(phase);
}

bool PhaseScene::phaseVisible(int phase) const { return impl_->visible.at(std::size_t(phase)); }
double PhaseScene::phaseOpacity(int phase) const { return impl_->opacity.at(std::size_t(phase)); }

void PhaseScene::resetCamera() {
    auto* cam = impl_->renderer->GetActiveCamera();
    cam->SetPosition(1, -1.6, 1.2);
    cam->SetFocalPoint(0, 0, 0);
    cam->SetViewUp(0, 0, 1);
    impl_->renderer->ResetCamera();
    cam->Zoom(1.15);
    impl_->renderer->ResetCameraClippingRange();
}

}  // namespace ms::render
