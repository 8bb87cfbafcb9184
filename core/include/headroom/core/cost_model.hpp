// Roofline cost of one engine step, op by op. Each op gets its FLOPs and the bytes it moves (weights,
// activations, KV), a compute time (FLOPs / (peak x efficiency)) and a memory time (bytes / (bandwidth x
// efficiency)). The op's time blends the two near the ridge point instead of taking a plain max:
//   t = (t_compute^p + t_memory^p)^(1/p), p = 2.5
// which is 1.32x the max at the ridge (measured GEMMs lose 20-45% there) and within 1% of it once one bound
// is 4x the other. Large GEMMs are also costed on whole 128x128 tiles in whole waves over the SMs.
// TP all-reduces use the ring formula: 2 (p-1)/p x bytes / link bandwidth + 2 (p-1) x link latency.
// Napkin check: batch-1 decode of Llama-3.3-70B at bf16 on H200 reads 141 GB / (4.8 TB/s x 0.9) = 33 ms.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/models/model_card.hpp"
#include "headroom/core/moe_routing.hpp"
#include "headroom/core/parallelism.hpp"
#include "headroom/core/step_predictor.hpp"

namespace headroom {

struct KernelTables;  // headroom/hardware/kernel_tables.hpp

// A correction of the fused-MoE fit (MoeCalibration) for a model whose expert shape no table times, from the
// table of the nearest shape that one does (KernelTablePredictor): at each of that table's token counts, the
// square root of its measured time over the fit's time for the same call (a geometric mean of the fit and the
// fit corrected by the neighbour's ratio; leaving each shape out of the fit, the ratio alone and the mean
// were compared in bench/fidelity.cpp, docs/fidelity.md). Read in log space between the counts, held at the
// ends.
struct MoeFitScale {
    std::vector<double> tokens;  // ascending
    std::vector<double> scale;
    std::string note;  // what `cost` says of it ("the nearest measured shape, 4096 x 1536, top-8 of 128")
    double at(double tokens) const;
};

struct CostConfig {
    int64_t tp = 1;
    std::optional<Dtype> weight_dtype;  // every block matrix in this format; nullopt: as the checkpoint ships them
    Dtype kv_dtype = Dtype::BF16;
    bool cuda_graphs = true;
    // vLLM's largest CUDA graph capture size (max_cudagraph_capture_size: min(2 x max_num_seqs, 512) by default,
    // cost_config in deployment.hpp). With CUDA graphs a step of up to that many tokens runs padded to the next
    // captured size (cuda_graph_tokens below); 0: no padding.
    int64_t cuda_graph_max_tokens = 512;
    // With speculative decoding, 1 + k: vLLM rounds every captured size up to a multiple of a decode's query
    // length (1 without it).
    int64_t cuda_graph_multiple = 1;
    // Scheduler, input preparation and output processing of one step (vLLM V1 with CUDA graphs: about 1 ms of
    // host time per step; an estimate, overridable per scenario).
    double step_overhead_s = 1.0e-3;
    // vLLM's async scheduling (default since v0.14): the host time of a busy engine's step overlaps the GPU work
    // of the step before (host_overlap.hpp). make_step_predictor wraps the predictor in AsyncHostPredictor.
    bool async_scheduling = true;
    // vLLM's AllReduce + RMSNorm fusion (PassConfig.fuse_allreduce_rms; allreduce_norm_fused below)
    bool fuse_allreduce_rms = true;
    // Per kernel launch, paid only without CUDA graphs (an eager launch costs about 4-6 us).
    double kernel_launch_s = 5.0e-6;
    // FlashAttention reaches a lower share of the tensor-core peak than a large GEMM does (FA3 on H100 runs at
    // roughly 60-75% of peak, a large GEMM at 79%): attention compute uses compute_efficiency x this.
    double attention_efficiency_factor = 0.8;
    double blend_exponent = 2.5;
    // A calibrated roofline (headroom calibrate) replaces the profile's efficiencies, the GEMM tiles and waves
    // and the ring formula with fitted parameters; nullptr: the plain roofline.
    std::shared_ptr<const Calibration> calibration;
    // Beyond one TP group in one NVLink domain (parallelism.hpp): the TP ring's link when the group spans NVLink
    // domains (absent: the profile's NVLink, or the measured all-reduce tables); attention DP ranks and the EP
    // size of the MoE layers (ep > 1: each GPU holds E / ep whole experts), the busiest EP rank's load over the
    // mean (0: from uniform top-k routing), and the link the DP + EP all-to-all crosses (absent: NVLink).
    LinkModel tp_link;
    int64_t tp_domains = 1;
    int64_t dp = 1;
    int64_t ep = 1;
    double expert_imbalance = 0.0;
    // How a step's tokens spread over the routed experts (moe_routing.hpp): how many experts' weights it streams.
    MoeRouting moe_routing;
    LinkModel ep_link;
    // How a DP + EP replica's MoE layers reach their experts (vLLM's all2all_backend): true, vLLM's default
    // allgather_reducescatter (and naive): every GPU gathers all DP ranks' tokens, runs all of them through its
    // E / ep experts (the others masked) and reduce-scatters the outputs back; false, a dispatch backend (DeepEP,
    // pplx): each token-expert pair goes to its expert's GPU and back (an all-to-all).
    bool ep_gather = true;
    // Of each GPU's all-to-all bytes, the share bound for other NVLink domains when that part sets ep_link's rate
    // (0: the replica sits in one domain, or NVLink sets the rate): the fabric's part (FabricTraffic).
    double ep_fabric_share = 0.0;
    // The fused-MoE fit's correction from the nearest measured shape (set by KernelTablePredictor for its
    // roofline); nullptr: the fit as it stands.
    std::shared_ptr<const MoeFitScale> moe_fit_scale;
    // Measured kernel tables of the deployment's own (a user's .hkt: `kernel_tables:`, `cost
    // --kernel-tables`) that the "auto" and "tables" predictors read instead of the GPU's shipped ones;
    // nullptr: the shipped ones, if any.
    std::shared_ptr<const KernelTables> kernel_tables;
    // The calibration's GEMM fit, or nullptr (no calibration, or one without a GEMM fit).
    const GemmCalibration* gemm_calibration() const {
        return calibration && calibration->gemm.present() ? &calibration->gemm : nullptr;
    }
};

// vLLM's AllReduce + RMSNorm fusion (PassConfig.fuse_allreduce_rms, on by default at -O2 on Hopper and
// Blackwell with TP > 1: vllm/config/vllm.py enable_allreduce_rms_fusion; documented as a default in v0.18's
// fusion table): FlashInfer's all-reduce kernel adds the residual and applies the RMSNorm that follows a TP
// all-reduce, so those norms and adds run no kernel of their own. It applies to all-reduces of at most
// FI_ALLREDUCE_FUSION_MAX_SIZE_MB (vllm/config/compilation.py): compute capability 9.x at TP 2 / 4 / 8, 64 /
// 2 / 1 MiB; 10.x, 64 / 32 / 1 MiB; inside one NVLink domain (FlashInfer's kernel reads its peers' buffers).
// Here: a pre-norm RMSNorm decoder whose every layer ends both halves with an all-reduce then an add + norm: a step
// of `allreduces` TP all-reduces (2 a layer) of `message_bytes` each.
bool allreduce_norm_fused(const ModelCard& m, const GpuProfile& gpu, const CostConfig& cfg, int64_t allreduces,
                          double message_bytes);

// The tokens a step of `tokens` scheduled tokens runs its token-wise ops over (GEMMs, norms, activations, the
// fused MoE, the TP all-reduces): vLLM pads the batch to the smallest CUDA graph capture size that holds it
// (vllm/config/vllm.py: 1, 2, 4, then multiples of 8 below 256, then multiples of 16 up to the largest size), so
// that a captured graph (full for a decode batch, piecewise for a mixed one) replays; the padding rows are
// computed and thrown away. A step larger than the largest size, or without CUDA graphs, runs as it is.
// Attention and the logits see the real sequences only. With speculative decoding every size is rounded up to a
// multiple of the verify length 1 + k (cfg.cuda_graph_multiple; CompilationConfig.adjust_cudagraph_sizes_for_spec_decode),
// those past the largest size dropped.
int64_t cuda_graph_tokens(const CostConfig& cfg, int64_t tokens);

// The DP ranks whose tokens each GPU's fused MoE runs: dp where the experts are spread over EP ranks across
// DP ranks and a gather backend (CostConfig::ep_gather) brings every rank's tokens to every GPU, else 1.
int64_t moe_gather_ranks(const CostConfig& cfg);
// Whether each GPU's fused MoE runs only the pairs sent to its experts: experts spread over EP ranks across
// DP ranks with a dispatch backend (DeepEP, pplx; CostConfig::ep_gather false) that sends each pair to its
// expert's rank.
bool moe_dispatched(const CostConfig& cfg);

// Expected number of distinct experts of `experts` that `tokens` tokens hit when each picks `topk` of them at
// random (uniform routing): experts x (1 - (1 - topk / experts)^tokens).
double expected_distinct_experts(double experts, double topk, double tokens);

// (c^p + m^p)^(1/p): the smooth max of two bounds.
double smooth_max(double c, double m, double p);
// The share of a GPU's tile slots that hold useful output when an m x n GEMM output is cut into fixed tiles run
// in whole waves over `sms` SMs: m n / (waves x sms x tile rows x 128), tiles 64 rows deep for 65-128 rows and 128
// deep above, 128 columns wide (vLLM's CUTLASS fp8 kernels on Hopper: scaled_mm_sm90_fp8_dispatch.cuh). 1 when
// every slot of every wave holds a full tile, and 1 up to 64 rows, where vLLM swaps the operands so that the
// weight's n, not the few rows, is cut into tiles.
double gemm_tile_utilisation(double m, double n, double sms);
// One GEMM of m rows against an n x k weight on a calibrated roofline (calibration.hpp's model), from its compute
// and memory times; `bytes_per_s` is the rate its per-element bytes move at, `sms` the GPU's SM count (for a fit
// with a wave term).
double calibrated_gemm_s(const GemmCalibration& cal, double compute_s, double memory_s, double m, double n, double k,
                         double bytes_per_s, double sms);

struct GemmTime {
    double flops = 0, bytes = 0, compute_s = 0, memory_s = 0, time_s = 0;
};
// One GEMM of `m` rows against an n x k weight: FLOPs at `flops_per_s`, weight plus bf16 activation bytes at
// `bytes_per_s`. Plain (cal null or absent): whole 128 x 128 tiles in whole waves over `sms` from 128 rows,
// smooth max with `exponent`. Calibrated: launch + smooth max with the fitted exponent.
// With blend false the time is left NaN (compute and memory times only): a caller that prices the GEMM
// another way skips the smooth max, whose pow() calls are a tenth of a simulated step.
GemmTime gemm_roofline(double flops_per_s, double bytes_per_s, double sms, double m, double n, double k,
                       double weight_bytes, double exponent, const GemmCalibration* cal, bool blend = true);

// The achievable GEMM rates: the weight dtype's dense peak (bf16's where the GPU has none: fp8 weights on an
// A100 are dequantised and multiplied in bf16) and HBM bandwidth, at the calibration's efficiencies or else
// the profile's.
struct GemmRates {
    double peak_flops = 0, flops_per_s = 0, bytes_per_s = 0;
};
GemmRates gemm_rates(const GpuProfile& gpu, Dtype weight_dtype, const GemmCalibration* cal);
// HBM bandwidth at the fit's memory efficiency (the profile's without a fit): what gemm_rates streams at.
double memory_bytes_per_s(const GpuProfile& gpu, const GemmCalibration* cal);
// The GEMM rate and stored bytes per weight of one module class, and of the three a step multiplies.
struct WeightRate {
    double flops_per_s = 0, bytes_per_weight = 0;
    const GemmCalibration* cal = nullptr;  // the calibration's GEMM fit for this format (Calibration::gemm_for), or none
    double bytes_per_s = 0;  // its GEMMs' bytes: HBM at that fit's memory efficiency (the profile's without one)
};
struct ModuleRates {
    WeightRate attention, dense_mlp, experts;
};
// One GEMM of m rows against an n x k weight of `dtype`, timed as the cost model times it (for calibration
// fits and benchmarks).
double gemm_time_s(const GpuProfile& gpu, Dtype dtype, double m, double n, double k, const GemmCalibration* cal,
                   double blend_exponent = 2.5);
// A TP all-reduce of `bytes` on `gpus` GPUs: the calibration's fit for that count, else the ring formula
// 2 (p-1)/p x bytes / one-direction link bandwidth + 2 (p-1) x link latency on the profile's NVLink or PCIe.
double allreduce_time_s(const GpuProfile& gpu, int64_t gpus, double bytes, const Calibration* cal);
// The GPU's peer link in one direction as a ring uses it: NVLink (else PCIe) at half the bidirectional datasheet
// figure times the interconnect efficiency, and its latency.
LinkModel peer_link(const GpuProfile& gpu);

// Per attention kind (FULL, SLIDING, MLA): layer counts and window; MoE layer count. Computed once.
struct LayerStats {
    int64_t count[3] = {0, 0, 0};
    int64_t window[3] = {0, 0, 0};
    int64_t moe = 0;
};

// Keys a prompt chunk attends to: token j of the chunk (1..n) sees min(context + j, window) keys (all
// context + n for an encoder, which is bidirectional). A decode (n = 1) sees context + 1.
double keys_seen(int64_t context, int64_t n, int64_t window, bool bidirectional);

// One attention call's work on one GPU, its decodes' part or its prefill chunks' part, as the roofline prices it.
struct AttentionWork {
    double flops = 0;   // the two matrix products: 2 multiply-adds per query head, key and dimension
    double bytes = 0;   // keys and values read (and the new ones written), queries in, outputs out
    double scores = 0;  // query-key pairs x query heads: the softmax's work
    double items = 0;   // decode: sequences x KV heads; prefill: query tiles x query heads
    // decode, for the decode fit's kernel terms (decode_dispatch): the sequences, the longest one's keys and
    // its KV bytes of one KV head, and the layer's heads and head size on one GPU; prefill: longest_keys, the
    // most keys a chunk after a cached context holds (context and chunk; 0 with none), for prefill_kv_splits
    double sequences = 0, longest_keys = 0, longest_item_bytes = 0;
    double heads = 0, kv_heads = 0, head_dim = 0, kv_element_bytes = 0;
    bool latent = false;  // MLA's latent KV
    double kv_read_bytes = 0;  // decode: the cached KV (or latent) read, the part of `bytes` the sequences hold
};
// Which of the decode fit's kernel terms (calibration.hpp) a decode call has, as FlashAttention 2 (vLLM's
// decode kernel on Ampere and Ada) dispatches it; the fit gives each its cost per GPU, next to nothing where
// the kernel has no such step (FlashAttention 3 on Hopper, TRT-LLM's decode on Blackwell). None for an 8-bit
// KV cache: the fits are made on 16-bit KV, and vLLM decodes fp8 KV on Ada with another kernel
// (FlashInfer's); none for MLA's latent KV either, which runs kernels of its own (FlashMLA, Triton's).
struct DecodeDispatch {
    // one query head per KV head: the KV of each (sequence, head) is read by one thread block, not split
    bool unsplit = false;
    // a query group over 2 or more KV heads for 2 or more sequences: the queries are copied into the grouped
    // layout and the outputs back
    bool repack = false;
    // a query group whose blocks fill under 0.8 of the SMs, with more keys than one block: the KV is split
    // over blocks and a second kernel combines them
    bool split = false;
};
DecodeDispatch decode_dispatch(const GpuProfile& gpu, const AttentionWork& w);
// A layer's attention dimensions on one GPU, for attention_work.
struct AttentionShape {
    double heads = 0, kv_heads = 0;
    double per_key_flops = 0;   // per query token and key, all heads
    double kv_token_bytes = 0;  // K and V (or the latent) of one token as cached
    double q_dim = 0, o_dim = 0;
    int64_t window = 0;
    bool bidirectional = false;
    double kv_element_bytes = 2;  // the KV cache's dtype
    bool latent = false;          // MLA: kv_token_bytes is the latent's
    // per_key_flops of a decode, where it differs (0: the same): an MLA decode attends in the absorbed form,
    // a query of kv_lora + rope dims against the latent, a latent-sized output: 2 heads (2 kv_lora + rope)
    double decode_per_key_flops = 0;
    // queries a prefill work item holds (flash_attention_query_tile): a chunk of n tokens is
    // ceil(n / query_tile) items a head
    double query_tile = 128;
};
// The query rows of a FlashAttention prefill work item (kBlockM) on `gpu` for a causal prefill.
// Before Hopper (compute capability below 9.0: A100, L40S, the Jetsons) vLLM runs FlashAttention 2, and its
// prefills read a paged KV cache: flash_api.cpp's mha_varlen_fwd then calls run_mha_fwd(params, stream,
// /*force_split_kernel=*/paged_KV), the split-KV kernel, whose tiles are 64 query rows "fixed for all head
// dimensions" (run_mha_fwd_splitkv_dispatch, kBlockM = 64), not the 128 of the unpaged launchers. Hopper's
// FlashAttention 3 holds 128 rows at head_dim 128, and Blackwell's kernels are priced at 128 as before.
double flash_attention_query_tile(const GpuProfile& gpu);
// Adds one sequence's attention work to `decode` (a decode) or `prefill` (a chunk of new tokens).
void add_attention_work(const AttentionShape& a, const SequenceWork& s, AttentionWork& decode, AttentionWork& prefill);
// `seqs` decodes of `keys` keys each as the decode fit sees them when a table's KV is read as fewer, longer
// sequences (KernelTablePredictor::decode_lookup, checked in bench/fidelity): the KV stream, `kv_bytes_per_key`
// a key, the (sequence, KV head) items and the call's shape (`heads` query heads of `head_dim`).
AttentionWork decode_kv_work(double seqs, double keys, double kv_bytes_per_key, double kv_heads, double heads,
                             double head_dim);
// The calibrated attention times (calibration.hpp's model) of a call's prefill and decode parts; each includes
// the fit's launch (a mixed one-call kernel pays one: the caller subtracts the smaller).
double calibrated_prefill_attention_s(const GpuProfile& gpu, const AttentionCalibration& prefill, const AttentionWork& w);
// How many parts FlashAttention splits each prefill work item's keys into (its num_splits_heuristic, FA2's and
// FA3's alike; FlashInfer's prefill scheduler splits long keys alike): none once the call's `items` (128-query
// tiles x heads) fill 0.8 of the `sms`, or where the longest sequence's keys (context and chunk) span at most 4
// blocks of 128; else the fewest splits whose waves fill the SMs to within 85% of the best count's, at most
// min(128, SMs, key blocks). A short chunk after a long cached context (a prefix-cache hit) runs its few query
// tiles over many SMs this way; the wave term (AttentionCalibration::wave_exponent) counts items x splits.
// Applied to chunks after a cached context only (AttentionWork::longest_keys): the prefill fit is made on
// prompts without one, and the rule applied to those as well fitted them worse (docs/fidelity.md).
double prefill_kv_splits(double items, double longest_keys, double sms);
double calibrated_decode_attention_s(const GpuProfile& gpu, const AttentionCalibration& decode,
                                     const AttentionCalibration& prefill, const AttentionWork& w);

// An MLA layer's attention op on a calibration with MLA fits (Calibration::has_mla): each phase's attention
// fit time (`prefill_s`, `decode_s`, launches included: vLLM runs the two phases' kernels apart) x its scale
// plus its per-token terms, and the block's fixed time once (the larger where a step has both: the norms,
// RoPE and cache write run once on all tokens); `fp8_kv`: an 8-bit latent, `block_fp8`: block-scaled fp8
// projections. A decode part adds the Triton MLA decode's terms (MlaCalibration::triton_decode_s; 0 for other
// backends) on `decode_latent_read_s` (its KV bytes at the decode attention fit's bandwidth) and
// `decode_longest_bytes` (its longest sequence's latent). A prefill part adds its activations past the L2
// (MlaCalibration::activation_spill x `spill_s`, mla_activation_spill_s of the step's tokens: prefill and
// decode tokens run the block's projections together).
double mla_attention_s(const Calibration& cal, double prefill_s, double decode_s, double prefill_tokens,
                       double decode_tokens, double heads, bool fp8_kv, bool block_fp8,
                       double decode_latent_read_s = 0.0, double decode_longest_bytes = 0.0,
                       double spill_s = 0.0);

// DeepSeek Sparse Attention runs two ways. A sequence no longer than index_topk attends to every key, as
// DeepSeek-V3's MLA does (vLLM and SGLang route such prefills to the dense MHA path; decodes run the absorbed
// kernel over at most index_topk keys, as a dense decode does over its context): the ATTENTION op. A prefill chunk
// of a longer sequence runs FlashMLA's sparse prefill kernel, over index_topk keys a query: ATTENTION_SPARSE.
inline bool runs_sparse_prefill(const ModelCard& m, const SequenceWork& s) {
    return m.is_sparse_mla() && !s.is_decode() && s.context + s.new_tokens > m.index_topk;
}

// One op as the roofline costs it (all `count` runs), with the GEMM shape where it is a GEMM (rows m, weight
// n x k per GPU; 0 otherwise): what another predictor needs to cost the same op its own way.
struct RooflineOp {
    OpKind kind;
    int64_t count;
    double flops, bytes, compute_s, memory_s, comm_s, overhead_s, time_s;
    Bound bound;
    double m = 0, n = 0, k = 0;  // a fused MoE op (router aside): m = the tokens routed, padding rows included
    // A TP all-reduce: m = the step's tokens (padded to its CUDA graph; past the largest graph the step runs
    // eager), and fused = it runs as FlashInfer's all-reduce + add + RMSNorm (allreduce_norm_fused).
    bool fused = false;
};
class RooflineOpVisitor {
public:
    virtual ~RooflineOpVisitor() = default;
    virtual void visit(const RooflineOp& op) = 0;
    // false: the walk leaves this GEMM's time_s NaN, because the visitor prices it itself (a measured table);
    // CostModel::gemm_op_s gives the roofline's time from its compute and memory times if it is needed.
    virtual bool wants_gemm_time(OpKind) const { return true; }
};

// The roofline predictor.
class CostModel : public StepTimePredictor {
public:
    CostModel(const ModelCard& model, const GpuProfile& gpu, const CostConfig& config);

    StepCost step(const std::vector<SequenceWork>& batch) const override;
    StepTotals step_totals(const std::vector<SequenceWork>& batch) const override;  // no allocation
    // The step's collectives across NVLink domains (zero without tp_link or ep_fabric_share); in step_totals.
    FabricTraffic fabric_traffic(const std::vector<SequenceWork>& batch) const;
    // The roofline's time of a GEMM op the walk left unpriced (wants_gemm_time false), all `count` of them:
    // the blend of its compute and memory times under the fit of its module's weight format.
    double gemm_op_s(const RooflineOp& op) const;
    // "roofline", or the calibration's label ("roofline (calibrated)").
    std::string name() const override { return config_.calibration ? config_.calibration->label() : "roofline"; }
    // Every op of the step, in order, to a visitor (the kernel-table predictor's way in).
    void walk(const std::vector<SequenceWork>& batch, RooflineOpVisitor& visitor) const;

    // Dense peak the GEMMs run at: the weight dtype's tensor-core peak, or bf16 where the GPU has none
    // (fp8 weights on an A100 are dequantised and multiplied in bf16).
    double gemm_peak_flops() const { return rates_.peak_flops; }
    const CostConfig& config() const { return config_; }
    const ModelCard& model() const { return model_; }
    const GpuProfile& gpu() const { return gpu_; }

    // Expected number of distinct routed experts a step of `tokens` tokens activates in one MoE layer, under
    // CostConfig::moe_routing (by default independent picks: E x (1 - (1 - k/E)^tokens)).
    double expected_active_experts(int64_t tokens) const;
    // With experts over ep GPUs (CostConfig::ep > 1), per GPU for a step of `tokens` tokens on each of the dp
    // ranks: its token-expert pairs (the busiest GPU's: the mean times the imbalance) and the distinct experts
    // of its E / ep that they hit.
    double ep_rows(int64_t tokens) const;
    double ep_active_experts(int64_t tokens) const;
    double ep_imbalance(int64_t tokens) const;
    // The attention projections are block-scaled fp8 (fp8 with scales beside each weight block: DeepSeek-V3)
    bool block_fp8_attention() const { return block_fp8_attention_; }
    // The calibration's fused-MoE fit for the kernel the experts run (moe_format), or nullptr: none, or no
    // calibration, or a dense model; with one the routed experts' call takes its time (cost_step)
    const MoeCalibration* moe_fit() const { return moe_fit_; }
    // The fit, and the tables, of the kernel vLLM runs an MoE model's experts with (moe_fit_format's name:
    // the experts' format, or int4 for Marlin; gpt-oss's own MXFP4 is its checkpoint's quant_method "mxfp4"
    // with the experts as shipped); "" for a dense model
    const std::string& moe_format() const { return moe_format_; }
    // Sets CostConfig::moe_fit_scale (the kernel-table predictor's, once it has found the nearest shape).
    void set_moe_fit_scale(std::shared_ptr<const MoeFitScale> scale) {
        config_.moe_fit_scale = std::move(scale);
    }

private:
    ModelCard model_;
    GpuProfile gpu_;
    CostConfig config_;
    GemmRates rates_;  // the attention weights' GEMM peak, achievable FLOP/s and HBM bandwidth
    // what every op but the GEMMs streams at (activations, norms, KV): HBM at the bf16 fit's memory efficiency (the
    // profile's without one), whatever the weights' format; an fp8 fit's efficiency is its GEMMs' own
    double stream_bytes_per_s_ = 0;
    ModuleRates modules_;  // per module class: GEMM FLOP/s and bytes per weight as the weights are stored
    LayerStats layers_;
    bool block_fp8_attention_ = false;
    const MoeCalibration* moe_fit_ = nullptr;  // into config_.calibration, which the model holds
    std::string moe_format_;
};

}  // namespace headroom
