#pragma once
// The parsed arguments of a sub-command: values, flags and positionals, as
// Options::parse (options.hpp) fills them from the command's declared
// options; a bad command line throws UsageError (exit status 2).
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "microstudio/core/error.hpp"
#include "microstudio/core/progress.hpp"
#include "microstudio/io/io.hpp"

namespace ms::cli {

// A command line the command cannot run as given: an unknown option, a bad
// or missing value, the wrong arguments. main() prints its one line like any
// other error but exits 2 (bad usage) instead of 1; an error of the run
// itself (a missing file, bad data) stays ms::Error.
class UsageError : public Error {
public:
    using Error::Error;
};

class Options;

class Args {
public:
    Args() = default;  // filled by Options::parse (options.hpp), which checks every value

    bool helpRequested() const { return help_; }
    bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    // has: given on the command line; value: given, else the declared default.
    bool has(const std::string& name) const { return values_.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;
    std::string value(const std::string& name, const std::string& fallback) const;
    // Numeric values; UsageError naming the option on bad text.
    double number(const std::string& name, double fallback) const;
    long integer(const std::string& name, long fallback) const;
    // Declared options with a default: the value, the default or an error.
    std::string text(const std::string& name) const;
    double number(const std::string& name) const;
    long integer(const std::string& name) const;
    const std::vector<std::string>& positionals() const { return positionals_; }
    // Throws UsageError unless the positional count is in [min, max].
    void requirePositionals(std::size_t min, std::size_t max, const std::string& what) const;

private:
    friend class Options;
    bool help_ = false;
    std::map<std::string, std::string> values_;
    std::map<std::string, std::string> defaults_;
    std::set<std::string> flags_;
    std::vector<std::string> positionals_;
};

// The read options --labels D,A[,M] sets (io::parseLabelValues), for
// commands that read a .tif or .npy (Options::labels declares it).
io::ReadOptions readOptions(const Args& args);

// A terminal progress bar on stderr ("[#####     ] 50% message"); quiet when
// stderr is not a terminal except for a final line. quietWhenShort: without
// a terminal, no line at all unless it runs past 30 s (reading the data
// before a training: a log gets lines only for a long read).
class ProgressBar {
public:
    explicit ProgressBar(std::string label, bool quietWhenShort = false);
    void update(double fraction, const std::string& message);
    void finish();
    ~ProgressBar();

private:
    std::string label_;
    bool tty_ = false;
    bool finished_ = false;
    bool quiet_ = false, printed_ = false;
    int lastPercent_ = -1;
    // Without a terminal (logs, nohup): one plain line at most every 30 s.
    std::chrono::steady_clock::time_point lastLine_{};
};

// "a,b,,c" -> {"a", "b", "c"}.
std::vector<std::string> splitList(const std::string& text);
// "16,32,64" -> {16, 32, 64}; throws UsageError naming --option unless every
// item is a positive integer.
std::vector<int> positiveIntList(const std::string& text, const std::string& option);
// "1,2.5" -> {1, 2.5}; throws UsageError naming --option unless there is at
// least one item and every item is a number in [lo, hi].
std::vector<double> numberList(const std::string& text, const std::string& option, double lo, double hi);

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

// work(&token) under a progress bar labelled `label`, its result returned.
// With `cancellable` (work that honours the token's cancel), Ctrl-C and
// SIGTERM cancel it through the token instead of killing the process.
template <typename Work>
auto withProgressBar(const std::string& label, bool cancellable, Work&& work) {
    ProgressToken token;
    ProgressBar bar(label);
    token.setListener([&bar](double f, const std::string& m) { bar.update(f, m); });
    std::optional<CancelOnInterrupt> interrupt;
    if (cancellable) interrupt.emplace(token);
    if constexpr (std::is_void_v<decltype(work(&token))>) {
        work(&token);
        bar.finish();
    } else {
        auto result = work(&token);
        bar.finish();
        return result;
    }
}

}  // namespace ms::cli
