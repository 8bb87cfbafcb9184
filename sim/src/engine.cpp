// The SimGrid part of headroom: platform, actors, and the step loop. Nothing else in sim/ includes SimGrid.
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

#if defined(__SANITIZE_ADDRESS__)
#define HEADROOM_CONTEXTS "--cfg=contexts/factory:thread"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEADROOM_CONTEXTS "--cfg=contexts/factory:thread"
#endif
#endif
#ifndef HEADROOM_CONTEXTS
#define HEADROOM_CONTEXTS "--cfg=contexts/factory:raw"
#endif

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
        ReplicaLoop loop(sc_.workload, sc_.seed, serving_config(sc_.deployment, sc_.engine, plan_), *predictor_, runner, clock);
        sg4::Actor::create("deployment", frontend, [&loop] { loop.run(); });

        const auto t0 = std::chrono::steady_clock::now();
        engine.run();
        out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        out.simulated_s = sg4::Engine::get_clock();
        out.scenario = sc_.name;
        out.predictor = predictor_->name();
        out.plan = plan_;
        out.summary = summarize(sc_, loop.requests(), loop.itls(), loop.steps(), loop.accounting());
        std::vector<StepSample> steps = loop.take_steps();
        if (options.keep_all_steps) {
            out.timeseries = std::move(steps);
        } else {
            // an even sample per replica, keeping the step order
            std::vector<int64_t> per(sc_.deployment.replicas, 0);
            for (const auto& s : steps) ++per[s.replica];
            std::vector<int64_t> seen(sc_.deployment.replicas, 0);
            for (const auto& s : steps) {
                const int64_t n = per[s.replica];
                const int64_t k = seen[s.replica]++;
                const int64_t stride = std::max<int64_t>(1, n / std::max<int64_t>(1, options.timeseries_points));
                if (k % stride == 0) out.timeseries.push_back(s);
            }
        }
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
    sim.run(out, options);
    return out;
}

}  // namespace headroom
