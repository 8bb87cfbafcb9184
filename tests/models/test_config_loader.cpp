// config.json reading: families, defaults, lookups by name and path, unknown architectures, and errors that
// name the file and the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "headroom/models/config_loader.hpp"
#include "headroom/core/cost_model.hpp"
#include "headroom/core/kv_planner.hpp"
#include "headroom/hardware/profile_loader.hpp"

using namespace headroom;

namespace {

std::string error_of(const std::string& text) {
    try {
        parse_model_config(text, "t.json", "t");
    } catch (const ModelConfigError& e) {
        return e.what();
    }
    return "no error";
}

const char* LLAMA_LIKE = R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
    "max_position_embeddings": 4096})";

}  // namespace

TEST(ConfigLoader, EveryShippedConfigLoads) {
    const auto shipped = shipped_models();
    EXPECT_GE(shipped.size(), 10u);
    for (const auto& s : shipped) {
        const ModelCard m = load_model(s.name);
        EXPECT_EQ(m.name, s.hf_id);
        EXPECT_TRUE(m.guessed.empty()) << s.hf_id << " should be a known family";
        EXPECT_EQ(static_cast<int64_t>(m.layers.size()), m.num_layers);
    }
}

TEST(ConfigLoader, NamesResolve) {
    EXPECT_EQ(load_model("meta-llama/Llama-3.1-8B-Instruct").num_layers, 32);
    EXPECT_EQ(load_model("meta-llama__Llama-3.1-8B-Instruct").num_layers, 32);
    EXPECT_EQ(load_model("LLAMA-3.1-8B").num_layers, 32);  // case-insensitive unique prefix
    EXPECT_THROW(load_model("llama-3"), ModelConfigError);   // matches several
    EXPECT_THROW(load_model("no-such-model"), ModelConfigError);
}

TEST(ConfigLoader, AmbiguousNameListsCandidates) {
    try {
        load_model("llama-3.");
        FAIL();
    } catch (const ModelConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("meta-llama/Llama-3.1-8B-Instruct"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("ambiguous"), std::string::npos);
    }
}

TEST(ConfigLoader, FileAndSnapshotDirectory) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "headroom-test-snapshot" / "My-Model";
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << LLAMA_LIKE;
    const ModelCard by_dir = load_model(dir.string());
    EXPECT_EQ(by_dir.name, "My-Model");
    EXPECT_EQ(by_dir.num_kv_heads, 8);
    const ModelCard by_file = load_model((dir / "config.json").string());
    EXPECT_EQ(by_file.name, "My-Model");
    fs::remove_all(dir.parent_path());
}

TEST(ConfigLoader, FamilyDefaults) {
    // Qwen2 always has q/k/v biases; Gemma 2 ties embeddings; Llama and Mistral do not.
    EXPECT_TRUE(load_model("Qwen2.5-7B").qkv_bias);
    EXPECT_FALSE(load_model("Qwen2.5-7B").o_bias);
    EXPECT_TRUE(load_model("gemma-2-9b").tie_word_embeddings);
    EXPECT_FALSE(load_model("mistral-7b").tie_word_embeddings);
    EXPECT_EQ(load_model("gemma-2-9b").head_dim, 256);
    EXPECT_TRUE(load_model("qwen3-8b").qk_norm);
    EXPECT_EQ(load_model("Llama-3.1-8B").rope_scaling, "llama3");
    EXPECT_EQ(load_model("DeepSeek-V2-Lite").rope_scaling, "yarn");
    EXPECT_EQ(load_model("Phi-3-mini").count_layers(AttentionKind::SLIDING), 32);  // sliding_window 2047
}

TEST(ConfigLoader, MoeLayers) {
    const ModelCard v3 = load_model("DeepSeek-V3");
    EXPECT_EQ(v3.first_k_dense_replace, 3);
    EXPECT_EQ(std::count_if(v3.layers.begin(), v3.layers.end(), [](auto& l) { return l.moe; }), 58);
    EXPECT_EQ(v3.q_lora_rank, 1536);
    EXPECT_EQ(v3.shared_expert_intermediate_size, 2048);
    const ModelCard mixtral = load_model("mixtral");
    EXPECT_EQ(mixtral.num_experts, 8);
    EXPECT_EQ(mixtral.experts_per_token, 2);
    EXPECT_EQ(mixtral.moe_intermediate_size, 14336);
}

TEST(ConfigLoader, UnknownArchitectureGuessesAndSaysSo) {
    const ModelCard m = parse_model_config(
        R"({"model_type": "frobnicator", "hidden_size": 2048, "num_hidden_layers": 4,
            "num_attention_heads": 16, "intermediate_size": 8192, "vocab_size": 1000,
            "max_position_embeddings": 2048})",
        "f.json", "f");
    EXPECT_EQ(m.family, "generic");
    EXPECT_EQ(m.head_dim, 128);
    EXPECT_EQ(m.num_kv_heads, 16);
    std::string all;
    for (const auto& g : m.guessed) all += g + ";";
    for (const char* field : {"frobnicator", "head_dim", "num_key_value_heads", "tie_word_embeddings"}) {
        EXPECT_NE(all.find(field), std::string::npos) << field;
    }
}

TEST(ConfigLoader, MissingFieldsAreListedTogether) {
    EXPECT_EQ(error_of(R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4,
                           "intermediate_size": 64, "max_position_embeddings": 128})"),
              "t.json: hidden_size, vocab_size: missing required fields");
}

TEST(ConfigLoader, ErrorsNameFileAndField) {
    std::string cfg = LLAMA_LIKE;
    auto with = [&](const std::string& from, const std::string& to) {
        std::string s = cfg;
        s.replace(s.find(from), from.size(), to);
        return error_of(s);
    };
    EXPECT_EQ(with(R"("num_attention_heads": 32, "num_key_value_heads": 8)",
                   R"("num_attention_heads": 64, "num_key_value_heads": 6)"),
              "t.json: num_key_value_heads: must divide num_attention_heads (64 / 6)");
    EXPECT_EQ(with(R"("num_hidden_layers": 32)", R"("num_hidden_layers": "32")"),
              "t.json: num_hidden_layers: expected an integer, got string \"32\"");
    EXPECT_EQ(with(R"("hidden_size": 4096)", R"("hidden_size": -4096)"),
              "t.json: hidden_size: must be >= 1, got -4096");
    EXPECT_EQ(with(R"("num_attention_heads": 32)", R"("num_attention_heads": 0)"),
              "t.json: num_attention_heads: must be >= 1, got 0");
    EXPECT_NE(error_of("{\"hidden_size\": 40").find("t.json: not valid JSON"), std::string::npos);
}

// ---- multimodal wrappers: the language model in text_config ----

namespace {

// google/gemma-3-27b-it's config.json, its text and vision parts (the fields headroom reads).
const char* GEMMA3 = R"({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
  "torch_dtype": "bfloat16",
  "text_config": {"model_type": "gemma3_text", "hidden_size": 5376, "intermediate_size": 21504,
    "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128, "num_hidden_layers": 62,
    "sliding_window": 1024, "sliding_window_pattern": 6, "vocab_size": 262208, "max_position_embeddings": 131072,
    "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "hidden_activation": "gelu_pytorch_tanh"},
  "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "num_hidden_layers": 27}})";

// meta-llama/Llama-4-Scout-17B-16E-Instruct's, likewise.
const char* LLAMA4 = R"({"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4",
  "torch_dtype": "bfloat16",
  "text_config": {"model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
    "intermediate_size_mlp": 16384, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
    "num_hidden_layers": 48, "num_local_experts": 16, "num_experts_per_tok": 1, "interleave_moe_layer_step": 1,
    "vocab_size": 202048, "max_position_embeddings": 10485760, "attention_chunk_size": 8192, "hidden_act": "silu",
    "no_rope_layers": []},
  "vision_config": {"model_type": "llama4_vision_model", "hidden_size": 1408, "num_hidden_layers": 34}})";

}  // namespace

TEST(ConfigLoader, Gemma3FromItsTextConfig) {
    const ModelCard m = parse_model_config(GEMMA3, "g.json", "g");
    EXPECT_EQ(m.family, "gemma3");
    EXPECT_EQ(m.architecture, "Gemma3ForConditionalGeneration");
    EXPECT_EQ(m.hidden_act, "gelu_pytorch_tanh");
    EXPECT_TRUE(m.tie_word_embeddings);
    // Parameters by hand, per layer: q 5,376 x 4,096 and o 4,096 x 5,376 (22,020,096 each), k and v
    // 5,376 x 2,048 (11,010,048 each): 66,060,288; the gated MLP 3 x 5,376 x 21,504 = 346,816,512; four norms of
    // 5,376 and q/k norms of 128: 21,760. 62 layers: 25,599,710,720; the tied embedding 262,208 x 5,376 =
    // 1,409,630,208; the final norm 5,376. Total 27,009,346,304 (Google: 27 B with the 0.4 B vision tower).
    EXPECT_EQ(m.params().total(), 27'009'346'304);
    // every 6th layer (5, 11, ...) global, the others slide over 1,024 tokens: 10 global of 62
    EXPECT_EQ(m.layers[5].attention, AttentionKind::FULL);
    EXPECT_EQ(m.layers[4].attention, AttentionKind::SLIDING);
    EXPECT_EQ(m.layers[4].window, 1024);
    EXPECT_EQ(std::count_if(m.layers.begin(), m.layers.end(), [](auto& l) { return l.attention == AttentionKind::FULL; }), 10);
    // the card says the vision tower is not modelled
    std::string all;
    for (const auto& g : m.guessed) all += g + ";";
    EXPECT_NE(all.find("vision_config"), std::string::npos) << all;
}

TEST(ConfigLoader, Llama4FromItsTextConfig) {
    const ModelCard m = parse_model_config(LLAMA4, "l.json", "l");
    EXPECT_EQ(m.family, "llama4");
    EXPECT_EQ(m.num_experts, 16);
    EXPECT_EQ(m.moe_intermediate_size, 8192);
    EXPECT_EQ(m.shared_expert_intermediate_size, 8192);
    EXPECT_EQ(m.intermediate_size, 16384);  // the dense layers' width (none here: every layer is MoE)
    EXPECT_EQ(std::count_if(m.layers.begin(), m.layers.end(), [](auto& l) { return l.moe; }), 48);
    // Per layer: q and o 5,120 x 5,120 (26,214,400 each), k and v 5,120 x 1,024 (5,242,880 each): 62,914,560;
    // 16 experts of 3 x 5,120 x 8,192 = 125,829,120 each: 2,013,265,920; the shared expert 125,829,120; the router
    // 5,120 x 16 = 81,920; two norms 10,240. 48 layers: 105,700,884,480; embedding and lm_head 202,048 x 5,120
    // each: 2,068,971,520; the final norm 5,120. Total 107,769,861,120 (Meta: 109 B with the vision tower).
    EXPECT_EQ(m.params().total(), 107'769'861'120);
    // Active: attention, one routed expert, the shared one, router and norms: 314,664,960 a layer, x 48 =
    // 15,103,918,080, plus embedding, lm_head and final norm: 17,172,894,720 (Meta: 17 B active)
    EXPECT_EQ(m.params().active_with_embedding, 17'172'894'720);
    // the RoPE layers attend within 8,192-token chunks (read as a window), every 4th layer (NoPE) globally
    EXPECT_EQ(m.layers[0].attention, AttentionKind::SLIDING);
    EXPECT_EQ(m.layers[0].window, 8192);
    EXPECT_EQ(m.layers[3].attention, AttentionKind::FULL);
    EXPECT_EQ(std::count_if(m.layers.begin(), m.layers.end(), [](auto& l) { return l.attention == AttentionKind::FULL; }), 12);
    // Maverick's layout: MoE on every second layer (1, 3, ...), or on the layers listed in moe_layers
    std::string mav = LLAMA4;
    mav.replace(mav.find(R"("interleave_moe_layer_step": 1)"), 30, R"("interleave_moe_layer_step": 2)");
    const ModelCard v = parse_model_config(mav, "m.json", "m");
    EXPECT_FALSE(v.layers[0].moe);
    EXPECT_TRUE(v.layers[1].moe);
    EXPECT_EQ(std::count_if(v.layers.begin(), v.layers.end(), [](auto& l) { return l.moe; }), 24);
    std::string listed = LLAMA4;
    listed.replace(listed.find(R"("no_rope_layers": [])"), 20, R"("no_rope_layers": [], "moe_layers": [0, 47])");
    const ModelCard w = parse_model_config(listed, "w.json", "w");
    EXPECT_EQ(std::count_if(w.layers.begin(), w.layers.end(), [](auto& l) { return l.moe; }), 2);
    EXPECT_TRUE(w.layers[47].moe);
}

TEST(ConfigLoader, Qwen25VlReadsAsQwen2) {
    // Qwen/Qwen2.5-VL-7B-Instruct keeps its language model's fields at the top level: Qwen2's rules (q/k/v
    // biases, no o bias), and the vision tower said to be left out
    const ModelCard m = parse_model_config(
        R"({"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_size": 3584,
            "intermediate_size": 18944, "num_attention_heads": 28, "num_key_value_heads": 4, "num_hidden_layers": 28,
            "vocab_size": 152064, "max_position_embeddings": 128000, "tie_word_embeddings": false,
            "vision_config": {"depth": 32, "hidden_size": 1280}})",
        "q.json", "q");
    EXPECT_EQ(m.family, "qwen2");
    EXPECT_TRUE(m.qkv_bias);
    EXPECT_FALSE(m.o_bias);
    ASSERT_EQ(m.guessed.size(), 1u);
    EXPECT_NE(m.guessed[0].find("vision_config"), std::string::npos);
}

TEST(ConfigLoader, AWrappersQuantisationIgnoresItsVisionModules) {
    // an fp8 Gemma 3 whose ignore list keeps the vision tower's attention and MLP in 16 bits: the language
    // model's attention and MLP are still fp8 (1 byte a weight)
    std::string g = GEMMA3;
    g.replace(g.find(R"("torch_dtype": "bfloat16",)"), 26,
              R"("torch_dtype": "bfloat16", "quantization_config": {"quant_method": "fp8",
                 "modules_to_not_convert": ["vision_tower.encoder.layers.0.self_attn", "vision_tower.mlp", "lm_head"]},)");
    const ModelCard m = parse_model_config(g, "g.json", "g");
    EXPECT_DOUBLE_EQ(m.shipped.attention.bytes_per_weight, 1.0);
    EXPECT_DOUBLE_EQ(m.shipped.dense_mlp.bytes_per_weight, 1.0);
}

TEST(ConfigLoader, AWrappersErrorsNameTheTextConfigsField) {
    std::string g = GEMMA3;
    g.replace(g.find(R"("hidden_size": 5376, )"), 21, "");
    EXPECT_EQ(error_of(g), "t.json: text_config.hidden_size: missing required field");
    std::string d = GEMMA3;
    d.replace(d.find(R"("torch_dtype": "bfloat16")"), 25, R"("torch_dtype": "float8")");
    EXPECT_EQ(error_of(d), "t.json: torch_dtype: unknown dtype \"float8\" (expected float32, bfloat16 or float16)");
    EXPECT_EQ(error_of(R"({"model_type": "llava", "text_config": 7})"), "t.json: text_config: expected an object, got number 7");
}

// ---- quantisation as shipped (quantization_config) ----

TEST(Quantization, GptOssShipsMxfp4ExpertsAndMatchesItsPublishedCheckpointSize) {
    // OpenAI's gpt-oss model card (table 1): gpt-oss-120b 60.8 GiB, gpt-oss-20b 12.8 GiB as shipped.
    const double gib = 1024.0 * 1024.0 * 1024.0;
    for (const auto& [name, published_gib] : {std::pair{"openai/gpt-oss-120b", 60.8}, std::pair{"openai/gpt-oss-20b", 12.8}}) {
        const ModelCard m = load_model(name);
        EXPECT_EQ(m.shipped.method, "mxfp4");
        EXPECT_EQ(m.shipped.experts.dtype, Dtype::MXFP4);
        EXPECT_EQ(m.shipped.attention.dtype, Dtype::BF16);  // modules_to_not_convert: self_attn
        EXPECT_EQ(m.shipped.label(), "mxfp4 experts, bf16 attention");
        EXPECT_NEAR(m.weight_bytes(m.shipped) / (published_gib * gib), 1.0, 0.02) << name;
    }
    // 4-bit values plus one E8M0 scale per 32: 0.5 + 1/32 bytes per weight
    EXPECT_DOUBLE_EQ(dtype_bytes(Dtype::MXFP4), 0.53125);
}

TEST(Quantization, AwqInt4CountsItsScalesAndZeroPoints) {
    // Qwen2.5-7B: per layer q and o 3584 x 3584, k and v 3584 x 512, MLP 3 x 3584 x 18944:
    // 3584 x 8192 + 203,685,888 = 233,046,016 matrix weights; x 28 layers = 6,525,288,448. The other
    // 7,615,616,512 - 6,525,288,448 = 1,090,328,064 parameters (embeddings, lm_head, norms, biases) stay fp16.
    // AWQ group 128: 0.5 bytes + an fp16 scale (2 B) and a 4-bit zero (0.5 B) per 128 weights.
    const ModelCard m = load_model("Qwen/Qwen2.5-7B-Instruct-AWQ");
    EXPECT_EQ(m.shipped.method, "awq");
    EXPECT_EQ(m.shipped.label(), "int4");
    EXPECT_EQ(m.params().quantizable, 6'525'288'448);
    EXPECT_DOUBLE_EQ(m.weight_bytes(m.shipped), 6'525'288'448.0 * (0.5 + 2.5 / 128) + 1'090'328'064.0 * 2);  // 5.571 GB
}

TEST(Quantization, BlockScaledFp8CountsOneFp32ScalePerBlock) {
    // Qwen3-8B: per layer q and o 4096 x 4096, k and v 4096 x 1024, MLP 3 x 4096 x 12288: 192,937,984; x 36 =
    // 6,945,767,424 fp8 weights with one fp32 scale per 128 x 128 block; 1,244,967,936 others in bf16.
    const ModelCard m = load_model("Qwen/Qwen3-8B-FP8");
    EXPECT_EQ(m.shipped.label(), "fp8");
    EXPECT_DOUBLE_EQ(m.weight_bytes(m.shipped), 6'945'767'424.0 * (1 + 4.0 / 16384) + 1'244'967'936.0 * 2);  // 9.437 GB
    EXPECT_EQ(load_model("deepseek-ai/DeepSeek-V3").shipped.experts.dtype, Dtype::FP8);
    // asked for fp8, an fp8 checkpoint runs as shipped (vLLM keeps its block scales): 9.437 GB, not the
    // per-tensor 6,945,767,424 + 2 x 1,244,967,936 = 9,435,703,296 B; a bf16 checkpoint is quantised to fp8
    EXPECT_EQ(m.weight_bytes(m.weights(Dtype::FP8)), m.weight_bytes(m.shipped));
    EXPECT_EQ(m.weights(Dtype::BF16).attention.dtype, Dtype::BF16);
    const ModelCard b = load_model("Qwen/Qwen3-8B");
    EXPECT_EQ(b.weight_bytes(b.weights(Dtype::FP8)), 9'435'703'296.0);
}

TEST(Quantization, CompressedTensorsBitsAndBytesAndTheIgnoreList) {
    const std::string base = R"({"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 512, "vocab_size": 1000,
        "max_position_embeddings": 2048, )";
    // compressed-tensors w4a16, group 128, symmetric: 0.5 + 2/128 bytes; lm_head ignored (it is not a block
    // matrix anyway)
    const ModelCard w4 = parse_model_config(base + R"("quantization_config": {"quant_method": "compressed-tensors",
        "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "int", "strategy": "group",
        "group_size": 128, "symmetric": true}}}, "ignore": ["lm_head"]}})", "w4.json", "w4");
    EXPECT_EQ(w4.shipped.attention.dtype, Dtype::INT4);
    EXPECT_DOUBLE_EQ(w4.shipped.attention.bytes_per_weight, 0.5 + 2.0 / 128);
    // w8a8 fp8
    const ModelCard f8 = parse_model_config(base + R"("quantization_config": {"quant_method": "compressed-tensors",
        "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}}})", "f8.json", "f8");
    EXPECT_EQ(f8.shipped.dense_mlp.dtype, Dtype::FP8);
    // bitsandbytes NF4 with double quantisation: 0.5 + 1/64 + 4/(64 x 256) bytes
    const ModelCard nf4 = parse_model_config(base + R"("quantization_config": {"quant_method": "bitsandbytes",
        "load_in_4bit": true, "bnb_4bit_use_double_quant": true}})", "nf4.json", "nf4");
    EXPECT_DOUBLE_EQ(nf4.shipped.attention.bytes_per_weight, 0.5 + 1.0 / 64 + 4.0 / (64 * 256));
    // an fp8 checkpoint that keeps attention in bf16
    const ModelCard keep = parse_model_config(base + R"("quantization_config": {"quant_method": "fp8",
        "modules_to_not_convert": ["model.layers.*.self_attn"]}})", "keep.json", "keep");
    EXPECT_EQ(keep.shipped.attention.dtype, Dtype::BF16);
    EXPECT_EQ(keep.shipped.dense_mlp.dtype, Dtype::FP8);
    // an unknown method: bf16, said as a guess
    const ModelCard odd = parse_model_config(base + R"("quantization_config": {"quant_method": "hqq"}})", "odd.json", "odd");
    EXPECT_EQ(odd.shipped.label(), "bf16");
    ASSERT_FALSE(odd.guessed.empty());
    EXPECT_NE(odd.guessed.back().find("hqq"), std::string::npos);
}

TEST(Quantization, AnAllMoeModelsLabelNamesNoDenseMlp) {
    // A Mixtral-shaped config (every layer MoE) quantised to int4 but for its attention: the label names the
    // two classes it has. Before, the dense-MLP class took the int4 format though no layer has one, and the
    // label read "int4 experts, bf16 attention, int4 dense MLP".
    const std::string moe = R"({"model_type": "mixtral", "hidden_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 512, "vocab_size": 1000,
        "num_local_experts": 8, "num_experts_per_tok": 2, "max_position_embeddings": 2048,
        "quantization_config": {"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights":
        {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": true}}},
        "ignore": ["lm_head", "re:.*self_attn.*"]}})";
    const ModelCard m = parse_model_config(moe, "moe.json", "moe");
    EXPECT_EQ(m.shipped.label(), "int4 experts, bf16 attention");
    EXPECT_EQ(m.shipped.experts.dtype, Dtype::INT4);
    // a model with dense MLP layers keeps their format, and says it where it is not the attention's
    const std::string dense = R"({"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 512, "vocab_size": 1000,
        "max_position_embeddings": 2048, "quantization_config": {"quant_method": "fp8",
        "modules_to_not_convert": ["model.layers.*.self_attn"]}})";
    EXPECT_EQ(parse_model_config(dense, "d.json", "d").shipped.label(),
              "fp8 experts, bf16 attention, fp8 dense MLP");
}

TEST(ConfigLoader, ModelIdsResolveThroughTheHuggingFaceCache) {
    // huggingface_hub's layout: $HF_HUB_CACHE/models--org--name/snapshots/<commit>/config.json, refs/main naming
    // the commit. An id that is not shipped resolves there, named by the id; a snapshot directory given by
    // path is named by its id too, not by the commit hash.
    namespace fs = std::filesystem;
    const fs::path cache = fs::temp_directory_path() / "headroom-test-hf-cache";
    fs::remove_all(cache);
    const fs::path repo = cache / "models--acme--Tiny-Llama-7B";
    fs::create_directories(repo / "snapshots" / "0123abcd");
    fs::create_directories(repo / "snapshots" / "4567ef01");
    fs::create_directories(repo / "refs");
    std::ofstream(repo / "snapshots" / "0123abcd" / "config.json") << LLAMA_LIKE;
    std::ofstream(repo / "snapshots" / "4567ef01" / "config.json") << "{}";  // an older download
    std::ofstream(repo / "refs" / "main") << "0123abcd\n";
    const char* before = std::getenv("HF_HUB_CACHE");
    const std::string saved = before ? before : "";
    setenv("HF_HUB_CACHE", cache.c_str(), 1);

    const ModelCard m = load_model("acme/Tiny-Llama-7B");
    EXPECT_EQ(m.name, "acme/Tiny-Llama-7B");
    EXPECT_EQ(m.num_kv_heads, 8);  // refs/main's snapshot, not the other one
    EXPECT_EQ(load_model((repo / "snapshots" / "0123abcd").string()).name, "acme/Tiny-Llama-7B");
    // two snapshots and no refs/main: which one is not guessed
    fs::remove(repo / "refs" / "main");
    try {
        load_model("acme/Tiny-Llama-7B");
        ADD_FAILURE() << "expected an error";
    } catch (const ModelConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("2 snapshots"), std::string::npos) << e.what();
    }
    // a shipped id is the shipped config even with a cache around
    EXPECT_EQ(load_model("meta-llama/Llama-3.1-8B-Instruct").name, "meta-llama/Llama-3.1-8B-Instruct");
    EXPECT_THROW(load_model("acme/Not-Downloaded"), ModelConfigError);

    if (before) setenv("HF_HUB_CACHE", saved.c_str(), 1);
    else unsetenv("HF_HUB_CACHE");
    fs::remove_all(cache);
}

namespace {

// bigcode/starcoder2-3b's config.json (the fields headroom reads)
const char* STARCODER2 = R"({"architectures": ["Starcoder2ForCausalLM"], "model_type": "starcoder2", "hidden_size": 3072,
  "intermediate_size": 12288, "num_attention_heads": 24, "num_key_value_heads": 2, "num_hidden_layers": 30,
  "vocab_size": 49152, "max_position_embeddings": 16384, "sliding_window": 4096, "use_bias": true,
  "norm_epsilon": 1e-05, "hidden_act": "gelu_pytorch_tanh", "rope_theta": 999999.4420358813, "torch_dtype": "float32"})";

// CohereForAI/c4ai-command-r-plus's, likewise (no tie_word_embeddings field: CohereConfig ties)
const char* COMMAND_R_PLUS = R"({"architectures": ["CohereForCausalLM"], "model_type": "cohere", "hidden_size": 12288,
  "intermediate_size": 33792, "num_attention_heads": 96, "num_key_value_heads": 8, "num_hidden_layers": 64,
  "vocab_size": 256000, "max_position_embeddings": 8192, "layer_norm_eps": 1e-05, "logit_scale": 0.8333333333333334,
  "use_qk_norm": true, "hidden_act": "silu", "rope_theta": 75000000.0, "torch_dtype": "float16"})";

// CohereForAI/c4ai-command-r7b-12-2024's, likewise
const char* COMMAND_R7B = R"({"architectures": ["Cohere2ForCausalLM"], "model_type": "cohere2", "hidden_size": 4096,
  "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32,
  "vocab_size": 256000, "max_position_embeddings": 8192, "sliding_window": 4096, "sliding_window_pattern": 4,
  "layer_norm_eps": 1e-05, "logit_scale": 0.25, "hidden_act": "silu", "torch_dtype": "bfloat16"})";

int64_t count_full(const ModelCard& m) {
    return std::count_if(m.layers.begin(), m.layers.end(), [](auto& l) { return l.attention == AttentionKind::FULL; });
}

}  // namespace

TEST(ConfigLoader, StarCoder2IsAPlainMlpWithBiasesAndTiedEmbeddings) {
    const ModelCard m = parse_model_config(STARCODER2, "s.json", "s");
    EXPECT_EQ(m.family, "starcoder2");
    EXPECT_TRUE(m.guessed.empty());
    EXPECT_EQ(m.mlp, MlpKind::PLAIN);
    EXPECT_EQ(m.norm, NormKind::LAYER);
    EXPECT_TRUE(m.tie_word_embeddings);
    // Per layer: q and o 3,072 x 3,072 (9,437,184 each), k and v 3,072 x 256 (786,432 each): 20,447,232, and
    // their biases 3,072 + 256 + 256 + 3,072 = 6,656; c_fc and c_proj 3,072 x 12,288 (37,748,736 each) and their
    // biases 12,288 + 3,072; two LayerNorms of 2 x 3,072: 95,979,008. 30 layers: 2,879,370,240; the tied embedding
    // 49,152 x 3,072 = 150,994,944; the final LayerNorm 6,144. Total 3,030,371,328 (BigCode: 3.03 B). Read as a
    // gated MLP without biases, as the generic decoder read it, it had been 4.31 B.
    EXPECT_EQ(m.params().total(), 3'030'371'328);
    EXPECT_EQ(count_full(m), 0);  // every layer slides over 4,096 tokens
    EXPECT_EQ(m.layers[0].window, 4096);
    // Starcoder2Config's default of two KV heads when the field is absent
    std::string no_kv = STARCODER2;
    no_kv.replace(no_kv.find("\"num_key_value_heads\": 2, "), 26, "");
    EXPECT_EQ(parse_model_config(no_kv, "s.json", "s").num_kv_heads, 2);
}

TEST(ConfigLoader, CohereRunsAttentionAndMlpInParallelAfterOneNorm) {
    const ModelCard m = parse_model_config(COMMAND_R_PLUS, "c.json", "c");
    EXPECT_EQ(m.family, "cohere");
    EXPECT_TRUE(m.guessed.empty());
    EXPECT_EQ(m.norms_per_layer, 1);
    EXPECT_TRUE(m.tie_word_embeddings);
    // Per layer: q and o 12,288 x 12,288 (150,994,944 each), k and v 12,288 x 1,024 (12,582,912 each):
    // 327,155,712; q/k norms with a weight per head: (96 + 8) x 128 = 13,312; the gated MLP 3 x 12,288 x 33,792 =
    // 1,245,708,288; one LayerNorm without a bias, 12,288: 1,572,889,600. 64 layers: 100,664,934,400; the tied
    // embedding 256,000 x 12,288 = 3,145,728,000; the final norm 12,288. Total 103,810,674,688 (Cohere: 104 B).
    EXPECT_EQ(m.params().total(), 103'810'674'688);
    EXPECT_EQ(count_full(m), 64);
}

TEST(ConfigLoader, Cohere2SlidesThreeLayersInFour) {
    const ModelCard m = parse_model_config(COMMAND_R7B, "c.json", "c");
    EXPECT_EQ(m.family, "cohere");
    // Per layer: q and o 4,096 x 4,096 (16,777,216 each), k and v 4,096 x 1,024 (4,194,304 each): 41,943,040; the
    // gated MLP 3 x 4,096 x 14,336 = 176,160,768; one norm of 4,096: 218,107,904. 32 layers: 6,979,452,928; the
    // tied embedding 256,000 x 4,096 = 1,048,576,000; the final norm 4,096. Total 8,028,033,024 (Cohere: 8 B).
    EXPECT_EQ(m.params().total(), 8'028'033'024);
    // layers 3, 7, ..., 31 global; the other 24 slide over 4,096 tokens
    EXPECT_EQ(count_full(m), 8);
    EXPECT_EQ(m.layers[3].attention, AttentionKind::FULL);
    EXPECT_EQ(m.layers[2].attention, AttentionKind::SLIDING);
    EXPECT_EQ(m.layers[2].window, 4096);
}

namespace {

// zai-org/GLM-4.5's config.json (the fields headroom reads)
const char* GLM45 = R"({"architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe", "hidden_size": 5120,
  "intermediate_size": 12288, "moe_intermediate_size": 1536, "num_attention_heads": 96, "num_key_value_heads": 8,
  "head_dim": 128, "num_hidden_layers": 92, "n_routed_experts": 160, "n_shared_experts": 1, "num_experts_per_tok": 8,
  "first_k_dense_replace": 3, "num_nextn_predict_layers": 1, "partial_rotary_factor": 0.5, "attention_bias": true,
  "use_qk_norm": true, "vocab_size": 151552, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05,
  "rope_theta": 1000000, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "routed_scaling_factor": 2.5})";

}  // namespace

TEST(ConfigLoader, Glm45RoutesAsDeepSeekV3WithGqaAttention) {
    const ModelCard m = parse_model_config(GLM45, "g.json", "g");
    EXPECT_EQ(m.family, "glm4_moe");
    EXPECT_TRUE(m.guessed.empty());
    EXPECT_FALSE(m.is_mla());
    EXPECT_EQ(m.num_shared_experts, 1);
    EXPECT_EQ(m.mtp_layers, 1);
    EXPECT_DOUBLE_EQ(m.partial_rotary_factor, 0.5);
    EXPECT_FALSE(m.layers[2].moe);  // first_k_dense_replace = 3
    EXPECT_TRUE(m.layers[3].moe);
    // Attention a layer: q 5,120 x 12,288 and o 12,288 x 5,120 (62,914,560 each), k and v 5,120 x 1,024
    // (5,242,880 each), q/k/v biases 12,288 + 1,024 + 1,024, q/k norms 2 x 128: 136,329,472. Dense layers add the
    // gated MLP 3 x 5,120 x 12,288 = 188,743,680 and two norms (10,240): 325,083,392, x 3. MoE layers: 160 routed
    // and 1 shared expert of 3 x 5,120 x 1,536 = 23,592,960 (3,798,466,560), the router 5,120 x 160 and its
    // correction bias 160 (819,360): 3,935,625,632, x 89. Layers 351,245,931,424; embedding and lm_head
    // 151,552 x 5,120 each (1,551,892,480); the final norm 5,120. Total 352,797,829,024 (Z.ai: 355 B; the MTP
    // layer is not counted, as DeepSeek-V3's 671 B leaves out its own).
    EXPECT_EQ(m.params().total(), 352'797'829'024);
    // Active in an MoE layer: attention, 8 routed and the shared expert (9 x 23,592,960), router, norms:
    // 349,495,712, x 89 = 31,105,118,368; the dense layers 975,250,176; embedding, lm_head, final norm
    // 1,551,897,600: 33,632,266,144 (Z.ai: 32 B active)
    EXPECT_EQ(m.params().active_with_embedding, 33'632'266'144);
}

// Qwen/Qwen3-VL-8B-Instruct's config.json (the fields headroom reads), as transformers 4.57 writes it: `dtype`,
// not `torch_dtype`
TEST(ConfigLoader, Qwen3VlReadsAsQwen3AndTakesDtype) {
    const char* cfg = R"({"architectures": ["Qwen3VLForConditionalGeneration"], "model_type": "qwen3_vl",
      "text_config": {"model_type": "qwen3_vl_text", "hidden_size": 4096, "intermediate_size": 12288,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 36,
        "vocab_size": 151936, "max_position_embeddings": 262144, "rope_theta": 5000000, "dtype": "bfloat16",
        "tie_word_embeddings": false,
        "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default"}},
      "tie_word_embeddings": false, "vision_config": {"model_type": "qwen3_vl", "hidden_size": 1152, "depth": 27}})";
    const ModelCard m = parse_model_config(cfg, "q.json", "q");
    EXPECT_EQ(m.family, "qwen3");
    EXPECT_TRUE(m.qk_norm);
    EXPECT_EQ(m.torch_dtype, "bfloat16");
    // Per layer: q and o 4,096 x 4,096 (16,777,216 each), k and v 4,096 x 1,024 (4,194,304 each), q/k norms
    // 2 x 128: 41,943,296; the gated MLP 3 x 4,096 x 12,288 = 150,994,944; two norms 8,192: 192,946,432. 36 layers:
    // 6,946,071,552; embedding and lm_head 151,936 x 4,096 each (1,244,659,712); the final norm 4,096. Total
    // 8,190,735,360 (Qwen3-8B's language model: 8.2 B)
    EXPECT_EQ(m.params().total(), 8'190'735'360);
    // an unknown `dtype` is named as such
    try {
        parse_model_config(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "vocab_size": 100, "intermediate_size": 128, "max_position_embeddings": 64,
          "dtype": "float8"})", "d.json", "d");
        FAIL() << "no error";
    } catch (const ModelConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("dtype: unknown dtype \"float8\""), std::string::npos) << e.what();
    }
}

// DeepSeek-V3.2: DeepSeek-V3's config (shipped) with model_type deepseek_v32 and its indexer's fields, as
// deepseek-ai/DeepSeek-V3.2-Exp publishes them
TEST(ConfigLoader, DeepSeekV32CountsItsIndexerAndItsKeyCache) {
    std::ifstream in(std::string(HEADROOM_TEST_DATA) + "/../../models/configs/deepseek-ai__DeepSeek-V3.json");
    const std::string v3_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string fields = R"("model_type": "deepseek_v32", "index_topk": 2048, "index_n_heads": 64, "index_head_dim": 128)";
    auto with = [&](const std::string& f) {
        std::string t = v3_text;
        const std::string key = R"("model_type": "deepseek_v3")";
        const size_t at = t.find(key);
        EXPECT_NE(at, std::string::npos);
        return t.replace(at, key.size(), f);
    };
    const ModelCard m = parse_model_config(with(fields), "v32.json", "v32");
    const ModelCard v3 = load_model("deepseek-ai/DeepSeek-V3");
    EXPECT_EQ(m.family, "deepseek");
    EXPECT_TRUE(m.is_mla());
    EXPECT_EQ(m.index_topk, 2048);
    // The indexer a layer: its query from the q latent 1,536 x 64 x 128 = 12,582,912, its key 7,168 x 128 =
    // 917,504, its head weights 7,168 x 64 = 458,752 and the key's LayerNorm 2 x 128: 13,959,424; x 61 layers =
    // 851,524,864 on DeepSeek-V3's 671,026,419,200 (DeepSeek: 671 B without the MTP module, as V3)
    EXPECT_EQ(m.params().total() - v3.params().total(), 851'524'864);
    // The cache a token adds to a layer: the 576-element latent (1,152 B at bf16) and the indexer's fp8 key with
    // its fp32 scale, 128 + 4 = 132 B: 61 x 1,284 = 78,324 B at bf16. At fp8 the latent takes FlashMLA's sparse
    // layout (vLLM's fp8_ds_mla): 512 fp8 values, 4 fp32 scales and 64 bf16 RoPE values, 512 + 16 + 128 = 656 B
    // (vLLM: "each token's KV cache is 656 Bytes"): 61 x 788 = 48,068 B. DeepSeek-V3's plain fp8 latent is 576 B.
    EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(Dtype::BF16), 78'324.0);
    EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(Dtype::FP8), 48'068.0);
    EXPECT_DOUBLE_EQ(v3.kv_bytes_per_token(Dtype::FP8), 61 * 576.0);
    EXPECT_DOUBLE_EQ(m.kv_bytes_for_context(1000, Dtype::BF16), 78'324'000.0);
    // the card says how the sparse attention is costed
    std::string all;
    for (const auto& g : m.guessed) all += g + ";";
    EXPECT_NE(all.find("index_topk = 2048 keys"), std::string::npos) << all;
    // Its attention FLOPs a token at context 10,000, a layer: the 128 heads' q.k and p.v over the 2,048 keys picked,
    // 2 x 128 x (128 + 64 + 128) x 2,048 = 167,772,160, and the indexer's 64 heads of 128 over all 10,000 keys,
    // 2 x 64 x 128 x 10,000 = 163,840,000: 331,612,160 x 61 layers (V3: 2 x 128 x 320 x 10,000 x 61)
    EXPECT_DOUBLE_EQ(m.attention_flops_per_token(10'000), 61 * 331'612'160.0);
    EXPECT_DOUBLE_EQ(v3.attention_flops_per_token(10'000), 61 * 819'200'000.0);
    // a 3,000-token prompt: its positions see 1 .. 2,048 keys, then 2,048 each (2,098,176 + 952 x 2,048 =
    // 4,047,872 keys at 81,920 FLOPs), and the indexer scores 3,000 x 3,001 / 2 = 4,501,500 at 16,384
    EXPECT_NEAR(m.prefill_flops(3000) - 3000 * m.linear_flops_per_token(), 61 * (4'047'872 * 81'920.0 + 4'501'500 * 16'384.0),
                1.0);
    // vLLM replicates the indexer on every TP rank: at TP 8 a GPU holds all of its block-fp8 matrices, 61 x
    // 13,959,168 = 851,509,248 B with a 4 B scale per 128 x 128 block (207,888 B), and an eighth of its key norms
    // (61 x 256 bf16 = 31,232 B: 3,904 B): 851,721,040 B beyond V3's share
    KvPlanRequest r;
    r.tp = 8;
    const GpuProfile h200 = load_gpu("h200");
    EXPECT_NEAR(plan_kv(m, h200, r).weight_bytes - plan_kv(v3, h200, r).weight_bytes, 851'721'040.0, 1.0);
    // and runs whole projections on each: the step's qkv_proj GEMM does 2 x 100 x 13,959,168 more FLOPs a layer
    CostConfig c;
    c.tp = 8;
    c.cuda_graphs = false;
    const auto flops = [&](const ModelCard& card) { return CostModel(card, h200, c).step({{100, 0}}).op("qkv_proj")->flops; };
    EXPECT_NEAR(flops(m) - flops(v3), 61 * 2.0 * 100 * 13'959'168, 1.0);
    // the three fields come together
    EXPECT_THROW(parse_model_config(with(R"("model_type": "deepseek_v32", "index_topk": 2048, "index_n_heads": 64)"),
                                    "v32.json", "v32"),
                 ModelConfigError);
}

// MiniMax-M2 (MiniMaxAI/MiniMax-M2's config.json fields): 62 layers of GQA (48 heads, 8 KV heads of 128) and an
// MoE of 256 experts 1,536 wide, top 8, no shared expert, untied.
TEST(ConfigLoader, MiniMaxM2IsAFullAttentionMoe) {
    const std::string base = R"({"architectures": ["MiniMaxM2ForCausalLM"], "model_type": "minimax_m2",
      "vocab_size": 200064, "hidden_size": 3072, "intermediate_size": 1536, "num_hidden_layers": 62,
      "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 196608,
      "num_local_experts": 256, "num_experts_per_tok": 8, "scoring_func": "sigmoid", "use_routing_bias": true,
      "use_qk_norm": true, "qk_norm_type": "per_layer", "rotary_dim": 64, "rms_norm_eps": 1e-06,
      "tie_word_embeddings": false, "attn_type_list": [1, 1)";
    std::string types;
    for (int i = 2; i < 62; ++i) types += ", 1";
    const ModelCard m = parse_model_config(base + types + "]}", "m2.json", "m2");
    EXPECT_EQ(m.family, "minimax_m2");
    EXPECT_TRUE(m.guessed.empty());
    EXPECT_EQ(m.moe_intermediate_size, 1536);
    EXPECT_DOUBLE_EQ(m.partial_rotary_factor, 0.5);  // rotary_dim 64 of head_dim 128
    EXPECT_TRUE(m.qk_norm_across_heads);
    // A layer: q 3,072 x 6,144 and o 6,144 x 3,072 (18,874,368 each), k and v 3,072 x 1,024 (3,145,728 each), q/k
    // norms (48 + 8) x 128 = 7,168: 44,047,360; 256 experts of 3 x 3,072 x 1,536 (14,155,776): 3,623,878,656; the
    // router 3,072 x 256 = 786,432 and its 256 correction biases; two norms 6,144: 3,668,718,848. x 62 =
    // 227,460,568,576; embedding and lm_head 200,064 x 3,072 each (1,229,193,216), the final norm 3,072:
    // 228,689,764,864 (MiniMax: 230 B total)
    EXPECT_EQ(m.params().total(), 228'689'764'864);
    // active: attention, 8 experts (113,246,208), router and norms a layer (158,086,400), x 62, plus lm_head
    // 614,596,608 and the final norm: 10,415,956,480 (MiniMax: 10 B active)
    EXPECT_EQ(m.params().active, 10'415'956'480);
    // MiniMax-M1's lightning-attention layers (0) are refused, naming the field
    try {
        parse_model_config(base + ", 0" + types.substr(3) + "]}", "m1.json", "m1");
        FAIL() << "no error";
    } catch (const ModelConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("attn_type_list"), std::string::npos) << e.what();
    }
}

// ERNIE-4.5-21B-A3B (baidu/ERNIE-4.5-21B-A3B-PT's config.json fields): the experts under ERNIE's own names
// (moe_num_experts, moe_k), two shared experts, the first layer dense (moe_layer_start_index 1).
TEST(ConfigLoader, Ernie45MoeReadsItsOwnExpertFields) {
    const ModelCard m = parse_model_config(R"({"architectures": ["Ernie4_5_MoeForCausalLM"], "model_type": "ernie4_5_moe",
      "hidden_size": 2560, "intermediate_size": 12288, "max_position_embeddings": 131072, "num_attention_heads": 20,
      "num_key_value_heads": 4, "head_dim": null, "num_hidden_layers": 28, "rms_norm_eps": 1e-05, "vocab_size": 103424,
      "rope_theta": 500000, "use_bias": false, "tie_word_embeddings": true, "moe_num_experts": 64,
      "moe_layer_start_index": 1, "moe_intermediate_size": 1536, "moe_k": 6, "moe_layer_interval": 1,
      "moe_num_shared_experts": 2, "moe_layer_end_index": 27, "hidden_act": "silu", "torch_dtype": "bfloat16"})",
                                           "ernie.json", "ernie");
    EXPECT_TRUE(m.guessed.empty());
    EXPECT_EQ(m.num_experts, 64);
    EXPECT_EQ(m.experts_per_token, 6);
    EXPECT_FALSE(m.layers[0].moe);
    EXPECT_TRUE(m.layers[1].moe);
    EXPECT_TRUE(m.layers[27].moe);
    // Attention a layer: q and o 2,560 x 2,560, k and v 2,560 x 512: 15,728,640; two norms 5,120. Layer 0's dense MLP
    // 3 x 2,560 x 12,288 = 94,371,840. An MoE layer: 64 experts of 3 x 2,560 x 1,536 (11,796,480) = 754,974,720, the
    // shared MLP 2 x 1,536 wide 23,592,960, the router 2,560 x 64 = 163,840: 778,731,520. 110,105,600 + 27 x
    // 794,465,280 + the tied embedding 103,424 x 2,560 = 264,765,440 + the final norm 2,560: 21,825,436,160 (Baidu:
    // 21 B; read as a dense decoder it had been 3.3 B)
    EXPECT_EQ(m.params().total(), 21'825'436'160);
    // active: 6 experts (70,778,880) with the shared MLP, router, attention and norms a MoE layer (110,269,440 x 27),
    // layer 0 whole, the tied lm_head's product and the final norm: 3,352,148,480 (Baidu: A3B)
    EXPECT_EQ(m.params().active, 3'352'148'480);
}

// An MoE of a family headroom does not know (OLMoE: num_experts, no moe_intermediate_size) loads with each expert
// intermediate_size wide, as Mixtral has it, and says so; a known family that names the width (Qwen2-MoE) still
// needs it (moe_missing_intermediate.json).
TEST(ConfigLoader, AnUnknownMoeTakesMixtralsExpertWidthAndSaysSo) {
    const ModelCard m = parse_model_config(R"({"model_type": "olmoe", "hidden_size": 2048, "intermediate_size": 1024,
      "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 50304,
      "max_position_embeddings": 4096, "num_experts": 64, "num_experts_per_tok": 8})", "olmoe.json", "olmoe");
    EXPECT_EQ(m.moe_intermediate_size, 1024);
    std::string all;
    for (const auto& g : m.guessed) all += g + ";";
    EXPECT_NE(all.find("moe_intermediate_size = 1024 (absent"), std::string::npos) << all;
    // 64 experts of 3 x 2,048 x 1,024 a layer, 16 layers: 6,442,450,944 routed-expert weights (OLMoE-1B-7B: 6.9 B in all)
    EXPECT_EQ(m.params().routed_experts, 6'442'450'944);
}

// A generic MoE that uses DeepSeek's names for shared experts and leading dense layers (dots1, Ling) reads them,
// and says so. hidden 64, 4 layers of MHA (4 x 64 x 64 = 16,384 and two norms of 64); layer 0 dense (3 x 64 x 256 =
// 49,152); layers 1-3: 8 experts of 3 x 64 x 32 (49,152), 2 shared experts 64 wide (12,288), a router 64 x 8 (512);
// embedding and lm_head 100 x 64 each, the final norm 64: 65,664 + 3 x 78,464 + 12,800 + 64 = 313,920
TEST(ConfigLoader, AGenericMoeReadsDeepSeeksSharedExpertsAndDenseLayers) {
    const ModelCard m = parse_model_config(R"({"model_type": "dots1", "hidden_size": 64, "intermediate_size": 256,
      "moe_intermediate_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 4,
      "vocab_size": 100, "max_position_embeddings": 512, "n_routed_experts": 8, "num_experts_per_tok": 2,
      "n_shared_experts": 2, "first_k_dense_replace": 1, "tie_word_embeddings": false})", "dots.json", "dots");
    EXPECT_FALSE(m.layers[0].moe);
    EXPECT_TRUE(m.layers[1].moe);
    EXPECT_EQ(m.params().total(), 313'920);
    std::string all;
    for (const auto& g : m.guessed) all += g + ";";
    EXPECT_NE(all.find("2 shared experts"), std::string::npos) << all;
    EXPECT_NE(all.find("first_k_dense_replace = 1"), std::string::npos) << all;
}

// Nemotron (model_type nemotron: Nemotron-4, Minitron; vLLM's nemotron.py): an MLP of up and down projections
// with squared ReLU, no gate; LayerNorm1P (weight and bias); RoPE on half of each head by default. A config
// of Nemotron-Mini-4B's shape: hidden 3,072, MLP 9,216, 32 layers, 24 heads and 8 KV heads of 128, vocabulary
// 256,000.
TEST(ConfigLoader, NemotronsMlpHasNoGate) {
    const std::string cfg = R"({"architectures": ["NemotronForCausalLM"], "model_type": "nemotron",
      "hidden_size": 3072, "intermediate_size": 9216, "num_hidden_layers": 32, "num_attention_heads": 24,
      "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 256000, "max_position_embeddings": 4096,
      "hidden_act": "relu2", "norm_eps": 1e-05, "tie_word_embeddings": false, "torch_dtype": "bfloat16"})";
    const ModelCard m = parse_model_config(cfg, "nemotron.json", "nemotron");
    EXPECT_EQ(m.family, "nemotron");
    EXPECT_TRUE(m.guessed.empty());
    EXPECT_EQ(m.mlp, MlpKind::PLAIN);
    EXPECT_EQ(m.norm, NormKind::LAYER);
    EXPECT_DOUBLE_EQ(m.partial_rotary_factor, 0.5);
    // a layer: q and o 3,072 x 3,072 (9,437,184 each), k and v 3,072 x 1,024 (3,145,728 each), up and down
    // 3,072 x 9,216 (28,311,552 each), two LayerNorms of weight and bias (12,288): 81,801,216; x 32 =
    // 2,617,638,912; embedding and lm_head 256,000 x 3,072 (786,432,000 each) and the final LayerNorm 6,144:
    // 4,190,509,056 (NVIDIA: 4 B; with a gate it would read 5.1 B)
    EXPECT_EQ(m.params().total(), 4'190'509'056);
    // a model_type headroom does not know with hidden_act relu2 is read as ungated too, and says so
    std::string generic = cfg;
    generic.replace(generic.find("\"nemotron\""), 10, "\"persimmon_like\"");
    const ModelCard g = parse_model_config(generic, "g.json", "g");
    EXPECT_EQ(g.mlp, MlpKind::PLAIN);
    EXPECT_NE(std::find(g.guessed.begin(), g.guessed.end(),
                        "MLP = up/down, 2 matrices (hidden_act relu2 is not gated)"),
              g.guessed.end());
}
