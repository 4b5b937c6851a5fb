// microstudio-cli train: trains the 2D models of ml/ (the denoising VAE,
// the latent diffusion model), the paper's three-stage VAE study, and the
// one-command recipe for the shipped defaults. Checkpoints make every
// training resumable: rerun the same command after a kill or Ctrl-C. This
// file parses `train vae2d`, `ldm2d` and `subset`; the study and the recipe
// are in cmd_train_recipe.cpp, the shared options and runs in
// cmd_train_common.cpp.
#ifdef MICROSTUDIO_HAVE_ML
#include <iostream>

#include "train_commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/ml/metadata.hpp"

namespace ms::cli {

namespace {

namespace fs = std::filesystem;

void requireDataAndOut(const Args& args) {
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("data") || !args.has("out")) throw UsageError("--data and --out are required (see --help)");
}

// The options of `train vae2d`, bound to the run (the library's defaults).
Options vaeOptions(ml::Vae2dRun& run) {
    ml::Vae2dConfig& d = run.config;
    Options o("train vae2d --data TRAIN.h5 [--val VAL.h5] --out MODEL.pt [OPTIONS]",
              "Trains the 2D paper's denoising VAE (section III.B): noisy inputs (salt-pepper, grid and frequency "
              "noise drawn per image and step), clean targets, loss = BCE + beta * KL. Writes MODEL.pt and MODEL.json "
              "(architecture, data hash, loss history).");
    o.text("data", "TRAIN.h5", "training images (a file or a glob; required)");
    o.text("val", "VAL.h5", "validation images");
    o.text("out", "MODEL.pt", "the model (required)").to(run.out);
    o.section("Model options:");
    o.integer("latent", "L", "latent size").range(1, 65536).to(d.latent);
    o.number("beta", "B", "KL weight").atLeast(0).def(1).to(run.options.beta);
    o.integer("hidden", "H", "fully connected width").atLeast(1).to(d.hidden);
    intListOption(o, "channels", "convolution widths").note("32,64,128,256");
    intListOption(o, "kernels", "kernel sizes (stride 2, padding 1)")
        .note("4,4,3,3; the paper's for another --channels count");
    o.integer("mid-blocks", "N", "residual 3x3 blocks at the deepest map").range(0, 16).to(d.midBlocks);
    o.integer("latent-channels", "C",
              "spatial latent of C channels on the deepest map (L = C x side^2, no linear layers) instead of --latent")
        .range(0, 256)
        .to(d.latentChannels);
    o.number("clean-fraction", "X", "share of inputs left clean")
        .range(0, 1)
        .def(0.1)
        .to(run.options.augmentation.cleanFraction);
    o.flag("plain", "plain VAE: clean inputs");
    o.flag("half", "store the weights as float16").to(run.half);
    o.text("history", "FILE.csv", "write the loss per epoch").to(run.history);
    declareTrainOptions(o, 20);
    return o;
}

int trainVae(const CommandArgs& argv) {
    ml::Vae2dRun run;
    const auto parsed = vaeOptions(run).parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    requireDataAndOut(args);
    run.data = {*args.value("data"), args.value("val", ""), args.integer("limit"), args.integer("val-limit")};
    run.config = ml::vae2dConfigFor(run.config, intListOrEmpty(args, "channels"), intListOrEmpty(args, "kernels"));
    run.options.train = trainOptionsFromArgs(args, run.out);
    run.options.denoising = !args.flag("plain");
    return runVae2d(run);
}

// The options of `train ldm2d`, bound to the run (the library's defaults).
Options ldmOptions(ml::Ldm2dRun& run) {
    ml::Ldm2dConfig& d = run.plan.config;
    Options o("train ldm2d --vae VAE.pt --data TRAIN.h5 [--val VAL.h5] --out LDM.pt [OPTIONS]",
              "Trains latent diffusion (DDPM, T steps, linear betas 1e-4 -> 0.02) over the VAE's latent means of the "
              "images, with an epsilon-predicting residual MLP. Conditioned on attributes (vf = Donor volume fraction "
              "of the labels, or any attribute of the dataset) with condition dropout for classifier-free guidance.");
    o.text("data", "TRAIN.h5", "training images (a file or a glob; required)");
    o.text("val", "VAL.h5", "validation images");
    o.text("out", "LDM.pt", "the model (required)").to(run.out);
    o.section("Model options:");
    o.text("vae", "M", "the VAE (path or installed name)").def(ml::kDefaultDenoiser).to(run.plan.vae);
    o.text("conditions", "LIST", "attribute names, or none").def("vf,phi,chi");
    o.integer("hidden", "H", "MLP width").atLeast(2).to(d.hidden);
    o.integer("blocks", "N", "residual blocks").atLeast(0).to(d.blocks);
    o.integer("steps", "T", "diffusion steps").atLeast(2).to(d.steps);
    o.number("dropout", "P", "condition dropout").range(0, 1).to(d.conditionDropout);
    o.text("prediction", "eps|v",
           "what the MLP predicts: the noise, or v = sqrt(abar) eps - sqrt(1 - abar) x0, which learns the condition "
           "(docs/ml.md)")
        .choices({"eps", "v"})
        .to(d.prediction);
    o.number("min-phase-fraction", "F",
             "leave out images whose rarer phase covers less than F (the single-phase early snapshots)")
        .atLeast(0)
        .below(0.5)
        .def(0)
        .to(run.plan.minPhaseFraction);
    o.flag("half", "store the weights as float16").to(run.half);
    o.text("history", "FILE.csv", "write the loss per epoch").to(run.history);
    declareTrainOptions(o, 200);
    return o;
}

int trainLdm(const CommandArgs& argv) {
    ml::Ldm2dRun run;
    const auto parsed = ldmOptions(run).parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    requireDataAndOut(args);
    auto& plan = run.plan;
    run.data = {*args.value("data"), args.value("val", ""), args.integer("limit"), args.integer("val-limit"),
                plan.minPhaseFraction};
    plan.config.conditions = ml::conditionNamesFrom(args.text("conditions"));
    plan.options.train = trainOptionsFromArgs(args, run.out);
    return runLdm2d(std::move(run));
}

int trainSubset(const CommandArgs& argv) {
    Options o("train subset --data IN.h5 --limit N --out OUT.h5",
              "Writes N samples of IN, evenly spaced over the file order (all runs, early and late snapshots), e.g. a "
              "held-out evaluation set for `noise eval`.");
    o.text("data", "IN.h5", "the samples (a file or a glob; required)");
    o.integer("limit", "N", "samples written (0 = all)").atLeast(0).def(0);
    o.text("out", "OUT.h5", "the subset (required)");
    const auto parsed = o.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    requireDataAndOut(args);
    const auto images = ml::readImages2D(*args.value("data"), args.integer("limit"));
    io::writeHdf5(images, *args.value("out"));
    std::cout << "wrote " << images.size() << " samples to " << *args.value("out") << "\n";
    return 0;
}

}  // namespace

int cmdTrain(const CommandArgs& argv) {
    static const SubcommandSet models{
        "train",
        "model",
        {"train vae2d|ldm2d|study|recipe|subset [OPTIONS]"},
        "",
        {{"vae2d", "the 2D paper's denoising VAE", trainVae},
         {"ldm2d", "latent diffusion over a VAE's latents (conditional on vf, phi, chi)", trainLdm},
         {"study", "the paper's three-stage VAE hyper-parameter study (curves, plots, table)", trainStudy},
         {"recipe", "the shipped 2D defaults (VAE, then LDM), resumable", trainRecipe},
         {"subset", "evenly spaced samples of a dataset (held-out evaluation sets)", trainSubset}},
        "Each takes --help. Training resumes from its checkpoint when rerun.",
    };
    return models.run(argv);
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
