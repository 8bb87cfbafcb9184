// Disaggregated prefill and decode in the replica loop, on a virtual clock with 10 ms steps, against hand
// computations: a request prefills on the prefill pool, its KV moves, and it decodes on the decode pool; with an
// instant link that is its prefill time plus its decode time; the prefill replica holds the blocks until the KV
// has left; every request is prefilled once and decoded once, and every block is free at the end.
#include <gtest/gtest.h>

#include "headroom/core/replica_loop.hpp"
#include "loop_fixtures.hpp"

using namespace headroom;

namespace {

using headroom::testing::TenMs;
using headroom::testing::trace;

// `prefill` + `decode` replicas, 1,000 blocks of 16 tokens each, 1 kB of KV per token.
ServingConfig disaggregated(int64_t prefill, int64_t decode, const std::string& decision = "always", int64_t min_prompt = 0) {
    ServingConfig c;
    c.scheduler.num_blocks = 1000;
    c.scheduler.block_size = 16;
    c.scheduler.max_model_len = 4096;
    c.replicas = prefill + decode;
    c.disaggregation.prefill_replicas = prefill;
    c.disaggregation.decision = decision;
    c.disaggregation.min_prompt_tokens = min_prompt;
    c.disaggregation.kv_bytes_per_token = 1000.0;
    return c;
}

struct DisaggRun {
    std::vector<RequestRecord> requests;
    std::vector<StepSample> steps;
    int64_t blocks_left = 0;
};

// latency_s and bytes_per_s of the ideal link (0 bytes/s: infinitely fast)
DisaggRun run(const WorkloadSpec& w, const ServingConfig& c, double latency_s, double bytes_per_s) {
    TenMs p;
    PredictedStepRunner runner(p);
    VirtualClock clock;
    IdealTransport link(clock, latency_s, bytes_per_s);
    RecordingOptions keep;
    keep.keep_requests = true;
    keep.keep_all_steps = true;
    ReplicaLoop loop(w, 1, c, p, runner, clock, keep);
    loop.set_disaggregation(&link, {});
    loop.run();
    DisaggRun out{loop.take_requests(), loop.take_steps(), 0};
    for (int32_t i = 0; i < c.replicas; ++i) out.blocks_left += loop.scheduler(i).kv_used();
    return out;
}

}  // namespace

TEST(Disaggregation, AnInstantLinkGivesPrefillTimePlusDecodeTime) {
    // 10-token prompt, 3 tokens out, at 0. Prefill replica 0: [0, 10 ms) prefills it. The KV moves in no time.
    // Decode replica 1: [10, 20 ms) computes the last prompt token -> first token at 20 ms; [20, 30), [30, 40)
    // -> the other two; done at 40 ms = prefill 10 ms + 3 decode steps.
    const DisaggRun r = run(trace({{0.0, 10, 3}}), disaggregated(1, 1), 0.0, 0.0);
    ASSERT_EQ(r.requests.size(), 1u);
    const RequestRecord& q = r.requests[0];
    EXPECT_EQ(q.prefill_replica, 0);
    EXPECT_EQ(q.replica, 1);
    EXPECT_DOUBLE_EQ(q.prefill_done_s, 0.01);
    EXPECT_DOUBLE_EQ(q.kv_arrived_s, 0.01);
    EXPECT_DOUBLE_EQ(q.first_token_s, 0.02);
    EXPECT_DOUBLE_EQ(q.finish_s, 0.04);
    EXPECT_EQ(q.generated, 3);
    EXPECT_DOUBLE_EQ(q.kv_bytes, 10 * 1000.0);
    EXPECT_DOUBLE_EQ(q.scheduled_s, 0.0);  // its queue time is the prefill replica's
    ASSERT_EQ(r.steps.size(), 4u);
    EXPECT_EQ(r.steps[0].replica, 0);
    EXPECT_EQ(r.steps[0].prefill_tokens, 10);
    EXPECT_EQ(r.steps[1].replica, 1);
    EXPECT_EQ(r.steps[1].tokens, 1);  // only the last prompt token: the rest arrived as KV
    EXPECT_EQ(r.blocks_left, 0);
}

TEST(Disaggregation, TheTransferTakesLatencyPlusBytesOverBandwidth) {
    // 1,000-token prompt: 1 MB of KV over 5 ms + 1 MB / 1 GB/s = 6 ms. Prefill [0, 10 ms) (the prompt fits the
    // 8,192-token budget), KV arrives at 16 ms, the decode replica's step [16, 26 ms) makes the first token, the
    // second [26, 36 ms).
    const DisaggRun r = run(trace({{0.0, 1000, 2}}), disaggregated(1, 1), 0.005, 1e9);
    const RequestRecord& q = r.requests.at(0);
    EXPECT_DOUBLE_EQ(q.prefill_done_s, 0.01);
    EXPECT_NEAR(q.kv_arrived_s, 0.016, 1e-12);
    EXPECT_NEAR(q.kv_transfer_s(), 0.006, 1e-12);
    EXPECT_NEAR(q.first_token_s, 0.026, 1e-12);
    EXPECT_NEAR(q.finish_s, 0.036, 1e-12);
}

TEST(Disaggregation, ThePrefillReplicaHoldsTheBlocksUntilTheKvHasLeft) {
    // Two 10-token prompts (one block each) at 0 and 10 ms, a 1 s link. The second prefill step [10, 20 ms) finds
    // the first request's block still held: 2 of 1,000 blocks in use.
    const DisaggRun r = run(trace({{0.0, 10, 2}, {0.01, 10, 2}}), disaggregated(1, 1), 1.0, 0.0);
    ASSERT_GE(r.steps.size(), 2u);
    EXPECT_EQ(r.steps[1].replica, 0);
    EXPECT_FLOAT_EQ(r.steps[1].kv_used, 2.0f / 1000.0f);
    EXPECT_NEAR(r.requests[0].kv_arrived_s, 1.01, 1e-12);
    EXPECT_EQ(r.blocks_left, 0);
}

TEST(Disaggregation, EveryRequestIsPrefilledOnceAndDecodedOnce) {
    // 40 requests on 2 prefill and 3 decode replicas: each completes, prefilled on the prefill pool (0-1) and
    // decoded on the decode pool (2-4), with every token generated; no block is left behind.
    std::vector<TraceRow> rows;
    for (int i = 0; i < 40; ++i) rows.push_back({0.002 * i, 100 + 37 * i, 5 + i % 7});
    const DisaggRun r = run(trace(rows), disaggregated(2, 3), 0.001, 10e9);
    ASSERT_EQ(r.requests.size(), 40u);
    for (const RequestRecord& q : r.requests) {
        EXPECT_TRUE(q.completed()) << q.id;
        EXPECT_GE(q.prefill_replica, 0);
        EXPECT_LE(q.prefill_replica, 1);
        EXPECT_GE(q.replica, 2);
        EXPECT_EQ(q.generated, q.output_tokens);
        EXPECT_GE(q.first_token_s, q.kv_arrived_s + 0.01 - 1e-12);  // a decode-side step after the KV arrived
    }
    int64_t prefill_tokens = 0, expected = 0;
    for (const StepSample& s : r.steps) {
        if (s.replica <= 1) prefill_tokens += s.prefill_tokens;
    }
    for (const TraceRow& row : rows) expected += row.prompt_tokens;
    EXPECT_EQ(prefill_tokens, expected);  // each prompt prefilled once, on the prefill pool
    EXPECT_EQ(r.blocks_left, 0);
}

TEST(Disaggregation, ShortPromptsPrefillOnTheirDecodeReplica) {
    // prompt_length with min 100: the 10-token prompt stays on the decode replica (prefill [0, 10 ms), first token
    // at 10 ms), the 500-token one goes through the prefill pool
    const DisaggRun r = run(trace({{0.0, 10, 2}, {0.0, 500, 2}}), disaggregated(1, 1, "prompt_length", 100), 0.0, 0.0);
    EXPECT_EQ(r.requests[0].prefill_replica, -1);
    EXPECT_EQ(r.requests[0].replica, 1);
    EXPECT_DOUBLE_EQ(r.requests[0].first_token_s, 0.01);
    EXPECT_EQ(r.requests[1].prefill_replica, 0);
    EXPECT_EQ(r.requests[1].replica, 1);
}

TEST(Disaggregation, CachedPromptsPrefillOnTheDecodeReplicaThatHoldsThem) {
    // prefix_cache at 50%: requests of one prefix group (a 512-token system prompt, a 64-token question) one second
    // apart. The first finds nothing cached: prefill pool. Its KV lands on the decode replica and stays in its prefix
    // cache when it finishes, so every later one finds 512 of its 576 tokens (89%) there and prefills locally.
    WorkloadSpec w;
    w.arrival = "constant";
    w.rate = 1.0;
    w.max_requests = 5;
    w.prompt_tokens = fixed_distribution(64.0);
    w.output_tokens = fixed_distribution(4.0);
    w.prefix_groups.system_prompt_tokens = 512;
    w.prefix_groups.groups = 1;
    w.prefix_groups.questions = 100;
    ServingConfig c = disaggregated(1, 2, "prefix_cache");
    c.scheduler.prefix_caching = true;
    const DisaggRun r = run(w, c, 0.0, 0.0);
    ASSERT_EQ(r.requests.size(), 5u);
    EXPECT_EQ(r.requests[0].prefill_replica, 0);
    for (size_t i = 1; i < 5; ++i) {
        EXPECT_EQ(r.requests[i].prefill_replica, -1) << i;
        EXPECT_EQ(r.requests[i].replica, r.requests[0].replica) << i;  // where the prefix is
        EXPECT_EQ(r.requests[i].prefix_hit_tokens, 512) << i;
    }
    EXPECT_EQ(r.blocks_left, 0);
}
