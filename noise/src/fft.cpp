#include <fftw3.h>

#include <memory>
#include <mutex>

#include "internal.hpp"
#include "microstudio/core/error.hpp"

namespace ms::noise::detail {

namespace {

// FFTW's planner is not thread-safe; plans are made and destroyed under
// this lock, executed outside it.
std::mutex& plannerMutex() {
    static std::mutex mutex;
    return mutex;
}

struct PlanDeleter {
    void operator()(fftw_plan_s* plan) const {
        std::lock_guard<std::mutex> lock(plannerMutex());
        fftw_destroy_plan(plan);
    }
};

}  // namespace

void dft(std::vector<std::complex<double>>& data, const Dims& dims, bool inverse) {
    if (data.size() != dims.count()) throw Error("dft: data size does not match the volume size");
    if (data.empty()) return;
    auto* buffer = reinterpret_cast<fftw_complex*>(data.data());  // std::complex<double> is layout-compatible
    std::unique_ptr<fftw_plan_s, PlanDeleter> plan;
    {
        std::lock_guard<std::mutex> lock(plannerMutex());
        // Row-major with the last index fastest: (nz, ny, nx) is x fastest.
        plan.reset(fftw_plan_dft_3d(dims.nz, dims.ny, dims.nx, buffer, buffer, inverse ? FFTW_BACKWARD : FFTW_FORWARD,
                                    FFTW_ESTIMATE));
    }
    if (!plan) throw Error("dft: FFTW could not make a plan for " + dims.str());
    fftw_execute(plan.get());
}

}  // namespace ms::noise::detail
