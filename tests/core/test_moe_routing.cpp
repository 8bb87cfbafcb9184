// How many experts a step reaches under each routing (moe_routing.hpp), and what that does to a step's time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/moe_routing.hpp"
#include "headroom/core/parallelism.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"

namespace headroom {
namespace {

MoeRouting routing(const char* name) {
    MoeRouting r;
    EXPECT_TRUE(parse_moe_routing(name, r)) << name;
    return r;
}

TEST(MoeRouting, NamesRoundTripAndUnknownOnesAreRefused) {
    for (const char* n : {"independent", "balanced", "power_law_1.01", "power_law_1.2"})
        EXPECT_EQ(routing(n).name(), n);
    MoeRouting r;
    EXPECT_FALSE(parse_moe_routing("power_law", r));
    EXPECT_FALSE(parse_moe_routing("uniform", r));
    EXPECT_EQ(MoeRouting{}.name(), "independent");
}

TEST(MoeRouting, BalancedAndIndependentCountsAreTheirClosedForms) {
    // balanced: min(T k, E); Mixtral's top-2 of 8 at 3 tokens: 6; at 5: all 8
    EXPECT_DOUBLE_EQ(experts_reached(routing("balanced"), 8, 2, 3), 6.0);
    EXPECT_DOUBLE_EQ(experts_reached(routing("balanced"), 8, 2, 5), 8.0);
    // independent: E (1 - (1 - k/E)^T); 4 tokens: 8 (1 - 0.75^4) = 8 x 0.68359375 = 5.46875
    EXPECT_DOUBLE_EQ(experts_reached(routing("independent"), 8, 2, 4), 5.46875);
    EXPECT_DOUBLE_EQ(experts_reached(routing("independent"), 8, 2, 0), 0.0);
}

// The power-law generator against a closed form that holds for many experts: each expert's weight x is drawn
// with density ~ x^-alpha on [lo, hi], the weights are scaled to the T k picks and rounded, so an expert is
// reached when x / sum(x) T k >= 1/2, i.e. x >= c = E mean(x) / (2 T k) (the sum near its mean for large E;
// the picks rounding leaves over go to experts already reached). Reached ~ E P(x >= c), P(x >= c) = (hi^a -
// c^a) / (hi^a - lo^a), a = 1 - alpha, mean(x) = [(hi^(2-alpha) - lo^(2-alpha)) / (2 - alpha)] /
// [(hi^a - lo^a) / a]. For E = 256, k = 8 (DeepSeek-V3), alpha 1.01: T = 8 (T k <= E: [0.01, 2]) 47.1;
// T = 64 ([1, 0.8 T] = [1, 51.2]) 180.2; alpha 1.2 at T = 16: 68.2 (a short script, as the comment gives it).
TEST(MoeRouting, PowerLawCountsMatchTheGeneratorsClosedFormForManyExperts) {
    EXPECT_NEAR(power_law_reached(8, 256, 8, 1.01), 47.1, 0.05 * 47.1);
    EXPECT_NEAR(power_law_reached(64, 256, 8, 1.01), 180.2, 0.05 * 180.2);
    EXPECT_NEAR(power_law_reached(16, 256, 8, 1.2), 68.2, 0.05 * 68.2);
    // fewer than independent picks reach at decode sizes, and never more than balanced
    for (double t : {4.0, 16.0, 64.0, 200.0}) {
        const double pl = experts_reached(routing("power_law_1.01"), 256, 8, t);
        EXPECT_LT(pl, experts_reached(routing("independent"), 256, 8, t)) << t;
        EXPECT_LE(pl, std::min(8.0 * t, 256.0)) << t;
    }
    // one token: no expert's share of its 8 picks reaches 1/2 (the largest weight, 2, over a sum near 256 x
    // 0.43), so every count rounds to 0 and the 8 picks go to the 8 largest weights: exactly k experts, as
    // independent picks reach
    EXPECT_EQ(power_law_reached(1, 256, 8, 1.01), 8.0);
}

TEST(MoeRouting, PowerLawIsDeterministicAndInterpolatedAboveSixtyFourTokens) {
    const MoeRouting pl = routing("power_law_1.01");
    EXPECT_EQ(experts_reached(pl, 256, 8, 100), experts_reached(pl, 256, 8, 100));
    EXPECT_EQ(experts_reached(pl, 256, 8, 40), power_law_reached(40, 256, 8, 1.01));  // exact up to 64
    // above: between the grid points 64 x 2^(i/8) around it (100 lies between 64 x 2^(5/8) = 98.7 -> 99 and
    // 64 x 2^(6/8) = 107.6 -> 108), linear in log tokens
    const double r99 = power_law_reached(99, 256, 8, 1.01), r108 = power_law_reached(108, 256, 8, 1.01);
    const double f = std::log(100.0 / 99.0) / std::log(108.0 / 99.0);
    EXPECT_NEAR(experts_reached(pl, 256, 8, 100), r99 + (r108 - r99) * f, 1e-12);
    EXPECT_EQ(experts_reached(pl, 256, 8, 99), r99);
}

TEST(MoeRouting, TheBusiestExpertParallelRankFollowsTheRouting) {
    // DeepSeek-V3's 256 experts over EP 48: the first 256 - 48 x 5 = 16 ranks hold 6 experts, the rest 5.
    // balanced, 64 tokens a rank x 48 ranks x top-8 = 24,576 picks spread evenly: the fullest ranks take
    // 24,576 x 6 / 256 = 576 against a mean of 512: 1.125 (= 6 x 48 / 256).
    EXPECT_DOUBLE_EQ(expert_imbalance(0, routing("balanced"), 24576, 48, 256, 8), 1.125);
    // 8 picks over EP 32 (8 experts a rank): one rank takes one pick, the mean is 0.25: 4
    EXPECT_DOUBLE_EQ(expert_imbalance(0, routing("balanced"), 8, 32, 256, 8), 4.0);
    // independent picks: the multinomial estimate of parallelism.hpp; a given max / mean overrides any routing
    EXPECT_DOUBLE_EQ(expert_imbalance(0, routing("independent"), 24576, 48, 256, 8), expert_imbalance(24576, 48, 256));
    EXPECT_DOUBLE_EQ(expert_imbalance(1.7, routing("power_law_1.01"), 24576, 48, 256, 8), 1.7);
    EXPECT_DOUBLE_EQ(expert_imbalance(0, routing("power_law_1.01"), 24576, 1, 256, 8), 1.0);
}

TEST(MoeRouting, PowerLawRankLoadsAgainstClosedFormsWhereThePicksAreFew) {
    // One token's picks on 256 experts: every drawn weight scales to under half a pick, so each of the k picks
    // goes to its own expert, which expert being random (shuffled).
    // One pick (k = 1) lands on one of 48 ranks: the busiest holds 1 against a mean of 1/48, exactly 48.
    EXPECT_DOUBLE_EQ(power_law_imbalance(1, 256, 1, 1.01, 48), 48.0);
    // One expert a rank, 8 picks on 8 distinct experts: busiest 1, mean 8/256: exactly 32.
    EXPECT_DOUBLE_EQ(power_law_imbalance(1, 256, 8, 1.2, 256), 32.0);
    // Two ranks of 128 experts: h of the 8 distinct experts fall in rank 0, hypergeometric (256, 128, 8); the
    // busiest holds max(h, 8 - h) against a mean of 4. E[max(h, 8 - h)] from the distribution itself:
    double expected_max = 0.0;
    auto choose = [](double n, double r) { return std::exp(std::lgamma(n + 1) - std::lgamma(r + 1) - std::lgamma(n - r + 1)); };
    for (int h = 0; h <= 8; ++h) expected_max += std::max(h, 8 - h) * choose(128, h) * choose(128, 8 - h) / choose(256, 8);
    // (about 5.09; the Monte Carlo's 200 draws hold it to a standard error near 1.5%)
    EXPECT_NEAR(power_law_imbalance(1, 256, 8, 1.01, 2), expected_max / 4.0, 0.05 * expected_max / 4.0);
    // many tokens: the hot experts load their ranks well past uniform routing's estimate
    const double pairs = 64.0 * 48 * 8;
    EXPECT_GT(expert_imbalance(0, routing("power_law_1.01"), pairs, 48, 256, 8),
              1.2 * expert_imbalance(0, routing("independent"), pairs, 48, 256, 8));
}

TEST(MoeRouting, TheRooflineStreamsTheExpertsTheRoutingReaches) {
    // Mixtral (top-2 of 8), one decode: each expert's gate/up weights 2 x 14336 x 4096 x 2 B = 234,881,024
    // per layer; a step streams that times the experts reached (balanced: 2; independent: 8 (1 - 0.75) = 2
    // too), and at 4 decodes 8 against 5.46875.
    const ModelCard m = load_model("mixtral");
    const GpuProfile g = load_gpu("h100");
    auto gate_up_weights = [&](const char* r, int64_t decodes) {
        CostConfig c;
        c.moe_routing = routing(r);
        const StepCost s = CostModel(m, g, c).step(
            std::vector<SequenceWork>(static_cast<size_t>(decodes), SequenceWork{1, 10}));
        const double acts =
            static_cast<double>(decodes) * 2.0 * (4096 + 28672) * 2.0;  // T k rows in and out, bf16
        return s.op("moe_gate_up_proj")->bytes / 32.0 - acts;
    };
    EXPECT_NEAR(gate_up_weights("balanced", 4), 8.0 * 234'881'024.0, 1.0);
    EXPECT_NEAR(gate_up_weights("independent", 4), 5.46875 * 234'881'024.0, 1.0);
    EXPECT_NEAR(gate_up_weights("power_law_1.01", 4), power_law_reached(4, 8, 2, 1.01) * 234'881'024.0, 1.0);
}

}  // namespace
}  // namespace headroom
