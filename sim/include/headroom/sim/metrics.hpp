// Per-request records and run aggregates, with the definitions of `vllm bench serve`:
//   TTFT = first token - arrival; TPOT = (E2E - TTFT) / (output tokens - 1); ITL = each gap between two
//   consecutive tokens of a request (percentiles over all gaps); E2E = last token - arrival;
//   queue = first scheduled - arrival. Throughputs divide by the run's duration (first arrival to last
//   completion). Goodput counts only requests that meet every SLO threshold.
// Collected by an observer of the scheduler; nothing here knows about SimGrid.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "headroom/core/metrics.hpp"
#include "headroom/core/run_stats.hpp"
#include "headroom/sim/scenario.hpp"

namespace headroom {

struct SloResult {
    std::string metric;
    double percentile = 0;
    double threshold_s = 0;
    double value_s = 0;
    bool met = false;
};

struct Summary {
    int64_t requests = 0, completed = 0, rejected = 0, failed = 0;
    double api_server_s_mean = 0.0;  // of completed requests: the API server's share of their TTFT
    double duration_s = 0.0;
    Percentiles ttft_s, tpot_s, itl_s, e2e_s, queue_s;
    double request_throughput = 0, output_throughput = 0, input_throughput = 0;
    double output_tokens_per_s_per_gpu = 0;
    int64_t input_tokens = 0, output_tokens = 0;
    double goodput_rps = 0, goodput_fraction = 0;
    int64_t gpus = 0;
    double gpu_hours = 0, cost_usd = 0, usd_per_mtok = 0;
    double kv_util_mean = 0, kv_util_peak = 0;  // time-weighted over the run, all replicas
    double running_mean = 0, running_peak = 0;  // sequences in a step, time-weighted
    double busy_fraction = 0;                   // share of replica time spent in steps
    int64_t steps = 0, preemptions = 0, prefix_hit_tokens = 0;
    std::vector<SloResult> slos;
    bool slos_met = true;
    Accounting accounting;
    // TTFT, TPOT, ITL and E2E at each of the scenario's metric_percentiles, in its order (seconds).
    std::vector<double> ttft_at_s, tpot_at_s, itl_at_s, e2e_at_s;
    // Disaggregated prefill and decode: completed requests prefilled on the prefill pool, their KV transfers
    // (time from the end of the prefill to the KV's arrival, part of TTFT; bytes), and each pool's busy share.
    int64_t disaggregated = 0;
    Percentiles kv_transfer_s;
    double kv_transfer_bytes = 0;
    double prefill_busy_fraction = 0, decode_busy_fraction = 0;
    // On a cluster: the link that carried the most bytes (KV transfers, and collectives and pipeline stage hops
    // across NVLink domains, whether as flows or in closed form), its bytes, of those the KV's, and its utilisation
    // (bytes / (its bandwidth per direction x 2 directions x the run's duration)).
    std::string busiest_link;
    double busiest_link_bytes = 0, busiest_link_kv_bytes = 0, busiest_link_utilisation = 0;
    // The links that carried any, busiest first (at most MAX_REPORTED_LINKS): name, bytes, KV bytes, utilisation.
    static constexpr size_t MAX_REPORTED_LINKS = 64;
    std::vector<std::string> link_names;
    std::vector<double> link_bytes, link_kv_bytes, link_utilisation;
    // Beyond one TP group: where the replica's collectives run (ReplicaLinks::where; "" off a cluster), and with
    // expert parallelism the busiest EP rank's load over the mean at the run's mean step (as configured, or from
    // uniform routing). The pipeline bubble share is accounting.bubble_share().
    std::string placement;
    double expert_imbalance = 0;
};

// The run's aggregates from what it kept (core/run_stats.hpp). ITL percentiles are exact up to 4 M gaps and
// within the sketch's relative accuracy (0.5%) beyond.
Summary summarize(const Scenario& sc, const RunStats& stats, const Accounting& accounting = {});

}  // namespace headroom
