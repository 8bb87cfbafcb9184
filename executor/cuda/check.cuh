// One macro for CUDA errors: throws std::runtime_error naming the file, the line and the error.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#define HR_CUDA_CHECK(expr)                                                                                  \
    do {                                                                                                    \
        const cudaError_t hr_err = (expr);                                                                  \
        if (hr_err != cudaSuccess) {                                                                        \
            throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + #expr + \
                                     ": " + cudaGetErrorString(hr_err));                                    \
        }                                                                                                   \
    } while (0)

#define HR_REQUIRE(cond, what)                                                                   \
    do {                                                                                         \
        if (!(cond)) throw std::invalid_argument(std::string(__func__) + ": " + (what));         \
    } while (0)
