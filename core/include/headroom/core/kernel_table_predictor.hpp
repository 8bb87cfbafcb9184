// Step time from measured kernel tables (hardware/kernels/*.hkt: vLLM's kernels timed on real GPUs), with the
// roofline for every op the tables do not cover. Per op:
// - GEMMs (qkv, o, gate_up, down; lm_head in bf16): the GEMM table of the weight dtype at (tokens, n, k);
// - MLA attention (DeepSeek-V3's dimensions): the MLA module tables, which time the whole attention block,
//   less the block's projections at the same rows from the GEMM table (those run once on the step's tokens,
//   as QKV_PROJ and O_PROJ); RoPE is inside the module;
// - an encoder's attention: the encoder-attention table at (sequences, mean length), for its heads and
//   head_dim;
// - attention: the decode table at (decodes, mean keys per decode) plus the prefill table at (prefill
//   sequences, the length whose causal attention sees as many keys as the chunks do), for the model's heads,
//   KV heads and head_dim per GPU, KV dtype and window;
// - fused MoE: the MoE table of the experts' stored format (bf16, fp8, block fp8, MXFP4, NVFP4, int4) at the
//   step's tokens, split over the three MoE ops in the roofline's proportions; a shared expert from the GEMM
//   table;
// - TP all-reduce: vLLM's all-reduce table (graph or eager; the call as vLLM dispatches it), NCCL's beyond
//   its largest message.
// A GEMM table point timed with its weights resident in L2 (GridTable::gemm_working_set_bytes within the
// GPU's L2, chip.l2_cache_mib) is faster than serving, where each step streams every layer's weights from
// memory: such a lookup is held to l2_warm_gemm_floor_s; a decode-attention lookup likewise
// (l2_warm_kv_floor_s), and a fused-MoE one (l2_warm_moe_floor_s). The decode-attention tables are read with
// their L2-warm points held so first (held_l2_warm_decodes), so that a lookup past the L2 does not
// interpolate towards an L2 time. Lookups interpolate between measured points (GridTable::lookup_s: log-log
// along token counts, but linearly over the experts reached along a balanced fused MoE's tokens; linearly
// along the other axes). Past the largest measured value of an axis the time is
// scaled by the axis' power law (linear in tokens, n, k, batch, context and bytes; quadratic in prefill
// length) and the source says "extrapolated". Norms, RoPE, residual adds, the sampler and the step overhead
// stay on the roofline. The bound of each op is still the roofline's: it explains the why.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/mla_norm_chain.hpp"
#include "headroom/hardware/kernel_tables.hpp"
#include "headroom/hardware/vllm_allreduce.hpp"

namespace headroom {

// The shipped tables' name for a GPU profile ("h100-sxm" -> "h100_sxm"); "" when none ship for it. A GPU
// without tables of its own whose chip a table GPU shares takes that GPU's (kernel_table_sibling).
std::string kernel_table_gpu(const GpuProfile& gpu);
// The tables whose MLA modules (mla_prefill, mla_decode) a GPU's tables `t` stand on: `t`'s own, or those of
// the same chip in another system where only those were timed with vLLM's fused RMSNorm kernels (the tables'
// `norm_dispatch`, from kernel-db's collection notes). B200's MLA tables were re-collected so (-9% against an
// in-engine trace at the one point checked); GB200's, like the other GPUs', ran the unfused norm chain
// (+34%), so GB200 takes B200's.
std::shared_ptr<const KernelTables> mla_module_tables(const std::shared_ptr<const KernelTables>& t);
// What a block-fp8 GEMM takes on a table GPU, as a multiple of the per-tensor fp8 table's time at the same
// (m, n, k): the median ratio (metrics.hpp's exact_percentile, as numpy: the mean of the middle two for an even
// count) over the points where `t`'s block-fp8 table timed the kernels (4x its fastest point or more:
// AIConfigurator times block fp8 without a CUDA graph, so below that the host's dispatch sets the time); 1 where
// the tables lack either or hold fewer than 20 such points. H100 0.90, H200 1.00, B200 0.98, GB200 0.96, L40S
// 1.35 (Triton's block kernel, not DeepGEMM).
double block_fp8_scale(const KernelTables& t);
// The least time GEMM table `t` measured for (rows, n, k) at any of its row counts above m, each raised to
// floor_s(rows); +infinity where it measured none above m. A block-fp8 GEMM on the per-tensor fp8 table takes
// no more than that (KernelTablePredictor: the per-tensor kernel's slow picks at some row counts are not the
// block kernel's).
double least_above_s(const GridTable& t, double m, double n, double k,
                     const std::function<double(double)>& floor_s);
// Those points of `t`'s block-fp8 GEMM table: (m, n, k, seconds) where it took 4x its fastest point or more.
std::vector<std::array<double, 4>> block_fp8_kernel_points(const KernelTables& t);
// Whether a table GPU's MLA module tables were timed with the fused norms vLLM serves with.
bool mla_norms_fused(const KernelTables& t);
// The profile whose tables a GPU borrows, "" for a GPU with tables of its own or none: H100 PCIe takes H100 SXM's
// (the same GH100 chip, with 114 of its 132 SMs, lower clocks and HBM2e). Each op priced from them is scaled by
// the calibrated roofline's time on this GPU over its time on the sibling (KernelTablePredictor), so the tables
// give the kernels' shape-by-shape behaviour and the roofline the two GPUs' difference in peaks; the all-reduce
// tables, timed over the sibling's NVLink, are not borrowed. Checked on the same-chip pairs that have tables
// (H100 SXM and H200, B200 and GB200: bench/fidelity, "sibling's table x roofline ratio").
std::string kernel_table_sibling(const GpuProfile& gpu);
// The profile whose NCCL all-reduce rows a table GPU borrows for a TP group its own tables time no all-reduce
// over, "" for none: GB200 takes B200's (the same Blackwell die, NVLink 5 and NCCL 2.29). GB200's tables time
// all-reduces over one compute tray's 2 and 4 GPUs; a TP group of 8 spans two trays (two hosts), where vLLM's
// custom all-reduce (CUDA IPC handles, valid within one host) falls back to NCCL, and in an NVL72 rack every
// GPU's NVLinks go to the rack's switch trays, so 8 GPUs over two trays meet in the same switches as 2 or 4
// in one. (Newer vLLM tries a multi-node NVLink custom all-reduce across trays on Blackwell, vLLM PRs 50000
// and 53253; no table times it, AIConfigurator issue 1416, so NCCL's time is an upper bound for it.) At 2 and
// 4 GPUs the two GPUs' NCCL rows agree (GB200's a median 3% above B200's, at most 9%, over 21 sizes each);
// the rows are taken as they are, and `cost` names them and that agreement. `calibrate` fits the
// calibration's line for such a group on the same rows (GB200's 8-GPU line: 27.2 us + bytes at 334 GB/s;
// fitted_on says so).
std::string nccl_sibling(const GpuProfile& gpu);

// Whether `t` are the tables `gpu` reads by name (kernel_table_gpu: its shipped ones, its sibling's, or newer ones
// under that name): only then do its siblings' rules apply (kernel_table_sibling's scaling, nccl_sibling's rows).
bool tables_by_name(const KernelTables& t, const GpuProfile& gpu);
// The shipped tables of `gpu`'s nccl_sibling where `gpu` reads `t` by name, else nullptr.
std::shared_ptr<const KernelTables> nccl_sibling_tables(const KernelTables& t, const GpuProfile& gpu);

// Why a deployment on `gpu` cannot price its steps from `t` (a user's tables, `kernel_tables:`), "" when it
// can: tables under the database name the GPU reads (kernel_table_gpu: its own, or its sibling's for H100
// PCIe) are newer or re-measured ones; tables under the name of another GPU's shipped tables are that GPU's;
// tables under a name of their own are the GPU's own measurements (AIConfigurator's collector run on it),
// taken by a GPU that ships no tables of its own (the Jetsons, H100 PCIe, a profile of yours).
std::string kernel_tables_mismatch(const KernelTables& t, const GpuProfile& gpu);
// Why `gpu` cannot be priced with calibration `c` (fitted for another profile), "" when it can. A sibling's
// fit is carried over with `headroom calibrate --gpu G --from SIBLING`.
std::string calibration_mismatch(const Calibration& c, const GpuProfile& gpu);
// `c`'s own calibration and kernel tables checked against `gpu` (the two above): PlanError naming --calibration or
// --kernel-tables (`cost` and the Python cost()).
void check_own_cost_inputs(const CostConfig& c, const GpuProfile& gpu);

// The attention tables of one layout (KernelTablePredictor's find_attention).
struct AttentionTables {
    const GridTable* lo = nullptr;
    const GridTable* hi = nullptr;  // null: lo alone
    double w = 0.0;                 // hi's weight
    double batch_scale = 1.0;
    explicit operator bool() const { return lo != nullptr; }
    double least_s() const;
    // the time at (batch, length), as lookup_scaled; -1 without a measured neighbourhood
    double lookup(double batch, double length, double length_power, bool& extrapolated) const;
};

class KernelTablePredictor : public StepTimePredictor {
public:
    KernelTablePredictor(const ModelCard& model, const GpuProfile& gpu, const CostConfig& config,
                         std::shared_ptr<const KernelTables> tables);

    StepCost step(const std::vector<SequenceWork>& batch) const override;
    StepTotals step_totals(const std::vector<SequenceWork>& batch) const override;
    std::string name() const override { return "kernel tables"; }
    std::string note() const override { return note_; }

    const CostModel& roofline() const { return roofline_; }
    const KernelTables& tables() const { return *tables_; }
    // Which op kinds a table covers for this deployment (the rest use the roofline).
    bool covers(OpKind k) const;

    // The time of one op from the tables (all its runs), or < 0 when no table applies. `source`, when given,
    // receives the op's source line.
    double op_time_s(const RooflineOp& op, const std::vector<SequenceWork>& batch, double moe_share,
                     std::string* source) const;

    // Borrowed tables (kernel_table_sibling): whether these are, the sibling's roofline time of every op kind of
    // the step (NUM_OP_KINDS values, 0 where it has none), and the time of a table-priced op on this GPU from its
    // table time `t`: t itself, or t x this GPU's roofline time of the op (`roofline_s`) over the sibling's.
    bool borrowed() const { return sibling_ != nullptr; }
    void sibling_times(const std::vector<SequenceWork>& batch, double* out) const;
    double scaled(const RooflineOp& op, double t, double roofline_s, const double* sibling_s) const;

private:
    double cached_gemm_s(std::vector<double>& cache, const GridTable* t, double m, double n, double k,
                         bool& extrapolated) const;
    double gemm_s(OpKind kind, const RooflineOp& op, bool& extrapolated) const;
    double mla_proj_s(double rows, bool& extrapolated) const;
    // `chain_s`, when given, gets the unfused norm chain's time a layer taken off the module time
    // (mla_chain_); `context_s`, the time a layer of the cached contexts' up-projection added to it
    double mla_attention_s(const RooflineOp& op, const std::vector<SequenceWork>& batch, bool& extrapolated,
                           double* chain_s = nullptr, double* context_s = nullptr) const;
    // The memory-bound kernels around a cached context's MLA prefill attention, a layer
    // (kernel_table_predictor.cpp)
    double mla_context_kernels_s(double cached_rows, double assembled_rows, double merged_rows) const;
    // `held`, when given, says whether the decodes' time was held to l2_warm_kv_floor_s.
    // `folded`, whether the decodes' KV was read as fewer, longer sequences (decode_lookup).
    double attention_s(const RooflineOp& op, const std::vector<SequenceWork>& batch, bool& extrapolated,
                       bool* held = nullptr, bool* folded = nullptr) const;
    double encoder_attention_s(const RooflineOp& op, const std::vector<SequenceWork>& batch, bool& extrapolated) const;
    // `held`, when given, says whether the time was held to l2_warm_moe_floor_s; `routed_experts`, whether the
    // table's balanced routing was corrected to the experts a router reaches (routing_correction).
    double moe_s(int64_t tokens, bool& extrapolated, bool* held = nullptr, bool* routed_experts = nullptr) const;
    double moe_op_s(const RooflineOp& op, double moe_share, bool& extrapolated) const;
    // One TP all-reduce of `bytes`: below 8 MiB vLLM's custom all-reduce in a step run under a CUDA graph, or
    // `eager`ly; beyond, the custom all-reduce's graph rows up to their largest message, then NCCL's (see the .cpp);
    // `fused`: FlashInfer's all-reduce + RMSNorm kernel, timed as the custom all-reduce in a graph.
    double allreduce_s(double bytes, bool eager, bool fused, bool& extrapolated, bool& nccl) const;
    // `from`: the tables the op was read from, when not this GPU's own (nccl_sibling's)
    std::string source_line(const char* family, bool extrapolated, const char* note = "",
                            const KernelTables* from = nullptr) const;
    // l2_warm_gemm_floor_s for one of the GEMM tables below.
    double l2_warm_floor_s(const GridTable* t, double m, double n, double k) const;
    // The same for the decode-attention table (sliding: 0 or 1): AIConfigurator times one layer's attention over
    // and over, so where the step's decodes read no more KV than the L2 holds the table timed an L2 read
    // (l2_warm_kv_floor_s below). L40S: decodes reading 32-96 MB of KV ran at 1.2-1.8 TB/s in the table, above its
    // 864 GB/s; from 128 MB at 0.6 TB/s.
    double l2_warm_kv_floor_s(double decode_keys, int sliding) const;

    CostModel roofline_;
    std::shared_ptr<const KernelTables> tables_;
    // Tables borrowed from a sibling GPU (kernel_table_sibling): the roofline on the sibling, whose time for each
    // op scales the table's (this GPU's roofline time over it); null for a GPU's own tables.
    std::unique_ptr<CostModel> sibling_;
    std::string note_;                                     // note()
    double gemm_least_s_ = 0.0, gemm_bf16_least_s_ = 0.0;  // each GEMM table's fastest measurement
    const GridTable* gemm_ = nullptr;       // the attention weights' GEMMs
    bool dense_in_gemm_table_ = true;       // the dense MLP's weights share their format
    const GridTable* gemm_bf16_ = nullptr;  // lm_head
    // The attention tables of this layout (find_attention in the .cpp): the table of its heads; where the tables did
    // not time its KV heads per GPU (MHA: 32 and up), a table at fewer KV heads and the same query heads per KV
    // head, at batch_scale times the batch; where they did not time its query heads (Qwen2.5-7B: 28 over 4 KV
    // heads), the two tables at its KV heads that bracket them, interpolated linearly in the query heads.
    AttentionTables decode_attn_[2], prefill_attn_[2];  // full, sliding
    // The decode tables decode_attn_ points into: its GPU's tables held to the L2-warm floor
    // (held_l2_warm_decodes). Shared, so that a copy of the predictor points at live ones.
    std::vector<std::shared_ptr<const GridTable>> held_decodes_;
    // FlashAttention's backends run a mixed step's prefills and decodes as one varlen kernel call (with one KV
    // cache write), FlashInfer's as two: the floor one call pays (the least either table measured), counted
    // once for a mixed step of a one-call kernel; 0 for a two-call one.
    double mixed_attn_floor_s_[2] = {0.0, 0.0};
    double decode_least_s_[2] = {0.0, 0.0};  // each decode table's fastest call
    double kv_bytes_per_key_ = 0.0;            // K and V of one token per layer per GPU
    double kv_heads_ = 0.0;                    // KV heads per GPU
    double heads_ = 0.0, head_dim_ = 0.0;      // query heads per GPU, and their size
    // A decode table's time for `decodes` sequences at `keys` keys each. Where the table stops short of that
    // much KV (the H100 tables hold batch x context up to about 256k tokens: 160 decodes at 1,500 have no
    // measured neighbourhood), the same KV read by fewer, longer sequences (decodes / f at keys x f, f = 2,
    // 4, ...: the first the table measured), scaled by the calibrated decode fit's time at the two shapes
    // (its per-sequence items differ); -1 when none is measured. `folded`, when given, says whether it had
    // to; `fold` false keeps to the table (a table timed with a window is flat past it, so longer sequences
    // do not stand for more of them).
    double decode_lookup(const AttentionTables& dec, double decodes, double keys, bool& extrapolated,
                         bool* folded = nullptr, bool fold = true) const;
    const GridTable* moe_ = nullptr;
    double moe_least_s_ = 0.0;  // its fastest measurement
    MoeRouting routing_;          // CostConfig::moe_routing
    bool moe_rows_routed_ = false;  // moe_ was timed with routing_'s own generator (a power-law table): no correction
    // moe_ is the shape's power_law_1.01 rows standing in for the balanced rows the tables lack (A100's): no
    // correction either
    bool moe_rows_stand_in_ = false;
    // moe_ is balanced_moe_from_power_law's estimate (owned here), from moe_references_ GPUs' ratios
    std::shared_ptr<const GridTable> moe_estimated_;
    int moe_references_ = 0;
    bool moe_other_formats_ = false;  // ... of other formats (no other GPU times the shape in this one)
    const GridTable* encoder_attn_ = nullptr;  // an encoder's bidirectional attention
    Dtype expert_dtype_ = Dtype::BF16;
    const GemmCalibration* expert_cal_ = nullptr;  // the calibration's fit for the experts' format (a shared expert off the tables)
    bool shared_in_gemm_table_ = true;  // the experts share the attention weights' format (and GEMM table)
    const GridTable* mla_prefill_ = nullptr;  // MLA module tables (both or neither)
    const GridTable* mla_decode_ = nullptr;
    const GridTable* mla_gemm_ = nullptr;  // the GEMM table the MLA module's projections are costed from
    bool block_fp8_ = false;               // block-fp8 weights on the per-tensor fp8 GEMM table (gemm_) ...
    double block_fp8_scale_ = 1.0;         // ... times this (block_fp8_scale)
    // the MLA module tables' own GPU (mla_module_tables) and its GEMM table, which mla_proj_s takes the
    // module's projections off with; tables_ and mla_gemm_ for a GPU's own
    std::shared_ptr<const KernelTables> mla_tables_;
    const GridTable* mla_module_gemm_ = nullptr;
    // the unfused norm chain those tables timed (mla_norm_chain.hpp), taken off their module time; null when
    // they were timed with vLLM's fused norms
    const MlaChainCost* mla_chain_ = nullptr;
    double mla_heads_ = 0.0;                       // heads per GPU
    std::vector<std::array<double, 2>> mla_proj_;  // (n, k) of the model's MLA projections, o_proj last
    mutable std::array<std::vector<double>, 8> mla_cache_;  // (with a DSA indexer's three projections, 7)
    // (n, k) of the latent's up-projection (kv_b_proj: heads x (nope + v) from the KV LoRA rank), which a
    // prefill runs on every key it attends to, its cached context's too (mla_attention_s)
    std::array<double, 2> mla_kv_b_{};
    mutable std::vector<double> mla_kv_b_cache_;
    // those of the model the module tables timed (its hidden size and q LoRA rank), which mla_attention_s takes
    // off the module's time; the same as mla_proj_ for that model
    std::vector<std::array<double, 2>> mla_module_proj_;
    mutable std::array<std::vector<double>, 4> mla_module_cache_;
    bool mla_other_model_ = false;  // the tables timed another model's block with the same attention
    int64_t window_ = 0;  // the sliding layers' window (0: none)
    // The sliding layers' decode and prefill tables are the windowless ones (no table timed this window),
    // read at the keys the window leaves (attention_s; a prefill past a short window goes to the roofline:
    // full_past_window)
    bool sliding_full_[2] = {false, false};  // decode, prefill
    // Those decodes read the MHA layout's windowless table (FlashAttention 2 runs a windowed GQA decode
    // unpacked), and past the L2 the GQA layout's too (attention_s)
    bool sliding_unpacked_ = false;
    int64_t shared_inter_ = 0, hidden_ = 0, moe_inter_ = 0, topk_ = 0;  // per TP rank
    // vLLM's TP all-reduce (tensor_model_parallel_all_reduce) replayed in a CUDA graph: the custom
    // all-reduce, torch symmetric memory or NCCL, as vLLM picks by message size (VllmAllreduce)
    const GridTable* allreduce_ = nullptr;
    // the same called eagerly (the custom one copies into its IPC buffer)
    const GridTable* allreduce_eager_ = nullptr;
    VllmAllreduce allreduce_paths_;  // which of the three vLLM runs at each message size on this TP
    const GridTable* nccl_ = nullptr;
    // NCCL's rows borrowed from nccl_sibling, and what the source says of them; null when nccl_ is this GPU's
    // own
    std::shared_ptr<const KernelTables> nccl_tables_;
    std::string nccl_note_;
    // DP + EP with a gather backend: NCCL's all-gather and reduce-scatter over the DP group (one NVLink domain),
    // and the fused-MoE tables' EP rows read at every DP rank's tokens (gather_ranks_, else 1)
    const GridTable* ep_gather_ = nullptr;
    const GridTable* ep_scatter_ = nullptr;
    int64_t gather_ranks_ = 1;
    // GEMM time by row count, per GEMM op kind (n and k are fixed per kind): the simulator's hot path.
    mutable std::array<std::vector<double>, NUM_OP_KINDS> gemm_cache_;
    mutable std::vector<double> moe_cache_;  // the fused-MoE layer time by token count, as gemm_cache_
};

// Where GEMM table `t` timed (m, n, k) with the weights in L2: the least time serving can take for it, the
// table's fastest kernel (`least_s`, its fixed cost) plus streaming the n x k weights from memory at the
// calibration's memory efficiency (the profile's without one). 0 where the table's working set exceeded the L2.
// Only the L40S tables (96 MB of L2 before 864 GB/s of GDDR6) lie below it at any size that matters: up to 2x at
// 8-16 MB of weights and few rows; on H100, H200, B200 and A100 the kernel's fixed cost hides the L2.
double l2_warm_gemm_floor_s(const GridTable& t, double least_s, const GpuProfile& gpu, const GemmCalibration* cal,
                            double m, double n, double k);

// Where a decode-attention table timed a call reading `kv_bytes` of KV (one layer's, per GPU) with it in L2: the
// least serving can take, the table's fastest call (`least_s`) plus streaming that KV at the calibration's memory
// efficiency; 0 where the KV exceeds the L2.
double l2_warm_kv_floor_s(const GpuProfile& gpu, const GemmCalibration* cal, double least_s, double kv_bytes);

// Decode-attention table `t` with every point timed with its KV in L2 held to l2_warm_kv_floor_s (the KV of
// batch x min(step, window) keys at the table's own KV heads, head size and KV dtype; its fastest call as
// least_s), so that a lookup between a point the L2 held and one it did not interpolates between two times of
// KV streamed from memory, not between an L2 read and a memory read. Points past the L2, and tables of
// another family, are unchanged. On the cold points of the shipped tables whose leave-one-out neighbours
// include a held one (docs/fidelity.md, "Decode attention between an L2-warm point and a cold one"): L40S
// median / p90 22.8% / 28.7% -> 3.0% / 8.9%, B200 13.6% / 17.1% -> 6.4% / 11.2%, H100 11.8% / 16.3% ->
// 7.7% / 11.6%.
GridTable held_l2_warm_decodes(const GridTable& t, const GpuProfile& gpu, const GemmCalibration* cal);
// The KV one call of decode-attention table `t` read at grid point (b, c): batch x min(step, window) keys of
// K and V at the table's own KV heads, head size and KV dtype (0 for a table of another family or layout).
double decode_table_kv_bytes(const GridTable& t, size_t b, size_t c);

// Where fused-MoE table `t` timed `tokens` tokens with the experts they hit in L2 (GridTable::moe_working_set_bytes
// within the GPU's L2): the least serving can take, the longer of the table's fastest call (`least_s`, its 1-token
// call, which streams top-k experts itself) and streaming the experts a step of that many tokens hits
// (experts_reached under `routing`, of the table's experts / ep) at the calibration's memory efficiency; 0 where the
// working set exceeded the L2. L40S (96 MB of L2): small experts at 1-16 tokens ran at a median 1.0-1.5x its
// memory's peak in the table, up to 3.7x; past the L2, at 0.7x. On the cold points of 1-16 tokens (ep 1, bf16 and
// fp8) this bound is a median 0.89-0.94 of the measured time.
double l2_warm_moe_floor_s(const GridTable& t, double least_s, const GpuProfile& gpu, const GemmCalibration* cal,
                           double tokens, const MoeRouting& routing = {});

// Fused-MoE table `t`'s time `table_s` for `tokens` tokens (timed with balanced routing: min(T k, E) experts
// reached), with the streaming of the experts a router does not reach taken off: a router's T x k picks reach
// `reached` experts, by default (< 0) expected_distinct_experts(E, k, T), independent picks. The table's own
// time at the two counts' token equivalents prices the difference, of which `share` is taken off (< 0: the
// fitted share below for the call's regime; kernel_table_predictor.cpp says how and how it was checked).
double routing_correction(const GridTable& t, double tokens, double table_s, double reached = -1.0, double share = -1.0);
// The share of routing_correction's difference taken off, fitted by bench/fidelity.cpp on the power-law rows
// of five GPUs' tables: calls whose T x k picks fit in the E experts (balanced routing gives each pick its
// own expert), and calls with more picks than experts. Refitted when the tables' interpolation changes (0.76
// and 0.83 before the fortieth session read a balanced table linearly over its picks).
inline constexpr double ROUTING_SHARE_FEW_PICKS = 0.75;
inline constexpr double ROUTING_SHARE_MANY_PICKS = 0.80;

// Balanced fused-MoE rows estimated from a GPU's power_law_1.01 rows `law` (A100's tables time the fused MoE
// with power-law routing only): each point times the median, over the other shipped GPUs (not `own_gpu`, a
// kernel-table name) whose tables hold both for the same format, shape, TP and EP, of balanced / power_law_1.01
// at that token count. The generator's draws are the same on every GPU, and so is the routing the two rows
// differ by: leaving each GPU out, this predicts its balanced rows (bf16) at a median |error| of 2.9-5.4%
// against 4.8-10.6% for the power-law rows as they are (bench/fidelity.cpp). The token counts no other GPU measured are left
// out; nullptr where fewer than two remain. `references` (when given) is set to the most tables a point's
// median took (one a GPU; of other formats, below, one a GPU and format). Memoised per process.
// Where no other GPU times the shape, TP and EP in `law`'s format, the ratios of every other format they time
// it in are taken (`other_formats` is set): the ratio is the routing's, which the formats share (leaving each GPU
// out, bf16 balanced rows from the other GPUs' other-format ratios: a median 4.4% / p90 16.0% where their bf16
// ratios give 3.9% / 16.8%). `only_other_formats` takes those even where the format's own exist (the bench's
// check).
std::shared_ptr<const GridTable> balanced_moe_from_power_law(const GridTable& law, const std::string& own_gpu,
                                                             int* references = nullptr, bool* other_formats = nullptr,
                                                             bool only_other_formats = false);

// The fused-MoE fit's correction for `model`, whose expert shape no table times (CostConfig::moe_fit_scale),
// from the table nearest to it among those `fit_format`'s fit prices (GridTable::moe_fit_format: the Marlin
// tables of either format for int4) at `match`'s TP and EP (gated experts; balanced rows, else
// power_law_1.01 rows, A100's): nearest by the sum of |log| ratios of hidden size, expert width, top-k and
// expert count. At each of its token counts whose experts do not fit in L2, sqrt(measured / fit) for the same
// call. Leaving each shape out of the fit (bench/fidelity.cpp), this took the bf16 median |error| per GPU
// from 4.2-13.5% to 3.1-9.1% and per-tensor fp8's on Hopper from 9.8-11.4% to 6.8-7.3%; docs/fidelity.md has
// every format. nullptr where no table qualifies. `skip_own_shape`: pass over the tables of the model's own
// shape (the bench's leave-one-shape-out; the predictor asks only where there are none).
std::shared_ptr<const MoeFitScale> moe_fit_scale(const KernelTables& t, const GpuProfile& gpu,
                                                 const MoeCalibration& fit, const std::string& fit_format,
                                                 const ModelCard& model,
                                                 std::map<std::string, std::string> match,
                                                 bool skip_own_shape = false);

// The step-time predictor a deployment gets: "auto" (the kernel tables where the GPU has them, else its
// calibrated roofline, else the plain roofline), "tables" (an error when the GPU has none), "calibrated" (the
// calibration in `config`, else the GPU's shipped one) or "roofline" (the plain model, no calibration). The
// roofline under the tables is the calibrated one where a calibration exists. With config.async_scheduling, the
// step's host time hides behind its GPU work (AsyncHostPredictor).
std::unique_ptr<StepTimePredictor> make_step_predictor(const ModelCard& model, const GpuProfile& gpu,
                                                       const CostConfig& config, const std::string& which = "auto");

}  // namespace headroom
