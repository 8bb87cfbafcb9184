// Disaggregated prefill and decode (vLLM's P/D with a KV connector; llm-d's selective disaggregation): a request
// prefills on a replica of the prefill pool, its KV moves to a replica of the decode pool, and it decodes there.
// Two choices are policies picked by name from small registries:
// - where a request prefills: "always" on the prefill pool, or "prompt_length" (as llm-d: prompts shorter than
//   min_prompt_tokens prefill on their decode replica, where the transfer would cost more than it saves);
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
    std::string decode_router = "least_kv";
    double kv_bytes_per_token = 0.0;  // the model's KV per token at the deployment's KV dtype, all TP ranks together
    bool enabled() const { return prefill_replicas > 0; }
};

class PrefillDecision {
public:
    virtual ~PrefillDecision() = default;
    // true: prefill on the prefill pool and send the KV; false: prefill on the decode replica
    virtual bool disaggregate(int64_t prompt_tokens) const = 0;
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
