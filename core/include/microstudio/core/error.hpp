#pragma once
// One project error type: a one-line reason the CLI prints and the GUI shows.
#include <stdexcept>
#include <string>

namespace ms {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& reason) : std::runtime_error(reason) {}
};

// Thrown when a job sees its cancel token set.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

}  // namespace ms
