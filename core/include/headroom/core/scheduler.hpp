// Continuous batching with vLLM V1's semantics, free of any event loop so that the simulator and the
// executor drive the same code:
// - each step first schedules running requests (decodes and unfinished prefill chunks), then admits waiting
//   ones, within a token budget (max_num_batched_tokens) and max_num_seqs;
// - chunked prefill (on by default) splits a prompt across steps to fit the budget;
// - KV lives in paged blocks; when a running request cannot get a block, the newest running request is
//   preempted by recompute: its blocks are freed and it returns to the front of the waiting queue;
// - optional prefix caching reuses full blocks whose content hash matches;
// - the admission policy is picked by name: "continuous" (vLLM) or "static" (a new batch only when the
//   previous one has finished), for comparison.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "headroom/core/kv_cache_manager.hpp"

namespace headroom {

struct Request {
    int64_t id = 0;
    double arrival_s = 0.0;
    int64_t prompt_tokens = 1;
    int64_t output_tokens = 1;  // 0: prefill only (embedding)
    // Requests with the same content id share their leading blocks: block i of any of them holds the same
    // tokens (a chat session's growing conversation). 0: unique content.
    uint64_t content_id = 0;
    // The first `prefix_tokens` tokens are prefix `prefix_id` (a system prompt shared across sessions): its
    // full blocks hash by the prefix, not by the content. 0: none.
    uint64_t prefix_id = 0;
    int64_t prefix_tokens = 0;
    // A replayed trace's prompt blocks (Session::prompt_blocks): a full KV block lying within the prompt hashes
    // by the trace block holding its last token, so requests naming the same trace blocks share it. Null: none.
    std::shared_ptr<const std::vector<uint64_t>> prompt_blocks;
    int64_t prompt_block_tokens = 0;
    // The client abandons the request at this time (its timeout); 0: never. An abandoned request leaves the
    // engine at the next step boundary and frees its blocks.
    double deadline_s = 0.0;
    // Disaggregated prefill and decode (vLLM's P/D through a KV connector):
    // - on the prefill side the request is prefill-only (output_tokens 0) and keeps its blocks when it finishes,
    //   until release() (its KV is being sent);
    // - on the decode side the first `precomputed_tokens` tokens' KV arrives from the prefill replica: the first
    //   admission allocates their blocks without computing them (after a preemption they are recomputed).
    bool hold_kv = false;
    int64_t precomputed_tokens = 0;
};

enum class RequestStatus { WAITING, RUNNING, FINISHED, REJECTED, ABORTED };

struct RequestState {
    Request req;
    RequestStatus status = RequestStatus::WAITING;
    int64_t num_computed = 0;   // tokens whose KV has been computed
    int64_t num_generated = 0;  // output tokens emitted
    std::vector<int32_t> blocks;  // the block table (of the first KV-cache group)
    std::vector<std::vector<int32_t>> group_tables;  // the other groups' tables (hybrid models); -1: freed
    int64_t num_hashed_blocks = 0;
    int64_t preemptions = 0;
    int64_t prefix_hit_tokens = 0;
    int64_t recomputed_tokens = 0;  // tokens whose KV was thrown away by preemptions
    bool scheduled_once = false;
    int32_t rank = 0;  // its DP rank (SchedulerConfig::ranks), fixed when it arrives
    std::string reject_reason;
    double entered_s = 0.0;  // when it reached the scheduler (add_request)
    int64_t num_tokens() const { return req.prompt_tokens + num_generated; }
};

struct ScheduledSeq {
    int64_t request = 0;     // index into the scheduler's requests
    int64_t new_tokens = 0;  // prefill chunk, or 1 for decode (1 + spec_tokens with speculative decoding)
    int64_t context = 0;     // tokens already in KV before this step
    int64_t spec_tokens = 0;  // speculative drafts verified with the decode
    int64_t accepted = 0;     // of them, accepted: set by whoever ran the step, before Scheduler::complete
    int32_t rank = 0;         // the DP rank it runs on (SchedulerConfig::ranks)
};

struct StepPlan {
    std::vector<ScheduledSeq> seqs;
    int64_t tokens = 0;
    int64_t prefill_tokens = 0;  // tokens of sequences that are not plain decodes
    int64_t decodes = 0;
    int64_t preempted = 0;
    bool empty() const { return seqs.empty(); }
};

// Told of each request's milestones; metrics are collected here, not in the scheduler.
class SchedulerObserver {
public:
    virtual ~SchedulerObserver() = default;
    virtual void on_first_scheduled(const RequestState&, double /*now_s*/) {}
    virtual void on_token(const RequestState&, double /*now_s*/) {}
    // `n` tokens at once (a speculative verify); by default n single tokens.
    virtual void on_tokens(const RequestState& r, int64_t n, double now_s) {
        for (int64_t i = 0; i < n; ++i) on_token(r, now_s);
    }
    virtual void on_finished(const RequestState&, double /*now_s*/) {}
    virtual void on_preempted(const RequestState&, double /*now_s*/) {}
    virtual void on_rejected(const RequestState&, double /*now_s*/) {}
    // The client gave up at its deadline; `now_s` is the deadline.
    virtual void on_aborted(const RequestState&, double /*now_s*/) {}
};

struct SchedulerConfig {
    int64_t max_num_batched_tokens = 8192;
    int64_t max_num_seqs = 256;
    int64_t block_size = 16;
    int64_t num_blocks = 0;      // from the KV planner
    int64_t max_model_len = 0;
    bool chunked_prefill = true;
    bool prefix_caching = false;
    std::string policy = "continuous";
    // KV-cache groups of a model with sliding-window layers (KvPlan::group_windows: 0 full, else the window;
    // one sliding group when every layer slides); empty: full attention, a single table per request.
    std::vector<int64_t> group_windows;
    // Speculative decoding: drafts verified with each decode (k; 0: off). A decoding sequence is scheduled
    // for 1 + k tokens (fewer near the end of its answer or of the token budget) and its KV grows to hold them.
    int64_t num_speculative_tokens = 0;
    // The most tokens one sequence computes in a step (0: the token budget): a scheduler that stands for several
    // DP ranks has their budgets together, but a sequence runs on one rank, within that rank's budget.
    int64_t max_chunk_tokens = 0;
    // DP ranks this scheduler stands for (vLLM's --data-parallel-size: one engine per rank). With more than
    // one, each request is pinned to a rank when it arrives, the one with the least waiting x 4 + running
    // (vLLM's DP load balancer), and each step gives each rank its own token budget (max_chunk_tokens) and
    // its share of max_num_seqs; a rank whose budget, sequences or blocks are spent does not hold up the
    // others' waiting requests. Each rank has its own KV cache, num_blocks / ranks blocks, with its own
    // prefix cache; a rank short of blocks preempts its own newest running request.
    int64_t ranks = 1;
    // vLLM's async scheduling (on by default since v0.14): the engine schedules step N + 1 while step N runs,
    // when step N starts (EngineCore.step_with_batch_queue, two batches in flight), so a request that reaches the
    // engine during step N cannot join N + 1: a step that follows the previous one at once admits only requests
    // that entered before that step started. Where that would leave the step empty (nothing else to run), vLLM's
    // N + 1 is an empty batch and the request runs right after N: it is admitted then.
    // Likewise a request that finishes in step N still holds its KV blocks and its seat when N + 1 is planned
    // (vLLM takes N's outputs only after planning N + 1, and its scheduler skips such a request but keeps it
    // in `running`): they are free for N + 2 (or at once, where N + 1 would be empty or the engine was idle).
    bool async_scheduling = false;
};

// When may waiting requests be admitted? Picked by name from admission_policy_names().
class AdmissionPolicy {
public:
    virtual ~AdmissionPolicy() = default;
    virtual bool may_admit(int64_t running) const = 0;
    // Whether an admission round takes up to max_num_seqs requests even past the step's token budget.
    virtual bool fills_batch() const { return false; }
};
std::unique_ptr<AdmissionPolicy> make_admission_policy(const std::string& name);
std::vector<std::string> admission_policy_names();

// The KV blocks of each DP rank's own cache when a replica of `ranks` DP ranks has `num_blocks` in all.
int64_t kv_blocks_per_rank(int64_t num_blocks, int64_t ranks);

class Scheduler {
public:
    Scheduler(const SchedulerConfig& config, SchedulerObserver* observer = nullptr);

    // Queues a request (rejected at once if it could never be served); returns its index. A request that has
    // left (finished, rejected, given up) keeps its index only until the next add_request, which may take it
    // over: the scheduler holds the requests in flight, not every request it has seen.
    int64_t add_request(const Request& r, double now_s);
    // Plans the next step; preemptions happen here. The second form fills `plan` in place (reusing its storage).
    StepPlan schedule(double now_s);
    void schedule(double now_s, StepPlan& plan);
    // Applies a finished step: advances computed tokens, emits tokens, finishes requests.
    void complete(const StepPlan& plan, double now_s);
    // Frees the blocks a finished hold_kv request kept, and its slot.
    void release(int64_t index);

    bool has_work() const { return !running_.empty() || !waiting_.empty(); }
    int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
    int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
    // KV blocks: all, free (cached ones included) and in use, over every DP rank's cache
    int64_t kv_blocks() const;
    int64_t kv_free() const;
    int64_t kv_used() const { return kv_blocks() - kv_free(); }
    const RequestState& request(int64_t index) const { return requests_[index]; }
    // Slots held: the most requests in flight at once so far.
    int64_t num_slots() const { return static_cast<int64_t>(requests_.size()); }
    const SchedulerConfig& config() const { return config_; }
    int64_t blocks_needed(int64_t tokens) const;
    // Tokens of `r`'s prompt this replica's prefix cache holds now (for a cache-aware router).
    int64_t cached_prefix_tokens(const Request& r) const;
    // Why the last waiting request could not be admitted: "kv" (no blocks), "seqs" (max_num_seqs),
    // "budget" (token budget spent), "async" (it entered after this step was planned, SchedulerConfig::
    // async_scheduling), "" (nothing waiting or all admitted).
    const std::string& admission_blocker() const { return blocker_; }

private:
    void retire(RequestState& r, RequestStatus status);
    void preempt(int64_t index, double now_s);
    void abort(int64_t index);
    void abort_expired(double now_s);
    void finish(int64_t index, double now_s);
    // async scheduling: frees the blocks and seats of the requests that finished in the last step
    // (lingering_)
    void release_lingering();
    // seats taken towards max_num_seqs: the running requests and those that linger
    int64_t seats_taken() const { return static_cast<int64_t>(running_.size() + lingering_.size()); }
    // DP ranks: a request's count in its rank's waiting or running tally (by its status), added (+1) or taken (-1)
    void tally(const RequestState& r, int64_t d);
    // Admits waiting request `index` with `room` tokens of budget (a chunk of at most `chunk`): the tokens it takes
    // this step, or NO_ROOM (without chunking its prompt does not fit) or NO_KV (no blocks); it stays queued then.
    static constexpr int64_t NO_ROOM = -1, NO_KV = -2;
    int64_t admit(int64_t index, int64_t room, int64_t chunk, double now_s, StepPlan& plan);
    void admit_ranked(double now_s, StepPlan& plan, int64_t budget, int64_t chunk, double until_s);
    // Admits waiting requests that entered by `until_s` (async scheduling; infinity: all), FCFS.
    void admit_waiting(double now_s, StepPlan& plan, int64_t budget, int64_t chunk, double until_s);

    SchedulerConfig config_;
    SchedulerObserver* observer_;
    std::unique_ptr<AdmissionPolicy> policy_;
    // one KV cache per DP rank (vLLM's DP ranks are engines of their own, each with its cache and prefix
    // cache), of rank_blocks_ blocks each; a single one without DP
    std::vector<KvCacheManager> pools_;
    int64_t rank_blocks_ = 0;
    KvCacheManager& kv_of(const RequestState& r) { return pools_[static_cast<size_t>(r.rank)]; }
    std::vector<RequestState> requests_;  // slots; those of requests that have left are listed in free_slots_
    std::vector<int64_t> free_slots_;
    std::vector<int64_t> running_;  // in admission order; the back is the newest
    std::deque<int64_t> waiting_;
    // async scheduling: requests that finished in the last step, holding their blocks and seats (and their DP
    // rank's running tally) until the step after it is planned
    std::vector<int64_t> lingering_;
    std::string blocker_;
    bool has_deadlines_ = false;
    // async scheduling: when the last step was planned and when the last step completed (-1: never)
    double last_schedule_s_ = -1.0, last_complete_s_ = -1.0;
    // DP ranks (config_.ranks > 1): waiting and running requests per rank, and this step's token budget per rank
    std::vector<int64_t> rank_waiting_, rank_running_, rank_budget_;
    std::vector<char> rank_blocked_, rank_preempted_;
};

}  // namespace headroom
