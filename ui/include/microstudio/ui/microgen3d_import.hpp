#pragma once
// Importing MicroGen3D's weights from the studio: a dialog for the four files,
// and a runner that executes the ML worker's own `models import-microgen3d`
// (ml::importMicroGen3d, where LibTorch lives) as a separate process, so the
// studio stays torch-free and the CLI and the GUI run the same code.
#include <QDialog>
#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>

class QComboBox;
class QFormLayout;
class QLineEdit;

namespace ms::ui {

struct MicroGen3dFiles {
    QString vae, fp, ddpm, config;
    int phases = 2;
    QString name = "microgen3d";
    // The `models import-microgen3d` arguments writing the model to `folder`.
    QStringList arguments(const QString& folder) const;
};

// File > Import MicroGen3D weights...: the three state dicts, the config,
// the phases and the model's name (its folder in the studio's models folder).
class MicroGen3dImportDialog : public QDialog {
    Q_OBJECT
public:
    explicit MicroGen3dImportDialog(QWidget* parent = nullptr);
    MicroGen3dFiles files() const;

private:
    QLineEdit* addFileRow(const QString& label, const QString& objectName, const QString& filter);
    QLineEdit *vae_ = nullptr, *fp_ = nullptr, *ddpm_ = nullptr, *config_ = nullptr, *name_ = nullptr;
    QComboBox* phases_ = nullptr;
    QFormLayout* form_ = nullptr;
};

// Runs one import in the worker executable; finished(ok, folder, message):
// the model folder, and the command's last output line (ok) or its one-line error.
class MicroGen3dImporter : public QObject {
    Q_OBJECT
public:
    explicit MicroGen3dImporter(QObject* parent = nullptr);
    void start(const MicroGen3dFiles& files, const QString& folder);
    bool running() const { return process_.state() != QProcess::NotRunning; }

signals:
    void finished(bool ok, const QString& folder, const QString& message);

private:
    QProcess process_;
    QString folder_;
};

}  // namespace ms::ui
