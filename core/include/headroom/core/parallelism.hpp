// A replica beyond one tensor-parallel group: pipeline stages (PP), attention data parallelism with the
// experts sharded over every GPU of the replica (DP + EP, vLLM's --data-parallel-size with
// --enable-expert-parallel), and the links its collectives cross when it spans NVLink domains.
//
// Layout: a replica is tp x pp x dp GPUs. Stage s holds its share of the layers on tp GPUs as vLLM splits
// them (pipeline_stage_layers), the first stage the embedding too, the last the final norm, lm_head and
// sampler; with dp > 1 each of the dp ranks (tp GPUs each) runs attention and the dense layers on its own
// sequences, and each MoE layer's routed experts are spread over all ep = tp x dp GPUs, each holding E/ep
// whole experts.
//
// Pipeline timing (vLLM V1 keeps up to pp batches in flight): a step's sequences are split into
// m = min(pp, sequences) micro-batches of about equal tokens; micro-batch j takes t_js on stage s (the
// stage's share of each kind of layer's work in the step, plus the embedding on the first stage and the final
// norm, lm_head and sampling on the last: StepTotals::layer_set_s, pipeline_stage_shares) and h_j to cross to
// the next stage. From an empty pipeline the round is the GPipe schedule,
//   finish(j, s) = max(finish(j-1, s), finish(j, s-1) + h_j) + t_js,   round = finish(m, p),
// (for equal micro-batches and stages and no hop: (m + p - 1) t, a bubble share of (p - 1) / (m + p - 1)). A
// round that follows the previous one at once finds the pipeline full: its micro-batches follow their
// predecessors round the ring, so it takes max(max_s sum_j t_js, max_j (sum_s t_js + (p - 1) h_j)) (no bubble
// when m >= p, the stages are even and hops are short; the busiest stage sets the pace when they are not).
// The difference is the fill time, paid only after the replica idled.
//
// Expert load: with uniform top-k routing, N = tokens x k token-expert pairs land on ep ranks. When ep does
// not divide E, E mod ep ranks hold ceil(E/ep) experts (a share q = ceil(E/ep)/E of the pairs each), else all
// hold E/ep. The busiest rank gets about N q + sigma z_c with sigma = sqrt(N q (1 - q)) and z_c the expected
// maximum of the c ranks that hold the most (Blom's approximation, Phi^-1((c - 0.375) / (c + 0.25))). The MoE
// layer runs at the busiest rank's pace; a measured max/mean (EPLB statistics) can replace the estimate.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "headroom/core/step_predictor.hpp"
#include "headroom/models/model_card.hpp"

namespace headroom {

// One direction of a link (or of the slowest link on a route): bytes per second and latency.
struct LinkModel {
    double bytes_per_s = 0.0;
    double latency_s = 0.0;
    bool present() const { return bytes_per_s > 0.0; }
    double time_s(double bytes) const { return latency_s + (bytes_per_s > 0.0 ? bytes / bytes_per_s : 0.0); }
};

// The links a replica's collectives cross, from its placement on a cluster (the simulator fills them); absent
// links mean "inside one NVLink domain, as the GPU profile (or the kernel tables) prices it".
struct ReplicaLinks {
    // the TP group when it spans `tp_domains` NVLink domains (g = tp / tp_domains GPUs in each): the link between
    // GPUs of the same local rank in different domains (their rail); see hierarchical_allreduce_s
    LinkModel tp;
    int64_t tp_domains = 1;
    LinkModel stage;  // PP: between consecutive stages (the slowest pair of TP ranks)
    LinkModel ep;     // DP + EP all-to-all: each GPU's rate to the others (the slowest GPU's)
    // of each GPU's all-to-all bytes, the share bound for other NVLink domains, when that part sets ep's rate
    // (the slowest GPU's; 0 when the replica sits in one domain or NVLink sets the rate)
    double ep_fabric_share = 0.0;
    std::string where;  // one line for the report: "TP in one NVLink domain; stages over InfiniBand NDR (50 GB/s)"
};

// One pipelined round: `stage_s[j]` the time micro-batch j spends on one stage, `hop_s[j]` its activation
// transfer between stages, over `p` stages.
struct PipelineRound {
    double steady_s = 0.0;      // the round when the pipeline is already full
    double fill_s = 0.0;        // what a round from an empty pipeline adds (GPipe schedule - steady_s)
    double stage_busy_s = 0.0;  // each stage's busy time in the round: sum_j stage_s[j] (their mean)
    size_t busiest_stage = 0;   // the stage busy longest (the first of equals)
};
PipelineRound pipeline_round(const std::vector<double>& stage_s, const std::vector<double>& hop_s, int64_t p);
// The same for stages of unequal work: `stage_s[j][s]` micro-batch j's time on stage s. A full pipeline's
// round is max(the busiest stage's sum_j t_js, max_j (sum_s t_js + (p - 1) h_j)); stage_busy_s is the stages'
// mean, so that 1 - stage_busy_s / round is the share of the round a stage sits idle on average, imbalance
// and all.
PipelineRound pipeline_round(const std::vector<std::vector<double>>& stage_s,
                             const std::vector<double>& hop_s);

// vLLM's split of `layers` decoder layers over `pp` stages (vllm/distributed/utils.py, get_pp_indices, when
// VLLM_PP_LAYER_PARTITION is unset): layers / pp each, and one more each to the remainder's count of stages
// before the last, from the second-to-last back, since the last stage also holds lm_head and the sampler. 64
// layers on 3 stages: 21, 22, 21 (vLLM logs "Hidden layers were unevenly partitioned: [21,22,21]").
std::vector<int64_t> pipeline_stage_layers(int64_t layers, int64_t pp);
// The same, or `partition` when one is given (VLLM_PP_LAYER_PARTITION; check_pp_layer_partition checks it).
std::vector<int64_t> pipeline_stage_layers(int64_t layers, int64_t pp, const std::vector<int64_t>& partition);

// Each stage's share of a step's work by the layers its ops run in (LayerSet): of every layer, of the
// full-attention, sliding-window, dense-MLP and MoE layers, as vLLM splits the model's layers
// (pipeline_stage_layers); all of the HEAD on the first stage and all of the TAIL on the last. A set the
// model has no layer of is shared as every layer. DeepSeek-V3 at PP 2 (31 + 30 layers, its first 3 dense):
// every layer 31/61 and 30/61, the MoE layers 28/58 and 30/58, the dense MLPs all on the first stage.
using StageShares = std::array<double, NUM_LAYER_SETS>;
std::vector<StageShares> pipeline_stage_shares(const ModelCard& m, int64_t pp,
                                               const std::vector<int64_t>& partition = {});
// The same from each stage's layer count alone, every set shared as the layers.
std::vector<StageShares> pipeline_stage_shares(const std::vector<int64_t>& stage_layers);

// The expected busiest rank's load over the mean for `pairs` token-expert pairs routed uniformly to `experts`
// experts on `ranks` EP ranks (1 for one rank or no pairs).
double expert_imbalance(double pairs, int64_t ranks, int64_t experts);
// (moe_routing.hpp: the same under another routing, or a measured max / mean)

// A TP group of `tp` GPUs over `domains` NVLink domains: the GPUs it has in each (1 when the domains are uneven:
// the all-reduce is then a flat ring on the fabric, see hierarchical_allreduce_s).
inline int64_t gpus_per_domain(int64_t tp, int64_t domains) { return domains > 0 && tp % domains == 0 ? tp / domains : 1; }

// The ring all-reduce of `bytes` over `gpus` GPUs on one link: 2 (p-1)/p x bytes / bandwidth + 2 (p-1) x latency.
double ring_allreduce_s(const LinkModel& link, int64_t gpus, double bytes);
// An all-reduce over `domains` NVLink domains of g GPUs each, as NCCL runs it across nodes: a reduce-scatter and
// an all-gather inside each domain (a ring of g on `nvlink`) around an all-reduce of each GPU's 1/g shard across
// the domains (n rings of the same local rank side by side, each on its own rail `fabric`):
//   2 (g-1)/g B / W_nvlink + 2 (g-1) L_nvlink + 2 (n-1)/n (B/g) / W_fabric + 2 (n-1) L_fabric.
// One GPU per domain (g = 1) is the plain ring on the fabric.
double hierarchical_allreduce_s(const LinkModel& nvlink, const LinkModel& fabric, int64_t gpus, int64_t domains, double bytes);

// Splits `n` items of sizes `size(i)` into `parts` groups of about equal total, greedily largest first
// (deterministic: ties by index); returns each item's group.
std::vector<int> balance_groups(const std::vector<int64_t>& sizes, int parts);

// The step time of a replica of dp ranks and pp stages from a predictor of one TP group running every layer
// (its CostConfig carries dp, ep and the links). dp > 1: each sequence runs on the rank its request is pinned to
// (SequenceWork::rank, the scheduler's), or unpinned the step's sequences are dealt to the ranks (balance_groups by
// new tokens), and the step takes as long as the slower of the rank with the most new tokens and the one with the
// most context. With `graph_max_tokens` > 0 (CUDA graphs up to that many tokens) a step whose every rank fits
// a graph runs every rank padded to the most tokens a rank has (vLLM's coordinate_batch_across_dp: the ranks
// agree on one count so that their graphs and collectives match; past the graphs no rank pads), so the rank
// with the most context runs its token-wise ops over that many rows (SequenceWork::padding). pp > 1:
// micro-batches as above; a micro-batch's stage time is its step time less the host overhead over pp, its hop
// carries its tokens' hidden state and residual (2 x h bf16 each) as vLLM V1 sends them (send_tensor_dict with
// the TP group as all_gather_group): each of the tp ranks sends a 1/tp slice to its peer of the next stage over
// `stage_link`, and the next stage's ranks all-gather the slices over `tp_link` (a ring:
// (tp - 1)/tp of the bytes and tp - 1 latencies). The host overhead is paid once per round. step() scales the
// group's per-op times to the round.
class ParallelPredictor : public StepTimePredictor {
public:
    // `shares`: each stage's share of the step's work (pipeline_stage_shares); empty, pp equal stages.
    ParallelPredictor(std::unique_ptr<StepTimePredictor> group, int64_t pp, int64_t dp, int64_t hidden,
                      LinkModel stage_link, int64_t tp = 1, LinkModel tp_link = {},
                      int64_t graph_max_tokens = 0, std::vector<StageShares> shares = {});
    // One micro-batch's hop between stages for `tokens` tokens (above), and the bytes it carries in all.
    double hop_s(double tokens) const;
    double hop_bytes(double tokens) const;

    StepCost step(const std::vector<SequenceWork>& batch) const override;
    StepTotals step_totals(const std::vector<SequenceWork>& batch) const override;
    std::string name() const override { return group_->name(); }
    std::string note() const override { return group_->note(); }
    const StepTimePredictor& group() const { return *group_; }

private:
    // dp: the sub-batch of the rank that sets the pace (into `out`), and its totals
    StepTotals slowest_rank(const std::vector<SequenceWork>& batch, std::vector<SequenceWork>& out) const;
    StepTotals pipelined(const std::vector<SequenceWork>& batch) const;

    std::unique_ptr<StepTimePredictor> group_;
    int64_t pp_, dp_;
    double hidden_;
    LinkModel stage_link_;
    int64_t tp_;
    LinkModel tp_link_;
    int64_t graph_max_tokens_;
    std::vector<StageShares> shares_;  // per stage
};

}  // namespace headroom
