// Measurement on the reference executor, in the simulator's terms:
// - measure_step: one prefill or decode step timed over iterations, with achieved FLOP/s and bytes/s
//   against the GPU profile, and a per-op breakdown under the cost model's op names, next to its prediction;
// - measure_serve: the simulator's scheduler and workload generator driving the executor in real time,
//   measuring TTFT, TPOT, ITL and E2E as the simulator defines them (sim/metrics.hpp);
// - compare: prediction and measurement of one scenario, metric by metric.
// The executor is the CUDA model (device "cuda") or, for tests of the pipeline on small models, the plain
// C++ reference (device "cpu"). `--layers N` runs N of the model's L layers and scales what it reports:
// each step counts its layers' time L / N times (serve stretches each step in real time accordingly).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "headroom/executor/device.hpp"
#include "headroom/executor/reference.hpp"
#include "headroom/sim/engine.hpp"
#include "headroom/sim/scenario.hpp"

namespace headroom {

// No GPU to measure on (CLI: one line, exit 3).
class NoDeviceError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

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

// Throws NoDeviceError when device is "cuda" and no GPU can be used; std::invalid_argument when the model
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
};

struct ServeResult {
    SimulationResult result;  // in the simulator's terms: summary, plan (with the blocks used), requests, steps
    DeviceInfo device;
    int64_t layers_run = 0, layers_model = 0;
    double memory_used_bytes = 0;
    double wall_s = 0;
    std::string blocks_note;  // when the executor holds fewer KV blocks than the plan
};

// Runs the scenario in real time (one replica, tp 1). Throws std::invalid_argument for scenarios it cannot
// run, NoDeviceError without a GPU.
ServeResult measure_serve(const Scenario& sc, const ServeOptions& o);

// One line of a prediction-vs-measurement table.
struct Comparison {
    std::string metric;
    double predicted = 0, measured = 0;
    double rel_error = 0;  // (predicted - measured) / measured; 0 when both are 0
    std::string unit;      // s | req/s | tok/s
};
std::vector<Comparison> compare(const Summary& predicted, const Summary& measured);

// JSON line of a measured run: the simulate schema, with "source": "measured" and the device, driver,
// CUDA version, layers and peak memory.
std::string serve_json(const Scenario& sc, const ServeResult& r);
std::string step_json(const ModelCard& m, const GpuProfile& gpu, const StepMeasurement& s);
// One line of `validate --json` (schema headroom.validate/1); `users` > 0 marks a sweep point.
std::string validate_json(const Scenario& sc, const SimulationResult& predicted, const ServeResult& measured,
                          const std::vector<Comparison>& rows, int64_t users = 0);

}  // namespace headroom
