#include "microstudio/io/hdf5.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "labels.hpp"
#include "microstudio/io/limits.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

constexpr const char* kFieldGroup = "_fields";  // fields live beside, not among, the samples

// HDF5 prints its own error stack to stderr by default; we report instead.
struct SilenceHdf5 {
    SilenceHdf5() { H5::Exception::dontPrint(); }
};

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

template <typename T>
void writeArrayAttribute(H5::H5Object& obj, const std::string& name, const H5::PredType& type, const std::vector<T>& v) {
    hsize_t n = v.size();
    H5::DataSpace space(1, &n);
    auto attr = obj.createAttribute(name, type, space);
    attr.write(type, v.data());
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
    writeArrayAttribute<double>(ds, "spacing", H5::PredType::NATIVE_DOUBLE,
                                {v.spacing[0], v.spacing[1], v.spacing[2]});
    for (const auto& [key, value] : v.attributes) {
        if (key == "dims" || key == "spacing") continue;
        writeScalarAttribute(ds, key, value);
    }
    for (const auto& [key, value] : v.text) {
        if (key == "sample" || key == "source" || v.attributes.count(key)) continue;
        writeTextAttribute(ds, key, value);
    }
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

Dims dimsFromNumbers(const std::vector<double>& v, const std::string& where, const std::string& what) {
    if (v.size() < 2 || v.size() > 3) throw Error(where + ": " + what + " must hold 2 or 3 numbers, not " + listText(v));
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
                         const std::string& where) {
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
        if (stored == 0)
            throw Error(where + ": claims " + claim + " but no data was ever written (0 bytes stored)");
        if (stored > fileSize)
            throw Error(where + ": truncated: claims " + std::to_string(stored) + " bytes stored, the file has " +
                        std::to_string(fileSize));
        const long double canHold = filters > 0 ? (long double)stored * kMaxDeflateRatio : (long double)stored;
        if (needBytes > canHold)
            throw Error(where + ": claims " + claim + " (" + std::to_string((unsigned long long)std::min(needBytes, 1.8e19L)) +
                        " bytes) but stores only " + std::to_string(stored) + " bytes" +
                        (filters > 0 ? " compressed" : "") + " (truncated, or never fully written)");
    }
    checkVoxelClaim(where, claim, claimed);
    return std::size_t(claimed);
}

// Reads every value of ds as double, in C order, a bounded slab at a time
// (a few MB, never the whole dataset as doubles), calling take(index, value).
template <typename Take>
void readValues(const H5::DataSet& ds, const std::vector<hsize_t>& shape, Take&& take) {
    constexpr hsize_t kSlab = hsize_t(1) << 20;
    if (shape.empty()) {  // scalar
        double x = 0;
        ds.read(&x, H5::PredType::NATIVE_DOUBLE);
        take(std::size_t(0), x);
        return;
    }
    const int rank = int(shape.size());
    // Axes after k are read whole; axis k in steps; axes before k one index at a time.
    hsize_t inner = 1;
    int k = rank - 1;
    while (k >= 0 && inner * shape[std::size_t(k)] <= kSlab) inner *= shape[std::size_t(k--)];
    std::vector<hsize_t> start(shape.size(), 0), count(shape);
    hsize_t step = 1;
    if (k >= 0) {
        step = std::max<hsize_t>(1, kSlab / inner);
        for (int a = 0; a < k; ++a) count[std::size_t(a)] = 1;
    }
    std::vector<double> buffer;
    H5::DataSpace fileSpace = ds.getSpace();
    std::size_t done = 0;
    while (true) {
        if (k >= 0) count[std::size_t(k)] = std::min(step, shape[std::size_t(k)] - start[std::size_t(k)]);
        hsize_t n = 1;
        for (hsize_t c : count) n *= c;
        buffer.resize(std::size_t(n));
        fileSpace.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
        H5::DataSpace memory(1, &n);
        ds.read(buffer.data(), H5::PredType::NATIVE_DOUBLE, memory, fileSpace);
        for (std::size_t i = 0; i < buffer.size(); ++i) take(done + i, buffer[i]);
        done += buffer.size();
        if (k < 0) return;
        // Odometer over axes 0..k.
        start[std::size_t(k)] += count[std::size_t(k)];
        int a = k;
        while (a >= 0 && start[std::size_t(a)] >= shape[std::size_t(a)]) {
            start[std::size_t(a)] = 0;
            if (--a >= 0) ++start[std::size_t(a)];
        }
        if (a < 0) return;
    }
}

Volume readSample(const H5::H5File& file, const fs::path& path, const std::string& name) {
    const std::string where = path.string() + ":/" + printableExcerpt(name, 80);
    const std::uintmax_t fileSize = requireRegularFile(path);
    H5::DataSet ds = file.openDataSet(name);
    const auto shape = shapeOf(ds);
    const std::size_t count = checkedCount(ds, shape, fileSize, where);
    Volume v(dimsOf(ds, file, shape, count, where));
    auto& labels = v.labels();
    readValues(ds, shape, [&](std::size_t i, double x) { labels[i] = detail::phaseOfValue(x, where, i); });
    const int attributes = ds.getNumAttrs();
    for (int i = 0; i < attributes; ++i) {
        H5::Attribute attr = ds.openAttribute(unsigned(i));
        const std::string key = attr.getName();
        const auto cls = attr.getTypeClass();
        if (key == "dims") continue;
        if (key == "spacing") {
            auto s = readNumbers(attr, where);
            if (s.size() == 3) {
                if (!std::all_of(s.begin(), s.end(), [](double x) { return std::isfinite(x) && x > 0; }))
                    throw Error(where + ": bad attribute spacing " + listText(s) + " (expected 3 positive numbers)");
                v.spacing = {s[0], s[1], s[2]};
            }
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
    if (file.nameExists(kFieldGroup)) {
        H5::Group group = file.openGroup(kFieldGroup);
        if (group.nameExists(name)) {
            const std::string fieldWhere = path.string() + ":/" + kFieldGroup + "/" + printableExcerpt(name, 80);
            H5::DataSet fds = group.openDataSet(name);
            const auto fieldShape = shapeOf(fds);
            if (checkedCount(fds, fieldShape, fileSize, fieldWhere) != count)
                throw Error(where + ": field size differs from the labels");
            std::vector<float> field(count);
            readValues(fds, fieldShape, [&](std::size_t i, double x) {
                if (!std::isfinite(x)) throw Error(fieldWhere + ": NaN or infinite value at voxel " + std::to_string(i));
                field[i] = float(x);
            });
            v.setField(std::move(field));
        }
    }
    v.text["sample"] = name;
    v.text["source"] = path.string();
    return v;
}

template <typename Fn>
auto guarded(const fs::path& path, Fn&& fn) {
    SilenceHdf5 quiet;
    try {
        return fn();
    } catch (const H5::Exception& e) {
        throw Error(path.string() + ": HDF5 error (truncated or corrupt file?): " + hdf5Reason(e));
    }
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

}  // namespace

std::vector<std::string> hdf5SampleNames(const fs::path& path) {
    H5::H5File file = openForRead(path);
    return guarded(path, [&] {
        std::vector<std::string> names;
        const hsize_t n = file.getNumObjs();
        for (hsize_t i = 0; i < n; ++i)
            if (file.getObjTypeByIdx(i) == H5G_DATASET) names.push_back(file.getObjnameByIdx(i));
        return names;
    });
}

std::vector<std::string> hdf5RequireSamples(const fs::path& path) {
    auto names = hdf5SampleNames(path);
    if (!names.empty()) return names;
    H5::H5File file = openForRead(path);
    std::string groups = guarded(path, [&] {
        std::string list;
        const hsize_t n = file.getNumObjs();
        for (hsize_t i = 0; i < n && i < 5; ++i)
            if (file.getObjTypeByIdx(i) == H5G_GROUP)
                list += (list.empty() ? "" : ", ") + printableExcerpt(file.getObjnameByIdx(i), 30);
        return list;
    });
    throw Error(path.string() + ": no sample datasets in this HDF5 file" +
                (groups.empty() ? std::string(" (it is empty)")
                                : " (only groups: " + groups + "; samples must be datasets at the root)"));
}

Volume readHdf5Sample(const fs::path& path, const std::string& name) {
    H5::H5File file = openForRead(path);
    return guarded(path, [&] {
        if (!file.nameExists(name)) throw Error(path.string() + ": no sample named '" + name + "'");
        return readSample(file, path, name);
    });
}

std::vector<Volume> readHdf5(const fs::path& path) {
    const auto names = hdf5SampleNames(path);
    H5::H5File file = openForRead(path);
    return guarded(path, [&] {
        std::vector<Volume> out;
        out.reserve(names.size());
        for (const auto& n : names) out.push_back(readSample(file, path, n));
        return out;
    });
}

void writeHdf5(const std::vector<Volume>& samples, const fs::path& path) {
    std::size_t raw = 0;
    for (const auto& v : samples) raw += v.size() * (v.hasField() ? 5 : 1);
    writeAtomically(path, [&](const fs::path& tmp) {
        const std::vector<char> image = guarded(path, [&] {
            H5::H5File file(tmp.string(), H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, inMemoryAccess(raw / 4));
            std::set<std::string> used;
            for (std::size_t i = 0; i < samples.size(); ++i) {
                std::string name = sampleName(samples[i], i);
                if (!used.insert(name).second) throw Error(path.string() + ": duplicate sample name '" + name + "'");
                writeSample(file, name, samples[i]);
            }
            auto bytes = fileImage(file);
            file.close();
            return bytes;
        });
        writeImage(image, tmp, path);
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
        } catch (...) {
        }
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
        impl_->handle.emplace(path.string(), existing ? H5F_ACC_RDWR : H5F_ACC_TRUNC,
                              H5::FileCreatPropList::DEFAULT, inMemoryAccess(4 << 20));
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
        if (impl_->file().nameExists(name)) throw Error(impl_->shownPath.string() + ": sample '" + name + "' exists already");
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
