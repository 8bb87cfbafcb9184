// JSON reports (one line each): a simulation (schema headroom.simulate/1), a sweep (one line per point, the
// simulate schema plus its "sweep" fields) and a capacity plan (headroom.plan/1). docs/simulate-json.md.
#pragma once

#include <string>

#include "headroom/sim/capacity.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/sweep.hpp"

namespace headroom {

std::string simulation_json(const Scenario& sc, const SimulationResult& r);
std::string sweep_json_lines(const SweepRequest& req, const SweepResult& r);
std::string capacity_json(const CapacityRequest& req, const CapacityPlan& plan, int top);

}  // namespace headroom
