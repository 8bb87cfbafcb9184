// The kernel-table predictor: measured ops from the tables, the rest from the roofline, sources named.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"

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

// The GEMM table above at m = 1024, bilinear in n and k (ms): weights (n - 32) / (262144 - 32) and
// (k - 32) / (65536 - 32) on the corners 1, 2 (k = 65536), 3 (n = 262144) and 4.
double gemm_1024_ms(double n, double k) {
    const double wn = (n - 32) / (262144.0 - 32), wk = (k - 32) / (65536.0 - 32);
    return (1 - wn) * (1 - wk) * 1.0 + (1 - wn) * wk * 2.0 + wn * (1 - wk) * 3.0 + wn * wk * 4.0;
}

// An all-reduce table of TP 2 in the .hkt layout: `kind` "graph" or "eager" (vLLM's custom all-reduce) or
// "nccl"; message sizes in elements, times in ms.
std::string allreduce_table(const std::string& kind, const std::string& sizes, const std::string& ms) {
    const std::string head = kind == "nccl" ? "nccl framework=nccl-9.9 op=all_reduce gpus=2 dtype=fp16"
                                            : "vllm_allreduce framework=vllm-9.9 op=all_reduce gpus=2 mode=" + kind;
    return "table " + head + "\naxis message_size " + sizes + "\ndata\n" + ms + "\nend\n";
}

// Llama-3.1-8B at TP 2 (hidden 4,096: two all-reduces a layer, 64 a step, of tokens x 4,096 elements) on H100,
// timed from the hand GEMM table and the given all-reduce tables.
struct Tp2AllReduce {
    ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    std::shared_ptr<const KernelTables> tables;
    explicit Tp2AllReduce(const std::string& rows)
        : tables(std::make_shared<const KernelTables>(parse_kernel_tables(std::string(TABLES) + rows, "t.hkt"))) {}
    KernelTablePredictor predictor(CostConfig c) const {
        c.tp = 2;
        return KernelTablePredictor(m, load_gpu("h100"), c, tables);
    }
};

// The fused MoE kernel's time in a step: its three ops together.
double moe_s(const StepCost& s) {
    double t = 0;
    for (const char* op : {"moe_gate_up_proj", "activation_moe", "moe_down_proj"}) t += s.op(op)->time_s;
    return t;
}

// gpt-oss-20b's attention layout (64 query and 8 KV heads of 64 at TP 1) timed with `window` (0: none): a
// prefill table at 1-2 prompts of 128 and 4,096 tokens (0.01 / 0.3 ms, twice that for 2) and a decode table
// at 1 and 16 sequences, steps 1 and `last_step` (0.01 / 0.02 ms; 0.03 / 0.04 ms), and the predictor on H100
// reading them.
KernelTablePredictor gpt_oss_on(int window, int last_step) {
    const std::string layout =
        "framework=vllm-9.9 kernel=fa3 kv_dtype=bf16 window=" + std::to_string(window) +
        " heads=64 kv_heads=8 head_dim=64\n";
    const std::string text = std::string(TABLES) + "table prefill_attention " + layout +
                             "axis batch_size 1 2\naxis isl 128 4096\ndata\n0.01 0.3\n0.02 0.6\nend\n" +
                             "table decode_attention " + layout + "axis batch_size 1 16\naxis step 1 " +
                             std::to_string(last_step) + "\ndata\n0.01 0.02\n0.03 0.04\nend\n";
    return KernelTablePredictor(load_model("openai/gpt-oss-20b"), load_gpu("h100"), CostConfig{},
                                std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt")));
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
    // qkv_proj: m = 1024, n = 6144, k = 4096: bilinear in n and k (gemm_1024_ms); times 32 layers.
    const double one = gemm_1024_ms(6144, 4096) * 1e-3;
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

// A table point timed with its weights in L2 is held to the table's fastest kernel plus streaming the weights
// from memory. Llama-3.2-1B decoding one sequence (m = 1) against a table that says 1 us everywhere:
// qkv_proj's 3,072 x 2,048 bf16 weights are 12,582,912 bytes, a working set of 6 x (12,582,912 + 6,144) + 4,096 =
// 75,538,432 B (72.04 MiB); o_proj's 2,048 x 2,048 are 8,388,608 B, 6 x (8,388,608 + 4,096) + 4,096 = 50,360,320 B
// (48.03 MiB). On the L40S (96 MiB of L2, 864 GB/s, memory efficiency 0.85 without a calibration) both are
// warm: qkv 1 us + 12,582,912 / 734.4e9 = 18.1336 us a layer, o 1 us + 8,388,608 / 734.4e9 = 12.4224 us. With
// 60 MiB of L2 only o_proj is; with none given, neither.
TEST(KernelTablePredictor, L2WarmTablePointsAreHeldToStreamingTheWeights) {
    std::string flat = TABLES;  // the same grid, 1 us everywhere
    flat.replace(flat.find("0.01 0.02\n0.03 0.04\n1 2\n3 4\n"), 28, "0.001 0.001\n0.001 0.001\n0.001 0.001\n0.001 0.001\n");
    const ModelCard m = load_model("meta-llama/Llama-3.2-1B-Instruct");
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(flat, "t.hkt"));
    const std::vector<SequenceWork> batch = {{1, 100}};
    const double least = static_cast<double>(0.001f) * 1e-3;
    auto at = [&](double l2_mib) {
        GpuProfile gpu = load_gpu("l40s");
        gpu.l2_cache_mib.value = l2_mib;
        gpu.memory_efficiency.value = 0.85;
        const KernelTablePredictor p(m, gpu, CostConfig{}, tables);
        const StepCost s = p.step(batch);
        EXPECT_NEAR(p.step_totals(batch).time_s, s.time_s, 1e-12);
        return std::make_pair(*s.op("qkv_proj"), *s.op("o_proj"));
    };
    const auto [q96, o96] = at(96);
    EXPECT_NEAR(q96.time_s, 16 * (least + 12'582'912 / 734.4e9), 1e-12);
    EXPECT_NEAR(o96.time_s, 16 * (least + 8'388'608 / 734.4e9), 1e-12);
    EXPECT_NE(q96.source.find("timed with its weights in L2"), std::string::npos);
    const auto [q60, o60] = at(60);
    EXPECT_NEAR(q60.time_s, 16 * least, 1e-12);
    EXPECT_EQ(q60.source, "table (vLLM 9.9, Test GPU, interpolated)");
    EXPECT_NEAR(o60.time_s, 16 * (least + 8'388'608 / 734.4e9), 1e-12);
    const auto [q0, o0] = at(0);
    EXPECT_NEAR(o0.time_s, 16 * least, 1e-12);
}

// A decode-attention table timed with the step's KV in L2 is held likewise: Llama-3.1-8B (8 KV heads of 128,
// bf16: 4,096 B of K and V per token per layer), 8 decodes at context 1,000 read 8 x 1,001 keys = 32,800,768
// B a layer; on the L40S (96 MiB of L2, 864 GB/s, memory efficiency 0.85 without a calibration) against a
// table of 1 us: 1 us + 32,800,768 / 734.4e9 = 45.6645 us a layer, 32 layers. 64 decodes at 1,000 read
// 262,406,144 B: more than the L2, so no floor; but the lookup interpolates between the table's points held
// likewise (held_l2_warm_decodes): at 1 and 1,024 sequences of 1 key (4,096 B and 4,194,304 B, in L2) 1 us +
// 4,096 / 734.4e9 and 1 us + 4,194,304 / 734.4e9, at 131,072 keys (past the L2) 1 us. Linear in both axes, at
// batch weight 63 / 1,023 and step weight 1,000 / 131,071: 1 us + (1 - 1,000 / 131,071) (4,096 + 63 x 4,096)
// / 734.4e9 = 1 us + 260,143.985 / 734.4e9 = 1.354225 us a layer (the held points are stored as floats:
// within 6e-8 of it).
TEST(KernelTablePredictor, L2WarmDecodeAttentionIsHeldToStreamingTheKv) {
    const std::string text = std::string(TABLES) + R"(table decode_attention framework=vllm-9.9 kernel=vllm_flash_attn_fa2 kv_dtype=bf16 window=0 heads=32 kv_heads=8 head_dim=128
axis batch_size 1 1024
axis step 1 131072
data
0.001 0.001
0.001 0.001
end
)";
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    GpuProfile gpu = load_gpu("l40s");
    gpu.memory_efficiency.value = 0.85;
    const KernelTablePredictor p(m, gpu, CostConfig{}, tables);
    const double least = static_cast<double>(0.001f) * 1e-3;
    const OpCost a = *p.step(std::vector<SequenceWork>(8, SequenceWork{1, 1000})).op("attention");
    EXPECT_NEAR(a.time_s, 32 * (least + 32'800'768 / 734.4e9), 1e-12);
    EXPECT_NE(a.source.find("KV in L2"), std::string::npos);
    const OpCost b = *p.step(std::vector<SequenceWork>(64, SequenceWork{1, 1000})).op("attention");
    EXPECT_NEAR(b.time_s, 32 * (least + (262'144.0 - 262'144'000.0 / 131'071.0) / 734.4e9), 5e-12);
    EXPECT_EQ(b.source.find("KV in L2"), std::string::npos);
}

// held_l2_warm_decodes counts a table's own KV: fp8 K and V of 2 KV heads of 64 are 256 B a key, and a window
// of 512 caps the keys read. On the L40S (96 MiB = 100,663,296 B of L2, 734.4 GB/s at efficiency 0.85)
// against 2 us everywhere: 1 sequence at 100 keys reads 25,600 B (2 us + 34.858 ns), at 100,000 keys its
// window's 512 (131,072 B: 2 us + 178.475 ns); 4,096 sequences at 100 keys read 104,857,600 B, past the L2: 2
// us stands.
TEST(KernelTablePredictor, L2WarmDecodeTablePointsAreHeldByTheirOwnKv) {
    const KernelTables t = parse_kernel_tables(R"(# headroom kernel tables v1
gpu test_gpu
table decode_attention framework=vllm-9.9 kernel=k kv_dtype=fp8 window=512 heads=8 kv_heads=2 head_dim=64
axis batch_size 1 4096
axis step 100 100000
data
0.002 0.002
0.002 0.002
end
table prefill_attention framework=vllm-9.9 kernel=k kv_dtype=fp8 window=512 heads=8 kv_heads=2 head_dim=64
axis batch_size 1 4096
axis isl 100 100000
data
0.002 0.002
0.002 0.002
end
)",
                                               "t.hkt");
    GpuProfile gpu = load_gpu("l40s");
    gpu.memory_efficiency.value = 0.85;
    const GridTable held = held_l2_warm_decodes(t.tables[0], gpu, nullptr);
    const double least_ms = static_cast<double>(0.002f);
    EXPECT_NEAR(held.value_ms({0, 0}), least_ms + 25'600 / 734.4e9 * 1e3, 1e-9);
    EXPECT_NEAR(held.value_ms({0, 1}), least_ms + 131'072 / 734.4e9 * 1e3, 1e-9);
    EXPECT_EQ(held.value_ms({1, 0}), 0.002f);
    EXPECT_EQ(held.value_ms({1, 1}), 0.002f);
    EXPECT_EQ(held_l2_warm_decodes(t.tables[1], gpu, nullptr).values_ms, t.tables[1].values_ms);
}

// A table timed with a sliding window holds each call at the sequences' own lengths, the window applied.
// gpt-oss-20b: 12 of its 24 layers slide over 128 keys (64 query and 8 KV heads of 64 per GPU at TP 1).
// A 4,096-token prompt sees 128 x 129 / 2 + 3,968 x 128 = 516,160 keys: the prompt length of as many windowed
// keys is 128 + (516,160 - 8,256) / 128 = 4,096, the table's grid point: 0.3 ms a layer. (Read, as before, at
// the causal length of those keys, 1,015.5, it was log-interpolated between 0.01 and 0.3 ms.) 16 decodes at
// position 3,000 read the table at min(3,001, 2 x 128) = 256, its grid point: 0.04 ms (before: at 128 keys,
// 0.03 + 127 / 255 x 0.01 ms). The decode points' KV (16 x 128 keys x 2,048 B) streams in far under their
// times, so the L2 hold leaves them.
TEST(KernelTablePredictor, WindowedTablesAreReadAtTheSequencesOwnLengths) {
    const KernelTablePredictor p = gpt_oss_on(128, 256);
    const StepCost pre_step = p.step({{4096, 0}});
    const OpCost* pre = pre_step.op("attention_sliding");
    ASSERT_TRUE(pre);
    EXPECT_NEAR(pre->time_s, 12 * static_cast<double>(0.3f) * 1e-3, 1e-12);
    EXPECT_EQ(pre->source.find("windowless"), std::string::npos);
    const StepCost dec_step = p.step(std::vector<SequenceWork>(16, SequenceWork{1, 3000}));
    const OpCost* dec = dec_step.op("attention_sliding");
    ASSERT_TRUE(dec);
    EXPECT_NEAR(dec->time_s, 12 * static_cast<double>(0.04f) * 1e-3, 1e-12);
}

// A window no table timed: the windowless tables of the layout. Mistral-7B slides over 4,096 keys in all 32
// layers (32 query and 8 KV heads of 128). FlashAttention drops a window that covers every key, so a
// 1,024-token prompt is the windowless table's grid point, 0.1 ms a layer; 32 decodes at position 4,095 read
// 4,096 keys, 0.05 ms (their KV, 32 x 4,096 x 4,096 B, is past any L2). Past a window of 1,024 keys or more
// the call is read at the keys the window leaves: 32 decodes at position 10,000 read 4,096 keys each, 0.05 ms
// again.
TEST(KernelTablePredictor, AWindowNoTableTimedReadsTheWindowlessTables) {
    const std::string text =
        std::string(TABLES) +
        R"(table prefill_attention framework=vllm-9.9 kernel=fa3 kv_dtype=bf16 window=0 heads=32 kv_heads=8 head_dim=128
axis batch_size 1 2
axis isl 1024 8192
data
0.1 2.0
0.2 4.0
end
table decode_attention framework=vllm-9.9 kernel=fa3 kv_dtype=bf16 window=0 heads=32 kv_heads=8 head_dim=128
axis batch_size 1 32
axis step 1 4096
data
0.01 0.02
0.03 0.05
end
)";
    const ModelCard m = load_model("mistralai/Mistral-7B-v0.1");
    ASSERT_EQ(m.widest_window(), 4096);
    const KernelTablePredictor p(m, load_gpu("h100"), CostConfig{},
                                 std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt")));
    const StepCost pre_step = p.step({{1024, 0}});
    const OpCost* pre = pre_step.op("attention_sliding");
    ASSERT_TRUE(pre);
    EXPECT_NEAR(pre->time_s, 32 * static_cast<double>(0.1f) * 1e-3, 1e-12);
    EXPECT_NE(pre->source.find("the windowless tables (none timed a window of 4096 keys)"), std::string::npos)
        << pre->source;
    for (const int64_t position : {4095, 10000}) {
        const StepCost dec_step = p.step(std::vector<SequenceWork>(32, SequenceWork{1, position}));
        const OpCost* dec = dec_step.op("attention_sliding");
        ASSERT_TRUE(dec);
        EXPECT_NEAR(dec->time_s, 32 * static_cast<double>(0.05f) * 1e-3, 1e-12) << position;
        EXPECT_NE(dec->source.find("table"), std::string::npos) << dec->source;
    }
}

// FlashAttention 2 (vLLM's backend on Ampere and Ada) packs a GQA decode's query heads only without a window,
// so Mistral-7B's sliding decodes on an L40S read the MHA layout's windowless table (32 query heads over 32
// KV heads). 8 decodes at position 1,000 (1,001 keys; 8 x 1,001 x 4,096 B = 32.8 MB of KV a layer, within the
// L40S's 96 MiB of L2): linear in the batch between 1 and 32 at step 1,001, 0.05 + 7 / 31 x 0.04 ms a layer.
// 32 decodes (131 MB, past the L2): between the two layouts, the geometric mean of the MHA table's 0.09 and
// the GQA table's 0.03 ms. On an H100 (FlashAttention 3) the GQA layout's, 0.03 ms.
TEST(KernelTablePredictor, FlashAttention2RunsAWindowedGqaDecodeUnpacked) {
    const std::string layout =
        "framework=vllm-9.9 kernel=fa kv_dtype=bf16 window=0 heads=32 head_dim=128 kv_heads=";
    const std::string text = std::string(TABLES) + "table decode_attention " + layout +
                             "8\naxis batch_size 1 32\naxis step 1 1001\ndata\n0.01 0.02\n0.02 0.03\nend\n"
                             "table decode_attention " +
                             layout +
                             "32\naxis batch_size 1 32\naxis step 1 1001\ndata\n0.01 0.05\n0.02 0.09\nend\n"
                             "table prefill_attention " +
                             layout +
                             "8\naxis batch_size 1 2\naxis isl 1024 8192\ndata\n0.1 2.0\n0.2 4.0\nend\n";
    const ModelCard m = load_model("mistralai/Mistral-7B-v0.1");
    const auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    const std::vector<SequenceWork> decodes(32, SequenceWork{1, 1000});
    const KernelTablePredictor l40s(m, load_gpu("l40s"), CostConfig{}, tables);
    const double mha = static_cast<double>(0.09f), low = static_cast<double>(0.05f),
                 within = low + 7.0 / 31.0 * (mha - low);
    EXPECT_NEAR(
        l40s.step(std::vector<SequenceWork>(8, SequenceWork{1, 1000})).op("attention_sliding")->time_s,
        32 * within * 1e-3, 1e-12);
    const OpCost ada = *l40s.step(decodes).op("attention_sliding");
    EXPECT_NEAR(ada.time_s, 32 * std::sqrt(mha * static_cast<double>(0.03f)) * 1e-3, 1e-12);
    const OpCost hopper = *KernelTablePredictor(m, load_gpu("h100"), CostConfig{}, tables)
                               .step(decodes)
                               .op("attention_sliding");
    EXPECT_NEAR(hopper.time_s, 32 * static_cast<double>(0.03f) * 1e-3, 1e-12);
}

// A short window no table timed: within it the windowless tables, a prefill past it the roofline
// (full_past_window). gpt-oss-20b's 128 keys against windowless tables only: a 128-token prompt sees 128 x
// 129 / 2 keys, the causal length 128, a grid point (0.01 ms a layer); a 4,096-token prompt outruns the
// window and goes to the roofline. 16 decodes at position 3,000 read the windowless decode table at the
// window's 128 keys: linear between steps 1 and 4,096 at batch 16, 0.03 + 127 / 4,095 x 0.01 ms.
TEST(KernelTablePredictor, APrefillPastAShortUntabledWindowTakesTheRoofline) {
    const KernelTablePredictor p = gpt_oss_on(0, 4096);
    const StepCost within_step = p.step({{128, 0}});
    const OpCost* within = within_step.op("attention_sliding");
    ASSERT_TRUE(within);
    EXPECT_NEAR(within->time_s, 12 * static_cast<double>(0.01f) * 1e-3, 1e-12);
    const StepCost past_step = p.step({{4096, 0}});
    const OpCost* past = past_step.op("attention_sliding");
    ASSERT_TRUE(past);
    EXPECT_EQ(past->source.rfind("roofline", 0), 0u) << past->source;
    // the full-attention layers read the same tables at the whole prompt
    EXPECT_NEAR(p.step({{4096, 0}}).op("attention")->time_s, 12 * static_cast<double>(0.3f) * 1e-3, 1e-12);
    const StepCost dec_step = p.step(std::vector<SequenceWork>(16, SequenceWork{1, 3000}));
    const OpCost* dec = dec_step.op("attention_sliding");
    ASSERT_TRUE(dec);
    const double at128 = static_cast<double>(0.03f) +
                         127.0 / 4095.0 * (static_cast<double>(0.04f) - static_cast<double>(0.03f));
    EXPECT_NEAR(dec->time_s, 12 * at128 * 1e-3, 1e-12);
}

TEST(KernelTablePredictor, AllReduceTablesCountElementsNotBytes) {
    // AIConfigurator's message_size counts bf16 elements (its collector all-reduces a [size / 4096, 4096] bf16
    // tensor). Llama-3.1-8B at TP 2: two all-reduces per layer of tokens x 4096 x 2 bytes.
    const Tp2AllReduce t(allreduce_table("graph", "1048576 4194304 16777216", "0.02 0.05 0.2") +
                         allreduce_table("nccl", "16777216 33554432 67108864", "0.25 0.4 0.8"));
    const KernelTablePredictor p = t.predictor(CostConfig{});
    // 1,024 tokens: 8 MiB = 4,194,304 elements, a grid point: 0.05 ms each (read as bytes it would be 8,388,608,
    // halfway in log between 0.05 and 0.2: 0.1 ms), times 64; NCCL's table starts at 16,777,216 elements and
    // holds 0.25 ms below them, slower
    const StepCost s1 = p.step({{1024, 0}}), s8 = p.step({{8192, 0}});
    const OpCost* a = s1.op("tp_allreduce");
    ASSERT_TRUE(a);
    EXPECT_NEAR(a->time_s, 64 * 0.05e-3, 1e-9);  // the tables hold floats
    // (8 MiB at TP 2 on H100: FlashInfer's fused all-reduce + RMSNorm, up to 64 MiB, timed as this all-reduce)
    EXPECT_EQ(a->source, "table (vLLM 9.9, Test GPU, interpolated; run as FlashInfer's all-reduce + add + RMSNorm, "
                         "timed as this all-reduce)");
    // 8,192 tokens: 33,554,432 elements, past the custom all-reduce's largest message: NCCL's table, 0.4 ms
    const OpCost* b = s8.op("tp_allreduce");
    EXPECT_NEAR(b->time_s, 64 * 0.4e-3, 1e-9);
    // the GridTable's unit: 2 bytes for bf16/fp16 tables, 1 for int8
    EXPECT_EQ(t.tables->find("nccl")[0]->message_bytes_per_unit(), 2.0);
    GridTable int8;
    int8.attrs["dtype"] = "int8";
    EXPECT_EQ(int8.message_bytes_per_unit(), 1.0);
}

// Which all-reduce rows a step takes (fusion off, vLLM's largest captured size here 512 tokens): a step of up
// to 512 tokens replays a CUDA graph, so the custom all-reduce's graph rows; a larger step runs eagerly,
// where the custom all-reduce first copies its input into its IPC buffer: the eager rows; from 8 MiB (1,024
// tokens x 4,096 x 2 B) vLLM hands the message on (symmetric memory or NCCL, copying either way): the graph
// rows, and NCCL's table past their largest message.
TEST(KernelTablePredictor, EagerStepsTakeTheEagerAllReduceRowsBelow8MiB) {
    const Tp2AllReduce t(allreduce_table("graph", "1048576 2097152 4194304", "0.02 0.03 0.05") +
                         allreduce_table("eager", "1048576 2097152 4194304", "0.04 0.05 0.07") +
                         allreduce_table("nccl", "4194304 8388608 16777216", "0.1 0.2 0.3"));
    CostConfig c;
    c.fuse_allreduce_rms = false;
    c.cuda_graph_max_tokens = 512;
    const KernelTablePredictor p = t.predictor(c);
    const StepCost s256 = p.step({{256, 0}}), s768 = p.step({{768, 0}}), s1024 = p.step({{1024, 0}});
    // 256 tokens (a captured size): 1,048,576 elements, graph rows, 0.02 ms
    EXPECT_NEAR(s256.op("tp_allreduce")->time_s, 64 * 0.02e-3, 1e-9);
    // 768 tokens, eager: 768 x 4,096 = 3,145,728 elements, halfway between the eager rows' 2,097,152 and 4,194,304
    // (0.05 and 0.07 ms; linear in the message size): 0.06 ms
    const OpCost* mid = s768.op("tp_allreduce");
    EXPECT_NEAR(mid->time_s, 64 * 0.06e-3, 1e-9);
    EXPECT_NE(mid->source.find("eager rows"), std::string::npos) << mid->source;
    // 1,024 tokens: 4,194,304 elements, exactly 8 MiB, not below vLLM's limit: the graph rows, 0.05 ms (NCCL 0.1)
    const OpCost* big = s1024.op("tp_allreduce");
    EXPECT_NEAR(big->time_s, 64 * 0.05e-3, 1e-9);
    EXPECT_EQ(big->source.find("eager"), std::string::npos) << big->source;
    // 2,048 tokens: 8,388,608 elements, past the graph rows: NCCL's table, 0.2 ms
    const StepCost s2048 = p.step({{2048, 0}});
    EXPECT_NEAR(s2048.op("tp_allreduce")->time_s, 64 * 0.2e-3, 1e-9);
    EXPECT_NE(s2048.op("tp_allreduce")->source.find("NCCL"), std::string::npos);
    // the simulator's per-step totals take the same rows as the op table, fused or not (TP 2 fuses up to 64 MiB)
    EXPECT_NEAR(p.step_totals({{768, 0}}).time_s, s768.time_s, 1e-12);
    CostConfig fused = c;
    fused.fuse_allreduce_rms = true;
    const KernelTablePredictor pf = t.predictor(fused);
    const StepCost f768 = pf.step({{768, 0}});
    EXPECT_NEAR(f768.op("tp_allreduce")->time_s, 64 * 0.04e-3, 1e-9);  // FlashInfer's kernel: the graph rows
    EXPECT_NEAR(pf.step_totals({{768, 0}}).time_s, f768.time_s, 1e-12);
    // without CUDA graphs every step is eager: 256 tokens from the eager rows, 0.04 ms
    c.cuda_graphs = false;
    EXPECT_NEAR(t.predictor(c).step({{256, 0}}).op("tp_allreduce")->time_s, 64 * 0.04e-3, 1e-9);
}

// The vLLM rows time vLLM's own all-reduce call, whichever path it takes (custom all-reduce, symmetric
// memory, NCCL), so within their range they are taken even where NCCL's table (nccl-tests) is faster, and
// NCCL's table only past their largest message. Tables (ms):
//   elements   2,097,152  4,194,304  8,388,608  16,777,216
//   graph      0.04       0.05       0.12       0.30
//   NCCL       0.03       0.06       0.10       0.35
// Llama-3.1-8B at TP 2 on H100: a token's message is 4,096 elements (8 KiB); vLLM's custom all-reduce runs
// below 8 MiB (1,024 tokens), torch symmetric memory below 64 MiB.
TEST(KernelTablePredictor, TheVllmRowsTimeVllmsOwnPathAtEverySize) {
    const std::string sizes = "2097152 4194304 8388608 16777216";
    const Tp2AllReduce t(allreduce_table("graph", sizes, "0.04 0.05 0.12 0.30") +
                         allreduce_table("nccl", sizes, "0.03 0.06 0.10 0.35"));
    CostConfig c;
    c.fuse_allreduce_rms = false;
    const KernelTablePredictor p = t.predictor(c);
    auto one_ms = [&](int64_t tokens) { return p.step({{tokens, 0}}).op("tp_allreduce")->time_s / 64 * 1e3; };
    EXPECT_NEAR(one_ms(512), 0.04, 1e-6);   // 4 MiB: the custom all-reduce (NCCL's 0.03 not taken)
    EXPECT_NEAR(one_ms(1024), 0.05, 1e-6);  // 8 MiB: symmetric memory, the rows' 0.05
    EXPECT_NEAR(one_ms(2048), 0.12, 1e-6);  // 16 MiB: the rows' 0.12, not NCCL's 0.10
    EXPECT_NEAR(one_ms(4096), 0.30, 1e-6);  // 32 MiB
    // 3,072 tokens, 12,582,912 elements, halfway (linear) between the last two points: 0.21
    EXPECT_NEAR(one_ms(3072), 0.21, 1e-6);
    // 8,192 tokens, 33,554,432 elements, twice the rows' largest: NCCL's table, scaled linearly past its own
    // largest, 2 x 0.35 = 0.70
    EXPECT_NEAR(one_ms(8192), 0.70, 1e-6);
    // cost names the path
    EXPECT_EQ(p.step({{512, 0}}).op("tp_allreduce")->source,
              "table (vLLM 9.9, Test GPU, interpolated; vLLM runs it on its custom all-reduce)");
    EXPECT_EQ(p.step({{3072, 0}}).op("tp_allreduce")->source,
              "table (vLLM 9.9, Test GPU, interpolated; vLLM runs it on torch symmetric memory (two-shot))");
    EXPECT_NE(p.step({{8192, 0}}).op("tp_allreduce")->source.find("NCCL"), std::string::npos);
    // the step totals the simulator takes agree with the op table
    EXPECT_NEAR(p.step_totals({{2048, 0}}).time_s, p.step({{2048, 0}}).time_s, 1e-12);
    // FlashInfer's fused all-reduce + RMSNorm (TP 2 on H100: up to 64 MiB) takes the rows too: 16 MiB, 0.12
    // ms
    c.fuse_allreduce_rms = true;
    const KernelTablePredictor f = t.predictor(c);
    EXPECT_NEAR(f.step({{2048, 0}}).op("tp_allreduce")->time_s / 64 * 1e3, 0.12, 1e-6);
    EXPECT_NEAR(f.step_totals({{2048, 0}}).time_s, f.step({{2048, 0}}).time_s, 1e-12);
}

// vLLM's limits (all_reduce_utils.py, CUSTOM_ALL_REDUCE_MAX_SIZES held to CustomAllreduce's 8 MiB, and
// SYMM_MEM_ALL_REDUCE_MAX_SIZES), by compute capability and GPU count.
TEST(KernelTablePredictor, VllmAllreducePathsByCapabilityAndGpus) {
    constexpr double MiB = 1024.0 * 1024.0;
    using Path = VllmAllreduce::Path;
    const VllmAllreduce h8 =
        vllm_allreduce(9.0, 8);  // Hopper, 8 GPUs: custom below 256 KiB, multimem below 64 MiB
    EXPECT_EQ(h8.custom_max_bytes, 0.25 * MiB);
    EXPECT_EQ(h8.symm_max_bytes, 64 * MiB);
    EXPECT_EQ(h8.path(0.25 * MiB - 2), Path::CUSTOM);
    EXPECT_EQ(h8.path(0.25 * MiB), Path::SYMM_MEM);
    EXPECT_EQ(h8.path(64 * MiB), Path::NCCL);
    EXPECT_EQ(h8.name(Path::SYMM_MEM), "torch symmetric memory (multimem)");
    const VllmAllreduce h4 = vllm_allreduce(9.0, 4);  // 32 MiB held to 8 MiB; two-shot below 32 MiB
    EXPECT_EQ(h4.custom_max_bytes, 8 * MiB);
    EXPECT_EQ(h4.symm_max_bytes, 32 * MiB);
    EXPECT_EQ(h4.name(Path::SYMM_MEM), "torch symmetric memory (two-shot)");
    const VllmAllreduce b2 = vllm_allreduce(10.0, 2);  // Blackwell, 2 GPUs: 2 MiB, then 8 MiB
    EXPECT_EQ(b2.custom_max_bytes, 2 * MiB);
    EXPECT_EQ(b2.symm_max_bytes, 8 * MiB);
    EXPECT_EQ(vllm_allreduce(10.0, 6).symm_max_bytes, 128 * MiB);
    const VllmAllreduce a4 =
        vllm_allreduce(8.0, 4);  // Ampere: no symmetric memory, the custom all-reduce's 8 MiB
    EXPECT_EQ(a4.custom_max_bytes, 8 * MiB);
    EXPECT_EQ(a4.symm_max_bytes, 0.0);
    EXPECT_EQ(a4.path(8 * MiB), Path::NCCL);
    // PCIe only (L40S): the custom all-reduce at 2 GPUs, not beyond
    EXPECT_EQ(vllm_allreduce(8.9, 2, false).custom_max_bytes, 8 * MiB);
    EXPECT_EQ(vllm_allreduce(8.9, 4, false).path(1024), Path::NCCL);
    const VllmAllreduce h3 = vllm_allreduce(9.0, 3);  // no custom all-reduce or symmetric memory at 3 GPUs
    EXPECT_EQ(h3.path(1024), Path::NCCL);
}

// On Blackwell at 2 GPUs the custom all-reduce stops at 2 MiB, so an eager step of 768 tokens (6 MiB) runs
// symmetric memory, which copies in a graph as out of one: the graph rows, not the eager rows. Tables as in
// EagerStepsTakeTheEagerAllReduceRowsBelow8MiB: 3,145,728 elements, halfway between the graph rows' 0.03 and
// 0.05.
TEST(KernelTablePredictor, EagerRowsOnlyWhereTheCustomAllReduceRuns) {
    const std::string rows = allreduce_table("graph", "1048576 2097152 4194304", "0.02 0.03 0.05") +
                             allreduce_table("eager", "1048576 2097152 4194304", "0.04 0.05 0.07");
    const auto tables =
        std::make_shared<const KernelTables>(parse_kernel_tables(std::string(TABLES) + rows, "t.hkt"));
    CostConfig c;
    c.tp = 2;
    c.fuse_allreduce_rms = false;
    c.cuda_graph_max_tokens = 512;
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const KernelTablePredictor b(m, load_gpu("b200"), c, tables), h(m, load_gpu("h100"), c, tables);
    EXPECT_NEAR(b.step({{768, 0}}).op("tp_allreduce")->time_s, 64 * 0.04e-3, 1e-9);
    EXPECT_NEAR(h.step({{768, 0}}).op("tp_allreduce")->time_s, 64 * 0.06e-3,
                1e-9);  // H100: custom, eager rows
    // 128 tokens (1 MiB, a captured size) on B200: the custom all-reduce's graph rows
    EXPECT_NEAR(b.step({{128, 0}}).op("tp_allreduce")->time_s, 64 * 0.02e-3, 1e-9);
}

// Llama-2-7B is MHA: 32 KV heads per GPU at TP 1, where the decode tables stop at 8. Its 4 decodes at 1,022
// cached tokens (1,023 keys) read what 16 decodes over 8 KV heads read, at one query head per KV head: the
// 8-head table at batch 16, a grid point, 0.4 ms a layer (at batch 4 it would read 0.05-0.4 in log: about 0.18).
// A table of the model's own layout is taken as it is.
TEST(KernelTablePredictor, MhaDecodesFoldTheirKvHeadsIntoTheBatch) {
    auto decode = [](int heads, int kv) {
        return std::string(TABLES) + "table decode_attention framework=vllm-9.9 kernel=fa3 kv_dtype=bf16 window=0 heads=" +
               std::to_string(heads) + " kv_heads=" + std::to_string(kv) +
               " head_dim=128\naxis batch_size 1 16\naxis step 1 1023\ndata\n0.010 0.050\n0.020 0.400\nend\n"
               "table prefill_attention framework=vllm-9.9 kernel=fa3 kv_dtype=bf16 window=0 heads=32 kv_heads=32 "
               "head_dim=128\naxis batch_size 1 2\naxis isl 1 1024\ndata\n0.012 0.300\n0.020 0.600\nend\n";
    };
    const ModelCard m = load_model("meta-llama/Llama-2-7b-hf");
    ASSERT_EQ(m.num_kv_heads, 32);
    const std::vector<SequenceWork> batch(4, SequenceWork{1, 1022});
    auto attention = [&](const std::string& text) -> OpCost {  // a copy: the step it came from is gone
        auto t = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
        return *KernelTablePredictor(m, load_gpu("h100"), CostConfig{}, t).step(batch).op("attention");
    };
    const OpCost folded = attention(decode(8, 8));
    EXPECT_NEAR(folded.time_s, 32 * 0.4e-3, 1e-9);  // the tables hold floats
    EXPECT_NE(folded.source.find("KV heads folded into the batch"), std::string::npos) << folded.source;
    // the own layout's table: batch 4 read as it is, between 0.05 and 0.4 ms (linear in the batch: 3 / 15 of the
    // way, 0.05 + 0.2 x 0.35 = 0.12 ms)
    const OpCost own = attention(decode(32, 32));
    EXPECT_NEAR(own.time_s, 32 * 0.12e-3, 1e-8);
    EXPECT_EQ(own.source.find("folded"), std::string::npos);
    // a table at another group size (2 query heads per KV head) does not stand in
    EXPECT_EQ(attention(decode(16, 8)).source.find("table"), std::string::npos);
}

TEST(KernelTablePredictor, AMixedStepPaysOneAttentionCallUnderFlashAttention) {
    // Llama-3.1-8B (32 heads, 8 KV heads, head_dim 128): 16 decodes at 1,023 keys (0.4 ms a layer, a grid point)
    // and one 1,024-token prefill (1,024 x 1,025 / 2 keys: causal length 1,024, 0.3 ms). FlashAttention runs
    // both in one varlen call, so the step pays the smallest measured call (0.010 ms) once, not twice:
    // 32 x (0.4 + 0.3 - 0.010) ms. FlashInfer's backend runs two calls: 32 x (0.4 + 0.3) ms.
    auto tables = [](const std::string& dec, const std::string& pre) {
        return std::string(TABLES) + "table decode_attention framework=vllm-9.9 kernel=" + dec +
               " kv_dtype=bf16 window=0 heads=32 kv_heads=8 head_dim=128\naxis batch_size 1 16\naxis step 1 1023\ndata\n"
               "0.010 0.050\n0.020 0.400\nend\n"
               "table prefill_attention framework=vllm-9.9 kernel=" + pre +
               " kv_dtype=bf16 window=0 heads=32 kv_heads=8 head_dim=128\naxis batch_size 1 2\naxis isl 1 1024\ndata\n"
               "0.012 0.300\n0.020 0.600\nend\n";
    };
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    std::vector<SequenceWork> mixed(16, SequenceWork{1, 1022});
    mixed.push_back({1024, 0});
    const std::vector<SequenceWork> decodes(16, SequenceWork{1, 1022});
    auto attention = [&](const std::string& text, const std::vector<SequenceWork>& batch) {
        auto t = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
        const StepCost s = KernelTablePredictor(m, load_gpu("h100"), CostConfig{}, t).step(batch);
        return s.op("attention")->time_s;
    };
    const std::string fa = tables("vllm_flash_attn_fa3", "vllm_flash_attn_fa3");
    EXPECT_NEAR(attention(fa, mixed), 32 * (0.4 + 0.3 - 0.010) * 1e-3, 1e-9);  // the tables hold floats
    EXPECT_NEAR(attention(fa, decodes), 32 * 0.4e-3, 1e-9);
    EXPECT_NEAR(attention(fa, {{1024, 0}}), 32 * 0.3e-3, 1e-9);
    const std::string fi = tables("vllm_flashinfer_trtllmdecode", "vllm_flashinfer_trtllmprefill");
    EXPECT_NEAR(attention(fi, mixed), 32 * (0.4 + 0.3) * 1e-3, 1e-9);
}

TEST(KernelTablePredictor, AutoPicksTablesWhereTheyShipAndTheRooflineElsewhere) {
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100"), CostConfig{})->name(), "kernel tables");
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100"), CostConfig{}, "roofline")->name(), "roofline");
    // no tables for the PCIe card: the SXM part's, scaled (below); its calibration carried over from the SXM's
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100-pcie"), CostConfig{})->name(), "kernel tables");
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100-pcie"), CostConfig{}, "calibrated")->name(), "roofline (calibrated, derived from h100-sxm)");
    EXPECT_EQ(make_step_predictor(m, load_gpu("h100-pcie"), CostConfig{}, "roofline")->name(), "roofline");
    EXPECT_THROW(make_step_predictor(m, load_gpu("jetson-agx-orin-64gb"), CostConfig{}, "tables"), PlanError);
    EXPECT_THROW(make_step_predictor(m, load_gpu("h100"), CostConfig{}, "magic"), PlanError);
    // On the shipped H100 tables every GEMM and the attention of Llama-3.1-8B are measured ops
    const auto p = make_step_predictor(m, load_gpu("h100"), CostConfig{});
    const StepCost s = p->step({{512, 0}, {1, 1000}, {1, 3000}});
    for (const char* op : {"qkv_proj", "o_proj", "gate_up_proj", "down_proj", "attention", "lm_head"}) {
        EXPECT_EQ(s.op(op)->source.rfind("table (vLLM 0.24.0, NVIDIA H100 80GB HBM3", 0), 0u) << op << ": " << s.op(op)->source;
    }
    EXPECT_EQ(s.op("residual_add")->source, "roofline (calibrated)");  // not in the tables: H100's calibrated roofline
}

// A small kernel no table times (a norm, RoPE, the activation) takes the roofline's time for its bytes, but no
// less than the tables' fastest kernel per call: here the hand-written GEMM table's 0.01 ms at m = 1.
TEST(KernelTablePredictor, SmallKernelsTakeNoLessThanTheTablesFastestKernel) {
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(TABLES, "t.hkt"));
    const KernelTablePredictor p(m, load_gpu("h100"), CostConfig{}, tables);
    const std::vector<SequenceWork> decode = {{1, 1000}};
    const StepCost s = p.step(decode);
    const StepCost roof = p.roofline().step(decode);
    for (const char* op : {"input_norm", "rope", "post_attention_norm", "activation"}) {
        EXPECT_NEAR(s.op(op)->time_s, 32 * 0.01e-3, 1e-9) << op;  // one call per layer, 32 layers (tables hold floats)
        EXPECT_LT(roof.op(op)->time_s, 32 * 0.01e-3) << op;          // bytes of one token: far below
        EXPECT_NE(s.op(op)->source.find("held to the tables' fastest kernel (10.00 us a call)"), std::string::npos) << op;
    }
    for (const char* op : {"final_norm", "sampling", "embedding"}) EXPECT_NEAR(s.op(op)->time_s, 0.01e-3, 1e-9) << op;
    // the residual adds run inside the norms (fused_add_rms_norm): no kernel of their own to hold
    EXPECT_DOUBLE_EQ(s.op("residual_add")->time_s, roof.op("residual_add")->time_s);
    EXPECT_DOUBLE_EQ(p.step_totals(decode).time_s, s.time_s);
    // 16,384 tokens: the norm's 134 MB pass takes longer than the floor, and the roofline's time stands
    const std::vector<SequenceWork> prefill = {{16384, 0}};
    const StepCost big = p.step(prefill);
    EXPECT_GT(p.roofline().step(prefill).op("input_norm")->time_s, 32 * 0.01e-3);
    EXPECT_DOUBLE_EQ(big.op("input_norm")->time_s, p.roofline().step(prefill).op("input_norm")->time_s);
    EXPECT_EQ(big.op("input_norm")->source, p.roofline().step(prefill).op("input_norm")->source);
    EXPECT_DOUBLE_EQ(p.step_totals(prefill).time_s, big.time_s);
}

namespace {

// MLA module tables in DeepSeek-V3's dimensions at 16 heads per GPU (TP 8), KV bf16, block-fp8 projections
// (DeepSeek-V3 as shipped), timed with the fused norms (norm_dispatch: nothing taken off,
// mla_norm_chain.hpp), and a block-fp8 GEMM table the predictor must leave alone.
const char* MLA_TABLES =
    R"(table mla_prefill framework=vllm-9.9 kernel=fa model=deepseek-ai/DeepSeek-V3 hidden=7168 q_lora=1536 kv_lora=512 nope=128 rope=64 v=128 kv_dtype=bf16 dtype=fp8_block heads=16 norm_dispatch=test
axis batch_size 1 2
axis isl 16 1024
data
10 30
11 -
end
table mla_decode framework=vllm-9.9 kernel=fa model=deepseek-ai/DeepSeek-V3 hidden=7168 q_lora=1536 kv_lora=512 nope=128 rope=64 v=128 kv_dtype=bf16 dtype=fp8_block heads=16 norm_dispatch=test
axis batch_size 1 2
axis step 2 1024
data
8 12
9 16
end
table gemm framework=vllm-9.9 dtype=fp8_block kernel=deepgemm
axis m 1 1024
axis n 32 262144
axis k 32 65536
data
90 90
90 90
90 90
90 90
end
)";

// The MLA block (qkv projections, RoPE, attention, o_proj) of one layer, in ms.
double mla_block_ms(const StepCost& s) {
    double t = 0;
    for (const char* op : {"qkv_proj", "rope", "attention", "o_proj"}) t += s.op(op)->time_s;
    return t / 61 * 1e3;
}

}  // namespace

TEST(KernelTablePredictor, MlaAttentionFromTheModuleTables) {
    const ModelCard m = load_model("deepseek-ai/DeepSeek-V3");
    ASSERT_EQ(m.num_layers, 61);
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(std::string(TABLES) + MLA_TABLES, "t.hkt"));
    CostConfig c;
    c.tp = 8;
    const KernelTablePredictor p(m, load_gpu("h200"), c, tables);
    // One 1024-token prompt: the block is exactly the module table's (1, 1024) point, 30 ms per layer; its
    // projections (from the bf16 GEMM table: block fp8 has no usable one) and RoPE are inside it.
    const StepCost pre = p.step({{1024, 0}});
    EXPECT_NEAR(mla_block_ms(pre), 30.0, 1e-9);
    EXPECT_DOUBLE_EQ(pre.op("rope")->time_s, 0.0);
    EXPECT_EQ(pre.op("rope")->source, "in the MLA module table (attention)");
    EXPECT_EQ(pre.op("qkv_proj")->source, "table (vLLM 9.9, Test GPU, interpolated; bf16 GEMMs for block fp8)");
    EXPECT_EQ(pre.op("attention")->source, "table (vLLM 9.9, Test GPU, interpolated; MLA module less its projections)");
    // the projections: q down 1536 x 7168, q up 16 x 192 x 1536, KV latent 576 x 7168 and o_proj 7168 x 2048,
    // each at 1024 rows of the bf16 table (bilinear in n and k between its corners)
    const double proj_1024 = gemm_1024_ms(1536, 7168) + gemm_1024_ms(3072, 1536) + gemm_1024_ms(576, 7168) +
                             gemm_1024_ms(7168, 2048);
    EXPECT_NEAR((pre.op("qkv_proj")->time_s + pre.op("o_proj")->time_s) / 61 * 1e3, proj_1024, 1e-9);
    // Two decodes at 1023 cached tokens (1024 keys each): the decode table's (2, 1024) point, 16 ms.
    EXPECT_NEAR(mla_block_ms(p.step({{1, 1023}, {1, 1023}})), 16.0, 1e-9);
    // Both in one step: each part's module time less its own projections (1024 rows and 2 rows), plus the
    // projections of all 1026 rows once; with the GEMM table the rows run log-log in m (1..1024), linear past
    // 1024: proj(2) = proj(1)^(1-w) proj(1024)^w, w = log 2 / log 1024 = 0.1, per GEMM.
    auto proj_ms = [&](double rows) {
        double t = 0;
        for (auto [n, k] : {std::pair{1536.0, 7168.0}, {3072.0, 1536.0}, {576.0, 7168.0}, {7168.0, 2048.0}}) {
            const double wn = (n - 32) / (262144.0 - 32), wk = (k - 32) / (65536.0 - 32);  // bilinear, as gemm_1024_ms
            const double at1 = (1 - wn) * (1 - wk) * 0.01 + (1 - wn) * wk * 0.02 + wn * (1 - wk) * 0.03 + wn * wk * 0.04;
            const double at1024 = gemm_1024_ms(n, k);
            t += rows >= 1024 ? at1024 * rows / 1024 : std::exp(std::log(at1) + std::log(rows) / std::log(1024.0) * std::log(at1024 / at1));
        }
        return t;
    };
    const double mixed = (30.0 - proj_ms(1024)) + (16.0 - proj_ms(2)) + proj_ms(1026);
    EXPECT_NEAR(mla_block_ms(p.step({{1024, 0}, {1, 1023}, {1, 1023}})), mixed, 1e-6);  // tables hold floats
    // Two 1024-token prompts lie past the measured token budget (2 x 1024 is '-'): one prompt's time, doubled,
    // and said to be extrapolated.
    const StepCost two = p.step({{1024, 0}, {1024, 0}});
    EXPECT_NEAR(two.op("attention")->time_s / 61 * 1e3, 2 * 30.0 - proj_ms(2048), 1e-6);
    EXPECT_NE(two.op("attention")->source.find("extrapolated"), std::string::npos);
    // the dense MLP of the first 3 layers is block fp8 too: the calibrated roofline, not the 90 ms GEMM table
    EXPECT_EQ(pre.op("gate_up_proj")->source.find("table"), std::string::npos);
    EXPECT_NEAR(p.step_totals({{1024, 0}, {1, 1023}, {1, 1023}}).time_s, p.step({{1024, 0}, {1, 1023}, {1, 1023}}).time_s, 1e-12);
}

TEST(KernelTablePredictor, MlaPrefillUpProjectsItsCachedContext) {
    // A chunk of 25 tokens after 20,979 cached ones attends to 25 x 20,979 + 25 x 26 / 2 = 524,800 keys, as
    // many as a 1,024-token prompt (1,024 x 1,025 / 2): the module table's (1, 1024) point, 30 ms a layer,
    // less its projections at 1,024 rows. That prompt's block up-projects 1,024 latents (kv_b_proj, 16 heads
    // x (128 + 128) = 4,096 from 512); vLLM up-projects every key the chunk attends to, 20,979 + 25 = 21,004
    // of them, so the rest, 19,980 rows, comes from the GEMM table: linear in m past its 1,024 rows,
    // kv_b(21,004) - kv_b(1,024) = kv_b(1,024) x (21,004 / 1,024 - 1). The memory-bound kernels around it,
    // each the larger of the tables' fastest kernel (the GEMM table's 0.01 ms) and its bytes at the profile's
    // memory rate (no calibration here):
    //   gather: 20,979 latents x 576 x (2 B read from the bf16 cache + 2 B written) = 48,335,616 B;
    //   keys assembled for the 19,980 rows: (16 heads x (2 x 128 + 64) + 64) x 2 B = 10,368 B a row,
    //   207,152,640 B; merge: 25 tokens x 16 heads x (3 x 128 x 2 B + 2 x 4 B) = 310,400 B.
    const ModelCard m = load_model("deepseek-ai/DeepSeek-V3");
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(std::string(TABLES) + MLA_TABLES, "t.hkt"));
    CostConfig c;
    c.tp = 8;
    const KernelTablePredictor p(m, load_gpu("h200"), c, tables);
    const double proj_1024 = gemm_1024_ms(1536, 7168) + gemm_1024_ms(3072, 1536) + gemm_1024_ms(576, 7168) +
                             gemm_1024_ms(7168, 2048);
    const double kv_b_1024 = gemm_1024_ms(4096, 512);
    const double rate = memory_bytes_per_s(load_gpu("h200"), nullptr);
    double kernels_ms = 0.0;
    for (const double bytes : {48'335'616.0, 207'152'640.0, 310'400.0})
        kernels_ms += std::max(0.01, 1e3 * bytes / rate);
    const StepCost chunk = p.step({{25, 20979}});
    EXPECT_NEAR(chunk.op("attention")->time_s / 61 * 1e3,
                30.0 - proj_1024 + kv_b_1024 * (21004.0 / 1024.0 - 1.0) + kernels_ms,
                1e-6);            // tables hold floats
    EXPECT_GT(kernels_ms, 0.05);  // the assembly's 207 MB at H200's rate, about 50 us a layer
    EXPECT_NE(
        chunk.op("attention")->source.find("the cached context's latent gathered and up-projected again"),
        std::string::npos);
    // the 1,024-token prompt itself: no context, nothing added
    const StepCost prompt = p.step({{1024, 0}});
    EXPECT_NEAR(prompt.op("attention")->time_s / 61 * 1e3, 30.0 - proj_1024, 1e-9);
    EXPECT_EQ(prompt.op("attention")->source.find("up-projected"), std::string::npos);
    EXPECT_NEAR(p.step_totals({{25, 20979}}).time_s, chunk.time_s, 1e-12);
}

TEST(KernelTablePredictor, MlaAttentionOfAnotherModelWithTheSameLatent) {
    // DeepSeek-V2-Lite (hidden 2048, no q LoRA, 16 heads, the latent of V3: 512 + 64, heads of 128 + 64 and 128)
    // at TP 1 runs V3's attention at TP 8: the module table less V3's projections, plus V2-Lite's own projections
    // from the GEMM table (q 3072 x 2048, KV latent 576 x 2048, o_proj 2048 x 2048). One 1024-token prompt: the
    // bf16 module table's 30 ms, less V3's four projections at 1024 rows, plus V2-Lite's three, per layer.
    std::string mla = MLA_TABLES;
    mla = mla.substr(0, mla.find("table gemm"));
    for (size_t at = mla.find("dtype=fp8_block"); at != std::string::npos; at = mla.find("dtype=fp8_block")) mla.replace(at, 15, "dtype=bf16");
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(std::string(TABLES) + mla, "t.hkt"));
    const ModelCard m = load_model("deepseek-ai/DeepSeek-V2-Lite");
    ASSERT_EQ(m.num_attention_heads, 16);
    const KernelTablePredictor p(m, load_gpu("h200"), CostConfig{}, tables);
    const StepCost pre = p.step({{1024, 0}});
    const double v3 = gemm_1024_ms(1536, 7168) + gemm_1024_ms(3072, 1536) + gemm_1024_ms(576, 7168) + gemm_1024_ms(7168, 2048);
    const double own = gemm_1024_ms(3072, 2048) + gemm_1024_ms(576, 2048) + gemm_1024_ms(2048, 2048);
    const double layers = static_cast<double>(m.num_layers);
    EXPECT_NEAR(pre.op("attention")->time_s / layers * 1e3, 30.0 - v3, 1e-9);
    EXPECT_NEAR((pre.op("qkv_proj")->time_s + pre.op("o_proj")->time_s) / layers * 1e3, own, 1e-9);
    EXPECT_EQ(pre.op("attention")->source,
              "table (vLLM 9.9, Test GPU, interpolated; DeepSeek-V3's MLA module at these heads per GPU, less its projections)");
    // at TP 2 (8 heads a GPU) no table: the roofline
    CostConfig tp2;
    tp2.tp = 2;
    EXPECT_EQ(KernelTablePredictor(m, load_gpu("h200"), tp2, tables).step({{1024, 0}}).op("attention")->source.find("table"), std::string::npos);
}

TEST(KernelTablePredictor, Mxfp4ExpertsFromTheirOwnMoeTable) {
    // gpt-oss-20b as shipped: bf16 attention, MXFP4 experts (32 of 2880 x 2880, top-4), 24 layers, all MoE.
    // The fused-MoE table of MXFP4 says 0.9 ms per layer at 1024 tokens; a bf16 table of the same shape
    // (2 ms) must not be taken.
    const std::string text = std::string(TABLES) + R"(table moe framework=vllm-9.9 kernel=oai dtype=mxfp4 hidden=2880 inter=2880 topk=4 experts=32 tp=1 ep=1 distribution=balanced
axis num_tokens 1 1024
data
0.2 0.9
end
table moe framework=vllm-9.9 kernel=fused dtype=bf16 hidden=2880 inter=2880 topk=4 experts=32 tp=1 ep=1 distribution=balanced
axis num_tokens 1 1024
data
1 2
end
)";
    const ModelCard m = load_model("openai/gpt-oss-20b");
    ASSERT_EQ(m.num_layers, 24);
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    const KernelTablePredictor p(m, load_gpu("h100"), CostConfig{}, tables);
    EXPECT_NEAR(moe_s(p.step({{1024, 0}})), 24 * 0.9e-3, 1e-8);  // tables hold floats
    // With the experts in bf16 (--weights-dtype bf16), the bf16 table: 24 x 2 ms.
    CostConfig bf16;
    bf16.weight_dtype = Dtype::BF16;
    EXPECT_NEAR(moe_s(KernelTablePredictor(m, load_gpu("h100"), bf16, tables).step({{1024, 0}})), 24 * 2e-3, 1e-8);
}

// A fused-MoE table timed with the experts it hit in L2 is held to streaming the experts a serving step hits.
// gpt-oss-20b's MXFP4 experts: 3 x 2,880 x 2,880 x 0.5 B = 12,441,600 B each, 32 of them, top-4. The
// collector routes round-robin, so at 1 token it hit 4 (49.8 MB) and at 2 tokens 8 (99.5 MB), both within the
// L40S's 96 MiB (100.7 MB); at 4 tokens 16 (199 MB), past it. A serving step of 1 token streams 4 experts:
// 49,766,400 B at 864 GB/s x 0.85 = 67.765 us a layer, against the table's 10 us; of 2 tokens the expected
// distinct experts of uniform routing, 32 x (1 - (28/32)^2) = 7.5: 93,312,000 B, 127.059 us. The fastest call
// (10 us) is not added: it streams top-k experts itself. (On L40S vLLM runs gpt-oss's experts with Marlin:
// the table names it.)
TEST(KernelTablePredictor, L2WarmFusedMoeIsHeldToStreamingTheExpertsHit) {
    const std::string text =
        std::string(TABLES) +
        R"(table moe framework=vllm-9.9 kernel=gptoss_marlin dtype=mxfp4 hidden=2880 inter=2880 topk=4 experts=32 tp=1 ep=1 distribution=balanced
axis num_tokens 1 1024
data
0.01 0.9
end
)";
    const ModelCard m = load_model("openai/gpt-oss-20b");
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    GpuProfile gpu = load_gpu("l40s");
    gpu.memory_efficiency.value = 0.85;
    const KernelTablePredictor p(m, gpu, CostConfig{}, tables);
    auto moe = [&](int64_t tokens, std::string* source) {
        const StepCost s = p.step({{tokens, 100}});
        EXPECT_NEAR(p.step_totals({{tokens, 100}}).time_s, s.time_s, 1e-12);
        if (source) *source = s.op("moe_gate_up_proj")->source;
        return moe_s(s);
    };
    std::string source;
    EXPECT_NEAR(moe(1, &source), 24.0 * 49'766'400 / 734.4e9, 1e-10);
    EXPECT_NE(source.find("experts in L2"), std::string::npos);
    EXPECT_NEAR(moe(2, nullptr), 24.0 * 93'312'000 / 734.4e9, 1e-10);
    // 4 tokens: past the L2, the table's own time at the experts a router reaches: 16 picks reach 32 (1 -
    // (28/32)^4) = 13.24 of the 32 on average, which the table's balanced routing reaches with 13.24 / 4
    // = 3.31 tokens; routing_correction takes 0.75 of the difference off (16 picks <= 32 experts): t(4) -
    // 0.75 [t(4) - t(3.31)]. The balanced table interpolates linearly over its picks, min(4 n, 32) + 0.1
    // max(0, 4 n - 32): 4 at 1 token, 32 + 0.1 x 4,064 = 438.4 at 1,024, 4 n at either count here.
    const double lo = static_cast<double>(0.01f), hi = static_cast<double>(0.9f);
    auto table_at = [&](double n) { return (lo + (4.0 * n - 4.0) / (438.4 - 4.0) * (hi - lo)) * 1e-3; };
    const double x = 32.0 * (1.0 - std::pow(28.0 / 32.0, 4)) / 4.0;
    EXPECT_NEAR(moe(4, &source), 24 * (table_at(4) - 0.75 * (table_at(4) - table_at(x))), 1e-10);
    EXPECT_EQ(source.find("experts in L2"), std::string::npos);
    EXPECT_NE(source.find("13.2 of 32 experts reached on average by 4 tokens' independent picks, the table's balanced routing reached 16"),
              std::string::npos)
        << source;
    // the same GPU with an L2 too small for one token's experts: the table's 10 us stands
    gpu.l2_cache_mib.value = 40;
    EXPECT_NEAR(moe_s(KernelTablePredictor(m, gpu, CostConfig{}, tables).step({{1, 100}})), 24 * lo * 1e-3, 1e-10);
}

// A fused-MoE table timed with balanced routing (8 experts, top-2: a call of T tokens reaches min(2 T, 8)),
// ms: 1 token 0.2, 2 tokens 0.3, 4 tokens 0.5, 8 tokens 0.52, 16 tokens 0.56. A router's 2 T picks reach
// 8 (1 - (3/4)^T) experts on average; the streaming of the others is taken off as the table prices it at the
// token counts that reach each number, t(T) - [t(balanced / 2) - t(random / 2)], linearly in the picks the
// table's tokens spread, min(2 T, 8) + 0.1 max(0, 2 T - 8) (GridTable::moe_picks_coordinate: 4 at 2 tokens,
// 8 at 4):
// - T = 4: random 8 (1 - 0.31640625) = 5.46875, i.e. 2.734375 tokens, between 2 and 4 at
//   w = (5.46875 - 4) / 4 = 0.3671875: 0.3 + 0.3671875 x 0.2 = 0.3734375; balanced 8 = 4 tokens, 0.5;
//   0.5 - (0.5 - 0.3734375) = 0.3734375
// - T = 8: random 8 (1 - 0.100112915) = 7.1990967, 3.5995483 tokens, w = (7.1990967 - 4) / 4 = 0.7997742:
//   0.3 + 0.7997742 x 0.2 = 0.4599548; 0.52 - (0.5 - 0.4599548) = 0.4799548
// - T = 1 reaches its 2 experts either way: 0.2 stands; T = 64 (past the table) reaches 8.0 of 8: unchanged.
// Those take the whole difference off (share 1); the shipped shares, fitted on the tables' power-law rows,
// take 0.75 of it where the T k picks fit in the experts and 0.80 beyond:
// - T = 4 (8 picks, 8 experts): 0.5 - 0.75 x (0.5 - 0.3734375) = 0.4050781
// - T = 8 (16 picks): 0.52 - 0.80 x (0.5 - 0.4599548) = 0.4879639
TEST(KernelTablePredictor, RoutedTokensReachFewerExpertsThanBalancedOnes) {
    const KernelTables t = parse_kernel_tables(std::string(TABLES) + R"(table moe framework=vllm-9.9 kernel=fused dtype=bf16 hidden=4096 inter=14336 topk=2 experts=8 tp=2 ep=1 distribution=balanced
axis num_tokens 1 2 4 8 16
data
0.2 0.3 0.5 0.52 0.56
end
)",
                                               "t.hkt");
    const GridTable& g = *t.find("moe")[0];
    EXPECT_NEAR(routing_correction(g, 4, 0.5e-3, -1.0, 1.0), 0.3734375e-3, 1e-9);
    EXPECT_NEAR(routing_correction(g, 8, 0.52e-3, -1.0, 1.0), 0.4799548e-3, 1e-9);
    EXPECT_NEAR(routing_correction(g, 4, 0.5e-3), 0.4050781e-3, 1e-9);
    EXPECT_NEAR(routing_correction(g, 8, 0.52e-3), 0.4879639e-3, 1e-9);
    EXPECT_EQ(routing_correction(g, 1, 0.2e-3), 0.2e-3);
    EXPECT_NEAR(routing_correction(g, 64, 0.7e-3), 0.7e-3, 1e-9);
    // in a step: Mixtral-8x7B at TP 2 (32 MoE layers), 4 decodes: the three MoE ops together take the layer's
    // 0.4050781 ms 32 times
    const ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
    CostConfig c;
    c.tp = 2;
    const KernelTablePredictor p(m, load_gpu("h100"), c, std::make_shared<const KernelTables>(t));
    const std::vector<SequenceWork> four(4, SequenceWork{1, 500});
    EXPECT_NEAR(moe_s(p.step(four)), 32 * 0.4050781e-3, 32 * 1e-9);
    EXPECT_NEAR(p.step_totals(four).time_s, p.step(four).time_s, 1e-12);
}

// moe_routing chooses the fused-MoE rows: balanced routing reads the balanced rows as they are; a power-law
// routing the rows timed with it where the tables hold them (here 4 tokens: 0.41 ms), else the balanced rows
// corrected to the experts that routing reaches.
TEST(KernelTablePredictor, MoeRoutingChoosesTheRowsTimedWithIt) {
    const std::string moe = "table moe framework=vllm-9.9 kernel=fused dtype=bf16 hidden=4096 inter=14336 topk=2 experts=8 tp=2 ep=1 ";
    const KernelTables t = parse_kernel_tables(std::string(TABLES) + moe + R"(distribution=balanced
axis num_tokens 1 2 4 8 16
data
0.2 0.3 0.5 0.52 0.56
end
)" + moe + R"(distribution=power_law_1.01
axis num_tokens 1 2 4 8 16
data
0.21 0.33 0.41 0.5 0.6
end
)",
                                               "t.hkt");
    const auto tables = std::make_shared<const KernelTables>(t);
    const ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
    const std::vector<SequenceWork> four(4, SequenceWork{1, 500});
    auto at = [&](const char* routing, std::string* source) {
        CostConfig c;
        c.tp = 2;
        EXPECT_TRUE(parse_moe_routing(routing, c.moe_routing));
        const StepCost s = KernelTablePredictor(m, load_gpu("h100"), c, tables).step(four);
        if (source) *source = s.op("moe_gate_up_proj")->source;
        return moe_s(s) / 32;
    };
    std::string source;
    EXPECT_NEAR(at("balanced", &source), 0.5e-3, 1e-9);  // (the table stores floats)
    EXPECT_EQ(source.find("experts reached"), std::string::npos) << source;
    EXPECT_NEAR(at("power_law_1.01", &source), 0.41e-3, 1e-9);
    EXPECT_NE(source.find("rows timed with power_law_1.01 routing"), std::string::npos) << source;
    // no power_law_1.2 rows: the balanced ones, at the experts that generator reaches (fewer than independent
    // picks' 5.47: a faster step than the default's 0.4071 ms)
    const double pl12 = at("power_law_1.2", &source);
    EXPECT_LT(pl12, 0.4071015e-3);
    EXPECT_NEAR(pl12, routing_correction(*t.find("moe", {{"distribution", "balanced"}})[0], 4, 0.5e-3,
                                         power_law_reached(4, 8, 2, 1.2)),
                1e-12);
    EXPECT_NE(source.find("by 4 tokens' power_law_1.2 picks"), std::string::npos) << source;
}

// A100's tables time the fused MoE with power-law routing only. A shape with no balanced rows estimates them
// from its power_law_1.01 rows and the other GPUs' ratio of the two; where no other GPU timed the shape, its
// power_law_1.01 rows stand in as measured, for any routing.
TEST(KernelTablePredictor, PowerLawRowsStandInWhereAShapeHasNoBalancedRows) {
    const std::string mixtral = "hidden=4096 inter=14336 topk=2 experts=8 tp=2 ep=1 ";
    const std::string other = "hidden=4096 inter=14336 topk=2 experts=7 tp=2 ep=1 ";  // no GPU times 7 experts
    std::string text = TABLES;
    for (const std::string& shape : {mixtral, other}) {
        text += "table moe framework=vllm-9.9 kernel=fused dtype=bf16 " + shape + R"(distribution=power_law_1.01
axis num_tokens 1 2 4 8 16
data
0.21 0.33 0.41 0.5 0.6
end
table moe framework=vllm-9.9 kernel=fused dtype=bf16 )" + shape + R"(distribution=power_law_1.2
axis num_tokens 1 2 4 8 16
data
0.2 0.3 0.35 0.45 0.55
end
)";
    }
    const auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    const std::vector<SequenceWork> four(4, SequenceWork{1, 500});
    auto at = [&](int64_t experts, const char* routing, std::string* source) {
        ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
        m.num_experts = experts;
        CostConfig c;
        c.tp = 2;
        EXPECT_TRUE(parse_moe_routing(routing, c.moe_routing));
        const StepCost s = KernelTablePredictor(m, load_gpu("h100"), c, tables).step(four);
        if (source) *source = s.op("moe_gate_up_proj")->source;
        return moe_s(s) / 32;  // Mixtral's 32 MoE layers
    };
    std::string source;
    // Mixtral's shape: the shipped tables of H100, H200, B200, GB200 and L40S time it both ways; at 4 tokens
    // balanced / power_law_1.01 = 0.48504 / 0.24568 = 1.9743, 0.34918 / 0.21151 = 1.6509, 0.21348 / 0.14311 =
    // 1.4917, 0.20565 / 0.10403 = 1.9768 and 2.0945 / 1.124 = 1.8634 (hardware/kernels/*.hkt): median 1.8634,
    // so the balanced row at 4 tokens is estimated at 0.41 x 1.8634 = 0.7640 ms a layer
    EXPECT_NEAR(at(8, "balanced", &source), 0.41e-3 * 2.0945 / 1.124, 1e-9);
    EXPECT_NE(source.find("balanced rows estimated from its power_law_1.01 rows x the balanced / power-law ratio "
                          "of 5 other GPUs' tables"),
              std::string::npos)
        << source;
    // independent routing reaches fewer experts than balanced: the usual correction, on the estimated rows
    EXPECT_LT(at(8, "independent", &source), 0.41e-3 * 2.0945 / 1.124);
    EXPECT_NE(source.find("experts reached on average"), std::string::npos) << source;
    // a power law the tables timed reads its own rows
    EXPECT_NEAR(at(8, "power_law_1.2", &source), 0.35e-3, 1e-9);
    EXPECT_NE(source.find("rows timed with power_law_1.2 routing"), std::string::npos) << source;
    // 7 experts: no other GPU's ratio, the power_law_1.01 row at 4 tokens as it is (0.41 ms), whatever the routing
    for (const char* routing : {"independent", "balanced"}) {
        EXPECT_NEAR(at(7, routing, &source), 0.41e-3, 1e-9) << routing;
        EXPECT_NE(source.find("no balanced rows for this shape: its power_law_1.01 rows, as measured"),
                  std::string::npos)
            << source;
    }
    int refs = -1;
    EXPECT_EQ(balanced_moe_from_power_law(*tables->find("moe", {{"experts", "7"}})[0], "test_gpu", &refs), nullptr);
    EXPECT_EQ(refs, 0);
    // the GPU's own tables are never a reference: leaving H100 out, four GPUs' ratios remain
    const auto h100 = shipped_kernel_tables("h100_sxm");
    const GridTable* law = h100->find("moe", {{"dtype", "bf16"}, {"hidden", "4096"}, {"inter", "14336"},
                                              {"topk", "2"}, {"experts", "8"}, {"tp", "2"}, {"ep", "1"},
                                              {"distribution", "power_law_1.01"}})[0];
    const auto est = balanced_moe_from_power_law(*law, "h100_sxm", &refs);
    ASSERT_TRUE(est);
    EXPECT_EQ(refs, 4);
    // the median of the four others at 4 tokens: (1.6509 + 1.8634) / 2
    EXPECT_NEAR(*est->lookup_s({4.0}), 0.24568e-3 * 0.5 * (0.34918 / 0.21151 + 2.0945 / 1.124), 1e-9);
    bool other_formats = true;
    balanced_moe_from_power_law(*law, "h100_sxm", &refs, &other_formats);
    EXPECT_FALSE(other_formats);
}

// A shape no other GPU times in the format (DeepSeek-V3's experts in bf16: A100's tables hold them, the others
// time them in fp8_block and fp4 only): the other formats' balanced / power_law_1.01 ratios are taken. At 4 tokens
// (hardware/kernels/*.hkt): H100 fp8_block 0.4517 / 0.50799 = 0.8892, H200 0.31549 / 0.36145 = 0.8728, B200
// fp8_block 0.15832 / 0.22196 = 0.7133 and fp4 0.092971 / 0.13194 = 0.7046, GB200 fp8_block 0.15498 / 0.21272 =
// 0.7286 and fp4 0.088981 / 0.12467 = 0.7137, L40S fp8_block 1.9845 / 2.0782 = 0.9549: the median of the seven,
// GB200's fp8_block ratio.
TEST(KernelTablePredictor, APowerLawShapeNoGpuTimesInItsFormatTakesTheOtherFormatsRatios) {
    const KernelTables t = parse_kernel_tables(std::string(TABLES) + R"(table moe framework=vllm-9.9 kernel=fused dtype=bf16 hidden=7168 inter=2048 topk=8 experts=256 tp=1 ep=1 distribution=power_law_1.01
axis num_tokens 1 2 4 8
data
0.3 0.35 0.4 0.5
end
)", "t.hkt");
    int refs = 0;
    bool other = false;
    const auto est = balanced_moe_from_power_law(*t.find("moe")[0], "test_gpu", &refs, &other);
    ASSERT_TRUE(est);
    EXPECT_TRUE(other);
    EXPECT_EQ(refs, 7);
    EXPECT_NEAR(*est->lookup_s({4.0}), 0.4e-3 * 0.15498 / 0.21272, 1e-9);
    // the bench's check: Mixtral's bf16 rows on H100 from the other GPUs' other formats only
    const auto h100 = shipped_kernel_tables("h100_sxm");
    const GridTable* law = h100->find("moe", {{"dtype", "bf16"}, {"hidden", "4096"}, {"inter", "14336"},
                                              {"topk", "2"}, {"experts", "8"}, {"tp", "2"}, {"ep", "1"},
                                              {"distribution", "power_law_1.01"}})[0];
    other = false;
    ASSERT_TRUE(balanced_moe_from_power_law(*law, "h100_sxm", &refs, &other, true));
    EXPECT_TRUE(other);
    // and the predictor says which it read
    ModelCard m = load_model("deepseek-ai/DeepSeek-V3");
    CostConfig c;
    c.weight_dtype = Dtype::BF16;
    c.tp = 1;
    const StepCost s = KernelTablePredictor(m, load_gpu("a100-80gb"), c, std::make_shared<const KernelTables>(t))
                           .step(std::vector<SequenceWork>(4, SequenceWork{1, 500}));
    const std::string source = s.op("moe_gate_up_proj")->source;
    EXPECT_NE(source.find("power-law ratio of 7 tables of other formats on other GPUs (none times this shape in bf16)"),
              std::string::npos)
        << source;
}

// DP + EP with vLLM's default gather backend: every GPU runs all DP ranks' tokens through its experts, so the
// fused-MoE tables' EP rows are read at T x dp tokens, and the all-gather and reduce-scatter of the hidden states
// come from NCCL's tables over the DP group. Mixtral-8x7B (32 MoE layers, hidden 4,096), DP 4 x EP 4 at TP 1, 16
// decodes a rank: the EP 4 row at 64 tokens, 0.3 ms a layer; the collectives at 16 x 4 x 4,096 = 262,144
// elements, 0.03 ms + 0.04 ms a layer. A dispatch backend (DeepEP) has no table: the roofline prices both.
TEST(KernelTablePredictor, GatheredDataParallelRanksReadTheEpRowsAtAllTheirTokens) {
    const KernelTables t = parse_kernel_tables(std::string(TABLES) + R"(table moe framework=vllm-9.9 kernel=fused dtype=bf16 hidden=4096 inter=14336 topk=2 experts=8 tp=1 ep=4 distribution=balanced
axis num_tokens 1 16 64 256
data
0.1 0.2 0.3 0.6
end
table nccl framework=nccl-9.9 op=all_gather gpus=4 dtype=fp16
axis message_size 1024 262144 1048576
data
0.01 0.03 0.05
end
table nccl framework=nccl-9.9 op=reduce_scatter gpus=4 dtype=fp16
axis message_size 1024 262144 1048576
data
0.02 0.04 0.06
end
)",
                                               "t.hkt");
    const auto tables = std::make_shared<const KernelTables>(t);
    const ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
    CostConfig c;
    c.dp = 4, c.ep = 4;
    c.moe_routing = {MoeRouting::Kind::BALANCED, 0.0};
    const std::vector<SequenceWork> decodes(16, SequenceWork{1, 500});
    const StepCost g = KernelTablePredictor(m, load_gpu("h100"), c, tables).step(decodes);
    EXPECT_NEAR(moe_s(g), 32 * 0.3e-3, 1e-9);  // (the table stores floats)
    EXPECT_NE(g.op("moe_gate_up_proj")->source.find("the EP rows at the 64 tokens gathered from 4 DP ranks"),
              std::string::npos)
        << g.op("moe_gate_up_proj")->source;
    EXPECT_NEAR(g.op("ep_alltoall")->time_s, 32 * (0.03e-3 + 0.04e-3), 1e-9);
    EXPECT_NE(g.op("ep_alltoall")->source.find("all-gather and reduce-scatter over the 4 DP ranks"), std::string::npos)
        << g.op("ep_alltoall")->source;
    // a measured imbalance (the busiest rank's pairs over the mean), which the EP rows' even shares do not
    // carry, takes the MoE layer off the table
    c.expert_imbalance = 1.5;
    const StepCost skewed = KernelTablePredictor(m, load_gpu("h100"), c, tables).step(decodes);
    EXPECT_EQ(skewed.op("moe_gate_up_proj")->source.find("table"), std::string::npos)
        << skewed.op("moe_gate_up_proj")->source;
    c.expert_imbalance = 0.0;
    c.ep_gather = false;
    const StepCost d = KernelTablePredictor(m, load_gpu("h100"), c, tables).step(decodes);
    EXPECT_EQ(d.op("moe_gate_up_proj")->source.find("table"), std::string::npos) << d.op("moe_gate_up_proj")->source;
    EXPECT_EQ(d.op("ep_alltoall")->source.find("table"), std::string::npos) << d.op("ep_alltoall")->source;
}

TEST(KernelTablePredictor, EncoderAttentionFromItsOwnTable) {
    // all-MiniLM-L6-v2: 6 layers, 12 heads of 32, bidirectional. An encoder-attention table for that shape says
    // 0.05 ms for 4 sequences of 128 tokens; a step of 4 x 128 tokens costs 6 x 0.05 ms of attention, and
    // 4 x 256 tokens, past the table's longest, 4x that (quadratic in the length).
    const std::string text = std::string(TABLES) + R"(table encoder_attention framework=vllm-9.9 kernel=fa dtype=bf16 heads=12 head_dim=32
axis batch_size 1 4
axis isl 16 128
data
0.01 0.02
0.03 0.05
end
)";
    const ModelCard m = load_model("sentence-transformers/all-MiniLM-L6-v2");
    ASSERT_TRUE(m.is_encoder);
    auto tables = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    const KernelTablePredictor p(m, load_gpu("l40s"), CostConfig{}, tables);
    const StepCost s = p.step({{128, 0}, {128, 0}, {128, 0}, {128, 0}});
    EXPECT_NEAR(s.op("attention")->time_s, 6 * 0.05e-3, 1e-9);
    EXPECT_EQ(s.op("attention")->source, "table (vLLM 9.9, Test GPU, interpolated)");
    const StepCost longer = p.step({{256, 0}, {256, 0}, {256, 0}, {256, 0}});
    EXPECT_NEAR(longer.op("attention")->time_s, 4 * 6 * 0.05e-3, 1e-9);
    EXPECT_NE(longer.op("attention")->source.find("extrapolated"), std::string::npos);
}

// Qwen2.5-7B runs 28 query heads over 4 KV heads, which no table times (they hold 24 and 32 over 4): its attention
// is the two tables' time at the same point, linear in the query heads, (28 - 24) / (32 - 24) = half way. Its 16
// decodes at 1,023 keys sit on a grid point of both: 0.2 and 0.3 ms, so 0.25 ms a layer over 28 layers; a prompt
// of 1,024 tokens 0.5 and 0.7 ms, so 0.6 ms. With only the 24-head table nothing brackets 28: the roofline.
TEST(KernelTablePredictor, QueryHeadsBetweenTwoTablesInterpolateLinearly) {
    auto tables = [](const std::vector<std::pair<int, std::string>>& heads_ms) {
        std::string text = TABLES;
        for (const auto& [heads, ms] : heads_ms) {
            const std::string layout = "kv_dtype=bf16 window=0 heads=" + std::to_string(heads) + " kv_heads=4 head_dim=128";
            text += "table decode_attention framework=vllm-9.9 kernel=fa3 " + layout +
                    "\naxis batch_size 1 16\naxis step 1 1023\ndata\n0.010 0.050\n0.020 " + ms + "\nend\n";
            text += "table prefill_attention framework=vllm-9.9 kernel=fa3 " + layout +
                    "\naxis batch_size 1 2\naxis isl 1 1024\ndata\n0.012 " + (heads == 24 ? "0.5" : "0.7") +
                    "\n0.020 0.900\nend\n";
        }
        return std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    };
    const ModelCard m = load_model("Qwen/Qwen2.5-7B-Instruct");
    ASSERT_EQ(m.num_attention_heads, 28);
    ASSERT_EQ(m.num_kv_heads, 4);
    ASSERT_EQ(m.num_layers, 28);
    const auto both = tables({{24, "0.2"}, {32, "0.3"}});
    const KernelTablePredictor p(m, load_gpu("h100"), CostConfig{}, both);
    const OpCost d = *p.step(std::vector<SequenceWork>(16, SequenceWork{1, 1022})).op("attention");
    EXPECT_NEAR(d.time_s, 28 * 0.25e-3, 1e-9);
    EXPECT_NE(d.source.find("query heads interpolated between the 24- and 32-head tables"), std::string::npos) << d.source;
    EXPECT_NEAR(p.step({{1024, 0}}).op("attention")->time_s, 28 * 0.6e-3, 1e-9);
    const OpCost one = *KernelTablePredictor(m, load_gpu("h100"), CostConfig{}, tables({{24, "0.2"}}))
                            .step(std::vector<SequenceWork>(16, SequenceWork{1, 1022}))
                            .op("attention");
    EXPECT_EQ(one.source.find("table"), std::string::npos) << one.source;
}

// H100 PCIe borrows H100 SXM's tables (the same chip): each table-priced op is the SXM table's time scaled by the
// calibrated roofline's time on the PCIe card over its time on the SXM part, which is what the SXM predictor shows
// as its roofline column. So op by op: pcie = sxm x pcie roofline / sxm roofline, for the GEMMs and attention of a
// step whose GEMMs and KV no L2 holds (a 512-token prompt and 32 decodes at 3,000 tokens: 393 MB of KV a layer).
// The TP all-reduce, timed over the SXM part's NVLink, is not borrowed: the PCIe card's roofline prices it.
TEST(KernelTablePredictor, H100PcieScalesH100SxmTablesByTheRoofline) {
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    std::vector<SequenceWork> batch(32, SequenceWork{1, 3000});
    batch.push_back({512, 0});
    const auto sxm = make_step_predictor(m, load_gpu("h100-sxm"), CostConfig{});
    const auto pcie = make_step_predictor(m, load_gpu("h100-pcie"), CostConfig{});
    const StepCost a = sxm->step(batch), b = pcie->step(batch);
    for (const char* op : {"qkv_proj", "o_proj", "gate_up_proj", "down_proj", "attention"}) {
        const OpCost& x = *a.op(op);
        const OpCost& y = *b.op(op);
        EXPECT_NEAR(y.time_s, x.time_s * y.roofline_s / x.roofline_s, 1e-12 * x.time_s) << op;
        EXPECT_GT(y.time_s, x.time_s) << op;  // 2.0 TB/s and 756 TFLOP/s against 3.35 and 989
        EXPECT_NE(y.source.find("scaled by the roofline from NVIDIA H100 SXM5 80GB"), std::string::npos) << y.source;
    }
    // the totals the simulator runs on agree with the breakdown
    EXPECT_NEAR(pcie->step_totals(batch).time_s, b.time_s, 1e-12);
    CostConfig tp2;
    tp2.tp = 2;
    const StepCost c = make_step_predictor(m, load_gpu("h100-pcie"), tp2)->step(batch);
    EXPECT_EQ(c.op("tp_allreduce")->source.find("table"), std::string::npos) << c.op("tp_allreduce")->source;
}

// The decode tables stop short of large batch x context (the benchmark's KV had to fit): where a step's decodes
// have no measured neighbourhood the predictor reads the same KV as fewer, longer sequences. Llama-3.1-8B's 4
// decodes at 2,047 keys fall in the unmeasured corner of this table; half as many at twice the keys lie past the
// step axis, where the time grows linearly: 2 x 0.170 ms at (2, 2,047) = 0.340 ms a layer. Without a calibration
// the two shapes' KV bytes, equal, set the scale (1); with one, the decode fit's times at the two shapes.
TEST(KernelTablePredictor, DecodesPastTheTablesKvReadAsFewerLongerSequences) {
    const std::string text = std::string(TABLES) +
        "table decode_attention framework=vllm-9.9 kernel=fa3 kv_dtype=bf16 window=0 heads=32 kv_heads=8 head_dim=128\n"
        "axis batch_size 1 2 4\naxis step 1 1023 2047\ndata\n0.010 0.050 0.090\n0.012 0.090 0.170\n0.015 0.170 -\nend\n"
        "table prefill_attention framework=vllm-9.9 kernel=fa3 kv_dtype=bf16 window=0 heads=32 kv_heads=8 head_dim=128\n"
        "axis batch_size 1 2\naxis isl 1 1024\ndata\n0.012 0.300\n0.020 0.600\nend\n";
    const auto t = std::make_shared<const KernelTables>(parse_kernel_tables(text, "t.hkt"));
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const std::vector<SequenceWork> batch(4, SequenceWork{1, 2046});
    const OpCost a = *KernelTablePredictor(m, load_gpu("h100"), CostConfig{}, t).step(batch).op("attention");
    EXPECT_NEAR(a.time_s, 32 * 0.340e-3, 1e-9);
    EXPECT_NE(a.source.find("read as fewer, longer sequences"), std::string::npos) << a.source;
    // with H100's calibration: x fit(4 decodes, 2,047 keys) / fit(2 decodes, 4,094 keys), the same KV bytes
    // and half the items (8 KV heads a sequence); both shapes group 4 query heads a KV head over too few
    // blocks for the SMs and split their KV (decode_dispatch: the combine term on both)
    CostConfig c;
    c.calibration = shipped_calibration("h100-sxm");
    const AttentionCalibration& dec = c.calibration->decode_attention;
    const GpuProfile gpu = load_gpu("h100");
    auto fit = [&](double b, double k) {
        AttentionWork w;
        w.bytes = b * k * 4096;  // 8 KV heads x 128 x K and V x 2 B a key
        w.items = b * 8;
        w.sequences = b;
        w.longest_keys = k;
        w.longest_item_bytes = k * 512;  // one KV head's K and V: 128 x 2 x 2 B a key
        w.heads = 32;
        w.kv_heads = 8;
        w.head_dim = 128;
        w.kv_element_bytes = 2;
        return calibrated_decode_attention_s(gpu, dec, c.calibration->prefill_attention, w);
    };
    const OpCost b = *KernelTablePredictor(m, gpu, c, t).step(batch).op("attention");
    EXPECT_NEAR(b.time_s, 32 * 0.340e-3 * fit(4, 2047) / fit(2, 4094), 1e-9);
    EXPECT_GT(fit(4, 2047), fit(2, 4094));  // more sequences, more items
}

TEST(KernelTablePredictor, Gb200TakesB200sMlaModulesTimedWithTheFusedNorms) {
    // kernel-db's collection note: B200's MLA module tables were re-collected with vLLM's fused RMSNorm
    // kernels, GB200's (like Hopper's) ran the unfused chain. The same chip: GB200 takes B200's.
    const auto b200 = shipped_kernel_tables("b200_sxm"), gb200 = shipped_kernel_tables("gb200");
    const auto h200 = shipped_kernel_tables("h200_sxm");
    ASSERT_TRUE(b200 && gb200 && h200);
    EXPECT_TRUE(mla_norms_fused(*b200));
    EXPECT_FALSE(mla_norms_fused(*gb200));
    EXPECT_FALSE(mla_norms_fused(*h200));
    EXPECT_EQ(mla_module_tables(gb200), b200);
    EXPECT_EQ(mla_module_tables(b200), b200);
    EXPECT_EQ(mla_module_tables(h200), h200);  // no re-collected twin: its own
    // DeepSeek-V3 at TP 8, 64 decodes at 2,000: GB200's MLA attention is B200's module time less the module's
    // projections on B200's GEMM table, so the attention op is B200's to the bit (no scaling between the two)
    const ModelCard m = load_model("deepseek-ai/DeepSeek-V3");
    CostConfig c;
    c.tp = 8;
    const std::vector<SequenceWork> batch(64, SequenceWork{1, 1999});
    const StepCost on_gb200 = KernelTablePredictor(m, load_gpu("gb200"), c, gb200).step(batch);
    const StepCost on_b200 = KernelTablePredictor(m, load_gpu("b200"), c, b200).step(batch);
    EXPECT_EQ(on_gb200.op("attention")->time_s, on_b200.op("attention")->time_s);
    EXPECT_NE(on_gb200.op("attention")->source.find("NVIDIA B200's module, timed with vLLM's fused norms"),
              std::string::npos)
        << on_gb200.op("attention")->source;
    // Hopper keeps its own, less the unfused chain they timed (test_mla_norm_chain.cpp)
    const StepCost on_h200 = KernelTablePredictor(m, load_gpu("h200"), c, h200).step(batch);
    EXPECT_NE(on_h200.op("attention")->source.find("less the unfused norm chain"), std::string::npos);
}

namespace {
// Qwen3-8B-FP8 (block fp8) and Qwen3-8B with per-tensor fp8 weights, on H100 with its shipped calibration
struct Qwen3Fp8Pair {
    GpuProfile gpu = load_gpu("h100");
    CostConfig c, per_tensor;
    ModelCard block = load_model("Qwen/Qwen3-8B-FP8"), plain = load_model("Qwen/Qwen3-8B");
    Qwen3Fp8Pair() {
        c.calibration = shipped_calibration("h100-sxm");
        per_tensor = c;
        per_tensor.weight_dtype = Dtype::FP8;
    }
};
}  // namespace

TEST(KernelTablePredictor, BlockFp8GemmsReadTheFp8Table) {
    // Qwen3-8B-FP8 ships block-scaled fp8 (128 x 128 blocks). The block-fp8 table is timed eagerly (a 55 us
    // floor on H100); where it timed the kernels it follows the per-tensor fp8 table (bench/fidelity), so a
    // block-fp8 GEMM is priced as Qwen3-8B's own GEMMs with per-tensor fp8 weights, the same table at the
    // same (m, n, k), times H100's median ratio of the two tables.
    const auto h100 = shipped_kernel_tables("h100_sxm");
    ASSERT_TRUE(h100);
    const Qwen3Fp8Pair q;
    const GpuProfile& gpu = q.gpu;
    const CostConfig &c = q.c, &per_tensor = q.per_tensor;
    const ModelCard &block = q.block, &plain = q.plain;
    for (const std::vector<SequenceWork>& batch :
         {std::vector<SequenceWork>{{4096, 0}}, std::vector<SequenceWork>(32, SequenceWork{1, 999})}) {
        const StepCost b = KernelTablePredictor(block, gpu, c, h100).step(batch);
        const StepCost p = KernelTablePredictor(plain, gpu, per_tensor, h100).step(batch);
        const double scale = block_fp8_scale(*h100);
        EXPECT_GT(scale, 0.85);  // (0.90)
        EXPECT_LT(scale, 1.0);
        for (const char* op : {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}) {
            // (the 32 decodes: at most that, the table's slow picks at some row counts not taken:
            // BlockFp8GemmsTakeNoMoreThanTheFp8TableForMoreRows)
            if (batch.size() == 1) {
                EXPECT_NEAR(b.op(op)->time_s, scale * p.op(op)->time_s, 1e-12) << op;
            } else {
                EXPECT_LE(b.op(op)->time_s, scale * p.op(op)->time_s + 1e-12) << op;
            }
            EXPECT_NE(b.op(op)->source.find("the fp8 table for block fp8"), std::string::npos)
                << b.op(op)->source;
        }
    }
    // and the calibrated roofline prices it on the fp8 fit: 4,096 rows of gate_up (2 x 12,288 x 4,096) on it
    const auto cal = shipped_calibration("h100-sxm");
    const StepCost r = CostModel(block, gpu, c).step({{4096, 0}});
    EXPECT_NEAR(r.op("gate_up_proj")->time_s / 36.0,
                gemm_time_s(gpu, Dtype::FP8, 4096, 24576, 4096, &cal->gemm_fp8, cal->gemm_fp8.blend_exponent),
                1e-3 * r.op("gate_up_proj")->time_s / 36.0);
}

namespace {
// A GEMM table of `dtype` over (m, n, k) whose point takes ms(m, n, k)
GridTable gemm_grid(const char* dtype, std::vector<std::vector<double>> axes,
                    const std::function<double(double, double, double)>& ms) {
    GridTable g;
    g.family = "gemm";
    g.attrs = {{"dtype", dtype}};
    g.axis_names = {"m", "n", "k"};
    g.axes = std::move(axes);
    for (double m : g.axes[0])
        for (double n : g.axes[1])
            for (double k : g.axes[2]) g.values_ms.push_back(static_cast<float>(ms(m, n, k)));
    return g;
}
}  // namespace

TEST(KernelTablePredictor, BlockFp8ScaleIsTheMedianRatioWhereTheKernelsWereTimed) {
    // An fp8 table of 1 ms per (m / 1,024) x (n / 1,024) x (k / 1,024) and a block-fp8 table at 1.3x it,
    // except that every point below 4x the block table's fastest sits on a 0.5 ms floor (the eager
    // collector's host time): the points at or above 2 ms give 1.3 (m 1,024-8,192 at n = k = 4,096 and up)
    auto grid = [](const char* dtype, double scale, double floor_ms) {
        return gemm_grid(dtype, {{1, 64, 1024, 2048, 4096, 8192}, {1024, 4096, 8192}, {1024, 4096, 8192}},
                         [=](double m, double n, double k) { return std::max(floor_ms, scale * m * n * k / 1024 / 1024 / 1024); });
    };
    KernelTables t;
    t.tables = {grid("fp8", 1.0, 0.001), grid("fp8_block", 1.3, 0.5)};
    EXPECT_NEAR(block_fp8_scale(t), 1.3, 1e-6);
    // fewer than 20 kernel-bound points: no ratio
    t.tables[1] = grid("fp8_block", 1.3, 50.0);
    t.tables[1].values_ms.back() = 4000.0f;  // one point above 4x the floor
    EXPECT_EQ(block_fp8_scale(t), 1.0);
    t.tables.pop_back();
    EXPECT_EQ(block_fp8_scale(t), 1.0);
}

TEST(KernelTablePredictor, BlockFp8ScaleOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
    // 24 kernel-bound points (m 4,096 and 8,192, n 2 values, k 6 values: 8 ms and more against the m = 1 row's
    // 0.5 ms floor), 12 at 1.2x the fp8 table and 12 at 1.4x: the median is (1.2 + 1.4) / 2 = 1.3, as numpy's
    // median and exact_percentile take it (neither middle element alone)
    auto grid = [](const char* dtype, double scale_4096, double scale_8192) {
        return gemm_grid(dtype, {{1, 4096, 8192}, {2048, 4096}, {1024, 2048, 4096, 8192, 16384, 32768}},
                         [=](double m, double n, double k) {
                             return m == 1 ? 0.5 : (m == 4096 ? scale_4096 : scale_8192) * m * n * k / 1024 / 1024 / 1024;
                         });
    };
    KernelTables t;
    t.tables = {grid("fp8", 1.0, 1.0), grid("fp8_block", 1.2, 1.4)};
    EXPECT_NEAR(block_fp8_scale(t), 1.3, 1e-6);
}

TEST(KernelTablePredictor, BlockFp8GemmsTakeNoMoreThanTheFp8TableForMoreRows) {
    // An fp8 table with the per-tensor kernel's slow picks (B200 and GB200 time 1-row GEMMs at about twice
    // their 2-8-row ones, and single counts spike): 10 us at every row count up to 16 but 25 us at 1 and 30
    // us at 4, 1 ms at 4,096, the same for every (n, k) of Qwen3-8B (qkv 6,144 x 4,096, o 4,096 x 4,096,
    // gate_up 24,576 x 4,096, down 4,096 x 12,288). No block-fp8 table: the ratio is 1. Weight copies 1,000:
    // no point fits H100's L2, so no L2-warm hold.
    GridTable fp8 = gemm_grid("fp8", {{1, 2, 4, 8, 16, 4096}, {4096, 6144, 24576}, {4096, 12288}},
                              [](double m, double, double) {
                                  return m == 1 ? 0.025 : m == 4 ? 0.030 : m == 4096 ? 1.0 : 0.010;
                              });
    fp8.attrs["weight_copies"] = "1000";
    auto t = std::make_shared<KernelTables>();
    t->gpu = "h100_sxm";
    t->tables = {fp8};
    EXPECT_EQ(block_fp8_scale(*t), 1.0);
    // the helper: the least time above 1 row is 10 us (2, 8 or 16 rows); above 8, 10 us; above 16, 1 ms
    EXPECT_NEAR(least_above_s(fp8, 1, 6144, 4096, [](double) { return 0.0; }), 10e-6, 1e-12);
    EXPECT_NEAR(least_above_s(fp8, 16, 6144, 4096, [](double) { return 0.0; }), 1e-3, 1e-12);
    EXPECT_EQ(least_above_s(fp8, 4096, 6144, 4096, [](double) { return 0.0; }),
              std::numeric_limits<double>::infinity());
    // a floor raises the rows it is given: 2 rows held to 40 us leave 8 and 16 rows at 10 us
    EXPECT_NEAR(least_above_s(fp8, 1, 6144, 4096, [](double r) { return r == 2 ? 40e-6 : 0.0; }), 10e-6,
                1e-12);
    const Qwen3Fp8Pair q;
    ASSERT_EQ(q.block.num_layers, 36);
    const KernelTablePredictor b(q.block, q.gpu, q.c, t), p(q.plain, q.gpu, q.per_tensor, t);
    // one decode: the block-fp8 GEMMs at 10 us (not the 1-row pick's 25), the per-tensor ones as measured;
    // three decodes run as 4 rows (CUDA graph padding): 10 us, not 30
    for (const auto& [decodes, measured_us] : {std::pair<int, double>{1, 25.0}, {3, 30.0}}) {
        const std::vector<SequenceWork> batch(static_cast<size_t>(decodes), SequenceWork{1, 99});
        const StepCost sb = b.step(batch), sp = p.step(batch);
        for (const char* op : {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}) {
            EXPECT_NEAR(sb.op(op)->time_s, 36 * 10e-6, 1e-10) << op << " " << decodes;
            EXPECT_NEAR(sp.op(op)->time_s, 36 * measured_us * 1e-6, 1e-10) << op << " " << decodes;
            EXPECT_NE(sb.op(op)->source.find("the fp8 table for block fp8, at most its time for more rows"),
                      std::string::npos)
                << sb.op(op)->source;
        }
        EXPECT_NEAR(b.step_totals(batch).time_s, sb.time_s, 1e-12);
    }
    // 16 decodes keep their own 10 us (the only count above, 4,096 rows, takes 1 ms)
    EXPECT_NEAR(b.step(std::vector<SequenceWork>(16, SequenceWork{1, 99})).op("qkv_proj")->time_s, 36 * 10e-6,
                1e-10);  // (the table holds floats)
}

TEST(KernelTablePredictor, BlockFp8MlaProjectionsKeepTheBf16Fit) {
    // DeepSeek-V3 (block fp8): on the calibrated roofline its MLA projections do not take the fp8 fit (the
    // MLA module tables time block-fp8 blocks as bf16 ones), its dense layers do: without the fp8 fit the
    // first stay to the bit, the second move
    const GpuProfile gpu = load_gpu("h200");
    CostConfig c;
    c.tp = 8;
    c.calibration = shipped_calibration("h200");
    auto no_fp8 = std::make_shared<Calibration>(*c.calibration);
    no_fp8->gemm_fp8 = GemmCalibration{};
    CostConfig d = c;
    d.calibration = no_fp8;
    const ModelCard m = load_model("deepseek-ai/DeepSeek-V3");
    const std::vector<SequenceWork> batch = {{2048, 0}};
    const StepCost with = CostModel(m, gpu, c).step(batch), without = CostModel(m, gpu, d).step(batch);
    EXPECT_EQ(with.op("qkv_proj")->time_s, without.op("qkv_proj")->time_s);
    EXPECT_EQ(with.op("o_proj")->time_s, without.op("o_proj")->time_s);
    EXPECT_NE(with.op("gate_up_proj")->time_s, without.op("gate_up_proj")->time_s);
}

// A model whose expert shape no table times takes the fused-MoE fit, corrected by the nearest shape the
// tables do time (moe_fit_scale). Mixtral-8x7B (hidden 4,096, experts 14,336 wide, top-2 of 8, 32 layers,
// bf16) on H100 (3,350 GB/s) with a hand fit: 10 us + 1.25 x the experts' bytes at HBM peak, no other term.
//   The tables hold 4,096 x 16,384 (|log| distance ln(16,384 / 14,336) = 0.134) and 6,144 x 14,336 (ln 1.5 =
//   0.405): the first is nearest. Its fit at 1,024 and 4,096 tokens (8 experts reached either way): 8 x 3 x
//   4,096 x 16,384 x 2 B = 3,221,225,472 B / 3.35e12 B/s = 961.5598 us, x 1.25 + 10 = 1,211.9498 us; the
//   table says 1.5 and 3.0 ms, so the scale is sqrt(1.5 / 1.2119498) = 1.11251 and sqrt(3.0 / 1.2119498)
//   = 1.57332. Mixtral's own fit: 8 x 3 x 4,096 x 14,336 x 2 = 2,818,572,288 B / 3.35e12 = 841.3649 us,
//   x 1.25 + 10 = 1,061.7061 us a layer (1,024 tokens under independent routing reach all 8 experts:
//   8 x (1 - (6/8)^1024)).
TEST(KernelTablePredictor, UntabledMoeShapeTakesTheNearestShapesCorrection) {
    const std::string rows =
        R"(table moe framework=vllm-9.9 kernel=fused dtype=bf16 hidden=4096 inter=16384 topk=2 experts=8 tp=1 ep=1 distribution=balanced
axis num_tokens 1024 4096
data
1.5 3.0
end
table moe framework=vllm-9.9 kernel=fused dtype=bf16 hidden=6144 inter=14336 topk=2 experts=8 tp=1 ep=1 distribution=balanced
axis num_tokens 1024 4096
data
100 100
end
)";
    const ModelCard m = load_model("mistralai/Mixtral-8x7B-v0.1");
    ASSERT_EQ(m.num_layers, 32);
    auto cal = std::make_shared<Calibration>(*shipped_calibration("h100-sxm"));
    MoeCalibration fit;
    fit.fixed_s = 10e-6, fit.weights = 1.25;
    cal->moe = {{"bf16", fit}};
    CostConfig c;
    c.calibration = cal;
    const GpuProfile gpu = load_gpu("h100-sxm");
    ASSERT_DOUBLE_EQ(gpu.memory_bandwidth_bytes_per_s(), 3.35e12);
    auto with =
        std::make_shared<const KernelTables>(parse_kernel_tables(std::string(TABLES) + rows, "t.hkt"));
    auto without = std::make_shared<const KernelTables>(parse_kernel_tables(TABLES, "t.hkt"));
    const double fit_a = 10e-6 + 1.25 * 3221225472.0 / 3.35e12, own = 10e-6 + 1.25 * 2818572288.0 / 3.35e12;
    const double s1 = std::sqrt(1.5e-3 / fit_a), s2 = std::sqrt(3.0e-3 / fit_a);
    EXPECT_NEAR(s1, 1.11251, 1e-5);
    EXPECT_NEAR(s2, 1.57332, 1e-5);
    const KernelTablePredictor p(m, gpu, c, with);
    const StepCost at1024 = p.step({{1024, 0}});
    EXPECT_NEAR(moe_s(at1024), 32 * own * s1, 1e-9);
    EXPECT_NE(at1024.op("moe_gate_up_proj")->source.find("nearest measured shape (4096 x 16384, top-2 of 8)"),
              std::string::npos)
        << at1024.op("moe_gate_up_proj")->source;
    // between the table's counts in log space (2,048 is halfway from 1,024 to 4,096), held past its last
    EXPECT_NEAR(moe_s(p.step({{2048, 0}})), 32 * own * (s1 + 0.5 * (s2 - s1)), 1e-9);
    EXPECT_NEAR(moe_s(p.step({{8192, 0}})), 32 * own * s2, 1e-9);
    // the step totals agree with the op walk
    EXPECT_NEAR(p.step_totals({{1024, 0}}).time_s, at1024.time_s, 1e-12);
    EXPECT_EQ(
        p.note(),
        "the fused MoE (4096 x 14336, top-2 of 8, bf16) on the calibrated roofline, its fit corrected by the "
        "nearest measured shape (4096 x 16384, top-2 of 8): no table holds its shape");
    // no MoE table at all: the fit as it stands
    const KernelTablePredictor bare(m, gpu, c, without);
    EXPECT_NEAR(moe_s(bare.step({{1024, 0}})), 32 * own, 1e-9);
    EXPECT_NE(bare.note().find(": no table holds its shape at this format, TP and EP"), std::string::npos);
}

// On H100 vLLM runs gpt-oss's own MXFP4 experts with OpenAI's Triton kernel, whose tables time gpt-oss-20b's
// shape; the same experts quantised by compressed-tensors run Marlin, which no table times at that shape.
// They take the Marlin (int4) fit, corrected by the nearest Marlin table, not the Triton rows of their own
// shape. H100's Marlin tables: Kimi-K2's int4 layer (7,168 x 2,048, top-8 of 384) and an MXFP4 one (3,584 x
// 3,072, top-16 of 896). Their distances from 2,880 x 2,880, top-4 of 32, as sums of |ln| ratios:
//   ln(7168/2880) + ln(2880/2048) + ln(8/4) + ln(384/32) = 0.912 + 0.341 + 0.693 + 2.485 = 4.43;
//   ln(3584/2880) + ln(3072/2880) + ln(16/4) + ln(896/32) = 0.219 + 0.065 + 1.386 + 3.332 = 5.00:
// Kimi-K2's is nearer.
TEST(KernelTablePredictor, Mxfp4ExpertsReadTheTablesOfTheKernelTheyRun) {
    ModelCard m = load_model("openai/gpt-oss-20b");
    CostConfig c;
    c.calibration = shipped_calibration("h100-sxm");
    const auto tables = shipped_kernel_tables("h100_sxm");
    const GpuProfile h100 = load_gpu("h100-sxm");
    const KernelTablePredictor own(m, h100, c, tables);
    EXPECT_EQ(own.step({{1024, 0}}).op("moe_gate_up_proj")->source.rfind("table", 0), 0u)
        << own.step({{1024, 0}}).op("moe_gate_up_proj")->source;
    m.shipped.method = "compressed-tensors";
    const KernelTablePredictor marlin(m, h100, c, tables);
    const std::string source = marlin.step({{1024, 0}}).op("moe_gate_up_proj")->source;
    EXPECT_EQ(source.find("table"), std::string::npos) << source;
    EXPECT_NE(source.find("Marlin's fused-MoE fit x "), std::string::npos) << source;
    EXPECT_NE(marlin.note().find(
                  "the fused MoE (2880 x 2880, top-4 of 32, mxfp4) on the calibrated roofline (Marlin's "
                  "fit), its fit corrected by the nearest measured shape (7168 x 2048, top-8 of 384)"),
              std::string::npos)
        << marlin.note();
    // the model of the MXFP4 Marlin table's own shape reads that table
    m.hidden_size = 3584, m.moe_intermediate_size = 3072, m.experts_per_token = 16, m.num_experts = 896;
    const KernelTablePredictor own_shape(m, h100, c, tables);
    EXPECT_EQ(own_shape.step({{1024, 0}}).op("moe_gate_up_proj")->source.rfind("table", 0), 0u);
}

TEST(KernelTablePredictor, AFusedMoeWithoutAFitSaysItRunsOpByOp) {
    // On A100 vLLM runs gpt-oss-20b's MXFP4 experts with Marlin (moe_fit_format), whose fit A100's
    // calibration lacks (its tables time bf16 fused MoE only), so they are priced op by op on the calibrated
    // GEMM roofline, and the op sources and the run's note say so; H100's calibration fits gpt-oss's own
    // MXFP4 kernel, so its roofline names no such thing
    const ModelCard m = load_model("openai/gpt-oss-20b");
    const auto a100 = shipped_calibration("a100-80gb");
    ASSERT_EQ(a100->moe_for("int4"), nullptr);
    ASSERT_NE(a100->moe_for("bf16"), nullptr);
    CostConfig c;
    c.calibration = a100;
    const KernelTablePredictor p(m, load_gpu("a100-80gb"), c, shipped_kernel_tables("a100_sxm"));
    const StepCost s = p.step({{1, 999}});
    EXPECT_NE(
        s.op("moe_gate_up_proj")->source.find("op by op (its calibration fits no Marlin (int4) fused MoE)"),
        std::string::npos)
        << s.op("moe_gate_up_proj")->source;
    EXPECT_NE(p.note().find("on the calibrated roofline op by op (no fused-MoE fit for its format)"),
              std::string::npos)
        << p.note();
    CostConfig h;
    h.calibration = shipped_calibration("h100-sxm");
    ASSERT_NE(h.calibration->moe_for("mxfp4"), nullptr);
    const StepCost r = CostModel(m, load_gpu("h100"), h).step({{1, 999}});
    EXPECT_EQ(r.op("moe_gate_up_proj")->source.find("op by op"), std::string::npos);
}

TEST(KernelTablePredictor, Gb200TpEightBorrowsB200sNcclRows) {
    // GB200's tables time all-reduces over one tray's 2 and 4 GPUs only; a TP 8 group takes B200's 8-GPU NCCL
    // rows (nccl_sibling). One decode of Llama-3.1-8B all-reduces 4,096 bf16 values, a grid point of
    // hardware/kernels/b200_sxm.hkt's "nccl op=all_reduce gpus=8 dtype=fp16" table: 0.02602 ms, 64 of them a
    // step (two a layer, 32 layers). The agreement the source quotes was worked out in Python on the
    // published parquet files (kernel-db gb200 and b200_sxm, comm/nccl-2.29.2, all_reduce, half): GB200 /
    // B200 at the 21 sizes of 2 GPUs and the 21 of 4, median 1.0315, least 0.9971, most 1.0878.
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    CostConfig c;
    c.calibration = shipped_calibration("gb200");
    c.tp = 8;
    const KernelTablePredictor p(m, load_gpu("gb200"), c, shipped_kernel_tables("gb200"));
    const StepCost s = p.step({{1, 999}});
    const OpCost* ar = s.op("tp_allreduce");
    ASSERT_NE(ar, nullptr);
    EXPECT_EQ(ar->count, 64);
    EXPECT_NEAR(ar->time_s, 64 * 0.02602e-3, 1e-9);
    EXPECT_EQ(ar->source.rfind(
                  "table (NCCL 2.29.2, NVIDIA B200, interpolated; NVIDIA B200's 8-GPU rows: NVIDIA GB200's "
                  "tables time no all-reduce over 8 GPUs; over the 2 and 4 GPUs both time, its rows take a "
                  "median 1.03x theirs (1.00-1.09x, 42 sizes)",
                  0),
              0u)
        << ar->source;
    // TP 4: GB200's own rows (vLLM's custom all-reduce, one tray)
    c.tp = 4;
    const KernelTablePredictor own(m, load_gpu("gb200"), c, shipped_kernel_tables("gb200"));
    const std::string src = own.step({{1, 999}}).op("tp_allreduce")->source;
    EXPECT_NE(src.find("NVIDIA GB200"), std::string::npos) << src;
    EXPECT_EQ(src.find("B200's"), std::string::npos) << src;
    // B200 at TP 8 reads its own tables, with no borrowing note
    const KernelTablePredictor b200(m, load_gpu("b200"), c, shipped_kernel_tables("b200_sxm"));
    EXPECT_EQ(b200.step({{1, 999}}).op("tp_allreduce")->source.find("8-GPU rows"), std::string::npos);
    // with TP 8 borrowed, a gather backend's all-gather over 2 DP ranks still reads GB200's own NCCL rows
    CostConfig e;
    e.calibration = shipped_calibration("gb200");
    e.tp = 8, e.dp = 2, e.ep = 16;
    const KernelTablePredictor moe(load_model("mistralai/Mixtral-8x7B-v0.1"), load_gpu("gb200"), e,
                                   shipped_kernel_tables("gb200"));
    const StepCost ms = moe.step({{1, 999}});
    ASSERT_NE(ms.op("ep_alltoall"), nullptr);
    EXPECT_EQ(ms.op("ep_alltoall")->source.rfind("table (NCCL 2.29.2, NVIDIA GB200, ", 0), 0u)
        << ms.op("ep_alltoall")->source;
    EXPECT_NE(ms.op("tp_allreduce")->source.find("NVIDIA B200's 8-GPU rows"), std::string::npos)
        << ms.op("tp_allreduce")->source;
}
