// Fuzzes the trace reader (core/trace: CSV by header, Mooncake JSONL): every input is a list of rows or the
// reader's std::runtime_error naming the line and column.
#include <cstdint>
#include <sstream>
#include <stdexcept>

#include "fuzz_common.hpp"
#include "headroom/core/trace.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::istringstream in(headroom::fuzz::text(data, size));
    try {
        (void)headroom::parse_trace(in, "fuzz.trace");
    } catch (const std::runtime_error&) {
    } catch (const std::exception& e) {
        headroom::fuzz::finding(e.what());
    }
    return 0;
}
