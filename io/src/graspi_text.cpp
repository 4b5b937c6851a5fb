#include "microstudio/io/graspi_text.hpp"

#include <fstream>
#include <istream>
#include <sstream>
#include <string>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"

namespace ms::io {

namespace {
constexpr int kGraspiMixed = 3;
}

Volume readGraspiText(std::istream& in, const std::string& name) {
    std::string header;
    if (!std::getline(in, header)) throw Error(name + ": empty file, expected 'nx ny [nz]' header");
    std::istringstream hs(header);
    long nx = 0, ny = 0, nz = 0;
    if (!(hs >> nx >> ny)) throw Error(name + ": bad header '" + header + "', expected 'nx ny [nz]'");
    if (!(hs >> nz)) nz = 0;
    std::string extra;
    if (hs >> extra) throw Error(name + ": bad header '" + header + "', expected 'nx ny [nz]'");
    if (nz == 0) nz = 1;
    if (nx <= 0 || ny <= 0 || nz <= 0 || nx > 100000 || ny > 100000 || nz > 100000 ||
        double(nx) * double(ny) * double(nz) > 4e9)
        throw Error(name + ": bad dimensions in header '" + header + "'");
    Volume v(Dims{int(nx), int(ny), int(nz)});
    auto& labels = v.labels();
    // Hand-rolled parse: the stream extraction of 10^6 ints is the slow part.
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
        while (p < end && *p >= '0' && *p <= '9') value = value * 10 + (*p++ - '0');
        if (p == digits || (p < end && !(*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))) {
            const char* tokenEnd = start;
            while (tokenEnd < end && !std::isspace(static_cast<unsigned char>(*tokenEnd))) ++tokenEnd;
            throw Error(name + ": value " + std::to_string(count + 1) + " is '" + std::string(start, tokenEnd) +
                        "', expected an integer label (NaN or text is not allowed)");
        }
        if (negative) value = -value;
        if (count >= labels.size())
            throw Error(name + ": more values than " + std::to_string(nx) + "x" + std::to_string(ny) + "x" +
                        std::to_string(nz) + " in the header");
        if (value == 0 || value == 1)
            labels[count] = std::uint8_t(value);
        else if (value == kGraspiMixed)
            labels[count] = Mixed;
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

Volume readGraspiText(const std::filesystem::path& path) {
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
