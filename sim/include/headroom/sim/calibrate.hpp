// `headroom calibrate`: fits a calibrated roofline (hardware/calibration.hpp) to measured kernel times by
// least squares on log time (relative errors), with Levenberg-Marquardt in Eigen. Samples come from kernel
// tables (shipped or a user's .hkt) or a CSV of a user's own measurements.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "headroom/core/cost_model.hpp"  // gemm_time_s, allreduce_time_s: the times the fits model
#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/gpu_profile.hpp"
#include "headroom/hardware/kernel_tables.hpp"

namespace headroom {

struct GemmSample {
    double m = 0, n = 0, k = 0;  // rows (tokens) x weight n x k
    double time_s = 0;
    // Timed with its weights resident in L2 (GridTable::gemm_working_set_bytes within the GPU's L2): faster than
    // any serving step, which streams each layer's weights from memory. Kept out of the fit.
    bool l2_warm = false;
};

struct CommSample {
    int64_t gpus = 0;
    double bytes = 0;
    double time_s = 0;
    // a row of the kernel tables' vLLM all-reduce: vLLM's own call (VllmAllreduce's paths)
    bool vllm = false;
};

// One measured attention call: `batch` sequences, each a decode at `length` keys or a causal prefill of `length`
// new tokens (at least 2: one is a decode), on `heads` query and `kv_heads` KV heads of `head_dim` (bf16 KV, no window).
struct AttentionSample {
    bool decode = false;
    double batch = 0, length = 0, heads = 0, kv_heads = 0, head_dim = 0;
    double time_s = 0;
    // A decode whose KV fits in the GPU's L2 (timed over and over, so read from L2) and whose streaming from HBM
    // would be a noticeable share of its time: kept out of the fit.
    bool l2_warm = false;
};
// The call's work as the cost model counts it (add_attention_work; a prefill's items in tiles of `query_tile`
// queries: flash_attention_query_tile on the GPU the sample was timed on), and its time under the fits.
AttentionWork attention_sample_work(const AttentionSample& s, double query_tile = 128.0);
double attention_sample_time_s(const GpuProfile& gpu, const AttentionSample& s, const AttentionCalibration& prefill,
                               const AttentionCalibration& decode);

// One point of an MLA module table (mla_prefill, mla_decode: a DeepSeek-style attention block timed whole):
// `batch` decodes at `length` keys or prefills of `length` new tokens, at `heads` heads per GPU, the model's
// dimensions from the table, the projections bf16 (weights BF16) or block-scaled fp8 (FP8: DeepSeek-V3's own
// format) and the latent cached as `kv`.
struct MlaSample {
    bool decode = false;
    double batch = 0, length = 0;
    int64_t heads = 0, hidden = 0, q_lora = 0, kv_lora = 0, nope = 0, rope = 0, v = 0;
    Dtype weights = Dtype::BF16, kv = Dtype::BF16;
    double time_s = 0;
    bool l2_warm = false;  // timed with its weights and KV in L2 (mla_samples): not fitted
    // a point of the attention-implementation tables (mla_attention_samples), not of a whole block: its
    // projections are only the latent's up-projection (a prefill's kv_b) or the absorbed W_UK and W_UV products
    bool attention_only = false;
    bool triton = false;  // timed with vLLM's Triton MLA backend (the table's kernel): its decode terms are fitted
    // a Triton decode at one head per GPU: Triton's ungrouped kernel (2-4x the grouped one's time), which no
    // shipped MLA model meets; fit_mla leaves it out
    bool triton_ungrouped() const { return decode && triton && heads < 2; }
};
// What the cost model prices of such a block on `cal` (its own MLA terms left out): the projections
// (QKV_PROJ, ROPE, O_PROJ; of an attention_only sample the kv_b, or W_UK and W_UV, GEMMs alone, as the cost
// model's QKV_PROJ prices them) and the attention; the tokens and heads the MLA fit's terms count, and which
// variant it is.
struct MlaParts {
    double projections_s = 0, attention_s = 0, tokens = 0, heads = 0;
    bool fp8_kv = false, block_fp8 = false;
    // a decode's latent read once at the decode attention fit's bandwidth, and its longest sequence's latent
    // (MlaCalibration::triton_decode_s)
    double latent_read_s = 0, longest_bytes = 0;
    // the block's activations past the L2, at HBM peak (mla_activation_spill_s;
    // MlaCalibration::activation_spill)
    double spill_s = 0;
};
MlaParts mla_sample_parts(const GpuProfile& gpu, const Calibration& cal, const MlaSample& s);
// A phase's block time under `fit` (calibration.hpp's MlaCalibration).
double mla_block_time_s(const MlaCalibration& fit, const MlaParts& p);
// The MLA fit of one phase: weighted non-negative least squares on relative error (core/nnls.hpp) over the
// samples of that phase that are not l2_warm (at least 8). Triton MLA decodes (`triton`) fit its two decode
// terms (held at 0 otherwise), less those at one head per GPU, where Triton's decode runs another kernel (one
// query head a latent: not grouped; 2-4x the grouped kernel's time on A100's tables) that no deployment of a
// shipped MLA model meets. Attention-only samples (eager timings) do not fit the block's fixed time: the host's
// dispatch hides it (held at 0). Terms of a variant the samples lack are not fitted: without 8-bit KV samples
// fp8_kv_attention_scale is attention_scale and fp8_kv_block_s 0, without block-fp8 samples the block_fp8
// terms are 0.
MlaCalibration fit_mla(const std::vector<MlaSample>& samples, const std::vector<MlaParts>& parts, bool decode,
                       FitQuality* quality = nullptr);
// Every point of the MLA module tables with bf16 or block-fp8 projections and a bf16 or fp8 latent, less the
// unfused norm chain where the tables timed it (mla_norm_chain.hpp): the block as vLLM serves it. The
// collector runs one block over and over, so where its weights, the KV it reads and its activations fit in an
// L2 of `l2_bytes` they stay there, which no serving step sees (the next layer's weights evict them): such a
// point is l2_warm where streaming its weights and KV from HBM at its peak (`hbm_bytes_per_s`) would take 5%
// of its time or more (the attention samples' rule; below that the L2 cannot have saved much). 0: none is.
std::vector<MlaSample> mla_samples(const KernelTables& t, double l2_bytes = 0.0,
                                   double hbm_bytes_per_s = 0.0);
// The points of the MLA attention-implementation tables (mla_attention_prefill, mla_attention_decode: vLLM's
// MLACommonImpl.forward alone, the latent's cache write, a prefill's kv_b up-projection and attention, a
// decode's W_UK and W_UV products around the latent attention; A100's tables), as attention_only samples.
// Those tables were timed without a CUDA graph, so where the kernels are short the host's dispatch sets the
// time (A100: about 0.3 ms whatever the shape). Kept: the points at 4x the table's fastest or more (the
// kernels' own time, block_fp8_kernel_points' rule) that are no more than 1.2x the next longer point of their
// batch (a time must grow with the length: a point above its successor caught a host stall). The l2_warm rule
// is mla_samples' on the latent and the kv_b (or W_UK and W_UV) weights.
std::vector<MlaSample> mla_attention_samples(const KernelTables& t, double l2_bytes = 0.0,
                                             double hbm_bytes_per_s = 0.0);

// One point of a fused-MoE table (balanced routing): `tokens` tokens through a layer of `experts` experts
// (top-k), each sliced over `tp` GPUs or held whole on one of `ep` ranks, its weights in `dtype`
// (kernel_format's names; empty in a sample made by hand), for the fit of `format`: the fit that prices its
// kernel (GridTable::moe_fit_format: int4 for Marlin's tables of either format).
struct MoeSample {
    std::string format;
    std::string dtype;
    double tokens = 0;
    int64_t hidden = 0, inter = 0, topk = 0, experts = 0, tp = 1, ep = 1;
    double bytes_per_weight = 2.0;
    double time_s = 0;
    bool l2_warm = false;  // the experts it reads fit in L2 (GridTable::moe_working_set_bytes): not fitted
    // the exponent of the power-law routing the row was timed with (AIConfigurator's power_law_1.01 and
    // power_law_1.2); 0: balanced routing
    double alpha = 0.0;
    bool gated = true;  // the table timed gated experts (GridTable::moe_gated)
};
// The call's work as MoeCalibration counts it: the collector routes every token over all `experts`
// round-robin (T k picks over min(T k, E) experts) and runs the rank's E / ep of them on the T k / ep pairs
// they receive, the kernel sorting and summing all T k. A power-law row (alpha > 0, no EP) reads the
// experts the generator reaches.
MoeWork moe_sample_work(const MoeSample& s);
// The fit of one format: non-negative least squares on relative error over its samples that are not l2_warm
// (at least 8, else HardwareError).
MoeCalibration fit_moe(const GpuProfile& gpu, const std::string& format,
                       const std::vector<MoeSample>& samples, FitQuality* quality = nullptr);
// One GPU's fused-MoE samples, for a fit pooled over several GPUs.
struct MoeData {
    const GpuProfile* gpu = nullptr;
    const std::vector<MoeSample>* samples = nullptr;
};
// The fit of one format over several GPUs' samples together, each sample's columns at its own GPU's peaks
// (the coefficients are multiples of the time at peak, so one fit serves GPUs of other peaks): a fit carried
// across architectures, which bench/fidelity.cpp scores by leaving each GPU out (13-20% on bf16, 29.8% on A100's
// power-law rows, against 9.7-15.3% for a GPU's own fit leaving each shape out: not shipped). The same rules as
// fit_moe; `quality` is over every GPU's points.
MoeCalibration fit_moe_pooled(const std::string& format, const std::vector<MoeData>& data,
                              FitQuality* quality = nullptr);
// Every point of the balanced-routing fused-MoE tables whose format is one of kernel_format's (every TP and
// EP size), marked l2_warm where the experts it reads fit in `l2_bytes` (0 marks none).
std::vector<MoeSample> moe_samples(const KernelTables& t, double l2_bytes = 0.0);
// The same from the power-law rows without EP (one kernel over every pick, the experts the generator reaches:
// experts_reached under that routing): the fused-MoE data of a GPU whose tables hold no balanced rows
// (A100's). EP rows are left out: which rank the collector timed under a skewed routing is not known here.
std::vector<MoeSample> moe_power_law_samples(const KernelTables& t, double l2_bytes = 0.0);
// What `calibrate` fits the fused MoE on: the balanced rows where the tables have any, else the power-law
// rows (moe_power_law_samples; `*power_law` set to say so).
std::vector<MoeSample> moe_fit_samples(const KernelTables& t, double l2_bytes, bool* power_law);

// Fits the samples that are not l2_warm (at least 8 of them); `quality` is over those.
GemmCalibration fit_gemm(const GpuProfile& gpu, Dtype dtype, const std::vector<GemmSample>& samples,
                         FitQuality* quality = nullptr);
// The prefill fit on the samples' prefills, then the decode fit on their cold decodes (its compute term at the
// prefill fit's efficiency); at least 8 of each, else HardwareError.
AttentionCalibration fit_prefill_attention(const GpuProfile& gpu, const std::vector<AttentionSample>& samples,
                                           FitQuality* quality = nullptr);
AttentionCalibration fit_decode_attention(const GpuProfile& gpu, const std::vector<AttentionSample>& samples,
                                          const AttentionCalibration& prefill, FitQuality* quality = nullptr);
// Per GPU count (3 samples or more): a line over every sample and, where every sample is a vLLM row
// (CommSample::vllm), a line for each path vLLM takes on `gpu` (vllm_allreduce) over its 3 samples or more.
std::map<int64_t, CommCalibration> fit_allreduce(const std::vector<CommSample>& samples,
                                                 const GpuProfile& gpu);

// Every measured point of the GEMM tables of `dtype`, marked l2_warm where the table's working set at that
// point fits in `l2_bytes` (the GPU's L2; 0 marks none).
std::vector<GemmSample> gemm_samples(const KernelTables& t, Dtype dtype, double l2_bytes = 0.0);
std::vector<CommSample> allreduce_samples(const KernelTables& t);
// The NCCL all-reduce rows (fp16) of `t` over GPU counts not in `except`: what a GPU whose own tables time no
// all-reduce over that many GPUs takes from its nccl_sibling (GB200's TP 8 from B200's rows), as the tables
// predictor does.
std::vector<CommSample> nccl_allreduce_samples(const KernelTables& t, const std::set<int64_t>& except);
// Every point of the bf16-KV, windowless decode and prefill attention tables; decodes marked l2_warm where the
// KV fits in `l2_bytes` unless streaming it at `hbm_bytes_per_s` would take under 5% of the call (then the L2 made
// no difference worth leaving the point out for).
std::vector<AttentionSample> attention_samples(const KernelTables& t, double l2_bytes = 0.0, double hbm_bytes_per_s = 0.0);
// CSV with a header: `op,m,n,k,bytes,gpus,latency_ms`; op is gemm (bf16), gemm_fp8 (fp8 weights, per-tensor or
// per-channel scaled) or allreduce (unused columns empty). fp8 rows go to `fp8_gemms` when it is given, else they
// are an error. Throws HardwareError naming the file, line and column.
void read_calibration_csv(const std::string& path, std::vector<GemmSample>& gemms, std::vector<CommSample>& comms,
                          std::vector<GemmSample>* fp8_gemms = nullptr);

// `headroom measure step --json` lines (schema headroom.measure-step/1, our executor's own measurements): each
// line's GEMM ops (qkv_proj, o_proj, gate_up_proj, down_proj, lm_head) become samples, their shapes from the
// model card and the step's batch, their time the measured op time over its runs per step. Lines without
// per-op times (the CPU reference) give none. Throws HardwareError naming the file and line.
std::vector<GemmSample> read_measure_step_json(const std::string& path);

// Fits everything the samples cover into a Calibration for `gpu`: `gemms` as `dtype`, for a bf16
// calibration a second fit (gemm_fp8) on `fp8_gemms` when there are at least 8 of them, and the attention
// fits when `attention` holds at least 8 prefills and 8 cold decodes, and then the MLA fits when `mla` holds
// at least 8 points of each phase; and a fused-MoE fit for each format `moe` holds at least 8 cold points of.
// `progress`, where given, is told each fit as it starts (its name, as "fp8 GEMM" or "fused MoE, fp8_block", and
// the points given to it): a GPU's full tables take 10-20 s.
using CalibrateProgress = std::function<void(const std::string& fit, size_t points)>;
Calibration calibrate(const GpuProfile& gpu, Dtype dtype, const std::vector<GemmSample>& gemms,
                      const std::vector<CommSample>& comms, const std::string& fitted_on,
                      const std::vector<GemmSample>& fp8_gemms = {},
                      const std::vector<AttentionSample>& attention = {},
                      const std::vector<MlaSample>& mla = {}, const std::vector<MoeSample>& moe = {},
                      const CalibrateProgress& progress = {});

}  // namespace headroom
