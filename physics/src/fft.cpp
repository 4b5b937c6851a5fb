#include "fft.hpp"

#include <fftw3.h>

#include <mutex>

#include "microstudio/core/error.hpp"

namespace ms::physics::detail {

namespace {

// FFTW's planner is process-wide state: initialise threads once and plan
// under one lock (execution of finished plans is thread-safe).
std::mutex& plannerMutex() {
    static std::mutex mutex;
    static std::once_flag once;
    std::call_once(once, [] {
        fftw_init_threads();
        fftw_make_planner_thread_safe();
    });
    return mutex;
}

}  // namespace

template <typename T>
AlignedArray<T>::AlignedArray(std::size_t n) : data_(static_cast<T*>(fftw_malloc(sizeof(T) * (n ? n : 1)))), size_(n) {
    if (!data_) throw Error("out of memory for a " + std::to_string(n) + "-value FFT array");
    for (std::size_t i = 0; i < n; ++i) data_.get()[i] = T{};
}

template <typename T>
void AlignedArray<T>::Free::operator()(void* p) const {
    fftw_free(p);
}

template class AlignedArray<double>;
template class AlignedArray<std::complex<double>>;

std::size_t spectrumSize(const Dims& dims) {
    return std::size_t(dims.nx / 2 + 1) * std::size_t(dims.ny) * std::size_t(dims.nz);
}

struct RealFft::Impl {
    fftw_plan forward = nullptr;
    fftw_plan inverse = nullptr;
    std::size_t realSize = 0, complexSize = 0;
};

RealFft::RealFft(const Dims& dims, int threads) : impl_(std::make_unique<Impl>()) {
    if (dims.nx < 1 || dims.ny < 1 || dims.nz < 1) throw Error("FFT grid must be at least 1x1, got " + dims.str());
    impl_->realSize = dims.count();
    impl_->complexSize = spectrumSize(dims);
    // FFTW is row-major with the last index fastest: our x-fastest grid is (nz, ny, nx).
    int n[3] = {dims.nz, dims.ny, dims.nx};
    const int rank = dims.nz > 1 ? 3 : 2;
    const int* shape = dims.nz > 1 ? n : n + 1;
    RealArray realProbe(impl_->realSize);
    ComplexArray complexProbe(impl_->complexSize);
    auto* c = reinterpret_cast<fftw_complex*>(complexProbe.data());
    std::lock_guard<std::mutex> lock(plannerMutex());
    fftw_plan_with_nthreads(threads < 1 ? 1 : threads);
    impl_->forward = fftw_plan_dft_r2c(rank, shape, realProbe.data(), c, FFTW_ESTIMATE);
    impl_->inverse = fftw_plan_dft_c2r(rank, shape, c, realProbe.data(), FFTW_ESTIMATE);
    if (!impl_->forward || !impl_->inverse) throw Error("FFTW could not plan a " + dims.str() + " transform");
}

RealFft::~RealFft() {
    std::lock_guard<std::mutex> lock(plannerMutex());
    if (impl_->forward) fftw_destroy_plan(impl_->forward);
    if (impl_->inverse) fftw_destroy_plan(impl_->inverse);
}

void RealFft::forward(const RealArray& in, ComplexArray& out) {
    // fftw_execute_dft_r2c does not modify the input of an r2c transform.
    fftw_execute_dft_r2c(impl_->forward, const_cast<double*>(in.data()), reinterpret_cast<fftw_complex*>(out.data()));
}

void RealFft::inverse(ComplexArray& in, RealArray& out) {
    fftw_execute_dft_c2r(impl_->inverse, reinterpret_cast<fftw_complex*>(in.data()), out.data());
}

}  // namespace ms::physics::detail
