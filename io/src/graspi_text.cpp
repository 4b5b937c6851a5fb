#include "microstudio/io/graspi_text.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <istream>
#include <sstream>
#include <string>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/io/limits.hpp"

namespace ms::io {

namespace {

constexpr int kGraspiMixed = 3;

Volume parseGraspiText(const std::string& header, const std::string& content, const std::string& name) {
    const std::string shown = printableExcerpt(header);
    std::istringstream hs(header);
    long nx = 0, ny = 0, nz = 0;
    if (!(hs >> nx >> ny)) throw Error(name + ": bad header '" + shown + "', expected 'nx ny [nz]'");
    if (!(hs >> nz)) nz = 0;
    std::string extra;
    if (hs >> extra) throw Error(name + ": bad header '" + shown + "', expected 'nx ny [nz]'");
    if (nz == 0) nz = 1;
    if (nx <= 0 || ny <= 0 || nz <= 0 || nx > INT32_MAX || ny > INT32_MAX || nz > INT32_MAX)
        throw Error(name + ": bad dimensions in header '" + shown + "'");
    const long double claimed = (long double)nx * ny * nz;
    const std::string claim = "header '" + shown + "' (" + std::to_string(nx) + "x" + std::to_string(ny) +
                              (nz > 1 ? "x" + std::to_string(nz) : std::string()) + ")";
    // Every value takes a digit and a separator (the last one may lack it):
    // refuse a claim the bytes present cannot hold before allocating it.
    const long double room = (long double)(content.size() + 1) / 2;
    if (claimed > room)
        throw Error(name + ": truncated: " + claim + " needs " + countText(claimed) + " values, the file holds " +
                    std::to_string(content.size()) + " bytes after the header (at most " + countText(room) +
                    " values)");
    checkVoxelClaim(name, claim, claimed);
    Volume v(Dims{int(nx), int(ny), int(nz)});
    auto& labels = v.labels();
    std::size_t count = 0;
    const char* p = content.data();
    const char* end = p + content.size();
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
        if (p >= end) break;
        const char* start = p;
        bool negative = false;
        if (*p == '-' || *p == '+') negative = (*p++ == '-');
        long value = 0;
        const char* digits = p;
        while (p < end && *p >= '0' && *p <= '9') {
            if (value < 1000000000) value = value * 10 + (*p - '0');  // any such value is refused below
            ++p;
        }
        if (p == digits || (p < end && !(*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))) {
            const char* tokenEnd = start;
            while (tokenEnd < end && !std::isspace(static_cast<unsigned char>(*tokenEnd))) ++tokenEnd;
            throw Error(name + ": value " + std::to_string(count + 1) + " is '" +
                        printableExcerpt(std::string(start, std::min<std::size_t>(tokenEnd - start, 80)), 20) +
                        "', expected an integer label (NaN or text is not allowed)");
        }
        if (negative) value = -value;
        if (count >= labels.size())
            throw Error(name + ": more values than " + std::to_string(nx) + "x" + std::to_string(ny) + "x" +
                        std::to_string(nz) + " in the header");
        if (value == 0 || value == 1) labels[count] = std::uint8_t(value);
        else if (value == kGraspiMixed) labels[count] = Mixed;
        else
            throw Error(name + ": unknown label " + std::to_string(value) + " at value " + std::to_string(count + 1) +
                        " (GraSPI labels are 0 = D, 1 = A, 3 = M)");
        ++count;
    }
    if (count < labels.size())
        throw Error(name + ": truncated: " + std::to_string(count) + " values, header says " +
                    std::to_string(labels.size()));
    return v;
}

// The first line (without its newline) and the rest.
void splitHeader(std::string& content, std::string& header, const std::string& name) {
    if (content.empty()) throw Error(name + ": empty file, expected 'nx ny [nz]' header");
    const std::size_t eol = content.find('\n');
    if (eol == std::string::npos) {
        header.swap(content);
        content.clear();
    } else {
        header.assign(content, 0, eol);
        content.erase(0, eol + 1);
    }
    if (!header.empty() && header.back() == '\r') header.pop_back();
}

}  // namespace

Volume readGraspiText(std::istream& in, const std::string& name) {
    // The text first (bounded by the bytes present), then the claim is checked.
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string header;
    splitHeader(content, header, name);
    return parseGraspiText(header, content, name);
}

Volume readGraspiText(const std::filesystem::path& path) {
    requireRegularFile(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open for reading");
    return readGraspiText(in, path.string());
}

void writeGraspiText(const Volume& v, std::ostream& out) {
    v.validateLabels();
    const Dims& d = v.dims();
    out << d.nx << ' ' << d.ny;
    if (!d.is2D()) out << ' ' << d.nz;
    out << '\n';
    std::string line;
    for (int z = 0; z < d.nz; ++z)
        for (int y = 0; y < d.ny; ++y) {
            line.clear();
            for (int x = 0; x < d.nx; ++x) {
                const auto l = v.at(x, y, z);
                if (x) line += ' ';
                line += char('0' + (l == Mixed ? kGraspiMixed : l));
            }
            line += '\n';
            out << line;
        }
}

void writeGraspiText(const Volume& v, const std::filesystem::path& path) {
    writeAtomically(path, [&](const std::filesystem::path& tmp) {
        std::ofstream out(tmp, std::ios::binary);
        if (!out) throw Error(path.string() + ": cannot open for writing");
        writeGraspiText(v, out);
        out.flush();
        if (!out) throw Error(path.string() + ": write failed");
    });
}

}  // namespace ms::io
