// The kernel-table predictor: measured ops from the tables, the rest from the roofline, sources named.
#include <gtest/gtest.h>

#include <cmath>

#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/kv_planner.hpp"

using namespace headroom;

namespace {

const char* TABLES = R"(# headroom kernel tables v1
gpu test_gpu
device Test GPU
source hand-written
table gemm framework=vllm-9.9 dtype=bf16 kernel=linear
axis m 1 1024
axis n 32 262144
axis k 32 65536
data
0.01 0.02
0.03 0.04
1 2
3 4
end
)";

// The GEMM table above at m = 1024, log-log in n and k (ms).
double gemm_1024_ms(double n, double k) {
    const double wn = std::log(n / 32) / std::log(262144.0 / 32), wk = std::log(k / 32) / std::log(65536.0 / 32);
    return std::exp((1 - wn) * (1 - wk) * std::log(1.0) + (1 - wn) * wk * std::log(2.0) + wn * (1 - wk) * std::log(3.0) +
                    wn * wk * std::log(4.0));
}

}  // namespace

TEST(KernelTablePredictor, SharedExpertsBesideTheFusedMoeTable) {
    // DeepSeek-V2-Lite: 26 MoE layers (the first is dense), 64 routed experts of 1408, top-6, and 2 shared
    // experts (one dense MLP of 2 x 1408 = 2816), hidden 2048. The fused-MoE table says 0.5 ms per layer at
    // 1024 tokens; the shared MLP's GEMMs come from the GEMM table: gate_up 1024 x 5632 x 2048 and down
    // 1024 x 2048 x 2816; its activation is the roofline's, in proportion: 1024 x 2816 of the
    // 1024 x 6 x 1408 + 1024 x 2816 elements the roofline's op counts.
    const std::string text = std::string(TABLES) + R"(table moe framework=vllm-9.9 kernel=fused dtype=bf16 hidden=2048 inter=1408 topk=6 experts=64 tp=1 ep=1 distribution=balanced
axis num_tokens 1 1024
data
0.1 0.5
end
)";
    const ModelCard m = load_model("deepseek-ai/DeepSeek-V2-Lite");
    ASSERT_EQ(m.shared_expert_intermediate_size, 2816);
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    const KernelTablePredictor p(m, load_gpu("h100"), CostConfig{}, tables);
    const CostModel roof(m, load_gpu("h100"), CostConfig{});
    const std::vector<SequenceWork> batch = {{1024, 0}};
    const StepCost s = p.step(batch);
    const double act_share = 2816.0 / (6 * 1408.0 + 2816.0);
    const double expected = 26 * 0.5e-3 + 26 * (gemm_1024_ms(5632, 2048) + gemm_1024_ms(2048, 2816)) * 1e-3 +
                            roof.step(batch).op("activation_moe")->time_s * act_share;
    double moe = 0;
    for (const char* op : {"moe_gate_up_proj", "activation_moe", "moe_down_proj"}) {
        ASSERT_TRUE(s.op(op)) << op;
        EXPECT_NE(s.op(op)->source.find("table"), std::string::npos) << op;
        moe += s.op(op)->time_s;
    }
    EXPECT_NEAR(moe, expected, 1e-9);
    EXPECT_NEAR(p.step_totals(batch).time_s, s.time_s, 1e-12);
}

TEST(KernelTablePredictor, GemmsComeFromTheTableAndTheRestFromTheRoofline) {
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile gpu = load_gpu("h100");
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(TABLES, "t.hkt"));
    const KernelTablePredictor p(m, gpu, CostConfig{}, tables);
    const CostModel roof(m, gpu, CostConfig{});
    const std::vector<SequenceWork> batch = {{1024, 0}};
    const StepCost s = p.step(batch), r = roof.step(batch);
    ASSERT_EQ(s.ops.size(), r.ops.size());
    // qkv_proj: m = 1024, n = 6144, k = 4096. Log-log between n 32..262144 and k 32..65536:
    // t = exp(sum of w log v) over the 4 corners at m = 1024, with wn = log(6144/32)/log(262144/32),
    // wk = log(4096/32)/log(65536/32); times 32 layers.
    const double wn = std::log(6144.0 / 32) / std::log(262144.0 / 32), wk = std::log(4096.0 / 32) / std::log(65536.0 / 32);
    const double one = std::exp((1 - wn) * (1 - wk) * std::log(1.0) + (1 - wn) * wk * std::log(2.0) +
                                wn * (1 - wk) * std::log(3.0) + wn * wk * std::log(4.0)) * 1e-3;
    const OpCost* q = s.op("qkv_proj");
    ASSERT_TRUE(q);
    EXPECT_NEAR(q->time_s, 32 * one, 1e-12);
    EXPECT_EQ(q->source, "table (vLLM 9.9, Test GPU, interpolated)");
    EXPECT_DOUBLE_EQ(q->roofline_s, r.op("qkv_proj")->time_s);
    // no attention table in this file: the roofline's attention, and said so
    EXPECT_DOUBLE_EQ(s.op("attention")->time_s, r.op("attention")->time_s);
    EXPECT_EQ(s.op("attention")->source, "roofline");
    // lm_head n = 128256 lies inside this table's n axis; m = 1 sequence
    EXPECT_NE(s.op("lm_head")->source.find("table"), std::string::npos);
    // the hot path agrees with the breakdown
    EXPECT_NEAR(p.step_totals(batch).time_s, s.time_s, 1e-12);
    double sum = 0;
    for (const OpCost& o : s.ops) sum += o.time_s;
    EXPECT_NEAR(s.time_s, sum, 1e-12);
}

TEST(KernelTablePredictor, ExtrapolatesLinearlyPastTheLargestMeasuredRows) {
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(TABLES, "t.hkt"));
    const KernelTablePredictor p(m, load_gpu("h100"), CostConfig{}, tables);
    // 2048 rows: twice the 1024-row time (linear in m past the table), and the source says so
    const double t1 = p.step({{1024, 0}}).op("o_proj")->time_s, t2 = p.step({{2048, 0}}).op("o_proj")->time_s;
    EXPECT_NEAR(t2, 2.0 * t1, 1e-12);
    EXPECT_NE(p.step({{2048, 0}}).op("o_proj")->source.find("extrapolated"), std::string::npos);
}

TEST(KernelTablePredictor, AutoPicksTablesWhereTheyShipAndTheRooflineElsewhere) {
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100"), CostConfig{})->name(), "kernel tables");
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100"), CostConfig{}, "roofline")->name(), "roofline");
    // no tables for the PCIe card: the calibration carried over from the SXM part's tables
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100-pcie"), CostConfig{})->name(), "roofline (calibrated, derived from h100-sxm)");
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100-pcie"), CostConfig{}, "roofline")->name(), "roofline");
    EXPECT_THROW(make_step_predictor(m, load_gpu("h100-pcie"), CostConfig{}, "tables"), PlanError);
    EXPECT_THROW(make_step_predictor(m, load_gpu("h100"), CostConfig{}, "magic"), PlanError);
    // On the shipped H100 tables every GEMM and the attention of Llama-3.1-8B are measured ops
    const auto p = make_step_predictor(m, load_gpu("h100"), CostConfig{});
    const StepCost s = p->step({{512, 0}, {1, 1000}, {1, 3000}});
    for (const char* op : {"qkv_proj", "o_proj", "gate_up_proj", "down_proj", "attention", "lm_head"}) {
        EXPECT_EQ(s.op(op)->source.rfind("table (vLLM 0.24.0, NVIDIA H100 80GB HBM3", 0), 0u) << op << ": " << s.op(op)->source;
    }
    EXPECT_EQ(s.op("input_norm")->source, "roofline (calibrated)");  // not in the tables: H100's calibrated roofline
}
