#include "microstudio/noise/noise.hpp"

namespace ms::noise {

std::uint64_t deriveSeed(std::uint64_t seed, std::uint64_t index) {
    // splitmix64 of a combination, so neighbouring (seed, index) pairs give
    // unrelated streams.
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace ms::noise
