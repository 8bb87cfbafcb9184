// The KV blocks of each request over the shared block pool, as vLLM V1's KVCacheManager: how many blocks a
// request needs for its tokens (a sliding-window group only its window's), prefix-cache hits from
// full-block hashes when a request is admitted, the hashing of blocks as they fill, and freeing, tail first.
// The scheduler decides who runs; this decides which blocks they hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "headroom/core/kv_block_manager.hpp"

namespace headroom {

struct RequestState;

class KvCacheManager {
public:
    KvCacheManager(int64_t num_blocks, int64_t block_size, bool prefix_caching);
    // The KV-cache groups of a model with sliding-window layers (vLLM V1's hybrid allocator, one shared pool;
    // one sliding group for a model whose every layer slides, as Mistral-7B-v0.1): each request holds one
    // table per group; a sliding group keeps only the blocks its window still reaches (SlidingWindowManager:
    // the blocks before (computed - window + 1) / block_size are freed as the sequence advances). `budget`
    // (max_num_batched_tokens) bounds what a sliding group holds while a chunk is computed. Prefix hits need
    // the full groups' blocks from the start and each sliding group's blocks within its window.
    void set_groups(std::vector<int64_t> windows, int64_t budget);
    int64_t num_groups() const { return windows_.empty() ? 1 : static_cast<int64_t>(windows_.size()); }

    const KvBlockManager& pool() const { return pool_; }
    int64_t num_free() const { return pool_.num_free(); }
    // Blocks a sequence of `tokens` tokens holds.
    int64_t blocks_needed(int64_t tokens) const;
    // Blocks `r` lacks to hold `tokens` tokens (0 when it has them).
    int64_t blocks_short(const RequestState& r, int64_t tokens) const;

    // A waiting request with no blocks: takes the cached full blocks of its known tokens in order (never the
    // one holding its last token, which must be computed to sample) and returns the tokens they hold.
    int64_t take_prefix_hits(RequestState& r);
    // The tokens of `r`'s prompt whose full blocks are cached now, without taking them (what a cache-aware
    // router reads; the first KV-cache group's hashes on a hybrid model).
    int64_t cached_prefix_tokens(const RequestState& r) const;
    // Frees the blocks of `r`'s sliding groups that its window no longer reaches (a no-op without sliding layers).
    void remove_skipped(RequestState& r);
    // Gives `r` the blocks it lacks for `tokens` tokens; false and no change when the pool has too few free.
    bool allocate(RequestState& r, int64_t tokens);
    // After a step: registers the hashes of `r`'s blocks that its computed tokens have filled.
    void cache_full_blocks(RequestState& r);
    // Frees all of `r`'s blocks, the newest first, so the LRU free queue evicts a sequence's tail first.
    void free(RequestState& r);

private:
    uint64_t block_hash(const RequestState& r, int64_t block) const;
    uint64_t group_hash(const RequestState& r, int64_t block, size_t g) const;  // a group's own hash of a block
    int64_t take_grouped_prefix_hits(RequestState& r);
    bool grouped() const { return !windows_.empty(); }  // groups with a sliding window among them
    std::vector<int32_t>& table(RequestState& r, size_t g) const;
    const std::vector<int32_t>& table(const RequestState& r, size_t g) const;
    int64_t skipped(const RequestState& r, size_t g) const;  // leading blocks of group g out of the window

    KvBlockManager pool_;
    int64_t block_size_;
    bool prefix_caching_;
    std::vector<int64_t> windows_;  // per group (models with sliding layers only)
    int64_t budget_ = 0;
};

}  // namespace headroom
