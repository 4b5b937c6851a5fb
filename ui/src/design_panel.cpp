#include "microstudio/ui/design_panel.hpp"

#include <QComboBox>
#include <QDir>
#include <QCoreApplication>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollArea>
#include <QScrollBar>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <QTimer>
#include <vtkCamera.h>
#include <vtkGenericOpenGLRenderWindow.h>
#include <vtkRenderer.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <utility>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/jobs/worker_protocol.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate3d.hpp"
#include "microstudio/ml/generator_card.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/render/phase_style.hpp"
#include "microstudio/render/vtk_widget.hpp"
#include "microstudio/ui/evaluation_view.hpp"
#include "microstudio/ui/training_job.hpp"
#include "microstudio/ui/viewer_panel.hpp"

namespace fs = std::filesystem;

namespace ms::ui {

namespace {

constexpr int kSliderSteps = 1000;
constexpr int kThumbnail = 96;       // gallery thumbnails, pixels
constexpr double kFitMargin = 0.95;  // a reset 3D view shows the volume within this fraction of its half-size
// Training samples the memorisation measure compares against (evaluate --training-count's default).
constexpr std::size_t kTrainingCount = 2000;

// The library's filter, ignored when the model records an unusable value.
double usableMinPhaseFraction(const ml::GeneratorCard& model) {
    const double f = ml::trainingMinPhaseFraction(model);
    return std::isfinite(f) && f >= 0.0 && f < 0.5 ? f : 0.0;
}

QString oneLine(const QString& text) { return text.simplified(); }

// For MicroGen3D's imported weights: where they came from and what a sample
// costs (measured at import; paper-size networks take minutes on a few cores).
QString importedModelNote(const ml::GeneratorCard& model) {
    const auto& training = model.metadata().training;
    if (!training.is_object() || !training.contains("imported")) return {};
    const auto& imported = training.at("imported");
    QString note = QObject::tr("\nImported MicroGen3D weights (noise prediction, no guidance)");
    const double seconds = numberOr(imported, "seconds_per_ddim50_sample", 0.0);
    if (seconds > 0) {
        const QString cost = seconds >= 90 ? QObject::tr("%1 min").arg(seconds / 60.0, 0, 'f', 1)
                                           : QObject::tr("%1 s").arg(seconds, 0, 'f', 1);
        note += QObject::tr(": expect about %1 per DDIM-50 sample (measured at import on %2 threads)")
                    .arg(cost)
                    .arg(int(numberOr(imported, "threads", 0)));
    }
    return note;
}

// Generator folders in the user's and the installed model folders (each holds generator3d.json).
std::vector<fs::path> installedGenerators() {
    std::vector<fs::path> found;
    for (const auto& folder : modelFolders()) {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(folder, ec))
            if (entry.is_directory() && fs::exists(entry.path() / "generator3d.json")) found.push_back(entry.path());
    }
    std::sort(found.begin(), found.end());
    return found;
}

// The middle z slice as a small picture in the phase colours.
QIcon thumbnail(const Volume& v) {
    const Volume s = v.dims().is2D() ? v : v.slice(v.dims().nz / 2);
    QImage image(s.dims().nx, s.dims().ny, QImage::Format_RGB32);
    for (int y = 0; y < s.dims().ny; ++y)
        for (int x = 0; x < s.dims().nx; ++x) {
            const auto c = render::phaseColor(s.at(x, s.dims().ny - 1 - y));
            image.setPixel(x, y, qRgb(int(c.r * 255), int(c.g * 255), int(c.b * 255)));
        }
    return QIcon(QPixmap::fromImage(image.scaled(kThumbnail, kThumbnail, Qt::KeepAspectRatio, Qt::FastTransformation)));
}

double attribute(const Volume& v, const std::string& name) {
    auto it = v.attributes.find(name);
    return it == v.attributes.end() ? std::nan("") : it->second;
}

QString number(double v) { return std::isnan(v) ? QString("-") : QString::number(v, 'g', 4); }

// A table that asks for its minimum height only and takes what is left: a
// table's default size hint (192 px) would make the controls' scroll area
// scroll where the table could simply scroll its own rows.
// Tab leaves it (arrow keys move between cells): a table that cycles Tab
// through its cells traps keyboard users.
class CompactTable : public QTableWidget {
public:
    CompactTable(int rows, int columns, QWidget* parent) : QTableWidget(rows, columns, parent) {
        setTabKeyNavigation(false);
    }
    QSize sizeHint() const override { return {QTableWidget::sizeHint().width(), minimumHeight()}; }
};

// A gallery that asks for the height of its minimum (one row of whole
// thumbnails with labels): the views above take the rest of the splitter.
class Gallery : public QListWidget {
public:
    using QListWidget::QListWidget;
    QSize sizeHint() const override { return {QListWidget::sizeHint().width(), minimumHeight()}; }
};

}  // namespace

DesignPanel::DesignPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QHBoxLayout(this);
    auto* controls = new QWidget(this);
    controls->setMaximumWidth(340);
    auto* controlLayout = new QVBoxLayout(controls);
    auto* pickRow = new QHBoxLayout();
    modelPicker_ = new QComboBox(controls);
    modelPicker_->setObjectName("modelPicker");
    auto* openModel = new QPushButton(tr("Open..."), controls);
    pickRow->addWidget(modelPicker_, 1);
    pickRow->addWidget(openModel);
    controlLayout->addWidget(new QLabel(tr("<b>Model</b>"), controls));
    controlLayout->addLayout(pickRow);
    modelInfo_ = new QLabel(tr("no model"), controls);
    modelInfo_->setObjectName("modelInfo");
    modelInfo_->setWordWrap(true);
    controlLayout->addWidget(modelInfo_);

    targetBox_ = new QGroupBox(tr("Target descriptors"), controls);
    targetForm_ = new QFormLayout(targetBox_);
    controlLayout->addWidget(targetBox_);
    feasibility_ = new QLabel(controls);
    feasibility_->setObjectName("feasibility");
    feasibility_->setWordWrap(true);
    useNearest_ = new QPushButton(tr("Use nearest feasible target"), controls);
    useNearest_->setVisible(false);
    controlLayout->addWidget(feasibility_);
    controlLayout->addWidget(useNearest_);
    connect(useNearest_, &QPushButton::clicked, this, &DesignPanel::useNearestFeasibleTarget);

    auto* sampling = new QGroupBox(tr("Sampling"), controls);
    auto* samplingForm = new QFormLayout(sampling);
    count_ = new QSpinBox(sampling);
    count_->setRange(1, 64);
    count_->setValue(4);
    seed_ = new QSpinBox(sampling);
    seed_->setRange(0, 1000000000);
    steps_ = new QSpinBox(sampling);
    steps_->setObjectName("steps");
    steps_->setRange(0, 1000);
    steps_->setValue(50);
    steps_->setSpecialValueText(tr("all"));  // DDIM with 0 steps: ancestral DDPM over every timestep
    steps_->setToolTip(tr("DDIM steps; 0 runs the full ancestral DDPM"));
    sampler_ = new QComboBox(sampling);
    sampler_->setObjectName("sampler");
    sampler_->addItem(tr("DDIM"), "ddim");
    sampler_->addItem(tr("DPM++"), "dpmpp");
    sampler_->addItem(tr("DDPM"), "ddpm");
    sampler_->setToolTip(
        tr("DDIM: the paper's fast sampler (50 steps). DPM-Solver++(2M): deterministic, 16 steps "
           "match DDIM-50 (R^2 within 0.003 on 256 test targets) at 2.6x the speed. DDPM: "
           "ancestral over all timesteps (slowest)."));
    connect(sampler_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { samplerChanged(); });
    guidance_ = new QDoubleSpinBox(sampling);
    guidance_->setObjectName("guidance");
    guidance_->setRange(0, 10);
    guidance_->setSingleStep(0.25);
    guidance_->setValue(1.0);
    guidance_->setToolTip(
        tr("Classifier-free guidance: 0 unconditional, 1 conditional, > 1 stronger; set to "
           "the scale chosen on validation when a model loads"));
    size_ = new QComboBox(sampling);
    size_->setObjectName("size");
    size_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    size_->setToolTip(
        tr("Volume size. Larger than the training box: the fully convolutional denoiser runs on "
           "the whole larger latent at once (no window seams); the cost grows with the voxels, "
           "512x512x32 in about 10 s on 2 cores (docs/ml3d.md)"));
    // One row for the count and the size: the panel's height sets the window's minimum.
    auto* samplesRow = new QHBoxLayout();
    samplesRow->addWidget(count_);
    samplesRow->addWidget(new QLabel(tr("size"), sampling));
    samplesRow->addWidget(size_, 1);
    samplingForm->addRow(tr("samples"), samplesRow);
    samplingForm->addRow(tr("seed"), seed_);
    // One row for the sampler and its steps: the panel's height sets the window's minimum.
    auto* solver = new QHBoxLayout();
    solver->addWidget(sampler_, 1);
    solver->addWidget(new QLabel(tr("steps"), sampling));
    solver->addWidget(steps_);
    samplingForm->addRow(tr("sampler"), solver);
    candidates_ = new QSpinBox(sampling);
    candidates_->setObjectName("candidates");
    candidates_->setRange(1, 64);
    candidates_->setValue(4);  // 4 draws per sample: measured R^2 0.96 vs 0.93 plain (docs/benchmarks.md), ~1.5 s each
    candidates_->setToolTip(
        tr("Screened generation: draw this many candidates per sample, measure each and keep "
           "the one nearest the target (costs this many times the time)"));
    tolerance_ = new QDoubleSpinBox(sampling);
    tolerance_->setObjectName("tolerance");
    tolerance_->setRange(0.0, 5.0);
    tolerance_->setSingleStep(0.05);
    tolerance_->setDecimals(2);
    tolerance_->setValue(0.0);
    tolerance_->setSpecialValueText(tr("off"));
    tolerance_->setToolTip(
        tr("Stop drawing candidates for a sample once one is measured within this distance of the "
           "target (in the training data's standard deviations); the candidates are then the most "
           "drawn. 0.3 keeps R^2 near all-candidate screening at about a fifth of the draws."));
    samplingForm->addRow(tr("guidance"), guidance_);
    // One row for both screening settings: the panel's height sets the window's minimum.
    auto* screening = new QHBoxLayout();
    screening->addWidget(candidates_);
    screening->addWidget(new QLabel(tr("stop within"), sampling));
    screening->addWidget(tolerance_, 1);
    samplingForm->addRow(tr("candidates"), screening);
    tolerance_->setEnabled(candidates_->value() > 1);
    connect(candidates_, qOverload<int>(&QSpinBox::valueChanged), tolerance_,
            [this](int k) { tolerance_->setEnabled(k > 1); });
    controlLayout->addWidget(sampling);

    auto* buttons = new QHBoxLayout();
    generate_ = new QPushButton(tr("&Generate"), controls);
    generate_->setObjectName("generate");
    generate_->setShortcut(QKeySequence(tr("Ctrl+G")));
    generate_->setToolTip(tr("Generate samples for the target (Ctrl+G)"));
    cancel_ = new QPushButton(tr("Cancel"), controls);
    cancel_->setEnabled(false);
    cancel_->setShortcut(QKeySequence(Qt::Key_Escape));
    buttons->addWidget(generate_);
    buttons->addWidget(cancel_);
    controlLayout->addLayout(buttons);
    progress_ = new QProgressBar(controls);
    progress_->setRange(0, 1000);
    controlLayout->addWidget(progress_);
    export_ = new QPushButton(tr("&Export..."), controls);
    export_->setEnabled(false);
    controlLayout->addWidget(export_);
    // The selected sample's figures sit under the controls (targets, measured
    // values, processing parameters; 7 rows for a 3-phase model), taking the
    // height left.
    controlLayout->addWidget(new QLabel(tr("<b>Selected sample</b>"), controls));
    comparison_ = new CompactTable(0, 3, controls);
    comparison_->setObjectName("comparison");
    comparison_->setHorizontalHeaderLabels({tr("quantity"), tr("target"), tr("result")});
    comparison_->horizontalHeaderItem(2)->setToolTip(
        tr("Descriptors: measured on the generated sample. Processing: predicted by the feature predictor."));
    comparison_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    comparison_->horizontalHeader()->setStretchLastSection(true);
    comparison_->verticalHeader()->hide();
    comparison_->verticalHeader()->setDefaultSectionSize(comparison_->fontMetrics().height() + 6);
    comparison_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    // At least the header and two rows; more as the window allows (the
    // rest scroll in the table rather than the controls around it).
    comparison_->setMinimumHeight(3 * comparison_->verticalHeader()->defaultSectionSize() +
                                  2 * comparison_->frameWidth());
    controlLayout->addWidget(comparison_, 1);
    // In a scroll area: a 3-phase model's four sliders and an infeasibility
    // note need more height than a small window has; they scroll instead of
    // squashing the spin boxes.
    auto* controlScroll = new QScrollArea(this);
    controlScroll->setObjectName("designControls");
    controlScroll->setFrameShape(QFrame::NoFrame);
    controlScroll->setWidgetResizable(true);
    controlScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    controlScroll->setWidget(controls);
    const int scrollBar = controlScroll->verticalScrollBar()->sizeHint().width();
    controlScroll->setFixedWidth(std::min(controls->sizeHint().width(), controls->maximumWidth()) + scrollBar);
    layout->addWidget(controlScroll);

    // Results: the samples (3D view, slices, gallery) and the evaluation.
    results_ = new QTabWidget(this);
    results_->setObjectName("designResults");
    results_->setDocumentMode(true);
    // Until samples exist the page says what to do, over the empty views
    // (they stay shown beneath: their OpenGL start-up is done with the
    // window's, not when the first sample arrives mid-generation).
    auto* samplesPage = new QWidget(results_);
    auto* samplesLayout = new QGridLayout(samplesPage);
    samplesLayout->setContentsMargins(0, 0, 0, 0);
    auto* right = new QSplitter(Qt::Vertical, samplesPage);
    samplesViews_ = right;
    right->setChildrenCollapsible(false);
    viewer_ = new ViewerPanel(right);
    gallery_ = new Gallery(right);
    gallery_->setObjectName("gallery");
    gallery_->setViewMode(QListView::IconMode);
    gallery_->setIconSize(QSize(kThumbnail, kThumbnail));
    gallery_->setResizeMode(QListView::Adjust);
    gallery_->setMovement(QListView::Static);
    gallery_->setWrapping(true);
    gallery_->setSpacing(4);
    // One row of whole thumbnails with their labels, at least: a shorter
    // gallery clipped them until the splitter above it was dragged.
    const int labelHeight = gallery_->fontMetrics().height() + 6;
    gallery_->setGridSize(QSize(kThumbnail + 12, kThumbnail + labelHeight + 8));
    gallery_->setMinimumHeight(gallery_->gridSize().height() + 2 * gallery_->spacing() + 2 * gallery_->frameWidth() +
                               4);
    gallery_->setToolTip(
        tr("The generated samples, each as soon as it is done (middle z slice); click one to see it above"));
    right->addWidget(viewer_);
    right->addWidget(gallery_);
    right->setStretchFactor(0, 1);
    right->setStretchFactor(1, 0);
    right->setHandleWidth(6);
    right->handle(1)->setToolTip(tr("Drag to share the height between the views and the gallery"));
    emptyHint_ = new QLabel(samplesPage);
    emptyHint_->setObjectName("designHint");
    emptyHint_->setWordWrap(true);
    emptyHint_->setAlignment(Qt::AlignCenter);
    emptyHint_->setMargin(24);
    emptyHint_->setAutoFillBackground(true);  // opaque: nothing of the views shows through
    emptyHint_->setMinimumSize(1, 1);         // the views' minimum rules the page's
    samplesLayout->addWidget(right, 0, 0);
    samplesLayout->addWidget(emptyHint_, 0, 0);  // added last: on top
    results_->addTab(samplesPage, tr("Samples"));
    results_->addTab(buildEvaluationPage(), tr("Evaluation"));
    results_->setTabToolTip(1, tr("How well the model hits its targets on held-out data (Evaluate)"));
    layout->addWidget(results_, 1);

    connect(openModel, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(
            this, tr("Open generator"), QString(), tr("MicroStudio generator (generator3d.json generator3d.pt)"));
        if (!path.isEmpty()) loadModel(path);
    });
    connect(modelPicker_, &QComboBox::activated, this, [this](int i) {
        const QString path = modelPicker_->itemData(i).toString();
        if (!path.isEmpty()) loadModel(path);
    });
    connect(&importer_, &MicroGen3dImporter::finished, this,
            [this](bool ok, const QString& folder, const QString& message) {
                const bool dialogs = std::exchange(importDialogs_, false);
                if (ok) {
                    refreshModelList();
                    loadModel(folder, true);
                    emit statusMessage(tr("Imported %1: %2").arg(QFileInfo(folder).fileName(), message));
                } else {
                    emit statusMessage(tr("Import failed: %1").arg(message));
                    if (dialogs) QMessageBox::warning(this, tr("Cannot import the MicroGen3D weights"), message);
                }
                emit imported(ok, message);
            });
    connect(generate_, &QPushButton::clicked, this, &DesignPanel::generate);
    connect(cancel_, &QPushButton::clicked, this, &DesignPanel::cancel);
    connect(gallery_, &QListWidget::currentRowChanged, this, &DesignPanel::select);
    connect(export_, &QPushButton::clicked, this, &DesignPanel::exportDialog);
    refreshModelList();
    updateActions();
    if (modelPicker_->count() > 1) loadModel(modelPicker_->itemData(1).toString(), true);  // the shipped default
    showPage();
}

DesignPanel::~DesignPanel() = default;  // the worker (a member) is asked to stop, then killed

QWidget* DesignPanel::buildEvaluationPage() {
    auto* page = new QWidget(results_);
    page->setObjectName("evaluationPage");
    auto* layout = new QVBoxLayout(page);
    auto* form = new QGridLayout();
    form->setColumnStretch(1, 1);
    const auto browse = [this, page](QLineEdit* field, const QString& title) {
        auto* button = new QToolButton(page);
        button->setText(tr("..."));
        button->setToolTip(title);
        connect(button, &QToolButton::clicked, this, [this, field, title] {
            QString start = field->text().trimmed();
            if (start.isEmpty() && !modelPath_.isEmpty()) start = modelPath_;
            const QString path =
                QFileDialog::getOpenFileName(this, title, start, tr("HDF5 samples (*.h5 *.hdf5);;All files (*)"));
            if (!path.isEmpty()) field->setText(path);
        });
        return button;
    };
    heldOut_ = new QLineEdit(page);
    heldOut_->setObjectName("evaluationData");
    heldOut_->setPlaceholderText(tr("held-out samples (.h5)"));
    heldOut_->setToolTip(
        tr("Held-out samples with the model's conditions as attributes (test or validation split; "
           "train-split samples are refused). Default: heldout-test.h5 in the model's folder, else "
           "the validation data the model's training recorded."));
    trainingData_ = new QLineEdit(page);
    trainingData_->setObjectName("evaluationTraining");
    trainingData_->setPlaceholderText(tr("optional: memorisation not measured"));
    trainingData_->setToolTip(
        tr("Optional training samples (.h5): memorisation, the voxel disagreement of generated and "
           "of held-out volumes to their nearest training sample (up to %1 training samples, "
           "evenly spaced; slower).")
            .arg(kTrainingCount));
    evaluationCount_ = new QSpinBox(page);
    evaluationCount_->setObjectName("evaluationCount");
    evaluationCount_->setRange(1, 100000);
    evaluationCount_->setValue(64);
    evaluationCount_->setToolTip(
        tr("Held-out samples used as targets (evenly spaced through the file, after the "
           "model's phase-fraction filter); one volume is generated for each"));
    evaluate_ = new QPushButton(tr("Eva&luate"), page);
    evaluate_->setObjectName("evaluate");
    evaluate_->setToolTip(
        tr("Generate one volume per held-out target with the Sampling group's steps, seed and "
           "guidance (plain sampling), describe it and compare it with its target"));
    cancelEvaluation_ = new QPushButton(tr("Cancel"), page);
    cancelEvaluation_->setObjectName("cancelEvaluation");
    cancelEvaluation_->setEnabled(false);
    form->addWidget(new QLabel(tr("Held-out data"), page), 0, 0);
    form->addWidget(heldOut_, 0, 1);
    form->addWidget(browse(heldOut_, tr("Held-out samples")), 0, 2);
    form->addWidget(new QLabel(tr("targets"), page), 0, 3, Qt::AlignRight);
    form->addWidget(evaluationCount_, 0, 4);
    form->addWidget(new QLabel(tr("Training data"), page), 1, 0);
    form->addWidget(trainingData_, 1, 1);
    form->addWidget(browse(trainingData_, tr("Training samples (memorisation)")), 1, 2);
    form->addWidget(evaluate_, 1, 3);
    form->addWidget(cancelEvaluation_, 1, 4);
    evaluationProgress_ = new QProgressBar(page);
    evaluationProgress_->setObjectName("evaluationProgress");
    evaluationProgress_->setRange(0, 1000);
    evaluationProgress_->setValue(0);
    form->addWidget(evaluationProgress_, 2, 0, 1, 5);
    layout->addLayout(form);
    evaluationMessage_ = new QLabel(page);
    evaluationMessage_->setObjectName("evaluationMessage");
    evaluationMessage_->setWordWrap(true);
    evaluationMessage_->setTextFormat(Qt::PlainText);
    evaluationMessage_->hide();
    layout->addWidget(evaluationMessage_);
    auto* scroll = new QScrollArea(page);
    scroll->setObjectName("evaluationScroll");
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setWidgetResizable(true);
    evaluationView_ = new EvaluationView(scroll);
    evaluationView_->setObjectName("evaluationView");
    scroll->setWidget(evaluationView_);
    layout->addWidget(scroll, 1);
    connect(evaluate_, &QPushButton::clicked, this, &DesignPanel::evaluate);
    connect(cancelEvaluation_, &QPushButton::clicked, this, &DesignPanel::cancelEvaluation);
    connect(heldOut_, &QLineEdit::returnPressed, this, &DesignPanel::evaluate);
    return page;
}

void DesignPanel::updateActions() {
    generate_->setEnabled(model_ && !busy());
    evaluate_->setEnabled(model_ && !busy());
    cancel_->setEnabled(generating());
    cancelEvaluation_->setEnabled(evaluating());
}

void DesignPanel::showEvaluationPage() { results_->setCurrentIndex(1); }

QString DesignPanel::heldOutPath() const { return heldOut_->text().trimmed(); }

void DesignPanel::resetEvaluationInputs() {
    heldOut_->setText(model_ ? QString::fromStdString(ml::defaultHeldOutData(*model_)) : QString());
    trainingData_->clear();
    evaluationView_->clear();
    evaluationProgress_->setValue(0);
    evaluationProgress_->setFormat("%p%");
    setEvaluationMessage({}, false);
}

void DesignPanel::setEvaluationMessage(const QString& message, bool warning) {
    evaluationMessage_->setText(message);
    evaluationMessage_->setStyleSheet(warning ? "color: #b04000; font-weight: bold;" : "");
    evaluationMessage_->setVisible(!message.isEmpty());
}

void DesignPanel::evaluate() {
    if (!model_ || busy()) return;
    const auto refuse = [this](const QString& message) {
        setEvaluationMessage(message, true);
        emit statusMessage(message);
        emit evaluated(false, message);
    };
    const QString data = heldOutPath(), training = trainingData_->text().trimmed();
    if (data.isEmpty())
        return refuse(tr("No held-out data: choose a .h5 file (the model's folder has no %1 and its training "
                         "recorded no validation data)")
                          .arg(ml::kShippedHeldOut));
    if (!QFileInfo(data).isFile()) return refuse(tr("Held-out file not found: %1").arg(data));
    if (!training.isEmpty() && !QFileInfo(training).isFile())
        return refuse(tr("Training data file not found: %1").arg(training));
    jobs::Evaluate3dRequest r;
    r.model = modelPath_.toStdString();
    r.data = data.toStdString();
    r.count = std::size_t(evaluationCount_->value());
    r.minPhaseFraction = usableMinPhaseFraction(*model_);
    r.training = training.toStdString();
    r.trainingCount = kTrainingCount;
    r.sampler = sampler_->currentData().toString().toStdString();
    r.steps = steps_->value();
    r.seed = std::uint64_t(seed_->value());
    r.guidance = guidance_->value();
    evaluationProgress_->setValue(0);
    evaluationProgress_->setFormat(tr("reading held-out samples: %p%"));
    setEvaluationMessage({}, false);
    evaluatedModelPath_ = modelPath_;
    evaluationSeed_ = seed_->value();
    evaluationClock_.start();
    evaluationRequest_ = worker_.send(jobs::requestMessage(0, r), [this](const Json& e) { onEvaluationEvent(e); });
    updateActions();
    emit statusMessage(tr("Evaluating %1 on %2").arg(QFileInfo(modelPath_).fileName(), data));
}

void DesignPanel::cancelEvaluation() {
    if (evaluating()) worker_.cancel(evaluationRequest_);
}

void DesignPanel::onEvaluationEvent(const Json& e) {
    const std::string kind = e["event"].get<std::string>();
    if (kind == "progress") {
        const QString text = QString::fromStdString(e.value("message", std::string()));
        evaluationProgress_->setValue(int(e["fraction"].get<double>() * 1000));
        evaluationProgress_->setFormat(text.isEmpty() ? QString("%p%") : QString("%1: %p%").arg(text));
        return;
    }
    EvaluationOutcome out;
    out.seconds = double(evaluationClock_.elapsed()) / 1000.0;
    if (kind == "error") {
        out.cancelled = e.value("cancelled", false);
        out.error = oneLine(QString::fromStdString(e.value("message", std::string("failed"))));
    } else if (kind == "done") {
        try {
            out.report =
                std::make_shared<const ml::Evaluation3dReport>(ml::Evaluation3dReport::fromJson(e.at("report")));
        } catch (const std::exception& error) {
            out.error = oneLine(QString::fromStdString(error.what()));
        }
    } else {
        return;
    }
    evaluationRequest_ = 0;
    onEvaluated(out);
}

void DesignPanel::onEvaluated(const EvaluationOutcome& outcome) {
    updateActions();
    const EvaluationOutcome* out = &outcome;
    const bool sameModel = evaluatedModelPath_ == modelPath_;
    evaluatedModelPath_.clear();
    evaluationProgress_->setFormat("%p%");
    QString message;
    bool ok = false;
    if (out->cancelled) {
        evaluationProgress_->setValue(0);
        message = tr("Evaluation cancelled");
        setEvaluationMessage(message, false);
    } else if (!out->error.isEmpty()) {
        evaluationProgress_->setValue(0);
        message = tr("Evaluation failed: %1").arg(out->error);
        setEvaluationMessage(message, true);
    } else if (!sameModel) {
        message = tr("Evaluation discarded: another model was loaded meanwhile");
        setEvaluationMessage(message, false);
    } else {
        ok = true;
        evaluationProgress_->setValue(1000);
        evaluationView_->showReport(*out->report, evaluationSeed_);
        message = tr("Evaluated %1 held-out targets in %2 s").arg(out->report->n).arg(out->seconds, 0, 'f', 1);
        evaluationProgress_->setFormat(message);  // in the bar: the figures get the height
        setEvaluationMessage({}, false);
        showEvaluationPage();
    }
    emit statusMessage(message);
    emit evaluated(ok, message);
}

void DesignPanel::importMicroGen3d() {
    if (importer_.running()) {
        emit statusMessage(tr("An import is running"));
        return;
    }
    MicroGen3dImportDialog dialog(this);
    if (dialog.exec() != QDialog::Accepted) return;
    const auto files = dialog.files();
    importDialogs_ = true;
    startImport(files, QDir(userModelDirectory()).filePath(files.name));
}

void DesignPanel::startImport(const MicroGen3dFiles& files, const QString& folder) {
    emit statusMessage(tr("Importing MicroGen3D weights into %1 (checking every tensor, timing one sample)...")
                           .arg(QDir::toNativeSeparators(folder)));
    importer_.start(files, folder);
}

void DesignPanel::refreshModelList() {
    // Rebuilding is not a user's change: keep it off the undo history.
    const QSignalBlocker block(modelPicker_);
    modelPicker_->clear();
    modelPicker_->addItem(tr("(choose a model)"), QString());
    for (const auto& folder : installedGenerators())
        modelPicker_->addItem(QString::fromStdString(folder.filename().string()),
                              QString::fromStdString(folder.string()));
    if (modelPath_.isEmpty()) return;
    for (int i = 1; i < modelPicker_->count(); ++i) {
        std::error_code ec;
        if (fs::equivalent(modelPicker_->itemData(i).toString().toStdString(), modelPath_.toStdString(), ec)) {
            modelPicker_->setCurrentIndex(i);
            return;
        }
    }
    modelPicker_->addItem(QFileInfo(modelPath_).fileName(), modelPath_);  // loaded from elsewhere
    modelPicker_->setCurrentIndex(modelPicker_->count() - 1);
}

QString DesignPanel::findGenerator(const QString& nameOrPath) {
    if (QFileInfo::exists(nameOrPath)) return nameOrPath;
    for (const auto& folder : installedGenerators())
        if (QString::fromStdString(folder.filename().string()) == nameOrPath)
            return QString::fromStdString(folder.string());
    return {};
}

QStringList DesignPanel::installedGeneratorNames() {
    QStringList names;
    for (const auto& folder : installedGenerators()) names << QString::fromStdString(folder.filename().string());
    return names;
}

bool DesignPanel::loadModel(const QString& path, bool quiet) {
    try {
        fs::path p = path.toStdString();
        if (fs::is_regular_file(p)) p = p.parent_path();
        // The card only: the networks load in the ML worker, on the first request.
        auto model = std::make_shared<ml::GeneratorCard>(ml::GeneratorCard::read(p));
        // The held-out figures are a side file: a broken one costs the
        // accuracy labels (a warning), never the model.
        QString evaluationWarning, evaluationError;
        ml::ModelEvaluation evaluation;
        try {
            evaluation = ml::readModelEvaluation(p);
            if (evaluation.known && evaluation.featureR2.empty())
                evaluationWarning =
                    tr("evaluation.json holds no feature-predictor R\u00b2 (fp_r2): accuracy of the "
                       "predicted parameters unknown");
        } catch (const std::exception& e) {
            evaluation = {};
            evaluationError = QString::fromStdString(e.what());
            evaluationWarning = tr("evaluation.json is unreadable: accuracy of the predicted parameters unknown");
        }
        model_ = std::move(model);
        const QString previousPath = modelPath_;
        modelPath_ = QString::fromStdString(fs::absolute(p).string());
        // Another model: its own held-out data, and the old figures go.
        if (modelPath_ != previousPath) resetEvaluationInputs();
        evaluation_ = std::move(evaluation);
        const auto& c = model_->config();
        QString info = tr("%1: %2-phase, %3 volumes, latent %4, runs in the ML worker")
                           .arg(QFileInfo(path).fileName())
                           .arg(c.vae.phases)
                           .arg(QString::fromStdString(c.vae.dims.str()))
                           .arg(QString::fromStdString(c.vae.latentDims().str()));
        info += importedModelNote(*model_);
        modelInfo_->setTextFormat(evaluationWarning.isEmpty() ? Qt::PlainText : Qt::RichText);
        if (!evaluationWarning.isEmpty())
            info = QString("%1<br><span style=\"color: #b04000;\">%2</span>")
                       .arg(info.toHtmlEscaped(), evaluationWarning.toHtmlEscaped());
        modelInfo_->setText(info);
        modelInfo_->setToolTip(evaluationError);
        if (!evaluationWarning.isEmpty()) {
            const QString message = evaluationError.isEmpty() ? evaluationWarning : evaluationError;
            qWarning("%s", qPrintable(message));
            emit statusMessage(tr("Model %1 loaded; %2").arg(QFileInfo(path).fileName(), message));
        }
        if (modelPicker_->findData(QString::fromStdString(p.string())) < 0)
            modelPicker_->addItem(QString::fromStdString(p.filename().string()), QString::fromStdString(p.string()));
        modelPicker_->setCurrentIndex(modelPicker_->findData(QString::fromStdString(p.string())));
        // The scale chosen on validation for this model (Generator3dConfig::guidance).
        guidance_->setValue(c.guidance);
        fillSizes(c.vae.dims);
        buildTargetControls();
        updateActions();
        showPage();
        return true;
    } catch (const std::exception& e) {
        if (!quiet) QMessageBox::critical(this, tr("Cannot load model"), e.what());
        else qWarning("%s", e.what());
        return false;
    }
}

void DesignPanel::buildTargetControls() {
    while (targetForm_->rowCount() > 0) targetForm_->removeRow(0);
    targets_.clear();
    for (const auto& range : model_->conditionRanges()) {
        TargetControl t;
        t.name = range.name;
        t.min = range.min;
        t.max = range.max > range.min ? range.max : range.min + 1.0;
        auto* row = new QWidget(targetBox_);
        auto* rowLayout = new QHBoxLayout(row);
        rowLayout->setContentsMargins(0, 0, 0, 0);
        t.slider = new QSlider(Qt::Horizontal, row);
        t.slider->setRange(0, kSliderSteps);
        t.slider->setObjectName(QString::fromStdString("target_" + range.name));
        t.spin = new QDoubleSpinBox(row);
        t.spin->setDecimals(4);
        t.spin->setRange(t.min, t.max);
        t.spin->setSingleStep((t.max - t.min) / 100.0);
        t.spin->setValue(std::clamp(range.mean, t.min, t.max));
        t.slider->setValue(int(std::lround((t.spin->value() - t.min) / (t.max - t.min) * kSliderSteps)));
        rowLayout->addWidget(t.slider, 1);
        rowLayout->addWidget(t.spin);
        const double lo = t.min, hi = t.max;
        QSlider* slider = t.slider;
        QDoubleSpinBox* spin = t.spin;
        // The slider writes through the spin box with its signals on, so the
        // feasibility check and the undo history see every slider move.
        connect(slider, &QSlider::valueChanged, spin,
                [=](int v) { spin->setValue(lo + (hi - lo) * v / kSliderSteps); });
        // A typed or stepped value moves the slider, quietly, and only when it
        // lies off the slider's position: a slider's own value, rounded to the
        // box's decimals, must not move the handle under the mouse.
        const double half = 0.5 * std::pow(10.0, -spin->decimals());
        connect(spin, &QDoubleSpinBox::valueChanged, slider, [=](double v) {
            if (std::abs(lo + (hi - lo) * slider->value() / kSliderSteps - v) <= half) return;
            const QSignalBlocker block(slider);
            slider->setValue(int(std::lround((v - lo) / (hi - lo) * kSliderSteps)));
        });
        connect(spin, &QDoubleSpinBox::valueChanged, this, &DesignPanel::updateFeasibility);
        t.slider->setToolTip(tr("training data: %1 .. %2, mean %3").arg(range.min).arg(range.max).arg(range.mean));
        targetForm_->addRow(QString::fromStdString(range.name), row);
        targets_.push_back(t);
    }
    updateFeasibility();
    emit targetsRebuilt();
}

void DesignPanel::updateFeasibility() {
    feasible_ = true;
    nearest_.clear();
    if (!model_) return;
    // A nearest-neighbour query over at most a few thousand vectors: cheap
    // enough to run on every slider move.
    const ml::FeasibilityReport report = model_->feasibility(request().target);
    if (!report.known) {
        feasibility_->setText(tr("Feasibility: unknown (the model carries no training conditions)"));
        feasibility_->setStyleSheet({});
    } else if (report.feasible) {
        feasibility_->setText(tr("Target inside the training data (distance %1 <= %2)")
                                  .arg(report.distance, 0, 'f', 2)
                                  .arg(report.threshold, 0, 'f', 2));
        feasibility_->setStyleSheet("color: #2a7a2a;");
    } else {
        feasible_ = false;
        nearest_ = report.nearest;
        // Short and wrappable (the sliders show the target; with four
        // conditions the full one-line message is wider than the column).
        QStringList nearest;
        for (const auto& name : model_->conditionNames()) {
            const auto it = report.nearest.find(name);
            if (it != report.nearest.end())
                nearest << QString("%1 %2").arg(QString::fromStdString(name)).arg(it->second, 0, 'g', 3);
        }
        feasibility_->setText(tr("Target outside the training data (distance %1 > %2); nearest feasible target: %3")
                                  .arg(report.distance, 0, 'f', 2)
                                  .arg(report.threshold, 0, 'f', 2)
                                  .arg(nearest.join(", ")));
        feasibility_->setStyleSheet("color: #b04000; font-weight: bold;");
    }
    feasibility_->setToolTip(report.known ? QString::fromStdString(report.message()) : QString());
    useNearest_->setVisible(!feasible_);
}

QString DesignPanel::feasibilityText() const { return feasibility_->text(); }

void DesignPanel::useNearestFeasibleTarget() {
    const auto nearest = nearest_;  // setTarget re-checks and replaces nearest_
    for (const auto& [name, value] : nearest) setTarget(name, value);
}

void DesignPanel::setTarget(const std::string& name, double value) {
    for (auto& t : targets_)
        if (t.name == name) {
            t.spin->setValue(value);
            return;
        }
    throw Error("the model has no condition " + name);
}

// Each sampler's step count: DDIM 50 (0 = ancestral DDPM), DPM-Solver++ 16
// (the count that matched DDIM-50), DDPM always every timestep.
void DesignPanel::samplerChanged() {
    const QString sampler = sampler_->currentData().toString();
    const bool ddpm = sampler == "ddpm";
    steps_->setEnabled(!ddpm);
    steps_->setMinimum(sampler == "dpmpp" ? 1 : 0);
    steps_->setValue(ddpm ? 0 : sampler == "dpmpp" ? 16 : 50);
    steps_->setToolTip(ddpm                 ? tr("DDPM runs every timestep of the model")
                       : sampler == "dpmpp" ? tr("DPM-Solver++ steps (network calls); 16 match DDIM-50")
                                            : tr("DDIM steps; 0 runs the full ancestral DDPM"));
}

DesignRequest DesignPanel::request() const {
    DesignRequest r;
    for (const auto& t : targets_) r.target[t.name] = t.spin->value();
    r.count = count_->value();
    r.sampler = sampler_->currentData().toString().toStdString();
    r.steps = steps_->value();
    r.guidance = guidance_->value();
    r.seed = seed_->value();
    r.candidates = candidates_->value();
    r.tolerance = tolerance_->value();
    const QString size = size_->currentData().toString();
    if (!size.isEmpty()) r.size = parseDims(size.toStdString());
    return r;
}

// The training size, then x and y doubled up to 512 (the depth is the training one).
void DesignPanel::fillSizes(const Dims& training) {
    size_->clear();
    // Compact "64x64x32" texts: the row shares its width with the sample count at 1024x700.
    size_->addItem(QString::fromStdString(training.str()), QString());
    size_->setItemData(0, tr("the training size"), Qt::ToolTipRole);
    for (int k = 2; training.nx * k <= 512 && training.ny * k <= 512; k *= 2) {
        const Dims d{training.nx * k, training.ny * k, training.nz};
        size_->addItem(QString::fromStdString(d.str()), QString::fromStdString(d.str()));
        size_->setItemData(size_->count() - 1, tr("%1 x the training size in x and y").arg(k), Qt::ToolTipRole);
    }
}

void DesignPanel::generate() {
    if (!model_ || busy()) return;
    const DesignRequest r = request();
    jobs::Generate3dRequest w;
    w.model = modelPath_.toStdString();
    w.targets.assign(std::size_t(r.count), r.target);
    w.sampler = r.sampler;
    w.steps = r.steps;
    w.guidance = r.guidance;
    w.seed = std::uint64_t(r.seed);
    w.candidates = r.candidates;
    w.tolerance = r.tolerance;
    w.size = r.size;
    runFiles_ = std::make_unique<QTemporaryDir>();
    w.outDir = runFiles_->path().toStdString();
    const int run = ++run_;
    runCount_ = r.count;
    runArrived_ = 0;
    runShown_ = false;
    runClock_.start();
    progress_->setValue(0);
    progress_->setFormat("%p%");
    generation_ = worker_.send(jobs::requestMessage(0, w), [this, run](const Json& e) { onGenerationEvent(run, e); });
    updateActions();
    showPage();
}

void DesignPanel::cancel() {
    if (generating()) worker_.cancel(generation_);
}

void DesignPanel::onGenerationEvent(int run, const Json& e) {
    if (run != run_) return;
    const std::string kind = e["event"].get<std::string>();
    try {
        if (kind == "progress") {
            showProgress(e["fraction"].get<double>());
            // Before the first step: the worker's start-up and the model's loading, in words.
            if (e["fraction"].get<double>() == 0.0)
                progress_->setFormat(QString::fromStdString(e.value("message", std::string())) + "\u2026");
        } else if (kind == "sample")
            addSample(run, e["index"].get<std::size_t>(), jobs::readGeneratedVolume(e["file"].get<std::string>()));
        else if (kind == "preview")
            addPreview(run, e["index"].get<std::size_t>(), jobs::readGeneratedVolume(e["file"].get<std::string>()),
                       e["step"].get<int>(), e["steps"].get<int>());
        else if (kind == "done") finishGeneration(QString(), false);
        else if (kind == "error")
            finishGeneration(QString::fromStdString(e.value("message", std::string("failed"))),
                             e.value("cancelled", false));
    } catch (const std::exception& error) {  // a sample file the worker wrote but this side cannot read
        worker_.cancel(generation_);
        finishGeneration(QString::fromStdString(error.what()), false);
    }
}

void DesignPanel::showProgress(double fraction) {
    if (!generating()) return;  // a late report after the end
    progress_->setValue(int(fraction * 1000));
    QString format = runCount_ > 1 ? tr("%p% \u00b7 %1 of %2 samples").arg(runArrived_).arg(runCount_) : QString("%p%");
    // The time left, from the pace so far (once there is a pace to go by).
    const double seconds = double(runClock_.elapsed()) / 1000.0;
    if (fraction >= 0.01 && fraction < 1.0 && seconds >= 0.5) {
        const double left = seconds * (1.0 - fraction) / fraction;
        format += left < 90 ? tr(" \u00b7 about %1 s left").arg(std::max(1L, std::lround(left)))
                            : tr(" \u00b7 about %1 min left").arg(std::lround(left / 60.0));
    }
    progress_->setFormat(format);
}

void DesignPanel::addSample(int run, std::size_t index, Volume sample) {
    if (run != run_) return;  // an earlier generation's
    startRunGallery();
    if (const int preview = previewRow(index); preview >= 0) delete gallery_->takeItem(preview);
    ++runArrived_;
    unsaved_ = true;
    // In index order (screening with a tolerance may finish a later sample first).
    const auto at = std::upper_bound(sampleIndex_.begin(), sampleIndex_.end(), index);
    const int row = int(at - sampleIndex_.begin());
    sampleIndex_.insert(at, index);
    samples_.insert(samples_.begin() + row, std::move(sample));
    gallery_->insertItem(row, new QListWidgetItem(thumbnail(samples_[std::size_t(row)]), tr("#%1").arg(index + 1)));
    export_->setEnabled(true);
    if (samples_.size() == 1) {
        showPage();
        results_->setCurrentIndex(0);  // the new samples
        gallery_->setCurrentRow(0);
        // Once the page is laid out: the view's size decides the fit.
        QTimer::singleShot(0, this, [this] { resetCamera(); });
    }
    showProgress(double(progress_->value()) / 1000.0);
}

void DesignPanel::startRunGallery() {
    if (runShown_) return;
    runShown_ = true;
    previousSamples_ = std::move(samples_);
    samples_.clear();
    sampleIndex_.clear();
    gallery_->clear();
}

// Previews sit after the done samples, in index order (plain sampling finishes in index order).
int DesignPanel::previewRow(std::size_t index) const {
    for (int row = int(samples_.size()); row < gallery_->count(); ++row)
        if (gallery_->item(row)->data(Qt::UserRole).toULongLong() == index) return row;
    return -1;
}

void DesignPanel::addPreview(int run, std::size_t index, const Volume& preview, int step, int steps) {
    if (run != run_ || !generating()) return;
    startRunGallery();
    if (std::find(sampleIndex_.begin(), sampleIndex_.end(), index) != sampleIndex_.end()) return;  // done already
    const QString caption = tr("#%1 \u00b7 step %2/%3").arg(index + 1).arg(step).arg(steps);
    if (const int shown = previewRow(index); shown >= 0) {
        gallery_->item(shown)->setIcon(thumbnail(preview));
        gallery_->item(shown)->setText(caption);
    } else {
        int row = int(samples_.size());
        while (row < gallery_->count() && gallery_->item(row)->data(Qt::UserRole).toULongLong() < index) ++row;
        auto* item = new QListWidgetItem(thumbnail(preview), caption);
        item->setData(Qt::UserRole, qulonglong(index));
        item->setFlags(Qt::ItemIsEnabled);  // not selectable: there is no sample to show yet
        item->setForeground(palette().color(QPalette::Disabled, QPalette::Text));
        item->setToolTip(
            tr("Sample #%1 while it denoises: the estimate at step %2 of %3").arg(index + 1).arg(step).arg(steps));
        gallery_->insertItem(row, item);
    }
    if (samples_.empty()) showPage();
}

void DesignPanel::removePreviews() {
    while (gallery_->count() > int(samples_.size())) delete gallery_->takeItem(gallery_->count() - 1);
}

void DesignPanel::finishGeneration(const QString& error, bool cancelled) {
    generation_ = 0;
    runFiles_.reset();  // every sample and preview is in memory by now
    updateActions();
    removePreviews();  // of samples that did not come
    const bool failed = cancelled || !error.isEmpty();
    if (failed && runArrived_ == 0 && !previousSamples_.empty()) showSamples(std::move(previousSamples_));
    previousSamples_.clear();
    if (failed) {
        QString message = cancelled ? tr("cancelled") : error;
        if (runArrived_ > 0)
            message = tr("%1 after %2 of %3 samples (kept)").arg(message).arg(runArrived_).arg(runCount_);
        // The bar says how it ended, not where it stopped.
        progress_->setValue(0);
        progress_->setFormat(cancelled ? tr("cancelled") : tr("failed"));
        showPage();
        emit generated(runArrived_, message);
        if (!cancelled) QMessageBox::warning(this, tr("Generation failed"), error);
        return;
    }
    progress_->setValue(1000);
    progress_->setFormat(
        tr("%1 samples in %2 s").arg(samples_.size()).arg(double(runClock_.elapsed()) / 1000.0, 0, 'f', 1));
    emit generated(int(samples_.size()), tr("generated %1 samples").arg(samples_.size()));
}

void DesignPanel::showSamples(std::vector<Volume> samples) {
    samples_ = std::move(samples);
    sampleIndex_.clear();
    gallery_->clear();
    for (std::size_t i = 0; i < samples_.size(); ++i) {
        sampleIndex_.push_back(i);
        gallery_->addItem(new QListWidgetItem(thumbnail(samples_[i]), tr("#%1").arg(i + 1)));
    }
    export_->setEnabled(!samples_.empty());
    showPage();
    if (!samples_.empty()) {
        results_->setCurrentIndex(0);
        gallery_->setCurrentRow(0);
        QTimer::singleShot(0, this, [this] { resetCamera(); });
    }
}

void DesignPanel::showPage() {
    // Covered views are off the keyboard's Tab chain too.
    samplesViews_->setEnabled(gallery_->count() > 0);  // samples or previews
    if (gallery_->count() > 0) {
        emptyHint_->hide();
        return;
    }
    if (!model_)
        emptyHint_->setText(
            tr("No model loaded. Pick a 3D generator above the targets (or Open... one, or train one in "
               "the Training tab), then press Generate."));
    else if (generating())
        emptyHint_->setText(tr("Generating %1 samples: each appears here, in 3D with its slices and in the gallery, as "
                               "soon as it is done. The bar on the left shows the time left.")
                                .arg(runCount_));
    else
        emptyHint_->setText(
            tr("No samples yet. Set the target descriptors on the left and press Generate (Ctrl+G): "
               "each sample appears here, in 3D with its slices and in the gallery, as soon as it is "
               "done."));
    emptyHint_->show();
}

QString DesignPanel::summary() const {
    if (!model_) return tr("Design: no model loaded; pick a generator");
    const QString model = QFileInfo(modelPath_).fileName();
    if (generating()) return tr("Design: generating %1 samples with %2").arg(runCount_).arg(model);
    if (samples_.empty()) return tr("Design: %1 loaded; set the targets and press Generate (Ctrl+G)").arg(model);
    return tr("Design: %1 samples of %2; sample #%3 shown").arg(samples_.size()).arg(model).arg(selected() + 1);
}

void DesignPanel::resetCamera() {
    // The view's size as shown now (a view first shown since its last
    // resize has not told VTK yet): the fit depends on it.
    render::VtkWidget* view = viewer_->view3d();
    const qreal dpr = view->devicePixelRatioF();
    view->renderWindow()->SetSize(int(view->width() * dpr), int(view->height() * dpr));
    viewer_->resetCamera();
    // The scene's reset zooms in for a wide view; a narrow one (this tab's
    // views sit beside the controls) would clip the volume's sides: widen
    // the view angle until every corner of the volume is in sight.
    vtkRenderer* renderer = view->renderer();
    double b[6];
    renderer->ComputeVisiblePropBounds(b);
    if (!(b[0] <= b[1])) return;
    for (int pass = 0; pass < 3; ++pass) {
        double worst = 0.0;
        for (int corner = 0; corner < 8; ++corner) {
            renderer->SetWorldPoint(b[corner & 1], b[2 + ((corner >> 1) & 1)], b[4 + ((corner >> 2) & 1)], 1.0);
            renderer->WorldToView();
            const double* p = renderer->GetViewPoint();
            worst = std::max({worst, std::abs(p[0]), std::abs(p[1])});
        }
        if (worst <= kFitMargin) break;
        renderer->GetActiveCamera()->Zoom(kFitMargin / worst);
    }
    renderer->ResetCameraClippingRange();
    view->requestRender();
}

void DesignPanel::saveSession(const QString& path) {
    if (!model_) throw Error("no model loaded: nothing to save");
    Json targets = Json::object();
    for (const auto& t : targets_) targets[t.name] = t.spin->value();
    Json session{{"format", "microstudio-session"},
                 {"version", 1},
                 {"model", modelPath_.toStdString()},
                 {"targets", targets},
                 {"count", count_->value()},
                 {"seed", seed_->value()},
                 {"sampler", sampler_->currentData().toString().toStdString()},
                 {"steps", steps_->value()},
                 {"guidance", guidance_->value()},
                 {"candidates", candidates_->value()},
                 {"tolerance", tolerance_->value()},
                 {"selected", selected()},
                 {"evaluation_data", heldOutPath().toStdString()},
                 {"evaluation_training", trainingData_->text().trimmed().toStdString()},
                 {"evaluation_count", evaluationCount_->value()}};
    const fs::path json = path.toStdString();
    if (!samples_.empty()) {
        const fs::path samples = json.string() + ".samples.h5";
        io::writeHdf5(samples_, samples);
        session["samples"] = samples.filename().string();
    }
    writeJsonFile(session, json);
    unsaved_ = false;
}

void DesignPanel::openSession(const QString& path) {
    const Json session = readJsonFile(path.toStdString());
    if (stringOr(session, "format", "") != "microstudio-session")
        throw Error(path.toStdString() + ": not a MicroStudio session file");
    const std::string model = stringOr(session, "model", "");
    if (!loadModel(QString::fromStdString(model), true))
        throw Error(path.toStdString() + ": cannot load its model " + model);
    if (session.contains("targets"))
        for (const auto& [name, value] : memberAt(session, "targets").items())
            if (value.is_number()) setTarget(name, value.get<double>());
    const auto integer = [&](const char* key, int fallback) { return int(numberOr(session, key, fallback)); };
    count_->setValue(integer("count", count_->value()));
    seed_->setValue(integer("seed", seed_->value()));
    const int sampler = sampler_->findData(QString::fromStdString(stringOr(session, "sampler", "ddim")));
    if (sampler < 0) throw Error(path.toStdString() + ": unknown sampler '" + stringOr(session, "sampler", "") + "'");
    sampler_->setCurrentIndex(sampler);
    steps_->setValue(integer("steps", steps_->value()));
    guidance_->setValue(numberOr(session, "guidance", guidance_->value()));
    candidates_->setValue(integer("candidates", candidates_->value()));
    tolerance_->setValue(numberOr(session, "tolerance", tolerance_->value()));
    // The chosen held-out and training files (older sessions: the model's defaults).
    if (session.contains("evaluation_data"))
        heldOut_->setText(QString::fromStdString(stringAt(session, "evaluation_data")));
    if (session.contains("evaluation_training"))
        trainingData_->setText(QString::fromStdString(stringAt(session, "evaluation_training")));
    evaluationCount_->setValue(integer("evaluation_count", evaluationCount_->value()));
    if (session.contains("samples")) {
        const fs::path samples = fs::path(path.toStdString()).parent_path() / stringAt(session, "samples");
        showSamples(io::readSamples(samples.string()));
        select(integer("selected", 0));
    }
}

int DesignPanel::selected() const {
    const int row = gallery_->currentRow();
    return row < int(samples_.size()) ? row : -1;  // previews after the samples are none
}

void DesignPanel::select(int index) {
    if (index < 0 || index >= int(samples_.size())) return;
    if (gallery_->currentRow() != index) gallery_->setCurrentRow(index);
    viewer_->setVolume(samples_[std::size_t(index)]);
    refreshComparison();
}

void DesignPanel::refreshComparison() {
    comparison_->setRowCount(0);
    const int i = selected();
    if (i < 0 || !model_) return;
    const Volume& v = samples_[std::size_t(i)];
    auto add = [this](const QString& name, const QString& target, const QString& value) {
        const int row = comparison_->rowCount();
        comparison_->insertRow(row);
        comparison_->setItem(row, 0, new QTableWidgetItem(name));
        comparison_->setItem(row, 1, new QTableWidgetItem(target));
        comparison_->setItem(row, 2, new QTableWidgetItem(value));
    };
    for (const auto& name : model_->conditionNames())
        add(QString::fromStdString(name), number(attribute(v, "target_" + name)), number(attribute(v, name)));
    // Processing conditions the feature predictor suggests, each with how well
    // it predicts them on held-out runs; below kMeaningfulR2 the value is greyed.
    const auto& outputs = model_->config().outputs;
    const auto& conditions = model_->config().conditions;
    const auto listed = [](const std::vector<std::string>& names, const std::string& name) {
        return std::find(names.begin(), names.end(), name) != names.end();
    };
    const double logTime = attribute(v, "predicted_log_time");
    if (listed(outputs, "phi")) addPrediction(tr("blend ratio phi"), "phi", number(attribute(v, "predicted_phi")));
    if (listed(outputs, "chi")) addPrediction(tr("interaction chi"), "chi", number(attribute(v, "predicted_chi")));
    if (listed(outputs, "log_time"))
        addPrediction(tr("anneal time"), "log_time", std::isnan(logTime) ? QString("-") : number(std::exp(logTime)));
    // Any other output that conditions nothing (an imported MicroGen3D model's
    // norm_STAT_e): carried and shown, not a slider.
    for (const auto& name : outputs)
        if (!listed(conditions, name) && name != "phi" && name != "chi" && name != "log_time")
            addPrediction(QString::fromStdString(name), name, number(attribute(v, "predicted_" + name)));
}

void DesignPanel::addPrediction(const QString& label, const std::string& output, const QString& value) {
    const int row = comparison_->rowCount();
    comparison_->insertRow(row);
    const auto r2 = evaluation_.featureR2.find(output);
    const bool measured = r2 != evaluation_.featureR2.end();
    const QString split = QString::fromStdString(evaluation_.split.empty() ? "held-out" : evaluation_.split);
    const QString target =
        measured ? tr("predicted, R\u00b2 %1 (%2)").arg(r2->second, 0, 'f', 2).arg(split) : tr("(predicted)");
    std::array<QTableWidgetItem*, 3> items{new QTableWidgetItem(label), new QTableWidgetItem(target),
                                           new QTableWidgetItem(value)};
    const bool weak = measured && r2->second < ml::kMeaningfulR2;
    for (std::size_t column = 0; column < items.size(); ++column) {
        if (weak) {
            items[column]->setForeground(palette().color(QPalette::Disabled, QPalette::Text));
            items[column]->setToolTip(tr("The feature predictor explains only %1% of the variance of %2 on the %3 "
                                         "split's runs (R\u00b2 %4 < %5): this value carries little information.")
                                          .arg(int(std::lround(std::max(0.0, r2->second) * 100)))
                                          .arg(label)
                                          .arg(split)
                                          .arg(r2->second, 0, 'f', 2)
                                          .arg(ml::kMeaningfulR2, 0, 'f', 1));
        } else if (!measured) {
            items[column]->setToolTip(
                evaluation_.known
                    ? tr("The model's evaluation.json has no held-out R\u00b2 for %1: accuracy unknown.").arg(label)
                    : tr("No held-out evaluation ships with this model (evaluation.json): accuracy unknown."));
        }
        comparison_->setItem(row, int(column), items[column]);
    }
}

std::vector<std::string> DesignPanel::exportExtensions() {
    std::vector<std::string> extensions = io::volumeExtensions();
    extensions.push_back("csv");
    return extensions;
}

QString DesignPanel::withFilterExtension(const QString& path, const QString& nameFilter) {
    if (!QFileInfo(path).suffix().isEmpty()) return path;
    // "Table (*.csv)" -> "csv"; "Microstructures (*.vti *.h5 ...)" -> "vti".
    const QRegularExpression firstPattern(R"(\*\.([A-Za-z0-9]+))");
    const auto match = firstPattern.match(nameFilter);
    return match.hasMatch() ? path + "." + match.captured(1) : path;
}

void DesignPanel::exportDialog() {
    QFileDialog dialog(this, tr("Export"), "design.vti");
    dialog.setAcceptMode(QFileDialog::AcceptSave);
    dialog.setNameFilters({QString::fromStdString(io::volumeFileFilter()), tr("Table (*.csv)")});
    if (dialog.exec() != QDialog::Accepted || dialog.selectedFiles().isEmpty()) return;
    const QString path = withFilterExtension(dialog.selectedFiles().first(), dialog.selectedNameFilter());
    try {
        exportTo(path);
        emit statusMessage(tr("Exported %1").arg(path));
    } catch (const std::exception& e) {
        QMessageBox::critical(this, tr("Export failed"), e.what());
    }
}

void DesignPanel::exportTo(const QString& path) {
    if (samples_.empty()) throw Error("nothing to export: generate first");
    const fs::path out = path.toStdString();
    const std::string extension = lowerExtension(out);
    const auto accepted = exportExtensions();
    if (std::find(accepted.begin(), accepted.end(), extension) == accepted.end()) {
        std::string list;
        for (const auto& e : accepted) list += (list.empty() ? "." : ", .") + e;
        throw Error(path.toStdString() +
                    (extension.empty() ? ": no file extension" : ": unknown file type '." + extension + "'") +
                    " (the export writes " + list + ")");
    }
    if (extension == "csv") {  // the table `microstudio-cli generate` writes beside its volumes
        writeLinesAtomically(out, ml::generatedCsvRows(samples_, model_->conditionNames(), model_->outputNames()));
        return;
    }
    if (io::formatOf(out) == io::Format::Hdf5) {
        io::writeHdf5(samples_, out);  // all samples, one dataset each
        unsaved_ = false;
        return;
    }
    io::writeVolume(samples_[std::size_t(std::max(0, selected()))], out);
}

}  // namespace ms::ui
