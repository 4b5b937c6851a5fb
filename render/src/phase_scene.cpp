#include "microstudio/render/phase_scene.hpp"

#include <vtkActor.h>
#include <vtkActor2D.h>
#include <vtkCallbackCommand.h>
#include <vtkCamera.h>
#include <vtkCellArray.h>
#include <vtkCommand.h>
#include <vtkDiscreteFlyingEdges3D.h>
#include <vtkImageConstantPad.h>
#include <vtkImageData.h>
#include <vtkLineSource.h>
#include <vtkMath.h>
#include <vtkOutlineSource.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataMapper.h>
#include <vtkPolyDataMapper2D.h>
#include <vtkPolyDataNormals.h>
#include <vtkProperty.h>
#include <vtkQuadricClustering.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkProperty2D.h>
#include <vtkSmartPointer.h>
#include <vtkTextActor.h>
#include <vtkTextProperty.h>
#include <vtkUnsignedCharArray.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "microstudio/render/phase_style.hpp"

namespace ms::render {

namespace {
constexpr unsigned char kOutside = 255;  // padding label: closes surfaces at the box faces

// The largest 1, 2 or 5 times a power of ten not above `limit` (> 0).
double roundLengthBelow(double limit) {
    const double decade = std::pow(10.0, std::floor(std::log10(limit)));
    for (double m : {5.0, 2.0, 1.0})
        if (m * decade <= limit * (1 + 1e-9)) return m * decade;
    return decade;
}

std::string number(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
}

// A white bar with end ticks and its label above, in viewport pixels.
struct ScaleBarActors {
    vtkSmartPointer<vtkPoints> points = vtkSmartPointer<vtkPoints>::New();
    vtkSmartPointer<vtkActor2D> bar = vtkSmartPointer<vtkActor2D>::New();
    vtkSmartPointer<vtkTextActor> text = vtkSmartPointer<vtkTextActor>::New();

    ScaleBarActors() {
        points->SetNumberOfPoints(6);
        auto lines = vtkSmartPointer<vtkCellArray>::New();
        for (vtkIdType a : {0, 2, 4}) {
            const vtkIdType ends[2] = {a, a + 1};
            lines->InsertNextCell(2, ends);
        }
        auto poly = vtkSmartPointer<vtkPolyData>::New();
        poly->SetPoints(points);
        poly->SetLines(lines);
        auto mapper = vtkSmartPointer<vtkPolyDataMapper2D>::New();
        mapper->SetInputData(poly);
        bar->SetMapper(mapper);
        bar->GetProperty()->SetColor(1.0, 1.0, 1.0);
        bar->GetProperty()->SetLineWidth(2.0);
        auto* style = text->GetTextProperty();
        style->SetFontSize(13);
        style->SetColor(0.95, 0.95, 0.95);
        style->SetJustificationToCentered();
        style->SetVerticalJustificationToBottom();
        style->ShadowOn();
    }
    void place(double left, double right, double y) {
        const double tick = 5.0;
        const double xy[6][2] = {{left, y},        {right, y},        {left, y - tick},
                                 {left, y + tick}, {right, y - tick}, {right, y + tick}};
        for (int i = 0; i < 6; ++i) points->SetPoint(i, xy[i][0], xy[i][1], 0.0);
        points->Modified();
        text->SetDisplayPosition(int((left + right) / 2), int(y + 6));
    }
};

// The closed surface of one phase of the padded label image, extracted now.
vtkSmartPointer<vtkDiscreteFlyingEdges3D> phaseSurface(vtkImageConstantPad& labels, int phase) {
    auto surface = vtkSmartPointer<vtkDiscreteFlyingEdges3D>::New();
    surface->SetInputConnection(labels.GetOutputPort());
    surface->SetValue(0, phase);
    surface->ComputeNormalsOff();
    surface->ComputeGradientsOff();
    surface->ComputeScalarsOff();
    surface->Update();
    return surface;
}

// Normals (sharp edges kept above 60 degrees) computed now, and a mapper.
// Flying edges orders its triangles consistently already (reordering them
// changes nothing and takes half the time); decimated surfaces need it.
vtkSmartPointer<vtkPolyDataMapper> shadedMapper(vtkAlgorithmOutput* surface, bool reorder) {
    auto normals = vtkSmartPointer<vtkPolyDataNormals>::New();
    normals->SetInputConnection(surface);
    normals->SetFeatureAngle(60);
    normals->SetConsistency(reorder);
    normals->Update();
    auto mapper = vtkSmartPointer<vtkPolyDataMapper>::New();
    mapper->SetInputConnection(normals->GetOutputPort());
    mapper->ScalarVisibilityOff();
    return mapper;
}

// At most `budget` triangles of `surface` by quadric clustering (what
// ParaView draws while moving; linear time, unlike edge-collapse
// decimation): the vertices in each bin of a grid over the bounds merge into
// one. Bins start sqrt(triangles / budget) cells wide, as the triangles
// follow the area, and grow until the budget holds.
vtkSmartPointer<vtkQuadricClustering> decimated(vtkAlgorithm& surface, long long budget, double cell) {
    auto* input = vtkPolyData::SafeDownCast(surface.GetOutputDataObject(0));
    double bounds[6];
    input->GetBounds(bounds);
    const double wanted = double(std::max(budget, 1LL));
    double bin = cell * std::sqrt(double(input->GetNumberOfPolys()) / wanted);
    auto cluster = vtkSmartPointer<vtkQuadricClustering>::New();
    cluster->SetInputConnection(surface.GetOutputPort());
    cluster->AutoAdjustNumberOfDivisionsOff();
    for (;;) {
        int divisions[3];
        for (int a = 0; a < 3; ++a)
            divisions[a] = std::max(1, int(std::ceil((bounds[2 * a + 1] - bounds[2 * a]) / bin)));
        cluster->SetNumberOfDivisions(divisions);
        cluster->Update();
        const long long got = cluster->GetOutput()->GetNumberOfPolys();
        if (got <= budget || divisions[0] * divisions[1] * divisions[2] == 1) return cluster;
        bin *= 1.05 * std::sqrt(double(got) / wanted);
    }
}
}  // namespace

struct PhaseScene::Impl {
    // One phase's surface in full and, when the scene is over the budget, decimated for moving.
    struct Detail {
        vtkSmartPointer<vtkPolyDataMapper> full;
        vtkSmartPointer<vtkPolyDataMapper> moving;  // null: the full one also while moving
        long long triangles = 0;
        long long movingTriangles = 0;
    };

    vtkRenderer* renderer = nullptr;
    std::array<vtkSmartPointer<vtkActor>, kMaxPhases> actors;
    std::array<Detail, kMaxPhases> details;
    long long movingBudget = kDefaultMovingTriangleBudget;
    long long drawnTriangles = 0;  // by the last render
    std::array<bool, kMaxPhases> visible{true, true, true};
    std::array<double, kMaxPhases> opacity{1.0, 1.0, 1.0};
    vtkSmartPointer<vtkActor> outline;
    std::array<vtkSmartPointer<vtkLineSource>, 3> crossLines;
    std::array<vtkSmartPointer<vtkActor>, 3> crossActors;
    Dims dims{0, 0, 0};
    std::array<double, 3> spacing{1, 1, 1};
    ScaleBarActors barActors;
    ScaleBar bar;
    bool barWanted = true;
    vtkSmartPointer<vtkCallbackCommand> beforeRender = vtkSmartPointer<vtkCallbackCommand>::New();

    // Before each render: the bar's length follows the zoom and the view size.
    void updateScaleBar() {
        const int* size = renderer->GetSize();
        vtkCamera* cam = renderer->GetActiveCamera();
        bar.visible = barWanted && dims.count() > 0 && size[0] > 0 && size[1] > 0;
        barActors.bar->SetVisibility(bar.visible);
        barActors.text->SetVisibility(bar.visible);
        if (!bar.visible) return;
        // World height of the view at the focal point (the view angle is vertical).
        const double viewHeight =
            cam->GetParallelProjection()
                ? 2.0 * cam->GetParallelScale()
                : 2.0 * cam->GetDistance() * std::tan(vtkMath::RadiansFromDegrees(cam->GetViewAngle() / 2.0));
        const double perPixel = viewHeight / size[1];
        bar.length = roundLengthBelow(0.2 * size[0] * perPixel);
        bar.pixels = bar.length / perPixel;
        const double voxels = bar.length / spacing[0];
        bar.label = spacing[0] == 1.0 ? number(voxels) + (voxels == 1.0 ? " voxel" : " voxels")
                                      : number(bar.length) + " (" + number(voxels) + " voxels)";
        barActors.text->SetInput(bar.label.c_str());
        const double right = size[0] - 16.0;
        barActors.place(right - bar.pixels, right, 14.0);
    }

    // One actor per present phase: its surface in full and, when the scene's
    // surfaces are over the budget, decimated to its share of it.
    void buildSurfaces(vtkImageConstantPad& labels, const std::array<std::size_t, kMaxPhases>& counts) {
        std::array<vtkSmartPointer<vtkDiscreteFlyingEdges3D>, kMaxPhases> surfaces;
        long long total = 0;
        for (int p = 0; p < kMaxPhases; ++p) {
            if (actors[p]) renderer->RemoveActor(actors[p]);
            actors[p] = nullptr;
            details[p] = {};
            if (counts[p] == 0) continue;
            surfaces[p] = phaseSurface(labels, p);
            details[p].triangles = surfaces[p]->GetOutput()->GetNumberOfPolys();
            total += details[p].triangles;
        }
        const double cell = std::min({spacing[0], spacing[1], spacing[2]});
        for (int p = 0; p < kMaxPhases; ++p) {
            if (!surfaces[p]) continue;
            auto& detail = details[p];
            detail.full = shadedMapper(surfaces[p]->GetOutputPort(), false);
            detail.movingTriangles = detail.triangles;
            if (total > movingBudget) {
                // Shares rounded down: their sum stays within the budget.
                const auto share = (long long)(double(movingBudget) * double(detail.triangles) / double(total));
                auto lod = decimated(*surfaces[p], share, cell);
                detail.moving = shadedMapper(lod->GetOutputPort(), true);
                detail.movingTriangles = lod->GetOutput()->GetNumberOfPolys();
            }
            addActor(p);
        }
    }

    void addActor(int p) {
        auto actor = vtkSmartPointer<vtkActor>::New();
        actor->SetMapper(details[p].full);
        const Rgb c = phaseColor(p);
        actor->GetProperty()->SetColor(c.r, c.g, c.b);
        actor->GetProperty()->SetAmbient(0.25);
        actor->GetProperty()->SetDiffuse(0.75);
        actor->GetProperty()->SetSpecular(0.15);
        actors[p] = actor;
        applyStyle(p);
        renderer->AddActor(actor);
    }

    // Triangles of the shown phases' surfaces at rest or while moving
    // (movingTriangles equals triangles where a surface has no decimated copy).
    long long visibleTriangles(bool moving) const {
        long long sum = 0;
        for (int p = 0; p < kMaxPhases; ++p)
            if (visible[p]) sum += moving ? details[p].movingTriangles : details[p].triangles;
        return sum;
    }

    // Before each render: the decimated surfaces while the camera moves.
    void chooseDetail() {
        vtkRenderWindow* window = renderer->GetRenderWindow();
        const bool moving = window && window->GetDesiredUpdateRate() > kMovingUpdateRate;
        for (int p = 0; p < kMaxPhases; ++p)
            if (actors[p] && details[p].moving) actors[p]->SetMapper(moving ? details[p].moving : details[p].full);
        drawnTriangles = visibleTriangles(moving);
    }

    void applyStyle(int p) {
        if (!actors[p]) return;
        actors[p]->SetVisibility(visible[p]);
        actors[p]->GetProperty()->SetOpacity(opacity[p]);
    }
};

PhaseScene::PhaseScene(vtkRenderer* renderer) : impl_(std::make_unique<Impl>()) {
    auto& s = *impl_;
    s.renderer = renderer;
    s.beforeRender->SetClientData(&s);
    s.beforeRender->SetCallback([](vtkObject*, unsigned long, void* scene, void*) {
        static_cast<Impl*>(scene)->updateScaleBar();
        static_cast<Impl*>(scene)->chooseDetail();
    });
    renderer->AddObserver(vtkCommand::StartEvent, s.beforeRender);
    renderer->AddActor2D(s.barActors.bar);
    renderer->AddActor2D(s.barActors.text);
    s.updateScaleBar();
}

PhaseScene::~PhaseScene() {
    auto& s = *impl_;
    s.renderer->RemoveObserver(s.beforeRender);
    s.renderer->RemoveActor2D(s.barActors.bar);
    s.renderer->RemoveActor2D(s.barActors.text);
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

    s.buildSurfaces(*pad, volume.phaseCounts());

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

PhaseScene::ScaleBar PhaseScene::scaleBar() const { return impl_->bar; }

long long PhaseScene::triangleCount() const { return impl_->visibleTriangles(false); }

long long PhaseScene::movingTriangleCount() const { return impl_->visibleTriangles(true); }

void PhaseScene::setMovingTriangleBudget(long long triangles) {
    impl_->movingBudget = std::max(triangles, kMinMovingTriangleBudget);
}

long long PhaseScene::movingTriangleBudget() const { return impl_->movingBudget; }

long long PhaseScene::lastDrawnTriangleCount() const { return impl_->drawnTriangles; }

std::array<double, 6> PhaseScene::surfaceBounds(int phase, bool moving) const {
    const auto& detail = impl_->details.at(std::size_t(phase));
    vtkPolyDataMapper* mapper = moving && detail.moving ? detail.moving : detail.full;
    std::array<double, 6> bounds{};
    if (mapper) mapper->GetInput()->GetBounds(bounds.data());
    return bounds;
}

void PhaseScene::setScaleBarVisible(bool visible) {
    impl_->barWanted = visible;
    impl_->updateScaleBar();
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
