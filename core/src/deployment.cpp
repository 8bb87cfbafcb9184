#include "headroom/core/deployment.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "headroom/core/host_overlap.hpp"
#include "headroom/core/kernel_table_predictor.hpp"

namespace headroom {

EngineConfig with_vllm_defaults(EngineConfig e, const GpuProfile& gpu) {
    if (e.limits_gpu == gpu.name) return e;
    const BatchLimits v = vllm_serve_defaults(gpu);
    if (!e.max_num_batched_tokens_set) e.max_num_batched_tokens = v.max_num_batched_tokens;
    if (!e.max_num_seqs_set) e.max_num_seqs = v.max_num_seqs;
    e.limits_gpu = gpu.name;
    return e;
}

const std::vector<std::pair<std::string, bool>>& all2all_backends() {
    // vllm/config/parallel.py's All2AllBackend, those whose dispatch headroom models
    static const std::vector<std::pair<std::string, bool>> backends = {
        {"allgather_reducescatter", true}, {"naive", true},          {"deepep_high_throughput", false},
        {"deepep_low_latency", false},     {"pplx", false},          {"flashinfer_all2allv", false}};
    return backends;
}

std::string unknown_all2all_backend(const std::string& backend) {
    std::vector<std::string> names;
    for (const auto& b : all2all_backends()) {
        if (b.first == backend) return "";
        names.push_back(b.first);
    }
    return fmt::format("'{}' is not one of {}", backend, fmt::join(names, ", "));
}

bool all2all_gathers(const std::string& backend) {
    for (const auto& [name, gathers] : all2all_backends()) {
        if (name == backend) return gathers;
    }
    return true;
}

KvPlan deployment_kv_plan(const Deployment& d, const EngineConfig& engine, const std::string& where) {
    const EngineConfig e = with_vllm_defaults(engine, d.gpu);  // a pool's own GPU decides its defaults
    KvPlanRequest r;
    r.tp = d.tp;
    r.pp = d.pp;
    r.pp_layer_partition = d.pp_layer_partition;
    r.dp = d.dp;
    r.weight_dtype = d.weight_dtype;
    r.kv_dtype = d.kv_dtype;
    r.gpu_memory_utilization = e.gpu_memory_utilization;
    r.block_size = e.block_size;
    r.max_model_len = e.max_model_len;
    r.max_num_batched_tokens = e.max_num_batched_tokens;
    r.max_num_seqs = e.max_num_seqs;
    r.reserve_bytes = e.reserve_bytes;
    r.cuda_graphs = e.cuda_graphs;
    set_expert_parallel(r, d.model, d.expert_parallel, d.all2all_backend);
    if (e.speculative.enabled()) {
        const DrafterMemory dm = drafter_memory(d.model, e.speculative, d.tp, d.weight_dtype, d.kv_dtype);
        r.drafter_weight_bytes = dm.weight_bytes;
        r.drafter_kv_bytes_per_token = dm.kv_bytes_per_token;
    }
    if (d.model.is_encoder) {
        // An encoder keeps no KV cache; its "blocks" only bound how many tokens are in flight at once.
        KvPlan p;
        p.request = r;
        p.request.max_model_len = e.max_model_len > 0 ? e.max_model_len : d.model.max_position_embeddings;
        p.fits = true;
        p.num_blocks = 1 << 20;
        return p;
    }
    KvPlan p = plan_kv(d.model, d.gpu, r);
    if (!p.fits) throw PlanError(where, d.model.name + " does not fit on " + d.gpu.name + ": " + p.why_not);
    if (e.kv_blocks_limit > 0) p.num_blocks = std::min(p.num_blocks, e.kv_blocks_limit);
    return p;
}

SchedulerConfig scheduler_config(const Deployment& d, const EngineConfig& engine, const KvPlan& plan) {
    const EngineConfig e = with_vllm_defaults(engine, d.gpu);
    SchedulerConfig c;
    // DP ranks each run an engine of these limits; the replica's one scheduler stands for all of them
    c.max_num_batched_tokens = e.max_num_batched_tokens * d.dp;
    c.max_num_seqs = e.max_num_seqs * d.dp;
    if (d.dp > 1) c.max_chunk_tokens = e.max_num_batched_tokens;
    c.ranks = d.dp;  // each request pinned to one rank
    c.block_size = e.block_size;
    c.num_blocks = plan.num_blocks;
    c.max_model_len = plan.request.max_model_len;
    c.chunked_prefill = e.chunked_prefill;
    c.async_scheduling = e.async_scheduling;
    c.prefix_caching = e.prefix_caching;
    c.policy = e.policy;
    if (e.speculative.enabled()) c.num_speculative_tokens = e.speculative.num_speculative_tokens;
    // KV-cache groups where layers slide: a hybrid model's from the plan; one sliding group for a model whose
    // every layer slides (window - 1 + budget tokens held at most while a chunk is computed, its window after)
    const ModelCard& m = d.model;
    if (plan.group_windows.size() > 1) {
        c.group_windows = plan.group_windows;
    } else if (!m.layers.empty() && m.count_layers(AttentionKind::SLIDING) == m.num_layers) {
        c.group_windows = {m.widest_window()};
    }
    return c;
}

CostConfig cost_config(const Deployment& d, const EngineConfig& e) {
    CostConfig c;
    c.tp = d.tp;
    c.dp = d.dp;
    c.ep = d.ep();
    c.expert_imbalance = d.expert_imbalance;
    c.ep_gather = all2all_gathers(d.all2all_backend);
    c.moe_routing = d.moe_routing;
    c.tp_link = d.links.tp;
    c.tp_domains = d.links.tp_domains;
    c.ep_link = d.links.ep;
    c.ep_fabric_share = d.links.ep_fabric_share;
    c.weight_dtype = d.weight_dtype;
    c.kv_dtype = d.kv_dtype;
    c.cuda_graphs = e.cuda_graphs;
    // vLLM's max_cudagraph_capture_size (config/vllm.py): min(max_num_seqs x decode query length x 2, 512), no more
    // than the step's token budget; with speculative decoding a decode's query is 1 + k tokens, and the captured
    // sizes are rounded up to multiples of it (CompilationConfig.adjust_cudagraph_sizes_for_spec_decode)
    const int64_t query = e.speculative.enabled() ? 1 + e.speculative.num_speculative_tokens : 1;
    c.cuda_graph_multiple = query;
    c.cuda_graph_max_tokens = std::min<int64_t>(std::min<int64_t>(2 * query * e.max_num_seqs, 512), e.max_num_batched_tokens);
    c.step_overhead_s = e.step_overhead_s;
    c.async_scheduling = e.async_scheduling;
    c.fuse_allreduce_rms = e.fuse_allreduce_rms;
    c.calibration = d.calibration;
    c.kernel_tables = d.kernel_tables;
    return c;
}

ServingConfig serving_config(const Deployment& d, const EngineConfig& e, const KvPlan& plan) {
    ServingConfig c;
    c.scheduler = scheduler_config(d, e, plan);
    c.replicas = d.replicas;
    c.router = d.router;
    c.api_server = e.api_server;
    c.stop_s = e.stop_s;
    if (e.speculative.enabled()) c.speculative = e.speculative;
    return c;
}

std::unique_ptr<StepTimePredictor> make_step_predictor(const Deployment& d, const EngineConfig& e) {
    CostConfig c = cost_config(d, e);
    c.async_scheduling = false;  // hidden host time is the whole step's: wrapped last, below
    std::unique_ptr<StepTimePredictor> target = make_step_predictor(d.model, d.gpu, c, d.predictor);
    if (d.pp > 1 || d.dp > 1) {
        // the all-gather of a hop's slices runs inside a stage's TP group: on NVLink, or on the fabric where the
        // group spans domains
        target = std::make_unique<ParallelPredictor>(
            std::move(target), d.pp, d.dp, d.model.hidden_size,
            d.links.stage.present() ? d.links.stage : peer_link(d.gpu), d.tp,
            d.links.tp_domains > 1 && d.links.tp.present() ? d.links.tp : peer_link(d.gpu),
            c.cuda_graphs ? c.cuda_graph_max_tokens : 0,
            pipeline_stage_shares(d.model, d.pp, d.pp_layer_partition));
    }
    auto whole = [&](std::unique_ptr<StepTimePredictor> p) -> std::unique_ptr<StepTimePredictor> {
        if (e.async_scheduling) return std::make_unique<AsyncHostPredictor>(std::move(p));
        return p;
    };
    if (!e.speculative.enabled()) return whole(std::move(target));
    // The drafter runs inside the engine step (vLLM captures it in the same CUDA graphs): no host time of its own.
    std::unique_ptr<StepTimePredictor> drafter;
    if (const std::optional<ModelCard> card = drafter_card(d.model, e.speculative)) {
        CostConfig dc = c;
        dc.step_overhead_s = 0.0;
        if (e.speculative.method == "eagle" || e.speculative.method == "eagle3") dc.weight_dtype = Dtype::BF16;  // heads ship in bf16
        drafter = make_step_predictor(*card, d.gpu, dc, d.predictor);
    }
    return whole(std::make_unique<SpeculativePredictor>(std::move(target), std::move(drafter), e.speculative.num_speculative_tokens));
}

}  // namespace headroom
