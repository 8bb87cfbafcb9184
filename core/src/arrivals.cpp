#include "headroom/core/arrivals.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace headroom {

namespace {

class Poisson : public ArrivalProcess {
public:
    explicit Poisson(double rate) : rate_(rate) {}
    double next_gap_s(Rng& r) const override { return r.exponential(rate_); }
    double rate() const override { return rate_; }
    std::string describe() const override { return fmt::format("Poisson at {:g}/s", rate_); }

private:
    double rate_;
};

class GammaArrivals : public ArrivalProcess {
public:
    GammaArrivals(double rate, double cv) : rate_(rate), cv_(cv), shape_(1.0 / (cv * cv)) {}
    // gap ~ Gamma(shape k = 1/cv^2, scale 1/(rate k)): mean 1/rate, cv as given
    double next_gap_s(Rng& r) const override { return r.gamma(shape_) / (rate_ * shape_); }
    double rate() const override { return rate_; }
    std::string describe() const override { return fmt::format("Gamma at {:g}/s, cv {:g}", rate_, cv_); }

private:
    double rate_, cv_, shape_;
};

class Constant : public ArrivalProcess {
public:
    explicit Constant(double rate) : rate_(rate) {}
    double next_gap_s(Rng&) const override { return 1.0 / rate_; }
    double rate() const override { return rate_; }
    std::string describe() const override { return fmt::format("constant {:g}/s", rate_); }

private:
    double rate_;
};

}  // namespace

std::unique_ptr<ArrivalProcess> poisson_arrivals(double rate) { return std::make_unique<Poisson>(rate); }
std::unique_ptr<ArrivalProcess> gamma_arrivals(double rate, double cv) { return std::make_unique<GammaArrivals>(rate, cv); }
std::unique_ptr<ArrivalProcess> constant_arrivals(double rate) { return std::make_unique<Constant>(rate); }

const std::vector<ArrivalEntry>& arrival_registry() {
    static const std::vector<ArrivalEntry> entries = {
        {"poisson", [](double rate, double) { return poisson_arrivals(rate); }},
        {"gamma", [](double rate, double cv) { return gamma_arrivals(rate, cv); }},
        {"constant", [](double rate, double) { return constant_arrivals(rate); }},
        {"closed_loop", nullptr},
        {"trace", nullptr},
        {"batch", nullptr},
    };
    return entries;
}

const ArrivalEntry* find_arrival(const std::string& name) {
    for (const ArrivalEntry& e : arrival_registry()) {
        if (name == e.name) return &e;
    }
    return nullptr;
}

std::string arrival_names_text() {
    std::string out;
    for (const ArrivalEntry& e : arrival_registry()) out += (out.empty() ? "" : ", ") + std::string(e.name);
    return out;
}

std::unique_ptr<ArrivalProcess> make_arrival_process(const std::string& name, double rate, double cv) {
    const ArrivalEntry* e = find_arrival(name);
    if (!e || !e->make) throw std::invalid_argument("\"" + name + "\" is not a rate arrival process");
    return e->make(rate, cv);
}

}  // namespace headroom
