// Cluster topologies: nodes of GPUs in NVLink domains, their NICs, and the switched fabric between nodes, read
// from a cluster YAML (hardware/clusters/ ships three) with a source for every number, and built into a graph
// (Boost.Graph) of GPUs, NVLink switches, NICs and fabric switches joined by links of a bandwidth and latency
// per direction. Routes are Boost shortest paths by latency; the bandwidth between two GPU groups is a Boost
// max flow, and the bisection bandwidth is that between the first and the second half of the nodes.
//
// The graph, per node group (`nodes:` list entry):
//   GPU --nvlink-- NVSwitch (one vertex per NVLink domain of nvlink_domain_nodes nodes; latency split half/half,
//                            so GPU -> switch -> GPU takes the NVLink latency)
//   GPU --pcie--- NIC (GPU i of a node uses NIC floor(i x nics / gpus_per_node))
//   NIC --nic---- leaf switch (rail_optimized: NIC r of every node to a leaf of rail r; fat_tree: every NIC of
//                              a node to its node's leaf), leaves hold switch_ports x o / (o + 1) downlinks for
//                              an oversubscription o (down : up)
//   leaf --uplink-- spine (when there is more than one leaf): the spine tier as one vertex, each leaf's uplink
//                   carrying its downlinks' bandwidth / o. Spine switches are not modelled one by one: ECMP over
//                   them is taken as ideal, so the uplink is the aggregate.
// GPUs are never transit vertices: a route between two GPUs passes only switches and NICs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "headroom/hardware/gpu_profile.hpp"

namespace headroom {

struct ClusterLink {
    Sourced bandwidth_gb_per_s;  // per direction
    Sourced latency_us;
};

struct NodeGroup {
    std::string name;  // node name prefix ("dgx" -> dgx0, dgx1, ...)
    int64_t count = 1;
    std::string gpu;  // GPU profile name
    int64_t gpus_per_node = 8;
    int64_t nvlink_domain_nodes = 1;  // nodes sharing one NVLink domain (GB200 NVL72: 18 trays)
    ClusterLink nvlink;
    ClusterLink pcie;  // GPU to NIC
    Sourced nics;      // NICs per node for the compute fabric (0: none)
    ClusterLink nic;   // NIC to its leaf switch
};

enum class FabricKind { NONE, RAIL_OPTIMIZED, FAT_TREE };

struct FabricSpec {
    FabricKind kind = FabricKind::NONE;
    std::string technology;  // "InfiniBand NDR", "RoCE 400G" (for the summary)
    Sourced switch_ports;
    Sourced switch_latency_us;
    Sourced link_bandwidth_gb_per_s;  // switch-to-switch links, per direction
    Sourced oversubscription;         // leaf downlink : uplink bandwidth (1: non-blocking)
};

struct ClusterSpec {
    std::string name;
    std::string display_name;
    std::string file;  // where it was read from ("" for a built-in)
    std::vector<NodeGroup> groups;
    FabricSpec fabric;
};

// Names of the shipped clusters, in a stable order.
std::vector<std::string> shipped_cluster_names();
// A shipped cluster's name, or a path to a cluster YAML. Throws HardwareError naming the file and field.
ClusterSpec load_cluster(std::string_view spec);
ClusterSpec parse_cluster(std::string_view text, std::string_view file);

enum class VertexKind { GPU, NVSWITCH, NIC, LEAF, SPINE };
std::string_view vertex_kind_name(VertexKind k);

struct TopoVertex {
    std::string name;  // "dgx0.gpu3", "dgx0.nvswitch", "dgx0.nic3", "leaf.rail3.0", "spine"
    VertexKind kind = VertexKind::GPU;
    int64_t gpu = -1;    // global GPU index (GPU vertices)
    int64_t node = -1;   // global node index (GPU, NIC and NVSwitch vertices; an NVSwitch: its domain's first)
    int64_t group = -1;  // node group
};

struct TopoEdge {
    size_t a = 0, b = 0;  // vertex indices, a < b
    double bytes_per_s = 0.0;  // per direction
    double latency_s = 0.0;
    std::string kind;  // nvlink, pcie, nic, uplink
};

struct ClusterRoute {
    std::vector<size_t> vertices;  // from the first GPU to the second
    std::vector<size_t> edges;     // the links in order
    double latency_s = 0.0;        // sum of the links' latencies
    double bottleneck_bytes_per_s = 0.0;  // the slowest link's bandwidth
    // the time one transfer of `bytes` alone on the route takes: latency + bytes / bottleneck
    double transfer_s(double bytes) const { return latency_s + bytes / bottleneck_bytes_per_s; }
};

class ClusterTopology {
public:
    explicit ClusterTopology(ClusterSpec spec);
    ~ClusterTopology();
    ClusterTopology(ClusterTopology&&) noexcept;
    ClusterTopology& operator=(ClusterTopology&&) noexcept;

    const ClusterSpec& spec() const { return spec_; }
    const std::vector<TopoVertex>& vertices() const { return vertices_; }
    const std::vector<TopoEdge>& edges() const { return edges_; }
    int64_t gpu_count() const { return static_cast<int64_t>(gpu_vertex_.size()); }
    int64_t node_count() const { return nodes_; }
    size_t gpu_vertex(int64_t gpu) const;
    // The GPU profile name of a GPU, and its node.
    const std::string& gpu_profile(int64_t gpu) const;
    int64_t node_of(int64_t gpu) const { return vertices_[gpu_vertex(gpu)].node; }
    // Two GPUs share an NVLink domain.
    bool same_nvlink_domain(int64_t a, int64_t b) const;

    // The lowest-latency route between two GPUs (ties: fewer links); throws HardwareError when none exists.
    ClusterRoute route(int64_t a, int64_t b) const;
    // The most bandwidth the GPUs of `from` can send to those of `to` at once (a max flow; every link full
    // duplex); GPUs in neither group are not transit.
    double bandwidth_between(const std::vector<int64_t>& from, const std::vector<int64_t>& to) const;
    // bandwidth_between the first half of the nodes' GPUs and the second half's (one node: its GPUs halved).
    double bisection_bytes_per_s() const;
    // Graphviz DOT of the graph (boost::write_graphviz): vertices labelled with name and kind, links with
    // bandwidth (GB/s per direction) and latency (us).
    std::string dot() const;

private:
    struct Graph;
    ClusterSpec spec_;
    std::vector<TopoVertex> vertices_;
    std::vector<TopoEdge> edges_;
    std::vector<size_t> gpu_vertex_;
    std::vector<int64_t> gpu_domain_;
    int64_t nodes_ = 0;
    std::unique_ptr<Graph> graph_;
};

}  // namespace headroom
