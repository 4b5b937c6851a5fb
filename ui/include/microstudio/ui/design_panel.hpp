#pragma once
// The design tab: pick a 3D generator (MicroGen3D latent diffusion), set the
// target descriptors with sliders ranged from the model's training data,
// generate samples on a worker thread (progress, Cancel), browse them in a
// gallery, see the selected one in 3D with linked slices, compare target
// with measured descriptors, read the predicted processing conditions
// (phi, chi, anneal time), and export.
#include <QFutureWatcher>
#include <QWidget>
#include <map>
#include <memory>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/ml/model_evaluation.hpp"

class QComboBox;
class QDoubleSpinBox;
class QSpinBox;
class QSlider;
class QPushButton;
class QProgressBar;
class QListWidget;
class QTableWidget;
class QLabel;
class QFormLayout;

namespace ms {
class ProgressToken;
}
namespace ms::ml {
class Generator3D;
}

namespace ms::ui {

class ViewerPanel;

struct DesignRequest {
    std::map<std::string, double> target;
    int count = 4;
    int steps = 50;  // DDIM steps (0 = ancestral DDPM, all timesteps)
    double guidance = 1.0;
    int seed = 0;
    int candidates = 4;  // screened generation: draws per kept sample (GenerateOptions::candidates)
    double tolerance = 0.0;  // stop drawing within this distance; 0 = all candidates (GenerateOptions::tolerance)
};

class DesignPanel : public QWidget {
    Q_OBJECT
public:
    explicit DesignPanel(QWidget* parent = nullptr);
    ~DesignPanel() override;

    // Loads a generator folder (or its generator3d.json / .pt); false and a
    // message on failure (dialog unless quiet).
    bool loadModel(const QString& path, bool quiet = false);
    bool hasModel() const { return bool(model_); }
    void setTarget(const std::string& name, double value);
    DesignRequest request() const;
    // The live feasibility line under the sliders, and taking its proposal.
    QString feasibilityText() const;
    bool targetFeasible() const { return feasible_; }
    void useNearestFeasibleTarget();
    const std::vector<Volume>& samples() const { return samples_; }
    int selected() const;
    void select(int index);
    ViewerPanel* viewer() const { return viewer_; }
    QTableWidget* comparison() const { return comparison_; }
    bool busy() const { return watcher_.isRunning(); }
    // Writes the selected sample (.vti, .h5, .png) or, for .csv, a table of
    // targets, measured descriptors and predicted parameters of all samples.
    void exportTo(const QString& path) const;
    // A session: the model, targets, sampling settings and the generated
    // samples (in PATH.samples.h5 beside the .json). Both throw ms::Error.
    void saveSession(const QString& path) const;
    void openSession(const QString& path);

public slots:
    void generate();
    void cancel();
    // Lists the generators in ui::modelFolders() again (after a training);
    // the loaded model stays selected.
    void refreshModelList();

signals:
    void generated(int count, const QString& message);
    void targetsRebuilt();  // new target controls after a model was loaded
    void statusMessage(const QString& message);

private:
    void buildTargetControls();
    void onGenerated();
    void refreshComparison();
    void addPrediction(const QString& label, const std::string& output, const QString& value);
    void showSamples(std::vector<Volume> samples);
    void updateFeasibility();

    std::shared_ptr<const ml::Generator3D> model_;
    QString modelPath_;
    ml::ModelEvaluation evaluation_;  // the model's shipped held-out figures (evaluation.json), if any
    QComboBox* modelPicker_ = nullptr;
    QLabel* modelInfo_ = nullptr;
    QWidget* targetBox_ = nullptr;
    QFormLayout* targetForm_ = nullptr;
    struct TargetControl {
        std::string name;
        double min = 0, max = 1;
        QSlider* slider = nullptr;
        QDoubleSpinBox* spin = nullptr;
    };
    std::vector<TargetControl> targets_;
    QLabel* feasibility_ = nullptr;
    QPushButton* useNearest_ = nullptr;
    std::map<std::string, double> nearest_;
    bool feasible_ = true;
    QSpinBox *count_ = nullptr, *seed_ = nullptr, *steps_ = nullptr, *candidates_ = nullptr;
    QDoubleSpinBox* guidance_ = nullptr;
    QDoubleSpinBox* tolerance_ = nullptr;  // screening: stop drawing within this distance (0 = off)
    QPushButton *generate_ = nullptr, *cancel_ = nullptr, *export_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QListWidget* gallery_ = nullptr;
    QTableWidget* comparison_ = nullptr;
    ViewerPanel* viewer_ = nullptr;

    std::vector<Volume> samples_;
    std::shared_ptr<ProgressToken> token_;
    QFutureWatcher<std::shared_ptr<std::vector<Volume>>> watcher_;
    QString error_;
};

}  // namespace ms::ui
