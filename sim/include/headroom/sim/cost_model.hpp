// Roofline cost of one engine step, op by op. Each op gets its FLOPs and the bytes it moves (weights,
// activations, KV), a compute time (FLOPs / (peak x efficiency)) and a memory time (bytes / (bandwidth x
// efficiency)). The op's time blends the two near the ridge point instead of taking a plain max:
//   t = (t_compute^p + t_memory^p)^(1/p), p = 2.5
// which is 1.32x the max at the ridge (measured GEMMs lose 20-45% there) and within 1% of it once one bound
// is 4x the other. Large GEMMs are also costed on whole 128x128 tiles in whole waves over the SMs.
// TP all-reduces use the ring formula: 2 (p-1)/p x bytes / link bandwidth + 2 (p-1) x link latency.
// Napkin check: batch-1 decode of Llama-3.3-70B at bf16 on H200 reads 141 GB / (4.8 TB/s x 0.9) = 33 ms.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/models/model_card.hpp"

namespace headroom {

enum class Bound { COMPUTE, MEMORY, COMMUNICATION, OVERHEAD };
std::string_view bound_name(Bound b);

// One sequence's share of a step: `new_tokens` (a prefill chunk, or 1 for decode) on top of `context`
// tokens already in its KV cache.
struct SequenceWork {
    int64_t new_tokens = 1;
    int64_t context = 0;
};

struct CostConfig {
    int64_t tp = 1;
    Dtype weight_dtype = Dtype::BF16;
    Dtype kv_dtype = Dtype::BF16;
    bool cuda_graphs = true;
    // Scheduler, input preparation and output processing of one step (vLLM V1 with CUDA graphs: about
    // 1 ms of host time per step that the GPU does not hide; an estimate, overridable per scenario).
    double step_overhead_s = 1.0e-3;
    // Per kernel launch, paid only without CUDA graphs (an eager launch costs about 4-6 us).
    double kernel_launch_s = 5.0e-6;
    // FlashAttention reaches a lower share of the tensor-core peak than a large GEMM does (FA3 on H100 runs at
    // roughly 60-75% of peak, a large GEMM at 79%): attention compute uses compute_efficiency x this.
    double attention_efficiency_factor = 0.8;
    double blend_exponent = 2.5;
};

struct OpCost {
    std::string name;
    int64_t count = 1;  // how many times the op runs in the step (layers)
    double flops = 0.0;
    double bytes = 0.0;
    double compute_s = 0.0;
    double memory_s = 0.0;
    double comm_s = 0.0;
    double overhead_s = 0.0;
    double time_s = 0.0;  // all `count` runs
    Bound bound = Bound::MEMORY;
};

struct StepCost {
    double time_s = 0.0;
    double flops = 0.0;
    double bytes = 0.0;
    int64_t tokens = 0;
    int64_t sequences = 0;
    std::vector<OpCost> ops;
    const OpCost* op(std::string_view name) const;
};

// What the simulator accumulates per step: time, work, and time per bound (indexed by Bound).
struct StepTotals {
    double time_s = 0.0;
    double flops = 0.0;
    double bytes = 0.0;
    double time_by_bound_s[4] = {0, 0, 0, 0};
};

// Per attention kind (FULL, SLIDING, MLA): layer counts and window; MoE layer count. Computed once.
struct LayerStats {
    int64_t count[3] = {0, 0, 0};
    int64_t window[3] = {0, 0, 0};
    int64_t moe = 0;
};

class CostModel {
public:
    CostModel(const ModelCard& model, const GpuProfile& gpu, const CostConfig& config);

    // The step with its per-op breakdown (for `headroom cost` and explanations).
    StepCost step(const std::vector<SequenceWork>& batch) const;
    // The step's duration alone; the simulator's hot path. Equal to step(batch).time_s.
    double step_time(const std::vector<SequenceWork>& batch) const { return step_totals(batch).time_s; }
    // Duration, FLOPs, bytes and time per bound, without the per-op table (no allocation).
    StepTotals step_totals(const std::vector<SequenceWork>& batch) const;

    // Dense peak the GEMMs run at: the weight dtype's tensor-core peak, or bf16 where the GPU has none
    // (fp8 weights on an A100 are dequantised and multiplied in bf16).
    double gemm_peak_flops() const { return gemm_peak_flops_; }
    const CostConfig& config() const { return config_; }
    const ModelCard& model() const { return model_; }
    const GpuProfile& gpu() const { return gpu_; }

    // Expected number of distinct routed experts a step of `tokens` tokens activates in one MoE layer:
    // E x (1 - (1 - k/E)^tokens), for uniform routing.
    double expected_active_experts(int64_t tokens) const;

private:
    ModelCard model_;
    GpuProfile gpu_;
    CostConfig config_;
    double gemm_peak_flops_;
    double flops_per_s_;       // achievable, for the GEMM compute dtype
    double bytes_per_s_;       // achievable HBM bandwidth
    double link_bytes_per_s_;  // achievable one-direction bandwidth of the TP link
    double link_latency_s_;
    double weight_bytes_per_param_;
    LayerStats layers_;
};

}  // namespace headroom
