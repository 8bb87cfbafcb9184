// Greedy sampling, one block per row: each thread keeps its best (value, index), then a shared-memory
// reduction keeps the larger value, and the lower index on ties (as the reference).
// Reference: executor/cpu/sampling.cpp.
#include "check.cuh"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

constexpr int THREADS = 256;

__global__ void argmax_kernel(const float* logits, int64_t* out, int64_t vocab) {
    __shared__ float best_v[THREADS];
    __shared__ int64_t best_i[THREADS];
    const float* row = logits + blockIdx.x * vocab;
    float bv = -INFINITY;
    int64_t bi = vocab;
    for (int64_t i = threadIdx.x; i < vocab; i += THREADS) {
        if (row[i] > bv) {
            bv = row[i];
            bi = i;
        }
    }
    best_v[threadIdx.x] = bv;
    best_i[threadIdx.x] = bi;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const float ov = best_v[threadIdx.x + s];
            const int64_t oi = best_i[threadIdx.x + s];
            if (ov > best_v[threadIdx.x] || (ov == best_v[threadIdx.x] && oi < best_i[threadIdx.x])) {
                best_v[threadIdx.x] = ov;
                best_i[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = best_i[0];
}

}  // namespace

void greedy_sample(const float* logits, int64_t* out, int64_t rows, int64_t vocab, cudaStream_t stream) {
    HR_REQUIRE(logits && out && rows >= 0 && vocab > 0, "bad arguments");
    if (rows == 0) return;
    argmax_kernel<<<static_cast<unsigned>(rows), THREADS, 0, stream>>>(logits, out, vocab);
    HR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace headroom::cuda
