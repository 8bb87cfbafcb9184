// The whole forward pass of a Llama-family model (GQA, RoPE, RMSNorm, gated SiLU MLP) over the paged KV
// cache, for a batch planned like the scheduler plans it: prefill chunks and decodes together.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "headroom/executor/executor_error.hpp"
#include "headroom/executor/reference.hpp"
#include "headroom/core/workload.hpp"

namespace headroom::ref {

namespace {

std::vector<float> random_tensor(Rng& rng, size_t n, float stddev, float mean = 0.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = bf16_round(mean + stddev * static_cast<float>(rng.normal()));
    return v;
}

}  // namespace

Weights random_weights(const ModelCard& m, uint64_t seed, int64_t layers) {
    if (m.is_mla() || m.is_moe() || m.mlp != MlpKind::GATED || m.norm != NormKind::RMS || m.is_encoder) {
        throw ExecutorError("", "", m.name + ": the executor covers the Llama family (GQA, gated MLP, RMSNorm)");
    }
    Rng rng(seed);
    const auto h = static_cast<size_t>(m.hidden_size), hd = static_cast<size_t>(m.head_dim);
    const size_t qkv = (static_cast<size_t>(m.num_attention_heads) + 2 * static_cast<size_t>(m.num_kv_heads)) * hd;
    const size_t o = static_cast<size_t>(m.num_attention_heads) * hd, inter = static_cast<size_t>(m.intermediate_size);
    const auto vocab = static_cast<size_t>(m.vocab_size);
    // Projections at std 1/sqrt(fan_in) (about 0.02 at real widths): every layer's output is on the scale of
    // its input, so attention and MLP shape the logits at any model size.
    auto fan_in = [](size_t n) { return 1.0f / std::sqrt(static_cast<float>(n)); };
    Weights w;
    w.embedding = random_tensor(rng, vocab * h, 1.0f);
    for (int64_t l = 0; l < layers; ++l) {
        Weights::Layer L;
        L.input_norm = random_tensor(rng, h, 0.05f, 1.0f);
        L.qkv = random_tensor(rng, qkv * h, fan_in(h));
        L.o = random_tensor(rng, h * o, fan_in(o));
        L.post_norm = random_tensor(rng, h, 0.05f, 1.0f);
        L.gate_up = random_tensor(rng, 2 * inter * h, fan_in(h));
        L.down = random_tensor(rng, h * inter, fan_in(inter));
        w.layers.push_back(std::move(L));
    }
    w.final_norm = random_tensor(rng, h, 0.05f, 1.0f);
    w.lm_head = m.tie_word_embeddings ? w.embedding : random_tensor(rng, vocab * h, fan_in(h));
    return w;
}

ReferenceModel::ReferenceModel(const ModelCard& m, uint64_t seed, int64_t layers, int64_t num_blocks, int64_t block_size)
    : m_(m), layers_(layers), w_(random_weights(m, seed, layers)) {
    for (int64_t l = 0; l < layers; ++l) cache_.emplace_back(num_blocks, block_size, m.num_kv_heads, m.head_dim);
}

std::vector<float> ReferenceModel::forward(const std::vector<SeqStep>& batch, int64_t decode_splits) {
    const int64_t h = m_.hidden_size, H = m_.num_attention_heads, KV = m_.num_kv_heads, d = m_.head_dim;
    const int64_t inter = m_.intermediate_size, V = m_.vocab_size;
    const int64_t qkv_w = (H + 2 * KV) * d;
    const auto eps = static_cast<float>(m_.norm_eps);
    const auto rotary = static_cast<int64_t>(m_.partial_rotary_factor * static_cast<double>(d));

    int64_t T = 0;
    for (const SeqStep& s : batch) T += static_cast<int64_t>(s.tokens.size());
    std::vector<float> x(static_cast<size_t>(T * h)), xn(x.size()), qkv(static_cast<size_t>(T * qkv_w));
    std::vector<float> q(static_cast<size_t>(T * H * d)), k(static_cast<size_t>(T * KV * d)), v(k.size());
    std::vector<float> attn(q.size()), proj(x.size()), gu(static_cast<size_t>(T * 2 * inter)), act(static_cast<size_t>(T * inter));
    std::vector<int64_t> positions;
    int64_t t = 0;
    for (const SeqStep& s : batch) {
        for (size_t i = 0; i < s.tokens.size(); ++i, ++t) {
            positions.push_back(s.context + static_cast<int64_t>(i));
            std::copy_n(&w_.embedding[static_cast<size_t>(s.tokens[i] * h)], h, &x[static_cast<size_t>(t * h)]);
        }
    }

    for (int64_t l = 0; l < layers_; ++l) {
        const Weights::Layer& L = w_.layers[static_cast<size_t>(l)];
        PagedKv& cache = cache_[static_cast<size_t>(l)];
        rmsnorm(x.data(), L.input_norm.data(), xn.data(), T, h, eps);
        gemm(xn.data(), L.qkv.data(), qkv.data(), T, h, qkv_w);
        for (int64_t r = 0; r < T; ++r) {  // split q | k | v
            const float* row = &qkv[static_cast<size_t>(r * qkv_w)];
            std::copy_n(row, H * d, &q[static_cast<size_t>(r * H * d)]);
            std::copy_n(row + H * d, KV * d, &k[static_cast<size_t>(r * KV * d)]);
            std::copy_n(row + (H + KV) * d, KV * d, &v[static_cast<size_t>(r * KV * d)]);
        }
        rope(q.data(), k.data(), positions.data(), T, H, KV, d, rotary, m_.rope_theta);
        bf16_round_inplace(q);
        bf16_round_inplace(k);

        // KV write, then attention: prefill chunks tiled, decodes batched with split keys.
        std::vector<std::vector<int32_t>> dec_tables;
        std::vector<int64_t> dec_lens, dec_rows;
        int64_t row = 0;
        for (const SeqStep& s : batch) {
            const auto n = static_cast<int64_t>(s.tokens.size());
            kv_write(cache, &k[static_cast<size_t>(row * KV * d)], &v[static_cast<size_t>(row * KV * d)], s.block_table,
                     s.context, n);
            if (n == 1 && s.context > 0) {
                dec_tables.push_back(s.block_table);
                dec_lens.push_back(s.context + 1);
                dec_rows.push_back(row);
            } else {
                prefill_attention(&q[static_cast<size_t>(row * H * d)], cache, s.block_table,
                                  &attn[static_cast<size_t>(row * H * d)], s.context, n, H, 16);
            }
            row += n;
        }
        if (!dec_rows.empty()) {
            std::vector<float> dq, dout(dec_rows.size() * static_cast<size_t>(H * d));
            for (int64_t r : dec_rows) dq.insert(dq.end(), &q[static_cast<size_t>(r * H * d)], &q[static_cast<size_t>((r + 1) * H * d)]);
            decode_attention(dq.data(), cache, dec_tables, dec_lens, dout.data(), H, decode_splits);
            for (size_t i = 0; i < dec_rows.size(); ++i) {
                std::copy_n(&dout[i * static_cast<size_t>(H * d)], H * d, &attn[static_cast<size_t>(dec_rows[i] * H * d)]);
            }
        }
        gemm(attn.data(), L.o.data(), proj.data(), T, H * d, h);
        residual_add(x.data(), proj.data(), T * h);
        rmsnorm(x.data(), L.post_norm.data(), xn.data(), T, h, eps);
        gemm(xn.data(), L.gate_up.data(), gu.data(), T, h, 2 * inter);
        silu_mul(gu.data(), act.data(), T, inter);
        gemm(act.data(), L.down.data(), proj.data(), T, inter, h);
        residual_add(x.data(), proj.data(), T * h);
    }

    // Logits at each sequence's last new token.
    std::vector<float> last, normed(static_cast<size_t>(h)), logits;
    int64_t end = 0;
    for (const SeqStep& s : batch) {
        end += static_cast<int64_t>(s.tokens.size());
        rmsnorm(&x[static_cast<size_t>((end - 1) * h)], w_.final_norm.data(), normed.data(), 1, h, eps);
        std::vector<float> row(static_cast<size_t>(V));
        gemm(normed.data(), w_.lm_head.data(), row.data(), 1, h, V);
        logits.insert(logits.end(), row.begin(), row.end());
    }
    return logits;
}

}  // namespace headroom::ref
