#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/mla_norm_chain.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"

using namespace headroom;

namespace {

// A pair of MLA module tables (both phases, heads 1-64, bf16 and block-fp8 projections): `fused` times each
// point at an arbitrary positive base, `unfused` at the base plus `chain`'s time.
std::pair<KernelTables, KernelTables> tables_with_chain(const MlaChainCost& chain) {
    KernelTables fused, unfused;
    for (const bool decode : {false, true}) {
        for (const int heads : {1, 4, 16, 64}) {
            for (const char* w : {"bf16", "fp8_block"}) {
                GridTable f;
                f.family = decode ? "mla_decode" : "mla_prefill";
                f.attrs = {{"hidden", "7168"},   {"q_lora", "1536"}, {"kv_lora", "512"},
                           {"nope", "128"},      {"rope", "64"},     {"v", "128"},
                           {"kv_dtype", "bf16"}, {"dtype", w},       {"heads", std::to_string(heads)}};
                f.axis_names = {"batch", decode ? "context" : "isl"};
                f.axes = {{1, 2, 8, 32, 128, 512}, {1, 2, 16, 256, 4096}};
                GridTable u = f;
                for (size_t a = 0; a < 6; ++a) {
                    for (size_t b = 0; b < 5; ++b) {
                        const double batch = f.axes[0][a], len = f.axes[1][b];
                        const double tokens = decode ? batch : batch * len;
                        const double base_s = 30e-6 + 2e-9 * tokens * heads + 1e-9 * batch * len;
                        f.values_ms.push_back(static_cast<float>(base_s * 1e3));
                        u.values_ms.push_back(
                            static_cast<float>((base_s + chain.seconds(decode, tokens, heads)) * 1e3));
                    }
                }
                fused.tables.push_back(f);
                unfused.tables.push_back(u);
            }
        }
    }
    return {unfused, fused};
}

}  // namespace

TEST(MlaNormChain, TermsAreFixedRampAndPerToken) {
    // 40 us + 1 us a token up to 16 + 20 ns a token + 0.5 ns a (token, head): by hand, at 4 tokens and 8
    // heads 40 + 4 + 0.08 + 0.016 = 44.096 us; at 100 tokens and 8 heads 40 + 16 + 2 + 0.4 = 58.4 us
    const MlaChainTerms t{40e-6, 1e-6, 20e-9, 0.5e-9};
    EXPECT_NEAR(t.seconds(4, 8), 44.096e-6, 1e-12);
    EXPECT_NEAR(t.seconds(100, 8), 58.4e-6, 1e-12);
}

TEST(MlaNormChain, FitRecoversAChainFromTheTwoTables) {
    MlaChainCost truth;
    truth.decode = {42e-6, 1.1e-6, 18e-9, 0.0};
    truth.prefill = {5e-6, 3e-6, 17e-9, 0.6e-9};
    const auto [unfused, fused] = tables_with_chain(truth);
    const MlaChainCost fit = fit_mla_chain_cost(unfused, fused);
    // every point pairs (prefills of one token are decodes to the cost model: left out): 4 heads x 2 formats
    // x (6 x 5 decode points + 6 x 4 prefill points)
    EXPECT_EQ(fit.points, 8 * (30 + 24));
    for (const bool decode : {false, true}) {
        const MlaChainTerms& f = decode ? fit.decode : fit.prefill;
        const MlaChainTerms& w = decode ? truth.decode : truth.prefill;
        // (the tables store float milliseconds: about 1e-7 relative)
        EXPECT_NEAR(f.fixed_s, w.fixed_s, 1e-3 * w.fixed_s + 1e-9);
        EXPECT_NEAR(f.ramp_s, w.ramp_s, 1e-3 * w.ramp_s + 1e-10);
        EXPECT_NEAR(f.token_s, w.token_s, 1e-3 * w.token_s + 1e-12);
        EXPECT_NEAR(f.token_head_s, w.token_head_s, 1e-3 * w.token_head_s + 1e-13);
    }
    EXPECT_LT(fit.median_abs_rel_error, 1e-4);
    EXPECT_LT(fit.p90_abs_rel_error, 1e-4);
}

TEST(MlaNormChain, ANegativeTermIsHeldAtZero) {
    // a chain that shrinks with heads (as GB200's big-batch decodes at 64-128 heads do against B200's): the
    // fit takes no time off for heads, and the rest still explains most of the difference
    MlaChainCost truth;
    truth.decode = {40e-6, 1e-6, 20e-9, -0.3e-9};
    truth.prefill = {40e-6, 1e-6, 20e-9, 0.0};
    const auto [unfused, fused] = tables_with_chain(truth);
    const MlaChainCost fit = fit_mla_chain_cost(unfused, fused);
    EXPECT_EQ(fit.decode.token_head_s, 0.0);
    EXPECT_GT(fit.decode.fixed_s, 0.0);
    EXPECT_NEAR(fit.prefill.fixed_s, 40e-6, 0.04e-6);
}

TEST(MlaNormChain, NoPairedPointsNoFit) {
    MlaChainCost truth;
    truth.decode = truth.prefill = {40e-6, 0, 0, 0};
    auto [unfused, fused] = tables_with_chain(truth);
    for (GridTable& g : fused.tables) g.attrs.at("heads").assign(1, '3');  // no shape in common
    EXPECT_TRUE(fit_mla_chain_cost(unfused, fused).empty());
}

TEST(MlaNormChain, ShippedTablesTimedWithoutTheFusedNormsCarryIt) {
    const auto b200 = shipped_kernel_tables("b200_sxm"), gb200 = shipped_kernel_tables("gb200");
    const auto h200 = shipped_kernel_tables("h200_sxm"), a100 = shipped_kernel_tables("a100_sxm");
    ASSERT_TRUE(b200 && gb200 && h200 && a100);
    EXPECT_EQ(mla_chain_cost(*b200), nullptr);  // re-collected with the fused norms
    EXPECT_EQ(mla_chain_cost(*a100), nullptr);  // no MLA module tables
    ASSERT_NE(mla_chain_cost(*h200), nullptr);
    EXPECT_EQ(mla_chain_cost(*h200), mla_chain_cost(*gb200));
    const MlaChainCost& c = *mla_chain_cost(*h200);
    EXPECT_EQ(&c, &shipped_mla_chain_cost());
    // GB200's and B200's tables pair at every bf16 and block-fp8 point with a bf16 or fp8 latent: 5,888
    // decode points and 3,616 prompts of two tokens or more (counted in the published parquet files with
    // pandas: the distinct (projection dtype, KV dtype, heads, batch, length) of both GPUs). The Python
    // prototype of this fit on those files (per kernel, so more prefill pairs) gave, decode: 41.7 us + 1.07
    // us a token up to 16 + 18.4 ns a token, no per-head term; prefill: 0.2 us + 3.28 us a token up to 16
    // + 17.2 ns a token + 0.62 ns a (token, head); corrected GB200 within a median 5.2% / 3.9% of B200.
    EXPECT_EQ(c.points, 5888 + 3616);
    EXPECT_NEAR(c.decode.fixed_s, 41.7e-6, 3e-6);
    EXPECT_NEAR(c.decode.ramp_s, 1.07e-6, 0.2e-6);
    EXPECT_NEAR(c.decode.token_s, 18.4e-9, 4e-9);
    EXPECT_NEAR(c.prefill.token_s, 17.2e-9, 3e-9);
    EXPECT_NEAR(c.prefill.token_head_s, 0.62e-9, 0.1e-9);
    EXPECT_LT(c.median_abs_rel_error, 0.07);
}

TEST(MlaNormChain, TheChainComesOffTheModuleTimeOnHopper) {
    // DeepSeek-V3 at TP 8 on H200 (unfused tables), 64 decodes at 2,000 and a 512-token prompt: the attention
    // op is the module less its projections less the chain, so GB200's tables under another name (no B200
    // twin to take) against B200's: within 10%, where they differed by 50-60 us a layer (the chain)
    const ModelCard m = load_model("deepseek-ai/DeepSeek-V3");
    CostConfig c;
    c.tp = 8;
    const auto h200 = shipped_kernel_tables("h200_sxm");
    std::vector<SequenceWork> batch(64, SequenceWork{1, 1999});
    batch.push_back(SequenceWork{512, 0});
    const StepCost on_h200 = KernelTablePredictor(m, load_gpu("h200"), c, h200).step(batch);
    const OpCost* attn = on_h200.op("attention");
    ASSERT_TRUE(attn);
    EXPECT_NE(attn->source.find("less the unfused norm chain"), std::string::npos) << attn->source;
    // the chain of this step: a decode part at 64 tokens and a prefill part at 512, 16 heads
    const MlaChainCost& chain = shipped_mla_chain_cost();
    const double chain_s = chain.seconds(true, 64, 16) + chain.seconds(false, 512, 16);
    // the same predictor over tables that carry the fused-norms note (so nothing is taken off)
    KernelTables noted = *h200;
    noted.gpu += "-noted";
    for (GridTable& g : noted.tables) {
        if (g.family == "mla_decode" || g.family == "mla_prefill") g.attrs["norm_dispatch"] = "test";
    }
    const StepCost as_timed =
        KernelTablePredictor(m, load_gpu("h200"), c, std::make_shared<const KernelTables>(noted)).step(batch);
    EXPECT_NEAR(as_timed.op("attention")->time_s - attn->time_s, 61 * chain_s, 1e-9);

    const auto gb200 = shipped_kernel_tables("gb200"), b200 = shipped_kernel_tables("b200_sxm");
    KernelTables renamed = *gb200;
    renamed.gpu += "-as-published";
    const StepCost own =
        KernelTablePredictor(m, load_gpu("gb200"), c, std::make_shared<const KernelTables>(renamed))
            .step(batch);
    const StepCost on_b200 = KernelTablePredictor(m, load_gpu("b200"), c, b200).step(batch);
    const double a = own.op("attention")->time_s, b = on_b200.op("attention")->time_s;
    EXPECT_LT(std::abs(a / b - 1.0), 0.10) << a << " " << b;
}
