// Fitting the calibrated roofline: Levenberg-Marquardt on log time for GEMMs (5 parameters, 9 for fp8) and
// attention (6 for prefill, 4 for decode), kept positive by fitting their logs; ordinary least squares per
// GPU count for all-reduces; non-negative linear fits for the MLA blocks and the fused MoE. The GEMM, attention,
// MLA and fused-MoE fits minimise a robust sum (pseudo-Huber at 1%: absolute errors beyond a percent), not
// squares. All in Eigen.
#include "headroom/sim/calibrate.hpp"

#include <fmt/format.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/mla_norm_chain.hpp"
#include "headroom/core/moe_routing.hpp"
#include "headroom/core/nnls.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/hardware/vllm_allreduce.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/sim/metrics.hpp"

namespace headroom {

namespace {

// The parameters theta = log(launch_s, ec, em, p, mainloop_s_per_k[, activation_bytes, output_bytes, row_s,
// wave_exponent]) as a
// calibration.
GemmCalibration from_theta(const Eigen::VectorXd& theta) {
    GemmCalibration c;
    c.launch_s = std::exp(theta[0]);
    c.compute_efficiency = std::exp(theta[1]);
    c.memory_efficiency = std::exp(theta[2]);
    c.blend_exponent = std::exp(theta[3]);
    c.mainloop_s_per_k = std::exp(theta[4]);
    if (theta.size() > 5) {
        c.activation_bytes = std::exp(theta[5]);
        c.output_bytes = std::exp(theta[6]);
        c.row_s = std::exp(theta[7]);
        c.wave_exponent = std::exp(theta[8]);
    }
    return c;
}

// log time of every sample under theta.
Eigen::VectorXd predict_log(const GpuProfile& gpu, Dtype dtype, const std::vector<GemmSample>& s,
                            const Eigen::VectorXd& theta) {
    const GemmCalibration c = from_theta(theta);
    Eigen::VectorXd out(static_cast<Eigen::Index>(s.size()));
    for (size_t i = 0; i < s.size(); ++i) out[static_cast<Eigen::Index>(i)] = std::log(gemm_time_s(gpu, dtype, s[i].m, s[i].n, s[i].k, &c));
    return out;
}

// Levenberg-Marquardt on log time: theta (the logs of the parameters) minimising |predict_log(theta) - y|^2, each
// step's theta held in range by `bound`; returns the residuals at the fit.
using LogModel = std::function<Eigen::VectorXd(const Eigen::VectorXd&)>;
Eigen::VectorXd fit_log_time(const LogModel& predict_log, const Eigen::VectorXd& y, Eigen::VectorXd& theta,
                             const std::function<void(Eigen::VectorXd&)>& bound) {
    const Eigen::Index n = y.size(), P = theta.size();
    Eigen::VectorXd r = predict_log(theta) - y;
    double cost = r.squaredNorm();
    double lambda = 1e-3;
    for (int it = 0; it < 200; ++it) {
        Eigen::MatrixXd J(n, P);
        for (Eigen::Index j = 0; j < P; ++j) {  // central differences in log parameters
            const double h = 1e-5;
            Eigen::VectorXd a = theta, b = theta;
            a[j] += h;
            b[j] -= h;
            J.col(j) = (predict_log(a) - predict_log(b)) / (2 * h);
        }
        const Eigen::MatrixXd JtJ = J.transpose() * J;
        const Eigen::VectorXd g = J.transpose() * r;
        bool improved = false;
        for (int tries = 0; tries < 20 && !improved; ++tries) {
            Eigen::MatrixXd A = JtJ;
            A.diagonal() += lambda * JtJ.diagonal().cwiseMax(1e-12);
            const Eigen::VectorXd step = A.ldlt().solve(-g);
            Eigen::VectorXd next = theta + step;
            bound(next);
            const Eigen::VectorXd rn = predict_log(next) - y;
            const double cn = rn.squaredNorm();
            if (std::isfinite(cn) && cn < cost) {
                const double gain = (cost - cn) / cost;
                theta = next;
                r = rn;
                cost = cn;
                lambda = std::max(1e-9, lambda / 3);
                improved = true;
                if (gain < 1e-12) it = 1000;  // converged
            } else {
                lambda *= 4;
            }
        }
        if (!improved) break;
    }
    return r;
}

// fit_log_time's robust form: theta minimising the sum of rho(r) = 2 (sqrt(r^2 + d^2) - d), r the log residuals
// (pseudo-Huber: r^2 / d where |r| << d, 2 |r| where |r| >> d; d = ROBUST_SCALE, 1%). Its optimum tracks the median
// |error| where the squares' tracks the mean, so a few shapes the model misses do not pull every other one off
// (nnls.hpp's nonnegative_least_absolute minimises the same sum). Levenberg-Marquardt on the residuals
// sign(r) sqrt(rho(r)); returns the plain log residuals at the fit.
Eigen::VectorXd fit_log_time_robust(const LogModel& predict_log, const Eigen::VectorXd& y, Eigen::VectorXd& theta,
                                    const std::function<void(Eigen::VectorXd&)>& bound) {
    const LogModel root_rho = [&](const Eigen::VectorXd& t) {
        Eigen::VectorXd r = predict_log(t) - y;
        for (Eigen::Index i = 0; i < r.size(); ++i) {
            // 2 (sqrt(r^2 + d^2) - d) written without the cancellation: 2 r^2 / (sqrt(r^2 + d^2) + d)
            const double rho = 2.0 * r[i] * r[i] / (std::hypot(r[i], ROBUST_SCALE) + ROBUST_SCALE);
            r[i] = std::copysign(std::sqrt(rho), r[i]);
        }
        return r;
    };
    fit_log_time(root_rho, Eigen::VectorXd::Zero(y.size()), theta, bound);
    return predict_log(theta) - y;
}

void fit_quality(const Eigen::VectorXd& r, int64_t left_out, FitQuality* quality) {
    if (!quality) return;
    std::vector<double> err;
    err.reserve(static_cast<size_t>(r.size()));
    for (Eigen::Index i = 0; i < r.size(); ++i) err.push_back(std::fabs(std::exp(r[i]) - 1.0));
    quality->points = static_cast<int64_t>(r.size());
    quality->l2_warm_left_out = left_out;
    quality->median_abs_rel_error = exact_percentile(err, 50);
    quality->p90_abs_rel_error = exact_percentile(err, 90);
}

}  // namespace

GemmCalibration fit_gemm(const GpuProfile& gpu, Dtype dtype, const std::vector<GemmSample>& all, FitQuality* quality) {
    std::vector<GemmSample> samples;
    samples.reserve(all.size());
    for (const GemmSample& s : all) {
        if (!s.l2_warm) samples.push_back(s);
    }
    if (samples.size() < 8) {
        throw HardwareError("", "", fmt::format("need at least 8 GEMM measurements to fit, got {}{}", samples.size(),
                                                samples.size() < all.size() ? fmt::format(" (and {} timed L2-warm)", all.size() - samples.size()) : ""));
    }
    const auto n = static_cast<Eigen::Index>(samples.size());
    Eigen::VectorXd y(n);
    double t_min = 1e300;
    for (Eigen::Index i = 0; i < n; ++i) {
        y[i] = std::log(samples[static_cast<size_t>(i)].time_s);
        t_min = std::min(t_min, samples[static_cast<size_t>(i)].time_s);
    }
    // fp8 adds the per-element activation and output terms (calibration.hpp), started at one byte each, the row
    // term and the tile-wave exponent (started at 0.5).
    const bool fp8 = dtype == Dtype::FP8;
    const Eigen::Index P = fp8 ? 9 : 5;
    Eigen::VectorXd theta(P);
    // the k term starts where a 1,000-deep walk costs a tenth of the fastest measurement
    theta.head(5) << std::log(0.5 * t_min), std::log(0.7), std::log(0.8), std::log(2.5), std::log(1e-4 * t_min);
    if (fp8) theta.tail(4) << 0.0, 0.0, std::log(1e-3 * t_min), std::log(0.5);  // a row: a thousandth of the fastest GEMM
    const Eigen::VectorXd r = fit_log_time_robust(
        [&](const Eigen::VectorXd& t) { return predict_log(gpu, dtype, samples, t); }, y, theta, [P](Eigen::VectorXd& next) {
            next[3] = std::clamp(next[3], std::log(0.6), std::log(60.0));  // p within reason
            // a k term under 1e-16 s per element (under 0.1 ns for a million-deep GEMM) is nothing, and so is a
            // per-element term below 1e-6 bytes: keep them from running off to log(0)
            next[4] = std::max(next[4], std::log(1e-16));
            for (Eigen::Index j = 5; j < std::min<Eigen::Index>(P, 7); ++j) next[j] = std::max(next[j], std::log(1e-6));
            if (P > 7) next[7] = std::max(next[7], std::log(1e-16));  // under 0.1 fs a row: nothing
            // a wave exponent within [1e-6, 1] (calibration.hpp: above 1 an idle tile slot would cost more than a busy one)
            if (P > 8) next[8] = std::clamp(next[8], std::log(1e-6), 0.0);
        });
    fit_quality(r, static_cast<int64_t>(all.size() - samples.size()), quality);
    return from_theta(theta);
}

AttentionWork attention_sample_work(const AttentionSample& s, double query_tile) {
    // as the cost model counts a GQA layer's attention (cost_model.cpp): bf16 K and V of every KV head
    AttentionShape shape{s.heads, s.kv_heads, 4.0 * s.heads * s.head_dim, 2.0 * s.kv_heads * s.head_dim * 2.0,
                         s.heads * s.head_dim, s.heads * s.head_dim, 0, false};
    shape.query_tile = query_tile;
    AttentionWork decode, prefill;
    // a decode at `length` keys has length - 1 keys cached before it (keys_seen: context + 1)
    const SequenceWork one = s.decode ? SequenceWork{1, std::max<int64_t>(0, static_cast<int64_t>(s.length) - 1)}
                                      : SequenceWork{static_cast<int64_t>(s.length), 0};
    add_attention_work(shape, one, decode, prefill);
    AttentionWork w = s.decode ? decode : prefill;
    w.flops *= s.batch;
    w.bytes *= s.batch;
    w.scores *= s.batch;
    w.items *= s.batch;
    w.sequences *= s.batch;
    return w;
}

double attention_sample_time_s(const GpuProfile& gpu, const AttentionSample& s, const AttentionCalibration& prefill,
                               const AttentionCalibration& decode) {
    const AttentionWork w = attention_sample_work(s, flash_attention_query_tile(gpu));
    return s.decode ? calibrated_decode_attention_s(gpu, decode, prefill, w) : calibrated_prefill_attention_s(gpu, prefill, w);
}

namespace {

// The samples of one kind (decodes or prefills), the cold ones only, at least 8.
std::vector<AttentionSample> attention_fit_samples(const std::vector<AttentionSample>& all, bool decode) {
    std::vector<AttentionSample> out;
    int64_t warm = 0;
    for (const AttentionSample& s : all) {
        if (s.decode != decode) continue;
        if (s.l2_warm) {
            ++warm;
        } else {
            out.push_back(s);
        }
    }
    if (out.size() < 8) {
        throw HardwareError("", "", fmt::format("need at least 8 {} attention measurements to fit, got {}{}",
                                                decode ? "decode" : "prefill", out.size(),
                                                warm > 0 ? fmt::format(" (and {} timed L2-warm)", warm) : ""));
    }
    return out;
}

// theta = log(launch, compute efficiency, memory efficiency, p, score FLOPs, wave exponent, item time) for
// prefill, log(launch, memory efficiency, p, item time, unsplit rate, repack time, combine time) for decode
AttentionCalibration attention_from_theta(const Eigen::VectorXd& t, bool decode) {
    AttentionCalibration c;
    c.launch_s = std::exp(t[0]);
    if (decode) {
        c.memory_efficiency = std::exp(t[1]);
        c.blend_exponent = std::exp(t[2]);
        c.item_s = std::exp(t[3]);
        c.unsplit_bytes_per_s = std::exp(t[4]);
        c.repack_s = std::exp(t[5]);
        c.combine_s = std::exp(t[6]);
    } else {
        c.compute_efficiency = std::exp(t[1]);
        c.memory_efficiency = std::exp(t[2]);
        c.blend_exponent = std::exp(t[3]);
        c.score_flops = std::exp(t[4]);
        c.wave_exponent = std::exp(t[5]);
        c.item_s = std::exp(t[6]);
    }
    return c;
}

// One attention family's fit: the launch started at most of the fastest call, the other parameters at `start`,
// each call timed by time_s(calibration, work).
template <class TimeS, class Bound>
AttentionCalibration fit_attention(const GpuProfile& gpu, const std::vector<AttentionSample>& all,
                                   bool decode, std::initializer_list<double> start,
                                   TimeS time_s, Bound bound, FitQuality* quality) {
    const std::vector<AttentionSample> s = attention_fit_samples(all, decode);
    std::vector<AttentionWork> work;
    Eigen::VectorXd y(static_cast<Eigen::Index>(s.size()));
    double t_min = 1e300;
    for (size_t i = 0; i < s.size(); ++i) {
        work.push_back(attention_sample_work(s[i], flash_attention_query_tile(gpu)));
        y[static_cast<Eigen::Index>(i)] = std::log(s[i].time_s);
        t_min = std::min(t_min, s[i].time_s);
    }
    Eigen::VectorXd theta(static_cast<Eigen::Index>(start.size() + 1));
    theta[0] = std::log(0.8 * t_min);
    Eigen::Index j = 1;
    for (double v : start) theta[j++] = std::log(v);
    auto predict = [&](const Eigen::VectorXd& t) {
        const AttentionCalibration c = attention_from_theta(t, decode);
        Eigen::VectorXd out(static_cast<Eigen::Index>(work.size()));
        for (size_t i = 0; i < work.size(); ++i) out[static_cast<Eigen::Index>(i)] = std::log(time_s(c, work[i]));
        return out;
    };
    const Eigen::VectorXd r = fit_log_time_robust(predict, y, theta, bound);
    const auto warm = std::count_if(all.begin(), all.end(), [decode](const AttentionSample& x) { return x.decode == decode && x.l2_warm; });
    fit_quality(r, static_cast<int64_t>(warm), quality);
    return attention_from_theta(theta, decode);
}

}  // namespace

AttentionCalibration fit_prefill_attention(const GpuProfile& gpu, const std::vector<AttentionSample>& all,
                                           FitQuality* quality) {
    // 0.5 of the peak and of HBM, p = 2.5, 100 FLOP-equivalents per score, a wave exponent of 0.5, 10 ns per
    // tile
    AttentionCalibration c = fit_attention(
        gpu, all, false, {0.5, 0.5, 2.5, 100.0, 0.5, 1e-8},
        [&](const AttentionCalibration& c, const AttentionWork& w) { return calibrated_prefill_attention_s(gpu, c, w); },
        [](Eigen::VectorXd& next) {
            next[3] = std::clamp(next[3], std::log(0.6), std::log(60.0));  // p within reason
            next[4] = std::clamp(next[4], std::log(1e-3), std::log(1e5));   // the YAML's range
            // causal tiles are not equal (the last sees every key), so an idle slot may cost more than u says: up to 2
            next[5] = std::clamp(next[5], std::log(1e-6), std::log(2.0));
            next[1] = std::min(next[1], std::log(2.0));
            next[2] = std::min(next[2], std::log(1.5));
            next[6] = std::clamp(next[6], std::log(1e-15), std::log(1e-4));
        },
        quality);
    if (c.item_s < 1e-12) c.item_s = 0;  // under 1 ps a tile: nothing
    return c;
}

AttentionCalibration fit_decode_attention(const GpuProfile& gpu, const std::vector<AttentionSample>& all,
                                          const AttentionCalibration& prefill, FitQuality* quality) {
    // 0.8 of HBM, p = 2.5, 10 ns per (sequence, KV head), 20 GB/s a block, 3 us per repack and per combine
    AttentionCalibration c = fit_attention(
        gpu, all, true, {0.8, 2.5, 1e-8, 20e9, 3e-6, 3e-6},
        [&](const AttentionCalibration& c, const AttentionWork& w) { return calibrated_decode_attention_s(gpu, c, prefill, w); },
        [](Eigen::VectorXd& next) {
            next[2] = std::clamp(next[2], std::log(0.6), std::log(60.0));
            next[1] = std::min(next[1], std::log(1.5));
            next[3] = std::clamp(next[3], std::log(1e-15), std::log(1e-4));
            next[4] = std::clamp(next[4], std::log(1e8), std::log(1e15));   // 0.1 GB/s to beyond any HBM
            next[5] = std::clamp(next[5], std::log(1e-13), std::log(1e-3));  // nothing to 1 ms
            next[6] = std::clamp(next[6], std::log(1e-13), std::log(1e-3));
        },
        quality);
    // A kernel term no measured call has is not fitted (it kept its start): none. Under 1 ns: nothing.
    bool unsplit = false, repack = false, split = false;
    for (const AttentionSample& s : attention_fit_samples(all, true)) {
        const DecodeDispatch d = decode_dispatch(gpu, attention_sample_work(s));
        unsplit |= d.unsplit;
        repack |= d.repack;
        split |= d.split;
    }
    if (!unsplit) c.unsplit_bytes_per_s = 0;
    if (!repack || c.repack_s < 1e-9) c.repack_s = 0;
    if (!split || c.combine_s < 1e-9) c.combine_s = 0;
    return c;
}

std::vector<AttentionSample> attention_samples(const KernelTables& t, double l2_bytes, double hbm_bytes_per_s) {
    std::vector<AttentionSample> out;
    for (const bool decode : {false, true}) {
        for (const GridTable* g : t.find(decode ? "decode_attention" : "prefill_attention", {{"kv_dtype", "bf16"}, {"window", "0"}})) {
            if (g->axes.size() != 2) continue;
            const double heads = static_cast<double>(g->attr_int("heads")), kv = static_cast<double>(g->attr_int("kv_heads"));
            const double dim = static_cast<double>(g->attr_int("head_dim"));
            if (!(heads > 0 && kv > 0 && dim > 0)) continue;
            for (size_t a = 0; a < g->axes[0].size(); ++a) {
                for (size_t b = 0; b < g->axes[1].size(); ++b) {
                    const double v = g->value_ms({a, b});
                    // a one-token prompt is a decode to the cost model (SequenceWork::is_decode), priced by the
                    // decode fit
                    if (!(v > 0) || (!decode && g->axes[1][b] < 2)) continue;
                    AttentionSample x{decode, g->axes[0][a], g->axes[1][b], heads, kv, dim, v * 1e-3, false};
                    // A decode's keys and values, read over and over by the benchmark, stay in L2 where they fit;
                    // where streaming them from HBM at its peak would take under 5% of the call, the L2 cannot
                    // have saved more than that, and the point stays (it is what fixes the launch term).
                    const double kv_bytes = x.batch * x.length * kv * dim * 4.0;
                    x.l2_warm = decode && l2_bytes > 0 && kv_bytes <= l2_bytes &&
                                !(hbm_bytes_per_s > 0 && kv_bytes / hbm_bytes_per_s < 0.05 * x.time_s);
                    out.push_back(x);
                }
            }
        }
    }
    return out;
}

namespace {
// whether an MLA table was timed with vLLM's Triton MLA backend ("TRITON_MLA", "vllm_triton_mla"; a table of
// several backends counts when Triton's is among them)
bool triton_mla(const GridTable& g) {
    std::string k = g.attr("kernel");
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return k.find("triton") != std::string::npos;
}

// An MLA table's sample shape: phase, heads per GPU, the model's dimensions, the latent's dtype and the backend;
// false where an attribute is missing or not positive (q_lora may be 0: no q LoRA)
bool mla_sample_shape(const GridTable& g, bool decode, MlaSample& x) {
    if (g.axes.size() != 2) return false;
    x.decode = decode;
    x.heads = g.attr_int("heads"), x.hidden = g.attr_int("hidden"), x.q_lora = g.attr_int("q_lora");
    x.kv_lora = g.attr_int("kv_lora"), x.nope = g.attr_int("nope"), x.rope = g.attr_int("rope");
    x.v = g.attr_int("v");
    const std::string kv = g.attr("kv_dtype");
    if (kv != "bf16" && kv != "fp8") return false;
    x.kv = kv == "bf16" ? Dtype::BF16 : Dtype::FP8;
    x.triton = triton_mla(g);
    return x.heads > 0 && x.hidden > 0 && x.q_lora >= 0 && x.kv_lora > 0 && x.nope > 0 && x.rope > 0 && x.v > 0;
}

// mla_samples' L2 rule: timed with `bytes` in an L2 of `l2_bytes` (0: none is) where streaming `streamed` of them
// from HBM would take 5% of the point's time or more
bool mla_l2_warm(double bytes, double streamed, double time_s, double l2_bytes, double hbm_bytes_per_s) {
    return l2_bytes > 0 && bytes <= l2_bytes && !(hbm_bytes_per_s > 0 && streamed / hbm_bytes_per_s < 0.05 * time_s);
}
}  // namespace

std::vector<MlaSample> mla_samples(const KernelTables& t, double l2_bytes, double hbm_bytes_per_s) {
    std::vector<MlaSample> out;
    const MlaChainCost* chain = mla_chain_cost(t);
    for (const bool decode : {false, true}) {
        for (const GridTable* g : t.find(decode ? "mla_decode" : "mla_prefill")) {
            MlaSample x;
            if (!mla_sample_shape(*g, decode, x)) continue;
            const std::string w = g->attr("dtype");
            if (w != "bf16" && w != "fp8_block") continue;
            // block-scaled fp8 projections: DeepSeek-V3's own format (FP8 on its card keeps it)
            x.weights = w == "bf16" ? Dtype::BF16 : Dtype::FP8;
            for (size_t a = 0; a < g->axes[0].size(); ++a) {
                for (size_t b = 0; b < g->axes[1].size(); ++b) {
                    const double v = g->value_ms({a, b});
                    // a one-token prompt is a decode to the cost model, as in attention_samples
                    if (!(v > 0) || (!decode && g->axes[1][b] < 2)) continue;
                    x.batch = g->axes[0][a], x.length = g->axes[1][b], x.time_s = v * 1e-3;
                    const double tokens = decode ? x.batch : x.batch * x.length;
                    if (chain) {
                        x.time_s -= chain->seconds(decode, tokens, static_cast<double>(x.heads));
                        if (!(x.time_s > 0)) continue;
                    }
                    // the block's weights: q and KV down-projections, q and kv_b up-projections, o_proj
                    const double h = static_cast<double>(x.heads);
                    const double weights =
                        (x.weights == Dtype::BF16 ? 2.0 : 1.0) *
                        (static_cast<double>(x.hidden *
                                             (std::max<int64_t>(x.q_lora, 0) + x.kv_lora + x.rope)) +
                         h * static_cast<double>((x.nope + x.rope) * (x.q_lora > 0 ? x.q_lora : x.hidden) +
                                                 (x.nope + x.v) * x.kv_lora + x.v * x.hidden));
                    const double kv = (x.kv == Dtype::BF16 ? 2.0 : 1.0) * x.batch * x.length *
                                      static_cast<double>(x.kv_lora + x.rope);
                    const double activations =
                        4.0 * tokens * static_cast<double>(x.hidden);  // in and out, bf16
                    x.l2_warm = mla_l2_warm(weights + kv + activations, weights + kv, x.time_s, l2_bytes, hbm_bytes_per_s);
                    out.push_back(x);
                }
            }
        }
    }
    return out;
}

std::vector<MlaSample> mla_attention_samples(const KernelTables& t, double l2_bytes, double hbm_bytes_per_s) {
    std::vector<MlaSample> out;
    for (const bool decode : {false, true}) {
        for (const GridTable* g : t.find(decode ? "mla_attention_decode" : "mla_attention_prefill")) {
            MlaSample x;
            if (!mla_sample_shape(*g, decode, x) || g->attr("dtype") != "bf16") continue;
            x.attention_only = true;
            const double floor_s = g->least_s();
            const size_t nl = g->axes[1].size();
            for (size_t a = 0; a < g->axes[0].size(); ++a) {
                for (size_t b = 0; b < nl; ++b) {
                    const double v = g->value_ms({a, b}) * 1e-3;
                    if (!(v > 0) || v < 4.0 * floor_s || (!decode && g->axes[1][b] < 2)) continue;
                    if (b + 1 < nl) {
                        const double next = g->value_ms({a, b + 1}) * 1e-3;
                        if (next > 0 && v > 1.2 * next) continue;
                    }
                    x.batch = g->axes[0][a], x.length = g->axes[1][b], x.time_s = v;
                    const double h = static_cast<double>(x.heads);
                    // kv_b's weight (a prefill) or W_UK and W_UV (a decode): the same heads x (nope + v) x kv_lora
                    const double weights = 2.0 * h * static_cast<double>((x.nope + x.v) * x.kv_lora);
                    const double kv = (x.kv == Dtype::BF16 ? 2.0 : 1.0) * x.batch * x.length *
                                      static_cast<double>(x.kv_lora + x.rope);
                    x.l2_warm = mla_l2_warm(weights + kv, weights + kv, x.time_s, l2_bytes, hbm_bytes_per_s);
                    out.push_back(x);
                }
            }
        }
    }
    return out;
}

MlaParts mla_sample_parts(const GpuProfile& gpu, const Calibration& cal, const MlaSample& s) {
    // DeepSeek-V3's card at the table's dimensions, its heads those of one GPU (TP 1: the down-projections
    // are whole on every rank anyway)
    static const ModelCard base = load_model("deepseek-ai/DeepSeek-V3");
    ModelCard m = base;
    m.hidden_size = s.hidden, m.q_lora_rank = s.q_lora, m.kv_lora_rank = s.kv_lora;
    m.qk_nope_head_dim = s.nope, m.qk_rope_head_dim = s.rope, m.v_head_dim = s.v;
    m.num_attention_heads = s.heads;
    m.num_kv_heads = s.heads;
    CostConfig c;
    c.weight_dtype = s.weights;
    c.kv_dtype = s.kv;
    auto without_mla = std::make_shared<Calibration>(cal);
    without_mla->mla_prefill = without_mla->mla_decode = MlaCalibration{};
    c.calibration = without_mla;
    const CostModel cm(m, gpu, c);
    const auto b = static_cast<size_t>(s.batch);
    const auto x = static_cast<int64_t>(s.length);
    const std::vector<SequenceWork> batch(
        b, s.decode ? SequenceWork{1, std::max<int64_t>(0, x - 1)} : SequenceWork{x, 0});
    MlaParts p;
    for (const OpCost& o : cm.step(batch).ops) {
        const double per_layer = o.time_s / static_cast<double>(o.count);
        if (!s.attention_only && (o.kind == OpKind::QKV_PROJ || o.kind == OpKind::ROPE || o.kind == OpKind::O_PROJ))
            p.projections_s += per_layer;
        if (o.kind == OpKind::ATTENTION) p.attention_s += per_layer;
    }
    if (s.attention_only) {
        // the GEMMs of the cost model's QKV_PROJ that the attention implementation runs (bf16 whatever the
        // checkpoint: the latent's up-projection is bf16 in the tables, the absorbed products always)
        const GemmCalibration* g = cal.gemm.present() ? &cal.gemm : nullptr;
        const double blend = g ? cal.gemm.blend_exponent : 2.5;
        const double h = static_cast<double>(s.heads), lora = static_cast<double>(s.kv_lora);
        if (s.decode) {
            p.projections_s = gemm_time_s(gpu, Dtype::BF16, s.batch, h * lora, static_cast<double>(s.nope), g, blend) +
                              gemm_time_s(gpu, Dtype::BF16, s.batch, h * static_cast<double>(s.v), lora, g, blend);
        } else {
            p.projections_s =
                gemm_time_s(gpu, Dtype::BF16, s.batch * s.length, h * static_cast<double>(s.nope + s.v), lora, g, blend);
        }
    }
    p.tokens = s.decode ? s.batch : s.batch * s.length;
    p.heads = static_cast<double>(s.heads);
    p.spill_s = mla_activation_spill_s(
        gpu, p.tokens,
        mla_activation_bytes(static_cast<double>(s.hidden), p.heads, static_cast<double>(s.nope),
                             static_cast<double>(s.rope), static_cast<double>(s.v)));
    if (s.decode) {  // the latent the decodes read, as the cost model counts it (add_attention_work)
        AttentionShape a;
        a.heads = p.heads, a.kv_heads = 1.0, a.latent = true;
        a.kv_token_bytes = m.kv_token_bytes(0, s.kv) - static_cast<double>(m.kv_fixed_bytes_per_token(0));
        AttentionWork dc, pf;
        for (const SequenceWork& q : batch) add_attention_work(a, q, dc, pf);
        if (cal.decode_attention.present())
            p.latent_read_s = dc.kv_read_bytes / (gpu.memory_bandwidth_bytes_per_s() * cal.decode_attention.memory_efficiency);
        p.longest_bytes = dc.longest_item_bytes;
    }
    p.fp8_kv = s.kv == Dtype::FP8;
    p.block_fp8 = s.weights == Dtype::FP8;
    return p;
}

double mla_block_time_s(const MlaCalibration& f, const MlaParts& p) {
    return p.projections_s + f.scale(p.fp8_kv) * p.attention_s + f.fixed_s(p.fp8_kv, p.block_fp8) +
           f.per_token_s(p.heads, p.block_fp8) * p.tokens +
           f.triton_decode_s(p.heads, p.latent_read_s, p.longest_bytes) + f.activation_spill * p.spill_s;
}

MlaCalibration fit_mla(const std::vector<MlaSample>& samples, const std::vector<MlaParts>& parts, bool decode,
                       FitQuality* quality) {
    std::vector<size_t> idx;
    bool any_fp8_kv = false, any_block_fp8 = false, triton = false, all_attention_only = true;
    int64_t warm = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
        if (samples[i].decode != decode) continue;
        if (samples[i].l2_warm) {
            ++warm;
            continue;
        }
        if (samples[i].triton_ungrouped()) continue;
        idx.push_back(i);
        any_fp8_kv = any_fp8_kv || parts[i].fp8_kv;
        any_block_fp8 = any_block_fp8 || parts[i].block_fp8;
        triton = triton || (decode && samples[i].triton);
        all_attention_only = all_attention_only && samples[i].attention_only;
    }
    if (idx.size() < 8)
        throw HardwareError("", decode ? "mla_decode" : "mla_prefill", "fewer than 8 measurements to fit");
    // The columns (MlaCalibration's terms) and the value each is held at when it is not fitted: the attention
    // at 16-bit KV (one scale for all where no sample has 8-bit KV), at 8-bit KV, the block, tokens, tokens x
    // heads, 8-bit KV's block, block fp8's block, tokens and tokens x heads, Triton's decode terms, and a
    // prefill's activations past the L2.
    constexpr int N = 12;
    auto column = [&](const MlaParts& p, int j) -> double {
        const double f8 = p.block_fp8 ? 1.0 : 0.0;
        switch (j) {
            case 9: {
                MlaCalibration reread;  // one more latent read per further 16-head block
                reread.head_block_reread = 1.0;
                return reread.triton_decode_s(p.heads, p.latent_read_s, p.longest_bytes);
            }
            case 10:
                return p.longest_bytes;
            case 11:
                return p.spill_s;
            case 0:
                return any_fp8_kv && p.fp8_kv ? 0.0 : p.attention_s;
            case 1:
                return p.fp8_kv ? p.attention_s : 0.0;
            case 2:
                return 1.0;
            case 3:
                return p.tokens;
            case 4:
                return p.tokens * p.heads;
            case 5:
                return p.fp8_kv ? 1.0 : 0.0;
            case 6:
                return f8;
            case 7:
                return f8 * p.tokens;
            default:
                return f8 * p.tokens * p.heads;
        }
    };
    std::array<bool, N> free;
    free.fill(true);
    if (!any_fp8_kv) free[1] = free[5] = false;
    if (!any_block_fp8) free[6] = free[7] = free[8] = false;
    if (!triton) free[9] = free[10] = false;
    if (all_attention_only) free[2] = false;
    // the activations past the L2: a whole block's prefills only (an attention implementation's samples read
    // no hidden-sized activation; decodes' tokens stay far below any L2)
    if (decode || all_attention_only) free[11] = false;
    const std::array<double, N> held = {1.0, 1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    std::vector<int> cols;  // the terms fitted
    for (int j = 0; j < N; ++j) {
        if (free[static_cast<size_t>(j)]) cols.push_back(j);
    }
    // rows weighted by 1 / measured (relative error); held terms moved to the right-hand side; no term below 0
    const auto n = static_cast<Eigen::Index>(idx.size());
    Eigen::MatrixXd X(n, static_cast<Eigen::Index>(cols.size()));
    Eigen::VectorXd y(n);
    for (Eigen::Index r = 0; r < n; ++r) {
        const size_t i = idx[static_cast<size_t>(r)];
        const double w = 1.0 / samples[i].time_s;
        double rest = samples[i].time_s - parts[i].projections_s;
        for (int j = 0; j < N; ++j) {
            if (!free[static_cast<size_t>(j)]) rest -= held[static_cast<size_t>(j)] * column(parts[i], j);
        }
        for (size_t c = 0; c < cols.size(); ++c) X(r, static_cast<Eigen::Index>(c)) = column(parts[i], cols[c]) * w;
        y[r] = rest * w;
    }
    const Eigen::VectorXd fitted = nonnegative_least_absolute(X, y);
    Eigen::VectorXd coef = Eigen::VectorXd::Zero(N);
    for (size_t c = 0; c < cols.size(); ++c) coef[cols[c]] = fitted[static_cast<Eigen::Index>(c)];
    auto value = [&](int j) { return free[static_cast<size_t>(j)] ? coef[j] : held[static_cast<size_t>(j)]; };
    MlaCalibration f;
    f.attention_scale = value(0);
    f.fp8_kv_attention_scale = any_fp8_kv ? value(1) : f.attention_scale;
    f.block_s = value(2);
    f.token_s = value(3);
    f.token_head_s = value(4);
    f.fp8_kv_block_s = any_fp8_kv ? value(5) : 0.0;
    f.block_fp8_block_s = any_block_fp8 ? value(6) : 0.0;
    f.block_fp8_token_s = any_block_fp8 ? value(7) : 0.0;
    f.block_fp8_token_head_s = any_block_fp8 ? value(8) : 0.0;
    f.head_block_reread = triton ? value(9) : 0.0;
    f.longest_s_per_byte = triton ? value(10) : 0.0;
    f.activation_spill = value(11);
    Eigen::VectorXd r(n);  // log residuals, as fit_quality takes them
    for (Eigen::Index j = 0; j < n; ++j) {
        const size_t i = idx[static_cast<size_t>(j)];
        r[j] = std::log(mla_block_time_s(f, parts[i]) / samples[i].time_s);
    }
    fit_quality(r, warm, quality);
    return f;
}

namespace {

// t = a + b x bytes over `v`, weighted by 1/t so that errors are relative (small messages count as much as
// large); none (a zero bandwidth) where the slope comes out negative or zero
CommLine fit_comm_line(const std::vector<const CommSample*>& v) {
    Eigen::MatrixXd A(static_cast<Eigen::Index>(v.size()), 2);
    Eigen::VectorXd y(static_cast<Eigen::Index>(v.size()));
    for (size_t i = 0; i < v.size(); ++i) {
        const double w = 1.0 / v[i]->time_s;
        A(static_cast<Eigen::Index>(i), 0) = w;
        A(static_cast<Eigen::Index>(i), 1) = v[i]->bytes * w;
        y[static_cast<Eigen::Index>(i)] = 1.0;
    }
    const Eigen::Vector2d x = A.colPivHouseholderQr().solve(y);
    if (x[1] <= 0) return {};
    return {std::max(0.0, x[0]), 1.0 / x[1]};
}

}  // namespace

std::map<int64_t, CommCalibration> fit_allreduce(const std::vector<CommSample>& samples,
                                                 const GpuProfile& gpu) {
    std::map<int64_t, std::vector<const CommSample*>> by;
    for (const CommSample& s : samples) by[s.gpus].push_back(&s);
    std::map<int64_t, CommCalibration> out;
    for (const auto& [gpus, v] : by) {
        if (v.size() < 3) continue;
        const CommLine all = fit_comm_line(v);
        if (!all.present()) continue;
        CommCalibration& a = out[gpus];
        static_cast<CommLine&>(a) = all;
        // where every sample is a vLLM row: a line for each path vLLM takes, on its messages (3 or more)
        if (!std::all_of(v.begin(), v.end(), [](const CommSample* s) { return s->vllm; })) continue;
        const VllmAllreduce paths = vllm_allreduce(gpu.compute_capability.value, gpus, gpu.has_nvlink());
        std::array<std::vector<const CommSample*>, 3> on;
        for (const CommSample* s : v) on[static_cast<size_t>(paths.path(s->bytes))].push_back(s);
        for (size_t p = 0; p < on.size(); ++p) {
            if (on[p].size() >= 3) a.paths[p] = fit_comm_line(on[p]);
        }
    }
    return out;
}

std::vector<GemmSample> gemm_samples(const KernelTables& t, Dtype dtype, double l2_bytes) {
    const std::string d = dtype == Dtype::FP8 ? "fp8" : "bf16";
    std::vector<GemmSample> out;
    for (const GridTable* g : t.find("gemm", {{"dtype", d}})) {
        if (g->axes.size() != 3) continue;
        for (size_t a = 0; a < g->axes[0].size(); ++a) {
            for (size_t b = 0; b < g->axes[1].size(); ++b) {
                for (size_t c = 0; c < g->axes[2].size(); ++c) {
                    const double v = g->value_ms({a, b, c});
                    if (!(v > 0)) continue;
                    const double m = g->axes[0][a], n = g->axes[1][b], k = g->axes[2][c];
                    out.push_back({m, n, k, v * 1e-3, g->gemm_working_set_bytes(m, n, k) <= l2_bytes});
                }
            }
        }
    }
    return out;
}

std::vector<CommSample> allreduce_samples(const KernelTables& t) {
    std::vector<CommSample> out;
    for (const GridTable* g : t.find("vllm_allreduce", {{"mode", "graph"}})) {
        const int64_t gpus = g->attr_int("gpus");
        for (size_t i = 0; i < g->axes[0].size(); ++i) {
            const double v = g->values_ms[i];
            if (v > 0 && gpus >= 2)
                out.push_back({gpus, g->axes[0][i] * g->message_bytes_per_unit(), v * 1e-3, true});
        }
    }
    return out;
}

std::vector<CommSample> nccl_allreduce_samples(const KernelTables& t, const std::set<int64_t>& except) {
    std::vector<CommSample> out;
    for (const GridTable* g : t.find("nccl", {{"op", "all_reduce"}, {"dtype", "fp16"}})) {
        const int64_t gpus = g->attr_int("gpus");
        if (gpus < 2 || except.count(gpus)) continue;
        for (size_t i = 0; i < g->axes[0].size(); ++i) {
            const double v = g->values_ms[i];
            if (v > 0) out.push_back({gpus, g->axes[0][i] * g->message_bytes_per_unit(), v * 1e-3});
        }
    }
    return out;
}

void read_calibration_csv(const std::string& path, std::vector<GemmSample>& gemms, std::vector<CommSample>& comms,
                          std::vector<GemmSample>* fp8_gemms) {
    std::ifstream in(path);
    if (!in) throw HardwareError(path, "", "cannot open file");
    std::string line;
    if (!std::getline(in, line)) throw HardwareError(path, "", "empty file");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string> want = {"op", "m", "n", "k", "bytes", "gpus", "latency_ms"};
    std::vector<std::string> cols;
    {
        std::stringstream ss(line);
        for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
    }
    if (cols != want) throw HardwareError(path, "line 1", "the header must be op,m,n,k,bytes,gpus,latency_ms");
    int64_t line_no = 1;
    while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::vector<std::string> f;
        std::stringstream ss(line);
        for (std::string c; std::getline(ss, c, ',');) f.push_back(c);
        while (f.size() < want.size()) f.emplace_back();
        if (f.size() != want.size()) throw HardwareError(path, "line " + std::to_string(line_no), "expected 7 columns");
        auto num = [&](size_t i) {
            double v = 0;
            try {
                size_t used = 0;
                v = std::stod(f[i], &used);
                if (used != f[i].size()) throw std::invalid_argument("trailing");
            } catch (const std::exception&) {
                throw HardwareError(path, "line " + std::to_string(line_no), fmt::format("{}: expected a number, got \"{}\"", want[i], f[i]));
            }
            if (!std::isfinite(v) || v <= 0 || v > 1e12) {
                throw HardwareError(path, "line " + std::to_string(line_no), fmt::format("{}: must be a positive number, got {}", want[i], f[i]));
            }
            return v;
        };
        if (f[0] == "gemm") {
            gemms.push_back({num(1), num(2), num(3), num(6) * 1e-3});
        } else if (f[0] == "gemm_fp8" && fp8_gemms) {
            fp8_gemms->push_back({num(1), num(2), num(3), num(6) * 1e-3});
        } else if (f[0] == "allreduce") {
            const double g = num(5);
            if (g != std::floor(g) || g < 2) throw HardwareError(path, "line " + std::to_string(line_no), "gpus: must be a whole number >= 2");
            comms.push_back({static_cast<int64_t>(g), num(4), num(6) * 1e-3});
        } else {
            throw HardwareError(path, "line " + std::to_string(line_no), fmt::format("op: expected {}allreduce, got \"{}\"", fp8_gemms ? "gemm, gemm_fp8 or " : "gemm or ", f[0]));
        }
    }
}

std::vector<GemmSample> read_measure_step_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw HardwareError(path, "", "cannot open file");
    std::vector<GemmSample> out;
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto fail = [&](const std::string& why) {
            throw HardwareError(path, "line " + std::to_string(line_no), why);
        };
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception&) {
            fail("not valid JSON (one headroom measure step --json object per line)");
        }
        try {
            if (j.value("schema", "") != "headroom.measure-step/1") fail("schema: expected headroom.measure-step/1");
            const ModelCard m = load_model(j.at("model").get<std::string>());
            const std::string kind = j.at("kind").get<std::string>();
            const int64_t tokens = j.at("tokens").get<int64_t>(), seqs = j.at("sequences").get<int64_t>();
            const int64_t context = j.at("context").get<int64_t>();
            if (tokens < 1 || seqs < 1 || context < 0 || tokens > 10'000'000 || seqs > 1'000'000) fail("tokens, sequences or context out of range");
            std::vector<SequenceWork> batch;
            if (kind == "prefill") batch.push_back({tokens, context});
            else if (kind == "decode") batch.assign(static_cast<size_t>(seqs), SequenceWork{1, context});
            else fail("kind: expected prefill or decode");
            std::map<std::string, double> measured;
            for (const auto& o : j.at("ops")) measured[o.at("name").get<std::string>()] = o.at("measured_s").get<double>();
            struct Shapes : RooflineOpVisitor {
                std::vector<RooflineOp> gemms;
                void visit(const RooflineOp& op) override {
                    if (op.m > 0 && op.n > 0 && op.k > 0) gemms.push_back(op);
                }
            } shapes;
            const GpuProfile any = load_gpu(j.value("gpu", std::string("h100")));  // shapes only: any profile
            CostModel(m, any, CostConfig{}).walk(batch, shapes);
            for (const RooflineOp& op : shapes.gemms) {
                auto it = measured.find(std::string(op_name(op.kind)));
                if (it == measured.end() || !(it->second > 0) || !std::isfinite(it->second)) continue;
                out.push_back({op.m, op.n, op.k, it->second / static_cast<double>(op.count)});
            }
        } catch (const nlohmann::json::exception& e) {
            fail(fmt::format("missing or wrong field ({})", e.what()));
        } catch (const HardwareError&) {
            throw;
        } catch (const std::exception& e) {
            fail(e.what());
        }
    }
    return out;
}

MoeWork moe_sample_work(const MoeSample& s) {
    const double k = static_cast<double>(s.topk), e = static_cast<double>(s.experts);
    MoeWork w = balanced_moe_work(static_cast<double>(s.hidden), static_cast<double>(s.inter), k, e,
                                  static_cast<double>(s.tp), static_cast<double>(s.ep), s.tokens,
                                  s.bytes_per_weight, s.gated);
    // (experts_reached: the memoised Monte Carlo of the generator the cost model reads for power-law routing)
    if (s.alpha > 0.0)
        w.experts_read = experts_reached({MoeRouting::Kind::POWER_LAW, s.alpha}, e, k, s.tokens);
    return w;
}

MoeCalibration fit_moe(const GpuProfile& gpu, const std::string& format,
                       const std::vector<MoeSample>& samples, FitQuality* quality) {
    return fit_moe_pooled(format, {{&gpu, &samples}}, quality);
}

MoeCalibration fit_moe_pooled(const std::string& format, const std::vector<MoeData>& data,
                              FitQuality* quality) {
    std::vector<std::pair<const GpuProfile*, const MoeSample*>> use;
    int64_t warm = 0;
    for (const MoeData& d : data) {
        for (const MoeSample& s : *d.samples) {
            if (s.format != format) continue;
            if (s.l2_warm) {
                ++warm;
            } else if (s.time_s > 0) {
                use.emplace_back(d.gpu, &s);
            }
        }
    }
    if (use.size() < 8) {
        throw HardwareError("", "moe." + format,
                            fmt::format("need at least 8 fused-MoE measurements to fit, got {}", use.size()));
    }
    const auto n = static_cast<Eigen::Index>(use.size());
    Eigen::MatrixXd x(n, MOE_TERMS);
    Eigen::VectorXd y = Eigen::VectorXd::Ones(n);  // each row over its measured time: relative error
    for (Eigen::Index i = 0; i < n; ++i) {
        const auto& [gpu, s] = use[static_cast<size_t>(i)];
        const std::array<double, MOE_TERMS> c = moe_columns(*gpu, format, moe_sample_work(*s));
        for (int j = 0; j < MOE_TERMS; ++j) x(i, j) = c[static_cast<size_t>(j)] / s->time_s;
    }
    // The two later terms (expert_s, waves; calibration.hpp) stay only where they earn their place: leaving each
    // model shape out in turn (all its TP and EP sizes, on every GPU pooled), the fit with them must price the
    // held-out shapes with a median |error| at least 0.1 point lower than the fit without. With fewer than three
    // shapes, or less gain, the five terms stay.
    auto five_terms = [](Eigen::MatrixXd m) {  // the later two columns zeroed (a zero column gets 0: nnls.hpp)
        m.col(5).setZero();
        m.col(6).setZero();
        return m;
    };
    std::map<std::array<int64_t, 4>, int> shapes;
    std::vector<int> shape(use.size());
    for (size_t i = 0; i < use.size(); ++i) {
        const MoeSample& s = *use[i].second;
        const std::array<int64_t, 4> key{s.hidden, s.inter, s.topk, s.experts};
        shape[i] = shapes.emplace(key, static_cast<int>(shapes.size())).first->second;
    }
    bool later = false;
    if (shapes.size() >= 3) {
        std::vector<double> with, without;
        for (int held = 0; held < static_cast<int>(shapes.size()); ++held) {
            std::vector<Eigen::Index> train;
            for (Eigen::Index i = 0; i < n; ++i) {
                if (shape[static_cast<size_t>(i)] != held) train.push_back(i);
            }
            const auto m = static_cast<Eigen::Index>(train.size());
            Eigen::MatrixXd a(m, MOE_TERMS);
            for (Eigen::Index r = 0; r < m; ++r) a.row(r) = x.row(train[static_cast<size_t>(r)]);
            const Eigen::VectorXd ca = nonnegative_least_absolute(a, Eigen::VectorXd::Ones(m));
            const Eigen::VectorXd cb = nonnegative_least_absolute(five_terms(a), Eigen::VectorXd::Ones(m));
            for (Eigen::Index i = 0; i < n; ++i) {
                if (shape[static_cast<size_t>(i)] != held) continue;
                with.push_back(std::fabs(x.row(i).dot(ca) - 1.0));
                without.push_back(std::fabs(x.row(i).dot(cb) - 1.0));
            }
        }
        later = exact_percentile(with, 50) + 1e-3 < exact_percentile(without, 50);
    }
    const Eigen::VectorXd coef = nonnegative_least_absolute(later ? x : five_terms(x), y);
    MoeCalibration f{coef[0], coef[1], coef[2], coef[3], coef[4], coef[5], coef[6]};
    if (quality) {  // x's rows are each point's columns over its time: the fit's relative errors
        std::vector<double> err;
        for (Eigen::Index i = 0; i < n; ++i) err.push_back(std::fabs(x.row(i).dot(coef) - 1.0));
        quality->points = n;
        quality->l2_warm_left_out = warm;
        quality->median_abs_rel_error = exact_percentile(err, 50);
        quality->p90_abs_rel_error = exact_percentile(err, 90);
    }
    return f;
}

namespace {

// The rows of the fused-MoE tables `g` (one token axis) as samples; `alpha`: the routing's power law, 0 if
// balanced.
void add_moe_samples(const GridTable* g, double alpha, double l2_bytes, std::vector<MoeSample>& out) {
    if (g->axes.size() != 1 || kernel_format_bytes(g->attr("dtype")) <= 0.0) return;
    MoeSample x;
    x.format = g->moe_fit_format();
    x.dtype = g->attr("dtype");
    x.hidden = g->attr_int("hidden"), x.inter = g->attr_int("inter"), x.topk = g->attr_int("topk");
    x.experts = g->attr_int("experts"), x.tp = g->attr_int("tp"), x.ep = g->attr_int("ep");
    x.alpha = alpha;
    x.gated = g->moe_gated();
    if (!(x.hidden > 0 && x.inter > 0 && x.topk > 0 && x.experts > 0 && x.tp > 0 && x.ep > 0)) return;
    x.bytes_per_weight = kernel_format_bytes(x.dtype);  // as a model in that format stores them
    for (size_t i = 0; i < g->axes[0].size(); ++i) {
        const double v = g->value_ms({i});
        if (!(v > 0)) continue;
        x.tokens = g->axes[0][i];
        x.time_s = v * 1e-3;
        // the experts it reads: every one the picks reach (balanced: GridTable's count; power law: the
        // generator's)
        const double working = alpha > 0.0 ? moe_sample_work(x).experts_read * g->moe_expert_bytes()
                                           : g->moe_working_set_bytes(x.tokens);
        x.l2_warm = l2_bytes > 0 && working <= l2_bytes;
        out.push_back(x);
    }
}

}  // namespace

std::vector<MoeSample> moe_power_law_samples(const KernelTables& t, double l2_bytes) {
    std::vector<MoeSample> out;
    for (const GridTable* g : t.find("moe", {{"ep", "1"}})) {
        const std::string d = g->attr("distribution");
        if (d.rfind("power_law_", 0) != 0) continue;
        double alpha = 0.0;
        try {
            alpha = std::stod(d.substr(10));
        } catch (const std::exception&) {
            continue;
        }
        if (alpha > 0.0) add_moe_samples(g, alpha, l2_bytes, out);
    }
    return out;
}

std::vector<MoeSample> moe_samples(const KernelTables& t, double l2_bytes) {
    std::vector<MoeSample> out;
    for (const GridTable* g : t.find("moe", {{"distribution", "balanced"}})) add_moe_samples(g, 0.0, l2_bytes, out);
    return out;
}

std::vector<MoeSample> moe_fit_samples(const KernelTables& t, double l2_bytes, bool* power_law) {
    std::vector<MoeSample> out = moe_samples(t, l2_bytes);
    *power_law = out.empty();
    return out.empty() ? moe_power_law_samples(t, l2_bytes) : out;
}

Calibration calibrate(const GpuProfile& gpu, Dtype dtype, const std::vector<GemmSample>& gemms,
                      const std::vector<CommSample>& comms, const std::string& fitted_on,
                      const std::vector<GemmSample>& fp8_gemms, const std::vector<AttentionSample>& attention,
                      const std::vector<MlaSample>& mla, const std::vector<MoeSample>& moe,
                      const CalibrateProgress& progress) {
    auto starting = [&](const std::string& fit, size_t points) {
        if (progress) progress(fit, points);
    };
    Calibration c;
    c.gpu = gpu.name;
    c.fitted_on = fitted_on;
    c.dtype = std::string(dtype_name(dtype));
    starting(fmt::format("{} GEMM", dtype_name(dtype)), gemms.size());
    c.gemm = fit_gemm(gpu, dtype, gemms, &c.gemm_fit);
    if (dtype == Dtype::BF16 && fp8_gemms.size() >= 8) {
        starting("fp8 GEMM", fp8_gemms.size());
        c.gemm_fp8 = fit_gemm(gpu, Dtype::FP8, fp8_gemms, &c.gemm_fp8_fit);
    }
    c.allreduce = fit_allreduce(comms, gpu);
    auto cold = [&](bool decode) {
        return std::count_if(attention.begin(), attention.end(), [decode](const AttentionSample& x) { return x.decode == decode && !x.l2_warm; });
    };
    if (cold(false) >= 8 && cold(true) >= 8) {
        starting("attention", attention.size());
        c.prefill_attention = fit_prefill_attention(gpu, attention, &c.prefill_attention_fit);
        c.decode_attention = fit_decode_attention(gpu, attention, c.prefill_attention, &c.decode_attention_fit);
        const auto phase = [&](bool decode) {
            return std::count_if(mla.begin(), mla.end(),
                                 [decode](const MlaSample& x) { return x.decode == decode; });
        };
        if (phase(false) >= 8 && phase(true) >= 8) {
            // on the GEMM and attention fits just made
            starting("MLA", mla.size());
            std::vector<MlaParts> parts;
            parts.reserve(mla.size());
            for (const MlaSample& s : mla) parts.push_back(mla_sample_parts(gpu, c, s));
            c.mla_prefill = fit_mla(mla, parts, false, &c.mla_prefill_fit);
            c.mla_decode = fit_mla(mla, parts, true, &c.mla_decode_fit);
        }
    }
    std::map<std::string, int64_t> moe_cold;
    for (const MoeSample& s : moe) moe_cold[s.format] += s.l2_warm ? 0 : 1;
    for (const auto& [format, n] : moe_cold) {
        if (n < 8) continue;
        starting("fused MoE, " + format, static_cast<size_t>(n));
        c.moe[format] = fit_moe(gpu, format, moe, &c.moe_fit[format]);
    }
    return c;
}

}  // namespace headroom
