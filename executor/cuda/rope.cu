// Rotate-half RoPE, one thread per (token, head, pair); angles in double as the reference computes them.
// Reference: executor/cpu/rope.cpp.
#include <cuda_bf16.h>

#include "check.cuh"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

constexpr int THREADS = 256;

__global__ void rope_kernel(__nv_bfloat16* x, int64_t stride, const int64_t* positions, int64_t tokens,
                            int64_t heads, int64_t head_dim, int64_t rotary_dim, double theta) {
    const int64_t half = rotary_dim / 2;
    const int64_t i = static_cast<int64_t>(blockIdx.x) * THREADS + threadIdx.x;
    if (i >= tokens * heads * half) return;
    const int64_t pair = i % half, th = i / half;  // th = token * heads + head
    const int64_t t = th / heads, h = th % heads;
    const double freq = pow(theta, -2.0 * static_cast<double>(pair) / static_cast<double>(rotary_dim));
    const double angle = static_cast<double>(positions[t]) * freq;
    const float c = static_cast<float>(cos(angle)), s = static_cast<float>(sin(angle));
    __nv_bfloat16* head = x + t * stride + h * head_dim;
    const float a = __bfloat162float(head[pair]), b = __bfloat162float(head[pair + half]);
    head[pair] = __float2bfloat16(a * c - b * s);
    head[pair + half] = __float2bfloat16(b * c + a * s);
}

}  // namespace

void rope_strided(uint16_t* q, int64_t q_stride, uint16_t* k, int64_t k_stride, const int64_t* positions,
                  int64_t tokens, int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t rotary_dim, double theta,
                  cudaStream_t stream) {
    HR_REQUIRE(q && k && positions && rotary_dim % 2 == 0 && rotary_dim <= head_dim, "bad arguments");
    HR_REQUIRE(q_stride >= heads * head_dim && k_stride >= kv_heads * head_dim, "row stride shorter than a row");
    const int64_t half = rotary_dim / 2;
    if (tokens == 0 || half == 0) return;
    rope_kernel<<<static_cast<unsigned>((tokens * heads * half + THREADS - 1) / THREADS), THREADS, 0, stream>>>(
        reinterpret_cast<__nv_bfloat16*>(q), q_stride, positions, tokens, heads, head_dim, rotary_dim, theta);
    rope_kernel<<<static_cast<unsigned>((tokens * kv_heads * half + THREADS - 1) / THREADS), THREADS, 0, stream>>>(
        reinterpret_cast<__nv_bfloat16*>(k), k_stride, positions, tokens, kv_heads, head_dim, rotary_dim, theta);
    HR_CUDA_CHECK(cudaGetLastError());
}

void rope(uint16_t* q, uint16_t* k, const int64_t* positions, int64_t tokens, int64_t heads, int64_t kv_heads,
          int64_t head_dim, int64_t rotary_dim, double theta, cudaStream_t stream) {
    rope_strided(q, heads * head_dim, k, kv_heads * head_dim, positions, tokens, heads, kv_heads, head_dim,
                 rotary_dim, theta, stream);
}

}  // namespace headroom::cuda
