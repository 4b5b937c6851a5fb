// microstudio-cli models: the installed models with their metadata.
#ifdef MICROSTUDIO_HAVE_ML
#include <cstdio>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/ml/metadata.hpp"
#include "microstudio/ml/microgen3d_import.hpp"

namespace ms::cli {

namespace {

int importMicroGen3d(const CommandArgs& argv) {
    ml::MicroGen3dImportOptions o;
    Options declared("models import-microgen3d --vae vae.pt --fp fp.pt --ddpm ddpm.pt --config config.yaml -o DIR",
                     "Imports MicroGen3D's weights (state dicts saved with torch.save, e.g. the published "
                     "weights/<dataset>/{vae,fp,ddpm}.pt, and the config.yaml they were trained with) as a 3D "
                     "generator folder DIR (generator3d.pt + .json). The networks are MicroGen3D's layer for layer; "
                     "every tensor and shape is checked against the config. Sampling uses MicroGen3D's noise "
                     "prediction and no guidance; feature-predictor outputs that do not condition the DDPM (e.g. "
                     "norm_STAT_e) are carried and shown, not offered as sliders.\n\n"
                     "The studio lists DIR when it lies in a model folder ($MICROSTUDIO_MODELS, or the studio's "
                     "own ~/.local/share/MicroStudio/MicroStudio/models). Paper-size networks take minutes per sample "
                     "on a few cores: the import times one and records the estimate.");
    declared.text("vae", "vae.pt", "the VAE's state dict (required)").to(o.vae);
    declared.text("fp", "fp.pt", "the feature predictor's state dict (required)").to(o.featurePredictor);
    declared.text("ddpm", "ddpm.pt", "the DDPM's state dict (required)").to(o.ddpm);
    declared.text("config", "config.yaml", "MicroGen3D's config (image_shape, attributes, vae, ddpm; required)")
        .to(o.config);
    declared.text("out", "DIR", "the model folder to write (required)").shortName('o');
    declared.integer("phases", "2|3", "phases of the training data (0/1 or 0/0.5/1 volumes)")
        .choices({"2", "3"})
        .to(o.phases);
    declared.text("name", "NAME", "the model's name").note("DIR's folder name");
    declared.flag("no-timing", "skip timing a sample");
    declared.flag("half", "store the weights as float16 (half the file; paper-size networks are ~0.8 GB in float32)");
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    for (const char* name : {"vae", "fp", "ddpm", "config", "out"})
        if (!args.has(name)) throw UsageError("--vae, --fp, --ddpm, --config and -o are required (see --help)");
    const std::filesystem::path out = *args.value("out");
    o.name = args.value("name").value_or(out.filename().string());
    o.measureSampling = !args.flag("no-timing");
    ml::MicroGen3dImportReport report;
    const auto model = ml::importMicroGen3d(o, &report);
    model.save(out, args.flag("half"));
    const auto& c = model.config();
    std::printf("imported %ld tensors into %s: %d-phase %s volumes, latent %s, VAE widths", report.tensors,
                out.string().c_str(), c.vae.phases, c.vae.dims.str().c_str(), c.vae.latentDims().str().c_str());
    for (int w : c.vae.channels) std::printf(" %d", w);
    std::printf(" (first stride %d from the %s; decoder keys %s), U-Net n_feat %d, T %d\n", c.vae.firstStride,
                report.firstStrideSource.c_str(), report.vaeLayout.c_str(), c.unetFeatures, c.timesteps);
    std::cout << "conditions:";
    for (const auto& n : c.conditions) std::cout << " " << n;
    std::cout << (report.carriedOutputs.empty() ? "" : "; carried, not conditions:");
    for (const auto& n : report.carriedOutputs) std::cout << " " << n;
    std::cout << "\n";
    const double seconds = report.secondsPerDdim50Sample;
    if (seconds >= 90)
        std::printf("expect about %.1f min per DDIM-50 sample on this machine's threads\n", seconds / 60);
    else if (seconds > 0) std::printf("expect about %.1f s per DDIM-50 sample on this machine's threads\n", seconds);
    return 0;
}

}  // namespace

int cmdModels(const CommandArgs& argv) {
    if (!argv.empty() && argv[0] == "import-microgen3d")
        return importMicroGen3d(CommandArgs(argv.begin() + 1, argv.end()));
    Options declared("models [--json] [--dir DIR]",
                     "Lists the installed models (NAME.pt with NAME.json beside, and 3D generator folders "
                     "NAME/generator3d.pt + .json) with their metadata. Folders searched: $MICROSTUDIO_MODELS "
                     "(colon-separated), share/microstudio/models beside the executable's bin/ folder (an installed "
                     "package), a build tree's resources/models; --dir lists one folder instead.");
    declared.alsoUsage(
        "models import-microgen3d --vae vae.pt --fp fp.pt --ddpm ddpm.pt --config config.yaml -o DIR "
        "(MicroGen3D's weights as a 3D generator; --help)");
    declared.flag("json", "the full metadata of every model as a JSON array");
    declared.text("dir", "DIR", "list the models of this folder only");
    const auto parsed = declared.parse(argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    args.requirePositionals(0, 0, "no positional arguments");
    std::vector<std::filesystem::path> folders = ml::modelSearchPath();
    if (auto dir = args.value("dir")) folders = {*dir};
    const auto models = ml::listModels(folders);
    if (args.flag("json")) {
        Json list = Json::array();
        for (const auto& m : models) {
            Json j = m.metadata.toJson();
            j["path"] = m.weights.string();
            j["bytes"] = double(m.bytes);
            list.push_back(j);
        }
        std::cout << jsonText(list) << "\n";
        return 0;
    }
    if (models.empty()) {
        std::cout << "no models installed (searched:";
        for (const auto& f : folders) std::cout << " " << f.string();
        std::cout << (folders.empty() ? " no existing folder" : "") << ")\n";
        return 0;
    }
    std::printf("%-20s %-7s %9s %-8s %-20s %s\n", "name", "kind", "size", "weights", "created", "description");
    for (const auto& m : models) {
        std::printf("%-20s %-7s %7.1fMB %-8s %-20s %s\n", m.metadata.name.c_str(), m.metadata.kind.c_str(),
                    double(m.bytes) / 1e6, m.metadata.weightsPrecision.c_str(), m.metadata.created.c_str(),
                    m.metadata.description.c_str());
        std::cout << "    path " << m.weights.string() << "\n    architecture "
                  << ml::architectureSummary(m.metadata.architecture) << "\n";
        if (!m.metadata.attributes.empty()) {
            std::cout << "    conditions";
            for (std::size_t i = 0; i < m.metadata.attributes.size(); ++i) {
                std::cout << " " << m.metadata.attributes[i];
                if (i < m.metadata.attributeMean.size() && i < m.metadata.attributeStd.size())
                    std::printf(" (mean %.4g, std %.4g)", m.metadata.attributeMean[i], m.metadata.attributeStd[i]);
            }
            std::cout << "\n";
        }
        const auto& t = m.metadata.training;
        if (t.is_object() && t.contains("report")) {
            const auto& r = memberAt(t, "report");
            std::printf("    trained %g epochs, %g steps on %s, best validation loss %.6g; data %s\n",
                        numberOr(r, "epochs_done", 0), numberOr(r, "steps", 0), stringOr(r, "device", "?").c_str(),
                        numberOr(r, "best_validation_loss", 0), m.metadata.dataHash.c_str());
        }
    }
    return 0;
}

}  // namespace ms::cli
#endif  // MICROSTUDIO_HAVE_ML
