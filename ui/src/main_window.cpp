#include "microstudio/ui/main_window.hpp"

#include <vtkVersion.h>

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QSlider>
#include <QStatusBar>
#include <QTableWidget>
#include <QVBoxLayout>

#include "microstudio/core/error.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/render/phase_scene.hpp"
#include "microstudio/render/phase_style.hpp"
#include "microstudio/render/slice_view.hpp"
#include "microstudio/render/vtk_widget.hpp"

namespace ms::ui {

namespace {
constexpr int kMaxRecent = 8;
const char* kPhaseNames[kMaxPhases] = {"Donor (D)", "Acceptor (A)", "Mixed (M)"};
const char* kFileFilter = "Microstructures (*.vti *.h5 *.hdf5 *.txt *.png);;All files (*)";
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle("MicroStudio");
    auto* central = new QWidget(this);
    viewGrid_ = new QGridLayout(central);
    viewGrid_->setContentsMargins(2, 2, 2, 2);
    viewGrid_->setSpacing(2);
    view3d_ = new render::VtkWidget(central);
    scene_ = std::make_unique<render::PhaseScene>(view3d_->renderer());
    slices_ = {new render::SliceView(render::SliceAxis::XY, central), new render::SliceView(render::SliceAxis::XZ, central),
               new render::SliceView(render::SliceAxis::YZ, central)};
    viewGrid_->addWidget(view3d_, 0, 0);
    viewGrid_->addWidget(slices_[0], 0, 1);
    viewGrid_->addWidget(slices_[1], 1, 0);
    viewGrid_->addWidget(slices_[2], 1, 1);
    viewGrid_->setColumnStretch(0, 1);
    viewGrid_->setColumnStretch(1, 1);
    viewGrid_->setRowStretch(0, 1);
    viewGrid_->setRowStretch(1, 1);
    for (auto* s : slices_) connect(s, &render::SliceView::positionPicked, this, &MainWindow::setCrosshair);
    setCentralWidget(central);

    auto* dock = new QDockWidget(tr("Phases"), this);
    dock->setObjectName("phasesDock");
    dock->setWidget(buildPhasePanel());
    addDockWidget(Qt::LeftDockWidgetArea, dock);
    buildMenus();
    statusBar()->showMessage(tr("Open a microstructure with File > Open (Ctrl+O)"));

    QSettings settings;
    if (!restoreGeometry(settings.value("window/geometry").toByteArray())) resize(1280, 800);
    restoreState(settings.value("window/state").toByteArray());
}

MainWindow::~MainWindow() {
    for (auto* s : slices_) s->setVolume(nullptr);
}

QWidget* MainWindow::buildPhasePanel() {
    auto* panel = new QWidget(this);
    auto* layout = new QVBoxLayout(panel);
    for (int p = 0; p < kMaxPhases; ++p) {
        const render::Rgb c = render::phaseColor(p);
        auto* row = new QWidget(panel);
        auto* rowLayout = new QVBoxLayout(row);
        rowLayout->setContentsMargins(0, 0, 0, 0);
        auto* box = new QCheckBox(kPhaseNames[p], row);
        box->setChecked(true);
        box->setObjectName(QString("phaseVisible%1").arg(p));
        box->setStyleSheet(QString("QCheckBox { color: rgb(%1,%2,%3); font-weight: bold; }")
                               .arg(int(c.r * 255)).arg(int(c.g * 255)).arg(int(c.b * 255)));
        auto* slider = new QSlider(Qt::Horizontal, row);
        slider->setRange(0, 100);
        slider->setValue(100);
        slider->setObjectName(QString("phaseOpacity%1").arg(p));
        slider->setToolTip(tr("Opacity of %1 in the 3D view").arg(kPhaseNames[p]));
        connect(box, &QCheckBox::toggled, this, [this, p](bool on) { setPhaseVisible(p, on); });
        connect(slider, &QSlider::valueChanged, this, [this, p](int v) { setPhaseOpacity(p, v / 100.0); });
        rowLayout->addWidget(box);
        rowLayout->addWidget(new QLabel(tr("opacity in 3D"), row));
        rowLayout->addWidget(slider);
        layout->addWidget(row);
        phaseRows_[std::size_t(p)] = row;
        phaseVisible_[std::size_t(p)] = box;
        phaseOpacity_[std::size_t(p)] = slider;
    }
    properties_ = new QTableWidget(0, 2, panel);
    properties_->setHorizontalHeaderLabels({tr("property"), tr("value")});
    properties_->horizontalHeader()->setStretchLastSection(true);
    properties_->verticalHeader()->hide();
    properties_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    layout->addWidget(properties_, 1);
    panel->setMinimumWidth(240);
    return panel;
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open..."), QKeySequence::Open, this, &MainWindow::openDialog);
    recentMenu_ = file->addMenu(tr("Open &Recent"));
    file->addAction(tr("&Save As..."), QKeySequence::SaveAs, this, &MainWindow::saveAsDialog);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(tr("&Reset camera"), QKeySequence(Qt::Key_R), this, [this] {
        scene_->resetCamera();
        view3d_->requestRender();
    });
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About MicroStudio"), this, &MainWindow::showAbout);
    refreshRecentMenu();
}

bool MainWindow::openFile(const QString& path, bool quiet) {
    try {
        Volume v = io::readVolume(path.toStdString());
        currentPath_ = path;
        setVolume(std::move(v), QFileInfo(path).fileName());
        rememberRecent(QFileInfo(path).absoluteFilePath());
        return true;
    } catch (const std::exception& e) {
        statusBar()->showMessage(tr("Could not open %1").arg(path));
        if (!quiet) QMessageBox::critical(this, tr("Cannot open file"), QString::fromStdString(e.what()));
        else qWarning("%s", e.what());
        return false;
    }
}

void MainWindow::setVolume(Volume volume, const QString& title) {
    for (auto* s : slices_) s->setVolume(nullptr);
    volume_ = std::move(volume);
    const bool is2D = volume_.dims().is2D();
    // A 2D image shows as one slice view; a volume as 3D + three slices.
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
    }
    setWindowTitle(QString("%1 - MicroStudio").arg(title));
    refreshProperties();
    QString message = QString("%1: %2, %3 phases").arg(title, QString::fromStdString(volume_.dims().str())).arg(volume_.phaseCount());
    for (int p = 0; p < volume_.phaseCount(); ++p)
        message += QString(", %1 %2").arg(phaseName(p)).arg(volume_.volumeFraction(p), 0, 'f', 3);
    statusBar()->showMessage(message);
}

void MainWindow::refreshProperties() {
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

void MainWindow::setPhaseVisible(int phase, bool visible) {
    scene_->setPhaseVisible(phase, visible);
    if (phaseVisible_[std::size_t(phase)]->isChecked() != visible) phaseVisible_[std::size_t(phase)]->setChecked(visible);
    view3d_->requestRender();
}

void MainWindow::setPhaseOpacity(int phase, double opacity) {
    scene_->setPhaseOpacity(phase, opacity);
    const int v = int(opacity * 100 + 0.5);
    if (phaseOpacity_[std::size_t(phase)]->value() != v) phaseOpacity_[std::size_t(phase)]->setValue(v);
    view3d_->requestRender();
}

void MainWindow::setCrosshair(int x, int y, int z) {
    for (auto* s : slices_) s->setPosition(x, y, z);
    scene_->setCrosshair(x, y, z);
    view3d_->requestRender();
    if (volume_.size())
        statusBar()->showMessage(QString("voxel (%1, %2, %3): %4").arg(x).arg(y).arg(z).arg(kPhaseNames[volume_.at(x, y, z)]));
}

void MainWindow::openDialog() {
    QSettings settings;
    const QString path = QFileDialog::getOpenFileName(this, tr("Open microstructure"),
                                                      settings.value("paths/lastOpenDir").toString(), kFileFilter);
    if (path.isEmpty()) return;
    settings.setValue("paths/lastOpenDir", QFileInfo(path).absolutePath());
    openFile(path);
}

void MainWindow::saveAsDialog() {
    if (!volume_.size()) return;
    const QString path = QFileDialog::getSaveFileName(this, tr("Save microstructure as"), currentPath_, kFileFilter);
    if (path.isEmpty()) return;
    try {
        io::writeVolume(volume_, path.toStdString());
        statusBar()->showMessage(tr("Saved %1").arg(path));
    } catch (const std::exception& e) {
        QMessageBox::critical(this, tr("Cannot save file"), QString::fromStdString(e.what()));
    }
}

void MainWindow::rememberRecent(const QString& path) {
    QSettings settings;
    QStringList recent = settings.value("recentFiles").toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > kMaxRecent) recent.removeLast();
    settings.setValue("recentFiles", recent);
    refreshRecentMenu();
}

void MainWindow::refreshRecentMenu() {
    recentMenu_->clear();
    const QStringList recent = QSettings().value("recentFiles").toStringList();
    for (const QString& path : recent) recentMenu_->addAction(path, this, [this, path] { openFile(path); });
    recentMenu_->setEnabled(!recent.isEmpty());
}

void MainWindow::showAbout() {
    QMessageBox::about(this, tr("About MicroStudio"),
                       tr("<h3>MicroStudio %1</h3><p>Design studio for materials microstructures.</p>"
                          "<p>Qt %2, VTK %3</p>")
                           .arg(QApplication::applicationVersion(), qVersion(), vtkVersion::GetVTKVersion()));
}

void MainWindow::closeEvent(QCloseEvent* e) {
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/state", saveState());
    QMainWindow::closeEvent(e);
}

}  // namespace ms::ui
