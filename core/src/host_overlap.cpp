// Async scheduling: a busy engine's host time hidden behind the GPU's work; see host_overlap.hpp.
#include "headroom/core/host_overlap.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace headroom {

double hidden_host_s(double host_s, double gpu_s) { return std::max(0.0, std::min(host_s, gpu_s)); }

StepCost AsyncHostPredictor::step(const std::vector<SequenceWork>& batch) const {
    StepCost s = inner_->step(batch);
    double host = 0.0;
    for (const OpCost& o : s.ops) host += o.kind == OpKind::STEP_OVERHEAD ? o.time_s : 0.0;
    const double hidden = hidden_host_s(host, s.time_s - host);
    for (OpCost& o : s.ops) {
        if (o.kind != OpKind::STEP_OVERHEAD || o.time_s <= 0.0) continue;
        const double part = hidden * o.time_s / host;  // (one such op)
        o.source = fmt::format("host time per step ({:.3f} ms), {:.3f} ms of it hidden behind the GPU's work by async "
                               "scheduling (a step after an idle spell pays it whole)",
                               o.time_s * 1e3, part * 1e3);
        o.time_s -= part;
        o.overhead_s = o.roofline_s = o.time_s;
    }
    s.time_s -= hidden;
    s.host_hidden_s = hidden;
    return s;
}

StepTotals AsyncHostPredictor::step_totals(const std::vector<SequenceWork>& batch) const {
    StepTotals t = inner_->step_totals(batch);
    double& host = t.time_by_bound_s[static_cast<int>(Bound::OVERHEAD)];
    const double hidden = hidden_host_s(host, t.time_s - host);
    host -= hidden;
    t.time_s -= hidden;
    t.host_hidden_s = hidden;
    return t;
}

}  // namespace headroom
