// Descriptors: GraSPI C++ reference fixtures (when ../shared is present),
// hand-computed tiny cases, extras, batch and the describe CLI.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <queue>
#include <random>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/descriptors/descriptors.hpp"
#include "microstudio/io/graspi_text.hpp"
#include "microstudio/io/hdf5.hpp"

namespace fs = std::filesystem;
namespace md = ms::descriptors;

namespace {

const fs::path fixtureDir() { return fs::path(MICROSTUDIO_SHARED_DIR) / "fixtures" / "graspi"; }

// Builds a 2D or 3D volume from rows written top row first (as one reads a
// picture): rows[0] is y = ny-1 (2D). For 3D, slices[k] is z = k, rows as 2D.
ms::Volume image(const std::vector<std::string>& rowsTopFirst) {
    const int ny = int(rowsTopFirst.size()), nx = int(rowsTopFirst[0].size());
    ms::Volume v(ms::Dims{nx, ny, 1});
    for (int r = 0; r < ny; ++r)
        for (int x = 0; x < nx; ++x) {
            const char c = rowsTopFirst[std::size_t(r)][std::size_t(x)];
            v.at(x, ny - 1 - r) = c == 'D' ? ms::Donor : c == 'A' ? ms::Acceptor : ms::Mixed;
        }
    return v;
}

double val(const md::Result& r, const char* name) { return r.value(name); }

struct LogLine {
    std::string name, text;
};
std::vector<LogLine> readLog(const fs::path& path) {
    std::ifstream in(path);
    std::vector<LogLine> out;
    std::string name, text;
    while (in >> name >> text) out.push_back({name, text});
    return out;
}

std::vector<LogLine> toLines(const md::Result& r) {
    std::vector<LogLine> out;
    std::istringstream in(md::formatGraspi(r));
    std::string name, text;
    while (in >> name >> text) out.push_back({name, text});
    return out;
}

// ---- plain references for the fast searches (GraSPI's graph, built out) ----

// GraSPI's graph with adjacency lists: voxels, then the cathode (n) and the
// anode (n + 1); voxel edges join equal labels, weights float(w * size).
struct ReferenceGraph {
    struct Edge {
        std::size_t to;
        float w;
        int kind;  // 0 face, 1 edge-diagonal, 2 corner
    };
    std::vector<std::vector<Edge>> all;  // every grid neighbour, any label
    std::size_t n = 0, layerSize = 0;
    int layers = 0;
    float full[3], half[3];
};

ReferenceGraph referenceGraph(const ms::Volume& v, bool periodic, double pixelSize) {
    const auto d = v.dims();
    const bool is3D = d.nz > 1;
    ReferenceGraph g;
    g.n = v.size();
    g.layerSize = is3D ? std::size_t(d.nx) * d.ny : std::size_t(d.nx);
    g.layers = is3D ? d.nz : d.ny;
    const double w[3] = {pixelSize, std::sqrt(2.0) * pixelSize, std::sqrt(3.0) * pixelSize};
    for (int k = 0; k < 3; ++k) g.full[k] = float(w[k]), g.half[k] = float(w[k] / 2.0);
    const bool wrapX = periodic && d.nx >= 3, wrapY = periodic && is3D && d.ny >= 3;
    g.all.resize(g.n);
    for (int z = 0; z < d.nz; ++z)
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) {
                std::map<std::size_t, int> kinds;  // neighbour -> least kind
                for (int dz = is3D ? -1 : 0; dz <= (is3D ? 1 : 0); ++dz)
                    for (int dy = -1; dy <= 1; ++dy)
                        for (int dx = -1; dx <= 1; ++dx) {
                            int xx = x + dx, yy = y + dy, zz = z + dz;
                            if (xx < 0 || xx >= d.nx) {
                                if (!wrapX) continue;
                                xx = (xx + d.nx) % d.nx;
                            }
                            if (yy < 0 || yy >= d.ny) {
                                if (!wrapY) continue;
                                yy = (yy + d.ny) % d.ny;
                            }
                            if (zz < 0 || zz >= d.nz) continue;
                            const std::size_t u = std::size_t(xx) + std::size_t(d.nx) * (yy + std::size_t(d.ny) * zz);
                            const std::size_t self = std::size_t(x) + std::size_t(d.nx) * (y + std::size_t(d.ny) * z);
                            if (u == self) continue;
                            const int kind = std::abs(dx) + std::abs(dy) + std::abs(dz) - 1;
                            const auto it = kinds.find(u);
                            if (it == kinds.end() || kind < it->second) kinds[u] = kind;
                        }
                auto& edges = g.all[std::size_t(x) + std::size_t(d.nx) * (y + std::size_t(d.ny) * z)];
                for (const auto& [u, kind] : kinds) edges.push_back({u, g.full[kind], kind});
            }
    return g;
}

// Textbook Dijkstra with a binary heap over float sums, from `seeds`
// (node -> distance); voxel edges between equal labels, plus the electrode
// edges of weight 0 (anode: Donor/Mixed of the top layer; cathode:
// Acceptor/Mixed of the bottom layer) when `electrodes`.
std::vector<float> referenceDijkstra(const ReferenceGraph& g, const std::vector<std::uint8_t>& labels,
                                     const std::vector<std::pair<std::size_t, float>>& seeds, bool electrodes) {
    const float inf = std::numeric_limits<float>::max();
    std::vector<float> dist(g.n + 2, inf);
    using Item = std::pair<float, std::size_t>;
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
    auto relax = [&](std::size_t u, float nd) {
        if (nd < dist[u]) dist[u] = nd, heap.push({nd, u});
    };
    for (const auto& [v, d] : seeds) relax(v, d);
    const std::size_t cathode = g.n, anode = g.n + 1;
    while (!heap.empty()) {
        const auto [d, v] = heap.top();
        heap.pop();
        if (d > dist[v]) continue;
        if (v == anode || v == cathode) {
            const std::size_t first = v == anode ? g.n - g.layerSize : 0;
            for (std::size_t u = first; u < first + g.layerSize; ++u)
                if (labels[u] == ms::Mixed || labels[u] == (v == anode ? ms::Donor : ms::Acceptor)) relax(u, d + 0.0f);
            continue;
        }
        for (const auto& e : g.all[v])
            if (labels[e.to] == labels[v]) relax(e.to, d + e.w);
        if (!electrodes) continue;
        if (v >= g.n - g.layerSize && labels[v] != ms::Acceptor) relax(anode, d + 0.0f);
        if (v < g.layerSize && labels[v] != ms::Donor) relax(cathode, d + 0.0f);
    }
    return dist;
}

// Voxel labels drawn independently: Mixed with probability `mixed`, the
// rest Donor with probability `donor`.
ms::Volume randomLabels(ms::Dims dims, double mixed, unsigned seed, double donor = 0.55) {
    ms::Volume v(dims);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (auto& l : v.labels()) {
        const double r = u(rng);
        l = r < mixed ? ms::Mixed : r < mixed + (1.0 - mixed) * donor ? ms::Donor : ms::Acceptor;
    }
    return v;
}

}  // namespace

class TestDescriptors : public QObject {
    Q_OBJECT
private slots:
    // ---- GraSPI C++ reference outputs -------------------------------------
    void graspiFixtures_data() {
        QTest::addColumn<QString>("input");
        QTest::addColumn<bool>("periodic");
        std::error_code ec;
        if (!fs::is_directory(fixtureDir(), ec)) {
            QTest::newRow("no-fixtures") << QString() << false;
            return;
        }
        std::vector<fs::path> inputs;
        for (const auto& e : fs::directory_iterator(fixtureDir()))
            if (e.path().extension() == ".txt" && e.path().filename() != "README.txt") inputs.push_back(e.path());
        std::sort(inputs.begin(), inputs.end());
        for (const auto& p : inputs)
            for (bool periodic : {false, true}) {
                const std::string row = p.stem().string() + (periodic ? " periodic" : "");
                QTest::newRow(row.c_str()) << QString::fromStdString(p.string()) << periodic;
            }
    }
    void graspiFixtures() {
        QFETCH(QString, input);
        QFETCH(bool, periodic);
        // The fixtures are required (CI has ../shared beside the clone): absent is a failure.
        if (input.isEmpty())
            QFAIL(qPrintable("no GraSPI fixtures in " + QString::fromStdString(fixtureDir().string())));
        const fs::path in = input.toStdString();
        const fs::path log = in.parent_path() / (in.stem().string() + (periodic ? ".periodic" : "") + ".graspi.log");
        QVERIFY2(fs::exists(log), qPrintable("missing expected log " + QString::fromStdString(log.string())));
        const auto expected = readLog(log);
        QVERIFY(!expected.empty());

        const ms::Volume volume = ms::io::readGraspiText(in);
        md::Options options;
        options.periodic = periodic;  // phases: 3 exactly when the file has grey voxels, as the fixtures were run
        const md::Result result = md::describe(volume, options);
        const auto got = toLines(result);
        md::Options threaded = options;
        threaded.threads = 3;
        QCOMPARE(md::formatGraspi(md::describe(volume, threaded)), md::formatGraspi(result));

        QStringList names;
        for (const auto& l : got) names << QString::fromStdString(l.name);
        QStringList expectedNames;
        for (const auto& l : expected) expectedNames << QString::fromStdString(l.name);
        QCOMPARE(names, expectedNames);  // same lines, same order, same NaN omissions

        for (const auto& e : expected) {
            const auto entry = std::find_if(result.graspi.begin(), result.graspi.end(),
                                            [&](const md::Entry& x) { return x.name == e.name; });
            QVERIFY(entry != result.graspi.end());
            const double want = std::stod(e.text);
            if (entry->integer) {
                QVERIFY2(md::formatValue(entry->value) == e.text, qPrintable(QString("%1: got %2, GraSPI %3")
                                                                                 .arg(QString::fromStdString(e.name))
                                                                                 .arg(entry->value)
                                                                                 .arg(QString::fromStdString(e.text))));
            } else {
                const double tol = 1e-5 * std::fabs(want) + 1e-12;
                QVERIFY2(std::fabs(entry->value - want) <= tol, qPrintable(QString("%1: got %2, GraSPI %3")
                                                                               .arg(QString::fromStdString(e.name))
                                                                               .arg(entry->value, 0, 'g', 9)
                                                                               .arg(QString::fromStdString(e.text))));
            }
        }
    }

    // ---- hand-computed cases ----------------------------------------------
    void twoColumns2D() {
        // D column left, A column right, 2x2.
        const auto r = md::describe(image({"DA", "DA"}));
        QCOMPARE(r.phases, 2);
        QCOMPARE(val(r, "STAT_n"), 4.0);
        QCOMPARE(val(r, "STAT_e"), 2.0);
        QCOMPARE(val(r, "STAT_CC_D"), 1.0);
        QCOMPARE(val(r, "STAT_CC_D_An"), 1.0);
        QCOMPARE(val(r, "STAT_CC_A_Ca"), 1.0);
        QCOMPARE(val(r, "ABS_wf_D"), double(float((std::exp(-0.02) + std::exp(-0.01)) / 4.0)));
        QCOMPARE(val(r, "ABS_f_D"), 0.5);
        const double w05 = 6.265 * std::exp(-std::pow(23.5 / 17.17, 2));
        QCOMPARE(val(r, "DISS_wf10_D"), double(float(w05)));
        QCOMPARE(val(r, "DISS_f10_D"), 1.0);
        QCOMPARE(val(r, "CT_e_conn"), 2.0);
        QCOMPARE(val(r, "CT_f_e_conn"), 1.0);
        QCOMPARE(val(r, "CT_e_D_An"), 2.0);
        QCOMPARE(val(r, "CT_f_D_tort1"), 1.0);
        QCOMPARE(val(r, "CT_f_A_tort1"), 1.0);
        QCOMPARE(val(r, "CT_n_D_adj_An"), 2.0);  // one black top voxel + the anode itself
        QCOMPARE(val(r, "CT_n_A_adj_Ca"), 2.0);
        QCOMPARE(val(r, "vol_frac_D"), 0.5);
    }
    void diagonalPaths2D() {
        // y=2: D A / y=1: A D / y=0: A A. The lower D reaches the top only
        // by a diagonal (sqrt2 over h = 1: not straight); the top A reaches
        // the bottom by 1 + sqrt2 over h = 2 (t = 1.207 < 1 + 1/3: straight).
        const auto r = md::describe(image({"DA", "AD", "AA"}));
        QCOMPARE(val(r, "STAT_n_D"), 2.0);
        QCOMPARE(val(r, "STAT_CC_D"), 1.0);  // diagonal neighbours join
        QCOMPARE(val(r, "STAT_CC_A"), 1.0);
        QCOMPARE(val(r, "STAT_e"), 5.0);
        QCOMPARE(val(r, "CT_e_conn"), 5.0);
        QCOMPARE(val(r, "CT_f_D_tort1"), 0.5);
        QCOMPARE(val(r, "CT_f_A_tort1"), 1.0);
        QCOMPARE(val(r, "CT_n_D_adj_An"), 2.0);
        QCOMPARE(val(r, "CT_n_A_adj_Ca"), 3.0);
        QCOMPARE(val(r, "ABS_wf_D"), double(float((std::exp(-0.01) + std::exp(-0.02)) / 6.0)));
        // The tortuosity map holds d/h: sqrt2 (float) for the lower D.
        const auto maps = md::voxelMaps(image({"DA", "AD", "AA"}));
        QCOMPARE(maps.tortuosity[1 + 2 * 1], float(std::sqrt(2.0)));
        // (0,0) touches the lower D only by a diagonal: half of sqrt2.
        QCOMPARE(maps.distanceToInterface[0], float(std::sqrt(2.0) / 2.0));
        QCOMPARE(maps.distanceToInterface[2], 0.5f);
    }
    void periodicJoinsSides() {
        const auto v = image({"DAAD", "DAAD"});
        QCOMPARE(val(md::describe(v), "STAT_CC_D"), 2.0);
        md::Options o;
        o.periodic = true;
        const auto r = md::describe(v, o);
        QCOMPARE(val(r, "STAT_CC_D"), 1.0);
        QCOMPARE(val(r, "STAT_e"), 4.0);  // the wrap pair is D-D
        // A wrapped D/A pair is an interface edge: 3 columns DAA wrap to A|D.
        const auto w = image({"DAA", "DAA"});
        QCOMPARE(val(md::describe(w), "STAT_e"), 2.0);
        QCOMPARE(val(md::describe(w, o), "STAT_e"), 4.0);
    }
    void corner3D() {
        // 3x3x3 acceptor with a donor at (0,0,2) (top slice) and (1,1,1):
        // they touch only through a corner ('t', sqrt3).
        ms::Volume v(ms::Dims{3, 3, 3}, ms::Acceptor);
        v.at(0, 0, 2) = ms::Donor;
        v.at(1, 1, 1) = ms::Donor;
        const auto r = md::describe(v);
        QCOMPARE(val(r, "STAT_CC_D"), 1.0);
        QCOMPARE(val(r, "STAT_e"), 3.0 + 6.0);
        QCOMPARE(val(r, "CT_f_D_tort1"), 0.5);  // sqrt3 / 1 is not straight
        QCOMPARE(val(r, "CT_n_D_adj_An"), 2.0);
        QCOMPARE(val(r, "CT_n_A_adj_Ca"), 10.0);
        QCOMPARE(val(r, "ABS_wf_D"), double(float((std::exp(-0.01) + std::exp(-0.02)) / 27.0)));
        const auto maps = md::voxelMaps(v);
        QCOMPARE(maps.tortuosity[v.index(1, 1, 1)], float(std::sqrt(3.0)));
        QCOMPARE(maps.tortuosity[v.index(0, 0, 2)], 1.0f);
    }
    void slabs3D() {
        // 2x2x2: donor slice on top, acceptor slice below.
        ms::Volume v(ms::Dims{2, 2, 2}, ms::Acceptor);
        for (int y = 0; y < 2; ++y)
            for (int x = 0; x < 2; ++x) v.at(x, y, 1) = ms::Donor;
        const auto r = md::describe(v);
        QCOMPARE(val(r, "STAT_e"), 4.0);
        QCOMPARE(val(r, "CT_e_conn"), 4.0);
        QCOMPARE(val(r, "ABS_wf_D"), double(float(4.0 * std::exp(-0.01) / 8.0)));
        QCOMPARE(val(r, "DISS_f10_D"), 1.0);
        QCOMPARE(val(r, "CT_n_D_adj_An"), 5.0);
        QCOMPARE(val(r, "CT_n_A_adj_Ca"), 5.0);
        QCOMPARE(val(r, "CT_f_D_tort1"), 1.0);
    }
    // The generator trains its DDPM on x/y mirrors and swaps of each volume
    // with the volume's own descriptors (Generator3dConfig::diffusionAugment):
    // every descriptor must be invariant, since transport runs along z.
    void xySymmetriesKeepDescriptors3D() {
        const ms::Dims d{9, 9, 7};
        ms::Volume v(d);
        std::uint32_t state = 12345;
        auto next = [&state] { return (state = state * 1664525u + 1013904223u) >> 8; };
        for (int z = 0; z < d.nz; ++z)
            for (int y = 0; y < d.ny; ++y)
                for (int x = 0; x < d.nx; ++x)
                    v.at(x, y, z) = (next() % 100) < unsigned(35 + 4 * x) ? ms::Donor : ms::Acceptor;
        const auto reference = md::describe(v);
        for (int variant = 1; variant < 8; ++variant) {
            ms::Volume w(d);
            for (int z = 0; z < d.nz; ++z)
                for (int y = 0; y < d.ny; ++y)
                    for (int x = 0; x < d.nx; ++x) {
                        int sx = variant & 4 ? y : x, sy = variant & 4 ? x : y;
                        if (variant & 1) sx = d.nx - 1 - sx;
                        if (variant & 2) sy = d.ny - 1 - sy;
                        w.at(x, y, z) = v.at(sx, sy, z);
                    }
            QVERIFY(w.labels() != v.labels());
            const auto r = md::describe(w);
            QCOMPARE(r.graspi.size(), reference.graspi.size());
            for (std::size_t i = 0; i < r.graspi.size(); ++i) {
                const double a = reference.graspi[i].value, b = r.graspi[i].value;
                QVERIFY2((std::isnan(a) && std::isnan(b)) || std::abs(a - b) <= 1e-6 * std::max(1.0, std::abs(a)),
                         qPrintable(QString("variant %1: %2 %3 vs %4")
                                        .arg(variant)
                                        .arg(QString::fromStdString(r.graspi[i].name))
                                        .arg(b)
                                        .arg(a)));
            }
        }
        QVERIFY(val(reference, "CT_f_D_tort1") > 0.0 && val(reference, "CT_f_A_tort1") > 0.0);
    }
    void pixelSizeScalesDepths() {
        md::Options o;
        o.pixelSize = 2.0;
        const auto r = md::describe(image({"DA", "DA"}), o);
        QCOMPARE(val(r, "ABS_wf_D"), double(float((std::exp(-0.04) + std::exp(-0.02)) / 4.0)));
        // Interface distance becomes 1 (half of 2): weight of d = 1.
        QCOMPARE(val(r, "DISS_wf10_D"), double(float(6.265 * std::exp(-std::pow(24.0 / 17.17, 2)))));
        QCOMPARE(val(r, "CT_f_D_tort1"), 1.0);
    }
    void threePhaseGreyThroughCathode() {
        // Grey column on the left touches both electrodes; the grey pair on
        // the right touches only the cathode. GraSPI joins both electrodes
        // to grey, so a path from the anode runs down the left column,
        // through the cathode at no cost, into the right pair.
        const auto v = image({"MDD", "MDM", "MDM"});
        const auto r = md::describe(v);
        QCOMPARE(r.phases, 3);
        QCOMPARE(val(r, "CT_f_M_tort1_An"), 0.8);  // (2,1): d = 3 over h = 1 is the only bent one
        QCOMPARE(val(r, "CT_f_M_tort1_Ca"), 1.0);
        QCOMPARE(val(r, "CT_f_D_tort1"), 1.0);
        QCOMPARE(val(r, "CT_f_A_tort1"), 0.0);  // no acceptor at all
        QCOMPARE(val(r, "STAT_e"), 0.0);
        QCOMPARE(val(r, "DISS_f10_M"), 0.0);
        QVERIFY(std::isnan(val(r, "CT_f_e_conn")));
        QVERIFY(md::formatGraspi(r).find("CT_f_e_conn") == std::string::npos);  // NaN line omitted
        QCOMPARE(val(r, "ABS_wf_D"), (std::exp(-0.03) + std::exp(-0.02) + 2.0 * std::exp(-0.01)) / 9.0);
        QCOMPARE(val(r, "vol_frac_M"), 5.0 / 9.0);
        QCOMPARE(val(r, "tortuosity_D"), 1.0);
    }
    void threePhaseMixedDissociation() {
        // Grey voxels next to acceptor dissociate (A/M interface, LGREEN).
        const auto r = md::describe(image({"DMA", "DMA"}));
        QCOMPARE(val(r, "DISS_f10_M"), 1.0);
        QCOMPARE(val(r, "DISS_f10_D"), 0.0);  // D touches only M: no D/A interface
        QCOMPARE(val(r, "STAT_e"), 0.0);
    }

    // ---- extras, API, errors ----------------------------------------------
    void extrasOnStripes() {
        const auto v = image({"DDAA", "DDAA"});
        QCOMPARE(md::interfaceAreaPerVolume(v), 0.25);
        QCOMPARE(md::meanChordLength(v, ms::Donor), 2.0);
        QCOMPARE(md::meanChordLength(v, ms::Donor, 0.5), 1.0);
        QVERIFY(std::isnan(md::meanChordLength(v, ms::Mixed)));
        const auto s2 = md::twoPointCorrelation(v);
        QCOMPARE(int(s2[ms::Donor].size()), 2);
        QCOMPARE(s2[ms::Donor][0], 0.5);
        QCOMPARE(s2[ms::Donor][1], (1.0 / 3.0 + 0.5) / 2.0);
        md::Options o;
        o.extras = true;
        const auto r = md::describe(v, o);
        QCOMPARE(val(r, "interface_area_per_volume"), 0.25);
        QCOMPARE(val(r, "domain_size_A"), 2.0);
        QCOMPARE(int(r.s2.size()), 2);
    }
    // Slabs joined by threads and the path searches run side by side give
    // exactly the single-threaded result: 2 and 3 phases, open and periodic
    // sides, components that cross every slab border.
    void threadedEqualsSingleThreaded3D_data() {
        QTest::addColumn<double>("mixed");
        QTest::addColumn<bool>("periodic");
        QTest::newRow("2 phases") << 0.0 << false;
        QTest::newRow("2 phases periodic") << 0.0 << true;
        QTest::newRow("3 phases") << 0.2 << false;
        QTest::newRow("3 phases periodic") << 0.2 << true;
    }
    void threadedEqualsSingleThreaded3D() {
        QFETCH(double, mixed);
        QFETCH(bool, periodic);
        ms::SyntheticOptions so;
        so.wavelength = 9;
        so.mixedFraction = mixed;
        so.seed = 5;
        const ms::Volume v = ms::syntheticMicrostructure(ms::Dims{37, 29, 67}, so);
        md::Options one;
        one.periodic = periodic;
        one.extras = true;
        const md::Result single = md::describe(v, one);
        for (int threads : {2, 3, 8}) {
            md::Options many = one;
            many.threads = threads;
            const md::Result r = md::describe(v, many);
            QCOMPARE(md::formatGraspi(r), md::formatGraspi(single));
            QCOMPARE(r.all().size(), single.all().size());
            for (std::size_t i = 0; i < r.all().size(); ++i) {
                const double a = r.all()[i].value, b = single.all()[i].value;
                QVERIFY((std::isnan(a) && std::isnan(b)) || a == b);
            }
        }
        QVERIFY(single.value("vol_frac_D") > 0.2 && single.value("CT_f_D_tort1") > 0);
    }
    // The bucket-queue searches (with their vector relaxation) give the
    // floats of a textbook binary-heap Dijkstra, bit for bit: the distance
    // to the interface and the path tortuosity maps, open and periodic
    // sides, 2D and 3D, 2 and 3 phases, odd pixel sizes.
    void bucketSearchEqualsDijkstra_data() {
        QTest::addColumn<int>("nx");
        QTest::addColumn<int>("ny");
        QTest::addColumn<int>("nz");
        QTest::addColumn<double>("mixed");
        QTest::addColumn<bool>("random");
        QTest::addColumn<bool>("periodic");
        QTest::addColumn<double>("pixelSize");
        QTest::newRow("3D domains") << 37 << 29 << 23 << 0.0 << false << false << 1.0;
        QTest::newRow("3D domains periodic") << 37 << 29 << 23 << 0.0 << false << true << 1.0;
        QTest::newRow("3D 3 phases, size 0.37") << 30 << 26 << 21 << 0.25 << false << false << 0.37;
        QTest::newRow("3D random labels periodic") << 19 << 17 << 15 << 0.2 << true << true << 1.0;
        QTest::newRow("3D random labels, size 2.5") << 16 << 21 << 18 << 0.0 << true << false << 2.5;
        QTest::newRow("3D thin box periodic") << 3 << 4 << 9 << 0.0 << true << true << 1.0;
        QTest::newRow("2D domains") << 91 << 67 << 1 << 0.0 << false << false << 1.0;
        QTest::newRow("2D 3 phases periodic, size 0.37") << 64 << 51 << 1 << 0.3 << false << true << 0.37;
        QTest::newRow("2D random labels") << 40 << 33 << 1 << 0.2 << true << false << 1.0;
    }
    void bucketSearchEqualsDijkstra() {
        QFETCH(int, nx);
        QFETCH(int, ny);
        QFETCH(int, nz);
        QFETCH(double, mixed);
        QFETCH(bool, random);
        QFETCH(bool, periodic);
        QFETCH(double, pixelSize);
        const ms::Dims dims{nx, ny, nz};
        ms::Volume v = random ? randomLabels(dims, mixed, 7) : ms::Volume();
        if (!random) {
            ms::SyntheticOptions so;
            so.wavelength = 8;
            so.mixedFraction = mixed;
            so.seed = 3;
            v = ms::syntheticMicrostructure(dims, so);
        }
        const auto& labels = v.labels();
        const ReferenceGraph g = referenceGraph(v, periodic, pixelSize);

        // Distance to the interface: seeds at half the least edge to another phase.
        std::vector<std::pair<std::size_t, float>> seeds;
        for (std::size_t i = 0; i < g.n; ++i) {
            int least = 3;
            for (const auto& e : g.all[i])
                if (labels[e.to] != labels[i]) least = std::min(least, e.kind);
            if (least < 3) seeds.push_back({i, g.half[least]});
        }
        const std::vector<float> toInterface = referenceDijkstra(g, labels, seeds, false);
        // Tortuosity d/h: donor and mixed from the anode, acceptor from the cathode.
        const std::vector<float> fromAnode = referenceDijkstra(g, labels, {{g.n + 1, 0.0f}}, true);
        const std::vector<float> fromCathode = referenceDijkstra(g, labels, {{g.n, 0.0f}}, true);

        md::Options o;
        o.periodic = periodic;
        o.pixelSize = pixelSize;
        const md::VoxelMaps maps = md::voxelMaps(v, o);
        const float inf = std::numeric_limits<float>::max();
        std::size_t reached = 0;
        for (std::size_t i = 0; i < g.n; ++i) {
            const float want = toInterface[i] < 0.5f * inf ? toInterface[i] : -1.0f;
            QVERIFY2(maps.distanceToInterface[i] == want, qPrintable(QString("voxel %1: %2, Dijkstra %3")
                                                                         .arg(i)
                                                                         .arg(maps.distanceToInterface[i], 0, 'g', 9)
                                                                         .arg(want, 0, 'g', 9)));
            const bool anode = labels[i] != ms::Acceptor;
            const float d = anode ? fromAnode[i] : fromCathode[i];
            const double source = anode ? double(g.layers - 1) : 0.0;
            const double h = std::fabs(source - double(i / g.layerSize)) * pixelSize;
            const float tort = !(d < 0.5f * inf) ? -1.0f : h < 1e-20 ? 1.0f : float(double(d) / h);
            QVERIFY2(maps.tortuosity[i] == tort, qPrintable(QString("voxel %1: tortuosity %2, Dijkstra %3")
                                                                .arg(i)
                                                                .arg(maps.tortuosity[i], 0, 'g', 9)
                                                                .arg(tort, 0, 'g', 9)));
            reached += d < 0.5f * inf;
        }
        QVERIFY(reached > g.n / 4);  // the searches went somewhere
        QVERIFY(!seeds.empty());
    }

    // Connected components (union-find in slabs, one join per group of
    // touching earlier neighbours) and interface voxels against a flood
    // fill over the reference graph.
    void componentsEqualFloodFill_data() {
        QTest::addColumn<int>("nz");
        QTest::addColumn<bool>("random");
        QTest::addColumn<bool>("periodic");
        QTest::newRow("3D domains") << 40 << false << false;
        QTest::newRow("3D domains periodic") << 40 << false << true;
        QTest::newRow("3D random labels") << 33 << true << false;
        QTest::newRow("3D random labels periodic") << 33 << true << true;
        QTest::newRow("2D random labels") << 1 << true << false;
        QTest::newRow("2D random labels periodic") << 1 << true << true;
    }
    void componentsEqualFloodFill() {
        QFETCH(int, nz);
        QFETCH(bool, random);
        QFETCH(bool, periodic);
        const ms::Dims dims = nz > 1 ? ms::Dims{23, 19, nz} : ms::Dims{70, 61, 1};
        // Sparse donors: many donor components, some at the anode, in 3D too.
        ms::Volume v = random ? randomLabels(dims, 0.0, 11, nz > 1 ? 0.08 : 0.4) : ms::Volume();
        if (!random) {
            ms::SyntheticOptions so;
            so.wavelength = 5;
            so.donorFraction = 0.15;
            so.seed = 9;
            v = ms::syntheticMicrostructure(dims, so);
        }
        const auto& labels = v.labels();
        const ReferenceGraph g = referenceGraph(v, periodic, 1.0);
        std::vector<int> component(g.n, -1);
        std::size_t count[2] = {0, 0}, atElectrode[2] = {0, 0};  // donor at the top, acceptor at the bottom
        std::size_t interfaceAtElectrode[2] = {0, 0}, statE = 0;
        std::vector<bool> touches;
        for (std::size_t start = 0; start < g.n; ++start) {
            if (component[start] >= 0) continue;
            const int id = int(touches.size());
            const int label = labels[start];
            bool touchesElectrode = false;
            std::vector<std::size_t> stack{start};
            component[start] = id;
            while (!stack.empty()) {
                const std::size_t i = stack.back();
                stack.pop_back();
                touchesElectrode = touchesElectrode || (label == ms::Donor ? i >= g.n - g.layerSize : i < g.layerSize);
                for (const auto& e : g.all[i])
                    if (labels[e.to] == label && component[e.to] < 0) component[e.to] = id, stack.push_back(e.to);
            }
            touches.push_back(touchesElectrode);
            ++count[label];
            atElectrode[label] += touchesElectrode;
        }
        for (std::size_t i = 0; i < g.n; ++i) {
            bool otherPhase = false;
            for (const auto& e : g.all[i]) {
                otherPhase = otherPhase || labels[e.to] != labels[i];
                statE += e.kind == 0 && labels[e.to] != labels[i] && e.to > i;  // each face once
            }
            interfaceAtElectrode[labels[i]] += otherPhase && touches[std::size_t(component[i])];
        }
        for (int threads : {1, 3}) {
            md::Options o;
            o.periodic = periodic;
            o.threads = threads;
            const md::Result r = md::describe(v, o);
            QCOMPARE(val(r, "STAT_CC_D"), double(count[ms::Donor]));
            QCOMPARE(val(r, "STAT_CC_A"), double(count[ms::Acceptor]));
            QCOMPARE(val(r, "STAT_CC_D_An"), double(atElectrode[ms::Donor]));
            QCOMPARE(val(r, "STAT_CC_A_Ca"), double(atElectrode[ms::Acceptor]));
            QCOMPARE(val(r, "CT_e_D_An"), double(interfaceAtElectrode[ms::Donor]));
            QCOMPARE(val(r, "CT_e_A_Ca"), double(interfaceAtElectrode[ms::Acceptor]));
            QCOMPARE(val(r, "STAT_e"), double(statE));
        }
        QVERIFY2(count[ms::Donor] > 5 && atElectrode[ms::Donor] > 1 && statE > 100,
                 qPrintable(QString("%1 donor components, %2 at the anode").arg(count[0]).arg(atElectrode[0])));
    }
    void batchMatchesSingle() {
        std::vector<ms::Volume> vols = {image({"DA", "DA"}), image({"DA", "AD", "AA"}), image({"MDD", "MDM", "MDM"})};
        const auto batch = md::describeBatch(vols, {}, 2);
        QCOMPARE(batch.size(), vols.size());
        for (std::size_t i = 0; i < vols.size(); ++i)
            QCOMPARE(md::formatGraspi(batch[i]), md::formatGraspi(md::describe(vols[i])));
    }
    void formatsLikeOstream() {
        QCOMPARE(md::formatValue(1e6), std::string("1e+06"));
        QCOMPARE(md::formatValue(65536), std::string("65536"));
        QCOMPARE(md::formatValue(5.0 / 6.0), std::string("0.833333"));
        QCOMPARE(md::formatValue(double(float(0.490116))), std::string("0.490116"));
        // Counts: GraSPI -n 2 prints them as float, -n 3 as int.
        md::Result r;
        r.graspi.push_back({"STAT_e", 1234567.0, true});
        r.graspi.push_back({"CT_f_e_conn", 0.25, false});
        r.phases = 2;
        QCOMPARE(md::formatGraspi(r), std::string("STAT_e 1.23457e+06\nCT_f_e_conn 0.25\n"));
        r.phases = 3;
        QCOMPARE(md::formatGraspi(r), std::string("STAT_e 1234567\nCT_f_e_conn 0.25\n"));
        ms::Volume v(ms::Dims{1, 1, 1});
        md::storeAsAttributes(md::describe(image({"DA", "DA"})), v);
        QCOMPARE(v.attributes.at("CT_f_D_tort1"), 1.0);
        QCOMPARE(v.attributes.at("vol_frac_A"), 0.5);
    }
    void errors() {
        const auto r = md::describe(image({"DA", "DA"}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, r.value("NO_SUCH"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, r.value("DISS_wf10_M"));  // 2-phase result
        ms::Volume bad(ms::Dims{2, 2, 1});
        bad.labels()[0] = 9;
        QVERIFY_THROWS_EXCEPTION(ms::Error, md::describe(bad));
        QVERIFY_THROWS_EXCEPTION(ms::Error, md::describe(ms::Volume{}));
        md::Options o;
        o.phases = 4;
        QVERIFY_THROWS_EXCEPTION(ms::Error, md::describe(image({"DA"}), o));
        o.phases = 2;
        o.pixelSize = 0;
        QVERIFY_THROWS_EXCEPTION(ms::Error, md::describe(image({"DA"}), o));
    }

    void cancellation() {
        ms::ProgressToken token;
        double last = -1.0;
        token.setListener([&](double f, const std::string&) { last = f; });
        md::describe(image({"DA", "AD"}), {}, &token);
        QCOMPARE(last, 1.0);
        token.cancel();
        QVERIFY_THROWS_EXCEPTION(ms::Cancelled, md::describe(image({"DA", "AD"}), {}, &token));
        std::vector<ms::Volume> vols(3, image({"DA", "AD"}));
        QVERIFY_THROWS_EXCEPTION(ms::Cancelled, md::describeBatch(vols, {}, 2, &token));
    }

    // ---- CSV and glossary (the CLI's --format csv and the studio's Describe panel)
    void csvTable() {
        const auto twoPhase = md::describe(image({"DA", "AD", "AA"}));
        const auto threePhase = md::describe(image({"MDD", "MDM", "MDM"}));
        const std::string csv = md::formatCsv({"plain.txt", "a,\"b\".txt"}, {twoPhase, threePhase});
        QStringList lines = QString::fromStdString(csv).split('\n');
        QCOMPARE(lines.size(), 4);  // header, two rows, "" after the last newline
        QCOMPARE(lines[3], QString());
        // Header: the union of names in first-seen order.
        QStringList header{"file", "phases", "periodic"};
        for (const auto& e : twoPhase.all()) header << QString::fromStdString(e.name);
        for (const auto& e : threePhase.all())
            if (!header.contains(QString::fromStdString(e.name))) header << QString::fromStdString(e.name);
        QCOMPARE(lines[0], header.join(','));
        // Row 1: counts in full, reals as GraSPI prints them; 3-phase-only columns empty.
        const QStringList row = lines[1].split(',');
        QCOMPARE(row.size(), header.size());
        QCOMPARE(row.mid(0, 3), (QStringList{"plain.txt", "2", "0"}));
        QCOMPARE(row[header.indexOf("STAT_n")], QString("6"));
        QCOMPARE(row[header.indexOf("ABS_f_D")], QString::fromStdString(md::formatValue(twoPhase.value("ABS_f_D"))));
        QCOMPARE(row[header.indexOf("DISS_f10_M")], QString());
        // Row 2: a quoted name (comma, doubled quotes); its NaN and 2-phase-only cells empty.
        QVERIFY(lines[2].startsWith("\"a,\"\"b\"\".txt\",3,0,"));
        QVERIFY_THROWS_EXCEPTION(ms::Error, md::formatCsv({"one"}, {}));
        // Cells: counts in full (GraSPI's own lines print 1.23457e+06), NaN empty.
        QCOMPARE(md::formatCell({"STAT_e", 1234567.0, true}), std::string("1234567"));
        QCOMPARE(md::formatCell({"ABS_f_D", 5.0 / 6.0, false}), std::string("0.833333"));
        QCOMPARE(md::formatCell({"CT_f_e_conn", std::nan(""), false}), std::string());
    }
    void glossaryNamesEveryDescriptor() {
        // Every name describe() reports, for 2 and 3 phases, 2D and 3D, with extras.
        md::Options o;
        o.extras = true;
        ms::SyntheticOptions three;
        three.mixedFraction = 0.2;
        const std::vector<md::Result> results = {
            md::describe(image({"DA", "AD", "AA"}), o), md::describe(image({"MDD", "MDM", "MAA"}), o),
            md::describe(ms::syntheticMicrostructure(ms::Dims{12, 10, 8}, three), o)};
        int named = 0;
        for (const auto& r : results)
            for (const auto& e : r.all()) {
                QVERIFY2(!md::glossary(e.name).empty(), e.name.c_str());
                ++named;
            }
        QVERIFY(named > 60);
        QCOMPARE(md::glossary("no_such_descriptor"), std::string());
        QVERIFY(md::glossary("ABS_f_D").find("volume fraction") != std::string::npos);
        // No name twice, and no entry for a name describe() never reports.
        auto names = md::glossaryNames();
        std::sort(names.begin(), names.end());
        QVERIFY(std::adjacent_find(names.begin(), names.end()) == names.end());
        for (const auto& n : names) {
            bool reported = false;
            for (const auto& r : results) reported = reported || r.has(n);
            QVERIFY2(reported, n.c_str());
        }
    }
    void cliCsvIsTheLibraryTable() {
        QTemporaryDir dir;
        const QString a = dir.filePath("a.txt"), b = dir.filePath("b.txt");
        ms::io::writeGraspiText(image({"DA", "AD", "AA"}), a.toStdString());
        ms::io::writeGraspiText(image({"MDD", "MDM", "MDM"}), b.toStdString());
        QProcess p;
        p.start(MICROSTUDIO_CLI, {"describe", "--extras", "--format", "csv", a, b});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        md::Options o;
        o.extras = true;
        const std::string expected = md::formatCsv({a.toStdString(), b.toStdString()},
                                                   {md::describe(ms::io::readGraspiText(a.toStdString()), o),
                                                    md::describe(ms::io::readGraspiText(b.toStdString()), o)});
        QCOMPARE(p.readAllStandardOutput().toStdString(), expected);
    }

    // ---- CLI end to end ---------------------------------------------------
    void cliDescribe() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const fs::path a = fs::path(dir.path().toStdString()) / "a.txt";
        const fs::path b = fs::path(dir.path().toStdString()) / "b.txt";
        ms::io::writeGraspiText(image({"DA", "AD", "AA"}), a);
        ms::io::writeGraspiText(image({"MDD", "MDM", "MDM"}), b);

        QProcess p;
        p.start(MICROSTUDIO_CLI, {"describe", QString::fromStdString(a.string())});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        QCOMPARE(p.readAllStandardOutput().toStdString(), md::formatGraspi(md::describe(ms::io::readGraspiText(a))));

        p.start(MICROSTUDIO_CLI, {"describe", QString::fromStdString(a.string()), QString::fromStdString(b.string())});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const QStringList rows = QString(p.readAllStandardOutput()).trimmed().split('\n');
        QCOMPARE(rows.size(), 3);  // header + one row per file
        QVERIFY(rows[0].startsWith("file,phases,periodic,STAT_n,"));
        QVERIFY(rows[2].contains(",3,0,"));

        p.start(MICROSTUDIO_CLI, {"describe", "--format", "json", "--periodic", QString::fromStdString(a.string())});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const QByteArray json = p.readAllStandardOutput();
        QVERIFY(json.contains("\"periodic\": true"));
        QVERIFY(json.contains("\"CT_f_D_tort1\": 0.5"));

        // Every sample of a multi-sample .h5 gives one CSV row.
        const fs::path h5 = fs::path(dir.path().toStdString()) / "s.h5";
        std::vector<ms::Volume> samples = {image({"DA", "AD", "AA"}), image({"DD", "AA"})};
        samples[0].text["sample"] = "first";
        samples[1].text["sample"] = "second";
        ms::io::writeHdf5(samples, h5);
        p.start(MICROSTUDIO_CLI, {"describe", QString::fromStdString(h5.string())});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const QStringList h5rows = QString(p.readAllStandardOutput()).trimmed().split('\n');
        QCOMPARE(h5rows.size(), 3);
        QVERIFY(h5rows[1].contains("s.h5#first,2,0,6,5,"));  // STAT_n 6, STAT_e 5 (see diagonalPaths2D)
        QVERIFY(h5rows[2].contains("s.h5#second,2,0,4,2,"));

        p.start(MICROSTUDIO_CLI, {"describe", "--phases", "5", QString::fromStdString(a.string())});
        QVERIFY(p.waitForFinished(60000));
        QVERIFY(p.exitCode() != 0);
    }
};

QTEST_GUILESS_MAIN(TestDescriptors)
#include "test_descriptors.moc"
