// Transfers on the cluster's SimGrid platform (platform.hpp) against closed forms: one transfer of B bytes over
// a route takes its latency plus B over its slowest link; two equal ones sharing that link take twice the
// bandwidth term; links are full duplex; an NVLink hop is faster than the fabric.
#include <gtest/gtest.h>

#include "headroom/sim/platform.hpp"
#include "headroom/sim/scenario.hpp"

using namespace headroom;

TEST(Platform, OneTransferTakesLatencyPlusBytesOverBandwidth) {
    const ClusterTopology t(load_cluster("h100-4node-ib"));
    // GPU 0 (node 0, rail 0) to GPU 8 (node 1, rail 0): PCIe 1 us + NIC 0.5 + 0.5 + PCIe 1 us = 3 us, at 50 GB/s;
    // 1 GB: 3 us + 20 ms
    const auto r = simulate_transfers(t, {{0, 8, 1e9, 0.0}});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NEAR(r[0].duration_s(), 3e-6 + 1e9 / 50e9, 1e-9);
    EXPECT_NEAR(r[0].duration_s(), t.route(0, 8).transfer_s(1e9), 1e-9);
    // the same within a node: one NVLink hop, 2 us + 1 GB / 450 GB/s
    EXPECT_NEAR(simulate_transfers(t, {{0, 5, 1e9, 0.0}})[0].duration_s(), 2e-6 + 1e9 / 450e9, 1e-9);
}

TEST(Platform, TwoEqualTransfersOnOneLinkTakeTwiceAsLong) {
    const ClusterTopology t(load_cluster("h100-4node-ib"));
    // GPU 0 -> 8 and GPU 0 -> 16 (nodes 1 and 2, both rail 0) share GPU 0's PCIe link and its NIC's link to the
    // leaf (50 GB/s): each gets 25 GB/s, so 1 GB each takes 3 us + 40 ms
    const auto r = simulate_transfers(t, {{0, 8, 1e9, 0.0}, {0, 16, 1e9, 0.0}});
    EXPECT_NEAR(r[0].duration_s(), 3e-6 + 2 * 1e9 / 50e9, 1e-6);
    EXPECT_NEAR(r[1].duration_s(), 3e-6 + 2 * 1e9 / 50e9, 1e-6);
    // opposite directions on the same links do not share: full duplex
    const auto d = simulate_transfers(t, {{0, 8, 1e9, 0.0}, {8, 0, 1e9, 0.0}});
    EXPECT_NEAR(d[0].duration_s(), 3e-6 + 1e9 / 50e9, 1e-9);
    EXPECT_NEAR(d[1].duration_s(), 3e-6 + 1e9 / 50e9, 1e-9);
    // a transfer that starts when the first is half done shares the rest: the first ends at
    // 3 us + 10 ms + (0.5 GB at 25 GB/s = 20 ms)
    const auto late = simulate_transfers(t, {{0, 8, 1e9, 0.0}, {0, 16, 1e9, 0.010}});
    EXPECT_NEAR(late[0].end_s, 0.030, 1e-5);
}

TEST(Platform, BadTransfersAreInputErrors) {
    const ClusterTopology t(load_cluster("dgx-h100"));
    EXPECT_THROW(simulate_transfers(t, {{0, 8, 1e9, 0.0}}), HardwareError);
    EXPECT_THROW(simulate_transfers(t, {{0, 1, -1, 0.0}}), HardwareError);
    EXPECT_TRUE(simulate_transfers(t, {}).empty());
    const auto same = simulate_transfers(t, {{3, 3, 1e9, 0.5}});  // to itself: nothing moves
    EXPECT_EQ(same[0].end_s, 0.5);
}

namespace {
Deployment layout(int64_t tp, int64_t pp, int64_t dp, bool ep) {
    Deployment d;
    d.tp = tp;
    d.pp = pp;
    d.dp = dp;
    d.expert_parallel = ep;
    return d;
}
std::vector<int64_t> first(int64_t n) {
    std::vector<int64_t> g;
    for (int64_t i = 0; i < n; ++i) g.push_back(i);
    return g;
}
}  // namespace

TEST(ReplicaLinks, WhatAPlacementCrosses) {
    const ClusterTopology t(load_cluster("h100-4node-ib"));
    // TP 8 on one DGX: nothing leaves NVLink
    EXPECT_FALSE(replica_links(t, first(8), layout(8, 1, 1, false)).tp.present());
    // TP 16 on two DGX nodes: 2 domains of 8, GPU i to GPU i + 8 on rail i: 50 GB/s, 3 us (as the route above)
    const ReplicaLinks tp16 = replica_links(t, first(16), layout(16, 1, 1, false));
    EXPECT_EQ(tp16.tp_domains, 2);
    EXPECT_DOUBLE_EQ(tp16.tp.bytes_per_s, 50e9);
    EXPECT_NEAR(tp16.tp.latency_s, 3e-6, 1e-12);
    // TP 8 x PP 2: the stages on two nodes, hop on the rail; TP 4 x PP 2 on one node: an NVLink hop (450 GB/s, 2 us)
    const ReplicaLinks pp2 = replica_links(t, first(16), layout(8, 2, 1, false));
    EXPECT_FALSE(pp2.tp.present());
    EXPECT_DOUBLE_EQ(pp2.stage.bytes_per_s, 50e9);
    EXPECT_DOUBLE_EQ(replica_links(t, first(8), layout(4, 2, 1, false)).stage.bytes_per_s, 450e9);
    // DP 16 x EP on two nodes: each GPU sends 7/15 of its all-to-all over NVLink and 8/15 over its rail; the rail
    // part sets the rate: 1 / (8/15 / 50 GB/s) = 93.75 GB/s
    const ReplicaLinks ep = replica_links(t, first(16), layout(1, 1, 16, true));
    EXPECT_NEAR(ep.ep.bytes_per_s, 50e9 * 15.0 / 8.0, 1.0);
    // an NVL72 rack: all 72 in one NVLink domain, the all-to-all at NVLink's 900 GB/s
    const ClusterTopology nvl(load_cluster("gb200-nvl72"));
    EXPECT_DOUBLE_EQ(replica_links(nvl, first(72), layout(1, 1, 72, true)).ep.bytes_per_s, 900e9);
}
