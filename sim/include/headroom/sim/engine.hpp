// The discrete-event serving simulation on SimGrid S4U: the engine core's ReplicaLoop (workload, router,
// each replica's scheduler) runs in one actor on SimGrid's clock, each step timed by the step-time predictor
// and waited for with sleep_until. `measure serve` runs the same loop on the wall clock.
// SimGrid's Engine is a process singleton whose clock never resets, so every simulation runs in a child
// process (fork) and sends its result back through a pipe; the calling process never simulates.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/sim/metrics.hpp"
#include "headroom/sim/scenario.hpp"

namespace headroom {

// Where each request's record goes as it is done, in id order, in the simulation's child process (the
// --requests file): begin() before the run, add() per record, end() after it; abandon() when the run fails
// (no partial file is left).
class RequestSink {
public:
    virtual ~RequestSink() = default;
    virtual void begin() {}
    virtual void add(const RequestRecord& r) = 0;
    virtual void end() {}
    virtual void abandon() {}
};

struct SimulationOptions {
    bool keep_all_steps = false;       // every engine step in the result (for --trace); else a sample
    int64_t timeseries_points = 2000;  // per replica, when not keeping all steps (between this and twice as many)
    bool keep_requests = false;        // every request's record in the result (Python, --trace)
    std::shared_ptr<RequestSink> requests_sink;  // each record as it is done (--requests)
    // Collectives across NVLink domains: as flows on the cluster's network where a link of theirs may carry another
    // flow at the same time (SHARED, the default; elsewhere their closed form is what flows would take), as flows
    // always (ALWAYS), or in the predictor's closed form on the routes' slowest links (NEVER); for comparisons.
    enum class FabricFlows { SHARED, ALWAYS, NEVER };
    FabricFlows fabric_flows = FabricFlows::SHARED;
};

struct SimulationResult {
    std::string scenario;
    std::string predictor;  // the step-time predictor that timed the steps ("kernel tables", "roofline (calibrated)", "measured")
    Summary summary;
    KvPlan plan;
    std::vector<RequestRecord> requests;  // in id order, with SimulationOptions::keep_requests
    std::vector<StepSample> timeseries;   // a sample of the steps, or all of them
    double simulated_s = 0.0;  // simulated clock at the end
    double wall_s = 0.0;       // wall time of the simulation itself, in the child
    double peak_rss_bytes = 0.0;  // the child's peak resident memory (what the run needed, fork included)
    std::string predictor_note;   // StepTimePredictor::note(): what it prices otherwise ("" when nothing)
};

// The KV plan a scenario runs with (deployment_kv_plan); throws PlanError naming the scenario's file when it
// does not fit. The scheduler, cost-model and loop settings come from core/deployment.hpp, for the simulator
// and `measure serve` alike.
KvPlan scenario_kv_plan(const Scenario& sc);

// Thrown by simulate() and simulate_many() when the interrupt check asks them to stop; their child processes are
// killed and reaped first.
struct Interrupted : std::exception {
    const char* what() const noexcept override { return "interrupted"; }
};
// A check that the waiting parent calls about every 100 ms while children simulate (the Python bindings: Ctrl-C,
// Jupyter's "interrupt kernel"); when it returns true the run stops with Interrupted. Empty: never checked. It
// belongs to the calling thread: runs on other threads neither see it nor are stopped by it.
void set_interrupt_check(std::function<bool()> check);

// Runs in a forked child process; safe to call any number of times from one process.
SimulationResult simulate(const Scenario& sc, const SimulationOptions& options = {});
// Runs several simulations in parallel child processes, at most `jobs` at a time; results in input order.
// `on_done(finished)` is called in this process each time one finishes.
std::vector<SimulationResult> simulate_many(const std::vector<Scenario>& scenarios, const SimulationOptions& options,
                                            int jobs, const std::function<void(size_t)>& on_done = {});

// Runs in this process: at most once per process (SimGrid's clock never resets). Used by the children.
SimulationResult simulate_in_this_process(const Scenario& sc, const SimulationOptions& options);

// Runs `work` in a forked child and returns what it returned (its exception's message rethrown here as
// std::runtime_error): for other one-engine-per-process SimGrid runs (simulate_transfers). `name` is for messages.
std::string run_in_child(const std::function<std::string()>& work, const std::string& name);

// Bytes of a result, for the pipe between child and parent.
std::string serialize_result(const SimulationResult& r);
SimulationResult deserialize_result(const std::string& bytes);

}  // namespace headroom
