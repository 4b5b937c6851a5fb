#include "microstudio/ui/sample_control.hpp"

#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QStyle>
#include <QToolButton>
#include <algorithm>

namespace ms::ui {

namespace {
// Steps of the first and last buttons: far enough to hit the ends.
constexpr int kToFirst = -1'000'000'000;
constexpr int kToLast = 1'000'000'000;
}  // namespace

SampleControl::SampleControl(QWidget* parent) : QWidget(parent) {
    setObjectName("sampleControl");
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(4, 2, 4, 2);
    layout->addWidget(new QLabel(tr("Sample"), this));
    first_ = addButton("sampleFirst", QStyle::SP_MediaSkipBackward, tr("First sample"), kToFirst);
    previous_ = addButton("samplePrevious", QStyle::SP_MediaSeekBackward, tr("Previous sample"), -1);
    slider_ = new QSlider(Qt::Horizontal, this);
    slider_->setObjectName("sampleSlider");
    slider_->setToolTip(tr("Sample of the file (a snapshot of a run, a sample of a dataset)"));
    slider_->setMinimumWidth(120);
    layout->addWidget(slider_, 1);
    next_ = addButton("sampleNext", QStyle::SP_MediaSeekForward, tr("Next sample"), 1);
    last_ = addButton("sampleLast", QStyle::SP_MediaSkipForward, tr("Last sample"), kToLast);
    spin_ = new QSpinBox(this);
    spin_->setObjectName("sampleIndex");
    spin_->setToolTip(tr("Index of the sample (from 0)"));
    spin_->setKeyboardTracking(false);  // "12" typed asks for 12, not 1 first
    layout->addWidget(spin_);
    description_ = new QLabel(this);
    description_->setObjectName("sampleName");
    description_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(description_);
    connect(slider_, &QSlider::valueChanged, this, &SampleControl::setIndex);
    connect(spin_, &QSpinBox::valueChanged, this, &SampleControl::setIndex);
}

QToolButton* SampleControl::addButton(const char* name, int icon, const QString& tip, int step) {
    auto* button = new QToolButton(this);
    button->setObjectName(name);
    button->setIcon(style()->standardIcon(QStyle::StandardPixmap(icon)));
    button->setToolTip(tip);
    button->setAutoRaise(true);
    layout()->addWidget(button);
    connect(button, &QToolButton::clicked, this, [this, step] {
        // Stepping in 64 bits: the first/last steps must not overflow.
        setIndex(int(std::clamp<long long>(static_cast<long long>(index_) + step, 0, std::max(0, count_ - 1))));
    });
    return button;
}

void SampleControl::setRange(int count, int index) {
    count_ = std::max(0, count);
    index_ = std::clamp(index, 0, std::max(0, count_ - 1));
    showIndex();
}

void SampleControl::setIndex(int index) {
    const int clamped = std::clamp(index, 0, std::max(0, count_ - 1));
    if (clamped == index_) return;
    index_ = clamped;
    showIndex();
    emit indexRequested(index_);
}

void SampleControl::setDescription(const QString& text) {
    description_->setText(tr("max is %1   %2").arg(count_ - 1).arg(text));
}

void SampleControl::showIndex() {
    const QSignalBlocker blockSlider(slider_), blockSpin(spin_);
    slider_->setRange(0, std::max(0, count_ - 1));
    spin_->setRange(0, std::max(0, count_ - 1));
    slider_->setValue(index_);
    spin_->setValue(index_);
    first_->setEnabled(index_ > 0);
    previous_->setEnabled(index_ > 0);
    next_->setEnabled(index_ < count_ - 1);
    last_->setEnabled(index_ < count_ - 1);
}

}  // namespace ms::ui
