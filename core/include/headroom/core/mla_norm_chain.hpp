// What the MLA module tables of most GPUs spend on a chain of kernels vLLM does not serve with, fitted from
// the one chip timed both ways.
//
// AIConfigurator's MLA module collector first ran DeepSeek-V3's attention block with the native PyTorch
// chains of its norms (the q and KV latents' RMSNorm as separate elementwise kernels) where a serving engine
// runs vLLM's fused kernels. B200's tables were re-collected with those (kernel-db's b200_sxm collection note:
// "-9% vs an in-engine per-layer trace at heads64/bs16/kv8192/fp8; the previous rows ran the never-in-serving
// native chain (+34%)"); GB200's, H100's, H200's and L40S's were not (mla_norms_fused). GB200 and B200 are
// the same chip, whose GEMM and attention tables agree within 2%, so their MLA tables' difference at each
// common point is that chain's time. Its shape (GB200 - B200, 9,504 paired points): about 40 us a block at
// one token, rising to about 60 us by 16 (launch-bound kernels), then some 18 ns a token, and in prefills
// 0.6 ns more a token for each head.
//
// MlaChainCost is that difference, fitted per phase as
//   fixed + ramp x min(tokens, 16) + token x tokens + token_head x tokens x heads
// (tokens: the decodes, or a prefill's batch x length; heads per GPU) by non-negative least squares on the
// difference relative to B200's time. The predictor and `calibrate` take it off the MLA module time of
// tables timed with the unfused chain. It is applied as measured on Blackwell: the fixed part is kernel
// launches, which cost about the same on Hopper and Ada; the per-token part would be slower on a slower
// memory, so on H100, H200 and L40S it takes off at least, not all, of the chain (the corrected H200 tables
// then sit 1.14-1.33x B200's in decodes and 2.1-2.2x in long prefills, where their bf16 peaks differ 2.3x).
#pragma once

#include <memory>
#include <vector>

#include "headroom/hardware/kernel_tables.hpp"

namespace headroom {

struct MlaChainTerms {
    double fixed_s = 0.0;       // a block
    double ramp_s = 0.0;        // a token, up to RAMP_TOKENS
    double token_s = 0.0;       // a token
    double token_head_s = 0.0;  // a (token, head per GPU)
    static constexpr double RAMP_TOKENS = 16.0;
    double seconds(double tokens, double heads) const;
};

struct MlaChainCost {
    MlaChainTerms prefill, decode;
    int points = 0;  // paired points fitted (both phases)
    // |unfused - chain - fused| / fused over those points: how well the form explains the difference
    double median_abs_rel_error = 0.0, p90_abs_rel_error = 0.0;
    bool empty() const { return points == 0; }
    // The chain's time in a block of `tokens` (decodes, or a prefill's batch x length) at `heads` per GPU
    double seconds(bool decode, double tokens, double heads) const {
        return (decode ? this->decode : prefill).seconds(tokens, heads);
    }
};

// A point both tables measured: the block's tokens and heads per GPU, its time in each.
struct MlaChainPoint {
    double tokens = 0.0, heads = 0.0, unfused_s = 0.0, fused_s = 0.0;
};
// The points of one phase that MLA module tables of one chip timed with the unfused chain and with the fused
// norms both measured (bf16 and block-fp8 projections, bf16 and fp8 KV; prompts of two tokens or more).
std::vector<MlaChainPoint> mla_chain_points(const KernelTables& unfused, const KernelTables& fused,
                                            bool decode);
// The fit on those points; empty when either phase has fewer than 4.
MlaChainCost fit_mla_chain_cost(const KernelTables& unfused, const KernelTables& fused);

// The fit on the shipped GB200 (unfused) and B200 (fused) tables, made once; empty when either is not
// shipped.
const MlaChainCost& shipped_mla_chain_cost();

// The chain a GPU's MLA module tables `t` carry: the shipped fit for tables timed without the fused norms
// (mla_norms_fused false), none (nullptr) for tables timed with them or without MLA tables.
const MlaChainCost* mla_chain_cost(const KernelTables& t);

}  // namespace headroom
