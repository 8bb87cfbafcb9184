// Step time from measured kernel tables; see kernel_table_predictor.hpp for what each op reads.
#include "headroom/core/kernel_table_predictor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "headroom/core/kv_planner.hpp"

namespace headroom {

namespace {

// A table's time at `x` (GridTable::lookup_clamped_s: clamped into the measured range, scaled by each axis'
// power law past its end), or -1 without a table or a measured neighbourhood. `extrapolated` accumulates.
double lookup_scaled(const GridTable* t, const std::vector<double>& x, const std::vector<double>& power, bool& extrapolated) {
    if (!t) return -1.0;
    bool clamped = false;
    const auto v = t->lookup_clamped_s(x, clamped, power);
    extrapolated = extrapolated || clamped;
    return v ? *v : -1.0;
}

const GridTable* first(const std::vector<const GridTable*>& v) { return v.empty() ? nullptr : v.front(); }

std::string gemm_dtype_attr(Dtype d) {
    switch (d) {
        case Dtype::BF16: return "bf16";
        case Dtype::FP16: return "bf16";  // same tensor-core rate; the tables hold bf16
        case Dtype::FP8: return "fp8";
        default: return "";
    }
}

bool is_gemm(OpKind k) {
    return k == OpKind::QKV_PROJ || k == OpKind::O_PROJ || k == OpKind::GATE_UP_PROJ || k == OpKind::DOWN_PROJ ||
           k == OpKind::LM_HEAD;
}

bool is_moe(OpKind k) {
    return k == OpKind::MOE_GATE_UP_PROJ || k == OpKind::ACTIVATION_MOE || k == OpKind::MOE_DOWN_PROJ;
}

}  // namespace

std::string kernel_table_gpu(const GpuProfile& gpu) {
    static const std::pair<const char*, const char*> map[] = {{"h100-sxm", "h100_sxm"}, {"h200", "h200_sxm"},
                                                              {"b200", "b200_sxm"},     {"gb200", "gb200"},
                                                              {"a100-80gb", "a100_sxm"}, {"l40s", "l40s"}};
    for (const auto& [profile, tables] : map) {
        if (gpu.name == profile) return tables;
    }
    return "";
}

KernelTablePredictor::KernelTablePredictor(const ModelCard& model, const GpuProfile& gpu, const CostConfig& config,
                                           std::shared_ptr<const KernelTables> tables)
    : roofline_(model, gpu, config), tables_(std::move(tables)) {
    if (!tables_) throw std::invalid_argument("KernelTablePredictor needs tables");
    const KernelTables& t = *tables_;
    // One GEMM table for the attention and dense-MLP projections (they share a format in every checkpoint
    // headroom reads; a dense MLP in another format falls back to the roofline), by the weights' kernel class.
    const WeightScheme w = model.weights(config.weight_dtype);
    if (const std::string d = gemm_dtype_attr(w.attention.dtype); !d.empty() && w.attention == WeightFormat::of(w.attention.dtype)) {
        gemm_ = first(t.find("gemm", {{"dtype", d}}));
    }
    dense_in_gemm_table_ = w.dense_mlp == w.attention;
    gemm_bf16_ = first(t.find("gemm", {{"dtype", "bf16"}}));

    const int64_t tp = config.tp;
    if (!model.is_mla() && !model.is_encoder && model.head_dim > 0) {
        const std::string kv = config.kv_dtype == Dtype::FP8 ? "fp8" : config.kv_dtype == Dtype::BF16 || config.kv_dtype == Dtype::FP16 ? "bf16" : "";
        const int64_t heads = model.num_attention_heads / tp;
        const int64_t kv_heads = model.kv_heads_per_rank(tp);
        const int64_t window = model.widest_window();
        window_ = window;
        for (int sliding = 0; sliding < 2 && !kv.empty(); ++sliding) {
            const std::map<std::string, std::string> match = {
                {"kv_dtype", kv}, {"window", std::to_string(sliding ? window : 0)}, {"heads", std::to_string(heads)},
                {"kv_heads", std::to_string(kv_heads)}, {"head_dim", std::to_string(model.head_dim)}};
            if (sliding && window <= 0) break;
            decode_attn_[sliding] = first(t.find("decode_attention", match));
            prefill_attn_[sliding] = first(t.find("prefill_attention", match));
        }
    }
    // The table times vLLM's fused MoE kernel, which runs the routed experts; a shared expert is a dense MLP
    // beside it (DeepSeek, Qwen2-MoE), costed from the GEMM table (moe_op_s).
    shared_inter_ = model.shared_expert_intermediate_size / tp;
    hidden_ = model.hidden_size;
    moe_inter_ = model.moe_intermediate_size / tp;
    topk_ = model.experts_per_token;
    if (model.is_moe() && w.experts == WeightFormat::of(Dtype::BF16) && w.attention == w.experts) {
        moe_ = first(t.find("moe", {{"dtype", "bf16"},
                                    {"hidden", std::to_string(model.hidden_size)},
                                    {"inter", std::to_string(model.moe_intermediate_size)},
                                    {"topk", std::to_string(model.experts_per_token)},
                                    {"experts", std::to_string(model.num_experts)},
                                    {"tp", std::to_string(tp)},
                                    {"ep", "1"},
                                    {"distribution", "balanced"}}));
    }
    if (tp > 1) {
        allreduce_ = first(t.find("vllm_allreduce", {{"gpus", std::to_string(tp)}, {"mode", config.cuda_graphs ? "graph" : "eager"}}));
        nccl_ = first(t.find("nccl", {{"op", "all_reduce"}, {"gpus", std::to_string(tp)}, {"dtype", "fp16"}}));
    }
}

bool KernelTablePredictor::covers(OpKind k) const {
    if (k == OpKind::LM_HEAD) return gemm_bf16_ != nullptr;
    if (k == OpKind::GATE_UP_PROJ || k == OpKind::DOWN_PROJ) return gemm_ != nullptr && dense_in_gemm_table_;
    if (is_gemm(k)) return gemm_ != nullptr;
    if (k == OpKind::ATTENTION) return decode_attn_[0] && prefill_attn_[0];
    if (k == OpKind::ATTENTION_SLIDING) return decode_attn_[1] && prefill_attn_[1];
    if (is_moe(k)) return moe_ != nullptr;
    if (k == OpKind::TP_ALLREDUCE) return allreduce_ || nccl_;
    return false;
}

std::string KernelTablePredictor::source_line(const char* family, bool extrapolated) const {
    std::string fw = tables_->framework(family);  // "vllm-0.24.0"
    if (fw.rfind("vllm-", 0) == 0) fw = "vLLM " + fw.substr(5);
    if (fw.rfind("nccl-", 0) == 0) fw = "NCCL " + fw.substr(5);
    return fmt::format("table ({}, {}, {})", fw, tables_->device, extrapolated ? "extrapolated" : "interpolated");
}

double KernelTablePredictor::gemm_s(OpKind kind, const RooflineOp& op, bool& extrapolated) const {
    const GridTable* t = kind == OpKind::LM_HEAD ? gemm_bf16_ : gemm_;
    if (!t || op.m <= 0) return -1.0;
    // n and k are fixed per op kind for a model: cache by row count (m is a token or sequence count).
    // Cached per row count: > 0 interpolated, < 0 extrapolated (the magnitude is the time), 0 not yet looked up.
    std::vector<double>& cache = gemm_cache_[static_cast<int>(kind)];
    const auto m = static_cast<size_t>(op.m);
    if (m < cache.size() && cache[m] != 0.0) {
        if (cache[m] < 0) extrapolated = true;
        return std::fabs(cache[m]) * static_cast<double>(op.count);
    }
    bool ex = false;
    const double one = lookup_scaled(t, {op.m, op.n, op.k}, {1.0, 1.0, 1.0}, ex);
    if (one < 0) return -1.0;
    if (m < 65536) {
        if (cache.size() <= m) cache.resize(std::max(m + 1, cache.size() * 2), 0.0);
        cache[m] = ex ? -one : one;
    }
    extrapolated = extrapolated || ex;
    return one * static_cast<double>(op.count);
}

double KernelTablePredictor::attention_s(const RooflineOp& op, const std::vector<SequenceWork>& batch,
                                         bool& extrapolated) const {
    const int sliding = op.kind == OpKind::ATTENTION_SLIDING ? 1 : 0;
    const GridTable* dec = decode_attn_[sliding];
    const GridTable* pre = prefill_attn_[sliding];
    const int64_t window = sliding ? window_ : 0;
    double decodes = 0, decode_keys = 0, prefills = 0, prefill_keys = 0;
    for (const SequenceWork& s : batch) {
        const double keys = keys_seen(s.context, s.new_tokens, window, false);
        if (s.new_tokens == 1) {
            ++decodes;
            decode_keys += keys;
        } else {
            ++prefills;
            prefill_keys += keys;
        }
    }
    double t = 0.0;
    if (decodes > 0) {
        if (!dec) return -1.0;
        // decodes of mean context: attention reads every key once, so the time is linear in both axes
        const double d = lookup_scaled(dec, {decodes, std::max(1.0, decode_keys / decodes)}, {1.0, 1.0}, extrapolated);
        if (d < 0) return -1.0;
        t += d;
    }
    if (prefills > 0) {
        if (!pre) return -1.0;
        // a causal prefill of length L sees L (L + 1) / 2 keys: the length that sees the chunks' mean keys
        const double mean_keys = prefill_keys / prefills;
        const double len = (std::sqrt(1.0 + 8.0 * mean_keys) - 1.0) / 2.0;
        const double p = lookup_scaled(pre, {prefills, std::max(1.0, len)}, {1.0, 2.0}, extrapolated);
        if (p < 0) return -1.0;
        t += p;
    }
    return t * static_cast<double>(op.count);
}

double KernelTablePredictor::moe_s(int64_t tokens, bool& extrapolated) const {
    if (!moe_) return -1.0;
    return lookup_scaled(moe_, {static_cast<double>(tokens)}, {1.0}, extrapolated);
}

// One MoE op of the step: its share of the fused kernel's measured time (routed experts), plus the shared
// expert's part: its GEMM from the GEMM table (T rows: every token goes through it), its activation from the
// roofline's op in proportion to the elements (T x shared of the T x k x inter + T x shared it counts).
double KernelTablePredictor::moe_op_s(const RooflineOp& op, const std::vector<SequenceWork>& batch, double moe_share,
                                      bool& extrapolated) const {
    int64_t tokens = 0;
    for (const SequenceWork& s : batch) tokens += s.new_tokens;
    const double layer = moe_s(tokens, extrapolated);
    if (layer < 0) return -1.0;
    double t = layer * static_cast<double>(op.count) * moe_share;
    if (shared_inter_ <= 0) return t;
    const auto T = static_cast<double>(tokens);
    const double h = static_cast<double>(hidden_), shared = static_cast<double>(shared_inter_);
    if (op.kind == OpKind::ACTIVATION_MOE) {
        const double routed = T * static_cast<double>(topk_) * static_cast<double>(moe_inter_);
        return t + op.time_s * (T * shared) / (routed + T * shared);
    }
    RooflineOp g = op;
    g.m = T;
    g.n = op.kind == OpKind::MOE_GATE_UP_PROJ ? 2.0 * shared : h;
    g.k = op.kind == OpKind::MOE_GATE_UP_PROJ ? h : shared;
    const double sh = gemm_s(op.kind, g, extrapolated);
    return sh < 0 ? -1.0 : t + sh;
}

double KernelTablePredictor::allreduce_s(double bytes, bool& extrapolated, bool& nccl) const {
    nccl = false;
    if (allreduce_ && bytes <= allreduce_->axes[0].back()) return lookup_scaled(allreduce_, {bytes}, {1.0}, extrapolated);
    if (nccl_) {
        nccl = true;
        return lookup_scaled(nccl_, {bytes}, {1.0}, extrapolated);
    }
    return allreduce_ ? lookup_scaled(allreduce_, {bytes}, {1.0}, extrapolated) : -1.0;
}

double KernelTablePredictor::op_time_s(const RooflineOp& op, const std::vector<SequenceWork>& batch, double moe_share,
                                       std::string* source) const {
    bool ex = false;
    double t = -1.0;
    const char* family = "";
    if (is_gemm(op.kind)) {
        t = gemm_s(op.kind, op, ex);
        family = "gemm";
    } else if (op.kind == OpKind::ATTENTION || op.kind == OpKind::ATTENTION_SLIDING) {
        t = attention_s(op, batch, ex);
        family = "decode_attention";
    } else if (is_moe(op.kind) && moe_) {
        t = moe_op_s(op, batch, moe_share, ex);
        family = "moe";
    } else if (op.kind == OpKind::TP_ALLREDUCE) {
        bool nccl = false;
        const double one = allreduce_s(op.bytes / static_cast<double>(op.count), ex, nccl);
        t = one < 0 ? -1.0 : one * static_cast<double>(op.count);
        family = nccl ? "nccl" : "vllm_allreduce";
    }
    if (source && t >= 0) *source = source_line(family, ex);
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
        if (is_moe(o.kind)) s += o.time_s;
    }
    return s;
}

}  // namespace

StepCost KernelTablePredictor::step(const std::vector<SequenceWork>& batch) const {
    StepCost s = roofline_.step(batch);
    std::vector<RooflineOp> ops;
    Collect c;
    c.ops = &ops;
    roofline_.walk(batch, c);
    const double moe_total = moe_roofline_total(ops);
    s.time_s = 0.0;
    for (size_t i = 0; i < ops.size() && i < s.ops.size(); ++i) {
        OpCost& o = s.ops[i];
        std::string source;
        const double share = moe_total > 0 ? ops[i].time_s / moe_total : 0.0;
        const double t = op_time_s(ops[i], batch, share, &source);
        if (t >= 0) {
            o.time_s = t;
            o.source = source;
        }
        s.time_s += o.time_s;
    }
    return s;
}

namespace {

struct TotalsVisitor : RooflineOpVisitor {
    const KernelTablePredictor* p;
    const std::vector<SequenceWork>* batch;
    StepTotals t;
    RooflineOp moe[3];
    int moe_n = 0;
    void add(const RooflineOp& op, double time) {
        t.time_s += time;
        t.flops += op.flops;
        t.bytes += op.bytes;
        t.time_by_bound_s[static_cast<int>(op.bound)] += time;
    }
    void visit(const RooflineOp& op) override {
        if (is_moe(op.kind) && p->covers(op.kind)) {  // the fused MoE kernel: split once all three are in
            moe[moe_n++] = op;
            if (moe_n < 3) return;
            double total = 0;
            for (const RooflineOp& m : moe) total += m.time_s;
            for (const RooflineOp& m : moe) {
                const double x = p->op_time_s(m, *batch, total > 0 ? m.time_s / total : 0.0, nullptr);
                add(m, x >= 0 ? x : m.time_s);
            }
            moe_n = 0;
            return;
        }
        const double x = p->covers(op.kind) ? p->op_time_s(op, *batch, 0.0, nullptr) : -1.0;
        add(op, x >= 0 ? x : op.time_s);
    }
};

}  // namespace

StepTotals KernelTablePredictor::step_totals(const std::vector<SequenceWork>& batch) const {
    TotalsVisitor v;
    v.p = this;
    v.batch = &batch;
    roofline_.walk(batch, v);
    return v.t;
}

std::unique_ptr<StepTimePredictor> make_step_predictor(const ModelCard& model, const GpuProfile& gpu,
                                                       const CostConfig& config, const std::string& which) {
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
    std::shared_ptr<const KernelTables> t = name.empty() ? nullptr : shipped_kernel_tables(name);
    if (t) return std::make_unique<KernelTablePredictor>(model, gpu, c, t);
    if (which == "tables") {
        throw PlanError("predictor", fmt::format("no kernel tables ship for {} (tables exist for h100-sxm, h200, b200, "
                                                "gb200, a100-80gb, l40s); use --predictor calibrated or roofline", gpu.name));
    }
    return std::make_unique<CostModel>(model, gpu, c);
}

}  // namespace headroom
