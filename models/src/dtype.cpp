// Storage sizes and names of numeric formats.
#include "headroom/models/dtype.hpp"

#include <algorithm>
#include <cctype>

namespace headroom {

double dtype_bytes(Dtype d) {
    switch (d) {
        case Dtype::FP32: return 4.0;
        case Dtype::BF16:
        case Dtype::FP16: return 2.0;
        case Dtype::FP8:
        case Dtype::INT8: return 1.0;
        case Dtype::INT4: return 0.5 + INT4_SCALE_BYTES / INT4_GROUP_SIZE;
        case Dtype::MXFP4: return 0.5 + 1.0 / MXFP4_BLOCK;
    }
    return 0.0;
}

std::string_view dtype_name(Dtype d) {
    switch (d) {
        case Dtype::FP32: return "fp32";
        case Dtype::BF16: return "bf16";
        case Dtype::FP16: return "fp16";
        case Dtype::FP8: return "fp8";
        case Dtype::INT8: return "int8";
        case Dtype::INT4: return "int4";
        case Dtype::MXFP4: return "mxfp4";
    }
    return "?";
}

std::optional<Dtype> parse_dtype(std::string_view s) {
    std::string l(s);
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    if (l == "fp32" || l == "float32" || l == "float") return Dtype::FP32;
    if (l == "bf16" || l == "bfloat16") return Dtype::BF16;
    if (l == "fp16" || l == "float16" || l == "half") return Dtype::FP16;
    if (l == "fp8" || l == "fp8_e4m3" || l == "float8_e4m3fn" || l == "e4m3") return Dtype::FP8;
    if (l == "int8") return Dtype::INT8;
    if (l == "int4") return Dtype::INT4;
    if (l == "mxfp4") return Dtype::MXFP4;
    return std::nullopt;
}

std::string dtype_choices() { return "fp32, bf16, fp16, fp8, int8, int4, mxfp4"; }

}  // namespace headroom
