#include "graphs.hpp"

#include "check.cuh"

namespace headroom::cuda {

std::vector<int64_t> graph_buckets(int64_t max_seqs) {
    std::vector<int64_t> b;
    for (int64_t x : {1, 2, 4}) {
        if (x < max_seqs) b.push_back(x);
    }
    for (int64_t x = 8; x < max_seqs; x += 8) b.push_back(x);
    b.push_back(max_seqs);
    return b;
}

int64_t graph_bucket_for(int64_t seqs, int64_t max_seqs) {
    for (int64_t b : graph_buckets(max_seqs)) {
        if (b >= seqs) return b;  // the staging arrays hold max(max_tokens, max_seqs) rows
    }
    return -1;
}

cudaGraphExec_t capture_graph(cudaStream_t stream, const std::function<void()>& enqueue) {
    cudaGraph_t g = nullptr;
    HR_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    try {
        enqueue();
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

GraphCache::~GraphCache() {
    for (auto& [b, g] : graphs_) {
        if (g.layers_exec) cudaGraphExecDestroy(g.layers_exec);
        if (g.head_exec) cudaGraphExecDestroy(g.head_exec);
    }
}

DecodeGraphs* GraphCache::find(int64_t bucket) {
    auto it = graphs_.find(bucket);
    return it == graphs_.end() ? nullptr : &it->second;
}

DecodeGraphs& GraphCache::add(int64_t bucket, DecodeGraphs g) { return graphs_[bucket] = g; }

}  // namespace headroom::cuda
