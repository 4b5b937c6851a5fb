#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include <cmath>
#include <complex>
#include <filesystem>
#include <set>

#include "microstudio/core/error.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/noise/dataset.hpp"
#include "microstudio/noise/denoise.hpp"
#include "microstudio/noise/eval.hpp"
#include "microstudio/noise/metrics.hpp"
#include "microstudio/noise/montage.hpp"
#include "microstudio/noise/noise.hpp"
#include "microstudio/noise/synthetic.hpp"

namespace fs = std::filesystem;
using namespace ms::noise;

namespace {

constexpr double kPi = 3.14159265358979323846;

ms::Volume testImage(int nx = 101, int ny = 101, std::uint64_t seed = 7) {
    return syntheticMorphology(ms::Dims{nx, ny, 1}, seed);
}

// The paper's grid formula written out independently for one pixel of an
// H x W image (i = row = y, j = column = x).
double paperGrid(int i, int j, int H, int W, double A, double f, double degrees) {
    const double x = double(j) / (W - 1), y = double(i) / (H - 1);
    double xr = x, yr = y;
    if (degrees != 0.0) {
        const double t = degrees * kPi / 180.0, xc = x - 0.5, yc = y - 0.5;
        xr = std::cos(t) * xc - std::sin(t) * yc + 0.5;
        yr = std::sin(t) * xc + std::cos(t) * yc + 0.5;
    }
    return A * std::sin(2 * kPi * f * xr) * std::sin(2 * kPi * f * yr);
}

// Frequency noise by the paper's steps with a naive O(N^2) DFT and explicit
// fftshift/ifftshift arrays (numpy convention), before binarising.
std::vector<double> naiveFrequencyFiltered(const ms::Volume& image, int rings, double intensity, double width) {
    const auto& d = image.dims();
    const int nx = d.nx, ny = d.ny, nz = d.nz;
    const std::size_t n = image.size();
    std::vector<std::complex<double>> F(n);
    auto at = [&](int x, int y, int z) {
        return std::size_t(x) + std::size_t(nx) * (std::size_t(y) + std::size_t(ny) * std::size_t(z));
    };
    for (int w = 0; w < nz; ++w)
        for (int v = 0; v < ny; ++v)
            for (int u = 0; u < nx; ++u) {
                std::complex<double> sum = 0;
                for (int z = 0; z < nz; ++z)
                    for (int y = 0; y < ny; ++y)
                        for (int x = 0; x < nx; ++x) {
                            const double phase =
                                -2 * kPi * (double(u * x) / nx + double(v * y) / ny + double(w * z) / nz);
                            sum += double(image.at(x, y, z)) * std::polar(1.0, phase);
                        }
                F[at(u, v, w)] = sum;
            }
    // fftshift: shifted[s] = F[(s - n/2) mod n] per axis.
    std::vector<std::complex<double>> S(n);
    for (int z = 0; z < nz; ++z)
        for (int y = 0; y < ny; ++y)
            for (int x = 0; x < nx; ++x)
                S[at(x, y, z)] = F[at((x - nx / 2 + nx) % nx, (y - ny / 2 + ny) % ny, (z - nz / 2 + nz) % nz)];
    // Mask with d_max = corner distance.
    const double cx = nx / 2, cy = ny / 2, cz = nz / 2;
    const double dmax = std::sqrt(cx * cx + cy * cy + cz * cz);
    for (int z = 0; z < nz; ++z)
        for (int y = 0; y < ny; ++y)
            for (int x = 0; x < nx; ++x) {
                const double dn = std::sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy) + (z - cz) * (z - cz)) / dmax;
                for (int k = 0; k < rings; ++k)
                    if (std::abs(dn - double(k + 1) / (rings + 1)) < width / 2) {
                        S[at(x, y, z)] *= 1 - intensity;
                        break;
                    }
            }
    // ifftshift: back[k] = S[(k + n/2) mod n].
    std::vector<std::complex<double>> B(n);
    for (int z = 0; z < nz; ++z)
        for (int y = 0; y < ny; ++y)
            for (int x = 0; x < nx; ++x)
                B[at(x, y, z)] = S[at((x + nx / 2) % nx, (y + ny / 2) % ny, (z + nz / 2) % nz)];
    std::vector<double> out(n);
    for (int z = 0; z < nz; ++z)
        for (int y = 0; y < ny; ++y)
            for (int x = 0; x < nx; ++x) {
                std::complex<double> sum = 0;
                for (int w = 0; w < nz; ++w)
                    for (int v = 0; v < ny; ++v)
                        for (int u = 0; u < nx; ++u) {
                            const double phase =
                                2 * kPi * (double(u * x) / nx + double(v * y) / ny + double(w * z) / nz);
                            sum += B[at(u, v, w)] * std::polar(1.0, phase);
                        }
                out[at(x, y, z)] = sum.real() / double(n);
            }
    const auto [lo, hi] = std::minmax_element(out.begin(), out.end());
    const double mn = *lo, range = *hi - *lo;
    for (double& v : out) v = std::clamp(range > 1e-12 ? (v - mn) / range : v, 0.0, 1.0);
    return out;
}

ms::Volume fromString(int nx, int ny, const char* rows) {
    ms::Volume v(ms::Dims{nx, ny, 1});
    for (std::size_t i = 0; i < v.size(); ++i) v.labels()[i] = std::uint8_t(rows[i] - '0');
    return v;
}

QString cli() { return QStringLiteral(MICROSTUDIO_CLI); }

}  // namespace

class TestNoise : public QObject {
    Q_OBJECT
private slots:
    // --- salt and pepper --------------------------------------------------
    void saltPepperZeroAndOneProbability() {
        const auto clean = testImage();
        QVERIFY(addSaltPepper(clean, 0.0, 5).sameLabels(clean));
        const auto all = addSaltPepper(clean, 1.0, 5);
        for (std::size_t i = 0; i < clean.size(); ++i) QCOMPARE(int(all.labels()[i]), 1 - int(clean.labels()[i]));
    }
    void saltPepperFlipFractionWithinThreeSigma() {
        const auto clean = testImage(128, 128);
        const double n = double(clean.size());
        for (double p : {0.15, 0.02, 0.5}) {
            for (std::uint64_t seed : {1u, 2u, 3u}) {
                const double flips = pixelErrorRate(clean, addSaltPepper(clean, p, seed)) * n;
                const double sigma = std::sqrt(n * p * (1 - p));
                QVERIFY2(std::abs(flips - n * p) < 3 * sigma,
                         qPrintable(QString("p=%1 seed=%2 flips=%3").arg(p).arg(seed).arg(flips)));
            }
        }
    }
    void saltPepperIsSeeded() {
        const auto clean = testImage();
        QVERIFY(addSaltPepper(clean, 0.15, 42).sameLabels(addSaltPepper(clean, 0.15, 42)));
        QVERIFY(!addSaltPepper(clean, 0.15, 42).sameLabels(addSaltPepper(clean, 0.15, 43)));
        // Flips are independent of the image: the mask is the same for any input.
        const ms::Volume zeros(clean.dims(), 0);
        const auto mask = addSaltPepper(zeros, 0.15, 42);
        const auto noisy = addSaltPepper(clean, 0.15, 42);
        for (std::size_t i = 0; i < clean.size(); ++i)
            QCOMPARE(int(noisy.labels()[i]), int(clean.labels()[i]) ^ int(mask.labels()[i]));
    }
    void saltPepperRejectsBadInput() {
        auto image = testImage(16, 16);
        QVERIFY_THROWS_EXCEPTION(ms::Error, addSaltPepper(image, 1.5, 0));
        QVERIFY_THROWS_EXCEPTION(ms::Error, addSaltPepper(image, -0.1, 0));
        image.labels()[3] = ms::Mixed;
        QVERIFY_THROWS_EXCEPTION(ms::Error, addSaltPepper(image, 0.1, 0));
    }

    // --- grid -------------------------------------------------------------
    void gridAmplitudeZeroGivesInputBack() {
        const auto clean = testImage();
        QVERIFY(addGrid(clean, 0.0, 8, 15).sameLabels(clean));
        // |A| <= 0.5 cannot push a 0/1 pixel across 0.5 except at A = 0.5 exactly.
        QVERIFY(addGrid(clean, 0.49, 8, 15).sameLabels(clean));
    }
    void gridValuesEqualFormula() {
        const int H = 101, W = 101;
        for (double degrees : {0.0, 30.0, -75.0}) {
            const auto pattern = gridPattern(ms::Dims{W, H, 1}, 0.8, 8.0, degrees);
            for (auto [i, j] : std::vector<std::pair<int, int>>{{0, 0}, {50, 50}, {17, 83}, {100, 3}, {64, 100}}) {
                const double expected = paperGrid(i, j, H, W, 0.8, 8.0, degrees);
                QVERIFY(std::abs(pattern[std::size_t(j) + std::size_t(W) * std::size_t(i)] - expected) < 1e-12);
            }
        }
        // Hand value: the centre of a 101 x 101 image is (0.5, 0.5) for any
        // rotation; f = 7.5 gives sin(7.5 pi)^2 = 1, so P = A there.
        for (double degrees : {0.0, 33.0})
            QVERIFY(std::abs(gridPattern(ms::Dims{101, 101, 1}, 0.8, 7.5, degrees)[50 + 101 * 50] - 0.8) < 1e-12);
        // 90 degrees: x' = 1 - y, y' = x.
        const auto rotated = gridPattern(ms::Dims{W, H, 1}, 1.0, 3.0, 90.0);
        const int x = 20, y = 70;
        const double xn = x / 100.0, yn = y / 100.0;
        QVERIFY(std::abs(rotated[std::size_t(x + W * y)] -
                         std::sin(2 * kPi * 3 * (1 - yn)) * std::sin(2 * kPi * 3 * xn)) < 1e-12);
    }
    void gridThresholdAtHalf() {
        // Centre pixel with P = A = 0.8: a 0 becomes 1; with A = -0.8 a 1 becomes 0.
        ms::Volume zeros(ms::Dims{101, 101, 1}, 0), ones(ms::Dims{101, 101, 1}, 1);
        QCOMPARE(int(addGrid(zeros, 0.8, 7.5, 0).at(50, 50)), 1);
        QCOMPARE(int(addGrid(ones, -0.8, 7.5, 0).at(50, 50)), 0);
        QCOMPARE(int(addGrid(ones, 0.8, 7.5, 0).at(50, 50)), 1);
        // Every label is I + P > 0.5.
        const auto clean = testImage();
        const auto noisy = addGrid(clean, 0.9, 6, 20);
        const auto pattern = gridPattern(clean.dims(), 0.9, 6, 20);
        for (std::size_t i = 0; i < clean.size(); ++i)
            QCOMPARE(int(noisy.labels()[i]), clean.labels()[i] + pattern[i] > 0.5 ? 1 : 0);
        QVERIFY(!noisy.sameLabels(clean));
    }
    void gridRotationZeroEqualsNoRotation() {
        const auto clean = testImage();
        const auto pattern = gridPattern(clean.dims(), 0.8, 8, 0.0);
        ms::Volume unrotated = clean;
        for (int i = 0; i < 101; ++i)
            for (int j = 0; j < 101; ++j) {
                const double x = j / 100.0, y = i / 100.0;  // (x', y') = (x, y)
                const double p = 0.8 * std::sin(2 * kPi * 8 * x) * std::sin(2 * kPi * 8 * y);
                QVERIFY(std::abs(pattern[std::size_t(j + 101 * i)] - p) < 1e-12);
                unrotated.at(j, i) = clean.at(j, i) + p > 0.5 ? 1 : 0;
            }
        QVERIFY(addGrid(clean, 0.8, 8, 0.0).sameLabels(unrotated));
        QVERIFY(addGrid(clean, 0.8, 8, 360.0).sameLabels(unrotated));
    }

    // --- frequency --------------------------------------------------------
    void frequencyIntensityZeroGivesInputBack() {
        for (ms::Dims d : {ms::Dims{101, 101, 1}, ms::Dims{64, 48, 1}, ms::Dims{20, 17, 9}}) {
            const auto clean = syntheticMorphology(d, 3);
            QVERIFY(addFrequencyNoise(clean, 4, 0.0, 0.06).sameLabels(clean));
            QVERIFY(addFrequencyNoise(clean, 0, 0.9, 0.06).sameLabels(clean));  // no rings
        }
    }
    void ringMaskHandCase() {
        // 9 x 9: centre (4, 4), d_max = sqrt(32); one ring at r = 0.5, width
        // 0.1: d in (0.45, 0.55) * 5.657 = (2.55, 3.11): the pixels at
        // offsets (+-2, +-2) (d = 2.83) and (+-3, 0), (0, +-3) (d = 3).
        const auto mask = ringMask(ms::Dims{9, 9, 1}, 1, 0.7, 0.1);
        int ringPixels = 0;
        for (int y = 0; y < 9; ++y)
            for (int x = 0; x < 9; ++x) {
                const int dx = std::abs(x - 4), dy = std::abs(y - 4);
                const bool onRing = (dx == 2 && dy == 2) || (dx == 3 && dy == 0) || (dx == 0 && dy == 3);
                const double m = mask[std::size_t(x + 9 * y)];
                QCOMPARE(m, onRing ? 1.0 - 0.7 : 1.0);
                ringPixels += onRing;
            }
        QCOMPARE(ringPixels, 8);
    }
    void ringMaskOnCentresAndFarFromRings() {
        for (ms::Dims d : {ms::Dims{101, 101, 1}, ms::Dims{128, 96, 1}, ms::Dims{32, 32, 32}}) {
            const int rings = 4;
            const double intensity = 0.9, width = 0.06;
            const auto mask = ringMask(d, rings, intensity, width);
            const auto dist = normalisedFrequencyDistance(d);
            const double dmax = std::sqrt(double(d.nx / 2) * (d.nx / 2) + double(d.ny / 2) * (d.ny / 2) +
                                          double(d.nz / 2) * (d.nz / 2));
            QVERIFY(std::abs(dist[0] - 1.0) < 1e-12);  // the corner is at d_max
            for (int k = 0; k < rings; ++k) {
                // The pixel nearest the ring centre along +x.
                const double rk = double(k + 1) / (rings + 1);
                const int x = d.nx / 2 + int(std::lround(rk * dmax));
                if (x >= d.nx) continue;
                const std::size_t i = std::size_t(x) + std::size_t(d.nx) * (std::size_t(d.ny / 2) +
                                                                            std::size_t(d.ny) * std::size_t(d.nz / 2));
                QCOMPARE(mask[i], 1.0 - intensity);
            }
            int onRings = 0;
            for (std::size_t i = 0; i < mask.size(); ++i) {
                double nearest = 1e9;
                for (int k = 0; k < rings; ++k)
                    nearest = std::min(nearest, std::abs(dist[i] - double(k + 1) / (rings + 1)));
                if (nearest < width / 2) {
                    QCOMPARE(mask[i], 1.0 - intensity);
                    ++onRings;
                } else {
                    QCOMPARE(mask[i], 1.0);
                }
            }
            QVERIFY(onRings > 0);
            QCOMPARE(mask[std::size_t(d.nx / 2) +
                          std::size_t(d.nx) * (std::size_t(d.ny / 2) + std::size_t(d.ny) * std::size_t(d.nz / 2))],
                     1.0);  // DC kept
        }
    }
    void frequencyMatchesNaiveDft() {
        // Odd and even sides, 2D and 3D: the FFTW path equals the paper's
        // steps done with a naive DFT and explicit shifts.
        for (ms::Dims d : {ms::Dims{7, 6, 1}, ms::Dims{9, 9, 1}, ms::Dims{6, 5, 4}}) {
            const auto clean = syntheticMorphology(d, 11, SyntheticOptions{3.0, 8, 0.5});
            const auto result = addFrequencyNoiseDetailed(clean, 2, 0.7, 0.3);
            const auto expected = naiveFrequencyFiltered(clean, 2, 0.7, 0.3);
            for (std::size_t i = 0; i < expected.size(); ++i) {
                QVERIFY2(std::abs(result.filtered[i] - expected[i]) < 1e-9,
                         qPrintable(QString::fromStdString(d.str())));
                if (std::abs(expected[i] - 0.5) > 1e-9)
                    QCOMPARE(int(result.noisy.labels()[i]), expected[i] > 0.5 ? 1 : 0);
            }
        }
    }
    void frequencyNoiseChangesInterfaces() {
        const auto clean = testImage();
        const auto noisy = addFrequencyNoise(clean, 8, 0.8, 0.05);  // the defaults
        const double error = pixelErrorRate(clean, noisy);
        QVERIFY2(error > 0.005 && error < 0.3, qPrintable(QString::number(error)));
    }

    // --- 3D -----------------------------------------------------------------
    void threeDimensionalReducesToTwoDimensional() {
        const auto image = testImage(40, 30);
        // A one-slice volume is the 2D case of every formula.
        const auto pattern = gridPattern(image.dims(), 0.8, 5, 25);
        for (int i = 0; i < 30; ++i)
            for (int j = 0; j < 40; ++j)
                QVERIFY(std::abs(pattern[std::size_t(j + 40 * i)] - paperGrid(i, j, 30, 40, 0.8, 5, 25)) < 1e-12);
        const auto filtered = addFrequencyNoiseDetailed(testImage(9, 7), 2, 0.8, 0.25).filtered;
        const auto expected = naiveFrequencyFiltered(testImage(9, 7), 2, 0.8, 0.25);
        for (std::size_t i = 0; i < expected.size(); ++i) QVERIFY(std::abs(filtered[i] - expected[i]) < 1e-9);
        // Salt-pepper: slice 0 of a volume gets the same flips as the 2D image
        // with the same seed (the draws run in index order).
        ms::Volume volume(ms::Dims{40, 30, 3});
        for (int z = 0; z < 3; ++z)
            for (int y = 0; y < 30; ++y)
                for (int x = 0; x < 40; ++x) volume.at(x, y, z) = image.at(x, y);
        QVERIFY(addSaltPepper(volume, 0.2, 9).slice(0).sameLabels(addSaltPepper(image, 0.2, 9)));
    }
    void threeDimensionalGridIsProductOfThreeSines() {
        const ms::Dims d{11, 9, 7};
        const auto p = gridPattern(d, 0.7, 2.0, 40.0);
        const int x = 3, y = 5, z = 2;
        const double t = 40.0 * kPi / 180, xc = x / 10.0 - 0.5, yc = y / 8.0 - 0.5;
        const double xr = std::cos(t) * xc - std::sin(t) * yc + 0.5, yr = std::sin(t) * xc + std::cos(t) * yc + 0.5;
        const double expected = 0.7 * std::sin(4 * kPi * xr) * std::sin(4 * kPi * yr) * std::sin(4 * kPi * z / 6.0);
        QVERIFY(std::abs(p[std::size_t(x + 11 * (y + 9 * z))] - expected) < 1e-12);
    }

    // --- composition and attributes ------------------------------------------
    void applyNoiseStoresParametersAndComposes() {
        const auto clean = testImage();
        NoiseModel sp;
        sp.flip_probability = 0.1;
        const auto noisy = applyNoise(clean, sp, 5);
        QVERIFY(noisy.sameLabels(addSaltPepper(clean, 0.1, 5)));
        QCOMPARE(noisy.attributes.at("flip_probability"), 0.1);
        QCOMPARE(noisy.text.at("noise"), std::string("salt-pepper"));
        QCOMPARE(noisy.text.at("noise_seed"), std::string("5"));

        NoiseModel grid;
        grid.type = NoiseType::Grid;
        const auto chained = applyNoise(clean, NoiseChain{sp, grid, sp}, 9);
        const auto byHand =
            addSaltPepper(addGrid(addSaltPepper(clean, 0.1, deriveSeed(9, 0)), 0.8, 8, 15), 0.1, deriveSeed(9, 2));
        QVERIFY(chained.sameLabels(byHand));
        QCOMPARE(chained.text.at("noise"), std::string("salt-pepper+grid+salt-pepper"));
        QVERIFY(chained.attributes.count("grid_amplitude") && chained.attributes.count("flip_probability_2"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, parseNoiseType("gaussian"));
    }

    // --- denoisers --------------------------------------------------------------
    void medianAndMajorityRemoveSpecks() {
        const auto clean = fromString(5, 5, "0000000000000000000000000");
        auto speck = clean;
        speck.at(2, 2) = 1;
        QVERIFY(medianFilter(speck, 3).sameLabels(clean));
        QVERIFY(medianFilter(speck, 5).sameLabels(clean));
        QVERIFY(majorityFilter(speck).sameLabels(clean));
        QVERIFY(openClose(speck).sameLabels(clean));
        // A hole in A is filled by the closing.
        ms::Volume ones(ms::Dims{7, 7, 1}, 1), hole = ones;
        hole.at(3, 3) = 0;
        QVERIFY(openClose(hole).sameLabels(ones));
        // A 3x3 block survives median3 but not median5 at its corner pixels.
        auto block = fromString(7, 7,
                                "0000000"
                                "0000000"
                                "0011100"
                                "0011100"
                                "0011100"
                                "0000000"
                                "0000000");
        // A plus is open and closed for the cross element; a square loses its corners.
        const auto plus = fromString(5, 5,
                                     "00000"
                                     "00100"
                                     "01110"
                                     "00100"
                                     "00000");
        QVERIFY(openClose(plus).sameLabels(plus));
        const auto opened = openClose(block);
        QCOMPARE(int(opened.at(2, 2)), 0);
        QCOMPARE(int(opened.at(3, 2)), 1);
        QCOMPARE(int(opened.at(3, 3)), 1);
        auto m3 = medianFilter(block, 3);
        QCOMPARE(int(m3.at(3, 3)), 1);
        QCOMPARE(int(m3.at(2, 2)), 0);  // corner: 4 of 9 are A
        QCOMPARE(int(m3.at(3, 2)), 1);  // edge middle: 6 of 9
        auto m5 = medianFilter(block, 5);
        QCOMPARE(int(m5.at(3, 3)), 0);  // 9 of 25
    }
    void medianUsesReplicatePadding() {
        // A 1-wide A line on the left edge: at (0, y) the 3x3 window with the
        // edge repeated holds 6 A of 9, so the line survives.
        ms::Volume v(ms::Dims{6, 6, 1}, 0);
        for (int y = 0; y < 6; ++y) v.at(0, y) = 1;
        QVERIFY(medianFilter(v, 3).sameLabels(v));
    }
    void majorityOnePassEqualsMedian3OnTwoPhases() {
        const auto noisy = addSaltPepper(testImage(), 0.2, 4);
        QVERIFY(majorityFilter(noisy, 1).sameLabels(medianFilter(noisy, 3)));
        // Iterating to convergence is a fixed point.
        const auto converged = majorityFilter(noisy);
        QVERIFY(majorityFilter(converged, 1).sameLabels(converged));
    }
    void majorityHandlesThreePhasesAndTies() {
        // Centre M with 4 D and 4 A around it: a tie between D and A (4 each)
        // beats M (1); the lowest tied label (D) wins.
        auto v = fromString(3, 3, "011021001");
        const auto out = majorityFilter(v, 1);
        QCOMPARE(int(out.at(1, 1)), 0);
    }
    void denoisersWorkIn3D() {
        ms::Volume v(ms::Dims{5, 5, 5}, 0);
        v.at(2, 2, 2) = 1;
        const ms::Volume zeros(ms::Dims{5, 5, 5}, 0);
        for (const auto& d : standardDenoisers())
            if (d->name() != "none") QVERIFY2(d->denoise(v).sameLabels(zeros), d->name().c_str());
    }
    void classicalDenoisersReduceSaltPepperError() {
        const auto clean = testImage();
        // At p = 0.15 the median and majority filters help; the opening,
        // which needs all 5 voxels of the cross to be A, only helps at low p,
        // where the 5x5 median rounds off more structure than noise it removes.
        const std::vector<std::pair<double, std::vector<const char*>>> helps = {
            {0.15, {"median3", "median5", "majority"}}, {0.02, {"median3", "majority", "open-close"}}};
        for (const auto& [p, names] : helps) {
            const auto noisy = addSaltPepper(clean, p, 3);
            const double before = pixelErrorRate(clean, noisy);
            for (const char* name : names) {
                const double after = pixelErrorRate(clean, denoiserByName(name)->denoise(noisy));
                QVERIFY2(after < before,
                         qPrintable(QString("%1 p=%2: %3 vs %4").arg(name).arg(p).arg(after).arg(before)));
            }
        }
        QVERIFY_THROWS_EXCEPTION(ms::Error, denoiserByName("wiener"));
    }

    // --- metrics ------------------------------------------------------------------
    void metricsHandCase() {
        const auto a = fromString(4, 1, "0011");
        const auto b = fromString(4, 1, "0111");
        QCOMPARE(pixelErrorRate(a, b), 0.25);
        QCOMPARE(intersectionOverUnion(a, b, ms::Donor), 0.5);         // {0} / {0, 1}
        QCOMPARE(intersectionOverUnion(a, b, ms::Acceptor), 2.0 / 3);  // {2, 3} / {1, 2, 3}
        QCOMPARE(intersectionOverUnion(a, b, ms::Mixed), 1.0);         // absent in both
        const auto m = compare(a, b);
        QCOMPARE(m.delta_vf, 0.25);
        QVERIFY(!m.iou_M && !m.delta_tort_D);
        QVERIFY_THROWS_EXCEPTION(ms::Error, pixelErrorRate(a, fromString(2, 2, "0011")));
    }
    void tortuosityDriftThroughCallback() {
        const auto a = fromString(4, 1, "0011");
        const auto b = fromString(4, 1, "0111");
        const DescriptorFunction fake = [](const ms::Volume& v) {
            return std::map<std::string, double>{{kTortuosityD, 1.0 + v.volumeFraction(ms::Donor)},
                                                 {kTortuosityA, 2.0 * v.volumeFraction(ms::Acceptor)}};
        };
        const auto m = compare(a, b, fake);
        QVERIFY(m.delta_tort_D && m.delta_tort_A);
        QVERIFY(std::abs(*m.delta_tort_D - 0.25) < 1e-12);
        QVERIFY(std::abs(*m.delta_tort_A - 0.5) < 1e-12);
    }
    void defaultDescriptorsGiveTortuosityWhenBuilt() {
        const auto describe = defaultDescriptorFunction();
        if (!describe) QSKIP("ms_descriptors not built into ms_noise");
        const auto clean = testImage(64, 64);
        const auto m = compare(clean, clean, describe);
        QVERIFY(m.delta_tort_D && m.delta_tort_A);
        QCOMPARE(*m.delta_tort_D, 0.0);
        const auto noisy = compare(clean, addSaltPepper(clean, 0.2, 1), describe);
        QVERIFY(noisy.delta_tort_D.has_value());
    }

    // --- paired datasets ------------------------------------------------------------
    void pairedDatasetDrawsParametersAndIsReproducible() {
        const auto clean = syntheticSet(3, 32, 5);
        PairedDatasetOptions options;
        auto sp = NoiseRanges::defaults(NoiseType::SaltPepper);
        sp.flip_probability = ParamRange(0.05, 0.2);
        auto freq = NoiseRanges::defaults(NoiseType::Frequency);
        freq.rings = ParamRange(2, 5);
        options.noises = {sp, freq};
        options.variants = 4;
        options.seed = 12;
        const auto pairs = makePairs(clean, options);
        QCOMPARE(int(pairs.size()), 3);
        std::set<int> ringsSeen;
        for (const auto& pair : pairs) {
            QCOMPARE(int(pair.noisy.size()), 8);
            QCOMPARE(pair.clean.text.at("role"), std::string("clean"));
            for (const auto& n : pair.noisy) {
                QCOMPARE(n.text.at("role"), std::string("noisy"));
                QCOMPARE(n.text.at("clean"), pair.clean.text.at("sample"));
                if (n.text.at("noise") == "salt-pepper") {
                    const double p = n.attributes.at("flip_probability");
                    QVERIFY(p >= 0.05 && p <= 0.2);
                    const auto seed = std::stoull(n.text.at("noise_seed"));
                    QVERIFY(n.sameLabels(addSaltPepper(pair.clean, p, seed)));
                } else {
                    const int rings = int(n.attributes.at("rings"));
                    QVERIFY(rings >= 2 && rings <= 5);
                    ringsSeen.insert(rings);
                    QVERIFY(n.sameLabels(addFrequencyNoise(pair.clean, rings, n.attributes.at("mask_intensity"),
                                                           n.attributes.at("mask_width"))));
                }
            }
        }
        QVERIFY(ringsSeen.size() >= 2);
        options.threads = 1;
        const auto again = makePairs(clean, options);
        for (std::size_t i = 0; i < pairs.size(); ++i)
            for (std::size_t k = 0; k < pairs[i].noisy.size(); ++k)
                QVERIFY(again[i].noisy[k].sameLabels(pairs[i].noisy[k]));
        QVERIFY_THROWS_EXCEPTION(ms::Error, ParamRange::parse("0.3:0.1", "flip-probability"));
        QCOMPARE(ParamRange::parse("0.1:0.3", "x").hi, 0.3);
        // A range whose upper end the model refuses is refused before any
        // sample is drawn, naming the parameter and the end.
        auto bad = NoiseRanges::defaults(NoiseType::SaltPepper);
        bad.flip_probability = ParamRange::parse("0.1:1.5", "flip-probability");
        auto refusal = [](const NoiseRanges& r) {
            try {
                r.validate();
            } catch (const ms::Error& e) {
                return std::string(e.what());
            }
            return std::string("accepted");
        };
        QCOMPARE(refusal(bad), std::string("flip_probability must be in [0, 1], got 1.5"));
        options.noises = {NoiseRanges::defaults(NoiseType::Grid), bad};
        QVERIFY_THROWS_EXCEPTION(ms::Error, makePairs(clean, options));
        bad.flip_probability = ParamRange::parse("0:1", "flip-probability");
        QCOMPARE(refusal(bad), std::string("accepted"));
    }
    void pairedDatasetRoundTripsThroughHdf5() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_noise";
        fs::create_directories(dir);
        const fs::path file = dir / "pairs.h5";
        PairedDatasetOptions options;
        options.noises = {NoiseRanges::defaults(NoiseType::Grid), NoiseRanges::defaults(NoiseType::SaltPepper)};
        options.variants = 2;
        const auto clean = syntheticSet(2, 24, 1);
        QCOMPARE(int(writePairedDataset(clean, options, file)), 8);
        const auto pairs = readPairedDataset(file.string());
        QCOMPARE(int(pairs.size()), 2);
        QVERIFY(pairs[1].clean.sameLabels(clean[1]));
        QCOMPARE(int(pairs[1].noisy.size()), 4);
        QCOMPARE(pairs[1].noisy[0].attributes.at("grid_amplitude"), 0.8);
        QCOMPARE(pairs[0].noisy[3].text.at("noise"), std::string("salt-pepper"));
        fs::remove_all(dir);
    }

    // --- evaluation ----------------------------------------------------------------
    void evaluateRowsAndLearnedPlugIn() {
        const auto clean = syntheticSet(2, 64, 3);
        EvalOptions options;
        NoiseModel sp;
        options.noises = {sp};
        options.denoisers = standardDenoisers();
        // A "learned" denoiser that knows the answer: plugs in as one more row.
        options.denoisers.push_back(
            std::make_shared<FunctionDenoiser>("oracle", DenoiserKind::Learned, [&clean](const ms::Volume& noisy) {
                // The clean sample this noisy image is nearest to (different
                // morphologies differ in about half their pixels).
                return pixelErrorRate(clean[0], noisy) < 0.3 ? clean[0] : clean[1];
            }));
        const auto rows = evaluate(clean, options);
        QCOMPARE(int(rows.size()), 6);
        QCOMPARE(rows[0].denoiser, std::string("none"));
        QCOMPARE(rows[0].kind, DenoiserKind::None);
        const double n = 2 * 64 * 64, p = 0.15;
        QVERIFY(std::abs(rows[0].mean.pixel_error - p) < 3 * std::sqrt(p * (1 - p) / n));
        QVERIFY(rows[2].mean.pixel_error < rows[0].mean.pixel_error);  // median5
        QCOMPARE(rows[5].kind, DenoiserKind::Learned);
        QCOMPARE(rows[5].mean.pixel_error, 0.0);
        QCOMPARE(rows[5].mean.iou_A, 1.0);
        const auto json = QJsonDocument::fromJson(QByteArray::fromStdString(formatJson(rows)));
        QVERIFY(json.isArray());
        const auto first = json.array().at(0).toObject();
        for (const char* key : {"noise", "denoiser", "kind", "pixel_error", "iou_D", "iou_A", "delta_vf"})
            QVERIFY2(first.contains(key), key);
        QCOMPARE(json.array().at(5).toObject().value("kind").toString(), QString("learned"));
    }

    void evaluateStoredPairs() {
        const auto clean = syntheticSet(2, 40, 8);
        PairedDatasetOptions options;
        options.noises = {NoiseRanges::defaults(NoiseType::Grid), NoiseRanges::defaults(NoiseType::SaltPepper)};
        options.variants = 3;
        const auto pairs = makePairs(clean, options);
        EvalOptions eval;
        eval.denoisers = {denoiserByName("none"), denoiserByName("median3")};
        const auto rows = evaluatePairs(pairs, eval);
        QCOMPARE(int(rows.size()), 4);  // 2 noise groups x 2 denoisers
        QCOMPARE(rows[0].noise, std::string("grid"));
        QCOMPARE(rows[0].samples, 6);
        double expected = 0;
        for (const auto& pair : pairs)
            for (const auto& n : pair.noisy)
                if (n.text.at("noise") == "salt-pepper") expected += pixelErrorRate(pair.clean, n) / 6;
        QCOMPARE(rows[2].noise, std::string("salt-pepper"));
        QVERIFY(std::abs(rows[2].mean.pixel_error - expected) < 1e-12);
    }

    // --- montage ---------------------------------------------------------------------
    void montageLaysOutTiles() {
        const auto a = fromString(2, 2, "0110"), b = fromString(2, 2, "1111");
        const auto m = montage({a, b, a}, 2, 2, 1);
        QCOMPARE(m.dims().nx, 2 * 4 + 3);
        QCOMPARE(m.dims().ny, 2 * 4 + 3);
        QCOMPARE(int(m.at(0, 0)), int(ms::Mixed));  // gap
        // First row on top (high y): tiles 0 and 1 at y >= 6, tile 2 below.
        QCOMPARE(int(m.at(1, 6)), int(a.at(0, 0)));  // tile 0, pixel (0, 0)
        QCOMPARE(int(m.at(3, 6)), int(a.at(1, 0)));  // scaled by 2
        QCOMPARE(int(m.at(1, 8)), int(a.at(0, 1)));
        QCOMPARE(int(m.at(6, 6)), int(b.at(0, 0)));  // tile 1
        QCOMPARE(int(m.at(1, 1)), int(a.at(0, 0)));  // tile 2, second row
        QCOMPARE(int(m.at(6, 1)), int(ms::Mixed));   // empty slot
    }

    // --- CLI ---------------------------------------------------------------------------
    void cliApplyAndEval() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_noise_cli";
        fs::create_directories(dir);
        const fs::path in = dir / "clean.txt", out = dir / "noisy.txt";
        ms::io::writeVolume(testImage(), in);
        QProcess apply;
        apply.start(cli(), {"noise", "apply", "--type", "salt-pepper", "--flip-probability", "0.2", "--seed", "4",
                            QString::fromStdString(in.string()), QString::fromStdString(out.string())});
        QVERIFY(apply.waitForFinished(60000));
        QCOMPARE(apply.exitCode(), 0);
        QVERIFY(ms::io::readVolume(out).sameLabels(addSaltPepper(testImage(), 0.2, 4)));

        QProcess bad;
        bad.start(cli(), {"noise", "apply", "--type", "salt-pepper", "--flip-probability", "2",
                          QString::fromStdString(in.string()), QString::fromStdString(out.string())});
        QVERIFY(bad.waitForFinished(60000));
        QCOMPARE(bad.exitCode(), 1);
        QVERIFY(bad.readAllStandardError().contains("flip_probability"));

        QProcess eval;
        eval.start(cli(), {"noise", "eval", "--json", "--no-descriptors", "--denoisers", "none,median3",
                           QString::fromStdString(in.string())});
        QVERIFY(eval.waitForFinished(60000));
        QCOMPARE(eval.exitCode(), 0);
        const auto json = QJsonDocument::fromJson(eval.readAllStandardOutput());
        QVERIFY(json.isArray());
        QCOMPARE(json.array().size(), 6);  // 3 noise types x 2 denoisers
        QCOMPARE(json.array().at(4).toObject().value("noise").toString(), QString("frequency"));
        QCOMPARE(json.array().at(1).toObject().value("kind").toString(), QString("classical"));

        // dataset -> eval --pairs, the training/evaluation round trip.
        const fs::path pairs = dir / "pairs.h5";
        QProcess dataset;
        dataset.start(cli(), {"noise", "dataset", "--types", "salt-pepper,grid", "--variants", "2",
                              "--flip-probability", "0.1:0.2", "-o", QString::fromStdString(pairs.string()),
                              QString::fromStdString(in.string()), QString::fromStdString(out.string())});
        QVERIFY(dataset.waitForFinished(60000));
        QVERIFY2(dataset.exitCode() == 0, dataset.readAllStandardError().constData());
        QVERIFY(dataset.readAllStandardOutput().contains("2 clean samples, 8 noisy"));
        QProcess pairEval;
        pairEval.start(cli(), {"noise", "eval", "--pairs", QString::fromStdString(pairs.string()), "--json",
                               "--denoisers", "none", "--no-descriptors"});
        QVERIFY(pairEval.waitForFinished(60000));
        QCOMPARE(pairEval.exitCode(), 0);
        const auto pairRows = QJsonDocument::fromJson(pairEval.readAllStandardOutput()).array();
        QCOMPARE(pairRows.size(), 2);  // grid and salt-pepper groups
        for (const auto& row : pairRows) QCOMPARE(row.toObject().value("samples").toInt(), 4);
        fs::remove_all(dir);
    }
};

QTEST_GUILESS_MAIN(TestNoise)
#include "test_noise.moc"
