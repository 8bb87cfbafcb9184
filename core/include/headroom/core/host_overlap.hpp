// vLLM's async scheduling (on by default since v0.14, release notes; "fully overlap model execution", PR #23569):
// while the GPU runs step N, the engine schedules step N + 1, prepares its inputs and launches it, and takes
// step N's sampled tokens off the GPU later. A busy engine therefore pays a step's host time only where it
// outlasts the GPU work of the step before; an engine coming out of an idle spell pays it whole, since no step
// ran to hide it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "headroom/core/step_predictor.hpp"

namespace headroom {

// Wraps the predictor of a whole step (outermost: after pipeline stages, DP ranks and the drafter), whose
// STEP_OVERHEAD op (the OVERHEAD bound) is the step's host time h and the rest its GPU work g. The step takes
// max(g, h): min(g, h) of the host time is hidden, reported as StepTotals::host_hidden_s, which the replica
// loop adds back to a step that does not follow another at once. The step's own g stands in for the previous
// step's (consecutive steps of a busy engine are alike; where they are not, the error is at most min(g, h)).
class AsyncHostPredictor : public StepTimePredictor {
public:
    explicit AsyncHostPredictor(std::unique_ptr<StepTimePredictor> inner) : inner_(std::move(inner)) {}
    StepCost step(const std::vector<SequenceWork>& batch) const override;
    StepTotals step_totals(const std::vector<SequenceWork>& batch) const override;
    std::string name() const override { return inner_->name(); }
    std::string note() const override { return inner_->note(); }

private:
    std::unique_ptr<StepTimePredictor> inner_;
};

// The host time of a step whose GPU work takes gpu_s that async scheduling hides: min(gpu_s, host_s).
double hidden_host_s(double host_s, double gpu_s);

}  // namespace headroom
