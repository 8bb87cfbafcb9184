// Roofline step cost. One routine walks the ops of a step and hands each to a sink: the recording sink
// builds the per-op table, the timing sink only sums seconds (the simulator's hot path, no allocation).
#include "headroom/core/cost_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "headroom/hardware/vllm_allreduce.hpp"

namespace headroom {

namespace {

constexpr int64_t TILE = 128;             // GEMM output tile edge (cuBLAS/CUTLASS Hopper kernels: 128 x 128+)
constexpr double KEY_BLOCK = 128.0;        // keys a FlashAttention work item takes per step along the keys
constexpr double MAX_KV_SPLITS = 128.0;    // FlashAttention's most splits of one work item's keys
constexpr double ACT_BYTES = 2.0;         // activations in bf16
constexpr double LOGIT_BYTES = 4.0;       // sampler in fp32
constexpr int64_t KERNELS_PER_LAYER = 12;  // launches per layer without CUDA graphs (norms, GEMMs, attention...)

using Op = RooflineOp;

struct TotalsSink {
    StepTotals t;
    bool wants_gemm_time(OpKind) const { return true; }
    void add(const Op& op) {
        t.time_s += op.time_s;
        t.flops += op.flops;
        t.bytes += op.bytes;
        t.time_by_bound_s[static_cast<int>(op.bound)] += op.time_s;
        const auto set = static_cast<int>(layer_set(op.kind));
        if (set < NUM_LAYER_SETS) t.layer_set_s[set] += op.time_s;
    }
};

struct VisitorSink {
    RooflineOpVisitor* v;
    void add(const Op& op) { v->visit(op); }
    bool wants_gemm_time(OpKind k) const { return v->wants_gemm_time(k); }
};

struct RecordSink {
    StepCost* s;
    bool wants_gemm_time(OpKind) const { return true; }
    void add(const Op& op) {
        OpCost c;
        c.kind = op.kind;
        c.name = std::string(op_name(op.kind));
        c.count = op.count;
        c.flops = op.flops;
        c.bytes = op.bytes;
        c.compute_s = op.compute_s;
        c.memory_s = op.memory_s;
        c.comm_s = op.comm_s;
        c.overhead_s = op.overhead_s;
        c.time_s = op.time_s;
        c.roofline_s = op.time_s;
        c.bound = op.bound;
        if (op.kind == OpKind::STEP_OVERHEAD) c.source = "host time per step (an estimate)";
        s->time_s += op.time_s;
        s->flops += op.flops;
        s->bytes += op.bytes;
        s->ops.push_back(std::move(c));
    }
};

}  // namespace

double keys_seen(int64_t context, int64_t n, int64_t window, bool bidirectional) {
    const double c = static_cast<double>(context), nn = static_cast<double>(n);
    if (bidirectional) return nn * (c + nn);
    if (window <= 0 || context + n <= window) return nn * c + nn * (nn + 1.0) / 2.0;
    const double w = static_cast<double>(window);
    if (context >= window) return nn * w;
    // positions up to the window grow, the rest are capped
    const double growing = w - c;  // tokens j with context + j <= window
    return growing * c + growing * (growing + 1.0) / 2.0 + (nn - growing) * w;
}

double flash_attention_query_tile(const GpuProfile& gpu) {
    // FlashAttention 2's split-KV kernel holds 64 rows whatever the head size
    const double cc = gpu.compute_capability.value;
    return cc > 0.0 && cc < 9.0 ? 64.0 : 128.0;
}

void add_attention_work(const AttentionShape& a, const SequenceWork& s, AttentionWork& decode, AttentionWork& prefill) {
    const double keys = keys_seen(s.context, s.new_tokens, a.window, a.bidirectional);
    const int64_t held = a.window > 0 ? std::min(s.context + s.new_tokens, a.window) : s.context + s.new_tokens;
    const double n = static_cast<double>(s.new_tokens);
    AttentionWork& w = s.is_decode() ? decode : prefill;
    w.flops +=
        (s.is_decode() && a.decode_per_key_flops > 0 ? a.decode_per_key_flops : a.per_key_flops) * keys;
    w.bytes += static_cast<double>(held) * a.kv_token_bytes + n * (a.kv_token_bytes + (a.q_dim + a.o_dim) * ACT_BYTES);
    w.scores += a.heads * keys;
    w.items += s.is_decode() ? a.kv_heads : a.heads * std::ceil(n / std::max(1.0, a.query_tile));
    if (!s.is_decode()) {
        // (prefill_kv_splits; pure prefills keep 0: the fit's wave term stands for them)
        if (s.context > 0) w.longest_keys = std::max(w.longest_keys, static_cast<double>(held));
        return;
    }
    w.kv_read_bytes += static_cast<double>(held) * a.kv_token_bytes;
    w.sequences += 1;
    w.longest_keys = std::max(w.longest_keys, keys);
    if (a.kv_heads > 0) {
        const double item_bytes = static_cast<double>(held) * a.kv_token_bytes / a.kv_heads;
        w.longest_item_bytes = std::max(w.longest_item_bytes, item_bytes);
    }
    w.heads = a.heads;
    w.kv_heads = a.kv_heads;
    w.head_dim = a.heads > 0 ? a.q_dim / a.heads : 0;
    w.kv_element_bytes = a.kv_element_bytes;
    w.latent = a.latent;
}

double mla_attention_s(const Calibration& cal, double prefill_s, double decode_s, double prefill_tokens,
                       double decode_tokens, double heads, bool fp8_kv, bool block_fp8,
                       double decode_latent_read_s, double decode_longest_bytes, double spill_s) {
    double t = 0, fixed = 0;
    for (const bool decode : {false, true}) {
        const double tokens = decode ? decode_tokens : prefill_tokens;
        if (!(tokens > 0)) continue;
        const MlaCalibration& f = decode ? cal.mla_decode : cal.mla_prefill;
        t += f.scale(fp8_kv) * (decode ? decode_s : prefill_s) + f.per_token_s(heads, block_fp8) * tokens;
        if (decode) t += f.triton_decode_s(heads, decode_latent_read_s, decode_longest_bytes);
        t += f.activation_spill * spill_s;
        fixed = std::max(fixed, f.fixed_s(fp8_kv, block_fp8));
    }
    return t + fixed;
}

AttentionWork decode_kv_work(double seqs, double keys, double kv_bytes_per_key, double kv_heads, double heads,
                             double head_dim) {
    AttentionWork w;
    w.bytes = seqs * keys * kv_bytes_per_key;
    w.items = seqs * kv_heads;
    w.sequences = seqs;
    w.longest_keys = keys;
    w.longest_item_bytes = kv_heads > 0 ? keys * kv_bytes_per_key / kv_heads : 0;
    w.heads = heads;
    w.kv_heads = kv_heads;
    w.head_dim = head_dim;
    // K and V of kv_heads x head_dim elements a key
    w.kv_element_bytes = kv_heads > 0 && head_dim > 0 ? kv_bytes_per_key / (2.0 * kv_heads * head_dim) : 0;
    return w;
}

DecodeDispatch decode_dispatch(const GpuProfile& gpu, const AttentionWork& w) {
    DecodeDispatch d;
    if (w.heads <= 0 || w.kv_heads <= 0 || w.kv_element_bytes < 2 || w.latent) return d;
    const double group = w.heads / w.kv_heads;
    if (group <= 1.0) {
        d.unsplit = true;  // FA2 splits a decode's KV only where it packs a query group into the query rows
        return d;
    }
    d.repack = w.sequences >= 2 && w.kv_heads >= 2;
    // FA2's split heuristic (num_splits_heuristic): none once the (sequence, KV head, 64-query block) blocks
    // fill 0.8 of the SMs, or where the keys fit in one block of 256 (head_dim <= 64), 128 (<= 128) or 64
    // keys
    const double blocks = w.items * std::ceil(group / 64.0);
    const double block_keys = w.head_dim <= 64 ? 256 : w.head_dim <= 128 ? 128 : 64;
    d.split = blocks < 0.8 * std::max(1.0, gpu.sm_count.value) && w.longest_keys > block_keys;
    return d;
}

double prefill_kv_splits(double items, double longest_keys, double sms) {
    if (!(items > 0.0) || items >= 0.8 * sms) return 1.0;
    const double key_blocks = std::ceil(longest_keys / KEY_BLOCK);
    if (key_blocks <= 4.0) return 1.0;
    auto efficiency = [&](double s) {
        const double waves = items * s / sms;
        return waves / std::ceil(waves);
    };
    const double most = std::min({MAX_KV_SPLITS, sms, key_blocks});
    double best = 0.0;
    for (double s = 1.0; s <= most; s += 1.0) best = std::max(best, efficiency(s));
    for (double s = 1.0; s <= most; s += 1.0) {
        if (efficiency(s) >= 0.85 * best) return s;
    }
    return 1.0;
}

double calibrated_prefill_attention_s(const GpuProfile& gpu, const AttentionCalibration& c, const AttentionWork& w) {
    const double sms = std::max(1.0, gpu.sm_count.value);
    double compute_s = (w.flops + w.scores * c.score_flops) / (gpu.peak_flops(Dtype::BF16) * c.compute_efficiency);
    if (c.wave_exponent > 0.0 && w.items > 0.0) {
        const double items = w.items * prefill_kv_splits(w.items, w.longest_keys, sms);
        compute_s /= std::pow(items / (std::ceil(items / sms) * sms), c.wave_exponent);
    }
    const double memory_s = w.bytes / (gpu.memory_bandwidth_bytes_per_s() * c.memory_efficiency);
    const double p = c.blend_exponent;
    return c.launch_s + smooth_max(smooth_max(compute_s, memory_s, p), c.item_s * w.items, p);
}

double calibrated_decode_attention_s(const GpuProfile& gpu, const AttentionCalibration& c,
                                     const AttentionCalibration& prefill, const AttentionWork& w) {
    const DecodeDispatch d = decode_dispatch(gpu, w);
    double memory_s = w.bytes / (gpu.memory_bandwidth_bytes_per_s() * c.memory_efficiency);
    if (d.unsplit && c.unsplit_bytes_per_s > 0) {
        memory_s = smooth_max(memory_s, w.longest_item_bytes / c.unsplit_bytes_per_s, c.blend_exponent);
    }
    const double compute_s = w.flops / (gpu.peak_flops(Dtype::BF16) * prefill.compute_efficiency);
    const double p = c.blend_exponent;
    return c.launch_s + smooth_max(smooth_max(memory_s, c.item_s * w.items, p), compute_s, p) +
           (d.repack ? c.repack_s : 0.0) + (d.split ? c.combine_s : 0.0);
}

// (c^p + m^p)^(1/p), the smooth max of the two bounds. Hot: called for every GEMM of every simulated step,
// so the default p = 2.5 avoids pow(): r^2.5 = r^2 sqrt(r), and for tiny r^2.5 (one bound dwarfs the other,
// as in decode) (1 + x)^0.4 = 1 + 0.4 x - 0.12 x^2 with a relative error below 1e-9.
double smooth_max(double c, double m, double p) {
    const double hi = std::max(c, m);
    if (hi <= 0.0) return 0.0;
    const double r = std::min(c, m) / hi;
    if (p != 2.5) return hi * std::pow(1.0 + std::pow(r, p), 1.0 / p);
    const double x = r * r * std::sqrt(r);
    if (x < 1e-3) return hi * (1.0 + x * (0.4 - 0.12 * x));
    return hi * std::pow(1.0 + x, 0.4);
}

double gemm_tile_utilisation(double m, double n, double sms) {
    if (m <= TILE / 2 || n <= 0.0 || sms <= 0.0) return 1.0;  // swap-AB kernels: the weight's n fills the tiles
    const double rows = m <= TILE ? TILE / 2 : TILE;
    const double tiles = std::ceil(m / rows) * std::ceil(n / TILE);
    return m * n / (std::ceil(tiles / sms) * sms * rows * TILE);
}

double calibrated_gemm_s(const GemmCalibration& cal, double compute_s, double memory_s, double m, double n, double k,
                         double bytes_per_s, double sms) {
    if (cal.wave_exponent > 0.0) compute_s /= std::pow(gemm_tile_utilisation(m, n, sms), cal.wave_exponent);
    return cal.launch_s + cal.mainloop_s_per_k * k + cal.row_s * m + smooth_max(compute_s, memory_s, cal.blend_exponent) +
           m * (cal.activation_bytes * k + cal.output_bytes * n) / bytes_per_s;
}

GemmTime gemm_roofline(double flops_per_s, double bytes_per_s, double sms, double mrows, double n, double k,
                       double weight_bytes, double exponent, const GemmCalibration* cal, bool blend) {
    GemmTime g;
    g.flops = 2.0 * mrows * n * k;
    g.bytes = weight_bytes + (mrows * k + mrows * n) * ACT_BYTES;
    g.compute_s = g.flops / flops_per_s;
    g.memory_s = g.bytes / bytes_per_s;
    if (cal && cal->present()) {
        g.time_s = blend ? calibrated_gemm_s(*cal, g.compute_s, g.memory_s, mrows, n, k, bytes_per_s, sms)
                         : std::numeric_limits<double>::quiet_NaN();
        return g;
    }
    if (mrows >= TILE) {
        // whole 128 x 128 output tiles, in whole waves over the SMs
        const double tiles = std::ceil(mrows / TILE) * std::ceil(n / TILE);
        const double waves = std::ceil(tiles / sms);
        g.compute_s = waves * sms * (2.0 * TILE * TILE * k) / flops_per_s;
    }
    g.time_s = blend ? smooth_max(g.compute_s, g.memory_s, exponent) : std::numeric_limits<double>::quiet_NaN();
    return g;
}

GemmRates gemm_rates(const GpuProfile& gpu, Dtype weight_dtype, const GemmCalibration* cal) {
    GemmRates r;
    r.peak_flops = gpu.peak_flops(weight_dtype) > 0.0 ? gpu.peak_flops(weight_dtype) : gpu.peak_flops(Dtype::BF16);
    r.flops_per_s = r.peak_flops * (cal ? cal->compute_efficiency : gpu.compute_efficiency.value);
    r.bytes_per_s = memory_bytes_per_s(gpu, cal);
    return r;
}

double memory_bytes_per_s(const GpuProfile& gpu, const GemmCalibration* cal) {
    return gpu.memory_bandwidth_bytes_per_s() * (cal && cal->present() ? cal->memory_efficiency : gpu.memory_efficiency.value);
}

double gemm_time_s(const GpuProfile& gpu, Dtype dtype, double m, double n, double k, const GemmCalibration* cal,
                   double blend_exponent) {
    if (cal && !cal->present()) cal = nullptr;
    const GemmRates r = gemm_rates(gpu, dtype, cal);
    return gemm_roofline(r.flops_per_s, r.bytes_per_s, std::max(1.0, gpu.sm_count.value), m, n, k,
                         n * k * dtype_bytes(dtype), blend_exponent, cal)
        .time_s;
}

double allreduce_time_s(const GpuProfile& gpu, int64_t gpus, double bytes, const Calibration* cal) {
    if (cal) {
        if (auto it = cal->allreduce.find(gpus); it != cal->allreduce.end()) {
            // the line of the path vLLM takes for this message, where the calibration fits one
            const VllmAllreduce paths = vllm_allreduce(gpu.compute_capability.value, gpus, gpu.has_nvlink());
            return it->second.time_s(bytes, static_cast<size_t>(paths.path(bytes)));
        }
    }
    return ring_allreduce_s(peer_link(gpu), gpus, bytes);
}

LinkModel peer_link(const GpuProfile& gpu) {
    // A ring sends in one direction at a time: half the bidirectional datasheet figure.
    const bool nvlink = gpu.has_nvlink();
    return {(nvlink ? gpu.nvlink_bidirectional_gb_per_s.value : gpu.pcie_bidirectional_gb_per_s.value) / 2.0 * 1e9 *
                gpu.interconnect_efficiency.value,
            (nvlink ? gpu.nvlink_latency_us.value : gpu.pcie_latency_us.value) * 1e-6};
}

std::string_view bound_name(Bound b) {
    switch (b) {
        case Bound::COMPUTE: return "compute";
        case Bound::MEMORY: return "memory";
        case Bound::COMMUNICATION: return "communication";
        case Bound::OVERHEAD: return "overhead";
    }
    return "?";
}

namespace {
constexpr std::string_view OP_NAMES[NUM_OP_KINDS] = {
    "embedding",     "input_norm",        "qkv_proj",         "rope",           "attention",
    "attention_sliding", "attention_sparse", "indexer",       "o_proj",         "residual_add",
    "post_attention_norm", "gate_up_proj", "activation",      "down_proj",      "router",
    "moe_gate_up_proj", "activation_moe",  "moe_down_proj",   "tp_allreduce",   "qk_norm_allreduce",
    "ep_alltoall",   "final_norm",        "lm_head",          "sampling",       "spec_draft",
    "step_overhead"};
static_assert(OP_NAMES[NUM_OP_KINDS - 1] == "step_overhead", "OP_NAMES follows OpKind");
}  // namespace

std::string_view op_name(OpKind k) { return OP_NAMES[static_cast<int>(k)]; }

const OpCost* StepCost::op(std::string_view name) const {
    for (const OpCost& o : ops) {
        if (o.name == name) return &o;
    }
    return nullptr;
}

CostModel::CostModel(const ModelCard& model, const GpuProfile& gpu, const CostConfig& config)
    : model_(model), gpu_(gpu), config_(config) {
    const WeightScheme w = model.weights(config.weight_dtype);
    // Block-scaled fp8 takes the fp8 fit (Calibration::gemm_for), but not in an MLA block: the MLA module
    // tables time block-fp8 blocks as fast as bf16 ones (0.92-1.02 on H200), so their small-k projections
    // keep the bf16 fit (at the fp8 rates of their stored bytes), as the kernel-table predictor keeps the
    // bf16 table for them.
    block_fp8_attention_ = w.attention.dtype == Dtype::FP8 && w.attention.bytes_per_weight > 1.0;
    const bool mla_block_fp8 = model.is_mla() && block_fp8_attention_;
    auto rate = [&](const WeightFormat& f, bool bf16_fit) {
        const GemmCalibration* cal =
            config.calibration ? config.calibration->gemm_for(bf16_fit ? Dtype::BF16 : f.dtype) : nullptr;
        const GemmRates r = gemm_rates(gpu, f.dtype, cal);
        return WeightRate{r.flops_per_s, f.bytes_per_weight, cal, r.bytes_per_s};
    };
    modules_ = {rate(w.attention, mla_block_fp8), rate(w.dense_mlp, false), rate(w.experts, false)};
    if (model.is_moe()) {
        // the fit of the kernel vLLM runs the experts with (Marlin for int4 and most MXFP4: moe_fit_format);
        // gpt-oss's own MXFP4 is its checkpoint's quant_method "mxfp4" with the experts as shipped
        const bool gpt_oss_mxfp4 = model.shipped.method == "mxfp4" && w.experts == model.shipped.experts;
        moe_format_ = moe_fit_format(kernel_format(w.experts), gpt_oss_mxfp4, gpu.compute_capability.value);
        if (config.calibration) moe_fit_ = config.calibration->moe_for(moe_format_);
    }
    rates_ = gemm_rates(gpu, w.attention.dtype, modules_.attention.cal);
    stream_bytes_per_s_ = memory_bytes_per_s(gpu, config.gemm_calibration());
    for (const LayerSpec& l : model.layers) {
        const int k = static_cast<int>(l.attention);
        ++layers_.count[k];
        layers_.window[k] = l.window;
        layers_.moe += l.moe ? 1 : 0;
    }
}

int64_t moe_gather_ranks(const CostConfig& cfg) {
    return cfg.ep > 1 && cfg.dp > 1 && cfg.ep_gather ? cfg.dp : 1;
}

bool moe_dispatched(const CostConfig& cfg) { return cfg.ep > 1 && cfg.dp > 1 && !cfg.ep_gather; }

bool allreduce_norm_fused(const ModelCard& m, const GpuProfile& gpu, const CostConfig& cfg, int64_t allreduces,
                          double message_bytes) {
    if (allreduces != 2 * m.num_layers || !cfg.fuse_allreduce_rms || cfg.tp_link.present() || m.is_encoder ||
        m.norm != NormKind::RMS || m.norms_per_layer != 2 || !m.final_norm) {
        return false;
    }
    const double major = std::floor(gpu.compute_capability.value);
    double mib = 0.0;
    if (major == 9.0) mib = cfg.tp == 2 ? 64.0 : cfg.tp == 4 ? 2.0 : cfg.tp == 8 ? 1.0 : 0.0;
    if (major == 10.0) mib = cfg.tp == 2 ? 64.0 : cfg.tp == 4 ? 32.0 : cfg.tp == 8 ? 1.0 : 0.0;
    return message_bytes > 0.0 && message_bytes <= mib * 1024.0 * 1024.0;
}

int64_t cuda_graph_tokens(const CostConfig& cfg, int64_t tokens) {
    if (!cfg.cuda_graphs || tokens <= 0 || tokens > cfg.cuda_graph_max_tokens) return tokens;
    // vLLM's default sizes are 1, 2, 4, multiples of 8 below 256 and of 16 from 256; with speculative decoding each
    // is rounded up to a multiple of q = 1 + k. Rounding keeps their order, so the step's size is the rounded
    // default size that is the first to reach `tokens`: the first default size above the multiple of q below
    // the step's own multiple of q.
    const int64_t q = std::max<int64_t>(1, cfg.cuda_graph_multiple);
    const int64_t need = (tokens + q - 1) / q * q - q + 1;
    int64_t size = need;
    if (need <= 2) {
        size = need;
    } else if (need <= 4) {
        size = 4;
    } else if (need < 256) {
        size = (need + 7) / 8 * 8;
    } else {
        size = (need + 15) / 16 * 16;
    }
    size = (size + q - 1) / q * q;
    return size <= cfg.cuda_graph_max_tokens ? size : tokens;  // no captured size holds it: eager
}

double expected_distinct_experts(double experts, double topk, double tokens) {
    if (experts <= 0.0) return 0.0;
    return experts * (1.0 - std::pow(1.0 - topk / experts, tokens));
}

double CostModel::expected_active_experts(int64_t tokens) const {
    if (!model_.is_moe()) return 0.0;
    return experts_reached(config_.moe_routing, static_cast<double>(model_.num_experts),
                           static_cast<double>(model_.experts_per_token), static_cast<double>(tokens));
}

double CostModel::ep_imbalance(int64_t tokens) const {
    const double pairs = static_cast<double>(tokens * config_.dp * model_.experts_per_token);
    return expert_imbalance(config_.expert_imbalance, config_.moe_routing, pairs, config_.ep, model_.num_experts,
                            model_.experts_per_token);
}

double CostModel::ep_rows(int64_t tokens) const {
    const double pairs = static_cast<double>(tokens * config_.dp * model_.experts_per_token);
    return pairs / static_cast<double>(config_.ep) * ep_imbalance(tokens);
}

double CostModel::ep_active_experts(int64_t tokens) const {
    // every token of every DP rank may pick a local expert: a local expert is hit unless all of them miss it
    return expected_active_experts(tokens * config_.dp) / static_cast<double>(config_.ep);
}

namespace {

// A step's collectives: the TP all-reduces (two of T x h bf16 per layer, after o_proj and after down_proj; with
// a DP + EP dispatch the MoE layers combine by all-to-all instead) and the DP + EP dispatch and combine of each
// MoE layer. A dispatch backend (DeepEP, pplx) sends each of the rank's T x k pairs to the GPU of its expert, all
// but 1/ep of them to another GPU, as h bf16 values, and back. The gather backends (vLLM's default
// allgather_reducescatter; vllm/distributed/device_communicators/all2all.py) all-gather the DP ranks' T x h
// hidden states onto every GPU of the DP group, T (D - 1) x h bf16 received a GPU, and reduce-scatter the
// experts' outputs back, as many sent; the TP group's all-reduce still sums the TP ranks' experts. (The
// gathered router outputs, k ids and k weights a token, are left out: 8 k bytes against 2 h.) Shared by the
// step's ops and its FabricTraffic.
struct Collectives {
    int64_t allreduces = 0;    // all-reduces of allreduce_bytes each (0 without TP)
    double allreduce_bytes = 0;
    int64_t a2a_layers = 0;    // MoE layers with a dispatch and a combine of a2a_bytes each way (0 without DP + EP)
    double a2a_bytes = 0;
    int64_t qk_allreduces = 0;  // all-reduces of qk_allreduce_bytes each: the q and k variances (qk_norm_across_heads)
    double qk_allreduce_bytes = 0;
};
Collectives step_collectives(const ModelCard& m, const CostConfig& cfg, int64_t moe_layers, double T) {
    Collectives c;
    const double h = static_cast<double>(m.hidden_size);
    const int64_t L = m.num_layers;
    const bool a2a = cfg.ep > 1 && cfg.dp > 1 && moe_layers > 0;
    if (cfg.tp > 1) {
        c.allreduces = moe_layers > 0 && moe_dispatched(cfg) ? L + (L - moe_layers) : 2 * L;
        c.allreduce_bytes = T * h * ACT_BYTES;
        if (m.qk_norm_across_heads) {  // one fp32 variance of q and one of k a token, each layer
            c.qk_allreduces = L;
            c.qk_allreduce_bytes = T * 2.0 * 4.0;
        }
    }
    if (a2a) {
        const double ep = static_cast<double>(cfg.ep);
        c.a2a_layers = moe_layers;
        c.a2a_bytes = cfg.ep_gather ? T * (static_cast<double>(cfg.dp) - 1.0) * h * ACT_BYTES
                                    : T * static_cast<double>(m.experts_per_token) * h * ACT_BYTES * (ep - 1.0) / ep;
    }
    return c;
}

// One DSA prefill chunk past index_topk in FlashMLA's sparse prefill (vLLM v1/attention/backends/mla/
// flashmla_sparse.py): the absorbed form, a query of kv_lora + rope dims and a value of kv_lora dims against one
// latent a key, over min(position, index_topk) keys a query, on the rank's heads padded to the kernel's size. A bf16
// cache runs the bf16 kernel, which takes a multiple of 64 heads on Hopper and of 128 on Blackwell. An fp8 cache
// (vLLM's fp8_ds_mla) runs the fp8 kernel, which takes 64 or 128 heads, below 32 heads a rank
// (MIN_HEADS_FOR_BF16_PREFILL); from 32 it gathers the chunk's context into a bf16 copy for the bf16 kernel. Its
// queries pick their keys anywhere in the context: all of it is read (at most).
void sparse_prefill_work(const ModelCard& m, const GpuProfile& gpu, const CostConfig& cfg, const SequenceWork& s,
                         double heads, double latent_bytes, double& flops, double& bytes) {
    const int64_t h = m.num_attention_heads / cfg.tp;
    const int64_t multiple = gpu.compute_capability.value >= 10.0 ? 128 : 64;
    const double bf16_kernel = static_cast<double>((h + multiple - 1) / multiple * multiple);
    const bool upconvert = cfg.kv_dtype == Dtype::FP8 && h >= 32;
    const double padded = cfg.kv_dtype != Dtype::FP8 || upconvert ? bf16_kernel : h <= 64 ? 64.0 : 128.0;
    const double latent = static_cast<double>(m.kv_lora_rank), rope = static_cast<double>(m.qk_rope_head_dim);
    const double all = static_cast<double>(s.context + s.new_tokens), n = static_cast<double>(s.new_tokens);
    flops += 2.0 * (2.0 * latent + rope) * padded * keys_seen(s.context, s.new_tokens, m.index_topk, false);
    bytes += all * latent_bytes + n * (latent_bytes + heads * (2.0 * latent + rope) * ACT_BYTES) +  // q in, o out
             (upconvert ? 2.0 * all * (latent + rope) * ACT_BYTES : 0.0);  // the bf16 copy written and read
}

// The walk over one step's ops, shared by step() and step_time().
// Returns whether the step's TP all-reduces run FlashInfer's fused kernel with the norms after them.
template <class Sink>
bool cost_step(const CostModel& cm, const LayerStats& layers, const ModelCard& m, const GpuProfile& gpu,
               const CostConfig& cfg,
               const ModuleRates& rates, double bytes_per_s, double exponent, const std::vector<SequenceWork>& batch, Sink& sink) {
    auto blend = [exponent](double c, double mem) { return smooth_max(c, mem, exponent); };
    const double tp = static_cast<double>(cfg.tp);
    const double h = static_cast<double>(m.hidden_size);
    const double sms = std::max(1.0, gpu.sm_count.value);
    const GemmCalibration* gemm_cal = cfg.gemm_calibration();
    const double bf16_flops_per_s =
        gpu.peak_flops(Dtype::BF16) * (gemm_cal ? gemm_cal->compute_efficiency : gpu.compute_efficiency.value);

    int64_t scheduled = 0;
    for (const SequenceWork& s : batch) scheduled += s.new_tokens;
    // the token-wise ops run over the CUDA graph's padded batch; attention and the logits over the real one
    const int64_t tokens = cuda_graph_tokens(cfg, scheduled);
    const double T = static_cast<double>(tokens);
    // Rows of logits: the last position of each sequence, every position of a speculative verify (the target
    // scores each draft and the token after them).
    double S = 0;
    for (const SequenceWork& s : batch) S += s.padding ? 0.0 : s.spec > 0 ? static_cast<double>(s.new_tokens) : 1.0;
    if (tokens == 0) return false;

    auto emit = [&](OpKind name, int64_t count, double flops, double bytes, double compute_s, double memory_s,
                    double comm_s, double overhead_s, double time_s, Bound bound, double gm = 0, double gn = 0,
                    double gk = 0) {
        if (count <= 0) return;
        const double c = static_cast<double>(count);
        sink.add(Op{name, count, flops * c, bytes * c, compute_s * c, memory_s * c, comm_s * c, overhead_s * c,
                    time_s * c, bound, gm, gn, gk});
    };
    // A GEMM of m rows against an n x k weight shard stored as `w` (its FLOP/s and calibration fit).
    auto gemm = [&](OpKind name, int64_t count, double mrows, double n, double k, double weight_bytes,
                    const WeightRate& w) {
        const GemmTime g =
            gemm_roofline(w.flops_per_s, w.bytes_per_s, sms, mrows, n, k, weight_bytes, exponent, w.cal, sink.wants_gemm_time(name));
        emit(name, count, g.flops, g.bytes, g.compute_s, g.memory_s, 0, 0, g.time_s,
             g.compute_s > g.memory_s ? Bound::COMPUTE : Bound::MEMORY, mrows, n, k);
    };
    auto elementwise = [&](OpKind name, int64_t count, double flops, double bytes, double gm = 0) {
        const double memory_s = bytes / bytes_per_s;
        emit(name, count, flops, bytes, 0, memory_s, 0, 0, memory_s, Bound::MEMORY, gm);
    };

    const int64_t L = m.num_layers;
    const bool mla = m.is_mla();
    // every TP all-reduce runs FlashInfer's fused kernel, with the residual add and RMSNorm after it
    const Collectives coll = step_collectives(m, cfg, layers.moe, T);
    const bool fused_norms = allreduce_norm_fused(m, gpu, cfg, coll.allreduces, coll.allreduce_bytes);
    const double heads = m.num_attention_heads / tp;
    const double kv_heads = static_cast<double>(m.kv_heads_per_rank(cfg.tp));
    const double o_params = static_cast<double>(m.num_attention_heads) * (mla ? m.v_head_dim : m.head_dim) * h;
    const double attn_params = static_cast<double>(m.attention_weight_params(0));
    // a rank's share of the q/k/v projections, and whole what vLLM replicates (a KV head when TP exceeds them, a
    // DSA indexer's projections)
    const double qkv_rank = (attn_params - o_params) / tp + m.attention_replicated_params(0, cfg.tp);

    emit(OpKind::EMBEDDING, 1, 0, 2.0 * T * h * ACT_BYTES, 0, 2.0 * T * h * ACT_BYTES / bytes_per_s, 0, 0,
         2.0 * T * h * ACT_BYTES / bytes_per_s, Bound::MEMORY);
    // A norm that follows a residual add reads the sum inside the add's kernel (vLLM's fused_add_rms_norm reads
    // the input and the residual, writes the residual and the output; torch.compile fuses an add into a LayerNorm
    // alike), so it adds a write of its output and a read of its weight to the add's three passes; a norm that
    // follows no add also reads its input. Each layer's two adds are followed by a norm (the one before the MLP,
    // the next layer's input norm, the final norm); the first layer's input norm of a decoder follows none.
    const double pass = T * h * ACT_BYTES;
    const double fused_norm_bytes = pass + h * ACT_BYTES, norm_bytes = 2.0 * pass + h * ACT_BYTES;
    if (fused_norms) {
        elementwise(OpKind::INPUT_NORM, 1, 4.0 * T * h, norm_bytes);  // the first layer's: no all-reduce before it
    } else {
        elementwise(OpKind::INPUT_NORM, L, 4.0 * T * h, fused_norm_bytes + (m.is_encoder ? 0.0 : pass / static_cast<double>(L)));
    }
    const WeightRate& attn_w = rates.attention;
    if (!mla) {
        gemm(OpKind::QKV_PROJ, L, T, qkv_rank / h, h, qkv_rank * attn_w.bytes_per_weight, attn_w);
    } else {
        // MLA's projections as vLLM runs them (deepseek_v2.py; MLACommonImpl), each a GEMM of its own: the q
        // and KV down-projections in one (fused_qkv_a_proj, whole on every rank), q's up-projection (or
        // q_proj without a q LoRA), a DSA indexer's three (whole), and the latent's up-projection (kv_b):
        // prefills run it on every key they attend to (a cached context is up-projected again), decodes
        // absorb it into two per-head products in bf16 (q_nope x W_UK before the attention, its latent output
        // x W_UV after).
        double pf_keys = 0, dc_rows = 0;
        for (const SequenceWork& s : batch) {
            if (s.padding) continue;
            if (s.is_decode()) {
                dc_rows += static_cast<double>(s.new_tokens);
            } else {
                pf_keys += static_cast<double>(s.context + s.new_tokens);
            }
        }
        const double qk = static_cast<double>(m.qk_nope_head_dim + m.qk_rope_head_dim);
        const double lora = static_cast<double>(m.kv_lora_rank),
                     rope = static_cast<double>(m.qk_rope_head_dim);
        const double q_lora = static_cast<double>(m.q_lora_rank);
        const double q_in = m.q_lora_rank > 0 ? q_lora : h;
        const WeightRate bf16{bf16_flops_per_s, ACT_BYTES, gemm_cal, bytes_per_s};
        struct Part {
            double rows, n, k;
            const WeightRate* w;
        };
        std::vector<Part> parts = {{T, (m.q_lora_rank > 0 ? q_lora : 0.0) + lora + rope, h, &attn_w},
                                   {T, heads * qk, q_in, &attn_w}};
        if (m.index_n_heads > 0) {
            const double ih = static_cast<double>(m.index_n_heads),
                         id = static_cast<double>(m.index_head_dim);
            parts.push_back({T, ih * id, q_in, &attn_w});
            parts.push_back({T, id, h, &attn_w});
            parts.push_back({T, ih, h, &attn_w});
        }
        if (pf_keys > 0)
            parts.push_back(
                {pf_keys, heads * static_cast<double>(m.qk_nope_head_dim + m.v_head_dim), lora, &attn_w});
        if (dc_rows > 0) {
            parts.push_back({dc_rows, heads * lora, static_cast<double>(m.qk_nope_head_dim), &bf16});
            parts.push_back({dc_rows, heads * static_cast<double>(m.v_head_dim), lora, &bf16});
        }
        GemmTime sum;
        for (const Part& p : parts) {
            const GemmTime g = gemm_roofline(p.w->flops_per_s, p.w->bytes_per_s, sms, p.rows, p.n, p.k,
                                             p.n * p.k * p.w->bytes_per_weight, exponent, p.w->cal,
                                             sink.wants_gemm_time(OpKind::QKV_PROJ));
            sum.flops += g.flops;
            sum.bytes += g.bytes;
            sum.compute_s += g.compute_s;
            sum.memory_s += g.memory_s;
            sum.time_s += g.time_s;
        }
        emit(OpKind::QKV_PROJ, L, sum.flops, sum.bytes, sum.compute_s, sum.memory_s, 0, 0, sum.time_s,
             sum.compute_s > sum.memory_s ? Bound::COMPUTE : Bound::MEMORY, T, qkv_rank / h, h);
    }
    {
        const double rot = mla ? static_cast<double>(m.qk_rope_head_dim) * (heads + 1.0)
                               : m.partial_rotary_factor * m.head_dim * (heads + kv_heads);
        // none for learned absolute positions (BERT: partial_rotary_factor 0), added to the embeddings
        if (rot > 0) elementwise(OpKind::ROPE, L, 3.0 * T * rot, 2.0 * T * rot * ACT_BYTES);
    }

    // Attention, per layer type; prefill chunks and decodes are costed apart (compute- vs memory-bound).
    {
        const double kv_elem_bytes = dtype_bytes(cfg.kv_dtype);
        const double q_dim = mla ? heads * (m.qk_nope_head_dim + m.qk_rope_head_dim) : heads * m.head_dim;
        const double o_dim = mla ? heads * m.v_head_dim : heads * m.head_dim;
        const double per_key_flops =
            mla ? 2.0 * heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim) : 4.0 * heads * m.head_dim;
        // the latent as cached (FlashMLA's own fp8 layout for a sparse model), less a sparse indexer's key
        const double kv_token_bytes =
            mla ? m.kv_token_bytes(0, cfg.kv_dtype) - static_cast<double>(m.kv_fixed_bytes_per_token(0))
                : 2.0 * kv_heads * m.head_dim * kv_elem_bytes;
        const double attn_rate = bf16_flops_per_s * cfg.attention_efficiency_factor;
        // an op of prefill and decode parts at `rate`, each blended on its own (one compute-, one memory-bound)
        auto emit_parts = [&](OpKind name, int64_t count, double rate, double pf_flops, double pf_bytes, double dc_flops,
                              double dc_bytes) {
            const double pc = pf_flops / rate, pm = pf_bytes / bytes_per_s;
            const double dcc = dc_flops / rate, dcm = dc_bytes / bytes_per_s;
            const double compute_s = pc + dcc, memory_s = pm + dcm;
            emit(name, count, pf_flops + dc_flops, pf_bytes + dc_bytes, compute_s, memory_s, 0, 0,
                 blend(pc, pm) + blend(dcc, dcm), compute_s > memory_s ? Bound::COMPUTE : Bound::MEMORY);
        };
        const bool sparse = m.is_sparse_mla();
        double sp_flops = 0, sp_bytes = 0;  // DSA prefills past index_topk (runs_sparse_prefill)
        const Calibration* cal = cfg.calibration.get();
        const bool fitted = cal && cal->has_attention();
        for (int kind_index = 0; kind_index < 3; ++kind_index) {
            const AttentionKind kind = static_cast<AttentionKind>(kind_index);
            const int64_t count = layers.count[kind_index];
            if (count == 0) continue;
            // a DSA decode attends to at most index_topk keys, read like a window's
            const int64_t window = sparse && kind == AttentionKind::MLA ? m.index_topk : layers.window[kind_index];
            const double decode_per_key_flops = mla ? 2.0 * heads *
                                                          (2.0 * static_cast<double>(m.kv_lora_rank) +
                                                           static_cast<double>(m.qk_rope_head_dim))
                                                    : 0.0;
            AttentionShape shape{
                heads,        mla ? 1.0 : kv_heads, per_key_flops, kv_token_bytes,      q_dim, o_dim, window,
                m.is_encoder, kv_elem_bytes,        mla,           decode_per_key_flops};
            // causal FlashAttention prefills (an encoder's bidirectional call and MLA's 192-wide prefill keep
            // 128-row tiles)
            if (!mla && !m.is_encoder) shape.query_tile = flash_attention_query_tile(gpu);
            AttentionWork dc, pf;
            double pf_tokens = 0, dc_tokens = 0;
            for (const SequenceWork& s : batch) {
                if (s.padding) continue;
                if (sparse && kind == AttentionKind::MLA && runs_sparse_prefill(m, s)) {
                    sparse_prefill_work(m, gpu, cfg, s, heads, kv_token_bytes, sp_flops, sp_bytes);
                    continue;
                }
                add_attention_work(shape, s, dc, pf);
                (s.is_decode() ? dc_tokens : pf_tokens) += static_cast<double>(s.new_tokens);
            }
            const OpKind name = kind == AttentionKind::SLIDING ? OpKind::ATTENTION_SLIDING : OpKind::ATTENTION;
            if (!fitted) {
                emit_parts(name, count, attn_rate, pf.flops, pf.bytes, dc.flops, dc.bytes);
                continue;
            }
            // the calibrated attention fits; a step of prefills and decodes runs one call, which pays one launch
            const bool has_pf = pf.scores > 0, has_dc = dc.scores > 0;
            const AttentionCalibration &pre = cal->prefill_attention, &dec = cal->decode_attention;
            const double pf_s = has_pf ? calibrated_prefill_attention_s(gpu, pre, pf) : 0.0;
            const double dc_s = has_dc ? calibrated_decode_attention_s(gpu, dec, pre, dc) : 0.0;
            double t = pf_s + dc_s;
            if (kind == AttentionKind::MLA && cal->has_mla()) {
                // the MLA block's kernels beyond its projections and attention (calibration.hpp's
                // MlaCalibration); vLLM runs an MLA step's prefill and decode kernels apart, each its launch
                t = mla_attention_s(
                    *cal, pf_s, dc_s, pf_tokens, dc_tokens, heads, kv_elem_bytes < 2.0,
                    cm.block_fp8_attention(),
                    dc.kv_read_bytes / (gpu.memory_bandwidth_bytes_per_s() * dec.memory_efficiency),
                    dc.longest_item_bytes,
                    mla_activation_spill_s(
                        gpu, pf_tokens + dc_tokens,
                        mla_activation_bytes(h, heads, static_cast<double>(m.qk_nope_head_dim),
                                             static_cast<double>(m.qk_rope_head_dim),
                                             static_cast<double>(m.v_head_dim))));
            } else if (has_pf && has_dc) {
                t -= std::min(pre.launch_s, dec.launch_s);
            }
            const double flops = pf.flops + dc.flops, bytes = pf.bytes + dc.bytes;
            const double compute_s = (flops + pf.scores * cal->prefill_attention.score_flops) /
                                     (gpu.peak_flops(Dtype::BF16) * cal->prefill_attention.compute_efficiency);
            const double memory_s = pf.bytes / (gpu.memory_bandwidth_bytes_per_s() * cal->prefill_attention.memory_efficiency) +
                                    dc.bytes / (gpu.memory_bandwidth_bytes_per_s() * cal->decode_attention.memory_efficiency);
            emit(name, count, flops, bytes, compute_s, memory_s, 0, 0, t, compute_s > memory_s ? Bound::COMPUTE : Bound::MEMORY);
        }
        const int64_t mla_layers = layers.count[static_cast<int>(AttentionKind::MLA)];
        if (sp_flops > 0) emit_parts(OpKind::ATTENTION_SPARSE, mla_layers, attn_rate, sp_flops, sp_bytes, 0, 0);
        if (sparse && mla_layers > 0) {
            // The lightning indexer, whole on every rank: each query scores every key it may see with its
            // index_n_heads fp8 heads (DeepGEMM's fp8 MQA logits), reading the indexer's key cache; the fp32 logits
            // are written and read back by the top-k pick, which writes index_topk int32 indices per query.
            const double nh_dim = static_cast<double>(m.index_n_heads * m.index_head_dim);
            const double key_bytes = static_cast<double>(m.kv_fixed_bytes_per_token(0));
            const double fp8 = gpu.peak_flops(Dtype::FP8);  // (none on Ampere: there it runs at the bf16 rate)
            const double rate = (fp8 > 0.0 ? fp8 * (gemm_cal ? gemm_cal->compute_efficiency : gpu.compute_efficiency.value)
                                           : bf16_flops_per_s) * cfg.attention_efficiency_factor;
            double pf_flops = 0, pf_bytes = 0, dc_flops = 0, dc_bytes = 0;
            for (const SequenceWork& s : batch) {
                if (s.padding) continue;
                const double keys = keys_seen(s.context, s.new_tokens, 0, false);
                const double n = static_cast<double>(s.new_tokens);
                const double bytes = static_cast<double>(s.context + s.new_tokens) * key_bytes + n * key_bytes +
                                     n * nh_dim + 2.0 * keys * 4.0 + n * static_cast<double>(m.index_topk) * 4.0;
                (s.is_decode() ? dc_flops : pf_flops) += 2.0 * nh_dim * keys;
                (s.is_decode() ? dc_bytes : pf_bytes) += bytes;
            }
            emit_parts(OpKind::INDEXER, mla_layers, rate, pf_flops, pf_bytes, dc_flops, dc_bytes);
        }
    }

    gemm(OpKind::O_PROJ, L, T, h, o_params / tp / h, o_params / tp * attn_w.bytes_per_weight, attn_w);
    if (!fused_norms) {
        elementwise(OpKind::RESIDUAL_ADD, L, 2.0 * T * h, 2.0 * 3.0 * T * h * ACT_BYTES);
        // of a layer's norms after its input norm (none with one norm a layer), the one before the MLP follows an add
        const double others = static_cast<double>(std::max<int64_t>(0, m.norms_per_layer - 2));
        elementwise(OpKind::POST_ATTENTION_NORM, L * (m.norms_per_layer - 1), 4.0 * T * h,
                    (fused_norm_bytes + others * norm_bytes) / (others + 1.0));
    }

    // MLPs: dense layers, then MoE layers (routed experts read as the expected distinct count).
    const int64_t moe_layers = layers.moe;
    const int64_t dense_layers = L - moe_layers;
    const double gated = m.mlp == MlpKind::GATED ? 2.0 : 1.0;
    if (dense_layers > 0) {
        const double inter = m.intermediate_size / tp;
        const WeightRate& mlp_w = rates.dense_mlp;
        gemm(OpKind::GATE_UP_PROJ, dense_layers, T, gated * inter, h, gated * inter * h * mlp_w.bytes_per_weight, mlp_w);
        elementwise(OpKind::ACTIVATION, dense_layers, 5.0 * T * inter, T * (gated + 1.0) * inter * ACT_BYTES);
        gemm(OpKind::DOWN_PROJ, dense_layers, T, h, inter, inter * h * mlp_w.bytes_per_weight, mlp_w);
    }
    if (moe_layers > 0) {
        const double e = static_cast<double>(m.num_experts);
        const double k = static_cast<double>(m.experts_per_token);
        // TP: every GPU holds a 1/tp slice of every expert and sees all T x k pairs. EP: whole experts, E / ep per
        // GPU, and the busiest GPU's share of every DP rank's pairs.
        const bool ep = cfg.ep > 1;
        const double inter = ep ? static_cast<double>(m.moe_intermediate_size) : m.moe_intermediate_size / tp;
        const double shared = m.shared_expert_intermediate_size / tp;
        const double routed_rows = ep ? cm.ep_rows(tokens) : T * k;  // token-expert pairs
        const double active = ep ? cm.ep_active_experts(tokens) : cm.expected_active_experts(tokens);
        elementwise(OpKind::ROUTER, moe_layers, 2.0 * T * h * e, T * h * ACT_BYTES + h * e * ACT_BYTES);
        // With a fused-MoE fit for the experts' format (calibration.hpp's MoeCalibration) the routed experts'
        // call takes the fit's time, shared among the three ops as their roofline times of the routed part
        // share it, and a shared expert runs as the dense MLP it is (GEMMs on the GEMM fit, its activation
        // streamed).
        const MoeCalibration* fit = cm.moe_fit();
        double fitted_s = 0.0, routed_total_s = 0.0;
        std::array<double, 3> routed_s{};
        if (fit) {
            MoeWork w;
            w.hidden = h, w.inter = inter, w.local_pairs = routed_rows, w.experts_read = active;
            w.local_experts = ep ? e / static_cast<double>(cfg.ep) : e;
            // the pairs the call sorts and sums: every token's k; with DP + EP every DP rank's tokens' k where
            // the GPU gathers them, only those dispatched to it where they are sent
            w.pairs = moe_dispatched(cfg) ? routed_rows : T * static_cast<double>(moe_gather_ranks(cfg)) * k;
            w.bytes_per_weight = rates.experts.bytes_per_weight;
            fitted_s = moe_kernel_time_s(gpu, cm.moe_format(), *fit, w);
            // the nearest measured shape's correction, at the tokens the call runs (every DP rank's,
            // gathered)
            if (cfg.moe_fit_scale) fitted_s *= cfg.moe_fit_scale->at(w.pairs / k);
            const double weights_up = active * 2.0 * inter * h * rates.experts.bytes_per_weight;
            routed_s[0] =
                blend(2.0 * routed_rows * 2.0 * inter * h / rates.experts.flops_per_s,
                      (weights_up + routed_rows * (h + 2.0 * inter) * ACT_BYTES) / rates.experts.bytes_per_s);
            routed_s[1] = 3.0 * routed_rows * inter * ACT_BYTES / bytes_per_s;
            routed_s[2] =
                blend(2.0 * routed_rows * inter * h / rates.experts.flops_per_s,
                      (weights_up / 2.0 + routed_rows * (h + inter) * ACT_BYTES) / rates.experts.bytes_per_s);
            routed_total_s = routed_s[0] + routed_s[1] + routed_s[2];
        }
        auto fitted_share = [&](int i) {
            return routed_total_s > 0.0 ? fitted_s * routed_s[static_cast<size_t>(i)] / routed_total_s : 0.0;
        };
        // Grouped GEMM: FLOPs of T x k rows, weights of the distinct experts hit (plus the shared MLP).
        auto moe_gemm = [&](OpKind name, double n_routed, double n_shared, double kdim_routed,
                            double kdim_shared) {
            const double flops = 2.0 * (routed_rows * n_routed * kdim_routed + T * n_shared * kdim_shared);
            const double weights = (active * n_routed * kdim_routed + n_shared * kdim_shared) * rates.experts.bytes_per_weight;
            const double shared_rows = shared > 0.0 ? T : 0.0;  // no shared expert, no shared activations
            const double bytes =
                weights + (routed_rows * (kdim_routed + n_routed) + shared_rows * (kdim_shared + n_shared)) * ACT_BYTES;
            const double compute_s = flops / rates.experts.flops_per_s, memory_s = bytes / rates.experts.bytes_per_s;
            double time_s = blend(compute_s, memory_s);
            if (fit) {
                time_s = fitted_share(name == OpKind::MOE_GATE_UP_PROJ ? 0 : 2);
                if (n_shared > 0.0 && kdim_shared > 0.0) {
                    time_s +=
                        gemm_roofline(rates.experts.flops_per_s, rates.experts.bytes_per_s, sms, T, n_shared,
                                      kdim_shared, n_shared * kdim_shared * rates.experts.bytes_per_weight,
                                      exponent, rates.experts.cal)
                            .time_s;
                }
            }
            emit(name, moe_layers, flops, bytes, compute_s, memory_s, 0, 0, time_s,
                 compute_s > memory_s ? Bound::COMPUTE : Bound::MEMORY, T);
        };
        moe_gemm(OpKind::MOE_GATE_UP_PROJ, 2.0 * inter, 2.0 * shared, h, h);
        const double act_bytes = 3.0 * (routed_rows * inter + T * shared) * ACT_BYTES;
        if (fit) {
            const double memory_s = act_bytes / bytes_per_s;
            emit(OpKind::ACTIVATION_MOE, moe_layers, 5.0 * (routed_rows * inter + T * shared), act_bytes, 0,
                 memory_s, 0, 0, fitted_share(1) + 3.0 * T * shared * ACT_BYTES / bytes_per_s, Bound::MEMORY,
                 T);
        } else {
            elementwise(OpKind::ACTIVATION_MOE, moe_layers, 5.0 * (routed_rows * inter + T * shared),
                        act_bytes, T);
        }
        moe_gemm(OpKind::MOE_DOWN_PROJ, h, h, inter, shared);
    }

    auto allreduce = [&](OpKind name, int64_t count, double msg) {
        if (count <= 0) return;
        const double comm_s = cfg.tp_link.present() ? hierarchical_allreduce_s(peer_link(gpu), cfg.tp_link, cfg.tp, cfg.tp_domains, msg)
                                                    : allreduce_time_s(gpu, cfg.tp, msg, cfg.calibration.get());
        const double c = static_cast<double>(count);
        Op op{name, count, 0, msg * c, 0, 0, comm_s * c, 0, comm_s * c, Bound::COMMUNICATION, T};
        op.fused = name == OpKind::TP_ALLREDUCE && fused_norms;
        sink.add(op);
    };
    allreduce(OpKind::TP_ALLREDUCE, coll.allreduces, coll.allreduce_bytes);
    allreduce(OpKind::QK_NORM_ALLREDUCE, coll.qk_allreduces, coll.qk_allreduce_bytes);
    if (coll.a2a_layers > 0) {  // each way at the GPU's all-to-all rate
        const LinkModel link = cfg.ep_link.present() ? cfg.ep_link : peer_link(gpu);
        const double comm_s = 2.0 * link.time_s(coll.a2a_bytes);
        emit(OpKind::EP_ALLTOALL, coll.a2a_layers, 0, 2.0 * coll.a2a_bytes, 0, 0, comm_s, 0, comm_s, Bound::COMMUNICATION,
             T);
    }

    if (m.final_norm && !fused_norms) elementwise(OpKind::FINAL_NORM, 1, 4.0 * T * h, fused_norm_bytes);
    if (!m.is_encoder) {
        // Logits for the last position of each sequence; lm_head stays 16-bit.
        const double vocab = m.vocab_size / tp;
        gemm(OpKind::LM_HEAD, 1, S, vocab, h, vocab * h * ACT_BYTES, WeightRate{bf16_flops_per_s, ACT_BYTES, gemm_cal, bytes_per_s});
        const double v = static_cast<double>(m.vocab_size);
        elementwise(OpKind::SAMPLING, 1, 5.0 * S * v, 2.0 * S * v * LOGIT_BYTES);
    }

    double overhead_s = cfg.step_overhead_s;
    if (!cfg.cuda_graphs) overhead_s += static_cast<double>(L * KERNELS_PER_LAYER + 5) * cfg.kernel_launch_s;
    emit(OpKind::STEP_OVERHEAD, 1, 0, 0, 0, 0, 0, overhead_s, overhead_s, Bound::OVERHEAD);
    return fused_norms;
}

}  // namespace

double MoeFitScale::at(double t) const {
    if (tokens.empty()) return 1.0;
    if (t <= tokens.front()) return scale.front();
    if (t >= tokens.back()) return scale.back();
    const size_t i = static_cast<size_t>(std::upper_bound(tokens.begin(), tokens.end(), t) - tokens.begin());
    const double f = std::log(t / tokens[i - 1]) / std::log(tokens[i] / tokens[i - 1]);
    return scale[i - 1] + f * (scale[i] - scale[i - 1]);
}

StepCost CostModel::step(const std::vector<SequenceWork>& batch) const {
    StepCost s;
    for (const SequenceWork& w : batch) s.tokens += w.new_tokens;
    s.sequences = static_cast<int64_t>(batch.size());
    RecordSink sink{&s};
    s.allreduce_norm_fused = cost_step(*this, layers_, model_, gpu_, config_, modules_, stream_bytes_per_s_,
              config_.blend_exponent, batch, sink);
    s.graph_tokens = cuda_graph_tokens(config_, s.tokens);
    if (config_.calibration) {
        const Calibration& cal = *config_.calibration;
        // an MLA model's attention under the calibration's MLA fit says so (and which tables it was fitted on)
        const bool mla_fit = model_.is_mla() && cal.has_mla();
        const bool triton = mla_fit && cal.mla_decode.triton_decode();
        // (a gather backend's experts run every DP rank's tokens)
        const double gathered = static_cast<double>(moe_gather_ranks(config_));
        // an all-reduce over a group the calibration timed none of runs the plain ring on the profile's link
        const bool ring = config_.tp > 1 && !config_.tp_link.present() && !cal.allreduce.count(config_.tp);
        for (OpCost& o : s.ops) {
            if (o.kind == OpKind::STEP_OVERHEAD) continue;
            o.source = cal.label();
            if (ring && (o.kind == OpKind::TP_ALLREDUCE || o.kind == OpKind::QK_NORM_ALLREDUCE)) {
                o.source = fmt::format(
                    "roofline: a ring on the profile's {} (the calibration fits no {}-GPU all-reduce)",
                    gpu_.has_nvlink() ? "NVLink" : "PCIe", config_.tp);
            }
            if (mla_fit && o.kind == OpKind::ATTENTION)
                o.source += triton ? ", its MLA fit with Triton MLA's decode terms" : ", its MLA fit";
            if (!moe_fit_ && is_fused_moe_op(o.kind) && !moe_format_.empty()) {  // (an MoE model's format)
                o.source += fmt::format(", op by op (its calibration fits no {} fused MoE)",
                                        moe_format_ == "int4" ? "Marlin (int4)" : moe_format_);
            }
            // (the fit is named where it is Marlin's: the int4 fit also prices MXFP4 experts, moe_fit_format)
            const char* fit = moe_format_ == "int4" ? "Marlin's fused-MoE fit" : "its fused-MoE fit";
            if (config_.moe_fit_scale && moe_fit_ && is_fused_moe_op(o.kind)) {
                o.source +=
                    fmt::format(", {} x {:.2f}: the square root of what {} took over the fit", fit,
                                config_.moe_fit_scale->at(gathered * static_cast<double>(s.run_tokens())),
                                config_.moe_fit_scale->note);
            } else if (moe_fit_ && is_fused_moe_op(o.kind) && moe_format_ == "int4") {
                o.source += fmt::format(", {}", fit);
            }
        }
    }
    return s;
}

void CostModel::walk(const std::vector<SequenceWork>& batch, RooflineOpVisitor& visitor) const {
    VisitorSink sink{&visitor};
    cost_step(*this, layers_, model_, gpu_, config_, modules_, stream_bytes_per_s_,
              config_.blend_exponent, batch, sink);
}

double CostModel::gemm_op_s(const RooflineOp& op) const {
    const GemmCalibration* cal = op.kind == OpKind::LM_HEAD                                  ? config_.gemm_calibration()
                                 : op.kind == OpKind::QKV_PROJ || op.kind == OpKind::O_PROJ ? modules_.attention.cal
                                                                                            : modules_.dense_mlp.cal;
    const double c = static_cast<double>(op.count);
    if (!cal) return c * smooth_max(op.compute_s / c, op.memory_s / c, config_.blend_exponent);
    return c * calibrated_gemm_s(*cal, op.compute_s / c, op.memory_s / c, op.m, op.n, op.k,
                                 memory_bytes_per_s(gpu_, cal), std::max(1.0, gpu_.sm_count.value));
}

StepTotals CostModel::step_totals(const std::vector<SequenceWork>& batch) const {
    TotalsSink sink;
    cost_step(*this, layers_, model_, gpu_, config_, modules_, stream_bytes_per_s_,
              config_.blend_exponent, batch, sink);
    sink.t.fabric = fabric_traffic(batch);
    return sink.t;
}

FabricTraffic CostModel::fabric_traffic(const std::vector<SequenceWork>& batch) const {
    FabricTraffic f;
    const CostConfig& c = config_;
    const bool rings = c.tp > 1 && c.tp_link.present() && c.tp_domains > 1;
    if (!rings && !(c.ep_fabric_share > 0.0)) return f;
    int64_t tokens = 0;
    for (const SequenceWork& s : batch) tokens += s.new_tokens;
    if (tokens == 0) return f;
    const Collectives coll = step_collectives(model_, c, layers_.moe, static_cast<double>(cuda_graph_tokens(c, tokens)));
    if (rings) {
        // the cross-domain ring of each all-reduce (hierarchical_allreduce_s): n domains of g GPUs, each GPU's
        // 1/g shard all-reduced with its local rank in the other domains; a flat ring on the fabric when the
        // domains are uneven
        const int64_t gpus = gpus_per_domain(c.tp, c.tp_domains), n = c.tp / gpus;
        const double g = static_cast<double>(gpus), nd = static_cast<double>(n);
        for (const auto& [calls, bytes] : {std::pair{coll.allreduces, coll.allreduce_bytes}, std::pair{coll.qk_allreduces, coll.qk_allreduce_bytes}}) {
            if (calls == 0) continue;
            const double shard = bytes / g;
            const auto count = static_cast<double>(calls);
            f.ring_bytes += count * 2.0 * (nd - 1.0) / nd * shard;
            f.time_s += count * ring_allreduce_s(c.tp_link, n, shard);
            f.latency_s += count * 2.0 * (nd - 1.0) * c.tp_link.latency_s;
        }
    }
    if (coll.a2a_layers > 0 && c.ep_fabric_share > 0.0) {
        // dispatch and combine: the fabric's share of each direction's bytes
        const double count = 2.0 * static_cast<double>(coll.a2a_layers);
        f.a2a_bytes = count * coll.a2a_bytes * c.ep_fabric_share;
        f.time_s += count * c.ep_link.time_s(coll.a2a_bytes);
        f.latency_s += count * c.ep_link.latency_s;
    }
    return f;
}

}  // namespace headroom
