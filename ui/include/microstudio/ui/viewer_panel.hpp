#pragma once
// The viewer: a VTK 3D view of a microstructure beside three linked
// orthogonal slice views, with a phase panel (colour, visibility, opacity
// per phase) and the volume's properties. A 2D image shows as one slice.
// A file of several samples gets a time control above the views; each
// sample is read when asked for, off the UI thread.
#include <QFutureWatcher>
#include <QWidget>
#include <array>
#include <memory>
#include <string>
#include <vector>

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

class SampleControl;
struct ReadSample;  // defined in the .cpp

class ViewerPanel : public QWidget {
    Q_OBJECT
public:
    explicit ViewerPanel(QWidget* parent = nullptr);
    ~ViewerPanel() override;

    // Shows one volume (no time control).
    void setVolume(Volume volume);
    const Volume& volume() const { return volume_; }
    // The shown volume is sample `index` of the HDF5 file `path`, whose
    // samples are `names` (file order): with more than one, the time control
    // steps through them, reading each when asked (the latest request wins).
    void setSampleFile(const QString& path, std::vector<std::string> names, int index);
    // The shown sample's index in its file; -1 for a volume of its own.
    int sampleIndex() const { return sampleNames_.empty() ? -1 : shownSample_; }
    SampleControl* sampleControl() const { return sampleControl_; }

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
    // A sample read through the time control is shown.
    void sampleShown(int index, const QString& name);

private:
    QWidget* buildPhasePanel();
    void refreshProperties();
    void display(Volume volume);
    void requestSample(int index);
    void startReading(int index);
    void sampleRead();
    void describeSample(int index, const QString& state = {});


    Volume volume_;
    render::VtkWidget* view3d_ = nullptr;
    std::array<render::SliceView*, 3> slices_{};
    std::unique_ptr<render::PhaseScene> scene_;
    QGridLayout* viewGrid_ = nullptr;
    std::array<QWidget*, kMaxPhases> phaseRows_{};
    std::array<QCheckBox*, kMaxPhases> phaseVisible_{};
    std::array<QSlider*, kMaxPhases> phaseOpacity_{};
    QTableWidget* properties_ = nullptr;
    SampleControl* sampleControl_ = nullptr;
    QString samplePath_;
    std::vector<std::string> sampleNames_;  // empty: the volume is no file's sample
    int shownSample_ = 0;
    int requestedSample_ = 0;
    int sampleFileGeneration_ = 0;  // a read for an earlier file is dropped
    QFutureWatcher<std::shared_ptr<ReadSample>> sampleReader_;
};

}  // namespace ms::ui
