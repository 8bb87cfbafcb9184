// A bad option or argument of the `headroom` command: the message names the option ("--qps: must be > 0").
// An InputError like every domain's, so main() turns it into one line and exit code 2.
#pragma once

#include <string>
#include <utility>

#include "headroom/models/input_error.hpp"

namespace headroom::cli {

struct UsageError : InputError {
    explicit UsageError(std::string message) : InputError("", "", std::move(message)) {}
};

}  // namespace headroom::cli
