// KV-cache memory and capacity per GPU, planned as vLLM V1 does it:
//   KV budget = usable GPU memory x gpu_memory_utilization - weights - reserve
//   blocks    = KV budget // (block_size x KV bytes per token across all layers)
// where usable memory is what CUDA reports (what vLLM multiplies) and the reserve stands for what vLLM's
// memory profile measures (the peak of a forward pass or the sampler, the fused MoE's workspace, non-torch
// allocations) plus its estimate of the CUDA graphs' pool (ReserveEstimate). GQA KV heads are split across TP
// ranks (replicated when TP > KV heads); an MLA latent is not split. Sliding-window layers hold at most
// window - 1 + max_num_batched_tokens tokens plus one block.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/models/model_card.hpp"

namespace headroom {

struct KvPlanRequest {
    int64_t tp = 1;
    // Pipeline stages: a GPU holds its stage's layers (their weights and KV; KvPlan's stages). Attention DP
    // ranks and the EP size: routed experts are spread over ep GPUs (else over tp), and the replica's KV
    // cache is dp ranks' worth.
    int64_t pp = 1;
    // Each stage's layers, as vLLM's VLLM_PP_LAYER_PARTITION gives them ("21,22,21"); empty: vLLM's own split
    // (pipeline_stage_layers). pp counts, each at least 1, summing to the model's layers.
    std::vector<int64_t> pp_layer_partition;
    int64_t dp = 1;
    int64_t ep = 1;
    std::optional<Dtype> weight_dtype;  // every block matrix in this format; nullopt: as the checkpoint ships them
    Dtype kv_dtype = Dtype::BF16;
    double gpu_memory_utilization = 0.9;  // vLLM default
    int64_t block_size = 16;              // vLLM default
    int64_t max_model_len = 0;            // 0: the model's max_position_embeddings (vLLM default)
    int64_t max_num_batched_tokens = 0;  // 0: vLLM's default for `vllm serve` on the GPU (vllm_serve_defaults)
    int64_t max_num_seqs = 0;            // 0: the same
    double reserve_bytes = -1.0;  // < 0: estimate (see ReserveEstimate)
    bool cuda_graphs = true;  // false: vLLM's --enforce-eager captures no graphs, so keeps no pool for them
    int64_t context = 0;          // context for the concurrency question; 0: max_model_len
    int64_t concurrency = 1;      // concurrency for the longest-context question
    // A speculative drafter beside the model (speculative.hpp, drafter_memory): its weights per GPU, and the
    // KV bytes per token its layers add to every block (vLLM puts the drafter's layers in the same KV-cache
    // groups as the target's).
    double drafter_weight_bytes = 0.0;
    double drafter_kv_bytes_per_token = 0.0;
    // The DP + EP all2all backend's buffers on each GPU (deepep_buffer_bytes for vLLM's all2all_backend): DeepEP
    // allocates them while the model loads, before vLLM profiles its memory, so they come out of the KV cache
    double all2all_buffer_bytes = 0.0;
};

// The step limits `vllm serve` takes when none are given (vLLM's EngineArgs.get_batch_defaults, usage context
// OPENAI_API_SERVER): a GPU of at least 70 GiB that is not an A100 (H100, H200, B200, GB200) gets a token budget
// of 8,192 and 1,024 sequences; any other (A100, L40S, Jetson) 2,048 and 256 (vLLM keeps large budgets off A100:
// they cost it throughput, vLLM PR #17885).
struct BatchLimits {
    int64_t max_num_batched_tokens = 0;
    int64_t max_num_seqs = 0;
};
BatchLimits vllm_serve_defaults(const GpuProfile& gpu);

// Memory vLLM keeps out of the KV cache besides the weights, per GPU, as vLLM's memory profile measures it
// (vllm/v1/worker/gpu_worker.py, determine_available_memory): the torch peak of a profile run (a forward pass
// over max_num_batched_tokens tokens, then the sampler over max_num_seqs sequences), the non-torch memory the
// run adds (NCCL and custom all-reduce buffers) and, since vLLM 0.21, the CUDA graphs' estimated pool.
// Checked against vLLM 0.19's startup logs on H100 (bench/kv_memory_check.py; docs/fidelity.md, "What vLLM
// keeps out of the KV cache").
struct ReserveEstimate {
    double activation_bytes = 0.0;  // forward pass over max_num_batched_tokens tokens, outside the fused MoE
    double logits_bytes = 0.0;  // the sampler over max_num_seqs sequences (fp32 logits, sort, probabilities)
    double moe_workspace_bytes = 0.0;  // the fused MoE's persistent workspace, shared by every MoE layer
    double base_bytes = 0.0;           // the profile run's other buffers (fitted)
    double non_torch_bytes = 0.0;      // CUDA runtime, NCCL and custom all-reduce buffers
    double cuda_graph_bytes = 0.0;     // vLLM's estimate of the captured graphs' pool
    double all2all_bytes = 0.0;        // DP + EP dispatch buffers (KvPlanRequest::all2all_buffer_bytes)
    // What vLLM logs as the peak activation: the forward pass and the sampler run one after the other, so the
    // larger of the two, plus the MoE workspace that stays allocated through both, plus the other buffers.
    double peak_activation() const {
        return std::max(activation_bytes, logits_bytes) + moe_workspace_bytes + base_bytes;
    }
    double total() const { return peak_activation() + non_torch_bytes + cuda_graph_bytes + all2all_bytes; }
};

ReserveEstimate estimate_reserve(const ModelCard& m, const GpuProfile& gpu, const KvPlanRequest& r);

// The buffers DeepEP takes on each GPU of an EP group of `ep` GPUs over `dp` DP ranks for an MoE model under
// vLLM's `backend` (vllm/distributed/device_communicators/all2all.py; 0 for the other backends, for dense models
// and without both DP and EP, where vLLM runs no all2all backend: use_all2all_kernels). Both
// modes take an NVLink buffer of VLLM_DEEPEP_BUFFER_SIZE_MB (1,024 MiB by default). deepep_high_throughput adds
// an RDMA buffer of the same size when the group spans nodes, here more than 8 GPUs (an HGX node; DeepEP's
// NVLink peer limit). deepep_low_latency adds the RDMA buffer DeepEP's get_low_latency_rdma_size_hint asks for
// (deep_ep csrc/config.hpp, LowLatencyLayout) at vLLM's 256 tokens a rank (VLLM_MOE_DP_CHUNK_SIZE), with
// E experts, hidden h, s = h / 128 scales and T = 256:
//   dispatch message 16 + max(2h, h + 4s) B, combine message 4s + 2h B;
//   2 x max(T x dispatch, E x T x combine) send + 2 x max(E x T x dispatch, E x T x combine) receive
//   + 2 x the signalling counters (8 E + 4 E / ep B, to 128 B), the sum rounded up past a multiple of 128 B.
double deepep_buffer_bytes(const ModelCard& m, const std::string& backend, int64_t dp, int64_t ep);

// Sets r.ep and r.all2all_buffer_bytes for a deployment of r.tp x r.dp GPUs: vLLM's --enable-expert-parallel
// spreads the routed experts over all of them (Deployment::ep), and `backend`'s buffers come out of the KV cache.
// The callers check first that `expert_parallel` is only asked of an MoE model and that `backend` is known.
void set_expert_parallel(KvPlanRequest& r, const ModelCard& m, bool expert_parallel, const std::string& backend);

struct KvPlan {
    KvPlanRequest request;  // with max_model_len and context resolved
    int64_t kv_heads_per_gpu = 0;  // 0 for MLA
    bool kv_heads_replicated = false;

    double usable_bytes = 0.0;  // what CUDA can allocate on one GPU
    double budget_bytes = 0.0;  // usable x gpu_memory_utilization
    double weight_bytes = 0.0;  // per GPU
    ReserveEstimate reserve;    // the estimate (zeros when the reserve was given)
    double reserve_bytes = 0.0;
    double kv_budget_bytes = 0.0;  // budget - weights - reserve; negative when the weights do not fit

    // Pipeline stages, as vLLM splits the layers (pipeline_stage_layers): each stage's first layer and layer
    // count, its weights and reserve per GPU and the blocks its memory holds (-1 where its weights do not
    // fit). The first stage holds the embedding too, the last lm_head (a tied one again), the sampler's peak
    // and a drafter; vLLM gives every stage the fewest blocks of any (kv_cache_utils.get_kv_cache_configs),
    // so the per-GPU figures of this plan (weights, reserve, KV bytes, blocks) are the binding stage's. One
    // stage without PP.
    std::vector<int64_t> stage_first_layer, stage_layers, stage_blocks;
    std::vector<double> stage_weight_bytes, stage_reserve_bytes;
    int64_t binding_stage = 0;

    double kv_bytes_per_token = 0.0;  // per GPU, all layers (a speculative drafter's too), no window cap
    // KV-cache groups as vLLM V1 forms them for a model that mixes full and sliding-window layers
    // (kv_cache_utils._get_kv_cache_groups_uniform_page_size, vLLM 0.10-0.11): layers of one attention type
    // in groups of `group_layers`, where group_layers is the smallest per-type layer count (the largest when
    // it is under 1.5x the smallest); each type gets ceil(count / group_layers) groups. A block is one
    // group's page: block_size tokens in group_layers layers. One group of every layer otherwise.
    int64_t group_layers = 0;
    std::vector<int64_t> group_windows;  // per group: 0 full attention, else the sliding window
    double block_bytes = 0.0;         // one block of block_size tokens in group_layers layers
    int64_t num_blocks = 0;
    int64_t kv_tokens = 0;  // num_blocks x block_size

    double sequence_bytes_at_context = 0.0;  // one sequence of `context` tokens, window caps applied
    int64_t max_concurrency_at_context = 0;
    int64_t max_context_at_concurrency = 0;  // capped by max_model_len
    bool context_capped_by_max_model_len = false;

    bool fits = false;
    std::string why_not;  // the reason in numbers when !fits
};

// A plan request that makes no sense for this model: names the option and the reason.
class PlanError : public InputError {
public:
    PlanError(std::string field, std::string reason) : InputError("", std::move(field), std::move(reason)) {}
};

KvPlan plan_kv(const ModelCard& m, const GpuProfile& gpu, const KvPlanRequest& request);

// The layout checks every serving path makes (plan_kv, headroom cost, the Python cost(), scenarios): TP divides
// the attention heads and divides or is a multiple of the KV heads; the KV dtype is a KV-cache format; an
// encoder keeps no KV cache unless `allow_encoder`; TP or PP > 1 needs GPUs linked by NVLink or PCIe (a GPU
// whose profile gives neither, a Jetson module, runs TP 1 x PP 1 only). Throws PlanError naming the option
// (--model, --tp, --pp or --kv-dtype).
void check_serving_layout(const ModelCard& m, const GpuProfile& gpu, int64_t tp, int64_t pp, Dtype kv_dtype,
                          bool allow_encoder = false);
// A pipeline's layers as given (KvPlanRequest::pp_layer_partition, vLLM's VLLM_PP_LAYER_PARTITION): pp counts
// of at least 1 summing to the model's layers, or none. Throws PlanError naming `field` otherwise.
void check_pp_layer_partition(const ModelCard& m, int64_t pp, const std::vector<int64_t>& partition,
                              const std::string& field);
// A step of an encoder (BERT) holds prefills only: it keeps no KV cache, so none of its sequences decodes or
// has cached tokens. Throws PlanError naming --decode-batch or --prefill-context where `decodes` or
// `cached_context` says the step would; nothing for a decoder.
void check_encoder_step(const ModelCard& m, bool decodes, bool cached_context);

// The most blocks a sliding-window layer holds for one sequence: the window behind a chunk of up to `budget`
// new tokens, window - 1 + budget tokens, plus the block a chunk boundary straddles (vLLM V1's cap).
int64_t sliding_window_blocks(int64_t window, int64_t budget, int64_t block_size);

// KV bytes one sequence of `tokens` tokens needs on one GPU under the plan's block and window rules.
double kv_sequence_bytes(const ModelCard& m, const KvPlan& plan, int64_t tokens);

}  // namespace headroom
