// Request records -> aggregates.
#include "headroom/sim/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace headroom {

Summary summarize(const Scenario& sc, const std::vector<RequestRecord>& requests, const std::vector<float>& itls,
                  const std::vector<StepSample>& steps, const Accounting& accounting) {
    Summary s;
    s.accounting = accounting;
    s.requests = static_cast<int64_t>(requests.size());
    std::vector<double> ttft, tpot, e2e, queue, itl(itls.begin(), itls.end());
    double first_arrival = 1e300, last_finish = 0;
    for (const RequestRecord& r : requests) {
        first_arrival = std::min(first_arrival, r.arrival_s);
        if (r.rejected) {
            ++s.rejected;
            continue;
        }
        if (r.failed) {
            ++s.failed;
            continue;
        }
        if (!r.completed()) continue;
        ++s.completed;
        last_finish = std::max(last_finish, r.finish_s);
        ttft.push_back(r.ttft_s());
        s.api_server_s_mean += r.api_s;
        e2e.push_back(r.e2e_s());
        queue.push_back(r.queue_s());
        if (r.generated > 1) tpot.push_back(r.tpot_s());
        s.input_tokens += r.prompt_tokens;
        s.output_tokens += r.generated;
        s.preemptions += r.preemptions;
        s.prefix_hit_tokens += r.prefix_hit_tokens;
        s.accounting.recomputed_tokens += r.recomputed_tokens;
    }
    s.duration_s = s.completed > 0 ? last_finish - first_arrival : 0.0;
    if (s.completed > 0) s.api_server_s_mean /= static_cast<double>(s.completed);
    s.ttft_s = percentiles(ttft);
    s.tpot_s = percentiles(tpot);
    s.itl_s = percentiles(itl);
    s.e2e_s = percentiles(e2e);
    s.queue_s = percentiles(queue);
    s.gpus = sc.deployment.replicas * sc.deployment.tp;
    if (s.duration_s > 0) {
        s.request_throughput = static_cast<double>(s.completed) / s.duration_s;
        s.output_throughput = static_cast<double>(s.output_tokens) / s.duration_s;
        s.input_throughput = static_cast<double>(s.input_tokens) / s.duration_s;
        s.output_tokens_per_s_per_gpu = s.output_throughput / static_cast<double>(s.gpus);
    }
    s.gpu_hours = static_cast<double>(s.gpus) * s.duration_s / 3600.0;
    s.cost_usd = s.gpu_hours * sc.deployment.gpu.price_usd_per_gpu_hour.value;
    // $/MTok of generated tokens; an embedding run (no output) is priced per million input tokens.
    const int64_t priced = s.output_tokens > 0 ? s.output_tokens : s.input_tokens;
    s.usd_per_mtok = priced > 0 ? s.cost_usd / (static_cast<double>(priced) / 1e6) : 0.0;

    // SLOs: each metric's percentile against its threshold; goodput: requests meeting every threshold.
    int64_t good = 0;
    for (const RequestRecord& r : requests) {
        if (!r.completed()) continue;
        bool ok = true;
        for (const SloTarget& t : sc.slos) {
            const double v = t.metric == "ttft" ? r.ttft_s()
                           : t.metric == "tpot" ? r.tpot_s()
                           : t.metric == "itl"  ? r.max_itl_s
                                                : r.e2e_s();
            ok = ok && v <= t.threshold_s;
        }
        good += ok;
    }
    s.goodput_rps = s.duration_s > 0 ? static_cast<double>(good) / s.duration_s : 0.0;
    s.goodput_fraction = s.requests > 0 ? static_cast<double>(good) / static_cast<double>(s.requests) : 0.0;
    for (const SloTarget& t : sc.slos) {
        // exact at any percentile, from the data (p50/p90/p95/p99 equal the stored ones)
        const std::vector<double>& data = t.metric == "ttft" ? ttft : t.metric == "tpot" ? tpot
                                        : t.metric == "itl"  ? itl  : e2e;
        SloResult res{t.metric, t.percentile, t.threshold_s, exact_percentile(data, t.percentile), false};
        res.met = res.value_s <= t.threshold_s;
        s.slos_met = s.slos_met && res.met;
        s.slos.push_back(res);
    }

    // Time-weighted KV use and batch size over the run (idle gaps count with what they hold: nothing running).
    double busy = 0, kv_area = 0, run_area = 0;
    for (const StepSample& st : steps) {
        busy += st.dt_s;
        kv_area += st.kv_used * st.dt_s;
        run_area += st.running * st.dt_s;
        s.kv_util_peak = std::max<double>(s.kv_util_peak, st.kv_used);
        s.running_peak = std::max<double>(s.running_peak, st.running);
    }
    s.steps = static_cast<int64_t>(steps.size());
    const double span = s.duration_s * static_cast<double>(sc.deployment.replicas);
    if (span > 0) {
        s.kv_util_mean = kv_area / span;
        s.running_mean = run_area / span;
        s.busy_fraction = std::min(1.0, busy / span);
    }
    return s;
}

}  // namespace headroom
