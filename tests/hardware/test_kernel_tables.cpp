// Kernel tables: the .hkt parser, log-log interpolation (exact for power laws), and the shipped tables.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "headroom/hardware/kernel_tables.hpp"

using namespace headroom;

namespace {

// t(m, n) = 0.002 ms x m^0.5 x n, on m in {1, 4, 16}, n in {10, 100}; one point missing.
const char* POWER_LAW = R"(# headroom kernel tables v1
gpu test_gpu
device Test GPU
source hand-written
table gemm framework=vllm-0.1 dtype=bf16
axis m 1 4 16
axis n 10 100
data
0.02 0.2
0.04 0.4
0.08 -
end
)";

}  // namespace

TEST(KernelTables, ParsesTheFormat) {
    const KernelTables t = parse_kernel_tables(POWER_LAW, "test.hkt");
    EXPECT_EQ(t.gpu, "test_gpu");
    EXPECT_EQ(t.device, "Test GPU");
    ASSERT_EQ(t.tables.size(), 1u);
    const GridTable& g = t.tables[0];
    EXPECT_EQ(g.family, "gemm");
    EXPECT_EQ(g.attr("dtype"), "bf16");
    EXPECT_EQ(g.axis_names, (std::vector<std::string>{"m", "n"}));
    EXPECT_FLOAT_EQ(g.value_ms({1, 1}), 0.4f);
    EXPECT_TRUE(std::isnan(g.value_ms({2, 1})));
    EXPECT_EQ(t.find("gemm", {{"dtype", "bf16"}}).size(), 1u);
    EXPECT_EQ(t.find("gemm", {{"dtype", "fp8"}}).size(), 0u);
    EXPECT_EQ(t.find_first("gemm", {{"dtype", "bf16"}}), &g);
    EXPECT_EQ(t.find_first("gemm", {{"dtype", "fp8"}}), nullptr);
    EXPECT_EQ(t.find_first("moe"), nullptr);
    EXPECT_EQ(t.framework("gemm"), "vllm-0.1");
}

// The working set a GEMM table was timed with (AIConfigurator cycles 6 layers per bf16 or fp8 measurement, 1 per
// block-fp8 one), by hand at m = 4, n = 1,024, k = 2,048:
// bf16: 6 x (1,024 x 2,048 x 2 + 4 x 1,024 x 2) + 4 x 2,048 x 2 = 6 x (4,194,304 + 8,192) + 16,384 = 25,231,360
// block fp8: 1 x (2,097,152 + 8,192) + 16,384 = 2,121,728; weight_copies=2 on fp8: 2 x 2,105,344 + 16,384 = 4,227,072
TEST(KernelTables, GemmWorkingSetCountsTheCollectorsCopies) {
    const KernelTables t = parse_kernel_tables(POWER_LAW, "test.hkt");
    EXPECT_DOUBLE_EQ(t.tables[0].gemm_working_set_bytes(4, 1024, 2048), 25'231'360.0);
    EXPECT_DOUBLE_EQ(t.tables[0].least_s(), static_cast<double>(0.02f) * 1e-3);  // the least of the five, as stored
    GridTable block = t.tables[0];
    block.attrs["dtype"] = "fp8_block";
    EXPECT_DOUBLE_EQ(block.gemm_working_set_bytes(4, 1024, 2048), 2'121'728.0);
    GridTable two = t.tables[0];
    two.attrs["dtype"] = "fp8";
    two.attrs["weight_copies"] = "2";
    EXPECT_DOUBLE_EQ(two.gemm_working_set_bytes(4, 1024, 2048), 4'227'072.0);
    EXPECT_DOUBLE_EQ(two.gemm_weight_bytes_per_element(), 1.0);
}

TEST(KernelTables, MoeWorkingSetCountsTheExpertsTheCollectorHit) {
    GridTable moe = parse_kernel_tables(POWER_LAW, "test.hkt").tables[0];
    moe.attrs = {{"dtype", "fp8"}, {"hidden", "2048"}, {"inter", "1536"}, {"topk", "8"}, {"experts", "128"}, {"tp", "2"}, {"ep", "4"}};
    // one expert: 3 x 2,048 x 1,536 / 2 (TP) x 1 B = 4,718,592 B
    EXPECT_DOUBLE_EQ(moe.moe_expert_bytes(), 4'718'592.0);
    // 3 tokens x top-8 = 24 experts hit, of 128 / 4 = 32 local: 24 x 4,718,592
    EXPECT_DOUBLE_EQ(moe.moe_working_set_bytes(3), 24 * 4'718'592.0);
    // 16 tokens would hit 128: at most the 32 local
    EXPECT_DOUBLE_EQ(moe.moe_working_set_bytes(16), 32 * 4'718'592.0);
    moe.attrs["dtype"] = "mxfp4";  // 4-bit formats: half a byte a weight
    EXPECT_DOUBLE_EQ(moe.moe_expert_bytes(), 2'359'296.0);
    moe.attrs.erase("topk");  // not a fused-MoE table's attributes: never in L2
    EXPECT_TRUE(std::isinf(moe.moe_working_set_bytes(1)));
}

TEST(KernelTables, NonGatedExpertsHoldTwoMatrices) {
    GridTable moe = parse_kernel_tables(POWER_LAW, "test.hkt").tables[0];
    moe.attrs = {{"dtype", "bf16"}, {"hidden", "2688"}, {"inter", "1856"}, {"topk", "6"}, {"experts", "128"}, {"tp", "1"}, {"ep", "1"}};
    EXPECT_TRUE(moe.moe_gated());  // no activation attribute: gate, up and down
    // 3 x 2,688 x 1,856 x 2 B = 29,933,568 B
    EXPECT_DOUBLE_EQ(moe.moe_expert_bytes(), 29'933'568.0);
    moe.attrs["activation"] = "silu";  // a gated activation named
    EXPECT_TRUE(moe.moe_gated());
    moe.attrs["activation"] = "relu2_no_mul";  // Nemotron-H's: up and down only, 2 x 2,688 x 1,856 x 2 B
    EXPECT_FALSE(moe.moe_gated());
    EXPECT_DOUBLE_EQ(moe.moe_expert_bytes(), 19'955'712.0);
    // 4 tokens x top-6 = 24 experts hit
    EXPECT_DOUBLE_EQ(moe.moe_working_set_bytes(4), 24 * 19'955'712.0);
}

// Along a token axis (m) the lookup is log-log, exact for a power law; along n linear, exact for a linear time:
// the table holds 0.002 sqrt(m) n ms.
TEST(KernelTables, InterpolationIsExactForAPowerLawInTokensAndLinearElsewhere) {  // up to float storage (1e-7 relative)
    const KernelTables t = parse_kernel_tables(POWER_LAW, "test.hkt");
    const GridTable& g = t.tables[0];
    // m = 2 (between 1 and 4), n = 10: 0.002 x sqrt(2) x 10 ms
    EXPECT_NEAR(*g.lookup_s({2, 10}), 0.02e-3 * std::sqrt(2.0), 1e-10);  // values are stored as float: 1e-7 relative
    // m = 2, n = 31.6: both axes at once, still exact: 0.002 x sqrt(2) x 31.6 ms
    EXPECT_NEAR(*g.lookup_s({2, 31.6}), 0.002e-3 * std::sqrt(2.0) * 31.6, 1e-10);  // values are stored as float: 1e-7 relative
    // on a grid point: the value itself
    EXPECT_NEAR(*g.lookup_s({4, 100}), 0.4e-3, 1e-10);  // values are stored as float: 1e-7 relative
    // outside the range, or next to the missing point: no value
    EXPECT_FALSE(g.lookup_s({32, 10}));
    EXPECT_FALSE(g.lookup_s({8, 50}));
    // m = 8 along n = 10 needs only measured points: 0.002 x sqrt(8) x 10
    EXPECT_NEAR(*g.lookup_s({8, 10}), 0.02e-3 * std::sqrt(8.0), 1e-10);  // values are stored as float: 1e-7 relative
    // a point treated as unmeasured is not used
    EXPECT_FALSE(g.lookup_s({4, 10}, static_cast<int64_t>(g.index({1, 0}))));
    // leave-one-out: (4, 10) predicted from (1, 10) and (16, 10) is still exact for a power law
    EXPECT_NEAR(*g.loo_s({1, 0}, 0), 0.04e-3, 1e-10);  // values are stored as float: 1e-7 relative
    EXPECT_FALSE(g.loo_s({0, 0}, 0));  // an end of the axis
    EXPECT_FALSE(g.loo_s({1, 1}, 0));  // next to the missing point
    bool clamped = false;
    EXPECT_NEAR(*g.lookup_clamped_s({0.5, 10}, clamped), 0.02e-3, 1e-10);  // values are stored as float: 1e-7 relative
    EXPECT_TRUE(clamped);
}

// A GEMM runs whole 64-row tiles: a table of 0.01 ms a tile, t = 0.01 ceil(m / 64) ms, measured at 16, 128,
// 129 and 256 rows. Its rows interpolate over r - 0.1 (r - m), r = 64 ceil(m / 64) (GridTable::coordinate):
// 129 rows count 192 - 6.3 = 185.7, 200 rows 256 - 5.6 = 250.4, 256 rows 256. At 200 rows (4 tiles, 0.04 ms)
// the weight of 256 is ln(250.4 / 185.7) / ln(256 / 185.7) = 0.93111, so t = 0.03^0.06889 x 0.04^0.93111 =
// 0.039215 ms, where interpolating over m gave 0.036 (weight ln(200 / 129) / ln(256 / 129) = 0.640). Other
// families and up to 16 rows keep the axis' own values.
TEST(KernelTables, GemmRowsInterpolateOverTheTilesTheKernelRuns) {
    const KernelTables t = parse_kernel_tables(R"(# headroom kernel tables v1
gpu test_gpu
device Test GPU
source hand-written
table gemm framework=vllm-0.1 dtype=bf16
axis m 16 128 129 256
axis n 64
axis k 64
data
0.01
0.02
0.03
0.04
end
table moe framework=vllm-0.1 dtype=bf16
axis num_tokens 16 128 129 256
data
0.01 0.02 0.03 0.04
end
)",
                                               "test.hkt");
    const GridTable& g = t.tables[0];
    EXPECT_DOUBLE_EQ(g.coordinate(0, 16), 16.0);
    EXPECT_DOUBLE_EQ(g.coordinate(0, 129), 185.7);
    EXPECT_DOUBLE_EQ(g.coordinate(0, 200), 250.4);
    EXPECT_DOUBLE_EQ(g.coordinate(0, 256), 256.0);
    EXPECT_DOUBLE_EQ(g.coordinate(1, 200), 200.0);  // n: as it is
    EXPECT_NEAR(*g.lookup_s({200, 64, 64}), 0.039215e-3, 1e-9);
    // leave-one-out: 129 rows (3 tiles) from 128 and 256: weight ln(185.7 / 128) / ln(2) = 0.53683,
    // 0.02^0.46317 x 0.04^0.53683 = 0.029016 ms (over m: 0.0202)
    EXPECT_NEAR(*g.loo_s({2, 0, 0}, 0), 0.029016e-3, 1e-9);
    const GridTable& moe = t.tables[1];
    EXPECT_DOUBLE_EQ(moe.coordinate(0, 200), 200.0);
    // over num_tokens: 0.03^(1 - 0.63981) x 0.04^0.63981 = 0.036063 ms
    EXPECT_NEAR(*moe.lookup_s({200}), 0.036063e-3, 1e-9);
}

// A fused MoE timed with balanced routing spreads T x k picks over min(T x k, E) experts: its tokens
// interpolate linearly, in latency, over min(T k, E) + 0.1 max(0, T k - E) (GridTable::moe_picks_coordinate).
// Top-8 of 256 experts, 0.30 ms at 16 tokens (128 picks), 0.55 at 32 (256: every expert), 0.56 at 48 (256 +
// 12.8 = 268.8), 0.57 at 64 (281.6). At 24 tokens (192 picks) the weight of 32 is 64 / 128 = 0.5: 0.425 ms.
// At 40 (262.4) the weight of 48 is 6.4 / 12.8 = 0.5: 0.555 ms. Leaving 32 out, from 16 and 48: weight 128 /
// 140.8 = 0.909091, 0.30 + 0.909091 x 0.26 = 0.536364 ms (2.5% off the 0.55 measured), where log-log over T
// gave 0.30^(1 - w) 0.56^w, w = ln 2 / ln 3 = 0.630930: 0.444780 ms (19% off). A table of any other
// distribution, or one that does not name its top-k and experts, keeps log-log over T.
TEST(KernelTables, ABalancedFusedMoeInterpolatesOverTheExpertsItReaches) {
    const KernelTables t = parse_kernel_tables(R"(# headroom kernel tables v1
gpu test_gpu
device Test GPU
source hand-written
table moe framework=vllm-0.1 dtype=bf16 topk=8 experts=256 distribution=balanced
axis num_tokens 16 32 48 64
data
0.30 0.55 0.56 0.57
end
table moe framework=vllm-0.1 dtype=bf16 topk=8 experts=256 distribution=power_law_1.01
axis num_tokens 16 32 48 64
data
0.30 0.55 0.56 0.57
end
)",
                                               "test.hkt");
    const GridTable& b = t.tables[0];
    EXPECT_FALSE(b.log_axis(0));
    EXPECT_DOUBLE_EQ(b.coordinate(0, 16), 128.0);
    EXPECT_DOUBLE_EQ(b.coordinate(0, 32), 256.0);
    EXPECT_DOUBLE_EQ(b.coordinate(0, 48), 268.8);
    EXPECT_NEAR(*b.lookup_s({24}), 0.425e-3, 1e-10);  // values are stored as float: 1e-7 relative
    EXPECT_NEAR(*b.lookup_s({40}), 0.555e-3, 1e-10);
    EXPECT_NEAR(*b.loo_s({1}, 0), 0.536364e-3, 1e-9);
    const GridTable& law = t.tables[1];
    EXPECT_TRUE(law.log_axis(0));
    EXPECT_DOUBLE_EQ(law.coordinate(0, 32), 32.0);
    EXPECT_NEAR(*law.loo_s({1}, 0), 0.444780e-3, 1e-9);
    GridTable unnamed = b;
    unnamed.attrs.erase("topk");
    EXPECT_TRUE(unnamed.log_axis(0));
    EXPECT_NEAR(*unnamed.loo_s({1}, 0), 0.444780e-3, 1e-9);
}

// vLLM's Marlin MoE pads each expert's tokens to whole blocks of the first size b in 8, 16, 32, 48, 64 with
// T k / E_local / b < 0.9 (64 if none), so on a Hopper or Blackwell a balanced Marlin table's tokens count
// the blocks' rows, less a tenth of their padding (GridTable::marlin_moe_rows_coordinate). Kimi-K2's shape at
// int4, top-8 of 384 experts, EP 1, the B200 table's times at 2,048-6,144 tokens:
// - 2,048: 16,384 picks, 42.67 an expert; 42.67 / 48 = 0.889 < 0.9, so b = 48: R = 384 x 48 = 18,432,
//   18,432 - 0.1 (18,432 - 16,384) = 18,227.2
// - 3,072: 64 an expert, b = 64 (64 / 64 = 1 is not below 0.9), one block: 24,576 (no padding)
// - 4,096: 85.33 an expert, two blocks of 64: R = 49,152, 49,152 - 0.1 (49,152 - 32,768) = 47,513.6
// - 6,144: 128 an expert, two blocks: 49,152
// At 3,500 tokens (72.9 an expert, two blocks): 49,152 - 0.1 (49,152 - 28,000) = 47,036.8, weight
// (47,036.8 - 24,576) / (47,513.6 - 24,576) = 0.979213 on 4,096: 7.32 + 0.979213 x 6.91 = 14.086363 ms, where
// the picks (L40S, below) give weight (3,145.6 - 2,803.2) / (3,622.4 - 2,803.2) = 0.417969: 10.208164 ms.
// Leaving 4,096 out: weight 22,937.6 / 24,576 = 0.933333 from 3,072 and 6,144: 7.32 + 0.933333 x 7.2 =
// 14.04 ms (14.23 measured). At EP 8 (48 experts a rank) 96 tokens make 768 picks, 768 / 48 / 32 = 0.5: b =
// 32 for the 2 tokens each of the 48 experts on the rank holds: R = 48 x 32 = 1,536, 1,536 - 0.1 (1,536 - 96)
// = 1,392.
TEST(KernelTables, MarlinsFusedMoeOnHopperCountsTheRowsOfItsBlocks) {
    const std::string table =
        R"(table moe framework=vllm-0.1 kernel=vllm_compressedtensorswna16marlinmoe_marlin_marlinexperts dtype=int4 hidden=7168 inter=2048 topk=8 experts=384 tp=1 ep=1 distribution=balanced
axis num_tokens 2048 3072 4096 6144
data
5.45 7.32 14.23 14.52
end
)";
    const auto tables = [&](const std::string& gpu) {
        return parse_kernel_tables(
            "# headroom kernel tables v1\ngpu " + gpu + "\ndevice GPU\nsource hand-written\n" + table,
            "test.hkt");
    };
    const KernelTables hopper = tables("h100_sxm");
    const GridTable& m = hopper.tables[0];
    EXPECT_DOUBLE_EQ(m.compute_capability, 9.0);
    ASSERT_TRUE(m.marlin_moe_blocks());
    EXPECT_FALSE(m.log_axis(0));
    EXPECT_NEAR(m.coordinate(0, 2048), 18227.2, 1e-9);
    EXPECT_NEAR(m.coordinate(0, 3072), 24576.0, 1e-9);
    EXPECT_NEAR(m.coordinate(0, 4096), 47513.6, 1e-9);
    EXPECT_NEAR(m.coordinate(0, 6144), 49152.0, 1e-9);
    EXPECT_NEAR(*m.lookup_s({3500}), 14.086363e-3, 1e-8);  // float storage: 1e-7 relative
    EXPECT_NEAR(*m.loo_s({2}, 0), 14.04e-3, 1e-8);
    GridTable ep8 = m;
    ep8.attrs["ep"] = "8";
    EXPECT_NEAR(ep8.coordinate(0, 96), 1392.0, 1e-9);
    // not on L40S (compute capability 8.9), nor for another kernel or a power-law table: the picks
    const KernelTables ada = tables("l40s");
    EXPECT_FALSE(ada.tables[0].marlin_moe_blocks());
    EXPECT_NEAR(ada.tables[0].coordinate(0, 3500), 3145.6, 1e-9);
    EXPECT_NEAR(*ada.tables[0].lookup_s({3500}), 10.208164e-3, 1e-8);
    GridTable triton = m;
    triton.attrs["kernel"] = "vllm_fused_moe";
    EXPECT_FALSE(triton.marlin_moe_blocks());
    EXPECT_NEAR(triton.coordinate(0, 3500), 3145.6, 1e-9);
    GridTable law = m;
    law.attrs["distribution"] = "power_law_1.01";
    EXPECT_FALSE(law.marlin_moe_blocks());
    EXPECT_TRUE(law.log_axis(0));
}

// An encoder's length counts FlashAttention's query and key tiles (GridTable::encoder_isl_coordinate), each
// less a tenth of its padding: FlashAttention 2 at head size 80 runs 128 x 64 tiles, so 150 tokens are
// sqrt((256 - 10.6) (192 - 4.2)) = sqrt(245.4 x 187.8) = 214.6768; between 0.01 ms at 128 and 0.04 ms at 256,
// weight ln(214.6768 / 128) / ln 2 = 0.74602, 0.01 x 4^0.74602 = 0.028129 ms (over isl: 0.013733). The
// tiles by kernel and head size are those of FlashAttention's sources; a kernel or head size they do not
// list keeps isl as it is.
TEST(KernelTables, AnEncodersLengthCountsFlashAttentionsTiles) {
    const KernelTables t = parse_kernel_tables(R"(# headroom kernel tables v1
gpu test_gpu
device Test GPU
source hand-written
table encoder_attention framework=vllm-0.1 kernel=vllm_vit_flash_attn_fa2 dtype=bf16 heads=1 head_dim=80
axis batch_size 1
axis isl 128 256
data
0.01 0.04
end
table encoder_attention framework=vllm-0.1 kernel=my_attention dtype=bf16 heads=1 head_dim=80
axis batch_size 1
axis isl 128 256
data
0.01 0.04
end
)",
                                               "test.hkt");
    const GridTable& fa2 = t.tables[0];
    EXPECT_NEAR(fa2.coordinate(1, 150), 214.676780, 1e-6);
    EXPECT_DOUBLE_EQ(fa2.coordinate(1, 128), 128.0);
    EXPECT_DOUBLE_EQ(fa2.coordinate(0, 150), 150.0);  // the batch: as it is
    EXPECT_NEAR(*fa2.lookup_s({1, 150}), 0.028129e-3, 1e-9);
    EXPECT_NEAR(*t.tables[1].lookup_s({1, 150}), 0.013733e-3, 1e-9);
    // FlashAttention 3 at head size 64 runs 192 x 192 (200 tokens: 384 - 18.4 = 365.6), at 72 192 x 144
    // (sqrt(365.6 x 279.2) = 319.4926); FlashAttention 4 256 x 128 (250.4 both); FA3 at 128 is not listed.
    const std::pair<double, double> none{0.0, 0.0};
    EXPECT_EQ(encoder_attention_tiles("vllm_vit_flash_attn_fa3", 64), std::make_pair(192.0, 192.0));
    EXPECT_EQ(encoder_attention_tiles("vllm_vit_flash_attn_fa3", 72), std::make_pair(192.0, 144.0));
    EXPECT_EQ(encoder_attention_tiles("vllm_vit_flash_attn_fa4", 80), std::make_pair(256.0, 128.0));
    EXPECT_EQ(encoder_attention_tiles("vllm_vit_flash_attn_fa2", 64), std::make_pair(128.0, 128.0));
    EXPECT_EQ(encoder_attention_tiles("vllm_vit_flash_attn_fa3", 128), none);
    EXPECT_EQ(encoder_attention_tiles("vllm_vit_flash_attn_fa3", -1), none);
}

// An encoder's batch counts the waves of CTAs over the GPU's SMs (GridTable::encoder_batch_coordinate). On
// an L40S (142 SMs, from its shipped profile) FlashAttention 2 at head size 64 runs 128-row query tiles, so 4
// heads at 256 tokens are 8 CTAs a sequence: 16 sequences fill 1 wave (r = 142 / 8 = 17.75, less a tenth of
// the 1.75 idle: 17.575), 20 fill 2 (35.5 -> 33.95), 64 fill 4 (71 -> 70.3). Between 0.01 ms at 16 and 0.04
// at 64, 20 sequences sit at (33.95 - 17.575) / (70.3 - 17.575) = 0.310574: 0.019317 ms (over the batch:
// 0.0125). Tables under a GPU name headroom ships no profile for know no SM count and keep the batch as it
// is.
TEST(KernelTables, AnEncodersBatchCountsWavesOfCtas) {
    const std::string table = R"(
source hand-written
table encoder_attention framework=vllm-0.1 kernel=vllm_vit_flash_attn_fa2 dtype=bf16 heads=4 head_dim=64
axis batch_size 16 64
axis isl 256
data
0.01
0.04
end
)";
    const KernelTables l40s =
        parse_kernel_tables("# headroom kernel tables v1\ngpu l40s" + table, "l40s.hkt");
    const GridTable& g = l40s.tables[0];
    EXPECT_DOUBLE_EQ(g.sm_count, 142.0);
    const double point[] = {20.0, 256.0};
    EXPECT_NEAR(g.coordinate(0, 20, point), 33.95, 1e-9);
    EXPECT_DOUBLE_EQ(g.coordinate(0, 20), 20.0);  // without the point: as it is
    EXPECT_NEAR(*g.lookup_s({20, 256}), 0.0193172e-3, 1e-10);
    // and its length the waves times the key tiles each CTA walks: 300 tokens are 3 query tiles, so 20
    // sequences of 4 heads run 240 CTAs, 1.690 waves, counted as 2 - 0.1 (2 - 1.690) = 1.96901, times the
    // keys by their 128-key tiles, 384 - 8.4 = 375.6: 739.5617. One sequence (12 CTAs, 0.0845 of a wave)
    // fills no wave: (1 - 0.1 x 0.9155) x 375.6 = 341.2141, the key tiles alone (less the idle tenth).
    const double at20[] = {20.0, 300.0}, at1[] = {1.0, 300.0};
    EXPECT_NEAR(g.coordinate(1, 300, at20), 739.561690, 1e-6);
    EXPECT_NEAR(g.coordinate(1, 300, at1), 341.214085, 1e-6);
    const KernelTables mine =
        parse_kernel_tables("# headroom kernel tables v1\ngpu my_gpu" + table, "my.hkt");
    EXPECT_DOUBLE_EQ(mine.tables[0].sm_count, 0.0);
    EXPECT_NEAR(*mine.tables[0].lookup_s({20, 256}), 0.0125e-3, 1e-10);
    // without the SM count the length counts the tiles of both kinds: sqrt(375.6 x 375.6)
    EXPECT_NEAR(mine.tables[0].coordinate(1, 300, at20), 375.6, 1e-9);
}

// A prefill's length bends: between two grid points a lookup takes the quadratic in log(latency) over
// log(isl) through them and the next point out on each side (GridTable::curved_axis). It is exact for a
// latency whose log is a quadratic in log(isl): ln t = -5 + 0.5 L + 0.05 L^2 ms, L = ln isl, tabled at
// 64-1,024, gives at isl 300 exp(-5 + 0.5 ln 300 + 0.05 ln^2 300) = 0.593658 ms, where the straight log-log
// blend of 256 and 512 gives 0.5962. The result is held between the two points around it: with 0.001, 0.04,
// 0.05, 0.05 ms at 16, 32, 64 and 128, the quadratics at 45 through 16 and through 128 give 0.068837 and
// 0.045902 ms, their geometric mean 0.056212, held to 0.05. A decode table's axes keep their straight blend.
TEST(KernelTables, APrefillsLengthInterpolatesOnACurve) {
    auto row = [](double isl) {
        const double l = std::log(isl);
        return std::exp(-5.0 + 0.5 * l + 0.05 * l * l);
    };
    std::string text =
        "# headroom kernel tables v1\ngpu test_gpu\ndevice Test GPU\nsource hand-written\n"
        "table prefill_attention framework=vllm-0.1 kv_dtype=bf16 window=0 heads=8 kv_heads=8 head_dim=128\n"
        "axis batch_size 1\naxis isl 64 128 256 512 1024\ndata\n";
    for (double isl : {64.0, 128.0, 256.0, 512.0, 1024.0}) text += fmt::format("{:.9g} ", row(isl));
    text +=
        "\nend\ntable prefill_attention framework=vllm-0.1 kv_dtype=bf16 window=0 heads=4 kv_heads=4 "
        "head_dim=128\n"
        "axis batch_size 1\naxis isl 16 32 64 128\ndata\n0.001 0.04 0.05 0.05\nend\n";
    const KernelTables t = parse_kernel_tables(text, "test.hkt");
    const GridTable& g = t.tables[0];
    EXPECT_TRUE(g.curved_axis(1));
    EXPECT_FALSE(g.curved_axis(0));
    EXPECT_NEAR(*g.lookup_s({1, 300}), row(300) * 1e-3, 1e-9);  // 0.593658 ms; stored as float: 1e-7 relative
    // leave-one-out: 256 from 128 and 512 bent by 64 and 1,024: the same curve, exact
    EXPECT_NEAR(*g.loo_s({0, 2}, 1), row(256) * 1e-3, 1e-9);
    EXPECT_NEAR(*t.tables[1].lookup_s({1, 45}), 0.05e-3, 1e-12);
}

// Off the token axes a kernel's time is a fixed cost plus linear work, which linear interpolation keeps exactly:
// 0.01 + 0.0001 b s ms over batch b and context s (log-log would not: at (4, 100) it gives 0.121 ms, not 0.05).
TEST(KernelTables, LinearInterpolationIsExactForAFixedCostPlusLinearWork) {
    const KernelTables t = parse_kernel_tables(R"(# headroom kernel tables v1
gpu test_gpu
device Test GPU
source hand-written
table decode_attention framework=vllm-0.1 heads=8 kv_heads=8
axis batch_size 1 4 16
axis step 1 1023
data
0.0101 0.1123
0.0104 0.4192
0.0116 1.6468
end
)", "test.hkt");
    const GridTable& g = t.tables[0];
    EXPECT_FALSE(g.log_axis(0));
    EXPECT_FALSE(g.log_axis(1));
    EXPECT_NEAR(*g.lookup_s({4, 100}), (0.01 + 0.0001 * 4 * 100) * 1e-3, 1e-10);    // 0.05 ms
    EXPECT_NEAR(*g.lookup_s({10, 500}), (0.01 + 0.0001 * 10 * 500) * 1e-3, 1e-10);  // 0.51 ms
    // leave-one-out: (4, 1023) from (1, 1023) and (16, 1023), 3 / 15 of the way: 0.1123 + 0.2 x 1.5345 = 0.4192
    EXPECT_NEAR(*g.loo_s({1, 1}, 0), 0.4192e-3, 1e-10);
}

TEST(KernelTables, MalformedFilesNameTheFileAndLine) {
    auto error_of = [](const std::string& text) {
        try {
            parse_kernel_tables(text, "bad.hkt");
        } catch (const HardwareError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(error_of("hello\n"), "bad.hkt: line 1: not a headroom kernel table file (first line)");
    const std::string head = "# headroom kernel tables v1\ngpu g\n";
    EXPECT_EQ(error_of(head + "table gemm\naxis m 4 2\n"), "bad.hkt: line 4: axis values must ascend");
    EXPECT_EQ(error_of(head + "table gemm\naxis m 1 2\ndata\n0.1 x\nend\n"),
              "bad.hkt: line 6: bad latency \"x\" (a number of ms in [1e-9, 1e9], or -)");
    // (a float holds it: 1e300 would overflow to infinity, 1e-300 to zero)
    EXPECT_EQ(error_of(head + "table gemm\naxis m 1 2\ndata\n0.1 1e300\nend\n"),
              "bad.hkt: line 6: bad latency \"1e300\" (a number of ms in [1e-9, 1e9], or -)");
    EXPECT_EQ(error_of(head + "table gemm\naxis m 1 2e300\n"),
              "bad.hkt: line 4: bad axis value \"2e300\" (a number in (0, 1e15])");
    EXPECT_EQ(error_of(head + "table gemm\naxis m 1 2\ndata\n0.1\nend\n"),
              "bad.hkt: line 7: table holds 1 values, its axes need 2");
    EXPECT_EQ(error_of(head + "table gemm a=1 a=2\n"), "bad.hkt: line 3: duplicate attribute \"a\"");
    EXPECT_EQ(error_of(head + "table gemm\naxis m 1 2\ndata\n0.1 0.2\n"), "bad.hkt: the last table has no end line");
    EXPECT_EQ(error_of(head + "bogus 1\n"), "bad.hkt: line 3: unknown line \"bogus\"");
    // a line of blanks is skipped (the fuzzer's: it had read the first word of none)
    EXPECT_EQ(error_of(head + "   \ntable gemm\naxis m 1 2\n"), "bad.hkt: line 4: the table has no data section");
    // a table whose axes are never followed by data (the fuzzer's: a lookup then read an empty grid)
    EXPECT_EQ(error_of(head + "table gemm\naxis m 1 2\n"), "bad.hkt: line 3: the table has no data section");
    EXPECT_EQ(error_of(head + "table gemm\naxis m 1 2\ntable gemm\n"),
              "bad.hkt: line 5: the table of line 3 has no data section");
}

TEST(KernelTables, ShippedTablesLoadForEveryGpuWithData) {
    for (const char* gpu : {"h100_sxm", "h200_sxm", "b200_sxm", "gb200", "a100_sxm", "l40s"}) {
        const auto t = shipped_kernel_tables(gpu);
        ASSERT_TRUE(t) << gpu;
        EXPECT_FALSE(t->find("gemm", {{"dtype", "bf16"}}).empty()) << gpu;
        EXPECT_FALSE(t->find("decode_attention").empty()) << gpu;
        EXPECT_NE(t->source.find("AIConfigurator"), std::string::npos) << gpu;
    }
    EXPECT_FALSE(shipped_kernel_tables("h100_pcie"));
    // a measured point read back: H100 bf16 GEMM m=1, n=k=32 is 0.0026 ms in the published table
    const GridTable* g = shipped_kernel_tables("h100_sxm")->find("gemm", {{"dtype", "bf16"}})[0];
    EXPECT_NEAR(*g->lookup_s({1, 32, 32}), 0.0026e-3, 1e-10);  // values are stored as float: 1e-7 relative
}

// A user's tables (`kernel_tables:`, `cost --kernel-tables`) are checked against each family's layout as the
// predictors read it; the shipped ones pass the same check.
TEST(KernelTables, TablesOfAFamilyThePredictorsReadHaveItsAxesAndAttributes) {
    for (const std::string& gpu : shipped_kernel_table_gpus())
        EXPECT_NO_THROW(check_kernel_tables(*shipped_kernel_tables(gpu))) << gpu;
    auto error_of = [](const std::string& body) {
        try {
            KernelTables t = parse_kernel_tables("# headroom kernel tables v1\ngpu g\n" + body, "mine.hkt");
            check_kernel_tables(t);
        } catch (const HardwareError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string data1 = "data\n0.1 0.2\nend\n";
    EXPECT_EQ(error_of("table gemm dtype=bf16\naxis m 1 2\n" + data1),
              "mine.hkt: line 3: a gemm table has the axes m n k in that order, not \"m\"");
    EXPECT_EQ(error_of("table toy\naxis m 1 2\n" + data1), "no error");  // a family nothing reads
    EXPECT_EQ(error_of("table nccl op=all_reduce dtype=fp16\naxis message_size 1 2\n" + data1),
              "mine.hkt: line 3: a nccl table needs the attribute gpus");
    EXPECT_EQ(error_of("table vllm_allreduce gpus=4x mode=graph\naxis message_size 1 2\n" + data1),
              "mine.hkt: line 3: attribute gpus=4x of a vllm_allreduce table: expected an integer >= 1");
    EXPECT_EQ(error_of("table toy\naxis m 1 2\n" + data1 +
                       "table decode_attention kv_dtype=bf16 window=-1 heads=8 kv_heads=8 head_dim=128\n"
                       "axis batch_size 1 2\naxis step 1 2\ndata\n0.1 0.2\n0.3 0.4\nend\n"),
              // (lines: 1 header, 2 gpu, 3-7 the toy table, 8 the decode table)
              "mine.hkt: line 8: attribute window=-1 of a decode_attention table: expected an integer >= 0");
    EXPECT_EQ(
        error_of("table mla_decode hidden=7168 q_lora=0 kv_lora=512 nope=128 rope=64 v=128 kv_dtype=bf16 "
                 "dtype=bf16 heads=16\naxis batch_size 1 2\naxis isl 1 2\ndata\n0.1 0.2\n0.3 0.4\nend\n"),
        "mine.hkt: line 3: a mla_decode table has the axes batch_size step in that order, not \"batch_size "
        "isl\"");
}
