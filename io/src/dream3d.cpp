// DREAM.3D files: the layout is DREAM.3D 6's (SIMPL) image data container,
// the reading follows what DREAM.3D's own readers and DAMASK's
// (Grid.load_DREAM3D) rely on: an image geometry's DIMENSIONS x y z and cell
// arrays stored [z][y][x][components]. No Debian package reads or writes
// DREAM.3D from C++; libhdf5 does the storage, this file the layout.
#include "microstudio/io/dream3d.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "hdf5_internal.hpp"
#include "labels.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/limits.hpp"
#include "value_labels.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

constexpr const char* kContainers = "DataContainers";
constexpr const char* kContainer = "ImageDataContainer";
constexpr const char* kGeometry = "_SIMPL_GEOMETRY";
constexpr const char* kCellData = "CellData";
constexpr const char* kPhases = "Phases";
constexpr const char* kField = "Field";
// On Phases: marks the values as MicroStudio's 1 = D, 2 = A, 3 = M.
constexpr const char* kOwnPhases = "MicroStudioPhases";
constexpr const char* kOwnPhasesText = "1 Donor, 2 Acceptor, 3 Mixed";
// DREAM.3D's own attributes of a data array (not volume attributes).
const std::vector<std::string> kArrayAttributes{"ComponentDimensions", "DataArrayVersion", "ObjectType",
                                                "TupleDimensions", kOwnPhases};

// Stored value of each label (Donor 0, Acceptor 1, Mixed 2) and back.
constexpr std::array<std::int32_t, 3> kStoredPhase{1, 2, 3};

void writeUnsignedAttribute(H5::H5Object& obj, const std::string& name, std::uint32_t value) {
    H5::DataSpace scalar(H5S_SCALAR);
    obj.createAttribute(name, H5::PredType::NATIVE_UINT32, scalar).write(H5::PredType::NATIVE_UINT32, &value);
}

void writeSmallDataset(H5::Group& group, const std::string& name, const H5::PredType& type, const void* values) {
    hsize_t three = 3;
    H5::DataSpace space(1, &three);
    group.createDataSet(name, type, space).write(values, type);
}

// One cell array [z][y][x][1] with DREAM.3D's array attributes, compressed by z slices.
H5::DataSet writeCellArray(H5::Group& cells, const std::string& name, const H5::PredType& type, const void* values,
                           const Dims& d, const std::string& objectType) {
    const hsize_t shape[4] = {hsize_t(d.nz), hsize_t(d.ny), hsize_t(d.nx), 1};
    const hsize_t chunk[4] = {1, hsize_t(d.ny), hsize_t(d.nx), 1};
    H5::DataSpace space(4, shape);
    H5::DSetCreatPropList props;
    props.setChunk(4, chunk);
    props.setDeflate(4);
    H5::DataSet ds = cells.createDataSet(name, type, space, props);
    ds.write(values, type);
    detail::writeArrayAttribute<std::uint64_t>(ds, "ComponentDimensions", H5::PredType::NATIVE_UINT64, {1});
    H5::DataSpace scalar(H5S_SCALAR);
    const std::int32_t version = 2;
    ds.createAttribute("DataArrayVersion", H5::PredType::NATIVE_INT32, scalar)
        .write(H5::PredType::NATIVE_INT32, &version);
    detail::writeTextAttribute(ds, "ObjectType", objectType);
    detail::writeArrayAttribute<std::uint64_t>(ds, "TupleDimensions", H5::PredType::NATIVE_UINT64,
                                               {std::uint64_t(d.nx), std::uint64_t(d.ny), std::uint64_t(d.nz)});
    return ds;
}

void writeGeometry(H5::Group& container, const Volume& v) {
    H5::Group geometry = container.createGroup(kGeometry);
    detail::writeTextAttribute(geometry, "GeometryName", "ImageGeometry");
    writeUnsignedAttribute(geometry, "GeometryType", 0);  // image
    detail::writeTextAttribute(geometry, "GeometryTypeName", "ImageGeometry");
    writeUnsignedAttribute(geometry, "SpatialDimensionality", 3);
    writeUnsignedAttribute(geometry, "UnitDimensionality", 3);
    const Dims& d = v.dims();
    const std::int64_t dims[3] = {d.nx, d.ny, d.nz};
    const float origin[3] = {0, 0, 0};
    const float spacing[3] = {float(v.spacing[0]), float(v.spacing[1]), float(v.spacing[2])};
    writeSmallDataset(geometry, "DIMENSIONS", H5::PredType::NATIVE_INT64, dims);
    writeSmallDataset(geometry, "ORIGIN", H5::PredType::NATIVE_FLOAT, origin);
    writeSmallDataset(geometry, "SPACING", H5::PredType::NATIVE_FLOAT, spacing);
}

void writeLayout(H5::H5File& file, const Volume& v) {
    detail::writeTextAttribute(file, "FileVersion", "7.0");
    detail::writeTextAttribute(file, "DREAM3D Version", "6 layout, written by MicroStudio");
    file.createGroup("DataContainerBundles");
    H5::Group containers = file.createGroup(kContainers);
    H5::Group container = containers.createGroup(kContainer);
    writeGeometry(container, v);
    H5::Group cells = container.createGroup(kCellData);
    writeUnsignedAttribute(cells, "AttributeMatrixType", 3);  // cell
    const Dims& d = v.dims();
    detail::writeArrayAttribute<std::uint64_t>(cells, "TupleDimensions", H5::PredType::NATIVE_UINT64,
                                               {std::uint64_t(d.nx), std::uint64_t(d.ny), std::uint64_t(d.nz)});
    std::vector<std::int32_t> phases(v.size());
    for (std::size_t i = 0; i < phases.size(); ++i) phases[i] = kStoredPhase[v.labels()[i]];
    H5::DataSet ds = writeCellArray(cells, kPhases, H5::PredType::NATIVE_INT32, phases.data(), d, "DataArray<int32_t>");
    detail::writeTextAttribute(ds, kOwnPhases, kOwnPhasesText);
    detail::writeVolumeAttributes(ds, v);
    if (v.hasField())
        writeCellArray(cells, kField, H5::PredType::NATIVE_FLOAT, v.field().data(), d, "DataArray<float>");
}

std::string xdmfText(const Volume& v, const std::string& fileName) {
    const Dims& d = v.dims();
    const std::string container = std::string("/") + kContainers + "/" + kContainer;
    std::ostringstream x;
    x.precision(9);
    x << "<?xml version=\"1.0\"?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\"[]>\n"
      << "<Xdmf xmlns:xi=\"http://www.w3.org/2003/XInclude\" Version=\"2.2\">\n <Domain>\n"
      << "  <Grid Name=\"" << kContainer << "\" GridType=\"Uniform\">\n"
      << "   <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"" << d.nz + 1 << ' ' << d.ny + 1 << ' ' << d.nx + 1
      << "\"></Topology>\n"
      << "   <Geometry Type=\"ORIGIN_DXDYDZ\">\n"
      << "    <!-- Origin  Z, Y, X -->\n    <DataItem Format=\"XML\" Dimensions=\"3\">0 0 0</DataItem>\n"
      << "    <!-- DxDyDz (Spacing/Resolution) Z, Y, X -->\n    <DataItem Format=\"XML\" Dimensions=\"3\">"
      << float(v.spacing[2]) << ' ' << float(v.spacing[1]) << ' ' << float(v.spacing[0]) << "</DataItem>\n"
      << "   </Geometry>\n";
    const auto attribute = [&](const char* name, const char* numberType) {
        x << "   <Attribute Name=\"" << name << "\" AttributeType=\"Scalar\" Center=\"Cell\">\n"
          << "    <DataItem Format=\"HDF\" Dimensions=\"" << d.nz << ' ' << d.ny << ' ' << d.nx << " 1\" NumberType=\""
          << numberType << "\" Precision=\"4\">\n     " << fileName << ':' << container << '/' << kCellData << '/'
          << name << "\n    </DataItem>\n   </Attribute>\n";
    };
    attribute(kPhases, "Int");
    if (v.hasField()) attribute(kField, "Float");
    x << "  </Grid>\n </Domain>\n</Xdmf>\n";
    return x.str();
}

// ---- reading ----------------------------------------------------------------

std::vector<double> smallNumbers(const H5::Group& group, const std::string& name, const std::string& where) {
    if (!group.nameExists(name)) throw Error(where + ": no " + name + " in the image geometry");
    H5::DataSet ds = group.openDataSet(name);
    const auto cls = ds.getTypeClass();
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || ds.getSpace().getSimpleExtentNpoints() != 3)
        throw Error(where + ": " + name + " must hold 3 numbers (x y z)");
    std::vector<double> values(3);
    ds.read(values.data(), H5::PredType::NATIVE_DOUBLE);
    return values;
}

struct ImageContainer {
    std::string path;  // "/DataContainers/NAME"
    H5::Group group;
    Dims dims;
    std::array<double, 3> spacing{1, 1, 1};
};

// The first data container with an image geometry.
ImageContainer findImageContainer(const H5::H5File& file, const std::string& where) {
    if (!file.nameExists(kContainers))
        throw Error(where + ": no /" + std::string(kContainers) + " group (not a DREAM.3D file)");
    H5::Group containers = file.openGroup(kContainers);
    for (hsize_t i = 0; i < containers.getNumObjs(); ++i) {
        if (containers.getObjTypeByIdx(i) != H5G_GROUP) continue;
        const std::string name = containers.getObjnameByIdx(i);
        H5::Group container = containers.openGroup(name);
        if (!container.nameExists(kGeometry)) continue;
        H5::Group geometry = container.openGroup(kGeometry);
        if (!geometry.nameExists("DIMENSIONS")) continue;
        ImageContainer c{"/" + std::string(kContainers) + "/" + printableExcerpt(name, 80), container, {}, {}};
        const std::string at = where + ":" + c.path + "/" + kGeometry;
        c.dims = detail::dimsFromNumbers(smallNumbers(geometry, "DIMENSIONS", at), at, "DIMENSIONS");
        if (geometry.nameExists("SPACING"))
            c.spacing = detail::spacingFromNumbers(smallNumbers(geometry, "SPACING", at), at, "SPACING");
        return c;
    }
    throw Error(where + ": no data container with an image geometry (" + kGeometry + "/DIMENSIONS)");
}

// The Phases array and the attribute matrix holding it: CellData, else the
// first matrix that has one.
struct PhaseArray {
    H5::Group matrix;
    H5::DataSet phases;
    std::string path;  // "/DataContainers/NAME/CellData/Phases"
};

PhaseArray findPhases(const ImageContainer& c, const std::string& where) {
    std::vector<std::string> matrices;
    if (c.group.nameExists(kCellData)) matrices.push_back(kCellData);
    for (hsize_t i = 0; i < c.group.getNumObjs(); ++i)
        if (c.group.getObjTypeByIdx(i) == H5G_GROUP) matrices.push_back(c.group.getObjnameByIdx(i));
    for (const auto& m : matrices) {
        H5::Group group = c.group.openGroup(m);
        if (!group.nameExists(kPhases) || group.childObjType(kPhases) != H5O_TYPE_DATASET) continue;
        return {group, group.openDataSet(kPhases), c.path + "/" + printableExcerpt(m, 80) + "/" + kPhases};
    }
    throw Error(where + ": no cell array " + kPhases + " in " + c.path +
                " (MicroStudio reads the phase labels from CellData/Phases)");
}

// [z][y][x] or [z][y][x][1], matching DIMENSIONS.
void checkCellShape(const std::vector<hsize_t>& shape, const Dims& d, const std::string& where) {
    const bool matches = (shape.size() == 3 || (shape.size() == 4 && shape[3] == 1)) && shape[0] == hsize_t(d.nz) &&
                         shape[1] == hsize_t(d.ny) && shape[2] == hsize_t(d.nx);
    if (!matches)
        throw Error(where + ": shape " + detail::shapeText(shape) + " does not match DIMENSIONS " + d.str() +
                    " (expected " + std::to_string(d.nz) + "x" + std::to_string(d.ny) + "x" + std::to_string(d.nx) +
                    "[x1], z first)");
}

void readPhases(const H5::DataSet& ds, const std::vector<hsize_t>& shape, Volume& v,
                const std::vector<double>& labelValues, const std::string& where) {
    auto& labels = v.labels();
    if (ds.attrExists(kOwnPhases) && labelValues.empty()) {
        detail::readValues(ds, shape, [&](std::size_t i, double x) {
            if (x != 1 && x != 2 && x != 3)
                throw Error(where + ": value " + detail::listText({x}) + " at voxel " + std::to_string(i) +
                            " is not a MicroStudio phase (" + kOwnPhasesText + ")");
            labels[i] = std::uint8_t(x == 1 ? Donor : x == 2 ? Acceptor : Mixed);
        });
        return;
    }
    detail::ValueLabeler labeler(where, labelValues, detail::ValueLabeler::Automatic::AscendingOnly);
    detail::readValues(ds, shape, [&](std::size_t i, double x) { labels[i] = labeler.indexOf(x, i); });
    labeler.finish(labels);
}

}  // namespace

fs::path xdmfSidecarPath(const fs::path& dream3d) {
    fs::path sidecar = dream3d;
    return sidecar.replace_extension(".xdmf");
}

void writeDream3d(const Volume& volume, const fs::path& path) {
    volume.validateLabels();
    detail::writeHdf5Atomically(path, volume.size() * (volume.hasField() ? 8 : 4),
                                [&](H5::H5File& file) { writeLayout(file, volume); });
    const std::string xdmf = xdmfText(volume, path.filename().string());
    const fs::path sidecar = xdmfSidecarPath(path);
    writeAtomically(sidecar, [&](const fs::path& tmp) {
        detail::writeImage(std::vector<char>(xdmf.begin(), xdmf.end()), tmp, sidecar);
    });
}

namespace detail {

Volume readDream3dFile(const H5::H5File& file, const fs::path& path, const std::vector<double>& labelValues,
                       const GrantMemory& grant) {
    const std::string where = path.string();
    const std::uintmax_t fileSize = requireRegularFile(path);
    const ImageContainer c = findImageContainer(file, where);
    const PhaseArray a = findPhases(c, where);
    const std::string at = where + ":" + a.path;
    const auto shape = shapeOf(a.phases);
    checkCellShape(shape, c.dims, at);
    checkedCount(a.phases, shape, fileSize, at, grant, kLabelVoxelShare);
    Volume v(c.dims);
    v.spacing = c.spacing;
    readPhases(a.phases, shape, v, labelValues, at);
    readVolumeAttributes(a.phases, v, at, kArrayAttributes);
    if (a.phases.attrExists(kOwnPhases) && a.matrix.nameExists(kField)) {
        const std::string fieldAt = at.substr(0, at.size() - std::string(kPhases).size()) + kField;
        const H5::DataSet fds = a.matrix.openDataSet(kField);
        checkCellShape(shapeOf(fds), c.dims, fieldAt);
        v.setField(readField(fds, v.size(), at, fileSize, fieldAt, grant));
    }
    v.text["source"] = path.string();
    return v;
}

FileClaim dream3dClaimOf(const H5::H5File& file, const fs::path& path, std::uintmax_t size) {
    FileClaim claim;
    claim.bytes = size;
    try {
        const ImageContainer c = findImageContainer(file, path.string());
        claim.dims = c.dims.str();
        claim.voxels = (long double)c.dims.nx * c.dims.ny * c.dims.nz;
        claim.what = "DREAM.3D image container " + c.path + ", DIMENSIONS " + c.dims.str();
        const PhaseArray a = findPhases(c, path.string());
        claim.what += "; " + a.path + ": shape " + shapeText(shapeOf(a.phases)) + ", " +
                      std::to_string(a.phases.getDataType().getSize()) + "-byte " +
                      (a.phases.getTypeClass() == H5T_INTEGER ? "integer" : "non-integer") + ", " +
                      std::to_string(H5Dget_storage_size(a.phases.getId())) + " bytes stored";
    } catch (const Error& e) {
        claim.what = std::string("not a readable DREAM.3D image: ") + e.what();
    }
    return claim;
}

}  // namespace detail

}  // namespace ms::io
