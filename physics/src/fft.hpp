#pragma once
// RAII wrapper over FFTW (double precision) real <-> half-complex transforms
// of a periodic 1D/2D/3D grid stored x fastest. Plans use FFTW_ESTIMATE so
// the same sizes give the same algorithm, hence bit-identical results, in
// every process (a sharded dataset build must equal a single-process one).
#include <complex>
#include <cstddef>
#include <memory>

#include "microstudio/core/volume.hpp"

namespace ms::physics::detail {

// 64-byte aligned array from fftw_malloc.
template <typename T>
class AlignedArray {
public:
    AlignedArray() = default;
    explicit AlignedArray(std::size_t n);
    T* data() { return data_.get(); }
    const T* data() const { return data_.get(); }
    T& operator[](std::size_t i) { return data_.get()[i]; }
    const T& operator[](std::size_t i) const { return data_.get()[i]; }
    std::size_t size() const { return size_; }

private:
    struct Free {
        void operator()(void* p) const;
    };
    std::unique_ptr<T[], Free> data_;
    std::size_t size_ = 0;
};

using RealArray = AlignedArray<double>;
using ComplexArray = AlignedArray<std::complex<double>>;

// Number of half-complex coefficients of a real grid: (nx/2+1) * ny * nz.
std::size_t spectrumSize(const Dims& dims);

class RealFft {
public:
    RealFft(const Dims& dims, int threads);
    ~RealFft();
    RealFft(const RealFft&) = delete;
    RealFft& operator=(const RealFft&) = delete;

    // Unnormalised forward transform; input kept.
    void forward(const RealArray& in, ComplexArray& out);
    // Unnormalised inverse: out = N * field. Destroys `in` (FFTW c2r does).
    void inverse(ComplexArray& in, RealArray& out);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ms::physics::detail
