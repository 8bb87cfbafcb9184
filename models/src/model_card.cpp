// Derived values of a model card. Napkin check: Llama-3.1-8B has 32 layers of 218.1 M parameters plus two
// 525 M embedding tables = 8.03 B; its KV is 2 x 32 x 8 x 128 x 2 B = 128 KiB per token at bf16.
#include "headroom/models/model_card.hpp"

#include <algorithm>

namespace headroom {

std::string_view attention_kind_name(AttentionKind k) {
    switch (k) {
        case AttentionKind::FULL: return "full";
        case AttentionKind::SLIDING: return "sliding";
        case AttentionKind::MLA: return "mla";
    }
    return "?";
}

int64_t ModelCard::count_layers(AttentionKind k) const {
    return std::count_if(layers.begin(), layers.end(), [k](const LayerSpec& l) { return l.attention == k; });
}

int64_t ModelCard::attention_weight_params(int64_t layer) const {
    const int64_t h = hidden_size;
    if (layers[layer].attention == AttentionKind::MLA) {
        const int64_t qk_head = qk_nope_head_dim + qk_rope_head_dim;
        const int64_t q = q_lora_rank > 0 ? h * q_lora_rank + q_lora_rank * num_attention_heads * qk_head
                                          : h * num_attention_heads * qk_head;
        const int64_t kv_a = h * (kv_lora_rank + qk_rope_head_dim);
        const int64_t kv_b = kv_lora_rank * num_attention_heads * (qk_nope_head_dim + v_head_dim);
        const int64_t o = num_attention_heads * v_head_dim * h;
        return q + kv_a + kv_b + o + indexer_weight_params();
    }
    const int64_t q = h * num_attention_heads * head_dim;
    const int64_t kv = 2 * h * num_kv_heads * head_dim;
    const int64_t o = num_attention_heads * head_dim * h;
    return q + kv + o;
}

int64_t ModelCard::attention_params(int64_t layer) const {
    int64_t n = attention_weight_params(layer);
    if (layers[layer].attention == AttentionKind::MLA) {
        n += kv_lora_rank + (q_lora_rank > 0 ? q_lora_rank : 0);  // kv_a / q_a layernorms
        if (index_n_heads > 0) n += 2 * index_head_dim;              // the indexer's key LayerNorm
        return n;
    }
    if (qkv_bias) n += (num_attention_heads + 2 * num_kv_heads) * head_dim;
    if (o_bias) n += hidden_size;
    if (qk_norm) n += qk_norm_per_head ? (num_attention_heads + num_kv_heads) * head_dim : 2 * head_dim;
    if (attention_sinks) n += num_attention_heads;
    return n;
}

static int64_t mlp_matrix_params(MlpKind kind, int64_t h, int64_t width) {
    return (kind == MlpKind::GATED ? 3 : 2) * h * width;
}

static int64_t mlp_bias_params(MlpKind kind, int64_t h, int64_t width) {
    return (kind == MlpKind::GATED ? 2 * width : width) + h;
}

int64_t ModelCard::expert_params() const {
    if (!is_moe()) return 0;
    int64_t n = mlp_matrix_params(MlpKind::GATED, hidden_size, moe_intermediate_size);
    if (expert_bias) n += mlp_bias_params(MlpKind::GATED, hidden_size, moe_intermediate_size);
    return n;
}

static int64_t router_params(const ModelCard& m) {
    int64_t n = m.hidden_size * m.num_experts;
    if (m.router_bias || m.router_correction_bias) n += m.num_experts;
    return n;
}

static int64_t shared_params(const ModelCard& m) {
    if (m.shared_expert_intermediate_size == 0) return 0;
    int64_t n = mlp_matrix_params(MlpKind::GATED, m.hidden_size, m.shared_expert_intermediate_size);
    if (m.shared_expert_gate) n += m.hidden_size;
    return n;
}

int64_t ModelCard::mlp_weight_params(int64_t layer) const {
    if (!layers[layer].moe) return mlp_matrix_params(mlp, hidden_size, intermediate_size);
    const int64_t shared =
        shared_expert_intermediate_size > 0
            ? mlp_matrix_params(MlpKind::GATED, hidden_size, shared_expert_intermediate_size)
            : 0;
    return num_experts * mlp_matrix_params(MlpKind::GATED, hidden_size, moe_intermediate_size) + shared;
}

int64_t ModelCard::mlp_params(int64_t layer) const {
    if (!layers[layer].moe) {
        int64_t n = mlp_matrix_params(mlp, hidden_size, intermediate_size);
        if (mlp_bias) n += mlp_bias_params(mlp, hidden_size, intermediate_size);
        return n;
    }
    return num_experts * expert_params() + shared_params(*this) + router_params(*this);
}

int64_t ModelCard::active_mlp_params(int64_t layer) const {
    if (!layers[layer].moe) return mlp_params(layer);
    return experts_per_token * expert_params() + shared_params(*this) + router_params(*this);
}

ParamBreakdown ModelCard::params() const {
    ParamBreakdown p;
    const int64_t h = hidden_size;
    const int64_t norm_size = norm == NormKind::LAYER && norm_bias ? 2 * h : h;

    p.embedding = vocab_size * h;
    if (learned_positions) p.embedding += max_position_embeddings * h;
    p.embedding += type_vocab_size * h;
    if (is_encoder) p.embedding += norm_size;  // embedding LayerNorm

    if (!is_encoder && !tie_word_embeddings) p.lm_head = vocab_size * h;
    if (!is_encoder && lm_head_bias) p.lm_head += vocab_size;
    if (pooler) p.pooler = h * h + h;

    for (int64_t i = 0; i < num_layers; ++i) {
        p.attention += attention_params(i);
        p.quantizable += attention_weight_params(i) + mlp_weight_params(i);
        p.norms += norms_per_layer * norm_size;
        if (!layers[i].moe) {
            p.dense_mlp += mlp_params(i);
        } else {
            p.routed_experts += num_experts * expert_params();
            p.shared_experts += shared_params(*this);
            p.router += router_params(*this);
        }
    }
    if (final_norm) p.norms += norm_size;

    int64_t active_blocks = 0;
    for (int64_t i = 0; i < num_layers; ++i) active_blocks += attention_params(i) + active_mlp_params(i);
    // The lm_head is a matrix product even when its weights are the tied embedding table.
    const int64_t head = is_encoder ? p.pooler : (tie_word_embeddings ? vocab_size * h : p.lm_head);
    p.active = active_blocks + p.norms + head;
    p.active_with_embedding = p.active + (tie_word_embeddings && !is_encoder ? 0 : p.embedding);
    return p;
}

int64_t ModelCard::attention_matrix_params() const {
    int64_t n = 0;
    for (int64_t i = 0; i < num_layers; ++i) n += attention_weight_params(i);
    return n;
}

int64_t ModelCard::dense_mlp_matrix_params() const {
    int64_t n = 0;
    for (int64_t i = 0; i < num_layers; ++i) n += layers[i].moe ? 0 : mlp_weight_params(i);
    return n;
}

int64_t ModelCard::expert_matrix_params() const {
    int64_t n = 0;
    for (int64_t i = 0; i < num_layers; ++i) n += layers[i].moe ? mlp_weight_params(i) : 0;
    return n;
}

double ModelCard::weight_bytes(const WeightScheme& s) const {
    if (s.is_uniform() && s.attention == WeightFormat::of(s.attention.dtype)) return weight_bytes(s.attention.dtype);
    const ParamBreakdown p = params();
    const double rest = static_cast<double>(p.total() - p.quantizable);
    return static_cast<double>(attention_matrix_params()) * s.attention.bytes_per_weight +
           static_cast<double>(dense_mlp_matrix_params()) * s.dense_mlp.bytes_per_weight +
           static_cast<double>(expert_matrix_params()) * s.experts.bytes_per_weight + rest * dtype_bytes(Dtype::BF16);
}

double ModelCard::weight_bytes(Dtype d) const {
    const ParamBreakdown p = params();
    const double total = static_cast<double>(p.total());
    if (d == Dtype::FP32 || d == Dtype::BF16 || d == Dtype::FP16) return total * dtype_bytes(d);
    const double rest = total - static_cast<double>(p.quantizable);
    return static_cast<double>(p.quantizable) * dtype_bytes(d) + rest * dtype_bytes(Dtype::BF16);
}

int64_t ModelCard::kv_elements_per_token(int64_t layer) const {
    if (is_encoder) return 0;
    if (layers[layer].attention == AttentionKind::MLA) return kv_lora_rank + qk_rope_head_dim;
    return 2 * num_kv_heads * head_dim;
}

int64_t ModelCard::indexer_weight_params() const {
    if (index_n_heads <= 0) return 0;
    // its query from the q latent (or the hidden state), its key and its per-head weights
    const int64_t h = hidden_size;
    return (q_lora_rank > 0 ? q_lora_rank : h) * index_n_heads * index_head_dim + h * index_head_dim + h * index_n_heads;
}

int64_t ModelCard::kv_fixed_bytes_per_token(int64_t layer) const {
    if (index_head_dim <= 0 || layers[layer].attention != AttentionKind::MLA) return 0;
    return index_head_dim + (index_head_dim + 127) / 128 * 4;
}

double ModelCard::kv_token_bytes(int64_t layer, Dtype kv) const {
    const double fixed = static_cast<double>(kv_fixed_bytes_per_token(layer));
    if (is_sparse_mla() && kv == Dtype::FP8 && layers[layer].attention == AttentionKind::MLA) {
        // fp8 latent, an fp32 scale per 128 of it, bf16 RoPE key (FlashMLA's sparse fp8 cache)
        return static_cast<double>(kv_lora_rank + (kv_lora_rank + 127) / 128 * 4 + qk_rope_head_dim * 2) + fixed;
    }
    return static_cast<double>(kv_elements_per_token(layer)) * dtype_bytes(kv) + fixed;
}

double ModelCard::kv_rank_token_bytes(int64_t layer, Dtype kv, int64_t tp) const {
    if (layers[layer].attention == AttentionKind::MLA) return kv_token_bytes(layer, kv);
    return 2.0 * static_cast<double>(kv_heads_per_rank(tp) * head_dim) * dtype_bytes(kv);
}

double ModelCard::attention_replicated_params(int64_t layer, int64_t tp) const {
    const double t = static_cast<double>(tp);
    double n = 0.0;
    if (kv_heads_replicated(tp)) {  // one whole KV head a rank, where the split would give it num_kv_heads / tp
        const double kv_head = 2.0 * static_cast<double>(hidden_size * head_dim);  // its K and V projections
        n += kv_head - kv_head * static_cast<double>(num_kv_heads) / t;
    }
    if (layers[layer].attention == AttentionKind::MLA) {
        // the q and KV down-projections (fused_qkv_a_proj, or kv_a_proj_with_mqa without a q LoRA) and a DSA
        // indexer: vLLM builds them with disable_tp / ReplicatedLinear
        const double down =
            static_cast<double>(hidden_size * (q_lora_rank + kv_lora_rank + qk_rope_head_dim));
        const double whole = down + static_cast<double>(indexer_weight_params());
        n += whole - whole / t;
    }
    return n;
}

double ModelCard::kv_bytes_per_token(Dtype kv) const {
    double bytes = 0.0;
    for (int64_t i = 0; i < num_layers; ++i) bytes += kv_token_bytes(i, kv);
    return bytes;
}

double ModelCard::kv_bytes_for_context(int64_t tokens, Dtype kv) const {
    double bytes = 0.0;
    for (int64_t i = 0; i < num_layers; ++i) {
        const int64_t held = layers[i].attention == AttentionKind::SLIDING ? std::min(tokens, layers[i].window)
                                                                           : tokens;
        bytes += static_cast<double>(held) * kv_token_bytes(i, kv);
    }
    return bytes;
}

double ModelCard::linear_flops_per_token() const {
    const ParamBreakdown p = params();
    // Norms and biases are additions, not products; they are < 0.01% of the total and counted here as
    // 2 FLOPs per parameter like the rest, which keeps the figure equal to the "2 x active" rule of thumb.
    return 2.0 * static_cast<double>(p.active);
}

// Score (q.k) plus value (p.v) FLOPs for one query head over one key: 2 x (qk dim + v dim).
static double attention_flops_per_key(const ModelCard& m, const LayerSpec& l) {
    if (l.attention == AttentionKind::MLA) {
        return 2.0 * m.num_attention_heads *
               static_cast<double>(m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim);
    }
    return 2.0 * m.num_attention_heads * static_cast<double>(2 * m.head_dim);
}

// The keys a layer's query attends to at most: a sliding window, or a sparse-MLA query's index_topk; 0: all.
static int64_t attended_cap(const ModelCard& m, const LayerSpec& l) {
    if (l.attention == AttentionKind::SLIDING) return l.window;
    if (l.attention == AttentionKind::MLA && m.is_sparse_mla()) return m.index_topk;
    return 0;
}

// A DSA indexer's scores for one query over one key: q.k over each of its heads (the ReLU and the per-head
// weighting are additions on top).
static double indexer_flops_per_key(const ModelCard& m, const LayerSpec& l) {
    return l.attention == AttentionKind::MLA ? 2.0 * static_cast<double>(m.index_n_heads * m.index_head_dim) : 0.0;
}

double ModelCard::attention_flops_per_token(int64_t context) const {
    double flops = 0.0;
    for (const LayerSpec& l : layers) {
        const int64_t cap = attended_cap(*this, l);
        const int64_t seen = cap > 0 ? std::min(context, cap) : context;
        flops += attention_flops_per_key(*this, l) * static_cast<double>(seen) +
                 indexer_flops_per_key(*this, l) * static_cast<double>(context);
    }
    return flops;
}

double ModelCard::prefill_flops(int64_t tokens) const {
    const double n = static_cast<double>(tokens);
    double attention = 0.0;
    for (const LayerSpec& l : layers) {
        double keys = 0.0;  // sum over the prompt's positions of the keys each one sees
        const int64_t cap = attended_cap(*this, l);
        if (is_encoder) {
            keys = n * n;
        } else if (cap > 0 && tokens > cap) {
            const double w = static_cast<double>(cap);
            keys = w * (w + 1.0) / 2.0 + (n - w) * w;
        } else {
            keys = n * (n + 1.0) / 2.0;
        }
        attention += attention_flops_per_key(*this, l) * keys + indexer_flops_per_key(*this, l) * n * (n + 1.0) / 2.0;
    }
    return linear_flops_per_token() * n + attention;
}

int64_t ModelCard::widest_window() const {
    int64_t w = 0;
    for (const LayerSpec& l : layers) {
        if (l.attention == AttentionKind::SLIDING) w = std::max(w, l.window);
    }
    return w;
}

std::vector<int64_t> card_contexts(const ModelCard& m) {
    std::vector<int64_t> out;
    for (int64_t c : {int64_t{4096}, int64_t{32768}, int64_t{131072}}) {
        if (c < m.max_position_embeddings) out.push_back(c);
    }
    out.push_back(m.max_position_embeddings);
    return out;
}

}  // namespace headroom
