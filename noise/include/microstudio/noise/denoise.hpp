#pragma once
// Denoisers: one interface for the identity ("none"), the classical
// baselines here and learned models elsewhere (the VAE in ml/ implements
// Denoiser or wraps a function in FunctionDenoiser and is passed to
// evaluate() as one more row; noise/ never depends on torch).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms::noise {

enum class DenoiserKind { None, Classical, Learned };
const char* denoiserKindName(DenoiserKind kind);  // "none", "classical", "learned"

class Denoiser {
public:
    virtual ~Denoiser() = default;
    virtual std::string name() const = 0;
    virtual DenoiserKind kind() const = 0;
    // Same dims in and out; must be safe to call from several threads.
    virtual Volume denoise(const Volume& noisy) const = 0;
};

// Adapts any function (a loaded model's forward pass, say) to a Denoiser.
class FunctionDenoiser : public Denoiser {
public:
    using Function = std::function<Volume(const Volume&)>;
    FunctionDenoiser(std::string name, DenoiserKind kind, Function function);
    std::string name() const override { return name_; }
    DenoiserKind kind() const override { return kind_; }
    Volume denoise(const Volume& noisy) const override;

private:
    std::string name_;
    DenoiserKind kind_;
    Function function_;
};

// --- Classical filters --------------------------------------------------------
// Windows are cubes (squares in 2D) of side `size` (odd); outside the
// volume the edge voxel is repeated (replicate padding). Labels are
// categorical: the median orders them 0 < 1 < 2, the majority takes the mode.

// Median of the size^d window (d = 2 or 3).
Volume medianFilter(const Volume& volume, int size);

// Mode of the 3^d window, a tie keeping the centre label (else the lowest
// tied label); repeated until nothing changes or `maxIterations` passes.
// One pass on a two-phase image equals medianFilter(volume, 3); the
// iteration is what makes it a distinct baseline.
Volume majorityFilter(const Volume& volume, int maxIterations = 20);

// Opening then closing of the Acceptor phase (label 1) with the cross
// element (the voxel and its 4 (2D) or 6 (3D) face neighbours, scipy's
// default): removes isolated A specks, then fills isolated D specks.
// Two-phase images only.
Volume openClose(const Volume& volume);

// The baselines of `noise eval`: none, median3, median5, majority, open-close.
std::vector<std::shared_ptr<const Denoiser>> standardDenoisers();
// One by name (the names above); throws ms::Error on an unknown one.
std::shared_ptr<const Denoiser> denoiserByName(const std::string& name);

}  // namespace ms::noise
