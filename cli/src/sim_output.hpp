// What `headroom simulate`, `sweep` and `plan` print (the files they write: report/files.hpp).
#pragma once

#include <string>

#include "headroom/report/files.hpp"
#include "headroom/report/json.hpp"
#include "headroom/sim/capacity.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"
#include "headroom/sim/sweep.hpp"

namespace headroom::cli {

// `measured`: a run of `measure serve` (real time) rather than a simulation.
void print_simulation(const Scenario& sc, const SimulationResult& r, bool measured = false);
void print_sweep(const SweepRequest& req, const SweepResult& r);

void print_capacity(const CapacityRequest& req, const CapacityPlan& plan, int top);


}  // namespace headroom::cli
