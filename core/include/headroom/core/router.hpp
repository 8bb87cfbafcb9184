// Which replica a new request goes to (colocated serving; a disaggregated deployment's prefill pool is picked by
// load and its decode pool by disaggregation.hpp's DecodeRouter). Picked by name from a small registry:
// - round_robin: replicas in turn;
// - least_outstanding: the fewest requests routed and not done (ties: the lowest index);
// - prefix_cache: llm-d's precise prefix-cache scorer with a load scorer beside it: score = 2 x (share of the
//   prompt cached on the replica) + 1 x (1 - outstanding / the most outstanding anywhere); the highest wins
//   (ties: the lowest index). The 2 : 1 weights are ours, an assumption, not llm-d's measured defaults;
// - session_affinity: a session's later turns go where its previous turn went; first turns and single requests
//   go to the least outstanding replica.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace headroom {

struct RouteCandidate {
    int64_t outstanding = 0;    // requests routed to it and not done
    int64_t cached_tokens = 0;  // of this request's prompt, in its prefix cache (only when the router reads it)
};

class Router {
public:
    virtual ~Router() = default;
    // Whether pick() reads RouteCandidate::cached_tokens (the loop asks each replica's cache only then).
    virtual bool reads_cache() const { return false; }
    // `previous`: the replica of the session's previous turn, or -1.
    virtual size_t pick(const std::vector<RouteCandidate>& replicas, int64_t prompt_tokens, int32_t previous) = 0;
};

std::unique_ptr<Router> make_router(const std::string& name);
std::vector<std::string> router_names();

}  // namespace headroom
