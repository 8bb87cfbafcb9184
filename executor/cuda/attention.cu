// Attention over the paged KV cache, bf16 in and out, fp32 softmax and accumulation.
//
// Prefill (flash-style): one thread block per (64-query tile of one sequence's chunk, query head). Four
// warps, 16 query rows each. Keys stream through shared memory in tiles of 64, gathered through the block
// table with asynchronous copies (cp.async: every copy of a tile in flight at once); S = Q K^T and O += P V
// run on the tensor cores (WMMA bf16 16x16x16, fp32 accumulators). The online softmax keeps a running max m
// and sum l per row; O lives in shared memory in fp32 so that each row can be rescaled by exp(m_old - m_new)
// before the next P V. Causal: query t of a chunk sits at position context + t and sees keys 0 .. context +
// t, which covers the cached prefix and the chunk itself.
//
// Decode (flash-decoding): one thread block per (query head, sequence, key split). Each warp walks keys of
// its split eight at a time (all eight keys' loads issued before any is used) with an online softmax, lanes
// holding head_dim / 32 dimensions each; the warps' states merge in shared memory and each split writes (m,
// l, acc) to a workspace that a second kernel merges into the output. Sequences of length 0 (the padding of a
// CUDA-graph bucket) produce zeros.
//
// References: ref::prefill_attention and ref::decode_attention (executor/cpu/attention.cpp).
#include <cuda_bf16.h>
#include <cuda_pipeline.h>
#include <mma.h>

#include <type_traits>

#include "check.cuh"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int PF_WARPS = 4;
constexpr int PF_BQ = 16 * PF_WARPS;  // queries per block
constexpr int PF_BK = 64;             // keys per tile
constexpr int PF_THREADS = 32 * PF_WARPS;

// Shared-memory layout of the prefill kernel; every region starts on a 128-byte boundary (WMMA needs 32).
template <int D>
struct PrefillSmem {
    static constexpr int LD_QKV = D + 8;     // bf16 rows of Q, K, V
    static constexpr int LD_S = PF_BK + 4;   // fp32 scores
    static constexpr int LD_P = PF_BK + 8;   // bf16 probabilities
    static constexpr int LD_O = D + 4;       // fp32 output accumulator
    static constexpr size_t round(size_t b) { return (b + 127) / 128 * 128; }
    static constexpr size_t q = 0;
    static constexpr size_t k = q + round(sizeof(__nv_bfloat16) * PF_BQ * LD_QKV);
    static constexpr size_t v = k + round(sizeof(__nv_bfloat16) * PF_BK * LD_QKV);
    static constexpr size_t s = v + round(sizeof(__nv_bfloat16) * PF_BK * LD_QKV);
    static constexpr size_t p = s + round(sizeof(float) * PF_WARPS * 16 * LD_S);
    static constexpr size_t o = p + round(sizeof(__nv_bfloat16) * PF_WARPS * 16 * LD_P);
    static constexpr size_t bytes = o + round(sizeof(float) * PF_WARPS * 16 * LD_O);
};

// Starts the copy of one 64-row tile of keys (or values) of KV head kvh into shared memory, 16 bytes at a
// time with cp.async (sm_80+), so that every copy of a thread is in flight at once; rows at or past `end` are
// zero. The caller commits and waits.
template <int D>
__device__ void load_kv_tile(__nv_bfloat16* dst, const __nv_bfloat16* cache, const int32_t* table, int first,
                             int end, int block_size, int kv_heads, int kvh) {
    constexpr int CHUNKS = D / 8;
    constexpr int PER_THREAD = PF_BK * CHUNKS / PF_THREADS;
    static_assert(PF_BK * CHUNKS % PF_THREADS == 0, "a tile is a whole number of copies per thread");
#pragma unroll
    for (int it = 0; it < PER_THREAD; ++it) {
        const int i = threadIdx.x + it * PF_THREADS;
        const int r = i / CHUNKS, c = (i % CHUNKS) * 8;
        const int j = first + r;
        __nv_bfloat16* d = dst + r * PrefillSmem<D>::LD_QKV + c;
        if (j < end) {
            const int64_t slot = static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
            __pipeline_memcpy_async(d, cache + (slot * kv_heads + kvh) * D + c, 16);
        } else {
            *reinterpret_cast<uint4*>(d) = make_uint4(0, 0, 0, 0);
        }
    }
}

template <int D>
__global__ void __launch_bounds__(PF_THREADS)
    prefill_attention_kernel(const __nv_bfloat16* q, int64_t q_stride, const __nv_bfloat16* k_cache,
                             const __nv_bfloat16* v_cache, __nv_bfloat16* out, const PrefillBatch b, int heads,
                             int kv_heads, int block_size, float scale) {
    using L = PrefillSmem<D>;
    extern __shared__ __align__(128) unsigned char smem[];
    auto* sQ = reinterpret_cast<__nv_bfloat16*>(smem + L::q);
    auto* sK = reinterpret_cast<__nv_bfloat16*>(smem + L::k);
    auto* sV = reinterpret_cast<__nv_bfloat16*>(smem + L::v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float* sS = reinterpret_cast<float*>(smem + L::s) + warp * 16 * L::LD_S;
    auto* sP = reinterpret_cast<__nv_bfloat16*>(smem + L::p) + warp * 16 * L::LD_P;
    float* sO = reinterpret_cast<float*>(smem + L::o) + warp * 16 * L::LD_O;

    const int tile = blockIdx.x, head = blockIdx.y;
    const int seq = b.tile_seq[tile], q0 = b.tile_q0[tile];
    const int qlen = b.seq_qlen[seq], context = b.seq_context[seq];
    const int64_t row0 = b.seq_row0[seq];
    const int32_t* table = b.block_tables + b.table_offsets[seq];
    const int kvh = head / (heads / kv_heads);

    // Q tile (zero past the chunk) and the warp's fp32 O.
    constexpr int CHUNKS = D / 8;
    for (int i = threadIdx.x; i < PF_BQ * CHUNKS; i += PF_THREADS) {
        const int r = i / CHUNKS, c = (i % CHUNKS) * 8;
        uint4 val = make_uint4(0, 0, 0, 0);
        if (q0 + r < qlen) val = *reinterpret_cast<const uint4*>(q + (row0 + q0 + r) * q_stride + head * D + c);
        *reinterpret_cast<uint4*>(sQ + r * L::LD_QKV + c) = val;
    }
    for (int i = lane; i < 16 * D; i += 32) sO[(i / D) * L::LD_O + i % D] = 0.0f;

    // Two lanes per query row: lane 2r and 2r+1 own row r, half of the key columns and half of O's columns.
    const int row = lane / 2, half = lane % 2;
    const int rot = row + 16 * half;  // see the softmax below
    const int qi = q0 + warp * 16 + row;  // query index within the chunk
    const bool valid = qi < qlen;
    const int qpos = context + qi;
    float m = -INFINITY, l = 0.0f;

    const int keys_end = context + min(q0 + PF_BQ, qlen);
    for (int kt = 0; kt < keys_end; kt += PF_BK) {
        __syncthreads();  // the previous tile's K and V are no longer read
        load_kv_tile<D>(sK, k_cache, table, kt, keys_end, block_size, kv_heads, kvh);
        load_kv_tile<D>(sV, v_cache, table, kt, keys_end, block_size, kv_heads, kvh);
        __pipeline_commit();
        __pipeline_wait_prior(0);
        __syncthreads();

        // S (16 x 64) = Q_warp (16 x D) K_tile^T (D x 64)
        for (int n = 0; n < PF_BK / 16; ++n) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int kk = 0; kk < D / 16; ++kk) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> bk;
                wmma::load_matrix_sync(a, sQ + warp * 16 * L::LD_QKV + kk * 16, L::LD_QKV);
                wmma::load_matrix_sync(bk, sK + n * 16 * L::LD_QKV + kk * 16, L::LD_QKV);
                wmma::mma_sync(acc, a, bk, acc);
            }
            wmma::store_matrix_sync(sS + n * 16, acc, L::LD_S, wmma::mem_row_major);
        }
        __syncwarp();

        // Online softmax over this tile's 64 keys, 32 per lane. Each lane starts its 32 columns at its own
        // rotation (row + 16 * half), so that the 32 lanes hit 32 different shared-memory banks (the rows are
        // 4 banks apart).
        float mx = m;
        for (int cc = 0; cc < 32; ++cc) {
            const int c = half * 32 + (cc + rot) % 32;
            const int key = kt + c;
            if (valid && key <= qpos) mx = fmaxf(mx, sS[row * L::LD_S + c] * scale);
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        float sum = 0.0f;
        for (int cc = 0; cc < 32; ++cc) {
            const int c = half * 32 + (cc + rot) % 32;
            const int key = kt + c;
            float pr = 0.0f;
            if (valid && key <= qpos) pr = __expf(sS[row * L::LD_S + c] * scale - mx);
            sum += pr;
            sP[row * L::LD_P + c] = __float2bfloat16(pr);
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        const float alpha = m == -INFINITY ? 0.0f : __expf(m - mx);
        l = l * alpha + sum;
        m = mx;
        for (int cc = 0; cc < D / 2; ++cc) sO[row * L::LD_O + half * (D / 2) + (cc + rot) % (D / 2)] *= alpha;
        __syncwarp();

        // O (16 x D) += P (16 x 64) V_tile (64 x D)
        for (int n = 0; n < D / 16; ++n) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, sO + n * 16, L::LD_O, wmma::mem_row_major);
            for (int kk = 0; kk < PF_BK / 16; ++kk) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> bv;
                wmma::load_matrix_sync(a, sP + kk * 16, L::LD_P);
                wmma::load_matrix_sync(bv, sV + kk * 16 * L::LD_QKV + n * 16, L::LD_QKV);
                wmma::mma_sync(acc, a, bv, acc);
            }
            wmma::store_matrix_sync(sO + n * 16, acc, L::LD_O, wmma::mem_row_major);
        }
        __syncwarp();
    }

    if (!valid) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    __nv_bfloat16* o = out + (row0 + qi) * static_cast<int64_t>(heads) * D + head * D;
    for (int c = half * (D / 2); c < (half + 1) * (D / 2); ++c) o[c] = __float2bfloat16(sO[row * L::LD_O + c] * inv);
}

constexpr int DC_WARPS = 8;
constexpr int DC_UNROLL = 8;  // keys a warp has in flight at once

// PER_LANE consecutive bf16 values (2 or 4) in one 4- or 8-byte load, as floats.
template <int PER_LANE>
__device__ inline void load_lane(const __nv_bfloat16* p, float* out) {
    static_assert(PER_LANE == 2 || PER_LANE == 4, "head_dim 64 or 128");
    using Raw = std::conditional_t<PER_LANE == 4, uint2, unsigned int>;
    const Raw raw = *reinterpret_cast<const Raw*>(p);
    const auto* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int i = 0; i < PER_LANE / 2; ++i) {
        const float2 f = __bfloat1622float2(h[i]);
        out[2 * i] = f.x;
        out[2 * i + 1] = f.y;
    }
}

// One split of one (sequence, head): partial state (m, l, acc[D]) into the workspace. A warp takes
// DC_UNROLL consecutive keys at a time and issues all their loads before using any (the loop is bound by
// memory latency, not bandwidth, when one key is read at a time), then folds them into its online softmax.
template <int D>
__global__ void __launch_bounds__(32 * DC_WARPS)
    decode_attention_kernel(const __nv_bfloat16* q, int64_t q_stride, const __nv_bfloat16* k_cache,
                            const __nv_bfloat16* v_cache, const DecodeBatch b, float* partials, int heads,
                            int kv_heads, int block_size, int splits, float scale) {
    constexpr int PER_LANE = D / 32;
    __shared__ float s_m[DC_WARPS], s_l[DC_WARPS], s_acc[DC_WARPS][D];
    const int head = blockIdx.x, seq = blockIdx.y, split = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int len = b.seq_lens[seq];
    const int part = (len + splits - 1) / splits;
    const int first = split * part, end = min(len, first + part);
    const int kvh = head / (heads / kv_heads);
    const int32_t* table = b.block_tables + b.table_offsets[seq];

    float qv[PER_LANE], acc[PER_LANE];
    load_lane<PER_LANE>(q + static_cast<int64_t>(b.rows[seq]) * q_stride + head * D + lane * PER_LANE, qv);
#pragma unroll
    for (int i = 0; i < PER_LANE; ++i) {
        qv[i] *= scale;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int j0 = first + warp * DC_UNROLL; j0 < end; j0 += DC_WARPS * DC_UNROLL) {
        int64_t base[DC_UNROLL];
#pragma unroll
        for (int u = 0; u < DC_UNROLL; ++u) {
            const int j = min(j0 + u, end - 1);  // past the end: a valid key, masked out below
            const int64_t slot = static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
            base[u] = (slot * kv_heads + kvh) * D + lane * PER_LANE;
        }
        float kf[DC_UNROLL][PER_LANE], vf[DC_UNROLL][PER_LANE], s[DC_UNROLL];
#pragma unroll
        for (int u = 0; u < DC_UNROLL; ++u) load_lane<PER_LANE>(k_cache + base[u], kf[u]);
#pragma unroll
        for (int u = 0; u < DC_UNROLL; ++u) load_lane<PER_LANE>(v_cache + base[u], vf[u]);
#pragma unroll
        for (int u = 0; u < DC_UNROLL; ++u) {
            s[u] = 0.0f;
#pragma unroll
            for (int i = 0; i < PER_LANE; ++i) s[u] += qv[i] * kf[u][i];
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
            for (int u = 0; u < DC_UNROLL; ++u) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
        }
        float mx = m;
#pragma unroll
        for (int u = 0; u < DC_UNROLL; ++u) {
            if (j0 + u < end) mx = fmaxf(mx, s[u]);
        }
        const float alpha = m == -INFINITY ? 0.0f : __expf(m - mx);
        l *= alpha;
#pragma unroll
        for (int i = 0; i < PER_LANE; ++i) acc[i] *= alpha;
#pragma unroll
        for (int u = 0; u < DC_UNROLL; ++u) {
            const float w = j0 + u < end ? __expf(s[u] - mx) : 0.0f;
            l += w;
#pragma unroll
            for (int i = 0; i < PER_LANE; ++i) acc[i] += w * vf[u][i];
        }
        m = mx;
    }
    if (lane == 0) {
        s_m[warp] = m;
        s_l[warp] = l;
    }
    for (int i = 0; i < PER_LANE; ++i) s_acc[warp][lane * PER_LANE + i] = acc[i];
    __syncthreads();

    // Merge the warps: thread t < D owns dimension t.
    float* dst = partials + ((static_cast<int64_t>(seq) * heads + head) * splits + split) * (D + 2);
    if (threadIdx.x < D) {
        float gm = -INFINITY;
        for (int w = 0; w < DC_WARPS; ++w) gm = fmaxf(gm, s_m[w]);
        float gl = 0.0f, ga = 0.0f;
        for (int w = 0; w < DC_WARPS; ++w) {
            if (s_l[w] == 0.0f) continue;
            const float f = __expf(s_m[w] - gm);
            gl += s_l[w] * f;
            ga += s_acc[w][threadIdx.x] * f;
        }
        dst[2 + threadIdx.x] = ga;
        if (threadIdx.x == 0) {
            dst[0] = gm;
            dst[1] = gl;
        }
    }
}

// Merges the splits of one (sequence, head) into the bf16 output row; thread t owns dimension t.
template <int D>
__global__ void decode_merge_kernel(const float* partials, const DecodeBatch b, __nv_bfloat16* out, int heads,
                                    int splits) {
    const int head = blockIdx.x, seq = blockIdx.y, t = threadIdx.x;
    const float* src = partials + (static_cast<int64_t>(seq) * heads + head) * splits * (D + 2);
    float gm = -INFINITY;
    for (int s = 0; s < splits; ++s) {
        if (src[s * (D + 2) + 1] > 0.0f) gm = fmaxf(gm, src[s * (D + 2)]);
    }
    float gl = 0.0f, ga = 0.0f;
    for (int s = 0; s < splits; ++s) {
        const float* p = src + s * (D + 2);
        if (p[1] == 0.0f) continue;
        const float f = __expf(p[0] - gm);
        gl += p[1] * f;
        ga += p[2 + t] * f;
    }
    out[static_cast<int64_t>(b.rows[seq]) * heads * D + head * D + t] = __float2bfloat16(gl > 0.0f ? ga / gl : 0.0f);
}

template <int D>
void launch_prefill(const uint16_t* q, int64_t q_stride, const uint16_t* k_cache, const uint16_t* v_cache,
                    uint16_t* out, const PrefillBatch& b, int heads, int kv_heads, int block_size,
                    cudaStream_t stream) {
    static bool attribute_set = false;  // once per process; the kernel needs more than 48 KiB
    if (!attribute_set) {
        HR_CUDA_CHECK(cudaFuncSetAttribute(prefill_attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(PrefillSmem<D>::bytes)));
        attribute_set = true;
    }
    const dim3 grid(static_cast<unsigned>(b.tiles), static_cast<unsigned>(heads));
    prefill_attention_kernel<D><<<grid, PF_THREADS, PrefillSmem<D>::bytes, stream>>>(
        reinterpret_cast<const __nv_bfloat16*>(q), q_stride, reinterpret_cast<const __nv_bfloat16*>(k_cache),
        reinterpret_cast<const __nv_bfloat16*>(v_cache), reinterpret_cast<__nv_bfloat16*>(out), b, heads, kv_heads,
        block_size, 1.0f / sqrtf(static_cast<float>(D)));
    HR_CUDA_CHECK(cudaGetLastError());
}

template <int D>
void launch_decode(const uint16_t* q, int64_t q_stride, const uint16_t* k_cache, const uint16_t* v_cache,
                   uint16_t* out, const DecodeBatch& b, float* workspace, int heads, int kv_heads, int block_size,
                   cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(b.seqs), static_cast<unsigned>(b.splits));
    decode_attention_kernel<D><<<grid, 32 * DC_WARPS, 0, stream>>>(
        reinterpret_cast<const __nv_bfloat16*>(q), q_stride, reinterpret_cast<const __nv_bfloat16*>(k_cache),
        reinterpret_cast<const __nv_bfloat16*>(v_cache), b, workspace, heads, kv_heads, block_size, b.splits,
        1.0f / sqrtf(static_cast<float>(D)));
    HR_CUDA_CHECK(cudaGetLastError());
    decode_merge_kernel<D><<<dim3(static_cast<unsigned>(heads), static_cast<unsigned>(b.seqs)), D, 0, stream>>>(
        workspace, b, reinterpret_cast<__nv_bfloat16*>(out), heads, b.splits);
    HR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

bool attention_supports_head_dim(int64_t head_dim) { return head_dim == 64 || head_dim == 128; }

void prefill_attention(const uint16_t* q, int64_t q_stride, const uint16_t* k_cache, const uint16_t* v_cache,
                       uint16_t* out, const PrefillBatch& b, int64_t heads, int64_t kv_heads, int64_t head_dim,
                       int64_t block_size, cudaStream_t stream) {
    HR_REQUIRE(q && k_cache && v_cache && out && heads > 0 && kv_heads > 0 && heads % kv_heads == 0, "bad arguments");
    HR_REQUIRE(attention_supports_head_dim(head_dim), "head_dim must be 64 or 128");
    if (b.tiles == 0) return;
    HR_REQUIRE(b.tile_seq && b.tile_q0 && b.seq_row0 && b.seq_qlen && b.seq_context && b.block_tables && b.table_offsets,
               "bad prefill batch");
    const int h = static_cast<int>(heads), kv = static_cast<int>(kv_heads), bs = static_cast<int>(block_size);
    if (head_dim == 64) launch_prefill<64>(q, q_stride, k_cache, v_cache, out, b, h, kv, bs, stream);
    else launch_prefill<128>(q, q_stride, k_cache, v_cache, out, b, h, kv, bs, stream);
}

void decode_attention(const uint16_t* q, int64_t q_stride, const uint16_t* k_cache, const uint16_t* v_cache,
                      uint16_t* out, const DecodeBatch& b, float* workspace, int64_t heads, int64_t kv_heads,
                      int64_t head_dim, int64_t block_size, cudaStream_t stream) {
    HR_REQUIRE(q && k_cache && v_cache && out && workspace && heads > 0 && kv_heads > 0 && heads % kv_heads == 0,
               "bad arguments");
    HR_REQUIRE(attention_supports_head_dim(head_dim), "head_dim must be 64 or 128");
    HR_REQUIRE(b.splits >= 1, "splits must be at least 1");
    if (b.seqs == 0) return;
    HR_REQUIRE(b.rows && b.seq_lens && b.block_tables && b.table_offsets, "bad decode batch");
    const int h = static_cast<int>(heads), kv = static_cast<int>(kv_heads), bs = static_cast<int>(block_size);
    if (head_dim == 64) launch_decode<64>(q, q_stride, k_cache, v_cache, out, b, workspace, h, kv, bs, stream);
    else launch_decode<128>(q, q_stride, k_cache, v_cache, out, b, workspace, h, kv, bs, stream);
}

int64_t decode_workspace_floats(int64_t seqs, int64_t heads, int64_t head_dim, int64_t splits) {
    return seqs * heads * splits * (head_dim + 2);
}

}  // namespace headroom::cuda
