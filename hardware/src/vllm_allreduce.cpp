#include "headroom/hardware/vllm_allreduce.hpp"

#include <algorithm>
#include <array>

namespace headroom {

VllmAllreduce vllm_allreduce(double compute_capability, int64_t gpus, bool nvlink) {
    constexpr double MiB = 1024.0 * 1024.0;
    VllmAllreduce v;
    v.gpus = gpus;
    // CustomAllreduce._SUPPORTED_WORLD_SIZES
    const bool custom = gpus == 2 || gpus == 4 || gpus == 6 || gpus == 8;
    v.custom_max_bytes = custom && (gpus == 2 || nvlink) ? 8.0 * MiB : 0.0;
    // CUSTOM_ALL_REDUCE_MAX_SIZES and SYMM_MEM_ALL_REDUCE_MAX_SIZES, by compute capability and GPUs
    const auto at = [&](std::array<double, 4> mib) { return mib[static_cast<size_t>(gpus / 2 - 1)] * MiB; };
    if (custom && compute_capability == 9.0) {
        v.custom_max_bytes = std::min(v.custom_max_bytes, at({64, 32, 0.5, 0.25}));
        v.symm_max_bytes = at({64, 32, 64, 64});
    } else if (custom && compute_capability == 10.0) {
        v.custom_max_bytes = std::min(v.custom_max_bytes, at({2, 2, 1, 1}));
        v.symm_max_bytes = at({8, 32, 128, 128});
    }
    return v;
}

VllmAllreduce::Path VllmAllreduce::path(double bytes) const {
    if (bytes < custom_max_bytes) return Path::CUSTOM;  // should_custom_ar: inp_size < max_size
    if (bytes < symm_max_bytes) return Path::SYMM_MEM;  // should_use_symm_mem: inp_size < max_size
    return Path::NCCL;
}

std::string VllmAllreduce::name(Path p) const {
    switch (p) {
        case Path::CUSTOM:
            return "its custom all-reduce";
        case Path::SYMM_MEM:
            return gpus >= 6 ? "torch symmetric memory (multimem)" : "torch symmetric memory (two-shot)";
        case Path::NCCL:
            break;
    }
    return "NCCL";
}

}  // namespace headroom
