#include "microstudio/ui/evaluation_view.hpp"

#include <QChart>
#include <QChartView>
#include <QClipboard>
#include <QFileInfo>
#include <QGuiApplication>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineSeries>
#include <QPushButton>
#include <QScatterSeries>
#include <QTableWidget>
#include <QValueAxis>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "microstudio/ml/model_evaluation.hpp"

namespace ms::ui {

namespace {

const QColor kPointColour = kEvaluationPointColour;
const QColor kIdentityColour(120, 120, 120);

QString figure(double v, int decimals = 3) {
    return std::isfinite(v) ? QString::number(v, 'f', decimals) : QString("-");
}
QString small(double v) { return std::isfinite(v) ? QString::number(v, 'g', 3) : QString("-"); }

double valueOr(const ml::NamedValues& values, const std::string& name) {
    const auto it = values.find(name);
    return it == values.end() ? std::nan("") : it->second;
}

// An axis over [lo, hi] with a little room beyond (no marker on the plot's
// edge, clipped) and ticks on round numbers: a step of 1, 2, 2.5 or 5 times
// a power of ten, about four per span, and the decimals its labels need.
struct NiceRange {
    double lo = 0, hi = 1, step = 0.25;
    int decimals = 2;
};

NiceRange niceRange(double lo, double hi) {
    if (!(hi > lo)) {  // one value (or none): a small span around it
        const double pad = std::max(1e-3, std::abs(lo) * 0.05);
        lo -= pad;
        hi += pad;
    }
    const double rough = (hi - lo) / 4.0;
    const double power = std::pow(10.0, std::floor(std::log10(rough)));
    double mantissa = 10.0;
    for (double m : {1.0, 2.0, 2.5, 5.0})
        if (m * power >= rough * 0.999) {
            mantissa = m;
            break;
        }
    NiceRange r;
    const double room = 0.04 * (hi - lo);
    r.lo = lo - room;
    r.hi = hi + room;
    r.step = mantissa * power;
    r.decimals = std::max(0, -int(std::floor(std::log10(r.step) + 1e-9)) + (mantissa == 2.5 ? 1 : 0));
    return r;
}

QValueAxis* axis(const NiceRange& r, const QString& title) {
    auto* a = new QValueAxis();
    a->setRange(r.lo, r.hi);
    a->setTickType(QValueAxis::TicksDynamic);
    a->setTickAnchor(0.0);  // ticks at whole multiples of the step
    a->setTickInterval(r.step);
    a->setLabelFormat(QString("%.%1f").arg(r.decimals));
    a->setTitleText(title);
    QFont f = a->titleFont();
    f.setBold(false);
    f.setPointSizeF(f.pointSizeF() * 0.9);
    a->setTitleFont(f);
    return a;
}

// A chart view that asks for a readable size and keeps a square-ish plot.
class ScatterView : public QChartView {
public:
    using QChartView::QChartView;
    // Two rows of plots and the table fit the Evaluation page of a 1024x700
    // window (the scroll area sizes the view by its preferred heights, as the
    // wrapping labels make it height-for-width).
    QSize sizeHint() const override { return {320, 200}; }
    QSize minimumSizeHint() const override { return {220, 190}; }
};

}  // namespace

EvaluationView::EvaluationView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* head = new QHBoxLayout();
    split_ = new QLabel(this);
    split_->setObjectName("evaluationSplit");
    split_->setTextFormat(Qt::PlainText);
    QFont bold = split_->font();
    bold.setBold(true);
    split_->setFont(bold);
    summary_ = new QLabel(this);
    summary_->setObjectName("evaluationSummary");
    summary_->setTextFormat(Qt::PlainText);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    copy_ = new QPushButton(tr("&Copy report"), this);
    copy_->setObjectName("evaluationCopy");
    copy_->setToolTip(tr("The report as text, as `microstudio-cli evaluate` prints it, to the clipboard"));
    connect(copy_, &QPushButton::clicked, this, [this] {
        if (report_) QGuiApplication::clipboard()->setText(QString::fromStdString(report_->text()));
    });
    head->addWidget(split_);
    head->addWidget(summary_, 1);
    head->addWidget(copy_, 0, Qt::AlignTop);
    layout->addLayout(head);
    memorisation_ = new QLabel(this);
    memorisation_->setObjectName("evaluationMemorisation");
    memorisation_->setWordWrap(true);
    layout->addWidget(memorisation_);
    hint_ = new QLabel(this);
    hint_->setObjectName("evaluationHint");
    hint_->setWordWrap(true);
    hint_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    hint_->setText(
        tr("Evaluate measures the model on held-out samples: one volume is generated for each held-out "
           "sample's descriptors (plain sampling, the Sampling group's steps, seed and guidance), described, "
           "and compared with its target. Also the VAE round trip and the feature predictor on the same "
           "samples; with a training file, how near the generated volumes lie to the training data "
           "(memorisation). Timing, diversity and screened passes: microstudio-cli evaluate."));
    layout->addWidget(hint_);
    grid_ = new QWidget(this);
    gridLayout_ = new QGridLayout(grid_);
    gridLayout_->setContentsMargins(0, 0, 0, 0);
    gridLayout_->setSpacing(6);
    layout->addWidget(grid_, 1);
    clear();
}

EvaluationView::~EvaluationView() = default;

void EvaluationView::clear() {
    report_.reset();
    while (QLayoutItem* item = gridLayout_->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    split_->clear();
    split_->hide();
    copy_->hide();
    summary_->setText(tr("No evaluation yet."));
    memorisation_->hide();
    hint_->show();
}

void EvaluationView::showReport(const ml::Evaluation3dReport& report, int seed) {
    clear();
    report_ = std::make_unique<ml::Evaluation3dReport>(report);
    const auto& r = *report_;
    hint_->hide();
    split_->setText(tr("split: %1").arg(QString::fromStdString(r.split)));
    split_->setToolTip(
        tr("The held-out samples' common `split` attribute (\"test\": runs never used in training or "
           "model selection; \"val\": the validation runs; \"unknown\": the file carries none)"));
    split_->show();
    copy_->show();
    summary_->setText(
        tr("%1 targets from %2%3 \u00b7 model %4 \u00b7 %5, guidance %6, seed %7")
            .arg(r.n)
            .arg(QFileInfo(QString::fromStdString(r.data)).fileName())
            .arg(r.minPhaseFraction > 0 ? tr(" (rarer phase \u2265 %1)").arg(r.minPhaseFraction) : QString())
            .arg(QString::fromStdString(r.model))
            .arg(QString::fromStdString(r.samplerLabel))
            .arg(r.guidance)
            .arg(seed));
    summary_->setToolTip(tr("%1\non %2").arg(QString::fromStdString(r.data), QString::fromStdString(r.device)));
    if (const auto& m = r.memorisation) {
        // Generated volumes nearer the training data than unseen held-out
        // ones point to copying rather than generalising.
        // The round trips (decoder alone) tell the decoder's share from the diffusion model's.
        const QString roundTrip =
            m->roundTrip ? tr(", held-out VAE round trips %1").arg(figure(m->roundTrip->median)) : QString();
        memorisation_->setText(tr("Memorisation: median voxel disagreement to the nearest of %1 training samples: "
                                  "generated %2, held-out %3%4; "
                                  "%5")
                                   .arg(m->trainingCount)
                                   .arg(figure(m->generated.median))
                                   .arg(figure(m->heldOut.median))
                                   .arg(roundTrip)
                                   .arg(m->generatedNotCloser
                                            ? tr("generated no closer than held-out (no sign of copying)")
                                            : tr("generated closer than held-out: possible copying")));
        memorisation_->setStyleSheet(m->generatedNotCloser ? QString() : QString("color: #b04000; font-weight: bold;"));
        memorisation_->setToolTip(QString::fromStdString(m->training));
    } else {
        memorisation_->setText(tr("Memorisation: not measured (no training data file given)"));
        memorisation_->setStyleSheet("color: palette(mid);");
        memorisation_->setToolTip({});
    }
    memorisation_->show();
    // Two columns (a plot's title needs ~300 px): a 3-phase model's four
    // plots and the table take three rows, which scroll in a small window.
    const int columns = 2;
    int cell = 0;
    for (const auto& name : r.conditions) {
        gridLayout_->addWidget(makeChart(name), cell / columns, cell % columns);
        ++cell;
    }
    gridLayout_->addWidget(makeTable(), cell / columns, cell % columns);
    for (int c = 0; c < columns; ++c) gridLayout_->setColumnStretch(c, 1);
    // Shown now rather than from the event loop (a grab right after sees them).
    for (int i = 0; i < gridLayout_->count(); ++i)
        if (QWidget* w = gridLayout_->itemAt(i)->widget()) w->show();
    for (int row = 0; row <= cell / columns; ++row) gridLayout_->setRowStretch(row, 1);
}

QWidget* EvaluationView::makeChart(const std::string& name) const {
    const auto& r = *report_;
    auto* points = new QScatterSeries();
    points->setObjectName("targetVsMeasured");
    points->setMarkerShape(QScatterSeries::MarkerShapeCircle);
    points->setMarkerSize(7.0);
    points->setColor(kPointColour);
    points->setBorderColor(kPointColour.darker(130));
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t i = 0; i < r.targets.size() && i < r.plain.measured.size(); ++i) {
        const double t = valueOr(r.targets[i], name), m = valueOr(r.plain.measured[i], name);
        if (!std::isfinite(t) || !std::isfinite(m)) continue;  // not described (e.g. no percolating path)
        points->append(t, m);
        lo = std::min({lo, t, m});
        hi = std::max({hi, t, m});
    }
    if (points->count() == 0) lo = hi = 0.0;
    const NiceRange range = niceRange(lo, hi);
    auto* identity = new QLineSeries();
    identity->setObjectName("identity");
    identity->append(range.lo, range.lo);
    identity->append(range.hi, range.hi);
    QPen pen(kIdentityColour);
    pen.setStyle(Qt::DashLine);
    pen.setWidthF(1.2);
    identity->setPen(pen);

    auto* chart = new QChart();
    chart->legend()->hide();
    chart->setMargins(QMargins(2, 2, 2, 2));
    chart->setBackgroundRoundness(0);
    chart->addSeries(identity);
    chart->addSeries(points);
    auto* x = axis(range, tr("target"));
    auto* y = axis(range, tr("measured"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    for (QAbstractSeries* s : {static_cast<QAbstractSeries*>(identity), static_cast<QAbstractSeries*>(points)}) {
        s->attachAxis(x);
        s->attachAxis(y);
    }
    const QString described = points->count() < int(r.targets.size())
                                  ? tr(" (%1 of %2 described)").arg(points->count()).arg(r.targets.size())
                                  : QString();
    chart->setTitle(tr("<b>%1</b>%2<br>R\u00b2 %3 &nbsp; 1\u2212SS<sub>res</sub>/SS<sub>tot</sub> %4 &nbsp; MAE %5")
                        .arg(QString::fromStdString(name).toHtmlEscaped(), described)
                        .arg(figure(valueOr(r.plain.r2, name)), figure(valueOr(r.plain.determination, name)),
                             small(valueOr(r.plain.mae, name))));

    auto* view = new ScatterView(chart);
    view->setObjectName(QString::fromStdString("evaluationChart_" + name));
    view->setRenderHint(QPainter::Antialiasing);
    view->setToolTip(tr("%1: each point is one held-out target (x) and the descriptor measured on the volume generated "
                        "for it (y); the dashed line is y = x. R\u00b2: squared Pearson correlation (the paper's); "
                        "1\u2212SS_res/SS_tot also penalises bias; MAE: mean absolute error.")
                         .arg(QString::fromStdString(name)));
    return view;
}

QTableWidget* EvaluationView::makeTable() const {
    const auto& r = *report_;
    auto* table = new QTableWidget(0, 2);
    table->setObjectName("evaluationTable");
    table->setTabKeyNavigation(false);  // Tab moves on; arrow keys move between cells
    table->setHorizontalHeaderLabels({tr("held-out R\u00b2 of"), tr("R\u00b2")});
    table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    table->horizontalHeader()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    table->verticalHeader()->hide();
    table->verticalHeader()->setDefaultSectionSize(table->fontMetrics().height() + 6);
    table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table->setSelectionMode(QAbstractItemView::NoSelection);
    const auto add = [&](const QString& label, double value, const QString& tip) {
        const int row = table->rowCount();
        table->insertRow(row);
        auto* name = new QTableWidgetItem(label);
        auto* item = new QTableWidgetItem(figure(value));
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        for (auto* i : {name, item}) i->setToolTip(tip);
        table->setItem(row, 0, name);
        table->setItem(row, 1, item);
    };
    if (const auto& rt = r.reconstruction) {
        const QString tip = tr("VAE round trip (encode, decode) of the held-out samples: R\u00b2 of the descriptor "
                               "measured on the rebuilt volume vs the original's. The ceiling for generation. Voxel "
                               "accuracy %1.")
                                .arg(figure(rt->voxelAccuracy, 4));
        for (const auto& name : r.conditions)
            add(tr("round trip %1").arg(QString::fromStdString(name)), valueOr(rt->r2, name), tip);
    }
    const auto label = [](const std::string& output) {
        if (output == "phi") return tr("predictor: blend ratio phi");
        if (output == "chi") return tr("predictor: interaction chi");
        if (output == "log_time") return tr("predictor: log anneal time");
        return tr("predictor: %1").arg(QString::fromStdString(output));
    };
    // The processing parameters it predicts (phi, chi, log_time); its
    // descriptor outputs are in the report (fpR2), not shown here.
    for (const auto& output : r.outputs) {
        const auto it = r.fpR2.find(output);
        if (it == r.fpR2.end()) continue;  // not in the held-out data
        if (std::find(r.conditions.begin(), r.conditions.end(), output) != r.conditions.end()) continue;
        add(label(output), it->second,
            tr("Feature predictor on the held-out samples' latents: squared Pearson R\u00b2 of %1 (MAE %2). Below "
               "%3 the Samples page greys the predicted value out.")
                .arg(QString::fromStdString(output), small(valueOr(r.fpMae, output)))
                .arg(ml::kMeaningfulR2, 0, 'f', 1));
    }
    return table;
}

}  // namespace ms::ui
