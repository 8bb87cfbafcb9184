// The KV blocks of each request over the shared block pool, as vLLM V1's KVCacheManager: how many blocks a
// request needs for its tokens (capped for a model whose every layer slides), prefix-cache hits from
// full-block hashes when a request is admitted, the hashing of blocks as they fill, and freeing, tail first.
// The scheduler decides who runs; this decides which blocks they hold.
#pragma once

#include <cstdint>

#include "headroom/core/kv_block_manager.hpp"

namespace headroom {

struct RequestState;

class KvCacheManager {
public:
    // max_blocks_per_sequence: 0, or the cap of an all-sliding model (window - 1 + budget tokens, plus a block).
    KvCacheManager(int64_t num_blocks, int64_t block_size, bool prefix_caching, int64_t max_blocks_per_sequence);

    const KvBlockManager& pool() const { return pool_; }
    int64_t num_free() const { return pool_.num_free(); }
    // Blocks a sequence of `tokens` tokens holds.
    int64_t blocks_needed(int64_t tokens) const;
    // Blocks `r` lacks to hold `tokens` tokens (0 when it has them).
    int64_t blocks_short(const RequestState& r, int64_t tokens) const;

    // A waiting request with no blocks: takes the cached full blocks of its known tokens in order (never the
    // one holding its last token, which must be computed to sample) and returns the tokens they hold.
    int64_t take_prefix_hits(RequestState& r);
    // Gives `r` the blocks it lacks for `tokens` tokens; false and no change when the pool has too few free.
    bool allocate(RequestState& r, int64_t tokens);
    // After a step: registers the hashes of `r`'s blocks that its computed tokens have filled.
    void cache_full_blocks(RequestState& r);
    // Frees all of `r`'s blocks, the newest first, so the LRU free queue evicts a sequence's tail first.
    void free(RequestState& r);

private:
    uint64_t block_hash(const RequestState& r, int64_t block) const;

    KvBlockManager pool_;
    int64_t block_size_;
    bool prefix_caching_;
    int64_t max_blocks_per_sequence_;
};

}  // namespace headroom
