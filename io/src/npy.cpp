// NumPy .npy. No Debian package reads .npy from C++, and the format is a
// fixed binary prefix plus one Python dict literal, so the header is parsed
// here: strictly (exactly the keys 'descr', 'fortran_order', 'shape'; string,
// bool and integer-tuple values only), which keeps the parser tiny and makes
// anything unexpected a refusal rather than a guess.
#include "microstudio/io/npy.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/limits.hpp"
#include "value_labels.hpp"

namespace fs = std::filesystem;

namespace ms::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
// NumPy itself refuses headers above 10000 bytes unless told otherwise.
constexpr std::size_t kMaxHeaderBytes = 1 << 16;

// A cursor over the header dict text; every error names the file.
class DictReader {
public:
    DictReader(const std::string& text, const std::string& where) : text_(text), where_(where) {}

    [[noreturn]] void fail(const std::string& why) const {
        throw Error(where_ + ": bad .npy header (" + why + "): '" + printableExcerpt(text_, 80) + "'");
    }
    void skipSpace() {
        while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\t')) ++at_;
    }
    bool take(char c) {
        skipSpace();
        if (at_ < text_.size() && text_[at_] == c) return ++at_, true;
        return false;
    }
    void expect(char c) {
        if (!take(c)) fail(std::string("expected '") + c + "'");
    }
    std::string quoted() {
        skipSpace();
        if (at_ >= text_.size() || (text_[at_] != '\'' && text_[at_] != '"')) fail("expected a quoted string");
        const char quote = text_[at_++];
        const std::size_t end = text_.find(quote, at_);
        if (end == std::string::npos || end - at_ > 64) fail("unterminated string");
        std::string s = text_.substr(at_, end - at_);
        at_ = end + 1;
        return s;
    }
    bool boolean() {
        skipSpace();
        for (const char* word : {"True", "False"})
            if (text_.compare(at_, std::strlen(word), word) == 0) {
                at_ += std::strlen(word);
                return word[0] == 'T';
            }
        fail("expected True or False");
    }
    std::vector<std::uint64_t> integerTuple() {
        expect('(');
        std::vector<std::uint64_t> values;
        while (!take(')')) {
            if (values.size() >= 8) fail("more than 8 axes");
            values.push_back(integer());
            if (!take(',')) {
                expect(')');
                break;
            }
        }
        return values;
    }
    bool atEnd() {
        skipSpace();
        return at_ == text_.size();
    }

private:
    std::uint64_t integer() {
        skipSpace();
        std::uint64_t v = 0;
        const std::size_t start = at_;
        for (; at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_])); ++at_) {
            if (at_ - start >= 18) fail("axis length too large");
            v = v * 10 + std::uint64_t(text_[at_] - '0');
        }
        if (at_ == start) fail("expected an axis length");
        return v;
    }

    const std::string& text_;
    const std::string& where_;
    std::size_t at_ = 0;
};

std::uint32_t littleEndian(const std::string& bytes, std::size_t at, std::size_t width) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < width; ++i) v |= std::uint32_t(std::uint8_t(bytes[at + i])) << (8 * i);
    return v;
}

void parseDict(const std::string& text, const std::string& where, NpyHeader& h) {
    DictReader r(text, where);
    std::map<std::string, bool> seen;
    r.expect('{');
    while (!r.take('}')) {
        const std::string key = r.quoted();
        if (seen[key]) r.fail("key '" + printableExcerpt(key) + "' twice");
        seen[key] = true;
        r.expect(':');
        if (key == "descr") h.descr = r.quoted();
        else if (key == "fortran_order") h.fortranOrder = r.boolean();
        else if (key == "shape") h.shape = r.integerTuple();
        else r.fail("unknown key '" + printableExcerpt(key) + "'");
        if (!r.take(',')) {
            r.expect('}');
            break;
        }
    }
    if (!r.atEnd()) r.fail("text after the dict");
    for (const char* key : {"descr", "fortran_order", "shape"})
        if (!seen[key]) r.fail(std::string("no '") + key + "'");
}

// Element size and reader of one supported dtype; 0 when unsupported.
std::size_t itemSize(const std::string& descr) {
    static const std::map<std::string, std::size_t> sizes = {{"|b1", 1}, {"|u1", 1}, {"<u1", 1}, {"|i1", 1},
                                                             {"<i1", 1}, {"<u2", 2}, {"<i2", 2}, {"<u4", 4},
                                                             {"<i4", 4}, {"<i8", 8}, {"<f4", 4}, {"<f8", 8}};
    const auto it = sizes.find(descr);
    return it == sizes.end() ? 0 : it->second;
}

double valueAt(char kind, std::size_t size, const char* p) {
    auto get = [p](auto tag) {
        decltype(tag) v;
        std::memcpy(&v, p, sizeof v);
        return double(v);
    };
    if (kind == 'f') return size == 4 ? get(float{}) : get(double{});
    if (kind == 'u' || kind == 'b')
        return size == 1 ? get(std::uint8_t{}) : size == 2 ? get(std::uint16_t{}) : get(std::uint32_t{});
    return size == 1   ? get(std::int8_t{})
           : size == 2 ? get(std::int16_t{})
           : size == 4 ? get(std::int32_t{})
                       : get(std::int64_t{});
}

std::string shapeText(const std::vector<std::uint64_t>& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

// The volume's dims from the shape (axes in io/npy.hpp), after the shape's
// claim is checked against the cap and the bytes present.
Dims dimsOf(const NpyHeader& h, std::size_t item, std::size_t dataBytes, const std::string& where) {
    const auto& s = h.shape;
    if (s.size() != 2 && s.size() != 3)
        throw Error(where + ": .npy array of shape " + shapeText(s) + "; expected a 2D or 3D array");
    long double count = 1;
    for (auto n : s) {
        if (n == 0 || n > std::uint64_t(INT32_MAX))
            throw Error(where + ": .npy shape " + shapeText(s) + " has a bad axis length");
        count *= n;
    }
    checkVoxelClaim(where, ".npy shape " + shapeText(s), count);
    if (count * item != (long double)dataBytes)
        throw Error(where + ": truncated or corrupt .npy: shape " + shapeText(s) + " of " + h.descr + " needs " +
                    countText(count * item) + " bytes of data, the file holds " + std::to_string(dataBytes));
    const bool flat = s.size() == 2;
    if (h.fortranOrder) return flat ? Dims{int(s[0]), int(s[1]), 1} : Dims{int(s[0]), int(s[1]), int(s[2])};
    return flat ? Dims{int(s[1]), int(s[0]), 1} : Dims{int(s[2]), int(s[1]), int(s[0])};
}

std::string encodeHeader(const Dims& d) {
    std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (";
    dict += d.is2D() ? std::to_string(d.ny) + ", " + std::to_string(d.nx)
                     : std::to_string(d.nz) + ", " + std::to_string(d.ny) + ", " + std::to_string(d.nx);
    dict += "), }";
    // Padded with spaces and a newline so the data starts on a 64-byte boundary.
    const std::size_t prefix = kMagicSize + 4;
    dict.append((64 - (prefix + dict.size() + 1) % 64) % 64, ' ');
    dict += '\n';
    std::string out(kMagic, kMagicSize);
    out += '\x01';
    out += '\x00';
    out += char(dict.size() & 0xff);
    out += char(dict.size() >> 8);
    return out + dict;
}

}  // namespace

NpyHeader parseNpyHeader(const std::string& head, const std::string& where) {
    if (head.size() < kMagicSize + 4 || head.compare(0, kMagicSize, kMagic, kMagicSize) != 0)
        throw Error(where + ": not a .npy file (no \\x93NUMPY magic)");
    NpyHeader h;
    h.version = std::uint8_t(head[kMagicSize]);
    if (h.version < 1 || h.version > 3 || head[kMagicSize + 1] != 0)
        throw Error(where + ": .npy format version " + std::to_string(h.version) + "." +
                    std::to_string(std::uint8_t(head[kMagicSize + 1])) + " is not supported (1.0, 2.0, 3.0)");
    const std::size_t lengthBytes = h.version == 1 ? 2 : 4;
    const std::size_t start = kMagicSize + 2 + lengthBytes;
    if (head.size() < start) throw Error(where + ": truncated .npy header");
    const std::size_t length = littleEndian(head, kMagicSize + 2, lengthBytes);
    if (length > kMaxHeaderBytes || length > head.size() - start)
        throw Error(where + ": truncated or corrupt .npy: header claims " + std::to_string(length) + " bytes, " +
                    std::to_string(head.size() - start) + " present");
    parseDict(head.substr(start, length), where, h);
    h.dataOffset = start + length;
    return h;
}

Volume readNpyBytes(const std::string& bytes, const std::string& where, const std::vector<double>& labelValues) {
    const NpyHeader h = parseNpyHeader(bytes, where);
    const std::size_t item = itemSize(h.descr);
    if (item == 0)
        throw Error(where + ": .npy dtype '" + printableExcerpt(h.descr) +
                    "' is not supported (little-endian bool, uint8/16/32, int8/16/32/64, float32/64)");
    const Dims d = dimsOf(h, item, bytes.size() - h.dataOffset, where);
    Volume v(d);
    detail::ValueLabeler labeler(where, labelValues);
    const char kind = h.descr[1];
    const char* data = bytes.data() + h.dataOffset;
    auto& labels = v.labels();
    for (std::size_t i = 0; i < labels.size(); ++i)
        labels[i] = labeler.indexOf(valueAt(kind, item, data + i * item), i);
    labeler.finish(labels);
    return v;
}

Volume readNpy(const fs::path& path, const std::vector<double>& labelValues) {
    requireRegularFile(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open for reading");
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(path.string() + ": read failed");
    return readNpyBytes(bytes, path.string(), labelValues);
}

void writeNpy(const Volume& v, const fs::path& path) {
    v.validateLabels();
    const std::string header = encodeHeader(v.dims());
    writeAtomically(path, [&](const fs::path& tmp) {
        std::ofstream out(tmp, std::ios::binary);
        if (!out) throw Error(path.string() + ": cannot open for writing: " + std::strerror(errno));
        out.write(header.data(), std::streamsize(header.size()));
        out.write(reinterpret_cast<const char*>(v.labels().data()), std::streamsize(v.size()));
        out.flush();
        if (!out) throw Error(path.string() + ": write failed");
    });
}

}  // namespace ms::io
