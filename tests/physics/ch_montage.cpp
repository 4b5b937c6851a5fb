// ch_montage RUN.h5 OUT.png [COLUMNS] [INDEX ...] [--labels]: tiles chosen snapshots of
// a `microstudio-cli simulate` output (the continuous field, 0 black .. 1
// white, shown 2x; or with --labels the phases D black, M grey, A white; the
// middle z-slice of 3D runs) into one PNG for the docs, each tile
// topped by a bar whose length is log(time) / log(t_end).
#include <png.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"

int main(int argc, char** argv) {
    bool labels = false;
    if (argc > 3 && std::string(argv[argc - 1]) == "--labels") {
        labels = true;
        --argc;
    }
    if (argc < 3) {
        std::fprintf(stderr, "usage: ch_montage RUN.h5 OUT.png [COLUMNS] [INDEX ...]\n");
        return 2;
    }
    try {
        const auto names = ms::io::hdf5SampleNames(argv[1]);
        const int columns = argc > 3 ? std::atoi(argv[3]) : 4;
        std::vector<std::size_t> picks;
        for (int i = 4; i < argc; ++i) picks.push_back(std::size_t(std::atoi(argv[i])));
        if (picks.empty())
            for (int i = 0; i < 8; ++i) picks.push_back(std::size_t(i * (names.size() - 1) / 7));
        std::vector<ms::Volume> tiles;
        for (std::size_t p : picks) tiles.push_back(ms::io::readHdf5Sample(argv[1], names.at(p)));
        const double tEnd = ms::io::readHdf5Sample(argv[1], names.back()).attributes.at("time");
        const int scale = 2, nx = scale * tiles[0].dims().nx, ny = scale * tiles[0].dims().ny, gap = 6, bar = 6;
        const int rows = int((tiles.size() + columns - 1) / columns);
        const int width = columns * (nx + gap) + gap, height = rows * (ny + bar + 2 * gap) + gap;
        std::vector<unsigned char> image(std::size_t(width) * height, 255);
        for (std::size_t t = 0; t < tiles.size(); ++t) {
            const auto& v = tiles[t];
            const int z = v.dims().nz / 2;
            const int ox = gap + int(t % columns) * (nx + gap), oy = gap + int(t / columns) * (ny + bar + 2 * gap);
            const double time = v.attributes.at("time");
            const int len = int(std::lround(nx * std::log1p(time) / std::log1p(tEnd)));
            for (int y = 0; y < bar; ++y)
                for (int x = 0; x < len; ++x) image[std::size_t(oy + y) * width + ox + x] = 60;
            for (int y = 0; y < ny; ++y)
                for (int x = 0; x < nx; ++x) {
                    const std::size_t i = v.index(x / scale, y / scale, z);
                    const double c = labels ? (v.labels()[i] == ms::Mixed      ? 0.5
                                               : v.labels()[i] == ms::Acceptor ? 1.0
                                                                               : 0.0)
                                            : double(v.field()[i]);
                    image[std::size_t(oy + bar + gap + y) * width + ox + x] =
                        (unsigned char)std::lround(255 * std::min(1.0, std::max(0.0, c)));
                }
            std::printf("tile %zu: %s t=%.4g L=%.3g\n", t, v.text.count("sample") ? v.text.at("sample").c_str() : "",
                        time, v.attributes.count("length") ? v.attributes.at("length") : 0.0);
        }
        FILE* f = std::fopen(argv[2], "wb");
        if (!f) throw ms::Error(std::string("cannot write ") + argv[2]);
        png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
        png_infop info = png_create_info_struct(png);
        if (setjmp(png_jmpbuf(png))) {
            std::fclose(f);
            throw ms::Error("libpng failed");
        }
        png_init_io(png, f);
        png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                     PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (int y = 0; y < height; ++y) png_write_row(png, &image[std::size_t(y) * width]);
        png_write_end(png, nullptr);
        png_destroy_write_struct(&png, &info);
        std::fclose(f);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ch_montage: %s\n", e.what());
        return 1;
    }
    return 0;
}
