// A serving scenario: the deployment (model, GPU, parallelism), the engine configuration, the workload, the
// SLOs and the seed.
// Loaded from YAML (examples/*.yaml); the one place scenario YAML is parsed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "headroom/core/deployment.hpp"
#include "headroom/core/workload.hpp"
#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/cluster.hpp"
#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/models/model_card.hpp"

namespace headroom {

// An SLO on one per-request metric: ttft, tpot, itl (a request's worst gap) or e2e, in seconds, judged at
// a percentile across requests. Goodput counts the requests that meet every threshold.
struct SloTarget {
    std::string metric;
    double percentile = 95.0;
    double threshold_s = 0.0;
};

// Disaggregated prefill and decode (`disaggregation:`): the scenario's deployment (gpu, tp, replicas) is the
// decode pool, and a prefill pool of its own GPU, TP and replicas sits in front. KV moves from prefill to decode
// replica over the cluster's links (placed in cluster order: the prefill replicas' GPUs first, then the decode
// replicas'), or without a cluster over one ideal link per transfer.
struct PoolSpec {
    std::string gpu_spec;
    GpuProfile gpu;
    int64_t tp = 1;
    int64_t replicas = 1;
    // the pool's own expert parallelism (its TP group as the EP group); absent: the scenario's
    // expert_parallel
    std::optional<bool> expert_parallel;
};
struct DisaggregationSpec {
    bool enabled = false;
    PoolSpec prefill;
    std::string decision = "always";  // disaggregation.hpp: always | prompt_length | prefix_cache
    int64_t min_prompt_tokens = 0;
    double min_cache_hit_share = 0.5;
    std::string decode_router = "least_kv";  // least_kv | round_robin
    std::string cluster_spec;  // "" : the ideal link below
    std::shared_ptr<const ClusterTopology> cluster;
    double link_bytes_per_s = 0.0;  // ideal link; 0: infinitely fast
    double link_latency_s = 0.0;
};

struct Scenario {
    std::string name;
    std::string file;  // where it was read from ("" for a built-in)

    Deployment deployment;
    std::vector<std::string> gpu_overrides;  // the file's gpu_overrides ("field=value"), kept for GPU edits
    EngineConfig engine;
    WorkloadSpec workload;
    std::vector<SloTarget> slos;
    uint64_t seed = 0;
    // The percentiles reported under vLLM's names (p99_ttft_ms, ...), as `vllm bench serve --metric-percentiles`
    // takes them; vLLM's default is 99.
    std::vector<double> metric_percentiles{99.0};
    DisaggregationSpec disaggregation;
    // Where the replicas sit (`cluster:`): replica r on GPUs [r g, (r+1) g) for g GPUs per replica (a disaggregated
    // deployment's prefill replicas first). Its links price what crosses NVLink domains: a TP ring, PP stage
    // hops, the DP + EP all-to-all, KV transfers. None: every replica inside one NVLink domain.
    std::string cluster_spec;
    std::shared_ptr<const ClusterTopology> cluster;
    std::string cluster_field = "cluster";  // where the file names it (for errors)
};

class ScenarioError : public InputError {
public:
    using InputError::InputError;
};

// Reads a scenario YAML; relative model, GPU and trace paths are taken from the file's directory.
// `overrides` are "key.path=value" assignments applied to the YAML before it is read (e.g.
// "scheduler.max_num_batched_tokens=2048", "gpu=h200", "workload.arrival.rate=4"), checked like the file.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});
Scenario parse_scenario(const std::string& text, const std::string& file, const std::string& base_dir,
                        const std::vector<std::string>& overrides = {});

// Typed edits of a loaded scenario, for sweeps, plans and counterfactuals: the model, the trace and the GPU
// profiles are loaded once, never re-read per point. After editing, check_scenario applies the loader's rules
// that span fields (TP against the heads, a KV-cache dtype, max_model_len, the prompt budget without chunked
// prefill, kernel tables for predictor: tables, an encoder's shape) and throws ScenarioError naming the field.
void check_scenario(const Scenario& s);
// The GPU profile `spec` with the scenario's own gpu_overrides applied, as the loader would build it.
GpuProfile scenario_gpu(const Scenario& s, const std::string& spec);
// Disaggregated: the prefill pool as a deployment (the scenario's, on the pool's GPU, TP and replicas), and the
// cluster GPUs of every replica of the replica loop (prefill replicas first, each its TP consecutive GPUs).
Deployment prefill_deployment(const Scenario& s);
// The deployments the simulator runs: the decode pool (or the only one) and the prefill pool, with the links of
// their placement on the scenario's cluster (ReplicaLinks; the slowest replica's where replicas differ).
Deployment placed_deployment(const Scenario& s);
Deployment placed_prefill_deployment(const Scenario& s);
// The links of one replica on GPUs `gpus` of cluster `c` (laid out stage by stage, DP rank by rank, TP ranks
// consecutive): the TP ring if it leaves its NVLink domain, the stage hops, the DP + EP all-to-all rate.
ReplicaLinks replica_links(const ClusterTopology& c, const std::vector<int64_t>& gpus, const Deployment& d);
// The GPUs of the whole fleet (both pools when disaggregated) and their reserved price per hour.
int64_t fleet_gpus(const Scenario& s);
double fleet_usd_per_hour(const Scenario& s);
std::vector<std::vector<int64_t>> replica_gpus(const Scenario& s);
void set_gpu(Scenario& s, const std::string& spec, const GpuProfile& gpu);

// Bounds the loader enforces on the arrival fields (edits check the same).
inline constexpr double MAX_ARRIVAL_RATE = 1e6;
inline constexpr int64_t MAX_USERS = 1'000'000;

// The one SLO parser. "ttft_p95=2s,tpot_p99.9=50ms" (the CLI's and Python's --slo) -> SLO targets; throws
// std::invalid_argument naming the bad part. A scenario's `slo:` keys (ttft_p95_s) use the same names.
std::vector<SloTarget> parse_slo_list(const std::string& text);

// The built-in default (sim/scenarios/default-chat.yaml): multi-turn chat, Llama-3.1-8B on one H100, SLOs
// TTFT p95 2 s and TPOT p95 50 ms. load_scenario("") returns it.
inline constexpr const char* BUILTIN_SCENARIO = "built-in default-chat";

// The per-position acceptance the speculative what-ifs (the sweep's counterfactual, plan --speculative)
// assume when the workload gives none (workload.speculative_acceptance): an assumption, printed as one.
inline constexpr double ASSUMED_SPECULATIVE_ACCEPTANCE = 0.6;
// The speculative decoding the what-ifs try: EAGLE-3 with 3 drafts at the workload's acceptance, else the
// assumed one (`assumed` says which).
SpeculativeConfig default_speculative(const Scenario& s, bool* assumed = nullptr);

}  // namespace headroom
