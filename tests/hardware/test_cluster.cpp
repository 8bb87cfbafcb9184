// Cluster topologies (cluster.hpp): the shipped YAMLs load, routes cross the switch tiers they should, and the
// bandwidth between GPU groups is the closed form of each fabric; bad files are one clear error.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "headroom/hardware/cluster.hpp"

using namespace headroom;

namespace {

std::vector<std::string> kinds(const ClusterTopology& t, const ClusterRoute& r) {
    std::vector<std::string> out;
    for (size_t v : r.vertices) out.emplace_back(vertex_kind_name(t.vertices()[v].kind));
    return out;
}

std::vector<int64_t> range(int64_t a, int64_t b) {
    std::vector<int64_t> v;
    for (int64_t i = a; i < b; ++i) v.push_back(i);
    return v;
}

// A two-tier fat tree of 4 DGX-like nodes (8 GPUs, 8 NICs of 50 GB/s) on 16-port leaves, oversubscribed o : 1.
std::string fat_tree(double oversubscription) {
    const std::string src = "{value: %s, source: test}";
    auto v = [&](const std::string& x) { return std::regex_replace(src, std::regex("%s"), x); };
    return "name: ft\nnodes:\n  - name: n\n    count: 4\n    gpu: h100-sxm\n    gpus_per_node: 8\n"
           "    nvlink: {bandwidth_gb_per_s: " + v("450") + ", latency_us: " + v("2") + "}\n"
           "    pcie: {bandwidth_gb_per_s: " + v("64") + ", latency_us: " + v("1") + "}\n"
           "    nics: {count: " + v("8") + ", bandwidth_gb_per_s: " + v("50") + ", latency_us: " + v("1") + "}\n"
           "fabric:\n  kind: fat_tree\n  switch_ports: " + v("16") + "\n  switch_latency_us: " + v("0.2") +
           "\n  link_bandwidth_gb_per_s: " + v("50") + "\n  oversubscription: " + v(std::to_string(oversubscription)) + "\n";
}

}  // namespace

TEST(Cluster, ShippedClustersLoad) {
    EXPECT_EQ(shipped_cluster_names(), (std::vector<std::string>{"dgx-h100", "gb200-nvl72", "h100-4node-ib"}));
    for (const std::string& n : shipped_cluster_names()) {
        const ClusterTopology t(load_cluster(n));
        EXPECT_GT(t.gpu_count(), 0) << n;
    }
    EXPECT_EQ(ClusterTopology(load_cluster("dgx-h100")).gpu_count(), 8);
    EXPECT_EQ(ClusterTopology(load_cluster("h100-4node-ib")).gpu_count(), 32);
    EXPECT_EQ(ClusterTopology(load_cluster("gb200-nvl72")).gpu_count(), 72);
}

TEST(Cluster, OneDgxNodeIsOneNvlinkHopAndItsBisectionIsFourLinks) {
    const ClusterTopology t(load_cluster("dgx-h100"));
    const ClusterRoute r = t.route(0, 5);
    EXPECT_EQ(kinds(t, r), (std::vector<std::string>{"gpu", "nvswitch", "gpu"}));
    EXPECT_NEAR(r.latency_s, 2e-6, 1e-12);  // the NVLink latency, split over the two links
    EXPECT_DOUBLE_EQ(r.bottleneck_bytes_per_s, 450e9);
    EXPECT_TRUE(t.same_nvlink_domain(0, 7));
    // GPUs 0-3 against 4-7: each side's four 450 GB/s links into the NVSwitch (the NICs lead nowhere)
    EXPECT_NEAR(t.bisection_bytes_per_s(), 4 * 450e9, 1e3);
}

TEST(Cluster, RailOptimisedRoutesCrossTheSpineOnlyBetweenRails) {
    const ClusterTopology t(load_cluster("h100-4node-ib"));
    EXPECT_EQ(t.node_count(), 4);
    EXPECT_FALSE(t.same_nvlink_domain(0, 8));
    // GPU 0 of node 0 to GPU 0 of node 1: both on rail 0, one leaf: PCIe 1 us + NIC 0.5 + 0.5 + PCIe 1 us
    const ClusterRoute same = t.route(0, 8);
    EXPECT_EQ(kinds(t, same), (std::vector<std::string>{"gpu", "nic", "leaf", "nic", "gpu"}));
    EXPECT_NEAR(same.latency_s, 3e-6, 1e-12);
    EXPECT_DOUBLE_EQ(same.bottleneck_bytes_per_s, 50e9);
    // GPU 0 of node 0 to GPU 1 of node 1: rail 0 to rail 1 goes up to the spine (0.2 us each way) and down
    const ClusterRoute cross = t.route(0, 9);
    EXPECT_EQ(kinds(t, cross), (std::vector<std::string>{"gpu", "nic", "leaf", "spine", "leaf", "nic", "gpu"}));
    EXPECT_NEAR(cross.latency_s, 3.4e-6, 1e-12);
    EXPECT_NEAR(cross.transfer_s(1e9), 3.4e-6 + 1e9 / 50e9, 1e-12);
    // nodes 0-1 against 2-3: 16 NICs of 50 GB/s a side, every rail's leaf non-blocking: 800 GB/s
    EXPECT_NEAR(t.bisection_bytes_per_s(), 16 * 50e9, 1e3);
    // one GPU to another node: its PCIe link to its NIC (64 GB/s) caps at the NIC's 50 GB/s; a whole node to
    // another: 8 NICs
    EXPECT_NEAR(t.bandwidth_between({0}, {8}), 50e9, 1e3);
    EXPECT_NEAR(t.bandwidth_between(range(0, 8), range(8, 16)), 8 * 50e9, 1e3);
}

TEST(Cluster, AFatTreeLeafUplinkCarriesItsDownlinksOverTheOversubscription) {
    // 16-port leaves, non-blocking: 8 downlinks, one node (8 NICs) per leaf, uplink 8 x 50 = 400 GB/s
    const ClusterTopology a(parse_cluster(fat_tree(1), "ft.yaml"));
    const ClusterRoute r = a.route(0, 8);
    EXPECT_EQ(kinds(a, r), (std::vector<std::string>{"gpu", "nic", "leaf", "spine", "leaf", "nic", "gpu"}));
    EXPECT_NEAR(a.bisection_bytes_per_s(), 2 * 400e9, 1e3);
    // 3 : 1: floor(16 x 3 / 4) = 12 downlinks, still one node (8 NICs) per leaf; uplink 400 / 3 GB/s per leaf
    const ClusterTopology b(parse_cluster(fat_tree(3), "ft.yaml"));
    EXPECT_NEAR(b.bisection_bytes_per_s(), 2 * 400e9 / 3, 1e3);
}

TEST(Cluster, Nvl72IsOneNvlinkDomainAcrossItsTrays) {
    const ClusterTopology t(load_cluster("gb200-nvl72"));
    EXPECT_EQ(t.node_count(), 18);
    EXPECT_TRUE(t.same_nvlink_domain(0, 71));
    const ClusterRoute r = t.route(0, 71);  // tray 0 to tray 17: one NVSwitch hop
    EXPECT_EQ(kinds(t, r), (std::vector<std::string>{"gpu", "nvswitch", "gpu"}));
    EXPECT_DOUBLE_EQ(r.bottleneck_bytes_per_s, 900e9);
    // trays 0-8 against 9-17: each of the 36 GPUs a side sends on NVLink (900 GB/s) and through its NIC (50)
    EXPECT_NEAR(t.bisection_bytes_per_s(), 36 * (900e9 + 50e9), 1e4);
}

TEST(Cluster, DotNamesEveryVertexAndLink) {
    const ClusterTopology t(load_cluster("dgx-h100"));
    const std::string dot = t.dot();
    EXPECT_EQ(dot.rfind("graph G {", 0), 0u) << dot.substr(0, 40);
    size_t links = 0;
    for (size_t p = dot.find("--"); p != std::string::npos; p = dot.find("--", p + 1)) ++links;
    EXPECT_EQ(links, t.edges().size());
    EXPECT_EQ(t.edges().size(), 8u + 8u);  // 8 NVLink links, 8 GPU-NIC PCIe links
    EXPECT_NE(dot.find("dgx0.gpu7"), std::string::npos);
    EXPECT_NE(dot.find("nvlink 450 GB/s 1 us"), std::string::npos);
}

TEST(Cluster, BadFilesAreOneClearError) {
    auto error_of = [](const std::string& text) {
        try {
            parse_cluster(text, "c.yaml");
        } catch (const HardwareError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string ok = fat_tree(1);
    EXPECT_EQ(error_of(ok), "no error");
    EXPECT_EQ(error_of("name: a\nname: b\n"), "c.yaml: name: duplicate key");
    EXPECT_EQ(error_of(ok + "extra: 1\n"), "c.yaml: extra: unknown field");
    EXPECT_EQ(error_of(std::regex_replace(ok, std::regex("count: 4"), "count: 0")),
              "c.yaml: nodes[0].count: 0 is out of range (from 1 .. 4096)");
    EXPECT_EQ(error_of(std::regex_replace(ok, std::regex("\\{value: 50, source: test\\}, latency"), "{value: -5, source: test}, latency")),
              "c.yaml: nodes[0].nics.bandwidth_gb_per_s.value: -5 is out of range (above 0 .. 100000)");
    EXPECT_EQ(error_of(std::regex_replace(ok, std::regex("latency_us: \\{value: 2, source: test\\}"), "latency_us: {value: 2}")),
              "c.yaml: nodes[0].nvlink.latency_us.source: missing");
    EXPECT_EQ(error_of(std::regex_replace(ok, std::regex("h100-sxm"), "h999")).rfind("c.yaml: nodes[0].gpu: ", 0), 0u);
    EXPECT_EQ(error_of(std::regex_replace(ok, std::regex("kind: fat_tree"), "kind: none")),
              "c.yaml: fabric.kind: none leaves the 4 NVLink domains unconnected");
    EXPECT_EQ(error_of(std::regex_replace(ok, std::regex("kind: fat_tree"), "kind: torus")),
              "c.yaml: fabric.kind: unknown fabric \"torus\" (none, rail_optimized, fat_tree)");
    EXPECT_EQ(error_of(std::regex_replace(ok, std::regex("gpus_per_node: 8\n"), "gpus_per_node: 8\n    nvlink_domain_nodes: 3\n")),
              "c.yaml: nodes[0].nvlink_domain_nodes: 3 does not divide the 4 nodes");
    EXPECT_EQ(error_of(std::regex_replace(ok, std::regex("switch_ports: \\{value: 16"), "switch_ports: {value: 8")),
              "c.yaml: fabric.switch_ports: a leaf has 4 downlinks, fewer than the 8 NICs of a node");
    const ClusterTopology t(parse_cluster(ok, "c.yaml"));
    EXPECT_THROW(t.route(0, 32), HardwareError);
    EXPECT_THROW(t.bandwidth_between({0, 1}, {1}), HardwareError);
}
