// What is served and how, as two typed values that every stage takes whole:
// - Deployment: the model, the GPU, the parallelism, the replicas and their router, the dtypes, and the
//   step-time predictor that prices the steps;
// - EngineConfig: vLLM's engine arguments (names and defaults as vLLM's) and the API server in front.
// The KV plan, the scheduler's settings, the cost model's settings and the replica loop's settings are each
// derived from them in one function here, for the simulator and the executor alike.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/disaggregation.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/core/scheduler.hpp"
#include "headroom/core/speculative.hpp"
#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/models/model_card.hpp"

namespace headroom {

class StepTimePredictor;

// The API server in front of the engine (vLLM's OpenAI server, its own process in V1): each request spends a
// fixed time there (HTTP, chat template, queueing into the engine) plus its tokenisation before the engine
// sees it. Part of TTFT, not of engine time.
struct ApiServer {
    double fixed_s = 0.0;
    double tokenize_tokens_per_s = 0.0;  // 0: free
    double time_s(int64_t prompt_tokens) const {
        return fixed_s + (tokenize_tokens_per_s > 0 ? static_cast<double>(prompt_tokens) / tokenize_tokens_per_s : 0.0);
    }
};

struct Deployment {
    std::string model_spec;  // as the user named it (registry name or path)
    ModelCard model;
    std::string gpu_spec;
    GpuProfile gpu;
    int64_t tp = 1;
    // Beyond one TP group (parallelism.hpp): pipeline stages; attention data-parallel ranks with the experts over
    // all tp x dp GPUs of the replica; the busiest EP rank's load over the mean (0: from uniform routing); and the
    // links the replica's collectives cross, from its placement on a cluster (none: one NVLink domain).
    int64_t pp = 1;
    std::vector<int64_t>
        pp_layer_partition;  // each stage's layers (VLLM_PP_LAYER_PARTITION); empty: vLLM's split
    int64_t dp = 1;
    bool expert_parallel = false;
    double expert_imbalance = 0.0;
    // vLLM's all2all_backend for DP + EP (all2all_backends below); vLLM's default gathers every DP rank's tokens
    std::string all2all_backend = "allgather_reducescatter";
    MoeRouting moe_routing;  // how a step's tokens spread over the routed experts (moe_routing.hpp)
    ReplicaLinks links;
    int64_t replicas = 1;
    std::string router = "round_robin";  // round_robin | least_outstanding
    std::optional<Dtype> weight_dtype;  // every block matrix in this format; nullopt: as the checkpoint ships them
    Dtype kv_dtype = Dtype::BF16;
    // Step-time predictor: "auto" (measured kernel tables where the GPU has them, else the roofline), "tables",
    // "calibrated" or "roofline" (make_step_predictor).
    std::string predictor = "auto";
    // A calibration of the deployment's own (from headroom calibrate); nullptr: the GPU's shipped one, if any.
    std::shared_ptr<const Calibration> calibration;
    // Measured kernel tables of the deployment's own (a .hkt from `python -m headroom.kernels import`);
    // nullptr: the GPU's shipped ones, if any.
    std::shared_ptr<const KernelTables> kernel_tables;

    int64_t gpus_per_replica() const { return tp * pp * dp; }
    int64_t ep() const { return expert_parallel ? tp * dp : 1; }
};

// vLLM's all2all_backend values headroom takes, and whether each gathers every DP rank's tokens onto every GPU
// (allgather_reducescatter, naive) or dispatches each token-expert pair to its expert's GPU (DeepEP, pplx); see
// CostConfig::ep_gather.
const std::vector<std::pair<std::string, bool>>& all2all_backends();
bool all2all_gathers(const std::string& backend);
// Why `backend` is not one of all2all_backends ("'x' is not one of ..."), or "" when it is.
std::string unknown_all2all_backend(const std::string& backend);

struct EngineConfig {
    std::string policy = "continuous";
    double gpu_memory_utilization = 0.9;
    int64_t block_size = 16;
    // The step limits. Unless a scenario sets them (the *_set flags), vLLM's defaults for the deployment's GPU
    // (vllm_serve_defaults: 8,192 tokens and 1,024 sequences on H100-class GPUs, 2,048 and 256 on A100 and L40S),
    // filled in by with_vllm_defaults; the values here stand until then.
    int64_t max_num_batched_tokens = 8192;
    int64_t max_num_seqs = 1024;
    bool max_num_batched_tokens_set = false;
    bool max_num_seqs_set = false;
    std::string limits_gpu;  // the GPU whose defaults the unset limits hold ("" before any)
    int64_t max_model_len = 0;  // 0: the model's max_position_embeddings
    bool chunked_prefill = true;
    bool prefix_caching = false;
    bool cuda_graphs = true;
    double step_overhead_s = 1.0e-3;
    // vLLM's async scheduling (default since v0.14): a busy engine prepares the next step while the GPU runs this
    // one, so the host time above is paid only where it outlasts the GPU's work (host_overlap.hpp)
    bool async_scheduling = true;
    // vLLM's AllReduce + RMSNorm fusion (PassConfig.fuse_allreduce_rms; cost_model.hpp allreduce_norm_fused)
    bool fuse_allreduce_rms = true;
    double reserve_bytes = -1.0;  // < 0: estimated by the KV planner
    // At most this many KV blocks (0: the plan's). Not read from YAML: `validate` sets it to what the
    // executor could allocate, so that prediction and measurement run with the same cache.
    int64_t kv_blocks_limit = 0;
    // > 0: no request starts at or after this time, arrivals and follow-up turns alike; those running finish.
    // Not read from YAML: `measure serve` and `validate` set it to --duration, so that a run of multi-turn
    // sessions ends soon after it, in both the measurement and the prediction.
    double stop_s = 0.0;
    // Defaults: 1 ms fixed, an estimate; tokenisation at 450,000 tokens/s on one core (100k tokens in 220 ms
    // measured with vLLM 0.19's server, andyluo7.github.io 2026-05-14).
    ApiServer api_server{1.0e-3, 450000.0};
    // Speculative decoding (vLLM's speculative_config); off by default.
    SpeculativeConfig speculative;
};

// `e` with vLLM's defaults for `gpu` in the step limits the scenario did not set; unchanged when they already hold
// that GPU's (so a caller's later edit of the values stands).
EngineConfig with_vllm_defaults(EngineConfig e, const GpuProfile& gpu);

// How the deployment serves: the scheduler each replica runs, how many replicas and how requests reach them.
struct ServingConfig {
    SchedulerConfig scheduler;
    int64_t replicas = 1;
    std::string router = "round_robin";  // round_robin | least_outstanding
    ApiServer api_server;
    SpeculativeConfig speculative;  // the acceptance model the loop draws from
    double stop_s = 0.0;  // > 0: no request starts at or after this time (EngineConfig::stop_s)
    // Disaggregated prefill and decode: the first disaggregation.prefill_replicas replicas are the prefill pool,
    // each replica with its own scheduler settings (its pool's GPU and TP give it its own KV blocks).
    DisaggregationSettings disaggregation;
    std::vector<SchedulerConfig> replica_schedulers;  // per replica; empty: `scheduler` for every one
    const SchedulerConfig& scheduler_of(int64_t replica) const {
        return replica_schedulers.empty() ? scheduler : replica_schedulers[static_cast<size_t>(replica)];
    }
};

// The KV plan the deployment runs with (an encoder: no KV cache, only a bound on tokens in flight); throws
// PlanError(where, reason in numbers) when it does not fit.
KvPlan deployment_kv_plan(const Deployment& d, const EngineConfig& e, const std::string& where);
// The scheduler settings: the engine's knobs, the plan's blocks, and the block cap of an all-sliding model.
SchedulerConfig scheduler_config(const Deployment& d, const EngineConfig& e, const KvPlan& plan);
CostConfig cost_config(const Deployment& d, const EngineConfig& e);
// The whole serving set-up of the replica loop: scheduler, replicas, router, API server.
ServingConfig serving_config(const Deployment& d, const EngineConfig& e, const KvPlan& plan);
// The deployment's step-time predictor (its `predictor` choice, its calibration).
std::unique_ptr<StepTimePredictor> make_step_predictor(const Deployment& d, const EngineConfig& e);

}  // namespace headroom
