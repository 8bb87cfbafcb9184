#pragma once
// How a step's tokens spread over a mixture-of-experts layer's routed experts: how many distinct experts a
// step reaches, and so how many experts' weights it streams. A decode-sized batch is memory-bound on those
// weights, so its time follows the count.
//
// - independent (the default): each token picks its top-k of E experts independently and uniformly; T tokens
//   reach E (1 - (1 - k / E)^T) experts on average.
// - balanced: the picks spread as evenly as they can, min(T k, E) experts: the most T tokens can reach, and
// how
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
// experts with a pick over 200 draws of a fixed seed (the project's Rng: the same on every platform).
double power_law_reached(int64_t tokens, int64_t experts, int64_t topk, double alpha);

}  // namespace headroom
