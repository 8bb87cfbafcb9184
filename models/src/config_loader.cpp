// config.json -> ModelCard. The one place in headroom that parses a model config.
// Defaults for absent fields are those of the Hugging Face configuration class of each family (Gemma 2 ties
// its embeddings, Llama does not, Qwen2 always has q/k/v biases). For an unknown model_type the standard
// fields are used and every assumption is recorded in ModelCard::guessed.
#include "headroom/models/config_loader.hpp"
#include "headroom/models/json_input.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

namespace headroom {

// Generated from models/configs/*.json by cmake/headroom_embed.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_model_configs();

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string lower(std::string_view s) {
    std::string l(s);
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    return l;
}

std::string describe(const json& v) {
    if (v.is_string()) return fmt::format("string \"{}\"", v.get<std::string>());
    if (v.is_boolean()) return fmt::format("boolean {}", v.get<bool>());
    if (v.is_number()) return fmt::format("number {}", v.dump());
    if (v.is_array()) return "an array";
    if (v.is_object()) return "an object";
    return "null";
}

// Upper bounds past which a value is a typo rather than a model (largest real models: hidden 25,600,
// 126 layers, 256k vocabularies, 10M-token contexts).
constexpr int64_t MAX_WIDTH = int64_t{1} << 20;
constexpr int64_t MAX_LAYERS = 4096;
constexpr int64_t MAX_HEADS = 8192;
constexpr int64_t MAX_VOCAB = 10'000'000;
constexpr int64_t MAX_POSITIONS = int64_t{1} << 30;
constexpr int64_t MAX_EXPERTS = 16384;

class Reader {
public:
    Reader(const json& j, std::string file) : j_(j), file_(std::move(file)) {}
    // Reading a multimodal wrapper's language model: fields come from its `text_config` and are named
    // "text_config.<field>" in errors, except the wrapper's own fields in `outer` (torch_dtype, quantization_config).
    Reader(const json& j, std::string file, std::string prefix, std::set<std::string> outer)
        : j_(j), file_(std::move(file)), prefix_(std::move(prefix)), outer_(std::move(outer)) {}

    [[noreturn]] void fail(const std::string& field, const std::string& reason) const {
        throw ModelConfigError(file_, named(field), reason);
    }

    // The first of `keys` that is present and not null.
    const json* find(std::initializer_list<std::string_view> keys, std::string* used = nullptr) const {
        for (std::string_view k : keys) {
            auto it = j_.find(std::string(k));
            if (it != j_.end() && !it->is_null()) {
                if (used) *used = std::string(k);
                return &*it;
            }
        }
        return nullptr;
    }
    bool has(std::string_view key) const { return find({key}) != nullptr; }

    int64_t as_int(const json& v, const std::string& key, int64_t min, int64_t max) const {
        int64_t n = 0;
        if (v.is_number_integer()) {
            n = v.get<int64_t>();
        } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                   std::fabs(v.get<double>()) < 9e15) {
            n = static_cast<int64_t>(v.get<double>());
        } else {
            fail(key, fmt::format("expected an integer, got {}", describe(v)));
        }
        if (n < min) fail(key, fmt::format("must be >= {}, got {}", min, n));
        if (n > max) fail(key, fmt::format("{} is absurd (more than {})", n, max));
        return n;
    }

    std::optional<int64_t> opt_int(std::initializer_list<std::string_view> keys, int64_t min, int64_t max) const {
        std::string used;
        const json* v = find(keys, &used);
        if (!v) return std::nullopt;
        return as_int(*v, used, min, max);
    }

    // A required positive integer; a missing one is collected so that one error lists them all.
    int64_t req_int(std::initializer_list<std::string_view> keys, int64_t max) {
        if (auto v = opt_int(keys, 1, max)) return *v;
        missing_.push_back(std::string(*keys.begin()));
        return 0;
    }

    bool opt_bool(std::string_view key, bool fallback) const {
        const json* v = find({key});
        if (!v) return fallback;
        if (!v->is_boolean()) fail(std::string(key), fmt::format("expected true or false, got {}", describe(*v)));
        return v->get<bool>();
    }

    std::string opt_string(std::string_view key) const {
        const json* v = find({key});
        if (!v) return "";
        if (!v->is_string()) fail(std::string(key), fmt::format("expected a string, got {}", describe(*v)));
        return v->get<std::string>();
    }

    double opt_fraction(std::string_view key, double fallback) const {
        const json* v = find({key});
        if (!v) return fallback;
        if (!v->is_number()) fail(std::string(key), fmt::format("expected a number, got {}", describe(*v)));
        const double x = v->get<double>();
        if (!(x > 0.0 && x <= 1.0)) fail(std::string(key), fmt::format("must be in (0, 1], got {}", x));
        return x;
    }

    void check_missing() const {
        if (missing_.empty()) return;
        std::string list;
        for (const auto& m : missing_) {
            if (!list.empty()) list += ", ";
            list += named(m);
        }
        throw ModelConfigError(file_, list, missing_.size() == 1 ? "missing required field" : "missing required fields");
    }

    const json& root() const { return j_; }

private:
    // A field as the user finds it in the file: under text_config unless the wrapper holds it.
    std::string named(const std::string& field) const {
        if (prefix_.empty() || field.empty()) return field;
        const std::string root = field.substr(0, field.find_first_of(".["));
        return outer_.count(root) ? field : prefix_ + field;
    }

    const json& j_;
    std::string file_;
    std::string prefix_;
    std::set<std::string> outer_;
    std::vector<std::string> missing_;
};

// Family of known model types, and the default-value conventions of their HF config classes.
std::string family_of(const std::string& model_type) {
    static const std::set<std::string> llama_like = {"llama", "mistral", "phi3", "mixtral"};
    if (llama_like.count(model_type)) return model_type == "mixtral" ? "mixtral" : "llama";
    if (model_type == "qwen2" || model_type == "qwen2_moe" || model_type == "qwen2_vl" || model_type == "qwen2_5_vl" ||
        model_type == "qwen2_5_vl_text" || model_type == "qwen2_vl_text") {
        return "qwen2";  // the VL models' language model is Qwen2's
    }
    if (model_type == "qwen3" || model_type == "qwen3_moe" || model_type == "qwen3_vl" || model_type == "qwen3_vl_text" ||
        model_type == "qwen3_vl_moe" || model_type == "qwen3_vl_moe_text") {
        return "qwen3";  // Qwen3-VL's language model is Qwen3's (or Qwen3-MoE's)
    }
    if (model_type == "gemma" || model_type == "gemma2") return model_type;
    if (model_type == "gemma3" || model_type == "gemma3_text") return "gemma3";
    if (model_type == "llama4" || model_type == "llama4_text") return "llama4";
    if (model_type == "phi") return "phi";
    if (model_type == "deepseek_v2" || model_type == "deepseek_v3" || model_type == "deepseek_v32") return "deepseek";
    if (model_type == "glm4_moe") return "glm4_moe";
    if (model_type == "minimax_m2") return "minimax_m2";
    if (model_type == "ernie4_5_moe") return "ernie4_5_moe";
    if (model_type == "gpt_oss") return "gpt_oss";
    if (model_type == "starcoder2") return "starcoder2";
    if (model_type == "nemotron") return "nemotron";
    if (model_type == "cohere" || model_type == "cohere2") return "cohere";
    if (model_type == "bert" || model_type == "roberta" || model_type == "xlm-roberta") return "bert";
    return "generic";
}

void read_layer_types(Reader& r, ModelCard& m) {
    const std::string window_field = "sliding_window";
    auto window = r.opt_int({"sliding_window"}, 1, MAX_POSITIONS);
    m.sliding_window = window.value_or(0);
    m.layers.assign(m.num_layers, LayerSpec{});

    if (m.is_mla()) {
        for (auto& l : m.layers) l.attention = AttentionKind::MLA;
        return;
    }
    auto sliding = [&](LayerSpec& l, const std::string& why) {
        if (!window) r.fail(window_field, fmt::format("missing, but {} asks for sliding-window layers", why));
        l.attention = AttentionKind::SLIDING;
        l.window = *window;
    };

    if (const json* types = r.find({"layer_types"})) {
        if (!types->is_array()) r.fail("layer_types", fmt::format("expected an array, got {}", describe(*types)));
        if (static_cast<int64_t>(types->size()) != m.num_layers) {
            r.fail("layer_types", fmt::format("has {} entries but num_hidden_layers is {}", types->size(),
                                              m.num_layers));
        }
        for (int64_t i = 0; i < m.num_layers; ++i) {
            const json& t = (*types)[i];
            const std::string field = fmt::format("layer_types[{}]", i);
            if (!t.is_string()) r.fail(field, fmt::format("expected a string, got {}", describe(t)));
            const std::string s = t.get<std::string>();
            if (s == "sliding_attention") {
                sliding(m.layers[i], "layer_types");
            } else if (s == "linear_attention" || s.find("mamba") != std::string::npos || s == "conv") {
                r.fail(field, fmt::format("\"{}\" layers (a fixed state per sequence instead of a KV cache) are not "
                                          "modelled yet; headroom models full_attention and sliding_attention layers", s));
            } else if (s != "full_attention") {
                r.fail(field, fmt::format("unknown layer type \"{}\" (expected full_attention or "
                                          "sliding_attention)", s));
            }
        }
        return;
    }
    if (m.model_type == "gemma2") {
        // Gemma 2 alternates: even layers (0, 2, ...) slide over the window, odd layers are global.
        for (int64_t i = 0; i < m.num_layers; i += 2) sliding(m.layers[i], "gemma2");
        return;
    }
    if (m.family == "gemma3" || m.model_type == "cohere2") {
        // Gemma 3 (Gemma3TextConfig) and Cohere 2 (Cohere2Config): every sliding_window_pattern-th layer is global,
        // the others slide
        const int64_t pattern = r.opt_int({"sliding_window_pattern"}, 1, MAX_LAYERS).value_or(m.family == "gemma3" ? 6 : 4);
        for (int64_t i = 0; i < m.num_layers; ++i) {
            if ((i + 1) % pattern != 0) sliding(m.layers[i], "sliding_window_pattern");
        }
        return;
    }
    if (m.family == "llama4") {
        // Llama 4 (Llama4TextConfig): the RoPE layers (no_rope_layers[i] == 1; when the list is empty, as in the
        // published configs, all but every no_rope_layer_interval-th, 4 by default) attend within chunks of
        // attention_chunk_size tokens, the others (NoPE) over the whole context. A chunk is read as a sliding
        // window of its size: the KV a layer holds and the keys a query sees are at most that many (a chunk's
        // average is half of it).
        const auto chunk = r.opt_int({"attention_chunk_size"}, 1, MAX_POSITIONS);
        if (!chunk) return;
        const int64_t interval = r.opt_int({"no_rope_layer_interval"}, 1, MAX_LAYERS).value_or(4);
        std::vector<bool> rope(static_cast<size_t>(m.num_layers));
        for (int64_t i = 0; i < m.num_layers; ++i) rope[static_cast<size_t>(i)] = (i + 1) % interval != 0;
        if (const json* nr = r.find({"no_rope_layers"}); nr && !(nr->is_array() && nr->empty())) {
            if (!nr->is_array()) r.fail("no_rope_layers", fmt::format("expected an array, got {}", describe(*nr)));
            if (static_cast<int64_t>(nr->size()) != m.num_layers) {
                r.fail("no_rope_layers", fmt::format("has {} entries but num_hidden_layers is {}", nr->size(), m.num_layers));
            }
            for (int64_t i = 0; i < m.num_layers; ++i) {
                const std::string field = fmt::format("no_rope_layers[{}]", i);
                const json& v = (*nr)[static_cast<size_t>(i)];
                if (!(v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1))) {
                    r.fail(field, fmt::format("expected 0 (NoPE, global) or 1 (RoPE, chunked), got {}", describe(v)));
                }
                rope[static_cast<size_t>(i)] = v.get<int64_t>() == 1;
            }
        }
        for (int64_t i = 0; i < m.num_layers; ++i) {
            if (!rope[static_cast<size_t>(i)]) continue;
            m.layers[static_cast<size_t>(i)].attention = AttentionKind::SLIDING;
            m.layers[static_cast<size_t>(i)].window = *chunk;
        }
        m.sliding_window = *chunk;
        m.guessed.push_back(fmt::format("chunked local attention (attention_chunk_size {}) read as a sliding window of "
                                        "{} tokens", *chunk, *chunk));
        return;
    }
    if (m.family == "qwen2" || m.family == "qwen3") {
        // Qwen: sliding_window is used only with use_sliding_window, on layers >= max_window_layers.
        if (!r.opt_bool("use_sliding_window", false)) return;
        const int64_t first = r.opt_int({"max_window_layers"}, 0, MAX_LAYERS).value_or(0);
        for (int64_t i = first; i < m.num_layers; ++i) sliding(m.layers[i], "use_sliding_window");
        return;
    }
    if (window && !m.is_encoder) {
        for (auto& l : m.layers) sliding(l, "sliding_window");
    }
}

void read_moe(Reader& r, ModelCard& m) {
    const auto experts = r.opt_int({"num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"}, 0, MAX_EXPERTS);
    if (!experts || *experts == 0) return;
    m.num_experts = *experts;
    m.experts_per_token = r.req_int({"num_experts_per_tok", "experts_per_token", "moe_k"}, MAX_EXPERTS);
    // always-on experts as wide as a routed one (DeepSeek's, ERNIE's and a generic model's names for them)
    auto shared_experts = [&m](int64_t n) {
        m.num_shared_experts = n;
        m.shared_expert_intermediate_size = n * m.moe_intermediate_size;
    };
    if (m.family == "mixtral" || m.family == "gpt_oss" || m.family == "minimax_m2") {
        m.moe_intermediate_size = m.intermediate_size;
    } else if (m.family == "llama4") {
        // intermediate_size is an expert's width (and the shared expert's); dense layers are
        // intermediate_size_mlp wide
        m.moe_intermediate_size = m.intermediate_size;
        m.shared_expert_intermediate_size = m.intermediate_size;
        m.num_shared_experts = 1;
        m.intermediate_size = r.opt_int({"intermediate_size_mlp"}, 1, MAX_WIDTH).value_or(m.intermediate_size);
    } else if (m.family == "generic" && !r.has("moe_intermediate_size")) {
        // OLMoE, PhiMoE, GraniteMoE: an expert is intermediate_size wide, as in Mixtral
        m.moe_intermediate_size = m.intermediate_size;
        m.guessed.push_back(fmt::format("moe_intermediate_size = {} (absent; each expert taken as intermediate_size wide, "
                                        "as in Mixtral)", m.intermediate_size));
    } else {
        m.moe_intermediate_size = r.req_int({"moe_intermediate_size"}, MAX_WIDTH);
    }
    if (m.family == "deepseek" || m.family == "glm4_moe") {
        // GLM-4.5 (Glm4MoeConfig) routes as DeepSeek-V3 does: shared experts, dense first layers, MTP layers, and
        // a correction bias per expert always (its defaults: 1 shared expert, 1 dense layer)
        const bool glm = m.family == "glm4_moe";
        shared_experts(r.opt_int({"n_shared_experts"}, 0, MAX_EXPERTS).value_or(glm ? 1 : 0));
        m.first_k_dense_replace = r.opt_int({"first_k_dense_replace"}, 0, MAX_LAYERS).value_or(glm ? 1 : 0);
        m.mtp_layers = r.opt_int({"num_nextn_predict_layers"}, 0, MAX_LAYERS).value_or(0);
        m.router_correction_bias = glm || r.opt_string("topk_method") == "noaux_tc";
    } else if (auto shared = r.opt_int({"shared_expert_intermediate_size"}, 0, MAX_WIDTH); shared && *shared > 0) {
        m.shared_expert_intermediate_size = *shared;
        m.num_shared_experts = 1;
        m.shared_expert_gate = true;  // Qwen2-MoE gates its shared expert with a sigmoid of h x 1
    }
    if (m.family == "gpt_oss") m.expert_bias = m.router_bias = true;
    if (m.family == "minimax_m2") m.router_correction_bias = r.opt_bool("use_routing_bias", false);
    if (m.family == "generic") {
        // DeepSeek's names for shared experts and leading dense layers (dots1, Ling's bailing_moe) mean the same
        if (auto shared = r.opt_int({"n_shared_experts", "num_shared_experts"}, 0, MAX_EXPERTS); shared && *shared > 0) {
            shared_experts(*shared);
            m.guessed.push_back(fmt::format("{} shared experts as wide as a routed one (DeepSeek's convention)", *shared));
        }
        m.first_k_dense_replace = r.opt_int({"first_k_dense_replace"}, 0, MAX_LAYERS).value_or(0);
        if (m.first_k_dense_replace > 0) {
            m.guessed.push_back(fmt::format("first_k_dense_replace = {}: the first layers dense (DeepSeek's convention)",
                                            m.first_k_dense_replace));
        }
    }
    if (m.family == "ernie4_5_moe") {
        // ERNIE 4.5: moe_num_shared_experts always-on experts as wide as a routed one, a correction bias per expert
        // with aux-free balancing; which layers are MoE: mark_moe_layers
        shared_experts(r.opt_int({"moe_num_shared_experts"}, 0, MAX_EXPERTS).value_or(0));
        m.router_correction_bias = r.opt_bool("moe_use_aux_free", false);
    }
}

void mark_moe_layers(Reader& r, ModelCard& m) {
    if (!m.is_moe()) return;
    const int64_t freq = r.opt_int({"moe_layer_freq", "decoder_sparse_step", "interleave_moe_layer_step"}, 1, MAX_LAYERS).value_or(1);
    if (const json* listed = r.find({"moe_layers"}); listed && m.family == "llama4") {
        // Llama 4 may list its MoE layers (Llama4TextConfig.moe_layers); absent, every interleave step-th
        if (!listed->is_array()) r.fail("moe_layers", fmt::format("expected an array, got {}", describe(*listed)));
        for (const json& v : *listed) m.layers[static_cast<size_t>(r.as_int(v, "moe_layers", 0, m.num_layers - 1))].moe = true;
        return;
    }
    std::set<int64_t> dense_only;
    if (const json* only = r.find({"mlp_only_layers"})) {
        if (!only->is_array()) r.fail("mlp_only_layers", fmt::format("expected an array, got {}", describe(*only)));
        for (const json& v : *only) dense_only.insert(r.as_int(v, "mlp_only_layers", 0, MAX_LAYERS));
    }
    // ERNIE 4.5: every moe_layer_interval-th layer from moe_layer_start_index to moe_layer_end_index (vLLM's
    // Ernie4_5_MoeDecoderLayer)
    const bool ernie = m.family == "ernie4_5_moe";
    const int64_t first = ernie ? r.opt_int({"moe_layer_start_index"}, 0, MAX_LAYERS).value_or(0) : 0;
    const int64_t last = ernie ? r.opt_int({"moe_layer_end_index"}, 0, MAX_LAYERS).value_or(m.num_layers - 1) : 0;
    const int64_t interval = ernie ? r.opt_int({"moe_layer_interval"}, 1, MAX_LAYERS).value_or(1) : 1;
    for (int64_t i = 0; i < m.num_layers; ++i) {
        bool moe;
        if (ernie) {
            moe = (i + 1) % interval == 0 && i >= first && i <= last;
        } else if (m.family == "deepseek" || m.family == "glm4_moe") {
            moe = i >= m.first_k_dense_replace && i % freq == 0;
        } else {
            // Qwen2-MoE's decoder_sparse_step rule (and a generic model's first_k_dense_replace dense layers)
            moe = !dense_only.count(i) && (i + 1) % freq == 0 && i >= m.first_k_dense_replace;
        }
        m.layers[i].moe = moe;
    }
}

// quantization_config (or compressed-tensors' compression_config): the format of each module class as the
// checkpoint stores it, scales and zero points included (vLLM's readers of the same fields: Mxfp4Config,
// Fp8Config with weight_block_size, AWQConfig/GPTQConfig, CompressedTensorsConfig, BitsAndBytesConfig).
// Patterns in modules_to_not_convert / ignore keep their module class in 16 bits.
void read_quantization(Reader& r, ModelCard& m) {
    std::string key;
    const json* q = r.find({"quantization_config", "compression_config"}, &key);
    if (!q) return;
    if (!q->is_object()) r.fail(key, fmt::format("expected an object, got {}", describe(*q)));
    auto field = [&](const json& o, const char* name) -> const json* {
        auto it = o.find(name);
        return it == o.end() || it->is_null() ? nullptr : &*it;
    };
    auto number = [&](const json& o, const char* name, double fallback) {
        const json* v = field(o, name);
        if (!v) return fallback;
        if (!v->is_number()) r.fail(key + "." + name, fmt::format("expected a number, got {}", describe(*v)));
        return v->get<double>();
    };
    auto flag = [&](const json& o, const char* name, bool fallback) {
        const json* v = field(o, name);
        return v && v->is_boolean() ? v->get<bool>() : fallback;
    };
    std::string method;
    if (const json* v = field(*q, "quant_method"); v && v->is_string()) method = lower(v->get<std::string>());
    if (method.empty() && key == "compression_config") method = "compressed-tensors";
    // Which module classes stay unquantised.
    bool keep_attention = false, keep_dense = false, keep_experts = false;
    for (const char* list : {"modules_to_not_convert", "ignore", "ignored_layers"}) {
        const json* v = field(*q, list);
        if (!v || !v->is_array()) continue;
        for (const json& p : *v) {
            if (!p.is_string()) continue;
            const std::string s = lower(p.get<std::string>());
            // a multimodal checkpoint's vision tower and projector are not modelled: their modules say nothing
            // of the language model's
            bool vision = false;
            for (const char* v : {"vision", "visual", "multi_modal", "mm_projector", "image"}) vision = vision || s.find(v) != std::string::npos;
            if (vision) continue;
            if (s.find("attn") != std::string::npos) keep_attention = true;
            if (s.find("experts") != std::string::npos) keep_experts = true;
            else if (s.find("mlp") != std::string::npos && s.find("router") == std::string::npos && s.find("gate.") == std::string::npos) keep_dense = true;
        }
    }
    WeightFormat f;
    bool experts_only = false;
    if (method == "mxfp4") {
        f = WeightFormat::of(Dtype::MXFP4);  // vLLM applies it to the fused MoE experts only
        experts_only = true;
    } else if (method == "fp8") {
        f = WeightFormat::of(Dtype::FP8);
        if (const json* b = field(*q, "weight_block_size"); b && b->is_array() && b->size() == 2) {
            const double cells = r.as_int((*b)[0], key + ".weight_block_size", 1, 1 << 20) *
                                 static_cast<double>(r.as_int((*b)[1], key + ".weight_block_size", 1, 1 << 20));
            f.bytes_per_weight += 4.0 / cells;  // one fp32 scale per block
        }
    } else if (method == "awq" || method == "gptq" || method == "awq_marlin" || method == "gptq_marlin") {
        const double bits = number(*q, "bits", number(*q, "w_bit", 4));
        if (bits != 4 && bits != 8) r.fail(key + ".bits", fmt::format("{} bits is not a format headroom reads (4, 8)", bits));
        double group = number(*q, "group_size", number(*q, "q_group_size", 128));
        if (group <= 0) group = 1e30;  // -1: one scale per output channel, negligible per weight
        // an fp16 scale and a packed zero point of `bits` bits per group (AWQ with zero_point false: no zero)
        const bool zero = method.rfind("awq", 0) == 0 ? flag(*q, "zero_point", true) : true;
        f.dtype = bits == 4 ? Dtype::INT4 : Dtype::INT8;
        f.bytes_per_weight = bits / 8.0 + (2.0 + (zero ? bits / 8.0 : 0.0)) / group;
    } else if (method == "compressed-tensors") {
        const json* groups = field(*q, "config_groups");
        const json* w = nullptr;
        if (groups && groups->is_object() && !groups->empty()) w = field(groups->begin().value(), "weights");
        if (!w || !w->is_object()) r.fail(key + ".config_groups", "no weights scheme in the first group");
        const double bits = number(*w, "num_bits", 8);
        const json* type = field(*w, "type");
        const bool is_float = type && type->is_string() && type->get<std::string>() == "float";
        double group = number(*w, "group_size", 0);
        if (group <= 0) group = 1e30;  // per channel or per tensor
        if (bits == 8) {
            f = WeightFormat::of(is_float ? Dtype::FP8 : Dtype::INT8);
        } else if (bits == 4) {
            // int4 (w4a16): a bf16 scale per group, a zero too when asymmetric; fp4 (NVFP4): an fp8 scale per group
            f.dtype = is_float ? Dtype::MXFP4 : Dtype::INT4;
            f.bytes_per_weight = 0.5 + (is_float ? 1.0 : 2.0 + (flag(*w, "symmetric", true) ? 0.0 : 0.5)) / group;
        } else {
            r.fail(key + ".config_groups.weights.num_bits", fmt::format("{} bits is not a format headroom reads (4, 8)", bits));
        }
    } else if (method == "bitsandbytes") {
        if (flag(*q, "load_in_4bit", false)) {
            // NF4 in blocks of 64 with an fp32 absmax, or an 8-bit absmax plus an fp32 per 256 blocks (double quant)
            f.dtype = Dtype::INT4;
            f.bytes_per_weight = 0.5 + (flag(*q, "bnb_4bit_use_double_quant", false) ? 1.0 / 64 + 4.0 / (64 * 256) : 4.0 / 64);
        } else {
            f = WeightFormat::of(Dtype::INT8);
        }
    } else {
        m.guessed.push_back(fmt::format("{}.quant_method \"{}\" (weights taken as bf16)", key, method));
        return;
    }
    m.shipped.method = method;
    if (!keep_experts) m.shipped.experts = f;
    if (!experts_only && !keep_attention) m.shipped.attention = f;
    if (!experts_only && !keep_dense) m.shipped.dense_mlp = f;
}

void validate(Reader& r, const ModelCard& m) {
    if (!m.is_mla()) {
        if (m.num_kv_heads > m.num_attention_heads) {
            r.fail("num_key_value_heads", fmt::format("must not exceed num_attention_heads ({} > {})",
                                                      m.num_kv_heads, m.num_attention_heads));
        }
        if (m.num_attention_heads % m.num_kv_heads != 0) {
            r.fail("num_key_value_heads", fmt::format("must divide num_attention_heads ({} / {})",
                                                      m.num_attention_heads, m.num_kv_heads));
        }
    }
    if (m.is_moe() && m.experts_per_token > m.num_experts) {
        std::string field;  // the field the count was read from
        r.find({"num_experts_per_tok", "experts_per_token", "moe_k"}, &field);
        r.fail(field, fmt::format("{} is more than the {} experts", m.experts_per_token, m.num_experts));
    }
    if (m.first_k_dense_replace > m.num_layers) {
        r.fail("first_k_dense_replace", fmt::format("{} is more than num_hidden_layers ({})",
                                                    m.first_k_dense_replace, m.num_layers));
    }
}

}  // namespace

ModelCard parse_model_config(std::string_view text, std::string_view file_sv, std::string_view name) {
    const std::string file(file_sv);
    const json j = parse_json_input<ModelConfigError>(text, file);
    if (!j.is_object()) throw ModelConfigError(file, "", "expected a JSON object at the top level, got " + describe(j));

    // A multimodal wrapper (Gemma 3, Llama 4, Mistral 3, LLaVA) holds its language model in text_config; the
    // wrapper keeps the architecture, the dtype and the quantisation, which the language model takes from it.
    const auto tc = j.find("text_config");
    const bool wrapped = tc != j.end() && !tc->is_null() && !j.contains("hidden_size");
    json lm;
    std::set<std::string> outer;
    if (wrapped) {
        if (!tc->is_object()) throw ModelConfigError(file, "text_config", "expected an object, got " + describe(*tc));
        lm = *tc;
        for (const char* k : {"architectures", "torch_dtype", "dtype", "quantization_config", "compression_config", "tie_word_embeddings"}) {
            if (j.contains(k) && !lm.contains(k)) {
                lm[k] = j[k];
                outer.insert(k);
            }
        }
        if (!lm.contains("model_type") && j.contains("model_type")) {
            lm["model_type"] = j["model_type"];
            outer.insert("model_type");
        }
    }
    Reader r = wrapped ? Reader(lm, file, "text_config.", outer) : Reader(j, file);
    ModelCard m;
    m.name = std::string(name);
    m.source = file;
    m.model_type = lower(r.opt_string("model_type"));
    if (const json* arch = r.find({"architectures"})) {
        if (!arch->is_array()) r.fail("architectures", fmt::format("expected an array, got {}", describe(*arch)));
        if (!arch->empty()) {
            if (!(*arch)[0].is_string()) r.fail("architectures[0]", "expected a string");
            m.architecture = (*arch)[0].get<std::string>();
        }
    }
    m.family = family_of(m.model_type);
    // Hybrid and recurrent models keep a fixed state per sequence in some layers instead of a KV cache, and cost
    // those layers as scans, not attention: read as a plain decoder they would come out wrong, so they are refused
    static const std::set<std::string> recurrent = {
        "qwen3_next", "kimi_linear", "jamba", "mamba", "mamba2", "falcon_mamba", "falcon_h1", "nemotron_h", "bamba",
        "zamba", "zamba2", "granitemoehybrid", "minimax", "minimax_m1", "lfm2", "plamo2", "rwkv", "rwkv7",
        "recurrent_gemma", "xlstm"};
    if (recurrent.count(m.model_type)) {
        r.fail("model_type", fmt::format("\"{}\" has linear-attention or state-space layers (a fixed state per sequence "
                                         "instead of a KV cache), which headroom does not model yet", m.model_type));
    }
    const bool generic = m.family == "generic";
    auto guess = [&](const std::string& what) { m.guessed.push_back(what); };
    if (generic) {
        guess(m.model_type.empty() ? "model_type (absent; read as a generic decoder)"
                                   : fmt::format("model_type (\"{}\" is not a known family; read as a generic "
                                                 "decoder)", m.model_type));
    }

    // Shapes every family has.
    m.hidden_size = r.req_int({"hidden_size", "n_embd", "d_model"}, MAX_WIDTH);
    m.num_layers = r.req_int({"num_hidden_layers", "n_layer", "num_layers"}, MAX_LAYERS);
    m.num_attention_heads = r.req_int({"num_attention_heads", "n_head", "num_heads"}, MAX_HEADS);
    m.vocab_size = r.req_int({"vocab_size"}, MAX_VOCAB);
    m.intermediate_size = r.req_int({"intermediate_size", "n_inner", "ffn_dim"}, MAX_WIDTH);
    m.max_position_embeddings = r.req_int({"max_position_embeddings", "n_positions", "max_seq_len"}, MAX_POSITIONS);
    if (m.family == "deepseek") {
        m.kv_lora_rank = r.req_int({"kv_lora_rank"}, MAX_WIDTH);
        m.qk_rope_head_dim = r.req_int({"qk_rope_head_dim"}, MAX_WIDTH);
        m.qk_nope_head_dim = r.req_int({"qk_nope_head_dim"}, MAX_WIDTH);
        m.v_head_dim = r.req_int({"v_head_dim"}, MAX_WIDTH);
        m.q_lora_rank = r.opt_int({"q_lora_rank"}, 1, MAX_WIDTH).value_or(0);
        if (r.has("index_topk") || r.has("index_n_heads") || r.has("index_head_dim")) {
            // DeepSeek-V3.2's sparse attention: a lightning indexer picks index_topk keys for each query
            m.index_n_heads = r.req_int({"index_n_heads"}, MAX_HEADS);
            m.index_head_dim = r.req_int({"index_head_dim"}, MAX_WIDTH);
            m.index_topk = r.req_int({"index_topk"}, MAX_POSITIONS);
            r.check_missing();
            guess(fmt::format("sparse attention (DSA): a query attends to at most the index_topk = {} keys its "
                              "indexer picks: decodes, and sequences no longer than that, as DeepSeek-V3's MLA (its "
                              "kernel tables where they apply); longer prefills in FlashMLA's sparse kernel, and the "
                              "indexer's scoring of every cached key, on the calibrated roofline (no kernel table "
                              "times them)", m.index_topk));
        }
    }
    r.check_missing();

    m.hidden_act = r.opt_string("hidden_act");
    if (m.hidden_act.empty()) m.hidden_act = r.opt_string("hidden_activation");  // Gemma's name for it
    // transformers 4.56 and later write the checkpoint's dtype as `dtype`
    const char* dtype_field = r.has("torch_dtype") || !r.has("dtype") ? "torch_dtype" : "dtype";
    m.torch_dtype = r.opt_string(dtype_field);
    if (!m.torch_dtype.empty() && !parse_dtype(m.torch_dtype)) {
        r.fail(dtype_field, fmt::format("unknown dtype \"{}\" (expected float32, bfloat16 or float16)",
                                          m.torch_dtype));
    }

    // Attention heads.
    if (auto kv = r.opt_int({"num_key_value_heads", "num_kv_heads"}, 1, MAX_HEADS)) {
        m.num_kv_heads = *kv;
    } else if (m.family == "starcoder2") {
        m.num_kv_heads = 2;  // Starcoder2Config's default
    } else {
        m.num_kv_heads = m.num_attention_heads;  // the HF default: multi-head attention
        if (generic) guess(fmt::format("num_key_value_heads = {} (= num_attention_heads)", m.num_kv_heads));
    }
    int64_t default_head_dim = 0;
    if (m.family == "gemma" || m.family == "gemma2" || m.family == "gemma3") default_head_dim = 256;
    if (m.family == "qwen3") default_head_dim = 128;
    if (m.family == "gpt_oss") default_head_dim = 64;
    if (m.family == "deepseek") default_head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
    if (auto hd = r.opt_int({"head_dim"}, 1, MAX_WIDTH); hd && m.family != "deepseek") {
        m.head_dim = *hd;
    } else if (default_head_dim > 0) {
        m.head_dim = default_head_dim;
    } else {
        if (m.hidden_size % m.num_attention_heads != 0) {
            r.fail("num_attention_heads", fmt::format("does not divide hidden_size ({} / {}) and no head_dim is "
                                                      "given", m.hidden_size, m.num_attention_heads));
        }
        m.head_dim = m.hidden_size / m.num_attention_heads;
        if (generic) guess(fmt::format("head_dim = {} (= hidden_size / num_attention_heads)", m.head_dim));
    }

    // Embedding tying: Gemma ties by default, and Cohere (CohereConfig's default) and StarCoder2 (no field of its
    // own: PretrainedConfig's default); everything else here does not.
    const bool tie_default = m.family == "gemma" || m.family == "gemma2" || m.family == "gemma3" ||
                             m.family == "cohere" || m.family == "starcoder2" || m.family == "ernie4_5_moe";
    if (generic && !r.has("tie_word_embeddings")) guess("tie_word_embeddings = false");
    m.tie_word_embeddings = r.opt_bool("tie_word_embeddings", tie_default);

    // Biases, norms and MLP form, per family.
    const bool attention_bias = r.opt_bool("attention_bias", m.family == "gpt_oss");
    if (generic && !r.has("attention_bias")) guess("attention_bias = false");
    m.qkv_bias = attention_bias;
    m.o_bias = attention_bias;
    m.mlp_bias = r.opt_bool("mlp_bias", false);
    if (m.family == "qwen2") {
        m.qkv_bias = true;  // Qwen2 and Qwen2-MoE always have q/k/v biases and no o bias
        m.o_bias = false;
    }
    if (m.family == "deepseek") m.qkv_bias = m.o_bias = false;
    if (m.family == "glm4_moe") {
        // GLM-4.5: attention_bias puts biases on q, k and v, not on o; optional q/k RMSNorms (use_qk_norm);
        // RoPE on half of each head by default
        m.o_bias = false;
        m.qk_norm = r.opt_bool("use_qk_norm", false);
        m.partial_rotary_factor = 0.5;
    }
    if (m.family == "ernie4_5_moe") m.qkv_bias = m.o_bias = m.mlp_bias = r.opt_bool("use_bias", false);
    if (m.family == "minimax_m2") {
        // MiniMax-M2: every layer full attention (attn_type_list: 1; MiniMax-M1's 0 is lightning attention) and an
        // MoE of num_local_experts experts intermediate_size wide (read_moe) with a sigmoid router; q and k each
        // normalised over all their heads (use_qk_norm, qk_norm_type per_layer: a weight of heads x head_dim), whose
        // variance the TP ranks all-reduce in every layer (vLLM's MiniMaxText01RMSNormTP); RoPE on rotary_dim of each
        // head
        if (const json* types = r.find({"attn_type_list"})) {
            if (!types->is_array()) r.fail("attn_type_list", fmt::format("expected an array, got {}", describe(*types)));
            for (const json& t : *types) {
                if (r.as_int(t, "attn_type_list", 0, 1) == 0) {
                    r.fail("attn_type_list", "has a linear-attention layer (0), which headroom does not model yet");
                }
            }
        }
        m.qk_norm = m.qk_norm_per_head = m.qk_norm_across_heads = r.opt_bool("use_qk_norm", false);
        if (auto rotary = r.opt_int({"rotary_dim"}, 1, m.head_dim)) {
            m.partial_rotary_factor = static_cast<double>(*rotary) / static_cast<double>(m.head_dim);
        }
    }
    if (m.family == "qwen3") m.qk_norm = true;
    if (m.family == "gpt_oss") m.attention_sinks = true;
    if (m.family == "gemma2" || m.family == "gemma3") m.norms_per_layer = 4;  // pre/post attention, pre/post feed-forward
    if (m.family == "gemma3") m.qk_norm = true;  // Gemma 3 normalises q and k per head (RMSNorm with a weight)
    if (m.family == "phi") {
        // phi-2: attention and MLP in parallel after one LayerNorm; every linear has a bias; fc1/fc2 MLP.
        m.norm = NormKind::LAYER;
        m.norms_per_layer = 1;
        m.qkv_bias = m.o_bias = m.mlp_bias = m.lm_head_bias = true;
        m.mlp = MlpKind::PLAIN;
        m.partial_rotary_factor = r.opt_fraction("partial_rotary_factor", 0.5);
    }
    if (m.family == "starcoder2") {
        // StarCoder2: LayerNorms with biases; every linear but the lm_head has a bias (use_bias); c_fc / c_proj MLP
        m.norm = NormKind::LAYER;
        const bool bias = r.opt_bool("use_bias", true);
        m.qkv_bias = m.o_bias = m.mlp_bias = bias;
        m.mlp = MlpKind::PLAIN;
    }
    if (m.family == "nemotron") {
        // Nemotron (Nemotron-4, Minitron; vLLM's nemotron.py): LayerNorm1P (a LayerNorm with weight and
        // bias), an MLP of up and down projections with hidden_act (relu2: squared ReLU), no gate; RoPE on
        // partial_rotary_factor of each head (NemotronConfig's default 0.5, read below)
        m.norm = NormKind::LAYER;
        m.mlp = MlpKind::PLAIN;
        m.partial_rotary_factor = 0.5;
    }
    if (m.family == "cohere") {
        // Cohere (Command R) and Cohere 2: attention and the gated MLP run in parallel after one LayerNorm without
        // a bias; Command R+ normalises q and k with a weight per head (use_qk_norm)
        m.norm = NormKind::LAYER;
        m.norm_bias = false;
        m.norms_per_layer = 1;
        m.qk_norm = m.qk_norm_per_head = r.opt_bool("use_qk_norm", false);
    }
    if (m.family == "bert") {
        m.is_encoder = true;
        m.norm = NormKind::LAYER;
        m.qkv_bias = m.o_bias = m.mlp_bias = true;
        m.mlp = MlpKind::PLAIN;
        m.final_norm = false;
        m.learned_positions = true;
        m.partial_rotary_factor = 0.0;  // absolute positions, learned and added to the embeddings: no rotary
        m.type_vocab_size = r.opt_int({"type_vocab_size"}, 0, MAX_VOCAB).value_or(2);
        m.pooler = m.architecture.empty() || m.architecture.ends_with("Model");
    }
    if (generic && m.hidden_act == "relu2") {
        // squared ReLU is an ungated MLP's activation in every checkpoint that uses it (Nemotron,
        // Nemotron-H's MLPs and experts, Persimmon, Arcee's AFM): up and down projections
        m.mlp = MlpKind::PLAIN;
        guess("MLP = up/down, 2 matrices (hidden_act relu2 is not gated)");
        guess("norms = 2 RMSNorm per layer");
    } else if (generic) {
        guess("MLP = gated (gate/up/down, 3 matrices)");
        guess("norms = 2 RMSNorm per layer");
    }
    m.partial_rotary_factor = r.opt_fraction("partial_rotary_factor", m.partial_rotary_factor);
    for (const char* key : {"rope_theta", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"}) {
        const json* v = r.find({key});
        if (!v) continue;
        if (!v->is_number() || !(v->get<double>() > 0.0)) r.fail(key, fmt::format("expected a number > 0, got {}", describe(*v)));
        (std::string(key) == "rope_theta" ? m.rope_theta : m.norm_eps) = v->get<double>();
    }
    if (const json* rs = r.find({"rope_scaling"})) {
        if (!rs->is_object()) r.fail("rope_scaling", fmt::format("expected an object or null, got {}", describe(*rs)));
        auto t = rs->find("rope_type");
        if (t == rs->end()) t = rs->find("type");
        m.rope_scaling = (t != rs->end() && t->is_string()) ? t->get<std::string>() : "custom";
    }

    read_moe(r, m);
    read_quantization(r, m);
    r.check_missing();
    read_layer_types(r, m);
    mark_moe_layers(r, m);
    // A model with no dense MLP (every MLP layer an MoE one) keeps its attention's format there, so that the
    // weights' label names no class the model lacks ("int4 experts, bf16 attention", not "..., int4 dense
    // MLP" where a quantisation's ignore list named the attention alone)
    if (m.dense_mlp_matrix_params() == 0) m.shipped.dense_mlp = m.shipped.attention;
    validate(r, m);
    if (j.contains("vision_config")) {
        m.guessed.push_back(wrapped ? "the language model of a multimodal checkpoint (text_config); its vision encoder "
                                      "(vision_config) is not modelled: neither its weights nor image inputs"
                                    : "the language model of a multimodal checkpoint; its vision encoder (vision_config) "
                                      "is not modelled: neither its weights nor image inputs");
    }
    return m;
}

std::vector<ShippedModel> shipped_models() {
    std::vector<ShippedModel> out;
    for (const auto& [stem, text] : embedded_model_configs()) {
        // "org__model" -> "org/model"
        std::string id;
        const auto p = stem.find("__");
        id.append(stem.substr(0, p));
        if (p != std::string_view::npos) {
            id.push_back('/');
            id.append(stem.substr(p + 2));
        }
        out.push_back({std::string(stem), id});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return lower(a.hf_id) < lower(b.hf_id); });
    return out;
}

namespace {

std::string read_file(const fs::path& p, const std::string& shown) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw ModelConfigError(shown, "", "cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string_view embedded_text(const std::string& stem) {
    for (const auto& [s, text] : embedded_model_configs()) {
        if (s == stem) return text;
    }
    return {};
}

}  // namespace

namespace {

// The Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's
// own order). A model id org/name lives in models--org--name/snapshots/<commit>/, and refs/main names the
// commit last downloaded.
fs::path hf_hub_cache() {
    if (const char* c = std::getenv("HF_HUB_CACHE"); c && *c) return c;
    if (const char* h = std::getenv("HF_HOME"); h && *h) return fs::path(h) / "hub";
    if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "huggingface" / "hub";
    return {};
}

// "org/name" of a snapshot directory (.../models--org--name/snapshots/<commit>), or "".
std::string hf_snapshot_id(const fs::path& dir) {
    const fs::path d = dir.lexically_normal();
    const fs::path snap = d.filename().empty() ? d.parent_path() : d;
    if (snap.parent_path().filename() != "snapshots") return "";
    const std::string repo = snap.parent_path().parent_path().filename().string();
    if (!repo.starts_with("models--")) return "";
    const std::string rest = repo.substr(8);
    const size_t sep = rest.find("--");
    return sep == std::string::npos ? rest : rest.substr(0, sep) + "/" + rest.substr(sep + 2);
}

// The snapshot directory of a model id in the hub cache, or "" when it is not there.
fs::path hf_cached_snapshot(const std::string& id) {
    const size_t slash = id.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == id.size() || id.find('/', slash + 1) != std::string::npos) {
        return {};
    }
    const fs::path cache = hf_hub_cache();
    if (cache.empty()) return {};
    const fs::path repo = cache / ("models--" + id.substr(0, slash) + "--" + id.substr(slash + 1));
    std::error_code ec;
    if (!fs::is_directory(repo / "snapshots", ec)) return {};
    std::ifstream ref(repo / "refs" / "main");
    std::string commit;
    if (ref && std::getline(ref, commit) && !commit.empty() && fs::is_directory(repo / "snapshots" / commit, ec)) {
        return repo / "snapshots" / commit;
    }
    std::vector<fs::path> snaps;
    for (const auto& e : fs::directory_iterator(repo / "snapshots", ec)) {
        if (e.is_directory(ec)) snaps.push_back(e.path());
    }
    if (snaps.size() == 1) return snaps[0];
    if (snaps.empty()) return {};
    throw ModelConfigError(id, "", fmt::format("{} snapshots in the Hugging Face cache ({}) and no refs/main to choose one; "
                                               "give the snapshot directory", snaps.size(), repo.string()));
}

}  // namespace

ModelCard load_model(std::string_view spec_sv) {
    const std::string spec(spec_sv);
    if (spec.empty()) throw ModelConfigError("--model", "", "empty model name");
    std::error_code ec;
    const fs::path p(spec);
    if (fs::is_directory(p, ec)) {
        const fs::path cfg = p / "config.json";
        if (!fs::is_regular_file(cfg, ec)) throw ModelConfigError(spec, "config.json", "no config.json in this directory");
        if (const std::string id = hf_snapshot_id(fs::absolute(p, ec)); !id.empty()) {
            return parse_model_config(read_file(cfg, cfg.string()), cfg.string(), id);
        }
        const std::string name = fs::absolute(p, ec).lexically_normal().filename().string();
        return parse_model_config(read_file(cfg, cfg.string()), cfg.string(),
                                  name.empty() ? fs::absolute(p, ec).lexically_normal().parent_path().filename().string() : name);
    }
    if (fs::is_regular_file(p, ec)) {
        std::string name = p.stem().string();
        if (name == "config") name = fs::absolute(p, ec).parent_path().filename().string();
        return parse_model_config(read_file(p, spec), spec, name);
    }

    // A shipped model: exact stem, HF id or model part first, then a unique prefix of the model part.
    const std::string want = lower(spec);
    std::vector<ShippedModel> exact, prefix;
    for (const ShippedModel& s : shipped_models()) {
        const std::string id = lower(s.hf_id);
        const std::string part = id.substr(id.find('/') + 1);
        if (want == lower(s.name) || want == id || want == part) exact.push_back(s);
        else if (part.starts_with(want) || id.starts_with(want)) prefix.push_back(s);
    }
    if (exact.empty()) {  // a model id downloaded with huggingface_hub (vllm serve, transformers)
        if (const fs::path snap = hf_cached_snapshot(spec); !snap.empty()) {
            const fs::path cfg = snap / "config.json";
            if (!fs::is_regular_file(cfg, ec)) {
                throw ModelConfigError(spec, "config.json", "not in its Hugging Face cache snapshot " + snap.string());
            }
            return parse_model_config(read_file(cfg, cfg.string()), cfg.string(), spec);
        }
    }
    std::vector<ShippedModel> hits = exact.empty() ? prefix : exact;
    // A prefix of every other match names the base checkpoint ("Qwen2.5-7B" is Qwen2.5-7B-Instruct, not its
    // -AWQ variant): it wins.
    if (hits.size() > 1) {
        auto shortest = std::min_element(hits.begin(), hits.end(), [](const ShippedModel& a, const ShippedModel& b) {
            return a.hf_id.size() < b.hf_id.size();
        });
        const bool base_of_all = std::all_of(hits.begin(), hits.end(), [&](const ShippedModel& h) {
            return lower(h.hf_id).starts_with(lower(shortest->hf_id));
        });
        if (base_of_all) hits = {*shortest};
    }
    if (hits.size() == 1) {
        return parse_model_config(embedded_text(hits[0].name), hits[0].hf_id, hits[0].hf_id);
    }
    if (hits.size() > 1) {
        std::string names;
        for (const auto& h : hits) {
            if (!names.empty()) names += ", ";
            names += h.hf_id;
        }
        throw ModelConfigError(spec, "", "ambiguous model name; it matches " + names);
    }
    throw ModelConfigError(spec, "", "no such file, directory with config.json, shipped model (`headroom models` lists "
                                     "them) or model in the Hugging Face cache (" + hf_hub_cache().string() + ")");
}

}  // namespace headroom
