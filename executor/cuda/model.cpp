// The GPU forward pass (see gpu_model.hpp). Host code only: the weights and activations, and the kernels of
// executor/cuda/ enqueued on one stream. Each step's metadata is laid out by step_layout.hpp; decode steps
// replay the CUDA graphs of graphs.hpp; device memory is device_buffers.hpp's.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>

#include "check.cuh"
#include "device_buffers.hpp"
#include "graphs.hpp"
#include "step_layout.hpp"
#include "headroom/executor/executor_error.hpp"
#include "headroom/executor/gpu_model.hpp"
#include "headroom/executor/kernels.hpp"

namespace headroom::cuda {

namespace {

struct LayerWeights {
    DeviceArray input_norm, qkv, o, post_norm, gate_up, down, k_cache, v_cache;
};

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
    StepLayout layout;  // step metadata
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

    GraphCache graphs;

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
        StepLimits lim;
        lim.max_tokens = o.max_tokens;
        lim.max_seqs = o.max_seqs;
        lim.block_size = o.block_size;
        lim.num_blocks = o.num_blocks;
        lim.max_len = max_len;
        lim.max_blocks_per_seq = max_blocks_per_seq;
        lim.vocab = V;
        lim.heads = H;
        lim.sm_count = sm_count;
        layout = StepLayout(lim);
        HR_CUDA_CHECK(cudaMallocHost(&host_next, S * 8));
    }

    ~Impl() {
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

    void enqueue_layers(const StepShape& s) {
        const int64_t T = s.tokens;
        const auto eps = static_cast<float>(m.norm_eps);
        op(OpKind::EMBEDDING, [&] { gather_rows(u16(embedding), layout.tok.d(), u16(x), T, h, stream); });
        PrefillBatch pb;
        pb.tiles = static_cast<int32_t>(s.tiles);
        pb.tile_seq = layout.pf_tile_seq.d();
        pb.tile_q0 = layout.pf_tile_q0.d();
        pb.seq_row0 = layout.pf_row0.d();
        pb.seq_qlen = layout.pf_qlen.d();
        pb.seq_context = layout.pf_ctx.d();
        pb.block_tables = layout.pf_tables.d();
        pb.table_offsets = layout.pf_offsets.d();
        DecodeBatch db;
        db.seqs = static_cast<int32_t>(s.decodes);
        db.splits = static_cast<int32_t>(s.splits);
        db.rows = layout.dc_rows.d();
        db.seq_lens = layout.dc_lens.d();
        db.block_tables = layout.dc_tables.d();
        db.table_offsets = layout.dc_offsets.d();
        uint16_t* q = u16(qkv);
        uint16_t* k = q + H * d;
        uint16_t* v = k + KV * d;
        for (const LayerWeights& w : layers) {
            op(OpKind::INPUT_NORM, [&] { rmsnorm(u16(x), u16(w.input_norm), u16(xn), T, h, eps, stream); });
            op(OpKind::QKV_PROJ, [&] { gemm.run(u16(xn), u16(w.qkv), qkv.ptr, T, h, qkv_w, false, stream); });
            op(OpKind::ROPE, [&] {
                rope_strided(q, qkv_w, k, qkv_w, layout.pos.d(), T, H, KV, d, rotary, m.rope_theta, stream);
            });
            op(OpKind::ATTENTION, [&] {
                kv_write_strided(k, v, qkv_w, u16(w.k_cache), u16(w.v_cache), layout.slot.d(), T, KV, d, stream);
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

    void enqueue_head(const StepShape& s) {
        const int64_t S = s.seqs;
        const auto eps = static_cast<float>(m.norm_eps);
        op(OpKind::FINAL_NORM, [&] {
            gather_rows(u16(x), layout.last_rows.d(), u16(last_x), S, h, stream);
            rmsnorm(u16(last_x), u16(final_norm), u16(last_xn), S, h, eps, stream);
        });
        op(OpKind::LM_HEAD, [&] { gemm.run(u16(last_xn), lm_head, logits.ptr, S, h, V, true, stream); });
        op(OpKind::SAMPLING, [&] { greedy_sample(logits.as<float>(), next_tok.as<int64_t>(), S, V, stream); });
    }

    DecodeGraphs& graph_for(int64_t bucket) {
        if (DecodeGraphs* g = graphs.find(bucket)) return *g;
        StepShape s;
        s.seqs = 0;
        layout.pad_to(s, bucket);
        DecodeGraphs g;
        const bool was = profiling;
        profiling = false;
        g.layers_exec = capture_graph(stream, [&] { enqueue_layers(s); });
        g.head_exec = capture_graph(stream, [&] { enqueue_head(s); });
        profiling = was;
        return graphs.add(bucket, g);
    }

    std::vector<int64_t> step(const std::vector<ref::SeqStep>& batch) {
        const auto seqs = static_cast<int64_t>(batch.size());
        last_seqs = seqs;
        step_s = layers_s = 0;
        if (seqs == 0) return {};
        const bool decode_only = std::all_of(batch.begin(), batch.end(), [](const ref::SeqStep& q) {
            return q.tokens.size() == 1 && q.context > 0;
        });
        const int64_t bucket = graph_bucket_for(seqs, o.max_seqs);
        used_graph = o.cuda_graphs && !profiling && decode_only && bucket > 0;
        // The graph is captured (on first use) before the step is planned: capturing writes padding into
        // the staging arrays.
        DecodeGraphs* g = used_graph ? &graph_for(bucket) : nullptr;
        StepShape s = layout.plan(batch);
        op_next = 0;
        if (g) {
            layout.pad_to(s, bucket);
            layout.upload(s, stream);
            HR_CUDA_CHECK(cudaEventRecord(ev[0], stream));
            HR_CUDA_CHECK(cudaGraphLaunch(g->layers_exec, stream));
            HR_CUDA_CHECK(cudaEventRecord(ev[1], stream));
            HR_CUDA_CHECK(cudaGraphLaunch(g->head_exec, stream));
        } else {
            layout.upload(s, stream);
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
std::vector<int64_t> Model::graph_buckets() const { return cuda::graph_buckets(impl_->o.max_seqs); }
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
