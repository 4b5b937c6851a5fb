#include "microstudio/io/hdf5.hpp"

#include <H5Cpp.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/progress.hpp"
#include "labels.hpp"
#include "microstudio/io/claim.hpp"
#include "microstudio/io/dream3d.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/io/limits.hpp"
#include "hdf5_internal.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace detail {

constexpr const char* kFieldGroup = "_fields";  // fields live beside, not among, the samples

std::string hdf5Reason(const H5::Exception& e) { return e.getDetailMsg(); }

H5::H5File openForRead(const fs::path& path) {
    SilenceHdf5 quiet;
    requireRegularFile(path);  // a FIFO would block HDF5's open
    try {
        if (!H5::H5File::isHdf5(path.string())) throw Error(path.string() + ": not an HDF5 file (or truncated)");
        return H5::H5File(path.string(), H5F_ACC_RDONLY);
    } catch (const H5::Exception& e) {
        throw Error(path.string() + ": cannot open HDF5 file (truncated or corrupt?): " + hdf5Reason(e));
    }
}

// Writing goes through HDF5's in-memory ("core") driver without a backing
// store: HDF5 itself never writes to disk, so a full disk cannot make its
// flush or close fail (libhdf5 1.10 crashes when that happens). The file
// image is then written by us, with every error checked.
H5::FileAccPropList inMemoryAccess(std::size_t increment) {
    H5::FileAccPropList fapl;
    fapl.setCore(std::clamp<std::size_t>(increment, 64 << 10, 64 << 20), false);
    return fapl;
}

std::vector<char> fileImage(H5::H5File& file) {
    file.flush(H5F_SCOPE_GLOBAL);
    const ssize_t size = H5Fget_file_image(file.getId(), nullptr, 0);
    if (size < 0) throw H5::FileIException("H5Fget_file_image", "cannot get the in-memory file image");
    std::vector<char> image(static_cast<std::size_t>(size));
    if (size > 0 && H5Fget_file_image(file.getId(), image.data(), std::size_t(size)) != size)
        throw H5::FileIException("H5Fget_file_image", "cannot copy the in-memory file image");
    return image;
}

// Writes bytes to target (a temp file of writeAtomically), reporting as path.
void writeImage(const std::vector<char>& image, const fs::path& target, const fs::path& path) {
    std::FILE* f = std::fopen(target.string().c_str(), "wb");
    if (!f) throw Error(path.string() + ": cannot open for writing: " + std::strerror(errno));
    const std::size_t written = image.empty() ? 0 : std::fwrite(image.data(), 1, image.size(), f);
    int err = written == image.size() ? 0 : (errno ? errno : EIO);
    if (std::fflush(f) != 0 && !err) err = errno ? errno : EIO;
    if (std::fclose(f) != 0 && !err) err = errno ? errno : EIO;
    if (err) throw Error(path.string() + ": write failed: " + std::strerror(err));
}

void writeScalarAttribute(H5::H5Object& obj, const std::string& name, double value) {
    H5::DataSpace scalar(H5S_SCALAR);
    auto attr = obj.createAttribute(name, H5::PredType::NATIVE_DOUBLE, scalar);
    attr.write(H5::PredType::NATIVE_DOUBLE, &value);
}

void writeTextAttribute(H5::H5Object& obj, const std::string& name, const std::string& value) {
    H5::StrType type(H5::PredType::C_S1, value.empty() ? 1 : value.size());
    H5::DataSpace scalar(H5S_SCALAR);
    auto attr = obj.createAttribute(name, type, scalar);
    attr.write(type, value.empty() ? std::string(" ") : value);
}

void writeVolumeAttributes(H5::H5Object& obj, const Volume& v) {
    for (const auto& [key, value] : v.attributes) {
        if (key == "dims" || key == "spacing") continue;
        writeScalarAttribute(obj, key, value);
    }
    for (const auto& [key, value] : v.text) {
        if (key == "sample" || key == "source" || v.attributes.count(key)) continue;
        writeTextAttribute(obj, key, value);
    }
}

void writeSample(H5::H5File& file, const std::string& name, const Volume& v) {
    v.validateLabels();
    const Dims& d = v.dims();
    hsize_t n = v.size();
    H5::DataSpace space(1, &n);
    H5::DSetCreatPropList props;
    hsize_t chunk = std::min<hsize_t>(n, 1 << 20);
    props.setChunk(1, &chunk);
    props.setDeflate(4);
    auto ds = file.createDataSet(name, H5::PredType::NATIVE_UINT8, space, props);
    ds.write(v.labels().data(), H5::PredType::NATIVE_UINT8);
    writeArrayAttribute<int>(ds, "dims", H5::PredType::NATIVE_INT, {d.nx, d.ny, d.nz});
    writeArrayAttribute<double>(ds, "spacing", H5::PredType::NATIVE_DOUBLE, {v.spacing[0], v.spacing[1], v.spacing[2]});
    writeVolumeAttributes(ds, v);
    if (v.hasField()) {
        H5::Group group = file.nameExists(kFieldGroup) ? file.openGroup(kFieldGroup) : file.createGroup(kFieldGroup);
        auto fds = group.createDataSet(name, H5::PredType::NATIVE_FLOAT, space, props);
        fds.write(v.field().data(), H5::PredType::NATIVE_FLOAT);
    }
}

std::string listText(const std::vector<double>& v) {
    std::ostringstream os;
    os.precision(6);
    os << '[';
    for (std::size_t i = 0; i < v.size() && i < 4; ++i) os << (i ? ", " : "") << v[i];
    if (v.size() > 4) os << ", ...";
    os << ']';
    return os.str();
}

std::string shapeText(const std::vector<hsize_t>& shape) {
    std::string s;
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
    return s.empty() ? "scalar" : s;
}

// An attribute's numbers; attributes are small (dims, spacing, descriptors).
std::vector<double> readNumbers(const H5::Attribute& attr, const std::string& where) {
    const hssize_t n = attr.getSpace().getSimpleExtentNpoints();
    if (n < 0 || n > 4096)
        throw Error(where + ": attribute " + printableExcerpt(attr.getName()) + " holds " + std::to_string(n) +
                    " values (at most 4096 expected)");
    std::vector<double> values(static_cast<std::size_t>(n));
    if (!values.empty()) attr.read(H5::PredType::NATIVE_DOUBLE, values.data());
    return values;
}

std::array<double, 3> spacingFromNumbers(const std::vector<double>& s, const std::string& where,
                                         const std::string& what) {
    if (s.size() != 3 || !std::all_of(s.begin(), s.end(), [](double x) { return std::isfinite(x) && x > 0; }))
        throw Error(where + ": bad " + what + " " + listText(s) + " (expected 3 positive numbers)");
    return {s[0], s[1], s[2]};
}

Dims dimsFromNumbers(const std::vector<double>& v, const std::string& where, const std::string& what) {
    if (v.size() < 2 || v.size() > 3)
        throw Error(where + ": " + what + " must hold 2 or 3 numbers, not " + listText(v));
    for (double x : v)
        if (!(x >= 1 && x <= 2147483647.0 && x == std::floor(x)))
            throw Error(where + ": bad " + what + " " + listText(v) + " (expected positive integers)");
    return Dims{int(v[0]), int(v[1]), v.size() == 3 ? int(v[2]) : 1};
}

std::vector<hsize_t> shapeOf(const H5::DataSet& ds) {
    auto space = ds.getSpace();
    const int rank = space.getSimpleExtentNdims();
    std::vector<hsize_t> shape(std::size_t(std::max(rank, 0)));
    if (rank > 0) space.getSimpleExtentDims(shape.data());
    return shape;
}

Dims dimsOf(const H5::DataSet& ds, const H5::H5File& file, const std::vector<hsize_t>& shape, std::size_t count,
            const std::string& where) {
    Dims d;
    if (ds.attrExists("dims")) {
        d = dimsFromNumbers(readNumbers(ds.openAttribute("dims"), where), where, "attribute dims");
    } else if (shape.size() == 3) {
        d = Dims{int(shape[2]), int(shape[1]), int(shape[0])};  // C order: last index fastest
    } else if (shape.size() == 2) {
        d = Dims{int(shape[1]), int(shape[0]), 1};
    } else if (file.attrExists("dims")) {
        d = dimsFromNumbers(readNumbers(file.openAttribute("dims"), where), where, "file attribute dims");
    } else {
        throw Error(where + ": flat dataset without a dims attribute (on the dataset or the file)");
    }
    if (d.nx <= 0 || d.ny <= 0 || d.nz <= 0) throw Error(where + ": bad dims " + d.str());
    if (d.count() != count)
        throw Error(where + ": dims " + d.str() + " need " + std::to_string(d.count()) + " values, dataset has " +
                    std::to_string(count));
    return d;
}

// What a dataset claims, checked against what the file holds before
// anything is allocated: a numeric type, the voxel cap, and stored bytes
// that can back the claim (a chunked dataset never written stores nothing;
// a compressed one expands at most kMaxDeflateRatio times; nothing can
// store more than the file's size).
std::size_t checkedCount(const H5::DataSet& ds, const std::vector<hsize_t>& shape, std::uintmax_t fileSize,
                         const std::string& where, const GrantMemory& grant, long double voxelShare) {
    const auto cls = ds.getTypeClass();
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) throw Error(where + ": dataset does not hold numbers");
    long double claimed = 1;
    for (hsize_t n : shape) claimed *= (long double)n;
    if (claimed == 0) throw Error(where + ": empty dataset");
    const std::string claim = "shape " + shapeText(shape);
    const std::size_t elementSize = ds.getDataType().getSize();
    const long double needBytes = claimed * elementSize;

    const hid_t dcpl = H5Dget_create_plist(ds.getId());
    if (dcpl < 0) throw Error(where + ": cannot read the dataset's storage layout (corrupt file?)");
    const H5D_layout_t layout = H5Pget_layout(dcpl);
    const int filters = layout == H5D_CHUNKED ? H5Pget_nfilters(dcpl) : 0;
    const int external = H5Pget_external_count(dcpl);
    H5Pclose(dcpl);
    if (layout < 0 || filters < 0 || external < 0)
        throw Error(where + ": cannot read the dataset's storage layout (corrupt file?)");
    if (external > 0) throw Error(where + ": data stored in external files is not supported");
    if (layout != H5D_COMPACT && layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED)
        throw Error(where + ": unsupported storage layout (virtual dataset?)");
    if (layout != H5D_COMPACT) {
        const hsize_t stored = H5Dget_storage_size(ds.getId());
        if (stored == 0) throw Error(where + ": claims " + claim + " but no data was ever written (0 bytes stored)");
        if (stored > fileSize)
            throw Error(where + ": truncated: claims " + std::to_string(stored) + " bytes stored, the file has " +
                        std::to_string(fileSize));
        const long double canHold = filters > 0 ? (long double)stored * kMaxDeflateRatio : (long double)stored;
        if (needBytes > canHold)
            throw Error(where + ": claims " + claim + " (" + countText(needBytes) + " bytes) but stores only " +
                        std::to_string(stored) + " bytes" + (filters > 0 ? " compressed" : "") +
                        " (truncated, or never fully written)");
    }
    checkVoxelClaim(where, claim, claimed);
    grant(claimed * voxelShare);
    return std::size_t(claimed);
}

void readVolumeAttributes(const H5::DataSet& ds, Volume& v, const std::string& where,
                          const std::vector<std::string>& skip) {
    const int attributes = ds.getNumAttrs();
    for (int i = 0; i < attributes; ++i) {
        H5::Attribute attr = ds.openAttribute(unsigned(i));
        const std::string key = attr.getName();
        const auto cls = attr.getTypeClass();
        if (key == "dims" || std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
        if (key == "spacing") {
            auto s = readNumbers(attr, where);
            if (s.size() == 3) v.spacing = spacingFromNumbers(s, where, "attribute spacing");
        } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
            auto values = readNumbers(attr, where);
            if (values.size() == 1) {
                if (std::isnan(values[0])) throw Error(where + ": attribute " + printableExcerpt(key) + " is NaN");
                v.attributes[key] = values[0];
            }
        } else if (cls == H5T_STRING) {
            std::string text;
            attr.read(attr.getStrType(), text);
            v.text[key] = text;
        }
    }
}

std::vector<float> readField(const H5::DataSet& ds, std::size_t count, const std::string& labelsWhere,
                             std::uintmax_t fileSize, const std::string& where, const GrantMemory& grant) {
    const auto shape = shapeOf(ds);
    if (checkedCount(ds, shape, fileSize, where, grant, kFieldVoxelShare) != count)
        throw Error(labelsWhere + ": field size differs from the labels");
    std::vector<float> field(count);
    readValues(ds, shape, [&](std::size_t i, double x) {
        if (!std::isfinite(x)) throw Error(where + ": NaN or infinite value at voxel " + std::to_string(i));
        field[i] = float(x);
    });
    return field;
}

Volume readSample(const H5::H5File& file, const fs::path& path, const std::string& name, const GrantMemory& grant) {
    const std::string where = path.string() + ":/" + printableExcerpt(name, 80);
    const std::uintmax_t fileSize = requireRegularFile(path);
    H5::DataSet ds = file.openDataSet(name);
    const auto shape = shapeOf(ds);
    const std::size_t count = checkedCount(ds, shape, fileSize, where, grant, kLabelVoxelShare);
    Volume v(dimsOf(ds, file, shape, count, where));
    auto& labels = v.labels();
    readValues(ds, shape, [&](std::size_t i, double x) { labels[i] = detail::phaseOfValue(x, where, i); });
    readVolumeAttributes(ds, v, where, {});
    if (file.nameExists(kFieldGroup)) {
        H5::Group group = file.openGroup(kFieldGroup);
        if (group.nameExists(name)) {
            const std::string fieldWhere = path.string() + ":/" + kFieldGroup + "/" + printableExcerpt(name, 80);
            v.setField(readField(group.openDataSet(name), count, where, fileSize, fieldWhere, grant));
        }
    }
    v.text["sample"] = name;
    v.text["source"] = path.string();
    return v;
}

std::string sampleName(const Volume& v, std::size_t index) {
    auto it = v.text.find("sample");
    if (it != v.text.end() && !it->second.empty() && it->second.find('/') == std::string::npos &&
        it->second != kFieldGroup)
        return it->second;
    char buf[32];
    std::snprintf(buf, sizeof buf, "sample_%06zu", index);
    return buf;
}

}  // namespace detail

using namespace detail;  // the helpers above, shared with dream3d.cpp

// ---- Reading untrusted files in a child process ----
//
// libhdf5 1.10 crashes (SIGSEGV in its B-tree and object-header code, a
// realloc of a negative size, a 1 TB malloc) on malformed files the fuzzer
// makes in seconds, below anything we can check first. So every read runs
// in a reader process forked from this one: it does the whole read and
// sends the result (or the ms::Error's line) back over a socket; this
// process rebuilds the volumes from it. A reader that dies makes a one-line
// error naming the file, and the next read starts a new one; this process
// never runs libhdf5 on a file's bytes (MICROSTUDIO_HDF5_IN_PROCESS=1 does).

namespace {

std::atomic<int> g_isolation{-1};  // -1: from the environment

bool isolationOn() {
    int v = g_isolation.load();
    if (v < 0) {
        const char* env = std::getenv("MICROSTUDIO_HDF5_IN_PROCESS");
        v = (env && *env && std::string(env) != "0") ? 0 : 1;
        g_isolation.store(v);
    }
    return v == 1;
}

// Little-endian, length-prefixed: only ever read back by the same binary.
class Encoder {
public:
    std::string out;
    void u64(std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
    void f64(double v) { out.append(reinterpret_cast<const char*>(&v), 8); }
    void str(const std::string& s) {
        u64(s.size());
        out += s;
    }
    void volume(const Volume& v) {
        u64(std::uint64_t(v.dims().nx));
        u64(std::uint64_t(v.dims().ny));
        u64(std::uint64_t(v.dims().nz));
        for (double x : v.spacing) f64(x);
        out.append(reinterpret_cast<const char*>(v.labels().data()), v.labels().size());
        u64(v.hasField() ? 1 : 0);
        if (v.hasField()) out.append(reinterpret_cast<const char*>(v.field().data()), v.field().size() * sizeof(float));
        u64(v.attributes.size());
        for (const auto& [k, x] : v.attributes) {
            str(k);
            f64(x);
        }
        u64(v.text.size());
        for (const auto& [k, t] : v.text) {
            str(k);
            str(t);
        }
    }
};

class Decoder {
public:
    Decoder(const char* data, std::size_t size, std::string where) : p_(data), n_(size), where_(std::move(where)) {}
    const char* take(std::size_t bytes) {
        if (bytes > n_ - at_) throw Error(where_ + ": the HDF5 reader process returned a truncated result");
        const char* r = p_ + at_;
        at_ += bytes;
        return r;
    }
    std::uint64_t u64() {
        std::uint64_t v;
        std::memcpy(&v, take(8), 8);
        return v;
    }
    double f64() {
        double v;
        std::memcpy(&v, take(8), 8);
        return v;
    }
    std::string str() {
        const std::uint64_t len = u64();
        return std::string(take(std::size_t(len)), std::size_t(len));
    }
    Volume volume() {
        Dims d;
        d.nx = int(u64());
        d.ny = int(u64());
        d.nz = int(u64());
        Volume v(d);
        for (double& x : v.spacing) x = f64();
        std::memcpy(v.labels().data(), take(v.size()), v.size());
        if (u64()) {
            std::vector<float> f(v.size());
            std::memcpy(f.data(), take(f.size() * sizeof(float)), f.size() * sizeof(float));
            v.setField(std::move(f));
        }
        for (std::uint64_t n = u64(); n > 0; --n) {
            std::string k = str();
            v.attributes[k] = f64();
        }
        for (std::uint64_t n = u64(); n > 0; --n) {
            std::string k = str();
            v.text[k] = str();
        }
        return v;
    }

private:
    const char* p_;
    std::size_t n_, at_ = 0;
    std::string where_;
};

// Sends or receives exactly `size` bytes on a socket (no SIGPIPE).
bool sendAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t w = ::send(fd, data, size, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        data += w;
        size -= std::size_t(w);
    }
    return true;
}

bool recvAll(int fd, char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t r = ::recv(fd, data, size, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        data += r;
        size -= std::size_t(r);
    }
    return true;
}

// The reader's "still reading" message: 'P' + the datasets begun (u64); a
// reply starts with V or E.
constexpr char kProgressBeat = 'P';

bool sendMessage(int fd, const std::string& m) {
    const std::uint64_t n = m.size();
    return sendAll(fd, reinterpret_cast<const char*>(&n), 8) && sendAll(fd, m.data(), m.size());
}

bool recvMessage(int fd, std::string& m) {
    std::uint64_t n = 0;
    if (!recvAll(fd, reinterpret_cast<char*>(&n), 8)) return false;
    if (n > (std::uint64_t(1) << 40)) return false;
    m.resize(std::size_t(n));
    return recvAll(fd, m.data(), m.size());
}

// A point in time a reply must have come by.
struct Deadline {
    explicit Deadline(double s)
        : seconds(s),
          at(std::chrono::steady_clock::now() +
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s))) {}
    // Milliseconds left for poll(), at least 0.
    int msLeft() const {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at - std::chrono::steady_clock::now());
        return int(std::clamp<long long>(left.count(), 0, 1 << 30));
    }
    double seconds;
    std::chrono::steady_clock::time_point at;
};

// recvAll that gives up at the deadline (late = true).
bool recvAllBy(int fd, char* data, std::size_t size, const Deadline& deadline, bool& late) {
    while (size > 0) {
        struct pollfd p {
            fd, POLLIN, 0
        };
        const int ready = ::poll(&p, 1, deadline.msLeft());
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
            late = true;
            return false;
        }
        const ssize_t r = ::recv(fd, data, size, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) return false;
        data += r;
        size -= std::size_t(r);
    }
    return true;
}

bool recvMessage(int fd, std::string& m, const Deadline& deadline, bool& late) {
    std::uint64_t n = 0;
    if (!recvAllBy(fd, reinterpret_cast<char*>(&n), 8, deadline, late)) return false;
    if (n > (std::uint64_t(1) << 40)) return false;
    m.resize(std::size_t(n));
    return recvAllBy(fd, m.data(), m.size(), deadline, late);
}

// What a reader asks for; served by serve() in the helper (or in process).
enum class Op : std::uint8_t { Names = 1, RequireSamples, Claim, Sample, All, Dream3d, Dream3dClaim };

// One pass over the root's links in name order (the file order the
// by-index calls give): each by-index call walks the group again, so a file
// of 16,000 samples took over a second to list, quadratically more for more.
herr_t collectDataset(hid_t group, const char* name, const H5L_info_t* link, void* names) {
    if (link->type != H5L_TYPE_HARD) return 0;
    H5O_info_t object;
    if (H5Oget_info_by_name2(group, name, &object, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;  // the type only
    if (object.type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(names)->push_back(name);
    return 0;
}

std::vector<std::string> sampleNamesOf(const H5::H5File& file) {
    std::vector<std::string> names;
    hsize_t index = 0;
    if (H5Literate(file.getId(), H5_INDEX_NAME, H5_ITER_INC, &index, collectDataset, &names) < 0)
        throw H5::GroupIException("sampleNamesOf", "cannot list the root group's objects");
    return names;
}

void encodeNames(Encoder& e, const std::vector<std::string>& names) {
    e.u64(names.size());
    for (const auto& n : names) e.str(n);
}

std::vector<std::string> decodeNames(Decoder& d) {
    std::vector<std::string> names;
    for (std::uint64_t n = d.u64(); n > 0; --n) names.push_back(d.str());
    return names;
}

FileClaim claimOf(const H5::H5File& file, const fs::path& path, std::uintmax_t size) {
    FileClaim c;
    c.bytes = size;
    const auto names = sampleNamesOf(file);
    if (names.empty()) {
        c.what = "no sample datasets, " + std::to_string(file.getNumObjs()) + " other objects at the root";
        return c;
    }
    H5::DataSet ds = file.openDataSet(names[0]);
    const auto shape = shapeOf(ds);
    const auto cls = ds.getTypeClass();
    const std::string type = (cls == H5T_INTEGER ? "integer"
                              : cls == H5T_FLOAT ? "float"
                                                 : "non-numeric") +
                             std::string(" ") + std::to_string(ds.getDataType().getSize()) + "-byte";
    const hsize_t stored = H5Dget_storage_size(ds.getId());
    c.what = std::to_string(names.size()) + " sample dataset" + (names.size() == 1 ? "" : "s") + ", the first '/" +
             printableExcerpt(names[0]) + "': shape " + shapeText(shape) + ", " + type + ", " + std::to_string(stored) +
             " bytes stored";
    long double voxels = 1;
    for (hsize_t d : shape) voxels *= (long double)d;
    c.voxels = voxels;
    c.dims = shapeText(shape);
    if (shape.size() == 2 || shape.size() == 3) {
        std::vector<hsize_t> reversed(shape.rbegin(), shape.rend());  // C order: x is the last index
        c.dims = shapeText(reversed);
    }
    try {
        if (ds.attrExists("dims")) {
            const Dims d = dimsFromNumbers(readNumbers(ds.openAttribute("dims"), ""), "", "dims");
            c.dims = d.str();
            c.what += ", attribute dims " + d.str();
        }
    } catch (const Error&) {
        c.what += ", a bad dims attribute";
    }
    return c;
}

void encodeClaim(Encoder& e, const FileClaim& c) {
    e.str(c.what);
    e.str(c.dims);
    e.f64(double(c.voxels));
    e.u64(c.bytes);
}

// Does one request with libhdf5 in this process: "V" + the encoded result,
// or "E" + the error's line.
// `listed` learns how many samples a whole-file read (Op::All) will read.
std::string serve(Op op, const fs::path& path, const std::string& name, const GrantMemory& grant,
                  const std::function<void(std::size_t)>& listed = {}) {
    try {
        Encoder e;
        e.out = "V";
        const std::uintmax_t size = requireRegularFile(path);
        H5::H5File file = openForRead(path);
        guarded(path, [&] {
            switch (op) {
                case Op::Names:
                    encodeNames(e, sampleNamesOf(file));
                    break;
                case Op::RequireSamples: {
                    const auto names = sampleNamesOf(file);
                    if (names.empty()) {
                        std::string groups;
                        const hsize_t n = file.getNumObjs();
                        for (hsize_t i = 0; i < n && i < 5; ++i)
                            if (file.getObjTypeByIdx(i) == H5G_GROUP)
                                groups += (groups.empty() ? "" : ", ") + printableExcerpt(file.getObjnameByIdx(i), 30);
                        throw Error(path.string() + ": no sample datasets in this HDF5 file" +
                                    (groups.empty()
                                         ? std::string(" (it is empty)")
                                         : " (only groups: " + groups + "; samples must be datasets at the root)"));
                    }
                    encodeNames(e, names);
                    break;
                }
                case Op::Claim:
                    encodeClaim(e, claimOf(file, path, size));
                    break;
                case Op::Sample:
                    if (!file.nameExists(name)) throw Error(path.string() + ": no sample named '" + name + "'");
                    e.volume(readSample(file, path, name, grant));
                    break;
                case Op::All: {
                    const auto names = sampleNamesOf(file);
                    if (listed) listed(names.size());
                    e.u64(names.size());
                    for (const auto& n : names) e.volume(readSample(file, path, n, grant));  // one sample at a time
                    break;
                }
                case Op::Dream3d:  // `name` carries the --labels values ("" = automatic)
                    e.volume(readDream3dFile(file, path, name.empty() ? std::vector<double>{} : parseLabelValues(name),
                                             grant));
                    break;
                case Op::Dream3dClaim:
                    encodeClaim(e, dream3dClaimOf(file, path, size));
                    break;
            }
            return 0;
        });
        return std::move(e.out);
    } catch (const std::bad_alloc&) {
        return "E" + path.string() + ": " + kOutOfMemory;
    } catch (const std::exception& ex) {
        return std::string("E") + ex.what();
    } catch (...) {
        return "E" + path.string() + ": unknown error reading the HDF5 file";
    }
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCapAddressSpace = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kCapAddressSpace = false;
#else
constexpr bool kCapAddressSpace = true;
#endif
#else
constexpr bool kCapAddressSpace = true;
#endif

// The reader process's memory cap for one request (RLIMIT_AS, soft): its
// address space at the request's start plus a headroom (libhdf5's caches,
// metadata, our slab buffer), raised by what each checked dataset may need.
// So a claim libhdf5 acts on before our checks see it (a huge allocation
// inside the library) fails there instead of taking the machine's memory.
// Not under AddressSanitizer, which reserves terabytes of address space.
class AddressSpaceCap {
public:
    explicit AddressSpaceCap(std::uint64_t headroom) {
        if (!kCapAddressSpace) return;
        struct rlimit current {};
        if (::getrlimit(RLIMIT_AS, &current) != 0) return;
        hard_ = current.rlim_max;
        base_ = addressSpaceNow();
        if (base_ == 0) return;
        allowance_ = (long double)headroom;
        active_ = apply();
    }
    ~AddressSpaceCap() {
        if (!active_) return;
        struct rlimit lifted {
            hard_, hard_
        };
        ::setrlimit(RLIMIT_AS, &lifted);
    }
    AddressSpaceCap(const AddressSpaceCap&) = delete;
    AddressSpaceCap& operator=(const AddressSpaceCap&) = delete;

    void grant(long double bytes) {
        if (!active_) return;
        allowance_ += bytes;
        apply();
    }
    bool active() const { return active_; }
    long long limitMB() const { return (long long)(allowance_ / (1 << 20)); }

private:
    static std::uint64_t addressSpaceNow() {
        std::FILE* statm = std::fopen("/proc/self/statm", "r");
        if (!statm) return 0;
        unsigned long long pages = 0;
        const int got = std::fscanf(statm, "%llu", &pages);
        std::fclose(statm);
        return got == 1 ? pages * std::uint64_t(::sysconf(_SC_PAGESIZE)) : 0;
    }
    bool apply() {
        const long double want = (long double)base_ + allowance_;
        rlim_t soft = want >= (long double)hard_ ? hard_ : rlim_t(want);
        struct rlimit cap {
            soft, hard_
        };
        return ::setrlimit(RLIMIT_AS, &cap) == 0;
    }

    std::uint64_t base_ = 0;
    rlim_t hard_ = RLIM_INFINITY;
    long double allowance_ = 0;
    bool active_ = false;
};

// The reader process: forked once, at the first read (and again after it
// died), serving one request at a time over a socket. Forked afresh for
// every read, a large multithreaded process (a dataset merge reads
// thousands of samples) spent more time forking than reading.
// Set by setHdf5ReaderLimits; read by every request.
struct ReaderLimitsState {
    std::atomic<double> seconds{0};
    std::atomic<std::uint64_t> headroomBytes{Hdf5ReaderLimits{}.headroomBytes};
    std::atomic<double> bytesPerVoxel{Hdf5ReaderLimits{}.bytesPerVoxel};
};
ReaderLimitsState g_readerLimits;

// How long one read may take: the set limit, else MICROSTUDIO_HDF5_TIMEOUT,
// else 60 s plus 1 s per 20 MB of file (a slow disk, a large compressed file).
double readTimeoutSeconds(const fs::path& path) {
    if (const double set = g_readerLimits.seconds.load(); set > 0) return set;
    if (const char* env = std::getenv("MICROSTUDIO_HDF5_TIMEOUT")) {
        char* end = nullptr;
        const double s = std::strtod(env, &end);
        if (end != env && *end == 0 && std::isfinite(s) && s > 0) return s;
    }
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    return 60.0 + (ec ? 0.0 : double(size) / (20.0 * (1 << 20)));
}

std::string numberText(double s) {
    std::ostringstream out;
    out << s;
    return out.str();
}

struct Helper {
    pid_t pid = -1;
    int fd = -1;
    pid_t owner = -1;  // the process that started it (a fork of ours must start its own)
};
std::mutex g_helperMutex;
Helper g_helper;

// Beside its voxels, each dataset read costs the reader about 12 KB (the
// sample's maps and strings, its copy in the reply, libhdf5's object
// header): measured on 16,000 samples of 16x16x8, which the voxels' share
// alone failed after 2,905. Allowed per dataset that passed its checks.
constexpr long double kDatasetOverheadBytes = 16 << 10;

// While the reader works through a file's datasets it tells the caller so,
// at most every quarter of the time limit (and at least every second): the
// limit is on a read that stops moving (a hang in libhdf5), not on a large
// file read on a busy machine (16,000 images took more than the limit's 70 s).
class ProgressBeat {
public:
    ProgressBeat(int fd, double limitSeconds)
        : fd_(fd),
          every_(std::chrono::duration<double>(std::min(1.0, limitSeconds / 4))),
          last_(std::chrono::steady_clock::now()) {}
    void datasetsListed(std::size_t total) { total_ = total; }
    void datasetStarted() {
        ++begun_;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_ < every_) return;
        last_ = now;
        std::string beat(1 + 2 * sizeof begun_, kProgressBeat);
        std::memcpy(beat.data() + 1, &begun_, sizeof begun_);
        std::memcpy(beat.data() + 1 + sizeof begun_, &total_, sizeof total_);
        sendMessage(fd_, beat);
    }

private:
    int fd_;
    std::uint64_t begun_ = 0, total_ = 0;  // total_: 0 where the request is not a whole file's
    std::chrono::duration<double> every_;
    std::chrono::steady_clock::time_point last_;
};

// A reader whose parent is gone (killed mid-read of a large file, or while
// a fork of the parent holds the socket open) would read on for nobody: it
// leaves within a quarter second of its parent.
void leaveWithParent(pid_t parent) {
    std::thread([parent] {
        while (::getppid() == parent) std::this_thread::sleep_for(std::chrono::milliseconds(250));
        ::_exit(0);
    }).detach();
}

[[noreturn]] void helperMain(int fd, pid_t parent) {
    // Quiet (a crash in libhdf5 must not print), no core file, nothing of the
    // parent's open files (a lock, a pipe a caller waits on), and a crash
    // ends it by the signal (not by a sanitizer's report).
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        for (int std = 0; std < 3; ++std) ::dup2(devnull, std);
        if (devnull > 2) ::close(devnull);
    }
    if (fd > 3) ::close_range(3, unsigned(fd) - 1, 0);
    ::close_range(unsigned(fd) + 1, ~0U, 0);
    ::setenv("LIBC_FATAL_STDERR_", "1", 1);
    struct rlimit noCore {
        0, 0
    };
    ::setrlimit(RLIMIT_CORE, &noCore);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        ::sigaction(sig, &dfl, nullptr);
    }
    for (int sig : {SIGINT, SIGTERM, SIGPIPE}) ::signal(sig, SIG_IGN);  // it ends when its socket closes
    leaveWithParent(parent);
    std::string request;
    while (recvMessage(fd, request)) {
        Decoder d(request.data(), request.size(), "request");
        std::string result;
        try {
            const Op op = Op(d.u64());
            setMaxVoxels(d.u64());
            const std::uint64_t headroom = d.u64();
            const double bytesPerVoxel = d.f64();
            const fs::path path = d.str();
            const std::string name = d.str();
            ProgressBeat beat(fd, d.f64());
            AddressSpaceCap cap(headroom);
            result = serve(
                op, path, name,
                [&](long double voxels) {
                    cap.grant(voxels * bytesPerVoxel + kDatasetOverheadBytes);
                    beat.datasetStarted();
                },
                [&](std::size_t total) { beat.datasetsListed(total); });
            if (cap.active() && result[0] == 'E' && result.size() > std::strlen(kOutOfMemory) &&
                result.compare(result.size() - std::strlen(kOutOfMemory), std::string::npos, kOutOfMemory) == 0)
                result += " within the HDF5 reader's memory limit (" + std::to_string(cap.limitMB()) +
                          " MB: its headroom plus " + numberText(bytesPerVoxel) + " bytes per checked voxel and " +
                          std::to_string(int(kDatasetOverheadBytes) >> 10) + " KB per dataset); refused";
        } catch (const std::exception& ex) {
            result = std::string("E") + ex.what();
        }
        if (!sendMessage(fd, result)) break;
        result = std::string();
        ::malloc_trim(0);  // give a large volume's memory back
    }
    ::_exit(0);
}

void stopHelper() {
    if (g_helper.fd >= 0) ::close(g_helper.fd);
    if (g_helper.pid > 0 && g_helper.owner == ::getpid()) {
        ::kill(g_helper.pid, SIGKILL);
        while (::waitpid(g_helper.pid, nullptr, 0) < 0 && errno == EINTR) {}
    }
    g_helper = Helper{};
}

void startHelper(const fs::path& path) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        throw Error(path.string() + ": cannot start the HDF5 reader process: " + std::strerror(errno));
    std::fflush(nullptr);  // nothing buffered is written twice
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        ::close(sv[0]);
        ::close(sv[1]);
        throw Error(path.string() + ": cannot start the HDF5 reader process: " + std::strerror(err));
    }
    if (pid == 0) {
        ::close(sv[0]);
        helperMain(sv[1], parent);
    }
    ::close(sv[1]);
    g_helper = Helper{pid, sv[0], ::getpid()};
}

// A helper started by the process we were forked from is not ours to use.
void forgetInheritedHelper() {
    if (g_helper.owner == ::getpid()) return;
    if (g_helper.fd >= 0) ::close(g_helper.fd);
    g_helper = Helper{};
}

// Waits until a message begins to arrive (true), the deadline passes (late)
// or `progress` is cancelled (the reader, mid-read, is stopped: ms::Cancelled).
bool waitForMessage(int fd, const Deadline& deadline, ProgressToken* progress, bool& late) {
    for (;;) {
        if (progress && progress->cancelled()) {
            stopHelper();
            throw Cancelled();
        }
        struct pollfd p {
            fd, POLLIN, 0
        };
        const int ready = ::poll(&p, 1, std::min(deadline.msLeft(), 250));
        if (ready > 0) return true;
        if (ready < 0 && errno != EINTR) return false;
        if (deadline.msLeft() == 0) {
            late = true;
            return false;
        }
    }
}

// A beat's datasets begun, as a fraction of the file's samples (which the
// beat carries: 0 where the request reads one sample).
void reportBeat(const std::string& beat, const fs::path& path, ProgressToken* progress) {
    std::uint64_t begun = 0, total = 0;
    if (!progress || beat.size() != 1 + sizeof begun + sizeof total) return;
    std::memcpy(&begun, beat.data() + 1, sizeof begun);
    std::memcpy(&total, beat.data() + 1 + sizeof begun, sizeof total);
    if (total > 0)
        progress->report(std::min(1.0, double(begun) / double(total)), readingSamplesMessage(path, begun, total));
}

// The helper's answer to one request; a helper that dies while reading is
// a crash of libhdf5 on this file (one that was already gone is restarted).
// `progress`: see readHdf5.
std::string askHelper(Op op, const fs::path& path, const std::string& name, ProgressToken* progress = nullptr) {
    std::lock_guard<std::mutex> lock(g_helperMutex);
    forgetInheritedHelper();
    Encoder request;
    request.u64(std::uint64_t(op));
    request.u64(maxVoxels());
    request.u64(g_readerLimits.headroomBytes.load());
    request.f64(g_readerLimits.bytesPerVoxel.load());
    request.str(path.string());
    request.str(name);
    const double limit = readTimeoutSeconds(path);
    request.f64(limit);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (g_helper.pid < 0) startHelper(path);
        std::string result;
        const bool sent = sendMessage(g_helper.fd, request.out);
        bool late = false;
        while (sent && waitForMessage(g_helper.fd, Deadline(limit), progress, late) &&
               recvMessage(g_helper.fd, result, Deadline(limit), late)) {
            if (result.empty() || result[0] != kProgressBeat) return result;
            try {  // the read moves: the limit starts again
                reportBeat(result, path, progress);
            } catch (...) {  // cancelled (or the listener failed) mid-read: its reply must never reach a later read
                stopHelper();
                throw;
            }
        }
        if (late) {
            stopHelper();  // killed mid-read: the next read starts a new one
            throw Error(path.string() + ": the HDF5 reader made no progress for " + numberText(limit) +
                        " s reading it (libhdf5 hangs on this file?); refused (MICROSTUDIO_HDF5_TIMEOUT=SECONDS "
                        "allows longer)");
        }
        // It died. While reading this file, or before (then try a new one once).
        ::close(g_helper.fd);
        int status = 0;
        pid_t waited;
        while ((waited = ::waitpid(g_helper.pid, &status, 0)) < 0 && errno == EINTR) {}
        g_helper = Helper{};
        if (!sent) continue;
        if (waited > 0 && WIFSIGNALED(status)) {
            const int sig = WTERMSIG(status);
            throw Error(path.string() + ": corrupt HDF5 file: libhdf5 crashed reading it (signal " +
                        std::to_string(sig) + ", " + strsignal(sig) + "); refused");
        }
        throw Error(
            path.string() + ": the HDF5 reader process failed" +
            (waited > 0 && WIFEXITED(status) ? " (exit " + std::to_string(WEXITSTATUS(status)) + ")" : std::string()) +
            " reading it; refused");
    }
    throw Error(path.string() + ": cannot start the HDF5 reader process");
}

template <typename Decode>
auto isolated(Op op, const fs::path& path, const std::string& name, Decode&& decode,
              ProgressToken* progress = nullptr) {
    std::string result;
    if (isolationOn()) {
        requireRegularFile(path);  // a FIFO, a folder, a missing file: said here, at once
        result = askHelper(op, path, name, progress);
    } else {
        result = serve(op, path, name, [](long double) {});
    }
    if (result.empty() || (result[0] != 'V' && result[0] != 'E'))
        throw Error(path.string() + ": the HDF5 reader process returned garbage");
    if (result[0] == 'E') throw Error(result.substr(1));
    Decoder d(result.data() + 1, result.size() - 1, path.string());
    return decode(d);
}

}  // namespace

void setHdf5ReadIsolation(bool on) { g_isolation.store(on ? 1 : 0); }

void setHdf5ReaderLimits(const Hdf5ReaderLimits& limits) {
    g_readerLimits.seconds.store(limits.seconds);
    g_readerLimits.headroomBytes.store(limits.headroomBytes);
    g_readerLimits.bytesPerVoxel.store(limits.bytesPerVoxel);
}

bool hdf5ReaderCapsMemory() { return kCapAddressSpace && isolationOn(); }

void startHdf5Reader() {
    if (!isolationOn()) return;
    std::lock_guard<std::mutex> lock(g_helperMutex);
    forgetInheritedHelper();
    if (g_helper.pid < 0) startHelper("HDF5 reader");
}

std::vector<std::string> hdf5SampleNames(const fs::path& path) { return isolated(Op::Names, path, "", decodeNames); }

std::vector<std::string> hdf5RequireSamples(const fs::path& path) {
    return isolated(Op::RequireSamples, path, "", decodeNames);
}

namespace {
FileClaim decodeClaim(Decoder& d) {
    FileClaim c;
    c.what = d.str();
    c.dims = d.str();
    c.voxels = d.f64();
    c.bytes = d.u64();
    return c;
}
}  // namespace

FileClaim hdf5Claim(const fs::path& path) { return isolated(Op::Claim, path, "", decodeClaim); }

FileClaim dream3dClaim(const fs::path& path) { return isolated(Op::Dream3dClaim, path, "", decodeClaim); }

Volume readDream3d(const fs::path& path, const std::vector<double>& labelValues) {
    std::string values;  // exact, as parseLabelValues reads them back in the reader
    for (double v : labelValues) values += (values.empty() ? "" : ",") + exactNumber(v);
    return isolated(Op::Dream3d, path, values, [](Decoder& d) { return d.volume(); });
}

Volume readHdf5Sample(const fs::path& path, const std::string& name) {
    return isolated(Op::Sample, path, name, [](Decoder& d) { return d.volume(); });
}

std::string readingSamplesMessage(const fs::path& path, std::size_t done, std::size_t total) {
    return "reading " + path.filename().string() + ": " + std::to_string(done) + " of " + std::to_string(total) +
           " samples";
}

std::vector<Volume> readHdf5(const fs::path& path, ProgressToken* progress) {
    auto volumes = isolated(
        Op::All, path, "",
        [](Decoder& d) {
            std::vector<Volume> out;
            for (std::uint64_t n = d.u64(); n > 0; --n) out.push_back(d.volume());
            return out;
        },
        progress);
    if (progress)
        progress->report(1.0, "read " + path.filename().string() + ": " + std::to_string(volumes.size()) + " samples");
    return volumes;
}

namespace detail {

void writeHdf5Atomically(const fs::path& path, std::size_t rawBytes, const std::function<void(H5::H5File&)>& build) {
    writeAtomically(path, [&](const fs::path& tmp) {
        const std::vector<char> image = guarded(path, [&] {
            H5::H5File file(tmp.string(), H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, inMemoryAccess(rawBytes / 4));
            build(file);
            auto bytes = fileImage(file);
            file.close();
            return bytes;
        });
        writeImage(image, tmp, path);
    });
}

}  // namespace detail

void writeHdf5(const std::vector<Volume>& samples, const fs::path& path) {
    std::size_t raw = 0;
    for (const auto& v : samples) raw += v.size() * (v.hasField() ? 5 : 1);
    writeHdf5Atomically(path, raw, [&](H5::H5File& file) {
        std::set<std::string> used;
        for (std::size_t i = 0; i < samples.size(); ++i) {
            std::string name = sampleName(samples[i], i);
            if (!used.insert(name).second) throw Error(path.string() + ": duplicate sample name '" + name + "'");
            writeSample(file, name, samples[i]);
        }
    });
}

// The file lives in memory (core driver, no backing store); flush() and
// close() write its image atomically to the path.
struct Hdf5Appender::Impl {
    fs::path path, shownPath;
    std::optional<H5::H5File> handle;
    bool dirty = false;
    int uncaught = 0;
    H5::H5File& file() {
        if (!handle) throw Error(path.string() + ": HDF5 appender used after close()");
        return *handle;
    }
    void save() {
        const std::vector<char> image = guarded(shownPath, [&] { return fileImage(file()); });
        writeAtomically(path, [&](const fs::path& tmp) { writeImage(image, tmp, shownPath); });
        dirty = false;
    }
    void closeQuietly() noexcept {
        SilenceHdf5 quiet;
        try {
            if (handle) handle->close();
        } catch (...) {}
        handle.reset();
    }
};

Hdf5Appender::Hdf5Appender(const fs::path& path, bool truncate) : impl_(std::make_unique<Impl>()) {
    impl_->path = path;
    impl_->shownPath = atomicWriteTarget(path);  // errors name the caller's destination, not its temp file
    impl_->uncaught = std::uncaught_exceptions();
    std::error_code ec;
    const bool existing = !truncate && fs::exists(path, ec);
    if (existing) requireRegularFile(path);
    guarded(path, [&] {
        // Opening an existing file with the core driver loads it into memory.
        impl_->handle.emplace(path.string(), existing ? H5F_ACC_RDWR : H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT,
                              inMemoryAccess(4 << 20));
        return 0;
    });
    impl_->dirty = !existing;
}

Hdf5Appender::~Hdf5Appender() noexcept(false) {
    if (!impl_ || !impl_->handle) return;
    if (!impl_->dirty || std::uncaught_exceptions() > impl_->uncaught) {
        impl_->closeQuietly();  // unwinding: the caller's error wins, nothing is written
        return;
    }
    try {
        impl_->save();
    } catch (...) {
        impl_->closeQuietly();
        throw;  // a full disk is an error of the write, not something to hide
    }
    impl_->closeQuietly();
}

void Hdf5Appender::close() {
    if (!impl_->handle) return;
    if (impl_->dirty) {
        try {
            impl_->save();
        } catch (...) {
            impl_->closeQuietly();
            throw;
        }
    }
    impl_->closeQuietly();
}

void Hdf5Appender::append(const std::string& name, const Volume& volume) {
    guarded(impl_->shownPath, [&] {
        if (impl_->file().nameExists(name))
            throw Error(impl_->shownPath.string() + ": sample '" + name + "' exists already");
        writeSample(impl_->file(), name, volume);
        impl_->dirty = true;
        return 0;
    });
}

bool Hdf5Appender::contains(const std::string& name) const {
    return guarded(impl_->shownPath, [&] { return impl_->file().nameExists(name); });
}

void Hdf5Appender::flush() {
    if (impl_->dirty) impl_->save();
}

}  // namespace ms::io
