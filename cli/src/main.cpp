// The `headroom` command: parse the command line, call the libraries, print. Every input error becomes one
// line on stderr and exit code 2; nothing is printed on stdout before the inputs are known to be good.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <tuple>

#include "headroom/core/kv_planner.hpp"
#include "headroom/core/speculative.hpp"
#include "headroom/hardware/cluster.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/report/json.hpp"
#include "headroom/sim/capacity.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/platform.hpp"
#include "headroom/sim/scenario.hpp"
#include "headroom/sim/sweep.hpp"
#include "headroom/sim/version.hpp"
#include "measure.hpp"
#include "output.hpp"
#include "sim_output.hpp"
#include "usage_error.hpp"

namespace hc = headroom::cli;
using namespace headroom;
using headroom::cli::UsageError;

namespace {

constexpr int EXIT_BAD_INPUT = 2;


// An output path given with `option` must be writable before any work starts.
void check_writable(const std::string& option, const std::string& path) {
    if (!path.empty() && !can_write(path)) throw UsageError(fmt::format("{}: cannot write {}", option, path));
}

Dtype parse_option_dtype(const std::string& option, const std::string& value) {
    if (auto d = parse_dtype(value)) return *d;
    throw UsageError(fmt::format("{}: unknown dtype \"{}\" (expected one of {})", option, value, dtype_choices()));
}

ModelCard load_model_warn(const std::string& spec) {
    ModelCard m = load_model(spec);
    if (!m.guessed.empty()) {
        std::string list;
        for (const auto& g : m.guessed) list += (list.empty() ? "" : "; ") + g;
        fmt::print(stderr, "warning: {}: guessed: {}\n", m.source, list);
    }
    return m;
}

GpuProfile load_gpu_with_overrides(const std::string& spec, const std::vector<std::string>& sets) {
    GpuProfile g = load_gpu(spec);
    for (const auto& s : sets) apply_gpu_override(g, s, "--gpu-set");
    return g;
}

// --weights-dtype: "auto" (as the checkpoint ships them) or one format for every block matrix.
std::optional<Dtype> parse_weights_option(const std::string& v) {
    if (v == "auto") return std::nullopt;
    return parse_option_dtype("--weights-dtype", v);
}

struct KvOptions {
    std::string model, gpu;
    std::vector<std::string> gpu_set;
    std::string weights_dtype = "auto", kv_dtype = "bf16";
    KvPlanRequest request;
    std::optional<double> reserve_gb;
    bool no_cuda_graphs = false;
    std::string speculative, draft_model;  // a speculative drafter beside the model (its memory)
    bool expert_parallel = false;
    std::string all2all_backend = "allgather_reducescatter";
    bool json = false;
};

// For a plan that does not fit: the first single change that makes it fit, as advice.
std::string fit_hint(const ModelCard& m, const GpuProfile& gpu, const KvPlanRequest& r) {
    auto fits = [&](KvPlanRequest alt) {
        try {
            return plan_kv(m, gpu, alt).fits;
        } catch (const PlanError&) {
            return false;
        }
    };
    std::vector<std::string> hints;
    for (int64_t tp : {2, 4, 8, 16}) {
        if (tp <= r.tp) continue;
        KvPlanRequest alt = r;
        alt.tp = tp;
        if (fits(alt)) {
            hints.push_back(fmt::format("--tp {}", tp));
            break;
        }
    }
    for (Dtype d : {Dtype::FP8, Dtype::INT4}) {
        if (dtype_bytes(d) >= m.weights(r.weight_dtype).attention.bytes_per_weight) continue;
        KvPlanRequest alt = r;
        alt.weight_dtype = d;
        if (fits(alt)) {
            hints.push_back(fmt::format("--weights-dtype {}", dtype_name(d)));
            break;
        }
    }
    if (hints.empty()) return "";
    std::string s;
    for (const auto& h : hints) s += (s.empty() ? "" : " or ") + h;
    return "; it fits with " + s;
}

int run_kv(KvOptions& o) {
    const ModelCard m = load_model_warn(o.model);
    const GpuProfile gpu = load_gpu_with_overrides(o.gpu, o.gpu_set);
    o.request.weight_dtype = parse_weights_option(o.weights_dtype);
    o.request.kv_dtype = parse_option_dtype("--kv-dtype", o.kv_dtype);
    o.request.cuda_graphs = !o.no_cuda_graphs;
    if (o.reserve_gb) {
        if (*o.reserve_gb < 0.0) throw UsageError(fmt::format("--reserve-gb: must be >= 0, got {}", *o.reserve_gb));
        o.request.reserve_bytes = *o.reserve_gb * 1e9;
    }
    if (o.expert_parallel && !m.is_moe()) throw UsageError(fmt::format("--expert-parallel: {} has no experts", m.name));
    if (const std::string why = unknown_all2all_backend(o.all2all_backend); !why.empty()) {
        throw UsageError("--all2all-backend: " + why);
    }
    set_expert_parallel(o.request, m, o.expert_parallel, o.all2all_backend);
    std::string drafter;
    if (!o.speculative.empty()) {
        SpeculativeConfig c;
        c.method = o.speculative;
        c.num_speculative_tokens = 1;  // the drafter's memory does not depend on k
        if (c.method == "draft_model" && !o.draft_model.empty()) {
            c.draft_model = o.draft_model;
            c.draft = load_model(o.draft_model);
        } else if (!o.draft_model.empty()) {
            throw UsageError(fmt::format("--draft-model: only the draft_model method takes one ({} drafts without one)", c.method));
        }
        DrafterMemory dm;
        try {
            dm = drafter_memory(m, c, o.request.tp, o.request.weight_dtype, o.request.kv_dtype);
        } catch (const PlanError& e) {
            throw UsageError((e.field() == "speculative.model" ? "--draft-model: " : "--speculative: ") + e.reason());
        }
        o.request.drafter_weight_bytes = dm.weight_bytes;
        o.request.drafter_kv_bytes_per_token = dm.kv_bytes_per_token;
        drafter = c.method == "draft_model" ? "draft model " + c.draft->name : c.method;
    }
    const KvPlan plan = plan_kv(m, gpu, o.request);
    if (!plan.fits) {
        throw UsageError(fmt::format("{} does not fit on {} (TP={}, weights {}, KV {}): {}{}", m.name, gpu.name,
                                     plan.request.tp, m.weights(plan.request.weight_dtype).label(),
                                     dtype_name(plan.request.kv_dtype), plan.why_not,
                                     fit_hint(m, gpu, plan.request)));
    }
    if (o.json) {
        fmt::print("{}\n", kv_json(m, gpu, plan, drafter));
    } else {
        hc::print_kv(m, gpu, plan, drafter);
    }
    return 0;
}

struct CostOptions {
    std::string model, gpu;
    std::vector<std::string> gpu_set;
    std::string weights_dtype = "auto", kv_dtype = "bf16";
    int64_t tp = 1;
    int64_t tokens = 0, prefill_context = 0, decode_batch = 0, context = 0;
    bool no_cuda_graphs = false;
    bool no_async_scheduling = false;
    bool no_allreduce_fusion = false;
    std::optional<double> step_overhead_ms;
    std::string predictor = "auto", calibration, kernel_tables;
    std::string moe_routing;
    bool json = false;
};

int run_cost(CostOptions& o) {
    const ModelCard m = load_model_warn(o.model);
    const GpuProfile gpu = load_gpu_with_overrides(o.gpu, o.gpu_set);
    CostConfig c;
    c.tp = o.tp;
    c.weight_dtype = parse_weights_option(o.weights_dtype);
    c.kv_dtype = parse_option_dtype("--kv-dtype", o.kv_dtype);
    c.cuda_graphs = !o.no_cuda_graphs;
    c.async_scheduling = !o.no_async_scheduling;
    c.fuse_allreduce_rms = !o.no_allreduce_fusion;
    if (o.step_overhead_ms) {
        if (!std::isfinite(*o.step_overhead_ms) || *o.step_overhead_ms < 0 || *o.step_overhead_ms > 1e5) {
            throw UsageError(fmt::format("--step-overhead-ms: must be a number of ms in [0, 100000], got {}", *o.step_overhead_ms));
        }
        c.step_overhead_s = *o.step_overhead_ms * 1e-3;
    }
    // never cost a layout that could not be served (an encoder serves prefills only: no KV cache to decode
    // on)
    check_serving_layout(m, gpu, o.tp, 1, c.kv_dtype, /*allow_encoder=*/true);
    check_encoder_step(m, o.decode_batch > 0, o.prefill_context > 0);
    if (!o.moe_routing.empty()) c.moe_routing = moe_routing_for(m, o.moe_routing);
    if (o.tokens < 0) throw UsageError(fmt::format("--tokens: must be >= 1, got {}", o.tokens));
    if (o.decode_batch < 0 || o.decode_batch > 1'000'000) {
        throw UsageError(fmt::format("--decode-batch: must be in [1, 1,000,000], got {}", o.decode_batch));
    }
    if (o.prefill_context < 0) throw UsageError(fmt::format("--prefill-context: must be >= 0, got {}", o.prefill_context));
    if (o.tokens == 0 && o.decode_batch == 0) {
        throw UsageError("--tokens: give a prefill size (--tokens N) or a decode batch (--decode-batch B --context C)");
    }
    const int64_t limit = m.max_position_embeddings;
    if (o.tokens + o.prefill_context > limit) {
        throw UsageError(fmt::format("--tokens: {} tokens on {} cached exceed the model's {} positions", o.tokens,
                                     o.prefill_context, limit));
    }
    if (o.context < 0 || o.context + 1 > limit) {
        throw UsageError(fmt::format("--context: must be in [0, {}), got {}", limit, o.context));
    }
    std::vector<SequenceWork> batch;
    std::string what;
    if (o.tokens > 0) {
        batch.push_back({o.tokens, o.prefill_context});
        what = fmt::format("prefill {} tokens{}", o.tokens,
                           o.prefill_context ? fmt::format(" on {} cached", o.prefill_context) : "");
    }
    if (o.decode_batch > 0) {
        for (int64_t i = 0; i < o.decode_batch; ++i) batch.push_back({1, o.context});
        what += fmt::format("{}decode {} sequences at context {}", what.empty() ? "" : " + ", o.decode_batch, o.context);
    }
    if (!o.calibration.empty()) c.calibration = std::make_shared<const Calibration>(load_calibration(o.calibration));
    if (!o.kernel_tables.empty()) {
        try {
            c.kernel_tables = std::make_shared<const KernelTables>(load_kernel_tables(o.kernel_tables));
        } catch (const HardwareError& e) {
            throw UsageError(fmt::format("--kernel-tables: {}", e.what()));
        }
    }
    try {
        check_own_cost_inputs(c, gpu);
    } catch (const PlanError& e) {
        throw UsageError(fmt::format("{}: {}", e.field(), e.reason()));
    }
    std::unique_ptr<StepTimePredictor> p;
    try {
        p = make_step_predictor(m, gpu, c, o.predictor);
    } catch (const PlanError& e) {
        throw UsageError(fmt::format("--predictor: {}", e.reason()));
    }
    const CostModel cm(m, gpu, c);
    const StepCost s = p->step(batch);
    if (o.json) {
        fmt::print("{}\n", cost_json(cm, *p, s, what));
    } else {
        hc::print_cost(cm, *p, s, what);
    }
    return 0;
}

struct CalibrateOptions {
    std::string gpu, tables, csv, measurements, from, out, dtype = "bf16";
    bool json = false;
};

// `headroom calibrate`: fit the roofline's parameters to measured kernel times and write the calibration YAML.
int run_calibrate(CalibrateOptions& o) {
    const GpuProfile target = load_gpu_with_overrides(o.gpu, {});
    const Dtype dtype = parse_option_dtype("--dtype", o.dtype);
    if (dtype != Dtype::BF16 && dtype != Dtype::FP8) throw UsageError("--dtype: calibrations are fitted for bf16 or fp8 GEMMs");
    const int sources = !o.csv.empty() + !o.tables.empty() + !o.from.empty() + !o.measurements.empty();
    if (sources > 1) throw UsageError("--tables: give one data source (--tables, --from, --csv or --measurements)");
    std::vector<GemmSample> gemms, fp8_gemms;  // fp8_gemms: the second fit of a bf16 calibration
    std::vector<CommSample> comms;
    std::vector<AttentionSample> attention;
    std::vector<MlaSample> mla;
    std::vector<MoeSample> moe;
    GpuProfile fit_gpu = target;  // whose peaks the efficiencies are shares of
    std::string fitted_on, derived_from;
    const MlaChainCost* chain = nullptr;  // the unfused norm chain taken off the MLA samples
    auto from_tables = [&](const std::shared_ptr<const KernelTables>& shared, const std::string& what) {
        const KernelTables& t = *shared;
        // points whose working set stayed in the measured GPU's L2 are timed faster than serving runs them
        gemms = gemm_samples(t, dtype, fit_gpu.l2_cache_bytes());
        if (dtype == Dtype::BF16) fp8_gemms = gemm_samples(t, Dtype::FP8, fit_gpu.l2_cache_bytes());
        comms = allreduce_samples(t);
        // a TP group larger than the tables' all-reduces spans hosts: NCCL, timed on the sibling
        // (nccl_sibling)
        std::string borrowed;
        if (const auto sibling = nccl_sibling_tables(t, fit_gpu)) {
            std::set<int64_t> own;
            for (const CommSample& s : comms) own.insert(s.gpus);
            std::set<int64_t> added;
            for (const CommSample& s : nccl_allreduce_samples(*sibling, own)) {
                comms.push_back(s);
                added.insert(s.gpus);
            }
            if (!added.empty()) {
                borrowed = fmt::format(
                    "; the {}-GPU all-reduce from {}'s NCCL rows (a TP group over more GPUs than one "
                    "tray spans hosts, where vLLM's custom all-reduce falls back to NCCL)",
                    fmt::join(added, ", "), nccl_sibling(fit_gpu));
            }
        }
        attention = attention_samples(t, fit_gpu.l2_cache_bytes(), fit_gpu.memory_bandwidth_bytes_per_s());
        // the MLA modules of the same chip in another system where only those were timed with vLLM's fused
        // norms (mla_module_tables: GB200 takes B200's)
        const auto mla_tables = mla_module_tables(shared);
        mla = mla_samples(*mla_tables, fit_gpu.l2_cache_bytes(), fit_gpu.memory_bandwidth_bytes_per_s());
        bool attention_only = false;
        if (mla.empty()) {  // no module tables: the attention implementation's, where the tables hold them (A100)
            mla = mla_attention_samples(t, fit_gpu.l2_cache_bytes(), fit_gpu.memory_bandwidth_bytes_per_s());
            attention_only = !mla.empty();
        }
        bool power_law = false;
        moe = moe_fit_samples(t, fit_gpu.l2_cache_bytes(), &power_law);
        std::string notes;
        if (power_law && !moe.empty()) {
            notes = "; fused MoE from its power-law rows without EP (the tables hold no balanced rows)";
        }
        if (attention_only) {
            notes += "; MLA from its attention-implementation tables (timed without a CUDA graph: the points the "
                     "kernels set; no norms, RoPE or down-projections in them)";
        } else if (mla_tables != shared) {
            notes += fmt::format("; MLA modules from {} ({}: timed with vLLM's fused norms)",
                                   mla_tables->gpu, mla_tables->device);
        } else if (!mla.empty() && (chain = mla_chain_cost(t))) {
            notes +=
                "; MLA modules less the unfused norm chain they timed (GB200's MLA tables over B200's)";
        }
        fitted_on = fmt::format("kernel tables {} ({}; {}){}{}", what, t.device, t.source, notes, borrowed);
    };
    if (!o.csv.empty()) {
        read_calibration_csv(o.csv, gemms, comms, &fp8_gemms);
        if (dtype == Dtype::FP8) {  // an fp8-only fit takes gemm and gemm_fp8 rows alike
            gemms.insert(gemms.end(), fp8_gemms.begin(), fp8_gemms.end());
            fp8_gemms.clear();
        }
        fitted_on = "measurements in " + o.csv;
    } else if (!o.measurements.empty()) {
        if (dtype != Dtype::BF16) throw UsageError("--dtype: the executor measures bf16 GEMMs");
        gemms = read_measure_step_json(o.measurements);
        fitted_on = "headroom measure step in " + o.measurements;
    } else if (!o.tables.empty()) {
        if (o.tables.size() > 4 && o.tables.substr(o.tables.size() - 4) == ".hkt") {
            from_tables(std::make_shared<const KernelTables>(load_kernel_tables(o.tables)), o.tables);
        } else {
            const auto t = shipped_kernel_tables(o.tables);
            if (!t) throw UsageError(fmt::format("--tables: no shipped tables named \"{}\" (a .hkt file, or one of h100_sxm, h200_sxm, b200_sxm, gb200, a100_sxm, l40s)", o.tables));
            from_tables(t, o.tables);
        }
    } else {
        // the sibling whose tables stand in (--from), or the GPU's own
        if (!o.from.empty()) {
            fit_gpu = load_gpu_with_overrides(o.from, {});
            derived_from = fit_gpu.name;
        }
        // (a GPU that borrows a sibling's tables for its step times is calibrated from that sibling: --from)
        const std::string name = kernel_table_sibling(fit_gpu).empty() ? kernel_table_gpu(fit_gpu) : "";
        const auto t = name.empty() ? nullptr : shipped_kernel_tables(name);
        if (!t) {
            throw UsageError(fmt::format("--gpu: no kernel tables ship for {}: fit on a sibling's (--from h100-sxm), a .hkt file "
                                         "(--tables) or your own measurements (--csv)", fit_gpu.name));
        }
        from_tables(t, name);
    }
    if (gemms.empty()) throw UsageError(fmt::format("--dtype: the data holds no {} GEMM measurements", o.dtype));
    // on a terminal, each fit as it starts (a GPU's full tables take 10-20 s), the line cleared at the end
    const bool tty = isatty(STDERR_FILENO);
    size_t shown = 0;
    Calibration c = calibrate(fit_gpu, dtype, gemms, comms, fitted_on, fp8_gemms, attention, mla, moe,
                              [tty, &shown](const std::string& fit, size_t points) {
                                  if (!tty) return;
                                  const std::string line = fmt::format("  calibrating: {} ({} points)", fit, points);
                                  fmt::print(stderr, "\r{:<{}}", line, std::max(shown, line.size()));
                                  shown = std::max(shown, line.size());
                              });
    if (shown > 0) fmt::print(stderr, "\r{}\r", std::string(shown, ' '));
    c.gpu = target.name;
    c.derived_from = derived_from;
    if (!derived_from.empty()) c.allreduce.clear();  // another GPU's links say nothing of this one's
    const std::string yaml = calibration_yaml(c);
    if (!o.out.empty()) {
        std::ofstream f(o.out);
        if (!f || !(f << yaml)) throw UsageError(fmt::format("-o: cannot write {}", o.out));
    }
    if (o.json) {
        fmt::print("{}\n", calibration_json(c));
        return 0;
    }
    if (o.out.empty()) {
        fmt::print("{}", yaml);
        return 0;
    }
    fmt::print("Calibrated roofline for {}{}: fitted on {} GEMM measurements{}\n", target.display_name,
               derived_from.empty() ? "" : " (derived from " + derived_from + ")", c.gemm_fit.points,
               c.gemm_fit.l2_warm_left_out > 0
                   ? fmt::format(" ({} more left out: timed with their weights in L2, faster than serving)", c.gemm_fit.l2_warm_left_out)
                   : "");
    fmt::print("  {}\n", c.fitted_on);
    fmt::print("  GEMM: launch {:.2f} us, {:.3f} ns per element of k, compute efficiency {:.3f}, memory efficiency {:.3f}, "
               "blend exponent {:.2f}\n",
               c.gemm.launch_s * 1e6, c.gemm.mainloop_s_per_k * 1e9, c.gemm.compute_efficiency, c.gemm.memory_efficiency,
               c.gemm.blend_exponent);
    fmt::print("  fit error on its own points: median {:.1f}%, p90 {:.1f}% (bench/fidelity cross-validates)\n",
               100 * c.gemm_fit.median_abs_rel_error, 100 * c.gemm_fit.p90_abs_rel_error);
    if (c.gemm_fp8.present()) {
        const GemmCalibration& g = c.gemm_fp8;
        fmt::print("  fp8 GEMM ({} measurements): launch {:.2f} us, {:.3f} ns per element of k, compute efficiency {:.3f}, "
                   "memory efficiency {:.3f}, blend exponent {:.2f}, {:.3g} bytes per activation element and {:.3g} per "
                   "output element, {:.2f} ns per row, tile-wave exponent {:.2f}\n",
                   c.gemm_fp8_fit.points, g.launch_s * 1e6, g.mainloop_s_per_k * 1e9, g.compute_efficiency,
                   g.memory_efficiency, g.blend_exponent,
                   g.activation_bytes, g.output_bytes, g.row_s * 1e9, g.wave_exponent);
        fmt::print("  fp8 fit error on its own points: median {:.1f}%, p90 {:.1f}%\n", 100 * c.gemm_fp8_fit.median_abs_rel_error,
                   100 * c.gemm_fp8_fit.p90_abs_rel_error);
    }
    if (c.has_attention()) {
        const AttentionCalibration& p = c.prefill_attention;
        const AttentionCalibration& d = c.decode_attention;
        const FitQuality& pq = c.prefill_attention_fit;
        fmt::print("  prefill attention ({} measurements): launch {:.2f} us, compute efficiency {:.3f} with "
                   "{:.0f} FLOPs per score, memory efficiency {:.3f}, blend exponent {:.2f}, wave exponent "
                   "{:.2f}, {:.1f} ns per tile and head; fit error median {:.1f}%, p90 {:.1f}%\n",
                   pq.points, p.launch_s * 1e6, p.compute_efficiency, p.score_flops, p.memory_efficiency,
                   p.blend_exponent, p.wave_exponent, p.item_s * 1e9, 100 * pq.median_abs_rel_error,
                   100 * pq.p90_abs_rel_error);
        // the kernel terms (calibration.hpp), those the fit kept
        std::string terms;
        if (d.unsplit_bytes_per_s > 0) {
            terms += fmt::format(", unsplit KV {:.3g} GB/s a block", d.unsplit_bytes_per_s / 1e9);
        }
        if (d.repack_s > 0) terms += fmt::format(", query repack {:.2f} us", d.repack_s * 1e6);
        if (d.combine_s > 0) terms += fmt::format(", split-KV combine {:.2f} us", d.combine_s * 1e6);
        const FitQuality& dq = c.decode_attention_fit;
        fmt::print("  decode attention ({} measurements, {} more left out: KV in L2): launch {:.2f} us, "
                   "memory efficiency {:.3f}, {:.1f} ns per sequence and KV head{}, blend exponent {:.2f}; "
                   "fit error median {:.1f}%, p90 {:.1f}%\n",
                   dq.points, dq.l2_warm_left_out, d.launch_s * 1e6, d.memory_efficiency, d.item_s * 1e9,
                   terms, d.blend_exponent, 100 * dq.median_abs_rel_error, 100 * dq.p90_abs_rel_error);
    }
    if (c.has_mla()) {
        for (const bool decode : {false, true}) {
            const MlaCalibration& a = decode ? c.mla_decode : c.mla_prefill;
            const FitQuality& q = decode ? c.mla_decode_fit : c.mla_prefill_fit;
            const std::string triton =
                a.triton_decode()
                    ? fmt::format(", Triton decode: x {:.2f} latent reads a further 16-head block, {:.1f} GB/s "
                                  "on the longest sequence",
                                  a.head_block_reread, a.longest_s_per_byte > 0 ? 1e-9 / a.longest_s_per_byte : 0.0)
                    : "";
            const std::string spill =
                a.activation_spill > 0
                    ? fmt::format(", activations past the L2 x {:.2f} their time at HBM peak",
                                  a.activation_spill)
                    : "";
            fmt::print(
                "  MLA {} block ({} measurements, {} more left out: block in L2): {:.1f} us a block, "
                "{:.2f} ns a token, {:.2f} ns a token and head, attention x {:.3f} (fp8 KV: x {:.3f}, "
                "{:+.1f} us a block), block-fp8 projections {:+.1f} us a block, {:+.2f} ns a token, "
                "{:+.2f} ns a token and head{}{}; fit error median {:.1f}%, p90 {:.1f}%\n",
                decode ? "decode" : "prefill", q.points, q.l2_warm_left_out, a.block_s * 1e6, a.token_s * 1e9,
                a.token_head_s * 1e9, a.attention_scale, a.fp8_kv_attention_scale, a.fp8_kv_block_s * 1e6,
                a.block_fp8_block_s * 1e6, a.block_fp8_token_s * 1e9, a.block_fp8_token_head_s * 1e9, triton,
                spill, 100 * q.median_abs_rel_error, 100 * q.p90_abs_rel_error);
        }
        if (chain) {
            auto terms = [](const MlaChainTerms& t) {
                return fmt::format(
                    "{:.1f} us + {:.2f} us a token up to {:.0f} + {:.2f} ns a token + {:.2f} ns a "
                    "token and head",
                    t.fixed_s * 1e6, t.ramp_s * 1e6, MlaChainTerms::RAMP_TOKENS, t.token_s * 1e9,
                    t.token_head_s * 1e9);
            };
            fmt::print(
                "  MLA tables less the unfused norm chain they timed (GB200's MLA tables against B200's, {} "
                "points, median {:.1f}%): decode {}; prefill {}\n",
                chain->points, 100 * chain->median_abs_rel_error, terms(chain->decode),
                terms(chain->prefill));
        }
    }
    for (const auto& [format, f] : c.moe) {
        const FitQuality& q = c.moe_fit.at(format);
        fmt::print(
            "  fused MoE, {} ({} measurements, {} more left out: experts in L2): {:.1f} us a call, "
            "FLOPs x {:.2f} at peak, expert weights x {:.2f} at HBM peak, pair activations x {:.2f} "
            "(this GPU's pairs) and x {:.2f} (all routed), {:.2f} us an expert read, tile waves x {:.2f}; "
            "fit error median {:.1f}%, p90 {:.1f}%\n",
            moe_fit_label(format), q.points, q.l2_warm_left_out, f.fixed_s * 1e6, f.compute, f.weights,
            f.local_pairs, f.pairs, f.expert_s * 1e6, f.waves, 100 * q.median_abs_rel_error,
            100 * q.p90_abs_rel_error);
    }
    for (const auto& [gpus, a] : c.allreduce) {
        fmt::print("  all-reduce on {} GPUs: latency {:.2f} us, bus bandwidth {:.0f} GB/s\n", gpus, a.latency_s * 1e6,
                   a.bus_bytes_per_s / 1e9);
    }
    fmt::print("Wrote {}\n", o.out);
    return 0;
}

struct SimulateOptions {
    std::string scenario;
    std::vector<std::string> set;
    std::optional<int64_t> seed;
    bool json = false;
    std::string requests_csv, trace_json;
    std::vector<std::string> metric_percentiles;
};

// --metric-percentiles 50,90,99 as the scenario's metric_percentiles (vLLM's --metric-percentiles).
std::vector<std::string> with_metric_percentiles(std::vector<std::string> set, const std::vector<std::string>& p) {
    if (p.empty()) return set;
    std::string list;
    for (const std::string& x : p) list += (list.empty() ? "" : ",") + x;
    set.push_back("metric_percentiles=[" + list + "]");
    return set;
}

int run_simulate(SimulateOptions& o) {
    Scenario sc = load_scenario(o.scenario, with_metric_percentiles(o.set, o.metric_percentiles));
    if (o.seed) {
        if (*o.seed < 0) throw UsageError(fmt::format("--seed: must be >= 0, got {}", *o.seed));
        sc.seed = static_cast<uint64_t>(*o.seed);
    }
    (void)scenario_kv_plan(sc);  // a deployment that does not fit is an input error, found before forking
    check_writable("--requests", o.requests_csv);
    check_writable("--trace", o.trace_json);
    SimulationOptions opts;
    opts.keep_all_steps = !o.trace_json.empty();  // the timeline shows every step and request
    opts.keep_requests = !o.trace_json.empty();
    if (!o.requests_csv.empty()) opts.requests_sink = requests_csv_sink(o.requests_csv);
    const SimulationResult r = simulate(sc, opts);
    if (!o.trace_json.empty()) write_chrome_trace(o.trace_json, sc, r);
    if (o.json) {
        fmt::print("{}\n", simulation_json(sc, r));
    } else {
        hc::print_simulation(sc, r);
    }
    return 0;
}

// The Python that draws figures: $HEADROOM_PYTHON, else the project venv, else python3 on PATH.
std::string plot_python() {
    if (const char* p = std::getenv("HEADROOM_PYTHON"); p && *p) return p;
    const std::string venv = std::string(HEADROOM_SOURCE_DIR) + "/.venv/bin/python";
    if (access(venv.c_str(), X_OK) == 0) return venv;
    return "python3";
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// Runs python/headroom/plot.py as a script: it needs matplotlib only, not the compiled headroom module. The
// installed package's console script names its own copy in $HEADROOM_PLOT_SCRIPT.
std::string plot_command(const std::string& args) {
    const char* installed = std::getenv("HEADROOM_PLOT_SCRIPT");
    const std::string script = installed && *installed ? installed : std::string(HEADROOM_SOURCE_DIR) + "/python/headroom/plot.py";
    return shell_quote(plot_python()) + " " + shell_quote(script) + " " + args;
}

// "a,b,c" -> {a, b, c}; commas inside {} or [] belong to a YAML flow value ("{dist: uniform, min: 1}").
std::vector<std::string> split_values(const std::string& text) {
    std::vector<std::string> out(1);
    int depth = 0;
    for (char c : text) {
        if (c == '{' || c == '[') ++depth;
        if (c == '}' || c == ']') --depth;
        if (c == ',' && depth == 0) {
            out.emplace_back();
        } else {
            out.back() += c;
        }
    }
    return out;
}

struct SweepOptions {
    std::string scenario;
    std::vector<double> concurrency, qps;
    std::vector<std::string> set;
    bool json = false;
    bool no_counterfactuals = false;
    int refine = 4;
    std::vector<std::string> metric_percentiles;
    std::string dask;  // a Dask scheduler address
    std::string html;  // the self-contained HTML report
    std::string plot;
    int jobs = 0;
};

// The sweep's remote runner for --dask: each batch of recipes goes to `python -m headroom.dask_runner`, which maps
// them over the scheduler's workers; the results come back as length-prefixed bytes.
RemoteRunner dask_runner(const std::string& address) {
    return [address](const std::vector<std::string>& recipes) {
        const auto dir = std::filesystem::temp_directory_path();
        const std::string stem = fmt::format("headroom-dask-{}", getpid());
        const std::filesystem::path in = dir / (stem + ".in"), out = dir / (stem + ".out"), err = dir / (stem + ".err");
        {
            std::ofstream f(in);
            for (const std::string& r : recipes) f << r << "\n";
        }
        const std::string cmd = fmt::format("{} -m headroom.dask_runner {} {} {} 2>{}", shell_quote(plot_python()),
                                            shell_quote(address), shell_quote(in.string()), shell_quote(out.string()),
                                            shell_quote(err.string()));
        const int rc = std::system(cmd.c_str());
        std::filesystem::remove(in);
        std::string why;  // the runner's last "error: ..." line
        {
            std::ifstream e(err);
            for (std::string line; std::getline(e, line);) {
                if (line.rfind("error: ", 0) == 0) why = line.substr(7);
            }
        }
        std::filesystem::remove(err);
        std::vector<std::string> results;
        std::ifstream f(out, std::ios::binary);
        for (uint64_t n = 0; rc == 0 && f.read(reinterpret_cast<char*>(&n), sizeof n);) {
            std::string bytes(n, '\0');
            if (!f.read(bytes.data(), static_cast<std::streamsize>(n))) break;
            results.push_back(std::move(bytes));
        }
        f.close();
        std::filesystem::remove(out);
        if (rc != 0) {
            throw UsageError(!why.empty() ? why
                                          : fmt::format("--dask: the runner for {} failed (exit {}; is headroom installed for {}?)",
                                                        address, rc, plot_python()));
        }
        return results;
    };
}

int run_sweep_command(SweepOptions& o) {
    SweepRequest req;
    req.scenario_path = o.scenario;
    if (!o.concurrency.empty() && !o.qps.empty()) throw UsageError("--qps: give --concurrency or --qps, not both");
    if (!o.qps.empty()) {
        req.load_kind = LoadKind::QPS;
        req.loads = o.qps;
    } else if (!o.concurrency.empty()) {
        req.loads = o.concurrency;
    }
    for (double l : req.loads) {
        if (!(l > 0)) throw UsageError(fmt::format("{}: loads must be > 0, got {}", o.qps.empty() ? "--concurrency" : "--qps", l));
        if (o.qps.empty() && (l != std::floor(l) || l > 1'000'000)) {
            throw UsageError(fmt::format("--concurrency: users are whole numbers up to 1,000,000, got {}", l));
        }
        if (!o.qps.empty() && !(l <= 1e6)) {  // the scenario's own limit on a rate, named as the option the user gave
            throw UsageError(fmt::format("--qps: rates go up to 1,000,000 per second, got {:g}", l));
        }
    }
    for (const std::string& a : o.set) {
        const auto eq = a.find('=');
        if (eq == std::string::npos) throw UsageError(fmt::format("--set: expected key=value[,value...], got \"{}\"", a));
        const std::vector<std::string> values = split_values(a.substr(eq + 1));
        if (values.size() <= 1) {
            req.overrides.push_back(a);
        } else {
            req.axes.push_back({a.substr(0, eq), values});
        }
    }
    if (req.axes.size() > 2) throw UsageError("--set: at most two fields can take several values in one sweep");
    if (o.jobs < 0) throw UsageError(fmt::format("--jobs: must be >= 1, got {}", o.jobs));
    req.jobs = o.jobs;
    req.counterfactuals = !o.no_counterfactuals;
    req.refine = o.refine;
    req.overrides = with_metric_percentiles(req.overrides, o.metric_percentiles);
    if (!o.dask.empty()) req.remote = dask_runner(o.dask);
    check_writable("--plot", o.plot);
    check_writable("--html", o.html);
    const bool draws = !o.plot.empty() || !o.html.empty();  // the plot script draws both, once checked
    if (draws && std::system((plot_command("--check") + " >/dev/null 2>&1").c_str()) != 0) {
        throw UsageError(fmt::format("{}: {} cannot import matplotlib (run scripts/setup.sh, or set HEADROOM_PYTHON)",
                                     o.plot.empty() ? "--html" : "--plot", plot_python()));
    }
    const bool tty = isatty(STDERR_FILENO);
    const SweepResult result = run_sweep(req, [tty](size_t done, size_t total) {
        if (!tty) return;
        const int width = 30;
        const int filled = static_cast<int>(width * done / std::max<size_t>(1, total));
        fmt::print(stderr, "\r  simulating [{}{}] {}/{}", std::string(filled, '#'), std::string(width - filled, '.'),
                   done, total);
        if (done == total) fmt::print(stderr, "\r{}\r", std::string(60, ' '));
    });
    const std::string lines = sweep_json_lines(req, result);
    if (o.json) {
        fmt::print("{}", lines);
    } else {
        hc::print_sweep(req, result);
    }
    // the figure and the report are drawn by the plot script from the JSON lines, written once
    if (draws) {
        char tmpl[] = "/tmp/headroom-sweep-XXXXXX";
        const int fd = mkstemp(tmpl);
        if (fd < 0) throw std::runtime_error("cannot create a temporary file for the plot data");
        close(fd);
        std::ofstream(tmpl) << lines;
        for (const auto& [what, path, done] : {std::tuple{"saturation", &o.plot, "the saturation figure"},
                                               std::tuple{"report", &o.html, "the HTML report"}}) {
            if (path->empty()) continue;
            const int rc = std::system((plot_command(std::string(what) + " " + shell_quote(tmpl) + " " + shell_quote(*path))).c_str());
            if (rc != 0) {
                std::filesystem::remove(tmpl);
                throw std::runtime_error("the plot script failed");
            }
            if (!o.json) fmt::print("{}Wrote {} to {}\n", path == &o.plot || o.plot.empty() ? "\n" : "", done, *path);
        }
        std::filesystem::remove(tmpl);
    }
    return 0;
}

struct PlanOptions {
    std::string model, slo, gpus = "h100-sxm,h200,b200", workload;
    double qps = 0;
    std::vector<std::string> set;
    int top = 5, jobs = 0;
    std::optional<double> duration_s;  // none: 60 s, or a trace's whole replay
    bool json = false, speculative = false, disaggregate = false;
    std::string dask;  // a Dask scheduler address
};

int run_plan(PlanOptions& o) {
    CapacityRequest req;
    req.model_spec = o.model;
    if (!(o.qps > 0)) throw UsageError(fmt::format("--qps: must be > 0, got {}", o.qps));
    req.qps = o.qps;
    try {
        req.slos = parse_slo_list(o.slo);
    } catch (const std::invalid_argument& e) {
        throw UsageError(fmt::format("--slo: {}", e.what()));
    }
    req.gpus = split_values(o.gpus);
    req.workload_path = o.workload;
    req.overrides = o.set;
    if (o.duration_s && !(*o.duration_s > 0 && *o.duration_s <= 1e7)) {
        throw UsageError(fmt::format("--duration: must be > 0 and at most 1e7 s, got {}", *o.duration_s));
    }
    req.duration_s = o.duration_s.value_or(0.0);
    req.jobs = o.jobs;
    req.try_speculative = o.speculative;
    req.try_disaggregated = o.disaggregate;
    if (!o.dask.empty()) req.remote = dask_runner(o.dask);
    if (o.top < 1) throw UsageError(fmt::format("--top: must be >= 1, got {}", o.top));
    (void)load_model(o.model);  // input errors before any search
    const bool tty = isatty(STDERR_FILENO);
    const CapacityPlan plan = plan_capacity(req, [tty](size_t done, size_t total) {
        if (tty) fmt::print(stderr, "\r  searching: {}/{} simulations   ", done, total);
    });
    if (tty) fmt::print(stderr, "\r{}\r", std::string(60, ' '));
    if (plan.ranked.empty()) {
        std::string why;
        for (const auto& s : plan.skipped) why += (why.empty() ? "" : "; ") + s;
        throw UsageError(fmt::format("--model: no configuration of {} can serve it ({})", o.model, why));
    }
    if (o.json) {
        fmt::print("{}\n", capacity_json(req, plan, o.top));
    } else {
        hc::print_capacity(req, plan, o.top);
    }
    return 0;
}

struct ClusterOptions {
    std::string cluster, route, dot;
    double bytes = 0.0;
    bool json = false;
};

int run_cluster_show(const ClusterOptions& o) {
    check_writable("--dot", o.dot == "-" ? "" : o.dot);
    if (!(o.bytes >= 0) || !std::isfinite(o.bytes)) throw UsageError(fmt::format("--bytes: must be >= 0, got {}", o.bytes));
    const ClusterTopology t(load_cluster(o.cluster));
    int64_t from = 0, to = t.gpu_count() - 1;
    if (!o.route.empty()) {
        const std::vector<std::string> ends = split_values(o.route);
        auto gpu = [&](const std::string& x) {
            try {
                size_t used = 0;
                const long long v = std::stoll(x, &used);
                if (used == x.size() && v >= 0 && v < t.gpu_count()) return static_cast<int64_t>(v);
            } catch (const std::exception&) {
            }
            throw UsageError(fmt::format("--route: \"{}\" is not a GPU of {} (0 .. {})", x, t.spec().name, t.gpu_count() - 1));
        };
        if (ends.size() != 2) throw UsageError(fmt::format("--route: expected two GPUs like 0,31, got \"{}\"", o.route));
        from = gpu(ends[0]);
        to = gpu(ends[1]);
    }
    const ClusterRoute route = t.route(from, to);
    std::optional<TransferResult> sim;
    if (o.bytes > 0 && from != to) sim = simulate_transfers(t, {{from, to, o.bytes, 0.0}})[0];
    if (!o.dot.empty()) {
        if (o.dot == "-") {
            fmt::print("{}", t.dot());
            return 0;
        }
        std::ofstream(o.dot) << t.dot();
    }
    if (o.json) {
        fmt::print("{}\n", headroom::cluster_json(t, route, from, to, o.bytes, sim ? &*sim : nullptr));
    } else {
        hc::print_cluster(t, route, from, to, o.bytes, sim ? &*sim : nullptr);
        if (!o.dot.empty()) fmt::print("Wrote {} (Graphviz: dot -Tsvg {} -o cluster.svg)\n", o.dot, o.dot);
    }
    return 0;
}

std::vector<GpuProfile> all_gpus() {
    std::vector<GpuProfile> gpus;
    for (const auto& n : shipped_gpu_names()) gpus.push_back(load_gpu(n));
    return gpus;
}

int run(int argc, char** argv) {
    CLI::App app{"headroom: predict how an LLM serving deployment behaves under load, from a model's "
                 "config.json and a GPU profile."};
    app.set_version_flag("--version", fmt::format("headroom {} ({})", version(), git_commit()));
    app.require_subcommand(1);
    std::function<int()> action;

    // card
    std::string card_model;
    bool card_json = false;
    auto* card = app.add_subcommand("card", "Print the model card derived from a config.json: parameters, weight "
                                            "bytes per precision, KV bytes per token, FLOPs per token.");
    card->add_option("-m,--model", card_model,
                     "config.json path, a directory holding one, or a shipped model name (`headroom models`)")
        ->required();
    card->add_flag("--json", card_json, "Print one JSON object instead of the table");
    card->callback([&] {
        action = [&] {
            const ModelCard m = load_model_warn(card_model);
            if (card_json) {
                fmt::print("{}\n", headroom::card_json(m));
            } else {
                hc::print_card(m);
            }
            return 0;
        };
    });

    // kv
    KvOptions kv;
    auto* kvc = app.add_subcommand("kv", "Plan KV-cache memory and capacity per GPU as vLLM does: weights, "
                                         "reserve, KV budget, blocks, tokens, concurrency.");
    kvc->add_option("-m,--model", kv.model, "config.json path, directory, or shipped model name")->required();
    kvc->add_option("-g,--gpu", kv.gpu, "shipped GPU name or alias (`headroom gpus`), or a profile YAML file")
        ->required();
    kvc->add_option("--tp", kv.request.tp, "tensor-parallel degree")->capture_default_str();
    kvc->add_option(
           "--pp", kv.request.pp,
           "pipeline stages, the layers split as vLLM splits them: each stage's weights, reserve and blocks, "
           "and every stage keeps the fewest")
        ->capture_default_str();
    kvc->add_option(
           "--pp-layer-partition", kv.request.pp_layer_partition,
           "each stage's layers, comma-separated (vLLM's VLLM_PP_LAYER_PARTITION, e.g. 21,22,21); default: "
           "vLLM's split")
        ->delimiter(',');
    kvc->add_option("--dp", kv.request.dp,
                    "attention data-parallel ranks (vLLM --data-parallel-size), each with its own KV cache; blocks "
                    "and capacity are the ranks' together")
        ->capture_default_str();
    kvc->add_flag("--expert-parallel", kv.expert_parallel,
                  "spread the routed experts over the TP x DP GPUs (vLLM --enable-expert-parallel)");
    kvc->add_option("--all2all-backend", kv.all2all_backend,
                    "with --dp > 1 and --expert-parallel, vLLM's --all2all-backend; deepep_low_latency and "
                    "deepep_high_throughput keep their buffers out of the KV cache")
        ->capture_default_str();
    kvc->add_option("--weights-dtype", kv.weights_dtype, "weight format: auto (as the checkpoint ships them), bf16, fp16, fp8, int8, int4, mxfp4")
        ->capture_default_str();
    kvc->add_option("--kv-dtype", kv.kv_dtype, "KV-cache format: bf16, fp16, fp8, int8")->capture_default_str();
    kvc->add_option("--context", kv.request.context,
                    "context length for the max-concurrency question (default: max_model_len)");
    kvc->add_option("--concurrency", kv.request.concurrency, "concurrent sequences for the longest-context question")
        ->capture_default_str();
    kvc->add_option("--gpu-memory-utilization", kv.request.gpu_memory_utilization,
                    "fraction of GPU memory vLLM may use")
        ->capture_default_str();
    kvc->add_option("--block-size", kv.request.block_size, "tokens per KV block")->capture_default_str();
    kvc->add_option("--max-model-len", kv.request.max_model_len,
                    "longest sequence served (default: the model's max_position_embeddings)");
    kvc->add_option("--max-num-batched-tokens", kv.request.max_num_batched_tokens,
                    "token budget of one engine step; sizes the activation reserve (default: vllm serve's for the GPU, "
                    "8192 on H100-class GPUs, 2048 on A100 and L40S)");
    kvc->add_option("--max-num-seqs", kv.request.max_num_seqs,
                    "most sequences in one step; sizes the sampler reserve (default: vllm serve's, 1024 on H100-class "
                    "GPUs, 256 on A100 and L40S)");
    kvc->add_option("--reserve-gb", kv.reserve_gb,
                    "memory kept for activations and CUDA graphs, in GB (default: estimated and reported)");
    kvc->add_flag("--no-cuda-graphs", kv.no_cuda_graphs,
                  "vLLM's --enforce-eager: no CUDA graphs, so no pool kept for them out of the KV cache");
    kvc->add_option("--gpu-set", kv.gpu_set, "override a profile field, e.g. memory.bandwidth_gb_per_s=3000")
        ->take_all();
    kvc->add_option("--speculative", kv.speculative,
                    "a speculative drafter beside the model, whose weights and KV share the GPU: ngram, draft_model, eagle, "
                    "eagle3, mtp");
    kvc->add_option("--draft-model", kv.draft_model, "the draft model of --speculative draft_model (name or config.json)");
    kvc->add_flag("--json", kv.json, "Print one JSON object instead of the table");
    kvc->callback([&] { action = [&] { return run_kv(kv); }; });

    // cost
    CostOptions co;
    auto* cost = app.add_subcommand("cost", "Cost one engine step op by op with the roofline model: FLOPs, bytes, "
                                            "time and the bound of each op.");
    cost->add_option("-m,--model", co.model, "config.json path, directory, or shipped model name")->required();
    cost->add_option("-g,--gpu", co.gpu, "shipped GPU name or alias, or a profile YAML file")->required();
    cost->add_option("--tokens", co.tokens, "prefill chunk of N tokens (one sequence)");
    cost->add_option("--prefill-context", co.prefill_context, "tokens already cached before the prefill chunk")
        ->capture_default_str();
    cost->add_option("--decode-batch", co.decode_batch, "B sequences decoding one token each");
    cost->add_option("--context", co.context, "tokens already in each decoding sequence's KV cache")
        ->capture_default_str();
    cost->add_option("--tp", co.tp, "tensor-parallel degree")->capture_default_str();
    cost->add_option("--weights-dtype", co.weights_dtype, "auto (as the checkpoint ships them), bf16, fp16, fp8, int8, int4, mxfp4")->capture_default_str();
    cost->add_option("--kv-dtype", co.kv_dtype, "bf16, fp16, fp8, int8")->capture_default_str();
    cost->add_flag("--no-cuda-graphs", co.no_cuda_graphs, "pay a kernel launch per op instead of one graph per step");
    cost->add_option("--step-overhead-ms", co.step_overhead_ms, "host time per step (default 1.0 ms)");
    cost->add_flag("--no-async-scheduling", co.no_async_scheduling,
                   "add the host time to the step (vLLM --no-async-scheduling) instead of hiding it behind the GPU's work");
    cost->add_flag("--no-allreduce-fusion", co.no_allreduce_fusion,
                   "run the norms after the TP all-reduces as kernels of their own (vLLM fuse_allreduce_rms off)");
    cost->add_option("--gpu-set", co.gpu_set, "override a profile field, e.g. memory.bandwidth_gb_per_s=3000")
        ->take_all();
    cost->add_option("--predictor", co.predictor, "auto (measured kernel tables where the GPU has them, else its calibrated "
                                                  "roofline, else the roofline), tables, calibrated, or roofline")
        ->capture_default_str();
    cost->add_option("--calibration", co.calibration, "a calibration YAML (headroom calibrate) to cost with");
    cost->add_option(
        "--kernel-tables", co.kernel_tables,
        "measured kernel tables of your own (a .hkt from python -m headroom.kernels import) for the auto "
        "and tables predictors, instead of the GPU's shipped ones");
    cost->add_option("--moe-routing", co.moe_routing,
                     "how tokens spread over an MoE model's experts: independent (default: each token picks its top-k "
                     "at random), balanced (as evenly as they can: the most experts reached), power_law_1.01 or "
                     "power_law_1.2 (AIConfigurator's skewed routing: fewer reached)");
    cost->add_flag("--json", co.json, "Print one JSON object instead of the table");
    cost->callback([&] { action = [&] { return run_cost(co); }; });

    // calibrate
    CalibrateOptions ca;
    auto* cal = app.add_subcommand("calibrate", "Fit the roofline's efficiency parameters (GEMM launch time, compute "
                                                "and memory efficiency, ridge blend; all-reduce latency and bandwidth) to "
                                                "measured kernel times, and write the calibration YAML.");
    cal->add_option("-g,--gpu", ca.gpu, "the GPU profile the calibration is for")->required();
    cal->add_option("--tables", ca.tables, "fit on these kernel tables: a shipped name (h100_sxm) or a .hkt file "
                                           "(default: the GPU's own shipped tables)");
    cal->add_option("--from", ca.from, "fit on a sibling GPU's shipped tables and carry its efficiencies over (labelled derived)");
    cal->add_option("--csv", ca.csv, "fit on your own measurements: CSV with op,m,n,k,bytes,gpus,latency_ms "
                                        "(op: gemm, gemm_fp8 or allreduce)");
    cal->add_option("--measurements", ca.measurements, "fit on `headroom measure step --json` lines (our executor's GEMMs)");
    cal->add_option("--dtype", ca.dtype, "GEMM dtype to fit: bf16 (plus a second fit for fp8 weights where the data "
                                         "holds fp8 GEMMs: the tables' fp8 table, gemm_fp8 rows of a CSV) or fp8 alone")->capture_default_str();
    cal->add_option("-o,--out", ca.out, "write the calibration YAML here (default: print it)");
    cal->add_flag("--json", ca.json, "Print one JSON object");
    cal->callback([&] { action = [&] { return run_calibrate(ca); }; });

    // simulate
    SimulateOptions so;
    auto* simc = app.add_subcommand("simulate", "Simulate a serving scenario (YAML) on SimGrid: per-request TTFT, TPOT, "
                                                "ITL, E2E, throughput, goodput, $/MTok.");
    simc->add_option("scenario", so.scenario, "scenario YAML file (see examples/); default: the built-in chat scenario");
    simc->add_option("--set", so.set, "override a scenario field, e.g. scheduler.max_num_batched_tokens=2048")
        ->take_all();
    simc->add_option("--seed", so.seed, "override the scenario's seed");
    simc->add_option("--metric-percentiles", so.metric_percentiles, "percentiles reported under vLLM's names in --json's "
                                                                   "`vllm` block, e.g. 50,90,99,99.9 (default 99, as vLLM)")
        ->delimiter(',');
    simc->add_flag("--json", so.json, "Print one JSON line (schema headroom.simulate/1) instead of the table");
    simc->add_option("--requests", so.requests_csv, "write one CSV row per request to this file");
    simc->add_option("--trace", so.trace_json, "write a Chrome/Perfetto timeline of steps and requests to this file");
    simc->callback([&] { action = [&] { return run_simulate(so); }; });

    // sweep
    SweepOptions sw;
    auto* swc = app.add_subcommand("sweep", "Sweep a scenario across load (closed-loop users or request rates) and "
                                            "other fields: saturation table, knee, explanations, counterfactuals.");
    swc->add_option("scenario", sw.scenario, "scenario YAML file (see examples/); default: the built-in chat scenario");
    swc->add_option("--concurrency", sw.concurrency, "closed-loop users per point (default 1,2,5,10,20,40,60,80,120,160,200)")
        ->delimiter(',');
    swc->add_option("--qps", sw.qps, "open-loop Poisson arrival rates per point, e.g. 1,2,4,8")->delimiter(',');
    swc->add_option("--set", sw.set, "field=value for every point, or field=a,b,c to sweep it too (at most two)")
        ->take_all();
    swc->add_flag("--json", sw.json, "Print one JSON line per point instead of the table");
    swc->add_option("--plot", sw.plot, "write the saturation figure (PNG) to this file");
    swc->add_option("--jobs", sw.jobs, "parallel simulations (default: all cores)");
    swc->add_option("--metric-percentiles", sw.metric_percentiles, "percentiles under vLLM's names in --json, e.g. 50,99,99.9")
        ->delimiter(',');
    swc->add_option("--html", sw.html, "write a self-contained HTML report (capacity, knee, figure, table, explanations, "
                                       "counterfactuals; opens offline) to this file");
    swc->add_option("--dask", sw.dask, "run the simulations on the workers of this Dask scheduler (tcp://host:8786); "
                                       "they need headroom installed and the scenario's files at the same paths");
    swc->add_flag("--no-counterfactuals", sw.no_counterfactuals, "skip re-simulating single changes at the first failing point");
    swc->add_option("--refine", sw.refine, "bisect the capacity between the last passing and the first failing load until "
                                           "the bracket is 2^N times narrower (0: the grid alone)")
        ->capture_default_str()
        ->check(CLI::Range(0, 20));
    swc->callback([&] { action = [&] { return run_sweep_command(sw); }; });

    // plan
    PlanOptions po;
    auto* pl = app.add_subcommand("plan", "Find the cheapest deployment (GPU, TP, dtypes, replicas) that meets every SLO "
                                          "at a target request rate.");
    pl->add_option("-m,--model", po.model, "config.json path, directory, or shipped model name")->required();
    pl->add_option("--qps", po.qps, "target arrival rate (requests/s; sessions/s for chat and agent workloads)")
        ->required();
    pl->add_option("--slo", po.slo, "SLOs, e.g. ttft_p95=2s,tpot_p95=50ms")->required();
    pl->add_option("--gpus", po.gpus, "GPU types to consider")->capture_default_str();
    pl->add_option("--workload", po.workload,
                   "scenario whose workload and engine settings to use (default: built-in single-turn chat)");
    pl->add_option("--set", po.set, "scenario field overrides applied to every candidate")->take_all();
    pl->add_option("--duration", po.duration_s, "simulated seconds of arrivals per probe (default: 60 s; a trace workload "
                                                "replays the whole trace at each probed rate)");
    pl->add_option("--top", po.top, "how many configurations to print")->capture_default_str();
    pl->add_option("--jobs", po.jobs, "parallel simulations (default: all cores)");
    pl->add_option("--dask", po.dask, "run each round of probes on the workers of this Dask scheduler (tcp://host:8786); "
                                      "they need headroom installed and the workload's files at the same paths");
    pl->add_flag("--speculative", po.speculative,
                 "also try each configuration with speculative decoding: the workload's speculative block, else EAGLE-3 "
                 "with 3 drafts at workload.speculative_acceptance (assumed 0.6 when absent)");
    pl->add_flag("--disaggregate", po.disaggregate,
                 "also try the best fleets split into prefill and decode pools (every ratio of as many replicas or up to "
                 "two fewer); KV over the workload's disaggregation link or cluster, else an assumed 50 GB/s per TP rank");
    pl->add_flag("--json", po.json, "Print one JSON object instead of the table");
    pl->callback([&] { action = [&] { return run_plan(po); }; });

    // gpus
    bool gpus_json = false, gpus_fields = false;
    auto* gpus = app.add_subcommand("gpus", "List the shipped GPU profiles.");
    gpus->add_flag("--json", gpus_json, "Print one JSON object instead of the table");
    gpus->add_flag("--fields", gpus_fields, "List the fields a profile holds and --gpu-set can override");
    gpus->callback([&] {
        action = [&] {
            if (gpus_fields) {
                hc::print_gpu_fields();
            } else if (gpus_json) {
                fmt::print("{}\n", headroom::gpus_json(all_gpus()));
            } else {
                hc::print_gpus(all_gpus());
            }
            return 0;
        };
    });

    // cluster
    ClusterOptions cl;
    auto* cluster = app.add_subcommand("cluster", "Cluster topologies: GPUs, NVLink domains, NICs and the fabric, as a graph");
    cluster->require_subcommand(1);
    auto* cshow = cluster->add_subcommand("show", "Print a cluster's topology: GPUs, NVLink domains, NICs, fabric, bisection "
                                                  "bandwidth, and the route between two GPUs");
    cshow->add_option("cluster", cl.cluster, "a shipped cluster name (headroom cluster list) or a cluster YAML file")->required();
    cshow->add_option("--route", cl.route, "the two GPUs whose route to print, e.g. 0,31 (default: the first and the last)");
    cshow->add_option("--bytes", cl.bytes, "also time one transfer of this many bytes on the route: latency + bytes over "
                                           "the slowest link, and SimGrid on the platform built from the graph");
    cshow->add_option("--dot", cl.dot, "write the graph as Graphviz DOT to this file (- for stdout)");
    cshow->add_flag("--json", cl.json, "Print one JSON object instead of the table");
    cshow->callback([&] { action = [&] { return run_cluster_show(cl); }; });
    bool clusters_json = false;
    auto* clist = cluster->add_subcommand("list", "List the shipped clusters");
    clist->add_flag("--json", clusters_json, "Print one JSON object instead of the table");
    clist->callback([&] {
        action = [&] {
            std::vector<ClusterTopology> all;
            for (const std::string& n : shipped_cluster_names()) all.emplace_back(load_cluster(n));
            if (clusters_json) {
                std::string items;
                for (const ClusterTopology& t : all) items += (items.empty() ? "" : ",") + fmt::format("\"{}\"", t.spec().name);
                fmt::print("{{\"command\": \"cluster list\", \"clusters\": [{}]}}\n", items);
            } else {
                for (const ClusterTopology& t : all) {
                    fmt::print("  {:<16} {:>4} GPUs  {}\n", t.spec().name, t.gpu_count(), t.spec().display_name);
                }
            }
            return 0;
        };
    });

    // gpu
    std::string gpu_name;
    std::vector<std::string> gpu_set;
    bool gpu_json = false;
    auto* gpu = app.add_subcommand("gpu", "Print one GPU profile with the source of every number.");
    gpu->add_option("-g,--gpu", gpu_name, "shipped GPU name or alias, or a profile YAML file")->required();
    gpu->add_option("--gpu-set", gpu_set, "override a field, e.g. price.usd_per_gpu_hour=2.1")->take_all();
    gpu->add_flag("--json", gpu_json, "Print one JSON object instead of the table");
    gpu->callback([&] {
        action = [&] {
            const GpuProfile g = load_gpu_with_overrides(gpu_name, gpu_set);
            if (gpu_json) {
                fmt::print("{}\n", headroom::gpu_json(g));
            } else {
                hc::print_gpu(g);
            }
            return 0;
        };
    });

    // models
    bool models_json = false;
    auto* models = app.add_subcommand("models", "List the model configs shipped in models/configs/.");
    models->add_flag("--json", models_json, "Print one JSON object instead of the table");
    models->callback([&] {
        action = [&] {
            const auto shipped = shipped_models();
            std::vector<ModelCard> cards;
            for (const auto& s : shipped) cards.push_back(load_model(s.name));
            if (models_json) {
                fmt::print("{}\n", headroom::models_json(shipped, cards));
            } else {
                hc::print_models(shipped, cards);
            }
            return 0;
        };
    });

    hc::add_measure_commands(app, action);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string what = e.what();
        if (what.find("subcommand") != std::string::npos) {
            // the subcommands of the deepest command given (headroom, or `headroom cluster`)
            const CLI::App* at = &app;
            while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
            std::string names;
            for (const CLI::App* sub : at->get_subcommands([](const CLI::App*) { return true; })) {
                names += (names.empty() ? "" : ", ") + sub->get_name();
            }
            what += fmt::format(" ({}; see --help)", names);
        }
        fmt::print(stderr, "error: {}\n", what);
        return EXIT_BAD_INPUT;
    }
    return action();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const InputError& e) {  // every domain's input error: one line, exit 2
        fmt::print(stderr, "error: {}\n", e.what());
        return EXIT_BAD_INPUT;
    } catch (const std::exception& e) {
        // not an input error: a bug or a failed system call
        fmt::print(stderr, "headroom: internal error: {}\n", e.what());
        return 1;
    }
}
