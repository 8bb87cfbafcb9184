// Simulator speed benchmark (prints numbers; not a test). Two measurements:
// 1. Replay of the Azure conversation trace (19,366 requests over 3,502 s) for Llama-3.1-8B on one H100,
//    in one child process (one core): wall time, simulated seconds per wall second, requests and steps per
//    wall second. Target: under 1.5 s.
// 2. A 50-point sweep of the chat example's session rate, on all cores. Target: under 30 s on 2 cores.
// 3. The same trace on a disaggregated cluster: 4 prefill and 4 decode replicas on hardware/clusters/
//    h100-4node-ib, every request's KV moved as SimGrid communications. Target: at least 500x real time.
// Usage: headroom_bench_sim [repo root] [repetitions] [predictor: auto (default), tables, calibrated, roofline]
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "bench_main.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/version.hpp"

using namespace headroom;

int run(int argc, char** argv) {
    const std::string root = argc > 1 ? argv[1] : ".";
    const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
    const int cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    const std::string predictor = argc > 3 ? argv[3] : "auto";
    const Scenario trace = load_scenario(root + "/examples/trace-conv.yaml", {"predictor=" + predictor});
    fmt::print("headroom {} ({}), {} cores\n\n", version(), git_commit(), cores);
    fmt::print("step-time predictor: {}\n", predictor);
    std::vector<double> sim_wall, total_wall;
    SimulationResult last;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        last = simulate(trace);
        total_wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        sim_wall.push_back(last.wall_s);
    }
    std::sort(sim_wall.begin(), sim_wall.end());
    std::sort(total_wall.begin(), total_wall.end());
    const double w = sim_wall[sim_wall.size() / 2];
    fmt::print("trace replay: {} ({} requests, {} engine steps, {:.0f} simulated s), {} runs\n", trace.name,
               last.summary.requests, last.summary.steps, last.simulated_s, reps);
    fmt::print("  simulation wall time   median {:.3f} s (min {:.3f}, max {:.3f})\n", w, sim_wall.front(), sim_wall.back());
    fmt::print("  with fork and transfer median {:.3f} s\n", total_wall[total_wall.size() / 2]);
    fmt::print("  simulated s per wall s {:.0f}\n", last.simulated_s / w);
    fmt::print("  requests per wall s    {:.0f}\n", last.summary.requests / w);
    fmt::print("  steps per wall s       {:.0f}\n\n", last.summary.steps / w);

    const Scenario disagg = load_scenario(root + "/examples/trace-conv.yaml",
                                          {"predictor=" + predictor, "replicas=4", "disaggregation.prefill.replicas=4",
                                           "disaggregation.cluster=h100-4node-ib"});
    std::vector<double> disagg_wall;
    for (int i = 0; i < reps; ++i) {
        last = simulate(disagg);
        disagg_wall.push_back(last.wall_s);
    }
    std::sort(disagg_wall.begin(), disagg_wall.end());
    const double dw = disagg_wall[disagg_wall.size() / 2];
    fmt::print("disaggregated trace replay: 4 prefill + 4 decode replicas on h100-4node-ib, {} KV transfers on SimGrid, {} runs\n",
               last.summary.disaggregated, reps);
    fmt::print("  simulation wall time   median {:.3f} s (min {:.3f}, max {:.3f})\n", dw, disagg_wall.front(), disagg_wall.back());
    fmt::print("  simulated s per wall s {:.0f}\n\n", last.simulated_s / dw);

    // A cluster run with its traffic across NVLink domains as SimGrid flows (`flows`), then in closed form: the
    // median wall time of each, printed after `what` (with the engine steps and which way the traffic ran).
    auto flows_against_closed_form = [&](const Scenario& sc, SimulationOptions::FabricFlows flows, const std::string& what,
                                         const std::string& traffic) {
        for (const SimulationOptions::FabricFlows f : {flows, SimulationOptions::FabricFlows::NEVER}) {
            SimulationOptions o;
            o.fabric_flows = f;
            std::vector<double> wall;
            for (int i = 0; i < reps; ++i) {
                last = simulate(sc, o);
                wall.push_back(last.wall_s);
            }
            std::sort(wall.begin(), wall.end());
            const double tw = wall[wall.size() / 2];
            fmt::print("{} ({} engine steps), {} {}, {} runs\n", what, last.summary.steps, traffic,
                       f == flows ? "as SimGrid flows" : "in closed form", reps);
            fmt::print("  simulation wall time   median {:.3f} s; simulated s per wall s {:.0f}\n", tw, last.simulated_s / tw);
        }
    };
    // TP 16 over two DGX nodes: its all-reduces' cross-node rings as SimGrid flows (16 per step), against the
    // same run with the closed form (by default such rings, alone on their rails, keep the closed form)
    flows_against_closed_form(load_scenario(root + "/examples/colocated-llama70b.yaml",
                                            {"predictor=" + predictor, "cluster=h100-4node-ib", "tp=16", "replicas=2",
                                             "workload.arrival.rate=6"}),
                              SimulationOptions::FabricFlows::ALWAYS, "2 x TP 16 over two nodes each, Llama-3.3-70B at 6 req/s",
                              "collectives");
    // TP 16 x PP 2 over the four nodes: its rings and its stage hops share each GPU's NIC, so by default they run
    // as SimGrid flows (48 a step: 32 ring, 16 stage hops), against the closed form
    flows_against_closed_form(load_scenario(root + "/examples/colocated-llama70b.yaml",
                                            {"predictor=" + predictor, "cluster=h100-4node-ib", "tp=16", "pp=2", "replicas=1"}),
                              SimulationOptions::FabricFlows::SHARED, "TP 16 x PP 2 over four nodes, Llama-3.3-70B at 2.5 req/s",
                              "rings and stage hops");
    fmt::print("\n");

    std::vector<Scenario> sweep;
    for (int i = 0; i < 50; ++i) {
        const double rate = 0.25 + 0.25 * i;  // 0.25 .. 12.5 sessions/s
        sweep.push_back(load_scenario(root + "/examples/chat.yaml", {fmt::format("workload.arrival.rate={}", rate), "predictor=" + predictor}));
    }
    const auto t0 = std::chrono::steady_clock::now();
    const auto results = simulate_many(sweep, {}, cores);
    const double sweep_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    int64_t requests = 0, steps = 0;
    for (const auto& r : results) {
        requests += r.summary.requests;
        steps += r.summary.steps;
    }
    fmt::print("sweep: 50 points of {} (session rate 0.25 .. 12.5/s), {} parallel processes\n", sweep[0].name, cores);
    fmt::print("  wall time              {:.2f} s ({:.2f} s per point)\n", sweep_wall, sweep_wall / 50);
    fmt::print("  requests, steps        {}, {}\n", requests, steps);
    return 0;
}

int main(int argc, char** argv) {
    return bench_main(argc, argv, "headroom_bench_sim",
                      "[repo root] [repetitions] [predictor: auto (default), tables, calibrated, roofline]",
                      run);
}
