// Data-parallel plumbing on c10d: TCPStore rendezvous (rank 0 hosts it),
// ProcessGroupGloo collectives, and the per-step gradient average.
#include "distributed.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>

#include "microstudio/core/error.hpp"

namespace ms::ml {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

int parseInt(const std::string& text, const std::string& what) {
    try {
        std::size_t used = 0;
        const long v = std::stol(text, &used);
        if (used != text.size() || v < -2147483647L || v > 2147483647L) throw std::invalid_argument(text);
        return int(v);
    } catch (const std::exception&) {
        throw Error(what + ": '" + text + "' is not an integer");
    }
}

// One line of an exception's text (c10 errors carry a backtrace).
std::string reason(const std::exception& e) {
    std::string text;
    if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) text = c10->what_without_backtrace();
    else text = e.what();
    const auto eol = text.find('\n');
    if (eol != std::string::npos) text.resize(eol);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.pop_back();
    return text.empty() ? std::string("unknown error") : text;
}

// While alive, a write to a peer's closed socket fails with EPIPE instead of
// SIGPIPE ending the process: Gloo writes with writev, so a rank killed
// mid-collective killed its peers silently, before they could say "lost the
// other ranks" and checkpoint (PyTorch's Python ignores SIGPIPE for it).
class IgnoreBrokenPipes {
public:
    IgnoreBrokenPipes() { previous_ = std::signal(SIGPIPE, SIG_IGN); }
    ~IgnoreBrokenPipes() {
        if (previous_ != SIG_ERR) std::signal(SIGPIPE, previous_);
    }
    IgnoreBrokenPipes(const IgnoreBrokenPipes&) = delete;
    IgnoreBrokenPipes& operator=(const IgnoreBrokenPipes&) = delete;

private:
    void (*previous_)(int) = SIG_ERR;
};

bool isLoopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

class GlooImpl final : public Communicator::Impl {
public:
    explicit GlooImpl(const DistributedOptions& o) : options_(o) {
        const auto timeout = std::chrono::milliseconds(long(o.timeoutSeconds * 1000.0));
        c10d::TCPStoreOptions so;
        so.port = std::uint16_t(o.masterPort);
        so.isServer = o.rank == 0;
        so.numWorkers = std::size_t(o.worldSize);
        so.waitWorkers = true;
        so.timeout = timeout;
        try {
            store_ = c10::make_intrusive<c10d::TCPStore>(o.masterAddress, so);
        } catch (const std::exception& e) {
            throw Error(
                prefix() +
                (o.rank == 0
                     ? "rendezvous: cannot host " + master() + " or not every rank joined within " + seconds() + ": "
                     : "rendezvous: cannot reach the master " + master() + " within " + seconds() + ": ") +
                reason(e));
        }
        auto pgOptions = c10d::ProcessGroupGloo::Options::create(timeout);
        // Gloo binds each rank's own address and publishes it in the store:
        // the loopback on one machine, else GLOO_SOCKET_IFNAME (as torchrun)
        // or this host name's address.
        try {
            const std::string ifname = env("GLOO_SOCKET_IFNAME");
            if (!ifname.empty()) pgOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
            else if (isLoopback(o.masterAddress))
                pgOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
            else pgOptions->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
            pgOptions->threads = 1;  // one collective at a time: the loop waits on each
            gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, o.rank, o.worldSize, pgOptions);
        } catch (const std::exception& e) {
            throw Error(prefix() + "rendezvous: not every rank joined (or reached this one) within " + seconds() +
                        ": " + reason(e));
        }
#ifdef USE_C10D_NCCL
        if (torch::cuda::is_available()) {
            try {
                auto prefixed = c10::make_intrusive<c10d::PrefixStore>("nccl", store_);
                auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
                ncclOptions->timeout = timeout;
                nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, o.rank, o.worldSize, ncclOptions);
            } catch (const std::exception& e) {
                throw Error(prefix() + "NCCL process group: " + reason(e));
            }
        }
#endif
    }

    int rank() const override { return options_.rank; }
    int worldSize() const override { return options_.worldSize; }
    std::string backend() const override {
#ifdef USE_C10D_NCCL
        if (nccl_) return "nccl+gloo";
#endif
        return "gloo";
    }

    void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
        packed(tensors, "broadcast", [&](std::vector<at::Tensor>& flat, bool cuda) {
            c10d::BroadcastOptions opts;
            opts.rootRank = root;
            return group(cuda).broadcast(flat, opts);
        });
    }

    void allReduceSum(std::vector<torch::Tensor>& tensors) override {
        packed(tensors, "all-reduce", [&](std::vector<at::Tensor>& flat, bool cuda) {
            return group(cuda).allreduce(flat, c10d::AllreduceOptions());
        });
    }

    std::string shareBytes(const std::string& bytes) override {
        const std::string key = "microstudio/share/" + std::to_string(shared_++);
        try {
            if (options_.rank == 0) {
                store_->set(key, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
                return bytes;
            }
            const auto data = store_->get(key);
            return std::string(data.begin(), data.end());
        } catch (const std::exception& e) {
            throw lost("sharing rank 0's data", e);
        }
    }

    void barrier() override {
        try {
            gloo_->barrier()->wait();
        } catch (const std::exception& e) {
            throw lost("barrier", e);
        }
    }

private:
    std::string master() const { return options_.masterAddress + ":" + std::to_string(options_.masterPort); }
    std::string seconds() const {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g s", options_.timeoutSeconds);
        return buf;
    }
    std::string prefix() const {
        return "distributed rank " + std::to_string(options_.rank) + " of " + std::to_string(options_.worldSize) + ": ";
    }
    Error lost(const std::string& during, const std::exception& e) const {
        return Error(prefix() + "lost the other ranks during " + during + " (a rank died, or stalled past the " +
                     seconds() + " timeout): " + reason(e));
    }

    c10d::ProcessGroup& group(bool cuda) {
#ifdef USE_C10D_NCCL
        if (cuda && nccl_) return *nccl_;
#endif
        (void)cuda;
        return *gloo_;
    }
    bool onDevice(const torch::Tensor& t) const {
#ifdef USE_C10D_NCCL
        return t.is_cuda() && nccl_;
#else
        (void)t;
        return false;
#endif
    }

    // Packs the tensors of each dtype into one contiguous buffer (on the CPU
    // for Gloo), runs `op` on it and copies the result back.
    template <class Op>
    void packed(std::vector<torch::Tensor>& tensors, const char* what, Op&& op) {
        std::map<int, std::vector<std::size_t>> byType;
        for (std::size_t i = 0; i < tensors.size(); ++i)
            if (tensors[i].defined() && tensors[i].numel() > 0) byType[int(tensors[i].scalar_type())].push_back(i);
        torch::NoGradGuard noGrad;
        for (const auto& [type, members] : byType) {
            const bool cuda = onDevice(tensors[members.front()]);
            std::vector<torch::Tensor> parts;
            for (std::size_t i : members) {
                auto t = tensors[i].detach().reshape(-1);
                parts.push_back(cuda ? t : t.to(torch::kCPU));
            }
            std::vector<at::Tensor> flat{torch::cat(parts)};
            try {
                op(flat, cuda)->wait();
            } catch (const std::exception& e) {
                throw lost(what, e);
            }
            std::int64_t offset = 0;
            for (std::size_t i : members) {
                auto& t = tensors[i];
                const std::int64_t n = t.numel();
                t.detach().copy_(flat[0].slice(0, offset, offset + n).view(t.sizes()));
                offset += n;
            }
        }
    }

    IgnoreBrokenPipes ignoreBrokenPipes_;  // first: outlives the sockets below
    DistributedOptions options_;
    c10::intrusive_ptr<c10d::Store> store_;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
#ifdef USE_C10D_NCCL
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
    long shared_ = 0;
};

}  // namespace

void DistributedOptions::validate() const {
    if (worldSize < 1) throw Error("world size must be >= 1 (got " + std::to_string(worldSize) + ")");
    if (rank < 0 || rank >= worldSize)
        throw Error("rank must be in [0, " + std::to_string(worldSize) + ") (got " + std::to_string(rank) + ")");
    if (masterAddress.empty()) throw Error("the master address is empty");
    if (masterPort < 1 || masterPort > 65535)
        throw Error("master port must be in 1..65535 (got " + std::to_string(masterPort) + ")");
    if (!(timeoutSeconds > 0)) throw Error("the distributed timeout must be > 0 seconds");
}

DistributedOptions DistributedOptions::fromEnvironment() {
    DistributedOptions o;
    std::string world = env("WORLD_SIZE"), rank = env("RANK");
    // srun sets these for every task; torchrun/mpirun-style variables win.
    if (world.empty()) world = env("SLURM_NTASKS");
    if (rank.empty()) rank = env("SLURM_PROCID");
    if (!world.empty()) o.worldSize = parseInt(world, "WORLD_SIZE");
    if (!rank.empty()) o.rank = parseInt(rank, "RANK");
    if (auto a = env("MASTER_ADDR"); !a.empty()) o.masterAddress = a;
    if (auto p = env("MASTER_PORT"); !p.empty()) o.masterPort = parseInt(p, "MASTER_PORT");
    return o;
}

DistributedOptions DistributedOptions::fromArguments(const std::string& worldSize, const std::string& rank,
                                                     const std::string& master, const std::string& timeoutSeconds) {
    DistributedOptions o = fromEnvironment();
    if (!worldSize.empty()) o.worldSize = parseInt(worldSize, "--world-size");
    if (!rank.empty()) o.rank = parseInt(rank, "--rank");
    if (!master.empty()) o.setMaster(master);
    if (!timeoutSeconds.empty()) {
        try {
            std::size_t used = 0;
            o.timeoutSeconds = std::stod(timeoutSeconds, &used);
            if (used != timeoutSeconds.size()) throw std::invalid_argument(timeoutSeconds);
        } catch (const std::exception&) {
            throw Error("--dist-timeout: '" + timeoutSeconds + "' is not a number of seconds");
        }
    }
    o.validate();
    return o;
}

void DistributedOptions::setMaster(const std::string& hostPort) {
    const auto colon = hostPort.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == hostPort.size())
        throw Error("--master: expected HOST:PORT, got '" + hostPort + "'");
    std::string host = hostPort.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    masterAddress = host;
    masterPort = parseInt(hostPort.substr(colon + 1), "--master port");
}

std::string DistributedOptions::describe() const {
    return "rank " + std::to_string(rank) + " of " + std::to_string(worldSize) + ", master " + masterAddress + ":" +
           std::to_string(masterPort);
}

Communicator::Communicator(const DistributedOptions& options) {
    options.validate();
    impl_ = std::make_unique<GlooImpl>(options);
    options_ = options;
}

Communicator::~Communicator() = default;
int Communicator::rank() const { return impl_->rank(); }
int Communicator::worldSize() const { return impl_->worldSize(); }
const DistributedOptions& Communicator::options() const { return options_; }
std::string Communicator::backend() const { return impl_->backend(); }
void Communicator::barrier() { impl_->barrier(); }

double Communicator::timeAllReduce(long floats, int repeats) {
    std::vector<torch::Tensor> buffer{torch::ones({std::max(1L, floats)}, torch::kFloat)};
    impl_->allReduceSum(buffer);  // warm-up (connections, allocation)
    impl_->barrier();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < repeats; ++i) impl_->allReduceSum(buffer);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / std::max(1, repeats);
}

namespace detail {

double averageStep(Communicator::Impl& comm, const std::vector<torch::Tensor>& params,
                   const std::vector<torch::Tensor>& buffers, double loss) {
    torch::NoGradGuard noGrad;
    if (params.empty()) throw Error("no parameters to train");
    const auto device = params.front().device();
    // [gradients..., float buffers..., defined flag per parameter, loss]
    std::vector<torch::Tensor> parts;
    std::vector<float> tail;
    for (const auto& p : params) {
        const auto& g = p.grad();
        parts.push_back(g.defined()
                            ? g.detach().to(torch::kFloat).reshape(-1)
                            : torch::zeros({p.numel()}, torch::TensorOptions().dtype(torch::kFloat).device(device)));
        tail.push_back(g.defined() ? 1.0f : 0.0f);
    }
    for (const auto& b : buffers) parts.push_back(b.detach().to(torch::kFloat).reshape(-1).to(device));
    tail.push_back(float(loss));
    parts.push_back(torch::tensor(tail, torch::kFloat).to(device));
    std::vector<torch::Tensor> flat{torch::cat(parts)};
    comm.allReduceSum(flat);
    const double world = double(comm.worldSize());
    auto sum = flat[0].to(torch::kCPU);
    auto mean = flat[0] / world;
    std::int64_t offset = 0;
    const std::int64_t flagsAt = sum.numel() - std::int64_t(params.size()) - 1;
    const float* flags = sum.data_ptr<float>() + flagsAt;
    for (std::size_t i = 0; i < params.size(); ++i) {
        auto p = params[i];
        const std::int64_t n = p.numel();
        if (flags[i] > 0) {
            auto g = mean.slice(0, offset, offset + n).view(p.sizes()).to(p.dtype());
            if (p.grad().defined()) p.mutable_grad().copy_(g);
            else p.mutable_grad() = g.clone();
        }
        offset += n;
    }
    for (const auto& b : buffers) {
        const std::int64_t n = b.numel();
        b.detach().copy_(mean.slice(0, offset, offset + n).view(b.sizes()));
        offset += n;
    }
    return double(sum.data_ptr<float>()[sum.numel() - 1]) / world;
}

}  // namespace detail
}  // namespace ms::ml
