// Request records, step accounting and exact percentiles (see metrics.hpp).
#include "headroom/core/metrics.hpp"

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
    double sq = 0;
    for (double x : v) sq += (x - p.mean) * (x - p.mean);
    p.std = std::sqrt(sq / static_cast<double>(v.size()));
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
    RequestRecord& rec = store_.record(r.req.id);
    if (rec.scheduled_s < 0) rec.scheduled_s = now;  // a disaggregated request: its prefill replica's admission
    rec.replica = replica_;
}

void MetricsCollector::on_token(const RequestState& r, double now) { on_tokens(r, 1, now); }

// Tokens of one step reach the client as one streamed chunk: one inter-token latency per chunk, as vLLM's
// benchmark measures it (TPOT, over tokens, still counts each).
void MetricsCollector::on_tokens(const RequestState& r, int64_t n, double now) {
    RequestRecord& rec = store_.record(r.req.id);
    if (rec.generated == 0) {
        rec.first_token_s = now;
    } else {
        const double gap = now - rec.last_token_s;
        store_.add_itl(gap);
        rec.max_itl_s = std::max(rec.max_itl_s, gap);
    }
    rec.last_token_s = now;
    rec.generated += n;
}

void MetricsCollector::on_finished(const RequestState& r, double now) {
    RequestRecord& rec = store_.record(r.req.id);
    // counts add up over a disaggregated request's two replicas
    rec.preemptions += r.preemptions;
    rec.prefix_hit_tokens += r.prefix_hit_tokens;
    rec.recomputed_tokens += r.recomputed_tokens;
    if (r.req.hold_kv) {  // the prefill of a disaggregated request: its KV leaves now, its answer comes later
        rec.prefill_replica = replica_;
        rec.prefill_done_s = now;
        if (on_prefilled) on_prefilled(r.req.id);
        return;
    }
    rec.finish_s = now;
    if (rec.generated == 0) rec.first_token_s = now;  // prefill-only (embedding): the result is the first "token"
    if (on_done) on_done(r.req.id);
}

void MetricsCollector::on_preempted(const RequestState&, double) {}

void MetricsCollector::on_aborted(const RequestState& r, double now) {
    RequestRecord& rec = store_.record(r.req.id);
    rec.failed = true;
    rec.finish_s = now;
    rec.preemptions += r.preemptions;
    if (rec.replica < 0) rec.replica = replica_;
    if (on_done) on_done(r.req.id);
}

void MetricsCollector::on_rejected(const RequestState& r, double now) {
    RequestRecord& rec = store_.record(r.req.id);
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
    a.draft_s += cost.draft_s * scale;
    a.pipeline_s += cost.pipeline_s * scale;
    a.stage_busy_s += cost.stage_busy_s * scale;
    for (const ScheduledSeq& q : plan.seqs) {
        if (q.spec_tokens == 0) continue;
        ++a.spec_verifies;
        a.spec_drafted += q.spec_tokens;
        a.spec_accepted += q.accepted;
    }
    if (plan.prefill_tokens == 0) {
        a.decode_only_s += step_s;
        a.decode_only_bytes += cost.bytes;
    } else if (plan.decodes > 0) {
        a.mixed_s += step_s;
        a.prefill_interference_s += step_s - decodes_alone_s * scale;
    }
    // (requests held back only by async scheduling's one-step lag are not blocked by anything)
    if (s.num_waiting() > 0 && s.admission_blocker() != "async") {
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
        if (q.new_tokens == 1 || q.spec_tokens > 0) scratch.push_back({q.new_tokens, q.context, q.spec_tokens});
    }
    return p.step_time(scratch);
}

}  // namespace headroom
