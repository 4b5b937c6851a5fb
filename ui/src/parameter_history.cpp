#include "microstudio/ui/parameter_history.hpp"

#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QSpinBox>
#include <QUndoCommand>

namespace ms::ui {

namespace {

QVariant valueOf(QWidget* w) {
    if (auto* d = qobject_cast<QDoubleSpinBox*>(w)) return d->value();
    if (auto* i = qobject_cast<QSpinBox*>(w)) return i->value();
    if (auto* c = qobject_cast<QComboBox*>(w)) return c->currentText();
    return {};
}

QString labelOf(QWidget* w) {
    const QString name = w->objectName().isEmpty() ? w->toolTip().section('\n', 0, 0) : w->objectName();
    return name.isEmpty() ? QObject::tr("parameter") : name;
}

class ParameterChange : public QUndoCommand {
public:
    ParameterChange(ParameterHistory* history, QWidget* control, QVariant before, QVariant after)
        : QUndoCommand(QObject::tr("change %1").arg(labelOf(control))),
          history_(history),
          control_(control),
          before_(std::move(before)),
          after_(std::move(after)),
          when_(QDateTime::currentMSecsSinceEpoch()) {}

    void undo() override {
        if (control_) history_->applyQuietly(control_, before_);
    }
    void redo() override {
        // The first redo is QUndoStack::push's: the control holds the value
        // already. Setting it again would reformat a spin box's text while it
        // is being typed ("0.4" becomes "0.4000" and the next digit is refused).
        if (pushed_) {
            pushed_ = false;
            return;
        }
        if (control_) history_->applyQuietly(control_, after_);
    }
    int id() const override { return 1; }
    // Changes to one control within a second are one step (slider drags, spin arrows).
    bool mergeWith(const QUndoCommand* other) override {
        auto* o = static_cast<const ParameterChange*>(other);
        if (o->control_ != control_ || o->when_ - when_ > 1000) return false;
        after_ = o->after_;
        when_ = o->when_;
        return true;
    }

private:
    ParameterHistory* history_;
    QPointer<QWidget> control_;  // rebuilt controls disappear; their steps then do nothing
    QVariant before_, after_;
    qint64 when_;
    bool pushed_ = true;
};

}  // namespace

ParameterHistory::ParameterHistory(QObject* parent) : QObject(parent) {}

void ParameterHistory::trackChildren(QWidget* root) {
    for (auto* w : root->findChildren<QDoubleSpinBox*>()) track(w);
    for (auto* w : root->findChildren<QSpinBox*>()) track(w);
    for (auto* w : root->findChildren<QComboBox*>()) track(w);
}

void ParameterHistory::track(QWidget* control) {
    if (last_.contains(control)) return;
    last_.insert(control, valueOf(control));
    connect(control, &QObject::destroyed, this, [this, control] { last_.remove(control); });
    if (auto* d = qobject_cast<QDoubleSpinBox*>(control))
        connect(d, &QDoubleSpinBox::valueChanged, this, [this, d](double v) { changed(d, v); });
    else if (auto* i = qobject_cast<QSpinBox*>(control))
        connect(i, &QSpinBox::valueChanged, this, [this, i](int v) { changed(i, v); });
    else if (auto* c = qobject_cast<QComboBox*>(control))
        connect(c, &QComboBox::currentTextChanged, this, [this, c](const QString& v) { changed(c, v); });
}

void ParameterHistory::changed(QWidget* control, const QVariant& value) {
    const QVariant before = last_.value(control);
    last_[control] = value;
    if (applying_ || before == value) return;
    stack_.push(new ParameterChange(this, control, before, value));  // the stack owns it
}

void ParameterHistory::applyQuietly(QWidget* control, const QVariant& value) {
    applying_ = true;
    if (auto* d = qobject_cast<QDoubleSpinBox*>(control)) d->setValue(value.toDouble());
    else if (auto* i = qobject_cast<QSpinBox*>(control)) i->setValue(value.toInt());
    else if (auto* c = qobject_cast<QComboBox*>(control)) c->setCurrentText(value.toString());
    last_[control] = valueOf(control);
    applying_ = false;
}

}  // namespace ms::ui
