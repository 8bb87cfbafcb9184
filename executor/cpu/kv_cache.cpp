// The paged KV cache: block tables map a sequence's token positions to slots of fixed-size blocks.
#include <stdexcept>

#include "headroom/executor/reference.hpp"

namespace headroom::ref {

PagedKv::PagedKv(int64_t blocks, int64_t bs, int64_t heads, int64_t dim)
    : num_blocks(blocks), block_size(bs), kv_heads(heads), head_dim(dim),
      k(static_cast<size_t>(blocks * bs * heads * dim), 0.0f), v(static_cast<size_t>(blocks * bs * heads * dim), 0.0f) {}

int64_t slot_of(const std::vector<int32_t>& table, int64_t position, int64_t block_size) {
    const auto b = static_cast<size_t>(position / block_size);
    if (b >= table.size()) throw std::out_of_range("position beyond the block table");
    return static_cast<int64_t>(table[b]) * block_size + position % block_size;
}

void kv_write(PagedKv& c, const float* k, const float* v, const std::vector<int32_t>& table, int64_t start,
              int64_t tokens) {
    const int64_t row = c.kv_heads * c.head_dim;
    for (int64_t t = 0; t < tokens; ++t) {
        const int64_t slot = slot_of(table, start + t, c.block_size);
        for (int64_t i = 0; i < row; ++i) {
            c.k[static_cast<size_t>(slot * row + i)] = k[t * row + i];
            c.v[static_cast<size_t>(slot * row + i)] = v[t * row + i];
        }
    }
}

}  // namespace headroom::ref
