// A calibrated roofline: efficiency parameters fitted per GPU and op family by `headroom calibrate` from
// measured kernel times, written as YAML (hardware/calibrations/<gpu>.yaml for the shipped ones).
//   GEMM:       t = launch + mainloop_s_per_k x k
//                   + smooth_max(FLOPs / (peak x compute_efficiency), bytes / (HBM x memory_efficiency); p)
//                   + (activation_bytes x m k + output_bytes x m n) / (HBM x memory_efficiency)
//   (fp8 also: compute time / tile utilisation^wave_exponent, and a time per row; below)
//   mainloop_s_per_k is the serial latency of one output tile's walk along k: a GEMM of a few tiles cannot
//   spread k over the SMs (vLLM's GEMMs use no split-K), so its time grows with k even when neither bound is
//   near; it is what made the smallest GEMMs of every table miss by 25% with one fixed launch term.
//   The two per-element terms are fitted for fp8 GEMMs only (zero for bf16): vLLM's fp8 linear quantises its bf16
//   activations per token in a kernel of its own before the CUTLASS GEMM (reading 2 bytes and writing 1 per
//   element) and rescales the output in the epilogue, costs in the activation and output elements that no FLOP
//   or weight-byte bound sees. Fitted as bytes at the fitted memory rate, so a derived calibration carries them
//   to a sibling's bandwidth.
//   all-reduce: t = latency + bytes / bus_bytes_per_s, per GPU count and per vLLM path (CommCalibration)
//   attention (FlashAttention-style kernels, fitted on the decode and prefill attention tables):
//     prefill: t = launch + smooth_max(smooth_max(compute, bytes / (HBM x memory_efficiency); p),
//                                      item_s x tiles x heads; p)
//       compute = (FLOPs + scores x score_flops) / (peak x compute_efficiency) / u^wave_exponent
//       scores: query-key pairs x query heads (the softmax's exp and rescale per score, which no FLOP count of the
//       two matrix products sees: head_dim 64 runs at a lower share of the peak than 128); u: the share of the SMs'
//       slots that query tiles x heads fill in whole waves (flash_attention_query_tile: 64 rows before
//       Hopper, else 128), and each such work item has a fixed cost
//       (its prologue, the query tile's load, the epilogue: what many short prompts pay; 16-17 ns on
//       Blackwell, 2 on Hopper)
//     decode:  t = launch + smooth_max(smooth_max(bytes / (HBM x memory_efficiency), item_s x sequences x KV heads; p),
//                                      FLOPs / (peak x the prefill fit's compute_efficiency); p)
//       a decode kernel's work items are (sequence, KV head) pairs, each with a fixed cost (the split-KV
//       scheduling, the q load, the combine); and three kernel terms (cost_model.hpp's decode_dispatch),
//       each fitted per GPU: where the kernel reads each (sequence, KV head)'s KV in one block
//       (FlashAttention 2 with one query head per KV head), bytes / (HBM x memory_efficiency) is
//       smooth_max'ed with the longest one's bytes / unsplit_bytes_per_s (one block's streaming rate: 24 GB/s
//       on A100); plus repack_s where grouped queries are copied into the grouped layout and back, and
//       combine_s where the KV is split over blocks (FA2: 6 and 6 us on A100, 3 and 4 on L40S; next to
//       nothing on Hopper and Blackwell)
//   MLA attention blocks (fitted on the MLA module tables): the block's kernels beyond its projections and
//     attention, and a scale on the attention fits (MlaCalibration below)
//   fused MoE (fitted on the fused-MoE tables, per weight format): one call of vLLM's fused-MoE kernel,
//     linear in its fixed cost, its FLOPs, its expert weights and its token-expert pairs' activations
//     (MoeCalibration below)
// smooth_max(c, m; p) = (c^p + m^p)^(1/p). The efficiencies are shares of the profile's own peaks, so a
// calibration fitted on one GPU can be carried to a sibling of the same architecture (H100 SXM -> H100 PCIe)
// and is then labelled as derived.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "headroom/hardware/gpu_profile.hpp"

namespace headroom {

struct GemmCalibration {
    double launch_s = 0.0;             // fixed time per GEMM (launch, prologue, epilogue)
    double compute_efficiency = 0.0;   // achieved / dense peak of the dtype, for large GEMMs
    double memory_efficiency = 0.0;    // achieved / HBM peak, for weight-streaming GEMMs
    double blend_exponent = 2.5;       // p of the smooth max near the ridge
    double activation_bytes = 0.0;     // per activation element (m x k): fp8's per-token quantisation
    double output_bytes = 0.0;         // per output element (m x n): fp8's scaled epilogue
    double mainloop_s_per_k = 0.0;     // serial latency per element of k (one tile's walk along k)
    // Time per row of m, whatever n and k (fp8): vLLM quantises an fp8 GEMM's input with one thread block per
    // token, and the tables show it (H100, k = 256: 16,384 rows take 123-137 us for n of 32 to 1,024, where bf16
    // takes 4-12 us); fitted 3.9-5.4 ns a row on Hopper and Blackwell.
    double row_s = 0.0;
    // Tile waves (fp8): compute time / u^wave_exponent, u = gemm_tile_utilisation (cost_model.hpp), the share of
    // the SMs' tile slots that hold useful output. vLLM's fp8 GEMMs are CUTLASS persistent kernels with fixed
    // tiles and no split-K or stream-K, so a GEMM of few tiles leaves SMs idle; fitted 0.60-0.89 on the five GPUs
    // with fp8 tables. 0: no such term (the bf16 tables, cuBLAS, fit 0-0.08: it picks split-K or stream-K).
    double wave_exponent = 0.0;
    bool present() const { return compute_efficiency > 0.0; }
};

// The attention fits (the model above); prefill uses launch, compute_efficiency, memory_efficiency,
// blend_exponent, score_flops, wave_exponent and item_s, decode launch, memory_efficiency, blend_exponent,
// item_s and the three kernel terms (0: none, as in a calibration written before them; the same for prefill's
// item_s).
struct AttentionCalibration {
    double launch_s = 0.0;
    double compute_efficiency = 0.0;  // prefill: an effective share of the bf16 peak (with score_flops beside it)
    double memory_efficiency = 0.0;
    double blend_exponent = 2.5;
    double score_flops = 0.0;    // prefill: FLOP-equivalents per score at the tensor-core rate
    double wave_exponent = 0.0;  // prefill: compute time / u^wave_exponent (u: query tiles over the SMs)
    double item_s = 0.0;  // per work item: (sequence, KV head) for decode, (query tile, head) for prefill
    double unsplit_bytes_per_s = 0.0;  // decode: one block reading an unsplit (sequence, KV head)'s KV
    double repack_s = 0.0;             // decode: the grouped queries' copies
    double combine_s = 0.0;            // decode: the split KV's combine kernel
    bool present() const { return memory_efficiency > 0.0; }
};

// The bf16 activations an MLA block's prefill passes between its kernels, a token: its input (hidden) and,
// for each of its `heads` on the GPU, the query (nope + rope), the up-projected key and value (nope + v) and
// the attention's output (v): 2 x (hidden + heads x (2 nope + rope + 2 v)) bytes (DeepSeek-V3: 2 x (7,168 +
// 576 x heads)).
double mla_activation_bytes(double hidden, double heads, double nope, double rope, double v);
// The seconds `tokens` tokens of `bytes_per_token` take at the GPU's HBM peak past its L2's size
// (GpuProfile::l2_cache_bytes): 0 where they fit, or where the profile gives no L2 or bandwidth. What
// MlaCalibration::activation_spill multiplies.
double mla_activation_spill_s(const GpuProfile& gpu, double tokens, double bytes_per_token);

// MLA's attention block (DeepSeek-V3's, fitted on the MLA module tables) beyond what the cost model prices
// op by op, per phase (prefill, decode):
//   t = projections + scale x the attention fits' time + fixed + per_token x tokens
//   scale = attention_scale (16-bit KV) or fp8_kv_attention_scale (8-bit KV: another kernel)
//   fixed = block_s (+ fp8_kv_block_s with 8-bit KV) (+ block_fp8_block_s with block-scaled fp8 projections)
//   per_token = token_s + token_head_s x heads per GPU (+ block_fp8_token_s + block_fp8_token_head_s x heads)
// (tokens: decodes, or prefill tokens). The block is some fifteen kernels (the latent's and q's RMSNorms,
// RoPE, the cache write, the per-head layout copies around the absorbed products, the backend's metadata)
// whose fixed and per-token costs no FLOP or byte count sees: 48-70 us a block on Hopper, 1-16 us on B200.
// Block-scaled fp8 projections (DeepGEMM) quantise their activations per token group in kernels of their own
// (12-27 ns a prefill token). All terms >= 0; 0: none (a calibration fitted without MLA tables has no MLA fit
// at all).
// A prefill's block also pays for its activations once they no longer fit in the L2 (activation_spill x
// mla_activation_spill_s: the seconds the block's activations, mla_activation_bytes a token, take at HBM peak
// past the L2's size). Below that a kernel reads what the one before it wrote from the L2; past it from HBM,
// and the block's time per token grows with the step (L40S, 96 MB of L2 before 864 GB/s of GDDR6: 150 ns a
// token at 4,096 prefill tokens, 241 ns at 131,072 at one head a GPU). Fitted since 2026-12-07 (forty-sixth
// session, docs/fidelity.md "An MLA prefill past the L2"); 0 for decodes (their tokens stay far below) and in
// a calibration written before it.
// vLLM's Triton MLA decode (the backend on Ampere and Ada: A100, L40S) adds two terms of its own
// (triton_decode_s): its grid takes 16 query heads a block, so each further 16-head block reads the whole
// latent again (head_block_reread x the decode fit's latent read time per further block), and it gives a
// sequence a fixed few KV splits, so one long decode streams at a few CTAs' rate (longest_s_per_byte x the
// longest decode's latent bytes). Both are 0 for the other backends (FlashMLA, CUTLASS MLA, FlashAttention
// MLA read the latent once for all heads and split long sequences over the SMs).
struct MlaCalibration {
    double block_s = 0.0, token_s = 0.0, token_head_s = 0.0;
    double attention_scale = 0.0;  // the attention fits' time, which were fitted on MHA/GQA kernels, x this
    double fp8_kv_attention_scale = 0.0, fp8_kv_block_s = 0.0;
    double block_fp8_block_s = 0.0, block_fp8_token_s = 0.0, block_fp8_token_head_s = 0.0;
    double head_block_reread = 0.0, longest_s_per_byte = 0.0;  // Triton MLA decode (above)
    double activation_spill = 0.0;                             // a multiple of mla_activation_spill_s (above)
    bool present() const { return attention_scale > 0.0; }
    double scale(bool fp8_kv) const { return fp8_kv ? fp8_kv_attention_scale : attention_scale; }
    double fixed_s(bool fp8_kv, bool block_fp8) const {
        return block_s + (fp8_kv ? fp8_kv_block_s : 0.0) + (block_fp8 ? block_fp8_block_s : 0.0);
    }
    double per_token_s(double heads, bool block_fp8) const {
        return token_s + token_head_s * heads +
               (block_fp8 ? block_fp8_token_s + block_fp8_token_head_s * heads : 0.0);
    }
    bool triton_decode() const { return head_block_reread > 0.0 || longest_s_per_byte > 0.0; }
    // A decode call at `heads` per GPU whose latent takes `latent_read_s` to stream once (the decode attention
    // fit's bandwidth) and whose longest sequence holds `longest_bytes` of latent.
    double triton_decode_s(double heads, double latent_read_s, double longest_bytes) const {
        const double further_blocks = std::max(0.0, std::ceil(heads / 16.0) - 1.0);
        return head_block_reread * further_blocks * latent_read_s + longest_s_per_byte * longest_bytes;
    }
};

// One call of vLLM's fused-MoE kernel on one GPU (a layer's routed experts): what MoeCalibration prices.
struct MoeWork {
    double hidden = 0, inter = 0;  // inter: per GPU (TP-sliced experts)
    double local_pairs = 0;        // token-expert pairs this GPU's experts compute
    // pairs the call routes, sorts, activates and sums: every token's top-k, of which local_pairs fall on this
    // GPU's experts (with EP and no DP every rank takes all the step's picks, the others' experts masked; with
    // DP + EP only the pairs dispatched to this GPU)
    double pairs = 0;
    double experts_read = 0;  // distinct local experts whose weights the call reads
    double local_experts = 0;  // the experts this GPU holds (E, or E / ep with EP); 0: not known
    double bytes_per_weight = 2.0;
    // gate, up and down projections (3 x hidden x inter weights an expert; every MoE model headroom loads);
    // false: up and down only (2 x; Nemotron-H's relu2 experts, which some kernel tables time)
    bool gated = true;
};

// vLLM's fused-MoE kernel per weight format (kernel_format's names: bf16, fp8, fp8_block, mxfp4, fp4, int4),
// fitted on the fused-MoE tables by non-negative least squares on relative error:
//   t = fixed_s + compute x FLOPs / peak + weights x expert bytes / HBM
//       + local_pairs x local pair bytes / HBM + pairs x pair bytes / HBM
// FLOPs: 2 x 3 x hidden x inter per local pair (gate, up, down), at the format's dense peak (moe_peak_flops);
// expert bytes: 3 x hidden x inter x bytes per weight per expert read; pair bytes: (3 hidden + 6 inter) x 2
// (each pair's gathered input, its gate and up outputs, the activation's read and write, the down
// projection's input and output, and the sum's read). The coefficients are multiples of those at peak (1 / an
// efficiency), so a fit carries to a sibling with other peaks. The kernel's routing, sorting, padding of each
// expert's rows to its tile and the activation and sum kernels are what the multiples and the fixed cost take
// up: on the shipped tables the cost model's grouped GEMMs of the same FLOPs and bytes were 24-63% fast
// (docs/fidelity.md). Two further terms (2026-12-05, twenty-ninth session):
//       + expert_s x local experts read + waves x tile-wave time
// a fixed time per distinct expert the call reads (each expert's GEMMs are a group of their own), and a
// multiple of the time the grouped GEMMs' tile waves take to stream their weights when each SM reads at its
// share of HBM (moe_wave_s): the few-tile calls (narrow TP-sliced experts, few experts a rank) that leave SMs
// idle. A calibration written before them reads both as 0.
// On a Hopper or Blackwell (compute capability 9.0 or more) the int4 format's FLOPs count the rows of the
// blocks vLLM's Marlin MoE pads each expert's tokens to (marlin_moe_rows, kernel_tables.hpp), not the pairs:
// vLLM runs int4 experts (compressed-tensors WNA16, AWQ, GPTQ) with Marlin, which multiplies with Ampere's
// mma.sync, and on those GPUs its blocks' compute sets the time (the int4 tables' time doubles where an
// expert's tokens first need a second block of 64: docs/fidelity.md, "Marlin's fused MoE by the blocks it
// runs"). Fitted so since 2026-12-07 (forty-fourth session): the int4 fits through the cost model, in sample,
// median / p90 H100 8.4% / 27.8% -> 5.0% / 15.5%; H100's points from H200's fit 19.3% / 33.7% -> 12.9%
// / 29.6%.
// The int4 fit is the fit of vLLM's Marlin MoE, whatever the weights it dequantises (moe_fit_format): since
// 2026-12-07 (forty-fifth session) it is fitted on every Marlin table, the MXFP4 ones too (GridTable::
// moe_fit_format), and prices every MXFP4 checkpoint vLLM runs through Marlin; the mxfp4 fit is then
// gpt-oss's own kernels' alone (OpenAI's Triton kernel on Hopper, FlashInfer's TRT-LLM one on Blackwell).
// Before, the mxfp4 fit pooled three kernels and priced each shape left out at a median 13-50%
// (docs/fidelity.md, "A fused-MoE fit per kernel").
struct MoeCalibration {
    double fixed_s = 0.0;
    double compute = 0.0, weights = 0.0, local_pairs = 0.0, pairs = 0.0;
    double expert_s = 0.0, waves = 0.0;
    bool present() const {
        return compute > 0.0 || weights > 0.0 || local_pairs > 0.0 || pairs > 0.0 || expert_s > 0.0 || waves > 0.0;
    }
};
constexpr int MOE_TERMS = 7;
// The grouped GEMMs' tile waves, as MoeCalibration::waves counts them: each local expert read runs its rows
// (local pairs / experts read, at least one tile) in tiles of MOE_TILE_ROWS x MOE_TILE_COLS; the gate-up GEMM
// (2 inter columns, hidden deep) and the down GEMM (hidden columns, inter deep) each take ceil(tiles / SMs)
// waves, a wave the time one tile's weights (depth x MOE_TILE_COLS) take at HBM / SMs: a decode's call is
// memory-bound per SM, and a wave the SMs do not fill takes as long as a full one. Past one row tile an
// expert, each row tile counts its weights again (an upper bound: L2 serves some of those reads; the compute
// term and this one share the large calls). 0 where the profile lists no SM count or bandwidth. (The tile shape
// was chosen among 64 x 64, 64 x 128, 128 x 64, 128 x 128 and 128 x 256 on the fit's leave-one-shape-out
// errors, and the stream at HBM's share over a tile's FLOPs at the SM's share of the peak on the sibling-carried
// errors: docs/fidelity.md.)
constexpr double MOE_TILE_ROWS = 128.0, MOE_TILE_COLS = 64.0;
double moe_wave_s(const GpuProfile& gpu, const MoeWork& w);
// The fused-MoE fit (Calibration::moe's key) that prices experts stored in `format` (kernel_format's names)
// on a GPU of `compute_capability`: the kernel vLLM 0.24 runs them with. int4 experts (compressed-tensors
// WNA16, AWQ, GPTQ) run Marlin, and so do MXFP4 experts below compute capability 9.0 (L40S's tables time
// gpt-oss there with vllm_gptossmxfp4moe_marlin) and MXFP4 experts of another quantisation than gpt-oss's own
// `mxfp4` method (`gpt_oss_mxfp4` false: H100, H200, B200 and GB200 time compressed-tensors' W4A4 MXFP4 with
// vllm_compressedtensorsw4a4mxfp4moe_marlin): all "int4". gpt-oss's MXFP4 on a Hopper or Blackwell runs its
// own kernels ("mxfp4"); any other format is its own fit.
std::string moe_fit_format(const std::string& format, bool gpt_oss_mxfp4, double compute_capability);
// What a fused-MoE fit prices, for reports: "Marlin (int4 and MXFP4 experts)" for int4, "<format> experts"
// for the others.
std::string moe_fit_label(const std::string& format);
// The dense peak a format's fused-MoE kernel multiplies at: fp8 and block fp8 at the fp8 rate, NVFP4 at the
// fp4 rate where the GPU has one (else fp8's), the weight-only formats (mxfp4 on Hopper, int4) and bf16 at
// bf16's; a rate the profile lacks falls back to bf16's.
double moe_peak_flops(const GpuProfile& gpu, const std::string& format);
// The fit's columns for `w` on `gpu`: 1, FLOPs at peak, expert bytes at HBM peak, local and all pair bytes at
// HBM peak, the local experts read, moe_wave_s (seconds, but for the first and the count of experts).
std::array<double, MOE_TERMS> moe_columns(const GpuProfile& gpu, const std::string& format, const MoeWork& w);
double moe_kernel_time_s(const GpuProfile& gpu, const std::string& format, const MoeCalibration& fit,
                         const MoeWork& w);
// The work of one call of the fused-MoE tables' balanced rows: `tokens` tokens routed round-robin over
// `experts` experts (top-k), so T k pairs reach min(T k, E) experts; each sliced over `tp` GPUs or held whole
// on one of `ep` ranks, a rank running its E / ep experts on its T k / ep pairs and the kernel sorting and
// summing all T k.
MoeWork balanced_moe_work(double hidden, double inter, double topk, double experts, double tp, double ep,
                          double tokens, double bytes_per_weight, bool gated = true);

struct CommLine {
    double latency_s = 0.0;
    double bus_bytes_per_s = 0.0;  // message bytes / (time - latency) at large messages; 0: none
    bool present() const { return bus_bytes_per_s > 0; }
    double time_s(double bytes) const { return latency_s + bytes / bus_bytes_per_s; }
};

// One GPU count's all-reduce: a line over every message, and a line of each path vLLM takes
// (VllmAllreduce::Path: its custom all-reduce, torch symmetric memory, NCCL) fitted on that path's messages
// where the tables' vLLM rows hold enough of them; a message whose path has no line takes the line over every
// message.
struct CommCalibration : CommLine {  // the line over every message
    std::array<CommLine, 3> paths{};
    // one all-reduce of `bytes` on `path` (VllmAllreduce::Path's index): its line where fitted, else the line
    // over every message
    double time_s(double bytes, size_t path) const {
        return paths[path].present() ? paths[path].time_s(bytes) : CommLine::time_s(bytes);
    }
};

struct FitQuality {
    int64_t points = 0;
    double median_abs_rel_error = 0.0;  // on the points it was fitted on
    double p90_abs_rel_error = 0.0;
    int64_t l2_warm_left_out = 0;  // measurements not fitted: timed with their weights in L2 (calibrate.hpp)
};

struct Calibration {
    std::string gpu;           // the profile it applies to ("h100-sxm")
    std::string fitted_on;     // the data it was fitted on ("kernel tables h100_sxm (NVIDIA H100 80GB HBM3)")
    std::string derived_from;  // "" when fitted on this GPU's own data; else the GPU whose fit it carries
    std::string dtype = "bf16";  // the GEMMs `gemm` was fitted on
    GemmCalibration gemm;
    FitQuality gemm_fit;
    // A second fit for fp8 GEMMs (per-tensor or per-channel scaled, 1 byte per weight) when `dtype` is bf16 and
    // the data held them; absent (not present()) otherwise.
    GemmCalibration gemm_fp8;
    FitQuality gemm_fp8_fit;
    std::map<int64_t, CommCalibration> allreduce;  // by GPU count
    // Both present, or neither (a calibration from GEMMs alone keeps the profile's efficiencies for attention).
    AttentionCalibration prefill_attention, decode_attention;
    FitQuality prefill_attention_fit, decode_attention_fit;
    bool has_attention() const { return prefill_attention.present() && decode_attention.present(); }
    // Both present, or neither; only beside the attention fits.
    MlaCalibration mla_prefill, mla_decode;
    FitQuality mla_prefill_fit, mla_decode_fit;
    bool has_mla() const { return mla_prefill.present() && mla_decode.present(); }
    // The fused-MoE fits by weight format (kernel_format's names), those the data held
    std::map<std::string, MoeCalibration> moe;
    std::map<std::string, FitQuality> moe_fit;
    const MoeCalibration* moe_for(const std::string& format) const;
    std::string file;          // where it was read from

    // "roofline (calibrated on ...)" / "roofline (calibrated, derived from h100-sxm)"
    std::string label() const;
    // The GEMM fit for weights of kernel class `dtype`: the fp8 fit for fp8 weights (per-tensor, per-channel
    // or block-scaled) where there is one, else `gemm`; nullptr when neither is present. Block-scaled fp8
    // (DeepGEMM, another kernel) takes the fp8 fit too: where the block-fp8 tables time the kernels (4x their
    // eager floor or more) they take what the per-tensor fp8 tables do at the same shape (a median 0.89-1.07
    // of it by row range on Hopper and Blackwell; 1.25-1.44 on L40S, where no ratio corrects the fit).
    const GemmCalibration* gemm_for(Dtype dtype) const;
};


// YAML in both directions; parsing rejects unknown fields, missing ones and values out of range, naming the
// file and the field.
std::string calibration_yaml(const Calibration& c);
Calibration parse_calibration(const std::string& text, const std::string& file);
Calibration load_calibration(const std::string& path);
// The shipped calibration of a GPU profile (by profile name), parsed once per process; nullptr when none.
std::shared_ptr<const Calibration> shipped_calibration(const std::string& gpu);

}  // namespace headroom
