#pragma once
// Monochrome line plots as label images (written as PNG through io), for the
// studies' loss curves: no font library or display needed.
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms {

// Text of a plot; all empty = a bare plot (frame and curves only).
struct PlotText {
    std::string title, xLabel, yLabel;
    std::vector<std::string> legend;  // one name per curve, in curve order
    double xOrigin = 0.0;             // the x tick value of index 0 (1 for epochs)
    bool empty() const { return title.empty() && xLabel.empty() && yLabel.empty() && legend.empty(); }
};

// A monochrome line plot: white background, grey frame, curves in black
// (curve k: 0 solid, 1 dashed, 2 dotted, 3 dash-dot, repeating). Each curve
// is y over x = 0, 1, ...; all share the axes; NaNs are skipped. logY plots
// log10(y) (y > 0 only). With text: tick values on both axes, the labels,
// the title and a legend (drawn in a built-in 5x7 bitmap font).
Volume plotCurves(const std::vector<std::vector<double>>& curves, int width = 480, int height = 320, bool logY = false,
                  const PlotText& text = {});

}  // namespace ms
