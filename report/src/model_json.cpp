// JSON of the inspection commands (card, kv, cost, calibrate, gpus, gpu, models): one object per command, on
// one line, with the headroom version and git commit. Byte counts are plain numbers of bytes; field names
// carry their units.
#include "headroom/report/json.hpp"

#include <cmath>

#include "headroom/core/kernel_table_predictor.hpp"
#include "json_common.hpp"

namespace headroom {

using report_detail::json;
using report_detail::stamp;

namespace {

json model_json(const ModelCard& m) {
    json j;
    j["name"] = m.name;
    j["source"] = m.source;
    j["model_type"] = m.model_type;
    j["architecture"] = m.architecture;
    j["family"] = m.family;
    j["is_encoder"] = m.is_encoder;
    j["hidden_size"] = m.hidden_size;
    j["num_layers"] = m.num_layers;
    j["num_attention_heads"] = m.num_attention_heads;
    j["num_kv_heads"] = m.num_kv_heads;
    j["head_dim"] = m.head_dim;
    j["intermediate_size"] = m.intermediate_size;
    j["vocab_size"] = m.vocab_size;
    j["max_position_embeddings"] = m.max_position_embeddings;
    j["tie_word_embeddings"] = m.tie_word_embeddings;
    j["rope_scaling"] = m.rope_scaling;
    j["mtp_layers"] = m.mtp_layers;
    j["partial_rotary_factor"] = m.partial_rotary_factor;
    j["layers"] = {{"full", m.count_layers(AttentionKind::FULL)},
                   {"sliding", m.count_layers(AttentionKind::SLIDING)},
                   {"mla", m.count_layers(AttentionKind::MLA)},
                   {"sliding_window", m.sliding_window}};
    if (m.is_moe()) {
        j["moe"] = {{"num_experts", m.num_experts},
                    {"experts_per_token", m.experts_per_token},
                    {"moe_intermediate_size", m.moe_intermediate_size},
                    {"num_shared_experts", m.num_shared_experts},
                    {"shared_expert_intermediate_size", m.shared_expert_intermediate_size},
                    {"first_k_dense_replace", m.first_k_dense_replace},
                    {"moe_layers", std::count_if(m.layers.begin(), m.layers.end(), [](auto& l) { return l.moe; })}};
    } else {
        j["moe"] = nullptr;
    }
    if (m.is_mla()) {
        j["mla"] = {{"kv_lora_rank", m.kv_lora_rank},
                    {"q_lora_rank", m.q_lora_rank},
                    {"qk_rope_head_dim", m.qk_rope_head_dim},
                    {"qk_nope_head_dim", m.qk_nope_head_dim},
                    {"v_head_dim", m.v_head_dim}};
    } else {
        j["mla"] = nullptr;
    }
    j["guessed"] = m.guessed;
    return j;
}

json params_json(const ParamBreakdown& p) {
    return {{"total", p.total()},
            {"active", p.active},
            {"active_with_embedding", p.active_with_embedding},
            {"embedding", p.embedding},
            {"lm_head", p.lm_head},
            {"attention", p.attention},
            {"dense_mlp", p.dense_mlp},
            {"routed_experts", p.routed_experts},
            {"shared_experts", p.shared_experts},
            {"router", p.router},
            {"norms", p.norms},
            {"pooler", p.pooler},
            {"quantizable", p.quantizable}};
}

json sourced(const Sourced& s) { return {{"value", s.value}, {"source", s.source}}; }

json profile_json(const GpuProfile& g) {
    json step;
    step["kernel_tables"] = kernel_table_gpu(g).empty() ? json(nullptr) : json(kernel_table_gpu(g));
    // a GPU that borrows a sibling's tables, scaled by the roofline (kernel_table_sibling): the sibling's profile
    step["kernel_tables_borrowed_from"] = kernel_table_sibling(g).empty() ? json(nullptr) : json(kernel_table_sibling(g));
    if (const auto c = shipped_calibration(g.name)) {
        step["calibration"] = {{"derived_from", c->derived_from.empty() ? json(nullptr) : json(c->derived_from)}};
    } else {
        step["calibration"] = nullptr;
    }
    json j;
    j["name"] = g.name;
    j["display_name"] = g.display_name;
    j["aliases"] = g.aliases;
    j["file"] = g.file;
    j["memory_shared_with_cpu"] = g.memory_shared_with_cpu;
    j["price_read_on"] = g.price_read_on;
    json fields = json::object();
    for (const ProfileField& f : profile_fields()) {
        const Sourced& s = g.*(f.member);
        if (s.present()) fields[std::string(f.path)] = sourced(s);
    }
    j["fields"] = fields;
    j["step_times"] = step;
    return j;
}

}  // namespace

std::string card_json(const ModelCard& m) {
    json j = stamp("card");
    j["model"] = model_json(m);
    j["params"] = params_json(m.params());
    json w;
    for (Dtype d : {Dtype::BF16, Dtype::FP8, Dtype::INT8, Dtype::INT4}) w[std::string(dtype_name(d))] = m.weight_bytes(d);
    j["weight_bytes"] = w;
    auto format = [](const WeightFormat& f) { return json{{"dtype", std::string(dtype_name(f.dtype))}, {"bytes_per_weight", f.bytes_per_weight}}; };
    j["weights_as_shipped"] = {{"label", m.shipped.label()}, {"method", m.shipped.method}, {"bytes", m.weight_bytes(m.shipped)},
                               {"attention", format(m.shipped.attention)}, {"dense_mlp", format(m.shipped.dense_mlp)},
                               {"experts", format(m.shipped.experts)}};
    if (!m.is_encoder) {
        json kv, per_layer = json::object();
        for (Dtype d : {Dtype::BF16, Dtype::FP8, Dtype::INT8}) kv[std::string(dtype_name(d))] = m.kv_bytes_per_token(d);
        for (size_t i = 0; i < m.layers.size(); ++i) {
            const std::string kind(attention_kind_name(m.layers[i].attention));
            if (per_layer.contains(kind)) continue;
            json e;
            for (Dtype d : {Dtype::BF16, Dtype::FP8, Dtype::INT8}) {
                e[std::string(dtype_name(d))] = m.kv_token_bytes(static_cast<int64_t>(i), d);
            }
            e["layers"] = m.count_layers(m.layers[i].attention);
            e["window"] = m.layers[i].window;
            per_layer[kind] = e;
        }
        j["kv_bytes_per_token"] = kv;
        j["kv_bytes_per_token_per_layer"] = per_layer;
        json at = json::object();
        for (int64_t c : card_contexts(m)) at[std::to_string(c)] = m.kv_bytes_for_context(c, Dtype::BF16);
        j["kv_bytes_per_sequence_bf16"] = at;
    }
    json flops;
    flops["linear_per_token"] = m.linear_flops_per_token();
    json att = json::object();
    for (int64_t c : card_contexts(m)) att[std::to_string(c)] = m.attention_flops_per_token(c);
    flops["attention_per_token_at_context"] = att;
    flops["prefill_4096"] = m.prefill_flops(std::min<int64_t>(4096, m.max_position_embeddings));
    j["flops"] = flops;
    return j.dump();
}

std::string kv_json(const ModelCard& m, const GpuProfile& gpu, const KvPlan& p, const std::string& drafter) {
    const KvPlanRequest& r = p.request;
    json j = stamp("kv");
    j["model"] = m.name;
    j["gpu"] = gpu.name;
    j["request"] = {{"tp", r.tp},
                    {"pp", r.pp},
                    {"dp", r.dp},
                    {"ep", r.ep},
                    {"weights_dtype", m.weights(r.weight_dtype).label()},
                    {"kv_dtype", std::string(dtype_name(r.kv_dtype))},
                    {"gpu_memory_utilization", r.gpu_memory_utilization},
                    {"block_size", r.block_size},
                    {"max_model_len", r.max_model_len},
                    {"max_num_batched_tokens", r.max_num_batched_tokens},
                    {"max_num_seqs", r.max_num_seqs},
                    {"context", r.context},
                    {"concurrency", r.concurrency},
                    {"speculative_drafter", drafter.empty() ? json(nullptr) : json(drafter)}};
    j["per_gpu"] = {{"usable_bytes", p.usable_bytes},
                    {"budget_bytes", p.budget_bytes},
                    {"weight_bytes", p.weight_bytes},
                    {"drafter_weight_bytes", r.drafter_weight_bytes},
                    {"drafter_kv_bytes_per_token", r.drafter_kv_bytes_per_token},
                    {"reserve_bytes", p.reserve_bytes},
                    {"reserve_estimate",
                     {{"peak_activation_bytes", p.reserve.peak_activation()},
                      {"activation_bytes", p.reserve.activation_bytes},
                      {"logits_bytes", p.reserve.logits_bytes},
                      {"moe_workspace_bytes", p.reserve.moe_workspace_bytes},
                      {"base_bytes", p.reserve.base_bytes},
                      {"non_torch_bytes", p.reserve.non_torch_bytes},
                      {"cuda_graph_bytes", p.reserve.cuda_graph_bytes},
                      {"all2all_bytes", p.reserve.all2all_bytes}}},
                    {"kv_budget_bytes", p.kv_budget_bytes},
                    {"kv_bytes_per_token", p.kv_bytes_per_token},
                    {"kv_heads_per_gpu", p.kv_heads_per_gpu},
                    {"kv_heads_replicated", p.kv_heads_replicated},
                    {"block_bytes", p.block_bytes},
                    {"num_blocks", p.num_blocks},
                    {"kv_cache_groups", {{"layers_per_group", p.group_layers}, {"windows", p.group_windows}}},
                    {"kv_tokens", p.kv_tokens},
                    {"sequence_bytes_at_context", p.sequence_bytes_at_context},
                    {"max_concurrency_at_context", p.max_concurrency_at_context},
                    {"max_context_at_concurrency", p.max_context_at_concurrency},
                    {"context_capped_by_max_model_len", p.context_capped_by_max_model_len}};
    json stages = json::array();
    for (size_t s = 0; s < p.stage_layers.size(); ++s) {
        stages.push_back({{"first_layer", p.stage_first_layer[s]},
                          {"layers", p.stage_layers[s]},
                          {"weight_bytes", p.stage_weight_bytes[s]},
                          {"reserve_bytes", p.stage_reserve_bytes[s]},
                          {"blocks", p.stage_blocks[s] < 0 ? json(nullptr) : json(p.stage_blocks[s])}});
    }
    j["stages"] = stages;
    j["binding_stage"] = p.binding_stage;
    j["fits"] = p.fits;
    j["why_not"] = p.why_not;
    return j.dump();
}

std::string cost_json(const CostModel& cm, const StepTimePredictor& p, const StepCost& s, const std::string& what) {
    const CostConfig& c = cm.config();
    json j = stamp("cost");
    j["model"] = cm.model().name;
    j["gpu"] = cm.gpu().name;
    j["batch"] = what;
    j["predictor"] = p.name();
    j["config"] = {{"tp", c.tp},
                   {"weights_dtype", cm.model().weights(c.weight_dtype).label()},
                   {"kv_dtype", std::string(dtype_name(c.kv_dtype))},
                   {"cuda_graphs", c.cuda_graphs},
                   {"step_overhead_s", c.step_overhead_s},
                   {"async_scheduling", c.async_scheduling},
                   {"fuse_allreduce_rms", c.fuse_allreduce_rms},
                   {"moe_routing", cm.model().is_moe() ? json(c.moe_routing.name()) : json(nullptr)}};
    j["tokens"] = s.tokens;
    j["graph_tokens"] = s.run_tokens();  // the tokens the token-wise ops ran over (CUDA graph padding)
    j["sequences"] = s.sequences;
    j["time_s"] = s.time_s;
    j["host_hidden_s"] = s.host_hidden_s;  // async scheduling: a step after an idle spell adds it
    j["flops"] = s.flops;
    j["bytes"] = s.bytes;
    j["ops"] = json::array();
    for (const OpCost& o : s.ops) {
        j["ops"].push_back({{"name", o.name},
                            {"count", o.count},
                            {"flops", o.flops},
                            {"bytes", o.bytes},
                            {"time_s", o.time_s},
                            {"roofline_s", o.roofline_s},
                            {"source", o.source},
                            {"compute_s", o.compute_s},
                            {"memory_s", o.memory_s},
                            {"comm_s", o.comm_s},
                            {"overhead_s", o.overhead_s},
                            {"bound", std::string(bound_name(o.bound))}});
    }
    return j.dump();
}

std::string calibration_json(const Calibration& c) {
    json j = stamp("calibrate");
    j["gpu"] = c.gpu;
    j["fitted_on"] = c.fitted_on;
    j["derived_from"] = c.derived_from.empty() ? json(nullptr) : json(c.derived_from);
    j["dtype"] = c.dtype;
    auto fit = [](const FitQuality& q) {
        return json{{"points", q.points}, {"l2_warm_left_out", q.l2_warm_left_out}, {"median_abs_rel_error", q.median_abs_rel_error}, {"p90_abs_rel_error", q.p90_abs_rel_error}};
    };
    auto gemm = [&fit](const GemmCalibration& g, const FitQuality& q) {
        return json{{"launch_s", g.launch_s},
                    {"compute_efficiency", g.compute_efficiency},
                    {"memory_efficiency", g.memory_efficiency},
                    {"blend_exponent", g.blend_exponent},
                    {"mainloop_s_per_k", g.mainloop_s_per_k},
                    {"activation_bytes_per_element", g.activation_bytes},
                    {"output_bytes_per_element", g.output_bytes},
                    {"row_s", g.row_s},
                    {"wave_exponent", g.wave_exponent},
                    {"fit", fit(q)}};
    };
    j["gemm"] = gemm(c.gemm, c.gemm_fit);
    j["gemm_fp8"] = c.gemm_fp8.present() ? gemm(c.gemm_fp8, c.gemm_fp8_fit) : json(nullptr);
    if (c.has_attention()) {
        const AttentionCalibration& p = c.prefill_attention;
        const AttentionCalibration& d = c.decode_attention;
        j["prefill_attention"] = {{"launch_s", p.launch_s},           {"compute_efficiency", p.compute_efficiency},
                                  {"memory_efficiency", p.memory_efficiency}, {"blend_exponent", p.blend_exponent},
                                  {"score_flops", p.score_flops},     {"wave_exponent", p.wave_exponent},
                                  {"item_s", p.item_s},               {"fit", fit(c.prefill_attention_fit)}};
        // the kernel terms: 0 where the fit has none (calibration.hpp)
        j["decode_attention"] = {{"launch_s", d.launch_s},
                                 {"memory_efficiency", d.memory_efficiency},
                                 {"blend_exponent", d.blend_exponent},
                                 {"item_s", d.item_s},
                                 {"unsplit_bytes_per_s", d.unsplit_bytes_per_s},
                                 {"repack_s", d.repack_s},
                                 {"combine_s", d.combine_s},
                                 {"fit", fit(c.decode_attention_fit)}};
    } else {
        j["prefill_attention"] = nullptr;
        j["decode_attention"] = nullptr;
    }
    auto mla = [&](const MlaCalibration& a, const FitQuality& q) -> json {
        return {{"block_s", a.block_s},
                {"token_s", a.token_s},
                {"token_head_s", a.token_head_s},
                {"attention_scale", a.attention_scale},
                {"fp8_kv_attention_scale", a.fp8_kv_attention_scale},
                {"fp8_kv_block_s", a.fp8_kv_block_s},
                {"block_fp8_block_s", a.block_fp8_block_s},
                {"block_fp8_token_s", a.block_fp8_token_s},
                {"block_fp8_token_head_s", a.block_fp8_token_head_s},
                {"head_block_reread", a.head_block_reread},
                {"longest_s_per_byte", a.longest_s_per_byte},
                {"fit", fit(q)}};
    };
    j["mla_prefill"] = c.has_mla() ? mla(c.mla_prefill, c.mla_prefill_fit) : json(nullptr);
    j["mla_decode"] = c.has_mla() ? mla(c.mla_decode, c.mla_decode_fit) : json(nullptr);
    // the fused-MoE fits by weight format (calibration.hpp's MoeCalibration): {} when the data held none
    j["moe"] = json::object();
    for (const auto& [format, f] : c.moe) {
        const auto q = c.moe_fit.find(format);
        j["moe"][format] = {
            {"fixed_s", f.fixed_s}, {"compute", f.compute},
            {"weights", f.weights}, {"local_pairs", f.local_pairs},
            {"pairs", f.pairs},     {"expert_s", f.expert_s},
            {"waves", f.waves},     {"fit", fit(q != c.moe_fit.end() ? q->second : FitQuality{})}};
    }
    j["allreduce"] = json::object();
    for (const auto& [gpus, a] : c.allreduce) {
        j["allreduce"][std::to_string(gpus)] = {{"latency_s", a.latency_s}, {"bus_bytes_per_s", a.bus_bytes_per_s}};
    }
    return j.dump();
}

std::string gpus_json(const std::vector<GpuProfile>& gpus) {
    json j = stamp("gpus");
    j["gpus"] = json::array();
    for (const GpuProfile& g : gpus) j["gpus"].push_back(profile_json(g));
    return j.dump();
}

std::string gpu_json(const GpuProfile& g) {
    json j = stamp("gpu");
    j["gpu"] = profile_json(g);
    return j.dump();
}

std::string cluster_json(const ClusterTopology& t, const ClusterRoute& route, int64_t from, int64_t to, double bytes,
                         const TransferResult* simulated) {
    json j = stamp("cluster");
    const ClusterSpec& c = t.spec();
    j["name"] = c.name;
    j["display_name"] = c.display_name;
    j["file"] = c.file;
    j["gpus"] = t.gpu_count();
    j["nodes"] = t.node_count();
    j["groups"] = json::array();
    for (const NodeGroup& g : c.groups) {
        j["groups"].push_back({{"name", g.name}, {"count", g.count}, {"gpu", g.gpu}, {"gpus_per_node", g.gpus_per_node},
                               {"nvlink_domain_nodes", g.nvlink_domain_nodes},
                               {"nvlink_bytes_per_s", g.nvlink.bandwidth_gb_per_s.value * 1e9},
                               {"nics", g.nics.value}, {"nic_bytes_per_s", g.nic.bandwidth_gb_per_s.value * 1e9}});
    }
    const char* kinds[] = {"none", "rail_optimized", "fat_tree"};
    j["fabric"] = {{"kind", kinds[static_cast<int>(c.fabric.kind)]}, {"technology", c.fabric.technology},
                   {"oversubscription", c.fabric.kind == FabricKind::NONE ? json(nullptr) : json(c.fabric.oversubscription.value)}};
    json counts = json::object();
    for (const TopoVertex& v : t.vertices()) counts[std::string(vertex_kind_name(v.kind))] = counts.value(std::string(vertex_kind_name(v.kind)), 0) + 1;
    j["vertices"] = counts;
    j["links"] = t.edges().size();
    j["bisection_bytes_per_s"] = t.bisection_bytes_per_s();
    json path = json::array();
    for (size_t v : route.vertices) path.push_back(t.vertices()[v].name);
    j["route"] = {{"from_gpu", from}, {"to_gpu", to}, {"path", path}, {"latency_s", route.latency_s},
                  {"bottleneck_bytes_per_s", std::isfinite(route.bottleneck_bytes_per_s) ? json(route.bottleneck_bytes_per_s) : json(nullptr)}};
    if (bytes > 0) {
        j["transfer"] = {{"bytes", bytes}, {"closed_form_s", route.transfer_s(bytes)},
                         {"simulated_s", simulated ? json(simulated->duration_s()) : json(nullptr)}};
    }
    return j.dump();
}

std::string models_json(const std::vector<ShippedModel>& shipped, const std::vector<ModelCard>& cards) {
    json j = stamp("models");
    j["models"] = json::array();
    for (size_t i = 0; i < shipped.size(); ++i) {
        const ModelCard& m = cards[i];
        const ParamBreakdown p = m.params();
        j["models"].push_back({{"name", shipped[i].name},
                               {"hf_id", shipped[i].hf_id},
                               {"model_type", m.model_type},
                               {"params", p.total()},
                               {"active_params", p.active},
                               {"num_layers", m.num_layers},
                               {"kv_bytes_per_token_bf16", m.is_encoder ? 0.0 : m.kv_bytes_per_token(Dtype::BF16)},
                               {"max_position_embeddings", m.max_position_embeddings}});
    }
    return j.dump();
}

}  // namespace headroom
