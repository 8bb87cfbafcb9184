// KV planner against hand computations of vLLM's accounting.
#include <gtest/gtest.h>

#include <cmath>

#include "headroom/core/kv_planner.hpp"
#include "headroom/core/parallelism.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"

using namespace headroom;

namespace {

KvPlanRequest with_reserve(double bytes) {
    KvPlanRequest r;
    r.reserve_bytes = bytes;
    return r;
}

}  // namespace

TEST(KvPlanner, Llama8B_on_H100_by_hand) {
    // usable 80 GiB x 0.9899 = 85,899,345,920 x 0.9899 = 85,031,762,526.208 B; x 0.9 = 76,528,586,273.5872
    // - weights 16,060,522,496 - reserve 2,000,000,000 = 58,468,063,777.5872 B for KV
    // block = 16 tokens x 131,072 B = 2,097,152 B; 58,468,063,777.59 / 2,097,152 = 27,879.74 -> 27,879 blocks
    // tokens 27,879 x 16 = 446,064
    // at 131,072 tokens a sequence needs 8,192 blocks: floor(27,879 / 8,192) = 3
    // at 8,192 tokens: 512 blocks -> 54 sequences; at concurrency 64: 27,879 / 64 = 435 blocks = 6,960 tokens
    const ModelCard m = load_model("llama-3.1-8b");
    const GpuProfile g = load_gpu("h100");
    KvPlanRequest r = with_reserve(2e9);
    r.context = 8192;
    r.concurrency = 64;
    const KvPlan p = plan_kv(m, g, r);
    EXPECT_NEAR(p.kv_budget_bytes, 58'468'063'777.5872, 1.0);
    EXPECT_EQ(p.block_bytes, 2'097'152.0);
    EXPECT_EQ(p.num_blocks, 27'879);
    EXPECT_EQ(p.kv_tokens, 446'064);
    EXPECT_EQ(p.max_concurrency_at_context, 54);
    EXPECT_EQ(p.max_context_at_concurrency, 6'960);
    EXPECT_TRUE(p.fits);

    r.context = 0;  // max_model_len
    EXPECT_EQ(plan_kv(m, g, r).max_concurrency_at_context, 3);
}

TEST(KvPlanner, ReserveEstimate) {
    // Llama-3.1-8B, TP 1, 8,192 batched tokens: elements per token at the forward pass's peak
    //   2 x 4096 + max((32 + 2 x 8) x 128 = 6,144, 3 x 14,336 = 43,008) = 51,200
    //   activations 8,192 x 51,200 x 2 B = 838,860,800
    // sampler: 3.61 fp32 copies of 256 sequences x 128,256 logits: 3.61 x 131,334,144 = 474,116,259.84
    // the peak: the larger of the two plus 0.123 GiB of buffers = 838,860,800 + 132,070,244.352
    KvPlanRequest r;
    r.max_num_batched_tokens = 8192;
    r.max_num_seqs = 256;
    const GpuProfile h100 = load_gpu("h100");
    const ModelCard llama = load_model("llama-3.1-8b");
    const ReserveEstimate e = estimate_reserve(llama, h100, r);
    EXPECT_DOUBLE_EQ(e.activation_bytes, 838'860'800.0);
    EXPECT_NEAR(e.logits_bytes, 474'116'259.84, 1e-3);
    EXPECT_EQ(e.moe_workspace_bytes, 0.0);
    EXPECT_NEAR(e.peak_activation(), 970'931'044.352, 1e-3);
    EXPECT_DOUBLE_EQ(e.non_torch_bytes, 0.25 * 1024 * 1024 * 1024);
    EXPECT_DOUBLE_EQ(e.cuda_graph_bytes, 0.8 * 1024 * 1024 * 1024);
    // vLLM's --enforce-eager (a scenario's cuda_graphs: false) captures no graphs and keeps no pool for them
    KvPlanRequest eager = r;
    eager.cuda_graphs = false;
    EXPECT_EQ(estimate_reserve(llama, h100, eager).cuda_graph_bytes, 0.0);
    EXPECT_NEAR(plan_kv(llama, h100, eager).kv_budget_bytes - plan_kv(llama, h100, r).kv_budget_bytes,
                0.8 * 1024 * 1024 * 1024, 1e-3);
    // With 1,024 sequences (vLLM's default on H100) the sampler is the larger: 3.61 x 1,024 x 128,256 x 4 B
    //   = 1,896,465,039.36, + 132,070,244.352 = 2,028,535,283.712 B = 1.889 GiB (vLLM 0.19 logged 1.89 GiB)
    r.max_num_seqs = 1024;
    EXPECT_NEAR(estimate_reserve(llama, h100, r).peak_activation(), 2'028'535'283.712, 1e-3);

    // A TP group: NCCL's NVLink SHARP buffers on Hopper's NVSwitch (0.25 + 1.84 GiB), 0.3 GiB of NCCL buffers
    // on an NVLink GPU before Hopper, none over PCIe
    r.tp = 2;
    EXPECT_NEAR(estimate_reserve(llama, h100, r).non_torch_bytes, 2.09 * 1024 * 1024 * 1024, 1e-3);
    EXPECT_NEAR(estimate_reserve(llama, load_gpu("a100-80gb"), r).non_torch_bytes, 0.55 * 1024 * 1024 * 1024,
                1e-3);
    EXPECT_DOUBLE_EQ(estimate_reserve(llama, load_gpu("l40s"), r).non_torch_bytes, 0.25 * 1024 * 1024 * 1024);

    // Mixtral-8x7B at TP 2: no dense layer, so the forward pass's peak is the attention stage,
    //   (32 / 2 + 2 x 8 / 2) x 128 = 3,072, + 2 x 4,096: 8,192 x 11,264 x 2 B = 184,549,376;
    // the fused MoE's workspace: 8,192 tokens x top-2 rows x (max(2 x 7,168, 4,096) + 7,168) x 2 B
    //   = 16,384 x 21,504 x 2 = 704,643,072;
    // the sampler, 32,000 logits: 3.61 x 1,024 x 32,000 x 4 = 473,169,920;
    // the peak 473,169,920 + 704,643,072 + 132,070,244.352 = 1,309,883,236.352 B = 1.22 GiB (logged: 1.21)
    const ReserveEstimate x = estimate_reserve(load_model("mistralai/Mixtral-8x7B-v0.1"), h100, r);
    EXPECT_DOUBLE_EQ(x.activation_bytes, 184'549'376.0);
    EXPECT_DOUBLE_EQ(x.moe_workspace_bytes, 704'643'072.0);
    EXPECT_NEAR(x.peak_activation(), 1'309'883'236.352, 1e-3);
}

TEST(KvPlanner, DeepEpBuffersComeOutOfTheKvCache) {
    // DeepSeek-V3 (hidden 7,168, 256 experts) over EP 8 with DeepEP's low-latency kernels, 256 tokens a rank:
    //   scales 7,168 / 128 = 56; dispatch message 16 + max(14,336, 7,168 + 224) = 14,352 B;
    //   combine message 224 + 14,336 = 14,560 B
    //   send max(256 x 14,352, 256 x 256 x 14,560) = 954,204,160; receive max(65,536 x 14,352 = 940,572,672,
    //   954,204,160) = 954,204,160; signalling 256 x 8 + 32 x 4 = 2,176 (a multiple of 128)
    //   2 x 954,204,160 x 2 + 2 x 2,176 = 3,816,820,992 -> (+ 128) / 128 x 128 = 3,816,821,120
    //   plus the 1,024 MiB NVLink buffer: 4,890,562,944 B
    const ModelCard v3 = load_model("deepseek-ai/DeepSeek-V3");
    EXPECT_DOUBLE_EQ(deepep_buffer_bytes(v3, "deepep_low_latency", 8, 8), 4'890'562'944.0);
    // Mixtral (hidden 4,096, 8 experts) over EP 4: scales 32; dispatch 16 + 8,192 = 8,208; combine 8,320;
    //   send and receive max(256 x 8,208, 2,048 x 8,208, 2,048 x 8,320) = 17,039,360 each, doubled;
    //   signalling 64 + 2 x 4 = 72 -> 128, doubled: 68,157,696 -> 68,157,824, plus 1,073,741,824
    EXPECT_DOUBLE_EQ(deepep_buffer_bytes(load_model("mistralai/Mixtral-8x7B-v0.1"), "deepep_low_latency", 4, 4),
                     1'141'899'648.0);
    // high-throughput: the NVLink buffer, and an RDMA one of the same size past one 8-GPU node
    EXPECT_DOUBLE_EQ(deepep_buffer_bytes(v3, "deepep_high_throughput", 8, 8), 1024.0 * 1024 * 1024);
    EXPECT_DOUBLE_EQ(deepep_buffer_bytes(v3, "deepep_high_throughput", 16, 16), 2.0 * 1024 * 1024 * 1024);
    EXPECT_DOUBLE_EQ(deepep_buffer_bytes(v3, "allgather_reducescatter", 8, 8), 0.0);
    EXPECT_DOUBLE_EQ(deepep_buffer_bytes(v3, "deepep_low_latency", 1, 8), 0.0);  // EP without DP: no all2all backend
    EXPECT_DOUBLE_EQ(deepep_buffer_bytes(load_model("llama-3.1-8b"), "deepep_low_latency", 8, 8), 0.0);

    // set_expert_parallel: the experts over TP x DP = 2 x 4 GPUs, and high-throughput's one NVLink buffer
    KvPlanRequest x;
    x.tp = 2, x.dp = 4;
    set_expert_parallel(x, v3, true, "deepep_high_throughput");
    EXPECT_EQ(x.ep, 8);
    EXPECT_DOUBLE_EQ(x.all2all_buffer_bytes, 1024.0 * 1024 * 1024);
    set_expert_parallel(x, v3, false, "deepep_high_throughput");  // no EP: no all2all backend, no buffer
    EXPECT_EQ(x.ep, 1);
    EXPECT_DOUBLE_EQ(x.all2all_buffer_bytes, 0.0);

    // In the plan the buffers come off the KV budget
    KvPlanRequest r;
    r.dp = 8, r.ep = 8;
    const GpuProfile h200 = load_gpu("h200");
    const KvPlan gathered = plan_kv(v3, h200, r);
    r.all2all_buffer_bytes = deepep_buffer_bytes(v3, "deepep_low_latency", 8, 8);
    const KvPlan deepep = plan_kv(v3, h200, r);
    EXPECT_DOUBLE_EQ(deepep.reserve.all2all_bytes, 4'890'562'944.0);
    EXPECT_NEAR(gathered.kv_budget_bytes - deepep.kv_budget_bytes, 4'890'562'944.0, 1e-3);
    EXPECT_LT(deepep.num_blocks, gathered.num_blocks);
    // A sequence lives on one DP rank: at the full 163,840 tokens it takes 10,240 blocks of 16, so each rank
    // holds floor(its blocks / 10,240) of them and the eight ranks eight times that, not the blocks of all
    // eight pooled (which would fit one or two more)
    ASSERT_EQ(deepep.num_blocks % 8, 0);
    const int64_t rank_blocks = deepep.num_blocks / 8;
    EXPECT_EQ(deepep.max_concurrency_at_context, 8 * (rank_blocks / 10'240));
    EXPECT_LT(deepep.max_concurrency_at_context, deepep.num_blocks / 10'240);
    // 17 sequences put 3 on the busiest rank: the longest context is what 3 sequences of one rank can hold
    r.concurrency = 17;
    const KvPlan seventeen = plan_kv(v3, h200, r);
    EXPECT_EQ(seventeen.max_context_at_concurrency, rank_blocks / 3 * 16);
}

TEST(KvPlanner, TensorParallelSplitsKvHeads) {
    // 70B at TP 4: 8 KV heads / 4 = 2 per GPU -> 80 x 2 x 2 x 128 x 2 = 81,920 B per token per GPU
    // weights 141,107,412,992 / 4 = 35,276,853,248 B per GPU
    const ModelCard m = load_model("Llama-3.3-70B");
    KvPlanRequest r = with_reserve(2e9);
    r.tp = 4;
    const KvPlan p = plan_kv(m, load_gpu("h100"), r);
    EXPECT_EQ(p.kv_heads_per_gpu, 2);
    EXPECT_FALSE(p.kv_heads_replicated);
    EXPECT_EQ(p.kv_bytes_per_token, 81'920.0);
    EXPECT_DOUBLE_EQ(p.weight_bytes, 35'276'853'248.0);
}

TEST(KvPlanner, KvHeadsReplicatedBeyondTheirCount) {
    // TP 16 > 8 KV heads: each rank holds one whole head: 80 x 2 x 1 x 128 x 2 = 40,960 B per token,
    // and its own copy of one head's K/V projections: 80 layers x (2 x 8192 x 128 - 2 x 8192 x 128 x 8 / 16)
    // x 2 B = 80 x 1,048,576 x 2 = 167,772,160 extra bytes over an even split
    const ModelCard m = load_model("Llama-3.3-70B");
    KvPlanRequest r = with_reserve(2e9);
    r.tp = 16;
    const KvPlan p = plan_kv(m, load_gpu("h100"), r);
    EXPECT_EQ(p.kv_heads_per_gpu, 1);
    EXPECT_TRUE(p.kv_heads_replicated);
    EXPECT_EQ(p.kv_bytes_per_token, 40'960.0);
    EXPECT_DOUBLE_EQ(p.weight_bytes, 141'107'412'992.0 / 16 + 167'772'160.0);
}

TEST(KvPlanner, MlaLatentNotSplitByTp) {
    // DeepSeek-V2-Lite: 27 x 576 x 2 = 31,104 B per token on every rank, whatever the TP
    const ModelCard m = load_model("DeepSeek-V2-Lite");
    KvPlanRequest r = with_reserve(2e9);
    r.tp = 2;
    EXPECT_EQ(plan_kv(m, load_gpu("h100"), r).kv_bytes_per_token, 31'104.0);
    r.tp = 1;
    EXPECT_EQ(plan_kv(m, load_gpu("h100"), r).kv_bytes_per_token, 31'104.0);
}

TEST(KvPlanner, SlidingLayersCapWithTheTokenBudget) {
    // gemma-2-9b, max_num_batched_tokens 512: a sliding layer holds min(4096 - 1 + 512, 8192) = 4,607 tokens
    // = ceil(4607 / 16) + 1 = 289 blocks; at 8,192 tokens a global layer holds 512 blocks.
    // one sequence: 21 x 512 x 16 x 8,192 + 21 x 289 x 16 x 8,192 = 21 x 16 x 8,192 x 801 = 2,204,762,112 B
    const ModelCard m = load_model("gemma-2-9b");
    KvPlanRequest r = with_reserve(2e9);
    r.max_num_batched_tokens = 512;
    const KvPlan p = plan_kv(m, load_gpu("h100"), r);
    EXPECT_DOUBLE_EQ(p.sequence_bytes_at_context, 2'204'762'112.0);
}

TEST(KvPlanner, WeightsDoNotFit) {
    // 70B at bf16 on one H100: 141.1 GB of weights against 85.0 GB x 0.9 - 2.0 GB = 74.5 GB
    const KvPlan p = plan_kv(load_model("Llama-3.3-70B"), load_gpu("h100"), with_reserve(2e9));
    EXPECT_FALSE(p.fits);
    EXPECT_EQ(p.why_not, "weights 141.1 GB per GPU > 85.0 GB usable x 0.90 - 2.0 GB reserve = 74.5 GB");
}

TEST(KvPlanner, MaxModelLenDoesNotFit) {
    // 70B at TP 2: 76.5 - 70.6 - 2.0 = 3.9 GB of KV; one 131,072-token sequence needs
    // 131,072 x 163,840 B = 21.5 GB
    KvPlanRequest r = with_reserve(2e9);
    r.tp = 2;
    const KvPlan p = plan_kv(load_model("Llama-3.3-70B"), load_gpu("h100"), r);
    EXPECT_FALSE(p.fits);
    EXPECT_NE(p.why_not.find("max_model_len 131072 tokens needs 21.5 GB"), std::string::npos) << p.why_not;
}

TEST(KvPlanner, BadRequestsNameTheOption) {
    const ModelCard m = load_model("llama-3.1-8b");
    const GpuProfile g = load_gpu("h100");
    auto field = [&](KvPlanRequest r) {
        try {
            plan_kv(m, g, r);
        } catch (const PlanError& e) {
            return e.field();
        }
        return std::string("no error");
    };
    KvPlanRequest r;
    r.tp = 3;  // 32 heads
    EXPECT_EQ(field(r), "--tp");
    r = {};
    r.kv_dtype = Dtype::INT4;
    EXPECT_EQ(field(r), "--kv-dtype");
    r = {};
    r.context = 200'000;
    EXPECT_EQ(field(r), "--context");
    r = {};
    r.max_model_len = 1'000'000;
    EXPECT_EQ(field(r), "--max-model-len");
    r = {};
    r.gpu_memory_utilization = 1.5;
    EXPECT_EQ(field(r), "--gpu-memory-utilization");
    EXPECT_THROW(plan_kv(load_model("all-MiniLM-L6-v2"), g, KvPlanRequest{}), PlanError);
}

TEST(KvPlanner, HybridModelsAreGroupedAsVllmGroupsThem) {
    const GpuProfile h100 = load_gpu("h100");
    KvPlanRequest r;
    r.max_model_len = 8192;
    // gpt-oss-20b: 12 full + 12 sliding (128) layers -> 2 groups of 12 layers; a block is 16 tokens x 12 layers
    // x 2 (K, V) x 8 KV heads x 64 x 2 B = 393,216 B
    const KvPlan g = plan_kv(load_model("openai/gpt-oss-20b"), h100, r);
    EXPECT_EQ(g.group_layers, 12);
    EXPECT_EQ(g.group_windows, (std::vector<int64_t>{0, 128}));
    EXPECT_DOUBLE_EQ(g.block_bytes, 393216.0);
    EXPECT_EQ(g.num_blocks, static_cast<int64_t>(std::floor(g.kv_budget_bytes / 393216.0)));
    // gemma-2-9b: 21 + 21 layers (window 4096) -> 2 groups of 21
    const KvPlan gemma = plan_kv(load_model("google/gemma-2-9b"), h100, r);
    EXPECT_EQ(gemma.group_layers, 21);
    EXPECT_EQ(gemma.group_windows, (std::vector<int64_t>{0, 4096}));
    // gemma-2-27b: 23 full + 23 sliding (4096) layers -> 2 groups of 23; a block is 16 tokens x 23 layers x 2 (K, V)
    // x 16 KV heads x 128 x 2 B = 3,014,656 B; on an H200 (bf16 weights 54.45 GB) the pool holds
    // floor(KV budget / 3,014,656) blocks, shared by the two groups
    const KvPlan g27 = plan_kv(load_model("google/gemma-2-27b"), load_gpu("h200"), r);
    EXPECT_EQ(g27.group_layers, 23);
    EXPECT_EQ(g27.group_windows, (std::vector<int64_t>{0, 4096}));
    EXPECT_DOUBLE_EQ(g27.block_bytes, 3014656.0);
    EXPECT_EQ(g27.num_blocks, static_cast<int64_t>(std::floor(g27.kv_budget_bytes / 3014656.0)));
    EXPECT_EQ(g27.kv_tokens, g27.num_blocks * 16 / 2);  // every token takes a slot in each group
    // a uniform model: one group of every layer, as before
    const KvPlan llama = plan_kv(load_model("meta-llama/Llama-3.1-8B-Instruct"), h100, r);
    EXPECT_EQ(llama.group_layers, 32);
    EXPECT_EQ(llama.group_windows, (std::vector<int64_t>{0}));
}

TEST(KvPlanner, PipelineStagesSplitTheLayersAsVllmDoes) {
    // vllm/distributed/utils.py get_pp_indices: layers / pp each, the remainder one each to the stages before
    // the last, from the second-to-last back. 64 on 3: 21 each and 1 over, to stage 2 (vLLM logs [21,22,21]).
    EXPECT_EQ(pipeline_stage_layers(64, 3), (std::vector<int64_t>{21, 22, 21}));
    EXPECT_EQ(pipeline_stage_layers(61, 2),
              (std::vector<int64_t>{31, 30}));  // DeepSeek-V3: [31,30] in vLLM's log
    EXPECT_EQ(pipeline_stage_layers(80, 3), (std::vector<int64_t>{27, 27, 26}));
    EXPECT_EQ(pipeline_stage_layers(7, 4), (std::vector<int64_t>{2, 2, 2, 1}));
    EXPECT_EQ(pipeline_stage_layers(32, 4), (std::vector<int64_t>{8, 8, 8, 8}));
    EXPECT_EQ(pipeline_stage_layers(32, 1), (std::vector<int64_t>{32}));
}

TEST(KvPlanner, PipelineStagesHoldTheirOwnWeightsAndTheFewestBlocksBind) {
    // Llama-3.1-8B at PP 4 on H100 (8 layers a stage). By hand from its config: a layer holds q and o 4,096 x
    // 4,096, k and v 4,096 x 1,024 (41,943,040), the MLP 3 x 4,096 x 14,336 (176,160,768) and two norms
    // (8,192): 218,112,000 parameters; the final norm's 4,096 spread over the stages (1,024 each); the
    // embedding and the untied lm_head 128,256 x 4,096 = 525,336,576 each. In bf16:
    //   first and last stage 2 x (8 x 218,112,000 + 1,024 + 525,336,576) = 4,540,467,200 B
    //   the middle two       2 x (8 x 218,112,000 + 1,024)               = 3,489,794,048 B
    // (a uniform split gave each a quarter of 16,060,522,496 = 4,015,130,624).
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile g = load_gpu("h100");
    KvPlanRequest r;
    r.pp = 4;
    const KvPlan p = plan_kv(m, g, r);
    ASSERT_EQ(p.stage_layers, (std::vector<int64_t>{8, 8, 8, 8}));
    EXPECT_EQ(p.stage_first_layer, (std::vector<int64_t>{0, 8, 16, 24}));
    EXPECT_DOUBLE_EQ(p.stage_weight_bytes[0], 4'540'467'200.0);
    EXPECT_DOUBLE_EQ(p.stage_weight_bytes[1], 3'489'794'048.0);
    EXPECT_DOUBLE_EQ(p.stage_weight_bytes[2], 3'489'794'048.0);
    EXPECT_DOUBLE_EQ(p.stage_weight_bytes[3], 4'540'467'200.0);
    // The sampler runs on the last stage only: its reserve is the one-GPU estimate (the sampler's 1.90 GB
    // over the forward pass's 0.84 GB); the others keep the forward pass's peak instead.
    r.pp = 1;
    const KvPlan one = plan_kv(m, g, r);
    ASSERT_GT(one.reserve.logits_bytes, one.reserve.activation_bytes);
    EXPECT_DOUBLE_EQ(p.stage_reserve_bytes[3], one.reserve_bytes);
    EXPECT_NEAR(p.stage_reserve_bytes[0],
                one.reserve_bytes - one.reserve.logits_bytes + one.reserve.activation_bytes, 1e-3);
    // A block spans a stage's 8 layers: 16 x 8 x 2 x 8 x 128 x 2 B = 524,288 B. The last stage has the
    // weights of the first and the larger reserve: it holds the fewest blocks, and every stage keeps that
    // many.
    EXPECT_DOUBLE_EQ(p.block_bytes, 524'288.0);
    EXPECT_EQ(p.binding_stage, 3);
    const int64_t last =
        static_cast<int64_t>(std::floor((p.budget_bytes - 4'540'467'200.0 - one.reserve_bytes) / 524'288.0));
    EXPECT_EQ(p.num_blocks, last);
    EXPECT_EQ(p.stage_blocks[3], last);
    EXPECT_GT(p.stage_blocks[0], last);
    EXPECT_GT(p.stage_blocks[1], p.stage_blocks[0]);
    EXPECT_DOUBLE_EQ(p.weight_bytes, 4'540'467'200.0);
    EXPECT_DOUBLE_EQ(p.kv_bytes_per_token, 32'768.0);
    // Without PP nothing moves: one stage of every layer.
    EXPECT_EQ(one.stage_layers, (std::vector<int64_t>{32}));
    EXPECT_DOUBLE_EQ(one.weight_bytes, 16'060'522'496.0);
}

TEST(KvPlanner, AnUnevenSplitBindsOnTheStageOfMoreLayers) {
    // Llama-3.1-8B at PP 3: 11, 11 and 10 layers. With the reserve given (the same on every stage) the first
    // stage binds: 11 layers of KV and the embedding, 2 x (11 x 218,112,000 + 4,096 x 11 / 32 + 525,336,576)
    // = 5,849,139,968 B of weights, and a block of 16 x 11 x 4,096 B = 720,896 B.
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    KvPlanRequest r = with_reserve(2e9);
    r.pp = 3;
    const KvPlan p = plan_kv(m, load_gpu("h100"), r);
    ASSERT_EQ(p.stage_layers, (std::vector<int64_t>{11, 11, 10}));
    EXPECT_EQ(p.binding_stage, 0);
    EXPECT_DOUBLE_EQ(p.stage_weight_bytes[0], 5'849'139'968.0);
    EXPECT_DOUBLE_EQ(p.block_bytes, 720'896.0);
    EXPECT_EQ(p.num_blocks,
              static_cast<int64_t>(std::floor((p.budget_bytes - 5'849'139'968.0 - 2e9) / 720'896.0)));
    // a sequence's blocks are the same count on every stage: 8,192 tokens take 512 blocks of this stage's
    // size
    r.context = 8192;
    const KvPlan c = plan_kv(m, load_gpu("h100"), r);
    EXPECT_EQ(c.max_concurrency_at_context, c.num_blocks / 512);
}

TEST(KvPlanner, AHybridModelsGroupsAreDealtRoundItsStages) {
    // gemma-2-9b: 42 layers, the even ones sliding (4,096), two groups of 21 layers. vLLM deals each type's
    // layers round its groups (layers[i::num_groups]) and a stage's block spans the most layers a group has
    // there. At PP 2 (21 + 21 layers) the first stage holds layers 0-20: 11 sliding, 10 full. A block: 16
    // tokens x 11 layers x 2 x 8 KV heads x 256 x 2 B = 1,441,792 B (an even split of the groups would
    // say 10.5 layers).
    const ModelCard m = load_model("google/gemma-2-9b");
    ASSERT_TRUE(m.is_sliding(0));
    ASSERT_FALSE(m.is_sliding(1));
    KvPlanRequest r;
    r.max_model_len = 8192;
    r.pp = 2;
    const KvPlan p = plan_kv(m, load_gpu("h100"), r);
    EXPECT_EQ(p.group_layers, 21);
    EXPECT_DOUBLE_EQ(p.block_bytes, 1'441'792.0);
    EXPECT_EQ(p.kv_tokens, p.num_blocks * 16 / 2);
}

TEST(KvPlanner, AStageTheWeightsDoNotFitIsNamed) {
    // Llama-3.1-70B at PP 2 on one L40S a stage (48 GB): 40 layers and the embedding are about 70 GB.
    KvPlanRequest r;
    r.pp = 2;
    const KvPlan p = plan_kv(load_model("meta-llama/Llama-3.1-70B-Instruct"), load_gpu("l40s"), r);
    EXPECT_FALSE(p.fits);
    EXPECT_NE(p.why_not.find("on stage"), std::string::npos) << p.why_not;
    EXPECT_EQ(p.stage_blocks[0], -1);
    EXPECT_EQ(p.stage_blocks[1], -1);
}

TEST(KvPlanner, ASplitOfOnesOwnIsTakenAndChecked) {
    // vLLM's VLLM_PP_LAYER_PARTITION: Llama-3.1-8B at PP 3 as 10, 11, 11. The last stage holds 11 layers,
    // lm_head and the sampler: 2 x (11 x 218,112,000 + 4,096 x 11 / 32 + 525,336,576) = 5,849,139,968 B of
    // weights and the one-GPU reserve; with the reserve given it still binds against the first (10 layers and
    // the embedding).
    const ModelCard m = load_model("meta-llama/Llama-3.1-8B-Instruct");
    const GpuProfile g = load_gpu("h100");
    KvPlanRequest r = with_reserve(2e9);
    r.pp = 3;
    r.pp_layer_partition = {10, 11, 11};
    const KvPlan p = plan_kv(m, g, r);
    EXPECT_EQ(p.stage_layers, (std::vector<int64_t>{10, 11, 11}));
    EXPECT_EQ(p.stage_first_layer, (std::vector<int64_t>{0, 10, 21}));
    EXPECT_DOUBLE_EQ(p.stage_weight_bytes[2], 5'849'139'968.0);
    EXPECT_EQ(p.binding_stage, 2);
    EXPECT_EQ(p.num_blocks,
              static_cast<int64_t>(std::floor((p.budget_bytes - 5'849'139'968.0 - 2e9) / 720'896.0)));
    // one count a stage, each at least 1, the model's 32 layers in all
    auto field_of = [&](std::vector<int64_t> partition) {
        r.pp_layer_partition = std::move(partition);
        try {
            plan_kv(m, g, r);
        } catch (const PlanError& e) {
            return e.field() + ": " + e.reason();
        }
        return std::string();
    };
    EXPECT_EQ(field_of({16, 16}), "--pp-layer-partition: 2 stages' layers for pp 3: give one count a stage");
    EXPECT_EQ(field_of({0, 16, 16}),
              "--pp-layer-partition: a stage of 0 layers: every stage holds at least one");
    EXPECT_EQ(field_of({10, 10, 10}),
              "--pp-layer-partition: the stages hold 30 layers, and meta-llama/Llama-3.1-8B-Instruct has 32");
}
