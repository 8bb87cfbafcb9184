// The serving loop of one deployment, for the simulator and the executor alike: the workload's sessions and
// closed-loop users, the API server in front of the engine, the router, and each replica's engine loop over
// its scheduler (vLLM V1's EngineCore.step: take in what has arrived, schedule, run the step, emit tokens).
// Only time and the step differ between the two users, so both are passed in:
// - a LoopClock: the SimGrid clock (sim/), the wall clock (executor/ on a GPU), or a plain counter;
// - a StepRunner: the predictor's step time (sim/), or the executor running the step and timing it.
// One event loop, in time order; events at the same time in this order: steps that end (replica order), the
// follow-up turns they release, arrivals (creation order), then each idle replica plans its next step. So a
// request that arrives exactly when a step ends is in the next step, as vLLM drains its input queue before
// it schedules.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "headroom/core/deployment.hpp"
#include "headroom/core/kv_transport.hpp"
#include "headroom/core/metrics.hpp"
#include "headroom/core/router.hpp"
#include "headroom/core/run_stats.hpp"
#include "headroom/core/scheduler.hpp"
#include "headroom/core/step_predictor.hpp"
#include "headroom/core/workload.hpp"

namespace headroom {

class LoopClock {
public:
    virtual ~LoopClock() = default;
    virtual double now() const = 0;
    // Waits until `t_s` and returns the time the loop goes on at: `t_s` for a simulated clock, the time it
    // woke (never earlier than t_s) for the wall clock. Returns at once when t_s has passed.
    virtual double wait_until(double t_s) = 0;
};

// A clock that only moves when it is told to: the loop runs as fast as it can in simulated time.
class VirtualClock : public LoopClock {
public:
    double now() const override { return t_s_; }
    double wait_until(double t_s) override { return t_s_ = std::max(t_s_, t_s); }

private:
    double t_s_ = 0.0;
};

struct StepRun {
    double dt_s = 0.0;  // the step's duration
    StepTotals cost;    // the predictor's breakdown of the step (for the accounting)
};

// Runs one planned step of one replica. Called at the step's start; the step ends dt_s later on the loop's
// clock (a runner that blocks, like a real executor, returns the time it took).
class StepRunner {
public:
    virtual ~StepRunner() = default;
    virtual StepRun run(int32_t replica, const Scheduler& s, const StepPlan& plan, const std::vector<SequenceWork>& work) = 0;
    // A request was created: a session's turn (`previous`: the record of the turn before it, or -1).
    virtual void on_request(const RequestRecord&, const Session&, int64_t /*previous*/) {}
    // A request finished (or was rejected or gave up); `continued`: a later turn of its session follows.
    virtual void on_request_done(const RequestRecord&, bool /*continued*/) {}
};

// The predictor's step time: the simulator's step runner.
class PredictedStepRunner : public StepRunner {
public:
    explicit PredictedStepRunner(const StepTimePredictor& p) : p_(p) {}
    StepRun run(int32_t, const Scheduler&, const StepPlan&, const std::vector<SequenceWork>& work) override {
        StepRun r;
        r.cost = p_.step_totals(work);
        r.dt_s = r.cost.time_s;
        return r;
    }

private:
    const StepTimePredictor& p_;
};

// Memory follows the requests in flight: open-loop sessions are drawn as their start comes near, a request's
// record lives in a window of those in flight until it and every older one are done, and then goes to the
// RunStats (and, per its options, to a callback or a kept list); the scheduler reuses finished requests' slots.
class ReplicaLoop : private RecordStore {
public:
    ReplicaLoop(const WorkloadSpec& workload, uint64_t seed, const ServingConfig& config, const StepTimePredictor& predictor,
                StepRunner& runner, LoopClock& clock, RecordingOptions recording = {});
    ~ReplicaLoop() override;
    ReplicaLoop(const ReplicaLoop&) = delete;
    ReplicaLoop& operator=(const ReplicaLoop&) = delete;

    // A disaggregated deployment (ServingConfig::disaggregation): how KV moves from the prefill pool to the
    // decode pool, and each replica's step-time predictor (its pool's GPU and TP), for the accounting. Set
    // before run(); the loop does not own them.
    void set_disaggregation(KvTransport* transport, std::vector<const StepTimePredictor*> replica_predictors);
    // The cluster's network (the same object as a disaggregated deployment's transport, if any): a step whose
    // predictor reports FabricTraffic, on a replica whose collectives the network carries, sends it as flows and
    // ends when they do, plus the rest of the step (a pipelined round: as much longer as FabricTraffic::round_s
    // says for the flows' slowdown, and no sooner than they end); the step is accounted when it ends. Set
    // before run().
    void set_network(KvTransport* network);

    // Serves the workload to its end: every request finished, rejected or given up.
    void run();

    RunStats& stats() { return stats_; }
    const RunStats& stats() const { return stats_; }
    // The kept records (RecordingOptions::keep_requests), in id order, and the kept steps.
    std::vector<RequestRecord> take_requests() { return stats_.take_requests(); }
    std::vector<StepSample> take_steps() { return stats_.take_steps(); }
    const Accounting& accounting() const { return accounting_; }
    const Scheduler& scheduler(int32_t replica) const;
    double now() const { return now_; }
    // Requests whose records are held now (in flight, or done behind an older one still in flight).
    int64_t records_held() const { return static_cast<int64_t>(window_.size()); }
    int64_t records_held_peak() const { return window_peak_; }

private:
    struct Replica;
    struct LiveSession;
    enum class EventKind { SINGLE, SESSION, TURN, ENTER, USER };
    struct Event {
        double t_s;
        uint64_t order;  // ties: open-loop sessions in start order first, then the rest in creation order
        EventKind kind;
        int64_t index;   // SINGLE, SESSION, TURN: live session; ENTER: record; USER: user
        bool operator>(const Event& o) const { return t_s != o.t_s ? t_s > o.t_s : order > o.order; }
    };
    struct Origin {  // per record: what the scheduler needs of its session, and the session
        uint64_t content_id = 0, prefix_id = 0;
        int64_t prefix_tokens = 0;
        std::shared_ptr<const std::vector<uint64_t>> prompt_blocks;  // a trace row's (Session::prompt_blocks)
        int64_t prompt_block_tokens = 0;
        int64_t live = -1;  // its live session, or -1 (an open-loop single turn)
        // disaggregated: its prefill replica and its index in that scheduler (held blocks), its decode replica
        int32_t prefill_replica = -1, decode_replica = -1;
        int64_t held_index = -1;
        int64_t kv_blocks = 0;  // blocks it will take on its decode replica (for least_kv while on its way)
    };
    struct Slot {
        RequestRecord rec;
        Origin origin;
        bool done = false;
    };

    RequestRecord& record(int64_t id) override { return slot(id).rec; }
    void add_itl(double gap_s) override { stats_.add_itl(gap_s); }
    Slot& slot(int64_t id) { return window_[static_cast<size_t>(id - first_id_)]; }
    const Slot& slot(int64_t id) const { return window_[static_cast<size_t>(id - first_id_)]; }

    void push(double t_s, EventKind kind, int64_t index);
    void handle(const Event& e);
    bool stopped() const;
    // Open-loop sessions that start by `t_s` get their first event (the next is drawn one ahead).
    void draw_sessions(double t_s);
    int64_t new_live(Session s, int64_t user);
    void free_live(int64_t live);
    // `at_s`: when it happens (an event's due time, or when the turn before finished)
    void begin_turn(int64_t live, double at_s);
    void start_turn(int64_t live, double at_s);
    void next_session(int64_t user, double at_s);
    void end_session(int64_t live, double at_s);
    int64_t new_record(const Session& s, int64_t turn, int64_t prompt, int64_t output, double arrival_s, int64_t previous);
    void enter(int64_t record);
    Request request_of(int64_t record) const;
    // disaggregated: a prefill ended (start its KV transfer), a transfer ended (hand it to its decode replica)
    void prefilled();
    Replica& pick_decode();
    void kv_arrived(int64_t record);
    void start_step(Replica& r);
    // a step's stats and accounting, and its end (now, for a step on the fabric: when its flows ended)
    void record_step(Replica& r, StepSample st, const StepRun& run);
    void fabric_done(Replica& r, int group);  // group 0: rings and all-to-all; 1: stage hops
    void follow_up();

    const WorkloadSpec& workload_;
    uint64_t seed_;
    ServingConfig config_;
    const StepTimePredictor& predictor_;
    StepRunner& runner_;
    LoopClock& clock_;
    double now_ = 0.0;

    std::vector<std::unique_ptr<Replica>> replicas_;
    std::unique_ptr<OpenLoopSource> source_;  // open loop, trace and batch
    Session next_open_;                       // the next open-loop session, drawn one ahead
    bool has_next_open_ = false;
    uint64_t open_order_ = 0;
    std::vector<std::unique_ptr<LiveSession>> live_;  // sessions started and not over; slots reused
    std::vector<int64_t> free_live_;
    std::vector<Rng> user_rng_;
    std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
    uint64_t order_ = uint64_t{1} << 62;

    std::deque<Slot> window_;  // records first_id_, first_id_ + 1, ...
    int64_t first_id_ = 0;
    int64_t window_peak_ = 0;
    RunStats stats_;
    Accounting accounting_;
    std::vector<SequenceWork> work_, decodes_;
    std::vector<int64_t> finished_;
    std::vector<int64_t> prefilled_;  // disaggregated requests whose prefill just ended
    KvTransport* transport_ = nullptr;
    bool collectives_ = false;  // transport_ may carry collectives across NVLink domains (set_network)
    std::vector<const StepTimePredictor*> predictors_;  // per replica
    std::unique_ptr<Router> router_;
    std::vector<RouteCandidate> route_;
    std::unique_ptr<PrefillDecision> decision_;
    std::unique_ptr<DecodeRouter> decode_router_;
    std::vector<int64_t> kv_incoming_;  // per replica: blocks of transfers on their way to it
    std::vector<DecodeCandidate> decode_cands_;
    std::vector<int64_t> ended_;
    int64_t started_ = 0;
    int64_t entered_ = 0;  // requests handed to a scheduler
    int64_t next_session_id_ = 0;
    size_t next_trace_row_ = 0;  // the trace row a closed-loop user's next session takes, in time order
};

}  // namespace headroom
