// The routers (router.hpp): each registry entry's choice worked out by hand, and in the replica loop, multi-turn
// chat sessions on two replicas with prefix caching: session_affinity and prefix_cache keep a session's turns on
// one replica, so every later turn finds its conversation cached; round_robin alternates and finds less.
#include <gtest/gtest.h>

#include <map>

#include "headroom/core/replica_loop.hpp"
#include "loop_fixtures.hpp"
#include "headroom/core/router.hpp"

using namespace headroom;

namespace {


// 8 open-loop chat sessions of 4 turns (256-token first prompt, 64-token follow-ups, 32 tokens out, 50 ms think
// time) on two replicas with prefix caching.
std::vector<RequestRecord> chat(const std::string& router) {
    WorkloadSpec w;
    w.shape = Shape::CHAT;
    w.arrival = "poisson";
    w.rate = 20;
    w.max_requests = 32;
    w.prompt_tokens = fixed_distribution(256);
    w.followup_tokens = fixed_distribution(64);
    w.output_tokens = fixed_distribution(32);
    w.turns = fixed_distribution(4);
    w.think_time_s = fixed_distribution(0.05);
    ServingConfig c;
    c.scheduler.num_blocks = 4000;
    c.scheduler.block_size = 16;
    c.scheduler.max_model_len = 4096;
    c.scheduler.prefix_caching = true;
    c.replicas = 2;
    c.router = router;
    return headroom::testing::run_ten_ms(w, c, 5).requests;
}

int64_t hits(const std::vector<RequestRecord>& r) {
    int64_t n = 0;
    for (const RequestRecord& q : r) n += q.prefix_hit_tokens;
    return n;
}

bool sessions_stay(const std::vector<RequestRecord>& r) {
    std::map<int64_t, int32_t> where;
    for (const RequestRecord& q : r) {
        auto [it, fresh] = where.emplace(q.session, q.replica);
        if (!fresh && it->second != q.replica) return false;
    }
    return true;
}

}  // namespace

TEST(Router, EachPicksAsItSays) {
    const std::vector<RouteCandidate> r = {{3, 0}, {1, 0}, {1, 160}, {5, 320}};
    auto rr = make_router("round_robin");
    EXPECT_EQ(rr->pick(r, 320, -1), 0u);
    EXPECT_EQ(rr->pick(r, 320, -1), 1u);
    EXPECT_EQ(make_router("least_outstanding")->pick(r, 320, -1), 1u);  // the first of the two with 1
    // prefix_cache: 2 x cached share + (1 - outstanding / 5): replica 0: 0 + 0.4; 1: 0 + 0.8; 2: 1.0 + 0.8 = 1.8;
    // 3: 2.0 + 0 = 2.0 -> replica 3 holds the whole prompt and wins despite its load
    EXPECT_EQ(make_router("prefix_cache")->pick(r, 320, -1), 3u);
    // with half the prompt on 3 (1.0 + 0) replica 2 (1.8) wins
    EXPECT_EQ(make_router("prefix_cache")->pick({{3, 0}, {1, 0}, {1, 160}, {5, 160}}, 320, -1), 2u);
    auto affinity = make_router("session_affinity");
    EXPECT_EQ(affinity->pick(r, 320, 3), 3u);
    EXPECT_EQ(affinity->pick(r, 320, -1), 1u);
    EXPECT_THROW(make_router("random"), std::invalid_argument);
    EXPECT_EQ(router_names(), (std::vector<std::string>{"least_outstanding", "prefix_cache", "round_robin", "session_affinity"}));
}

TEST(Router, CacheAwareRoutersKeepAConversationWhereItIsCached) {
    const auto rr = chat("round_robin"), affinity = chat("session_affinity"), cached = chat("prefix_cache");
    ASSERT_EQ(rr.size(), 32u);
    EXPECT_TRUE(sessions_stay(affinity));
    EXPECT_TRUE(sessions_stay(cached));
    EXPECT_FALSE(sessions_stay(rr));
    // A later turn's prompt is the conversation so far: turn t (from 0) holds 256 + t x (32 + 64) tokens, and the
    // replica that served turn t - 1 caches its full blocks: floor((256 + (t-1) x 96 + 32 - 1) / 16) blocks of
    // 16 (the last generated token is never cached). Turns 1-3 of 8 sessions: 8 x (17 + 23 + 29) x 16 tokens.
    const int64_t all_cached = 8 * (17 + 23 + 29) * 16;
    EXPECT_EQ(hits(affinity), all_cached);
    EXPECT_EQ(hits(cached), all_cached);
    EXPECT_LT(hits(rr), all_cached);
}
