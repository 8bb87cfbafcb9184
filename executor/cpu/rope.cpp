// Rotary position embedding, Llama's rotate-half form: dims i and i + rotary_dim/2 rotate together by
// position x theta^(-2i / rotary_dim).
#include <cmath>

#include "headroom/executor/reference.hpp"

namespace headroom::ref {

namespace {

void rotate(float* head, int64_t rotary_dim, int64_t position, double theta) {
    const int64_t half = rotary_dim / 2;
    for (int64_t i = 0; i < half; ++i) {
        const double freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rotary_dim));
        const double angle = static_cast<double>(position) * freq;
        const float c = static_cast<float>(std::cos(angle)), s = static_cast<float>(std::sin(angle));
        const float a = head[i], b = head[i + half];
        head[i] = a * c - b * s;
        head[i + half] = b * c + a * s;
    }
}

}  // namespace

void rope(float* q, float* k, const int64_t* positions, int64_t tokens, int64_t heads, int64_t kv_heads,
          int64_t head_dim, int64_t rotary_dim, double theta) {
    for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t h = 0; h < heads; ++h) rotate(q + (t * heads + h) * head_dim, rotary_dim, positions[t], theta);
        for (int64_t h = 0; h < kv_heads; ++h) rotate(k + (t * kv_heads + h) * head_dim, rotary_dim, positions[t], theta);
    }
}

}  // namespace headroom::ref
