#include "microstudio/ui/main_window.hpp"

#include <vtkVersion.h>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <algorithm>
#include <iterator>

#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/render/slice_view.hpp"
#include "microstudio/ui/noise_lab_panel.hpp"
#include "microstudio/ui/parameter_history.hpp"
#include "microstudio/ui/simulation_panel.hpp"
#ifdef MICROSTUDIO_HAVE_DESIGN
#include "microstudio/jobs/worker_denoiser.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ui/design_panel.hpp"
#include "microstudio/ui/training_job.hpp"
#include "microstudio/ui/training_wizard.hpp"
#endif
#include "microstudio/ui/viewer_panel.hpp"

namespace ms::ui {

namespace {
constexpr int kMaxRecent = 8;
// Open / Save As: every format io reads and writes, then anything.
QString fileFilter() { return QString::fromStdString(io::volumeFileFilter()) + ";;All files (*)"; }
// Absolute path -> name of the sample last shown, for the recent files.
const char* kChosenSamplesKey = "viewer/chosenSamples";

QString sampleTitle(const QString& path, const QString& sample) { return QFileInfo(path).fileName() + ":" + sample; }
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle("MicroStudio");
    tabs_ = new QTabWidget(this);
    viewer_ = new ViewerPanel(tabs_);
    noiseLab_ = new NoiseLabPanel(tabs_);
#ifdef MICROSTUDIO_HAVE_DESIGN
    design_ = new DesignPanel(tabs_);
    tabs_->addTab(design_, tr("&Design"));
    connect(design_, &DesignPanel::statusMessage, this, [this](const QString& m) { setTabMessage(design_, m); });
    connect(design_, &DesignPanel::generated, this,
            [this](int, const QString& m) { setTabMessage(design_, tr("Design: %1").arg(m)); });
#endif
    tabs_->addTab(viewer_, tr("&Viewer"));
    simulation_ = new SimulationPanel(tabs_);
    tabs_->addTab(noiseLab_, tr("&Noise lab"));
    tabs_->addTab(simulation_, tr("&Simulation"));
    connect(simulation_, &SimulationPanel::sendToViewer, this, [this](const Volume& v, const QString& title) {
        setVolume(v, title);
        tabs_->setCurrentWidget(viewer_);
    });
    connect(simulation_, &SimulationPanel::sendToNoiseLab, this, [this](const Volume& v, const QString& title) {
        noiseLab_->setSample(v, title);
        tabs_->setCurrentWidget(noiseLab_);
    });
    connect(simulation_, &SimulationPanel::runFinished, this,
            [this](bool, const QString& message) { setTabMessage(simulation_, tr("Simulation: %1").arg(message)); });
    connect(simulation_, &SimulationPanel::snapshotArrived, this, [this](int index) {
        if (index == 0)
            setTabMessage(simulation_, tr("Simulation: running; the snapshots and curves follow it (Cancel stops it)"));
    });
#ifdef MICROSTUDIO_HAVE_DESIGN
    training_ = new TrainingWizard(tabs_);
    training_->setWindowFlags(Qt::Widget);  // a page of the window, not a dialog
    tabs_->addTab(training_, tr("&Training"));
    connect(training_, &TrainingWizard::statusMessage, this, [this](const QString& m) { setTabMessage(training_, m); });
    connect(training_, &TrainingWizard::modelTrained, this, [this](const QString& path) {
        refreshModels();
        const bool listed =
            QFileInfo(path).absolutePath().startsWith(QFileInfo(userModelDirectory()).absoluteFilePath());
        statusBar()->showMessage(listed ? tr("New model %1: in the model pickers").arg(path)
                                        : tr("New model %1").arg(path));
    });
#endif
    setCentralWidget(tabs_);
    connect(viewer_, &ViewerPanel::statusMessage, this, [this](const QString& m) { setTabMessage(viewer_, m); });
    connect(viewer_, &ViewerPanel::sampleShown, this, [this](int, const QString& name) { showSample(name); });
    history_ = new ParameterHistory(this);
#ifdef MICROSTUDIO_HAVE_DESIGN
    // The shipped denoising VAE joins the noise lab when installed, the first
    // time the lab shows (it runs in the ML worker: opening a file must not
    // start one); the lab's picker offers the others (user-trained ones too).
    connect(noiseLab_, &NoiseLabPanel::denoiserPicked, this, [this](const QString& path) { useDenoiser(path); });
    fillModelPickers();
    connect(tabs_, &QTabWidget::currentChanged, this, [this] {
        if (tabs_->currentWidget() != noiseLab_ || shippedDenoiserOffered_) return;
        shippedDenoiserOffered_ = true;
        offerShippedDenoiser();
    });
#endif
    for (int i = 0; i < tabs_->count(); ++i) history_->trackChildren(tabs_->widget(i));
#ifdef MICROSTUDIO_HAVE_DESIGN
    connect(design_, &DesignPanel::targetsRebuilt, this, [this] { history_->trackChildren(design_); });
#endif
    buildMenus();
    connect(tabs_, &QTabWidget::currentChanged, this, &MainWindow::showTabStatus);

    QSettings settings;
    if (!restoreGeometry(settings.value("window/geometry").toByteArray())) resize(1280, 800);
    // First start: the design tab when a generator is installed, else the viewer.
    int firstTab = tabs_->indexOf(viewer_);
#ifdef MICROSTUDIO_HAVE_DESIGN
    if (design_->hasModel()) firstTab = tabs_->indexOf(design_);
#endif
    tabs_->setCurrentIndex(settings.value("window/tab", firstTab).toInt());
    showTabStatus();
}

MainWindow::~MainWindow() = default;

const Volume& MainWindow::volume() const { return viewer_->volume(); }
render::VtkWidget* MainWindow::view3d() const { return viewer_->view3d(); }
render::SliceView* MainWindow::sliceView(int i) const { return viewer_->sliceView(i); }
render::PhaseScene* MainWindow::phaseScene() const { return viewer_->phaseScene(); }
void MainWindow::setPhaseVisible(int phase, bool visible) { viewer_->setPhaseVisible(phase, visible); }
void MainWindow::setPhaseOpacity(int phase, double opacity) { viewer_->setPhaseOpacity(phase, opacity); }
void MainWindow::setCrosshair(int x, int y, int z) { viewer_->setCrosshair(x, y, z); }

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open..."), QKeySequence::Open, this, &MainWindow::openDialog);
    recentMenu_ = file->addMenu(tr("Open &Recent"));
    file->addAction(tr("&Save As..."), QKeySequence::SaveAs, this, &MainWindow::saveAsDialog);
#ifdef MICROSTUDIO_HAVE_DESIGN
    file->addSeparator();
    auto guarded = [this](const QString& title, auto&& action) {
        try {
            action();
        } catch (const std::exception& e) {
            QMessageBox::critical(this, title, QString::fromStdString(e.what()));
        }
    };
    file->addAction(tr("Open Session..."), this, [this, guarded] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open session"), QString(), tr("Sessions (*.json)"));
        if (path.isEmpty()) return;
        guarded(tr("Cannot open session"), [&] {
            design_->openSession(path);
            tabs_->setCurrentWidget(design_);
        });
    });
    file->addAction(tr("Save Session..."), this, &MainWindow::saveSessionDialog);
    file->addAction(tr("Import MicroGen3D weights..."), this, [this] {
        tabs_->setCurrentWidget(design_);
        design_->importMicroGen3d();
    });
#endif
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    QAction* undo = history_->stack()->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence::Undo);
    QAction* redo = history_->stack()->createRedoAction(this, tr("&Redo"));
    redo->setShortcut(QKeySequence::Redo);
    edit->addAction(undo);
    edit->addAction(redo);
    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < tabs_->count() && i < 9; ++i)
        view->addAction(tabs_->tabText(i).remove('&'), QKeySequence(QString("Ctrl+%1").arg(i + 1)), this,
                        [this, i] { tabs_->setCurrentIndex(i); });
    view->addSeparator();
    view->addAction(tr("&Reset camera"), QKeySequence(Qt::Key_R), this, &MainWindow::resetCamera);
    view->addAction(tr("Send slice to the &noise lab"), QKeySequence(tr("Ctrl+N")), this, [this] {
        const Volume& v = viewer_->volume();
        if (!v.size()) return;
        const int z = viewer_->sliceView(0)->position()[2];
        noiseLab_->setSample(v.dims().is2D() ? v : v.slice(z), windowTitle().section(" - ", 0, 0));
        tabs_->setCurrentWidget(noiseLab_);
    });
    view->addAction(tr("Save &screenshot..."), viewer_, &ViewerPanel::saveScreenshotDialog);
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About MicroStudio"), this, &MainWindow::showAbout);
    refreshRecentMenu();
}

bool MainWindow::openFile(const QString& path, bool quiet) {
    try {
        const std::string file = path.toStdString();
        std::vector<std::string> samples;
        if (io::formatOf(file) == io::Format::Hdf5) samples = io::hdf5RequireSamples(file);
        if (samples.size() > 1) {
            // Only the shown sample is read; the others when the time control asks.
            const int index = rememberedSample(path, samples);
            Volume v = io::readHdf5Sample(file, samples[std::size_t(index)]);
            currentPath_ = path;
            setVolume(std::move(v), sampleTitle(path, QString::fromStdString(samples[std::size_t(index)])));
            viewer_->setSampleFile(path, std::move(samples), index);
        } else {
            Volume v = io::readVolume(file);
            currentPath_ = path;
            setVolume(std::move(v), QFileInfo(path).fileName());
        }
        rememberRecent(QFileInfo(path).absoluteFilePath());
        if (tabs_->currentWidget() != viewer_)
            statusBar()->showMessage(tr("Opened %1: it is in the Viewer tab").arg(QFileInfo(path).fileName()));
        return true;
    } catch (const std::exception& e) {
        statusBar()->showMessage(tr("Could not open %1").arg(path));
        if (!quiet) QMessageBox::critical(this, tr("Cannot open file"), QString::fromStdString(e.what()));
        else qWarning("%s", e.what());
        return false;
    }
}

void MainWindow::setVolume(Volume volume, const QString& title) {
    viewer_->setVolume(std::move(volume));
    announceVolume(title);
}

void MainWindow::showSample(const QString& name) {
    announceVolume(sampleTitle(currentPath_, name));
    rememberSample(currentPath_, name);
}

int MainWindow::rememberedSample(const QString& path, const std::vector<std::string>& names) const {
    const QString chosen =
        QSettings().value(kChosenSamplesKey).toMap().value(QFileInfo(path).absoluteFilePath()).toString();
    const auto it = std::find(names.begin(), names.end(), chosen.toStdString());
    return it != names.end() ? int(it - names.begin()) : int(names.size()) - 1;
}

void MainWindow::rememberSample(const QString& path, const QString& name) {
    QSettings settings;
    QVariantMap chosen = settings.value(kChosenSamplesKey).toMap();
    chosen.insert(QFileInfo(path).absoluteFilePath(), name);
    // Kept for the recent files only, so the map stays small.
    const QStringList recent = settings.value("recentFiles").toStringList();
    for (auto it = chosen.begin(); it != chosen.end();)
        it = recent.contains(it.key()) ? std::next(it) : chosen.erase(it);
    settings.setValue(kChosenSamplesKey, chosen);
}

void MainWindow::announceVolume(const QString& title) {
    const Volume& v = viewer_->volume();
    // The noise lab works on two-phase 2D images: give it this one's middle slice.
    if (v.phaseCount() == 2) noiseLab_->setSample(v, title);
    setWindowTitle(QString("%1 - MicroStudio").arg(title));
    QString message =
        QString("%1: %2, %3 phases").arg(title, QString::fromStdString(v.dims().str())).arg(v.phaseCount());
    for (int p = 0; p < v.phaseCount(); ++p)
        message += QString(", %1 %2").arg(phaseName(p)).arg(v.volumeFraction(p), 0, 'f', 3);
    setTabMessage(viewer_, message);
}

void MainWindow::setTabMessage(QWidget* tab, const QString& message) {
    tabMessages_[tab] = message;
    if (tabs_->currentWidget() == tab) statusBar()->showMessage(message);
}

void MainWindow::showTabStatus() {
    const QWidget* tab = tabs_->currentWidget();
    QString message = tabMessages_.value(tab);
#ifdef MICROSTUDIO_HAVE_DESIGN
    if (tab == design_) message = design_->summary();  // what it shows now
#endif
    if (!message.isEmpty()) {
        statusBar()->showMessage(message);
        return;
    }
    if (tab == viewer_) message = tr("Viewer: open a microstructure with File > Open (Ctrl+O)");
    else if (tab == noiseLab_)
        message =
            tr("Noise lab: corrupt a two-phase 2D image and compare the denoisers (Open sample..., or View > "
               "Send slice to the noise lab)");
    else if (tab == simulation_) message = tr("Simulation: set the Cahn-Hilliard parameters and press Run");
    else message = tr("Training: choose the data, the model kind and its settings, then train");
    statusBar()->showMessage(message);
}

void MainWindow::resetCamera() {
#ifdef MICROSTUDIO_HAVE_DESIGN
    if (tabs_->currentWidget() == design_) return design_->resetCamera();
#endif
    viewer_->resetCamera();
}

bool MainWindow::saveSessionDialog() {
#ifdef MICROSTUDIO_HAVE_DESIGN
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save session"), "session.json", tr("Sessions (*.json)"));
    if (path.isEmpty()) return false;
    try {
        design_->saveSession(path);
    } catch (const std::exception& e) {
        QMessageBox::critical(this, tr("Cannot save session"), QString::fromStdString(e.what()));
        return false;
    }
    const int samples = int(design_->samples().size());
    statusBar()->showMessage(samples > 0 ? tr("Session saved to %1 (%2 samples in %3)")
                                               .arg(path)
                                               .arg(samples)
                                               .arg(QFileInfo(path + ".samples.h5").fileName())
                                         : tr("Session saved to %1").arg(path));
    return true;
#else
    return false;
#endif
}

bool MainWindow::confirmClose() {
#ifdef MICROSTUDIO_HAVE_DESIGN
    const bool generating = design_->busy();
    if (!generating && !design_->hasUnsavedSamples()) return true;
    const int samples = int(design_->samples().size());
    const QString what = generating
                             ? tr("The Design tab is still working: quitting stops it, and its samples are lost.")
                             : tr("%n generated sample(s) are not saved.", nullptr, samples);
    QMessageBox box(QMessageBox::Warning, tr("Quit MicroStudio"), what,
                    QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, this);
    box.setObjectName("confirmQuit");
    box.setInformativeText(tr("Save the session (model, targets and the samples so far) first?"));
    box.setDefaultButton(QMessageBox::Cancel);
    const int answer = box.exec();
    if (answer == QMessageBox::Cancel) return false;
    if (answer == QMessageBox::Save && !saveSessionDialog()) return false;
    if (generating) {
        design_->cancel();
        design_->cancelEvaluation();
    }
#endif
    return true;
}

void MainWindow::openDialog() {
    QSettings settings;
    const QString path = QFileDialog::getOpenFileName(this, tr("Open microstructure"),
                                                      settings.value("paths/lastOpenDir").toString(), fileFilter());
    if (path.isEmpty()) return;
    settings.setValue("paths/lastOpenDir", QFileInfo(path).absolutePath());
    openFile(path);
}

void MainWindow::saveAsDialog() {
    if (!volume().size()) return;
    const QString path = QFileDialog::getSaveFileName(this, tr("Save microstructure as"), currentPath_, fileFilter());
    if (path.isEmpty()) return;
    try {
        io::writeVolume(volume(), path.toStdString());
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

QString MainWindow::aboutText() const {
    QString ml = tr("not built");
#ifdef MICROSTUDIO_HAVE_DESIGN
    ml = mlVersion_.isEmpty() ? tr("asking microstudio-ml...") : mlVersion_;
#endif
    return aboutTextWith(ml);
}

QString MainWindow::aboutTextWith(const QString& mlWorkerLine) const {
    return tr("<h3>MicroStudio %1</h3><p>Design studio for materials microstructures.</p>"
              "<p>Qt %2, VTK %3<br>ML worker: %4</p>")
        .arg(QApplication::applicationVersion(), qVersion(), vtkVersion::GetVTKVersion(), mlWorkerLine.toHtmlEscaped());
}

void MainWindow::refreshModels() {
    fillModelPickers();
#ifdef MICROSTUDIO_HAVE_DESIGN
    // The rebuilt lists are the new baseline of the undo history.
    for (QComboBox* picker : {noiseLab_->denoiserPicker(), design_->findChild<QComboBox*>("modelPicker")})
        if (picker) history_->applyQuietly(picker, picker->currentText());
#endif
}

void MainWindow::fillModelPickers() {
#ifdef MICROSTUDIO_HAVE_DESIGN
    design_->refreshModelList();
    QList<QPair<QString, QString>> denoisers;
    for (const auto& m : ml::listModels(modelFolders()))
        if (m.metadata.kind == "vae2d")
            denoisers.append(
                {QString::fromStdString(m.weights.stem().string()), QString::fromStdString(m.weights.string())});
    noiseLab_->setDenoiserChoices(denoisers);
#endif
}

void MainWindow::offerShippedDenoiser() {
#ifdef MICROSTUDIO_HAVE_DESIGN
    QString shipped;
    try {
        shipped = QString::fromStdString(ml::findModel(ml::kDefaultDenoiser).string());
    } catch (const std::exception&) {
        return;  // none installed: the lab shows the classical baselines only
    }
    auto* picker = noiseLab_->denoiserPicker();
    if (picker->currentIndex() > 0) return;  // the user picked one already
    const int i = picker->findData(shipped);
    if (i > 0) picker->setCurrentIndex(i);  // loads it
    else useDenoiser(shipped, true);
#endif
}

bool MainWindow::useDenoiser(const QString& path, bool quiet) {
#ifdef MICROSTUDIO_HAVE_DESIGN
    if (path.isEmpty()) {
        noiseLab_->setLearnedDenoiser({}, QString());
        return true;
    }
    try {
        // Checked here (a 2D VAE's metadata); the worker loads the weights on first use.
        ml::readMetadata(path.toStdString(), "vae2d", "2D VAE");
        auto vae = std::make_shared<jobs::WorkerDenoiser>(MlWorker::executable().toStdString(), path.toStdString());
        noiseLab_->setLearnedDenoiser([vae](const Volume& v) { return vae->denoise(v); },
                                      QFileInfo(path).completeBaseName());
        return true;
    } catch (const std::exception& e) {
        statusBar()->showMessage(tr("Cannot load the denoiser %1").arg(path));
        if (!quiet) QMessageBox::warning(this, tr("Cannot load the denoiser"), QString::fromStdString(e.what()));
        else qWarning("%s", e.what());
        return false;
    }
#else
    return path.isEmpty();
#endif
}

// Shown at once; the worker's line (LibTorch and the compute device live in
// the worker, whose start takes about 0.5 s) fills in when it answers and is
// kept for the next time.
void MainWindow::showAbout() {
    auto* box = new QMessageBox(QMessageBox::NoIcon, tr("About MicroStudio"), aboutText(), QMessageBox::Ok, this);
    box->setObjectName("aboutBox");
    box->setAttribute(Qt::WA_DeleteOnClose);
    if (!windowIcon().isNull()) box->setIconPixmap(windowIcon().pixmap(64, 64));
#ifdef MICROSTUDIO_HAVE_DESIGN
    if (mlVersion_.isEmpty())
        MlWorker::askVersion(box, [this, box](bool answered, const QString& line) {
            if (answered) mlVersion_ = line;
            box->setText(aboutTextWith(line));
        });
#endif
    box->open();
}

void MainWindow::closeEvent(QCloseEvent* e) {
    if (!confirmClose()) {
        e->ignore();
        return;
    }
    QSettings settings;
    settings.setValue("window/geometry", saveGeometry());
    settings.setValue("window/tab", tabs_->currentIndex());
    QMainWindow::closeEvent(e);
}

}  // namespace ms::ui
