#pragma once
// The simulation tab: a Cahn-Hilliard run (the same solver and snapshot
// code as `microstudio-cli simulate`) on a worker thread, with a live view
// of the evolving morphology, plots of free energy and characteristic
// length over time, progress and Cancel, a slider through the snapshots,
// and saving the run (HDF5, MicroGen3D layout) or sending a snapshot on.
#include <QList>
#include <QPointF>
#include <QTimer>
#include <QWidget>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "microstudio/core/volume.hpp"

class QComboBox;
class QDoubleSpinBox;
class QSpinBox;
class QPushButton;
class QProgressBar;
class QSlider;
class QLabel;
class QLineSeries;
class QValueAxis;
class QLogValueAxis;
class QChart;

namespace ms {
class ProgressToken;
}
namespace ms::render {
class SliceView;
}

namespace ms::ui {

struct SimulationSettings {
    Dims dims{128, 128, 1};
    double phi = 0.5, chi = 3.0, kappa = 2.0, mobility = 1.0;
    int seed = 1;
    int snapshots = 100;
    double endTime = 2000.0;
    int phases = 2;
};

class SimulationPanel : public QWidget {
    Q_OBJECT
public:
    explicit SimulationPanel(QWidget* parent = nullptr);
    ~SimulationPanel() override;

    SimulationSettings settings() const;
    void setSettings(const SimulationSettings& s);
    bool running() const { return worker_.joinable() && !finished_; }
    // Snapshots received so far (labels and attributes; field only on the latest).
    const std::vector<Volume>& snapshots() const { return snapshots_; }
    void saveRun(const QString& path) const;

public slots:
    void start();
    void cancel();

signals:
    void snapshotArrived(int index);
    void runFinished(bool completed, const QString& message);
    void sendToViewer(const ms::Volume& volume, const QString& title);
    void sendToNoiseLab(const ms::Volume& volume, const QString& title);

private:
    void onSnapshot(Volume snapshot);
    void onFinished(bool completed, const QString& message);
    void showSnapshot(int index);
    void refreshViews();
    void joinWorker();

    QComboBox* size_ = nullptr;
    QDoubleSpinBox *phi_ = nullptr, *chi_ = nullptr, *kappa_ = nullptr, *mobility_ = nullptr, *endTime_ = nullptr;
    QSpinBox *seed_ = nullptr, *snapshotCount_ = nullptr, *phases_ = nullptr;
    QLabel* spinodal_ = nullptr;
    QPushButton *run_ = nullptr, *cancel_ = nullptr, *save_ = nullptr, *toViewer_ = nullptr, *toNoise_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QSlider* scrub_ = nullptr;
    QLabel* snapshotLabel_ = nullptr;
    render::SliceView* view_ = nullptr;
    QLineSeries* energy_ = nullptr;
    QLineSeries* length_ = nullptr;
    QChart* energyChart_ = nullptr;
    QChart* lengthChart_ = nullptr;

    std::vector<Volume> snapshots_;
    QList<QPointF> pendingEnergy_, pendingLength_;
    QTimer refresh_;
    Volume shown_;
    std::shared_ptr<ProgressToken> token_;
    std::thread worker_;
    std::atomic<bool> finished_{true};
};

}  // namespace ms::ui
