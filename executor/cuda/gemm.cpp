// bf16 GEMMs on cuBLASLt. cuBLASLt is column-major, so row-major y[M, N] = x[M, K] W[N, K]^T is computed as
// the column-major y^T[N, M] = W[N, K] x^T[K, M]: A is W stored K x N (ld K) and transposed, B is x stored
// K x M (ld K), D is N x M (ld N): the "TN" layout, which every cuBLASLt kernel family supports.
#include <cublasLt.h>

#include <map>
#include <memory>
#include <tuple>

#include "check.cuh"
#include "headroom/executor/kernels.hpp"

#define HR_CUBLAS_CHECK(expr)                                                                                  \
    do {                                                                                                      \
        const cublasStatus_t hr_st = (expr);                                                                  \
        if (hr_st != CUBLAS_STATUS_SUCCESS) {                                                                 \
            throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + #expr +   \
                                     ": " + cublasLtGetStatusString(hr_st));                                    \
        }                                                                                                     \
    } while (0)

namespace headroom::cuda {

namespace {

constexpr size_t WORKSPACE_BYTES = 32u << 20;  // as recommended for Hopper in the cuBLAS docs

// One shape's descriptors and chosen algorithm.
struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
    ~Plan() {
        if (d) cublasLtMatrixLayoutDestroy(d);
        if (b) cublasLtMatrixLayoutDestroy(b);
        if (a) cublasLtMatrixLayoutDestroy(a);
        if (op) cublasLtMatmulDescDestroy(op);
    }
};

}  // namespace

struct Gemm::Impl {
    cublasLtHandle_t handle = nullptr;
    void* workspace = nullptr;
    std::map<std::tuple<int64_t, int64_t, int64_t, bool>, std::unique_ptr<Plan>> plans;

    const Plan& plan(int64_t m, int64_t k, int64_t n, bool fp32_out) {
        auto key = std::make_tuple(m, k, n, fp32_out);
        auto it = plans.find(key);
        if (it != plans.end()) return *it->second;
        auto p = std::make_unique<Plan>();
        HR_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
        HR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
        HR_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)));
        HR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k));
        HR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k));
        HR_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->d, fp32_out ? CUDA_R_32F : CUDA_R_16BF, static_cast<uint64_t>(n),
                                                   static_cast<uint64_t>(m), n));
        cublasLtMatmulPreference_t pref = nullptr;
        HR_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
        const uint64_t ws = WORKSPACE_BYTES;
        HR_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
        cublasLtMatmulHeuristicResult_t result{};
        int found = 0;
        const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle, p->op, p->a, p->b, p->d, p->d, pref, 1, &result, &found);
        cublasLtMatmulPreferenceDestroy(pref);
        HR_CUBLAS_CHECK(st);
        if (found == 0) {
            throw std::runtime_error("cuBLASLt has no algorithm for a " + std::to_string(m) + "x" + std::to_string(k) +
                                     "x" + std::to_string(n) + " bf16 GEMM");
        }
        p->algo = result.algo;
        return *(plans[key] = std::move(p));
    }
};

Gemm::Gemm() : impl_(new Impl) {
    try {
        HR_CUBLAS_CHECK(cublasLtCreate(&impl_->handle));
        HR_CUDA_CHECK(cudaMalloc(&impl_->workspace, WORKSPACE_BYTES));
    } catch (...) {
        if (impl_->handle) cublasLtDestroy(impl_->handle);
        delete impl_;
        throw;
    }
}

Gemm::~Gemm() {
    impl_->plans.clear();
    cudaFree(impl_->workspace);
    cublasLtDestroy(impl_->handle);
    delete impl_;
}

void Gemm::run(const uint16_t* x, const uint16_t* w, void* y, int64_t m, int64_t k, int64_t n, bool fp32_out,
               cudaStream_t stream) {
    HR_REQUIRE(x && w && y && m >= 0 && k > 0 && n > 0, "bad arguments");
    if (m == 0) return;
    const Plan& p = impl_->plan(m, k, n, fp32_out);
    const float alpha = 1.0f, beta = 0.0f;
    HR_CUBLAS_CHECK(cublasLtMatmul(impl_->handle, p.op, &alpha, w, p.a, x, p.b, &beta, y, p.d, y, p.d, &p.algo,
                                   impl_->workspace, WORKSPACE_BYTES, stream));
}

}  // namespace headroom::cuda
