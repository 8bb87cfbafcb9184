// Request traces: the `arrived_at,num_prefill_tokens,num_decode_tokens` CSV (Splitwise/Vidur format), the
// one place CSV is parsed.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace headroom {

struct TraceRow {
    double arrived_at_s = 0.0;
    int64_t prompt_tokens = 0;
    int64_t output_tokens = 0;
};
// Reads `arrived_at,num_prefill_tokens,num_decode_tokens` CSV (the Splitwise/Vidur format).
// Throws std::runtime_error naming the file, line and column on a bad row.
std::vector<TraceRow> read_trace_csv(const std::string& path);
// The same, from a stream; `path` names it in errors.
std::vector<TraceRow> parse_trace_csv(std::istream& in, const std::string& path);
// Mean arrival rate of a trace: rows / span (rows, for a trace with a single instant).
double trace_rate(const std::vector<TraceRow>& rows);

}  // namespace headroom
