// Randomness: xoshiro256** (Blackman and Vigna, "Scrambled linear pseudorandom number generators", 2021),
// seeded through splitmix64 as its authors recommend, with explicit transforms: the same seed gives the same
// workload with any compiler and standard library. Its state is 32 bytes, where std::mt19937_64's is 2.5 KB:
// a closed-loop run keeps one stream per user, and a million users must fit.
#pragma once

#include <cstdint>

namespace headroom {

class Rng {
public:
    explicit Rng(uint64_t seed);
    // A generator in a given state (not all zero), for known-answer tests of the sequence.
    static Rng from_state(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
        Rng r(0);
        r.s_[0] = a, r.s_[1] = b, r.s_[2] = c, r.s_[3] = d;
        return r;
    }
    double uniform();                 // [0, 1)
    double exponential(double rate);  // mean 1 / rate
    double normal();                  // standard normal (Box-Muller)
    double gamma(double shape);       // unit scale (Marsaglia-Tsang)
    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
    bool has_spare_ = false;
    double spare_ = 0.0;
};

// A derived seed for stream `stream` of a run seeded with `seed` (per user, per replica...).
uint64_t derive_seed(uint64_t seed, uint64_t stream);

}  // namespace headroom
