#pragma once
// Shared by the TIFF and .npy readers: stored numbers (grey levels, array
// values) to phase labels. Those formats hold any values, so the mapping is
// decided from the distinct values found (io.hpp ReadOptions,
// docs/formats.md). Each voxel first gets the index of its value among the
// distinct ones (at most 3), so a volume needs no second buffer of raw values;
// finish() then turns indices into phases.
#include <cstdint>
#include <string>
#include <vector>

namespace ms::io::detail {

class ValueLabeler {
public:
    // Automatic mapping: MicroStudio's and MicroGen3D's own values first
    // (0/1/2, 0/0.5/1), else ascending; or ascending only (a format whose
    // labels start at 1, as DREAM.3D's phases do).
    enum class Automatic { OwnValuesFirst, AscendingOnly };
    // explicitValues: empty (automatic) or the stored values of D, A[, M].
    ValueLabeler(std::string where, std::vector<double> explicitValues,
                 Automatic automatic = Automatic::OwnValuesFirst);

    // The index of value among the distinct values seen; throws ms::Error
    // naming the file at a 4th distinct value, at NaN, or at a value the
    // explicit list lacks. Inline: it runs once per voxel.
    std::uint8_t indexOf(double value, std::size_t voxel) {
        for (std::size_t i = 0; i < found_.size(); ++i)
            if (found_[i] == value) return std::uint8_t(i);
        return addValue(value, voxel);
    }

    // Rewrites indices (from indexOf) as phase labels.
    void finish(std::vector<std::uint8_t>& indices) const;

private:
    std::uint8_t addValue(double value, std::size_t voxel);
    std::vector<std::uint8_t> phaseOfIndex() const;

    std::string where_;
    std::vector<double> explicit_;
    Automatic automatic_;
    std::vector<double> found_;  // distinct values in order of first appearance
};

}  // namespace ms::io::detail
