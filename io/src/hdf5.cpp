#include "microstudio/io/hdf5.hpp"

#include <H5Cpp.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "labels.hpp"

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
    if (!fs::exists(path)) throw Error(path.string() + ": no such file");
    try {
        if (!H5::H5File::isHdf5(path.string())) throw Error(path.string() + ": not an HDF5 file (or truncated)");
        return H5::H5File(path.string(), H5F_ACC_RDONLY);
    } catch (const H5::Exception& e) {
        throw Error(path.string() + ": cannot open HDF5 file (truncated or corrupt?): " + hdf5Reason(e));
    }
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

std::vector<double> readNumbers(const H5::Attribute& attr) {
    const hssize_t n = attr.getSpace().getSimpleExtentNpoints();
    std::vector<double> values(std::size_t(std::max<hssize_t>(n, 0)));
    if (!values.empty()) attr.read(H5::PredType::NATIVE_DOUBLE, values.data());
    return values;
}

Dims dimsOf(const H5::DataSet& ds, const H5::H5File& file, std::size_t count, const std::string& where) {
    Dims d;
    if (ds.attrExists("dims")) {
        auto v = readNumbers(ds.openAttribute("dims"));
        if (v.size() < 2 || v.size() > 3) throw Error(where + ": attribute dims must hold 2 or 3 numbers");
        d = Dims{int(v[0]), int(v[1]), v.size() == 3 ? int(v[2]) : 1};
    } else {
        auto space = ds.getSpace();
        const int rank = space.getSimpleExtentNdims();
        std::vector<hsize_t> shape(std::size_t(std::max(rank, 1)));
        space.getSimpleExtentDims(shape.data());
        if (rank == 3) {
            d = Dims{int(shape[2]), int(shape[1]), int(shape[0])};  // C order: last index fastest
        } else if (rank == 2) {
            d = Dims{int(shape[1]), int(shape[0]), 1};
        } else if (file.attrExists("dims")) {
            auto v = readNumbers(file.openAttribute("dims"));
            if (v.size() < 2 || v.size() > 3) throw Error(where + ": file attribute dims must hold 2 or 3 numbers");
            d = Dims{int(v[0]), int(v[1]), v.size() == 3 ? int(v[2]) : 1};
        } else {
            throw Error(where + ": flat dataset without a dims attribute (on the dataset or the file)");
        }
    }
    if (d.nx <= 0 || d.ny <= 0 || d.nz <= 0) throw Error(where + ": bad dims " + d.str());
    if (d.count() != count)
        throw Error(where + ": dims " + d.str() + " need " + std::to_string(d.count()) + " values, dataset has " +
                    std::to_string(count));
    return d;
}

Volume readSample(const H5::H5File& file, const fs::path& path, const std::string& name) {
    const std::string where = path.string() + ":/" + name;
    H5::DataSet ds = file.openDataSet(name);
    const std::size_t count = std::size_t(ds.getSpace().getSimpleExtentNpoints());
    if (count == 0) throw Error(where + ": empty dataset");
    Volume v(dimsOf(ds, file, count, where));
    std::vector<double> raw(count);
    ds.read(raw.data(), H5::PredType::NATIVE_DOUBLE);
    auto& labels = v.labels();
    for (std::size_t i = 0; i < count; ++i) labels[i] = detail::phaseOfValue(raw[i], where, i);
    const int attributes = ds.getNumAttrs();
    for (int i = 0; i < attributes; ++i) {
        H5::Attribute attr = ds.openAttribute(unsigned(i));
        const std::string key = attr.getName();
        const auto cls = attr.getTypeClass();
        if (key == "dims") continue;
        if (key == "spacing") {
            auto s = readNumbers(attr);
            if (s.size() == 3) v.spacing = {s[0], s[1], s[2]};
        } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
            auto values = readNumbers(attr);
            if (values.size() == 1) {
                if (std::isnan(values[0])) throw Error(where + ": attribute " + key + " is NaN");
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
            H5::DataSet fds = group.openDataSet(name);
            std::vector<float> field(count);
            if (std::size_t(fds.getSpace().getSimpleExtentNpoints()) != count)
                throw Error(where + ": field size differs from the labels");
            fds.read(field.data(), H5::PredType::NATIVE_FLOAT);
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
    writeAtomically(path, [&](const fs::path& tmp) {
        guarded(path, [&] {
            H5::H5File file(tmp.string(), H5F_ACC_TRUNC);
            std::set<std::string> used;
            for (std::size_t i = 0; i < samples.size(); ++i) {
                std::string name = sampleName(samples[i], i);
                if (!used.insert(name).second) throw Error(path.string() + ": duplicate sample name '" + name + "'");
                writeSample(file, name, samples[i]);
            }
            file.close();
            return 0;
        });
    });
}

struct Hdf5Appender::Impl {
    fs::path path;
    std::optional<H5::H5File> handle;
    H5::H5File& file() { return *handle; }
};

Hdf5Appender::Hdf5Appender(const fs::path& path, bool truncate) : impl_(std::make_unique<Impl>()) {
    impl_->path = path;
    guarded(path, [&] {
        impl_->handle.emplace(path.string(), !truncate && fs::exists(path) ? H5F_ACC_RDWR : H5F_ACC_TRUNC);
        return 0;
    });
}

Hdf5Appender::~Hdf5Appender() {
    SilenceHdf5 quiet;
    try {
        impl_->file().close();
    } catch (...) {
    }
}

void Hdf5Appender::append(const std::string& name, const Volume& volume) {
    guarded(impl_->path, [&] {
        if (impl_->file().nameExists(name)) throw Error(impl_->path.string() + ": sample '" + name + "' exists already");
        writeSample(impl_->file(), name, volume);
        return 0;
    });
}

bool Hdf5Appender::contains(const std::string& name) const {
    return guarded(impl_->path, [&] { return impl_->file().nameExists(name); });
}

void Hdf5Appender::flush() {
    guarded(impl_->path, [&] {
        impl_->file().flush(H5F_SCOPE_GLOBAL);
        return 0;
    });
}

}  // namespace ms::io
