// Fixtures of the replica-loop tests: a step-time predictor whose every step takes exactly 10 ms, whatever it
// holds, so expected times can be worked out by hand, a workload replaying given trace rows, and a run of a
// workload on the 10 ms steps.
#pragma once

#include <string>
#include <vector>

#include "headroom/core/replica_loop.hpp"
#include "headroom/core/step_predictor.hpp"
#include "headroom/core/workload.hpp"

namespace headroom::testing {

class TenMs : public StepTimePredictor {
public:
    // `bound`: what the 10 ms count as (host overhead by default; compute for a pipeline's stage time)
    explicit TenMs(Bound bound = Bound::OVERHEAD) : bound_(bound) {}
    StepCost step(const std::vector<SequenceWork>&) const override {
        StepCost c;
        c.time_s = 0.01;
        return c;
    }
    StepTotals step_totals(const std::vector<SequenceWork>&) const override {
        StepTotals t;
        t.time_s = 0.01;
        t.time_by_bound_s[static_cast<int>(bound_)] = 0.01;
        return t;
    }
    std::string name() const override { return "10 ms"; }

private:
    Bound bound_;
};

inline WorkloadSpec trace(std::vector<TraceRow> rows) {
    WorkloadSpec w;
    w.arrival = "trace";
    w.trace = std::move(rows);
    return w;
}

struct LoopRun {
    std::vector<RequestRecord> requests;
    std::vector<StepSample> steps;  // with keep_steps
};

// Runs `w` through a replica loop of `c` on a virtual clock, every step 10 ms; keeps every request, and every
// step with `keep_steps`.
inline LoopRun run_ten_ms(const WorkloadSpec& w, const ServingConfig& c, uint64_t seed = 1, bool keep_steps = false) {
    TenMs p;
    PredictedStepRunner runner(p);
    VirtualClock clock;
    RecordingOptions keep;
    keep.keep_requests = true;
    keep.keep_all_steps = keep_steps;
    ReplicaLoop loop(w, seed, c, p, runner, clock, keep);
    loop.run();
    return {loop.take_requests(), keep_steps ? loop.take_steps() : std::vector<StepSample>{}};
}

}  // namespace headroom::testing
