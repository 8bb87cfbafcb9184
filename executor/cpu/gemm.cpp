// y = x W^T with W stored [out, in]: the layout of the Hugging Face linear layers and of the cuBLASLt GEMMs.
#include "headroom/executor/reference.hpp"

namespace headroom::ref {

void gemm(const float* x, const float* w, float* y, int64_t tokens, int64_t in, int64_t out) {
    for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t n = 0; n < out; ++n) {
            float acc = 0.0f;
            const float* xr = x + t * in;
            const float* wr = w + n * in;
            for (int64_t k = 0; k < in; ++k) acc += xr[k] * wr[k];
            y[t * out + n] = bf16_round(acc);
        }
    }
}

}  // namespace headroom::ref
