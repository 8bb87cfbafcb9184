// The executor's CPU reference: small ops against hand values, attention against a naive double-precision
// softmax(QK^T)V, paged against contiguous, chunked prefill against one prefill, and decode after prefill
// against a full recomputation. These run in CI without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "headroom/executor/executor_error.hpp"
#include "headroom/executor/reference.hpp"
#include "headroom/models/config_loader.hpp"

using namespace headroom;
using namespace headroom::ref;

namespace {

// A Llama-shaped model small enough for the CPU: 2 layers, 4 query / 2 KV heads of 16.
ModelCard tiny() {
    return parse_model_config(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 101,
        "max_position_embeddings": 512, "rope_theta": 10000.0, "rms_norm_eps": 1e-5})", "tiny.json", "tiny");
}

std::vector<float> randn(size_t n, uint64_t seed) {
    std::mt19937_64 g(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = bf16_round(d(g));
    return v;
}

std::vector<int32_t> shuffled_blocks(int32_t n, uint64_t seed) {
    std::vector<int32_t> b(static_cast<size_t>(n));
    std::iota(b.begin(), b.end(), 0);
    std::shuffle(b.begin(), b.end(), std::mt19937_64(seed));
    return b;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double mx = 0, scale = 1e-6;
    for (size_t i = 0; i < a.size(); ++i) {
        mx = std::max(mx, static_cast<double>(std::fabs(a[i] - b[i])));
        scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
    }
    return mx / scale;
}

}  // namespace

TEST(ReferenceOps, Bf16Rounding) {
    // bf16 keeps 7 mantissa bits: near 1.0 the spacing is 2^-7 = 0.0078125.
    EXPECT_EQ(bf16_round(1.0f), 1.0f);
    EXPECT_EQ(bf16_round(1.00390625f), 1.0f);        // halfway to 1.0078125: ties to even (1.0)
    EXPECT_EQ(bf16_round(1.01171875f), 1.015625f);   // halfway between 1.0078125 and 1.015625: to even
    EXPECT_EQ(bf16_round(1.005f), 1.0078125f);       // nearer the upper neighbour
}

TEST(ReferenceOps, RmsNormGemmSiluSample) {
    // x = [3, 4]: mean square 12.5, y = x / sqrt(12.5) = [0.8485, 1.1314], bf16 to 3 digits
    const float x[2] = {3, 4}, w[2] = {1, 1};
    float y[2];
    rmsnorm(x, w, y, 1, 2, 0.0f);
    EXPECT_NEAR(y[0], 0.8485, 4e-3);
    EXPECT_NEAR(y[1], 1.1314, 4e-3);
    // [1 2 3] x W^T with W = [[1 0 1], [2 1 0]] -> [4, 4]
    const float a[3] = {1, 2, 3}, W[6] = {1, 0, 1, 2, 1, 0};
    float out[2];
    gemm(a, W, out, 1, 3, 2);
    EXPECT_EQ(out[0], 4.0f);
    EXPECT_EQ(out[1], 4.0f);
    // silu(0) x 5 = 0; silu(2) x 3 = 2 / (1 + e^-2) x 3 = 5.2838
    const float gu[4] = {0, 2, 5, 3};
    float act[2];
    silu_mul(gu, act, 1, 2);
    EXPECT_EQ(act[0], 0.0f);
    EXPECT_NEAR(act[1], 5.2838, 0.02);
    const float logits[6] = {1, 3, 3, 0, -1, -2};
    int64_t tok[2];
    greedy_sample(logits, tok, 2, 3);
    EXPECT_EQ(tok[0], 1);  // the first of the tied maxima
    EXPECT_EQ(tok[1], 0);
}

TEST(ReferenceOps, RopeRotatesPairs) {
    // head_dim 2, rotary 2: (1, 0) at position p turns by p radians (theta^0 = 1): (cos p, sin p)
    float q[2] = {1, 0}, k[2] = {0, 1};
    const int64_t pos[1] = {3};
    rope(q, k, pos, 1, 1, 1, 2, 2, 10000.0);
    EXPECT_NEAR(q[0], std::cos(3.0), 1e-6);
    EXPECT_NEAR(q[1], std::sin(3.0), 1e-6);
    EXPECT_NEAR(k[0], -std::sin(3.0), 1e-6);
    EXPECT_NEAR(k[1], std::cos(3.0), 1e-6);
    float q0[4] = {1, 2, 3, 4}, k0[4] = {5, 6, 7, 8};
    const int64_t zero[1] = {0};
    rope(q0, k0, zero, 1, 1, 1, 4, 4, 10000.0);  // position 0: identity
    EXPECT_EQ(q0[2], 3.0f);
    EXPECT_EQ(k0[3], 8.0f);
}

TEST(ReferenceAttention, PagedTiledPrefillMatchesNaiveContiguous) {
    // 40 cached tokens + a 13-token chunk, 4 query / 2 KV heads of 16, blocks of 4 in shuffled order.
    const int64_t H = 4, KV = 2, d = 16, ctx = 40, n = 13, keys = ctx + n, bs = 4;
    const auto q = randn(static_cast<size_t>(n * H * d), 1);
    const auto k = randn(static_cast<size_t>(keys * KV * d), 2), v = randn(k.size(), 3);
    PagedKv cache(32, bs, KV, d);
    const auto table = shuffled_blocks(32, 4);
    kv_write(cache, k.data(), v.data(), table, 0, keys);
    std::vector<float> naive(q.size()), tiled(q.size());
    naive_attention(q.data(), k.data(), v.data(), naive.data(), n, keys, H, KV, d, ctx, true);
    for (int64_t tile : {1, 7, 64}) {
        prefill_attention(q.data(), cache, table, tiled.data(), ctx, n, H, tile);
        EXPECT_LT(max_rel_diff(tiled, naive), 1e-2) << "key tile " << tile;  // bf16 output: 2^-8 relative
    }
}

TEST(ReferenceAttention, SplitKeyDecodeMatchesNaive) {
    // three sequences of 1, 37 and 90 keys; splits 1, 3 and 8 must agree with the naive softmax
    const int64_t H = 4, KV = 2, d = 16, bs = 4;
    const std::vector<int64_t> lens = {1, 37, 90};
    PagedKv cache(64, bs, KV, d);
    const auto all_blocks = shuffled_blocks(64, 9);
    std::vector<std::vector<int32_t>> tables;
    std::vector<std::vector<float>> ks, vs;
    size_t next = 0;
    for (size_t b = 0; b < lens.size(); ++b) {
        const auto blocks = static_cast<size_t>((lens[b] + bs - 1) / bs);
        tables.emplace_back(all_blocks.begin() + static_cast<std::ptrdiff_t>(next),
                            all_blocks.begin() + static_cast<std::ptrdiff_t>(next + blocks));
        next += blocks;
        ks.push_back(randn(static_cast<size_t>(lens[b] * KV * d), 10 + b));
        vs.push_back(randn(ks.back().size(), 20 + b));
        kv_write(cache, ks.back().data(), vs.back().data(), tables.back(), 0, lens[b]);
    }
    const auto q = randn(lens.size() * static_cast<size_t>(H * d), 30);
    std::vector<float> naive(q.size());
    for (size_t b = 0; b < lens.size(); ++b) {
        naive_attention(&q[b * H * d], ks[b].data(), vs[b].data(), &naive[b * H * d], 1, lens[b], H, KV, d, 0, false);
    }
    for (int64_t splits : {1, 3, 8}) {
        std::vector<float> out(q.size());
        decode_attention(q.data(), cache, tables, lens, out.data(), H, splits);
        EXPECT_LT(max_rel_diff(out, naive), 1e-2) << "splits " << splits;
    }
}

TEST(ReferenceForward, ChunkedPrefillMatchesOnePrefill) {
    // 37 prompt tokens in one step, or as chunks of 16 + 21 in two steps: the same logits
    const ModelCard m = tiny();
    std::vector<int64_t> prompt(37);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int64_t>((i * 7 + 3) % 101);
    const auto table = shuffled_blocks(16, 5);
    ReferenceModel one(m, 42, 2, 16, 4), chunked(m, 42, 2, 16, 4);
    const auto a = one.forward({{prompt, 0, table}});
    chunked.forward({{std::vector<int64_t>(prompt.begin(), prompt.begin() + 16), 0, table}});
    const auto b = chunked.forward({{std::vector<int64_t>(prompt.begin() + 16, prompt.end()), 16, table}});
    // Measured: identical (0) when correct; 8e-3 when a query sees one future key. Tolerance between.
    EXPECT_LT(max_rel_diff(b, a), 2e-3);
    int64_t ta, tb;
    greedy_sample(a.data(), &ta, 1, 101);
    greedy_sample(b.data(), &tb, 1, 101);
    EXPECT_EQ(ta, tb);
}

TEST(ReferenceForward, DecodeAfterPrefillMatchesFullRecomputation) {
    // prefill 20 tokens then decode the 21st (split-key decode attention), against prefilling all 21;
    // two sequences in one batch to exercise mixed batches
    const ModelCard m = tiny();
    std::vector<int64_t> s1(21), s2(12);
    for (size_t i = 0; i < s1.size(); ++i) s1[i] = static_cast<int64_t>((i * 13 + 1) % 101);
    for (size_t i = 0; i < s2.size(); ++i) s2[i] = static_cast<int64_t>((i * 5 + 2) % 101);
    const auto blocks = shuffled_blocks(24, 8);
    const std::vector<int32_t> t1(blocks.begin(), blocks.begin() + 6), t2(blocks.begin() + 6, blocks.begin() + 12);
    ReferenceModel stepwise(m, 7, 2, 24, 4), full(m, 7, 2, 24, 4);
    stepwise.forward({{std::vector<int64_t>(s1.begin(), s1.end() - 1), 0, t1}, {s2, 0, t2}});
    const auto dec = stepwise.forward({{{s1.back()}, 20, t1}}, /*decode_splits=*/4);
    const auto ref = full.forward({{s1, 0, t1}});
    // Measured: identical (0) when correct; 6e-3 when a query sees one future key. Tolerance between.
    EXPECT_LT(max_rel_diff(dec, ref), 2e-3);
    int64_t a, b;
    greedy_sample(dec.data(), &a, 1, 101);
    greedy_sample(ref.data(), &b, 1, 101);
    EXPECT_EQ(a, b);
}

TEST(ReferenceForward, OnlyTheLlamaFamily) {
    EXPECT_THROW(ReferenceModel(load_model("DeepSeek-V2-Lite"), 1, 1, 4, 16), ExecutorError);
    EXPECT_THROW(ReferenceModel(load_model("mixtral"), 1, 1, 4, 16), ExecutorError);
}
