#include "microstudio/ui/training_wizard.hpp"

#include <QAbstractButton>
#include <QApplication>
#include <QButtonGroup>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QMessageBox>
#include <QPen>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QRegularExpression>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QVBoxLayout>
#include <QValueAxis>
#include <QWizardPage>
#include <QtConcurrent/QtConcurrentRun>
#include <cmath>
#include <filesystem>
#include <functional>

#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/ui/chart_axes.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/jobs/dataset_builder.hpp"
#include "microstudio/ml/metadata.hpp"

namespace fs = std::filesystem;

namespace ms::ui {

int datasetPhases(const Volume& sample) {
    // A snapshot thresholded into three phases may not hold mixed voxels yet
    // (before phase separation); its two thresholds say how it was cut.
    const auto low = sample.attributes.find("threshold_low"), high = sample.attributes.find("threshold_high");
    const bool threeWay =
        low != sample.attributes.end() && high != sample.attributes.end() && low->second < high->second;
    return sample.phaseCount() == 3 || threeWay ? 3 : 2;
}

DataInfo inspectDataset(const QString& path) {
    DataInfo info;
    if (path.isEmpty()) {
        info.error = QObject::tr("choose a training file");
        return info;
    }
    if (!QFileInfo(path).isFile()) {
        info.error = QObject::tr("%1: no such file").arg(path);
        return info;
    }
    try {
        const auto names = io::hdf5SampleNames(path.toStdString());
        if (names.empty()) throw Error(path.toStdString() + ": no samples");
        const Volume first = io::readHdf5Sample(path.toStdString(), names.front());
        info.samples = long(names.size());
        info.dims = first.dims();
        info.phases = datasetPhases(first);
    } catch (const std::exception& e) {
        info.error = QString::fromStdString(e.what());
    }
    return info;
}

namespace {

QString formatSeconds(double s) {
    if (!std::isfinite(s) || s <= 0) return QObject::tr("-");
    const long t = std::lround(s);
    if (t < 60) return QObject::tr("%1 s").arg(t);
    if (t < 3600) return QObject::tr("%1 min %2 s").arg(t / 60).arg(t % 60);
    return QObject::tr("%1 h %2 min").arg(t / 3600).arg((t % 3600) / 60);
}

QSpinBox* intSpin(QWidget* parent, const char* name, int lo, int hi, int value, const QString& tip) {
    auto* s = new QSpinBox(parent);
    s->setObjectName(name);
    s->setRange(lo, hi);
    s->setValue(value);
    s->setToolTip(tip);
    return s;
}

QDoubleSpinBox* doubleSpin(QWidget* parent, const char* name, double lo, double hi, double value, int decimals,
                           const QString& tip) {
    auto* s = new QDoubleSpinBox(parent);
    s->setObjectName(name);
    s->setDecimals(decimals);
    s->setRange(lo, hi);
    s->setSingleStep(std::pow(10.0, -decimals + 1) > value ? value / 2 : std::pow(10.0, -decimals + 1));
    s->setValue(value);
    s->setToolTip(tip);
    return s;
}

}  // namespace

// ---- pages ----------------------------------------------------------------------------

class DataPage : public QWizardPage {
public:
    explicit DataPage(TrainingWizard* wizard) : wizard_(wizard) {
        setTitle(tr("Training data"));
        setSubTitle(
            tr("An HDF5 dataset (MicroGen3D layout), one built with the simulator or cut from a volume file of "
               "your own, or a small demo set."));
        auto* layout = new QVBoxLayout(this);
        auto* form = new QFormLayout();
        train_ = new QLineEdit(this);
        train_->setObjectName("trainData");
        validation_ = new QLineEdit(this);
        validation_->setObjectName("validationData");
        validation_->setPlaceholderText(tr("(none: the last fifth of the training samples)"));
        auto fileRow = [this](QLineEdit* edit) {
            auto* row = new QHBoxLayout();
            auto* browse = new QPushButton(tr("Browse..."), this);
            row->addWidget(edit, 1);
            row->addWidget(browse);
            connect(browse, &QPushButton::clicked, this, [this, edit] {
                const QString path =
                    QFileDialog::getOpenFileName(this, tr("Dataset"), edit->text(), tr("HDF5 (*.h5 *.hdf5)"));
                if (!path.isEmpty()) edit->setText(path);
            });
            return row;
        };
        form->addRow(tr("training file"), fileRow(train_));
        form->addRow(tr("validation file"), fileRow(validation_));
        limit_ = intSpin(this, "limit", 0, 10000000, 0,
                         tr("Use at most this many training samples, evenly spaced (0 = all)"));
        limit_->setSpecialValueText(tr("all"));
        form->addRow(tr("samples to use"), limit_);
        layout->addLayout(form);
        info_ = new QLabel(this);
        info_->setObjectName("dataInfo");
        info_->setWordWrap(true);
        layout->addWidget(info_);

        auto* build = new QGroupBox(tr("Build a dataset"), this);
        auto* buildLayout = new QVBoxLayout(build);
        auto* sources = new QHBoxLayout();
        sourceSimulator_ = new QRadioButton(tr("with the Cahn-Hilliard simulator"), build);
        sourceSimulator_->setObjectName("sourceSimulator");
        sourceSimulator_->setChecked(true);
        sourceVolume_ = new QRadioButton(tr("from a &volume file"), build);
        sourceVolume_->setObjectName("sourceVolume");
        sourceVolume_->setToolTip(
            tr("Your own segmented volume (tomography, FIB-SEM) cut into windows, as "
               "`microstudio-cli dataset from-volume` does"));
        sources->addWidget(sourceSimulator_);
        sources->addWidget(sourceVolume_);
        sources->addStretch(1);
        buildLayout->addLayout(sources);
        sourceStack_ = new QStackedWidget(build);
        auto* simulator = new QWidget(sourceStack_);
        auto* buildForm = new QFormLayout(simulator);
        buildForm->setContentsMargins(0, 0, 0, 0);
        buildSize_ = new QComboBox(build);
        buildSize_->setObjectName("buildSize");
        buildSize_->addItem("64 x 64 (2D)", QVariant::fromValue(QSize(64, 1)));
        buildSize_->addItem("101 x 101 (2D, the paper's)", QVariant::fromValue(QSize(101, 1)));
        buildSize_->addItem("32 x 32 x 16 (3D)", QVariant::fromValue(QSize(32, 16)));
        buildGrid_ = intSpin(build, "buildGrid", 1, 10, 2, tr("phi and chi values each (runs = this squared)"));
        buildSnapshots_ = intSpin(build, "buildSnapshots", 2, 400, 12, tr("snapshots kept per run"));
        buildEnd_ = doubleSpin(build, "buildEndTime", 10, 20000, 400, 0, tr("simulated time per run"));
        buildPhases_ = new QComboBox(build);
        buildPhases_->setObjectName("buildPhases");
        buildPhases_->addItem(tr("2 (donor, acceptor)"), 2);
        buildPhases_->addItem(tr("3 (donor, acceptor, mixed)"), 3);
        buildPhases_->setToolTip(
            tr("How each snapshot is thresholded: 2 phases, or 3 with the mixed phase between "
               "donor and acceptor (the data of a 3-phase 3D generator; the 2D models take 2 phases)"));
        buildForm->addRow(tr("size"), buildSize_);
        buildForm->addRow(tr("phases"), buildPhases_);
        buildForm->addRow(tr("phi x chi grid"), buildGrid_);
        buildForm->addRow(tr("snapshots per run"), buildSnapshots_);
        buildForm->addRow(tr("end time"), buildEnd_);
        sourceStack_->addWidget(simulator);
        sourceStack_->addWidget(volumeSource(sourceStack_));
        buildLayout->addWidget(sourceStack_);
        connect(sourceVolume_, &QRadioButton::toggled, this,
                [this](bool on) { sourceStack_->setCurrentIndex(on ? 1 : 0); });
        auto* buttons = new QHBoxLayout();
        buildButton_ = new QPushButton(tr("&Build"), build);
        buildButton_->setObjectName("buildDataset");
        buildCancel_ = new QPushButton(tr("Cancel build"), build);
        buildCancel_->setEnabled(false);
        auto* demo = new QPushButton(tr("Demo data (synthetic, seconds)"), build);
        demo->setObjectName("demoData");
        buttons->addWidget(buildButton_);
        buttons->addWidget(buildCancel_);
        buttons->addWidget(demo);
        buildLayout->addLayout(buttons);
        buildProgress_ = new QProgressBar(build);
        buildProgress_->setObjectName("buildProgress");
        buildProgress_->setRange(0, 1000);
        buildLayout->addWidget(buildProgress_);
        layout->addWidget(build);
        layout->addStretch(1);

        connect(train_, &QLineEdit::textChanged, this, [this] {
            // train.h5 of a built dataset has its val.h5 beside it.
            const QFileInfo f(train_->text());
            const QString val = f.dir().filePath("val.h5");
            if (f.fileName() == "train.h5" && QFileInfo(val).isFile() && validation_->text().isEmpty())
                validation_->setText(val);
            inspect();
        });
        connect(validation_, &QLineEdit::textChanged, this, [this] { inspect(); });
        connect(buildButton_, &QPushButton::clicked, wizard_, &TrainingWizard::startDatasetBuild);
        // Three phases are for the 3D generator: a 2D size becomes the 3D one.
        connect(buildPhases_, &QComboBox::currentIndexChanged, this, [this] {
            if (buildPhases_->currentData().toInt() == 3 && buildSize_->currentData().toSize().height() <= 1)
                buildSize_->setCurrentIndex(buildSize_->count() - 1);
        });
        connect(buildCancel_, &QPushButton::clicked, this, [this] {
            if (wizard_->buildToken_) wizard_->buildToken_->cancel();
        });
        connect(demo, &QPushButton::clicked, this, [this] {
            const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/datasets";
            try {
                wizard_->useDemoData(QDir(dir).filePath("demo-synthetic-32.h5"));
            } catch (const std::exception& e) {
                QMessageBox::warning(this, tr("Demo data"), e.what());
            }
        });
        inspect();
    }

    void inspect() {
        info = inspectDataset(train_->text().trimmed());
        QString text;
        if (!info.error.isEmpty()) {
            text = info.error;
        } else {
            text = tr("%1 samples, %2, %3 phases")
                       .arg(info.samples)
                       .arg(QString::fromStdString(info.dims.str()))
                       .arg(info.phases);
            const QString val = validation_->text().trimmed();
            if (!val.isEmpty()) {
                const DataInfo v = inspectDataset(val);
                if (!v.error.isEmpty()) info.error = tr("validation: %1").arg(v.error);
                else if (v.dims != info.dims)
                    info.error =
                        tr("validation samples are %1, training ones %2")
                            .arg(QString::fromStdString(v.dims.str()), QString::fromStdString(info.dims.str()));
                text += info.error.isEmpty() ? tr("; validation: %1 samples").arg(v.samples) : "; " + info.error;
            }
        }
        info_->setText(text);
        info_->setStyleSheet(info.error.isEmpty() ? QString() : QString("color: #b04000;"));
        emit completeChanged();
    }

    bool isComplete() const override { return info.error.isEmpty() && info.samples > 0 && !wizard_->buildingDataset(); }

    // The volume-file source: the file, and how it is cut (jobs/volume_dataset.hpp).
    QWidget* volumeSource(QWidget* parent) {
        auto* page = new QWidget(parent);
        auto* form = new QFormLayout(page);
        form->setContentsMargins(0, 0, 0, 0);
        volumeFile_ = new QLineEdit(page);
        volumeFile_->setObjectName("volumeFile");
        volumeFile_->setPlaceholderText(tr("a segmented volume: .tif stack, .npy, .vti, .h5, ..."));
        auto* row = new QHBoxLayout();
        auto* browse = new QPushButton(tr("Browse..."), page);
        row->addWidget(volumeFile_, 1);
        row->addWidget(browse);
        connect(browse, &QPushButton::clicked, this, [this] {
            const QString filter = QString::fromStdString(io::volumeFileFilter()) + ";;" + tr("All files (*)");
            const QString path = QFileDialog::getOpenFileName(this, tr("Volume"), volumeFile_->text(), filter);
            if (!path.isEmpty()) volumeFile_->setText(path);
        });
        volumeWindow_ =
            intSpin(page, "volumeWindow", 4, 4096, 64, tr("x and y size of each window (sub-volume), voxels"));
        volumeStride_ = intSpin(page, "volumeStride", 1, 4096, 16,
                                tr("Step between windows in x and y; neighbours overlap when it is below the window"));
        volumeDepth_ = intSpin(page, "volumeDepth", 0, 4096, 0,
                               tr("z voxels of each window, resized by nearest neighbour (the paper's recipe: "
                                  "466x465x50 -> 64x64x64); keep: the volume's own depth"));
        volumeDepth_->setSpecialValueText(tr("keep"));
        form->addRow(tr("volume file"), row);
        form->addRow(tr("window (x and y)"), volumeWindow_);
        form->addRow(tr("stride"), volumeStride_);
        form->addRow(tr("depth (z)"), volumeDepth_);
        auto* note =
            new QLabel(tr("Split by position into train, validation and test: their windows never overlap."), page);
        note->setWordWrap(true);
        form->addRow(note);
        return page;
    }

    TrainingWizard* wizard_;
    DataInfo info;
    QLineEdit *train_, *validation_;
    QSpinBox* limit_;
    QLabel* info_;
    QComboBox *buildSize_, *buildPhases_;
    QRadioButton *sourceSimulator_, *sourceVolume_;
    QStackedWidget* sourceStack_;
    QLineEdit* volumeFile_;
    QSpinBox *volumeWindow_, *volumeStride_, *volumeDepth_;
    QSpinBox *buildGrid_, *buildSnapshots_;
    QDoubleSpinBox* buildEnd_;
    QPushButton *buildButton_, *buildCancel_;
    QProgressBar* buildProgress_;
};

class ModelPage : public QWizardPage {
public:
    explicit ModelPage(TrainingWizard* wizard) : wizard_(wizard) {
        setTitle(tr("Model kind"));
        setSubTitle(tr("What to train on these data, and its name."));
        auto* layout = new QVBoxLayout(this);
        group_ = new QButtonGroup(this);
        const TrainingKind kinds[] = {TrainingKind::DenoisingVae2d, TrainingKind::Ldm2d, TrainingKind::Generator3d};
        const char* names[] = {"kindVae", "kindLdm", "kind3d"};
        for (int i = 0; i < 3; ++i) {
            auto* b = new QRadioButton(trainingKindName(kinds[i]), this);
            b->setObjectName(names[i]);
            group_->addButton(b, i);
            layout->addWidget(b);
            if (i == 1) {
                auto* row = new QHBoxLayout();
                row->addSpacing(24);
                row->addWidget(new QLabel(tr("VAE whose latents it learns:"), this));
                vae_ = new QComboBox(this);
                vae_->setObjectName("vaePicker");
                row->addWidget(vae_, 1);
                layout->addLayout(row);
            }
        }
        note_ = new QLabel(this);
        note_->setWordWrap(true);
        layout->addWidget(note_);
        auto* form = new QFormLayout();
        name_ = new QLineEdit(this);
        name_->setObjectName("modelName");
        name_->setValidator(
            new QRegularExpressionValidator(QRegularExpression("[A-Za-z0-9][A-Za-z0-9._-]{0,63}"), name_));
        form->addRow(tr("model name"), name_);
        layout->addLayout(form);
        nameNote_ = new QLabel(this);
        nameNote_->setObjectName("nameNote");
        nameNote_->setWordWrap(true);
        layout->addWidget(nameNote_);
        layout->addStretch(1);
        connect(group_, &QButtonGroup::idToggled, this, [this](int, bool on) {
            if (on) changed();
        });
        connect(vae_, &QComboBox::currentIndexChanged, this, [this] { changed(); });
        connect(name_, &QLineEdit::textChanged, this, [this] { changed(); });
    }

    void initializePage() override {
        const DataInfo& info = wizard_->dataPage_->info;
        const bool two = info.images2d();
        group_->button(0)->setEnabled(two);
        group_->button(1)->setEnabled(two);
        group_->button(2)->setEnabled(!info.dims.is2D());
        // The VAEs that take images of this size.
        vae_->clear();
        for (const auto& m : ml::listModels(modelFolders())) {
            if (m.metadata.kind != "vae2d") continue;
            if (int(numberOr(m.metadata.architecture, "size", info.dims.nx)) != info.dims.nx) continue;
            vae_->addItem(QString::fromStdString(m.metadata.name.empty() ? m.weights.stem().string() : m.metadata.name),
                          QString::fromStdString(m.weights.string()));
        }
        if (!group_->checkedButton() || !group_->checkedButton()->isEnabled()) {
            for (auto* b : group_->buttons())
                if (b->isEnabled()) {
                    b->setChecked(true);
                    break;
                }
        }
        note_->setText(two ? tr("2D two-phase %1 images: a denoising VAE, or latent diffusion over a VAE's latents.")
                                 .arg(QString::fromStdString(info.dims.str()))
                       : info.dims.is2D()
                           ? tr("These images are not square two-phase images: no 2D model takes them.")
                           : tr("3D volumes: the 3D generator (VAE, then feature predictor, then diffusion)."));
        changed();
    }

    TrainingKind kind() const {
        switch (group_->checkedId()) {
            case 1:
                return TrainingKind::Ldm2d;
            case 2:
                return TrainingKind::Generator3d;
            default:
                return TrainingKind::DenoisingVae2d;
        }
    }

    void changed() {
        vae_->setEnabled(kind() == TrainingKind::Ldm2d);
        if (name_->text() == suggested_) {  // not edited by the user: follows the kind
            const char* base = kind() == TrainingKind::Ldm2d         ? "ldm2d"
                               : kind() == TrainingKind::Generator3d ? "gen3d"
                                                                     : "denoise-vae2d";
            suggested_ = QString("%1-%2").arg(base, QDateTime::currentDateTime().toString("yyyyMMdd-HHmm"));
            const QSignalBlocker block(name_);
            name_->setText(suggested_);
        }
        nameNote_->setText(problem());
        emit completeChanged();
    }

    // Why Next is disabled (empty: it is not).
    QString problem() const {
        if (!group_->checkedButton() || !group_->checkedButton()->isEnabled())
            return tr("No model kind takes these data.");
        if (kind() == TrainingKind::Ldm2d && vae_->currentData().toString().isEmpty())
            return tr("No VAE for %1 images is installed: train a denoising VAE on these data first.")
                .arg(QString::fromStdString(wizard_->dataPage_->info.dims.str()));
        if (!name_->hasAcceptableInput()) return tr("Name the model (letters, digits, '.', '-', '_').");
        TrainingSettings s;
        s.kind = kind();
        s.outputDir = wizard_->modelDir_;
        s.name = name_->text();
        if (QFileInfo::exists(s.modelPath()))
            return tr("A model named %1 exists in %2: choose another name.").arg(s.name, wizard_->modelDir_);
        return {};
    }

    bool isComplete() const override { return problem().isEmpty(); }

    TrainingWizard* wizard_;
    QButtonGroup* group_;
    QComboBox* vae_;
    QLabel *note_, *nameNote_;
    QLineEdit* name_;
    QString suggested_;
};

class ParametersPage : public QWizardPage {
public:
    explicit ParametersPage(TrainingWizard* wizard) : wizard_(wizard) {
        setTitle(tr("Hyper-parameters"));
        setSubTitle(tr("Defaults suit a first run on these data; every value has its range."));
        setCommitPage(true);
        setButtonText(QWizard::CommitButton, tr("&Train"));
        auto* layout = new QVBoxLayout(this);
        auto* common = new QGroupBox(tr("Optimisation"), this);
        auto* form = new QFormLayout(common);
        epochs_ = intSpin(common, "epochs", 1, 100000, 5,
                          tr("Passes over the training data (per stage for the 3D generator)"));
        batch_ = intSpin(common, "batch", 1, 4096, 16, tr("Samples per optimiser step"));
        lr_ = doubleSpin(common, "learningRate", 1e-6, 1.0, 1e-3, 6, tr("Adam learning rate"));
        seed_ = intSpin(common, "seed", 0, 1000000000, 0, tr("Initialisation, data order and noise"));
        threads_ = intSpin(common, "threads", 0, 256, 0, tr("Torch CPU threads (0 = every core)"));
        threads_->setSpecialValueText(tr("every core"));
        form->addRow(tr("epochs"), epochs_);
        form->addRow(tr("batch size"), batch_);
        form->addRow(tr("learning rate"), lr_);
        form->addRow(tr("seed"), seed_);
        form->addRow(tr("CPU threads"), threads_);
        layout->addWidget(common);

        stack_ = new QStackedWidget(this);
        auto* vae = new QGroupBox(tr("Denoising VAE"), stack_);
        auto* vaeForm = new QFormLayout(vae);
        latent_ = intSpin(vae, "latent", 1, 4096, 32, tr("Latent size L"));
        hidden_ = intSpin(vae, "hidden", 8, 8192, 256, tr("Width of the fully connected layer"));
        channels_ = new QLineEdit("16,32,64", vae);
        channels_->setObjectName("channels");
        channels_->setToolTip(tr("Convolution widths, one per stride-2 layer"));
        beta_ = doubleSpin(vae, "beta", 0.0, 100.0, 1.0, 3, tr("Weight of the KL term"));
        vaeForm->addRow(tr("latent size"), latent_);
        vaeForm->addRow(tr("hidden width"), hidden_);
        vaeForm->addRow(tr("channels"), channels_);
        vaeForm->addRow(tr("KL weight beta"), beta_);
        auto* ldm = new QGroupBox(tr("Latent diffusion"), stack_);
        auto* ldmForm = new QFormLayout(ldm);
        ldmHidden_ = intSpin(ldm, "ldmHidden", 8, 8192, 256, tr("MLP width"));
        ldmBlocks_ = intSpin(ldm, "ldmBlocks", 1, 32, 3, tr("Residual blocks"));
        diffusionSteps_ = intSpin(ldm, "diffusionSteps", 10, 4000, 1000, tr("Diffusion steps T"));
        conditions_ = new QLineEdit("vf", ldm);
        conditions_->setObjectName("conditions");
        conditions_->setToolTip(tr("Conditioning attributes (vf = Donor volume fraction); empty = unconditional"));
        ldmForm->addRow(tr("MLP width"), ldmHidden_);
        ldmForm->addRow(tr("residual blocks"), ldmBlocks_);
        ldmForm->addRow(tr("diffusion steps"), diffusionSteps_);
        ldmForm->addRow(tr("conditions"), conditions_);
        auto* g3 = new QGroupBox(tr("3D generator"), stack_);
        auto* g3Form = new QFormLayout(g3);
        channels3d_ = new QLineEdit("8,16", g3);
        channels3d_->setObjectName("channels3d");
        latentChannels_ = intSpin(g3, "latentChannels", 1, 64, 2, tr("Latent channels of the VAE"));
        unetFeatures_ = intSpin(g3, "unetFeatures", 4, 1024, 16, tr("U-Net width n_feat"));
        g3Form->addRow(tr("VAE channels"), channels3d_);
        g3Form->addRow(tr("latent channels"), latentChannels_);
        g3Form->addRow(tr("U-Net features"), unetFeatures_);
        stack_->addWidget(vae);
        stack_->addWidget(ldm);
        stack_->addWidget(g3);
        layout->addWidget(stack_);
        estimate_ = new QLabel(this);
        estimate_->setWordWrap(true);
        layout->addWidget(estimate_);
        layout->addStretch(1);
        for (auto* s : {epochs_, batch_, limitSpin()})
            connect(s, &QSpinBox::valueChanged, this, [this] { updateEstimate(); });
        for (auto* e : {channels_, channels3d_})
            connect(e, &QLineEdit::textChanged, this, [this] { emit completeChanged(); });
    }

    QSpinBox* limitSpin() const { return wizard_->dataPage_ ? wizard_->dataPage_->limit_ : epochs_; }

    void initializePage() override {
        const TrainingKind kind = wizard_->modelPage_->kind();
        stack_->setCurrentIndex(int(kind));
        if (defaultsFor_ == int(kind)) return updateEstimate();  // keep the user's values on Back/Next
        defaultsFor_ = int(kind);
        const DataInfo& info = wizard_->dataPage_->info;
        switch (kind) {
            case TrainingKind::DenoisingVae2d:
                epochs_->setValue(10);
                batch_->setValue(16);
                lr_->setValue(1e-3);
                latent_->setValue(info.dims.nx <= 48 ? 16 : 32);
                channels_->setText(info.dims.nx <= 48 ? "16,32" : "16,32,64");
                break;
            case TrainingKind::Ldm2d:
                epochs_->setValue(50);
                batch_->setValue(32);
                lr_->setValue(1e-3);
                break;
            case TrainingKind::Generator3d:
                epochs_->setValue(3);
                batch_->setValue(4);
                lr_->setValue(5e-4);
                break;
        }
        updateEstimate();
    }

    void updateEstimate() {
        const DataInfo& info = wizard_->dataPage_->info;
        long n = wizard_->dataPage_->limit_->value() > 0
                     ? std::min<long>(wizard_->dataPage_->limit_->value(), info.samples)
                     : info.samples;
        if (wizard_->dataPage_->validation_->text().trimmed().isEmpty() && n >= 5) n -= n / 5;
        const long perEpoch = std::max(1L, n / std::max(1L, long(batch_->value())));
        estimate_->setText(
            tr("%1 training samples; optimiser steps per epoch: %2, in all: %3%4.")
                .arg(n)
                .arg(perEpoch)
                .arg(perEpoch * epochs_->value() * (wizard_->modelPage_->kind() == TrainingKind::Generator3d ? 3 : 1))
                .arg(wizard_->modelPage_->kind() == TrainingKind::Generator3d ? tr(" (three stages)") : QString()));
    }

    static bool positiveList(const QString& text) {
        const QStringList parts = text.split(',', Qt::SkipEmptyParts);
        if (parts.isEmpty()) return false;
        for (const QString& p : parts) {
            bool ok = false;
            if (p.trimmed().toInt(&ok) < 1 || !ok) return false;
        }
        return true;
    }

    bool isComplete() const override {
        switch (wizard_->modelPage_->kind()) {
            case TrainingKind::DenoisingVae2d:
                return positiveList(channels_->text());
            case TrainingKind::Generator3d:
                return positiveList(channels3d_->text());
            case TrainingKind::Ldm2d:
                return true;
        }
        return true;
    }

    TrainingWizard* wizard_;
    int defaultsFor_ = -1;
    QSpinBox *epochs_, *batch_, *seed_, *threads_, *latent_, *hidden_, *ldmHidden_, *ldmBlocks_, *diffusionSteps_,
        *latentChannels_, *unetFeatures_;
    QDoubleSpinBox *lr_, *beta_;
    QLineEdit *channels_, *conditions_, *channels3d_;
    QStackedWidget* stack_;
    QLabel* estimate_;
};

class TrainPage : public QWizardPage {
public:
    explicit TrainPage(TrainingWizard* wizard) : wizard_(wizard) {
        setTitle(tr("Training"));
        setSubTitle(tr("Pause holds the worker between two steps; Cancel writes a checkpoint that Resume continues."));
        auto* layout = new QVBoxLayout(this);
        auto* view = new QChartView(wizard->chart_, this);
        view->setObjectName("lossChart");
        view->setRenderHint(QPainter::Antialiasing);
        view->setMinimumHeight(260);
        layout->addWidget(view, 1);
        progress_ = new QProgressBar(this);
        progress_->setObjectName("trainingProgress");
        progress_->setRange(0, 1000);
        layout->addWidget(progress_);
        auto* row = new QHBoxLayout();
        status_ = new QLabel(tr("not started"), this);
        status_->setObjectName("trainingStatus");
        eta_ = new QLabel(this);
        eta_->setObjectName("eta");
        row->addWidget(status_, 1);
        row->addWidget(eta_);
        layout->addLayout(row);
        auto* buttons = new QHBoxLayout();
        pause_ = new QPushButton(tr("&Pause"), this);
        pause_->setObjectName("pause");
        resume_ = new QPushButton(tr("&Resume"), this);
        resume_->setObjectName("resume");
        cancel_ = new QPushButton(tr("&Cancel training"), this);
        cancel_->setObjectName("cancelTraining");
        buttons->addStretch(1);
        buttons->addWidget(pause_);
        buttons->addWidget(resume_);
        buttons->addWidget(cancel_);
        layout->addLayout(buttons);
        connect(pause_, &QPushButton::clicked, wizard_, &TrainingWizard::pauseTraining);
        connect(resume_, &QPushButton::clicked, wizard_, &TrainingWizard::resumeTraining);
        connect(cancel_, &QPushButton::clicked, wizard_, &TrainingWizard::cancelTraining);
        updateButtons();
    }

    void initializePage() override { wizard_->startTraining(false); }

    void updateButtons() {
        const bool running = wizard_->job_->running();
        const bool paused = wizard_->job_->paused();
        pause_->setEnabled(running && !paused);
        resume_->setEnabled((running && paused) || (!running && canResume));
        cancel_->setEnabled(running);
    }

    bool isComplete() const override { return wizard_->succeeded_; }

    TrainingWizard* wizard_;
    QProgressBar* progress_;
    QLabel *status_, *eta_;
    QPushButton *pause_, *resume_, *cancel_;
    bool canResume = false;  // cancelled or failed with a checkpoint left
};

class FinishPage : public QWizardPage {
public:
    explicit FinishPage(TrainingWizard* wizard) : wizard_(wizard) {
        setTitle(tr("Done"));
        auto* layout = new QVBoxLayout(this);
        summary_ = new QLabel(this);
        summary_->setObjectName("summary");
        summary_->setWordWrap(true);
        summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
        layout->addWidget(summary_);
        layout->addStretch(1);
    }

    void initializePage() override {
        const TrainingSettings s = wizard_->job()->settings();
        const auto train = wizard_->job()->epochTrainLosses();
        const auto val = wizard_->job()->epochValidationLosses();
        QString where;
        switch (s.kind) {
            case TrainingKind::DenoisingVae2d:
                where = tr("It is in the Noise lab's denoiser picker and the LDM page's VAE list.");
                break;
            case TrainingKind::Ldm2d:
                where = tr("`microstudio-cli sample2d --model %1` samples it.").arg(s.name);
                break;
            case TrainingKind::Generator3d:
                where = tr("It is in the Design tab's model picker.");
                break;
        }
        summary_->setText(
            tr("<p>The %1 <b>%2</b> is saved as<br><tt>%3</tt></p><p>%4</p><p>Last epoch: train loss %5%6.</p>")
                .arg(trainingKindName(s.kind), s.name, s.modelPath(), where)
                .arg(train.isEmpty() ? QString("-") : QString::number(train.back().y(), 'g', 5))
                .arg(val.isEmpty() ? QString() : tr(", validation loss %1").arg(val.back().y(), 0, 'g', 5)));
    }

    TrainingWizard* wizard_;
    QLabel* summary_;
};

// ---- the wizard --------------------------------------------------------------------------

TrainingWizard::TrainingWizard(QWidget* parent) : QWizard(parent) {
    setWindowTitle(tr("Train a model"));
    setWizardStyle(QWizard::ClassicStyle);
    setOption(QWizard::NoBackButtonOnStartPage);
    setButtonText(QWizard::CancelButton, tr("Start &over"));
    setButtonText(QWizard::FinishButton, tr("&Done"));
    const QString data = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    modelDir_ = userModelDirectory();
    checkpointDir_ = QDir(data).filePath("checkpoints");
    job_ = new TrainingJob(this);

    chart_ = new QChart();
    chart_->setTitle(tr("Loss"));
    trainSeries_ = new QLineSeries(chart_);
    trainSeries_->setName(tr("train (running mean)"));
    validationSeries_ = new QLineSeries(chart_);
    validationSeries_->setName(tr("validation"));
    validationSeries_->setPointsVisible(true);
    // Fixed colours, so that screenshot tests can find the curves.
    trainSeries_->setPen(QPen(kTrainColour, 2));
    validationSeries_->setPen(QPen(kValidationColour, 2));
    chart_->addSeries(trainSeries_);
    chart_->addSeries(validationSeries_);
    xAxis_ = new QValueAxis(chart_);
    xAxis_->setTitleText(tr("epoch"));
    xAxis_->setLabelFormat("%.1f");
    yAxis_ = new QValueAxis(chart_);
    yAxis_->setTitleText(tr("loss"));
    yAxis_->setLabelFormat("%.4g");
    chart_->addAxis(xAxis_, Qt::AlignBottom);
    chart_->addAxis(yAxis_, Qt::AlignLeft);
    for (auto* s : {trainSeries_, validationSeries_}) {
        s->attachAxis(xAxis_);
        s->attachAxis(yAxis_);
    }
    chart_->legend()->setAlignment(Qt::AlignBottom);

    dataPage_ = new DataPage(this);
    modelPage_ = new ModelPage(this);
    parametersPage_ = new ParametersPage(this);
    trainPage_ = new TrainPage(this);  // takes ownership of the chart through its view
    finishPage_ = new FinishPage(this);
    setPage(DataPageId, dataPage_);
    setPage(ModelPageId, modelPage_);
    setPage(ParametersPageId, parametersPage_);
    setPage(TrainPageId, trainPage_);
    setPage(FinishPageId, finishPage_);

    connect(job_, &TrainingJob::progressed, this, &TrainingWizard::refreshTraining);
    connect(job_, &TrainingJob::finished, this, &TrainingWizard::onTrainingFinished);
    connect(&buildWatcher_, &QFutureWatcher<QString>::finished, this, [this] {
        const QString result = buildWatcher_.result();
        dataPage_->buildButton_->setEnabled(true);
        dataPage_->buildCancel_->setEnabled(false);
        if (result.startsWith("error:")) {
            dataPage_->buildProgress_->setValue(0);
            emit statusMessage(tr("Dataset build: %1").arg(result.mid(6)));
            if (!result.contains("cancelled") && errorDialogs_)
                QMessageBox::warning(this, tr("Dataset build failed"), result.mid(6));
        } else {
            dataPage_->buildProgress_->setValue(1000);
            dataPage_->validation_->clear();
            dataPage_->train_->setText(QDir(result).filePath("train.h5"));
            emit statusMessage(tr("Dataset built in %1").arg(result));
        }
        dataPage_->inspect();
    });
}

TrainingWizard::~TrainingWizard() {
    if (buildToken_) buildToken_->cancel();
    buildWatcher_.waitForFinished();
    // A training stops (with its checkpoint); the job is a child and reports nothing more.
    job_->disconnect(this);
    job_->cancel();
}

void TrainingWizard::setOutputDirectories(const QString& models, const QString& checkpoints) {
    modelDir_ = models;
    checkpointDir_ = checkpoints;
}

DataInfo TrainingWizard::dataInfo() const { return dataPage_->info; }

TrainingSettings TrainingWizard::settings() const {
    TrainingSettings s;
    s.kind = modelPage_->kind();
    s.trainData = dataPage_->train_->text().trimmed();
    s.validationData = dataPage_->validation_->text().trimmed();
    s.limit = dataPage_->limit_->value();
    s.name = modelPage_->name_->text();
    s.outputDir = modelDir_;
    s.checkpointDir = checkpointDir_;
    const auto* p = parametersPage_;
    s.epochs = p->epochs_->value();
    s.batch = p->batch_->value();
    s.learningRate = p->lr_->value();
    s.seed = p->seed_->value();
    s.threads = p->threads_->value();
    s.latent = p->latent_->value();
    s.hidden = p->hidden_->value();
    s.channels = p->channels_->text();
    s.beta = p->beta_->value();
    s.vae = modelPage_->vae_->currentData().toString();
    s.ldmHidden = p->ldmHidden_->value();
    s.ldmBlocks = p->ldmBlocks_->value();
    s.diffusionSteps = p->diffusionSteps_->value();
    s.conditions = p->conditions_->text().trimmed();
    s.channels3d = p->channels3d_->text();
    s.latentChannels = p->latentChannels_->value();
    s.unetFeatures = p->unetFeatures_->value();
    return s;
}

void TrainingWizard::useDemoData(const QString& file, int count, int size) {
    std::vector<Volume> images;
    for (int i = 0; i < count; ++i) {
        SyntheticOptions o;
        o.seed = std::uint64_t(1000 + i);
        o.donorFraction = 0.35 + 0.3 * double(i % 7) / 6.0;
        o.wavelength = 9.0 + double(i % 4);
        Volume v = syntheticMicrostructure(Dims{size, size, 1}, o);
        v.clearField();  // labels only, like a dataset
        v.attributes["phi"] = o.donorFraction;
        images.push_back(std::move(v));
    }
    fs::create_directories(fs::path(file.toStdString()).parent_path());
    io::writeHdf5(images, file.toStdString());
    dataPage_->validation_->clear();
    dataPage_->train_->setText(file);
    dataPage_->inspect();
}

void TrainingWizard::runDemo(const QString& folder) {
    errorDialogs_ = false;  // scripted: a failure is reported, not waited on
    restart();
    setOutputDirectories(QDir(folder).filePath("models"), QDir(folder).filePath("checkpoints"));
    useDemoData(QDir(folder).filePath("demo-synthetic-32.h5"), 120, 32);
    next();  // model kind: the denoising VAE
    modelPage_->group_->button(0)->setChecked(true);
    modelPage_->name_->setText("demo-vae2d");
    next();
    parametersPage_->epochs_->setValue(12);
    parametersPage_->batch_->setValue(8);
    parametersPage_->lr_->setValue(3e-3);
    parametersPage_->latent_->setValue(16);
    parametersPage_->hidden_->setValue(128);
    parametersPage_->beta_->setValue(0.05);  // a small KL weight learns the structure within a few epochs
    parametersPage_->channels_->setText("16,32");
    next();  // the training page starts it
    if (currentId() != TrainPageId) qWarning("training demo: stopped at page %d", currentId());
}

void TrainingWizard::startTraining(bool resume) {
    succeeded_ = false;
    if (!resume) {
        trainSeries_->clear();
        validationSeries_->clear();
        yMin_ = yMax_ = 0;
    }
    const TrainingSettings s = settings();
    xAxis_->setRange(0, std::max(1, s.epochs));
    if (!job_->start(s, resume)) return;
    trainPage_->canResume = false;
    trainPage_->status_->setText(tr("starting"));
    trainPage_->updateButtons();
    emit trainPage_->completeChanged();
    emit statusMessage(tr("Training %1 %2").arg(trainingKindName(s.kind), s.name));
}

void TrainingWizard::refreshTraining() {
    const TrainingState st = job_->takeState();
    if (st.stageChanged) {
        // A new stage (3D generator): its own curves; or a resumed run re-publishing its epochs.
        trainSeries_->clear();
        validationSeries_->clear();
        yMin_ = yMax_ = 0;
    }
    auto extend = [this](const QVector<QPointF>& points) {
        for (const QPointF& p : points) {
            if (!std::isfinite(p.y())) continue;
            if (yMin_ == yMax_ && yMin_ == 0) yMin_ = yMax_ = p.y();
            yMin_ = std::min(yMin_, p.y());
            yMax_ = std::max(yMax_, p.y());
        }
    };
    extend(st.trainPoints);
    extend(st.validationPoints);
    if (!st.trainPoints.isEmpty()) trainSeries_->append(QList<QPointF>(st.trainPoints.begin(), st.trainPoints.end()));
    if (!st.validationPoints.isEmpty())
        validationSeries_->append(QList<QPointF>(st.validationPoints.begin(), st.validationPoints.end()));
    setNiceRange(yAxis_, yMin_, yMax_);
    const QString stage =
        st.stageCount > 1 ? tr("stage %1/%2 (%3): ").arg(st.stage + 1).arg(st.stageCount).arg(st.stageName) : QString();
    chart_->setTitle(st.stageCount > 1 ? tr("Loss, %1 stage").arg(st.stageName) : tr("Loss"));
    const double fraction =
        st.totalSteps > 0 ? (double(st.stage) + double(st.step) / double(st.totalSteps)) / st.stageCount : 0.0;
    trainPage_->progress_->setValue(int(std::lround(fraction * 1000)));
    trainPage_->status_->setText(stage + st.message + (st.paused ? tr(" (paused)") : QString()));
    // Paused, the time left does not run down: say so rather than freeze a stale figure.
    trainPage_->eta_->setText(!job_->running() || st.totalSteps <= 0 ? QString()
                              : job_->paused()                       ? tr("ETA: paused")
                                                                     : tr("ETA %1").arg(formatSeconds(st.etaSeconds)));
    trainPage_->updateButtons();
}

void TrainingWizard::onTrainingFinished(TrainingJob::Outcome outcome, const QString& message) {
    refreshTraining();
    const TrainingSettings s = job_->settings();
    succeeded_ = outcome == TrainingJob::Outcome::Finished;
    trainPage_->canResume = false;
    if (outcome != TrainingJob::Outcome::Finished)
        for (const QString& stage : s.stages())
            if (QFileInfo::exists(s.checkpointPath(stage))) trainPage_->canResume = true;
    trainPage_->status_->setText(message);
    trainPage_->eta_->clear();
    if (succeeded_) trainPage_->progress_->setValue(1000);
    trainPage_->updateButtons();
    emit trainPage_->completeChanged();
    emit statusMessage(tr("Training %1: %2").arg(s.name, message));
    if (succeeded_) emit modelTrained(s.modelPath());
    else if (outcome == TrainingJob::Outcome::Failed && errorDialogs_ && isVisible())
        QMessageBox::warning(this, tr("Training failed"), message);
}

void TrainingWizard::pauseTraining() {
    job_->pause();
    trainPage_->updateButtons();
    trainPage_->status_->setText(trainPage_->status_->text() + tr(" (pausing)"));
    if (job_->paused()) trainPage_->eta_->setText(tr("ETA: paused"));
}

void TrainingWizard::resumeTraining() {
    if (job_->running()) job_->resume();
    else if (trainPage_->canResume) startTraining(true);
    trainPage_->updateButtons();
}

void TrainingWizard::cancelTraining() {
    job_->cancel();
    trainPage_->status_->setText(tr("cancelling (writing a checkpoint)"));
}

jobs::DatasetConfig TrainingWizard::datasetConfig() const {
    jobs::DatasetConfig c;
    const QSize size = dataPage_->buildSize_->currentData().toSize();
    c.dims = size.height() > 1 ? Dims{size.width(), size.width(), size.height()} : Dims{size.width(), size.width(), 1};
    c.phiCount = c.chiCount = dataPage_->buildGrid_->value();
    c.snapshots = dataPage_->buildSnapshots_->value();
    c.endTime = dataPage_->buildEnd_->value();
    c.phases = {dataPage_->buildPhases_->currentData().toInt()};
    // 2D: volume fractions are enough for the 2D models; 3D: the generator's
    // descriptors (the three-phase ones, vol_frac_M and all, for 3 phases).
    c.descriptors = c.dims.is2D() ? "basic" : "graspi";
    return c;
}

jobs::VolumeDatasetConfig TrainingWizard::volumeDatasetConfig() const {
    jobs::VolumeDatasetConfig c;
    c.windowX = c.windowY = dataPage_->volumeWindow_->value();
    c.stride = dataPage_->volumeStride_->value();
    c.depth = dataPage_->volumeDepth_->value();
    c.threads = 1;  // leave a core to the UI
    return c;
}

void TrainingWizard::startDatasetBuild() {
    if (buildWatcher_.isRunning()) return;
    const bool fromVolume = dataPage_->sourceVolume_->isChecked();
    const QString volume = dataPage_->volumeFile_->text().trimmed();
    if (fromVolume && volume.isEmpty()) {
        emit statusMessage(tr("Dataset build: choose a volume file"));
        dataPage_->volumeFile_->setFocus();
        return;
    }
    const QString name = fromVolume ? "volume-" + QFileInfo(volume).completeBaseName() + "-" : QString("ch-");
    const QString folder = QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation))
                               .filePath("datasets/" + name + QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss"));
    buildToken_ = std::make_shared<ProgressToken>();
    buildToken_->setListener([this](double f, const std::string&) {
        QMetaObject::invokeMethod(
            this, [this, f] { dataPage_->buildProgress_->setValue(int(f * 1000)); }, Qt::QueuedConnection);
    });
    dataPage_->buildButton_->setEnabled(false);
    dataPage_->buildCancel_->setEnabled(true);
    dataPage_->buildProgress_->setValue(0);
    emit dataPage_->completeChanged();
    auto token = buildToken_;
    std::function<void()> build;
    if (fromVolume) {
        build = [c = volumeDatasetConfig(), file = volume.toStdString(), folder, token] {
            jobs::buildDatasetFromVolume(file, folder.toStdString(), c, {}, token.get());
        };
    } else {
        build = [c = datasetConfig(), folder, token] {
            jobs::BuildOptions o;
            o.threads = 1;  // leave a core to the UI
            jobs::buildDataset(c, folder.toStdString(), o, token.get());
        };
    }
    buildWatcher_.setFuture(QtConcurrent::run([build, folder]() -> QString {
        lowerCurrentThreadPriority();
        try {
            build();
            return folder;
        } catch (const Cancelled&) {
            return "error:cancelled";
        } catch (const std::exception& e) {
            return "error:" + QString::fromStdString(e.what());
        }
    }));
}

void TrainingWizard::keyPressEvent(QKeyEvent* event) {
    if (event->key() == Qt::Key_Escape) {
        event->ignore();
        return;
    }
    QWizard::keyPressEvent(event);
}

bool TrainingWizard::focusNextPrevChild(bool next) {
    // QWizard refreshes its buttons (on every completeChanged: each keystroke
    // in a validated field) between hiding and showing the child that holds
    // the pages and buttons, with updates off. Hiding it moves the focus on:
    // in a dialog there is nowhere to go, but embedded in the main window the
    // focus left for the tab bar after every keystroke, and typing went
    // nowhere. The focus stays where it is; the field is shown again at once.
    QWidget* focus = QApplication::focusWidget();
    if (focus && isAncestorOf(focus) && isVisible() && !updatesEnabled()) {
        QWidget* top = focus;
        while (top->parentWidget() && top->parentWidget() != this) top = top->parentWidget();
        if (top->parentWidget() == this && !top->isVisible()) return true;
    }
    return QWizard::focusNextPrevChild(next);
}

void TrainingWizard::done(int result) {
    // Embedded in a tab: never close; Done or Start over goes back to the first page.
    if (job_->running()) job_->cancel();  // leaves its checkpoint; no wait on the UI thread
    succeeded_ = false;
    restart();
    emit statusMessage(result == QDialog::Accepted ? tr("Training wizard: done") : tr("Training wizard: started over"));
}

}  // namespace ms::ui
