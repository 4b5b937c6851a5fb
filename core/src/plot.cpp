// Monochrome line plots written as label images (PNG through io): frame,
// tick values, axis labels, title and a legend in a built-in 5x7 bitmap font,
// so the CLI draws readable plots without a font library or a display.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "microstudio/core/error.hpp"
#include "microstudio/core/plot.hpp"

namespace ms {

namespace {

// Rows top to bottom, bit 4 = leftmost column.
using Glyph = std::array<std::uint8_t, 7>;

const std::map<char, Glyph>& font() {
    static const std::map<char, Glyph> glyphs = {
        {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
        {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}}, {'+', {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}},
        {',', {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}}, {'-', {0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00}},
        {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}}, {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
        {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}}, {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
        {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}}, {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
        {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}}, {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
        {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}}, {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
        {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}}, {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
        {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}}, {'=', {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}},
        {'?', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}}, {'A', {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
        {'B', {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}}, {'C', {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}},
        {'D', {0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e}}, {'E', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}},
        {'F', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}}, {'G', {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}},
        {'H', {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}}, {'I', {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}},
        {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}}, {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
        {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}}, {'M', {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}},
        {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}}, {'O', {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
        {'P', {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}}, {'Q', {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}},
        {'R', {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}}, {'S', {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}},
        {'T', {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}}, {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
        {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}}, {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}},
        {'X', {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}}, {'Y', {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04}},
        {'Z', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}}, {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}},
        {'a', {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}}, {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e}},
        {'c', {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e}}, {'d', {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f}},
        {'e', {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}}, {'f', {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08}},
        {'g', {0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}}, {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
        {'i', {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}}, {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c}},
        {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}}, {'l', {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}},
        {'m', {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11}}, {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
        {'o', {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e}}, {'p', {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10}},
        {'q', {0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01}}, {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
        {'s', {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e}}, {'t', {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06}},
        {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d}}, {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04}},
        {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a}}, {'x', {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11}},
        {'y', {0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e}}, {'z', {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f}},
    };
    return glyphs;
}

constexpr int kGlyphWidth = 6, kGlyphHeight = 7;  // advance includes one blank column

int textWidth(const std::string& text) { return int(text.size()) * kGlyphWidth; }

// Draws `text` with its top-left corner at image column x, image row y
// (row 0 at the top of the PNG); characters without a glyph draw as '?'.
void drawText(Volume& canvas, int x, int y, const std::string& text, Phase ink = Donor) {
    const auto& glyphs = font();
    const int height = canvas.dims().ny;
    for (char ch : text) {
        if (ch != ' ') {
            auto it = glyphs.find(ch);
            const Glyph& g = it != glyphs.end() ? it->second : glyphs.at('?');
            for (int row = 0; row < kGlyphHeight; ++row)
                for (int col = 0; col < 5; ++col) {
                    if (!(g[std::size_t(row)] & (0x10 >> col))) continue;
                    // Volume rows grow upwards in the PNG.
                    const int px = x + col, py = height - 1 - (y + row);
                    if (px >= 0 && px < canvas.dims().nx && py >= 0 && py < height) canvas.at(px, py) = ink;
                }
        }
        x += kGlyphWidth;
    }
}

std::string tickLabel(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.4g", value);
    return text;
}

// Whether step i of curve k's line is inked: 0 solid, 1 dashed, 2 dotted, 3 dash-dot.
bool inked(std::size_t k, long i) {
    switch (k % 4) {
        case 0:
            return true;
        case 1:
            return (i / 6) % 2 == 0;
        case 2:
            return i % 4 < 1;
        default:
            return (i % 14) < 7 || (i % 14) == 10;
    }
}

}  // namespace

Volume plotCurves(const std::vector<std::vector<double>>& curves, int width, int height, bool logY,
                  const PlotText& text) {
    if (width < 32 || height < 32) throw Error("plot too small");
    Volume canvas(Dims{width, height, 1}, Acceptor);  // white
    const bool labelled = !text.empty();
    // Margins in pixels: room for tick values and labels when there is text.
    const int left = labelled ? 8 + 8 * kGlyphWidth : 12, right = 12;
    const int top = labelled ? 10 + 2 * (kGlyphHeight + 4) : 12;
    const int bottom = labelled ? 12 + 2 * (kGlyphHeight + 4) : 12;
    if (width - left - right < 16 || height - top - bottom < 16) throw Error("plot too small for its labels");

    double ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
    std::size_t xmax = 1;
    auto transform = [logY](double y) { return logY ? (y > 0 ? std::log10(y) : std::nan("")) : y; };
    for (const auto& c : curves) {
        xmax = std::max(xmax, c.size() > 1 ? c.size() - 1 : std::size_t(1));
        for (double y : c) {
            const double v = transform(y);
            if (std::isfinite(v)) {
                ymin = std::min(ymin, v);
                ymax = std::max(ymax, v);
            }
        }
    }
    if (!std::isfinite(ymin)) ymin = 0, ymax = 1;
    if (ymax - ymin < 1e-12) ymax = ymin + 1;
    const double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
    // Plot area in Volume coordinates (y up): x in [x0, x1], y in [y0, y1].
    const int x0 = left, x1 = width - right - 1, y0 = bottom, y1 = height - top - 1;
    for (int x = x0; x <= x1; ++x) canvas.at(x, y0) = canvas.at(x, y1) = Mixed;
    for (int y = y0; y <= y1; ++y) canvas.at(x0, y) = canvas.at(x1, y) = Mixed;
    auto px = [&](double x) { return x0 + (x1 - x0) * x / double(xmax); };
    auto py = [&](double y) { return y0 + (y1 - y0) * (y - ymin) / (ymax - ymin); };
    for (std::size_t k = 0; k < curves.size(); ++k) {
        const auto& c = curves[k];
        long drawn = 0;
        for (std::size_t i = 0; i + 1 < c.size(); ++i) {
            const double ya = transform(c[i]), yb = transform(c[i + 1]);
            if (!std::isfinite(ya) || !std::isfinite(yb)) continue;
            const double xa = px(double(i)), xb = px(double(i + 1)), va = py(ya), vb = py(yb);
            const int steps = int(std::max(std::fabs(xb - xa), std::fabs(vb - va))) + 1;
            for (int s = 0; s <= steps; ++s, ++drawn) {
                if (!inked(k, drawn)) continue;
                const double t = double(s) / steps;
                const int x = int(std::lround(xa + (xb - xa) * t)), y = int(std::lround(va + (vb - va) * t));
                for (int dy = 0; dy <= 1; ++dy)
                    if (x >= 0 && x < width && y + dy >= 0 && y + dy < height) canvas.at(x, y + dy) = Donor;
            }
        }
        if (c.size() == 1 && std::isfinite(transform(c[0]))) canvas.at(int(px(0)), int(py(transform(c[0])))) = Donor;
    }
    if (!labelled) return canvas;

    // Text rows are image rows (0 at the top): convert from Volume y.
    auto row = [&](int volumeY) { return height - 1 - volumeY; };
    const double shownMin = ymin + pad, shownMax = ymax - pad;  // the data's range
    auto value = [&](double v) { return logY ? std::pow(10.0, v) : v; };
    for (double v : {shownMin, 0.5 * (shownMin + shownMax), shownMax}) {
        const int y = int(std::lround(py(v)));
        for (int x = x0 - 3; x < x0; ++x) canvas.at(x, y) = Donor;
        const std::string label = tickLabel(value(v));
        drawText(canvas, x0 - 5 - textWidth(label), row(y) - kGlyphHeight / 2, label);
    }
    // x ticks: the first and last index, and the middle, numbered from xOrigin.
    for (std::size_t i : {std::size_t(0), xmax / 2, xmax}) {
        const int x = int(std::lround(px(double(i))));
        for (int y = y0 - 3; y < y0; ++y) canvas.at(x, y) = Donor;
        const std::string label = tickLabel(double(i) + text.xOrigin);
        drawText(canvas, x - textWidth(label) / 2, row(y0) + 5, label);
    }
    if (!text.xLabel.empty())
        drawText(canvas, (x0 + x1) / 2 - textWidth(text.xLabel) / 2, row(y0) + 7 + kGlyphHeight + 4, text.xLabel);
    if (!text.title.empty()) drawText(canvas, (width - textWidth(text.title)) / 2, 4, text.title);
    if (!text.yLabel.empty()) drawText(canvas, 4, 4 + kGlyphHeight + 4, text.yLabel + (logY ? " (log scale)" : ""));
    // Legend: a line sample in the curve's style, then its name, top right.
    int legendRow = row(y1) + 5;
    for (std::size_t k = 0; k < text.legend.size() && k < curves.size(); ++k) {
        const int sampleWidth = 24, textX = x1 - 6 - textWidth(text.legend[k]);
        const int sampleX = textX - 4 - sampleWidth, y = height - 1 - (legendRow + kGlyphHeight / 2);
        for (int i = 0; i < sampleWidth; ++i)
            if (inked(k, i))
                for (int dy = 0; dy <= 1; ++dy) canvas.at(sampleX + i, y + dy) = Donor;
        drawText(canvas, textX, legendRow, text.legend[k]);
        legendRow += kGlyphHeight + 4;
    }
    return canvas;
}

}  // namespace ms
