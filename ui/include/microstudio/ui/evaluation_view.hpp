#pragma once
// The Design tab's evaluation result (ms::ml::evaluateGenerator3d's report):
// per conditioned descriptor a target-vs-measured scatter plot with the
// y = x line, its R^2 (squared Pearson), R^2 det. (1 - SS_res/SS_tot) and
// MAE; the VAE round trip's and the feature predictor's R^2 in a small
// table; the split the held-out data came from, the number of targets, and
// the memorisation figure when the report has one; Copy report puts the
// CLI's text of the same report on the clipboard. Shows plain values only:
// the evaluation itself runs in DesignPanel.
#include <QColor>
#include <QWidget>
#include <memory>

#include "microstudio/ml/evaluate3d.hpp"

class QGridLayout;
class QLabel;
class QPushButton;
class QTableWidget;

namespace ms::ui {

// The target-vs-measured points of the scatter plots (the donor's blue family, readable on white).
inline const QColor kEvaluationPointColour{31, 97, 180};

class EvaluationView : public QWidget {
    Q_OBJECT
public:
    explicit EvaluationView(QWidget* parent = nullptr);
    ~EvaluationView() override;

    // Replaces what is shown; `seed` is the sampler's (the report does not keep it).
    void showReport(const ml::Evaluation3dReport& report, int seed);
    // Back to the empty view (a hint on what Evaluate does).
    void clear();
    // The shown report; null when none.
    const ml::Evaluation3dReport* report() const { return report_.get(); }

private:
    QWidget* makeChart(const std::string& name) const;
    QTableWidget* makeTable() const;

    std::unique_ptr<ml::Evaluation3dReport> report_;
    QLabel* summary_ = nullptr;
    QLabel* split_ = nullptr;
    QLabel* memorisation_ = nullptr;
    QLabel* hint_ = nullptr;
    QPushButton* copy_ = nullptr;  // the report's text (Evaluation3dReport::text) to the clipboard
    QWidget* grid_ = nullptr;
    QGridLayout* gridLayout_ = nullptr;
};

}  // namespace ms::ui
