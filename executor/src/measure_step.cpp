// `measure step`: one prefill or decode step, timed over iterations after warm-up, then once more with
// every op bracketed by events for the per-op breakdown, next to the cost model's prediction.
#include <algorithm>
#include <map>

#include "headroom/executor/measure.hpp"
#include "headroom/core/cost_model.hpp"
#include "headroom/core/kernel_table_predictor.hpp"

namespace headroom {

namespace {

bool is_layer_op(OpKind k) {
    return k != OpKind::EMBEDDING && k != OpKind::FINAL_NORM && k != OpKind::LM_HEAD && k != OpKind::SAMPLING &&
           k != OpKind::STEP_OVERHEAD;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

StepMeasurement measure_step(const ModelCard& m, const GpuProfile& gpu, const StepRequest& r) {
    if ((r.prefill_tokens > 0) == (r.decode_batch > 0)) {
        throw ExecutorError("", "", "give either --tokens (a prefill) or --decode-batch (a decode step)");
    }
    if (r.context < 0 || r.iterations < 1 || r.warmup < 0 || r.layers < 0) {
        throw ExecutorError("", "", "--context, --iterations, --warmup and --layers must be positive");
    }
    const bool prefill = r.prefill_tokens > 0;
    const int64_t seqs = prefill ? 1 : r.decode_batch;
    const int64_t len = prefill ? r.prefill_tokens : r.context + 1;
    if (len > m.max_position_embeddings) {
        throw ExecutorError("", "", std::to_string(len) + " tokens exceed " + m.name + "'s max_position_embeddings " +
                                    std::to_string(m.max_position_embeddings));
    }
    if (!prefill && r.context < 1) throw ExecutorError("", "", "a decode step needs --context of at least 1");

    BackendOptions bo;
    bo.device = r.device;
    bo.layers = r.layers;
    bo.cuda_graphs = r.cuda_graphs;
    bo.seed = r.seed;
    bo.block_size = 16;
    bo.max_tokens = prefill ? r.prefill_tokens : seqs;
    bo.max_seqs = seqs;
    bo.max_model_len = len;
    const int64_t per_seq = ceil_div(len, bo.block_size);
    std::string why;
    bo.num_blocks = backend_blocks(m, bo, per_seq * seqs, why);
    if (bo.num_blocks < per_seq * seqs) throw ExecutorError("", "", "the step's KV cache does not fit: " + why);
    std::unique_ptr<StepBackend> be = make_backend(m, bo);

    std::vector<ref::SeqStep> batch(static_cast<size_t>(seqs));
    for (int64_t b = 0; b < seqs; ++b) {
        ref::SeqStep& s = batch[static_cast<size_t>(b)];
        const int64_t n = prefill ? r.prefill_tokens : 1;
        for (int64_t i = 0; i < n; ++i) s.tokens.push_back((b * 7919 + i * 104729) % m.vocab_size);
        s.context = prefill ? 0 : r.context;
        for (int64_t k = 0; k < per_seq; ++k) s.block_table.push_back(static_cast<int32_t>(b * per_seq + k));
    }

    StepMeasurement out;
    out.kind = prefill ? "prefill" : "decode";
    out.tokens = prefill ? r.prefill_tokens : seqs;
    out.sequences = seqs;
    out.context = prefill ? 0 : r.context;
    out.layers_run = be->layers();
    out.layers_model = m.num_layers;
    out.layer_scale = static_cast<double>(m.num_layers) / static_cast<double>(be->layers());
    out.device = be->device();

    for (int64_t i = 0; i < r.warmup; ++i) be->step(batch);
    std::vector<double> times;
    for (int64_t i = 0; i < r.iterations; ++i) {
        be->step(batch);
        times.push_back(be->last_step_s() + be->last_layers_s() * (out.layer_scale - 1.0));
        out.cuda_graphs = be->last_step_used_graph();
    }
    out.step_s = percentiles(times);

    be->set_profiling(true);
    be->step(batch);  // creates the events
    be->step(batch);
    std::map<OpKind, double> measured;
    for (const auto& [kind, s] : be->last_op_times()) {
        measured[kind] = s * (is_layer_op(kind) ? out.layer_scale : 1.0);
        out.profiled_total_s += measured[kind];
    }
    be->set_profiling(false);

    CostConfig cc;
    cc.cuda_graphs = out.cuda_graphs;
    cc.step_overhead_s = 0.0;  // host time: not in a device-timed step
    const CostModel cm(m, gpu, cc);
    const std::unique_ptr<StepTimePredictor> predictor = make_step_predictor(m, gpu, cc);  // what simulate uses
    std::vector<SequenceWork> work;
    for (const ref::SeqStep& s : batch) work.push_back({static_cast<int64_t>(s.tokens.size()), s.context});
    const StepCost cost = predictor->step(work);
    for (const OpCost& op : cost.ops) {
        if (op.kind == OpKind::STEP_OVERHEAD) continue;
        out.predicted_s += op.time_s;
        OpMeasurement om;
        om.name = op.name;
        om.predicted_s = op.time_s;
        om.bound = std::string(bound_name(op.bound));
        auto it = measured.find(op.kind);
        if (it != measured.end()) om.measured_s = it->second;
        out.ops.push_back(om);
    }
    for (const auto& [kind, s] : measured) {  // ops the cost model does not name (none expected)
        if (!cost.op(op_name(kind))) out.ops.push_back({std::string(op_name(kind)), s, 0.0, "-"});
    }
    out.flops = cost.flops;
    out.bytes = cost.bytes;
    out.peak_flops_per_s = cm.gemm_peak_flops();
    out.peak_bytes_per_s = gpu.memory_bandwidth_bytes_per_s();
    if (out.step_s.p50 > 0) {
        out.achieved_flops_per_s = out.flops / out.step_s.p50;
        out.achieved_bytes_per_s = out.bytes / out.step_s.p50;
    }
    return out;
}

}  // namespace headroom
