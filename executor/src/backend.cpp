// The two step backends: the CUDA model (executor/cuda/model.cpp) and the CPU reference (executor/cpu/).
#include <algorithm>
#include <chrono>

#include "headroom/executor/measure.hpp"

#ifdef HEADROOM_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "headroom/executor/gpu_model.hpp"
#endif

namespace headroom {

namespace {

// The CPU reference: for tests of the measurement pipeline on small models, not for timings of real ones.
class CpuBackend : public StepBackend {
public:
    CpuBackend(const ModelCard& m, const BackendOptions& o)
        : model_(m, o.seed, o.layers > 0 ? std::min<int64_t>(o.layers, m.num_layers) : m.num_layers, o.num_blocks,
                 o.block_size),
          blocks_(o.num_blocks) {}

    std::vector<int64_t> step(const std::vector<ref::SeqStep>& batch) override {
        const auto t0 = std::chrono::steady_clock::now();
        const std::vector<float> logits = model_.forward(batch);
        std::vector<int64_t> next(batch.size());
        ref::greedy_sample(logits.data(), next.data(), static_cast<int64_t>(batch.size()), model_.card().vocab_size);
        last_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return next;
    }
    double last_step_s() const override { return last_s_; }
    double last_layers_s() const override { return last_s_; }  // not split on the CPU
    int64_t layers() const override { return model_.layers(); }
    int64_t num_blocks() const override { return blocks_; }
    double memory_used_bytes() const override { return 0.0; }
    DeviceInfo device() const override {
        DeviceInfo d;
        d.available = true;
        d.name = "CPU reference (plain C++, not a performance measurement)";
        return d;
    }

private:
    ref::ReferenceModel model_;
    int64_t blocks_;
    double last_s_ = 0.0;
};

#ifdef HEADROOM_HAVE_CUDA
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
#endif

DeviceInfo require_gpu() {
    DeviceInfo dev = query_device();
    if (!dev.available) throw NoDeviceError(dev.reason);
    return dev;
}

}  // namespace

int64_t backend_blocks(const ModelCard& m, const BackendOptions& o, int64_t planned, std::string& why) {
    why.clear();
    if (o.device == "cpu") {
        constexpr int64_t CPU_BLOCKS = 4096;  // the reference keeps its cache in host floats
        if (planned > CPU_BLOCKS) why = "the CPU reference holds " + std::to_string(CPU_BLOCKS) + " KV blocks";
        return std::min(planned, CPU_BLOCKS);
    }
    if (o.device != "cuda") throw ExecutorError("", "", "device must be cuda or cpu, not " + o.device);
    require_gpu();
#ifdef HEADROOM_HAVE_CUDA
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
    if (fit < planned) why = "the GPU's free memory holds " + std::to_string(fit) + " KV blocks, not the planned " + std::to_string(planned);
    return std::min(planned, fit);
#else
    (void)m;
    return planned;
#endif
}

std::unique_ptr<StepBackend> make_backend(const ModelCard& m, const BackendOptions& o) {
    if (o.device == "cpu") return std::make_unique<CpuBackend>(m, o);
    if (o.device != "cuda") throw ExecutorError("", "", "device must be cuda or cpu, not " + o.device);
    DeviceInfo dev = require_gpu();
#ifdef HEADROOM_HAVE_CUDA
    return std::make_unique<CudaBackend>(m, o, std::move(dev));
#else
    (void)m;
    throw NoDeviceError("this build has no CUDA executor");
#endif
}

}  // namespace headroom
