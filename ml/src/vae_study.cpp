#include "microstudio/ml/vae_study.hpp"

#include <cstdio>
#include <fstream>
#include <map>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"
#include "microstudio/core/plot.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/ml/evaluate.hpp"
#include "microstudio/noise/metrics.hpp"
#include "microstudio/noise/noise.hpp"

namespace fs = std::filesystem;

namespace ms::ml {

namespace {

// Fixed noisy validation images: the paper's three noise types at their defaults.
std::vector<std::pair<Volume, Volume>> noisyValidation(const std::vector<Volume>& validation) {
    std::vector<std::pair<Volume, Volume>> pairs;
    for (std::size_t i = 0; i < validation.size(); ++i)
        for (auto type : noise::allNoiseTypes()) {
            noise::NoiseModel m;
            m.type = type;
            pairs.emplace_back(validation[i], noise::applyNoise(validation[i], m, noise::deriveSeed(7, i)));
        }
    return pairs;
}

const VaeStudyRun& lowestValidationLoss(const std::vector<VaeStudyRun>& runs) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < runs.size(); ++i)
        if (runs[i].report.bestValidationLoss < runs[best].report.bestValidationLoss) best = i;
    return runs[best];
}

const char* const kSummaryHeader =
    "| stage | run | batch | L | beta | epochs | best validation loss | final train loss | validation pixel error | "
    "s/step |\n|---|---|---|---|---|---|---|---|---|---|\n";

std::string summaryRow(const VaeStudyRun& r) {
    char row[256];
    std::snprintf(row, sizeof row, "| %d | %s | %d | %d | %g | %d | %.2f | %.2f | %.4f | %.3f |\n", r.stage,
                  r.name.c_str(), r.batch, r.latent, r.beta, r.report.epochsDone, r.report.bestValidationLoss,
                  r.report.history.empty() ? 0.0 : r.report.history.back().trainLoss, r.pixelError,
                  r.report.secondsPerStep);
    return row;
}

// DIR/stageK_train.png and DIR/stageK_validation.png: the stage's runs' loss
// curves, labelled with the run names.
std::vector<fs::path> plotStage(const fs::path& dir, int stage, const std::vector<std::string>& names,
                                const std::vector<std::vector<EpochRecord>>& histories) {
    std::vector<std::vector<double>> trainCurves, valCurves;
    for (const auto& history : histories) {
        std::vector<double> t, v;
        for (const auto& e : history) {
            t.push_back(e.trainLoss);
            v.push_back(e.validationLoss);
        }
        trainCurves.push_back(t);
        valCurves.push_back(v);
    }
    PlotText text;
    text.xLabel = "epoch";
    text.xOrigin = 1;
    text.legend = names;
    const std::string prefix = "stage" + std::to_string(stage);
    const std::vector<fs::path> paths{dir / (prefix + "_train.png"), dir / (prefix + "_validation.png")};
    text.title = "study stage " + std::to_string(stage) + ": training loss (BCE + beta KL)";
    text.yLabel = "training loss per image";
    io::writeVolume(plotCurves(trainCurves, 560, 360, false, text), paths[0]);
    text.title = "study stage " + std::to_string(stage) + ": validation loss";
    text.yLabel = "validation loss per image";
    io::writeVolume(plotCurves(valCurves, 560, 360, false, text), paths[1]);
    return paths;
}

// The history of DIR/RUN.csv (epoch,train_loss,validation_loss,seconds).
std::vector<EpochRecord> readHistory(const fs::path& path) {
    std::ifstream csv(path);
    if (!csv) throw Error(path.string() + ": not found");
    std::vector<EpochRecord> history;
    std::string line;
    std::getline(csv, line);  // header
    while (std::getline(csv, line)) {
        EpochRecord e;
        if (std::sscanf(line.c_str(), "%d,%lf,%lf,%lf", &e.epoch, &e.trainLoss, &e.validationLoss, &e.seconds) == 4)
            history.push_back(e);
    }
    return history;
}

// The run names of each stage in DIR/summary.md ("| 1 | b16_L128_beta1 | ...").
std::map<int, std::vector<std::string>> readStages(const fs::path& summaryPath) {
    std::ifstream summary(summaryPath);
    if (!summary) throw Error(summaryPath.string() + ": not found (run the study first)");
    std::map<int, std::vector<std::string>> stages;
    std::string line;
    while (std::getline(summary, line)) {
        int stage = 0;
        char run[128] = {};
        if (std::sscanf(line.c_str(), "| %d | %127[^ |]", &stage, run) == 2) stages[stage].push_back(run);
    }
    if (stages.empty()) throw Error(summaryPath.string() + ": no stage rows");
    return stages;
}

}  // namespace

std::string vaeStudyRunName(int batch, int latent, double beta) {
    char name[64];
    std::snprintf(name, sizeof name, "b%d_L%d_beta%g", batch, latent, beta);
    return name;
}

VaeStudyResult runVaeStudy(const TrainingSamples& data, const VaeStudyOptions& o) {
    if (data.validation.empty()) throw Error("the VAE study needs validation images");
    const auto pairs = noisyValidation(data.validation);
    VaeStudyResult result;
    result.summary = kSummaryHeader;
    const fs::path& out = o.outputDir;
    if (!out.empty()) fs::create_directories(out);
    auto trainOne = [&](int stage, int batch, int latent, double beta) {
        for (const auto& r : result.runs)
            if (r.batch == batch && r.latent == latent && r.beta == beta) return r;
        VaeStudyRun r{vaeStudyRunName(batch, latent, beta), stage, batch, latent, beta, {}, 0.0};
        Vae2dTrainOptions options;
        options.train = o.train;
        options.train.batchSize = batch;
        options.train.checkpoint = o.checkpoints / (r.name + ".ckpt");
        options.beta = beta;
        if (o.starting) o.starting(r, options.train);
        auto config = o.architecture;
        config.latent = latent;
        auto trained = trainNewVae2d(data, config, options);
        r.report = trained.report;
        std::vector<Volume> noisy;
        for (const auto& p : pairs) noisy.push_back(p.second);
        const auto denoised = trained.model.denoise(noisy);
        for (std::size_t i = 0; i < denoised.size(); ++i)
            r.pixelError += noise::pixelErrorRate(pairs[i].first, denoised[i]) / double(denoised.size());
        fs::remove(options.train.checkpoint);
        result.runs.push_back(r);
        result.summary += summaryRow(r);
        if (!out.empty()) {
            writeTextAtomically(out / (r.name + ".csv"), r.report.historyCsv());
            writeTextAtomically(out / "summary.md", result.summary);
        }
        if (o.finished) o.finished(r);
        return r;
    };
    auto stage = [&](int index, auto&& settings) {
        std::vector<VaeStudyRun> runs;
        for (const auto& [batch, latent, beta] : settings) runs.push_back(trainOne(index, batch, latent, beta));
        if (!out.empty()) {
            std::vector<std::string> names;
            std::vector<std::vector<EpochRecord>> histories;
            for (const auto& r : runs) {
                names.push_back(r.name);
                histories.push_back(r.report.history);
            }
            plotStage(out, index, names, histories);
        }
        if (o.stageDone) o.stageDone(index, runs);
        return lowestValidationLoss(runs);
    };
    using Setting = std::tuple<int, int, double>;
    result.bestBatch = stage(1, std::vector<Setting>{{16, 128, 1.0}, {32, 128, 1.0}, {64, 128, 1.0}}).batch;
    result.bestLatent =
        stage(2, std::vector<Setting>{{result.bestBatch, 32, 1.0}, {result.bestBatch, 128, 1.0}}).latent;
    result.bestBeta = stage(3, std::vector<Setting>{{result.bestBatch, result.bestLatent, 0.25},
                                                    {result.bestBatch, result.bestLatent, 1.0},
                                                    {result.bestBatch, result.bestLatent, 1.5}})
                          .beta;
    result.summary += "\nBest batch " + std::to_string(result.bestBatch) + ", best L " +
                      std::to_string(result.bestLatent) + ", best beta by validation loss " +
                      std::to_string(result.bestBeta) +
                      ". Loss curves per stage in stageK_train.png and stageK_validation.png (legend: run names).\n";
    if (!out.empty()) writeTextAtomically(out / "summary.md", result.summary);
    return result;
}

std::vector<fs::path> replotVaeStudy(const fs::path& dir) {
    std::vector<fs::path> written;
    for (const auto& [stage, names] : readStages(dir / "summary.md")) {
        std::vector<std::vector<EpochRecord>> histories;
        for (const auto& name : names) histories.push_back(readHistory(dir / (name + ".csv")));
        for (const auto& path : plotStage(dir, stage, names, histories)) written.push_back(path);
    }
    return written;
}

}  // namespace ms::ml
