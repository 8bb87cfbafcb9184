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

std::vector<Session> open_loop_sessions(const WorkloadSpec& spec, uint64_t seed) {
    Rng rng(seed);
    std::vector<Session> out;
    // `requests: N` counts requests, not sessions: the session that reaches N keeps only its first turns.
    int64_t requests = 0;
    auto full = [&] { return spec.max_requests > 0 && requests >= spec.max_requests; };
    auto take = [&](Session s) {
        if (spec.max_requests > 0) {
            const auto left = static_cast<size_t>(spec.max_requests - requests);
            if (s.turns.size() > left) s.turns.resize(left);
        }
        requests += static_cast<int64_t>(s.turns.size());
        out.push_back(std::move(s));
    };
    if (spec.arrival == "trace") {
        for (const TraceRow& row : spec.trace) {
            const double t = row.arrived_at_s * spec.trace_time_scale;
            if (spec.duration_s > 0 && t >= spec.duration_s) break;
            if (full()) break;
            Session s;
            s.id = static_cast<int64_t>(out.size());
            s.start_s = t;
            s.content_id = static_cast<uint64_t>(s.id) + 1;
            s.turns.push_back({std::max<int64_t>(1, row.prompt_tokens),
                               spec.shape == Shape::EMBEDDING ? 0
                                                             : std::max<int64_t>(1, std::llround(row.output_tokens * spec.output_scale)),
                               0.0});
            take(std::move(s));
        }
        return out;
    }
    if (spec.arrival == "batch" || spec.shape == Shape::BATCH) {
        for (int64_t i = 0; spec.max_requests > 0 && !full(); ++i) take(make_session(spec, rng, i, 0.0));
        return out;
    }
    const auto process = make_arrival_process(spec.arrival, spec.rate, spec.cv);
    double t = 0.0;
    for (int64_t i = 0;; ++i) {
        t += process->next_gap_s(rng);
        if (spec.duration_s > 0 && t >= spec.duration_s) break;
        if (full()) break;
        take(make_session(spec, rng, i, t));
    }
    return out;
}

}  // namespace headroom
