// Step time from measured kernel tables; see kernel_table_predictor.hpp for what each op reads.
#include "headroom/core/kernel_table_predictor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>

#include "headroom/hardware/profile_loader.hpp"
#include "headroom/core/host_overlap.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/core/metrics.hpp"

namespace headroom {

namespace {

// A table's time at `x` (GridTable::lookup_clamped_s: clamped into the measured range, scaled by each axis'
// power law past its end), or -1 without a table or a measured neighbourhood. `extrapolated` accumulates.
double lookup_scaled(const GridTable* t, std::initializer_list<double> x, std::initializer_list<double> power,
                     bool& extrapolated) {
    if (!t) return -1.0;
    bool clamped = false;
    const auto v = t->lookup_clamped_s(x.begin(), x.size(), clamped, power.begin(), power.size());
    extrapolated = extrapolated || clamped;
    return v ? *v : -1.0;
}

// The attention tables for `heads` query and `kv_heads` KV heads per GPU (with `match`'s other attributes).
// FlashAttention's work items are (sequence, KV head) pairs, each reading one head's keys for its group of
// heads / kv_heads queries, so where the tables did not time kv_heads (the decode tables stop at 8; MHA models run
// 32 and more per GPU) B sequences cost what B x kv_heads / h sequences cost over h KV heads at the same group
// size: the table of the most KV heads below kv_heads that holds heads / kv_heads x h query heads. Checked on the
// tables themselves (bench/fidelity: the 8-KV-head decode points from the 4, 2 and 1 head tables at 2, 4 and 8
// times the batch). Where neither holds the query heads (28 over 4 KV heads: the tables time 24 and 32), the two
// tables at kv_heads that bracket them, their times linear in the query heads between (bench/fidelity: each
// table's points from its two neighbours in query heads, 1.0-3.0% median).
AttentionTables find_attention(const KernelTables& t, const std::string& family,
                               std::map<std::string, std::string> match, int64_t heads, int64_t kv_heads) {
    AttentionTables out;
    match["heads"] = std::to_string(heads);
    match["kv_heads"] = std::to_string(kv_heads);
    if ((out.lo = t.find_first(family, match))) return out;
    if (kv_heads <= 0 || heads % kv_heads != 0) return out;
    const int64_t group = heads / kv_heads;
    for (int64_t h = kv_heads - 1; h >= 1; --h) {
        match["heads"] = std::to_string(group * h);
        match["kv_heads"] = std::to_string(h);
        if ((out.lo = t.find_first(family, match))) {
            out.batch_scale = static_cast<double>(kv_heads) / static_cast<double>(h);
            return out;
        }
    }
    match.erase("heads");
    match["kv_heads"] = std::to_string(kv_heads);
    const GridTable *below = nullptr, *above = nullptr;
    for (const GridTable* g : t.find(family, match)) {
        const int64_t h = g->attr_int("heads");
        if (h < heads && (!below || h > below->attr_int("heads"))) below = g;
        if (h > heads && (!above || h < above->attr_int("heads"))) above = g;
    }
    if (!below || !above || below->axes != above->axes) return out;
    const double lo = static_cast<double>(below->attr_int("heads")), hi = static_cast<double>(above->attr_int("heads"));
    out.lo = below;
    out.hi = above;
    out.w = (static_cast<double>(heads) - lo) / (hi - lo);
    return out;
}

// Keys one sequence's attention reads in the step: a speculative verify reads its KV once for its k + 1 queries
// (memory-bound like a decode), so it counts as a decode at its full length, capped by a window; else
// keys_seen.
double attention_keys(const SequenceWork& s, int64_t window) {
    if (s.spec > 0) {
        const int64_t held = s.context + s.new_tokens;
        return static_cast<double>(window > 0 ? std::min(held, window) : held);
    }
    return keys_seen(s.context, s.new_tokens, window, false);
}

// A causal prefill of length L sees L (L + 1) / 2 keys: the length (at least 1) that sees `mean_keys`.
double causal_length(double mean_keys) { return std::max(1.0, (std::sqrt(1.0 + 8.0 * mean_keys) - 1.0) / 2.0); }

// Whether the windowless tables price a prefill past a window no table timed, at the keys it reads.
// FlashAttention walks a window's band in tiles of 128 keys, one tile more per query tile than the window's
// keys fill, so the windowless call of as many keys computes up to 128 / window less: up to 1/8 from a window
// of 1,024 keys. On the tables' own windows (bench/fidelity, "window past its keys"), over all GPUs, median /
// p90: windows of 1,024 and 8,192 keys 7.4% / 25.6% from the windowless tables against 21.9% / 54.2% on the
// calibrated roofline; 128 keys 49.9% / 71.5% against 19.3% / 50.5%, so a shorter window keeps the roofline.
// A decode past the window reads the windowless table at the window's keys whatever the window (1,024 and
// 8,192: 5.3% / 25.5% against 16.5% / 51.8%; 128: 11.0% / 32.2% against 13.6% / 35.0%).
bool full_past_window(int64_t window) { return window >= 1024; }

// The prompt length whose prefill under a window of `window` keys sees `mean_keys` (keys_seen's count
// inverted): the causal length while the window covers the prompt whole, then one more token for each
// `window` keys.
double windowed_length(double mean_keys, int64_t window) {
    const double w = static_cast<double>(window);
    const double inside = w * (w + 1.0) / 2.0;  // keys_seen(0, window, window)
    if (window <= 0 || mean_keys <= inside) return causal_length(mean_keys);
    return w + (mean_keys - inside) / w;  // every token past the window sees `window` keys
}

// The ops no table times that vLLM runs as one small kernel per call: norms (a residual add runs inside the norm
// after it: fused_add_rms_norm), RoPE, the activation, the router, embedding and sampling. Over a few tokens
// their bytes take nanoseconds, and the kernel's fixed cost in a CUDA graph (its launch from the graph, ramp-up
// and drain) is its time.
bool is_small_kernel(OpKind k) {
    switch (k) {
        case OpKind::EMBEDDING:
        case OpKind::INPUT_NORM:
        case OpKind::ROPE:
        case OpKind::POST_ATTENTION_NORM:
        case OpKind::ACTIVATION:
        case OpKind::ROUTER:
        case OpKind::FINAL_NORM:
        case OpKind::SAMPLING: return true;
        default: return false;
    }
}

bool is_gemm(OpKind k) {
    return k == OpKind::QKV_PROJ || k == OpKind::O_PROJ || k == OpKind::GATE_UP_PROJ || k == OpKind::DOWN_PROJ ||
           k == OpKind::LM_HEAD;
}

}  // namespace

std::string kernel_table_gpu(const GpuProfile& gpu) {
    for (const auto& [profile, tables] : kernel_table_profiles()) {
        if (gpu.name == profile) return std::string(tables);
    }
    const std::string sibling = kernel_table_sibling(gpu);
    return sibling.empty() ? "" : kernel_table_gpu(load_gpu(sibling));
}

std::string kernel_table_sibling(const GpuProfile& gpu) { return gpu.name == "h100-pcie" ? "h100-sxm" : ""; }

std::string nccl_sibling(const GpuProfile& gpu) { return gpu.name == "gb200" ? "b200" : ""; }

bool tables_by_name(const KernelTables& t, const GpuProfile& gpu) { return t.gpu == kernel_table_gpu(gpu); }

std::shared_ptr<const KernelTables> nccl_sibling_tables(const KernelTables& t, const GpuProfile& gpu) {
    const std::string sibling = nccl_sibling(gpu);
    if (sibling.empty() || !tables_by_name(t, gpu)) return nullptr;
    return shipped_kernel_tables(kernel_table_gpu(load_gpu(sibling)));
}

std::string kernel_tables_mismatch(const KernelTables& t, const GpuProfile& gpu) {
    if (tables_by_name(t, gpu)) return "";
    const std::string own = kernel_table_gpu(gpu);  // its shipped tables' name, or its sibling's; "" for none
    const std::vector<std::string> shipped = shipped_kernel_table_gpus();
    const bool anothers = std::find(shipped.begin(), shipped.end(), t.gpu) != shipped.end();
    // a name no shipped tables have: this GPU's own measurements, where it ships none of its own
    if (!anothers && (own.empty() || !kernel_table_sibling(gpu).empty())) return "";
    if (own.empty()) {
        return fmt::format(
            "{} holds the tables of {} ({}), another GPU's; the deployment runs {} (give its own "
            "measurements, under a gpu name of their own)",
            t.file, t.gpu, t.device, gpu.name);
    }
    return fmt::format(
        "{} holds the tables of {} ({}); the deployment runs {}, whose tables are {}'s (import that "
        "GPU's directory, or name no tables to use the shipped ones)",
        t.file, t.gpu, t.device, gpu.name, own);
}

std::string calibration_mismatch(const Calibration& c, const GpuProfile& gpu) {
    if (c.gpu == gpu.name) return "";
    return fmt::format(
        "{} is fitted for {}; the deployment runs {} (fit one with `headroom calibrate --gpu {}`, or "
        "carry a sibling's fit with --from)",
        c.file.empty() ? std::string("the calibration") : c.file, c.gpu, gpu.name, gpu.name);
}

void check_own_cost_inputs(const CostConfig& c, const GpuProfile& gpu) {
    if (c.calibration) {
        if (std::string why = calibration_mismatch(*c.calibration, gpu); !why.empty()) {
            throw PlanError("--calibration", std::move(why));
        }
    }
    if (c.kernel_tables) {
        if (std::string why = kernel_tables_mismatch(*c.kernel_tables, gpu); !why.empty()) {
            throw PlanError("--kernel-tables", std::move(why));
        }
    }
}

std::vector<std::array<double, 4>> block_fp8_kernel_points(const KernelTables& t) {
    std::vector<std::array<double, 4>> out;
    const auto block = t.find("gemm", {{"dtype", "fp8_block"}});
    if (block.empty() || block.front()->axes.size() != 3) return out;
    const GridTable& b = *block.front();
    const double floor = b.least_s();
    const size_t nn = b.axes[1].size(), nk = b.axes[2].size();
    for (size_t i = 0; i < b.values_ms.size(); ++i) {
        const double v = b.values_ms[i] * 1e-3;
        if (v >= 4.0 * floor) out.push_back({b.axes[0][i / (nn * nk)], b.axes[1][i / nk % nn], b.axes[2][i % nk], v});
    }
    return out;
}

double block_fp8_scale(const KernelTables& t) {
    const auto fp8 = t.find("gemm", {{"dtype", "fp8"}});
    if (fp8.empty()) return 1.0;
    std::vector<double> ratios;
    for (const auto& [m, n, k, v] : block_fp8_kernel_points(t)) {
        const auto f = fp8.front()->lookup_s({m, n, k});
        if (f && *f > 0) ratios.push_back(v / *f);
    }
    if (ratios.size() < 20) return 1.0;
    return exact_percentile(std::move(ratios), 50.0);
}

double least_above_s(const GridTable& t, double m, double n, double k,
                     const std::function<double(double)>& floor_s) {
    double least = std::numeric_limits<double>::infinity();
    for (double rows : t.axes[0]) {
        if (rows <= m) continue;
        bool ex = false;
        const double v = lookup_scaled(&t, {rows, n, k}, {1.0, 1.0, 1.0}, ex);
        if (v >= 0 && !ex) least = std::min(least, std::max(v, floor_s(rows)));
    }
    return least;
}

bool mla_norms_fused(const KernelTables& t) {
    const auto m = t.find("mla_decode");
    return !m.empty() && !m.front()->attr("norm_dispatch").empty();
}

std::shared_ptr<const KernelTables> mla_module_tables(const std::shared_ptr<const KernelTables>& t) {
    if (!t || mla_norms_fused(*t)) return t;
    static const std::pair<const char*, const char*> same_chip[] = {{"gb200", "b200_sxm"},
                                                                    {"b200_sxm", "gb200"}};
    for (const auto& [here, there] : same_chip) {
        if (t->gpu != here) continue;
        auto other = shipped_kernel_tables(there);
        if (other && mla_norms_fused(*other)) return other;
    }
    return t;
}

std::shared_ptr<const MoeFitScale> moe_fit_scale(const KernelTables& t, const GpuProfile& gpu,
                                                 const MoeCalibration& fit, const std::string& fit_format,
                                                 const ModelCard& model,
                                                 std::map<std::string, std::string> match,
                                                 bool skip_own_shape) {
    // The tables' gated shapes at the model's format, parallelism and routing rows (balanced; A100's tables
    // hold power_law_1.01 rows only, on which its fit was made), the nearest by the sum of |log| ratios of
    // hidden, expert width, top-k and expert count
    const GridTable* nearest = nullptr;
    double alpha = 0.0, best = 0.0;
    const double h = static_cast<double>(model.hidden_size),
                 i = static_cast<double>(model.moe_intermediate_size),
                 k = static_cast<double>(model.experts_per_token), e = static_cast<double>(model.num_experts);
    for (const char* rows : {"balanced", "power_law_1.01"}) {
        match["distribution"] = rows;
        for (const GridTable* g : t.find("moe", match)) {
            if (!g->moe_gated() || g->axes.size() != 1 || g->moe_fit_format() != fit_format) continue;
            const double d = std::fabs(std::log(static_cast<double>(g->attr_int("hidden")) / h)) +
                             std::fabs(std::log(static_cast<double>(g->attr_int("inter")) / i)) +
                             std::fabs(std::log(static_cast<double>(g->attr_int("topk")) / k)) +
                             std::fabs(std::log(static_cast<double>(g->attr_int("experts")) / e));
            if (skip_own_shape && d == 0.0) continue;
            if (std::isfinite(d) && (!nearest || d < best)) nearest = g, best = d;
        }
        if (nearest) {
            alpha = rows[0] == 'p' ? 1.01 : 0.0;
            break;
        }
    }
    if (!nearest) return nullptr;
    const GridTable& g = *nearest;
    const double nh = static_cast<double>(g.attr_int("hidden")),
                 ni = static_cast<double>(g.attr_int("inter"));
    const double nk = static_cast<double>(g.attr_int("topk")),
                 ne = static_cast<double>(g.attr_int("experts"));
    auto out = std::make_shared<MoeFitScale>();
    for (size_t j = 0; j < g.axes[0].size(); ++j) {
        const double tokens = g.axes[0][j], measured_s = g.value_ms({j}) * 1e-3;
        // points timed with their experts in L2 (not fitted either: calibrate.hpp) say nothing of serving
        if (!(measured_s > 0) || g.moe_working_set_bytes(tokens) <= gpu.l2_cache_bytes()) continue;
        MoeWork w = balanced_moe_work(nh, ni, nk, ne, static_cast<double>(g.attr_int("tp")),
                                      static_cast<double>(g.attr_int("ep")), tokens,
                                      kernel_format_bytes(g.attr("dtype")));
        if (alpha > 0.0)
            w.experts_read = experts_reached({MoeRouting::Kind::POWER_LAW, alpha}, ne, nk, tokens);
        const double fitted_s = moe_kernel_time_s(gpu, fit_format, fit, w);
        if (!(fitted_s > 0)) continue;
        out->tokens.push_back(tokens);
        out->scale.push_back(std::sqrt(measured_s / fitted_s));
    }
    if (out->tokens.empty()) return nullptr;
    out->note = fmt::format("the nearest measured shape ({} x {}, top-{} of {}{}{})", g.attr("hidden"),
                            g.attr("inter"), g.attr("topk"), g.attr("experts"),
                            g.attr("dtype") != fit_format ? ", " + g.attr("dtype") + " on Marlin" : "",
                            alpha > 0.0 ? ", power_law_1.01 rows" : "");
    return out;
}

KernelTablePredictor::KernelTablePredictor(const ModelCard& model, const GpuProfile& gpu, const CostConfig& config,
                                           std::shared_ptr<const KernelTables> tables)
    : roofline_(model, gpu, config), tables_(std::move(tables)) {
    if (!tables_) throw std::invalid_argument("KernelTablePredictor needs tables");
    if (const std::string sibling = kernel_table_sibling(gpu); !sibling.empty() && tables_by_name(*tables_, gpu)) {
        CostConfig c = config;
        c.calibration = shipped_calibration(sibling);
        sibling_ = std::make_unique<CostModel>(model, load_gpu(sibling), c);
    }
    const KernelTables& t = *tables_;
    // One GEMM table for the attention and dense-MLP projections (they share a format in every checkpoint
    // headroom reads; a dense MLP in another format falls back to the roofline), by the weights' kernel class.
    const WeightScheme w = model.weights(config.weight_dtype);
    gemm_bf16_ = t.find_first("gemm", {{"dtype", "bf16"}});
    const std::string attn_dtype = kernel_format(w.attention);
    // Not the block-fp8 GEMM table: its every point sits on a floor of 55-240 us (H100, H200, B200, GB200:
    // the collector times block fp8 eagerly, without a CUDA graph, so the host's dispatch of the quantisation
    // and DeepGEMM sets the time), while the MLA module tables, whose block-fp8 projections run four such
    // GEMMs, time the whole attention block in about 90 us. Where a block-fp8 point took 4x that floor or
    // more (the kernels' own time), it took what the per-tensor fp8 table gives the same (m, n, k): a median
    // 0.89-1.07 of it by row range on Hopper and Blackwell, 0.44-0.84 of the bf16 table's; L40S's (Triton's
    // block kernel, not DeepGEMM) 1.25-1.44 of it. So block-fp8 GEMMs read the fp8 table (the MLA projections
    // below excepted), scaled by the GPU's own median ratio (block_fp8_scale; bench/fidelity's "GEMM block
    // fp8" rows).
    if (!attn_dtype.empty())
        gemm_ = t.find_first("gemm", {{"dtype", attn_dtype == "fp8_block" ? "fp8" : attn_dtype}});
    block_fp8_ = gemm_ && attn_dtype == "fp8_block";
    if (block_fp8_) block_fp8_scale_ = block_fp8_scale(t);
    dense_in_gemm_table_ = w.dense_mlp == w.attention;
    if (gemm_) gemm_least_s_ = gemm_->least_s();
    if (gemm_bf16_) gemm_bf16_least_s_ = gemm_bf16_->least_s();

    const int64_t tp = config.tp;
    const std::string kv = config.kv_dtype == Dtype::FP8 ? "fp8" : config.kv_dtype == Dtype::BF16 || config.kv_dtype == Dtype::FP16 ? "bf16" : "";
    // The MLA module's projections: from the GEMM table of their format, or the bf16 one for block fp8: the
    // module tables time block-fp8 blocks at 0.92-1.02 of the bf16 ones at every size on H200 (1.0-1.3 on
    // B200), so their small-k block-fp8 projections gain nothing on bf16 (the per-token-group quantisation
    // pays for the bytes).
    auto projection_gemm = [&](const KernelTables& k) -> const GridTable* {
        if (attn_dtype.empty()) return nullptr;
        return k.find_first("gemm", {{"dtype", attn_dtype == "fp8_block" ? "bf16" : attn_dtype}});
    };
    mla_gemm_ = projection_gemm(t);
    mla_tables_ = model.is_mla() ? mla_module_tables(tables_) : tables_;
    mla_module_gemm_ = mla_tables_ == tables_ ? mla_gemm_ : projection_gemm(*mla_tables_);
    if (model.is_mla() && !kv.empty() && !attn_dtype.empty() && mla_gemm_ && mla_module_gemm_) {
        // The MLA module tables time one model's attention block whole (DeepSeek-V3's). Less its projections,
        // what is left (the latent's norm and RoPE, the attention over the latent cache, the per-head absorbed
        // up-projections) depends on the heads per GPU and the latent's dimensions, not on the model's hidden size
        // or q LoRA rank: so they apply to a model of the same attention dimensions at its heads per GPU, KV dtype
        // and projection dtype (DeepSeek-V2-Lite at TP 1 runs the attention of V3 at TP 8), with the model's own
        // projections costed from the GEMM table.
        const std::map<std::string, std::string> match = {
            {"kv_lora", std::to_string(model.kv_lora_rank)}, {"nope", std::to_string(model.qk_nope_head_dim)},
            {"rope", std::to_string(model.qk_rope_head_dim)}, {"v", std::to_string(model.v_head_dim)},
            {"kv_dtype", kv}, {"dtype", attn_dtype}, {"heads", std::to_string(model.num_attention_heads / tp)}};
        mla_prefill_ = mla_tables_->find_first("mla_prefill", match);
        mla_decode_ = mla_tables_->find_first("mla_decode", match);
        if (mla_prefill_ && mla_decode_ && mla_prefill_->attr_int("hidden") > 0 && mla_prefill_->attr_int("q_lora") >= 0) {
            const double heads = static_cast<double>(model.num_attention_heads / tp);
            // rows x (n, k) of a block's projections on the new tokens: q down (when q_lora), q up, the KV latent
            // and its RoPE key, o_proj. kv_b (the latent's up-projection) runs on the keys, so it is part of the
            // attention's own time.
            auto projections = [&](double h, int64_t q_lora) {
                std::vector<std::array<double, 2>> p;
                const double q_in = q_lora > 0 ? static_cast<double>(q_lora) : h;
                if (q_lora > 0) p.push_back({static_cast<double>(q_lora), h});
                p.push_back({heads * static_cast<double>(model.qk_nope_head_dim + model.qk_rope_head_dim), q_in});
                p.push_back({static_cast<double>(model.kv_lora_rank + model.qk_rope_head_dim), h});
                p.push_back({h, heads * static_cast<double>(model.v_head_dim)});
                return p;
            };
            mla_proj_ = projections(static_cast<double>(model.hidden_size), model.q_lora_rank);
            mla_kv_b_ = {heads * static_cast<double>(model.qk_nope_head_dim + model.v_head_dim),
                         static_cast<double>(model.kv_lora_rank)};
            if (model.index_n_heads > 0) {
                // DeepSeek Sparse Attention (DeepSeek-V3.2): its indexer's query (from the q latent), key and head
                // weights run whole on every rank, with the q/k/v projections (before o_proj). The module tables
                // time DeepSeek-V3's block, which has none: its dense attention is what a DSA sequence no longer
                // than index_topk runs, and a decode over index_topk keys (runs_sparse_prefill).
                const double h = static_cast<double>(model.hidden_size);
                const double q_in = model.q_lora_rank > 0 ? static_cast<double>(model.q_lora_rank) : h;
                const std::vector<std::array<double, 2>> indexer = {
                    {static_cast<double>(model.index_n_heads * model.index_head_dim), q_in},
                    {static_cast<double>(model.index_head_dim), h},
                    {static_cast<double>(model.index_n_heads), h}};
                mla_proj_.insert(mla_proj_.end() - 1, indexer.begin(), indexer.end());
            }
            const int64_t table_hidden = mla_prefill_->attr_int("hidden"), table_q_lora = mla_prefill_->attr_int("q_lora");
            mla_module_proj_ = projections(static_cast<double>(table_hidden), table_q_lora);
            mla_other_model_ = table_hidden != model.hidden_size || table_q_lora != model.q_lora_rank;
            mla_chain_ = mla_chain_cost(*mla_tables_);
            mla_heads_ = heads;
        } else {
            mla_prefill_ = mla_decode_ = nullptr;
        }
    }
    if (model.is_encoder && model.head_dim > 0) {  // bidirectional attention over each whole sequence
        encoder_attn_ = t.find_first("encoder_attention", {{"dtype", "bf16"}, {"heads", std::to_string(model.num_attention_heads / tp)},
                                                           {"head_dim", std::to_string(model.head_dim)}});
    }
    if (!model.is_mla() && !model.is_encoder && model.head_dim > 0) {
        const int64_t heads = model.num_attention_heads / tp;
        const int64_t kv_heads = model.kv_heads_per_rank(tp);
        const int64_t window = model.widest_window();
        window_ = window;
        kv_bytes_per_key_ = static_cast<double>(kv_heads * model.head_dim) * 2.0 * dtype_bytes(config.kv_dtype);  // K and V
        kv_heads_ = static_cast<double>(kv_heads);
        heads_ = static_cast<double>(heads);
        head_dim_ = static_cast<double>(model.head_dim);
        for (int sliding = 0; sliding < 2 && !kv.empty(); ++sliding) {
            const std::map<std::string, std::string> match = {
                {"kv_dtype", kv}, {"window", std::to_string(sliding ? window : 0)}, {"head_dim", std::to_string(model.head_dim)}};
            if (sliding && window <= 0) break;
            decode_attn_[sliding] = find_attention(t, "decode_attention", match, heads, kv_heads);
            prefill_attn_[sliding] = find_attention(t, "prefill_attention", match, heads, kv_heads);
            // A window no table timed (Mistral-7B's and Gemma-2's 4,096; Gemma-3-27B's 1,024 at head size
            // 128): the windowless tables (attention_s says which calls past the window they price).
            // FlashAttention's varlen call drops a left window at least as long as its longest key sequence
            // (flash_api.cpp: window_size_left >= max_seqlen_k -> -1), so a call the window covers whole runs
            // the causal kernel: on the tables' own windows (128, 1,024 and 8,192 keys) the windowless table
            // gives those calls within a median 0.7-1.8% on Hopper and Blackwell (bench/fidelity, "window
            // within its keys"; the calibrated roofline, which priced them before, 6.4-11.5%). FlashAttention
            // 2 (vLLM's backend before Hopper) packs a GQA decode's query heads onto their KV head only
            // without a window (seqlenq_ngroups_swapped needs window_size_left < 0, tested before the window
            // is dropped), so there a windowed decode runs each query head on its own: the MHA layout's
            // table, the same query heads over as many KV heads (L40S's windowed tables: 4.1% median from it,
            // 47% from the GQA layout's).
            if (sliding) {
                std::map<std::string, std::string> full = match;
                full["window"] = "0";
                const double cc = roofline_.gpu().compute_capability.value;
                const int64_t decode_kv_heads = cc > 0.0 && cc < 9.0 ? heads : kv_heads;
                if (!decode_attn_[1] &&
                    (decode_attn_[1] = find_attention(t, "decode_attention", full, heads, decode_kv_heads))) {
                    sliding_full_[0] = true;
                    sliding_unpacked_ = decode_kv_heads != kv_heads && static_cast<bool>(decode_attn_[0]);
                }
                if (!prefill_attn_[1] &&
                    (prefill_attn_[1] = find_attention(t, "prefill_attention", full, heads, kv_heads))) {
                    sliding_full_[1] = true;
                }
            }
            const AttentionTables& d = decode_attn_[sliding];
            const AttentionTables& p = prefill_attn_[sliding];
            if (d) decode_least_s_[sliding] = d.least_s();
            if (d && p && d.lo->attr("kernel").find("flash_attn") != std::string::npos &&
                p.lo->attr("kernel").find("flash_attn") != std::string::npos) {
                const double least = std::min(d.least_s(), p.least_s());
                if (least > 0) mixed_attn_floor_s_[sliding] = least;
            }
            // the floors above are the tables' own fastest calls; the lookups read the tables held to the
            // L2-warm floor
            for (const GridTable** g : {&decode_attn_[sliding].lo, &decode_attn_[sliding].hi}) {
                if (!*g) continue;
                auto held = std::make_shared<const GridTable>(
                    held_l2_warm_decodes(**g, roofline_.gpu(), roofline_.config().gemm_calibration()));
                *g = held.get();
                held_decodes_.push_back(std::move(held));
            }
        }
    }
    // The table times vLLM's fused MoE kernel, which runs the routed experts; a shared expert is a dense MLP
    // beside it (DeepSeek, Qwen2-MoE), costed from the GEMM table (moe_op_s).
    shared_inter_ = model.shared_expert_intermediate_size / tp;
    hidden_ = model.hidden_size;
    moe_inter_ = model.moe_intermediate_size / tp;
    topk_ = model.experts_per_token;
    // The fused-MoE table of the experts' format; a shared expert from the GEMM table where the experts share
    // the attention weights' format, else from the roofline.
    const std::string moe_dtype = kernel_format(w.experts);
    // the fit of the kernel vLLM runs them with (CostModel::moe_format): MXFP4 experts run Marlin or
    // gpt-oss's own kernels, and read the tables of that kernel
    const std::string& moe_fit = roofline_.moe_format();
    expert_dtype_ = w.experts.dtype;
    expert_cal_ = config.calibration ? config.calibration->gemm_for(w.experts.dtype) : nullptr;
    shared_in_gemm_table_ = w.experts == w.attention;
    // The tables time TP-sliced experts (ep 1) and whole experts over EP ranks (tp 1) the way vLLM runs
    // expert parallelism without attention DP (the EP group is the TP group): every rank holds all T tokens,
    // runs their T x k picks through its E / ep experts (those of other ranks masked) and the all-reduce sums
    // the ranks' parts. DP + EP with a gather backend (vLLM's default allgather_reducescatter) runs the same
    // call on every DP rank's tokens gathered, T x dp: the EP rows at that count. A dispatch backend (DeepEP,
    // pplx) sends each pair to its expert's rank, which no table times: those go to the roofline and its
    // fused-MoE fit. Skewed routing (a power law) reads the rows timed with that generator where the tables
    // hold them; else the balanced rows, corrected to the experts the routing reaches (routing_correction).
    routing_ = config.moe_routing;
    const bool whole_experts = config.ep > 1;
    gather_ranks_ = moe_gather_ranks(config);
    const bool gathered = gather_ranks_ > 1;
    const bool dispatched = moe_dispatched(config);
    // The EP rows time every rank at its even share of the picks; a measured imbalance (expert_imbalance: the
    // busiest rank's pairs over the mean) goes to the fit, which prices the busiest rank's pairs.
    const bool measured_imbalance = whole_experts && config.expert_imbalance > 0.0;
    if (model.is_moe() && !moe_dtype.empty() && !dispatched && !measured_imbalance) {
        std::map<std::string, std::string> shape{{"dtype", moe_dtype},
                                                 {"hidden", std::to_string(model.hidden_size)},
                                                 {"inter", std::to_string(model.moe_intermediate_size)},
                                                 {"topk", std::to_string(model.experts_per_token)},
                                                 {"experts", std::to_string(model.num_experts)},
                                                 {"tp", whole_experts ? "1" : std::to_string(tp)},
                                                 {"ep", std::to_string(std::max<int64_t>(1, config.ep))}};
        // the model's experts are gated (every MoE model headroom loads): a table of non-gated experts of the
        // same shape (Nemotron-H's) times other work
        auto find_gated = [&t, &moe_fit](const std::map<std::string, std::string>& m) -> const GridTable* {
            for (const GridTable* g : t.find("moe", m)) {
                // (a table that names no kernel is taken for the experts' format)
                if (g->moe_gated() && (g->attr("kernel").empty() || g->moe_fit_format() == moe_fit)) return g;
            }
            return nullptr;
        };
        if (routing_.kind == MoeRouting::Kind::POWER_LAW) {
            shape["distribution"] = routing_.name();
            moe_ = find_gated(shape);
            moe_rows_routed_ = moe_ != nullptr;
        }
        if (!moe_) {
            shape["distribution"] = "balanced";
            moe_ = find_gated(shape);
        }
        // A100's tables time the fused MoE with power-law routing only: its balanced rows are estimated from
        // its power_law_1.01 rows and the other GPUs' ratio of the two (balanced_moe_from_power_law), and read
        // as balanced rows; where no other GPU timed the shape, the power_law_1.01 rows stand in as measured
        // (on the five GPUs whose tables hold both they predict the balanced rows at a median |error| of
        // 6-10%, p90 22-50%; bench/fidelity.cpp).
        if (!moe_) {
            shape["distribution"] = "power_law_1.01";
            if (const GridTable* law = find_gated(shape)) {
                moe_estimated_ = balanced_moe_from_power_law(*law, t.gpu, &moe_references_, &moe_other_formats_);
                moe_ = moe_estimated_ ? moe_estimated_.get() : law;
                moe_rows_stand_in_ = !moe_estimated_;
            }
        }
        if (moe_) moe_least_s_ = moe_->least_s();
        // No table times the model's shape: the roofline's fused-MoE fit prices it, corrected by the nearest
        // shape the tables time (moe_fit_scale)
        if (!moe_ && !sibling_ && config.calibration) {
            if (const MoeCalibration* fit = config.calibration->moe_for(moe_fit)) {
                shape.erase("hidden"), shape.erase("inter"), shape.erase("topk"), shape.erase("experts");
                shape.erase("dtype");
                roofline_.set_moe_fit_scale(moe_fit_scale(t, gpu, *fit, moe_fit, model, shape));
            }
        }
    }
    // what the reports say of a fused MoE the tables do not price
    if (model.is_moe() && !moe_) {
        const auto& scale = roofline_.config().moe_fit_scale;
        note_ =
            fmt::format("the fused MoE ({} x {}, top-{} of {}, {}) on the {}", model.hidden_size,
                        model.moe_intermediate_size, model.experts_per_token, model.num_experts,
                        moe_dtype.empty() ? "its format" : moe_dtype,
                        !config.calibration ? "roofline"
                        : roofline_.moe_fit()
                            ? (moe_fit == "int4" && moe_dtype != "int4" ? "calibrated roofline (Marlin's fit)"
                                                                        : "calibrated roofline")
                            : "calibrated roofline op by op (no fused-MoE fit for its format)");
        note_ += dispatched           ? " (no table times a dispatch all2all backend)"
                 : measured_imbalance ? " (the tables time even EP shares, not a measured imbalance)"
                 : scale              ? ", its fit corrected by " + scale->note + ": no table holds its shape"
                                      : ": no table holds its shape at this format, TP and EP";
    }
    // measured in one NVLink domain: a TP group across domains prices its ring on the cluster's link
    if (tp > 1 && !config.tp_link.present() && !sibling_) {
        allreduce_ = t.find_first("vllm_allreduce", {{"gpus", std::to_string(tp)}, {"mode", "graph"}});
        allreduce_eager_ = t.find_first("vllm_allreduce", {{"gpus", std::to_string(tp)}, {"mode", "eager"}});
        allreduce_paths_ = vllm_allreduce(gpu.compute_capability.value, tp, gpu.has_nvlink());
        nccl_ = t.find_first("nccl", {{"op", "all_reduce"}, {"gpus", std::to_string(tp)}, {"dtype", "fp16"}});
        if (!allreduce_ && !nccl_) {
            nccl_tables_ = nccl_sibling_tables(t, gpu);
            nccl_ = nccl_tables_
                        ? nccl_tables_->find_first(
                              "nccl", {{"op", "all_reduce"}, {"gpus", std::to_string(tp)}, {"dtype", "fp16"}})
                        : nullptr;
            if (nccl_) {
                // how this GPU's own NCCL rows compare with the sibling's at the GPU counts both time: own /
                // sibling at each message size both hold
                std::vector<double> ratio;
                std::string counts;
                for (const GridTable* own : t.find("nccl", {{"op", "all_reduce"}, {"dtype", "fp16"}})) {
                    const GridTable* other = nccl_tables_->find_first(
                        "nccl", {{"op", "all_reduce"}, {"gpus", own->attr("gpus")}, {"dtype", "fp16"}});
                    if (!other || own->axes.size() != 1 || other->axes.size() != 1) continue;
                    counts += (counts.empty() ? "" : " and ") + own->attr("gpus");
                    for (size_t i = 0; i < own->axes[0].size(); ++i) {
                        const auto& o = other->axes[0];
                        const auto j = std::lower_bound(o.begin(), o.end(), own->axes[0][i]);
                        if (j == o.end() || *j != own->axes[0][i]) continue;
                        const double a = own->value_ms({i}),
                                     b = other->value_ms({static_cast<size_t>(j - o.begin())});
                        if (a > 0 && b > 0) ratio.push_back(a / b);
                    }
                }
                nccl_note_ = fmt::format("; {}'s {}-GPU rows: {}'s tables time no all-reduce over {} GPUs",
                                         nccl_tables_->device, tp, t.device, tp);
                if (!ratio.empty()) {
                    nccl_note_ += fmt::format(
                        "; over the {} GPUs both time, its rows take a median {:.2f}x theirs "
                        "({:.2f}-{:.2f}x, {} sizes)",
                        counts, exact_percentile(ratio, 50), *std::min_element(ratio.begin(), ratio.end()),
                        *std::max_element(ratio.begin(), ratio.end()), ratio.size());
                }
            } else {
                nccl_tables_.reset();
            }
        }
    }
    if (gathered && model.is_moe() && !config.ep_link.present() && !sibling_) {  // (only within one NVLink domain)
        const std::string gpus = std::to_string(config.dp);
        ep_gather_ = t.find_first("nccl", {{"op", "all_gather"}, {"gpus", gpus}, {"dtype", "fp16"}});
        ep_scatter_ = t.find_first("nccl", {{"op", "reduce_scatter"}, {"gpus", gpus}, {"dtype", "fp16"}});
    }
    if (config.kernel_tables == tables_) {  // a user's own tables: which, and from where
        note_ =
            fmt::format("the tables of {} from {}{}{}", t.device, t.file, note_.empty() ? "" : "; ", note_);
    }
}

bool KernelTablePredictor::covers(OpKind k) const {
    if (k == OpKind::LM_HEAD) return gemm_bf16_ != nullptr;
    if (k == OpKind::GATE_UP_PROJ || k == OpKind::DOWN_PROJ) return gemm_ != nullptr && dense_in_gemm_table_;
    if (mla_prefill_ && (k == OpKind::QKV_PROJ || k == OpKind::O_PROJ)) return true;
    if (is_gemm(k)) return gemm_ != nullptr;
    if (mla_prefill_ && (k == OpKind::ATTENTION || k == OpKind::ROPE)) return true;
    if (k == OpKind::ATTENTION && encoder_attn_) return true;
    if (k == OpKind::ATTENTION) return static_cast<bool>(decode_attn_[0]) && static_cast<bool>(prefill_attn_[0]);
    if (k == OpKind::ATTENTION_SLIDING) return static_cast<bool>(decode_attn_[1]) && static_cast<bool>(prefill_attn_[1]);
    if (is_fused_moe_op(k)) return moe_ != nullptr;
    if (k == OpKind::TP_ALLREDUCE || k == OpKind::QK_NORM_ALLREDUCE) return allreduce_ || nccl_;
    if (k == OpKind::EP_ALLTOALL) return ep_gather_ && ep_scatter_;
    return gemm_bf16_least_s_ > 0.0 && is_small_kernel(k);  // held to the fastest kernel (op_time_s)
}

std::string KernelTablePredictor::source_line(const char* family, bool extrapolated, const char* note,
                                              const KernelTables* from) const {
    const KernelTables& t = from ? *from : *tables_;
    std::string fw = t.framework(family);  // "vllm-0.24.0"
    if (fw.rfind("vllm-", 0) == 0) fw = "vLLM " + fw.substr(5);
    if (fw.rfind("nccl-", 0) == 0) fw = "NCCL " + fw.substr(5);
    return fmt::format("table ({}{}, {}{})", fw.empty() ? "" : fw + ", ", t.device,
                       extrapolated ? "extrapolated" : "interpolated", note);
}

// One GEMM of m rows against an n x k weight from table `t`, memoised in `cache` by row count (n and k are
// fixed per cache): > 0 interpolated, < 0 extrapolated (the magnitude is the time), 0 not yet looked up.
double KernelTablePredictor::cached_gemm_s(std::vector<double>& cache, const GridTable* t, double m, double n, double k,
                                           bool& extrapolated) const {
    if (!t || m <= 0) return -1.0;
    const auto row = static_cast<size_t>(m);
    if (row < cache.size() && cache[row] != 0.0) {
        if (cache[row] < 0) extrapolated = true;
        return std::fabs(cache[row]);
    }
    bool ex = false;
    double one = lookup_scaled(t, {m, n, k}, {1.0, 1.0, 1.0}, ex);
    if (one < 0) return -1.0;
    one = std::max(one, l2_warm_floor_s(t, m, n, k));
    // Block fp8 on the per-tensor fp8 table: no more than the table takes for any row count it measured above
    // m (its lower envelope from above). The per-tensor kernel's slow picks at some row counts (on B200 and
    // GB200 its 1-row GEMMs take a median 1.8-2.2x its 2-8-row ones at n, k >= 1,024, some 15 us more, and
    // single counts such as 2, 4 or 64 spike to 2x their neighbours) are not the block kernel's: the MLA
    // module tables, which run block-fp8 projections under CUDA graphs, time a 1-token decode within 4% of a
    // 2-token one on B200 and GB200.
    if (t == gemm_ && block_fp8_ && !ex)
        one = std::min(
            one, least_above_s(*t, m, n, k, [&](double rows) { return l2_warm_floor_s(t, rows, n, k); }));
    if (row < 65536) {
        if (cache.size() <= row) cache.resize(std::max(row + 1, cache.size() * 2), 0.0);
        cache[row] = ex ? -one : one;
    }
    extrapolated = extrapolated || ex;
    return one;
}

double l2_warm_gemm_floor_s(const GridTable& t, double least_s, const GpuProfile& gpu, const GemmCalibration* cal,
                            double m, double n, double k) {
    const double l2 = gpu.l2_cache_bytes();
    if (l2 <= 0.0 || t.gemm_working_set_bytes(m, n, k) > l2) return 0.0;
    // Not the calibration's launch_s: fitted on cold points only, it absorbs more than a launch (6 us on A100,
    // against the table's fastest GEMM of 2.5 us).
    return least_s + n * k * t.gemm_weight_bytes_per_element() / memory_bytes_per_s(gpu, cal);
}

double KernelTablePredictor::l2_warm_floor_s(const GridTable* t, double m, double n, double k) const {
    const double bpe = t->gemm_weight_bytes_per_element();
    const Calibration* cal = roofline_.config().calibration.get();
    // (the table's own fastest: another GPU's for the MLA module's projections on its twin's tables)
    const double least = t == gemm_bf16_ ? gemm_bf16_least_s_ : t == gemm_ ? gemm_least_s_ : t->least_s();
    return l2_warm_gemm_floor_s(*t, least, roofline_.gpu(),
                                cal ? cal->gemm_for(bpe == 1.0 ? Dtype::FP8 : Dtype::BF16) : nullptr, m, n,
                                k);
}

double l2_warm_kv_floor_s(const GpuProfile& gpu, const GemmCalibration* cal, double least_s, double kv_bytes) {
    if (gpu.l2_cache_bytes() <= 0.0 || kv_bytes > gpu.l2_cache_bytes()) return 0.0;
    return least_s + kv_bytes / memory_bytes_per_s(gpu, cal);
}

double decode_table_kv_bytes(const GridTable& t, size_t b, size_t c) {
    if (t.family != "decode_attention" || t.axes.size() != 2 || b >= t.axes[0].size() ||
        c >= t.axes[1].size()) {
        return 0.0;
    }
    const double per_key = static_cast<double>(t.attr_int("kv_heads") * t.attr_int("head_dim")) * 2.0 *
                           (t.attr("kv_dtype") == "fp8" ? 1.0 : 2.0);  // K and V
    const double window = static_cast<double>(t.attr_int("window"));
    const double keys = window > 0.0 ? std::min(t.axes[1][c], window) : t.axes[1][c];
    return per_key > 0.0 ? t.axes[0][b] * keys * per_key : 0.0;
}

GridTable held_l2_warm_decodes(const GridTable& t, const GpuProfile& gpu, const GemmCalibration* cal) {
    GridTable out = t;
    if (t.family != "decode_attention" || t.axes.size() != 2) return out;
    const double least = t.least_s();
    for (size_t b = 0; b < t.axes[0].size(); ++b) {
        for (size_t c = 0; c < t.axes[1].size(); ++c) {
            const size_t at[2] = {b, c};
            float& v = out.values_ms[out.index(at)];
            const double kv = decode_table_kv_bytes(t, b, c);
            if (!(v > 0.0f) || !(kv > 0.0)) continue;
            const double floor_ms = 1e3 * l2_warm_kv_floor_s(gpu, cal, least, kv);
            if (floor_ms > static_cast<double>(v)) v = static_cast<float>(floor_ms);
        }
    }
    return out;
}

double KernelTablePredictor::l2_warm_kv_floor_s(double decode_keys, int sliding) const {
    return headroom::l2_warm_kv_floor_s(roofline_.gpu(), roofline_.config().gemm_calibration(), decode_least_s_[sliding],
                                        decode_keys * kv_bytes_per_key_);
}

double KernelTablePredictor::gemm_s(OpKind kind, const RooflineOp& op, bool& extrapolated) const {
    if (mla_prefill_ && (kind == OpKind::QKV_PROJ || kind == OpKind::O_PROJ)) {
        // the MLA module's own projections: q (down and up) and the KV latent, or o_proj
        const size_t o = mla_proj_.size() - 1;
        double t = 0.0;
        for (size_t i = kind == OpKind::O_PROJ ? o : 0; i < (kind == OpKind::O_PROJ ? o + 1 : o); ++i) {
            const double g = cached_gemm_s(mla_cache_[i], mla_gemm_, op.m, mla_proj_[i][0], mla_proj_[i][1], extrapolated);
            if (g < 0) return -1.0;
            t += g;
        }
        return t * static_cast<double>(op.count);
    }
    const double one = cached_gemm_s(gemm_cache_[static_cast<int>(kind)], kind == OpKind::LM_HEAD ? gemm_bf16_ : gemm_,
                                     op.m, op.n, op.k, extrapolated);
    const double scale = block_fp8_ && kind != OpKind::LM_HEAD ? block_fp8_scale_ : 1.0;
    return one < 0 ? -1.0 : one * scale * static_cast<double>(op.count);
}

// The projections of the module the tables timed on `rows` tokens (every GEMM of mla_module_proj_), or < 0
// without a table.
double KernelTablePredictor::mla_proj_s(double rows, bool& extrapolated) const {
    double t = 0.0;
    for (size_t i = 0; i < mla_module_proj_.size(); ++i) {
        const double g = cached_gemm_s(mla_module_cache_[i], mla_module_gemm_, rows, mla_module_proj_[i][0],
                                       mla_module_proj_[i][1], extrapolated);
        if (g < 0) return -1.0;
        t += g;
    }
    return t;
}

namespace {

// A module table's time at (batch, x): the tables are measured up to a token budget, so where (batch, x) lies
// beyond it the largest measured batch (halving) is scaled up linearly, and the source says extrapolated.
double batch_scaled(const GridTable* t, double batch, double x, double x_power, bool& extrapolated) {
    for (double b = batch; b >= 1.0; b = std::floor(b / 2.0)) {
        bool ex = false;
        const double v = lookup_scaled(t, {b, x}, {1.0, x_power}, ex);
        if (v >= 0) {
            extrapolated = extrapolated || ex || b != batch;
            return v * batch / b;
        }
    }
    return -1.0;
}

}  // namespace

// MLA attention from the module tables, which time the whole attention block (projections, RoPE, attention,
// o_proj) of prefills without a cached prefix and of decodes apart. The step runs the projections once on all
// its tokens (costed as QKV_PROJ and O_PROJ from the GEMM table), so each part's module time less its own
// projections (the same GEMM table at the part's rows) is the attention's share.
// A prefill chunk with a cached context (a later chunk of a long prompt, a prefix-cache hit) is read as the
// prefill of the causal length that sees as many keys, which runs the latent's up-projection (kv_b_proj) on
// that length's rows. vLLM runs it on every key the chunk attends to: it gathers the cached latent and
// up-projects it again each step (MLACommonImpl._compute_prefill_context, vllm/v1/attention/backends/mla/
// common.py), so where the chunks' context and new tokens outnumber those rows the GEMM table prices the
// rest, and the memory-bound kernels around it, which no table times, stream their bytes at the calibration's
// memory rate, each held to the tables' fastest kernel (mla_context_kernels_s).
double KernelTablePredictor::mla_attention_s(const RooflineOp& op, const std::vector<SequenceWork>& batch,
                                             bool& extrapolated, double* chain_s, double* context_s) const {
    double decodes = 0, decode_keys = 0, prefills = 0, prefill_keys = 0, prefill_rows = 0;
    double cached_rows = 0, merged_rows = 0;  // the chunks' cached context, and their new tokens
    const ModelCard& m = roofline_.model();
    const int64_t cap = m.is_sparse_mla() ? m.index_topk : 0;  // a DSA decode reads at most index_topk keys
    for (const SequenceWork& s : batch) {
        if (s.padding || runs_sparse_prefill(m, s)) continue;  // (sparse prefills: ATTENTION_SPARSE's, on the roofline)
        const double keys = attention_keys(s, cap);
        (s.is_decode() ? decodes : prefills) += 1;
        (s.is_decode() ? decode_keys : prefill_keys) += keys;
        if (s.is_decode()) continue;
        prefill_rows += static_cast<double>(s.context + s.new_tokens);
        if (s.context > 0) {  // a chunk after a cached context: its gather, keys and merge
            cached_rows += static_cast<double>(s.context);
            merged_rows += static_cast<double>(s.new_tokens);
        }
    }
    double t = 0.0;
    if (decodes > 0) {
        double module =
            batch_scaled(mla_decode_, decodes, std::max(1.0, decode_keys / decodes), 1.0, extrapolated);
        const double proj = mla_proj_s(decodes, extrapolated);
        if (module < 0 || proj < 0) return -1.0;
        if (mla_chain_) {
            const double c = mla_chain_->seconds(true, decodes, mla_heads_);
            module -= c;
            if (chain_s) *chain_s += c;
        }
        t += std::max(0.0, module - proj);
    }
    if (prefills > 0) {
        const double mean_keys = prefill_keys / prefills;
        const double len = causal_length(mean_keys);
        double module = batch_scaled(mla_prefill_, prefills, len, 2.0, extrapolated);
        const double module_rows = std::round(prefills * len);
        const double proj = mla_proj_s(module_rows, extrapolated);
        if (module < 0 || proj < 0) return -1.0;
        if (mla_chain_) {
            const double c = mla_chain_->seconds(false, prefills * len, mla_heads_);
            module -= c;
            if (chain_s) *chain_s += c;
        }
        t += std::max(0.0, module - proj);
        if (prefill_rows > module_rows) {
            const double all = cached_gemm_s(mla_kv_b_cache_, mla_gemm_, prefill_rows, mla_kv_b_[0], mla_kv_b_[1],
                                             extrapolated);
            const double in_module = cached_gemm_s(mla_kv_b_cache_, mla_gemm_, module_rows, mla_kv_b_[0],
                                                   mla_kv_b_[1], extrapolated);
            if (all < 0 || in_module < 0) return -1.0;
            t += std::max(0.0, all - in_module);
            if (context_s) *context_s += std::max(0.0, all - in_module);
        }
        const double kernels =
            mla_context_kernels_s(cached_rows, std::max(0.0, prefill_rows - module_rows), merged_rows);
        t += kernels;
        if (context_s) *context_s += kernels;
    }
    return t * static_cast<double>(op.count);
}

// A layer's memory-bound kernels around a cached context's attention
// (MLACommonImpl._compute_prefill_context):
// - the gather (gather_and_maybe_dequant_cache): every cached latent, kv_lora_rank + rope elements a token,
//   read from the KV cache and written in bf16 to the workspace;
// - the keys' assembly, torch.cat((k_nope, k_pe.expand(...))): for each up-projected row beyond those the
//   module table timed, a head's nope part read and its nope + rope key written, per head on this GPU, and
//   the shared rope part read;
// - the merge of the context's and the new tokens' attention (merge_attn_states): two partial outputs of
//   v_head_dim per head and their fp32 log-sum-exps read, one output written, for every new token.
// One context chunk (vLLM loops over chunks of its prefill workspace, one gather, assembly and merge each,
// when the context outgrows it).
double KernelTablePredictor::mla_context_kernels_s(double cached_rows, double assembled_rows,
                                                   double merged_rows) const {
    if (cached_rows <= 0.0) return 0.0;
    const ModelCard& m = roofline_.model();
    const CostConfig& c = roofline_.config();
    const double heads = static_cast<double>(m.num_attention_heads) / static_cast<double>(c.tp);
    const double bf16 = 2.0;
    const double latent = static_cast<double>(m.kv_lora_rank + m.qk_rope_head_dim);
    const double gather = cached_rows * latent * (dtype_bytes(c.kv_dtype) + bf16);
    const double nope = static_cast<double>(m.qk_nope_head_dim),
                 rope = static_cast<double>(m.qk_rope_head_dim);
    const double assemble = assembled_rows * (heads * (2.0 * nope + rope) + rope) * bf16;
    const double merge = merged_rows * heads * (3.0 * static_cast<double>(m.v_head_dim) * bf16 + 2.0 * 4.0);
    const double rate = memory_bytes_per_s(roofline_.gpu(), c.gemm_calibration());
    double t = 0.0;
    for (const double bytes : {gather, assemble, merge}) {
        if (bytes > 0.0) t += std::max(gemm_bf16_least_s_, bytes / rate);
    }
    return t;
}

double AttentionTables::least_s() const {
    return hi ? (1.0 - w) * lo->least_s() + w * hi->least_s() : lo->least_s();
}

double AttentionTables::lookup(double batch, double length, double length_power, bool& extrapolated) const {
    const double a = lookup_scaled(lo, {batch * batch_scale, length}, {1.0, length_power}, extrapolated);
    if (!hi || a < 0) return a;
    const double b = lookup_scaled(hi, {batch * batch_scale, length}, {1.0, length_power}, extrapolated);
    return b < 0 ? -1.0 : (1.0 - w) * a + w * b;
}

double KernelTablePredictor::decode_lookup(const AttentionTables& dec, double decodes, double keys,
                                           bool& extrapolated, bool* folded, bool fold) const {
    const double d = dec.lookup(decodes, keys, 1.0, extrapolated);
    if (d >= 0 || !fold) return d;
    const Calibration* cal = roofline_.config().calibration.get();
    auto fit_s = [&](double b, double k) {  // the decode fit's time, or the KV's bytes alone without one
        const AttentionWork w = decode_kv_work(b, k, kv_bytes_per_key_, kv_heads_, heads_, head_dim_);
        return cal && cal->has_attention()
                   ? calibrated_decode_attention_s(roofline_.gpu(), cal->decode_attention, cal->prefill_attention, w)
                   : w.bytes;
    };
    for (double f = 2.0; decodes / f >= 1.0; f *= 2.0) {
        const double t = dec.lookup(decodes / f, keys * f, 1.0, extrapolated);
        if (t < 0) continue;
        if (folded) *folded = true;
        return t * fit_s(decodes, keys) / fit_s(decodes / f, keys * f);
    }
    return -1.0;
}

double KernelTablePredictor::attention_s(const RooflineOp& op, const std::vector<SequenceWork>& batch,
                                         bool& extrapolated, bool* held, bool* folded) const {
    const int sliding = op.kind == OpKind::ATTENTION_SLIDING ? 1 : 0;
    const AttentionTables& dec = decode_attn_[sliding];
    const AttentionTables& pre = prefill_attn_[sliding];
    const int64_t window = sliding ? window_ : 0;
    // A table timed with the window holds each call at the sequences' own lengths (a decode's position, a
    // prompt's tokens), the window applied: its decodes are looked up at the keys they would see without it,
    // up to twice the window (every such table is flat from its first point past the window), its prefills at
    // the prompt length of as many windowed keys (windowed_length).
    const bool windowed[2] = {sliding && !sliding_full_[0], sliding && !sliding_full_[1]};
    double decodes = 0, decode_keys = 0, decode_axis = 0, prefills = 0, prefill_keys = 0;
    for (const SequenceWork& s : batch) {
        if (s.padding) continue;
        // the windowless tables leave a prefill past a short window to the roofline (full_past_window)
        if (sliding && sliding_full_[1] && !s.is_decode() && s.context + s.new_tokens > window &&
            !full_past_window(window)) {
            return -1.0;
        }
        const double keys = attention_keys(s, window);
        if (s.is_decode()) {
            ++decodes;
            decode_keys += keys;
            decode_axis +=
                windowed[0] ? std::min(attention_keys(s, 0), 2.0 * static_cast<double>(window)) : keys;
        } else {
            ++prefills;
            prefill_keys += keys;
        }
    }
    double t = 0.0;
    if (decodes > 0) {
        if (!dec) return -1.0;
        // decodes of mean context: attention reads every key once, so the time is linear in both axes
        double d = decode_lookup(dec, decodes, std::max(1.0, decode_axis / decodes), extrapolated,
                                 windowed[0] ? nullptr : folded, !windowed[0]);
        if (d < 0) return -1.0;
        // FlashAttention 2's unpacked windowed decode (the MHA layout's table) whose KV is past the L2: the
        // tables' own such calls sit between the two layouts (L40S, KV past the L2, 250 points: the MHA
        // layout a median 7% over at 2 query heads a KV head, 58% at 4 and 166-173% at 5-8; the GQA layout
        // 44-61% under at every group), so the geometric mean of the two (-23% to +22% by group); within the
        // L2 the MHA layout (-3%)
        if (sliding && sliding_unpacked_ &&
            decode_keys * kv_bytes_per_key_ > roofline_.gpu().l2_cache_bytes()) {
            const double packed =
                decode_lookup(decode_attn_[0], decodes, std::max(1.0, decode_keys / decodes), extrapolated);
            if (packed > 0.0) d = std::sqrt(d * packed);
        }
        const double floor = l2_warm_kv_floor_s(decode_keys, sliding);
        if (held && floor > d) *held = true;
        t += std::max(d, floor);
    }
    if (prefills > 0) {
        if (!pre) return -1.0;
        const double p =
            windowed[1]
                ? pre.lookup(prefills, windowed_length(prefill_keys / prefills, window), 1.0, extrapolated)
                : pre.lookup(prefills, causal_length(prefill_keys / prefills), 2.0, extrapolated);
        if (p < 0) return -1.0;
        // a mixed step of a one-call kernel pays the call's floor once, not once per table
        t = decodes > 0 ? std::max(std::max(t, p), t + p - mixed_attn_floor_s_[sliding]) : p;
    }
    return t * static_cast<double>(op.count);
}

// An encoder's attention: the sequences of the step at their mean length, every token seeing every other
// (quadratic in the length, linear in the count past the table).
double KernelTablePredictor::encoder_attention_s(const RooflineOp& op, const std::vector<SequenceWork>& batch,
                                                 bool& extrapolated) const {
    if (batch.empty()) return 0.0;
    double tokens = 0;
    for (const SequenceWork& s : batch) tokens += static_cast<double>(s.context + s.new_tokens);
    const double n = static_cast<double>(batch.size());
    const double t = lookup_scaled(encoder_attn_, {n, std::max(1.0, tokens / n)}, {1.0, 2.0}, extrapolated);
    return t < 0 ? -1.0 : t * static_cast<double>(op.count);
}

double l2_warm_moe_floor_s(const GridTable& t, double least_s, const GpuProfile& gpu, const GemmCalibration* cal,
                           double tokens, const MoeRouting& routing) {
    const double l2 = gpu.l2_cache_bytes();
    if (l2 <= 0.0 || t.moe_working_set_bytes(tokens) > l2) return 0.0;
    const double experts = static_cast<double>(t.attr_int("experts"));
    const double ep = static_cast<double>(std::max<int64_t>(1, t.attr_int("ep")));
    const double hit = experts_reached(routing, experts, static_cast<double>(t.attr_int("topk")), tokens) / ep;
    // not least_s + the stream, as for a GEMM: a fused-MoE table's fastest call is its 1-token one, which already
    // streams top-k experts
    return std::max(least_s, hit * t.moe_expert_bytes() / memory_bytes_per_s(gpu, cal));
}

// The fused-MoE tables were timed with balanced routing (AIConfigurator's collector spreads a call's T x k
// picks over min(T x k, E) experts), the most experts T tokens can reach. A router's picks repeat experts: T
// tokens choosing k of E each reach E (1 - (1 - k / E)^T) on average if they choose independently
// (expected_distinct_experts, as the roofline counts them), so a small batch streams fewer experts' weights
// than the table's call did. Where the two counts differ, the streaming of the experts not reached is taken
// off, as the table itself prices it in its memory-bound start, where a call of x tokens reaches x k experts
// (the table interpolates linearly in those picks: GridTable::moe_picks_coordinate): t(T) - share x
// [t(hit_balanced / k) - t(hit_random / k)]. Never below the table at hit_random / k, never above t(T). The
// share: a call of fewer tokens also has fewer picks to sort, route and pad, which the call of T tokens still
// has, so only part of that difference is the experts' streaming. Fitted on the tables' power-law rows, whose
// generator reaches fewer experts than balanced routing (bench/fidelity.cpp, "power-law rows from balanced
// ones": the share minimising the mean |error|, fitted per regime on all five GPUs with power-law rows, 0.75
// and 0.80 since the fortieth session's interpolation over the picks, 0.76 and 0.83 before; cross-validated
// leaving one GPU out, median / p90 |error| 4.5% / 18.3% against 9.1% / 25.0% at the full difference
// and 17.0% / 56.2% uncorrected).
double routing_correction(const GridTable& t, double tokens, double table_s, double reached, double share) {
    const auto k = static_cast<double>(t.attr_int("topk")), experts = static_cast<double>(t.attr_int("experts"));
    if (!(k > 0) || !(experts > 0) || tokens <= 1.0) return table_s;
    if (reached < 0) reached = expected_distinct_experts(experts, k, tokens);
    const double balanced = std::max(1.0, experts_reached({MoeRouting::Kind::BALANCED, 0.0}, experts, k, tokens) / k);
    const double random = std::max(1.0, reached / k);
    if (random >= balanced) return table_s;
    if (share < 0) share = tokens * k <= experts ? ROUTING_SHARE_FEW_PICKS : ROUTING_SHARE_MANY_PICKS;
    bool ex = false;
    // balanced == tokens where T k <= E: the table at the call's own token count, table_s
    const double at_balanced = balanced == tokens ? table_s : lookup_scaled(&t, {balanced}, {1.0}, ex);
    const double at_random = lookup_scaled(&t, {random}, {1.0}, ex);
    if (!(at_balanced > at_random) || !(at_random > 0)) return table_s;
    return std::min(table_s, std::max(table_s - share * (at_balanced - at_random), at_random));
}

std::shared_ptr<const GridTable> balanced_moe_from_power_law(const GridTable& law, const std::string& own_gpu,
                                                             int* references, bool* other_formats,
                                                             bool only_other_formats) {
    struct Estimate {
        std::shared_ptr<const GridTable> table;
        int references = 0;
        bool other_formats = false;
    };
    static std::mutex mu;
    static std::map<std::string, Estimate> memo;
    std::map<std::string, std::string> shape = law.attrs;  // the shape, format, TP and EP, not the provenance
    shape.erase("distribution");
    shape.erase("framework");
    shape.erase("kernel");
    std::string key = own_gpu + (only_other_formats ? " other-formats" : "");
    for (const auto& [k, v] : shape) key += " " + k + "=" + v;
    // (balanced, power_law_1.01) pairs of the other GPUs' tables of this shape, TP and EP: of this format, or of
    // every other format; the shipped tables live for the process (shipped_kernel_tables' cache)
    auto pairs = [&](bool other) {
        std::vector<std::pair<const GridTable*, const GridTable*>> refs;
        const std::string format = law.attr("dtype");
        for (const std::string& gpu : shipped_kernel_table_gpus()) {
            if (gpu == own_gpu) continue;
            auto t = shipped_kernel_tables(gpu);
            if (!t) continue;
            std::map<std::string, std::string> m = shape;
            if (other) m.erase("dtype");
            m["distribution"] = "balanced";
            for (const GridTable* b : t->find("moe", m)) {
                if (other && b->attr("dtype") == format) continue;
                std::map<std::string, std::string> law_match = m;
                law_match["dtype"] = b->attr("dtype");
                law_match["distribution"] = "power_law_1.01";
                if (const GridTable* p = t->find_first("moe", law_match)) refs.emplace_back(b, p);
                if (!other) break;
            }
        }
        return refs;
    };
    const Estimate* known = nullptr;
    {
        std::lock_guard<std::mutex> lock(mu);
        const auto it = memo.find(key);
        if (it != memo.end()) known = &it->second;  // (std::map: the entry's address stays valid)
    }
    if (!known) {
        // worked out outside the lock (the first use reads the other GPUs' shipped tables); two threads may both
        // work it out, to the same table, and the first to store it wins
        Estimate e;
        if (law.axes.size() == 1) {
            std::vector<std::pair<const GridTable*, const GridTable*>> refs;
            if (!only_other_formats) refs = pairs(false);
            if (refs.empty()) {
                refs = pairs(true);
                e.other_formats = true;
            }
            auto g = std::make_shared<GridTable>(law);
            g->attrs["distribution"] = "balanced";
            g->axes[0].clear();
            g->values_ms.clear();
            for (size_t i = 0; i < law.axes[0].size(); ++i) {
                const double tokens = law.axes[0][i], v = law.value_ms({i});
                if (!(v > 0)) continue;
                std::vector<double> ratio;
                for (const auto& [b, p] : refs) {
                    const auto tb = b->lookup_s({tokens}), tp = p->lookup_s({tokens});
                    if (tb && tp && *tp > 0) ratio.push_back(*tb / *tp);
                }
                if (ratio.empty()) continue;
                e.references = std::max(e.references, static_cast<int>(ratio.size()));
                g->axes[0].push_back(tokens);
                g->values_ms.push_back(static_cast<float>(v * exact_percentile(std::move(ratio), 50.0)));
            }
            if (g->axes[0].size() >= 2) e.table = g;
        }
        std::lock_guard<std::mutex> lock(mu);
        known = &memo.emplace(key, std::move(e)).first->second;
    }
    if (references) *references = known->table ? known->references : 0;
    if (other_formats) *other_formats = known->table && known->other_formats;
    return known->table;
}

double KernelTablePredictor::moe_s(int64_t tokens, bool& extrapolated, bool* held, bool* routed_experts) const {
    if (!moe_ || tokens < 0) return -1.0;
    const auto row = static_cast<size_t>(tokens);
    if (!held && !routed_experts && row < moe_cache_.size() && moe_cache_[row] != 0.0) {  // memoised by token count: the hot path
        if (moe_cache_[row] < 0) extrapolated = true;
        return std::fabs(moe_cache_[row]);
    }
    bool ex = false;
    double t = lookup_scaled(moe_, {static_cast<double>(tokens)}, {1.0}, ex);
    if (t < 0) return -1.0;
    if (!moe_rows_routed_ && !moe_rows_stand_in_) {
        const auto T = static_cast<double>(tokens);
        const double reached = experts_reached(routing_, static_cast<double>(moe_->attr_int("experts")),
                                               static_cast<double>(moe_->attr_int("topk")), T);
        const double routed = routing_correction(*moe_, T, t, reached);
        if (routed_experts) *routed_experts = routed < t;
        t = routed;
    }
    const double floor =
        l2_warm_moe_floor_s(*moe_, moe_least_s_, roofline_.gpu(), expert_cal_, static_cast<double>(tokens), routing_);
    if (held) *held = floor > t;
    const double one = std::max(t, floor);
    if (row < 65536) {
        if (moe_cache_.size() <= row) moe_cache_.resize(std::max(row + 1, moe_cache_.size() * 2), 0.0);
        moe_cache_[row] = ex ? -one : one;
    }
    extrapolated = extrapolated || ex;
    return one;
}

// One MoE op of the step: its share of the fused kernel's measured time (routed experts), plus the shared
// expert's part: its GEMM from the GEMM table (T rows: every token goes through it), its activation from the
// roofline's op in proportion to the elements (T x shared of the T x k x inter + T x shared it counts).
double KernelTablePredictor::moe_op_s(const RooflineOp& op, double moe_share,
                                      bool& extrapolated) const {
    const auto tokens = static_cast<int64_t>(op.m);  // the padding rows of a CUDA graph are routed too
    const double layer = moe_s(tokens * gather_ranks_, extrapolated);
    if (layer < 0) return -1.0;
    double t = layer * static_cast<double>(op.count) * moe_share;
    if (shared_inter_ <= 0) return t;
    const auto T = static_cast<double>(tokens);  // a shared expert runs on the rank's own tokens
    const double h = static_cast<double>(hidden_), shared = static_cast<double>(shared_inter_);
    if (op.kind == OpKind::ACTIVATION_MOE) {
        const double routed = T * static_cast<double>(topk_) * static_cast<double>(moe_inter_);
        return t + op.time_s * (T * shared) / (routed + T * shared);
    }
    RooflineOp g = op;
    g.m = T;
    g.n = op.kind == OpKind::MOE_GATE_UP_PROJ ? 2.0 * shared : h;
    g.k = op.kind == OpKind::MOE_GATE_UP_PROJ ? h : shared;
    double sh = shared_in_gemm_table_ ? gemm_s(op.kind, g, extrapolated) : -1.0;
    if (sh < 0) {  // no GEMM table for the experts' format: the shared expert on the (calibrated) roofline
        const CostConfig& c = roofline_.config();
        sh = gemm_time_s(roofline_.gpu(), expert_dtype_, g.m, g.n, g.k, expert_cal_, c.blend_exponent) *
             static_cast<double>(op.count);
    }
    return t + sh;
}

// The vLLM rows time vLLM's own all-reduce call, tensor_model_parallel_all_reduce (AIConfigurator's
// collect_all_reduce.py), so at every message size, to 1 GiB, they time the path vLLM picks (VllmAllreduce):
// H100's 8-GPU rows run 6-10% above the multimem column vLLM published for H100 at 8 GPUs (PR 42324: 0.011 /
// 0.018 / 0.046 / 0.087 / 0.165 ms at 0.5 / 2 / 8 / 16 / 32 MiB; the rows 0.012 / 0.019 / 0.051 / 0.092 /
// 0.178), where NCCL's own table (nccl-tests) holds 0.020 / 0.038 / 0.079 / 0.122 / 0.200; where vLLM runs
// NCCL the two agree on H100, H200, A100 and B200 (within 4% from 128 MiB), not on GB200 at 2 GPUs (the
// rows 2.6x NCCL's from 8 MiB, where vLLM hands the message to NCCL) or L40S at 4 (1.35x). The rows price
// every TP all-reduce they reach, those two included, and NCCL's table only past their largest message or
// where no rows time the GPU count. Called eagerly (a step larger than the largest captured size, or CUDA
// graphs off) the custom all-reduce first copies its input into its IPC buffer, which the eager rows time
// (with the collector's own copy of the input); symmetric memory and NCCL run alike in a graph and out of
// one. FlashInfer's fused all-reduce + RMSNorm (`fused`), an IPC kernel of the custom all-reduce's kind,
// takes the graph rows.
double KernelTablePredictor::allreduce_s(double bytes, bool eager, bool fused, bool& extrapolated, bool& nccl) const {
    nccl = false;
    // the tables' message sizes count elements (GridTable::message_bytes_per_unit)
    const bool custom = allreduce_paths_.path(bytes) == VllmAllreduce::Path::CUSTOM;
    const bool eager_rows = eager && !fused && custom && allreduce_eager_;
    const GridTable* rows = eager_rows || !allreduce_ ? allreduce_eager_ : allreduce_;
    if (rows) {
        const double units = bytes / rows->message_bytes_per_unit();
        if (units <= rows->axes[0].back() || !nccl_) return lookup_scaled(rows, {units}, {1.0}, extrapolated);
    }
    if (!nccl_) return -1.0;
    nccl = true;
    return lookup_scaled(nccl_, {bytes / nccl_->message_bytes_per_unit()}, {1.0}, extrapolated);
}

double KernelTablePredictor::op_time_s(const RooflineOp& op, const std::vector<SequenceWork>& batch, double moe_share,
                                       std::string* source) const {
    bool ex = false;
    double t = -1.0;
    const char* family = "";
    std::string note;  // said after the source (only built when asked)
    const KernelTables* from = nullptr;  // the tables it was read from, when not this GPU's own (source_line)
    const bool mla_proj = mla_prefill_ && (op.kind == OpKind::QKV_PROJ || op.kind == OpKind::O_PROJ);
    if (is_gemm(op.kind)) {
        t = gemm_s(op.kind, op, ex);
        family = "gemm";
        if (mla_proj && mla_gemm_ != gemm_) {
            note = "; bf16 GEMMs for block fp8";
        } else if (!mla_proj && block_fp8_ && op.kind != OpKind::LM_HEAD) {
            note = "; the fp8 table for block fp8, at most its time for more rows";
        }
        const GridTable* table = op.kind == OpKind::LM_HEAD ? gemm_bf16_ : gemm_;
        if (source && !mla_proj && table && l2_warm_floor_s(table, op.m, op.n, op.k) > 0.0) {  // (not on the hot path)
            note = "; timed with its weights in L2: held to streaming them from memory";
        }
    } else if (mla_prefill_ && op.kind == OpKind::ROPE) {
        if (source) *source = "in the MLA module table (attention)";
        return 0.0;
    } else if (mla_prefill_ && op.kind == OpKind::ATTENTION) {
        double chain_s = 0.0, context_s = 0.0;  // (for the source note)
        t = mla_attention_s(op, batch, ex, source ? &chain_s : nullptr, source ? &context_s : nullptr);
        family = "mla_decode";
        note = mla_other_model_ ? "; DeepSeek-V3's MLA module at these heads per GPU, less its projections"
                                : "; MLA module less its projections";
        if (source && mla_tables_ != tables_) {  // (not on the hot path)
            note += fmt::format("; {}'s module, timed with vLLM's fused norms ({}'s ran the unfused chain)",
                                mla_tables_->device, tables_->device);
        } else if (source && mla_chain_) {
            // AIConfigurator's collection note on the tables it re-collected (B200's) says the others' ran it
            note += fmt::format(
                "; less the unfused norm chain these tables timed ({:.1f} us a layer here, as GB200's MLA "
                "tables time it over B200's)",
                1e6 * chain_s);
        }
        if (context_s > 0.0) {
            note += fmt::format(
                "; the cached context's latent gathered and up-projected again, its keys "
                "assembled and the two attentions merged ({:.1f} us a layer: kv_b_proj from the "
                "GEMM table, the memory-bound kernels at the memory rate)",
                1e6 * context_s);
        }
    } else if (encoder_attn_ && op.kind == OpKind::ATTENTION) {
        t = encoder_attention_s(op, batch, ex);
        family = "encoder_attention";
    } else if (op.kind == OpKind::ATTENTION || op.kind == OpKind::ATTENTION_SLIDING) {
        bool held = false, folded = false;
        t = attention_s(op, batch, ex, &held, source ? &folded : nullptr);
        family = "decode_attention";
        const int sliding = op.kind == OpKind::ATTENTION_SLIDING ? 1 : 0;
        const AttentionTables& d = decode_attn_[sliding];
        if (d.batch_scale != 1.0 || prefill_attn_[sliding].batch_scale != 1.0) {
            note = "; KV heads folded into the batch (tables at fewer KV heads per GPU)";
        }
        if (source && d.hi) {  // (not on the hot path)
            note = fmt::format("; query heads interpolated between the {}- and {}-head tables", d.lo->attr_int("heads"),
                               d.hi->attr_int("heads"));
        }
        if (source && sliding && (sliding_full_[0] || sliding_full_[1])) {
            note += fmt::format("; the windowless tables (none timed a window of {} keys)", window_);
        }
        if (held) note += "; decodes timed with their KV in L2: held to streaming it from memory";
        if (folded) note += "; the decodes' KV past the table's, read as fewer, longer sequences (scaled by the decode fit)";
    } else if (is_fused_moe_op(op.kind) && moe_) {
        t = moe_op_s(op, moe_share, ex);
        family = "moe";
        if (source) {  // (not on the hot path)
            bool held = false, unused = false, routed = false;
            moe_s(static_cast<int64_t>(op.m) * gather_ranks_, unused, &held, &routed);
            const double m = op.m * static_cast<double>(gather_ranks_);
            if (moe_rows_routed_) {
                note = fmt::format("; rows timed with {} routing", routing_.name());
            } else {
                if (moe_rows_stand_in_) {
                    note = "; no balanced rows for this shape: its power_law_1.01 rows, as measured";
                } else if (moe_estimated_) {
                    note = moe_other_formats_
                               ? fmt::format("; balanced rows estimated from its power_law_1.01 rows x the balanced / "
                                             "power-law ratio of {} tables of other formats on other GPUs (none "
                                             "times this shape in {})",
                                             moe_references_, moe_->attr("dtype"))
                               : fmt::format("; balanced rows estimated from its power_law_1.01 rows x the balanced / "
                                             "power-law ratio of {} other GPUs' tables", moe_references_);
                }
                if (routed) {
                    const double k = static_cast<double>(moe_->attr_int("topk")), e = static_cast<double>(moe_->attr_int("experts"));
                    note += fmt::format("; {:.1f} of {:g} experts reached on average by {:g} tokens' {} picks, the "
                                        "table's balanced routing reached {:g}",
                                        experts_reached(routing_, e, k, m), e, m, routing_.name(),
                                        experts_reached({MoeRouting::Kind::BALANCED, 0.0}, e, k, m));
                } else if (routing_.kind == MoeRouting::Kind::POWER_LAW && !moe_rows_stand_in_) {
                    note += fmt::format("; no {} rows for this shape: balanced rows", routing_.name());
                }
            }
            if (gather_ranks_ > 1) {
                note += fmt::format("; the EP rows at the {:g} tokens gathered from {} DP ranks", m, gather_ranks_);
            }
            if (held) note += "; timed with its experts in L2: held to streaming them from memory";
        }
    } else if (is_small_kernel(op.kind)) {  // (an MLA model's RoPE is in its module table, above)
        // no table times it: the roofline's time for its bytes, but no less than the fixed cost the tables show
        // for the smallest kernel they timed (a GEMM of a few rows, 2.45 us on H100) for each call
        const double floor = gemm_bf16_least_s_ * static_cast<double>(op.count);
        if (std::isnan(op.time_s) || op.time_s >= floor) return -1.0;
        if (source) {
            const Calibration* cal = roofline_.config().calibration.get();
            *source = fmt::format("{}, held to the tables' fastest kernel ({:.2f} us a call)", cal ? cal->label() : "roofline",
                                  gemm_bf16_least_s_ * 1e6);
        }
        return floor;
    } else if (op.kind == OpKind::TP_ALLREDUCE || op.kind == OpKind::QK_NORM_ALLREDUCE) {
        bool nccl = false;
        const double message = op.bytes / static_cast<double>(op.count);
        const CostConfig& c = roofline_.config();
        const bool eager = !c.cuda_graphs || (c.cuda_graph_max_tokens > 0 && op.m > static_cast<double>(c.cuda_graph_max_tokens));
        const bool fused = op.fused;  // as the roofline's walk decided
        const double one = allreduce_s(message, eager, fused, ex, nccl);
        t = one < 0 ? -1.0 : one * static_cast<double>(op.count);
        family = nccl ? "nccl" : "vllm_allreduce";
        if (nccl && nccl_tables_) {  // a sibling's rows (nccl_sibling)
            from = nccl_tables_.get();
            note = nccl_note_;
        }
        // FlashInfer's fused kernel, timed as vLLM's own all-reduce: no table times it
        if (fused) {
            note += "; run as FlashInfer's all-reduce + add + RMSNorm, timed as this all-reduce";
        } else if (!nccl) {
            const VllmAllreduce::Path path = allreduce_paths_.path(message);
            if (allreduce_paths_.symm_max_bytes > 0)
                note += "; vLLM runs it on " + allreduce_paths_.name(path);
            if (eager && allreduce_eager_ && path == VllmAllreduce::Path::CUSTOM)
                note += "; eager rows: the step runs outside a CUDA graph";
        } else if (allreduce_) {
            note += "; past the vLLM rows' largest message";
        }
    } else if (op.kind == OpKind::EP_ALLTOALL && ep_gather_ && ep_scatter_) {
        // the gather backend's all-gather of every DP rank's T x h hidden states and the reduce-scatter of the
        // experts' outputs: NCCL's tables, whose message sizes count the gathered elements
        const double elements = op.m * static_cast<double>(gather_ranks_) * static_cast<double>(hidden_);
        const double g = lookup_scaled(ep_gather_, {elements}, {1.0}, ex);
        const double r = lookup_scaled(ep_scatter_, {elements}, {1.0}, ex);
        t = g < 0 || r < 0 ? -1.0 : (g + r) * static_cast<double>(op.count);
        family = "nccl";
        note = fmt::format("; all-gather and reduce-scatter over the {} DP ranks (a gather backend)",
                           gather_ranks_);
    }
    if (source && t >= 0) *source = source_line(family, ex, note.c_str(), from);
    return t;
}

namespace {

// Collects the roofline's ops of a step; the MoE ops' roofline times give the shares of the fused MoE kernel.
struct Collect : RooflineOpVisitor {
    std::vector<RooflineOp>* ops;
    void visit(const RooflineOp& op) override { ops->push_back(op); }
};

double moe_roofline_total(const std::vector<RooflineOp>& ops) {
    double s = 0;
    for (const RooflineOp& o : ops) {
        if (is_fused_moe_op(o.kind)) s += o.time_s;
    }
    return s;
}

}  // namespace

double KernelTablePredictor::scaled(const RooflineOp& op, double t, double roofline_s, const double* sibling_s) const {
    if (!sibling_ || t <= 0.0 || !(is_gemm(op.kind) || is_fused_moe_op(op.kind) || op.kind == OpKind::ATTENTION ||
                                   op.kind == OpKind::ATTENTION_SLIDING)) {
        return t;
    }
    const double there = sibling_s[static_cast<int>(op.kind)];
    return there > 0.0 && roofline_s > 0.0 ? t * roofline_s / there : t;
}

void KernelTablePredictor::sibling_times(const std::vector<SequenceWork>& batch, double* out) const {
    struct Times : RooflineOpVisitor {
        double* out;
        void visit(const RooflineOp& op) override { out[static_cast<int>(op.kind)] += op.time_s; }
    } v;
    v.out = out;
    std::fill(out, out + NUM_OP_KINDS, 0.0);
    sibling_->walk(batch, v);
}

StepCost KernelTablePredictor::step(const std::vector<SequenceWork>& batch) const {
    StepCost s = roofline_.step(batch);
    std::vector<RooflineOp> ops;
    Collect c;
    c.ops = &ops;
    roofline_.walk(batch, c);
    const double moe_total = moe_roofline_total(ops);
    double there[NUM_OP_KINDS] = {};
    if (sibling_) sibling_times(batch, there);
    s.time_s = 0.0;
    for (size_t i = 0; i < ops.size() && i < s.ops.size(); ++i) {
        OpCost& o = s.ops[i];
        std::string source;
        const double share = moe_total > 0 ? ops[i].time_s / moe_total : 0.0;
        const double t = op_time_s(ops[i], batch, share, &source);
        if (t >= 0) {
            o.time_s = scaled(ops[i], t, ops[i].time_s, there);
            o.source = source;
            if (o.time_s != t) o.source += fmt::format(", scaled by the roofline from {}", sibling_->gpu().display_name);
        }
        s.time_s += o.time_s;
    }
    return s;
}

namespace {

struct TotalsVisitor : RooflineOpVisitor {
    const KernelTablePredictor* p;
    const std::vector<SequenceWork>* batch;
    const double* there;  // the sibling's roofline times by op kind, with borrowed tables
    StepTotals t;
    RooflineOp moe[3];
    int moe_n = 0;
    void add(const RooflineOp& op, double time) {
        t.time_s += time;
        t.flops += op.flops;
        t.bytes += op.bytes;
        t.time_by_bound_s[static_cast<int>(op.bound)] += time;
        const auto set = static_cast<int>(layer_set(op.kind));
        if (set < NUM_LAYER_SETS) t.layer_set_s[set] += time;
    }
    void visit(const RooflineOp& op) override {
        if (is_fused_moe_op(op.kind) && p->covers(op.kind)) {  // the fused MoE kernel: split once all three are in
            moe[moe_n++] = op;
            if (moe_n < 3) return;
            double total = 0;
            for (const RooflineOp& m : moe) total += m.time_s;
            for (const RooflineOp& m : moe) {
                const double x = p->op_time_s(m, *batch, total > 0 ? m.time_s / total : 0.0, nullptr);
                add(m, x >= 0 ? p->scaled(m, x, m.time_s, there) : m.time_s);
            }
            moe_n = 0;
            return;
        }
        const double x = p->covers(op.kind) ? p->op_time_s(op, *batch, 0.0, nullptr) : -1.0;
        if (x >= 0) {
            add(op, p->borrowed() ? p->scaled(op, x, std::isnan(op.time_s) ? p->roofline().gemm_op_s(op) : op.time_s, there) : x);
        } else if (std::isnan(op.time_s)) {  // a table GEMM the table could not price: the roofline's time after all
            add(op, p->roofline().gemm_op_s(op));
        } else {
            add(op, op.time_s);
        }
    }
    bool wants_gemm_time(OpKind k) const override { return !(is_gemm(k) && p->covers(k)); }
};

}  // namespace

StepTotals KernelTablePredictor::step_totals(const std::vector<SequenceWork>& batch) const {
    TotalsVisitor v;
    v.p = this;
    v.batch = &batch;
    double there[NUM_OP_KINDS] = {};
    if (sibling_) sibling_times(batch, there);
    v.there = there;
    roofline_.walk(batch, v);
    v.t.fabric = roofline_.fabric_traffic(batch);  // collectives across domains are the roofline's (tp_link, ep_link)
    return v.t;
}

namespace {

std::unique_ptr<StepTimePredictor> make_op_predictor(const ModelCard& model, const GpuProfile& gpu, const CostConfig& config,
                                                     const std::string& which) {
    if (which != "auto" && which != "tables" && which != "calibrated" && which != "roofline") {
        throw PlanError("predictor", fmt::format("unknown predictor \"{}\" (auto, tables, calibrated, roofline)", which));
    }
    CostConfig c = config;
    if (which == "roofline") {
        c.calibration = nullptr;  // the plain model
        return std::make_unique<CostModel>(model, gpu, c);
    }
    if (!c.calibration) c.calibration = shipped_calibration(gpu.name);
    if (which == "calibrated") {
        if (!c.calibration) {
            throw PlanError("predictor", fmt::format("no calibration ships for {}; fit one with `headroom calibrate`", gpu.name));
        }
        return std::make_unique<CostModel>(model, gpu, c);
    }
    const std::string name = kernel_table_gpu(gpu);
    std::shared_ptr<const KernelTables> t = c.kernel_tables ? c.kernel_tables
                                            : name.empty()  ? nullptr
                                                            : shipped_kernel_tables(name);
    if (t) return std::make_unique<KernelTablePredictor>(model, gpu, c, t);
    if (which == "tables") {
        throw PlanError("predictor", fmt::format("no kernel tables ship for {} (tables exist for h100-sxm, h200, b200, "
                                                "gb200, a100-80gb, l40s; h100-pcie borrows h100-sxm's); use --predictor calibrated or roofline", gpu.name));
    }
    return std::make_unique<CostModel>(model, gpu, c);
}

}  // namespace

std::unique_ptr<StepTimePredictor> make_step_predictor(const ModelCard& model, const GpuProfile& gpu,
                                                       const CostConfig& config, const std::string& which) {
    std::unique_ptr<StepTimePredictor> p = make_op_predictor(model, gpu, config, which);
    if (config.async_scheduling) p = std::make_unique<AsyncHostPredictor>(std::move(p));
    return p;
}

}  // namespace headroom
