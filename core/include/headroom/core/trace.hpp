// Request traces, the one place they are parsed. Three layouts, told apart by the file itself:
// - CSV with a header naming its columns (any order; other columns are ignored):
//     arrival time   arrived_at (seconds, Splitwise/Vidur), TIMESTAMP (Azure's public LLM traces: a date and
//                    time, replayed from the first row's), Timestamp (BurstGPT: seconds);
//     prompt tokens  num_prefill_tokens, ContextTokens, Request tokens, input_length, prompt_tokens,
//     input_tokens; output tokens  num_decode_tokens, GeneratedTokens, Response tokens, output_length,
//     output_tokens.
//   Names are matched without regard to case.
// - JSON Lines as Mooncake publishes its traces (and AIPerf and Dynamo replay them): one object a line with
//   timestamp (milliseconds from the first request), input_length, output_length and optionally hash_ids, one
//   id a block of the prompt's tokens (512 in Mooncake's traces): requests whose ids agree share that block's
//   tokens and everything before them, which the prefix cache then sees.
// Rows with no prompt tokens (failed calls in BurstGPT, a few in Azure's) are skipped and counted; rows out
// of time order are counted and replayed sorted by time.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace headroom {

struct TraceRow {
    double arrived_at_s = 0.0;
    int64_t prompt_tokens = 0;
    int64_t output_tokens = 0;
};

// A row's prompt blocks: Mooncake's hash_ids, chained, so that entry j names the prompt's tokens up to the
// end of its block j (blocks of Trace::block_tokens tokens). Null: the prompt shares nothing with other rows.
using PromptBlocks = std::shared_ptr<const std::vector<uint64_t>>;

struct Trace {
    std::vector<TraceRow> rows;
    std::vector<PromptBlocks>
        blocks;                // one per row when the trace names prompt blocks (JSONL hash_ids), else empty
    std::string format;        // "CSV (its time, prompt and output columns)", "Mooncake JSONL"
    int64_t skipped = 0;       // rows without a prompt token, left out
    int64_t reordered = 0;     // rows earlier than a row before them: the rows are replayed sorted by time
    int64_t block_tokens = 0;  // tokens a hash_ids entry covers (JSONL with hash_ids), else 0
};

// The default tokens a Mooncake hash id covers (their traces' block size).
inline constexpr int64_t MOONCAKE_BLOCK_TOKENS = 512;

// Reads a trace file. Throws std::runtime_error naming the file, the line and the column on a bad row.
// `block_tokens` is the size of a hash_ids block (JSONL traces).
Trace read_trace(const std::string& path, int64_t block_tokens = MOONCAKE_BLOCK_TOKENS);
// The same, from a stream; `path` names it in errors.
Trace parse_trace(std::istream& in, const std::string& path, int64_t block_tokens = MOONCAKE_BLOCK_TOKENS);
// Mean arrival rate of a trace: rows / span (rows, for a trace with a single instant).
double trace_rate(const std::vector<TraceRow>& rows);

}  // namespace headroom
