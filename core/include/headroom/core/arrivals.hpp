// Open-loop arrival processes (Poisson, gamma, constant) and the registry of every arrival process by name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "headroom/core/rng.hpp"

namespace headroom {

class ArrivalProcess {
public:
    virtual ~ArrivalProcess() = default;
    virtual double next_gap_s(Rng& rng) const = 0;
    virtual double rate() const = 0;
    virtual std::string describe() const = 0;
};

std::unique_ptr<ArrivalProcess> poisson_arrivals(double rate);
// Gamma inter-arrival times with the given rate and coefficient of variation (cv 1 = Poisson; > 1 bursty).
std::unique_ptr<ArrivalProcess> gamma_arrivals(double rate, double cv);
std::unique_ptr<ArrivalProcess> constant_arrivals(double rate);
// The arrival processes, by name: the one list the scenario loader, its errors and the generators read.
// Rate processes draw open-loop gaps (`rate`, and `cv` for gamma); the others drive requests themselves
// (closed_loop: users; trace: a CSV's arrival times; batch: all at 0).
struct ArrivalEntry {
    const char* name;
    std::unique_ptr<ArrivalProcess> (*make)(double rate, double cv);  // nullptr: not a rate process
};
const std::vector<ArrivalEntry>& arrival_registry();
const ArrivalEntry* find_arrival(const std::string& name);  // nullptr when unknown
std::string arrival_names_text();                            // "poisson, gamma, ..." for errors
// A rate process by name; throws std::invalid_argument for a name that is not one.
std::unique_ptr<ArrivalProcess> make_arrival_process(const std::string& name, double rate, double cv);

}  // namespace headroom
