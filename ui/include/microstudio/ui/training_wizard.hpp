#pragma once
// The training wizard (the studio's Training tab): data (an HDF5 dataset,
// one built with the simulator or cut from a volume file, or a small synthetic demo set) -> model
// kind (denoising 2D VAE, 2D LDM over a chosen VAE, 3D generator) ->
// hyper-parameters with defaults for the data -> training with live loss
// curves (train and validation), progress, ETA, Pause / Resume / Cancel ->
// the model written to the user's model directory, announced with
// modelTrained() so the pickers list it. Embedded as a widget: finishing
// or "Start over" goes back to the first page.
#include <QColor>
#include <QFutureWatcher>
#include <QString>
#include <QWizard>
#include <memory>

#include "microstudio/core/volume.hpp"
#include "microstudio/jobs/dataset_builder.hpp"
#include "microstudio/jobs/volume_dataset.hpp"
#include "microstudio/ui/training_job.hpp"

class QChart;
class QLineSeries;
class QValueAxis;

namespace ms {
class ProgressToken;
}

namespace ms::ui {

class DataPage;
class ModelPage;
class ParametersPage;
class TrainPage;
class FinishPage;

// The loss curves' colours.
inline const QColor kTrainColour{31, 119, 180};
inline const QColor kValidationColour{230, 85, 13};

struct DataInfo {
    long samples = 0;
    Dims dims;
    int phases = 0;
    QString error;  // why the file cannot be used (empty: fine)
    bool images2d() const { return dims.is2D() && dims.nx == dims.ny && phases <= 2; }
};
// Reads the sample names and the first sample only (cheap, UI thread).
DataInfo inspectDataset(const QString& path);
// 3 when a sample holds mixed voxels or was thresholded into three phases
// (threshold_low < threshold_high: an early, still uniform snapshot of a
// 3-phase dataset), else 2.
int datasetPhases(const Volume& sample);

class TrainingWizard : public QWizard {
    Q_OBJECT
public:
    enum PageId { DataPageId, ModelPageId, ParametersPageId, TrainPageId, FinishPageId };

    explicit TrainingWizard(QWidget* parent = nullptr);
    ~TrainingWizard() override;

    // Where finished models and checkpoints go (default: userModelDirectory()
    // and its sibling "checkpoints").
    void setOutputDirectories(const QString& models, const QString& checkpoints);
    QString modelDirectory() const { return modelDir_; }
    QString checkpointDirectory() const { return checkpointDir_; }

    // The settings the pages describe now.
    TrainingSettings settings() const;
    DataInfo dataInfo() const;
    TrainingJob* job() const { return job_; }
    QLineSeries* trainSeries() const { return trainSeries_; }
    QLineSeries* validationSeries() const { return validationSeries_; }
    bool trainingSucceeded() const { return succeeded_; }

    // Writes `count` synthetic two-phase size x size images to FILE (HDF5)
    // and picks it as the training data.
    void useDemoData(const QString& file, int count = 60, int size = 32);
    // The default action (`microstudio --tab training`): demo data, a tiny
    // denoising VAE, a few epochs; goes to the training page and starts.
    void runDemo(const QString& folder);

    // false: failures only in the status line and the page (scripts, tests).
    void setErrorDialogs(bool on) { errorDialogs_ = on; }

    // Building a dataset with the simulator (the data page's button), and
    // the configuration its controls (size, grid, snapshots, end time,
    // phases) describe now.
    bool buildingDataset() const { return buildWatcher_.isRunning(); }
    jobs::DatasetConfig datasetConfig() const;
    // The data page's other source, a volume file of the user's own cut into
    // windows (jobs::buildDatasetFromVolume, as `dataset from-volume`): its
    // window, stride and depth controls now.
    jobs::VolumeDatasetConfig volumeDatasetConfig() const;

public slots:
    void pauseTraining();
    void resumeTraining();  // after a pause, or from the checkpoint after a cancel
    void cancelTraining();

signals:
    void modelTrained(const QString& path);
    void statusMessage(const QString& message);

protected:
    void done(int result) override;
    // Escape would reject (start over) the embedded wizard: not a page's business.
    void keyPressEvent(QKeyEvent* event) override;
    // Keeps the keyboard focus in a field while QWizard refreshes its buttons
    // (each keystroke that changes a page's completeness).
    bool focusNextPrevChild(bool next) override;

private:
    friend class DataPage;
    friend class ModelPage;
    friend class ParametersPage;
    friend class TrainPage;

    void refreshTraining();
    void onTrainingFinished(TrainingJob::Outcome outcome, const QString& message);
    void startTraining(bool resume);
    void startDatasetBuild();

    QString modelDir_, checkpointDir_;
    DataPage* dataPage_ = nullptr;
    ModelPage* modelPage_ = nullptr;
    ParametersPage* parametersPage_ = nullptr;
    TrainPage* trainPage_ = nullptr;
    FinishPage* finishPage_ = nullptr;
    TrainingJob* job_ = nullptr;
    bool succeeded_ = false;
    bool errorDialogs_ = true;
    QChart* chart_ = nullptr;
    QLineSeries* trainSeries_ = nullptr;
    QLineSeries* validationSeries_ = nullptr;
    QValueAxis* xAxis_ = nullptr;
    QValueAxis* yAxis_ = nullptr;
    double yMin_ = 0, yMax_ = 0;
    std::shared_ptr<ProgressToken> buildToken_;
    QFutureWatcher<QString> buildWatcher_;
};

}  // namespace ms::ui
