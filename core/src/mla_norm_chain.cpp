#include "headroom/core/mla_norm_chain.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/metrics.hpp"
#include "headroom/core/nnls.hpp"

namespace headroom {

double MlaChainTerms::seconds(double tokens, double heads) const {
    return fixed_s + ramp_s * std::min(tokens, RAMP_TOKENS) + token_s * tokens +
           token_head_s * tokens * heads;
}

std::vector<MlaChainPoint> mla_chain_points(const KernelTables& unfused, const KernelTables& fused,
                                            bool decode) {
    std::vector<MlaChainPoint> out;
    const char* family = decode ? "mla_decode" : "mla_prefill";
    for (const GridTable* u : unfused.find(family)) {
        const std::string w = u->attr("dtype"), kv = u->attr("kv_dtype");
        if (u->axes.size() != 2 || (w != "bf16" && w != "fp8_block") || (kv != "bf16" && kv != "fp8"))
            continue;
        std::map<std::string, std::string> shape;
        for (const char* key :
             {"hidden", "q_lora", "kv_lora", "nope", "rope", "v", "kv_dtype", "dtype", "heads"})
            shape[key] = u->attr(key);
        const auto f = fused.find(family, shape);
        if (f.empty() || f.front()->axes.size() != 2) continue;
        const GridTable& g = *f.front();
        const double heads = static_cast<double>(u->attr_int("heads"));
        for (size_t a = 0; a < u->axes[0].size(); ++a) {
            const auto ga = std::find(g.axes[0].begin(), g.axes[0].end(), u->axes[0][a]);
            if (ga == g.axes[0].end()) continue;
            for (size_t b = 0; b < u->axes[1].size(); ++b) {
                const auto gb = std::find(g.axes[1].begin(), g.axes[1].end(), u->axes[1][b]);
                // a one-token prompt is a decode to the cost model (as calibrate's mla_samples)
                if (gb == g.axes[1].end() || (!decode && u->axes[1][b] < 2)) continue;
                const double un = u->value_ms({a, b});
                const double fu = g.value_ms({static_cast<size_t>(ga - g.axes[0].begin()),
                                              static_cast<size_t>(gb - g.axes[1].begin())});
                if (!(un > 0) || !(fu > 0)) continue;
                const double tokens = decode ? u->axes[0][a] : u->axes[0][a] * u->axes[1][b];
                out.push_back({tokens, heads, un * 1e-3, fu * 1e-3});
            }
        }
    }
    return out;
}

namespace {

Eigen::RowVector4d features(double tokens, double heads) {
    return {1.0, std::min(tokens, MlaChainTerms::RAMP_TOKENS), tokens, tokens * heads};
}

// Non-negative weighted least squares on the difference relative to the fused time (an active set: the most
// negative term is held at 0 and the rest refitted until none is negative).
MlaChainTerms fit_terms(const std::vector<MlaChainPoint>& p) {
    const auto n = static_cast<Eigen::Index>(p.size());
    Eigen::MatrixXd x(n, 4);
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) {
        const MlaChainPoint& c = p[static_cast<size_t>(i)];
        x.row(i) = features(c.tokens, c.heads) / c.fused_s;
        y(i) = (c.unfused_s - c.fused_s) / c.fused_s;
    }
    const Eigen::VectorXd coef = nonnegative_least_squares(x, y);
    return {coef(0), coef(1), coef(2), coef(3)};
}

}  // namespace

MlaChainCost fit_mla_chain_cost(const KernelTables& unfused, const KernelTables& fused) {
    MlaChainCost c;
    std::vector<double> errors;
    for (const bool decode : {false, true}) {
        const std::vector<MlaChainPoint> p = mla_chain_points(unfused, fused, decode);
        if (p.size() < 4) return {};
        MlaChainTerms& t = decode ? c.decode : c.prefill;
        t = fit_terms(p);
        for (const MlaChainPoint& q : p)
            errors.push_back(std::abs(q.unfused_s - t.seconds(q.tokens, q.heads) - q.fused_s) / q.fused_s);
        c.points += static_cast<int>(p.size());
    }
    c.median_abs_rel_error = exact_percentile(errors, 50.0);
    c.p90_abs_rel_error = exact_percentile(std::move(errors), 90.0);
    return c;
}

const MlaChainCost& shipped_mla_chain_cost() {
    static const MlaChainCost fit = [] {
        const auto unfused = shipped_kernel_tables("gb200"), fused = shipped_kernel_tables("b200_sxm");
        if (!unfused || !fused || mla_norms_fused(*unfused) || !mla_norms_fused(*fused))
            return MlaChainCost{};
        return fit_mla_chain_cost(*unfused, *fused);
    }();
    return fit;
}

const MlaChainCost* mla_chain_cost(const KernelTables& t) {
    if (t.find("mla_decode").empty() || mla_norms_fused(t)) return nullptr;
    const MlaChainCost& c = shipped_mla_chain_cost();
    return c.empty() ? nullptr : &c;
}

}  // namespace headroom
