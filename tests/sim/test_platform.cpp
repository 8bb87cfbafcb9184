// Transfers on the cluster's SimGrid platform (platform.hpp) against closed forms: one transfer of B bytes over
// a route takes its latency plus B over its slowest link; two equal ones sharing that link take twice the
// bandwidth term; links are full duplex; an NVLink hop is faster than the fabric.
#include <gtest/gtest.h>

#include "headroom/sim/platform.hpp"

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
