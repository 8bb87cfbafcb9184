// Residual add and SiLU x mul (the gated MLP's activation).
#include <cmath>

#include "headroom/executor/reference.hpp"

namespace headroom::ref {

void residual_add(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = bf16_round(x[i] + y[i]);
}

void silu_mul(const float* gate_up, float* out, int64_t tokens, int64_t inter) {
    for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t i = 0; i < inter; ++i) {
            const float g = gate_up[t * 2 * inter + i], u = gate_up[t * 2 * inter + inter + i];
            out[t * inter + i] = bf16_round(g / (1.0f + std::exp(-g)) * u);
        }
    }
}

}  // namespace headroom::ref
