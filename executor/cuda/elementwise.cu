// Residual add and SiLU x mul, fp32 math, bf16 storage: eight elements per thread (16-byte loads and stores)
// where the sizes and addresses allow, else one per thread; both round the same fp32 result to bf16.
// Reference: executor/cpu/elementwise.cpp.
#include <cuda_bf16.h>

#include <cstdint>

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

__device__ inline float silu_times(float g, float u) { return g / (1.0f + expf(-g)) * u; }

__global__ void residual_add8_kernel(uint4* x, const uint4* y, int64_t n8) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * THREADS + threadIdx.x;
    if (i >= n8) return;
    uint4 a = x[i];
    const uint4 b = y[i];
    auto* ha = reinterpret_cast<__nv_bfloat162*>(&a);
    const auto* hb = reinterpret_cast<const __nv_bfloat162*>(&b);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const float2 fa = __bfloat1622float2(ha[k]), fb = __bfloat1622float2(hb[k]);
        ha[k] = __floats2bfloat162_rn(fa.x + fb.x, fa.y + fb.y);
    }
    x[i] = a;
}

// inter8 = inter / 8: the gate and up halves of token t start at 16-byte chunks 2 t inter8 and
// (2 t + 1) inter8.
__global__ void silu_mul8_kernel(const uint4* gate_up, uint4* out, int64_t tokens, int64_t inter8) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * THREADS + threadIdx.x;
    if (i >= tokens * inter8) return;
    const int64_t t = i / inter8, j = i % inter8;
    const uint4 g = gate_up[2 * t * inter8 + j], u = gate_up[(2 * t + 1) * inter8 + j];
    uint4 r;
    const auto* hg = reinterpret_cast<const __nv_bfloat162*>(&g);
    const auto* hu = reinterpret_cast<const __nv_bfloat162*>(&u);
    auto* hr = reinterpret_cast<__nv_bfloat162*>(&r);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const float2 fg = __bfloat1622float2(hg[k]), fu = __bfloat1622float2(hu[k]);
        hr[k] = __floats2bfloat162_rn(silu_times(fg.x, fu.x), silu_times(fg.y, fu.y));
    }
    out[i] = r;
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

__global__ void silu_mul_kernel(const __nv_bfloat16* gate_up, __nv_bfloat16* out, int64_t tokens, int64_t inter) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * THREADS + threadIdx.x;
    if (i >= tokens * inter) return;
    const int64_t t = i / inter, j = i % inter;
    const float g = __bfloat162float(gate_up[t * 2 * inter + j]);
    const float u = __bfloat162float(gate_up[t * 2 * inter + inter + j]);
    out[i] = __float2bfloat16(silu_times(g, u));
}

}  // namespace

void residual_add(uint16_t* x, const uint16_t* y, int64_t n, cudaStream_t stream) {
    HR_REQUIRE(x && y && n >= 0, "bad arguments");
    if (n == 0) return;
    if (n % 8 == 0 && aligned16(x) && aligned16(y)) {
        residual_add8_kernel<<<blocks_for(n / 8), THREADS, 0, stream>>>(
            reinterpret_cast<uint4*>(x), reinterpret_cast<const uint4*>(y), n / 8);
        HR_CUDA_CHECK(cudaGetLastError());
        return;
    }
    residual_add_kernel<<<blocks_for(n), THREADS, 0, stream>>>(reinterpret_cast<__nv_bfloat16*>(x),
                                                               reinterpret_cast<const __nv_bfloat16*>(y), n);
    HR_CUDA_CHECK(cudaGetLastError());
}

void silu_mul(const uint16_t* gate_up, uint16_t* out, int64_t tokens, int64_t inter, cudaStream_t stream) {
    HR_REQUIRE(gate_up && out && tokens >= 0 && inter > 0, "bad arguments");
    if (tokens == 0) return;
    if (inter % 8 == 0 && aligned16(gate_up) && aligned16(out)) {
        silu_mul8_kernel<<<blocks_for(tokens * inter / 8), THREADS, 0, stream>>>(
            reinterpret_cast<const uint4*>(gate_up), reinterpret_cast<uint4*>(out), tokens, inter / 8);
        HR_CUDA_CHECK(cudaGetLastError());
        return;
    }
    silu_mul_kernel<<<blocks_for(tokens * inter), THREADS, 0, stream>>>(
        reinterpret_cast<const __nv_bfloat16*>(gate_up), reinterpret_cast<__nv_bfloat16*>(out), tokens, inter);
    HR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace headroom::cuda
