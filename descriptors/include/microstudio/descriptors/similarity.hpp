#pragma once
// How close volumes are to a set of reference volumes, up to the moves that
// leave a microstructure physically the same: periodic x/y shifts and the
// x/y symmetries (never z: z carries the electrodes). Used to measure
// memorisation: are generated samples nearer to the training data than
// held-out samples of the same distribution are?
//
// Typical use:
//     auto nearest = ms::descriptors::nearestDisagreement(generated, training);
//     // nearest[i].disagreement: fraction of voxels of generated[i] that differ
//     // from training[nearest[i].index] under the best symmetry and shift.
#include <vector>

#include "microstudio/core/volume.hpp"

namespace ms {
class ProgressToken;
}

namespace ms::descriptors {

// Symmetry s of the x/y plane, as bits applied to the query in this order:
// 4 = swap x and y (only when nx == ny), 1 = mirror x (x -> nx-1-x),
// 2 = mirror y. So s in 0..3 when nx != ny, 0..7 (all 4 rotations, each
// with and without a mirror) when nx == ny.
struct NearestMatch {
    long index = -1;            // nearest reference (the lowest on ties)
    double disagreement = 1.0;  // fraction of voxels whose labels differ
    int symmetry = 0;           // applied to the query, see above
    // Shift: symmetry(query)(x, y, z) is compared with
    // reference((x + dx) mod nx, (y + dy) mod ny, z); 0 <= dx < nx, 0 <= dy < ny.
    int dx = 0, dy = 0;
};

// Number of symmetries searched for these dims (8 when nx == ny, else 4).
int symmetryCount(const Dims& dims);
// symmetry(volume) as defined above (s < symmetryCount(dims)).
Volume applySymmetry(const Volume& volume, int symmetry);

// For each query, the minimum over references, symmetries and periodic x/y
// shifts of the voxel disagreement fraction, by FFT cross-correlation
// (FFTW plans made on the calling thread; references on all cores).
// All volumes need the same dims and labels 0..2, else ms::Error; an empty
// `references` gives index -1 and disagreement 1. ms::Cancelled through
// `progress`. FFTW's planner is process-wide: do not plan FFTs on other
// threads while this plans (it plans before it starts its workers).
std::vector<NearestMatch> nearestDisagreement(const std::vector<Volume>& queries, const std::vector<Volume>& references,
                                              ProgressToken* progress = nullptr);

// Fraction of face-adjacent voxel pairs whose labels differ; x and y pairs
// wrap around (periodic sides), z pairs do not. 0 for a single voxel.
double interfaceDensity(const Volume& volume);

// ---- memorisation summary ---------------------------------------------------

// Distribution of numbers (NaN when empty); quartiles interpolate linearly.
struct Spread {
    double min = 0.0, q1 = 0.0, median = 0.0, q3 = 0.0, max = 0.0, mean = 0.0;
};
Spread spread(std::vector<double> values);

// One set of volumes (generated or held-out) against the training set.
struct SetSimilarity {
    std::vector<NearestMatch> nearest;  // per volume
    Spread disagreement;                // of nearest[i].disagreement
    double meanInterfaceDensity = 0.0;
    std::vector<double> meanS2Donor;  // twoPointCorrelation(Donor), averaged
};

struct Memorisation {
    SetSimilarity generated, heldOut;
    // The held-out volumes' VAE round trips, when given: how near decoding
    // alone puts a volume to the training set (empty `nearest` otherwise).
    SetSimilarity roundTrip;
    double trainingInterfaceDensity = 0.0;
    std::vector<double> trainingS2Donor;
    // RMS over r of generated minus held-out mean S2 (Donor).
    double s2RmsDifference = 0.0;
    // Generated samples are not nearer the training set than unseen data.
    bool generatedNotCloser() const { return generated.disagreement.median >= heldOut.disagreement.median; }
};

// Nearest-training disagreement, interface density and S2 of both sets, and
// of `roundTrips` when not null (references transformed once for all). S2 to
// half the smallest side.
Memorisation memorisation(const std::vector<Volume>& generated, const std::vector<Volume>& heldOut,
                          const std::vector<Volume>& training, ProgressToken* progress = nullptr,
                          const std::vector<Volume>* roundTrips = nullptr);

}  // namespace ms::descriptors
