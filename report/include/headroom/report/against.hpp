// `validate --against`: a prediction checked against a load generator's own measurement. Reads the result files
// of three load generators, told apart by their content:
// - `vllm bench serve --save-result` JSON (vllm/benchmarks/serve.py: model_id, num_prompts, request_rate,
//   burstiness, max_concurrency, completed, throughputs, and mean/median/pNN of TTFT, TPOT, ITL and E2EL in ms;
//   with --save-detailed also every request's input and output length);
// - GuideLLM's benchmarks.json (guidellm GenerativeBenchmarksReport: `benchmarks`, each with config.strategy
//   (synchronous, concurrent with `streams`, throughput, constant or poisson with `rate`) and metrics whose
//   distributions hold mean, median and percentiles p001..p999 per request status; its inter_token_latency_ms
//   is (last - first token) / (output tokens - 1), vLLM's TPOT; request_latency is in seconds);
// - AIPerf's profile_export_aiperf.json (one object per metric with unit, avg and pNN; input_config.loadgen holds
//   concurrency or request_rate; its inter_token_latency is per request, vLLM's TPOT).
// It builds the matching scenario on a deployment the user names, simulates it and compares metric by metric.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "headroom/report/measured.hpp"

namespace headroom {

// What a benchmark client measured, in seconds and tokens.
struct BenchResult {
    std::string file, tool = "vllm bench serve", model_id;
    std::string selected;  // which benchmark of a multi-benchmark report ("benchmark 2 of 5: poisson@8.00"), else ""
    int64_t num_prompts = 0, completed = 0, failed = 0;
    double request_rate = std::numeric_limits<double>::infinity();  // inf: every request at once
    double burstiness = 1.0;  // gamma shape of the gaps (1: Poisson; infinite: a constant rate)
    int64_t max_concurrency = 0;                                    // 0: no cap
    double duration_s = 0, request_throughput = 0, output_throughput = 0;
    double mean_input_tokens = 0, mean_output_tokens = 0;
    std::vector<double> input_lens, output_lens;  // per request, with --save-detailed (else empty)
    // (metric, statistic, seconds) in the file's order: ("ttft", "mean" | "median" | "p99" | "p99.9", value)
    std::vector<std::tuple<std::string, std::string, double>> stats;
};

// Reads a `vllm bench serve` result JSON. Throws ScenarioError naming the file and the field.
BenchResult read_vllm_bench_result(const std::string& path);
// Reads any of the three formats, by content. `benchmark` picks one of a GuideLLM report's benchmarks (0-based);
// -1 takes the only one and is an error, listing them, when there are several.
BenchResult read_bench_result(const std::string& path, int benchmark = -1);
// The same from the file's text (`path` names it in errors).
BenchResult parse_bench_result(const std::string& text, const std::string& path, int benchmark = -1);

struct AgainstRequest {
    std::string result_path;
    std::string scenario_path;  // the deployment and engine (empty: the built-in default's); its workload is replaced
    std::string model, gpu;     // override the scenario's (model default: the result's model_id)
    std::vector<std::string> overrides;
    uint64_t seed = 0;
    int benchmark = -1;  // a GuideLLM report's benchmark (read_bench_result)
};

struct AgainstResult {
    Scenario scenario;     // as simulated
    BenchResult measured;
    SimulationResult predicted;
    std::vector<Comparison> rows;
    std::vector<std::string> notes;  // what the file did not say and was assumed
};

// Builds the scenario the result describes (arrivals, request count, lengths), simulates it, compares.
AgainstResult validate_against(const AgainstRequest& r);

// One JSON line (schema headroom.validate-against/1).
std::string validate_against_json(const AgainstResult& r);

// Several result files of one deployment at several loads (a rate or concurrency sweep run with the load
// generator): each compared as above, then both saturation curves side by side and both knees, found by the same
// method (analysis.hpp detect_knee: output throughput against load, the TTFT statistic all files hold as the tail).
struct AgainstSweep {
    std::vector<AgainstResult> runs;  // by increasing load
    bool concurrency = false;         // loads are users (else request rates)
    std::vector<double> loads;
    std::string ttft_stat;            // the TTFT statistic the knees' tail uses ("p99", "median", ...)
    Knee predicted, measured;
};
// Throws ScenarioError naming the file when the files' loads are of different kinds or repeat.
AgainstSweep validate_against_sweep(const std::vector<AgainstRequest>& runs);
// The closing JSON line (schema headroom.validate-against-knee/1).
std::string validate_against_knee_json(const AgainstSweep& s);

}  // namespace headroom
