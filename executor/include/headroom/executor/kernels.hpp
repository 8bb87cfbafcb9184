// Host launchers of the executor's CUDA kernels. Device buffers hold bf16 as uint16_t (bit-identical to
// __nv_bfloat16), so C++ callers need no CUDA types beyond the stream. Each launcher checks its
// preconditions and throws std::runtime_error (file, line and the CUDA error) on failure. Every kernel has
// a plain C++ reference in executor/cpu/ and a test against it (tests/executor/test_cuda_ops.cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace headroom::cuda {

void rmsnorm(const uint16_t* x, const uint16_t* weight, uint16_t* y, int64_t tokens, int64_t width, float eps,
             cudaStream_t stream);
void residual_add(uint16_t* x, const uint16_t* y, int64_t n, cudaStream_t stream);
void silu_mul(const uint16_t* gate_up, uint16_t* out, int64_t tokens, int64_t inter, cudaStream_t stream);
void rope(uint16_t* q, uint16_t* k, const int64_t* positions, int64_t tokens, int64_t heads, int64_t kv_heads,
          int64_t head_dim, int64_t rotary_dim, double theta, cudaStream_t stream);
// slots[t]: the cache slot of token t (block_table[p / block_size] * block_size + p % block_size).
void kv_write(const uint16_t* k, const uint16_t* v, uint16_t* k_cache, uint16_t* v_cache, const int64_t* slots,
              int64_t tokens, int64_t kv_heads, int64_t head_dim, cudaStream_t stream);
void greedy_sample(const float* logits, int64_t* out, int64_t rows, int64_t vocab, cudaStream_t stream);

}  // namespace headroom::cuda
