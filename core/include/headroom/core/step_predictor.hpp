// The step-time predictor: one engine step in (the sequences it runs), its duration and a per-op breakdown
// out. The roofline CostModel explains (each op's FLOPs, bytes and bound); the KernelTablePredictor measures
// (vLLM's kernels, timed on real GPUs) and falls back to the roofline where it has no table. The op kinds
// are one enum shared by the predictors, `headroom cost` and the executor's profiler.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace headroom {

enum class Bound { COMPUTE, MEMORY, COMMUNICATION, OVERHEAD };
std::string_view bound_name(Bound b);

enum class OpKind {
    EMBEDDING,
    INPUT_NORM,
    QKV_PROJ,
    ROPE,
    ATTENTION,
    ATTENTION_SLIDING,
    ATTENTION_SPARSE,  // DeepSeek Sparse Attention's prefills past index_topk (runs_sparse_prefill)
    INDEXER,           // its lightning indexer: scoring every cached key, picking the top k
    O_PROJ,
    RESIDUAL_ADD,
    POST_ATTENTION_NORM,
    GATE_UP_PROJ,
    ACTIVATION,
    DOWN_PROJ,
    ROUTER,
    MOE_GATE_UP_PROJ,
    ACTIVATION_MOE,
    MOE_DOWN_PROJ,
    TP_ALLREDUCE,
    QK_NORM_ALLREDUCE,  // the TP all-reduce of q/k norm variances in every layer (MiniMax-M2: qk_norm_across_heads)
    EP_ALLTOALL,  // the DP + EP dispatch and combine of each MoE layer
    FINAL_NORM,
    LM_HEAD,
    SAMPLING,
    SPEC_DRAFT,  // the speculative drafter's forwards (SpeculativePredictor)
    STEP_OVERHEAD,
};
inline constexpr int NUM_OP_KINDS = static_cast<int>(OpKind::STEP_OVERHEAD) + 1;
// snake_case names ("qkv_proj"), as printed by `cost` and in JSON.
std::string_view op_name(OpKind k);
// The routed experts' ops: one call of vLLM's fused-MoE kernel, split three ways.
// The layers an op runs in, for splitting a step over pipeline stages: every layer; the full-attention (and
// MLA) layers; the sliding-window layers; the dense MLP layers; the MoE layers (router, fused experts,
// all-to-all); once before the layers (the embedding: HEAD) or after them (the final norm, lm_head and
// sampling: TAIL); or none of them (the step's host time, a drafter).
enum class LayerSet { EVERY, FULL_ATTENTION, SLIDING, DENSE_MLP, MOE, HEAD, TAIL, NONE };
inline constexpr int NUM_LAYER_SETS = static_cast<int>(LayerSet::NONE);  // the sets a step's work splits over
inline LayerSet layer_set(OpKind k) {
    switch (k) {
        case OpKind::EMBEDDING:
            return LayerSet::HEAD;
        case OpKind::FINAL_NORM:
        case OpKind::LM_HEAD:
        case OpKind::SAMPLING:
            return LayerSet::TAIL;
        case OpKind::ATTENTION:
            return LayerSet::FULL_ATTENTION;
        case OpKind::ATTENTION_SLIDING:
            return LayerSet::SLIDING;
        case OpKind::GATE_UP_PROJ:
        case OpKind::ACTIVATION:
        case OpKind::DOWN_PROJ:
            return LayerSet::DENSE_MLP;
        case OpKind::ROUTER:
        case OpKind::MOE_GATE_UP_PROJ:
        case OpKind::ACTIVATION_MOE:
        case OpKind::MOE_DOWN_PROJ:
        case OpKind::EP_ALLTOALL:
            return LayerSet::MOE;
        case OpKind::SPEC_DRAFT:
        case OpKind::STEP_OVERHEAD:
            return LayerSet::NONE;
        default:
            return LayerSet::EVERY;
    }
}
inline bool is_fused_moe_op(OpKind k) {
    return k == OpKind::MOE_GATE_UP_PROJ || k == OpKind::ACTIVATION_MOE || k == OpKind::MOE_DOWN_PROJ;
}

// One sequence's share of a step: `new_tokens` (a prefill chunk, or 1 for decode) on top of `context`
// tokens already in its KV cache.
struct SequenceWork {
    int64_t new_tokens = 1;
    int64_t context = 0;
    // Speculative decoding: drafts verified in this step (new_tokens = 1 + spec). Such a sequence is a decode
    // whose attention reads its KV once for all its query tokens.
    int64_t spec = 0;
    // The DP rank it runs on, for a replica of DP ranks whose requests are pinned (vLLM: each rank an engine);
    // -1: not pinned (the predictor deals the step's sequences to the ranks itself).
    int32_t rank = -1;
    // Rows a DP rank runs only to match the other ranks' token count (ParallelPredictor: vLLM pads every rank to
    // the largest rank's count under CUDA graphs): they run through the token-wise ops (GEMMs, norms, fused MoE,
    // collectives), not attention or the logits. context 0.
    bool padding = false;
    bool is_decode() const { return new_tokens == 1 || spec > 0; }
};

struct OpCost {
    OpKind kind = OpKind::STEP_OVERHEAD;
    std::string name;   // op_name(kind)
    int64_t count = 1;  // how many times the op runs in the step (layers)
    double flops = 0.0;
    double bytes = 0.0;
    double compute_s = 0.0;
    double memory_s = 0.0;
    double comm_s = 0.0;
    double overhead_s = 0.0;
    double time_s = 0.0;      // all `count` runs, as predicted
    double roofline_s = 0.0;  // the roofline's time for the same op (equal to time_s under the roofline)
    Bound bound = Bound::MEMORY;
    // Where time_s comes from: "roofline" or "table (vLLM 0.24.0, H100 SXM, interpolated)"; see KernelTablePredictor.
    std::string source = "roofline";
};

struct StepCost {
    double time_s = 0.0;
    double flops = 0.0;
    double bytes = 0.0;
    int64_t tokens = 0;
    int64_t sequences = 0;
    std::vector<OpCost> ops;
    double host_hidden_s = 0.0;  // as StepTotals::host_hidden_s: not in time_s
    // the TP all-reduces run FlashInfer's fused kernel with the adds and norms after them (allreduce_norm_fused)
    bool allreduce_norm_fused = false;
    // the tokens the token-wise ops ran over: `tokens` padded to the CUDA graph's captured size (cuda_graph_tokens;
    // with DP, the slowest rank's tokens padded); 0: not padded (run_tokens() reads it)
    int64_t graph_tokens = 0;
    int64_t run_tokens() const { return graph_tokens > 0 ? graph_tokens : tokens; }
    const OpCost* op(std::string_view name) const;
};

// The part of a step's collectives that crosses the cluster's fabric, between NVLink domains (zero inside one
// domain): the TP all-reduces' rings across domains and the DP + EP all-to-all's traffic to other domains. The
// closed form prices it on the routes' slowest links; where the simulator carries it as SimGrid flows instead
// (ReplicaLoop::set_network), the step takes time_s - fabric.time_s + fabric.latency_s plus the flows' time
// beyond one route latency, so that flows alone on their links give back time_s. A pipelined replica adds its
// stage hops, and its round follows round_s below.
struct FabricTraffic {
    double time_s = 0.0;      // of StepTotals::time_s: the closed form's seconds for this traffic
    double latency_s = 0.0;   // of time_s: its latency terms (one per sequential step of each collective)
    double ring_bytes = 0.0;  // bytes each GPU sends to the GPU of its local rank in the next domain (TP rings)
    double a2a_bytes = 0.0;   // bytes each GPU sends to the other domains, an equal share to each (EP)
    // PP (ParallelPredictor): bytes each GPU of a stage sends to its peer of the next stage over the round (its
    // slice of every micro-batch's activations)
    double stage_bytes = 0.0;
    bool any() const { return ring_bytes > 0.0 || a2a_bytes > 0.0 || stage_bytes > 0.0; }  // traffic across domains

    // PP: a pipelined round hides some of its fabric time behind the stages' compute, so its flows do not simply
    // add to the step. The round's time when the fabric's bandwidth terms take x times the closed form's (rings
    // and all-to-all) and y times (stage hops), each GPU's traffic over the round being one flow:
    //   round_s(x, y) = max_k (at_s + ring_s (x - 1) + hop_s (y - 1))
    // over three lines: the stages' busy time (sum_j t_j), the micro-batch that sets the round (max_j p t_j +
    // (p - 1) h_j) and the one whose fabric terms grow the round fastest; exact at x = y = 1 and as x, y grow.
    // time_s and latency_s stay 0: the pipeline schedule holds them.
    struct RoundLine {
        double at_s = 0.0, ring_s = 0.0, hop_s = 0.0;
    };
    bool pipelined = false;
    RoundLine round[3];
    double ring_bw_s = 0.0;  // the closed form's bandwidth seconds of each GPU's ring and all-to-all bytes (x = 1)
    double hop_bw_s = 0.0;   // and of its stage_bytes (y = 1)
    double round_s(double x, double y) const {
        double t = 0.0;
        for (const RoundLine& l : round) t = std::max(t, l.at_s + l.ring_s * (x - 1.0) + l.hop_s * (y - 1.0));
        return t;
    }
};

// What the simulator accumulates per step: time, work, and time per bound (indexed by Bound).
struct StepTotals {
    double time_s = 0.0;
    double flops = 0.0;
    double bytes = 0.0;
    double time_by_bound_s[4] = {0, 0, 0, 0};
    double draft_s = 0.0;  // of time_s, the speculative drafter's
    // Of time_s, each LayerSet's ops' (the embedding on a pipeline's first stage, the final norm, lm_head and
    // sampling on its last, the MoE layers' ops on the stages holding MoE layers...): ParallelPredictor
    // splits the step over its stages by them.
    double layer_set_s[NUM_LAYER_SETS] = {};
    // Pipeline parallelism (ParallelPredictor): the round's pipelined time with a full pipeline (part of time_s),
    // what it adds when the pipeline starts empty (not in time_s: the replica loop adds it after an idle spell),
    // and each stage's busy time in the round. Zero without PP.
    double pipeline_s = 0.0;
    double pipeline_fill_s = 0.0;
    double stage_busy_s = 0.0;
    FabricTraffic fabric;  // collectives across NVLink domains (part of time_s)
    // Async scheduling (AsyncHostPredictor): the host time hidden behind the GPU's work in a busy engine (not in
    // time_s: the replica loop adds it back to a step after an idle spell). Zero without async scheduling.
    double host_hidden_s = 0.0;
};

class StepTimePredictor {
public:
    virtual ~StepTimePredictor() = default;
    // The step with its per-op breakdown (for `headroom cost` and explanations).
    virtual StepCost step(const std::vector<SequenceWork>& batch) const = 0;
    // Duration, FLOPs, bytes and time per bound, without the per-op table: the simulator's hot path.
    // Its time_s equals step(batch).time_s.
    virtual StepTotals step_totals(const std::vector<SequenceWork>& batch) const = 0;
    double step_time(const std::vector<SequenceWork>& batch) const { return step_totals(batch).time_s; }
    // "roofline" or "kernel tables"; for reports.
    virtual std::string name() const = 0;
    // What of this model the predictor prices otherwise than its name says, in one clause for reports (""
    // when nothing): the kernel tables' fused MoE of a shape they do not hold.
    virtual std::string note() const { return ""; }
};

}  // namespace headroom
