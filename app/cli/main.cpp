// microstudio-cli: every MicroStudio job, headless, on the same libraries as
// the studio. Prints a one-line reason and exits non-zero on any failure:
// 2 for a command line it cannot run (UsageError), 1 for a failed run.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <vector>

#include "args.hpp"  // UsageError
#include "commands.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"
#ifdef MICROSTUDIO_HAVE_ML
#include "microstudio/ml/version.hpp"
#endif
#if defined(MICROSTUDIO_ML_WORKER) && !defined(MICROSTUDIO_HAVE_ML)
#include "ml_worker.hpp"
// The model commands run in microstudio-ml (ml_worker.hpp); listed here for --help.
#define MS_ML_COMMAND(function) nullptr
#define MICROSTUDIO_LISTS_ML 1
#elif defined(MICROSTUDIO_HAVE_ML)
#define MS_ML_COMMAND(function) function
#define MICROSTUDIO_LISTS_ML 1
#endif

namespace {

const std::vector<ms::cli::Command>& commandTable() {
    static const std::vector<ms::cli::Command> table = {
        {"info", "show size, phases, volume fractions and attributes of a file", ms::cli::cmdInfo},
        {"convert", "convert between .vti, .h5, .txt (GraSPI) and .png", ms::cli::cmdConvert},
        {"demo", "headless demo: make a microstructure, describe it, write files", ms::cli::cmdDemo},
#ifdef MICROSTUDIO_HAVE_DESCRIPTORS
        {"describe", "GraSPI morphology descriptors of files (GraSPI, JSON or CSV output)", ms::cli::cmdDescribe},
#endif
#ifdef MICROSTUDIO_HAVE_NOISE
        {"noise", "paper noise models, paired noisy datasets, denoiser evaluation", ms::cli::cmdNoise},
#endif
#ifdef MICROSTUDIO_HAVE_JOBS
        {"simulate", "one Cahn-Hilliard run: field and thresholded labels per snapshot (.h5)", ms::cli::cmdSimulate},
        {"dataset", "build a Cahn-Hilliard dataset over (phi, chi) (sharded, resumable); merge shards",
         ms::cli::cmdDataset},
#endif
#ifdef MICROSTUDIO_LISTS_ML
        {"train", "train the 2D denoising VAE / latent diffusion (resumable), the paper's VAE study",
         MS_ML_COMMAND(ms::cli::cmdTrain)},
        {"models", "list installed models with their metadata", MS_ML_COMMAND(ms::cli::cmdModels)},
        {"denoise", "denoise 2D images with a learned denoiser (the shipped VAE by default)",
         MS_ML_COMMAND(ms::cli::cmdDenoise)},
        {"sample2d", "generate 2D microstructures with the latent diffusion model",
         MS_ML_COMMAND(ms::cli::cmdSample2d)},
        {"generate", "generate 3D microstructures for target descriptors (MicroGen3D latent diffusion)",
         MS_ML_COMMAND(ms::cli::cmdGenerate)},
        {"train3d", "train the 3D generator: VAE, feature predictor, conditional DDPM (resumable)",
         MS_ML_COMMAND(ms::cli::cmdTrain3d)},
        {"evaluate", "evaluate a 3D generator on held-out data: target R^2, diversity, timing (--json)",
         MS_ML_COMMAND(ms::cli::cmdEvaluate)},
        {"serve", "the ML worker's request loop on stdin/stdout (the studio's; docs/worker-protocol.md)",
         MS_ML_COMMAND(ms::cli::cmdServe)},
#endif
        {"bench", "run a benchmark (bench --help lists them)", ms::cli::cmdBench},
    };
    return table;
}

void printUsage() {
    std::cout << "microstudio-cli " << MICROSTUDIO_VERSION
              << ": microstructure design studio, headless\n\n"
                 "Usage: microstudio-cli COMMAND [OPTIONS] [ARGS]\n"
                 "       microstudio-cli COMMAND --help\n\nCommands:\n";
    for (const auto& c : commandTable()) std::printf("  %-10s %s\n", c.name, c.summary);
    std::cout << "\nFiles: .vti (VTK ImageData), .h5 (MicroGen3D layout), .txt (GraSPI), .png (2D image or\n"
                 "slice stack). Exit status 0 on success, 1 on error, 2 on bad usage.\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        printUsage();
        return argc < 2 ? 2 : 0;
    }
    if (!std::strcmp(argv[1], "--version")) {
#ifdef MICROSTUDIO_HAVE_ML
        // The studio's About names what the worker runs on.
        std::cout << "microstudio-ml " << MICROSTUDIO_VERSION << " (LibTorch " << ms::ml::torchVersion() << ", "
                  << ms::ml::computeDeviceDescription() << ")\n";
#else
        std::cout << "microstudio-cli " << MICROSTUDIO_VERSION << "\n";
#endif
        return 0;
    }
#if defined(MICROSTUDIO_ML_WORKER) && !defined(MICROSTUDIO_HAVE_ML)
    if (ms::cli::runsInMlWorker(argc, argv)) ms::cli::execMlWorker(argc, argv);
#endif
    for (const auto& c : commandTable()) {
        if (std::strcmp(argv[1], c.name) != 0 || !c.run) continue;
        try {
            ms::io::startHdf5Reader();  // forked now, while this process has one thread
            return c.run(ms::cli::CommandArgs(argv + 2, argv + argc));
        } catch (const ms::Cancelled&) {
            std::cerr << "microstudio-cli " << c.name << ": cancelled\n";
            return 130;
        } catch (const ms::cli::UsageError& e) {
            std::cerr << "microstudio-cli " << c.name << ": error: " << e.what() << "\n";
            return 2;
        } catch (const std::exception& e) {
            std::cerr << "microstudio-cli " << c.name << ": error: " << e.what() << "\n";
            return 1;
        }
    }
    std::cerr << "microstudio-cli: unknown command '" << argv[1] << "' (see --help)\n";
    return 2;
}
