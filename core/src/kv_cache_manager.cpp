#include "headroom/core/kv_cache_manager.hpp"

#include <algorithm>
#include <utility>

#include "headroom/core/kv_planner.hpp"
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

KvCacheManager::KvCacheManager(int64_t num_blocks, int64_t block_size, bool prefix_caching)
    : pool_(num_blocks, block_size, prefix_caching), block_size_(block_size), prefix_caching_(prefix_caching) {}

void KvCacheManager::set_groups(std::vector<int64_t> windows, int64_t budget) {
    const bool sliding = std::any_of(windows.begin(), windows.end(), [](int64_t w) { return w > 0; });
    windows_ = sliding ? std::move(windows) : std::vector<int64_t>{};  // full attention only: one plain table
    budget_ = budget;
}

std::vector<int32_t>& KvCacheManager::table(RequestState& r, size_t g) const {
    if (g == 0) return r.blocks;
    if (r.group_tables.size() < windows_.size() - 1) r.group_tables.resize(windows_.size() - 1);
    return r.group_tables[g - 1];
}

const std::vector<int32_t>& KvCacheManager::table(const RequestState& r, size_t g) const {
    static const std::vector<int32_t> none;
    if (g == 0) return r.blocks;
    return g - 1 < r.group_tables.size() ? r.group_tables[g - 1] : none;
}

int64_t KvCacheManager::skipped(const RequestState& r, size_t g) const {
    const int64_t w = windows_[g];
    return w == 0 ? 0 : std::max<int64_t>(0, r.num_computed - w + 1) / block_size_;
}

int64_t KvCacheManager::blocks_needed(int64_t tokens) const {
    const int64_t n = (tokens + block_size_ - 1) / block_size_;
    if (grouped()) {  // the most a sequence of `tokens` tokens holds at once, over all groups
        int64_t sum = 0;
        for (int64_t w : windows_) sum += w == 0 ? n : std::min(n, sliding_window_blocks(w, budget_, block_size_));
        return sum;
    }
    return n;
}

int64_t KvCacheManager::blocks_short(const RequestState& r, int64_t tokens) const {
    if (!grouped()) return blocks_needed(tokens) - static_cast<int64_t>(r.blocks.size());
    const int64_t n = (tokens + block_size_ - 1) / block_size_;
    int64_t short_by = 0;
    for (size_t g = 0; g < windows_.size(); ++g) {
        const int64_t have = std::max(static_cast<int64_t>(table(r, g).size()), skipped(r, g));
        short_by += std::max<int64_t>(0, n - have);
    }
    return short_by;
}

void KvCacheManager::remove_skipped(RequestState& r) {
    if (!grouped()) return;
    for (size_t g = 0; g < windows_.size(); ++g) {
        std::vector<int32_t>& t = table(r, g);
        const int64_t skip = std::min(skipped(r, g), static_cast<int64_t>(t.size()));
        std::vector<int32_t> gone;
        for (int64_t i = 0; i < skip; ++i) {
            if (t[static_cast<size_t>(i)] >= 0) gone.push_back(std::exchange(t[static_cast<size_t>(i)], -1));
        }
        if (!gone.empty()) pool_.release(gone);
    }
}

// A block's hash names its content: a replayed trace's prompt blocks by the trace's own block ids, a shared
// system prompt's blocks by the prefix group, the rest by the conversation (content_id, shared by a session's
// turns) or by the request alone. Never 0 (0: no hash).
uint64_t KvCacheManager::block_hash(const RequestState& r, int64_t block) const {
    const int64_t end = (block + 1) * block_size_;  // the token after the block's last
    if (r.req.prompt_blocks && end <= r.req.prompt_tokens) {
        // the trace block holding the block's last token names everything up to that token
        const auto j = static_cast<size_t>((end - 1) / r.req.prompt_block_tokens);
        if (j < r.req.prompt_blocks->size()) {
            const uint64_t h = mix((*r.req.prompt_blocks)[j] ^ static_cast<uint64_t>(block));
            return h == 0 ? 1 : h;
        }
    }
    if (r.req.prefix_id != 0 && end <= r.req.prefix_tokens) {
        const uint64_t h = mix(mix(r.req.prefix_id) ^ static_cast<uint64_t>(block));
        return h == 0 ? 1 : h;
    }
    const uint64_t content = r.req.content_id != 0 ? r.req.content_id : (uint64_t{1} << 63) | r.req.id;
    const uint64_t h = mix(mix(content) ^ static_cast<uint64_t>(block));
    return h == 0 ? 1 : h;
}

uint64_t KvCacheManager::group_hash(const RequestState& r, int64_t block, size_t g) const {
    if (g == 0) return block_hash(r, block);
    const uint64_t h = mix(block_hash(r, block) ^ (0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(g)));
    return h == 0 ? 1 : h;
}

// A hit when layers slide, as vLLM's hybrid coordinator finds it: the longest run of cached blocks from the start
// in every full group, shortened until each sliding group has cached the blocks its window reaches back to
// from the first token to compute (blocks before that are not needed, and stay -1 in its table).
int64_t KvCacheManager::take_grouped_prefix_hits(RequestState& r) {
    const int64_t max_blocks = (r.num_tokens() - 1) / block_size_;
    int64_t h = max_blocks;
    for (size_t g = 0; g < windows_.size(); ++g) {
        if (windows_[g] != 0) continue;
        int64_t n = 0;
        while (n < h && pool_.cached(group_hash(r, n, g))) ++n;
        h = n;
    }
    auto first_needed = [&](size_t g, int64_t hit) {
        return std::max<int64_t>(0, hit * block_size_ - windows_[g] + 1) / block_size_;
    };
    auto sliding_ok = [&](int64_t hit) {
        for (size_t g = 0; g < windows_.size(); ++g) {
            if (windows_[g] == 0) continue;
            for (int64_t b = first_needed(g, hit); b < hit; ++b) {
                if (!pool_.cached(group_hash(r, b, g))) return false;
            }
        }
        return true;
    };
    while (h > 0 && !sliding_ok(h)) --h;
    for (size_t g = 0; g < windows_.size() && h > 0; ++g) {
        std::vector<int32_t>& t = table(r, g);
        const int64_t first = windows_[g] == 0 ? 0 : first_needed(g, h);
        for (int64_t b = 0; b < h; ++b) t.push_back(b < first ? -1 : pool_.lookup_and_take(group_hash(r, b, g)));
    }
    r.num_hashed_blocks = h;
    return h * block_size_;
}

int64_t KvCacheManager::take_prefix_hits(RequestState& r) {
    if (grouped()) return take_grouped_prefix_hits(r);
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

int64_t KvCacheManager::cached_prefix_tokens(const RequestState& r) const {
    if (!prefix_caching_) return 0;
    const int64_t max_blocks = (r.num_tokens() - 1) / block_size_;
    int64_t hits = 0;
    while (hits < max_blocks && pool_.cached(block_hash(r, hits))) ++hits;
    return hits * block_size_;
}

bool KvCacheManager::allocate(RequestState& r, int64_t tokens) {
    const int64_t need = blocks_short(r, tokens);
    if (!grouped()) return need <= 0 || pool_.allocate(need, r.blocks);
    if (need > pool_.num_free()) return false;
    const int64_t n = (tokens + block_size_ - 1) / block_size_;
    for (size_t g = 0; g < windows_.size(); ++g) {
        std::vector<int32_t>& t = table(r, g);
        const int64_t skip = skipped(r, g);
        while (static_cast<int64_t>(t.size()) < std::min(skip, n)) t.push_back(-1);  // out of the window already
        if (n > static_cast<int64_t>(t.size())) pool_.allocate(n - static_cast<int64_t>(t.size()), t);
    }
    return true;
}

void KvCacheManager::cache_full_blocks(RequestState& r) {
    if (!prefix_caching_) return;
    if (grouped()) {
        int64_t full = r.num_computed / block_size_;
        for (size_t g = 0; g < windows_.size(); ++g) full = std::min<int64_t>(full, static_cast<int64_t>(table(r, g).size()));
        for (int64_t b = r.num_hashed_blocks; b < full; ++b) {
            for (size_t g = 0; g < windows_.size(); ++g) {
                const int32_t blk = table(r, g)[static_cast<size_t>(b)];
                if (blk >= 0) pool_.register_full(blk, group_hash(r, b, g));
            }
        }
        r.num_hashed_blocks = std::max(r.num_hashed_blocks, full);
        return;
    }
    const int64_t full = std::min<int64_t>(r.num_computed / block_size_, static_cast<int64_t>(r.blocks.size()));
    for (int64_t b = r.num_hashed_blocks; b < full; ++b) pool_.register_full(r.blocks[b], block_hash(r, b));
    r.num_hashed_blocks = std::max(r.num_hashed_blocks, full);
}

void KvCacheManager::free(RequestState& r) {
    if (grouped()) {
        for (size_t g = 0; g < windows_.size(); ++g) {
            std::vector<int32_t>& t = table(r, g);
            std::vector<int32_t> live;
            for (auto it = t.rbegin(); it != t.rend(); ++it) {
                if (*it >= 0) live.push_back(*it);
            }
            pool_.release(live);
            t.clear();
        }
        r.num_hashed_blocks = 0;
        return;
    }
    pool_.release(std::vector<int32_t>(r.blocks.rbegin(), r.blocks.rend()));
    r.blocks.clear();
    r.num_hashed_blocks = 0;
}

}  // namespace headroom
