#include "microstudio/jobs/simulate_job.hpp"

#include <fstream>
#include <iomanip>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/jobs/snapshot.hpp"

namespace fs = std::filesystem;

namespace ms::jobs {

namespace {

std::string describeJob(const SimulateJob& job) {
    std::ostringstream s;
    s << std::setprecision(17);
    const auto& p = job.params;
    const auto& c = job.control;
    s << "microstudio simulate 1\n"
      << "dims " << p.dims.str() << "\nphi " << p.phi << "\nchi " << p.chi << "\nkappa " << p.kappa << "\nmobility "
      << p.mobility << "\nnoise " << p.noise << "\nseed " << p.seed << "\nlog_epsilon " << p.logEpsilon << "\nend_time "
      << job.plan.endTime << "\nfirst_time " << job.plan.firstTime << "\nsteps " << job.plan.steps << "\nsnapshots "
      << job.plan.snapshots << "\nmax_steps " << job.plan.maxSteps << "\ndt_initial " << c.dtInitial << "\ndt_max "
      << c.dtMax << "\nmax_change " << c.maxChange << "\ngrowth " << c.growth << "\nphases " << job.phases << "\nbeta "
      << job.threePhase.beta << "\nmax_mixed " << job.threePhase.maxMixedFraction << "\nfield " << job.keepField
      << "\n";
    return s.str();
}

std::string readText(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

fs::path workFolder(const fs::path& output) { return fs::path(output.string() + ".work"); }

physics::RunSummary runSimulateJob(const SimulateJob& job, ProgressToken* progress) {
    if (job.output.empty()) throw Error("no output file given");
    if (lowerExtension(job.output) != "h5" && lowerExtension(job.output) != "hdf5")
        throw Error("simulation output must be an .h5 file, got " + job.output.string());
    if (job.phases != 2 && job.phases != 3) throw Error("phases must be 2 or 3");
    physics::validate(job.params);  // before the work folder: a refused run leaves nothing behind
    const fs::path work = workFolder(job.output);
    // One run per output: the work folder's lock file is held (flock) until
    // this run ends; the kernel releases it when the process dies, kill -9
    // included, so a killed run never blocks its resume.
    std::error_code ec;
    fs::create_directories(work, ec);
    if (ec) throw Error("cannot create the work folder " + work.string() + ": " + ec.message());
    FileLock lock;
    long owner = 0;
    if (!lock.tryLock(work / "lock", &owner))
        throw Error(job.output.string() + ": another simulate run is writing this output" +
                    (owner > 0 ? " (process " + std::to_string(owner) + ")" : std::string()) +
                    "; wait for it to finish or choose another output");
    const std::string description = describeJob(job);
    const fs::path jobFile = work / "job.txt";
    if (fs::exists(jobFile)) {
        if (readText(jobFile) != description)
            throw Error("work folder " + work.string() +
                        " belongs to a run with other settings; delete it or choose another output");
    } else {
        writeAtomically(jobFile, [&](const fs::path& temp) {
            std::ofstream out(temp);
            out << description;
            if (!out) throw Error("cannot write " + jobFile.string());
        });
    }
    physics::Checkpointing checkpointing;
    checkpointing.path = work / "run.ckpt";
    checkpointing.everySeconds = job.checkpointEverySeconds;
    auto onSnapshot = [&](const physics::SnapshotInfo& info, const physics::CahnHilliardSolver& solver) {
        Volume v = snapshotVolume(info, solver, job.phases, job.keepField, job.threePhase);
        v.text["sample"] = snapshotName(info.index);
        io::writeHdf5({v}, work / (snapshotName(info.index) + ".h5"));  // atomic; a repeat overwrites
    };
    const int threads = job.threads > 0 ? job.threads : defaultThreadCount();
    physics::RunSummary summary =
        runCahnHilliard(job.params, job.control, job.plan, onSnapshot, checkpointing, progress, threads);
    writeAtomically(job.output, [&](const fs::path& temp) {
        io::Hdf5Appender out(temp, true);
        for (int i = 0; i < summary.snapshots; ++i) {
            const std::string name = snapshotName(i);
            out.append(name, io::readHdf5Sample(work / (name + ".h5"), name));
        }
    });
    fs::remove_all(work);
    return summary;
}

}  // namespace ms::jobs
