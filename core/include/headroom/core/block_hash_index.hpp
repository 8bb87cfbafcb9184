// The prefix cache's index from a full block's hash to the block holding it: open addressing with linear
// probing in two flat arrays, deletion by backward shift (no tombstones), doubling at half full. Every engine
// step inserts and evicts blocks, and std::unordered_map's node per entry made that a fifth of a trace
// replay's time. Keys are never 0 (0 marks an empty slot; block hashes are never 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace headroom {

class BlockHashIndex {
public:
    BlockHashIndex() { rebuild(16); }

    // The block holding `key`, or -1.
    int32_t find(uint64_t key) const {
        if (key == 0) return -1;
        for (size_t i = home(key);; i = (i + 1) & mask_) {
            if (keys_[i] == key) return blocks_[i];
            if (keys_[i] == 0) return -1;
        }
    }
    // Adds `key` -> `block`; false (and no change) when `key` is already there.
    bool insert(uint64_t key, int32_t block) {
        if (key == 0) return false;
        if (2 * (size_ + 1) > keys_.size()) rebuild(2 * keys_.size());
        size_t i = home(key);
        for (; keys_[i] != 0; i = (i + 1) & mask_) {
            if (keys_[i] == key) return false;
        }
        keys_[i] = key;
        blocks_[i] = block;
        ++size_;
        return true;
    }
    // Removes `key` if present. The entries after it in its run move back into the gap when their home slot
    // does not lie between the gap and where they sit, so every lookup still finds them.
    void erase(uint64_t key) {
        if (key == 0) return;
        size_t i = home(key);
        for (; keys_[i] != key; i = (i + 1) & mask_) {
            if (keys_[i] == 0) return;
        }
        for (size_t j = (i + 1) & mask_; keys_[j] != 0; j = (j + 1) & mask_) {
            const size_t h = home(keys_[j]);
            const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);  // h cyclically in (i, j]
            if (stays) continue;
            keys_[i] = keys_[j];
            blocks_[i] = blocks_[j];
            i = j;
        }
        keys_[i] = 0;
        --size_;
    }
    size_t size() const { return size_; }

private:
    // Fibonacci hashing: the top bits of key x 2^64 / phi, so keys that differ only in low bits spread too.
    size_t home(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_); }

    void rebuild(size_t capacity) {  // capacity: a power of two
        std::vector<uint64_t> keys(capacity, 0);
        std::vector<int32_t> blocks(capacity, -1);
        keys.swap(keys_);
        blocks.swap(blocks_);
        mask_ = capacity - 1;
        shift_ = 64;
        for (size_t c = capacity; c > 1; c >>= 1) --shift_;
        size_ = 0;
        for (size_t i = 0; i < keys.size(); ++i) {
            if (keys[i] == 0) continue;
            size_t j = home(keys[i]);
            while (keys_[j] != 0) j = (j + 1) & mask_;
            keys_[j] = keys[i];
            blocks_[j] = blocks[i];
            ++size_;
        }
    }

    std::vector<uint64_t> keys_;
    std::vector<int32_t> blocks_;
    size_t mask_ = 0, size_ = 0;
    int shift_ = 64;
};

}  // namespace headroom
