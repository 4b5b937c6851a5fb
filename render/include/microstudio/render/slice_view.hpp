#pragma once
// One orthogonal slice of a labelled volume, drawn with the phase colours,
// with a crosshair and a legend naming the volume's phases with their
// colours (right of the caption, above the picture). Clicking picks a voxel;
// the wheel steps the slice.
// Three of these (XY, XZ, YZ) linked through positionPicked make the
// orthogonal views beside the 3D view.
#include <QImage>
#include <QStringList>
#include <QWidget>
#include <array>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::render {

enum class SliceAxis { XY, XZ, YZ };  // the plane shown; the normal is z, y, x

class SliceView : public QWidget {
    Q_OBJECT
public:
    explicit SliceView(SliceAxis axis, QWidget* parent = nullptr);

    void setVolume(const Volume* volume);  // not owned; must outlive the view or be reset
    SliceAxis axis() const { return axis_; }
    const QImage& image() const { return image_; }
    std::array<int, 3> position() const { return position_; }
    QSize sizeHint() const override { return {280, 280}; }
    // A fixed caption replaces "XY (z) = 12"; image panels also hide the crosshair.
    void setCaption(const QString& caption);
    void setCrosshairVisible(bool visible);

    // The legend at the view's present size: its entries ("Donor", or "D"
    // where the names do not fit; empty without a volume or room) and the
    // area they cover.
    QStringList legendEntries() const;
    QRect legendRect() const;
    // The view painted at `size` pixels (caption, legend, slice, crosshair),
    // e.g. for a screenshot.
    QImage renderImage(QSize size) const;

public slots:
    void setPosition(int x, int y, int z);

signals:
    void positionPicked(int x, int y, int z);

protected:
    void paintEvent(QPaintEvent*) override;
    void mousePressEvent(QMouseEvent* e) override;
    void mouseMoveEvent(QMouseEvent* e) override;
    void wheelEvent(QWheelEvent* e) override;

private:
    struct LegendItem {
        int phase;
        QRectF swatch;
        QRectF text;
        QString name;
    };
    void rebuildImage();
    QRectF imageRect() const { return imageRectIn(rect()); }
    QRectF imageRectIn(const QRectF& bounds) const;
    QString captionText() const;
    std::vector<LegendItem> legendLayout(const QRectF& bounds) const;
    void paint(QPainter& painter, const QRectF& bounds) const;
    void pickAt(QPointF p);

    SliceAxis axis_;
    const Volume* volume_ = nullptr;
    std::array<int, 3> position_{0, 0, 0};
    std::array<bool, kMaxPhases> phasePresent_{};
    QImage image_;
    QString caption_;
    bool crosshairVisible_ = true;
};

}  // namespace ms::render
