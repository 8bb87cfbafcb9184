// JSON of runs: a simulation (schema headroom.simulate/1), a sweep (one line per point, the simulate schema plus
// its "sweep" fields), a capacity plan (headroom.plan/1), a measured run (the simulate schema with
// "source": "measured" and the device), a measured step (headroom.measure-step/1) and a validation
// (headroom.validate/1). docs/simulate-json.md.
#include "headroom/report/json.hpp"

#include <fmt/format.h>

#include <tuple>

#include "json_common.hpp"

namespace headroom {

using report_detail::add_version;
using report_detail::json;
using report_detail::percentiles_json;

namespace {

// The summary under `vllm bench serve`'s names (vllm/benchmarks/serve.py): counts, throughputs, and mean, median,
// std and the scenario's metric_percentiles of TTFT, TPOT, ITL and E2EL in milliseconds ("p99", "p99.9" as vLLM
// writes them). request_goodput is null without SLOs, as vLLM leaves it without --goodput.
json vllm_names(const Scenario& sc, const Summary& s) {
    json v = {{"completed", s.completed},
              {"failed", s.failed + s.rejected},
              {"duration", s.duration_s},
              {"total_input_tokens", s.input_tokens},
              {"total_output_tokens", s.output_tokens},
              {"request_throughput", s.request_throughput},
              {"request_goodput", s.slos.empty() ? json(nullptr) : json(s.goodput_rps)},
              {"output_throughput", s.output_throughput},
              {"total_token_throughput", s.input_throughput + s.output_throughput}};
    const std::tuple<const char*, const Percentiles*, const std::vector<double>*> metrics[] = {
        {"ttft", &s.ttft_s, &s.ttft_at_s}, {"tpot", &s.tpot_s, &s.tpot_at_s},
        {"itl", &s.itl_s, &s.itl_at_s}, {"e2el", &s.e2e_s, &s.e2e_at_s}};
    for (const auto& [name, p, at] : metrics) {
        v[fmt::format("mean_{}_ms", name)] = p->mean * 1e3;
        v[fmt::format("median_{}_ms", name)] = p->p50 * 1e3;
        v[fmt::format("std_{}_ms", name)] = p->std * 1e3;
        for (size_t i = 0; i < sc.metric_percentiles.size() && i < at->size(); ++i) {
            v[fmt::format("p{:g}_{}_ms", sc.metric_percentiles[i], name)] = (*at)[i] * 1e3;
        }
    }
    return v;
}

json simulation_object(const Scenario& sc, const SimulationResult& r) {
    const Summary& s = r.summary;
    json j;
    j["schema"] = "headroom.simulate/1";
    j["scenario"] = sc.name;
    j["file"] = sc.file;
    j["model"] = sc.deployment.model.name;
    j["gpu"] = sc.deployment.gpu.name;
    j["tp"] = sc.deployment.tp;
    j["replicas"] = sc.deployment.replicas;
    j["weights_dtype"] = sc.deployment.model.weights(sc.deployment.weight_dtype).label();
    j["kv_dtype"] = std::string(dtype_name(sc.deployment.kv_dtype));
    j["predictor"] = r.predictor;
    j["predictor_note"] = r.predictor_note;
    j["moe_routing"] = sc.deployment.model.is_moe() ? json(sc.deployment.moe_routing.name()) : json(nullptr);
    j["seed"] = sc.seed;
    add_version(j);
    j["requests"] = s.requests;
    j["completed"] = s.completed;
    j["rejected"] = s.rejected;
    j["failed"] = s.failed;
    j["duration_s"] = s.duration_s;
    j["ttft_s"] = percentiles_json(s.ttft_s);
    j["tpot_s"] = percentiles_json(s.tpot_s);
    j["itl_s"] = percentiles_json(s.itl_s);
    j["e2e_s"] = percentiles_json(s.e2e_s);
    j["queue_s"] = percentiles_json(s.queue_s);
    j["api_server_s_mean"] = s.api_server_s_mean;
    j["request_throughput"] = s.request_throughput;
    j["output_throughput"] = s.output_throughput;
    j["input_throughput"] = s.input_throughput;
    j["output_tokens_per_s_per_gpu"] = s.output_tokens_per_s_per_gpu;
    j["input_tokens"] = s.input_tokens;
    j["output_tokens"] = s.output_tokens;
    j["goodput_rps"] = s.goodput_rps;
    j["goodput_fraction"] = s.goodput_fraction;
    j["slos"] = json::array();
    for (const SloResult& x : s.slos) {
        j["slos"].push_back({{"metric", x.metric}, {"percentile", x.percentile}, {"threshold_s", x.threshold_s},
                             {"value_s", x.value_s}, {"met", x.met}});
    }
    j["slos_met"] = s.slos_met;
    j["gpus"] = s.gpus;
    j["gpu_hours"] = s.gpu_hours;
    j["cost_usd"] = s.cost_usd;
    j["usd_per_mtok"] = s.usd_per_mtok;
    j["kv_util_mean"] = s.kv_util_mean;
    j["kv_util_peak"] = s.kv_util_peak;
    j["running_mean"] = s.running_mean;
    j["running_peak"] = s.running_peak;
    j["busy_fraction"] = s.busy_fraction;
    j["preemptions"] = s.preemptions;
    j["prefix_hit_tokens"] = s.prefix_hit_tokens;
    j["steps"] = s.steps;
    j["vllm"] = vllm_names(sc, s);
    j["speculative"] = nullptr;
    if (const SpeculativeConfig& sp = sc.engine.speculative; sp.enabled()) {
        const Accounting& a = s.accounting;
        json spec = {{"method", sp.method}, {"num_speculative_tokens", sp.num_speculative_tokens},
                     {"expected_tokens_per_verify", expected_tokens_per_verify(sp, sp.num_speculative_tokens)},
                     {"verifies", a.spec_verifies}, {"drafted", a.spec_drafted}, {"accepted", a.spec_accepted},
                     {"mean_tokens_per_verify", a.tokens_per_verify()}, {"draft_acceptance", a.draft_acceptance()},
                     {"draft_time_share", a.draft_time_share()}};
        if (sp.acceptance_lengths.empty()) spec["acceptance_rate"] = sp.acceptance_rate;
        else spec["acceptance_lengths"] = sp.acceptance_lengths;
        if (!sp.draft_model.empty()) spec["draft_model"] = sp.draft_model;
        j["speculative"] = spec;
    }
    json busiest = s.busiest_link.empty() ? json(nullptr)
                                          : json({{"link", s.busiest_link}, {"bytes", s.busiest_link_bytes},
                                                  {"kv_bytes", s.busiest_link_kv_bytes}, {"utilisation", s.busiest_link_utilisation}});
    json links = json::array();
    for (size_t i = 0; i < s.link_names.size(); ++i) {
        links.push_back({{"link", s.link_names[i]}, {"bytes", s.link_bytes[i]}, {"kv_bytes", s.link_kv_bytes[i]},
                         {"utilisation", s.link_utilisation[i]}});
    }
    j["disaggregation"] = nullptr;
    if (const DisaggregationSpec& d = sc.disaggregation; d.enabled) {
        j["disaggregation"] = {{"prefill", {{"gpu", d.prefill.gpu.name}, {"tp", d.prefill.tp}, {"replicas", d.prefill.replicas}}},
                               {"decode", {{"gpu", sc.deployment.gpu.name}, {"tp", sc.deployment.tp}, {"replicas", sc.deployment.replicas}}},
                               {"cluster", d.cluster ? json(d.cluster->spec().name) : json(nullptr)},
                               {"decision", d.decision}, {"decode_router", d.decode_router},
                               {"requests_disaggregated", s.disaggregated},
                               {"kv_transfer_s", percentiles_json(s.kv_transfer_s)},
                               {"kv_transfer_bytes", s.kv_transfer_bytes},
                               {"prefill_busy_fraction", s.prefill_busy_fraction},
                               {"decode_busy_fraction", s.decode_busy_fraction},
                               {"busiest_link", d.cluster ? busiest : json(nullptr)}};
        j["disaggregation"]["links"] = d.cluster ? links : json(nullptr);
    }
    // every link of the cluster that carried bytes across NVLink domains: KV and collectives (null without a
    // cluster or where nothing crossed one)
    j["network"] = nullptr;
    if (sc.cluster && !s.link_names.empty()) {
        j["network"] = {{"cluster", sc.cluster->spec().name}, {"busiest_link", busiest}, {"links", links}};
    }
    j["parallelism"] = nullptr;
    if (const Deployment& d = sc.deployment; d.pp > 1 || d.dp > 1 || d.expert_parallel || !s.placement.empty()) {
        j["parallelism"] = {{"pp", d.pp}, {"data_parallel", d.dp}, {"expert_parallel", d.expert_parallel}, {"ep", d.ep()},
                            {"gpus_per_replica", d.gpus_per_replica()},
                            {"bubble_share", d.pp > 1 ? json(s.accounting.bubble_share()) : json(nullptr)},
                            {"expert_imbalance", d.ep() > 1 ? json(s.expert_imbalance) : json(nullptr)},
                            {"all2all_backend", d.ep() > 1 && d.dp > 1 ? json(d.all2all_backend) : json(nullptr)},
                            {"all2all_buffer_bytes", d.ep() > 1 && d.dp > 1 ? json(r.plan.reserve.all2all_bytes) : json(nullptr)},
                            {"placement", s.placement.empty() ? json(nullptr) : json(s.placement)}};
    }
    j["kv_blocks"] = r.plan.num_blocks;
    j["simulated_s"] = r.simulated_s;
    return j;
}

json device_json(const DeviceInfo& d) {
    auto version = [](int v) { return v > 0 ? std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10) : std::string(); };
    return {{"name", d.name}, {"driver_api", version(d.driver_version)}, {"cuda_runtime", version(d.runtime_version)},
            {"memory_bytes", d.memory_bytes}, {"sm_count", d.sm_count}};
}

json measured_object(const Scenario& sc, const MeasuredRun& r) {
    json j = simulation_object(sc, r.result);
    j["source"] = "measured";
    j["device"] = device_json(r.info.device);
    j["layers_run"] = r.info.layers_run;
    j["layers_model"] = r.info.layers_model;
    j["gpu_memory_used_bytes"] = r.info.memory_used_bytes;
    j["wall_s"] = r.info.wall_s;
    if (!r.info.blocks_note.empty()) j["kv_blocks_note"] = r.info.blocks_note;
    return j;
}

}  // namespace

std::string simulation_json(const Scenario& sc, const SimulationResult& r) { return simulation_object(sc, r).dump(); }

std::string capacity_json(const CapacityRequest& req, const CapacityPlan& plan, int top) {
    json j;
    j["schema"] = "headroom.plan/1";
    j["model"] = plan.base.deployment.model.name;
    j["qps"] = req.qps;
    j["workload"] = plan.base.file;
    add_version(j);
    j["simulations"] = plan.simulations;
    j["speculative"] = nullptr;
    if (plan.speculative.enabled()) {
        j["speculative"] = {{"method", plan.speculative.method}, {"num_speculative_tokens", plan.speculative.num_speculative_tokens},
                            {"label", plan.speculative.label()}, {"acceptance_assumed", plan.speculative_assumed}};
    }
    j["configurations"] = json::array();
    int shown = 0;
    for (const CapacityCandidate& c : plan.ranked) {
        if (shown++ >= top) break;
        const Summary& m = c.at_target.summary;
        const int64_t ptp = c.prefill_tp > 0 ? c.prefill_tp : c.tp;
        j["configurations"].push_back({{"gpu", c.gpu}, {"tp", c.tp}, {"pp", c.pp}, {"replicas", c.replicas},
                                       {"prefill_replicas", c.prefill_replicas},
                                       {"prefill_gpu", c.prefill_replicas > 0 ? json(c.prefill_gpu.empty() ? c.gpu : c.prefill_gpu) : json(nullptr)},
                                       {"prefill_tp", c.prefill_replicas > 0 ? json(ptp) : json(nullptr)},
                                       {"gpus", c.replicas * c.gpus_per_replica() + c.prefill_replicas * ptp},
                                       {"weights_dtype", c.weights}, {"speculative", c.speculative},
                                       {"kv_dtype", std::string(dtype_name(c.kv_dtype))},
                                       {"max_num_batched_tokens", c.max_num_batched_tokens}, {"meets", c.meets},
                                       {"usd_per_hour", c.usd_per_hour}, {"usd_per_mtok", c.usd_per_mtok},
                                       {"output_tokens_per_s_per_gpu", c.tokens_per_s_per_gpu},
                                       {"sustained_rate_per_replica", c.prefill_replicas > 0 ? json(nullptr) : json(c.sustained_rate_per_replica)},
                                       {"headroom_rate", c.prefill_replicas > 0 ? json(nullptr) : json(c.headroom_rate)}, {"joules_per_token_estimate", c.joules_per_token},
                                       {"ttft_s_p95", m.ttft_s.p95}, {"tpot_s_p95", m.tpot_s.p95},
                                       {"output_throughput", m.output_throughput},
                                       {"vllm", vllm_names(plan.base, m)}});
    }
    j["skipped"] = plan.skipped;
    j["disaggregated_link"] = plan.disaggregated_link.empty() ? json(nullptr) : json(plan.disaggregated_link);
    return j.dump();
}

namespace {

// The swept fields' values of a point, one key per field ({"kv_dtype": "fp8", "gpu": "h200"}; {} without axes).
json axes_object(const std::vector<std::pair<std::string, std::string>>& coords) {
    json j = json::object();
    for (const auto& [k, v] : coords) j[k] = v;
    return j;
}

}  // namespace

namespace {

// A series' capacity answer (sweep.hpp CapacityEstimate); loads null where the kind has none.
json capacity_object(const CapacityEstimate& c) {
    using K = CapacityEstimate::Kind;
    const char* kind = c.kind == K::BRACKETED ? "bracketed" : c.kind == K::ABOVE_RANGE ? "above_range" : c.kind == K::BELOW_RANGE ? "below_range" : "none";
    const bool has_load = c.kind == K::BRACKETED || c.kind == K::ABOVE_RANGE;
    const bool has_fail = c.kind == K::BRACKETED || c.kind == K::BELOW_RANGE;
    json j = {{"kind", kind},
              {"load", has_load ? json(c.load) : json(nullptr)},
              {"load_text", has_load ? json(c.load_text) : json(nullptr)},
              {"fail_load", has_fail ? json(c.fail_load) : json(nullptr)},
              {"fail_text", has_fail ? json(c.fail_text) : json(nullptr)},
              {"grid_load", has_load ? json(c.grid_load) : json(nullptr)},
              {"grid_fail_load", has_fail ? json(c.grid_fail_load) : json(nullptr)},
              {"simulations", c.simulations},
              {"sentence", c.sentence}};
    const Summary& m = c.result.summary;
    j["request_throughput"] = has_load ? json(m.request_throughput) : json(nullptr);
    j["output_throughput"] = has_load ? json(m.output_throughput) : json(nullptr);
    j["usd_per_mtok"] = has_load ? json(m.usd_per_mtok) : json(nullptr);
    return j;
}

}  // namespace

std::string sweep_json_lines(const SweepRequest& req, const SweepResult& r) {
    std::string out;
    for (const SweepSeries& s : r.series) {
        for (size_t i : s.points) {
            const SweepPoint& p = r.points[i];
            json j = p.fits ? simulation_object(p.scenario, p.result) : json::object();
            j["sweep"] = {{"load_kind", req.load_kind == LoadKind::CONCURRENCY ? "concurrency" : "qps"},
                          {"load", p.load},
                          {"load_text", p.load_text},
                          {"series", s.series},
                          {"axes", axes_object(p.coords)},
                          {"fits", p.fits},
                          {"why_not", p.why_not},
                          {"cause", p.explanation.cause},
                          {"explanation", p.explanation.sentence},
                          {"knee_found", s.knee.found},
                          {"knee_load", s.knee.found ? json(s.knee.load) : json(nullptr)},
                          {"is_knee", s.knee.found && s.knee.index == i},
                          {"stable_found", s.stable_found},
                          {"max_stable_load", s.stable_found ? json(s.max_stable_load) : json(nullptr)},
                          {"capacity", capacity_object(s.capacity)},
                          {"knee_relation", s.knee_relation}};
            if (i == s.first_failing) {
                json cf = json::array();
                for (const CounterfactualResult& c : s.counterfactuals) {
                    json x = {{"change", c.change.label}, {"overrides", c.change.overrides}, {"fits", c.fits},
                              {"restores", c.restores}, {"usd_per_hour", c.usd_per_hour},
                              {"cost_factor", s.usd_per_hour > 0 ? c.usd_per_hour / s.usd_per_hour : 0.0},
                              {"sentence", c.sentence}};
                    if (c.fits) {
                        x["usd_per_mtok"] = c.result.summary.usd_per_mtok;
                        json slos = json::array();
                        for (const SloResult& t : c.result.summary.slos) {
                            slos.push_back({{"metric", t.metric}, {"percentile", t.percentile},
                                            {"value_s", t.value_s}, {"met", t.met}});
                        }
                        x["slos"] = slos;
                    }
                    cf.push_back(x);
                }
                j["sweep"]["counterfactuals"] = cf;
            }
            out += j.dump() + "\n";
        }
    }
    return out;
}

std::string serve_json(const Scenario& sc, const MeasuredRun& r) { return measured_object(sc, r).dump(); }

std::string step_json(const ModelCard& m, const GpuProfile& gpu, const StepMeasurement& s) {
    json j;
    j["schema"] = "headroom.measure-step/1";
    j["model"] = m.name;
    j["gpu"] = gpu.name;
    j["device"] = device_json(s.device);
    add_version(j);
    j["kind"] = s.kind;
    j["tokens"] = s.tokens;
    j["sequences"] = s.sequences;
    j["context"] = s.context;
    j["layers_run"] = s.layers_run;
    j["layers_model"] = s.layers_model;
    j["layer_scale"] = s.layer_scale;
    j["cuda_graphs"] = s.cuda_graphs;
    j["step_s"] = percentiles_json(s.step_s);
    j["predicted_s"] = s.predicted_s;
    j["flops"] = s.flops;
    j["bytes"] = s.bytes;
    j["achieved_tflops"] = s.achieved_flops_per_s / 1e12;
    j["achieved_gb_per_s"] = s.achieved_bytes_per_s / 1e9;
    j["peak_tflops"] = s.peak_flops_per_s / 1e12;
    j["peak_gb_per_s"] = s.peak_bytes_per_s / 1e9;
    j["profiled_total_s"] = s.profiled_total_s;
    j["ops"] = json::array();
    for (const OpMeasurement& o : s.ops) {
        j["ops"].push_back({{"name", o.name}, {"measured_s", o.measured_s}, {"predicted_s", o.predicted_s}, {"bound", o.bound}});
    }
    return j.dump();
}

std::string validate_json(const Scenario& sc, const SimulationResult& predicted, const MeasuredRun& measured,
                          const std::vector<Comparison>& rows, int64_t users) {
    json j;
    j["schema"] = "headroom.validate/1";
    if (users > 0) j["users"] = users;
    j["predicted"] = simulation_object(sc, predicted);
    j["measured"] = measured_object(sc, measured);
    j["comparison"] = json::array();
    for (const Comparison& c : rows) {
        j["comparison"].push_back({{"metric", c.metric}, {"predicted", c.predicted}, {"measured", c.measured},
                                   {"rel_error", c.rel_error}, {"unit", c.unit}});
    }
    return j.dump();
}

std::string validate_knee_json(const ValidationSweep& s) {
    auto knee = [](const Knee& k) { return k.found ? json(k.load) : json(nullptr); };
    json j;
    j["schema"] = "headroom.validate-knee/1";
    j["predicted_knee_users"] = knee(s.predicted_knee);
    j["measured_knee_users"] = knee(s.measured_knee);
    return j.dump();
}

}  // namespace headroom
