#pragma once
// One colour per phase, shared by the 3D view and the slice views:
// donor blue and acceptor red as in the MicroGen3D figures, mixed amber.
#include <array>

namespace ms::render {

struct Rgb {
    double r, g, b;
};

inline Rgb phaseColor(int phase) {
    constexpr std::array<Rgb, 3> colors{{{0.20, 0.42, 0.90}, {0.88, 0.22, 0.18}, {0.96, 0.76, 0.18}}};
    return colors[std::size_t(phase) % colors.size()];
}

}  // namespace ms::render
