// The SimGrid part of headroom: actors and the step loop (platform.cpp builds cluster platforms). Nothing else
// in sim/ includes SimGrid.
// Per event SimGrid costs about 0.7 us for sleep_for and 3 us for a mailbox transfer (build notes), so each
// engine step is one sleep_for and each arrival one mailbox message.
#include <simgrid/s4u.hpp>

#include <algorithm>
#include <chrono>
#include <memory>

#include "headroom/core/cost_model.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/replica_loop.hpp"
#include "simgrid_contexts.hpp"

namespace sg4 = simgrid::s4u;

namespace headroom {

KvPlan scenario_kv_plan(const Scenario& sc) {
    return deployment_kv_plan(sc.deployment, sc.engine, sc.file.empty() ? "scenario" : sc.file);
}

namespace {

// The core's serving loop on SimGrid's clock: it waits with sleep_until, in the one actor that runs it.
class SimGridClock : public LoopClock {
public:
    double now() const override { return sg4::Engine::get_clock(); }
    double wait_until(double t_s) override {
        sg4::this_actor::sleep_until(t_s);
        return t_s;
    }
};


class Simulation {
public:
    Simulation(const Scenario& sc, const KvPlan& plan)
        : sc_(sc), plan_(plan), predictor_(make_step_predictor(sc.deployment, sc.engine)) {}

    void run(SimulationResult& out, const SimulationOptions& options) {
        int argc = 3;
        // raw contexts switch stacks by hand, which AddressSanitizer cannot follow: under it, one thread per actor
        char arg0[] = "headroom-sim", arg1[] = "--log=root.thresh:critical", arg2[] = HEADROOM_CONTEXTS;
        char* argv[] = {arg0, arg1, arg2, nullptr};
        sg4::Engine engine(&argc, argv);
        auto* zone = sg4::create_full_zone("deployment");
        sg4::Host* frontend = zone->create_host("frontend", 1e9);
        zone->seal();

        PredictedStepRunner runner(*predictor_);
        SimGridClock clock;
        RecordingOptions recording;
        recording.keep_requests = options.keep_requests;
        recording.keep_all_steps = options.keep_all_steps;
        recording.step_points = options.timeseries_points;
        if (options.requests_sink) {
            RequestSink* sink = options.requests_sink.get();
            recording.on_record = [sink](const RequestRecord& r) { sink->add(r); };
        }
        ReplicaLoop loop(sc_.workload, sc_.seed, serving_config(sc_.deployment, sc_.engine, plan_), *predictor_, runner, clock,
                         std::move(recording));
        sg4::Actor::create("deployment", frontend, [&loop] { loop.run(); });

        const auto t0 = std::chrono::steady_clock::now();
        engine.run();
        out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        out.simulated_s = sg4::Engine::get_clock();
        out.scenario = sc_.name;
        out.predictor = predictor_->name();
        out.plan = plan_;
        out.summary = summarize(sc_, loop.stats(), loop.accounting());
        out.timeseries = loop.take_steps();
        out.requests = loop.take_requests();
    }

private:
    const Scenario& sc_;
    KvPlan plan_;
    std::unique_ptr<StepTimePredictor> predictor_;
};

}  // namespace

SimulationResult simulate_in_this_process(const Scenario& sc, const SimulationOptions& options) {
    const KvPlan plan = scenario_kv_plan(sc);
    SimulationResult out;
    Simulation sim(sc, plan);
    if (options.requests_sink) options.requests_sink->begin();
    try {
        sim.run(out, options);
    } catch (...) {
        if (options.requests_sink) options.requests_sink->abandon();
        throw;
    }
    if (options.requests_sink) options.requests_sink->end();
    return out;
}

}  // namespace headroom
