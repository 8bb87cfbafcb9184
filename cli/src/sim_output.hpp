// What `headroom simulate` prints and writes.
#pragma once

#include <string>

#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"

namespace headroom::cli {

void print_simulation(const Scenario& sc, const SimulationResult& r);
std::string simulation_json(const Scenario& sc, const SimulationResult& r);  // one line, docs/simulate-json.md
void write_requests_csv(const std::string& path, const SimulationResult& r);
void write_chrome_trace(const std::string& path, const Scenario& sc, const SimulationResult& r);

}  // namespace headroom::cli
