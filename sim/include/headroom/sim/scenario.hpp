// A serving scenario: the model, the GPU, the serving configuration, the workload, the SLOs and the seed.
// Loaded from YAML (examples/*.yaml); the one place scenario YAML is parsed.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/models/model_card.hpp"
#include "headroom/core/replica_loop.hpp"
#include "headroom/core/workload.hpp"

namespace headroom {

// An SLO on one per-request metric: ttft, tpot, itl (a request's worst gap) or e2e, in seconds, judged at
// a percentile across requests. Goodput counts the requests that meet every threshold.
struct SloTarget {
    std::string metric;
    double percentile = 95.0;
    double threshold_s = 0.0;
};

struct Scenario {
    std::string name;
    std::string file;  // where it was read from ("" for a built-in)

    std::string model_spec;
    ModelCard model;
    std::string gpu_spec;
    GpuProfile gpu;
    int64_t tp = 1;
    int64_t replicas = 1;
    std::string router = "round_robin";  // round_robin | least_outstanding
    Dtype weight_dtype = Dtype::BF16;
    Dtype kv_dtype = Dtype::BF16;

    // Serving engine (vLLM names and defaults).
    std::string policy = "continuous";
    double gpu_memory_utilization = 0.9;
    int64_t block_size = 16;
    int64_t max_num_batched_tokens = 8192;
    int64_t max_num_seqs = 256;
    int64_t max_model_len = 0;  // 0: the model's max_position_embeddings
    bool chunked_prefill = true;
    bool prefix_caching = false;
    bool cuda_graphs = true;
    double step_overhead_s = 1.0e-3;
    double reserve_bytes = -1.0;  // < 0: estimated by the KV planner
    // Step-time predictor: "auto" (measured kernel tables where the GPU has them, else the roofline), "tables"
    // or "roofline" (make_step_predictor).
    std::string predictor = "auto";
    // A calibration of the scenario's own (`calibration: file.yaml`, from headroom calibrate); nullptr: the GPU's
    // shipped one, if any.
    std::shared_ptr<const Calibration> calibration;
    // At most this many KV blocks (0: the plan's). Not read from YAML: `validate` sets it to what the
    // executor could allocate, so that prediction and measurement run with the same cache.
    int64_t kv_blocks_limit = 0;

    // The API server in front of the engine (vLLM's OpenAI server, its own process in V1): each request spends
    // a fixed time there (HTTP, chat template, queueing into the engine) plus its tokenisation before the
    // engine sees it. Part of TTFT, not of engine time. Defaults: 1 ms fixed, an estimate; tokenisation at
    // 450,000 tokens/s on one core (100k tokens in 220 ms measured with vLLM 0.19's server, andyluo7.github.io
    // 2026-05-14). `api_server: {fixed_ms: 0, tokenize_tokens_per_s: 0}` turns it off.
    ApiServer api_server{1.0e-3, 450000.0};

    WorkloadSpec workload;
    std::vector<SloTarget> slos;
    uint64_t seed = 0;
};

class ScenarioError : public std::runtime_error {
public:
    ScenarioError(std::string file, std::string field, std::string reason);
    const std::string& file() const { return file_; }
    const std::string& field() const { return field_; }
    const std::string& reason() const { return reason_; }

private:
    std::string file_, field_, reason_;
};

// Reads a scenario YAML; relative model, GPU and trace paths are taken from the file's directory.
// `overrides` are "key.path=value" assignments applied to the YAML before it is read (e.g.
// "scheduler.max_num_batched_tokens=2048", "gpu=h200", "workload.arrival.rate=4"), checked like the file.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});
Scenario parse_scenario(const std::string& text, const std::string& file, const std::string& base_dir,
                        const std::vector<std::string>& overrides = {});

// The one SLO parser. "ttft_p95=2s,tpot_p99.9=50ms" (the CLI's and Python's --slo) -> SLO targets; throws
// std::invalid_argument naming the bad part. A scenario's `slo:` keys (ttft_p95_s) use the same names.
std::vector<SloTarget> parse_slo_list(const std::string& text);

// The built-in default (sim/scenarios/default-chat.yaml): multi-turn chat, Llama-3.1-8B on one H100, SLOs
// TTFT p95 2 s and TPOT p95 50 ms. load_scenario("") returns it.
inline constexpr const char* BUILTIN_SCENARIO = "built-in default-chat";

}  // namespace headroom
