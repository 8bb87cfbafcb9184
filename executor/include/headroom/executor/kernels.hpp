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
// The same on rows `q_stride` and `k_stride` elements apart (q and k inside the fused QKV output).
void rope_strided(uint16_t* q, int64_t q_stride, uint16_t* k, int64_t k_stride, const int64_t* positions,
                  int64_t tokens, int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t rotary_dim, double theta,
                  cudaStream_t stream);
// slots[t]: the cache slot of token t (block_table[p / block_size] * block_size + p % block_size); a negative
// slot (the padding of a CUDA-graph bucket) is skipped.
void kv_write(const uint16_t* k, const uint16_t* v, uint16_t* k_cache, uint16_t* v_cache, const int64_t* slots,
              int64_t tokens, int64_t kv_heads, int64_t head_dim, cudaStream_t stream);
// The same with source rows `src_stride` elements apart.
void kv_write_strided(const uint16_t* k, const uint16_t* v, int64_t src_stride, uint16_t* k_cache, uint16_t* v_cache,
                      const int64_t* slots, int64_t tokens, int64_t kv_heads, int64_t head_dim, cudaStream_t stream);
// dst[r] = src[index[r]], rows of `width` bf16 (the embedding lookup, and picking each sequence's last row).
void gather_rows(const uint16_t* src, const int64_t* index, uint16_t* dst, int64_t rows, int64_t width,
                 cudaStream_t stream);
// Fills n bf16 values with mean + stddev x N(0, 1), from a counter-based generator: value i depends only on
// (seed, i), so the same seed gives the same tensor on any GPU and in any launch order.
void fill_normal(uint16_t* out, int64_t n, uint64_t seed, float mean, float stddev, cudaStream_t stream);

// Attention over the paged cache (executor/cuda/attention.cu). Every pointer in the batches is a device
// pointer. The block tables of all sequences are concatenated in one int32 array; sequence i's table starts
// at table_offsets[i] (so a CUDA graph replays with any table lengths).
bool attention_supports_head_dim(int64_t head_dim);  // 64 and 128
struct PrefillBatch {
    int32_t tiles = 0;                     // 64-query tiles over all sequences
    const int32_t* tile_seq = nullptr;     // [tiles] the tile's sequence
    const int32_t* tile_q0 = nullptr;      // [tiles] its first query within the sequence's chunk
    const int64_t* seq_row0 = nullptr;     // [seqs] the chunk's first row in the step's token batch
    const int32_t* seq_qlen = nullptr;     // [seqs] chunk length
    const int32_t* seq_context = nullptr;  // [seqs] tokens cached before the chunk
    const int32_t* block_tables = nullptr;
    const int32_t* table_offsets = nullptr;  // [seqs]
};
// Causal attention of each chunk over its cached prefix and itself; q rows are q_stride apart, the output is
// [tokens, heads x head_dim]. The chunk's K and V must already be in the cache.
void prefill_attention(const uint16_t* q, int64_t q_stride, const uint16_t* k_cache, const uint16_t* v_cache,
                       uint16_t* out, const PrefillBatch& batch, int64_t heads, int64_t kv_heads, int64_t head_dim,
                       int64_t block_size, cudaStream_t stream);
struct DecodeBatch {
    int32_t seqs = 0;
    int32_t splits = 1;                 // key partitions per sequence (flash-decoding)
    const int32_t* rows = nullptr;      // [seqs] the sequence's row in the step's token batch (q and out)
    const int32_t* seq_lens = nullptr;  // [seqs] keys to attend to (0: write zeros)
    const int32_t* block_tables = nullptr;
    const int32_t* table_offsets = nullptr;  // [seqs]
};
// One query per sequence over its cached keys; `workspace` holds decode_workspace_floats(...) floats.
void decode_attention(const uint16_t* q, int64_t q_stride, const uint16_t* k_cache, const uint16_t* v_cache,
                      uint16_t* out, const DecodeBatch& batch, float* workspace, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, int64_t block_size, cudaStream_t stream);
int64_t decode_workspace_floats(int64_t seqs, int64_t heads, int64_t head_dim, int64_t splits);

// bf16 GEMMs on cuBLASLt with fp32 accumulation: y[M, N] = x[M, K] W[N, K]^T, y in bf16 or fp32. The
// algorithm of each shape is picked once by cuBLASLt's heuristic and kept; the workspace is owned here, so
// a run may be captured in a CUDA graph.
class Gemm {
public:
    Gemm();
    ~Gemm();
    Gemm(const Gemm&) = delete;
    Gemm& operator=(const Gemm&) = delete;
    void run(const uint16_t* x, const uint16_t* w, void* y, int64_t m, int64_t k, int64_t n, bool fp32_out,
             cudaStream_t stream);

private:
    struct Impl;
    Impl* impl_;
};
void greedy_sample(const float* logits, int64_t* out, int64_t rows, int64_t vocab, cudaStream_t stream);

}  // namespace headroom::cuda
