#include "microstudio/render/screenshot.hpp"

#include <QSaveFile>

#include "microstudio/core/error.hpp"

namespace ms::render {

void savePng(const QImage& image, const QString& path) {
    const std::string where = path.toStdString();
    if (image.isNull()) throw Error(where + ": no picture to save");
    QSaveFile file(path);  // writes a temporary file, renamed on commit
    if (!file.open(QIODevice::WriteOnly))
        throw Error(where + ": cannot write (" + file.errorString().toStdString() + ")");
    if (!image.save(&file, "PNG")) {
        file.cancelWriting();
        throw Error(where + ": PNG encoding failed");
    }
    if (!file.commit()) throw Error(where + ": cannot write (" + file.errorString().toStdString() + ")");
}

}  // namespace ms::render
