// Attention, three ways:
// - naive: softmax(q k^T / sqrt(d)) v over contiguous keys, in double precision (the independent reference);
// - prefill: tiled over keys with an online softmax (running max m, running sum l), over the paged cache;
// - decode: keys split into partitions, each a partial softmax state (m, l, acc), merged at the end.
// GQA: query head h reads KV head h / (heads / kv_heads).
#include <algorithm>
#include <cmath>
#include <limits>

#include "headroom/executor/reference.hpp"

namespace headroom::ref {

namespace {

// A partial softmax over some keys: max score m, sum of exp(score - m) l, and sum of exp(score - m) v.
struct Partial {
    float m = -std::numeric_limits<float>::infinity();
    float l = 0.0f;
    std::vector<float> acc;
};

void add_key(Partial& p, float score, const float* v, int64_t d) {
    if (score > p.m) {
        const float scale = std::exp(p.m - score);  // 0 for the first key (m = -inf)
        p.l *= scale;
        for (int64_t i = 0; i < d; ++i) p.acc[i] *= scale;
        p.m = score;
    }
    const float w = std::exp(score - p.m);
    p.l += w;
    for (int64_t i = 0; i < d; ++i) p.acc[i] += w * v[i];
}

void merge(Partial& into, const Partial& p, int64_t d) {
    if (p.l == 0.0f) return;
    const float m = std::max(into.m, p.m);
    const float a = into.l == 0.0f ? 0.0f : std::exp(into.m - m), b = std::exp(p.m - m);
    into.l = into.l * a + p.l * b;
    for (int64_t i = 0; i < d; ++i) into.acc[i] = into.acc[i] * a + p.acc[i] * b;
    into.m = m;
}

float dot(const float* a, const float* b, int64_t d) {
    float s = 0.0f;
    for (int64_t i = 0; i < d; ++i) s += a[i] * b[i];
    return s;
}

}  // namespace

void naive_attention(const float* q, const float* k, const float* v, float* out, int64_t queries, int64_t keys,
                     int64_t heads, int64_t kv_heads, int64_t d, int64_t first_position, bool causal) {
    const int64_t group = heads / kv_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    std::vector<double> scores(static_cast<size_t>(keys));
    for (int64_t t = 0; t < queries; ++t) {
        const int64_t seen = causal ? std::min(keys, first_position + t + 1) : keys;
        for (int64_t h = 0; h < heads; ++h) {
            const float* qh = q + (t * heads + h) * d;
            const int64_t kh = h / group;
            double mx = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < seen; ++j) {
                double s = 0;
                for (int64_t i = 0; i < d; ++i) s += static_cast<double>(qh[i]) * k[(j * kv_heads + kh) * d + i];
                scores[j] = s * scale;
                mx = std::max(mx, scores[j]);
            }
            double sum = 0;
            for (int64_t j = 0; j < seen; ++j) sum += (scores[j] = std::exp(scores[j] - mx));
            for (int64_t i = 0; i < d; ++i) {
                double o = 0;
                for (int64_t j = 0; j < seen; ++j) o += scores[j] * v[(j * kv_heads + kh) * d + i];
                out[(t * heads + h) * d + i] = static_cast<float>(o / sum);
            }
        }
    }
}

void prefill_attention(const float* q, const PagedKv& c, const std::vector<int32_t>& table, float* out,
                       int64_t context, int64_t tokens, int64_t heads, int64_t key_tile) {
    const int64_t d = c.head_dim, group = heads / c.kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    for (int64_t t = 0; t < tokens; ++t) {
        const int64_t seen = context + t + 1;  // causal: keys 0 .. its own position
        for (int64_t h = 0; h < heads; ++h) {
            const float* qh = q + (t * heads + h) * d;
            Partial p;
            p.acc.assign(static_cast<size_t>(d), 0.0f);
            for (int64_t tile = 0; tile < seen; tile += key_tile) {
                Partial tp;  // one tile, then merged: the structure of the tiled kernel
                tp.acc.assign(static_cast<size_t>(d), 0.0f);
                for (int64_t j = tile; j < std::min(seen, tile + key_tile); ++j) {
                    const int64_t slot = slot_of(table, j, c.block_size);
                    add_key(tp, dot(qh, c.k_at(slot, h / group), d) * scale, c.v_at(slot, h / group), d);
                }
                merge(p, tp, d);
            }
            for (int64_t i = 0; i < d; ++i) out[(t * heads + h) * d + i] = bf16_round(p.acc[i] / p.l);
        }
    }
}

void decode_attention(const float* q, const PagedKv& c, const std::vector<std::vector<int32_t>>& tables,
                      const std::vector<int64_t>& seq_lens, float* out, int64_t heads, int64_t splits) {
    const int64_t d = c.head_dim, group = heads / c.kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    for (size_t b = 0; b < seq_lens.size(); ++b) {
        const int64_t len = seq_lens[b];
        const int64_t part = (len + splits - 1) / splits;
        for (int64_t h = 0; h < heads; ++h) {
            const float* qh = q + (static_cast<int64_t>(b) * heads + h) * d;
            Partial total;
            total.acc.assign(static_cast<size_t>(d), 0.0f);
            for (int64_t s = 0; s < splits; ++s) {
                Partial p;
                p.acc.assign(static_cast<size_t>(d), 0.0f);
                for (int64_t j = s * part; j < std::min(len, (s + 1) * part); ++j) {
                    const int64_t slot = slot_of(tables[b], j, c.block_size);
                    add_key(p, dot(qh, c.k_at(slot, h / group), d) * scale, c.v_at(slot, h / group), d);
                }
                merge(total, p, d);
            }
            for (int64_t i = 0; i < d; ++i) out[(static_cast<int64_t>(b) * heads + h) * d + i] = bf16_round(total.acc[i] / total.l);
        }
    }
}

}  // namespace headroom::ref
