// Roofline cost model against closed forms and published measurements (shared/reference/hardware.md).
#include <gtest/gtest.h>

#include <cmath>

#include "headroom/core/cost_model.hpp"
#include "headroom/core/deployment.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/hardware/vllm_allreduce.hpp"
#include "headroom/models/config_loader.hpp"

using namespace headroom;

namespace {

CostModel model(const char* m, const char* g, CostConfig c = {}) { return CostModel(load_model(m), load_gpu(g), c); }

std::vector<SequenceWork> decode(int64_t batch, int64_t context) {
    return std::vector<SequenceWork>(batch, SequenceWork{1, context});
}

}  // namespace

TEST(CostModel, Llama70B_bf16_decode_on_H200_matches_vLLM) {
    // Measured by vLLM: about 30 tokens/s at batch 1; the bandwidth ceiling is 4.8 TB/s / 140 GB = 34.
    const CostModel cm = model("Llama-3.3-70B", "h200");
    const double tokens_per_s = 1.0 / cm.step_time(decode(1, 128));
    EXPECT_NEAR(tokens_per_s, 30.0, 0.15 * 30.0);
    EXPECT_LT(tokens_per_s, 4.8e12 / 141.1e9);
}

TEST(CostModel, Llama70B_int4_decode_on_H200_matches_vLLM) {
    // Measured by vLLM: about 110 tokens/s at int4; the ceiling at 35 GB is 137.
    CostConfig c;
    c.weight_dtype = Dtype::INT4;
    const double tokens_per_s = 1.0 / model("Llama-3.3-70B", "h200", c).step_time(decode(1, 128));
    EXPECT_NEAR(tokens_per_s, 110.0, 0.15 * 110.0);
    EXPECT_LT(tokens_per_s, 137.0);
}

TEST(CostModel, PrefillGemmsComputeBoundDecodeGemmsMemoryBound) {
    const CostModel cm = model("llama-3.1-8b", "h100");
    const StepCost prefill = cm.step({{4096, 0}});
    const StepCost one = cm.step(decode(1, 100));
    for (const char* op : {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}) {
        EXPECT_EQ(prefill.op(op)->bound, Bound::COMPUTE) << op;
        EXPECT_EQ(one.op(op)->bound, Bound::MEMORY) << op;
    }
    EXPECT_EQ(prefill.op("attention")->bound, Bound::COMPUTE);
    EXPECT_EQ(one.op("attention")->bound, Bound::MEMORY);
}

TEST(CostModel, DecodeGemmIsWeightBytesOverBandwidth) {
    // Llama-3.1-8B gate_up at batch 1: weights 2 x 14336 x 4096 x 2 B = 234,881,024 B, activations
    // (4096 + 28672) x 2 B = 65,536 B; at 3.35 TB/s x 0.90: 234,946,560 / 3.015e12 = 77.93 us per layer.
    const StepCost s = model("llama-3.1-8b", "h100").step(decode(1, 100));
    const OpCost* g = s.op("gate_up_proj");
    EXPECT_DOUBLE_EQ(g->bytes, 32 * 234'946'560.0);
    EXPECT_NEAR(g->time_s / 32, 234'946'560.0 / (3.35e12 * 0.90), 1e-9);
}

TEST(CostModel, LargeGemmIsCostedInTilesAndWaves) {
    // qkv_proj of a 4096-token prefill: M 4096, N 6144, K 4096 -> 32 x 48 = 1,536 tiles of 128 x 128;
    // on 132 SMs that is 12 waves (1,584 tile slots); each tile 2 x 128 x 128 x 4096 FLOPs at 989e12 x 0.79
    const StepCost s = model("llama-3.1-8b", "h100").step({{4096, 0}});
    const OpCost* q = s.op("qkv_proj");
    const double expected = 12 * 132 * (2.0 * 128 * 128 * 4096) / (989e12 * 0.79);
    EXPECT_NEAR(q->compute_s / 32, expected, 1e-12);
    EXPECT_DOUBLE_EQ(q->flops / 32, 2.0 * 4096 * 6144 * 4096);
}

TEST(CostModel, BlendLiesBetweenMaxAndRidgeFactor) {
    // For every op, max(compute, memory) <= time <= 2^(1/2.5) x max, and within 1% of the max once one
    // bound is at least 5x the other: (1 + 0.2^2.5)^(1/2.5) = 1.0071.
    const CostModel cm = model("llama-3.1-8b", "h100");
    for (int64_t b : {1, 8, 64, 128, 192, 256, 384, 512, 1024, 4096}) {
        for (const OpCost& o : cm.step(decode(b, 512)).ops) {
            const double hi = std::max(o.compute_s, o.memory_s), lo = std::min(o.compute_s, o.memory_s);
            if (o.name == "attention" || o.bound == Bound::OVERHEAD || o.bound == Bound::COMMUNICATION) continue;
            EXPECT_GE(o.time_s, hi * (1 - 1e-12)) << o.name << " b=" << b;
            EXPECT_LE(o.time_s, hi * std::pow(2.0, 1 / 2.5) * (1 + 1e-12)) << o.name << " b=" << b;
            if (hi >= 5 * lo) {
                EXPECT_LE(o.time_s, hi * 1.0072) << o.name << " b=" << b;
            }
        }
    }
}

TEST(CostModel, GemmSlowsDownAroundTheRidge) {
    // Llama-3.1-8B gate_up on H100: the ridge sits near 256 tokens (989e12 x 0.79 / (3.35e12 x 0.9) = 259
    // FLOP/B and a bf16 GEMM does ~M FLOP per weight byte); there the time is 20-45% above max().
    const OpCost* g = nullptr;
    const StepCost s = model("llama-3.1-8b", "h100").step(decode(256, 10));
    g = s.op("gate_up_proj");
    const double ratio = g->time_s / std::max(g->compute_s, g->memory_s);
    EXPECT_GT(ratio, 1.2);
    EXPECT_LT(ratio, 1.45);
}

TEST(CostModel, RingAllReduce) {
    // 70B at TP 4, batch 1: each all-reduce moves 8192 x 2 = 16,384 B over NVLink4 at 900 / 2 GB/s x 0.8:
    // 2 x 3/4 x 16,384 / 360e9 + 2 x 3 x 2 us = 0.0683 us + 12 us; 2 per layer x 80 layers
    CostConfig c;
    c.tp = 4;
    const StepCost s = model("Llama-3.3-70B", "h100", c).step(decode(1, 128));
    const OpCost* ar = s.op("tp_allreduce");
    ASSERT_NE(ar, nullptr);
    EXPECT_EQ(ar->count, 160);
    EXPECT_NEAR(ar->time_s / 160, 1.5 * 16'384 / 360e9 + 6 * 2e-6, 1e-12);
    EXPECT_EQ(ar->bound, Bound::COMMUNICATION);
    EXPECT_EQ(model("Llama-3.3-70B", "h100").step(decode(1, 128)).op("tp_allreduce"), nullptr);
}

TEST(CostModel, DecodeAttentionReadsEveryKvByte) {
    // Llama-3.1-8B, one sequence at context 8191: reads 8,192 tokens x 2 x 8 x 128 x 2 B = 33,554,432 B per
    // layer, writes one token's K/V (4,096 B) and moves q and o (2 x 4096 x 2 B = 16,384 B)
    const StepCost s = model("llama-3.1-8b", "h100").step(decode(1, 8191));
    EXPECT_DOUBLE_EQ(s.op("attention")->bytes, 32 * (33'554'432.0 + 4'096 + 16'384));
    // FLOPs: 2 x 32 heads x (128 + 128) x 8,192 keys per layer
    EXPECT_DOUBLE_EQ(s.op("attention")->flops, 32 * 2.0 * 32 * 256 * 8192);
}

TEST(CostModel, SlidingWindowCapsAttention) {
    // Mistral's 4096-token window: decoding at context 100,000 reads what decoding at 4,095 reads
    const CostModel cm = model("mistral-7b", "h100");
    EXPECT_DOUBLE_EQ(cm.step(decode(1, 30'000)).op("attention_sliding")->bytes,
                     cm.step(decode(1, 4095)).op("attention_sliding")->bytes);
}

TEST(CostModel, MoeReadsTheExpertsTheBatchActivates) {
    // Mixtral: one token picks 2 of 8 experts: 8 x (1 - (6/8)^1) = 2; a large batch touches all 8.
    const CostModel cm = model("mixtral", "h100");
    EXPECT_DOUBLE_EQ(cm.expected_active_experts(1), 2.0);
    EXPECT_NEAR(cm.expected_active_experts(64), 8.0, 1e-6);
    // batch 1: weight bytes of moe_gate_up = 2 experts x 2 x 14336 x 4096 x 2 B = 469,762,048 per layer
    const StepCost step = cm.step(decode(1, 10));  // op() points into the StepCost: keep it alive
    const OpCost* g = step.op("moe_gate_up_proj");
    EXPECT_NEAR(g->bytes / 32, 469'762'048.0 + 2 * (4096 + 28672) * 2.0, 1.0);
}

TEST(CostModel, StepTimeEqualsBreakdownTotal) {
    const CostModel cm = model("gpt-oss-20b", "h100");
    std::vector<SequenceWork> mixed = decode(37, 900);
    mixed.push_back({512, 2048});
    mixed.push_back({300, 0});
    const StepCost s = cm.step(mixed);
    double sum = 0;
    for (const OpCost& o : s.ops) sum += o.time_s;
    EXPECT_DOUBLE_EQ(cm.step_time(mixed), s.time_s);
    EXPECT_NEAR(sum, s.time_s, 1e-15);
}

TEST(CostModel, OverheadWithAndWithoutCudaGraphs) {
    // Without graphs: (32 layers x 12 + 5) launches x 5 us = 1.945 ms more per step
    CostConfig eager;
    eager.cuda_graphs = false;
    const double with = model("llama-3.1-8b", "h100").step_time(decode(1, 10));
    const double without = model("llama-3.1-8b", "h100", eager).step_time(decode(1, 10));
    EXPECT_NEAR(without - with, 389 * 5e-6, 1e-12);
}

TEST(CostModel, FastBlendMatchesThePowerFormula) {
    // p = 2.5 takes a pow-free path; p = 2.5 + 1e-12 takes std::pow. They must agree to 1e-9 everywhere.
    CostConfig fast, slow;
    slow.blend_exponent = 2.5 + 1e-12;
    const CostModel a = model("llama-3.1-8b", "h100", fast), b = model("llama-3.1-8b", "h100", slow);
    for (int64_t batch : {1, 7, 64, 200, 256, 300, 1024}) {
        for (const auto& work : {decode(batch, 700), std::vector<SequenceWork>{{batch * 8, 100}}}) {
            EXPECT_NEAR(a.step_time(work), b.step_time(work), 1e-9 * b.step_time(work)) << batch;
        }
    }
}

TEST(CostModel, UnblendedGemmLeavesTheTimeToTheCallerAndGemmOpRestoresIt) {
    // 300 rows x 4096 x 4096 at 700 TFLOP/s and 3 TB/s, calibrated (launch 5 us, p = 3.1): compute
    // 2 x 300 x 4096^2 / 7e14 = 14.4 us, memory (4096^2 x 2 + 300 x 8192 x 2) / 3e12 = 12.8 us.
    GemmCalibration cal;
    cal.launch_s = 5e-6;
    cal.compute_efficiency = 0.7;
    cal.memory_efficiency = 0.9;
    cal.blend_exponent = 3.1;
    cal.mainloop_s_per_k = 0.2e-9;  // 0.2 ns x 4,096 = 0.8192 us of walk along k
    const double w = 4096.0 * 4096.0 * 2.0;
    const GemmTime full = gemm_roofline(7e14, 3e12, 132, 300, 4096, 4096, w, 2.5, &cal);
    const GemmTime bare = gemm_roofline(7e14, 3e12, 132, 300, 4096, 4096, w, 2.5, &cal, false);
    EXPECT_NEAR(full.compute_s, 2.0 * 300 * 4096.0 * 4096.0 / 7e14, 1e-15);
    EXPECT_NEAR(full.memory_s, (w + 300.0 * 8192 * 2) / 3e12, 1e-15);
    EXPECT_TRUE(std::isnan(bare.time_s));
    EXPECT_EQ(bare.compute_s, full.compute_s);
    EXPECT_EQ(bare.memory_s, full.memory_s);
    // (c^p + m^p)^(1/p) + launch + the walk along k, by hand
    const double c = full.compute_s, m = full.memory_s;
    EXPECT_NEAR(full.time_s, 5e-6 + 0.8192e-6 + std::pow(std::pow(c, 3.1) + std::pow(m, 3.1), 1.0 / 3.1), 1e-15);

    CostConfig cfg;
    cfg.calibration = shipped_calibration("h100-sxm");
    ASSERT_NE(cfg.calibration, nullptr);
    const CostModel cm = model("meta-llama/Llama-3.1-8B-Instruct", "h100", cfg);
    const GemmCalibration* g = cfg.gemm_calibration();
    ASSERT_NE(g, nullptr);
    // three of them, as the walk hands them over: the op's totals are three times one GEMM's
    RooflineOp op{OpKind::QKV_PROJ, 3, 0, 0, 3 * c, 3 * m, 0, 0, NAN, Bound::COMPUTE, 300, 4096, 4096};
    // each pays the launch and its walk along k = 4,096 (calibration.hpp), then the blended bounds
    ASSERT_GT(g->mainloop_s_per_k, 0.0);
    EXPECT_NEAR(cm.gemm_op_s(op), 3 * (g->launch_s + g->mainloop_s_per_k * 4096 + smooth_max(c, m, g->blend_exponent)), 1e-18);
}

TEST(CostModel, TileUtilisationCountsUsefulOutputOverWholeWaves) {
    // 100 rows (64-row tiles: 2 deep) x n = 4,096 (32 wide) = 64 tiles on 132 SMs: one wave of 132 slots of
    // 64 x 128, of which 100 x 4,096 elements are useful: 409,600 / (132 x 8,192) = 0.3788
    EXPECT_NEAR(gemm_tile_utilisation(100, 4096, 132), 409600.0 / (132.0 * 8192.0), 1e-12);
    // 4,096 x 4,224 rows and columns: 32 x 33 = 1,056 tiles of 128 x 128 = 8 waves of 132, all full: 1
    EXPECT_NEAR(gemm_tile_utilisation(4096, 4224, 132), 1.0, 1e-12);
    // 129 rows take 128-deep tiles: 2 x 32 = 64 tiles, one wave; 129 x 4,096 / (132 x 16,384) = 0.2443
    EXPECT_NEAR(gemm_tile_utilisation(129, 4096, 132), 129.0 * 4096 / (132.0 * 16384), 1e-12);
    // 256 rows x 8,576 columns: 2 x 67 = 134 tiles of 128 x 128 need two waves of 132 slots:
    // 256 x 8,576 / (264 x 16,384) = 0.5076
    EXPECT_NEAR(gemm_tile_utilisation(256, 8576, 132), 256.0 * 8576 / (264.0 * 16384), 1e-12);
    // up to 64 rows vLLM swaps the operands: no row padding counted
    EXPECT_EQ(gemm_tile_utilisation(64, 4096, 132), 1.0);
    EXPECT_EQ(gemm_tile_utilisation(1, 512, 132), 1.0);

    // A calibrated GEMM with a wave exponent divides its compute time by u^w before the blend: 129 x 4,096 x
    // 4,096 at 1e15 FLOP/s is 4.33 us of compute; memory 1 ns (made negligible with a huge rate), p = 60 so the
    // blend is the max; w = 0.5 gives 4.33 / sqrt(0.2443) = 8.76 us
    GemmCalibration cal;
    cal.compute_efficiency = 1.0;
    cal.memory_efficiency = 1.0;
    cal.blend_exponent = 60;
    cal.wave_exponent = 0.5;
    const double c = 2.0 * 129 * 4096 * 4096 / 1e15;
    const double u = 129.0 * 4096 / (132.0 * 16384);
    EXPECT_NEAR(calibrated_gemm_s(cal, c, 1e-9, 129, 4096, 4096, 1e18, 132), c / std::sqrt(u), 1e-12);
    cal.wave_exponent = 0.0;  // none: the FLOPs alone
    EXPECT_NEAR(calibrated_gemm_s(cal, c, 1e-9, 129, 4096, 4096, 1e18, 132), c, 1e-12);
}

TEST(CostModel, Fp8WeightsTakeTheFp8FitWithItsPerElementTerms) {
    // A calibration whose fp8 fit differs from the bf16 one only in its per-element terms: 3 bytes per activation
    // element and 1 per output element, at the fit's memory rate (H100 SXM 3.35 TB/s x memory_efficiency). A
    // Llama-3.1-8B qkv_proj at 512 rows (n = 6144, k = 4096) then moves 512 x (3 x 4096 + 6144) = 9.4 MB more
    // per layer in fp8 than the same fit without the terms: about 3.3 us at 0.86 x 3.35 TB/s.
    auto cal = std::make_shared<Calibration>(*shipped_calibration("h100-sxm"));
    cal->gemm_fp8 = cal->gemm;
    CostConfig c8;
    c8.weight_dtype = Dtype::FP8;
    c8.calibration = cal;
    const std::vector<SequenceWork> batch{{512, 0}};
    const double base = model("meta-llama/Llama-3.1-8B-Instruct", "h100", c8).step(batch).op("qkv_proj")->time_s;
    cal->gemm_fp8.activation_bytes = 3;
    cal->gemm_fp8.output_bytes = 1;
    const double with = model("meta-llama/Llama-3.1-8B-Instruct", "h100", c8).step(batch).op("qkv_proj")->time_s;
    const double rate = load_gpu("h100").memory_bandwidth_bytes_per_s() * cal->gemm_fp8.memory_efficiency;
    EXPECT_NEAR(with - base, 32 * 512 * (3.0 * 4096 + 6144) / rate, 1e-12);  // 32 layers
    // and 5 ns per row: 32 layers x 512 rows x 5 ns = 81.92 us more
    cal->gemm_fp8.row_s = 5e-9;
    const double rows = model("meta-llama/Llama-3.1-8B-Instruct", "h100", c8).step(batch).op("qkv_proj")->time_s;
    EXPECT_NEAR(rows - with, 32 * 512 * 5e-9, 1e-12);
    // bf16 weights keep the bf16 fit: no per-element terms
    CostConfig c16 = c8;
    c16.weight_dtype = Dtype::BF16;
    const double bf16 = model("meta-llama/Llama-3.1-8B-Instruct", "h100", c16).step(batch).op("qkv_proj")->time_s;
    cal->gemm_fp8 = GemmCalibration{};
    EXPECT_EQ(model("meta-llama/Llama-3.1-8B-Instruct", "h100", c16).step(batch).op("qkv_proj")->time_s, bf16);
}

TEST(CostModel, ANormAfterAResidualAddReadsTheSumInTheAddsKernel) {
    // vLLM's fused_add_rms_norm: read the input and the residual, write the residual and the output, 4 passes of
    // T x h bf16 per norm with an add, against 5 for an add (3) then a norm (2). Llama-3.1-8B (32 layers, hidden
    // 4,096), 512 rows: 2 adds a layer, each followed by a norm (the next input norm, or the final one), and the
    // first layer's input norm alone: 2 x 32 x 4 + 2 = 258 passes of 512 x 4,096 x 2 B, plus 65 norm weights of
    // 4,096 x 2 B: 1,082,130,432 + 532,480 = 1,082,662,912 B over the adds and norms.
    const std::vector<SequenceWork> batch{{512, 0}};
    const StepCost s = model("meta-llama/Llama-3.1-8B-Instruct", "h100", CostConfig{}).step(batch);
    double bytes = 0.0;
    for (const char* op : {"input_norm", "post_attention_norm", "residual_add", "final_norm"}) bytes += s.op(op)->bytes;
    EXPECT_NEAR(bytes, 1'082'662'912.0, 1e-3);
    // the input norms: 32 outputs and weights written and read, and the first layer's input read:
    // 32 x (4,194,304 + 8,192) + 4,194,304 B
    EXPECT_NEAR(s.op("input_norm")->bytes, 32.0 * 4'202'496.0 + 4'194'304.0, 1e-3);
    // Gemma-2 has 4 norms a layer: the one before the MLP follows an add (1 pass), the post-attention and
    // post-feed-forward norms of the branches' outputs follow none (2 passes each)
    const StepCost g = model("google/gemma-2-9b", "h100", CostConfig{}).step(batch);
    const ModelCard gm = load_model("google/gemma-2-9b");
    const double pass = 512.0 * static_cast<double>(gm.hidden_size) * 2.0, w = static_cast<double>(gm.hidden_size) * 2.0;
    EXPECT_NEAR(g.op("post_attention_norm")->bytes, 3.0 * static_cast<double>(gm.num_layers) * (5.0 * pass / 3.0 + w), 1e-2);
}

// vLLM's AllReduce + RMSNorm fusion: up to FlashInfer's size limit the residual adds and norms after the TP
// all-reduces run inside FlashInfer's all-reduce kernel. Llama-3.1-8B (hidden 4,096, 32 layers): an all-reduce
// carries tokens x 4,096 x 2 B; H100 (compute capability 9.0) at TP 4 fuses up to 2 MiB = 256 tokens, B200 (10.0)
// up to 32 MiB, TP 2 on either up to 64 MiB = 8,192 tokens; an A100 (8.0) never.
TEST(CostModel, TpAllReducesUpToFlashInfersLimitRunTheAddsAndNormsInside) {
    const char* m = "meta-llama/Llama-3.1-8B-Instruct";
    auto fused = [&](const char* gpu, int64_t tp, int64_t tokens, bool on = true) {
        CostConfig c;
        c.tp = tp;
        c.fuse_allreduce_rms = on;
        const StepCost s = model(m, gpu, c).step({{tokens, 0}});
        const bool gone = !s.op("residual_add") && !s.op("post_attention_norm") && !s.op("final_norm");
        EXPECT_EQ(gone, s.op("input_norm")->count == 1) << gpu << " " << tp << " " << tokens;
        EXPECT_EQ(gone, s.allreduce_norm_fused) << gpu << " " << tp << " " << tokens;  // the step says so
        if (gone) {  // the first layer's input norm alone: read 2 MiB at 256 tokens, write it, read the weight
            // (257 tokens run as 272 under CUDA graphs: the norm reads and writes the padding rows too)
            const double rows = tokens == 257 ? 272.0 : static_cast<double>(tokens);
            EXPECT_NEAR(s.op("input_norm")->bytes, 2.0 * rows * 4096 * 2 + 4096 * 2, 1e-6);
        }
        return gone;
    };
    EXPECT_TRUE(fused("h100", 4, 256));
    EXPECT_FALSE(fused("h100", 4, 257));
    EXPECT_TRUE(fused("b200", 4, 257));
    EXPECT_TRUE(fused("b200", 4, 4096));   // 32 MiB
    EXPECT_FALSE(fused("b200", 4, 4097));
    EXPECT_TRUE(fused("h100", 2, 8192));   // 64 MiB
    EXPECT_FALSE(fused("h100", 2, 8193));
    EXPECT_TRUE(fused("h100", 8, 128));    // 1 MiB
    EXPECT_FALSE(fused("h100", 8, 129));
    EXPECT_FALSE(fused("a100-80gb", 2, 16));
    EXPECT_FALSE(fused("h100", 2, 16, false));  // fuse_allreduce_rms off
    // the all-reduce itself is timed alike either way
    CostConfig on, off;
    on.tp = off.tp = 2;
    off.fuse_allreduce_rms = false;
    EXPECT_EQ(model(m, "h100", on).step({{64, 0}}).op("tp_allreduce")->time_s,
              model(m, "h100", off).step({{64, 0}}).op("tp_allreduce")->time_s);
}

// vLLM pads a step to the next CUDA graph capture size (1, 2, 4, multiples of 8 below 256, of 16 up to
// min(2 x max_num_seqs, 512)); the token-wise ops compute the padding rows, attention and the logits do not.
TEST(CostModel, CudaGraphsPadTheTokenWiseOpsToTheNextCapturedSize) {
    CostConfig c;
    EXPECT_EQ(cuda_graph_tokens(c, 1), 1);
    EXPECT_EQ(cuda_graph_tokens(c, 2), 2);
    EXPECT_EQ(cuda_graph_tokens(c, 3), 4);
    EXPECT_EQ(cuda_graph_tokens(c, 5), 8);
    EXPECT_EQ(cuda_graph_tokens(c, 83), 88);
    EXPECT_EQ(cuda_graph_tokens(c, 248), 248);
    EXPECT_EQ(cuda_graph_tokens(c, 249), 256);
    EXPECT_EQ(cuda_graph_tokens(c, 257), 272);
    EXPECT_EQ(cuda_graph_tokens(c, 512), 512);
    EXPECT_EQ(cuda_graph_tokens(c, 513), 513);  // past the largest graph: eager, as it is
    c.cuda_graph_max_tokens = 20;                // max_num_seqs 10: graphs of 1, 2, 4, 8 and 16 tokens
    EXPECT_EQ(cuda_graph_tokens(c, 16), 16);
    EXPECT_EQ(cuda_graph_tokens(c, 17), 17);
    c.cuda_graph_max_tokens = 512;
    c.cuda_graphs = false;
    EXPECT_EQ(cuda_graph_tokens(c, 257), 257);
    c.cuda_graphs = true;

    // Speculative decoding with k = 2: the sizes rounded up to multiples of 3 are 1, 2 -> 3; 4 -> 6; 8 -> 9;
    // 16 -> 18; 24; 32 -> 33; ...; 496 -> 498; 512 -> 513 is past the largest size (512) and dropped
    c.cuda_graph_multiple = 3;
    EXPECT_EQ(cuda_graph_tokens(c, 1), 3);
    EXPECT_EQ(cuda_graph_tokens(c, 3), 3);
    EXPECT_EQ(cuda_graph_tokens(c, 4), 6);
    EXPECT_EQ(cuda_graph_tokens(c, 7), 9);
    EXPECT_EQ(cuda_graph_tokens(c, 10), 18);  // (12 and 15 are no rounded size)
    EXPECT_EQ(cuda_graph_tokens(c, 19), 24);
    EXPECT_EQ(cuda_graph_tokens(c, 25), 33);
    EXPECT_EQ(cuda_graph_tokens(c, 498), 498);
    EXPECT_EQ(cuda_graph_tokens(c, 499), 499);  // eager
    // k = 3: multiples of 4 (4, 8, 16, 24, ...; 12 is none)
    c.cuda_graph_multiple = 4;
    EXPECT_EQ(cuda_graph_tokens(c, 5), 8);
    EXPECT_EQ(cuda_graph_tokens(c, 9), 16);
    EXPECT_EQ(cuda_graph_tokens(c, 260), 272);

    // A deployment's largest size: min(max_num_seqs x (1 + k) x 2, 512, the token budget)
    Deployment d;
    d.model = load_model("meta-llama/Llama-3.1-8B-Instruct");
    d.gpu = load_gpu("h100");
    EngineConfig e;
    e.max_num_seqs = 10;
    EXPECT_EQ(cost_config(d, e).cuda_graph_max_tokens, 20);
    EXPECT_EQ(cost_config(d, e).cuda_graph_multiple, 1);
    e.speculative.method = "ngram";
    e.speculative.num_speculative_tokens = 3;
    EXPECT_EQ(cost_config(d, e).cuda_graph_max_tokens, 80);
    EXPECT_EQ(cost_config(d, e).cuda_graph_multiple, 4);
    e.max_num_seqs = 1024;
    EXPECT_EQ(cost_config(d, e).cuda_graph_max_tokens, 512);
    e.max_num_batched_tokens = 256;
    EXPECT_EQ(cost_config(d, e).cuda_graph_max_tokens, 256);

    // Llama-3.1-8B, 83 decodes at 1,000 tokens of context: the GEMMs run 88 rows, the embedding reads and writes
    // 88 x 4,096 x 2 B each way; attention and the lm_head's logits see the 83 sequences, as without padding
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const std::vector<SequenceWork> batch(83, SequenceWork{1, 1000});
    CostConfig on, off;
    off.cuda_graph_max_tokens = 0;
    const StepCost p = CostModel(m, load_gpu("h100"), on).step(batch), q = CostModel(m, load_gpu("h100"), off).step(batch);
    EXPECT_EQ(p.tokens, 83);
    EXPECT_DOUBLE_EQ(p.op("embedding")->bytes, 2.0 * 88 * 4096 * 2);
    EXPECT_DOUBLE_EQ(q.op("embedding")->bytes, 2.0 * 83 * 4096 * 2);
    EXPECT_DOUBLE_EQ(p.op("qkv_proj")->flops, 88.0 / 83.0 * q.op("qkv_proj")->flops);
    EXPECT_DOUBLE_EQ(p.op("attention")->time_s, q.op("attention")->time_s);
    EXPECT_DOUBLE_EQ(p.op("lm_head")->time_s, q.op("lm_head")->time_s);
}

TEST(CostModel, OpsOtherThanGemmsStreamAtTheBf16FitsRateWhateverTheWeights) {
    // An fp8 fit's memory efficiency is its GEMMs' own (it absorbs the quantisation kernel, calibration.hpp); a
    // norm moves bf16 activations, so with fp8 weights it takes the bf16 fit's rate. A calibration whose fp8 fit
    // streams at half the bf16 fit's rate: Llama-3.1-8B's input_norm at 512 rows reads and writes 512 x 4,096 x 2 B
    // and reads the 4,096 x 2 B weight per layer, at 3.35 TB/s x the bf16 fit's efficiency, with either weights.
    auto cal = std::make_shared<Calibration>(*shipped_calibration("h100-sxm"));
    cal->gemm_fp8 = cal->gemm;
    cal->gemm_fp8.memory_efficiency = cal->gemm.memory_efficiency / 2;
    CostConfig c8;
    c8.weight_dtype = Dtype::FP8;
    c8.calibration = cal;
    CostConfig c16 = c8;
    c16.weight_dtype = Dtype::BF16;
    const std::vector<SequenceWork> batch{{512, 0}};
    const OpCost n8 = *model("meta-llama/Llama-3.1-8B-Instruct", "h100", c8).step(batch).op("input_norm");
    const OpCost n16 = *model("meta-llama/Llama-3.1-8B-Instruct", "h100", c16).step(batch).op("input_norm");
    EXPECT_EQ(n8.time_s, n16.time_s);
    EXPECT_NEAR(n16.time_s, n16.bytes / (load_gpu("h100").memory_bandwidth_bytes_per_s() * cal->gemm.memory_efficiency), 1e-15);
    // while the fp8 GEMMs stream their weights at the fp8 fit's (halved) rate: a 1-row decode's qkv_proj is
    // memory-bound, its memory time twice the bytes over the bf16 fit's rate
    const OpCost q8 = *model("meta-llama/Llama-3.1-8B-Instruct", "h100", c8).step({{1, 100}}).op("qkv_proj");
    EXPECT_NEAR(q8.memory_s, q8.bytes / (load_gpu("h100").memory_bandwidth_bytes_per_s() * cal->gemm_fp8.memory_efficiency), 1e-15);
}

// DeepSeek-V3.2's sparse attention (DeepSeek-V3 with its indexer: 64 heads of 128, top 2,048 keys), at TP 8 on
// H200: 16 of the 128 heads a rank.
ModelCard deepseek_v32() {
    ModelCard m = load_model("deepseek-ai/DeepSeek-V3");
    m.index_n_heads = 64;
    m.index_head_dim = 128;
    m.index_topk = 2048;
    return m;
}

TEST(CostModel, SparseMlaDecodesReadTheKeysTheIndexerPicks) {
    CostConfig c;
    c.tp = 8;
    c.cuda_graphs = false;
    const GpuProfile h200 = load_gpu("h200");
    const StepCost far = CostModel(deepseek_v32(), h200, c).step({{1, 10'000}});
    // A decode at context 10,000 attends to 2,048 keys as a dense MLA decode does to its context, in the
    // absorbed form (a 576-dim query against the latent, a 512-dim output): 2 x 16 x (512 + 64 + 512) =
    // 34,816 FLOPs a key; it reads their latents (1,152 B at bf16), writes its own, reads q (16 x 192) and
    // writes o (16 x 128) at bf16: 2,359,296 + 1,152 + 10,240 = 2,370,688 B a layer
    EXPECT_DOUBLE_EQ(far.op("attention")->flops, 61 * 34'816.0 * 2048);
    EXPECT_DOUBLE_EQ(far.op("attention")->bytes, 61 * 2'370'688.0);
    EXPECT_EQ(far.op("attention_sparse"), nullptr);
    // The indexer scores all 10,001 keys with 64 x 128 fp8 dims: 2 x 8,192 x 10,001 = 163,856,384 FLOPs; it reads
    // their 132 B keys and writes its own (1,320,264), reads its 8,192 B query, writes and reads 10,001 fp32 logits
    // (80,008) and writes 2,048 int32 indices (8,192): 1,416,656 B a layer
    EXPECT_DOUBLE_EQ(far.op("indexer")->flops, 61 * 163'856'384.0);
    EXPECT_DOUBLE_EQ(far.op("indexer")->bytes, 61 * 1'416'656.0);
    // DeepSeek-V3 reads all 10,001 latents: 11,521,152 + 1,152 + 10,240, and has no indexer
    const StepCost dense = CostModel(load_model("deepseek-ai/DeepSeek-V3"), h200, c).step({{1, 10'000}});
    EXPECT_EQ(dense.op("indexer"), nullptr);
    EXPECT_DOUBLE_EQ(dense.op("attention")->bytes, 61 * 11'532'544.0);
    // No longer than 2,048 tokens a DSA sequence's attention is DeepSeek-V3's: a decode at 999, a 1,500-token prompt
    for (const std::vector<SequenceWork>& b : {std::vector<SequenceWork>{{1, 999}}, std::vector<SequenceWork>{{1500, 0}}}) {
        const OpCost a = *CostModel(deepseek_v32(), h200, c).step(b).op("attention");
        const OpCost d = *CostModel(load_model("deepseek-ai/DeepSeek-V3"), h200, c).step(b).op("attention");
        EXPECT_EQ(a.flops, d.flops);
        EXPECT_EQ(a.time_s, d.time_s);
    }
    // At fp8 the latent takes FlashMLA's 656 B layout: 2,048 x 656 + 656 + 10,240 = 1,354,384 B
    c.kv_dtype = Dtype::FP8;
    EXPECT_DOUBLE_EQ(CostModel(deepseek_v32(), h200, c).step({{1, 10'000}}).op("attention")->bytes, 61 * 1'354'384.0);
}

// MLA's projections as vLLM runs them (deepseek_v2.py, MLACommonImpl): DeepSeek-V3 at TP 8 (16 heads a GPU).
TEST(CostModel, MlaProjectionsRunAsVllmRunsThem) {
    const ModelCard v3 = load_model("deepseek-ai/DeepSeek-V3");
    // fused_qkv_a_proj (7,168 x (1,536 + 512 + 64)) is whole on every rank: 7/8 of its 15,138,816 beyond a
    // share
    EXPECT_DOUBLE_EQ(v3.attention_replicated_params(0, 8), 15'138'816.0 * 7.0 / 8.0);
    EXPECT_DOUBLE_EQ(v3.attention_replicated_params(0, 1), 0.0);
    CostConfig c;
    c.tp = 8;
    c.cuda_graphs = false;
    const GpuProfile h200 = load_gpu("h200");
    const CostModel cm(v3, h200, c);
    // One decode: the fused down-projection 2 x 2,112 x 7,168 = 30,277,632, q's up-projection 2 x (16 x 192)
    // x 1,536 = 9,437,184, and kv_b absorbed into two per-head products, q_nope x W_UK 2 x (16 x 512) x 128 =
    // 2,097,152 and the latent output x W_UV 2 x (16 x 128) x 512 = 2,097,152: 43,909,120 a layer
    EXPECT_DOUBLE_EQ(cm.step({{1, 100}}).op("qkv_proj")->flops, 61 * 43'909'120.0);
    // A 100-token chunk after 50 cached: 100 x (30,277,632 + 9,437,184) and kv_b on all 150 keys it attends
    // to, 2 x 150 x (16 x 256) x 512 = 629,145,600: 4,600,627,200 a layer
    EXPECT_DOUBLE_EQ(cm.step({{100, 50}}).op("qkv_proj")->flops, 61 * 4'600'627'200.0);
}

TEST(CostModel, SparseMlaPrefillsPastTopKRunTheSparseKernel) {
    const GpuProfile h200 = load_gpu("h200");
    CostConfig c;
    c.tp = 8;
    c.cuda_graphs = false;
    // A 3,000-token prompt: its positions see 1 .. 2,048 keys, then 2,048 each: 2,098,176 + 952 x 2,048 = 4,047,872.
    // FlashMLA's sparse prefill runs the absorbed form, 2 x (512 + 64 + 512) = 2,176 FLOPs a head and key, on 16
    // heads padded to the bf16 kernel's 64 (Hopper): 2,176 x 64 x 4,047,872 = 563,722,846,208 a layer. Bytes: the
    // 3,000 latents it may pick read and its 3,000 written (1,152 B each), q (16 x 576) in and o (16 x 512) out at bf16
    // (34,816 a token): 3,000 x (2 x 1,152 + 34,816) = 111,360,000
    const StepCost s = CostModel(deepseek_v32(), h200, c).step({{3000, 0}});
    EXPECT_DOUBLE_EQ(s.op("attention_sparse")->flops, 61 * 563'722'846'208.0);
    EXPECT_DOUBLE_EQ(s.op("attention_sparse")->bytes, 61 * 111'360'000.0);
    EXPECT_EQ(s.op("attention")->flops, 0.0);
    // At fp8 and TP 2 a rank has 64 heads (>= 32): the bf16 kernel (64 heads) over a bf16 copy of the context, which is
    // written and read (2 x 3,000 x 576 x 2 B = 6,912,000); latents of 656 B; q and o of 64 heads (139,264 a token):
    // 3,000 x (2 x 656 + 139,264) + 6,912,000 = 428,640,000
    c.tp = 2;
    c.kv_dtype = Dtype::FP8;
    const OpCost a = *CostModel(deepseek_v32(), h200, c).step({{3000, 0}}).op("attention_sparse");
    EXPECT_DOUBLE_EQ(a.flops, 61 * 563'722'846'208.0);
    EXPECT_DOUBLE_EQ(a.bytes, 61 * 428'640'000.0);
    // the bf16 kernel pads to a multiple of 128 heads on Blackwell: twice the FLOPs on B200
    EXPECT_DOUBLE_EQ(CostModel(deepseek_v32(), load_gpu("b200"), c).step({{3000, 0}}).op("attention_sparse")->flops,
                     61 * 2.0 * 563'722'846'208.0);
    // and below 32 heads a rank (TP 8) the fp8 kernel takes them all, padded to 64, with no copy:
    // 3,000 x (2 x 656 + 34,816) = 108,384,000
    c.tp = 8;
    EXPECT_DOUBLE_EQ(CostModel(deepseek_v32(), h200, c).step({{3000, 0}}).op("attention_sparse")->bytes, 61 * 108'384'000.0);
}

TEST(CostModel, QkvProjRunsTheKvHeadsARankReplicates) {
    // Llama-3.1-70B: 64 q heads and 8 KV heads of 128, hidden 8,192. At TP 16 a rank holds 4 q heads and one whole
    // KV head (vLLM replicates KV heads when TP exceeds them): n = (4 + 2) x 128 = 768, where a split gives 640
    CostConfig c;
    c.tp = 16;
    c.cuda_graphs = false;
    const StepCost s = model("meta-llama/Llama-3.1-70B-Instruct", "h200", c).step({{10, 0}});
    EXPECT_DOUBLE_EQ(s.op("qkv_proj")->flops, 80 * 2.0 * 10 * 768 * 8192);
    c.tp = 8;  // 8 q heads and 1 KV head a rank, split evenly: (8 + 2) x 128 = 1,280
    EXPECT_DOUBLE_EQ(model("meta-llama/Llama-3.1-70B-Instruct", "h200", c).step({{10, 0}}).op("qkv_proj")->flops,
                     80 * 2.0 * 10 * 1280 * 8192);
}

TEST(CostModel, QkNormsOverAllHeadsAllReduceTheirVariances) {
    // MiniMax-M2's q and k norms span all heads: at TP > 1 each layer all-reduces two fp32 variances a token (vLLM's
    // MiniMaxText01RMSNormTP.forward_qk): 62 all-reduces of 100 x 8 B for 100 tokens, none at TP 1 or for Qwen3
    ModelCard m = load_model("Qwen/Qwen3-8B");
    CostConfig c;
    c.tp = 4;
    c.cuda_graphs = false;
    EXPECT_EQ(CostModel(m, load_gpu("h100"), c).step({{100, 0}}).op("qk_norm_allreduce"), nullptr);
    m.qk_norm_across_heads = true;
    const StepCost s = CostModel(m, load_gpu("h100"), c).step({{100, 0}});
    const OpCost* qk = s.op("qk_norm_allreduce");
    ASSERT_NE(qk, nullptr);
    EXPECT_EQ(qk->count, 36);
    EXPECT_DOUBLE_EQ(qk->bytes, 36 * 800.0);
    EXPECT_EQ(qk->bound, Bound::COMMUNICATION);
    // the same all-reduce as the layer's activations, on a smaller message
    EXPECT_LT(qk->time_s, s.op("tp_allreduce")->time_s / 72.0 * 36.0);
    c.tp = 1;
    EXPECT_EQ(CostModel(m, load_gpu("h100"), c).step({{100, 0}}).op("qk_norm_allreduce"), nullptr);
}

// With attention fits in the calibration, a step's attention is the prefill fit's time for its chunks plus the
// decode fit's for its decodes, one launch less (one varlen call), per layer. By hand, with p = 1 (the smooth max
// a plain sum) and no wave term, Llama-3.1-8B on H100 (32 heads, 8 KV heads of 128, 32 layers):
//   a decode at context 1,023: 1,024 keys x 4,096 B + 4,096 B written + (4,096 + 4,096) x 2 B of q and o
//     = 4,214,784 B; 2 x 32 x 256 x 1,024 FLOPs; 8 items (its KV heads)
//   a 300-token prompt: 600 x 4,096 B of K/V + 300 x 8,192 x 2 B = 7,372,800 B; 45,150 keys seen,
//     x 32 heads = 1,444,800 scores, x 2 x 256 FLOPs each
TEST(CostModel, AttentionFitsPriceTheCallByTheirClosedForms) {
    auto cal = std::make_shared<Calibration>(*shipped_calibration("h100-sxm"));
    AttentionCalibration& pre = cal->prefill_attention;
    AttentionCalibration& dec = cal->decode_attention;
    pre = {};
    dec = {};
    pre.launch_s = 12e-6;
    pre.compute_efficiency = 0.5;
    pre.memory_efficiency = 0.4;
    pre.blend_exponent = 1.0;
    pre.score_flops = 200;
    dec.launch_s = 10e-6;
    dec.memory_efficiency = 0.8;
    dec.blend_exponent = 1.0;
    dec.item_s = 20e-9;
    CostConfig c;
    c.calibration = cal;
    const GpuProfile gpu = load_gpu("h100");
    const double peak = 989e12, hbm = 3.35e12;
    ASSERT_DOUBLE_EQ(gpu.peak_flops(Dtype::BF16), peak);
    ASSERT_DOUBLE_EQ(gpu.memory_bandwidth_bytes_per_s(), hbm);
    const double dec_flops = 2.0 * 32 * 256 * 1024, dec_bytes = 4'214'784.0;
    const double pre_scores = 1'444'800.0, pre_flops = pre_scores * 2 * 256, pre_bytes = 7'372'800.0;
    const double dec_s = 10e-6 + dec_bytes / (hbm * 0.8) + 8 * 20e-9 + dec_flops / (peak * 0.5);
    const double pre_s = 12e-6 + (pre_flops + pre_scores * 200) / (peak * 0.5) + pre_bytes / (hbm * 0.4);
    const CostModel cm = model("meta-llama/Llama-3.1-8B-Instruct", "h100", c);
    EXPECT_NEAR(cm.step({{1, 1023}}).op("attention")->time_s, 32 * dec_s, 1e-12);
    EXPECT_NEAR(cm.step({{300, 0}}).op("attention")->time_s, 32 * pre_s, 1e-12);
    const OpCost mixed = *cm.step({{1, 1023}, {300, 0}}).op("attention");
    EXPECT_NEAR(mixed.time_s, 32 * (dec_s + pre_s - 10e-6), 1e-12);
    EXPECT_DOUBLE_EQ(mixed.bytes, 32 * (dec_bytes + pre_bytes));
    // without the fits the same calibration prices attention as before (no fixed cost, the GEMM fit's rates)
    cal->prefill_attention = {};
    cal->decode_attention = {};
    const double plain = cm.step({{1, 1023}}).op("attention")->time_s;
    EXPECT_LT(plain, 32 * dec_s / 2);
}

// FlashAttention 2's paged prefills run 64-row tiles (flash_attention_query_tile): on L40S a 300-token
// prompt of Llama-3.1-8B is ceil(300 / 64) = 5 tiles x 32 heads = 160 work items a layer, where H100
// counts ceil(300 / 128) = 3 x 32 = 96. With a prefill fit of only a time per item (1 us; the compute and
// memory terms made negligible, p = 1: the terms add), each layer's attention is that many microseconds.
TEST(CostModel, Fa2PrefillsCountSixtyFourRowTiles) {
    using Case = std::pair<const char*, double>;
    for (const auto& [gpu_name, items] : {Case{"l40s", 160.0}, Case{"h100-sxm", 96.0}}) {
        auto cal = std::make_shared<Calibration>(*shipped_calibration(gpu_name));
        AttentionCalibration& pre = cal->prefill_attention;
        pre = {};
        pre.compute_efficiency = 1e12, pre.memory_efficiency = 1e12, pre.blend_exponent = 1.0;
        pre.item_s = 1e-6;
        CostConfig c;
        c.calibration = cal;
        const CostModel cm = model("meta-llama/Llama-3.1-8B-Instruct", gpu_name, c);
        EXPECT_NEAR(cm.step({{300, 0}}).op("attention")->time_s, 32 * items * 1e-6, 1e-9) << gpu_name;
    }
}

namespace {

// `seqs` decodes at `context` cached keys of a layer of `heads` query heads over `kv` KV heads of `dim`, bf16
// KV (or `elem` bytes an element).
AttentionWork decode_work(double heads, double kv, double dim, int64_t seqs, int64_t context,
                          double elem = 2) {
    const double kv_bytes = kv * dim * 2.0 * elem;  // K and V of a token
    const double q = heads * dim;
    const AttentionShape shape{heads, kv, 4.0 * q, kv_bytes, q, q, 0, false, elem};
    AttentionWork dc, pf;
    for (int64_t i = 0; i < seqs; ++i) add_attention_work(shape, SequenceWork{1, context}, dc, pf);
    return dc;
}

}  // namespace

// Which kernel steps FlashAttention 2 takes for a decode (decode_dispatch), on A100's 108 SMs (0.8 x 108 =
// 86.4 blocks fill them).
TEST(CostModel, DecodeDispatchFollowsFlashAttention2) {
    const GpuProfile a100 = load_gpu("a100-80gb");
    auto d = [&](double heads, double kv, double dim, int64_t seqs, int64_t context) {
        return decode_dispatch(a100, decode_work(heads, kv, dim, seqs, context));
    };
    // Llama-2-7B's 32 heads over 32 KV heads: one query head a KV head, read unsplit, never repacked or split
    EXPECT_TRUE(d(32, 32, 128, 1, 4000).unsplit);
    EXPECT_FALSE(d(32, 32, 128, 2, 4000).repack);
    EXPECT_FALSE(d(32, 32, 128, 1, 4000).split);
    // Llama-3.1-8B's 32 over 8: one sequence is not repacked (its query heads already lie grouped), two are;
    // 2,001 keys > one block of 128 with 8 or 16 blocks: split; 16 sequences make 128 blocks >= 86.4: not
    // split
    EXPECT_FALSE(d(32, 8, 128, 1, 2000).repack);
    EXPECT_TRUE(d(32, 8, 128, 1, 2000).split);
    EXPECT_TRUE(d(32, 8, 128, 2, 2000).repack);
    EXPECT_TRUE(d(32, 8, 128, 2, 2000).split);
    EXPECT_FALSE(d(32, 8, 128, 16, 2000).split);
    EXPECT_FALSE(d(32, 8, 128, 1, 127).split);  // 128 keys: one block
    EXPECT_TRUE(d(32, 8, 128, 1, 128).split);   // 129
    EXPECT_FALSE(d(32, 8, 128, 1, 2000).unsplit);
    // head_dim 64 takes blocks of 256 keys, 256 blocks of 64
    EXPECT_FALSE(d(32, 8, 64, 1, 255).split);
    EXPECT_TRUE(d(32, 8, 64, 1, 256).split);
    EXPECT_TRUE(d(32, 8, 256, 1, 64).split);
    // one KV head: nothing to repack for any batch
    EXPECT_FALSE(d(32, 1, 128, 4, 2000).repack);
    // a group of 128 query heads takes two 64-row blocks: 50 sequences x 1 KV head x 2 = 100 blocks, not
    // split; a group of 64 takes one: 50 blocks, split
    EXPECT_FALSE(d(128, 1, 128, 50, 2000).split);
    EXPECT_TRUE(d(64, 1, 128, 50, 2000).split);
    // an fp8 KV cache runs another kernel (FlashInfer's on Ada): none of FA2's terms
    const DecodeDispatch fp8 = decode_dispatch(a100, decode_work(32, 8, 128, 2, 2000, 1));
    EXPECT_FALSE(fp8.repack || fp8.split || fp8.unsplit);
    EXPECT_FALSE(decode_dispatch(a100, decode_work(32, 32, 128, 1, 4000, 1)).unsplit);
    // nor MLA's latent KV (its own kernels): DeepSeek-V2-Lite's 16 heads over the one latent, split or not
    AttentionShape mla{16, 1, 2.0 * 16 * (128 + 64 + 128), 576 * 2.0, 16 * 192, 16 * 128, 0, false, 2, true};
    AttentionWork dc, pf;
    add_attention_work(mla, SequenceWork{1, 2000}, dc, pf);
    const DecodeDispatch latent = decode_dispatch(a100, dc);
    EXPECT_FALSE(latent.repack || latent.split || latent.unsplit);
    dc.latent = false;  // the same work read as one KV head of a GQA layout would split
    EXPECT_TRUE(decode_dispatch(a100, dc).split);
    // the same read back from a table's KV bytes a key (decode_kv_work): 8 KV heads x 128 x K and V x 1 B
    EXPECT_FALSE(decode_dispatch(a100, decode_kv_work(2, 2001, 2048, 8, 32, 128)).split);
    EXPECT_TRUE(decode_dispatch(a100, decode_kv_work(2, 2001, 4096, 8, 32, 128)).split);
}

TEST(CostModel, PrefillKeysSplitAsFlashAttentionSplitsThem) {
    // 8 work items on 132 SMs (H100), keys of 21,004 (165 blocks of 128): s splits fill 8 s / 132 of a wave;
    // the best is s = 33 (264 / 132 = 2 whole waves, 1.0), and the fewest within 85% of it is s = 15 (120 / 132
    // = 0.909; s = 14 gives 112 / 132 = 0.848)
    EXPECT_EQ(prefill_kv_splits(8, 21004, 132), 15.0);
    // 64 items, 1,024 keys (8 blocks): at most 8 splits; 2 give 128 / 132 = 0.970, the best (4 give 256 / 264)
    EXPECT_EQ(prefill_kv_splits(64, 1024, 132), 2.0);
    EXPECT_EQ(prefill_kv_splits(200, 21004, 132), 1.0);  // 200 items fill 0.8 of the SMs
    EXPECT_EQ(prefill_kv_splits(8, 512, 132), 1.0);      // 4 blocks of keys: never split
    EXPECT_EQ(prefill_kv_splits(0, 21004, 132), 1.0);

    // In the calibrated prefill time: with only the compute term (no launch, bytes or item cost, wave exponent 1)
    // a call of 8 items over 21,004 keys fills 120 / 132 of the SMs; over 100 keys, 8 / 132
    const GpuProfile h100 = load_gpu("h100");
    AttentionCalibration c;
    c.compute_efficiency = 1.0, c.memory_efficiency = 1.0, c.wave_exponent = 1.0, c.blend_exponent = 2.5;
    AttentionWork w;
    w.flops = 1e12, w.items = 8, w.longest_keys = 21004;
    const double peak_s = 1e12 / h100.peak_flops(Dtype::BF16);
    EXPECT_NEAR(calibrated_prefill_attention_s(h100, c, w), peak_s * 132.0 / 120.0, 1e-12);
    w.longest_keys = 100;
    EXPECT_NEAR(calibrated_prefill_attention_s(h100, c, w), peak_s * 132.0 / 8.0, 1e-12);
    // the work of a 25-token chunk after 20,979 cached tokens carries its sequence's 21,004 keys
    AttentionShape gqa{32, 8, 4.0 * 32 * 128, 2.0 * 8 * 128 * 2, 32 * 128, 32 * 128, 0, false};
    AttentionWork dc, pf;
    add_attention_work(gqa, SequenceWork{25, 20979}, dc, pf);
    EXPECT_EQ(pf.longest_keys, 21004.0);
    EXPECT_EQ(pf.items, 32.0);  // one 128-query tile x 32 heads
    // a prompt without a cached context leaves it 0: the prefill fit's wave term, fitted on such prompts, stands
    AttentionWork dc2, pf2;
    add_attention_work(gqa, SequenceWork{4096, 0}, dc2, pf2);
    EXPECT_EQ(pf2.longest_keys, 0.0);
}

// The decode fit's kernel terms by hand, on A100.
TEST(CostModel, CalibratedDecodeAddsItsKernelTerms) {
    const GpuProfile gpu = load_gpu("a100-80gb");
    const double hbm = gpu.memory_bandwidth_bytes_per_s();
    AttentionCalibration pre, dec;
    pre.compute_efficiency = 1e9;  // no compute term
    dec.launch_s = 10e-6;
    dec.memory_efficiency = 1.0;
    dec.blend_exponent = 2.0;
    dec.unsplit_bytes_per_s = 24e9;
    dec.repack_s = 6e-6;
    dec.combine_s = 5e-6;
    // Llama-2-7B, one decode at 4,000 cached keys: 4,001 keys of 32 heads x 128 x K and V x 2 B = 16,384 B a
    // key, 65,552,384 B, the new key written (16,384 B), q in and o out (2 x 4,096 x 2 B): 65,585,152 B over
    // HBM. One block reads one head's 4,001 x 512 = 2,048,512 B at 24 GB/s: 85.4 us, against 32 us at A100's
    // 2.04 TB/s.
    const AttentionWork mha = decode_work(32, 32, 128, 1, 4000);
    EXPECT_DOUBLE_EQ(mha.bytes, 65585152.0);
    EXPECT_DOUBLE_EQ(mha.longest_item_bytes, 2048512.0);
    EXPECT_NEAR(calibrated_decode_attention_s(gpu, dec, pre, mha),
                10e-6 + std::hypot(65585152.0 / hbm, 2048512.0 / 24e9), 1e-15);
    // Llama-3.1-8B, two decodes at 2,000: repacked and split, both terms on top of the smooth max of the KV
    // and the items (none here)
    const AttentionWork gqa = decode_work(32, 8, 128, 2, 2000);
    EXPECT_NEAR(calibrated_decode_attention_s(gpu, dec, pre, gqa), 10e-6 + gqa.bytes / hbm + 6e-6 + 5e-6,
                1e-15);
    // a calibration without the terms (written before them) prices both as before
    dec.unsplit_bytes_per_s = dec.repack_s = dec.combine_s = 0;
    EXPECT_NEAR(calibrated_decode_attention_s(gpu, dec, pre, mha), 10e-6 + 65585152.0 / hbm, 1e-15);
    EXPECT_NEAR(calibrated_decode_attention_s(gpu, dec, pre, gqa), 10e-6 + gqa.bytes / hbm, 1e-15);
}

TEST(CostModel, FusedMoeFitPricesTheRoutedExpertsCall) {
    // Mixtral-8x7B at TP 2 on H100 SXM with a fused-MoE fit for bf16 experts (calibration.hpp): a 64-token
    // prompt under balanced routing sends 128 pairs to all 8 experts' slices (inter 7,168 a GPU). By hand:
    // FLOPs 2 x 3 x 4,096 x 7,168 x 128 = 22,548,578,304 at 989 TFLOP/s; weights 8 x 3 x 4,096 x 7,168 x 2 =
    // 1,409,286,144 bytes at 3.35 TB/s; pair bytes (3 x 4,096 + 6 x 7,168) x 2 x 128 = 14,155,776, counted as
    // this GPU's pairs and as all pairs. The three MoE ops of a layer add up to the fit's time.
    auto cal = std::make_shared<Calibration>(*shipped_calibration("h100-sxm"));
    cal->moe.clear();
    cal->moe["bf16"] = {40e-6, 1.3, 1.1, 0.6, 0.9};
    CostConfig c;
    c.tp = 2;
    c.calibration = cal;
    c.moe_routing = {MoeRouting::Kind::BALANCED, 0.0};
    auto moe_layer_s = [](const StepCost& s) {
        double t = 0;
        for (const OpCost& o : s.ops) {
            if (o.kind == OpKind::MOE_GATE_UP_PROJ || o.kind == OpKind::ACTIVATION_MOE ||
                o.kind == OpKind::MOE_DOWN_PROJ)
                t += o.time_s / static_cast<double>(o.count);
        }
        return t;
    };
    const double hbm = 3.35e12;
    const double expected =
        40e-6 + 1.3 * 22548578304.0 / 989e12 + 1.1 * 1409286144.0 / hbm + (0.6 + 0.9) * 14155776.0 / hbm;
    const CostModel tp2 = model("mistralai/Mixtral-8x7B-v0.1", "h100-sxm", c);
    ASSERT_NE(tp2.moe_fit(), nullptr);
    EXPECT_EQ(tp2.moe_format(), "bf16");
    EXPECT_NEAR(moe_layer_s(tp2.step({{64, 0}})), expected, 1e-12);
    // DP 2 x EP 2: whole experts, 4 a GPU; each rank's 64 tokens x top-2 over both ranks, 128 pairs on the
    // busiest GPU (balanced: exactly half). With a dispatch backend (DeepEP) they are sent to it, so the pairs
    // it sorts are those 128. FLOPs 2 x 3 x 4,096 x 14,336 x 128 = 45,097,156,608; weights 4 x 3 x 4,096 x
    // 14,336 x 2 = 1,409,286,144; pair bytes (3 x 4,096 + 6 x 14,336) x 2 x 128 = 25,165,824
    c.tp = 1, c.dp = 2, c.ep = 2;
    c.ep_gather = false;
    const CostModel dpep = model("mistralai/Mixtral-8x7B-v0.1", "h100-sxm", c);
    EXPECT_NEAR(
        moe_layer_s(dpep.step({{64, 0}})),
        40e-6 + 1.3 * 45097156608.0 / 989e12 + 1.1 * 1409286144.0 / hbm + (0.6 + 0.9) * 25165824.0 / hbm,
        1e-12);
    // vLLM's default gather backend: both ranks' 128 tokens on every GPU, whose call sorts all 256 pairs
    // (50,331,648 pair bytes) and computes its 128
    c.ep_gather = true;
    const CostModel gathered = model("mistralai/Mixtral-8x7B-v0.1", "h100-sxm", c);
    EXPECT_NEAR(moe_layer_s(gathered.step({{64, 0}})),
                40e-6 + 1.3 * 45097156608.0 / 989e12 + 1.1 * 1409286144.0 / hbm + 0.6 * 25165824.0 / hbm +
                    0.9 * 50331648.0 / hbm,
                1e-12);
    // the fit of another format leaves bf16 experts on the roofline's grouped GEMMs, as without a
    // calibration's fit
    cal->moe.clear();
    cal->moe["fp8"] = {40e-6, 1.3, 1.1, 0.6, 0.9};
    c.tp = 2, c.dp = 1, c.ep = 1;
    const CostModel other = model("mistralai/Mixtral-8x7B-v0.1", "h100-sxm", c);
    EXPECT_EQ(other.moe_fit(), nullptr);
    EXPECT_GT(std::fabs(moe_layer_s(other.step({{64, 0}})) - expected), 1e-6);
}

TEST(CostModel, AllReduceOverAGroupTheCalibrationDidNotTimeRunsTheRing) {
    // A calibration that fits all-reduces over 2 and 4 GPUs only (GB200's without the 8-GPU line it takes
    // from B200's NCCL rows, below): TP 8 takes the ring on the profile's NVLink, and says so: 2 (8 - 1) = 14
    // steps of 2 us plus 14 / 8 x 8,192 bytes (one decode of Llama-3.1-8B: 4,096 bf16 values) at 1,800 / 2
    // GB/s x 0.8 = 720 GB/s, 28 us + 19.9 ns, 64 of them a step (two a layer, 32 layers)
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile gpu = load_gpu("gb200");
    ASSERT_DOUBLE_EQ(gpu.nvlink_bidirectional_gb_per_s.value, 1800.0);
    ASSERT_DOUBLE_EQ(gpu.nvlink_latency_us.value, 2.0);
    ASSERT_DOUBLE_EQ(gpu.interconnect_efficiency.value, 0.8);
    const auto shipped = shipped_calibration("gb200");
    ASSERT_EQ(shipped->allreduce.count(8), 1u);
    auto cal = std::make_shared<Calibration>(*shipped);
    cal->allreduce.erase(8);
    ASSERT_EQ(cal->allreduce.count(4), 1u);
    CostConfig c;
    c.calibration = cal;
    c.tp = 8;
    const StepCost s8 = CostModel(m, gpu, c).step({{1, 999}});
    const OpCost* ring = s8.op("tp_allreduce");
    ASSERT_NE(ring, nullptr);
    EXPECT_EQ(ring->count, 64);
    EXPECT_NEAR(ring->time_s, 64 * (14 * 2e-6 + 14.0 / 8.0 * 8192.0 / 720e9), 1e-12);
    EXPECT_EQ(ring->source,
              "roofline: a ring on the profile's NVLink (the calibration fits no 8-GPU all-reduce)");
    // TP 4: the calibration's own line for 4 GPUs, under its label: 8 KiB, below the custom all-reduce's 2
    // MiB on Blackwell at 4 GPUs, takes that path's line
    c.tp = 4;
    const StepCost s4 = CostModel(m, gpu, c).step({{1, 999}});
    const OpCost* fit = s4.op("tp_allreduce");
    const CommLine& line = cal->allreduce.at(4).paths[static_cast<size_t>(VllmAllreduce::Path::CUSTOM)];
    ASSERT_TRUE(line.present());
    EXPECT_NEAR(fit->time_s, 64 * (line.latency_s + 8192.0 / line.bus_bytes_per_s), 1e-12);
    EXPECT_EQ(fit->source, cal->label());
    // the shipped calibration at TP 8: its line fitted on B200's 8-GPU NCCL rows, 27.19 us + 8,192 B at 334
    // GB/s
    c.calibration = shipped;
    c.tp = 8;
    const StepCost s8n = CostModel(m, gpu, c).step({{1, 999}});
    const OpCost* nccl = s8n.op("tp_allreduce");
    EXPECT_NEAR(nccl->time_s, 64 * (27.1874e-6 + 8192.0 / 333.978e9), 1e-12);
    EXPECT_EQ(nccl->source, shipped->label());
}
