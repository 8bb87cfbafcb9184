// Paged KV-cache write: token t's K and V rows go to slot slots[t] of the [blocks x block_size] cache.
// Reference: executor/cpu/kv_cache.cpp.
#include "check.cuh"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

constexpr int THREADS = 256;

__global__ void kv_write_kernel(const uint16_t* k, const uint16_t* v, int64_t src_stride, uint16_t* k_cache,
                                uint16_t* v_cache, const int64_t* slots, int64_t tokens, int64_t row) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * THREADS + threadIdx.x;
    if (i >= tokens * row) return;
    const int64_t t = i / row, j = i % row;
    const int64_t slot = slots[t];
    if (slot < 0) return;
    k_cache[slot * row + j] = k[t * src_stride + j];
    v_cache[slot * row + j] = v[t * src_stride + j];
}

}  // namespace

void kv_write_strided(const uint16_t* k, const uint16_t* v, int64_t src_stride, uint16_t* k_cache, uint16_t* v_cache,
                      const int64_t* slots, int64_t tokens, int64_t kv_heads, int64_t head_dim, cudaStream_t stream) {
    HR_REQUIRE(k && v && k_cache && v_cache && slots && kv_heads > 0 && head_dim > 0, "bad arguments");
    const int64_t row = kv_heads * head_dim;
    HR_REQUIRE(src_stride >= row, "row stride shorter than a row");
    if (tokens == 0) return;
    kv_write_kernel<<<static_cast<unsigned>((tokens * row + THREADS - 1) / THREADS), THREADS, 0, stream>>>(
        k, v, src_stride, k_cache, v_cache, slots, tokens, row);
    HR_CUDA_CHECK(cudaGetLastError());
}

void kv_write(const uint16_t* k, const uint16_t* v, uint16_t* k_cache, uint16_t* v_cache, const int64_t* slots,
              int64_t tokens, int64_t kv_heads, int64_t head_dim, cudaStream_t stream) {
    kv_write_strided(k, v, kv_heads * head_dim, k_cache, v_cache, slots, tokens, kv_heads, head_dim, stream);
}

}  // namespace headroom::cuda
