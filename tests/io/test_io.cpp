// Round trips through every format and refusal of every kind of bad input.
#include <H5Cpp.h>
#include <unistd.h>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/io/graspi_text.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/io/png.hpp"
#include "microstudio/io/vti.hpp"

namespace fs = std::filesystem;

namespace {

// A 3-phase volume with structure (not noise): layered with a mixed band.
ms::Volume threePhaseVolume(ms::Dims d) {
    ms::Volume v(d);
    std::mt19937 rng(7);
    for (int z = 0; z < d.nz; ++z)
        for (int y = 0; y < d.ny; ++y)
            for (int x = 0; x < d.nx; ++x) {
                const double s = std::sin(x * 0.3) + std::cos(y * 0.2) + std::sin(z * 0.4);
                v.at(x, y, z) = s > 0.5 ? ms::Acceptor : s < -0.5 ? ms::Donor : ms::Mixed;
            }
    return v;
}

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeAll(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// Expects ms::Error whose message contains `needle`.
template <typename Fn>
bool failsWith(Fn&& fn, const std::string& needle) {
    try {
        fn();
    } catch (const ms::Error& e) {
        if (std::string(e.what()).find(needle) != std::string::npos) return true;
        qWarning("error '%s' lacks '%s'", e.what(), needle.c_str());
        return false;
    }
    qWarning("no error, expected '%s'", needle.c_str());
    return false;
}

}  // namespace

class TestIo : public QObject {
    Q_OBJECT
    fs::path dir_;

private slots:
    void initTestCase() {
        dir_ = fs::temp_directory_path() / ("ms_test_io_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void cleanupTestCase() { fs::remove_all(dir_); }

    void roundTripEveryFormat3Phase() {
        ms::Volume v = threePhaseVolume(ms::Dims{64, 64, 32});
        QCOMPARE(v.phaseCount(), 3);
        for (const char* name : {"v.vti", "v.h5", "v.txt", "v.png"}) {
            const fs::path p = dir_ / name;
            ms::io::writeVolume(v, p);
            const ms::Volume back = ms::io::readVolume(p);
            QVERIFY2(back.sameLabels(v), name);
        }
        // The PNG stack is one file per slice.
        QVERIFY(fs::exists(dir_ / "v_z0000.png"));
        QVERIFY(fs::exists(dir_ / "v_z0031.png"));
        QVERIFY(!fs::exists(dir_ / "v_z0032.png"));
    }

    void vtiAndHdf5KeepFieldSpacingAttributes() {
        ms::Volume v = threePhaseVolume(ms::Dims{8, 6, 4});
        std::vector<float> field(v.size());
        for (std::size_t i = 0; i < field.size(); ++i) field[i] = float(i) * 0.25f - 3.0f;
        v.setField(field);
        v.spacing = {0.5, 0.25, 2.0};
        v.attributes["phi"] = 0.46;
        v.attributes["CT_f_D_tort1"] = 0.8731;
        v.text["model"] = "ch <test> & more";
        for (const char* name : {"f.vti", "f.h5"}) {
            ms::io::writeVolume(v, dir_ / name);
            const ms::Volume back = ms::io::readVolume(dir_ / name);
            QVERIFY(back.sameLabels(v));
            QVERIFY(back.hasField());
            QCOMPARE(back.field(), field);
            QCOMPARE(back.spacing, v.spacing);
            QCOMPARE(back.attributes.at("phi"), 0.46);
            QCOMPARE(back.attributes.at("CT_f_D_tort1"), 0.8731);
            QCOMPARE(back.text.at("model"), std::string("ch <test> & more"));
        }
    }

    void twoDImagesRoundTrip() {
        ms::Volume v(ms::Dims{101, 101, 1});
        for (int y = 0; y < 101; ++y)
            for (int x = 0; x < 101; ++x) v.at(x, y) = ((x / 7 + y / 5) % 2) ? ms::Acceptor : ms::Donor;
        for (const char* name : {"i.vti", "i.h5", "i.txt", "i.png"}) {
            ms::io::writeVolume(v, dir_ / name);
            const ms::Volume back = ms::io::readVolume(dir_ / name);
            QVERIFY2(back.sameLabels(v), name);
            QVERIFY(back.dims().is2D());
        }
        // GraSPI text of a 2D image has a two-number header.
        QVERIFY(readAll(dir_ / "i.txt").rfind("101 101\n", 0) == 0);
    }

    void pngRowsGoTopToBottomWithYUp() {
        ms::Volume v(ms::Dims{3, 2, 1});
        v.at(0, 1) = ms::Acceptor;  // top-left pixel in the picture
        ms::io::writePng(v, dir_ / "orient.png");
        const ms::Volume back = ms::io::readPng(dir_ / "orient.png");
        QCOMPARE(int(back.at(0, 1)), int(ms::Acceptor));
        QCOMPARE(int(back.at(0, 0)), int(ms::Donor));
    }

    void hdf5MultiSampleAndGlobOfParts() {
        std::vector<ms::Volume> part1, part2;
        for (int i = 0; i < 3; ++i) {
            ms::Volume v = threePhaseVolume(ms::Dims{8, 8, 4});
            v.labels()[std::size_t(i)] = ms::Donor;
            v.attributes["time"] = i;
            v.text["sample"] = "s" + std::to_string(i);
            (i < 2 ? part1 : part2).push_back(v);
        }
        ms::io::writeHdf5(part1, dir_ / "part_0.h5");
        ms::io::writeHdf5(part2, dir_ / "part_1.h5");
        auto all = ms::io::readSamples((dir_ / "part_*.h5").string());
        QCOMPARE(all.size(), std::size_t(3));
        QCOMPARE(all[2].text.at("sample"), std::string("s2"));
        QCOMPARE(all[2].attributes.at("time"), 2.0);
        QVERIFY(all[1].sameLabels(part1[1]));
        QVERIFY(failsWith([&] { ms::io::readSamples((dir_ / "nothing_*.h5").string()); }, "no file matches"));

        ms::io::Hdf5Appender appender(dir_ / "append.h5", true);
        appender.append("a", part1[0]);
        QVERIFY(appender.contains("a"));
        QVERIFY(failsWith([&] { appender.append("a", part1[0]); }, "exists already"));
    }

    // Files written the way MicroGen3D's Python writes them: flat float
    // datasets at the root, descriptors as attributes, dims from a 3D shape
    // or a file attribute.
    void hdf5ForeignLayouts() {
        const fs::path p = dir_ / "foreign.h5";
        {
            H5::H5File f(p.string(), H5F_ACC_TRUNC);
            hsize_t shape[3] = {2, 3, 4};  // z, y, x (C order)
            std::vector<double> data(24, 0.0);
            data[1] = 1.0;
            data[5] = 0.5;  // mixed phase in the 0 / 0.5 / 1 convention
            auto ds = f.createDataSet("img0", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(3, shape));
            ds.write(data.data(), H5::PredType::NATIVE_DOUBLE);
            double vf = 0.41;
            ds.createAttribute("ABS_f_D", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(H5S_SCALAR))
                .write(H5::PredType::NATIVE_DOUBLE, &vf);
        }
        const ms::Volume v = ms::io::readVolume(p);
        QCOMPARE(v.dims().nx, 4);
        QCOMPARE(v.dims().nz, 2);
        QCOMPARE(int(v.labels()[1]), int(ms::Acceptor));
        QCOMPARE(int(v.labels()[5]), int(ms::Mixed));
        QCOMPARE(v.attributes.at("ABS_f_D"), 0.41);
    }

    void badInputIsRefused() {
        const ms::Volume v = threePhaseVolume(ms::Dims{16, 8, 4});
        // Truncated files.
        ms::io::writeVolume(v, dir_ / "t.txt");
        std::string txt = readAll(dir_ / "t.txt");
        writeAll(dir_ / "trunc.txt", txt.substr(0, txt.size() / 2));
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "trunc.txt"); }, "truncated"));
        ms::io::writeVolume(v, dir_ / "t.vti");
        std::string vti = readAll(dir_ / "t.vti");
        writeAll(dir_ / "trunc.vti", vti.substr(0, vti.size() / 2));
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "trunc.vti"); }, "truncated"));
        ms::io::writeVolume(v, dir_ / "t.h5");
        std::string h5 = readAll(dir_ / "t.h5");
        writeAll(dir_ / "trunc.h5", h5.substr(0, h5.size() / 2));
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "trunc.h5"); }, "trunc"));
        ms::io::writePng(v.slice(0), dir_ / "t.png");
        std::string png = readAll(dir_ / "t.png");
        writeAll(dir_ / "trunc.png", png.substr(0, png.size() / 2));
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "trunc.png"); }, "truncated"));

        // Wrong dims.
        writeAll(dir_ / "dims.txt", "3 2\n0 1 0\n1 0 1\n0 0 0\n");
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "dims.txt"); }, "more values"));
        writeAll(dir_ / "dims0.txt", "0 2\n");
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "dims0.txt"); }, "bad dimensions"));
        std::string badExtent = vti;
        const std::string extent = "WholeExtent=\"0 15";
        badExtent.replace(badExtent.find(extent), extent.size(), "WholeExtent=\"0 16");
        writeAll(dir_ / "dims.vti", badExtent);
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "dims.vti"); }, "needs"));
        {
            H5::H5File f((dir_ / "dims.h5").string(), H5F_ACC_TRUNC);
            hsize_t n = 10;
            std::vector<std::uint8_t> data(10, 0);
            auto ds = f.createDataSet("s", H5::PredType::NATIVE_UINT8, H5::DataSpace(1, &n));
            ds.write(data.data(), H5::PredType::NATIVE_UINT8);
            int dims[3] = {4, 4, 1};
            hsize_t three = 3;
            ds.createAttribute("dims", H5::PredType::NATIVE_INT, H5::DataSpace(1, &three))
                .write(H5::PredType::NATIVE_INT, dims);
        }
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "dims.h5"); }, "need 16 values"));

        // Unknown labels.
        writeAll(dir_ / "label.txt", "2 2\n0 1\n7 0\n");
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "label.txt"); }, "unknown label 7"));
        std::string badLabel = vti;
        const auto at = badLabel.find('_', badLabel.find("<AppendedData")) + 1 + 8;  // first label byte
        badLabel[at] = char(9);
        writeAll(dir_ / "label.vti", badLabel);
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "label.vti"); }, "unknown label"));
        {
            H5::H5File f((dir_ / "label.h5").string(), H5F_ACC_TRUNC);
            hsize_t shape[2] = {2, 2};
            double data[4] = {0, 1, 0.25, 1};
            f.createDataSet("s", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(2, shape))
                .write(data, H5::PredType::NATIVE_DOUBLE);
        }
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "label.h5"); }, "unknown label"));
        ms::Volume bad(ms::Dims{2, 2, 1});
        bad.labels()[3] = 5;
        QVERIFY(failsWith([&] { ms::io::writeVolume(bad, dir_ / "bad.vti"); }, "unknown phase label 5"));
        QVERIFY(!fs::exists(dir_ / "bad.vti"));

        // NaN.
        writeAll(dir_ / "nan.txt", "2 1\n0 nan\n");
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "nan.txt"); }, "NaN"));
        {
            H5::H5File f((dir_ / "nan.h5").string(), H5F_ACC_TRUNC);
            hsize_t shape[2] = {1, 2};
            double data[2] = {0, std::nan("")};
            f.createDataSet("s", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(2, shape))
                .write(data, H5::PredType::NATIVE_DOUBLE);
        }
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "nan.h5"); }, "NaN"));
        writeAll(dir_ / "nan.vti",
                 "<?xml version=\"1.0\"?><VTKFile type=\"ImageData\" byte_order=\"LittleEndian\"><ImageData "
                 "WholeExtent=\"0 1 0 0 0 0\" Spacing=\"1 1 1\"><Piece Extent=\"0 1 0 0 0 0\"><PointData>"
                 "<DataArray type=\"Float32\" Name=\"phase\" format=\"ascii\">0 nan</DataArray></PointData>"
                 "</Piece></ImageData></VTKFile>");
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "nan.vti"); }, "NaN"));

        // Not the format the extension promises, unknown extension, missing file.
        writeAll(dir_ / "notpng.png", "hello");
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "notpng.png"); }, "not a PNG"));
        writeAll(dir_ / "noth5.h5", "hello");
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "noth5.h5"); }, "not an HDF5"));
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "x.raw"); }, "unknown file type"));
        QVERIFY(failsWith([&] { ms::io::readVolume(dir_ / "missing.vti"); }, "no such file"));
    }

    void vtiReadsAsciiAndBase64AsParaViewWrites() {
        // ascii, 2x2x1, with a cell-free point array named differently
        writeAll(dir_ / "ascii.vti",
                 "<?xml version=\"1.0\"?>\n<VTKFile type=\"ImageData\" version=\"0.1\" byte_order=\"LittleEndian\">\n"
                 "<ImageData WholeExtent=\"0 1 0 1 0 0\" Origin=\"0 0 0\" Spacing=\"2 2 2\">\n"
                 "<Piece Extent=\"0 1 0 1 0 0\"><PointData Scalars=\"labels\">\n"
                 "<DataArray type=\"Int32\" Name=\"labels\" format=\"ascii\">0 1 3 1</DataArray>\n"
                 "</PointData></Piece></ImageData></VTKFile>\n");
        ms::Volume a = ms::io::readVolume(dir_ / "ascii.vti");
        QCOMPARE(int(a.at(0, 1)), int(ms::Mixed));
        QCOMPARE(a.spacing[0], 2.0);
        // base64 inline binary with a UInt32 header: 4 bytes {0,1,1,0}
        // header (4 bytes, value 4) + data = 04 00 00 00 00 01 01 00 -> "BAAAAAABAQA="
        writeAll(dir_ / "b64.vti",
                 "<?xml version=\"1.0\"?>\n<VTKFile type=\"ImageData\" version=\"0.1\" byte_order=\"LittleEndian\">\n"
                 "<ImageData WholeExtent=\"0 1 0 1 0 0\" Origin=\"0 0 0\" Spacing=\"1 1 1\">\n"
                 "<Piece Extent=\"0 1 0 1 0 0\"><PointData Scalars=\"phase\">\n"
                 "<DataArray type=\"UInt8\" Name=\"phase\" format=\"binary\">BAAAAAABAQA=</DataArray>\n"
                 "</PointData></Piece></ImageData></VTKFile>\n");
        ms::Volume b = ms::io::readVolume(dir_ / "b64.vti");
        QCOMPARE(int(b.at(1, 0)), 1);
        QCOMPARE(int(b.at(1, 1)), 0);
    }
};

QTEST_GUILESS_MAIN(TestIo)
#include "test_io.moc"
