#include "microstudio/ui/describe_panel.hpp"

#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QClipboard>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineSeries>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <QSettings>
#include <QTableWidget>
#include <QValueAxis>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>

#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/render/phase_style.hpp"
#include "microstudio/ui/chart_axes.hpp"

namespace ms::ui {

// One describe on the worker thread: its own copy of the volume.
struct DescribeRun {
    int generation = 0;
    Volume volume;
    descriptors::Options options;
    ProgressToken progress;
    descriptors::Result result;
    QString error;
    bool cancelled = false;
};

namespace {
const char* kPhaseNames[kMaxPhases] = {"Donor", "Acceptor", "Mixed"};
}

DescribePanel::DescribePanel(QWidget* parent) : QWidget(parent) {
    setObjectName("describePanel");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* run = new QHBoxLayout;
    describeButton_ = new QPushButton(tr("&Describe"), this);
    describeButton_->setObjectName("describeButton");
    describeButton_->setToolTip(
        tr("Measure the GraSPI descriptors, S2 and domain sizes of the shown volume "
           "(as microstudio-cli describe --extras)"));
    cancelButton_ = new QPushButton(tr("Cancel"), this);
    cancelButton_->setObjectName("describeCancel");
    cancelButton_->setEnabled(false);
    periodic_ = new QCheckBox(tr("periodic"), this);
    periodic_->setObjectName("describePeriodic");
    periodic_->setToolTip(tr("Wrap the sides (x in 2D; x and y in 3D), as describe --periodic"));
    run->addWidget(describeButton_);
    run->addWidget(cancelButton_);
    run->addWidget(periodic_);
    run->addStretch(1);
    layout->addLayout(run);
    progress_ = new QProgressBar(this);
    progress_->setObjectName("describeProgress");
    progress_->setRange(0, 100);
    progress_->setMaximumHeight(14);
    progress_->setTextVisible(false);
    progress_->hide();
    layout->addWidget(progress_);
    state_ = new QLabel(this);
    state_->setObjectName("describeState");
    state_->setWordWrap(true);
    layout->addWidget(state_);

    table_ = new QTableWidget(0, 2, this);
    table_->setObjectName("descriptorTable");
    table_->setTabKeyNavigation(false);  // Tab moves on; arrow keys move between cells
    table_->setHorizontalHeaderLabels({tr("descriptor"), tr("value")});
    // Values in full; a long name is elided (its tooltip says it whole).
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    table_->horizontalHeader()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    table_->setTextElideMode(Qt::ElideMiddle);
    table_->verticalHeader()->hide();
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 4);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setMinimumHeight(80);
    chart_ = new QChartView(new QChart(), this);
    chart_->setObjectName("s2Chart");
    chart_->setRenderHint(QPainter::Antialiasing);
    chart_->setMinimumHeight(120);
    chart_->setToolTip(
        tr("Two-point correlation S2(r): the probability that two voxels r apart along an axis are both "
           "of the phase (averaged over the axes). S2(0) is the volume fraction; it falls to its "
           "square over about the domain size."));
    chart_->chart()->setMargins(QMargins(2, 2, 2, 2));
    chart_->chart()->setBackgroundRoundness(0);
    // Table and plot share the height equally.
    layout->addWidget(table_, 1);
    layout->addWidget(chart_, 1);

    auto* out = new QHBoxLayout;
    copyButton_ = new QPushButton(tr("&Copy"), this);
    copyButton_->setObjectName("describeCopy");
    copyButton_->setToolTip(tr("Copy the table as CSV (the columns of microstudio-cli describe --format csv)"));
    exportButton_ = new QPushButton(tr("&Export CSV..."), this);
    exportButton_->setObjectName("describeExport");
    exportButton_->setToolTip(
        tr("Save the table as CSV (as microstudio-cli describe --extras --format csv writes it)"));
    out->addWidget(copyButton_);
    out->addWidget(exportButton_);
    out->addStretch(1);
    layout->addLayout(out);

    connect(describeButton_, &QPushButton::clicked, this, &DescribePanel::describe);
    connect(cancelButton_, &QPushButton::clicked, this, &DescribePanel::cancel);
    connect(periodic_, &QCheckBox::toggled, this,
            [this](bool on) { restart(tr("Press Describe for the %1 sides.").arg(on ? tr("periodic") : tr("open"))); });
    connect(copyButton_, &QPushButton::clicked, this, &DescribePanel::copyCsv);
    connect(exportButton_, &QPushButton::clicked, this, &DescribePanel::exportDialog);
    connect(&watcher_, &QFutureWatcher<void>::finished, this, &DescribePanel::finished);
    clearResult(tr("Open a volume, then press Describe."));
}

DescribePanel::~DescribePanel() {
    if (running_) running_->progress.cancel();
    watcher_.waitForFinished();
}

void DescribePanel::setVolume(const Volume* volume, const QString& sourceName) {
    volume_ = volume;
    sourceName_ = sourceName;
    restart(volume_ && volume_->size() ? tr("Press Describe to measure this volume.") : tr("No volume."));
}

void DescribePanel::restart(const QString& hint) {
    ++generation_;  // a run in progress measures something else now
    if (running_) running_->progress.cancel();
    clearResult(hint);
    if (isVisible()) describe();
}

void DescribePanel::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (stale_ && !isRunning()) describe();
}

void DescribePanel::describe() {
    if (!volume_ || !volume_->size()) return;
    if (isRunning()) return;  // a run for an earlier volume restarts this one when it ends
    auto run = std::make_shared<DescribeRun>();
    run->generation = generation_;
    run->volume = *volume_;
    run->options.extras = true;  // S2, interface area, domain sizes
    run->options.periodic = periodic_->isChecked();
    run->options.threads = std::max(1, defaultThreadCount() - 1);  // leave a core to the UI (same result for any count)
    const int generation = generation_;
    run->progress.setListener([this, generation](double fraction, const std::string&) {
        QMetaObject::invokeMethod(
            this,
            [this, generation, fraction] {
                if (generation == generation_) progress_->setValue(int(fraction * 100));
            },
            Qt::QueuedConnection);
    });
    running_ = run;
    progress_->setValue(0);
    progress_->show();
    describeButton_->setEnabled(false);
    cancelButton_->setEnabled(true);
    state_->setText(tr("Describing %1...").arg(QString::fromStdString(volume_->dims().str())));
    watcher_.setFuture(QtConcurrent::run([run] {
        lowerCurrentThreadPriority();  // the window stays responsive (its threads inherit this)
        try {
            run->result = descriptors::describe(run->volume, run->options, &run->progress);
        } catch (const Cancelled&) {
            run->cancelled = true;
        } catch (const std::exception& e) {
            run->error = QString::fromStdString(e.what());
        }
    }));
}

void DescribePanel::cancel() {
    if (running_) running_->progress.cancel();
}

void DescribePanel::finished() {
    const auto run = std::move(running_);
    progress_->hide();
    describeButton_->setEnabled(true);
    cancelButton_->setEnabled(false);
    if (!run) return;
    if (run->generation != generation_) {
        // Another volume (or setting) since: describe that one when it is on screen.
        if (isVisible()) describe();
        return;
    }
    if (run->cancelled) {
        state_->setText(tr("Cancelled. Press Describe to measure this volume."));
        return;
    }
    if (!run->error.isEmpty()) {
        state_->setText(tr("Cannot describe: %1").arg(run->error));
        emit statusMessage(tr("Describe: %1").arg(run->error));
        return;
    }
    result_ = std::make_unique<descriptors::Result>(std::move(run->result));
    stale_ = false;
    showResult();
    emit described();
}

void DescribePanel::clearResult(const QString& hint) {
    result_.reset();
    stale_ = true;
    table_->setRowCount(0);
    chart_->chart()->removeAllSeries();
    for (QAbstractAxis* a : chart_->chart()->axes()) chart_->chart()->removeAxis(a);
    chart_->chart()->setTitle(QString());
    copyButton_->setEnabled(false);
    exportButton_->setEnabled(false);
    state_->setText(hint);
}

void DescribePanel::showResult() {
    const auto& r = *result_;
    const auto entries = r.all();
    table_->setRowCount(int(entries.size()));
    for (int row = 0; row < int(entries.size()); ++row) {
        const auto& e = entries[std::size_t(row)];
        const QString name = QString::fromStdString(e.name);
        const QString meaning = QString::fromStdString(descriptors::glossary(e.name));
        auto* nameItem = new QTableWidgetItem(name);
        nameItem->setToolTip(QString("<b>%1</b>: %2").arg(name, meaning.toHtmlEscaped()));
        const std::string cell = descriptors::formatCell(e);
        auto* valueItem = new QTableWidgetItem(cell.empty() ? tr("n/a") : QString::fromStdString(cell));
        valueItem->setToolTip(cell.empty() ? tr("0/0 here: GraSPI prints no line for it") : meaning);
        valueItem->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        table_->setItem(row, 0, nameItem);
        table_->setItem(row, 1, valueItem);
    }
    plotS2();
    copyButton_->setEnabled(true);
    exportButton_->setEnabled(true);
    state_->setText(tr("%1 phases, %2 sides: %3 values")
                        .arg(r.phases)
                        .arg(r.periodic ? tr("periodic") : tr("open"))
                        .arg(entries.size()));
}

void DescribePanel::plotS2() {
    QChart* chart = chart_->chart();
    chart->removeAllSeries();
    for (QAbstractAxis* a : chart->axes()) chart->removeAxis(a);
    auto* x = new QValueAxis();
    auto* y = new QValueAxis();
    x->setTitleText(tr("r (voxels)"));
    y->setTitleText(tr("S2(r)"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    double top = 0;
    int last = 1;
    for (std::size_t p = 0; p < result_->s2.size(); ++p) {
        const auto& curve = result_->s2[p];
        auto* series = new QLineSeries();
        series->setName(kPhaseNames[p % kMaxPhases]);
        const render::Rgb c = render::phaseColor(int(p));
        series->setPen(QPen(QColor(int(c.r * 255), int(c.g * 255), int(c.b * 255)), 2));
        for (std::size_t r = 0; r < curve.size(); ++r) series->append(double(r), curve[r]);
        if (!curve.empty()) top = std::max(top, *std::max_element(curve.begin(), curve.end()));
        last = std::max(last, int(curve.size()) - 1);
        chart->addSeries(series);
        series->attachAxis(x);
        series->attachAxis(y);
    }
    setNiceRange(x, 0, last);
    setNiceRange(y, 0, top > 0 ? top : 1);
    chart->legend()->setAlignment(Qt::AlignTop);
}

QString DescribePanel::sourceName() const {
    if (!sourceName_.isEmpty()) return sourceName_;
    // The name the studio shows for the volume ("grf3d_a.txt - MicroStudio").
    const QString title = window()->windowTitle().section(" - ", 0, 0);
    return title.isEmpty() ? QStringLiteral("volume") : title;
}

QString DescribePanel::csvText() const {
    if (!result_) return {};
    return QString::fromStdString(descriptors::formatCsv({sourceName().toStdString()}, {*result_}));
}

void DescribePanel::copyCsv() {
    if (!result_) return;
    QApplication::clipboard()->setText(csvText());
    emit statusMessage(tr("Descriptors copied as CSV"));
}

void DescribePanel::exportCsv(const QString& path) const {
    const std::string where = path.toStdString();
    if (!result_) throw Error(where + ": nothing described yet");
    QSaveFile file(path);  // a temporary file renamed on commit
    const QByteArray text = csvText().toUtf8();
    if (!file.open(QIODevice::WriteOnly) || file.write(text) != text.size() || !file.commit())
        throw Error(where + ": cannot write (" + file.errorString().toStdString() + ")");
}

void DescribePanel::exportDialog() {
    QSettings settings;
    const QString start = settings.value("paths/lastDescribeCsv", "descriptors.csv").toString();
    const QString path = QFileDialog::getSaveFileName(this, tr("Export descriptors"), start, tr("CSV (*.csv)"));
    if (path.isEmpty()) return;
    try {
        exportCsv(path);
        settings.setValue("paths/lastDescribeCsv", path);
        emit statusMessage(tr("Saved %1").arg(path));
    } catch (const std::exception& e) {
        QMessageBox::critical(this, tr("Cannot export the descriptors"), QString::fromStdString(e.what()));
    }
}

}  // namespace ms::ui
