// Row gather (embedding lookup, last-row pick) and the seeded weight fill.
#include <cuda_bf16.h>

#include "check.cuh"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

constexpr int THREADS = 256;

__global__ void gather_rows_kernel(const uint16_t* src, const int64_t* index, uint16_t* dst, int64_t width) {
    const uint16_t* from = src + index[blockIdx.x] * width;
    uint16_t* to = dst + static_cast<int64_t>(blockIdx.x) * width;
    for (int64_t i = threadIdx.x; i < width; i += THREADS) to[i] = from[i];
}

// splitmix64: a bijective mix of a 64-bit counter, good enough to seed Box-Muller.
__device__ uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

__global__ void fill_normal_kernel(__nv_bfloat16* out, int64_t n, uint64_t seed, float mean, float stddev) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * THREADS + threadIdx.x;
    if (i >= n) return;
    const uint64_t r = mix64(seed ^ mix64(static_cast<uint64_t>(i)));
    // two 24-bit uniforms in (0, 1]
    const float u1 = (static_cast<float>(r >> 40) + 1.0f) * (1.0f / 16777216.0f);
    const float u2 = static_cast<float>((r >> 16) & 0xffffff) * (1.0f / 16777216.0f);
    const float z = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
    out[i] = __float2bfloat16(mean + stddev * z);
}

}  // namespace

void gather_rows(const uint16_t* src, const int64_t* index, uint16_t* dst, int64_t rows, int64_t width,
                 cudaStream_t stream) {
    HR_REQUIRE(src && index && dst && rows >= 0 && width > 0, "bad arguments");
    if (rows == 0) return;
    gather_rows_kernel<<<static_cast<unsigned>(rows), THREADS, 0, stream>>>(src, index, dst, width);
    HR_CUDA_CHECK(cudaGetLastError());
}

void fill_normal(uint16_t* out, int64_t n, uint64_t seed, float mean, float stddev, cudaStream_t stream) {
    HR_REQUIRE(out && n >= 0, "bad arguments");
    if (n == 0) return;
    fill_normal_kernel<<<static_cast<unsigned>((n + THREADS - 1) / THREADS), THREADS, 0, stream>>>(
        reinterpret_cast<__nv_bfloat16*>(out), n, seed, mean, stddev);
    HR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace headroom::cuda
