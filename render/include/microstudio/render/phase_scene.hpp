#pragma once
// The 3D scene of a labelled volume: one closed iso-surface per phase
// (discrete flying edges on the label image), each with its own colour,
// visibility and opacity, an outline box, a crosshair marker and a scale
// bar in the lower right corner.
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

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ms::render
