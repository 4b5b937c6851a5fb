#include "latent_cache.hpp"

#include <cstdint>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "microstudio/core/error.hpp"
#include "microstudio/core/files.hpp"

namespace ms::ml::detail {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMagic = "microstudio-latents 1";

void mixBytes(std::uint64_t& h, const void* data, std::size_t n) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
        h ^= bytes[i];
        h *= 1099511628211ULL;
    }
}

}  // namespace

std::string weightsKey(torch::nn::Module& module) {
    std::uint64_t h = 1469598103934665603ULL;
    auto mix = [&h](const torch::Tensor& t) {
        const auto c = t.detach().to(torch::kCPU).contiguous();
        mixBytes(h, c.data_ptr(), std::size_t(c.numel()) * c.element_size());
    };
    for (const auto& p : module.parameters(true)) mix(p);
    for (const auto& b : module.buffers(true)) mix(b);
    return fmt::format("{:016x}", h);
}

fs::path latentCachePath(const fs::path& checkpoint) {
    return checkpoint.empty() ? fs::path() : fs::path(checkpoint.string() + ".latents");
}

torch::Tensor readLatentCache(const fs::path& path, const std::string& key) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::string magic, storedKey, shapeLine;
    if (!std::getline(in, magic) || magic != kMagic || !std::getline(in, storedKey) || storedKey != key ||
        !std::getline(in, shapeLine))
        return {};
    std::vector<std::int64_t> shape;
    std::istringstream words(shapeLine);
    std::uintmax_t count = 1;
    for (std::int64_t extent; words >> extent;) {
        if (extent < 0 || (extent > 0 && count > (std::uintmax_t(1) << 40) / std::uintmax_t(extent))) return {};
        shape.push_back(extent);
        count *= std::uintmax_t(extent);
    }
    const auto header = std::uintmax_t(in.tellg());
    std::error_code error;
    const auto size = fs::file_size(path, error);
    if (shape.empty() || error || size != header + count * sizeof(float)) return {};  // damaged or short
    auto latents = torch::empty(shape, torch::kFloat);
    if (!in.read(reinterpret_cast<char*>(latents.data_ptr<float>()), std::streamsize(count * sizeof(float)))) return {};
    return latents;
}

void writeLatentCache(const fs::path& path, const std::string& key, const torch::Tensor& latents) {
    const auto c = latents.detach().to(torch::kCPU, torch::kFloat).contiguous();
    std::string shape;
    for (const auto extent : c.sizes()) shape += (shape.empty() ? "" : " ") + std::to_string(extent);
    writeAtomically(path, [&](const fs::path& temp) {
        std::ofstream out(temp, std::ios::binary);
        out << kMagic << '\n' << key << '\n' << shape << '\n';
        out.write(reinterpret_cast<const char*>(c.data_ptr<float>()), std::streamsize(c.numel() * sizeof(float)));
        if (!out.flush()) throw Error("cannot write " + path.string());
    });
}

}  // namespace ms::ml::detail
