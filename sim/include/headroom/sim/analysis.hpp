// Reading a saturation curve: where the knee is, what limits each point, and which single change would
// bring a failing point back under its SLOs. Plain C++ (Eigen for the fit), no SimGrid.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"

namespace headroom {

// The knee of a throughput-vs-load curve. Method: fit throughput = a + b x + c max(0, x - x_k), a continuous
// two-segment line, by least squares (Eigen) for every interior sampled load x_k, and keep the x_k with the
// smallest squared error. It is a knee when the slope after it (b + c) is under half the slope before (b):
// throughput stops rising in proportion to load. The tail latency confirms it when its least-squares slope
// after x_k is at least twice its slope before.
struct Knee {
    bool found = false;
    size_t index = 0;  // sweep point at the knee
    double load = 0.0;
    double throughput = 0.0;
    double slope_before = 0.0;
    double slope_after = 0.0;
    bool latency_confirms = false;
    std::string note;  // why it was or was not found
};

Knee detect_knee(const std::vector<double>& load, const std::vector<double>& throughput,
                 const std::vector<double>& tail_latency);

// The dominant cause of a point's latency, from the simulator's accounting, as a code and a sentence with
// the numbers in it. Codes: admission_kv, admission_seqs, admission_budget, admission_policy, preemption,
// prefill_interference, communication, overhead, decode_bandwidth, prefill_compute.
struct Explanation {
    std::string cause;
    std::string sentence;
};

// `load_text` names the point's load as a user would say it ("60 users", "4.0 req/s").
Explanation explain(const Scenario& sc, const SimulationResult& r, const std::string& load_text);

// A single change to a scenario, for the first point that misses its SLOs.
struct Counterfactual {
    std::string label;                   // "fp8 KV cache"
    std::vector<std::string> overrides;  // the same change as --set assignments, to reproduce it by hand
    double cost_factor = 1.0;            // fleet $/hour relative to the original
    std::function<void(Scenario&)> apply;  // the change as a typed edit of the loaded scenario
};

// The changes that apply to this scenario: output length cut by 30%, fp8 KV, one more replica, TP x2,
// the next larger GPU, speculative decoding on (EAGLE-3, k = 3) or off, half the token budget. Changes that cannot apply (already fp8, TP that does not
// divide the heads, no larger GPU) are left out.
std::vector<Counterfactual> counterfactuals(const Scenario& sc);

// The next larger GPU of the shipped profiles ("" if none): Orin Nano -> AGX Orin -> L40S -> A100 ->
// H100 -> H200 -> B200 -> GB200; H100 PCIe -> H100 SXM.
std::string next_larger_gpu(const std::string& name);

}  // namespace headroom
