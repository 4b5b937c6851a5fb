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

Options vaeOptions() {
    const ml::Vae2dConfig d;
    Options o("train vae2d --data TRAIN.h5 [--val VAL.h5] --out MODEL.pt [OPTIONS]",
              "Trains the 2D paper's denoising VAE (section III.B): noisy inputs (salt-pepper, grid and frequency "
              "noise drawn per image and step), clean targets, loss = BCE + beta * KL. Writes MODEL.pt and MODEL.json "
              "(architecture, data hash, loss history).");
    o.text("data", "TRAIN.h5", "training images (a file or a glob; required)");
    o.text("val", "VAL.h5", "validation images");
    o.text("out", "MODEL.pt", "the model (required)");
    o.section("Model options:");
    o.integer("latent", "L", "latent size").range(1, 65536).def(d.latent);
    o.number("beta", "B", "KL weight").atLeast(0).def(1);
    o.integer("hidden", "H", "fully connected width").atLeast(1).def(d.hidden);
    intListOption(o, "channels", "convolution widths").note("32,64,128,256");
    intListOption(o, "kernels", "kernel sizes (stride 2, padding 1)")
        .note("4,4,3,3; the paper's for another --channels count");
    o.integer("mid-blocks", "N", "residual 3x3 blocks at the deepest map").range(0, 16).def(d.midBlocks);
    o.integer("latent-channels", "C",
              "spatial latent of C channels on the deepest map (L = C x side^2, no linear layers) instead of --latent")
        .range(0, 256)
        .def(d.latentChannels);
    o.number("clean-fraction", "X", "share of inputs left clean").range(0, 1).def(0.1);
    o.flag("plain", "plain VAE: clean inputs");
    o.flag("half", "store the weights as float16");
    o.text("history", "FILE.csv", "write the loss per epoch");
    declareTrainOptions(o, 20);
    return o;
}

int trainVae(const CommandArgs& argv) {
    const auto parsed = vaeOptions().parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    requireDataAndOut(args);
    ml::Vae2dRun run;
    run.out = *args.value("out");
    run.data = {*args.value("data"), args.value("val", ""), args.integer("limit"), args.integer("val-limit")};
    ml::Vae2dConfig config;
    config.latent = int(args.integer("latent"));
    config.hidden = int(args.integer("hidden"));
    config.midBlocks = int(args.integer("mid-blocks"));
    config.latentChannels = int(args.integer("latent-channels"));
    run.config = ml::vae2dConfigFor(config, intListOrEmpty(args, "channels"), intListOrEmpty(args, "kernels"));
    run.options.train = trainOptionsFromArgs(args, run.out);
    run.options.beta = args.number("beta");
    run.options.denoising = !args.flag("plain");
    run.options.augmentation.cleanFraction = args.number("clean-fraction");
    run.history = args.value("history", "");
    run.half = args.flag("half");
    return runVae2d(run);
}

Options ldmOptions() {
    const ml::Ldm2dConfig d;
    Options o("train ldm2d --vae VAE.pt --data TRAIN.h5 [--val VAL.h5] --out LDM.pt [OPTIONS]",
              "Trains latent diffusion (DDPM, T steps, linear betas 1e-4 -> 0.02) over the VAE's latent means of the "
              "images, with an epsilon-predicting residual MLP. Conditioned on attributes (vf = Donor volume fraction "
              "of the labels, or any attribute of the dataset) with condition dropout for classifier-free guidance.");
    o.text("data", "TRAIN.h5", "training images (a file or a glob; required)");
    o.text("val", "VAL.h5", "validation images");
    o.text("out", "LDM.pt", "the model (required)");
    o.section("Model options:");
    o.text("vae", "M", "the VAE (path or installed name)").def(ml::kDefaultDenoiser);
    o.text("conditions", "LIST", "attribute names, or none").def("vf,phi,chi");
    o.integer("hidden", "H", "MLP width").atLeast(2).def(d.hidden);
    o.integer("blocks", "N", "residual blocks").atLeast(0).def(d.blocks);
    o.integer("steps", "T", "diffusion steps").atLeast(2).def(d.steps);
    o.number("dropout", "P", "condition dropout").range(0, 1).def(d.conditionDropout);
    o.text("prediction", "eps|v",
           "what the MLP predicts: the noise, or v = sqrt(abar) eps - sqrt(1 - abar) x0, which learns the condition "
           "(docs/ml.md)")
        .choices({"eps", "v"})
        .def(d.prediction);
    o.number("min-phase-fraction", "F",
             "leave out images whose rarer phase covers less than F (the single-phase early snapshots)")
        .atLeast(0)
        .below(0.5)
        .def(0);
    o.flag("half", "store the weights as float16");
    o.text("history", "FILE.csv", "write the loss per epoch");
    declareTrainOptions(o, 200);
    return o;
}

int trainLdm(const CommandArgs& argv) {
    const auto parsed = ldmOptions().parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    requireDataAndOut(args);
    ml::Ldm2dRun run;
    run.out = *args.value("out");
    const double minPhase = args.number("min-phase-fraction");
    run.data = {*args.value("data"), args.value("val", ""), args.integer("limit"), args.integer("val-limit"), minPhase};
    auto& plan = run.plan;
    plan.vae = args.text("vae");
    plan.config.hidden = int(args.integer("hidden"));
    plan.config.blocks = int(args.integer("blocks"));
    plan.config.steps = int(args.integer("steps"));
    plan.config.conditionDropout = args.number("dropout");
    plan.config.prediction = args.text("prediction");
    plan.config.conditions = ml::conditionNamesFrom(args.text("conditions"));
    plan.options.train = trainOptionsFromArgs(args, run.out);
    plan.minPhaseFraction = minPhase;
    run.history = args.value("history", "");
    run.half = args.flag("half");
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
