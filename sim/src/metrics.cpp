// Request records -> aggregates.
#include "headroom/sim/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace headroom {

Summary summarize(const Scenario& sc, const RunStats& st, const Accounting& accounting) {
    Summary s;
    s.accounting = accounting;
    s.requests = st.requests;
    s.rejected = st.rejected;
    s.failed = st.failed;
    s.completed = st.completed;
    const double first_arrival = st.first_arrival_s, last_finish = st.last_finish_s;
    s.api_server_s_mean = st.api_s_sum;
    s.input_tokens = st.input_tokens;
    s.output_tokens = st.output_tokens;
    s.preemptions = st.preemptions;
    s.prefix_hit_tokens = st.prefix_hit_tokens;
    s.accounting.recomputed_tokens += st.recomputed_tokens;
    std::vector<double> ttft, tpot, e2e, queue;
    ttft.reserve(st.metrics.size());
    e2e.reserve(st.metrics.size());
    queue.reserve(st.metrics.size());
    for (const RequestMetrics& m : st.metrics) {
        ttft.push_back(m.ttft_s);
        e2e.push_back(m.e2e_s);
        queue.push_back(m.queue_s);
        if (m.has_tpot) tpot.push_back(m.tpot_s);
    }
    s.duration_s = s.completed > 0 ? last_finish - first_arrival : 0.0;
    if (s.completed > 0) s.api_server_s_mean /= static_cast<double>(s.completed);
    s.ttft_s = percentiles(ttft);
    s.tpot_s = percentiles(tpot);
    s.itl_s = st.itls.percentiles();
    s.e2e_s = percentiles(e2e);
    s.queue_s = percentiles(queue);
    for (double p : sc.metric_percentiles) {
        s.ttft_at_s.push_back(exact_percentile(ttft, p));
        s.tpot_at_s.push_back(exact_percentile(tpot, p));
        s.itl_at_s.push_back(st.itls.percentile(p));
        s.e2e_at_s.push_back(exact_percentile(e2e, p));
    }
    const DisaggregationSpec& dg = sc.disaggregation;
    const int64_t prefill_gpus = dg.enabled ? dg.prefill.replicas * dg.prefill.tp : 0;
    s.gpus = fleet_gpus(sc);
    if (s.duration_s > 0) {
        s.request_throughput = static_cast<double>(s.completed) / s.duration_s;
        s.output_throughput = static_cast<double>(s.output_tokens) / s.duration_s;
        s.input_throughput = static_cast<double>(s.input_tokens) / s.duration_s;
        s.output_tokens_per_s_per_gpu = s.output_throughput / static_cast<double>(s.gpus);
    }
    s.gpu_hours = static_cast<double>(s.gpus) * s.duration_s / 3600.0;
    s.cost_usd = static_cast<double>(sc.deployment.replicas * sc.deployment.gpus_per_replica()) * s.duration_s / 3600.0 *
                     sc.deployment.gpu.price_usd_per_gpu_hour.value +
                 (dg.enabled ? static_cast<double>(prefill_gpus) * s.duration_s / 3600.0 * dg.prefill.gpu.price_usd_per_gpu_hour.value : 0.0);
    // $/MTok of generated tokens; an embedding run (no output) is priced per million input tokens.
    const int64_t priced = s.output_tokens > 0 ? s.output_tokens : s.input_tokens;
    s.usd_per_mtok = priced > 0 ? s.cost_usd / (static_cast<double>(priced) / 1e6) : 0.0;

    // SLOs: each metric's percentile against its threshold; goodput: requests meeting every threshold.
    int64_t good = 0;
    for (const RequestMetrics& r : st.metrics) {
        bool ok = true;
        for (const SloTarget& t : sc.slos) {
            const double v = t.metric == "ttft" ? r.ttft_s
                           : t.metric == "tpot" ? r.tpot_s
                           : t.metric == "itl"  ? r.max_itl_s
                                                : r.e2e_s;
            ok = ok && v <= t.threshold_s;
        }
        good += ok;
    }
    s.goodput_rps = s.duration_s > 0 ? static_cast<double>(good) / s.duration_s : 0.0;
    s.goodput_fraction = s.requests > 0 ? static_cast<double>(good) / static_cast<double>(s.requests) : 0.0;
    for (const SloTarget& t : sc.slos) {
        // exact at any percentile, from the data (p50/p90/p95/p99 equal the stored ones)
        const double value = t.metric == "itl" ? st.itls.percentile(t.percentile)
                                               : exact_percentile(t.metric == "ttft" ? ttft : t.metric == "tpot" ? tpot : e2e,
                                                                  t.percentile);
        SloResult res{t.metric, t.percentile, t.threshold_s, value, false};
        res.met = res.value_s <= t.threshold_s;
        s.slos_met = s.slos_met && res.met;
        s.slos.push_back(res);
    }

    // Time-weighted KV use and batch size over the run (idle gaps count with what they hold: nothing running).
    s.kv_util_peak = st.kv_used_peak;
    s.running_peak = st.running_peak;
    s.steps = st.steps;
    const int64_t prefill_replicas = dg.enabled ? dg.prefill.replicas : 0;
    const double span = s.duration_s * static_cast<double>(sc.deployment.replicas + prefill_replicas);
    if (span > 0) {
        s.kv_util_mean = st.kv_area / span;
        s.running_mean = st.running_area / span;
        s.busy_fraction = std::min(1.0, st.busy_s / span);
    }
    if (dg.enabled) {
        s.kv_transfer_s = percentiles(st.kv_transfer_s);
        s.disaggregated = static_cast<int64_t>(st.kv_transfer_s.size());
        s.kv_transfer_bytes = st.kv_transfer_bytes;
        double p = 0, d = 0;
        for (size_t i = 0; i < st.busy_s_by_replica.size(); ++i) (static_cast<int64_t>(i) < prefill_replicas ? p : d) += st.busy_s_by_replica[i];
        if (s.duration_s > 0) {
            s.prefill_busy_fraction = std::min(1.0, p / (s.duration_s * static_cast<double>(prefill_replicas)));
            s.decode_busy_fraction = std::min(1.0, d / (s.duration_s * static_cast<double>(sc.deployment.replicas)));
        }
    }
    return s;
}

}  // namespace headroom
