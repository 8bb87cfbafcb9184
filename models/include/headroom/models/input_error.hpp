// The base of every error the user's input causes: a file, the field in it (or the option) and the reason.
// Each domain throws one subclass (ModelConfigError, HardwareError, PlanError, ScenarioError, ExecutorError,
// the CLI's UsageError); the CLI turns any of them into one line on stderr and exit code 2, Python into
// headroom.InputError (a ValueError).
#pragma once

#include <stdexcept>
#include <string>

namespace headroom {

class InputError : public std::runtime_error {
public:
    // what(): the non-empty parts joined by ": " ("config.json: num_key_value_heads: must divide ...").
    InputError(std::string file, std::string field, std::string reason);
    const std::string& file() const { return file_; }
    const std::string& field() const { return field_; }
    const std::string& reason() const { return reason_; }

private:
    std::string file_, field_, reason_;
};

}  // namespace headroom
