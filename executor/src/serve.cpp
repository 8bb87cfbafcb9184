// `measure serve`: the simulator's serving loop (core/replica_loop.hpp: the same workload, seeds, router and
// scheduler) on the wall clock, with a real executor running each step. Only time and the step differ:
//   the clock is the wall clock, and each planned step runs on the executor (blocking), its tokens emitted at
//   the wall-clock time the step ended.
// A request that arrives while a step runs waits for the next plan, as it would in a server; its arrival
// time is when it was due. When nothing runs, the loop sleeps until the next arrival.
#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/replica_loop.hpp"
#include "headroom/executor/measure.hpp"

namespace headroom {

namespace {

using Clock = std::chrono::steady_clock;

class WallClock : public LoopClock {
public:
    double now() const override { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
    double wait_until(double t_s) override {
        std::this_thread::sleep_until(t0_ + std::chrono::duration<double>(t_s));
        return std::max(t_s, now());
    }

private:
    Clock::time_point t0_ = Clock::now();
};

// Runs each planned step on the executor: the requests' token ids (prompt, then what was generated) in, the
// greedy next tokens out. The step takes what it took on the wall clock, or with `predicted_time` the
// predictor's time (the simulator's run, with real tokens).
class ExecutorStepRunner : public StepRunner {
public:
    ExecutorStepRunner(const ModelCard& m, uint64_t seed, StepBackend& be, const StepTimePredictor& p,
                       const LoopClock& clock, const ServeOptions& o)
        : vocab_(static_cast<uint64_t>(m.vocab_size)), seed_(seed), be_(be), p_(p), clock_(clock),
          predicted_time_(o.predicted_time),
          scale_(static_cast<double>(m.num_layers) / static_cast<double>(be.layers())),
          progress_(o.predicted_time ? nullptr : o.progress) {}

    void on_request(const RequestRecord& rec, const Session& s, int64_t previous) override {
        ++started_;
        if (tokens_.size() <= static_cast<size_t>(rec.id)) tokens_.resize(static_cast<size_t>(rec.id) + 1);
        std::vector<int64_t>& tokens = tokens_[static_cast<size_t>(rec.id)];
        if (previous >= 0) tokens = std::move(tokens_[static_cast<size_t>(previous)]);  // the conversation so far
        while (static_cast<int64_t>(tokens.size()) < rec.prompt_tokens) {
            const auto pos = static_cast<int64_t>(tokens.size());
            // a shared system prompt is the same text in every session of its group, a replayed trace's prompt
            // block the same text in every row naming it
            const bool shared = s.prefix_id != 0 && pos < s.prefix_tokens;
            const auto block = s.prompt_blocks ? static_cast<size_t>(pos / s.prompt_block_tokens) : 0;
            const uint64_t text = s.prompt_blocks && block < s.prompt_blocks->size() ? (*s.prompt_blocks)[block]
                                  : shared                                            ? s.prefix_id
                                                                                      : static_cast<uint64_t>(s.id);
            tokens.push_back(prompt_token(text, pos));
        }
    }

    void on_request_done(const RequestRecord& rec, bool continued) override {
        ++finished_;
        if (!continued) std::vector<int64_t>().swap(tokens_[static_cast<size_t>(rec.id)]);
    }

    StepRun run(int32_t, const Scheduler& s, const StepPlan& plan, const std::vector<SequenceWork>& work) override {
        batch_.clear();
        for (const ScheduledSeq& q : plan.seqs) {
            const RequestState& r = s.request(q.request);
            const std::vector<int64_t>& toks = tokens_[static_cast<size_t>(r.req.id)];
            ref::SeqStep step;
            step.tokens.assign(toks.begin() + q.context, toks.begin() + q.context + q.new_tokens);
            step.context = q.context;
            step.block_table = r.blocks;
            batch_.push_back(std::move(step));
        }
        StepRun out;
        // the predictor's breakdown apportions the step in the accounting (bounds, the decodes' share)
        out.cost = p_.step_totals(work);
        const double start = clock_.now();
        const std::vector<int64_t> next = be_.step(batch_);
        if (scale_ > 1.0 && !predicted_time_) {  // --layers: the layers not run take as long as those that ran
            std::this_thread::sleep_for(std::chrono::duration<double>(be_.last_layers_s() * (scale_ - 1.0)));
        }
        for (size_t i = 0; i < plan.seqs.size(); ++i) {
            const ScheduledSeq& q = plan.seqs[i];
            const RequestState& r = s.request(q.request);
            if (q.context + q.new_tokens == r.num_tokens() && r.req.output_tokens > 0) {
                tokens_[static_cast<size_t>(r.req.id)].push_back(next[i]);
            }
        }
        out.dt_s = predicted_time_ ? out.cost.time_s : clock_.now() - start;
        if (!predicted_time_) out.cost.host_hidden_s = 0.0;  // a measured step's host time is what it was
        if (progress_ && clock_.now() >= last_report_s_ + 1.0) {
            last_report_s_ = clock_.now();
            progress_(last_report_s_, started_, finished_);
        }
        return out;
    }

private:
    // Token ids of new prompt text: deterministic in the seed, the session and the position.
    int64_t prompt_token(uint64_t session, int64_t position) const {
        const uint64_t h = derive_seed(derive_seed(seed_ ^ 0x70726f6d7074ULL, session), static_cast<uint64_t>(position));
        return static_cast<int64_t>(h % vocab_);
    }

    uint64_t vocab_;
    uint64_t seed_;
    StepBackend& be_;
    const StepTimePredictor& p_;
    const LoopClock& clock_;
    bool predicted_time_;
    double scale_;
    std::function<void(double, int64_t, int64_t)> progress_;
    int64_t started_ = 0, finished_ = 0;
    double last_report_s_ = 0.0;
    std::vector<std::vector<int64_t>> tokens_;  // per record: prompt, then the tokens generated so far
    std::vector<ref::SeqStep> batch_;
};

void serve(const Deployment& d, const EngineConfig& e, const WorkloadSpec& w, uint64_t seed, StepBackend& be,
           const ServeOptions& o, ServeResult& out) {
    const std::unique_ptr<StepTimePredictor> predictor = make_step_predictor(d, e);
    ServingConfig config = serving_config(d, e, out.plan);  // the simulator's settings, the executor's blocks
    config.api_server = ApiServer{};  // nothing stands in front of the executor: the engine alone is measured
    if (o.max_wall_s > 0) config.stop_s = o.max_wall_s;
    WallClock wall;
    VirtualClock virtual_clock;
    LoopClock& clock = o.predicted_time ? static_cast<LoopClock&>(virtual_clock) : wall;
    ExecutorStepRunner runner(d.model, seed, be, *predictor, clock, o);
    RecordingOptions recording;  // a measured run is short: keep every request and step
    recording.keep_requests = true;
    recording.keep_all_steps = true;
    ReplicaLoop loop(w, seed, config, *predictor, runner, clock, std::move(recording));
    loop.run();
    out.info.wall_s = wall.now();
    out.predictor = o.predicted_time ? predictor->name() : "measured";
    out.end_s = o.predicted_time ? loop.now() : out.info.wall_s;
    out.accounting = loop.accounting();
    out.steps = loop.take_steps();
    out.requests = loop.take_requests();
    out.stats = std::move(loop.stats());
}

}  // namespace

ServeResult measure_serve(const Deployment& d, const EngineConfig& e, const WorkloadSpec& w, uint64_t seed,
                          const ServeOptions& o, const std::string& where) {
    if (d.gpus_per_replica() != 1 || d.replicas != 1) {
        throw ExecutorError(where, "", "measure serve runs one replica on one GPU (tp 1, pp 1, data_parallel 1, replicas 1); "
                                       "the scenario has tp " + std::to_string(d.tp) + ", pp " + std::to_string(d.pp) +
                                       ", data_parallel " + std::to_string(d.dp) + ", replicas " + std::to_string(d.replicas));
    }
    if (e.speculative.enabled()) {
        throw ExecutorError(where, "speculative", "the reference executor runs no drafter; measure and validate serve "
                                                  "without speculative decoding (remove the speculative block)");
    }
    for (const LayerSpec& l : d.model.layers) {  // the block tables it reads are whole: no sliding window
        if (l.attention != AttentionKind::FULL) {
            throw ExecutorError(where, "model", d.model.name + ": the executor runs full attention only (no sliding window, no MLA)");
        }
    }
    const WeightScheme weights = d.model.weights(d.weight_dtype);
    if (!(weights.is_uniform() && weights.attention.dtype == Dtype::BF16) || d.kv_dtype != Dtype::BF16) {
        throw ExecutorError(where, "", "the executor runs bf16 weights and KV cache; set weights_dtype and kv_dtype to bf16");
    }
    ServeResult out;
    out.plan = deployment_kv_plan(d, e, where);
    BackendOptions bo;
    bo.device = o.device;
    bo.layers = o.layers;
    bo.cuda_graphs = o.cuda_graphs && e.cuda_graphs;
    bo.seed = seed;
    bo.block_size = e.block_size;
    bo.max_tokens = e.max_num_batched_tokens;
    bo.max_seqs = e.max_num_seqs;
    bo.max_model_len = out.plan.request.max_model_len;
    bo.num_blocks = backend_blocks(d.model, bo, out.plan.num_blocks, out.info.blocks_note);
    std::unique_ptr<StepBackend> be = make_backend(d.model, bo);
    be->prepare();
    out.plan.num_blocks = be->num_blocks();
    out.info.device = be->device();
    out.info.layers_run = be->layers();
    out.info.layers_model = d.model.num_layers;
    serve(d, e, w, seed, *be, o, out);
    out.info.memory_used_bytes = be->memory_used_bytes();
    return out;
}

}  // namespace headroom
