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
#include "headroom/core/moe_routing.hpp"
#include "headroom/core/replica_loop.hpp"
#include "headroom/sim/platform.hpp"
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

// Each replica's steps timed by its pool's predictor (a disaggregated deployment's prefill and decode pools may
// differ in GPU and TP).
class PoolStepRunner : public StepRunner {
public:
    explicit PoolStepRunner(std::vector<const StepTimePredictor*> by_replica) : p_(std::move(by_replica)) {}
    StepRun run(int32_t replica, const Scheduler&, const StepPlan&, const std::vector<SequenceWork>& work) override {
        StepRun r;
        r.cost = p_[static_cast<size_t>(replica)]->step_totals(work);
        r.dt_s = r.cost.time_s;
        return r;
    }

private:
    std::vector<const StepTimePredictor*> p_;
};

class Simulation {
public:
    Simulation(const Scenario& sc, const KvPlan& plan)
        : sc_(sc), plan_(plan), placed_(placed_deployment(sc)), predictor_(make_step_predictor(placed_, sc.engine)) {}

    void run(SimulationResult& out, const SimulationOptions& options) {
        int argc = 3;
        // raw contexts switch stacks by hand, which AddressSanitizer cannot follow: under it, one thread per actor
        char arg0[] = "headroom-sim", arg1[] = "--log=root.thresh:critical", arg2[] = HEADROOM_CONTEXTS;
        char* argv[] = {arg0, arg1, arg2, nullptr, nullptr, nullptr, nullptr};
        const DisaggregationSpec& dg = sc_.disaggregation;
        // replicas whose collectives cross NVLink domains carry them on the cluster's network
        const std::vector<ReplicaLayout> layouts = replica_layouts();
        using Flows = SimulationOptions::FabricFlows;
        // some replica's traffic crosses NVLink domains (counted on the links; carried as flows where it may share one)
        const bool crossing = options.fabric_flows != Flows::NEVER && std::any_of(layouts.begin(), layouts.end(), [](const ReplicaLayout& l) {
            return l.ring_step > 0 || l.a2a || l.stage_hops;
        });
        // a cluster's network wants SimGrid's plain flow model: latency and bandwidth as given (build notes)
        char arg3[] = "--cfg=network/model:CM02", arg4[] = "--cfg=network/crosstraffic:0", arg5[] = "--cfg=network/TCP-gamma:0";
        if (sc_.cluster) {
            argv[3] = arg3;
            argv[4] = arg4;
            argv[5] = arg5;
            argv[6] = nullptr;
            argc = 6;
        }
        sg4::Engine engine(&argc, argv);
        SimGridClock clock;
        std::unique_ptr<KvTransport> transport;
        const ClusterKvTransport* network = nullptr;
        sg4::Host* frontend = nullptr;
        if (sc_.cluster && ((dg.enabled && dg.cluster) || crossing)) {
            auto t = make_cluster_transport(*sc_.cluster, replica_gpus(sc_), crossing ? layouts : std::vector<ReplicaLayout>{},
                                            dg.enabled ? dg.prefill.replicas : 0, options.fabric_flows == Flows::ALWAYS);
            network = t.get();
            transport = std::move(t);
            frontend = engine.get_all_hosts().front();
        } else {
            // no cluster, or one whose network nothing crosses: no network in the loop (the single-replica speed)
            auto* zone = sg4::create_full_zone("deployment");
            frontend = zone->create_host("frontend", 1e9);
            zone->seal();
            if (dg.enabled) transport = std::make_unique<IdealTransport>(clock, dg.link_latency_s, dg.link_bytes_per_s);
        }

        ServingConfig serving = serving_config(sc_.deployment, sc_.engine, plan_);
        std::vector<const StepTimePredictor*> by_replica(static_cast<size_t>(serving.replicas), predictor_.get());
        std::unique_ptr<StepTimePredictor> prefill_predictor;
        if (dg.enabled) {
            const Deployment p = placed_prefill_deployment(sc_);
            const KvPlan prefill_plan = deployment_kv_plan(p, sc_.engine, sc_.file);
            prefill_predictor = make_step_predictor(p, sc_.engine);
            const SchedulerConfig prefill_scheduler = scheduler_config(p, sc_.engine, prefill_plan);
            serving.replica_schedulers.assign(static_cast<size_t>(p.replicas), prefill_scheduler);
            serving.replica_schedulers.insert(serving.replica_schedulers.end(), static_cast<size_t>(serving.replicas), serving.scheduler);
            by_replica.insert(by_replica.begin(), static_cast<size_t>(p.replicas), prefill_predictor.get());
            serving.replicas += p.replicas;
            serving.disaggregation.prefill_replicas = p.replicas;
            serving.disaggregation.decision = dg.decision;
            serving.disaggregation.min_prompt_tokens = dg.min_prompt_tokens;
            serving.disaggregation.min_cache_hit_share = dg.min_cache_hit_share;
            serving.disaggregation.decode_router = dg.decode_router;
            serving.disaggregation.kv_bytes_per_token = sc_.deployment.model.kv_bytes_per_token(sc_.deployment.kv_dtype);
        }
        PoolStepRunner pooled(by_replica);
        PredictedStepRunner single(*predictor_);
        StepRunner& runner = dg.enabled ? static_cast<StepRunner&>(pooled) : static_cast<StepRunner&>(single);
        RecordingOptions recording;
        recording.keep_requests = options.keep_requests;
        recording.keep_all_steps = options.keep_all_steps;
        recording.step_points = options.timeseries_points;
        if (options.requests_sink) {
            RequestSink* sink = options.requests_sink.get();
            recording.on_record = [sink](const RequestRecord& r) { sink->add(r); };
        }
        ReplicaLoop loop(sc_.workload, sc_.seed, serving, *predictor_, runner, clock, std::move(recording));
        if (dg.enabled) loop.set_disaggregation(transport.get(), by_replica);
        // the network counts every replica's traffic across domains; it carries as flows only what may share a link
        if (crossing && network) loop.set_network(transport.get());
        const bool flows = crossing && network && network->carries_any_collectives();
        sg4::Actor::create("deployment", frontend, [&loop] { loop.run(); });

        const auto t0 = std::chrono::steady_clock::now();
        engine.run();
        out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        out.simulated_s = sg4::Engine::get_clock();
        out.scenario = sc_.name;
        out.predictor = predictor_->name();
        out.predictor_note = predictor_->note();
        out.plan = plan_;
        out.summary = summarize(sc_, loop.stats(), loop.accounting());
        out.summary.placement = placed_.links.where;
        if (flows) out.summary.placement += "; collectives across NVLink domains as SimGrid flows";
        if (placed_.ep() > 1) {
            const double tokens = out.summary.steps > 0 ? static_cast<double>(out.summary.input_tokens + out.summary.output_tokens) /
                                                             static_cast<double>(out.summary.steps)
                                                       : 0.0;
            out.summary.expert_imbalance =
                expert_imbalance(placed_.expert_imbalance, placed_.moe_routing, tokens * static_cast<double>(placed_.model.experts_per_token),
                                 placed_.ep(), placed_.model.num_experts, placed_.model.experts_per_token);
        }
        if (network) {
            const std::vector<LinkLoad> loads = network->link_loads();
            if (!loads.empty() && out.summary.duration_s > 0) {
                Summary& s = out.summary;
                for (size_t i = 0; i < loads.size() && i < Summary::MAX_REPORTED_LINKS; ++i) {
                    const TopoEdge& e = sc_.cluster->edges()[loads[i].edge];
                    s.link_names.push_back(sc_.cluster->vertices()[e.a].name + " -- " + sc_.cluster->vertices()[e.b].name);
                    s.link_bytes.push_back(loads[i].bytes);
                    s.link_kv_bytes.push_back(loads[i].kv_bytes);
                    s.link_utilisation.push_back(loads[i].bytes / (2.0 * e.bytes_per_s * s.duration_s));
                }
                s.busiest_link = s.link_names.front();
                s.busiest_link_bytes = s.link_bytes.front();
                s.busiest_link_kv_bytes = s.link_kv_bytes.front();
                s.busiest_link_utilisation = s.link_utilisation.front();
            }
        }
        out.timeseries = loop.take_steps();
        out.requests = loop.take_requests();
    }

private:
    // Each replica of the loop (a disaggregated deployment's prefill replicas first): its layout, and whether its
    // TP rings, its all-to-all or its pipeline stage hops leave their NVLink domain on the cluster (none without a
    // cluster).
    std::vector<ReplicaLayout> replica_layouts() const {
        std::vector<ReplicaLayout> out;
        if (!sc_.cluster) return out;
        const std::vector<std::vector<int64_t>> gpus = replica_gpus(sc_);
        const size_t prefill = sc_.disaggregation.enabled ? static_cast<size_t>(sc_.disaggregation.prefill.replicas) : 0;
        const Deployment pool[2] = {prefill > 0 ? prefill_deployment(sc_) : sc_.deployment, sc_.deployment};
        for (size_t r = 0; r < gpus.size(); ++r) {
            const Deployment& d = pool[r < prefill ? 0 : 1];
            const ReplicaLinks l = replica_links(*sc_.cluster, gpus[r], d);
            const int64_t ring_step = l.tp_domains > 1 ? gpus_per_domain(d.tp, l.tp_domains) : 0;
            bool hops = false;  // consecutive stages (their first GPUs) in different NVLink domains
            const int64_t per_stage = d.tp * d.dp;
            for (int64_t s = 0; s + 1 < d.pp; ++s) {
                hops = hops || !sc_.cluster->same_nvlink_domain(gpus[r][static_cast<size_t>(s * per_stage)],
                                                               gpus[r][static_cast<size_t>((s + 1) * per_stage)]);
            }
            out.push_back({d.tp, d.pp, d.dp, ring_step, d.pp == 1 && l.ep_fabric_share > 0.0, hops});
        }
        return out;
    }

    const Scenario& sc_;
    KvPlan plan_;
    Deployment placed_;  // the scenario's deployment with its links on the cluster
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
