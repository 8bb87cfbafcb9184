// What a run keeps of its requests and steps (see run_stats.hpp).
#include "headroom/core/run_stats.hpp"

#include <algorithm>

namespace headroom {

RunStats::RunStats(RecordingOptions o, int32_t replicas)
    : busy_s_by_replica(static_cast<size_t>(std::max<int32_t>(1, replicas)), 0.0),
      options_(std::move(o)),
      sample_(static_cast<size_t>(std::max<int32_t>(1, replicas))) {}

void RunStats::add_request(const RequestRecord& r) {
    if (options_.on_record) options_.on_record(r);
    ++requests;
    first_arrival_s = std::min(first_arrival_s, r.arrival_s);
    if (r.rejected) {
        ++rejected;
    } else if (r.failed) {
        ++failed;
    } else if (r.completed()) {
        ++completed;
        last_finish_s = std::max(last_finish_s, r.finish_s);
        metrics.push_back({r.ttft_s(), r.tpot_s(), r.e2e_s(), r.queue_s(), r.max_itl_s, r.generated > 1});
        api_s_sum += r.api_s;
        input_tokens += r.prompt_tokens;
        output_tokens += r.generated;
        preemptions += r.preemptions;
        prefix_hit_tokens += r.prefix_hit_tokens;
        recomputed_tokens += r.recomputed_tokens;
        if (r.kv_arrived_s >= 0) {
            kv_transfer_s.push_back(r.kv_transfer_s());
            kv_transfer_bytes += r.kv_bytes;
        }
    }
    if (options_.keep_requests) records_.push_back(r);
}

// The sample keeps a replica's steps k with k % stride == 0; when it reaches twice the points it halves
// itself (stride doubles, every other kept step goes), so it always spans the whole run evenly.
void RunStats::add_step(const StepSample& s) {
    const int64_t order = steps++;
    busy_s += s.dt_s;
    if (s.replica >= 0 && static_cast<size_t>(s.replica) < busy_s_by_replica.size()) busy_s_by_replica[static_cast<size_t>(s.replica)] += s.dt_s;
    kv_area += s.kv_used * s.dt_s;
    running_area += s.running * s.dt_s;
    kv_used_peak = std::max<double>(kv_used_peak, s.kv_used);
    running_peak = std::max<double>(running_peak, s.running);
    ReplicaSample& rs = sample_[std::min(static_cast<size_t>(std::max<int32_t>(0, s.replica)), sample_.size() - 1)];
    const int64_t k = rs.seen++;
    if (options_.keep_all_steps) {
        rs.kept.push_back({order, s});
        return;
    }
    if (k % rs.stride != 0) return;
    rs.kept.push_back({order, s});
    const int64_t points = std::max<int64_t>(1, options_.step_points);
    if (static_cast<int64_t>(rs.kept.size()) >= 2 * points) {
        size_t w = 0;
        for (size_t i = 0; i < rs.kept.size(); i += 2) rs.kept[w++] = rs.kept[i];
        rs.kept.resize(w);
        rs.stride *= 2;
    }
}

std::vector<StepSample> RunStats::take_steps() {
    std::vector<Sampled> all;
    for (ReplicaSample& rs : sample_) {
        all.insert(all.end(), rs.kept.begin(), rs.kept.end());
        std::vector<Sampled>().swap(rs.kept);
    }
    std::sort(all.begin(), all.end(), [](const Sampled& a, const Sampled& b) { return a.order < b.order; });
    std::vector<StepSample> out;
    out.reserve(all.size());
    for (const Sampled& s : all) out.push_back(s.step);
    return out;
}

}  // namespace headroom
