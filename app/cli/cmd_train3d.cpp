// microstudio-cli train3d: parses the flags into ml's 3D training pipeline
// (ml/train3d.hpp: the VAE, feature predictor and DDPM in sequence, the same
// calls the studio's TrainingJob makes) and shows its progress
// (runTrain3d, cmd_train_common.cpp). Each stage checkpoints, so rerunning
// the command resumes. `train3d recipe` is in cmd_train3d_recipe.cpp.
#ifdef MICROSTUDIO_HAVE_ML
#include <iostream>
#include <memory>

#include "train_commands.hpp"
#include "microstudio/core/error.hpp"

namespace fs = std::filesystem;

namespace ms::cli {

namespace {

// The architecture of a new model; the preset's values unless given.
void declareArchitecture(Options& o) {
    const auto d = ml::Generator3dConfig::paperTwoPhase();
    o.section("Architecture of a new model (an existing DIR keeps its own):");
    o.integer("phases", "2|3", "donor/acceptor, or with the mixed phase").choices({"2", "3"}).def(2);
    o.text("config", "paper|tiny", "preset the options below start from").choices({"paper", "tiny"}).def("paper");
    o.dims("dims", "NXxNYxNZ", "input size").note(d.vae.dims.str());
    intListOption(o, "channels", "VAE convolution widths").note("64,128,256,512");
    o.integer("latent-channels", "C", "latent channels").range(1, 256).note(std::to_string(d.vae.latentChannels));
    o.integer("first-stride", "1|2", "stride of the VAE's first convolution").choices({"1", "2"}).note("2");
    o.number("kl-weight", "X", "VAE KL weight").atLeast(0).note(formatNumber(d.vae.klWeight));
    o.integer("features", "N", "U-Net n_feat (a multiple of 8)").atLeast(8).note(std::to_string(d.unetFeatures));
    o.flag("periodic-xy", "VAE convolutions wrap around in x/y (periodic volumes), zero-pad in z");
    o.number("minority-weight", "W", "VAE loss weighs each sample's rarer phase by 1 + W (small features)")
        .range(0, 1000)
        .note("0");
    o.text("vae-output", "",
           "the VAE decoder's output: one level channel (D 0, M 0.5, A 1; MSE, the paper's) or one "
           "channel per phase (softmax, cross-entropy)")
        .choices({"level", "classes"})
        .note("level");
    o.number("mixed-weight", "W", "class output, 3 phases: the cross-entropy weighs the mixed class by 1 + W")
        .range(0, 1000)
        .note("0");
    o.integer("timesteps", "T", "diffusion steps").range(2, 100000).note(std::to_string(d.timesteps));
    o.number("condition-dropout", "P", "classifier-free guidance").atLeast(0).below(1).note("0.1");
    o.text("context", "",
           "what conditions the DDPM in training: the feature predictor's outputs on each latent (the "
           "paper) or the samples' own descriptors")
        .choices({"features", "data"})
        .note(d.diffusionContext);
    o.text("prediction", "",
           "what the U-Net predicts: the noise (the paper) or v = sqrt(abar) eps - sqrt(1 - abar) x0, which learns the "
           "condition far better (docs/ml.md)")
        .choices({"eps", "v"})
        .note(d.prediction);
    o.text("unet-conditioning", "",
           "how time and condition reach the U-Net: add, the paper's embeddings added before normalised "
           "convolutions, or scale-shift, also scaling and shifting every block's normalised features (docs/ml3d.md); "
           "scale-shift on a trained add model adds zero-initialised layers and continues its U-Net")
        .choices({"add", "scale-shift"})
        .note(d.unetConditioning);
    o.flag("augment", "VAE on random symmetries of the periodic volumes (shifts, x/y mirrors, x<->y)");
    symmetryVariantsOption(o, "diffusion-augment",
                           "DDPM on K of the 8 x/y symmetries of each training volume, each encoded (descriptors "
                           "unchanged: transport is along z); K x the samples per epoch")
        .note("the model's; 1 for a new one");
    o.text("fp-head", "",
           "feature predictor: mlp, the paper's MLP on the flattened latent; conv, two convolutions averaged over the "
           "latent grid; conv-fractions, conv reading the volume's phase fractions too (docs/ml3d.md); on an existing "
           "model another head replaces its predictor, to be trained again")
        .choices({"mlp", "conv", "conv-fractions"})
        .note(d.featureHead);
    symmetryVariantsOption(o, "features-augment",
                           "feature predictor on K of the 8 x/y symmetries of each training volume")
        .note("the model's; 1 for a new one");
    o.text("conditions", "a,b,...", "the DDPM's conditions").note("paper lists");
    o.text("outputs", "a,b,...", "the feature predictor's outputs").note("conditions + phi,chi,log_time");
}

void declareStages(Options& o) {
    o.section("Training:");
    o.text("stage", "", "the stage(s) to train").choices({"vae", "features", "diffusion", "all"}).def("all");
    o.flag("describe", "compute descriptors missing from the samples' attributes");
    declareSchedule(o, 10, "epochs per stage");
    o.number("lr", "X", "Adam learning rate").above(0).note("paper: 5e-5 VAE and features, 1e-6 DDPM");
    o.flag("half", "float16 weights");
    o.number("ema", "D",
             "exponential moving average of the weights, decay D (e.g. 0.999): validated and kept "
             "instead of the raw weights (0 = off)")
        .atLeast(0)
        .below(1)
        .def(0);
    o.flag("restart",
           "--stage diffusion: start the U-Net from its initial weights (of a new model, seed 0) instead "
           "of the model's trained ones");
    o.number("min-phase-fraction", "F",
             "skip samples whose rarer of Donor / Acceptor fills less than F of the volume "
             "(single-phase early snapshots) before --limit (0: keep all); recorded in the "
             "model, `evaluate` filters its held-out data the same way")
        .atLeast(0)
        .below(0.5)
        .def(0);
    o.text("checkpoint-dir", "D", "where the <stage>.ckpt files go").note("DIR");
    o.text("description", "TEXT", "the model's description (for `models`)");
    o.text("choice", "TEXT",
           "how the settings were chosen on validation, recorded with the split rules in the "
           "model's training.choices");
}

Options train3dOptions() {
    Options o("train3d --data TRAIN.h5 [--val VAL.h5] --out DIR [--stage S] [OPTIONS]",
              "Trains the 3D generator (docs/ml3d.md) in the paper's order: the VAE, then the feature predictor on "
              "the frozen encoder, then the conditional DDPM on the frozen latents. The model is DIR/generator3d.pt "
              "+ .json, saved after every stage; an existing DIR is continued (its architecture wins over the options "
              "below). Each stage checkpoints to DIR/<stage>.ckpt: rerun the same command after a kill or Ctrl-C to "
              "resume.");
    o.alsoUsage("train3d recipe --data TRAIN.h5 --val VAL.h5 (the shipped gen3d-ch2; --help)");
    o.text("data", "TRAIN.h5", "training samples (required)");
    o.text("val", "VAL.h5", "validation samples");
    o.text("out", "DIR", "the model folder (required)");
    declareArchitecture(o);
    declareStages(o);
    declareDistributedOptions(o);
    return o;
}

ml::Generator3dConfig configFromArgs(const Args& args) {
    auto c = ml::generator3dPreset(args.text("config"), int(args.integer("phases")));
    if (auto v = args.value("dims")) c.vae.dims = parseDims(*v);
    if (auto v = args.value("channels")) c.vae.channels = positiveIntList(*v, "channels");
    c.vae.latentChannels = int(args.integer("latent-channels", c.vae.latentChannels));
    c.vae.firstStride = int(args.integer("first-stride", c.vae.firstStride));
    c.vae.klWeight = args.number("kl-weight", c.vae.klWeight);
    if (args.flag("periodic-xy")) c.vae.periodicXY = true;
    c.vae.minorityWeight = args.number("minority-weight", c.vae.minorityWeight);
    c.vae.output = args.value("vae-output", c.vae.output);
    c.vae.mixedWeight = args.number("mixed-weight", c.vae.mixedWeight);
    c.unetFeatures = int(args.integer("features", c.unetFeatures));
    c.timesteps = int(args.integer("timesteps", c.timesteps));
    c.conditionDropout = args.number("condition-dropout", c.conditionDropout);
    c.diffusionContext = args.value("context", c.diffusionContext);
    c.featureHead = args.value("fp-head", c.featureHead);
    c.prediction = args.value("prediction", c.prediction);
    c.unetConditioning = args.value("unet-conditioning", c.unetConditioning);
    if (args.flag("augment")) c.vaeAugment = true;
    if (auto v = args.value("conditions")) c.conditions = splitList(*v);
    if (auto v = args.value("outputs")) c.outputs = splitList(*v);
    else if (args.has("conditions")) c.outputs = ml::outputsForConditions(c.conditions);
    c.validate();
    return c;
}

// The per-stage options: the same for every stage but the paper's rate.
void stageOptionsFromArgs(const Args& args, ml::Generator3dTrainingPlan& plan) {
    const auto distributed = distributedFromArgs(args);
    std::shared_ptr<ml::Communicator> communicator;  // one rendezvous for the three stages
    if (distributed.enabled()) {
        std::cout << "train3d: " << distributed.describe() << ", connecting\n" << std::flush;
        communicator = std::make_shared<ml::Communicator>(distributed);
    }
    plan.writer = distributed.rank == 0;
    for (const auto& stage : ml::generator3dStages()) {
        ml::TrainOptions t = scheduleFromArgs(args);
        t.learningRate = args.number("lr", ml::paperLearningRate(stage));
        t.emaDecay = args.number("ema");
        t.communicator = communicator;
        plan.options[stage] = t;
    }
}

}  // namespace

int cmdTrain3d(const CommandArgs& argv) {
    if (!argv.empty() && argv[0] == "recipe") return trainRecipe3d(CommandArgs(argv.begin() + 1, argv.end()));
    const auto parsed = train3dOptions().parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("data") || !args.has("out")) throw UsageError("--data and --out are required (see --help)");
    ml::Generator3dRun run;
    run.config = configFromArgs(args);
    run.diffusionAugment = int(args.integer("diffusion-augment", 0));
    run.featureAugment = int(args.integer("features-augment", 0));
    run.featureHead = args.value("fp-head", "");
    run.unetConditioning = args.value("unet-conditioning", "");
    run.seed = std::uint64_t(args.integer("seed"));  // a new model's initial weights, as in the studio
    const double minPhase = args.number("min-phase-fraction");
    run.selection = {*args.value("data"), args.value("val", ""), args.integer("limit"), args.integer("val-limit"),
                     minPhase};
    auto& plan = run.plan;
    plan.modelDir = *args.value("out");
    plan.checkpointDir = args.value("checkpoint-dir", plan.modelDir.string());
    plan.only = args.text("stage");
    plan.restartDiffusion = args.flag("restart");
    if (plan.restartDiffusion && plan.only != "diffusion") throw UsageError("--restart goes with --stage diffusion");
    plan.half = args.flag("half");
    plan.measureDescriptors = args.flag("describe");
    plan.validationData = args.value("val", "");
    plan.minPhaseFraction = minPhase;
    plan.choice = args.value("choice", "");
    plan.description = args.value("description", "");
    stageOptionsFromArgs(args, plan);
    return runTrain3d(std::move(run));
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
