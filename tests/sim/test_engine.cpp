// Property tests of the whole simulator (each simulate() runs in a forked child process).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "headroom/core/cost_model.hpp"
#include "headroom/sim/analysis.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/sim/scenario.hpp"

using namespace headroom;

namespace {

// Every request's record kept (the CLI keeps none unless asked).
SimulationResult simulate_all(const Scenario& sc, SimulationOptions o = {}) {
    o.keep_requests = true;
    return simulate(sc, o);
}

Scenario scenario(const std::string& workload, const std::string& extra = "") {
    const std::string text = "model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\nseed: 7\n" + extra +
                             "scheduler: {max_model_len: 16384}\nworkload:\n" + workload;
    return parse_scenario(text, "test.yaml", ".");
}

const char* POISSON = R"(  shape: single
  arrival: {process: poisson, rate: RATE}
  prompt_tokens: {dist: lognormal, median: 500, sigma: 0.7, min: 16, max: 4000}
  output_tokens: {dist: lognormal, median: 150, sigma: 0.6, min: 4, max: 1000}
  requests: COUNT
)";

// The queueing tests model the engine alone: no API server in front of it.
Scenario scenario_no_api(const std::string& workload, const std::string& extra) {
    return scenario(workload, extra + "api_server: {fixed_ms: 0, tokenize_tokens_per_s: 0}\n");
}

std::string poisson(double rate, int count) {
    std::string w = POISSON;
    w.replace(w.find("RATE"), 4, std::to_string(rate));
    w.replace(w.find("COUNT"), 5, std::to_string(count));
    return w;
}

}  // namespace

TEST(Engine, LittlesLawOnAStablePoissonRun) {
    // L (time-average requests in the scheduler, from the engine's step samples) = lambda x W (request
    // records). The two are measured independently; they must agree within 3%.
    SimulationOptions o;
    o.keep_all_steps = true;
    const SimulationResult r = simulate_all(scenario(poisson(8.0, 3000)), o);
    ASSERT_EQ(r.summary.completed, 3000);
    double area = 0, first = 1e300, last = 0;
    for (const auto& q : r.requests) {
        first = std::min(first, q.arrival_s);
        last = std::max(last, q.finish_s);
    }
    for (const StepSample& s : r.timeseries) area += (s.running + s.waiting) * s.dt_s;
    const double L = area / (last - first);
    const double lambda = 3000 / (last - first);
    const double W = r.summary.e2e_s.mean;
    EXPECT_NEAR(L, lambda * W, 0.03 * lambda * W) << "L " << L << " lambda*W " << lambda * W;
}

TEST(Engine, ThroughputNeverExceedsTheRooflineBound) {
    // Overload the GPU (everything at t = 0). No run can emit tokens faster than the best decode step:
    // max over B of B / step_time(B decodes at context 1), B up to max_num_seqs.
    const Scenario sc = scenario(R"(  shape: batch
  prompt_tokens: 300
  output_tokens: 300
  requests: 2000
)");
    const SimulationResult r = simulate_all(sc);
    CostConfig c;
    const CostModel cm(sc.deployment.model, sc.deployment.gpu, c);
    double bound = 0;
    for (int64_t b = 1; b <= sc.engine.max_num_seqs; ++b) {
        bound = std::max(bound, b / cm.step_time(std::vector<SequenceWork>(b, SequenceWork{1, 1})));
    }
    EXPECT_LE(r.summary.output_throughput, bound);
    EXPECT_GT(r.summary.output_throughput, 0.3 * bound);  // and the saturated run gets somewhere near it
}

TEST(Engine, MeanLatencyDoesNotFallAsLoadRises) {
    // Same seed, same request lengths, arrivals compressed: mean E2E must not decrease.
    std::vector<Scenario> runs;
    for (double rate : {2.0, 8.0, 20.0, 40.0, 80.0}) runs.push_back(scenario(poisson(rate, 800)));
    const auto results = simulate_many(runs, {}, 2);
    for (size_t i = 1; i < results.size(); ++i) {
        EXPECT_GE(results[i].summary.e2e_s.mean, results[i - 1].summary.e2e_s.mean * 0.999) << "rate index " << i;
    }
    EXPECT_GT(results.back().summary.queue_s.mean, results.front().summary.queue_s.mean);
}

TEST(Engine, EveryRequestCompletesOrIsRejectedWithAReason) {
    // Prompts up to 30,000 tokens against max_model_len 16,384: the long ones are rejected, the rest finish.
    const SimulationResult r = simulate_all(scenario(R"(  shape: single
  arrival: {process: poisson, rate: 4}
  prompt_tokens: {dist: uniform, min: 100, max: 30000}
  output_tokens: 50
  requests: 300
)"));
    EXPECT_GT(r.summary.rejected, 0);
    EXPECT_EQ(r.summary.completed + r.summary.rejected, 300);
    int64_t output = 0;
    for (const auto& q : r.requests) {
        if (q.rejected) {
            EXPECT_GT(q.prompt_tokens + q.output_tokens, 16384);
            EXPECT_NE(q.reject_reason.find("max_model_len"), std::string::npos);
        } else {
            EXPECT_TRUE(q.completed());
            EXPECT_EQ(q.generated, q.output_tokens);  // conservation: every asked-for token was emitted
            output += q.generated;
        }
    }
    EXPECT_EQ(r.summary.output_tokens, output);
}

TEST(Engine, RepeatedRunsInOneProcessAreIdentical) {
    // Each run is a fresh child process: the second run does not inherit the first one's clock.
    const Scenario sc = scenario(poisson(10.0, 400));
    const SimulationResult a = simulate_all(sc), b = simulate_all(sc);
    EXPECT_EQ(serialize_result(a).substr(0, 8), serialize_result(b).substr(0, 8));
    ASSERT_EQ(a.requests.size(), b.requests.size());
    for (size_t i = 0; i < a.requests.size(); ++i) {
        EXPECT_EQ(a.requests[i].finish_s, b.requests[i].finish_s);
        EXPECT_EQ(a.requests[i].first_token_s, b.requests[i].first_token_s);
    }
    EXPECT_EQ(a.simulated_s, b.simulated_s);
    EXPECT_LT(a.requests.front().arrival_s, 1.0);  // the clock started at 0
}

TEST(Engine, ClosedLoopNeverRunsMoreThanItsUsers) {
    const SimulationResult r = simulate_all(scenario(R"(  shape: single
  arrival: {process: closed_loop, users: 12}
  prompt_tokens: 400
  output_tokens: 100
  requests: 600
)"));
    EXPECT_EQ(r.summary.completed, 600);
    EXPECT_LE(r.summary.running_peak, 12);
}

TEST(Engine, ReplicasShareTheLoad) {
    // Two replicas with round robin: each takes half the requests, and the fleet counts 2 GPUs.
    const SimulationResult r = simulate_all(scenario(poisson(20.0, 1000), "replicas: 2\n"));
    int64_t on[2] = {0, 0};
    for (const auto& q : r.requests) ++on[q.replica];
    EXPECT_EQ(on[0], 500);
    EXPECT_EQ(on[1], 500);
    EXPECT_EQ(r.summary.gpus, 2);
}

namespace {

// One request at a time (max_num_seqs 1), fixed lengths: an M/D/1 queue with service time D, where D is
// the prefill step plus the decode steps at contexts P .. P + O - 2, from the cost model.
const int64_t MD1_PROMPT = 512, MD1_OUTPUT = 16;

std::string md1(double rate, int count) {
    return "  shape: single\n  arrival: {process: poisson, rate: " + std::to_string(rate) +
           "}\n  prompt_tokens: 512\n  output_tokens: 16\n  requests: " + std::to_string(count) + "\n";
}

double md1_service_time(const Scenario& sc) {
    const auto cm = make_step_predictor(sc.deployment, sc.engine);  // the one simulate uses
    double d = cm->step_time({{MD1_PROMPT, 0}});
    for (int64_t c = MD1_PROMPT; c <= MD1_PROMPT + MD1_OUTPUT - 2; ++c) d += cm->step_time({{1, c}});
    return d;
}

}  // namespace

TEST(Engine, MD1QueueMatchesPollaczekKhinchine) {
    // rho = 0.5: mean wait W_q = rho D / (2 (1 - rho)) = D / 2; within 6% over 20,000 requests
    // (without async scheduling: with it a request that finds the engine idle pays the host time of its first
    // step, hidden otherwise, and the service time is no longer one D; AsyncSchedulingHidesHostTime...)
    Scenario sc = scenario_no_api(md1(1.0, 10), "");
    sc.engine.async_scheduling = false;
    const double d = md1_service_time(sc);
    sc = scenario_no_api(md1(0.5 / d, 20'000), "");
    sc.engine.async_scheduling = false;
    sc.engine.max_num_seqs = 1;
    const SimulationResult r = simulate_all(sc);
    EXPECT_NEAR(r.summary.e2e_s.mean - r.summary.queue_s.mean, d, 1e-9 * d + 1e-12);  // service is exactly D
    EXPECT_NEAR(r.summary.queue_s.mean, 0.5 * d, 0.06 * 0.5 * d) << "D = " << d;
}

TEST(Engine, MD1KneeSitsAtOneOverD) {
    // sweep the arrival rate across the saturation point 1/D: the knee must be the grid point at 1/D
    Scenario probe = scenario_no_api(md1(1.0, 10), "");
    const double d = md1_service_time(probe);
    const std::vector<double> fractions = {0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0};
    std::vector<Scenario> runs;
    for (double f : fractions) {
        Scenario sc = scenario_no_api(md1(f / d, 3000), "");
        sc.engine.max_num_seqs = 1;
        runs.push_back(sc);
    }
    const auto results = simulate_many(runs, {}, 2);
    std::vector<double> x, y, z;
    for (size_t i = 0; i < fractions.size(); ++i) {
        x.push_back(fractions[i] / d);
        y.push_back(results[i].summary.request_throughput);
        z.push_back(results[i].summary.ttft_s.p95);
    }
    // below saturation throughput follows the arrival rate, above it stays at 1/D
    EXPECT_NEAR(y.front(), 0.2 / d, 0.1 * 0.2 / d);
    EXPECT_NEAR(y.back(), 1.0 / d, 0.02 / d);
    const Knee k = detect_knee(x, y, z);
    EXPECT_TRUE(k.found) << k.note;
    EXPECT_NEAR(k.load, 1.0 / d, 1e-9 / d) << "knee at " << k.load * d << " x 1/D";
    EXPECT_TRUE(k.latency_confirms);
}

// Regression: `requests: 10` on a 3-turn chat gave 30 requests under Poisson arrivals (it counted sessions)
// and 10 with closed-loop users (it counted requests), so a concurrency sweep changed the meaning of the
// field. Both now count requests: 10 = three full sessions of 3 turns plus 1 turn of a fourth session.
TEST(Engine, RequestsCountsRequestsInOpenAndClosedLoop) {
    const std::string chat = R"(  shape: chat
  turns: 3
  prompt_tokens: 100
  followup_tokens: 20
  output_tokens: 10
  think_time_s: 0.5
  requests: 10
)";
    const SimulationResult open = simulate_all(scenario("  arrival: {process: poisson, rate: 0.5}\n" + chat));
    const SimulationResult closed = simulate_all(scenario("  arrival: {process: closed_loop, users: 2}\n" + chat));
    EXPECT_EQ(open.summary.requests, 10);
    EXPECT_EQ(closed.summary.requests, 10);
    int64_t fourth = 0;
    for (const RequestRecord& r : open.requests) fourth += r.session == 3;
    EXPECT_EQ(fourth, 1);
    const std::vector<Session> sessions = open_loop_sessions(parse_scenario(
        "model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\nworkload:\n  arrival: {process: poisson, rate: 0.5}\n" + chat,
        "t.yaml", ".").workload, 7);
    ASSERT_EQ(sessions.size(), 4u);
    EXPECT_EQ(sessions.back().turns.size(), 1u);
}

// Regression: an SLO at a percentile other than 50/90/95/99 was interpolated between the stored ones (TTFT
// p80 came out +13% off). SLO values are now exact: compared here with numpy's default percentile (linear
// between closest ranks) computed from the per-request records. The p99.9 SLO arrives through --set, whose
// dotted path used to split "ttft_p99.9_s" at the dot.
TEST(Engine, SloPercentilesAreExactAtAnyLevel) {
    Scenario sc = parse_scenario("model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\nseed: 7\n"
                                 "slo: {ttft_p80_s: 1.0, e2e_p97.5_s: 30}\nworkload:\n" + poisson(8.0, 1500),
                                 "test.yaml", ".", {"slo.ttft_p99.9_s=2", "slo.tpot_p37.5_s=0.05"});
    ASSERT_EQ(sc.slos.size(), 4u);
    const SimulationResult r = simulate_all(sc);
    auto numpy_percentile = [](std::vector<double> v, double pct) {
        std::sort(v.begin(), v.end());
        const double rank = pct / 100.0 * static_cast<double>(v.size() - 1);
        const auto lo = static_cast<size_t>(rank);
        const size_t hi = std::min(lo + 1, v.size() - 1);
        return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
    };
    std::vector<double> ttft, e2e, tpot;
    for (const RequestRecord& q : r.requests) {
        if (!q.completed()) continue;
        ttft.push_back(q.ttft_s());
        e2e.push_back(q.e2e_s());
        if (q.generated > 1) tpot.push_back(q.tpot_s());
    }
    ASSERT_GT(ttft.size(), 1000u);
    for (const SloResult& s : r.summary.slos) {
        const std::vector<double>& v = s.metric == "ttft" ? ttft : s.metric == "e2e" ? e2e : tpot;
        EXPECT_DOUBLE_EQ(s.value_s, numpy_percentile(v, s.percentile)) << s.metric << " p" << s.percentile;
    }
    EXPECT_DOUBLE_EQ(r.summary.slos[2].percentile, 99.9);
}

TEST(Engine, SloListParsesDecimalPercentilesAndRejectsNonsense) {
    const auto slos = parse_slo_list("ttft_p99.9=2s,tpot_p95=50ms");
    ASSERT_EQ(slos.size(), 2u);
    EXPECT_DOUBLE_EQ(slos[0].percentile, 99.9);
    EXPECT_DOUBLE_EQ(slos[1].threshold_s, 0.05);
    EXPECT_THROW(parse_slo_list("ttft_p95=1e999s"), std::invalid_argument);
    EXPECT_THROW(parse_slo_list("ttft_p100=1s"), std::invalid_argument);
    EXPECT_THROW(parse_slo_list("ttfx_p95=1s"), std::invalid_argument);
}

// Prefix groups: N = 4 system prompts of 512 tokens (32 full blocks) in use at once, each shared by M = 5
// questions of 64 tokens, then replaced. With prefix caching each group's first request computes its 512
// tokens and the other M - 1 read them from cache: (M - 1) / M of the shared tokens, here 400 x 512 x 4/5 =
// 163,840 cached tokens exactly (arrivals 0.5 s apart never overlap a prefill; the cache never evicts).
TEST(Engine, PrefixGroupsCacheMMinusOneOverMOfTheSharedPrompt) {
    const std::string w = R"(  shape: single
  arrival: {process: constant, rate: 2}
  prompt_tokens: 64
  output_tokens: 4
  prefix_groups: {groups: 4, questions: 5, system_prompt_tokens: 512}
  requests: 400
)";
    const Scenario with = scenario(w, "");
    EXPECT_TRUE(with.engine.prefix_caching);  // vLLM V1's default
    const SimulationResult on = simulate_all(with);
    EXPECT_EQ(on.summary.completed, 400);
    EXPECT_EQ(on.summary.input_tokens, 400 * (512 + 64));
    EXPECT_EQ(on.summary.prefix_hit_tokens, 400 * 512 * 4 / 5);
    // without prefix caching nothing is shared
    Scenario without = scenario(w, "");
    without.engine.prefix_caching = false;
    const SimulationResult off = simulate_all(without);
    EXPECT_EQ(off.summary.prefix_hit_tokens, 0);
}

// DP ranks each keep their own prefix cache (vLLM's are engines of their own, and its DP balancer does not
// look at prefixes). gpt-oss-120b over 4 DP ranks, a request every 50 ms that takes about 0.19 s: the
// balancer (least waiting x 4 + running) sends session i to rank i mod 4. N = 3 system prompts of 512 tokens
// in use at once, M = 20 questions each: session i is slot i mod 3 of generation i / 60, so one system
// prompt's 20 questions fall on ranks (slot + 3 j) mod 4, five on each, and each rank computes it once: 4
// misses per system prompt instead of 1. 420 requests, 21 system prompts: (420 - 4 x 21) x 512 = 172,032
// cached tokens, against (420 - 21) x 512 = 204,288 for one shared cache. (The request times are a DeepEP
// backend's; vLLM's default gather backend's steps are slower and the balancer's picks differ.)
TEST(Engine, DataParallelRanksCacheTheirOwnPrefixes) {
    const std::string text = R"(model: openai/gpt-oss-120b
gpu: h100
data_parallel: 4
expert_parallel: true
all2all_backend: deepep_low_latency
seed: 5
workload:
  shape: single
  arrival: {process: constant, rate: 20}
  prompt_tokens: 64
  output_tokens: 50
  prefix_groups: {groups: 3, questions: 20, system_prompt_tokens: 512}
  requests: 420
)";
    const SimulationResult r = simulate_all(parse_scenario(text, "test.yaml", "."));
    EXPECT_EQ(r.summary.completed, 420);
    EXPECT_EQ(r.summary.prefix_hit_tokens, (420 - 4 * 21) * 512);
}

// Prefix caching is on unless the scenario turns it off, as in vLLM V1; an encoder, whose tokens each see the
// whole prompt, cannot reuse a prefix's KV and has it off.
TEST(Engine, PrefixCachingDefaultsAsVllmV1) {
    const std::string batch = "workload:\n  shape: batch\n  prompt_tokens: 64\n  output_tokens: 4\n  requests: 1\n";
    const std::string llama = "model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\n";
    EXPECT_TRUE(parse_scenario(llama + batch, "test.yaml", ".").engine.prefix_caching);
    EXPECT_FALSE(parse_scenario(llama + "scheduler: {prefix_caching: false}\n" + batch, "test.yaml", ".").engine.prefix_caching);
    const Scenario enc = parse_scenario("model: sentence-transformers/all-MiniLM-L6-v2\ngpu: l40s\nworkload:\n  shape: embedding\n"
                                        "  arrival: {process: batch}\n  prompt_tokens: 64\n  requests: 1\n",
                                        "test.yaml", ".");
    EXPECT_FALSE(enc.engine.prefix_caching);
}

// Client timeouts: 20 identical requests at t = 0, one at a time (max_num_seqs 1), each served in D. Request
// k finishes at k D + h (h: the host time of the very first step, which nothing ran before to hide; async
// scheduling hides every later step's); with a timeout of 5.5 D requests 1..5 complete and the other 15 fail,
// abandoned at 5.5 D.
TEST(Engine, TimeoutsFailWhatCannotFinishInTime) {
    Scenario probe = scenario_no_api(md1(1.0, 10), "");
    const double d = md1_service_time(probe);
    const double h = make_step_predictor(probe.deployment, probe.engine)->step_totals({{MD1_PROMPT, 0}}).host_hidden_s;
    EXPECT_DOUBLE_EQ(h, 1e-3);  // the default 1 ms, all hidden behind a 512-token prefill
    Scenario sc = scenario("  shape: batch\n  prompt_tokens: 512\n  output_tokens: 16\n  requests: 20\n  timeout_s: " +
                               std::to_string(5.5 * d) + "\n",
                           "api_server: {fixed_ms: 0, tokenize_tokens_per_s: 0}\n");
    sc.engine.max_num_seqs = 1;
    const SimulationResult r = simulate_all(sc);
    EXPECT_EQ(r.summary.requests, 20);
    EXPECT_EQ(r.summary.completed, 5);
    EXPECT_EQ(r.summary.failed, 15);
    const double timeout = sc.workload.timeout_s;  // 5.5 D as written in the YAML (6 decimals)
    for (const RequestRecord& q : r.requests) {
        if (q.failed) EXPECT_DOUBLE_EQ(q.finish_s, timeout) << q.id;
        else EXPECT_NEAR(q.finish_s, (q.id + 1) * d + h, 1e-6 * d) << q.id;
    }
}

// Async scheduling (vLLM's default): the engine prepares step N + 1 while the GPU runs step N, so a busy engine
// pays no host time where each step's GPU work outlasts it (Llama-3.1-8B on H100: a 512-token prefill and
// decodes of several ms against 1 ms); the first step after an idle spell pays it whole. Two requests at t = 0,
// one at a time, then one at 10 s (the engine idle since): with D = the steps' GPU time (md1_service_time, 16
// steps), they finish at h + D, h + 2 D and 10 + h + D; without async scheduling every step pays h: D + 16 h each.
TEST(Engine, AsyncSchedulingHidesHostTimeInABusyEngine) {
    const std::filesystem::path trace = std::filesystem::temp_directory_path() / ("headroom-async-" + std::to_string(::getpid()) + ".csv");
    std::ofstream(trace) << "arrived_at,num_prefill_tokens,num_decode_tokens\n0,512,16\n0,512,16\n10,512,16\n";
    const std::string w = "  shape: single\n  arrival: {process: trace, file: " + trace.string() + "}\n";
    for (bool async : {true, false}) {
        Scenario sc = scenario_no_api(w, "");
        sc.engine.async_scheduling = async;
        sc.engine.max_num_seqs = 1;
        const double h = 1e-3;
        Scenario on = sc;
        on.engine.async_scheduling = true;
        const double d = md1_service_time(on);  // the GPU's time alone: every step here outlasts h
        const SimulationResult r = simulate_all(sc);
        ASSERT_EQ(r.requests.size(), 3u);
        const double first = async ? h + d : d + 16 * h;
        EXPECT_NEAR(r.requests[0].finish_s, first, 1e-9) << async;
        EXPECT_NEAR(r.requests[1].finish_s, async ? h + 2 * d : 2 * first, 1e-9) << async;
        EXPECT_NEAR(r.requests[2].finish_s, 10.0 + first, 1e-9) << async;
    }
    std::filesystem::remove(trace);
}

// The API server: a request of P prompt tokens reaches the engine after fixed + P / rate seconds, all of it in
// its TTFT: 2 ms + 3,000 / 300,000 tokens/s = 12 ms more than with no API server.
TEST(Engine, ApiServerTimeAddsToTtftAndIsReportedApart) {
    const std::string w = "  shape: single\n  arrival: {process: poisson, rate: 1}\n  prompt_tokens: 3000\n"
                          "  output_tokens: 8\n  requests: 1\n";
    const SimulationResult with = simulate_all(scenario(w, "api_server: {fixed_ms: 2, tokenize_tokens_per_s: 300000}\n"));
    const SimulationResult without = simulate_all(scenario(w, "api_server: {fixed_ms: 0, tokenize_tokens_per_s: 0}\n"));
    EXPECT_NEAR(with.summary.api_server_s_mean, 0.012, 1e-12);
    EXPECT_NEAR(with.summary.ttft_s.mean - without.summary.ttft_s.mean, 0.012, 1e-9);
    EXPECT_DOUBLE_EQ(without.summary.api_server_s_mean, 0.0);
}

// RAG requests arrive after their own retrieval latency (uniform 0-5 s here), so they reach the engine out of
// session order. None may be held back behind an earlier session that is still retrieving: each request's
// arrival is exactly its session's start plus its own latency, and the engine sees it its API-server time later.
TEST(Engine, RetrievalLatencyNeverHoldsBackLaterRequests) {
    const std::string w = R"(  shape: rag
  arrival: {process: poisson, rate: 4}
  prompt_tokens: 50
  retrieved_tokens: 500
  retrieval_latency_s: {dist: uniform, min: 0, max: 5}
  output_tokens: 8
  requests: 200
)";
    const Scenario sc = scenario(w, "");
    const SimulationResult r = simulate_all(sc);
    const std::vector<Session> sessions = open_loop_sessions(sc.workload, sc.seed);
    ASSERT_EQ(r.requests.size(), sessions.size());
    int64_t out_of_order = 0;
    for (const RequestRecord& q : r.requests) {
        const Session& s = sessions[static_cast<size_t>(q.session)];
        EXPECT_NEAR(q.arrival_s, s.start_s + s.turns[0].delay_before_s, 1e-9) << q.session;
        EXPECT_GE(q.scheduled_s, q.arrival_s + q.api_s - 1e-9);
        EXPECT_LT(q.scheduled_s - q.arrival_s, 0.2) << q.session;  // 4 req/s of 8 tokens: no queue to speak of
        out_of_order += q.id != q.session;
    }
    EXPECT_GT(out_of_order, 50);  // the latencies do reorder them
}

// gpt-oss-20b (12 full + 12 sliding layers of window 128) with 16 users each prompting 2,000 tokens and
// generating 2,000. In vLLM's groups (a block: 16 tokens of 12 layers) a sequence holds at most
// ceil(4000 / 16) = 250 full-group blocks plus, in its sliding group, 125 blocks while its prompt is computed
// and ceil((128 - 1) / 16) + 1 = 9 afterwards: 375, so 16 x 375 = 6,000 blocks hold every user without a
// preemption. The reserve below leaves a KV budget of 6,000 to 8,000 such blocks. Counting the sliding layers
// as full (headroom before the hybrid allocator) needs 16 x 500 = 8,000 and preempts.
TEST(Simulation, HybridModelFreesSlidingBlocksAndPreemptsOnlyAsThePerGroupArithmeticSays) {
    Scenario sc = parse_scenario(R"(model: openai/gpt-oss-20b
gpu: h100
seed: 3
scheduler: {max_model_len: 8192, max_num_batched_tokens: 2048, reserve_gb: 60.0}
workload:
  shape: single
  arrival: {process: closed_loop, users: 16}
  prompt_tokens: {dist: fixed, value: 2000}
  output_tokens: {dist: fixed, value: 2000}
  requests: 32
)",
                                 "hybrid.yaml", ".");
    const KvPlan plan = scenario_kv_plan(sc);
    ASSERT_GE(plan.num_blocks, 6000);
    ASSERT_LT(plan.num_blocks, 8000);
    const SimulationResult ok = simulate_all(sc);
    EXPECT_EQ(ok.summary.completed, 32);
    EXPECT_EQ(ok.summary.preemptions, 0);
    // half the pool: 16 x 259 steady blocks (250 + 9) > 4,000, so some sequences must be preempted
    sc.engine.kv_blocks_limit = plan.num_blocks / 2;
    const SimulationResult tight = simulate_all(sc);
    EXPECT_EQ(tight.summary.completed, 32);
    EXPECT_GT(tight.summary.preemptions, 0);
}

// A multi-turn chat on a hybrid model with prefix caching: each later turn finds its conversation in the
// cache (full groups from the start, the sliding group within its window), as on a uniform model.
TEST(Simulation, HybridModelChatHitsThePrefixCache) {
    const Scenario sc = parse_scenario(R"(model: openai/gpt-oss-20b
gpu: h100
seed: 5
scheduler: {max_model_len: 16384, prefix_caching: true}
workload:
  shape: chat
  arrival: {process: poisson, rate: 1}
  prompt_tokens: {dist: fixed, value: 1000}
  output_tokens: {dist: fixed, value: 100}
  turns: {dist: fixed, value: 3}
  followup_tokens: {dist: fixed, value: 50}
  think_time_s: {dist: fixed, value: 2}
  requests: 30
)", "hybrid-chat.yaml", ".");
    const SimulationResult r = simulate_all(sc);
    EXPECT_EQ(r.summary.completed, 30);
    // 10 sessions x 2 later turns; a later turn's prompt is the earlier prompt + answer + 50 new tokens, and the
    // cache holds at least the full blocks of the earlier prompt: >= 1000 / 16 = 62 blocks = 992 tokens each
    EXPECT_GE(r.summary.prefix_hit_tokens, 20 * 992);
}

namespace {

// One request, alone: a 500-token prompt and `output` tokens, on the plain roofline (no API server), with an
// optional speculative block.
Scenario lone_request(int64_t output, const std::string& speculative) {
    return parse_scenario("model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\npredictor: roofline\nseed: 5\n"
                          "api_server: {fixed_ms: 0, tokenize_tokens_per_s: 0}\n" + speculative +
                          "workload:\n  shape: single\n  arrival: {process: closed_loop, users: 1}\n"
                          "  prompt_tokens: {dist: fixed, value: 500}\n"
                          "  output_tokens: {dist: fixed, value: " + std::to_string(output) + "}\n  requests: 1\n",
                          "spec.yaml", ".");
}

}  // namespace

// vLLM keeps async scheduling beside EAGLE and MTP drafters and turns it off for n-gram and draft-model
// speculation (PR #31998): with n-gram drafts every step pays its 1 ms of host time.
TEST(Simulation, NgramSpeculationRunsWithoutAsyncScheduling) {
    EXPECT_TRUE(lone_request(40, "").engine.async_scheduling);
    EXPECT_TRUE(lone_request(40, "speculative: {method: eagle3, num_speculative_tokens: 3, acceptance_rate: 0.5}\n").engine.async_scheduling);
    const Scenario ng = lone_request(40, "speculative: {method: ngram, num_speculative_tokens: 3, acceptance_rate: 0.5}\n");
    EXPECT_FALSE(ng.engine.async_scheduling);
    const StepTotals t = make_step_predictor(ng.deployment, ng.engine)->step_totals({{1, 500}});
    EXPECT_EQ(t.host_hidden_s, 0.0);
    EXPECT_DOUBLE_EQ(t.time_by_bound_s[static_cast<int>(Bound::OVERHEAD)], 1e-3);
}

TEST(Simulation, SpeculationThatAcceptsNothingIsPlainDecodingPlusTheDraftersCost) {
    // alpha = 0: every verify emits only the target's own token, so the request takes as many steps as plain
    // decoding, and each decode step costs the verify of 1 + k tokens plus the drafter's k passes instead of a
    // one-token decode. Reference: the same steps priced by the two predictors, with the drafts capped near the
    // end (k = min(3, tokens left - 1)).
    const std::string spec = "speculative: {method: eagle3, num_speculative_tokens: 3, acceptance_rate: 0}\n";
    const Scenario plain_sc = lone_request(40, ""), spec_sc = lone_request(40, spec);
    const SimulationResult plain = simulate_all(plain_sc), sp = simulate_all(spec_sc);
    ASSERT_EQ(plain.requests.size(), 1u);
    ASSERT_EQ(sp.requests.size(), 1u);
    EXPECT_EQ(sp.summary.steps, plain.summary.steps);
    EXPECT_EQ(sp.requests[0].generated, 40);
    EXPECT_EQ(sp.summary.accounting.spec_accepted, 0);
    EXPECT_EQ(sp.summary.accounting.spec_verifies, 38);  // the last decode has no token left to draft
    const auto p_plain = make_step_predictor(plain_sc.deployment, plain_sc.engine);
    const auto p_spec = make_step_predictor(spec_sc.deployment, spec_sc.engine);
    // the prompt's step: the drafter also reads the prompt (its first pass runs over every scheduled token)
    double extra = p_spec->step_time({{500, 0}}) - p_plain->step_time({{500, 0}});
    for (int64_t g = 1; g < 40; ++g) {  // decode steps after the first token: context 500 + g - 1
        // k = 0 on the last decode: no verify, but the drafter still runs over the scheduled token
        const int64_t ctx = 500 + g - 1, k = std::min<int64_t>(3, 40 - g - 1);
        extra += (k > 0 ? p_spec->step_time({{1 + k, ctx, k}}) : p_spec->step_time({{1, ctx}})) - p_plain->step_time({{1, ctx}});
    }
    EXPECT_GT(extra, 0);
    EXPECT_NEAR(sp.requests[0].e2e_s() - plain.requests[0].e2e_s(), extra, 1e-9);
}

TEST(Simulation, SpeculationAtBatchOneGainsWhatTheStepCostsSay) {
    // Batch 1, alpha = 0.8, k = 4: a verify emits E = (1 - 0.8^5) / (1 - 0.8) = 3.3616 tokens on average, so TPOT
    // falls from the one-token decode step t_d to (verify + drafter) t_v / E: a gain of t_d E / t_v, with both
    // steps priced at the answer's mean context (500 + 1000; step times grow linearly in it). Within 3% (Monte
    // Carlo: about 600 verifies).
    const std::string spec = "speculative: {method: eagle3, num_speculative_tokens: 4, acceptance_rate: 0.8}\n";
    const Scenario plain_sc = lone_request(2001, ""), spec_sc = lone_request(2001, spec);
    const SimulationResult plain = simulate_all(plain_sc), sp = simulate_all(spec_sc);
    const auto p_plain = make_step_predictor(plain_sc.deployment, plain_sc.engine);
    const auto p_spec = make_step_predictor(spec_sc.deployment, spec_sc.engine);
    const double E = (1 - std::pow(0.8, 5)) / 0.2;
    const double gain = p_plain->step_time({{1, 1500}}) * E / p_spec->step_time({{5, 1500, 4}});
    const double measured = plain.requests[0].tpot_s() / sp.requests[0].tpot_s();
    EXPECT_NEAR(measured / gain, 1.0, 0.03) << "gain " << gain << " measured " << measured;
    EXPECT_GT(measured, 2.0);
}

TEST(Simulation, LongOutputChatOnGemma2At27BPreemptsOnlyWhenThePerGroupArithmeticSaysSo) {
    // 16 users, 2,000-token prompts and 6,000-token answers at once on gemma-2-27b (budget 2,048). Per
    // sequence at its end: 500 full blocks and the 256 sliding blocks its window holds (757 at most while a
    // block boundary is crossed), so 16 sequences need 16 x 757 = 12,112 blocks; counting the sliding layers
    // as full attention (the old block manager) they would need 16 x 1,000 = 16,000. A pool of 14,000 serves
    // them with no preemption; one of 11,000 cannot hold them and must preempt.
    Scenario sc = parse_scenario(R"(model: google/gemma-2-27b
gpu: h200
seed: 4
scheduler: {max_model_len: 8192, max_num_batched_tokens: 2048}
workload:
  shape: chat
  arrival: {process: closed_loop, users: 16}
  turns: 1
  prompt_tokens: {dist: fixed, value: 2000}
  output_tokens: {dist: fixed, value: 6000}
  requests: 16
)", "gemma.yaml", ".");
    ASSERT_GE(scenario_kv_plan(sc).num_blocks, 14000);
    sc.engine.kv_blocks_limit = 14000;
    const SimulationResult ok = simulate_all(sc);
    EXPECT_EQ(ok.summary.completed, 16);
    EXPECT_EQ(ok.summary.preemptions, 0);
    sc.engine.kv_blocks_limit = 11000;
    const SimulationResult tight = simulate_all(sc);
    EXPECT_EQ(tight.summary.completed, 16);
    EXPECT_GT(tight.summary.preemptions, 0);
}

// The interrupt check is the calling thread's: set on this thread, it stops this thread's run at once and is not
// seen by a run on another thread (a Dask worker runs sweeps on its threads while a notebook waits on another).
TEST(Engine, AnInterruptCheckBelongsToItsThread) {
    const Scenario sc = load_scenario("", {"workload.duration_s=5"});
    set_interrupt_check([] { return true; });
    SimulationResult other;
    std::thread t([&] { other = simulate(sc); });
    t.join();
    EXPECT_GT(other.summary.completed, 0);
    EXPECT_THROW(simulate(sc), Interrupted);
    set_interrupt_check({});
    EXPECT_EQ(simulate(sc).summary.completed, other.summary.completed);
}

TEST(Engine, PredictorNoteSaysWhatTheTablesDoNotPrice) {
    // DeepSeek-V2-Lite's experts (2,048 x 1,408, top-6 of 64, bf16) are in none of H100's fused-MoE tables:
    // the run says they were priced on the calibrated fit corrected by the nearest tabled shape, and the note
    // survives the child process's result bytes. A dense model's run on the same tables has no note.
    const std::string text =
        "model: deepseek-ai/DeepSeek-V2-Lite\ngpu: h100\nseed: 7\nworkload:\n" + poisson(2.0, 20);
    const SimulationResult moe = simulate_all(parse_scenario(text, "test.yaml", "."));
    EXPECT_EQ(moe.predictor, "kernel tables");
    EXPECT_NE(
        moe.predictor_note.find("the fused MoE (2048 x 1408, top-6 of 64, bf16) on the calibrated roofline"),
        std::string::npos)
        << moe.predictor_note;
    EXPECT_NE(moe.predictor_note.find("nearest measured shape (2048 x 768, top-8 of 128)"),
              std::string::npos);
    EXPECT_EQ(simulate_all(scenario(poisson(2.0, 20))).predictor_note, "");
}

// A scenario run eagerly (scheduler.cuda_graphs: false, vLLM's --enforce-eager) captures no CUDA graphs, so
// its KV plan keeps no pool for them: its budget is the graphed one's plus the planner's 0.8 GiB graph
// estimate.
TEST(Simulation, AnEagerScenarioKeepsNoCudaGraphPoolOutOfItsKvCache) {
    const std::string text = R"(model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100
scheduler: {max_model_len: 8192, cuda_graphs: CG}
workload:
  shape: single
  arrival: {process: poisson, rate: 1}
  prompt_tokens: 100
  output_tokens: 10
  requests: 4
)";
    auto plan = [&](const std::string& cg) {
        std::string t = text;
        t.replace(t.find("CG"), 2, cg);
        return scenario_kv_plan(parse_scenario(t, "eager.yaml", "."));
    };
    const KvPlan graphed = plan("true"), eager = plan("false");
    EXPECT_EQ(eager.reserve.cuda_graph_bytes, 0.0);
    EXPECT_NEAR(eager.kv_budget_bytes - graphed.kv_budget_bytes, 0.8 * 1024 * 1024 * 1024, 1e-3);
    EXPECT_GT(eager.num_blocks, graphed.num_blocks);
}
