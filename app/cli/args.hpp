#pragma once
// Tiny argument parser shared by the CLI sub-commands: --name value,
// --name=value, boolean flags, positionals, and --help text.
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "microstudio/core/progress.hpp"
#include "microstudio/io/io.hpp"

namespace ms::cli {

class Options;

class Args {
public:
    // valueOptions take a value ("--phi 0.5"); flags do not ("--json").
    Args(std::vector<std::string> argv, std::set<std::string> valueOptions, std::set<std::string> flags);
    Args() = default;  // filled by Options::parse (options.hpp), which checks every value

    bool helpRequested() const { return help_; }
    bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    // has: given on the command line; value: given, else the declared default.
    bool has(const std::string& name) const { return values_.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;
    std::string value(const std::string& name, const std::string& fallback) const;
    // Numeric values with a clear error on bad text or range.
    double number(const std::string& name, double fallback) const;
    long integer(const std::string& name, long fallback) const;
    // Declared options with a default: the value, the default or an error.
    std::string text(const std::string& name) const;
    double number(const std::string& name) const;
    long integer(const std::string& name) const;
    const std::vector<std::string>& positionals() const { return positionals_; }
    // Throws ms::Error unless the positional count is in [min, max].
    void requirePositionals(std::size_t min, std::size_t max, const std::string& what) const;

private:
    friend class Options;
    bool help_ = false;
    std::map<std::string, std::string> values_;
    std::map<std::string, std::string> defaults_;
    std::set<std::string> flags_;
    std::vector<std::string> positionals_;
};

// Help text for --max-voxels N, which every command accepts (Args handles it:
// the cap on voxels any reader accepts, see io/limits.hpp).
extern const char* const kMaxVoxelsHelp;

// Help text for --labels D,A[,M] (commands that read a .tif or .npy), and the
// read options it sets (io::parseLabelValues).
extern const char* const kLabelsHelp;
io::ReadOptions readOptions(const Args& args);

// A terminal progress bar on stderr ("[#####     ] 50% message"); quiet when
// stderr is not a terminal except for a final line.
class ProgressBar {
public:
    explicit ProgressBar(std::string label);
    void update(double fraction, const std::string& message);
    void finish();
    ~ProgressBar();

private:
    std::string label_;
    bool tty_ = false;
    bool finished_ = false;
    int lastPercent_ = -1;
    // Without a terminal (logs, nohup): one plain line at most every 30 s.
    std::chrono::steady_clock::time_point lastLine_{};
};

// "a,b,,c" -> {"a", "b", "c"}.
std::vector<std::string> splitList(const std::string& text);
// "16,32,64" -> {16, 32, 64}; throws ms::Error naming --option unless every
// item is a positive integer.
std::vector<int> positiveIntList(const std::string& text, const std::string& option);

// While alive, Ctrl-C and SIGTERM cancel the job through its token, so a
// long job writes its checkpoint before the command exits (status 130) and a
// rerun resumes.
class CancelOnInterrupt {
public:
    explicit CancelOnInterrupt(ProgressToken& token);
    ~CancelOnInterrupt();
    CancelOnInterrupt(const CancelOnInterrupt&) = delete;
    CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

private:
    void (*previousInt_)(int) = nullptr;
    void (*previousTerm_)(int) = nullptr;
};

}  // namespace ms::cli
