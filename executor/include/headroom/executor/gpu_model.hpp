// The Llama-family forward pass on one CUDA GPU, at a model card's true shapes, with seeded random bf16
// weights: embedding, per layer RMSNorm, QKV (cuBLASLt), RoPE, paged KV write, flash prefill and
// split-key decode attention, O projection, residual, RMSNorm, gate/up, SiLU x mul, down, residual; then
// the final norm, the LM head at each sequence's last token, and greedy sampling.
//
// A step takes the batch the scheduler planned (prefill chunks and decodes together, each with its block
// table into this model's KV cache). Steps made only of decodes replay a CUDA graph captured for the
// smallest batch-size bucket that holds them (1, 2, 4, 8, then multiples of 8), as vLLM does; the padding
// rows write nothing. Every step is timed with CUDA events; with profiling on, each op is bracketed by
// events and its time summed under the cost model's op name (profiled steps never use a graph).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "headroom/executor/reference.hpp"
#include "headroom/models/model_card.hpp"
#include "headroom/core/step_predictor.hpp"

namespace headroom::cuda {

struct ModelOptions {
    int64_t layers = 0;          // layers to run; 0: all of the model's
    int64_t num_blocks = 0;      // KV-cache blocks (each holds block_size tokens of every layer run)
    int64_t block_size = 16;
    int64_t max_tokens = 8192;   // tokens per step (max_num_batched_tokens)
    int64_t max_seqs = 256;      // sequences per step (max_num_seqs)
    int64_t max_model_len = 0;   // 0: the model's max_position_embeddings
    bool cuda_graphs = true;
    uint64_t seed = 0;
};

// Device seconds per op name, in the order the ops first ran.
using OpTimes = std::vector<std::pair<OpKind, double>>;

class Model {
public:
    // Random weights generated on the GPU from the seed (no host copy; an 8B model takes about a second).
    Model(const ModelCard& m, const ModelOptions& o);
    // The given host weights (ref::random_weights), so that a test can compare with ref::ReferenceModel.
    Model(const ModelCard& m, const ModelOptions& o, const ref::Weights& w);
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    // Runs one step and waits for it; returns each sequence's greedy next token.
    std::vector<int64_t> step(const std::vector<ref::SeqStep>& batch);
    // Captures the decode graph of every bucket now (vLLM does this at start-up), rather than on first use.
    void capture_graphs();

    std::vector<float> last_logits() const;  // [sequences, vocab] of the last step
    double last_step_s() const;              // device time of the last step
    double last_layers_s() const;            // of which the transformer layers
    bool last_step_used_graph() const;
    void set_profiling(bool on);
    const OpTimes& last_op_times() const;  // of the last profiled step

    const ModelCard& card() const;
    int64_t layers() const;
    int64_t num_blocks() const;
    std::vector<int64_t> graph_buckets() const;
    double weight_bytes() const;
    double kv_cache_bytes() const;

    static double weight_bytes_for(const ModelCard& m, int64_t layers);
    static double kv_bytes_per_block(const ModelCard& m, int64_t layers, int64_t block_size);
    // Activation buffers, metadata, the decode workspace and cuBLASLt's workspace.
    static double workspace_bytes_for(const ModelCard& m, const ModelOptions& o);
    // Why the model cannot run (unsupported architecture or head_dim), or "".
    static std::string unsupported_reason(const ModelCard& m);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace headroom::cuda
