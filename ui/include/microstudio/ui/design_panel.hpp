#pragma once
// The design tab: pick a 3D generator (MicroGen3D latent diffusion), set the
// target descriptors with sliders ranged from the model's training data,
// generate samples in the ML worker process (MlWorker: progress, Cancel; the
// tab survives the worker's death), browse them in a
// gallery, see the selected one in 3D with linked slices, compare target
// with measured descriptors, read the predicted processing conditions
// (phi, chi, anneal time), and export. Its Evaluation page runs
// ms::ml::evaluateGenerator3d on held-out data (in the ML worker, progress,
// Cancel) and shows target vs measured per descriptor (EvaluationView).
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QWidget>
#include <map>
#include <memory>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/model_evaluation.hpp"
#include "microstudio/ui/microgen3d_import.hpp"
#include "microstudio/ui/ml_worker.hpp"

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
class QLineEdit;
class QTabWidget;

namespace ms {
class ProgressToken;
}
namespace ms::ml {
class GeneratorCard;
}

namespace ms::ui {

class ViewerPanel;
class EvaluationView;

// What an evaluation's worker hands back: the report, or why there is none.
struct EvaluationOutcome {
    std::shared_ptr<const ml::Evaluation3dReport> report;
    QString error;  // one line; empty with a report
    bool cancelled = false;
    double seconds = 0.0;
};

struct DesignRequest {
    std::map<std::string, double> target;
    int count = 4;
    std::string sampler = "ddim";  // GenerateOptions::sampler: ddim, dpmpp or ddpm
    int steps = 50;                // solver steps (ddim: 0 = ancestral DDPM, all timesteps)
    double guidance = 1.0;
    int seed = 0;
    int candidates = 4;      // screened generation: draws per kept sample (GenerateOptions::candidates)
    double tolerance = 0.0;  // stop drawing within this distance; 0 = all candidates (GenerateOptions::tolerance)
    Dims size{0, 0, 0};      // GenerateOptions::size: 0 x 0 x 0 = the model's training size
};

class DesignPanel : public QWidget {
    Q_OBJECT
public:
    explicit DesignPanel(QWidget* parent = nullptr);
    ~DesignPanel() override;

    // Loads a generator folder (or its generator3d.json / .pt); false and a
    // message on failure (dialog unless quiet).
    bool loadModel(const QString& path, bool quiet = false);
    // A generator folder for `nameOrPath`: an existing path as it is, else the
    // installed generator of that folder name (gen3d-ch3); empty when none.
    static QString findGenerator(const QString& nameOrPath);
    // The installed generators' folder names, for messages ("gen3d-ch2, gen3d-ch3").
    static QStringList installedGeneratorNames();
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
    // The gallery of generated samples (one item per sample, filled as each is done).
    QListWidget* gallery() const { return gallery_; }
    QProgressBar* progressBar() const { return progress_; }
    // The hint shown over the empty views until samples exist.
    QLabel* emptyHint() const { return emptyHint_; }
    // What the tab shows, in one line (the window's status bar on this tab).
    QString summary() const;
    // Samples generated since the last session save or .h5 export.
    bool hasUnsavedSamples() const { return unsaved_; }
    // Resets the samples' 3D view so that the whole volume is in sight.
    void resetCamera();
    QTableWidget* comparison() const { return comparison_; }
    bool busy() const { return generating() || evaluating(); }
    bool evaluating() const { return evaluationRequest_ != 0; }
    bool generating() const { return generation_ != 0; }
    // The worker process generation runs in (started on the first Generate).
    MlWorker& mlWorker() { return worker_; }
    // The Evaluation page: its result view, and the held-out file Evaluate
    // reads (the model folder's heldout-test.h5, else the model's recorded
    // validation data, unless one was chosen).
    EvaluationView* evaluationView() const { return evaluationView_; }
    QString heldOutPath() const;
    void showEvaluationPage();
    // Writes the selected sample (.vti, .h5, .png, ...: io::volumeExtensions())
    // or, for .csv, a table of targets, measured descriptors and predicted
    // parameters of all samples. Another extension, or none, throws ms::Error
    // listing the accepted ones.
    void exportTo(const QString& path);
    // The export's file types, .csv included (lower case, no dot).
    static std::vector<std::string> exportExtensions();
    // The export dialog's choice as a file name: one without an extension
    // takes the first of the chosen filter's ("Table (*.csv)" -> name.csv).
    static QString withFilterExtension(const QString& path, const QString& nameFilter);
    // A session: the model, targets, sampling settings and the generated
    // samples (in PATH.samples.h5 beside the .json). Both throw ms::Error.
    void saveSession(const QString& path);
    void openSession(const QString& path);

public slots:
    void generate();
    void cancel();
    // Evaluates the model on the held-out file (targets: the Evaluation
    // page's count; steps, seed and guidance: the Sampling group's; plain
    // sampling, no timing or diversity) in the ML worker process.
    void evaluate();
    void cancelEvaluation();
    // Lists the generators in ui::modelFolders() again (after a training);
    // the loaded model stays selected.
    void refreshModelList();
    // File > Import MicroGen3D weights...: the dialog, then startImport into
    // the studio's models folder (userModelDirectory()/NAME); failures in a
    // message box.
    void importMicroGen3d();
    // The import in the ML worker executable (`models import-microgen3d`);
    // imported() when it ends, and on success the model is listed and loaded.
    void startImport(const MicroGen3dFiles& files, const QString& folder);

signals:
    void generated(int count, const QString& message);
    void targetsRebuilt();  // new target controls after a model was loaded
    void statusMessage(const QString& message);
    // An evaluation ended: with a report (ok), cancelled or failed (message).
    void evaluated(bool ok, const QString& message);
    void imported(bool ok, const QString& message);

private:
    void samplerChanged();
    void buildTargetControls();
    void fillSizes(const Dims& training);
    // One event of the running generation's worker request (docs/worker-protocol.md).
    void onGenerationEvent(int run, const Json& event);
    // The generation ended: done (error empty), cancelled or failed.
    void finishGeneration(const QString& error, bool cancelled);
    void refreshComparison();
    void addPrediction(const QString& label, const std::string& output, const QString& value);
    void showSamples(std::vector<Volume> samples);
    // A sample of the running generation is done (its index among the requested).
    void addSample(int run, std::size_t index, Volume sample);
    // A denoising preview of a sample not yet done: shown in its gallery slot
    // (after the done samples, grey caption "#i \u00b7 step s/S") until the sample replaces it.
    void addPreview(int run, std::size_t index, const Volume& preview, int step, int steps);
    // The first preview or sample of a generation replaces the samples shown (kept aside until
    // the generation ends: one cancelled or failed before any sample puts them back).
    void startRunGallery();
    int previewRow(std::size_t index) const;  // the gallery row of sample index's preview, -1 if none
    void removePreviews();
    void showProgress(double fraction);
    void showPage();  // the hint over the views until samples exist
    void exportDialog();
    void updateFeasibility();
    QWidget* buildEvaluationPage();
    void resetEvaluationInputs();
    void onEvaluationEvent(const Json& event);
    void onEvaluated(const EvaluationOutcome& outcome);
    void setEvaluationMessage(const QString& message, bool warning);
    void updateActions();  // Generate and Evaluate enabled with a model and nothing running

    std::shared_ptr<const ml::GeneratorCard> model_;  // the loaded generator's JSON (its networks live in the worker)
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
    QComboBox* sampler_ = nullptr;  // item data: the GenerateOptions::sampler name
    QDoubleSpinBox* guidance_ = nullptr;
    QComboBox* size_ = nullptr;            // item data: "NXxNYxNZ", empty for the training size
    QDoubleSpinBox* tolerance_ = nullptr;  // screening: stop drawing within this distance (0 = off)
    QPushButton *generate_ = nullptr, *cancel_ = nullptr, *export_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QListWidget* gallery_ = nullptr;
    QLabel* emptyHint_ = nullptr;      // over the views and gallery until samples exist
    QWidget* samplesViews_ = nullptr;  // the viewer and the gallery
    QTableWidget* comparison_ = nullptr;
    ViewerPanel* viewer_ = nullptr;

    std::vector<Volume> samples_;
    std::vector<std::size_t> sampleIndex_;  // each shown sample's index in its generation
    bool unsaved_ = false;
    int run_ = 0;         // generations started; a sample of an earlier one is dropped
    int runCount_ = 0;    // samples the running generation was asked for
    int runArrived_ = 0;  // of them, shown so far

    bool runShown_ = false;                // a preview or sample of the running generation is in the gallery
    std::vector<Volume> previousSamples_;  // those it replaced, until it ends
    QElapsedTimer runClock_;
    MlWorker worker_;
    MicroGen3dImporter importer_;
    bool importDialogs_ = false;               // the running import came from the dialog: failures in a message box
    std::int64_t generation_ = 0;              // the running generation's request id, 0 when none
    std::unique_ptr<QTemporaryDir> runFiles_;  // where the worker writes its samples and previews

    // The Evaluation page.
    QTabWidget* results_ = nullptr;  // Samples | Evaluation
    EvaluationView* evaluationView_ = nullptr;
    QLineEdit *heldOut_ = nullptr, *trainingData_ = nullptr;
    QSpinBox* evaluationCount_ = nullptr;
    QPushButton *evaluate_ = nullptr, *cancelEvaluation_ = nullptr;
    QProgressBar* evaluationProgress_ = nullptr;
    QLabel* evaluationMessage_ = nullptr;
    std::int64_t evaluationRequest_ = 0;  // the running evaluation's worker request id, 0 when none
    QString evaluatedModelPath_;          // the model the running evaluation measures
    QElapsedTimer evaluationClock_;
    int evaluationSeed_ = 0;
};

}  // namespace ms::ui
