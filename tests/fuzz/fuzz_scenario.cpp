// Fuzzes the scenario loader (sim/scenario): every input is a checked scenario or a ScenarioError (models,
// GPUs and traces it names come from the shipped files). A scenario that loads also gets its KV plan, which
// must be a plan or a PlanError.
#include <cstdint>

#include "fuzz_common.hpp"
#include "headroom/models/input_error.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const headroom::Scenario s = headroom::parse_scenario(headroom::fuzz::text(data, size), "fuzz.yaml", HEADROOM_SOURCE_DIR);
        (void)headroom::scenario_kv_plan(s);
    } catch (const headroom::InputError&) {
    } catch (const std::exception& e) {
        headroom::fuzz::finding(e.what());
    }
    return 0;
}
