// SimulationResult <-> bytes, for the pipe from a simulation's child process (same binary on both ends).
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "headroom/sim/engine.hpp"

namespace headroom {

namespace {

class Writer {
public:
    template <class T>
    void pod(const T& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        out.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void str(const std::string& s) {
        pod<uint64_t>(s.size());
        out.append(s);
    }
    template <class T>
    void pods(const std::vector<T>& v) {
        pod<uint64_t>(v.size());
        if (!v.empty()) out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    }
    void strs(const std::vector<std::string>& v) {
        pod<uint64_t>(v.size());
        for (const std::string& x : v) str(x);
    }
    std::string out;
};

class Reader {
public:
    explicit Reader(const std::string& s) : s_(s) {}
    template <class T>
    void pod(T& v) {
        need(sizeof v);
        std::memcpy(&v, s_.data() + at_, sizeof v);
        at_ += sizeof v;
    }
    void str(std::string& v) {
        uint64_t n = 0;
        pod(n);
        need(n);
        v.assign(s_.data() + at_, n);
        at_ += n;
    }
    template <class T>
    void pods(std::vector<T>& v) {
        uint64_t n = 0;
        pod(n);
        need(n * sizeof(T));
        v.resize(n);
        if (n) std::memcpy(v.data(), s_.data() + at_, n * sizeof(T));
        at_ += n * sizeof(T);
    }
    void strs(std::vector<std::string>& v) {
        uint64_t n = 0;
        pod(n);
        need(n * sizeof(uint64_t));  // at least each string's length
        v.resize(n);
        for (std::string& x : v) str(x);
    }

private:
    void need(size_t n) const {
        if (at_ + n > s_.size()) throw std::runtime_error("truncated simulation result");
    }
    const std::string& s_;
    size_t at_ = 0;
};

// Fields of Summary, in one place for both directions.
template <class IO, class S>
void summary_fields(IO& io, S& s) {
    io.pod(s.requests), io.pod(s.completed), io.pod(s.rejected), io.pod(s.failed), io.pod(s.api_server_s_mean);
    io.pod(s.duration_s);
    io.pod(s.ttft_s), io.pod(s.tpot_s), io.pod(s.itl_s), io.pod(s.e2e_s), io.pod(s.queue_s);
    io.pod(s.request_throughput), io.pod(s.output_throughput), io.pod(s.input_throughput);
    io.pod(s.output_tokens_per_s_per_gpu), io.pod(s.input_tokens), io.pod(s.output_tokens);
    io.pod(s.goodput_rps), io.pod(s.goodput_fraction), io.pod(s.gpus), io.pod(s.gpu_hours), io.pod(s.cost_usd);
    io.pod(s.usd_per_mtok), io.pod(s.kv_util_mean), io.pod(s.kv_util_peak), io.pod(s.running_mean);
    io.pod(s.running_peak), io.pod(s.busy_fraction), io.pod(s.steps), io.pod(s.preemptions);
    io.pod(s.prefix_hit_tokens), io.pod(s.slos_met), io.pod(s.accounting);
    io.pods(s.ttft_at_s), io.pods(s.tpot_at_s), io.pods(s.itl_at_s), io.pods(s.e2e_at_s);
    io.pod(s.disaggregated), io.pod(s.kv_transfer_s), io.pod(s.kv_transfer_bytes), io.pod(s.prefill_busy_fraction);
    io.pod(s.decode_busy_fraction), io.str(s.busiest_link), io.pod(s.busiest_link_bytes), io.pod(s.busiest_link_kv_bytes),
        io.pod(s.busiest_link_utilisation);
    io.str(s.placement), io.pod(s.expert_imbalance);
    io.strs(s.link_names), io.pods(s.link_bytes), io.pods(s.link_kv_bytes), io.pods(s.link_utilisation);
}

// Fields of KvPlanRequest (one list for both directions: add a field here when it gains one)
template <class IO, class R>
void request_fields(IO& io, R& r) {
    io.pod(r.tp), io.pod(r.pp), io.pods(r.pp_layer_partition), io.pod(r.dp), io.pod(r.ep),
        io.pod(r.weight_dtype);
    io.pod(r.kv_dtype), io.pod(r.gpu_memory_utilization), io.pod(r.block_size), io.pod(r.max_model_len);
    io.pod(r.max_num_batched_tokens), io.pod(r.max_num_seqs), io.pod(r.reserve_bytes), io.pod(r.cuda_graphs);
    io.pod(r.context), io.pod(r.concurrency), io.pod(r.drafter_weight_bytes),
        io.pod(r.drafter_kv_bytes_per_token);
    io.pod(r.all2all_buffer_bytes);
}

template <class IO, class P>
void plan_fields(IO& io, P& p) {
    request_fields(io, p.request);
    io.pod(p.kv_heads_per_gpu), io.pod(p.kv_heads_replicated), io.pod(p.usable_bytes);
    io.pod(p.budget_bytes), io.pod(p.weight_bytes), io.pod(p.reserve), io.pod(p.reserve_bytes);
    io.pod(p.kv_budget_bytes), io.pod(p.kv_bytes_per_token), io.pod(p.block_bytes), io.pod(p.num_blocks);
    io.pod(p.kv_tokens), io.pod(p.sequence_bytes_at_context), io.pod(p.max_concurrency_at_context);
    io.pod(p.max_context_at_concurrency), io.pod(p.context_capped_by_max_model_len), io.pod(p.fits);
    io.pod(p.group_layers), io.pods(p.group_windows);
    io.pods(p.stage_first_layer), io.pods(p.stage_layers), io.pods(p.stage_blocks),
        io.pods(p.stage_weight_bytes);
    io.pods(p.stage_reserve_bytes), io.pod(p.binding_stage);
}

template <class IO, class R>
void record_fields(IO& io, R& r) {
    io.pod(r.id), io.pod(r.session), io.pod(r.turn), io.pod(r.replica), io.pod(r.arrival_s), io.pod(r.scheduled_s);
    io.pod(r.first_token_s), io.pod(r.last_token_s), io.pod(r.finish_s), io.pod(r.prompt_tokens);
    io.pod(r.output_tokens), io.pod(r.generated), io.pod(r.preemptions), io.pod(r.prefix_hit_tokens);
    io.pod(r.recomputed_tokens);
    io.pod(r.max_itl_s), io.pod(r.rejected), io.pod(r.failed), io.pod(r.api_s);
    io.pod(r.prefill_replica), io.pod(r.prefill_done_s), io.pod(r.kv_arrived_s), io.pod(r.kv_bytes);
}

}  // namespace

std::string serialize_result(const SimulationResult& r) {
    Writer w;
    w.str(r.scenario);
    w.str(r.predictor);
    summary_fields(w, r.summary);
    w.pod<uint64_t>(r.summary.slos.size());
    for (const SloResult& s : r.summary.slos) {
        w.str(s.metric);
        w.pod(s.percentile), w.pod(s.threshold_s), w.pod(s.value_s), w.pod(s.met);
    }
    plan_fields(w, r.plan);
    w.str(r.plan.why_not);
    w.pod<uint64_t>(r.requests.size());
    for (const RequestRecord& q : r.requests) {
        record_fields(w, q);
        w.str(q.reject_reason);
    }
    w.pods(r.timeseries);
    w.pod(r.simulated_s), w.pod(r.wall_s), w.pod(r.peak_rss_bytes);
    w.str(r.predictor_note);
    return std::move(w.out);
}

SimulationResult deserialize_result(const std::string& bytes) {
    Reader rd(bytes);
    SimulationResult r;
    rd.str(r.scenario);
    rd.str(r.predictor);
    summary_fields(rd, r.summary);
    uint64_t n = 0;
    rd.pod(n);
    r.summary.slos.resize(n);
    for (SloResult& s : r.summary.slos) {
        rd.str(s.metric);
        rd.pod(s.percentile), rd.pod(s.threshold_s), rd.pod(s.value_s), rd.pod(s.met);
    }
    plan_fields(rd, r.plan);
    rd.str(r.plan.why_not);
    rd.pod(n);
    r.requests.resize(n);
    for (RequestRecord& q : r.requests) {
        record_fields(rd, q);
        rd.str(q.reject_reason);
    }
    rd.pods(r.timeseries);
    rd.pod(r.simulated_s), rd.pod(r.wall_s), rd.pod(r.peak_rss_bytes);
    rd.str(r.predictor_note);
    return r;
}

}  // namespace headroom
