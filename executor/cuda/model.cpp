// The GPU forward pass (see gpu_model.hpp). Host code only: it plans each step's metadata on the host,
// copies it into fixed device arrays (fixed, so that a captured graph reads the new values), and enqueues
// the kernels of executor/cuda/ on one stream.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>

#include "check.cuh"
#include "headroom/executor/executor_error.hpp"
#include "headroom/executor/gpu_model.hpp"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

constexpr int64_t PREFILL_TILE = 64;  // queries per prefill-attention block (attention.cu)
constexpr int64_t MAX_SPLITS = 16;

// One device allocation, freed with its owner.
struct DeviceArray {
    void* ptr = nullptr;
    size_t bytes = 0;
    DeviceArray() = default;
    explicit DeviceArray(size_t n) : bytes(n) {
        if (n) HR_CUDA_CHECK(cudaMalloc(&ptr, n));
    }
    DeviceArray(DeviceArray&& o) noexcept : ptr(o.ptr), bytes(o.bytes) { o.ptr = nullptr; }
    DeviceArray& operator=(DeviceArray&& o) noexcept {
        std::swap(ptr, o.ptr);
        std::swap(bytes, o.bytes);
        return *this;
    }
    ~DeviceArray() {
        if (ptr) cudaFree(ptr);
    }
    template <typename T>
    T* as() const { return static_cast<T*>(ptr); }
};

// A metadata array: pinned host staging and its device copy, both of a fixed capacity.
template <typename T>
struct Staged {
    T* host = nullptr;
    DeviceArray dev;
    size_t capacity = 0;
    explicit Staged(size_t n = 0) : capacity(std::max<size_t>(n, 1)) {
        HR_CUDA_CHECK(cudaMallocHost(&host, capacity * sizeof(T)));
        dev = DeviceArray(capacity * sizeof(T));
    }
    Staged(Staged&& o) noexcept : host(o.host), dev(std::move(o.dev)), capacity(o.capacity) { o.host = nullptr; }
    Staged& operator=(Staged&& o) noexcept {
        std::swap(host, o.host);
        dev = std::move(o.dev);
        capacity = o.capacity;
        return *this;
    }
    ~Staged() {
        if (host) cudaFreeHost(host);
    }
    T* d() const { return dev.as<T>(); }
    void upload(size_t n, cudaStream_t s) const {
        if (n > capacity) throw std::logic_error("staged array overflow");
        if (n) HR_CUDA_CHECK(cudaMemcpyAsync(dev.ptr, host, n * sizeof(T), cudaMemcpyHostToDevice, s));
    }
};

struct LayerWeights {
    DeviceArray input_norm, qkv, o, post_norm, gate_up, down, k_cache, v_cache;
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::vector<int64_t> buckets_up_to(int64_t max_seqs) {
    std::vector<int64_t> b;
    for (int64_t x : {1, 2, 4}) {
        if (x < max_seqs) b.push_back(x);
    }
    for (int64_t x = 8; x < max_seqs; x += 8) b.push_back(x);
    b.push_back(max_seqs);
    return b;
}

}  // namespace

struct Model::Impl {
    ModelCard m;
    ModelOptions o;
    int64_t L, H, KV, d, h, inter, V, qkv_w, rotary, max_len, max_blocks_per_seq;
    int sm_count = 0;
    cudaStream_t stream = nullptr;
    Gemm gemm;

    DeviceArray embedding, final_norm, lm_head_own;
    const uint16_t* lm_head = nullptr;
    std::vector<LayerWeights> layers;
    double weights_bytes = 0, kv_bytes = 0;

    // activations
    DeviceArray x, xn, qkv, attn, proj, gu, act, last_x, last_xn, logits, next_tok, workspace;
    // step metadata
    Staged<int64_t> tok, pos, slot, last_rows, pf_row0;
    Staged<int32_t> pf_tile_seq, pf_tile_q0, pf_qlen, pf_ctx, pf_tables, pf_offsets;
    Staged<int32_t> dc_rows, dc_lens, dc_tables, dc_offsets;
    int64_t* host_next = nullptr;

    // events: step begin, layers end, step end
    cudaEvent_t ev[3] = {nullptr, nullptr, nullptr};
    double step_s = 0, layers_s = 0;
    bool used_graph = false;
    bool profiling = false;
    std::vector<std::pair<OpKind, std::pair<cudaEvent_t, cudaEvent_t>>> op_events;
    size_t op_next = 0;
    OpTimes op_times;
    int64_t last_seqs = 0;

    struct Graph {
        cudaGraphExec_t layers_exec = nullptr, head_exec = nullptr;
    };
    std::map<int64_t, Graph> graphs;

    Impl(const ModelCard& card, const ModelOptions& opt) : m(card), o(opt) {
        const std::string why = unsupported_reason(m);
        if (!why.empty()) throw ExecutorError("", "", why);
        L = o.layers > 0 ? std::min<int64_t>(o.layers, m.num_layers) : m.num_layers;
        H = m.num_attention_heads;
        KV = m.num_kv_heads;
        d = m.head_dim;
        h = m.hidden_size;
        inter = m.intermediate_size;
        V = m.vocab_size;
        qkv_w = (H + 2 * KV) * d;
        rotary = static_cast<int64_t>(m.partial_rotary_factor * static_cast<double>(d));
        max_len = o.max_model_len > 0 ? o.max_model_len : m.max_position_embeddings;
        max_blocks_per_seq = ceil_div(max_len, o.block_size);
        if (o.num_blocks <= 0 || o.block_size <= 0 || o.max_tokens <= 0 || o.max_seqs <= 0) {
            throw ExecutorError("", "", "num_blocks, block_size, max_tokens and max_seqs must be positive");
        }
        int dev = 0;
        HR_CUDA_CHECK(cudaGetDevice(&dev));
        HR_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, dev));
        HR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
        for (cudaEvent_t& e : ev) HR_CUDA_CHECK(cudaEventCreate(&e));

        const size_t S = static_cast<size_t>(o.max_seqs);
        const size_t T = std::max(static_cast<size_t>(o.max_tokens), S);  // a graph bucket pads to <= max_seqs rows
        x = DeviceArray(T * h * 2);
        xn = DeviceArray(T * h * 2);
        qkv = DeviceArray(T * qkv_w * 2);
        attn = DeviceArray(T * H * d * 2);
        proj = DeviceArray(T * h * 2);
        gu = DeviceArray(T * 2 * inter * 2);
        act = DeviceArray(T * inter * 2);
        last_x = DeviceArray(S * h * 2);
        last_xn = DeviceArray(S * h * 2);
        logits = DeviceArray(S * V * 4);
        next_tok = DeviceArray(S * 8);
        workspace = DeviceArray(static_cast<size_t>(decode_workspace_floats(o.max_seqs, H, d, MAX_SPLITS)) * 4);
        const size_t tables = S * static_cast<size_t>(max_blocks_per_seq);
        const size_t tiles = T / PREFILL_TILE + S;
        tok = Staged<int64_t>(T);
        pos = Staged<int64_t>(T);
        slot = Staged<int64_t>(T);
        last_rows = Staged<int64_t>(S);
        pf_row0 = Staged<int64_t>(S);
        pf_tile_seq = Staged<int32_t>(tiles);
        pf_tile_q0 = Staged<int32_t>(tiles);
        pf_qlen = Staged<int32_t>(S);
        pf_ctx = Staged<int32_t>(S);
        pf_tables = Staged<int32_t>(tables);
        pf_offsets = Staged<int32_t>(S);
        dc_rows = Staged<int32_t>(S);
        dc_lens = Staged<int32_t>(S);
        dc_tables = Staged<int32_t>(tables);
        dc_offsets = Staged<int32_t>(S);
        HR_CUDA_CHECK(cudaMallocHost(&host_next, S * 8));
    }

    ~Impl() {
        for (auto& [b, g] : graphs) {
            if (g.layers_exec) cudaGraphExecDestroy(g.layers_exec);
            if (g.head_exec) cudaGraphExecDestroy(g.head_exec);
        }
        for (auto& oe : op_events) {
            cudaEventDestroy(oe.second.first);
            cudaEventDestroy(oe.second.second);
        }
        for (cudaEvent_t e : ev) {
            if (e) cudaEventDestroy(e);
        }
        if (host_next) cudaFreeHost(host_next);
        if (stream) {
            cudaStreamSynchronize(stream);
            cudaStreamDestroy(stream);
        }
    }

    void allocate_weights() {
        const size_t hs = static_cast<size_t>(h);
        embedding = DeviceArray(static_cast<size_t>(V) * hs * 2);
        final_norm = DeviceArray(hs * 2);
        if (!m.tie_word_embeddings) lm_head_own = DeviceArray(static_cast<size_t>(V) * hs * 2);
        lm_head = m.tie_word_embeddings ? embedding.as<uint16_t>() : lm_head_own.as<uint16_t>();
        const size_t kv_elems = static_cast<size_t>(o.num_blocks * o.block_size * KV * d);
        for (int64_t l = 0; l < L; ++l) {
            LayerWeights w;
            w.input_norm = DeviceArray(hs * 2);
            w.qkv = DeviceArray(static_cast<size_t>(qkv_w) * hs * 2);
            w.o = DeviceArray(hs * static_cast<size_t>(H * d) * 2);
            w.post_norm = DeviceArray(hs * 2);
            w.gate_up = DeviceArray(static_cast<size_t>(2 * inter) * hs * 2);
            w.down = DeviceArray(hs * static_cast<size_t>(inter) * 2);
            w.k_cache = DeviceArray(kv_elems * 2);
            w.v_cache = DeviceArray(kv_elems * 2);
            HR_CUDA_CHECK(cudaMemsetAsync(w.k_cache.ptr, 0, w.k_cache.bytes, stream));
            HR_CUDA_CHECK(cudaMemsetAsync(w.v_cache.ptr, 0, w.v_cache.bytes, stream));
            layers.push_back(std::move(w));
        }
        weights_bytes = weight_bytes_for(m, L);
        kv_bytes = kv_bytes_per_block(m, L, o.block_size) * static_cast<double>(o.num_blocks);
    }

    // Random weights on the device: the same scales as ref::random_weights, from a counter-based generator.
    void random_weights() {
        uint64_t tensor = 0;
        auto fill = [&](const DeviceArray& a, float mean, float stddev) {
            fill_normal(a.as<uint16_t>(), static_cast<int64_t>(a.bytes / 2), o.seed * 0x100000001b3ULL + ++tensor, mean,
                        stddev, stream);
        };
        auto fan_in = [](int64_t n) { return 1.0f / std::sqrt(static_cast<float>(n)); };
        fill(embedding, 0.0f, 1.0f);
        for (LayerWeights& w : layers) {
            fill(w.input_norm, 1.0f, 0.05f);
            fill(w.qkv, 0.0f, fan_in(h));
            fill(w.o, 0.0f, fan_in(H * d));
            fill(w.post_norm, 1.0f, 0.05f);
            fill(w.gate_up, 0.0f, fan_in(h));
            fill(w.down, 0.0f, fan_in(inter));
        }
        fill(final_norm, 1.0f, 0.05f);
        if (!m.tie_word_embeddings) fill(lm_head_own, 0.0f, fan_in(h));
        HR_CUDA_CHECK(cudaStreamSynchronize(stream));
    }

    static void upload_floats(const DeviceArray& a, const std::vector<float>& v) {
        if (v.size() * 2 != a.bytes) throw std::invalid_argument("host weights of the wrong size");
        std::vector<uint16_t> bits(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
            uint32_t u;
            std::memcpy(&u, &v[i], 4);
            bits[i] = static_cast<uint16_t>(u >> 16);  // the values are already bf16-rounded
        }
        HR_CUDA_CHECK(cudaMemcpy(a.ptr, bits.data(), a.bytes, cudaMemcpyHostToDevice));
    }

    void host_weights(const ref::Weights& w) {
        if (static_cast<int64_t>(w.layers.size()) < L) throw std::invalid_argument("host weights have too few layers");
        upload_floats(embedding, w.embedding);
        upload_floats(final_norm, w.final_norm);
        if (!m.tie_word_embeddings) upload_floats(lm_head_own, w.lm_head);
        for (int64_t l = 0; l < L; ++l) {
            const auto& src = w.layers[static_cast<size_t>(l)];
            LayerWeights& dst = layers[static_cast<size_t>(l)];
            upload_floats(dst.input_norm, src.input_norm);
            upload_floats(dst.qkv, src.qkv);
            upload_floats(dst.o, src.o);
            upload_floats(dst.post_norm, src.post_norm);
            upload_floats(dst.gate_up, src.gate_up);
            upload_floats(dst.down, src.down);
        }
    }

    // --- one step's shape, as planned on the host ---
    struct Shape {
        int64_t tokens = 0, seqs = 0, prefill_seqs = 0, tiles = 0, decodes = 0, splits = 1;
        int64_t pf_table_len = 0, dc_table_len = 0;
    };

    int64_t splits_for(int64_t decodes, int64_t longest) const {
        const int64_t want = ceil_div(2 * sm_count, std::max<int64_t>(1, H * decodes));
        const int64_t useful = std::max<int64_t>(1, ceil_div(longest, 256));  // at least 256 keys a split
        return std::clamp<int64_t>(std::min(want, useful), 1, MAX_SPLITS);
    }

    Shape plan(const std::vector<ref::SeqStep>& batch) {
        Shape s;
        s.seqs = static_cast<int64_t>(batch.size());
        if (s.seqs > o.max_seqs) throw std::invalid_argument("more sequences than max_seqs in one step");
        int64_t longest = 0;
        for (size_t i = 0; i < batch.size(); ++i) {
            const ref::SeqStep& q = batch[i];
            const auto n = static_cast<int64_t>(q.tokens.size());
            if (n == 0) throw std::invalid_argument("a sequence with no new tokens");
            if (s.tokens + n > o.max_tokens) throw std::invalid_argument("more tokens than max_tokens in one step");
            const int64_t end = q.context + n;
            if (end > max_len) throw std::invalid_argument("a sequence longer than max_model_len");
            const int64_t need = ceil_div(end, o.block_size);
            if (static_cast<int64_t>(q.block_table.size()) < need) throw std::invalid_argument("a block table too short");
            for (int64_t b = 0; b < need; ++b) {
                const int32_t blk = q.block_table[static_cast<size_t>(b)];
                if (blk < 0 || blk >= o.num_blocks) throw std::invalid_argument("a block id outside the KV cache");
            }
            for (int64_t j = 0; j < n; ++j) {
                const int64_t t = s.tokens + j, p = q.context + j;
                const int64_t id = q.tokens[static_cast<size_t>(j)];
                if (id < 0 || id >= V) throw std::invalid_argument("a token id outside the vocabulary");
                tok.host[t] = id;
                pos.host[t] = p;
                slot.host[t] = static_cast<int64_t>(q.block_table[static_cast<size_t>(p / o.block_size)]) * o.block_size +
                               p % o.block_size;
            }
            last_rows.host[i] = s.tokens + n - 1;
            if (n == 1 && q.context > 0) {
                dc_rows.host[s.decodes] = static_cast<int32_t>(s.tokens);
                dc_lens.host[s.decodes] = static_cast<int32_t>(end);
                dc_offsets.host[s.decodes] = static_cast<int32_t>(s.dc_table_len);
                std::copy_n(q.block_table.begin(), need, dc_tables.host + s.dc_table_len);
                s.dc_table_len += need;
                longest = std::max(longest, end);
                ++s.decodes;
            } else {
                const int64_t k = s.prefill_seqs++;
                pf_row0.host[k] = s.tokens;
                pf_qlen.host[k] = static_cast<int32_t>(n);
                pf_ctx.host[k] = static_cast<int32_t>(q.context);
                pf_offsets.host[k] = static_cast<int32_t>(s.pf_table_len);
                std::copy_n(q.block_table.begin(), need, pf_tables.host + s.pf_table_len);
                s.pf_table_len += need;
                for (int64_t q0 = 0; q0 < n; q0 += PREFILL_TILE, ++s.tiles) {
                    pf_tile_seq.host[s.tiles] = static_cast<int32_t>(k);
                    pf_tile_q0.host[s.tiles] = static_cast<int32_t>(q0);
                }
            }
            s.tokens += n;
        }
        s.splits = splits_for(s.decodes, longest);
        return s;
    }

    // Pads a decode-only shape to a bucket: padding rows read token 0 at position 0 and write nothing.
    void pad_to(Shape& s, int64_t bucket) {
        for (int64_t i = s.seqs; i < bucket; ++i) {
            tok.host[i] = 0;
            pos.host[i] = 0;
            slot.host[i] = -1;
            last_rows.host[i] = i;
            dc_rows.host[i] = static_cast<int32_t>(i);
            dc_lens.host[i] = 0;
            dc_offsets.host[i] = 0;
        }
        s.tokens = s.seqs = s.decodes = bucket;
        s.splits = splits_for(bucket, 1 << 30);  // a graph serves any context length
    }

    void upload(const Shape& s) {
        tok.upload(static_cast<size_t>(s.tokens), stream);
        pos.upload(static_cast<size_t>(s.tokens), stream);
        slot.upload(static_cast<size_t>(s.tokens), stream);
        last_rows.upload(static_cast<size_t>(s.seqs), stream);
        if (s.prefill_seqs) {
            pf_row0.upload(static_cast<size_t>(s.prefill_seqs), stream);
            pf_qlen.upload(static_cast<size_t>(s.prefill_seqs), stream);
            pf_ctx.upload(static_cast<size_t>(s.prefill_seqs), stream);
            pf_offsets.upload(static_cast<size_t>(s.prefill_seqs), stream);
            pf_tile_seq.upload(static_cast<size_t>(s.tiles), stream);
            pf_tile_q0.upload(static_cast<size_t>(s.tiles), stream);
            pf_tables.upload(static_cast<size_t>(s.pf_table_len), stream);
        }
        if (s.decodes) {
            dc_rows.upload(static_cast<size_t>(s.decodes), stream);
            dc_lens.upload(static_cast<size_t>(s.decodes), stream);
            dc_offsets.upload(static_cast<size_t>(s.decodes), stream);
            dc_tables.upload(static_cast<size_t>(s.dc_table_len), stream);
        }
    }

    // --- enqueueing ---
    template <typename F>
    void op(OpKind name, F&& launch) {
        if (!profiling) {
            launch();
            return;
        }
        if (op_next == op_events.size()) {
            cudaEvent_t a, b;
            HR_CUDA_CHECK(cudaEventCreate(&a));
            HR_CUDA_CHECK(cudaEventCreate(&b));
            op_events.push_back({name, {a, b}});
        }
        auto& slot_ev = op_events[op_next++];
        slot_ev.first = name;
        HR_CUDA_CHECK(cudaEventRecord(slot_ev.second.first, stream));
        launch();
        HR_CUDA_CHECK(cudaEventRecord(slot_ev.second.second, stream));
    }

    uint16_t* u16(const DeviceArray& a) const { return a.as<uint16_t>(); }

    void enqueue_layers(const Shape& s) {
        const int64_t T = s.tokens;
        const auto eps = static_cast<float>(m.norm_eps);
        op(OpKind::EMBEDDING, [&] { gather_rows(u16(embedding), tok.d(), u16(x), T, h, stream); });
        PrefillBatch pb;
        pb.tiles = static_cast<int32_t>(s.tiles);
        pb.tile_seq = pf_tile_seq.d();
        pb.tile_q0 = pf_tile_q0.d();
        pb.seq_row0 = pf_row0.d();
        pb.seq_qlen = pf_qlen.d();
        pb.seq_context = pf_ctx.d();
        pb.block_tables = pf_tables.d();
        pb.table_offsets = pf_offsets.d();
        DecodeBatch db;
        db.seqs = static_cast<int32_t>(s.decodes);
        db.splits = static_cast<int32_t>(s.splits);
        db.rows = dc_rows.d();
        db.seq_lens = dc_lens.d();
        db.block_tables = dc_tables.d();
        db.table_offsets = dc_offsets.d();
        uint16_t* q = u16(qkv);
        uint16_t* k = q + H * d;
        uint16_t* v = k + KV * d;
        for (const LayerWeights& w : layers) {
            op(OpKind::INPUT_NORM, [&] { rmsnorm(u16(x), u16(w.input_norm), u16(xn), T, h, eps, stream); });
            op(OpKind::QKV_PROJ, [&] { gemm.run(u16(xn), u16(w.qkv), qkv.ptr, T, h, qkv_w, false, stream); });
            op(OpKind::ROPE, [&] {
                rope_strided(q, qkv_w, k, qkv_w, pos.d(), T, H, KV, d, rotary, m.rope_theta, stream);
            });
            op(OpKind::ATTENTION, [&] {
                kv_write_strided(k, v, qkv_w, u16(w.k_cache), u16(w.v_cache), slot.d(), T, KV, d, stream);
                if (s.tiles) prefill_attention(q, qkv_w, u16(w.k_cache), u16(w.v_cache), u16(attn), pb, H, KV, d, o.block_size, stream);
                if (s.decodes) {
                    decode_attention(q, qkv_w, u16(w.k_cache), u16(w.v_cache), u16(attn), db, workspace.as<float>(), H, KV,
                                     d, o.block_size, stream);
                }
            });
            op(OpKind::O_PROJ, [&] { gemm.run(u16(attn), u16(w.o), proj.ptr, T, H * d, h, false, stream); });
            op(OpKind::RESIDUAL_ADD, [&] { residual_add(u16(x), u16(proj), T * h, stream); });
            op(OpKind::POST_ATTENTION_NORM, [&] { rmsnorm(u16(x), u16(w.post_norm), u16(xn), T, h, eps, stream); });
            op(OpKind::GATE_UP_PROJ, [&] { gemm.run(u16(xn), u16(w.gate_up), gu.ptr, T, h, 2 * inter, false, stream); });
            op(OpKind::ACTIVATION, [&] { silu_mul(u16(gu), u16(act), T, inter, stream); });
            op(OpKind::DOWN_PROJ, [&] { gemm.run(u16(act), u16(w.down), proj.ptr, T, inter, h, false, stream); });
            op(OpKind::RESIDUAL_ADD, [&] { residual_add(u16(x), u16(proj), T * h, stream); });
        }
    }

    void enqueue_head(const Shape& s) {
        const int64_t S = s.seqs;
        const auto eps = static_cast<float>(m.norm_eps);
        op(OpKind::FINAL_NORM, [&] {
            gather_rows(u16(x), last_rows.d(), u16(last_x), S, h, stream);
            rmsnorm(u16(last_x), u16(final_norm), u16(last_xn), S, h, eps, stream);
        });
        op(OpKind::LM_HEAD, [&] { gemm.run(u16(last_xn), lm_head, logits.ptr, S, h, V, true, stream); });
        op(OpKind::SAMPLING, [&] { greedy_sample(logits.as<float>(), next_tok.as<int64_t>(), S, V, stream); });
    }

    cudaGraphExec_t capture(const Shape& s, bool head) {
        cudaGraph_t g = nullptr;
        HR_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
        try {
            if (head) enqueue_head(s);
            else enqueue_layers(s);
        } catch (...) {
            cudaStreamEndCapture(stream, &g);
            if (g) cudaGraphDestroy(g);
            throw;
        }
        HR_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
        cudaGraphExec_t exec = nullptr;
        const cudaError_t err = cudaGraphInstantiate(&exec, g, 0);
        cudaGraphDestroy(g);
        HR_CUDA_CHECK(err);
        return exec;
    }

    Graph& graph_for(int64_t bucket) {
        auto it = graphs.find(bucket);
        if (it != graphs.end()) return it->second;
        Shape s;
        s.seqs = 0;
        pad_to(s, bucket);
        Graph g;
        const bool was = profiling;
        profiling = false;
        g.layers_exec = capture(s, false);
        g.head_exec = capture(s, true);
        profiling = was;
        return graphs[bucket] = g;
    }

    int64_t bucket_for(int64_t seqs) const {
        for (int64_t b : buckets_up_to(o.max_seqs)) {
            if (b >= seqs) return b;  // the staging arrays hold max(max_tokens, max_seqs) rows
        }
        return -1;
    }

    std::vector<int64_t> step(const std::vector<ref::SeqStep>& batch) {
        const auto seqs = static_cast<int64_t>(batch.size());
        last_seqs = seqs;
        step_s = layers_s = 0;
        if (seqs == 0) return {};
        const bool decode_only = std::all_of(batch.begin(), batch.end(), [](const ref::SeqStep& q) {
            return q.tokens.size() == 1 && q.context > 0;
        });
        const int64_t bucket = bucket_for(seqs);
        used_graph = o.cuda_graphs && !profiling && decode_only && bucket > 0;
        // The graph is captured (on first use) before the step is planned: capturing writes padding into
        // the staging arrays.
        Graph* g = used_graph ? &graph_for(bucket) : nullptr;
        Shape s = plan(batch);
        op_next = 0;
        if (g) {
            pad_to(s, bucket);
            upload(s);
            HR_CUDA_CHECK(cudaEventRecord(ev[0], stream));
            HR_CUDA_CHECK(cudaGraphLaunch(g->layers_exec, stream));
            HR_CUDA_CHECK(cudaEventRecord(ev[1], stream));
            HR_CUDA_CHECK(cudaGraphLaunch(g->head_exec, stream));
        } else {
            upload(s);
            HR_CUDA_CHECK(cudaEventRecord(ev[0], stream));
            enqueue_layers(s);
            HR_CUDA_CHECK(cudaEventRecord(ev[1], stream));
            enqueue_head(s);
        }
        HR_CUDA_CHECK(cudaEventRecord(ev[2], stream));
        HR_CUDA_CHECK(cudaMemcpyAsync(host_next, next_tok.ptr, static_cast<size_t>(seqs) * 8, cudaMemcpyDeviceToHost, stream));
        HR_CUDA_CHECK(cudaStreamSynchronize(stream));
        float a = 0, b = 0;
        HR_CUDA_CHECK(cudaEventElapsedTime(&a, ev[0], ev[1]));
        HR_CUDA_CHECK(cudaEventElapsedTime(&b, ev[0], ev[2]));
        layers_s = a * 1e-3;
        step_s = b * 1e-3;
        if (profiling) {
            op_times.clear();
            for (size_t i = 0; i < op_next; ++i) {
                float ms = 0;
                HR_CUDA_CHECK(cudaEventElapsedTime(&ms, op_events[i].second.first, op_events[i].second.second));
                auto it = std::find_if(op_times.begin(), op_times.end(),
                                       [&](const auto& p) { return p.first == op_events[i].first; });
                if (it == op_times.end()) op_times.push_back({op_events[i].first, ms * 1e-3});
                else it->second += ms * 1e-3;
            }
        }
        return std::vector<int64_t>(host_next, host_next + seqs);
    }
};

Model::Model(const ModelCard& m, const ModelOptions& o) : impl_(std::make_unique<Impl>(m, o)) {
    impl_->allocate_weights();
    impl_->random_weights();
}

Model::Model(const ModelCard& m, const ModelOptions& o, const ref::Weights& w) : impl_(std::make_unique<Impl>(m, o)) {
    impl_->allocate_weights();
    impl_->host_weights(w);
}

Model::~Model() = default;

std::vector<int64_t> Model::step(const std::vector<ref::SeqStep>& batch) { return impl_->step(batch); }

void Model::capture_graphs() {
    if (!impl_->o.cuda_graphs) return;
    for (int64_t b : graph_buckets()) impl_->graph_for(b);
}

std::vector<float> Model::last_logits() const {
    std::vector<float> v(static_cast<size_t>(impl_->last_seqs * impl_->V));
    if (!v.empty()) HR_CUDA_CHECK(cudaMemcpy(v.data(), impl_->logits.ptr, v.size() * 4, cudaMemcpyDeviceToHost));
    return v;
}

double Model::last_step_s() const { return impl_->step_s; }
double Model::last_layers_s() const { return impl_->layers_s; }
bool Model::last_step_used_graph() const { return impl_->used_graph; }
void Model::set_profiling(bool on) { impl_->profiling = on; }
const OpTimes& Model::last_op_times() const { return impl_->op_times; }
const ModelCard& Model::card() const { return impl_->m; }
int64_t Model::layers() const { return impl_->L; }
int64_t Model::num_blocks() const { return impl_->o.num_blocks; }
std::vector<int64_t> Model::graph_buckets() const { return buckets_up_to(impl_->o.max_seqs); }
double Model::weight_bytes() const { return impl_->weights_bytes; }
double Model::kv_cache_bytes() const { return impl_->kv_bytes; }

double Model::weight_bytes_for(const ModelCard& m, int64_t layers) {
    const double h = static_cast<double>(m.hidden_size), hd = static_cast<double>(m.head_dim);
    const double per_layer = 2.0 * h + (m.num_attention_heads + 2.0 * m.num_kv_heads) * hd * h +
                             h * m.num_attention_heads * hd + 3.0 * m.intermediate_size * h;
    const double vocab = static_cast<double>(m.vocab_size) * h * (m.tie_word_embeddings ? 1.0 : 2.0);
    return 2.0 * (per_layer * static_cast<double>(layers) + vocab + h);
}

double Model::kv_bytes_per_block(const ModelCard& m, int64_t layers, int64_t block_size) {
    return 2.0 * 2.0 * static_cast<double>(block_size * m.num_kv_heads * m.head_dim * layers);
}

double Model::workspace_bytes_for(const ModelCard& m, const ModelOptions& o) {
    const double T = static_cast<double>(o.max_tokens), S = static_cast<double>(o.max_seqs);
    const double h = static_cast<double>(m.hidden_size), d = static_cast<double>(m.head_dim);
    const double H = m.num_attention_heads, KV = m.num_kv_heads, inter = static_cast<double>(m.intermediate_size);
    const double acts = 2.0 * T * (3.0 * h + (H + 2.0 * KV) * d + H * d + 3.0 * inter) + 2.0 * 2.0 * S * h;
    const double logits = 4.0 * S * static_cast<double>(m.vocab_size);
    const double decode = 4.0 * static_cast<double>(decode_workspace_floats(o.max_seqs, m.num_attention_heads, m.head_dim, MAX_SPLITS));
    const int64_t max_len = o.max_model_len > 0 ? o.max_model_len : m.max_position_embeddings;
    const double tables = 2.0 * 2.0 * 4.0 * S * static_cast<double>(ceil_div(max_len, o.block_size));  // host + device
    return acts + logits + decode + tables + static_cast<double>(32u << 20);
}

std::string Model::unsupported_reason(const ModelCard& m) {
    if (m.is_mla() || m.is_moe() || m.mlp != MlpKind::GATED || m.norm != NormKind::RMS || m.is_encoder) {
        return m.name + ": the executor covers the Llama family (GQA attention, gated SiLU MLP, RMSNorm)";
    }
    if (!attention_supports_head_dim(m.head_dim)) {
        return m.name + ": the executor's attention kernels take head_dim 64 or 128, not " + std::to_string(m.head_dim);
    }
    if (m.num_attention_heads % m.num_kv_heads != 0) return m.name + ": query heads not a multiple of KV heads";
    for (const auto& layer : m.layers) {
        if (layer.attention != AttentionKind::FULL) return m.name + ": the executor runs full attention only (no sliding window)";
    }
    return "";
}

}  // namespace headroom::cuda
