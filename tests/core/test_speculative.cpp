// Speculative decoding: the acceptance model against its closed form, the scheduler's verify steps (tokens,
// KV, emitted tokens), the drafter's shape and cost, and the KV plan with a drafter beside the model.
#include <gtest/gtest.h>

#include <cmath>

#include "headroom/core/deployment.hpp"
#include "headroom/core/scheduler.hpp"
#include "headroom/core/speculative.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"

using namespace headroom;

namespace {

SpeculativeConfig eagle3(int64_t k, double alpha) {
    SpeculativeConfig c;
    c.method = "eagle3";
    c.num_speculative_tokens = k;
    c.acceptance_rate = alpha;
    return c;
}

}  // namespace

TEST(Speculative, TokensPerVerifyMatchTheClosedForm) {
    // Per-position acceptance alpha, k proposals: E[tokens] = 1 + alpha + ... + alpha^k = (1 - alpha^(k+1)) / (1 - alpha).
    for (const auto& [k, alpha] : {std::pair{3, 0.7}, {4, 0.8}, {1, 0.5}, {5, 0.0}}) {
        const SpeculativeConfig c = eagle3(k, alpha);
        const double closed = (1 - std::pow(alpha, k + 1)) / (1 - alpha);
        EXPECT_NEAR(expected_tokens_per_verify(c, k), closed, 1e-12);
        // Monte Carlo: 200,000 draws; the mean of 1 + accepted lies within 5 standard errors of the closed form
        Rng rng(11);
        const int n = 200000;
        double sum = 0, sq = 0;
        for (int i = 0; i < n; ++i) {
            const double t = 1.0 + static_cast<double>(sample_accepted(c, k, rng));
            sum += t;
            sq += t * t;
        }
        const double mean = sum / n, sd = std::sqrt(std::max(0.0, sq / n - mean * mean));
        EXPECT_NEAR(mean, closed, 5 * sd / std::sqrt(n) + 1e-12) << "k " << k << " alpha " << alpha;
    }
    // A measured distribution of accepted drafts: P(0..3) = 0.4, 0.3, 0.2, 0.1 -> E[tokens] = 1 + 0.3 + 2 x 0.2 + 3 x 0.1
    SpeculativeConfig m = eagle3(3, 0);
    m.acceptance_lengths = {0.4, 0.3, 0.2, 0.1};
    EXPECT_NEAR(expected_tokens_per_verify(m, 3), 2.0, 1e-12);
    // cut at k = 1 near an answer's end: P(accepted >= 1) = 0.6 -> 1.6
    EXPECT_NEAR(expected_tokens_per_verify(m, 1), 1.6, 1e-12);
    Rng rng(3);
    for (int i = 0; i < 1000; ++i) EXPECT_LE(sample_accepted(m, 1, rng), 1);
}

TEST(Speculative, SchedulerVerifiesKPlusOneTokensAndEmitsTheAccepted) {
    SchedulerConfig c;
    c.num_blocks = 100;
    c.block_size = 16;
    c.max_model_len = 10000;
    c.num_speculative_tokens = 3;
    struct Tokens : SchedulerObserver {
        std::vector<int64_t> chunks;
        void on_tokens(const RequestState&, int64_t n, double) override { chunks.push_back(n); }
    } obs;
    Scheduler s(c, &obs);
    Request r;
    r.prompt_tokens = 30;
    r.output_tokens = 7;
    s.add_request(r, 0);
    StepPlan p = s.schedule(0);  // the prompt: no drafts yet
    ASSERT_EQ(p.seqs.size(), 1u);
    EXPECT_EQ(p.seqs[0].new_tokens, 30);
    EXPECT_EQ(p.seqs[0].spec_tokens, 0);
    s.complete(p, 1);  // first token
    p = s.schedule(1);  // a verify: the token before the drafts and 3 drafts, on 30 tokens of KV
    EXPECT_EQ(p.seqs[0].new_tokens, 4);
    EXPECT_EQ(p.seqs[0].spec_tokens, 3);
    EXPECT_EQ(p.seqs[0].context, 30);
    EXPECT_EQ(p.decodes, 1);
    EXPECT_EQ(p.prefill_tokens, 0);
    EXPECT_EQ(s.kv_used(), 3);  // 34 tokens of KV reserved: 3 blocks of 16
    p.seqs[0].accepted = 2;
    s.complete(p, 2);  // 2 drafts and the target's token: 1 + 3 = 4 tokens so far
    EXPECT_EQ(s.request(0).num_generated, 4);
    EXPECT_EQ(s.request(0).num_computed, 33);  // 30 + the token before the drafts + 2 accepted
    p = s.schedule(2);  // 3 tokens left to give: the last comes from the target, so 2 drafts at most
    EXPECT_EQ(p.seqs[0].spec_tokens, 2);
    EXPECT_EQ(p.seqs[0].new_tokens, 3);
    p.seqs[0].accepted = 2;
    s.complete(p, 3);
    EXPECT_EQ(s.request(0).num_generated, 7);
    EXPECT_EQ(s.request(0).status, RequestStatus::FINISHED);
    EXPECT_EQ(obs.chunks, (std::vector<int64_t>{1, 3, 3}));
}

TEST(Speculative, TheDrafterIsOneLayerOfTheTargetOrTheDraftModel) {
    const ModelCard llama = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const auto e3 = drafter_card(llama, eagle3(3, 0.7));
    ASSERT_TRUE(e3);
    EXPECT_EQ(e3->num_layers, 1);
    EXPECT_EQ(e3->vocab_size, 32000);
    EXPECT_EQ(e3->hidden_size, 4096);
    // EAGLE-3 memory at TP 1: one Llama-3.1-8B layer in bf16 (attention 4096 x (4096 + 2 x 1024) + 4096 x 4096 =
    // 41,943,040; MLP 3 x 4096 x 14336 = 176,160,768; two norms and the final one, 12,288), its own lm_head over 32,000 tokens
    // (131,072,000) and the fusion of three hidden states (3 x 4096 x 4096 = 50,331,648), 2 bytes each; KV of
    // one layer: 2 x 8 KV heads x 128 x 2 bytes = 4,096 bytes per token.
    const DrafterMemory m = drafter_memory(llama, eagle3(3, 0.7), 1, std::nullopt, Dtype::BF16);
    EXPECT_NEAR(m.weight_bytes, 2.0 * (41943040.0 + 176160768.0 + 12288.0 + 131072000.0 + 50331648.0), 1.0);
    EXPECT_DOUBLE_EQ(m.kv_bytes_per_token, 4096.0);
    // n-gram: no drafter at all
    SpeculativeConfig ng = eagle3(3, 0.7);
    ng.method = "ngram";
    EXPECT_FALSE(drafter_card(llama, ng));
    EXPECT_DOUBLE_EQ(drafter_memory(llama, ng, 1, std::nullopt, Dtype::BF16).weight_bytes, 0.0);
    // MTP needs MTP layers: DeepSeek-V3 ships one (its last layer's shape, MoE); Llama none
    SpeculativeConfig mtp = eagle3(1, 0.8);
    mtp.method = "mtp";
    EXPECT_THROW(drafter_card(llama, mtp), PlanError);
    const ModelCard ds = load_model("deepseek-ai/DeepSeek-V3");
    EXPECT_EQ(ds.mtp_layers, 1);
    const auto head = drafter_card(ds, mtp);
    ASSERT_TRUE(head);
    EXPECT_TRUE(head->layers[0].moe);
    EXPECT_EQ(head->layers[0].attention, AttentionKind::MLA);
}

TEST(Speculative, TheKvPlanMakesRoomForTheDrafter) {
    // EAGLE-3 beside Llama-3.1-8B on one H100: its weights come off the KV budget and each block also holds the
    // head's layer, so a block is 33/32 of the target's (32 layers of 4,096 B per token, plus one).
    Deployment d;
    d.model = load_model("meta-llama/Llama-3.1-8B-Instruct");
    d.gpu = load_gpu("h100");
    EngineConfig e;
    e.max_model_len = 8192;
    const KvPlan plain = deployment_kv_plan(d, e, "test");
    e.speculative = eagle3(3, 0.7);
    const KvPlan spec = deployment_kv_plan(d, e, "test");
    const DrafterMemory m = drafter_memory(d.model, e.speculative, 1, std::nullopt, Dtype::BF16);
    EXPECT_NEAR(spec.weight_bytes - plain.weight_bytes, m.weight_bytes, 1.0);
    EXPECT_NEAR(spec.block_bytes, plain.block_bytes * 33.0 / 32.0, 1e-6);
    EXPECT_EQ(spec.num_blocks, static_cast<int64_t>(std::floor(spec.kv_budget_bytes / spec.block_bytes)));
    EXPECT_LT(spec.num_blocks, plain.num_blocks);
}

TEST(Speculative, StepTimeIsTheVerifyPlusKDrafterPasses) {
    // The predictor with an EAGLE-3 head: target step over the verify work, plus the head's first pass over
    // every scheduled token and k - 1 passes over one token per verifying sequence.
    Deployment d;
    d.model = load_model("meta-llama/Llama-3.1-8B-Instruct");
    d.gpu = load_gpu("h100");
    d.predictor = "roofline";
    EngineConfig e;
    e.speculative = eagle3(3, 0.7);
    const auto p = make_step_predictor(d, e);
    // the head runs in the target's CUDA graphs, padded to their sizes: multiples of 1 + k = 4 (its passes over
    // 2 tokens run as 4); the target's 208 tokens are one already
    CostConfig hc = cost_config(d, e);
    EXPECT_EQ(hc.cuda_graph_multiple, 4);
    e.speculative = {};
    const auto plain = make_step_predictor(d, e);
    hc.step_overhead_s = 0;
    hc.weight_dtype = Dtype::BF16;
    const CostModel head(*drafter_card(d.model, eagle3(3, 0.7)), d.gpu, hc);
    const std::vector<SequenceWork> work = {{4, 1000, 3}, {4, 2000, 3}, {200, 0, 0}};
    const double expected = plain->step_time(work) + head.step_time({{1, 1000}, {1, 2000}, {200, 0}}) +
                            head.step_time({{1, 1001}, {1, 2001}}) + head.step_time({{1, 1002}, {1, 2002}});
    EXPECT_NEAR(p->step_time(work), expected, 1e-12);
    const StepTotals t = p->step_totals(work);
    EXPECT_NEAR(t.draft_s, expected - plain->step_time(work), 1e-12);
    // the op table carries the drafter as spec_draft, before the step overhead
    const StepCost s = p->step(work);
    ASSERT_TRUE(s.op("spec_draft"));
    EXPECT_NEAR(s.op("spec_draft")->time_s, t.draft_s, 1e-12);
    EXPECT_EQ(s.ops.back().kind, OpKind::STEP_OVERHEAD);
    EXPECT_NEAR(s.time_s, t.time_s, 1e-12);
    // a verify's lm_head scores every position: 4 + 4 rows for the two verifies and 1 for the prefill
    EXPECT_NEAR(s.op("lm_head")->flops, 2.0 * 9 * 128256 * 4096, 1.0);
}
