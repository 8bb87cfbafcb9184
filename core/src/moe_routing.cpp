#include "headroom/core/moe_routing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <tuple>
#include <vector>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/core/rng.hpp"

namespace headroom {

namespace {
// Every routing a user can name, in the order --help lists them.
struct NamedRouting {
    const char* name;
    MoeRouting routing;
};
constexpr NamedRouting ROUTINGS[] = {
    {"independent", {MoeRouting::Kind::INDEPENDENT, 0.0}},
    {"balanced", {MoeRouting::Kind::BALANCED, 0.0}},
    {"power_law_1.01", {MoeRouting::Kind::POWER_LAW, 1.01}},
    {"power_law_1.2", {MoeRouting::Kind::POWER_LAW, 1.2}},
};
}  // namespace

std::string MoeRouting::name() const {
    for (const NamedRouting& r : ROUTINGS) {
        if (r.routing == *this) return r.name;
    }
    return kind == Kind::POWER_LAW ? fmt::format("power_law_{:g}", alpha) : "independent";
}

const char* moe_routing_names() {
    static const std::string names = [] {
        std::string out;
        for (const NamedRouting& r : ROUTINGS) out += (out.empty() ? "" : ", ") + std::string(r.name);
        return out;
    }();
    return names.c_str();
}

bool parse_moe_routing(const std::string& text, MoeRouting& out) {
    for (const NamedRouting& r : ROUTINGS) {
        if (text == r.name) {
            out = r.routing;
            return true;
        }
    }
    return false;
}

MoeRouting moe_routing_for(const ModelCard& model, const std::string& text) {
    MoeRouting r;
    if (!parse_moe_routing(text, r)) {
        throw PlanError("--moe-routing", fmt::format("unknown routing \"{}\" ({})", text, moe_routing_names()));
    }
    if (!model.is_moe()) throw PlanError("--moe-routing", fmt::format("{} has no routed experts", model.name));
    return r;
}

double power_law_reached(int64_t tokens, int64_t experts, int64_t topk, double alpha) {
    if (tokens <= 0 || experts <= 0 || topk <= 0) return 0.0;
    const int64_t picks = tokens * topk;
    const bool many = picks > experts;
    const double lo = many ? 1.0 : 0.01, hi = many ? 0.8 * static_cast<double>(tokens) : 2.0;
    const double a = 1.0 - alpha, lo_a = std::pow(lo, a), span = std::pow(hi, a) - lo_a;
    constexpr int DRAWS = 200;
    Rng rng(7);
    const auto n = static_cast<size_t>(experts);
    std::vector<double> draw(n);
    std::vector<int64_t> count(n);
    std::vector<size_t> order(n);
    double reached = 0.0;
    for (int d = 0; d < DRAWS; ++d) {
        double total = 0.0;
        // inverse-CDF sample of density ~ x^-alpha on [lo, hi]; hi <= lo (one token, many picks) gives lo
        for (double& x : draw) total += x = hi > lo ? std::pow(span * rng.uniform() + lo_a, 1.0 / a) : lo;
        int64_t placed = 0;
        for (size_t e = 0; e < n; ++e)
            placed += count[e] = std::llround(draw[e] / total * static_cast<double>(picks));
        std::iota(order.begin(), order.end(), size_t{0});
        std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return count[x] > count[y]; });
        for (size_t i = 0; placed < picks; ++i, ++placed) ++count[order[i % n]];
        for (size_t i = 0; placed > picks; ++i) {  // from the smallest counts that have one to give
            int64_t& c = count[order[n - 1 - i % n]];
            if (c > 0) --c, --placed;
        }
        for (int64_t c : count) reached += c > 0 ? 1.0 : 0.0;
    }
    return reached / DRAWS;
}

namespace {

// The power-law count at token count `t` of the grid: t itself up to 64, then 64 x 2^(i / 8).
constexpr int64_t EXACT_UP_TO = 64;

double grid_tokens(int64_t i) {
    return static_cast<double>(EXACT_UP_TO) * std::exp2(static_cast<double>(i) / 8.0);
}

double memoised_power_law(int64_t tokens, int64_t experts, int64_t topk, double alpha) {
    static std::mutex mu;
    static std::map<std::tuple<int64_t, int64_t, int64_t, double>, double> memo;
    const auto key = std::make_tuple(tokens, experts, topk, alpha);
    {
        std::lock_guard<std::mutex> lock(mu);
        if (auto it = memo.find(key); it != memo.end()) return it->second;
    }
    const double v = power_law_reached(tokens, experts, topk, alpha);
    std::lock_guard<std::mutex> lock(mu);
    return memo.emplace(key, v).first->second;
}

}  // namespace

double experts_reached(const MoeRouting& routing, double experts, double topk, double tokens) {
    if (!(experts > 0.0) || !(tokens > 0.0) || !(topk > 0.0)) return 0.0;
    switch (routing.kind) {
        case MoeRouting::Kind::BALANCED:
            return std::min(tokens * topk, experts);
        case MoeRouting::Kind::POWER_LAW: {
            const auto e = static_cast<int64_t>(experts), k = static_cast<int64_t>(topk);
            if (tokens <= static_cast<double>(EXACT_UP_TO)) {
                return memoised_power_law(static_cast<int64_t>(std::ceil(tokens)), e, k, routing.alpha);
            }
            // grid points i and i + 1 around `tokens`, each a whole token count
            const auto i =
                static_cast<int64_t>(std::floor(8.0 * std::log2(tokens / static_cast<double>(EXACT_UP_TO))));
            const double t0 = std::round(grid_tokens(i)), t1 = std::round(grid_tokens(i + 1));
            const double r0 = memoised_power_law(static_cast<int64_t>(t0), e, k, routing.alpha);
            if (tokens <= t0 || t1 <= t0) return r0;
            const double r1 = memoised_power_law(static_cast<int64_t>(t1), e, k, routing.alpha);
            const double f = std::log(tokens / t0) / std::log(t1 / t0);
            return r0 + (r1 - r0) * std::clamp(f, 0.0, 1.0);
        }
        case MoeRouting::Kind::INDEPENDENT:
            break;
    }
    return expected_distinct_experts(experts, topk, tokens);
}

}  // namespace headroom
