// Fuzzes the config.json loader (models/config_loader): every input is a model card or a ModelConfigError.
#include <cstdint>

#include "fuzz_common.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/models/input_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const headroom::ModelCard m = headroom::parse_model_config(headroom::fuzz::text(data, size), "fuzz.json", "fuzz");
        (void)m.params();
    } catch (const headroom::InputError&) {
    } catch (const std::exception& e) {
        headroom::fuzz::finding(e.what());
    }
    return 0;
}
