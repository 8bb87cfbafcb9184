// The SimGrid part of headroom: platform, actors, and the step loop. Nothing else in sim/ includes SimGrid.
// Per event SimGrid costs about 0.7 us for sleep_for and 3 us for a mailbox transfer (build notes), so each
// engine step is one sleep_for and each arrival one mailbox message.
#include <simgrid/s4u.hpp>

#include <algorithm>
#include <chrono>
#include <memory>

#include "headroom/core/cost_model.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/core/kernel_table_predictor.hpp"

namespace sg4 = simgrid::s4u;

namespace headroom {

KvPlan scenario_kv_plan(const Scenario& sc) {
    KvPlanRequest r;
    r.tp = sc.tp;
    r.weight_dtype = sc.weight_dtype;
    r.kv_dtype = sc.kv_dtype;
    r.gpu_memory_utilization = sc.gpu_memory_utilization;
    r.block_size = sc.block_size;
    r.max_model_len = sc.max_model_len;
    r.max_num_batched_tokens = sc.max_num_batched_tokens;
    r.max_num_seqs = sc.max_num_seqs;
    r.reserve_bytes = sc.reserve_bytes;
    if (sc.model.is_encoder) {
        // An encoder keeps no KV cache; its "blocks" only bound how many tokens are in flight at once.
        KvPlan p;
        p.request = r;
        p.request.max_model_len = sc.max_model_len > 0 ? sc.max_model_len : sc.model.max_position_embeddings;
        p.fits = true;
        p.num_blocks = 1 << 20;
        return p;
    }
    KvPlan p = plan_kv(sc.model, sc.gpu, r);
    if (!p.fits) throw PlanError(sc.file.empty() ? "scenario" : sc.file, sc.model.name + " does not fit on " + sc.gpu.name + ": " + p.why_not);
    if (sc.kv_blocks_limit > 0) p.num_blocks = std::min(p.num_blocks, sc.kv_blocks_limit);
    return p;
}

SchedulerConfig scheduler_config(const Scenario& sc, const KvPlan& plan) {
    SchedulerConfig c;
    c.max_num_batched_tokens = sc.max_num_batched_tokens;
    c.max_num_seqs = sc.max_num_seqs;
    c.block_size = sc.block_size;
    c.num_blocks = plan.num_blocks;
    c.max_model_len = plan.request.max_model_len;
    c.chunked_prefill = sc.chunked_prefill;
    c.prefix_caching = sc.prefix_caching;
    c.policy = sc.policy;
    // A model whose every layer slides never holds more than window - 1 + budget tokens (plus a block).
    const ModelCard& m = sc.model;
    if (!m.layers.empty() && m.count_layers(AttentionKind::SLIDING) == m.num_layers) {
        const int64_t held = m.layers[0].window - 1 + sc.max_num_batched_tokens;
        c.max_blocks_per_sequence = (held + sc.block_size - 1) / sc.block_size + 1;
    }
    return c;
}

CostConfig cost_config(const Scenario& sc) {
    CostConfig c;
    c.tp = sc.tp;
    c.weight_dtype = sc.weight_dtype;
    c.kv_dtype = sc.kv_dtype;
    c.cuda_graphs = sc.cuda_graphs;
    c.step_overhead_s = sc.step_overhead_s;
    c.calibration = sc.calibration;
    return c;
}

namespace {

struct Waiter {
    sg4::MutexPtr mutex = sg4::Mutex::create();
    sg4::ConditionVariablePtr cv = sg4::ConditionVariable::create();
    bool done = false;
};

struct Replica {
    int32_t index = 0;
    sg4::Host* host = nullptr;
    std::unique_ptr<MetricsCollector> collector;
    std::unique_ptr<Scheduler> scheduler;
    sg4::MutexPtr mutex = sg4::Mutex::create();
    sg4::ConditionVariablePtr cv = sg4::ConditionVariable::create();
    int64_t outstanding = 0;
};

struct Arrival {
    int64_t record = 0;
};

class Simulation {
public:
    Simulation(const Scenario& sc, const KvPlan& plan)
        : sc_(sc), plan_(plan), cost_ptr_(make_step_predictor(sc.model, sc.gpu, cost_config(sc), sc.predictor)), cost_(*cost_ptr_) {}

    void run(SimulationResult& out, const SimulationOptions& options) {
        int argc = 3;
        char arg0[] = "headroom-sim", arg1[] = "--log=root.thresh:critical", arg2[] = "--cfg=contexts/factory:raw";
        char* argv[] = {arg0, arg1, arg2, nullptr};
        sg4::Engine engine(&argc, argv);
        auto* zone = sg4::create_full_zone("deployment");
        frontend_ = zone->create_host("frontend", 1e9);
        for (int64_t i = 0; i < sc_.replicas; ++i) {
            auto r = std::make_unique<Replica>();
            r->index = static_cast<int32_t>(i);
            r->host = zone->create_host("replica-" + std::to_string(i), 1e9);
            r->collector = std::make_unique<MetricsCollector>(records_, itls_, r->index);
            Replica* raw = r.get();
            r->collector->on_done = [this, raw](int64_t record) { done(*raw, record); };
            r->scheduler = std::make_unique<Scheduler>(scheduler_config(sc_, plan_), r->collector.get());
            replicas_.push_back(std::move(r));
        }
        zone->seal();
        done_mutex_ = sg4::Mutex::create();
        done_cv_ = sg4::ConditionVariable::create();

        for (auto& r : replicas_) {
            Replica* rep = r.get();
            sg4::Actor::create("engine-" + std::to_string(rep->index), rep->host, [this, rep] { engine_loop(*rep); });
        }
        sg4::Actor::create("router", frontend_, [this] { router_loop(); });
        if (sc_.workload.arrival == "closed_loop") {
            for (int64_t u = 0; u < sc_.workload.users; ++u) {
                ++live_sources_;
                sg4::Actor::create("user-" + std::to_string(u), frontend_, [this, u] {
                    user_loop(u);
                    source_ended();
                });
            }
        } else {
            sessions_ = open_loop_sessions(sc_.workload, sc_.seed);
            ++live_sources_;
            sg4::Actor::create("source", frontend_, [this] {
                source_loop();
                source_ended();
            });
        }

        const auto t0 = std::chrono::steady_clock::now();
        engine.run();
        out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        out.simulated_s = sg4::Engine::get_clock();
        out.scenario = sc_.name;
        out.predictor = cost_.name();
        out.plan = plan_;
        out.summary = summarize(sc_, records_, itls_, steps_, accounting_);
        if (options.keep_all_steps) {
            out.timeseries = steps_;
        } else {
            // an even sample per replica, keeping the step order
            std::vector<int64_t> per(sc_.replicas, 0);
            for (const auto& s : steps_) ++per[s.replica];
            std::vector<int64_t> seen(sc_.replicas, 0);
            for (const auto& s : steps_) {
                const int64_t n = per[s.replica];
                const int64_t k = seen[s.replica]++;
                const int64_t stride = std::max<int64_t>(1, n / std::max<int64_t>(1, options.timeseries_points));
                if (k % stride == 0) out.timeseries.push_back(s);
            }
        }
        out.requests = std::move(records_);
    }

private:
    // A request the client sends at `arrival_s`; the engine sees it after its API-server time (r.api_s).
    int64_t new_record(const Session& s, int64_t turn, int64_t prompt, int64_t output, double arrival_s) {
        RequestRecord r;
        r.id = static_cast<int64_t>(records_.size());
        r.session = s.id;
        r.turn = turn;
        r.arrival_s = arrival_s;
        r.api_s = sc_.api_server_s(prompt);
        r.prompt_tokens = prompt;
        r.output_tokens = output;
        records_.push_back(r);
        content_.push_back(s.content_id);
        prefix_.push_back({s.prefix_id, s.prefix_tokens});
        waiters_.push_back(nullptr);
        ++requests_started_;
        return r.id;
    }

    void send(int64_t record) { sg4::Mailbox::by_name("router")->put_init(new Arrival{record}, 0)->detach(); }

    // When the last workload actor ends, every request has finished: the engines and the router return instead
    // of being killed while they wait (a kill inside a condition-variable wait unwinds through ~unique_lock,
    // whose unlock throws again: std::terminate).
    void source_ended() {
        if (--live_sources_ > 0) return;
        stopping_ = true;
        for (auto& r : replicas_) r->cv->notify_all();
        sg4::Mailbox::by_name("router")->put_init(new Arrival{-1}, 0)->detach();
    }

    void router_loop() {
        auto* mb = sg4::Mailbox::by_name("router");
        for (;;) {
            std::unique_ptr<Arrival> a(mb->get<Arrival>());
            if (a->record < 0) return;  // the run is over
            Replica* target = nullptr;
            if (sc_.router == "least_outstanding") {
                for (auto& r : replicas_) {
                    if (!target || r->outstanding < target->outstanding) target = r.get();
                }
            } else {
                target = replicas_[next_replica_++ % replicas_.size()].get();
            }
            const RequestRecord& rec = records_[a->record];
            Request req;
            req.id = rec.id;
            req.arrival_s = rec.arrival_s;
            req.prompt_tokens = rec.prompt_tokens;
            req.output_tokens = rec.output_tokens;
            req.content_id = sc_.prefix_caching ? content_[a->record] : 0;
            if (sc_.prefix_caching) {
                req.prefix_id = prefix_[a->record].first;
                req.prefix_tokens = prefix_[a->record].second;
            }
            if (sc_.workload.timeout_s > 0) req.deadline_s = rec.arrival_s + sc_.workload.timeout_s;
            ++target->outstanding;
            target->scheduler->add_request(req, sg4::Engine::get_clock());
            target->cv->notify_one();
        }
    }

    void done(Replica& rep, int64_t record) {
        --rep.outstanding;
        if (Waiter* w = waiters_[record]) {
            w->done = true;
            w->cv->notify_all();
        } else if (--open_outstanding_ == 0 && sources_done_) {
            done_cv_->notify_all();
        }
    }

    void engine_loop(Replica& rep) {
        std::vector<SequenceWork> work;
        Scheduler& s = *rep.scheduler;
        for (;;) {
            StepPlan plan;
            if (s.has_work()) plan = s.schedule(sg4::Engine::get_clock());
            if (plan.empty()) {  // nothing to run: sleep until the router brings work, or the run ends
                if (stopping_) return;
                std::unique_lock<sg4::Mutex> lock(*rep.mutex);
                while (!stopping_ && !s.has_work()) rep.cv->wait(lock);
                continue;
            }
            work.clear();
            for (const ScheduledSeq& q : plan.seqs) work.push_back({q.new_tokens, q.context});
            const double now = sg4::Engine::get_clock();
            const StepTotals totals = cost_.step_totals(work);
            const double dt = totals.time_s;
            // the engine's own accounting of where step time goes (see Accounting)
            account_step(accounting_, s, plan, totals.time_s, totals, decodes_alone_s(cost_, plan, decodes_));
            StepSample st;
            st.t_s = now;
            st.dt_s = dt;
            st.replica = rep.index;
            st.running = static_cast<int32_t>(s.num_running());
            st.waiting = static_cast<int32_t>(s.num_waiting());
            st.decodes = static_cast<int32_t>(plan.decodes);
            st.tokens = plan.tokens;
            st.prefill_tokens = plan.prefill_tokens;
            st.kv_used = static_cast<float>(static_cast<double>(s.kv().num_used()) / s.kv().num_blocks());
            st.preempted = static_cast<int32_t>(plan.preempted);
            steps_.push_back(st);
            sg4::this_actor::sleep_for(dt);
            s.complete(plan, sg4::Engine::get_clock());
        }
    }

    // One session's turns, each waiting for the previous request to finish; the prompt carries the history.
    void run_session(const Session& session) {
        Waiter w;
        int64_t history = 0;
        for (size_t t = 0; t < session.turns.size(); ++t) {
            const Turn& turn = session.turns[t];
            if (turn.delay_before_s > 0) sg4::this_actor::sleep_for(turn.delay_before_s);
            if (stop_closed_loop()) return;
            const int64_t prompt = history + turn.new_prompt_tokens;
            const int64_t record =
                new_record(session, static_cast<int64_t>(t), prompt, turn.output_tokens, sg4::Engine::get_clock());
            waiters_[record] = &w;
            w.done = false;
            if (records_[record].api_s > 0) sg4::this_actor::sleep_for(records_[record].api_s);
            send(record);
            std::unique_lock<sg4::Mutex> lock(*w.mutex);
            while (!w.done) w.cv->wait(lock);
            waiters_[record] = nullptr;
            if (records_[record].rejected || records_[record].failed) return;  // the conversation ends there
            history = prompt + records_[record].generated;
        }
    }

    bool stop_closed_loop() const {
        if (sc_.workload.arrival != "closed_loop") return false;
        if (sc_.workload.duration_s > 0 && sg4::Engine::get_clock() >= sc_.workload.duration_s) return true;
        return sc_.workload.max_requests > 0 && requests_started_ >= sc_.workload.max_requests;
    }

    // Single-turn requests reach the engine at their arrival (after any retrieval latency) plus their API-server
    // time, each on its own: a request is never held back by one that arrived before it but is ready later.
    // Multi-turn sessions start an actor of their own at their start time.
    void source_loop() {
        struct Due {
            double t;
            const Session* s;
        };
        std::vector<Due> due;
        due.reserve(sessions_.size());
        for (const Session& s : sessions_) {
            const double t = s.turns.size() == 1
                                 ? s.start_s + s.turns[0].delay_before_s + sc_.api_server_s(s.turns[0].new_prompt_tokens)
                                 : s.start_s;
            due.push_back({t, &s});
        }
        std::stable_sort(due.begin(), due.end(), [](const Due& a, const Due& b) { return a.t < b.t; });
        for (const Due& d : due) {
            const Session& s = *d.s;
            sg4::this_actor::sleep_until(d.t);
            if (s.turns.size() == 1) {
                const int64_t record = new_record(s, 0, s.turns[0].new_prompt_tokens, s.turns[0].output_tokens,
                                                  s.start_s + s.turns[0].delay_before_s);
                ++open_outstanding_;
                send(record);
            } else {
                ++live_sources_;
                sg4::Actor::create("session-" + std::to_string(s.id), frontend_, [this, &s] {
                    run_session(s);
                    source_ended();
                });
            }
        }
        sources_done_ = true;
        std::unique_lock<sg4::Mutex> lock(*done_mutex_);
        while (open_outstanding_ > 0) done_cv_->wait(lock);
    }

    void user_loop(int64_t user) {
        Rng rng(derive_seed(sc_.seed, static_cast<uint64_t>(user)));
        while (!stop_closed_loop()) {
            const Session s = make_session(sc_.workload, rng, next_session_++, sg4::Engine::get_clock());
            run_session(s);
            if (sc_.workload.user_think_time_s) {
                sg4::this_actor::sleep_for(std::max(0.0, sc_.workload.user_think_time_s->sample(rng)));
            }
        }
    }

    const Scenario& sc_;
    KvPlan plan_;
    std::unique_ptr<StepTimePredictor> cost_ptr_;
    const StepTimePredictor& cost_;
    sg4::Host* frontend_ = nullptr;
    std::vector<std::unique_ptr<Replica>> replicas_;
    std::vector<Session> sessions_;
    std::vector<RequestRecord> records_;
    std::vector<uint64_t> content_;
    std::vector<std::pair<uint64_t, int64_t>> prefix_;  // per record: the session's shared prefix
    std::vector<Waiter*> waiters_;
    std::vector<float> itls_;
    std::vector<StepSample> steps_;
    Accounting accounting_;
    std::vector<SequenceWork> decodes_;
    sg4::MutexPtr done_mutex_;
    sg4::ConditionVariablePtr done_cv_;
    int64_t open_outstanding_ = 0;
    int64_t live_sources_ = 0;  // workload actors still running (source, users, sessions)
    bool stopping_ = false;
    bool sources_done_ = false;
    int64_t requests_started_ = 0;
    int64_t next_session_ = 0;
    size_t next_replica_ = 0;
};

}  // namespace

SimulationResult simulate_in_this_process(const Scenario& sc, const SimulationOptions& options) {
    const KvPlan plan = scenario_kv_plan(sc);
    SimulationResult out;
    Simulation sim(sc, plan);
    sim.run(out, options);
    return out;
}

}  // namespace headroom
