// config.json reading: families, defaults, lookups by name and path, unknown architectures, and errors that
// name the file and the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "headroom/models/config_loader.hpp"

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
