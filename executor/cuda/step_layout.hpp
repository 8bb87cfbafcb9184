// One engine step's metadata on the GPU: the tokens, positions, KV slots, rows to sample, and the prefill
// tiles and decode rows with their block tables. Planned on the host into pinned staging and copied into fixed
// device arrays, so that a captured CUDA graph reads each step's values.
#pragma once

#include <cstdint>
#include <vector>

#include "device_buffers.hpp"
#include "headroom/executor/reference.hpp"

namespace headroom::cuda {

inline constexpr int64_t PREFILL_TILE = 64;  // queries per prefill-attention block (attention.cu)
inline constexpr int64_t MAX_SPLITS = 16;    // split-key decode attention: most splits per sequence

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A step's counts, as planned on the host.
struct StepShape {
    int64_t tokens = 0, seqs = 0, prefill_seqs = 0, tiles = 0, decodes = 0, splits = 1;
    int64_t pf_table_len = 0, dc_table_len = 0;
};

// What a step may hold, and the device facts the decode split depends on.
struct StepLimits {
    int64_t max_tokens = 0, max_seqs = 0;
    int64_t block_size = 16, num_blocks = 0;
    int64_t max_len = 0, max_blocks_per_seq = 0;
    int64_t vocab = 0;
    int64_t heads = 0;  // query heads
    int sm_count = 0;
};

class StepLayout {
public:
    StepLayout() = default;
    explicit StepLayout(const StepLimits& limits);

    // Fills the staging arrays from the batch; throws std::invalid_argument on a batch the limits do not hold
    // (the caller's bug: the scheduler never plans one).
    StepShape plan(const std::vector<ref::SeqStep>& batch);
    // Pads a decode-only shape to a graph bucket: padding rows read token 0 at position 0 and write nothing.
    void pad_to(StepShape& s, int64_t bucket);
    // Copies what the shape uses to the device, on `stream`.
    void upload(const StepShape& s, cudaStream_t stream) const;

    Staged<int64_t> tok, pos, slot, last_rows, pf_row0;
    Staged<int32_t> pf_tile_seq, pf_tile_q0, pf_qlen, pf_ctx, pf_tables, pf_offsets;
    Staged<int32_t> dc_rows, dc_lens, dc_tables, dc_offsets;

private:
    int64_t splits_for(int64_t decodes, int64_t longest) const;
    StepLimits lim_;
};

}  // namespace headroom::cuda
