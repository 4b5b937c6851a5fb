// microstudio-cli train3d recipe: the shipped 3D generator in one command.
// The recipe (architecture, stages, skip rules, metadata) is ml's
// (ml/training_runs.hpp); here its options, the lock that keeps two recipes
// off the same checkpoints, and the output.
#ifdef MICROSTUDIO_HAVE_ML
#include <iostream>

#include "train_commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"

namespace fs = std::filesystem;

namespace ms::cli {

namespace {

// The recipe's options, bound to its settings (their defaults shown in --help).
Options recipe3dOptions(ml::Recipe3dSettings& d) {
    Options o("train3d recipe --data TRAIN.h5 --val VAL.h5 [--out DIR]",
              "Trains the shipped 2-phase 3D generator (docs/ml3d.md, \"Shipped model\") in one go: 64x64x32 volumes "
              "-> latent 4x8x8x4 (VAE widths 16,32,64, first stride 2), feature predictor (the conv-fractions head on "
              "4 symmetry variants of each volume), conditional DDPM (U-Net n_feat 64, scale-shift conditioning) on "
              "ABS_f_D, CT_f_D_tort1, CT_f_A_tort1 (trained with the samples' own descriptors as context, --context "
              "data); single-phase snapshots skipped (--min-phase-fraction 0.01), float16 weights.\n\n"
              "Checkpoints in DIR/checkpoints: rerun the same command after a kill or Ctrl-C to resume; finished "
              "stages are kept.");
    o.text("data", "TRAIN.h5", "training samples (required)").to(d.train);
    o.text("val", "VAL.h5", "validation samples (required)").to(d.validation);
    o.text("out", "DIR", "the model folder")
        .note("resources/models/gen3d-ch2, or gen3d-ch3 with --phases 3")
        .to(d.outDir);
    o.integer("phases", "2|3",
              "3: the 3-phase generator gen3d-ch3 (conditions vol_frac_D, vol_frac_M, tortuosity_D, tortuosity_A)")
        .choices({"2", "3"})
        .to(d.phases);
    o.section("Choices made on validation (train3d --help says more):");
    o.integer("latent-channels", "C", "VAE latent channels").range(1, 256).to(d.latentChannels);
    o.flag("periodic-xy", "VAE convolutions wrap around in x/y, zero-pad in z").to(d.periodicXY);
    o.number("minority-weight", "W", "VAE loss weighs each sample's rarer phase by 1 + W")
        .range(0, 1000)
        .to(d.minorityWeight);
    o.text("vae-output", "", "the VAE decoder's output: one level channel or one channel per phase")
        .choices({"level", "classes"})
        .to(d.vaeOutput);
    o.text("fp-head", "", "the feature predictor's head (another on an existing model: a new predictor, to be trained)")
        .choices({"mlp", "conv", "conv-fractions"})
        .note(std::string(ml::kRecipe3dFeatureHead) + " for a new model, else the model's")
        .to(d.featureHead);
    symmetryVariantsOption(o, "features-augment",
                           "feature predictor on K of the 8 x/y symmetries of each training volume (conv-fractions "
                           "with 4: phi R^2 0.944, log_time 0.971 on validation)")
        .note(std::to_string(ml::kRecipe3dFeatureAugment) + "; a predictor already trained or training keeps its own")
        .to(d.featureAugment);
    symmetryVariantsOption(o, "diffusion-augment", "DDPM on K of the 8 x/y symmetries of each training volume")
        .note("the model's; 1 for a new one")
        .to(d.diffusionAugment);
    o.text("choice", "TEXT", "how these options were chosen on validation (recorded in the model)").to(d.choice);
    o.section("Training:");
    o.integer("limit", "N", "training samples used (evenly spaced, after the filter; 0 = all)").atLeast(0).to(d.limit);
    o.integer("val-limit", "N", "validation samples used (0 = all)").atLeast(0).to(d.validationLimit);
    for (const auto& stage : ml::recipe3dStages())
        o.integer(stage.name + "-epochs", "N", "epochs of the " + stage.name + " stage").atLeast(1).def(stage.epochs);
    o.threads("torch CPU threads (0 = every core; tip: OMP_WAIT_POLICY=PASSIVE with 2)").to(d.base.threads);
    o.integer("seed", "S", "seed of initialisation, data order and noise").atLeast(0).def(0).to(d.base.seed);
    o.flag("cpu", "use the CPU even when CUDA is present").to(d.base.forceCpu);
    bf16Option(o).to(d.base.bf16);
    return o;
}

}  // namespace

int trainRecipe3d(const CommandArgs& argv) {
    ml::Recipe3dSettings settings;
    const auto parsed = recipe3dOptions(settings).parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    if (!args.has("data") || !args.has("val")) throw UsageError("--data and --val are required (see --help)");
    for (const auto& stage : ml::recipe3dStages())
        settings.epochs[stage.name] = int(args.integer(stage.name + "-epochs"));
    auto run = ml::recipe3dRun(settings);
    const auto& plan = run.plan;
    // Two recipes resuming the same checkpoints would overwrite each other's;
    // the kernel drops the lock when the process dies.
    FileLock lock;
    const fs::path lockFile = plan.checkpointDir / ".lock";
    if (!lock.tryLock(lockFile))
        throw Error("another `train3d recipe` is training into " + plan.modelDir.string() + " (lock " +
                    lockFile.string() + "); wait for it or stop it first");
    std::cout << "recipe: " << ml::recipe3dName(settings.phases) << " in " << plan.modelDir.string()
              << ", checkpoints in " << plan.checkpointDir.string() << "\n"
              << std::flush;
    const fs::path modelDir = plan.modelDir;
    if (int rc = runTrain3d(std::move(run))) return rc;
    std::cout << "recipe: done; evaluate with `microstudio-cli evaluate --model " << modelDir.string()
              << " -n 64 --steps 50 --json`\n";
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
