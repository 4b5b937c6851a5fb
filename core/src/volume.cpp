#include "microstudio/core/volume.hpp"

#include <cmath>
#include <sstream>

#include "microstudio/core/error.hpp"

namespace ms {

const char* phaseName(int phase) {
    switch (phase) {
        case Donor:
            return "D";
        case Acceptor:
            return "A";
        case Mixed:
            return "M";
        default:
            return "?";
    }
}

std::string Dims::str() const {
    std::ostringstream out;
    out << nx << 'x' << ny;
    if (nz != 1) out << 'x' << nz;
    return out.str();
}

Dims parseDims(const std::string& text) {
    Dims d;
    std::vector<long> parts;
    std::string token;
    std::istringstream in(text);
    while (std::getline(in, token, 'x')) {
        if (token.empty() || token.find_first_not_of("0123456789") != std::string::npos)
            throw Error("bad size '" + text + "': expected NXxNY or NXxNYxNZ with positive integers");
        parts.push_back(std::stol(token));
    }
    if (parts.size() < 2 || parts.size() > 3) throw Error("bad size '" + text + "': expected NXxNY or NXxNYxNZ");
    for (long p : parts)
        if (p <= 0 || p > 100000) throw Error("bad size '" + text + "': each extent must be in 1..100000");
    d.nx = int(parts[0]);
    d.ny = int(parts[1]);
    d.nz = parts.size() == 3 ? int(parts[2]) : 1;
    return d;
}

Volume::Volume(Dims dims, std::uint8_t fill) : dims_(dims) {
    if (dims.nx <= 0 || dims.ny <= 0 || dims.nz <= 0)
        throw Error("invalid volume size " + std::to_string(dims.nx) + "x" + std::to_string(dims.ny) + "x" +
                    std::to_string(dims.nz));
    labels_.assign(dims.count(), fill);
}

const std::vector<float>& Volume::field() const {
    if (!field_) throw Error("volume has no continuous field");
    return *field_;
}

void Volume::setField(std::vector<float> values) {
    if (values.size() != labels_.size())
        throw Error("field has " + std::to_string(values.size()) + " values, volume has " +
                    std::to_string(labels_.size()));
    for (std::size_t i = 0; i < values.size(); ++i)
        if (!std::isfinite(values[i])) throw Error("field value " + std::to_string(i) + " is NaN or infinite");
    field_ = std::move(values);
}

std::array<std::size_t, kMaxPhases> Volume::phaseCounts() const {
    std::array<std::size_t, kMaxPhases> counts{};
    for (auto v : labels_)
        if (v < kMaxPhases) ++counts[v];
    return counts;
}

int Volume::phaseCount() const { return phaseCounts()[Mixed] > 0 ? 3 : 2; }

double Volume::volumeFraction(int phase) const {
    if (labels_.empty() || phase < 0 || phase >= kMaxPhases) return 0.0;
    return double(phaseCounts()[phase]) / double(labels_.size());
}

void Volume::validateLabels() const {
    for (std::size_t i = 0; i < labels_.size(); ++i)
        if (labels_[i] >= kMaxPhases)
            throw Error("unknown phase label " + std::to_string(labels_[i]) + " at voxel " + std::to_string(i) +
                        " (expected 0 = D, 1 = A, 2 = M)");
}

Volume Volume::slice(int z) const {
    if (z < 0 || z >= dims_.nz)
        throw Error("slice " + std::to_string(z) + " outside 0.." + std::to_string(dims_.nz - 1));
    Volume out(Dims{dims_.nx, dims_.ny, 1});
    out.spacing = spacing;
    const std::size_t plane = std::size_t(dims_.nx) * dims_.ny;
    std::copy(labels_.begin() + plane * z, labels_.begin() + plane * (z + 1), out.labels_.begin());
    if (field_) out.field_ = std::vector<float>(field_->begin() + plane * z, field_->begin() + plane * (z + 1));
    return out;
}

}  // namespace ms
