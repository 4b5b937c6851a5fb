#include "microstudio/ui/microgen3d_import.hpp"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>

#include "microstudio/ui/ml_worker.hpp"

namespace ms::ui {

QStringList MicroGen3dFiles::arguments(const QString& folder) const {
    return {"models",   "import-microgen3d",     "--vae",  vae,  "--fp", fp,    "--ddpm", ddpm, "--config", config,
            "--phases", QString::number(phases), "--name", name, "-o",   folder};
}

MicroGen3dImportDialog::MicroGen3dImportDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Import MicroGen3D weights"));
    form_ = new QFormLayout(this);
    const QString weights = tr("PyTorch state dict (*.pt *.pth);;All files (*)");
    vae_ = addFileRow(tr("VAE"), "importVae", weights);
    fp_ = addFileRow(tr("feature predictor"), "importFp", weights);
    ddpm_ = addFileRow(tr("DDPM"), "importDdpm", weights);
    config_ = addFileRow(tr("config"), "importConfig", tr("YAML (*.yaml *.yml);;All files (*)"));
    phases_ = new QComboBox(this);
    phases_->setObjectName("importPhases");
    phases_->addItem(tr("2 (donor, acceptor)"), 2);
    phases_->addItem(tr("3 (donor, acceptor, mixed)"), 3);
    form_->addRow(tr("phases"), phases_);
    name_ = new QLineEdit("microgen3d", this);
    name_->setObjectName("importName");
    form_->addRow(tr("model name"), name_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Import"));
    form_->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    setToolTip(tr("Paper-size networks take minutes per sample on a few cores; the import times one."));
}

QLineEdit* MicroGen3dImportDialog::addFileRow(const QString& label, const QString& objectName, const QString& filter) {
    auto* row = new QHBoxLayout();
    auto* edit = new QLineEdit(this);
    edit->setObjectName(objectName);
    auto* browse = new QPushButton(tr("Browse..."), this);
    row->addWidget(edit, 1);
    row->addWidget(browse);
    form_->addRow(label, row);
    connect(browse, &QPushButton::clicked, this, [this, edit, label, filter] {
        const QString path = QFileDialog::getOpenFileName(this, label, edit->text(), filter);
        if (!path.isEmpty()) edit->setText(path);
    });
    return edit;
}

MicroGen3dFiles MicroGen3dImportDialog::files() const {
    MicroGen3dFiles f;
    f.vae = vae_->text().trimmed();
    f.fp = fp_->text().trimmed();
    f.ddpm = ddpm_->text().trimmed();
    f.config = config_->text().trimmed();
    f.phases = phases_->currentData().toInt();
    f.name = name_->text().trimmed().isEmpty() ? QString("microgen3d") : name_->text().trimmed();
    return f;
}

MicroGen3dImporter::MicroGen3dImporter(QObject* parent) : QObject(parent) {
    connect(&process_, &QProcess::finished, this, [this](int code, QProcess::ExitStatus status) {
        const QString out = QString::fromUtf8(process_.readAllStandardOutput()).trimmed();
        const QString err = QString::fromUtf8(process_.readAllStandardError()).trimmed();
        const bool ok = status == QProcess::NormalExit && code == 0;
        const QString message = ok ? out.section('\n', -1) : (err.isEmpty() ? tr("the import stopped") : err);
        emit finished(ok, folder_, message);
    });
    connect(&process_, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
        if (e == QProcess::FailedToStart)
            emit finished(false, folder_, tr("cannot start the ML worker %1").arg(MlWorker::executable()));
    });
}

void MicroGen3dImporter::start(const MicroGen3dFiles& files, const QString& folder) {
    folder_ = folder;
    process_.start(MlWorker::executable(), files.arguments(folder));
}

}  // namespace ms::ui
