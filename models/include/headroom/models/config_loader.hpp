// Reading a Hugging Face config.json into a ModelCard: from a path, a snapshot directory, or the short name
// of a config shipped in models/configs/.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "headroom/models/input_error.hpp"
#include "headroom/models/model_card.hpp"

namespace headroom {

// A config.json that cannot be read as a model: names the file, the field and the reason.
class ModelConfigError : public InputError {
public:
    using InputError::InputError;
};

struct ShippedModel {
    std::string name;   // file stem: "meta-llama__Llama-3.1-8B-Instruct"
    std::string hf_id;  // "meta-llama/Llama-3.1-8B-Instruct"
};

std::vector<ShippedModel> shipped_models();

// `spec` is a path to a config.json, a directory holding one, or a shipped model named by its stem, its
// Hugging Face id, or any unique case-insensitive prefix of the model part ("llama-3.1-8b").
ModelCard load_model(std::string_view spec);

// Parses config.json text. `file` is used in error messages, `name` becomes ModelCard::name.
ModelCard parse_model_config(std::string_view text, std::string_view file, std::string_view name);

}  // namespace headroom
