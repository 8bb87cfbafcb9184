// The scheduler driven step by step: token budget, block accounting, preemption order, prefix hits,
// chunked vs unchunked prefill, static batching and rejection. Expected values are worked out by hand.
#include <gtest/gtest.h>

#include <random>

#include "headroom/core/scheduler.hpp"

using namespace headroom;

namespace {

SchedulerConfig config(int64_t blocks, int64_t budget = 8192, int64_t block_size = 16) {
    SchedulerConfig c;
    c.num_blocks = blocks;
    c.block_size = block_size;
    c.max_num_batched_tokens = budget;
    c.max_model_len = 100'000;
    return c;
}

Request req(int64_t id, int64_t prompt, int64_t output, uint64_t content = 0) {
    Request r;
    r.id = id;
    r.prompt_tokens = prompt;
    r.output_tokens = output;
    r.content_id = content;
    return r;
}

struct Recorder : SchedulerObserver {
    std::vector<int64_t> preempted, finished, tokens;
    void on_preempted(const RequestState& r, double) override { preempted.push_back(r.req.id); }
    void on_finished(const RequestState& r, double) override { finished.push_back(r.req.id); }
    void on_token(const RequestState& r, double) override { tokens.push_back(r.req.id); }
};

// Runs to completion; returns the number of steps and checks invariants at every step.
int64_t drain(Scheduler& s, int64_t* tokens_processed = nullptr) {
    int64_t steps = 0, processed = 0;
    double t = 0;
    while (s.has_work()) {
        const StepPlan p = s.schedule(t);
        EXPECT_LE(p.tokens, s.config().max_num_batched_tokens);
        EXPECT_LE(static_cast<int64_t>(p.seqs.size()), s.config().max_num_seqs);
        EXPECT_LE(s.kv_used(), s.kv_blocks());
        EXPECT_GE(s.kv_free(), 0);
        processed += p.tokens;
        t += 0.01;
        s.complete(p, t);
        if (++steps > 100'000) {
            ADD_FAILURE() << "no progress";
            break;
        }
    }
    if (tokens_processed) *tokens_processed = processed;
    return steps;
}

}  // namespace

TEST(Scheduler, TokenBudgetAndChunkedPrefill) {
    // Budget 128, prompts of 100: step 1 = all of A (100) + 28 of B; step 2 = A decode (1) + B's
    // remaining 72 + 55 of C (1 + 72 + 55 = 128).
    Scheduler s(config(1000, 128));
    for (int i = 0; i < 3; ++i) s.add_request(req(i, 100, 5), 0);
    StepPlan p1 = s.schedule(0);
    ASSERT_EQ(p1.seqs.size(), 2u);
    EXPECT_EQ(p1.seqs[0].new_tokens, 100);
    EXPECT_EQ(p1.seqs[1].new_tokens, 28);
    EXPECT_EQ(p1.tokens, 128);
    s.complete(p1, 1);
    StepPlan p2 = s.schedule(1);
    ASSERT_EQ(p2.seqs.size(), 3u);
    EXPECT_EQ(p2.seqs[0].new_tokens, 1);   // A decodes
    EXPECT_EQ(p2.seqs[0].context, 100);
    EXPECT_EQ(p2.seqs[1].new_tokens, 72);  // B finishes its prompt
    EXPECT_EQ(p2.seqs[1].context, 28);
    EXPECT_EQ(p2.seqs[2].new_tokens, 55);  // C starts
    EXPECT_EQ(p2.decodes, 1);
    s.complete(p2, 2);
    drain(s);
}

TEST(Scheduler, BlocksNeverOverCapacityAndAllFreedAtTheEnd) {
    // 40 requests of 150 + 60 tokens on 64 blocks of 16: forces preemptions, must still finish all.
    Recorder rec;
    Scheduler s(config(64, 512), &rec);
    for (int i = 0; i < 40; ++i) s.add_request(req(i, 150, 60), 0);
    drain(s);
    EXPECT_EQ(rec.finished.size(), 40u);
    EXPECT_EQ(s.kv_free(), 64);
    EXPECT_GT(rec.preempted.size(), 0u);
    ASSERT_EQ(s.num_slots(), 40);  // all 40 were in flight at once
    for (int64_t i = 0; i < s.num_slots(); ++i) {
        EXPECT_EQ(s.request(i).num_generated, 60);
        EXPECT_TRUE(s.request(i).blocks.empty());
    }
}

TEST(Scheduler, PreemptsTheNewestRunningRequest) {
    // 8 blocks of 4 tokens. A, B, C each prompt 8 (2 blocks), running: 6 blocks used.
    // Each decodes; at 12 tokens computed... A reaches 9 tokens at its first decode and needs a 3rd block
    // (7 used), then B needs its 3rd (8 used), then C needs a 3rd: none left -> C, the newest, is preempted.
    Recorder rec;
    SchedulerConfig c = config(8, 64, 4);
    Scheduler s(c, &rec);
    s.add_request(req(0, 8, 20), 0);
    s.add_request(req(1, 8, 20), 0);
    s.add_request(req(2, 8, 20), 0);
    s.complete(s.schedule(0), 0);  // prefill all three: 2 blocks each, first token each
    EXPECT_EQ(s.kv_used(), 6);
    const StepPlan p = s.schedule(1);  // decodes need 9 tokens = 3 blocks each
    ASSERT_EQ(rec.preempted.size(), 1u);
    EXPECT_EQ(rec.preempted[0], 2);
    EXPECT_EQ(p.preempted, 1);
    EXPECT_EQ(p.seqs.size(), 2u);
    EXPECT_EQ(s.num_waiting(), 1);
    EXPECT_EQ(s.request(2).num_computed, 0);  // recompute from scratch
    EXPECT_EQ(s.request(2).num_generated, 1);  // its generated token is kept and recomputed as prompt
    s.complete(p, 1);
    drain(s);
    EXPECT_EQ(rec.finished.size(), 3u);
}

TEST(Scheduler, PrefixHitsOnAGrowingConversation) {
    // Turn 1: prompt 100, output 20, content 7 -> 120 tokens; 7 full blocks of 16 (112 tokens) get hashed.
    // Turn 2: prompt 150 (the 120 tokens of turn 1 + 30 new), same content: the first 7 blocks hit,
    // 112 tokens are not recomputed, its first step computes 150 - 112 = 38 tokens.
    SchedulerConfig c = config(100);
    c.prefix_caching = true;
    Scheduler s(c);
    s.add_request(req(1, 100, 20, 7), 0);
    drain(s);
    const int64_t t2 = s.add_request(req(2, 150, 5, 7), 10);
    const StepPlan p = s.schedule(10);
    ASSERT_EQ(p.seqs.size(), 1u);
    EXPECT_EQ(p.seqs[0].new_tokens, 38);
    EXPECT_EQ(p.seqs[0].context, 112);
    EXPECT_EQ(s.request(t2).prefix_hit_tokens, 112);
    s.complete(p, 11);
    drain(s);
    // A request with other content hits nothing.
    const int64_t t3 = s.add_request(req(3, 150, 5, 8), 20);
    EXPECT_EQ(s.schedule(20).seqs[0].new_tokens, 150);
    EXPECT_EQ(s.request(t3).prefix_hit_tokens, 0);
}

TEST(Scheduler, PrefixHitNeverCoversTheLastToken) {
    // Same 64-token prompt twice: 4 full blocks, but the block holding the last token is recomputed
    // ((64 - 1) / 16 = 3 blocks hit = 48 tokens), so the model has a token to sample from.
    SchedulerConfig c = config(100);
    c.prefix_caching = true;
    Scheduler s(c);
    s.add_request(req(1, 64, 1, 9), 0);
    drain(s);
    s.add_request(req(2, 64, 1, 9), 1);
    const StepPlan p = s.schedule(1);
    EXPECT_EQ(p.seqs[0].context, 48);
    EXPECT_EQ(p.seqs[0].new_tokens, 16);
}

TEST(Scheduler, ChunkedAndUnchunkedPrefillComputeTheSameTokens) {
    // Without preemption every request computes prompt + output - 1 tokens (the last sampled token is never
    // fed back): 20 x (300 + 40 - 1) = 6,780 tokens, chunked or not, and emits 20 x 40 tokens.
    for (bool chunked : {true, false}) {
        SchedulerConfig c = config(10'000, 512);
        c.chunked_prefill = chunked;
        c.max_model_len = 512;
        Recorder rec;
        Scheduler s(c, &rec);
        for (int i = 0; i < 20; ++i) s.add_request(req(i, 300, 40), 0);
        int64_t processed = 0;
        drain(s, &processed);
        EXPECT_EQ(processed, 6'780) << "chunked=" << chunked;
        EXPECT_EQ(rec.tokens.size(), 800u);
    }
}

TEST(Scheduler, StaticBatchingWaitsForTheWholeBatch) {
    // max_num_seqs 2, static: C is admitted only after A and B have both finished.
    SchedulerConfig c = config(1000, 1000);
    c.max_num_seqs = 2;
    c.policy = "static";
    Recorder rec;
    Scheduler s(c, &rec);
    s.add_request(req(0, 10, 2), 0);
    s.add_request(req(1, 10, 8), 0);
    s.add_request(req(2, 10, 2), 0);
    int64_t step = 0;
    while (s.has_work()) {
        const StepPlan p = s.schedule(step);
        for (const auto& q : p.seqs) {
            if (q.request == 2) {
                EXPECT_EQ(rec.finished.size(), 2u) << "C ran before the batch ended";
            }
        }
        s.complete(p, ++step);
    }
    EXPECT_EQ(rec.finished, (std::vector<int64_t>{0, 1, 2}));
    EXPECT_THROW(make_admission_policy("fifo-ish"), std::invalid_argument);
}

TEST(Scheduler, RejectsWhatCouldNeverBeServed) {
    SchedulerConfig c = config(10);  // 160 tokens of KV
    c.max_model_len = 1000;
    Scheduler s(c);
    const int64_t a = s.add_request(req(0, 990, 20), 0);
    EXPECT_EQ(s.request(a).status, RequestStatus::REJECTED);
    EXPECT_NE(s.request(a).reject_reason.find("max_model_len"), std::string::npos);
    const int64_t b = s.add_request(req(1, 200, 10), 0);  // takes over the rejected request's slot
    EXPECT_EQ(b, a);
    EXPECT_EQ(s.request(b).status, RequestStatus::REJECTED);
    EXPECT_NE(s.request(b).reject_reason.find("KV blocks"), std::string::npos);
    EXPECT_FALSE(s.has_work());
}

TEST(KvBlockManager, LruEvictionOfCachedFreeBlocks) {
    KvBlockManager kv(3, 16, true);
    std::vector<int32_t> a, b;
    ASSERT_TRUE(kv.allocate(2, a));
    kv.register_full(a[0], 111);
    kv.register_full(a[1], 222);
    kv.release({a[1], a[0]});  // tail first: 222's block is evicted before 111's
    EXPECT_EQ(kv.num_free(), 3);
    ASSERT_TRUE(kv.allocate(2, b));  // the never-used block, then 222's
    EXPECT_FALSE(kv.cached(222));
    EXPECT_TRUE(kv.cached(111));
    EXPECT_EQ(kv.lookup_and_take(111), a[0]);
    EXPECT_EQ(kv.num_free(), 0);
    std::vector<int32_t> c;
    EXPECT_FALSE(kv.allocate(1, c));
    EXPECT_EQ(kv.evictions(), 1);
}

TEST(Scheduler, HoldsTheRequestsInFlightNotEveryRequestItHasSeen) {
    // 1,000 requests one after the other (each drained before the next arrives) use one slot; then three in
    // flight at once use three, and a fourth after they finish takes one of theirs.
    Recorder rec;
    Scheduler s(config(64, 512), &rec);
    for (int i = 0; i < 1000; ++i) {
        EXPECT_EQ(s.add_request(req(i, 30, 5), i), 0);
        drain(s);
    }
    EXPECT_EQ(rec.finished.size(), 1000u);
    EXPECT_EQ(s.num_slots(), 1);
    for (int i = 0; i < 3; ++i) s.add_request(req(1000 + i, 30, 5), 2000);
    drain(s);
    EXPECT_EQ(s.num_slots(), 3);
    EXPECT_LT(s.add_request(req(2000, 30, 5), 3000), 3);
    drain(s);
    EXPECT_EQ(rec.finished.size(), 1004u);
    EXPECT_EQ(s.kv_free(), 64);
}

namespace {
// Two DP ranks of 100 tokens and 2 sequences each (vLLM: --data-parallel-size 2, each engine its own limits).
SchedulerConfig two_ranks(int64_t seqs_per_rank = 2) {
    SchedulerConfig c = config(1000, 200);
    c.ranks = 2;
    c.max_chunk_tokens = 100;
    c.max_num_seqs = 2 * seqs_per_rank;
    return c;
}
}  // namespace

TEST(Scheduler, DataParallelRanksPinRequestsAndKeepTheirOwnBudgets) {
    // Four prompts of 80 arriving together go to the rank with the least waiting x 4 + running: A (0, 0) -> 0,
    // B (4, 0) -> 1, C (4, 4) -> 0, D (8, 4) -> 1. Step 1: each rank's budget is 100: A 80 and C 20 on rank 0,
    // B 80 and D 20 on rank 1 (one scheduler of 200 tokens would take A 80, B 80, C 40 and leave D waiting).
    Scheduler s(two_ranks());
    for (int i = 0; i < 4; ++i) s.add_request(req(i, 80, 5), 0);
    StepPlan p = s.schedule(0);
    ASSERT_EQ(p.seqs.size(), 4u);
    const int64_t want[4][2] = {{80, 0}, {80, 1}, {20, 0}, {20, 1}};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(p.seqs[i].new_tokens, want[i][0]) << i;
        EXPECT_EQ(p.seqs[i].rank, want[i][1]) << i;
    }
    EXPECT_EQ(p.tokens, 200);
    s.complete(p, 1);
    // Step 2: A and B decode (1 each), C and D take their last 60 on their ranks
    p = s.schedule(1);
    ASSERT_EQ(p.seqs.size(), 4u);
    EXPECT_EQ(p.seqs[2].new_tokens, 60);
    EXPECT_EQ(p.seqs[3].new_tokens, 60);
    EXPECT_EQ(p.tokens, 122);
    s.complete(p, 2);
    drain(s);
}

TEST(Scheduler, AFullRankDoesNotHoldUpAnotherRanksWaitingRequests) {
    // One sequence per rank. A -> 0, B -> 1, C -> 0 (a tie of 4 and 4: the first rank); step 1 runs A
    // and B, C waits: rank 0 is full. B answers one token and leaves. D arrives: rank 0 scores 4 x 1 + 1 = 5,
    // rank 1 scores 0 -> rank 1. Step 2: C is first in line but its rank is full; D behind it is admitted.
    Recorder rec;
    Scheduler s(two_ranks(1), &rec);
    s.add_request(req(0, 50, 10), 0);
    s.add_request(req(1, 50, 1), 0);
    s.add_request(req(2, 50, 10), 0);
    StepPlan p = s.schedule(0);
    ASSERT_EQ(p.seqs.size(), 2u);
    EXPECT_EQ(s.admission_blocker(), "seqs");
    s.complete(p, 1);
    ASSERT_EQ(rec.finished, std::vector<int64_t>{1});
    s.add_request(req(3, 50, 10), 1);
    p = s.schedule(1);
    ASSERT_EQ(p.seqs.size(), 2u);
    EXPECT_EQ(s.request(p.seqs[1].request).req.id, 3);
    EXPECT_EQ(p.seqs[1].rank, 1);
    EXPECT_EQ(p.seqs[1].new_tokens, 50);
    EXPECT_EQ(s.num_waiting(), 1);  // C
    s.complete(p, 2);
    drain(s);
    EXPECT_EQ(rec.finished.size(), 4u);
    EXPECT_EQ(s.kv_free(), 1000);
}

TEST(Scheduler, DataParallelRanksUnderPreemptionFinishEverything) {
    // 40 requests of 150 + 60 tokens over 3 ranks of 100 tokens and 4 sequences each, on 64 blocks of 16:
    // each rank's cache of 64 / 3 = 21 blocks (a request grows to 14) forces preemptions; every step keeps
    // each rank within its budget and sequences, and all finish.
    Recorder rec;
    SchedulerConfig c = config(64, 300);
    c.ranks = 3;
    c.max_chunk_tokens = 100;
    c.max_num_seqs = 12;
    Scheduler s(c, &rec);
    for (int i = 0; i < 40; ++i) s.add_request(req(i, 150, 60), 0);
    double t = 0;
    int64_t steps = 0;
    while (s.has_work() && ++steps < 100'000) {
        const StepPlan p = s.schedule(t);
        int64_t tokens[3] = {0, 0, 0}, seqs[3] = {0, 0, 0};
        for (const ScheduledSeq& q : p.seqs) tokens[q.rank] += q.new_tokens, ++seqs[q.rank];
        for (int k = 0; k < 3; ++k) {
            EXPECT_LE(tokens[k], 100);
            EXPECT_LE(seqs[k], 4);
        }
        t += 0.01;
        s.complete(p, t);
    }
    EXPECT_EQ(rec.finished.size(), 40u);
    EXPECT_FALSE(rec.preempted.empty());
    EXPECT_EQ(s.kv_blocks(), 63);
    EXPECT_EQ(s.kv_free(), 63);
}

TEST(Scheduler, DataParallelRanksHaveTheirOwnCachesAndPrefixCaches) {
    // vLLM's DP ranks are engines of their own. Two ranks on 20 blocks of 16 tokens: 10 blocks each.
    SchedulerConfig c = config(20);
    c.ranks = 2;
    c.max_chunk_tokens = c.max_num_batched_tokens;
    c.prefix_caching = true;
    Scheduler s(c);
    EXPECT_EQ(s.kv_blocks(), 20);
    // 160 + 16 tokens need 11 blocks: more than one rank's 10, though the two hold 20
    const int64_t big = s.add_request(req(1, 160, 16, 5), 0.0);
    EXPECT_EQ(s.request(big).status, RequestStatus::REJECTED);
    const std::string& why = s.request(big).reject_reason;
    EXPECT_NE(why.find("one DP rank's"), std::string::npos) << why;
    // A 64-token prompt of content 7 runs on rank 0 (both idle: the first) and its 4 blocks stay cached.
    s.add_request(req(2, 64, 1, 7), 0.0);
    StepPlan p = s.schedule(0.0);
    ASSERT_EQ(p.seqs.size(), 1u);
    EXPECT_EQ(p.seqs[0].rank, 0);
    s.complete(p, 1.0);
    // The same prompt again, after another request went to rank 0 (waiting x 4 + running: 4 against 0), goes
    // to rank 1, whose cache has never seen it: no hit (one shared cache would give 48). A third copy goes to
    // rank 0 (4 against 4: the first) and finds 3 of its 4 blocks (never the last token's): 48 tokens.
    const int64_t other = s.add_request(req(3, 32, 4, 9), 1.0);
    const int64_t second = s.add_request(req(4, 64, 1, 7), 1.0);
    const int64_t third = s.add_request(req(5, 64, 1, 7), 1.0);
    EXPECT_EQ(s.request(other).rank, 0);
    EXPECT_EQ(s.request(second).rank, 1);
    EXPECT_EQ(s.request(third).rank, 0);
    p = s.schedule(2.0);
    EXPECT_EQ(s.request(second).prefix_hit_tokens, 0);
    EXPECT_EQ(s.request(third).prefix_hit_tokens, 48);
    EXPECT_EQ(p.prefill_tokens, 32 + 64 + 16);
}

TEST(Scheduler, ADataParallelRankShortOfBlocksPreemptsItsOwnNewestRequest) {
    // Two ranks on 16 blocks of 4 tokens: 8 each. A (12 tokens) and C (16) on rank 0, B and D (4 each) on
    // rank 1 (the DP balancer: A to 0, B to 1, C to 0 on a tie, D to 1). Step 1: rank 0 holds 3 + 4 = 7
    // blocks, rank 1 2. Step 2: A's 13th token takes rank 0's last block, B's 5th one of rank 1's; C's 17th
    // needs a fifth block and rank 0 has none: the newest running request of rank 0 is C itself (D is newer
    // but on rank 1, whose blocks would not help), so C is preempted and D still runs. One shared pool of 16
    // would have had 5 free.
    Recorder rec;
    SchedulerConfig c = config(16, 8192, 4);
    c.ranks = 2;
    c.max_chunk_tokens = c.max_num_batched_tokens;
    Scheduler s(c, &rec);
    const int64_t a = s.add_request(req(1, 12, 20, 1), 0.0), b = s.add_request(req(2, 4, 2, 2), 0.0);
    const int64_t cc = s.add_request(req(3, 16, 12, 3), 0.0), d = s.add_request(req(4, 4, 2, 4), 0.0);
    EXPECT_EQ(s.request(a).rank, 0);
    EXPECT_EQ(s.request(b).rank, 1);
    EXPECT_EQ(s.request(cc).rank, 0);
    EXPECT_EQ(s.request(d).rank, 1);
    StepPlan p = s.schedule(0.0);
    ASSERT_EQ(p.seqs.size(), 4u);
    EXPECT_EQ(s.kv_used(), 9);
    s.complete(p, 1.0);
    p = s.schedule(1.0);
    EXPECT_EQ(p.preempted, 1);
    EXPECT_EQ(rec.preempted, std::vector<int64_t>{3});
    std::vector<int64_t> ran;
    for (const ScheduledSeq& q : p.seqs) ran.push_back(q.request);
    EXPECT_EQ(ran, (std::vector<int64_t>{a, b, d}));
    EXPECT_EQ(s.kv_used(), 4 + 2 + 2);  // A's 4; B's and D's 2 each (their 5th token); C's 4 freed
}

TEST(Scheduler, AsyncSchedulingAdmitsARequestOneStepLater) {
    // vLLM plans step N + 1 when step N starts: a request that arrives during step 2 (t = 1.5) missed step 3,
    // planned at t = 1, and runs in step 4 (t = 3). Synchronous scheduling takes it in step 3 (t = 2).
    for (const bool async : {false, true}) {
        SchedulerConfig c = config(1000);
        c.async_scheduling = async;
        Scheduler s(c);
        s.add_request(req(1, 100, 50), 0.0);  // decodes through every step below
        StepPlan p = s.schedule(0.0);         // step 1: its prefill
        s.complete(p, 1.0);
        p = s.schedule(1.0);  // step 2, back to back
        s.add_request(req(2, 20, 5), 1.5);
        s.complete(p, 2.0);
        p = s.schedule(2.0);  // step 3
        ASSERT_EQ(p.seqs.size(), async ? 1u : 2u) << async;
        EXPECT_EQ(p.prefill_tokens, async ? 0 : 20) << async;
        EXPECT_EQ(s.admission_blocker(), async ? "async" : "") << async;
        s.complete(p, 3.0);
        p = s.schedule(3.0);  // step 4: admitted either way by now (its prefill, or its first decode)
        EXPECT_EQ(p.seqs.size(), 2u) << async;
        EXPECT_EQ(p.prefill_tokens, async ? 20 : 0) << async;
    }
}

TEST(Scheduler, AsyncSchedulingFreesAFinishedRequestsSeatAndBlocksOneStepLater) {
    // vLLM plans step 3 when step 2 starts, before step 2's outputs are taken: request 1, which finishes in
    // step 2, still holds its seat and its KV blocks then, so request 2 (waiting since t = 0) joins in step
    // 4. Synchronous scheduling frees them at once and takes request 2 in step 3. Two limits, one at a time:
    //   seats: max_num_seqs 2, ample blocks; request 2 waits for request 1's seat.
    //   blocks: 12 blocks of 16 tokens. Step 1: request 0's 10 tokens (1 block), request 1's 100 (7 blocks);
    //   request 2's 100 need 7 and 4 are free. Step 2: request 1 reaches 101 tokens in its 7 blocks and
    //   ends. Step 3: its 7 blocks are free (sync) or still held (async: 12 - 1 - 7 = 4 free, request 2
    //   waits).
    for (const bool by_seats : {true, false}) {
        for (const bool async : {false, true}) {
            SchedulerConfig c = config(by_seats ? 1000 : 12);
            c.max_num_seqs = by_seats ? 2 : 256;
            c.async_scheduling = async;
            Scheduler s(c);
            // distinct contents: no prefix of one is cached for another
            s.add_request(req(0, 10, 50, 1), 0.0);                   // decodes through every step below
            s.add_request(req(1, by_seats ? 10 : 100, 2, 2), 0.0);  // its 2 tokens: steps 1 and 2
            s.add_request(req(2, by_seats ? 10 : 100, 5, 3), 0.0);
            StepPlan p = s.schedule(0.0);  // step 1
            ASSERT_EQ(p.seqs.size(), 2u);
            EXPECT_EQ(s.admission_blocker(), by_seats ? "seqs" : "kv");
            s.complete(p, 1.0);
            p = s.schedule(1.0);  // step 2: both decode
            ASSERT_EQ(p.seqs.size(), 2u);
            s.complete(p, 2.0);  // request 1 ends
            p = s.schedule(2.0);  // step 3
            ASSERT_EQ(p.seqs.size(), async ? 1u : 2u) << by_seats << async;
            EXPECT_EQ(p.prefill_tokens, async ? 0 : p.seqs[1].new_tokens) << by_seats << async;
            if (async) {
                EXPECT_EQ(s.admission_blocker(), by_seats ? "seqs" : "kv");
            }
            // after planning step 3: sync, request 1's 7 went back and request 2 took 7 (12 - 1 - 7); async,
            // they go back once step 3 is planned, without request 2 (12 - 1)
            if (!by_seats) {
                EXPECT_EQ(s.kv_free(), async ? 11 : 4);
            }
            s.complete(p, 3.0);
            p = s.schedule(3.0);  // step 4: request 2 is in either way (its prefill, or its first decode)
            ASSERT_EQ(p.seqs.size(), 2u) << by_seats << async;
            EXPECT_EQ(p.prefill_tokens, async ? (by_seats ? 10 : 100) : 0) << by_seats << async;
        }
    }
}

TEST(Scheduler, RandomLoadsNeverStallAndFinishEverything) {
    // 20,000 random engines (async scheduling or not, 1-3 DP ranks, drafts, chunking, tight blocks and seats,
    // prefix caching) under random arrivals during the run. The replica loop's invariant: whenever the
    // scheduler holds work, the plan it returns is not empty (an idle replica with work is never woken).
    // Every request that was not rejected finishes, and every block is free at the end.
    std::mt19937_64 rng(11);
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    for (int trial = 0; trial < 20000; ++trial) {
        SchedulerConfig c = config(pick(8, 80), pick(32, 600), pick(0, 1) ? 16 : 4);
        c.max_num_seqs = pick(1, 12);
        c.async_scheduling = pick(0, 3) > 0;
        c.chunked_prefill = pick(0, 3) > 0;
        c.max_model_len = 240;  // the longest request below
        if (!c.chunked_prefill) c.max_num_batched_tokens = std::max<int64_t>(c.max_num_batched_tokens, 240);
        c.prefix_caching = pick(0, 1) > 0;
        c.num_speculative_tokens = pick(0, 2) == 0 ? pick(1, 3) : 0;
        c.ranks = pick(0, 2) == 0 ? pick(2, 3) : 1;
        if (c.ranks > 1) {
            if (!c.chunked_prefill) c.max_num_batched_tokens *= c.ranks;  // each rank's budget holds a prompt
            c.max_chunk_tokens = std::max<int64_t>(1, c.max_num_batched_tokens / c.ranks);
            c.max_num_seqs = std::max(c.max_num_seqs, c.ranks);
        }
        Recorder rec;
        Scheduler s(c, &rec);
        const int requests = static_cast<int>(pick(5, 40));
        int added = 0, rejected = 0;
        double t = 0.0;
        int64_t steps = 0;
        while ((added < requests || s.has_work()) && steps < 50'000) {
            while (added < requests && pick(0, 2) == 0) {  // arrivals between steps, some at the step's start
                const int64_t index = s.add_request(req(added, pick(1, 200), pick(1, 40), pick(1, 4)), t);
                rejected += s.request(index).status == RequestStatus::REJECTED ? 1 : 0;
                ++added;
            }
            if (!s.has_work()) {
                t += 0.5;  // idle until the next arrival
                continue;
            }
            const StepPlan p = s.schedule(t);
            ASSERT_FALSE(p.empty()) << "trial " << trial << " step " << steps << ": " << s.admission_blocker()
                                    << ", async " << c.async_scheduling << ", ranks " << c.ranks
                                    << ", chunked " << c.chunked_prefill
                                    << ", drafts " << c.num_speculative_tokens;
            EXPECT_LE(s.kv_used(), s.kv_blocks());
            t += 0.01;
            s.complete(p, t);
            ++steps;
        }
        ASSERT_LT(steps, 50'000) << "trial " << trial;
        EXPECT_EQ(static_cast<int>(rec.finished.size()) + rejected, requests) << "trial " << trial;
        EXPECT_EQ(s.kv_free(), s.kv_blocks()) << "trial " << trial;
    }
}

TEST(Scheduler, AsyncSchedulingDoesNotHoldARequestWhenNothingElseRuns) {
    // Request 1's one output token comes from its prefill step (t = 0 to 1): nothing runs after it, so vLLM's
    // step planned at t = 0 was empty, and request 2 (arrived at 0.5) runs at t = 1. After an idle spell
    // (t = 5, no step ended then) a request runs at once too.
    SchedulerConfig c = config(1000);
    c.async_scheduling = true;
    Scheduler s(c);
    s.add_request(req(1, 100, 1), 0.0);
    StepPlan p = s.schedule(0.0);
    s.add_request(req(2, 30, 4), 0.5);
    s.complete(p, 1.0);
    p = s.schedule(1.0);
    EXPECT_EQ(p.prefill_tokens, 30);
    s.complete(p, 2.0);
    s.add_request(req(3, 40, 4), 5.0);
    p = s.schedule(5.0);
    EXPECT_EQ(p.prefill_tokens, 40);
}
