// The bounded-memory records of a run: the DDSketch's relative-error bound against exact order statistics,
// the exact-then-sketched latency series, the step sample, and the open-loop sessions drawn one at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "headroom/core/workload.hpp"
#include "headroom/core/run_stats.hpp"
#include "headroom/core/sketch.hpp"

using namespace headroom;

namespace {

// Lognormal latencies around 20 ms (sigma 1: 1 ms to 0.5 s) plus a few exact zeros.
std::vector<double> latencies(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> d(std::log(0.02), 1.0);
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = i % 1000 == 7 ? 0.0 : d(rng);
    return v;
}

}  // namespace

TEST(QuantileSketch, EveryQuantileIsWithinTheRelativeAccuracyOfTheExactRank) {
    // DDSketch's guarantee: the value returned for rank floor(q (n - 1)) is within a relative alpha of the
    // exact value at that rank. Checked at 0.5% and 2% over 200,001 values and quantiles from 0.1% to 99.9%.
    const std::vector<double> v = latencies(200'001, 11);
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (double alpha : {0.005, 0.02}) {
        QuantileSketch s(alpha);
        for (double x : v) s.add(x);
        EXPECT_EQ(s.count(), 200'001);
        EXPECT_EQ(s.min(), sorted.front());
        EXPECT_EQ(s.max(), sorted.back());
        double worst = 0;
        for (double q : {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999}) {
            const double exact = sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1))];
            const double got = s.quantile(q);
            worst = std::max(worst, std::abs(got - exact) / exact);
            EXPECT_LE(std::abs(got - exact), alpha * exact + 1e-15) << "alpha " << alpha << " q " << q;
        }
        EXPECT_GT(worst, 0.0);  // it is a sketch: not exact
        // buckets: log(0.5 s / 1e-4 s) / log(gamma) at most, about 850 at 0.5%, far fewer than the values
        EXPECT_LT(s.buckets(), 2000u);
    }
}

TEST(QuantileSketch, MergingTwoSketchesEqualsSketchingTheUnion) {
    const std::vector<double> a = latencies(50'000, 1), b = latencies(70'000, 2);
    QuantileSketch sa, sb, all;
    for (double x : a) sa.add(x), all.add(x);
    for (double x : b) sb.add(x), all.add(x);
    sa.merge(sb);
    EXPECT_EQ(sa.count(), all.count());
    for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 1.0}) EXPECT_EQ(sa.quantile(q), all.quantile(q)) << q;
    EXPECT_THROW(sa.merge(QuantileSketch(0.01)), std::invalid_argument);
}

TEST(LatencySeries, ExactBelowItsCapSketchedAboveWithExactMeanAndMax) {
    const std::vector<double> v = latencies(100'000, 5);
    std::vector<double> as_float(v.begin(), v.end());  // the series stores floats
    for (double& x : as_float) x = static_cast<float>(x);
    const Percentiles exact = percentiles(as_float);

    LatencySeries below(200'000);
    for (double x : v) below.add(x);
    EXPECT_TRUE(below.exact());
    const Percentiles b = below.percentiles();
    EXPECT_EQ(b.p50, exact.p50);
    EXPECT_EQ(b.p99, exact.p99);
    EXPECT_EQ(b.mean, exact.mean);
    EXPECT_EQ(below.percentile(97.5), exact_percentile(as_float, 97.5));

    LatencySeries above(1000, 0.005);  // spills to the sketch after 1,000 values
    for (double x : v) above.add(x);
    EXPECT_FALSE(above.exact());
    EXPECT_EQ(above.relative_accuracy(), 0.005);
    EXPECT_TRUE(above.values().empty());
    const Percentiles s = above.percentiles();
    EXPECT_EQ(s.n, 100'000);
    EXPECT_NEAR(s.mean, exact.mean, 1e-12 * exact.mean);  // the same sum, in the same order
    EXPECT_EQ(s.max, exact.max);
    // against the interpolated exact percentile: alpha plus the gap between two neighbouring ranks
    EXPECT_NEAR(s.p50, exact.p50, 0.006 * exact.p50);
    EXPECT_NEAR(s.p90, exact.p90, 0.006 * exact.p90);
    EXPECT_NEAR(s.p99, exact.p99, 0.006 * exact.p99);
}

TEST(RunStats, TheStepSampleSpansTheRunEvenlyWithinItsBounds) {
    // 10,000 steps of replica 0 and 3,000 of replica 1, at most 2 x 100 kept each: replica 0 ends with stride
    // 64 (10,000 / 64 -> 157 kept: steps 0, 64, ..., 9,984), replica 1 with stride 16 (188 kept).
    RecordingOptions o;
    o.step_points = 100;
    RunStats st(o, 2);
    double busy = 0;
    for (int i = 0; i < 13'000; ++i) {
        StepSample s;
        s.replica = i % 13 < 10 ? 0 : 1;
        s.t_s = i;
        s.dt_s = 0.001 * (1 + i % 7);
        s.running = i % 5;
        st.add_step(s);
        busy += s.dt_s;
    }
    EXPECT_EQ(st.steps, 13'000);
    EXPECT_DOUBLE_EQ(st.busy_s, busy);
    const std::vector<StepSample> kept = st.take_steps();
    int64_t r0 = 0, r1 = 0;
    for (size_t i = 0; i < kept.size(); ++i) {
        if (i > 0) {
            EXPECT_LT(kept[i - 1].t_s, kept[i].t_s);  // in the order the steps started
        }
        (kept[i].replica == 0 ? r0 : r1) += 1;
    }
    EXPECT_EQ(r0, 157);
    EXPECT_EQ(r1, 188);
    EXPECT_EQ(kept.front().t_s, 0.0);

    o.keep_all_steps = true;
    RunStats all(o, 1);
    for (int i = 0; i < 5000; ++i) all.add_step(StepSample{});
    EXPECT_EQ(all.take_steps().size(), 5000u);
}

TEST(OpenLoopSource, DrawsTheSameSessionsOneAtATime) {
    WorkloadSpec w;
    w.shape = Shape::CHAT;
    w.arrival = "gamma";
    w.rate = 3;
    w.cv = 2;
    w.max_requests = 500;
    w.prompt_tokens = fixed_distribution(100);
    w.output_tokens = fixed_distribution(20);
    w.turns = fixed_distribution(3);
    const std::vector<Session> all = open_loop_sessions(w, 9);
    OpenLoopSource src(w, 9);
    Session s;
    size_t i = 0;
    int64_t turns = 0;
    double last = 0;
    while (src.next(s)) {
        ASSERT_LT(i, all.size());
        EXPECT_EQ(s.id, all[i].id);
        EXPECT_EQ(s.start_s, all[i].start_s);
        EXPECT_GE(s.start_s, last);
        last = s.start_s;
        turns += static_cast<int64_t>(s.turns.size());
        ++i;
    }
    EXPECT_EQ(i, all.size());
    EXPECT_EQ(turns, 500);  // requests: 500 counts turns; the last session is cut to fit
    EXPECT_FALSE(src.next(s));
}
