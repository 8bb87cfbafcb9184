// The two step backends: the CUDA model (executor/cuda/, a module loaded on demand: libheadroom_cuda.so) and
// the CPU reference (executor/cpu/).
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "headroom/executor/measure.hpp"

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


// The CUDA executor module, loaded the first time a GPU is asked for: next to the executable, else where the
// build wrote it. Its entry points, or why it could not be loaded.
struct CudaModule {
    std::string error;
    void (*query)(DeviceInfo*) = nullptr;
    int64_t (*blocks)(const ModelCard*, const BackendOptions*, int64_t, std::string*) = nullptr;
    StepBackend* (*make)(const ModelCard*, const BackendOptions*, const DeviceInfo*) = nullptr;
};

const CudaModule& cuda_module() {
    static const CudaModule module = [] {
        CudaModule c;
#ifdef HEADROOM_CUDA_MODULE
        std::vector<std::string> paths;
        char exe[4096];
        const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            const std::string self(exe, static_cast<size_t>(n));
            paths.push_back(self.substr(0, self.rfind('/') + 1) + HEADROOM_CUDA_MODULE_NAME);
        }
        paths.emplace_back(HEADROOM_CUDA_MODULE);
        void* handle = nullptr;
        for (const std::string& p : paths) {
            handle = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (handle) break;
            const char* e = dlerror();
            if (c.error.empty()) c.error = std::string("cannot load the CUDA executor (") + (e ? e : p) + ")";
        }
        if (handle) {
            c.query = reinterpret_cast<decltype(c.query)>(dlsym(handle, "headroom_cuda_query_device"));
            c.blocks = reinterpret_cast<decltype(c.blocks)>(dlsym(handle, "headroom_cuda_backend_blocks"));
            c.make = reinterpret_cast<decltype(c.make)>(dlsym(handle, "headroom_cuda_make_backend"));
            if (!c.query || !c.blocks || !c.make) c.error = "the CUDA executor module lacks its entry points";
        }
#else
        c.error = "headroom was built without CUDA (nvcc was not found at build time)";
#endif
        return c;
    }();
    return module;
}

DeviceInfo require_gpu() {
    DeviceInfo dev = query_device();
    if (!dev.available) throw NoDeviceError(dev.reason);
    return dev;
}

}  // namespace

// Never throws: without the module, the reason it could not be loaded.
DeviceInfo query_device() {
    const CudaModule& c = cuda_module();
    DeviceInfo d;
    if (!c.query) {
        d.reason = c.error;
        return d;
    }
    c.query(&d);
    return d;
}

int64_t backend_blocks(const ModelCard& m, const BackendOptions& o, int64_t planned, std::string& why) {
    why.clear();
    if (o.device == "cpu") {
        constexpr int64_t CPU_BLOCKS = 4096;  // the reference keeps its cache in host floats
        if (planned > CPU_BLOCKS) why = "the CPU reference holds " + std::to_string(CPU_BLOCKS) + " KV blocks";
        return std::min(planned, CPU_BLOCKS);
    }
    if (o.device != "cuda") throw ExecutorError("", "", "device must be cuda or cpu, not " + o.device);
    require_gpu();
    return cuda_module().blocks(&m, &o, planned, &why);
}

std::unique_ptr<StepBackend> make_backend(const ModelCard& m, const BackendOptions& o) {
    if (o.device == "cpu") return std::make_unique<CpuBackend>(m, o);
    if (o.device != "cuda") throw ExecutorError("", "", "device must be cuda or cpu, not " + o.device);
    const DeviceInfo dev = require_gpu();
    return std::unique_ptr<StepBackend>(cuda_module().make(&m, &o, &dev));
}

}  // namespace headroom
