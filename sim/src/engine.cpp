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
    KvPlanRequest r;
    r.tp = sc.tp;
    r.weight_dtype = sc.weight_dtype;
    r.kv_dtype = sc.kv_dtype;
    r.gpu_memory_utilization = sc.gpu_memory_utilization;
    r.block_size = sc.block_size;
    r.max_model_len = sc.max_model_len;
    r.max_num_batched_tokens = sc.max_num_batched_tokens;
    r.max_num_seqs = sc.max_num_seqs;
    r.reserve_bytes = sc.reserve_bytes;
    if (sc.model.is_encoder) {
        // An encoder keeps no KV cache; its "blocks" only bound how many tokens are in flight at once.
        KvPlan p;
        p.request = r;
        p.request.max_model_len = sc.max_model_len > 0 ? sc.max_model_len : sc.model.max_position_embeddings;
        p.fits = true;
        p.num_blocks = 1 << 20;
        return p;
    }
    KvPlan p = plan_kv(sc.model, sc.gpu, r);
    if (!p.fits) throw PlanError(sc.file.empty() ? "scenario" : sc.file, sc.model.name + " does not fit on " + sc.gpu.name + ": " + p.why_not);
    if (sc.kv_blocks_limit > 0) p.num_blocks = std::min(p.num_blocks, sc.kv_blocks_limit);
    return p;
}

SchedulerConfig scheduler_config(const Scenario& sc, const KvPlan& plan) {
    SchedulerConfig c;
    c.max_num_batched_tokens = sc.max_num_batched_tokens;
    c.max_num_seqs = sc.max_num_seqs;
    c.block_size = sc.block_size;
    c.num_blocks = plan.num_blocks;
    c.max_model_len = plan.request.max_model_len;
    c.chunked_prefill = sc.chunked_prefill;
    c.prefix_caching = sc.prefix_caching;
    c.policy = sc.policy;
    // A model whose every layer slides never holds more than window - 1 + budget tokens (plus a block).
    const ModelCard& m = sc.model;
    if (!m.layers.empty() && m.count_layers(AttentionKind::SLIDING) == m.num_layers) {
        const int64_t held = m.layers[0].window - 1 + sc.max_num_batched_tokens;
        c.max_blocks_per_sequence = (held + sc.block_size - 1) / sc.block_size + 1;
    }
    return c;
}

CostConfig cost_config(const Scenario& sc) {
    CostConfig c;
    c.tp = sc.tp;
    c.weight_dtype = sc.weight_dtype;
    c.kv_dtype = sc.kv_dtype;
    c.cuda_graphs = sc.cuda_graphs;
    c.step_overhead_s = sc.step_overhead_s;
    c.calibration = sc.calibration;
    return c;
}

ServingConfig serving_config(const Scenario& sc, const KvPlan& plan) {
    ServingConfig c;
    c.scheduler = scheduler_config(sc, plan);
    c.replicas = sc.replicas;
    c.router = sc.router;
    c.api_server = sc.api_server;
    return c;
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
        : sc_(sc), plan_(plan), predictor_(make_step_predictor(sc.model, sc.gpu, cost_config(sc), sc.predictor)) {}

    void run(SimulationResult& out, const SimulationOptions& options) {
        int argc = 3;
        char arg0[] = "headroom-sim", arg1[] = "--log=root.thresh:critical", arg2[] = "--cfg=contexts/factory:raw";
        char* argv[] = {arg0, arg1, arg2, nullptr};
        sg4::Engine engine(&argc, argv);
        auto* zone = sg4::create_full_zone("deployment");
        sg4::Host* frontend = zone->create_host("frontend", 1e9);
        zone->seal();

        PredictedStepRunner runner(*predictor_);
        SimGridClock clock;
        ReplicaLoop loop(sc_.workload, sc_.seed, serving_config(sc_, plan_), *predictor_, runner, clock);
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
            std::vector<int64_t> per(sc_.replicas, 0);
            for (const auto& s : steps) ++per[s.replica];
            std::vector<int64_t> seen(sc_.replicas, 0);
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
