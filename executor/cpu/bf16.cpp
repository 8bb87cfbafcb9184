// bf16 rounding: keep the top 16 bits of the float, rounding to nearest even.
#include <cstring>

#include "headroom/executor/reference.hpp"

namespace headroom::ref {

float bf16_round(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;  // inf and nan unchanged
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    std::memcpy(&x, &u, sizeof u);
    return x;
}

void bf16_round_inplace(std::vector<float>& v) {
    for (float& x : v) x = bf16_round(x);
}

}  // namespace headroom::ref
