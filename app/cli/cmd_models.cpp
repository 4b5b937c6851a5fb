// microstudio-cli models: the installed models with their metadata.
#ifdef MICROSTUDIO_HAVE_ML
#include <cstdio>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "microstudio/core/json.hpp"
#include "microstudio/ml/metadata.hpp"

namespace ms::cli {

int cmdModels(const CommandArgs& argv) {
    Options declared("models [--json] [--dir DIR]",
                     "Lists the installed models (NAME.pt with NAME.json beside, and 3D generator folders "
                     "NAME/generator3d.pt + .json) with their metadata. Folders searched: $MICROSTUDIO_MODELS "
                     "(colon-separated), share/microstudio/models beside the executable's bin/ folder (an installed "
                     "package), a build tree's resources/models; --dir lists one folder instead.");
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
