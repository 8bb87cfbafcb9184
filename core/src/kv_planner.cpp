// KV planner. Napkin check for Llama-3.1-8B on one H100 SXM at bf16:
//   85.0 GB usable x 0.9 = 76.5 GB; - 16.1 GB weights - ~3.2 GB reserve = ~57 GB for KV;
//   128 KiB per token -> ~440k tokens, 3 sequences at the full 131,072-token context.
#include "headroom/core/kv_planner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>

#include "headroom/core/parallelism.hpp"

namespace headroom {

namespace {

constexpr double GIB = 1024.0 * 1024.0 * 1024.0;
constexpr double ACTIVATION_BYTES = 2.0;  // activations stay in bf16 whatever the weight format
constexpr double LOGIT_BYTES = 4.0;       // the sampler works in fp32
// What vLLM keeps out of the KV cache besides the weights and the forward pass, from vLLM 0.19.0's startup
// logs on one to four H100 SXM 80GB (llm-d-incubation/llm-d-planner, accuracy/results/v0.19.0: "Actual usage
// is X GiB for weight, Y GiB for peak activation, Z GiB for non-torch memory", 8,192 batched tokens and 1,024
// sequences; bench/kv_memory_check.py prints them beside these estimates):
// - the sampler's peak, in fp32 copies of its max_num_seqs x vocab logits, and the profile run's other
//   buffers: a least-absolute-error fit to the peak activation of thirteen runs of nine dense models
//   (max(forward, sampler) + buffers; leaving each model out, every prediction within 0.08 GiB of its log);
constexpr double SAMPLER_COPIES = 3.61;
constexpr double PROFILE_BASE_BYTES = 0.123 * GIB;
// - non-torch memory: 0.24-0.25 GiB on one GPU; 2.06-2.21 GiB at TP 2 and 4, where NCCL takes NVLink SHARP
//   buffers on NVSwitch systems (Hopper and later; the median of the eight TP runs less the one-GPU figure).
//   Without NVLink a TP group takes no more (0.21 GiB at TP 8 on L40S in a vLLM 0.10.2 log); an NVLink GPU
//   before Hopper (no NVLink SHARP) keeps an estimate of 0.3 GiB of NCCL buffers, not measured;
constexpr double NON_TORCH_BYTES = 0.25 * GIB;
constexpr double NVLS_TP_BYTES = 1.84 * GIB;
constexpr double NCCL_BYTES = 0.3 * GIB;
// - the CUDA graphs' pool, which vLLM subtracts before sizing the KV cache since 0.21
//   (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS, on by default): its estimate for 51 + 51 captured sizes was
//   0.84 GiB for Llama-3.1-8B, CodeLlama-7B and gemma-2-9b, 0.82 for Qwen1.5-MoE-A2.7B, 0.55 for phi-2.
constexpr double CUDA_GRAPH_BYTES = 0.8 * GIB;
// The fused MoE splits a step's tokens into chunks of VLLM_FUSED_MOE_CHUNK_SIZE (16,384 by default).
constexpr int64_t FUSED_MOE_CHUNK = 16384;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string gb(double bytes) { return fmt::format("{:.1f} GB", bytes / 1e9); }

void validate(const ModelCard& m, const GpuProfile& gpu, KvPlanRequest& r) {
    if (r.pp < 1 || r.pp > m.num_layers) {
        throw PlanError("--pp", fmt::format("must be in [1, {}] (the model's layers), got {}", m.num_layers, r.pp));
    }
    check_serving_layout(m, gpu, r.tp, r.pp, r.kv_dtype);
    check_pp_layer_partition(m, r.pp, r.pp_layer_partition, "--pp-layer-partition");
    if (r.dp < 1) throw PlanError("--dp", fmt::format("must be >= 1, got {}", r.dp));
    if (r.ep < 1) throw PlanError("--ep", fmt::format("must be >= 1, got {}", r.ep));
    if (!(r.gpu_memory_utilization > 0.0 && r.gpu_memory_utilization <= 1.0)) {
        throw PlanError("--gpu-memory-utilization", fmt::format("must be in (0, 1], got {}", r.gpu_memory_utilization));
    }
    if (r.block_size < 1 || r.block_size > 1024) {
        throw PlanError("--block-size", fmt::format("must be in [1, 1024], got {}", r.block_size));
    }
    const BatchLimits d = vllm_serve_defaults(gpu);
    if (r.max_num_batched_tokens == 0) r.max_num_batched_tokens = d.max_num_batched_tokens;
    if (r.max_num_seqs == 0) r.max_num_seqs = d.max_num_seqs;
    if (r.max_num_batched_tokens < 1) {
        throw PlanError("--max-num-batched-tokens", fmt::format("must be >= 1, got {}", r.max_num_batched_tokens));
    }
    if (r.max_num_seqs < 1) throw PlanError("--max-num-seqs", fmt::format("must be >= 1, got {}", r.max_num_seqs));
    if (r.max_model_len < 0) throw PlanError("--max-model-len", fmt::format("must be >= 1, got {}", r.max_model_len));
    if (r.max_model_len == 0) r.max_model_len = m.max_position_embeddings;
    if (r.max_model_len > m.max_position_embeddings) {
        throw PlanError("--max-model-len", fmt::format("{} exceeds the model's max_position_embeddings ({})",
                                                       r.max_model_len, m.max_position_embeddings));
    }
    if (r.context < 0) throw PlanError("--context", fmt::format("must be >= 1, got {}", r.context));
    if (r.context == 0) r.context = r.max_model_len;
    if (r.context > r.max_model_len) {
        throw PlanError("--context", fmt::format("{} exceeds max_model_len ({})", r.context, r.max_model_len));
    }
    if (r.concurrency < 1) throw PlanError("--concurrency", fmt::format("must be >= 1, got {}", r.concurrency));
    if (gpu.usable_memory_bytes() <= 0.0) throw PlanError("--gpu", "the profile has no usable memory");
}

// Per-GPU weight bytes of the pipeline stage holding layers [first, first + count): its layers' share of
// everything sharded by TP, plus the attention weights vLLM replicates on every rank (a KV head's K/V
// projections when TP > KV heads, a DSA indexer) at the attention weights' format; the embedding on the first
// stage, lm_head on the last (vLLM builds a tied one there again when it is not also the first). Without PP
// the whole model's weights.
double stage_weights_per_gpu(const ModelCard& m, const KvPlanRequest& r, int64_t first, int64_t count,
                             bool first_stage, bool last_stage) {
    const WeightScheme w = m.weights(r.weight_dtype);
    const ParamBreakdown pb = m.params();
    // embeddings, lm_head, norms, biases and routers stay 16-bit unless the whole model is fp32
    // (weight_bytes)
    const double rest = w.is_uniform() && w.attention.dtype == Dtype::FP32 ? 4.0 : 2.0;
    const double edges = static_cast<double>(pb.embedding + pb.lm_head + pb.pooler) * rest;
    double in_stage = 0.0, in_all = 0.0, replicated = 0.0, moe_in_stage = 0.0, moe_layers = 0.0;
    for (int64_t i = 0; i < m.num_layers; ++i) {
        const double matrices_a = static_cast<double>(m.attention_weight_params(i));
        const double matrices_m = static_cast<double>(m.mlp_weight_params(i));
        const double others =
            static_cast<double>(m.attention_params(i) + m.mlp_params(i)) - matrices_a - matrices_m;
        const double mlp_bytes = (m.layers[i].moe ? w.experts : w.dense_mlp).bytes_per_weight;
        const double layer =
            matrices_a * w.attention.bytes_per_weight + matrices_m * mlp_bytes + others * rest;
        const bool here = i >= first && i < first + count;
        in_all += layer;
        moe_layers += m.layers[i].moe ? 1.0 : 0.0;
        if (!here) continue;
        in_stage += layer;
        replicated += m.attention_replicated_params(i, r.tp);
        moe_in_stage += m.layers[i].moe ? 1.0 : 0.0;
    }
    const double layers = m.weight_bytes(w) - edges;  // the blocks' weights, norms and routers
    double sharded = in_all > 0.0 ? layers * in_stage / in_all : 0.0;
    if (first_stage) sharded += static_cast<double>(pb.embedding) * rest;
    if (last_stage) {
        const bool tied_again = !first_stage && pb.lm_head == 0 && !m.is_encoder;
        sharded +=
            static_cast<double>(pb.pooler + (tied_again ? m.vocab_size * m.hidden_size : pb.lm_head)) * rest;
    }
    double bytes = sharded / static_cast<double>(r.tp) + replicated * w.attention.bytes_per_weight;
    if (r.ep > r.tp && moe_layers > 0.0) {  // routed experts over ep GPUs rather than tp
        const double routed =
            static_cast<double>(pb.routed_experts) * w.experts.bytes_per_weight * moe_in_stage / moe_layers;
        bytes -= routed / static_cast<double>(r.tp) - routed / static_cast<double>(r.ep);
    }
    return bytes;
}

// KV bytes one token adds to layer `i` on one GPU of the plan's binding stage (0 for a layer of another
// stage).
double layer_token_bytes(const ModelCard& m, const KvPlan& p, int64_t i) {
    const size_t b = static_cast<size_t>(p.binding_stage);
    if (!p.stage_layers.empty() &&
        (i < p.stage_first_layer[b] || i >= p.stage_first_layer[b] + p.stage_layers[b])) {
        return 0.0;
    }
    return m.kv_rank_token_bytes(i, p.request.kv_dtype, p.request.tp);
}

}  // namespace

void check_pp_layer_partition(const ModelCard& m, int64_t pp, const std::vector<int64_t>& partition,
                              const std::string& field) {
    if (partition.empty()) return;
    if (static_cast<int64_t>(partition.size()) != pp) {
        throw PlanError(
            field, fmt::format("{} stages' layers for pp {}: give one count a stage", partition.size(), pp));
    }
    int64_t sum = 0;
    for (const int64_t n : partition) {
        if (n < 1)
            throw PlanError(field, fmt::format("a stage of {} layers: every stage holds at least one", n));
        sum += n;
    }
    if (sum != m.num_layers) {
        throw PlanError(field,
                        fmt::format("the stages hold {} layers, and {} has {}", sum, m.name, m.num_layers));
    }
}

void check_encoder_step(const ModelCard& m, bool decodes, bool cached_context) {
    if (!m.is_encoder) return;
    if (decodes) {
        throw PlanError("--decode-batch",
                        fmt::format("{} is an encoder: it keeps no KV cache and runs no decodes; "
                                    "cost a prefill (--tokens N)",
                                    m.name));
    }
    if (cached_context) {
        throw PlanError(
            "--prefill-context",
            fmt::format("{} is an encoder: it keeps no KV cache to have cached tokens in", m.name));
    }
}

void check_serving_layout(const ModelCard& m, const GpuProfile& gpu, int64_t tp, int64_t pp, Dtype kv_dtype,
                          bool allow_encoder) {
    if (m.is_encoder && !allow_encoder) {
        throw PlanError("--model", fmt::format("{} is an encoder: it keeps no KV cache", m.name));
    }
    if (tp < 1) throw PlanError("--tp", fmt::format("must be >= 1, got {}", tp));
    if (m.num_attention_heads % tp != 0) {
        throw PlanError("--tp", fmt::format("{} does not divide the {} attention heads", tp, m.num_attention_heads));
    }
    if (!m.is_mla() && m.num_kv_heads % tp != 0 && tp % m.num_kv_heads != 0) {
        throw PlanError("--tp", fmt::format("{} neither divides nor is a multiple of the {} KV heads", tp, m.num_kv_heads));
    }
    if (kv_dtype == Dtype::INT4 || kv_dtype == Dtype::MXFP4 || kv_dtype == Dtype::FP32) {
        throw PlanError("--kv-dtype", fmt::format("{} is not a KV-cache format (expected bf16, fp16, fp8 or int8)",
                                                  dtype_name(kv_dtype)));
    }
    // Tensor or pipeline parallelism moves activations between GPUs, over NVLink or PCIe.
    if (gpu.has_nvlink() || gpu.pcie_bidirectional_gb_per_s.value > 0.0) return;
    const bool by_tp = tp > 1;
    if (!by_tp && pp <= 1) return;
    throw PlanError(by_tp ? "--tp" : "--pp",
                    fmt::format("{} {} needs GPUs linked to each other, and {} has no link (its profile gives neither "
                                "interconnect.nvlink_bidirectional_gb_per_s nor interconnect.pcie_bidirectional_gb_per_s)",
                                by_tp ? "tp" : "pp", by_tp ? tp : pp, gpu.name));
}

ReserveEstimate estimate_reserve(const ModelCard& m, const GpuProfile& gpu, const KvPlanRequest& r) {
    ReserveEstimate e;
    const double tp = static_cast<double>(r.tp);
    const double h = static_cast<double>(m.hidden_size);
    // Elements per token alive at the forward pass's peak: the residual stream and the normed input (2h),
    // plus the larger of the attention stage (q, k, v outputs) and an MLP stage (gate/up outputs and the
    // activation) of a dense layer or of a MoE layer's shared expert.
    double attention_stage = 0.0;
    if (m.is_mla()) {
        attention_stage = m.num_attention_heads / tp *
                              static_cast<double>(2 * (m.qk_nope_head_dim + m.qk_rope_head_dim) + m.v_head_dim) +
                          static_cast<double>(m.kv_lora_rank + m.qk_rope_head_dim);
    } else {
        const double kv_heads = static_cast<double>(m.kv_heads_per_rank(r.tp));
        attention_stage = (m.num_attention_heads / tp + 2.0 * kv_heads) * static_cast<double>(m.head_dim);
    }
    const double width_factor = m.mlp == MlpKind::GATED ? 3.0 : 2.0;
    const bool dense_layers =
        std::any_of(m.layers.begin(), m.layers.end(), [](const LayerSpec& l) { return !l.moe; });
    double mlp_stage = dense_layers ? width_factor * static_cast<double>(m.intermediate_size) / tp : 0.0;
    if (m.is_moe()) {
        mlp_stage = std::max(mlp_stage, 3.0 * static_cast<double>(m.shared_expert_intermediate_size) / tp);
        // The routed experts' intermediates live in the fused MoE's workspace (FusedMoEModularKernel's
        // shared buffers, vllm/model_executor/layers/fused_moe/modular_kernel.py): one pair for every MoE
        // layer, sized at the profile run's tokens and kept, so it adds to the sampler's peak too.
        // workspace13 holds the first GEMM's output and then the second's (M x top-k x max(N, hidden));
        // workspace2 the activation's output (M x top-k x the expert's intermediate), N being w1's rows on
        // this GPU (2 x intermediate when gated; the intermediate is split over TP unless EP holds whole
        // experts).
        const double inter = static_cast<double>(m.moe_intermediate_size) / (r.ep > 1 ? 1.0 : tp);
        const double n = (m.mlp == MlpKind::GATED ? 2.0 : 1.0) * inter;
        const double rows =
            static_cast<double>(std::min(r.max_num_batched_tokens, FUSED_MOE_CHUNK) * m.experts_per_token);
        e.moe_workspace_bytes = rows * (std::max(n, h) + inter) * ACTIVATION_BYTES;
    }
    const double per_token = 2.0 * h + std::max(attention_stage, mlp_stage);
    e.activation_bytes = static_cast<double>(r.max_num_batched_tokens) * per_token * ACTIVATION_BYTES;
    // The sampler's dummy run: logits gathered to the full vocabulary on every rank, in fp32, sorted for
    // top-k / top-p and turned into probabilities (SAMPLER_COPIES fp32 copies at its peak, fitted).
    const double seqs = static_cast<double>(std::min(r.max_num_seqs, r.max_num_batched_tokens));
    e.logits_bytes = SAMPLER_COPIES * seqs * static_cast<double>(m.vocab_size) * LOGIT_BYTES;
    e.base_bytes = PROFILE_BASE_BYTES;
    double tp_buffers = 0.0;
    if (r.tp > 1 && gpu.has_nvlink()) {
        tp_buffers = gpu.compute_capability.value >= 9.0 ? NVLS_TP_BYTES : NCCL_BYTES;
    }
    e.non_torch_bytes = NON_TORCH_BYTES + tp_buffers;
    e.cuda_graph_bytes = r.cuda_graphs ? CUDA_GRAPH_BYTES : 0.0;
    e.all2all_bytes = r.all2all_buffer_bytes;
    return e;
}

double deepep_buffer_bytes(const ModelCard& m, const std::string& backend, int64_t dp, int64_t ep) {
    constexpr double MIB = 1024.0 * 1024.0;
    constexpr double NVL_BYTES = 1024.0 * MIB;   // VLLM_DEEPEP_BUFFER_SIZE_MB's default
    constexpr int64_t TOKENS_PER_RANK = 256;     // VLLM_MOE_DP_CHUNK_SIZE's default
    constexpr int64_t ALIGN = 128;               // DeepEP's NUM_BUFFER_ALIGNMENT_BYTES
    constexpr int64_t NVL_PEERS = 8;             // DeepEP's NUM_MAX_NVL_PEERS
    if (!m.is_moe() || dp < 2 || ep < 2) return 0.0;
    if (backend == "deepep_high_throughput") return NVL_BYTES * (ep > NVL_PEERS ? 2.0 : 1.0);
    if (backend != "deepep_low_latency") return 0.0;
    const int64_t h = m.hidden_size, e = m.num_experts, t = TOKENS_PER_RANK, scales = h / 128;
    const int64_t dispatch = 16 + std::max(2 * h, h + 4 * scales), combine = 4 * scales + 2 * h;
    const int64_t send = std::max(t * dispatch, e * t * combine);
    const int64_t recv = std::max(e * t * dispatch, e * t * combine);
    const int64_t signalling = ceil_div(e * 8 + (e / ep) * 4, ALIGN) * ALIGN;
    const int64_t total = 2 * send + 2 * recv + 2 * signalling;
    return NVL_BYTES + static_cast<double>((total + ALIGN) / ALIGN * ALIGN);
}

void set_expert_parallel(KvPlanRequest& r, const ModelCard& m, bool expert_parallel, const std::string& backend) {
    r.ep = expert_parallel ? r.tp * r.dp : 1;
    r.all2all_buffer_bytes = deepep_buffer_bytes(m, backend, r.dp, r.ep);
}

int64_t sliding_window_blocks(int64_t window, int64_t budget, int64_t block_size) {
    return ceil_div(window - 1 + budget, block_size) + 1;
}

double kv_sequence_bytes(const ModelCard& m, const KvPlan& p, int64_t tokens) {
    const int64_t bs = p.request.block_size;
    double bytes = 0.0;
    for (int64_t i = 0; i < m.num_layers; ++i) {
        int64_t blocks = ceil_div(tokens, bs);
        if (m.layers[i].attention == AttentionKind::SLIDING) {
            blocks = std::min(blocks, sliding_window_blocks(m.layers[i].window, p.request.max_num_batched_tokens, bs));
        }
        bytes += static_cast<double>(blocks * bs) * layer_token_bytes(m, p, i);
    }
    // a speculative drafter's layers (on the last stage) hold the same tokens in the same blocks
    double target = 0.0;
    for (int64_t i = 0; i < m.num_layers; ++i) target += layer_token_bytes(m, p, i);
    return target > 0 ? bytes * p.kv_bytes_per_token / target : bytes;
}

// The KV-cache groups (see KvPlan::group_layers). Hybrid grouping needs every layer to hold the same KV bytes
// per token (vLLM's page-size unification); otherwise, and for uniform models, one group of every layer.
void plan_groups(const ModelCard& m, KvPlan& p) {
    std::map<int64_t, int64_t> per_type;  // window (0: full) -> layers
    bool same_bytes = true;
    for (int64_t i = 0; i < m.num_layers; ++i) {
        per_type[m.is_sliding(i) ? m.layers[i].window : 0] += 1;
        same_bytes = same_bytes && m.kv_rank_token_bytes(i, p.request.kv_dtype, p.request.tp) ==
                                       m.kv_rank_token_bytes(0, p.request.kv_dtype, p.request.tp);
    }
    if (per_type.size() < 2 || !same_bytes || m.is_encoder) {
        p.group_layers = m.num_layers;
        p.group_windows = {per_type.size() == 1 ? per_type.begin()->first : 0};
        return;
    }
    int64_t lo = m.num_layers, hi = 0;
    for (const auto& [w, n] : per_type) lo = std::min(lo, n), hi = std::max(hi, n);
    p.group_layers = 2 * hi < 3 * lo ? hi : lo;
    p.group_windows.clear();
    for (const auto& [w, n] : per_type) {
        for (int64_t g = 0; g < ceil_div(n, p.group_layers); ++g) p.group_windows.push_back(w);
    }
}

BatchLimits vllm_serve_defaults(const GpuProfile& gpu) {
    std::string name = gpu.name + " " + gpu.display_name;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (gpu.memory_capacity_gib.value >= 70.0 && name.find("a100") == std::string::npos) return {8192, 1024};
    return {2048, 256};
}

namespace {

// What stage [first, first + count) keeps out of its KV cache: the whole model's reserve `e`, less the
// sampler's peak off the last stage (vLLM's dummy sampler run is the last rank's) and the fused-MoE workspace
// on a stage without MoE layers.
ReserveEstimate stage_reserve(const ModelCard& m, ReserveEstimate e, int64_t first, int64_t count,
                              bool last) {
    if (!last) e.logits_bytes = 0.0;
    bool moe = false;
    for (int64_t i = first; i < first + count; ++i) moe = moe || m.layers[i].moe;
    if (!moe) e.moe_workspace_bytes = 0.0;
    return e;
}

// One block of stage [first, first + count) on one GPU. One KV-cache group: block_size tokens in every layer
// of the stage (and a drafter's on the last). A hybrid model's groups are formed over the whole model, each
// type's layers dealt round the type's groups (group i of g: its layers i, i + g, ..., kv_cache_utils:
// "layers[i:: num_groups]", so that every stage gets its share of each group), and a stage's block spans the
// most layers any group has there (get_kv_cache_config_from_groups' group_size); the drafter's bytes spread
// alike.
double stage_block_bytes(const ModelCard& m, const KvPlan& p, int64_t first, int64_t count, bool last) {
    const KvPlanRequest& r = p.request;
    double bytes = last ? r.drafter_kv_bytes_per_token : 0.0;
    for (int64_t i = first; i < first + count; ++i) bytes += m.kv_rank_token_bytes(i, r.kv_dtype, r.tp);
    if (p.group_windows.size() > 1) {
        std::map<int64_t, std::vector<int64_t>> per_type;  // window (0: full) -> its layers in order
        for (int64_t i = 0; i < m.num_layers; ++i)
            per_type[m.is_sliding(i) ? m.layers[i].window : 0].push_back(i);
        int64_t most = 0;
        for (const auto& [w, layers] : per_type) {
            const auto n = static_cast<int64_t>(layers.size());
            const int64_t groups = ceil_div(n, p.group_layers);
            for (int64_t g = 0; g < groups; ++g) {
                int64_t here = 0;
                for (int64_t j = g; j < n; j += groups)
                    here += layers[j] >= first && layers[j] < first + count ? 1 : 0;
                most = std::max(most, here);
            }
        }
        bytes *= static_cast<double>(most) / static_cast<double>(count);
    }
    return bytes * static_cast<double>(r.block_size);
}

// Each stage's layers, weights, reserve and blocks, and the stage that binds: the one whose weights fit least
// when one does not fit, else the one of fewest blocks (the first of equals). The plan takes the binding
// stage's weights, reserve (and its estimate, when the reserve is not given) and block size.
void plan_stages(const ModelCard& m, const GpuProfile& gpu, KvPlan& p) {
    const KvPlanRequest& r = p.request;
    const bool estimated = r.reserve_bytes < 0.0;
    const ReserveEstimate whole = estimated ? estimate_reserve(m, gpu, r) : ReserveEstimate{};
    const std::vector<int64_t> n = pipeline_stage_layers(m.num_layers, r.pp, r.pp_layer_partition);
    int64_t first = 0, fewest = -1;
    double least = 0.0;
    for (size_t s = 0; s < n.size(); ++s) {
        const bool last = s + 1 == n.size();
        const double weights =
            stage_weights_per_gpu(m, r, first, n[s], s == 0, last) + (last ? r.drafter_weight_bytes : 0.0);
        const ReserveEstimate est =
            estimated ? stage_reserve(m, whole, first, n[s], last) : ReserveEstimate{};
        const double reserve = estimated ? est.total() : r.reserve_bytes;
        const double budget = p.budget_bytes - weights - reserve;
        const double block = stage_block_bytes(m, p, first, n[s], last);
        const int64_t blocks = budget <= 0.0 ? -1
                               : block > 0.0 ? static_cast<int64_t>(std::floor(budget / block))
                                             : std::numeric_limits<int64_t>::max();
        p.stage_first_layer.push_back(first);
        p.stage_layers.push_back(n[s]);
        p.stage_weight_bytes.push_back(weights);
        p.stage_reserve_bytes.push_back(reserve);
        p.stage_blocks.push_back(blocks);
        // a stage whose weights do not fit binds (the one they fit least); else the one of fewest blocks
        const bool binds = s == 0 || (budget <= 0.0 || least <= 0.0 ? budget < least : blocks < fewest);
        if (binds) {
            p.binding_stage = static_cast<int64_t>(s);
            p.weight_bytes = weights;
            p.reserve_bytes = reserve;
            p.reserve = est;
            p.block_bytes = block;
            least = budget;
            fewest = blocks;
        }
        first += n[s];
    }
}

}  // namespace

KvPlan plan_kv(const ModelCard& m, const GpuProfile& gpu, const KvPlanRequest& request) {
    KvPlan p;
    p.request = request;
    KvPlanRequest& r = p.request;
    validate(m, gpu, r);

    p.kv_heads_per_gpu = m.kv_heads_per_rank(r.tp);
    p.kv_heads_replicated = m.kv_heads_replicated(r.tp);
    p.usable_bytes = gpu.usable_memory_bytes();
    p.budget_bytes = p.usable_bytes * r.gpu_memory_utilization;
    plan_groups(m, p);
    plan_stages(m, gpu, p);
    const size_t b = static_cast<size_t>(p.binding_stage);
    const bool last = b + 1 == p.stage_layers.size();
    p.kv_budget_bytes = p.budget_bytes - p.weight_bytes - p.reserve_bytes;
    for (int64_t i = 0; i < m.num_layers; ++i) p.kv_bytes_per_token += layer_token_bytes(m, p, i);
    // a drafter's KV layers (on the last stage) enlarge every block in proportion (exact for one group; for a
    // hybrid model's groups, spread over them as if the drafter's layers were split alike)
    if (last) p.kv_bytes_per_token += r.drafter_kv_bytes_per_token;
    if (p.kv_budget_bytes <= 0.0) {
        p.fits = false;
        const std::string stage =
            p.stage_layers.size() > 1
                ? fmt::format(" on stage {} of {} (layers {}-{})", b + 1, p.stage_layers.size(),
                              p.stage_first_layer[b], p.stage_first_layer[b] + p.stage_layers[b] - 1)
                : std::string();
        p.why_not = fmt::format("weights {} per GPU{} > {} usable x {:.2f} - {} reserve = {}",
                                gb(p.weight_bytes), stage, gb(p.usable_bytes), r.gpu_memory_utilization,
                                gb(p.reserve_bytes), gb(p.budget_bytes - p.reserve_bytes));
        return p;
    }
    // each DP rank its own cache of these blocks; the replica's scheduler sees all of them
    const int64_t rank_blocks = static_cast<int64_t>(std::floor(p.kv_budget_bytes / p.block_bytes));
    p.num_blocks = rank_blocks * r.dp;
    p.kv_tokens = p.num_blocks * r.block_size / static_cast<int64_t>(p.group_windows.size());  // in every group
    const double rank_pool = static_cast<double>(rank_blocks) * p.block_bytes;  // where one sequence lives

    p.sequence_bytes_at_context = kv_sequence_bytes(m, p, r.context);
    // a sequence lives on one DP rank: each rank holds whole sequences of its own blocks
    p.max_concurrency_at_context = static_cast<int64_t>(std::floor(rank_pool / p.sequence_bytes_at_context)) * r.dp;

    // Longest context at the requested concurrency, spread evenly over the DP ranks (the busiest holds
    // ceil(n / dp)): kv_sequence_bytes grows with the context, so bisect.
    const double n = std::ceil(static_cast<double>(r.concurrency) / static_cast<double>(r.dp));
    if (n * kv_sequence_bytes(m, p, r.max_model_len) <= rank_pool) {
        p.max_context_at_concurrency = r.max_model_len;
        p.context_capped_by_max_model_len = true;
    } else {
        int64_t lo = 0, hi = r.max_model_len;  // fits(lo), !fits(hi)
        while (hi - lo > 1) {
            const int64_t mid = lo + (hi - lo) / 2;
            (n * kv_sequence_bytes(m, p, mid) <= rank_pool ? lo : hi) = mid;
        }
        p.max_context_at_concurrency = lo;
    }

    const double one_full = kv_sequence_bytes(m, p, r.max_model_len);
    if (one_full > rank_pool) {
        // vLLM refuses to start when one request of max_model_len cannot be held.
        int64_t lo = 0, hi = r.max_model_len;
        while (hi - lo > 1) {
            const int64_t mid = lo + (hi - lo) / 2;
            (kv_sequence_bytes(m, p, mid) <= rank_pool ? lo : hi) = mid;
        }
        p.fits = false;
        p.why_not = fmt::format("one sequence of max_model_len {} tokens needs {} of KV > {} KV budget; "
                                "the longest that fits is {} tokens (--max-model-len)",
                                r.max_model_len, gb(one_full), gb(rank_pool), lo);
        return p;
    }
    p.fits = true;
    return p;
}

}  // namespace headroom
