// The benchmarks' entry point around their `run`: --help prints the usage; an option they do not take prints
// it to stderr with exit status 2; an exception `run` throws (a bad path, a malformed scenario) is one line
// on stderr and exit status 2, as the CLI's errors are.
#pragma once

#include <fmt/format.h>

#include <exception>
#include <string>

inline int bench_main(int argc, char** argv, const char* name, const char* usage, int (*run)(int, char**)) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            fmt::print("usage: {} {}\n", name, usage);
            return 0;
        }
        if (!a.empty() && a[0] == '-') {
            fmt::print(stderr, "usage: {} {}\n", name, usage);
            return 2;
        }
    }
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", name, e.what());
        return 2;
    }
}
