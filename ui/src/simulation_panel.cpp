#include "microstudio/ui/simulation_panel.hpp"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>
#include <QValueAxis>
#include <cmath>

#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/jobs/snapshot.hpp"
#include "microstudio/physics/flory_huggins.hpp"
#include "microstudio/physics/run.hpp"
#include "microstudio/render/slice_view.hpp"
#include "microstudio/ui/chart_axes.hpp"

namespace ms::ui {

namespace {

QDoubleSpinBox* spin(QWidget* parent, double lo, double hi, double value, double step, int decimals) {
    auto* s = new QDoubleSpinBox(parent);
    s->setRange(lo, hi);
    s->setDecimals(decimals);
    s->setSingleStep(step);
    s->setValue(value);
    return s;
}

// Time spans decades (log axis); energy and length a small range each
// (linear axes on round numbers: a log axis over less than two octaves
// showed one label).
QChart* makeChart(const QString& title, QLineSeries* series, const QString& yTitle) {
    auto* chart = new QChart();
    chart->setTitle(title);
    chart->legend()->hide();
    chart->addSeries(series);
    auto* x = new QLogValueAxis();
    x->setTitleText("time");
    x->setLabelFormat("%g");
    chart->addAxis(x, Qt::AlignBottom);
    series->attachAxis(x);
    auto* y = new QValueAxis();
    y->setTitleText(yTitle);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(y);
    chart->setMargins(QMargins(2, 2, 2, 2));
    return chart;
}

void fitAxes(QChart* chart, QLineSeries* series) {
    if (series->count() == 0) return;
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (const QPointF& p : series->points()) {
        x0 = std::min(x0, p.x());
        x1 = std::max(x1, p.x());
        y0 = std::min(y0, p.y());
        y1 = std::max(y1, p.y());
    }
    const auto axes = chart->axes();
    for (QAbstractAxis* a : axes) {
        const bool horizontal = a->orientation() == Qt::Horizontal;
        const double lo = horizontal ? x0 : y0, hi = horizontal ? x1 : y1;
        if (auto* la = qobject_cast<QLogValueAxis*>(a)) la->setRange(lo * 0.9, hi * 1.1 + 1e-12);
        else if (auto* va = qobject_cast<QValueAxis*>(a)) setNiceRange(va, lo, hi);
    }
}

const char* kSizes[] = {"101x101", "128x128", "256x256", "64x64x32", "128x128x64"};

}  // namespace

SimulationPanel::SimulationPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QHBoxLayout(this);
    auto* controls = new QWidget(this);
    controls->setMaximumWidth(320);
    auto* form = new QFormLayout(controls);
    size_ = new QComboBox(controls);
    size_->setObjectName("simSize");
    size_->setEditable(true);
    for (const char* s : kSizes) size_->addItem(s);
    size_->setCurrentText("128x128");
    phi_ = spin(controls, 0.01, 0.99, 0.5, 0.01, 3);
    chi_ = spin(controls, 0.1, 20, 3.0, 0.1, 3);
    kappa_ = spin(controls, 0.01, 100, 2.0, 0.1, 3);
    mobility_ = spin(controls, 0.001, 100, 1.0, 0.1, 3);
    endTime_ = spin(controls, 1, 1e7, 2000, 100, 0);
    seed_ = new QSpinBox(controls);
    seed_->setRange(0, 1000000000);
    seed_->setValue(1);
    snapshotCount_ = new QSpinBox(controls);
    snapshotCount_->setRange(2, 2000);
    snapshotCount_->setValue(100);
    phases_ = new QSpinBox(controls);
    phases_->setRange(2, 3);
    spinodal_ = new QLabel(controls);
    spinodal_->setWordWrap(true);
    form->addRow(tr("size"), size_);
    form->addRow(tr("phi (blend ratio)"), phi_);
    form->addRow(tr("chi (interaction)"), chi_);
    form->addRow(QString(), spinodal_);
    form->addRow(tr("kappa"), kappa_);
    form->addRow(tr("mobility"), mobility_);
    form->addRow(tr("end time"), endTime_);
    form->addRow(tr("snapshots"), snapshotCount_);
    form->addRow(tr("phases"), phases_);
    form->addRow(tr("seed"), seed_);
    run_ = new QPushButton(tr("&Run"), controls);
    cancel_ = new QPushButton(tr("Cancel"), controls);
    cancel_->setEnabled(false);
    cancel_->setShortcut(QKeySequence(Qt::Key_Escape));
    run_->setToolTip(tr("Run the simulation (Alt+R)"));
    progress_ = new QProgressBar(controls);
    progress_->setRange(0, 1000);
    save_ = new QPushButton(tr("&Save run as..."), controls);
    toViewer_ = new QPushButton(tr("Show snapshot in viewer"), controls);
    toNoise_ = new QPushButton(tr("Send snapshot to noise lab"), controls);
    for (auto* b : {save_, toViewer_, toNoise_}) b->setEnabled(false);
    auto* buttons = new QHBoxLayout();
    buttons->addWidget(run_);
    buttons->addWidget(cancel_);
    form->addRow(buttons);
    form->addRow(progress_);
    form->addRow(save_);
    form->addRow(toViewer_);
    form->addRow(toNoise_);
    layout->addWidget(controls);

    auto* right = new QGridLayout();
    view_ = new render::SliceView(render::SliceAxis::XY, this);
    view_->setCrosshairVisible(false);
    view_->setCaption(tr("press Run"));
    scrub_ = new QSlider(Qt::Horizontal, this);
    scrub_->setEnabled(false);
    snapshotLabel_ = new QLabel(this);
    energy_ = new QLineSeries();
    length_ = new QLineSeries();
    energyChart_ = makeChart(tr("free energy per cell"), energy_, "F/N");
    lengthChart_ = makeChart(tr("characteristic length"), length_, "cells");
    auto* energyView = new QChartView(energyChart_, this);
    auto* lengthView = new QChartView(lengthChart_, this);
    // Repaints are coalesced (refresh_) so a fast run never floods the UI thread.
    refresh_.setSingleShot(true);
    refresh_.setInterval(200);
    connect(&refresh_, &QTimer::timeout, this, &SimulationPanel::refreshViews);
    right->addWidget(view_, 0, 0, 2, 1);
    right->addWidget(energyView, 0, 1);
    right->addWidget(lengthView, 1, 1);
    right->addWidget(scrub_, 2, 0);
    right->addWidget(snapshotLabel_, 2, 1);
    right->setColumnStretch(0, 3);
    right->setColumnStretch(1, 2);
    layout->addLayout(right, 1);

    auto updateSpinodal = [this] {
        const double chiS = physics::spinodalChi(phi_->value());
        spinodal_->setText(chi_->value() > chiS
                               ? tr("inside the spinodal (chi_s = %1): phase separates").arg(chiS, 0, 'f', 3)
                               : tr("outside the spinodal (chi_s = %1): stays mixed").arg(chiS, 0, 'f', 3));
    };
    connect(phi_, &QDoubleSpinBox::valueChanged, this, updateSpinodal);
    connect(chi_, &QDoubleSpinBox::valueChanged, this, updateSpinodal);
    updateSpinodal();
    connect(run_, &QPushButton::clicked, this, &SimulationPanel::start);
    connect(cancel_, &QPushButton::clicked, this, &SimulationPanel::cancel);
    connect(scrub_, &QSlider::valueChanged, this, &SimulationPanel::showSnapshot);
    connect(save_, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Save run"), "run.h5", "HDF5 (*.h5)");
        if (path.isEmpty()) return;
        try {
            saveRun(path);
        } catch (const std::exception& e) {
            QMessageBox::critical(this, tr("Cannot save run"), e.what());
        }
    });
    connect(toViewer_, &QPushButton::clicked, this, [this] {
        if (shown_.size()) emit sendToViewer(shown_, snapshotLabel_->text());
    });
    connect(toNoise_, &QPushButton::clicked, this, [this] {
        if (shown_.size()) emit sendToNoiseLab(shown_, snapshotLabel_->text());
    });
}

SimulationPanel::~SimulationPanel() {
    if (token_) token_->cancel();
    joinWorker();
    view_->setVolume(nullptr);
}

void SimulationPanel::joinWorker() {
    if (worker_.joinable()) worker_.join();
}

SimulationSettings SimulationPanel::settings() const {
    SimulationSettings s;
    s.dims = parseDims(size_->currentText().toStdString());
    s.phi = phi_->value();
    s.chi = chi_->value();
    s.kappa = kappa_->value();
    s.mobility = mobility_->value();
    s.seed = seed_->value();
    s.snapshots = snapshotCount_->value();
    s.endTime = endTime_->value();
    s.phases = phases_->value();
    return s;
}

void SimulationPanel::setSettings(const SimulationSettings& s) {
    size_->setCurrentText(QString::fromStdString(s.dims.str()));
    phi_->setValue(s.phi);
    chi_->setValue(s.chi);
    kappa_->setValue(s.kappa);
    mobility_->setValue(s.mobility);
    seed_->setValue(s.seed);
    snapshotCount_->setValue(s.snapshots);
    endTime_->setValue(s.endTime);
    phases_->setValue(s.phases);
}

void SimulationPanel::start() {
    if (running()) return;
    SimulationSettings s;
    try {
        s = settings();
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Bad size"), e.what());
        return;
    }
    joinWorker();
    snapshots_.clear();
    pendingEnergy_.clear();
    pendingLength_.clear();
    energy_->clear();
    length_->clear();
    scrub_->setEnabled(false);
    for (auto* b : {save_, toViewer_, toNoise_}) b->setEnabled(false);
    run_->setEnabled(false);
    cancel_->setEnabled(true);
    progress_->setValue(0);
    token_ = std::make_shared<ProgressToken>();
    auto token = token_;
    token->setListener([this](double f, const std::string&) {
        QMetaObject::invokeMethod(
            this, [this, f] { progress_->setValue(int(f * 1000)); }, Qt::QueuedConnection);
    });
    finished_ = false;
    worker_ = std::thread([this, s, token] {
        lowerCurrentThreadPriority();
        physics::CahnHilliardParams params;
        params.dims = s.dims;
        params.phi = s.phi;
        params.chi = s.chi;
        params.kappa = s.kappa;
        params.mobility = s.mobility;
        params.seed = std::uint64_t(s.seed);
        physics::RunPlan plan;
        plan.endTime = s.endTime;
        plan.snapshots = s.snapshots;
        bool completed = false;
        QString message;
        try {
            const auto summary = physics::runCahnHilliard(
                params, {}, plan,
                [this, s](const physics::SnapshotInfo& info, const physics::CahnHilliardSolver& solver) {
                    Volume v = jobs::snapshotVolume(info, solver, s.phases, true);
                    QMetaObject::invokeMethod(
                        this, [this, v = std::move(v)]() mutable { onSnapshot(std::move(v)); }, Qt::QueuedConnection);
                },
                {}, token.get(), std::max(1, defaultThreadCount() - 1));  // leave a core to the UI
            completed = true;
            message = tr("%1 steps, t = %2, %3 s, mass drift %4")
                          .arg(summary.steps)
                          .arg(summary.finalTime, 0, 'g', 5)
                          .arg(summary.seconds, 0, 'f', 1)
                          .arg(summary.massDrift, 0, 'g', 2);
        } catch (const Cancelled&) {
            message = tr("cancelled");
        } catch (const std::exception& e) {
            message = QString::fromStdString(e.what());
        }
        finished_ = true;
        QMetaObject::invokeMethod(
            this, [this, completed, message] { onFinished(completed, message); }, Qt::QueuedConnection);
    });
}

void SimulationPanel::cancel() {
    if (token_) token_->cancel();
}

void SimulationPanel::onSnapshot(Volume snapshot) {
    // Keep labels and attributes of every snapshot; the field only of the latest.
    if (!snapshots_.empty()) snapshots_.back().clearField();
    const double t = std::max(snapshot.attributes.count("time") ? snapshot.attributes.at("time") : 0.0, 1e-6);
    if (snapshot.attributes.count("energy")) pendingEnergy_.append(QPointF(t, snapshot.attributes.at("energy")));
    if (snapshot.attributes.count("length") && snapshot.attributes.at("length") > 0)
        pendingLength_.append(QPointF(t, snapshot.attributes.at("length")));
    snapshots_.push_back(std::move(snapshot));
    if (!refresh_.isActive()) refresh_.start();
    emit snapshotArrived(int(snapshots_.size()) - 1);
}

void SimulationPanel::refreshViews() {
    if (!pendingEnergy_.isEmpty()) energy_->append(pendingEnergy_);
    if (!pendingLength_.isEmpty()) length_->append(pendingLength_);
    pendingEnergy_.clear();
    pendingLength_.clear();
    fitAxes(energyChart_, energy_);
    fitAxes(lengthChart_, length_);
    if (snapshots_.empty()) return;
    const int last = int(snapshots_.size()) - 1;
    const bool following = !scrub_->isEnabled() || scrub_->value() == scrub_->maximum();
    scrub_->setRange(0, last);
    scrub_->setEnabled(true);
    if (following) {
        QSignalBlocker block(scrub_);
        scrub_->setValue(last);
        showSnapshot(last);
    }
    for (auto* b : {toViewer_, toNoise_}) b->setEnabled(true);
}

void SimulationPanel::showSnapshot(int index) {
    if (index < 0 || index >= int(snapshots_.size())) return;
    view_->setVolume(nullptr);
    const Volume& s = snapshots_[std::size_t(index)];
    shown_ = s.dims().is2D() ? s : s.slice(s.dims().nz / 2);
    shown_.attributes = s.attributes;
    const double t = s.attributes.count("time") ? s.attributes.at("time") : 0.0;
    const QString label = tr("snapshot %1, t = %2").arg(index).arg(t, 0, 'g', 4);
    snapshotLabel_->setText(label);
    view_->setCaption(s.dims().is2D() ? label : label + tr(" (middle z slice)"));
    view_->setVolume(&shown_);
}

void SimulationPanel::onFinished(bool completed, const QString& message) {
    joinWorker();
    refresh_.stop();
    refreshViews();
    run_->setEnabled(true);
    cancel_->setEnabled(false);
    save_->setEnabled(!snapshots_.empty());
    if (completed) progress_->setValue(1000);
    emit runFinished(completed, message);
}

void SimulationPanel::saveRun(const QString& path) const {
    if (snapshots_.empty()) throw Error("nothing to save: run a simulation first");
    std::vector<Volume> samples = snapshots_;
    for (std::size_t i = 0; i < samples.size(); ++i) samples[i].text["sample"] = jobs::snapshotName(int(i));
    io::writeHdf5(samples, path.toStdString());
}

}  // namespace ms::ui
