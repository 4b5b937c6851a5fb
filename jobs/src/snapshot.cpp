#include "microstudio/jobs/snapshot.hpp"

#include <cmath>
#include <cstdio>

#include "microstudio/core/error.hpp"

namespace ms::jobs {

Volume snapshotVolume(const physics::SnapshotInfo& info, const physics::CahnHilliardSolver& solver, int phases,
                      bool keepField, const physics::ThreePhaseOptions& threePhase) {
    const auto& p = solver.params();
    const std::vector<float> field = solver.fieldAsFloat();
    Volume v;
    if (phases == 2) v = physics::thresholdTwoPhase(field, p.dims, keepField);
    else if (phases == 3) v = physics::thresholdThreePhase(field, p.dims, threePhase, keepField);
    else throw Error("phases must be 2 or 3, got " + std::to_string(phases));
    v.attributes["phi"] = p.phi;
    v.attributes["chi"] = p.chi;
    v.attributes["kappa"] = p.kappa;
    v.attributes["mobility"] = p.mobility;
    v.attributes["time"] = info.time;
    v.attributes["log_time"] = std::log(info.time);
    v.attributes["step"] = double(info.step);
    v.attributes["energy"] = info.energy;
    v.attributes["length"] = info.length;
    v.attributes["seed"] = double(p.seed);
    v.text["source"] = "microstudio cahn-hilliard";
    return v;
}

std::string snapshotName(int snapshot) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "snap_%06d", snapshot);
    return buf;
}

std::string runSnapshotName(int run, int snapshot) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "run_%06d_snap_%06d", run, snapshot);
    return buf;
}

}  // namespace ms::jobs
