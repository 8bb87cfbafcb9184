// What the engine core records of a run: per-request records, per-step samples, the engine's accounting of
// where step time went, and exact percentiles. Filled by an observer of the scheduler (MetricsCollector) and
// by the replica loop, for the simulator and the executor alike; the aggregates live in sim/metrics.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "headroom/core/scheduler.hpp"
#include "headroom/core/step_predictor.hpp"

namespace headroom {

struct RequestRecord {
    int64_t id = 0;
    int64_t session = 0;
    int64_t turn = 0;
    int32_t replica = -1;
    double arrival_s = 0.0;
    double scheduled_s = -1.0;    // first time it was scheduled
    double first_token_s = -1.0;
    double last_token_s = -1.0;
    double finish_s = -1.0;
    int64_t prompt_tokens = 0;
    int64_t output_tokens = 0;  // asked for
    int64_t generated = 0;
    int64_t preemptions = 0;
    int64_t prefix_hit_tokens = 0;
    int64_t recomputed_tokens = 0;
    double max_itl_s = 0.0;
    bool rejected = false;
    bool failed = false;  // the client gave up at its timeout (finish_s is then the timeout)
    double api_s = 0.0;   // time in the API server before the engine saw it (part of TTFT)
    // Disaggregated: the prefill replica, when its prefill ended, and when its KV reached the decode replica
    // (-1: prefilled where it decoded).
    int32_t prefill_replica = -1;
    double prefill_done_s = -1.0;
    double kv_arrived_s = -1.0;
    double kv_bytes = 0.0;
    double kv_transfer_s() const { return kv_arrived_s >= 0 ? kv_arrived_s - prefill_done_s : 0.0; }
    std::string reject_reason;

    bool completed() const { return finish_s >= 0.0 && !rejected && !failed; }
    double queue_s() const { return scheduled_s - arrival_s; }
    double ttft_s() const { return (first_token_s >= 0 ? first_token_s : finish_s) - arrival_s; }
    double e2e_s() const { return finish_s - arrival_s; }
    double tpot_s() const { return generated > 1 ? (last_token_s - first_token_s) / static_cast<double>(generated - 1) : 0.0; }
};

// One engine step of one replica.
struct StepSample {
    double t_s = 0.0;   // start
    double dt_s = 0.0;  // duration
    int32_t replica = 0;
    int32_t running = 0;
    int32_t waiting = 0;
    int32_t decodes = 0;
    int64_t tokens = 0;
    int64_t prefill_tokens = 0;
    float kv_used = 0.0f;  // fraction of blocks in use at the start of the step
    int32_t preempted = 0;
};

struct Percentiles {
    int64_t n = 0;
    double mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
    double std = 0;  // population standard deviation (numpy's np.std, as vLLM's benchmark reports std_*)
};
// Linear interpolation between closest ranks (numpy's default), as vLLM's benchmark computes them.
Percentiles percentiles(std::vector<double> v);
double percentile(const std::vector<double>& sorted, double pct);
// The same percentile of unsorted data, exact at any level (p80, p97.5, p99.9), in O(n).
double exact_percentile(std::vector<double> v, double pct);

// Where the replicas' time went, from the engine's own accounting: the basis of the explanations.
// Times are summed over replicas (divide by duration x replicas for shares).
struct Accounting {
    double step_s = 0;                  // time spent in engine steps
    double by_bound_s[4] = {0, 0, 0, 0};  // of which each op bound: compute, memory, communication, overhead
    double decode_only_s = 0;           // steps holding decodes only
    double decode_only_bytes = 0;       // bytes those steps moved (for the share of HBM peak)
    double mixed_s = 0;                 // steps holding prefill chunks and decodes
    double prefill_interference_s = 0;  // what the prefill chunks added to those steps over their decodes alone
    double waiting_s = 0;               // time with requests waiting to be admitted
    double blocked_s[4] = {0, 0, 0, 0};  // of which admission was blocked by: KV blocks, max_num_seqs, token budget, policy
    double prefill_waiting_s = 0;        // of waiting_s, on a disaggregated deployment's prefill replicas
    int64_t recomputed_tokens = 0;      // tokens computed again after preemptions
    // Speculative decoding: verifies (one per decoding sequence and step), drafts proposed, drafts accepted,
    // and the drafter's share of step time.
    int64_t spec_verifies = 0, spec_drafted = 0, spec_accepted = 0;
    double draft_s = 0;
    // Pipeline parallelism: the steps' pipelined time (fills included) and each stage's busy time in it.
    double pipeline_s = 0, stage_busy_s = 0;
    // The share of pipelined time a stage waits idle (0 without PP).
    double bubble_share() const { return pipeline_s > 0 ? 1.0 - stage_busy_s / pipeline_s : 0.0; }
    // Tokens a verify yielded on average (accepted drafts plus the target's own), the share of drafts accepted,
    // and the drafter's share of step time (0 without speculative decoding).
    double tokens_per_verify() const { return spec_verifies > 0 ? static_cast<double>(spec_verifies + spec_accepted) / static_cast<double>(spec_verifies) : 0.0; }
    double draft_acceptance() const { return spec_drafted > 0 ? static_cast<double>(spec_accepted) / static_cast<double>(spec_drafted) : 0.0; }
    double draft_time_share() const { return step_s > 0 ? draft_s / step_s : 0.0; }
};

// Adds one engine step to the accounting, for the simulator and for `measure serve` alike. `cost` is the
// predictor's breakdown of the step and `decodes_alone_s` the predicted time of its decodes alone (read only
// for a mixed step). A measured step apportions its measured `step_s` in the predicted proportions.
void account_step(Accounting& a, const Scheduler& s, const StepPlan& plan, double step_s, const StepTotals& cost,
                  double decodes_alone_s);
// The predicted time of a mixed step's decodes alone (the prefill chunks' interference is the rest of the
// step); 0 for a step that is not mixed. `scratch` is reused storage.
double decodes_alone_s(const StepTimePredictor& p, const StepPlan& plan, std::vector<SequenceWork>& scratch);

// Where the observer finds a request's record while it is in flight (the replica loop's window of them) and
// where the inter-token latencies go.
class RecordStore {
public:
    virtual ~RecordStore() = default;
    virtual RequestRecord& record(int64_t id) = 0;
    virtual void add_itl(double gap_s) = 0;
};

// The scheduler observer that fills RequestRecords (Request::id is the record's id).
class MetricsCollector : public SchedulerObserver {
public:
    MetricsCollector(RecordStore& store, int32_t replica) : store_(store), replica_(replica) {}
    // Called when a request finishes or is rejected (to wake whoever waits for it).
    std::function<void(int64_t record)> on_done;
    // Called instead of on_done when a disaggregated request's prefill ends (Request::hold_kv; its blocks are
    // held until Scheduler::release).
    std::function<void(int64_t record)> on_prefilled;

    void on_first_scheduled(const RequestState& r, double now) override;
    void on_token(const RequestState& r, double now) override;
    void on_tokens(const RequestState& r, int64_t n, double now) override;
    void on_finished(const RequestState& r, double now) override;
    void on_preempted(const RequestState& r, double now) override;
    void on_rejected(const RequestState& r, double now) override;
    void on_aborted(const RequestState& r, double now) override;

private:
    RecordStore& store_;
    int32_t replica_;
};

}  // namespace headroom
