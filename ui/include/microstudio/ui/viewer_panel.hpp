#pragma once
// The viewer: a VTK 3D view of a microstructure beside three linked
// orthogonal slice views, with a phase panel (colour, visibility, opacity
// per phase) and, on pages below it, the volume's properties and its
// descriptors (the Describe page). A 2D image shows as one slice. A file of
// several samples gets a time control above the views; each sample is read
// when asked for, off the UI thread. View > Save screenshot writes the 3D
// view (a 2D image's slice view) as PNG at a chosen size.
#include <QFutureWatcher>
#include <QImage>
#include <QWidget>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

class QCheckBox;
class QSlider;
class QTabWidget;
class QTableWidget;
class QGridLayout;

namespace ms::render {
class VtkWidget;
class SliceView;
class PhaseScene;
}  // namespace ms::render

namespace ms::ui {

class SampleControl;
class DescribePanel;
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
    // The Describe page (null in a build without the descriptors library).
    DescribePanel* describePanel() const { return describe_; }
    QTabWidget* infoPages() const { return infoPages_; }

    // The picture a screenshot takes: the 3D view, or for a 2D image its
    // slice view, rendered at `size` pixels; saved as PNG (throws ms::Error
    // naming the file). The default size is the view's own.
    QImage screenshotImage(QSize size);
    void saveScreenshot(const QString& path, QSize size);
    QSize screenshotDefaultSize() const;
    // Asks for the file and size, then saves (View > Save screenshot...).
    void saveScreenshotDialog();

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
    QString csvSourceName() const;

    Volume volume_;
    render::VtkWidget* view3d_ = nullptr;
    std::array<render::SliceView*, 3> slices_{};
    std::unique_ptr<render::PhaseScene> scene_;
    QGridLayout* viewGrid_ = nullptr;
    std::array<QWidget*, kMaxPhases> phaseRows_{};
    std::array<QCheckBox*, kMaxPhases> phaseVisible_{};
    std::array<QSlider*, kMaxPhases> phaseOpacity_{};
    QTableWidget* properties_ = nullptr;
    QTabWidget* infoPages_ = nullptr;
    DescribePanel* describe_ = nullptr;
    SampleControl* sampleControl_ = nullptr;
    QString samplePath_;
    std::vector<std::string> sampleNames_;  // empty: the volume is no file's sample
    int shownSample_ = 0;
    int requestedSample_ = 0;
    int sampleFileGeneration_ = 0;  // a read for an earlier file is dropped
    QFutureWatcher<std::shared_ptr<ReadSample>> sampleReader_;
};

}  // namespace ms::ui
