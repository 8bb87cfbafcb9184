// Memory and speed of million-request runs (prints numbers; not a test). Two runs, each in its own child
// process, as `headroom simulate` runs them:
// 1. 1,000,000 requests arriving as a Poisson process (10/s) at Llama-3.1-8B on one H100: chat-like prompt and
//    answer lengths (lognormal, medians 600 and 220 tokens).
// 2. The Azure conversation trace (examples/trace-conv.yaml: 19,366 requests over 3,502 s) replayed back to
//    back until it holds 1,000,000 requests (52 copies, each shifted by the trace's span plus its mean gap).
// 3. 1,000,000 closed-loop users on 16 replicas, one request each: every user sends at t = 0, as a load
//    generator's clients do, so all million are in flight at once (what the run holds is then a million
//    requests' state: this measures the cost per request in flight, not a bound).
// Each prints the requests, steps, simulated time, the child's wall time and peak RSS (fork included), and
// simulated seconds per wall second. Goals (issue 12): peak RSS under 500 MB for both, and at least 3,000x
// real time on the conversation replay.
// Usage: headroom_bench_memory [repo root] [requests (default 1000000)]
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "bench_main.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/version.hpp"

using namespace headroom;

namespace {

void report(const std::string& what, const SimulationResult& r, double total_wall_s) {
    fmt::print("{}\n", what);
    fmt::print("  requests {} ({} completed), engine steps {}, simulated {:.0f} s\n", r.summary.requests,
               r.summary.completed, r.summary.steps, r.simulated_s);
    fmt::print("  simulation wall time {:.1f} s ({:.1f} s with fork and transfer): {:.0f}x real time\n", r.wall_s,
               total_wall_s, r.simulated_s / r.wall_s);
    fmt::print("  peak RSS of the simulation process {:.0f} MB\n", r.peak_rss_bytes / 1e6);
    fmt::print("  p50 / p99 TTFT {:.3f} / {:.3f} s, p99 ITL {:.4f} s ({} gaps), steps in the sample {}\n\n",
               r.summary.ttft_s.p50, r.summary.ttft_s.p99, r.summary.itl_s.p99, r.summary.itl_s.n, r.timeseries.size());
}

SimulationResult timed(const Scenario& sc, double& wall_s) {
    const auto t0 = std::chrono::steady_clock::now();
    SimulationResult r = simulate(sc);
    wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace

int run(int argc, char** argv) {
    const std::string root = argc > 1 ? argv[1] : ".";
    const int64_t requests = argc > 2 ? std::max<int64_t>(1, std::atoll(argv[2])) : 1'000'000;
    if (FILE* f = std::fopen((root + "/examples/trace-conv.yaml").c_str(), "r")) {
        std::fclose(f);
    } else {
        throw std::runtime_error(
            root + "/examples/trace-conv.yaml: cannot open file (the first argument is the repository root)");
    }
    fmt::print("headroom {} ({})\n\n", version(), git_commit());

    const Scenario poisson = parse_scenario(fmt::format(R"(name: poisson-{}-llama8b-h100
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100
scheduler: {{max_model_len: 32768}}
workload:
  shape: single
  arrival: {{process: poisson, rate: 10}}
  prompt_tokens: {{dist: lognormal, median: 600, sigma: 0.8, min: 16, max: 8000}}
  output_tokens: {{dist: lognormal, median: 220, sigma: 0.6, min: 8, max: 1500}}
  requests: {}
slo: {{ttft_p95_s: 2.0, tpot_p95_s: 0.050}}
seed: 1
)", requests, requests), "bench/memory.cpp", root);
    double wall = 0;
    SimulationResult r = timed(poisson, wall);
    report(fmt::format("Poisson arrivals, {} requests at 10/s: {}", requests, poisson.name), r, wall);

    Scenario replay = load_scenario(root + "/examples/trace-conv.yaml");
    const std::vector<TraceRow> one = replay.workload.trace;
    const double span = one.back().arrived_at_s - one.front().arrived_at_s;
    const double shift = span + span / static_cast<double>(one.size() - 1);
    replay.workload.trace.clear();
    for (int64_t k = 0; static_cast<int64_t>(replay.workload.trace.size()) < requests; ++k) {
        for (const TraceRow& row : one) {
            if (static_cast<int64_t>(replay.workload.trace.size()) >= requests) break;
            TraceRow t = row;
            t.arrived_at_s += static_cast<double>(k) * shift;
            replay.workload.trace.push_back(t);
        }
    }
    r = timed(replay, wall);
    report(fmt::format("Conversation trace replayed to {} requests: {}", replay.workload.trace.size(), replay.name), r,
           wall);

    const Scenario users = parse_scenario(fmt::format(R"(name: closed-loop-{}-users-llama8b-h100x16
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100
replicas: 16
scheduler: {{max_model_len: 32768}}
workload:
  shape: single
  arrival: {{process: closed_loop, users: {}, think_time_s: {{dist: uniform, min: 600, max: 1200}}}}
  prompt_tokens: {{dist: lognormal, median: 300, sigma: 0.5, min: 16, max: 4000}}
  output_tokens: {{dist: lognormal, median: 100, sigma: 0.5, min: 8, max: 1000}}
  requests: {}
seed: 1
)", requests, requests, requests), "bench/memory.cpp", root);
    r = timed(users, wall);
    report(fmt::format("Closed loop, {} users sending at once: {}", requests, users.name), r, wall);
    return 0;
}

int main(int argc, char** argv) {
    return bench_main(argc, argv, "headroom_bench_memory", "[repo root] [requests (default 1000000)]", run);
}
