#include "headroom/report/measured.hpp"

#include <utility>

namespace headroom {

MeasuredRun measure_scenario(const Scenario& sc, const ServeOptions& o) {
    ServeResult s = measure_serve(sc.deployment, sc.engine, sc.workload, sc.seed, o, sc.file.empty() ? "scenario" : sc.file);
    MeasuredRun out;
    SimulationResult& r = out.result;
    r.scenario = sc.name;
    r.predictor = s.predictor;
    r.simulated_s = s.end_s;
    r.summary = summarize(sc, s.stats, s.accounting);
    r.plan = s.plan;
    r.timeseries = std::move(s.steps);
    r.requests = std::move(s.requests);
    out.info = s.info;
    return out;
}

Comparison comparison(const std::string& metric, double predicted, double measured, const std::string& unit) {
    Comparison c;
    c.metric = metric;
    c.predicted = predicted;
    c.measured = measured;
    c.unit = unit;
    c.rel_error = measured != 0.0 ? (predicted - measured) / measured : (predicted == 0.0 ? 0.0 : 1.0);
    return c;
}

std::vector<Comparison> compare(const Summary& p, const Summary& m) {
    std::vector<Comparison> rows;
    auto add = [&](const std::string& name, double pv, double mv, const char* unit) {
        rows.push_back(comparison(name, pv, mv, unit));
    };
    auto pct = [&](const std::string& name, const Percentiles& a, const Percentiles& b) {
        add(name + " p50", a.p50, b.p50, "s");
        add(name + " p95", a.p95, b.p95, "s");
        add(name + " p99", a.p99, b.p99, "s");
    };
    pct("TTFT", p.ttft_s, m.ttft_s);
    pct("TPOT", p.tpot_s, m.tpot_s);
    pct("ITL", p.itl_s, m.itl_s);
    pct("E2E", p.e2e_s, m.e2e_s);
    add("request throughput", p.request_throughput, m.request_throughput, "req/s");
    add("output throughput", p.output_throughput, m.output_throughput, "tok/s");
    add("completed", static_cast<double>(p.completed), static_cast<double>(m.completed), "requests");
    return rows;
}

ValidationPair validate_scenario(Scenario sc, const ServeOptions& o) {
    ValidationPair p;
    p.measured = measure_scenario(sc, o);
    sc.engine.kv_blocks_limit = p.measured.result.plan.num_blocks;
    sc.engine.api_server = ApiServer{};  // the engine alone, as it was measured
    p.predicted = simulate(sc);
    p.rows = compare(p.predicted.summary, p.measured.result.summary);
    return p;
}

ValidationSweep validate_sweep(const std::vector<double>& users, const std::function<Scenario(double)>& point,
                               const ServeOptions& o,
                               const std::function<void(size_t, const Scenario&, const ValidationPair&)>& on_point) {
    ValidationSweep out;
    out.users = users;
    std::vector<double> pred_tput, meas_tput, pred_tail, meas_tail;
    for (size_t i = 0; i < users.size(); ++i) {
        const Scenario sc = point(users[i]);
        out.points.push_back(validate_scenario(sc, o));
        const ValidationPair& p = out.points.back();
        pred_tput.push_back(p.predicted.summary.output_throughput);
        meas_tput.push_back(p.measured.result.summary.output_throughput);
        pred_tail.push_back(p.predicted.summary.ttft_s.p95);
        meas_tail.push_back(p.measured.result.summary.ttft_s.p95);
        if (on_point) on_point(i, sc, p);
    }
    out.predicted_knee = detect_knee(users, pred_tput, pred_tail);
    out.measured_knee = detect_knee(users, meas_tput, meas_tail);
    return out;
}

}  // namespace headroom
