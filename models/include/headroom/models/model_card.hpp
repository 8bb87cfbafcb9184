// A transformer described by its Hugging Face config.json: shapes as plain fields, everything a capacity
// planner needs (parameters, weight bytes, KV bytes, FLOPs) as const derived accessors.
// Parameter formulas follow the Hugging Face modelling code of each family; KV formulas follow vLLM
// (2 x kv_heads x head_dim per token per full/sliding layer, one kv_lora_rank + qk_rope_head_dim latent
// per token per MLA layer).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <algorithm>
#include <vector>

#include "headroom/models/dtype.hpp"
#include "headroom/models/weight_scheme.hpp"

namespace headroom {

enum class AttentionKind { FULL, SLIDING, MLA };
enum class MlpKind { GATED, PLAIN };  // GATED: gate/up/down (SwiGLU, GeGLU); PLAIN: fc1/fc2
enum class NormKind { RMS, LAYER };   // LAYER carries a bias as well as a weight

std::string_view attention_kind_name(AttentionKind k);

struct LayerSpec {
    AttentionKind attention = AttentionKind::FULL;
    int64_t window = 0;  // tokens a SLIDING layer attends to (and keeps in KV); 0 otherwise
    bool moe = false;
};

// Parameter counts, whole model (not per GPU).
struct ParamBreakdown {
    int64_t embedding = 0;       // token table, plus position/token-type tables and their norm (encoders)
    int64_t lm_head = 0;         // 0 when tied to the embedding, or for an encoder
    int64_t attention = 0;       // projections, their biases, q/k and MLA norms, attention sinks
    int64_t dense_mlp = 0;       // MLPs of non-MoE layers
    int64_t routed_experts = 0;  // every routed expert of every MoE layer
    int64_t shared_experts = 0;  // always-on experts of MoE layers, and their gates
    int64_t router = 0;          // router (gate) weights, biases and correction biases
    int64_t norms = 0;           // per-layer norms and the final norm
    int64_t pooler = 0;          // encoder pooler

    // What one token touches: every parameter except the routed experts it does not pick and the
    // embedding table, which is a row lookup, not a matrix product (OpenAI's gpt-oss convention).
    int64_t active = 0;
    // The same plus the embedding table (Mistral's and Qwen's convention for "active parameters").
    int64_t active_with_embedding = 0;
    // Weight matrices of the transformer blocks: what weight-only quantisation (fp8, int8, int4)
    // compresses. Embeddings, lm_head, norms, biases and routers stay in 16 bits.
    int64_t quantizable = 0;

    int64_t total() const {
        return embedding + lm_head + attention + dense_mlp + routed_experts + shared_experts + router +
               norms + pooler;
    }
};

struct ModelCard {
    std::string name;          // short name: the shipped stem, or the file's directory name
    std::string source;        // path (or shipped name) it was read from
    std::string model_type;    // as in config.json
    std::string architecture;  // architectures[0], or ""
    std::string family;        // how headroom read it: llama, qwen2, gemma2, phi, deepseek, gpt_oss, bert...
    bool is_encoder = false;   // bidirectional encoder (BERT): prefill only, no KV cache kept

    int64_t hidden_size = 0;
    int64_t num_layers = 0;
    int64_t num_attention_heads = 0;
    int64_t num_kv_heads = 0;
    int64_t head_dim = 0;
    int64_t intermediate_size = 0;  // dense MLP width
    int64_t vocab_size = 0;
    int64_t max_position_embeddings = 0;
    std::string hidden_act;
    std::string torch_dtype;

    bool tie_word_embeddings = false;
    bool qkv_bias = false;
    bool o_bias = false;
    bool mlp_bias = false;
    bool lm_head_bias = false;
    bool qk_norm = false;          // per-head RMSNorm on q and k (Qwen3)
    bool qk_norm_per_head = false;  // ... with a weight per head (Cohere's use_qk_norm), not one shared by the heads
    // ... one norm over all the heads of q (and of k), whose variance the TP ranks all-reduce in every layer
    // (MiniMax-M2's qk_norm_type per_layer)
    bool qk_norm_across_heads = false;
    bool attention_sinks = false;  // one learned logit per head (gpt-oss)
    MlpKind mlp = MlpKind::GATED;
    NormKind norm = NormKind::RMS;
    bool norm_bias = true;  // a LayerNorm's bias (Cohere's LayerNorm has a weight only)
    int norms_per_layer = 2;
    bool final_norm = true;
    double partial_rotary_factor = 1.0;
    double rope_theta = 10000.0;  // RoPE base frequency
    double norm_eps = 1e-5;       // rms_norm_eps / layer_norm_eps
    std::string rope_scaling;  // rope_scaling type ("llama3", "yarn", ...), "" when none
    int64_t sliding_window = 0;

    // Mixture of experts (0 when dense).
    int64_t num_experts = 0;
    int64_t experts_per_token = 0;
    int64_t moe_intermediate_size = 0;
    int64_t num_shared_experts = 0;
    int64_t shared_expert_intermediate_size = 0;  // width of the always-on shared MLP (all shared experts)
    bool shared_expert_gate = false;              // Qwen-MoE's sigmoid gate on the shared expert
    bool expert_bias = false;
    bool router_bias = false;
    bool router_correction_bias = false;  // DeepSeek-V3 noaux_tc: one bias per expert
    int64_t first_k_dense_replace = 0;
    // Multi-token-prediction layers shipped beside the model (num_nextn_predict_layers: DeepSeek-V3), which
    // vLLM can run as a speculative drafter; 0 when none.
    int64_t mtp_layers = 0;

    // Multi-head latent attention (DeepSeek-V2/V3); 0 when absent.
    int64_t kv_lora_rank = 0;
    int64_t q_lora_rank = 0;
    int64_t qk_rope_head_dim = 0;
    int64_t qk_nope_head_dim = 0;
    int64_t v_head_dim = 0;
    // DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2): its heads and head size, and the keys each
    // query attends to; 0 when absent. Its keys are cached per token and layer in fp8 with an fp32 scale per 128.
    int64_t index_n_heads = 0;
    int64_t index_head_dim = 0;
    int64_t index_topk = 0;

    // Encoder extras.
    int64_t type_vocab_size = 0;
    bool learned_positions = false;
    bool pooler = false;

    std::vector<LayerSpec> layers;  // one per layer
    // How the checkpoint stores its weights (quantization_config); uniform bf16 when unquantised.
    WeightScheme shipped = WeightScheme::uniform(Dtype::BF16);
    std::vector<std::string> guessed;  // fields filled by assumption, for the warning

    bool is_moe() const { return num_experts > 0; }
    bool is_mla() const { return kv_lora_rank > 0; }
    int64_t count_layers(AttentionKind k) const;
    bool is_sliding(int64_t layer) const { return layers[static_cast<size_t>(layer)].attention == AttentionKind::SLIDING; }
    // The widest sliding window of the model's layers (0: none slides).
    int64_t widest_window() const;

    // Per TP rank. GQA KV heads are split across ranks, and replicated when TP exceeds them (one per rank);
    // an MLA latent is not split (0 heads). Layouts where TP neither divides nor is a multiple of the KV
    // heads are rejected by check_serving_layout before anything asks.
    int64_t kv_heads_per_rank(int64_t tp) const { return is_mla() ? 0 : std::max<int64_t>(1, num_kv_heads / tp); }
    bool kv_heads_replicated(int64_t tp) const { return !is_mla() && tp > num_kv_heads; }
    // DeepSeek Sparse Attention (DeepSeek-V3.2): each query attends to the index_topk keys its lightning indexer
    // picks, which vLLM runs with FlashMLA's sparse kernels.
    bool is_sparse_mla() const { return is_mla() && index_topk > 0; }
    // The attention matrix weights one TP rank holds and runs in `layer` beyond its 1/tp share of them: what
    // vLLM replicates on every rank, a KV head's K and V projections when TP exceeds the KV heads, MLA's q
    // and KV down-projections and a DSA indexer (disable_tp, ReplicatedLinear). 0 for most layouts.
    double attention_replicated_params(int64_t layer, int64_t tp) const;

    // Per-layer parameter counts.
    int64_t attention_params(int64_t layer) const;
    int64_t attention_weight_params(int64_t layer) const;  // matrices only (quantisable)
    int64_t expert_params() const;                         // one routed expert
    int64_t mlp_params(int64_t layer) const;               // all experts, shared experts, router
    int64_t mlp_weight_params(int64_t layer) const;        // matrices only (quantisable)
    int64_t active_mlp_params(int64_t layer) const;        // top-k experts + shared + router

    ParamBreakdown params() const;

    // Bytes of all weights when the block matrices are stored as `d` (see ParamBreakdown::quantizable).
    double weight_bytes(Dtype d) const;
    // Bytes of all weights stored per `s` (the rest 16-bit).
    double weight_bytes(const WeightScheme& s) const;
    // The weights a deployment runs: `override` for every block matrix, or as the checkpoint ships them. An
    // override of the format the checkpoint ships in is the checkpoint's own (vLLM's `--quantization fp8` on an
    // fp8 checkpoint keeps its scales and blocks: DeepSeek-V3 stays block-scaled).
    WeightScheme weights(const std::optional<Dtype>& override) const {
        if (!override || (shipped.is_uniform() && shipped.attention.dtype == *override)) return shipped;
        return WeightScheme::uniform(*override);
    }
    // Block-matrix parameters per module class (their sum is ParamBreakdown::quantizable).
    int64_t attention_matrix_params() const;
    int64_t dense_mlp_matrix_params() const;
    int64_t expert_matrix_params() const;  // routed and shared experts of every MoE layer

    // KV elements one token adds to one layer: 2 x kv_heads x head_dim, or the MLA latent.
    int64_t kv_elements_per_token(int64_t layer) const;
    // Cache bytes one token adds to one layer whatever the KV dtype: a DSA indexer's fp8 key and its fp32 scale
    // per 128 (index_head_dim + index_head_dim / 128 x 4; 132 B for DeepSeek-V3.2), 0 without one.
    int64_t kv_fixed_bytes_per_token(int64_t layer) const;
    // A DSA indexer's matrix weights in one layer (counted in attention_weight_params): vLLM replicates them on
    // every TP rank (ReplicatedLinear) instead of splitting them. 0 without one.
    int64_t indexer_weight_params() const;
    // Cache bytes one token adds to one layer at KV dtype `kv` (all its KV heads), the fixed-size part included.
    // A sparse-MLA latent at fp8 is stored in FlashMLA's layout (vLLM's fp8_ds_mla): the latent in fp8 with an
    // fp32 scale per 128 values and the RoPE key left bf16, 656 B for DeepSeek-V3.2 where plain fp8 is 576 B.
    double kv_token_bytes(int64_t layer, Dtype kv) const;
    // The same on one TP rank: its KV heads (kv_heads_per_rank), or the whole latent of an MLA layer.
    double kv_rank_token_bytes(int64_t layer, Dtype kv, int64_t tp) const;
    // KV bytes one token adds across all layers, with no window cap.
    double kv_bytes_per_token(Dtype kv) const;
    // KV bytes of one sequence of `tokens` tokens: sliding layers hold at most `window` tokens.
    double kv_bytes_for_context(int64_t tokens, Dtype kv) const;

    // FLOPs of the matrix products one token goes through (2 per multiply-add): all active matrices,
    // lm_head included, embedding lookup excluded.
    double linear_flops_per_token() const;
    // Attention-score and value FLOPs of one new token that sees `context` tokens (itself included),
    // summed over layers, with sliding layers capped at their window and sparse-MLA layers at index_topk (plus
    // their indexer's scoring of every key).
    double attention_flops_per_token(int64_t context) const;
    // Whole forward pass over a prompt of `tokens` tokens (causal; bidirectional for an encoder).
    double prefill_flops(int64_t tokens) const;
};

// Contexts at which `card` reports KV bytes and attention FLOPs: 4k, 32k, 128k below the model's maximum,
// then the maximum.
std::vector<int64_t> card_contexts(const ModelCard& m);

}  // namespace headroom
