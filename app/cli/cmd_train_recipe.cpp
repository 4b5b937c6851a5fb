// microstudio-cli train study and train recipe: the paper's three-stage VAE
// study (ml/vae_study.hpp) and the shipped 2D defaults in one command
// (ml/training_runs.hpp); here only their options and output.
#ifdef MICROSTUDIO_HAVE_ML
#include <iostream>
#include <memory>

#include "train_commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/ml/vae_study.hpp"

namespace ms::cli {

namespace fs = std::filesystem;

namespace {

Options studyOptions() {
    const ml::Vae2dConfig d;
    Options o("train study --data TRAIN.h5 --val VAL.h5 [--out-dir DIR] [OPTIONS]",
              "The 2D paper's three-stage hyper-parameter study of the denoising VAE: batch size {16, 32, 64} (L = "
              "128, beta = 1); then L {32, 128} at the best batch; then beta {0.25, 1, 1.5} at the best L (best = "
              "lowest validation loss). Writes per run the loss curves (DIR/RUN.csv), per stage train/validation plots "
              "(DIR/stageK_train.png, DIR/stageK_validation.png) and DIR/summary.md, a table with the validation pixel "
              "error of the denoised images (comparable across beta, unlike the loss).");
    o.text("data", "TRAIN.h5", "training images (required unless --replot)");
    o.text("val", "VAL.h5", "validation images (required unless --replot)");
    o.text("out-dir", "DIR", "where the curves, plots, table and checkpoints go").def("docs/ml/study");
    o.flag("replot", "only redraw the plots from DIR's summary.md and RUN.csv files");
    o.text("docs", "DIR", "accepted for older scripts; unused");
    o.section("Architecture (the paper's by default):");
    o.integer("hidden", "H", "fully connected width").atLeast(1).def(d.hidden);
    intListOption(o, "channels", "convolution widths").note("32,64,128,256");
    intListOption(o, "kernels", "kernel sizes (stride 2, padding 1)")
        .note("4,4,3,3; the paper's for another --channels count");
    declareTrainOptions(o, 10);
    return o;
}

int replot(const fs::path& dir) {
    for (const auto& path : ml::replotVaeStudy(dir)) std::cout << "wrote " << path.string() << "\n";
    return 0;
}

}  // namespace

int trainStudy(const CommandArgs& argv) {
    const auto parsed = studyOptions().parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    const fs::path dir = args.text("out-dir");
    if (args.flag("replot")) return replot(dir);
    if (!args.has("data") || !args.has("val")) throw UsageError("--data and --val are required (see --help)");
    ml::VaeStudyOptions study;
    ml::Vae2dConfig architecture;
    architecture.hidden = int(args.integer("hidden"));
    study.architecture =
        ml::vae2dConfigFor(architecture, intListOrEmpty(args, "channels"), intListOrEmpty(args, "kernels"));
    study.train = trainOptionsFromArgs(args, dir / "study");
    if (study.train.distributed.enabled())
        throw Error("train study runs in one process (--world-size is for vae2d, ldm2d)");
    study.checkpoints = dir;
    study.outputDir = dir;
    const auto data = ml::loadTrainingImages(
        {*args.value("data"), *args.value("val"), args.integer("limit"), args.integer("val-limit")});
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
    study.finished = [&](const ml::VaeStudyRun&) { bar->finish(); };
    std::cout << ml::runVaeStudy(data, study).summary;
    return 0;
}

int trainRecipe(const CommandArgs& argv) {
    const ml::Recipe2dSettings d;
    Options o("train recipe --data TRAIN.h5 --val VAL.h5 [--out DIR]",
              "Trains the shipped 2D defaults in one go (the recipe of docs/ml.md):\n\n"
              "1. the denoising VAE DIR/denoise-vae2d.pt (spatial 4x25x25 latent, multi-noise augmentation, beta "
              "0.1);\n\n"
              "2. the generative VAE DIR/ldm-vae2d.pt (plain, spatial 2x13x13 latent, beta 1): a small latent the "
              "diffusion model can learn;\n\n"
              "3. the conditional latent diffusion model DIR/ldm2d.pt on the latents of 2 (conditioned on vf, phi, "
              "chi; v prediction; images whose rarer phase covers at least 1 %, as generation targets are two-phase "
              "microstructures);\n\n"
              "4. the unconditional one, DIR/ldm2d-uncond.pt, the same without conditions (its samples beat the "
              "conditional model's null-condition samples).\n\n"
              "All float16. Checkpoints live in DIR/checkpoints: rerun the same command after a kill to resume; a "
              "finished model is kept.");
    o.text("data", "TRAIN.h5", "training images (required)");
    o.text("val", "VAL.h5", "validation images (required)");
    o.text("out", "DIR", "the models").def(d.outDir.string());
    o.integer("limit", "N", "VAE training images (0 = all); the LDMs use every image").atLeast(0).def(double(d.limit));
    o.integer("val-limit", "N", "validation images (0 = all)").atLeast(0).def(double(d.validationLimit));
    o.integer("vae-epochs", "N", "epochs of the denoising VAE").atLeast(1).def(d.vaeEpochs);
    o.integer("ldm-vae-epochs", "N", "epochs of the generative VAE").atLeast(1).def(d.ldmVaeEpochs);
    o.integer("ldm-epochs", "N", "epochs of each LDM").atLeast(1).def(d.ldmEpochs);
    o.threads("torch CPU threads (0 = every core)");
    o.integer("seed", "S", "seed of initialisation, data order and noise").atLeast(0).def(0);
    o.flag("cpu", "use the CPU even when CUDA is present");
    const auto parsed = o.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("data") || !args.has("val")) throw UsageError("--data and --val are required (see --help)");
    ml::Recipe2dSettings s;
    s.train = *args.value("data");
    s.validation = *args.value("val");
    s.outDir = args.text("out");
    s.limit = args.integer("limit");
    s.validationLimit = args.integer("val-limit");
    s.vaeEpochs = int(args.integer("vae-epochs"));
    s.ldmVaeEpochs = int(args.integer("ldm-vae-epochs"));
    s.ldmEpochs = int(args.integer("ldm-epochs"));
    s.base.seed = std::uint64_t(args.integer("seed"));
    s.base.threads = int(args.integer("threads"));
    s.base.forceCpu = args.flag("cpu");
    s.base.distributed = ml::DistributedOptions::fromArguments("", "", "", "");  // $WORLD_SIZE, $RANK ...
    for (const auto& step : ml::recipe2dSteps(s)) {
        if (ml::recipe2dStepDone(step)) {
            std::cout << "keeping " << step.model.string() << "\n";
            continue;
        }
        if (int rc = step.vae ? runVae2d(*step.vae) : runLdm2d(*step.ldm)) return rc;
    }
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
