#pragma once
// The labelled volume every layer exchanges: a 2D image (nz == 1) or a 3D
// volume, uint8 phase labels plus an optional float field, spacing and
// named attributes (descriptors, processing parameters).
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ms {

// Phase labels inside MicroStudio. GraSPI text files use 3 for the mixed
// phase; io maps it to Mixed and back.
enum Phase : std::uint8_t { Donor = 0, Acceptor = 1, Mixed = 2 };
constexpr int kMaxPhases = 3;
const char* phaseName(int phase);  // "D", "A", "M"

struct Dims {
    int nx = 0, ny = 0, nz = 1;
    std::size_t count() const { return std::size_t(nx) * std::size_t(ny) * std::size_t(nz); }
    bool is2D() const { return nz == 1; }
    bool operator==(const Dims& o) const { return nx == o.nx && ny == o.ny && nz == o.nz; }
    bool operator!=(const Dims& o) const { return !(*this == o); }
    std::string str() const;  // "64x64x32" or "101x101"
};

// Parses "NXxNY" or "NXxNYxNZ"; throws ms::Error on bad text.
Dims parseDims(const std::string& text);

class Volume {
public:
    Volume() = default;
    explicit Volume(Dims dims, std::uint8_t fill = 0);

    const Dims& dims() const { return dims_; }
    std::size_t size() const { return labels_.size(); }
    // x fastest, then y, then z (the GraSPI / VTK order).
    std::size_t index(int x, int y, int z = 0) const {
        return std::size_t(x) + std::size_t(dims_.nx) * (std::size_t(y) + std::size_t(dims_.ny) * std::size_t(z));
    }
    std::uint8_t& at(int x, int y, int z = 0) { return labels_[index(x, y, z)]; }
    std::uint8_t at(int x, int y, int z = 0) const { return labels_[index(x, y, z)]; }

    std::vector<std::uint8_t>& labels() { return labels_; }
    const std::vector<std::uint8_t>& labels() const { return labels_; }

    bool hasField() const { return field_.has_value(); }
    const std::vector<float>& field() const;   // throws when absent
    void setField(std::vector<float> values);  // size must match; no NaN/inf
    void clearField() { field_.reset(); }

    std::array<double, 3> spacing{1.0, 1.0, 1.0};

    // Named numbers (descriptors, phi, chi, time) and free text (source, model).
    std::map<std::string, double> attributes;
    std::map<std::string, std::string> text;

    // Number of phases the labels use: 2 when only D/A occur, 3 when M occurs.
    int phaseCount() const;
    std::array<std::size_t, kMaxPhases> phaseCounts() const;
    double volumeFraction(int phase) const;

    // Throws ms::Error unless every label is a known phase (0, 1, 2).
    void validateLabels() const;

    bool sameLabels(const Volume& o) const { return dims_ == o.dims_ && labels_ == o.labels_; }

    // One z-slice (nz == 1) as a new volume; spacing kept, attributes not.
    Volume slice(int z) const;

private:
    Dims dims_;
    std::vector<std::uint8_t> labels_;
    std::optional<std::vector<float>> field_;
};

}  // namespace ms
