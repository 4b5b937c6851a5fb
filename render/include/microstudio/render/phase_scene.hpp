#pragma once
// The 3D scene of a labelled volume: one closed iso-surface per phase
// (discrete flying edges on the label image), each with its own colour,
// visibility and opacity, an outline box and a crosshair marker.
#include <memory>

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

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ms::render
