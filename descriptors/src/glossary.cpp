// One-line meanings of the descriptor names, for tooltips and help text.
// D = donor, A = acceptor, M = mixed phase; the anode is the top row (2D)
// or slice (3D), the cathode the bottom one (see docs/descriptors.md).
#include <algorithm>
#include <array>
#include <utility>

#include "microstudio/descriptors/descriptors.hpp"

namespace ms::descriptors {

namespace {

using Meaning = std::pair<const char*, const char*>;

// GraSPI's two-phase order, then the three-phase-only names, then the extras.
constexpr std::array<Meaning, 35> kGlossary{{
    {"STAT_n", "Number of donor and acceptor voxels (mixed excluded)"},
    {"STAT_e", "Donor-acceptor interface: face-sharing voxel pairs of different phases"},
    {"STAT_n_D", "Number of donor voxels"},
    {"STAT_n_A", "Number of acceptor voxels"},
    {"STAT_CC_D", "Connected donor domains"},
    {"STAT_CC_A", "Connected acceptor domains"},
    {"STAT_CC_D_An", "Donor domains touching the anode (top)"},
    {"STAT_CC_A_Ca", "Acceptor domains touching the cathode (bottom)"},
    {"ABS_wf_D", "Light absorption: donor voxels weighted by exp(-depth/100), over all voxels"},
    {"ABS_f_D", "Donor volume fraction"},
    {"DISS_wf10_D",
     "Exciton dissociation: donor voxels weighted by a Gaussian of their distance (< 10) to the interface"},
    {"DISS_f10_D", "Fraction of donor voxels within distance 10 of the donor-acceptor interface"},
    {"CT_f_e_conn", "Fraction of the interface with donor connected to the anode and acceptor to the cathode"},
    {"CT_f_conn_D_An", "Fraction of donor voxels in domains connected to the anode"},
    {"CT_f_conn_A_Ca", "Fraction of acceptor voxels in domains connected to the cathode"},
    {"CT_e_conn", "Interface pairs with donor connected to the anode and acceptor to the cathode"},
    {"CT_e_D_An", "Donor voxels on the interface in anode-connected domains"},
    {"CT_e_A_Ca", "Acceptor voxels on the interface in cathode-connected domains"},
    {"CT_f_D_tort1", "Fraction of donor voxels with a straight (tortuosity 1) in-phase path to the anode"},
    {"CT_f_A_tort1", "Fraction of acceptor voxels with a straight (tortuosity 1) in-phase path to the cathode"},
    {"CT_n_D_adj_An", "Donor voxels on the anode row, plus one (the anode)"},
    {"CT_n_A_adj_Ca", "Acceptor voxels on the cathode row, plus one (the cathode)"},
    {"DISS_wf10_M",
     "Exciton dissociation in the mixed phase: Gaussian-weighted distance (< 10) to the mixed-acceptor interface"},
    {"DISS_f10_M", "Fraction of mixed voxels within distance 10 of the mixed-acceptor interface"},
    {"CT_f_M_tort1_An", "Fraction of mixed voxels with a straight (tortuosity 1) path to the anode"},
    {"CT_f_M_tort1_Ca", "Fraction of mixed voxels with a straight (tortuosity 1) path to the cathode"},
    {"vol_frac_D", "Donor volume fraction (share of all voxels)"},
    {"vol_frac_A", "Acceptor volume fraction (share of all voxels)"},
    {"vol_frac_M", "Mixed-phase volume fraction (share of all voxels)"},
    {"tortuosity_D", "Dataset name of CT_f_D_tort1: donor fraction with straight paths to the anode"},
    {"tortuosity_A", "Dataset name of CT_f_A_tort1: acceptor fraction with straight paths to the cathode"},
    {"interface_area_per_volume", "Faces between different phases per unit volume (per unit area in 2D), 1/pixel size"},
    {"domain_size_D", "Characteristic donor domain size: mean chord length along the axes, in pixel-size units"},
    {"domain_size_A", "Characteristic acceptor domain size: mean chord length along the axes, in pixel-size units"},
    {"domain_size_M", "Characteristic mixed domain size: mean chord length along the axes, in pixel-size units"},
}};

}  // namespace

std::string glossary(const std::string& name) {
    const auto it = std::find_if(kGlossary.begin(), kGlossary.end(), [&](const Meaning& m) { return name == m.first; });
    return it == kGlossary.end() ? std::string() : std::string(it->second);
}

std::vector<std::string> glossaryNames() {
    std::vector<std::string> names;
    for (const auto& m : kGlossary) names.emplace_back(m.first);
    return names;
}

}  // namespace ms::descriptors
