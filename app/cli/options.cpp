#include "options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "microstudio/core/error.hpp"
#include "microstudio/core/volume.hpp"
#include "microstudio/io/limits.hpp"

namespace ms::cli {

namespace {

constexpr std::size_t kWidth = 100;     // of every help line
constexpr std::size_t kMaxColumn = 34;  // where option help starts, at most

// The words of `text` after `line` (a prefix), continued on lines indented
// by `indent`, none longer than kWidth unless one word is.
std::string wrap(const std::string& text, std::string line, std::size_t indent) {
    std::string out;
    bool empty = true;  // no word after the prefix yet
    std::istringstream words(text);
    for (std::string word; words >> word;) {
        if (!empty && line.size() + 1 + word.size() > kWidth) {
            out += line + "\n";
            line = std::string(indent, ' ');
            empty = true;
        }
        line += (empty ? "" : " ") + word;
        empty = false;
    }
    return out + line + "\n";
}

// Paragraphs split by blank lines, each wrapped; one starting with a space
// (an example command line) kept as it is.
std::string paragraphs(const std::string& text) {
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find("\n\n", start);
        if (end == std::string::npos) end = text.size();
        const std::string paragraph = text.substr(start, end - start);
        out += (out.empty() ? "" : "\n") + (paragraph.rfind(' ', 0) == 0 ? paragraph + "\n" : wrap(paragraph, "", 0));
        start = end + 2;
    }
    return out;
}

// "Usage: microstudio-cli noise eval [...]", continued under the first option.
std::string usageLines(const std::vector<std::string>& usages) {
    std::string out;
    for (const auto& usage : usages) {
        const std::string prefix = out.empty() ? "Usage: microstudio-cli " : "       microstudio-cli ";
        std::size_t path = 0;  // the command words, before the first option or placeholder
        std::istringstream words(usage);
        for (std::string word; words >> word;) {
            const unsigned char first = static_cast<unsigned char>(word[0]);
            if (first == '[' || first == '-' || std::isupper(first)) break;
            path += word.size() + 1;
        }
        out += wrap(usage, prefix, prefix.size() + path);
    }
    return out;
}

std::string leftColumn(const OptionSpec& spec) {
    std::string left = "  ";
    if (spec.shortName) left += std::string("-") + spec.shortName + ", ";
    left += "--" + spec.name;
    if (!spec.placeholder.empty()) left += " " + spec.placeholder;
    return left;
}

// Aligned rows "  LEFT   text [default]" under `heading`.
std::string optionRows(const std::vector<OptionSpec>& specs, std::size_t column) {
    std::string out;
    for (const auto& spec : specs) {
        std::string text = spec.help;
        if (!spec.defaultValue.empty()) text += " [" + spec.defaultValue + "]";
        if (!spec.defaultNote.empty()) text += " [" + spec.defaultNote + "]";
        std::string left = leftColumn(spec);
        if (left.size() + 2 > column) {
            out += left + "\n";
            left.clear();
        }
        out += wrap(text, left + std::string(column - left.size(), ' '), column);
    }
    return out;
}

std::size_t columnFor(const std::vector<OptionSpec>& specs) {
    std::size_t widest = 0;
    for (const auto& spec : specs) {
        const std::size_t width = leftColumn(spec).size() + 2;
        if (width <= kMaxColumn) widest = std::max(widest, width);
    }
    return widest;
}

OptionSpec makeSpec(const std::string& name, OptionSpec::Kind kind, const std::string& placeholder,
                    const std::string& help) {
    OptionSpec spec;
    spec.name = name;
    spec.kind = kind;
    spec.placeholder = placeholder;
    spec.help = help;
    return spec;
}

OptionSpec maxVoxelsSpec() {
    OptionSpec spec;
    spec.name = "max-voxels";
    spec.placeholder = "N";
    spec.help = "refuse a file claiming more than N voxels, in milliseconds and before reading it";
    spec.defaultNote = "1073741824 = 1024^3, or MICROSTUDIO_MAX_VOXELS";
    spec.ruleText = "a positive number of voxels";
    spec.check = [](const std::string& text) { io::parseVoxelCount(text, "--max-voxels"); };
    return spec;
}

OptionSpec helpSpec() {
    OptionSpec spec;
    spec.name = "help";
    spec.kind = OptionSpec::Kind::Flag;
    spec.shortName = 'h';
    spec.help = "this help";
    return spec;
}

// CLI11's messages for a missing value or a value given to a flag, in ours.
[[noreturn]] void rethrow(const CLI::ParseError& error) {
    const std::string what = error.what();
    if (const auto at = what.find(" was given a disallowed flag override"); at != std::string::npos)
        throw UsageError(std::string("option ") + (what.rfind('-', 0) == 0 ? "" : "--") + what.substr(0, at) +
                         " takes no value");
    if (const auto at = what.find(": "); at != std::string::npos && what.find(" missing") != std::string::npos)
        throw UsageError("option " + what.substr(0, at) + " needs a value");
    throw UsageError(what);
}

}  // namespace

std::string formatNumber(double value) {
    std::ostringstream text;
    text << std::setprecision(15) << value;
    return text.str();
}

std::string joinAlternatives(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i)
        out += (i == 0 ? "" : i + 1 == items.size() ? " or " : ", ") + items[i];
    return out;
}

void storeOption(const Args& args, const std::string& name, bool& field) {
    if (args.flag(name)) field = true;
}

void storeOption(const Args& args, const std::string& name, int& field) { field = int(args.integer(name, field)); }

void storeOption(const Args& args, const std::string& name, long& field) { field = args.integer(name, field); }

void storeOption(const Args& args, const std::string& name, unsigned long& field) {
    field = static_cast<unsigned long>(args.integer(name, long(field)));
}

void storeOption(const Args& args, const std::string& name, double& field) { field = args.number(name, field); }

void storeOption(const Args& args, const std::string& name, std::string& field) { field = args.value(name, field); }

void storeOption(const Args& args, const std::string& name, std::filesystem::path& field) {
    if (auto v = args.value(name)) field = *v;
}

// ---- OptionSpec ----------------------------------------------------------------------

std::string OptionSpec::rule() const {
    if (!ruleText.empty()) return ruleText;
    if (!choices.empty()) return joinAlternatives(choices);
    if (kind != Kind::Integer && kind != Kind::Number) return "";
    std::string text = kind == Kind::Integer ? "an integer" : "a number";
    if (min && max)
        return text + " in " + (minExclusive ? "(" : "[") + formatNumber(*min) + ", " + formatNumber(*max) +
               (maxExclusive ? ")" : "]");
    if (min) return text + (minExclusive ? " > " : " >= ") + formatNumber(*min);
    if (max) return text + (maxExclusive ? " < " : " <= ") + formatNumber(*max);
    return text;
}

void OptionSpec::validate(const std::string& text) const {
    if (check) {
        try {
            return check(text);
        } catch (const UsageError&) {
            throw;
        } catch (const Error& e) {  // a library's parser (io::parseLabelValues ...): its words, a usage error
            throw UsageError(e.what());
        }
    }
    auto refuse = [&] { throw UsageError("--" + name + " must be " + rule() + ", not '" + text + "'"); };
    if (kind == Kind::Text) {
        if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end()) refuse();
        return;
    }
    if (kind == Kind::Flag) return;
    double value = 0.0;
    try {
        std::size_t used = 0;
        value = kind == Kind::Integer ? double(std::stol(text, &used)) : std::stod(text, &used);
        if (used != text.size() || !std::isfinite(value)) refuse();
    } catch (const std::logic_error&) {  // stol/stod: not a number, or out of range
        refuse();
    }
    if (min && (minExclusive ? !(value > *min) : !(value >= *min))) refuse();
    if (max && (maxExclusive ? !(value < *max) : !(value <= *max))) refuse();
    if (!choices.empty() &&
        std::none_of(choices.begin(), choices.end(), [&](const std::string& c) { return std::stod(c) == value; }))
        refuse();
}

// ---- OptionRef -----------------------------------------------------------------------

OptionSpec& OptionRef::spec() { return options_.specs_[index_]; }

OptionRef& OptionRef::def(const std::string& value) {
    spec().defaultValue = value;
    return *this;
}

OptionRef& OptionRef::def(double value) { return def(formatNumber(value)); }

OptionRef& OptionRef::note(const std::string& text) {
    spec().defaultNote = text;
    return *this;
}

OptionRef& OptionRef::range(double lo, double hi) {
    spec().min = lo;
    spec().max = hi;
    return *this;
}

OptionRef& OptionRef::atLeast(double lo) {
    spec().min = lo;
    return *this;
}

OptionRef& OptionRef::above(double lo) {
    spec().min = lo;
    spec().minExclusive = true;
    return *this;
}

OptionRef& OptionRef::below(double hi) {
    spec().max = hi;
    spec().maxExclusive = true;
    return *this;
}

OptionRef& OptionRef::choices(std::vector<std::string> allowed) {
    if (spec().placeholder.empty()) {
        std::string bar;
        for (const auto& c : allowed) bar += (bar.empty() ? "" : "|") + c;
        spec().placeholder = bar;
    }
    spec().choices = std::move(allowed);
    return *this;
}

OptionRef& OptionRef::shortName(char letter) {
    spec().shortName = letter;
    return *this;
}

OptionRef& OptionRef::rule(const std::string& text, std::function<void(const std::string&)> check) {
    spec().ruleText = text;
    spec().check = std::move(check);
    return *this;
}

// ---- Options -------------------------------------------------------------------------

Options::Options(std::string usage, std::string description)
    : usages_{std::move(usage)}, description_(std::move(description)) {}

void Options::alsoUsage(std::string usage) { usages_.push_back(std::move(usage)); }

void Options::section(std::string heading) { section_ = std::move(heading); }

OptionRef Options::add(OptionSpec spec) {
    spec.section = section_;
    specs_.push_back(std::move(spec));
    return OptionRef(*this, specs_.size() - 1);
}

OptionRef Options::flag(const std::string& name, const std::string& help) {
    return add(makeSpec(name, OptionSpec::Kind::Flag, "", help));
}

OptionRef Options::text(const std::string& name, const std::string& placeholder, const std::string& help) {
    return add(makeSpec(name, OptionSpec::Kind::Text, placeholder, help));
}

OptionRef Options::integer(const std::string& name, const std::string& placeholder, const std::string& help) {
    return add(makeSpec(name, OptionSpec::Kind::Integer, placeholder, help));
}

OptionRef Options::number(const std::string& name, const std::string& placeholder, const std::string& help) {
    return add(makeSpec(name, OptionSpec::Kind::Number, placeholder, help));
}

OptionRef Options::threads(const std::string& help, int max) {
    OptionRef ref = integer("threads", "N", help).range(0, max).def("0");
    OptionSpec& spec = specs_.back();
    spec.ruleText = "0 (every core) or a number of threads from 1 to " + std::to_string(max);
    spec.check = [rule = spec.ruleText, min = *spec.min, max = *spec.max](const std::string& text) {
        std::size_t used = 0;
        long n = -1;
        try {
            n = std::stol(text, &used);
        } catch (const std::logic_error&) {
            used = 0;
        }
        if (used != text.size() || n < min || n > max)
            throw UsageError("--threads expects " + rule + ", got '" + text + "'");
    };
    return ref;
}

OptionRef Options::dims(const std::string& name, const std::string& placeholder, const std::string& help, int minSide) {
    const std::string rule =
        minSide <= 1 ? "NXxNY or NXxNYxNZ, each in 1..100000"
                     : "NXxNY or NXxNYxNZ, NX and NY in " + std::to_string(minSide) + "..100000, NZ in 1..100000";
    return text(name, placeholder, help).rule(rule, [name, rule, minSide](const std::string& text) {
        bool ok = true;
        Dims d;
        try {
            d = parseDims(text);
        } catch (const Error&) {
            ok = false;
        }
        if (!ok || d.nx < minSide || d.ny < minSide)
            throw UsageError("--" + name + " must be " + rule + ", not '" + text + "'");
    });
}

void Options::labels() {
    text("labels", "D,A[,M]",
         "for .tif, .npy and another writer's .dream3d: the stored values of donor, acceptor and mixed (e.g. "
         "0,255 or 0,255,128). Default: 0/1/2 and 0/0.5/1 are labels as they are (not in .dream3d, whose phases "
         "start at 1), else 2 or 3 distinct values are D, A or D, M, A in ascending order; any other file is refused")
        .rule("2 or 3 distinct numbers D,A[,M]", [](const std::string& text) { io::parseLabelValues(text); });
}

std::vector<OptionSpec> Options::withCommonOptions() const {
    std::vector<OptionSpec> all = specs_;
    const bool ownMaxVoxels =
        std::any_of(all.begin(), all.end(), [](const OptionSpec& s) { return s.name == "max-voxels"; });
    if (!ownMaxVoxels) all.push_back(maxVoxelsSpec());
    all.push_back(helpSpec());
    all.back().section = all.end()[-2].section = "Options:";
    return all;
}

std::string Options::help() const {
    const auto all = withCommonOptions();
    std::string out = usageLines(usages_) + "\n" + paragraphs(description_);
    std::vector<std::string> sections;
    for (const auto& spec : all)
        if (std::find(sections.begin(), sections.end(), spec.section) == sections.end())
            sections.push_back(spec.section);
    for (const auto& heading : sections) {
        std::vector<OptionSpec> rows;
        for (const auto& spec : all)
            if (spec.section == heading) rows.push_back(spec);
        out += "\n" + wrap(heading, "", 0) + optionRows(rows, columnFor(all));
    }
    return out;
}

std::string Options::listing() const {
    static const char* const kinds[] = {"flag", "text", "integer", "number"};
    std::string out;
    for (const auto& spec : withCommonOptions()) {
        if (spec.name == "help") continue;
        out += "--" + spec.name + "\t" + kinds[int(spec.kind)] + "\t" + (spec.min ? formatNumber(*spec.min) : "") +
               "\t" + (spec.max ? formatNumber(*spec.max) : "") + "\t" + spec.rule() + "\n";
    }
    return out;
}

std::optional<Args> Options::parse(const CommandArgs& argv) const {
    for (const auto& word : argv) {
        if (word == "--") break;
        if (word == "--help" || word == "-h" || word == "--list-options") {
            std::cout << (word == "--list-options" ? listing() : help());
            return std::nullopt;
        }
    }
    const auto all = withCommonOptions();
    CLI::App app;
    app.set_help_flag();  // --help is answered above
    app.allow_extras();   // unknown options are reported below, in our words
    Args args;
    app.add_option("arguments", args.positionals_);
    std::vector<CLI::Option*> bound;
    for (const auto& spec : all) {
        const std::string names = (spec.shortName ? std::string("-") + spec.shortName + "," : "") + "--" + spec.name;
        CLI::Option* option = nullptr;
        if (spec.kind == OptionSpec::Kind::Flag) {
            option = app.add_flag(names)->disable_flag_override();
        } else {
            option = app.add_option(names)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
            // Throws ms::Error: CLI11 lets it through, so the message stays ours.
            option->check(CLI::Validator(
                [&spec](std::string& text) {
                    spec.validate(text);
                    return std::string();
                },
                spec.placeholder));
        }
        bound.push_back(option);
    }
    try {
        app.parse(std::vector<std::string>(argv.rbegin(), argv.rend()));  // CLI11 takes them last first
    } catch (const CLI::ParseError& error) {
        rethrow(error);
    }
    for (const auto& unknown : app.remaining())  // CLI11 keeps "--", the end of the options, here too
        if (unknown != "--") throw UsageError("unknown option " + unknown + " (see --help)");
    for (std::size_t i = 0; i < all.size(); ++i) {
        const OptionSpec& spec = all[i];
        if (bound[i]->count() == 0) {
            if (!spec.defaultValue.empty()) args.defaults_[spec.name] = spec.defaultValue;
        } else if (spec.kind == OptionSpec::Kind::Flag) {
            args.flags_.insert(spec.name);
        } else {
            args.values_[spec.name] = bound[i]->results().back();
        }
    }
    if (auto cap = args.value("max-voxels");
        cap && !std::any_of(specs_.begin(), specs_.end(), [](const OptionSpec& s) { return s.name == "max-voxels"; }))
        io::setMaxVoxels(io::parseVoxelCount(*cap, "--max-voxels"));
    for (const auto& spec : specs_)
        if (spec.store) spec.store(args);
    return args;
}

// ---- SubcommandSet -------------------------------------------------------------------

std::string SubcommandSet::help() const {
    std::size_t column = 0;
    for (const auto& entry : entries) column = std::max(column, entry.name.size() + 4);
    std::string out = usageLines(usages) + "\n" + (heading.empty() ? "" : wrap(heading, "", 0));
    for (const auto& entry : entries)
        out += wrap(entry.summary, "  " + entry.name + std::string(column - 2 - entry.name.size(), ' '), column);
    return out + (footer.empty() ? "" : "\n" + paragraphs(footer));
}

int SubcommandSet::run(const CommandArgs& argv) const {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
        std::cout << help();
        return argv.empty() ? statusWithoutArguments : 0;
    }
    std::vector<std::string> names;
    for (const auto& entry : entries) {
        if (argv[0] == entry.name) return entry.run(CommandArgs(argv.begin() + 1, argv.end()));
        names.push_back(entry.name);
    }
    throw UsageError("unknown " + noun + " '" + argv[0] + "' (" + joinAlternatives(names) + "; see " + command +
                     " --help)");
}

}  // namespace ms::cli
