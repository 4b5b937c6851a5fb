// microstudio-cli train3d: parses the flags into ml's 3D training pipeline
// (ml/train3d.hpp: the VAE, feature predictor and DDPM in sequence, the same
// calls the studio's TrainingJob makes) and shows its progress. Each stage
// checkpoints, so rerunning the command resumes.
#ifdef MICROSTUDIO_HAVE_ML
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "args.hpp"
#include "commands.hpp"
#include "ml3d_common.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/ml/generator3d.hpp"
#include "microstudio/ml/train3d.hpp"

namespace fs = std::filesystem;

namespace ms::cli {

namespace {

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
    c.featureHead = args.value("fp-head", c.featureHead);
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
    int unetFeatures = 64;
    double minPhaseFraction = 0.01;
    // The paper's MLP memorises the training runs; the conv head reading the
    // phase fractions predicts phi best on validation (docs/ml3d.md).
    const char* featureHead = "conv-fractions";
    long limit = 0, valLimit = 256;  // every two-phase training snapshot (~7,400)
    struct Stage {
        const char* name;
        long epochs, batch;
        double lr;
        long checkpointEvery;
        // The DDPM's validation loss (on unseen runs) rises after epoch 2 while
        // the samples keep improving (docs/ml3d.md): keep its last weights.
        bool keepLast = false;
    };
    // ~3,700 VAE steps, ~9,300 feature-predictor steps, ~2,800 DDPM steps on ~7,400 samples.
    Stage stages[3] = {{"vae", 8, 16, 2e-3, 100}, {"features", 80, 64, 1e-3, 1000}, {"diffusion", 24, 64, 1e-3, 100, true}};
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

// Per-stage options shared by both commands; `stage` picks the paper rate.
ml::TrainOptions stageOptions(const Args& args, const std::string& stage, long epochs, long batch, double rate) {
    ml::TrainOptions t;
    t.epochs = int(epochs);
    t.batchSize = int(batch);
    t.learningRate = rate;
    t.seed = std::uint64_t(args.integer("seed", 0));
    t.threads = int(args.integer("threads", 0));
    t.forceCpu = args.flag("cpu");
    if (args.integer("seed", 0) < 0) throw Error("--seed must be >= 0");
    if (t.epochs < 1 || t.batchSize < 1 || t.threads < 0)
        throw Error("--epochs and --batch must be >= 1, --threads >= 0 (" + stage + ")");
    return t;
}

// What both commands run: the library pipeline, shown with a progress bar
// per stage and Ctrl-C writing the running stage's checkpoint.
struct Train3dRun {
    ml::Generator3dConfig config;  // for a new model
    ml::TrainingSampleSelection selection;
    ml::Generator3dTrainingPlan plan;
    int diffusionAugment = 0;      // 0: the model's
    int featureAugment = 0;        // 0: the model's
    std::string featureHead;       // empty: the model's; another: a fresh predictor of that head
};

// --diffusion-augment, --features-augment and --fp-head into the run (0 / empty: the model's).
void readAugmentAndHead(const Args& args, Train3dRun& run) {
    run.diffusionAugment = int(args.integer("diffusion-augment", 0));
    run.featureAugment = int(args.integer("features-augment", 0));
    if (run.diffusionAugment < 0 || run.featureAugment < 0)
        throw Error("--diffusion-augment and --features-augment must be 1 to 8");
    run.featureHead = args.value("fp-head", "");
}

// Training choices applied to a new or continued model.
void applyRunChoices(ml::Generator3D& model, const Train3dRun& run) {
    if (run.diffusionAugment > 0) model.setDiffusionAugment(run.diffusionAugment);
    if (run.featureAugment > 0) model.setFeatureAugment(run.featureAugment);
    if (!run.featureHead.empty() && run.featureHead != model.config().featureHead) {
        std::cout << "train3d: feature predictor " << model.config().featureHead << " -> a new " << run.featureHead
                  << " head (to be trained)\n";
        model.resetFeaturePredictor(run.featureHead);
    }
}

int runTrain3d(Train3dRun run) {
    auto model = ml::openGenerator3d(run.plan.modelDir, run.config, 0);
    const bool exists = fs::exists(run.plan.modelDir / "generator3d.pt");
    applyRunChoices(model, run);
    const auto& config = model.config();
    std::cout << "train3d: " << (exists ? "continuing " : "new ") << config.vae.phases << "-phase model "
              << config.vae.dims.str() << " -> latent " << config.vae.latentChannels << "x"
              << config.vae.latentDims().str() << " in " << run.plan.modelDir.string() << "\n";
    auto data = ml::loadTrainingSamples(run.selection);
    std::cout << "train3d: " << data.train.size() << " training, " << data.validation.size() << " validation samples\n";

    ProgressToken token;
    std::unique_ptr<ProgressBar> bar;
    std::string running;
    token.setListener([&bar](double f, const std::string& m) {
        if (bar) bar->update(f, m);
    });
    ml::Generator3dStageEvents events;
    events.skipped = [](const std::string& stage) {
        std::cout << "train3d: " << stage << " already trained (skipped; --stage " << stage << " retrains)\n";
    };
    events.starting = [&](const std::string& stage, int, ml::TrainOptions& options) {
        running = options.checkpoint.string();
        bar = std::make_unique<ProgressBar>("train3d " + stage);
        options.progress = &token;
    };
    events.trained = [&](const std::string& stage, const ml::TrainReport& report) {
        bar->finish();
        printReport(stage.c_str(), report);
    };
    const CancelOnInterrupt interrupt(token);
    try {
        const auto result = ml::trainGenerator3d(model, data, run.plan, events);
        std::cout << "train3d: model " << (run.plan.modelDir / "generator3d.pt").string()
                  << (result.stoppedAtLimit ? " (stopped at --stop-after)" : "") << "\n";
    } catch (const Cancelled&) {
        if (bar) bar->finish();
        std::cerr << "stopped; checkpoint " << running << " written: rerun to resume\n";
        throw;
    }
    return 0;
}

int trainRecipe3d(const CommandArgs& argv) {
    const Recipe3d recipe;
    Args args(argv, {"data", "val", "out", "limit", "val-limit", "vae-epochs", "features-epochs", "diffusion-epochs",
                     "threads", "seed", "phases", "latent-channels", "minority-weight", "choice", "fp-head",
                     "features-augment", "diffusion-augment"},
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
                     "  --fp-head H [conv-fractions]; --features-augment K, --diffusion-augment K [1]  (train3d --help)\n"
                     "  --choice TEXT          how these options were chosen on validation (recorded in the model)\n"
                     "  --limit N, --val-limit N  samples used (evenly spaced, after the filter) [0 = all, 256]\n"
                     "  --vae-epochs N, --features-epochs N, --diffusion-epochs N  [8, 80, 24]\n"
                     "  --threads N (tip: OMP_WAIT_POLICY=PASSIVE with 2), --seed S, --cpu\n";
        return 0;
    }
    if (!args.has("data") || !args.has("val")) throw Error("--data and --val are required (see --help)");
    const long phases = args.integer("phases", 2);
    if (phases != 2 && phases != 3) throw Error("--phases must be 2 or 3");
    const std::string name = phases == 3 ? "gen3d-ch3" : recipe.name;
    Train3dRun run;
    run.plan.modelDir = args.value("out", "resources/models/" + name);
    run.plan.checkpointDir = run.plan.modelDir / "checkpoints";
    fs::create_directories(run.plan.checkpointDir);
    const RecipeLock lock(run.plan.checkpointDir / ".lock");

    auto& c = run.config;
    c = phases == 3 ? ml::Generator3dConfig::paperThreePhase() : ml::Generator3dConfig::paperTwoPhase();
    c.vae.dims = parseDims(recipe.dims);
    c.vae.channels = positiveIntList(recipe.channels, "channels");
    c.vae.firstStride = 2;
    c.vae.latentChannels = int(args.integer("latent-channels", 4));
    c.vae.minorityWeight = args.number("minority-weight", 0.0);
    c.vae.periodicXY = args.flag("periodic-xy");
    c.unetFeatures = recipe.unetFeatures;
    c.diffusionContext = "data";
    c.vaeAugment = true;
    c.featureHead = args.value("fp-head", recipe.featureHead);
    c.validate();
    readAugmentAndHead(args, run);

    run.selection = {*args.value("data"), *args.value("val"), args.integer("limit", recipe.limit),
                     args.integer("val-limit", recipe.valLimit), recipe.minPhaseFraction};
    auto& plan = run.plan;
    plan.half = true;
    plan.measureDescriptors = false;
    plan.validationData = *args.value("val");
    plan.minPhaseFraction = recipe.minPhaseFraction;
    plan.choice = args.value("choice", "");
    plan.description = "shipped " + std::to_string(phases) +
                       "-phase 3D Cahn-Hilliard generator (MicroGen3D), 64x64x32, `train3d recipe`";
    for (const auto& stage : recipe.stages) {
        const long epochs = args.integer(std::string(stage.name) + "-epochs", stage.epochs);
        auto options = stageOptions(args, stage.name, epochs, stage.batch, stage.lr);
        options.checkpointEvery = stage.checkpointEvery;
        options.restoreBest = !stage.keepLast;
        plan.options[stage.name] = options;
    }
    std::cout << "recipe: " << name << " in " << plan.modelDir.string() << ", checkpoints in "
              << plan.checkpointDir.string() << "\n" << std::flush;
    if (int rc = runTrain3d(std::move(run))) return rc;
    std::cout << "recipe: done; evaluate with `microstudio-cli evaluate --model " << plan.modelDir.string()
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
               "dist-timeout", "diffusion-augment", "features-augment", "fp-head", "ema", "minority-weight", "choice"},
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
            "  --fp-head H            feature predictor: mlp, the paper's MLP on the flattened latent; conv,\n"
            "                         two convolutions averaged over the latent grid; conv-fractions, conv\n"
            "                         reading the volume's phase fractions too (docs/ml3d.md) [mlp]; on an\n"
            "                         existing model another head replaces its predictor, to be trained again\n"
            "  --features-augment K   feature predictor on K of the 8 x/y symmetries of each training volume [1]\n"
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
    Train3dRun run;
    run.config = configFromArgs(args);
    readAugmentAndHead(args, run);
    const double minPhase = args.number("min-phase-fraction", 0.0);
    if (minPhase < 0.0 || minPhase >= 0.5) throw Error("--min-phase-fraction must be in [0, 0.5)");
    run.selection = {*args.value("data"), args.value("val", ""), args.integer("limit", 0), args.integer("val-limit", 0),
                     minPhase};
    auto& plan = run.plan;
    plan.modelDir = *args.value("out");
    plan.checkpointDir = args.value("checkpoint-dir", plan.modelDir.string());
    plan.only = args.value("stage", "all");
    if (plan.only != "all" && plan.only != "vae" && plan.only != "features" && plan.only != "diffusion")
        throw Error("--stage must be vae, features, diffusion or all");
    plan.restartDiffusion = args.flag("restart");
    if (plan.restartDiffusion && plan.only != "diffusion") throw Error("--restart goes with --stage diffusion");
    plan.half = args.flag("half");
    plan.measureDescriptors = args.flag("describe");
    plan.validationData = args.value("val", "");
    plan.minPhaseFraction = minPhase;
    plan.choice = args.value("choice", "");
    plan.description = args.value("description", "");

    // One rendezvous for the three stages.
    const auto distributed = ml::DistributedOptions::fromArguments(
        args.value("world-size", ""), args.value("rank", ""), args.value("master", ""), args.value("dist-timeout", ""));
    std::shared_ptr<ml::Communicator> communicator;
    if (distributed.enabled()) {
        std::cout << "train3d: " << distributed.describe() << ", connecting\n" << std::flush;
        communicator = std::make_shared<ml::Communicator>(distributed);
    }
    plan.writer = distributed.rank == 0;
    for (const auto& stage : ml::generator3dStages()) {
        auto t = stageOptions(args, stage, args.integer("epochs", 10), args.integer("batch", 32),
                              args.number("lr", ml::paperLearningRate(stage)));
        t.checkpointEvery = args.integer("checkpoint-every", 100);
        t.patience = int(args.integer("patience", 0));
        t.minDelta = args.number("min-delta", 0.0);
        t.stopAfterSteps = args.integer("stop-after", 0);
        t.restoreBest = !args.flag("keep-last");
        t.emaDecay = args.number("ema", 0.0);
        if (!(t.emaDecay >= 0.0 && t.emaDecay < 1.0)) throw Error("--ema must be in [0, 1)");
        if (t.checkpointEvery < 0 || t.patience < 0 || t.stopAfterSteps < 0)
            throw Error("--checkpoint-every, --patience and --stop-after must be >= 0");
        t.distributed = distributed;
        t.communicator = communicator;
        plan.options[stage] = t;
    }
    return runTrain3d(std::move(run));
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
