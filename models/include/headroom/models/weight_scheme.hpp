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

// The kernel class vLLM multiplies weights stored in format `f` with, by the kernel tables' dtype names; ""
// when no table holds it: "bf16" (fp16 too: same tensor-core rate); fp8 per tensor or channel ("fp8": CUTLASS
// scaled mm) or block-scaled ("fp8_block": DeepGEMM; stored with an fp32 scale per block, so more than 1 byte
// per weight); MXFP4 ("mxfp4": gpt-oss, 4.25 bits), NVFP4 ("fp4": 4.5 bits) and int4 weight-only ("int4":
// Marlin), which only the fused-MoE tables hold. The calibration's fused-MoE fits are keyed by the same
// names.
std::string kernel_format(const WeightFormat& f);
// A weight's bytes in a kernel format as its usual checkpoints store it: bf16 2; fp8 1; fp8_block 1 + 4 /
// 128^2 (an fp32 scale per 128 x 128 block); mxfp4 0.53125 (an E8M0 scale per 32); fp4 0.5625 (NVFP4: an fp8
// scale per 16); int4 0.515625 (a bf16 scale per 128); 0 for any other name. kernel_format of {its dtype,
// these bytes} is the name.
double kernel_format_bytes(const std::string& format);

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
