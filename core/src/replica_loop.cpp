// The serving loop of one deployment (see replica_loop.hpp).
#include "headroom/core/replica_loop.hpp"

#include "headroom/core/speculative.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace headroom {

struct ReplicaLoop::Replica {
    int32_t index = 0;
    std::unique_ptr<MetricsCollector> collector;
    std::unique_ptr<Scheduler> scheduler;
    int64_t outstanding = 0;  // requests routed here and not done
    bool busy = false;        // a step is in flight
    double end_s = 0.0;       // when it ends
    bool stepped = false;     // it has run a step (end_s is the last one's end)
    StepPlan plan;
    std::unique_ptr<Rng> spec_rng;  // speculative decoding: the accepted drafts' draws
    // a step whose collectives are on the fabric: its sample and run, kept until its flows end, and what it
    // takes after them
    StepSample fabric_st;
    StepRun fabric_run;
    double rest_s = 0.0;
    int fabric_groups = 0;                // its flow groups (bit 0: rings and all-to-all; bit 1: stage hops)
    int fabric_left = 0;                  // of those, still running
    double fabric_end_s[2] = {0.0, 0.0};  // when each group ended
};

// A session whose turns wait for each other (multi-turn, or any closed-loop session).
struct ReplicaLoop::LiveSession {
    Session session;
    size_t turn = 0;
    int64_t user = -1;        // closed loop: the user who runs it
    int64_t previous = -1;    // the record of the turn before
    int64_t history = 0;      // tokens of the conversation so far (prompt + answer of the turn before)
    int32_t replica = -1;     // where its previous turn went (session_affinity)
};

ReplicaLoop::ReplicaLoop(const WorkloadSpec& workload, uint64_t seed, const ServingConfig& config,
                         const StepTimePredictor& predictor, StepRunner& runner, LoopClock& clock, RecordingOptions recording)
    : workload_(workload),
      seed_(seed),
      config_(config),
      predictor_(predictor),
      runner_(runner),
      clock_(clock),
      stats_(std::move(recording), static_cast<int32_t>(config.replicas)) {
    for (int64_t i = 0; i < config_.replicas; ++i) {
        auto r = std::make_unique<Replica>();
        r->index = static_cast<int32_t>(i);
        r->collector = std::make_unique<MetricsCollector>(static_cast<RecordStore&>(*this), r->index);
        Replica* raw = r.get();
        r->collector->on_done = [this, raw](int64_t record) {
            --raw->outstanding;
            finished_.push_back(record);
        };
        r->collector->on_prefilled = [this, raw](int64_t record) {
            --raw->outstanding;
            prefilled_.push_back(record);
        };
        r->scheduler = std::make_unique<Scheduler>(config_.scheduler_of(i), r->collector.get());
        r->spec_rng = std::make_unique<Rng>(derive_seed(seed_, 0x5bec0000ULL + static_cast<uint64_t>(i)));
        replicas_.push_back(std::move(r));
    }
    predictors_.assign(replicas_.size(), &predictor_);
    router_ = make_router(config_.router);
    const DisaggregationSettings& d = config_.disaggregation;
    if (d.enabled()) {
        if (d.prefill_replicas >= config_.replicas) throw std::invalid_argument("disaggregation: no decode replica left");
        decision_ = make_prefill_decision(d);
        decode_router_ = make_decode_router(d.decode_router);
        kv_incoming_.assign(replicas_.size(), 0);
    }
}

ReplicaLoop::~ReplicaLoop() = default;

const Scheduler& ReplicaLoop::scheduler(int32_t replica) const { return *replicas_.at(static_cast<size_t>(replica))->scheduler; }

void ReplicaLoop::set_disaggregation(KvTransport* transport, std::vector<const StepTimePredictor*> replica_predictors) {
    transport_ = transport;
    if (!replica_predictors.empty()) {
        if (replica_predictors.size() != replicas_.size()) throw std::invalid_argument("set_disaggregation: one predictor per replica");
        predictors_ = std::move(replica_predictors);
    }
}

void ReplicaLoop::set_network(KvTransport* network) {
    if (transport_ && network && transport_ != network) throw std::invalid_argument("set_network: one network per loop");
    if (network) transport_ = network;
    collectives_ = network != nullptr;
}

void ReplicaLoop::push(double t_s, EventKind kind, int64_t index) { events_.push(Event{t_s, order_++, kind, index}); }

bool ReplicaLoop::stopped() const {
    if (config_.stop_s > 0 && now_ >= config_.stop_s) return true;
    if (workload_.arrival != "closed_loop") return false;
    if (workload_.duration_s > 0 && now_ >= workload_.duration_s) return true;
    return workload_.max_requests > 0 && started_ >= workload_.max_requests;
}

int64_t ReplicaLoop::new_record(const Session& s, int64_t turn, int64_t prompt, int64_t output, double arrival_s,
                                int64_t previous) {
    RequestRecord r;
    r.id = first_id_ + static_cast<int64_t>(window_.size());
    r.session = s.id;
    r.turn = turn;
    r.arrival_s = arrival_s;
    r.api_s = config_.api_server.time_s(prompt);
    r.prompt_tokens = prompt;
    r.output_tokens = output;
    Origin o;
    o.content_id = s.content_id;
    o.prefix_id = s.prefix_id;
    o.prefix_tokens = s.prefix_tokens;
    if (turn == 0 && s.prompt_blocks) {  // a trace row: its prompt blocks are the first turn's
        o.prompt_blocks = s.prompt_blocks;
        o.prompt_block_tokens = s.prompt_block_tokens;
    }
    window_.push_back({r, std::move(o), false});
    window_peak_ = std::max<int64_t>(window_peak_, static_cast<int64_t>(window_.size()));
    ++started_;
    runner_.on_request(window_.back().rec, s, previous);
    return r.id;
}

Request ReplicaLoop::request_of(int64_t record) const {
    const Slot& sl = slot(record);
    const RequestRecord& rec = sl.rec;
    Request req;
    req.id = rec.id;
    req.arrival_s = rec.arrival_s;
    req.prompt_tokens = rec.prompt_tokens;
    req.output_tokens = rec.output_tokens;
    if (config_.scheduler.prefix_caching) {
        req.content_id = sl.origin.content_id;
        req.prefix_id = sl.origin.prefix_id;
        req.prefix_tokens = sl.origin.prefix_tokens;
        req.prompt_blocks = sl.origin.prompt_blocks;
        req.prompt_block_tokens = sl.origin.prompt_block_tokens;
    }
    if (workload_.timeout_s > 0) req.deadline_s = rec.arrival_s + workload_.timeout_s;
    return req;
}

void ReplicaLoop::enter(int64_t record) {
    Request req = request_of(record);
    ++entered_;
    const DisaggregationSettings& d = config_.disaggregation;
    if (d.enabled()) {
        const auto pool = static_cast<size_t>(d.prefill_replicas);
        Origin& o = slot(record).origin;
        Replica* cached = nullptr;  // prefix_cache: the decode replica that caches most of the prompt
        int64_t hit = 0;
        if (decision_->reads_cache()) {
            for (size_t i = pool; i < replicas_.size(); ++i) {
                const int64_t h = replicas_[i]->scheduler->cached_prefix_tokens(req);
                if (!cached || h > hit) cached = replicas_[i].get(), hit = h;
            }
        }
        if (decision_->disaggregate(req.prompt_tokens, hit)) {  // prefill pool: the least loaded replica
            Replica* p = replicas_[0].get();
            for (size_t i = 1; i < pool; ++i) {
                if (replicas_[i]->outstanding < p->outstanding) p = replicas_[i].get();
            }
            req.output_tokens = 0;
            req.hold_kv = true;
            o.prefill_replica = p->index;
            ++p->outstanding;
            o.held_index = p->scheduler->add_request(req, now_);
            return;
        }
        Replica& t = cached && hit > 0 ? *cached : pick_decode();  // prefills on its decode replica
        o.decode_replica = t.index;
        ++t.outstanding;
        t.scheduler->add_request(req, now_);
        return;
    }
    route_.resize(replicas_.size());
    const bool cache = router_->reads_cache();
    for (size_t i = 0; i < replicas_.size(); ++i) {
        route_[i] = {replicas_[i]->outstanding, cache ? replicas_[i]->scheduler->cached_prefix_tokens(req) : 0};
    }
    const int64_t live = slot(record).origin.live;
    LiveSession* ls = live >= 0 ? live_[static_cast<size_t>(live)].get() : nullptr;
    Replica& target = *replicas_[router_->pick(route_, req.prompt_tokens, ls ? ls->replica : -1)];
    if (ls) ls->replica = target.index;
    ++target.outstanding;
    target.scheduler->add_request(req, now_);
}

// The decode replica the decode router picks, seeing each one's KV blocks in use and on their way to it.
ReplicaLoop::Replica& ReplicaLoop::pick_decode() {
    const auto pool = static_cast<size_t>(config_.disaggregation.prefill_replicas);
    decode_cands_.clear();
    for (size_t i = pool; i < replicas_.size(); ++i) {
        const int64_t kv = replicas_[i]->scheduler->kv_used() + kv_incoming_[i];
        decode_cands_.push_back({kv, replicas_[i]->outstanding});
    }
    return *replicas_[pool + decode_router_->pick(decode_cands_)];
}

// Prefills that ended: each request's KV leaves for the decode replica the router picks (its blocks there are
// counted as on their way until it arrives).
void ReplicaLoop::prefilled() {
    if (prefilled_.empty()) return;
    if (!transport_) throw std::logic_error("a disaggregated deployment needs a KV transport (set_disaggregation)");
    for (const int64_t record : prefilled_) {
        Slot& sl = slot(record);
        Replica& d = pick_decode();
        sl.origin.decode_replica = d.index;
        sl.origin.kv_blocks = d.scheduler->blocks_needed(sl.rec.prompt_tokens);
        kv_incoming_[static_cast<size_t>(d.index)] += sl.origin.kv_blocks;
        ++d.outstanding;
        sl.rec.kv_bytes = static_cast<double>(sl.rec.prompt_tokens) * config_.disaggregation.kv_bytes_per_token;
        transport_->start(record, sl.origin.prefill_replica, d.index, sl.rec.kv_bytes, now_);
    }
    prefilled_.clear();
}

// A request's KV has reached its decode replica: the prefill replica frees its blocks, and the request joins the
// decode replica's queue with its prompt's KV in place but for the last token, whose step makes the first token
// (as vLLM's decode side computes the last prompt token itself).
void ReplicaLoop::kv_arrived(int64_t record) {
    Slot& sl = slot(record);
    Origin& o = sl.origin;
    replicas_[static_cast<size_t>(o.prefill_replica)]->scheduler->release(o.held_index);
    kv_incoming_[static_cast<size_t>(o.decode_replica)] -= o.kv_blocks;
    sl.rec.kv_arrived_s = now_;
    Request req = request_of(record);
    req.precomputed_tokens = std::max<int64_t>(0, req.prompt_tokens - 1);
    replicas_[static_cast<size_t>(o.decode_replica)]->scheduler->add_request(req, now_);
}

// The session's next turn, after its delay: the prompt carries the conversation so far.
void ReplicaLoop::start_turn(int64_t live, double at_s) {
    LiveSession& ls = *live_[static_cast<size_t>(live)];
    if (stopped()) {
        end_session(live, at_s);
        return;
    }
    const Turn& turn = ls.session.turns[ls.turn];
    const int64_t record = new_record(ls.session, static_cast<int64_t>(ls.turn), ls.history + turn.new_prompt_tokens,
                                      turn.output_tokens, at_s, ls.previous);
    window_.back().origin.live = live;
    const double api_s = window_.back().rec.api_s;
    if (api_s > 0) {
        push(at_s + api_s, EventKind::ENTER, record);
    } else {
        enter(record);
    }
}

// A closed-loop user's next session: drawn now, or the trace's next row (none left: the user stops).
void ReplicaLoop::next_session(int64_t user, double at_s) {
    if (stopped()) return;
    if (!workload_.trace.empty() && next_trace_row_ >= workload_.trace.size()) return;
    const int64_t live =
        new_live(workload_.trace.empty()
                     ? make_session(workload_, user_rng_[static_cast<size_t>(user)], next_session_id_++, at_s)
                     : trace_session(workload_, next_trace_row_++, next_session_id_++, at_s),
                 user);
    if (live_[static_cast<size_t>(live)]->session.turns.empty()) {
        end_session(live, at_s);
    } else {
        begin_turn(live, at_s);
    }
}

// The session's current turn starts after its delay (think time, tool or retrieval latency), or now.
void ReplicaLoop::begin_turn(int64_t live, double at_s) {
    const LiveSession& ls = *live_[static_cast<size_t>(live)];
    const double delay = ls.session.turns[ls.turn].delay_before_s;
    if (delay > 0) {
        push(at_s + delay, EventKind::TURN, live);
    } else {
        start_turn(live, at_s);
    }
}

// A session is over; its closed-loop user thinks, then starts the next one.
void ReplicaLoop::end_session(int64_t live, double at_s) {
    const int64_t user = live_[static_cast<size_t>(live)]->user;
    free_live(live);
    if (user < 0) return;
    double think = 0.0;
    if (workload_.user_think_time_s) {
        think = std::max(0.0, workload_.user_think_time_s->sample(user_rng_[static_cast<size_t>(user)]));
    }
    if (think > 0) {
        push(at_s + think, EventKind::USER, user);
    } else {
        next_session(user, at_s);
    }
}

// Single turns reach the engine at their arrival (after any retrieval latency) plus their API-server time,
// each on its own; a multi-turn session starts at its start time. Their events order before any other at the
// same time, in start order (as if every session had been queued at the start).
void ReplicaLoop::draw_sessions(double t_s) {
    while (has_next_open_ && next_open_.start_s <= t_s) {
        Session s = std::move(next_open_);
        has_next_open_ = source_->next(next_open_);
        if (s.turns.empty()) continue;
        const double start_s = s.start_s;
        const Turn first = s.turns[0];
        const bool single = s.turns.size() == 1;
        const int64_t live = new_live(std::move(s), -1);
        const double t = single ? start_s + first.delay_before_s + config_.api_server.time_s(first.new_prompt_tokens) : start_s;
        events_.push(Event{t, open_order_++, single ? EventKind::SINGLE : EventKind::SESSION, live});
    }
}

int64_t ReplicaLoop::new_live(Session s, int64_t user) {
    auto ls = std::make_unique<LiveSession>();
    ls->session = std::move(s);
    ls->user = user;
    if (!free_live_.empty()) {
        const int64_t live = free_live_.back();
        free_live_.pop_back();
        live_[static_cast<size_t>(live)] = std::move(ls);
        return live;
    }
    live_.push_back(std::move(ls));
    return static_cast<int64_t>(live_.size() - 1);
}

void ReplicaLoop::free_live(int64_t live) {
    live_[static_cast<size_t>(live)].reset();
    free_live_.push_back(live);
}

void ReplicaLoop::handle(const Event& e) {
    switch (e.kind) {
    case EventKind::SINGLE: {  // an open-loop single turn reaches the engine after its API-server time
        const Session& s = live_[static_cast<size_t>(e.index)]->session;
        if (!stopped()) {
            const int64_t record = new_record(s, 0, s.turns[0].new_prompt_tokens, s.turns[0].output_tokens,
                                              s.start_s + s.turns[0].delay_before_s, -1);
            enter(record);
        }
        free_live(e.index);
        return;
    }
    case EventKind::SESSION:  // a multi-turn open-loop session starts
        begin_turn(e.index, e.t_s);
        return;
    case EventKind::TURN:  // the event's time, not now_: on the wall clock a request due during a step waits
        start_turn(e.index, e.t_s);
        return;
    case EventKind::ENTER:
        enter(e.index);
        return;
    case EventKind::USER:
        next_session(e.index, e.t_s);
        return;
    }
}

// Requests that finished (or were rejected, or gave up): their sessions' next turns.
void ReplicaLoop::follow_up() {
    for (size_t i = 0; i < finished_.size(); ++i) {  // end_session may finish more (a rejected first turn)
        const int64_t record = finished_[i];
        Slot& done = slot(record);
        done.done = true;
        const RequestRecord& rec = done.rec;
        const int64_t live = done.origin.live;
        LiveSession* ls = live >= 0 ? live_[static_cast<size_t>(live)].get() : nullptr;
        const bool continued = ls && !rec.rejected && !rec.failed && ls->turn + 1 < ls->session.turns.size();
        runner_.on_request_done(rec, continued);
        if (!ls) continue;
        const double at_s = rec.finish_s >= 0 ? rec.finish_s : now_;
        if (!continued) {
            end_session(live, at_s);
            continue;
        }
        ls->history = rec.prompt_tokens + rec.generated;
        ls->previous = record;
        ++ls->turn;
        begin_turn(live, at_s);
    }
    finished_.clear();
    while (!window_.empty() && window_.front().done) {  // records leave in id order, once all older ones are done
        stats_.add_request(window_.front().rec);
        window_.pop_front();
        ++first_id_;
    }
}

void ReplicaLoop::start_step(Replica& r) {
    Scheduler& s = *r.scheduler;
    s.schedule(now_, r.plan);
    if (r.plan.empty()) return;
    work_.clear();
    const bool ranked = s.config().ranks > 1;
    for (const ScheduledSeq& q : r.plan.seqs) work_.push_back({q.new_tokens, q.context, q.spec_tokens, ranked ? q.rank : -1});
    StepSample st;
    st.t_s = now_;
    st.replica = r.index;
    st.running = static_cast<int32_t>(s.num_running());
    st.waiting = static_cast<int32_t>(s.num_waiting());
    st.decodes = static_cast<int32_t>(r.plan.decodes);
    st.tokens = r.plan.tokens;
    st.prefill_tokens = r.plan.prefill_tokens;
    st.kv_used = static_cast<float>(static_cast<double>(s.kv_used()) / s.kv_blocks());
    st.preempted = static_cast<int32_t>(r.plan.preempted);
    StepRun run = runner_.run(r.index, s, r.plan, work_);
    // pipeline parallelism: a step that does not follow the previous one at once starts from an empty pipeline
    if (run.cost.pipeline_fill_s > 0.0 && !(r.stepped && r.end_s == now_)) {
        const double f = run.cost.pipeline_s > 0.0 ? (run.cost.pipeline_s + run.cost.pipeline_fill_s) / run.cost.pipeline_s : 1.0;
        for (int b = 0; b < 3; ++b) run.cost.time_by_bound_s[b] *= f;  // the stages' bounds, stretched by the fill
        run.dt_s += run.cost.pipeline_fill_s;
        run.cost.time_s += run.cost.pipeline_fill_s;
        run.cost.pipeline_s += run.cost.pipeline_fill_s;
    }
    // async scheduling: nothing ran before this step to hide its host time behind
    if (run.cost.host_hidden_s > 0.0 && !(r.stepped && r.end_s == now_)) {
        run.dt_s += run.cost.host_hidden_s;
        run.cost.time_s += run.cost.host_hidden_s;
        run.cost.time_by_bound_s[static_cast<int>(Bound::OVERHEAD)] += run.cost.host_hidden_s;
        run.cost.host_hidden_s = 0.0;
    }
    for (ScheduledSeq& q : r.plan.seqs) {  // how many drafts each verify accepts, drawn in plan order
        if (q.spec_tokens > 0) q.accepted = sample_accepted(config_.speculative, q.spec_tokens, *r.spec_rng);
    }
    r.busy = true;
    r.stepped = true;
    const FabricTraffic& f = run.cost.fabric;
    if (collectives_ && f.any() && !transport_->carries_collectives(r.index)) {
        transport_->count_collectives(r.index, f);  // closed form: the link report counts its bytes
    } else if (collectives_ && f.any()) {
        // the collectives across NVLink domains as flows on the cluster (tags -1 - 2 i: rings and all-to-all,
        // -2 - 2 i: stage hops); the step ends when its flows have (fabric_done)
        const int64_t tag = -1 - 2 * static_cast<int64_t>(r.index);
        const int started = transport_->start_collectives(tag, tag - 1, r.index, f, now_);
        if (started != 0) {
            r.fabric_st = st;
            r.fabric_run = run;
            r.rest_s = std::max(0.0, run.dt_s - f.time_s + f.latency_s - transport_->collective_latency_s(r.index));
            r.fabric_groups = started;
            r.fabric_left = (started & 1) + (started >> 1 & 1);
            r.fabric_end_s[0] = r.fabric_end_s[1] = now_;
            r.end_s = std::numeric_limits<double>::infinity();
            return;
        }
    }
    record_step(r, st, run);
}

void ReplicaLoop::record_step(Replica& r, StepSample st, const StepRun& run) {
    st.dt_s = run.dt_s;
    // the engine's own accounting of where step time goes (see Accounting)
    const double waiting = accounting_.waiting_s;
    account_step(accounting_, *r.scheduler, r.plan, run.dt_s, run.cost,
                 decodes_alone_s(*predictors_[static_cast<size_t>(r.index)], r.plan, decodes_));
    if (r.index < config_.disaggregation.prefill_replicas) accounting_.prefill_waiting_s += accounting_.waiting_s - waiting;
    stats_.add_step(st);
    r.end_s = st.t_s + run.dt_s;
}

void ReplicaLoop::fabric_done(Replica& r, int group) {
    r.fabric_end_s[group] = now_;
    if (--r.fabric_left > 0) return;
    // the flows have ended: the step took this long, the difference from the closed form on the fabric
    StepRun run = r.fabric_run;
    const FabricTraffic& f = run.cost.fabric;
    double dt = now_ - r.fabric_st.t_s + r.rest_s;
    if (f.pipelined) {
        // each group's bandwidth terms ran x (rings, all-to-all) and y (stage hops) times the closed form's; the
        // round grows as FabricTraffic::round_s says, and ends no sooner than its flows
        auto slowdown = [&](int g, double bw_s) {
            const double ran = r.fabric_end_s[g] - r.fabric_st.t_s - transport_->collective_latency_s(r.index, g == 1);
            return (r.fabric_groups >> g & 1) != 0 && bw_s > 0.0 ? ran / bw_s : 1.0;
        };
        const double x = slowdown(0, f.ring_bw_s), y = slowdown(1, f.hop_bw_s);
        dt = std::max(run.dt_s + f.round_s(x, y) - f.round_s(1.0, 1.0), now_ - r.fabric_st.t_s);
    }
    const double extra = dt - run.dt_s;
    run.cost.time_s += extra;
    run.cost.time_by_bound_s[static_cast<int>(Bound::COMMUNICATION)] += extra;
    run.dt_s = dt;
    record_step(r, r.fabric_st, run);
}

void ReplicaLoop::run() {
    now_ = clock_.now();
    if (workload_.arrival == "closed_loop") {
        for (int64_t u = 0; u < workload_.users; ++u) {
            user_rng_.emplace_back(derive_seed(seed_, static_cast<uint64_t>(u)));
            push(now_, EventKind::USER, u);
        }
    } else {
        source_ = std::make_unique<OpenLoopSource>(workload_, seed_);
        has_next_open_ = source_->next(next_open_);
    }
    constexpr double NEVER = std::numeric_limits<double>::infinity();
    for (;;) {
        for (auto& r : replicas_) {  // steps that have ended
            if (r->busy && r->end_s <= now_) {
                r->busy = false;
                r->scheduler->complete(r->plan, r->end_s);
            }
        }
        follow_up();
        prefilled();
        draw_sessions(now_);
        while (!events_.empty() && events_.top().t_s <= now_) {  // arrivals
            const Event e = events_.top();
            events_.pop();
            handle(e);
            follow_up();  // a rejected request ends its turn at once
        }
        for (auto& r : replicas_) {  // idle replicas plan their next step
            if (!r->busy && r->scheduler->has_work()) start_step(*r);
        }
        const int64_t entered = entered_;
        follow_up();  // requests that gave up at their timeout while being scheduled
        if (entered_ != entered) continue;  // their follow-ups reached an idle replica: plan again now
        double next = NEVER;
        bool idle_with_work = false;
        for (const auto& r : replicas_) {
            if (r->busy) next = std::min(next, r->end_s);
            idle_with_work = idle_with_work || (!r->busy && r->scheduler->has_work());
        }
        for (;;) {  // the sessions that start by then have their events in the queue
            if (!events_.empty()) next = std::min(next, events_.top().t_s);
            if (!has_next_open_ || next_open_.start_s > next) break;
            draw_sessions(next_open_.start_s);
        }
        const bool moving = transport_ && transport_->busy();  // KV transfers in flight
        if (next == NEVER && !moving) {
            if (idle_with_work) throw std::logic_error("a scheduler holds work it does not plan");
            break;
        }
        if (moving) {  // wake at the next event or when a transfer ends, whichever is first
            ended_.clear();
            now_ = std::max(now_, transport_->wait_until(next, ended_));
            for (const int64_t tag : ended_) {
                if (tag >= 0) {
                    kv_arrived(tag);
                } else {
                    fabric_done(*replicas_[static_cast<size_t>((-1 - tag) / 2)], static_cast<int>((-1 - tag) % 2));
                }
            }
        } else if (next > now_) {
            now_ = clock_.wait_until(next);
        }
    }
}

}  // namespace headroom
