// Fidelity benchmark (prints numbers; not a test): how well each predictor predicts measured kernel times it
// was not given.
// - Tables, leave-one-out: every measured grid point predicted from its two neighbours along one axis without
//   itself (log-log), for every interior point and axis; "token axis" is the axis a step moves along (GEMM m,
//   attention batch and length, MoE tokens, all-reduce bytes).
// - Plain roofline: the cost model's GEMM and ring all-reduce with the profile's efficiencies, tiles and
//   waves.
// - Calibrated roofline, 5-fold cross-validation: fitted on four fifths of a GPU's GEMMs (or all-reduces),
//   predicting the fifth, every point predicted once. GEMM points timed with their weights in L2 (the table's
//   working set within the GPU's L2: GridTable::gemm_working_set_bytes) are neither fitted nor scored, since
//   no serving step reads weights from L2; the fit that also takes them is scored on the same cold points
//   beside it. For those L2-warm points: how far the kernel-table predictor raises them, to streaming the
//   weights from HBM.
// - The roofline's attention (bf16 KV, no window): plain, and the attention fits of `calibrate` in 5-fold CV;
//   decodes timed with their KV in L2 are neither fitted nor scored, unless streaming it would be under 5% of
//   the call.
// - Table roughness: at 1-8 rows, where a GEMM's time should not change with m, how much consecutive row
//   counts differ in the table itself: the floor under any interpolation's error. Likewise a decode's
//   attention at up to 31 keys and 16 sequences, where every kernel runs one key tile at its launch floor.
// - Fused MoE: the calibrated roofline's fused-MoE fit (moe_roofline below; A100, whose tables time only
//   power-law routing, on those rows), and the power-law rows standing in for balanced ones where a GPU has
//   both (as they are, and times the other GPUs' balanced / power-law ratio: balanced_moe_from_power_law,
//   A100's path).
// Then the seed figures: batch-1 decode and a 4,096-token prefill of Llama-3.3-70B on one H200, per
// predictor.
// Usage: headroom_bench_fidelity [--json] [--gpu PROFILE]  (--gpu: one GPU; no routing-share rows)
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/mla_norm_chain.hpp"
#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/sim/calibrate.hpp"
#include "headroom/sim/metrics.hpp"

using namespace headroom;

namespace {


struct Errors {
    std::vector<double> e;
    void add(double predicted, double measured) {
        if (predicted > 0 && measured > 0) e.push_back(std::fabs(predicted - measured) / measured);
    }
    double q(double pct) const { return e.empty() ? NAN : exact_percentile(e, pct); }
};

struct Row {
    std::string gpu, family, method;
    Errors err;
};

// Leave-one-out along `axes` (indices into the table's axes) over every table of a family.
void loo(const KernelTables& t, const std::string& family, const std::vector<std::string>& axis_names, Errors& out,
         const std::map<std::string, std::string>& match = {}) {
    for (const GridTable* g : t.find(family, match)) {
        const size_t d = g->axes.size();
        std::vector<size_t> at(d, 0);
        const size_t n = g->values_ms.size();
        for (size_t flat = 0; flat < n; ++flat) {
            size_t rest = flat;
            for (size_t i = d; i-- > 0;) {
                at[i] = rest % g->axes[i].size();
                rest /= g->axes[i].size();
            }
            const double v = g->values_ms[flat];
            if (!(v > 0)) continue;
            for (size_t a = 0; a < d; ++a) {
                if (std::find(axis_names.begin(), axis_names.end(), g->axis_names[a]) == axis_names.end()) continue;
                if (auto p = g->loo_s(at, a)) out.add(*p, v * 1e-3);
            }
        }
    }
}

// The attention tables timed with a sliding window (128, 1,024 and 8,192 keys), each point predicted as the
// tables predictor does for a window no table timed: the windowless table of the same kernel, heads and KV
// dtype at the keys the window leaves (a decode at min(position, window), a prefill at the causal length of
// its windowed keys); and by the calibrated roofline (its attention fits are made on windowless bf16 points,
// so these are out of sample), as the cost model prices a window. By where the call sits: within the window
// (it covers every key: FlashAttention drops it) or past it. For the prefills past the window, also the
// windowed table read at the causal length of its keys, as the predictor read it before the forty-seventh
// session.
void window_rows(const KernelTables& t, const GpuProfile& gpu, const Calibration* cal,
                 const std::function<Errors&(const std::string&, const std::string&)>& row) {
    for (const bool decode : {true, false}) {
        const std::string fam = decode ? "decode_attention" : "prefill_attention";
        const std::string name = decode ? "decode attention" : "prefill attention";
        Errors& within = row(name, "window within its keys: windowless table (the predictor)");
        Errors& within_roof = row(name, "window within its keys: calibrated roofline (before)");
        Errors& past =
            row(name, "window past its keys, 1,024 and 8,192: windowless table at its keys (the predictor)");
        Errors& past_roof = row(name, "window past its keys, 1,024 and 8,192: calibrated roofline (before)");
        // (past a short window the predictor reads the tables for a decode, the roofline for a prefill)
        Errors& short_past =
            row(name, decode ? "window past its keys, 128: windowless table at its keys (the predictor)"
                             : "window past its keys, 128: windowless table at its keys");
        Errors& short_roof =
            row(name, decode ? "window past its keys, 128: calibrated roofline (before)"
                             : "window past its keys, 128: calibrated roofline (the predictor)");
        Errors* before =
            decode
                ? nullptr
                : &row(name, "windowed tables past the window, at the causal length of their keys (before)");
        // FlashAttention 2's windowed GQA decodes whose KV is past the L2: the predictor's geometric mean of
        // the two layouts, and each layout alone
        Errors* cold[3] = {nullptr, nullptr, nullptr};
        if (decode && gpu.compute_capability.value > 0.0 && gpu.compute_capability.value < 9.0) {
            cold[0] = &row(
                name, "FlashAttention 2, windowed GQA, KV past the L2: between the layouts (the predictor)");
            cold[1] = &row(name, "  the same points, the MHA layout alone");
            cold[2] = &row(name, "  the same points, the GQA layout alone");
        }
        for (const GridTable* g : t.find(fam)) {
            const int64_t window = g->attr_int("window");
            if (window <= 0 || g->axes.size() != 2) continue;
            std::map<std::string, std::string> m = g->attrs;
            m["window"] = "0";
            const GridTable* z = t.find_first(fam, m);
            const double h = static_cast<double>(g->attr_int("heads")),
                         kvh = static_cast<double>(g->attr_int("kv_heads"));
            // FlashAttention 2 (before Hopper) runs a windowed GQA decode without packing its query heads:
            // the MHA layout's table, KV heads folded into the batch where the tables stop short of them (as
            // the predictor's find_attention)
            // (and past the L2 the geometric mean of that and the GQA layout's, as the predictor's
            // attention_s)
            double batch_scale = 1.0;
            const double cc = gpu.compute_capability.value;
            const GridTable* packed = nullptr;
            if (decode && cc > 0.0 && cc < 9.0 && kvh < h) {
                packed = z;
                z = nullptr;
                for (int64_t e = g->attr_int("heads"); e >= 1 && !z; --e) {
                    m["heads"] = m["kv_heads"] = std::to_string(e);
                    if ((z = t.find_first(fam, m))) batch_scale = h / static_cast<double>(e);
                }
            }
            const double d = static_cast<double>(g->attr_int("head_dim"));
            const double kv_bytes = g->attr("kv_dtype") == "fp8" ? 1.0 : 2.0;
            AttentionShape shape{h, kvh, 4.0 * h * d, 2.0 * kvh * d * kv_bytes, h * d, h * d, window, false};
            shape.query_tile = flash_attention_query_tile(gpu);
            const bool roofline = cal && cal->has_attention();
            for (size_t b = 0; b < g->axes[0].size(); ++b) {
                for (size_t c = 0; c < g->axes[1].size(); ++c) {
                    const double v = g->value_ms({b, c}) * 1e-3;
                    if (!(v > 0)) continue;
                    const double batch = g->axes[0][b], len = g->axes[1][c], w = static_cast<double>(window);
                    const bool inside = len <= w;
                    // a decode's table position is its keys (as the predictor reads a windowless decode
                    // table)
                    const double keys =
                        decode ? std::min(len, w) : keys_seen(0, static_cast<int64_t>(len), window, false);
                    const double at =
                        decode ? keys : std::max(1.0, (std::sqrt(1.0 + 8.0 * keys) - 1.0) / 2.0);
                    Errors& tab = inside ? within : window >= 1024 ? past : short_past;
                    Errors& roof = inside ? within_roof : window >= 1024 ? past_roof : short_roof;
                    if (before && !inside) {
                        if (const auto p = g->lookup_s({batch, at})) before->add(*p, v);
                    }
                    // the table and the roofline on the same points: those the windowless table reaches
                    auto p = z ? z->lookup_s({batch * batch_scale, at}) : std::nullopt;
                    if (!p) continue;
                    if (packed && batch * keys * shape.kv_token_bytes > gpu.l2_cache_bytes()) {
                        const auto q = packed->lookup_s({batch, at});
                        if (!q) continue;
                        cold[1]->add(*p, v);
                        cold[2]->add(*q, v);
                        p = std::sqrt(*p * *q);
                        cold[0]->add(*p, v);
                    }
                    tab.add(*p, v);
                    if (roofline) {
                        AttentionWork dw, pw;
                        const auto n = static_cast<int64_t>(len);
                        add_attention_work(shape, decode ? SequenceWork{1, n - 1} : SequenceWork{n, 0}, dw,
                                           pw);
                        AttentionWork x = decode ? dw : pw;
                        x.flops *= batch, x.bytes *= batch, x.scores *= batch, x.items *= batch,
                            x.sequences *= batch;
                        roof.add(decode ? calibrated_decode_attention_s(gpu, cal->decode_attention,
                                                                        cal->prefill_attention, x)
                                        : calibrated_prefill_attention_s(gpu, cal->prefill_attention, x),
                                 v);
                    }
                }
            }
        }
    }
}

// The tables' own roughness, the floor under any interpolation: at 1 to 8 rows a GEMM streams its weights and
// should take the same time at m and m + 1; |t(m + 1) - t(m)| / t(m) for every such pair with n, k >= 1,024.
void roughness(const KernelTables& t, const std::string& dtype, Errors& out) {
    for (const GridTable* g : t.find("gemm", {{"dtype", dtype}})) {
        if (g->axes.size() != 3) continue;
        for (size_t a = 0; a + 1 < g->axes[0].size() && g->axes[0][a + 1] <= 8; ++a) {
            for (size_t b = 0; b < g->axes[1].size(); ++b) {
                for (size_t c = 0; c < g->axes[2].size(); ++c) {
                    if (g->axes[1][b] < 1024 || g->axes[2][c] < 1024) continue;
                    const double v0 = g->value_ms({a, b, c}), v1 = g->value_ms({a + 1, b, c});
                    if (v0 > 0 && v1 > 0) out.add(v1, v0);
                }
            }
        }
    }
}

// The same floor for decode attention: up to 16 sequences at up to 31 keys of context, where every table's
// kernel walks one key tile at its launch floor (the tables' times rise past 31 keys at the earliest, FA3 at
// head size 256), |t(s') - t(s)| / t(s) for consecutive contexts s < s' of the same batch.
void decode_roughness(const KernelTables& t, Errors& out) {
    for (const GridTable* g : t.find("decode_attention", {})) {
        if (g->axes.size() != 2 || g->axis_names[0] != "batch_size" || g->axis_names[1] != "step") continue;
        for (size_t b = 0; b < g->axes[0].size() && g->axes[0][b] <= 16; ++b) {
            for (size_t s = 0; s + 1 < g->axes[1].size() && g->axes[1][s + 1] <= 31; ++s) {
                const double v0 = g->value_ms({b, s}), v1 = g->value_ms({b, s + 1});
                if (v0 > 0 && v1 > 0) out.add(v1, v0);
            }
        }
    }
}

// DeepSeek-V3's attention block on the GPU's calibrated roofline against every point of its MLA module tables
// (calibrate.hpp's MlaSample, heads per GPU h): op by op (qkv projections, RoPE, attention, o_proj on the
// GEMM and attention fits, no MLA terms), and with the MLA fit in 5-fold cross-validation (fitted per phase
// on four fifths of the GPU's points, predicting the fifth). `carried`: a sibling's shipped calibration whole
// (its GEMM, attention and MLA fits) on this GPU's points, as `calibrate --from` carries it (H100 PCIe from
// H100 SXM), into carried_rows (prefill, decode).
// `s`: mla_samples of the module tables, or mla_attention_samples of A100's attention-implementation tables
// (the attention_only samples' op-by-op time: the kv_b, or W_UK and W_UV, GEMMs and the attention).
// Triton MLA decodes at one head per GPU (Triton's ungrouped kernel, which fit_mla leaves out) are scored in
// `one_head` alone (the MLA fit's prediction).
void mla_roofline(const std::vector<MlaSample>& s, const GpuProfile& gpu, Errors& prefill, Errors& decode,
                  Errors& prefill_cv, Errors& decode_cv, Errors& one_head, const Calibration* carried = nullptr,
                  Errors* carried_rows[2] = nullptr) {
    // (the points timed with the block in L2 are neither fitted nor scored, as the GEMM rows' L2-warm points)
    const Calibration cal = *shipped_calibration(gpu.name);
    std::vector<MlaParts> parts;
    for (const MlaSample& x : s) parts.push_back(mla_sample_parts(gpu, cal, x));
    for (size_t i = 0; i < s.size(); ++i) {
        if (!s[i].l2_warm && !s[i].triton_ungrouped())
            (s[i].decode ? decode : prefill).add(parts[i].projections_s + parts[i].attention_s, s[i].time_s);
    }
    if (carried && carried->has_mla()) {
        for (const MlaSample& x : s) {
            if (x.l2_warm || x.triton_ungrouped()) continue;
            const MlaParts p = mla_sample_parts(gpu, *carried, x);
            carried_rows[x.decode]->add(
                mla_block_time_s(x.decode ? carried->mla_decode : carried->mla_prefill, p), x.time_s);
        }
    }
    std::vector<size_t> idx(s.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), std::mt19937_64(42));
    for (size_t fold = 0; fold < 5; ++fold) {
        std::vector<MlaSample> train_s;
        std::vector<MlaParts> train_p;
        for (size_t i = 0; i < idx.size(); ++i) {
            if (i % 5 != fold) train_s.push_back(s[idx[i]]), train_p.push_back(parts[idx[i]]);
        }
        const MlaCalibration fit[2] = {fit_mla(train_s, train_p, false), fit_mla(train_s, train_p, true)};
        for (size_t i = 0; i < idx.size(); ++i) {
            if (i % 5 != fold || s[idx[i]].l2_warm) continue;
            const MlaSample& x = s[idx[i]];
            (x.triton_ungrouped() ? one_head : x.decode ? decode_cv : prefill_cv)
                .add(mla_block_time_s(fit[x.decode], parts[idx[i]]), x.time_s);
        }
    }
}

std::string pct(double x) { return std::isnan(x) ? "-" : fmt::format("{:.1f}%", 100 * x); }

// A power-law fused-MoE point and what predicting it from the balanced rows needs.
struct RoutedPoint {
    std::string gpu;
    std::shared_ptr<const KernelTables> tables;  // keeps `balanced` alive
    const GridTable* balanced;
    double tokens, balanced_s, reached, measured_s;
    bool few;  // T x k <= E
};

double routed_prediction(const RoutedPoint& p, double share) {
    return routing_correction(*p.balanced, p.tokens, p.balanced_s, p.reached, share);
}

// The share of routing_correction's difference that minimises the mean |relative error| over `points` of one
// regime (all GPUs but `leave_out`), on a grid of 0.01 over [0, 1.2]. (The median alone as the objective gives
// about the same shares on all GPUs, 0.81 and 0.82, but a worse p90 in cross-validation: 27.8% against 18.8%.)
double fit_routing_share(const std::vector<RoutedPoint>& points, bool few, const std::string& leave_out) {
    double best = 1.0, best_err = INFINITY;
    for (int i = 0; i <= 120; ++i) {
        const double share = i / 100.0;
        Errors e;
        for (const RoutedPoint& p : points) {
            if (p.few == few && p.gpu != leave_out) e.add(routed_prediction(p, share), p.measured_s);
        }
        if (e.e.empty()) continue;
        const double mean = std::accumulate(e.e.begin(), e.e.end(), 0.0) / static_cast<double>(e.e.size());
        if (mean < best_err) best_err = mean, best = share;
    }
    return best;
}

}  // namespace

// The fused-MoE tables (balanced routing, every TP and EP size) on the GPU's calibrated roofline, cold points
// only (the experts not in L2): op by op as before the MoE fit (the cost model's grouped GEMMs and activation
// on the GEMM fits, no MoE terms), with the MoE fit left out one model shape at a time (fitted on the GPU's
// other shapes of the format, every TP and EP size of the shape held out together: how it predicts a model
// the tables do not hold), the same times the correction the tables predictor gives such a model from the
// nearest shape the tables time (moe_fit_scale, the held shape's own tables passed over), and through the
// cost model with the shipped fit (in sample: checks the wiring). `carried`: a sibling's shipped MoE fits on
// this GPU's points, as `calibrate --from` carries them (H100 PCIe from H100 SXM). `others`: the fit of each
// format pooled over the other GPUs' balanced rows (fit_moe_pooled, each point at its own GPU's peaks): how a
// fit carried across architectures would do (A100's is fitted on its own power-law rows instead). A GPU whose
// tables hold no balanced rows (A100) is scored on its power-law rows without EP, as `calibrate` fits it
// (moe_fit_samples), op by op under that power law.
void moe_roofline(const KernelTables& t, const GpuProfile& gpu, const Calibration* carried,
                  const std::string& sibling, const std::map<std::string, MoeCalibration>& others,
                  const std::function<Errors&(const std::string&, const std::string&)>& row) {
    static const ModelCard base = load_model("mistralai/Mixtral-8x7B-v0.1");
    const auto shipped = shipped_calibration(gpu.name);
    if (!shipped) return;
    auto no_moe = std::make_shared<Calibration>(*shipped);
    no_moe->moe.clear();
    bool power_law = false;
    const std::vector<MoeSample> all = moe_fit_samples(t, gpu.l2_cache_bytes(), &power_law);
    static const std::map<std::string, Dtype> kernel_dtype = {
        {"bf16", Dtype::BF16},   {"fp8", Dtype::FP8},   {"fp8_block", Dtype::FP8},
        {"mxfp4", Dtype::MXFP4}, {"fp4", Dtype::MXFP4}, {"int4", Dtype::INT4}};
    // (the int4 fit is Marlin's, fitted on its MXFP4 tables too: GridTable::moe_fit_format)
    auto family = [](const std::string& f) {
        return f == "bf16" ? std::string("fused MoE") : f == "int4" ? "fused MoE Marlin" : "fused MoE " + f;
    };
    // the MoE ops of one layer through the cost model: a prompt of s.tokens, no CUDA graph padding, the
    // tables' balanced routing, whole experts over s.ep ranks
    auto through_cost_model = [&](const MoeSample& s, const std::shared_ptr<const Calibration>& cal) {
        ModelCard m = base;
        m.hidden_size = s.hidden, m.moe_intermediate_size = s.inter, m.experts_per_token = s.topk;
        m.num_experts = s.experts;
        const std::string& dtype = s.dtype;  // (every table sample names its weights' format)
        const WeightFormat f{kernel_dtype.at(dtype), kernel_format_bytes(dtype)};
        m.shipped.attention = m.shipped.dense_mlp = m.shipped.experts = f;
        // gpt-oss's MXFP4 (its own kernels), else a compressed-tensors checkpoint (Marlin's MXFP4)
        if (dtype == "mxfp4") m.shipped.method = s.format == "mxfp4" ? "mxfp4" : "compressed-tensors";
        CostConfig c;
        c.tp = s.ep > 1 ? s.ep : s.tp;
        c.ep = s.ep;
        c.cuda_graph_max_tokens = 0;
        c.calibration = cal;
        c.moe_routing = s.alpha > 0.0 ? MoeRouting{MoeRouting::Kind::POWER_LAW, s.alpha}
                                      : MoeRouting{MoeRouting::Kind::BALANCED, 0.0};
        const CostModel cm(m, gpu, c);
        double sum = 0;
        for (const OpCost& o : cm.step({{static_cast<int64_t>(s.tokens), 0}}).ops) {
            if (o.kind == OpKind::MOE_GATE_UP_PROJ || o.kind == OpKind::ACTIVATION_MOE ||
                o.kind == OpKind::MOE_DOWN_PROJ)
                sum += o.time_s / static_cast<double>(o.count);
        }
        return sum;
    };
    std::map<std::string, std::vector<const MoeSample*>> by_format;
    for (const MoeSample& s : all) {
        if (!s.l2_warm && s.inter % std::max<int64_t>(1, s.tp) == 0) by_format[s.format].push_back(&s);
    }
    const std::string rows = power_law ? ", power-law rows" : "";
    for (const auto& [format, points] : by_format) {
        Errors& before = row(family(format), "roofline (calibrated), op by op, no MoE fit" + rows);
        Errors& cv = row(family(format), "roofline (calibrated, MoE fit), leave one shape out" + rows);
        Errors& near =
            row(family(format), "the same x the nearest shape's correction (moe_fit_scale)" + rows);
        Errors& wired =
            row(family(format), "roofline (calibrated, MoE fit) through the cost model, in sample" + rows);
        Errors* sib = carried && carried->moe_for(format)
                          ? &row(family(format), "MoE fit of " + sibling + ", carried")
                          : nullptr;
        const auto other = others.find(format);
        Errors* pooled = other != others.end()
                             ? &row(family(format), "MoE fit pooled on the other GPUs' balanced rows" + rows)
                             : nullptr;
        auto shape = [](const MoeSample& s) { return std::make_tuple(s.hidden, s.inter, s.topk, s.experts); };
        std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, std::vector<const MoeSample*>> shapes;
        for (const MoeSample* s : points) shapes[shape(*s)].push_back(s);
        for (const auto& [key, held] : shapes) {
            std::vector<MoeSample> train;
            for (const MoeSample* s : points) {
                if (shape(*s) != key) train.push_back(*s);
            }
            const bool fit_ok = shapes.size() > 1 && train.size() >= 8;
            const MoeCalibration f = fit_ok ? fit_moe(gpu, format, train) : MoeCalibration{};
            // the tables predictor's correction from the nearest other shape at the held point's TP and EP,
            // as for a model the tables do not hold (moe_fit_scale), memoised by TP and EP
            ModelCard held_model = base;
            held_model.hidden_size = std::get<0>(key), held_model.moe_intermediate_size = std::get<1>(key);
            held_model.experts_per_token = std::get<2>(key), held_model.num_experts = std::get<3>(key);
            std::map<std::pair<int64_t, int64_t>, std::shared_ptr<const MoeFitScale>> scales;
            auto scale_at = [&](const MoeSample& s) {
                const auto at = std::make_pair(s.tp, s.ep);
                if (!scales.count(at)) {
                    scales[at] =
                        moe_fit_scale(t, gpu, f, format, held_model,
                                      {{"tp", std::to_string(s.tp)}, {"ep", std::to_string(s.ep)}}, true);
                }
                return scales[at] ? scales[at]->at(s.tokens) : 1.0;
            };
            for (const MoeSample* s : held) {
                // the cost model prices gated experts (every MoE model headroom loads); the tables' non-gated
                // rows (Nemotron-H's) are scored on the fit alone
                if (s->gated) before.add(through_cost_model(*s, no_moe), s->time_s);
                if (fit_ok) {
                    const double fitted = moe_kernel_time_s(gpu, format, f, moe_sample_work(*s));
                    cv.add(fitted, s->time_s);
                    near.add(fitted * scale_at(*s), s->time_s);
                }
                if (s->gated) wired.add(through_cost_model(*s, shipped), s->time_s);
                if (sib)
                    sib->add(moe_kernel_time_s(gpu, format, *carried->moe_for(format), moe_sample_work(*s)),
                             s->time_s);
                if (pooled) pooled->add(moe_kernel_time_s(gpu, format, other->second, moe_sample_work(*s)), s->time_s);
            }
        }
    }
}

int main(int argc, char** argv) {
    bool json = false;
    std::string only;  // --gpu PROFILE: that GPU's rows alone (the MoE fits pooled over the others still read
    // all; the routing share's cross-validation, which needs every GPU's power-law points, is left out)
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (std::strcmp(argv[i], "--gpu") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fmt::print(stderr, "usage: headroom_bench_fidelity [--json] [--gpu PROFILE]\n");
            return 2;
        }
    }
    const std::vector<std::pair<std::string, std::string>> gpus = {{"h100-sxm", "h100_sxm"}, {"h200", "h200_sxm"},
                                                                   {"b200", "b200_sxm"},     {"gb200", "gb200"},
                                                                   {"a100-80gb", "a100_sxm"}, {"l40s", "l40s"}};
    if (!only.empty() && std::none_of(gpus.begin(), gpus.end(), [&](const auto& g) { return g.first == only; })) {
        std::string known;
        for (const auto& g : gpus) known += (known.empty() ? "" : ", ") + g.first;
        fmt::print(stderr, "headroom_bench_fidelity: --gpu: '{}' has no shipped kernel tables (one of: {})\n", only,
                   known);
        return 2;
    }
    std::deque<Row> rows;  // row() hands out references that must outlive later rows
    // every GPU's balanced fused-MoE rows, for the fits pooled over the others (moe_roofline's `others`)
    std::map<std::string, GpuProfile> moe_gpus;
    std::map<std::string, std::vector<MoeSample>> moe_balanced;
    for (const auto& [profile, name] : gpus) {
        const auto t = shipped_kernel_tables(name);
        if (!t) continue;
        const GpuProfile& g = moe_gpus.emplace(profile, load_gpu(profile)).first->second;
        std::vector<MoeSample> s = moe_samples(*t, g.l2_cache_bytes());
        if (!s.empty()) moe_balanced[profile] = std::move(s);
    }
    std::vector<RoutedPoint> routed;  // every GPU's power-law points, for the routing share's fit
    for (const auto& [profile, name] : gpus) {
        if (!only.empty() && profile != only) continue;
        const GpuProfile gpu = load_gpu(profile);
        const auto t = shipped_kernel_tables(name);
        if (!t) continue;
        auto row = [&](const std::string& family, const std::string& method) -> Errors& {
            rows.push_back({profile, family, method, {}});
            return rows.back().err;
        };
        for (const char* dt : {"bf16", "fp8"}) {
            const std::string fam = std::string("gemm ") + dt;
            if (t->find("gemm", {{"dtype", dt}}).empty()) continue;
            loo(*t, "gemm", {"m"}, row(fam, "table LOO, token axis"), {{"dtype", dt}});
            loo(*t, "gemm", {"m", "n", "k"}, row(fam, "table LOO, every axis"), {{"dtype", dt}});
            roughness(*t, dt, row(fam, "table roughness, m 1-8 (floor)"));
            const Dtype dtype = std::string(dt) == "fp8" ? Dtype::FP8 : Dtype::BF16;
            const std::vector<GemmSample> s = gemm_samples(*t, dtype, gpu.l2_cache_bytes());
            Errors& plain = row(fam, "roofline (plain)");
            for (const GemmSample& x : s) {
                if (!x.l2_warm) plain.add(gemm_time_s(gpu, dtype, x.m, x.n, x.k, nullptr), x.time_s);
            }
            // 5-fold cross-validation of the calibrated roofline
            std::vector<size_t> idx(s.size());
            for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
            std::shuffle(idx.begin(), idx.end(), std::mt19937_64(42));
            Errors& cv = row(fam, "roofline (calibrated), 5-fold CV");
            Errors& cv_all = row(fam, "calibrated, L2-warm fitted too, CV");
            for (size_t fold = 0; fold < 5; ++fold) {
                std::vector<GemmSample> train, test;
                for (size_t i = 0; i < idx.size(); ++i) (i % 5 == fold ? test : train).push_back(s[idx[i]]);
                const GemmCalibration c = fit_gemm(gpu, dtype, train);
                for (GemmSample& x : train) x.l2_warm = false;
                const GemmCalibration c_all = fit_gemm(gpu, dtype, train);
                for (const GemmSample& x : test) {
                    if (x.l2_warm) continue;
                    cv.add(gemm_time_s(gpu, dtype, x.m, x.n, x.k, &c), x.time_s);
                    cv_all.add(gemm_time_s(gpu, dtype, x.m, x.n, x.k, &c_all), x.time_s);
                }
            }
            // the kernel-table predictor's hold on L2-warm points (at the shipped calibration's memory efficiency)
            const auto shipped = shipped_calibration(profile);
            const GemmCalibration* g = shipped ? shipped->gemm_for(dtype) : nullptr;
            Errors& raise = row(fam, "table, L2-warm points: raise");
            Errors& raised = row(fam, "  of those raised > 1%");
            for (const GridTable* table : t->find("gemm", {{"dtype", dt}})) {
                const double least = table->least_s();
                for (const GemmSample& x :
                     gemm_samples(KernelTables{"", "", "", {*table}, ""}, dtype, gpu.l2_cache_bytes())) {
                    if (!x.l2_warm) continue;
                    const double held = std::max(x.time_s, l2_warm_gemm_floor_s(*table, least, gpu, g, x.m, x.n, x.k));
                    raise.add(held, x.time_s);
                    if (held > 1.01 * x.time_s) raised.add(held, x.time_s);
                }
            }
        }
        if (const auto block = block_fp8_kernel_points(*t); !block.empty()) {
            // Block-fp8 GEMMs from the per-tensor fp8 table, as the predictor reads them (and the fp8 fit, as
            // the calibrated roofline prices them), on the block-fp8 table's points that took 4x its floor or
            // more: the collector times block fp8 eagerly, so below that the host's dispatch sets the time
            const auto fp8 = t->find("gemm", {{"dtype", "fp8"}}), bf16 = t->find("gemm", {{"dtype", "bf16"}});
            const auto shipped = shipped_calibration(profile);
            const GemmCalibration* g = shipped ? shipped->gemm_for(Dtype::FP8) : nullptr;
            Errors& from_fp8 = row("GEMM block fp8", "kernel-bound points from the fp8 table");
            Errors& scaled = row("GEMM block fp8", "  x the GPU's median ratio (in sample)");
            Errors& envelope =
                row("GEMM block fp8", "  the same, at most the fp8 table's time for more rows (predictor)");
            Errors& from_bf16 = row("GEMM block fp8", "  from the bf16 table");
            Errors& from_fit = row("GEMM block fp8", "  from the calibrated fp8 fit");
            Errors& before = row("GEMM block fp8", "  bf16 fit at fp8 rates (as before)");
            const double ratio = block_fp8_scale(*t);
            for (const auto& [m, n, k, v] : block) {
                if (!fp8.empty()) {
                    if (const auto p = fp8.front()->lookup_s({m, n, k})) {
                        from_fp8.add(*p, v);
                        scaled.add(ratio * *p, v);
                        const double above = least_above_s(*fp8.front(), m, n, k, [](double) { return 0.0; });
                        envelope.add(ratio * std::min(*p, above), v);
                    }
                }
                if (!bf16.empty()) {
                    if (const auto p = bf16.front()->lookup_s({m, n, k})) from_bf16.add(*p, v);
                }
                if (g) from_fit.add(gemm_time_s(gpu, Dtype::FP8, m, n, k, g), v);
                if (shipped && shipped->gemm.present())
                    before.add(gemm_time_s(gpu, Dtype::FP8, m, n, k, &shipped->gemm), v);
            }
        }
        loo(*t, "decode_attention", {"batch_size", "step"}, row("decode attention", "table LOO, token axes"));
        decode_roughness(*t, row("decode attention", "table roughness, 1-31 keys, 1-16 seqs (floor)"));
        {  // the predictor's hold on decode calls whose KV (batch x context keys) fit in the L2 (window-0
           // tables); and the L2-cold points, each from its two neighbours along a token axis as the table
           // holds them and as the predictor reads them (held_l2_warm_decodes: the neighbours timed with
           // their KV in L2 held to streaming it), "with a warm neighbour": the points where the two differ
            const auto shipped = shipped_calibration(profile);
            const GemmCalibration* g = shipped && shipped->gemm.present() ? &shipped->gemm : nullptr;
            Errors& raise = row("decode attention", "table, L2-warm points: raise");
            Errors& raised = row("decode attention", "  of those raised > 1%");
            Errors& raw = row("decode attention", "table LOO, token axes, L2-cold points");
            Errors& held = row("decode attention", "  the same from held neighbours (the predictor)");
            Errors& raw_warm = row("decode attention", "  L2-cold points with an L2-warm neighbour");
            Errors& held_warm = row("decode attention", "  those from held neighbours (the predictor)");
            for (const GridTable* table : t->find("decode_attention")) {
                if (table->axes.size() != 2) continue;
                const bool windowless = table->attr("window") == "0";
                const double least = table->least_s();
                const GridTable h = held_l2_warm_decodes(*table, gpu, g);
                for (size_t b = 0; b < table->axes[0].size(); ++b) {
                    for (size_t c = 0; c < table->axes[1].size(); ++c) {
                        const std::vector<size_t> at = {b, c};
                        const double v = table->value_ms(at) * 1e-3;
                        const double kv = decode_table_kv_bytes(*table, b, c);
                        if (!(v > 0) || !(kv > 0)) continue;
                        if (kv <= gpu.l2_cache_bytes()) {
                            if (!windowless) continue;
                            const double up = std::max(v, l2_warm_kv_floor_s(gpu, g, least, kv));
                            raise.add(up, v);
                            if (up > 1.01 * v) raised.add(up, v);
                            continue;
                        }
                        for (size_t a = 0; a < 2; ++a) {
                            const auto p = table->loo_s(at, a), q = h.loo_s(at, a);
                            if (!p || !q) continue;
                            raw.add(*p, v);
                            held.add(*q, v);
                            if (*p != *q) {
                                raw_warm.add(*p, v);
                                held_warm.add(*q, v);
                            }
                        }
                    }
                }
            }
        }
        {  // KV heads folded into the batch (KernelTablePredictor's find_attention, for MHA layouts past the tables'
           // 8 KV heads): each 8-KV-head decode point predicted from the table at 8 / f KV heads and heads / f query
           // heads (the same group size) at f times the batch, f = 2, 4, 8, where that batch is in the table
            Errors& fold = row("decode attention", "KV heads folded into the batch");
            for (const GridTable* table : t->find("decode_attention", {{"kv_heads", "8"}})) {
                const int64_t heads = table->attr_int("heads");
                for (int64_t f : {2, 4, 8}) {
                    if (table->axes.size() != 2 || heads % f != 0) continue;
                    std::map<std::string, std::string> match = table->attrs;
                    match["heads"] = std::to_string(heads / f);
                    match["kv_heads"] = std::to_string(8 / f);
                    const std::vector<const GridTable*> other = t->find("decode_attention", match);
                    if (other.empty()) continue;
                    for (size_t b = 0; b < table->axes[0].size(); ++b) {
                        const double batch = table->axes[0][b] * static_cast<double>(f);
                        if (batch > other.front()->axes[0].back()) continue;
                        for (size_t c = 0; c < table->axes[1].size(); ++c) {
                            if (auto p = other.front()->lookup_s({batch, table->axes[1][c]})) fold.add(*p, table->value_ms({b, c}) * 1e-3);
                        }
                    }
                }
            }
        }
        loo(*t, "prefill_attention", {"batch_size", "isl"}, row("prefill attention", "table LOO, token axes"));
        // query heads between tables (KernelTablePredictor's find_attention, for layouts whose query heads the tables
        // did not time, Qwen2.5-7B's 28 over 4 KV heads): each table's points from the nearest tables below and above
        // it in query heads at the same KV heads and attributes, linear in the heads
        for (const char* fam : {"decode_attention", "prefill_attention"}) {
            Errors& e = row(std::string(fam) == "decode_attention" ? "decode attention" : "prefill attention",
                            "query heads interpolated between tables");
            for (const GridTable* table : t->find(fam)) {
                if (table->axes.size() != 2) continue;
                const int64_t heads = table->attr_int("heads");
                std::map<std::string, std::string> match = table->attrs;
                match.erase("heads");
                const GridTable *below = nullptr, *above = nullptr;
                for (const GridTable* g : t->find(fam, match)) {
                    const int64_t h = g->attr_int("heads");
                    if (h < heads && (!below || h > below->attr_int("heads"))) below = g;
                    if (h > heads && (!above || h < above->attr_int("heads"))) above = g;
                }
                if (!below || !above || below->axes != table->axes || above->axes != table->axes) continue;
                const double lo = static_cast<double>(below->attr_int("heads")), hi = static_cast<double>(above->attr_int("heads"));
                const double w = (static_cast<double>(heads) - lo) / (hi - lo);
                for (size_t b = 0; b < table->axes[0].size(); ++b) {
                    for (size_t c = 0; c < table->axes[1].size(); ++c) {
                        const double a = below->value_ms({b, c}), z = above->value_ms({b, c});
                        if (a > 0 && z > 0) e.add(((1.0 - w) * a + w * z) * 1e-3, table->value_ms({b, c}) * 1e-3);
                    }
                }
            }
        }
        {  // the roofline's attention: plain (the profile's or the GEMM fit's efficiencies, no fixed cost) and the
           // attention fits, 5-fold CV; decodes whose KV the benchmark kept in L2 neither fitted nor scored
            const std::vector<AttentionSample> s = attention_samples(*t, gpu.l2_cache_bytes(), gpu.memory_bandwidth_bytes_per_s());
            const auto shipped = shipped_calibration(profile);
            const GemmCalibration* g = shipped && shipped->gemm.present() ? &shipped->gemm : nullptr;
            // as cost_model.cpp costs a call without attention fits: FLOPs at the GEMM rate x 0.8 (CostConfig's
            // attention_efficiency_factor), bytes at the GEMM fit's rate, smooth max with p = 2.5
            const double rate = gemm_rates(gpu, Dtype::BF16, g).flops_per_s * CostConfig{}.attention_efficiency_factor;
            const double bw = memory_bytes_per_s(gpu, g);
            Errors* plain[2] = {&row("prefill attention", "roofline (plain)"), &row("decode attention", "roofline (plain)")};
            for (const AttentionSample& x : s) {
                if (x.l2_warm) continue;
                const AttentionWork w = attention_sample_work(x);
                plain[x.decode]->add(smooth_max(w.flops / rate, w.bytes / bw, 2.5), x.time_s);
            }
            // past a decode table's measured KV (KernelTablePredictor::decode_lookup): each measured point of over
            // 64 MB of KV a layer from the point at half the batch and twice the keys, scaled by the shipped decode
            // fit's time at the two shapes; beside it the decode fit alone on the same points
            if (shipped && shipped->has_attention()) {
                Errors& fold = row("decode attention", "KV as fewer, longer sequences (x2), fit-scaled");
                Errors& alone = row("decode attention", "  the same points, calibrated roofline");
                for (const GridTable* table : t->find("decode_attention", {{"window", "0"}})) {
                    if (table->axes.size() != 2) continue;
                    const double kvh = static_cast<double>(table->attr_int("kv_heads"));
                    const double per_key = kvh * static_cast<double>(table->attr_int("head_dim")) * 2.0 *
                                           (table->attr("kv_dtype") == "fp8" ? 1.0 : 2.0);
                    const double heads = static_cast<double>(table->attr_int("heads"));
                    const double dim = static_cast<double>(table->attr_int("head_dim"));
                    auto fit_s = [&](double b, double k) {
                        return calibrated_decode_attention_s(gpu, shipped->decode_attention, shipped->prefill_attention,
                                                             decode_kv_work(b, k, per_key, kvh, heads, dim));
                    };
                    const auto& bs = table->axes[0];
                    const auto& ks = table->axes[1];
                    for (size_t b = 1; b < bs.size(); ++b) {
                        for (size_t k = 0; k + 1 < ks.size(); ++k) {
                            const double v = table->value_ms({b, k}), w = table->value_ms({b - 1, k + 1});
                            if (!(v > 0) || !(w > 0) || bs[b] * ks[k] * per_key <= 64e6) continue;
                            fold.add(w * 1e-3 * fit_s(bs[b], ks[k]) / fit_s(bs[b - 1], ks[k + 1]), v * 1e-3);
                            alone.add(fit_s(bs[b], ks[k]), v * 1e-3);
                        }
                    }
                }
            }
            std::vector<size_t> idx(s.size());
            for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
            std::shuffle(idx.begin(), idx.end(), std::mt19937_64(42));
            // a derived calibration's error: the sibling's shipped fits (its shares of its peaks) on this GPU's
            // own points, as `calibrate --from` carries them (H100 PCIe from H100 SXM)
            static const std::map<std::string, std::string> sibling = {
                {"h100-sxm", "h200"}, {"h200", "h100-sxm"}, {"b200", "gb200"}, {"gb200", "b200"}};
            if (auto it = sibling.find(profile); it != sibling.end()) {
                const auto other = shipped_calibration(it->second);
                if (other && other->has_attention()) {
                    Errors* derived[2] = {&row("prefill attention", "calibrated on " + it->second + ", carried"),
                                          &row("decode attention", "calibrated on " + it->second + ", carried")};
                    for (const AttentionSample& x : s) {
                        if (!x.l2_warm) {
                            derived[x.decode]->add(attention_sample_time_s(gpu, x, other->prefill_attention, other->decode_attention), x.time_s);
                        }
                    }
                }
                if (other && other->gemm.present()) {
                    Errors& g16 = row("gemm bf16", "calibrated on " + it->second + ", carried");
                    for (const GemmSample& x : gemm_samples(*t, Dtype::BF16, gpu.l2_cache_bytes())) {
                        if (!x.l2_warm) g16.add(gemm_time_s(gpu, Dtype::BF16, x.m, x.n, x.k, &other->gemm), x.time_s);
                    }
                }
                // borrowed tables (kernel_table_sibling: H100 PCIe takes H100 SXM's): the sibling's table time x the
                // calibrated roofline's time here over its time there, both on the sibling's fits, at the sibling's
                // cold points
                const GpuProfile there = load_gpu(it->second);
                const auto st = shipped_kernel_tables(kernel_table_gpu(there));
                if (other && other->has_attention() && st) {
                    Errors& g16 = row("gemm bf16", "table of " + it->second + " x roofline ratio");
                    const GridTable* sg = st->find("gemm", {{"dtype", "bf16"}}).front();
                    for (const GemmSample& x : gemm_samples(*t, Dtype::BF16, gpu.l2_cache_bytes())) {
                        if (x.l2_warm || sg->gemm_working_set_bytes(x.m, x.n, x.k) <= there.l2_cache_bytes()) continue;
                        if (auto v = sg->lookup_s({x.m, x.n, x.k})) {
                            g16.add(*v * gemm_time_s(gpu, Dtype::BF16, x.m, x.n, x.k, &other->gemm) /
                                        gemm_time_s(there, Dtype::BF16, x.m, x.n, x.k, &other->gemm),
                                    x.time_s);
                        }
                    }
                    Errors* borrowed[2] = {&row("prefill attention", "table of " + it->second + " x roofline ratio"),
                                           &row("decode attention", "table of " + it->second + " x roofline ratio")};
                    for (const AttentionSample& x : s) {
                        if (x.l2_warm) continue;
                        const auto g = st->find(x.decode ? "decode_attention" : "prefill_attention",
                                                {{"kv_dtype", "bf16"}, {"window", "0"}, {"heads", fmt::format("{:g}", x.heads)},
                                                 {"kv_heads", fmt::format("{:g}", x.kv_heads)}, {"head_dim", fmt::format("{:g}", x.head_dim)}});
                        if (g.empty()) continue;
                        if (auto v = g.front()->lookup_s({x.batch, x.length})) {
                            borrowed[x.decode]->add(*v * attention_sample_time_s(gpu, x, other->prefill_attention, other->decode_attention) /
                                                        attention_sample_time_s(there, x, other->prefill_attention, other->decode_attention),
                                                    x.time_s);
                        }
                    }
                }
            }
            Errors* cv[2] = {&row("prefill attention", "roofline (calibrated), 5-fold CV"),
                             &row("decode attention", "roofline (calibrated), 5-fold CV")};
            for (size_t fold = 0; fold < 5; ++fold) {
                std::vector<AttentionSample> train, test;
                for (size_t i = 0; i < idx.size(); ++i) (i % 5 == fold ? test : train).push_back(s[idx[i]]);
                const AttentionCalibration pre = fit_prefill_attention(gpu, train);
                const AttentionCalibration dec = fit_decode_attention(gpu, train, pre);
                for (const AttentionSample& x : test) {
                    if (!x.l2_warm) cv[x.decode]->add(attention_sample_time_s(gpu, x, pre, dec), x.time_s);
                }
            }
        }
        window_rows(*t, gpu, shipped_calibration(profile).get(), row);
        loo(*t, "moe", {"num_tokens"}, row("fused MoE", "table LOO, token axis"), {{"dtype", "bf16"}});
        for (const char* dt : {"fp8", "fp8_block", "mxfp4", "fp4", "int4"}) {
            if (t->find("moe", {{"dtype", dt}}).empty()) continue;
            loo(*t, "moe", {"num_tokens"}, row(std::string("fused MoE ") + dt, "table LOO, token axis"), {{"dtype", dt}});
        }
        {  // the balanced rows alone (every format), the ones the predictor reads unless `moe_routing:` names
           // a power law: linearly over the picks their tokens spread (GridTable::moe_picks_coordinate), and
           // log-log over the tokens as every fused-MoE table was read before the fortieth session (the same
           // rows without their `distribution`, which GridTable::balanced_moe needs)
            Errors& picks = row("fused MoE", "table LOO, token axis, balanced rows, every format");
            Errors& tokens = row("fused MoE", "  the same log-log over the tokens (before)");
            KernelTables plain;
            for (const GridTable* g : t->find("moe", {{"distribution", "balanced"}})) {
                plain.tables.push_back(*g);
                plain.tables.back().attrs.erase("distribution");
            }
            loo(*t, "moe", {"num_tokens"}, picks, {{"distribution", "balanced"}});
            loo(plain, "moe", {"num_tokens"}, tokens);
        }
        {  // vLLM's Marlin MoE on a Hopper or Blackwell: its balanced rows over the rows of the blocks it
           // runs (the predictor since the forty-fourth session, GridTable::marlin_moe_rows_coordinate), and
           // over the picks as before (the same tables with the GPU's compute capability unknown)
            KernelTables marlin, before;
            for (const GridTable* g : t->find("moe", {{"distribution", "balanced"}})) {
                if (!g->marlin_moe_blocks()) continue;
                marlin.tables.push_back(*g);
                before.tables.push_back(*g);
                before.tables.back().compute_capability = 0.0;
            }
            if (!marlin.tables.empty()) {
                loo(marlin, "moe", {"num_tokens"},
                    row("fused MoE Marlin", "table LOO, balanced rows, over the blocks' rows"));
                loo(before, "moe", {"num_tokens"},
                    row("fused MoE Marlin", "  the same over the picks (before)"));
            }
        }
        {  // the predictor's hold on fused-MoE points whose experts stayed in L2 (every format, balanced routing);
           // and, as a check of the floor, how far it lies from the cold points at 1-16 tokens (where streaming the
           // experts dominates the kernel)
            const auto shipped = shipped_calibration(profile);
            Errors& raise = row("fused MoE", "table, L2-warm points: raise");
            Errors& raised = row("fused MoE", "  of those raised > 1%");
            Errors& check = row("fused MoE", "floor vs cold points, 1-16 tokens, ep 1");
            for (const GridTable* table : t->find("moe", {{"distribution", "balanced"}})) {
                if (table->axes.size() != 1) continue;
                const double bpe = table->gemm_weight_bytes_per_element();
                const GemmCalibration* g =
                    shipped ? shipped->gemm_for(bpe == 1.0 ? Dtype::FP8 : Dtype::BF16) : nullptr;
                const double least = table->least_s();
                for (size_t i = 0; i < table->axes[0].size(); ++i) {
                    const double v = table->value_ms({i}) * 1e-3, tokens = table->axes[0][i];
                    if (!(v > 0)) continue;
                    if (table->moe_working_set_bytes(tokens) > gpu.l2_cache_bytes()) {
                        if (tokens > 16 || table->attr_int("ep") > 1) continue;
                        // the floor as if cold: its formula, with the L2 test passed
                        GpuProfile big = gpu;
                        big.l2_cache_mib.value = 1e9;
                        check.add(l2_warm_moe_floor_s(*table, least, big, g, tokens), v);
                        continue;
                    }
                    const double held = std::max(v, l2_warm_moe_floor_s(*table, least, gpu, g, tokens));
                    raise.add(held, v);
                    if (held > 1.01 * v) raised.add(held, v);
                }
            }
        }
        {  // routing_correction checked on the tables' power-law rows: each power-law point (ep 1, T k <= 4 E, where
           // routing decides how many experts a call streams) predicted from the balanced rows as they are, and with
           // the correction at the power-law generator's expected count of experts reached
            Errors& raw = row("fused MoE", "power-law rows from balanced ones");
            Errors& fixed = row("fused MoE", "  with the routing correction");
            Errors& full = row("fused MoE", "  correction at full share");
            Errors& raw101 = row("fused MoE", "  power_law_1.01 rows, uncorrected");
            Errors& fixed101 = row("fused MoE", "  power_law_1.01 rows, corrected");
            Errors& raw12 = row("fused MoE", "  power_law_1.2 rows, uncorrected");
            Errors& fixed12 = row("fused MoE", "  power_law_1.2 rows, corrected");
            for (const GridTable* table : t->find("moe", {{"ep", "1"}})) {
                const std::string dist = table->attr("distribution");
                if (dist.rfind("power_law_", 0) != 0 || table->axes.size() != 1) continue;
                const double alpha = std::stod(dist.substr(10));
                std::map<std::string, std::string> match = table->attrs;
                match["distribution"] = "balanced";
                const std::vector<const GridTable*> bal = t->find("moe", match);
                if (bal.empty()) continue;
                const int64_t k = table->attr_int("topk"), e = table->attr_int("experts");
                for (size_t i = 0; i < table->axes[0].size(); ++i) {
                    const double v = table->value_ms({i}) * 1e-3, tokens = table->axes[0][i];
                    if (!(v > 0) || tokens * static_cast<double>(k) > 4.0 * static_cast<double>(e)) continue;
                    const auto b = bal.front()->lookup_s({tokens});
                    if (!b) continue;
                    raw.add(*b, v);
                    const double reached = power_law_reached(static_cast<int64_t>(tokens), e, k, alpha);
                    const double corrected = routing_correction(*bal.front(), tokens, *b, reached);
                    fixed.add(corrected, v);
                    full.add(routing_correction(*bal.front(), tokens, *b, reached, 1.0), v);
                    (alpha < 1.1 ? raw101 : raw12).add(*b, v);
                    (alpha < 1.1 ? fixed101 : fixed12).add(corrected, v);
                    routed.push_back({profile, t, bal.front(), tokens, *b, reached, v, tokens * static_cast<double>(k) <= static_cast<double>(e)});
                }
            }
        }
        {  // the calibrated roofline on the fused-MoE tables (moe_roofline above)
            static const std::map<std::string, std::string> moe_sibling = {
                {"h100-sxm", "h200"}, {"h200", "h100-sxm"}, {"b200", "gb200"}, {"gb200", "b200"}};
            const auto sib = moe_sibling.find(profile);
            const auto carried = sib == moe_sibling.end() ? nullptr : shipped_calibration(sib->second);
            std::map<std::string, MoeCalibration> others;
            std::vector<MoeData> data;
            for (const auto& [other, samples] : moe_balanced) {
                if (other != profile) data.push_back({&moe_gpus.at(other), &samples});
            }
            for (const char* format : {"bf16", "fp8", "fp8_block"}) {
                try {
                    others[format] = fit_moe_pooled(format, data);
                } catch (const HardwareError&) {
                }
            }
            moe_roofline(*t, gpu, carried.get(), sib == moe_sibling.end() ? "" : sib->second, others, row);
        }
        {  // the power_law_1.01 rows standing in for the balanced rows, as the predictor reads them where a
           // shape has no balanced rows (A100, bf16): scored where the tables hold both, every TP and EP size
            Errors& few = row("fused MoE", "power_law_1.01 rows as the balanced rows, T x k <= E");
            Errors& many = row("fused MoE", "power_law_1.01 rows as the balanced rows, T x k > E");
            // balanced_moe_from_power_law: this GPU's power-law rows x the other GPUs' ratio (leaving it out)
            Errors& few_est = row("fused MoE", "  x the other GPUs' balanced / power-law ratio, T x k <= E");
            Errors& many_est = row("fused MoE", "  x the other GPUs' balanced / power-law ratio, T x k > E");
            // the same from the other GPUs' tables of other formats only (where no other GPU times a shape in
            // the format, A100's DeepSeek-V3 and 384-expert shapes in bf16)
            Errors& few_other = row("fused MoE", "  x that ratio in other formats, T x k <= E");
            Errors& many_other = row("fused MoE", "  x that ratio in other formats, T x k > E");
            for (const GridTable* b : t->find("moe", {{"distribution", "balanced"}, {"dtype", "bf16"}})) {
                if (b->axes.size() != 1) continue;
                std::map<std::string, std::string> match = b->attrs;
                match["distribution"] = "power_law_1.01";
                const GridTable* law = t->find_first("moe", match);
                if (!law) continue;
                const double k = static_cast<double>(b->attr_int("topk"));
                const double e = static_cast<double>(b->attr_int("experts"));
                const auto est = balanced_moe_from_power_law(*law, t->gpu);
                const auto other = balanced_moe_from_power_law(*law, t->gpu, nullptr, nullptr, true);
                for (size_t i = 0; i < b->axes[0].size(); ++i) {
                    const double tokens = b->axes[0][i], v = b->value_ms({i}) * 1e-3;
                    const auto p = law->lookup_s({tokens});
                    if (!(v > 0) || !p) continue;
                    (tokens * k <= e ? few : many).add(*p, v);
                    if (const auto q = est ? est->lookup_s({tokens}) : std::nullopt) {
                        (tokens * k <= e ? few_est : many_est).add(*q, v);
                    }
                    if (const auto q = other ? other->lookup_s({tokens}) : std::nullopt) {
                        (tokens * k <= e ? few_other : many_other).add(*q, v);
                    }
                }
            }
        }
        if (!t->find("encoder_attention").empty()) {
            loo(*t, "encoder_attention", {"batch_size", "isl"}, row("encoder attention", "table LOO, token axes"));
        }
        if (!t->find("mla_prefill").empty()) {
            loo(*t, "mla_prefill", {"batch_size", "isl"}, row("MLA prefill module", "table LOO, token axes"));
            loo(*t, "mla_decode", {"batch_size", "step"}, row("MLA decode module", "table LOO, token axes"));
            static const std::map<std::string, std::string> mla_sibling = {
                {"h100-sxm", "h200"}, {"h200", "h100-sxm"}, {"b200", "gb200"}, {"gb200", "b200"}};
            const auto sib = mla_sibling.find(profile);
            const auto carried = sib == mla_sibling.end() ? nullptr : shipped_calibration(sib->second);
            Errors* carried_rows[2] = {nullptr, nullptr};
            if (carried) {
                carried_rows[0] = &row("MLA prefill module", "calibrated on " + sib->second + ", carried");
                carried_rows[1] = &row("MLA decode module", "calibrated on " + sib->second + ", carried");
            }
            if (const auto fused = mla_module_tables(t); fused != t) {
                // the unfused norm chain (mla_norm_chain.hpp): this chip's own MLA tables against the
                // re-collected twin's, as published and less the chain fitted on them (4 terms a phase on
                // every paired point: in sample)
                const MlaChainCost& chain = shipped_mla_chain_cost();
                for (const bool decode : {false, true}) {
                    const std::string fam = decode ? "MLA decode module" : "MLA prefill module";
                    Errors& raw = row(fam, "own tables against " + fused->gpu + "'s");
                    Errors& less = row(fam, "  less the fitted unfused chain");
                    for (const MlaChainPoint& p : mla_chain_points(*t, *fused, decode)) {
                        raw.add(p.unfused_s, p.fused_s);
                        less.add(p.unfused_s - chain.seconds(decode, p.tokens, p.heads), p.fused_s);
                    }
                }
            }
            // (GB200's on B200's MLA tables, as the predictor and calibrate take them: mla_module_tables)
            mla_roofline(mla_samples(*mla_module_tables(t), gpu.l2_cache_bytes(), gpu.memory_bandwidth_bytes_per_s()), gpu,
                         row("MLA prefill module", "roofline (calibrated), op by op"),
                         row("MLA decode module", "roofline (calibrated), op by op"),
                         row("MLA prefill module", "roofline (calibrated, MLA fit), 5-fold CV"),
                         row("MLA decode module", "roofline (calibrated, MLA fit), 5-fold CV"),
                         row("MLA decode module", "  one head per GPU (Triton's ungrouped kernel: not fitted)"),
                         carried.get(), carried_rows);
        }
        if (!t->find("mla_attention_decode").empty()) {
            // A100's MLA attention-implementation tables (timed without a CUDA graph): the points the kernels set
            // (mla_attention_samples)
            mla_roofline(mla_attention_samples(*t, gpu.l2_cache_bytes(), gpu.memory_bandwidth_bytes_per_s()), gpu,
                         row("MLA attn-impl prefill", "roofline (calibrated), op by op"),
                         row("MLA attn-impl decode", "roofline (calibrated), op by op"),
                         row("MLA attn-impl prefill", "roofline (calibrated, MLA fit), 5-fold CV"),
                         row("MLA attn-impl decode", "roofline (calibrated, MLA fit), 5-fold CV"),
                         row("MLA attn-impl decode", "  one head per GPU (Triton's ungrouped kernel: not fitted)"));
        }
        loo(*t, "vllm_allreduce", {"message_size"}, row("all-reduce", "table LOO, token axis"));
        // NCCL's own table (nccl-tests) against the vLLM rows (vLLM's own call), by the path vLLM takes at
        // each message size (vllm_allreduce): where vLLM runs NCCL the two time the same collective
        Errors& by_custom = row("all-reduce", "NCCL's table, where vLLM runs its custom one");
        Errors& by_symm = row("all-reduce", "NCCL's table, where vLLM runs symmetric memory");
        Errors& by_nccl = row("all-reduce", "NCCL's table, where vLLM runs NCCL");
        for (const GridTable* g : t->find("vllm_allreduce", {{"mode", "graph"}})) {
            const GridTable* n =
                t->find_first("nccl", {{"op", "all_reduce"}, {"gpus", g->attr("gpus")}, {"dtype", "fp16"}});
            if (!n || g->axes.size() != 1) continue;
            const VllmAllreduce v =
                vllm_allreduce(gpu.compute_capability.value, g->attr_int("gpus"), gpu.has_nvlink());
            for (size_t i = 0; i < g->axes[0].size(); ++i) {
                const double bytes = g->axes[0][i] * g->message_bytes_per_unit();
                const std::optional<double> nt = n->lookup_s({bytes / n->message_bytes_per_unit()});
                if (!nt || !(g->values_ms[i] > 0)) continue;
                const VllmAllreduce::Path path = v.path(bytes);
                (path == VllmAllreduce::Path::CUSTOM     ? by_custom
                 : path == VllmAllreduce::Path::SYMM_MEM ? by_symm
                                                         : by_nccl)
                    .add(*nt, g->values_ms[i] * 1e-3);
            }
        }
        const std::vector<CommSample> comm = allreduce_samples(*t);
        Errors& ring = row("all-reduce", "roofline (plain ring)");
        for (const CommSample& c : comm) ring.add(allreduce_time_s(gpu, c.gpus, c.bytes, nullptr), c.time_s);
        Errors& ccv = row("all-reduce", "roofline (calibrated), 5-fold CV");
        for (size_t fold = 0; fold < 5; ++fold) {
            std::vector<CommSample> train, test;
            for (size_t i = 0; i < comm.size(); ++i) (i % 5 == fold ? test : train).push_back(comm[i]);
            Calibration cal;
            cal.allreduce = fit_allreduce(train, gpu);
            for (const CommSample& c : test) {
                if (cal.allreduce.count(c.gpus)) ccv.add(allreduce_time_s(gpu, c.gpus, c.bytes, &cal), c.time_s);
            }
        }
    }

    // The routing correction's share, fitted per regime on every GPU's power-law points, and cross-validated:
    // each GPU's points predicted with the shares fitted on the other GPUs. Not under --gpu, which gathers one
    // GPU's power-law points only.
    if (!only.empty()) routed.clear();
    const double few_all = fit_routing_share(routed, true, ""), many_all = fit_routing_share(routed, false, "");
    std::map<std::string, Errors*> logo;
    for (const RoutedPoint& p : routed) {
        if (!logo.count(p.gpu)) {
            rows.push_back({p.gpu, "fused MoE", "  share fitted on other GPUs (CV)", {}});
            logo[p.gpu] = &rows.back().err;
        }
    }
    for (const auto& [g, errors] : logo) {
        const double few = fit_routing_share(routed, true, g), many = fit_routing_share(routed, false, g);
        for (const RoutedPoint& p : routed) {
            if (p.gpu == g) errors->add(routed_prediction(p, p.few ? few : many), p.measured_s);
        }
    }

    if (json && !routed.empty()) {
        fmt::print("{{\"routing_share\":{{\"few_picks\":{},\"many_picks\":{},\"shipped_few_picks\":{},\"shipped_many_picks\":{}}}}}\n",
                   few_all, many_all, ROUTING_SHARE_FEW_PICKS, ROUTING_SHARE_MANY_PICKS);
    }
    if (json) {
        for (const Row& r : rows) {
            if (r.err.e.empty()) continue;
            fmt::print("{{\"gpu\":\"{}\",\"family\":\"{}\",\"method\":\"{}\",\"points\":{},\"median\":{},\"p90\":{}}}\n", r.gpu,
                       r.family, r.method, r.err.e.size(), r.err.e.empty() ? 0.0 : r.err.q(50), r.err.e.empty() ? 0.0 : r.err.q(90));
        }
    } else {
        fmt::print("Cross-validated |relative error| of predicted kernel times (median, p90), per GPU and op family\n\n");
        fmt::print("{:<10} {:<22} {:<34} {:>8} {:>8} {:>8}\n", "gpu", "family", "method", "points", "median", "p90");
        for (const Row& r : rows) {
            if (r.err.e.empty()) continue;
            fmt::print("{:<10} {:<22} {:<34} {:>8} {:>8} {:>8}\n", r.gpu, r.family, r.method, r.err.e.size(), pct(r.err.q(50)),
                       pct(r.err.q(90)));
        }
        // summary over GPUs per family and method
        std::map<std::pair<std::string, std::string>, Errors> all;
        for (const Row& r : rows) {
            Errors& a = all[{r.family, r.method}];
            a.e.insert(a.e.end(), r.err.e.begin(), r.err.e.end());
        }
        if (!routed.empty()) {
            fmt::print("\nRouting correction share fitted on all GPUs' power-law rows: {:.2f} where T x k <= E, {:.2f} "
                       "above (shipped: {:.2f}, {:.2f})\n",
                       few_all, many_all, ROUTING_SHARE_FEW_PICKS, ROUTING_SHARE_MANY_PICKS);
        }
        fmt::print("\nAll GPUs together\n");
        for (const auto& [k, e] : all) {
            if (e.e.empty()) continue;
            fmt::print("{:<10} {:<22} {:<34} {:>8} {:>8} {:>8}\n", "all", k.first, k.second, e.e.size(), pct(e.q(50)), pct(e.q(90)));
        }
    }

    // The seed figures, per predictor: Llama-3.3-70B on one H200.
    const ModelCard m = load_model("meta-llama/Llama-3.3-70B-Instruct");
    const GpuProfile h200 = load_gpu("h200");
    if (!json) {
        fmt::print("\nLlama-3.3-70B on one H200 (1 ms of host time a step: async scheduling hides it behind a steady decode's "
                   "GPU work; a prefill that finds the engine idle pays it)\n");
    }
    for (const char* pred : {"tables", "calibrated", "roofline"}) {
        for (Dtype w : {Dtype::BF16, Dtype::INT4}) {
            CostConfig c;
            c.weight_dtype = w;
            const auto p = make_step_predictor(m, h200, c, pred);
            const double decode = p->step_time({{1, 128}});
            const StepTotals first = p->step_totals({{4096, 0}});
            const double prefill = first.time_s + first.host_hidden_s;
            if (json) {
                fmt::print("{{\"seed\":\"llama-3.3-70b h200\",\"predictor\":\"{}\",\"weights\":\"{}\",\"decode_tok_per_s\":{},\"prefill_4096_s\":{}}}\n",
                           p->name(), dtype_name(w), 1.0 / decode, prefill);
            } else {
                fmt::print("  {:<46} weights {:<5} batch-1 decode {:>5.1f} tok/s   4096-token prefill {:>6.1f} ms\n", p->name(),
                           dtype_name(w), 1.0 / decode, prefill * 1e3);
            }
        }
    }
    return 0;
}
