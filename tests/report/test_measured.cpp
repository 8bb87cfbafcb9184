// Prediction next to measurement: the comparison rows `validate` prints.
#include <gtest/gtest.h>

#include "headroom/report/measured.hpp"

using namespace headroom;

namespace {

const Comparison& row(const std::vector<Comparison>& rows, const std::string& metric) {
    for (const Comparison& c : rows) {
        if (c.metric == metric) return c;
    }
    throw std::runtime_error("no row " + metric);
}

}  // namespace

TEST(Compare, RelativeErrorIsPredictedMinusMeasuredOverMeasured) {
    Summary p, m;
    p.ttft_s.p95 = 0.33, m.ttft_s.p95 = 0.30;  // (0.33 - 0.30) / 0.30 = +10%
    p.tpot_s.p50 = 0.018, m.tpot_s.p50 = 0.020;  // (0.018 - 0.020) / 0.020 = -10%
    p.output_throughput = 1500, m.output_throughput = 1200;  // +25%
    p.completed = 7;  // measured 0: the error is reported as 100%
    const std::vector<Comparison> rows = compare(p, m);
    // 4 latency metrics x 3 percentiles, then two throughputs and the completed count
    EXPECT_EQ(rows.size(), 4u * 3u + 3u);
    EXPECT_NEAR(row(rows, "TTFT p95").rel_error, 0.10, 1e-12);
    EXPECT_EQ(row(rows, "TTFT p95").unit, "s");
    EXPECT_NEAR(row(rows, "TPOT p50").rel_error, -0.10, 1e-12);
    EXPECT_NEAR(row(rows, "output throughput").rel_error, 0.25, 1e-12);
    EXPECT_EQ(row(rows, "output throughput").unit, "tok/s");
    EXPECT_EQ(row(rows, "ITL p99").rel_error, 0.0);  // both 0
    EXPECT_EQ(row(rows, "completed").rel_error, 1.0);
}
