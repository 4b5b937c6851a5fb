#pragma once
// GraSPI-compatible morphology descriptors (the numbers GraSPI C++ prints,
// see docs/descriptors.md) plus a few extras for quality metrics and the
// studio: two-point correlation S2(r), interface area per volume, mean chord
// length (characteristic domain size) and per-voxel maps.
//
// Every function here is pure and thread-safe: it reads the volume and
// allocates its own work space, so callers may describe different volumes
// on different threads at once (describeBatch does exactly that).
//
// Typical use:
//     ms::descriptors::Result r = ms::descriptors::describe(volume);
//     double fD = r.value("ABS_f_D");           // throws ms::Error if unknown
//     std::cout << ms::descriptors::formatGraspi(r);   // GraSPI's lines
//
// Names. Two-phase results carry GraSPI's 22 names in GraSPI's order
// (STAT_n ... CT_n_A_adj_Ca); three-phase results the 14 lines GraSPI -n 3
// prints (ABS_wf_D ... CT_f_M_tort1_Ca). Both also carry the dataset names
// used by the dataset builder and the models: vol_frac_D, vol_frac_A,
// vol_frac_M, tortuosity_D (= CT_f_D_tort1), tortuosity_A (= CT_f_A_tort1).
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms {
class ProgressToken;
}

namespace ms::descriptors {

struct Options {
    // Wrap the sides: x in 2D, x and y in 3D (never the electrode axis).
    bool periodic = false;
    // 2 or 3 (GraSPI -n); 0 = 3 when the volume holds Mixed voxels, else 2.
    int phases = 0;
    // Physical voxel edge length; scales edge weights, ABS depth and path
    // heights exactly as GraSPI -s does (the DISS cut-off stays 10).
    double pixelSize = 1.0;
    // Also compute the extras (S2, interface area per volume, chord lengths).
    bool extras = false;
    // Largest S2 distance in voxels; 0 = half the smallest side.
    int s2MaxDistance = 0;
    // Threads for one volume (0 = every core): its passes side by side (the
    // two electrode path searches, the dissociation searches, interface
    // kinds, connected components, counts); threads beyond the passes join
    // the components in slabs. The result is the same for any count.
    // describeBatch describes one volume per thread instead.
    int threads = 1;
};

struct Entry {
    std::string name;
    double value = 0.0;  // NaN where GraSPI gets 0/0 (it then prints no line)
    bool integer = false;
};

class Result {
public:
    int phases = 2;
    bool periodic = false;

    // GraSPI's printed descriptors, in GraSPI's order (NaN ones included;
    // formatGraspi omits them as GraSPI does).
    std::vector<Entry> graspi;
    // Dataset names and extras (vol_frac_*, tortuosity_*, S2 summaries ...).
    std::vector<Entry> extra;
    // S2(r) per phase (index = ms::Phase), r = 0..s2MaxDistance; empty
    // unless Options::extras.
    std::vector<std::vector<double>> s2;

    bool has(const std::string& name) const { return find(name).has_value(); }
    std::optional<double> find(const std::string& name) const;
    // Throws ms::Error naming the descriptor when it is not computed.
    double value(const std::string& name) const;
    // graspi then extra, in order.
    std::vector<Entry> all() const;
};

// All descriptors of one 2D (nz == 1) or 3D volume. Throws ms::Error on an
// empty volume, unknown labels, or a bad option; ms::Cancelled through
// `progress`.
Result describe(const Volume& volume, const Options& options = {}, ProgressToken* progress = nullptr);

// describe() for many volumes on up to `threads` threads (0 = every core).
// Results keep the input order. `progress` gets the fraction of volumes done.
std::vector<Result> describeBatch(const std::vector<Volume>& volumes, const Options& options = {}, int threads = 0,
                                  ProgressToken* progress = nullptr);

// One value as GraSPI prints it: C++ ostream defaults (6 significant
// digits, "1e+06" style).
std::string formatValue(double value);
// One entry of a result as GraSPI prints it: two-phase values are floats
// (formatValue); three-phase counts are C++ integers ("1234567").
std::string formatEntry(const Result& result, const Entry& entry);
// "NAME value\n" lines in GraSPI's order, NaN lines omitted.
std::string formatGraspi(const Result& result);

// Copies every computed (non-NaN) value into volume.attributes under its
// name, e.g. for the dataset builder's HDF5 attributes.
void storeAsAttributes(const Result& result, Volume& volume);

// The CSV table of `microstudio-cli describe --format csv` (and the studio's
// Describe panel): a header "file,phases,periodic,NAME..." over the union
// of names in first-seen order, then one row per result named by `sources`
// (quoted where needed); NaN cells are empty, counts are written in full
// and reals with GraSPI's 6 digits. Throws ms::Error when the two lists
// differ in length.
std::string formatCsv(const std::vector<std::string>& sources, const std::vector<Result>& results);
// One value as formatCsv writes it: counts in full ("1234567"), reals as
// formatValue, "" for NaN.
std::string formatCell(const Entry& entry);

// ---- glossary -------------------------------------------------------------

// What a descriptor measures, in one line for a tooltip ("" when the name is
// unknown): every name describe() can report has an entry, GraSPI's own and
// the extras (vol_frac_*, tortuosity_*, interface_area_per_volume,
// domain_size_*).
std::string glossary(const std::string& name);
// Every name with a glossary entry, GraSPI's two-phase order first.
std::vector<std::string> glossaryNames();

// ---- extras ---------------------------------------------------------------

// S2(r) for each phase (index = ms::Phase; kMaxPhases curves): probability
// that two voxels r apart along an axis are both that phase, averaged over
// the axes (x, y in 2D; x, y, z in 3D) with non-periodic pair counting.
// r = 0 gives the volume fraction. maxDistance 0 = half the smallest side.
std::vector<std::vector<double>> twoPointCorrelation(const Volume& volume, int maxDistance = 0);

// Faces between voxels of different phases per unit volume (per unit area
// in 2D: interface length per area), in 1/pixelSize units.
double interfaceAreaPerVolume(const Volume& volume, double pixelSize = 1.0);

// Mean length of straight runs of `phase` along the axes (x, y[, z]), in
// pixelSize units: the characteristic domain size. NaN when the phase is
// absent.
double meanChordLength(const Volume& volume, int phase, double pixelSize = 1.0);

// Per-voxel maps for colouring in the viewer (x fastest, like the labels).
struct VoxelMaps {
    // Shortest in-phase path length from each voxel to the nearest
    // interface with another phase (GraSPI's DISS distance generalised to
    // every phase): half an edge for voxels touching another phase. -1 when
    // the voxel's phase touches no other phase.
    std::vector<float> distanceToInterface;
    // GraSPI path tortuosity d/h to the phase's electrode: donor (and mixed)
    // to the top (anode), acceptor to the bottom (cathode); 1 on the
    // electrode row. -1 when no in-phase path exists.
    std::vector<float> tortuosity;
};
VoxelMaps voxelMaps(const Volume& volume, const Options& options = {});

}  // namespace ms::descriptors
