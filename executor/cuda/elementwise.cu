// Residual add and SiLU x mul, one thread per element, fp32 math, bf16 storage.
// Reference: executor/cpu/elementwise.cpp.
#include <cuda_bf16.h>

#include "check.cuh"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

constexpr int THREADS = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + THREADS - 1) / THREADS); }

__global__ void residual_add_kernel(__nv_bfloat16* x, const __nv_bfloat16* y, int64_t n) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * THREADS + threadIdx.x;
    if (i < n) x[i] = __float2bfloat16(__bfloat162float(x[i]) + __bfloat162float(y[i]));
}

__global__ void silu_mul_kernel(const __nv_bfloat16* gate_up, __nv_bfloat16* out, int64_t tokens, int64_t inter) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * THREADS + threadIdx.x;
    if (i >= tokens * inter) return;
    const int64_t t = i / inter, j = i % inter;
    const float g = __bfloat162float(gate_up[t * 2 * inter + j]);
    const float u = __bfloat162float(gate_up[t * 2 * inter + inter + j]);
    out[i] = __float2bfloat16(g / (1.0f + expf(-g)) * u);
}

}  // namespace

void residual_add(uint16_t* x, const uint16_t* y, int64_t n, cudaStream_t stream) {
    HR_REQUIRE(x && y && n >= 0, "bad arguments");
    if (n == 0) return;
    residual_add_kernel<<<blocks_for(n), THREADS, 0, stream>>>(reinterpret_cast<__nv_bfloat16*>(x),
                                                               reinterpret_cast<const __nv_bfloat16*>(y), n);
    HR_CUDA_CHECK(cudaGetLastError());
}

void silu_mul(const uint16_t* gate_up, uint16_t* out, int64_t tokens, int64_t inter, cudaStream_t stream) {
    HR_REQUIRE(gate_up && out && tokens >= 0 && inter > 0, "bad arguments");
    if (tokens == 0) return;
    silu_mul_kernel<<<blocks_for(tokens * inter), THREADS, 0, stream>>>(
        reinterpret_cast<const __nv_bfloat16*>(gate_up), reinterpret_cast<__nv_bfloat16*>(out), tokens, inter);
    HR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace headroom::cuda
