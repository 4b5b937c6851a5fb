#pragma once
// Declared options: a command names each option once (placeholder, one-line
// help, default, numeric range or allowed values) and gets from that one list
// the parsing (CLI11), the checks with one-line errors naming the option, and
// its --help text, generated and aligned. Sub-command groups (noise, dataset,
// bench) get their help and dispatch from a table the same way.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "args.hpp"
#include "commands.hpp"

namespace ms::cli {

struct OptionSpec {
    enum class Kind { Flag, Text, Integer, Number };
    std::string name;  // "steps" for --steps
    Kind kind = Kind::Text;
    std::string placeholder;   // "N"; empty for a flag (the choices for Text with choices)
    std::string help;          // one sentence, wrapped in --help
    std::string defaultValue;  // used when the option is not given; shown as [..]
    std::string defaultNote;   // shown as [..] where the default is not one value
    char shortName = 0;        // 'o' for -o
    std::optional<double> min, max;
    bool minExclusive = false, maxExclusive = false;
    std::vector<std::string> choices;
    std::string section;   // heading it is listed under in --help
    std::string ruleText;  // replaces the generated rule (below)
    // Replaces the generated rule: throws ms::Error with its own message
    // (Options::parse passes it on as a UsageError).
    std::function<void(const std::string&)> check;
    // Set by OptionRef::to: copies the parsed value (given or default) into
    // the bound field.
    std::function<void(const Args&)> store;

    // "an integer in [1, 1000]", "a number > 0", "graspi, json or csv".
    std::string rule() const;
    // Throws UsageError "--NAME must be RULE, not 'TEXT'" unless `text` passes.
    void validate(const std::string& text) const;
};

class Options;

// OptionRef::to's copies, one per field type.
void storeOption(const Args& args, const std::string& name, bool& field);
void storeOption(const Args& args, const std::string& name, int& field);
void storeOption(const Args& args, const std::string& name, long& field);
void storeOption(const Args& args, const std::string& name, unsigned long& field);
void storeOption(const Args& args, const std::string& name, double& field);
void storeOption(const Args& args, const std::string& name, std::string& field);
void storeOption(const Args& args, const std::string& name, std::filesystem::path& field);

// The option just declared, to set its default and checks.
class OptionRef {
public:
    OptionRef(Options& options, std::size_t index) : options_(options), index_(index) {}
    OptionRef& def(const std::string& value);  // default value, shown in --help
    OptionRef& def(double value);
    OptionRef& note(const std::string& text);  // default shown in --help only
    OptionRef& range(double lo, double hi);    // lo <= value <= hi
    OptionRef& atLeast(double lo);
    OptionRef& above(double lo);  // value > lo
    OptionRef& below(double hi);  // value < hi
    OptionRef& choices(std::vector<std::string> allowed);
    OptionRef& shortName(char letter);
    // A rule no range or list says ("NXxNY[xNZ]"): `check` throws ms::Error
    // with its own one-line message; `text` is the rule --list-options shows.
    OptionRef& rule(const std::string& text, std::function<void(const std::string&)> check);
    // Binds the option to `field` (int, long, uint64, double, string, path;
    // bool for a flag, which only sets it): parse() copies the value given,
    // else the default, into it. Without a default or note, the field's
    // current value is the default shown in --help (the library's own
    // default, so the help cannot drift from it). `field` must outlive parse().
    template <typename T>
    OptionRef& to(T& field);

private:
    OptionSpec& spec();
    Options& options_;
    std::size_t index_;
};

class Options {
public:
    // usage: after "microstudio-cli ", e.g. "describe [OPTIONS] FILE...";
    // description: paragraphs split by blank lines, wrapped; a paragraph
    // starting with a space is printed as it is (an example command line).
    Options(std::string usage, std::string description);

    void alsoUsage(std::string usage);  // a further "Usage:" line
    void section(std::string heading);  // later options listed under it
    OptionRef flag(const std::string& name, const std::string& help);
    OptionRef text(const std::string& name, const std::string& placeholder, const std::string& help);
    OptionRef integer(const std::string& name, const std::string& placeholder, const std::string& help);
    OptionRef number(const std::string& name, const std::string& placeholder, const std::string& help);
    // --threads N, 0 = every core (the same rule and message everywhere).
    OptionRef threads(const std::string& help, int max = 4096);
    // A grid size NXxNY[xNZ] (parseDims), NX and NY at least minSide.
    OptionRef dims(const std::string& name, const std::string& placeholder, const std::string& help, int minSide = 1);
    // --labels D,A[,M] for commands that read .tif and .npy (readOptions).
    void labels();

    // Parses argv (the words after the command name). Prints --help (or, for
    // tests and tools, --list-options: one tab-separated line per option) and
    // returns nullopt when asked for; throws UsageError naming the option on
    // a bad value, an unknown option or a missing value. --max-voxels is
    // accepted by every command.
    std::optional<Args> parse(const CommandArgs& argv) const;
    std::string help() const;
    const std::vector<OptionSpec>& declared() const { return specs_; }

private:
    friend class OptionRef;
    OptionRef add(OptionSpec spec);
    std::vector<OptionSpec> withCommonOptions() const;  // + --max-voxels, --help
    std::string listing() const;                        // --list-options
    std::vector<std::string> usages_;
    std::string description_;
    std::string section_ = "Options:";
    std::vector<OptionSpec> specs_;
};

// A command made of sub-commands ("noise apply", "dataset build"): their
// aligned list in --help and the dispatch, from one table.
struct Subcommand {
    std::string name;
    std::string summary;
    int (*run)(const CommandArgs& args);
};

struct SubcommandSet {
    std::string command;              // "noise"
    std::string noun;                 // "noise subcommand", for the error
    std::vector<std::string> usages;  // after "microstudio-cli "
    std::string heading;              // above the list; may be empty
    std::vector<Subcommand> entries;
    std::string footer;              // after the list; may be empty
    int statusWithoutArguments = 2;  // help printed, then this status

    std::string help() const;
    int run(const CommandArgs& argv) const;
};

// 0.15 -> "0.15", 1000 -> "1000" (as --help and the range messages show them).
std::string formatNumber(double value);

template <typename T>
OptionRef& OptionRef::to(T& field) {
    OptionSpec& s = spec();
    if (s.defaultValue.empty() && s.defaultNote.empty()) {
        if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) s.defaultValue = formatNumber(double(field));
        else if constexpr (std::is_same_v<T, std::string>) s.defaultValue = field;
        else if constexpr (std::is_same_v<T, std::filesystem::path>) s.defaultValue = field.string();
    }
    s.store = [&field, name = s.name](const Args& args) { storeOption(args, name, field); };
    return *this;
}

// "a, b or c".
std::string joinAlternatives(const std::vector<std::string>& items);

}  // namespace ms::cli
