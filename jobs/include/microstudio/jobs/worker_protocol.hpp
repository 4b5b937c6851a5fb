#pragma once
// The ML worker's protocol (docs/worker-protocol.md): the studio (client)
// and `microstudio-ml serve` (worker) exchange one JSON object per line on
// the worker's stdin and stdout. Volumes travel as files in a folder the
// client names. Torch-free: both sides parse and build messages here.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "microstudio/core/json.hpp"
#include "microstudio/core/volume.hpp"

namespace ms::jobs {

// Raised with every incompatible change of the messages below; the worker
// announces it in its "ready" event and the client refuses another.
constexpr int kWorkerProtocolVersion = 1;

// One message: a JSON object with "op" (client -> worker) or "event"
// (worker -> client) and, except for "ready" and "shutdown", an "id" (an
// integer >= 1 the client chose for the request). Throws ms::Error with one
// line naming what is wrong ("worker message: not JSON at byte 3: ...").
Json parseWorkerLine(const std::string& line);
// The message as one line, newline included (the text never holds one).
std::string workerLine(const Json& message);
// The request id of a message (0 where it has none).
std::int64_t messageId(const Json& message);

// Client -> worker.
Json cancelMessage(std::int64_t id);
// A running "train" request waits between two steps (after its "step" event
// with "paused": true) until resumed or cancelled.
Json pauseMessage(std::int64_t id);
Json resumeMessage(std::int64_t id);
Json shutdownMessage();  // finish the running request, then exit

// Generate 3D samples with a generator (ml::Generator3D::generate).
struct Generate3dRequest {
    std::string model;                                   // folder of the generator
    std::vector<std::map<std::string, double>> targets;  // one per sample
    std::string sampler = "ddim";
    int steps = 50;
    double guidance = 1.0;
    std::uint64_t seed = 0;
    int candidates = 1;
    double tolerance = 0.0;
    Dims size{0, 0, 0};    // 0x0x0: the training size
    bool describe = true;  // measure each plain sample's descriptors (screening measures anyway)
    bool previews = true;  // denoising previews as "preview" events
    std::string outDir;    // the worker writes sample-NNNNN.h5 and preview-NNNNN-SSSS.h5 here
};
Json requestMessage(std::int64_t id, const Generate3dRequest& request);
// The request of a "generate3d" message; ms::Error naming the field that is
// missing, of the wrong type or out of range.
Generate3dRequest generate3dRequestFrom(const Json& message);

// Evaluate a generator on held-out data, plain sampling
// (ml::evaluateGenerator3d: R^2, MAE, the VAE round trip, the feature
// predictor, memorisation when training data is named).
struct Evaluate3dRequest {
    std::string model;
    std::string data;               // held-out .h5
    std::size_t count = 16;         // targets, evenly spaced
    double minPhaseFraction = 0.0;  // held-out and training samples whose rarer phase fills less are skipped
    std::string training;           // training .h5 for the memorisation figure; empty: none
    std::size_t trainingCount = 2000;
    std::string sampler = "ddim";
    int steps = 50;
    double guidance = 1.0;
    std::uint64_t seed = 0;
};
Json requestMessage(std::int64_t id, const Evaluate3dRequest& request);
Evaluate3dRequest evaluate3dRequestFrom(const Json& message);

// Train a model as the studio's wizard does (ml::runStudioTraining): the
// kind ("vae2d", "ldm2d", "generator3d") and its settings
// (ml::StudioTrainingSettings as JSON, checked by the worker). resume:
// continue from the stages' checkpoints; false starts afresh.
struct TrainRequest {
    std::string kind;
    bool resume = false;
    Json settings = Json::object();
};
Json requestMessage(std::int64_t id, const TrainRequest& request);
TrainRequest trainRequestFrom(const Json& message);

// Denoise one image or volume with a learned denoiser (a 2D VAE model file,
// ml::makeDenoiser): the worker reads `input`, writes the result to
// `output` (atomically) and answers {"event":"done","id":N,"file":output}.
struct DenoiseRequest {
    std::string model, input, output;
};
Json requestMessage(std::int64_t id, const DenoiseRequest& request);
DenoiseRequest denoiseRequestFrom(const Json& message);
Json denoisedEvent(std::int64_t id, const std::string& file);

// Worker -> client.
Json readyEvent();  // {"event":"ready","protocol":1}
Json progressEvent(std::int64_t id, double fraction, const std::string& message);
Json sampleEvent(std::int64_t id, std::size_t index, const std::string& file);
Json previewEvent(std::int64_t id, std::size_t index, int step, int steps, const std::string& file);
Json doneEvent(std::int64_t id, std::size_t samples);
// The end of an evaluate3d request: {"event":"done","id":N,"report":{...}}
// (ml::Evaluation3dReport::toJson; fromJson reads it back).
Json reportEvent(std::int64_t id, const Json& report);
// A training's stage starts (index 0-based of count), one optimiser step
// (epoch 0-based; curve: a point of the loss curve; paused: the training
// waits after it), an epoch's losses (validation null without a
// validation set), and the end: the saved model's path.
Json stageEvent(std::int64_t id, int index, int count, const std::string& name);
struct TrainStep {
    int epoch = 0, epochs = 0;
    long step = 0, totalSteps = 0;
    double trainLoss = 0.0, etaSeconds = 0.0;
    bool curve = false, paused = false;
};
Json stepEvent(std::int64_t id, const TrainStep& step);
TrainStep trainStepFrom(const Json& event);
Json epochEvent(std::int64_t id, int epoch, double trainLoss, double validationLoss);
Json trainedEvent(std::int64_t id, const std::string& model);

// A failed request (id >= 1), or a line the worker could not read (id 0).
Json errorEvent(std::int64_t id, const std::string& message, bool cancelled = false);

// Where the worker writes sample `index` and its previews.
std::string sampleFile(const std::string& outDir, std::size_t index);
std::string previewFile(const std::string& outDir, std::size_t index, int step);
// A generate3d sample or preview file as the worker had it in memory (io's
// HDF5 reader names the file as the source and the dataset as the sample's
// name; a generated volume's source is the generator and it has no name).
Volume readGeneratedVolume(const std::string& file);

}  // namespace ms::jobs
