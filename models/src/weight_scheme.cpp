#include "headroom/models/weight_scheme.hpp"

namespace headroom {

std::string kernel_format(const WeightFormat& f) {
    switch (f.dtype) {
        case Dtype::BF16:
        case Dtype::FP16:
            return f.bytes_per_weight == 2.0 ? "bf16" : "";
        case Dtype::FP8:
            return f.bytes_per_weight == 1.0 ? "fp8" : "fp8_block";
        case Dtype::MXFP4:
            return f.bytes_per_weight == WeightFormat::of(Dtype::MXFP4).bytes_per_weight ? "mxfp4" : "fp4";
        case Dtype::INT4:
            return "int4";
        default:
            return "";
    }
}

double kernel_format_bytes(const std::string& format) {
    if (format == "bf16") return 2.0;
    if (format == "fp8") return 1.0;
    if (format == "fp8_block") return 1.0 + 4.0 / (128.0 * 128.0);
    if (format == "mxfp4") return WeightFormat::of(Dtype::MXFP4).bytes_per_weight;
    if (format == "fp4") return 0.5 + 1.0 / 16.0;
    if (format == "int4") return WeightFormat::of(Dtype::INT4).bytes_per_weight;
    return 0.0;
}

WeightScheme WeightScheme::uniform(Dtype d) {
    WeightScheme s;
    s.attention = s.dense_mlp = s.experts = WeightFormat::of(d);
    return s;
}

std::string WeightScheme::label() const {
    if (is_uniform()) return std::string(dtype_name(attention.dtype));
    std::string out = std::string(dtype_name(experts.dtype)) + " experts, " + std::string(dtype_name(attention.dtype)) + " attention";
    if (!(dense_mlp == attention)) out += ", " + std::string(dtype_name(dense_mlp.dtype)) + " dense MLP";
    return out;
}

}  // namespace headroom
