// `measure serve`: the simulator's workload and scheduler, on the wall clock, driving a real executor.
// The workload is the simulator's (open_loop_sessions, make_session, the same seeds), and so is the
// scheduler; only time is real. One loop, on one thread:
//   release the requests whose arrival time has come -> plan a step -> run it on the executor (blocking)
//   -> complete it (tokens are emitted at the wall-clock time the step ended) -> start follow-up turns.
// A request that arrives while a step runs waits for the next plan, as it would in a server; its arrival
// time is when it was due. When nothing runs, the loop sleeps until the next arrival.
#include <algorithm>
#include <chrono>
#include <queue>
#include <thread>

#include "headroom/executor/measure.hpp"
#include "headroom/core/kernel_table_predictor.hpp"

namespace headroom {

namespace {

using Clock = std::chrono::steady_clock;

// A session in progress: its draw, the next turn, and the conversation so far (token ids).
struct LiveSession {
    Session session;
    size_t turn = 0;
    std::vector<int64_t> history;
    int64_t user = -1;  // closed loop: the user who runs it
    bool done = false;
};

struct Due {
    double t_s;
    uint64_t order;  // ties in creation order
    int64_t session; // index into live sessions; -1: a closed-loop user starts a new session
    int64_t user;
    bool operator>(const Due& o) const { return t_s != o.t_s ? t_s > o.t_s : order > o.order; }
};

class Server {
public:
    Server(const Scenario& sc, StepBackend& be, const KvPlan& plan, const ServeOptions& o)
        : sc_(sc), be_(be), opt_(o), collector_(records_, itls_, 0), cost_(make_step_predictor(sc.model, sc.gpu, cost_config(sc), sc.predictor)) {
        SchedulerConfig c = scheduler_config(sc, plan);  // the simulator's settings, the executor's blocks
        c.num_blocks = be.num_blocks();
        collector_.on_done = [this](int64_t record) { finished_.push_back(record); };
        sched_ = std::make_unique<Scheduler>(c, &collector_);
        scale_ = static_cast<double>(sc.model.num_layers) / static_cast<double>(be.layers());
    }

    void run(ServeResult& out) {
        if (sc_.workload.arrival == "closed_loop") {
            for (int64_t u = 0; u < sc_.workload.users; ++u) {
                user_rng_.emplace_back(derive_seed(sc_.seed, static_cast<uint64_t>(u)));
                push(0.0, -1, u);
            }
        } else {
            for (const Session& s : open_loop_sessions(sc_.workload, sc_.seed)) start_session(s, -1);
        }
        t0_ = Clock::now();
        std::vector<ref::SeqStep> batch;
        for (;;) {
            release_due(now());
            StepPlan plan;
            if (sched_->has_work()) plan = sched_->schedule(now());
            if (plan.empty()) {
                if (due_.empty()) {
                    if (sched_->has_work()) throw std::logic_error("the scheduler holds work it does not plan");
                    break;
                }
                std::this_thread::sleep_until(t0_ + std::chrono::duration<double>(due_.top().t_s));
                continue;
            }
            run_step(plan, batch);
            follow_up();
        }
        out.wall_s = now();
        SimulationResult& r = out.result;
        r.scenario = sc_.name;
        r.predictor = "measured";
        r.simulated_s = out.wall_s;
        r.summary = summarize(sc_, records_, itls_, steps_, accounting_);
        r.timeseries = std::move(steps_);
        r.requests = std::move(records_);
    }

private:
    double now() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

    void push(double t, int64_t session, int64_t user) { due_.push(Due{t, order_++, session, user}); }

    bool stopped() const {
        if (opt_.max_wall_s > 0 && now() >= opt_.max_wall_s) return true;
        if (sc_.workload.arrival != "closed_loop") return false;
        if (sc_.workload.duration_s > 0 && now() >= sc_.workload.duration_s) return true;
        return sc_.workload.max_requests > 0 && started_ >= sc_.workload.max_requests;
    }

    void start_session(const Session& s, int64_t user) {
        LiveSession live;
        live.session = s;
        live.user = user;
        sessions_.push_back(std::move(live));
        const auto index = static_cast<int64_t>(sessions_.size() - 1);
        push(s.start_s + (s.turns.empty() ? 0.0 : s.turns[0].delay_before_s), index, user);
    }

    // Token ids of new prompt text: deterministic in the seed, the session and the position.
    int64_t prompt_token(uint64_t session, int64_t position) const {
        const uint64_t h = derive_seed(derive_seed(sc_.seed ^ 0x70726f6d7074ULL, session), static_cast<uint64_t>(position));
        return static_cast<int64_t>(h % static_cast<uint64_t>(sc_.model.vocab_size));
    }

    void release_due(double t) {
        while (!due_.empty() && due_.top().t_s <= t) {
            const Due d = due_.top();
            due_.pop();
            if (d.session < 0) {  // a closed-loop user's next session
                if (stopped()) continue;
                const Session s = make_session(sc_.workload, user_rng_[static_cast<size_t>(d.user)], next_session_++, d.t_s);
                start_session(s, d.user);
                continue;
            }
            LiveSession& live = sessions_[static_cast<size_t>(d.session)];
            if (live.turn >= live.session.turns.size() || stopped()) {
                live.done = true;
                continue;
            }
            const Turn& turn = live.session.turns[live.turn];
            std::vector<int64_t> tokens = live.history;
            for (int64_t i = 0; i < turn.new_prompt_tokens; ++i) {
                const auto pos = static_cast<int64_t>(tokens.size());
                // a shared system prompt is the same text in every session of its group
                const bool shared = live.session.prefix_id != 0 && pos < live.session.prefix_tokens;
                tokens.push_back(prompt_token(shared ? live.session.prefix_id : static_cast<uint64_t>(live.session.id), pos));
            }
            RequestRecord rec;
            rec.id = static_cast<int64_t>(records_.size());
            rec.session = live.session.id;
            rec.turn = static_cast<int64_t>(live.turn);
            rec.arrival_s = d.t_s;  // when it was due: it waited for the loop like a request waits for a step
            rec.prompt_tokens = static_cast<int64_t>(tokens.size());
            rec.output_tokens = turn.output_tokens;
            records_.push_back(rec);
            tokens_.push_back(std::move(tokens));
            session_of_.push_back(d.session);
            ++started_;
            Request req;
            req.id = rec.id;
            req.arrival_s = rec.arrival_s;
            req.prompt_tokens = rec.prompt_tokens;
            req.output_tokens = rec.output_tokens;
            req.content_id = sc_.prefix_caching ? live.session.content_id : 0;
            if (sc_.prefix_caching) {
                req.prefix_id = live.session.prefix_id;
                req.prefix_tokens = live.session.prefix_tokens;
            }
            if (sc_.workload.timeout_s > 0) req.deadline_s = rec.arrival_s + sc_.workload.timeout_s;
            sched_->add_request(req, t);
        }
    }

    void run_step(const StepPlan& plan, std::vector<ref::SeqStep>& batch) {
        batch.clear();
        for (const ScheduledSeq& q : plan.seqs) {
            const RequestState& r = sched_->request(q.request);
            const std::vector<int64_t>& toks = tokens_[static_cast<size_t>(r.req.id)];
            ref::SeqStep s;
            s.tokens.assign(toks.begin() + q.context, toks.begin() + q.context + q.new_tokens);
            s.context = q.context;
            s.block_table = r.blocks;
            batch.push_back(std::move(s));
        }
        const double start = now();
        StepSample st;
        st.t_s = start;
        st.running = static_cast<int32_t>(sched_->num_running());
        st.waiting = static_cast<int32_t>(sched_->num_waiting());
        st.decodes = static_cast<int32_t>(plan.decodes);
        st.tokens = plan.tokens;
        st.prefill_tokens = plan.prefill_tokens;
        st.kv_used = static_cast<float>(static_cast<double>(sched_->kv().num_used()) / sched_->kv().num_blocks());
        st.preempted = static_cast<int32_t>(plan.preempted);

        const std::vector<int64_t> next = be_.step(batch);
        if (scale_ > 1.0) {  // --layers: the layers not run take as long as those that ran
            std::this_thread::sleep_for(std::chrono::duration<double>(be_.last_layers_s() * (scale_ - 1.0)));
        }
        for (size_t i = 0; i < plan.seqs.size(); ++i) {
            const ScheduledSeq& q = plan.seqs[i];
            const RequestState& r = sched_->request(q.request);
            if (q.context + q.new_tokens == r.num_tokens() && r.req.output_tokens > 0) {
                tokens_[static_cast<size_t>(r.req.id)].push_back(next[i]);
            }
        }
        const double end = now();
        st.dt_s = end - start;
        // The measured step, apportioned by the predictor's breakdown (bounds, the decodes' share); read
        // before complete(), which changes what is waiting.
        work_.clear();
        for (const ScheduledSeq& q : plan.seqs) work_.push_back({q.new_tokens, q.context});
        account_step(accounting_, *sched_, plan, st.dt_s, cost_->step_totals(work_), decodes_alone_s(*cost_, plan, decodes_));
        sched_->complete(plan, end);
        steps_.push_back(st);
    }

    // Follow-up turns of sessions whose request just finished, and closed-loop users' next sessions.
    void follow_up() {
        for (int64_t record : finished_) {
            const RequestRecord& rec = records_[static_cast<size_t>(record)];
            const int64_t si = session_of_[static_cast<size_t>(record)];
            LiveSession& live = sessions_[static_cast<size_t>(si)];
            const double t = rec.finish_s >= 0 ? rec.finish_s : now();
            live.history = std::move(tokens_[static_cast<size_t>(record)]);
            tokens_[static_cast<size_t>(record)].clear();
            ++live.turn;
            if (!rec.rejected && !rec.failed && live.turn < live.session.turns.size()) {
                push(t + live.session.turns[live.turn].delay_before_s, si, live.user);
                continue;
            }
            live.done = true;
            live.history.clear();
            if (live.user >= 0) {
                double think = 0.0;
                if (sc_.workload.user_think_time_s) {
                    think = std::max(0.0, sc_.workload.user_think_time_s->sample(user_rng_[static_cast<size_t>(live.user)]));
                }
                push(t + think, -1, live.user);
            }
        }
        finished_.clear();
    }

    const Scenario& sc_;
    StepBackend& be_;
    ServeOptions opt_;
    std::vector<RequestRecord> records_;
    std::vector<float> itls_;
    MetricsCollector collector_;
    std::unique_ptr<Scheduler> sched_;
    std::unique_ptr<StepTimePredictor> cost_;
    std::vector<SequenceWork> work_, decodes_;
    std::vector<StepSample> steps_;
    Accounting accounting_;
    std::vector<LiveSession> sessions_;
    std::vector<std::vector<int64_t>> tokens_;  // per record: prompt, then the tokens generated so far
    std::vector<int64_t> session_of_;
    std::vector<int64_t> finished_;
    std::vector<Rng> user_rng_;
    std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
    uint64_t order_ = 0;
    int64_t started_ = 0;
    int64_t next_session_ = 0;
    double scale_ = 1.0;
    Clock::time_point t0_;
};

}  // namespace

ServeResult measure_serve(const Scenario& sc, const ServeOptions& o) {
    const std::string where = sc.file.empty() ? "scenario" : sc.file;
    if (sc.tp != 1 || sc.replicas != 1) {
        throw std::invalid_argument(where + ": measure serve runs one replica on one GPU (tp 1, replicas 1); the scenario has tp " +
                                    std::to_string(sc.tp) + ", replicas " + std::to_string(sc.replicas));
    }
    if (sc.weight_dtype != Dtype::BF16 || sc.kv_dtype != Dtype::BF16) {
        throw std::invalid_argument(where + ": the executor runs bf16 weights and KV cache; set weights_dtype and kv_dtype to bf16");
    }
    KvPlan plan = scenario_kv_plan(sc);
    BackendOptions bo;
    bo.device = o.device;
    bo.layers = o.layers;
    bo.cuda_graphs = o.cuda_graphs && sc.cuda_graphs;
    bo.seed = sc.seed;
    bo.block_size = sc.block_size;
    bo.max_tokens = sc.max_num_batched_tokens;
    bo.max_seqs = sc.max_num_seqs;
    bo.max_model_len = plan.request.max_model_len;
    ServeResult out;
    bo.num_blocks = backend_blocks(sc.model, bo, plan.num_blocks, out.blocks_note);
    std::unique_ptr<StepBackend> be = make_backend(sc.model, bo);
    be->prepare();
    plan.num_blocks = be->num_blocks();
    out.device = be->device();
    out.layers_run = be->layers();
    out.layers_model = sc.model.num_layers;
    Server server(sc, *be, plan, o);
    server.run(out);
    out.result.plan = plan;
    out.memory_used_bytes = be->memory_used_bytes();
    return out;
}

std::vector<Comparison> compare(const Summary& p, const Summary& m) {
    std::vector<Comparison> rows;
    auto add = [&](const std::string& name, double pv, double mv, const char* unit) {
        Comparison c;
        c.metric = name;
        c.predicted = pv;
        c.measured = mv;
        c.unit = unit;
        c.rel_error = mv != 0.0 ? (pv - mv) / mv : (pv == 0.0 ? 0.0 : 1.0);
        rows.push_back(c);
    };
    auto pct = [&](const std::string& name, const Percentiles& a, const Percentiles& b) {
        add(name + " p50", a.p50, b.p50, "s");
        add(name + " p95", a.p95, b.p95, "s");
        add(name + " p99", a.p99, b.p99, "s");
    };
    pct("TTFT", p.ttft_s, m.ttft_s);
    pct("TPOT", p.tpot_s, m.tpot_s);
    pct("ITL", p.itl_s, m.itl_s);
    pct("E2E", p.e2e_s, m.e2e_s);
    add("request throughput", p.request_throughput, m.request_throughput, "req/s");
    add("output throughput", p.output_throughput, m.output_throughput, "tok/s");
    add("completed", static_cast<double>(p.completed), static_cast<double>(m.completed), "requests");
    return rows;
}

}  // namespace headroom
