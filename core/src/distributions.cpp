#include "headroom/core/distributions.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace headroom {

namespace {

class Fixed : public Distribution {
public:
    explicit Fixed(double v) : v_(v) {}
    double sample(Rng&) const override { return v_; }
    double mean() const override { return v_; }
    std::string describe() const override { return fmt::format("fixed {:g}", v_); }

private:
    double v_;
};

class Uniform : public Distribution {
public:
    Uniform(double a, double b) : a_(a), b_(b) {}
    double sample(Rng& r) const override { return a_ + (b_ - a_) * r.uniform(); }
    double mean() const override { return (a_ + b_) / 2.0; }
    std::string describe() const override { return fmt::format("uniform [{:g}, {:g}]", a_, b_); }

private:
    double a_, b_;
};

// Truncation by resampling: draws outside [lo, hi] are redrawn (clamped after 64 tries).
class Normal : public Distribution {
public:
    Normal(double mean, double sd, double lo, double hi) : m_(mean), sd_(sd), lo_(lo), hi_(hi) {}
    double sample(Rng& r) const override {
        for (int i = 0; i < 64; ++i) {
            const double x = m_ + sd_ * r.normal();
            if (x >= lo_ && x <= hi_) return x;
        }
        return std::clamp(m_, lo_, hi_);
    }
    double mean() const override { return std::clamp(m_, lo_, hi_); }
    std::string describe() const override { return fmt::format("normal mean {:g} sd {:g} in [{:g}, {:g}]", m_, sd_, lo_, hi_); }

private:
    double m_, sd_, lo_, hi_;
};

class Lognormal : public Distribution {
public:
    Lognormal(double median, double sigma, double lo, double hi) : mu_(std::log(median)), s_(sigma), lo_(lo), hi_(hi) {}
    double sample(Rng& r) const override {
        for (int i = 0; i < 64; ++i) {
            const double x = std::exp(mu_ + s_ * r.normal());
            if (x >= lo_ && x <= hi_) return x;
        }
        return std::clamp(std::exp(mu_), lo_, hi_);
    }
    double mean() const override { return std::exp(mu_ + s_ * s_ / 2.0); }  // untruncated
    std::string describe() const override {
        return fmt::format("lognormal median {:g} sigma {:g} in [{:g}, {:g}]", std::exp(mu_), s_, lo_, hi_);
    }

private:
    double mu_, s_, lo_, hi_;
};

class Empirical : public Distribution {
public:
    explicit Empirical(std::vector<double> v) : v_(std::move(v)) {
        if (v_.empty()) throw std::invalid_argument("empirical distribution needs at least one value");
        double s = 0;
        for (double x : v_) s += x;
        mean_ = s / static_cast<double>(v_.size());
    }
    double sample(Rng& r) const override {
        const auto i = static_cast<size_t>(r.uniform() * static_cast<double>(v_.size()));
        return v_[std::min(i, v_.size() - 1)];
    }
    double mean() const override { return mean_; }
    std::string describe() const override { return fmt::format("empirical ({} values, mean {:.1f})", v_.size(), mean_); }

private:
    std::vector<double> v_;
    double mean_ = 0;
};

}  // namespace

std::shared_ptr<Distribution> fixed_distribution(double v) { return std::make_shared<Fixed>(v); }
std::shared_ptr<Distribution> uniform_distribution(double a, double b) { return std::make_shared<Uniform>(a, b); }
std::shared_ptr<Distribution> normal_distribution(double m, double sd, double lo, double hi) {
    return std::make_shared<Normal>(m, sd, lo, hi);
}
std::shared_ptr<Distribution> lognormal_distribution(double median, double sigma, double lo, double hi) {
    return std::make_shared<Lognormal>(median, sigma, lo, hi);
}
std::shared_ptr<Distribution> empirical_distribution(std::vector<double> values) {
    return std::make_shared<Empirical>(std::move(values));
}

}  // namespace headroom
