// Paged KV-cache blocks, as vLLM's block pool: a fixed number of blocks of block_size tokens, a free queue
// in LRU order, reference counts, and (with prefix caching) a map from the hash of a full block to the
// block that holds it. A freed block that holds a hashed full block stays findable until it is reused.
#pragma once

#include <cstdint>
#include <vector>

#include "headroom/core/block_hash_index.hpp"

namespace headroom {

class KvBlockManager {
public:
    KvBlockManager(int64_t num_blocks, int64_t block_size, bool prefix_caching);

    int64_t num_blocks() const { return num_blocks_; }
    int64_t block_size() const { return block_size_; }
    int64_t num_free() const { return num_free_; }  // allocatable now (cached free blocks included)
    int64_t num_used() const { return num_blocks_ - num_free_; }
    bool prefix_caching() const { return prefix_caching_; }

    // Takes `n` blocks (evicting cached free ones, least recently freed first); false and no change if
    // fewer than `n` are free.
    bool allocate(int64_t n, std::vector<int32_t>& out);
    // Drops one reference to each block; blocks reaching zero go to the back of the free queue, in the
    // order given (pass a request's table tail-first, as vLLM does, so its prefix is evicted last).
    void release(const std::vector<int32_t>& blocks);

    // Prefix caching: the cached block holding `hash`, taking a reference to it, or -1.
    int32_t lookup_and_take(uint64_t hash);
    // Whether `hash` is cached, without taking it.
    bool cached(uint64_t hash) const { return map_.find(hash) >= 0; }
    // Records that `block` now holds the full block `hash` (no-op if another block already does).
    void register_full(int32_t block, uint64_t hash);

    int64_t cached_blocks() const { return static_cast<int64_t>(map_.size()); }
    int64_t evictions() const { return evictions_; }

private:
    void push_free(int32_t b);
    void unlink_free(int32_t b);

    int64_t num_blocks_, block_size_;
    bool prefix_caching_;
    int64_t num_free_ = 0;
    int64_t evictions_ = 0;
    std::vector<int32_t> ref_;
    std::vector<int32_t> prev_, next_;  // intrusive free queue; head_ is the next block to reuse
    int32_t head_ = -1, tail_ = -1;
    std::vector<uint64_t> hash_of_;  // 0: no hash
    BlockHashIndex map_;
};

}  // namespace headroom
