// What arrives at the deployment: workload shapes and their sessions (rng.hpp, distributions.hpp,
// arrivals.hpp and trace.hpp hold the pieces).
// A workload is a stream of sessions; a session is one or more turns, each one request whose prompt is the
// whole conversation so far (history + the turn's new tokens). Single-turn shapes are sessions of one turn.
// - chat: multi-turn, a think time between turns, the prompt grows with the conversation;
// - agent: short generations, a tool latency between turns, tool output appended to the prompt;
// - batch: every request at t = 0;
// - embedding: prefill only (no output tokens), for an encoder;
// - rag: a retrieval latency before the request and retrieved context added to the prompt;
// - single: one request per arrival.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "headroom/core/arrivals.hpp"
#include "headroom/core/distributions.hpp"
#include "headroom/core/rng.hpp"
#include "headroom/core/trace.hpp"

namespace headroom {

enum class Shape { SINGLE, CHAT, AGENT, BATCH, EMBEDDING, RAG };
std::string_view shape_name(Shape s);
bool parse_shape(std::string_view s, Shape& out);

struct Turn {
    int64_t new_prompt_tokens = 0;  // appended to the conversation before this request
    int64_t output_tokens = 0;
    double delay_before_s = 0.0;    // think time, tool latency or retrieval latency before the request
};

struct Session {
    int64_t id = 0;
    double start_s = 0.0;
    uint64_t content_id = 0;  // shared by the session's requests (prefix caching)
    // A shared system prompt (prefix groups): the first `prefix_tokens` tokens of every turn are those of
    // prefix `prefix_id`, shared with the other sessions of its group (0: none).
    uint64_t prefix_id = 0;
    int64_t prefix_tokens = 0;
    // A trace row's prompt blocks (Mooncake hash_ids, chained), `prompt_block_tokens` tokens each: requests
    // naming the same block share its tokens and all before them. Null: none.
    PromptBlocks prompt_blocks;
    int64_t prompt_block_tokens = 0;
    std::vector<Turn> turns;
};

// Prompts drawn from a pool as benchmark tools build it (vllm bench serve's prefix repetition, GuideLLM's and
// inference-perf's shared prefixes): `groups` system prompts of `system_prompt_tokens` tokens in use at once,
// each shared by `questions` requests (then replaced by a fresh one), sessions dealt to the groups in turn.
// The question is the shape's own prompt (prompt_tokens). With prefix caching, a group's first request
// computes its system prompt and the other questions - 1 read it from cache: (M - 1) / M of the shared tokens.
struct PrefixGroups {
    int64_t groups = 0;  // 0: no prefix groups
    int64_t questions = 1;
    int64_t system_prompt_tokens = 0;
    bool enabled() const { return groups > 0 && system_prompt_tokens > 0; }
};

struct WorkloadSpec {
    Shape shape = Shape::SINGLE;
    std::string arrival = "poisson";  // poisson | gamma | constant | closed_loop | trace | batch
    double rate = 1.0;                // sessions per second (open loop)
    double cv = 1.0;                  // gamma burstiness
    int64_t users = 0;                // closed loop
    std::shared_ptr<Distribution> user_think_time_s;  // closed loop: pause between a user's sessions
    std::shared_ptr<Distribution> prompt_tokens;  // first turn (or the question, for rag)
    std::shared_ptr<Distribution> output_tokens;
    std::shared_ptr<Distribution> turns;              // chat, agent
    std::shared_ptr<Distribution> followup_tokens;    // chat: new user message per later turn; agent: tool output
    std::shared_ptr<Distribution> think_time_s;       // chat, closed loop
    std::shared_ptr<Distribution> tool_latency_s;     // agent
    std::shared_ptr<Distribution> retrieval_latency_s;  // rag
    std::shared_ptr<Distribution> retrieved_tokens;     // rag
    double output_scale = 1.0;  // output lengths are multiplied by this (what-if: shorter answers)
    PrefixGroups prefix_groups;
    // A client gives up on a request not finished this long after it was sent; it counts as failed (0: never).
    double timeout_s = 0.0;
    // How often a speculative drafter's token is accepted on this workload's text, per position (code and
    // structured output accept more than open chat); < 0: not given. Read by speculative decoding when its own
    // block gives no acceptance, and by the sweep's speculative counterfactual.
    double speculative_acceptance = -1.0;
    // A trace's rows: replayed at their times (arrival "trace"), or taken in order by closed-loop users, one row
    // a session, until they run out (arrival "closed_loop" with a file), as load generators replay a dataset at a
    // fixed concurrency.
    std::vector<TraceRow> trace;
    std::vector<PromptBlocks> trace_blocks;  // its rows' prompt blocks (Trace::blocks), or empty
    std::string trace_file;         // where the trace was read from
    std::string trace_format;       // its layout, as read_trace named it
    int64_t trace_skipped = 0;      // its rows without prompt tokens, left out
    int64_t trace_reordered = 0;    // its rows out of time order (replayed sorted)
    int64_t trace_block_tokens = 0;  // tokens a prompt block of trace_blocks covers, 0: none
    double trace_time_scale = 1.0;  // arrival times are multiplied by this (0.5 = twice the rate)
    int64_t max_requests = 0;       // `requests:` stop after this many requests, open or closed loop (0: no limit)
    double duration_s = 0.0;        // stop arrivals after this time (0: no limit)
};

// Draws one session of the spec's shape starting at `start_s`.
Session make_session(const WorkloadSpec& spec, Rng& rng, int64_t id, double start_s);

// The one-turn session of the trace's row `row` (its prompt, its answer times output_scale, its prompt blocks),
// starting at `start_s`.
Session trace_session(const WorkloadSpec& spec, size_t row, int64_t id, double start_s);

// The sessions of an open-loop, trace or batch workload, drawn one at a time in start order, so that a run
// holds only the sessions it has started. Deterministic in `seed`. `spec` must outlive the source.
class OpenLoopSource {
public:
    OpenLoopSource(const WorkloadSpec& spec, uint64_t seed);
    // The next session (start times never decrease); false when the workload has no more.
    bool next(Session& out);

private:
    bool full() const { return spec_.max_requests > 0 && requests_ >= spec_.max_requests; }
    void take(Session& s);

    const WorkloadSpec& spec_;
    Rng rng_;
    std::unique_ptr<ArrivalProcess> process_;  // poisson, gamma, constant
    double t_s_ = 0.0;
    int64_t sessions_ = 0;
    int64_t requests_ = 0;
    bool done_ = false;
};

// All sessions of an open-loop, trace or batch workload, in start order (OpenLoopSource drained).
std::vector<Session> open_loop_sessions(const WorkloadSpec& spec, uint64_t seed);

}  // namespace headroom
