// microstudio-cli train: trains the 2D models of ml/ (the denoising VAE,
// the latent diffusion model), the paper's three-stage VAE study, and the
// one-command recipe for the shipped defaults. Checkpoints make every
// training resumable: rerun the same command after a kill or Ctrl-C.
#ifdef MICROSTUDIO_HAVE_ML
#include <atomic>
#include <chrono>
#include <ctime>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/synthetic.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/ldm2d.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/splits.hpp"
#include "microstudio/ml/train2d.hpp"
#include "microstudio/ml/vae_study.hpp"
#include "microstudio/ml/vae2d.hpp"
#include "microstudio/noise/metrics.hpp"
#include "microstudio/noise/noise.hpp"

namespace ms::cli {

namespace {

namespace fs = std::filesystem;

const std::set<std::string> kTrainOptions = {"epochs", "batch", "lr", "seed", "checkpoint", "checkpoint-every",
                                             "patience", "min-delta", "stop-after", "threads", "limit", "val-limit",
                                             "world-size", "rank", "master", "dist-timeout"};
const char* kTrainHelp =
    "Training options:\n"
    "  --epochs N             epochs [model default]\n"
    "  --batch B              batch size [32]\n"
    "  --lr X                 Adam learning rate [1e-3]\n"
    "  --seed S               seed of initialisation, data order and noise [0]\n"
    "  --checkpoint FILE      checkpoint (model, optimiser, step); an existing one is resumed [OUT.ckpt]\n"
    "  --checkpoint-every N   also checkpoint every N steps (0 = epoch ends only) [100]\n"
    "  --patience P           early stopping after P epochs without validation improvement (0 = off) [0]\n"
    "  --min-delta X          improvement that counts [0]\n"
    "  --stop-after N         stop (with a checkpoint) after N steps in total\n"
    "  --threads N            torch CPU threads (0 = every core) [0]\n"
    "  --cpu                  use the CPU even when CUDA is present\n"
    "  --keep-last            keep the last epoch's weights (default: the best by validation loss)\n"
    "  --limit N, --val-limit N  use at most N (evenly spaced) training / validation samples\n"
    "Data-parallel training (docs/scaling.md; every rank runs the same command, rank 0 writes):\n"
    "  --world-size N         processes in the run [$WORLD_SIZE or 1]; the global batch is N x --batch\n"
    "  --rank R               this process, 0..N-1 [$RANK]\n"
    "  --master HOST:PORT     rank 0's rendezvous address [$MASTER_ADDR:$MASTER_PORT or 127.0.0.1:29500]\n"
    "  --dist-timeout S       a rank lost or stalled for S seconds ends the run on every rank [300]\n";

std::set<std::string> withTrainOptions(std::set<std::string> options) {
    options.insert(kTrainOptions.begin(), kTrainOptions.end());
    return options;
}

ml::TrainOptions trainOptionsFromArgs(const Args& args, int defaultEpochs, const fs::path& out) {
    ml::TrainOptions t;
    t.epochs = int(args.integer("epochs", defaultEpochs));
    t.batchSize = int(args.integer("batch", 32));
    t.learningRate = args.number("lr", 1e-3);
    const long seed = args.integer("seed", 0);
    if (seed < 0) throw Error("--seed must be >= 0");
    t.seed = std::uint64_t(seed);
    t.checkpoint = args.value("checkpoint", out.string() + ".ckpt");
    t.checkpointEvery = args.integer("checkpoint-every", 100);
    t.patience = int(args.integer("patience", 0));
    t.minDelta = args.number("min-delta", 0.0);
    t.stopAfterSteps = args.integer("stop-after", 0);
    t.threads = int(args.integer("threads", 0));
    t.forceCpu = args.flag("cpu");
    t.restoreBest = !args.flag("keep-last");
    t.distributed = ml::DistributedOptions::fromArguments(args.value("world-size", ""), args.value("rank", ""),
                                                          args.value("master", ""), args.value("dist-timeout", ""));
    if (t.epochs < 1 || t.batchSize < 1 || t.checkpointEvery < 0 || t.patience < 0 || t.stopAfterSteps < 0 ||
        t.threads < 0)
        throw Error("--epochs and --batch must be >= 1; --checkpoint-every, --patience, --stop-after, --threads >= 0");
    return t;
}

// Runs a training with a progress bar and Ctrl-C handling.
template <typename Fn>
auto withProgress(const std::string& label, ml::TrainOptions& options, Fn&& train) -> decltype(train()) {
    ProgressToken token;
    ProgressBar bar(label);
    token.setListener([&bar](double f, const std::string& m) { bar.update(f, m); });
    options.progress = &token;
    const CancelOnInterrupt interrupt(token);
    try {
        auto report = train();
        bar.finish();
        options.progress = nullptr;
        return report;
    } catch (const Cancelled&) {
        bar.finish();
        std::cerr << "stopped; checkpoint " << options.checkpoint.string() << " written: rerun the command to resume\n";
        throw;
    }
}

void printReport(const ml::TrainReport& r) {
    std::printf("%-6s %14s %16s %9s\n", "epoch", "train loss", "validation loss", "seconds");
    for (const auto& e : r.history)
        std::printf("%-6d %14.6g %16.6g %9.1f\n", e.epoch + 1, e.trainLoss, e.validationLoss, e.seconds);
    std::printf("steps %ld, %s%s, %.3f s/step this run on %s\n", r.steps, r.resumed ? "resumed, " : "",
                r.earlyStopped ? "stopped early" : (r.stoppedAtLimit ? "stopped at --stop-after" : "finished"),
                r.secondsPerStep, r.device.c_str());
}

void writeText(const fs::path& path, const std::string& text) {
    if (path.has_parent_path()) fs::create_directories(path.parent_path());
    writeAtomically(path, [&](const fs::path& temp) {
        std::ofstream out(temp, std::ios::binary);
        out << text;
        if (!out.flush()) throw Error("cannot write " + path.string());
    });
}

// --- vae2d -------------------------------------------------------------------------

const std::set<std::string> kVaeOptions = {"data",     "val",           "out",            "latent", "beta",
                                           "hidden",   "channels",      "kernels",        "mid-blocks",
                                           "latent-channels", "clean-fraction", "history"};

ml::Vae2dConfig vaeConfigFromArgs(const Args& args) {
    ml::Vae2dConfig c;
    c.latent = int(args.integer("latent", c.latent));
    c.hidden = int(args.integer("hidden", c.hidden));
    c.midBlocks = int(args.integer("mid-blocks", c.midBlocks));
    c.latentChannels = int(args.integer("latent-channels", c.latentChannels));
    if (auto v = args.value("channels")) c.channels = positiveIntList(*v, "channels");
    if (auto v = args.value("kernels")) c.kernels = positiveIntList(*v, "kernels");
    else if (c.channels.size() != c.kernels.size()) c.kernels = ml::paperKernels(c.channels.size());
    return c;
}

// A VAE training as both `train vae2d` and the recipe run it: the library
// pipeline (ml/train2d.hpp), a progress bar, the outputs on rank 0.
struct Vae2dRun {
    ml::TrainingSampleSelection data;
    ml::Vae2dConfig config;
    ml::Vae2dTrainOptions options;
    fs::path out, history;
    bool half = false;
};

// Writes the loss history; false (with a note) when the run stopped at --stop-after.
bool finishRun(const ml::TrainReport& report, const fs::path& history) {
    printReport(report);
    if (report.rank > 0) return false;  // rank 0 writes the outputs
    if (!history.empty()) writeText(history, report.historyCsv());
    if (!report.stoppedAtLimit) return true;
    std::cout << "not saved (stopped at --stop-after); rerun without it to finish\n";
    return false;
}

int runVae2d(Vae2dRun run) {
    const auto data = ml::loadTrainingImages(run.data);
    std::cout << "train vae2d: " << data.train.size() << " training, " << data.validation.size() << " validation images "
              << data.train.front().dims().str() << ", device " << ml::preferredDevice() << "\n";
    auto trained = withProgress("train vae2d", run.options.train,
                                [&] { return ml::trainNewVae2d(data, run.config, run.options); });
    if (!finishRun(trained.report, run.history)) return 0;
    trained.model.save(run.out, run.half);
    std::cout << "wrote " << run.out.string() << " (" << trained.model.parameterCount() << " parameters) and "
              << ml::metadataPathFor(run.out).string() << "\n";
    return 0;
}

int trainVae(const CommandArgs& argv) {
    Args args(argv, withTrainOptions(kVaeOptions), {"half", "plain", "cpu", "keep-last"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli train vae2d --data TRAIN.h5 [--val VAL.h5] --out MODEL.pt [OPTIONS]\n\n"
                     "Trains the 2D paper's denoising VAE (section III.B): noisy inputs (salt-pepper, grid and\n"
                     "frequency noise drawn per image and step), clean targets, loss = BCE + beta * KL.\n"
                     "Writes MODEL.pt and MODEL.json (architecture, data hash, loss history).\n\n"
                     "Model options:\n"
                     "  --latent L             latent size [128]\n"
                     "  --beta B               KL weight [1]\n"
                     "  --hidden H             fully connected width [1024]\n"
                     "  --channels LIST        convolution widths [32,64,128,256]\n"
                     "  --kernels LIST         kernel sizes (stride 2, padding 1) [4,4,3,3]\n"
                     "  --mid-blocks N         residual 3x3 blocks at the deepest map [0]\n"
                     "  --latent-channels C    spatial latent of C channels on the deepest map\n"
                     "                         (L = C x side^2, no linear layers) instead of --latent [0]\n"
                     "  --clean-fraction X     share of inputs left clean [0.1]\n"
                     "  --plain                plain VAE: clean inputs\n"
                     "  --half                 store the weights as float16\n"
                     "  --history FILE.csv     write the loss per epoch\n\n"
                  << kTrainHelp;
        return 0;
    }
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("data") || !args.has("out")) throw Error("--data and --out are required");
    Vae2dRun run;
    run.out = *args.value("out");
    run.data = {*args.value("data"), args.value("val", ""), args.integer("limit", 0), args.integer("val-limit", 0)};
    run.config = vaeConfigFromArgs(args);
    run.options.train = trainOptionsFromArgs(args, 20, run.out);
    run.options.beta = args.number("beta", 1.0);
    run.options.denoising = !args.flag("plain");
    run.options.augmentation.cleanFraction = args.number("clean-fraction", 0.1);
    run.history = args.value("history", "");
    run.half = args.flag("half");
    return runVae2d(std::move(run));
}

// --- ldm2d -------------------------------------------------------------------------

std::vector<std::string> conditionNames(const std::string& text) {
    if (text == "none") return {};
    return splitList(text);
}

struct Ldm2dRun {
    ml::TrainingSampleSelection data;
    ml::Ldm2dPlan plan;
    fs::path out, history;
    bool half = false;
};

int runLdm2d(Ldm2dRun run) {
    const auto data = ml::loadTrainingImages(run.data);
    run.plan.status = [](const std::string& message) { std::cout << "train ldm2d: " << message << "\n" << std::flush; };
    auto trained = withProgress("train ldm2d", run.plan.options.train, [&] { return ml::trainNewLdm2d(data, run.plan); });
    if (trained.conditionUse)
        std::printf("train ldm2d: validation noise MSE %.5f with the condition, %.5f without (gain %.1f%%)\n",
                    trained.conditionUse->conditioned, trained.conditionUse->unconditioned,
                    100.0 * (1.0 - trained.conditionUse->conditioned / trained.conditionUse->unconditioned));
    if (!finishRun(trained.report, run.history)) return 0;
    trained.model.save(run.out, run.half);
    std::cout << "wrote " << run.out.string() << " (" << trained.model.parameterCount() << " parameters) and "
              << ml::metadataPathFor(run.out).string() << "\n";
    return 0;
}

int trainLdm(const CommandArgs& argv) {
    Args args(argv, withTrainOptions({"data", "val", "out", "vae", "conditions", "hidden", "blocks", "steps",
                                      "dropout", "history", "min-phase-fraction", "prediction"}),
              {"half", "cpu", "keep-last"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli train ldm2d --vae VAE.pt --data TRAIN.h5 [--val VAL.h5] --out LDM.pt\n"
                     "                                   [OPTIONS]\n\n"
                     "Trains latent diffusion (DDPM, T steps, linear betas 1e-4 -> 0.02) over the VAE's latent\n"
                     "means of the images, with an epsilon-predicting residual MLP. Conditioned on attributes\n"
                     "(vf = Donor volume fraction of the labels, or any attribute of the dataset) with\n"
                     "condition dropout for classifier-free guidance.\n\n"
                     "Model options:\n"
                     "  --vae M                the VAE (path or installed name) [denoise-vae2d]\n"
                     "  --conditions LIST      attribute names, or none [vf,phi,chi]\n"
                     "  --hidden H             MLP width [512]\n"
                     "  --blocks N             residual blocks [4]\n"
                     "  --steps T              diffusion steps [1000]\n"
                     "  --dropout P            condition dropout [0.1]\n"
                     "  --prediction eps|v     what the MLP predicts: the noise, or v = sqrt(abar) eps -\n"
                     "                         sqrt(1 - abar) x0, which learns the condition (docs/ml.md) [v]\n"
                     "  --min-phase-fraction F leave out images whose rarer phase covers less than F (the\n"
                     "                         single-phase early snapshots) [0]\n"
                     "  --half                 store the weights as float16\n"
                     "  --history FILE.csv     write the loss per epoch\n\n"
                  << kTrainHelp;
        return 0;
    }
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("data") || !args.has("out")) throw Error("--data and --out are required");
    Ldm2dRun run;
    run.out = *args.value("out");
    const double minPhase = args.number("min-phase-fraction", 0.0);
    run.data = {*args.value("data"), args.value("val", ""), args.integer("limit", 0), args.integer("val-limit", 0), minPhase};
    auto& plan = run.plan;
    plan.vae = args.value("vae", ml::kDefaultDenoiser);
    plan.config.hidden = int(args.integer("hidden", plan.config.hidden));
    plan.config.blocks = int(args.integer("blocks", plan.config.blocks));
    plan.config.steps = int(args.integer("steps", plan.config.steps));
    plan.config.conditionDropout = args.number("dropout", plan.config.conditionDropout);
    plan.config.prediction = args.value("prediction", plan.config.prediction);
    plan.config.conditions = conditionNames(args.value("conditions", "vf,phi,chi"));
    plan.options.train = trainOptionsFromArgs(args, 200, run.out);
    plan.minPhaseFraction = minPhase;
    run.history = args.value("history", "");
    run.half = args.flag("half");
    return runLdm2d(std::move(run));
}

// --- study -------------------------------------------------------------------------

// DIR/stageK_train.png and DIR/stageK_validation.png: the stage's runs' loss
// curves, labelled.
void plotStudyStage(const fs::path& dir, int stage, const std::vector<std::string>& names,
                    const std::vector<std::vector<ml::EpochRecord>>& histories) {
    std::vector<std::vector<double>> trainCurves, valCurves;
    ml::PlotText text;
    text.xLabel = "epoch";
    text.xOrigin = 1;
    text.legend = names;
    for (const auto& history : histories) {
        std::vector<double> t, v;
        for (const auto& e : history) {
            t.push_back(e.trainLoss);
            v.push_back(e.validationLoss);
        }
        trainCurves.push_back(t);
        valCurves.push_back(v);
    }
    const std::string name = "stage" + std::to_string(stage);
    text.title = "study stage " + std::to_string(stage) + ": training loss (BCE + beta KL)";
    text.yLabel = "training loss per image";
    io::writeVolume(ml::plotCurves(trainCurves, 560, 360, false, text), dir / (name + "_train.png"));
    text.title = "study stage " + std::to_string(stage) + ": validation loss";
    text.yLabel = "validation loss per image";
    io::writeVolume(ml::plotCurves(valCurves, 560, 360, false, text), dir / (name + "_validation.png"));
}

// `train study --replot`: the plots again from DIR/summary.md (which run
// belongs to which stage) and the runs' DIR/RUN.csv histories, no training.
int replotStudy(const fs::path& dir) {
    std::ifstream summary(dir / "summary.md");
    if (!summary) throw Error((dir / "summary.md").string() + ": not found (run the study first)");
    std::map<int, std::vector<std::string>> stages;
    std::string line;
    while (std::getline(summary, line)) {
        // "| 1 | b16_L128_beta1 | ..."
        int stage = 0;
        char run[128] = {};
        if (std::sscanf(line.c_str(), "| %d | %127[^ |]", &stage, run) == 2) stages[stage].push_back(run);
    }
    if (stages.empty()) throw Error((dir / "summary.md").string() + ": no stage rows");
    for (const auto& [stage, names] : stages) {
        std::vector<std::vector<ml::EpochRecord>> histories;
        for (const auto& name : names) {
            std::ifstream csv(dir / (name + ".csv"));
            if (!csv) throw Error((dir / (name + ".csv")).string() + ": not found");
            std::vector<ml::EpochRecord> history;
            std::getline(csv, line);  // header
            while (std::getline(csv, line)) {
                ml::EpochRecord e;
                if (std::sscanf(line.c_str(), "%d,%lf,%lf,%lf", &e.epoch, &e.trainLoss, &e.validationLoss, &e.seconds) == 4)
                    history.push_back(e);
            }
            histories.push_back(history);
        }
        plotStudyStage(dir, stage, names, histories);
        std::cout << "wrote " << (dir / ("stage" + std::to_string(stage) + "_{train,validation}.png")).string() << "\n";
    }
    return 0;
}

int trainStudy(const CommandArgs& argv) {
    Args args(argv, withTrainOptions({"data", "val", "out-dir", "hidden", "channels", "kernels", "docs"}),
              {"cpu", "keep-last", "replot"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli train study --data TRAIN.h5 --val VAL.h5 [--out-dir DIR] [OPTIONS]\n\n"
                     "The 2D paper's three-stage hyper-parameter study of the denoising VAE: batch size\n"
                     "{16, 32, 64} (L = 128, beta = 1); then L {32, 128} at the best batch; then beta\n"
                     "{0.25, 1, 1.5} at the best L (best = lowest validation loss). Writes per run the\n"
                     "loss curves (DIR/RUN.csv), per stage train/validation plots (DIR/stageK_train.png,\n"
                     "DIR/stageK_validation.png) and DIR/summary.md, a table with the validation pixel\n"
                     "error of the denoised images (comparable across beta, unlike the loss).\n"
                     "  --out-dir DIR          [docs/ml/study]\n"
                     "  --hidden, --channels, --kernels   architecture (paper defaults)\n"
                     "  --replot               only redraw the plots from DIR's summary.md and RUN.csv files\n\n"
                  << kTrainHelp;
        return 0;
    }
    if (args.flag("replot")) return replotStudy(args.value("out-dir", "docs/ml/study"));
    if (!args.has("data") || !args.has("val")) throw Error("--data and --val are required");
    const fs::path dir = args.value("out-dir", "docs/ml/study");
    fs::create_directories(dir);
    const auto data = ml::loadTrainingImages(
        {*args.value("data"), *args.value("val"), args.integer("limit", 0), args.integer("val-limit", 0)});
    ml::VaeStudyOptions study;
    study.architecture = vaeConfigFromArgs(args);
    study.train = trainOptionsFromArgs(args, 10, dir / "study");
    if (study.train.distributed.enabled()) throw Error("train study runs in one process (--world-size is for vae2d, ldm2d)");
    study.checkpoints = dir;
    std::string summary =
        "| stage | run | batch | L | beta | epochs | best validation loss | final train loss | validation pixel error | "
        "s/step |\n|---|---|---|---|---|---|---|---|---|---|\n";
    ProgressToken token;
    std::unique_ptr<ProgressBar> bar;
    token.setListener([&bar](double f, const std::string& m) {
        if (bar) bar->update(f, m);
    });
    const CancelOnInterrupt interrupt(token);
    study.starting = [&](const ml::VaeStudyRun& r, ml::TrainOptions& options) {
        std::cout << "study stage " << r.stage << ": " << r.name << "\n";
        bar = std::make_unique<ProgressBar>("study " + r.name);
        options.progress = &token;
    };
    study.finished = [&](const ml::VaeStudyRun& r) {
        bar->finish();
        writeText(dir / (r.name + ".csv"), r.report.historyCsv());
        char row[256];
        std::snprintf(row, sizeof row, "| %d | %s | %d | %d | %g | %d | %.2f | %.2f | %.4f | %.3f |\n", r.stage,
                      r.name.c_str(), r.batch, r.latent, r.beta, r.report.epochsDone, r.report.bestValidationLoss,
                      r.report.history.empty() ? 0.0 : r.report.history.back().trainLoss, r.pixelError,
                      r.report.secondsPerStep);
        summary += row;
        writeText(dir / "summary.md", summary);
    };
    study.stageDone = [&](int stage, const std::vector<ml::VaeStudyRun>& runs) {
        std::vector<std::string> names;
        std::vector<std::vector<ml::EpochRecord>> histories;
        for (const auto& r : runs) {
            names.push_back(r.name);
            histories.push_back(r.report.history);
        }
        plotStudyStage(dir, stage, names, histories);
    };
    const auto result = ml::runVaeStudy(data, study);
    summary += "\nBest batch " + std::to_string(result.bestBatch) + ", best L " + std::to_string(result.bestLatent) +
               ", best beta by validation loss " + std::to_string(result.bestBeta) +
               ". Loss curves per stage in stageK_train.png and stageK_validation.png (legend: run names).\n";
    writeText(dir / "summary.md", summary);
    std::cout << summary;
    return 0;
}

// --- recipe ------------------------------------------------------------------------

int trainRecipe(const CommandArgs& argv) {
    Args args(argv, {"data", "val", "out", "limit", "val-limit", "vae-epochs", "ldm-vae-epochs", "ldm-epochs", "threads",
                     "seed"},
              {"cpu"});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli train recipe --data TRAIN.h5 --val VAL.h5 [--out DIR]\n\n"
                     "Trains the shipped 2D defaults in one go (the recipe of docs/ml.md):\n"
                     "  1. the denoising VAE DIR/denoise-vae2d.pt (spatial 4x25x25 latent, multi-noise\n"
                     "     augmentation, beta 0.1);\n"
                     "  2. the generative VAE DIR/ldm-vae2d.pt (plain, spatial 2x13x13 latent, beta 1): a\n"
                     "     small latent the diffusion model can learn;\n"
                     "  3. the conditional latent diffusion model DIR/ldm2d.pt on the latents of 2\n"
                     "     (conditioned on vf, phi, chi; v prediction; images whose rarer phase covers\n"
                     "     at least 1 %, as generation targets are two-phase microstructures);\n"
                     "  4. the unconditional one, DIR/ldm2d-uncond.pt, the same without conditions (its\n"
                     "     samples beat the conditional model's null-condition samples).\n"
                     "All float16. Checkpoints live in DIR/checkpoints: rerun the same command after a kill\n"
                     "to resume; a finished model is kept.\n"
                     "  --out DIR              [resources/models]\n"
                     "  --limit N              VAE training images [16000]; the LDMs use every image\n"
                     "  --val-limit N          validation images [400]\n"
                     "  --vae-epochs N, --ldm-vae-epochs N, --ldm-epochs N  [8, 4, 30]\n"
                     "  --threads N, --seed S, --cpu\n";
        return 0;
    }
    if (!args.has("data") || !args.has("val")) throw Error("--data and --val are required");
    const fs::path dir = args.value("out", "resources/models");
    fs::create_directories(dir / "checkpoints");
    // The VAEs train on an evenly spaced subset (--limit); the LDMs, whose
    // steps are cheap, on every two-phase image (fewer left their samples
    // farther from the held-out images: S2 error 0.038 with 16,000 vs 0.016).
    const long vaeLimit = args.integer("limit", 16000), valLimit = args.integer("val-limit", 400);
    const ml::TrainingSampleSelection vaeData{*args.value("data"), *args.value("val"), vaeLimit, valLimit};
    // Options of one step; the checkpoint and loss history live in DIR/checkpoints.
    auto options = [&](const std::string& name, long epochs, int batch, double lr, long every) {
        ml::TrainOptions t = trainOptionsFromArgs(args, 1, dir / "checkpoints" / name);
        t.epochs = int(epochs);
        t.batchSize = batch;
        t.learningRate = lr;
        t.checkpointEvery = every;
        t.restoreBest = false;  // the last epoch's weights (docs/ml.md)
        return t;
    };
    // A step is skipped when its model exists, else trained (resuming from its checkpoint).
    auto kept = [&](const std::string& name) {
        if (!fs::exists(dir / (name + ".pt"))) return false;
        std::cout << "keeping " << (dir / (name + ".pt")).string() << "\n";
        return true;
    };
    auto vaeRun = [&](const std::string& name, std::vector<int> channels, int midBlocks, int latentChannels, double beta,
                      bool denoising, long epochs) {
        Vae2dRun run;
        run.data = vaeData;
        run.config.channels = std::move(channels);
        run.config.kernels = ml::paperKernels(run.config.channels.size());
        run.config.midBlocks = midBlocks;
        run.config.latentChannels = latentChannels;
        run.options.train = options(name, epochs, 32, 2e-3, 50);
        run.options.beta = beta;
        run.options.denoising = denoising;
        run.out = dir / (name + ".pt");
        run.history = dir / "checkpoints" / (name + "-history.csv");
        run.half = true;
        return run;
    };
    const std::string ldmVae = "ldm-vae2d";
    if (!kept(ml::kDefaultDenoiser))
        if (int rc = runVae2d(vaeRun(ml::kDefaultDenoiser, {32, 64}, 2, 4, 0.1, true, args.integer("vae-epochs", 8))))
            return rc;
    if (!kept(ldmVae))
        if (int rc = runVae2d(vaeRun(ldmVae, {16, 32, 64}, 1, 2, 1.0, false, args.integer("ldm-vae-epochs", 4)))) return rc;
    // The validation loss is on unseen (phi, chi) runs and rises from epoch 1
    // as the model learns the training runs; the samples still improve
    // (docs/ml.md), so the last epoch is kept.
    auto ldmRun = [&](const std::string& name, const std::string& conditions) {
        Ldm2dRun run;
        run.data = {*args.value("data"), *args.value("val"), 0, valLimit, 0.01};
        run.plan.vae = dir / (ldmVae + ".pt");
        run.plan.config.prediction = "v";
        run.plan.config.hidden = 512;
        run.plan.config.blocks = 4;
        run.plan.config.conditions = conditionNames(conditions);
        run.plan.options.train = options(name, args.integer("ldm-epochs", 30), 128, 1e-3, 500);
        run.plan.minPhaseFraction = 0.01;
        run.out = dir / (name + ".pt");
        run.history = dir / "checkpoints" / (name + "-history.csv");
        run.half = true;
        return run;
    };
    if (!kept(ml::kDefaultLdm2d))
        if (int rc = runLdm2d(ldmRun(ml::kDefaultLdm2d, "vf,phi,chi"))) return rc;
    if (!kept(ml::kDefaultLdm2dUnconditional)) return runLdm2d(ldmRun(ml::kDefaultLdm2dUnconditional, "none"));
    return 0;
}

// --- subset ------------------------------------------------------------------------

int trainSubset(const CommandArgs& argv) {
    Args args(argv, {"data", "limit", "out"}, {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli train subset --data IN.h5 --limit N --out OUT.h5\n\n"
                     "Writes N samples of IN, evenly spaced over the file order (all runs, early and late\n"
                     "snapshots), e.g. a held-out evaluation set for `noise eval`.\n";
        return 0;
    }
    if (!args.has("data") || !args.has("out")) throw Error("--data and --out are required");
    const auto images = ml::readImages2D(*args.value("data"), args.integer("limit", 0));
    io::writeHdf5(images, *args.value("out"));
    std::cout << "wrote " << images.size() << " samples to " << *args.value("out") << "\n";
    return 0;
}

}  // namespace

int benchMl(const CommandArgs& argv) {
    Args args(argv, {"steps", "threads"}, {});
    if (args.helpRequested()) {
        std::cout << "Usage: microstudio-cli bench ml [--steps N] [--threads N]\n\n"
                     "Seconds per training step (batch 32, 101x101, multi-noise augmentation included) of the\n"
                     "paper's VAE and the compact shipped architecture, then inference throughput.\n";
        return 0;
    }
    const int steps = int(args.integer("steps", 5));
    std::vector<Volume> images;
    for (int i = 0; i < 64; ++i) {
        SyntheticOptions o;
        o.seed = std::uint64_t(i + 1);
        o.donorFraction = 0.35 + 0.3 * (i % 7) / 6.0;
        images.push_back(syntheticMicrostructure(Dims{101, 101, 1}, o));
    }
    auto measure = [&](const char* name, const ml::Vae2dConfig& config) {
        ml::Vae2d model(config, 1);
        ml::Vae2dTrainOptions o;
        o.train.epochs = 1;
        o.train.batchSize = 32;
        o.train.threads = int(args.integer("threads", 0));
        // One warm-up step, then the measured ones (resumed from a checkpoint in memory is not
        // possible, so run warm-up + N and subtract).
        o.train.stopAfterSteps = 1;
        std::vector<Volume> data;
        for (int k = 0; k < (steps + 1) / 2 + 1; ++k) data.insert(data.end(), images.begin(), images.end());
        ml::Vae2d fresh(config, 1);
        const std::clock_t c0 = std::clock();
        const auto warm = ml::trainVae2d(model, data, {}, o);
        const std::clock_t c1 = std::clock();
        o.train.stopAfterSteps = steps + 1;
        const auto report = ml::trainVae2d(fresh, data, {}, o);
        const std::clock_t c2 = std::clock();
        const double perStep = (report.seconds - warm.seconds) / steps;
        // CPU seconds (all threads) per step: robust on a machine shared with other jobs.
        const double cpuPerStep = (double(c2 - c1) - double(c1 - c0)) / CLOCKS_PER_SEC / steps;
        std::printf("%-34s %10ld params %8.3f s/step wall, %6.3f CPU s/step (batch 32) on %s\n", name,
                    model.parameterCount(), perStep, cpuPerStep, report.device.c_str());
        return perStep;
    };
    ml::Vae2dConfig paper;
    ml::Vae2dConfig compact;
    compact.latent = 64;
    compact.hidden = 256;
    compact.channels = {16, 32, 64, 64};
    const double a = measure("paper VAE (L 128, 32..256, 1024)", paper);
    const double b = measure("compact VAE (L 64, 16..64, 256)", compact);
    std::printf("compact / paper step time: %.2f\n", b / a);
    ml::Vae2d model(compact, 1);
    auto t0 = std::chrono::steady_clock::now();
    const auto out = model.denoise(images);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("compact VAE denoise: %.2f ms per 101x101 image (batches of 64)\n", 1e3 * seconds / double(out.size()));
    ml::Ldm2dConfig lc;
    lc.latent = 64;
    lc.conditions = {"vf", "phi", "chi"};
    ml::Ldm2d ldm(lc, 1);
    ml::Ldm2dSampleOptions so;
    so.count = 64;
    so.steps = 50;
    so.conditions = {{0.5, 0.5, 3.0}};
    t0 = std::chrono::steady_clock::now();
    ldm.sample(so);
    const double ddim = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("LDM (512 wide, 4 blocks) DDIM 50 steps: %.2f ms per latent (64 at once)\n", 1e3 * ddim / 64.0);
    return 0;
}

int cmdTrain(const CommandArgs& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
        std::cout << "Usage: microstudio-cli train vae2d|ldm2d|study|recipe [OPTIONS]\n\n"
                     "  vae2d     the 2D paper's denoising VAE\n"
                     "  ldm2d     latent diffusion over a VAE's latents (conditional on vf, phi, chi)\n"
                     "  study     the paper's three-stage VAE hyper-parameter study (curves, plots, table)\n"
                     "  recipe    the shipped 2D defaults (VAE, then LDM), resumable\n"
                     "  subset    evenly spaced samples of a dataset (held-out evaluation sets)\n"
                     "Each takes --help. Training resumes from its checkpoint when rerun.\n";
        return argv.empty() ? 2 : 0;
    }
    const CommandArgs rest(argv.begin() + 1, argv.end());
    if (argv[0] == "vae2d") return trainVae(rest);
    if (argv[0] == "ldm2d") return trainLdm(rest);
    if (argv[0] == "study") return trainStudy(rest);
    if (argv[0] == "recipe") return trainRecipe(rest);
    if (argv[0] == "subset") return trainSubset(rest);
    throw Error("unknown model '" + argv[0] + "' (use vae2d, ldm2d, study or recipe)");
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
