#pragma once
// The noise lab: a two-phase 2D sample, one of the paper's three noise
// models with its parameters, and side by side the clean, noisy, learned
// (when a denoising model is installed) and best classical result, with the
// metrics of each against the clean image. Recomputed live, off the UI
// thread, whenever a parameter changes. When the parameters change no pixel
// of the image, a note beside them says why and what would.
#include <QFutureWatcher>
#include <QWidget>
#include <array>
#include <functional>
#include <memory>

#include "microstudio/core/volume.hpp"

class QComboBox;
class QDoubleSpinBox;
class QSpinBox;
class QTableWidget;
class QLabel;
class QFormLayout;

namespace ms::render {
class SliceView;
}

namespace ms::ui {

struct NoiseLabResult;  // defined in the .cpp

class NoiseLabPanel : public QWidget {
    Q_OBJECT
public:
    // A learned denoiser is any function Volume -> Volume (the ML layer
    // provides it when a model is installed).
    using LearnedDenoiser = std::function<Volume(const Volume&)>;

    explicit NoiseLabPanel(QWidget* parent = nullptr);
    ~NoiseLabPanel() override;

    // The clean sample: a 2D two-phase image (a 3D volume gives its middle slice).
    void setSample(const Volume& sample, const QString& name);
    void setLearnedDenoiser(LearnedDenoiser denoiser, const QString& name);
    // Installed denoising models to pick from, as (name, model path); the
    // window loads the picked one (denoiserPicked; "" = none). The current
    // pick (by path, else `current`) stays selected when still listed.
    void setDenoiserChoices(const QList<QPair<QString, QString>>& choices, const QString& current = {});
    QComboBox* denoiserPicker() const { return denoiserPicker_; }
    // A sample from a file or a dataset (.h5 with many samples: `index`);
    // throws ms::Error on a bad file or index.
    void loadSample(const QString& path, int index = 0);
    const Volume& noisy() const { return images_[1]; }
    // Blocks until the pending preview is computed (tests).
    void waitForPreview();
    // Metrics table: columns noisy, [learned], classical (best classical), their
    // tooltips naming the denoisers; rows are metric names.
    QTableWidget* metricsTable() const { return metrics_; }
    QString bestClassicalName() const { return bestClassical_; }

public slots:
    void recompute();

signals:
    void previewReady();
    void denoiserPicked(const QString& path);

private:
    void showResult();
    void clearResultImages();  // noisy, learned and classical
    void updateParameterRows();

    Volume clean_;
    std::array<Volume, 4> images_;  // clean, noisy, learned, classical
    std::array<render::SliceView*, 4> views_{};
    QComboBox* type_ = nullptr;
    QComboBox* denoiserPicker_ = nullptr;
    QDoubleSpinBox* flipProbability_ = nullptr;
    QDoubleSpinBox* gridAmplitude_ = nullptr;
    QDoubleSpinBox* gridFrequency_ = nullptr;
    QDoubleSpinBox* gridRotation_ = nullptr;
    QSpinBox* rings_ = nullptr;
    QDoubleSpinBox* maskIntensity_ = nullptr;
    QDoubleSpinBox* maskWidth_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QFormLayout* form_ = nullptr;
    QTableWidget* metrics_ = nullptr;
    QLabel* sampleLabel_ = nullptr;
    QLabel* note_ = nullptr;  // why the noise changed nothing, when it did not
    QString bestClassical_;
    LearnedDenoiser learned_;
    QString learnedName_;
    QFutureWatcher<std::shared_ptr<NoiseLabResult>> watcher_;
    bool pending_ = false;
};

}  // namespace ms::ui
