// JSON lines of measurements: `measure serve` in the simulate schema (docs/simulate-json.md) with the
// device added, and `measure step` (schema headroom.measure-step/1).
#include <nlohmann/json.hpp>

#include "headroom/executor/measure.hpp"
#include "headroom/sim/report.hpp"
#include "headroom/sim/version.hpp"

namespace headroom {

using json = nlohmann::ordered_json;

namespace {

json device_json(const DeviceInfo& d) {
    auto version = [](int v) { return v > 0 ? std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10) : std::string(); };
    return {{"name", d.name}, {"driver_api", version(d.driver_version)}, {"cuda_runtime", version(d.runtime_version)},
            {"memory_bytes", d.memory_bytes}, {"sm_count", d.sm_count}};
}

json percentiles_json(const Percentiles& p) {
    return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p95", p.p95}, {"p99", p.p99}, {"max", p.max}, {"n", p.n}};
}

}  // namespace

std::string serve_json(const Scenario& sc, const ServeResult& r) {
    json j = json::parse(simulation_json(sc, r.result));
    j["source"] = "measured";
    j["device"] = device_json(r.device);
    j["layers_run"] = r.layers_run;
    j["layers_model"] = r.layers_model;
    j["gpu_memory_used_bytes"] = r.memory_used_bytes;
    j["wall_s"] = r.wall_s;
    if (!r.blocks_note.empty()) j["kv_blocks_note"] = r.blocks_note;
    return j.dump();
}

std::string step_json(const ModelCard& m, const GpuProfile& gpu, const StepMeasurement& s) {
    json j;
    j["schema"] = "headroom.measure-step/1";
    j["model"] = m.name;
    j["gpu"] = gpu.name;
    j["device"] = device_json(s.device);
    j["headroom_version"] = std::string(version());
    j["git_commit"] = std::string(git_commit());
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

std::string validate_json(const Scenario& sc, const SimulationResult& predicted, const ServeResult& measured,
                          const std::vector<Comparison>& rows, int64_t users) {
    json j;
    j["schema"] = "headroom.validate/1";
    if (users > 0) j["users"] = users;
    j["predicted"] = json::parse(simulation_json(sc, predicted));
    j["measured"] = json::parse(serve_json(sc, measured));
    j["comparison"] = json::array();
    for (const Comparison& c : rows) {
        j["comparison"].push_back({{"metric", c.metric}, {"predicted", c.predicted}, {"measured", c.measured},
                                   {"rel_error", c.rel_error}, {"unit", c.unit}});
    }
    return j.dump();
}

}  // namespace headroom
