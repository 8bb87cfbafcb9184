// Block pool with an O(1) intrusive LRU free queue.
#include "headroom/core/kv_block_manager.hpp"

#include <stdexcept>

namespace headroom {

KvBlockManager::KvBlockManager(int64_t num_blocks, int64_t block_size, bool prefix_caching)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      prefix_caching_(prefix_caching),
      ref_(num_blocks, 0),
      prev_(num_blocks, -1),
      next_(num_blocks, -1),
      hash_of_(num_blocks, 0) {
    if (num_blocks < 1 || block_size < 1) throw std::invalid_argument("KvBlockManager: needs blocks of >= 1 token");
    for (int32_t b = 0; b < num_blocks; ++b) push_free(b);
}

void KvBlockManager::push_free(int32_t b) {
    prev_[b] = tail_;
    next_[b] = -1;
    if (tail_ >= 0) next_[tail_] = b;
    else head_ = b;
    tail_ = b;
    ++num_free_;
}

void KvBlockManager::unlink_free(int32_t b) {
    if (prev_[b] >= 0) next_[prev_[b]] = next_[b];
    else head_ = next_[b];
    if (next_[b] >= 0) prev_[next_[b]] = prev_[b];
    else tail_ = prev_[b];
    prev_[b] = next_[b] = -1;
    --num_free_;
}

bool KvBlockManager::allocate(int64_t n, std::vector<int32_t>& out) {
    if (n > num_free_) return false;
    for (int64_t i = 0; i < n; ++i) {
        const int32_t b = head_;
        unlink_free(b);
        if (hash_of_[b] != 0) {  // evict the cached content it held
            map_.erase(hash_of_[b]);
            hash_of_[b] = 0;
            ++evictions_;
        }
        ref_[b] = 1;
        out.push_back(b);
    }
    return true;
}

void KvBlockManager::release(const std::vector<int32_t>& blocks) {
    for (int32_t b : blocks) {
        if (--ref_[b] == 0) push_free(b);  // a hashed block stays findable until allocate() reuses it
    }
}

int32_t KvBlockManager::lookup_and_take(uint64_t hash) {
    const int32_t b = map_.find(hash);
    if (b < 0) return -1;
    if (ref_[b] == 0) unlink_free(b);
    ++ref_[b];
    return b;
}

void KvBlockManager::register_full(int32_t block, uint64_t hash) {
    if (!prefix_caching_ || hash_of_[block] != 0) return;
    if (map_.insert(hash, block)) hash_of_[block] = hash;
}

}  // namespace headroom
