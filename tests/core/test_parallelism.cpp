// Pipeline, data and expert parallelism: the pipeline schedule and its bubble against the GPipe closed form,
// the expert load imbalance against a Monte Carlo of top-k routing, the ring all-reduce on one link, the KV plan
// of a pipelined or DP + EP replica, and the bubble a replica loop measures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/deployment.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/core/parallelism.hpp"
#include "headroom/core/replica_loop.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"
#include "loop_fixtures.hpp"

using namespace headroom;

namespace {

struct PipelineRun {
    std::vector<RequestRecord> requests;
    double bubble = 0.0;
};

// `rows` on one replica of 4 stages whose every micro-batch takes 10 ms of compute (no host overhead), so
// 10 ms / 4 per stage, no hop.
PipelineRun run_pipeline(const std::vector<TraceRow>& rows) {
    const WorkloadSpec w = headroom::testing::trace(rows);  // the loop keeps a reference
    ServingConfig c;
    c.scheduler.num_blocks = 1000;
    c.scheduler.max_model_len = 4096;
    ParallelPredictor p(std::make_unique<headroom::testing::TenMs>(Bound::COMPUTE), 4, 1, 4096, LinkModel{});
    PredictedStepRunner runner(p);
    VirtualClock clock;
    RecordingOptions keep;
    keep.keep_requests = true;
    ReplicaLoop loop(w, 1, c, p, runner, clock, keep);
    loop.run();
    return {loop.take_requests(), loop.accounting().bubble_share()};
}

}  // namespace

TEST(Pipeline, AnIsolatedRoundHasTheGpipeBubble) {
    // m equal micro-batches of t on p stages from an empty pipeline: (m + p - 1) t, bubble (p - 1) / (m + p - 1)
    for (int64_t p : {2, 4, 8}) {
        for (int64_t m : {1, 2, 3, 4, 8, 16}) {
            const double t = 0.003;
            const PipelineRound r = pipeline_round(std::vector<double>(static_cast<size_t>(m), t), {}, p);
            const double round = r.steady_s + r.fill_s;
            EXPECT_NEAR(round, static_cast<double>(m + p - 1) * t, 1e-15) << p << " " << m;
            EXPECT_NEAR(1.0 - r.stage_busy_s / round, static_cast<double>(p - 1) / static_cast<double>(m + p - 1), 1e-12);
            // a full pipeline: each stage busy with m micro-batches, or a micro-batch's own trip when m < p
            EXPECT_NEAR(r.steady_s, static_cast<double>(std::max(m, p)) * t, 1e-15);
        }
    }
}

TEST(Pipeline, HopsLengthenTheTripNotTheStageBusyTime) {
    // one micro-batch of t over p stages with a hop h between stages: p t + (p - 1) h, busy t per stage
    const PipelineRound r = pipeline_round({0.002}, {0.0005}, 4);
    EXPECT_NEAR(r.steady_s + r.fill_s, 4 * 0.002 + 3 * 0.0005, 1e-15);
    EXPECT_NEAR(r.stage_busy_s, 0.002, 1e-15);
    // unequal micro-batches [3, 1] ms on 2 stages, no hop, by hand: stage 1 runs 0-3, 3-4; stage 2 runs 3-6, 6-7
    const PipelineRound u = pipeline_round({0.003, 0.001}, {}, 2);
    EXPECT_NEAR(u.steady_s + u.fill_s, 0.007, 1e-15);
    EXPECT_NEAR(u.steady_s, 0.006, 1e-15);  // max(3 + 1, 2 x 3) ms
}

TEST(Pipeline, ReplicaLoopBubbleMatchesTheClosedForm) {
    // k requests of one output token arriving together on p = 4 stages: one round of m = k micro-batches of
    // 10 ms / 4 each from an empty pipeline, (k + 3) x 2.5 ms, bubble 3 / (k + 3)
    for (int64_t k : {1, 2, 4}) {
        const PipelineRun r = run_pipeline(std::vector<TraceRow>(static_cast<size_t>(k), TraceRow{0.0, 64, 1}));
        ASSERT_EQ(r.requests.size(), static_cast<size_t>(k));
        EXPECT_NEAR(r.requests[0].finish_s, static_cast<double>(k + 3) * 0.0025, 1e-12) << k;
        EXPECT_NEAR(r.bubble, 3.0 / static_cast<double>(k + 3), 1e-12) << k;
    }
}

TEST(Pipeline, BackToBackRoundsKeepThePipelineFull) {
    // 4 requests of 5 output tokens on 4 stages: the prefill round from empty, (4 + 3) x 2.5 ms, then 4 decode
    // rounds back to back at 4 x 2.5 ms each: E2E 17.5 + 40 = 57.5 ms; busy 10 ms a round: bubble 7.5 / 57.5
    const PipelineRun r = run_pipeline(std::vector<TraceRow>(4, TraceRow{0.0, 64, 5}));
    EXPECT_NEAR(r.requests[0].finish_s, 0.0575, 1e-12);
    EXPECT_NEAR(r.bubble, 0.0075 / 0.0575, 1e-12);
}

TEST(Pipeline, OneStageIsTheGroupItself) {
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile g = load_gpu("h100");
    CostConfig c;
    auto group = std::make_unique<CostModel>(m, g, c);
    const CostModel plain(m, g, c);
    ParallelPredictor p(std::move(group), 1, 1, m.hidden_size, LinkModel{});
    const std::vector<SequenceWork> batch{{1, 500}, {1, 900}, {300, 0}};
    EXPECT_DOUBLE_EQ(p.step_time(batch), plain.step_time(batch));
    EXPECT_EQ(p.step_totals(batch).pipeline_fill_s, 0.0);
}

TEST(Pipeline, StepBreakdownSumsToTheRound) {
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile g = load_gpu("h100");
    ParallelPredictor p(std::make_unique<CostModel>(m, g, CostConfig{}), 2, 1, m.hidden_size, peer_link(g));
    std::vector<SequenceWork> batch;
    for (int i = 0; i < 32; ++i) batch.push_back({1, 1000 + 10 * i});
    const StepTotals t = p.step_totals(batch);
    const StepCost s = p.step(batch);
    EXPECT_NEAR(s.time_s, t.time_s, 1e-12);
    // 2 micro-batches of 16 decodes, each on one stage about half its step less overhead: the round is at least
    // the micro-batch trip and less than the whole batch on one GPU plus its hops
    EXPECT_GT(t.pipeline_s, 0.0);
    EXPECT_LE(t.stage_busy_s, t.pipeline_s + 1e-15);
}

TEST(Pipeline, WorkIsPerGpuAsWithoutStages) {
    // A GPU of a 2-stage pipeline holds half the layers and runs every micro-batch through them: per step it
    // moves and computes half what one GPU of the same TP group moves and computes for the whole model. (The
    // share of HBM peak a decode step reaches is these bytes over the step's time; counted for the whole model
    // it read 108% and 136% on the README's pipelined Llama-3.3-70B layouts.)
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile g = load_gpu("h100");
    const CostModel one(m, g, CostConfig{});
    ParallelPredictor two(std::make_unique<CostModel>(m, g, CostConfig{}), 2, 1, m.hidden_size, peer_link(g));
    std::vector<SequenceWork> batch;
    for (int i = 0; i < 32; ++i) batch.push_back({1, 1000});  // two equal micro-batches of 16
    const std::vector<SequenceWork> half(batch.begin(), batch.begin() + 16);
    const StepTotals whole = one.step_totals(half), staged = two.step_totals(batch);
    EXPECT_NEAR(staged.bytes, 2 * whole.bytes / 2, 1e-6 * whole.bytes);  // two micro-batches, half the layers each
    EXPECT_NEAR(staged.flops, 2 * whole.flops / 2, 1e-6 * whole.flops);
}

TEST(Pipeline, AHopSendsOneSliceAPairAndAllGathersOverTp) {
    // Llama-3.1-8B (hidden 4,096): 1,000 tokens carry 1,000 x 4,096 x 2 (hidden state and residual) x 2 B =
    // 16,384,000 B. At TP 4 each rank sends a quarter, 4,096,000 B, over a 50 GB/s, 5 us link: 5 us + 81.92 us;
    // then the next stage's 4 ranks all-gather over a 400 GB/s, 2 us link: 3/4 x 16,384,000 / 400e9 = 30.72 us
    // plus 3 x 2 us. Total 5 + 81.92 + 30.72 + 6 = 123.64 us.
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile g = load_gpu("h100");
    const ParallelPredictor p4(std::make_unique<CostModel>(m, g, CostConfig{}), 2, 1, m.hidden_size, LinkModel{50e9, 5e-6}, 4,
                               LinkModel{400e9, 2e-6});
    EXPECT_NEAR(p4.hop_s(1000), 123.64e-6, 1e-12);
    // TP 1: the whole 16,384,000 B over the stage link, no gather: 5 + 327.68 us
    const ParallelPredictor p1(std::make_unique<CostModel>(m, g, CostConfig{}), 2, 1, m.hidden_size, LinkModel{50e9, 5e-6});
    EXPECT_NEAR(p1.hop_s(1000), 332.68e-6, 1e-12);
}

TEST(Pipeline, TheRoundAsItsStageHopsSlowDown) {
    // 2 stages, every micro-batch 10 ms of compute (5 ms a stage), TP 1, hops over a 50 GB/s, 5 us link.
    // One sequence of 1,000 tokens: one micro-batch, its hop 5 + 327.68 us (16,384,000 B), the round
    // 2 x 5 + 0.33268 = 10.33268 ms; hops y times slower in their bandwidth term: + 0.32768 (y - 1) ms.
    const ParallelPredictor p(std::make_unique<headroom::testing::TenMs>(Bound::COMPUTE), 2, 1, 4096, LinkModel{50e9, 5e-6});
    const StepTotals one = p.step_totals({{1000, 0}});
    ASSERT_TRUE(one.fabric.pipelined);
    EXPECT_NEAR(one.pipeline_s, 0.01033268, 1e-15);
    EXPECT_DOUBLE_EQ(one.fabric.round_s(1.0, 1.0), one.pipeline_s);
    EXPECT_NEAR(one.fabric.hop_bw_s, 327.68e-6, 1e-15);
    EXPECT_NEAR(one.fabric.round_s(1.0, 2.0), 0.01066036, 1e-15);
    EXPECT_NEAR(one.fabric.round_s(5.0, 2.0), 0.01066036, 1e-15);  // no rings across domains: x changes nothing
    EXPECT_NEAR(one.fabric.stage_bytes, 16'384'000.0, 1e-6);
    // Two sequences of 500: two micro-batches of 5 ms a stage, hops 5 + 163.84 us each. The stages' busy time
    // is 10 ms, the longer trip 2 x 5 + 0.16884 = 10.16884 ms sets the round; at y = 3 the trip grows by
    // 2 x 0.16384 ms to 10.49652 ms. Each GPU of stage 0 sends 2 x 8,192,000 B: 327.68 us at y = 1.
    const StepTotals two = p.step_totals({{500, 0}, {500, 0}});
    EXPECT_NEAR(two.pipeline_s, 0.01016884, 1e-15);
    EXPECT_DOUBLE_EQ(two.fabric.round_s(1.0, 1.0), two.pipeline_s);
    EXPECT_NEAR(two.fabric.round_s(1.0, 3.0), 0.01049652, 1e-15);
    EXPECT_NEAR(two.fabric.hop_bw_s, 327.68e-6, 1e-15);
    // hops faster than the closed form (y < 1) cannot take the round below the stages' busy time
    EXPECT_NEAR(two.fabric.round_s(1.0, -100.0), 0.010, 1e-15);
}

namespace {
// 10 ms a step of which 2 ms are rings across NVLink domains, 0.5 ms of it their latency terms
class TenMsWithRings : public headroom::testing::TenMs {
public:
    TenMsWithRings() : TenMs(Bound::COMPUTE) {}
    StepTotals step_totals(const std::vector<SequenceWork>& b) const override {
        StepTotals t = TenMs::step_totals(b);
        t.fabric.time_s = 0.002;
        t.fabric.latency_s = 0.0005;
        t.fabric.ring_bytes = 1e6;
        return t;
    }
};
}  // namespace

TEST(Pipeline, TheRoundAsItsRingsSlowDown) {
    // 2 stages, no hop time (no stage link), one micro-batch: 5 ms a stage of which 1 ms rings, 0.75 ms of it
    // bandwidth; the round is 2 x 5 = 10 ms and grows by 2 x 0.75 (x - 1) ms when the rings' bandwidth term runs
    // x times slower. Four sequences: two micro-batches of 5 ms a stage; busy 10 ms, trip 10 ms; at x = 2 both
    // lines give 10 + 1.5 = 11.5 ms. Each GPU's rings over the round: 2 x 1e6 / 2 B, 1.5 ms of bandwidth.
    const ParallelPredictor p(std::make_unique<TenMsWithRings>(), 2, 1, 4096, LinkModel{});
    const StepTotals one = p.step_totals({{1000, 0}});
    EXPECT_NEAR(one.fabric.round_s(1.0, 1.0), 0.010, 1e-15);
    EXPECT_NEAR(one.fabric.round_s(3.0, 1.0), 0.013, 1e-15);
    EXPECT_NEAR(one.fabric.round_s(3.0, 7.0), 0.013, 1e-15);  // no stage link: no hop term
    EXPECT_NEAR(one.fabric.ring_bw_s, 0.00075, 1e-15);
    const StepTotals four = p.step_totals({{100, 0}, {100, 0}, {100, 0}, {100, 0}});
    EXPECT_NEAR(four.fabric.round_s(2.0, 1.0), 0.0115, 1e-15);
    EXPECT_NEAR(four.fabric.ring_bw_s, 0.0015, 1e-15);
    EXPECT_NEAR(four.fabric.ring_bytes, 1e6, 1e-9);
}

TEST(ExpertParallel, ImbalanceMatchesMonteCarloTopK) {
    // Reference: route T tokens to k distinct experts of E uniformly, count pairs per rank (E / ep experts each),
    // average the busiest rank's count over the mean across trials.
    std::mt19937_64 rng(7);
    struct Case { int tokens, k, experts, ranks; };
    for (const Case cs : {Case{64, 8, 256, 8}, Case{256, 8, 256, 32}, Case{2048, 8, 256, 72}, Case{16, 2, 8, 4}}) {
        double sum = 0;
        const int trials = 400;
        std::uniform_int_distribution<int> pick(0, cs.experts - 1);
        for (int t = 0; t < trials; ++t) {
            std::vector<int> load(static_cast<size_t>(cs.ranks), 0);
            for (int tok = 0; tok < cs.tokens; ++tok) {
                int chosen[16];
                for (int j = 0; j < cs.k; ++j) {  // k distinct experts
                    int e = 0;
                    do e = pick(rng); while (std::find(chosen, chosen + j, e) != chosen + j);
                    chosen[j] = e;
                    ++load[static_cast<size_t>(e * cs.ranks / cs.experts)];
                }
            }
            const double mean = static_cast<double>(cs.tokens * cs.k) / cs.ranks;
            sum += *std::max_element(load.begin(), load.end()) / mean;
        }
        const double mc = sum / trials;
        const double est = expert_imbalance(static_cast<double>(cs.tokens * cs.k), cs.ranks, cs.experts);
        EXPECT_NEAR(est, mc, 0.06 * mc) << cs.tokens << " tokens over " << cs.ranks << " ranks: MC " << mc << " estimate " << est;
    }
    EXPECT_DOUBLE_EQ(expert_imbalance(1000, 1, 8), 1.0);
    EXPECT_LT(expert_imbalance(1e9, 8, 64), 1.001);  // many tokens: balanced
    // 256 experts over 72 ranks: 40 ranks hold 4, 32 hold 3; with many tokens the busiest carries 4 / (256 / 72)
    EXPECT_NEAR(expert_imbalance(1e12, 72, 256), 4.0 * 72.0 / 256.0, 1e-3);
}

TEST(ExpertParallel, OneRankIsTensorParallelMoe) {
    const ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
    const GpuProfile g = load_gpu("h100");
    CostConfig tp2;
    tp2.tp = 2;
    CostConfig ep2 = tp2;
    ep2.ep = 2;
    ep2.expert_imbalance = 1.0;
    const std::vector<SequenceWork> batch(64, SequenceWork{1, 1000});
    const StepCost a = CostModel(m, g, tp2).step(batch), b = CostModel(m, g, ep2).step(batch);
    // EP 2 in a TP 2 group: each GPU runs 4 whole experts on half the 64 x 2 pairs instead of a half-width slice of
    // all 8 on all of them: the same FLOPs. The weights read: 4 whole experts (all hit) = 8 half slices.
    EXPECT_NEAR(b.op("moe_gate_up_proj")->flops, a.op("moe_gate_up_proj")->flops, 1e-6 * a.op("moe_gate_up_proj")->flops);
    // the bytes differ by the activations only: 32 layers x 2 B x (TP: 128 pairs x (7168 + 4096), EP: 64 pairs x
    // (14336 + 4096)) = 32 x 2 x 262,144 = 16,777,216 B fewer under EP
    EXPECT_NEAR(a.op("moe_down_proj")->bytes - b.op("moe_down_proj")->bytes, 16777216.0, 1.0);
    EXPECT_EQ(b.op("ep_alltoall"), nullptr);  // one DP rank: the MoE output combines in the TP all-reduce
}

namespace {
// 1 ms a new token, padding rows included, and `s_per_key` a key of context (none for padding rows: they run no
// attention)
class MsPerToken : public StepTimePredictor {
public:
    explicit MsPerToken(double s_per_key = 0.0) : s_per_key_(s_per_key) {}
    StepCost step(const std::vector<SequenceWork>& b) const override {
        StepCost c;
        c.time_s = step_totals(b).time_s;
        return c;
    }
    StepTotals step_totals(const std::vector<SequenceWork>& b) const override {
        StepTotals t;
        for (const SequenceWork& s : b) {
            t.time_s += 1e-3 * static_cast<double>(s.new_tokens) + (s.padding ? 0.0 : s_per_key_ * static_cast<double>(s.context));
        }
        t.time_by_bound_s[static_cast<int>(Bound::COMPUTE)] = t.time_s;
        return t;
    }
    std::string name() const override { return "1 ms a token"; }

private:
    double s_per_key_;
};
}  // namespace

TEST(DataParallel, PinnedSequencesRunOnTheirRanks) {
    // DP 2: a prefill of 100 and a decode pinned to rank 0, a prefill of 50 on rank 1: rank 0 has 101 tokens,
    // 101 ms. Unpinned, the predictor deals them largest first onto the lighter rank: 100 alone, 50 + 1: 100 ms.
    const ParallelPredictor p(std::make_unique<MsPerToken>(), 1, 2, 4096, LinkModel{});
    std::vector<SequenceWork> pinned{{100, 0, 0, 0}, {1, 500, 0, 0}, {50, 0, 0, 1}};
    EXPECT_NEAR(p.step_totals(pinned).time_s, 0.101, 1e-12);
    for (SequenceWork& s : pinned) s.rank = -1;
    EXPECT_NEAR(p.step_totals(pinned).time_s, 0.100, 1e-12);
}

TEST(DataParallel, RanksArePaddedToTheLargestRankUnderCudaGraphs) {
    // DP 2: a 100-token prefill on rank 0 (100 ms), 4 decodes at 10,000 tokens of context on rank 1 (4 ms + 40 ms).
    // Under CUDA graphs of up to 512 tokens vLLM pads rank 1 to 100 tokens: 100 ms + 40 ms = 140 ms sets the step.
    // Without graphs, or with a rank past the largest graph (600 tokens), no rank pads: the larger of 100 (600)
    // and 44 ms.
    std::vector<SequenceWork> b{{100, 0, 0, 0}};
    for (int i = 0; i < 4; ++i) b.push_back({1, 10000, 0, 1});
    const ParallelPredictor graphs(std::make_unique<MsPerToken>(1e-6), 1, 2, 4096, LinkModel{}, 1, LinkModel{}, 512);
    const ParallelPredictor eager(std::make_unique<MsPerToken>(1e-6), 1, 2, 4096, LinkModel{});
    EXPECT_NEAR(graphs.step_totals(b).time_s, 0.140, 1e-12);
    EXPECT_NEAR(graphs.step(b).time_s, 0.140, 1e-12);
    EXPECT_NEAR(eager.step_totals(b).time_s, 0.100, 1e-12);
    b.front().new_tokens = 600;
    EXPECT_NEAR(graphs.step_totals(b).time_s, 0.600, 1e-12);
}

TEST(DataParallel, PaddingRowsRunTheTokenWiseOpsNotAttention) {
    // 8 decodes at 2,000 tokens of context and 24 padding rows: the GEMMs and the fused MoE run 32 rows, as for 32
    // decodes; attention and the logits are the 8 decodes' alone.
    // The roofline and the kernel tables alike.
    const ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
    std::vector<SequenceWork> real(8, SequenceWork{1, 2000}), padded = real, wide(32, SequenceWork{1, 2000});
    SequenceWork pad{24, 0};
    pad.padding = true;
    padded.push_back(pad);
    for (const std::string predictor : {"roofline", "tables"}) {
        const auto cm = make_step_predictor(m, load_gpu("h100"), CostConfig{}, predictor);
        const StepCost p = cm->step(padded), r = cm->step(real), w = cm->step(wide);
        for (const char* op : {"qkv_proj", "o_proj", "moe_gate_up_proj", "moe_down_proj"}) {
            ASSERT_NE(p.op(op), nullptr) << predictor << " " << op;
            EXPECT_DOUBLE_EQ(p.op(op)->time_s, w.op(op)->time_s) << predictor << " " << op;
        }
        for (const char* op : {"attention", "lm_head"}) {
            ASSERT_NE(p.op(op), nullptr) << predictor << " " << op;
            EXPECT_DOUBLE_EQ(p.op(op)->time_s, r.op(op)->time_s) << predictor << " " << op;
        }
        EXPECT_NE(r.op("qkv_proj")->time_s, w.op("qkv_proj")->time_s) << predictor;  // the rows matter
    }
}

TEST(ExpertParallel, AllToAllOfDpRanks) {
    // DP 8 x TP 1, EP 8, h = 4096, top-2, a dispatch backend (DeepEP): a rank of 10 tokens runs as 16 (the CUDA
    // graph's padded batch: its padding rows are routed too) and sends 16 x 2 x 4096 x 2 B x 7/8 = 229,376 B each
    // way per MoE layer at the link's rate: 2 x (1 us + 229,376 B / 100 GB/s) = 6.58752 us per layer
    const ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
    CostConfig c;
    c.dp = 8;
    c.ep = 8;
    c.ep_gather = false;
    c.ep_link = {100e9, 1e-6};
    const std::vector<SequenceWork> decodes(10, SequenceWork{1, 100});
    const StepCost s = CostModel(m, load_gpu("h100"), c).step(decodes);
    const OpCost* a2a = s.op("ep_alltoall");
    ASSERT_NE(a2a, nullptr);
    EXPECT_NEAR(a2a->time_s, static_cast<double>(m.num_layers) * 2.0 * (1e-6 + 229376.0 / 100e9), 1e-12);
    EXPECT_EQ(s.op("tp_allreduce"), nullptr);
    // vLLM's default gather backend: every GPU receives the other 7 ranks' 16 x 4096 x 2 B in the all-gather and
    // sends as many in the reduce-scatter, 917,504 B each way: 2 x (1 us + 917,504 B / 100 GB/s) a layer
    c.ep_gather = true;
    const StepCost g = CostModel(m, load_gpu("h100"), c).step(decodes);
    EXPECT_NEAR(g.op("ep_alltoall")->time_s, static_cast<double>(m.num_layers) * 2.0 * (1e-6 + 917504.0 / 100e9),
                1e-12);
    // at TP 2 (DP 4 x TP 2, EP 8) the gather keeps the TP all-reduce after every MoE layer (it sums the TP ranks'
    // experts), where the dispatch's combine replaces it: 2 x 32 all-reduces a step against 32
    c.dp = 4, c.tp = 2;
    EXPECT_EQ(CostModel(m, load_gpu("h100"), c).step(decodes).op("tp_allreduce")->count, 64);
    c.ep_gather = false;
    EXPECT_EQ(CostModel(m, load_gpu("h100"), c).step(decodes).op("tp_allreduce")->count, 32);
}

TEST(TensorParallel, AcrossNodesUsesTheRingOnTheGivenLink) {
    // TP 16 over two nodes: 2 all-reduces per layer of T x h bf16 on the ring's slowest link
    // (2 x 15/16 x bytes / 50 GB/s + 30 x 5 us)
    const ModelCard m = load_model("meta-llama/Llama-3.3-70B-Instruct");
    CostConfig c;
    c.tp = 16;
    c.tp_link = {50e9, 5e-6};
    const StepCost s = CostModel(m, load_gpu("h100"), c).step({{1, 100}, {1, 200}});
    const double bytes = 2.0 * 8192 * 2;
    EXPECT_NEAR(s.op("tp_allreduce")->time_s, 2.0 * 80 * (30.0 / 16.0 * bytes / 50e9 + 30 * 5e-6), 1e-12);
}

TEST(KvPlanner, PipelineStagesShareTheLayers) {
    // PP 2 x TP 2 holds, per GPU, half of what TP 2 holds: weights and each token's KV
    const ModelCard m = load_model("meta-llama/Llama-3.3-70B-Instruct");
    const GpuProfile g = load_gpu("h100");
    KvPlanRequest r;
    r.tp = 2;
    r.reserve_bytes = 4e9;
    const KvPlan a = plan_kv(m, g, r);
    r.pp = 2;
    const KvPlan b = plan_kv(m, g, r);
    EXPECT_NEAR(b.weight_bytes, a.weight_bytes / 2.0, 1.0);
    EXPECT_NEAR(b.kv_bytes_per_token, a.kv_bytes_per_token / 2.0, 1e-9);
    // blocks = (budget - weights - reserve) / block bytes, by hand from the plan's own figures
    EXPECT_EQ(b.num_blocks, static_cast<int64_t>(std::floor((b.budget_bytes - b.weight_bytes - 4e9) / (16 * b.kv_bytes_per_token))));
    r.pp = 81;
    EXPECT_THROW(plan_kv(m, g, r), PlanError);
}

TEST(KvPlanner, DataParallelRanksHoldTheirExpertsAndTheirCache) {
    // DP 4 x TP 1 with EP 4: each GPU holds everything but the routed experts whole, and 1/4 of those; the
    // replica's cache is 4 ranks' blocks
    const ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
    const GpuProfile g = load_gpu("h200");
    KvPlanRequest r;
    r.reserve_bytes = 4e9;
    r.dp = 4;
    r.ep = 4;
    const KvPlan p = plan_kv(m, g, r);
    const double routed = static_cast<double>(m.params().routed_experts) * 2.0;
    EXPECT_NEAR(p.weight_bytes, m.weight_bytes(Dtype::BF16) - routed + routed / 4.0, 1.0);
    const auto rank_blocks = static_cast<int64_t>(std::floor((p.budget_bytes - p.weight_bytes - 4e9) / p.block_bytes));
    EXPECT_EQ(p.num_blocks, 4 * rank_blocks);
}

TEST(BalanceGroups, LargestFirstOntoTheLightestGroup) {
    // sizes 5 4 3 3 1 into 2: 5 -> a, 4 -> b, 3 -> b (7), 3 -> a (8), 1 -> b (8)
    const std::vector<int> g = balance_groups({5, 4, 3, 3, 1}, 2);
    EXPECT_EQ(g, (std::vector<int>{0, 1, 1, 0, 1}));
}

TEST(TensorParallel, AcrossTwoDomainsIsHierarchical) {
    // TP 16 as 2 domains of 8, B = 1 MB: inside, 2 x 7/8 x 1 MB / 400 GB/s + 14 x 2 us = 4.375 + 28 us; across,
    // each GPU's 1/8 shard on its rail: 2 x 1/2 x 125 kB / 50 GB/s + 2 x 5 us = 2.5 + 10 us. Total 44.875 us.
    const LinkModel nvlink{400e9, 2e-6}, rail{50e9, 5e-6};
    EXPECT_NEAR(hierarchical_allreduce_s(nvlink, rail, 16, 2, 1e6), 44.875e-6, 1e-12);
    // one GPU per domain: the plain ring on the fabric
    EXPECT_DOUBLE_EQ(hierarchical_allreduce_s(nvlink, rail, 4, 4, 1e6), ring_allreduce_s(rail, 4, 1e6));
}

TEST(Fabric, TheTpRingsAndTheAllToAllAcrossDomains) {
    // Llama-3.1-8B at TP 4 as 2 domains of 2 GPUs, rail 50 GB/s, 5 us; 1,000 tokens: 64 all-reduces of
    // 1,000 x 4,096 x 2 B = 8,192,000 B, each GPU's shard 4,096,000 B all-reduced over 2 domains:
    // 2 x 1/2 x 4,096,000 = 4,096,000 B per all-reduce on the rail (262,144,000 B in the step), at
    // 4,096,000 / 50e9 + 2 x 5 us = 91.92 us each (5.88288 ms), of which 64 x 10 us = 0.64 ms latency
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    CostConfig c;
    c.tp = 4;
    c.tp_link = {50e9, 5e-6};
    c.tp_domains = 2;
    const CostModel cm(m, load_gpu("h100"), c);
    const FabricTraffic f = cm.fabric_traffic({{1000, 0}});
    EXPECT_DOUBLE_EQ(f.ring_bytes, 262'144'000.0);
    EXPECT_NEAR(f.time_s, 64 * (4'096'000.0 / 50e9 + 10e-6), 1e-12);
    EXPECT_NEAR(f.latency_s, 64 * 10e-6, 1e-15);
    EXPECT_EQ(f.a2a_bytes, 0.0);
    // it is the cross-domain part of the step's all-reduces, and it comes with the step's totals
    const StepTotals t = cm.step_totals({{1000, 0}});
    EXPECT_DOUBLE_EQ(t.fabric.ring_bytes, f.ring_bytes);
    EXPECT_LT(f.time_s, cm.step({{1000, 0}}).op("tp_allreduce")->time_s);
    // inside one domain (no tp_link) nothing crosses the fabric
    EXPECT_FALSE(CostModel(m, load_gpu("h100"), CostConfig{}).fabric_traffic({{1000, 0}}).any());

    // Mixtral, DP 4 x EP 4 at TP 1 with a dispatch backend (DeepEP), whose all-to-all is set by the fabric part
    // (half of each GPU's bytes leave its domain; ep_link the resulting rate, 25 GB/s, 3 us): 100 tokens run as
    // 104 (CUDA graph padding) and send 104 x 2 x 4,096 x 2 B x 3/4 = 1,277,952 B each way per MoE layer, half on
    // the fabric: 64 x 638,976 = 40,894,464 B, at 64 x (3 us + 1,277,952 / 25e9) = 3.46355712 ms
    const ModelCard mx = load_model("mistralai/Mixtral-8x7B-v0.1");
    CostConfig e;
    e.dp = 4;
    e.ep = 4;
    e.ep_gather = false;
    e.ep_link = {25e9, 3e-6};
    e.ep_fabric_share = 0.5;
    const std::vector<SequenceWork> decodes(100, SequenceWork{1, 50});
    const FabricTraffic a = CostModel(mx, load_gpu("h100"), e).fabric_traffic(decodes);
    EXPECT_DOUBLE_EQ(a.a2a_bytes, 40'894'464.0);
    EXPECT_NEAR(a.time_s, 64 * (3e-6 + 1'277'952.0 / 25e9), 1e-12);
    EXPECT_NEAR(a.latency_s, 64 * 3e-6, 1e-15);
    EXPECT_EQ(a.ring_bytes, 0.0);
    // vLLM's default gather backend instead all-gathers the other three ranks' 104 tokens, 104 x 3 x 4,096 x 2 B
    // = 2,555,904 B received a GPU, and reduce-scatters as many back, whatever k: 64 x 1,277,952 = 81,788,928 B
    // on the fabric, at 64 x (3 us + 2,555,904 / 25e9)
    e.ep_gather = true;
    const FabricTraffic g = CostModel(mx, load_gpu("h100"), e).fabric_traffic(decodes);
    EXPECT_DOUBLE_EQ(g.a2a_bytes, 81'788'928.0);
    EXPECT_NEAR(g.time_s, 64 * (3e-6 + 2'555'904.0 / 25e9), 1e-12);
}

TEST(Parallelism, DeepEpBuffersLeaveTheKvCacheOnlyWithDpAndEp) {
    // DeepSeek-V3 over DP 8 x EP 8 on H200 with DeepEP's low-latency kernels: every GPU holds the buffers
    // kv_planner.hpp's deepep_buffer_bytes gives (4,890,562,944 B, worked by hand in test_kv_planner.cpp); with
    // vLLM's default backend, or EP without DP (no all2all backend runs), none.
    Deployment d;
    d.model = load_model("deepseek-ai/DeepSeek-V3");
    d.gpu = load_gpu("h200");
    d.dp = 8;
    d.expert_parallel = true;
    const EngineConfig e;
    EXPECT_DOUBLE_EQ(deployment_kv_plan(d, e, "test").reserve.all2all_bytes, 0.0);
    d.all2all_backend = "deepep_low_latency";
    EXPECT_DOUBLE_EQ(deployment_kv_plan(d, e, "test").reserve.all2all_bytes, 4'890'562'944.0);
    d.dp = 1, d.tp = 8;
    EXPECT_DOUBLE_EQ(deployment_kv_plan(d, e, "test").reserve.all2all_bytes, 0.0);
}

namespace {
// 10 ms a step, of which 1 ms is the embedding and 3 ms the final norm, lm_head and sampling
class TenMsWithEdges : public headroom::testing::TenMs {
public:
    TenMsWithEdges() : TenMs(Bound::COMPUTE) {}
    StepTotals step_totals(const std::vector<SequenceWork>& b) const override {
        StepTotals t = TenMs::step_totals(b);
        t.layer_set_s[static_cast<int>(LayerSet::HEAD)] = 0.001;
        t.layer_set_s[static_cast<int>(LayerSet::TAIL)] = 0.003;
        return t;
    }
};
}  // namespace

TEST(Pipeline, TheEdgesRunOnTheFirstAndLastStagesAndTheBusiestSetsThePace) {
    // 2 stages of one layer each, no hop. Each micro-batch: 6 ms of layers, 3 ms a stage; stage 0 adds the 1
    // ms embedding (4 ms), stage 1 the 3 ms tail (6 ms). One micro-batch: its trip, 10 ms, as before. Two:
    // stage 1 is busy 2 x 6 = 12 ms, longer than either trip (10 ms), so the round is 12 ms where equal
    // stages gave 10. The stages are busy 8 and 12 ms, 10 on average: a bubble of 1 - 10 / 12, all of it the
    // imbalance.
    const ParallelPredictor even(std::make_unique<TenMsWithEdges>(), 2, 1, 4096, LinkModel{}, 1, LinkModel{},
                                 0, pipeline_stage_shares({1, 1}));
    EXPECT_NEAR(even.step_totals({{1000, 0}}).pipeline_s, 0.010, 1e-15);
    const StepTotals two = even.step_totals({{500, 0}, {500, 0}});
    EXPECT_NEAR(two.pipeline_s, 0.012, 1e-15);
    EXPECT_NEAR(two.stage_busy_s, 0.010, 1e-15);
    // 3 layers on stage 0 and 1 on stage 1: 4.5 + 1 = 5.5 ms and 1.5 + 3 = 4.5 ms; two micro-batches: 11 ms
    const ParallelPredictor uneven(std::make_unique<TenMsWithEdges>(), 2, 1, 4096, LinkModel{}, 1,
                                   LinkModel{}, 0, pipeline_stage_shares({3, 1}));
    EXPECT_NEAR(uneven.step_totals({{500, 0}, {500, 0}}).pipeline_s, 0.011, 1e-15);
    // Unequal stages from an empty pipeline, by hand (the GPipe schedule): stage 0 runs 0-5.5 and 5.5-11,
    // stage 1 runs 5.5-10 and 11-15.5: 15.5 ms, 4.5 ms past the full pipeline's 11
    EXPECT_NEAR(uneven.step_totals({{500, 0}, {500, 0}}).pipeline_fill_s, 0.0045, 1e-15);
}

TEST(Pipeline, AStepsEdgesAreItsEmbeddingAndItsTail) {
    // The cost model's totals carry the embedding's time and the final norm's, lm_head's and sampling's, as
    // its per-op table gives them.
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile g = load_gpu("h100");
    const CostModel c(m, g, CostConfig{});
    const std::vector<SequenceWork> batch{{1, 500}, {1, 900}, {300, 0}};
    const StepCost s = c.step(batch);
    double head = 0.0, tail = 0.0;
    for (const OpCost& o : s.ops) {
        if (o.kind == OpKind::EMBEDDING) head += o.time_s;
        if (o.kind == OpKind::FINAL_NORM || o.kind == OpKind::LM_HEAD || o.kind == OpKind::SAMPLING)
            tail += o.time_s;
    }
    const StepTotals t = c.step_totals(batch);
    EXPECT_GT(head, 0.0);
    EXPECT_GT(tail, 0.0);
    EXPECT_NEAR(t.layer_set_s[static_cast<int>(LayerSet::HEAD)], head, 1e-15);
    EXPECT_NEAR(t.layer_set_s[static_cast<int>(LayerSet::TAIL)], tail, 1e-15);
}

TEST(Pipeline, StagesShareEachSetOfLayersTheyHold) {
    // DeepSeek-V3 at PP 2: vLLM gives the stages 31 and 30 of its 61 layers; its first 3 are dense, the other
    // 58 MoE, so the first stage holds 3 dense MLPs and 28 MoE layers, the second 30 MoE layers; every layer
    // is MLA (full attention). No sliding layer: that set is shared as every layer.
    const ModelCard ds = load_model("deepseek-ai/DeepSeek-V3");
    const std::vector<StageShares> s = pipeline_stage_shares(ds, 2);
    ASSERT_EQ(s.size(), 2u);
    auto at = [&](size_t stage, LayerSet k) { return s[stage][static_cast<size_t>(k)]; };
    EXPECT_DOUBLE_EQ(at(0, LayerSet::EVERY), 31.0 / 61.0);
    EXPECT_DOUBLE_EQ(at(1, LayerSet::EVERY), 30.0 / 61.0);
    EXPECT_DOUBLE_EQ(at(0, LayerSet::MOE), 28.0 / 58.0);
    EXPECT_DOUBLE_EQ(at(1, LayerSet::MOE), 30.0 / 58.0);
    EXPECT_DOUBLE_EQ(at(0, LayerSet::DENSE_MLP), 1.0);
    EXPECT_DOUBLE_EQ(at(1, LayerSet::DENSE_MLP), 0.0);
    EXPECT_DOUBLE_EQ(at(0, LayerSet::FULL_ATTENTION), 31.0 / 61.0);
    EXPECT_DOUBLE_EQ(at(1, LayerSet::SLIDING), 30.0 / 61.0);
    EXPECT_DOUBLE_EQ(at(0, LayerSet::HEAD), 1.0);
    EXPECT_DOUBLE_EQ(at(1, LayerSet::HEAD), 0.0);
    EXPECT_DOUBLE_EQ(at(1, LayerSet::TAIL), 1.0);
    // gpt-oss-20b at PP 3: 8 layers a stage, alternating sliding (layer 0) and full: 4 of each, 4/12 of
    // either
    const std::vector<StageShares> g = pipeline_stage_shares(load_model("openai/gpt-oss-20b"), 3);
    EXPECT_DOUBLE_EQ(g[1][static_cast<size_t>(LayerSet::SLIDING)], 4.0 / 12.0);
    EXPECT_DOUBLE_EQ(g[1][static_cast<size_t>(LayerSet::FULL_ATTENTION)], 4.0 / 12.0);
}

namespace {
// 10 ms a step: 6 ms of MoE layers' ops, 1 ms of dense MLPs, 3 ms of ops in every layer
class TenMsOfLayers : public headroom::testing::TenMs {
public:
    TenMsOfLayers() : TenMs(Bound::COMPUTE) {}
    StepTotals step_totals(const std::vector<SequenceWork>& b) const override {
        StepTotals t = TenMs::step_totals(b);
        t.layer_set_s[static_cast<int>(LayerSet::MOE)] = 0.006;
        t.layer_set_s[static_cast<int>(LayerSet::DENSE_MLP)] = 0.001;
        t.layer_set_s[static_cast<int>(LayerSet::EVERY)] = 0.003;
        return t;
    }
};
}  // namespace

TEST(Pipeline, AStageTakesTheWorkOfTheLayersItHolds) {
    // DeepSeek-V3's split at PP 2 (above). A micro-batch on stage 0: 3 x 31/61 + 6 x 28/58 + 1 ms = 5.42114
    // ms (1.52459 + 2.89655 + 1); on stage 1: 3 x 30/61 + 6 x 30/58 = 4.57886 ms. Two micro-batches: stage 0
    // is busy 10.84228 ms, past either trip (10 ms), and sets the round. (Shared by layer count alone, stage
    // 0 would take 31/61 of 10 ms, 5.08197 ms, and the round 10.16393 ms.)
    const ModelCard ds = load_model("deepseek-ai/DeepSeek-V3");
    const ParallelPredictor p(std::make_unique<TenMsOfLayers>(), 2, 1, ds.hidden_size, LinkModel{}, 1,
                              LinkModel{}, 0, pipeline_stage_shares(ds, 2));
    const double stage0 = 0.003 * 31.0 / 61.0 + 0.006 * 28.0 / 58.0 + 0.001;
    EXPECT_NEAR(stage0, 0.00542114, 1e-8);
    EXPECT_NEAR(p.step_totals({{500, 0}, {500, 0}}).pipeline_s, 2.0 * stage0, 1e-15);
    EXPECT_NEAR(p.step_totals({{1000, 0}}).pipeline_s, 0.010, 1e-15);
}
