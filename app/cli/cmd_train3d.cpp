// microstudio-cli train3d: the three sequential trainings of the 3D
// generator (VAE, feature predictor, DDPM) on a dataset of volumes whose
// attributes hold the descriptors and processing parameters. Each stage
// checkpoints into the model folder, so rerunning the command resumes.
#ifdef MICROSTUDIO_HAVE_ML
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "ml3d_common.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/splits.hpp"
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
#include "microstudio/descriptors/descriptors.hpp"
#endif

namespace fs = std::filesystem;

namespace ms::cli {

namespace {

// The samples of `path` whose rarer phase fills at least `minPhase` of the
// volume (0 = all), then at most `limit` of them, evenly spaced (0 = all).
std::vector<Volume> readSelected(const std::string& path, long limit, double minPhase) {
    auto all = ml3d::withMinority(io::readSamples(path), minPhase);
    if (limit <= 0 || std::size_t(limit) >= all.size()) return all;
    std::vector<Volume> out;
    for (long i = 0; i < limit; ++i) out.push_back(std::move(all[std::size_t(i) * all.size() / std::size_t(limit)]));
    return out;
}

// Computes the descriptors of volumes that lack one of the outputs.
void completeAttributes(std::vector<Volume>& volumes, const std::vector<std::string>& outputs, bool describe) {
    for (std::size_t i = 0; i < volumes.size(); ++i)
        for (const auto& name : outputs) {
            if (volumes[i].attributes.count(name)) continue;
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
            if (describe) {
                descriptors::storeAsAttributes(descriptors::describe(volumes[i]), volumes[i]);
                if (volumes[i].attributes.count(name)) continue;
            }
#endif
            throw Error("sample " + std::to_string(i) + " lacks attribute '" + name + "'" +
                        (describe ? "" : " (--describe computes missing descriptors)"));
        }
}

// Which split chose what (docs/ml3d.md, "Which split chooses what"): the
// trainings read the train split only, every choice is made on validation,
// test is read only by `evaluate`. Recorded in the model's training metadata.
void recordChoices(Json& training, const Args& args) {
    Json& choices = training["choices"];
    choices["trained_on"] = "the train split (test-split samples are refused)";
    choices["weights_kept"] = "per stage, in its weights_kept";
    choices["validated_on"] = args.has("val") ? "the validation split (" + *args.value("val") + ")" : "none";
    choices["test_split"] = "read only by `evaluate`, to report";
    if (auto note = args.value("choice")) choices["recipe"] = *note;
}

ml::Generator3dConfig configFromArgs(const Args& args) {
    const long phases = args.integer("phases", 2);
    if (phases != 2 && phases != 3) throw Error("--phases must be 2 or 3");
    const std::string preset = args.value("config", "paper");
    ml::Generator3dConfig c;
    if (preset == "paper") c = phases == 3 ? ml::Generator3dConfig::paperThreePhase() : ml::Generator3dConfig::paperTwoPhase();
    else if (preset == "tiny") c = ml::Generator3dConfig::tiny(int(phases));
    else throw Error("--config must be paper or tiny");
    if (auto v = args.value("dims")) c.vae.dims = parseDims(*v);
    if (auto v = args.value("channels")) c.vae.channels = positiveIntList(*v, "channels");
    c.vae.latentChannels = int(args.integer("latent-channels", c.vae.latentChannels));
    c.vae.firstStride = int(args.integer("first-stride", c.vae.firstStride));
    c.vae.klWeight = args.number("kl-weight", c.vae.klWeight);
    if (args.flag("periodic-xy")) c.vae.periodicXY = true;
    c.vae.minorityWeight = args.number("minority-weight", c.vae.minorityWeight);
    c.unetFeatures = int(args.integer("features", c.unetFeatures));
    c.timesteps = int(args.integer("timesteps", c.timesteps));
    c.conditionDropout = args.number("condition-dropout", c.conditionDropout);
    c.diffusionContext = args.value("context", c.diffusionContext);
    c.prediction = args.value("prediction", c.prediction);
    if (args.flag("augment")) c.vaeAugment = true;
    if (auto v = args.value("conditions")) c.conditions = splitList(*v);
    if (auto v = args.value("outputs")) c.outputs = splitList(*v);
    else if (args.has("conditions")) {
        c.outputs = c.conditions;
        for (const auto& p : ml::processingOutputs()) c.outputs.push_back(p);
    }
    c.validate();
    return c;
}

void printReport(const char* stage, const ml::TrainReport& r) {
    std::printf("%s: %-6s %14s %16s %9s\n", stage, "epoch", "train loss", "validation loss", "seconds");
    for (const auto& e : r.history)
        std::printf("%s: %-6d %14.6g %16.6g %9.1f\n", stage, e.epoch + 1, e.trainLoss, e.validationLoss, e.seconds);
    std::printf("%s: steps %ld, %s%s, %.3f s/step this run on %s\n", stage, r.steps, r.resumed ? "resumed, " : "",
                r.earlyStopped ? "stopped early" : (r.stoppedAtLimit ? "stopped at --stop-after" : "finished"),
                r.secondsPerStep, r.device.c_str());
}

// The shipped 2-phase model (docs/ml3d.md, "Shipped model"): the paper's
// architecture scaled to 64x64x32 volumes and CPU training. The latent keeps
// the paper's 4 x 8 x 8 x 4 = 1024 values (first stride 2, three levels), the
// widths are 1/4 (VAE) and 1/8 (U-Net) of the paper's.
struct Recipe3d {
    const char* name = "gen3d-ch2";
    const char* dims = "64x64x32";
    const char* channels = "16,32,64";
    const char* unetFeatures = "64";
    const char* minPhaseFraction = "0.01";
    long limit = 0, valLimit = 256;  // every two-phase training snapshot (~7,400)
    struct Stage {
        const char* name;
        long epochs, batch;
        const char* lr;
        long checkpointEvery;
        // The DDPM's validation loss (on unseen runs) rises after epoch 2 while
        // the samples keep improving (docs/ml3d.md): keep its last weights.
        bool keepLast = false;
    };
    // ~3,700 VAE steps, ~9,300 feature-predictor steps, ~2,800 DDPM steps on ~7,400 samples.
    Stage stages[3] = {{"vae", 8, 16, "2e-3", 100}, {"features", 80, 64, "1e-3", 1000}, {"diffusion", 24, 64, "1e-3", 100, true}};
};

// An exclusive lock on DIR/checkpoints/.lock for the life of the object:
// two recipes resuming the same checkpoints would overwrite each other's.
// The kernel drops it when the process dies, so a kill leaves no stale lock.
class RecipeLock {
public:
    explicit RecipeLock(const fs::path& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
        if (fd_ < 0) throw Error("cannot open " + path.string());
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd_);
            throw Error("another `train3d recipe` is training into " + path.parent_path().parent_path().string() +
                        " (lock " + path.string() + "); wait for it or stop it first");
        }
    }
    ~RecipeLock() { ::close(fd_); }
    RecipeLock(const RecipeLock&) = delete;
    RecipeLock& operator=(const RecipeLock&) = delete;

private:
    int fd_;
};

int trainRecipe3d(const CommandArgs& argv) {
    const Recipe3d recipe;
    Args args(argv, {"data", "val", "out", "limit", "val-limit", "vae-epochs", "features-epochs", "diffusion-epochs",
                     "threads", "seed", "phases", "latent-channels", "minority-weight", "choice"},
              {"cpu", "periodic-xy"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli train3d recipe --data TRAIN.h5 --val VAL.h5 [--out DIR]\n\n"
                     "Trains the shipped 2-phase 3D generator (docs/ml3d.md, \"Shipped model\") in one go:\n"
                     "64x64x32 volumes -> latent 4x8x8x4 (VAE widths 16,32,64, first stride 2), feature\n"
                     "predictor, conditional DDPM (U-Net n_feat 64) on ABS_f_D, CT_f_D_tort1, CT_f_A_tort1\n"
                     "(trained with the samples' own descriptors as context, --context data);\n"
                     "single-phase snapshots skipped (--min-phase-fraction 0.01), float16 weights.\n"
                     "Checkpoints in DIR/checkpoints: rerun the same command after a kill or Ctrl-C to\n"
                     "resume; finished stages are kept.\n"
                     "  --phases 2|3           3: the 3-phase generator gen3d-ch3 (conditions vol_frac_D,\n"
                     "                         vol_frac_M, tortuosity_D, tortuosity_A) [2]\n"
                     "  --out DIR              [resources/models/gen3d-ch2, or gen3d-ch3 with --phases 3]\n"
                     "  --latent-channels C [4]; --periodic-xy; --minority-weight W [0]  VAE options (train3d --help)\n"
                     "  --choice TEXT          how these options were chosen on validation (recorded in the model)\n"
                     "  --limit N, --val-limit N  samples used (evenly spaced, after the filter) [0 = all, 256]\n"
                     "  --vae-epochs N, --features-epochs N, --diffusion-epochs N  [8, 80, 24]\n"
                     "  --threads N (tip: OMP_WAIT_POLICY=PASSIVE with 2), --seed S, --cpu\n";
        return 0;
    }
    if (!args.has("data") || !args.has("val")) throw Error("--data and --val are required (see --help)");
    const std::string phases = args.value("phases", "2");
    if (phases != "2" && phases != "3") throw Error("--phases must be 2 or 3");
    const std::string name = phases == "3" ? "gen3d-ch3" : recipe.name;
    const fs::path dir = args.value("out", "resources/models/" + name);
    const fs::path checkpoints = dir / "checkpoints";
    fs::create_directories(checkpoints);
    const RecipeLock lock(checkpoints / ".lock");
    std::vector<std::string> common = {
        "--data", *args.value("data"), "--val", *args.value("val"), "--out", dir.string(), "--checkpoint-dir",
        checkpoints.string(), "--phases", phases, "--dims", recipe.dims, "--channels", recipe.channels, "--first-stride", "2",
        "--latent-channels", args.value("latent-channels", "4"), "--minority-weight", args.value("minority-weight", "0"),
        "--features", recipe.unetFeatures, "--context", "data", "--augment", "--min-phase-fraction",
        recipe.minPhaseFraction, "--limit", std::to_string(args.integer("limit", recipe.limit)),
        "--val-limit", std::to_string(args.integer("val-limit", recipe.valLimit)), "--description",
        "shipped " + phases + "-phase 3D Cahn-Hilliard generator (MicroGen3D), 64x64x32, `train3d recipe`", "--threads",
        std::to_string(args.integer("threads", 0)), "--seed", std::to_string(args.integer("seed", 0)), "--half"};
    if (args.flag("periodic-xy")) common.push_back("--periodic-xy");
    if (auto note = args.value("choice")) {
        common.push_back("--choice");
        common.push_back(*note);
    }
    // A stage is done when the model records its report and no checkpoint is left.
    auto finished = [&](const std::string& stage) {
        if (!fs::exists(dir / "generator3d.pt") || fs::exists(checkpoints / (stage + ".ckpt"))) return false;
        const auto training = ml::readMetadata(dir / "generator3d.pt").training;
        return training.contains(stage);
    };
    for (const auto& stage : recipe.stages) {
        if (finished(stage.name)) {
            std::cout << "recipe: " << stage.name << " already trained in " << dir.string() << " (kept)\n";
            continue;
        }
        CommandArgs a = common;
        const std::string epochs = std::to_string(args.integer(std::string(stage.name) + "-epochs", stage.epochs));
        for (const std::string& item : {std::string("--stage"), std::string(stage.name), std::string("--epochs"), epochs,
                                        std::string("--batch"), std::to_string(stage.batch), std::string("--lr"),
                                        std::string(stage.lr), std::string("--checkpoint-every"),
                                        std::to_string(stage.checkpointEvery)})
            a.push_back(item);
        if (stage.keepLast) a.push_back("--keep-last");
        if (args.flag("cpu")) a.push_back("--cpu");
        std::cout << "recipe: stage " << stage.name << ": microstudio-cli train3d";
        for (const auto& item : a)
            std::cout << " " << (item.find(' ') == std::string::npos ? item : "'" + item + "'");
        std::cout << "\n" << std::flush;
        if (int rc = cmdTrain3d(a)) return rc;
    }
    std::cout << "recipe: done; evaluate with `microstudio-cli evaluate --model " << dir.string()
              << " -n 64 --steps 50 --json`\n";
    return 0;
}

}  // namespace

int cmdTrain3d(const CommandArgs& argv) {
    if (!argv.empty() && argv[0] == "recipe") return trainRecipe3d(CommandArgs(argv.begin() + 1, argv.end()));
    Args args(argv,
              {"data", "val", "out", "stage", "phases", "config", "dims", "channels", "latent-channels", "first-stride",
               "kl-weight", "features", "timesteps", "condition-dropout", "conditions", "outputs", "epochs", "batch", "lr",
               "seed", "checkpoint-every", "patience", "min-delta", "stop-after", "threads", "limit", "val-limit",
               "min-phase-fraction", "checkpoint-dir", "description", "context", "prediction", "world-size", "rank", "master",
               "dist-timeout", "diffusion-augment", "ema", "minority-weight", "choice"},
              {"describe", "cpu", "half", "augment", "keep-last", "restart", "periodic-xy"});
    if (args.helpRequested()) {
        std::cout <<
            "Usage: microstudio-cli train3d --data TRAIN.h5 [--val VAL.h5] --out DIR [--stage S] [OPTIONS]\n"
            "       microstudio-cli train3d recipe --data TRAIN.h5 --val VAL.h5   (the shipped gen3d-ch2; --help)\n\n"
            "Trains the 3D generator (docs/ml3d.md) in the paper's order: the VAE, then the feature\n"
            "predictor on the frozen encoder, then the conditional DDPM on the frozen latents. The model\n"
            "is DIR/generator3d.pt + .json, saved after every stage; an existing DIR is continued (its\n"
            "architecture wins over the options below). Each stage checkpoints to DIR/<stage>.ckpt:\n"
            "rerun the same command after a kill or Ctrl-C to resume.\n"
            "  --stage S              vae, features, diffusion or all [all]\n"
            "  --phases 2|3           [2]; --config paper|tiny [paper]\n"
            "  --dims NXxNYxNZ        input size [128x128x64]; --channels 64,128,256,512; --latent-channels 4\n"
            "  --first-stride 1|2     [2]; --kl-weight [1e-6]; --features U-Net n_feat [512]\n"
            "  --periodic-xy          VAE convolutions wrap around in x/y (periodic volumes), zero-pad in z\n"
            "  --minority-weight W    VAE loss weighs each sample's rarer phase by 1 + W (small features) [0]\n"
            "  --timesteps T [1000]; --condition-dropout P (classifier-free guidance) [0.1]\n"
            "  --context features|data  what conditions the DDPM in training: the feature predictor's\n"
            "                         outputs on each latent (the paper) or the samples' own descriptors [features]\n"
            "  --prediction eps|v     what the U-Net predicts: the noise (the paper) or v = sqrt(abar) eps -\n"
            "                         sqrt(1 - abar) x0, which learns the condition far better (docs/ml.md) [v]\n"
            "  --augment              VAE on random symmetries of the periodic volumes (shifts, x/y mirrors, x<->y)\n"
            "  --diffusion-augment K  DDPM on K of the 8 x/y symmetries of each training volume, each encoded\n"
            "                         (descriptors unchanged: transport is along z); K x the samples per epoch [1]\n"
            "  --conditions a,b,...   [paper lists]; --outputs a,b,... [conditions + phi,chi,log_time]\n"
            "  --describe             compute descriptors missing from the samples' attributes\n"
            "  --epochs N [10]; --batch B [32]; --lr X [paper: 5e-5 VAE and features, 1e-6 DDPM]\n"
            "  --seed S; --checkpoint-every N [100]; --patience P; --min-delta X; --stop-after N\n"
            "  --threads T; --cpu; --limit N, --val-limit N (evenly spaced subsets); --half (float16 weights)\n"
            "  --keep-last            keep the last epoch's weights (default: the best by validation loss)\n"
            "  --ema D                exponential moving average of the weights, decay D (e.g. 0.999): validated\n"
            "                         and kept instead of the raw weights [0 = off]\n"
            "  --restart              --stage diffusion: start the U-Net from its initial weights (of a new\n"
            "                         model, seed 0) instead of the model's trained ones\n"
            "  --min-phase-fraction F skip samples whose rarer of Donor / Acceptor fills less than F of the\n"
            "                         volume (single-phase early snapshots) before --limit [0: keep all];\n"
            "                         recorded in the model, `evaluate` filters its held-out data the same way\n"
            "  --checkpoint-dir D     where the <stage>.ckpt files go [DIR]; --description TEXT (for `models`)\n"
            "  --choice TEXT          how the settings were chosen on validation, recorded with the split\n"
            "                         rules in the model's training.choices\n"
            "Data-parallel (docs/scaling.md; every rank runs the same command and sees DIR; rank 0 writes):\n"
            "  --world-size N [$WORLD_SIZE or 1]; --rank R [$RANK]; global batch = N x --batch\n"
            "  --master HOST:PORT [$MASTER_ADDR:$MASTER_PORT or 127.0.0.1:29500]; --dist-timeout S [300]\n";
        return 0;
    }
    if (!args.has("data") || !args.has("out")) throw Error("--data and --out are required (see --help)");
    const fs::path dir = *args.value("out");
    const std::string stage = args.value("stage", "all");
    if (stage != "all" && stage != "vae" && stage != "features" && stage != "diffusion")
        throw Error("--stage must be vae, features, diffusion or all");

    const bool exists = fs::exists(dir / "generator3d.pt");
    auto model = exists ? ml::Generator3D::load(dir) : ml::Generator3D::create(configFromArgs(args), 0);
    if (!exists) model.metadata().name = dir.filename().string();
    if (args.has("diffusion-augment")) model.setDiffusionAugment(int(args.integer("diffusion-augment", 1)));
    const auto& config = model.config();
    std::cout << "train3d: " << (exists ? "continuing " : "new ") << config.vae.phases << "-phase model "
              << config.vae.dims.str() << " -> latent " << config.vae.latentChannels << "x"
              << config.vae.latentDims().str() << " in " << dir.string() << "\n";

    const double minPhase = args.number("min-phase-fraction", 0.0);
    if (minPhase < 0.0 || minPhase >= 0.5) throw Error("--min-phase-fraction must be in [0, 0.5)");
    auto train = readSelected(*args.value("data"), args.integer("limit", 0), minPhase);
    std::vector<Volume> validation;
    if (auto v = args.value("val")) validation = readSelected(*v, args.integer("val-limit", 0), minPhase);
    if (train.empty())
        throw Error("no training samples in " + *args.value("data") +
                    (minPhase > 0.0 ? " with both phases above --min-phase-fraction" : ""));
    // Test-split samples are for `evaluate` only; the trainings refuse them too,
    // this only says so before descriptors are computed.
    ml::refuseTestSamples(train, "training data (" + *args.value("data") + ")");
    if (auto v = args.value("val")) ml::refuseTestSamples(validation, "validation data (" + *v + ")");
    const bool needAttributes = stage != "vae";
    if (needAttributes) {
        completeAttributes(train, config.outputs, args.flag("describe"));
        completeAttributes(validation, config.outputs, args.flag("describe"));
    }
    std::cout << "train3d: " << train.size() << " training, " << validation.size() << " validation samples\n";
    // `evaluate` defaults to the recorded held-out data.
    if (auto v = args.value("val")) model.metadata().training["validation_data"] = fs::absolute(*v).string();
    model.metadata().training["min_phase_fraction"] = minPhase;
    recordChoices(model.metadata().training, args);
    if (auto text = args.value("description")) model.metadata().description = *text;

    const long seed = args.integer("seed", 0);
    if (seed < 0) throw Error("--seed must be >= 0");
    // One rendezvous for the three stages.
    const auto distributed = ml::DistributedOptions::fromArguments(
        args.value("world-size", ""), args.value("rank", ""), args.value("master", ""), args.value("dist-timeout", ""));
    std::shared_ptr<ml::Communicator> communicator;
    if (distributed.enabled()) {
        std::cout << "train3d: " << distributed.describe() << ", connecting\n" << std::flush;
        communicator = std::make_shared<ml::Communicator>(distributed);
    }
    const bool writer = distributed.rank == 0;
    const fs::path checkpointDir = args.value("checkpoint-dir", dir.string());
    auto optionsFor = [&](const std::string& name, double paperRate) {
        ml::TrainOptions t;
        t.epochs = int(args.integer("epochs", 10));
        t.batchSize = int(args.integer("batch", 32));
        t.learningRate = args.number("lr", paperRate);
        t.seed = std::uint64_t(seed);
        t.checkpoint = checkpointDir / (name + ".ckpt");
        t.checkpointEvery = args.integer("checkpoint-every", 100);
        t.patience = int(args.integer("patience", 0));
        t.minDelta = args.number("min-delta", 0.0);
        t.stopAfterSteps = args.integer("stop-after", 0);
        t.threads = int(args.integer("threads", 0));
        t.forceCpu = args.flag("cpu");
        t.restoreBest = !args.flag("keep-last");
        t.emaDecay = args.number("ema", 0.0);
        if (!(t.emaDecay >= 0.0 && t.emaDecay < 1.0)) throw Error("--ema must be in [0, 1)");
        t.distributed = distributed;
        t.communicator = communicator;
        if (t.epochs < 1 || t.batchSize < 1 || t.checkpointEvery < 0 || t.patience < 0 || t.stopAfterSteps < 0 ||
            t.threads < 0)
            throw Error("--epochs and --batch must be >= 1; --checkpoint-every, --patience, --stop-after, --threads >= 0");
        return t;
    };
    fs::create_directories(dir);
    fs::create_directories(checkpointDir);
    auto run = [&](const std::string& name, double paperRate, auto&& trainer) {
        auto options = optionsFor(name, paperRate);
        ProgressToken token;
        ProgressBar bar("train3d " + name);
        token.setListener([&bar](double f, const std::string& m) { bar.update(f, m); });
        options.progress = &token;
        const CancelOnInterrupt interrupt(token);
        try {
            const auto report = trainer(options);
            bar.finish();
            printReport(name.c_str(), report);
            model.metadata().training[name]["weights_kept"] =
                options.restoreBest ? "the epoch with the lowest validation loss" : "the last epoch (--keep-last)";
            if (writer) {
                model.save(dir, args.flag("half"));
                if (!report.stoppedAtLimit) fs::remove(options.checkpoint);
            }
            return report.stoppedAtLimit;
        } catch (const Cancelled&) {
            bar.finish();
            std::cerr << "stopped; checkpoint " << options.checkpoint.string() << " written: rerun to resume\n";
            throw;
        }
    };
    // With --stage all, a stage that finished earlier (its report is in the
    // metadata and its checkpoint is gone) is skipped, so reruns resume.
    auto wanted = [&](const std::string& name) {
        if (stage == name) return true;
        if (stage != "all") return false;
        const auto& training = model.metadata().training;
        const bool finished = training.contains(name) && !fs::exists(checkpointDir / (name + ".ckpt"));
        if (finished) std::cout << "train3d: " << name << " already trained (skipped; --stage " << name << " retrains)\n";
        return !finished;
    };
    bool stopped = false;
    if (!stopped && wanted("vae"))
        stopped = run("vae", 5e-5, [&](const ml::TrainOptions& o) { return ml::trainGenerator3dVae(model, train, validation, o); });
    if (!stopped && wanted("features"))
        stopped = run("features", 5e-5,
                      [&](const ml::TrainOptions& o) { return ml::trainGenerator3dFeatures(model, train, validation, o); });
    if (args.flag("restart")) {
        if (stage != "diffusion") throw Error("--restart goes with --stage diffusion");
        // A checkpoint, when there is one, holds this restarted run's own weights.
        if (!fs::exists(checkpointDir / "diffusion.ckpt")) model.resetDiffusion(0);
    }
    if (!stopped && wanted("diffusion"))
        stopped = run("diffusion", 1e-6,
                      [&](const ml::TrainOptions& o) { return ml::trainGenerator3dDiffusion(model, train, validation, o); });
    std::cout << "train3d: model " << (dir / "generator3d.pt").string() << (stopped ? " (stopped at --stop-after)" : "")
              << "\n";
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
