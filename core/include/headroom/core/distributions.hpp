// Length and time distributions of a workload: fixed, uniform, normal and lognormal (truncated by
// resampling), and empirical (a trace column).
#pragma once

#include <memory>
#include <vector>

#include "headroom/core/rng.hpp"

namespace headroom {

class Distribution {
public:
    virtual ~Distribution() = default;
    virtual double sample(Rng& rng) const = 0;
    virtual double mean() const = 0;
    virtual std::string describe() const = 0;
};

std::shared_ptr<Distribution> fixed_distribution(double value);
std::shared_ptr<Distribution> uniform_distribution(double min, double max);
std::shared_ptr<Distribution> normal_distribution(double mean, double stddev, double min, double max);
// Lognormal by its median (e^mu) and sigma, truncated to [min, max] by resampling.
std::shared_ptr<Distribution> lognormal_distribution(double median, double sigma, double min, double max);
// Draws uniformly from observed values (a trace column).
std::shared_ptr<Distribution> empirical_distribution(std::vector<double> values);

}  // namespace headroom
