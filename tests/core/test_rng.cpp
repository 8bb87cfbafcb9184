// The workload's random stream: xoshiro256** seeded through splitmix64, against known answers.
#include <gtest/gtest.h>

#include <cmath>

#include "headroom/core/rng.hpp"

using namespace headroom;

TEST(Rng, Xoshiro256StarStarKnownAnswers) {
    // State {1, 2, 3, 4}. Output 1 = rotl(s1 x 5, 7) x 9 = rotl(10, 7) x 9 = 1280 x 9 = 11520. The update then
    // sets s1 = s1 ^ (s2 ^ s0) = 2 ^ (3 ^ 1) = 0, so output 2 = rotl(0, 7) x 9 = 0.
    Rng r = Rng::from_state(1, 2, 3, 4);
    EXPECT_EQ(r.next(), 11520u);
    EXPECT_EQ(r.next(), 0u);
}

TEST(Rng, SeedingIsSplitmix64) {
    // splitmix64 from 0: its first four outputs, as published with the algorithm (Vigna, prng.di.unimi.it).
    Rng seeded(0);
    Rng reference = Rng::from_state(0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL,
                                    0xf88bb8a8724c81ecULL);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(seeded.next(), reference.next()) << i;
}

TEST(Rng, UniformAndExponentialHaveTheirMoments) {
    // 1e6 draws: the mean of U[0,1) is 1/2 (standard error 0.00029) and of Exp(4) is 1/4 (0.00025).
    Rng r(7);
    double su = 0, se = 0;
    const int n = 1'000'000;
    for (int i = 0; i < n; ++i) {
        const double u = r.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        su += u;
        se += r.exponential(4.0);
    }
    EXPECT_NEAR(su / n, 0.5, 0.0015);
    EXPECT_NEAR(se / n, 0.25, 0.0013);
}
