// The routers of router.hpp.
#include "headroom/core/router.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>

namespace headroom {

namespace {

size_t least_outstanding(const std::vector<RouteCandidate>& r) {
    size_t best = 0;
    for (size_t i = 1; i < r.size(); ++i) {
        if (r[i].outstanding < r[best].outstanding) best = i;
    }
    return best;
}

class RoundRobin : public Router {
public:
    size_t pick(const std::vector<RouteCandidate>& r, int64_t, int32_t) override { return next_++ % r.size(); }

private:
    size_t next_ = 0;
};

class LeastOutstanding : public Router {
public:
    size_t pick(const std::vector<RouteCandidate>& r, int64_t, int32_t) override { return least_outstanding(r); }
};

class PrefixCache : public Router {
public:
    bool reads_cache() const override { return true; }
    size_t pick(const std::vector<RouteCandidate>& r, int64_t prompt_tokens, int32_t) override {
        int64_t most = 1;
        for (const RouteCandidate& c : r) most = std::max(most, c.outstanding);
        size_t best = 0;
        double best_score = -1.0;
        for (size_t i = 0; i < r.size(); ++i) {
            const double hit = prompt_tokens > 0 ? static_cast<double>(r[i].cached_tokens) / static_cast<double>(prompt_tokens) : 0.0;
            const double score = 2.0 * hit + (1.0 - static_cast<double>(r[i].outstanding) / static_cast<double>(most));
            if (score > best_score) {
                best_score = score;
                best = i;
            }
        }
        return best;
    }
};

class SessionAffinity : public Router {
public:
    size_t pick(const std::vector<RouteCandidate>& r, int64_t, int32_t previous) override {
        if (previous >= 0 && static_cast<size_t>(previous) < r.size()) return static_cast<size_t>(previous);
        return least_outstanding(r);
    }
};

const std::map<std::string, std::function<std::unique_ptr<Router>()>>& registry() {
    static const std::map<std::string, std::function<std::unique_ptr<Router>()>> r = {
        {"round_robin", [] { return std::make_unique<RoundRobin>(); }},
        {"least_outstanding", [] { return std::make_unique<LeastOutstanding>(); }},
        {"prefix_cache", [] { return std::make_unique<PrefixCache>(); }},
        {"session_affinity", [] { return std::make_unique<SessionAffinity>(); }},
    };
    return r;
}

}  // namespace

std::unique_ptr<Router> make_router(const std::string& name) {
    auto it = registry().find(name);
    if (it == registry().end()) throw std::invalid_argument("unknown router \"" + name + "\"");
    return it->second();
}

std::vector<std::string> router_names() {
    std::vector<std::string> out;
    for (const auto& [n, f] : registry()) out.push_back(n);
    return out;
}

}  // namespace headroom
