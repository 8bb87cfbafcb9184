// What `headroom simulate` prints and writes.
#pragma once

#include <string>

#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"
#include "headroom/sim/capacity.hpp"
#include "headroom/sim/report.hpp"
#include "headroom/sim/sweep.hpp"

namespace headroom::cli {

// `measured`: a run of `measure serve` (real time) rather than a simulation.
void print_simulation(const Scenario& sc, const SimulationResult& r, bool measured = false);
void write_requests_csv(const std::string& path, const SimulationResult& r);
void write_chrome_trace(const std::string& path, const Scenario& sc, const SimulationResult& r);

void print_sweep(const SweepRequest& req, const SweepResult& r);

void print_capacity(const CapacityRequest& req, const CapacityPlan& plan, int top);


}  // namespace headroom::cli
