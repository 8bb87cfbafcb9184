// The KV-cache manager on its own: block counts, prefix hits on hashed full blocks, freeing tail first.
#include <gtest/gtest.h>

#include <unordered_map>

#include "headroom/core/block_hash_index.hpp"
#include "headroom/core/kv_cache_manager.hpp"
#include "headroom/core/rng.hpp"
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
    KvCacheManager m(100, 16, false), sliding(100, 16, false);
    EXPECT_EQ(m.blocks_needed(1), 1);
    EXPECT_EQ(m.blocks_needed(16), 1);
    EXPECT_EQ(m.blocks_needed(17), 2);
    EXPECT_EQ(m.blocks_needed(1000), 63);  // ceil(1000 / 16)
    // every layer slides (window 32, budget 32): at most ceil((32 - 1 + 32) / 16) + 1 = 5 blocks
    sliding.set_groups({32}, 32);
    EXPECT_EQ(sliding.blocks_needed(1000), 5);
    m.set_groups({0}, 32);  // full attention only: no groups
    EXPECT_EQ(m.blocks_needed(1000), 63);
}

TEST(KvCacheManager, AnAllSlidingModelFreesWhatItsWindowLeaves) {
    // Mistral-7B-v0.1: every layer slides (window 4096): one sliding group. A 6,000-token prompt in one chunk
    // (budget 8192) takes ceil(6000 / 16) = 375 blocks; the next token sees keys from 6000 - 4096 + 1 = 1905,
    // so the blocks before 1905 / 16 = 119 go back to the pool: 256 held (the old cap kept all 375, and up
    // to 769).
    KvCacheManager m(1000, 16, false);
    m.set_groups({4096}, 8192);
    RequestState r = request(1, 6000, 10);
    ASSERT_TRUE(m.allocate(r, 6000));
    EXPECT_EQ(m.num_free(), 1000 - 375);
    r.num_computed = 6000;
    m.remove_skipped(r);
    EXPECT_EQ(m.num_free(), 1000 - 256);
    ASSERT_TRUE(m.allocate(r, 6001));  // block 375 for the token after 6000
    EXPECT_EQ(m.num_free(), 1000 - 257);
    EXPECT_EQ(r.blocks[118], -1);
    EXPECT_GE(r.blocks[119], 0);
    m.free(r);
    EXPECT_EQ(m.num_free(), 1000);
}

TEST(KvCacheManager, ASecondRequestWithTheSameContentHitsTheFullBlocks) {
    KvCacheManager m(10, 4, true);
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
    KvCacheManager m(4, 16, false);
    RequestState a = request(1, 40, 0), b = request(2, 40, 0);
    ASSERT_TRUE(m.allocate(a, 40));  // 3 blocks
    EXPECT_EQ(m.blocks_short(b, 40), 3);
    EXPECT_FALSE(m.allocate(b, 40));  // 1 free < 3
    EXPECT_TRUE(b.blocks.empty());
    EXPECT_EQ(m.num_free(), 1);
}

// ---- hybrid models: vLLM V1's KV-cache groups ----

TEST(KvCacheManager, SlidingGroupsFreeTheBlocksTheWindowLeaves) {
    // gpt-oss's groups: one full, one sliding (window 128); 16-token blocks; an 8,192-token budget.
    KvCacheManager m(2000, 16, false);
    m.set_groups({0, 128}, 8192);
    RequestState r = request(1, 8192, 0);
    ASSERT_TRUE(m.allocate(r, 8192));  // the whole prompt in one chunk: 512 blocks in each group
    EXPECT_EQ(m.num_free(), 2000 - 1024);
    r.num_computed = 8192;
    // the next token sees keys from 8192 - 128 + 1 = 8065 on: blocks before 8065 / 16 = 504 are freed
    m.remove_skipped(r);
    EXPECT_EQ(m.num_free(), 2000 - 512 - 8);
    ASSERT_TRUE(m.allocate(r, 8193));  // one more block in each group: 513 full, 513 - 504 = 9 sliding
    EXPECT_EQ(m.num_free(), 2000 - 513 - 9);
    ASSERT_EQ(r.group_tables.size(), 1u);
    EXPECT_EQ(r.group_tables[0].size(), 513u);
    EXPECT_EQ(r.group_tables[0][503], -1);  // freed
    EXPECT_GE(r.group_tables[0][504], 0);
    m.free(r);
    EXPECT_EQ(m.num_free(), 2000);
}

TEST(KvCacheManager, Gemma2At27BHoldsItsWholeContextOnceAndTheWindowOnce) {
    // gemma-2-27b's groups: full, sliding 4096; 16-token blocks; a 2,048-token budget.
    KvCacheManager m(100000, 16, false);
    m.set_groups({0, 4096}, 2048);
    RequestState r = request(1, 2000, 6000);
    // admission: a 2,000-token prompt in one chunk: ceil(2000 / 16) = 125 blocks in each group
    ASSERT_TRUE(m.allocate(r, 2000));
    EXPECT_EQ(m.num_free(), 100000 - 250);
    // decode to 8,000 tokens: 500 full blocks; the sliding group keeps the blocks from the one holding key
    // 8000 - 4096 + 1 = 3905 (block 3905 / 16 = 244) to block 499: 256 blocks
    for (int64_t t = 2000; t < 8000; ++t) {
        r.num_computed = t;
        m.remove_skipped(r);
        ASSERT_TRUE(m.allocate(r, t + 1));
    }
    r.num_computed = 8000;
    m.remove_skipped(r);
    EXPECT_EQ(m.num_free(), 100000 - 500 - 256);
    // vLLM's admission cap: at most ceil((4096 - 1 + 2048) / 16) + 1 = 385 sliding blocks, so a sequence of
    // 8,192 tokens needs 512 + 385 blocks at most (counted as full attention it would need 1,024)
    EXPECT_EQ(m.blocks_needed(8192), 512 + 385);
    m.free(r);
    EXPECT_EQ(m.num_free(), 100000);
}

TEST(KvCacheManager, AHybridSequenceNeverHoldsMoreThanItsFullGroupsAndTheWindow) {
    KvCacheManager m(100000, 16, false);
    m.set_groups({0, 128}, 8192);
    // 100,000 tokens: ceil(100000 / 16) = 6,250 full blocks; the sliding group at most
    // ceil((128 - 1 + 8192) / 16) + 1 = 520 + 1 = 521 (a whole chunk plus the window behind it)
    EXPECT_EQ(m.blocks_needed(100000), 6250 + 521);
    EXPECT_EQ(m.blocks_needed(100), 7 + 7);
}

TEST(KvCacheManager, AHybridPrefixHitNeedsTheFullBlocksAndTheWindowsBlocks) {
    // groups: full, sliding (window 32); 16-token blocks; 40 blocks in the pool
    KvCacheManager m(40, 16, true);
    m.set_groups({0, 32}, 8192);
    RequestState a = request(1, 100, 7);
    ASSERT_TRUE(m.allocate(a, 100));  // ceil(100 / 16) = 7 blocks in each group
    a.num_computed = 100;
    m.cache_full_blocks(a);  // 100 / 16 = 6 full blocks hashed in each group
    EXPECT_EQ(a.num_hashed_blocks, 6);
    m.free(a);
    EXPECT_EQ(m.num_free(), 40);

    RequestState b = request(2, 120, 7);  // the same conversation, grown
    // at most (120 - 1) / 16 = 7 blocks; the full group has 6 cached. At 6 blocks (96 tokens) the sliding
    // group needs the blocks from (96 - 32 + 1) / 16 = 4 on: blocks 4 and 5, cached. Hit: 96 tokens.
    EXPECT_EQ(m.take_prefix_hits(b), 96);
    EXPECT_EQ(b.blocks.size(), 6u);
    ASSERT_EQ(b.group_tables.size(), 1u);
    EXPECT_EQ(b.group_tables[0], (std::vector<int32_t>{-1, -1, -1, -1, b.group_tables[0][4], b.group_tables[0][5]}));
    EXPECT_GE(b.group_tables[0][4], 0);
    EXPECT_EQ(m.num_free(), 40 - 6 - 2);
    RequestState c = request(3, 120, 8);  // other content: no hit
    EXPECT_EQ(m.take_prefix_hits(c), 0);
}

// The prefix cache's hash index against std::unordered_map as the reference: 200,000 random inserts, erases
// and finds over 6,000 keys, so the table grows from 16 slots and probe runs form and break up (a quarter of the
// keys are multiples of 2^52: times the Fibonacci multiplier they keep only 12 varying bits, and crowd together);
// after every operation the sizes agree, and every probe finds what the reference holds.
TEST(BlockHashIndex, AgreesWithAnUnorderedMapUnderRandomInsertsAndErases) {
    BlockHashIndex index;
    std::unordered_map<uint64_t, int32_t> ref;
    Rng rng(99);
    auto key = [&]() -> uint64_t {
        const uint64_t k = 1 + static_cast<uint64_t>(rng.uniform() * 3000);
        return rng.uniform() < 0.25 ? k << 52 : k;
    };
    for (int op = 0; op < 200000; ++op) {
        const uint64_t k = key();
        const double u = rng.uniform();
        if (u < 0.45) {
            const auto b = static_cast<int32_t>(op);
            EXPECT_EQ(index.insert(k, b), ref.emplace(k, b).second);
        } else if (u < 0.9) {
            index.erase(k);
            ref.erase(k);
        } else {
            const auto it = ref.find(k);
            ASSERT_EQ(index.find(k), it == ref.end() ? -1 : it->second) << op;
        }
        ASSERT_EQ(index.size(), ref.size()) << op;
    }
    for (const auto& [k, b] : ref) EXPECT_EQ(index.find(k), b);
    EXPECT_FALSE(index.insert(0, 1));  // 0 marks an empty slot: never a key
}
