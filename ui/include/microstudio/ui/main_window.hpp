#pragma once
// The studio's main window: tabs for the viewer (3D + linked slices) and the
// noise lab, design, simulation and training, a menu with recent files,
// settings remembered between runs, errors in dialogs.
#include <QHash>
#include <QMainWindow>
#include <string>
#include <vector>

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
class TrainingWizard;
class ParameterHistory;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Shows errors in a dialog unless quiet (tests, --screenshot); returns success.
    // A file of several samples opens at the one chosen when it was last open,
    // else at its last (the end of a run); the viewer's time control steps.
    bool openFile(const QString& path, bool quiet = false);
    void setVolume(Volume volume, const QString& title);
    const Volume& volume() const;

    ViewerPanel* viewer() const { return viewer_; }
    NoiseLabPanel* noiseLab() const { return noiseLab_; }
    SimulationPanel* simulation() const { return simulation_; }
    DesignPanel* design() const { return design_; }         // null when built without ml/
    TrainingWizard* training() const { return training_; }  // null when built without ml/
    ParameterHistory* history() const { return history_; }
    QTabWidget* tabs() const { return tabs_; }
    // Shortcuts into the viewer (tests and scripts).
    render::VtkWidget* view3d() const;
    render::SliceView* sliceView(int i) const;
    render::PhaseScene* phaseScene() const;
    void setPhaseVisible(int phase, bool visible);
    void setPhaseOpacity(int phase, double opacity);
    // Versions of Qt, VTK and LibTorch and the compute device (Help > About);
    // the ML worker's line once it has answered showAbout().
    QString aboutText() const;

public slots:
    void openDialog();
    void saveAsDialog();
    void setCrosshair(int x, int y, int z);
    void showAbout();
    // Resets the 3D view of the current tab (Design: the samples' view; else the viewer's).
    void resetCamera();
    // Asks for a session file and saves the Design tab's session there; false
    // when not saved (dialog cancelled, or an error shown).
    bool saveSessionDialog();
    // Lists the installed and user-trained models again in the Design tab's
    // and the Noise lab's pickers (after a training finished).
    void refreshModels();
    // Loads a denoising VAE into the noise lab ("" = none); false on error
    // (dialog unless quiet).
    bool useDenoiser(const QString& path, bool quiet = false);

protected:
    void closeEvent(QCloseEvent* e) override;

private:
    QString aboutTextWith(const QString& mlWorkerLine) const;  // the worker's line as given
    void buildMenus();
    void fillModelPickers();
    // The shipped denoiser into the lab, unless the user picked one (first show of the lab).
    void offerShippedDenoiser();
    void rememberRecent(const QString& path);
    void refreshRecentMenu();
    // Window title, status line and noise lab for the volume the viewer shows.
    void announceVolume(const QString& title);
    // The status line says what the current tab shows: each tab's latest
    // message, kept while another tab is current.
    void setTabMessage(QWidget* tab, const QString& message);
    void showTabStatus();
    // Quitting while samples are being generated or are unsaved asks first.
    bool confirmClose();
    void showSample(const QString& name);
    int rememberedSample(const QString& path, const std::vector<std::string>& names) const;
    void rememberSample(const QString& path, const QString& name);

    QString currentPath_;
    QString mlVersion_;  // the ML worker's --version line, once asked
    QTabWidget* tabs_ = nullptr;
    bool shippedDenoiserOffered_ = false;  // offerShippedDenoiser ran (the lab was shown)
    ViewerPanel* viewer_ = nullptr;
    NoiseLabPanel* noiseLab_ = nullptr;
    SimulationPanel* simulation_ = nullptr;
    DesignPanel* design_ = nullptr;
    TrainingWizard* training_ = nullptr;
    ParameterHistory* history_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QHash<const QWidget*, QString> tabMessages_;
};

}  // namespace ms::ui
