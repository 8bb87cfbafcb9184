// Model cards of the shipped real configs against hand-computed counts and published figures.
// Each expected number is worked out in the comment next to it from the config's fields and the Hugging Face
// modelling code of the family; published counts (SOURCES.md) must match within 0.5%.
#include <gtest/gtest.h>

#include "headroom/models/config_loader.hpp"

using namespace headroom;

namespace {

ModelCard card(const char* name) { return load_model(name); }

void expect_within(double actual, double published, double rel, const char* what) {
    EXPECT_LE(std::abs(actual - published) / published, rel) << what << ": " << actual << " vs " << published;
}

}  // namespace

TEST(ParamCount, Llama31_8B) {
    // embed 128256 x 4096 = 525,336,576, lm_head the same (untied)
    // layer: q 4096^2 = 16,777,216; k, v 4096 x 1024 = 4,194,304 each; o 16,777,216 -> 41,943,040
    //        mlp 3 x 4096 x 14336 = 176,160,768; norms 2 x 4096 = 8,192 -> 218,112,000
    // 32 layers = 6,979,584,000; + 2 x 525,336,576 + final norm 4,096 = 8,030,261,248
    const ParamBreakdown p = card("meta-llama/Llama-3.1-8B-Instruct").params();
    EXPECT_EQ(p.total(), 8'030'261'248);
    expect_within(p.total(), 8.03e9, 0.005, "published 8.03 B");
    EXPECT_EQ(p.active, p.total() - 525'336'576);  // dense: everything but the embedding lookup
}

TEST(ParamCount, Llama31_70B_and_33_70B) {
    // embed 128256 x 8192 = 1,050,673,152 (x2, untied)
    // layer: q, o 8192^2 = 67,108,864 each; k, v 8192 x 1024 = 8,388,608 each -> 150,994,944
    //        mlp 3 x 8192 x 28672 = 704,643,072; norms 16,384 -> 855,654,400
    // 80 layers = 68,452,352,000; + 2,101,346,304 + 8,192 = 70,553,706,496
    for (const char* name : {"meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct"}) {
        const ParamBreakdown p = card(name).params();
        EXPECT_EQ(p.total(), 70'553'706'496) << name;
        expect_within(p.total(), 70.6e9, 0.005, "published 70.6 B");
    }
}

TEST(ParamCount, Llama2_7B_MHA) {
    // embed 32000 x 4096 = 131,072,000 (x2); layer 4 x 4096^2 + 3 x 4096 x 11008 + 8192 = 202,383,360
    // 32 x 202,383,360 + 262,144,000 + 4,096 = 6,738,415,616
    EXPECT_EQ(card("Llama-2-7b-hf").params().total(), 6'738'415'616);
}

TEST(ParamCount, Llama2_70B_and_CodeLlama_34B) {
    // Llama-3.1-70B's layer (855,654,400: attention 150,994,944, mlp 3 x 8192 x 28672, norms 16,384) with a
    // 32000 vocabulary: 2 x 32000 x 8192 = 524,288,000; 80 x 855,654,400 + 524,288,000 + 8,192 = 68,976,648,192
    const ParamBreakdown l = card("meta-llama/Llama-2-70b-hf").params();
    EXPECT_EQ(l.total(), 68'976'648'192);
    expect_within(l.total(), 69.0e9, 0.005, "published 69 B");
    // CodeLlama-34B: mlp 3 x 8192 x 22016 = 541,065,216 -> layer 692,076,544; 48 layers + 524,288,000 + 8,192
    const ParamBreakdown c = card("codellama/CodeLlama-34b-hf").params();
    EXPECT_EQ(c.total(), 33'743'970'304);
    expect_within(c.total(), 33.7e9, 0.005, "published 33.7 B");
}

TEST(ParamCount, Mistral7B) {
    // Llama-3.1-8B's layers (218,112,000 x 32) with a 32000 vocabulary: 6,979,584,000 + 262,144,000 + 4,096
    const ParamBreakdown p = card("mistral-7b").params();
    EXPECT_EQ(p.total(), 7'241'732'096);
    expect_within(p.total(), 7.24e9, 0.005, "published 7.24 B");
}

TEST(ParamCount, Mixtral8x7B) {
    // layer: attention 41,943,040 + 8 experts x 176,160,768 + router 4096 x 8 + norms 8,192 = 1,451,270,144
    // 32 layers + 262,144,000 + 4,096 = 46,702,792,704
    // active: attention + 2 experts + router + norms = 394,305,536 x 32 = 12,617,777,152
    //         + lm_head 131,072,000 + final norm 4,096 = 12,748,853,248; + embedding = 12,879,925,248
    const ParamBreakdown p = card("mixtral").params();
    EXPECT_EQ(p.total(), 46'702'792'704);
    expect_within(p.total(), 46.7e9, 0.005, "published 46.7 B");
    EXPECT_EQ(p.active, 12'748'853'248);
    EXPECT_EQ(p.active_with_embedding, 12'879'925'248);
    expect_within(p.active_with_embedding, 12.9e9, 0.005, "published 12.9 B active (counts embeddings)");
}

TEST(ParamCount, Qwen25_7B_bias) {
    // embed 152064 x 3584 = 544,997,376 (x2); head_dim 3584 / 28 = 128, 4 KV heads
    // layer: q, o 3584^2 = 12,845,056 each; k, v 3584 x 512 = 1,835,008 each; q/k/v bias 3584 + 512 + 512
    //        -> 29,364,736; mlp 3 x 3584 x 18944 = 203,685,888; norms 7,168 -> 233,057,792
    // 28 layers = 6,525,618,176; + 1,089,994,752 + 3,584 = 7,615,616,512
    const ParamBreakdown p = card("Qwen/Qwen2.5-7B-Instruct").params();
    EXPECT_EQ(p.total(), 7'615'616'512);
    expect_within(p.total(), 7.62e9, 0.005, "published 7.62 B");
}

TEST(ParamCount, Qwen3_8B_qk_norm) {
    // embed 151936 x 4096 = 622,329,856 (x2); layer 41,943,040 + q/k norms 2 x 128 + mlp 3 x 4096 x 12288
    // (150,994,944) + norms 8,192 = 192,946,432; x 36 = 6,946,071,552; + 1,244,659,712 + 4,096
    EXPECT_EQ(card("qwen3-8b").params().total(), 8'190'735'360);
}

TEST(ParamCount, Gemma2_9B_tied) {
    // Gemma 2 ties its embeddings by default (the config omits the field): one 256000 x 3584 table,
    // 917,504,000. layer: q 3584 x 4096 = 14,680,064, k, v 3584 x 2048 = 7,340,032 each, o 14,680,064
    // -> 44,040,192; mlp 3 x 3584 x 14336 = 154,140,672; four norms 14,336 -> 198,195,200
    // 42 layers = 8,324,198,400; + 917,504,000 + 3,584 = 9,241,705,984
    const ModelCard m = card("gemma-2-9b");
    EXPECT_TRUE(m.tie_word_embeddings);
    EXPECT_EQ(m.params().total(), 9'241'705'984);
    expect_within(m.params().total(), 9.24e9, 0.005, "published 9.24 B");
}

TEST(ParamCount, Phi3Mini) {
    // embed 32064 x 3072 = 98,500,608 (x2); layer 4 x 3072^2 + 3 x 3072 x 8192 + 6,144 = 113,252,352
    // 32 x 113,252,352 + 197,001,216 + 3,072 = 3,821,079,552
    const ParamBreakdown p = card("Phi-3-mini").params();
    EXPECT_EQ(p.total(), 3'821'079'552);
    expect_within(p.total(), 3.82e9, 0.005, "published 3.82 B");
}

TEST(ParamCount, Phi2_parallel_partial_rotary) {
    // embed 51200 x 2560 = 131,072,000; lm_head the same + bias 51,200
    // layer: q, k, v, dense 2560^2 + 2560 each = 26,224,640; fc1 2560 x 10240 + 10240 = 26,224,640;
    //        fc2 10240 x 2560 + 2560 = 26,216,960; one LayerNorm 2 x 2560 -> 78,671,360
    // 32 layers = 2,517,483,520; + 131,072,000 + 131,123,200 + final LayerNorm 5,120 = 2,779,683,840
    const ModelCard m = card("microsoft/phi-2");
    EXPECT_EQ(m.params().total(), 2'779'683'840);
    expect_within(m.params().total(), 2.78e9, 0.005, "published 2.78 B");
    EXPECT_DOUBLE_EQ(m.partial_rotary_factor, 0.4);
}

TEST(ParamCount, GptOss20B) {
    // embed 201088 x 2880 = 579,133,440 (x2); head_dim 64, 64 q / 8 KV heads, all projections biased
    // attention: q 2880 x 4096 + 4096, k, v 2880 x 512 + 512, o 4096 x 2880 + 2880, sinks 64 -> 26,550,144
    // expert: gate_up 2880 x 5760 + 5760, down 2880 x 2880 + 2880 -> 24,891,840; 32 of them 796,538,880
    // router 2880 x 32 + 32 = 92,192; norms 5,760 -> layer 823,186,976; 24 layers 19,756,487,424
    // total 19,756,487,424 + 1,158,266,880 + 2,880 = 20,914,757,184
    // active: (26,550,144 + 4 x 24,891,840 + 92,192 + 5,760) x 24 + lm_head + final norm = 3,608,307,264
    const ParamBreakdown p = card("gpt-oss-20b").params();
    EXPECT_EQ(p.total(), 20'914'757'184);
    expect_within(p.total(), 20.9e9, 0.005, "published 20.9 B");
    EXPECT_EQ(p.active, 3'608'307'264);
    expect_within(p.active, 3.61e9, 0.005, "published 3.61 B active (OpenAI counts no embedding)");
}

TEST(ParamCount, Qwen15MoE_shared_expert) {
    // embed 151936 x 2048 = 311,164,928 (x2); attention 4 x 2048^2 + bias 3 x 2048 = 16,783,360
    // experts 60 x 3 x 2048 x 1408 = 519,045,120; shared 3 x 2048 x 5632 = 34,603,008 + gate 2,048;
    // router 60 x 2048 = 122,880; norms 4,096 -> layer 570,560,512; 24 layers = 13,693,452,288
    // total 13,693,452,288 + 622,329,856 + 2,048 = 14,315,784,192
    // active with embedding: (16,783,360 + 4 x 8,650,752 + 34,605,056 + 122,880 + 4,096) x 24
    //   = 2,066,841,600 + 622,329,856 + 2,048 = 2,689,173,504
    const ParamBreakdown p = card("Qwen1.5-MoE").params();
    EXPECT_EQ(p.total(), 14'315'784'192);
    expect_within(p.total(), 14.3e9, 0.005, "published 14.3 B");
    EXPECT_EQ(p.active_with_embedding, 2'689'173'504);
    expect_within(p.active_with_embedding, 2.7e9, 0.005, "published 2.7 B active (Qwen counts embeddings)");
}

TEST(ParamCount, DeepSeekV2Lite_MLA_MoE) {
    // MLA, no q_lora: q 2048 x 16 x 192 = 6,291,456; kv_a 2048 x 576 = 1,179,648; kv_a norm 512;
    //   kv_b 512 x 16 x 256 = 2,097,152; o 2048 x 2048 = 4,194,304 -> 13,763,072
    // layer 0 dense: 3 x 2048 x 10944 = 67,239,936 (+ attention + norms 4,096) = 81,007,104
    // MoE layers: 64 x 8,650,752 + shared 2 x 8,650,752 + router 64 x 2048 = 571,080,704 -> 584,847,872 each
    // total 81,007,104 + 26 x 584,847,872 + 2 x 209,715,200 + 2,048 = 15,706,484,224
    // active: (13,763,072 + 6 x 8,650,752 + 17,301,504 + 131,072 + 4,096) x 26 + 81,007,104
    //   + lm_head 209,715,200 + 2,048 = 2,451,435,008
    const ModelCard m = card("DeepSeek-V2-Lite");
    EXPECT_EQ(m.params().total(), 15'706'484'224);
    expect_within(m.params().total(), 15.7e9, 0.005, "published 15.7 B");
    EXPECT_EQ(m.params().active, 2'451'435'008);
    EXPECT_FALSE(m.layers[0].moe);
    EXPECT_TRUE(m.layers[1].moe);
}

TEST(ParamCount, DeepSeekV3_q_lora) {
    // MLA with q_lora 1536: q_a 7168 x 1536 = 11,010,048 + norm 1,536; q_b 1536 x 128 x 192 = 37,748,736;
    //   kv_a 7168 x 576 = 4,128,768 + norm 512; kv_b 512 x 128 x 256 = 16,777,216; o 16384 x 7168 =
    //   117,440,512 -> 187,107,328
    // dense layers (3): + 3 x 7168 x 18432 = 396,361,728 + norms 14,336 -> 583,483,392
    // MoE layers (58): 257 experts of 3 x 7168 x 2048 = 44,040,192 (256 routed + 1 shared) = 11,318,329,344;
    //   router 256 x 7168 + correction bias 256 = 1,835,264; + attention + norms 14,336 -> 11,507,286,272
    // total 3 x 583,483,392 + 58 x 11,507,286,272 + 2 x 129280 x 7168 + 7,168 = 671,026,419,200
    const ParamBreakdown p = card("deepseek-ai/DeepSeek-V3").params();
    EXPECT_EQ(p.total(), 671'026'419'200);
    expect_within(p.total(), 671e9, 0.005, "published 671 B (without the MTP module)");
    expect_within(p.active, 37e9, 0.015, "published 37 B active");
}

TEST(ParamCount, MiniLM_encoder) {
    // word 30522 x 384 + positions 512 x 384 + types 2 x 384 + LayerNorm 768 = 11,918,592
    // layer: q, k, v, o 384^2 + 384 each = 591,360; fc1 384 x 1536 + 1536 = 591,360; fc2 1536 x 384 + 384
    //        = 590,208; two LayerNorms 1,536 -> 1,774,464; x 6 = 10,646,784; pooler 384^2 + 384 = 147,840
    const ModelCard m = card("all-MiniLM-L6-v2");
    EXPECT_TRUE(m.is_encoder);
    EXPECT_EQ(m.params().total(), 22'713'216);
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::BF16), 0.0);  // an encoder keeps no KV cache
    // BERT adds learned absolute positions to its embeddings: no rotary embedding to apply in any layer
    EXPECT_TRUE(m.learned_positions);
    EXPECT_EQ(m.partial_rotary_factor, 0.0);
}

TEST(KvBytes, Llama33_70B_at_128k) {
    // 2 (K and V) x 80 layers x 8 KV heads x 128 x 2 bytes = 327,680 B per token
    // x 131,072 tokens = 42,949,672,960 B = 42.9 GB
    const ModelCard m = card("Llama-3.3-70B");
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::BF16), 327'680.0);
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::FP8), 163'840.0);
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::INT8), 163'840.0);
    EXPECT_EQ(m.kv_bytes_for_context(131'072, Dtype::BF16), 42'949'672'960.0);
}

TEST(KvBytes, Mistral_sliding_window_caps) {
    // 32 sliding layers of 4096 tokens: 131,072 B per token, but at most 4096 tokens are held:
    // 8192 tokens -> 4096 x 131,072 = 536,870,912 B
    const ModelCard m = card("mistral-7b");
    EXPECT_EQ(m.count_layers(AttentionKind::SLIDING), 32);
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::BF16), 131'072.0);
    EXPECT_EQ(m.kv_bytes_for_context(8192, Dtype::BF16), 536'870'912.0);
    EXPECT_EQ(m.kv_bytes_for_context(1000, Dtype::BF16), 1000 * 131'072.0);
}

TEST(KvBytes, Gemma2_alternating) {
    // per layer-token 2 x 8 x 256 x 2 = 8,192 B; 42 layers -> 344,064 B per token
    // at 8192 tokens: 21 global x 8192 + 21 sliding x 4096 tokens = 21 x 8,192 x 12,288 = 2,113,929,216 B
    const ModelCard m = card("gemma-2-9b");
    EXPECT_EQ(m.layers[0].attention, AttentionKind::SLIDING);
    EXPECT_EQ(m.layers[1].attention, AttentionKind::FULL);
    EXPECT_EQ(m.count_layers(AttentionKind::SLIDING), 21);
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::BF16), 344'064.0);
    EXPECT_EQ(m.kv_bytes_for_context(8192, Dtype::BF16), 2'113'929'216.0);
}

TEST(KvBytes, GptOss_layer_types) {
    // 12 sliding (128) + 12 full layers of 2 x 8 x 64 x 2 = 2,048 B: 49,152 B per token
    // at 4096 tokens: 12 x 4096 x 2048 + 12 x 128 x 2048 = 103,809,024 B
    const ModelCard m = card("gpt-oss-20b");
    EXPECT_EQ(m.count_layers(AttentionKind::SLIDING), 12);
    EXPECT_EQ(m.layers[0].window, 128);
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::BF16), 49'152.0);
    EXPECT_EQ(m.kv_bytes_for_context(4096, Dtype::BF16), 103'809'024.0);
}

TEST(KvBytes, MLA_latent) {
    // DeepSeek-V2-Lite: one latent of 512 + 64 = 576 elements per token per layer, 27 layers
    // bf16: 27 x 576 x 2 = 31,104 B; fp8: 15,552 B (a GQA model of this size would need 27 x 2 x 16 x 128 x 2)
    const ModelCard m = card("DeepSeek-V2-Lite");
    EXPECT_EQ(m.count_layers(AttentionKind::MLA), 27);
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::BF16), 31'104.0);
    EXPECT_EQ(m.kv_bytes_per_token(Dtype::FP8), 15'552.0);
}

TEST(KvBytes, Qwen25_sliding_field_unused) {
    // use_sliding_window is false: the sliding_window field does not apply. 28 x 2 x 4 x 128 x 2 = 57,344
    const ModelCard m = card("Qwen2.5-7B");
    EXPECT_EQ(m.count_layers(AttentionKind::FULL), 28);
    EXPECT_EQ(m.kv_bytes_for_context(100'000, Dtype::BF16), 100'000 * 57'344.0);
}

TEST(WeightBytes, Llama31_8B_per_precision) {
    // block matrices: 32 x (41,943,040 + 176,160,768) = 6,979,321,856; the rest (embeddings, norms)
    // 1,050,939,392 stays bf16 = 2,101,878,784 B
    // bf16: 8,030,261,248 x 2 = 16,060,522,496; fp8 / int8: 6,979,321,856 + 2,101,878,784 = 9,081,200,640
    // int4 g128 fp16 scales: 6,979,321,856 x (0.5 + 2/128) = 3,598,712,832 + 2,101,878,784 = 5,700,591,616
    const ModelCard m = card("llama-3.1-8b");
    EXPECT_EQ(m.params().quantizable, 6'979'321'856);
    EXPECT_DOUBLE_EQ(m.weight_bytes(Dtype::BF16), 16'060'522'496.0);
    EXPECT_DOUBLE_EQ(m.weight_bytes(Dtype::FP8), 9'081'200'640.0);
    EXPECT_DOUBLE_EQ(m.weight_bytes(Dtype::INT8), 9'081'200'640.0);
    EXPECT_DOUBLE_EQ(m.weight_bytes(Dtype::INT4), 5'700'591'616.0);
}

TEST(WeightBytes, TiedEmbeddingCountedOnce) {
    // gemma-2-9b at bf16: 9,241,705,984 x 2, the tied table once
    EXPECT_DOUBLE_EQ(card("gemma-2-9b").weight_bytes(Dtype::BF16), 18'483'411'968.0);
}

TEST(Flops, Llama31_8B) {
    // linear: 2 x active = 2 x (8,030,261,248 - 525,336,576) = 15,009,849,344
    // attention per key: 2 x 32 heads x (128 + 128) = 16,384 per layer; 32 layers -> 524,288 per key
    // at context 4096: 524,288 x 4096 = 2,147,483,648
    // prefill of 4 tokens: 4 x 15,009,849,344 + 524,288 x (1 + 2 + 3 + 4) = 60,044,640,256
    const ModelCard m = card("llama-3.1-8b");
    EXPECT_DOUBLE_EQ(m.linear_flops_per_token(), 15'009'849'344.0);
    EXPECT_DOUBLE_EQ(m.attention_flops_per_token(4096), 2'147'483'648.0);
    EXPECT_DOUBLE_EQ(m.prefill_flops(4), 60'044'640'256.0);
}

TEST(Flops, SlidingWindowPrefill) {
    // Mistral: window 4096; a 5000-token prompt: positions 1..4096 see 1..4096 keys (8,390,656 in all),
    // positions 4097..5000 see 4096 each (904 x 4096 = 3,702,784) -> 12,093,440 keys per layer
    // x 32 layers x 2 x 32 x 256 = 524,288 per key -> 6,340,477,337,600 attention FLOPs
    const ModelCard m = card("mistral-7b");
    EXPECT_DOUBLE_EQ(m.prefill_flops(5000) - 5000 * m.linear_flops_per_token(), 12'093'440.0 * 524'288.0);
    EXPECT_DOUBLE_EQ(m.attention_flops_per_token(10'000), m.attention_flops_per_token(4096));
}

TEST(Flops, MLA_attention) {
    // DeepSeek-V2-Lite: 2 x 16 heads x (128 + 64 + 128) = 10,240 per key per layer, 27 layers
    EXPECT_DOUBLE_EQ(card("DeepSeek-V2-Lite").attention_flops_per_token(1000), 27 * 10'240.0 * 1000);
}

TEST(ModelCard, PerRankKvHeadsAndWindows) {
    // Llama-3.1-8B: 8 KV heads. TP 2 gives each rank 4; TP 16 exceeds them, so each rank holds a copy of one.
    const ModelCard llama = load_model("meta-llama/Llama-3.1-8B-Instruct");
    EXPECT_EQ(llama.kv_heads_per_rank(1), 8);
    EXPECT_EQ(llama.kv_heads_per_rank(2), 4);
    EXPECT_FALSE(llama.kv_heads_replicated(8));
    EXPECT_EQ(llama.kv_heads_per_rank(16), 1);
    EXPECT_TRUE(llama.kv_heads_replicated(16));
    EXPECT_EQ(llama.widest_window(), 0);
    // DeepSeek-V2-Lite keeps an MLA latent, not split into heads.
    EXPECT_EQ(load_model("deepseek-ai/DeepSeek-V2-Lite").kv_heads_per_rank(2), 0);
    // Gemma-2-9B alternates 4,096-token sliding layers (even layers) with global ones (config.json).
    const ModelCard gemma = load_model("google/gemma-2-9b");
    EXPECT_EQ(gemma.widest_window(), 4096);
    EXPECT_TRUE(gemma.is_sliding(0));
    EXPECT_FALSE(gemma.is_sliding(1));
}
