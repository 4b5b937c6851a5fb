#include "microstudio/ui/noise_lab_panel.hpp"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QInputDialog>
#include <QMessageBox>
#include <QPushButton>
#include <QCoreApplication>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <cmath>
#include <optional>

#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/noise/denoise.hpp"
#include "microstudio/noise/metrics.hpp"
#include "microstudio/noise/noise.hpp"
#include "microstudio/render/slice_view.hpp"

namespace ms::ui {

struct NoiseLabResult {
    noise::NoiseModel model;
    Volume noisy, learned, classical;
    bool unchanged = false;          // the noise changed no pixel of the clean image
    double dominantFrequency = 0.0;  // where the clean image's features sit (d_norm), when unchanged
    QString classicalName;
    noise::Metrics noisyMetrics, classicalMetrics;
    std::optional<noise::Metrics> learnedMetrics;
    QString learnedError;
    QString error;
};

namespace {

QDoubleSpinBox* spin(QWidget* parent, double lo, double hi, double value, double step, int decimals) {
    auto* s = new QDoubleSpinBox(parent);
    s->setRange(lo, hi);
    s->setValue(value);
    s->setSingleStep(step);
    s->setDecimals(decimals);
    s->setKeyboardTracking(false);
    return s;
}

// Why these settings change no pixel of this image, and what would.
QString unchangedNote(const noise::NoiseModel& model, double dominantFrequency) {
    switch (model.type) {
        case noise::NoiseType::SaltPepper:
            return QObject::tr("No pixel changes: at this flip_probability no pixel was drawn to flip.");
        case noise::NoiseType::Grid:
            return QObject::tr(
                "No pixel changes: the grid flips a pixel only where the pattern passes 0.5 "
                "(grid_amplitude above 0.5, grid_frequency above 0).");
        case noise::NoiseType::Frequency:
            break;
    }
    const int reaching = noise::ringsReaching(dominantFrequency);
    if (reaching != model.rings)
        return QObject::tr(
                   "No pixel changes: this image's features sit at d_norm = %1 in its spectrum, where no "
                   "ring lies. About %2 rings reach them (or a wider mask_width).")
            .arg(dominantFrequency, 0, 'f', 3)
            .arg(reaching);
    return QObject::tr(
               "No pixel changes: the rings reach this image's features (d_norm = %1) but take too little of "
               "them; raise mask_intensity or mask_width.")
        .arg(dominantFrequency, 0, 'f', 3);
}

}  // namespace

NoiseLabPanel::NoiseLabPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QHBoxLayout(this);
    auto* controls = new QWidget(this);
    // Wide enough for the metrics table's three columns beside its row names.
    controls->setFixedWidth(320);
    auto* controlLayout = new QVBoxLayout(controls);
    sampleLabel_ = new QLabel(tr("no sample"), controls);
    sampleLabel_->setWordWrap(true);
    controlLayout->addWidget(sampleLabel_);
    auto* openSample = new QPushButton(tr("Open sample (file or dataset)..."), controls);
    controlLayout->addWidget(openSample);
    connect(openSample, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open sample"), QString(),
                                                          QString::fromStdString(io::volumeFileFilter()));
        if (path.isEmpty()) return;
        int index = 0;
        try {
            // A file of several samples: pick one by index and name (the last,
            // the end of a run, first).
            const auto names = io::formatOf(path.toStdString()) == io::Format::Hdf5
                                   ? io::hdf5RequireSamples(path.toStdString())
                                   : std::vector<std::string>{};
            if (names.size() > 1) {
                QStringList items;
                for (std::size_t i = 0; i < names.size(); ++i)
                    items << QString("%1: %2").arg(i).arg(QString::fromStdString(names[i]));
                bool ok = false;
                const QString choice = QInputDialog::getItem(this, tr("Dataset sample"),
                                                             tr("%1 holds %2 samples (index 0 to %3). Sample:")
                                                                 .arg(QFileInfo(path).fileName())
                                                                 .arg(names.size())
                                                                 .arg(names.size() - 1),
                                                             items, items.size() - 1, false, &ok);
                if (!ok) return;
                index = int(items.indexOf(choice));
            }
            loadSample(path, index);
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Cannot use this sample"), e.what());
        }
    });
    auto* pickRow = new QHBoxLayout();
    pickRow->addWidget(new QLabel(tr("learned denoiser"), controls));
    denoiserPicker_ = new QComboBox(controls);
    denoiserPicker_->setObjectName("denoiserPicker");
    denoiserPicker_->addItem(tr("(none)"), QString());
    pickRow->addWidget(denoiserPicker_, 1);
    controlLayout->addLayout(pickRow);
    // Index, not text: undo/redo of the pick (by text) loads the model too.
    connect(denoiserPicker_, &QComboBox::currentIndexChanged, this,
            [this](int i) { emit denoiserPicked(i < 0 ? QString() : denoiserPicker_->itemData(i).toString()); });
    form_ = new QFormLayout();
    const noise::NoiseModel defaults;
    type_ = new QComboBox(controls);
    type_->setObjectName("noiseType");
    for (auto t : noise::allNoiseTypes()) type_->addItem(noise::noiseTypeName(t));
    flipProbability_ = spin(controls, 0, 1, defaults.flip_probability, 0.01, 3);
    gridAmplitude_ = spin(controls, 0, 5, defaults.grid_amplitude, 0.05, 3);
    gridFrequency_ = spin(controls, 0, 100, defaults.grid_frequency, 0.5, 2);
    gridRotation_ = spin(controls, -360, 360, defaults.grid_rotation, 1, 1);
    rings_ = new QSpinBox(controls);
    rings_->setRange(1, 64);
    rings_->setValue(defaults.rings);
    maskIntensity_ = spin(controls, 0, 1, defaults.mask_intensity, 0.05, 3);
    maskWidth_ = spin(controls, 0.001, 1, defaults.mask_width, 0.005, 3);
    seed_ = new QSpinBox(controls);
    seed_->setRange(0, 1000000);
    seed_->setValue(1);
    const std::pair<QWidget*, const char*> names[] = {{flipProbability_, "flipProbability"},
                                                      {gridAmplitude_, "gridAmplitude"},
                                                      {gridFrequency_, "gridFrequency"},
                                                      {gridRotation_, "gridRotation"},
                                                      {rings_, "rings"},
                                                      {maskIntensity_, "maskIntensity"},
                                                      {maskWidth_, "maskWidth"},
                                                      {seed_, "seed"}};
    for (const auto& [widget, name] : names) widget->setObjectName(name);
    form_->addRow(tr("noise"), type_);
    form_->addRow(tr("flip_probability"), flipProbability_);
    form_->addRow(tr("grid_amplitude"), gridAmplitude_);
    form_->addRow(tr("grid_frequency"), gridFrequency_);
    form_->addRow(tr("grid_rotation (deg)"), gridRotation_);
    form_->addRow(tr("rings"), rings_);
    form_->addRow(tr("mask_intensity"), maskIntensity_);
    form_->addRow(tr("mask_width"), maskWidth_);
    form_->addRow(tr("seed"), seed_);
    controlLayout->addLayout(form_);
    // Says so when the parameters change no pixel of this image (and why).
    note_ = new QLabel(controls);
    note_->setObjectName("noiseNote");
    note_->setWordWrap(true);
    note_->setStyleSheet("QLabel { color: #8a5a00; }");
    note_->hide();
    controlLayout->addWidget(note_);
    metrics_ = new QTableWidget(5, 0, controls);
    metrics_->setObjectName("noiseMetrics");
    metrics_->setTabKeyNavigation(false);  // Tab moves on; arrow keys move between cells
    metrics_->setVerticalHeaderLabels({"pixel_error", "iou_D", "iou_A", "delta_vf", "delta_tort_D"});
    metrics_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    // Columns share the width: all of them show, never behind a scroll bar.
    metrics_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    metrics_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    controlLayout->addWidget(new QLabel(tr("<b>Against the clean image</b>"), controls));
    controlLayout->addWidget(metrics_);
    controlLayout->addStretch(1);
    layout->addWidget(controls);

    auto* grid = new QGridLayout();
    const char* captions[4] = {"clean", "noisy", "no learned denoiser installed", "best classical"};
    for (int i = 0; i < 4; ++i) {
        views_[std::size_t(i)] = new render::SliceView(render::SliceAxis::XY, this);
        views_[std::size_t(i)]->setCrosshairVisible(false);
        views_[std::size_t(i)]->setCaption(captions[i]);
        grid->addWidget(views_[std::size_t(i)], i / 2, i % 2);
    }
    layout->addLayout(grid, 1);

    connect(type_, &QComboBox::currentIndexChanged, this, [this] {
        updateParameterRows();
        recompute();
    });
    for (auto* s : {flipProbability_, gridAmplitude_, gridFrequency_, gridRotation_, maskIntensity_, maskWidth_})
        connect(s, &QDoubleSpinBox::valueChanged, this, &NoiseLabPanel::recompute);
    for (auto* s : {rings_, seed_}) connect(s, &QSpinBox::valueChanged, this, &NoiseLabPanel::recompute);
    connect(&watcher_, &QFutureWatcher<std::shared_ptr<NoiseLabResult>>::finished, this, &NoiseLabPanel::showResult);
    updateParameterRows();
}

void NoiseLabPanel::setDenoiserChoices(const QList<QPair<QString, QString>>& choices, const QString& current) {
    QString keep = denoiserPicker_->currentData().toString();
    if (keep.isEmpty()) keep = current;
    {
        // Rebuilding the list is not a pick: no signal, no undo step.
        const QSignalBlocker block(denoiserPicker_);
        denoiserPicker_->clear();
        denoiserPicker_->addItem(tr("(none)"), QString());
        for (const auto& [name, path] : choices) denoiserPicker_->addItem(name, path);
        denoiserPicker_->setCurrentIndex(std::max(0, denoiserPicker_->findData(keep)));
    }
}

NoiseLabPanel::~NoiseLabPanel() {
    watcher_.waitForFinished();
    for (auto* v : views_) v->setVolume(nullptr);
}

void NoiseLabPanel::updateParameterRows() {
    const auto type = noise::parseNoiseType(type_->currentText().toStdString());
    form_->setRowVisible(flipProbability_, type == noise::NoiseType::SaltPepper);
    for (QWidget* w : {static_cast<QWidget*>(gridAmplitude_), static_cast<QWidget*>(gridFrequency_),
                       static_cast<QWidget*>(gridRotation_)})
        form_->setRowVisible(w, type == noise::NoiseType::Grid);
    for (QWidget* w :
         {static_cast<QWidget*>(rings_), static_cast<QWidget*>(maskIntensity_), static_cast<QWidget*>(maskWidth_)})
        form_->setRowVisible(w, type == noise::NoiseType::Frequency);
}

void NoiseLabPanel::setSample(const Volume& sample, const QString& name) {
    watcher_.waitForFinished();
    Volume clean = sample.dims().is2D() ? sample : sample.slice(sample.dims().nz / 2);
    clean.attributes.clear();
    sampleLabel_->setText(tr("Sample: %1 (%2)").arg(name, QString::fromStdString(clean.dims().str())));
    clean_ = std::move(clean);
    images_[0] = clean_;
    views_[0]->setVolume(&images_[0]);
    recompute();
}

void NoiseLabPanel::loadSample(const QString& path, int index) {
    const auto names = io::formatOf(path.toStdString()) == io::Format::Hdf5 ? io::hdf5SampleNames(path.toStdString())
                                                                            : std::vector<std::string>{};
    Volume v;
    QString name = QFileInfo(path).fileName();
    if (!names.empty()) {
        if (index < 0 || index >= int(names.size()))
            throw Error(path.toStdString() + ": sample index " + std::to_string(index) + " outside 0.." +
                        std::to_string(names.size() - 1));
        v = io::readHdf5Sample(path.toStdString(), names[std::size_t(index)]);
        name += ":" + QString::fromStdString(names[std::size_t(index)]);
    } else {
        v = io::readVolume(path.toStdString());
    }
    if (v.phaseCount() != 2) throw Error("the noise models need a two-phase image (donor and acceptor only)");
    setSample(v, name);
}

void NoiseLabPanel::setLearnedDenoiser(LearnedDenoiser denoiser, const QString& name) {
    learned_ = std::move(denoiser);
    learnedName_ = name;
    views_[2]->setCaption(learned_ ? tr("denoised by %1").arg(name) : tr("no learned denoiser installed"));
    recompute();
}

void NoiseLabPanel::recompute() {
    if (!clean_.size()) return;
    if (watcher_.isRunning()) {  // coalesce: one more run when this one ends
        pending_ = true;
        return;
    }
    noise::NoiseModel model;
    model.type = noise::parseNoiseType(type_->currentText().toStdString());
    model.flip_probability = flipProbability_->value();
    model.grid_amplitude = gridAmplitude_->value();
    model.grid_frequency = gridFrequency_->value();
    model.grid_rotation = gridRotation_->value();
    model.rings = rings_->value();
    model.mask_intensity = maskIntensity_->value();
    model.mask_width = maskWidth_->value();
    const auto seed = std::uint64_t(seed_->value());
    const Volume clean = clean_;
    const LearnedDenoiser learned = learned_;
    watcher_.setFuture(QtConcurrent::run([clean, model, seed, learned]() {
        auto r = std::make_shared<NoiseLabResult>();
        r->model = model;
        try {
            if (clean.phaseCount() != 2)
                throw Error("the noise models need a two-phase image (donor and acceptor only)");
            const auto descriptors = noise::defaultDescriptorFunction();
            const auto cleanDescriptors = descriptors ? descriptors(clean) : std::map<std::string, double>{};
            r->noisy = noise::applyNoise(clean, model, seed);
            r->noisyMetrics = noise::compare(clean, r->noisy, descriptors, &cleanDescriptors);
            r->unchanged = r->noisy.sameLabels(clean);
            if (r->unchanged && model.type == noise::NoiseType::Frequency)
                r->dominantFrequency = noise::dominantFrequencyDistance(clean);
            double best = 2.0;
            for (const auto& d : noise::standardDenoisers()) {
                if (d->kind() != noise::DenoiserKind::Classical) continue;
                Volume out = d->denoise(r->noisy);
                const double error = noise::pixelErrorRate(clean, out);
                if (error < best) {
                    best = error;
                    r->classical = std::move(out);
                    r->classicalName = QString::fromStdString(d->name());
                }
            }
            r->classicalMetrics = noise::compare(clean, r->classical, descriptors, &cleanDescriptors);
            if (learned) {
                // A model that cannot take this image (size) leaves its panel empty, not the lab.
                try {
                    r->learned = learned(r->noisy);
                    r->learnedMetrics = noise::compare(clean, r->learned, descriptors, &cleanDescriptors);
                } catch (const std::exception& e) {
                    r->learned = Volume();
                    r->learnedError = QString::fromStdString(e.what());
                }
            }
        } catch (const std::exception& e) {
            r->error = QString::fromStdString(e.what());
        }
        return r;
    }));
}

void NoiseLabPanel::showResult() {
    const auto r = watcher_.result();
    if (pending_) {
        pending_ = false;
        recompute();
        return;
    }
    metrics_->setColumnCount(0);
    note_->setVisible(r->error.isEmpty() && r->unchanged);
    if (note_->isVisibleTo(this)) note_->setText(unchangedNote(r->model, r->dominantFrequency));
    if (!r->error.isEmpty()) {
        sampleLabel_->setText(sampleLabel_->text().section('\n', 0, 0) + "\n" + r->error);
        clearResultImages();  // nothing of an earlier sample stays beside this one
        emit previewReady();
        return;
    }
    for (auto* v : views_) v->setVolume(nullptr);
    images_[1] = r->noisy;
    images_[2] = r->learned;
    images_[3] = r->classical;
    bestClassical_ = r->classicalName;
    views_[3]->setCaption(tr("best classical: %1").arg(r->classicalName));
    if (learned_)
        views_[2]->setCaption(r->learnedError.isEmpty() ? tr("denoised by %1").arg(learnedName_)
                                                        : tr("%1: %2").arg(learnedName_, r->learnedError));
    for (int i = 0; i < 4; ++i)
        views_[std::size_t(i)]->setVolume(images_[std::size_t(i)].size() ? &images_[std::size_t(i)] : nullptr);
    // One column per image, one row per metric.
    // Short headers keep the columns narrow; the tooltip names the denoiser.
    auto addRow = [this](const QString& name, const QString& tip, const noise::Metrics& m) {
        const int column = metrics_->columnCount();
        metrics_->insertColumn(column);
        auto* header = new QTableWidgetItem(name);
        header->setToolTip(tip);
        metrics_->setHorizontalHeaderItem(column, header);
        const double values[5] = {m.pixel_error, m.iou_D, m.iou_A, m.delta_vf, m.delta_tort_D.value_or(std::nan(""))};
        for (int r = 0; r < 5; ++r)
            metrics_->setItem(
                r, column,
                new QTableWidgetItem(std::isnan(values[r]) ? QString("-") : QString::number(values[r], 'f', 4)));
    };
    addRow(tr("noisy"), tr("the noisy image"), r->noisyMetrics);
    if (r->learnedMetrics) addRow(tr("learned"), tr("denoised by %1").arg(learnedName_), *r->learnedMetrics);
    addRow(tr("classical"), tr("best classical: %1").arg(r->classicalName), r->classicalMetrics);
    // As tall as its rows (sized now, with the style's fonts): no empty box under them.
    metrics_->setFixedHeight(metrics_->horizontalHeader()->sizeHint().height() + metrics_->verticalHeader()->length() +
                             2 * metrics_->frameWidth());
    emit previewReady();
}

void NoiseLabPanel::clearResultImages() {
    for (std::size_t i = 1; i < images_.size(); ++i) {
        views_[i]->setVolume(nullptr);
        images_[i] = Volume();
    }
    bestClassical_.clear();
    views_[3]->setCaption(tr("best classical"));
}

void NoiseLabPanel::waitForPreview() {
    while (watcher_.isRunning() || pending_) {
        watcher_.waitForFinished();
        QCoreApplication::processEvents();
    }
    QCoreApplication::processEvents();
}

}  // namespace ms::ui
