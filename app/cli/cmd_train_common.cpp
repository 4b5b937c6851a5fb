// What every 2D training command shares: the training options, the progress
// bar with Ctrl-C, the report, and the VAE / LDM runs (`train vae2d`,
// `train ldm2d` and the recipe's steps).
#ifdef MICROSTUDIO_HAVE_ML
#include <cstdio>
#include <iostream>
#include <memory>

#include "train_commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/ml/distributed.hpp"
#include "microstudio/ml/metadata.hpp"

namespace ms::cli {

namespace fs = std::filesystem;

void declareSchedule(Options& o, int defaultEpochs, const std::string& epochsHelp) {
    const ml::TrainOptions d;
    o.integer("epochs", "N", epochsHelp).atLeast(1).def(defaultEpochs);
    o.integer("batch", "B", "batch size").atLeast(1).def(32);
    o.integer("seed", "S", "seed of initialisation, data order and noise").atLeast(0).def(0);
    o.integer("checkpoint-every", "N", "also checkpoint every N steps (0 = epoch ends only)").atLeast(0).def(100);
    o.integer("patience", "P", "early stopping after P epochs without validation improvement (0 = off)")
        .atLeast(0)
        .def(d.patience);
    o.number("min-delta", "X", "improvement that counts").atLeast(0).def(d.minDelta);
    o.integer("stop-after", "N", "stop (with a checkpoint) after N steps in total (0 = no limit)").atLeast(0).def(0);
    o.threads("torch CPU threads (0 = every core)");
    o.flag("cpu", "use the CPU even when CUDA is present");
    o.flag("keep-last", "keep the last epoch's weights (default: the best by validation loss)");
    bf16Option(o);
    o.integer("limit", "N", "use at most N (evenly spaced) training samples (0 = all)").atLeast(0).def(0);
    o.integer("val-limit", "N", "use at most N (evenly spaced) validation samples (0 = all)").atLeast(0).def(0);
}

OptionRef bf16Option(Options& o) {
    return o.flag("bf16",
                  "mixed precision: forward pass and loss in bfloat16 (CPU autocast; weights, optimiser and "
                  "validation in float32); needs a CPU with AMX or AVX512-BF16");
}

ml::TrainOptions scheduleFromArgs(const Args& args) {
    ml::TrainOptions t;
    t.epochs = int(args.integer("epochs"));
    t.batchSize = int(args.integer("batch"));
    t.seed = std::uint64_t(args.integer("seed"));
    t.checkpointEvery = args.integer("checkpoint-every");
    t.patience = int(args.integer("patience"));
    t.minDelta = args.number("min-delta");
    t.stopAfterSteps = args.integer("stop-after");
    t.threads = int(args.integer("threads"));
    t.forceCpu = args.flag("cpu");
    t.restoreBest = !args.flag("keep-last");
    t.bf16 = args.flag("bf16");
    t.distributed = distributedFromArgs(args);
    return t;
}

void declareTrainOptions(Options& o, int defaultEpochs, bool distributed) {
    o.section("Training options:");
    declareSchedule(o, defaultEpochs);
    o.number("lr", "X", "Adam learning rate").above(0).def("1e-3");
    o.text("checkpoint", "FILE", "checkpoint (model, optimiser, step); an existing one is resumed").note("OUT.ckpt");
    if (distributed) declareDistributedOptions(o);
}

void declareDistributedOptions(Options& o) {
    const ml::DistributedOptions single;
    o.section("Data-parallel training (docs/scaling.md; every rank runs the same command, rank 0 writes):");
    o.integer("world-size", "N", "processes in the run; the global batch is N x --batch")
        .atLeast(1)
        .note("$WORLD_SIZE or 1");
    o.integer("rank", "R", "this process, 0..N-1").atLeast(0).note("$RANK");
    o.text("master", "HOST:PORT", "rank 0's rendezvous address")
        .rule("HOST:PORT", [](const std::string& text) { ml::DistributedOptions().setMaster(text); })
        .note("$MASTER_ADDR:$MASTER_PORT or 127.0.0.1:29500");
    o.number("dist-timeout", "S", "a rank lost or stalled for S seconds ends the run on every rank")
        .above(0)
        .note(formatNumber(single.timeoutSeconds));
}

ml::DistributedOptions distributedFromArgs(const Args& args) {
    return ml::DistributedOptions::fromArguments(args.value("world-size", ""), args.value("rank", ""),
                                                 args.value("master", ""), args.value("dist-timeout", ""));
}

OptionRef intListOption(Options& o, const std::string& name, const std::string& help) {
    const std::string rule = "a comma-separated list of positive integers";
    return o.text(name, "LIST", help).rule(rule, [name, rule](const std::string& text) {
        bool ok = !splitList(text).empty();
        try {
            if (ok) positiveIntList(text, name);
        } catch (const Error&) {
            ok = false;
        }
        if (!ok) throw UsageError("--" + name + " must be " + rule + ", not '" + text + "'");
    });
}

OptionRef symmetryVariantsOption(Options& o, const std::string& name, const std::string& help) {
    const std::string rule = "1 to 8 symmetry variants";
    return o.integer(name, "K", help).rule(rule, [name, rule](const std::string& text) {
        std::size_t used = 0;
        long k = 0;
        try {
            k = std::stol(text, &used);
        } catch (const std::logic_error&) {
            used = 0;
        }
        if (used == 0 || used != text.size() || k < 1 || k > 8)
            throw UsageError("--" + name + " must be " + rule + ", not '" + text + "'");
    });
}

std::vector<int> intListOrEmpty(const Args& args, const std::string& name) {
    return args.has(name) ? positiveIntList(*args.value(name), name) : std::vector<int>{};
}

ml::TrainOptions trainOptionsFromArgs(const Args& args, const fs::path& out) {
    ml::TrainOptions t = scheduleFromArgs(args);
    t.learningRate = args.number("lr");
    t.checkpoint = args.value("checkpoint", out.string() + ".ckpt");
    return t;
}

void withProgress(const std::string& label, ml::TrainOptions& options, const std::function<void()>& train) {
    ProgressToken token;
    ProgressBar bar(label);
    token.setListener([&bar](double f, const std::string& m) { bar.update(f, m); });
    options.progress = &token;
    const CancelOnInterrupt interrupt(token);
    try {
        train();
        bar.finish();
        options.progress = nullptr;
    } catch (const Cancelled&) {
        bar.finish();
        std::cerr << "stopped; checkpoint " << options.checkpoint.string() << " written: rerun the command to resume\n";
        throw;
    }
}

void printReport(const ml::TrainReport& r, const std::string& prefix) {
    const char* p = prefix.c_str();
    std::printf("%s%-6s %14s %16s %9s\n", p, "epoch", "train loss", "validation loss", "seconds");
    for (const auto& e : r.history)
        std::printf("%s%-6d %14.6g %16.6g %9.1f\n", p, e.epoch + 1, e.trainLoss, e.validationLoss, e.seconds);
    std::printf("%ssteps %ld, %s%s, %.3f s/step this run on %s\n", p, r.steps, r.resumed ? "resumed, " : "",
                r.earlyStopped ? "stopped early" : (r.stoppedAtLimit ? "stopped at --stop-after" : "finished"),
                r.secondsPerStep, r.device.c_str());
}

namespace {

// The training data, read with a progress bar that Ctrl-C cancels.
template <typename Load>
ml::TrainingSamples readWithProgress(const std::string& label, Load&& load) {
    ProgressToken token;
    ProgressBar bar(label, true);
    token.setListener([&bar](double f, const std::string& m) { bar.update(f, m); });
    const CancelOnInterrupt interrupt(token);
    auto data = load(&token);
    bar.finish();
    return data;
}

// The report, then what was written.
template <typename Trained, typename Run>
void finish(Trained& trained, const Run& run) {
    printReport(trained.report);
    const auto saved = ml::saveTrainedRun(trained, run);
    if (saved == ml::RunSaved::StoppedAtLimit)
        std::cout << "not saved (stopped at --stop-after); rerun without it to finish\n";
    if (saved != ml::RunSaved::Saved) return;
    std::cout << "wrote " << run.out.string() << " (" << trained.model.parameterCount() << " parameters) and "
              << ml::metadataPathFor(run.out).string() << "\n";
}

}  // namespace

int runVae2d(const ml::Vae2dRun& run) {
    const auto data =
        readWithProgress("train vae2d", [&](ProgressToken* t) { return ml::loadTrainingImages(run.data, t); });
    std::cout << "train vae2d: " << data.train.size() << " training, " << data.validation.size()
              << " validation images " << data.train.front().dims().str() << ", device " << ml::preferredDevice()
              << "\n";
    auto options = run.options;
    std::optional<ml::TrainedVae2d> trained;
    withProgress("train vae2d", options.train, [&] { trained = ml::trainNewVae2d(data, run.config, options); });
    finish(*trained, run);
    return 0;
}

int runLdm2d(ml::Ldm2dRun run) {
    const auto data =
        readWithProgress("train ldm2d", [&](ProgressToken* t) { return ml::loadTrainingImages(run.data, t); });
    run.plan.status = [](const std::string& message) { std::cout << "train ldm2d: " << message << "\n" << std::flush; };
    std::optional<ml::TrainedLdm2d> trained;
    withProgress("train ldm2d", run.plan.options.train, [&] { trained = ml::trainNewLdm2d(data, run.plan); });
    if (const auto& use = trained->conditionUse)
        std::printf("train ldm2d: validation noise MSE %.5f with the condition, %.5f without (gain %.1f%%)\n",
                    use->conditioned, use->unconditioned, 100.0 * (1.0 - use->conditioned / use->unconditioned));
    finish(*trained, run);
    return 0;
}

int runTrain3d(ml::Generator3dRun run) {
    auto data =
        readWithProgress("train3d", [&](ProgressToken* t) { return ml::loadTrainingSamples(run.selection, t); });
    auto opened = ml::openGenerator3dRun(run, data);
    auto& model = opened.model;
    if (!opened.replacedHead.empty())
        std::cout << "train3d: feature predictor " << opened.replacedHead << " -> a new " << model.config().featureHead
                  << " head (to be trained)\n";
    const auto& config = model.config();
    std::cout << "train3d: " << (opened.continued ? "continuing " : "new ") << config.vae.phases << "-phase model "
              << config.vae.dims.str() << " -> latent " << config.vae.latentChannels << "x"
              << config.vae.latentDims().str() << " in " << run.plan.modelDir.string() << "\n";
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
        printReport(report, stage + ": ");
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

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
