// How a checkpoint stores its weight matrices, per module class, as its quantization_config says: the kernel
// class that multiplies them (a Dtype) and the bytes each weight takes as stored, scales and zero points
// included. Embeddings, lm_head, norms, routers and biases stay 16-bit.
#pragma once

#include <string>

#include "headroom/models/dtype.hpp"

namespace headroom {

struct WeightFormat {
    Dtype dtype = Dtype::BF16;
    double bytes_per_weight = 2.0;
    static WeightFormat of(Dtype d) { return {d, dtype_bytes(d)}; }
    bool operator==(const WeightFormat&) const = default;
};

struct WeightScheme {
    std::string method;  // quantization_config.quant_method ("mxfp4", "fp8", "awq", ...); "" when unquantised
    WeightFormat attention, dense_mlp, experts;  // experts: routed and shared

    static WeightScheme uniform(Dtype d);
    bool is_uniform() const { return attention == dense_mlp && dense_mlp == experts; }
    // "bf16" when uniform; else the classes that differ: "mxfp4 experts, bf16 attention".
    std::string label() const;
    // The dtype name when uniform, else the method ("mxfp4"): for tables.
    std::string short_label() const { return is_uniform() ? std::string(dtype_name(attention.dtype)) : method; }
};

}  // namespace headroom
