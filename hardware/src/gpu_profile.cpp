// GPU profile schema and derived values.
#include "headroom/hardware/gpu_profile.hpp"

#include <fmt/format.h>

namespace headroom {

double GpuProfile::peak_flops(Dtype d) const {
    switch (d) {
        case Dtype::FP32: return fp32_tflops.value * 1e12;
        case Dtype::BF16:
        case Dtype::INT4:
        case Dtype::MXFP4: return bf16_tflops.value * 1e12;
        case Dtype::FP16: return fp16_tflops.value * 1e12;
        case Dtype::FP8: return fp8_tflops.value * 1e12;
        case Dtype::INT8: return int8_tflops.value * 1e12;
    }
    return 0.0;
}

const std::vector<ProfileField>& profile_fields() {
    using G = GpuProfile;
    static const std::vector<ProfileField> fields = {
        {"memory.capacity_gib", &G::memory_capacity_gib, true, false, "GiB"},
        {"memory.usable_fraction", &G::usable_memory_fraction, true, true, ""},
        {"memory.bandwidth_gb_per_s", &G::memory_bandwidth_gb_per_s, true, false, "GB/s"},
        {"chip.sm_count", &G::sm_count, true, false, "SMs"},
        {"chip.l2_cache_mib", &G::l2_cache_mib, false, false, "MiB"},
        {"chip.compute_capability", &G::compute_capability, false, false, ""},
        {"compute_tflops.fp32", &G::fp32_tflops, false, false, "TFLOP/s"},
        {"compute_tflops.bf16", &G::bf16_tflops, true, false, "TFLOP/s"},
        {"compute_tflops.fp16", &G::fp16_tflops, true, false, "TFLOP/s"},
        {"compute_tflops.fp8", &G::fp8_tflops, false, false, "TFLOP/s"},
        {"compute_tflops.int8", &G::int8_tflops, false, false, "TOP/s"},
        {"compute_tflops.fp4", &G::fp4_tflops, false, false, "TFLOP/s"},
        {"interconnect.nvlink_bidirectional_gb_per_s", &G::nvlink_bidirectional_gb_per_s, false, false, "GB/s"},
        {"interconnect.nvlink_latency_us", &G::nvlink_latency_us, false, false, "us"},
        {"interconnect.pcie_bidirectional_gb_per_s", &G::pcie_bidirectional_gb_per_s, false, false, "GB/s"},
        {"interconnect.pcie_latency_us", &G::pcie_latency_us, false, false, "us"},
        {"power.tdp_w", &G::tdp_w, true, false, "W"},
        {"price.usd_per_gpu_hour", &G::price_usd_per_gpu_hour, true, false, "$/h"},
        {"efficiency.compute", &G::compute_efficiency, true, true, ""},
        {"efficiency.memory", &G::memory_efficiency, true, true, ""},
        {"efficiency.interconnect", &G::interconnect_efficiency, true, true, ""},
    };
    return fields;
}

}  // namespace headroom
