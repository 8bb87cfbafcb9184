// Capacity planning: the cheapest deployment that meets every SLO at a target request rate.
// The search space is GPU type x TP degree x weight dtype x KV dtype (then the token budget for the best
// few); a model that fits no TP up to 8 on a GPU type takes TP 8 with 2 or 4 pipeline stages, vLLM's multi-node
// layout (TP inside a node, PP across nodes). For each candidate, the highest rate one replica sustains is found by search on the rate: doubling
// until an SLO fails, then bisection, with every candidate's next probe simulated in parallel. The replica
// count follows (target / sustained rate, rounded up) and is verified by simulating the whole fleet at the
// target rate, adding replicas until it holds. No blind grid over rates or replicas.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"
#include "headroom/sim/sweep.hpp"

namespace headroom {

struct CapacityRequest {
    std::string model_spec;
    double qps = 1.0;  // target arrival rate (requests per second; sessions per second for chat/agent)
    std::vector<SloTarget> slos;
    std::vector<std::string> gpus = {"h100-sxm", "h200", "b200"};
    std::string workload_path;             // scenario whose workload to use; "" = built-in (single-turn chat)
    std::vector<std::string> overrides;    // extra scenario --set assignments
    // Also try each candidate with speculative decoding: the workload scenario's speculative block, or else
    // default_speculative (EAGLE-3, k = 3). A scenario with a speculative block is tried with and without it
    // either way.
    bool try_speculative = false;
    // Simulated seconds of arrivals per probe; 0: 60 s, or for a trace its whole replay at the probed rate (a
    // trace's first minutes need not carry its mean rate: the Azure conversation trace runs at 5.0/s for its
    // first 1,200 s and 6.9/s from 1,200 to 1,800 s).
    double duration_s = 0.0;
    int jobs = 0;                          // parallel simulations; 0: all cores
    // Also try the best colocated fleets (those meeting the SLOs first; a split may meet where none does) split
    // into a prefill and a decode pool, every prefill:decode ratio of as many replicas or fewer (down to two
    // fewer): the prefill pool on the fleet's GPU and TP, and for the best fleet also on each other GPU type of
    // the plan (at its smallest TP that fits). The KV moves as the workload scenario's disaggregation block says
    // (its link or cluster), else over an ideal link of DEFAULT_KV_LINK_GB_PER_S per TP rank and
    // DEFAULT_KV_LINK_LATENCY_US (an assumption, printed).
    bool try_disaggregated = false;
    // Where the probes run when not in forked children here: each probe goes out as a plan-probe recipe
    // (plan_probe_json), which simulate_recipe builds and simulates the same way (headroom.plan(client=...),
    // `plan --dask`). The workload file and a model given as a path must be readable on the workers.
    RemoteRunner remote;
};

struct CapacityCandidate {
    std::string gpu;
    int64_t tp = 1;
    int64_t pp = 1;  // pipeline stages: a model that fits no TP up to 8 takes TP 8 x PP 2 or 4 (stages across nodes)
    int64_t gpus_per_replica() const { return tp * pp; }
    std::string layout() const;  // "TP8", or "TP8 x PP2" with pipeline stages
    std::optional<Dtype> weight_dtype;  // nullopt: as the checkpoint ships them
    std::string weights;                // their label ("bf16", "fp8", "mxfp4": WeightScheme::short_label)
    Dtype kv_dtype = Dtype::BF16;
    int64_t max_num_batched_tokens = 8192;
    bool speculative = false;  // with the plan's speculative decoding (CapacityPlan::speculative)
    int64_t prefill_replicas = 0;  // > 0: disaggregated, this many prefill replicas in front of `replicas` decode ones
    std::string prefill_gpu;       // the prefill pool's GPU and TP ("" and 0: the decode pool's)
    int64_t prefill_tp = 0;
    // highest probed rate meeting every SLO on one replica (a token-budget alternative: at least the target over
    // its replicas, which the fleet held)
    double sustained_rate_per_replica = 0.0;
    int64_t replicas = 0;
    bool meets = false;            // the verified fleet meets every SLO at the target rate
    SimulationResult at_target;    // the fleet at the target rate
    double usd_per_hour = 0.0;     // reserved cost of the fleet
    double usd_per_mtok = 0.0;     // usage cost at the achieved throughput
    double tokens_per_s_per_gpu = 0.0;
    double headroom_rate = 0.0;    // replicas x sustained rate per replica
    double joules_per_token = 0.0;  // estimate: TDP x (0.3 + 0.7 x busy share) per GPU
    std::string label() const;
};

// The ideal KV link a disaggregated plan candidate assumes when the workload scenario names none: one 400 Gb/s
// NIC per TP rank (ConnectX-7, as in hardware/clusters/) and a few microseconds of latency.
inline constexpr double DEFAULT_KV_LINK_GB_PER_S = 50.0;
inline constexpr double DEFAULT_KV_LINK_LATENCY_US = 5.0;

struct CapacityPlan {
    std::vector<CapacityCandidate> ranked;  // meeting candidates by $/hour, then the rest
    std::vector<std::string> skipped;       // configurations that cannot run, with the reason
    int64_t simulations = 0;
    double wall_s = 0.0;
    Scenario base;  // the workload and engine the plan used (at the first candidate's settings)
    SpeculativeConfig speculative;  // what "speculative" candidates ran; off when none were tried
    bool speculative_assumed = false;  // its acceptance is the assumed one, not the workload's
    std::string disaggregated_link;  // how the disaggregated candidates moved KV ("" when none were tried)
};

CapacityPlan plan_capacity(const CapacityRequest& request, const std::function<void(size_t, size_t)>& progress = {});

// One probe of a plan (a candidate at a rate and replica count) as JSON that names everything it is made from,
// and the scenario it makes: the same typed edits plan_capacity makes, so a probe simulated elsewhere is
// bit-identical. plan_probe_scenario throws ScenarioError when the text is not a probe.
std::string plan_probe_json(const CapacityRequest& request, const CapacityCandidate& c, double rate, int64_t replicas);
bool is_plan_probe(const std::string& json);
Scenario plan_probe_scenario(const std::string& json);


}  // namespace headroom
