#include "headroom/models/input_error.hpp"

#include <utility>

namespace headroom {

namespace {

std::string joined(const std::string& file, const std::string& field, const std::string& reason) {
    std::string out;
    for (const std::string* part : {&file, &field, &reason}) {
        if (part->empty()) continue;
        if (!out.empty()) out += ": ";
        out += *part;
    }
    return out;
}

}  // namespace

InputError::InputError(std::string file, std::string field, std::string reason)
    : std::runtime_error(joined(file, field, reason)),
      file_(std::move(file)),
      field_(std::move(field)),
      reason_(std::move(reason)) {}

}  // namespace headroom
