// Sweep point recipes (sweep.hpp): what a remote worker is sent. A recipe rebuilds the sweep's own scenario
// exactly, so its simulation is bit-identical; run_sweep with a remote runner that simulates recipes gives the
// same sweep as the local one.
#include <gtest/gtest.h>

#include <algorithm>

#include "headroom/report/json.hpp"
#include "headroom/sim/capacity.hpp"
#include "headroom/sim/sweep.hpp"

using namespace headroom;

TEST(Recipe, RoundTripsAndRejectsWhatIsNotOne) {
    const PointRecipe r{"examples/rag.yaml", {"kv_dtype=fp8", "workload.duration_s=10"}, LoadKind::QPS, 8.5, "one more replica"};
    const PointRecipe back = parse_recipe(recipe_json(r));
    EXPECT_EQ(back.scenario_path, r.scenario_path);
    EXPECT_EQ(back.overrides, r.overrides);
    EXPECT_EQ(back.load_kind, LoadKind::QPS);
    EXPECT_EQ(back.load, 8.5);
    EXPECT_EQ(back.counterfactual, "one more replica");
    EXPECT_THROW(parse_recipe("{}"), ScenarioError);
    EXPECT_THROW(parse_recipe("[1, 2]"), ScenarioError);
    PointRecipe bad = r;
    bad.scenario_path = HEADROOM_TEST_DATA "/../../examples/rag.yaml";
    EXPECT_NO_THROW(build_point(bad));  // "one more replica" applies to rag's 2 x H100
    bad.counterfactual = "a bigger datacentre";
    try {
        build_point(bad);
        FAIL() << "no error";
    } catch (const ScenarioError& e) {
        EXPECT_NE(std::string(e.what()).find("\"a bigger datacentre\" does not apply here"), std::string::npos) << e.what();
    }
}

TEST(Recipe, ARemoteSweepByRecipeEqualsTheLocalOne) {
    SweepRequest req;
    req.scenario_path = HEADROOM_TEST_DATA "/../../examples/rag.yaml";
    req.overrides = {"workload.duration_s=20"};
    req.load_kind = LoadKind::QPS;
    req.loads = {2, 32, 64};
    req.axes = {{"kv_dtype", {"bf16", "fp8"}}};
    req.jobs = 2;
    const std::string local = sweep_json_lines(req, run_sweep(req));
    size_t remote_runs = 0;
    req.remote = [&](const std::vector<std::string>& recipes) {
        std::vector<std::string> out;
        for (const std::string& r : recipes) out.push_back(simulate_recipe(r));
        remote_runs += recipes.size();
        return out;
    };
    const SweepResult remote = run_sweep(req);
    EXPECT_EQ(sweep_json_lines(req, remote), local);
    // every simulation went through the runner: the grid, the counterfactuals and the capacity probes
    size_t expected = 6;  // 2 series x 3 rates
    for (const SweepSeries& s : remote.series) {
        for (const CounterfactualResult& c : s.counterfactuals) expected += c.fits;
        expected += static_cast<size_t>(s.capacity.simulations);
    }
    EXPECT_EQ(remote_runs, expected);
    EXPECT_GT(remote_runs, 6u);
}

// A plan's probes go out as plan-probe recipes (capacity.hpp) when it has a remote runner: the plan is the
// same, probe for probe, as the one simulated here.
TEST(Recipe, ARemotePlanByProbeRecipeEqualsTheLocalOne) {
    CapacityRequest req;
    req.model_spec = "llama-3.1-8b";
    req.qps = 4;
    req.slos = {{"ttft", 95, 2.0}, {"tpot", 95, 0.05}};
    req.gpus = {"h100-sxm", "l40s"};
    req.duration_s = 20;
    req.try_speculative = true;
    req.try_disaggregated = true;  // the split fleets go out as probes too (their prefill replicas in the recipe)
    req.jobs = 2;
    const CapacityPlan here = plan_capacity(req);
    EXPECT_TRUE(std::any_of(here.ranked.begin(), here.ranked.end(), [](const CapacityCandidate& c) { return c.prefill_replicas > 0; }));
    const std::string local = capacity_json(req, here, 10);
    int64_t remote_runs = 0;
    req.remote = [&](const std::vector<std::string>& recipes) {
        std::vector<std::string> out;
        for (const std::string& r : recipes) {
            EXPECT_TRUE(is_plan_probe(r));
            out.push_back(simulate_recipe(r));
        }
        remote_runs += static_cast<int64_t>(recipes.size());
        return out;
    };
    const CapacityPlan there = plan_capacity(req);
    EXPECT_EQ(capacity_json(req, there, 10), local);
    EXPECT_EQ(remote_runs, here.simulations);
    EXPECT_GT(remote_runs, 8);
    // a pipelined candidate's probes carry its stages: DeepSeek-V3 fits no TP up to 8 on H100, so every candidate
    // is TP 8 x PP 2 or 4, and the remote plan equals the local one
    CapacityRequest ds;
    ds.model_spec = "deepseek-ai/DeepSeek-V3";
    ds.qps = 1;
    ds.slos = {{"ttft", 95, 2.0}, {"tpot", 95, 0.1}};
    ds.gpus = {"h100-sxm"};
    ds.duration_s = 10;
    ds.jobs = 2;
    const CapacityPlan pp_here = plan_capacity(ds);
    ASSERT_FALSE(pp_here.ranked.empty());
    for (const CapacityCandidate& c : pp_here.ranked) EXPECT_GT(c.pp, 1) << c.label();
    ds.remote = [&](const std::vector<std::string>& recipes) {
        std::vector<std::string> out;
        for (const std::string& r : recipes) out.push_back(simulate_recipe(r));
        return out;
    };
    EXPECT_EQ(capacity_json(ds, plan_capacity(ds), 10), capacity_json(ds, pp_here, 10));
    // a probe that is not one: one clear error
    EXPECT_FALSE(is_plan_probe(recipe_json(PointRecipe{"x.yaml", {}, LoadKind::QPS, 1, ""})));
    try {
        plan_probe_scenario("{\"plan_probe\": 1, \"request\": {}}");
        FAIL() << "no error";
    } catch (const ScenarioError& e) {
        EXPECT_NE(std::string(e.what()).find("not a plan probe recipe"), std::string::npos) << e.what();
    }
}
