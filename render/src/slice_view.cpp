#include "microstudio/render/slice_view.hpp"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <algorithm>

#include "microstudio/render/phase_style.hpp"

namespace ms::render {

namespace {

// Which volume axes run along the image's columns and rows, and which is the normal.
struct AxisMap {
    int column, row, normal;
};

AxisMap axesOf(SliceAxis a) {
    switch (a) {
        case SliceAxis::XY:
            return {0, 1, 2};
        case SliceAxis::XZ:
            return {0, 2, 1};
        case SliceAxis::YZ:
            return {1, 2, 0};
    }
    return {0, 1, 2};
}

int extent(const Dims& d, int axis) { return axis == 0 ? d.nx : axis == 1 ? d.ny : d.nz; }

const char* kPhaseNames[kMaxPhases] = {"Donor", "Acceptor", "Mixed"};
const char* kPhaseLetters[kMaxPhases] = {"D", "A", "M"};
constexpr double kCaptionTop = 2, kCaptionHeight = 16, kSwatch = 10;

const char* titleOf(SliceAxis a) {
    switch (a) {
        case SliceAxis::XY:
            return "XY (z)";
        case SliceAxis::XZ:
            return "XZ (y)";
        case SliceAxis::YZ:
            return "YZ (x)";
    }
    return "";
}

}  // namespace

SliceView::SliceView(SliceAxis axis, QWidget* parent) : QWidget(parent), axis_(axis) {
    setMinimumSize(160, 160);
    setFocusPolicy(Qt::StrongFocus);  // reachable by Tab: arrow keys step slices
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void SliceView::setCaption(const QString& caption) {
    caption_ = caption;
    update();
}

void SliceView::setCrosshairVisible(bool visible) {
    crosshairVisible_ = visible;
    update();
}

void SliceView::setVolume(const Volume* volume) {
    volume_ = volume;
    phasePresent_.fill(false);
    if (volume_) {
        const Dims& d = volume_->dims();
        position_ = {d.nx / 2, d.ny / 2, d.nz / 2};
        const auto counts = volume_->phaseCounts();
        for (int p = 0; p < kMaxPhases; ++p) phasePresent_[std::size_t(p)] = counts[std::size_t(p)] > 0;
    }
    rebuildImage();
}

void SliceView::setPosition(int x, int y, int z) {
    if (!volume_) return;
    const Dims& d = volume_->dims();
    const std::array<int, 3> p{std::clamp(x, 0, d.nx - 1), std::clamp(y, 0, d.ny - 1), std::clamp(z, 0, d.nz - 1)};
    const bool planeChanged = p[std::size_t(axesOf(axis_).normal)] != position_[std::size_t(axesOf(axis_).normal)];
    position_ = p;
    if (planeChanged) rebuildImage();
    update();
}

void SliceView::rebuildImage() {
    if (!volume_) {
        image_ = QImage();
        update();
        return;
    }
    const Dims& d = volume_->dims();
    const AxisMap m = axesOf(axis_);
    const int w = extent(d, m.column), h = extent(d, m.row);
    image_ = QImage(w, h, QImage::Format_RGB32);
    std::array<QRgb, 256> lut;
    lut.fill(qRgb(255, 0, 255));
    for (int p = 0; p < kMaxPhases; ++p) {
        const Rgb c = phaseColor(p);
        lut[std::size_t(p)] = qRgb(int(c.r * 255), int(c.g * 255), int(c.b * 255));
    }
    std::array<int, 3> v = position_;
    for (int r = 0; r < h; ++r) {
        // Row 0 of the image is the top: the largest row coordinate.
        auto* line = reinterpret_cast<QRgb*>(image_.scanLine(r));
        v[std::size_t(m.row)] = h - 1 - r;
        for (int c = 0; c < w; ++c) {
            v[std::size_t(m.column)] = c;
            line[c] = lut[volume_->at(v[0], v[1], v[2])];
        }
    }
    update();
}

QRectF SliceView::imageRectIn(const QRectF& bounds) const {
    if (image_.isNull()) return {};
    const QRectF area = bounds.adjusted(4, 20, -4, -4);
    const double scale = std::min(area.width() / image_.width(), area.height() / image_.height());
    const QSizeF size(image_.width() * scale, image_.height() * scale);
    return QRectF(area.center() - QPointF(size.width() / 2, size.height() / 2), size);
}

QString SliceView::captionText() const {
    if (!caption_.isEmpty()) return caption_;
    return QString("%1 = %2").arg(titleOf(axis_)).arg(position_[std::size_t(axesOf(axis_).normal)]);
}

// Right-aligned in the caption row, so it never covers the picture: the
// phase names when they fit beside the caption, else their letters.
std::vector<SliceView::LegendItem> SliceView::legendLayout(const QRectF& bounds) const {
    if (image_.isNull()) return {};
    const QFontMetricsF metrics(font());
    const double room = bounds.width() - 12 - metrics.horizontalAdvance(captionText()) - 10;
    for (const char* const* names : {kPhaseNames, kPhaseLetters}) {
        std::vector<LegendItem> items;
        double x = 0;
        for (int p = 0; p < kMaxPhases; ++p) {
            if (!phasePresent_[std::size_t(p)]) continue;
            const QString name = names[p];
            const double textWidth = metrics.horizontalAdvance(name) + 2;
            const double top = bounds.top() + kCaptionTop;
            items.push_back({p, QRectF(x, top + (kCaptionHeight - kSwatch) / 2, kSwatch, kSwatch),
                             QRectF(x + kSwatch + 3, top, textWidth, kCaptionHeight), name});
            x += kSwatch + 3 + textWidth + 6;
        }
        const double width = x - 6;
        if (width > room) continue;
        const double shift = bounds.right() - 6 - width;
        for (auto& item : items) {
            item.swatch.translate(shift, 0);
            item.text.translate(shift, 0);
        }
        return items;
    }
    return {};
}

QStringList SliceView::legendEntries() const {
    QStringList names;
    for (const auto& item : legendLayout(rect())) names << item.name;
    return names;
}

QRect SliceView::legendRect() const {
    QRectF area;
    for (const auto& item : legendLayout(rect())) area = area.united(item.swatch).united(item.text);
    return area.toAlignedRect();
}

QImage SliceView::renderImage(QSize size) const {
    QImage out(size, QImage::Format_RGB32);
    QPainter painter(&out);
    painter.setFont(font());
    paint(painter, QRectF(QPointF(0, 0), QSizeF(size)));
    return out;
}

void SliceView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    paint(painter, rect());
}

void SliceView::paint(QPainter& painter, const QRectF& bounds) const {
    painter.fillRect(bounds, QColor(28, 30, 34));
    painter.setPen(QColor(210, 210, 210));
    if (image_.isNull()) {
        painter.drawText(bounds, Qt::AlignCenter, caption_.isEmpty() ? tr("no volume") : caption_);
        return;
    }
    const AxisMap m = axesOf(axis_);
    painter.drawText(QRectF(bounds.left() + 6, bounds.top() + kCaptionTop, bounds.width() - 12, kCaptionHeight),
                     Qt::AlignLeft | Qt::AlignVCenter, captionText());
    for (const auto& item : legendLayout(bounds)) {
        const Rgb c = phaseColor(item.phase);
        painter.fillRect(item.swatch, QColor(int(c.r * 255), int(c.g * 255), int(c.b * 255)));  // as the slice pixels
        painter.drawText(item.text, Qt::AlignLeft | Qt::AlignVCenter, item.name);
    }
    const QRectF target = imageRectIn(bounds);
    painter.drawImage(target, image_);
    if (!crosshairVisible_) return;
    // Crosshair through the picked voxel's centre.
    const double sx = target.width() / image_.width(), sy = target.height() / image_.height();
    const double cx = target.left() + (position_[std::size_t(m.column)] + 0.5) * sx;
    const double cy = target.top() + (image_.height() - 1 - position_[std::size_t(m.row)] + 0.5) * sy;
    painter.setPen(QPen(QColor(255, 255, 255, 200), 1));
    painter.drawLine(QPointF(target.left(), cy), QPointF(target.right(), cy));
    painter.drawLine(QPointF(cx, target.top()), QPointF(cx, target.bottom()));
}

void SliceView::pickAt(QPointF p) {
    const QRectF target = imageRect();
    if (!volume_ || !target.contains(p)) return;
    const AxisMap m = axesOf(axis_);
    std::array<int, 3> v = position_;
    v[std::size_t(m.column)] = int((p.x() - target.left()) / target.width() * image_.width());
    v[std::size_t(m.row)] = image_.height() - 1 - int((p.y() - target.top()) / target.height() * image_.height());
    setPosition(v[0], v[1], v[2]);
    emit positionPicked(position_[0], position_[1], position_[2]);
}

void SliceView::mousePressEvent(QMouseEvent* e) {
    if (e->button() == Qt::LeftButton) pickAt(e->position());
}

void SliceView::mouseMoveEvent(QMouseEvent* e) {
    if (e->buttons() & Qt::LeftButton) pickAt(e->position());
}

void SliceView::wheelEvent(QWheelEvent* e) {
    if (!volume_) return;
    const AxisMap m = axesOf(axis_);
    std::array<int, 3> v = position_;
    v[std::size_t(m.normal)] += e->angleDelta().y() > 0 ? 1 : -1;
    setPosition(v[0], v[1], v[2]);
    emit positionPicked(position_[0], position_[1], position_[2]);
}

}  // namespace ms::render
