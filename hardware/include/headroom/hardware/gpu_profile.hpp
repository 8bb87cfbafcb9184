// A GPU as the cost model and the KV planner see it: memory, bandwidth, dense peaks per dtype,
// interconnect, power, price and achievable-efficiency factors. Every number carries its source.
// Peaks are dense (the datasheets' structured-sparsity figures are twice these).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "headroom/models/dtype.hpp"
#include "headroom/models/input_error.hpp"

namespace headroom {

// A number and where it comes from (datasheet, measurement, estimate, or the override that set it).
struct Sourced {
    double value = 0.0;
    std::string source;
    bool present() const { return value > 0.0; }
};

struct GpuProfile {
    std::string name;          // id: "h100-sxm"
    std::string display_name;  // "NVIDIA H100 SXM5 80GB"
    std::vector<std::string> aliases;
    std::string notes;
    std::string file;  // where it was loaded from

    Sourced memory_capacity_gib;      // HBM capacities are binary: an "80 GB" H100 holds 80 GiB
    Sourced usable_memory_fraction;   // part of the capacity CUDA can allocate (driver, ECC, OS take the rest)
    Sourced memory_bandwidth_gb_per_s;
    bool memory_shared_with_cpu = false;  // Jetson: one LPDDR5 pool for CPU, OS and GPU

    Sourced sm_count;  // streaming multiprocessors: the wave size of a GEMM
    // L2 cache; optional. Kernel tables timed with weights that stay in L2 between runs are faster than serving,
    // where every step streams each layer's weights from memory afresh (calibrate.hpp, kernel_table_predictor.hpp).
    Sourced l2_cache_mib;
    // CUDA compute capability (9.0 Hopper, 10.0 Blackwell); optional. vLLM picks kernels and fusions by it
    // (allreduce_norm_fused in cost_model.hpp).
    Sourced compute_capability;
    Sourced fp32_tflops, bf16_tflops, fp16_tflops, fp8_tflops, int8_tflops, fp4_tflops;

    Sourced nvlink_bidirectional_gb_per_s;  // per GPU, both directions together, as datasheets quote it
    Sourced nvlink_latency_us;              // per ring step
    Sourced pcie_bidirectional_gb_per_s;
    Sourced pcie_latency_us;

    Sourced tdp_w;
    Sourced price_usd_per_gpu_hour;
    std::string price_read_on;  // ISO date the price was read

    Sourced compute_efficiency;       // achievable / peak for large GEMMs
    Sourced memory_efficiency;        // achievable / peak for streaming reads
    Sourced interconnect_efficiency;  // achievable / peak for large all-reduces

    double memory_bytes() const { return memory_capacity_gib.value * 1024.0 * 1024.0 * 1024.0; }
    double usable_memory_bytes() const { return memory_bytes() * usable_memory_fraction.value; }
    double memory_bandwidth_bytes_per_s() const { return memory_bandwidth_gb_per_s.value * 1e9; }
    double l2_cache_bytes() const { return l2_cache_mib.value * 1024.0 * 1024.0; }  // 0 when not given
    // Dense tensor-core peak for a compute dtype; 0 when the GPU has no such units. int4 weights are
    // dequantised and multiplied in bf16, so INT4 returns the bf16 peak; so do MXFP4 weights (weight-only, as
    // vLLM runs gpt-oss on Hopper; Blackwell's FP4 units are not modelled yet).
    double peak_flops(Dtype d) const;
    bool has_nvlink() const { return nvlink_bidirectional_gb_per_s.present(); }
};

// The hardware domain's input error: a GPU profile, a calibration or a kernel table that cannot be loaded or
// overridden, naming the file, the field path (or line) and the reason.
class HardwareError : public InputError {
public:
    using InputError::InputError;
};

// Every field a profile YAML may hold, as "section.key" paths, in file order.
struct ProfileField {
    std::string_view path;
    Sourced GpuProfile::*member;
    bool required;
    bool fraction;  // must lie in (0, 1]; otherwise any positive number
    std::string_view unit;
};
const std::vector<ProfileField>& profile_fields();

}  // namespace headroom
