#include "microstudio/physics/analysis.hpp"

#include <cmath>
#include <limits>

#include "fft.hpp"
#include "microstudio/core/error.hpp"

namespace ms::physics {

namespace {

constexpr double kPi = 3.14159265358979323846;

template <typename T>
double lengthOf(const std::vector<T>& field, const Dims& dims) {
    if (field.size() != dims.count()) throw Error("field size does not match " + dims.str());
    detail::RealFft fft(dims, 1);
    detail::RealArray real(field.size());
    for (std::size_t i = 0; i < field.size(); ++i) real[i] = double(field[i]);
    detail::ComplexArray spec(detail::spectrumSize(dims));
    fft.forward(real, spec);
    double moment0 = 0.0, moment1 = 0.0;
    std::size_t m = 0;
    const int hx = dims.nx / 2 + 1;
    auto wave = [](int i, int n) { return 2.0 * kPi * double(i <= n / 2 ? i : i - n) / double(n); };
    for (int z = 0; z < dims.nz; ++z)
        for (int y = 0; y < dims.ny; ++y)
            for (int x = 0; x < hx; ++x, ++m) {
                const double kx = wave(x, dims.nx), ky = wave(y, dims.ny), kz = wave(z, dims.nz);
                const double k = std::sqrt(kx * kx + ky * ky + kz * kz);
                if (k == 0.0) continue;
                const double w = (x == 0 || (dims.nx % 2 == 0 && x == dims.nx / 2)) ? 1.0 : 2.0;
                const double s = w * std::norm(spec[m]);
                moment0 += s;
                moment1 += s * k;
            }
    if (moment1 <= 0.0) return std::numeric_limits<double>::infinity();
    return 2.0 * kPi * moment0 / moment1;
}

}  // namespace

double characteristicLength(const std::vector<double>& field, const Dims& dims) { return lengthOf(field, dims); }
double characteristicLength(const std::vector<float>& field, const Dims& dims) { return lengthOf(field, dims); }

}  // namespace ms::physics
