// DDSketch and the exact-then-sketched latency series (see sketch.hpp).
#include "headroom/core/sketch.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace headroom {

namespace {
// Values at or below this go to the zero bucket: a latency under a picosecond is no latency.
constexpr double MIN_TRACKED = 1e-12;
}  // namespace

QuantileSketch::QuantileSketch(double relative_accuracy) : alpha_(relative_accuracy) {
    if (!(relative_accuracy > 0.0 && relative_accuracy < 1.0)) {
        throw std::invalid_argument("QuantileSketch: relative accuracy must be in (0, 1)");
    }
    gamma_ = (1.0 + alpha_) / (1.0 - alpha_);
    log_gamma_ = std::log(gamma_);
}

// Bucket i holds (gamma^(i-1), gamma^i]; its representative 2 gamma^i / (gamma + 1) is within alpha of both ends.
int32_t QuantileSketch::key(double v) const { return static_cast<int32_t>(std::ceil(std::log(v) / log_gamma_)); }

double QuantileSketch::value(int32_t k) const { return 2.0 * std::pow(gamma_, k) / (gamma_ + 1.0); }

void QuantileSketch::add(double v) {
    if (std::isnan(v)) return;
    if (count_ == 0) {
        min_ = max_ = v;
    } else {
        min_ = std::min(min_, v);
        max_ = std::max(max_, v);
    }
    ++count_;
    sum_ += v;
    if (v <= MIN_TRACKED) {
        ++zeros_;
        return;
    }
    // the decodes of one step share their gap: the last value's key is kept (a log per distinct gap, not per gap)
    if (v != last_value_) {
        last_value_ = v;
        last_key_ = key(v);
    }
    ++bucket(last_key_);
}

// The count of key k, the buckets grown to reach it.
uint64_t& QuantileSketch::bucket(int32_t k) {
    if (counts_.empty()) {
        offset_ = k;
        counts_.assign(1, 0);
    } else if (k < offset_) {
        counts_.insert(counts_.begin(), static_cast<size_t>(offset_ - k), 0);
        offset_ = k;
    } else if (k >= offset_ + static_cast<int32_t>(counts_.size())) {
        counts_.resize(static_cast<size_t>(k - offset_) + 1, 0);
    }
    return counts_[static_cast<size_t>(k - offset_)];
}

void QuantileSketch::merge(const QuantileSketch& o) {
    if (o.alpha_ != alpha_) throw std::invalid_argument("QuantileSketch: merging sketches of different accuracy");
    if (o.count_ == 0) return;
    if (count_ == 0) {
        *this = o;
        return;
    }
    for (size_t i = 0; i < o.counts_.size(); ++i) {
        if (o.counts_[i] == 0) continue;
        bucket(o.offset_ + static_cast<int32_t>(i)) += o.counts_[i];
    }
    zeros_ += o.zeros_;
    count_ += o.count_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
}

double QuantileSketch::quantile(double q) const {
    if (count_ == 0) return 0.0;
    q = std::clamp(q, 0.0, 1.0);
    if (q == 0.0) return min_;
    if (q == 1.0) return max_;
    // the value of rank floor(q (n - 1)) (0-based), as the paper's lower quantile
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1));
    if (rank < zeros_) return min_;
    uint64_t seen = zeros_;
    for (size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen > rank) return std::clamp(value(offset_ + static_cast<int32_t>(i)), min_, max_);
    }
    return max_;
}

void LatencySeries::add(double v) {
    const double f = static_cast<float>(v);
    sum_sq_ += f * f;
    if (sketch_.count() > 0) {
        sketch_.add(static_cast<float>(v));
        return;
    }
    exact_.push_back(static_cast<float>(v));
    if (exact_.size() > cap_) spill();
}

void LatencySeries::spill() {
    for (float x : exact_) sketch_.add(x);
    std::vector<float>().swap(exact_);
}

Percentiles LatencySeries::percentiles() const {
    if (exact()) return headroom::percentiles(std::vector<double>(exact_.begin(), exact_.end()));
    Percentiles p;
    p.n = sketch_.count();
    p.mean = sketch_.sum() / static_cast<double>(sketch_.count());
    p.max = sketch_.max();
    p.p50 = sketch_.quantile(0.50);
    p.p90 = sketch_.quantile(0.90);
    p.p95 = sketch_.quantile(0.95);
    p.p99 = sketch_.quantile(0.99);
    p.std = std::sqrt(std::max(0.0, sum_sq_ / static_cast<double>(p.n) - p.mean * p.mean));
    return p;
}

double LatencySeries::percentile(double pct) const {
    if (exact()) return exact_percentile(std::vector<double>(exact_.begin(), exact_.end()), pct);
    return sketch_.quantile(pct / 100.0);
}

}  // namespace headroom
