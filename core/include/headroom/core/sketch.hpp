// Bounded-memory quantiles for the per-token latencies of long runs.
// QuantileSketch is a DDSketch (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable quantile sketch
// with relative-error guarantees", VLDB 2019): positive values fall into logarithmic buckets of ratio
// gamma = (1 + a) / (1 - a), and a quantile answered from a bucket's midpoint (in the paper's sense) is within
// a relative error `a` of the exact rank's value. Debian 12 packages no C or C++ quantile sketch (its
// HdrHistogram and t-digest are Java, Go or a PostgreSQL extension) and Boost.Accumulators' P-square
// estimators carry no error bound, so the sketch is ours: its bucket mapping is the paper's.
// LatencySeries keeps values exactly up to a cap (percentiles then equal the exact ones, as numpy computes
// them) and moves to the sketch beyond it, so memory stays bounded at any run length.
#pragma once

#include <cstdint>
#include <vector>

#include "headroom/core/metrics.hpp"

namespace headroom {

class QuantileSketch {
public:
    explicit QuantileSketch(double relative_accuracy = 0.005);

    void add(double v);
    void merge(const QuantileSketch& o);  // same relative accuracy

    int64_t count() const { return count_; }
    double sum() const { return sum_; }
    double min() const { return min_; }
    double max() const { return max_; }
    double relative_accuracy() const { return alpha_; }
    // The value at rank q * (count - 1) (q in [0, 1]) within the relative accuracy; min and max exactly.
    double quantile(double q) const;
    size_t buckets() const { return counts_.size(); }

private:
    int32_t key(double v) const;
    uint64_t& bucket(int32_t key);
    double value(int32_t key) const;

    double alpha_, gamma_, log_gamma_;
    int32_t offset_ = 0;            // key of counts_[0]
    std::vector<uint64_t> counts_;  // per key, contiguous from offset_
    uint64_t zeros_ = 0;            // values <= the smallest positive one tracked
    int64_t count_ = 0;
    double sum_ = 0.0, min_ = 0.0, max_ = 0.0;
    double last_value_ = -1.0;  // the last positive value added, and its key
    int32_t last_key_ = 0;
};

class LatencySeries {
public:
    // Exact up to `exact_cap` values (4 bytes each), then a sketch of `relative_accuracy`.
    explicit LatencySeries(size_t exact_cap = size_t{1} << 22, double relative_accuracy = 0.005)
        : cap_(exact_cap), sketch_(relative_accuracy) {}

    void add(double v);
    int64_t count() const { return static_cast<int64_t>(exact_.size()) + sketch_.count(); }
    bool exact() const { return sketch_.count() == 0; }
    double relative_accuracy() const { return exact() ? 0.0 : sketch_.relative_accuracy(); }
    // mean, max exactly; p50-p99 exactly while exact(), else within the sketch's relative accuracy
    Percentiles percentiles() const;
    double percentile(double pct) const;
    const std::vector<float>& values() const { return exact_; }  // while exact()

private:
    void spill();

    size_t cap_;
    std::vector<float> exact_;
    QuantileSketch sketch_;
    double sum_sq_ = 0.0;  // of the values as stored (float), for the standard deviation once sketched
};

}  // namespace headroom
