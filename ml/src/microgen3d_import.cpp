// MicroGen3D's weights onto MicroStudio's 3D generator. The networks are the
// reference's layer for layer (vae3d.hpp, ddpm3d.hpp), so importing is
// renaming: each reference tensor name maps to one MicroStudio parameter by
// a prefix table, every shape is checked, every parameter must be set.
#include "microstudio/ml/microgen3d_import.hpp"

#include <yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>

#include "microstudio/core/error.hpp"
#include "ddpm3d.hpp"
#include "torch_state_dict.hpp"

namespace ms::ml {

namespace {

// --- config.yaml (libyaml's document API) ----------------------------------------------

class YamlDocument {
public:
    explicit YamlDocument(const std::filesystem::path& file) : where_(file.string() + ": ") {
        std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
        if (!in) throw Error(where_ + "cannot open (no such file or no permission)");
        yaml_parser_t parser;
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_file(&parser, in.get());
        const bool ok = yaml_parser_load(&parser, &document_);
        std::string problem = parser.problem ? parser.problem : "unknown";
        const auto line = parser.problem_mark.line + 1;
        yaml_parser_delete(&parser);
        if (!ok) throw Error(where_ + "not YAML (" + problem + " at line " + std::to_string(line) + ")");
        loaded_ = true;
        if (!root() || root()->type != YAML_MAPPING_NODE) throw Error(where_ + "not a YAML mapping of settings");
    }
    ~YamlDocument() {
        if (loaded_) yaml_document_delete(&document_);
    }
    YamlDocument(const YamlDocument&) = delete;
    YamlDocument& operator=(const YamlDocument&) = delete;

    const yaml_node_t* root() const { return yaml_document_get_root_node(const_cast<yaml_document_t*>(&document_)); }
    const yaml_node_t* node(int index) const {
        return yaml_document_get_node(const_cast<yaml_document_t*>(&document_), index);
    }
    // The value under `key` of a mapping (nullptr when absent or not a mapping).
    const yaml_node_t* child(const yaml_node_t* map, const std::string& key) const {
        if (!map || map->type != YAML_MAPPING_NODE) return nullptr;
        for (auto* p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; ++p)
            if (text(node(p->key)) == key) return node(p->value);
        return nullptr;
    }
    std::vector<std::pair<std::string, const yaml_node_t*>> members(const yaml_node_t* map) const {
        std::vector<std::pair<std::string, const yaml_node_t*>> out;
        if (map && map->type == YAML_MAPPING_NODE)
            for (auto* p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; ++p)
                out.emplace_back(text(node(p->key)), node(p->value));
        return out;
    }
    std::vector<std::string> strings(const yaml_node_t* seq, const std::string& key) const {
        if (!seq || seq->type != YAML_SEQUENCE_NODE) throw Error(where_ + key + " must be a list");
        std::vector<std::string> out;
        for (auto* i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; ++i) {
            const auto* item = node(*i);
            if (!item || item->type != YAML_SCALAR_NODE) throw Error(where_ + key + " must be a list of values");
            out.push_back(text(item));
        }
        return out;
    }
    double number(const yaml_node_t* value, const std::string& key) const {
        const std::string s = text(value);
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !std::isfinite(v))
            throw Error(where_ + key + " must be a number, not '" + s + "'");
        return v;
    }
    int integer(const yaml_node_t* value, const std::string& key) const {
        const double v = number(value, key);
        if (v != std::floor(v) || std::abs(v) > 1e9) throw Error(where_ + key + " must be an integer");
        return int(v);
    }
    bool boolean(const yaml_node_t* value, const std::string& key) const {
        const std::string s = text(value);
        if (s == "true" || s == "True" || s == "yes") return true;
        if (s == "false" || s == "False" || s == "no") return false;
        throw Error(where_ + key + " must be true or false, not '" + s + "'");
    }
    const std::string& where() const { return where_; }

private:
    static std::string text(const yaml_node_t* n) {
        if (!n || n->type != YAML_SCALAR_NODE) return {};
        return std::string(reinterpret_cast<const char*>(n->data.scalar.value), n->data.scalar.length);
    }
    std::string where_;
    yaml_document_t document_{};
    bool loaded_ = false;
};

}  // namespace

MicroGen3dConfig readMicroGen3dConfig(const std::filesystem::path& file) {
    const YamlDocument yaml(file);
    const auto* root = yaml.root();
    MicroGen3dConfig c;
    const auto* shape = yaml.child(root, "image_shape");
    if (!shape) throw Error(yaml.where() + "no image_shape");
    for (const auto& s : yaml.strings(shape, "image_shape")) c.imageShape.push_back(std::atoi(s.c_str()));
    if (c.imageShape.size() != 4 || c.imageShape[0] != 1 || c.imageShape[1] < 1 || c.imageShape[2] < 1 ||
        c.imageShape[3] < 1)
        throw Error(yaml.where() + "image_shape must be [1, D, H, W] with positive sizes");
    const auto* attributes = yaml.child(root, "attributes");
    if (!attributes) throw Error(yaml.where() + "no attributes (the feature predictor's outputs)");
    c.attributes = yaml.strings(attributes, "attributes");
    if (c.attributes.empty()) throw Error(yaml.where() + "attributes is empty");

    const auto* vae = yaml.child(root, "vae");
    if (const auto* v = yaml.child(vae, "latent_dim_channels"))
        c.latentChannels = yaml.integer(v, "vae.latent_dim_channels");
    if (const auto* v = yaml.child(vae, "max_channels")) c.maxChannels = yaml.integer(v, "vae.max_channels");
    if (const auto* v = yaml.child(vae, "first_layer_downsample"))
        c.firstStride = yaml.boolean(v, "vae.first_layer_downsample") ? 2 : 1;
    else if (const auto* s1 = yaml.child(vae, "stride1_first_layer"))
        c.firstStride = yaml.boolean(s1, "vae.stride1_first_layer") ? 1 : 2;
    if (const auto* v = yaml.child(yaml.child(root, "fp"), "dropout")) c.dropout = yaml.number(v, "fp.dropout");
    const auto* ddpm = yaml.child(root, "ddpm");
    if (const auto* v = yaml.child(ddpm, "timesteps")) c.timesteps = yaml.integer(v, "ddpm.timesteps");
    if (const auto* v = yaml.child(ddpm, "n_feat")) c.unetFeatures = yaml.integer(v, "ddpm.n_feat");
    const auto* context = yaml.child(ddpm, "context_attributes");
    c.contextAttributes = context ? yaml.strings(context, "ddpm.context_attributes") : c.attributes;
    const auto* ranges = yaml.child(yaml.child(yaml.child(root, "inference"), "random"), "ranges");
    for (const auto& [name, value] : yaml.members(ranges)) {
        const auto bounds = yaml.strings(value, "inference.random.ranges." + name);
        if (bounds.size() != 2) throw Error(yaml.where() + "inference.random.ranges." + name + " must be [low, high]");
        const double low = std::stod(bounds[0]), high = std::stod(bounds[1]);
        if (!(low < high)) throw Error(yaml.where() + "inference.random.ranges." + name + " must have low < high");
        c.ranges.push_back({name, {low, high}});
    }
    return c;
}

namespace {

// --- Names: reference prefix -> MicroStudio prefix ------------------------------------------

using Renames = std::vector<std::pair<std::string, std::string>>;

// The VAE's ResBlock (conv, IN, ReLU, conv, IN as block.0..4) -> conv1, norm1, conv2, norm2.
void addVaeResBlock(Renames& r, const std::string& from, const std::string& to) {
    r.push_back({from + "block.0.", to + "conv1."});
    r.push_back({from + "block.1.", to + "norm1."});
    r.push_back({from + "block.3.", to + "conv2."});
    r.push_back({from + "block.4.", to + "norm2."});
}

// `levels` strided levels plus the 1x1x1 level to the latent; the decoder in
// either of the reference's layouts (ModuleLists convs/instnorms/resblocks,
// or deconv_layers of Sequential(conv, IN, ResBlock)).
Renames vaeRenames(int levels, bool deconvLayers) {
    Renames r;
    for (int i = 0; i <= levels; ++i) {
        const std::string from = "encoder.conv_layers.", to = "vae.enc_", n = std::to_string(i + 1) + ".";
        r.push_back({from + std::to_string(3 * i) + ".", to + "conv" + n});
        r.push_back({from + std::to_string(3 * i + 1) + ".", to + "norm" + n});
        addVaeResBlock(r, from + std::to_string(3 * i + 2) + ".", to + "res" + n);
    }
    r.push_back({"encoder.conv_mu.", "vae.mu."});
    r.push_back({"encoder.conv_logvar.", "vae.logvar."});
    for (int i = 0; i < levels; ++i) {
        const std::string k = std::to_string(i) + ".", n = std::to_string(i + 1) + ".";
        if (deconvLayers) {
            r.push_back({"decoder.deconv_layers." + k + "0.", "vae.dec_conv" + n});
            r.push_back({"decoder.deconv_layers." + k + "1.", "vae.dec_norm" + n});
            addVaeResBlock(r, "decoder.deconv_layers." + k + "2.", "vae.dec_res" + n);
        } else {
            r.push_back({"decoder.convs." + k, "vae.dec_conv" + n});
            r.push_back({"decoder.instnorms." + k, "vae.dec_norm" + n});
            addVaeResBlock(r, "decoder.resblocks." + k, "vae.dec_res" + n);
        }
    }
    r.push_back({"decoder.final_conv.", "vae.dec_output."});
    return r;
}

// The U-Net's ResidualConvBlock: Sequential(conv, IN, GELU) twice.
void addUnetBlock(Renames& r, const std::string& from, const std::string& to) {
    r.push_back({from + "conv1.0.", to + "conv1."});
    r.push_back({from + "conv2.0.", to + "conv2."});
}

Renames unetRenames() {
    Renames r;
    const std::string u = "nn_model.";
    addUnetBlock(r, u + "init_conv.", "unet.init.");
    addUnetBlock(r, u + "down1.model.0.", "unet.down1.");
    addUnetBlock(r, u + "down2.model.0.", "unet.down2.");
    for (const auto& [from, to] : Renames{{"timeembed1", "time1"},
                                          {"timeembed2", "time2"},
                                          {"contextembed1", "context1"},
                                          {"contextembed2", "context2"}}) {
        r.push_back({u + from + ".model.0.", "unet." + to + ".fc1."});
        r.push_back({u + from + ".model.2.", "unet." + to + ".fc2."});
    }
    r.push_back({u + "up0.0.", "unet.up0."});
    r.push_back({u + "up0.1.", "unet.up0_norm."});
    for (const std::string up : {"up1", "up2"}) {
        r.push_back({u + up + ".model.0.", "unet." + up + ".up."});
        addUnetBlock(r, u + up + ".model.1.", "unet." + up + ".res1.");
        addUnetBlock(r, u + up + ".model.2.", "unet." + up + ".res2.");
    }
    r.push_back({u + "out.0.", "unet.out1."});
    r.push_back({u + "out.1.", "unet.out_norm."});
    r.push_back({u + "out.3.", "unet.out2."});
    return r;
}

// The DDPM's schedule buffers (checked against the schedule, not loaded).
const std::set<std::string>& scheduleBuffers() {
    static const std::set<std::string> names{"alpha_t", "oneover_sqrta", "sqrt_beta_t",      "alphabar_t",
                                             "sqrtab",  "sqrtmab",       "mab_over_sqrtmab", "betas"};
    return names;
}

void renameInto(detail::StateDict& out, const detail::StateDict& in, const Renames& renames,
                const std::filesystem::path& file, const std::string& what) {
    for (const auto& [name, tensor] : in) {
        if (scheduleBuffers().count(name)) continue;
        bool mapped = false;
        for (const auto& [from, to] : renames)
            if (name.compare(0, from.size(), from) == 0) {
                out.emplace_back(to + name.substr(from.size()), tensor);
                mapped = true;
                break;
            }
        if (!mapped) throw Error(file.string() + ": tensor " + name + " is not part of MicroGen3D's " + what);
    }
}

const torch::Tensor& tensorNamed(const detail::StateDict& dict, const std::string& name,
                                 const std::filesystem::path& file, std::int64_t dims) {
    for (const auto& [n, t] : dict)
        if (n == name) {
            if (t.dim() != dims)
                throw Error(file.string() + ": " + name + " has " + std::to_string(t.dim()) + " dimensions, not " +
                            std::to_string(dims));
            return t;
        }
    throw Error(file.string() + ": no tensor " + name + " (is this MicroGen3D's file?)");
}

bool hasPrefix(const detail::StateDict& dict, const std::string& prefix) {
    for (const auto& entry : dict)
        if (entry.first.compare(0, prefix.size(), prefix) == 0) return true;
    return false;
}

// --- The configuration, from the config and the tensors' shapes ------------------------------

struct Loaded {
    detail::StateDict vae, fp, ddpm;
    MicroGen3dConfig config;
};

std::vector<int> encoderWidths(const Loaded& l, const std::filesystem::path& file) {
    std::vector<int> widths;
    for (int i = 0;; ++i) {
        const std::string name = "encoder.conv_layers." + std::to_string(3 * i) + ".weight";
        if (!hasPrefix(l.vae, name)) break;
        widths.push_back(int(tensorNamed(l.vae, name, file, 5).size(0)));
    }
    if (widths.size() < 2) throw Error(file.string() + ": no encoder levels (encoder.conv_layers.N.weight)");
    widths.pop_back();  // the last is the 1x1x1 convolution to the latent
    return widths;
}

Generator3dConfig configFrom(const Loaded& l, const MicroGen3dImportOptions& o, MicroGen3dImportReport& report) {
    const auto& mc = l.config;
    Generator3dConfig c = Generator3dConfig::paperTwoPhase();
    c.vae.dims = Dims{mc.imageShape[3], mc.imageShape[2], mc.imageShape[1]};
    c.vae.phases = o.phases;
    c.vae.channels = encoderWidths(l, o.vae);
    c.vae.latentChannels = int(tensorNamed(l.vae, "encoder.conv_mu.weight", o.vae, 5).size(0));
    c.vae.periodicXY = false;
    c.vae.minorityWeight = 0.0;
    if (mc.latentChannels && mc.latentChannels != c.vae.latentChannels)
        throw Error(o.config.string() + ": vae.latent_dim_channels is " + std::to_string(mc.latentChannels) + ", " +
                    o.vae.string() + " has " + std::to_string(c.vae.latentChannels));
    // The feature predictor reads the flattened latent: its width tells the downsampling.
    const long fpInputs = long(tensorNamed(l.fp, "fc1.weight", o.featurePredictor, 2).size(1));
    if (mc.firstStride) {
        c.vae.firstStride = mc.firstStride;
        report.firstStrideSource = "config";
    } else {
        c.vae.firstStride = 2;
        if (c.vae.latentSize() != fpInputs) c.vae.firstStride = 1;
        report.firstStrideSource = "weights";
    }
    report.firstStride = c.vae.firstStride;
    if (c.vae.latentSize() != fpInputs)
        throw Error(o.featurePredictor.string() + ": reads " + std::to_string(fpInputs) +
                    " latent values, the VAE of " + o.config.string() + " makes " + std::to_string(c.vae.latentSize()) +
                    " (check first_layer_downsample and image_shape)");
    c.outputs = mc.attributes;
    c.conditions = mc.contextAttributes;
    const long fpOutputs = long(tensorNamed(l.fp, "fc3.weight", o.featurePredictor, 2).size(0));
    if (fpOutputs != long(c.outputs.size()))
        throw Error(o.featurePredictor.string() + ": predicts " + std::to_string(fpOutputs) + " features, " +
                    o.config.string() + " lists " + std::to_string(c.outputs.size()) + " attributes");
    c.dropout = mc.dropout;
    c.featureHead = "mlp";
    c.featureAugment = c.diffusionAugment = 1;
    c.vaeAugment = false;
    c.unetFeatures = int(tensorNamed(l.ddpm, "nn_model.init_conv.conv1.0.weight", o.ddpm, 5).size(0));
    const long contextInputs = long(tensorNamed(l.ddpm, "nn_model.contextembed1.model.0.weight", o.ddpm, 2).size(1));
    if (contextInputs != long(c.conditions.size()))
        throw Error(o.ddpm.string() + ": takes " + std::to_string(contextInputs) + " conditions, " + o.config.string() +
                    " lists " + std::to_string(c.conditions.size()) + " context_attributes");
    c.unetConditioning = "add";
    c.timesteps = mc.timesteps;
    // The reference's linear_beta_schedule: 1e-4 .. 0.02, scaled by 1000 / T.
    const double scale = 1000.0 / double(mc.timesteps);
    c.betaStart = 1e-4 * scale;
    c.betaEnd = 0.02 * scale;
    c.conditionDropout = 0.0;
    c.guidance = 1.0;
    c.diffusionContext = "features";
    c.prediction = "eps";
    try {
        c.validate();
    } catch (const Error& e) {
        throw Error(o.config.string() + ": " + e.what());
    }
    return c;
}

void checkSchedule(const Loaded& l, const Generator3dConfig& c, const std::filesystem::path& file) {
    for (const auto& [name, t] : l.ddpm) {
        if (name != "alphabar_t") continue;
        const auto ours = detail::DiffusionSchedule(c.timesteps, c.betaStart, c.betaEnd).alphaBar;
        if (t.numel() != long(ours.size()))
            throw Error(file.string() + ": alphabar_t has " + std::to_string(t.numel()) + " steps, the config " +
                        std::to_string(ours.size()));
        const auto values = t.to(torch::kDouble).contiguous();
        for (std::size_t i = 0; i < ours.size(); ++i)
            if (std::abs(values.data_ptr<double>()[i] - ours[i]) > 1e-4 * std::max(ours[i], 1e-3))
                throw Error(file.string() + ": alphabar_t differs from the linear schedule of ddpm.timesteps at step " +
                            std::to_string(i));
    }
}

// --- Ranges, folded into the weights --------------------------------------------------------

// MicroStudio normalises conditions and predictions by each feature's range
// ((value - mean) / std); the reference reads and predicts raw values. So the
// first layer of both context embeddings takes std and mean in (W s, b + W m)
// and the feature predictor's last layer gives them out ((W, b - m) / s): the
// networks compute exactly what the reference's do on raw values.
std::vector<FeatureRange> rangesFor(const MicroGen3dConfig& mc, MicroGen3dImportReport& report) {
    std::vector<FeatureRange> ranges;
    for (const auto& name : mc.attributes) {
        FeatureRange r{name, 0.0, 1.0, 0.5, 0.25};  // fractions and tortuosity fractions lie in [0, 1]
        std::string source = "default";
        for (const auto& [n, bounds] : mc.ranges)
            if (n == name) {
                r.min = bounds.first;
                r.max = bounds.second;
                r.mean = 0.5 * (r.min + r.max);
                r.std = 0.25 * (r.max - r.min);
                source = "config";
            }
        ranges.push_back(r);
        report.rangeSources.push_back(source);
    }
    return ranges;
}

torch::Tensor& entry(detail::StateDict& dict, const std::string& name) {
    for (auto& [n, t] : dict)
        if (n == name) return t;
    throw Error("no tensor " + name);
}

void foldRanges(detail::StateDict& named, const Generator3dConfig& c, const std::vector<FeatureRange>& ranges) {
    const auto column = [&](const std::vector<std::string>& names, bool std) {
        std::vector<double> v;
        for (const auto& n : names)
            for (const auto& r : ranges)
                if (r.name == n) v.push_back(std ? r.std : r.mean);
        return torch::tensor(v, torch::kDouble);
    };
    const auto outStd = column(c.outputs, true), outMean = column(c.outputs, false);
    auto& w3 = entry(named, "fp.fc3.weight");
    auto& b3 = entry(named, "fp.fc3.bias");
    w3 = (w3.to(torch::kDouble) / outStd.unsqueeze(1)).to(torch::kFloat);
    b3 = ((b3.to(torch::kDouble) - outMean) / outStd).to(torch::kFloat);
    const auto condStd = column(c.conditions, true), condMean = column(c.conditions, false);
    for (const std::string layer : {"unet.context1.fc1.", "unet.context2.fc1."}) {
        auto& w = entry(named, layer + "weight");
        auto& b = entry(named, layer + "bias");
        const auto wd = w.to(torch::kDouble);
        b = (b.to(torch::kDouble) + wd.matmul(condMean)).to(torch::kFloat);
        w = (wd * condStd.unsqueeze(0)).to(torch::kFloat);
    }
}

// One sample by DDIM-2 at the ranges' middle: 50 steps cost 25 times its
// denoising, plus one decode.
double secondsPerDdim50Sample(const Generator3D& model) {
    std::map<std::string, double> target;
    for (const auto& r : model.conditionRanges()) target[r.name] = r.mean;
    GenerateTiming timing;
    GenerateOptions g;
    g.steps = 2;
    g.batch = 1;
    g.timing = &timing;
    model.generate(target, 1, g);
    return 25.0 * timing.denoiseSeconds + timing.decodeSeconds;
}

}  // namespace

Generator3D importMicroGen3d(const MicroGen3dImportOptions& o, MicroGen3dImportReport* reportOut) {
    if (o.phases != 2 && o.phases != 3) throw Error("phases must be 2 or 3, not " + std::to_string(o.phases));
    MicroGen3dImportReport report;
    Loaded l{detail::readTorchStateDict(o.vae), detail::readTorchStateDict(o.featurePredictor),
             detail::readTorchStateDict(o.ddpm), readMicroGen3dConfig(o.config)};
    report.tensors = long(l.vae.size() + l.fp.size() + l.ddpm.size());
    const Generator3dConfig config = configFrom(l, o, report);
    checkSchedule(l, config, o.ddpm);

    const bool deconvLayers = hasPrefix(l.vae, "decoder.deconv_layers.");
    report.vaeLayout = deconvLayers ? "deconv_layers" : "convs/instnorms/resblocks";
    detail::StateDict named;
    renameInto(named, l.vae, vaeRenames(int(config.vae.channels.size()), deconvLayers), o.vae, "VAE");
    renameInto(named, l.fp, {{"fc1.", "fp.fc1."}, {"fc2.", "fp.fc2."}, {"fc3.", "fp.fc3."}}, o.featurePredictor,
               "feature predictor");
    renameInto(named, l.ddpm, unetRenames(), o.ddpm, "DDPM");
    const auto ranges = rangesFor(l.config, report);
    foldRanges(named, config, ranges);

    Generator3D model = Generator3D::create(config);
    try {
        detail::setGeneratorState(model, named);
    } catch (const Error& e) {
        throw Error(o.vae.parent_path().string() + ": the weights do not fit the reference's networks: " + e.what());
    }
    model.setFeatureRanges(ranges);
    for (const auto& name : config.outputs)
        if (std::find(config.conditions.begin(), config.conditions.end(), name) == config.conditions.end())
            report.carriedOutputs.push_back(name);
    auto& m = model.metadata();
    m.name = o.name.empty() ? "microgen3d" : o.name;
    m.description = "MicroGen3D weights imported (" + std::to_string(o.phases) + "-phase, " + config.vae.dims.str() +
                    ", eps prediction, no guidance)";
    m.training = Json::object();
    Json imported = Json::object();
    imported["from"] = "MicroGen3D (baskargroup/MicroGen3D state dicts)";
    imported["vae"] = o.vae.string();
    imported["fp"] = o.featurePredictor.string();
    imported["ddpm"] = o.ddpm.string();
    imported["config"] = o.config.string();
    imported["vae_decoder_layout"] = report.vaeLayout;
    imported["first_stride_from"] = report.firstStrideSource;
    Json sources = Json::object();
    for (std::size_t i = 0; i < ranges.size(); ++i) sources[ranges[i].name] = report.rangeSources[i];
    imported["ranges_from"] = sources;
    if (o.measureSampling) {
        report.secondsPerDdim50Sample = secondsPerDdim50Sample(model);
        imported["seconds_per_ddim50_sample"] = report.secondsPerDdim50Sample;
        imported["threads"] = at::get_num_threads();
    }
    m.training["imported"] = imported;
    if (reportOut) *reportOut = report;
    return model;
}

}  // namespace ms::ml
