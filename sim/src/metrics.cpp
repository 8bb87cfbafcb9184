// Request records -> aggregates.
#include "headroom/sim/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace headroom {

double percentile(const std::vector<double>& sorted, double pct) {
    if (sorted.empty()) return 0.0;
    const double rank = pct / 100.0 * static_cast<double>(sorted.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(rank));
    const size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

// The same interpolation as percentile() on a sorted copy, with nth_element instead of a sort: O(n) per
// percentile, which matters for the millions of inter-token gaps of a long run. `from` is where the
// previous (lower) percentile's rank left the partition.
static double select_percentile(std::vector<double>& v, double pct, size_t& from) {
    const double rank = pct / 100.0 * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(rank));
    std::nth_element(v.begin() + static_cast<std::ptrdiff_t>(from), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
    const double a = v[lo];
    const double b = lo + 1 < v.size() ? *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end()) : a;
    from = lo;
    return a + (b - a) * (rank - static_cast<double>(lo));
}

Percentiles percentiles(std::vector<double> v) {
    Percentiles p;
    p.n = static_cast<int64_t>(v.size());
    if (v.empty()) return p;
    double sum = 0;
    for (double x : v) sum += x;
    p.mean = sum / static_cast<double>(v.size());
    p.max = *std::max_element(v.begin(), v.end());
    size_t from = 0;
    p.p50 = select_percentile(v, 50, from);
    p.p90 = select_percentile(v, 90, from);
    p.p95 = select_percentile(v, 95, from);
    p.p99 = select_percentile(v, 99, from);
    return p;
}

double exact_percentile(std::vector<double> v, double pct) {
    if (v.empty()) return 0.0;
    size_t from = 0;
    return select_percentile(v, pct, from);
}

void MetricsCollector::on_first_scheduled(const RequestState& r, double now) {
    RequestRecord& rec = records_[r.req.id];
    rec.scheduled_s = now;
    rec.replica = replica_;
}

void MetricsCollector::on_token(const RequestState& r, double now) {
    RequestRecord& rec = records_[r.req.id];
    if (rec.generated == 0) {
        rec.first_token_s = now;
    } else {
        const double gap = now - rec.last_token_s;
        itls_.push_back(static_cast<float>(gap));
        rec.max_itl_s = std::max(rec.max_itl_s, gap);
    }
    rec.last_token_s = now;
    ++rec.generated;
}

void MetricsCollector::on_finished(const RequestState& r, double now) {
    RequestRecord& rec = records_[r.req.id];
    rec.finish_s = now;
    rec.preemptions = r.preemptions;
    rec.prefix_hit_tokens = r.prefix_hit_tokens;
    rec.recomputed_tokens = r.recomputed_tokens;
    if (rec.generated == 0) rec.first_token_s = now;  // prefill-only (embedding): the result is the first "token"
    if (on_done) on_done(r.req.id);
}

void MetricsCollector::on_preempted(const RequestState&, double) {}

void MetricsCollector::on_aborted(const RequestState& r, double now) {
    RequestRecord& rec = records_[r.req.id];
    rec.failed = true;
    rec.finish_s = now;
    rec.preemptions = r.preemptions;
    if (rec.replica < 0) rec.replica = replica_;
    if (on_done) on_done(r.req.id);
}

void MetricsCollector::on_rejected(const RequestState& r, double now) {
    RequestRecord& rec = records_[r.req.id];
    rec.rejected = true;
    rec.reject_reason = r.reject_reason;
    rec.finish_s = now;
    rec.replica = replica_;
    if (on_done) on_done(r.req.id);
}

void account_step(Accounting& a, const Scheduler& s, const StepPlan& plan, double step_s, const StepTotals& cost,
                  double decodes_alone_s) {
    const double scale = step_s == cost.time_s || cost.time_s <= 0.0 ? 1.0 : step_s / cost.time_s;
    a.step_s += step_s;
    for (int b = 0; b < 4; ++b) a.by_bound_s[b] += cost.time_by_bound_s[b] * scale;
    if (plan.prefill_tokens == 0) {
        a.decode_only_s += step_s;
        a.decode_only_bytes += cost.bytes;
    } else if (plan.decodes > 0) {
        a.mixed_s += step_s;
        a.prefill_interference_s += step_s - decodes_alone_s * scale;
    }
    if (s.num_waiting() > 0) {
        a.waiting_s += step_s;
        const std::string& why = s.admission_blocker();
        const int k = why == "kv" ? 0 : why == "seqs" ? 1 : why == "budget" ? 2 : 3;
        a.blocked_s[k] += step_s;
    }
}

double decodes_alone_s(const StepTimePredictor& p, const StepPlan& plan, std::vector<SequenceWork>& scratch) {
    if (plan.prefill_tokens == 0 || plan.decodes == 0) return 0.0;
    scratch.clear();
    for (const ScheduledSeq& q : plan.seqs) {
        if (q.new_tokens == 1) scratch.push_back({q.new_tokens, q.context});
    }
    return p.step_time(scratch);
}

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
    s.gpus = sc.replicas * sc.tp;
    if (s.duration_s > 0) {
        s.request_throughput = static_cast<double>(s.completed) / s.duration_s;
        s.output_throughput = static_cast<double>(s.output_tokens) / s.duration_s;
        s.input_throughput = static_cast<double>(s.input_tokens) / s.duration_s;
        s.output_tokens_per_s_per_gpu = s.output_throughput / static_cast<double>(s.gpus);
    }
    s.gpu_hours = static_cast<double>(s.gpus) * s.duration_s / 3600.0;
    s.cost_usd = s.gpu_hours * sc.gpu.price_usd_per_gpu_hour.value;
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
    const double span = s.duration_s * static_cast<double>(sc.replicas);
    if (span > 0) {
        s.kv_util_mean = kv_area / span;
        s.running_mean = run_area / span;
        s.busy_fraction = std::min(1.0, busy / span);
    }
    return s;
}

}  // namespace headroom
