// The training loop every model shares, and the torch helpers behind it.
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <cerrno>
#include <cstring>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/process.hpp"
#include "distributed.hpp"
#include "microstudio/noise/noise.hpp"
#include "torch_common.hpp"

namespace ms::ml {

std::string preferredDevice() { return torch::cuda::is_available() ? "cuda" : "cpu"; }

bool cpuHasNativeBf16() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
        if (line.rfind("flags", 0) != 0) continue;
        std::istringstream flags(line.substr(line.find(':') + 1));
        for (std::string flag; flags >> flag;)
            if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
        return false;  // the first processor's flags stand for all
    }
    return false;
}

namespace detail {

torch::Device chooseDevice(bool forceCpu, int threads) {
    const int n = threads > 0 ? threads : defaultThreadCount();
    if (torch::get_num_threads() != n) torch::set_num_threads(n);
    if (!forceCpu && torch::cuda::is_available()) return torch::Device(torch::kCUDA);
    return torch::Device(torch::kCPU);
}

std::string describeDevice(const torch::Device& device) {
    if (device.is_cuda()) return "cuda";
    return "cpu (" + std::to_string(torch::get_num_threads()) + " threads)";
}

std::vector<std::pair<std::string, torch::Tensor>> namedState(const torch::nn::Module& module) {
    std::vector<std::pair<std::string, torch::Tensor>> state;
    for (const auto& p : module.named_parameters(true)) state.emplace_back(p.key(), p.value());
    for (const auto& b : module.named_buffers(true)) state.emplace_back(b.key(), b.value());
    return state;
}

void writeModuleState(const torch::nn::Module& module, torch::serialize::OutputArchive& archive, bool half) {
    for (const auto& [name, tensor] : namedState(module)) {
        torch::Tensor t = tensor.detach().to(torch::kCPU);
        if (half && t.is_floating_point()) t = t.to(torch::kHalf);
        archive.write(name, t);
    }
}

void readModuleState(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& what) {
    torch::NoGradGuard noGrad;
    for (auto& [name, tensor] : namedState(module)) {
        torch::Tensor saved;
        if (!archive.try_read(name, saved)) throw Error(what + ": weights lack '" + name + "' (another architecture?)");
        if (saved.sizes() != tensor.sizes())
            throw Error(what + ": '" + name + "' has shape " + c10::str(saved.sizes()) + ", the model expects " +
                        c10::str(tensor.sizes()));
        tensor.copy_(saved.to(tensor.dtype()).to(tensor.device()));
    }
}

std::vector<float> flattenState(const torch::nn::Module& module) {
    std::vector<float> out;
    for (const auto& [name, tensor] : namedState(module)) {
        auto t = tensor.detach().to(torch::kCPU).to(torch::kFloat).contiguous().view(-1);
        out.insert(out.end(), t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    }
    return out;
}

long countParameters(const torch::nn::Module& module) {
    long n = 0;
    for (const auto& p : module.parameters(true)) n += long(p.numel());
    return n;
}

// LibTorch's file writer finishes its zip in a destructor, where a full disk
// throws and terminates the process: serialise to memory, then write the
// bytes ourselves, checked, through the atomic temp + rename.
static void saveArchive(torch::serialize::OutputArchive& archive, const std::filesystem::path& path) {
    std::ostringstream bytes;
    archive.save_to(bytes);
    const std::string data = bytes.str();
    writeAtomically(path, [&](const std::filesystem::path& temp) {
        std::ofstream out(temp, std::ios::binary);
        out.write(data.data(), std::streamsize(data.size()));
        out.close();
        if (!out) throw Error(path.string() + ": write failed (" + std::strerror(errno) + ")");
    });
}

void saveWeights(const torch::nn::Module& module, const std::filesystem::path& path, bool half) {
    torch::serialize::OutputArchive archive;
    writeModuleState(module, archive, half);
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    saveArchive(archive, path);
}

void loadWeights(torch::nn::Module& module, const std::filesystem::path& path) {
    if (!std::filesystem::exists(path)) throw Error("no weights file " + path.string());
    torch::serialize::InputArchive archive;
    try {
        archive.load_from(path.string());
    } catch (const c10::Error& e) {
        throw Error(path.string() + ": not a MicroStudio weights file");
    }
    readModuleState(module, archive, path.string());
}

std::vector<std::size_t> Batch::indices() const {
    return std::vector<std::size_t>(global.begin() + std::ptrdiff_t(begin), global.begin() + std::ptrdiff_t(end));
}

namespace {
std::vector<std::int64_t> globalShape(std::size_t n, at::IntArrayRef sampleShape) {
    std::vector<std::int64_t> shape{std::int64_t(n)};
    shape.insert(shape.end(), sampleShape.begin(), sampleShape.end());
    return shape;
}
}  // namespace

torch::Tensor Batch::randn(at::IntArrayRef sampleShape, const torch::Device& device) const {
    return torch::randn(globalShape(globalSize(), sampleShape), torch::kFloat)
        .slice(0, std::int64_t(begin), std::int64_t(end))
        .to(device);
}

torch::Tensor Batch::rand(at::IntArrayRef sampleShape, const torch::Device& device) const {
    return torch::rand(globalShape(globalSize(), sampleShape), torch::kFloat)
        .slice(0, std::int64_t(begin), std::int64_t(end))
        .to(device);
}

torch::Tensor Batch::randint(std::int64_t high, const torch::Device& device) const {
    return torch::randint(high, {std::int64_t(globalSize())}, torch::kInt64)
        .slice(0, std::int64_t(begin), std::int64_t(end))
        .to(device);
}

namespace {

// CPU autocast to bfloat16 while it lives (TrainOptions::bf16); the cast
// weights it caches are dropped at the end of each step.
class CpuBf16Autocast {
public:
    CpuBf16Autocast() {
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        at::autocast::set_cpu_enabled(true);
    }
    ~CpuBf16Autocast() {
        at::autocast::set_cpu_enabled(false);
        at::autocast::clear_cache();
    }
    CpuBf16Autocast(const CpuBf16Autocast&) = delete;
    CpuBf16Autocast& operator=(const CpuBf16Autocast&) = delete;
};

void checkBf16(const torch::Device& device) {
    if (!device.is_cpu())
        throw Error("bf16 mixed precision is for CPU training (this training runs on " + device.str() +
                    "); leave --bf16 out");
    if (!cpuHasNativeBf16())
        throw Error(
            "bf16 mixed precision needs a CPU with native bfloat16 (AVX512-BF16 or AMX; /proc/cpuinfo lists "
            "neither), where it would be slower than float32; leave --bf16 out");
}

// Everything besides the weights that a resumed run needs.
struct LoopState {
    long step = 0;
    int epoch = 0;         // running epoch
    long stepInEpoch = 0;  // steps of it done
    double epochLossSum = 0.0;
    double epochSeconds = 0.0;
    int bestEpoch = -1;
    double bestLoss = std::numeric_limits<double>::infinity();
    int badEpochs = 0;
    bool earlyStopped = false;
    std::vector<EpochRecord> history;
};

constexpr std::uint64_t kStepStream = 0x5eed5eedULL;

std::vector<std::size_t> epochOrder(std::size_t n, std::uint64_t seed, int epoch) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::mt19937_64 rng(noise::deriveSeed(seed, std::uint64_t(epoch)));
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    return order;
}

std::string formatDuration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const long s = long(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%lds", s);
    return buf;
}

// The batch recorded is the global one (ranks x batch): a checkpoint
// resumes with any rank count that keeps it.
void saveCheckpoint(const std::filesystem::path& path, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                    const LoopState& st, const std::vector<torch::Tensor>& best, const std::vector<torch::Tensor>& ema,
                    const TrainOptions& options, std::int64_t globalBatch, std::size_t trainCount) {
    torch::serialize::OutputArchive archive, modelArchive, optimizerArchive, bestArchive, emaArchive;
    for (std::size_t i = 0; i < ema.size(); ++i) emaArchive.write("t" + std::to_string(i), ema[i]);
    archive.write("ema", emaArchive);
    writeModuleState(module, modelArchive, false);
    archive.write("model", modelArchive);
    optimizer.save(optimizerArchive);
    archive.write("optimizer", optimizerArchive);
    for (std::size_t i = 0; i < best.size(); ++i) bestArchive.write("t" + std::to_string(i), best[i]);
    archive.write("best", bestArchive);
    archive.write("ints", torch::tensor({std::int64_t(st.step), std::int64_t(st.epoch), std::int64_t(st.stepInEpoch),
                                         std::int64_t(st.bestEpoch), std::int64_t(st.badEpochs),
                                         std::int64_t(st.earlyStopped), std::int64_t(best.size()),
                                         std::int64_t(options.seed), globalBatch, std::int64_t(trainCount)},
                                        torch::kInt64));
    archive.write("doubles", torch::tensor({st.epochLossSum, st.epochSeconds, st.bestLoss}, torch::kDouble));
    std::vector<double> hist;
    for (const auto& e : st.history) {
        hist.push_back(e.epoch);
        hist.push_back(e.trainLoss);
        hist.push_back(e.validationLoss);
        hist.push_back(e.seconds);
    }
    archive.write("history", torch::tensor(hist, torch::kDouble));
    saveArchive(archive, path);
}

// From the file, or from `bytes` (rank 0's copy of it) when given.
void loadCheckpoint(const std::filesystem::path& path, const std::string* bytes, torch::nn::Module& module,
                    torch::optim::Optimizer& optimizer, LoopState& st, std::vector<torch::Tensor>& best,
                    std::vector<torch::Tensor>& ema, const TrainOptions& options, std::int64_t globalBatch,
                    std::size_t trainCount, const torch::Device& device) {
    torch::serialize::InputArchive archive, modelArchive, optimizerArchive, bestArchive, emaArchive;
    try {
        if (bytes) archive.load_from(bytes->data(), bytes->size(), device);
        else archive.load_from(path.string(), device);
    } catch (const c10::Error&) {
        throw Error(path.string() + ": not a MicroStudio checkpoint");
    }
    torch::Tensor ints, doubles, hist;
    if (!archive.try_read("ints", ints) || !archive.try_read("doubles", doubles) || !archive.try_read("history", hist))
        throw Error(path.string() + ": not a MicroStudio checkpoint");
    ints = ints.to(torch::kCPU);
    doubles = doubles.to(torch::kCPU);
    hist = hist.to(torch::kCPU);
    auto I = ints.accessor<std::int64_t, 1>();
    if (std::uint64_t(I[7]) != options.seed || I[8] != globalBatch || std::size_t(I[9]) != trainCount)
        throw Error(path.string() + ": checkpoint of another run (seed " + std::to_string(I[7]) + ", global batch " +
                    std::to_string(I[8]) + " = ranks x batch, " + std::to_string(I[9]) +
                    " training samples); delete it or pass the same options");
    archive.read("model", modelArchive);
    readModuleState(module, modelArchive, path.string());
    archive.read("optimizer", optimizerArchive);
    optimizer.load(optimizerArchive);
    archive.read("best", bestArchive);
    best.clear();
    for (std::int64_t i = 0; i < I[6]; ++i) {
        torch::Tensor t;
        bestArchive.read("t" + std::to_string(i), t);
        best.push_back(t.to(device));
    }
    // The average, when this run keeps one (slots the checkpoint lacks stay
    // undefined: the caller starts them from the loaded weights).
    if (!ema.empty() && archive.try_read("ema", emaArchive))
        for (std::size_t i = 0; i < ema.size(); ++i) {
            torch::Tensor t;
            if (emaArchive.try_read("t" + std::to_string(i), t)) ema[i] = t.to(device);
        }
    st.step = long(I[0]);
    st.epoch = int(I[1]);
    st.stepInEpoch = long(I[2]);
    st.bestEpoch = int(I[3]);
    st.badEpochs = int(I[4]);
    st.earlyStopped = I[5] != 0;
    auto D = doubles.accessor<double, 1>();
    st.epochLossSum = D[0];
    st.epochSeconds = D[1];
    st.bestLoss = D[2];
    st.history.clear();
    auto H = hist.accessor<double, 1>();
    for (std::int64_t i = 0; i + 3 < H.size(0); i += 4) st.history.push_back({int(H[i]), H[i + 1], H[i + 2], H[i + 3]});
}

std::string readBytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw Error("cannot read " + path.string());
    return bytes;
}

std::vector<torch::Tensor> snapshot(const torch::nn::Module& module) {
    std::vector<torch::Tensor> out;
    for (const auto& [name, t] : namedState(module)) out.push_back(t.detach().clone());
    return out;
}

void restore(torch::nn::Module& module, const std::vector<torch::Tensor>& saved) {
    torch::NoGradGuard noGrad;
    auto state = namedState(module);
    for (std::size_t i = 0; i < state.size() && i < saved.size(); ++i) state[i].second.copy_(saved[i]);
}

}  // namespace

TrainReport runTraining(TrainTask& task, const TrainOptions& options) {
    if (options.epochs < 1) throw Error("epochs must be >= 1");
    if (options.batchSize < 1) throw Error("batch size must be >= 1");
    if (!(options.learningRate > 0)) throw Error("learning rate must be > 0");
    const std::size_t n = task.trainCount();
    if (n == 0) throw Error("no training samples");
    // Data-parallel: connect unless the caller shares a communicator.
    std::shared_ptr<Communicator> communicator = options.communicator;
    if (!communicator && options.distributed.enabled())
        communicator = std::make_shared<Communicator>(options.distributed);
    Communicator::Impl* dist = communicator && communicator->worldSize() > 1 ? &communicator->impl() : nullptr;
    const int world = dist ? dist->worldSize() : 1;
    const int rank = dist ? dist->rank() : 0;
    const bool writer = rank == 0;  // checkpoints (the caller writes models and logs on rank 0 too)

    const torch::Device device = chooseDevice(options.forceCpu, options.threads);
    if (options.bf16) checkBf16(device);
    torch::nn::Module& module = task.module();
    module.to(device);
    task.toDevice(device);

    torch::optim::Adam optimizer(module.parameters(true), torch::optim::AdamOptions(options.learningRate));
    // Whole batches only (BatchNorm needs more than one sample); a set
    // smaller than a batch is one batch. The global batch (world x batch)
    // is split evenly: rank r takes its r-th slice.
    const std::int64_t requestedBatch = std::int64_t(options.batchSize) * world;
    std::size_t batch = std::min<std::size_t>(std::size_t(requestedBatch), n);
    batch -= batch % std::size_t(world);
    if (batch == 0)
        throw Error(std::to_string(n) + " training samples cannot be split over " + std::to_string(world) + " ranks");
    const std::size_t local = batch / std::size_t(world);
    const long stepsPerEpoch = long(n / batch);
    const long totalSteps = stepsPerEpoch * options.epochs;

    if (writer && !options.checkpoint.empty() && options.checkpoint.has_parent_path())
        std::filesystem::create_directories(options.checkpoint.parent_path());
    LoopState st;
    std::vector<torch::Tensor> best;
    const std::vector<torch::Tensor> parameters = module.parameters(true);
    // One slot per parameter when averaging; filled after a checkpoint load.
    std::vector<torch::Tensor> ema(options.emaDecay > 0 ? parameters.size() : 0);
    if (!(options.emaDecay >= 0 && options.emaDecay < 1)) throw Error("the EMA decay must be in [0, 1)");
    TrainReport report;
    report.device = describeDevice(device);
    report.worldSize = world;
    report.rank = rank;
    if (dist)
        report.device +=
            ", rank " + std::to_string(rank) + " of " + std::to_string(world) + " (" + dist->backend() + ")";
    const bool haveCheckpoint =
        !options.checkpoint.empty() && options.resume && std::filesystem::exists(options.checkpoint);
    if (dist) {
        // Ranks launched with different data or options would silently
        // compute something else (or block on mismatched buffers): compare
        // with rank 0 and let every rank fail with the same message.
        const std::int64_t values[] = {std::int64_t(n), std::int64_t(options.batchSize), std::int64_t(options.seed),
                                       std::int64_t(options.epochs), std::int64_t(countParameters(module))};
        const auto mine = torch::tensor(at::ArrayRef<std::int64_t>(values), torch::kInt64);
        std::vector<torch::Tensor> reference{mine.clone()}, mismatch{torch::zeros({1}, torch::kInt64)};
        dist->broadcast(reference, 0);
        mismatch[0][0] = torch::equal(reference[0], mine) ? 0 : 1;
        dist->allReduceSum(mismatch);
        if (mismatch[0].item<std::int64_t>() > 0) {
            auto r = reference[0].accessor<std::int64_t, 1>();
            throw Error("distributed rank " + std::to_string(rank) + " of " + std::to_string(world) + ": " +
                        std::to_string(mismatch[0].item<std::int64_t>()) +
                        " rank(s) differ from rank 0 (training samples, batch, seed, epochs, parameters: rank 0 " +
                        std::to_string(r[0]) + ", " + std::to_string(r[1]) + ", " + std::to_string(r[2]) + ", " +
                        std::to_string(r[3]) + ", " + std::to_string(r[4]) + "; this rank " +
                        std::to_string(values[0]) + ", " + std::to_string(values[1]) + ", " +
                        std::to_string(values[2]) + ", " + std::to_string(values[3]) + ", " +
                        std::to_string(values[4]) + "); every rank must run the same command on the same data");
        }
        // Rank 0's checkpoint, if any, for everyone (no shared file system needed).
        const std::string bytes =
            dist->shareBytes(writer && haveCheckpoint ? readBytes(options.checkpoint) : std::string());
        if (!bytes.empty()) {
            loadCheckpoint(options.checkpoint, &bytes, module, optimizer, st, best, ema, options, requestedBatch, n,
                           device);
            report.resumed = true;
        }
        // Identical start: rank 0's weights and buffers.
        std::vector<torch::Tensor> state;
        for (auto& [name, t] : namedState(module)) state.push_back(t);
        dist->broadcast(state, 0);
    } else if (haveCheckpoint) {
        loadCheckpoint(options.checkpoint, nullptr, module, optimizer, st, best, ema, options, requestedBatch, n,
                       device);
        report.resumed = true;
    }
    if (writer && options.onEpoch)
        for (const auto& record : st.history) options.onEpoch(record);
    for (std::size_t i = 0; i < ema.size(); ++i)
        if (!ema[i].defined()) ema[i] = parameters[i].detach().clone();
    // Puts `from` into the parameters (returning what they held).
    auto swapParameters = [&](std::vector<torch::Tensor>& from) {
        torch::NoGradGuard noGrad;
        for (std::size_t i = 0; i < parameters.size(); ++i) {
            auto held = parameters[i].detach().clone();
            parameters[i].copy_(from[i]);
            from[i] = held;
        }
    };
    auto checkpoint = [&] {
        if (writer && !options.checkpoint.empty())
            saveCheckpoint(options.checkpoint, module, optimizer, st, best, ema, options, requestedBatch, n);
    };
    std::vector<torch::Tensor> floatBuffers;
    for (const auto& b : module.buffers(true))
        if (b.is_floating_point()) floatBuffers.push_back(b);

    using Clock = std::chrono::steady_clock;
    const auto runStart = Clock::now();
    long stepsThisRun = 0;

    while (st.epoch < options.epochs && !st.earlyStopped) {
        const auto order = epochOrder(n, options.seed, st.epoch);
        auto epochStart = Clock::now();
        const double epochSecondsBefore = st.epochSeconds;
        module.train();
        while (st.stepInEpoch < stepsPerEpoch) {
            if (options.stopAfterSteps > 0 && st.step >= options.stopAfterSteps) {
                st.epochSeconds = epochSecondsBefore + secondsSince(epochStart);
                checkpoint();
                report.stoppedAtLimit = true;
                goto finish;
            }
            Batch b;
            b.global.assign(order.begin() + std::ptrdiff_t(st.stepInEpoch * long(batch)),
                            order.begin() + std::ptrdiff_t((st.stepInEpoch + 1) * long(batch)));
            b.begin = std::size_t(rank) * local;
            b.end = b.begin + local;
            b.step = st.step;
            // The same seed on every rank: the draws for the global batch agree.
            torch::manual_seed(noise::deriveSeed(options.seed ^ kStepStream, std::uint64_t(st.step)));
            optimizer.zero_grad();
            torch::Tensor loss;
            {
                std::optional<CpuBf16Autocast> autocast;
                if (options.bf16) autocast.emplace();
                loss = task.batchLoss(b, device).to(torch::kFloat);
            }
            double lossValue = loss.item<double>();
            loss.backward();
            if (dist) {
                // Mean of the ranks' slice means = the global batch's mean.
                const auto commStart = Clock::now();
                lossValue = averageStep(*dist, parameters, floatBuffers, lossValue);
                report.communicationSeconds += secondsSince(commStart);
            }
            if (!std::isfinite(lossValue))
                throw Error("training diverged (loss " + std::to_string(lossValue) + " at step " +
                            std::to_string(st.step) + "); lower the learning rate");
            optimizer.step();
            if (!ema.empty()) {
                torch::NoGradGuard noGrad;
                const double d = std::min(options.emaDecay, (1.0 + double(st.step)) / (10.0 + double(st.step)));
                for (std::size_t i = 0; i < ema.size(); ++i) ema[i].mul_(d).add_(parameters[i].detach(), 1.0 - d);
            }
            st.epochLossSum += lossValue;
            ++st.step;
            ++st.stepInEpoch;
            ++stepsThisRun;

            TrainProgress p;
            p.step = st.step;
            p.totalSteps = totalSteps;
            p.epoch = st.epoch;
            p.epochs = options.epochs;
            p.trainLoss = st.epochLossSum / double(st.stepInEpoch);
            p.seconds = secondsSince(runStart);
            p.etaSeconds = p.seconds / double(stepsThisRun) * double(totalSteps - st.step);
            if (options.onProgress) options.onProgress(p);
            if (options.progress) {
                char msg[160];
                std::snprintf(msg, sizeof msg, "epoch %d/%d step %ld/%ld loss %.4g ETA %s", st.epoch + 1,
                              options.epochs, st.step, totalSteps, p.trainLoss, formatDuration(p.etaSeconds).c_str());
                try {
                    options.progress->report(double(st.step) / double(totalSteps), msg);
                } catch (const Cancelled&) {
                    // The step is complete: a checkpoint here loses nothing.
                    st.epochSeconds = epochSecondsBefore + secondsSince(epochStart);
                    checkpoint();
                    throw;
                }
            }
            if (options.checkpointEvery > 0 && st.step % options.checkpointEvery == 0) {
                st.epochSeconds = epochSecondsBefore + secondsSince(epochStart);
                checkpoint();
            }
        }
        {
            // Epoch end: validation, history, early stopping, checkpoint.
            double validation = std::numeric_limits<double>::quiet_NaN();
            // Validated (and kept as best) with the averaged weights.
            if (!ema.empty()) swapParameters(ema);
            if (task.hasValidation()) {
                module.eval();
                torch::NoGradGuard noGrad;
                validation = task.validationLoss(device);
                module.train();
                if (dist) {
                    // Rank 0's value: every rank takes the same early-stopping decisions.
                    std::vector<torch::Tensor> v{torch::tensor({validation}, torch::kDouble)};
                    dist->broadcast(v, 0);
                    validation = v[0].item<double>();
                }
            }
            EpochRecord record;
            record.epoch = st.epoch;
            record.trainLoss = st.epochLossSum / double(std::max<long>(1, stepsPerEpoch));
            record.validationLoss = validation;
            record.seconds = epochSecondsBefore + secondsSince(epochStart);
            st.history.push_back(record);
            if (writer && options.onEpoch) options.onEpoch(record);
            if (task.hasValidation()) {
                if (validation < st.bestLoss - options.minDelta || st.bestEpoch < 0) {
                    st.bestLoss = validation;
                    st.bestEpoch = st.epoch;
                    st.badEpochs = 0;
                    best = snapshot(module);
                } else {
                    ++st.badEpochs;
                    if (options.patience > 0 && st.badEpochs >= options.patience) st.earlyStopped = true;
                }
            }
            if (!ema.empty()) swapParameters(ema);
            ++st.epoch;
            st.stepInEpoch = 0;
            st.epochLossSum = 0.0;
            st.epochSeconds = 0.0;
            checkpoint();
        }
    }
    // Finished (all epochs or early stop): the best weights by validation,
    // else the average when there is one.
    if (options.restoreBest && !best.empty()) restore(module, best);
    else if (!ema.empty()) swapParameters(ema);

finish:
    module.eval();
    report.history = st.history;
    report.steps = st.step;
    report.epochsDone = int(st.history.size());
    report.earlyStopped = st.earlyStopped;
    report.bestEpoch = st.bestEpoch;
    report.bestValidationLoss = st.bestLoss;
    report.seconds = secondsSince(runStart);
    report.secondsPerStep = stepsThisRun > 0 ? report.seconds / double(stepsThisRun) : 0.0;
    return report;
}

}  // namespace detail
}  // namespace ms::ml
