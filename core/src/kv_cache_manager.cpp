#include "headroom/core/kv_cache_manager.hpp"

#include <algorithm>

#include "headroom/core/scheduler.hpp"

namespace headroom {

namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

KvCacheManager::KvCacheManager(int64_t num_blocks, int64_t block_size, bool prefix_caching, int64_t max_blocks_per_sequence)
    : pool_(num_blocks, block_size, prefix_caching),
      block_size_(block_size),
      prefix_caching_(prefix_caching),
      max_blocks_per_sequence_(max_blocks_per_sequence) {}

int64_t KvCacheManager::blocks_needed(int64_t tokens) const {
    const int64_t n = (tokens + block_size_ - 1) / block_size_;
    return max_blocks_per_sequence_ > 0 ? std::min(n, max_blocks_per_sequence_) : n;
}

int64_t KvCacheManager::blocks_short(const RequestState& r, int64_t tokens) const {
    return blocks_needed(tokens) - static_cast<int64_t>(r.blocks.size());
}

// A block's hash names its content: a shared system prompt's blocks by the prefix group, the rest by the
// conversation (content_id, shared by a session's turns) or by the request alone. Never 0 (0: no hash).
uint64_t KvCacheManager::block_hash(const RequestState& r, int64_t block) const {
    if (r.req.prefix_id != 0 && (block + 1) * block_size_ <= r.req.prefix_tokens) {
        const uint64_t h = mix(mix(r.req.prefix_id) ^ static_cast<uint64_t>(block));
        return h == 0 ? 1 : h;
    }
    const uint64_t content = r.req.content_id != 0 ? r.req.content_id : (uint64_t{1} << 63) | r.req.id;
    const uint64_t h = mix(mix(content) ^ static_cast<uint64_t>(block));
    return h == 0 ? 1 : h;
}

int64_t KvCacheManager::take_prefix_hits(RequestState& r) {
    const int64_t max_blocks = (r.num_tokens() - 1) / block_size_;
    int64_t hits = 0;
    while (hits < max_blocks) {
        const int32_t b = pool_.lookup_and_take(block_hash(r, hits));
        if (b < 0) break;
        r.blocks.push_back(b);
        ++hits;
    }
    r.num_hashed_blocks = hits;
    return hits * block_size_;
}

bool KvCacheManager::allocate(RequestState& r, int64_t tokens) {
    const int64_t need = blocks_short(r, tokens);
    return need <= 0 || pool_.allocate(need, r.blocks);
}

void KvCacheManager::cache_full_blocks(RequestState& r) {
    if (!prefix_caching_) return;
    const int64_t full = std::min<int64_t>(r.num_computed / block_size_, static_cast<int64_t>(r.blocks.size()));
    for (int64_t b = r.num_hashed_blocks; b < full; ++b) pool_.register_full(r.blocks[b], block_hash(r, b));
    r.num_hashed_blocks = std::max(r.num_hashed_blocks, full);
}

void KvCacheManager::free(RequestState& r) {
    pool_.release(std::vector<int32_t>(r.blocks.rbegin(), r.blocks.rend()));
    r.blocks.clear();
    r.num_hashed_blocks = 0;
}

}  // namespace headroom
