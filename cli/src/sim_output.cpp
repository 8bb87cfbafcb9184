// The tables of `headroom simulate`, `sweep` and `plan` (JSON, CSV and the Chrome trace: report/).
#include "sim_output.hpp"

#include <fmt/format.h>
#include <fmt/os.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>

#include "headroom/hardware/kernel_tables.hpp"
#include "headroom/sim/version.hpp"
#include "output.hpp"

namespace headroom::cli {

namespace {

std::string describe_workload(const Scenario& sc) {
    const WorkloadSpec& w = sc.workload;
    std::string arrival;
    std::string notes;  // a trace's rows
    if (w.trace_skipped > 0) notes += fmt::format("; {} without prompt tokens skipped", w.trace_skipped);
    if (w.trace_reordered > 0) {
        notes += fmt::format("; {} out of time order, {} sorted", w.trace_reordered, w.arrival == "trace" ? "replayed" : "taken");
    }
    const std::string rows = fmt::format("{}{} rows{}", w.trace_format.empty() ? "" : w.trace_format + ", ", w.trace.size(), notes);
    if (w.arrival == "closed_loop" && !w.trace.empty()) {
        arrival = fmt::format("closed loop, {} users taking the trace's rows in order ({})", w.users, rows);
    } else if (w.arrival == "closed_loop") {
        arrival = fmt::format("closed loop, {} users", w.users);
    } else if (w.arrival == "trace") {
        arrival = fmt::format("trace replay ({}, time x{:g})", rows, w.trace_time_scale);
    }
    else if (w.arrival == "batch") arrival = fmt::format("batch of {} at t=0", w.max_requests);
    else arrival = make_arrival_process(w.arrival, w.rate, w.cv)->describe() + (w.shape == Shape::CHAT || w.shape == Shape::AGENT ? " sessions" : "");
    std::string stop;
    if (w.duration_s > 0) stop += fmt::format(", arrivals for {:g} s", w.duration_s);
    if (w.max_requests > 0 && w.arrival != "batch") stop += fmt::format(", at most {} requests", w.max_requests);
    return fmt::format("{}, {}{}", shape_name(w.shape), arrival, stop);
}

void latency_row(const char* name, const Percentiles& p, const char* unit, double scale) {
    if (p.n == 0) {  // e.g. TPOT and ITL of prefill-only (embedding) requests
        fmt::print("  {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  (no such interval in this run)\n", name, "-", "-", "-",
                   "-", "-", "-");
        return;
    }
    fmt::print("  {:<8} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f}  {}\n", name, p.mean * scale, p.p50 * scale,
               p.p90 * scale, p.p95 * scale, p.p99 * scale, p.max * scale, unit);
}

}  // namespace

void print_simulation(const Scenario& sc, const SimulationResult& r, bool measured) {
    const Summary& s = r.summary;
    fmt::print("{}: {} ({})\n", measured ? "Measurement" : "Simulation", sc.name, sc.file.empty() ? "built-in" : sc.file);
    fmt::print("  {} on {} x {} (TP {}), weights {}, KV {}, seed {}; headroom {} ({})\n", sc.deployment.model.name, sc.deployment.replicas,
               sc.deployment.gpu.display_name, sc.deployment.tp, sc.deployment.model.weights(sc.deployment.weight_dtype).label(), dtype_name(sc.deployment.kv_dtype), sc.seed, version(),
               git_commit());
    if (const DisaggregationSpec& d = sc.disaggregation; d.enabled) {
        fmt::print("  disaggregated: prefill on {} x {} (TP {}) in front of the decode pool above; KV over {}; decision {}, "
                   "decode router {}\n", d.prefill.replicas, d.prefill.gpu.display_name, d.prefill.tp,
                   d.cluster ? d.cluster->spec().name + " (SimGrid)"
                             : d.link_bytes_per_s > 0 ? fmt::format("an ideal {:g} GB/s link", d.link_bytes_per_s / 1e9) : std::string("an instant link"),
                   d.decision == "prompt_length"  ? fmt::format("prompt_length (at least {} tokens)", d.min_prompt_tokens)
                   : d.decision == "prefix_cache" ? fmt::format("prefix_cache (local when {:.0f}% of the prompt is cached)", 100 * d.min_cache_hit_share)
                                                  : d.decision,
                   d.decode_router);
    }
    fmt::print("  workload: {}\n", describe_workload(sc));
    if (!measured) {
        fmt::print("  step times: {}{}{}\n",
                   r.predictor == "kernel tables"
                       ? "measured kernel tables (" +
                             (sc.deployment.kernel_tables ? sc.deployment.kernel_tables->file
                                                          : sc.deployment.gpu.name) +
                             "), the calibrated roofline for the other ops"
                       : r.predictor,
                   r.predictor_note.empty() ? "" : "; " + r.predictor_note,
                   sc.deployment.model.is_moe()
                       ? fmt::format("; experts reached by {} routing", sc.deployment.moe_routing.name())
                       : "");
    }
    const bool hybrid = r.plan.group_windows.size() > 1;  // KV-cache groups: a block is one group's page
    fmt::print("  engine: {} batching, budget {} tokens, max {} seqs, chunked prefill {}, prefix caching {}, async "
               "scheduling {}; {} KV blocks of {} tokens per replica ({} tokens{})\n\n",
               sc.engine.policy, sc.engine.max_num_batched_tokens, sc.engine.max_num_seqs, sc.engine.chunked_prefill ? "on" : "off",
               sc.engine.prefix_caching ? "on" : "off", sc.engine.async_scheduling ? "on" : "off",
               group(r.plan.num_blocks), sc.engine.block_size, group(r.plan.kv_tokens),
               hybrid ? fmt::format(" in each of {} KV-cache groups", r.plan.group_windows.size()) : "");

    const std::string failed =
        s.failed > 0 ? fmt::format(", {} failed (no answer within the {:g} s timeout)", group(s.failed), sc.workload.timeout_s) : "";
    fmt::print("  requests: {} completed, {} rejected{}, of {} over {:.1f} s\n", group(s.completed), group(s.rejected),
               failed, group(s.requests), s.duration_s);
    if (!measured && s.api_server_s_mean > 0) {
        fmt::print("  API server: {:.1f} ms of each TTFT on average before the engine sees the request (HTTP, chat "
                   "template, tokenisation)\n", s.api_server_s_mean * 1e3);
    }
    fmt::print("\n");
    fmt::print("  {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "", "mean", "p50", "p90", "p95", "p99", "max");
    latency_row("TTFT", s.ttft_s, "s", 1);
    latency_row("TPOT", s.tpot_s, "ms", 1e3);
    latency_row("ITL", s.itl_s, "ms", 1e3);
    latency_row("E2E", s.e2e_s, "s", 1);
    latency_row("queue", s.queue_s, "s", 1);
    fmt::print("\n");
    auto row = [](const char* label, const std::string& v) { fmt::print("  {:<18} {}\n", label, v); };
    row("throughput", fmt::format("{:.2f} req/s, {:.0f} output tok/s, {:.0f} input tok/s", s.request_throughput,
                                  s.output_throughput, s.input_throughput));
    row("per GPU", fmt::format("{:.0f} output tok/s on each of {} GPUs", s.output_tokens_per_s_per_gpu, s.gpus));
    if (sc.disaggregation.enabled) {
        row("KV transfers", fmt::format("{} requests' KV moved, {}; {:.2f} ms mean, {:.2f} ms p95 from the end of the prefill "
                                        "to the decode replica (part of TTFT)", group(s.disaggregated), gb(s.kv_transfer_bytes),
                                        s.kv_transfer_s.mean * 1e3, s.kv_transfer_s.p95 * 1e3));
        row("pools", fmt::format("prefill busy {:.1f}% of the time, decode {:.1f}%", 100 * s.prefill_busy_fraction,
                                 100 * s.decode_busy_fraction));
    }
    if (!s.busiest_link.empty()) {
        const double other = s.busiest_link_bytes - s.busiest_link_kv_bytes;
        std::string what = s.busiest_link_kv_bytes > 0 ? gb(s.busiest_link_kv_bytes) + " of KV" : "";
        if (other > 0) what += (what.empty() ? "" : " and ") + gb(other) + " of collectives and stage hops";
        row("busiest link", fmt::format("{}: {}, {:.2f}% of its capacity over the run", s.busiest_link, what,
                                        100 * s.busiest_link_utilisation));
    }
    if (!sc.slos.empty()) {
        std::string slos;
        for (const SloResult& x : s.slos) {
            const bool ms = x.metric == "tpot" || x.metric == "itl";
            const char* unit = ms ? "ms" : "s";
            slos += fmt::format("{}{} p{:g} {:.3g} {} {} SLO {:.3g} {}", slos.empty() ? "" : "; ", x.metric,
                                x.percentile, x.value_s * (ms ? 1e3 : 1), unit, x.met ? "<=" : ">",
                                x.threshold_s * (ms ? 1e3 : 1), unit);
        }
        row("SLOs", fmt::format("{} -- {}", s.slos_met ? "met" : "MISSED", slos));
        row("goodput", fmt::format("{:.2f} req/s ({:.1f}% of requests meet every SLO)", s.goodput_rps,
                                   100 * s.goodput_fraction));
    }
    row("cost", fmt::format("${:.3f} per million {} tokens at ${:.2f}/GPU-hour ({:.3f} GPU-hours)", s.usd_per_mtok,
                            s.output_tokens > 0 ? "output" : "input", sc.deployment.gpu.price_usd_per_gpu_hour.value,
                            s.gpu_hours));
    row("KV cache", fmt::format("{:.1f}% used on average, {:.1f}% at peak; {} preemptions; {} prompt tokens from the "
                                "prefix cache",
                                100 * s.kv_util_mean, 100 * s.kv_util_peak, group(s.preemptions),
                                group(s.prefix_hit_tokens)));
    row("batch", fmt::format("{:.1f} sequences per step on average, {:.0f} at peak; GPU busy {:.1f}% of the time",
                             s.running_mean, s.running_peak, 100 * s.busy_fraction));
    if (const SpeculativeConfig& sp = sc.engine.speculative; sp.enabled()) {
        const Accounting& a = s.accounting;
        row("speculative", fmt::format("{}: {:.2f} tokens per verify ({:.2f} expected at k), {:.1f}% of drafts accepted; "
                                       "the drafter {:.1f}% of step time",
                                       sp.label(), a.tokens_per_verify(), expected_tokens_per_verify(sp, sp.num_speculative_tokens),
                                       100.0 * a.draft_acceptance(), 100.0 * a.draft_time_share()));
    }
    if (const Deployment& d = sc.deployment; d.pp > 1 || d.dp > 1 || d.expert_parallel || !s.placement.empty()) {
        std::vector<std::string> parts;
        parts.push_back(fmt::format("{} GPUs per replica (TP {} x PP {} x DP {})", d.gpus_per_replica(), d.tp, d.pp, d.dp));
        if (d.pp > 1) parts.push_back(fmt::format("pipeline bubble {:.1f}% of stage time", 100.0 * s.accounting.bubble_share()));
        if (d.ep() > 1) parts.push_back(fmt::format("experts over EP {}, busiest rank {:.2f}x the mean load{}", d.ep(), s.expert_imbalance,
                                                    d.expert_imbalance > 0 ? std::string(" (as given)")
                                                                           : fmt::format(" ({} routing)", d.moe_routing.name())));
        if (d.ep() > 1 && d.dp > 1) {
            const double buffers = r.plan.reserve.all2all_bytes;
            parts.push_back(fmt::format("{} ({}{})", d.all2all_backend,
                                        all2all_gathers(d.all2all_backend) ? "every DP rank's tokens gathered onto every GPU"
                                                                           : "each token sent to its experts' GPUs",
                                        buffers > 0 ? fmt::format("; its buffers {:.2f} GB a GPU, kept out of the KV cache",
                                                                  buffers / 1e9)
                                                    : ""));
        }
        if (!s.placement.empty()) parts.push_back(s.placement);
        row("parallelism", fmt::format("{}", fmt::join(parts, "; ")));
    }
    if (measured) {
        row("measured", fmt::format("{:.1f} s of real time, {} engine steps", r.simulated_s, group(s.steps)));
    } else {
        row("simulated", fmt::format("{:.0f} s in {:.2f} s of wall time ({:.0f}x real time), {} engine steps",
                                     r.simulated_s, r.wall_s, r.wall_s > 0 ? r.simulated_s / r.wall_s : 0.0, group(s.steps)));
    }
}



namespace {

std::string slo_list(const Scenario& sc) {
    std::string out;
    for (const SloTarget& t : sc.slos) {
        const bool ms = t.metric == "tpot" || t.metric == "itl";
        out += fmt::format("{}{} p{:g} <= {}", out.empty() ? "" : ", ", t.metric, t.percentile,
                           ms ? fmt::format("{:g} ms", t.threshold_s * 1e3) : fmt::format("{:g} s", t.threshold_s));
    }
    return out;
}

}  // namespace

void print_sweep(const SweepRequest& req, const SweepResult& r) {
    const Scenario& first = r.points.front().scenario;
    fmt::print("Sweep: {} ({}) -- {} on {} x {} (TP {}), {}\n", first.name, first.file, first.deployment.model.name,
               first.deployment.replicas, first.deployment.gpu.display_name, first.deployment.tp,
               req.load_kind == LoadKind::CONCURRENCY ? "closed-loop users" : "Poisson arrivals");
    fmt::print("  SLOs: {}; headroom {} ({})\n", first.slos.empty() ? "none" : slo_list(first), version(), git_commit());
    for (const SweepSeries& s : r.series) {
        fmt::print("\n");
        if (!s.series.empty()) fmt::print("[{}]\n", s.series);
        fmt::print("  {:>13} {:>6} {:>8} {:>8} | {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6} | {:>7} {:>5} | {:>9} {:>7} | "
                   "{:>7} {:>7}\n",
                   "load", "req/s", "tok/s", "tok/s/G", "TTFT50", "p95", "p99", "TPOT50", "p95", "p99", "E2E p95",
                   "queue", "KV mean/pk", "preempt", "goodput", "$/MTok");
        fmt::print("  {:>13} {:>6} {:>8} {:>8} | {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6} | {:>7} {:>5} | {:>9} {:>7} | "
                   "{:>7} {:>7}\n",
                   "", "", "output", "", "s", "s", "s", "ms", "ms", "ms", "s", "share", "%", "", "req/s", "");
        for (size_t i : s.points) {
            const SweepPoint& p = r.points[i];
            if (!p.fits) {
                fmt::print("  {:>13} does not fit: {}\n", p.load_text, p.why_not);
                continue;
            }
            const Summary& m = p.result.summary;
            const char* mark = i == s.knee.index && s.knee.found ? "  <- knee" : "";
            fmt::print("  {:>13} {:>6.2f} {:>8.0f} {:>8.0f} | {:>6.2f} {:>6.2f} {:>6.2f} | {:>6.1f} {:>6.1f} {:>6.1f} | "
                       "{:>7.2f} {:>4.0f}% | {:>4.0f}/{:<4.0f} {:>7} | {:>7.2f} {:>7.3f}{}{}\n",
                       p.load_text, m.request_throughput, m.output_throughput, m.output_tokens_per_s_per_gpu,
                       m.ttft_s.p50, m.ttft_s.p95, m.ttft_s.p99, m.tpot_s.p50 * 1e3, m.tpot_s.p95 * 1e3,
                       m.tpot_s.p99 * 1e3, m.e2e_s.p95, m.e2e_s.mean > 0 ? 100 * m.queue_s.mean / m.e2e_s.mean : 0.0,
                       100 * m.kv_util_mean, 100 * m.kv_util_peak, group(m.preemptions), m.goodput_rps, m.usd_per_mtok,
                       s.any_slo && !m.slos_met ? "  SLO missed" : "", mark);
        }
        fmt::print("\n");
        // The capacity answer first, then the knee, and how the two relate.
        if (!s.capacity.sentence.empty()) fmt::print("  Capacity: {}\n", s.capacity.sentence);
        if (s.knee.found) {
            const SweepPoint& k = r.points[s.knee.index];
            fmt::print("  Knee: {} at {:.0f} output tok/s; {}.{}{}\n", k.load_text, s.knee.throughput, s.knee.note,
                       s.knee_relation.empty() ? "" : " ", s.knee_relation);
        } else {
            fmt::print("  Knee: none found ({}).\n", s.knee.note);
        }
        fmt::print("\n  Why, point by point:\n");
        for (size_t i : s.points) {
            const SweepPoint& p = r.points[i];
            if (p.fits) fmt::print("  - {}\n", p.explanation.sentence);
        }
        if (!s.counterfactuals.empty()) {
            const SweepPoint& f = r.points[s.first_failing];
            fmt::print("\n  What would bring {} back under its SLOs (each change simulated alone at that load):\n",
                       f.load_text);
            for (const CounterfactualResult& c : s.counterfactuals) fmt::print("  - {}\n", c.sentence);
        }
    }
    // Two extra axes: a grid of the stable load per combination.
    if (req.axes.size() == 2) {
        const SweepAxis& a = req.axes[0];
        const SweepAxis& b = req.axes[1];
        fmt::print("\nCapacity, the highest load meeting every SLO ({} down, {} across):\n  {:>14}", a.key, b.key, "");
        for (const auto& v : b.values) fmt::print(" {:>14}", v);
        fmt::print("\n");
        for (size_t ia = 0; ia < a.values.size(); ++ia) {
            fmt::print("  {:>14}", a.values[ia]);
            for (size_t ib = 0; ib < b.values.size(); ++ib) {
                const SweepSeries& s = r.series[ia * b.values.size() + ib];
                using K = CapacityEstimate::Kind;
                const CapacityEstimate& c = s.capacity;
                fmt::print(" {:>14}", c.kind == K::BRACKETED     ? fmt::format("{:g}", c.load)
                                      : c.kind == K::ABOVE_RANGE ? fmt::format(">= {:g}", c.load)
                                      : c.kind == K::BELOW_RANGE ? fmt::format("< {:g}", c.fail_load)
                                                                 : std::string("-"));
            }
            fmt::print("\n");
        }
    }
}

void print_capacity(const CapacityRequest& req, const CapacityPlan& plan, int top) {
    const Scenario& b = plan.base;
    std::string slos;
    for (const SloTarget& t : req.slos) {
        const bool ms = t.metric == "tpot" || t.metric == "itl";
        slos += fmt::format("{}{} p{:g} <= {}", slos.empty() ? "" : ", ", t.metric, t.percentile,
                            ms ? fmt::format("{:g} ms", t.threshold_s * 1e3) : fmt::format("{:g} s", t.threshold_s));
    }
    fmt::print("Capacity plan: {} at {:g} {}/s, SLOs {}\n", b.deployment.model.name, req.qps,
               b.workload.shape == Shape::CHAT || b.workload.shape == Shape::AGENT ? "sessions" : "requests", slos);
    fmt::print("  workload: {} ({}); {} simulations in {:.1f} s; headroom {} ({})\n", b.file,
               shape_name(b.workload.shape), plan.simulations, plan.wall_s, version(), git_commit());
    if (!plan.disaggregated_link.empty()) {
        fmt::print("  the best colocated fleets also tried as prefill + decode pools (\"P prefill + D decode\"), KV over {}\n",
                   plan.disaggregated_link);
    }
    if (plan.speculative.enabled()) {
        fmt::print("  each configuration also tried with speculative decoding (\"spec\"): {}{}\n", plan.speculative.label(),
                   plan.speculative_assumed ? " (assumed: set workload.speculative_acceptance)" : "");
    }
    fmt::print("\n");
    fmt::print("  {:>3} {:<58} {:>5} {:>9} {:>8} {:>10} {:>11} {:>9} {:>9} {:>8}\n", "#", "configuration", "GPUs", "$/hour",
               "$/MTok", "tok/s/GPU", "headroom", "TTFT p95", "TPOT p95", "J/token");
    int shown = 0;
    for (const CapacityCandidate& c : plan.ranked) {
        if (shown++ >= top) break;
        const Summary& m = c.at_target.summary;
        const std::string budget = c.max_num_batched_tokens == b.engine.max_num_batched_tokens
                                       ? ""
                                       : fmt::format(", budget {}", c.max_num_batched_tokens);
        const int64_t ptp = c.prefill_tp > 0 ? c.prefill_tp : c.tp;
        const bool other = !c.prefill_gpu.empty() && c.prefill_gpu != c.gpu;
        const std::string pools =
            c.prefill_replicas > 0
                ? (other || ptp != c.tp ? fmt::format("{} x {} TP{} prefill + {} decode", c.prefill_replicas,
                                                      other ? c.prefill_gpu : c.gpu, ptp, c.replicas)
                                        : fmt::format("{} prefill + {} decode", c.prefill_replicas, c.replicas))
                : fmt::format("{}", c.replicas);
        const int64_t gpus = c.replicas * c.gpus_per_replica() + c.prefill_replicas * ptp;
        const std::string cfg = fmt::format("{} x {} {}, weights {}, KV {}{}{}{}", pools, c.gpu, c.layout(), c.weights, dtype_name(c.kv_dtype), budget, c.speculative ? ", spec" : "",
                                            c.meets ? "" : " (misses)");
        const std::string headroom = c.prefill_replicas > 0 ? "-" : fmt::format("{:.3g}/s", c.headroom_rate);
        fmt::print("  {:>3} {:<58} {:>5} {:>9.2f} {:>8.3f} {:>10.0f} {:>11} {:>8.2f}s {:>7.1f}ms {:>8.2f}\n", shown,
                   cfg, gpus, c.usd_per_hour, c.usd_per_mtok, c.tokens_per_s_per_gpu, headroom,
                   m.ttft_s.p95, m.tpot_s.p95 * 1e3, c.joules_per_token);
    }
    if (!plan.ranked.empty() && plan.ranked.front().meets) {
        const CapacityCandidate& c = plan.ranked.front();
        const double margin = c.headroom_rate / req.qps - 1;
        // The headroom estimate is replicas x one replica's limit; a fleet can beat it (load spreads, tails average
        // out), so when it is below the target the fleet's own simulation at the target is what passed.
        const std::string margin_text =
            margin >= 0 ? fmt::format("{:.0f}% above the target", 100 * margin)
                        : fmt::format("{:.0f}% below the target, yet the fleet met every SLO at the target in its own "
                                      "simulation: little headroom", -100 * margin);
        if (c.prefill_replicas > 0) {
            const int64_t ptp = c.prefill_tp > 0 ? c.prefill_tp : c.tp;
            fmt::print("\n  Cheapest: {} GPUs ({} prefill replicas of {} TP{} + {} decode replicas of {} TP{}, disaggregated) at "
                       "${:.2f}/hour reserved, ${:.3f} per million output tokens at the achieved {:.0f} tok/s. Simulated at the "
                       "target only: no headroom search for a split.\n",
                       c.replicas * c.tp + c.prefill_replicas * ptp, c.prefill_replicas,
                       c.prefill_gpu.empty() ? c.gpu : c.prefill_gpu, ptp, c.replicas, c.gpu, c.tp, c.usd_per_hour,
                       c.usd_per_mtok, c.at_target.summary.output_throughput);
        } else {
            fmt::print("\n  Cheapest: {} GPUs ({} x {} {}) at ${:.2f}/hour reserved, ${:.3f} per million output tokens at the "
                       "achieved {:.0f} tok/s. It sustains about {:.3g}/s before an SLO breaks ({}).\n",
                       c.replicas * c.gpus_per_replica(), c.replicas, c.gpu, c.layout(), c.usd_per_hour, c.usd_per_mtok,
                       c.at_target.summary.output_throughput, c.headroom_rate, margin_text);
        }
    }
    fmt::print("\n  $/hour: the fleet reserved at the profiles' prices. $/MTok: usage-based, at the throughput achieved at "
               "the target rate. headroom: replicas x the highest rate one replica sustained in the search. J/token: an "
               "estimate, GPUs x TDP x (0.3 + 0.7 x busy share) / output tokens.\n");
    if (!plan.skipped.empty()) {
        fmt::print("\n  Left out:\n");
        for (const auto& s : plan.skipped) fmt::print("  - {}\n", s);
    }
}

}  // namespace headroom::cli
