#pragma once
// The studio's main window: a VTK 3D view of the current microstructure
// beside three linked orthogonal slice views, a phase panel (colour,
// visibility, opacity per phase) and the file's properties.
#include <QMainWindow>
#include <array>
#include <memory>

#include "microstudio/core/volume.hpp"

class QCheckBox;
class QSlider;
class QTableWidget;
class QMenu;
class QGridLayout;

namespace ms::render {
class VtkWidget;
class SliceView;
class PhaseScene;
}  // namespace ms::render

namespace ms::ui {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Shows errors in a dialog unless quiet (tests, --screenshot); returns success.
    bool openFile(const QString& path, bool quiet = false);
    void setVolume(Volume volume, const QString& title);
    const Volume& volume() const { return volume_; }

    render::VtkWidget* view3d() const { return view3d_; }
    render::SliceView* sliceView(int i) const { return slices_.at(std::size_t(i)); }
    render::PhaseScene* phaseScene() const { return scene_.get(); }
    void setPhaseVisible(int phase, bool visible);
    void setPhaseOpacity(int phase, double opacity);

public slots:
    void openDialog();
    void saveAsDialog();
    void setCrosshair(int x, int y, int z);
    void showAbout();

protected:
    void closeEvent(QCloseEvent* e) override;

private:
    void buildMenus();
    QWidget* buildPhasePanel();
    void rememberRecent(const QString& path);
    void refreshRecentMenu();
    void refreshProperties();

    Volume volume_;
    QString currentPath_;
    render::VtkWidget* view3d_ = nullptr;
    std::array<render::SliceView*, 3> slices_{};
    std::unique_ptr<render::PhaseScene> scene_;
    QGridLayout* viewGrid_ = nullptr;
    std::array<QWidget*, kMaxPhases> phaseRows_{};
    std::array<QCheckBox*, kMaxPhases> phaseVisible_{};
    std::array<QSlider*, kMaxPhases> phaseOpacity_{};
    QTableWidget* properties_ = nullptr;
    QMenu* recentMenu_ = nullptr;
};

}  // namespace ms::ui
