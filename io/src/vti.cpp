#include "microstudio/io/vti.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "labels.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/limits.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

// FieldData arrays hold attributes (one value each) and names: small.
constexpr std::uint64_t kMaxFieldDataValues = 1 << 20;

// ---- a small scanner for the XML VTK writes: elements with attributes ----
struct Element {
    std::string name;
    std::map<std::string, std::string> attrs;
    std::size_t contentBegin = 0, contentEnd = 0;  // text between <x ...> and </x>
    bool selfClosing = false;
};

class VtiParser {
public:
    VtiParser(std::string text, std::string where) : text_(std::move(text)), where_(std::move(where)) {}

    // Next element named `name` at or after pos; false when none.
    bool find(const std::string& name, std::size_t& pos, Element& out) const {
        const std::string open = "<" + name;
        while ((pos = text_.find(open, pos)) != std::string::npos) {
            const char after = pos + open.size() < text_.size() ? text_[pos + open.size()] : '\0';
            if (after == ' ' || after == '>' || after == '/' || after == '\n' || after == '\t' || after == '\r') break;
            pos += open.size();
        }
        if (pos == std::string::npos) return false;
        const std::size_t close = text_.find('>', pos);
        if (close == std::string::npos) fail("truncated XML in <" + name + ">");
        out = Element{};
        out.name = name;
        parseAttributes(text_.substr(pos + open.size(), close - pos - open.size()), out.attrs);
        out.selfClosing = text_[close - 1] == '/';
        out.contentBegin = close + 1;
        if (out.selfClosing) {
            out.contentEnd = out.contentBegin;
        } else {
            const std::size_t end = text_.find("</" + name, out.contentBegin);
            if (end == std::string::npos) fail("truncated XML: missing </" + name + ">");
            out.contentEnd = end;
        }
        pos = close + 1;
        return true;
    }

    std::string content(const Element& e) const { return text_.substr(e.contentBegin, e.contentEnd - e.contentBegin); }
    const std::string& text() const { return text_; }
    [[noreturn]] void fail(const std::string& reason) const { throw Error(where_ + ": " + reason); }

private:
    static void parseAttributes(const std::string& s, std::map<std::string, std::string>& attrs) {
        std::size_t i = 0;
        while (i < s.size()) {
            while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
            const std::size_t eq = s.find('=', i);
            if (eq == std::string::npos) break;
            std::string key = s.substr(i, eq - i);
            while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
            const std::size_t q1 = s.find_first_of("\"'", eq);
            if (q1 == std::string::npos) break;
            const std::size_t q2 = s.find(s[q1], q1 + 1);
            if (q2 == std::string::npos) break;
            attrs[key] = s.substr(q1 + 1, q2 - q1 - 1);
            i = q2 + 1;
        }
    }

    std::string text_;
    std::string where_;
};

std::size_t typeSize(const std::string& t) {
    if (t == "Int8" || t == "UInt8" || t == "Char") return 1;
    if (t == "Int16" || t == "UInt16") return 2;
    if (t == "Int32" || t == "UInt32" || t == "Float32") return 4;
    if (t == "Int64" || t == "UInt64" || t == "Float64") return 8;
    return 0;
}

double valueAt(const std::string& type, const unsigned char* p) {
    auto get = [p](auto tag) {
        decltype(tag) v;
        std::memcpy(&v, p, sizeof v);
        return double(v);
    };
    if (type == "UInt8") return get(std::uint8_t{});
    if (type == "Int8" || type == "Char") return get(std::int8_t{});
    if (type == "Int16") return get(std::int16_t{});
    if (type == "UInt16") return get(std::uint16_t{});
    if (type == "Int32") return get(std::int32_t{});
    if (type == "UInt32") return get(std::uint32_t{});
    if (type == "Int64") return get(std::int64_t{});
    if (type == "UInt64") return get(std::uint64_t{});
    if (type == "Float32") return get(float{});
    return get(double{});
}

std::string base64Decode(const std::string& in, const VtiParser& p) {
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : in) {
        if (std::isspace(static_cast<unsigned char>(c))) continue;
        if (c == '=') {
            bits = 0;  // padding ends a group; VTK may concatenate several encoded blocks
            buffer = 0;
            continue;
        }
        const auto v = alphabet.find(c);
        if (v == std::string::npos) p.fail("bad base64 data");
        buffer = (buffer << 6) | unsigned(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(char((buffer >> bits) & 0xFF));
        }
    }
    return out;
}

// Decodes VTK's binary blob: [header][data] or, compressed,
// [nblocks, blocksize, lastsize, csize...][zlib blocks]. Every size the
// header claims is checked against the bytes present (and, compressed,
// against zlib's largest ratio) and against maxBytes, what the extent can
// use, before anything is allocated.
std::string decodeBlock(const std::string& raw, std::size_t& offset, bool uint64Header, bool compressed,
                        std::uint64_t maxBytes, const std::string& array, const VtiParser& p) {
    const std::size_t h = uint64Header ? 8 : 4;
    auto header = [&](std::uint64_t at) -> std::uint64_t {
        if (at > raw.size() || raw.size() - at < h) p.fail("truncated binary data in array '" + array + "'");
        if (uint64Header) {
            std::uint64_t v;
            std::memcpy(&v, raw.data() + at, 8);
            return v;
        }
        std::uint32_t v;
        std::memcpy(&v, raw.data() + at, 4);
        return v;
    };
    if (!compressed) {
        const std::uint64_t n = header(offset);
        if (n > raw.size() - offset - h)
            p.fail("truncated binary data: array '" + array + "' claims " + std::to_string(n) + " bytes, " +
                   std::to_string(raw.size() - offset - h) + " present");
        if (n > maxBytes)
            p.fail("array '" + array + "' claims " + std::to_string(n) + " bytes, more than the extent holds (" +
                   std::to_string(maxBytes) + ")");
        std::string out = raw.substr(offset + h, n);
        offset += h + n;
        return out;
    }
    const std::uint64_t blocks = header(offset), blockSize = header(offset + h), lastSize = header(offset + 2 * h);
    const std::uint64_t available = raw.size() - offset;
    if (blocks > available / h || (3 + blocks) * h > available)
        p.fail("truncated compressed data: array '" + array + "' claims " + std::to_string(blocks) + " blocks");
    if (blocks > 0 && blockSize == 0) p.fail("corrupt compressed header in array '" + array + "' (block size 0)");
    // Total uncompressed size, without wrapping.
    const long double total =
        blocks == 0 ? 0.0L : (long double)(blocks - 1) * blockSize + (long double)(lastSize ? lastSize : blockSize);
    if (total > (long double)maxBytes)
        p.fail("compressed array '" + array + "' claims " + countText(total) + " bytes, more than the extent holds (" +
               std::to_string(maxBytes) + ")");
    // Every block's claim first (its compressed bytes present, zlib's ratio),
    // so the output is sized by what the stream can yield, not by the header.
    const std::uint64_t first = offset + (3 + blocks) * h;
    std::uint64_t at = first;
    for (std::uint64_t b = 0; b < blocks; ++b) {
        const std::uint64_t csize = header(offset + (3 + b) * h);
        if (csize > raw.size() - at)
            p.fail("truncated compressed data: block " + std::to_string(b) + " of array '" + array + "' claims " +
                   std::to_string(csize) + " bytes, " + std::to_string(raw.size() - at) + " present");
        const std::uint64_t usize = (b + 1 == blocks && lastSize) ? lastSize : blockSize;
        if ((long double)usize > (long double)csize * kMaxDeflateRatio + 64)
            p.fail("corrupt compressed data: block " + std::to_string(b) + " of array '" + array + "' claims " +
                   std::to_string(usize) + " bytes from " + std::to_string(csize) + " compressed bytes");
        at += csize;
    }
    at = first;
    std::string out;
    out.reserve(std::size_t(total));
    std::string chunk;
    for (std::uint64_t b = 0; b < blocks; ++b) {
        const std::uint64_t csize = header(offset + (3 + b) * h);
        const std::uint64_t usize = (b + 1 == blocks && lastSize) ? lastSize : blockSize;
        chunk.assign(std::size_t(usize), '\0');
        uLongf len = uLongf(usize);
        if (uncompress(reinterpret_cast<Bytef*>(chunk.data()), &len, reinterpret_cast<const Bytef*>(raw.data() + at),
                       uLong(csize)) != Z_OK ||
            len != usize)
            p.fail("corrupt compressed data in array '" + array + "'");
        out += chunk;
        at += csize;
    }
    offset = std::size_t(at);
    return out;
}

// One DataArray: raw little-endian values of `type`, or the numbers of an
// ascii array.
struct ArrayData {
    std::string name, type;
    std::size_t valueSize = 0;
    std::string bytes;
    std::vector<double> ascii;
    bool isAscii = false;
    std::size_t size() const { return isAscii ? ascii.size() : bytes.size() / valueSize; }
    double at(std::size_t i) const {
        return isAscii ? ascii[i] : valueAt(type, reinterpret_cast<const unsigned char*>(bytes.data()) + i * valueSize);
    }
};

// maxValues: the most values the array may hold (what the extent allows).
ArrayData readArray(const VtiParser& p, const Element& e, const std::string& appended, bool appendedBase64,
                    bool uint64Header, bool compressed, std::uint64_t maxValues) {
    ArrayData a;
    a.name = e.attrs.count("Name") ? e.attrs.at("Name") : "";
    a.type = e.attrs.count("type") ? e.attrs.at("type") : "";
    const std::string shownName = printableExcerpt(a.name);
    const std::string format = e.attrs.count("format") ? e.attrs.at("format") : "ascii";
    const std::size_t size = typeSize(a.type);
    if (size == 0) p.fail("unsupported data type '" + printableExcerpt(a.type) + "' in array '" + shownName + "'");
    a.valueSize = size;
    if (e.attrs.count("NumberOfComponents")) {
        const std::string& c = e.attrs.at("NumberOfComponents");
        char* endp = nullptr;
        const unsigned long components = std::strtoul(c.c_str(), &endp, 10);
        if (c.empty() || *endp || components < 1 || components > 64)
            p.fail("bad NumberOfComponents '" + printableExcerpt(c) + "' in array '" + shownName + "'");
        maxValues = maxValues > UINT64_MAX / 64 ? UINT64_MAX : maxValues * components;
    }
    if (format == "ascii") {
        a.isAscii = true;
        std::istringstream in(p.content(e));
        std::string token;
        while (in >> token) {
            if (a.ascii.size() >= maxValues)
                p.fail("array '" + shownName + "' has more values than the extent holds (" + std::to_string(maxValues) +
                       ")");
            if (token == "nan" || token == "NaN" || token == "-nan") a.ascii.push_back(std::nan(""));
            else {
                try {
                    std::size_t used = 0;
                    a.ascii.push_back(std::stod(token, &used));
                    if (used != token.size()) throw std::invalid_argument("");
                } catch (const std::exception&) {
                    p.fail("bad number '" + printableExcerpt(token, 20) + "' in array '" + shownName + "'");
                }
            }
        }
        return a;
    }
    // Saturating: a cap raised very high must not wrap the bound.
    const std::uint64_t maxBytes = maxValues > UINT64_MAX / 8 ? UINT64_MAX : maxValues * size;
    if (format == "binary") {
        const std::string raw = base64Decode(p.content(e), p);
        std::size_t offset = 0;
        a.bytes = decodeBlock(raw, offset, uint64Header, compressed, maxBytes, shownName, p);
    } else if (format == "appended") {
        const std::string text = e.attrs.count("offset") ? e.attrs.at("offset") : "0";
        char* endp = nullptr;
        errno = 0;
        const unsigned long long parsed = std::strtoull(text.c_str(), &endp, 10);
        if (text.empty() || *endp || errno || text[0] == '-')
            p.fail("bad offset '" + printableExcerpt(text, 20) + "' in array '" + shownName + "'");
        if (parsed > appended.size())
            p.fail("truncated file: array '" + shownName + "' starts at offset " + text + ", the appended data has " +
                   std::to_string(appended.size()) + " bytes");
        std::size_t offset = std::size_t(parsed);
        if (appendedBase64) {
            // Each array is encoded on its own from its offset.
            const std::string raw = base64Decode(appended.substr(offset), p);
            std::size_t at = 0;
            a.bytes = decodeBlock(raw, at, uint64Header, compressed, maxBytes, shownName, p);
        } else {
            a.bytes = decodeBlock(appended, offset, uint64Header, compressed, maxBytes, shownName, p);
        }
    } else {
        p.fail("unknown DataArray format '" + printableExcerpt(format, 20) + "'");
    }
    if (a.bytes.size() % size) p.fail("array '" + shownName + "' has a partial value");
    return a;
}

std::string xmlEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string formatDouble(double v) {
    std::ostringstream o;
    o.precision(17);
    o << v;
    return o.str();
}

}  // namespace

Volume readVti(const fs::path& path) {
    requireRegularFile(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open for reading");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return readVtiBytes(std::move(text), path.string());
}

Volume readVtiBytes(std::string text, const std::string& where) {
    // The appended block is raw bytes: cut it off before scanning the XML.
    std::string appended;
    bool appendedBase64 = false;
    const std::size_t appendedTag = text.find("<AppendedData");
    if (appendedTag != std::string::npos) {
        const std::size_t close = text.find('>', appendedTag);
        const std::size_t underscore = close == std::string::npos ? std::string::npos : text.find('_', close);
        if (underscore == std::string::npos) throw Error(where + ": truncated AppendedData");
        appendedBase64 = text.substr(appendedTag, close - appendedTag).find("\"base64\"") != std::string::npos;
        appended = text.substr(underscore + 1);
        const std::size_t end = appended.rfind("</AppendedData>");
        if (end == std::string::npos) throw Error(where + ": truncated file (no </AppendedData>)");
        appended.resize(end);
        text.resize(appendedTag);
        text += "</VTKFile>";
        text.shrink_to_fit();  // the raw block lives on in `appended` only
    }
    VtiParser p(std::move(text), where);
    std::size_t pos = 0;
    Element file, image;
    if (!p.find("VTKFile", pos, file) || file.attrs["type"] != "ImageData") p.fail("not a VTK ImageData (.vti) file");
    if (file.attrs.count("byte_order") && file.attrs["byte_order"] != "LittleEndian")
        p.fail("big-endian .vti files are not supported");
    const bool uint64Header = file.attrs.count("header_type") && file.attrs["header_type"] == "UInt64";
    const bool compressed = file.attrs.count("compressor") && !file.attrs["compressor"].empty();
    if (compressed && file.attrs["compressor"] != "vtkZLibDataCompressor")
        p.fail("unsupported compressor " + printableExcerpt(file.attrs["compressor"]));
    if (!p.find("ImageData", pos, image)) p.fail("no <ImageData> element");
    const std::string extentText = image.attrs["WholeExtent"];
    long long e[6] = {};
    {
        std::istringstream ext(extentText);
        for (long long& v : e)
            if (!(ext >> v) || v < -(1LL << 40) || v > (1LL << 40))
                p.fail("bad WholeExtent '" + printableExcerpt(extentText) + "'");
    }
    const long long n[3] = {e[1] - e[0] + 1, e[3] - e[2] + 1, e[5] - e[4] + 1};
    if (n[0] <= 0 || n[1] <= 0 || n[2] <= 0 || n[0] > INT32_MAX || n[1] > INT32_MAX || n[2] > INT32_MAX)
        p.fail("bad WholeExtent '" + printableExcerpt(extentText) + "'");
    // The claim, checked before any array is read: the cells (one fewer per
    // axis) are the least it can hold; the array actually used is checked again.
    const std::string claim = "WholeExtent '" + printableExcerpt(extentText) + "' (at least " +
                              std::to_string(std::max(1LL, n[0] - 1)) + "x" + std::to_string(std::max(1LL, n[1] - 1)) +
                              "x" + std::to_string(std::max(1LL, n[2] - 1)) + ")";
    checkVoxelClaim(where, claim,
                    (long double)std::max(1LL, n[0] - 1) * std::max(1LL, n[1] - 1) * std::max(1LL, n[2] - 1));
    const Dims pointDims{int(n[0]), int(n[1]), int(n[2])};
    const long double points = (long double)n[0] * n[1] * n[2];
    const std::uint64_t pointCount = points > 1e18L ? UINT64_MAX : std::uint64_t(points);
    std::array<double, 3> spacing{1, 1, 1};
    if (image.attrs.count("Spacing")) {
        std::istringstream sp(image.attrs["Spacing"]);
        for (double& s : spacing)
            if (!(sp >> s) || !(s > 0) || !std::isfinite(s))
                p.fail("bad Spacing '" + printableExcerpt(image.attrs["Spacing"]) + "'");
    }

    std::map<std::string, double> attributes;
    std::map<std::string, std::string> texts;
    Element fieldData;
    std::size_t fdPos = 0;
    if (p.find("FieldData", fdPos, fieldData) && !fieldData.selfClosing) {
        const std::string inner = p.content(fieldData);
        VtiParser fp(inner, where);
        std::size_t ap = 0;
        Element arr;
        while (fp.find("DataArray", ap, arr)) {
            auto a = readArray(fp, arr, appended, appendedBase64, uint64Header, compressed, kMaxFieldDataValues);
            if (a.size() == 1) attributes[a.name] = a.at(0);
        }
        ap = 0;
        while (fp.find("Array", ap, arr)) {
            if (arr.attrs["type"] != "String") continue;
            std::istringstream chars(fp.content(arr));
            std::string s;
            int c;
            while (chars >> c && c != 0) s.push_back(char(c));
            texts[arr.attrs["Name"]] = s;
        }
    }

    // Point data first (what MicroStudio and most writers use), else cell data.
    std::vector<ArrayData> arrays;
    std::string scalarsName;
    Dims dims = pointDims;
    for (const char* section : {"PointData", "CellData"}) {
        std::size_t sp = pos;
        Element sec;
        if (!p.find(section, sp, sec) || sec.selfClosing) continue;
        VtiParser sp2(p.content(sec), where);
        std::size_t ap = 0;
        Element arr;
        while (sp2.find("DataArray", ap, arr))
            arrays.push_back(readArray(sp2, arr, appended, appendedBase64, uint64Header, compressed, pointCount));
        if (!arrays.empty()) {
            scalarsName = sec.attrs.count("Scalars") ? sec.attrs["Scalars"] : "";
            if (std::string(section) == "CellData")
                dims =
                    Dims{std::max(1, pointDims.nx - 1), std::max(1, pointDims.ny - 1), std::max(1, pointDims.nz - 1)};
            break;
        }
    }
    if (arrays.empty()) p.fail("no point or cell data arrays");
    const ArrayData* labels = nullptr;
    const ArrayData* field = nullptr;
    for (const auto& a : arrays) {
        if (a.name == "phase" || a.name == "labels") labels = &a;
        if (a.name == "field") field = &a;
    }
    if (!labels)
        for (const auto& a : arrays)
            if (a.name == scalarsName && &a != field) labels = &a;
    if (!labels)
        for (const auto& a : arrays)
            if (&a != field) {
                labels = &a;
                break;
            }
    if (!labels) p.fail("no label array (expected one named 'phase')");

    checkVoxelClaim(where, claim, (long double)dims.nx * dims.ny * dims.nz);
    if (labels->size() != dims.count())
        p.fail("array '" + printableExcerpt(labels->name) + "' has " + std::to_string(labels->size()) +
               " values, extent " + dims.str() + " needs " + std::to_string(dims.count()));
    Volume v(dims);
    for (std::size_t i = 0; i < dims.count(); ++i) v.labels()[i] = detail::phaseOfValue(labels->at(i), where, i);
    if (field) {
        if (field->size() != dims.count()) p.fail("array 'field' has the wrong number of values");
        std::vector<float> f(dims.count());
        for (std::size_t i = 0; i < f.size(); ++i) f[i] = float(field->at(i));
        for (std::size_t i = 0; i < f.size(); ++i)
            if (!std::isfinite(f[i])) p.fail("NaN or infinite value in 'field' at voxel " + std::to_string(i));
        v.setField(std::move(f));
    }
    v.spacing = spacing;
    for (const auto& [k, val] : attributes) {
        if (std::isnan(val)) p.fail("attribute " + k + " is NaN");
        v.attributes[k] = val;
    }
    v.text = texts;
    return v;
}

void writeVti(const Volume& v, const fs::path& path) {
    v.validateLabels();
    const Dims& d = v.dims();
    const std::uint64_t labelBytes = v.size();
    const std::uint64_t fieldBytes = v.hasField() ? v.size() * sizeof(float) : 0;
    std::ostringstream xml;
    xml << "<?xml version=\"1.0\"?>\n"
        << "<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n"
        << "  <ImageData WholeExtent=\"0 " << d.nx - 1 << " 0 " << d.ny - 1 << " 0 " << d.nz - 1
        << "\" Origin=\"0 0 0\" Spacing=\"" << formatDouble(v.spacing[0]) << ' ' << formatDouble(v.spacing[1]) << ' '
        << formatDouble(v.spacing[2]) << "\">\n";
    std::map<std::string, std::string> texts;
    for (const auto& [k, s] : v.text)
        if (k != "source") texts[k] = s;
    if (!v.attributes.empty() || !texts.empty()) {
        xml << "    <FieldData>\n";
        for (const auto& [k, val] : v.attributes)
            xml << "      <DataArray type=\"Float64\" Name=\"" << xmlEscape(k)
                << "\" NumberOfTuples=\"1\" format=\"ascii\">" << formatDouble(val) << "</DataArray>\n";
        for (const auto& [k, s] : texts) {
            xml << "      <Array type=\"String\" Name=\"" << xmlEscape(k)
                << "\" NumberOfTuples=\"1\" format=\"ascii\">";
            for (unsigned char c : s) xml << int(c) << ' ';
            xml << "0</Array>\n";
        }
        xml << "    </FieldData>\n";
    }
    xml << "    <Piece Extent=\"0 " << d.nx - 1 << " 0 " << d.ny - 1 << " 0 " << d.nz - 1 << "\">\n"
        << "      <PointData Scalars=\"phase\">\n"
        << "        <DataArray type=\"UInt8\" Name=\"phase\" format=\"appended\" RangeMin=\"0\" RangeMax=\"2\" "
           "offset=\"0\"/>\n";
    if (v.hasField())
        xml << "        <DataArray type=\"Float32\" Name=\"field\" format=\"appended\" offset=\"" << 8 + labelBytes
            << "\"/>\n";
    xml << "      </PointData>\n      <CellData>\n      </CellData>\n    </Piece>\n  </ImageData>\n"
        << "  <AppendedData encoding=\"raw\">\n   _";
    writeAtomically(path, [&](const fs::path& tmp) {
        std::ofstream out(tmp, std::ios::binary);
        if (!out) throw Error(path.string() + ": cannot open for writing");
        out << xml.str();
        out.write(reinterpret_cast<const char*>(&labelBytes), 8);
        out.write(reinterpret_cast<const char*>(v.labels().data()), std::streamsize(labelBytes));
        if (v.hasField()) {
            out.write(reinterpret_cast<const char*>(&fieldBytes), 8);
            out.write(reinterpret_cast<const char*>(v.field().data()), std::streamsize(fieldBytes));
        }
        out << "\n  </AppendedData>\n</VTKFile>\n";
        out.flush();
        if (!out) throw Error(path.string() + ": write failed");
    });
}

}  // namespace ms::io
