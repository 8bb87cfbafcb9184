// JSON reports of simulations, sweeps and capacity plans: the schemas documented in docs/simulate-json.md,
// written in one place for the CLI and the Python bindings.
#include "headroom/sim/report.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "headroom/sim/version.hpp"

namespace headroom {

using json = nlohmann::ordered_json;

namespace {

json percentiles_json(const Percentiles& p) {
    return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p95", p.p95}, {"p99", p.p99}, {"max", p.max}, {"n", p.n}};
}

json simulation_object(const Scenario& sc, const SimulationResult& r) {
    const Summary& s = r.summary;
    json j;
    j["schema"] = "headroom.simulate/1";
    j["scenario"] = sc.name;
    j["file"] = sc.file;
    j["model"] = sc.model.name;
    j["gpu"] = sc.gpu.name;
    j["tp"] = sc.tp;
    j["replicas"] = sc.replicas;
    j["weights_dtype"] = std::string(dtype_name(sc.weight_dtype));
    j["kv_dtype"] = std::string(dtype_name(sc.kv_dtype));
    j["predictor"] = r.predictor;
    j["seed"] = sc.seed;
    j["headroom_version"] = std::string(version());
    j["git_commit"] = std::string(git_commit());
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
    j["kv_blocks"] = r.plan.num_blocks;
    j["simulated_s"] = r.simulated_s;
    return j;
}

}  // namespace

std::string simulation_json(const Scenario& sc, const SimulationResult& r) { return simulation_object(sc, r).dump(); }

std::string capacity_json(const CapacityRequest& req, const CapacityPlan& plan, int top) {
    json j;
    j["schema"] = "headroom.plan/1";
    j["model"] = plan.base.model.name;
    j["qps"] = req.qps;
    j["workload"] = plan.base.file;
    j["headroom_version"] = std::string(version());
    j["git_commit"] = std::string(git_commit());
    j["simulations"] = plan.simulations;
    j["configurations"] = json::array();
    int shown = 0;
    for (const CapacityCandidate& c : plan.ranked) {
        if (shown++ >= top) break;
        const Summary& m = c.at_target.summary;
        j["configurations"].push_back({{"gpu", c.gpu}, {"tp", c.tp}, {"replicas", c.replicas}, {"gpus", c.replicas * c.tp},
                                       {"weights_dtype", std::string(dtype_name(c.weight_dtype))},
                                       {"kv_dtype", std::string(dtype_name(c.kv_dtype))},
                                       {"max_num_batched_tokens", c.max_num_batched_tokens}, {"meets", c.meets},
                                       {"usd_per_hour", c.usd_per_hour}, {"usd_per_mtok", c.usd_per_mtok},
                                       {"tokens_per_s_per_gpu", c.tokens_per_s_per_gpu},
                                       {"sustained_rate_per_replica", c.sustained_rate_per_replica},
                                       {"headroom_rate", c.headroom_rate}, {"joules_per_token_estimate", c.joules_per_token},
                                       {"ttft_p95_s", m.ttft_s.p95}, {"tpot_p95_s", m.tpot_s.p95},
                                       {"output_throughput", m.output_throughput}});
    }
    j["skipped"] = plan.skipped;
    return j.dump();
}

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
                          {"fits", p.fits},
                          {"why_not", p.why_not},
                          {"cause", p.explanation.cause},
                          {"explanation", p.explanation.sentence},
                          {"knee_found", s.knee.found},
                          {"knee_load", s.knee.found ? json(s.knee.load) : json(nullptr)},
                          {"is_knee", s.knee.found && s.knee.index == i},
                          {"stable_found", s.stable_found},
                          {"max_stable_load", s.stable_found ? json(s.max_stable_load) : json(nullptr)}};
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

}  // namespace headroom
