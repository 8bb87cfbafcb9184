// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight, fp32 sum of squares.
#include <cmath>

#include "headroom/executor/reference.hpp"

namespace headroom::ref {

void rmsnorm(const float* x, const float* weight, float* y, int64_t tokens, int64_t width, float eps) {
    for (int64_t t = 0; t < tokens; ++t) {
        float ss = 0.0f;
        for (int64_t i = 0; i < width; ++i) ss += x[t * width + i] * x[t * width + i];
        const float inv = 1.0f / std::sqrt(ss / static_cast<float>(width) + eps);
        for (int64_t i = 0; i < width; ++i) y[t * width + i] = bf16_round(x[t * width + i] * inv * weight[i]);
    }
}

}  // namespace headroom::ref
