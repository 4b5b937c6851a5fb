#pragma once
// A time control like ParaView's for the samples of one file (the snapshots
// of a run, the samples of a dataset): first / previous / next / last
// buttons, a slider and a number box, and the shown sample's name and time.
// It only picks an index; the viewer reads and shows the sample.
#include <QWidget>

class QLabel;
class QSlider;
class QSpinBox;
class QToolButton;

namespace ms::ui {

class SampleControl : public QWidget {
    Q_OBJECT
public:
    explicit SampleControl(QWidget* parent = nullptr);

    // Samples 0 .. count - 1 with `index` current; emits nothing.
    void setRange(int count, int index);
    int index() const { return index_; }
    int count() const { return count_; }
    // What the sample is ("snap_000004, t = 160"), beside the index.
    void setDescription(const QString& text);

public slots:
    // Moves to `index` (clamped) and emits indexRequested when it changes.
    void setIndex(int index);

signals:
    void indexRequested(int index);

private:
    QToolButton* addButton(const char* name, int icon, const QString& tip, int step);
    void showIndex();

    int count_ = 0;
    int index_ = 0;
    QSlider* slider_ = nullptr;
    QSpinBox* spin_ = nullptr;
    QLabel* description_ = nullptr;
    QToolButton* first_ = nullptr;
    QToolButton* previous_ = nullptr;
    QToolButton* next_ = nullptr;
    QToolButton* last_ = nullptr;
};

}  // namespace ms::ui
