#pragma once
// Saving a rendered view (VtkWidget::renderImage, SliceView::renderImage)
// as a PNG file.
#include <QImage>
#include <QString>

namespace ms::render {

// Writes `image` as PNG to `path` atomically (a temporary file renamed over
// it). Throws ms::Error naming the file and the reason.
void savePng(const QImage& image, const QString& path);

}  // namespace ms::render
