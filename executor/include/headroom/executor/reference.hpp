// Plain C++ reference of the executor's ops and of a whole Llama-family (GQA) forward pass over a paged KV
// cache. It is the ground truth the CUDA kernels are tested against, and it runs in CI without a GPU.
// Storage is float, rounded to bf16 where the GPU stores bf16 (weights, activations, KV); every reduction
// accumulates in fp32, as the kernels do. Layouts are row-major:
//   activations [tokens, width]; q [tokens, heads, head_dim]; k, v [tokens, kv_heads, head_dim];
//   KV cache per layer [num_blocks, block_size, kv_heads, head_dim] for K and for V;
//   a GEMM weight [out, in], so y = x W^T.
#pragma once

#include <cstdint>
#include <vector>

#include "headroom/models/model_card.hpp"

namespace headroom::ref {

// Round to the nearest bf16 (ties to even), returned as float.
float bf16_round(float x);
void bf16_round_inplace(std::vector<float>& v);

void rmsnorm(const float* x, const float* weight, float* y, int64_t tokens, int64_t width, float eps);
// y[t, n] = sum_k x[t, k] W[n, k], fp32 accumulation, bf16-rounded output.
void gemm(const float* x, const float* w, float* y, int64_t tokens, int64_t in, int64_t out);
// Llama's rotate-half RoPE on the first rotary_dim dims of each head, at absolute positions.
void rope(float* q, float* k, const int64_t* positions, int64_t tokens, int64_t heads, int64_t kv_heads,
          int64_t head_dim, int64_t rotary_dim, double theta);
void residual_add(float* x, const float* y, int64_t n);
// gate_up [tokens, 2 x inter] (gate first, then up) -> out [tokens, inter] = silu(gate) * up.
void silu_mul(const float* gate_up, float* out, int64_t tokens, int64_t inter);
// Index of the largest logit of each row (the lowest index on ties).
void greedy_sample(const float* logits, int64_t* out, int64_t rows, int64_t vocab);

// A paged KV cache of one layer: K and V, [num_blocks, block_size, kv_heads, head_dim].
struct PagedKv {
    int64_t num_blocks = 0, block_size = 16, kv_heads = 0, head_dim = 0;
    std::vector<float> k, v;
    PagedKv() = default;
    PagedKv(int64_t blocks, int64_t block_size, int64_t kv_heads, int64_t head_dim);
    const float* k_at(int64_t slot, int64_t head) const { return &k[(slot * kv_heads + head) * head_dim]; }
    const float* v_at(int64_t slot, int64_t head) const { return &v[(slot * kv_heads + head) * head_dim]; }
};
// Slot of token position p of a sequence: block_table[p / block_size] * block_size + p % block_size.
int64_t slot_of(const std::vector<int32_t>& block_table, int64_t position, int64_t block_size);
// Writes k, v [tokens, kv_heads, head_dim] of one sequence's positions [start, start + tokens).
void kv_write(PagedKv& cache, const float* k, const float* v, const std::vector<int32_t>& block_table, int64_t start,
              int64_t tokens);

// softmax(q k^T / sqrt(d)) v with every key in memory (contiguous k, v [keys, kv_heads, d]); query t sits at
// position first_position + t and sees keys 0 .. first_position + t (causal), or all keys if !causal.
void naive_attention(const float* q, const float* k, const float* v, float* out, int64_t queries, int64_t keys,
                     int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t first_position, bool causal);
// Prefill of one sequence: `tokens` new queries at positions context .. context + tokens - 1 over the paged
// cache (which already holds them), tiled over keys with an online softmax (flash-style).
void prefill_attention(const float* q, const PagedKv& cache, const std::vector<int32_t>& block_table, float* out,
                       int64_t context, int64_t tokens, int64_t heads, int64_t key_tile);
// Decode of a batch: one query per sequence over its seq_len cached keys, the keys split into `splits`
// partitions whose partial softmax states are merged (flash-decoding).
void decode_attention(const float* q, const PagedKv& cache, const std::vector<std::vector<int32_t>>& block_tables,
                      const std::vector<int64_t>& seq_lens, float* out, int64_t heads, int64_t splits);

// Seeded random weights at a model card's true shapes (Llama family: gated SiLU MLP, RMSNorm, GQA).
struct Weights {
    std::vector<float> embedding, final_norm, lm_head;
    struct Layer {
        std::vector<float> input_norm, qkv, o, post_norm, gate_up, down;
    };
    std::vector<Layer> layers;
};
Weights random_weights(const ModelCard& m, uint64_t seed, int64_t layers);

// One sequence's share of a forward step (as the scheduler plans it).
struct SeqStep {
    std::vector<int64_t> tokens;     // new token ids (a prefill chunk, or one for decode)
    int64_t context = 0;             // tokens already in the KV cache
    std::vector<int32_t> block_table;  // covers context + tokens.size()
};

// A forward pass over the reference model: writes the new tokens' KV into the cache and returns the logits
// [sequences, vocab] at each sequence's last new token.
class ReferenceModel {
public:
    ReferenceModel(const ModelCard& m, uint64_t seed, int64_t layers, int64_t num_blocks, int64_t block_size);
    std::vector<float> forward(const std::vector<SeqStep>& batch, int64_t decode_splits = 1);
    const ModelCard& card() const { return m_; }
    int64_t layers() const { return layers_; }

private:
    ModelCard m_;
    int64_t layers_;
    Weights w_;
    std::vector<PagedKv> cache_;
};

}  // namespace headroom::ref
