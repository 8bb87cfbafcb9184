// Knee detection on curves with a known knee, explanations and counterfactuals.
#include <gtest/gtest.h>

#include <cmath>

#include "headroom/sim/analysis.hpp"

using namespace headroom;

TEST(Knee, SharpKneeOnASyntheticCurve) {
    // throughput = min(load, 10): the two-segment fit is exact with its break at 10 (slope 1, then 0)
    std::vector<double> x, y, z;
    for (int i = 1; i <= 20; ++i) {
        x.push_back(i);
        y.push_back(std::min(i, 10));
        z.push_back(i <= 10 ? 1.0 : 1.0 + (i - 10) * (i - 10));  // latency explodes past it
    }
    const Knee k = detect_knee(x, y, z);
    EXPECT_TRUE(k.found) << k.note;
    EXPECT_DOUBLE_EQ(k.load, 10);
    EXPECT_NEAR(k.slope_before, 1.0, 1e-9);
    EXPECT_NEAR(k.slope_after, 0.0, 1e-9);
    EXPECT_TRUE(k.latency_confirms);
}

TEST(Knee, NoisyKneeOnAnUnevenGrid) {
    // the sweep's default grid; throughput 50 x load up to 60 users, then flat at 3,000, with +-2% noise
    const std::vector<double> x = {1, 2, 5, 10, 20, 40, 60, 80, 120, 160, 200};
    const double noise[] = {0.01, -0.02, 0.015, -0.01, 0.02, -0.015, 0.01, -0.02, 0.005, 0.02, -0.01};
    std::vector<double> y, z;
    for (size_t i = 0; i < x.size(); ++i) {
        y.push_back(50 * std::min(x[i], 60.0) * (1 + noise[i]));
        z.push_back(x[i] <= 60 ? 0.1 : 0.1 * (x[i] - 59));
    }
    const Knee k = detect_knee(x, y, z);
    EXPECT_TRUE(k.found) << k.note;
    EXPECT_DOUBLE_EQ(k.load, 60);
}

TEST(Knee, GradualSaturation) {
    // throughput = 6000 x (1 - exp(-load / 60)): no sharp corner, but the slope falls from 100 to ~3; the fit
    // must put the knee in the bend (between 40 and 120 users), not at the ends
    const std::vector<double> x = {1, 2, 5, 10, 20, 40, 60, 80, 120, 160, 200};
    std::vector<double> y, z;
    for (double v : x) {
        y.push_back(6000 * (1 - std::exp(-v / 60)));
        z.push_back(0.05 * std::exp(v / 60));
    }
    const Knee k = detect_knee(x, y, z);
    EXPECT_TRUE(k.found) << k.note;
    EXPECT_GE(k.load, 40);
    EXPECT_LE(k.load, 120);
}

TEST(Knee, NoKneeOnALine) {
    std::vector<double> x, y, z;
    for (int i = 1; i <= 12; ++i) {
        x.push_back(i);
        y.push_back(3.0 * i);
        z.push_back(1.0);
    }
    const Knee k = detect_knee(x, y, z);
    EXPECT_FALSE(k.found);
    EXPECT_NE(k.note.find("beyond the swept range"), std::string::npos);
}

TEST(Knee, TooFewPoints) { EXPECT_FALSE(detect_knee({1, 2, 3}, {1, 2, 3}, {1, 1, 1}).found); }

TEST(Counterfactuals, LadderOfGpus) {
    EXPECT_EQ(next_larger_gpu("h100-sxm"), "h200");
    EXPECT_EQ(next_larger_gpu("h200"), "b200");
    EXPECT_EQ(next_larger_gpu("gb200"), "");
}
