// Prediction next to measurement: a scenario run on the executor and summarised exactly as the simulator
// summarises its own runs (same metrics, same SLOs), and the metric-by-metric comparison of the two.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "headroom/executor/measure.hpp"
#include "headroom/sim/analysis.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/metrics.hpp"
#include "headroom/sim/scenario.hpp"

namespace headroom {

// A measured run in the simulator's terms.
struct MeasuredRun {
    SimulationResult result;  // summary (with the scenario's SLOs), plan with the executor's blocks, requests, steps
    ServeInfo info;           // device, layers, memory, wall time
};

// Runs the scenario on the executor (measure_serve) and summarises it. Errors as measure_serve's.
MeasuredRun measure_scenario(const Scenario& sc, const ServeOptions& o);

// One line of a prediction-vs-measurement table.
struct Comparison {
    std::string metric;
    double predicted = 0, measured = 0;
    double rel_error = 0;  // (predicted - measured) / measured; 0 when both are 0
    std::string unit;      // s | req/s | tok/s | requests
};
Comparison comparison(const std::string& metric, double predicted, double measured, const std::string& unit);
std::vector<Comparison> compare(const Summary& predicted, const Summary& measured);

// `validate`: the scenario measured first (the executor sets the KV blocks), then simulated with the same
// blocks and without the API server (nothing stands in front of the executor), then compared.
struct ValidationPair {
    SimulationResult predicted;
    MeasuredRun measured;
    std::vector<Comparison> rows;
};
ValidationPair validate_scenario(Scenario sc, const ServeOptions& o);

// `validate --sweep`: one pair per closed-loop concurrency, and the knee of each curve (output throughput
// against users, confirmed by TTFT p95). `point(users)` makes each point's scenario; `on_point(i, scenario,
// pair)` is called as each finishes (a sweep on a GPU takes minutes).
struct ValidationSweep {
    std::vector<double> users;
    std::vector<ValidationPair> points;
    Knee predicted_knee, measured_knee;
};
ValidationSweep validate_sweep(const std::vector<double>& users, const std::function<Scenario(double)>& point,
                               const ServeOptions& o,
                               const std::function<void(size_t, const Scenario&, const ValidationPair&)>& on_point = {});

}  // namespace headroom
