// How KV caches move between replicas of a disaggregated deployment (prefill pool -> decode pool), on the
// replica loop's clock, and, on a cluster, the collectives of replicas that span NVLink domains. The loop starts
// a transfer when a prefill finishes and hands the request to its decode replica when the transfer ends; the
// transport decides how long that takes. In the simulator the transfers are SimGrid communications over the
// cluster's links (sim/, so concurrent ones share bandwidth); IdealTransport here is a link of fixed latency and
// bandwidth per transfer, with no sharing (0 bandwidth: infinite).
#pragma once

#include <cstdint>
#include <limits>
#include <queue>
#include <stdexcept>
#include <vector>

#include "headroom/core/step_predictor.hpp"

namespace headroom {

class LoopClock;

class KvTransport {
public:
    virtual ~KvTransport() = default;
    // Starts moving `bytes` of KV from replica `from` to replica `to` at `now_s`; `tag` names it when it ends.
    virtual void start(int64_t tag, int32_t from, int32_t to, double bytes, double now_s) = 0;
    virtual bool busy() const = 0;  // transfers in flight
    // Waits until `t_s` (infinity: until a transfer ends) or until the first transfer in flight ends, whichever
    // comes first; returns the time it woke and appends the tags of the transfers that have ended by then.
    virtual double wait_until(double t_s, std::vector<int64_t>& ended) = 0;

    // A network that knows the cluster also carries the collectives of replicas that span NVLink domains, where
    // they may share a link with other traffic: a step's FabricTraffic as flows between replica `replica`'s GPUs,
    // the rings and all-to-all ending under `tag` and a pipeline's stage hops under `stage_tag`, like transfers.
    // Returns which of the two got flows (bit 0: tag, bit 1: stage_tag). Elsewhere the predictor's closed form
    // stands.
    virtual bool carries_collectives(int32_t /*replica*/) const { return false; }
    virtual int start_collectives(int64_t /*tag*/, int64_t /*stage_tag*/, int32_t /*replica*/, const FabricTraffic& /*traffic*/,
                                  double /*now_s*/) {
        throw std::logic_error("this network carries no collectives");
    }
    // The latency a replica's collective flows pay once (the longest of their routes': rings and all-to-all, or
    // with `stage` its stage hops'); the replica loop keeps the closed form's other latency terms.
    virtual double collective_latency_s(int32_t /*replica*/, bool /*stage*/ = false) const { return 0.0; }
    // A step's traffic across NVLink domains that stays in the closed form (the replica's collectives are not
    // carried): no flow, its bytes only counted on the links it crosses.
    virtual void count_collectives(int32_t /*replica*/, const FabricTraffic& /*traffic*/) {}
};

class IdealTransport : public KvTransport {
public:
    IdealTransport(LoopClock& clock, double latency_s, double bytes_per_s)
        : clock_(clock), latency_s_(latency_s), bytes_per_s_(bytes_per_s) {}
    // one transfer alone on the link: latency + bytes / bandwidth
    double duration_s(double bytes) const { return latency_s_ + (bytes_per_s_ > 0 ? bytes / bytes_per_s_ : 0.0); }
    void start(int64_t tag, int32_t, int32_t, double bytes, double now_s) override {
        pending_.push({now_s + duration_s(bytes), order_++, tag});
    }
    bool busy() const override { return !pending_.empty(); }
    double wait_until(double t_s, std::vector<int64_t>& ended) override;

private:
    struct Pending {
        double end_s;
        uint64_t order;
        int64_t tag;
        bool operator>(const Pending& o) const { return end_s != o.end_s ? end_s > o.end_s : order > o.order; }
    };
    LoopClock& clock_;
    double latency_s_, bytes_per_s_;
    uint64_t order_ = 0;
    std::priority_queue<Pending, std::vector<Pending>, std::greater<Pending>> pending_;
};

}  // namespace headroom
