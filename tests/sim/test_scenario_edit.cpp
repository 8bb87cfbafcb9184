// Typed scenario edits (sweeps, plans, counterfactuals) against the loader: the reference for each edit is
// the same change written as --set assignments and read by the loader from the file.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "headroom/hardware/profile_loader.hpp"
#include "headroom/sim/analysis.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"
#include "headroom/sim/sweep.hpp"

using namespace headroom;

namespace {

const std::string TRACE = std::string(HEADROOM_TEST_DATA) + "/executor/tiny-trace.yaml";


}  // namespace

TEST(ScenarioEdit, UsersOnATraceTakeItsRowsAsTheLoaderDoes) {
    Scenario edited = load_scenario(TRACE);
    set_load(edited, LoadKind::CONCURRENCY, 3);
    const Scenario loaded =
        load_scenario(TRACE, {"workload.arrival.process=closed_loop", "workload.arrival.users=3",
                              "workload.duration_s=" + fmt::format("{:.17g}", edited.workload.duration_s)});
    EXPECT_EQ(edited.workload.arrival, "closed_loop");
    EXPECT_EQ(edited.workload.users, 3);
    // the trace lasts from its first to its last arrival, and the closed loop runs that long
    EXPECT_DOUBLE_EQ(edited.workload.duration_s,
                     edited.workload.trace.back().arrived_at_s - edited.workload.trace.front().arrived_at_s);
    // the users take the trace's rows, lengths drawn from nowhere else
    EXPECT_EQ(edited.workload.trace.size(), loaded.workload.trace.size());
    EXPECT_FALSE(edited.workload.prompt_tokens);
    EXPECT_FALSE(loaded.workload.prompt_tokens);
    SimulationOptions keep;
    keep.keep_requests = true;
    const SimulationResult a = simulate(edited, keep), b = simulate(loaded, keep);  // each in a child of its own
    ASSERT_EQ(a.requests.size(), b.requests.size());
    ASSERT_GT(a.requests.size(), 3u);
    for (size_t i = 0; i < a.requests.size(); ++i) {
        // request i is the trace's row i (the rows are taken in order), and the runs agree to the bit
        EXPECT_EQ(a.requests[i].prompt_tokens, edited.workload.trace[static_cast<size_t>(a.requests[i].session)].prompt_tokens);
        EXPECT_EQ(a.requests[i].finish_s, b.requests[i].finish_s);
    }
}

TEST(ScenarioEdit, RateOnATraceScalesItsClock) {
    Scenario sc = load_scenario(TRACE);
    const double rate = trace_rate(sc.workload.trace);
    set_load(sc, LoadKind::QPS, rate * 2);  // twice as fast: every gap halves
    EXPECT_DOUBLE_EQ(sc.workload.trace_time_scale, 0.5);
}

TEST(ScenarioEdit, LoadsOutsideTheLoadersBoundsAreErrors) {
    Scenario sc = load_scenario(TRACE);
    try {
        set_load(sc, LoadKind::CONCURRENCY, 0.4);  // rounds to 0 users
        FAIL() << "no error";
    } catch (const ScenarioError& e) {
        EXPECT_EQ(e.field(), "workload.arrival.users");
    }
    EXPECT_THROW(set_load(sc, LoadKind::QPS, 0), ScenarioError);
    EXPECT_THROW(set_load(sc, LoadKind::QPS, 2e6), ScenarioError);
}

TEST(ScenarioEdit, CheckScenarioAppliesTheLoadersCrossFieldRules) {
    Scenario sc = load_scenario("");  // Llama-3.1-8B: 32 heads, 8 KV heads
    sc.deployment.tp = 3;
    try {
        check_scenario(sc);
        FAIL() << "no error";
    } catch (const ScenarioError& e) {
        EXPECT_EQ(e.field(), "tp");
    }
    sc.deployment.tp = 1;
    sc.engine.chunked_prefill = false;  // the 131,072-token context no longer fits the 8,192-token budget
    try {
        check_scenario(sc);
        FAIL() << "no error";
    } catch (const ScenarioError& e) {
        EXPECT_EQ(e.field(), "scheduler.max_num_batched_tokens");
    }
}

TEST(ScenarioEdit, EveryCounterfactualEqualsItsSetAssignments) {
    const Scenario base = load_scenario("");
    for (const Counterfactual& c : counterfactuals(base)) {
        Scenario edited = base;
        c.apply(edited);
        const Scenario loaded = load_scenario("", c.overrides);
        EXPECT_EQ(edited.deployment.gpu.name, loaded.deployment.gpu.name) << c.label;
        EXPECT_EQ(edited.deployment.gpu.price_usd_per_gpu_hour.value, loaded.deployment.gpu.price_usd_per_gpu_hour.value) << c.label;
        EXPECT_EQ(edited.deployment.tp, loaded.deployment.tp) << c.label;
        EXPECT_EQ(edited.deployment.replicas, loaded.deployment.replicas) << c.label;
        EXPECT_EQ(edited.deployment.kv_dtype, loaded.deployment.kv_dtype) << c.label;
        EXPECT_EQ(edited.engine.max_num_batched_tokens, loaded.engine.max_num_batched_tokens) << c.label;
        EXPECT_EQ(edited.workload.output_scale, loaded.workload.output_scale) << c.label;
    }
}

// The step limits default to what `vllm serve` takes on the GPU (vLLM's EngineArgs.get_batch_defaults): 8,192
// tokens and 1,024 sequences on a GPU of 70 GiB or more that is not an A100, 2,048 and 256 otherwise; a value
// the scenario gives stands; a GPU edit re-derives the ones it did not give; a prefill pool on another GPU takes
// that GPU's.
TEST(ScenarioEdit, StepLimitsDefaultToVllmServesForTheGpu) {
    auto load = [](const std::string& extra) {
        return parse_scenario("model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\n" + extra +
                                  "workload:\n  shape: single\n  arrival: {process: poisson, rate: 1}\n  prompt_tokens: 100\n  output_tokens: 10\n  requests: 10\n",
                              "t.yaml", ".");
    };
    const Scenario h100 = load("");
    EXPECT_EQ(h100.engine.max_num_batched_tokens, 8192);
    EXPECT_EQ(h100.engine.max_num_seqs, 1024);
    for (const char* g : {"a100-80gb", "l40s", "jetson-agx-orin-64gb"}) {
        const Scenario s = parse_scenario(std::string("model: meta-llama/Llama-3.1-8B-Instruct\ngpu: ") + g +
                                              "\nworkload:\n  shape: single\n  arrival: {process: poisson, rate: 1}\n  prompt_tokens: 100\n  output_tokens: 10\n  requests: 10\n",
                                          "t.yaml", ".");
        EXPECT_EQ(s.engine.max_num_batched_tokens, 2048) << g;
        EXPECT_EQ(s.engine.max_num_seqs, 256) << g;
    }
    for (const char* g : {"h200", "b200", "gb200", "h100-pcie"}) {
        const BatchLimits b = vllm_serve_defaults(load_gpu(g));
        EXPECT_EQ(b.max_num_batched_tokens, 8192) << g;
        EXPECT_EQ(b.max_num_seqs, 1024) << g;
    }
    // 40 GiB of memory: under vLLM's 70 GiB line
    EXPECT_EQ(load("gpu_overrides: {memory.capacity_gib: 40}\n").engine.max_num_seqs, 256);
    // given values stand, on this GPU and after a GPU edit; the other limit follows the GPU
    Scenario given = load("scheduler: {max_num_seqs: 64}\n");
    EXPECT_EQ(given.engine.max_num_seqs, 64);
    set_gpu(given, "a100-80gb", scenario_gpu(given, "a100-80gb"));
    EXPECT_EQ(given.engine.max_num_seqs, 64);
    EXPECT_EQ(given.engine.max_num_batched_tokens, 2048);
    Scenario edited = h100;
    set_gpu(edited, "l40s", scenario_gpu(edited, "l40s"));
    EXPECT_EQ(edited.engine.max_num_seqs, 256);
    // a caller's own edit of a value on the same GPU stands too
    Scenario one = h100;
    one.engine.max_num_seqs = 1;
    EXPECT_EQ(scheduler_config(placed_deployment(one), one.engine, scenario_kv_plan(one)).max_num_seqs, 1);
    // a prefill pool of A100s beside H100 decoders
    const Scenario pools = load("scheduler: {max_model_len: 8192}\ndisaggregation:\n  prefill: {gpu: a100-80gb, tp: 1, replicas: 1}\n");
    const Deployment pd = prefill_deployment(pools);
    const KvPlan pp = deployment_kv_plan(pd, pools.engine, "prefill");
    EXPECT_EQ(scheduler_config(pd, pools.engine, pp).max_num_batched_tokens, 2048);
    EXPECT_EQ(pp.request.max_num_seqs, 256);
}
