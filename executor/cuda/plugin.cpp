// The CUDA executor as a module of its own (libheadroom_cuda.so): the CUDA runtime and cuBLASLt load only when
// `measure` or `validate` asks for the GPU, through the entry points below (dlopen'ed by executor/src/backend.cpp),
// so every other command starts without them.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <memory>
#include <string>

#include "headroom/executor/device.hpp"
#include "headroom/executor/executor_error.hpp"
#include "headroom/executor/gpu_model.hpp"
#include "headroom/executor/measure.hpp"

namespace headroom {

namespace {

cuda::ModelOptions cuda_options(const BackendOptions& o) {
    cuda::ModelOptions c;
    c.layers = o.layers;
    c.num_blocks = o.num_blocks;
    c.block_size = o.block_size;
    c.max_tokens = o.max_tokens;
    c.max_seqs = o.max_seqs;
    c.max_model_len = o.max_model_len;
    c.cuda_graphs = o.cuda_graphs;
    c.seed = o.seed;
    return c;
}

class CudaBackend : public StepBackend {
public:
    CudaBackend(const ModelCard& m, const BackendOptions& o, DeviceInfo dev)
        : model_(m, cuda_options(o)), dev_(std::move(dev)) {
        measure_memory();
    }
    std::vector<int64_t> step(const std::vector<ref::SeqStep>& batch) override { return model_.step(batch); }
    double last_step_s() const override { return model_.last_step_s(); }
    double last_layers_s() const override { return model_.last_layers_s(); }
    bool last_step_used_graph() const override { return model_.last_step_used_graph(); }
    void set_profiling(bool on) override { model_.set_profiling(on); }
    std::vector<std::pair<OpKind, double>> last_op_times() const override { return model_.last_op_times(); }
    void prepare() override {
        model_.capture_graphs();
        measure_memory();
    }
    int64_t layers() const override { return model_.layers(); }
    int64_t num_blocks() const override { return model_.num_blocks(); }
    double memory_used_bytes() const override { return used_; }
    DeviceInfo device() const override { return dev_; }

private:
    void measure_memory() {
        size_t free = 0, total = 0;
        if (cudaMemGetInfo(&free, &total) == cudaSuccess) used_ = std::max(used_, static_cast<double>(total - free));
    }
    cuda::Model model_;
    DeviceInfo dev_;
    double used_ = 0.0;
};

}  // namespace

}  // namespace headroom

// The module's entry points (C names, C++ types: the module is built with the executable that loads it).
extern "C" {

void headroom_cuda_query_device(headroom::DeviceInfo* out) { *out = headroom::cuda::query_cuda_device(); }

// As backend_blocks for the GPU, once a GPU is known to be there.
int64_t headroom_cuda_backend_blocks(const headroom::ModelCard* model, const headroom::BackendOptions* options,
                                     int64_t planned, std::string* why) {
    using namespace headroom;
    const ModelCard& m = *model;
    const BackendOptions& o = *options;
    const std::string unsupported = cuda::Model::unsupported_reason(m);
    if (!unsupported.empty()) throw ExecutorError("", "", unsupported);
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) throw NoDeviceError("cannot read the GPU's free memory");
    const int64_t layers = o.layers > 0 ? std::min<int64_t>(o.layers, m.num_layers) : m.num_layers;
    const cuda::ModelOptions c = cuda_options(o);
    const double weights = cuda::Model::weight_bytes_for(m, layers);
    const double margin = 1.5 * 1024.0 * 1024.0 * 1024.0;  // CUDA context, cuBLASLt, graphs
    const double left = static_cast<double>(free) - weights - cuda::Model::workspace_bytes_for(m, c) - margin;
    const double per_block = cuda::Model::kv_bytes_per_block(m, layers, o.block_size);
    if (left < per_block) {
        throw ExecutorError("", "", m.name + " (" + std::to_string(layers) + " layers) does not fit in the GPU's " +
                                    std::to_string(static_cast<int64_t>(static_cast<double>(free) / (1 << 30))) +
                                    " GiB free: run fewer layers with --layers");
    }
    const auto fit = static_cast<int64_t>(left / per_block);
    if (fit < planned) *why = "the GPU's free memory holds " + std::to_string(fit) + " KV blocks, not the planned " + std::to_string(planned);
    return std::min(planned, fit);
}

headroom::StepBackend* headroom_cuda_make_backend(const headroom::ModelCard* model, const headroom::BackendOptions* options,
                                                  const headroom::DeviceInfo* device) {
    return new headroom::CudaBackend(*model, *options, *device);
}

}  // extern "C"
