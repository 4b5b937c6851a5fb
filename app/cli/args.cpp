#include "args.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "microstudio/core/error.hpp"
#include "microstudio/io/io.hpp"
#include "microstudio/io/limits.hpp"

namespace ms::cli {

io::ReadOptions readOptions(const Args& args) {
    io::ReadOptions options;
    if (const auto labels = args.value("labels")) options.labelValues = io::parseLabelValues(*labels);
    return options;
}

std::optional<std::string> Args::value(const std::string& name) const {
    if (auto it = values_.find(name); it != values_.end()) return it->second;
    if (auto it = defaults_.find(name); it != defaults_.end()) return it->second;
    return std::nullopt;
}

std::string Args::text(const std::string& name) const {
    if (auto v = value(name)) return *v;
    throw UsageError("--" + name + " is required (see --help)");
}

double Args::number(const std::string& name) const {
    text(name);  // given or defaulted, else an error
    return number(name, 0.0);
}

long Args::integer(const std::string& name) const {
    text(name);
    return integer(name, 0);
}

std::string Args::value(const std::string& name, const std::string& fallback) const {
    return value(name).value_or(fallback);
}

double Args::number(const std::string& name, double fallback) const {
    auto v = value(name);
    if (!v) return fallback;
    try {
        std::size_t used = 0;
        double d = std::stod(*v, &used);
        if (used != v->size() || !std::isfinite(d)) throw std::invalid_argument("");
        return d;
    } catch (const std::exception&) {
        throw UsageError("--" + name + " expects a number, got '" + *v + "'");
    }
}

long Args::integer(const std::string& name, long fallback) const {
    auto v = value(name);
    if (!v) return fallback;
    try {
        std::size_t used = 0;
        long n = std::stol(*v, &used);
        if (used != v->size()) throw std::invalid_argument("");
        return n;
    } catch (const std::exception&) {
        throw UsageError("--" + name + " expects an integer, got '" + *v + "'");
    }
}

void Args::requirePositionals(std::size_t min, std::size_t max, const std::string& what) const {
    if (positionals_.size() < min || positionals_.size() > max) throw UsageError("expected " + what + " (see --help)");
}

std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> items;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) items.push_back(item);
    return items;
}

std::vector<int> positiveIntList(const std::string& text, const std::string& option) {
    std::vector<int> out;
    for (const auto& item : splitList(text)) {
        std::size_t used = 0;
        int v = 0;
        try {
            v = std::stoi(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || v < 1)
            throw UsageError("--" + option + ": '" + item + "' is not a positive integer");
        out.push_back(v);
    }
    return out;
}

std::vector<double> numberList(const std::string& text, const std::string& option, double lo, double hi) {
    std::vector<double> out;
    for (const auto& item : splitList(text)) {
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        if (end == item.c_str() || *end != '\0' || !(v >= lo && v <= hi)) {
            out.clear();
            break;
        }
        out.push_back(v);
    }
    if (out.empty())
        throw UsageError(
            fmt::format("--{} must be numbers in [{:g}, {:g}] separated by commas, not '{}'", option, lo, hi, text));
    return out;
}

ProgressBar::ProgressBar(std::string label, bool quietWhenShort)
    : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0), quiet_(quietWhenShort) {
    if (quiet_) lastLine_ = std::chrono::steady_clock::now();  // the first line after 30 s
}

void ProgressBar::update(double fraction, const std::string& message) {
    const int percent = int(std::lround(std::clamp(fraction, 0.0, 1.0) * 100));
    if (percent == lastPercent_) return;
    lastPercent_ = percent;
    if (!tty_) {
        const auto now = std::chrono::steady_clock::now();
        if (percent < 100 && lastLine_ != std::chrono::steady_clock::time_point{} &&
            now - lastLine_ < std::chrono::seconds(30))
            return;
        if (quiet_ && !printed_ && percent == 100) return;  // short: no line at all
        printed_ = true;
        lastLine_ = now;
        std::fprintf(stderr, "%s %3d%% %s\n", label_.c_str(), percent, message.c_str());
        std::fflush(stderr);
        return;
    }
    const int width = 30, filled = percent * width / 100;
    std::fprintf(stderr, "\r%s [%s%s] %3d%% %s\033[K", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), percent, message.c_str());
    std::fflush(stderr);
}

void ProgressBar::finish() {
    if (finished_) return;
    finished_ = true;
    if (tty_ && lastPercent_ >= 0) std::fprintf(stderr, "\n");
}

ProgressBar::~ProgressBar() { finish(); }

namespace {

std::atomic<ProgressToken*>& interruptTarget() {
    static std::atomic<ProgressToken*> token{nullptr};
    return token;
}

void cancelOnSignal(int) {
    if (ProgressToken* t = interruptTarget().load()) t->cancel();  // an atomic store: signal-safe
}

}  // namespace

CancelOnInterrupt::CancelOnInterrupt(ProgressToken& token) {
    interruptTarget().store(&token);
    previousInt_ = std::signal(SIGINT, &cancelOnSignal);
    previousTerm_ = std::signal(SIGTERM, &cancelOnSignal);
}

CancelOnInterrupt::~CancelOnInterrupt() {
    std::signal(SIGINT, previousInt_);
    std::signal(SIGTERM, previousTerm_);
    interruptTarget().store(nullptr);
}

}  // namespace ms::cli
