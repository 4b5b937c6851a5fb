#include "microstudio/ui/viewer_panel.hpp"

#include <QCheckBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>

#include "microstudio/render/phase_scene.hpp"
#include "microstudio/render/phase_style.hpp"
#include "microstudio/render/screenshot.hpp"
#include "microstudio/render/slice_view.hpp"
#include "microstudio/render/vtk_widget.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/ui/sample_control.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIBE_PANEL
#include "microstudio/ui/describe_panel.hpp"
#endif

namespace ms::ui {

struct ReadSample {
    int generation = 0;
    int index = 0;
    Volume volume;
    QString error;
};

namespace {
const char* kPhaseNames[kMaxPhases] = {"Donor (D)", "Acceptor (A)", "Mixed (M)"};

QString opacityToolTip(int phase, bool is2D) {
    return is2D ? QObject::tr("A 2D image has no 3D view: opacity applies to the 3D view of a volume")
                : QObject::tr("Opacity of %1 in the 3D view").arg(kPhaseNames[phase]);
}
}  // namespace

ViewerPanel::ViewerPanel(QWidget* parent) : QWidget(parent) {
    auto* splitter = new QSplitter(Qt::Horizontal, this);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(splitter);
    splitter->addWidget(buildPhasePanel());

    auto* viewColumn = new QWidget(splitter);
    auto* columnLayout = new QVBoxLayout(viewColumn);
    columnLayout->setContentsMargins(0, 0, 0, 0);
    columnLayout->setSpacing(0);
    sampleControl_ = new SampleControl(viewColumn);
    sampleControl_->hide();
    columnLayout->addWidget(sampleControl_);
    connect(sampleControl_, &SampleControl::indexRequested, this, &ViewerPanel::requestSample);
    connect(&sampleReader_, &QFutureWatcher<std::shared_ptr<ReadSample>>::finished, this, &ViewerPanel::sampleRead);
    auto* views = new QWidget(viewColumn);
    columnLayout->addWidget(views, 1);
    viewGrid_ = new QGridLayout(views);
    viewGrid_->setContentsMargins(2, 2, 2, 2);
    viewGrid_->setSpacing(2);
    view3d_ = new render::VtkWidget(views);
    scene_ = std::make_unique<render::PhaseScene>(view3d_->renderer());
    slices_ = {new render::SliceView(render::SliceAxis::XY, views), new render::SliceView(render::SliceAxis::XZ, views),
               new render::SliceView(render::SliceAxis::YZ, views)};
    viewGrid_->addWidget(view3d_, 0, 0);
    viewGrid_->addWidget(slices_[0], 0, 1);
    viewGrid_->addWidget(slices_[1], 1, 0);
    viewGrid_->addWidget(slices_[2], 1, 1);
    for (int i = 0; i < 2; ++i) {
        viewGrid_->setColumnStretch(i, 1);
        viewGrid_->setRowStretch(i, 1);
    }
    for (auto* s : slices_) connect(s, &render::SliceView::positionPicked, this, &ViewerPanel::setCrosshair);
    splitter->addWidget(viewColumn);
    splitter->setStretchFactor(1, 1);
}

ViewerPanel::~ViewerPanel() {
    sampleReader_.waitForFinished();
    for (auto* s : slices_) s->setVolume(nullptr);
#ifdef MICROSTUDIO_HAVE_DESCRIBE_PANEL
    describe_->setVolume(nullptr);
#endif
}

QWidget* ViewerPanel::buildPhasePanel() {
    auto* panel = new QWidget(this);
    auto* layout = new QVBoxLayout(panel);
    layout->setSpacing(2);
    // One line per phase (its name shows it in 3D, the slider its opacity
    // there), so that the pages below keep their height at 1024x700.
    auto* header = new QHBoxLayout;
    header->addWidget(new QLabel(tr("<b>Phases</b>"), panel));
    header->addStretch(1);
    header->addWidget(new QLabel(tr("opacity in 3D"), panel));
    layout->addLayout(header);
    int nameWidth = 0;
    for (int p = 0; p < kMaxPhases; ++p) {
        const render::Rgb c = render::phaseColor(p);
        auto* row = new QWidget(panel);
        auto* rowLayout = new QHBoxLayout(row);
        rowLayout->setContentsMargins(0, 0, 0, 0);
        auto* box = new QCheckBox(kPhaseNames[p], row);
        box->setChecked(true);
        box->setObjectName(QString("phaseVisible%1").arg(p));
        box->setToolTip(tr("Show %1 in the 3D view").arg(kPhaseNames[p]));
        box->setStyleSheet(QString("QCheckBox { color: rgb(%1,%2,%3); font-weight: bold; }")
                               .arg(int(c.r * 255))
                               .arg(int(c.g * 255))
                               .arg(int(c.b * 255)));
        nameWidth = std::max(nameWidth, box->sizeHint().width());
        auto* slider = new QSlider(Qt::Horizontal, row);
        slider->setRange(0, 100);
        slider->setValue(100);
        slider->setObjectName(QString("phaseOpacity%1").arg(p));
        slider->setToolTip(opacityToolTip(p, false));
        connect(box, &QCheckBox::toggled, this, [this, p](bool on) { setPhaseVisible(p, on); });
        connect(slider, &QSlider::valueChanged, this, [this, p](int v) { setPhaseOpacity(p, v / 100.0); });
        rowLayout->addWidget(box);
        rowLayout->addWidget(slider, 1);
        layout->addWidget(row);
        phaseRows_[std::size_t(p)] = row;
        phaseVisible_[std::size_t(p)] = box;
        phaseOpacity_[std::size_t(p)] = slider;
    }
    for (auto* box : phaseVisible_) box->setMinimumWidth(nameWidth);  // the sliders line up
    layout->addSpacing(4);
    properties_ = new QTableWidget(0, 2, panel);
    properties_->setObjectName("properties");
    properties_->setTabKeyNavigation(false);  // Tab moves on; arrow keys move between cells
    properties_->setHorizontalHeaderLabels({tr("property"), tr("value")});
    properties_->horizontalHeader()->setStretchLastSection(true);
    properties_->verticalHeader()->hide();
    properties_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    infoPages_ = new QTabWidget(panel);
    infoPages_->setObjectName("viewerInfoPages");
    infoPages_->addTab(properties_, tr("Properties"));
#ifdef MICROSTUDIO_HAVE_DESCRIBE_PANEL
    describe_ = new DescribePanel(infoPages_);
    infoPages_->addTab(describe_, tr("Describe"));
    infoPages_->setTabToolTip(1, tr("GraSPI descriptors, S2 and domain sizes of this volume, with CSV export"));
    connect(describe_, &DescribePanel::statusMessage, this, &ViewerPanel::statusMessage);
#endif
    layout->addWidget(infoPages_, 1);
    panel->setMinimumWidth(240);
    panel->setMaximumWidth(380);
    return panel;
}

void ViewerPanel::setVolume(Volume volume) {
    ++sampleFileGeneration_;
    samplePath_.clear();
    sampleNames_.clear();
    sampleControl_->hide();
    display(std::move(volume));
}

void ViewerPanel::setSampleFile(const QString& path, std::vector<std::string> names, int index) {
    ++sampleFileGeneration_;
    samplePath_ = path;
    sampleNames_ = std::move(names);
    shownSample_ = requestedSample_ = index;
    sampleControl_->setRange(int(sampleNames_.size()), index);
    describeSample(index);
    sampleControl_->setVisible(sampleNames_.size() > 1);
#ifdef MICROSTUDIO_HAVE_DESCRIBE_PANEL
    describe_->setSourceName(csvSourceName());  // now with its #sample
#endif
}

void ViewerPanel::requestSample(int index) {
    if (index < 0 || index >= int(sampleNames_.size())) return;
    requestedSample_ = index;
    describeSample(index, tr("reading..."));
    if (!sampleReader_.isRunning()) startReading(index);  // else read when the current read ends
}

void ViewerPanel::startReading(int index) {
    const std::string path = samplePath_.toStdString(), name = sampleNames_[std::size_t(index)];
    const int generation = sampleFileGeneration_;
    sampleReader_.setFuture(QtConcurrent::run([path, name, index, generation] {
        auto read = std::make_shared<ReadSample>();
        read->generation = generation;
        read->index = index;
        try {
            read->volume = io::readHdf5Sample(path, name);
        } catch (const std::exception& e) {
            read->error = QString::fromStdString(e.what());
        }
        return read;
    }));
}

void ViewerPanel::sampleRead() {
    const auto read = sampleReader_.result();
    if (read->generation != sampleFileGeneration_ || read->index != requestedSample_) {
        // Another file since, or another sample asked for: the latest request wins.
        if (sampleNames_.empty()) return;
        if (requestedSample_ != shownSample_) startReading(requestedSample_);
        else describeSample(shownSample_);
        return;
    }
    if (!read->error.isEmpty()) {
        describeSample(read->index, tr("cannot read it"));
        emit statusMessage(read->error);
        return;
    }
    // Stepping through a run keeps the crosshair where the user put it.
    const auto crosshair = slices_[0]->position();
    const bool sameSize = read->volume.dims() == volume_.dims();
    display(std::move(read->volume));
    if (sameSize) setCrosshair(crosshair[0], crosshair[1], crosshair[2]);
    shownSample_ = read->index;
    describeSample(read->index);
    emit sampleShown(read->index, QString::fromStdString(sampleNames_[std::size_t(read->index)]));
}

void ViewerPanel::describeSample(int index, const QString& state) {
    QString text = QString::fromStdString(sampleNames_[std::size_t(index)]);
    if (!state.isEmpty()) text += QString(" (%1)").arg(state);
    else if (volume_.attributes.count("time")) text += tr(", t = %1").arg(volume_.attributes.at("time"), 0, 'g', 6);
    sampleControl_->setDescription(text);
}

void ViewerPanel::display(Volume volume) {
    for (auto* s : slices_) s->setVolume(nullptr);
    volume_ = std::move(volume);
    const bool is2D = volume_.dims().is2D();
    // A 2D image shows as one slice view filling the area; a volume as 3D + three slices.
    view3d_->setVisible(!is2D);
    viewGrid_->removeWidget(slices_[0]);
    if (is2D) viewGrid_->addWidget(slices_[0], 0, 0, 2, 2);
    else viewGrid_->addWidget(slices_[0], 0, 1);
    slices_[1]->setVisible(!is2D);
    slices_[2]->setVisible(!is2D);
    for (auto* s : slices_) s->setVolume(&volume_);
    if (!is2D) {
        scene_->setVolume(volume_);
        view3d_->requestRender();
    }
    const auto counts = volume_.phaseCounts();
    for (int p = 0; p < kMaxPhases; ++p) {
        phaseRows_[std::size_t(p)]->setVisible(counts[std::size_t(p)] > 0);
        phaseOpacity_[std::size_t(p)]->setEnabled(!is2D);
        phaseOpacity_[std::size_t(p)]->setToolTip(opacityToolTip(p, is2D));
    }
    refreshProperties();
#ifdef MICROSTUDIO_HAVE_DESCRIBE_PANEL
    describe_->setVolume(&volume_, csvSourceName());
#endif
}

// The CSV's file column, as microstudio-cli describe names it: the file
// (a sample of a multi-sample .h5: file#sample); empty when the volume
// names no file (the panel then uses the window's title).
QString ViewerPanel::csvSourceName() const {
    const auto source = volume_.text.find("source");
    if (source == volume_.text.end()) return {};
    QString name = QString::fromStdString(source->second);
    const auto sample = volume_.text.find("sample");
    if (sampleNames_.size() > 1 && sample != volume_.text.end()) name += "#" + QString::fromStdString(sample->second);
    return name;
}

void ViewerPanel::refreshProperties() {
    properties_->setRowCount(0);
    auto add = [this](const QString& k, const QString& v) {
        const int row = properties_->rowCount();
        properties_->insertRow(row);
        properties_->setItem(row, 0, new QTableWidgetItem(k));
        properties_->setItem(row, 1, new QTableWidgetItem(v));
    };
    add(tr("size"), QString::fromStdString(volume_.dims().str()));
    add(tr("phases"), QString::number(volume_.phaseCount()));
    for (int p = 0; p < volume_.phaseCount(); ++p)
        add(QString("vol_frac_%1").arg(phaseName(p)), QString::number(volume_.volumeFraction(p), 'g', 6));
    for (const auto& [k, v] : volume_.attributes) add(QString::fromStdString(k), QString::number(v, 'g', 6));
    for (const auto& [k, v] : volume_.text) add(QString::fromStdString(k), QString::fromStdString(v));
}

void ViewerPanel::setPhaseVisible(int phase, bool visible) {
    scene_->setPhaseVisible(phase, visible);
    if (phaseVisible_[std::size_t(phase)]->isChecked() != visible)
        phaseVisible_[std::size_t(phase)]->setChecked(visible);
    view3d_->requestRender();
}

void ViewerPanel::setPhaseOpacity(int phase, double opacity) {
    scene_->setPhaseOpacity(phase, opacity);
    const int v = int(opacity * 100 + 0.5);
    if (phaseOpacity_[std::size_t(phase)]->value() != v) phaseOpacity_[std::size_t(phase)]->setValue(v);
    view3d_->requestRender();
}

QSize ViewerPanel::screenshotDefaultSize() const {
    const QWidget* view = volume_.size() && volume_.dims().is2D() ? static_cast<const QWidget*>(slices_[0]) : view3d_;
    return view->size() * view->devicePixelRatioF();
}

QImage ViewerPanel::screenshotImage(QSize size) {
    if (volume_.size() && volume_.dims().is2D()) return slices_[0]->renderImage(size);
    return view3d_->renderImage(size);
}

void ViewerPanel::saveScreenshot(const QString& path, QSize size) { render::savePng(screenshotImage(size), path); }

void ViewerPanel::saveScreenshotDialog() {
    QDialog dialog(this);
    dialog.setObjectName("screenshotDialog");
    dialog.setWindowTitle(tr("Save screenshot"));
    auto* form = new QFormLayout(&dialog);
    QSettings settings;
    auto* path = new QLineEdit(
        settings.value("paths/lastScreenshot", QDir::home().filePath("microstudio-view.png")).toString(), &dialog);
    path->setObjectName("screenshotPath");
    path->setMinimumWidth(320);
    auto* browse = new QPushButton(tr("Browse..."), &dialog);
    connect(browse, &QPushButton::clicked, &dialog, [&dialog, path] {
        const QString chosen =
            QFileDialog::getSaveFileName(&dialog, tr("Save screenshot"), path->text(), tr("PNG images (*.png)"));
        if (!chosen.isEmpty()) path->setText(chosen);
    });
    auto* fileRow = new QHBoxLayout;
    fileRow->addWidget(path, 1);
    fileRow->addWidget(browse);
    form->addRow(tr("File:"), fileRow);
    const QSize viewSize = screenshotDefaultSize();
    auto sideBox = [&dialog](const char* name, int value) {
        auto* box = new QSpinBox(&dialog);
        box->setObjectName(name);
        box->setRange(1, render::VtkWidget::kMaxImageSide);
        box->setValue(value);
        box->setSuffix(tr(" px"));
        return box;
    };
    auto* width = sideBox("screenshotWidth", viewSize.width());
    auto* height = sideBox("screenshotHeight", viewSize.height());
    form->addRow(tr("Width:"), width);
    form->addRow(tr("Height:"), height);
    form->addRow(
        new QLabel(tr("The view's own size is %1 x %2.").arg(viewSize.width()).arg(viewSize.height()), &dialog));
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, &dialog);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    form->addRow(buttons);
    if (dialog.exec() != QDialog::Accepted) return;
    QString file = path->text().trimmed();
    if (QFileInfo(file).suffix().isEmpty()) file += ".png";
    try {
        saveScreenshot(file, QSize(width->value(), height->value()));
        settings.setValue("paths/lastScreenshot", file);
        emit statusMessage(tr("Saved %1 (%2 x %3)").arg(file).arg(width->value()).arg(height->value()));
    } catch (const std::exception& e) {
        QMessageBox::critical(this, tr("Cannot save the screenshot"), QString::fromStdString(e.what()));
    }
}

void ViewerPanel::resetCamera() {
    scene_->resetCamera();
    view3d_->requestRender();
}

void ViewerPanel::setCrosshair(int x, int y, int z) {
    for (auto* s : slices_) s->setPosition(x, y, z);
    scene_->setCrosshair(x, y, z);
    view3d_->requestRender();
    if (volume_.size())
        emit statusMessage(
            QString("voxel (%1, %2, %3): %4").arg(x).arg(y).arg(z).arg(kPhaseNames[volume_.at(x, y, z)]));
}

}  // namespace ms::ui
