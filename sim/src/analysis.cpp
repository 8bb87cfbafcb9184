// Knee detection, explanations and counterfactuals.
#include "headroom/sim/analysis.hpp"

#include "headroom/core/cost_model.hpp"
#include "headroom/core/scheduler.hpp"
#include "headroom/sim/format.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

namespace headroom {

namespace {

// Least-squares line through (x, y) on [from, to]; returns the slope (0 with fewer than two points).
double slope(const std::vector<double>& x, const std::vector<double>& y, size_t from, size_t to) {
    if (to <= from) return 0.0;
    const Eigen::Index n = static_cast<Eigen::Index>(to - from + 1);
    Eigen::MatrixXd a(n, 2);
    Eigen::VectorXd b(n);
    for (Eigen::Index i = 0; i < n; ++i) {
        a(i, 0) = 1.0;
        a(i, 1) = x[from + static_cast<size_t>(i)];
        b(i) = y[from + static_cast<size_t>(i)];
    }
    return a.colPivHouseholderQr().solve(b)(1);
}

std::string pct(double share) { return fmt::format("{:.0f}%", 100.0 * share); }

// `s` at `extra` more digits than the sentences' default.
std::string seconds_at(double s, int extra) {
    if (s < 0.1) return fmt::format("{:.{}f} ms", s * 1e3, extra);
    return fmt::format("{:.{}g} s", s, 2 + extra);
}

}  // namespace

std::string seconds_text(double s) { return seconds_at(s, 0); }

std::string seconds_beside(double s, double threshold_s) {
    const std::string threshold = seconds_text(threshold_s);
    std::string out = seconds_text(s);
    for (int extra = 1; out == threshold && s != threshold_s && extra <= 6; ++extra) out = seconds_at(s, extra);
    return out;
}

std::string group_thousands(int64_t n) {
    std::string d = std::to_string(n < 0 ? -n : n), out;
    for (size_t i = 0; i < d.size(); ++i) {
        if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
        out += d[i];
    }
    return n < 0 ? "-" + out : out;
}

Knee detect_knee(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& z) {
    Knee k;
    const size_t n = x.size();
    if (n < 4) {
        k.note = "too few points to fit two segments (need 4)";
        return k;
    }
    double best = std::numeric_limits<double>::infinity();
    Eigen::Vector3d best_coef = Eigen::Vector3d::Zero();
    for (size_t j = 1; j + 1 < n; ++j) {
        Eigen::MatrixXd a(static_cast<Eigen::Index>(n), 3);
        Eigen::VectorXd b(static_cast<Eigen::Index>(n));
        for (size_t i = 0; i < n; ++i) {
            const auto r = static_cast<Eigen::Index>(i);
            a(r, 0) = 1.0;
            a(r, 1) = x[i];
            a(r, 2) = std::max(0.0, x[i] - x[j]);
            b(r) = y[i];
        }
        const Eigen::Vector3d coef = a.colPivHouseholderQr().solve(b);
        const double sse = (a * coef - b).squaredNorm();
        // strictly better (ties keep the earlier breakpoint)
        if (std::isinf(best) || sse < best - 1e-12 * std::max(1.0, best)) {
            best = sse;
            best_coef = coef;
            k.index = j;
        }
    }
    k.load = x[k.index];
    k.throughput = y[k.index];
    k.slope_before = best_coef(1);
    k.slope_after = best_coef(1) + best_coef(2);
    const double z_before = slope(x, z, 0, k.index), z_after = slope(x, z, k.index, n - 1);
    k.latency_confirms = z_after >= 2.0 * std::max(z_before, 0.0) && z_after > 0.0;
    const double overall = slope(x, y, 0, n - 1);
    if (overall <= 0.0) {
        k.note = "throughput does not rise with load in the swept range";
    } else if (k.slope_before > 0.0 && k.slope_after < 0.5 * k.slope_before) {
        k.found = true;
        k.note = fmt::format("throughput slope falls from {:.3g} to {:.3g} per unit of load{}", k.slope_before,
                             k.slope_after,
                             k.latency_confirms ? ", and the tail latency rises at least twice as fast after it"
                                                : "; the tail latency does not yet confirm it");
    } else {
        k.note = "throughput still rises in proportion to load: the knee lies beyond the swept range";
    }
    return k;
}

Explanation explain(const Scenario& sc, const SimulationResult& r, const std::string& load_text) {
    const Summary& s = r.summary;
    const Accounting& a = s.accounting;
    Explanation e;
    if (s.completed == 0) {
        e.cause = "none";
        e.sentence = fmt::format("At {}, no request completed.", load_text);
        return e;
    }

    // 1. The lead: the latency users see, against the SLOs.
    std::string lead = fmt::format("At {}, ", load_text);
    std::vector<std::string> parts;
    for (const char* metric : {"ttft", "tpot"}) {
        const SloResult* slo = nullptr;
        for (const SloResult& x : s.slos) {
            if (x.metric == metric) slo = &x;
        }
        const bool ms = std::string(metric) == "tpot";
        const double p95 = ms ? s.tpot_s.p95 : s.ttft_s.p95;
        if (ms && s.tpot_s.n == 0) continue;
        std::string part = fmt::format("p{:g} {} is {}", slo ? slo->percentile : 95.0, ms ? "TPOT" : "TTFT",
                                       slo ? seconds_beside(slo->value_s, slo->threshold_s) : seconds_text(p95));
        if (slo) part += fmt::format(" against an SLO of {}", seconds_text(slo->threshold_s));
        parts.push_back(part);
    }
    for (size_t i = 0; i < parts.size(); ++i) lead += (i ? ", and " : "") + parts[i];
    lead += ".";

    // 2. The dominant cause.
    const double queue_share = s.e2e_s.mean > 0 ? s.queue_s.mean / s.e2e_s.mean : 0.0;
    const double step_s = std::max(a.step_s, 1e-12);
    const double peak_bw = sc.deployment.gpu.memory_bandwidth_bytes_per_s();
    std::string cause_sentence;
    const DisaggregationSpec& dg = sc.disaggregation;
    // the queue is the prefill pool's when most of the time requests waited was on its replicas
    if (dg.enabled && queue_share >= 0.25 && a.prefill_waiting_s >= 0.5 * a.waiting_s && a.waiting_s > 0) {
        e.cause = "prefill_pool";
        cause_sentence = fmt::format("Requests wait a mean of {} for the prefill pool ({} replica{}), busy {} of the time "
                                     "while the decode pool is busy {}.",
                                     seconds_text(s.queue_s.mean), dg.prefill.replicas, dg.prefill.replicas == 1 ? "" : "s",
                                     pct(s.prefill_busy_fraction), pct(s.decode_busy_fraction));
    } else if (queue_share >= 0.25 && a.waiting_s > 0) {
        int k = 0;
        for (int i = 1; i < 4; ++i) {
            if (a.blocked_s[i] > a.blocked_s[k]) k = i;
        }
        static const char* codes[] = {"admission_kv", "admission_seqs", "admission_budget", "admission_policy"};
        e.cause = codes[k];
        std::string why;
        if (k == 0 && sc.deployment.dp > 1) {  // each DP rank has its own cache: one can be full, others not
            why = fmt::format("a DP rank's KV cache is full ({} blocks on each of {} ranks, {} of them all "
                              "in use at peak, {} preemptions)",
                              group_thousands(kv_blocks_per_rank(r.plan.num_blocks, sc.deployment.dp)),
                              sc.deployment.dp,
                              pct(s.kv_util_peak), group_thousands(s.preemptions));
        } else if (k == 0) {
            why = fmt::format("the KV cache is full ({} of {} blocks at peak, {} preemptions)", pct(s.kv_util_peak),
                              group_thousands(r.plan.num_blocks), group_thousands(s.preemptions));
        } else if (k == 1) {
            why = fmt::format("max_num_seqs ({}) sequences are already running", sc.engine.max_num_seqs);
        } else if (k == 2) {
            why = fmt::format("each step's token budget ({} tokens) is already spent on running requests",
                              group_thousands(sc.engine.max_num_batched_tokens));
        } else {
            why = "static batching admits a new batch only when the last one has finished";
        }
        cause_sentence = fmt::format("Requests wait a mean of {} for admission because {}.", seconds_text(s.queue_s.mean), why);
    } else if (s.preemptions > 0 && a.recomputed_tokens >= 0.05 * static_cast<double>(s.input_tokens)) {
        e.cause = "preemption";
        cause_sentence = fmt::format("{} preemptions threw away the KV of {} tokens ({} of all prompt tokens), which "
                                     "were computed again.",
                                     group_thousands(s.preemptions), group_thousands(a.recomputed_tokens),
                                     pct(static_cast<double>(a.recomputed_tokens) / static_cast<double>(s.input_tokens)));
    } else if (a.prefill_interference_s >= 0.25 * step_s) {
        e.cause = "prefill_interference";
        cause_sentence = fmt::format("Prefill chunks share steps with decodes and make up {} of all step time, which "
                                     "stretches the decodes' inter-token gaps (p99 ITL {}).",
                                     pct(a.prefill_interference_s / step_s), seconds_text(s.itl_s.p99));
    }

    // 3. What bounds the steps.
    const double comm = a.by_bound_s[static_cast<int>(Bound::COMMUNICATION)] / step_s;
    const double overhead = a.by_bound_s[static_cast<int>(Bound::OVERHEAD)] / step_s;
    const double memory = a.by_bound_s[static_cast<int>(Bound::MEMORY)] / step_s;
    const double compute = a.by_bound_s[static_cast<int>(Bound::COMPUTE)] / step_s;
    std::string bound_code, bound_sentence;
    if (comm >= 0.25) {
        bound_code = "communication";
        bound_sentence = fmt::format("TP all-reduces take {} of step time.", pct(comm));
    } else if (overhead >= 0.35) {
        bound_code = "overhead";
        // with async scheduling the host's time shows only where it outlasts the GPU's work: the GPU waits on it
        const std::string head = sc.engine.async_scheduling
                                     ? fmt::format("The host's time per step ({:.1f} ms) outlasts the GPU's work, which "
                                                   "waits on it",
                                                   sc.engine.step_overhead_s * 1e3)
                                     : fmt::format("The fixed per-step overhead ({:.1f} ms) is", sc.engine.step_overhead_s * 1e3);
        bound_sentence = fmt::format("{} {} of step time: batches are small (mean {:.1f} sequences).", head, pct(overhead),
                                     s.running_mean);
    } else if (memory >= compute) {
        bound_code = "decode_bandwidth";
        const double bw = a.decode_only_s > 0 ? a.decode_only_bytes / a.decode_only_s / peak_bw : 0.0;
        bound_sentence = a.decode_only_s > 0
                             ? fmt::format("Decode steps are bandwidth-bound at {} of HBM peak.", pct(bw))
                             : fmt::format("Steps are memory-bound ({} of step time).", pct(memory));
    } else {
        bound_code = "prefill_compute";
        bound_sentence = fmt::format("Steps are compute-bound ({} of step time in compute-bound ops): prefill "
                                     "dominates.",
                                     pct(compute));
    }
    if (e.cause.empty()) e.cause = bound_code;
    e.sentence = lead + (cause_sentence.empty() ? "" : " " + cause_sentence) + " " + bound_sentence;
    if (dg.enabled && e.cause != "prefill_pool") {
        e.sentence += fmt::format(" Prefill pool busy {}, decode pool {}; KV transfers add {} to TTFT at p95.",
                                  pct(s.prefill_busy_fraction), pct(s.decode_busy_fraction), seconds_text(s.kv_transfer_s.p95));
    }
    return e;
}

std::string next_larger_gpu(const std::string& name) {
    static const std::vector<std::pair<std::string, std::string>> ladder = {
        {"jetson-orin-nano-8gb", "jetson-agx-orin-64gb"}, {"jetson-agx-orin-64gb", "l40s"},
        {"l40s", "a100-80gb"}, {"a100-80gb", "h100-sxm"}, {"h100-pcie", "h100-sxm"},
        {"h100-sxm", "h200"}, {"h200", "b200"}, {"b200", "gb200"}};
    for (const auto& [from, to] : ladder) {
        if (from == name) return to;
    }
    return "";
}

std::vector<Counterfactual> counterfactuals(const Scenario& sc) {
    std::vector<Counterfactual> out;
    const Deployment& d = sc.deployment;
    const double scale = sc.workload.output_scale * 0.7;
    out.push_back({"output length cut by 30%", {fmt::format("workload.output_scale={}", scale)}, 1.0,
                   [scale](Scenario& s) { s.workload.output_scale = scale; }});
    if (dtype_bytes(d.kv_dtype) > 1.0 && !d.model.is_encoder) {
        out.push_back({"fp8 KV cache", {"kv_dtype=fp8"}, 1.0, [](Scenario& s) { s.deployment.kv_dtype = Dtype::FP8; }});
    }
    const int64_t replicas = d.replicas + 1;
    const DisaggregationSpec& dg = sc.disaggregation;
    const auto gpus = static_cast<double>(fleet_gpus(sc));
    out.push_back({dg.enabled ? "one more decode replica" : "one more replica", {fmt::format("replicas={}", replicas)},
                   (gpus + static_cast<double>(d.tp)) / gpus, [replicas](Scenario& s) { s.deployment.replicas = replicas; }});
    if (dg.enabled) {
        const int64_t prefill = dg.prefill.replicas + 1;
        out.push_back({"one more prefill replica", {fmt::format("disaggregation.prefill.replicas={}", prefill)},
                       (gpus + static_cast<double>(dg.prefill.tp)) / gpus,
                       [prefill](Scenario& s) { s.disaggregation.prefill.replicas = prefill; }});
    }
    const int64_t tp2 = d.tp * 2;
    if (d.model.num_attention_heads % tp2 == 0 &&
        (d.model.is_mla() || d.model.num_kv_heads % tp2 == 0 || tp2 % d.model.num_kv_heads == 0)) {
        out.push_back({fmt::format("TP {}", tp2), {fmt::format("tp={}", tp2)}, 2.0, [tp2](Scenario& s) { s.deployment.tp = tp2; }});
    }
    if (const std::string bigger = next_larger_gpu(d.gpu.name); !bigger.empty()) {
        // the profile's own price, as the user's run would see it
        out.push_back({fmt::format("{} instead of {}", bigger, d.gpu.name), {"gpu=" + bigger}, 0.0,
                       [bigger](Scenario& s) { set_gpu(s, bigger, scenario_gpu(s, bigger)); }});
    }
    if (sc.engine.speculative.enabled()) {
        out.push_back({"without speculative decoding", {"speculative.num_speculative_tokens=0"}, 1.0,
                       [](Scenario& s) { s.engine.speculative = {}; }});
    } else if (!d.model.is_encoder) {
        bool assumed = false;
        const SpeculativeConfig c = default_speculative(sc, &assumed);
        out.push_back({fmt::format("speculative decoding (EAGLE-3, k=3, acceptance {:.2f}{})", c.acceptance_rate,
                                   assumed ? " assumed: set workload.speculative_acceptance" : " from the workload"),
                       {"speculative.method=eagle3", "speculative.num_speculative_tokens=3",
                        fmt::format("speculative.acceptance_rate={}", c.acceptance_rate)},
                       1.0, [c](Scenario& s) { s.engine.speculative = c; }});
    }
    if (sc.engine.max_num_batched_tokens > 512) {
        const int64_t budget = sc.engine.max_num_batched_tokens / 2;
        out.push_back({fmt::format("max_num_batched_tokens {}", budget),
                       {fmt::format("scheduler.max_num_batched_tokens={}", budget)}, 1.0,
                       [budget](Scenario& s) {
                           s.engine.max_num_batched_tokens = budget;
                           s.engine.max_num_batched_tokens_set = true;
                       }});
    }
    return out;
}

}  // namespace headroom
