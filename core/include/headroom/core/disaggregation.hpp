// Disaggregated prefill and decode (vLLM's P/D with a KV connector; llm-d's selective disaggregation): a request
// prefills on a replica of the prefill pool, its KV moves to a replica of the decode pool, and it decodes there.
// Two choices are policies picked by name from small registries:
// - where a request prefills: "always" on the prefill pool; "prompt_length" (as llm-d: prompts shorter than
//   min_prompt_tokens prefill on their decode replica, where the transfer would cost more than it saves); or
//   "prefix_cache" (as llm-d's prefix-aware decider: a request whose prompt the decode replica holding most of it
//   has cached for at least min_cache_hit_share prefills there, leaving only its uncached tail to compute);
// - which decode replica takes it: "least_kv" (the fewest KV blocks in use or on their way) or "round_robin".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace headroom {

struct DisaggregationSettings {
    int64_t prefill_replicas = 0;  // the replica loop's first this many replicas are the prefill pool; 0: colocated
    std::string decision = "always";
    int64_t min_prompt_tokens = 0;  // prompt_length: shorter prompts prefill on their decode replica
    double min_cache_hit_share = 0.5;  // prefix_cache: prompts cached at least this much prefill on that decode replica
    std::string decode_router = "least_kv";
    double kv_bytes_per_token = 0.0;  // the model's KV per token at the deployment's KV dtype, all TP ranks together
    bool enabled() const { return prefill_replicas > 0; }
};

class PrefillDecision {
public:
    virtual ~PrefillDecision() = default;
    // true: prefill on the prefill pool and send the KV; false: prefill on the decode replica. `cached_tokens`: of
    // the prompt, what the decode replica that caches most of it holds (read only when reads_cache()).
    virtual bool disaggregate(int64_t prompt_tokens, int64_t cached_tokens) const = 0;
    virtual bool reads_cache() const { return false; }
};
std::unique_ptr<PrefillDecision> make_prefill_decision(const DisaggregationSettings& s);
std::vector<std::string> prefill_decision_names();

// A decode replica as the router sees it.
struct DecodeCandidate {
    int64_t kv_blocks_used = 0;  // in use now, plus those of transfers on their way to it
    int64_t outstanding = 0;     // requests routed to it and not done
};
class DecodeRouter {
public:
    virtual ~DecodeRouter() = default;
    virtual size_t pick(const std::vector<DecodeCandidate>& decode) = 0;
};
std::unique_ptr<DecodeRouter> make_decode_router(const std::string& name);
std::vector<std::string> decode_router_names();

}  // namespace headroom
