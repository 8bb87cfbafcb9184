#include "headroom/models/weight_scheme.hpp"

namespace headroom {

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
