#pragma once
// How a step's tokens spread over a mixture-of-experts layer's routed experts: how many distinct experts a
// step reaches, and so how many experts' weights it streams. A decode-sized batch is memory-bound on those
// weights, so its time follows the count.
//
// - independent (the default): each token picks its top-k of E experts independently and uniformly; T tokens
//   reach E (1 - (1 - k / E)^T) experts on average.
// - balanced: the picks spread as evenly as they can, min(T k, E) experts: the most T tokens can reach, and how
//   AIConfigurator's collector timed the balanced fused-MoE tables.
// - power_law_1.01, power_law_1.2: AIConfigurator's skewed routing (its collector's power_law_logits_v3, and
//   its default for estimates): each expert's share of the T k picks drawn from a power law of that exponent,
//   so some experts take many tokens and others none; fewer experts are reached. The kernel tables hold
//   fused-MoE rows timed with these generators.
//
// How skewed a real router is has not been measured here: independent picks lie between the balanced and the
// power-law counts at decode sizes, and the choice brackets the effect.

#include <cstdint>
#include <string>

#include "headroom/models/model_card.hpp"

namespace headroom {

struct MoeRouting {
    enum class Kind { INDEPENDENT, BALANCED, POWER_LAW };
    Kind kind = Kind::INDEPENDENT;
    double alpha = 0.0;  // POWER_LAW: the exponent (1.01 or 1.2)

    bool operator==(const MoeRouting& o) const { return kind == o.kind && alpha == o.alpha; }
    // "independent", "balanced", "power_law_1.01", "power_law_1.2" (the kernel tables' distribution names)
    std::string name() const;
};

// Parses a routing name (MoeRouting::name()); false for an unknown one.
bool parse_moe_routing(const std::string& text, MoeRouting& out);
// The routing `text` names, for `model`: the check every path makes (cost --moe-routing, the Python cost(), a
// scenario's moe_routing). Throws PlanError naming --moe-routing for an unknown name or a model without routed
// experts.
MoeRouting moe_routing_for(const ModelCard& model, const std::string& text);
// "independent, balanced, power_law_1.01, power_law_1.2": for error messages and --help.
const char* moe_routing_names();

// Expected distinct experts of `experts` that `tokens` tokens reach, each picking `topk`, under `routing`.
// POWER_LAW is a Monte Carlo of the generator (power_law_reached), exact at up to 64 tokens and interpolated
// in log tokens on a grid 2^(1/8) apart above (memoised per process, thread-safe; deterministic).
double experts_reached(const MoeRouting& routing, double experts, double topk, double tokens);

// AIConfigurator's power-law routing, reproduced: each of the E experts' counts drawn from a power law of
// exponent `alpha` on [1, 0.8 T] when T k > E, else [0.01, 2], scaled to T k picks and rounded; picks still
// to place go to the largest counts, picks over go from the smallest counts that have one. The mean number of
// experts with a pick over POWER_LAW_DRAWS draws of a fixed seed (the project's Rng: the same on every platform).
constexpr int POWER_LAW_DRAWS = 200;
double power_law_reached(int64_t tokens, int64_t experts, int64_t topk, double alpha);
// Over the same draws: the busiest of `ranks` EP ranks' picks over the mean (tokens x topk / ranks), each rank
// holding a contiguous block of the experts as vLLM places them (E / ranks each, the first E % ranks one more).
// Which expert holds which count is shuffled (the generator's tie-breaks favour low indices), so the block a hot
// expert falls in is random.
double power_law_imbalance(int64_t tokens, int64_t experts, int64_t topk, double alpha, int64_t ranks);

// The busiest EP rank's load over the mean when `pairs` token-expert picks (tokens x topk) spread over `experts`
// experts on `ranks` GPUs: `given` where it is > 0 (a measured max / mean, the scenario's expert_imbalance); else
// from `routing`: independent picks, the expected maximum of the ranks' multinomial counts (expert_imbalance,
// parallelism.hpp); balanced picks, the fullest rank's share of evenly spread picks, in whole picks; power law,
// power_law_imbalance (exact up to 64 tokens, interpolated in log tokens on the grid of experts_reached above).
double expert_imbalance(double given, const MoeRouting& routing, double pairs, int64_t ranks, int64_t experts,
                        int64_t topk);

}  // namespace headroom
