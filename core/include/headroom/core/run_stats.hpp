// What a run keeps of its requests and steps once they are done, in memory that grows with the requests in
// flight plus one number per request per metric, not with the run's steps or tokens:
// - each request's TTFT, TPOT, E2E, queue time and longest inter-token gap (exact percentiles at any level;
//   40 bytes a completed request), counters and token sums;
// - the inter-token latencies, exact up to 4 M gaps and then in a DDSketch (sketch.hpp);
// - the steps' time-weighted aggregates, and an even sample of the steps per replica (all of them on request);
// - the records themselves only when asked (Python's request table, the Chrome trace), else handed to a
//   callback (the --requests file) and dropped.
// Records arrive in id order (the replica loop hands them over from the front of its window of requests in
// flight), so every sum is taken in the order of the requests' creation whatever order they finished in.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "headroom/core/metrics.hpp"
#include "headroom/core/sketch.hpp"

namespace headroom {

struct RecordingOptions {
    bool keep_requests = false;    // keep every RequestRecord (else only the per-request metrics below)
    bool keep_all_steps = false;   // keep every StepSample (else an even sample)
    int64_t step_points = 2000;    // per replica: the sample holds between this many and twice as many
    std::function<void(const RequestRecord&)> on_record;  // each record as it is done, in id order
};

// The metrics of one completed request (what percentiles and goodput read).
struct RequestMetrics {
    double ttft_s = 0, tpot_s = 0, e2e_s = 0, queue_s = 0, max_itl_s = 0;
    bool has_tpot = false;  // more than one token generated
};

class RunStats {
public:
    explicit RunStats(RecordingOptions o = {}, int32_t replicas = 1);

    void add_request(const RequestRecord& r);
    void add_step(const StepSample& s);
    void add_itl(double gap_s) { itls.add(gap_s); }

    // requests
    int64_t requests = 0, completed = 0, rejected = 0, failed = 0;
    double first_arrival_s = 1e300, last_finish_s = 0;
    double api_s_sum = 0;  // of completed requests
    int64_t input_tokens = 0, output_tokens = 0, preemptions = 0, prefix_hit_tokens = 0, recomputed_tokens = 0;
    std::vector<RequestMetrics> metrics;  // completed requests, in id order
    LatencySeries itls;
    // steps (time-weighted over the run: sum of dt, of kv_used x dt, of running x dt)
    int64_t steps = 0;
    double busy_s = 0, kv_area = 0, running_area = 0, kv_used_peak = 0, running_peak = 0;
    std::vector<double> busy_s_by_replica;
    // disaggregated requests (completed): how long their KV took to move, and how many bytes moved
    std::vector<double> kv_transfer_s;
    double kv_transfer_bytes = 0;

    // The step sample (or every step), in the order the steps started.
    std::vector<StepSample> take_steps();
    // The kept records, in id order (empty unless keep_requests).
    std::vector<RequestRecord> take_requests() { return std::move(records_); }

private:
    struct Sampled {
        int64_t order;  // the step's position in the run
        StepSample step;
    };
    struct ReplicaSample {
        int64_t seen = 0;
        int64_t stride = 1;
        std::vector<Sampled> kept;
    };

    RecordingOptions options_;
    std::vector<RequestRecord> records_;
    std::vector<ReplicaSample> sample_;
};

}  // namespace headroom
