#pragma once
// Data-parallel training across processes (and machines) with PyTorch's own
// c10d engine: a TCPStore rendezvous hosted by rank 0 and a Gloo process
// group (torch-free view; docs/scaling.md). Every rank runs the same
// command; the training loop (training.hpp) splits each step's global batch
// over the ranks and averages the gradients with an all-reduce.
#include <memory>
#include <string>

namespace ms::ml {

struct DistributedOptions {
    int worldSize = 1;  // 1 = a single process, nothing to connect
    int rank = 0;       // 0 hosts the rendezvous and writes checkpoints, logs, models
    std::string masterAddress = "127.0.0.1";
    int masterPort = 29500;
    // Rendezvous and every collective: a rank that died or stalls for this
    // long ends the run on every other rank with a one-line reason.
    double timeoutSeconds = 300.0;

    bool enabled() const { return worldSize > 1; }
    // Throws ms::Error naming the bad field.
    void validate() const;
    // WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT (torchrun / mpirun style),
    // else SLURM_NTASKS and SLURM_PROCID; unset variables keep the defaults.
    static DistributedOptions fromEnvironment();
    // Command-line values (empty = not given) over fromEnvironment(): the
    // CLI's --world-size, --rank, --master HOST:PORT, --dist-timeout S.
    static DistributedOptions fromArguments(const std::string& worldSize, const std::string& rank,
                                            const std::string& master, const std::string& timeoutSeconds);
    // "HOST:PORT" -> masterAddress, masterPort (throws ms::Error on bad text).
    void setMaster(const std::string& hostPort);
    // "rank 1 of 2, master 127.0.0.1:29500"
    std::string describe() const;
};

// One rank's membership of a process group; connecting blocks until every
// rank joined (or throws ms::Error after the timeout). Shared by the
// trainings of one command (train3d's three stages) so the rendezvous
// happens once.
class Communicator {
public:
    explicit Communicator(const DistributedOptions& options);
    ~Communicator();
    Communicator(const Communicator&) = delete;
    Communicator& operator=(const Communicator&) = delete;

    int rank() const;
    int worldSize() const;
    const DistributedOptions& options() const;
    std::string backend() const;  // "gloo" (or "nccl")
    // Blocks until every rank arrived (throws ms::Error on a lost rank).
    void barrier();
    // Mean seconds of one all-reduce of `floats` float32 values over `repeats`
    // calls (bench dist: the communication part of a step).
    double timeAllReduce(long floats, int repeats);

    struct Impl;  // ml-private (torch)
    Impl& impl() { return *impl_; }

private:
    DistributedOptions options_;
    std::unique_ptr<Impl> impl_;
};

// A TCP port the kernel just had free on the loopback (for a rendezvous);
// ms::Error when there is no socket to ask with.
int freeLoopbackPort();

// bench dist's workloads, trained on synthetic data (no files) for `steps`
// measured steps after one warm-up step: "vae2d", the shipped compact 2D
// VAE on 101x101 images (compute heavy), and "ldm2d", the default LDM MLP on
// 128-value latents (few FLOPs per parameter: communication heavy).
// `communicator`: null for one process; else this rank's, and
// `batchPerRank` is the global batch / world size.
struct DataParallelFigures {
    double samplesPerSecond = 0.0;  // all ranks' samples over the measured steps
    double commPerStep = 0.0;       // the step's all-reduce call, waiting for the slower rank included
    double allReduce = 0.0;         // one all-reduce of the gradients alone (filled by the caller)
    long parameters = 0;
};
DataParallelFigures runDataParallelWorkload(const std::string& workload, int batchPerRank, int steps, int threads,
                                            const std::shared_ptr<Communicator>& communicator);

}  // namespace ms::ml
