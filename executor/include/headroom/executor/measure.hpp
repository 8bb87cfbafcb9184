// Measurement on the reference executor, in the simulator's terms:
// - measure_step: one prefill or decode step timed over iterations, with achieved FLOP/s and bytes/s
//   against the GPU profile, and a per-op breakdown under the cost model's op names, next to its prediction;
// - measure_serve: the engine core's replica loop (core/replica_loop.hpp: the simulator's workload, router and
//   scheduler) driving the executor in real time; the request records and steps come back in the core's
//   terms, and report/ summarises them as the simulator does (report/measured.hpp).
// The executor depends on the engine core only, never on the simulator.
// The executor is the CUDA model (device "cuda") or, for tests of the pipeline on small models, the plain
// C++ reference (device "cpu"). `--layers N` runs N of the model's L layers and scales what it reports:
// each step counts its layers' time L / N times (serve stretches each step in real time accordingly).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "headroom/core/deployment.hpp"
#include "headroom/core/metrics.hpp"
#include "headroom/core/run_stats.hpp"
#include "headroom/core/step_predictor.hpp"
#include "headroom/core/workload.hpp"
#include "headroom/executor/device.hpp"
#include "headroom/executor/executor_error.hpp"
#include "headroom/executor/reference.hpp"

namespace headroom {

struct BackendOptions {
    std::string device = "cuda";  // cuda | cpu
    int64_t layers = 0;           // 0: all
    bool cuda_graphs = true;
    uint64_t seed = 0;
    int64_t num_blocks = 0;
    int64_t block_size = 16;
    int64_t max_tokens = 8192;
    int64_t max_seqs = 256;
    int64_t max_model_len = 0;
};

// One engine step at a time, on a GPU or on the CPU reference.
class StepBackend {
public:
    virtual ~StepBackend() = default;
    // Runs the step and waits for it; each sequence's greedy next token.
    virtual std::vector<int64_t> step(const std::vector<ref::SeqStep>& batch) = 0;
    virtual double last_step_s() const = 0;    // measured time of the last step (CUDA events on a GPU)
    virtual double last_layers_s() const = 0;  // of which the transformer layers
    virtual bool last_step_used_graph() const { return false; }
    virtual void set_profiling(bool) {}
    virtual std::vector<std::pair<OpKind, double>> last_op_times() const { return {}; }
    virtual void prepare() {}  // work done once before a timed run (CUDA graph capture)
    virtual int64_t layers() const = 0;
    virtual int64_t num_blocks() const = 0;
    virtual double memory_used_bytes() const = 0;  // on the device, after set-up
    virtual DeviceInfo device() const = 0;
};

// Throws NoDeviceError when device is "cuda" and no GPU can be used; ExecutorError when the model
// is outside the executor's family or does not fit.
std::unique_ptr<StepBackend> make_backend(const ModelCard& m, const BackendOptions& o);
// KV blocks for a backend: what the KV plan gives, or fewer where the device's free memory after weights
// and workspace holds fewer (then `why` says so).
int64_t backend_blocks(const ModelCard& m, const BackendOptions& o, int64_t planned, std::string& why);

struct StepRequest {
    std::string device = "cuda";
    int64_t prefill_tokens = 0;  // > 0: a prefill of this many tokens at context 0
    int64_t decode_batch = 0;    // > 0: a decode step of this many sequences
    int64_t context = 0;         // each decode sequence's cached tokens
    int64_t warmup = 5;
    int64_t iterations = 30;
    int64_t layers = 0;
    bool cuda_graphs = true;
    uint64_t seed = 0;
};

struct OpMeasurement {
    std::string name;
    double measured_s = 0;   // profiled, scaled to the model's layer count
    double predicted_s = 0;  // the cost model (headroom cost)
    std::string bound;       // the cost model's bound
};

struct StepMeasurement {
    std::string kind;  // prefill | decode
    int64_t tokens = 0, sequences = 0, context = 0;
    int64_t layers_run = 0, layers_model = 0;
    double layer_scale = 1.0;  // layers_model / layers_run
    bool cuda_graphs = false;  // the timed steps replayed a graph
    Percentiles step_s;        // scaled
    double predicted_s = 0;    // the cost model's step time (without the per-step host overhead)
    double flops = 0, bytes = 0;  // of the whole model's step (cost model's counts)
    double achieved_flops_per_s = 0, achieved_bytes_per_s = 0;
    double peak_flops_per_s = 0, peak_bytes_per_s = 0;
    double profiled_total_s = 0;  // sum of the per-op times (events around each op add a little)
    std::vector<OpMeasurement> ops;
    DeviceInfo device;
};

StepMeasurement measure_step(const ModelCard& m, const GpuProfile& gpu, const StepRequest& r);

struct ServeOptions {
    std::string device = "cuda";
    int64_t layers = 0;
    bool cuda_graphs = true;
    double max_wall_s = 0;  // 0: no limit; past it no new request starts (those running finish)
    // The executor computes every step's tokens, but the clock is simulated and each step takes the
    // predictor's time: the simulator's run with real tokens (tests that both run the same loop).
    bool predicted_time = false;
    // Called after a step at most once a second of a measured run (not with predicted_time): the real seconds
    // so far, the requests started and those finished.
    std::function<void(double wall_s, int64_t started, int64_t finished)> progress;
};

// What a measured run ran on.
struct ServeInfo {
    DeviceInfo device;
    int64_t layers_run = 0, layers_model = 0;
    double memory_used_bytes = 0;
    double wall_s = 0;
    std::string blocks_note;  // when the executor holds fewer KV blocks than the plan
};

// A run of the replica loop on the executor, in the core's terms.
struct ServeResult {
    std::string predictor;  // "measured", or the predictor's name with ServeOptions::predicted_time
    KvPlan plan;            // the deployment's plan, with the blocks the executor holds
    RunStats stats;                       // what the loop kept (summarize() reads it)
    std::vector<RequestRecord> requests;  // every request, in id order
    std::vector<StepSample> steps;        // every step
    Accounting accounting;
    double end_s = 0;  // the loop's clock at the end (the wall clock, or the virtual one)
    ServeInfo info;
};

// Runs the deployment on the workload in real time (one replica, tp 1). `where` names the input in errors.
// Throws ExecutorError for deployments it cannot run, PlanError when the model does not fit,
// NoDeviceError without a GPU.
ServeResult measure_serve(const Deployment& d, const EngineConfig& e, const WorkloadSpec& w, uint64_t seed,
                          const ServeOptions& o, const std::string& where);

}  // namespace headroom
