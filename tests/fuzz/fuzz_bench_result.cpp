// Fuzzes the benchmark-result reader of `validate --against` (report/against): every input is a BenchResult of
// vLLM, GuideLLM or AIPerf, or a ScenarioError naming the file and the field.
#include <cstdint>
#include <stdexcept>

#include "fuzz_common.hpp"
#include "headroom/report/against.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = headroom::fuzz::text(data, size);
    for (int benchmark : {-1, 1}) {
        try {
            (void)headroom::parse_bench_result(text, "fuzz.json", benchmark);
        } catch (const headroom::InputError&) {
        } catch (const std::exception& e) {
            headroom::fuzz::finding(e.what());
        }
    }
    return 0;
}
