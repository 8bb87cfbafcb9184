// CUDA graphs of decode-only steps, one per batch bucket (1, 2, 4, 8, 16, ... up to max_seqs), as vLLM
// captures them: a step of n decodes replays the graph of the smallest bucket >= n.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

namespace headroom::cuda {

std::vector<int64_t> graph_buckets(int64_t max_seqs);
// The smallest bucket holding `seqs` sequences, or -1.
int64_t graph_bucket_for(int64_t seqs, int64_t max_seqs);
// Captures what `enqueue` puts on `stream` into an instantiated graph.
cudaGraphExec_t capture_graph(cudaStream_t stream, const std::function<void()>& enqueue);

// The two graphs of a bucket: the transformer layers, then the head (final norm, LM head, sampling), so the
// layers' time is measured apart.
struct DecodeGraphs {
    cudaGraphExec_t layers_exec = nullptr, head_exec = nullptr;
};

// Owns the graphs and destroys them.
class GraphCache {
public:
    GraphCache() = default;
    GraphCache(const GraphCache&) = delete;
    GraphCache& operator=(const GraphCache&) = delete;
    ~GraphCache();
    DecodeGraphs* find(int64_t bucket);
    DecodeGraphs& add(int64_t bucket, DecodeGraphs g);

private:
    std::map<int64_t, DecodeGraphs> graphs_;
};

}  // namespace headroom::cuda
