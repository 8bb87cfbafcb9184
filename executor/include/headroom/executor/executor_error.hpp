// The executor's errors: ExecutorError for a model, scenario or step it cannot run as asked (an input error:
// exit code 2), NoDeviceError when there is no GPU to run on (exit code 3).
#pragma once

#include <stdexcept>

#include "headroom/models/input_error.hpp"

namespace headroom {

class ExecutorError : public InputError {
public:
    using InputError::InputError;
};

class NoDeviceError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace headroom
