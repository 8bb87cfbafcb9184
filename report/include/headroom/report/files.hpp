// The files a run writes next to its table: the per-request CSV (the columns of `vllm bench serve`'s
// per-request output, plus headroom's) and the Chrome/Perfetto timeline of engine steps and requests.
#pragma once

#include <memory>
#include <string>

#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"

namespace headroom {

// Whether an output file can be written, checked before any work starts (a long simulation must not end in
// "cannot write"). Creates the file to find out, and removes it again if it was not there before.
bool can_write(const std::string& path);
void write_requests_csv(const std::string& path, const SimulationResult& r);
// The same file written row by row as the simulation's requests are done (in id order), in its child
// process: a million-request run never holds its records. A failed run removes the file.
std::shared_ptr<RequestSink> requests_csv_sink(const std::string& path);
// Chrome trace-event JSON (chrome://tracing, ui.perfetto.dev): one process per replica's engine steps and one
// per replica's requests; each event built as a JSON object.
void write_chrome_trace(const std::string& path, const Scenario& sc, const SimulationResult& r);

}  // namespace headroom
