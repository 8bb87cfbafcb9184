// The registries of disaggregation.hpp, and the ideal KV transport of kv_transport.hpp.
#include "headroom/core/disaggregation.hpp"

#include <functional>
#include <map>
#include <stdexcept>

#include "headroom/core/kv_transport.hpp"
#include "headroom/core/replica_loop.hpp"

namespace headroom {

namespace {

class Always : public PrefillDecision {
public:
    bool disaggregate(int64_t, int64_t) const override { return true; }
};

class PromptLength : public PrefillDecision {
public:
    explicit PromptLength(int64_t min_tokens) : min_(min_tokens) {}
    bool disaggregate(int64_t prompt_tokens, int64_t) const override { return prompt_tokens >= min_; }

private:
    int64_t min_;
};

class PrefixCache : public PrefillDecision {
public:
    explicit PrefixCache(double share) : share_(share) {}
    bool disaggregate(int64_t prompt_tokens, int64_t cached_tokens) const override {
        return static_cast<double>(cached_tokens) < share_ * static_cast<double>(prompt_tokens);
    }
    bool reads_cache() const override { return true; }

private:
    double share_;
};

const std::map<std::string, std::function<std::unique_ptr<PrefillDecision>(const DisaggregationSettings&)>>& decisions() {
    static const std::map<std::string, std::function<std::unique_ptr<PrefillDecision>(const DisaggregationSettings&)>> r = {
        {"always", [](const DisaggregationSettings&) { return std::make_unique<Always>(); }},
        {"prompt_length", [](const DisaggregationSettings& s) { return std::make_unique<PromptLength>(s.min_prompt_tokens); }},
        {"prefix_cache", [](const DisaggregationSettings& s) { return std::make_unique<PrefixCache>(s.min_cache_hit_share); }},
    };
    return r;
}

class LeastKv : public DecodeRouter {
public:
    size_t pick(const std::vector<DecodeCandidate>& d) override {
        size_t best = 0;
        for (size_t i = 1; i < d.size(); ++i) {
            if (d[i].kv_blocks_used < d[best].kv_blocks_used ||
                (d[i].kv_blocks_used == d[best].kv_blocks_used && d[i].outstanding < d[best].outstanding)) {
                best = i;
            }
        }
        return best;
    }
};

class RoundRobin : public DecodeRouter {
public:
    size_t pick(const std::vector<DecodeCandidate>& d) override { return next_++ % d.size(); }

private:
    size_t next_ = 0;
};

const std::map<std::string, std::function<std::unique_ptr<DecodeRouter>()>>& routers() {
    static const std::map<std::string, std::function<std::unique_ptr<DecodeRouter>()>> r = {
        {"least_kv", [] { return std::make_unique<LeastKv>(); }},
        {"round_robin", [] { return std::make_unique<RoundRobin>(); }},
    };
    return r;
}

template <class Map>
std::vector<std::string> names(const Map& m) {
    std::vector<std::string> out;
    for (const auto& [n, f] : m) out.push_back(n);
    return out;
}

}  // namespace

std::unique_ptr<PrefillDecision> make_prefill_decision(const DisaggregationSettings& s) {
    auto it = decisions().find(s.decision);
    if (it == decisions().end()) throw std::invalid_argument("unknown disaggregation decision \"" + s.decision + "\"");
    return it->second(s);
}
std::vector<std::string> prefill_decision_names() { return names(decisions()); }

std::unique_ptr<DecodeRouter> make_decode_router(const std::string& name) {
    auto it = routers().find(name);
    if (it == routers().end()) throw std::invalid_argument("unknown decode router \"" + name + "\"");
    return it->second();
}
std::vector<std::string> decode_router_names() { return names(routers()); }

double IdealTransport::wait_until(double t_s, std::vector<int64_t>& ended) {
    if (pending_.empty() || pending_.top().end_s > t_s) return clock_.wait_until(t_s);
    const double t = clock_.wait_until(pending_.top().end_s);
    while (!pending_.empty() && pending_.top().end_s <= t) {
        ended.push_back(pending_.top().tag);
        pending_.pop();
    }
    return t;
}

}  // namespace headroom
