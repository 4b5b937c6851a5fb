// The GraSPI descriptor set on the implicit voxel graph. Definitions follow
// GraSPI C++ (see ../shared/docs/descriptors.md and docs/descriptors.md).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <sstream>

#include "grid.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/parallel.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/descriptors/descriptors.hpp"

namespace ms::descriptors {

using namespace detail;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kDissLength = 10.0f;  // GraSPI's Ld, not scaled by the pixel size

double ratio(double a, double b) { return a / b; }  // 0/0 = NaN, as GraSPI

// GraSPI's exciton dissociation weight (a Gaussian of the distance).
double dissWeight(double d) {
    const double z = (d + 23.0) / 17.17;
    return 6.265 * std::exp(-z * z);
}

struct Diss {
    double weighted = kNaN;
    double fraction = kNaN;
};

// dissWeight for the distances of one search. Distances below 10 take few
// distinct float values, so each exp is computed once per value: the same
// doubles, summed in the same order.
class DissWeights {
public:
    double operator()(float d) {
        std::uint32_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        Slot& slot = slots_[(bits * 2654435761u) >> (32 - kSlotBits)];
        if (slot.bits != bits) slot = {bits, dissWeight(double(d))};
        return slot.value;
    }

private:
    static constexpr int kSlotBits = 12;
    struct Slot {
        std::uint32_t bits = 0xFFFFFFFFu;  // a NaN: never a distance
        double value = 0.0;
    };
    std::vector<Slot> slots_ = std::vector<Slot>(std::size_t(1) << kSlotBits);
};

// DISS over the voxels of `phase`, from the interface with `otherPhase`.
Diss dissociation(const Grid& grid, const std::vector<std::uint8_t>& labels, const std::vector<std::uint8_t>& kinds,
                  const Weights& w, int phase, int otherPhase, std::size_t phaseCount) {
    std::vector<float> dist(grid.n);
    for (Node v = 0; v < grid.n; ++v) {
        const Kind k = kindTo(kinds[v], otherPhase);
        dist[v] = labels[v] == phase && k != kNone ? w.half[k] : kInf;
    }
    dijkstraInPhase(grid, labels, w, kDissLength, dist);
    DissWeights weightOf;
    double weighted = 0.0;
    std::size_t count = 0;
    for (Node v = 0; v < grid.n; ++v) {
        const float d = dist[v];
        if (d < kDissLength && d > 0.0f) {
            weighted += weightOf(d);
            ++count;
        }
    }
    return {ratio(weighted, double(phaseCount)), ratio(double(count), double(phaseCount))};
}

// Fraction of `label` voxels with finite distance whose path is straight
// (|d/h - 1| < 1/layers), h measured from the source electrode's layer.
double straightFraction(const Grid& grid, const std::vector<std::uint8_t>& labels, const std::vector<float>& dist,
                        bool fromAnode, int label, double pixelSize) {
    const double source = fromAnode ? double(grid.layers - 1) : 0.0;
    const double eps = 1.0 / double(grid.layers);
    std::size_t useful = 0, straight = 0;
    for (int layer = 0; layer < grid.layers; ++layer) {
        const double h = std::fabs(source - double(layer)) * pixelSize;
        const Node first = Node(std::size_t(layer) * grid.layerSize);
        for (Node v = first; v < first + grid.layerSize; ++v) {
            if (labels[v] != label || !(dist[v] < 0.5f * kInf)) continue;
            ++useful;
            const double t = std::fabs(h) < 1e-20 ? 1.0 : double(dist[v]) / h;
            if (std::fabs(t - 1.0) < eps) ++straight;
        }
    }
    return useful == 0 ? 0.0 : double(straight) / double(useful);
}

std::size_t countAtZero(const std::vector<float>& dist) {
    std::size_t n = 0;
    for (float d : dist)
        if (d < 1e-10f) ++n;
    return n;
}

// One electrode's charge-transport figures: the straight-path fractions of
// the phase it collects (and of Mixed) and the voxels at distance 0.
struct ElectrodePaths {
    double straight = 0.0;
    double straightMixed = 0.0;
    std::size_t atElectrode = 0;
};

ElectrodePaths electrodePaths(const Grid& grid, const std::vector<std::uint8_t>& labels, const Weights& w,
                              bool fromAnode, int phases, double pixelSize) {
    std::vector<float> dist;
    dijkstraFromElectrode(grid, labels, w, fromAnode, dist);
    ElectrodePaths out;
    out.straight = straightFraction(grid, labels, dist, fromAnode, fromAnode ? Donor : Acceptor, pixelSize);
    if (phases == 3) out.straightMixed = straightFraction(grid, labels, dist, fromAnode, Mixed, pixelSize);
    out.atElectrode = countAtZero(dist);
    return out;
}

void add(std::vector<Entry>& list, const char* name, double value, bool integer = false) {
    list.push_back({name, value, integer});
}

void report(ProgressToken* progress, double fraction, const char* message) {
    if (progress) progress->report(fraction, message);
}

// The passes of one describe() run side by side on a few threads: each
// starts once the passes it needs are done, the earliest listed first (list
// the long ones early). Progress is reported as passes finish; an exception
// (ms::Cancelled included) stops the rest and is rethrown.
class Passes {
public:
    int add(const char* name, std::function<void()> run, std::vector<int> after = {}) {
        list_.push_back({name, std::move(run), std::move(after)});
        return int(list_.size()) - 1;
    }

    void run(int threads, ProgressToken* progress) {
        state_.assign(list_.size(), kWaiting);
        parallelFor(
            std::size_t(std::max(1, threads)), [&](std::size_t) { work(progress); }, threads);
        if (error_) std::rethrow_exception(error_);
    }

private:
    enum State { kWaiting, kRunning, kDone };
    struct Pass {
        const char* name;
        std::function<void()> run;
        std::vector<int> after;
    };

    // The first waiting pass whose inputs are done, -1 if none is ready,
    // -2 if none is left to start.
    int nextReady() const {
        bool left = false;
        for (std::size_t i = 0; i < list_.size(); ++i) {
            if (state_[i] != kWaiting) continue;
            left = true;
            bool ready = true;
            for (int j : list_[i].after) ready = ready && state_[std::size_t(j)] == kDone;
            if (ready) return int(i);
        }
        return left ? -1 : -2;
    }

    void work(ProgressToken* progress) {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            if (error_) return;
            const int next = nextReady();
            if (next == -2) return;
            if (next == -1) {
                wake_.wait(lock);
                continue;
            }
            Pass& pass = list_[std::size_t(next)];
            state_[std::size_t(next)] = kRunning;
            lock.unlock();
            try {
                pass.run();
                lock.lock();
                state_[std::size_t(next)] = kDone;
                ++done_;
                report(progress, 0.1 + 0.85 * double(done_) / double(list_.size()), pass.name);
            } catch (...) {
                if (!lock.owns_lock()) lock.lock();
                if (!error_) error_ = std::current_exception();
            }
            wake_.notify_all();
        }
    }

    std::vector<Pass> list_;
    std::vector<State> state_;
    std::size_t done_ = 0;
    std::exception_ptr error_;
    std::mutex mutex_;
    std::condition_variable wake_;
};

}  // namespace

Result describe(const Volume& volume, const Options& options, ProgressToken* progress) {
    if (volume.size() == 0) throw Error("describe: the volume is empty");
    volume.validateLabels();
    if (!(options.pixelSize > 0.0) || !std::isfinite(options.pixelSize))
        throw Error("describe: pixel size must be a positive number");
    if (options.phases != 0 && options.phases != 2 && options.phases != 3)
        throw Error("describe: phases must be 2 or 3, not " + std::to_string(options.phases));
    if (volume.size() > std::size_t(std::numeric_limits<Node>::max()) - 8)
        throw Error("describe: volume too large (" + volume.dims().str() + ")");

    const int phases = options.phases ? options.phases : (volume.phaseCount() == 3 ? 3 : 2);
    const int threads = options.threads > 0 ? options.threads : defaultThreadCount();
    const double ps = options.pixelSize;
    const Grid grid(volume.dims(), options.periodic);
    const Weights w(ps);
    const auto& labels = volume.labels();

    Result result;
    result.phases = phases;
    result.periodic = options.periodic;

    report(progress, 0.0, "phases");
    const auto counts = volume.phaseCounts();
    const std::size_t nB = counts[Donor], nW = counts[Acceptor], nG = counts[Mixed];

    // The passes and what each needs: the electrode searches need nothing,
    // the dissociation searches the interface kinds, the interface counts
    // the kinds and the components.
    std::vector<std::uint8_t> kinds;  // interface vertices
    Components cc;
    Diss dissD, dissM;
    ElectrodePaths toAnode, toCathode;
    std::size_t ccD = 0, ccA = 0, ccDtop = 0, ccAbottom = 0, nDtop = 0, nAbottom = 0;
    std::size_t statE = 0, eConn = 0, eDtop = 0, eAbottom = 0;
    double absSum = 0.0;
    Passes passes;
    const int kindsPass = passes.add("interface", [&] { kinds = interfaceKinds(grid, labels); });
    passes.add("paths to the anode", [&] { toAnode = electrodePaths(grid, labels, w, true, phases, ps); });
    passes.add("paths to the cathode", [&] { toCathode = electrodePaths(grid, labels, w, false, phases, ps); });
    passes.add("dissociation", [&] { dissD = dissociation(grid, labels, kinds, w, Donor, Acceptor, nB); }, {kindsPass});
    if (phases == 3)
        passes.add("dissociation (mixed)", [&] { dissM = dissociation(grid, labels, kinds, w, Mixed, Acceptor, nG); },
                   {kindsPass});
    // Spare threads (beyond the passes above) join the components in slabs.
    const int componentsPass = passes.add("connected components", [&] {
        cc = connectedComponents(grid, labels, std::max(1, threads - 4));
        for (const auto& c : cc.list) {
            if (c.label == Donor) {
                ++ccD;
                if (c.top) ++ccDtop, nDtop += c.size;
            } else if (c.label == Acceptor) {
                ++ccA;
                if (c.bottom) ++ccAbottom, nAbottom += c.size;
            }
        }
    });
    passes.add("interface counts",
               [&] {
                   // Per voxel: bit 0 = its component touches the anode (top)
                   // layer, bit 1 = the cathode (bottom) layer.
                   std::vector<std::uint8_t> ends(grid.n);
                   for (Node v = 0; v < grid.n; ++v) {
                       const Component& c = cc.list[cc.id[v]];
                       ends[v] = std::uint8_t(unsigned(c.top) | unsigned(c.bottom) << 1);
                   }
                   // D/A side-sharing edges, and those from a donor component at the
                   // anode to an acceptor one at the cathode (no branches: whether a
                   // face is on the interface is as good as random).
                   static_assert(Donor == 0 && Acceptor == 1 && Mixed == 2, "the sums below rely on the label values");
                   const std::uint8_t* l = labels.data();
                   grid.forEachForwardFace([&](Node a, Node b) {
                       const bool donorAcceptor = l[a] + l[b] == 1;  // {0, 1}
                       const unsigned black = l[a] == Donor ? ends[a] : ends[b],
                                      white = l[a] == Donor ? ends[b] : ends[a];
                       statE += donorAcceptor;
                       eConn += donorAcceptor & black & (white >> 1);
                   });
                   for (Node v = 0; v < grid.n; ++v) {
                       eDtop += (l[v] == Donor) & (kindTo(kinds[v], Acceptor) != kNone) & ends[v];
                       eAbottom += (l[v] == Acceptor) & (kindTo(kinds[v], Donor) != kNone) & (ends[v] >> 1);
                   }
               },
               {kindsPass, componentsPass});
    passes.add("light absorption", [&] {
        // Depth-weighted donor fraction (depth from the top): one exp per
        // layer, added voxel by voxel as GraSPI does.
        std::vector<double> weightOfLayer(std::size_t(grid.layers));
        for (int layer = 0; layer < grid.layers; ++layer)
            weightOfLayer[std::size_t(layer)] = std::exp(-1.0 * (double(grid.layers - layer) * ps) / 100.0);
        for (int layer = 0; layer < grid.layers; ++layer) {
            const double weight = weightOfLayer[std::size_t(layer)];
            const Node first = Node(std::size_t(layer) * grid.layerSize);
            for (Node v = first; v < first + grid.layerSize; ++v)
                if (labels[v] == Donor) absSum += weight;
        }
    });
    report(progress, 0.1, "paths");
    passes.run(threads, progress);

    const double absWf = absSum / double(grid.n);
    const double absF = ratio(double(nB), double(nB + nW + nG));
    const double tortD = toAnode.straight, tortMAn = toAnode.straightMixed;
    const double tortA = toCathode.straight, tortMCa = toCathode.straightMixed;
    const std::size_t adjAn = toAnode.atElectrode, adjCa = toCathode.atElectrode;

    const double fEconn = ratio(double(eConn), double(statE));
    auto& g = result.graspi;
    if (phases == 2) {
        // GraSPI keeps two-phase descriptors as float: round them the same way.
        auto f = [](double x) { return double(float(x)); };
        add(g, "STAT_n", double(nB + nW), true);
        add(g, "STAT_e", double(statE), true);
        add(g, "STAT_n_D", double(nB), true);
        add(g, "STAT_n_A", double(nW), true);
        add(g, "STAT_CC_D", double(ccD), true);
        add(g, "STAT_CC_A", double(ccA), true);
        add(g, "STAT_CC_D_An", double(ccDtop), true);
        add(g, "STAT_CC_A_Ca", double(ccAbottom), true);
        add(g, "ABS_wf_D", f(absWf));
        add(g, "ABS_f_D", f(absF));
        add(g, "DISS_wf10_D", f(dissD.weighted));
        add(g, "DISS_f10_D", f(dissD.fraction));
        add(g, "CT_f_e_conn", f(fEconn));
        add(g, "CT_f_conn_D_An", f(ratio(double(nDtop), double(nB))));
        add(g, "CT_f_conn_A_Ca", f(ratio(double(nAbottom), double(nW))));
        add(g, "CT_e_conn", double(eConn), true);
        add(g, "CT_e_D_An", double(eDtop), true);
        add(g, "CT_e_A_Ca", double(eAbottom), true);
        add(g, "CT_f_D_tort1", f(tortD));
        add(g, "CT_f_A_tort1", f(tortA));
        add(g, "CT_n_D_adj_An", double(adjAn), true);
        add(g, "CT_n_A_adj_Ca", double(adjCa), true);
    } else {
        add(g, "ABS_wf_D", absWf);
        add(g, "DISS_wf10_D", dissD.weighted);
        add(g, "DISS_f10_D", dissD.fraction);
        add(g, "DISS_wf10_M", dissM.weighted);
        add(g, "DISS_f10_M", dissM.fraction);
        add(g, "STAT_e", double(statE), true);
        add(g, "CT_e_conn", double(eConn), true);
        add(g, "CT_f_e_conn", fEconn);
        add(g, "CT_e_D_An", double(eDtop), true);
        add(g, "CT_e_A_Ca", double(eAbottom), true);
        add(g, "CT_f_D_tort1", tortD);
        add(g, "CT_f_A_tort1", tortA);
        add(g, "CT_f_M_tort1_An", tortMAn);
        add(g, "CT_f_M_tort1_Ca", tortMCa);
    }

    auto& x = result.extra;
    const double total = double(grid.n);
    add(x, "vol_frac_D", double(nB) / total);
    add(x, "vol_frac_A", double(nW) / total);
    add(x, "vol_frac_M", double(nG) / total);
    add(x, "tortuosity_D", phases == 2 ? double(float(tortD)) : tortD);
    add(x, "tortuosity_A", phases == 2 ? double(float(tortA)) : tortA);

    if (options.extras) {
        report(progress, 0.95, "extras");
        add(x, "interface_area_per_volume", interfaceAreaPerVolume(volume, ps));
        for (int p = 0; p < phases; ++p)
            x.push_back({std::string("domain_size_") + phaseName(p), meanChordLength(volume, p, ps), false});
        result.s2 = twoPointCorrelation(volume, options.s2MaxDistance);
        result.s2.resize(std::size_t(phases));
    }
    report(progress, 1.0, "done");
    return result;
}

std::vector<Result> describeBatch(const std::vector<Volume>& volumes, const Options& options, int threads,
                                  ProgressToken* progress) {
    std::vector<Result> results(volumes.size());
    std::atomic<std::size_t> done{0};
    parallelFor(
        volumes.size(),
        [&](std::size_t i) {
            if (progress) progress->throwIfCancelled();
            Options one = options;
            one.threads = 1;  // the volumes are the parallel work here
            results[i] = describe(volumes[i], one);
            const std::size_t finished = ++done;
            // Only one thread reports at a time inside ProgressToken.
            if (progress) progress->report(double(finished) / double(volumes.size()), "described");
        },
        threads);
    return results;
}

std::optional<double> Result::find(const std::string& name) const {
    for (const auto& e : graspi)
        if (e.name == name) return e.value;
    for (const auto& e : extra)
        if (e.name == name) return e.value;
    return std::nullopt;
}

double Result::value(const std::string& name) const {
    if (auto v = find(name)) return *v;
    throw Error("descriptor '" + name + "' is not computed for this " + std::to_string(phases) + "-phase result");
}

std::vector<Entry> Result::all() const {
    std::vector<Entry> out = graspi;
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
}

std::string formatValue(double value) {
    std::ostringstream os;
    os.imbue(std::locale::classic());
    os << value;
    return os.str();
}

std::string formatEntry(const Result& result, const Entry& entry) {
    // GraSPI -n 3 streams counts as int; -n 2 stores every value as float.
    if (result.phases == 3 && entry.integer && std::isfinite(entry.value))
        return std::to_string(std::llround(entry.value));
    return formatValue(entry.value);
}

std::string formatGraspi(const Result& result) {
    std::string out;
    for (const auto& e : result.graspi) {
        if (std::isnan(e.value)) continue;
        out += e.name;
        out += ' ';
        out += formatEntry(result, e);
        out += '\n';
    }
    return out;
}

namespace {

std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

// "," then the cell of `name` (empty when missing).
std::string csvCell(const std::vector<Entry>& entries, const std::string& name) {
    const auto e = std::find_if(entries.begin(), entries.end(), [&](const Entry& x) { return x.name == name; });
    return e == entries.end() ? "," : "," + formatCell(*e);
}

}  // namespace

std::string formatCell(const Entry& entry) {
    if (std::isnan(entry.value)) return {};
    // Counts in full; reals with GraSPI's 6 digits.
    return entry.integer ? std::to_string(std::llround(entry.value)) : formatValue(entry.value);
}

std::string formatCsv(const std::vector<std::string>& sources, const std::vector<Result>& results) {
    if (sources.size() != results.size())
        throw Error("formatCsv: " + std::to_string(sources.size()) + " names for " + std::to_string(results.size()) +
                    " results");
    // Columns: the union of names in first-seen order (2- and 3-phase rows mix).
    std::vector<std::string> columns;
    for (const auto& r : results)
        for (const auto& e : r.all())
            if (std::find(columns.begin(), columns.end(), e.name) == columns.end()) columns.push_back(e.name);
    std::string out = "file,phases,periodic";
    for (const auto& c : columns) out += "," + c;
    out += '\n';
    for (std::size_t i = 0; i < results.size(); ++i) {
        const Result& r = results[i];
        out += csvField(sources[i]) + "," + std::to_string(r.phases) + "," + (r.periodic ? "1" : "0");
        const auto entries = r.all();
        for (const auto& c : columns) out += csvCell(entries, c);
        out += '\n';
    }
    return out;
}

void storeAsAttributes(const Result& result, Volume& volume) {
    for (const auto& e : result.all())
        if (!std::isnan(e.value)) volume.attributes[e.name] = e.value;
}

}  // namespace ms::descriptors
