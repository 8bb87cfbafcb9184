// `measure serve` and `measure step` on the CPU reference backend: the serving loop drives the simulator's
// workload and scheduler in real time, so the requests it serves must be exactly the simulator's.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "headroom/executor/measure.hpp"
#include "headroom/report/measured.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"

using namespace headroom;

namespace {

// Every request's record kept (the CLI keeps none unless asked).
SimulationResult simulate_all(const Scenario& sc, SimulationOptions o = {}) {
    o.keep_requests = true;
    return simulate(sc, o);
}

const std::string DATA = std::string(HEADROOM_TEST_DATA) + "/executor";

Scenario open_loop() {
    return parse_scenario(R"(
name: tiny-open
model: tiny-llama.json
gpu: h100
scheduler: {max_model_len: 1024, max_num_batched_tokens: 128, max_num_seqs: 4}
workload:
  shape: single
  arrival: {process: poisson, rate: 40}
  prompt_tokens: {dist: uniform, min: 10, max: 200}
  output_tokens: {dist: uniform, min: 2, max: 12}
  duration_s: 0.5
seed: 3
)",
                          DATA + "/tiny-open.yaml", DATA);
}

ServeOptions cpu() {
    ServeOptions o;
    o.device = "cpu";
    return o;
}

}  // namespace

TEST(MeasureServe, OpenLoopServesTheSimulatorsRequests) {
    const Scenario sc = open_loop();
    const MeasuredRun m = measure_scenario(sc, cpu());
    const SimulationResult s = simulate_all(sc);
    ASSERT_GT(s.requests.size(), 5u);
    ASSERT_EQ(m.result.requests.size(), s.requests.size());
    for (size_t i = 0; i < s.requests.size(); ++i) {
        const RequestRecord &a = m.result.requests[i], &b = s.requests[i];
        EXPECT_DOUBLE_EQ(a.arrival_s, b.arrival_s) << i;
        EXPECT_EQ(a.prompt_tokens, b.prompt_tokens) << i;
        EXPECT_EQ(a.output_tokens, b.output_tokens) << i;
        // every request ran to its length, in order of time
        EXPECT_TRUE(a.completed()) << i;
        EXPECT_EQ(a.generated, a.output_tokens) << i;
        EXPECT_GE(a.scheduled_s, a.arrival_s) << i;
        EXPECT_GE(a.first_token_s, a.scheduled_s) << i;
        EXPECT_GE(a.finish_s, a.first_token_s) << i;
    }
    EXPECT_EQ(m.result.summary.completed, static_cast<int64_t>(s.requests.size()));
    EXPECT_EQ(m.info.layers_run, 2);
    EXPECT_GT(m.result.summary.steps, 0);
}

TEST(MeasureServe, MultiTurnSessionsCarryTheirHistory) {
    const Scenario sc = load_scenario(DATA + "/tiny-serve.yaml", {"workload.duration_s=0.6"});
    const MeasuredRun m = measure_scenario(sc, cpu());
    std::map<int64_t, std::vector<const RequestRecord*>> sessions;
    for (const RequestRecord& r : m.result.requests) sessions[r.session].push_back(&r);
    int64_t follow_ups = 0;
    for (const auto& [id, turns] : sessions) {
        for (size_t t = 1; t < turns.size(); ++t) {
            const RequestRecord &prev = *turns[t - 1], &cur = *turns[t];
            ASSERT_EQ(cur.turn, static_cast<int64_t>(t));
            // the prompt is the conversation so far (prompt + answer) plus 5..30 new tokens
            EXPECT_GE(cur.prompt_tokens, prev.prompt_tokens + prev.generated + 5);
            EXPECT_LE(cur.prompt_tokens, prev.prompt_tokens + prev.generated + 30);
            // a turn starts only after the previous answer, plus the 10..50 ms think time
            EXPECT_GE(cur.arrival_s, prev.finish_s + 0.01 - 1e-9);
            ++follow_ups;
        }
    }
    EXPECT_GT(follow_ups, 0);
    EXPECT_EQ(m.result.summary.rejected, 0);
}

TEST(MeasureServe, RefusesWhatOneGpuCannotRun) {
    Scenario sc = open_loop();
    sc.deployment.tp = 2;
    EXPECT_THROW(measure_scenario(sc, cpu()), ExecutorError);
    sc = open_loop();
    sc.deployment.replicas = 2;
    EXPECT_THROW(measure_scenario(sc, cpu()), ExecutorError);
}

TEST(MeasureServe, NoGpuIsItsOwnError) {
    if (query_device().available) GTEST_SKIP() << "a GPU is present";
    ServeOptions o;
    o.device = "cuda";
    EXPECT_THROW(measure_scenario(open_loop(), o), NoDeviceError);
}

TEST(MeasureStep, ScalesByTheLayerCountAndNamesTheCostModelsOps) {
    const ModelCard m = load_model(DATA + "/tiny-llama.json");
    StepRequest r;
    r.device = "cpu";
    r.decode_batch = 3;
    r.context = 40;
    r.iterations = 4;
    r.warmup = 1;
    r.layers = 1;
    const StepMeasurement s = measure_step(m, load_gpu("h100"), r);
    EXPECT_EQ(s.layers_run, 1);
    EXPECT_EQ(s.layers_model, 2);
    EXPECT_DOUBLE_EQ(s.layer_scale, 2.0);
    EXPECT_EQ(s.step_s.n, 4);
    EXPECT_EQ(s.kind, "decode");
    std::vector<std::string> names;
    for (const OpMeasurement& o : s.ops) names.push_back(o.name);
    for (const char* want : {"qkv_proj", "attention", "o_proj", "gate_up_proj", "down_proj", "lm_head"}) {
        EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
    }
    r.prefill_tokens = 10;  // both kinds at once
    EXPECT_THROW(measure_step(m, load_gpu("h100"), r), ExecutorError);
}

// Regression: serve.cpp filled only Accounting::step_s, so `measure serve` explanations had no bounds, no
// decode-only or mixed time and no admission blockers. The same account_step() now runs in both loops: every
// measured second lands in exactly one bound, and in at most one of decode-only / mixed.
TEST(MeasureServe, AccountsEveryStepLikeTheSimulator) {
    const Scenario sc = open_loop();
    const MeasuredRun m = measure_scenario(sc, cpu());
    const Accounting& a = m.result.summary.accounting;
    double steps_s = 0.0;
    for (const StepSample& st : m.result.timeseries) steps_s += st.dt_s;
    ASSERT_GT(a.step_s, 0.0);
    EXPECT_NEAR(a.step_s, steps_s, 1e-9 * steps_s);
    EXPECT_NEAR(a.by_bound_s[0] + a.by_bound_s[1] + a.by_bound_s[2] + a.by_bound_s[3], a.step_s, 1e-9 * a.step_s);
    EXPECT_GT(a.decode_only_s, 0.0);  // 40 req/s of 2-12 tokens: most steps are decodes alone
    EXPECT_LE(a.decode_only_s + a.mixed_s, a.step_s * (1 + 1e-12));
    EXPECT_GT(a.decode_only_bytes, 0.0);
}

// Both loops build their scheduler from scheduler_config(). Mistral-7B slides on every layer (window 4096):
// one sliding KV-cache group, so a sequence holds at most window - 1 + budget = 4095 + 8192 = 12287 tokens =
// ceil(12287 / 16) = 768 blocks, plus one partly filled block: 769. serve.cpp used to leave the cap at 0 (none).
TEST(MeasureServe, SchedulerConfigCapsAnAllSlidingModel) {
    Scenario sc = open_loop();
    sc.deployment.model = load_model("mistralai/Mistral-7B-v0.1");
    sc.engine.max_num_batched_tokens = 8192;
    sc.engine.block_size = 16;
    KvPlan plan;
    plan.num_blocks = 1000;
    plan.request.max_model_len = 32768;
    const SchedulerConfig c = scheduler_config(sc.deployment, sc.engine, plan);
    EXPECT_EQ(c.group_windows, (std::vector<int64_t>{4096}));
    EXPECT_EQ(Scheduler(c).blocks_needed(32768), 769);
    EXPECT_EQ(c.num_blocks, 1000);
    EXPECT_EQ(c.max_model_len, 32768);
    sc.deployment.model = load_model(DATA + "/tiny-llama.json");  // full attention: no cap
    const SchedulerConfig full = scheduler_config(sc.deployment, sc.engine, plan);
    EXPECT_TRUE(full.group_windows.empty());
    EXPECT_EQ(Scheduler(full).blocks_needed(32768), 2048);
}

// The simulator and `measure serve` run one ReplicaLoop: with the CPU reference computing every token but each
// step taking the predictor's time, the executor's run is the simulator's, request by request and step by
// step. (Before the loop was shared, serve.cpp had its own copy, and the two disagreed on when a request
// arriving at a step's end was admitted.)
namespace {

// Fills the simulator's run into `s`, for what each case means to exercise.
void expect_same_run(Scenario sc, SimulationResult& s) {
    sc.engine.api_server = ApiServer{};  // measure serve has no API server in front of the executor
    ServeOptions o = cpu();
    o.predicted_time = true;
    const MeasuredRun m = measure_scenario(sc, o);
    sc.engine.kv_blocks_limit = m.result.plan.num_blocks;  // the executor's cache
    SimulationOptions so;
    so.keep_all_steps = true;
    s = simulate_all(sc, so);

    ASSERT_GT(s.requests.size(), 5u);
    ASSERT_EQ(m.result.requests.size(), s.requests.size());
    for (size_t i = 0; i < s.requests.size(); ++i) {
        const RequestRecord &a = m.result.requests[i], &b = s.requests[i];
        EXPECT_EQ(a.session, b.session) << i;
        EXPECT_EQ(a.turn, b.turn) << i;
        EXPECT_EQ(a.prompt_tokens, b.prompt_tokens) << i;
        EXPECT_EQ(a.generated, b.generated) << i;
        EXPECT_EQ(a.preemptions, b.preemptions) << i;
        EXPECT_DOUBLE_EQ(a.arrival_s, b.arrival_s) << i;
        EXPECT_DOUBLE_EQ(a.finish_s, b.finish_s) << i;
    }
    ASSERT_EQ(m.result.timeseries.size(), s.timeseries.size());
    for (size_t i = 0; i < s.timeseries.size(); ++i) {
        const StepSample &a = m.result.timeseries[i], &b = s.timeseries[i];
        EXPECT_DOUBLE_EQ(a.t_s, b.t_s) << i;
        EXPECT_DOUBLE_EQ(a.dt_s, b.dt_s) << i;
        EXPECT_EQ(a.tokens, b.tokens) << i;
        EXPECT_EQ(a.prefill_tokens, b.prefill_tokens) << i;
        EXPECT_EQ(a.decodes, b.decodes) << i;
        EXPECT_EQ(a.running, b.running) << i;
        EXPECT_EQ(a.waiting, b.waiting) << i;
    }
    EXPECT_EQ(m.result.summary.output_tokens, s.summary.output_tokens);
    EXPECT_EQ(m.result.summary.completed, s.summary.completed);
}

}  // namespace

TEST(ReplicaLoop, SimulatorAndExecutorRunTheSameLoopOpenLoop) {
    SimulationResult s;
    expect_same_run(open_loop(), s);
}

TEST(ReplicaLoop, SimulatorAndExecutorRunTheSameLoopMultiTurnClosedLoop) {
    // 3 users, 1-3 turns each with think times: follow-up turns carry the executor's real token history
    SimulationResult s;
    expect_same_run(load_scenario(DATA + "/tiny-serve.yaml", {"workload.duration_s=0.6"}), s);
    EXPECT_TRUE(std::any_of(s.requests.begin(), s.requests.end(), [](const RequestRecord& r) { return r.turn > 0; }));
}

TEST(ReplicaLoop, SimulatorAndExecutorRunTheSameLoopUnderKvPressure) {
    // 16 blocks of 16 tokens for up to 4 sequences of up to 212 tokens, 1,000 arrivals a second:
    // preemptions and recomputation
    Scenario sc = open_loop();
    sc.engine.kv_blocks_limit = 16;
    sc.workload.rate = 1000;
    sc.workload.duration_s = 0.05;
    SimulationResult s;
    expect_same_run(sc, s);
    EXPECT_GT(s.summary.preemptions, 0);
}

TEST(ReplicaLoop, StopTimeEndsSessionsInBothLoops) {
    // Open-loop sessions of 2-4 turns: with stop_s (what `measure serve` and `validate` set from --duration),
    // no turn starts at or after it in either loop. Before stop_s the two runs are the same events, so the
    // requests are exactly those of the run without a stop that arrived before it (a reference run).
    Scenario sc = load_scenario(DATA + "/tiny-sessions.yaml");
    sc.engine.api_server = ApiServer{};
    const SimulationResult all = simulate_all(sc);
    sc.engine.stop_s = 0.3;
    SimulationResult cut;
    expect_same_run(sc, cut);  // the executor's loop obeys the same stop, request by request
    std::vector<const RequestRecord*> before;
    for (const RequestRecord& r : all.requests) {
        if (r.arrival_s < 0.3) before.push_back(&r);
    }
    ASSERT_LT(before.size(), all.requests.size());  // the reference run has turns after 0.3 s
    ASSERT_EQ(cut.requests.size(), before.size());
    for (size_t i = 0; i < before.size(); ++i) {
        EXPECT_EQ(cut.requests[i].session, before[i]->session) << i;
        EXPECT_EQ(cut.requests[i].turn, before[i]->turn) << i;
        EXPECT_DOUBLE_EQ(cut.requests[i].arrival_s, before[i]->arrival_s) << i;
    }
}
