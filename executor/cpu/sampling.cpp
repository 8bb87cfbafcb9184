// Greedy sampling: the argmax of each row of logits (lowest index on ties).
#include "headroom/executor/reference.hpp"

namespace headroom::ref {

void greedy_sample(const float* logits, int64_t* out, int64_t rows, int64_t vocab) {
    for (int64_t r = 0; r < rows; ++r) {
        int64_t best = 0;
        for (int64_t i = 1; i < vocab; ++i) {
            if (logits[r * vocab + i] > logits[r * vocab + best]) best = i;
        }
        out[r] = best;
    }
}

}  // namespace headroom::ref
