// Percentiles (numpy's linear interpolation, as `vllm bench serve`) against hand values and a sort-based
// reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "headroom/sim/metrics.hpp"

using namespace headroom;

TEST(Percentiles, HandValues) {
    // 1..100: rank = p/100 x 99; p50 -> 49.5 -> 50.5; p90 -> 89.1 -> 90.1; p95 -> 94.05 -> 95.05;
    // p99 -> 98.01 -> 99.01
    std::vector<double> v;
    for (int i = 100; i >= 1; --i) v.push_back(i);
    const Percentiles p = percentiles(v);
    EXPECT_DOUBLE_EQ(p.mean, 50.5);
    EXPECT_DOUBLE_EQ(p.p50, 50.5);
    EXPECT_NEAR(p.p90, 90.1, 1e-12);
    EXPECT_NEAR(p.p95, 95.05, 1e-12);
    EXPECT_NEAR(p.p99, 99.01, 1e-12);
    EXPECT_DOUBLE_EQ(p.max, 100);
    EXPECT_EQ(p.n, 100);
}

TEST(Percentiles, MatchSortedReference) {
    std::mt19937_64 rng(3);
    std::exponential_distribution<double> d(2.0);
    for (int n : {1, 2, 3, 17, 1000, 100'001}) {
        std::vector<double> v(n);
        for (double& x : v) x = d(rng);
        std::vector<double> sorted = v;
        std::sort(sorted.begin(), sorted.end());
        const Percentiles p = percentiles(v);
        EXPECT_DOUBLE_EQ(p.p50, percentile(sorted, 50)) << n;
        EXPECT_DOUBLE_EQ(p.p90, percentile(sorted, 90)) << n;
        EXPECT_DOUBLE_EQ(p.p95, percentile(sorted, 95)) << n;
        EXPECT_DOUBLE_EQ(p.p99, percentile(sorted, 99)) << n;
        EXPECT_DOUBLE_EQ(p.max, sorted.back()) << n;
    }
}
