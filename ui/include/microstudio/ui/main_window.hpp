#pragma once
// The studio's main window: tabs for the viewer (3D + linked slices) and the
// noise lab (and, as they land, design, simulation and training), a menu
// with recent files, settings remembered between runs, errors in dialogs.
#include <QMainWindow>

#include "microstudio/core/volume.hpp"

class QMenu;
class QTabWidget;

namespace ms::render {
class VtkWidget;
class SliceView;
class PhaseScene;
}  // namespace ms::render

namespace ms::ui {

class ViewerPanel;
class NoiseLabPanel;
class SimulationPanel;
class DesignPanel;
class ParameterHistory;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Shows errors in a dialog unless quiet (tests, --screenshot); returns success.
    bool openFile(const QString& path, bool quiet = false);
    void setVolume(Volume volume, const QString& title);
    const Volume& volume() const;

    ViewerPanel* viewer() const { return viewer_; }
    NoiseLabPanel* noiseLab() const { return noiseLab_; }
    SimulationPanel* simulation() const { return simulation_; }
    DesignPanel* design() const { return design_; }  // null when built without ml/
    ParameterHistory* history() const { return history_; }
    QTabWidget* tabs() const { return tabs_; }
    // Shortcuts into the viewer (tests and scripts).
    render::VtkWidget* view3d() const;
    render::SliceView* sliceView(int i) const;
    render::PhaseScene* phaseScene() const;
    void setPhaseVisible(int phase, bool visible);
    void setPhaseOpacity(int phase, double opacity);
    // Versions of Qt, VTK and LibTorch and the compute device (Help > About).
    QString aboutText() const;

public slots:
    void openDialog();
    void saveAsDialog();
    void setCrosshair(int x, int y, int z);
    void showAbout();

protected:
    void closeEvent(QCloseEvent* e) override;

private:
    void buildMenus();
    void rememberRecent(const QString& path);
    void refreshRecentMenu();

    QString currentPath_;
    QTabWidget* tabs_ = nullptr;
    ViewerPanel* viewer_ = nullptr;
    NoiseLabPanel* noiseLab_ = nullptr;
    SimulationPanel* simulation_ = nullptr;
    DesignPanel* design_ = nullptr;
    ParameterHistory* history_ = nullptr;
    QMenu* recentMenu_ = nullptr;
};

}  // namespace ms::ui
