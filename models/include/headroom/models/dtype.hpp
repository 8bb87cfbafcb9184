// Numeric formats for weights, activations and the KV cache, and their storage cost.
// int4 is weight-only with one fp16 scale per group of 128 weights (GPTQ/AWQ style):
// 0.5 + 2/128 = 0.515625 bytes per weight.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace headroom {

// MXFP4: OCP microscaling FP4 (E2M1 values, one E8M0 scale per 32): 0.5 + 1/32 = 0.53125 bytes per weight;
// weight-only on Hopper and Ampere (dequantised into bf16 products), as gpt-oss ships its experts.
enum class Dtype { FP32, BF16, FP16, FP8, INT8, INT4, MXFP4 };

inline constexpr int INT4_GROUP_SIZE = 128;
inline constexpr double INT4_SCALE_BYTES = 2.0;  // one fp16 scale per group
inline constexpr int MXFP4_BLOCK = 32;          // one E8M0 (1-byte) scale per 32 values

// Bytes one element occupies, group scales included for int4.
double dtype_bytes(Dtype d);

// "bf16", "fp16", "fp8", ...: the short names used on the CLI and in JSON.
std::string_view dtype_name(Dtype d);

// Accepts the short names and the torch spellings ("bfloat16", "float16", "float32", "float8_e4m3fn").
std::optional<Dtype> parse_dtype(std::string_view s);

// Human list of accepted names, for error messages.
std::string dtype_choices();

}  // namespace headroom
