// ms_ml: JSON metadata, the paper VAE layer shapes, weights round trip,
// bit-identical resume after a simulated kill, the DDPM schedule, DDIM vs
// ancestral sampling, DPM-Solver++(2M), and a tiny LDM learning a
// two-cluster distribution.
// Everything runs on tiny configurations (seconds on 2 cores).
#include <QProcess>
#include <csignal>
#include <sys/resource.h>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <tuple>

#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/compare2d.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/splits.hpp"
#include "microstudio/ml/studio_training.hpp"
#include "microstudio/ml/tiling.hpp"
#include "microstudio/ml/train2d.hpp"
#include "microstudio/ml/vae2d.hpp"
#include "microstudio/ml/vae_study.hpp"
#include "microstudio/noise/metrics.hpp"

namespace fs = std::filesystem;
using namespace ms::ml;

namespace {

std::vector<ms::Volume> syntheticImages(int count, int size, std::uint64_t seed) {
    std::vector<ms::Volume> out;
    for (int i = 0; i < count; ++i) {
        ms::SyntheticOptions o;
        o.wavelength = size / 4.0;
        o.donorFraction = 0.35 + 0.3 * double(i % 5) / 4.0;
        o.seed = seed + std::uint64_t(i);
        out.push_back(ms::syntheticMicrostructure(ms::Dims{size, size, 1}, o));
    }
    return out;
}

Vae2dConfig tinyVae() {
    Vae2dConfig c;
    c.size = 24;
    c.latent = 8;
    c.channels = {4, 8};
    c.kernels = {4, 4};
    c.hidden = 32;
    return c;
}

fs::path tempDir(const char* name) {
    auto dir = fs::temp_directory_path() /
               (std::string("ms_test_ml_") + name + "_" + std::to_string(QCoreApplication::applicationPid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// A small LDM trained on toy latents (batch 64, lr 2e-3, seed 1).
Ldm2d trainTinyLdm(const Ldm2dConfig& config, const std::vector<std::vector<float>>& latents,
                   const std::vector<std::vector<double>>& conditions, int epochs) {
    Ldm2d ldm(config, 1);
    Ldm2dTrainOptions options;
    options.train.epochs = epochs;
    options.train.batchSize = 64;
    options.train.learningRate = 2e-3;
    options.train.seed = 1;
    trainLdm2d(ldm, latents, conditions, {}, {}, options);
    return ldm;
}

// A 4-value latent diffusion model small enough to sample 1000 steps in a test.
Ldm2d tinyLdm2d() {
    Ldm2dConfig c;
    c.latent = 4;
    c.hidden = 16;
    c.blocks = 1;
    c.timeEmbedding = 8;
    return Ldm2d(c, 9);
}

}  // namespace

class TestMl : public QObject {
    Q_OBJECT
private slots:
    // Windows of a fixed-size model cover any image; each pixel comes from
    // the window whose centre is nearest, so a pixel-wise model is exact.
    void tilingCoversAnySize() {
        QCOMPARE(ms::ml::windowOrigins(101, 101), (std::vector<int>{0}));
        QCOMPARE(ms::ml::windowOrigins(50, 101), (std::vector<int>{0}));
        const auto o = ms::ml::windowOrigins(512, 101);
        QCOMPARE(o.front(), 0);
        QCOMPARE(o.back(), 512 - 101);
        for (std::size_t i = 1; i < o.size(); ++i) QVERIFY(o[i] - o[i - 1] <= 101 && o[i] > o[i - 1]);
        const ms::ml::FixedSizeImageFunction invert = [](const std::vector<ms::Volume>& windows) {
            std::vector<ms::Volume> out = windows;
            for (auto& w : out)
                for (auto& l : w.labels()) l = std::uint8_t(1 - l);
            return out;
        };
        for (const ms::Dims d :
             {ms::Dims{101, 101, 1}, ms::Dims{50, 30, 1}, ms::Dims{512, 128, 1}, ms::Dims{130, 250, 1}}) {
            const ms::Volume image = ms::syntheticMicrostructure(d);
            const ms::Volume out = ms::ml::applyTiled(image, 101, invert);
            QCOMPARE(out.dims(), d);
            for (std::size_t i = 0; i < image.size(); ++i) QCOMPARE(int(out.labels()[i]), 1 - int(image.labels()[i]));
        }
        // The window a pixel comes from is the one centred nearest to it:
        // mark each window by its index and check a pixel in the middle of the second.
        const ms::ml::FixedSizeImageFunction index = [](const std::vector<ms::Volume>& windows) {
            std::vector<ms::Volume> out = windows;
            for (std::size_t i = 0; i < out.size(); ++i)
                for (auto& l : out[i].labels()) l = std::uint8_t(i % 2);
            return out;
        };
        const ms::Volume marks = ms::ml::applyTiled(ms::Volume(ms::Dims{300, 101, 1}), 101, index);
        const auto xs = ms::ml::windowOrigins(300, 101);
        QCOMPARE(int(marks.at(xs[1] + 50, 50)), 1);
        QCOMPARE(int(marks.at(xs[0] + 10, 50)), 0);
        bool refused = false;
        try {
            ms::ml::applyTiled(ms::Volume(ms::Dims{8, 8, 2}), 4, invert);
        } catch (const ms::Error&) {
            refused = true;
        }
        QVERIFY(refused);
    }

    // Metadata through its file: strings escaped, doubles exact, nested
    // training figures kept; a malformed file names itself.
    void metadataFileRoundTrip() {
        const fs::path dir = fs::temp_directory_path() / "ms_test_metadata_json";
        fs::create_directories(dir);
        ModelMetadata m;
        m.name = "vae \"2d\"\n";
        m.kind = "vae2d";
        m.attributes = {"phi", "chi"};
        m.attributeMean = {3.141592653589793, 1.25e-7};
        m.attributeStd = {2.0 / 3.0, 12544};
        m.architecture["size"] = 64;
        m.training["report"]["epochs_done"] = 2;
        writeMetadata(m, dir / "m.pt");
        const ModelMetadata back = readMetadata(dir / "m.pt");
        QCOMPARE(back.name, m.name);
        QCOMPARE(back.attributeMean, m.attributeMean);
        QCOMPARE(back.attributeStd, m.attributeStd);
        QVERIFY(back.toJson() == m.toJson());
        { std::ofstream(dir / "m.json") << "{\"kind\": "; }
        try {
            readMetadata(dir / "m.pt");
            QFAIL("a malformed metadata file was read");
        } catch (const ms::Error& e) {
            QVERIFY2(std::string(e.what()).find((dir / "m.json").string()) != std::string::npos, e.what());
        }
        fs::remove_all(dir);
    }

    // Section III.B of the paper, layer by layer.
    // The wizard's settings travel to the ML worker as JSON: every field comes
    // back as it was; an unknown field, a fraction where an integer belongs,
    // a string for a number and a non-object are refused, naming the field.
    void studioTrainingSettingsAsJson() {
        ms::ml::StudioTrainingSettings s;
        s.train = "/d/train.h5";
        s.validation = "/d/val.h5";
        s.limit = 500;
        s.name = "mine";
        s.outDir = "/m";
        s.checkpointDir = "/c";
        s.epochs = 7;
        s.batch = 12;
        s.learningRate = 2e-4;
        s.seed = 9;
        s.threads = 2;
        s.latent = 16;
        s.hidden = 64;
        s.channels = {8, 16, 32};
        s.beta = 0.5;
        s.vae = "/m/vae.pt";
        s.ldmHidden = 128;
        s.ldmBlocks = 2;
        s.diffusionSteps = 500;
        s.conditions = "vf,phi";
        s.channels3d = {4, 8};
        s.latentChannels = 3;
        s.unetFeatures = 24;
        const ms::Json json = ms::ml::toJson(s);
        const auto back = ms::ml::studioTrainingSettingsFromJson(ms::parseJson(json.dump()));
        QVERIFY(ms::ml::toJson(back) == json);
        QCOMPARE(json.size(), std::size_t(23));  // every field, by its documented name
        QCOMPARE(json.at("out_dir"), ms::Json("/m"));
        QCOMPARE(json.at("learning_rate"), ms::Json(2e-4));
        QCOMPARE(json.at("channels3d"), ms::Json({4, 8}));
        QCOMPARE(back.train, s.train);
        QCOMPARE(back.checkpointDir, s.checkpointDir);
        QCOMPARE(back.vae, s.vae);
        QCOMPARE(back.limit, s.limit);
        QCOMPARE(back.channels, s.channels);
        QCOMPARE(back.learningRate, s.learningRate);
        QCOMPARE(back.seed, s.seed);
        QCOMPARE(back.conditions, s.conditions);
        QCOMPARE(back.unetFeatures, s.unetFeatures);
        QCOMPARE(ms::ml::studioTrainingSettingsFromJson(ms::Json{{"epochs", 2}}).epochs, 2);  // the rest: defaults
        const auto refusal = [](const ms::Json& j) -> std::string {
            try {
                ms::ml::studioTrainingSettingsFromJson(j);
            } catch (const ms::Error& e) {
                return e.what();
            }
            return "accepted";
        };
        QCOMPARE(refusal(ms::Json{{"colour", "red"}}), std::string("training settings: unknown field 'colour'"));
        QCOMPARE(refusal(ms::Json{{"epochs", 2.5}}), std::string("training settings: 'epochs' must be an integer"));
        QCOMPARE(refusal(ms::Json{{"beta", "high"}}), std::string("training settings: 'beta' must be a number"));
        QCOMPARE(refusal(ms::Json{{"channels", ms::Json{8, 1.5}}}),
                 std::string("training settings: 'channels' must be a list of integers"));
        QCOMPARE(refusal(ms::Json::array()), std::string("training settings: not a JSON object"));
        QCOMPARE(ms::ml::parseStudioTrainingKind("ldm2d"), ms::ml::StudioTrainingKind::Ldm2d);
        QVERIFY_THROWS_EXCEPTION(ms::Error, ms::ml::parseStudioTrainingKind("gan"));
        QCOMPARE(ms::ml::studioStages(ms::ml::StudioTrainingKind::Generator3d),
                 (std::vector<std::string>{"vae", "features", "diffusion"}));
        QCOMPARE(ms::ml::studioModelPath(ms::ml::StudioTrainingKind::Generator3d, s), std::filesystem::path("/m/mine"));
        QCOMPARE(ms::ml::studioModelPath(ms::ml::StudioTrainingKind::Vae2d, s), std::filesystem::path("/m/mine.pt"));
        QCOMPARE(ms::ml::studioCheckpointPath("/c", "mine", "vae"), std::filesystem::path("/c/mine-vae.ckpt"));
    }

    void paperVaeLayerShapes() {
        Vae2d vae;  // defaults: 101, L = 128
        const auto shapes = vae.layerShapes();
        const std::vector<std::pair<std::string, std::vector<long>>> paper = {
            {"input", {1, 101, 101}},
            {"encoder.conv1", {32, 50, 50}},
            {"encoder.conv2", {64, 25, 25}},
            {"encoder.conv3", {128, 13, 13}},
            {"encoder.conv4", {256, 7, 7}},
            {"encoder.flatten", {12544}},
            {"encoder.fc", {1024}},
            {"encoder.mu", {128}},
            {"encoder.logvar", {128}},
            {"decoder.fc1", {1024}},
            {"decoder.fc2", {12544}},
            {"decoder.reshape", {256, 7, 7}},
            {"decoder.deconv1", {128, 13, 13}},
            {"decoder.deconv2", {64, 25, 25}},
            {"decoder.deconv3", {32, 50, 50}},
            {"decoder.output", {1, 101, 101}},
        };
        QCOMPARE(shapes.size(), paper.size());
        for (std::size_t i = 0; i < paper.size(); ++i) {
            QCOMPARE(shapes[i].name, paper[i].first);
            QCOMPARE(shapes[i].shape, paper[i].second);
        }
        // The decoder ends in a sigmoid: every raw output lies strictly in
        // (0, 1) and is not yet thresholded; denoise() thresholds it at 0.5.
        auto image = syntheticImages(1, 101, 3)[0];
        const auto p = vae.probabilities({image}).front();
        QCOMPARE(p.size(), image.size());
        QVERIFY(std::all_of(p.begin(), p.end(), [](float x) { return x > 0.0f && x < 1.0f; }));
        QVERIFY(std::any_of(p.begin(), p.end(), [](float x) { return std::fabs(x - 0.5f) < 0.49f; }));
        QVERIFY(std::set<float>(p.begin(), p.end()).size() > 2);  // a thresholded map has 2 values at most
        auto out = vae.denoise(image);
        QCOMPARE(out.dims(), image.dims());
        for (std::size_t i = 0; i < p.size(); ++i) QCOMPARE(int(out.labels()[i]), p[i] > 0.5f ? 1 : 0);
    }

    // A 2D VAE's description states its real latent (issue 25: the shipped
    // denoiser once said "L=128" with a 4x25x25 latent): the shipped file,
    // and the text trainNewVae2d writes for spatial and flat configs.
    void vaeDescriptionStatesLatentShape() {
        QCOMPARE(Vae2dConfig{}.latentText(), std::string("flat latent L=128"));  // the paper's network
        Vae2dConfig shipped;
        shipped.channels = {32, 64};
        shipped.kernels = {4, 4};
        shipped.midBlocks = 2;
        shipped.latentChannels = 4;
        QCOMPARE(shipped.latentText(), std::string("spatial latent 4x25x25 (L=2500)"));  // 101 -> 50 -> 25
        // Every shipped 2D VAE's description names the latent of its own architecture.
        for (const char* name : {"denoise-vae2d", "ldm-vae2d"}) {
            const auto weights = fs::path(MICROSTUDIO_SOURCE_DIR) / "resources/models" / (std::string(name) + ".pt");
            const auto meta = readMetadata(weights);
            const std::string latent = ", " + Vae2dConfig::fromJson(meta.architecture).latentText() + ", ";
            QVERIFY2(meta.description.find(latent) != std::string::npos, meta.description.c_str());
        }

        const TrainingSamples data{syntheticImages(4, 24, 1), syntheticImages(2, 24, 50)};
        Vae2dTrainOptions options;
        options.train.epochs = 1;
        options.train.batchSize = 4;
        options.train.threads = 1;
        options.beta = 0.1;
        Vae2dConfig spatial = tinyVae();
        spatial.latentChannels = 2;  // 24 -> 12 -> 6
        QCOMPARE(trainNewVae2d(data, spatial, options).model.metadata().description,
                 std::string("denoising 2D VAE (Moola et al. III.B), spatial latent 2x6x6 (L=72), beta=0.100000"));
        Vae2dConfig flat = tinyVae();
        flat.latent = 128;
        options.denoising = false;
        options.beta = 1.0;
        QCOMPARE(trainNewVae2d(data, flat, options).model.metadata().description,
                 std::string("plain 2D VAE (Moola et al. III.B), flat latent L=128, beta=1.000000"));
    }

    // The denoising augmentation's ranges, as docs/ml.md states them.
    void augmentationRangesAsDocumented() {
        const auto ranges = ms::ml::Augmentation::defaultRanges();
        QCOMPARE(int(ranges.size()), 3);
        auto same = [](const ms::noise::ParamRange& r, double lo, double hi) { return r.lo == lo && r.hi == hi; };
        QVERIFY(same(ranges[0].flip_probability, 0.02, 0.25));
        QVERIFY(same(ranges[1].grid_amplitude, 0.55, 1.0));
        QVERIFY(same(ranges[1].grid_frequency, 4.0, 12.0));
        QVERIFY(same(ranges[1].grid_rotation, 0.0, 45.0));
        QVERIFY(same(ranges[2].rings, 4.0, 24.0));
        QVERIFY(same(ranges[2].mask_intensity, 0.5, 1.0));
        QVERIFY(same(ranges[2].mask_width, 0.02, 0.06));
    }

    void otherInputSizes() {
        for (int size : {64, 128, 48}) {
            Vae2dConfig c;
            c.size = size;
            c.latent = 16;
            c.channels = {8, 16, 16, 32};
            c.hidden = 64;
            Vae2d vae(c);
            const auto shapes = vae.layerShapes();
            QCOMPARE(shapes.back().shape, (std::vector<long>{1, size, size}));
            // Each decoder map has the size of its encoder twin.
            QCOMPARE(shapes[shapes.size() - 2].shape[1], shapes[1].shape[1]);
        }
        Vae2dConfig bad;
        bad.channels = {8, 16};
        QVERIFY_THROWS_EXCEPTION(ms::Error, Vae2d{bad});  // kernels missing
        Vae2d vae(tinyVae());
        // Other image sizes go through model-size windows (tiling.hpp) and keep their size.
        QCOMPARE(vae.denoise(ms::Volume(ms::Dims{25, 24, 1})).dims(), (ms::Dims{25, 24, 1}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, vae.denoise(ms::Volume(ms::Dims{25, 24, 2})));  // 3D
        ms::Volume threePhase(ms::Dims{24, 24, 1});
        threePhase.labels()[5] = 2;
        QVERIFY_THROWS_EXCEPTION(ms::Error, vae.denoise(threePhase));
    }

    // The shipped denoiser's layout: latent channels on the deepest map
    // (no linear layers), residual middle blocks; L follows from the geometry.
    void spatialLatentShapesAndRoundTrip() {
        Vae2dConfig c;
        c.size = 101;
        c.channels = {8, 16};
        c.kernels = {4, 4};
        c.midBlocks = 2;
        c.latentChannels = 3;
        QCOMPARE(c.deepestSide(), 25);
        QCOMPARE(c.latentSize(), 3 * 25 * 25);
        Vae2d vae(c, 3);
        QCOMPARE(vae.config().latent, 3 * 25 * 25);
        const auto shapes = vae.layerShapes();
        auto find = [&](const std::string& name) {
            for (const auto& s : shapes)
                if (s.name == name) return s.shape;
            return std::vector<long>{};
        };
        QCOMPARE(find("encoder.conv2"), (std::vector<long>{16, 25, 25}));
        QCOMPARE(find("encoder.mid2"), (std::vector<long>{16, 25, 25}));
        QCOMPARE(find("encoder.mu"), (std::vector<long>{3 * 25 * 25}));
        QCOMPARE(find("decoder.in"), (std::vector<long>{16, 25, 25}));
        QCOMPARE(find("decoder.output"), (std::vector<long>{1, 101, 101}));
        QVERIFY(find("encoder.fc").empty());  // no linear layers
        // A latent changed in one corner changes the decoded image near that
        // corner only: the latent keeps where things are.
        ms::SyntheticOptions look;
        look.seed = 7;
        const ms::Volume image = ms::syntheticMicrostructure(ms::Dims{101, 101, 1}, look);
        auto z = vae.encode({image}).front();
        const auto before = vae.decode({z}).front();
        auto shifted = z;
        for (int ch = 0; ch < 3; ++ch) shifted[std::size_t(ch * 625)] += 50.0f;  // map cell (0, 0)
        const auto after = vae.decode({shifted}).front();
        int farChanges = 0;
        for (int y = 50; y < 101; ++y)
            for (int x = 50; x < 101; ++x) farChanges += before.at(x, y, 0) != after.at(x, y, 0);
        QCOMPARE(farChanges, 0);
        const auto dir = tempDir("spatial");
        vae.save(dir / "spatial.pt");
        auto back = Vae2d::load(dir / "spatial.pt");
        QCOMPARE(back.config().latentChannels, 3);
        QCOMPARE(back.config().midBlocks, 2);
        QCOMPARE(back.flatParameters(), vae.flatParameters());
        fs::remove_all(dir);
        c.latentChannels = -1;
        QVERIFY_THROWS_EXCEPTION(ms::Error, Vae2d{c});
    }

    void saveLoadWithMetadata() {
        const auto dir = tempDir("save");
        Vae2d vae(tinyVae(), 5);
        vae.metadata().description = "test model";
        vae.save(dir / "tiny.pt");
        QVERIFY(fs::exists(dir / "tiny.json"));
        auto back = Vae2d::load(dir / "tiny.pt");
        QCOMPARE(back.flatParameters(), vae.flatParameters());
        QCOMPARE(back.metadata().description, std::string("test model"));
        QCOMPARE(back.metadata().kind, std::string("vae2d"));
        QCOMPARE(back.config().channels, tinyVae().channels);
        // Half precision: same network up to float16 rounding.
        vae.save(dir / "half.pt", true);
        auto half = Vae2d::load(dir / "half.pt");
        QCOMPARE(half.metadata().weightsPrecision, std::string("float16"));
        const auto a = vae.flatParameters(), b = half.flatParameters();
        QCOMPARE(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); ++i) QVERIFY(std::fabs(a[i] - b[i]) <= 1e-3 * std::fabs(a[i]) + 1e-6);
        // Listed by `models` machinery; found by name.
        const auto models = listModels({dir});
        QCOMPARE(models.size(), std::size_t(2));
        QCOMPARE(models[0].metadata.name, std::string("half"));
        // Wrong kind and missing metadata are clear errors.
        QVERIFY_THROWS_EXCEPTION(ms::Error, Ldm2d::load(dir / "tiny.pt"));
        fs::remove(dir / "tiny.json");
        QVERIFY_THROWS_EXCEPTION(ms::Error, Vae2d::load(dir / "tiny.pt"));
        fs::remove_all(dir);
    }

    // Train 2 epochs straight == 1 epoch, kill, resume, 1 more: identical
    // weights. Also a cancel mid-epoch resumed from the last checkpoint.
    void resumeIsBitIdentical() {
        const auto dir = tempDir("resume");
        const auto train = syntheticImages(16, 24, 11), validation = syntheticImages(4, 24, 99);
        Vae2dTrainOptions options;
        options.train.epochs = 2;
        options.train.batchSize = 4;
        options.train.seed = 42;
        options.train.threads = 1;

        Vae2d straight(tinyVae(), 1);
        const auto full = trainVae2d(straight, train, validation, options);
        QCOMPARE(full.steps, 8L);
        QCOMPARE(full.epochsDone, 2);

        // Stop after epoch 1 (4 steps), then a fresh process-like restart.
        auto killed = options;
        killed.train.checkpoint = dir / "run.ckpt";
        killed.train.stopAfterSteps = 4;
        {
            Vae2d first(tinyVae(), 1);
            const auto part = trainVae2d(first, train, validation, killed);
            QVERIFY(part.stoppedAtLimit);
            QCOMPARE(part.steps, 4L);
        }
        killed.train.stopAfterSteps = 0;
        Vae2d resumed(tinyVae(), 777);  // other init: everything must come from the checkpoint
        const auto rest = trainVae2d(resumed, train, validation, killed);
        QVERIFY(rest.resumed);
        QCOMPARE(rest.steps, 8L);
        QCOMPARE(resumed.flatParameters(), straight.flatParameters());
        QCOMPARE(rest.history.size(), full.history.size());
        QCOMPARE(rest.history[1].validationLoss, full.history[1].validationLoss);

        // Cancel in the middle of epoch 1 (checkpoint every 2 steps).
        auto cancelled = options;
        cancelled.train.checkpoint = dir / "cancel.ckpt";
        cancelled.train.checkpointEvery = 2;
        ms::ProgressToken token;
        cancelled.train.progress = &token;
        cancelled.train.onProgress = [&](const TrainProgress& p) {
            QVERIFY(p.etaSeconds >= 0);
            if (p.step == 7) token.cancel();
        };
        {
            Vae2d first(tinyVae(), 1);
            QVERIFY_THROWS_EXCEPTION(ms::Cancelled, trainVae2d(first, train, validation, cancelled));
        }
        ms::ProgressToken fresh;
        cancelled.train.progress = &fresh;
        cancelled.train.onProgress = nullptr;
        Vae2d again(tinyVae(), 3);
        trainVae2d(again, train, validation, cancelled);
        QCOMPARE(again.flatParameters(), straight.flatParameters());

        // A checkpoint of another run is refused.
        auto other = killed;
        other.train.seed = 43;
        Vae2d x(tinyVae(), 1);
        QVERIFY_THROWS_EXCEPTION(ms::Error, trainVae2d(x, train, validation, other));
        // Metadata records the data and the figures.
        QCOMPARE(resumed.metadata().dataHash, hashVolumes(train));
        QVERIFY(resumed.metadata().training.contains("report"));
        fs::remove_all(dir);
    }

    void earlyStoppingRestoresBest() {
        // A learning rate far too high makes validation worse after the
        // first epochs; patience 1 stops the run and keeps the best epoch.
        const auto train = syntheticImages(8, 24, 5), validation = syntheticImages(4, 24, 50);
        Vae2dTrainOptions options;
        options.train.epochs = 30;
        options.train.batchSize = 4;
        options.train.patience = 1;
        options.train.minDelta = 1e9;  // no epoch counts as an improvement
        options.train.threads = 1;
        Vae2d vae(tinyVae(), 2);
        const auto report = trainVae2d(vae, train, validation, options);
        QVERIFY(report.earlyStopped);
        QCOMPARE(report.epochsDone, 2);
        QCOMPARE(report.bestEpoch, 0);
        QCOMPARE(report.bestValidationLoss, report.history[0].validationLoss);
    }

    void diffusionSchedule() {
        const auto s = DiffusionSchedule::linear(1000, 1e-4, 0.02);
        QCOMPARE(s.steps(), 1000);
        QCOMPARE(s.betas.front(), 1e-4);
        QVERIFY(std::fabs(s.betas.back() - 0.02) < 1e-15);
        QVERIFY(std::fabs(s.betas[500] - (1e-4 + (0.02 - 1e-4) * 500.0 / 999.0)) < 1e-15);
        double product = 1;
        for (int t = 0; t < 1000; ++t) product *= 1 - (1e-4 + (0.02 - 1e-4) * t / 999.0);
        QVERIFY(std::fabs(s.alphaBar.back() - product) < 1e-12);
        QVERIFY(s.alphaBar.back() < 1e-4);  // x_T is nearly pure noise
        // q(x_t | x_0) in closed form.
        const std::vector<float> x0{1.0f, -2.0f, 0.5f}, eps{0.3f, 0.1f, -1.0f};
        const auto xt = s.noise(x0, 250, eps);
        const double a = s.alphaBar[250];
        for (int i = 0; i < 3; ++i)
            QVERIFY(std::fabs(xt[i] - (std::sqrt(a) * x0[i] + std::sqrt(1 - a) * eps[i])) < 1e-6);
        const auto ts = s.ddimTimesteps(5);
        QCOMPARE(ts, (std::vector<int>{999, 749, 500, 250, 0}));
        QCOMPARE(int(s.ddimTimesteps(1000).size()), 1000);
        QCOMPARE(s.ddimTimesteps(1000)[1], 998);
    }

    void ddimWithAllStepsAndEtaOneIsAncestral() {
        Ldm2d ldm = tinyLdm2d();
        Ldm2dSampleOptions o;
        o.count = 3;
        o.seed = 5;
        o.ancestral = true;
        const auto ancestral = ldm.sample(o);
        o.ancestral = false;
        o.steps = 1000;
        o.eta = 1.0;
        const auto ddim = ldm.sample(o);
        for (int i = 0; i < 3; ++i)
            for (int k = 0; k < 4; ++k)
                QVERIFY2(std::fabs(ancestral[i][k] - ddim[i][k]) < 2e-3 * (1 + std::fabs(ancestral[i][k])),
                         qPrintable(QString("%1 vs %2").arg(ancestral[i][k]).arg(ddim[i][k])));
        o.eta = 0;
        o.steps = 20;
        const auto deterministic = ldm.sample(o);
        QCOMPARE(ldm.sample(o), deterministic);
    }

    // DPM-Solver++(2M) in the 2D LDM (the solver shared with the 3D generator,
    // tested against the exact Gaussian score in test_ml3d): it converges to
    // DDIM's ODE solution (DDIM over all T steps) as the steps grow, the same
    // seed gives the same latents, and bad names / options are refused in one
    // line.
    // sample2d --compare's measures (ml::compareLdm2d): each row equals the
    // formula applied to the same draws made directly (the VAE's prior and
    // reconstructions, the LDM's samples under the null condition), the
    // conditional fit is rSquared / MAE of the Donor fractions reached at each
    // held-out image's own condition, and an unconditional companion beside
    // the LDM is used (and refused when conditional).
    void compareLdm2dMeasuresAgainstFormulas() {
        const Vae2d vae(tinyVae());
        const auto reference = syntheticImages(6, 24, 3);
        Ldm2dConfig c;
        c.latent = vae.config().latentSize();
        c.hidden = 16;
        c.blocks = 1;
        c.timeEmbedding = 8;
        c.conditions = {"vf"};
        Ldm2dSampleOptions o;
        o.count = 4;
        o.steps = 5;
        o.seed = 7;
        const auto dir = tempDir("compare2d");
        Ldm2d(c, 3).save(dir / "cond.pt");
        auto pair = pairWithUnconditional(Ldm2d::load(dir / "cond.pt"), dir / "cond.pt", "uncond", false);
        QVERIFY(!pair.unconditional);
        const auto result = compareLdm2d(vae, pair, reference, o);
        QCOMPARE(result.maxDistance, 12);  // min(25, side / 2)
        QCOMPARE(int(result.rows.size()), 3);
        QCOMPARE(result.rows[0].source, std::string("LDM (null condition)"));
        auto vfOf = [](const std::vector<ms::Volume>& images) {
            std::vector<double> vf;
            for (const auto& v : images) vf.push_back(v.volumeFraction(ms::Donor));
            return vf;
        };
        auto expectRow = [&](const Ldm2dComparisonRow& row, const std::vector<ms::Volume>& images) {
            const auto vf = vfOf(images);
            QCOMPARE(row.twoPointError, twoPointError(images, reference, 12));
            QCOMPARE(row.wasserstein, wasserstein1(vf, vfOf(reference)));
            QVERIFY(std::fabs(row.meanVolumeFraction - std::accumulate(vf.begin(), vf.end(), 0.0) / vf.size()) < 1e-12);
        };
        auto unconditioned = o;
        unconditioned.conditions.clear();
        expectRow(result.rows[0], vae.decode(pair.ldm.sample(unconditioned)));
        expectRow(result.rows[1], vae.samplePrior(4, 7));
        expectRow(result.rows[2], vae.decode(vae.encode(reference)));
        QVERIFY(result.conditional);
        QCOMPARE(result.conditional->targets, std::size_t(4));
        auto conditioned = o;
        std::vector<double> target;
        for (std::size_t i = 0; i < 4; ++i) {  // evenly spaced: images 0, 1, 3, 4 of 6
            const auto& image = reference[i * 6 / 4];
            target.push_back(image.volumeFraction(ms::Donor));
            conditioned.conditions.push_back({target.back()});
        }
        const auto reached = vfOf(vae.decode(pair.ldm.sample(conditioned)));
        double mae = 0;
        for (std::size_t i = 0; i < 4; ++i) mae += std::fabs(reached[i] - target[i]) / 4;
        QCOMPARE(result.conditional->r2, rSquared(target, reached));
        QVERIFY(std::fabs(result.conditional->meanAbsoluteError - mae) < 1e-12);
        const auto text = result.text();
        QVERIFY2(text.find("reference: 6 held-out images; 4 generated per model") == 0, text.c_str());
        QVERIFY2(text.find("VAE reconstruction") != std::string::npos, text.c_str());
        char r2[32];
        std::snprintf(r2, sizeof r2, "R^2(vf) = %.4f", rSquared(target, reached));
        QVERIFY2(text.find(r2) != std::string::npos, text.c_str());
        // An unconditional companion beside the LDM makes the first row; a
        // conditional one of that name is refused.
        auto unconditional = c;
        unconditional.conditions.clear();
        Ldm2d(unconditional, 4).save(dir / "uncond.pt");
        pair = pairWithUnconditional(Ldm2d::load(dir / "cond.pt"), dir / "cond.pt", "uncond", false);
        QVERIFY(pair.unconditional);
        QCOMPARE(compareLdm2d(vae, pair, reference, o).rows[0].source, std::string("LDM (uncond)"));
        Ldm2d(c, 5).save(dir / "uncond.pt");
        QVERIFY_THROWS_EXCEPTION(ms::Error,
                                 pairWithUnconditional(Ldm2d::load(dir / "cond.pt"), dir / "cond.pt", "uncond", false));
        fs::remove_all(dir);
    }

    void dpmSolverSampling() {
        Ldm2d ldm = tinyLdm2d();
        Ldm2dSampleOptions o;
        o.count = 3;
        o.seed = 5;
        o.steps = 1000;
        const auto ode = ldm.sample(o);
        auto distance = [&](const std::vector<std::vector<float>>& a) {
            double d = 0;
            for (std::size_t i = 0; i < a.size(); ++i)
                for (std::size_t k = 0; k < a[i].size(); ++k) d = std::max(d, double(std::fabs(a[i][k] - ode[i][k])));
            return d;
        };
        o.sampler = "dpmpp";
        o.steps = 10;
        const auto ten = ldm.sample(o);
        QCOMPARE(ldm.sample(o), ten);
        QCOMPARE(ldm.samplerLabel(o), std::string("dpmpp2m-10"));
        o.steps = 200;
        const double d10 = distance(ten), d200 = distance(ldm.sample(o));
        qInfo("max |DPM++(2M)-k - DDIM-1000|: k=10 %.3g, k=200 %.3g", d10, d200);
        QVERIFY2(d200 < 0.1 * d10, qPrintable(QString("%1 vs %2").arg(d200).arg(d10)));
        o.sampler = "ddpm";
        QCOMPARE(ldm.samplerLabel(o), std::string("ddpm-1000"));
        auto refused = [&](Ldm2dSampleOptions bad, const char* needle) {
            try {
                (void)ldm.sample(bad);
            } catch (const ms::Error& e) {
                const std::string what = e.what();
                QVERIFY2(what.find('\n') == std::string::npos && what.find(needle) != std::string::npos, e.what());
                return;
            }
            QFAIL(needle);
        };
        Ldm2dSampleOptions bad = o;
        bad.sampler = "unipc";
        refused(bad, "unknown sampler 'unipc'");
        bad.sampler = "dpmpp";
        bad.eta = 1.0;
        refused(bad, "eta applies to the ddim sampler only");
        bad.eta = 0.0;
        bad.steps = 0;
        refused(bad, "steps must be in 1..1000");
        // The CLI refuses a bad --sampler in one line, before loading anything.
        QProcess p;
        p.start(MICROSTUDIO_CLI, {"sample2d", "out.h5", "--sampler", "heun"});
        QVERIFY(p.waitForFinished(60000));
        QVERIFY(p.exitCode() != 0);
        const QString text = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError()).trimmed();
        QVERIFY2(text.contains("--sampler must be ddim, dpmpp or ddpm, got 'heun'") && !text.contains('\n'),
                 qPrintable(text));
    }

    // A tiny conditional LDM learns two clusters and which one a condition picks.
    void tinyLdmLearnsTwoClusters() {
        std::vector<std::vector<float>> latents;
        std::vector<std::vector<double>> conditions;
        std::mt19937_64 rng(3);
        std::normal_distribution<float> jitter(0.0f, 0.1f);
        for (int i = 0; i < 256; ++i) {
            const float sign = i % 2 ? 1.0f : -1.0f;
            latents.push_back({sign * 3 + jitter(rng), sign * 3 + jitter(rng)});
            conditions.push_back({sign > 0 ? 1.0 : 0.0});
        }
        Ldm2dConfig c;
        c.latent = 2;
        c.hidden = 64;
        c.blocks = 2;
        c.timeEmbedding = 32;
        c.conditions = {"cluster"};
        c.conditionDropout = 0.25;
        const Ldm2d ldm = trainTinyLdm(c, latents, conditions, 250);
        auto near = [](const std::vector<float>& z, float centre) {
            return std::hypot(z[0] - centre, z[1] - centre) < 1.0;
        };
        Ldm2dSampleOptions o;
        o.count = 200;
        o.steps = 50;
        o.seed = 2;
        int plus = 0, minus = 0;
        for (const auto& z : ldm.sample(o)) {  // unconditional: both modes
            plus += near(z, 3);
            minus += near(z, -3);
        }
        QVERIFY2(plus + minus >= 160 && plus >= 40 && minus >= 40, qPrintable(QString("%1 + %2").arg(plus).arg(minus)));
        o.conditions = {{1.0}};
        int hits = 0;
        for (const auto& z : ldm.sample(o)) hits += near(z, 3);
        QVERIFY2(hits >= 180, qPrintable(QString::number(hits)));
        o.conditions = {{0.0}};
        hits = 0;
        for (const auto& z : ldm.sample(o)) hits += near(z, -3);
        QVERIFY2(hits >= 180, qPrintable(QString::number(hits)));
        // DPM-Solver++(2M) at 16 steps picks the cluster as DDIM-50 does.
        o.sampler = "dpmpp";
        o.steps = 16;
        hits = 0;
        for (const auto& z : ldm.sample(o)) hits += near(z, -3);
        QVERIFY2(hits >= 180, qPrintable(QString::number(hits)));
    }
    // A condition that shifts every latent value a little (like a volume
    // fraction spread over a spatial latent) is seen best at high noise: the
    // v-predicting LDM learns it, the eps-predicting one much less (docs/ml.md).
    void vPredictionLearnsAGlobalCondition() {
        const int dims = 64;
        std::vector<std::vector<float>> latents;
        std::vector<std::vector<double>> conditions;
        std::mt19937_64 rng(5);
        std::normal_distribution<float> unit(0.0f, 1.0f);
        std::uniform_real_distribution<double> shift(-0.5, 0.5);
        for (int i = 0; i < 1024; ++i) {
            const double c = shift(rng);
            std::vector<float> z(dims);
            for (auto& v : z) v = float(c) + unit(rng);
            latents.push_back(z);
            conditions.push_back({c});
        }
        auto conditionR2 = [&](const std::string& prediction) {
            Ldm2dConfig c;
            c.latent = dims;
            c.hidden = 128;
            c.blocks = 2;
            c.timeEmbedding = 32;
            c.conditions = {"shift"};
            c.prediction = prediction;
            const Ldm2d ldm = trainTinyLdm(c, latents, conditions, 40);
            Ldm2dSampleOptions o;
            o.count = 64;
            o.steps = 50;
            o.seed = 2;
            std::vector<double> target, achieved;
            for (int k = 0; k < o.count; ++k) target.push_back(-0.45 + 0.9 * k / (o.count - 1));
            for (double t : target) o.conditions.push_back({t});
            for (const auto& z : ldm.sample(o)) achieved.push_back(std::accumulate(z.begin(), z.end(), 0.0) / dims);
            return rSquared(target, achieved);
        };
        const double v = conditionR2("v"), eps = conditionR2("eps");
        qInfo("R^2 of the latent mean vs the condition: v %.3f, eps %.3f", v, eps);
        QVERIFY2(v >= 0.6, qPrintable(QString::number(v)));
        QVERIFY2(v > eps + 0.1, qPrintable(QString("v %1, eps %2").arg(v).arg(eps)));
    }
    void generationMeasures() {
        QCOMPARE(wasserstein1({0.1, 0.2, 0.3}, {0.1, 0.2, 0.3}), 0.0);
        QVERIFY(std::fabs(wasserstein1({0.0, 0.0}, {0.5, 0.5}) - 0.5) < 1e-12);
        QCOMPARE(rSquared({1, 2, 3}, {1, 2, 3}), 1.0);
        QVERIFY(std::fabs(rSquared({1, 2, 3}, {2, 2, 2}) - 0.0) < 1e-12);
        // Squared Pearson ignores scale and offset (the 3D paper's R^2); hand case:
        // t = 1,2,3 vs a = 1,3,2: cov 0.5, var 1 and 1 -> r 0.5, R^2 0.25.
        QCOMPARE(squaredPearson({1, 2, 3}, {3, 5, 7}), 1.0);
        QVERIFY(std::fabs(squaredPearson({1, 2, 3}, {1, 3, 2}) - 0.25) < 1e-12);
        QVERIFY(std::isnan(squaredPearson({1, 2, 3}, {2, 2, 2})));
        QVERIFY_THROWS_EXCEPTION(ms::Error, squaredPearson({1, 2}, {1, 2, 3}));
        const auto a = syntheticImages(3, 32, 1);
        QCOMPARE(twoPointError(a, a, 10), 0.0);
        ms::Volume v(ms::Dims{4, 4, 1}, ms::Acceptor);
        v.labels()[0] = ms::Donor;
        v.attributes["phi"] = 0.4;
        const auto c = conditionValues(v, {"vf", "phi"});
        QCOMPARE(c, (std::vector<double>{1.0 / 16, 0.4}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, conditionValues(v, {"chi"}));
    }
    // The paired bootstrap of two samplers' R^2 difference (evaluate --compare-steps).
    void r2DifferenceInterval() {
        std::mt19937_64 rng(3);
        std::normal_distribution<double> noise(0.0, 1.0);
        auto draw = [&](std::size_t n, double sigmaA, double sigmaB) {
            std::vector<double> t, a, b;
            for (std::size_t i = 0; i < n; ++i) {
                t.push_back(double(i) / double(n));
                a.push_back(t.back() + sigmaA * noise(rng));
                b.push_back(t.back() + sigmaB * noise(rng));
            }
            return std::tuple{t, a, b};
        };
        // The same values: a zero difference and a zero-width interval.
        {
            const auto [t, a, unused] = draw(64, 0.1, 0.1);
            (void)unused;
            const auto d = bootstrapR2Difference(t, a, a);
            QCOMPARE(d.estimate, 0.0);
            QCOMPARE(d.low, 0.0);
            QCOMPARE(d.high, 0.0);
        }
        // One sampler far noisier: the interval lies above 0 and holds the estimate;
        // the same seed gives the same interval, four times the targets a narrower one.
        auto [t, a, b] = draw(64, 0.05, 0.3);
        const auto d = bootstrapR2Difference(t, a, b);
        QCOMPARE(d.estimate, squaredPearson(t, a) - squaredPearson(t, b));
        QVERIFY2(d.low > 0.0 && d.low <= d.estimate && d.estimate <= d.high,
                 qPrintable(QString("%1 [%2, %3]").arg(d.estimate).arg(d.low).arg(d.high)));
        const auto again = bootstrapR2Difference(t, a, b);
        QCOMPARE(again.low, d.low);
        QCOMPARE(again.high, d.high);
        const auto [t4, a4, b4] = draw(256, 0.05, 0.3);
        const auto more = bootstrapR2Difference(t4, a4, b4);
        QVERIFY2(more.high - more.low < 0.75 * (d.high - d.low),
                 qPrintable(QString("256 targets %1, 64 targets %2").arg(more.high - more.low).arg(d.high - d.low)));
        // Two far outliers in one sampler only (the speck-like targets of the 3D
        // model): the estimate moves a lot, and the interval says how little it means.
        std::vector<double> outlier = a;
        outlier[0] = 1.0;
        outlier[1] = 1.0;
        const auto swing = bootstrapR2Difference(t, a, outlier);
        QVERIFY(swing.estimate > 0.1 && swing.low < 0.05 && swing.high > swing.estimate);
        // A 90% interval lies inside the 95% one (same draws).
        const auto narrow = bootstrapR2Difference(t, a, b, 2000, 0.9);
        QVERIFY(narrow.low >= d.low && narrow.high <= d.high);
        QVERIFY_THROWS_EXCEPTION(ms::Error, bootstrapR2Difference({1, 2}, {1, 2}, {1, 2}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, bootstrapR2Difference(t, a, {1, 2, 3}));
        QVERIFY_THROWS_EXCEPTION(ms::Error, bootstrapR2Difference(t, a, b, 2000, 1.5));
    }

    // Issue 20: the test split is never read by training code. Judged by the
    // samples' `split` text (the dataset builder's), not by the file name:
    // trainVae2d refuses a test sample in its training or validation set,
    // and `train vae2d` / `train ldm2d` (whose library call sees latents
    // only) stop with one error line before training.
    // Issue 21: a full disk while training wrote a 22-line c10::Error trace
    // and a 0-byte temp file (LibTorch's writer throws from a destructor).
    // Now: one line naming the file, exit 1, nothing partial left.
    void trainingOnAFullDiskFailsInOneLine() {
        const auto dir = tempDir("fulldisk");
        ms::io::writeHdf5(syntheticImages(4, 24, 3), dir / "train.h5");
        fs::create_directories(dir / "out");
        const QString d = QString::fromStdString(dir.string());
        QProcess p;
        p.setChildProcessModifier([] {
            ::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG, as on a full disk
            rlimit limit{3000, 3000};
            ::setrlimit(RLIMIT_FSIZE, &limit);
        });
        p.start(MICROSTUDIO_CLI, {"train",      "vae2d",
                                  "--data",     d + "/train.h5",
                                  "--out",      d + "/out/v.pt",
                                  "--epochs",   "1",
                                  "--batch",    "4",
                                  "--latent",   "8",
                                  "--hidden",   "32",
                                  "--channels", "4,8",
                                  "--kernels",  "4,4",
                                  "--threads",  "1"});
        QVERIFY(p.waitForFinished(120000));
        const QString err = QString::fromUtf8(p.readAllStandardError()).trimmed();
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 1);
        const QString last = err.section('\n', -1);
        QVERIFY2(last.startsWith("microstudio-cli train: error: ") && last.contains("write failed") &&
                     last.contains(d + "/out/"),
                 qPrintable(err));
        QVERIFY2(!err.contains("terminate called") && !err.contains("c10::Error"), qPrintable(err));
        for (const auto& entry : fs::directory_iterator(dir / "out"))
            QVERIFY2(entry.path().filename().string().find(".tmp") == std::string::npos, entry.path().c_str());
        QVERIFY(!fs::exists(dir / "out" / "v.pt"));
    }

    void trainingsRefuseTestSplit() {
        const auto dir = tempDir("split");
        auto train = syntheticImages(4, 24, 3), validation = syntheticImages(2, 24, 30);
        for (std::size_t i = 0; i < train.size(); ++i) {
            train[i].text["split"] = "train";
            train[i].text["sample"] = "run_00000" + std::to_string(i) + "_snap_000001";
        }
        for (auto& v : validation) v.text["split"] = "val";
        auto withTest = train;
        withTest[1].text["split"] = "test";
        withTest[3].text["split"] = " Test";  // trimmed, any case
        auto testValidation = validation;
        testValidation[1].text["split"] = "test";
        Vae2dTrainOptions options;
        options.train.epochs = 1;
        options.train.batchSize = 4;
        options.train.threads = 1;
        auto refusal = [&](const std::vector<ms::Volume>& t, const std::vector<ms::Volume>& v) {
            Vae2d vae(tinyVae(), 1);
            try {
                trainVae2d(vae, t, v, options);
            } catch (const ms::Error& e) {
                return QString::fromStdString(e.what());
            }
            return QString();
        };
        QCOMPARE(refusal(withTest, validation),
                 QString("training data holds 2 samples of the test split (e.g. run_000001_snap_000001); "
                         "test samples are read only by evaluate"));
        QCOMPARE(refusal(train, testValidation),
                 QString("validation data holds 1 sample of the test split (e.g. sample 1); "
                         "test samples are read only by evaluate"));
        QCOMPARE(refusal(train, validation), QString());  // train / val: trains
        auto unmarked = train;
        for (auto& v : unmarked) v.text.erase("split");
        QCOMPARE(refusal(unmarked, {}), QString());  // data without splits: trains
        QVERIFY(!isTestSample(train[0]) && isTestSample(withTest[3]));

        // The CLI: the split travels through HDF5 as a text attribute.
        ms::io::writeHdf5(withTest, dir / "mixed.h5");
        ms::io::writeHdf5(train, dir / "train.h5");
        ms::io::writeHdf5(testValidation, dir / "val.h5");
        QCOMPARE(ms::io::readSamples((dir / "mixed.h5").string())[1].text.at("split"), std::string("test"));
        Vae2d(tinyVae(), 1).save(dir / "vae.pt");
        const QString d = QString::fromStdString(dir.string());
        auto run = [&](const QStringList& arguments, QString* err) {
            QProcess p;
            p.start(MICROSTUDIO_CLI, arguments);
            if (!p.waitForFinished(120000)) return -1;
            *err = QString::fromUtf8(p.readAllStandardError()).trimmed();
            return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        };
        const QStringList vae = {"--epochs", "1",          "--batch", "4",         "--latent", "8",         "--hidden",
                                 "32",       "--channels", "4,8",     "--kernels", "4,4",      "--threads", "1"};
        const QStringList ldm = {"--vae",    d + "/vae.pt", "--epochs", "1",  "--batch",      "4",  "--hidden",  "16",
                                 "--blocks", "1",           "--steps",  "50", "--conditions", "vf", "--threads", "1"};
        QString err;
        QCOMPARE(run(QStringList{"train", "vae2d", "--data", d + "/mixed.h5", "--out", d + "/v.pt"} + vae, &err), 1);
        QVERIFY2(!err.contains('\n') && err.startsWith("microstudio-cli train: error: training data (" + d +
                                                       "/mixed.h5) holds 2 samples of the test split (e.g. "
                                                       "run_000001_snap_000001)"),
                 qPrintable(err));
        QCOMPARE(
            run(QStringList{"train", "vae2d", "--data", d + "/train.h5", "--val", d + "/val.h5", "--out", d + "/v.pt"} +
                    vae,
                &err),
            1);
        QVERIFY2(!err.contains('\n') && err.contains("validation data (" + d +
                                                     "/val.h5) holds 1 sample of the test "
                                                     "split (e.g. sample_000001)"),
                 qPrintable(err));
        QCOMPARE(run(QStringList{"train", "ldm2d", "--data", d + "/mixed.h5", "--out", d + "/l.pt"} + ldm, &err), 1);
        QVERIFY2(
            !err.contains('\n') && err.contains("training data (" + d + "/mixed.h5) holds 2 samples of the test split"),
            qPrintable(err));
        QCOMPARE(
            run(QStringList{"train", "ldm2d", "--data", d + "/train.h5", "--val", d + "/val.h5", "--out", d + "/l.pt"} +
                    ldm,
                &err),
            1);
        QVERIFY2(
            !err.contains('\n') && err.contains("validation data (" + d + "/val.h5) holds 1 sample of the test split"),
            qPrintable(err));
        QVERIFY(!fs::exists(dir / "v.pt") && !fs::exists(dir / "l.pt") && !fs::exists(dir / "v.pt.ckpt"));
        fs::remove_all(dir);
    }

    // The paper's three-stage study as a library call: 3 batch sizes, then
    // the other L at the best batch, then the two other betas at the best L
    // (the run that an earlier stage trained is reused: 6 trainings), each
    // stage's winner the lowest validation loss, pixel errors in [0, 1].
    void vaeStudyChoosesByValidationLoss() {
        const auto dir = tempDir("study");
        TrainingSamples data{syntheticImages(12, 24, 1), syntheticImages(3, 24, 100)};
        VaeStudyOptions o;
        o.architecture = tinyVae();
        o.train.epochs = 1;
        o.train.threads = 1;
        o.checkpoints = dir;
        std::vector<std::pair<int, std::vector<VaeStudyRun>>> stages;
        int started = 0;
        o.starting = [&](const VaeStudyRun&, TrainOptions& options) {
            ++started;
            QCOMPARE(options.checkpoint.parent_path(), dir);
        };
        o.stageDone = [&](int stage, const std::vector<VaeStudyRun>& runs) { stages.emplace_back(stage, runs); };
        const auto result = runVaeStudy(data, o);
        QCOMPARE(started, 6);
        QCOMPARE(int(result.runs.size()), 6);
        QCOMPARE(int(stages.size()), 3);
        QCOMPARE(int(stages[0].second.size()), 3);
        QCOMPARE(int(stages[1].second.size()), 2);
        QCOMPARE(int(stages[2].second.size()), 3);
        auto best = [](const std::vector<VaeStudyRun>& runs) {
            return *std::min_element(runs.begin(), runs.end(), [](const VaeStudyRun& a, const VaeStudyRun& b) {
                return a.report.bestValidationLoss < b.report.bestValidationLoss;
            });
        };
        QCOMPARE(result.bestBatch, best(stages[0].second).batch);
        QCOMPARE(result.bestLatent, best(stages[1].second).latent);
        QCOMPARE(result.bestBeta, best(stages[2].second).beta);
        for (const auto& r : stages[1].second) QCOMPARE(r.batch, result.bestBatch);
        for (const auto& r : stages[2].second) QCOMPARE(r.latent, result.bestLatent);
        for (const auto& r : result.runs) {
            QCOMPARE(r.name, vaeStudyRunName(r.batch, r.latent, r.beta));
            QVERIFY(r.pixelError >= 0.0 && r.pixelError <= 1.0);
            QVERIFY(!fs::exists(dir / (r.name + ".ckpt")));
        }
        QCOMPARE(vaeStudyRunName(32, 128, 0.25), std::string("b32_L128_beta0.25"));
        fs::remove_all(dir);
    }

    // `train recipe` fills the 2D pipeline's plans itself (no argument
    // strings): the four shipped 2D models with the recipe's architectures,
    // float16, their links (the LDMs over ldm-vae2d) and filters recorded,
    // and a rerun keeps every finished model.
    void trainRecipeBuildsTheFour2dModels() {
        const auto dir = tempDir("recipe2d");
        auto images = syntheticImages(12, 24, 1);
        for (std::size_t i = 0; i < images.size(); ++i) {
            images[i].attributes["phi"] = 0.4 + 0.01 * double(i);
            images[i].attributes["chi"] = 3.0 - 0.05 * double(i);
        }
        ms::io::writeHdf5({images.begin(), images.begin() + 9}, dir / "train.h5");
        ms::io::writeHdf5({images.begin() + 9, images.end()}, dir / "val.h5");
        const QString d = QString::fromStdString(dir.string());
        const QStringList command = {"train",
                                     "recipe",
                                     "--data",
                                     d + "/train.h5",
                                     "--val",
                                     d + "/val.h5",
                                     "--out",
                                     d + "/models",
                                     "--vae-epochs",
                                     "1",
                                     "--ldm-vae-epochs",
                                     "1",
                                     "--ldm-epochs",
                                     "1",
                                     "--threads",
                                     "1"};
        QProcess p;
        p.start(MICROSTUDIO_CLI, command);
        QVERIFY(p.waitForFinished(300000));
        const QString text = p.readAllStandardOutput() + p.readAllStandardError();
        QVERIFY2(p.exitCode() == 0, qPrintable(text));
        const auto models = dir / "models";
        const auto denoiser = Vae2d::load(models / "denoise-vae2d.pt");
        QCOMPARE(denoiser.config().channels, (std::vector<int>{32, 64}));
        QCOMPARE(denoiser.config().kernels, (std::vector<int>{4, 4}));
        QCOMPARE(denoiser.config().midBlocks, 2);
        QCOMPARE(denoiser.config().latentChannels, 4);
        QCOMPARE(denoiser.metadata().weightsPrecision, std::string("float16"));
        QVERIFY(denoiser.metadata().description.rfind("denoising 2D VAE", 0) == 0);
        const auto ldmVae = Vae2d::load(models / "ldm-vae2d.pt");
        QCOMPARE(ldmVae.config().kernels, (std::vector<int>{4, 4, 3}));
        QCOMPARE(ldmVae.config().latentChannels, 2);
        QVERIFY(ldmVae.metadata().description.rfind("plain 2D VAE", 0) == 0);
        for (const char* name : {"ldm2d", "ldm2d-uncond"}) {
            const auto ldm = Ldm2d::load(models / (std::string(name) + ".pt"));
            const bool conditional = std::string(name) == "ldm2d";
            QCOMPARE(ldm.config().conditions,
                     conditional ? (std::vector<std::string>{"vf", "phi", "chi"}) : std::vector<std::string>{});
            QCOMPARE(ldm.config().hidden, 512);
            QCOMPARE(ldm.config().prediction, std::string("v"));
            QCOMPARE(ldm.config().latent, 2 * 3 * 3);  // ldm-vae2d's spatial latent on 24x24
            const auto& training = ldm.metadata().training;
            QCOMPARE(ms::stringAt(training, "vae"), std::string("ldm-vae2d"));
            QCOMPARE(ms::stringAt(training, "vae_data_hash"), ldmVae.metadata().dataHash);
            QCOMPARE(ms::numberAt(training, "min_phase_fraction"), 0.01);
            QCOMPARE(training.contains("validation_mse_conditioned"), conditional);
        }
        QVERIFY(fs::exists(models / "checkpoints" / "ldm2d-history.csv"));
        QProcess again;
        again.start(MICROSTUDIO_CLI, command);
        QVERIFY(again.waitForFinished(120000));
        const QString rerun = again.readAllStandardOutput();
        QCOMPARE(again.exitCode(), 0);
        QCOMPARE(int(rerun.count("keeping ")), 4);
        fs::remove_all(dir);
    }

    // The CLI end to end on tiny models: train, models, denoise, ldm2d,
    // sample2d, and the learned row of `noise eval`.
    void cliEndToEnd() {
        const auto dir = tempDir("cli");
        ms::io::writeHdf5(syntheticImages(12, 24, 1), dir / "train.h5");
        ms::io::writeHdf5(syntheticImages(4, 24, 100), dir / "val.h5");
        auto run = [&](const QStringList& arguments, QString* output = nullptr) {
            QProcess p;
            p.start(MICROSTUDIO_CLI, arguments);
            if (!p.waitForFinished(120000)) return -1;
            const QString out = p.readAllStandardOutput() + p.readAllStandardError();
            if (output) *output = out;
            if (p.exitCode() != 0) qWarning("%s", qPrintable(out));
            return p.exitCode();
        };
        const QString d = QString::fromStdString(dir.string());
        QCOMPARE(
            run({"train",         "vae2d",    "--data",     d + "/train.h5", "--val",     d + "/val.h5", "--out",
                 d + "/m/vae.pt", "--epochs", "2",          "--batch",       "4",         "--latent",    "8",
                 "--hidden",      "32",       "--channels", "4,8",           "--kernels", "4,4",         "--history",
                 d + "/h.csv"}),
            0);
        QVERIFY(fs::exists(dir / "m" / "vae.pt") && fs::exists(dir / "m" / "vae.json") && fs::exists(dir / "h.csv"));
        QString out;
        QCOMPARE(run({"models", "--dir", d + "/m", "--json"}, &out), 0);
        const ms::Json list = ms::parseJson(out.toStdString());
        QCOMPARE(list.size(), std::size_t(1));
        QCOMPARE(ms::stringAt(list[0], "kind"), std::string("vae2d"));
        QCOMPARE(ms::numberAt(ms::memberAt(ms::memberAt(list[0], "training"), "report"), "epochs_done"), 2.0);
        QCOMPARE(run({"denoise", d + "/val.h5", d + "/den.h5", "--model", d + "/m/vae.pt", "--clean", d + "/val.h5"}),
                 0);
        const auto denoised = ms::io::readSamples((dir / "den.h5").string());
        QCOMPARE(denoised.size(), std::size_t(4));
        QCOMPARE(denoised[0].dims(), (ms::Dims{24, 24, 1}));
        QCOMPARE(run({"train",        "ldm2d",
                      "--vae",        d + "/m/vae.pt",
                      "--data",       d + "/train.h5",
                      "--val",        d + "/val.h5",
                      "--out",        d + "/m/ldm.pt",
                      "--epochs",     "2",
                      "--batch",      "4",
                      "--hidden",     "16",
                      "--blocks",     "1",
                      "--steps",      "50",
                      "--conditions", "vf"}),
                 0);
        QCOMPARE(
            run({"sample2d", d + "/s.h5", "--model", d + "/m/ldm.pt", "--count", "3", "--steps", "5", "--vf", "0.5"}),
            0);
        QCOMPARE(ms::io::readSamples((dir / "s.h5").string()).size(), std::size_t(3));
        // The unconditional LDM beside the conditional one is --compare's "LDM" row;
        // the metadata records what conditioning the model learnt.
        QCOMPARE(run({"train",        "ldm2d",
                      "--vae",        d + "/m/vae.pt",
                      "--data",       d + "/train.h5",
                      "--out",        d + "/m/ldm-uncond.pt",
                      "--epochs",     "1",
                      "--batch",      "4",
                      "--hidden",     "16",
                      "--blocks",     "1",
                      "--steps",      "50",
                      "--conditions", "none"}),
                 0);
        QCOMPARE(run({"sample2d", "--compare", d + "/val.h5", "--model", d + "/m/ldm.pt", "--unconditional",
                      d + "/m/ldm-uncond.pt", "--count", "4", "--steps", "5"},
                     &out),
                 0);
        QVERIFY2(out.contains("LDM (ldm-uncond)") && out.contains("R^2(vf)"), qPrintable(out));
        QVERIFY(readMetadata(dir / "m" / "ldm.pt").training.contains("validation_mse_conditioned"));
        QCOMPARE(run({"sample2d", "--compare", d + "/val.h5", "--model", d + "/m/ldm.pt", "--unconditional",
                      d + "/m/ldm.pt", "--count", "4", "--steps", "5"},
                     &out),
                 1);  // a conditional model is no unconditional row
        QVERIFY2(out.contains("is conditional"), qPrintable(out));
        QCOMPARE(run({"noise", "eval", "--model", d + "/m/vae.pt", "--synthetic", "2", "--size", "24", "--types",
                      "salt-pepper", "--no-descriptors", "--json"},
                     &out),
                 0);
        QVERIFY2(out.contains("\"learned\""), qPrintable(out));
        // Two learned denoisers side by side: a row each, named by file, on the same noisy images.
        fs::copy_file(dir / "m" / "vae.pt", dir / "m" / "twin.pt");
        fs::copy_file(dir / "m" / "vae.json", dir / "m" / "twin.json");
        QCOMPARE(run({"noise", "eval", "--model", d + "/m/vae.pt," + d + "/m/twin.pt", "--synthetic", "2", "--size",
                      "24", "--types", "salt-pepper", "--no-descriptors", "--json"},
                     &out),
                 0);
        const std::string text = out.toStdString();  // the JSON list, then stderr's lines
        const auto rows = ms::Json::parse(text.substr(text.find('['), text.rfind(']') - text.find('[') + 1));
        ms::Json vae, twin;
        for (const auto& row : rows) {
            if (row.at("denoiser") == "vae") vae = row;
            if (row.at("denoiser") == "twin") twin = row;
        }
        QVERIFY2(vae.is_object() && twin.is_object(), qPrintable(out));
        QCOMPARE(twin.at("kind").get<std::string>(), std::string("learned"));
        QCOMPARE(twin.at("pixel_error").get<double>(),
                 vae.at("pixel_error").get<double>());  // same weights, same images
        // Bad input: a clear error, exit status 1.
        QCOMPARE(run({"denoise", d + "/val.h5", d + "/x.h5", "--model", d + "/m/ldm.pt"}, &out), 1);
        QVERIFY(out.contains("not a 2D VAE"));
        fs::remove_all(dir);
    }
};

QTEST_GUILESS_MAIN(TestMl)
#include "test_ml.moc"
