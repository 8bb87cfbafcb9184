// Measured kernel latencies per GPU (hardware/kernels/<gpu>.hkt, written by `python -m headroom.kernels
// import` from NVIDIA AIConfigurator's published database of vLLM kernels; see hardware/kernels/SOURCES.md).
// A file holds tables; a table is a dense grid of latencies over named axes (GEMM: m x n x k), tagged with
// key=value attributes (dtype=bf16, heads=32, ...). Lookups interpolate multilinearly. Along the token-count
// axes (a GEMM's rows `m`, a fused MoE's `num_tokens`, a prefill's length `isl`) in log(latency) over
// log(tokens) (a GEMM's rows counted by its kernel's tiles: GridTable::coordinate), which follows a power law
// that changes along the axis (a prefill's attention: linear in its length at first, then quadratic). Along
// every other axis (GEMM columns and depth, batch, context, message size) in latency over the axis value: a
// kernel's time there is a fixed cost plus work that grows linearly, and linear interpolation is exact for
// that where log-log is not. Chosen by leave-one-out on the shipped tables (bench/fidelity,
// docs/fidelity.md): with log-log on every axis H100's decode-attention batch axis missed by 3.9% / 15.2%
// (median / p90), linearly by 2.3% / 12.7%; the token axes do as well or better log-log (prefill length 3.3%
// / 15.3% against 4.6% / 13.2%, and 3.7% / 16.0% against 8.8% / 20.1% on A100; GEMM rows alike either way).
// A fused MoE timed with balanced routing is the exception among the token axes: linear over the experts its
// tokens reach (GridTable::moe_picks_coordinate), or, for vLLM's Marlin MoE on a Hopper or Blackwell, over
// the rows of the blocks it runs (GridTable::marlin_moe_rows_coordinate).
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "headroom/hardware/gpu_profile.hpp"

namespace headroom {

// A count x as the tiles of `tile` it fills, less a tenth of their padding: r - 0.1 (r - x), r = tile x
// ceil(x / tile). A kernel runs whole tiles (of rows, keys or CTAs a wave), so its time steps where x crosses
// a multiple of the tile and barely moves between; the tenth keeps the map increasing, so that two counts
// within one tile still order. The GEMM rows' and the encoder tables' coordinates (GridTable::coordinate).
inline double tiled(double x, double tile) {
    const double r = tile * std::ceil(x / tile);
    return r - 0.1 * (r - x);
}

// The rows vLLM's Marlin MoE kernel (int4 and MXFP4 weight-only experts) computes for a call: `pairs`
// token-expert pairs (every pick of the call, T k) of which `local_pairs` fall on the `experts_read` experts
// it reaches among the GPU's `local_experts`. fused_marlin_moe (vllm/model_executor/layers/fused_moe/
// fused_marlin_moe.py) takes the first block size b of 8, 16, 32, 48 and 64 with pairs / local_experts / b <
// 0.9 (64 if none) and pads each expert's tokens to whole blocks (moe_align_block_size), so an expert of n
// tokens runs b ceil(n / b) rows: experts_read x b x ceil(max(1, local_pairs / experts_read) / b), each
// expert taken at the mean (exact for balanced routing). 0 where nothing is read.
double marlin_moe_rows(double pairs, double local_pairs, double experts_read, double local_experts);

struct GridTable {
    std::string family;                         // gemm, prefill_attention, decode_attention, moe, vllm_allreduce, nccl
    std::map<std::string, std::string> attrs;   // dtype=bf16 heads=32 ...
    std::vector<std::string> axis_names;        // m n k
    std::vector<std::vector<double>> axes;      // ascending values of each axis
    std::vector<float> values_ms;               // row-major over the axes; NaN = not measured
    size_t line = 0;                            // the line of the file its `table` line is on
    // whether axis i interpolates log-log (a token count: m, num_tokens, isl) rather than linearly (see
    // above), except a balanced fused-MoE table's tokens, which interpolate linearly over the experts the
    // call reaches (moe_picks_coordinate)
    bool log_axis(size_t i) const {
        if (i >= axis_names.size()) return false;
        const std::string& a = axis_names[i];
        if (a == "num_tokens" && balanced_moe()) return false;
        return a == "m" || a == "num_tokens" || a == "isl";
    }
    // Whether a lookup between two grid points of axis i bends with the axis' next points out: a prefill's
    // length (`isl`) in the prefill-attention and MLA-prefill tables, where a prompt's attention grows
    // linearly in its length at first and then quadratically, so that the power law changes between two grid
    // points. There the lookup takes the quadratic in log(latency) over log(isl) through the two grid points
    // around it and the next one out on each side (the geometric mean of the two, or the one there is at an
    // end of the axis), held between the two points' values. Chosen by the tables' leave-one-out along isl
    // (docs/fidelity.md, "A prefill's length on a curve"): prefill attention H100 3.3% / 15.3% -> 2.9%
    // / 11.7% (median / p90), A100 3.7% / 16.0% -> 2.1% / 9.8%, L40S 3.7% / 21.2% -> 3.5% / 14.1%; MLA
    // prefill H100 2.2% / 12.4% -> 1.7% / 9.5%. Not for the encoder tables' irregular lengths, the decode
    // tables' axes, GEMM rows or fused-MoE tokens, which the same rule made worse.
    bool curved_axis(size_t i) const {
        return i < axis_names.size() && axis_names[i] == "isl" &&
               (family == "prefill_attention" || family == "mla_prefill");
    }
    // The coordinate axis i interpolates over at the value x: x itself, except a GEMM's rows m past 16, which
    // count the rows of the 64-row tiles the kernel computes, less a tenth of their padding:
    // r - 0.1 (r - m), r = 64 ceil(m / 64). A GEMM kernel runs whole tiles, so its time steps where m crosses
    // a multiple of the tile and barely moves between (the tables time m and m + 1 at such multiples to catch
    // the steps: 128 / 129, 256 / 257, ...); interpolating over the tile rows follows those steps where
    // interpolating over m smooths them across the 255 rows between two such pairs. The tenth keeps the map
    // increasing, so points within one tile still order. Chosen by the tables' leave-one-out along m
    // (docs/fidelity.md, "GEMM rows by the tile"): median / p90 over m on H100 bf16 2.8% / 13.3% -> 2.7%
    // / 12.6%, B200 3.7% / 15.4% -> 3.2% / 13.4%, A100 4.4% / 17.9% -> 3.3% / 16.2%, H100 fp8 3.1% / 26.8%
    // -> 2.5% / 18.9%; the tenth anywhere from 0.02 to 0.15 moves no median by more than 0.1 point.
    // An encoder table's length (`isl`) counts FlashAttention's tiles the same way, in both of the tiles a
    // bidirectional call runs: the query rows' and the keys' (encoder_isl_coordinate).
    // Its batch counts the waves of CTAs the call runs over the GPU's SMs (encoder_batch_coordinate), at the
    // length of `point`, the lookup's point (one value per axis; x itself without it).
    double coordinate(size_t i, double x, const double* point = nullptr) const {
        if (i >= axis_names.size()) return x;
        const std::string& a = axis_names[i];
        if (a == "m" && family == "gemm") return x <= 16.0 ? x : tiled(x, 64.0);
        if (a == "num_tokens" && balanced_moe()) {
            return marlin_moe_blocks() ? marlin_moe_rows_coordinate(x) : moe_picks_coordinate(x);
        }
        if (family == "encoder_attention") {
            if (a == "isl") return encoder_isl_coordinate(x, point);
            if (a == "batch_size" && point) return encoder_batch_coordinate(x, point);
        }
        return x;
    }
    // An encoder-attention table's length x as the work of the call that runs it: each CTA takes one query
    // tile of one head of one sequence and walks the ceil(x / k) key tiles, and the CTAs run in waves of one
    // an SM. So at the batch b of `point`: waves x R(x, k), where u = b x heads x ceil(x / q) CTAs make waves
    // = ceil(u / SMs) less a tenth of the last wave's idle share (ceil(u / SMs) - 0.1 (ceil(u / SMs) - u /
    // SMs)) and R(x, t) = r - 0.1 (r - x), r = t ceil(x / t), counts the keys by their tiles less a tenth of
    // the padding as a GEMM's rows are. A short call that fills no wave steps with its key tiles alone; a
    // long one with both. Without the SM count (sm_count) or the point: sqrt(R(x, q) R(x, k)), the tiles of
    // both kinds. The tiles (q x k) are those FlashAttention picks for the table's kernel and head size
    // (encoder_attention_tiles); x itself where the table names another kernel or head size. Chosen by the
    // tables' leave-one-out along isl (docs/fidelity.md, "An encoder's length and batch by FlashAttention's
    // tiles"): median / p90 over the five GPUs' tables 4.7% / 19.8% -> 3.0% / 13.8% by the tiles, H100 4.5% /
    // 17.0% -> 2.3% / 9.6% and L40S 4.8% / 21.9% -> 3.0% / 13.8% with the waves.
    double encoder_isl_coordinate(double x, const double* point = nullptr) const;
    // Whether this is a fused-MoE table timed with balanced routing (`distribution=balanced`) that names its
    // top-k and experts. AIConfigurator's collector spreads such a call's T x k picks round-robin over
    // min(T x k, E) experts, so its time grows with the experts' weights it streams, linearly in T x k, until
    // T x k reaches E, and then with the tokens' compute alone (the H100 table of 256 experts, top-8, hidden
    // 2,048: 297 us at 16 tokens, 553 at 32, 556 at 48).
    bool balanced_moe() const;
    // A balanced fused-MoE table's tokens T as the picks T x k the call spreads over its experts, those past
    // the E experts counted at a tenth (as a tile's padding is: `tiled`): min(T k, E) + 0.1 max(0, T k - E).
    // Its tables interpolate linearly in it, in latency, so that a count between two grid points takes the
    // experts it reaches, where log-log over T had spread the step at T k = E over the segment around it.
    // Chosen by the tables' leave-one-out along the tokens (docs/fidelity.md, "A balanced fused MoE by the
    // experts it reaches"): the balanced rows of the five GPUs that have them, median / p90 1.63% / 12.7%
    // log-log, 1.31% / 12.2% linear over T, 1.28% / 10.1% linear over this; the tenth anywhere from 0.02 to
    // 0.2 moves the median by at most 0.1 point.
    double moe_picks_coordinate(double tokens) const;
    // Whether a balanced fused-MoE table's tokens count the rows of the blocks Marlin runs
    // (marlin_moe_rows_coordinate) rather than the picks: its kernel is vLLM's Marlin MoE (a kernel name with
    // "marlin": the int4 and MXFP4 weight-only experts) and the GPU it was timed on is a Hopper or Blackwell
    // (compute capability 9.0 or more). Marlin multiplies with Ampere's mma.sync, so on those GPUs a block's
    // compute, not the weights' streaming, sets its time: the tables' time doubles where an expert's tokens
    // first need a second block (H100, Kimi-K2's shape at int4: 7.9 ms at 3,072 tokens, 64 rows an expert;
    // 15.1 ms at 4,096, 85). On L40S, whose 864 GB/s streams the weights for longer, the tables step far less
    // (16.6 -> 18.9 ms) and its leave-one-out is better over the picks (docs/fidelity.md, "Marlin's fused MoE
    // by the blocks it runs").
    bool marlin_moe_blocks() const;
    // Whether a fused-MoE table times vLLM's Marlin MoE: its kernel name says "marlin" (the importer's
    // names: vllm_compressedtensorswna16marlinmoe_marlin_marlinexperts for int4,
    // vllm_compressedtensorsw4a4mxfp4moe_marlin_... and vllm_gptossmxfp4moe_marlin_... for MXFP4).
    bool marlin_moe() const;
    // The fused-MoE fit a table's rows belong to (Calibration::moe, by kernel_format's names): "int4" for
    // vLLM's Marlin MoE whatever the weights (marlin_moe: the int4 fit prices Marlin's MXFP4 rows too,
    // calibration.hpp), else the table's dtype.
    std::string moe_fit_format() const;
    // A balanced Marlin fused-MoE table's tokens T as the rows its blocks run (marlin_moe_rows), less a tenth
    // of their padding (as a GEMM's rows count their tiles: `tiled`): R - 0.1 (R - T k / ep). Balanced
    // routing gives each of the min(T k, E) / ep experts it reaches on the rank max(1, T k / E) tokens, and
    // the block size follows the T k picks over the rank's E / ep experts, so
    // R = min(T k, E) / ep x b x ceil(max(1, T k / E) / b).
    double marlin_moe_rows_coordinate(double tokens) const;
    // An encoder-attention table's batch b at the length of `point` as the sequences whole waves of CTAs
    // would hold, less a tenth of the idle slots: r - 0.1 (r - b), r = waves x SMs / per, per = heads x
    // ceil(isl / q) CTAs a sequence (q: the query tile, encoder_attention_tiles), waves = ceil(b x per /
    // SMs). The call runs b x per CTAs, one an SM at a time, so its time steps where a wave fills and barely
    // moves while the last wave fills. b itself where the SM count (sm_count) or the tiles are not known.
    // Chosen by the tables' leave-one-out along the batch (docs/fidelity.md, "An encoder's length and batch
    // by FlashAttention's tiles"): H100 3.1% / 12.9% -> 2.1% / 9.5%, GB200 4.0% / 16.9% -> 2.0% / 11.7%,
    // L40S 4.4% / 16.7% -> 3.9% / 14.0%.
    double encoder_batch_coordinate(double b, const double* point) const;
    // What both encoder coordinates read off the table: its tiles (encoder_attention_tiles), heads and the
    // indices of its batch and length axes (axis_names.size() where one is missing).
    struct EncoderGeometry {
        double q = 0.0, k = 0.0, heads = 0.0;
        size_t batch = 0, isl = 0;
    };
    EncoderGeometry encoder_geometry() const;

    std::string attr(const std::string& key) const;
    int64_t attr_int(const std::string& key) const;  // -1 when absent
    size_t index(const std::vector<size_t>& at) const { return index(at.data()); }
    size_t index(const size_t* at) const;  // one grid index per axis
    double value_ms(const std::vector<size_t>& at) const { return values_ms[index(at)]; }

    // Latency in seconds at `x` (one value per axis). nullopt when x lies outside an axis' range or a
    // surrounding grid point was not measured. `skip`, if given, is a grid point (flat index) treated as
    // not measured: the leave-one-out cross-validation predicts each point without itself.
    std::optional<double> lookup_s(const double* x, size_t n, int64_t skip = -1) const;
    std::optional<double> lookup_s(const std::vector<double>& x, int64_t skip = -1) const { return lookup_s(x.data(), x.size(), skip); }
    std::optional<double> lookup_s(std::initializer_list<double> x, int64_t skip = -1) const { return lookup_s(x.begin(), x.size(), skip); }
    // The same, with each coordinate clamped into its axis' range; `clamped` says whether any was. Past the
    // largest value of axis i the time is scaled by (x / max)^power[i] (no scaling where `power` is empty):
    // the axis' power law carries the nearest measurement beyond the table.
    // (The pointer forms allocate nothing: the simulator looks up every step.)
    std::optional<double> lookup_clamped_s(const double* x, size_t n, bool& clamped, const double* power, size_t np) const;
    std::optional<double> lookup_clamped_s(std::initializer_list<double> x, bool& clamped,
                                           std::initializer_list<double> power = {}) const {
        return lookup_clamped_s(x.begin(), x.size(), clamped, power.begin(), power.size());
    }
    // Leave-one-out: grid point `at` predicted without itself from its two neighbours along `axis` (as a lookup)
    // (nullopt at the ends of the axis or next to an unmeasured point).
    std::optional<double> loo_s(const std::vector<size_t>& at, size_t axis) const;
    // Bytes per unit of a collective table's `message_size` axis. AIConfigurator publishes the message size as
    // a count of elements of the collective's dtype, not bytes (its collector all-reduces a tensor of that many
    // bf16 elements, collector/collect_all_reduce.py; its NCCL int8 tables take half the fp16 time at the same
    // size): 2 for vLLM's custom all-reduce (bf16) and NCCL fp16, 1 for NCCL int8.
    double message_bytes_per_unit() const;
    // A GEMM table's working set while it was timed, in bytes, at m rows against an n x k weight. AIConfigurator's
    // GEMM collector (collector/vllm/collect_gemm.py) times `copies` distinct layers one after another under one
    // CUDA graph, repeatedly: 6 for bf16 and per-tensor fp8, 1 for block fp8 and NVFP4 (dtype fp4; an attribute
    // `weight_copies=N` overrides). Where copies x (weight + output) + input fits in the GPU's L2 the weights stay
    // there between runs and the table times an L2 read, not the HBM read serving pays each step.
    double gemm_working_set_bytes(double m, double n, double k) const;
    // Bytes per weight of the table's dtype: 2 for bf16 / fp16, 1 for fp8, block fp8 and int8, 0.5 for the 4-bit
    // formats (fp4 / NVFP4, MXFP4, int4; their scales left out).
    double gemm_weight_bytes_per_element() const;
    // Whether a fused-MoE table timed gated experts (gate, up and down projections: SwiGLU and the like), as it
    // does unless its `activation` attribute names a non-gated one (vLLM's "..._no_mul", e.g. relu2_no_mul:
    // Nemotron-H's experts, up and down only; python/headroom/kernels.py sets it).
    bool moe_gated() const;
    // One expert's weights in a fused-MoE table (gate, up and down: 3 x hidden x inter / tp weights; 2 x for
    // non-gated experts), in bytes.
    double moe_expert_bytes() const;
    // A fused-MoE table's working set while it was timed at `tokens` tokens. AIConfigurator's MoE collector
    // (collector/vllm/collect_moe.py) builds one copy of the experts and runs the fused kernel on the same tokens
    // repeatedly, routed round-robin ("balanced"): the experts hit, min(tokens x top-k, experts / ep), stay in L2
    // between runs where they fit.
    double moe_working_set_bytes(double tokens) const;
    double least_s() const;  // the table's fastest measurement (0 when it holds none)
    // The streaming multiprocessors of the GPU the table was measured on: the shipped profile's
    // (kernel_table_profile) for tables under a database GPU name, 0 where not known.
    double sm_count = 0.0;
    // The compute capability of that GPU (9.0 for H100), 0 where not known.
    double compute_capability = 0.0;
};

// The shipped GPU profile of a kernel-table GPU name (the database's directory: "h100_sxm" -> "h100-sxm"),
// "" where headroom ships none; and the pairs themselves (profile, tables).
const std::vector<std::pair<std::string_view, std::string_view>>& kernel_table_profiles();
std::string kernel_table_profile(std::string_view table_gpu);

// The query and key tiles (rows x columns of the score matrix one CTA computes) of a bidirectional,
// non-paged FlashAttention forward call by the kernel a table names and its head size, {0, 0} where not
// known:
// - FlashAttention 3 (Hopper; a kernel name with "fa3"), hopper/tile_size.h, tile_size_fwd_sm90: head sizes
//   up to 64 run 192 x 192 (non-causal), up to 96 192 x 144;
// - FlashAttention 4 (Blackwell, "fa4"), flash_attn/cute/flash_fwd_sm100.py: two 128-row query tiles a CTA
//   (q_stage 2) over 128-key tiles, 256 x 128, for head sizes up to 128;
// - FlashAttention 2 ("fa2"), csrc/flash_attn/src/flash_fwd_launch_template.h: head sizes up to 64 run
//   128 x 128, up to 96 128 x 64 (non-causal; on sm86 / sm89 and sm80 alike).
// Larger head sizes are left out (the tiles change there; the shipped tables, at head sizes 64, 72 and 80,
// check none of them).
std::pair<double, double> encoder_attention_tiles(std::string_view kernel, int64_t head_dim);

struct KernelTables {
    std::string gpu;     // the database's GPU directory name (h100_sxm)
    std::string device;  // the device the tables were measured on (NVIDIA H100 80GB HBM3)
    std::string source;  // provenance line
    std::vector<GridTable> tables;
    std::string file;  // where they were read from ("hardware/kernels/h100_sxm.hkt" for the shipped ones)

    // The tables of a family whose attributes include every pair of `match`.
    std::vector<const GridTable*> find(std::string_view family, const std::map<std::string, std::string>& match = {}) const;
    // The first of them (in file order), nullptr when none.
    const GridTable* find_first(std::string_view family, const std::map<std::string, std::string>& match = {}) const;
    // The framework version of a family's tables ("vllm-0.24.0"), "" when absent.
    std::string framework(std::string_view family) const;
};

// Parses .hkt text; throws HardwareError naming `file` and the line on malformed input.
KernelTables parse_kernel_tables(std::string_view text, const std::string& file);
// Throws HardwareError naming the file and the table's line where a table the predictors read (gemm,
// attention, moe, MLA, encoder attention, all-reduce, NCCL) has other axes or lacks an attribute of its
// family (the importer's layout, python/headroom/kernels.py). Tables of other families are kept and read by
// nothing.
void check_kernel_tables(const KernelTables& t);
// Reads a .hkt file and checks it (check_kernel_tables): a user's own tables.
KernelTables load_kernel_tables(const std::string& path);
// The shipped tables of a GPU (by the database's directory name, e.g. "h100_sxm"), parsed once per process;
// nullptr when none ship.
std::shared_ptr<const KernelTables> shipped_kernel_tables(const std::string& gpu);
std::vector<std::string> shipped_kernel_table_gpus();

}  // namespace headroom
