#pragma once
// Undo/redo for parameter changes: every tracked spin box and combo box
// records its changes on one QUndoStack (Edit > Undo, Ctrl+Z). Quick runs
// of changes to the same control (a slider drag) merge into one step.
#include <QHash>
#include <QObject>
#include <QPointer>
#include <QUndoStack>
#include <QVariant>

class QWidget;

namespace ms::ui {

class ParameterHistory : public QObject {
    Q_OBJECT
public:
    explicit ParameterHistory(QObject* parent = nullptr);

    QUndoStack* stack() { return &stack_; }
    // Tracks every QSpinBox, QDoubleSpinBox and QComboBox below `root`
    // (again after controls were rebuilt: known ones are skipped).
    void trackChildren(QWidget* root);
    // Sets a control's value without recording it (what undo and redo do).
    void applyQuietly(QWidget* control, const QVariant& value);

private:
    void track(QWidget* control);
    void changed(QWidget* control, const QVariant& value);

    QUndoStack stack_;
    QHash<QWidget*, QVariant> last_;
    bool applying_ = false;
};

}  // namespace ms::ui
