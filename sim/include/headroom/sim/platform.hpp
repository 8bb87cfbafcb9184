// The cluster as a SimGrid platform, built through the s4u API from the Boost.Graph topology (cluster.hpp): one
// full zone, a host per GPU, a split-duplex link per graph link (its bandwidth and latency per direction), and
// for each pair of GPUs that talk, the route of the graph's shortest path. Transfers are SimGrid communications
// (Comm::sendto) over those links, so concurrent ones share bandwidth under SimGrid's flow model (CM02: max-min
// fair sharing, latency and bandwidth as given, no TCP window or cross-traffic corrections).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "headroom/core/kv_transport.hpp"
#include "headroom/hardware/cluster.hpp"

namespace headroom {

struct Transfer {
    int64_t from_gpu = 0;
    int64_t to_gpu = 0;
    double bytes = 0.0;
    double start_s = 0.0;
};

struct TransferResult {
    double start_s = 0.0;
    double end_s = 0.0;
    double duration_s() const { return end_s - start_s; }
};

// Simulates the transfers on the cluster's platform (in a forked child: one SimGrid engine per process), each
// from its start time; their end times, in order. Throws HardwareError for a GPU outside the cluster or a
// negative size or start.
std::vector<TransferResult> simulate_transfers(const ClusterTopology& cluster, const std::vector<Transfer>& transfers);

// Inside a SimGrid process, before Engine::run (engine.cpp): builds the cluster's platform as the root zone, with
// routes from every replica's GPUs to every other's, and returns the transport of a disaggregated deployment.
// A transfer from replica a to replica b moves over max(TP of a, TP of b) flows at once, GPU k % TP of a to GPU
// k % TP of b, each an equal share of the bytes (every TP rank sends its shard of the KV on its own NIC); it ends
// when the last flow does.
// The bytes the transfers put on one link of the graph (both directions together), for link utilisation.
struct LinkLoad {
    size_t edge = 0;  // into ClusterTopology::edges()
    double bytes = 0.0;  // all of it
    double kv_bytes = 0.0;  // of bytes: KV transfers (the rest: collectives and stage hops)
};
class ClusterKvTransport : public KvTransport {
public:
    // every link that carried KV or collectives across NVLink domains (as flows or counted), most loaded first
    virtual std::vector<LinkLoad> link_loads() const = 0;
    // the collectives of some replica run on the network (carries_collectives)
    virtual bool carries_any_collectives() const = 0;
};
// How each replica's GPUs (replica_gpus: stage by stage, DP rank by rank, TP ranks consecutive) run their
// collectives across NVLink domains, for the flows of a step's FabricTraffic: `ring_step` > 0, each TP group's
// ring across domains (GPU (s, r, t) sends to (s, r, (t + ring_step) mod tp): ring_step is the group's GPUs per
// domain, or 1 for uneven domains, as replica_links prices it); `a2a`, the DP + EP all-to-all (each GPU sends an
// equal share to each other domain of the replica, to the GPU of its own index there, as NCCL's PXN keeps
// traffic on the rails).
// A pipelined replica (pp > 1) also sends its stage hops (`stage_hops`: GPU (s, r, t) sends its slices of the
// activations to (s + 1, r, t)), and its round follows the flows as FabricTraffic::round_s says.
struct ReplicaLayout {
    int64_t tp = 1, pp = 1, dp = 1;
    int64_t ring_step = 0;  // 0: the TP rings stay in one NVLink domain
    bool a2a = false;
    bool stage_hops = false;  // consecutive stages in different NVLink domains
};
// The network of a deployment on a cluster: KV transfers (disaggregated: the first `prefill_replicas` send to
// the rest) and, for replicas whose layout says so, their collectives across NVLink domains (`layouts`: one per
// replica, or empty for none), where a link of theirs may carry another flow at the same time (`all`: always).
std::unique_ptr<ClusterKvTransport> make_cluster_transport(const ClusterTopology& cluster,
                                                           const std::vector<std::vector<int64_t>>& replica_gpus,
                                                           const std::vector<ReplicaLayout>& layouts = {},
                                                           int64_t prefill_replicas = 0, bool all = false);

}  // namespace headroom
