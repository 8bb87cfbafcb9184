// Human tables for `headroom card`, `kv`, `gpus`, `gpu` and `models`. Sizes are in GB (1e9 bytes), as
// datasheets print bandwidth and as the KV example in the README reads; the GPU line also shows GiB.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <cmath>

#include "headroom/sim/format.hpp"
#include "output.hpp"

namespace headroom::cli {

std::string group(int64_t n) { return group_thousands(n); }

std::string gb(double bytes) {
    const double g = bytes / 1e9;
    if (std::fabs(g) >= 100.0) return fmt::format("{:.1f} GB", g);
    if (std::fabs(g) >= 0.1) return fmt::format("{:.2f} GB", g);
    return fmt::format("{:.1f} MB", bytes / 1e6);
}

std::string count(double n) {
    if (n >= 1e12) return fmt::format("{:.2f} T", n / 1e12);
    if (n >= 1e9) return fmt::format("{:.2f} B", n / 1e9);
    if (n >= 1e6) return fmt::format("{:.1f} M", n / 1e6);
    if (n >= 1e3) return fmt::format("{:.1f} k", n / 1e3);
    return fmt::format("{:.0f}", n);
}

namespace {

void row(const std::string& label, const std::string& value) { fmt::print("  {:<24} {}\n", label, value); }

std::string yes_no(bool b) { return b ? "yes" : "no"; }

std::string layer_summary(const ModelCard& m) {
    std::vector<std::string> parts;
    if (auto n = m.count_layers(AttentionKind::FULL)) parts.push_back(fmt::format("{} full", n));
    if (auto n = m.count_layers(AttentionKind::SLIDING)) {
        parts.push_back(fmt::format("{} sliding-window ({} tokens)", n, m.sliding_window));
    }
    if (auto n = m.count_layers(AttentionKind::MLA)) parts.push_back(fmt::format("{} MLA", n));
    std::string s;
    for (const auto& p : parts) s += (s.empty() ? "" : ", ") + p;
    return s;
}

std::string short_ctx(int64_t c) {
    if (c % 1024 == 0) return fmt::format("{}k", c / 1024);
    return group(c);
}

}  // namespace

void print_card(const ModelCard& m) {
    const ParamBreakdown p = m.params();
    fmt::print("Model card: {}  ({}{})\n", m.name, m.model_type.empty() ? "unknown type" : m.model_type,
               m.architecture.empty() ? "" : ", " + m.architecture);
    fmt::print("  source: {}\n\n", m.source);

    fmt::print("Shape\n");
    row("layers", fmt::format("{}: {}{}", m.num_layers, layer_summary(m), m.is_encoder ? " (encoder)" : ""));
    if (m.is_mla()) {
        row("attention", fmt::format("{} heads, MLA: kv_lora_rank {}, q_lora_rank {}, qk_nope {} + qk_rope {}, v {}",
                                     m.num_attention_heads, m.kv_lora_rank,
                                     m.q_lora_rank ? std::to_string(m.q_lora_rank) : "none", m.qk_nope_head_dim,
                                     m.qk_rope_head_dim, m.v_head_dim));
    } else {
        const std::string kind = m.num_kv_heads == m.num_attention_heads ? "MHA"
                                 : m.num_kv_heads == 1                   ? "MQA"
                                     : fmt::format("GQA {}:1", m.num_attention_heads / m.num_kv_heads);
        row("attention", fmt::format("{} query / {} KV heads ({}), head_dim {}{}", m.num_attention_heads,
                                     m.num_kv_heads, kind, m.head_dim, m.qkv_bias ? ", qkv bias" : ""));
    }
    row("hidden / MLP", fmt::format("{} / {} ({}, {})", m.hidden_size, m.intermediate_size,
                                    m.mlp == MlpKind::GATED ? "gated" : "fc1/fc2",
                                    m.hidden_act.empty() ? "act unknown" : m.hidden_act));
    if (m.is_moe()) {
        std::string shared = m.shared_expert_intermediate_size
                                 ? fmt::format(", shared MLP {} wide", m.shared_expert_intermediate_size)
                                 : "";
        row("experts", fmt::format("{} routed, top-{}, {} wide{}; {} of {} layers MoE", m.num_experts,
                                   m.experts_per_token, m.moe_intermediate_size, shared,
                                   std::count_if(m.layers.begin(), m.layers.end(), [](auto& l) { return l.moe; }),
                                   m.num_layers));
    }
    row("vocabulary", fmt::format("{}, tied embeddings: {}", group(m.vocab_size), yes_no(m.tie_word_embeddings)));
    if (m.mtp_layers > 0) {
        row("MTP layers", fmt::format("{} (num_nextn_predict_layers: a speculative drafter, method mtp)", m.mtp_layers));
    }
    row("max context", fmt::format("{} tokens{}{}", group(m.max_position_embeddings),
                                   m.rope_scaling.empty() ? "" : ", rope_scaling " + m.rope_scaling,
                                   m.learned_positions ? ", learned positions"
                                   : m.partial_rotary_factor < 1.0
                                       ? fmt::format(", partial rotary {:.2f}", m.partial_rotary_factor)
                                       : ""));

    fmt::print("\nParameters\n");
    row("total", fmt::format("{} ({})", count(p.total()), group(p.total())));
    if (m.is_moe()) {
        row("active per token", fmt::format("{} without the embedding table, {} with it", count(p.active),
                                            count(p.active_with_embedding)));
    }
    row("breakdown", fmt::format("embedding {}, lm_head {}, attention {}, MLP {}{}, norms {}", count(p.embedding),
                                 m.tie_word_embeddings ? "tied" : count(p.lm_head), count(p.attention),
                                 count(p.dense_mlp + p.routed_experts + p.shared_experts + p.router),
                                 m.is_moe() ? fmt::format(" (routed experts {})", count(p.routed_experts)) : "",
                                 count(p.norms)));

    fmt::print("\nWeights (block matrices quantised; embeddings, lm_head, norms and biases stay 16-bit)\n");
    const WeightScheme& shipped = m.shipped;
    const bool say_method = !shipped.method.empty() && shipped.label().find(shipped.method) == std::string::npos;
    row("as shipped", fmt::format("{}{}, {}", shipped.label(), say_method ? " (" + shipped.method + ")" : "",
                                  gb(m.weight_bytes(shipped))));
    for (Dtype d : {Dtype::BF16, Dtype::FP8, Dtype::INT8, Dtype::INT4}) {
        row(d == Dtype::INT4 ? "int4 (g128, fp16 scale)" : std::string(dtype_name(d)), gb(m.weight_bytes(d)));
    }

    if (!m.is_encoder) {
        fmt::print("\nKV cache per token, all layers (bf16 / fp8 / int8)\n");
        row("per token", fmt::format("{} B / {} B / {} B", group(std::llround(m.kv_bytes_per_token(Dtype::BF16))),
                                     group(std::llround(m.kv_bytes_per_token(Dtype::FP8))),
                                     group(std::llround(m.kv_bytes_per_token(Dtype::INT8)))));
        for (AttentionKind k : {AttentionKind::FULL, AttentionKind::SLIDING, AttentionKind::MLA}) {
            auto it = std::find_if(m.layers.begin(), m.layers.end(), [k](auto& l) { return l.attention == k; });
            if (it == m.layers.end()) continue;
            const int64_t i = it - m.layers.begin();
            const int64_t fixed = m.kv_fixed_bytes_per_token(i);
            const std::string formula =
                k == AttentionKind::MLA
                    ? fmt::format("latent {} + rope {}{}{}", m.kv_lora_rank, m.qk_rope_head_dim,
                                  fixed > 0 ? fmt::format("; plus the sparse-attention indexer's fp8 key, {} B", fixed) : "",
                                  m.is_sparse_mla() ? fmt::format("; at fp8 {} B, FlashMLA's sparse layout with fp32 scales and a bf16 rope",
                                                                  group(std::llround(m.kv_token_bytes(i, Dtype::FP8))))
                                                    : "")
                    : fmt::format("2 x {} KV heads x {}", m.num_kv_heads, m.head_dim);
            row(fmt::format("{} layer", attention_kind_name(k)),
                fmt::format("{} B at bf16 ({}){}", group(std::llround(m.kv_token_bytes(i, Dtype::BF16))), formula,
                            k == AttentionKind::SLIDING ? fmt::format(", capped at {} tokens", it->window) : ""));
        }
        std::string at;
        for (int64_t c : card_contexts(m)) {
            at += fmt::format("{}{}: {}", at.empty() ? "" : ", ", short_ctx(c), gb(m.kv_bytes_for_context(c, Dtype::BF16)));
        }
        row("one sequence (bf16)", at);
    }

    fmt::print("\nFLOPs per token\n");
    row("linear layers", fmt::format("{:.2f} GFLOP (2 x active parameters)", m.linear_flops_per_token() / 1e9));
    std::string att;
    for (int64_t c : card_contexts(m)) {
        att += fmt::format("{}{}: {:.2f}", att.empty() ? "" : ", ", short_ctx(c), m.attention_flops_per_token(c) / 1e9);
    }
    row("attention at context", att + " GFLOP");
    row("prefill of 4k tokens", fmt::format("{:.1f} TFLOP", m.prefill_flops(std::min<int64_t>(4096, m.max_position_embeddings)) / 1e12));
}

void print_kv(const ModelCard& m, const GpuProfile& gpu, const KvPlan& p, const std::string& drafter) {
    const KvPlanRequest& r = p.request;
    std::string layout = fmt::format("TP={}", r.tp);
    if (r.pp > 1) layout += fmt::format(", PP={}", r.pp);
    if (r.dp > 1) layout += fmt::format(", DP={}", r.dp);
    if (r.ep > 1) layout += fmt::format(", EP={}", r.ep);
    fmt::print("KV-cache plan: {} on {}, {}, weights {}, KV {}\n", m.name, gpu.display_name, layout,
               m.weights(r.weight_dtype).label(), dtype_name(r.kv_dtype));
    fmt::print("  (per GPU; 1 GB = 1e9 bytes; vLLM V1 accounting, block_size {}, max_model_len {})\n\n", r.block_size,
               group(r.max_model_len));
    row("GPU memory", fmt::format("{} usable ({:g} GiB x {:g} usable)", gb(p.usable_bytes),
                                  gpu.memory_capacity_gib.value, gpu.usable_memory_fraction.value));
    row("budget", fmt::format("{} (x gpu_memory_utilization {:.2f})", gb(p.budget_bytes), r.gpu_memory_utilization));
    row("weights", r.drafter_weight_bytes > 0 || !drafter.empty()
                       ? fmt::format("{} (the speculative drafter, {}: {})", gb(p.weight_bytes), drafter, gb(r.drafter_weight_bytes))
                       : gb(p.weight_bytes));
    if (r.reserve_bytes >= 0.0) {
        row("reserve", fmt::format("{} (given)", gb(p.reserve_bytes)));
    } else {
        const ReserveEstimate& e = p.reserve;
        row("reserve",
            fmt::format(
                "{} (estimate: peak activation {}: the larger of the forward pass at {} batched "
                "tokens, {}, and the sampler for {} sequences, {}, {}+ {} of buffers; "
                "non-torch {}; CUDA graphs {}{})",
                gb(p.reserve_bytes), gb(e.peak_activation()), group(r.max_num_batched_tokens),
                gb(e.activation_bytes), group(std::min(r.max_num_seqs, r.max_num_batched_tokens)),
                gb(e.logits_bytes),
                e.moe_workspace_bytes > 0 ? "+ the fused MoE's workspace " + gb(e.moe_workspace_bytes) + " "
                                          : "",
                gb(e.base_bytes), gb(e.non_torch_bytes),
                e.cuda_graph_bytes > 0 ? gb(e.cuda_graph_bytes) : std::string("none (--no-cuda-graphs)"),
                e.all2all_bytes > 0 ? "; DeepEP buffers " + gb(e.all2all_bytes) : ""));
    }
    row("KV budget", gb(p.kv_budget_bytes));
    const size_t b = static_cast<size_t>(p.binding_stage);
    const int64_t layers = p.stage_layers.empty() ? m.num_layers : p.stage_layers[b];
    if (p.stage_layers.size() > 1) {
        // vLLM's split of the layers, each stage's blocks, and the stage that sets them all
        std::string layers_of, weights_of, blocks_of;
        for (size_t s = 0; s < p.stage_layers.size(); ++s) {
            const char* sep = s == 0 ? "" : " / ";
            layers_of += fmt::format("{}{}", sep, p.stage_layers[s]);
            weights_of += fmt::format("{}{:.2f}", sep, p.stage_weight_bytes[s] / 1e9);
            blocks_of += sep + (p.stage_blocks[s] < 0 ? std::string("none") : group(p.stage_blocks[s]));
        }
        row("stages",
            fmt::format("layers {}, weights {} GB, blocks {} (the first stage holds the embedding, the "
                        "last lm_head and the sampler); vLLM gives every stage the fewest: stage {}'s "
                        "figures here",
                        layers_of, weights_of, blocks_of, b + 1));
    }
    std::string per_token = fmt::format("{} B", group(std::llround(p.kv_bytes_per_token)));
    if (m.is_mla()) {
        per_token +=
            fmt::format(" ({} layer{} x MLA latent {} x {:g} B, not split by TP)", layers,
                        layers == 1 ? "" : "s", m.kv_lora_rank + m.qk_rope_head_dim, dtype_bytes(r.kv_dtype));
    } else {
        per_token +=
            fmt::format(" ({} layer{} x 2 x {} KV head{}{} x {} x {:g} B)", layers, layers == 1 ? "" : "s",
                        p.kv_heads_per_gpu, p.kv_heads_per_gpu == 1 ? "" : "s",
                        p.kv_heads_replicated ? " (replicated)" : "", m.head_dim, dtype_bytes(r.kv_dtype));
    }
    if (r.drafter_kv_bytes_per_token > 0) {  // inside the parenthesis: the total includes the drafter's layers
        per_token.insert(per_token.size() - 1, fmt::format(", plus the drafter's layers' {} B", group(std::llround(r.drafter_kv_bytes_per_token))));
    }
    row("KV per token", per_token);
    if (!p.fits && p.num_blocks == 0) {
        row("fits", "no: " + p.why_not);
        return;
    }
    row("blocks", fmt::format("{} of {} tokens ({} each){}", group(p.num_blocks), r.block_size, gb(p.block_bytes),
                              r.dp > 1 ? fmt::format(" over the {} DP ranks, {} on each", r.dp, group(p.num_blocks / r.dp)) : ""));
    if (p.group_windows.size() > 1) {  // vLLM V1's hybrid allocator: a block is one group's page
        std::string kinds;
        for (int64_t w : p.group_windows) kinds += (kinds.empty() ? "" : ", ") + (w == 0 ? std::string("full") : fmt::format("sliding {}", w));
        row("KV-cache groups", fmt::format("{} of {} layers ({}); sliding groups free blocks the window leaves",
                                           p.group_windows.size(), p.group_layers, kinds));
    }
    row("KV capacity", fmt::format("{} tokens", group(p.kv_tokens)));
    row("max concurrency", fmt::format("{} sequences at {} tokens", group(p.max_concurrency_at_context),
                                       group(r.context)));
    row("longest context", fmt::format("{} tokens at concurrency {}{}", group(p.max_context_at_concurrency),
                                       r.concurrency, p.context_capped_by_max_model_len ? " (max_model_len)" : ""));
    row("fits", p.fits ? "yes" : "no: " + p.why_not);
}

void print_cost(const CostModel& cm, const StepTimePredictor& p, const StepCost& s, const std::string& what) {
    const CostConfig& c = cm.config();
    fmt::print("Step cost: {} on {}, TP={}, weights {}, KV {}, CUDA graphs {}, async scheduling {}: {}\n", cm.model().name,
               cm.gpu().display_name, c.tp, cm.model().weights(c.weight_dtype).label(), dtype_name(c.kv_dtype),
               c.cuda_graphs ? "on" : "off", c.async_scheduling ? "on" : "off", what);
    if (cm.model().is_moe()) {
        fmt::print("  experts: {:.1f} of {} reached in each MoE layer, {} routing (--moe-routing)\n",
                   cm.expected_active_experts(s.run_tokens()), cm.model().num_experts, c.moe_routing.name());
    }
    const bool tables = p.name() == "kernel tables";
    if (!tables && p.name() != "roofline") fmt::print("  predictor: {}\n", p.name());
    if (tables) {
        // (a GPU's own measurements, under a name of their own, are read as they are: no sibling to scale
        // from)
        const std::string sibling =
            !c.kernel_tables || tables_by_name(*c.kernel_tables, cm.gpu()) ? kernel_table_sibling(cm.gpu()) : "";
        const std::string own = c.kernel_tables ? fmt::format(" (from {}: {}, {})", c.kernel_tables->file,
                                                              c.kernel_tables->gpu, c.kernel_tables->source)
                                                : "";
        if (!sibling.empty()) {
            fmt::print(
                "  predictor: {}'s measured kernel tables{} (the same chip) where they cover an op, each "
                "scaled "
                "by the calibrated roofline's time on this GPU over its time on that one; the roofline "
                "elsewhere "
                "(--predictor calibrated or roofline for a roofline alone)\n",
                sibling, own);
        } else {
            fmt::print(
                "  predictor: measured kernel tables{} where they cover an op, the roofline elsewhere "
                "(--predictor roofline for the roofline alone)\n",
                own);
        }
        fmt::print("  (per GPU; count = runs per step; roofline ms = the roofline's time for the op: time / roofline "
                   "is the efficiency it misses)\n\n");
    } else {
        fmt::print("  (per GPU; each op's time blends its compute and memory bounds; count = runs per step)\n\n");
    }
    fmt::print("  {:<20} {:>5} {:>12} {:>11} {:>10} {:>6}  {:<13}{}\n", "op", "count", "GFLOP", "MB", "time ms", "share",
               "bound", tables ? " roofline ms  source" : "");
    double roofline_total = 0;
    for (const OpCost& o : s.ops) {
        roofline_total += o.roofline_s;
        const std::string extra = tables ? fmt::format(" {:>11.4f}  {}", o.roofline_s * 1e3, o.source) : "";
        fmt::print("  {:<20} {:>5} {:>12.3f} {:>11.2f} {:>10.4f} {:>5.1f}%  {:<13}{}\n", o.name, o.count, o.flops / 1e9,
                   o.bytes / 1e6, o.time_s * 1e3, 100.0 * o.time_s / s.time_s, bound_name(o.bound), extra);
    }
    fmt::print("  {:<20} {:>5} {:>12.3f} {:>11.2f} {:>10.4f} {:>5.1f}%  {:<13}{}\n\n", "total", "", s.flops / 1e9,
               s.bytes / 1e6, s.time_s * 1e3, 100.0, "", tables ? fmt::format(" {:>11.4f}", roofline_total * 1e3) : "");
    const GpuProfile& g = cm.gpu();
    const double peak = cm.gemm_peak_flops();
    row("step time", fmt::format("{:.3f} ms for {} tokens in {} sequences", s.time_s * 1e3, group(s.tokens), s.sequences));
    if (const int64_t run = s.run_tokens(); run != s.tokens) {
        row("CUDA graph", fmt::format("the {} tokens run as {}: vLLM pads a step to its next captured graph size, and "
                                      "the GEMMs, norms and all-reduces compute the padding rows too",
                                      group(s.tokens), group(run)));
    }
    if (s.allreduce_norm_fused) {
        row("all-reduces", "FlashInfer's fused all-reduce + residual add + RMSNorm (vLLM's default here): the adds and "
                           "norms after them run inside it");
    }
    if (s.host_hidden_s > 0.0) {
        const OpCost* exposed = s.op(op_name(OpKind::STEP_OVERHEAD));
        row("host time", fmt::format("{:.3f} ms, {:.3f} ms of it hidden behind the GPU's work (async scheduling); a step "
                                     "after an idle spell takes {:.3f} ms",
                                     (s.host_hidden_s + (exposed ? exposed->time_s : 0.0)) * 1e3, s.host_hidden_s * 1e3,
                                     (s.time_s + s.host_hidden_s) * 1e3));
    }
    row("throughput", fmt::format("{} tokens/s (tokens of this step / step time)",
                                  group(std::llround(s.tokens / s.time_s))));
    row("achieved", fmt::format("{:.1f} TFLOP/s ({:.1f}% of the {:g} dense peak), {:.0f} GB/s ({:.1f}% of {:g} GB/s)",
                                s.flops / s.time_s / 1e12, 100.0 * s.flops / s.time_s / peak, peak / 1e12,
                                s.bytes / s.time_s / 1e9, 100.0 * s.bytes / s.time_s / g.memory_bandwidth_bytes_per_s(),
                                g.memory_bandwidth_gb_per_s.value));
}

namespace {
// What times a step on this GPU by default: its measured kernel tables, else its calibrated roofline.
std::string step_times(const GpuProfile& g) {
    if (const std::string sibling = kernel_table_sibling(g); !sibling.empty()) return sibling + "'s tables, scaled";
    if (!kernel_table_gpu(g).empty()) return "kernel tables";
    if (const auto c = shipped_calibration(g.name)) return c->derived_from.empty() ? "calibrated" : "calibrated from " + c->derived_from;
    return "roofline";
}
}  // namespace

void print_gpus(const std::vector<GpuProfile>& gpus) {
    fmt::print("{:<22} {:<38} {:>9} {:>9} {:>9} {:>9} {:>10} {:>6} {:>8}  {}\n", "name", "GPU", "memory", "HBM GB/s",
               "bf16 TF", "fp8 TF", "NVLink GB/s", "TDP W", "$/h", "step times");
    for (const GpuProfile& g : gpus) {
        fmt::print("{:<22} {:<38} {:>6g} GiB {:>9g} {:>9g} {:>9} {:>10} {:>6g} {:>8.4g}  {}\n", g.name, g.display_name,
                   g.memory_capacity_gib.value, g.memory_bandwidth_gb_per_s.value, g.bf16_tflops.value,
                   g.fp8_tflops.present() ? fmt::format("{:g}", g.fp8_tflops.value) : "-",
                   g.has_nvlink() ? fmt::format("{:g}", g.nvlink_bidirectional_gb_per_s.value) : "-", g.tdp_w.value,
                   g.price_usd_per_gpu_hour.value, step_times(g));
    }
    fmt::print("\nAliases, sources and every field: `headroom gpu --gpu NAME`. Override: --gpu-set field=value.\n");
    fmt::print("Step times: measured kernel tables (hardware/kernels/), else a roofline calibrated on them "
               "(hardware/calibrations/; `headroom calibrate`).\n");
}

void print_gpu(const GpuProfile& g) {
    fmt::print("{} ({})\n", g.display_name, g.name);
    if (!g.aliases.empty()) {
        std::string a;
        for (const auto& x : g.aliases) a += (a.empty() ? "" : ", ") + x;
        fmt::print("  aliases: {}\n", a);
    }
    fmt::print("  loaded from: {}\n", g.file);
    const std::string sibling = kernel_table_sibling(g);
    std::string how;
    if (!sibling.empty()) {
        how = fmt::format("{}'s measured kernel tables ({}.hkt; the same chip), each op scaled by the calibrated roofline's "
                          "time here over its time there; calibrated roofline elsewhere (the all-reduces too)",
                          sibling, kernel_table_gpu(g));
    } else if (step_times(g) == "kernel tables") {
        how = "measured kernel tables (" + kernel_table_gpu(g) + ".hkt), calibrated roofline elsewhere";
    } else {
        how = step_times(g) == "roofline" ? "the plain roofline" : "roofline, " + step_times(g);
    }
    fmt::print("  step times: {}\n", how);
    if (!g.notes.empty()) fmt::print("  notes: {}\n", g.notes);
    if (g.memory_shared_with_cpu) fmt::print("  memory is shared with the CPU and the OS\n");
    fmt::print("\n");
    for (const ProfileField& f : profile_fields()) {
        const Sourced& s = g.*(f.member);
        if (!s.present()) continue;
        fmt::print("  {:<44} {:>10g} {:<8} {}\n", f.path, s.value, f.unit, s.source);
    }
    fmt::print("  {:<44} {:>10} {:<8} date the price was read\n", "price.read_on", g.price_read_on, "");
}

void print_cluster(const ClusterTopology& t, const ClusterRoute& route, int64_t from, int64_t to, double bytes,
                   const TransferResult* simulated) {
    const ClusterSpec& c = t.spec();
    fmt::print("Cluster {}: {}\n", c.name, c.display_name);
    fmt::print("  loaded from: {}\n", c.file);
    int64_t node = 0;
    for (const NodeGroup& g : c.groups) {
        const int64_t domain_gpus = g.gpus_per_node * g.nvlink_domain_nodes;
        fmt::print("  {:<12} {} x {} in {} node{} ({}{}{}), {} per node\n", g.name, g.count * g.gpus_per_node, g.gpu, g.count,
                   g.count == 1 ? "" : "s", g.name, node, g.count > 1 ? fmt::format("-{}{}", g.name, node + g.count - 1) : "",
                   g.gpus_per_node);
        node += g.count;
        if (domain_gpus > 1) {
            fmt::print("  {:<12} {} domain{} of {} GPUs, {:g} GB/s per GPU per direction, {:g} us\n", "  NVLink",
                       g.count / g.nvlink_domain_nodes, g.count / g.nvlink_domain_nodes == 1 ? "" : "s", domain_gpus,
                       g.nvlink.bandwidth_gb_per_s.value, g.nvlink.latency_us.value);
        }
        if (g.nics.value > 0) {
            fmt::print("  {:<12} {:g} per node, {:g} GB/s each per direction; GPU to NIC over PCIe at {:g} GB/s\n", "  NICs",
                       g.nics.value, g.nic.bandwidth_gb_per_s.value, g.pcie.bandwidth_gb_per_s.value);
        }
    }
    std::map<VertexKind, int64_t> n;
    for (const TopoVertex& v : t.vertices()) ++n[v.kind];
    if (c.fabric.kind == FabricKind::NONE) {
        fmt::print("  {:<12} none (NVLink only)\n", "fabric");
    } else {
        fmt::print("  {:<12} {}, {}: {} leaf switch{}{}, {:g}-port switches, oversubscription {:g}:1\n", "fabric",
                   c.fabric.technology, c.fabric.kind == FabricKind::RAIL_OPTIMIZED ? "rail-optimised" : "fat tree",
                   n[VertexKind::LEAF], n[VertexKind::LEAF] == 1 ? "" : "es", n[VertexKind::SPINE] ? " and a spine tier" : "",
                   c.fabric.switch_ports.value, c.fabric.oversubscription.value);
    }
    fmt::print("  {:<12} {} GPUs, {} NVLink switch{}, {} NICs, {} lea{}, {} spine; {} links\n", "graph", n[VertexKind::GPU],
               n[VertexKind::NVSWITCH], n[VertexKind::NVSWITCH] == 1 ? "" : "es", n[VertexKind::NIC], n[VertexKind::LEAF],
               n[VertexKind::LEAF] == 1 ? "f" : "ves", n[VertexKind::SPINE], t.edges().size());
    const int64_t half = t.node_count() / 2;
    fmt::print("  {:<12} {} GB/s per direction ({})\n", "bisection", group(std::llround(t.bisection_bytes_per_s() / 1e9)),
               t.node_count() > 1 ? fmt::format("nodes 0-{} against {}-{}", half - 1, half, t.node_count() - 1)
                                  : fmt::format("GPUs 0-{} against {}-{}", t.gpu_count() / 2 - 1, t.gpu_count() / 2, t.gpu_count() - 1));
    std::string path;
    for (size_t v : route.vertices) path += (path.empty() ? "" : " -> ") + t.vertices()[v].name;
    fmt::print("  {:<12} {}\n", fmt::format("route {}-{}", from, to), path);
    if (route.edges.empty()) return;
    fmt::print("  {:<12} {:.2f} us latency, {:g} GB/s at its slowest link\n", "", route.latency_s * 1e6,
               route.bottleneck_bytes_per_s / 1e9);
    if (bytes > 0) {
        fmt::print("  {:<12} {} takes {:.3f} ms on it (latency + bytes / slowest link){}\n", "transfer", gb(bytes),
                   route.transfer_s(bytes) * 1e3,
                   simulated ? fmt::format("; SimGrid, on the platform built from this graph: {:.3f} ms", simulated->duration_s() * 1e3) : "");
    }
}

void print_gpu_fields() {
    fmt::print("Fields of a GPU profile (override with --gpu-set FIELD=VALUE, or a YAML file with `base: NAME`):\n");
    for (const ProfileField& f : profile_fields()) {
        fmt::print("  {:<44} {:<8} {}{}\n", f.path, f.unit, f.required ? "required" : "optional",
                   f.fraction ? ", in (0, 1]" : ", > 0");
    }
}

void print_models(const std::vector<ShippedModel>& shipped, const std::vector<ModelCard>& cards) {
    fmt::print("{:<40} {:<12} {:>9} {:>9} {:>7} {:>14} {:>11}\n", "model", "type", "params", "active", "layers",
               "KV B/token", "max context");
    for (size_t i = 0; i < shipped.size(); ++i) {
        const ModelCard& m = cards[i];
        const ParamBreakdown p = m.params();
        fmt::print("{:<40} {:<12} {:>9} {:>9} {:>7} {:>14} {:>11}\n", shipped[i].hf_id, m.model_type,
                   count(p.total()), m.is_moe() ? count(p.active) : "=", m.num_layers,
                   m.is_encoder ? "-" : group(std::llround(m.kv_bytes_per_token(Dtype::BF16))),
                   group(m.max_position_embeddings));
    }
    fmt::print("\nKV bytes at bf16, no window cap. Use any unique prefix of a name: --model llama-3.1-8b\n");
}

}  // namespace headroom::cli
