#pragma once
// DREAM.3D files (.dream3d: HDF5 in DREAM.3D 6's layout, "FileVersion" 7.0)
// with the .xdmf sidecar through which ParaView opens them.
//
// Written: one image data container, /DataContainers/ImageDataContainer, its
// geometry in _SIMPL_GEOMETRY (DIMENSIONS x y z, ORIGIN 0 0 0, SPACING) and a
// cell attribute matrix CellData holding
//   Phases  int32 [z][y][x][1], 1 = Donor, 2 = Acceptor, 3 = Mixed (DREAM.3D
//           keeps phase 0 for "no phase"); the volume's attributes and text
//           ride on it as HDF5 attributes, as in the .h5 layout;
//   Field   float32 [z][y][x][1], when the volume has a field.
// Each array carries DREAM.3D's ComponentDimensions, DataArrayVersion,
// ObjectType and TupleDimensions attributes. The sidecar NAME.xdmf (same
// folder and stem) describes both arrays as cell data of a 3DCoRectMesh.
//
// Read: the first data container with an image geometry, its Phases array in
// CellData (or in another attribute matrix when CellData lacks one). Files
// MicroStudio wrote (attribute MicroStudioPhases on Phases) map 1/2/3 as
// above; any other file's 2 or 3 distinct phase values map in ascending order
// to D, A or D, M, A, or as --labels says. Spacing comes from SPACING; the
// origin is not kept. Reads run in the HDF5 reader process and check every
// claim before allocating, as hdf5.hpp says.
#include <filesystem>
#include <vector>

#include "microstudio/core/volume.hpp"
#include "microstudio/io/claim.hpp"

namespace ms::io {

// NAME.xdmf beside NAME.dream3d.
std::filesystem::path xdmfSidecarPath(const std::filesystem::path& dream3d);

Volume readDream3d(const std::filesystem::path& path, const std::vector<double>& labelValues = {});
// The .dream3d file and its sidecar, each atomically (temp + rename).
void writeDream3d(const Volume& volume, const std::filesystem::path& path);
// The image container's DIMENSIONS and its Phases array's shape, type and bytes stored.
FileClaim dream3dClaim(const std::filesystem::path& path);

}  // namespace ms::io
