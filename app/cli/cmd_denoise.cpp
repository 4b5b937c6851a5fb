// microstudio-cli denoise: a learned denoiser (the shipped denoising VAE by
// default) applied to 2D images.
#ifdef MICROSTUDIO_HAVE_ML
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/core/error.hpp"
#include "microstudio/io/hdf5.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/vae2d.hpp"
#include "microstudio/noise/metrics.hpp"

namespace ms::cli {

int cmdDenoise(const CommandArgs& argv) {
    Options declared("denoise IN OUT [--model M] [--clean CLEAN]",
                     "Denoises every two-phase 2D image of IN (any format; all samples of an .h5) with a learned "
                     "denoiser and writes OUT (an .h5 keeps every sample; other formats take one).");
    declared.text("model", "M", "model name or .pt path").note(std::string(ml::kDefaultDenoiser) + ", the shipped one");
    declared.text("clean", "CLEAN", "the clean images: print the pixel error before and after");
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(2, 2, "IN and OUT");
    const std::string in = args.positionals()[0], out = args.positionals()[1];
    const auto format = io::formatOf(out);
    // The input first: a bad file fails in milliseconds, before the model loads.
    auto noisy = io::readSamples(in);  // throws naming IN when it holds no sample
    if (noisy.empty()) throw Error(in + ": no images to denoise");
    if (noisy.size() > 1 && format != io::Format::Hdf5)
        throw Error(in + " holds " + std::to_string(noisy.size()) + " samples; write them to an .h5 file");
    const auto path = ml::findModel(args.value("model", ml::kDefaultDenoiser));
    const auto model = ml::Vae2d::load(path);
    const auto denoised = model.denoise(noisy);
    if (auto clean = args.value("clean")) {
        const auto reference = io::readSamples(*clean);
        if (reference.size() != noisy.size()) throw Error("--clean holds another number of samples than IN");
        double before = 0, after = 0;
        for (std::size_t i = 0; i < noisy.size(); ++i) {
            before += noise::pixelErrorRate(reference[i], noisy[i]) / double(noisy.size());
            after += noise::pixelErrorRate(reference[i], denoised[i]) / double(noisy.size());
        }
        std::printf("pixel error: input %.4f, denoised %.4f\n", before, after);
    }
    if (format == io::Format::Hdf5) {
        io::writeHdf5(denoised, out);
    } else {
        io::writeVolume(denoised.front(), out);
    }
    std::cout << "denoised " << denoised.size() << " image(s) with " << path.string() << " -> " << out << "\n";
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
