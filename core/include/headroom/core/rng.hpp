// Randomness: std::mt19937_64 (its sequence is fixed by the C++ standard) with explicit transforms, so the
// same seed gives the same workload with any standard library.
#pragma once

#include <cstdint>
#include <random>

namespace headroom {

class Rng {
public:
    explicit Rng(uint64_t seed) : engine_(seed) {}
    double uniform();                 // [0, 1)
    double exponential(double rate);  // mean 1 / rate
    double normal();                  // standard normal (Box-Muller)
    double gamma(double shape);       // unit scale (Marsaglia-Tsang)
    uint64_t next() { return engine_(); }

private:
    std::mt19937_64 engine_;
    bool has_spare_ = false;
    double spare_ = 0.0;
};

// A derived seed for stream `stream` of a run seeded with `seed` (per user, per replica...).
uint64_t derive_seed(uint64_t seed, uint64_t stream);

}  // namespace headroom
