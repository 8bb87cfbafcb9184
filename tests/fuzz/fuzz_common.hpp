// libFuzzer harness helpers: a loader's input error (one clear line, exit 2 on the CLI) is the expected
// outcome of a bad input; anything else escaping the loader (another exception type, a crash, a sanitizer
// report) is a finding, reported by aborting.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace headroom::fuzz {

[[noreturn]] inline void finding(const char* what) {
    std::fprintf(stderr, "fuzz finding: not an input error: %s\n", what);
    std::abort();
}

inline std::string text(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

}  // namespace headroom::fuzz
