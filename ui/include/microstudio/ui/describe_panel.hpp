#pragma once
// The viewer's Describe page: the GraSPI descriptor set of the shown volume
// (ms::descriptors::describe with the extras, as `microstudio-cli describe
// --extras`), computed on a worker thread with progress and Cancel; a table
// whose names carry the glossary as tooltips; the two-point correlation
// S2(r) plotted per phase; Copy and Export CSV of
// ms::descriptors::formatCsv, the text `describe --format csv` prints.
// While the page is shown, a new volume is described at once.
#include <QFutureWatcher>
#include <QWidget>
#include <memory>

#include "microstudio/core/volume.hpp"
#include "microstudio/descriptors/descriptors.hpp"

class QChartView;
class QCheckBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace ms::ui {

struct DescribeRun;  // defined in the .cpp

class DescribePanel : public QWidget {
    Q_OBJECT
public:
    explicit DescribePanel(QWidget* parent = nullptr);
    ~DescribePanel() override;

    // The volume to describe (not owned: it must outlive the panel or be
    // reset) and its name in the CSV's file column (empty: the window's
    // title for it). Drops the shown result; a run in progress is cancelled.
    void setVolume(const Volume* volume, const QString& sourceName = {});
    // Renames the volume in the CSV, keeping the result.
    void setSourceName(const QString& sourceName) { sourceName_ = sourceName; }
    // Describes the volume on a worker thread (a copy: the viewer may move on).
    void describe();
    void cancel();
    // From describe() until the result (or its end) is taken on the UI thread.
    bool isRunning() const { return running_ != nullptr; }

    // The shown result (null when none) and its CSV text (empty when none).
    const descriptors::Result* result() const { return result_.get(); }
    QString csvText() const;
    void copyCsv();
    // Writes csvText() atomically; throws ms::Error naming the file.
    void exportCsv(const QString& path) const;
    QTableWidget* table() const { return table_; }
    QChartView* s2Chart() const { return chart_; }

signals:
    void statusMessage(const QString& message);
    void described();  // a result is shown

protected:
    void showEvent(QShowEvent* event) override;

private:
    void restart(const QString& hint);
    void finished();
    void showResult();
    void plotS2();
    void clearResult(const QString& hint);
    void exportDialog();
    QString sourceName() const;

    const Volume* volume_ = nullptr;
    QString sourceName_;
    bool stale_ = true;   // the shown result is not the volume's
    int generation_ = 0;  // a run for an earlier volume is dropped
    std::shared_ptr<DescribeRun> running_;
    QFutureWatcher<void> watcher_;
    std::unique_ptr<descriptors::Result> result_;
    QPushButton* describeButton_ = nullptr;
    QPushButton* cancelButton_ = nullptr;
    QPushButton* copyButton_ = nullptr;
    QPushButton* exportButton_ = nullptr;
    QCheckBox* periodic_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* state_ = nullptr;
    QTableWidget* table_ = nullptr;
    QChartView* chart_ = nullptr;
};

}  // namespace ms::ui
