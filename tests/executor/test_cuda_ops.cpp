// Each CUDA kernel against its CPU reference (executor/cpu/), with bf16 tolerances. Without a GPU (CI, build
// machines) every test here skips with the reason.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstring>

#include <cmath>
#include <numeric>
#include <random>

#include "headroom/executor/device.hpp"
#include "headroom/executor/kernels.hpp"
#include "headroom/executor/reference.hpp"

using namespace headroom;

namespace {

#define SKIP_WITHOUT_GPU()                                                      \
    do {                                                                        \
        const DeviceInfo dev = query_device();                                  \
        if (!dev.available) GTEST_SKIP() << "CUDA kernel test skipped: " << dev.reason; \
    } while (0)

uint16_t to_bits(float x) {
    const float r = ref::bf16_round(x);
    uint32_t u;
    std::memcpy(&u, &r, 4);
    return static_cast<uint16_t>(u >> 16);
}

float from_bits(uint16_t b) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

// A device buffer of bf16 filled from floats, read back as floats.
struct Bf16Buffer {
    uint16_t* ptr = nullptr;
    size_t n = 0;
    explicit Bf16Buffer(const std::vector<float>& v) : n(v.size()) {
        std::vector<uint16_t> bits(n);
        for (size_t i = 0; i < n; ++i) bits[i] = to_bits(v[i]);
        cudaMalloc(&ptr, n * 2);
        cudaMemcpy(ptr, bits.data(), n * 2, cudaMemcpyHostToDevice);
    }
    std::vector<float> read() const {
        std::vector<uint16_t> bits(n);
        cudaMemcpy(bits.data(), ptr, n * 2, cudaMemcpyDeviceToHost);
        std::vector<float> v(n);
        for (size_t i = 0; i < n; ++i) v[i] = from_bits(bits[i]);
        return v;
    }
    ~Bf16Buffer() { cudaFree(ptr); }
};

std::vector<float> randn(size_t n, uint64_t seed) {
    std::mt19937_64 g(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = ref::bf16_round(d(g));
    return v;
}

// bf16 tolerance: one unit in the last place (2^-7 relative) plus a small absolute floor.
void expect_close_bf16(const std::vector<float>& got, const std::vector<float>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], std::fabs(want[i]) * 0.0079 + 1e-3) << "at " << i;
    }
}

}  // namespace

TEST(CudaDevice, QueryNeverThrows) {
    const DeviceInfo d = query_device();
    if (d.available) {
        EXPECT_GT(d.memory_bytes, 0);
        EXPECT_GT(d.sm_count, 0);
    } else {
        EXPECT_FALSE(d.reason.empty());
    }
}

TEST(CudaOps, RmsNorm) {
    SKIP_WITHOUT_GPU();
    const int64_t T = 7, W = 1000;
    const auto x = randn(T * W, 1), w = randn(W, 2);
    std::vector<float> want(x.size());
    ref::rmsnorm(x.data(), w.data(), want.data(), T, W, 1e-5f);
    Bf16Buffer dx(x), dw(w), dy(std::vector<float>(x.size()));
    cuda::rmsnorm(dx.ptr, dw.ptr, dy.ptr, T, W, 1e-5f, nullptr);
    expect_close_bf16(dy.read(), want);
}

TEST(CudaOps, ResidualAndSiluMul) {
    SKIP_WITHOUT_GPU();
    const auto a = randn(5000, 3), b = randn(5000, 4);
    std::vector<float> want = a;
    ref::residual_add(want.data(), b.data(), 5000);
    Bf16Buffer da(a), db(b);
    cuda::residual_add(da.ptr, db.ptr, 5000, nullptr);
    expect_close_bf16(da.read(), want);
    const auto gu = randn(3 * 2 * 500, 5);
    std::vector<float> act(3 * 500);
    ref::silu_mul(gu.data(), act.data(), 3, 500);
    Bf16Buffer dgu(gu), dact(std::vector<float>(act.size()));
    cuda::silu_mul(dgu.ptr, dact.ptr, 3, 500, nullptr);
    expect_close_bf16(dact.read(), act);
}

TEST(CudaOps, Rope) {
    SKIP_WITHOUT_GPU();
    const int64_t T = 9, H = 8, KV = 2, d = 128;
    auto q = randn(T * H * d, 6), k = randn(T * KV * d, 7);
    std::vector<int64_t> pos(T);
    std::iota(pos.begin(), pos.end(), 4000);
    Bf16Buffer dq(q), dk(k);
    int64_t* dpos;
    cudaMalloc(&dpos, T * 8);
    cudaMemcpy(dpos, pos.data(), T * 8, cudaMemcpyHostToDevice);
    ref::rope(q.data(), k.data(), pos.data(), T, H, KV, d, d, 500000.0);
    ref::bf16_round_inplace(q);
    ref::bf16_round_inplace(k);
    cuda::rope(dq.ptr, dk.ptr, dpos, T, H, KV, d, d, 500000.0, nullptr);
    expect_close_bf16(dq.read(), q);
    expect_close_bf16(dk.read(), k);
    cudaFree(dpos);
}

TEST(CudaOps, PagedKvWrite) {
    SKIP_WITHOUT_GPU();
    const int64_t KV = 2, d = 64, bs = 16, tokens = 40;
    const auto k = randn(tokens * KV * d, 8), v = randn(tokens * KV * d, 9);
    std::vector<int32_t> table = {5, 2, 7};
    ref::PagedKv want(8, bs, KV, d);
    ref::kv_write(want, k.data(), v.data(), table, 3, tokens);
    std::vector<int64_t> slots;
    for (int64_t t = 0; t < tokens; ++t) slots.push_back(ref::slot_of(table, 3 + t, bs));
    Bf16Buffer dk(k), dv(v), kc(std::vector<float>(want.k.size())), vc(std::vector<float>(want.v.size()));
    int64_t* ds;
    cudaMalloc(&ds, tokens * 8);
    cudaMemcpy(ds, slots.data(), tokens * 8, cudaMemcpyHostToDevice);
    cuda::kv_write(dk.ptr, dv.ptr, kc.ptr, vc.ptr, ds, tokens, KV, d, nullptr);
    EXPECT_EQ(kc.read(), want.k);  // a copy: bit-exact
    EXPECT_EQ(vc.read(), want.v);
    cudaFree(ds);
}

TEST(CudaOps, GreedySample) {
    SKIP_WITHOUT_GPU();
    const int64_t rows = 4, vocab = 128256;
    auto logits = randn(rows * vocab, 10);
    logits[2 * vocab + 77] = 50.0f;
    logits[2 * vocab + 99] = 50.0f;  // a tie: the lower index wins
    std::vector<int64_t> want(rows), got(rows);
    ref::greedy_sample(logits.data(), want.data(), rows, vocab);
    float* dl;
    int64_t* dout;
    cudaMalloc(&dl, logits.size() * 4);
    cudaMalloc(&dout, rows * 8);
    cudaMemcpy(dl, logits.data(), logits.size() * 4, cudaMemcpyHostToDevice);
    cuda::greedy_sample(dl, dout, rows, vocab, nullptr);
    cudaMemcpy(got.data(), dout, rows * 8, cudaMemcpyDeviceToHost);
    EXPECT_EQ(got, want);
    EXPECT_EQ(got[2], 77);
    cudaFree(dl);
    cudaFree(dout);
}
