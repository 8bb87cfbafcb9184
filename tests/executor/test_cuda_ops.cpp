// Each CUDA kernel against its CPU reference (executor/cpu/), with bf16 tolerances. Without a GPU (CI, build
// machines) every test here skips with the reason.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstring>

#include <cmath>
#include <numeric>
#include <random>
#include <tuple>
#include <algorithm>

#include "headroom/executor/device.hpp"
#include "headroom/executor/kernels.hpp"
#include "headroom/executor/gpu_model.hpp"
#include "headroom/executor/reference.hpp"
#include "headroom/models/config_loader.hpp"

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
    // Sizes that are multiples of 8 (5000; 512) take the 16-byte kernels, the others (4999; 500) the
    // one-element ones.
    struct Case {
        int64_t n, inter;
        uint64_t seed;
    };
    for (const Case c : {Case{5000, 500, 3}, Case{4999, 512, 6}}) {
        const auto a = randn(c.n, c.seed), b = randn(c.n, c.seed + 1);
        std::vector<float> want = a;
        ref::residual_add(want.data(), b.data(), c.n);
        Bf16Buffer da(a), db(b);
        cuda::residual_add(da.ptr, db.ptr, c.n, nullptr);
        expect_close_bf16(da.read(), want);
        const auto gu = randn(3 * 2 * c.inter, c.seed + 2);
        std::vector<float> act(3 * c.inter);
        ref::silu_mul(gu.data(), act.data(), 3, c.inter);
        Bf16Buffer dgu(gu), dact(std::vector<float>(act.size()));
        cuda::silu_mul(dgu.ptr, dact.ptr, 3, c.inter, nullptr);
        expect_close_bf16(dact.read(), act);
    }
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

namespace {

// A device copy of host data, freed at scope exit.
template <typename T>
struct DevVec {
    T* ptr = nullptr;
    explicit DevVec(const std::vector<T>& v) {
        cudaMalloc(&ptr, std::max<size_t>(1, v.size()) * sizeof(T));
        if (!v.empty()) cudaMemcpy(ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
    }
    ~DevVec() { cudaFree(ptr); }
};

// Relative error against the largest magnitude of the reference.
double max_rel(const std::vector<float>& got, const std::vector<float>& want) {
    double mx = 0, scale = 1e-6;
    for (size_t i = 0; i < want.size(); ++i) {
        mx = std::max(mx, static_cast<double>(std::fabs(got[i] - want[i])));
        scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
    }
    return mx / scale;
}

ModelCard tiny64() {  // head_dim 64, the smallest the attention kernels take
    return parse_model_config(R"({"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 384, "vocab_size": 211,
        "max_position_embeddings": 2048, "rope_theta": 10000.0, "rms_norm_eps": 1e-5})", "tiny64.json", "tiny64");
}

}  // namespace

TEST(CudaOps, GemmBf16MatchesReference) {
    SKIP_WITHOUT_GPU();
    cuda::Gemm gemm;
    for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 4096, 1024}, {37, 512, 300}, {256, 1024, 2048}}) {
        const auto x = randn(M * K, 11), w = randn(N * K, 12);
        std::vector<float> want(M * N);
        ref::gemm(x.data(), w.data(), want.data(), M, K, N);
        Bf16Buffer dx(x), dw(w), dy(std::vector<float>(M * N));
        gemm.run(dx.ptr, dw.ptr, dy.ptr, M, K, N, false, nullptr);
        cudaDeviceSynchronize();
        // fp32 accumulation in another order, then one bf16 rounding: within 2 bf16 ulps of the largest value
        EXPECT_LT(max_rel(dy.read(), want), 2.0 / 128) << M << "x" << K << "x" << N;
        float* dl;
        cudaMalloc(&dl, M * N * 4);
        gemm.run(dx.ptr, dw.ptr, dl, M, K, N, true, nullptr);
        std::vector<float> logits(M * N);
        cudaMemcpy(logits.data(), dl, M * N * 4, cudaMemcpyDeviceToHost);
        cudaFree(dl);
        EXPECT_LT(max_rel(logits, want), 1.0 / 128);
    }
}

TEST(CudaOps, PagedPrefillAttentionMatchesReference) {
    SKIP_WITHOUT_GPU();
    // Two chunks in one step: 150 new tokens after 70 cached, and 40 new tokens at context 0; GQA 8:2.
    for (int64_t d : {64, 128}) {
        const int64_t H = 8, KV = 2, bs = 16, blocks = 40;
        const std::vector<int64_t> ctx = {70, 0}, len = {150, 40};
        ref::PagedKv cache(blocks, bs, KV, d);
        const auto kk = randn(cache.k.size(), 20), vv = randn(cache.v.size(), 21);
        cache.k = kk;
        cache.v = vv;
        std::vector<std::vector<int32_t>> tables = {{}, {}};
        std::vector<int32_t> order(blocks);
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), std::mt19937_64(5));
        size_t next = 0;
        for (int s = 0; s < 2; ++s) {
            for (int64_t b = 0; b < (ctx[s] + len[s] + bs - 1) / bs; ++b) tables[s].push_back(order[next++]);
        }
        const int64_t T = len[0] + len[1];
        const auto q = randn(T * H * d, 22);
        std::vector<float> want(T * H * d);
        ref::prefill_attention(q.data(), cache, tables[0], want.data(), ctx[0], len[0], H, 16);
        ref::prefill_attention(q.data() + len[0] * H * d, cache, tables[1], want.data() + len[0] * H * d, ctx[1], len[1], H, 16);

        std::vector<int32_t> tile_seq, tile_q0, qlen = {150, 40}, context = {70, 0}, flat, offsets;
        std::vector<int64_t> row0 = {0, 150};
        for (int s = 0; s < 2; ++s) {
            offsets.push_back(static_cast<int32_t>(flat.size()));
            flat.insert(flat.end(), tables[s].begin(), tables[s].end());
            for (int32_t q0 = 0; q0 < qlen[s]; q0 += 64) {
                tile_seq.push_back(s);
                tile_q0.push_back(q0);
            }
        }
        DevVec<int32_t> dts(tile_seq), dtq(tile_q0), dql(qlen), dctx(context), dflat(flat), doff(offsets);
        DevVec<int64_t> drow(row0);
        Bf16Buffer dq(q), dk(cache.k), dv(cache.v), dout(std::vector<float>(T * H * d));
        cuda::PrefillBatch b;
        b.tiles = static_cast<int32_t>(tile_seq.size());
        b.tile_seq = dts.ptr;
        b.tile_q0 = dtq.ptr;
        b.seq_row0 = drow.ptr;
        b.seq_qlen = dql.ptr;
        b.seq_context = dctx.ptr;
        b.block_tables = dflat.ptr;
        b.table_offsets = doff.ptr;
        cuda::prefill_attention(dq.ptr, H * d, dk.ptr, dv.ptr, dout.ptr, b, H, KV, d, bs, nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        // P is rounded to bf16 before P V on the tensor cores: a few bf16 ulps of the output's scale
        EXPECT_LT(max_rel(dout.read(), want), 0.03) << "head_dim " << d;
    }
}

TEST(CudaOps, SplitKeyDecodeAttentionMatchesReference) {
    SKIP_WITHOUT_GPU();
    const int64_t H = 8, KV = 2, d = 128, bs = 16, blocks = 300;
    const std::vector<int64_t> lens = {1, 17, 1000, 2500};
    ref::PagedKv cache(blocks, bs, KV, d);
    cache.k = randn(cache.k.size(), 30);
    cache.v = randn(cache.v.size(), 31);
    std::vector<std::vector<int32_t>> tables;
    int32_t next = 0;
    for (int64_t len : lens) {
        tables.emplace_back();
        for (int64_t b = 0; b < (len + bs - 1) / bs; ++b) tables.back().push_back(next++);
    }
    const auto B = static_cast<int64_t>(lens.size());
    const auto q = randn((B + 1) * H * d, 32);  // one more row: the padding sequence
    std::vector<float> want(B * H * d);
    ref::decode_attention(q.data(), cache, tables, lens, want.data(), H, 1);
    for (int32_t splits : {1, 5, 16}) {
        std::vector<int32_t> rows, seq_lens, flat, offsets;
        for (int64_t i = 0; i < B; ++i) {
            rows.push_back(static_cast<int32_t>(i));
            seq_lens.push_back(static_cast<int32_t>(lens[i]));
            offsets.push_back(static_cast<int32_t>(flat.size()));
            flat.insert(flat.end(), tables[i].begin(), tables[i].end());
        }
        rows.push_back(static_cast<int32_t>(B));  // padding: length 0 writes zeros
        seq_lens.push_back(0);
        offsets.push_back(0);
        DevVec<int32_t> drows(rows), dlens(seq_lens), dflat(flat), doff(offsets);
        Bf16Buffer dq(q), dk(cache.k), dv(cache.v), dout(std::vector<float>((B + 1) * H * d, 1.0f));
        float* ws;
        cudaMalloc(&ws, cuda::decode_workspace_floats(B + 1, H, d, splits) * 4);
        cuda::DecodeBatch b;
        b.seqs = static_cast<int32_t>(B + 1);
        b.splits = splits;
        b.rows = drows.ptr;
        b.seq_lens = dlens.ptr;
        b.block_tables = dflat.ptr;
        b.table_offsets = doff.ptr;
        cuda::decode_attention(dq.ptr, H * d, dk.ptr, dv.ptr, dout.ptr, b, ws, H, KV, d, bs, nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        cudaFree(ws);
        const auto got = dout.read();
        EXPECT_LT(max_rel(std::vector<float>(got.begin(), got.begin() + B * H * d), want), 0.01) << splits << " splits";
        for (int64_t i = B * H * d; i < (B + 1) * H * d; ++i) ASSERT_EQ(got[i], 0.0f);
    }
}

TEST(CudaOps, FillNormalIsSeededAndStandard) {
    SKIP_WITHOUT_GPU();
    const int64_t n = 1 << 20;
    Bf16Buffer a{std::vector<float>(n)}, b{std::vector<float>(n)};
    cuda::fill_normal(a.ptr, n, 42, 0.0f, 1.0f, nullptr);
    cuda::fill_normal(b.ptr, n, 42, 0.0f, 1.0f, nullptr);
    const auto va = a.read(), vb = b.read();
    EXPECT_EQ(va, vb);
    double mean = 0, var = 0;
    for (float x : va) mean += x;
    mean /= n;
    for (float x : va) var += (x - mean) * (x - mean);
    var /= n;
    // N(0,1) over 2^20 draws: the mean's standard error is 1e-3, the variance's about 1.4e-3
    EXPECT_NEAR(mean, 0.0, 5e-3);
    EXPECT_NEAR(var, 1.0, 1e-2);
}

TEST(CudaForward, MatchesReferenceModelThroughPrefillChunksAndDecodes) {
    SKIP_WITHOUT_GPU();
    const ModelCard m = tiny64();
    const int64_t blocks = 64, bs = 16;
    ref::ReferenceModel cpu(m, 3, m.num_layers, blocks, bs);
    cuda::ModelOptions o;
    o.num_blocks = blocks;
    o.block_size = bs;
    o.max_tokens = 512;
    o.max_seqs = 8;
    cuda::Model gpu(m, o, ref::random_weights(m, 3, m.num_layers));
    // Two sequences: a 100-token prompt in chunks of 64 + 36, and a 20-token prompt; then 5 decodes each.
    std::vector<int32_t> t0, t1;
    for (int32_t b = 0; b < 10; ++b) t0.push_back(b), t1.push_back(20 + b);
    std::vector<int64_t> p0(100), p1(20);
    for (size_t i = 0; i < p0.size(); ++i) p0[i] = static_cast<int64_t>((i * 37) % 211);
    for (size_t i = 0; i < p1.size(); ++i) p1[i] = static_cast<int64_t>((i * 53 + 7) % 211);
    std::vector<std::vector<ref::SeqStep>> steps = {
        {{std::vector<int64_t>(p0.begin(), p0.begin() + 64), 0, t0}},
        {{std::vector<int64_t>(p0.begin() + 64, p0.end()), 64, t0}, {p1, 0, t1}},
    };
    for (int step = 0; step < 2; ++step) {
        const auto want = cpu.forward(steps[step]);
        gpu.step(steps[step]);
        EXPECT_LT(max_rel(gpu.last_logits(), want), 0.05) << "prefill step " << step;
    }
    // Decodes: feed the reference's own greedy tokens to both; once with graphs (the default), and compare.
    std::vector<int64_t> ctx = {100, 20};
    std::vector<int64_t> last = {5, 9};  // any tokens: both models are fed the same ones
    for (int it = 0; it < 5; ++it) {
        std::vector<ref::SeqStep> batch = {{{last[0]}, ctx[0], t0}, {{last[1]}, ctx[1], t1}};
        const auto want = cpu.forward(batch);
        const auto next = gpu.step(batch);
        EXPECT_TRUE(gpu.last_step_used_graph());
        EXPECT_LT(max_rel(gpu.last_logits(), want), 0.05) << "decode " << it;
        std::vector<int64_t> ref_next(2);
        ref::greedy_sample(want.data(), ref_next.data(), 2, m.vocab_size);
        last = ref_next;
        ++ctx[0];
        ++ctx[1];
        (void)next;
    }
}

TEST(CudaForward, GraphReplayEqualsEagerLaunch) {
    SKIP_WITHOUT_GPU();
    const ModelCard m = tiny64();
    cuda::ModelOptions o;
    o.num_blocks = 16;
    o.max_tokens = 256;
    o.max_seqs = 8;
    o.seed = 9;
    cuda::Model eager_model(m, [&] { auto e = o; e.cuda_graphs = false; return e; }());
    cuda::Model graph_model(m, o);
    std::vector<int64_t> prompt(40);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int64_t>(i * 3 % 211);
    const std::vector<int32_t> table = {0, 1, 2, 3};
    int64_t a = eager_model.step({{prompt, 0, table}})[0];
    int64_t b = graph_model.step({{prompt, 0, table}})[0];
    ASSERT_EQ(a, b);
    for (int64_t pos = 40; pos < 50; ++pos) {  // batch of 3 pads to the bucket of 4
        const std::vector<ref::SeqStep> batch = {{{a}, pos, table}, {{a}, pos, table}, {{a}, pos, table}};
        const auto ea = eager_model.step(batch);
        const auto gb = graph_model.step(batch);
        EXPECT_FALSE(eager_model.last_step_used_graph());
        EXPECT_TRUE(graph_model.last_step_used_graph());
        // same math; the bucket's GEMM shape and key splits differ, so the sums differ in the last bits
        EXPECT_LT(max_rel(graph_model.last_logits(), eager_model.last_logits()), 0.02) << "at position " << pos;
        a = ea[0];
        (void)gb;
    }
}
