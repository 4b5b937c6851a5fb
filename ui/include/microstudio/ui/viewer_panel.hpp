#pragma once
// The viewer: a VTK 3D view of a microstructure beside three linked
// orthogonal slice views, with a phase panel (colour, visibility, opacity
// per phase) and the volume's properties. A 2D image shows as one slice.
#include <QWidget>
#include <array>
#include <memory>

#include "microstudio/core/volume.hpp"

class QCheckBox;
class QSlider;
class QTableWidget;
class QGridLayout;

namespace ms::render {
class VtkWidget;
class SliceView;
class PhaseScene;
}  // namespace ms::render

namespace ms::ui {

class ViewerPanel : public QWidget {
    Q_OBJECT
public:
    explicit ViewerPanel(QWidget* parent = nullptr);
    ~ViewerPanel() override;

    void setVolume(Volume volume);
    const Volume& volume() const { return volume_; }

    render::VtkWidget* view3d() const { return view3d_; }
    render::SliceView* sliceView(int i) const { return slices_.at(std::size_t(i)); }
    render::PhaseScene* phaseScene() const { return scene_.get(); }
    void setPhaseVisible(int phase, bool visible);
    void setPhaseOpacity(int phase, double opacity);
    void resetCamera();

public slots:
    void setCrosshair(int x, int y, int z);

signals:
    void statusMessage(const QString& message);

private:
    QWidget* buildPhasePanel();
    void refreshProperties();

    Volume volume_;
    render::VtkWidget* view3d_ = nullptr;
    std::array<render::SliceView*, 3> slices_{};
    std::unique_ptr<render::PhaseScene> scene_;
    QGridLayout* viewGrid_ = nullptr;
    std::array<QWidget*, kMaxPhases> phaseRows_{};
    std::array<QCheckBox*, kMaxPhases> phaseVisible_{};
    std::array<QSlider*, kMaxPhases> phaseOpacity_{};
    QTableWidget* properties_ = nullptr;
};

}  // namespace ms::ui
