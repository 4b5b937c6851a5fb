#pragma once
// Issue 22: tiny TIFF and .npy files as other tools write them, built byte by
// byte in the tests (test_io, test_cli), so no test depends on libtiff or
// numpy and malformed variants are one argument away.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "microstudio/core/volume.hpp"

namespace tiny {

inline void put16le(std::string& s, std::uint32_t v) {
    s += char(v & 0xFF);
    s += char((v >> 8) & 0xFF);
}
inline void put32le(std::string& s, std::uint32_t v) {
    put16le(s, v & 0xFFFF);
    put16le(s, v >> 16);
}

// A little-endian, uncompressed, one-strip-per-page greyscale TIFF written
// byte by byte (as any tool could): each page claims width x height and holds
// the given samples (bits 8 or 16; sampleFormat 1 uint, 2 int, 3 float),
// uncompressed or, with packBits, as PackBits literal runs of up to 128
// bytes. A claim larger than the samples given makes a truncated file.
inline std::string tinyTiff(std::uint32_t width, std::uint32_t height,
                            const std::vector<std::vector<std::uint16_t>>& pages, int bits = 8, int sampleFormat = 1,
                            bool packBits = false) {
    std::string s = "II*";
    s += '\0';
    put32le(s, 8);
    auto entry = [&s](std::uint16_t tag, std::uint16_t type, std::uint32_t value) {
        put16le(s, tag);
        put16le(s, type);
        put32le(s, 1);
        if (type == 3) {
            put16le(s, value);
            put16le(s, 0);
        } else {
            put32le(s, value);
        }
    };
    for (std::size_t p = 0; p < pages.size(); ++p) {
        std::string data;
        for (std::uint16_t v : pages[p]) bits == 8 ? void(data += char(v)) : put16le(data, v);
        if (packBits) {
            std::string packed;
            for (std::size_t at = 0; at < data.size(); at += 128) {
                const std::size_t n = std::min<std::size_t>(128, data.size() - at);
                packed += char(n - 1);
                packed += data.substr(at, n);
            }
            data = packed;
        }
        const std::uint32_t dataAt = std::uint32_t(s.size()) + 2 + 10 * 12 + 4;
        const std::uint32_t stored = std::uint32_t(data.size());
        const std::uint32_t next = p + 1 < pages.size() ? dataAt + stored + stored % 2 : 0;
        put16le(s, 10);
        entry(256, 4, width);
        entry(257, 4, height);
        entry(258, 3, std::uint32_t(bits));
        entry(259, 3, packBits ? 32773 : 1);
        entry(262, 3, 1);  // black is zero
        entry(273, 4, dataAt);
        entry(277, 3, 1);
        entry(278, 4, height);
        entry(279, 4, packBits ? stored : std::uint32_t(std::uint64_t(width) * height * std::uint32_t(bits / 8)));
        entry(339, 3, std::uint32_t(sampleFormat));
        put32le(s, next);
        s += data;
        if (s.size() % 2) s += '\0';
    }
    return s;
}

// A .npy file as numpy.save writes it (header padded to 64 bytes).
inline std::string npyFile(const std::string& descr, bool fortran, const std::string& shape, const std::string& data,
                           int version = 1) {
    std::string dict =
        "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
    const std::size_t prefix = 6 + 2 + (version == 1 ? 2 : 4);
    dict.append((64 - (prefix + dict.size() + 1) % 64) % 64, ' ');
    dict += '\n';
    std::string s = "\x93NUMPY";
    s += char(version);
    s += '\0';
    version == 1 ? put16le(s, std::uint32_t(dict.size())) : put32le(s, std::uint32_t(dict.size()));
    return s + dict;
}

// The labels of v as values of type T, with the value of D, A and M given.
template <typename T>
std::string valuesAs(const ms::Volume& v, double d, double a, double m) {
    std::string out;
    for (std::uint8_t l : v.labels()) {
        const T x = T(l == ms::Donor ? d : l == ms::Acceptor ? a : m);
        out.append(reinterpret_cast<const char*>(&x), sizeof x);
    }
    return out;
}

}  // namespace tiny
