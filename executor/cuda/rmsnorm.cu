// RMSNorm, one block per token: fp32 sum of squares reduced across the block, then y = x * rsqrt * w in bf16.
// Reference: executor/cpu/rmsnorm.cpp.
#include <cub/block/block_reduce.cuh>
#include <cuda_bf16.h>

#include "check.cuh"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

constexpr int THREADS = 256;

__global__ void rmsnorm_kernel(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int64_t width,
                               float eps) {
    using Reduce = cub::BlockReduce<float, THREADS>;
    __shared__ typename Reduce::TempStorage tmp;
    __shared__ float inv;
    const __nv_bfloat16* row = x + blockIdx.x * width;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < width; i += THREADS) {
        const float v = __bfloat162float(row[i]);
        ss += v * v;
    }
    const float total = Reduce(tmp).Sum(ss);
    if (threadIdx.x == 0) inv = 1.0f / sqrtf(total / static_cast<float>(width) + eps);
    __syncthreads();
    for (int64_t i = threadIdx.x; i < width; i += THREADS) {
        y[blockIdx.x * width + i] = __float2bfloat16(__bfloat162float(row[i]) * inv * __bfloat162float(w[i]));
    }
}

}  // namespace

void rmsnorm(const uint16_t* x, const uint16_t* weight, uint16_t* y, int64_t tokens, int64_t width, float eps,
             cudaStream_t stream) {
    HR_REQUIRE(x && weight && y && tokens >= 0 && width > 0, "bad arguments");
    if (tokens == 0) return;
    rmsnorm_kernel<<<static_cast<unsigned>(tokens), THREADS, 0, stream>>>(
        reinterpret_cast<const __nv_bfloat16*>(x), reinterpret_cast<const __nv_bfloat16*>(weight),
        reinterpret_cast<__nv_bfloat16*>(y), width, eps);
    HR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace headroom::cuda
