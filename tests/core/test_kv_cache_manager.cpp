// The KV-cache manager on its own: block counts, prefix hits on hashed full blocks, freeing tail first.
#include <gtest/gtest.h>

#include "headroom/core/kv_cache_manager.hpp"
#include "headroom/core/scheduler.hpp"

using namespace headroom;

namespace {

RequestState request(int64_t id, int64_t prompt, uint64_t content) {
    RequestState r;
    r.req.id = id;
    r.req.prompt_tokens = prompt;
    r.req.content_id = content;
    return r;
}

}  // namespace

TEST(KvCacheManager, BlocksNeededRoundUpAndRespectTheSlidingCap) {
    const KvCacheManager m(100, 16, false, 0), capped(100, 16, false, 5);
    EXPECT_EQ(m.blocks_needed(1), 1);
    EXPECT_EQ(m.blocks_needed(16), 1);
    EXPECT_EQ(m.blocks_needed(17), 2);
    EXPECT_EQ(m.blocks_needed(1000), 63);  // ceil(1000 / 16)
    EXPECT_EQ(capped.blocks_needed(1000), 5);
}

TEST(KvCacheManager, ASecondRequestWithTheSameContentHitsTheFullBlocks) {
    KvCacheManager m(10, 4, true, 0);
    RequestState a = request(1, 10, 77);
    ASSERT_TRUE(m.allocate(a, 10));  // ceil(10 / 4) = 3 blocks
    EXPECT_EQ(a.blocks.size(), 3u);
    EXPECT_EQ(m.num_free(), 7);
    a.num_computed = 10;
    m.cache_full_blocks(a);  // 10 / 4 = 2 full blocks hashed
    EXPECT_EQ(a.num_hashed_blocks, 2);
    m.free(a);
    EXPECT_TRUE(a.blocks.empty());
    EXPECT_EQ(m.num_free(), 10);  // freed blocks stay cached but allocatable

    RequestState b = request(2, 10, 77);
    // at most (10 - 1) / 4 = 2 full blocks: the block with the last prompt token is always computed
    EXPECT_EQ(m.take_prefix_hits(b), 8);
    EXPECT_EQ(b.blocks.size(), 2u);
    RequestState c = request(3, 10, 78);  // other content: no hit
    EXPECT_EQ(m.take_prefix_hits(c), 0);
}

TEST(KvCacheManager, AllocationFailsWholeWhenThePoolIsShort) {
    KvCacheManager m(4, 16, false, 0);
    RequestState a = request(1, 40, 0), b = request(2, 40, 0);
    ASSERT_TRUE(m.allocate(a, 40));  // 3 blocks
    EXPECT_EQ(m.blocks_short(b, 40), 3);
    EXPECT_FALSE(m.allocate(b, 40));  // 1 free < 3
    EXPECT_TRUE(b.blocks.empty());
    EXPECT_EQ(m.num_free(), 1);
}
