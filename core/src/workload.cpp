// Workload shapes and their sessions.
#include "headroom/core/workload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace headroom {

namespace {

int64_t draw_tokens(const std::shared_ptr<Distribution>& d, Rng& r, int64_t min, double scale = 1.0) {
    if (!d) return min;
    return std::max<int64_t>(min, std::llround(d->sample(r) * scale));
}

double draw_s(const std::shared_ptr<Distribution>& d, Rng& r) { return d ? std::max(0.0, d->sample(r)) : 0.0; }

}  // namespace

std::string_view shape_name(Shape s) {
    switch (s) {
        case Shape::SINGLE: return "single";
        case Shape::CHAT: return "chat";
        case Shape::AGENT: return "agent";
        case Shape::BATCH: return "batch";
        case Shape::EMBEDDING: return "embedding";
        case Shape::RAG: return "rag";
    }
    return "?";
}

bool parse_shape(std::string_view s, Shape& out) {
    for (Shape x : {Shape::SINGLE, Shape::CHAT, Shape::AGENT, Shape::BATCH, Shape::EMBEDDING, Shape::RAG}) {
        if (shape_name(x) == s) {
            out = x;
            return true;
        }
    }
    return false;
}

Session make_session(const WorkloadSpec& spec, Rng& rng, int64_t id, double start_s) {
    Session s;
    s.id = id;
    s.start_s = start_s;
    s.content_id = static_cast<uint64_t>(id) + 1;
    switch (spec.shape) {
        case Shape::SINGLE:
        case Shape::BATCH:
            s.turns.push_back({draw_tokens(spec.prompt_tokens, rng, 1), draw_tokens(spec.output_tokens, rng, 1, spec.output_scale), 0.0});
            break;
        case Shape::EMBEDDING:
            s.turns.push_back({draw_tokens(spec.prompt_tokens, rng, 1), 0, 0.0});
            break;
        case Shape::RAG: {
            const int64_t question = draw_tokens(spec.prompt_tokens, rng, 1);
            const int64_t context = draw_tokens(spec.retrieved_tokens, rng, 0);
            const double latency = draw_s(spec.retrieval_latency_s, rng);
            s.turns.push_back({question + context, draw_tokens(spec.output_tokens, rng, 1, spec.output_scale), latency});
            break;
        }
        case Shape::CHAT:
        case Shape::AGENT: {
            const int64_t n = draw_tokens(spec.turns, rng, 1);
            const auto& gap = spec.shape == Shape::CHAT ? spec.think_time_s : spec.tool_latency_s;
            const auto& more = spec.followup_tokens ? spec.followup_tokens : spec.prompt_tokens;
            for (int64_t t = 0; t < n; ++t) {
                const int64_t prompt = draw_tokens(t == 0 ? spec.prompt_tokens : more, rng, 1);
                const int64_t output = draw_tokens(spec.output_tokens, rng, 1, spec.output_scale);
                s.turns.push_back({prompt, output, t == 0 ? 0.0 : draw_s(gap, rng)});
            }
            break;
        }
    }
    if (spec.prefix_groups.enabled() && !s.turns.empty()) {
        // session k goes to slot k mod N; each slot's sessions come in runs of M per system prompt
        const PrefixGroups& g = spec.prefix_groups;
        const uint64_t slot = static_cast<uint64_t>(id % g.groups);
        const uint64_t generation = static_cast<uint64_t>(id / g.groups / g.questions);
        const uint64_t group = slot + static_cast<uint64_t>(g.groups) * generation;
        s.prefix_id = derive_seed(0x70726566697847ULL, group) | 1;  // never 0
        s.prefix_tokens = g.system_prompt_tokens;
        s.turns[0].new_prompt_tokens += g.system_prompt_tokens;
    }
    return s;
}

Session trace_session(const WorkloadSpec& spec, size_t row, int64_t id, double start_s) {
    const TraceRow& r = spec.trace[row];
    Session s;
    s.id = id;
    s.start_s = start_s;
    s.content_id = static_cast<uint64_t>(id) + 1;
    if (spec.trace_block_tokens > 0 && row < spec.trace_blocks.size() && spec.trace_blocks[row]) {
        s.prompt_blocks = spec.trace_blocks[row];
        s.prompt_block_tokens = spec.trace_block_tokens;
    }
    const int64_t output =
        spec.shape == Shape::EMBEDDING ? 0 : std::max<int64_t>(1, std::llround(r.output_tokens * spec.output_scale));
    s.turns.push_back({std::max<int64_t>(1, r.prompt_tokens), output, 0.0});
    return s;
}

OpenLoopSource::OpenLoopSource(const WorkloadSpec& spec, uint64_t seed) : spec_(spec), rng_(seed) {
    if (spec.arrival != "trace" && spec.arrival != "batch" && spec.shape != Shape::BATCH) {
        process_ = make_arrival_process(spec.arrival, spec.rate, spec.cv);
    }
}

// `requests: N` counts requests, not sessions: the session that reaches N keeps only its first turns.
void OpenLoopSource::take(Session& s) {
    if (spec_.max_requests > 0) {
        const auto left = static_cast<size_t>(spec_.max_requests - requests_);
        if (s.turns.size() > left) s.turns.resize(left);
    }
    requests_ += static_cast<int64_t>(s.turns.size());
    ++sessions_;
}

bool OpenLoopSource::next(Session& out) {
    if (done_) return false;
    if (spec_.arrival == "trace") {
        const auto row_index = static_cast<size_t>(sessions_);
        if (row_index >= spec_.trace.size() || full()) return !(done_ = true);
        const TraceRow& row = spec_.trace[row_index];
        const double t = row.arrived_at_s * spec_.trace_time_scale;
        if (spec_.duration_s > 0 && t >= spec_.duration_s) return !(done_ = true);
        Session s = trace_session(spec_, row_index, sessions_, t);
        take(s);
        out = std::move(s);
        return true;
    }
    if (!process_) {  // a batch: every session at t = 0
        if (spec_.max_requests <= 0 || full()) return !(done_ = true);
        Session s = make_session(spec_, rng_, sessions_, 0.0);
        take(s);
        out = std::move(s);
        return true;
    }
    t_s_ += process_->next_gap_s(rng_);
    if ((spec_.duration_s > 0 && t_s_ >= spec_.duration_s) || full()) return !(done_ = true);
    Session s = make_session(spec_, rng_, sessions_, t_s_);
    take(s);
    out = std::move(s);
    return true;
}

std::vector<Session> open_loop_sessions(const WorkloadSpec& spec, uint64_t seed) {
    OpenLoopSource source(spec, seed);
    std::vector<Session> out;
    Session s;
    while (source.next(s)) out.push_back(std::move(s));
    return out;
}

}  // namespace headroom
