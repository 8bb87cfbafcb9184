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
#include "headroom/core/parallelism.hpp"
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
        for (const NamedRouting& r : ROUTINGS) {
            if (!out.empty()) out += ", ";
            out += r.name;
        }
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

namespace {

// AIConfigurator's power-law routing (header): calls `each(count)` with the experts' pick counts of each of 200
// draws of a fixed seed.
template <class Each>
void power_law_draws(int64_t tokens, int64_t experts, int64_t topk, double alpha, Each&& each) {
    const int64_t picks = tokens * topk;
    const bool many = picks > experts;
    const double lo = many ? 1.0 : 0.01, hi = many ? 0.8 * static_cast<double>(tokens) : 2.0;
    const double a = 1.0 - alpha, lo_a = std::pow(lo, a), span = std::pow(hi, a) - lo_a;
    Rng rng(7);
    const auto n = static_cast<size_t>(experts);
    std::vector<double> draw(n);
    std::vector<int64_t> count(n);
    std::vector<size_t> order(n);
    for (int d = 0; d < POWER_LAW_DRAWS; ++d) {
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
        each(count);
    }
}

// The experts rank r of `ranks` holds: vLLM's linear placement, E / ranks each, the first E % ranks one more.
std::pair<int64_t, int64_t> expert_block(int64_t r, int64_t ranks, int64_t experts) {
    const int64_t base = experts / ranks, extra = experts % ranks;
    const int64_t first = r * base + std::min(r, extra);
    return {first, first + base + (r < extra ? 1 : 0)};
}

}  // namespace

double power_law_reached(int64_t tokens, int64_t experts, int64_t topk, double alpha) {
    if (tokens <= 0 || experts <= 0 || topk <= 0) return 0.0;
    double reached = 0.0;
    power_law_draws(tokens, experts, topk, alpha, [&](const std::vector<int64_t>& count) {
        for (int64_t c : count) reached += c > 0 ? 1.0 : 0.0;
    });
    return reached / POWER_LAW_DRAWS;
}

double power_law_imbalance(int64_t tokens, int64_t experts, int64_t topk, double alpha, int64_t ranks) {
    if (tokens <= 0 || experts <= 0 || topk <= 0 || ranks <= 1) return 1.0;
    const double mean = static_cast<double>(tokens * topk) / static_cast<double>(ranks);
    // The generator's counts do not depend on the expert's index, but its tie-breaks do (with few picks every
    // count rounds to 0 and the picks go to experts 0, 1, ...): which expert holds which count is shuffled, on a
    // stream of its own so that the draws stay those of power_law_reached.
    Rng shuffle(11);
    std::vector<size_t> expert(static_cast<size_t>(experts));
    double sum = 0.0;
    power_law_draws(tokens, experts, topk, alpha, [&](const std::vector<int64_t>& count) {
        std::iota(expert.begin(), expert.end(), size_t{0});
        for (size_t i = expert.size() - 1; i > 0; --i) {  // Fisher-Yates
            std::swap(expert[i], expert[static_cast<size_t>(shuffle.uniform() * static_cast<double>(i + 1))]);
        }
        int64_t busiest = 0;
        for (int64_t r = 0; r < ranks; ++r) {
            const auto [first, last] = expert_block(r, ranks, experts);
            int64_t load = 0;
            for (int64_t e = first; e < last; ++e) load += count[expert[static_cast<size_t>(e)]];
            busiest = std::max(busiest, load);
        }
        sum += static_cast<double>(busiest) / mean;
    });
    return sum / POWER_LAW_DRAWS;
}

namespace {

// The power-law Monte Carlo at token count `t` of the grid: t itself up to 64, then 64 x 2^(i / 8).
constexpr int64_t EXACT_UP_TO = 64;

double grid_tokens(int64_t i) {
    return static_cast<double>(EXACT_UP_TO) * std::exp2(static_cast<double>(i) / 8.0);
}

// power_law_reached (ranks 0) or power_law_imbalance (ranks > 1), memoised: at most one entry per grid point,
// shape and rank count a process meets
double memoised_power_law(int64_t tokens, int64_t experts, int64_t topk, double alpha, int64_t ranks) {
    static std::mutex mu;
    static std::map<std::tuple<int64_t, int64_t, int64_t, double, int64_t>, double> memo;
    const auto key = std::make_tuple(tokens, experts, topk, alpha, ranks);
    {
        std::lock_guard<std::mutex> lock(mu);
        if (auto it = memo.find(key); it != memo.end()) return it->second;
    }
    const double v = ranks > 0 ? power_law_imbalance(tokens, experts, topk, alpha, ranks)
                               : power_law_reached(tokens, experts, topk, alpha);
    std::lock_guard<std::mutex> lock(mu);
    return memo.emplace(key, v).first->second;
}

// The memoised power-law figure at `tokens`: exact up to 64 tokens, interpolated in log tokens on the grid above.
double power_law_on_grid(double tokens, int64_t experts, int64_t topk, double alpha, int64_t ranks) {
    if (tokens <= static_cast<double>(EXACT_UP_TO)) {
        return memoised_power_law(static_cast<int64_t>(std::ceil(tokens)), experts, topk, alpha, ranks);
    }
    // grid points i and i + 1 around `tokens`, each a whole token count
    const auto i = static_cast<int64_t>(std::floor(8.0 * std::log2(tokens / static_cast<double>(EXACT_UP_TO))));
    const double t0 = std::round(grid_tokens(i)), t1 = std::round(grid_tokens(i + 1));
    const double r0 = memoised_power_law(static_cast<int64_t>(t0), experts, topk, alpha, ranks);
    if (tokens <= t0 || t1 <= t0) return r0;
    const double r1 = memoised_power_law(static_cast<int64_t>(t1), experts, topk, alpha, ranks);
    const double f = std::log(tokens / t0) / std::log(t1 / t0);
    return r0 + (r1 - r0) * std::clamp(f, 0.0, 1.0);
}

}  // namespace

double experts_reached(const MoeRouting& routing, double experts, double topk, double tokens) {
    if (!(experts > 0.0) || !(tokens > 0.0) || !(topk > 0.0)) return 0.0;
    switch (routing.kind) {
        case MoeRouting::Kind::BALANCED:
            return std::min(tokens * topk, experts);
        case MoeRouting::Kind::POWER_LAW:
            return power_law_on_grid(tokens, static_cast<int64_t>(experts), static_cast<int64_t>(topk), routing.alpha, 0);
        case MoeRouting::Kind::INDEPENDENT:
            break;
    }
    return expected_distinct_experts(experts, topk, tokens);
}

double expert_imbalance(double given, const MoeRouting& routing, double pairs, int64_t ranks, int64_t experts,
                        int64_t topk) {
    if (given > 0.0) return given;
    if (ranks <= 1 || !(pairs > 0.0) || experts <= 0 || topk <= 0) return 1.0;
    switch (routing.kind) {
        case MoeRouting::Kind::BALANCED: {
            // the picks spread evenly over the experts: the fullest rank takes its experts' share, in whole picks
            const auto most = static_cast<double>(expert_block(0, ranks, experts).second);
            const double busiest = std::ceil(pairs * most / static_cast<double>(experts) - 1e-9);
            return std::min(static_cast<double>(ranks), busiest / (pairs / static_cast<double>(ranks)));
        }
        case MoeRouting::Kind::POWER_LAW:
            return power_law_on_grid(pairs / static_cast<double>(topk), experts, topk, routing.alpha, ranks);
        case MoeRouting::Kind::INDEPENDENT:
            break;
    }
    return expert_imbalance(pairs, ranks, experts);
}

}  // namespace headroom
