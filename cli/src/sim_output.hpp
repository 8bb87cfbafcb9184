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
// Whether an output file can be written, checked before any work starts (a long simulation must not end in
// "cannot write"). Creates the file to find out, and removes it again if it was not there before.
bool can_write(const std::string& path);
void write_chrome_trace(const std::string& path, const Scenario& sc, const SimulationResult& r);

void print_sweep(const SweepRequest& req, const SweepResult& r);

void print_capacity(const CapacityRequest& req, const CapacityPlan& plan, int top);


}  // namespace headroom::cli
