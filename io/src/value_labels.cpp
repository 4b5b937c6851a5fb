#include "value_labels.hpp"

#include <algorithm>
#include <cmath>

#include "labels.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::io::detail {

namespace {

std::string valueList(const std::vector<double>& values) {
    std::string s;
    for (std::size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + exactNumber(values[i]);
    return s;
}

bool within(const std::vector<double>& values, std::initializer_list<double> allowed) {
    return std::all_of(values.begin(), values.end(),
                       [&](double v) { return std::find(allowed.begin(), allowed.end(), v) != allowed.end(); });
}

}  // namespace

ValueLabeler::ValueLabeler(std::string where, std::vector<double> explicitValues, Automatic automatic)
    : where_(std::move(where)), explicit_(std::move(explicitValues)), automatic_(automatic) {}

std::uint8_t ValueLabeler::addValue(double value, std::size_t voxel) {
    if (std::isnan(value)) throw Error(where_ + ": NaN at voxel " + std::to_string(voxel));
    if (!explicit_.empty() && std::find(explicit_.begin(), explicit_.end(), value) == explicit_.end())
        throw Error(where_ + ": value " + exactNumber(value) + " at voxel " + std::to_string(voxel) +
                    " is not one of --labels " + valueList(explicit_));
    found_.push_back(value);
    if (found_.size() > std::size_t(kMaxPhases))
        throw Error(where_ + ": more than 3 distinct values (found " + valueList(found_) +
                    ", ...); a label image holds 2 or 3 phases (set them with --labels D,A[,M])");
    return std::uint8_t(found_.size() - 1);
}

// Index -> phase. Explicit: the value's place in the list. Automatic:
// MicroStudio's own labels (0/1/2, or 0/0.5/1 as MicroGen3D stores them) as
// they are; otherwise ascending values are D, A or D, M, A (the middle grey
// is the mixed phase, as in PNG).
std::vector<std::uint8_t> ValueLabeler::phaseOfIndex() const {
    std::vector<std::uint8_t> phase(found_.size());
    if (!explicit_.empty()) {
        for (std::size_t i = 0; i < found_.size(); ++i)
            phase[i] = std::uint8_t(std::find(explicit_.begin(), explicit_.end(), found_[i]) - explicit_.begin());
        return phase;
    }
    if (automatic_ == Automatic::OwnValuesFirst &&
        (within(found_, {0.0, 1.0, 2.0}) || within(found_, {0.0, 0.5, 1.0}))) {
        for (std::size_t i = 0; i < found_.size(); ++i) phase[i] = phaseOfValue(found_[i], where_, 0);
        return phase;
    }
    if (found_.size() < 2)
        throw Error(where_ + ": one value only (" + valueList(found_) + ")" +
                    (automatic_ == Automatic::OwnValuesFirst ? ", not a MicroStudio label (0, 1, 2)" : "") +
                    "; say which phase it is with --labels D,A[,M]");
    std::vector<double> sorted = found_;
    std::sort(sorted.begin(), sorted.end());
    const std::uint8_t ascending2[] = {Donor, Acceptor};
    const std::uint8_t ascending3[] = {Donor, Mixed, Acceptor};
    for (std::size_t i = 0; i < found_.size(); ++i) {
        const std::size_t rank = std::size_t(std::find(sorted.begin(), sorted.end(), found_[i]) - sorted.begin());
        phase[i] = found_.size() == 2 ? ascending2[rank] : ascending3[rank];
    }
    return phase;
}

void ValueLabeler::finish(std::vector<std::uint8_t>& indices) const {
    const std::vector<std::uint8_t> phase = phaseOfIndex();
    for (auto& label : indices) label = phase[label];
}

}  // namespace ms::io::detail
