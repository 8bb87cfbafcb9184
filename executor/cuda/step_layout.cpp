#include "step_layout.hpp"

#include <algorithm>
#include <stdexcept>

namespace headroom::cuda {

StepLayout::StepLayout(const StepLimits& limits) : lim_(limits) {
    const size_t S = static_cast<size_t>(limits.max_seqs);
    const size_t T = std::max(static_cast<size_t>(limits.max_tokens), S);  // a graph bucket pads to <= max_seqs rows
    const size_t tables = S * static_cast<size_t>(limits.max_blocks_per_seq);
    const size_t tiles = T / PREFILL_TILE + S;
    tok = Staged<int64_t>(T);
    pos = Staged<int64_t>(T);
    slot = Staged<int64_t>(T);
    last_rows = Staged<int64_t>(S);
    pf_row0 = Staged<int64_t>(S);
    pf_tile_seq = Staged<int32_t>(tiles);
    pf_tile_q0 = Staged<int32_t>(tiles);
    pf_qlen = Staged<int32_t>(S);
    pf_ctx = Staged<int32_t>(S);
    pf_tables = Staged<int32_t>(tables);
    pf_offsets = Staged<int32_t>(S);
    dc_rows = Staged<int32_t>(S);
    dc_lens = Staged<int32_t>(S);
    dc_tables = Staged<int32_t>(tables);
    dc_offsets = Staged<int32_t>(S);
}

int64_t StepLayout::splits_for(int64_t decodes, int64_t longest) const {
    const int64_t want = ceil_div(2 * lim_.sm_count, std::max<int64_t>(1, lim_.heads * decodes));
    const int64_t useful = std::max<int64_t>(1, ceil_div(longest, 256));  // at least 256 keys a split
    return std::clamp<int64_t>(std::min(want, useful), 1, MAX_SPLITS);
}

StepShape StepLayout::plan(const std::vector<ref::SeqStep>& batch) {
    StepShape s;
    s.seqs = static_cast<int64_t>(batch.size());
    if (s.seqs > lim_.max_seqs) throw std::invalid_argument("more sequences than max_seqs in one step");
    int64_t longest = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
        const ref::SeqStep& q = batch[i];
        const auto n = static_cast<int64_t>(q.tokens.size());
        if (n == 0) throw std::invalid_argument("a sequence with no new tokens");
        if (s.tokens + n > lim_.max_tokens) throw std::invalid_argument("more tokens than max_tokens in one step");
        const int64_t end = q.context + n;
        if (end > lim_.max_len) throw std::invalid_argument("a sequence longer than max_model_len");
        const int64_t need = ceil_div(end, lim_.block_size);
        if (static_cast<int64_t>(q.block_table.size()) < need) throw std::invalid_argument("a block table too short");
        for (int64_t b = 0; b < need; ++b) {
            const int32_t blk = q.block_table[static_cast<size_t>(b)];
            if (blk < 0 || blk >= lim_.num_blocks) throw std::invalid_argument("a block id outside the KV cache");
        }
        for (int64_t j = 0; j < n; ++j) {
            const int64_t t = s.tokens + j, p = q.context + j;
            const int64_t id = q.tokens[static_cast<size_t>(j)];
            if (id < 0 || id >= lim_.vocab) throw std::invalid_argument("a token id outside the vocabulary");
            tok.host[t] = id;
            pos.host[t] = p;
            slot.host[t] = static_cast<int64_t>(q.block_table[static_cast<size_t>(p / lim_.block_size)]) * lim_.block_size +
                           p % lim_.block_size;
        }
        last_rows.host[i] = s.tokens + n - 1;
        if (n == 1 && q.context > 0) {
            dc_rows.host[s.decodes] = static_cast<int32_t>(s.tokens);
            dc_lens.host[s.decodes] = static_cast<int32_t>(end);
            dc_offsets.host[s.decodes] = static_cast<int32_t>(s.dc_table_len);
            std::copy_n(q.block_table.begin(), need, dc_tables.host + s.dc_table_len);
            s.dc_table_len += need;
            longest = std::max(longest, end);
            ++s.decodes;
        } else {
            const int64_t k = s.prefill_seqs++;
            pf_row0.host[k] = s.tokens;
            pf_qlen.host[k] = static_cast<int32_t>(n);
            pf_ctx.host[k] = static_cast<int32_t>(q.context);
            pf_offsets.host[k] = static_cast<int32_t>(s.pf_table_len);
            std::copy_n(q.block_table.begin(), need, pf_tables.host + s.pf_table_len);
            s.pf_table_len += need;
            for (int64_t q0 = 0; q0 < n; q0 += PREFILL_TILE, ++s.tiles) {
                pf_tile_seq.host[s.tiles] = static_cast<int32_t>(k);
                pf_tile_q0.host[s.tiles] = static_cast<int32_t>(q0);
            }
        }
        s.tokens += n;
    }
    s.splits = splits_for(s.decodes, longest);
    return s;
}

void StepLayout::pad_to(StepShape& s, int64_t bucket) {
    for (int64_t i = s.seqs; i < bucket; ++i) {
        tok.host[i] = 0;
        pos.host[i] = 0;
        slot.host[i] = -1;
        last_rows.host[i] = i;
        dc_rows.host[i] = static_cast<int32_t>(i);
        dc_lens.host[i] = 0;
        dc_offsets.host[i] = 0;
    }
    s.tokens = s.seqs = s.decodes = bucket;
    s.splits = splits_for(bucket, 1 << 30);  // a graph serves any context length
}

void StepLayout::upload(const StepShape& s, cudaStream_t stream) const {
    tok.upload(static_cast<size_t>(s.tokens), stream);
    pos.upload(static_cast<size_t>(s.tokens), stream);
    slot.upload(static_cast<size_t>(s.tokens), stream);
    last_rows.upload(static_cast<size_t>(s.seqs), stream);
    if (s.prefill_seqs) {
        pf_row0.upload(static_cast<size_t>(s.prefill_seqs), stream);
        pf_qlen.upload(static_cast<size_t>(s.prefill_seqs), stream);
        pf_ctx.upload(static_cast<size_t>(s.prefill_seqs), stream);
        pf_offsets.upload(static_cast<size_t>(s.prefill_seqs), stream);
        pf_tile_seq.upload(static_cast<size_t>(s.tiles), stream);
        pf_tile_q0.upload(static_cast<size_t>(s.tiles), stream);
        pf_tables.upload(static_cast<size_t>(s.pf_table_len), stream);
    }
    if (s.decodes) {
        dc_rows.upload(static_cast<size_t>(s.decodes), stream);
        dc_lens.upload(static_cast<size_t>(s.decodes), stream);
        dc_offsets.upload(static_cast<size_t>(s.decodes), stream);
        dc_tables.upload(static_cast<size_t>(s.dc_table_len), stream);
    }
}

}  // namespace headroom::cuda
