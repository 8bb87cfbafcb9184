// Calibration YAML in both directions, and the shipped calibrations (hardware/calibrations/*.yaml).
#include "headroom/hardware/calibration.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <mutex>
#include <sstream>

#include "headroom/hardware/kernel_tables.hpp"
#include "headroom/hardware/yaml_fields.hpp"
#include "headroom/models/weight_scheme.hpp"

namespace headroom {

namespace {
// the YAML keys of CommCalibration::paths, in VllmAllreduce::Path's order
constexpr const char* ALLREDUCE_PATH_KEYS[3] = {"custom", "symm_mem", "nccl"};
}  // namespace

// Generated from hardware/calibrations/*.yaml by cmake/headroom_embed.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_calibrations();

std::string Calibration::label() const {
    if (!derived_from.empty()) return fmt::format("roofline (calibrated, derived from {})", derived_from);
    return "roofline (calibrated)";
}

const GemmCalibration* Calibration::gemm_for(Dtype d) const {
    if (d == Dtype::FP8 && gemm_fp8.present()) return &gemm_fp8;
    return gemm.present() ? &gemm : nullptr;
}

const MoeCalibration* Calibration::moe_for(const std::string& format) const {
    const auto it = moe.find(format);
    return it != moe.end() && it->second.present() ? &it->second : nullptr;
}

std::string moe_fit_format(const std::string& format, bool gpt_oss_mxfp4, double compute_capability) {
    if (format == "mxfp4" && (!gpt_oss_mxfp4 || compute_capability < 9.0)) return "int4";
    return format;
}

std::string moe_fit_label(const std::string& format) {
    return format == "int4" ? std::string("Marlin (int4 and MXFP4 experts)") : format + " experts";
}

double moe_peak_flops(const GpuProfile& gpu, const std::string& format) {
    const double bf16 = gpu.peak_flops(Dtype::BF16), fp8 = gpu.peak_flops(Dtype::FP8);
    if (format == "fp8" || format == "fp8_block") return fp8 > 0.0 ? fp8 : bf16;
    if (format == "fp4") {
        const double fp4 = gpu.fp4_tflops.value * 1e12;
        return fp4 > 0.0 ? fp4 : fp8 > 0.0 ? fp8 : bf16;
    }
    return bf16;
}

std::array<double, MOE_TERMS> moe_columns(const GpuProfile& gpu, const std::string& format,
                                          const MoeWork& w) {
    const double peak = moe_peak_flops(gpu, format), hbm = gpu.memory_bandwidth_bytes_per_s();
    // a non-gated expert has no gate projection: 2 matrices, and a pair's up output, activation and down input
    // are inter wide each (3 hidden + 4 inter) where a gated pair's gate-up output is 2 inter (3 hidden + 6 inter)
    const double expert = (w.gated ? 3.0 : 2.0) * w.hidden * w.inter;
    const double pair_bytes = (3.0 * w.hidden + (w.gated ? 6.0 : 4.0) * w.inter) * 2.0;
    // Marlin's padded blocks (int4 on Hopper and Blackwell: calibration.hpp)
    const bool marlin = format == "int4" && gpu.compute_capability.value >= 9.0 && w.local_experts > 0.0;
    const double rows =
        marlin ? marlin_moe_rows(w.pairs, w.local_pairs, w.experts_read, w.local_experts) : w.local_pairs;
    return {1.0,
            peak > 0.0 ? 2.0 * expert * rows / peak : 0.0,
            hbm > 0.0 ? w.experts_read * expert * w.bytes_per_weight / hbm : 0.0,
            hbm > 0.0 ? w.local_pairs * pair_bytes / hbm : 0.0,
            hbm > 0.0 ? w.pairs * pair_bytes / hbm : 0.0,
            w.experts_read,
            moe_wave_s(gpu, w)};
}

double mla_activation_bytes(double hidden, double heads, double nope, double rope, double v) {
    return 2.0 * (hidden + heads * (2.0 * nope + rope + 2.0 * v));
}

double mla_activation_spill_s(const GpuProfile& gpu, double tokens, double bytes_per_token) {
    const double l2 = gpu.l2_cache_bytes(), hbm = gpu.memory_bandwidth_bytes_per_s();
    if (!(l2 > 0.0) || !(hbm > 0.0)) return 0.0;
    return std::max(0.0, tokens * bytes_per_token - l2) / hbm;
}

double moe_wave_s(const GpuProfile& gpu, const MoeWork& w) {
    const double sms = gpu.sm_count.value, hbm = gpu.memory_bandwidth_bytes_per_s();
    if (!(sms > 0.0) || !(hbm > 0.0) || !(w.experts_read > 0.0)) return 0.0;
    const double row_tiles = w.experts_read * std::max(1.0, w.local_pairs / w.experts_read / MOE_TILE_ROWS);
    const double gate_up = std::ceil(row_tiles * std::ceil((w.gated ? 2.0 : 1.0) * w.inter / MOE_TILE_COLS) / sms);
    const double down = std::ceil(row_tiles * std::ceil(w.hidden / MOE_TILE_COLS) / sms);
    return (gate_up * w.hidden + down * w.inter) * MOE_TILE_COLS * w.bytes_per_weight / (hbm / sms);
}

MoeWork balanced_moe_work(double hidden, double inter, double topk, double experts, double tp, double ep,
                          double tokens, double bytes_per_weight, bool gated) {
    tp = std::max(1.0, tp), ep = std::max(1.0, ep);
    MoeWork w;
    w.hidden = hidden;
    w.inter = inter / tp;
    w.pairs = tokens * topk;
    w.local_pairs = w.pairs / ep;
    w.experts_read = std::min(w.pairs, experts) / ep;
    w.local_experts = experts / ep;
    w.bytes_per_weight = bytes_per_weight;
    w.gated = gated;
    return w;
}

double moe_kernel_time_s(const GpuProfile& gpu, const std::string& format, const MoeCalibration& f,
                         const MoeWork& w) {
    const std::array<double, MOE_TERMS> c = moe_columns(gpu, format, w);
    return f.fixed_s * c[0] + f.compute * c[1] + f.weights * c[2] + f.local_pairs * c[3] + f.pairs * c[4] +
           f.expert_s * c[5] + f.waves * c[6];
}

namespace {

void fit_yaml(std::string& y, const FitQuality& q) {
    y += fmt::format("  fit: {{points: {}, {}median_abs_rel_error: {:.4g}, p90_abs_rel_error: {:.4g}}}\n", q.points,
                     q.l2_warm_left_out > 0 ? fmt::format("l2_warm_left_out: {}, ", q.l2_warm_left_out) : "",
                     q.median_abs_rel_error, q.p90_abs_rel_error);
}

void gemm_yaml(std::string& y, const char* key, const GemmCalibration& g, const FitQuality& q) {
    y += fmt::format("{}:\n", key);
    y += fmt::format("  launch_us: {:.6g}\n", g.launch_s * 1e6);
    y += fmt::format("  compute_efficiency: {:.6g}\n", g.compute_efficiency);
    y += fmt::format("  memory_efficiency: {:.6g}\n", g.memory_efficiency);
    y += fmt::format("  blend_exponent: {:.6g}\n", g.blend_exponent);
    if (g.mainloop_s_per_k > 0) y += fmt::format("  mainloop_ns_per_k: {:.6g}\n", g.mainloop_s_per_k * 1e9);
    if (g.activation_bytes > 0) y += fmt::format("  activation_bytes_per_element: {:.6g}\n", g.activation_bytes);
    if (g.output_bytes > 0) y += fmt::format("  output_bytes_per_element: {:.6g}\n", g.output_bytes);
    if (g.row_s > 0) y += fmt::format("  row_ns: {:.6g}\n", g.row_s * 1e9);
    if (g.wave_exponent > 0) y += fmt::format("  wave_exponent: {:.6g}\n", g.wave_exponent);
    fit_yaml(y, q);
}

void attention_yaml(std::string& y, const char* key, const AttentionCalibration& a, const FitQuality& q, bool prefill) {
    y += fmt::format("{}:\n", key);
    y += fmt::format("  launch_us: {:.6g}\n", a.launch_s * 1e6);
    if (prefill) y += fmt::format("  compute_efficiency: {:.6g}\n", a.compute_efficiency);
    y += fmt::format("  memory_efficiency: {:.6g}\n", a.memory_efficiency);
    y += fmt::format("  blend_exponent: {:.6g}\n", a.blend_exponent);
    if (prefill) {
        y += fmt::format("  score_flops: {:.6g}\n", a.score_flops);
        y += fmt::format("  wave_exponent: {:.6g}\n", a.wave_exponent);
        if (a.item_s > 0) y += fmt::format("  item_ns: {:.6g}\n", a.item_s * 1e9);
    } else {
        y += fmt::format("  item_ns: {:.6g}\n", a.item_s * 1e9);
        if (a.unsplit_bytes_per_s > 0) {
            y += fmt::format("  unsplit_gb_per_s: {:.6g}\n", a.unsplit_bytes_per_s / 1e9);
        }
        if (a.repack_s > 0) y += fmt::format("  repack_us: {:.6g}\n", a.repack_s * 1e6);
        if (a.combine_s > 0) y += fmt::format("  combine_us: {:.6g}\n", a.combine_s * 1e6);
    }
    fit_yaml(y, q);
}

void mla_yaml(std::string& y, const char* key, const MlaCalibration& a, const FitQuality& q) {
    y += fmt::format("{}:\n", key);
    y += fmt::format("  block_us: {:.6g}\n", a.block_s * 1e6);
    y += fmt::format("  token_ns: {:.6g}\n", a.token_s * 1e9);
    y += fmt::format("  token_head_ns: {:.6g}\n", a.token_head_s * 1e9);
    y += fmt::format("  attention_scale: {:.6g}\n", a.attention_scale);
    y += fmt::format("  fp8_kv_attention_scale: {:.6g}\n", a.fp8_kv_attention_scale);
    y += fmt::format("  fp8_kv_block_us: {:.6g}\n", a.fp8_kv_block_s * 1e6);
    y += fmt::format("  block_fp8_block_us: {:.6g}\n", a.block_fp8_block_s * 1e6);
    y += fmt::format("  block_fp8_token_ns: {:.6g}\n", a.block_fp8_token_s * 1e9);
    y += fmt::format("  block_fp8_token_head_ns: {:.6g}\n", a.block_fp8_token_head_s * 1e9);
    if (a.activation_spill > 0) y += fmt::format("  activation_spill: {:.6g}\n", a.activation_spill);
    if (a.triton_decode()) {  // Triton MLA decode's terms, where fitted
        y += fmt::format("  head_block_reread: {:.6g}\n", a.head_block_reread);
        y += fmt::format("  longest_ns_per_kb: {:.6g}\n", a.longest_s_per_byte * 1e9 * 1024);
    }
    fit_yaml(y, q);
}

void moe_yaml(std::string& y, const Calibration& c) {
    y += "moe:\n";
    for (const auto& [format, m] : c.moe) {
        y += fmt::format("  {}:{}\n", format, format == "int4" ? "  # " + moe_fit_label(format) : "");
        y += fmt::format("    fixed_us: {:.6g}\n", m.fixed_s * 1e6);
        y += fmt::format("    compute: {:.6g}\n", m.compute);
        y += fmt::format("    weights: {:.6g}\n", m.weights);
        y += fmt::format("    local_pairs: {:.6g}\n", m.local_pairs);
        y += fmt::format("    pairs: {:.6g}\n", m.pairs);
        y += fmt::format("    expert_us: {:.6g}\n", m.expert_s * 1e6);
        y += fmt::format("    waves: {:.6g}\n", m.waves);
        std::string fit;
        const auto q = c.moe_fit.find(format);
        if (q != c.moe_fit.end()) fit_yaml(fit, q->second);
        y += "  " + fit;
    }
}

}  // namespace

std::string calibration_yaml(const Calibration& c) {
    std::string y = "# headroom calibration: a roofline fitted to measured kernel times (headroom calibrate).\n";
    y += fmt::format("gpu: {}\n", c.gpu);
    y += fmt::format("fitted_on: \"{}\"\n", c.fitted_on);
    if (!c.derived_from.empty()) y += fmt::format("derived_from: {}\n", c.derived_from);
    y += fmt::format("dtype: {}\n", c.dtype);
    gemm_yaml(y, "gemm", c.gemm, c.gemm_fit);
    if (c.gemm_fp8.present()) gemm_yaml(y, "gemm_fp8", c.gemm_fp8, c.gemm_fp8_fit);
    if (c.has_attention()) {
        attention_yaml(y, "prefill_attention", c.prefill_attention, c.prefill_attention_fit, true);
        attention_yaml(y, "decode_attention", c.decode_attention, c.decode_attention_fit, false);
        if (c.has_mla()) {
            mla_yaml(y, "mla_prefill", c.mla_prefill, c.mla_prefill_fit);
            mla_yaml(y, "mla_decode", c.mla_decode, c.mla_decode_fit);
        }
    }
    if (!c.moe.empty()) moe_yaml(y, c);
    if (!c.allreduce.empty()) {
        y += "allreduce:\n";
        for (const auto& [gpus, a] : c.allreduce) {
            y += fmt::format("  {}: {{latency_us: {:.6g}, bus_gb_per_s: {:.6g}", gpus, a.latency_s * 1e6,
                             a.bus_bytes_per_s / 1e9);
            for (size_t p = 0; p < a.paths.size(); ++p) {
                if (!a.paths[p].present()) continue;
                y += fmt::format(", {}: {{latency_us: {:.6g}, bus_gb_per_s: {:.6g}}}", ALLREDUCE_PATH_KEYS[p],
                                 a.paths[p].latency_s * 1e6, a.paths[p].bus_bytes_per_s / 1e9);
            }
            y += "}\n";
        }
    }
    return y;
}

namespace {

class Reader : public YamlFields {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}
    [[noreturn]] void fail(const std::string& field, const std::string& reason) const override {
        throw HardwareError(file_, field, reason);
    }

private:
    std::string file_;
};

void read_fit(const Reader& r, const YAML::Node& g, const std::string& key, FitQuality& q) {
    if (const YAML::Node f = g["fit"]) {
        r.only(f, key + ".fit", {"points", "l2_warm_left_out", "median_abs_rel_error", "p90_abs_rel_error"});
        q.points = static_cast<int64_t>(r.number(f["points"], key + ".fit.points", 0, 1e9));
        if (f["l2_warm_left_out"]) q.l2_warm_left_out = static_cast<int64_t>(r.number(f["l2_warm_left_out"], key + ".fit.l2_warm_left_out", 0, 1e9));
        q.median_abs_rel_error = r.number(f["median_abs_rel_error"], key + ".fit.median_abs_rel_error", 0, 1e3);
        q.p90_abs_rel_error = r.number(f["p90_abs_rel_error"], key + ".fit.p90_abs_rel_error", 0, 1e3);
    }
}

void read_gemm(const Reader& r, const YAML::Node& root, const std::string& key, GemmCalibration& out, FitQuality& q) {
    const YAML::Node g = root[key];
    if (!g) r.fail(key, "missing");
    r.only(g, key, {"launch_us", "compute_efficiency", "memory_efficiency", "blend_exponent", "mainloop_ns_per_k", "activation_bytes_per_element",
                    "output_bytes_per_element", "row_ns", "wave_exponent", "fit"});
    out.launch_s = r.number(g["launch_us"], key + ".launch_us", 0, 1e4) * 1e-6;
    out.compute_efficiency = r.number(g["compute_efficiency"], key + ".compute_efficiency", 0, 1.5, true);
    out.memory_efficiency = r.number(g["memory_efficiency"], key + ".memory_efficiency", 0, 1.5, true);
    out.blend_exponent = r.number(g["blend_exponent"], key + ".blend_exponent", 0.5, 64);
    // 0.1-1 ns per element of k on the shipped GPUs; 1,000 ns (a 4,096-deep GEMM of 4 ms) is far beyond any
    if (g["mainloop_ns_per_k"]) out.mainloop_s_per_k = r.number(g["mainloop_ns_per_k"], key + ".mainloop_ns_per_k", 0, 1000) * 1e-9;
    // a real kernel moves a few bytes per element; 1,000 is far beyond any
    if (g["activation_bytes_per_element"]) out.activation_bytes = r.number(g["activation_bytes_per_element"], key + ".activation_bytes_per_element", 0, 1000);
    if (g["output_bytes_per_element"]) out.output_bytes = r.number(g["output_bytes_per_element"], key + ".output_bytes_per_element", 0, 1000);
    // a few ns a row on the shipped GPUs; 1,000 ns (16 ms for 16,384 rows) is far beyond any
    if (g["row_ns"]) out.row_s = r.number(g["row_ns"], key + ".row_ns", 0, 1000) * 1e-9;
    // 1: compute time in proportion to the tile slots, idle ones included; more would charge an idle slot more
    // than a busy one
    if (g["wave_exponent"]) out.wave_exponent = r.number(g["wave_exponent"], key + ".wave_exponent", 0, 1);
    read_fit(r, g, key, q);
}

void read_attention(const Reader& r, const YAML::Node& root, const std::string& key, AttentionCalibration& out,
                    FitQuality& q, bool prefill) {
    const YAML::Node a = root[key];
    if (prefill) {
        r.only(a, key, {"launch_us", "compute_efficiency", "memory_efficiency", "blend_exponent",
                        "score_flops", "wave_exponent", "item_ns", "fit"});
    } else {
        r.only(a, key, {"launch_us", "memory_efficiency", "blend_exponent", "item_ns", "unsplit_gb_per_s",
                        "repack_us", "combine_us", "fit"});
    }
    out.launch_s = r.number(a["launch_us"], key + ".launch_us", 0, 1e4) * 1e-6;
    out.memory_efficiency = r.number(a["memory_efficiency"], key + ".memory_efficiency", 0, 1.5, true);
    out.blend_exponent = r.number(a["blend_exponent"], key + ".blend_exponent", 0.5, 64);
    if (prefill) {
        // an effective share: the score term carries the softmax at the tensor cores' rate (fitted 0.6-1.2)
        out.compute_efficiency = r.number(a["compute_efficiency"], key + ".compute_efficiency", 0, 2, true);
        // FLOP-equivalents per score: 100-500 on the shipped GPUs; 100,000 is far beyond any
        out.score_flops = r.number(a["score_flops"], key + ".score_flops", 0, 1e5);
        out.wave_exponent = r.number(a["wave_exponent"], key + ".wave_exponent", 0, 2);
        // a few ns per (128-query tile, head) on the shipped GPUs; 100,000 ns is far beyond any
        if (a["item_ns"]) out.item_s = r.number(a["item_ns"], key + ".item_ns", 0, 1e5) * 1e-9;
    } else {
        // tens of ns per (sequence, KV head) on the shipped GPUs; 100,000 ns is far beyond any
        out.item_s = r.number(a["item_ns"], key + ".item_ns", 0, 1e5) * 1e-9;
        // one block's streaming rate: 24-31 GB/s where FA2 leaves the KV unsplit, thousands where the kernel
        // splits it anyway (the term then never binds); 1e6 GB/s is far beyond any
        if (a["unsplit_gb_per_s"]) {
            out.unsplit_bytes_per_s =
                r.number(a["unsplit_gb_per_s"], key + ".unsplit_gb_per_s", 0, 1e6, true) * 1e9;
        }
        // a few us a kernel on the shipped GPUs; 1,000 us is far beyond any
        if (a["repack_us"]) out.repack_s = r.number(a["repack_us"], key + ".repack_us", 0, 1e3) * 1e-6;
        if (a["combine_us"]) out.combine_s = r.number(a["combine_us"], key + ".combine_us", 0, 1e3) * 1e-6;
    }
    read_fit(r, a, key, q);
}

void read_mla(const Reader& r, const YAML::Node& root, const std::string& key, MlaCalibration& out,
              FitQuality& q) {
    const YAML::Node a = root[key];
    r.only(a, key,
           {"block_us", "token_ns", "token_head_ns", "attention_scale", "fp8_kv_attention_scale",
            "fp8_kv_block_us", "block_fp8_block_us", "block_fp8_token_ns", "block_fp8_token_head_ns",
            "head_block_reread", "longest_ns_per_kb", "activation_spill", "fit"});
    // tens of us a block on the shipped GPUs; 10,000 us is far beyond any
    auto us = [&](const char* f) { return r.number(a[f], key + "." + f, 0, 1e4) * 1e-6; };
    // tens of ns a token, a few a (token, head); 100,000 ns is far beyond any
    auto ns = [&](const char* f) { return r.number(a[f], key + "." + f, 0, 1e5) * 1e-9; };
    out.block_s = us("block_us");
    out.token_s = ns("token_ns");
    out.token_head_s = ns("token_head_ns");
    // 0.5-1.3 on the shipped GPUs
    out.attention_scale = r.number(a["attention_scale"], key + ".attention_scale", 0, 100, true);
    out.fp8_kv_attention_scale =
        r.number(a["fp8_kv_attention_scale"], key + ".fp8_kv_attention_scale", 0, 100, true);
    out.fp8_kv_block_s = us("fp8_kv_block_us");
    out.block_fp8_block_s = us("block_fp8_block_us");
    out.block_fp8_token_s = ns("block_fp8_token_ns");
    out.block_fp8_token_head_s = ns("block_fp8_token_head_ns");
    // Triton MLA decode's terms, absent for the other backends: about 1 (one more latent read a 16-head
    // block) and tens of ns a KB (a few CTAs' rate); 100 and 1e6 are far beyond any
    if (a["head_block_reread"]) out.head_block_reread = r.number(a["head_block_reread"], key + ".head_block_reread", 0, 100);
    if (a["longest_ns_per_kb"])
        out.longest_s_per_byte = r.number(a["longest_ns_per_kb"], key + ".longest_ns_per_kb", 0, 1e6) * 1e-9 / 1024;
    // a multiple of the spilled activations' time at HBM peak: 1.0-3.7 on the shipped GPUs; 100 is far
    // beyond any
    if (a["activation_spill"])
        out.activation_spill = r.number(a["activation_spill"], key + ".activation_spill", 0, 100);
    read_fit(r, a, key, q);
}

void read_moe(const Reader& r, const YAML::Node& root, Calibration& c) {
    const YAML::Node m = root["moe"];
    if (!m.IsMap()) r.fail("moe", "expected a mapping of weight formats");
    for (const auto& kv : m) {
        const std::string format = kv.first.Scalar();
        const std::string key = "moe." + format;
        if (kernel_format_bytes(format) <= 0.0)  // not one of kernel_format's names
            r.fail(key, "expected a weight format: bf16, fp8, fp8_block, mxfp4, fp4 or int4");
        if (c.moe.count(format)) r.fail(key, "duplicate key");
        const YAML::Node a = kv.second;
        r.only(a, key, {"fixed_us", "compute", "weights", "local_pairs", "pairs", "expert_us", "waves", "fit"});
        MoeCalibration f;
        // tens of us a call on the shipped GPUs; 10,000 us is far beyond any
        f.fixed_s = r.number(a["fixed_us"], key + ".fixed_us", 0, 1e4) * 1e-6;
        // multiples of the time at peak: 0.6-8 on the shipped GPUs; 1,000 is far beyond any
        f.compute = r.number(a["compute"], key + ".compute", 0, 1e3);
        f.weights = r.number(a["weights"], key + ".weights", 0, 1e3);
        f.local_pairs = r.number(a["local_pairs"], key + ".local_pairs", 0, 1e3);
        f.pairs = r.number(a["pairs"], key + ".pairs", 0, 1e3);
        // (absent from calibrations written before the twenty-ninth session: 0)
        // a few us an expert on the shipped GPUs; 1,000 us is far beyond any
        if (a["expert_us"]) f.expert_s = r.number(a["expert_us"], key + ".expert_us", 0, 1e3) * 1e-6;
        if (a["waves"]) f.waves = r.number(a["waves"], key + ".waves", 0, 1e3);
        if (!f.present()) r.fail(key, "every term is 0: no fit");
        c.moe[format] = f;
        read_fit(r, a, key, c.moe_fit[format]);
    }
}

}  // namespace

Calibration parse_calibration(const std::string& text, const std::string& file) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw HardwareError(file, "", fmt::format("not valid YAML (line {}): {}", e.mark.line + 1, e.msg));
    }
    Reader r(file);
    r.only(root, "",
           {"gpu", "fitted_on", "derived_from", "dtype", "gemm", "gemm_fp8", "prefill_attention",
            "decode_attention", "mla_prefill", "mla_decode", "moe", "allreduce"});
    Calibration c;
    c.file = file;
    c.gpu = r.string(root["gpu"], "gpu");
    c.fitted_on = r.string(root["fitted_on"], "fitted_on");
    if (root["derived_from"]) c.derived_from = r.string(root["derived_from"], "derived_from");
    if (root["dtype"]) c.dtype = r.string(root["dtype"], "dtype");
    read_gemm(r, root, "gemm", c.gemm, c.gemm_fit);
    if (root["gemm_fp8"]) {
        if (c.dtype != "bf16") r.fail("gemm_fp8", "only beside a bf16 fit (dtype: bf16)");
        read_gemm(r, root, "gemm_fp8", c.gemm_fp8, c.gemm_fp8_fit);
    }
    if (root["prefill_attention"] || root["decode_attention"]) {
        if (!root["prefill_attention"]) r.fail("prefill_attention", "missing (decode_attention needs it beside it)");
        if (!root["decode_attention"]) r.fail("decode_attention", "missing (prefill_attention needs it beside it)");
        read_attention(r, root, "prefill_attention", c.prefill_attention, c.prefill_attention_fit, true);
        read_attention(r, root, "decode_attention", c.decode_attention, c.decode_attention_fit, false);
    }
    if (root["mla_prefill"] || root["mla_decode"]) {
        if (!root["mla_prefill"]) r.fail("mla_prefill", "missing (mla_decode needs it beside it)");
        if (!root["mla_decode"]) r.fail("mla_decode", "missing (mla_prefill needs it beside it)");
        if (!c.has_attention())
            r.fail("mla_prefill", "only beside the attention fits (prefill_attention, decode_attention)");
        read_mla(r, root, "mla_prefill", c.mla_prefill, c.mla_prefill_fit);
        read_mla(r, root, "mla_decode", c.mla_decode, c.mla_decode_fit);
    }
    if (root["moe"]) read_moe(r, root, c);
    if (const YAML::Node a = root["allreduce"]) {
        if (!a.IsMap()) r.fail("allreduce", "expected a mapping of GPU counts");
        for (const auto& kv : a) {
            const std::string key = kv.first.Scalar();
            const std::string path = "allreduce." + key;
            int64_t gpus = 0;
            try {
                gpus = std::stoll(key);
            } catch (const std::exception&) {
                r.fail(path, "expected a GPU count");
            }
            if (gpus < 2 || gpus > 4096 || std::to_string(gpus) != key) r.fail(path, "expected a GPU count from 2 to 4096");
            if (c.allreduce.count(gpus)) r.fail(path, "duplicate key");
            r.only(kv.second, path, {"latency_us", "bus_gb_per_s", "custom", "symm_mem", "nccl"});
            auto line = [&](const YAML::Node& n, const std::string& at) {
                return CommLine{r.number(n["latency_us"], at + ".latency_us", 0, 1e6) * 1e-6,
                                r.number(n["bus_gb_per_s"], at + ".bus_gb_per_s", 0, 1e5, true) * 1e9};
            };
            CommCalibration& a = c.allreduce[gpus];
            static_cast<CommLine&>(a) = line(kv.second, path);
            for (size_t p = 0; p < a.paths.size(); ++p) {
                const std::string at = path + "." + ALLREDUCE_PATH_KEYS[p];
                const YAML::Node n = kv.second[ALLREDUCE_PATH_KEYS[p]];
                if (!n) continue;
                if (!n.IsMap()) r.fail(at, "expected a mapping of latency_us and bus_gb_per_s");
                r.only(n, at, {"latency_us", "bus_gb_per_s"});
                a.paths[p] = line(n, at);
            }
        }
    }
    return c;
}

Calibration load_calibration(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw HardwareError(path, "", "cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_calibration(ss.str(), path);
}

std::shared_ptr<const Calibration> shipped_calibration(const std::string& gpu) {
    static std::mutex mu;
    static std::map<std::string, std::shared_ptr<const Calibration>> cache;
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(gpu); it != cache.end()) return it->second;
    std::shared_ptr<const Calibration> c;
    for (const auto& [stem, text] : embedded_calibrations()) {
        if (stem == gpu) c = std::make_shared<const Calibration>(parse_calibration(std::string(text), "hardware/calibrations/" + gpu + ".yaml"));
    }
    if (c) cache[gpu] = c;  // misses are not kept: names come from user input, and the cache must stay bounded
    return c;
}

}  // namespace headroom
