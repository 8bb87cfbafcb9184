// The engine core's serving loop on a virtual clock with a step time of exactly 10 ms: arrivals, admission at
// a step's end, follow-up turns, the router and the stop rules. Expected times are worked out by hand.
#include <gtest/gtest.h>

#include "headroom/core/replica_loop.hpp"
#include "loop_fixtures.hpp"

using namespace headroom;

namespace {

using headroom::testing::TenMs;
using headroom::testing::trace;

ServingConfig serving(int64_t replicas = 1) {
    ServingConfig c;
    c.scheduler.num_blocks = 1000;
    c.scheduler.block_size = 16;
    c.scheduler.max_model_len = 4096;
    c.replicas = replicas;
    return c;
}

using headroom::testing::LoopRun;

LoopRun run_loop(const WorkloadSpec& w, const ServingConfig& c, uint64_t seed = 1) {
    return headroom::testing::run_ten_ms(w, c, seed, true);
}

}  // namespace

TEST(ReplicaLoop, ARequestArrivingAsAStepEndsIsInTheNextStep) {
    // A: 10-token prompt at 0, 3 output tokens. B: 10-token prompt at exactly 10 ms, when A's prefill ends.
    // Step 1 [0, 10 ms): A's prefill -> A's first token at 10 ms.
    // Step 2 [10, 20 ms): A's decode and B's prefill (vLLM drains its input queue before it schedules).
    // Step 3 [20, 30 ms): both decode -> A's third and last token at 30 ms, B's second.
    // Step 4 [30, 40 ms): B alone -> its last token at 40 ms.
    const LoopRun r = run_loop(trace({{0.0, 10, 3}, {0.01, 10, 3}}), serving());
    ASSERT_EQ(r.steps.size(), 4u);
    EXPECT_EQ(r.steps[0].prefill_tokens, 10);
    EXPECT_EQ(r.steps[1].tokens, 11);
    EXPECT_EQ(r.steps[1].decodes, 1);
    EXPECT_EQ(r.steps[2].decodes, 2);
    EXPECT_EQ(r.steps[3].decodes, 1);
    for (size_t i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(r.steps[i].t_s, 0.01 * static_cast<double>(i));
    ASSERT_EQ(r.requests.size(), 2u);
    EXPECT_DOUBLE_EQ(r.requests[0].first_token_s, 0.01);
    EXPECT_DOUBLE_EQ(r.requests[0].finish_s, 0.03);
    EXPECT_DOUBLE_EQ(r.requests[1].scheduled_s, 0.01);
    EXPECT_DOUBLE_EQ(r.requests[1].first_token_s, 0.02);
    EXPECT_DOUBLE_EQ(r.requests[1].finish_s, 0.04);
}

TEST(ReplicaLoop, TheApiServerDelaysEntryNotArrival) {
    // 2 ms fixed + 100 tokens at 50,000 tokens/s (2 ms): the engine sees the request at 4 ms; its first token
    // comes one step later, at 14 ms; TTFT counts from the arrival at 0.
    ServingConfig c = serving();
    c.api_server = ApiServer{0.002, 50000.0};
    const LoopRun r = run_loop(trace({{0.0, 100, 1}}), c);
    ASSERT_EQ(r.requests.size(), 1u);
    EXPECT_DOUBLE_EQ(r.requests[0].arrival_s, 0.0);
    EXPECT_DOUBLE_EQ(r.requests[0].api_s, 0.004);
    EXPECT_DOUBLE_EQ(r.requests[0].scheduled_s, 0.004);
    EXPECT_DOUBLE_EQ(r.requests[0].ttft_s(), 0.014);
}

TEST(ReplicaLoop, RoundRobinAlternatesAndReplicasStepInParallel) {
    // Four requests at 0: replicas 0, 1, 0, 1. Each replica prefills its two in one step [0, 10 ms) and emits
    // their only token at 10 ms; the two replicas' steps overlap in time.
    const LoopRun r = run_loop(trace({{0.0, 10, 1}, {0.0, 10, 1}, {0.0, 10, 1}, {0.0, 10, 1}}), serving(2));
    ASSERT_EQ(r.requests.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(r.requests[i].replica, static_cast<int32_t>(i % 2)) << i;
        EXPECT_DOUBLE_EQ(r.requests[i].finish_s, 0.01) << i;
    }
    ASSERT_EQ(r.steps.size(), 2u);
    EXPECT_DOUBLE_EQ(r.steps[0].t_s, 0.0);
    EXPECT_DOUBLE_EQ(r.steps[1].t_s, 0.0);
}

TEST(ReplicaLoop, ClosedLoopUsersSendTheNextRequestWhenTheLastEnds) {
    // Two users, one-turn sessions of a 16-token prompt and 2 output tokens, no think time, 6 requests in all.
    // Each round: prefill step (first token), decode step (second, last): 20 ms. Both users' requests share
    // the steps, so rounds start at 0, 20, 40 ms and the sixth request finishes at 60 ms.
    WorkloadSpec w;
    w.arrival = "closed_loop";
    w.users = 2;
    w.prompt_tokens = fixed_distribution(16.0);
    w.output_tokens = fixed_distribution(2.0);
    w.max_requests = 6;
    const LoopRun r = run_loop(w, serving());
    ASSERT_EQ(r.requests.size(), 6u);
    for (size_t i = 0; i < 6; ++i) {
        EXPECT_DOUBLE_EQ(r.requests[i].arrival_s, 0.02 * static_cast<double>(i / 2)) << i;
        EXPECT_DOUBLE_EQ(r.requests[i].finish_s, 0.02 * static_cast<double>(i / 2 + 1)) << i;
    }
    EXPECT_EQ(r.steps.size(), 6u);
}

TEST(ReplicaLoop, HoldsTheRequestsInFlightNotTheWholeRun) {
    // 20,000 Poisson requests at 10/s of 50 + 4 tokens, 10 ms a step: each is done four steps after it is
    // admitted, so a handful are ever held at once; the records reach the callback in id order, all of them.
    WorkloadSpec w;
    w.arrival = "poisson";
    w.rate = 10;
    w.max_requests = 20'000;
    w.prompt_tokens = fixed_distribution(50);
    w.output_tokens = fixed_distribution(4);
    const ServingConfig c = serving();
    TenMs p;
    PredictedStepRunner runner(p);
    VirtualClock clock;
    int64_t next_id = 0;
    bool in_order = true;
    RecordingOptions o;
    o.on_record = [&](const RequestRecord& r) { in_order = in_order && r.id == next_id++; };
    ReplicaLoop loop(w, 3, c, p, runner, clock, o);
    loop.run();
    EXPECT_TRUE(in_order);
    EXPECT_EQ(next_id, 20'000);
    EXPECT_EQ(loop.stats().completed, 20'000);
    EXPECT_EQ(loop.stats().metrics.size(), 20'000u);
    EXPECT_EQ(loop.records_held(), 0);
    EXPECT_LT(loop.records_held_peak(), 20);
    EXPECT_TRUE(loop.take_requests().empty());  // none kept unless asked
    // 3 ITLs per request (4 tokens), all kept exactly
    EXPECT_EQ(loop.stats().itls.count(), 60'000);
    EXPECT_TRUE(loop.stats().itls.exact());
}
