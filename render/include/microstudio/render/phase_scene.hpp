#pragma once
// The 3D scene of a labelled volume: one closed iso-surface per phase
// (discrete flying edges on the label image), each with its own colour,
// visibility and opacity, an outline box, a crosshair marker and a scale
// bar in the lower right corner. While the camera moves, surfaces with more
// triangles than a budget are drawn decimated (a level of detail); at rest
// always in full.
#include <array>
#include <memory>
#include <string>

#include "microstudio/core/volume.hpp"

class vtkRenderer;

namespace ms::render {

class PhaseScene {
public:
    explicit PhaseScene(vtkRenderer* renderer);
    ~PhaseScene();
    PhaseScene(const PhaseScene&) = delete;
    PhaseScene& operator=(const PhaseScene&) = delete;

    // Builds the surfaces; resets the camera when the size changed.
    void setVolume(const Volume& volume);
    void setPhaseVisible(int phase, bool visible);
    void setPhaseOpacity(int phase, double opacity);
    bool phaseVisible(int phase) const;
    double phaseOpacity(int phase) const;
    void setCrosshair(int x, int y, int z);
    void resetCamera();

    // The scale bar as last drawn: a round length (1, 2 or 5 times a power of
    // ten, in the volume's spacing units) that spans about a fifth of the
    // view at the camera's focal point, labelled in voxels ("10 voxels") or,
    // for a spacing other than 1, in spacing units and voxels.
    struct ScaleBar {
        bool visible = false;
        double length = 0.0;  // spacing units
        double pixels = 0.0;  // its length on screen
        std::string label;
    };
    ScaleBar scaleBar() const;
    void setScaleBarVisible(bool visible);

    // Triangles of the shown phases' surfaces at full detail (the view at rest).
    long long triangleCount() const;
    // Triangles of the shown phases' surfaces while the camera moves: the
    // render window's desired update rate above kMovingUpdateRate, as VTK's
    // interactor sets it while the mouse drags.
    long long movingTriangleCount() const;
    static constexpr double kMovingUpdateRate = 1.0;  // frames/s; at rest VTK asks 0.0001
    // Above this many triangles in all the scene's surfaces they are
    // decimated for moving (shared among the phases as their triangles);
    // applies from the next setVolume. At least kMinMovingTriangleBudget.
    void setMovingTriangleBudget(long long triangles);
    long long movingTriangleBudget() const;
    // About 10 frames/s in software OpenGL on 2 cores (docs/benchmarks.md).
    static constexpr long long kDefaultMovingTriangleBudget = 100000;
    static constexpr long long kMinMovingTriangleBudget = 1000;
    // Bounds (xmin, xmax, ymin, ymax, zmin, zmax) of a phase's surface as
    // drawn at rest or while moving; all zero when the phase is absent.
    std::array<double, 6> surfaceBounds(int phase, bool moving) const;
    // Triangles of the phase surfaces the last render drew (0 before one).
    long long lastDrawnTriangleCount() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ms::render
